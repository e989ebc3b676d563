#!/usr/bin/env bash
# A refresh retried after a 504 keeps the session (docs/API.md, "POST
# /api/auth/refresh"). svc-user is frozen (SIGSTOP) while a refresh is out,
# so the gateway answers 504 at the deadline; once thawed, svc-user still
# runs the exchange it had received (its deadline starts when a worker takes
# the request, docs/RPC.md), so the client's token is already replaced when
# the client - holding nothing newer - sends it again. Then:
#   - the retry answers 200 with the refresh token that exchange handed out,
#     and the session goes on (before: 401 "Refresh token reused; session
#     revoked", the newest token dead too);
#   - a second retry, and two retries at once, get that same refresh token;
#   - reuse is still reuse: once that refresh token has been used, or past
#     REFRESH_RETRY_GRACE_S, the old one revokes the session; a revoked
#     (logged out) session answers no retry.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

: "${USER_DB_URL:?no stack environment (scripts/stack.sh up)}"
RUN=$(date +%s%N | tail -c 10)$RANDOM
q() { psql -XAtq -v ON_ERROR_STOP=1 "$USER_DB_URL" -c "$1"; }
refresh() { api POST /api/auth/refresh "{\"refresh_token\":\"$1\"}"; }
# the session row of refresh token $1: "replaced revoked reason"
row() { q "SELECT replaced_at IS NOT NULL, revoked_at IS NOT NULL, coalesce(revoke_reason, '-')
           FROM sessions WHERE refresh_hash = sha256('$1'::bytea)" | tr '|' ' '; }
# login EMAIL: sets R (refresh token) and T (access token)
login() {
    api POST /api/auth/login "$(jq -nc --arg e "$1" '{email:$e,password:"correct-horse-1"}')"
    R=$(jq -r '.refresh_token // empty' <<<"$HTTP_BODY") T=$(jq -r '.token // empty' <<<"$HTTP_BODY")
}

EMAIL="re.$RUN@example.com"
ID=$(signup Re "$EMAIL" correct-horse-1)
login "$EMAIL"
check "login gives a refresh token" test -n "$R"
R0=$R

# ---- the 504 ---------------------------------------------------------------------------
SU=$(cat "$COMANDA_RUN_DIR/pids/svc-user.pid")
kill -STOP "$SU"
trap 'kill -CONT "$SU" 2>/dev/null' EXIT
HTTP_TIMEOUT=15 refresh "$R0"
kill -CONT "$SU"
trap - EXIT
expect "a refresh while svc-user is frozen answers 504 at the deadline" 504 "$(err DEADLINE_EXCEEDED)"
replaced() { [[ $(row "$R0") == "t f -" ]]; }
check "...yet svc-user, thawed, runs the exchange: the presented token is replaced" wait_until 10 replaced
check "the gateway answers again" wait_until 10 curl -fsS -o /dev/null "$GATEWAY_URL/ready"

refresh "$R0"
expect "the client's retry with the same refresh token answers 200 with a new pair (no reuse revocation)" 200 \
    ".success == true and (.refresh_token | length == 43) and .refresh_token != \"$R0\" and .user.id == $ID"
R1=$(jq -r '.refresh_token // empty' <<<"$HTTP_BODY") T1=$(jq -r '.token // empty' <<<"$HTTP_BODY")
check_eq "...and Cache-Control: no-store, as every token answer" "no-store" "$(http_header Cache-Control)"
check_eq "...the session is not revoked" "t f -" "$(row "$R0")"
check_eq "...the refresh token it hands out is the one the lost exchange stored (live, one row)" "f f -" "$(row "$R1")"
TOKEN=$T1 api GET /api/users/me
expect "...its access token works" 200 ".user.id == $ID"

refresh "$R0"
expect "a second retry answers 200 too" 200 ".success == true"
check_eq "...with the same refresh token" "$R1" "$(jq -r .refresh_token <<<"$HTTP_BODY")"

# two retries at once: both wait on the session's lock, both get that token
for i in 1 2; do
    curl -s --max-time 10 -X POST "$GATEWAY_URL/api/auth/refresh" -H 'Content-Type: application/json' \
        --data-binary "{\"refresh_token\":\"$R0\"}" >"$COMANDA_RUN_DIR/retry.$RUN.$i" &
done
wait
both=$(cat "$COMANDA_RUN_DIR/retry.$RUN.1" "$COMANDA_RUN_DIR/retry.$RUN.2" | jq -r .refresh_token | tr '\n' ' ')
rm -f "$COMANDA_RUN_DIR/retry.$RUN".*
check_eq "two retries at once both get the same refresh token" "$R1 $R1 " "$both"

refresh "$R1"
expect "the session goes on: the handed-out refresh token rotates normally" 200 ".refresh_token != \"$R1\""
R2=$(jq -r '.refresh_token // empty' <<<"$HTTP_BODY")

# ---- reuse is still reuse ----------------------------------------------------------------
refresh "$R0"
expect "once its successor has been used, the old token is reuse: 401" 401 \
    "$(err UNAUTHENTICATED) and .error == \"Refresh token reused; session revoked\""
refresh "$R2"
expect "...which revoked the session: the newest refresh token fails too" 401 "$(err UNAUTHENTICATED)"
check_eq "...recorded as reuse" "f t reuse" "$(row "$R2")"

# past the grace window (the exchange made older by hand rather than waited for)
login "$EMAIL"
A0=$R
refresh "$A0"
A1=$(jq -r '.refresh_token // empty' <<<"$HTTP_BODY")
q "UPDATE sessions SET replaced_at = now() - interval '1 hour' WHERE refresh_hash = sha256('$A0'::bytea)"
refresh "$A0"
expect "an exchanged token presented again past REFRESH_RETRY_GRACE_S is reuse: 401" 401 \
    "$(err UNAUTHENTICATED) and .error == \"Refresh token reused; session revoked\""
refresh "$A1"
expect "...and its successor, never used, is revoked with the session" 401 "$(err UNAUTHENTICATED)"

# a retry after a logout: the session is over
login "$EMAIL"
B0=$R BT=$T
refresh "$B0"
expect "(another session rotates once)" 200
TOKEN=$BT api POST /api/auth/logout
expect "(and logs out)" 200
refresh "$B0"
expect "a retry after the session was logged out answers 401 'Session revoked'" 401 \
    "$(err UNAUTHENTICATED) and .error == \"Session revoked\""

# a retry for a user suspended since: refused as a refresh would be
login "$EMAIL"
C0=$R
refresh "$C0"
expect "(a third session rotates once)" 200
TOKEN=$(token "${ADMIN_EMAIL:-admin@comanda.local}" "${ADMIN_PASSWORD:-admin-change-me}") \
    api PATCH "/api/users/$ID" '{"status":"suspended"}'
expect "(the user is suspended)" 200
refresh "$C0"
expect "a retry for a user suspended since answers 401" 401 "$(err UNAUTHENTICATED)"

finish
