#!/usr/bin/env bash
# Sessions under concurrency (docs/API.md "Authentication and roles"): a
# refresh racing a logout, a reuse revocation or a password change. psql
# holds a lock for a second to make the race happen every time, not once in
# a thousand runs:
#   - logout while a refresh of the same session is under way: afterwards
#     every row of the session is revoked, the refresh token that refresh
#     handed out included (401);
#   - a replaced refresh token presented again (reuse) while the thief's
#     refresh is under way: the whole session is revoked, the thief's new
#     refresh token included (401);
#   - a password change while a refresh is under way: neither answers 500
#     (they used to deadlock), and every session of the user ends;
#   - a PATCH that a deadlock aborts (psql locks the user's sessions, then
#     its row, against PATCH's order) answers 503, which a client may retry,
#     not 500.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
HTTP_TIMEOUT=15
RUN=$(date +%s%N | tail -c 10)$RANDOM
OUT=$(mktemp -d)
trap 'wait; rm -rf "$OUT"' EXIT

q() { psql -XAtq -v ON_ERROR_STOP=1 "$USER_DB_URL" -c "$1"; }

# hold SECONDS SQL...: in the background, one transaction that runs the
# SQL statements, sleeps SECONDS and rolls back.
hold() {
    local s=$1 args=()
    shift
    for sql in "$@"; do args+=(-c "$sql"); done
    psql -XAtq "$USER_DB_URL" -c BEGIN "${args[@]}" -c "SELECT pg_sleep($s)" -c ROLLBACK >/dev/null 2>&1 &
}

# bg NAME METHOD PATH BODY [TOKEN]: the request in the background; its status
# goes to $OUT/NAME.status and its body to $OUT/NAME.json.
bg() {
    local name=$1 method=$2 path=$3 body=$4 tok=${5:-}
    local -a args=(-s -o "$OUT/$name.json" -w '%{http_code}' --max-time 15 -X "$method" -H 'Content-Type: application/json')
    [[ -n $tok ]] && args+=(-H "Authorization: Bearer $tok")
    [[ -n $body ]] && args+=(--data-binary "$body")
    curl "${args[@]}" "$GATEWAY_URL$path" >"$OUT/$name.status" &
}

refresh_body() { jq -nc --arg r "$1" '{refresh_token:$r}'; }

# handed_out_is_dead NAME RACER: the refresh token that RACER's refresh
# handed out gets 401 now. A racer that answered 401 handed out none, so
# there is nothing to present: skip, saying so (presenting a made-up token
# instead would pass whatever happened).
handed_out_is_dead() {
    local status token
    status=$(cat "$OUT/$2.status") token=$(jq -r '.refresh_token // empty' "$OUT/$2.json" 2>/dev/null)
    if [[ -n $token ]]; then
        TOKEN='' api POST /api/auth/refresh "$(refresh_body "$token")"
        expect "$1" 401 "$(err UNAUTHENTICATED)"
    elif [[ $status == 200 ]]; then
        fail "$1" "the refresh answered 200 without a refresh token"
    else
        skip "$1" "the refresh answered $status: it handed out no refresh token"
    fi
}

# new_user NAME: signs up and logs in; sets UID_, FAM (the session's id),
# T (access token) and R0 (refresh token).
new_user() {
    local email="$1.$RUN@example.com"
    signup "$1" "$email" correct-horse-1 >/dev/null
    TOKEN='' api POST /api/auth/login "$(jq -nc --arg e "$email" '{email:$e,password:"correct-horse-1"}')"
    UID_=$(jq -r .user.id <<<"$HTTP_BODY") T=$(jq -r .token <<<"$HTTP_BODY") R0=$(jq -r .refresh_token <<<"$HTTP_BODY")
    FAM=$(q "SELECT family_id FROM sessions WHERE user_id = $UID_")
}

# ---- logout racing a refresh -------------------------------------------------------------

new_user lou
# The refresh of R0 is under way (held on the user's row) when the logout comes.
hold 1 "SELECT id FROM users WHERE id = $UID_ FOR UPDATE"
sleep 0.2
bg refresh POST /api/auth/refresh "$(refresh_body "$R0")"
sleep 0.2
bg logout POST /api/auth/logout '' "$T"
wait
check_eq "logout racing a refresh answers 200" 200 "$(cat "$OUT/logout.status")"
check_match "...and the refresh answers 200 or 401" '^(200|401)$' "$(cat "$OUT/refresh.status")"
check_eq "...and afterwards every row of the session is revoked" 0 \
    "$(q "SELECT count(*) FROM sessions WHERE family_id = $FAM AND revoked_at IS NULL")"
