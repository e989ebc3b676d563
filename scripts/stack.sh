#!/usr/bin/env bash
# The local Comanda stack: a private PostgreSQL 15 cluster, FerretDB on top of
# it (the MongoDB-wire orders database), a private RabbitMQ node, and the four
# programs (svc-user, svc-order, svc-payment, gateway). No systemd, no Docker:
# every process is started from here, tracked by pid and stopped from here.
#
# Usage: scripts/stack.sh COMMAND
#   up [--backends]  start whatever is not running; return once the gateway's
#                    /ready answers 200 (--backends: databases and broker only)
#   down             stop everything this run dir started (idempotent)
#   run              up, then tail the logs in the foreground; Ctrl-C runs down
#   status           show what is running (exit 0 iff everything is)
#   env              print the stack's environment: eval "$(scripts/stack.sh env)"
#   start-svc NAME [--no-wait]
#                    start one component (and wait until it listens, unless
#                    --no-wait: for a program that is to wait for a dependency)
#   stop-svc NAME    stop one component gracefully
#   kill-svc NAME    kill one component with SIGKILL (chaos tests)
#   reset            down, then delete the run dir's data, logs and state
# NAME is one of: svc-user svc-order svc-payment gateway postgres ferretdb rabbitmq
#
# Environment (all optional):
#   COMANDA_RUN_DIR      state folder (default ./.run/dev): env, data/, logs/, pids/
#   COMANDA_BIN_DIR      where the programs are (default build/bin)
#   COMANDA_PORTS        documented (default): prefer gateway 5000, admin 5001-5003
#                        and RPC 6001-6003 when free; random: always free ports
#   COMANDA_PG_FAST=1    PostgreSQL without fsync (tests only)
#   COMANDA_UP_TIMEOUT   seconds `up` waits for /ready (default 60)
#   COMANDA_FERRETDB     FerretDB binary (default: the one scripts/deps.sh builds)
#   COMANDA_PG_PORT COMANDA_FERRET_PORT COMANDA_AMQP_PORT COMANDA_EPMD_PORT
#   COMANDA_RABBIT_DIST_PORT COMANDA_RABBIT_CTL_PORT_MIN   fixed backend ports
#   and any program setting (GATEWAY_PORT, USER_RPC_LISTEN, JWT_SECRET, ...):
#   a value set by the caller is kept; the rest are chosen and written to
#   $COMANDA_RUN_DIR/env, the one source of truth for later commands.
set -euo pipefail

SELF=$(realpath "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SELF")
REPO_DIR=$(dirname "$SCRIPT_DIR")

RUN_DIR=$(realpath -m "${COMANDA_RUN_DIR:-$PWD/.run/dev}")
ENV_FILE=$RUN_DIR/env
DATA_DIR=$RUN_DIR/data
LOG_DIR=$RUN_DIR/logs
PID_DIR=$RUN_DIR/pids
RABBIT_DIR=$DATA_DIR/rabbitmq
# Short per-run-dir id: names the RabbitMQ node and the fallback directories.
RUN_HASH=$(printf '%s' "$RUN_DIR" | sha1sum | cut -c1-10)
# Every process started from here carries this in its environment; stop and
# kill only touch processes that have it (or, for PostgreSQL, our data dir).
export COMANDA_STACK_ID=$RUN_DIR

PG_BIN=/usr/lib/postgresql/15/bin
RABBIT_BIN=/usr/lib/rabbitmq/bin
# SIGTERM, then SIGKILL after this many seconds. Our programs stop within
# about 1 s whatever their servers do (docs/OPERATIONS.md), so 5 s leaves a
# loaded machine room and still ends a stop that hangs, saying so ("did not
# stop within 5s: SIGKILL").
STOP_TIMEOUT=${COMANDA_STOP_TIMEOUT:-5}
BACKEND_TIMEOUT=${COMANDA_BACKEND_TIMEOUT:-60}

PROGRAMS=(svc-user svc-order svc-payment gateway)
BACKENDS=(postgres ferretdb rabbitmq)

# Variables written to the env file (in this order).
ENV_VARS=(
    COMANDA_RUN_DIR COMANDA_STACK_ID COMANDA_BIN_DIR COMANDA_PG_FAST
    COMANDA_PG_PORT COMANDA_PG_DATA COMANDA_PG_SOCKET_DIR COMANDA_FERRET_PORT
    COMANDA_AMQP_PORT COMANDA_EPMD_PORT COMANDA_RABBIT_DIST_PORT
    COMANDA_RABBIT_CTL_PORT_MIN COMANDA_RABBIT_NODENAME
    GATEWAY_BIND GATEWAY_PORT GATEWAY_URL
    USER_ADMIN_PORT ORDER_ADMIN_PORT PAYMENT_ADMIN_PORT
    USER_RPC_LISTEN ORDER_RPC_LISTEN PAYMENT_RPC_LISTEN
    USER_RPC_URL ORDER_RPC_URL PAYMENT_RPC_URL
    USER_DB_URL PAYMENT_DB_URL ORDER_MONGO_URL AMQP_URL
    JWT_SECRET ADMIN_EMAIL ADMIN_PASSWORD WEB_ROOT
)
# Also kept in the env file when the caller set them at `up`, so that a
# program restarted by start-svc runs with the same settings.
PASS_VARS=(ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS)

