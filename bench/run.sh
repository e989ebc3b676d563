#!/usr/bin/env bash
# make bench: Comanda's benchmarks (docs/PERFORMANCE.md).
#
# Starts a private stack in .run/bench (random free ports, production
# settings: COMANDA_ENV=production, PostgreSQL with fsync, default logging)
# from the optimized build (build/bin), creates its data through the public
# API, then measures for a fixed time at a fixed concurrency each of:
#   GET /health, GET /api/users/{id}, UserService.GetUser over RPC directly
#   (build/bench/rpc_bench), the RPC runtime alone (rpc_bench --method echo
#   against build/bench/rpc_echo_server), NNG alone (build/bench/nng_floor),
#   pgbench -S on the same PostgreSQL,
#   GET /api/orders/{id}, POST /api/orders, POST /api/users (admin, then sign-up)
# and the order -> paid latency of the payment saga. Prints a table with every
# target's PASS/MISS and writes build/bench/results.json (raw files in
# build/bench/raw/). A missed target is a result, not a failure: the exit
# status is non-zero only when the run itself breaks. The stack is always
# stopped at the end (its logs stay in .run/bench/logs/).
#
# Environment (all optional):
#   BENCH_DURATION     seconds per scenario (default 10)
#   BENCH_CONNECTIONS  concurrent connections / RPC threads / pgbench clients (32)
#   BENCH_THREADS      wrk and pgbench threads (2)
#   BENCH_USERS        users created for the read scenarios (100)
#   BENCH_ORDERS       orders created for the read scenarios (100)
#   BENCH_SAGA_ORDERS  credit-card orders timed to "paid" (50)
#   BENCH_STACK_ENV    program settings to change for an experiment, e.g.
#                      "GATEWAY_THREADS=16 LOG_REQUESTS=0" (names from lib/cfg.def);
#                      anything else from lib/cfg.def in your environment is ignored
#   BENCH_ONLY         space-separated scenario keys to run (default: all, in
#                      this order): health get_user rpc_get_user rpc_echo nng_echo
#                      pgbench get_order saga create_user_admin create_user_signup
#                      create_order;
#                      and, only when named, soak (make soak runs it alone)
#   BENCH_SOAK_MINUTES how long the soak runs (10): rounds of every API scenario
#                      and of requests the API refuses (bench/refused.lua), with
#                      each program's RSS after every round, so memory that
#                      creeps under a steady mix shows (a 10 s scenario cannot)
#   BENCH_BUILD        the build whose programs run (build: the optimized one;
#                      tests/integration/test_bench.sh runs build/san's, whose
#                      figures mean nothing but whose run must work); the
#                      report and raw files go to BENCH_BUILD/bench/
#   BENCH_RUN_DIR      the stack's folder (.run/bench)
# The saga runs before the write scenarios, on an idle event pipeline, and
# POST /api/orders runs last: each of its cash orders queues events that keep
# the stack busy after it, and that time is reported too.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

say() { printf 'bench: [%3ss] %s\n' "$SECONDS" "$*" >&2; }
die() { say "error: $*"; exit 1; }

posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer (got '$2')"; }
DURATION=${BENCH_DURATION:-10}
DURATION=${DURATION%s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
N_USERS=${BENCH_USERS:-100}
N_ORDERS=${BENCH_ORDERS:-100}
SAGA_ORDERS=${BENCH_SAGA_ORDERS:-50}
SOAK_MINUTES=${BENCH_SOAK_MINUTES:-10}
DRAIN_MAX=300   # seconds to wait for the order events' backlog at the end
for v in DURATION CONNECTIONS THREADS N_USERS N_ORDERS SAGA_ORDERS SOAK_MINUTES; do posint "$v" "${!v}"; done
((THREADS <= CONNECTIONS)) || die "BENCH_THREADS ($THREADS) must not exceed BENCH_CONNECTIONS ($CONNECTIONS)"
ONLY=" ${BENCH_ONLY:-health get_user rpc_get_user rpc_echo nng_echo pgbench get_order saga create_user_admin create_user_signup create_order} "

BUILD_DIR=${BENCH_BUILD:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$REPO/$BUILD_DIR
OUT_DIR=$BUILD_DIR/bench
RUN_DIR=${BENCH_RUN_DIR:-$REPO/.run/bench}
RAW=$OUT_DIR/raw
RPC_BENCH=$OUT_DIR/rpc_bench
ECHO_SERVER=$OUT_DIR/rpc_echo_server
NNG_FLOOR=$OUT_DIR/nng_floor
FLOOR_PID=""    # the echo server of the rpc_echo or nng_echo scenario while it runs
FLOOR_NAME=""   # its component name (pids/NAME.pid, logs/NAME.log)
PG_BIN=/usr/lib/postgresql/15/bin
PY=(python3 "$REPO/bench/bench.py")
export BENCH_DIR=$REPO/bench   # where the Lua scripts find common.lua
export BENCH_SHELL_PID=$$      # bench.py snap: what this script starts is load, not noise

for p in gateway svc-user svc-order svc-payment; do
    [[ -x $BUILD_DIR/bin/$p ]] || die "$BUILD_DIR/bin/$p is missing: run make bench (it builds the optimized programs)"
done
[[ -x $RPC_BENCH ]] || die "$RPC_BENCH is missing: run make bench (not make SAN=1 bench)"
[[ -x $ECHO_SERVER ]] || die "$ECHO_SERVER is missing: run make bench (not make SAN=1 bench)"
[[ -x $NNG_FLOOR ]] || die "$NNG_FLOOR is missing: run make bench (not make SAN=1 bench)"
command -v wrk >/dev/null || die "wrk is not installed (make deps)"
[[ -x $PG_BIN/pgbench ]] || die "$PG_BIN/pgbench is missing (make deps: postgresql-15)"

# ---- the stack's environment ---------------------------------------------------
# A stack's settings left in this shell (eval "$(scripts/stack.sh env)") would
# make stack.sh reuse that stack's ports, databases and secrets, and a program
# setting would silently change what is measured: drop them all, then apply
# BENCH_STACK_ENV, which the report prints.
mapfile -t CFG_VARS < <(sed -n 's/^CFG(\([A-Z0-9_]*\),.*/\1/p' lib/cfg.def)
unset "${CFG_VARS[@]}" COMANDA_STACK_ID COMANDA_PG_PORT COMANDA_PG_DATA COMANDA_PG_SOCKET_DIR \
    COMANDA_FERRET_PORT COMANDA_AMQP_PORT COMANDA_EPMD_PORT COMANDA_RABBIT_DIST_PORT \
    COMANDA_RABBIT_CTL_PORT_MIN COMANDA_RABBIT_NODENAME GATEWAY_URL COMANDA_FERRETDB
# (ASAN_OPTIONS and the like stay: only a sanitizer build reads them.)
# One client sending thousands of requests a second is what a benchmark is, and
# what the gateway's per-caller limits exist to stop: raise them out of reach
# (the limiter still runs on every request, so its cost is measured) and allow
# the connections from one address.
export RATE_LIMIT_RPS=100000 RATE_LIMIT_BURST=1000000
STACK_DESC="bench overrides: RATE_LIMIT_RPS=100000 RATE_LIMIT_BURST=1000000"
if ((CONNECTIONS + 16 > 64)); then
    export GATEWAY_MAX_CONNECTIONS_PER_IP=$((CONNECTIONS + 16))
    STACK_DESC+=" GATEWAY_MAX_CONNECTIONS_PER_IP=$GATEWAY_MAX_CONNECTIONS_PER_IP"
fi
STACK_DESC+="; "
for kv in ${BENCH_STACK_ENV:-}; do
    name=${kv%%=*}
    [[ $kv == *=* && " ${CFG_VARS[*]} " == *" $name "* ]] ||
        die "BENCH_STACK_ENV: '$kv' is not NAME=VALUE with a NAME from lib/cfg.def"
    export "${kv?}"
    STACK_DESC+="$kv "
done
export COMANDA_ENV=production
export COMANDA_RUN_DIR=$RUN_DIR COMANDA_PORTS=random COMANDA_BIN_DIR=$BUILD_DIR/bin COMANDA_PG_FAST=0
ADMIN_PASSWORD=bench-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
export ADMIN_PASSWORD
# The settings that shape these figures most, with their values in this run
# (the defaults come from lib/cfg.def, the one table of them).
cfg_default() { sed -n "s/^CFG($1, \"\([^\"]*\)\".*/\1/p" lib/cfg.def; }
STACK_DESC+="COMANDA_ENV=production, the rest at their defaults ("
for name in GATEWAY_THREADS RPC_CONNECTIONS RPC_WORKERS RPC_TASK_THREADS LOG_REQUESTS LOG_LEVEL; do
    STACK_DESC+="$name=${!name:-$(cfg_default "$name")} "
done
STACK_DESC="${STACK_DESC% })"

stack() { scripts/stack.sh "$@"; }

rm -rf "$RAW"
mkdir -p "$RAW"
STACK_LOG=$RAW/stack.log

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_floor_server || true
    say "stopping the stack"
    stack down >>"$STACK_LOG" 2>&1 || say "warning: scripts/stack.sh down failed (see $STACK_LOG)"
    exit "$rc"
}
# Stops the echo server of a floor scenario if one runs; fails when it did
# not exit cleanly (status 0 after SIGTERM).
stop_floor_server() {
    [[ -n $FLOOR_PID ]] || return 0
    local pid=$FLOOR_PID rc=0
    FLOOR_PID=""
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || rc=$?
    rm -f "$PIDS/$FLOOR_NAME.pid"
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- start -----------------------------------------------------------------------
say "starting a fresh stack in ${RUN_DIR#"$REPO"/} (log: ${STACK_LOG#"$REPO"/})"
stack reset >>"$STACK_LOG" 2>&1 || true
if ! stack up >>"$STACK_LOG" 2>&1; then
    tail -n 40 "$STACK_LOG" >&2
    die "the stack did not start (see $STACK_LOG and ${RUN_DIR#"$REPO"/}/logs/)"
fi
# shellcheck disable=SC1091
source "$COMANDA_RUN_DIR/env"
PIDS=$COMANDA_RUN_DIR/pids
URL=$GATEWAY_URL
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A free TCP port for the echo server, chosen as scripts/stack.sh chooses the
# stack's: in 20000-31999, below Linux's ephemeral range (so no outgoing
# connection takes it before the server binds it), and outside the block
# reserved for rabbitmqctl, whose ports are bound only while it runs.
free_port() {
    python3 - "${COMANDA_RABBIT_CTL_PORT_MIN:-0}" <<'PY'
import random, socket, sys
ctl = int(sys.argv[1])
for _ in range(1000):
    p = random.randrange(20000, 32000)
    if ctl <= p < ctl + 10:
        continue
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    sys.exit(0)
sys.exit(1)
PY
}
psql_q() { "$PG_BIN/psql" -X -qAt -h 127.0.0.1 -p "$COMANDA_PG_PORT" -U comanda -d "$1" -c "$2"; }
FSYNC=$(psql_q comanda_users "SHOW fsync")
SYNC_COMMIT=$(psql_q comanda_users "SHOW synchronous_commit")
[[ $FSYNC == on ]] || die "PostgreSQL runs with fsync=$FSYNC: the bench measures production settings"
STACK_DESC+="; PostgreSQL fsync=$FSYNC synchronous_commit=$SYNC_COMMIT"

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || COMMIT+="+uncommitted"
python3 - "$RAW/meta.json" <<PY
import json, os, sys, time
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "commit": "$COMMIT", "cpus": os.cpu_count(),
           "cpu_model": cpu, "loadavg": open("/proc/loadavg").read().split()[0],
           "duration": $DURATION, "connections": $CONNECTIONS, "threads": $THREADS,
           "users": $N_USERS, "orders": $N_ORDERS, "stack": """$STACK_DESC"""},
          open(sys.argv[1], "w"), indent=2)
