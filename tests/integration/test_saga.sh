#!/usr/bin/env bash
# Integration: the order–payment saga end to end (../API.md "Events";
# docs/EVENTS.md). Through the public API only:
#   - a card order is paid, with its payment_id, by the events alone;
#   - a declined token ends in payment_failed with the reason;
#   - a cash order waits (pending) until an admin completes its payment;
#   - cancelling a paid order refunds its payment, with a ledger entry for
#     each step and the refund noted in the order's history;
#   - an admin ships and delivers a paid order;
#   - every service's /status reports an empty dead-letter queue.
# The time a card order takes to become paid is printed, not asserted
# (timings belong to make bench); waits are bounded so a broken saga fails.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
ADMIN_EMAIL=${ADMIN_EMAIL:-admin@comanda.local}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-admin-change-me}
WAIT=${SAGA_WAIT_SECONDS:-20}

HTTP_TIMEOUT=15
RUN=$(date +%s%N | tail -c 10)$RANDOM

# order_field ID JQ_FILTER: a field of the order as its owner (CUST) sees it.
order_field() { TOKEN=$CUST api GET "/api/orders/$1"; jq -r "$2" <<<"$HTTP_BODY"; }

# wait_status ID STATUS: waits up to WAIT seconds; prints the seconds taken.
wait_status() {
    local id=$1 want=$2 start now
    start=$(date +%s%N)
    while :; do
        [[ $(order_field "$id" .order.status) == "$want" ]] && break
        now=$(date +%s%N)
        (((now - start) / 1000000000 >= WAIT)) && return 1
        sleep 0.05
    done
    now=$(date +%s%N)
    printf '%d.%03d' $(((now - start) / 1000000000)) $((((now - start) / 1000000) % 1000))
}

new_order() { # METHOD TOKEN -> order id
    TOKEN=$CUST api POST /api/orders \
        "{\"items\":[{\"product\":\"Saga test\",\"quantity\":2,\"price\":19.99}],\"payment_method\":\"$1\",\"payment_token\":\"$2\"}"
    jq -r '.order._id // empty' <<<"$HTTP_BODY"
}

# ---- set-up: an admin and a customer ------------------------------------------

ADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$ADMIN"
EMAIL="saga-$RUN@example.com"
api POST /api/users "{\"name\":\"Saga $RUN\",\"email\":\"$EMAIL\",\"password\":\"saga-password-1\"}"
expect "customer signs up" 201
CUST=$(token "$EMAIL" saga-password-1)
check "customer logs in" test -n "$CUST"

# ---- a card order is paid by the events alone -----------------------------------

CARD=$(new_order credit_card tok_visa)
check "card order created" test -n "$CARD"
if took=$(wait_status "$CARD" paid); then
    pass "card order becomes paid (took ${took}s)"
else
    fail "card order becomes paid" "still $(order_field "$CARD" .order.status) after ${WAIT}s"
fi
TOKEN=$CUST api GET "/api/orders/$CARD"
expect "paid order carries its payment_id" 200 '.order.payment_id | type == "number" and . > 0'
check_json "history records the payment" "$HTTP_BODY" '[.order.history[].status] == ["pending","paid"]'
PAY=$(jq -r .order.payment_id <<<"$HTTP_BODY")
TOKEN=$CUST api GET "/api/payments?order_id=$CARD"
expect "exactly one payment, completed, of the order total" 200 \
    '.count == 1 and .payments[0].status == "completed" and .payments[0].amount == 39.98'

# ---- a declined token ends in payment_failed -------------------------------------

DECL=$(new_order credit_card tok_decline_insufficient_funds)
if wait_status "$DECL" payment_failed >/dev/null; then
    pass "declined order becomes payment_failed"
else
    fail "declined order becomes payment_failed" "still $(order_field "$DECL" .order.status)"
fi
TOKEN=$CUST api GET "/api/payments?order_id=$DECL"
expect "its payment failed with the reason" 200 \
    '.count == 1 and .payments[0].status == "failed" and .payments[0].failure_reason == "card declined"'

# ---- a cash order waits for an admin ------------------------------------------------

CASH=$(new_order cash "")
sleep 1.5
check_eq "cash order stays pending" pending "$(order_field "$CASH" .order.status)"
TOKEN=$CUST api GET "/api/payments?order_id=$CASH"
expect "its payment was created and waits" 200 '.count == 1 and .payments[0].status == "pending"'
CASH_PAY=$(jq -r '.payments[0].id' <<<"$HTTP_BODY")
TOKEN=$ADMIN api PUT "/api/payments/$CASH_PAY/status" '{"status":"completed"}'
expect "admin completes the cash payment" 200 '.payment.status == "completed"'
if wait_status "$CASH" paid >/dev/null; then
    pass "cash order becomes paid after the admin"
else
    fail "cash order becomes paid after the admin" "still $(order_field "$CASH" .order.status)"
fi

# ---- cancelling a paid order refunds it ------------------------------------------------

TOKEN=$CUST api PUT "/api/orders/$CARD/status" '{"status":"cancelled"}'
expect "owner cancels the paid order" 200 '.order.status == "cancelled"'
refunded=0
for _ in $(seq 1 $((WAIT * 10))); do
    TOKEN=$ADMIN api GET "/api/payments/$PAY"
    [[ $(jq -r .payment.status <<<"$HTTP_BODY") == refunded ]] && refunded=1 && break
    sleep 0.1
done
check_eq "its payment is refunded" 1 "$refunded"
TOKEN=$ADMIN api GET "/api/payments/$PAY/audit"
expect "the ledger has created, completed, refunded" 200 '[.entries[].action] == ["created","completed","refunded"]'
check_json "the refund names its cause" "$HTTP_BODY" '.entries[2].event_id | type == "string"'
noted=0
for _ in $(seq 1 $((WAIT * 10))); do
    TOKEN=$CUST api GET "/api/orders/$CARD"
    jq -e '[.order.history[].reason] | index("payment refunded")' <<<"$HTTP_BODY" >/dev/null && noted=1 && break
    sleep 0.1
done
check_eq "the order's history notes the refund" 1 "$noted"

# ---- an admin ships and delivers a paid order ------------------------------------------

SHIP=$(new_order debit_card tok_ok)
if wait_status "$SHIP" paid >/dev/null; then
    TOKEN=$ADMIN api PUT "/api/orders/$SHIP/status" '{"status":"shipped"}'
    expect "admin ships the paid order" 200 '.order.status == "shipped"'
    TOKEN=$ADMIN api PUT "/api/orders/$SHIP/status" '{"status":"delivered"}'
    expect "admin delivers it" 200 '.order.status == "delivered"'
else
    fail "debit order becomes paid" "still $(order_field "$SHIP" .order.status)"
fi

# ---- nothing was dead-lettered --------------------------------------------------------

for port in "$ORDER_ADMIN_PORT" "$PAYMENT_ADMIN_PORT"; do
    st=$(curl -s --max-time 5 "http://127.0.0.1:$port/status")
    check_json "service on :$port reports an empty dead-letter queue" "$st" '.dead_letters == 0'
done

finish
