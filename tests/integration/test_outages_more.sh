#!/usr/bin/env bash
# Integration: the outages an operator tests after test_outages.sh's, made
# for real on the stack's own servers, with the same promises
# (docs/OPERATIONS.md, "When a database or the broker is down"): writes that
# need only a database still succeed, routes that need a missing server
# answer 503 before the deadline (504 only for the calls already waiting on
# a hung service), nothing refused is stored, no program crashes or hangs,
# and everything answers again once the server is back, without restarting
# any of our programs.
#
#   RabbitMQ frozen (SIGSTOP of its Erlang VM: it accepts connections and
#   answers nothing): orders, sign-ups and an admin's payment completion
#   succeed; /health, /status and /ready answer at once and name the broker;
#   after SIGCONT the events the outboxes held go out and the saga ends
#   (a card order paid, a completed cash payment's order paid)
#   RabbitMQ frozen, the services stopped (SIGTERM) and started meanwhile:
#   each stops within 10 s with status 0 and starts, reporting the broker
#   down; after SIGCONT their events go out too
#   svc-order hung, then svc-payment hung (SIGSTOP), as test_outages.sh does
#   svc-user: the calls that need them get 504 at the deadline, then 503 at
#   once from the gateway's circuit breaker; the other routes keep working
#   programs started while a dependency is down: svc-payment while its
#   database refuses connections, then while another process holds the
#   migration lock, svc-order while FerretDB is down, and while FerretDB
#   runs but its PostgreSQL is down. Each
#   waits (it serves only once its database is migrated, deploy/k8s/README.md:
#   /ready names it meanwhile), stops at once on SIGTERM, and serves as soon
#   as the database is back; and one whose indexes the server refuses
#   (a server that answers pings) exits 1 at once, naming the refusal
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1
: "${COMANDA_RUN_DIR:?no stack environment (scripts/stack.sh up)}"
source "$(dirname "${BASH_SOURCE[0]}")/outage_lib.sh"
outage_setup || { finish; exit 1; }
# A session of ours that holds the migration lock (below), ended by the trap too.
MIGLOCK_APP=comanda-test-miglock-$$
release_miglock() { pg_end_sessions "$MIGLOCK_APP"; }
trap 'release_miglock; outage_thaw_all' EXIT

ITEMS='"items":[{"product":"Outage more","quantity":1,"price":3.25}]'
CARD="{$ITEMS,\"payment_method\":\"credit_card\",\"payment_token\":\"tok_visa\"}"
CASH="{$ITEMS}"

payment_status() { pg_pay "SELECT status FROM payments WHERE id = $1"; }
payments_of() { pg_pay "SELECT count(*) FROM payments WHERE order_id = '$1'"; }

# The gateway's /status: every service degraded, with the broker down.
broker_down_in_status() {
    curl -s --max-time 3 "$GATEWAY_URL/status" | jq -e '.services | to_entries | length == 3 and
        all(.value == "degraded")' >/dev/null &&
        curl -s --max-time 3 "$GATEWAY_URL/status" | jq -e '[.details[].down] | all(index("broker") != null)' >/dev/null
}

# timed_get NAME URL STATUS MAX_MS [JQ_FILTER]: a GET of any URL answers
# STATUS within MAX_MS, its body passing the filter.
timed_get() {
    local start ms
    start=$(date +%s%3N)
    http GET "$2"
    ms=$(($(date +%s%3N) - start))
    expect "$1: $3 (${ms} ms)" "$3" "${5:-true}"
    check "... within ${4} ms" test "$ms" -lt "$4"
}

gateway_pid=$(prog_pid gateway)

