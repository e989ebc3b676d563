#!/usr/bin/env bash
# Integration: an order.cancelled that reaches svc-payment before its
# order.created (a nack requeues the created event behind the cancel, or two
# replicas take them at once; docs/EVENTS.md) leaves no payment behind.
# Before, the cancel found nothing to undo and left no trace, and the late
# order.created then charged the card of a cancelled order (a card), or left
# a pending payment on it for good (cash). svc-payment now records the
# cancellation (cancelled_orders) under the order's lock, and a later
# order.created creates nothing.
#
# Publishes the two events straight to the broker (order_events_live.c), for
# order ids svc-order never made: only svc-payment's tables are looked at.
# Needs the stack up (scripts/stack.sh up) with the event bus, and psql.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${AMQP_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
live_build order_events_live || { finish; exit 1; }

# case NAME METHOD TOKEN: cancel-then-create for a fresh order id
case_of() {
    local name=$1 method=$2 tok=$3 order
    order=$(printf '%08x%016x' "$(date +%s)" "$((RANDOM * 32768 * 32768 + RANDOM * 32768 + RANDOM))")
    out=$("$LIVE_BIN" "$order" 1 12345 "$method" "$tok")
    check "[$name] order.cancelled then order.created published" grep -q 'order_events_live: [0-9]* passed, 0 failed' <<<"$out"
    created=$(sed -n 's/^order\.created //p' <<<"$out")
    handled() { [[ $(pg_pay "SELECT count(*) FROM processed_events WHERE event_id = '$created'") == 1 ]]; }
    check "[$name] svc-payment handles the late order.created" wait_until 10 handled
    check_eq "[$name] the cancellation is recorded" 1 \
        "$(pg_pay "SELECT count(*) FROM cancelled_orders WHERE order_id = '$order'")"
    check_eq "[$name] and the late order.created made no payment for the cancelled order" 0 \
        "$(pg_pay "SELECT count(*) FROM payments WHERE order_id = '$order'")"
}

case_of card 1 tok_visa
case_of cash 3 ""

finish
