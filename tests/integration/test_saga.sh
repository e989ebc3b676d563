#!/usr/bin/env bash
# Integration: the order–payment saga end to end (../API.md "Events";
# docs/EVENTS.md). Through the public API only:
#   - a card order is paid, with its payment_id, by the events alone;
#   - a declined token ends in payment_failed with the reason;
#   - a cash order waits (pending) until an admin completes its payment;
#   - cancelling a paid order refunds its payment, with a ledger entry for
#     each step and the refund noted in the order's history;
#   - every order whose payment is refunded shows it (refunded_at), whether
#     the refund cancelled it, found it cancelled or found it delivered;
#   - an admin ships and delivers a paid order;
#   - every service's /status reports an empty dead-letter queue.
# The time a card order takes to become paid is printed, not asserted
# (timings belong to make bench); waits are bounded so a broken saga fails.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
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

# shows_refund ID: svc-order has applied the order's payment.refunded.
shows_refund() { [[ $(order_field "$1" .order.refunded_at) != null ]]; }

new_order() { # METHOD [TOKEN] -> order id (cash takes no token)
    TOKEN=$CUST api POST /api/orders \
        "{\"items\":[{\"product\":\"Saga test\",\"quantity\":2,\"price\":19.99}],\"payment_method\":\"$1\"${2:+,\"payment_token\":\"$2\"}}"
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
TOKEN=$CUST api GET "/api/orders/$DECL"
expect "a payment_failed order has no payment_id: none settled it" 200 '.order.payment_id == null'
# another declined attempt by hand: its payment.failed changes no status,
# so the order's history (status changes only) does not grow
TOKEN=$CUST api POST /api/payments \
    "{\"order_id\":\"$DECL\",\"amount\":39.98,\"payment_method\":\"credit_card\",\"payment_token\":\"tok_decline_again\"}"
expect "a second attempt by hand is declined too" 201 '.payment.status == "failed"'
sleep 1   # its payment.failed reaches svc-order
TOKEN=$CUST api GET "/api/orders/$DECL"
check_json "the history still lists only status changes" "$HTTP_BODY" \
    '[.order.history[].status] == ["pending","payment_failed"]'

# ---- a cash order waits for an admin ------------------------------------------------

CASH=$(new_order cash)
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
check "its payment.refunded reaches svc-order: the order shows refunded_at" wait_until "$WAIT" shows_refund "$CARD"
TOKEN=$CUST api GET "/api/orders/$CARD"
check_json "the refund of a cancelled order changes no status: no history entry" "$HTTP_BODY" \
    '[.order.history[].status] == ["pending","paid","cancelled"] and .order.refunded_at != null'

# ---- an admin's refund of a paid order cancels it ------------------------------------

REF=$(new_order credit_card tok_ok)
if wait_status "$REF" paid >/dev/null; then
    REF_PAY=$(order_field "$REF" .order.payment_id)
    TOKEN=$ADMIN api POST "/api/payments/$REF_PAY/refund"
    expect "admin refunds the payment of a paid order" 200 '.payment.status == "refunded"'
    if wait_status "$REF" cancelled >/dev/null; then
        pass "the refunded order becomes cancelled: it must not ship"
    else
        fail "the refunded order becomes cancelled: it must not ship" "still $(order_field "$REF" .order.status)"
    fi
    TOKEN=$CUST api GET "/api/orders/$REF"
    check_json "its last history entry says why, and it shows the refund's time" "$HTTP_BODY" \
        '[.order.history[].status] == ["pending","paid","cancelled"] and .order.history[2].reason == "payment refunded"
         and .order.refunded_at != null'
    TOKEN=$ADMIN api PUT "/api/orders/$REF/status" '{"status":"shipped"}'
    expect "shipping it is refused" 409 "$(err FAILED_PRECONDITION)"
else
    fail "credit order becomes paid" "still $(order_field "$REF" .order.status)"
fi

# ---- an admin ships and delivers a paid order ------------------------------------------

SHIP=$(new_order debit_card tok_ok)
if wait_status "$SHIP" paid >/dev/null; then
    TOKEN=$ADMIN api PUT "/api/orders/$SHIP/status" '{"status":"shipped"}'
    expect "admin ships the paid order" 200 '.order.status == "shipped"'
    TOKEN=$ADMIN api PUT "/api/orders/$SHIP/status" '{"status":"delivered"}'
    expect "admin delivers it" 200 '.order.status == "delivered"'
    TOKEN=$ADMIN api POST "/api/payments/$(order_field "$SHIP" .order.payment_id)/refund"
    expect "admin refunds a delivered order's payment" 200 '.payment.status == "refunded"'
    check "its payment.refunded reaches svc-order" wait_until "$WAIT" shows_refund "$SHIP"
    TOKEN=$CUST api GET "/api/orders/$SHIP"
    check_json "a delivered order keeps its status after a refund (its goods have left) and shows the refund" \
        "$HTTP_BODY" '.order.status == "delivered" and [.order.history[].status] == ["pending","paid","shipped","delivered"]
                      and .order.refunded_at != null'
else
    fail "debit order becomes paid" "still $(order_field "$SHIP" .order.status)"
fi

# ---- nothing was dead-lettered --------------------------------------------------------

for port in "$ORDER_ADMIN_PORT" "$PAYMENT_ADMIN_PORT"; do
    st=$(curl -s --max-time 5 "http://127.0.0.1:$port/status")
    check_json "service on :$port reports an empty dead-letter queue" "$st" '.dead_letters == 0'
done

finish
