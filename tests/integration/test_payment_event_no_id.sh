#!/usr/bin/env bash
# Integration: an order event that svc-payment cannot apply because it has
# no event id (no message_id: lib/bus never sends one, but the broker takes
# it from any publisher) is dead-lettered at once, creates nothing, and
# leaks nothing (svc-payment/payment_events.c, pay_on_message). Before, the
# consumer returned BUS_REJECT for it without freeing the event it had
# decoded: a leak per such message, which LeakSanitizer reports when
# svc-payment exits.
#
# Publishes the event straight to the broker (order_events_live.c) for an
# order id svc-order never made; takes its dead letter off again
# (dead_letter_live.c). Stops svc-payment (SIGTERM) to read its exit report,
# and starts it again. Needs the stack up (scripts/stack.sh up) with the
# sanitizer build (else the leak check passes trivially), and curl, psql.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${AMQP_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
: "${COMANDA_RUN_DIR:?no stack environment (scripts/stack.sh up)}"
LOG=$COMANDA_RUN_DIR/logs/svc-payment.log
ORDER=$(printf '%08x%016x' "$(date +%s)" "$((RANDOM * 32768 * 32768 + RANDOM * 32768 + RANDOM))")
DL_BIN=
cleanup() {
    [[ -n $DL_BIN ]] && AMQP_URL=$AMQP_URL "$DL_BIN" "$ORDER" >/dev/null 2>&1
    stack start-svc svc-payment >/dev/null 2>&1
}
trap cleanup EXIT

live_build dead_letter_live || { finish; exit 1; }
DL_BIN=$LIVE_BIN
live_build order_events_live || { finish; exit 1; }
EV_BIN=$LIVE_BIN

dead_letters() {
    curl -s --max-time 5 "http://127.0.0.1:$PAYMENT_ADMIN_PORT/metrics" |
        awk '$1 == "comanda_dead_letters" { print $2; f = 1 } END { if (!f) print "none" }'
}
dead_letters_are() { [[ $(dead_letters) == "$1" ]]; }
DL0=$(dead_letters)
check_match "svc-payment's /metrics has comanda_dead_letters" '^[0-9]+$' "$DL0"

out=$(AMQP_URL=$AMQP_URL "$EV_BIN" --no-message-id "$ORDER" 1 500 3 "" 2>&1)
check "an order.created without a message id is published" \
    grep -q 'order_events_live: [0-9]* passed, 0 failed' <<<"$out"
check "it is dead-lettered" wait_until 15 dead_letters_are $((DL0 + 1))
check_eq "it made no payment" 0 "$(pg_pay "SELECT count(*) FROM payments WHERE order_id = '$ORDER'")"
out=$(AMQP_URL=$AMQP_URL "$DL_BIN" "$ORDER" 2>&1)
check_eq "comanda.dead-letter held it, rejected by payment-service (taken off again)" \
    "dead-letter order.created - rejected payment-service" "$(grep '^dead-letter ' <<<"$out")"
check "comanda_dead_letters is back where it was" wait_until 5 dead_letters_are "$DL0"

# svc-payment's exit: LeakSanitizer reports what it never freed
from=$(($(stat -c %s "$LOG") + 1))
stack stop-svc svc-payment >/dev/null 2>&1
report=$(tail -c +"$from" "$LOG" | grep -A12 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' | head -40)
check_eq "svc-payment exits without a sanitizer report (before: the decoded event leaked)" "" "$report"
stack start-svc svc-payment >/dev/null 2>&1
check "svc-payment is back" wait_until 30 curl -fsS -o /dev/null "http://127.0.0.1:$PAYMENT_ADMIN_PORT/health"
finish
