#!/usr/bin/env bash
# Integration: cancelling an order whose card payment an admin completed by
# hand, so that the processor never charged it, dead-letters the
# order.cancelled for an operator (docs/EVENTS.md, "The saga"; docs/API.md,
# refunds): svc-payment's refund is refused (409 NO_PROCESSOR_CHARGE), the
# payment stays `completed` (no money went back), the order is `cancelled`,
# and comanda_dead_letters shows exactly that one event. A retry would get
# the same answer, so the event goes to comanda.dead-letter at once.
#
# Everything goes through the public API except one failure that the API
# cannot make: the charge of this script's card token never starts (a
# trigger refuses the write of its charge mark, as a database that fails
# that write would), so the card payment stays pending with no charge, and
# an admin completes it by hand. test_payment_refund_unknown.sh covers the
# admin's own refund of such a payment.
#
# It leaves comanda.dead-letter as it found it: the dead letter it caused is
# taken off again (tests/integration/dead_letter_live.c), since test_saga.sh
# and the chaos test require the queue empty. The order and its payment stay
# as the docs say they end: cancelled, and completed for a person to settle.
#
# Needs the stack up (scripts/stack.sh up) with the event bus, and curl, jq, psql.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
: "${AMQP_URL:?no stack environment (scripts/stack.sh up)}"
RUN=$(date +%s%N | tail -c 10)$RANDOM
TOK=tok_visa_nocharge_$RUN
ORDER=

cleanup() {
    pg_pay_admin "DROP TRIGGER IF EXISTS dead_letter_test_no_charge ON payments;
                  DROP FUNCTION IF EXISTS dead_letter_test_no_charge()" >/dev/null
    # If the script stopped before taking its dead letter off, do it now.
    [[ -n $ORDER && -n ${LIVE_BIN:-} ]] && AMQP_URL=$AMQP_URL "$LIVE_BIN" "$ORDER" >/dev/null 2>&1
}
trap cleanup EXIT

live_build dead_letter_live || { finish; exit 1; }

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TADMIN"

status_of() { pg_pay_admin "SELECT status FROM payments WHERE id = $1"; }
order_is() {
    TOKEN=$TADMIN api GET "/api/orders/$1"
    [[ $(jq -r .order.status <<<"$HTTP_BODY") == "$2" ]]
}
sim_charges() {
    pg_pay_admin "SELECT count(*) FROM processor_sim_charges WHERE reference = (SELECT transaction_id FROM payments WHERE id = $1)"
}
# comanda_dead_letters as svc-payment's /metrics shows it (a scrape
# refreshes it); "none" when absent (the broker cannot tell)
dead_letters() {
    curl -s --max-time 5 "http://127.0.0.1:$PAYMENT_ADMIN_PORT/metrics" |
        awk '$1 == "comanda_dead_letters" { print $2; f = 1 } END { if (!f) print "none" }'
}
dead_letters_are() { [[ $(dead_letters) == "$1" ]]; }

# ---- a card payment that the processor never charged, completed by an admin --------------------
check "a trigger refuses to start this token's charge" pg_pay_admin "
    CREATE OR REPLACE FUNCTION dead_letter_test_no_charge() RETURNS trigger LANGUAGE plpgsql AS \$\$
    BEGIN RAISE EXCEPTION 'test: no charge of this payment starts'; END \$\$;
    CREATE TRIGGER dead_letter_test_no_charge BEFORE UPDATE ON payments FOR EACH ROW
    WHEN (NEW.payment_token = '$TOK' AND OLD.charge_started_at IS NULL AND NEW.charge_started_at IS NOT NULL)
    EXECUTE FUNCTION dead_letter_test_no_charge()"

TOKEN=$TADMIN api POST /api/orders \
    "{\"items\":[{\"product\":\"Dead letter test\",\"quantity\":1,\"price\":6.25}],\"payment_method\":\"credit_card\",\"payment_token\":\"$TOK\"}"
expect "a card order" 201 '.order.status == "pending"'
ORDER=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
check "its payment" wait_until 10 has_payment "$ORDER"
PAY=$(payment_of "$ORDER")
check_eq "... a card payment, pending, whose charge never started" "credit_card pending true" \
    "$(pg_pay_admin "SELECT payment_method || ' ' || status || ' ' || (charge_started_at IS NULL) FROM payments WHERE id = $PAY")"
TOKEN=$TADMIN api PUT "/api/payments/$PAY/status" '{"status":"completed"}'
expect "an admin completes it by hand" 200 '.payment.status == "completed" and .payment.payment_method == "credit_card"'
pg_pay_admin "DROP TRIGGER dead_letter_test_no_charge ON payments; DROP FUNCTION dead_letter_test_no_charge()" >/dev/null
check_eq "the processor has no charge of its reference" 0 "$(sim_charges "$PAY")"
check "its order becomes paid" wait_until 10 order_is "$ORDER" paid

# ---- cancelling the order dead-letters its order.cancelled ------------------------------------
DL0=$(dead_letters)
check_match "svc-payment's /metrics has comanda_dead_letters" '^[0-9]+$' "$DL0"
refunds=$(processor_calls refund)
TOKEN=$TADMIN api PUT "/api/orders/$ORDER/status" '{"status":"cancelled","reason":"dead letter test"}'
expect "the order is cancelled" 200 '.order.status == "cancelled"'
check "comanda_dead_letters goes up by one: the order.cancelled is dead-lettered" \
    wait_until 15 dead_letters_are $((DL0 + 1))
check_eq "the processor was asked for the refund once (no retries: waiting changes nothing)" 1 \
    $(($(processor_calls refund) - refunds))
check_eq "the payment is not refunded: it stays completed" completed "$(status_of "$PAY")"
check_eq "... with no refund mark left (nothing for the sweep)" t \
    "$(pg_pay_admin "SELECT refund_started_at IS NULL FROM payments WHERE id = $PAY")"
TOKEN=$TADMIN api GET "/api/payments/$PAY/audit"
check_json "audit: created, completed; no refund" "$HTTP_BODY" '[.entries[].to_status] == ["pending","completed"]'
check_eq "no payment.refunded in the outbox" 0 \
    "$(pg_pay_admin "SELECT count(*) FROM outbox WHERE event_type = 'payment.refunded' AND correlation_id = '$ORDER'")"
TOKEN=$TADMIN api GET "/api/orders/$ORDER"
expect "the order stays cancelled" 200 \
    '.order.status == "cancelled" and [.order.history[].status] == ["pending","paid","cancelled"]'
sleep 3 # a sweep or two later
check_eq "the sweep asks for no refund of it" 1 $(($(processor_calls refund) - refunds))
check_eq "the payment is still completed" completed "$(status_of "$PAY")"

# ---- the dead letter is exactly that event; taken off again -----------------------------------
EVENT=$(pg_pay_admin "SELECT event_id FROM cancelled_orders WHERE order_id = '$ORDER'")
check_match "svc-payment recorded the order.cancelled's event id" '^[0-9a-f-]{36}$' "$EVENT"
out=$(AMQP_URL=$AMQP_URL "$LIVE_BIN" "$ORDER" 2>&1)
check "comanda.dead-letter read and this order's dead letters taken off" \
    grep -q 'dead_letter_live: [0-9]* passed, 0 failed' <<<"$out"
check_eq "comanda.dead-letter held exactly one message of the order: its order.cancelled, rejected by payment-service" \
    "dead-letter order.cancelled $EVENT rejected payment-service" "$(grep '^dead-letter ' <<<"$out")"
check "comanda_dead_letters is back where it was" wait_until 5 dead_letters_are "$DL0"
finish
