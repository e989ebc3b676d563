#!/usr/bin/env bash
# Integration: payments through the gateway (../API.md "Payments";
# docs/API.md). One check per rule: creation by the order's owner and by an
# admin, every refusal (amount != total, another customer's order, an order
# that is not payable, a second live payment, a duplicate transaction_id,
# JSON types), card charges by the simulator (approved, declined token, the
# PAYMENT_SIM_LIMIT edges), admin status changes (pending -> completed /
# failed, every other change 409), refunds (completed only), the audit
# ledger (an entry per step, in order; UPDATE and DELETE refused by the
# database itself), races (two completions, two creations), lists and
# pagination, idempotent creation, and svc-payment's /status counters.
#
# Works with or without the event bus: when order.created events are
# delivered, every new order gets a payment of its own at once, so the
# orders paid by hand here are card orders with a declining token (their
# automatic payment fails, which leaves them payable) and the script waits
# for that to happen.
#
# Needs the stack up (scripts/stack.sh up) and curl, jq, psql, python3
# (stdlib only: exact decimal sums). The test stack's PAYMENT_SIM_LIMIT is
# the default, 100000000 major units. Every run makes fresh users.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_ADMIN_PORT:?no stack environment (scripts/stack.sh up)}"
SIM_LIMIT=${PAYMENT_SIM_LIMIT:-100000000}

HTTP_TIMEOUT=15
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
RUN=$(date +%s%N | tail -c 10)$RANDOM   # makes this run's e-mails unique
RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$'
PAYMENT_KEYS='["amount","created_at","currency","failure_reason","id","order_id","payment_method","status","transaction_id","updated_at","user_id"]'
ENTRY_KEYS='["action","actor","amount","at","event_id","from_status","request_id","to_status"]'
MISSING_ORDER=000000000000000000000000

# ---- helpers -------------------------------------------------------------------

# names FIELD: a jq filter: the error's message and details name FIELD; bad FIELD: an
# INVALID_ARGUMENT envelope naming FIELD.
names() { printf '(.error | startswith("%s ")) and ([.details[]?.field] | index("%s") != null)' "$1" "$1"; }
bad() { printf '%s and %s' "$(err INVALID_ARGUMENT)" "$(names "$1")"; }

order_status() {
    TOKEN=$TADMIN api GET "/api/orders/$1"
    jq -r '.order.status // empty' <<<"$HTTP_BODY"
}
is_payable() { [[ $(order_status "$1") == payment_failed ]]; }

# payable_order TOKEN PRICE: an order of one item at PRICE (a JSON number)
# with no live payment; prints its id ("" on failure). Its own method is a
# card with a declining token: when the bus makes its automatic payment,
# that payment fails and the order becomes payment_failed (waited for here).
payable_order() {
    TOKEN=$1 api POST /api/orders \
        "{\"items\":[{\"product\":\"Payment test\",\"quantity\":1,\"price\":$2}],\"payment_method\":\"credit_card\",\"payment_token\":\"tok_decline_auto\"}"
    [[ $HTTP_STATUS == 201 ]] || return 1
    local id
    id=$(jq -r .order._id <<<"$HTTP_BODY")
    if ((BUS)); then wait_until 5 is_payable "$id" || return 1; fi
    printf '%s\n' "$id"
}

