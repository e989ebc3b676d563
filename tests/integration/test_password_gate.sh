#!/usr/bin/env bash
# svc-user's password gate (PASSWORD_HASH_CONCURRENCY, svc-user/user_password.c):
# concurrent sign-ups queue at the gate instead of being refused or lost, with
# the default of 2 places and with a single place, and nothing is refused at
# such loads (comanda_password_hash_refused_total stays 0). The gate's refusal
# after half a deadline is covered by tests/unit/svc-user/test_user_password.c:
# through the gateway a call reaches it only when the hashes run far slower
# than here. Restores svc-user with its usual settings at the end.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUN=$$-$RANDOM
# A loopback address of its own: the sign-ups are anonymous, so they share
# the per-address rate limit with nothing else that ran before.
FROM=127.0.0.9

# N sign-ups at once; prints their statuses, one per line, sorted.
signups() {
    local n=$1 tag=$2 i
    for ((i = 0; i < n; i++)); do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 15 --interface "$FROM" \
            -H 'Content-Type: application/json' -H "Idempotency-Key: gate-$RUN-$tag-$i" \
            -d "{\"name\":\"Gate $i\",\"email\":\"gate-$RUN-$tag-$i@example.com\",\"password\":\"gate-password-$i\"}" \
            "$GATEWAY_URL/api/users" &
    done
    wait
}

# refused: svc-user's comanda_password_hash_refused_total; "unread" when its
# /metrics does not answer with it (registered at 0 on start, so never
# absent): a failed read is not "none refused".
refused() {
    http GET "http://127.0.0.1:$USER_ADMIN_PORT/metrics"
    local v
    v=$(printf '%s\n' "$HTTP_BODY" | awk '$1 == "comanda_password_hash_refused_total" {print $2}')
    echo "${v:-unread}"
}

ready() { [[ $(http_status "$GATEWAY_URL/ready") == 200 ]]; }

out=$(signups 16 two | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')
check_eq "16 concurrent sign-ups through 2 places: all 201" "201x16 " "$out"
check_eq "none refused at the gate" 0 "$(refused)"

trap 'stack stop-svc svc-user >/dev/null 2>&1; stack start-svc svc-user >/dev/null 2>&1' EXIT
stack stop-svc svc-user >/dev/null 2>&1
PASSWORD_HASH_CONCURRENCY=1 stack start-svc svc-user >/dev/null 2>&1
check "svc-user back with one place at the gate" wait_until 30 ready
out=$(signups 16 one | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')
check_eq "16 concurrent sign-ups through 1 place: all 201" "201x16 " "$out"
check_eq "none refused at the gate with one place" 0 "$(refused)"
TOKEN=$(token "gate-$RUN-one-15@example.com" gate-password-15)
check "the last of them logs in" test -n "$TOKEN"

trap - EXIT
stack stop-svc svc-user >/dev/null 2>&1
stack start-svc svc-user >/dev/null 2>&1
check "svc-user back with its usual settings" wait_until 30 ready
finish
