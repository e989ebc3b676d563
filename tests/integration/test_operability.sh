#!/usr/bin/env bash
# Integration: operability, each section a defect a review found:
#
#   1. GET /status on a service's admin port answers within the probe's
#      3 s (PG_PROBE_TIMEOUT_MS) while its PostgreSQL is frozen (SIGSTOP),
#      even before the probe has seen the freeze: 503 "degraded", then 200
#      once it thaws.
#   2. A malformed setting (JWT_SECRET too short, USER_ADMIN_PORT=abc,
#      JWT_TTL_S out of range) stops svc-user at once with exit 2 and an
#      error naming the variable, while its database is unreachable: every
#      setting is read before anything connects (svc_def.configure).
#   3. `scripts/stack.sh start-svc gateway` while another process holds the
#      gateway's port fails and points at the gateway's log: it waits for
#      the program itself to listen, not for anything on the port.
#
# Needs the stack up (scripts/stack.sh up); freezes PostgreSQL for a few
# seconds and restarts the gateway, and leaves the stack up.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1
: "${COMANDA_RUN_DIR:?no stack environment (scripts/stack.sh up)}"
BIN=${COMANDA_BIN_DIR:-build/bin}

pg_pid() { head -n1 "$(find "$COMANDA_RUN_DIR" -name postmaster.pid -print -quit 2>/dev/null)" 2>/dev/null; }
HOLDER=
thaw_all() {
    local p
    p=$(pg_pid) && { kill -CONT "$p"; pkill -CONT -P "$p"; } 2>/dev/null
    [[ -n $HOLDER ]] && kill "$HOLDER" 2>/dev/null
    stack start-svc gateway >/dev/null 2>&1
}
trap thaw_all EXIT

# ---- 1. /status while PostgreSQL is frozen ------------------------------------------
wait_until 10 curl -fsS -o /dev/null "http://127.0.0.1:$USER_ADMIN_PORT/health"
PG=$(pg_pid)
if [[ -z $PG ]]; then
    fail "1: postgres pid"
else
    kill -STOP "$PG"; pkill -STOP -P "$PG"
    start=$(date +%s%3N)
    HTTP_TIMEOUT=15 http GET "http://127.0.0.1:$USER_ADMIN_PORT/status"
    took=$(($(date +%s%3N) - start))
    kill -CONT "$PG"; pkill -CONT -P "$PG"
    check "1: svc-user /status answers within 3.5 s of a frozen database (took ${took} ms, status $HTTP_STATUS)" \
        test "$took" -le 3500
    check_eq "1: ... and says it is degraded (503)" 503 "$HTTP_STATUS"
    wait_until 15 curl -fsS -o /dev/null "http://127.0.0.1:$USER_ADMIN_PORT/status"
    check_eq "1: /status is 200 again once the database answers" 200 \
        "$(http_status "http://127.0.0.1:$USER_ADMIN_PORT/status")"
fi

# ---- 2. a bad setting while the database is unreachable ------------------------------
read -r P_RPC P_ADMIN P_DEAD <<<"$(free_ports 3)"
down_env=(USER_DB_URL="postgresql://comanda@127.0.0.1:$P_DEAD/comanda_users"
    USER_RPC_LISTEN="tcp://127.0.0.1:$P_RPC" USER_ADMIN_PORT="$P_ADMIN")
for bad in "JWT_SECRET=short" "USER_ADMIN_PORT=abc" "JWT_TTL_S=5000"; do
    var=${bad%%=*}
    out=$(env "${down_env[@]}" "$bad" timeout 8 "$BIN/svc-user" 2>&1 | grep -v '"level":"warn"')
    rc=${PIPESTATUS[0]}
    check_eq "2: svc-user $bad with its database down exits 2 (not: waits)" 2 "$rc"
    check_match "2: ... with an error naming $var" "\"level\":\"error\".*$var" "$out"
done

# ---- 3. start-svc when the program's port is taken ------------------------------------
stack stop-svc gateway >/dev/null 2>&1
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); time.sleep(60)' "$GATEWAY_PORT" &
HOLDER=$!
wait_until 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$GATEWAY_PORT" 2>/dev/null
out=$(stack start-svc gateway 2>&1)
rc=$?
check_not "3: start-svc gateway fails when its port is someone else's (rc $rc)" test "$rc" -eq 0
check_match "3: ... and points to the log" "gateway\.log" "$out"
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null; HOLDER=
stack start-svc gateway >/dev/null 2>&1
check "3: the gateway starts once the port is free" \
    wait_until 20 curl -fsS -o /dev/null "$GATEWAY_URL/health"

finish
