#!/usr/bin/env bash
# Integration: a payment whose processor lookup never answers in time does
# not keep the recovery sweep from the payments after it
# (svc-payment/payment_events.c, pay_sweep).
# The sweep takes the payments that need it in id order and ends its pass at
# the first SettlePayment that times out (each further call would hold one
# more RPC worker on the same processor). Before, a payment whose lookup
# always timed out stayed first in line: every pass ended at it, and the
# payments after it were never swept. Now a call that fails or times out
# pushes its payment back (sweep_next_at, doubling from 5 s up to 60 s), so
# the others get their turn, and it is still asked again later.
# The processor is the built-in simulator, restarted here with
# PAYMENT_SIM_SLOW_MS=7000: a lookup of a "tok_slow" token answers after 7 s,
# past the sweep's 5 s per call, so it always times out (the worker's late
# answer cannot be recorded either: its statements are past the RPC's
# deadline). Two cash payments are turned, by hand, into card payments
# needing the sweep: the first (lower id) a charge abandoned 2 minutes ago
# with a tok_slow token (a lookup), the second a charge never attempted with
# an ordinary token. The second must be charged and completed; the first
# must be looked up again later, and be settled once the processor answers.
#
# Needs the stack up (scripts/stack.sh up) with the event bus, and curl, jq,
# psql; restarts svc-payment (twice) and leaves it with its usual settings.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
RUN=$(date +%s%N | tail -c 10)$RANDOM
ready() { [[ $(http_status "$GATEWAY_URL/ready") == 200 ]]; }
metrics_up() { [[ $(http_status "http://127.0.0.1:$PAYMENT_ADMIN_PORT/metrics") == 200 ]]; }
STUCK= NEXT=

restore() {
    # Nothing stuck left for a later script's sweep: settle them as a cash
    # payment waiting for an admin.
    local id
    for id in $STUCK $NEXT; do
        pg_pay_admin "UPDATE payments SET payment_method = 'cash', payment_token = '', charge_started_at = NULL WHERE id = $id AND status = 'pending'" >/dev/null
    done
    stack stop-svc svc-payment >/dev/null 2>&1
    stack start-svc svc-payment >/dev/null 2>&1
}
trap restore EXIT

check "no other card payment is pending (the sweep's calls are this script's)" wait_until 20 no_card_pending

stack stop-svc svc-payment >/dev/null 2>&1
PAYMENT_SIM_SLOW_MS=7000 stack start-svc svc-payment >/dev/null 2>&1
check "svc-payment restarted with a slow processor (tok_slow: 7 s, past the sweep's 5 s)" wait_until 30 ready
check "... and its /metrics answers" wait_until 10 metrics_up

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TADMIN"

# cash_order: a cash order (its payment waits for an admin); prints its id.
cash_order() {
    TOKEN=$TADMIN api POST /api/orders '{"items":[{"product":"Stuck sweep test","quantity":1,"price":6.5}],"payment_method":"cash"}'
    jq -r '.order._id // empty' <<<"$HTTP_BODY"
}
status_of() { pg_pay_admin "SELECT status FROM payments WHERE id = $1"; }
status_is() { [[ $(status_of "$1") == "$2" ]]; }
order_is() {
    TOKEN=$TADMIN api GET "/api/orders/$1"
    [[ $(jq -r .order.status <<<"$HTTP_BODY") == "$2" ]]
}

O1=$(cash_order)
check "a first order with its payment" wait_until 10 has_payment "$O1"
STUCK=$(payment_of "$O1")
O2=$(cash_order)
check "a second order with its payment" wait_until 10 has_payment "$O2"
NEXT=$(payment_of "$O2")
check "the first payment comes first in id order" test "${STUCK:-0}" -lt "${NEXT:-0}"

lookups=$(processor_calls lookup) charges=$(processor_calls charge)
# One transaction, so the sweep sees both at once: the stuck one first.
out=$(pg_pay_admin "UPDATE payments SET payment_method = 'credit_card', payment_token = CASE id WHEN $STUCK THEN 'tok_slow_stuck_$RUN' ELSE 'tok_visa_next_$RUN' END, charge_started_at = CASE id WHEN $STUCK THEN now() - interval '2 minutes' END, created_at = now() - interval '2 minutes' WHERE id IN ($STUCK, $NEXT) AND status = 'pending' RETURNING id" | wc -l)
check_eq "two card payments needing the sweep: a slow lookup first, a charge never made second" 2 "$out"

looked_up() { (($(processor_calls lookup) > lookups)); }
check "the sweep looks the first one up (it times out after 5 s)" wait_until 10 looked_up
check "the second one is still charged by the sweep: completed (before: never, every pass ended at the first)" \
    wait_until 25 status_is "$NEXT" completed
check_eq "... by one charge" 1 "$(processor_calls_since charge "$charges")"
check "its order becomes paid" wait_until 10 order_is "$O2" paid
check_eq "the first is still pending (its lookup never answers in time)" pending "$(status_of "$STUCK")"
looked_again() { (($(processor_calls lookup) >= lookups + 2)); }
check "the first is still looked up again later" wait_until 30 looked_again
check_eq "... and never charged (the one charge is the second's)" 1 "$(processor_calls_since charge "$charges")"

# The processor answers again: the first payment is settled in its turn (a
# lookup that finds no charge, then a charge under the same reference).
stack stop-svc svc-payment >/dev/null 2>&1
stack start-svc svc-payment >/dev/null 2>&1
check "svc-payment restarted with its usual settings" wait_until 30 ready
check "once the processor answers in time, the first is settled too: completed" wait_until 75 status_is "$STUCK" completed
check "its order becomes paid" wait_until 10 order_is "$O1" paid

trap - EXIT
STUCK= NEXT=
finish
