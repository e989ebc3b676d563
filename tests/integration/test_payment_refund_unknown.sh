#!/usr/bin/env bash
# Integration: a refund of a card payment the processor never charged is
# refused, and the payment is not marked refunded
# (svc-payment/payment_processor.c, payment_sim_refund; payment_service.c,
# pay_do_refund).
# Like a processor ("no such charge"), the simulator refunds only a
# reference it charged and approved. Before, it approved every refund, so a
# completed card payment whose money never went through the processor (an
# admin completed it by hand, with no charge made) was marked `refunded`
# with its payment.refunded: money recorded as given back that was never
# taken. Now svc-payment answers 409 FAILED_PRECONDITION, reason
# NO_PROCESSOR_CHARGE; the payment stays `completed` (docs/API.md, refunds),
# its refund mark is released (nothing is left for the sweep) and its order
# stays paid. A card payment the processor did charge is refunded as before.
#
# Needs the stack up (scripts/stack.sh up) with the event bus, and curl, jq, psql.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
RUN=$(date +%s%N | tail -c 10)$RANDOM

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TADMIN"

status_of() { pg_pay_admin "SELECT status FROM payments WHERE id = $1"; }
status_is() { [[ $(status_of "$1") == "$2" ]]; }
order_is() {
    TOKEN=$TADMIN api GET "/api/orders/$1"
    [[ $(jq -r .order.status <<<"$HTTP_BODY") == "$2" ]]
}
sim_charges() {
    pg_pay_admin "SELECT count(*) FROM processor_sim_charges WHERE reference = (SELECT transaction_id FROM payments WHERE id = $1)"
}

# ---- a card payment the processor never charged ------------------------------------------------
TOKEN=$TADMIN api POST /api/orders '{"items":[{"product":"Refund unknown test","quantity":1,"price":4.75}],"payment_method":"cash"}'
ORDER=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
check "an order" test -n "$ORDER"
check "its payment" wait_until 10 has_payment "$ORDER"
PAY=$(payment_of "$ORDER")
TOKEN=$TADMIN api PUT "/api/payments/$PAY/status" '{"status":"completed"}'
expect "an admin completes it by hand" 200 '.payment.status == "completed"'
check "its order becomes paid" wait_until 10 order_is "$ORDER" paid
# as a card payment that an admin completed by hand, no charge ever made
check_eq "made a card payment (its token never charged)" "$PAY" \
    "$(pg_pay_admin "UPDATE payments SET payment_method = 'credit_card', payment_token = 'tok_visa_norefund_$RUN' WHERE id = $PAY AND status = 'completed' RETURNING id")"
check_eq "the processor has no charge of its reference" 0 "$(sim_charges "$PAY")"

refunds=$(processor_calls refund)
TOKEN=$TADMIN api POST "/api/payments/$PAY/refund" '' -H "X-Request-Id: refund-unknown-$RUN"
expect "its refund is refused: 409 NO_PROCESSOR_CHARGE (before: 200 refunded)" 409 \
    "$(err FAILED_PRECONDITION) and .reason == \"NO_PROCESSOR_CHARGE\""
check_eq "the processor was asked, once" 1 "$(processor_calls_since refund "$refunds")"
check_left_completed "$PAY" "$ORDER"
sleep 3 # a sweep or two later
check_eq "the sweep asks for no refund of it" 1 "$(processor_calls_since refund "$refunds")"
check_eq "still completed" completed "$(status_of "$PAY")"
check "its order stays paid" order_is "$ORDER" paid
TOKEN=$TADMIN api POST "/api/payments/$PAY/refund"
expect "asked again: refused again" 409 "$(err FAILED_PRECONDITION) and .reason == \"NO_PROCESSOR_CHARGE\""
check_eq "still completed" completed "$(status_of "$PAY")"
# leave nothing that a later script's totals or sweeps would trip on
pg_pay_admin "UPDATE payments SET payment_method = 'cash', payment_token = '' WHERE id = $PAY" >/dev/null

# ---- a card payment the processor charged is refunded as before -------------------------------
TOKEN=$TADMIN api POST /api/orders "{\"items\":[{\"product\":\"Refund known test\",\"quantity\":1,\"price\":4.25}],\"payment_method\":\"credit_card\",\"payment_token\":\"tok_visa_refund_$RUN\"}"
ORDER2=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
check "a card order" test -n "$ORDER2"
check "its payment" wait_until 10 has_payment "$ORDER2"
PAY2=$(payment_of "$ORDER2")
check "charged at the processor: completed" wait_until 10 status_is "$PAY2" completed
check_eq "the processor has its charge" 1 "$(sim_charges "$PAY2")"
check "its order becomes paid" wait_until 10 order_is "$ORDER2" paid
refunds=$(processor_calls refund)
TOKEN=$TADMIN api POST "/api/payments/$PAY2/refund"
expect "its refund -> 200 refunded" 200 '.payment.status == "refunded"'
check_eq "one processor refund" 1 "$(processor_calls_since refund "$refunds")"
check "its order is cancelled (payment refunded)" wait_until 10 order_is "$ORDER2" cancelled
finish
