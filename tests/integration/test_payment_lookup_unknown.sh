#!/usr/bin/env bash
# Integration: the recovery sweep settles a card charge that was marked
# (charge_started_at) but whose outcome svc-payment never recorded, by
# asking the processor for it (lookup). If the processor has no charge of
# that reference (the process died before its call, the call never
# arrived), the sweep charges it now, under the same reference: before, the
# simulator's lookup made an outcome up, so such a payment was settled
# "completed" with no money taken (or "failed" with no card declined); a
# real processor's "no such charge" had no answer at all. If the processor
# does have the charge (the call went through, recording its outcome
# failed), the sweep settles the payment with that outcome and charges
# nothing again (svc-payment/payment_service.c, pay_settle).
#
# The same with svc-payment restarted between the charge and the sweep: the
# processor (the simulator's table in svc-payment's database) still has the
# charge, so the sweep looks it up and does not charge it again. Before, the
# simulator forgot its charges with its process, and the sweep charged it
# twice. Then payment_sim_live.c tests the simulator itself on that database.
#
# The processor calls are counted by comanda_payment_processor_calls_total
# on svc-payment's /metrics: what is checked is how many charges reached
# the processor for each payment.
#
# Needs the stack up (scripts/stack.sh up) with the event bus, and curl, jq,
# psql; leaves no trigger behind.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
RUN=$(date +%s%N | tail -c 10)$RANDOM
cleanup() {
    pg_pay_admin "DROP TRIGGER IF EXISTS lookup_test_fail ON payments; DROP FUNCTION IF EXISTS lookup_test_fail()" >/dev/null
}
trap cleanup EXIT

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TADMIN"

# cash_payment: a cash order (its payment waits for an admin); prints the
# id of that payment, once the order.created event has made it.
cash_payment() {
    local order id=
    TOKEN=$TADMIN api POST /api/orders '{"items":[{"product":"Lookup test","quantity":1,"price":7.25}],"payment_method":"cash"}'
    order=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
    [[ -n $order ]] || return 1
    for _ in $(seq 100); do
        id=$(pg_pay_admin "SELECT id FROM payments WHERE order_id = '$order' ORDER BY id LIMIT 1")
        [[ -n $id ]] && break
        sleep 0.1
    done
    printf '%s %s' "$id" "$order"
}
status_is() { [[ $(pg_pay_admin "SELECT status FROM payments WHERE id = $1") == "$2" ]]; }
order_is() {
    TOKEN=$TADMIN api GET "/api/orders/$1"
    [[ $(jq -r .order.status <<<"$HTTP_BODY") == "$2" ]]
}
# nothing else for the sweep: the counts below are this script's payments'
check "no other card payment is pending (the sweep's calls are this script's)" wait_until 20 no_card_pending

# ---- the processor never had the charge -----------------------------------------------
# unknown_case TOKEN STATUS ORDER_STATUS: a pending card payment whose charge
# was marked 2 minutes ago (abandoned) and never reached the processor: a
# cash payment turned into one by hand, as a process that died between its
# mark and its call leaves it.
unknown_case() {
    local tok=$1 want=$2 want_order=$3 pay order charges lookups
    read -r pay order <<<"$(cash_payment)"
    check "[$tok] a pending payment" test -n "$pay"
    charges=$(processor_calls charge) lookups=$(processor_calls lookup)
    check_eq "[$tok] made a card payment whose charge was marked 2 min ago, never made" "$pay" \
        "$(pg_pay_admin "UPDATE payments SET payment_method = 'credit_card', payment_token = '$tok', charge_started_at = now() - interval '2 minutes', created_at = now() - interval '2 minutes' WHERE id = $pay AND status = 'pending' RETURNING id")"
    check "[$tok] the sweep settles it: $want" wait_until 15 status_is "$pay" "$want"
    check_eq "[$tok] it asked the processor for the charge (one lookup)" 1 "$(processor_calls_since lookup "$lookups")"
    check_eq "[$tok] the processor had none: the sweep charged it, once (it made it up before: no charge)" 1 \
        "$(processor_calls_since charge "$charges")"
    TOKEN=$TADMIN api GET "/api/payments/$pay/audit"
    check_json "[$tok] audit: created, then $want by the sweep" "$HTTP_BODY" \
        "[.entries[].to_status] == [\"pending\",\"$want\"] and .entries[1].request_id == \"recovery-sweep\""
    check_eq "[$tok] the charge mark is the new attempt's (a lookup waits another 60 s)" t \
        "$(pg_pay_admin "SELECT charge_started_at > now() - interval '1 minute' FROM payments WHERE id = $pay")"
    check "[$tok] its order becomes $want_order" wait_until 10 order_is "$order" "$want_order"
    sleep 3 # a sweep or two later
    check_eq "[$tok] no further processor call for it" "$((charges + 1)) $((lookups + 1))" "$(processor_calls charge) $(processor_calls lookup)"
}
unknown_case "tok_visa_lookup_$RUN" completed paid
unknown_case "tok_decline_lookup_$RUN" failed payment_failed
TOKEN=$TADMIN api GET "/api/payments/$(pg_pay_admin "SELECT id FROM payments WHERE payment_token = 'tok_decline_lookup_$RUN'")"
expect "the declined one says why" 200 '.payment.failure_reason == "card declined"'