# ---- small helpers -------------------------------------------------------------

say() { printf 'stack: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Relative path for messages when under the current directory.
pretty() { local p=$1; [[ $p == "$PWD"/* ]] && p=${p#"$PWD"/}; printf '%s' "$p"; }

# True when PID is a live (non-zombie) process.
pid_alive() {
    local pid=$1 stat
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != [ZX] ]]
}

# True when PID is alive and was started by this run dir's stack.
pid_ours() {
    local environ
    pid_alive "$1" || return 1
    environ=$(tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null) || return 1
    [[ $'\n'$environ$'\n' == *$'\n'"COMANDA_STACK_ID=$RUN_DIR"$'\n'* ]]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when TCP port $1 can be bound on 127.0.0.1 (as a server would, with
# SO_REUSEADDR, so TIME_WAIT leftovers do not count).
port_free() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

# Prints the first port of a random block of $1 consecutive free ports in
# 20000-31999 (below Linux's ephemeral range), avoiding the ports in $2...
random_ports() {
    python3 - "$@" <<'PY'
import random, socket, sys
size, taken = int(sys.argv[1]), {int(p) for p in sys.argv[2:]}
def free(p):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(1000):
    base = random.randrange(20000, 32000 - size)
    if all(p not in taken and free(p) for p in range(base, base + size)):
        print(base)
        sys.exit(0)
sys.exit(1)
PY
}

log_tail() {
    local name=$1 lines=${2:-30} f=$LOG_DIR/$1.log
    [[ -s $f ]] || return 0
    printf '\n----- last %s lines of %s -----\n' "$lines" "$(pretty "$f")" >&2
    tail -n "$lines" "$f" >&2
}

# Starts "$@" detached (own session, stdin closed), output appended to
# logs/NAME.log, pid in pids/NAME.pid. setsid execs in place (the background
# child is never a process-group leader), so $! is the program's own pid.
launch() {
    local name=$1; shift
    printf '=== %s: starting %s\n' "$(date '+%F %T')" "$*" >>"$LOG_DIR/$name.log"
    setsid "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
    local pid=$! tries=0
    printf '%s\n' "$pid" >"$PID_DIR/$name.pid"
    # Until the child has exec'd, /proc/PID/environ is still this script's
    # (without COMANDA_STACK_ID): wait for that, so pid_ours works at once.
    while ! pid_ours "$pid" && pid_alive "$pid" && ((tries++ < 100)); do sleep 0.02; done
}

# Polls "$@" every 0.2 s for up to $2 seconds while component $1 is alive.
# Returns 0 when the command succeeds, 1 on timeout, 2 when the component died.
wait_for() {
    local name=$1 timeout=$2 deadline
    shift 2
    deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        "$@" >/dev/null 2>&1 && return 0
        component_pid "$name" >/dev/null || { "$@" >/dev/null 2>&1 && return 0; return 2; }
        sleep 0.2
    done
    return 1
}

# ---- configuration (the env file) ------------------------------------------------

load_env() {
    [[ -f $ENV_FILE ]] || die "no stack in $(pretty "$RUN_DIR") (run: scripts/stack.sh up)"
    # shellcheck disable=SC1090
    source "$ENV_FILE"
}

# Where PostgreSQL keeps its cluster: under the run dir when user postgres can
# reach it, else under /var/tmp (e.g. a checkout under /root, mode 700).
pg_base_candidates() { printf '%s\n' "$DATA_DIR/pg" "/var/tmp/comanda-$RUN_HASH"; }

choose_pg_dirs() {
    local base="" cand
    # An existing cluster wins; otherwise the first place postgres can write.
    while read -r cand; do
        if [[ -s $cand/data/PG_VERSION ]]; then base=$cand; break; fi
    done < <(pg_base_candidates)
    if [[ -z $base ]]; then
        mkdir -p "$DATA_DIR/pg"
        chown postgres:postgres "$DATA_DIR/pg"
        chmod 700 "$DATA_DIR/pg"
        if runuser -u postgres -- test -w "$DATA_DIR/pg"; then
            base=$DATA_DIR/pg
        else
            rmdir "$DATA_DIR/pg"
            base=/var/tmp/comanda-$RUN_HASH
            say "user postgres cannot reach $(pretty "$RUN_DIR"): the cluster goes to $base"
        fi
    fi
    COMANDA_PG_DATA=$base/data
    COMANDA_PG_SOCKET_DIR=$base/run
    # A Unix socket path must fit in 107 bytes (".s.PGSQL.NNNNN" included).
    if ((${#COMANDA_PG_SOCKET_DIR} > 85)); then
        COMANDA_PG_SOCKET_DIR=/tmp/comanda-$RUN_HASH-pg
    fi
}

declare -A TAKEN=() PREV=()

# Reads the previous env file's values into PREV, to reuse its ports.
read_previous_env() {
    [[ -f $ENV_FILE ]] || return 0
    local line
    # shellcheck disable=SC2016  # expanded by the inner bash
    local dump='source "$1" >/dev/null 2>&1; shift; for v; do printf "%s=%s\n" "$v" "${!v-}"; done'
    while IFS= read -r line; do
        PREV[${line%%=*}]=${line#*=}
    done < <(env -i bash -c "$dump" _ "$ENV_FILE" "${ENV_VARS[@]}")
}

# choose_port VAR [DOCUMENTED_PORT] [PREVIOUS_PORT]: keeps the caller's VAR;
# else the documented port (in documented mode) or the previous one when free;
# else a random free port.
choose_port() {
    local var=$1 doc=${2:-} prev=${3:-} cand port
    if [[ -n ${!var:-} ]]; then
        port=${!var}
        port_free "$port" || say "warning: $var=$port (from your environment) is already in use"
        TAKEN[$port]=1
        return 0
    fi
    [[ ${COMANDA_PORTS:-documented} == documented ]] || doc=""
    for cand in "$doc" "$prev"; do
        if [[ -n $cand && -z ${TAKEN[$cand]:-} ]] && port_free "$cand"; then
            printf -v "$var" '%s' "$cand"
            TAKEN[$cand]=1
            return 0
        fi
    done
    port=$(random_ports 1 "${!TAKEN[@]}") || die "no free port found for $var"
    [[ -n $doc ]] && say "port $doc is in use: $var=$port"
    printf -v "$var" '%s' "$port"
    TAKEN[$port]=1
}

# RPC endpoints: PREFIX_RPC_LISTEN and PREFIX_RPC_URL (clients) for PREFIX in
# USER ORDER PAYMENT; the caller's values are kept, URL defaults to LISTEN.
choose_rpc() {
    local prefix=$1 doc=$2 listen url port_var prev
    listen=${prefix}_RPC_LISTEN url=${prefix}_RPC_URL port_var=_${prefix}_RPC_PORT
    if [[ -z ${!listen:-} ]]; then
        prev=${PREV[$listen]:-}
        choose_port "$port_var" "$doc" "${prev##*:}"
        printf -v "$listen" 'tcp://127.0.0.1:%s' "${!port_var}"
    fi
    [[ -n ${!url:-} ]] || printf -v "$url" '%s' "${!listen}"
}

# Decides every value of the env file and writes it.
configure() {
    read_previous_env
    COMANDA_RUN_DIR=$RUN_DIR
    COMANDA_BIN_DIR=$(realpath -m "${COMANDA_BIN_DIR:-build/bin}")
    COMANDA_PG_FAST=${COMANDA_PG_FAST:-0}
    COMANDA_RABBIT_NODENAME=comanda-$RUN_HASH@localhost
    choose_pg_dirs

    # Backends: the caller's, else the previous run's when free, else random.
    choose_port COMANDA_PG_PORT "" "${PREV[COMANDA_PG_PORT]:-}"
    choose_port COMANDA_FERRET_PORT "" "${PREV[COMANDA_FERRET_PORT]:-}"
    choose_port COMANDA_AMQP_PORT "" "${PREV[COMANDA_AMQP_PORT]:-}"
    choose_port COMANDA_EPMD_PORT "" "${PREV[COMANDA_EPMD_PORT]:-}"
    choose_port COMANDA_RABBIT_DIST_PORT "" "${PREV[COMANDA_RABBIT_DIST_PORT]:-}"
    # rabbitmqctl takes its own distribution port from a range: keep 10 free.
    if [[ -z ${COMANDA_RABBIT_CTL_PORT_MIN:-} ]]; then
        COMANDA_RABBIT_CTL_PORT_MIN=$(random_ports 10 "${!TAKEN[@]}") || die "no free port range for rabbitmqctl"
    fi
    local p
    for ((p = COMANDA_RABBIT_CTL_PORT_MIN; p < COMANDA_RABBIT_CTL_PORT_MIN + 10; p++)); do TAKEN[$p]=1; done

    # Programs: documented ports for a developer's stack, when free.
    GATEWAY_BIND=${GATEWAY_BIND:-127.0.0.1}
    choose_port GATEWAY_PORT 5000 "${PREV[GATEWAY_PORT]:-}"
    choose_port USER_ADMIN_PORT 5001 "${PREV[USER_ADMIN_PORT]:-}"
    choose_port ORDER_ADMIN_PORT 5002 "${PREV[ORDER_ADMIN_PORT]:-}"
    choose_port PAYMENT_ADMIN_PORT 5003 "${PREV[PAYMENT_ADMIN_PORT]:-}"
    choose_rpc USER 6001
    choose_rpc ORDER 6002
    choose_rpc PAYMENT 6003
    GATEWAY_URL=${GATEWAY_URL:-http://127.0.0.1:$GATEWAY_PORT}

    USER_DB_URL=${USER_DB_URL:-postgresql://comanda@127.0.0.1:$COMANDA_PG_PORT/comanda_users}
    PAYMENT_DB_URL=${PAYMENT_DB_URL:-postgresql://comanda@127.0.0.1:$COMANDA_PG_PORT/comanda_payments}
    ORDER_MONGO_URL=${ORDER_MONGO_URL:-mongodb://127.0.0.1:$COMANDA_FERRET_PORT/comanda_orders}
    AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:$COMANDA_AMQP_PORT/}

    # A random JWT key per run dir, generated once.
    if [[ -z ${JWT_SECRET:-} ]]; then
        if [[ ! -s $RUN_DIR/jwt-secret ]]; then
            (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$RUN_DIR/jwt-secret")
        fi
        JWT_SECRET=$(<"$RUN_DIR/jwt-secret")
    fi
    ADMIN_EMAIL=${ADMIN_EMAIL:-admin@comanda.local}
    ADMIN_PASSWORD=${ADMIN_PASSWORD:-admin-change-me}
    # The web UI, wherever the stack is started from.
    WEB_ROOT=${WEB_ROOT:-$REPO_DIR/web}

    # Other program settings (lib/cfg.def) and sanitizer options the caller set.
    local -a extra=("${PASS_VARS[@]}") v
    if [[ -f $REPO_DIR/lib/cfg.def ]]; then
        mapfile -t v < <(sed -n 's/^CFG(\([A-Z0-9_]*\),.*/\1/p' "$REPO_DIR/lib/cfg.def")
        extra+=("${v[@]}")
    fi

    local tmp=$ENV_FILE.tmp name
    {
        printf '# Comanda local stack in %s, written by scripts/stack.sh up on %s.\n' "$RUN_DIR" "$(date '+%F %T')"
        # shellcheck disable=SC2016  # literal text
        printf '# Use it with: eval "$(scripts/stack.sh env)"\n'
        for name in "${ENV_VARS[@]}"; do
            printf 'export %s=%q\n' "$name" "${!name}"
        done
        for name in "${extra[@]}"; do
            [[ " ${ENV_VARS[*]} " == *" $name "* || -z ${!name:-} ]] && continue
            printf 'export %s=%q\n' "$name" "${!name}"
        done
    } >"$tmp"
    mv -f "$tmp" "$ENV_FILE"
}

# ---- PostgreSQL ------------------------------------------------------------------

pg_ctl() { (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" "$@"); }

component_pid_postgres() {
    local pid cmdline
    pid=$(head -n1 "$COMANDA_PG_DATA/postmaster.pid" 2>/dev/null) || return 1
    pid_alive "$pid" || return 1
    # Ours only if its command line names our data directory.
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ "$cmdline " == *" $COMANDA_PG_DATA "* ]] || return 1
    printf '%s\n' "$pid"
}

start_postgres() {
    local log=$LOG_DIR/postgres.log base
    base=$(dirname "$COMANDA_PG_DATA")
    mkdir -p "$base" "$COMANDA_PG_SOCKET_DIR"
    chown postgres:postgres "$base" "$COMANDA_PG_SOCKET_DIR"
    chmod 700 "$base" "$COMANDA_PG_SOCKET_DIR"
    if [[ ! -s $COMANDA_PG_DATA/PG_VERSION ]]; then
        say "postgres: initdb $COMANDA_PG_DATA"
        rm -rf "$COMANDA_PG_DATA"
        (cd / && runuser -u postgres -- "$PG_BIN/initdb" -D "$COMANDA_PG_DATA" -U postgres \
            --auth=trust --encoding=UTF8 --no-locale) >>"$log" 2>&1 ||
            { log_tail postgres; die "initdb failed"; }
    fi
    local opts="-p $COMANDA_PG_PORT -k $COMANDA_PG_SOCKET_DIR -c listen_addresses=127.0.0.1"
    opts+=" -c unix_socket_permissions=0700"
    [[ $COMANDA_PG_FAST == 1 ]] && opts+=" -c fsync=off -c synchronous_commit=off"
    say "postgres: starting on 127.0.0.1:$COMANDA_PG_PORT"
    # Without -l, the server writes to pg_ctl's stdout: our log file, opened
    # here as root, so postgres needs no access to the logs folder.
    # After a kill -9 the old backends may still hold shared memory for a
    # moment: retry.
    local try pid
    for try in 1 2 3 4 5; do
        # A postmaster killed with -9 may linger as a zombie (here pid 1 does
        # not reap it at once): postgres would take its pid for a live owner
        # of postmaster.pid. Dead or zombie: the lock file is stale.
        pid=$(head -n1 "$COMANDA_PG_DATA/postmaster.pid" 2>/dev/null) &&
            ! pid_alive "$pid" && rm -f "$COMANDA_PG_DATA/postmaster.pid"
        printf '=== %s: pg_ctl start %s\n' "$(date '+%F %T')" "$opts" >>"$log"
        if pg_ctl start -D "$COMANDA_PG_DATA" -w -t "$BACKEND_TIMEOUT" -o "$opts" >>"$log" 2>&1; then
            break
        fi
        ((try < 5)) || { log_tail postgres; die "postgres did not start"; }
        sleep 1
    done
    component_pid_postgres >"$PID_DIR/postgres.pid" || true

    # Role and databases (idempotent).
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$COMANDA_PG_PORT" -U postgres -d postgres \
        >>"$log" 2>&1 <<'SQL' || { log_tail postgres; die "postgres: could not create role and databases"; }
SELECT 'CREATE ROLE comanda LOGIN CREATEDB'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'comanda') \gexec
SELECT format('CREATE DATABASE %I OWNER comanda', d)
  FROM unnest(ARRAY['comanda_users', 'comanda_payments', 'ferretdb']) AS d
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec
SQL
}

stop_postgres() {
    component_pid_postgres >/dev/null || return 0
    say "postgres: stopping"
    pg_ctl stop -D "$COMANDA_PG_DATA" -m fast -w -t 30 >>"$LOG_DIR/postgres.log" 2>&1 ||
        pg_ctl stop -D "$COMANDA_PG_DATA" -m immediate -w -t 30 >>"$LOG_DIR/postgres.log" 2>&1 || true
}

# ---- FerretDB --------------------------------------------------------------------

ferretdb_binary() {
    local bin=${COMANDA_FERRETDB:-}
    [[ -n $bin ]] || bin=$("$SCRIPT_DIR/deps.sh" --ferretdb-path)
    [[ -x $bin ]] || die "FerretDB not found at $bin: run make deps"
    printf '%s\n' "$bin"
}

start_ferretdb() {
    local bin
    bin=$(ferretdb_binary)
    mkdir -p "$DATA_DIR/ferretdb"
    say "ferretdb: starting on 127.0.0.1:$COMANDA_FERRET_PORT"
    # --debug-addr=- turns off its HTTP debug handler (default 127.0.0.1:8088,
    # which two stacks would fight over).
    launch ferretdb "$bin" \
        --handler=postgresql \
        --postgresql-url="postgres://comanda@127.0.0.1:$COMANDA_PG_PORT/ferretdb" \
        --listen-addr="127.0.0.1:$COMANDA_FERRET_PORT" \
        --state-dir="$DATA_DIR/ferretdb" \
        --telemetry=disable \
        --debug-addr=- \
        --log-format=text
}

# FerretDB listens within milliseconds of its start. Once in CI (2026-11-28)
# one started, logged nothing at all and never listened; the next run was
# fine. So a FerretDB still silent after FERRET_START_S is killed and started
# once more before giving up.
FERRET_START_S=15
wait_ferretdb() {
    local rc=0
    wait_for ferretdb "$FERRET_START_S" port_open "$COMANDA_FERRET_PORT" || rc=$?
    if ((rc == 1)); then
        say "ferretdb: not listening after ${FERRET_START_S} s; starting it once more"
        log_tail ferretdb
        kill_component ferretdb
        start_ferretdb
        rc=0
        wait_for ferretdb "$BACKEND_TIMEOUT" port_open "$COMANDA_FERRET_PORT" || rc=$?
    fi
    ((rc == 0)) || { log_tail ferretdb; die "ferretdb did not start listening on $COMANDA_FERRET_PORT"; }
}

# ---- RabbitMQ --------------------------------------------------------------------

# Environment of the private node, shared by the server and rabbitmqctl (the
# CLI finds the node's Erlang cookie in the same HOME).
rabbit_env() {
    local dir=$RABBIT_DIR
    export HOME=$dir/home
    export RABBITMQ_NODENAME=$COMANDA_RABBIT_NODENAME
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$COMANDA_AMQP_PORT
    export RABBITMQ_DIST_PORT=$COMANDA_RABBIT_DIST_PORT
    export RABBITMQ_CTL_DIST_PORT_MIN=$COMANDA_RABBIT_CTL_PORT_MIN
    export RABBITMQ_CTL_DIST_PORT_MAX=$((COMANDA_RABBIT_CTL_PORT_MIN + 9))
    export ERL_EPMD_PORT=$COMANDA_EPMD_PORT ERL_EPMD_ADDRESS=127.0.0.1
    # Erlang distribution on loopback only.
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export RABBITMQ_MNESIA_BASE=$dir/mnesia
    export RABBITMQ_LOG_BASE=$LOG_DIR/rabbitmq
    export RABBITMQ_LOGS=-   # to stdout, i.e. logs/rabbitmq.log
    export RABBITMQ_PID_FILE=$dir/rabbitmq.pid
    export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf
    export RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config
    export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
    export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf   # not /etc/rabbitmq's
}

rabbitmqctl() (
    rabbit_env
    cd "$HOME"
    "$RABBIT_BIN/rabbitmqctl" -n "$COMANDA_RABBIT_NODENAME" "$@"
)

component_pid_rabbitmq() {
    local pid f
    for f in "$RABBIT_DIR/rabbitmq.pid" "$PID_DIR/rabbitmq.pid"; do
        pid=$(head -n1 "$f" 2>/dev/null) || continue
        pid_ours "$pid" && { printf '%s\n' "$pid"; return 0; }
    done
    return 1
}

start_rabbitmq() {
    local dir=$RABBIT_DIR
    mkdir -p "$dir/home" "$dir/mnesia" "$LOG_DIR/rabbitmq"
    # loopback_users = none lets guest/guest in over 127.0.0.1: local stacks only.
    printf '%s\n' 'loopback_users = none' >"$dir/rabbitmq.conf"
    printf '%s\n' '[].' >"$dir/enabled_plugins"
    : >"$dir/rabbitmq-env.conf"
    rm -f "$dir/rabbitmq.pid"
    say "rabbitmq: starting $COMANDA_RABBIT_NODENAME on 127.0.0.1:$COMANDA_AMQP_PORT"
    (
        rabbit_env
        cd "$HOME"
        launch rabbitmq "$RABBIT_BIN/rabbitmq-server"
    )
}

wait_rabbitmq() {
    local log=$LOG_DIR/rabbitmq.log
    if ! rabbitmqctl wait --timeout "$BACKEND_TIMEOUT" "$RABBIT_DIR/rabbitmq.pid" >>"$log" 2>&1 ||
        ! rabbitmqctl await_startup --timeout "$BACKEND_TIMEOUT" >>"$log" 2>&1; then
        log_tail rabbitmq
        die "rabbitmq did not start"
    fi
}

# The pid of the epmd listening on our private port, if we started it.
epmd_pid() {
    local out pid
    out=$(ss -Hltnp "sport = :$COMANDA_EPMD_PORT" 2>/dev/null) || return 1
    [[ $out =~ pid=([0-9]+) ]] || return 1
    pid=${BASH_REMATCH[1]}
    pid_ours "$pid" && printf '%s\n' "$pid"
}

stop_rabbitmq() {
    local pid
    if pid=$(component_pid_rabbitmq); then
        say "rabbitmq: stopping"
        rabbitmqctl shutdown --timeout 30 >>"$LOG_DIR/rabbitmq.log" 2>&1 || true
        pid_ours "$pid" && stop_pid rabbitmq "$pid"
    fi
    # epmd outlives the node; only stop the one our node started.
    if pid=$(epmd_pid); then
        epmd -port "$COMANDA_EPMD_PORT" -kill >/dev/null 2>&1 || true
        stop_pid epmd "$pid"
    fi
    rm -f "$RABBIT_DIR/rabbitmq.pid"
}

# ---- the programs ---------------------------------------------------------------

# True when TCP port $2 is listened on by component $1's own process (not by
# whatever else holds it: a program that could not bind has exited).
program_listening() {
    local pid out
    pid=$(component_pid "$1") || return 1
    out=$(ss -Hltnp "sport = :$2" 2>/dev/null) || return 1
    [[ $out == *"pid=$pid,"* ]]
}

# The port a program listens on once it is up (for start-svc).
program_port() {
    case $1 in
    gateway) printf '%s\n' "$GATEWAY_PORT" ;;
    svc-user) printf '%s\n' "$USER_ADMIN_PORT" ;;
    svc-order) printf '%s\n' "$ORDER_ADMIN_PORT" ;;
    svc-payment) printf '%s\n' "$PAYMENT_ADMIN_PORT" ;;
    esac
}

