#!/usr/bin/env bash
# Integration: a page of GET /api/orders holds as many orders as fit in one
# RPC frame, and says where the rest are. The API allows pages of 200 orders
# of 100 items with 200-character products (~16 MB), far past RPC_FRAME_MAX
# (4 MiB, lib/rpc.h): before, such a page was dropped by the gateway as an
# oversized frame and answered 503 after the deadline, though svc-order had
# answered OK. Now svc-order ends a page early at its byte budget, with a
# next_cursor, and paging visits every order once.
#
# Needs the stack up (scripts/stack.sh up) and curl, jq, python3.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
HTTP_TIMEOUT=30
RUN=$(date +%s%N | tail -c 10)$RANDOM
N=60

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$TADMIN"
UID_BIG=$(signup "Big pages" "pages.$RUN@example.com" "pages-password-1")
check "a customer signs up" test -n "$UID_BIG"
TC=$(token "pages.$RUN@example.com" pages-password-1)

# the largest order the API takes: 100 items, each product 200 characters
# of 4 bytes in UTF-8 (~83 KB an order)
BODY=$(python3 -c '
import json
p = "\U0001F600" * 200
print(json.dumps({"items": [{"product": p, "quantity": 1, "price": 1} for _ in range(100)], "payment_method": "cash"}, ensure_ascii=False))')
made=0
for _ in $(seq 1 "$N"); do
    TOKEN=$TC api POST /api/orders "$BODY"
    [[ $HTTP_STATUS == 201 ]] && made=$((made + 1))
done
check_eq "$N orders of 100 items of 200 four-byte characters created (~5 MB in all)" "$N" "$made"

# walk TOKEN QUERY: follows next_cursor from ?QUERY&limit=200; prints
# "pages first_page_count ids_seen distinct_ids statuses"
walk() {
    local tok=$1 q=$2 cursor='' pages=0 first='' ids='' statuses=''
    while :; do
        TOKEN=$tok api GET "/api/orders?$q&limit=200${cursor:+&cursor=$cursor}"
        statuses+="$HTTP_STATUS "
        [[ $HTTP_STATUS == 200 ]] || break
        pages=$((pages + 1))
        [[ -n $first ]] || first=$(jq '.count' <<<"$HTTP_BODY")
        ids+=$(jq -r '.orders[]._id' <<<"$HTTP_BODY")$'\n'
        cursor=$(jq -r '.next_cursor // empty' <<<"$HTTP_BODY")
        [[ -n $cursor ]] || break
    done
    printf '%s %s %s %s %s\n' "$pages" "${first:-0}" "$(grep -c . <<<"$ids")" "$(grep . <<<"$ids" | sort -u | wc -l)" \
        "$(tr ' ' '\n' <<<"$statuses" | grep . | sort -u | tr '\n' ',')"
}

read -r pages first seen distinct statuses <<<"$(walk "$TC" "status=pending")"
check_eq "the customer's ?limit=200: every page 200" "200," "$statuses"
check "the first page ends early, at the frame's budget ($first of $N orders)" test "$first" -lt "$N" -a "$first" -ge 1
check "so there is more than one page ($pages)" test "$pages" -gt 1
check_eq "paging visits all $N orders" "$N" "$seen"
check_eq "each once" "$N" "$distinct"

read -r pages first seen distinct statuses <<<"$(walk "$TADMIN" "user_id=$UID_BIG")"
check_eq "an admin's listing of that user: every page 200" "200," "$statuses"
check_eq "an admin's listing visits all $N orders once" "$N $N" "$seen $distinct"

finish
