#!/usr/bin/env bash
# Integration: orders through the gateway (../API.md "Orders"; docs/API.md).
# One check per rule: the seed README's examples, every validation rule of a
# new order (items, product, quantity, price, total, currency, payment
# method, JSON types), not-found and malformed ids, every allowed status
# change and every refused one, 20 concurrent conflicting changes, list
# filters and pagination completeness while orders are being created,
# idempotent creation, isolation between customers, the stats against a walk
# of every order, and svc-user down (503 at once, nothing stored).
#
# paid comes only from payment events. When the event bus does not deliver
# them yet, the checks that need a paid order are reported as "skip" (not
# counted as passed) instead of failing.
#
# Needs the stack up (scripts/stack.sh up) and curl, jq. Every run makes
# fresh users, so it can run again on the same stack. Stops svc-user for one
# check and always starts it again (trap), even when the script fails.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"

HTTP_TIMEOUT=15
TMP=$(mktemp -d)
USER_SVC_DOWN=0
cleanup() {
    # a killed svc-user is started again whatever happened to the script
    if ((USER_SVC_DOWN)); then
        stack start-svc svc-user >/dev/null 2>&1 || printf 'WARNING: could not restart svc-user\n' >&2
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
RUN=$(date +%s%N | tail -c 10)$RANDOM   # makes this run's e-mails unique
RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$'
ORDER_KEYS='["_id","created_at","currency","history","items","payment_id","payment_method","refunded_at","status","total","updated_at","user_id"]'
SEED_ITEMS='[{"product":"Laptop Dell Inspiron","quantity":1,"price":3500000},{"product":"Mouse Logitech","quantity":2,"price":80000}]'
MISSING_ID=000000000000000000000000
# The status changes in an order's history: consecutive entries of the same
# status collapsed (payment events add notes that keep the status).
# shellcheck disable=SC2016 # a jq program: $s is jq's
CHANGES='[.order.history[].status] | reduce .[] as $s ([]; if length > 0 and .[-1] == $s then . else . + [$s] end)'

# ---- helpers -------------------------------------------------------------------

# names FIELD: a jq filter: the error's message and details name FIELD; bad FIELD: an
# INVALID_ARGUMENT envelope naming FIELD.
names() { printf '(.error | startswith("%s ")) and ([.details[]?.field] | index("%s") != null)' "$1" "$1"; }
bad() { printf '%s and %s' "$(err INVALID_ARGUMENT)" "$(names "$1")"; }
# inactive STATUS: the 403 of a caller whose own account is STATUS (suspended,
# deleted): the message says so, the reason tells it apart from a role's 403.
inactive() {
    printf '%s and .error == "Account is %s" and .reason == "ACCOUNT_INACTIVE" and (has("details") | not)' \
        "$(err PERMISSION_DENIED)" "$1"
}

# one_item PRODUCT QUANTITY PRICE: an order body with one item (JSON values
# given literally: one_item '"x"' 1.5 10).
one_item() { printf '{"items":[{"product":%s,"quantity":%s,"price":%s}]}' "$1" "$2" "$3"; }

# new_order TOKEN [BODY]: creates an order (default: one cash item of 19.99);
# prints its id ("" on failure).
new_order() {
    TOKEN=$1 api POST /api/orders "${2:-$(one_item '"Widget"' 1 19.99)}"
    [[ $HTTP_STATUS == 201 ]] && jq -r .order._id <<<"$HTTP_BODY"
}

# order_count USER_ID: how many orders the admin sees for the user (one page of 200).
order_count() {
    TOKEN=$TADMIN api GET "/api/orders?user_id=$1&limit=200"
    [[ $HTTP_STATUS == 200 ]] && jq -r .count <<<"$HTTP_BODY" || echo "error $HTTP_STATUS"
}

# order_status ID: the order's status as the admin sees it.
order_status() {
    TOKEN=$TADMIN api GET "/api/orders/$1"
    jq -r '.order.status // empty' <<<"$HTTP_BODY"
}

# set_status TOKEN ID STATUS [REASON]
set_status() {
    local body
    body=$(jq -nc --arg s "$3" --arg r "${4:-}" 'if $r == "" then {status:$s} else {status:$s,reason:$r} end')
    TOKEN=$1 api PUT "/api/orders/$2/status" "$body"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- users -----------------------------------------------------------------------

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in with ADMIN_EMAIL / ADMIN_PASSWORD" test -n "$TADMIN"
ID_A=$(signup "Orders A" "orders.a.$RUN@example.com" "orders-pass-a")
ID_B=$(signup "Orders B" "orders.b.$RUN@example.com" "orders-pass-b")
TA=$(token "orders.a.$RUN@example.com" orders-pass-a)
TB=$(token "orders.b.$RUN@example.com" orders-pass-b)
check "two customers signed up and logged in" test -n "$TA" -a -n "$TB" -a -n "$ID_A" -a -n "$ID_B"

# ---- the seed's examples -------------------------------------------------------------

SEED_BODY="{\"user_id\":1,\"items\":$SEED_ITEMS,\"total\":3660000}"
TOKEN=$TADMIN api POST /api/orders "$SEED_BODY"
expect "seed example as admin for user 1 -> 201 Order created successfully" 201 \
    '.success == true and .message == "Order created successfully" and .order.user_id == 1'
check_json "order has exactly the API's members" "$HTTP_BODY" "(.order | keys) == $ORDER_KEYS"
check_json "seed order: items, total 3660000, COP, pending, cash, no payment or refund yet" "$HTTP_BODY" \
    ".order.items == $SEED_ITEMS and .order.total == 3660000 and .order.currency == \"COP\" and .order.status == \"pending\" and .order.payment_method == \"cash\" and .order.payment_id == null and .order.refunded_at == null"
check_json "order id is a 24-hex ObjectId" "$HTTP_BODY" '.order._id | test("^[0-9a-f]{24}$")'
check_json "order timestamps are RFC 3339 UTC with milliseconds" "$HTTP_BODY" \
    "(.order.created_at | test(\"$RFC3339\")) and (.order.updated_at | test(\"$RFC3339\"))"
check_json "a new order's history is one pending entry" "$HTTP_BODY" \
    "(.order.history | length == 1) and .order.history[0].status == \"pending\" and (.order.history[0].at | test(\"$RFC3339\")) and (.order.history[0].reason | type == \"string\")"
SEED_ID=$(jq -r .order._id <<<"$HTTP_BODY")
check_eq "POST /api/orders answers Location: /api/orders/{id}" "/api/orders/$SEED_ID" "$(http_header Location)"

TOKEN=$TA api POST /api/orders "{\"user_id\":$ID_A,\"items\":$SEED_ITEMS,\"total\":3660000}"
expect "seed example as a customer for itself -> 201" 201 ".order.user_id == $ID_A and .order.total == 3660000"
ORDER_A=$(jq -r .order._id <<<"$HTTP_BODY")
TOKEN=$TA api POST /api/orders "{\"items\":$SEED_ITEMS}"
expect "user_id defaults to the caller; total is computed" 201 ".order.user_id == $ID_A and .order.total == 3660000"
TOKEN=$TA api POST /api/orders "{\"user_id\":$ID_B,\"items\":$SEED_ITEMS}"
expect "a customer ordering for someone else -> 403" 403 "$(err PERMISSION_DENIED)"
TOKEN=$TADMIN api POST /api/orders "{\"user_id\":999999999,\"items\":$SEED_ITEMS}"
expect "an admin ordering for a user that does not exist -> 400 naming user_id" 400 "$(bad user_id)"
api POST /api/orders "{\"items\":$SEED_ITEMS}"
expect "no token -> 401" 401 "$(err UNAUTHENTICATED)"

TOKEN=$TA api POST /api/orders '{"items":[{"product":"Cent","quantity":3,"price":0.01},{"product":"Book","quantity":1,"price":19.99}],"currency":"USD","payment_method":"bank_transfer"}'
expect "cents are exact: 3 x 0.01 + 19.99 = 20.02 USD, bank_transfer" 201 \
    '.order.items[0].price == 0.01 and .order.items[1].price == 19.99 and .order.total == 20.02 and .order.currency == "USD" and .order.payment_method == "bank_transfer"'
check_match "money is written with at most 2 decimals" '"total":20\.02[,}]' "$HTTP_BODY"

TOKEN=$TA api GET "/api/orders/$ORDER_A"
expect "GET /api/orders/{id} by its owner -> 200 {success, order} with history" 200 \
    ".success == true and .order._id == \"$ORDER_A\" and (.order | keys) == $ORDER_KEYS and (.order.history | length >= 1)"

# ---- validation: one check per rule (customer A, nothing stored) ---------------------

BEFORE_INVALID=$(order_count "$ID_A")
items_json() { jq -nc --argjson n "$1" '[range($n)] | map({product:"p",quantity:1,price:1})'; }
P200=$(printf 'p%.0s' {1..200})

TOKEN=$TA api POST /api/orders '{"items":[]}'
expect "0 items -> 400 naming items" 400 "$(bad items)"
TOKEN=$TA api POST /api/orders "{\"items\":$(items_json 101)}"
expect "101 items -> 400 naming items" 400 "$(bad items)"
TOKEN=$TA api POST /api/orders "$(one_item '""' 1 1)"
expect "empty product -> 400 naming items[0].product" 400 "$(bad 'items[0].product')"
TOKEN=$TA api POST /api/orders "$(one_item "\"${P200}x\"" 1 1)"
expect "201-character product -> 400 naming items[0].product" 400 "$(bad 'items[0].product')"
TOKEN=$TA api POST /api/orders "$(one_item '"Widget"' 0 1)"
expect "quantity 0 -> 400 naming items[0].quantity" 400 "$(bad 'items[0].quantity')"
TOKEN=$TA api POST /api/orders "$(one_item '"Widget"' 10001 1)"
expect "quantity 10001 -> 400 naming items[0].quantity" 400 "$(bad 'items[0].quantity')"
TOKEN=$TA api POST /api/orders "$(one_item '"Widget"' 1.5 1)"
expect "quantity 1.5 -> 400 naming items[0].quantity" 400 "$(bad 'items[0].quantity')"
TOKEN=$TA api POST /api/orders "$(one_item '"Widget"' '"2"' 1)"
expect "quantity \"2\" (a string) -> 400 naming items[0].quantity" 400 "$(bad 'items[0].quantity')"
TOKEN=$TA api POST /api/orders "$(one_item '"Widget"' 1 -1)"
expect "price -1 -> 400 naming items[0].price" 400 "$(bad 'items[0].price')"
TOKEN=$TA api POST /api/orders "$(one_item '"Widget"' 1 1.001)"
expect "price 1.001 (3 decimals) -> 400 naming items[0].price" 400 "$(bad 'items[0].price')"
TOKEN=$TA api POST /api/orders "$(one_item '"Widget"' 1 NaN)"
expect "price NaN (not JSON) -> 400 Malformed JSON" 400 "$(err INVALID_ARGUMENT) and (.error | test(\"Malformed\"))"
TOKEN=$TA api POST /api/orders "$(one_item '"Widget"' 1 1e400)"
expect "an absurdly large price -> 400 naming items[0].price" 400 "$(bad 'items[0].price')"
TOKEN=$TA api POST /api/orders "{\"items\":$SEED_ITEMS,\"total\":3660000.01}"
expect "total that does not match the items -> 400 'total does not match items'" 400 \
    "$(bad total) and .error == \"total does not match items\""
TOKEN=$TA api POST /api/orders "{\"items\":$SEED_ITEMS,\"currency\":\"XYZ\"}"
expect "unknown currency XYZ -> 400 naming currency" 400 "$(bad currency)"
TOKEN=$TA api POST /api/orders "{\"items\":$SEED_ITEMS,\"payment_method\":\"paypal\"}"
expect "unknown payment_method paypal -> 400 naming payment_method" 400 "$(bad payment_method)"
TOKEN=$TA api POST /api/orders '{"items":"Laptop"}'
expect "items of the wrong type -> 400 naming items" 400 "$(bad items)"
TOKEN=$TA api POST /api/orders '{"items":[1]}'
expect "an item that is not an object -> 400 naming items[0]" 400 "$(bad 'items[0]')"
TOKEN=$TA api POST /api/orders "$(one_item 5 1 1)"
expect "product of the wrong type -> 400 naming items[0].product" 400 "$(bad 'items[0].product')"
TOKEN=$TA api POST /api/orders "$(one_item '"Widget"' 1 '"10"')"
expect "price of the wrong type -> 400 naming items[0].price" 400 "$(bad 'items[0].price')"
TOKEN=$TA api POST /api/orders "{\"user_id\":\"$ID_A\",\"items\":$SEED_ITEMS}"
expect "user_id of the wrong type -> 400 naming user_id" 400 "$(bad user_id)"
TOKEN=$TA api POST /api/orders "{\"items\":$SEED_ITEMS,\"total\":\"3660000\"}"
expect "total of the wrong type -> 400 naming total" 400 "$(bad total)"
TOKEN=$TA api POST /api/orders "{\"items\":$SEED_ITEMS,\"currency\":1}"
expect "currency of the wrong type -> 400 naming currency" 400 "$(bad currency)"
TOKEN=$TA api POST /api/orders "{\"items\":$SEED_ITEMS,\"total\":null}"
expect "null total -> 400 naming total" 400 "$(bad total)"
TOKEN=$TA api POST /api/orders '{"items":null}'
expect "null items -> 400 naming items" 400 "$(bad items)"
TOKEN=$TA api POST /api/orders '{"total":10}'
expect "missing items -> 400 'items is required'" 400 "$(bad items) and .error == \"items is required\""
TOKEN=$TA api POST /api/orders "{\"items\":$SEED_ITEMS,\"coupon\":\"FREE\"}"
expect "unknown member -> 400 naming it" 400 "$(bad coupon)"
TOKEN=$TA api POST /api/orders '"an order"'
expect "JSON scalar body -> 400" 400 "$(err INVALID_ARGUMENT) and (.error | test(\"JSON object\"))"
TOKEN=$TA api POST /api/orders '{"items":['
expect "malformed JSON -> 400" 400 "$(err INVALID_ARGUMENT) and (.error | test(\"Malformed\"))"
TOKEN=$TA api POST /api/orders "{'items':$SEED_ITEMS}"
expect "a single-quoted member name (json-c took it) -> 400 Malformed JSON" 400 \
    "$(err INVALID_ARGUMENT) and (.error | test(\"Malformed\"))"
TOKEN=$TA api POST /api/orders '' -H 'Content-Type: text/plain' --data-binary "{\"items\":$SEED_ITEMS}"
expect "non-JSON Content-Type -> 415" 415 '.code == "UNSUPPORTED_MEDIA_TYPE"'
check_eq "no refused order was stored" 0 "$(delta "$BEFORE_INVALID" "$(order_count "$ID_A")")"

TOKEN=$TA api POST /api/orders "{\"items\":$(items_json 100)}"
expect "100 items are accepted" 201 '.order.items | length == 100'
TOKEN=$TA api POST /api/orders "$(one_item "\"$P200\"" 10000 0)"
expect "a 200-character product, quantity 10000 and price 0 are accepted" 201 \
    '(.order.items[0].product | length == 200) and .order.items[0].quantity == 10000 and .order.total == 0'

