#!/usr/bin/env bash
# Integration: the public API while a database or the broker is down.
# "A dependency that is down gives 503 fast, never a hang or a crash":
# each outage below is made for real on the stack's own servers, and the
# routes that need the missing server must answer 503 UNAVAILABLE (the JSON
# envelope, with a request id) before the gateway's RPC deadline would turn
# them into 504s; once the service's health probe has seen the outage
# (~2 s), at once. Routes that do not need it keep working, a write refused
# during an outage stored nothing, and everything answers 200 again once
# the server is back, without restarting any of our programs.
#
#   PostgreSQL frozen (SIGSTOP: it accepts connections and never answers)
#   PostgreSQL killed (svc-order's FerretDB stores its data there too)
#   FerretDB killed, then frozen (MongoDB's place in the local stack)
#   svc-payment's database refusing connections for 15 s, longer than an
#   event's retries used to last: its consumer holds the event (BUS_WAIT)
#   and nothing is dead-lettered
#   svc-user hung (SIGSTOP): the calls in flight get 504 at the deadline,
#   then the gateway's circuit breaker answers 503 at once until it answers
#   RabbitMQ killed: writes still succeed (the outboxes), and the events go
#   out once it is back
#
# The deadline is the gateway's RPC_TIMEOUT_MS (2 s by default). A frozen
# FerretDB fails the request already sent to it at the socket timeout of
# svc-order's workers, the deadline less 100 ms (libmongoc 1.23 has no limit
# per operation; docs/OPERATIONS.md).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1
: "${COMANDA_RUN_DIR:?no stack environment (scripts/stack.sh up)}"

source "$(dirname "${BASH_SOURCE[0]}")/outage_lib.sh"
outage_setup || { finish; exit 1; }
trap outage_thaw_all EXIT
TOKEN=$TADMIN api POST /api/orders '{"items":[{"product":"Outage test","quantity":1,"price":2.50}]}'
ORDER_ID=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
check "set up: an order to read back (${ORDER_ID:-none})" test -n "$ORDER_ID"

# ---- PostgreSQL frozen -------------------------------------------------------------
p=$(pg_pid)
check "set up: PostgreSQL's postmaster pid (${p:-none})" test -n "$p"
pkill -STOP -P "$p"; kill -STOP "$p"
unavailable "PostgreSQL frozen: GET /api/users/{id}" GET "/api/users/$ADMIN_ID"
unavailable "PostgreSQL frozen: POST /api/users" POST /api/users "$(new_user frozen)"
unavailable "PostgreSQL frozen: GET /api/payments" GET "/api/payments?limit=5"
sleep 1
at_once "PostgreSQL frozen, probe aware: GET /api/users/{id}" GET "/api/users/$ADMIN_ID"
at_once "PostgreSQL frozen, probe aware: POST /api/auth/login" POST /api/auth/login \
    "$(jq -nc --arg e "$ADMIN_EMAIL" --arg p "$ADMIN_PASSWORD" '{email:$e,password:$p}')"
at_once "PostgreSQL frozen, probe aware: GET /api/payments" GET "/api/payments?limit=5"
works "PostgreSQL frozen: GET /health still answers (the gateway alone)" GET /health "" 200
kill -CONT "$p"; pkill -CONT -P "$p"
back "PostgreSQL thawed"
works "the user refused while it was frozen was not stored: created now" POST /api/users "$(new_user frozen)" 201

# ---- PostgreSQL killed -------------------------------------------------------------
stack kill-svc postgres >/dev/null 2>&1
unavailable "PostgreSQL down: GET /api/users/{id}" GET "/api/users/$ADMIN_ID"
unavailable "PostgreSQL down: GET /api/orders/{id} (FerretDB stores there)" GET "/api/orders/$ORDER_ID"
unavailable "PostgreSQL down: POST /api/users" POST /api/users "$(new_user killed)"
sleep 1
at_once "PostgreSQL down, probe aware: GET /api/payments" GET "/api/payments?limit=5"
at_once "PostgreSQL down, probe aware: POST /api/orders" POST /api/orders \
    '{"items":[{"product":"Outage test","quantity":1,"price":1.00}]}'
stack start-svc postgres >/dev/null 2>&1
back "PostgreSQL restarted"
works "the user refused while it was down was not stored: created now" POST /api/users "$(new_user killed)" 201

# an order of its own for what follows (see orders_ok)
TOKEN=$TADMIN api POST /api/orders '{"items":[{"product":"Outage test","quantity":1,"price":2.75}]}'
ORDER_ID=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
check "set up: another order to read back (${ORDER_ID:-none})" test -n "$ORDER_ID"

# ---- FerretDB killed, then frozen ----------------------------------------------------
stack kill-svc ferretdb >/dev/null 2>&1
unavailable "FerretDB down: GET /api/orders/{id}" GET "/api/orders/$ORDER_ID"
unavailable "FerretDB down: POST /api/orders" POST /api/orders '{"items":[{"product":"Outage test","quantity":1,"price":1.00}]}'
works "FerretDB down: GET /api/users/{id} still works" GET "/api/users/$ADMIN_ID" "" 200
sleep 1
at_once "FerretDB down, probe aware: GET /api/orders" GET "/api/orders?limit=5"
stack start-svc ferretdb >/dev/null 2>&1
back "FerretDB restarted"