start_program() {
    local name=$1 bin=$COMANDA_BIN_DIR/$1
    [[ -x $bin ]] || die "$bin not found: build it first (make, or make SAN=1 with COMANDA_BIN_DIR=build/san/bin)"
    say "$name: starting $(pretty "$bin")"
    launch "$name" "$bin"
}

# SIGTERM, then SIGKILL after STOP_TIMEOUT seconds.
stop_pid() {
    local name=$1 pid=$2 tenths=0
    pid_ours "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    while pid_alive "$pid" && ((tenths++ < STOP_TIMEOUT * 10)); do sleep 0.1; done
    if pid_ours "$pid"; then
        say "$name did not stop within ${STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while pid_alive "$pid"; do sleep 0.1; done
    fi
}

# ---- components, by name ----------------------------------------------------------

is_component() { [[ " ${PROGRAMS[*]} ${BACKENDS[*]} " == *" $1 "* ]]; }

# Prints the pid of component $1 when it is running (and ours).
component_pid() {
    local pid
    case $1 in
    postgres) component_pid_postgres ;;
    rabbitmq) component_pid_rabbitmq ;;
    *)
        pid=$(head -n1 "$PID_DIR/$1.pid" 2>/dev/null) || return 1
        pid_ours "$pid" || return 1
        printf '%s\n' "$pid"
        ;;
    esac
}