PY

# ---- data ------------------------------------------------------------------------
login() { "${PY[@]}" login "$URL" "$ADMIN_EMAIL" "$ADMIN_PASSWORD"; }
read -r ADMIN_ID TOKEN < <(login) || die "admin login failed"
say "admin id $ADMIN_ID; creating $N_USERS users and $N_ORDERS orders through the API"
"${PY[@]}" seed "$URL" "$TOKEN" "$N_USERS" "$N_ORDERS" "$RAW/seed.json"
USER_IDS=$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["users"])))' "$RAW/seed.json")
ORDER_IDS=$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["orders"])))' "$RAW/seed.json")
ORDERS_ERROR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["orders_error"] or "")' "$RAW/seed.json")
RUN_TAG=$(date +%s)

# ---- scenarios -------------------------------------------------------------------
wanted() { [[ $ONLY == *" $1 "* ]]; }
skip() { python3 -c 'import json,sys; json.dump({"reason": sys.argv[2]}, open(sys.argv[1], "w"))' "$RAW/$1.skipped.json" "$2"; say "$1: not measured: $2"; }

# measure KEY COMMAND...: once the stack is quiet, runs COMMAND between two
# snapshots of every process's CPU time (KEY.cpu.json).
measure() {
    local key=$1 waited
    shift
    waited=$("${PY[@]}" settle "$PIDS" 30)
    ((waited <= 1)) || say "(waited ${waited}s for the stack to go quiet)"
    "${PY[@]}" snap "$PIDS" "$RAW/$key.snap0.json"
    "$@"
    "${PY[@]}" snap "$PIDS" "$RAW/$key.snap1.json"
    "${PY[@]}" cpu "$RAW/$key.snap0.json" "$RAW/$key.snap1.json" "$RAW/$key.cpu.json"
    rm -f "$RAW/$key.snap0.json" "$RAW/$key.snap1.json"
}