# ---- ids and isolation ------------------------------------------------------------------

TOKEN=$TA api GET "/api/orders/$MISSING_ID"
expect "a missing order -> 404 Order not found" 404 "$(err NOT_FOUND) and .error == \"Order not found\""
MISSING_BODY=$(jq -c 'del(.request_id)' <<<"$HTTP_BODY")
for id in abc 123 "${ORDER_A^^}" "${ORDER_A}0" "${ORDER_A:1}" "${ORDER_A:0:23}g"; do
    TOKEN=$TA api GET "/api/orders/$id"
    expect "malformed order id '$id' -> 400 naming id" 400 "$(bad id)"
done
TOKEN=$TA api PUT "/api/orders/not-an-id/status" '{"status":"cancelled"}'
expect "malformed id on PUT status -> 400 naming id" 400 "$(bad id)"
# an id of 128 characters or more was a 404 "Route not found"
for n in 128 600; do
    long=$(printf "${ORDER_A:0:1}%.0s" $(seq "$n"))
    TOKEN=$TA api GET "/api/orders/$long"
    expect "a $n-character order id -> 400 naming id" 400 "$(bad id)"
    TOKEN=$TA api PUT "/api/orders/$long/status" '{"status":"cancelled"}'
    expect "a $n-character order id on PUT status -> 400 naming id" 400 "$(bad id)"
