#!/usr/bin/env bash
# Integration: lib/pg's prepared statements (pg_exec in lib/pg.h) against the
# stack's PostgreSQL, through svc-user's GetUser and UpdateUser:
#  - a PostgreSQL restart: every connection reconnects with an empty cache
#    and the service keeps answering, without going through the recovery of
#    statements the server does not know (26000);
#  - each SQL text is parsed once per connection, then only executed
#    (PostgreSQL's statement log, turned on for the check);
#  - a column's type changed under running connections, as another
#    replica's migration can do ("cached plan must not change result
#    type"): reads outside a transaction still answer 200 (the statement is
#    prepared again and re-run); a transaction that meets a stale statement
#    fails, at most once per connection, and the next use works;
#  - deadlines (pg_live.c): a statement the server holds past the caller's
#    deadline, a transaction whose caller runs out of time, a new caller
#    after a transaction was left open.
#
# Needs the stack up (scripts/stack.sh up) and curl, jq, psql. Restarts
# PostgreSQL, changes users.name to varchar(100) and back to text, and turns
# statement logging on and off (all restored on exit).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${COMANDA_PG_PORT:?no stack environment (scripts/stack.sh up)}"
WORKERS=${RPC_WORKERS:-8}   # svc-user's database connections serving RPCs
PG_LOG=$COMANDA_RUN_DIR/logs/postgres.log
USER_LOG=$COMANDA_RUN_DIR/logs/svc-user.log
RUN=$(date +%s%N | tail -c 10)$RANDOM
INVALIDATED='"msg":"prepared statements invalidated; preparing them again"'

# The stack's superuser (trust authentication on loopback).
set_name_type() { pg_admin -d comanda_users -c "ALTER TABLE users ALTER COLUMN name TYPE $1"; }
log_statements() {
    pg_admin -d postgres -c "ALTER SYSTEM $1" -c "SELECT pg_reload_conf()" >/dev/null
}
restore() {
    stack start-svc postgres >/dev/null 2>&1
    log_statements "RESET log_min_duration_statement" 2>/dev/null
    set_name_type text >/dev/null 2>&1
}
trap restore EXIT

# req METHOD PATH [BODY]: as TOKEN; waits out the gateway's rate limit (429)
# so that only the service's answers count. Sets HTTP_STATUS and HTTP_BODY.
req() {
    local tries=0
    while :; do
        api "$1" "$2" "${3:-}"
        [[ $HTTP_STATUS == 429 ]] || break
        ((tries++ < 100)) || break
        sleep 0.2
    done
}

# gets N: N reads of the test user; prints the statuses that were not 200.
gets() {
    local i bad=""
    for ((i = 0; i < $1; i++)); do
        req GET "/api/users/$ID"
        [[ $HTTP_STATUS == 200 ]] || bad+=" $HTTP_STATUS"
    done
    printf '%s' "$bad"
}

# patches N: N renames of the test user (each a transaction in svc-user);
# sets PATCH_CODES to every status, in order.
patches() {
    local i
    PATCH_CODES=()
    for ((i = 0; i < $1; i++)); do
        req PATCH "/api/users/$ID" "{\"name\":\"Prepared $RUN $i\"}"
        PATCH_CODES+=("$HTTP_STATUS")
    done
}

# lines FILE: its line count (a mark: what was logged after it is new).
lines() { wc -l <"$1"; }
# invalidations_since MARK: svc-user's "invalidated" log lines after MARK.
invalidations_since() { tail -n +"$(($1 + 1))" "$USER_LOG" | grep -cF "$INVALIDATED"; }

TOKEN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TOKEN"
req POST /api/users "{\"name\":\"Prepared $RUN\",\"email\":\"prepared.$RUN@example.com\",\"password\":\"password-1\"}"
ID=$(jq -r '.user.id // empty' <<<"$HTTP_BODY")
check "a user to read and rename" test -n "$ID"

# Every worker's connection prepares the statements (requests go round-robin
# over the workers).
check_eq "warm-up reads answer 200" "" "$(gets $((3 * WORKERS)))"
patches $((2 * WORKERS))
check_eq "warm-up renames answer 200" "$(printf '200 %.0s' $(seq 1 $((2 * WORKERS))))" "${PATCH_CODES[*]} "