# ---- the processor had the charge; its outcome was not recorded --------------------------
# charged_unrecorded TAG TOKEN: a pending card payment that the sweep
# charges at the processor while a trigger fails the write of its outcome
# (TOKEN's only), as a database that failed after the charge: it stays
# pending with its charge mark. Sets pay and order, and charges and
# lookups (the processor calls before).
charged_unrecorded() {
    local tag=$1 tok=$2
    read -r pay order <<<"$(cash_payment)"
    check "[$tag] a pending payment" test -n "$pay"
    check "[$tag] a trigger fails the write of its outcome" pg_pay_admin "
        CREATE OR REPLACE FUNCTION lookup_test_fail() RETURNS trigger LANGUAGE plpgsql AS \$\$
        BEGIN RAISE EXCEPTION 'lookup test: outcome not recorded'; END \$\$;
        CREATE TRIGGER lookup_test_fail BEFORE UPDATE ON payments FOR EACH ROW
        WHEN (NEW.payment_token = '$tok' AND NEW.status <> OLD.status)
        EXECUTE FUNCTION lookup_test_fail()"
    charges=$(processor_calls charge) lookups=$(processor_calls lookup)
    check_eq "[$tag] made a card payment never charged, created a minute ago" "$pay" \
        "$(pg_pay_admin "UPDATE payments SET payment_method = 'credit_card', payment_token = '$tok', created_at = now() - interval '1 minute' WHERE id = $pay AND status = 'pending' RETURNING id")"
    check "[$tag] the sweep charges it" wait_until 15 marked
    check "[$tag] ... at the processor" wait_until 10 charged
    check_eq "[$tag] its outcome could not be recorded: pending" pending "$(pg_pay_admin "SELECT status FROM payments WHERE id = $pay")"
    pg_pay_admin "DROP TRIGGER lookup_test_fail ON payments; DROP FUNCTION lookup_test_fail()" >/dev/null
}
marked() { [[ $(pg_pay_admin "SELECT charge_started_at IS NOT NULL FROM payments WHERE id = $pay") == t ]]; }
charged() { (($(processor_calls charge) > charges)); }

charged_unrecorded known "tok_visa_known_$RUN"
check_eq "[known] its mark made 2 minutes old (abandoned)" "$pay" \
    "$(pg_pay_admin "UPDATE payments SET charge_started_at = now() - interval '2 minutes' WHERE id = $pay RETURNING id")"
check "[known] the sweep settles it with the processor's outcome: completed" wait_until 15 status_is "$pay" completed
check_eq "[known] by a lookup, with no second charge" "$((charges + 1)) $((lookups + 1))" "$(processor_calls charge) $(processor_calls lookup)"
check "[known] its order becomes paid" wait_until 10 order_is "$order" paid

# ---- the same, with svc-payment restarted in between ---------------------------------------
# The processor keeps its charges on its side, so a restart of svc-payment
# (or another replica's sweep) still finds this one: the sweep settles it
# with a lookup and charges nothing again. Before, the simulator kept them in
# the process's memory: after the restart its lookup answered "never
# charged", and the sweep charged the payment a second time.
charged_unrecorded restart "tok_visa_restart_$RUN"
stack stop-svc svc-payment >/dev/null 2>&1
stack start-svc svc-payment >/dev/null 2>&1
metrics_up() { [[ $(http_status "http://127.0.0.1:$PAYMENT_ADMIN_PORT/metrics") == 200 ]]; }
ready() { [[ $(http_status "$GATEWAY_URL/ready") == 200 ]]; }
check "[restart] svc-payment restarted" wait_until 30 ready
check "[restart] ... and its /metrics answers" wait_until 10 metrics_up
# the counters start again from 0 with the new process
charges=$(processor_calls charge) lookups=$(processor_calls lookup)
check_eq "[restart] its mark made 2 minutes old (abandoned)" "$pay" \
    "$(pg_pay_admin "UPDATE payments SET charge_started_at = now() - interval '2 minutes' WHERE id = $pay RETURNING id")"
check "[restart] the sweep settles it with the processor's outcome: completed" wait_until 15 status_is "$pay" completed
check_eq "[restart] by a lookup, with no second charge (one before: the restarted process charged it again)" \
    "$charges $((lookups + 1))" "$(processor_calls charge) $(processor_calls lookup)"
check_eq "[restart] the processor holds one charge of its reference" 1 \
    "$(pg_pay_admin "SELECT count(*) FROM processor_sim_charges WHERE reference = (SELECT transaction_id FROM payments WHERE id = $pay)")"
check "[restart] its order becomes paid" wait_until 10 order_is "$order" paid

# The simulator on its own against svc-payment's database
# (tests/integration/payment_sim_live.c, its own summary line): unknown
# references, a second charge answering the first, a restarted simulator
# and a second replica knowing the first one's charges, concurrent charges
# of one reference agreeing.
if live_build payment_sim_live; then
    PG_LIVE_URL=$PAYMENT_DB_URL live_run
fi

finish