done
TOKEN=$TB api GET "/api/orders/$ORDER_A"
expect "customer B reading A's order -> 404" 404 "$(err NOT_FOUND)"
check_eq "another's order answers exactly as a missing one" "$MISSING_BODY" "$(jq -c 'del(.request_id)' <<<"$HTTP_BODY")"
set_status "$TB" "$ORDER_A" cancelled
expect "customer B changing A's order -> 404" 404 "$(err NOT_FOUND)"
check_eq "A's order is untouched" pending "$(order_status "$ORDER_A")"
TOKEN=$TADMIN api GET "/api/orders/$ORDER_A"
expect "an admin reads any order" 200 ".order.user_id == $ID_A"

# ---- lists ---------------------------------------------------------------------------------

TOKEN=$TA api GET /api/orders
expect "a customer's list holds only its own orders, newest first" 200 \
    ".success == true and .count == (.orders | length) and .count >= 4 and (.orders | all(.user_id == $ID_A)) and ([.orders[].created_at] == ([.orders[].created_at] | sort | reverse)) and has(\"next_cursor\")"
TOKEN=$TB api GET /api/orders
expect "customer B does not see A's orders" 200 "(.orders | all(.user_id == $ID_B))"
TOKEN=$TB api GET "/api/orders?user_id=$ID_A"
expect "a customer's ?user_id= names nobody else: still its own orders" 200 "(.orders | all(.user_id == $ID_B))"
TOKEN=$TADMIN api GET "/api/orders?user_id=$ID_A&limit=200"
expect "admin ?user_id= filters by user" 200 ".count >= 4 and (.orders | all(.user_id == $ID_A))"
TOKEN=$TADMIN api GET "/api/orders?limit=3"
expect "admin lists everyone's orders, ?limit=3 honoured" 200 '.count == 3 and (.next_cursor | type == "string")'
TOKEN=$TA api GET "/api/orders?status=pending"
expect "?status=pending lists pending orders only" 200 '.count >= 1 and (.orders | all(.status == "pending"))'
# a key without '=' is given, as "" (it was ignored: 200, unfiltered)
for q in status=teleported status= status limit=0 limit=201 limit=abc limit user_id=0 user_id=x user_id \
    cursor=bm90LWEtY3Vyc29y; do
    TOKEN=$TADMIN api GET "/api/orders?$q"
    expect "GET /api/orders?$q -> 400 naming ${q%%=*}" 400 "$(bad "${q%%=*}")"