# One line per scenario as it finishes.
summary() {
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); e=r.get("errors"); e=e if isinstance(e,int) else r.get("non2xx",0)+r.get("socket_errors",0)
print("bench: %-26s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  errors %d" % (sys.argv[2], r["rps"], r.get("p50_ms") or 0, r.get("p99_ms") or 0, e), file=sys.stderr)' \
        "$RAW/$1.json" "$1"
}

# wrk_to OUT SECONDS CONNECTIONS SCRIPT [ARGS...]: wrk with bench/SCRIPT
# (at most BENCH_THREADS threads, no more than connections); its JSON
# summary goes to OUT.json, its output to OUT.txt.
wrk_to() {
    local out=$1 secs=$2 conns=$3 script=$4 threads=$THREADS
    shift 4
    ((threads <= conns)) || threads=$conns
    BENCH_OUT=$out.json wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 5s --latency \
        -s "bench/$script" "$URL" -- "$@" >"$out.txt" 2>&1 ||
        { cat "$out.txt" >&2; die "wrk failed in ${out#"$RAW"/}"; }
    [[ -s $out.json ]] || { cat "$out.txt" >&2; die "wrk wrote no result in ${out#"$RAW"/}"; }
}

# wrk_run KEY SCRIPT [ARGS...]: a scenario at the run's duration and concurrency.
wrk_run() { wrk_to "$RAW/$1" "$DURATION" "$CONNECTIONS" "${@:2}"; }

fresh_token() { read -r _ TOKEN < <(login) || die "admin login failed"; }

# start_floor_server NAME COMMAND...: starts an echo server for a floor
# scenario on a free port (COMMAND gets the URL appended), as component NAME:
# its pid goes into the stack's pids/, so bench.py counts its CPU as a
# component of its own instead of as the load generator that started it, and
# its output into logs/NAME.log. Sets FLOOR_URL once it listens.
start_floor_server() {
    local name=$1 port log
    shift
    port=$(free_port) || die "no free port for the $name server"
    FLOOR_URL=tcp://127.0.0.1:$port
    log=$COMANDA_RUN_DIR/logs/$name.log
    printf '=== %s: starting %s %s\n' "$(date '+%F %T')" "$*" "$FLOOR_URL" >>"$log"
    "$@" "$FLOOR_URL" </dev/null >>"$log" 2>&1 &
    FLOOR_PID=$! FLOOR_NAME=$name
    printf '%s\n' "$FLOOR_PID" >"$PIDS/$name.pid"
    for _ in $(seq 50); do
        port_open "$port" && break
        kill -0 "$FLOOR_PID" 2>/dev/null || break
        sleep 0.1
    done
    port_open "$port" || { tail -n 20 "$log" >&2; die "the $name server did not listen on $FLOOR_URL (log: $log)"; }
}
# json_run KEY COMMAND...: one of our C clients (rpc_bench, nng_floor) with
# its JSON result to KEY.json and its output to KEY.txt.
json_run() {
    local key=$1
    shift
    "$@" --json "$RAW/$key.json" 2>"$RAW/$key.txt" || { cat "$RAW/$key.txt" >&2; die "$key: $1 failed"; }
}
# stop_floor KEY: stops the scenario's server, which must exit cleanly.
stop_floor() {
    local log=$COMANDA_RUN_DIR/logs/$FLOOR_NAME.log
    stop_floor_server || { tail -n 20 "$log" >&2; die "$1: the server did not stop cleanly (log: $log)"; }
}

