#!/usr/bin/env bash
# Integration: a card payment created with an Idempotency-Key, whose
# svc-payment dies after the payment is committed and before the charge's
# outcome is recorded. A retry with the same key must answer that payment
# (replayed), not 409 "still in progress" for a minute and then, once the
# claim is taken over, a second payment and a second charge attempt. The
# key's record is completed in the transaction that inserts the payment
# (svc-payment/payment_service.c, pay_insert), and a replayed pending payment
# is read again, so the retry also shows what the recovery sweep did since.
#
# The crash is made exact with a trigger that holds the charge's first write
# (charge_started_at) for the one token this script uses; svc-payment is
# killed (SIGKILL) while it waits, the held statement is cancelled, so the
# charge was never attempted, and the sweep charges it after restart.
#
# Needs the stack up (scripts/stack.sh up) and curl, jq, psql; kills and
# restarts svc-payment, and leaves the stack up.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
RUN=$(date +%s%N | tail -c 10)$RANDOM
cleanup() {
    pg_pay_admin "DROP TRIGGER IF EXISTS crash_test_hold ON payments; DROP FUNCTION IF EXISTS crash_test_hold()" >/dev/null
    stack start-svc svc-payment >/dev/null 2>&1
}
trap cleanup EXIT

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TADMIN"

# crash_case TOKEN_PREFIX WANT_STATUS: one payment of an order with a card
# token that the trigger holds; svc-payment is killed while the charge waits.
crash_case() {
    local tok="$1$RUN" want=$2 key="crash-$1$RUN" order pid first
    TOKEN=$TADMIN api POST /api/orders \
        '{"items":[{"product":"Crash test","quantity":1,"price":12.5}],"payment_method":"credit_card","payment_token":"tok_decline_auto"}'
    order=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
    check "[$1] an order whose own payment is declined" test -n "$order"
    payable() {
        TOKEN=$TADMIN api GET "/api/orders/$order"
        [[ $(jq -r '.order.status' <<<"$HTTP_BODY") == payment_failed ]]
    }
    check "[$1] the order becomes payable (payment_failed)" wait_until 10 payable

    check "[$1] a trigger holds this token's charge" pg_pay_admin "
        CREATE OR REPLACE FUNCTION crash_test_hold() RETURNS trigger LANGUAGE plpgsql AS \$\$
        BEGIN PERFORM pg_sleep(60); RETURN NEW; END \$\$;
        CREATE TRIGGER crash_test_hold BEFORE UPDATE ON payments FOR EACH ROW
        WHEN (NEW.payment_token = '$tok' AND OLD.charge_started_at IS NULL AND NEW.charge_started_at IS NOT NULL)
        EXECUTE FUNCTION crash_test_hold()"

    local body="{\"order_id\":\"$order\",\"amount\":12.5,\"payment_method\":\"credit_card\",\"payment_token\":\"$tok\"}"
    curl -s -o /dev/null --max-time 30 -X POST -H "Authorization: Bearer $TADMIN" \
        -H 'Content-Type: application/json' -H "Idempotency-Key: $key" --data-binary "$body" \
        "$GATEWAY_URL/api/payments" &
    local curl_pid=$!
    held() { [[ $(pg_pay_admin "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%SET charge_started_at%' AND wait_event = 'PgSleep'") == 1 ]]; }
    check "[$1] the payment is committed and its charge held" wait_until 10 held
    check_eq "[$1] one payment with this token, pending" "pending" \
        "$(pg_pay_admin "SELECT string_agg(status, ',') FROM payments WHERE payment_token = '$tok'")"

    check "[$1] svc-payment killed (SIGKILL) mid-charge" stack kill-svc svc-payment
    pg_pay_admin "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%SET charge_started_at%' AND wait_event = 'PgSleep'" >/dev/null
    pg_pay_admin "DROP TRIGGER crash_test_hold ON payments; DROP FUNCTION crash_test_hold()" >/dev/null
    wait "$curl_pid" 2>/dev/null
    check "[$1] svc-payment started again" stack start-svc svc-payment

    TOKEN=$TADMIN api POST /api/payments "$body" -H "Idempotency-Key: $key"
    expect "[$1] the retry with the same key -> 201, not 409 IDEMPOTENCY_KEY_IN_USE" 201 \
        "(.payment.status == \"pending\" or .payment.status == \"$want\") and .payment.order_id == \"$order\""
    check_eq "[$1] the retry is marked replayed" "true" "$(http_header Idempotent-Replayed)"
    first=$(jq -r '.payment.id' <<<"$HTTP_BODY")
    settled() { [[ $(pg_pay_admin "SELECT status FROM payments WHERE id = $first") == "$want" ]]; }
    check "[$1] the recovery sweep settles it: $want" wait_until 30 settled

    TOKEN=$TADMIN api POST /api/payments "$body" -H "Idempotency-Key: $key"
    expect "[$1] a later retry replays the same payment, as it is now ($want)" 201 \
        ".payment.id == $first and .payment.status == \"$want\""
    check_eq "[$1] still one payment with this token: no second charge attempt" 1 \
        "$(pg_pay_admin "SELECT count(*) FROM payments WHERE payment_token = '$tok'")"
}

crash_case tok_crash_ok_ completed
crash_case tok_decline_crash_ failed

finish
