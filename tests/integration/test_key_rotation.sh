#!/usr/bin/env bash
# Rotating JWT_SECRET (docs/OPERATIONS.md): a gateway of our own plays step 1
# of a rotation, the new key in JWT_SECRET and the stack's key in
# JWT_SECRET_PREVIOUS, in front of the stack's svc-user (which still signs
# with the stack's key, as before step 2):
#   - tokens svc-user signed before the rotation still get in, through the
#     previous key, and so do tokens of the new key;
#   - a token of any other key, or an expired one of the previous key, does
#     not;
#   - the stack's own gateway, which knows only the old key, refuses tokens
#     of the new one (why the gateways go first);
#   - a previous key that breaks JWT_SECRET's rules stops the gateway at start.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

OLD_KEY=${JWT_SECRET:-comanda-development-jwt-key-never-use-in-production}
NEW_KEY=rotation-test-key-$(date +%s%N)-0123456789abcdef
GW_BIN=${COMANDA_BIN_DIR:-build/bin}/gateway
LOG=${COMANDA_RUN_DIR:-.run/dev}/logs/gateway-rotation.log
mkdir -p "$(dirname "$LOG")"
: >"$LOG"
GW_PID=
trap '[[ -n $GW_PID ]] && kill -TERM "$GW_PID" 2>/dev/null; wait 2>/dev/null' EXIT

# start_gateway PORT VAR=VALUE...: a gateway of this build on PORT with the
# stack's settings and these; sets GW_PID.
start_gateway() {
    local port=$1
    shift
    env -u COMANDA_STACK_ID GATEWAY_BIND=127.0.0.1 GATEWAY_PORT="$port" "$@" "$GW_BIN" >>"$LOG" 2>&1 &
    GW_PID=$!
}

read -r PORT BAD_PORT < <(free_ports 2)
GW=http://127.0.0.1:$PORT
start_gateway "$PORT" JWT_SECRET="$NEW_KEY" JWT_SECRET_PREVIOUS="$OLD_KEY"
if ! wait_until 30 curl -fsS -o /dev/null "$GW/health"; then
    fail "rotation gateway: starts with JWT_SECRET_PREVIOUS (port $PORT)" "log: $LOG"
    finish
    exit 1
fi
pass "rotation gateway: starts with JWT_SECRET_PREVIOUS (port $PORT)"
check "...and says it accepts the previous key's tokens" grep -q 'tokens of the previous JWT key are accepted' "$LOG"

# a token svc-user signs now, with the stack's (old) key
EMAIL="rotation-$(date +%s%N)@example.com"
ID=$(signup "Rotation" "$EMAIL" "rotation-pass-1")
check "set up: a customer signs up (id ${ID:-none})" test -n "$ID"
OLD_TOKEN=$(token "$EMAIL" "rotation-pass-1")
check "set up: svc-user signs its token with the old key" test -n "$OLD_TOKEN"

TOKEN=$OLD_TOKEN http GET "$GW/api/users/me"
expect "a token of the previous key gets in" 200 ".user.id == $ID"
NEW_TOKEN=$(mint "$NEW_KEY" "$HS256" "$(claims "$ID" customer 600)")
TOKEN=$NEW_TOKEN http GET "$GW/api/users/me"
expect "a token of the new key gets in" 200 ".user.id == $ID"
TOKEN=$(mint "$OLD_KEY" "$HS256" "$(claims "$ID" customer -5)") http GET "$GW/api/users/me"
expect "an expired token of the previous key: 401, expired" 401 \
    "$(err UNAUTHENTICATED) and .error == \"Access token expired\""
TOKEN=$(mint "a-third-key-that-neither-gateway-knows-0123" "$HS256" "$(claims "$ID" admin 600)") \
    http GET "$GW/api/users/me"
expect "a token of a third key: 401, invalid" 401 "$(err UNAUTHENTICATED) and .error == \"Invalid access token\""
TOKEN=$NEW_TOKEN api GET /api/users/me
expect "the stack's gateway (old key only) refuses the new key's token" 401 "$(err UNAUTHENTICATED)"
TOKEN=$OLD_TOKEN api GET /api/users/me
expect "...and still takes the old one" 200 ".user.id == $ID"

kill -TERM "$GW_PID" 2>/dev/null
wait "$GW_PID" 2>/dev/null
GW_PID=

start_gateway "$BAD_PORT" JWT_SECRET="$NEW_KEY" JWT_SECRET_PREVIOUS=too-short
rc=0
wait_until 10 bash -c "! kill -0 $GW_PID 2>/dev/null" || rc=1
wait "$GW_PID" 2>/dev/null
code=$?
GW_PID=
check_eq "a previous key under 32 bytes stops the gateway at start (exit 2)" "0 2" "$rc $code"
check "...saying why" grep -q 'JWT_SECRET_PREVIOUS must be at least 32 bytes' "$LOG"

finish
