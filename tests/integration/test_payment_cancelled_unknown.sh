#!/usr/bin/env bash
# Integration: the recovery sweep charges no card of an order svc-payment
# knows cancelled (cancelled_orders); the payment fails ("order cancelled")
# instead of charging the customer's card for an order already cancelled,
# to be refunded later through svc-order's answer to payment.completed.
# 1. The charge was abandoned (marked, never made: the process died between
#    its mark and its call). order.cancelled found the charge "in flight"
#    and left the payment to its outcome; the sweep's lookup then finds that
#    the processor never had the charge.
# 2. The charge was never attempted (svc-payment died between the payment's
#    insert and its charge), and svc-payment died again after recording its
#    order's order.cancelled and before failing the payment. When it is back
#    the sweep, which needs no broker, meets the payment before the
#    redelivered order.cancelled does (here made certain by holding the
#    order's lock, which that event's handler takes). Before, the sweep
#    charged it: the customer's card was charged, then refunded.
#
# Needs the stack up (scripts/stack.sh up) with the event bus, and curl, jq,
# psql; stops and starts svc-payment, and leaves it running.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
RUN=$(date +%s%N | tail -c 10)$RANDOM
HOLDER=
cleanup() {
    [[ -n $HOLDER ]] && kill "$HOLDER" 2>/dev/null
    stack start-svc svc-payment >/dev/null 2>&1
}
trap cleanup EXIT

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TADMIN"

check "no other card payment is pending (the sweep's calls are this script's)" wait_until 20 no_card_pending

TOKEN=$TADMIN api POST /api/orders '{"items":[{"product":"Cancelled lookup test","quantity":1,"price":9.5}],"payment_method":"cash"}'
order=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
check "an order" test -n "$order"
check "its payment" wait_until 10 has_payment "$order"
pay=$(payment_of "$order")
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
check_eq "no card of a cancelled order is charged (charge calls)" 0 "$(processor_calls_since charge "$charges")"
check_eq "... and nothing to refund (refund calls)" 0 "$(processor_calls_since refund "$refunds")"
check_eq "the payment failed: order cancelled" "failed|order cancelled" \
    "$(pg_pay_admin "SELECT status || '|' || coalesce(failure_reason, '') FROM payments WHERE id = $pay")"
TOKEN=$TADMIN api GET "/api/orders/$order"
check_json "the order stays cancelled" "$HTTP_BODY" '.order.status == "cancelled"'

# ---- 2. a charge never attempted, its order cancelled meanwhile -------------------------------
check "[2] no other card payment is pending" wait_until 20 no_card_pending
TOKEN=$TADMIN api POST /api/orders '{"items":[{"product":"Cancelled first charge test","quantity":1,"price":8.5}],"payment_method":"cash"}'
order2=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
check "[2] an order" test -n "$order2"
check "[2] its payment" wait_until 10 has_payment "$order2"
pay2=$(payment_of "$order2")
stack stop-svc svc-payment >/dev/null 2>&1
TOKEN=$TADMIN api PUT "/api/orders/$order2/status" '{"status":"cancelled"}'
expect "[2] the order is cancelled while svc-payment is down" 200 '.order.status == "cancelled"'
tok2="tok_visa_never_$RUN"
check_eq "[2] a card payment whose charge was never attempted, 2 minutes old" "$pay2" \
    "$(pg_pay_admin "UPDATE payments SET payment_method = 'credit_card', payment_token = '$tok2', charge_started_at = NULL, created_at = now() - interval '2 minutes' WHERE id = $pay2 AND status = 'pending' RETURNING id")"
check "[2] its order.cancelled recorded, as svc-payment does first (then it died)" \
    pg_pay_admin "INSERT INTO cancelled_orders (order_id) VALUES ('$order2')"
# the redelivered order.cancelled waits for the order's lock meanwhile
pg_pay_admin "SELECT pg_advisory_lock(hashtextextended('$order2', 0)), pg_sleep(12)" >/dev/null &
HOLDER=$!
held() { [[ $(pg_pay_admin "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") -ge 1 ]]; }
check "[2] the order's lock is held" wait_until 5 held
stack start-svc svc-payment >/dev/null 2>&1
check "[2] svc-payment is back" wait_until 30 curl -fsS -o /dev/null "http://127.0.0.1:$PAYMENT_ADMIN_PORT/health"
settled2() { [[ $(pg_pay_admin "SELECT status FROM payments WHERE id = $pay2") != pending ]]; }
check "[2] the sweep settles it (before its order.cancelled can)" wait_until 8 settled2
check_eq "[2] no card of a cancelled order is charged (the processor has no charge of it)" 0 \
    "$(pg_pay_admin "SELECT count(*) FROM processor_sim_charges WHERE reference = (SELECT transaction_id FROM payments WHERE id = $pay2)")"
check_eq "[2] the payment failed: order cancelled" "failed|order cancelled" \
    "$(pg_pay_admin "SELECT status || '|' || coalesce(failure_reason, '') FROM payments WHERE id = $pay2")"
wait "$HOLDER" 2>/dev/null
HOLDER=
handled() { [[ $(curl -s --max-time 5 "http://127.0.0.1:$PAYMENT_ADMIN_PORT/metrics" |
    awk '$1 ~ /^comanda_events_consumed_total\{type="order.cancelled",outcome="ack"\}/ { print $2 }') -ge 1 ]]; }
check "[2] then its order.cancelled is handled (acknowledged)" wait_until 20 handled
sleep 2 # a refund, had it been charged, has had the time to come
check_eq "[2] the payment stays failed" failed "$(pg_pay_admin "SELECT status FROM payments WHERE id = $pay2")"
TOKEN=$TADMIN api GET "/api/orders/$order2"
check_json "[2] the order stays cancelled" "$HTTP_BODY" '.order.status == "cancelled"'
finish
