#!/usr/bin/env bash
# Integration: how the API judges text, against a live stack (each section
# was a defect a review found; docs/API.md says what holds now):
#
#   1. POST /api/orders: items[i].product has no control characters: a TAB
#      or a C1 control character (U+0085 NEL, U+009B CSI) inside it is 400
#      naming items[0].product, nothing stored (lib/utf8 utf8_text).
#   2. Strict JSON input: an escaped lone surrogate ("\ud800") is malformed
#      JSON (400), not turned into U+FFFD by json-c, so a name is stored as
#      sent or not at all; the same for every string member (product,
#      password).
#   3. Lengths are characters: payment_token (<= 128) and transaction_id
#      (1-100) count code points, not bytes (100 two-byte characters pass).
#   4. Query parameter names are case-sensitive: ?Limit=abc, ?STATUS=paid
#      and ?Order=desc are not limit, status and order.
#   5. One rule for text (lib/utf8 utf8_text): a product or a name that
#      shows nothing (U+00A0, U+3000, U+200B only) is empty; a C1 control is
#      refused in a name as in a product.
#
# Needs: the stack up (scripts/stack.sh up), curl, jq, python3, psql.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

RUN=$(date +%s)-$$
bad() { printf '%s and (.details | any(.field == "%s"))' "$(err INVALID_ARGUMENT)" "$1"; }

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TADMIN"
ID_A=$(signup "Review A" "rsvc-a-$RUN@example.com" correct-horse-1)
TA=$(token "rsvc-a-$RUN@example.com" correct-horse-1)
check "a customer signs up and logs in" test -n "$ID_A" -a -n "$TA"
TOKEN=$TA

order_count() {
    TOKEN=$TA api GET /api/orders/stats
    jq -r '.stats.orders // "?"' <<<"$HTTP_BODY"
}

# ==== 1. control characters in a product ========================================

BEFORE=$(order_count)
api POST /api/orders '{"items":[{"product":"Book\tSet","quantity":1,"price":1}]}'
expect "1. a TAB inside a product -> 400 naming items[0].product" 400 "$(bad 'items[0].product')"
api POST /api/orders '{"items":[{"product":"Book\u0085Set","quantity":1,"price":1}]}'
expect "1. U+0085 (NEL, a C1 control) inside a product -> 400 naming items[0].product" 400 "$(bad 'items[0].product')"
api POST /api/orders '{"items":[{"product":"Book\u009b31mSet","quantity":1,"price":1}]}'
expect "1. U+009B (CSI, a C1 control) inside a product -> 400 naming items[0].product" 400 "$(bad 'items[0].product')"
check_eq "1. no order with a control character was stored" 0 "$(delta "$BEFORE" "$(order_count)")"

# ==== 2. escaped lone surrogates ================================================

# refused as the malformed JSON it is (I-JSON, RFC 7493 2.1), or naming the member
refused() { printf '%s and ((.error | test("Malformed")) or (.details | any(.field == "%s")))' "$(err INVALID_ARGUMENT)" "$1"; }
TOKEN='' api POST /api/users "{\"name\":\"Ana\\ud800\",\"email\":\"rsvc-s-$RUN@example.com\",\"password\":\"correct-horse-1\"}"
if [[ $HTTP_STATUS == 201 ]]; then
    fail "2. a name with an escaped lone surrogate is refused (400), not rewritten" \
        "HTTP 201, stored name: $(jq -c .user.name <<<"$HTTP_BODY")"
else
    expect "2. a name with an escaped lone surrogate -> 400" 400 "$(refused name)"
fi
TOKEN='' api POST /api/users "{\"name\":\"Ana\",\"email\":\"rsvc-t-$RUN@example.com\",\"password\":\"correct-horse\\udfff\"}"
expect "2. a password with an escaped lone (low) surrogate -> 400" 400 "$(refused password)"
api POST /api/orders '{"items":[{"product":"Book\ud83d","quantity":1,"price":1}]}'
expect "2. a product ending in a lone high surrogate -> 400" 400 "$(refused 'items[0].product')"
api POST /api/orders '{"items":[{"product":"Book\ud83d\u0041","quantity":1,"price":1}]}'
expect "2. a high surrogate followed by a non-surrogate escape -> 400" 400 "$(refused 'items[0].product')"
# a proper pair is one character, kept exactly
api POST /api/orders '{"items":[{"product":"Book \ud83d\udcda","quantity":1,"price":1}]}'
expect "2. (a surrogate pair is fine: U+1F4DA stored exactly)" 201 '.order.items[0].product == "Book 📚"'

