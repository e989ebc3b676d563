#!/usr/bin/env bash
# A broker that lost its state (a new node, its data deleted) while
# svc-payment is down: an order placed meanwhile still gets its payment once
# svc-payment is back. The broker confirms and drops an event that no queue
# is bound for, so the outbox relays declare every queue of the saga
# (lib/svc_events.c) before publishing, not only the exchange; before they
# did, that order.created was confirmed into nothing and the order stayed
# pending for good. The same holds for a first deployment in which svc-order
# takes orders before svc-payment has ever started.
#
# Needs the stack up (scripts/stack.sh up); stops and restarts svc-payment
# and RabbitMQ (deleting the broker's data), and leaves the stack up.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${ORDER_ADMIN_PORT:?no stack environment (scripts/stack.sh up)}"
MNESIA=${COMANDA_RUN_DIR:-.run/dev}/data/rabbitmq/mnesia
trap 'stack up >/dev/null 2>&1' EXIT   # whatever happens, the stack is whole again

TOKEN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TOKEN"

check "svc-payment stopped" stack stop-svc svc-payment
check "RabbitMQ stopped" stack stop-svc rabbitmq
check "its data deleted ($MNESIA)" rm -rf "$MNESIA"
check "a fresh RabbitMQ node started: no queues, no bindings" stack start-svc rabbitmq
order_broker_up() { [[ $(http_status "http://127.0.0.1:$ORDER_ADMIN_PORT/health") == 200 ]]; }
check "svc-order sees the broker again" wait_until 60 order_broker_up

api POST /api/orders '{"items":[{"product":"Fresh broker","quantity":1,"price":7}],"payment_method":"cash"}'
expect "an order placed while svc-payment is down -> 201" 201 '.order.status == "pending"'
ORDER=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
sleep 3   # its order.created goes out now (the relay is kicked on commit)

check "svc-payment started again" stack start-svc svc-payment
has_payment() {
    api GET "/api/payments?order_id=$ORDER"
    [[ $HTTP_STATUS == 200 && $(jq -r '.count // 0' <<<"$HTTP_BODY") == 1 ]]
}
check "the order gets its payment: its order.created waited in svc-payment's queue" wait_until 30 has_payment
api GET "/api/payments?order_id=$ORDER"
check_json "one pending cash payment of 7 for that order" "$HTTP_BODY" \
    ".payments[0].order_id == \"$ORDER\" and .payments[0].status == \"pending\" and .payments[0].amount == 7"

finish