# pay TOKEN ORDER_ID AMOUNT [MEMBERS] [CURL_ARGS...]: POST /api/payments with
# {"order_id","amount"} plus the JSON MEMBERS text ('"payment_method":"cash"').
pay() {
    local tok=$1 order=$2 amount=$3 members=${4:-}
    shift 3
    (($#)) && shift
    TOKEN=$tok api POST /api/payments "{\"order_id\":\"$order\",\"amount\":$amount${members:+,$members}}" "$@"
}

# settle ID STATUS [REASON] [CURL_ARGS...]: PUT /api/payments/ID/status as the admin.
settle() {
    local id=$1 status=$2 reason=${3:-} body
    shift 2
    (($#)) && shift
    body=$(jq -nc --arg s "$status" --arg r "$reason" 'if $r == "" then {status:$s} else {status:$s,reason:$r} end')
    TOKEN=$TADMIN api PUT "/api/payments/$id/status" "$body" "$@"
}

# status_counters: svc-payment's /status "total_payments total_amount", the
# amount as the literal JSON text (exact).
status_counters() {
    curl -s --max-time 5 "http://127.0.0.1:$PAYMENT_ADMIN_PORT/status" | python3 -c '
import decimal, json, sys
s = json.load(sys.stdin, parse_float=decimal.Decimal)
print(s["total_payments"], s["total_amount"])'
}

# dec_add A B: A + B, exactly.
dec_add() { python3 -c 'import decimal, sys; print(decimal.Decimal(sys.argv[1]) + decimal.Decimal(sys.argv[2]))' "$1" "$2"; }
dec_eq() { python3 -c 'import decimal, sys; sys.exit(decimal.Decimal(sys.argv[1]) != decimal.Decimal(sys.argv[2]))' "$1" "$2"; }

# ---- users and the bus -----------------------------------------------------------------

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in with ADMIN_EMAIL / ADMIN_PASSWORD" test -n "$TADMIN"
TOKEN=$TADMIN api GET /api/users/me
ADMIN_ID=$(jq -r '.user.id // empty' <<<"$HTTP_BODY")
ID_A=$(signup "Payments A" "payments.a.$RUN@example.com" "payments-pass-a")
ID_B=$(signup "Payments B" "payments.b.$RUN@example.com" "payments-pass-b")
TA=$(token "payments.a.$RUN@example.com" payments-pass-a)
TB=$(token "payments.b.$RUN@example.com" payments-pass-b)
check "two customers signed up and logged in" test -n "$TA" -a -n "$TB" -a -n "$ID_A" -a -n "$ID_B"

# Does order.created reach svc-payment? A cash order gets a payment of its own then.
BUS=0
TOKEN=$TA api POST /api/orders '{"items":[{"product":"Bus probe","quantity":1,"price":1}]}'
PROBE=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
has_payment() { TOKEN=$TADMIN api GET "/api/payments?order_id=$PROBE"; [[ $(jq -r '.count // 0' <<<"$HTTP_BODY") -gt 0 ]]; }
if wait_until 3 has_payment; then BUS=1; fi
printf 'note: order.created events are %s\n' "$( ((BUS)) && echo "delivered (automatic payments)" || echo "not delivered yet (no automatic payments)")"

# ---- creation --------------------------------------------------------------------------

ORDER_X=$(payable_order "$TA" 19.99)
check "customer A has a payable order of 19.99" test -n "$ORDER_X"
pay "$TA" "$ORDER_X" 19.99 '"payment_method":"cash"' -H "X-Request-Id: pay-create-$RUN"
expect "owner pays its order (cash) -> 201 Payment created successfully" 201 \
    '.success == true and .message == "Payment created successfully"'
check_json "payment has exactly the API's members" "$HTTP_BODY" "(.payment | keys) == $PAYMENT_KEYS"
check_json "cash payment: pending, 19.99 COP, the order's owner, TXN-<uuid>, no failure" "$HTTP_BODY" \
    ".payment.status == \"pending\" and .payment.amount == 19.99 and .payment.currency == \"COP\" and .payment.order_id == \"$ORDER_X\" and .payment.user_id == $ID_A and .payment.payment_method == \"cash\" and (.payment.transaction_id | test(\"^TXN-[0-9a-f-]{36}$\")) and .payment.failure_reason == null and (.payment.id | type == \"number\")"
check_json "payment timestamps are RFC 3339 UTC with milliseconds" "$HTTP_BODY" \
    "(.payment.created_at | test(\"$RFC3339\")) and (.payment.updated_at | test(\"$RFC3339\"))"
PAY_X=$(jq -r .payment.id <<<"$HTTP_BODY")
check_eq "POST /api/payments answers Location: /api/payments/{id}" "/api/payments/$PAY_X" "$(http_header Location)"

TOKEN=$TA api GET "/api/payments/$PAY_X"
expect "GET /api/payments/{id} by its owner -> 200 {success, payment}" 200 \
    ".success == true and .payment.id == $PAY_X and (.payment | keys) == $PAYMENT_KEYS"
TOKEN=$TADMIN api GET "/api/payments/$PAY_X"
expect "an admin reads any payment" 200 ".payment.id == $PAY_X"
TOKEN=$TA api GET /api/payments/999999999999
expect "a missing payment -> 404 Payment not found" 404 "$(err NOT_FOUND) and .error == \"Payment not found\""
MISSING_BODY=$(jq -c 'del(.request_id)' <<<"$HTTP_BODY")
TOKEN=$TB api GET "/api/payments/$PAY_X"
expect "customer B reading A's payment -> 404" 404 "$(err NOT_FOUND)"
check_eq "another's payment answers exactly as a missing one" "$MISSING_BODY" "$(jq -c 'del(.request_id)' <<<"$HTTP_BODY")"
for id in abc 0 07 -1 1.5 99999999999999999999; do
    TOKEN=$TA api GET "/api/payments/$id"
    expect "malformed payment id '$id' -> 400 naming id" 400 "$(bad id)"
done
# an id of 128 characters or more was a 404 "Route not found"
for n in 128 600; do
    TOKEN=$TA api GET "/api/payments/$(printf '1%.0s' $(seq "$n"))"
    expect "a $n-digit payment id -> 400 naming id" 400 "$(bad id)"
done

ORDER_ADM=$(payable_order "$TA" 5)
pay "$TADMIN" "$ORDER_ADM" 5 '"payment_method":"bank_transfer"'
expect "an admin pays a customer's order -> 201, the payment is the owner's" 201 \
    ".payment.user_id == $ID_A and .payment.payment_method == \"bank_transfer\" and .payment.status == \"pending\""
PAY_ADM=$(jq -r .payment.id <<<"$HTTP_BODY")

# ---- refusals ----------------------------------------------------------------------------

ORDER_Y=$(payable_order "$TA" 19.99)
pay "$TA" "$ORDER_Y" 20 '"payment_method":"cash"'
expect "amount != the order's total -> 400 naming amount" 400 "$(bad amount)"
pay "$TA" "$ORDER_Y" 19.98 '"payment_method":"cash"'
expect "one cent short of the total -> 400 naming amount" 400 "$(bad amount)"
pay "$TB" "$ORDER_Y" 19.99 '"payment_method":"cash"'
expect "customer B paying A's order -> 400 naming order_id (not leaked as existing)" 400 "$(bad order_id)"
pay "$TA" "$MISSING_ORDER" 19.99
expect "an order that does not exist -> 400 naming order_id" 400 "$(bad order_id)"
pay "$TA" "xyz" 19.99
expect "a malformed order_id -> 400 naming order_id" 400 "$(bad order_id)"
ORDER_CANCELLED=$(payable_order "$TA" 19.99)
TOKEN=$TA api PUT "/api/orders/$ORDER_CANCELLED/status" '{"status":"cancelled"}'
pay "$TA" "$ORDER_CANCELLED" 19.99 '"payment_method":"cash"'
expect "a cancelled order (not pending or payment_failed) -> 409" 409 "$(err FAILED_PRECONDITION)"
pay "$TA" "$ORDER_X" 19.99 '"payment_method":"cash"'
expect "a second live payment for an order -> 409" 409 "$(err ALREADY_EXISTS)"

TXN="TXN-test-$RUN"
ORDER_T1=$(payable_order "$TA" 7)
ORDER_T2=$(payable_order "$TA" 7)
pay "$TA" "$ORDER_T1" 7 "\"payment_method\":\"cash\",\"transaction_id\":\"$TXN\""
expect "a client transaction_id is kept" 201 ".payment.transaction_id == \"$TXN\""
pay "$TA" "$ORDER_T2" 7 "\"payment_method\":\"cash\",\"transaction_id\":\"$TXN\""
expect "a duplicate transaction_id -> 409 naming transaction_id" 409 \
    "$(err ALREADY_EXISTS) and ([.details[]?.field] | index(\"transaction_id\") != null)"

ORDER_V=$(payable_order "$TA" 19.99)
for c in '"19.99"|amount' 'null|amount' '19.999|amount' '-1|amount'; do
    TOKEN=$TA api POST /api/payments "{\"order_id\":\"$ORDER_V\",\"amount\":${c%|*}}"
    expect "amount ${c%|*} -> 400 naming amount" 400 "$(bad "${c#*|}")"
done
TOKEN=$TA api POST /api/payments "{\"order_id\":\"$ORDER_V\"}"
expect "missing amount -> 400 'amount is required'" 400 "$(bad amount) and .error == \"amount is required\""
TOKEN=$TA api POST /api/payments '{"amount":19.99}'
expect "missing order_id -> 400 naming order_id" 400 "$(bad order_id)"
TOKEN=$TA api POST /api/payments '{"order_id":7,"amount":19.99}'
expect "order_id of the wrong type -> 400 naming order_id" 400 "$(bad order_id)"
pay "$TA" "$ORDER_V" 19.99 '"payment_method":"paypal"'
expect "unknown payment_method paypal -> 400 naming payment_method" 400 "$(bad payment_method)"
pay "$TA" "$ORDER_V" 19.99 '"transaction_id":""'
expect "empty transaction_id -> 400 naming transaction_id" 400 "$(bad transaction_id)"
pay "$TA" "$ORDER_V" 19.99 '"status":"completed"'
expect "unknown member -> 400 naming it" 400 "$(bad status)"
TOKEN=$TA api POST /api/payments '19.99'
expect "JSON scalar body -> 400" 400 "$(err INVALID_ARGUMENT) and (.error | test(\"JSON object\"))"
TOKEN=$TA api GET "/api/payments?order_id=$ORDER_V"
check_json "no refused request left a payment behind" "$HTTP_BODY" "[.payments[] | select(.status == \"pending\" or .status == \"completed\")] | length == 0"

# ---- card charges: approved, declined, the simulator's limit ---------------------------------

ORDER_D=$(payable_order "$TA" 19.99)
pay "$TA" "$ORDER_D" 19.99 '"payment_method":"credit_card","payment_token":"tok_decline_x"'
expect "a declined card token -> 201 with status failed and a failure_reason" 201 \
    '.payment.status == "failed" and .payment.payment_method == "credit_card" and .payment.failure_reason == "card declined"'
PAY_DECLINED=$(jq -r .payment.id <<<"$HTTP_BODY")
pay "$TA" "$ORDER_D" 19.99 '"payment_method":"debit_card","payment_token":"tok_visa"'
expect "a failed payment does not block the next one; a good card -> completed" 201 \
    '.payment.status == "completed" and .payment.failure_reason == null'
PAY_CARD=$(jq -r .payment.id <<<"$HTTP_BODY")

# PAYMENT_MAX_FAILED (10, the default): an order is not a card-testing bench
ORDER_T=$(payable_order "$TA" 3)
tries=0
while ((tries < 12)); do
    pay "$TA" "$ORDER_T" 3 '"payment_method":"credit_card","payment_token":"tok_decline_test"'
    [[ $HTTP_STATUS == 201 ]] || break
    tries=$((tries + 1))
done
expect "attempts past PAYMENT_MAX_FAILED failed payments -> 409 TOO_MANY_FAILED_PAYMENTS" 409 \
    "$(err FAILED_PRECONDITION) and .reason == \"TOO_MANY_FAILED_PAYMENTS\""
TOKEN=$TADMIN api GET "/api/payments?order_id=$ORDER_T&status=failed"
expect "the order has exactly 10 failed payments then" 200 '.count == 10'
pay "$TA" "$ORDER_T" 3 '"payment_method":"cash"'
expect "any method is refused for it from then on" 409 ".reason == \"TOO_MANY_FAILED_PAYMENTS\""

ORDER_CENT=$(payable_order "$TA" 0.01)
pay "$TA" "$ORDER_CENT" 0.01 '"payment_method":"credit_card","payment_token":"tok_ok"'
expect "0.01 by card -> 201 completed, amount 0.01" 201 '.payment.status == "completed" and .payment.amount == 0.01'
ORDER_LIMIT=$(payable_order "$TA" "$SIM_LIMIT")
pay "$TA" "$ORDER_LIMIT" "$SIM_LIMIT.00" '"payment_method":"credit_card","payment_token":"tok_ok"'
expect "exactly PAYMENT_SIM_LIMIT ($SIM_LIMIT.00) by card -> completed" 201 \
    ".payment.status == \"completed\" and .payment.amount == $SIM_LIMIT"
ORDER_OVER=$(payable_order "$TA" "$SIM_LIMIT.01")
pay "$TA" "$ORDER_OVER" "$SIM_LIMIT.01" '"payment_method":"credit_card","payment_token":"tok_ok"'
expect "one minor unit over the limit ($SIM_LIMIT.01) -> 201 failed with a failure_reason" 201 \
    '.payment.status == "failed" and (.payment.failure_reason | test("limit"))'
check_match "the amount is written exactly" "\"amount\":$SIM_LIMIT\\.01[,}]" "$HTTP_BODY"

# ---- admin status changes --------------------------------------------------------------------

# a completion has no failure_reason: a reason sent with it was dropped
# unseen (200), now 400 naming reason, and the payment stays pending
settle "$PAY_X" completed "paid at the counter"
expect "completed with a reason -> 400 naming reason" 400 "$(bad reason) and (.error | contains(\"only goes with status failed\"))"
TOKEN=$TADMIN api GET "/api/payments/$PAY_X"
expect "... and the payment stays pending" 200 '.payment.status == "pending"'
settle "$PAY_X" completed '' -H "X-Request-Id: pay-complete-$RUN"
expect "pending -> completed by an admin -> 200 Payment status updated successfully" 200 \
    ".success == true and .message == \"Payment status updated successfully\" and .payment.id == $PAY_X and .payment.status == \"completed\""
# reason "" is refused, not read as "no reason" (failure_reason would be
# the default "marked failed by an admin"), and the payment stays pending
TOKEN=$TADMIN api PUT "/api/payments/$PAY_ADM/status" '{"status":"failed","reason":""}'
expect "an empty reason -> 400 naming reason" 400 "$(bad reason)"
# reason is text, judged by the rule of products and names (lib/utf8): a
# control character (it was stored: BEL) or white space alone (it was
# stored as the failure_reason) is 400 naming reason
for r in '"bell\u0007"' '"two\nlines"' '"   "' '"\u00a0\u3000"'; do
    TOKEN=$TADMIN api PUT "/api/payments/$PAY_ADM/status" "{\"status\":\"failed\",\"reason\":$r}"
    expect "a reason $r -> 400 naming reason" 400 "$(bad reason)"
done
TOKEN=$TADMIN api GET "/api/payments/$PAY_ADM"
expect "... and the payment stays pending" 200 '.payment.status == "pending" and .payment.failure_reason == null'
settle "$PAY_ADM" failed "transfer never arrived"
expect "pending -> failed by an admin, with a reason -> 200" 200 \
    '.payment.status == "failed" and .payment.failure_reason == "transfer never arrived"'
settle "$PAY_X" failed
expect "completed -> failed -> 409 with the allowed next statuses" 409 \
    "$(err FAILED_PRECONDITION) and .details[0].field == \"status\" and (.details[0].issue | test(\"allowed next statuses\"))"
settle "$PAY_X" completed
expect "completed -> completed -> 409" 409 "$(err FAILED_PRECONDITION)"
settle "$PAY_ADM" completed
expect "failed -> completed -> 409" 409 "$(err FAILED_PRECONDITION)"
settle "$PAY_ADM" failed
expect "failed -> failed -> 409" 409 "$(err FAILED_PRECONDITION)"
settle "$PAY_DECLINED" completed
expect "a declined card payment -> completed -> 409" 409 "$(err FAILED_PRECONDITION)"
for s in refunded pending teleported; do
    settle "$PAY_X" "$s"
    expect "PUT status '$s' -> 400 naming status (completed or failed only)" 400 "$(bad status)"
done
TOKEN=$TADMIN api PUT "/api/payments/$PAY_X/status" '{"status":"completed","note":1}'
expect "unknown member in a status change -> 400 naming it" 400 "$(bad note)"
settle 999999999999 completed
expect "status change of a missing payment -> 404" 404 "$(err NOT_FOUND)"
TOKEN=$TA api PUT "/api/payments/$PAY_CARD/status" '{"status":"failed"}'
expect "a customer changing a payment's status -> 403" 403 "$(err PERMISSION_DENIED)"

# ---- refunds -------------------------------------------------------------------------------------

ORDER_P=$(payable_order "$TA" 3)
pay "$TA" "$ORDER_P" 3 '"payment_method":"cash"'
PAY_PENDING=$(jq -r .payment.id <<<"$HTTP_BODY")
TOKEN=$TADMIN api POST "/api/payments/$PAY_PENDING/refund"
expect "refund of a pending payment -> 409" 409 "$(err FAILED_PRECONDITION)"
TOKEN=$TADMIN api POST "/api/payments/$PAY_PENDING/refund" $' \r\n\t '
expect "a refund body of white space only is no body (it was 400 'Request body is required') -> 409" 409 \
    "$(err FAILED_PRECONDITION)"
TOKEN=$TADMIN api POST "/api/payments/$PAY_DECLINED/refund"
expect "refund of a failed payment -> 409" 409 "$(err FAILED_PRECONDITION)"
TOKEN=$TA api POST "/api/payments/$PAY_X/refund"
expect "a customer asking for a refund -> 403" 403 "$(err PERMISSION_DENIED)"
TOKEN=$TADMIN api POST "/api/payments/$PAY_X/refund" '{"reason":"x"}'
expect "a refund body with members -> 400 naming it" 400 "$(bad reason)"
REFUNDS_BEFORE=$(processor_calls refund)
TOKEN=$TADMIN api POST "/api/payments/$PAY_X/refund" '' -H "X-Request-Id: pay-refund-$RUN"
expect "refund of a completed payment -> 200 Payment refunded successfully, status refunded" 200 \
    ".success == true and .message == \"Payment refunded successfully\" and .payment.id == $PAY_X and .payment.status == \"refunded\""
# A cash payment was settled by an admin, outside any processor: its refund
# is recorded without one. Before, the card processor was asked to refund a
# reference it never charged.
check_eq "the cash payment's refund did not go to the card processor" 0 "$(processor_calls_since refund "$REFUNDS_BEFORE")"
TOKEN=$TADMIN api POST "/api/payments/$PAY_X/refund"
expect "a second refund -> 409" 409 "$(err FAILED_PRECONDITION)"
settle "$PAY_X" completed
expect "refunded -> completed -> 409" 409 "$(err FAILED_PRECONDITION)"
TOKEN=$TADMIN api POST "/api/payments/$PAY_CARD/refund" '{}'
expect "refund with an empty object body -> 200" 200 '.payment.status == "refunded"'
check_eq "a card payment's refund did: one processor refund" 1 "$(processor_calls_since refund "$REFUNDS_BEFORE")"
TOKEN=$TADMIN api POST /api/payments/999999999999/refund
expect "refund of a missing payment -> 404" 404 "$(err NOT_FOUND)"

# ---- the audit ledger -------------------------------------------------------------------------------

TOKEN=$TADMIN api GET "/api/payments/$PAY_X/audit"
expect "audit -> 200 {success, entries}" 200 ".success == true and (.entries | type == \"array\") and (.entries | all(keys == $ENTRY_KEYS))"
check_json "audit: created, completed, refunded, in order" "$HTTP_BODY" \
    '[.entries[].action] == ["created","completed","refunded"] and [.entries[].from_status] == [null,"pending","completed"] and [.entries[].to_status] == ["pending","completed","refunded"]'
check_json "audit: amount on every entry; who made each step" "$HTTP_BODY" \
    "(.entries | all(.amount == 19.99)) and [.entries[].actor] == [\"user:$ID_A\",\"admin:$ADMIN_ID\",\"admin:$ADMIN_ID\"]"
check_json "audit: the request id of each step; no event ids for API calls" "$HTTP_BODY" \
    "[.entries[].request_id] == [\"pay-create-$RUN\",\"pay-complete-$RUN\",\"pay-refund-$RUN\"] and (.entries | all(.event_id == null))"
check_json "audit: RFC 3339 timestamps, never going back" "$HTTP_BODY" \
    "(.entries | all(.at | test(\"$RFC3339\"))) and ([.entries[].at] == ([.entries[].at] | sort))"
TOKEN=$TADMIN api GET "/api/payments/$PAY_DECLINED/audit"
expect "audit of a declined card payment: created, failed by the caller's charge" 200 \
    "[.entries[].action] == [\"created\",\"failed\"] and [.entries[].actor] == [\"user:$ID_A\",\"user:$ID_A\"]"
TOKEN=$TA api GET "/api/payments/$PAY_X/audit"
expect "a customer reading the audit -> 403" 403 "$(err PERMISSION_DENIED)"
TOKEN=$TADMIN api GET /api/payments/999999999999/audit
expect "audit of a missing payment -> 404" 404 "$(err NOT_FOUND)"

audit_rows() { psql "$PAYMENT_DB_URL" -XAtq -c "SELECT count(*) FROM payment_audit WHERE payment_id = $PAY_X" 2>/dev/null; }
ROWS=$(audit_rows)
out=$(psql "$PAYMENT_DB_URL" -XAtq -v ON_ERROR_STOP=1 -c "UPDATE payment_audit SET actor = 'mallory' WHERE payment_id = $PAY_X" 2>&1)
rc=$?
check "a direct SQL UPDATE on payment_audit fails (rc $rc)" test "$rc" -ne 0
check_match "the database says the ledger is append-only (UPDATE)" 'append-only' "$out"
out=$(psql "$PAYMENT_DB_URL" -XAtq -v ON_ERROR_STOP=1 -c "DELETE FROM payment_audit WHERE payment_id = $PAY_X" 2>&1)
rc=$?
check "a direct SQL DELETE on payment_audit fails (rc $rc)" test "$rc" -ne 0
check_match "the database says the ledger is append-only (DELETE)" 'append-only' "$out"
check_eq "the ledger rows are all still there" "3|3" "$ROWS|$(audit_rows)"
TOKEN=$TADMIN api GET "/api/payments/$PAY_X/audit"
check_json "the audit still reads the same" "$HTTP_BODY" '[.entries[].actor] | index("mallory") == null and length == 3'

# ---- races ----------------------------------------------------------------------------------------------

ORDER_R=$(payable_order "$TA" 4)
pay "$TA" "$ORDER_R" 4 '"payment_method":"cash"'
PAY_R=$(jq -r .payment.id <<<"$HTTP_BODY")
for i in 1 2; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 15 -X PUT -H "Authorization: Bearer $TADMIN" \
        -H 'Content-Type: application/json' --data-binary '{"status":"completed"}' \
        "$GATEWAY_URL/api/payments/$PAY_R/status" >"$TMP/settle.$i" &
done
wait
check_eq "two concurrent completions: exactly one 200 and one 409" "200 409" "$(sort "$TMP"/settle.* | xargs)"
TOKEN=$TADMIN api GET "/api/payments/$PAY_R/audit"
check_json "the payment was completed once in the ledger" "$HTTP_BODY" '[.entries[].action] == ["created","completed"]'

ORDER_2=$(payable_order "$TA" 6)
for i in 1 2; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 15 -X POST -H "Authorization: Bearer $TA" \
        -H 'Content-Type: application/json' --data-binary "{\"order_id\":\"$ORDER_2\",\"amount\":6,\"payment_method\":\"cash\"}" \
        "$GATEWAY_URL/api/payments" >"$TMP/create.$i" &
done
wait
check_eq "two concurrent payments for one order: one 201 and one 409" "201 409" "$(sort "$TMP"/create.* | xargs)"
TOKEN=$TADMIN api GET "/api/payments?order_id=$ORDER_2&status=pending"
check_json "the order has exactly one live payment" "$HTTP_BODY" '.count == 1'

# ---- lists ------------------------------------------------------------------------------------------------

TOKEN=$TA api GET /api/payments
expect "a customer's list holds only its own payments, newest first" 200 \
    ".success == true and .count == (.payments | length) and .count >= 10 and (.payments | all(.user_id == $ID_A)) and ([.payments[].id] == ([.payments[].id] | sort | reverse)) and has(\"next_cursor\")"
TOKEN=$TB api GET /api/payments
expect "customer B sees none of A's payments" 200 "(.payments | all(.user_id == $ID_B))"
TOKEN=$TA api GET "/api/payments?order_id=$ORDER_D"
expect "?order_id= filters by order" 200 \
    "(.payments | all(.order_id == \"$ORDER_D\")) and ([.payments[].id] | index($PAY_DECLINED) != null and index($PAY_CARD) != null)"
TOKEN=$TA api GET "/api/payments?status=failed"
expect "?status=failed lists failed payments only" 200 '.count >= 2 and (.payments | all(.status == "failed"))'
TOKEN=$TADMIN api GET "/api/payments?status=refunded&limit=200"
expect "an admin lists everyone's payments (refunded ones here)" 200 \
    "(.payments | all(.status == \"refunded\")) and ([.payments[].id] | index($PAY_X) != null)"
TOKEN=$TA api GET "/api/payments?limit=200"
ALL_A=$(jq -c '[.payments[].id]' <<<"$HTTP_BODY")
walk=() cursor='' pages=0 shape_ok=1
while ((pages < 100)); do
    TOKEN=$TA api GET "/api/payments?limit=3${cursor:+&cursor=$cursor}"
    [[ $HTTP_STATUS == 200 ]] || { shape_ok=0; break; }
    jq -e '.count == (.payments | length) and .count <= 3' <<<"$HTTP_BODY" >/dev/null || shape_ok=0
    mapfile -t -O "${#walk[@]}" walk < <(jq -r '.payments[].id' <<<"$HTTP_BODY")
    pages=$((pages + 1))
    cursor=$(jq -r '.next_cursor // empty' <<<"$HTTP_BODY")
    [[ -n $cursor ]] || break
done
check_eq "every page of limit=3 answered 200 with count == length <= 3" 1 "$shape_ok"
check_eq "the walk in pages of 3 lists exactly what one page of 200 does, newest first" "$ALL_A" \
    "$(printf '%s\n' "${walk[@]}" | jq -sc .)"
for q in status=paid status= status order_id=xyz order_id=${ORDER_D^^} order_id limit=0 limit=201 limit \
    cursor=bm90LWEtY3Vyc29y; do
    TOKEN=$TA api GET "/api/payments?$q"
    expect "GET /api/payments?$q -> 400 naming ${q%%=*}" 400 "$(bad "${q%%=*}")"
done
# each list's cursors are its own: a users cursor is no position among
# payments, and a payments cursor none among users
TOKEN=$TADMIN api GET "/api/users?limit=1"
USERS_CURSOR=$(jq -r '.next_cursor // empty' <<<"$HTTP_BODY")
TOKEN=$TADMIN api GET "/api/payments?cursor=$USERS_CURSOR"
expect "a users cursor on /api/payments -> 400 naming cursor" 400 "$(bad cursor)"
TOKEN=$TA api GET "/api/payments?limit=1"
PAY_CURSOR=$(jq -r '.next_cursor // empty' <<<"$HTTP_BODY")
TOKEN=$TADMIN api GET "/api/users?cursor=$PAY_CURSOR"
expect "a payments cursor on /api/users -> 400 naming cursor" 400 "$(bad cursor)"

# ---- idempotent creation -----------------------------------------------------------------------------------

ORDER_I=$(payable_order "$TA" 8.5)
IKEY="payment-$RUN"
pay "$TA" "$ORDER_I" 8.5 '"payment_method":"cash"' -H "Idempotency-Key: $IKEY"
expect "create with an Idempotency-Key -> 201" 201 '.payment.amount == 8.5'
FIRST_BODY=$HTTP_BODY FIRST_LOCATION=$(http_header Location)
check_eq "a first request is not marked replayed" "" "$(http_header Idempotent-Replayed)"
pay "$TA" "$ORDER_I" 8.5 '"payment_method":"cash"' -H "Idempotency-Key: $IKEY"
check_eq "same key + same body -> the same status (201), not a 409 for a second live payment" 201 "$HTTP_STATUS"
check_eq "same key + same body -> the same body" "$FIRST_BODY" "$HTTP_BODY"
check_eq "the replay says Idempotent-Replayed: true" "true" "$(http_header Idempotent-Replayed)"
check_eq "the replay has the same Location" "$FIRST_LOCATION" "$(http_header Location)"
pay "$TA" "$ORDER_I" 8.5 '"payment_method":"bank_transfer"' -H "Idempotency-Key: $IKEY"
expect "same key + another body -> 422 IDEMPOTENCY_KEY_REUSED" 422 \
    '.success == false and .code == "FAILED_PRECONDITION" and .reason == "IDEMPOTENCY_KEY_REUSED"'
TOKEN=$TA api GET "/api/payments?order_id=$ORDER_I"
check_json "the replay made no second payment (one live payment for the order)" "$HTTP_BODY" \
    '[.payments[] | select(.status == "pending" or .status == "completed")] | length == 1'

# ---- processor calls in flight or abandoned --------------------------------------------------------------
# A charge or refund is marked in the database before the processor is
# called (charge_started_at, refund_started_at). A mark younger than 60 s
# (PAYMENT_CLAIM_STALE_S) is a call that may still be in flight: nothing else
# may decide the payment meanwhile. An older one is abandoned: the recovery
# sweep (every 2 s) asks the processor for the charge's outcome, or for the
# refund again. The marks are set here by hand, as a worker would.
pay_status() { TOKEN=$TADMIN api GET "/api/payments/$1"; jq -r '.payment.status // empty' <<<"$HTTP_BODY"; }
status_is() { [[ $(pay_status "$1") == "$2" ]]; }

# A pending card payment whose charge is in flight (the mark set now),
# created a minute ago: before, the sweep looked it up after 5 s and an
# admin could mark it failed while the processor was charging the card.
ORDER_FL=$(payable_order "$TA" 3.21)
pay "$TA" "$ORDER_FL" 3.21 '"payment_method":"cash"'
PAY_FL=$(jq -r '.payment.id // empty' <<<"$HTTP_BODY")
out=$(pg_pay "UPDATE payments SET payment_method = 'credit_card', payment_token = 'tok_visa', charge_started_at = now(), created_at = now() - interval '1 minute' WHERE id = $PAY_FL AND status = 'pending' RETURNING id")
check_eq "a pending card payment with a charge in flight (set by hand)" "$PAY_FL" "$out"
settle "$PAY_FL" failed
expect "an admin marking it failed while it is charged -> 409, the charge decides" 409 \
    "$(err ABORTED) and (.error | test(\"charge is in flight\"))"
settle "$PAY_FL" completed
expect "... or completed -> 409" 409 "$(err ABORTED)"
sleep 5
check_eq "the sweep leaves a charge in flight alone (5 s, 2 sweeps later)" pending "$(pay_status "$PAY_FL")"
pg_pay "UPDATE payments SET charge_started_at = now() - interval '2 minutes' WHERE id = $PAY_FL" >/dev/null
check "once abandoned (2 min old), the sweep settles it with the processor's outcome: completed" \
    wait_until 10 status_is "$PAY_FL" completed
TOKEN=$TADMIN api GET "/api/payments/$PAY_FL/audit"
check_json "audit: created, then completed by the sweep" "$HTTP_BODY" \
    '[.entries[].to_status] == ["pending","completed"] and .entries[1].request_id == "recovery-sweep"'

# A completed payment whose refund is in flight: a second refund waits
# (503, which the order.cancelled consumer retries) instead of a 409 that
# it would dead-letter.
pg_pay "UPDATE payments SET refund_started_at = now() WHERE id = $PAY_FL" >/dev/null
TOKEN=$TADMIN api POST "/api/payments/$PAY_FL/refund"
expect "a refund while another is in progress -> 503 (retry later), not 409" 503 "$(err UNAVAILABLE)"
check_eq "... and the payment stays completed" completed "$(pay_status "$PAY_FL")"
# Abandoned (its outcome never recorded): before, the payment stayed
# completed for good, every retry refused with 409.
pg_pay "UPDATE payments SET refund_started_at = now() - interval '2 minutes' WHERE id = $PAY_FL" >/dev/null
check "an abandoned refund is asked for again by the sweep: refunded" wait_until 10 status_is "$PAY_FL" refunded
TOKEN=$TADMIN api GET "/api/payments/$PAY_FL/audit"
check_json "audit: created, completed, refunded (the sweep's)" "$HTTP_BODY" \
    '[.entries[].to_status] == ["pending","completed","refunded"] and .entries[2].request_id == "recovery-sweep"'
# An admin's refund takes over an abandoned claim too (the sweep may be
# slower): a completed payment with a 2-minute-old mark.
ORDER_FR=$(payable_order "$TA" 4.56)
pay "$TA" "$ORDER_FR" 4.56 '"payment_method":"cash"'
PAY_FR=$(jq -r '.payment.id // empty' <<<"$HTTP_BODY")
settle "$PAY_FR" completed
pg_pay "UPDATE payments SET refund_started_at = now() - interval '2 minutes' WHERE id = $PAY_FR" >/dev/null
TOKEN=$TADMIN api POST "/api/payments/$PAY_FR/refund"
case $HTTP_STATUS in
200) expect "an admin's refund over an abandoned mark -> 200 refunded" 200 '.payment.status == "refunded"' ;;
409 | 503) # the sweep (every 2 s) took the mark between the two requests: it
    # refunds, and the admin's request found it refunding (503) or refunded (409)
    check "an abandoned refund mark, taken by the sweep first ($HTTP_STATUS): refunded" \
        wait_until 10 status_is "$PAY_FR" refunded ;;
*) expect "an admin's refund over an abandoned mark -> 200 refunded (or 409/503: the sweep's first)" 200 \
    '.payment.status == "refunded"' ;;
esac

# ---- svc-payment /status -------------------------------------------------------------------------------------

# total_payments counts every payment; total_amount sums the completed ones only.
read -r N0 AMOUNT0 <<<"$(status_counters)"
check "svc-payment /status answers total_payments and total_amount" test -n "${N0:-}" -a -n "${AMOUNT0:-}"
ORDER_S=$(payable_order "$TA" 12.34)
ORDER_F=$(payable_order "$TA" 7.01)
read -r N1 AMOUNT1 <<<"$(status_counters)"   # after the orders (and their automatic payments, if any)
pay "$TA" "$ORDER_S" 12.34 '"payment_method":"cash"'
PAY_S=$(jq -r .payment.id <<<"$HTTP_BODY")
read -r N2 AMOUNT2 <<<"$(status_counters)"
check_eq "a pending payment counts in total_payments" "$((N1 + 1))" "$N2"
check "a pending payment adds nothing to total_amount ($AMOUNT1 -> $AMOUNT2)" dec_eq "$AMOUNT1" "$AMOUNT2"
pay "$TA" "$ORDER_F" 7.01 '"payment_method":"credit_card","payment_token":"tok_decline_x"'
read -r N3 AMOUNT3 <<<"$(status_counters)"
check_eq "a failed payment counts in total_payments" "$((N2 + 1))" "$N3"
check "a failed payment adds nothing to total_amount ($AMOUNT2 -> $AMOUNT3)" dec_eq "$AMOUNT2" "$AMOUNT3"
settle "$PAY_S" completed
read -r N4 AMOUNT4 <<<"$(status_counters)"
check_eq "completing a payment does not change total_payments" "$N3" "$N4"
check "completing 12.34 adds exactly 12.34 to total_amount ($AMOUNT3 -> $AMOUNT4)" dec_eq "$(dec_add "$AMOUNT3" 12.34)" "$AMOUNT4"
# per currency: a USD payment adds to USD only
by_currency() { curl -s --max-time 5 "http://127.0.0.1:$PAYMENT_ADMIN_PORT/status" | jq -r ".total_amount_by_currency.$1 // 0"; }
COP4=$(by_currency COP) USD4=$(by_currency USD)
TOKEN=$TA api POST /api/orders '{"items":[{"product":"Dollars","quantity":1,"price":3.5}],"currency":"USD","payment_method":"credit_card","payment_token":"tok_decline_usd"}'
ORDER_USD=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
if ((BUS)); then wait_until 5 is_payable "$ORDER_USD"; fi
pay "$TA" "$ORDER_USD" 3.5 '"payment_method":"cash"'
settle "$(jq -r .payment.id <<<"$HTTP_BODY")" completed
expect "a USD payment completed" 200 '.payment.status == "completed" and .payment.currency == "USD"'
check "completing 3.5 USD adds 3.5 to total_amount_by_currency.USD ($USD4 -> $(by_currency USD))" \
    dec_eq "$(dec_add "$USD4" 3.5)" "$(by_currency USD)"
check "and nothing to COP ($COP4)" dec_eq "$COP4" "$(by_currency COP)"
read -r N4 AMOUNT4 <<<"$(status_counters)"
# and the totals agree with every payment the API lists
TOKEN=$TADMIN
cursor='' all="$TMP/all.json"
: >"$all"
while :; do
    api GET "/api/payments?limit=200${cursor:+&cursor=$cursor}"
    [[ $HTTP_STATUS == 200 ]] || break
    printf '%s\n' "$HTTP_BODY" >>"$all"
    cursor=$(jq -r '.next_cursor // empty' <<<"$HTTP_BODY")
    [[ -n $cursor ]] || break
done
TOKEN=
read -r LN LAMOUNT <<<"$(python3 -c '
import decimal, json, sys
n, total = 0, decimal.Decimal(0)
for line in open(sys.argv[1]):
    page = json.loads(line, parse_float=decimal.Decimal)
    for p in page["payments"]:
        n += 1
        if p["status"] == "completed":
            total += decimal.Decimal(p["amount"])
print(n, total)' "$all")"
read -r N5 AMOUNT5 <<<"$(status_counters)"
check_eq "total_payments equals the number of payments listed" "$LN" "$N5"
check "total_amount equals the sum of the completed payments listed ($LAMOUNT)" dec_eq "$LAMOUNT" "$AMOUNT5"

finish
