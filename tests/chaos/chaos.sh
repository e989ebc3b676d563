#!/usr/bin/env bash
# Chaos test of the order–payment saga (issue "saga", point 6).
#
# Creates orders concurrently — card (approved), card (declined), cash, and
# card orders cancelled by their owner right away — while a killer thread
# `kill -9`s svc-order, svc-payment and RabbitMQ at random moments and starts
# them again. Clients retry 5xx answers with the same Idempotency-Key, as a
# careful client would. Then it waits (bounded) for the saga to settle and
# checks, through the public API:
#   - every order that got a 201 exists;
#   - each ends where it must: approved cards `paid` with exactly one
#     completed payment of the same amount; declined `payment_failed`; cash
#     `pending` with its pending payment; cancelled `cancelled`, refunded if it
#     had been paid (no completed payment left);
#   - no order has two completed payments;
#   - the sum of completed payments equals the sum of the totals of paid,
#     shipped and delivered orders;
#   - the dead-letter queue is empty.
# It prints those figures. Knobs: CHAOS_ORDERS (default 24), CHAOS_CONCURRENCY
# (4), CHAOS_WAIT (seconds to settle, 120), CHAOS_KILL_SECONDS (how long the
# killer goes on after the last order, while the saga works: 15), CHAOS_SEED.
#
# Needs the stack up (scripts/stack.sh up) and its environment; leaves every
# component running. Prints "chaos: N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh
IT_NAME=chaos

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
ORDERS=${CHAOS_ORDERS:-24}
CONC=${CHAOS_CONCURRENCY:-4}
SETTLE=${CHAOS_WAIT:-120}
RANDOM=${CHAOS_SEED:-$$}
ADMIN_EMAIL=${ADMIN_EMAIL:-admin@comanda.local}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-admin-change-me}
KILL_MORE=${CHAOS_KILL_SECONDS:-15}   # the killer goes on this long after the last order
# RabbitMQ takes seconds to come back, the services a fraction: weight the draw
# so the services die more often and the broker still does.
VICTIMS=(svc-order svc-payment svc-order svc-payment rabbitmq)

TMP=$(mktemp -d)
touch "$TMP/placed" "$TMP/refused" "$TMP/kills"
RUN=$(date +%s%N | tail -c 10)$RANDOM
KILLER=
cleanup() {
    [[ -n $KILLER ]] && kill "$KILLER" 2>/dev/null && wait "$KILLER" 2>/dev/null
    stack up >/dev/null 2>&1 || true   # leave everything running
    rm -rf "$TMP"
}
trap cleanup EXIT

# req METHOD PATH TOKEN [BODY] [KEY]: one request; prints "STATUS BODY".
req() {
    local f="$TMP/b.$BASHPID"   # this subshell's own file (jobs run concurrently)
    local -a args=(-s -X "$1" --max-time 10 -o "$f" -w '%{http_code}')
    [[ -n $3 ]] && args+=(-H "Authorization: Bearer $3")
    [[ -n ${4:-} ]] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
    [[ -n ${5:-} ]] && args+=(-H "Idempotency-Key: $5")
    local st
    st=$(curl "${args[@]}" "$GATEWAY_URL$2") || st=000
    printf '%s %s' "$st" "$(cat "$f" 2>/dev/null)"
}

# retry METHOD PATH TOKEN BODY KEY: retries 5xx / no answer for up to 60 s.
retry() {
    local out
    for _ in $(seq 1 120); do
        out=$(req "$@")
        case ${out%% *} in 000 | 5*) sleep 0.5 ;; *) printf '%s' "$out"; return 0 ;; esac
    done
    printf '%s' "$out"
}

login() {
    local out
    out=$(retry POST /api/auth/login "" "{\"email\":\"$1\",\"password\":\"$2\"}" "")
    jq -r '.token // empty' <<<"${out#* }"
}

# ---- set-up --------------------------------------------------------------------

ADMIN=$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in" test -n "$ADMIN"
EMAIL="chaos-$RUN@example.com"
retry POST /api/users "" "{\"name\":\"Chaos $RUN\",\"email\":\"$EMAIL\",\"password\":\"chaos-password-1\"}" "" >/dev/null
CUST=$(login "$EMAIL" chaos-password-1)
check "customer logs in" test -n "$CUST"