done

# ---- status changes that are allowed -----------------------------------------------------------

# reason: at most 500 characters, counted as characters (2-byte é here), not bytes
ID=$(new_order "$TA")
set_status "$TA" "$ID" cancelled "$(printf 'é%.0s' {1..501})"
expect "a reason of 501 characters -> 400 naming reason" 400 "$(bad reason)"
set_status "$TA" "$ID" cancelled "$(printf 'é%.0s' {1..500})"
expect "a reason of 500 two-byte characters (1000 bytes) -> 200" 200 '.order.status == "cancelled" and (.order.history[1].reason | length == 500)'
# reason "" is refused, not read as "no reason" (the history would say
# "changed by the customer", a default the client did not send), and the
# order is not changed
ID=$(new_order "$TA")
TOKEN=$TA api PUT "/api/orders/$ID/status" '{"status":"cancelled","reason":""}'
expect "an empty reason -> 400 naming reason" 400 "$(bad reason)"
# reason is text, judged by the rule of products and names (lib/utf8): a
# control character (it was stored: BEL, a newline) or white space alone
# (it was stored as the history's reason) is 400 naming reason, and the
# order is not changed
for r in '"bell\u0007"' '"two\nlines"' '"csi\u009b31m"' '"   "' '"\u00a0\u3000"'; do
    TOKEN=$TA api PUT "/api/orders/$ID/status" "{\"status\":\"cancelled\",\"reason\":$r}"
    expect "a reason $r -> 400 naming reason" 400 "$(bad reason)"
