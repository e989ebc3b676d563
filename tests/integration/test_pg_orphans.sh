#!/usr/bin/env bash
# A statement abandoned at its caller's deadline does not outlive it on the
# server (lib/pg.c): psql holds an uncommitted sign-up, so sign-ups of the
# same e-mail wait on its lock until their RPC deadline, when svc-user drops
# their connections. Their PostgreSQL backends must end too, with the locks
# they wait for or hold, instead of piling up until the lock holder is done:
#   - after each of three rounds of 4 such sign-ups, none of svc-user's
#     backends still waits on the lock, and svc-user has at most
#     RPC_WORKERS + 2 backends (its workers, the health probe, one spare);
#   - each abandoned sign-up answered 503 (not a hang);
#   - once the lock holder is gone, a sign-up of that e-mail works.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

: "${USER_DB_URL:?no stack environment (scripts/stack.sh up)}"
WORKERS=${RPC_WORKERS:-8}
HTTP_TIMEOUT=15
EMAIL="orphan.$(date +%s%N | tail -c 10)$RANDOM@example.com"
BODY=$(jq -nc --arg e "$EMAIL" '{name:"Orphan",email:$e,password:"correct-horse-1"}')
HOLDER=
trap '[[ -n $HOLDER ]] && kill "$HOLDER" 2>/dev/null; wait' EXIT

q() { psql -XAtq -v ON_ERROR_STOP=1 "$USER_DB_URL" -c "$1"; }
backends() { q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'svc-user'"; }

# at_most NAME: passes when svc-user has at most RPC_WORKERS + 2 backends
# (listing them when not).
at_most() {
    local n
    n=$(backends)
    if ((n <= WORKERS + 2)); then
        pass "$1: svc-user has $n backends, at most RPC_WORKERS + 2 ($((WORKERS + 2)))"
    else
        fail "$1: svc-user has at most RPC_WORKERS + 2 backends" "$n > $((WORKERS + 2))" \
            "$(q "SELECT pid, state, wait_event_type, left(query, 50) FROM pg_stat_activity
                  WHERE application_name = 'svc-user'")"
    fi
}

at_most "to begin with"

psql -XAtq "$USER_DB_URL" -c BEGIN -c "INSERT INTO users (name, email) VALUES ('holder', '$EMAIL')" \
    -c "SELECT pg_sleep(9)" -c ROLLBACK >/dev/null 2>&1 &
HOLDER=$!
sleep 0.3

for round in 1 2 3; do
    pids=()
    for i in 1 2 3 4; do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 15 -X POST "$GATEWAY_URL/api/users" \
            -H 'Content-Type: application/json' --data-binary "$BODY" >"${TMPDIR:-/tmp}/orphan.$$.$round.$i" &
        pids+=($!)
    done
    wait "${pids[@]}"
    codes=$(cat "${TMPDIR:-/tmp}/orphan.$$.$round."* | sort | uniq -c | xargs)
    rm -f "${TMPDIR:-/tmp}/orphan.$$.$round."*
    check_eq "round $round: the 4 sign-ups waiting on the lock answer 503" "4 503" "$codes"
    # The server needs a moment to notice a dropped connection.
    sleep 0.5
    check_eq "round $round: no svc-user backend still waits on the lock for them" 0 \
        "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'svc-user' AND wait_event_type = 'Lock'")"
    at_most "round $round"
done

wait "$HOLDER" 2>/dev/null
HOLDER=
api POST /api/users "$BODY"
expect "once the lock holder is gone, the sign-up works" 201 ".user.email == \"$EMAIL\""

finish