# ---- RabbitMQ frozen -------------------------------------------------------------------
# First a card order paid while the broker runs: every relay and consumer
# then has its connection open and in use, as in a running system, so the
# freeze finds them at work, not connecting. A cash order's payment waits
# pending, for an admin to complete during the freeze (an event in
# svc-payment's outbox).
W=$(new_order warm "$CARD")
check "set up: a card order paid before the freeze (${W:-none})" wait_until 30 is_paid "$W"
C=$(new_order cash "$CASH")
check "set up: a cash order with its pending payment (${C:-none})" wait_until 30 has_payment "$C"
C_PAY=$(payment_of "$C")
pids_before="$(prog_pid svc-user) $(prog_pid svc-order) $(prog_pid svc-payment) $gateway_pid"
# An admin port's /status and /metrics count rows in the service's database,
# which takes what it takes whatever the broker does: the broker may add
# nothing to what they take with it up (plus a margin).
declare -A status_ms
for port in "$USER_ADMIN_PORT" "$ORDER_ADMIN_PORT" "$PAYMENT_ADMIN_PORT"; do
    start=$(date +%s%3N)
    curl -s -o /dev/null --max-time 10 "http://127.0.0.1:$port/status"
    status_ms[$port]=$(($(date +%s%3N) - start + 500))
done

bp=$(broker_vm_pid)
check "set up: RabbitMQ's Erlang VM pid (${bp:-none})" test -n "$bp"
kill -STOP "$bp"
works "RabbitMQ frozen: POST /api/orders (card) still succeeds" POST /api/orders "$CARD" 201
A=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
check "... at once (the outbox keeps its event)" test "$TOOK_MS" -lt 1000
works "RabbitMQ frozen: POST /api/users still succeeds" POST /api/users "$(new_user frozen-broker)" 201
works "RabbitMQ frozen: an admin completes the cash payment (svc-payment's outbox keeps its event)" \
    PUT "/api/payments/$C_PAY/status" '{"status":"completed"}' 200
works "RabbitMQ frozen: GET /api/orders/{id}" GET "/api/orders/$A" "" 200
check "RabbitMQ frozen: within 5 s the gateway's /status shows every service degraded, the broker down" \
    wait_until 5 broker_down_in_status
timed_get "RabbitMQ frozen: gateway GET /health" "$GATEWAY_URL/health" 200 500
timed_get "RabbitMQ frozen: gateway GET /status (a 1 s budget)" "$GATEWAY_URL/status" 200 1500 '.status == "degraded"'
timed_get "RabbitMQ frozen: gateway GET /ready" "$GATEWAY_URL/ready" 503 1500 '.not_ready | length == 3'
for port in "$USER_ADMIN_PORT" "$ORDER_ADMIN_PORT" "$PAYMENT_ADMIN_PORT"; do
    timed_get "RabbitMQ frozen: admin :$port /health" "http://127.0.0.1:$port/health" 503 500 \
        '.status == "unhealthy" and (.down | index("broker") != null)'
    timed_get "RabbitMQ frozen: admin :$port /status" "http://127.0.0.1:$port/status" 200 "${status_ms[$port]}" \
        '.status == "degraded" and .dead_letters == null'
    start=$(date +%s%3N)
    http GET "http://127.0.0.1:$port/metrics"
    ms=$(($(date +%s%3N) - start))
    check_match "RabbitMQ frozen: admin :$port /metrics: 200, broker 0 (${ms} ms)" \
        '^200 .*comanda_dependency_up\{dependency="broker"\} 0' "$HTTP_STATUS ${HTTP_BODY//$'\n'/ }"
    check "... within ${status_ms[$port]} ms" test "$ms" -lt "${status_ms[$port]}"
done
# The relays have met the frozen broker (a publish whose confirms never
# come); the consumers wait on connections that say nothing.
sleep 3
kill -CONT "$bp"
check "RabbitMQ thawed: the card order made while it was frozen ends paid" wait_until 30 is_paid "$A"
check "... and so does the cash order whose payment was completed meanwhile" wait_until 30 is_paid "$C"
back "RabbitMQ thawed"
check_eq "... and no program was restarted" "$pids_before" \
    "$(prog_pid svc-user) $(prog_pid svc-order) $(prog_pid svc-payment) $(prog_pid gateway)"

