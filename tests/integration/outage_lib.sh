# shellcheck shell=bash
# shellcheck disable=SC2034  # TOOK_MS is read by the sourcing script
# What test_outages.sh and test_outages_more.sh share: timed requests and
# their verdicts, "everything answers again", and finding or waking the
# stack's processes. Sourced after lib.sh (not run: the runner takes only
# executable scripts), with the admin's token in TADMIN and ADMIN_ID set:
#
#   outage_setup || { finish; exit 1; }   # TADMIN, ADMIN_ID, DEADLINE_MS
#   trap outage_thaw_all EXIT
#   unavailable "X down: GET /api/..." GET /api/...    # 503 before the deadline
#   at_once     "X down, seen: GET ..." GET /api/...   # 503 in under half of it
#   works       "X down: GET ... still works" GET /api/... "" 200
#   back "X back"                                      # 200 everywhere again
#   took=$(stop_timed svc-user)                         # SIGTERM: ms to its end

DEADLINE_MS=${RPC_TIMEOUT_MS:-2000}
TADMIN=
ADMIN_ID=

# outage_setup: the admin's token and id; 1 (after a failed check) when
# they cannot be had.
outage_setup() {
    TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
    [[ -n $TADMIN ]] || { fail "set up: admin login"; return 1; }
    ADMIN_ID=$(TOKEN=$TADMIN api GET /api/users/me && jq -r .user.id <<<"$HTTP_BODY")
}

# The OS pids of this stack's servers, looked up at each use (a restart
# changes them): PostgreSQL's postmaster, RabbitMQ's Erlang VM (beam.smp,
# the process that answers; its pid file is the broker's own), and a
# program's or FerretDB's from the stack's pid files.
# pg_end_sessions APP: ends the PostgreSQL sessions a script opened under
# application_name APP (one holding a lock the test needed held).
pg_end_sessions() {
    pg_admin -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '$1'" \
        >/dev/null 2>&1
}
pg_pid() { head -n1 "$(find "$COMANDA_RUN_DIR" -name postmaster.pid -print -quit 2>/dev/null)" 2>/dev/null; }
broker_vm_pid() { head -n1 "$COMANDA_RUN_DIR/data/rabbitmq/rabbitmq.pid" 2>/dev/null; }
prog_pid() { cat "$COMANDA_RUN_DIR/pids/$1.pid" 2>/dev/null; }

# pid_running PID: the process runs. A zombie (exited, not yet reaped) has
# stopped: the local stack's programs are reaped by whoever adopted them,
# which can take a second or two after their end (scripts/stack.sh's
# pid_alive says the same).
pid_running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != [ZX] ]]
}

# stop_timed PROGRAM [MAX_S]: SIGTERM; prints how many ms it took to end,
# or "alive" when it still runs after MAX_S (30) seconds.
stop_timed() {
    local pid start i
    pid=$(prog_pid "$1")
    start=$(date +%s%3N)
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < ${2:-30} * 20; i++)); do
        pid_running "$pid" || { echo $(($(date +%s%3N) - start)); return; }
        sleep 0.05
    done
    echo alive
}
# under MS TOOK: TOOK (stop_timed's answer) is a time below MS.
under() { [[ $2 =~ ^[0-9]+$ ]] && (($2 < $1)); }

# log_mark PROGRAM: the line count of its log now; log_since PROGRAM MARK
# PATTERN: its log has a line matching PATTERN (grep -E) after MARK.
log_mark() { wc -l <"$COMANDA_RUN_DIR/logs/$1.log"; }
log_since() { tail -n +"$(($2 + 1))" "$COMANDA_RUN_DIR/logs/$1.log" | grep -qE "$3"; }

# new_order NAME BODY: POST /api/orders as the admin; prints the id (""
# on failure; NAME is for the reader). order_status ID, is_paid ID: the
# order's status now.
new_order() {
    TOKEN=$TADMIN api POST /api/orders "$2"
    [[ $HTTP_STATUS == 201 ]] && jq -r '.order._id // empty' <<<"$HTTP_BODY"
}
order_status() { curl -s --max-time 3 -H "Authorization: Bearer $TADMIN" "$GATEWAY_URL/api/orders/$1" | jq -r '.order.status // empty'; }
is_paid() { [[ $(order_status "$1") == paid ]]; }