# ==== 3. lengths in characters, not bytes =======================================

TOK100=$(python3 -c 'print("tok_" + "é" * 96)')    # 100 characters, 196 bytes
api POST /api/orders "{\"items\":[{\"product\":\"Book\",\"quantity\":1,\"price\":1}],\"payment_method\":\"credit_card\",\"payment_token\":\"$TOK100\"}"
expect "3. a payment_token of 100 characters (196 bytes) is within '<= 128 characters'" 201 '.order.status == "pending"'
ORDER_T=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
order_paid() { TOKEN=$TA api GET "/api/orders/$ORDER_T"; [[ $(jq -r .order.status <<<"$HTTP_BODY") == paid ]]; }
if [[ -n $ORDER_T ]]; then
    check "3. ... and the saga charges it with that token: the order is paid" wait_until 15 order_paid
else
    fail "3. ... and the saga charges it with that token: the order is paid" "no order was created"
fi

# a cash order whose saga payment an admin fails, so that it can be paid again
api POST /api/orders '{"items":[{"product":"Book","quantity":1,"price":3}]}'
ORDER_P=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
check "3. setup: a cash order" test -n "$ORDER_P"
wait_until 15 has_payment "$ORDER_P"
TOKEN=$TADMIN api PUT "/api/payments/$(payment_of "$ORDER_P")/status" '{"status":"failed"}'
order_failed() { TOKEN=$TA api GET "/api/orders/$ORDER_P"; [[ $(jq -r .order.status <<<"$HTTP_BODY") == payment_failed ]]; }
check "3. setup: its payment failed, the order is payment_failed" wait_until 15 order_failed
TXN=$(python3 -c 'import sys; print("TX-" + sys.argv[1] + "-" + "é" * 50)' "$RUN")   # < 80 characters, > 100 bytes
api POST /api/payments "{\"order_id\":\"$ORDER_P\",\"amount\":3,\"transaction_id\":\"$TXN\"}"
expect "3. a transaction_id of < 80 characters (> 100 bytes) is within '1-100 characters'" 201 \
    ".payment.transaction_id == \"$TXN\""

# ==== 4. query parameter names are case-sensitive ===============================

api GET '/api/orders?Limit=abc'
expect "4. ?Limit=abc is not ?limit: ignored -> 200" 200 '.success == true'
api GET '/api/orders?STATUS=no-such-status'
expect "4. ?STATUS=... is not ?status: ignored -> 200" 200 '.success == true'
TOKEN=$TADMIN api GET '/api/users?Order=sideways'
expect "4. ?Order=... is not ?order: ignored -> 200" 200 '.success == true'
TOKEN=$TADMIN api GET '/api/users?limit=2&Order=desc'
expect "4. ?Order=desc does not sort the users newest first" 200 '.users[0].id < .users[1].id'

# ==== 5. one rule for text: names as products ===================================

BEFORE=$(order_count)
api POST /api/orders '{"items":[{"product":"\u00a0\u3000\u200b","quantity":1,"price":1}]}'
expect "5. a product of U+00A0, U+3000 and U+200B shows nothing -> 400 naming items[0].product" 400 \
    "$(bad 'items[0].product') and (.details[0].issue == \"must not be empty\")"
check_eq "5. ... and nothing was stored" 0 "$(delta "$BEFORE" "$(order_count)")"
TOKEN='' api POST /api/users "{\"name\":\" \\u00a0\\u3000 \",\"email\":\"rsvc-n-$RUN@example.com\",\"password\":\"correct-horse-1\"}"
expect "5. a name of spaces that trimming keeps (U+00A0, U+3000) -> 400 'must not be empty'" 400 \
    "$(bad name) and (.details[0].issue == \"must not be empty\")"
TOKEN='' api POST /api/users "{\"name\":\"Ana\\u009b31m\",\"email\":\"rsvc-c-$RUN@example.com\",\"password\":\"correct-horse-1\"}"
expect "5. a C1 control (U+009B) in a name -> 400 as in a product" 400 \
    "$(bad name) and (.details[0].issue == \"must not contain control characters\")"
TOKEN='' api POST /api/users "{\"name\":\"Ana\\u00a0Mar\\u00eda\",\"email\":\"rsvc-o-$RUN@example.com\",\"password\":\"correct-horse-1\"}"
expect "5. (U+00A0 inside a name is text: 201, kept exactly)" 201 '.user.name == "Ana\u00a0María"'

finish