# ---- RabbitMQ frozen: the services stopped and started meanwhile ---------------------
# A rolling update or a node drain during the freeze: each service must stop
# within Kubernetes' grace period (30 s; here 10 s), the consumer's cancel
# and the relay's close bounded by the bus's timeout, and start again
# without the broker.
B=$(new_order held "$CARD")
check "set up: a card order to be paid (${B:-none})" test -n "$B"
bp=$(broker_vm_pid)
kill -STOP "$bp"
check "RabbitMQ frozen again: /status sees it" wait_until 5 broker_down_in_status
declare -A mark took
for s in svc-user svc-order svc-payment; do
    mark[$s]=$(log_mark "$s")
    stop_timed "$s" >"$COMANDA_RUN_DIR/stop.$s" &
done
wait
for s in svc-user svc-order svc-payment; do
    took[$s]=$(cat "$COMANDA_RUN_DIR/stop.$s")
    rm -f "$COMANDA_RUN_DIR/stop.$s"
    check "RabbitMQ frozen: $s stops on SIGTERM within 10 s (${took[$s]} ms)" \
        under 10000 "${took[$s]}"
    check "... with exit status 0" log_since "$s" "${mark[$s]}" '"stopped \(exit status 0\)"'
done
for s in svc-user svc-order svc-payment; do
    check "RabbitMQ frozen: $s starts again" stack start-svc "$s"
done
health_broker_down() { curl -s --max-time 2 "http://127.0.0.1:$1/health" | jq -e '.down | index("broker") != null'; }
for port in "$USER_ADMIN_PORT" "$ORDER_ADMIN_PORT" "$PAYMENT_ADMIN_PORT"; do
    check "... admin :$port /health reports the broker down" wait_until 5 health_broker_down "$port"
done
works "RabbitMQ frozen, services restarted: POST /api/orders (card) succeeds" POST /api/orders "$CARD" 201
D=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
sleep 2
kill -CONT "$bp"
check "RabbitMQ thawed: the order held by the stopped svc-order's outbox ends paid" wait_until 30 is_paid "$B"
check "... and so does the one made after the restart" wait_until 30 is_paid "$D"
back "RabbitMQ thawed after the restarts"

# ---- svc-order hung -------------------------------------------------------------------
O=$(new_order hung-order "$CASH")
check "set up: an order with its payment (${O:-none})" wait_until 30 has_payment "$O"
O_PAY=$(payment_of "$O")
op=$(prog_pid svc-order)
kill -STOP "$op"
hung_calls "svc-order hung" "/api/orders/$O"
at_once "svc-order hung, five timeouts in a row: GET /api/orders/{id}" GET "/api/orders/$O"
at_once "svc-order hung: POST /api/orders" POST /api/orders "$CASH"
# svc-payment asks svc-order about the order first, with its own timeout
unavailable "svc-order hung: POST /api/payments (svc-payment needs the order)" POST /api/payments \
    "{\"order_id\":\"$O\",\"amount\":3.25,\"payment_method\":\"cash\"}"
works "svc-order hung: GET /api/users/{id} still works" GET "/api/users/$ADMIN_ID" "" 200
works "svc-order hung: GET /api/payments/{id} still works" GET "/api/payments/$O_PAY" "" 200
works "svc-order hung: GET /health still answers" GET /health "" 200
timed_get "svc-order hung: /ready names it" "$GATEWAY_URL/ready" 503 1500 '.not_ready == ["order-service"]'
kill -CONT "$op"
check "svc-order resumed: the probe finds it answering and the API follows" wait_until 10 orders_ok
check_eq "... and the payment refused while it was hung was not stored" 1 "$(payments_of "$O")"
back "svc-order resumed"