any_running() {
    local c
    for c in "${PROGRAMS[@]}" "${BACKENDS[@]}"; do
        component_pid "$c" >/dev/null && return 0
    done
    epmd_pid >/dev/null
}

# Starts component $1 unless running; with $2 = wait, waits until it serves.
start_component() {
    local name=$1 wait=${2:-wait}
    if component_pid "$name" >/dev/null; then
        say "$name: already running (pid $(component_pid "$name"))"
        return 0
    fi
    case $name in
    postgres) start_postgres ;;   # pg_ctl -w waits by itself
    ferretdb) start_ferretdb; [[ $wait == wait ]] && wait_ferretdb ;;
    rabbitmq) start_rabbitmq; [[ $wait == wait ]] && wait_rabbitmq ;;
    *)
        start_program "$name"
        if [[ $wait == wait ]]; then
            wait_for "$name" "${COMANDA_UP_TIMEOUT:-60}" program_listening "$name" "$(program_port "$name")" ||
                { log_tail "$name"; die "$name did not start listening on port $(program_port "$name")"; }
        fi
        ;;
    esac
    return 0
}

stop_component() {
    local name=$1 pid
    case $name in
    postgres) stop_postgres ;;
    rabbitmq) stop_rabbitmq ;;
    *)
        if pid=$(component_pid "$name"); then
            say "$name: stopping (pid $pid)"
            stop_pid "$name" "$pid"
        fi
        ;;
    esac
    rm -f "$PID_DIR/$name.pid"
}

