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
#   3. An admin's refund of a shipped order's payment (POST
#      /api/payments/{id}/refund) kept the order shipped, as it must (its
#      goods have left), but left no trace on it: GET /api/orders/stats
#      still counted its money as `received`, which EVENTS.md says money
#      returned must not be. The order now shows `refunded_at` (the refund's
#      time, the payment's `updated_at`), keeps it when delivered, and
#      leaves `received` while `by_status` still counts it by its status.
#      The same payment.refunded published again (its outbox row marked
#      unpublished: a relay that died before marking it) and a copy of it
#      under a new event id change nothing further.
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
expect "2. the order whose only payment was refunded ends cancelled (not paid), marked refunded" 200 \
    '.order.status == "cancelled" and [.order.history[].status] == ["pending","paid","cancelled"] and .order.refunded_at != null'
TOKEN=$TADMIN api PUT "/api/orders/$O2/status" '{"status":"shipped"}'
expect "2. ... and it cannot be shipped" 409 '.code == "FAILED_PRECONDITION"'

# ---- 3. a refund of a shipped order's payment ------------------------------------------------
# A customer of its own, so that its stats are exactly these two orders.
signup "Review refund" "review.refund.$RUN@example.com" review-refund-pass >/dev/null
TR=$(token "review.refund.$RUN@example.com" review-refund-pass)
check "3. a second customer signs up and logs in" test -n "$TR"
TOKEN=$TR api GET /api/users/me
UR=$(jq -r '.user.id // empty' <<<"$HTTP_BODY")
card_order() { # PRICE -> order id
    TOKEN=$TR api POST /api/orders \
        "{\"items\":[{\"product\":\"Review refund\",\"quantity\":1,\"price\":$1}],\"payment_method\":\"credit_card\",\"payment_token\":\"tok_visa\"}"
    jq -r '.order._id // empty' <<<"$HTTP_BODY"
}
O3=$(card_order 5)
O4=$(card_order 7)
check "3. two card orders (5.00 and 7.00 COP) become paid" wait_until 15 eval 'status_is "$O3" paid && status_is "$O4" paid'
TOKEN=$TADMIN api PUT "/api/orders/$O3/status" '{"status":"shipped"}'
expect "3. the admin ships the first" 200 '.order.status == "shipped" and .order.refunded_at == null'
P3=$(jq -r '.order.payment_id' <<<"$HTTP_BODY")
SHIPPED_AT=$(jq -r '.order.updated_at' <<<"$HTTP_BODY")
stats() { TOKEN=$TADMIN api GET "/api/orders/stats?user_id=$UR"; }
stats
expect "3. before the refund both orders' money is received" 200 \
    '.stats.received == [{"currency":"COP","total":12}] and .stats.by_status.shipped == 1 and .stats.by_status.paid == 1'
TOKEN=$TADMIN api POST "/api/payments/$P3/refund"
expect "3. the admin refunds the shipped order's payment" 200 '.payment.status == "refunded"'
REFUNDED_AT=$(jq -r '.payment.updated_at' <<<"$HTTP_BODY")
marked() { TOKEN=$TADMIN api GET "/api/orders/$O3"; jq -e '.order.refunded_at != null' <<<"$HTTP_BODY" >/dev/null; }
check "3. svc-order applies its payment.refunded: the order shows refunded_at" wait_until 15 marked
TOKEN=$TADMIN api GET "/api/orders/$O3"
expect "3. ... the time of the refund; the order stays shipped (updated, no history entry)" 200 \
    ".order.status == \"shipped\" and .order.refunded_at == \"$REFUNDED_AT\" and .order.updated_at > \"$SHIPPED_AT\"
     and [.order.history[].status] == [\"pending\",\"paid\",\"shipped\"]"
TOKEN=$TADMIN api GET "/api/orders/$O4"
expect "3. the other order is not marked" 200 '.order.status == "paid" and .order.refunded_at == null'
stats
expect "3. stats: received no longer counts the refunded order, by_status still does" 200 \
    '.stats.received == [{"currency":"COP","total":7}] and .stats.by_status.shipped == 1 and .stats.by_status.paid == 1 and .stats.orders == 2'
TOKEN=$TR api GET /api/orders/stats
expect "3. ... and the customer's own stats say the same" 200 \
    '.stats.received == [{"currency":"COP","total":7}] and .stats.by_status.shipped == 1'
TOKEN=$TR api GET "/api/orders?status=shipped"
expect "3. the customer's list shows the mark" 200 \
    ".count == 1 and .orders[0]._id == \"$O3\" and .orders[0].refunded_at == \"$REFUNDED_AT\""
TOKEN=$TADMIN api PUT "/api/orders/$O3/status" '{"status":"delivered"}'
expect "3. delivering it keeps the mark" 200 ".order.status == \"delivered\" and .order.refunded_at == \"$REFUNDED_AT\""
stats
expect "3. ... and its money stays out of received" 200 \
    '.stats.received == [{"currency":"COP","total":7}] and .stats.by_status.delivered == 1 and .stats.by_status.shipped == 0'

# The same event again, and a copy under a new id: nothing changes.
TOKEN=$TADMIN api GET "/api/orders/$O3"
BEFORE=$HTTP_BODY
consumed() { # svc-order's count of payment.refunded events it acked
    curl -fsS --max-time 5 "http://127.0.0.1:$ORDER_ADMIN_PORT/metrics" |
        awk '/^comanda_events_consumed_total\{.*type="payment.refunded".*outcome="ack"/ {n += $NF} END {print n + 0}'
}
acked_more() { (($(consumed) >= $1)); }
N0=$(consumed)
EV=$(pg_pay "SELECT event_id FROM outbox WHERE correlation_id = '$O3' AND event_type = 'payment.refunded'")
check "3. the refund's payment.refunded is in svc-payment's outbox" test -n "$EV"
pg_pay "UPDATE outbox SET published_at = NULL WHERE event_id = '$EV'" >/dev/null
check "3. the same payment.refunded, published again, is consumed by svc-order" wait_until 15 acked_more $((N0 + 1))
pg_pay "INSERT INTO outbox (event_id, event_type, correlation_id, payload)
        SELECT gen_random_uuid(), event_type, correlation_id, payload FROM outbox WHERE event_id = '$EV'" >/dev/null
check "3. a copy under a new event id is consumed too" wait_until 15 acked_more $((N0 + 2))
TOKEN=$TADMIN api GET "/api/orders/$O3"
check_json "3. ... and the order is exactly as it was" "$HTTP_BODY" ". == $BEFORE"
stats
expect "3. ... and so are the stats" 200 \
    '.stats.received == [{"currency":"COP","total":7}] and .stats.by_status.delivered == 1 and .stats.orders == 2'

finish