done
TOKEN=$TA api GET "/api/orders/$ID"
expect "... and the order was not changed" 200 '.order.status == "pending" and (.order.history | length == 1)'
ID=$(new_order "$TA")
set_status "$TA" "$ID" cancelled "changed my mind"
expect "pending -> cancelled by the owner -> 200 Order status updated successfully" 200 \
    ".success == true and .message == \"Order status updated successfully\" and .order.status == \"cancelled\""
check_json "the change is in the history with its reason" "$HTTP_BODY" \
    "($CHANGES) == [\"pending\",\"cancelled\"] and .order.history[1].reason == \"changed my mind\""
set_status "$TA" "$ID" cancelled
expect "cancelled -> cancelled -> 409" 409 "$(err FAILED_PRECONDITION)"
set_status "$TADMIN" "$ID" pending
expect "cancelled -> pending by an admin -> 409 with no allowed next status" 409 \
    "$(err FAILED_PRECONDITION) and .details[0].field == \"status\" and (.details[0].issue | test(\"none\"))"
ID=$(new_order "$TA")
set_status "$TADMIN" "$ID" cancelled
expect "pending -> cancelled by an admin -> 200" 200 '.order.status == "cancelled"'

# ---- status changes that are refused ------------------------------------------------------------

ID=$(new_order "$TA")
set_status "$TADMIN" "$ID" shipped
expect "pending -> shipped (admin) -> 409 with the allowed next statuses in details" 409 \
    "$(err FAILED_PRECONDITION) and .details[0].field == \"status\" and .details[0].issue == \"allowed next statuses: cancelled\""
set_status "$TADMIN" "$ID" paid
expect "pending -> paid by an admin -> 409 (only a payment makes an order paid)" 409 "$(err FAILED_PRECONDITION)"
set_status "$TADMIN" "$ID" payment_failed
expect "pending -> payment_failed by an admin -> 409" 409 "$(err FAILED_PRECONDITION)"
set_status "$TADMIN" "$ID" delivered
expect "pending -> delivered (admin) -> 409" 409 "$(err FAILED_PRECONDITION)"
set_status "$TA" "$ID" shipped
expect "a customer asking for shipped -> 403" 403 "$(err PERMISSION_DENIED)"
set_status "$TA" "$ID" delivered
expect "a customer asking for delivered -> 403" 403 "$(err PERMISSION_DENIED)"
set_status "$TA" "$ID" teleported
expect "unknown status 'teleported' -> 400 naming status" 400 "$(bad status)"
TOKEN=$TA api PUT "/api/orders/$ID/status" '{"status":null}'
expect "null status -> 400 naming status" 400 "$(bad status)"
TOKEN=$TA api PUT "/api/orders/$ID/status" '{}'
expect "missing status -> 400 naming status" 400 "$(bad status)"
TOKEN=$TA api PUT "/api/orders/$ID/status" '{"status":"cancelled","note":"x"}'
expect "unknown member in a status change -> 400 naming it" 400 "$(bad note)"
check_eq "after every refusal the order is still pending" pending "$(order_status "$ID")"

# ---- paid -> shipped -> delivered (needs payment events) ------------------------------------------

# A cash order's payment, completed by an admin, should make the order paid
# (payment.completed). The payment exists already when the bus delivered
# order.created; else it is made here.
PAID_ID=$(new_order "$TA")
PAY_ID=
for _ in 1 2 3 4 5; do
    TOKEN=$TADMIN api GET "/api/payments?order_id=$PAID_ID&status=pending"
    PAY_ID=$(jq -r '.payments[0].id // empty' <<<"$HTTP_BODY")
    [[ -n $PAY_ID ]] && break
    TOKEN=$TADMIN api POST /api/payments "{\"order_id\":\"$PAID_ID\",\"amount\":19.99,\"payment_method\":\"cash\"}"
    PAY_ID=$(jq -r '.payment.id // empty' <<<"$HTTP_BODY")
    [[ -n $PAY_ID ]] && break
    sleep 0.2 # a payment made from order.created meanwhile: look again
done
TOKEN=$TADMIN api PUT "/api/payments/${PAY_ID:-0}/status" '{"status":"completed"}'
expect "the order's cash payment is completed by an admin" 200 '.payment.status == "completed"'
is_paid() { [[ $(order_status "$PAID_ID") == paid ]]; }
if wait_until 3 is_paid; then
    pass "the order is paid within 3 s of its payment completing"
    set_status "$TA" "$PAID_ID" shipped
    expect "paid -> shipped by the customer -> 403" 403 "$(err PERMISSION_DENIED)"
    # every change this route makes keeps its reason (unlike a payment's
    # completion, no status here has none to drop)
    set_status "$TADMIN" "$PAID_ID" shipped "left the warehouse"
    expect "paid -> shipped by an admin, with a reason -> 200, the reason in the history" 200 \
        '.order.status == "shipped" and .order.history[-1].reason == "left the warehouse"'
    set_status "$TA" "$PAID_ID" cancelled
    expect "shipped -> cancelled by the owner -> 409" 409 "$(err FAILED_PRECONDITION)"
    set_status "$TADMIN" "$PAID_ID" delivered "signed for"
    expect "shipped -> delivered by an admin -> 200, the reason in the history" 200 \
        '.order.status == "delivered" and .order.history[-1].reason == "signed for"'
    check_json "history: pending, paid, shipped, delivered" "$HTTP_BODY" \
        "($CHANGES) == [\"pending\",\"paid\",\"shipped\",\"delivered\"]"
    set_status "$TADMIN" "$PAID_ID" cancelled
    expect "delivered -> cancelled -> 409 (no allowed next)" 409 "$(err FAILED_PRECONDITION)"