kill_component() {
    local name=$1 pid
    pid=$(component_pid "$name") || { say "$name: not running"; return 0; }
    say "$name: kill -9 $pid"
    disown "$pid" 2>/dev/null || true   # started by this very run: no "Killed" line from bash
    kill -KILL "$pid"
    while pid_alive "$pid"; do sleep 0.05; done
}

# ---- commands ---------------------------------------------------------------------

cmd_up() {
    local backends_only=0
    [[ ${1:-} == --backends ]] && backends_only=1
    mkdir -p "$DATA_DIR" "$LOG_DIR" "$PID_DIR"
    # While any part runs, its ports are in the env file: keep them.
    if [[ -f $ENV_FILE ]] && (load_env && any_running); then
        say "reusing $(pretty "$ENV_FILE") (parts of the stack are running)"
    else
        configure
    fi
    load_env

    # RabbitMQ boots slowest: start it first and wait for it last.
    start_component rabbitmq nowait
    start_component postgres
    start_component ferretdb
    wait_rabbitmq

    if ((!backends_only)); then
        local p
        for p in "${PROGRAMS[@]}"; do start_component "$p" nowait; done
        wait_ready
    fi
    summary "$backends_only"
}

ready_200() {
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$GATEWAY_PORT/ready") == 200 ]]
}

