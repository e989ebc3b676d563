#!/usr/bin/env bash
# A sign-up with an Idempotency-Key that failed is not remembered (docs/API.md,
# "Idempotency-Key": only successes are recorded), even when it failed by
# timing out: psql holds an uncommitted sign-up of the same e-mail for 3 s,
# so the first request waits on its lock until its deadline (503). Then:
#   - no claim of the key is left in progress;
#   - the retry with the same key and body, once psql is done, runs again
#     and creates the user (201), instead of 409 "still in progress" for a
#     minute;
#   - a further retry replays that 201 (Idempotent-Replayed: true);
#   - a duplicate sent while the first is still in flight waits for it and
#     replays its answer (201) instead of 409.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

: "${USER_DB_URL:?no stack environment (scripts/stack.sh up)}"
HTTP_TIMEOUT=15
RUN=$(date +%s%N | tail -c 10)$RANDOM
q() { psql -XAtq -v ON_ERROR_STOP=1 "$USER_DB_URL" -c "$1"; }

EMAIL="bo.$RUN@example.com" KEY="retry-$RUN"
BODY=$(jq -nc --arg e "$EMAIL" '{name:"Bo",email:$e,password:"correct-horse-1"}')
psql -XAtq "$USER_DB_URL" -c BEGIN -c "INSERT INTO users (name, email) VALUES ('holder', '$EMAIL')" \
    -c "SELECT pg_sleep(3)" -c ROLLBACK >/dev/null 2>&1 &
HOLDER=$!
sleep 0.3
api POST /api/users "$BODY" -H "Idempotency-Key: $KEY"
expect "a sign-up waiting on a lock past its deadline answers 503" 503 "$(err UNAVAILABLE)"
wait "$HOLDER"
sleep 0.5   # the server ends the abandoned statement (lib/pg.c, client_connection_check_interval)
check_eq "...and leaves no claim of its key in progress" 0 \
    "$(q "SELECT count(*) FROM idempotency_records WHERE key = '$KEY' AND status = 'in_progress'")"
api POST /api/users "$BODY" -H "Idempotency-Key: $KEY"
expect "its retry with the same key runs again and creates the user (201, not 409)" 201 ".user.email == \"$EMAIL\""
check_eq "...and is not marked replayed" "" "$(http_header Idempotent-Replayed)"
FIRST=$HTTP_BODY
api POST /api/users "$BODY" -H "Idempotency-Key: $KEY"
check_eq "a further retry replays that 201" "201 true" "$HTTP_STATUS $(http_header Idempotent-Replayed)"
check_eq "...with the same body" "$FIRST" "$HTTP_BODY"

# Two at once with one key: the second waits for the first's outcome. psql
# holds the e-mail for 1 s so that the first is still in flight.
EMAIL="cy.$RUN@example.com" KEY="twin-$RUN"
BODY=$(jq -nc --arg e "$EMAIL" '{name:"Cy",email:$e,password:"correct-horse-1"}')
psql -XAtq "$USER_DB_URL" -c BEGIN -c "INSERT INTO users (name, email) VALUES ('holder', '$EMAIL')" \
    -c "SELECT pg_sleep(1)" -c ROLLBACK >/dev/null 2>&1 &
sleep 0.3
out=()
for i in 1 2; do
    curl -s -D - -o /dev/null --max-time 15 -X POST "$GATEWAY_URL/api/users" -H 'Content-Type: application/json' \
        -H "Idempotency-Key: $KEY" --data-binary "$BODY" | tr -d '\r' | grep -iE '^(HTTP/|idempotent-replayed)' |
        tr '\n' ' ' >"${TMPDIR:-/tmp}/twin.$$.$i" &
    sleep 0.3
done
wait
for i in 1 2; do out+=("$(cat "${TMPDIR:-/tmp}/twin.$$.$i")"); rm -f "${TMPDIR:-/tmp}/twin.$$.$i"; done
check_match "two sign-ups at once with one key: the first answers 201" '^HTTP/[0-9.]+ 201' "${out[0]}"
check_match "...and the second waits for it and replays it (201, Idempotent-Replayed)" \
    '^HTTP/[0-9.]+ 201 .*[Ii]dempotent-[Rr]eplayed: true' "${out[1]}"

finish