else
    skip "paid -> shipped -> delivered" \
        "order $PAID_ID did not reach paid within 3 s of an admin completing its payment (payment events are not delivered yet)"
fi

# ---- 20 concurrent conflicting changes --------------------------------------------------------------

ID=$(new_order "$TA")
for i in $(seq 1 20); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 15 -X PUT -H "Authorization: Bearer $TA" \
        -H 'Content-Type: application/json' --data-binary '{"status":"cancelled"}' \
        "$GATEWAY_URL/api/orders/$ID/status" >"$TMP/race.$i" &
done
wait
codes=$(cat "$TMP"/race.* | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
check_eq "20 concurrent 'cancelled' on one order: exactly one 200, nineteen 409" "200:1 409:19 " "$codes"
TOKEN=$TA api GET "/api/orders/$ID"
check_json "the order was cancelled once (one change to cancelled in its history)" "$HTTP_BODY" \
    ".order.status == \"cancelled\" and ($CHANGES) == [\"pending\",\"cancelled\"] and ([.order.history[] | select(.reason // \"\" | test(\"^changed by\"))] | length == 1)"

# ---- pagination while orders are being created --------------------------------------------------------

ID_C=$(signup "Orders C" "orders.c.$RUN@example.com" "orders-pass-c")
TC=$(token "orders.c.$RUN@example.com" orders-pass-c)
ORIGINAL=()
for i in $(seq 1 15); do
    id=$(new_order "$TC" "$(one_item "\"Page item $i\"" 1 "$i")") && ORIGINAL+=("$id")
done
check_eq "customer C created 15 orders" 15 "${#ORIGINAL[@]}"
walk=() cursor='' pages=0 shape_ok=1 extra=0
while ((pages < 50)); do
    TOKEN=$TC api GET "/api/orders?limit=4${cursor:+&cursor=$cursor}"
    [[ $HTTP_STATUS == 200 ]] || { shape_ok=0; break; }
    jq -e '.count == (.orders | length) and .count <= 4' <<<"$HTTP_BODY" >/dev/null || shape_ok=0
    mapfile -t -O "${#walk[@]}" walk < <(jq -r '.orders[]._id' <<<"$HTTP_BODY")
    pages=$((pages + 1))
    cursor=$(jq -r '.next_cursor // empty' <<<"$HTTP_BODY")
    [[ -n $cursor ]] || break
    # between page fetches new orders arrive, two at a time, while the
    # walk goes on (15 orders in pages of 4: three gaps for 2 + 2 + 1)
    for _ in 1 2; do
        ((extra < 5)) || break
        curl -s -o /dev/null --max-time 15 -X POST -H "Authorization: Bearer $TC" -H 'Content-Type: application/json' \
            --data-binary "$(one_item "\"Late item $extra\"" 1 1)" "$GATEWAY_URL/api/orders" &
        extra=$((extra + 1))
    done
done
wait
check_eq "every page of limit=4 answered 200 with count == length <= 4" 1 "$shape_ok"
check_eq "the walk saw no order twice" "${#walk[@]}" "$(printf '%s\n' "${walk[@]}" | sort -u | wc -l)"
seen_once=0
for id in "${ORIGINAL[@]}"; do
    n=$(printf '%s\n' "${walk[@]}" | grep -cx "$id")
    ((n == 1)) && seen_once=$((seen_once + 1))
done
check_eq "the walk saw each of the 15 original orders exactly once" 15 "$seen_once"
check_eq "5 orders were created during the walk" 5 "$extra"
check_eq "all 20 orders were stored" 20 "$(order_count "$ID_C")"

# ---- idempotent creation ------------------------------------------------------------------------------