wait_ready() {
    local timeout=${COMANDA_UP_TIMEOUT:-60} deadline p dead=""
    deadline=$((SECONDS + timeout))
    say "waiting up to ${timeout}s for http://127.0.0.1:$GATEWAY_PORT/ready"
    while ((SECONDS < deadline)); do
        ready_200 && return 0
        for p in "${PROGRAMS[@]}"; do
            component_pid "$p" >/dev/null || dead+=" $p"
        done
        [[ -z $dead ]] || break
        sleep 0.3
    done
    for p in "${BACKENDS[@]}" "${PROGRAMS[@]}"; do log_tail "$p" 30; done
    printf '\n' >&2
    if [[ -n $dead ]]; then
        say "error: exited during start-up:$dead (see above)"
    else
        say "error: $GATEWAY_URL/ready did not answer 200 within ${timeout}s"
    fi
    say "the rest is still running: scripts/stack.sh down stops it"
    exit 1
}

summary() {
    local backends_only=$1 rd
    rd=$(pretty "$RUN_DIR")
    {
        printf '\nComanda local stack is up (%s)\n' "$rd"
        if ((!backends_only)); then
            printf '  API         %s  (/ready, /status)\n' "$GATEWAY_URL"
            printf '  admin ports svc-user :%s  svc-order :%s  svc-payment :%s  (/health /status /metrics)\n' \
                "$USER_ADMIN_PORT" "$ORDER_ADMIN_PORT" "$PAYMENT_ADMIN_PORT"
            printf '  admin user  %s, password from ADMIN_PASSWORD in %s/env\n' "$ADMIN_EMAIL" "$rd"
        fi
        printf '  postgres    postgresql://comanda@127.0.0.1:%s/{comanda_users,comanda_payments}\n' "$COMANDA_PG_PORT"
        printf '  mongodb     %s  (FerretDB)\n' "$ORDER_MONGO_URL"
        printf '  rabbitmq    %s\n' "$AMQP_URL"
        # shellcheck disable=SC2016  # literal text
        printf '  logs        %s/logs/    environment: eval "$(scripts/stack.sh env)"\n' "$rd"
    } >&2
}