# ---- a PostgreSQL restart: new sessions, empty caches ----------------------------

mark=$(lines "$USER_LOG")
stack stop-svc postgres >/dev/null 2>&1
stack start-svc postgres >/dev/null 2>&1
check_eq "after a PostgreSQL restart every read answers 200 (reconnect, prepare again)" "" \
    "$(gets $((3 * WORKERS)))"
check_eq "... with the cache emptied by the reconnect, not recovered from 26000" 0 "$(invalidations_since "$mark")"

# ---- prepared once per connection ------------------------------------------------

log_statements "SET log_min_duration_statement = 0"
# A backend applies the new setting after its next statement: one round
# over the workers first.
gets $((2 * WORKERS)) >/dev/null
offset=$(stat -c %s "$PG_LOG")
N=$((5 * WORKERS))
check_eq "$N reads answer 200 with statement logging on" "" "$(gets "$N")"
log_statements "RESET log_min_duration_statement"
# shellcheck disable=SC2016  # a regular expression, not an expansion
GETUSER='SELECT id, name, email, .* FROM users WHERE id = \$1$'
logged=$(tail -c +"$((offset + 1))" "$PG_LOG")
executes=$(grep -cE "execute c[0-9]+: $GETUSER" <<<"$logged")
parses=$(grep -cE "parse c[0-9]+: $GETUSER" <<<"$logged")
unnamed=$(grep -cE "(parse|execute) <unnamed>: $GETUSER" <<<"$logged")
check "GetUser's statement executed by name $N times or more (saw $executes)" test "$executes" -ge "$N"
check "... parsed at most once per connection, not per call (saw $parses)" test "$parses" -le "$WORKERS"
check_eq "... never run as an unnamed statement" 0 "$unnamed"

# ---- a result type changed under the connections ---------------------------------

mark=$(lines "$USER_LOG")
check "users.name becomes varchar(100) (as a migration would change it)" set_name_type 'varchar(100)'
check_eq "every read still answers 200: stale statements are prepared again and re-run" "" \
    "$(gets $((3 * WORKERS)))"
req GET "/api/users/$ID"
check_json "... and return the row" "$HTTP_BODY" ".user.id == $ID and (.user.name | startswith(\"Prepared $RUN\"))"
check "svc-user logged the invalidation (0A000)" test "$(invalidations_since "$mark")" -ge 1
# Renames now prepare their UPDATE ... RETURNING against the new type.
patches $((2 * WORKERS))

mark=$(lines "$USER_LOG")
check "users.name becomes text again" set_name_type text
# The rename's UPDATE ... RETURNING goes stale inside its transaction: that
# transaction fails (500), once per connection at most, and the connection
# prepares afresh for the next.
patches $((6 * WORKERS))
failed=0 other=0
for code in "${PATCH_CODES[@]}"; do
    [[ $code == 200 ]] && continue
    failed=$((failed + 1))
    [[ $code == 500 ]] || other=$((other + 1))
done
check "renames failing on a stale statement in a transaction: at most one per connection ($failed of ${#PATCH_CODES[@]})" \
    test "$failed" -le "$WORKERS"
check_eq "... each as 500 (the transaction's error, passed on)" 0 "$other"
check_eq "... and the last $((2 * WORKERS)) renames all succeed" \
    "$(printf '200 %.0s' $(seq 1 $((2 * WORKERS))))" "$(printf '%s ' "${PATCH_CODES[@]: -$((2 * WORKERS))}")"
check "svc-user logged the invalidation inside the transactions" test "$(invalidations_since "$mark")" -ge 1
check_eq "reads answer 200 afterwards" "" "$(gets $((2 * WORKERS)))"
req GET "/api/users/$ID"
check_json "the last rename is stored" "$HTTP_BODY" ".user.name == \"Prepared $RUN $((6 * WORKERS - 1))\""

# lib/pg's deadlines on their own (tests/integration/pg_live.c, its own
# summary line): a statement held past the deadline, a transaction whose
# caller ran out of time, a new caller after a transaction left open.
if live_build pg_live; then
    PG_LIVE_URL=$USER_DB_URL live_run
fi

finish
