#!/usr/bin/env bash
# Integration: lib/bus (publisher confirms, consumer acks/retries/rejects,
# dead-lettering, queue depth, broker kill and restart, a frozen broker)
# against the stack's real RabbitMQ. The checks are C: tests/integration/
# bus_live.c, built here (make $BUILD/tests/bus_live, with sanitizers unless
# LIVE_SAN=0) and run with the stack's AMQP_URL; its last line is
# "bus_live: N passed, M failed[, K skipped]".
#
# It kills and restarts the stack's RabbitMQ (scripts/stack.sh kill-svc /
# start-svc) and freezes it for about a second (SIGSTOP/SIGCONT); it always
# leaves the broker running, then waits for the services (when the stack runs
# them) to report the broker healthy again.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

if [[ -z ${AMQP_URL:-} || -z ${COMANDA_RUN_DIR:-} ]]; then
    fail "the stack's environment (AMQP_URL, COMANDA_RUN_DIR)" "run scripts/stack.sh up [--backends] first"
    finish
    exit 1
fi

# The broker's OS pid, only when it is this stack's (as scripts/stack.sh
# decides: the process carries COMANDA_STACK_ID=<run dir>). Looked up at each
# use: a restart changes it.
broker_pid() {
    local pid
    pid=$(head -n1 "$COMANDA_RUN_DIR/data/rabbitmq/rabbitmq.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "COMANDA_STACK_ID=$COMANDA_RUN_DIR" || return 1
    printf '%s\n' "$pid"
}

# bus_live's freeze/thaw hooks call back here: test_bus.sh --broker-signal STOP|CONT
if [[ ${1:-} == --broker-signal ]]; then
    pid=$(broker_pid) || { echo "test_bus: no broker of this stack to signal" >&2; exit 1; }
    exec kill -"$2" "$pid"
fi

live_build bus_live || { finish; exit 1; }
bin=$LIVE_BIN

self=$(printf '%q' "$IT_REPO/tests/integration/test_bus.sh")
repo_q=$(printf '%q' "$IT_REPO")
export BUS_LIVE_KILL="cd $repo_q && scripts/stack.sh kill-svc rabbitmq >/dev/null 2>&1"
export BUS_LIVE_START="cd $repo_q && scripts/stack.sh start-svc rabbitmq >/dev/null 2>&1"
export BUS_LIVE_PAUSE="$self --broker-signal STOP" BUS_LIVE_RESUME="$self --broker-signal CONT"
# Whatever happens to bus_live, the broker must not stay frozen.
trap 'pid=$(broker_pid) && kill -CONT "$pid" 2>/dev/null' EXIT

rc=0
"$bin" || rc=$?

# Leave the broker as we found it: running, and the services reconnected.
stack start-svc rabbitmq >/dev/null 2>&1 || true
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in ${USER_ADMIN_PORT:-} ${ORDER_ADMIN_PORT:-} ${PAYMENT_ADMIN_PORT:-}; do
    port_open "$port" || continue
    wait_until 20 curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/health" || true
done
exit "$rc"