cmd_down() {
    [[ -f $ENV_FILE ]] || { say "nothing to stop in $(pretty "$RUN_DIR")"; return 0; }
    load_env
    local p pid
    # Programs first, all at once (each gets SIGTERM, then SIGKILL after 5 s).
    for p in gateway svc-order svc-payment svc-user; do
        if pid=$(component_pid "$p"); then
            say "$p: stopping (pid $pid)"
            stop_pid "$p" "$pid" &
        fi
    done
    wait
    for p in "${PROGRAMS[@]}"; do rm -f "$PID_DIR/$p.pid"; done
    stop_component ferretdb
    stop_component rabbitmq
    stop_component postgres
    say "stopped $(pretty "$RUN_DIR")"
}

cmd_status() {
    load_env
    local c pid all=0
    for c in "${BACKENDS[@]}" "${PROGRAMS[@]}"; do
        if pid=$(component_pid "$c"); then
            printf '%-12s running  pid %s\n' "$c" "$pid"
        else
            printf '%-12s stopped\n' "$c"
            all=1
        fi
    done
    if component_pid gateway >/dev/null; then
        printf '%-12s %s\n' "/ready" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$GATEWAY_URL/ready" || true)"
    fi
    return "$all"
}

cmd_run() {
    # Each step is a separate process so errexit applies inside it.
    local tail_pid=""
    on_signal() {
        trap - INT TERM
        [[ -n $tail_pid ]] && kill "$tail_pid" 2>/dev/null
        printf '\n' >&2
        "$SELF" down
        exit 0
    }
    trap on_signal INT TERM
    if ! "$SELF" up; then
        "$SELF" down
        exit 1
    fi
    load_env
    say "tailing the logs; Ctrl-C stops the stack"
    local -a logs=()
    local c
    for c in "${BACKENDS[@]}" "${PROGRAMS[@]}"; do logs+=("$LOG_DIR/$c.log"); done
    tail -n 5 -F "${logs[@]}" &
    tail_pid=$!
    wait "$tail_pid" || true
    # tail ended on its own (killed from elsewhere): stop anyway.
    "$SELF" down
}

