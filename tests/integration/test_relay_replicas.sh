#!/usr/bin/env bash
# Integration: the outbox relays with two replicas on one database
# (docs/EVENTS.md, "The outbox relays"; docs/SCALING.md): svc-payment's,
# then svc-order's.
#
# svc-payment: A second svc-payment
# runs beside the stack's, on ports of its own. A backlog of 20,000 outbox rows (long enough for both relays to be at it) is
# written straight into the payments database, with an event type no queue is
# bound to (`test.relay`: the broker confirms and drops them, nothing consumes
# them). Both relays find the backlog; it must go out exactly once: the sum of
# both replicas' `comanda_events_published_total{type="test.relay"}` equals
# the rows written. Then the stack's replica is frozen (SIGSTOP) while both
# drain a second backlog: if it froze mid-pass it holds the relays' lock, and
# PostgreSQL's idle-in-transaction timeout (10 s) must free it, so the second
# replica still drains everything (each event at most once more than once:
# a frozen pass may have published a batch it could not mark). Then it is
# killed (-9) and the second drains a new backlog alone: no replica is the
# relay for good. The second replica stops on SIGTERM with exit status 0
# (clean under the sanitizers).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

# the stack's environment (lib.sh loads it) names both, the programs' absolute
: "${COMANDA_RUN_DIR:?no stack environment (scripts/stack.sh up)}" "${COMANDA_BIN_DIR:?no stack environment}"
LOG=$COMANDA_RUN_DIR/logs/svc-payment-2.log
psql_pay() { psql "$PAYMENT_DB_URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

# Two free ports on 127.0.0.1 for the second replica (RPC, admin).
read -r RPC2 ADMIN2 < <(free_ports 2)

# published PORT: the admin port's count of confirmed test.relay events (0
# when the series does not exist yet or the replica does not answer).
published() {
    curl -s --max-time 3 "http://127.0.0.1:$1/metrics" |
        awk '/^comanda_events_published_total\{.*type="test.relay"/ { n += $NF } END { print n + 0 }'
}
pending() { psql_pay "SELECT count(*) FROM outbox WHERE event_type = 'test.relay' AND published_at IS NULL"; }
none_pending() { [[ $(pending) == 0 ]]; }
# backlog N: N outbox rows in one statement (one commit, so both relays see
# all of them at their next pass).
backlog() {
    psql_pay "INSERT INTO outbox (event_id, event_type, correlation_id, payload)
              SELECT gen_random_uuid(), 'test.relay', 'relay-test-' || g, '\\x00'::bytea
              FROM generate_series(1, $1) AS g"
}
healthy() { [[ $(http_status "http://127.0.0.1:$1/health") == 200 ]]; }

psql_pay "DELETE FROM outbox WHERE event_type = 'test.relay'" >/dev/null
PAYMENT_RPC_LISTEN=tcp://127.0.0.1:$RPC2 PAYMENT_ADMIN_PORT=$ADMIN2 "$COMANDA_BIN_DIR/svc-payment" 2>>"$LOG" &
pid2=$!
cleanup() {
    kill "$pid2" 2>/dev/null
    stack start-svc svc-payment >/dev/null 2>&1
    psql_pay "DELETE FROM outbox WHERE event_type = 'test.relay'" >/dev/null 2>&1
}
trap cleanup EXIT
check "a second svc-payment replica is healthy (RPC $RPC2, admin $ADMIN2)" wait_until 30 healthy "$ADMIN2"

ADMIN1=$PAYMENT_ADMIN_PORT
before=$(($(published "$ADMIN1") + $(published "$ADMIN2")))
backlog 20000
check "two relays drain a backlog of 20,000 events" wait_until 120 none_pending
one=$(published "$ADMIN1") two=$(published "$ADMIN2")
check_eq "each event went out once: published by the two replicas together ($one + $two)" \
    20000 "$((one + two - before))"

# Frozen, possibly mid-pass: the survivor goes on within the timeout.
pid1=$(cat "$COMANDA_RUN_DIR/pids/svc-payment.pid")
draining() { (($(pending) < 19000)); }
before=$(($(published "$ADMIN1") + $(published "$ADMIN2")))
backlog 20000
wait_until 30 draining
kill -STOP "$pid1"
check "with the first replica frozen (SIGSTOP) mid-drain, the second drains the rest" wait_until 45 none_pending
kill -CONT "$pid1"
wait_until 10 healthy "$ADMIN1"
total=$(($(published "$ADMIN1") + $(published "$ADMIN2") - before))
check "... publishing each event once, or twice for at most one batch of 128 ($total for 20,000)" \
    test "$total" -ge 20000 -a "$total" -le 20128

# Killed with the relay's transaction possibly open: the lock goes with its
# connection, and the survivor drains alone.
stack kill-svc svc-payment >/dev/null 2>&1
before2=$(published "$ADMIN2")
backlog 500
check "with the first replica killed, the second drains a new backlog of 500" wait_until 60 none_pending
check_eq "... each of them once" 500 "$(($(published "$ADMIN2") - before2))"

kill -TERM "$pid2"
rc=0
wait "$pid2" || rc=$?
check_eq "the second replica stops on SIGTERM with exit status 0" 0 "$rc"
check_not "... and wrote no sanitizer report" grep -qE "ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:" "$LOG"
stack start-svc svc-payment >/dev/null 2>&1
trap - EXIT
psql_pay "DELETE FROM outbox WHERE event_type = 'test.relay'" >/dev/null
check "the stack's svc-payment is back" wait_until 30 healthy "$ADMIN1"

# ---- svc-order ---------------------------------------------------------------
# order_relay_live (tests/integration/order_relay_live.c) first checks the
# relay lock itself against the stack's MongoDB-wire server (its own
# summary line), then serves as the tool below. A second svc-order runs
# beside the stack's. A backlog of orders with one `test.relay` event each,
# written straight into the orders collection, is found by both relays'
# scans; a scan runs only with the relay lock, so it goes out exactly once
# (without the lock both relays published the same batches). While another
# holder (a "ghost") has the lock, scans wait but a new order's event still
# goes out (kicked passes take no lock); once the ghost's lock has expired,
# a relay takes it over and the backlog drains.
live_build order_relay_live || { finish; exit 1; }
tool=$LIVE_BIN
live_run

OLOG=$COMANDA_RUN_DIR/logs/svc-order-2.log
read -r ORPC2 OADMIN2 < <(free_ports 2)
opending() { "$tool" pending test.relay 2>/dev/null; }
onone_pending() { [[ $(opending) == 0 ]]; }
"$tool" clean test.relay && "$tool" drop-lock
ocleanup() {
    kill "${opid2:-}" 2>/dev/null
    "$tool" drop-lock >/dev/null 2>&1
    "$tool" clean test.relay >/dev/null 2>&1
    stack start-svc svc-order >/dev/null 2>&1
}
trap ocleanup EXIT
# Both relays must meet the backlog: it is written while the stack's
# svc-order is stopped, then both replicas start at once, and a relay scans
# when it starts.
stack stop-svc svc-order >/dev/null 2>&1
"$tool" backlog 1000 test.relay
ORDER_RPC_LISTEN=tcp://127.0.0.1:$ORPC2 ORDER_ADMIN_PORT=$OADMIN2 "$COMANDA_BIN_DIR/svc-order" 2>>"$OLOG" &
opid2=$!
stack start-svc svc-order >/dev/null 2>&1
OADMIN1=$ORDER_ADMIN_PORT
check "a second svc-order replica is healthy (RPC $ORPC2, admin $OADMIN2)" wait_until 30 healthy "$OADMIN2"
check "two svc-order relays, both started on a backlog of 1,000 events, drain it" wait_until 120 onone_pending
one=$(published "$OADMIN1") two=$(published "$OADMIN2")
check_eq "each event went out once: published by the two replicas together" 1000 "$((one + two))"
printf '     (replica 1 published %s, replica 2 %s)\n' "$one" "$two"
check_eq "no scan holds the relay lock once drained" none "$("$tool" holder 2>/dev/null)"

# A ghost holds the lock for a minute: scans wait, kicked passes do not.
"$tool" hold ghost-replica 60000
"$tool" backlog 200 test.relay
created() {
    curl -s --max-time 3 "http://127.0.0.1:$1/metrics" |
        awk '/^comanda_events_published_total\{.*type="order.created"/ { n += $NF } END { print n + 0 }'
}
cbefore=$(($(created "$OADMIN1") + $(created "$OADMIN2")))
atoken=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
TOKEN=$atoken api POST /api/orders '{"items":[{"product":"Relay test","quantity":1,"price":1.00}]}'
check_eq "set up: an order created while the ghost holds the lock" 201 "$HTTP_STATUS"
ocreated() { (($(created "$OADMIN1") + $(created "$OADMIN2") > cbefore)); }
check "... its order.created still goes out (kicked passes take no lock)" wait_until 20 ocreated
sleep 6   # longer than a relay's 5 s between scans
check_eq "... while the backlog's scans wait for the lock (6 s later, past a scan's turn, all 200 pending)" 200 "$(opending)"

# The ghost died mid-scan: its lock expired a second ago.
"$tool" hold ghost-replica -1000
check "once the ghost's lock has expired, a relay takes it over and drains the backlog" wait_until 60 onone_pending
check "... and says so in its log" grep -q '"msg":"outbox relay: took over an expired relay lock","holder":"ghost-replica"' \
    "$COMANDA_RUN_DIR/logs/svc-order.log" "$OLOG"

kill -TERM "$opid2"
rc=0
wait "$opid2" || rc=$?
check_eq "the second svc-order stops on SIGTERM with exit status 0" 0 "$rc"
check_not "... and wrote no sanitizer report" grep -qE "ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:" "$OLOG"
trap - EXIT
"$tool" clean test.relay >/dev/null

finish