# ---- svc-payment hung -------------------------------------------------------------------
P=$(new_order hung-payment "$CASH")
check "set up: an order with a pending payment (${P:-none})" wait_until 30 has_payment "$P"
P_PAY=$(payment_of "$P")
pp=$(prog_pid svc-payment)
kill -STOP "$pp"
hung_calls "svc-payment hung" "/api/payments/$P_PAY"
at_once "svc-payment hung, five timeouts in a row: GET /api/payments" GET "/api/payments?limit=5"
at_once "svc-payment hung: PUT /api/payments/{id}/status" PUT "/api/payments/$P_PAY/status" '{"status":"completed"}'
works "svc-payment hung: POST /api/orders still succeeds (its event waits)" POST /api/orders "$CASH" 201
E=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
works "svc-payment hung: GET /api/orders/{id} still works" GET "/api/orders/$P" "" 200
works "svc-payment hung: GET /api/users/{id} still works" GET "/api/users/$ADMIN_ID" "" 200
timed_get "svc-payment hung: /ready names it" "$GATEWAY_URL/ready" 503 1500 '.not_ready == ["payment-service"]'
kill -CONT "$pp"
check "svc-payment resumed: the probe finds it answering and the API follows" wait_until 10 payments_ok
check_eq "... the completion refused while it was hung was not applied" pending "$(payment_status "$P_PAY")"
check "... and the order made meanwhile gets its payment" wait_until 30 has_payment "$E"
back "svc-payment resumed"

# ---- programs started while a dependency is down --------------------------------------
# A service serves only once its database is there and migrated
# (deploy/k8s/README.md: the startup probe allows 5 minutes); meanwhile it
# waits, says so in its log, and stops at once when told to.
stack stop-svc svc-payment >/dev/null 2>&1
pg_admin -c "ALTER DATABASE comanda_payments ALLOW_CONNECTIONS false" \
    -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'comanda_payments'" >/dev/null
m=$(log_mark svc-payment)
stack start-svc svc-payment --no-wait >/dev/null 2>&1
check "svc-payment started while its database refuses connections: it says it waits" \
    wait_until 10 log_since svc-payment "$m" 'waiting for the database'
sp=$(prog_pid svc-payment)
check "... and keeps waiting (it does not exit)" kill -0 "$sp"
state_of() { curl -s --max-time 3 "$GATEWAY_URL/status" | jq -r --arg s "$1" '.services[$s]'; }
check_eq "... the gateway calls it offline" offline "$(state_of payment-service)"
works "... and orders are still taken (the payment waits in the event)" POST /api/orders "$CASH" 201
F=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
pg_admin -c "ALTER DATABASE comanda_payments ALLOW_CONNECTIONS true" >/dev/null
check "payments database back: svc-payment serves, without a restart" wait_until 20 payments_ok
check_eq "... the same process" "$sp" "$(prog_pid svc-payment)"
check "... and the order made meanwhile gets its payment" wait_until 30 has_payment "$F"

# Another process holds the migration lock (a replica applying a long
# migration, or frozen in the middle of one): a service started meanwhile
# waits for it, says so, and stops at once when told to (a rollout called
# off) rather than at the end of the other's migration.
stack stop-svc svc-payment >/dev/null 2>&1
# the key is lib/pg.c's PG_MIGRATE_LOCK
PGAPPNAME=$MIGLOCK_APP pg_admin -d comanda_payments -c "SELECT pg_advisory_lock(27988538271097953)" \
    -c "SELECT pg_sleep(300)" >/dev/null 2>&1 &
