#!/usr/bin/env bash
# Integration: a payment's status reason, and the order a payment's events
# reach svc-order in (docs/API.md "Payments", docs/EVENTS.md). Each section
# was a defect a review found:
#   1. PUT /api/payments/{id}/status counts `reason` in characters: 100
#      characters "é" (200 bytes) are within "reason (≤ 160 characters)".
#   2. A payment.refunded that reaches svc-order before its
#      payment.completed (a requeue, or two svc-order replicas, as
#      EVENTS.md says can happen) waits for it (retried) instead of being
#      dropped on the pending order, after which the late completion made
#      the order `paid` with its only payment `refunded`, and shippable.
#      Made deterministic by taking the two events off svc-order's queue
#      while it is stopped and publishing them again in the reverse order
#      (payment_requeue_live.c); the order ends cancelled.
#
# Needs the stack up (scripts/stack.sh up), curl, jq, psql.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh
: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
: "${AMQP_URL:?no stack environment (scripts/stack.sh up)}"
HTTP_TIMEOUT=15
RUN=$(date +%s%N | tail -c 10)$RANDOM

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TADMIN"
signup "Review pay" "review.pay.$RUN@example.com" review-pay-pass >/dev/null
TA=$(token "review.pay.$RUN@example.com" review-pay-pass)
check "a customer signs up and logs in" test -n "$TA"

order_status() { TOKEN=$TADMIN api GET "/api/orders/$1"; jq -r '.order.status // empty' <<<"$HTTP_BODY"; }
status_is() { [[ $(order_status "$1") == "$2" ]]; }
# cash_order PRICE: a cash order of the customer's with its pending payment
# (made by order.created); prints "ORDER_ID PAYMENT_ID".
cash_order() {
    TOKEN=$TA api POST /api/orders "{\"items\":[{\"product\":\"Review pay\",\"quantity\":1,\"price\":$1}]}"
    local o
    o=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
    [[ -n $o ]] && wait_until 10 has_payment "$o" && printf '%s %s\n' "$o" "$(payment_of "$o")"
}

# ---- 1. a payment's reason is counted in characters -------------------------------------------
read -r O1 P1 <<<"$(cash_order 2)"
check "a cash order with its pending payment" test -n "${P1:-}"
REASON=$(printf 'é%.0s' $(seq 100))   # 100 characters, 200 bytes
TOKEN=$TADMIN api PUT "/api/payments/$P1/status" "$(jq -nc --arg r "$REASON" '{status:"failed",reason:$r}')"
expect "1. a reason of 100 characters (200 bytes of UTF-8) is within 160 characters -> 200" 200 \
    ".payment.status == \"failed\" and .payment.failure_reason == \"$REASON\""
TOKEN=$TADMIN api PUT "/api/payments/$P1/status" "$(jq -nc --arg r "$(printf 'é%.0s' $(seq 161))" '{status:"failed",reason:$r}')"
expect "1. ... and 161 characters is still too long -> 400 naming reason" 400 \
    '.code == "INVALID_ARGUMENT" and .details[0].field == "reason"'

# ---- 2. a refund delivered before its completion --------------------------------------------
live_build payment_requeue_live || { finish; exit 1; }
read -r O2 P2 <<<"$(cash_order 3)"
check "2. a cash order with its pending payment" test -n "${P2:-}"
stack stop-svc svc-order >/dev/null 2>&1
TOKEN=$TADMIN api PUT "/api/payments/$P2/status" '{"status":"completed"}'
expect "2. an admin completes the payment" 200 '.payment.status == "completed"'
TOKEN=$TADMIN api POST "/api/payments/$P2/refund"
expect "2. ... and refunds it" 200 '.payment.status == "refunded"'
published() { [[ $(pg_pay "SELECT count(*) FROM outbox WHERE correlation_id = '$O2' AND published_at IS NOT NULL") == 2 ]]; }
check "2. payment.completed and payment.refunded are on the broker" wait_until 15 published
out=$(AMQP_URL=$AMQP_URL "$LIVE_BIN" "$O2" 2 2>&1)
check "2. the two events taken off svc-order's queue and published again, refund first" \
    grep -q 'payment_requeue_live: [0-9]* passed, 0 failed' <<<"$out"
stack start-svc svc-order >/dev/null 2>&1
check "2. svc-order is back" wait_until 30 curl -fsS -o /dev/null "http://127.0.0.1:$ORDER_ADMIN_PORT/health"
wait_until 20 status_is "$O2" cancelled
TOKEN=$TADMIN api GET "/api/orders/$O2"
expect "2. the order whose only payment was refunded ends cancelled (not paid)" 200 \
    '.order.status == "cancelled" and [.order.history[].status] == ["pending","paid","cancelled"]'
TOKEN=$TADMIN api PUT "/api/orders/$O2/status" '{"status":"shipped"}'
expect "2. ... and it cannot be shipped" 409 '.code == "FAILED_PRECONDITION"'

finish
