#!/usr/bin/env bash
# Integration: an order cancelled while its payment's charge was abandoned
# (marked, never made: the process died between its mark and its call) is
# not charged by the recovery sweep. order.cancelled found the charge
# "in flight" and left the payment to its outcome; when the sweep's lookup
# then finds that the processor never had the charge, the order is known
# cancelled (cancelled_orders), so the payment fails ("order cancelled")
# instead of charging the customer's card for an order already cancelled,
# to be refunded later through svc-order's answer to payment.completed.
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

check "no other card payment is pending (the sweep's calls are this script's)" wait_until 20 no_card_pending

TOKEN=$TADMIN api POST /api/orders '{"items":[{"product":"Cancelled lookup test","quantity":1,"price":9.5}],"payment_method":"cash"}'
order=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
check "an order" test -n "$order"
has_payment() { [[ -n $(pg_pay_admin "SELECT id FROM payments WHERE order_id = '$order'") ]]; }
check "its payment" wait_until 10 has_payment
pay=$(pg_pay_admin "SELECT id FROM payments WHERE order_id = '$order' ORDER BY id LIMIT 1")
tok="tok_visa_cancelled_$RUN"
# marked 50 s ago: the charge "may be in flight", so the sweep leaves it for now
check_eq "a card payment whose charge was marked 50 s ago, never made" "$pay" \
    "$(pg_pay_admin "UPDATE payments SET payment_method = 'credit_card', payment_token = '$tok', charge_started_at = now() - interval '50 seconds', created_at = now() - interval '2 minutes' WHERE id = $pay AND status = 'pending' RETURNING id")"
charges=$(processor_calls charge) lookups=$(processor_calls lookup) refunds=$(processor_calls refund)
TOKEN=$TADMIN api PUT "/api/orders/$order/status" '{"status":"cancelled"}'
expect "the order is cancelled" 200 '.order.status == "cancelled"'
tomb() { [[ -n $(pg_pay_admin "SELECT 1 FROM cancelled_orders WHERE order_id = '$order'") ]]; }
check "svc-payment has its order.cancelled" wait_until 10 tomb
check_eq "the payment is left to its charge's outcome (pending)" pending \
    "$(pg_pay_admin "SELECT status FROM payments WHERE id = $pay")"
check_eq "its charge mark made 2 minutes old (abandoned)" "$pay" \
    "$(pg_pay_admin "UPDATE payments SET charge_started_at = now() - interval '2 minutes' WHERE id = $pay RETURNING id")"
settled() { [[ $(pg_pay_admin "SELECT status FROM payments WHERE id = $pay") != pending ]]; }
check "the sweep settles it" wait_until 15 settled
sleep 3 # a refund, if it was charged, has had the time to come
check_eq "no card of a cancelled order is charged (charge calls)" 0 $(($(processor_calls charge) - charges))
check_eq "... and nothing to refund (refund calls)" 0 $(($(processor_calls refund) - refunds))
check_eq "the payment failed: order cancelled" "failed|order cancelled" \
    "$(pg_pay_admin "SELECT status || '|' || coalesce(failure_reason, '') FROM payments WHERE id = $pay")"
TOKEN=$TADMIN api GET "/api/orders/$order"
check_json "the order stays cancelled" "$HTTP_BODY" '.order.status == "cancelled"'
finish