cmd_reset() {
    cmd_down
    local base
    while read -r base; do
        [[ -d $base ]] && rm -rf "$base"
    done < <(pg_base_candidates)
    rm -rf "/tmp/comanda-$RUN_HASH-pg" "$DATA_DIR" "$LOG_DIR" "$PID_DIR" "$ENV_FILE" "$RUN_DIR/jwt-secret"
    rmdir "$RUN_DIR" 2>/dev/null || true
    say "deleted $(pretty "$RUN_DIR")"
}

need_component() {
    [[ -n ${1:-} ]] || die "usage: scripts/stack.sh $2 NAME (${PROGRAMS[*]} ${BACKENDS[*]})"
    is_component "$1" || die "unknown component '$1' (${PROGRAMS[*]} ${BACKENDS[*]})"
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    run) cmd_run ;;
    status) cmd_status ;;
    env) [[ -f $ENV_FILE ]] || die "no stack in $(pretty "$RUN_DIR") (run: scripts/stack.sh up)"; cat "$ENV_FILE" ;;
    start-svc)
        need_component "${1:-}" start-svc
        [[ -z ${2:-} || $2 == --no-wait ]] || die "usage: scripts/stack.sh start-svc NAME [--no-wait]"
        load_env
        start_component "$1" "$([[ ${2:-} == --no-wait ]] && echo no-wait || echo wait)"
        ;;
    stop-svc) need_component "${1:-}" stop-svc; load_env; stop_component "$1" ;;
    kill-svc) need_component "${1:-}" kill-svc; load_env; kill_component "$1" ;;
    reset) cmd_reset ;;
    -h | --help | help) sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//' ;;
    *) sed -n '/^# Usage/,/^# NAME/p' "$SELF" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
}

main "$@"
