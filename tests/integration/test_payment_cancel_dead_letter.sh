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
# A minute on, svc-payment counts the payment in comanda_payments_refund_owed
# (money to return by hand, whatever the path), and the admin records the
# money returned by hand (POST /api/payments/{id}/refund {"by_hand": true}):
# the payment is refunded without a processor refund, the count drops, the
# order shows refunded_at. by_hand is refused for a payment the processor
# holds a charge of (409 PROCESSOR_CHARGE): that money goes back through it.
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
    "$(processor_calls_since refund "$refunds")"
check_left_completed "$PAY" "$ORDER"
TOKEN=$TADMIN api GET "/api/orders/$ORDER"
expect "the order stays cancelled" 200 \
    '.order.status == "cancelled" and [.order.history[].status] == ["pending","paid","cancelled"]'
sleep 3 # a sweep or two later
check_eq "the sweep asks for no refund of it" 1 "$(processor_calls_since refund "$refunds")"
check_eq "the payment is still completed" completed "$(status_of "$PAY")"

# ---- comanda_payments_refund_owed counts it, a minute on --------------------------------------
# A completed payment of a cancelled order that nothing will refund is
# money to return by hand: svc-payment counts it once both are a minute
# old (a refund or a late completion may be on its way before that). The
# minute is made by hand here.
refund_owed() {
    curl -s --max-time 5 "http://127.0.0.1:$PAYMENT_ADMIN_PORT/metrics" |
        awk '$1 == "comanda_payments_refund_owed" { print $2; f = 1 } END { if (!f) print "none" }'
}
OWED0=$(refund_owed)
check_match "svc-payment's /metrics has comanda_payments_refund_owed" '^[0-9]+$' "$OWED0"
pg_pay_admin "UPDATE cancelled_orders SET cancelled_at = cancelled_at - interval '2 minutes' WHERE order_id = '$ORDER';
              UPDATE payments SET updated_at = updated_at - interval '2 minutes' WHERE id = $PAY" >/dev/null
check_eq "a minute after the cancellation it counts this payment" "$((${OWED0//[^0-9]/0} + 1))" "$(refund_owed)"
check_eq "... as /status's refunds_owed does" "$(refund_owed)" \
    "$(curl -s --max-time 5 "http://127.0.0.1:$PAYMENT_ADMIN_PORT/status" | jq -r '.refunds_owed')"

# ---- the admin records the money returned by hand ---------------------------------------------
lookups=$(processor_calls lookup)
refunds=$(processor_calls refund)
TOKEN=$TADMIN api POST "/api/payments/$PAY/refund" '{"by_hand":"yes"}'
expect "by_hand must be a boolean" 400 "$(err INVALID_ARGUMENT) and (.error | test(\"by_hand\"))"
TOKEN=$TADMIN api POST "/api/payments/$PAY/refund" '{"by_hand":true}'
expect "a refund made by hand is recorded: refunded" 200 '.payment.status == "refunded"'
check_eq "... after asking the processor whether it holds the charge (one lookup)" 1 \
    "$(processor_calls_since lookup "$lookups")"
check_eq "... and asking it for no refund" 0 "$(processor_calls_since refund "$refunds")"
TOKEN=$TADMIN api GET "/api/payments/$PAY/audit"
check_json "audit: created, completed, refunded by the admin" "$HTTP_BODY" \
    '[.entries[].to_status] == ["pending","completed","refunded"] and (.entries[2].actor | startswith("admin:"))'
check_eq "comanda_payments_refund_owed no longer counts it" "$OWED0" "$(refund_owed)"
order_refunded() {
    TOKEN=$TADMIN api GET "/api/orders/$1"
    [[ $(jq -r '.order.refunded_at | type' <<<"$HTTP_BODY") == string ]]
}
check "the order shows refunded_at (payment.refunded applied)" wait_until 10 order_refunded "$ORDER"

# A card payment the processor charged goes back through the processor only.
TOKEN=$TADMIN api POST /api/orders \
    '{"items":[{"product":"Dead letter test, charged","quantity":1,"price":4.50}],"payment_method":"credit_card","payment_token":"tok_visa"}'
expect "a card order, charged" 201
CHARGED=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
check "... paid" wait_until 10 order_is "$CHARGED" paid
CPAY=$(payment_of "$CHARGED")
TOKEN=$TADMIN api POST "/api/payments/$CPAY/refund" '{"by_hand":true}'
expect "by hand, a payment the processor holds a charge of -> 409 PROCESSOR_CHARGE" 409 \
    "$(err FAILED_PRECONDITION) and .reason == \"PROCESSOR_CHARGE\""
check_eq "... it stays completed, with no refund mark" "completed true" \
    "$(pg_pay_admin "SELECT status || ' ' || (refund_started_at IS NULL) FROM payments WHERE id = $CPAY")"
TOKEN=$TADMIN api POST "/api/payments/$CPAY/refund" '{"by_hand":false}'
expect "through the processor (by_hand false, as no body): refunded" 200 '.payment.status == "refunded"'

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
