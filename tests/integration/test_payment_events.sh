#!/usr/bin/env bash
# Integration: svc-payment's event side keeps moving when one payment is
# stuck or the broker is down (docs/EVENTS.md, "What makes it survive
# failures").
# - An order.cancelled whose payment has a charge in flight is acknowledged
#   at once: the charge's outcome decides. Before, the consumer held it
#   (BUS_WAIT) for 20 s per delivery, and every other event of the queue
#   waited behind it for up to a minute.
# - The recovery sweep settles a never-attempted card charge while the
#   broker is down. Before, a failed relay pass skipped the sweep, so
#   nothing was settled for the whole outage.
# - Likewise an order.cancelled that finds its payment's refund in progress
#   (an admin's, or a duplicate event's on another replica): acknowledged,
#   not held (503, BUS_WAIT) nor dead-lettered (409).
#
# Needs the stack up (scripts/stack.sh up) with the event bus, and curl, jq,
# psql; stops and restarts RabbitMQ, and leaves the stack up.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
: "${ORDER_ADMIN_PORT:?no stack environment (scripts/stack.sh up)}"
trap 'stack start-svc rabbitmq >/dev/null 2>&1' EXIT

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TADMIN"

# cash_order: a cash order of 5 (its payment waits for an admin); prints its id.
cash_order() {
    TOKEN=$TADMIN api POST /api/orders '{"items":[{"product":"Events test","quantity":1,"price":5}],"payment_method":"cash"}'
    jq -r '.order._id // empty' <<<"$HTTP_BODY"
}

# ---- a cancellation that meets a charge in flight holds nothing up ------------------------------

HELD=$(cash_order)
check "an order whose payment will look mid-charge" wait_until 10 has_payment "$HELD"
HELD_PAY=$(payment_of "$HELD")
# as pay_charge leaves it while the processor answers: a card payment, claimed now
check_eq "its payment made a card charge in flight" "$HELD_PAY" "$(pg_pay "UPDATE payments SET payment_method = 'credit_card', payment_token = 'tok_visa', charge_started_at = now() WHERE id = $HELD_PAY AND status = 'pending' RETURNING id")"
TOKEN=$TADMIN api PUT "/api/orders/$HELD/status" '{"status":"cancelled"}'
expect "the order is cancelled" 200 '.order.status == "cancelled"'
sleep 0.5   # its order.cancelled is in svc-payment's queue first
NEXT=$(cash_order)
check "the next order's order.created is not held behind it: a payment within 5 s" wait_until 5 has_payment "$NEXT"
check_eq "the payment mid-charge is left to its charge's outcome" "pending" \
    "$(pg_pay "SELECT status FROM payments WHERE id = $HELD_PAY")"
# settle it as the charge would, so nothing waits on this made-up claim
pg_pay "UPDATE payments SET charge_started_at = NULL, payment_method = 'cash', payment_token = '' WHERE id = $HELD_PAY" >/dev/null

# ---- a cancellation that meets a refund in progress holds nothing up either ---------------------

REFD=$(cash_order)
check "an order whose refund will look in progress" wait_until 10 has_payment "$REFD"
REFD_PAY=$(payment_of "$REFD")
TOKEN=$TADMIN api PUT "/api/payments/$REFD_PAY/status" '{"status":"completed"}'
expect "its payment completed by an admin" 200 '.payment.status == "completed"'
paid_now() { TOKEN=$TADMIN api GET "/api/orders/$REFD"; [[ $(jq -r .order.status <<<"$HTTP_BODY") == paid ]]; }
check "the order is paid" wait_until 10 paid_now
# as pay_do_refund leaves it while the processor answers (or after dying:
# the sweep takes the claim over once it is 60 s old)
check_eq "a refund of it in progress" "$REFD_PAY" "$(pg_pay "UPDATE payments SET refund_started_at = now() WHERE id = $REFD_PAY RETURNING id")"
TOKEN=$TADMIN api PUT "/api/orders/$REFD/status" '{"status":"cancelled"}'
expect "the paid order is cancelled" 200 '.order.status == "cancelled"'
sleep 0.5
NEXT=$(cash_order)
check "the next order's order.created is not held behind it: a payment within 5 s" wait_until 5 has_payment "$NEXT"
# The refund the cancellation met is the sweep's once its mark is abandoned.
# Aged here, so that it happens now and not 60 s later in the middle of
# another script (test_payments' totals saw it once).
pg_pay "UPDATE payments SET refund_started_at = now() - interval '2 minutes' WHERE id = $REFD_PAY" >/dev/null
refunded() { [[ $(pg_pay "SELECT status FROM payments WHERE id = $REFD_PAY") == refunded ]]; }
check "once its refund's mark is abandoned, the sweep finishes the refund" wait_until 15 refunded

# ---- the sweep settles charges while the broker is down --------------------------------------

SWEPT=$(cash_order)
check "an order whose payment will look never charged" wait_until 10 has_payment "$SWEPT"
SWEPT_PAY=$(payment_of "$SWEPT")
OTHER=$(cash_order)
check "another order with a payment" wait_until 10 has_payment "$OTHER"
OTHER_PAY=$(payment_of "$OTHER")
check "RabbitMQ stopped" stack stop-svc rabbitmq
TOKEN=$TADMIN api PUT "/api/payments/$OTHER_PAY/status" '{"status":"completed"}'
expect "a payment completed meanwhile: its event waits in the outbox, so relay passes fail" 200 \
    '.payment.status == "completed"'
# a card payment created a minute ago whose charge was never attempted
check_eq "a card payment never charged" "$SWEPT_PAY" "$(pg_pay "UPDATE payments SET payment_method = 'credit_card', payment_token = 'tok_visa', created_at = now() - interval '1 minute' WHERE id = $SWEPT_PAY AND status = 'pending' AND charge_started_at IS NULL RETURNING id")"
charged() { [[ $(pg_pay "SELECT status FROM payments WHERE id = $SWEPT_PAY") == completed ]]; }
check "the sweep charges it within 10 s, the broker still down" wait_until 10 charged
check "RabbitMQ started again" stack start-svc rabbitmq
order_broker_up() { [[ $(http_status "http://127.0.0.1:$ORDER_ADMIN_PORT/health") == 200 ]]; }
check "svc-order sees the broker again" wait_until 60 order_broker_up
paid() {
    TOKEN=$TADMIN api GET "/api/orders/$1"
    [[ $(jq -r .order.status <<<"$HTTP_BODY") == paid ]]
}
check "both payments' events reach their orders once the broker is back" wait_until 30 paid "$SWEPT"
check "(the one completed by the admin too)" wait_until 30 paid "$OTHER"

finish