# ---- the killer ------------------------------------------------------------------

killer() {
    local n=0 victim
    while [[ ! -e $TMP/stop ]]; do
        sleep "0.$((RANDOM % 9 + 3))"
        [[ -e $TMP/stop ]] && break
        victim=${VICTIMS[RANDOM % ${#VICTIMS[@]}]}
        stack kill-svc "$victim" >/dev/null 2>&1
        n=$((n + 1))
        echo "$victim" >>"$TMP/kills"
        sleep "0.$((RANDOM % 7 + 2))"
        stack start-svc "$victim" >/dev/null 2>&1
    done
}
killer &
KILLER=$!

# ---- orders under fire ------------------------------------------------------------

# kind of order i: approved card, declined card, cash, cancelled card
kind_of() { case $(($1 % 4)) in 0) echo card ;; 1) echo declined ;; 2) echo cash ;; 3) echo cancel ;; esac; }

place() {
    local i=$1 kind method token out st body id
    kind=$(kind_of "$i")
    case $kind in
    card | cancel) method=credit_card token=tok_visa ;;
    declined) method=credit_card token=tok_decline_chaos ;;
    cash) method=cash token="" ;;
    esac
    local price=$((i % 7 + 1)).$((i % 10))5
    # cash takes no token at all ("" is refused like any empty string)
    local tok_member=${token:+,\"payment_token\":\"$token\"}
    out=$(retry POST /api/orders "$CUST" \
        "{\"items\":[{\"product\":\"Chaos $i\",\"quantity\":$((i % 3 + 1)),\"price\":$price}],\"payment_method\":\"$method\"$tok_member}" \
        "chaos-$RUN-$i")
    st=${out%% *} body=${out#* }
    if [[ $st != 201 ]]; then
        echo "$i $kind - $st" >>"$TMP/refused"
        return
    fi
    id=$(jq -r .order._id <<<"$body")
    if [[ $kind == cancel ]]; then
        sleep "0.$((RANDOM % 5))"
        out=$(retry PUT "/api/orders/$id/status" "$CUST" '{"status":"cancelled"}' "")
        [[ ${out%% *} == 200 ]] || kind="cancel-refused-${out%% *}"
    fi
    echo "$i $kind $id" >>"$TMP/placed"
}

for i in $(seq 1 "$ORDERS"); do
    place "$i" &
    while (($(jobs -rp | wc -l) > CONC)); do sleep 0.05; done
done
# wait for the order jobs, not the killer; it keeps killing while the saga works
for pid in $(jobs -rp); do [[ $pid == "$KILLER" ]] || wait "$pid"; done
sleep "$KILL_MORE"
touch "$TMP/stop"
wait "$KILLER" 2>/dev/null
KILLER=
stack up >/dev/null 2>&1
check "the whole stack is back" wait_until 60 curl -fsS -o /dev/null "$GATEWAY_URL/ready"

PLACED=$(wc -l <"$TMP/placed")
KILLS=$(wc -l <"$TMP/kills")
check_eq "every order was eventually accepted (201)" 0 "$(wc -l <"$TMP/refused")"

# ---- settle and verify -------------------------------------------------------------

# expected NAME KIND STATUS: whether an order of KIND may rest in STATUS.
settled() {
    case $1 in
    card) [[ $2 == paid ]] ;;
    declined) [[ $2 == payment_failed ]] ;;
    cash) [[ $2 == pending ]] ;;
    cancel) [[ $2 == cancelled ]] ;;
    *) [[ $2 == paid || $2 == payment_failed || $2 == cancelled ]] ;;
    esac
}

# observe PATH: an admin GET that waits out the gateway's rate limit. The
# checks read 2 routes per order each second, above RATE_LIMIT_RPS (20) for
# 24 orders: without this, a saga slower than the burst (100) lasts made
# every later read a 429, and every order "missing".
observe() {
    local out
    for _ in $(seq 1 30); do
        out=$(req GET "$1" "$ADMIN")
        [[ ${out%% *} == 429 ]] || break
        sleep 1
    done
    printf '%s' "$out"
}