IKEY="order-$RUN"
IBODY=$(one_item '"Idempotent"' 2 10.5)
TOKEN=$TA api POST /api/orders "$IBODY" -H "Idempotency-Key: $IKEY"
expect "create with an Idempotency-Key -> 201" 201 '.order.total == 21'
FIRST_BODY=$HTTP_BODY FIRST_LOCATION=$(http_header Location)
check_eq "a first request is not marked replayed" "" "$(http_header Idempotent-Replayed)"
COUNT_AFTER_FIRST=$(order_count "$ID_A")
TOKEN=$TA api POST /api/orders "$IBODY" -H "Idempotency-Key: $IKEY"
check_eq "same key + same body -> the same status (201)" 201 "$HTTP_STATUS"
check_eq "same key + same body -> the same body" "$FIRST_BODY" "$HTTP_BODY"
check_eq "the replay says Idempotent-Replayed: true" "true" "$(http_header Idempotent-Replayed)"
check_eq "the replay has the same Location" "$FIRST_LOCATION" "$(http_header Location)"
check_eq "the replay stored nothing new" 0 "$(delta "$COUNT_AFTER_FIRST" "$(order_count "$ID_A")")"
TOKEN=$TA api POST /api/orders "$(one_item '"Idempotent"' 3 10.5)" -H "Idempotency-Key: $IKEY"
expect "same key + another body -> 422 IDEMPOTENCY_KEY_REUSED" 422 \
    '.success == false and .code == "FAILED_PRECONDITION" and .reason == "IDEMPOTENCY_KEY_REUSED"'
TOKEN=$TA api POST /api/orders "$IBODY" -H "Idempotency-Key: $(printf 'k%.0s' {1..256})"
expect "a 256-character Idempotency-Key -> 400" 400 "$(bad Idempotency-Key)"

# ---- stats ---------------------------------------------------------------------------------------------

# walk_stats USER_ID: the stats of GET /api/orders/stats computed from the
# admin's walk of every page of the user's orders (jq, same shape).
walk_stats() {
    local cursor='' all='[]' page
    while :; do
        TOKEN=$TADMIN api GET "/api/orders?user_id=$1&limit=200${cursor:+&cursor=$cursor}"
        [[ $HTTP_STATUS == 200 ]] || { echo "error $HTTP_STATUS"; return; }
        page=$HTTP_BODY
        all=$(jq -c --argjson a "$all" '$a + [.orders[] | {status, currency, total, refunded_at}]' <<<"$page")
        cursor=$(jq -r '.next_cursor // empty' <<<"$page")
        [[ -n $cursor ]] || break
    done
    jq -c '{orders: length,
            by_status: (reduce .[] as $o ({"pending":0,"paid":0,"payment_failed":0,"cancelled":0,"shipped":0,"delivered":0};
                        .[$o.status] += 1)),
            received: ([.[] | select((.status == "paid" or .status == "shipped" or .status == "delivered")
                                     and .refunded_at == null)]
                       | group_by(.currency)
                       | map({currency: .[0].currency, total: (map(.total * 100 | round) | add)})
                       | sort_by(-.total, .currency)
                       | map(.total /= 100))}' <<<"$all"
}
# stats_of TOKEN [QUERY]: the stats object of GET /api/orders/stats.
stats_of() {
    TOKEN=$1 api GET "/api/orders/stats${2:+?$2}"
    [[ $HTTP_STATUS == 200 ]] && jq -c .stats <<<"$HTTP_BODY" || echo "error $HTTP_STATUS"
}
# A payment event can move an order between the walk and the count: the
# counts must match a walk taken just before and just after them.
same_as_walk() {
    local before after stats
    before=$(walk_stats "$1"); stats=$(stats_of "$2" "${3:-}"); after=$(walk_stats "$1")
    # (a walk that failed is "error N" both times, as the stats may be)
    [[ $before != error* && $before == "$after" && $stats == "$before" ]] && return 0
    printf '%s\n%s\n' "walk:  $before" "stats: $stats" >"$TMP/stats.diff"
    return 1
}
if wait_until 10 same_as_walk "$ID_A" "$TA"; then
    pass "GET /api/orders/stats: a customer's counts and received money equal the walk of its orders"
else
    fail "GET /api/orders/stats: a customer's counts equal the walk of its orders" "$(cat "$TMP/stats.diff" 2>/dev/null)"
fi
check "an admin's ?user_id= counts that user's orders, the same" wait_until 10 same_as_walk "$ID_A" "$TADMIN" "user_id=$ID_A"
check "a customer's ?user_id= names nobody else: its own counts" wait_until 10 same_as_walk "$ID_B" "$TB" "user_id=$ID_A"
TOKEN=$TADMIN api GET /api/orders/stats
expect "an admin's counts cover everyone: orders = the sum by status, at least A's and B's" 200 \
    "(.stats.orders == (.stats.by_status | add)) and .stats.orders >= $(order_count "$ID_A") + $(order_count "$ID_B") and (.stats.by_status | keys | length == 6)"
TOKEN= api GET /api/orders/stats
expect "GET /api/orders/stats without a token -> 401" 401 "$(err UNAUTHENTICATED)"
for q in user_id=0 user_id=x user_id=07; do
    TOKEN=$TADMIN api GET "/api/orders/stats?$q"
    expect "GET /api/orders/stats?$q -> 400 naming user_id" 400 "$(bad user_id)"
done

# ---- svc-user down -------------------------------------------------------------------------------------

