#!/usr/bin/env bash
# Integration: svc-payment publishes its events while the recovery sweep
# waits on a slow processor (svc-payment/payment_events.c).
# The sweep settles card payments one at a time, each through a processor
# call; before, it ran on the outbox relay's thread, so every event written
# meanwhile (any payment's completion, refund, failure) waited until the
# processor had answered for every payment of the sweep: with four calls of
# 4 s, 16 s.
# The processor is the built-in simulator, restarted here with
# PAYMENT_SIM_SLOW_MS=4000: a charge of a "tok_slow" token answers after 4 s
# (under the sweep's 5 s per call, so each call completes). Four payments of
# cash orders are made, by hand, card payments never charged; the sweep
# picks them up; while it waits on the first, another payment is completed
# by an admin, and its order must be paid within 3 s.
#
# Needs the stack up (scripts/stack.sh up) with the event bus, and curl, jq,
# psql; restarts svc-payment (twice) and leaves it with its usual settings.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
ready() { [[ $(http_status "$GATEWAY_URL/ready") == 200 ]]; }
SLOW=()   # the payments made slow, so that the end can settle what is left

restore() {
    # Nothing slow left for a later sweep (another script's): settle them as
    # the charge would.
    if ((${#SLOW[@]})); then
        local ids
        ids=$(IFS=,; printf '%s' "${SLOW[*]}")
        pg_pay "UPDATE payments SET payment_method = 'cash', payment_token = '', charge_started_at = NULL WHERE id IN ($ids) AND status = 'pending'" >/dev/null
    fi
    stack stop-svc svc-payment >/dev/null 2>&1
    stack start-svc svc-payment >/dev/null 2>&1
}
trap restore EXIT

stack stop-svc svc-payment >/dev/null 2>&1
PAYMENT_SIM_SLOW_MS=4000 stack start-svc svc-payment >/dev/null 2>&1
check "svc-payment restarted with a slow processor (tok_slow: 4 s)" wait_until 30 ready

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TADMIN"

# cash_order: a cash order of 5 (its payment waits for an admin); prints its id.
cash_order() {
    TOKEN=$TADMIN api POST /api/orders '{"items":[{"product":"Slow sweep test","quantity":1,"price":5}],"payment_method":"cash"}'
    jq -r '.order._id // empty' <<<"$HTTP_BODY"
}
paid() {
    TOKEN=$TADMIN api GET "/api/orders/$1"
    [[ $(jq -r .order.status <<<"$HTTP_BODY") == paid ]]
}

SLOW_ORDERS=()
for _ in 1 2 3 4; do
    o=$(cash_order)
    wait_until 10 has_payment "$o" && SLOW+=("$(payment_of "$o")") && SLOW_ORDERS+=("$o")
done
check_eq "four orders with a payment each" 4 "${#SLOW[@]}"
LATER=$(cash_order)
check "and one more, to be completed by an admin" wait_until 10 has_payment "$LATER"
LATER_PAY=$(payment_of "$LATER")

IDS=$(IFS=,; printf '%s' "${SLOW[*]}")
# as a card payment that a dead process created a minute ago and never charged
out=$(pg_pay "UPDATE payments SET payment_method = 'credit_card', payment_token = 'tok_slow', created_at = now() - interval '1 minute' WHERE id IN ($IDS) AND status = 'pending' AND charge_started_at IS NULL RETURNING id" | wc -l)
check_eq "the four are card payments never charged (tok_slow)" 4 "$out"
charging() { [[ $(pg_pay "SELECT count(*) FROM payments WHERE id IN ($IDS) AND charge_started_at IS NOT NULL") -ge 1 ]]; }
check "the sweep charges the first of them (within 5 s)" wait_until 5 charging

TOKEN=$TADMIN api PUT "/api/payments/$LATER_PAY/status" '{"status":"completed"}'
expect "meanwhile an admin completes another payment" 200 '.payment.status == "completed"'
check "its payment.completed goes out while the processor is slow: the order is paid within 3 s" \
    wait_until 3 paid "$LATER"
check_eq "(the sweep was still waiting on the processor then)" yes \
    "$( [[ $(pg_pay "SELECT count(*) FROM payments WHERE id IN ($IDS) AND status = 'completed'") -lt 4 ]] && echo yes)"

all_charged() { [[ $(pg_pay "SELECT count(*) FROM payments WHERE id IN ($IDS) AND status = 'completed'") == 4 ]]; }
check "the sweep charges all four, 4 s each" wait_until 40 all_charged
for o in "${SLOW_ORDERS[@]}"; do
    check "their order $o is paid" wait_until 10 paid "$o"
done

trap - EXIT
restore
check "svc-payment back with its usual settings" wait_until 30 ready
finish