miglock_pid=$!
miglock_held() {
    [[ $(pg_admin -d comanda_payments -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = '$MIGLOCK_APP'") == 1 ]]
}
check "set up: a session of ours holds the migration lock" wait_until 5 miglock_held
m=$(log_mark svc-payment)
stack start-svc svc-payment --no-wait >/dev/null 2>&1
check "svc-payment started while another process holds the migration lock: it says it waits" \
    wait_until 10 log_since svc-payment "$m" 'another process is applying the migrations'
took=$(stop_timed svc-payment)
check "... and stops within 3 s on SIGTERM (${took} ms)" under 3000 "$took"
check "... with exit status 0" log_since svc-payment "$m" '"stopped \(exit status 0\)"'
stack start-svc svc-payment --no-wait >/dev/null 2>&1
sp=$(prog_pid svc-payment)
release_miglock
wait "$miglock_pid" 2>/dev/null
check "the lock released: svc-payment serves, without a restart" wait_until 20 payments_ok
check_eq "... the same process" "$sp" "$(prog_pid svc-payment)"

stack stop-svc svc-order >/dev/null 2>&1
stack kill-svc ferretdb >/dev/null 2>&1
m=$(log_mark svc-order)
stack start-svc svc-order --no-wait >/dev/null 2>&1
check "svc-order started while FerretDB is down: it says it waits" \
    wait_until 10 log_since svc-order "$m" 'waiting for MongoDB'
took=$(stop_timed svc-order)
check "... and stops within 3 s on SIGTERM (${took} ms)" under 3000 "$took"
check "... with exit status 0" log_since svc-order "$m" '"stopped \(exit status 0\)"'
stack start-svc svc-order --no-wait >/dev/null 2>&1
so=$(prog_pid svc-order)
works "svc-order waiting: GET /api/users/{id} still works" GET "/api/users/$ADMIN_ID" "" 200
stack start-svc ferretdb >/dev/null 2>&1
check "FerretDB back: svc-order serves, without a restart" wait_until 20 orders_ok
check_eq "... the same process" "$so" "$(prog_pid svc-order)"
back "every dependency back"

# FerretDB up, its PostgreSQL down: FerretDB takes svc-order's connection
# and answers each command with an InternalError (code 1, "failed to
# connect to ..."), the code MongoDB gives a real fault too. svc-order
# tells the one from the other by the server failing a ping, and waits
# rather than exiting as on a refusal.
stack stop-svc svc-order >/dev/null 2>&1
stack stop-svc postgres >/dev/null 2>&1
check "set up: FerretDB runs on with its PostgreSQL stopped" pid_running "$(prog_pid ferretdb)"
m=$(log_mark svc-order)
stack start-svc svc-order --no-wait >/dev/null 2>&1
so=$(prog_pid svc-order)
check "svc-order started while FerretDB's PostgreSQL is down: it says it waits" \
    wait_until 10 log_since svc-order "$m" 'waiting for MongoDB to create the indexes'
# past a few retries of its backoff (0.25, 0.5, 1, 2 s)
sleep 4
check "... and keeps waiting (it does not exit)" pid_running "$so"
check_not "... it took no answer for a refusal" log_since svc-order "$m" 'createIndexes refused|exit status 1'
check_eq "... the gateway calls it offline" offline "$(state_of order-service)"
timed_get "... /ready names it" "$GATEWAY_URL/ready" 503 1500 '.not_ready | index("order-service") != null'
stack start-svc postgres >/dev/null 2>&1
check "PostgreSQL back: svc-order serves, without a restart" wait_until 20 orders_ok
check_eq "... the same process" "$so" "$(prog_pid svc-order)"
back "PostgreSQL back"
G=$(new_order ferretdb-backend "$CARD")
check "... an order is taken (${G:-none}) and paid" wait_until 30 is_paid "$G"

# A refusal is no outage: a server that answers pings and refuses the
# indexes (here a database name past MongoDB's and FerretDB's limit of 63
# characters: InvalidNamespace, 73) stops a svc-order of our own (ports
# of its own) at once, exit status 1, naming the refusal, instead of
# keeping it waiting.
read -r R_RPC R_ADMIN < <(free_ports 2)
R_LOG=$COMANDA_RUN_DIR/logs/svc-order-refused.log
start=$(date +%s%3N)
env -u COMANDA_STACK_ID ORDER_MONGO_URL="${ORDER_MONGO_URL%/*}/$(printf 'x%.0s' {1..70})" \
    ORDER_RPC_LISTEN="tcp://127.0.0.1:$R_RPC" ORDER_ADMIN_PORT="$R_ADMIN" \
    timeout 30 "${COMANDA_BIN_DIR:-build/bin}/svc-order" >"$R_LOG" 2>&1
rc=$?
took=$(($(date +%s%3N) - start))
check_eq "svc-order whose indexes MongoDB refuses exits with status 1" 1 "$rc"
check "... at once (${took} ms)" under 5000 "$took"
check "... its log names the refusal (index, code name, message)" \
    grep -qE '"createIndexes refused".*"code_name":"InvalidNamespace".*"error":"Invalid namespace' "$R_LOG"
check_not "... it did not take it for an outage" grep -q 'waiting for MongoDB' "$R_LOG"

check_eq "the gateway was never restarted" "$gateway_pid" "$(prog_pid gateway)"
trap - EXIT
finish