BEFORE_DOWN=$(order_count "$ID_A")
USER_SVC_DOWN=1
stack kill-svc svc-user >/dev/null 2>&1
start=$(now_ms)
TOKEN=$TA api POST /api/orders "{\"items\":$SEED_ITEMS}"
took=$(($(now_ms) - start))
expect "svc-user down: POST /api/orders -> 503" 503 "$(err UNAVAILABLE)"
check "svc-user down: the 503 comes fast (${took} ms < 2000 ms)" test "$took" -lt 2000
check_eq "svc-user down: no order was stored" 0 "$(delta "$BEFORE_DOWN" "$(order_count "$ID_A")")"
TOKEN=$TA api POST /api/orders "$IBODY" -H "Idempotency-Key: $IKEY"
check_eq "svc-user down: a retry with an Idempotency-Key is still replayed (201), not 503" 201 "$HTTP_STATUS"
check_eq "svc-user down: the replay has the first body" "$FIRST_BODY" "$HTTP_BODY"
stack start-svc svc-user >/dev/null 2>&1 && USER_SVC_DOWN=0
check_eq "svc-user started again" 0 "$USER_SVC_DOWN"
created_again() { TOKEN=$TA api POST /api/orders "$(one_item '"After restart"' 1 1)"; [[ $HTTP_STATUS == 201 ]]; }
check "orders are created again once svc-user is back" wait_until 10 created_again

# ---- a suspended customer's retry ------------------------------------------------------------------------

# Its access token stays valid until it expires; svc-user then answers that
# the user may not order, which is only a reason to look for the first
# response (docs/API.md, Idempotency-Key).
ID_SUS=$(signup "Orders Suspended" "orders.sus.$RUN@example.com" "orders-pass-s")
TSUS=$(token "orders.sus.$RUN@example.com" orders-pass-s)
SKEY="sus-$RUN"
SBODY=$(one_item '"Before suspension"' 1 2)
TOKEN=$TSUS api POST /api/orders "$SBODY" -H "Idempotency-Key: $SKEY"
expect "a customer orders with an Idempotency-Key" 201 '.order.status == "pending"'
SFIRST=$HTTP_BODY
TOKEN=$TADMIN api PATCH "/api/users/$ID_SUS" '{"status":"suspended"}'
expect "an admin suspends that customer" 200 '.user.status == "suspended"'
SCOUNT=$(order_count "$ID_SUS")
TOKEN=$TSUS api POST /api/orders "$SBODY" -H "Idempotency-Key: $SKEY"
check_eq "suspended: the retry with the same key is still replayed (201)" 201 "$HTTP_STATUS"
check_eq "suspended: the replay has the first body" "$SFIRST" "$HTTP_BODY"
check_eq "suspended: the replay says Idempotent-Replayed: true" true "$(http_header Idempotent-Replayed)"
# A new order for themselves is about the caller's own account, not a field
# the client got wrong: 403 with the account's status and a reason, no details.
TOKEN=$TSUS api POST /api/orders "$SBODY" -H "Idempotency-Key: $SKEY-2"
expect "suspended: a new order (another key) -> 403 Account is suspended" 403 "$(inactive suspended)"
TOKEN=$TSUS api POST /api/orders "$SBODY"
expect "suspended: ... and one without a key -> 403" 403 "$(inactive suspended)"
TOKEN=$TSUS api POST /api/orders "{\"user_id\":$ID_SUS,\"items\":$SEED_ITEMS}"
expect "suspended: ... and one naming its own user_id -> 403" 403 "$(inactive suspended)"
# An admin naming a suspended member: that member is the field at fault.
TOKEN=$TADMIN api POST /api/orders "{\"user_id\":$ID_SUS,\"items\":$SEED_ITEMS}"
expect "an admin ordering for a suspended user -> 400 naming user_id" 400 "$(bad user_id)"
check_eq "suspended: no order was stored" 0 "$(delta "$SCOUNT" "$(order_count "$ID_SUS")")"

# The same for a deleted account (a soft delete: its token stays valid too).
ID_DEL=$(signup "Orders Deleted" "orders.del.$RUN@example.com" "orders-pass-d")
TDEL=$(token "orders.del.$RUN@example.com" orders-pass-d)
TOKEN=$TDEL api POST /api/orders "$SBODY"
expect "a customer about to be deleted orders" 201 '.order.status == "pending"'
TOKEN=$TADMIN api DELETE "/api/users/$ID_DEL"
expect "an admin deletes that customer" 200 '.user.status == "deleted"'
DCOUNT=$(order_count "$ID_DEL")
TOKEN=$TDEL api POST /api/orders "$SBODY" -H "Idempotency-Key: del-$RUN"
expect "deleted: a new order -> 403 Account is deleted" 403 "$(inactive deleted)"
TOKEN=$TADMIN api POST /api/orders "{\"user_id\":$ID_DEL,\"items\":$SEED_ITEMS}"
expect "an admin ordering for a deleted user -> 400 naming user_id" 400 "$(bad user_id)"
check_eq "deleted: no order was stored" 0 "$(delta "$DCOUNT" "$(order_count "$ID_DEL")")"

# ---- request ids -----------------------------------------------------------------------------------------

TOKEN=$TA api GET "/api/orders/$MISSING_ID" '' -H 'X-Request-Id: orders-test-1'
check_json "the request id is echoed in error bodies" "$HTTP_BODY" '.request_id == "orders-test-1"'
check_eq "the request id is echoed as a header" "orders-test-1" "$(http_header X-Request-Id)"

finish