# outage_thaw_all: whatever a script froze, stopped or refused, back as it
# was (its EXIT trap).
outage_thaw_all() {
    local p c
    p=$(pg_pid) && { kill -CONT "$p"; pkill -CONT -P "$p"; } 2>/dev/null
    p=$(broker_vm_pid) && kill -CONT "$p" 2>/dev/null
    for c in ferretdb svc-user svc-order svc-payment; do
        p=$(prog_pid "$c") && kill -CONT "$p" 2>/dev/null
    done
    for c in postgres ferretdb rabbitmq svc-user svc-order svc-payment gateway; do
        stack start-svc "$c" >/dev/null 2>&1
    done
    pg_admin -c "ALTER DATABASE comanda_payments ALLOW_CONNECTIONS true" >/dev/null 2>&1
}

# timed NAME METHOD PATH [BODY]: the request as the admin; sets TOOK_MS.
TOOK_MS=0
timed() {
    local start
    start=$(date +%s%3N)
    TOKEN=$TADMIN api "$2" "$3" "${4:-}"
    TOOK_MS=$(($(date +%s%3N) - start))
}

# unavailable NAME METHOD PATH [BODY]: 503 UNAVAILABLE. That it is not a 504
# is what shows it came before the gateway's deadline.
unavailable() {
    timed "$@"
    expect "$1: 503 UNAVAILABLE, not a 504 at the deadline (${TOOK_MS} ms)" 503 "$(err UNAVAILABLE)"
}

# at_once NAME METHOD PATH [BODY]: 503 UNAVAILABLE without waiting on the
# server (the probe has seen it down): well under the deadline.
at_once() {
    timed "$@"
    expect "$1: 503 UNAVAILABLE at once (${TOOK_MS} ms)" 503 "$(err UNAVAILABLE)"
    check "... well before the deadline (under half of it)" test "$TOOK_MS" -lt "$((DEADLINE_MS / 2))"
}

# works NAME METHOD PATH [BODY] STATUS: answers STATUS.
works() {
    timed "$1" "$2" "$3" "${4:-}"
    check_eq "$1 (${TOOK_MS} ms)" "$5" "$HTTP_STATUS"
}

# hung_calls NAME PATH: six GETs of PATH at once to a service that hangs
# all wait out the deadline (504): enough timeouts in a row to open the
# gateway's circuit breaker (RPC_BREAKER_TIMEOUTS, 5).
hung_calls() {
    local i codes=()
    for i in 1 2 3 4 5 6; do
        curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $TADMIN" \
            "$GATEWAY_URL$2" >"$COMANDA_RUN_DIR/hung.$i" &
    done
    wait
    for i in 1 2 3 4 5 6; do codes+=("$(cat "$COMANDA_RUN_DIR/hung.$i")"); rm -f "$COMANDA_RUN_DIR/hung.$i"; done
    check_eq "$1: six calls at once wait out the deadline (504)" "504 504 504 504 504 504" "${codes[*]}"
}

# back: every route answers again (waits for the probes, 20 s at most).
users_ok() { [[ $(http_status "$GATEWAY_URL/api/users/$ADMIN_ID" -H "Authorization: Bearer $TADMIN") == 200 ]]; }
# (a list, not one order: the test stack runs PostgreSQL with
# synchronous_commit off, so an order committed just before a kill -9 may
# be gone afterwards; production settings keep it)
orders_ok() { [[ $(http_status "$GATEWAY_URL/api/orders?limit=1" -H "Authorization: Bearer $TADMIN") == 200 ]]; }
payments_ok() { [[ $(http_status "$GATEWAY_URL/api/payments?limit=1" -H "Authorization: Bearer $TADMIN") == 200 ]]; }
ready() { [[ $(http_status "$GATEWAY_URL/ready") == 200 ]]; }
back() {
    check "$1: users, orders and payments answer 200 again" wait_until 20 eval 'users_ok && orders_ok && payments_ok'
    check "... and /ready is 200" wait_until 20 ready
}
new_user() { printf '{"name":"Outage %s","email":"outage-%s-%s@example.com"}' "$1" "$1" "$$"; }