# state ID: "<status> <n completed> <n pending> <n refunded> <completed amount in cents> <total in cents>",
# or "missing <order GET status> <payments GET status>"
state() {
    local o p
    o=$(observe "/api/orders/$1")
    p=$(observe "/api/payments?order_id=$1&limit=200")
    [[ ${o%% *} == 200 && ${p%% *} == 200 ]] || { echo "missing ${o%% *} ${p%% *}"; return; }
    jq -rn --argjson o "${o#* }" --argjson p "${p#* }" '
        [$o.order.status,
         ([$p.payments[] | select(.status == "completed")] | length),
         ([$p.payments[] | select(.status == "pending")] | length),
         ([$p.payments[] | select(.status == "refunded")] | length),
         ([$p.payments[] | select(.status == "completed") | .amount * 100 | round] | add // 0),
         ($o.order.total * 100 | round)] | map(tostring) | join(" ")'
}

# Polls the orders not yet where they must rest (an order that got there
# stays there), until none is left or SETTLE seconds have passed.
declare -A rested=()
deadline=$((SECONDS + SETTLE))
while :; do
    pending=0
    while read -r _ kind id; do
        [[ -n ${rested[$id]:-} ]] && continue
        read -r status completed _ _ _ _ <<<"$(state "$id")"
        # a cancelled order may still be refunding
        if settled "$kind" "$status" && ! [[ $status == cancelled && $completed != 0 ]]; then
            rested[$id]=1
        else
            pending=$((pending + 1))
        fi
    done <"$TMP/placed"
    ((pending == 0 || SECONDS >= deadline)) && break
    sleep 1
done
((pending == 0)) || echo "chaos: $pending orders still moving after ${SETTLE}s"

declare -A ends=()
bad_state=0 double=0 wrong_amount=0 cash_without=0 missing=0
completed_sum=0 paid_sum=0
while read -r i kind id; do
    st=$(state "$id")
    if [[ $st == missing* ]]; then
        missing=$((missing + 1))
        echo "  order $i ($kind) $id: $st (the order's GET, its payments' GET)"
        continue
    fi
    read -r status completed pend refunded amount total <<<"$st"
    ends[$status]=$((${ends[$status]:-0} + 1))
    settled "$kind" "$status" || { bad_state=$((bad_state + 1)); echo "  order $i ($kind) $id ended $status"; }
    ((completed > 1)) && double=$((double + 1))
    if [[ $status == paid || $status == shipped || $status == delivered ]]; then
        paid_sum=$((paid_sum + total))
        ((completed == 1 && amount == total)) || wrong_amount=$((wrong_amount + 1))
    fi
    [[ $status == cancelled && $completed != 0 ]] && bad_state=$((bad_state + 1))
    [[ $kind == cash && $pend != 1 ]] && cash_without=$((cash_without + 1))
    completed_sum=$((completed_sum + amount))
    : "$refunded"
done <"$TMP/placed"

summary=""
for s in "${!ends[@]}"; do summary+="$s=${ends[$s]} "; done
printf 'chaos figures: %s orders placed, %s kills (%s), end states: %s\n' "$PLACED" "$KILLS" \
    "$(sort "$TMP/kills" | uniq -c | awk '{printf "%s %s, ", $2, $1}')" "$summary"
printf 'chaos figures: completed payments %s cents, paid order totals %s cents\n' "$completed_sum" "$paid_sum"

check_eq "every 201 order exists" 0 "$missing"
check_eq "every order ended where it must" 0 "$bad_state"
check_eq "no order has two completed payments" 0 "$double"
check_eq "every paid order has one completed payment of its total" 0 "$wrong_amount"
check_eq "every cash order has its pending payment" 0 "$cash_without"
check_eq "completed payments add up to the paid orders' totals" "$paid_sum" "$completed_sum"
for port in "$ORDER_ADMIN_PORT" "$PAYMENT_ADMIN_PORT"; do
    st=$(curl -s --max-time 5 "http://127.0.0.1:$port/status")
    check_json "dead-letter queue is empty (service :$port)" "$st" '.dead_letters == 0'
done

finish