handed_out_is_dead "...and the refresh token that refresh returned gets 401" refresh

# ---- reuse racing the thief's refresh -----------------------------------------------------

new_user rue
TOKEN='' api POST /api/auth/refresh "$(refresh_body "$R0")"
R1=$(jq -r .refresh_token <<<"$HTTP_BODY")
TOKEN='' api POST /api/auth/refresh "$(refresh_body "$R1")"
R2=$(jq -r .refresh_token <<<"$HTTP_BODY")
TOKEN='' api POST /api/auth/refresh "$(refresh_body "$R2")"
R3=$(jq -r .refresh_token <<<"$HTTP_BODY")
# The thief refreshes R3 (held on the user's row); the owner presents R1,
# replaced, again: reuse, which must end the session the thief is extending.
# (R1, not R0: the session's first row is locked by any refresh of it. R1's
# successor R2 has been used: a replaced token whose successor is unused
# would be answered as a retry within REFRESH_RETRY_GRACE_S, see
# test_refresh_retry.sh.)
hold 1 "SELECT id FROM users WHERE id = $UID_ FOR UPDATE"
sleep 0.2
bg thief POST /api/auth/refresh "$(refresh_body "$R3")"
sleep 0.2
bg owner POST /api/auth/refresh "$(refresh_body "$R1")"
wait
check_eq "a reused refresh token racing the thief's refresh answers 401" 401 "$(cat "$OUT/owner.status")"
check_match "...and the thief's refresh answers 200 or 401" '^(200|401)$' "$(cat "$OUT/thief.status")"
check_eq "...and afterwards every row of the session is revoked" 0 \
    "$(q "SELECT count(*) FROM sessions WHERE family_id = $FAM AND revoked_at IS NULL")"
handed_out_is_dead "...and the thief's new refresh token gets 401" thief

# ---- password change racing a refresh -----------------------------------------------------

new_user pat
# Hold the slot of the refresh's new row (family, rotation 1), so the refresh
# is under way when the password change comes.
hold 1 "INSERT INTO sessions (family_id, user_id, rotation, refresh_hash, expires_at)
        VALUES ($FAM, $UID_, 1, decode(repeat('ab', 32), 'hex'), now() + interval '1 hour')"
sleep 0.2
bg refresh POST /api/auth/refresh "$(refresh_body "$R0")"
sleep 0.2
bg patch PATCH /api/users/me '{"password":"new-horse-22","current_password":"correct-horse-1"}' "$T"
wait
check_match "a refresh racing a password change answers 200 or 401 (not 500)" '^(200|401)$' \
    "$(cat "$OUT/refresh.status")"
check_eq "...and the password change answers 200" 200 "$(cat "$OUT/patch.status")"
check_eq "...and afterwards every session of the user is revoked" 0 \
    "$(q "SELECT count(*) FROM sessions WHERE user_id = $UID_ AND revoked_at IS NULL")"
handed_out_is_dead "...and the refresh token that refresh returned gets 401" refresh

# ---- a deadlock is retryable --------------------------------------------------------------

new_user dee
ADMIN_TOKEN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
# psql locks the user's sessions, then (after PATCH has locked the user's row
# and waits for the sessions) the user's row: a deadlock. PostgreSQL ends the
# transaction that waited first, PATCH's.
hold 1.5 "SELECT id FROM sessions WHERE user_id = $UID_ FOR UPDATE" "SELECT pg_sleep(0.4)" \
    "SELECT id FROM users WHERE id = $UID_ FOR UPDATE"
sleep 0.1
TOKEN=$ADMIN_TOKEN api PATCH "/api/users/$UID_" '{"status":"suspended"}'
wait
expect "a PATCH that a deadlock aborted answers 503 UNAVAILABLE (retry), not 500" 503 "$(err UNAVAILABLE)"
TOKEN=$ADMIN_TOKEN api PATCH "/api/users/$UID_" '{"status":"suspended"}'
expect "...and the same PATCH sent again succeeds" 200 '.user.status == "suspended"'

finish