say "each scenario: ${DURATION}s, $CONNECTIONS connections, $THREADS threads"
if wanted health; then
    measure health wrk_run health health.lua
    summary health
fi
if wanted get_user; then
    fresh_token
    measure get_user wrk_run get_user get_user.lua "token=$TOKEN" "ids=$USER_IDS"
    summary get_user
fi
if wanted rpc_get_user; then
    measure rpc_get_user json_run rpc_get_user "$RPC_BENCH" --url "$USER_RPC_URL" --threads "$CONNECTIONS" \
        --duration "$DURATION" --caller-id "$ADMIN_ID" --ids "$USER_IDS"
    summary rpc_get_user
fi
if wanted rpc_echo; then
    # lib/rpc on its own: the echo server's handler copies the text back and
    # nothing else, with the same RPC_WORKERS, LOG_REQUESTS and LOG_LEVEL as
    # svc-user (this shell's environment is the stack's).
    start_floor_server rpc-echo "$ECHO_SERVER" --url
    measure rpc_echo json_run rpc_echo "$RPC_BENCH" --method echo --url "$FLOOR_URL" \
        --threads "$CONNECTIONS" --duration "$DURATION"
    stop_floor rpc_echo
    summary rpc_echo
fi
if wanted nng_echo; then
    # NNG on its own: the same round trips with none of our code on their
    # path, and as many NNG task threads and connections as our programs use.
    task_threads=${RPC_TASK_THREADS:-$(cfg_default RPC_TASK_THREADS)}
    start_floor_server nng-echo "$NNG_FLOOR" --task-threads "$task_threads" --serve
    measure nng_echo json_run nng_echo "$NNG_FLOOR" --url "$FLOOR_URL" --concurrency "$CONNECTIONS" \
        --duration "$DURATION" --task-threads "$task_threads" \
        --connections "${RPC_CONNECTIONS:-$(cfg_default RPC_CONNECTIONS)}"
    stop_floor nng_echo
    summary nng_echo
fi
if wanted pgbench; then
    # A scratch database, so the users table is not touched.
    psql_q postgres "CREATE DATABASE bench_pgbench" >/dev/null
    "$PG_BIN/pgbench" -i -q -s 1 -h 127.0.0.1 -p "$COMANDA_PG_PORT" -U comanda bench_pgbench >"$RAW/pgbench-init.txt" 2>&1 ||
        { cat "$RAW/pgbench-init.txt" >&2; die "pgbench -i failed"; }
    pg_run() {
        (cd "$RAW" && "$PG_BIN/pgbench" -S -n -c "$CONNECTIONS" -j "$THREADS" -T "$DURATION" \
            -l --log-prefix=pgbench_log -h 127.0.0.1 -p "$COMANDA_PG_PORT" -U comanda bench_pgbench) \
            >"$RAW/pgbench.txt" 2>&1 || { cat "$RAW/pgbench.txt" >&2; die "pgbench failed"; }
    }
    measure pgbench pg_run
    "${PY[@]}" pgbench "$RAW/pgbench.txt" "$RAW/pgbench_log" "$RAW/pgbench.json"
    summary pgbench
fi
if wanted get_order; then
    if [[ -n $ORDER_IDS ]]; then
        fresh_token
        measure get_order wrk_run get_order get_order.lua "token=$TOKEN" "ids=$ORDER_IDS"
        summary get_order
    else
        skip get_order "${ORDERS_ERROR:-no orders}"
    fi
fi
if wanted saga; then
    fresh_token
    "${PY[@]}" settle "$PIDS" 30 >/dev/null
    say "saga: $SAGA_ORDERS credit-card orders, each timed to status paid (5 s at most)"
    "${PY[@]}" saga "$URL" "$TOKEN" "$SAGA_ORDERS" 5 "$RAW/saga.json"
fi
if wanted create_user_admin; then
    fresh_token
    measure create_user_admin wrk_run create_user_admin create_user.lua mode=admin "token=$TOKEN" "run=a$RUN_TAG"
    summary create_user_admin