fp=$(prog_pid ferretdb)
kill -STOP "$fp"
unavailable "FerretDB frozen, before its probe knows: GET /api/orders/{id} (the workers' socket timeout)" \
    GET "/api/orders/$ORDER_ID"
sleep 1   # its probe hangs: stale after 1.5 s (lib/health.h)
at_once "FerretDB frozen, probe aware: GET /api/orders/{id}" GET "/api/orders/$ORDER_ID"
at_once "FerretDB frozen, probe aware: PUT /api/orders/{id}/status" PUT "/api/orders/$ORDER_ID/status" '{"status":"cancelled"}'
works "FerretDB frozen: GET /api/payments still works" GET "/api/payments?limit=5" "" 200
kill -CONT "$fp"
back "FerretDB thawed"
TOKEN=$TADMIN api GET "/api/orders/$ORDER_ID"
check_json "the cancel refused while it was frozen was not applied" "$HTTP_BODY" \
    ".order._id == \"$ORDER_ID\" and .order.status != \"cancelled\""

# ---- svc-payment's database refusing connections, for longer than retries last --------
# Only svc-payment's database goes (the others share the server): its event
# consumer meets the outage with an order.created in hand. A dependency that
# is down makes the consumer hold the event and try again in place (BUS_WAIT)
# instead of handing it back 10 times within ~11 s and dead-lettering it.
# the one dead-letter queue, as svc-user counts it (svc-payment's /status is degraded meanwhile)
dead_letters() { curl -s --max-time 3 "http://127.0.0.1:$USER_ADMIN_PORT/status" | jq -r '.dead_letters // "none"'; }
dl_before=$(dead_letters)
# (both counts "none" or empty, the broker or svc-user not telling, would
# compare equal: the count must be one to begin with)
check_match "set up: svc-user's /status counts the dead letters ($dl_before)" '^[0-9]+$' "$dl_before"
pg_admin -c "ALTER DATABASE comanda_payments ALLOW_CONNECTIONS false" \
    -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'comanda_payments'" >/dev/null
unavailable "payments database refusing connections: GET /api/payments" GET "/api/payments?limit=5"
works "payments database refusing connections: GET /api/users/{id} still works" GET "/api/users/$ADMIN_ID" "" 200
works "payments database refusing connections: POST /api/orders still succeeds" POST /api/orders \
    '{"items":[{"product":"Outage test","quantity":1,"price":4.00}]}' 201
OUT_ORDER=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
sleep 15
check_eq "15 s later its order.created is not dead-lettered (svc-payment still holds it)" "$dl_before" "$(dead_letters)"
pg_admin -c "ALTER DATABASE comanda_payments ALLOW_CONNECTIONS true" >/dev/null
paid_for() {
    TOKEN=$TADMIN api GET "/api/payments?order_id=$OUT_ORDER"
    [[ $HTTP_STATUS == 200 ]] && (($(jq '.payments | length' <<<"$HTTP_BODY") > 0))
}
check "once the database takes connections again, the order gets its payment" wait_until 60 paid_for
check_eq "... and nothing was dead-lettered" "$dl_before" "$(dead_letters)"
back "payments database back"

# ---- svc-user hung ---------------------------------------------------------------------
# A service that stops answering keeps its connections: calls wait out their
# deadline (504). After RPC_BREAKER_TIMEOUTS (5) of them in a row the
# gateway's client fails calls to it at once (503) for RPC_BREAKER_OPEN_MS,
# then probes; once it answers again, so does the API.
su=$(prog_pid svc-user)
kill -STOP "$su"
hung_calls "svc-user hung" "/api/users/$ADMIN_ID"
at_once "svc-user hung, five timeouts in a row: GET /api/users/{id}" GET "/api/users/$ADMIN_ID"
works "svc-user hung: GET /api/payments still works" GET "/api/payments?limit=5" "" 200
# svc-order asks svc-user whether the caller may order, with a timeout of its own
unavailable "svc-user hung: POST /api/orders (svc-order asks svc-user)" POST /api/orders \
    '{"items":[{"product":"Outage test","quantity":1,"price":1.00}]}'
kill -CONT "$su"
check "svc-user resumed: the probe finds it answering and the API follows" wait_until 10 users_ok

# ---- RabbitMQ killed ----------------------------------------------------------------
stack kill-svc rabbitmq >/dev/null 2>&1
works "RabbitMQ down: POST /api/orders still succeeds (the outbox keeps its event)" POST /api/orders \
    '{"items":[{"product":"Outage test","quantity":1,"price":3.00}]}' 201
OUT_ORDER=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
works "RabbitMQ down: POST /api/users still succeeds" POST /api/users "$(new_user broker)" 201
stack start-svc rabbitmq >/dev/null 2>&1
check "once RabbitMQ is back, the order's event goes out: svc-payment holds its payment" wait_until 60 paid_for
back "RabbitMQ restarted"

trap - EXIT
finish