fi
if wanted create_user_signup; then
    measure create_user_signup wrk_run create_user_signup create_user.lua mode=signup "run=s$RUN_TAG"
    summary create_user_signup
fi
if wanted create_order; then
    if [[ -n $ORDER_IDS ]]; then
        fresh_token
        measure create_order wrk_run create_order create_order.lua "token=$TOKEN" "run=o$RUN_TAG"
        summary create_order
        # Every cash order queued an order.created event, which svc-payment
        # turns into a payment: time until the last of them has its payment.
        expected=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["orders"]) + (lambda g: g.get("paid", 0) + sum(g.get("not_paid", {}).values()))(json.load(open(sys.argv[2])) if sys.argv[2] else {}) + json.load(open(sys.argv[3]))["requests"])' \
            "$RAW/seed.json" "$([[ -f $RAW/saga.json ]] && echo "$RAW/saga.json")" "$RAW/create_order.json")
        "${PY[@]}" snap "$PIDS" "$RAW/drain.snap0.json"
        drained=$("${PY[@]}" drain "$COMANDA_PG_PORT" "$expected" "$DRAIN_MAX" "$RAW/drain.json")
        "${PY[@]}" snap "$PIDS" "$RAW/drain.snap1.json"
        "${PY[@]}" cpu "$RAW/drain.snap0.json" "$RAW/drain.snap1.json" "$RAW/drain.cpu.json"
        rm -f "$RAW/drain.snap0.json" "$RAW/drain.snap1.json"
        say "the orders' events reached svc-payment ${drained}s after POST /api/orders ended"
    else
        skip create_order "${ORDERS_ERROR:-no orders}"
    fi
fi

if wanted soak; then
    # Rounds until BENCH_SOAK_MINUTES are up: every API scenario for a few
    # seconds (the reads longer, as in production), then requests the API
    # refuses; a snapshot of every process after each round (bench.py soak
    # reads their RSS). Seconds per round: 20 + 10 + 5 * 5. The writes run
    # at 4 connections: a mix the stack can keep up with. At 32, each round's
    # cash orders queue more events than FerretDB drains in a round (~120
    # orders/s), the backlog grows without end, and reads of orders start to
    # time out: that measures FerretDB, not a steady load.
    [[ -n $ORDER_IDS ]] || die "soak: no orders to read (${ORDERS_ERROR:-seed failed})"
    SOAK=$RAW/soak
    mkdir -p "$SOAK"
    say "soak: ${SOAK_MINUTES} min of rounds (each ~55 s: every API scenario, then refused requests)"
    "${PY[@]}" snap "$PIDS" "$SOAK/0.snap.json"
    soak_end=$((SECONDS + SOAK_MINUTES * 60))
    round=0
    while ((SECONDS < soak_end)); do
        round=$((round + 1))
        fresh_token
        wrk_to "$SOAK/$round.get_user" 20 "$CONNECTIONS" get_user.lua "token=$TOKEN" "ids=$USER_IDS"
        wrk_to "$SOAK/$round.get_order" 10 "$CONNECTIONS" get_order.lua "token=$TOKEN" "ids=$ORDER_IDS"
        wrk_to "$SOAK/$round.create_order" 5 4 create_order.lua "token=$TOKEN" "run=k$RUN_TAG-$round"
        wrk_to "$SOAK/$round.create_user_admin" 5 4 create_user.lua mode=admin "token=$TOKEN" "run=ka$RUN_TAG-$round"
        wrk_to "$SOAK/$round.create_user_signup" 5 4 create_user.lua mode=signup "run=ks$RUN_TAG-$round"
        wrk_to "$SOAK/$round.refused" 5 "$CONNECTIONS" refused.lua "token=$TOKEN"
        wrk_to "$SOAK/$round.health" 5 "$CONNECTIONS" health.lua
        "${PY[@]}" snap "$PIDS" "$SOAK/$round.snap.json"
        say "soak: round $round done"
    done
    "${PY[@]}" soak "$SOAK" "$RAW/soak.json"
fi

# ---- after the run -----------------------------------------------------------------
"${PY[@]}" snap "$PIDS" "$RAW/final.snap.json"
"${PY[@]}" rss "$RAW/final.snap.json" "$RAW/rss.json"
rm -f "$RAW/final.snap.json"
printf '\n'
"${PY[@]}" report "$RAW" "$OUT_DIR/results.json"
