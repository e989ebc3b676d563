#!/usr/bin/env bash
# Integration: SIGTERM ends every program promptly whatever its servers do
# (docs/OPERATIONS.md, "Stopping while a dependency is down or frozen").
#
# With PostgreSQL, FerretDB and RabbitMQ each up, frozen (SIGSTOP: the
# server accepts connections and answers nothing) and down (killed), the
# four programs (svc-user, svc-order, svc-payment, the gateway) get SIGTERM
# while they serve, and each must end by itself (its log says it stopped
# cleanly; no SIGKILL) within STOP_BOUND_MS (3 s; scripts/stack.sh's
# SIGKILL comes at 5 s). So must the services started while their database
# is frozen or down (waiting at start-up), and svc-payment frozen in the
# middle of a migration. After each round the stack recovers: every
# program starts again, everything answers, and a card order is paid.
#
# Nothing is lost by stopping early:
#   an order.created that svc-payment's consumer holds while its database
#   is frozen is not acked: after the restart the order gets its payment,
#   one, and nothing is dead-lettered;
#   the sessions of a svc-payment stopped while its database is frozen are
#   gone once it thaws (an open transaction, a relay pass's or a
#   migration's, is rolled back with its session);
#   the events written to the outboxes while the broker is frozen go out
#   after the restart;
#   the migration cut short is not recorded and left nothing behind, and
#   the next start applies it.
#
# The grace: a request in flight at SIGTERM is answered when its database
# answers within 1 s of the signal, and cut (503, nothing stored) after.
#
# And a migration has a deadline (DB_MIGRATION_TIMEOUT_S, 6 s here): a
# migration stuck behind another session's lock is cancelled by the server
# (lock_timeout) and tried again, and one whose server froze under it is
# given up (the service does not wait for ever).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1
: "${COMANDA_RUN_DIR:?no stack environment (scripts/stack.sh up)}"
source "$(dirname "${BASH_SOURCE[0]}")/outage_lib.sh"
outage_setup || { finish; exit 1; }

BOUND_MS=${STOP_BOUND_MS:-3000}
PROGS=(svc-user svc-order svc-payment gateway)
SERVICES=(svc-user svc-order svc-payment)
# A session of ours that holds a lock a migration needs (below).
LOCK_APP=comanda-test-stoplock-$$
release_lock() { pg_end_sessions "$LOCK_APP"; }
trap 'release_lock; outage_thaw_all' EXIT

ITEMS='"items":[{"product":"Stop bounded","quantity":1,"price":4.75}]'
CARD="{$ITEMS,\"payment_method\":\"credit_card\",\"payment_token\":\"tok_visa\"}"
CASH="{$ITEMS}"

# What a program logs as its last line when it stops by itself.
clean_stop() { [[ $1 == gateway ]] && echo '"gateway: stopped"' || echo '"stopped \(exit status 0\)"'; }

# stop_all LABEL PROGRAM...: SIGTERM to each at once. Each must end within
# BOUND_MS, and by itself: it logs its clean stop. One still running after
# 15 s is killed, so that the script goes on.
stop_all() {
    local label=$1 p took pid
    shift
    local -A mark
    local -a jobs=()
    for p in "$@"; do
        mark[$p]=$(log_mark "$p")
        stop_timed "$p" 15 >"$COMANDA_RUN_DIR/stop.$p" &
        jobs+=($!)
    done
    wait "${jobs[@]}"
    for p in "$@"; do
        took=$(cat "$COMANDA_RUN_DIR/stop.$p")
        rm -f "$COMANDA_RUN_DIR/stop.$p"
        check "$label: $p ends on SIGTERM within $BOUND_MS ms (${took} ms)" under "$BOUND_MS" "$took"
        check "... by itself: its log ends with its clean stop" log_since "$p" "${mark[$p]}" "$(clean_stop "$p")"
        if [[ $took == alive ]]; then
            pid=$(prog_pid "$p") && kill -KILL "$pid" 2>/dev/null
        fi
    done
}

# start_waiting PROGRAM...: starts each without waiting for it to serve (it
# waits for its database), and checks that it is running, 4 s later.
start_waiting() {
    local p
    for p in "$@"; do stack start-svc "$p" --no-wait >/dev/null 2>&1; done
    sleep 4
    for p in "$@"; do
        check "... $p started meanwhile is running (waiting at start-up)" pid_running "$(prog_pid "$p")"
    done
}

# recover LABEL: every program starts again, everything answers, a card
# order is paid.
recover() {
    local p o
    for p in "${PROGS[@]}"; do
        check "$1: $p starts again" stack start-svc "$p"
    done
    back "$1"
    o=$(new_order flows "$CARD")
    check "$1: a card order is taken (${o:-none}) and paid" wait_until 30 is_paid "$o"
}

# The stack's own servers, by name.
freeze() {
    local p
    case $1 in
    postgres) p=$(pg_pid) && { kill -STOP "$p"; pkill -STOP -P "$p"; } ;;
    ferretdb) p=$(prog_pid ferretdb) && kill -STOP "$p" ;;
    rabbitmq) p=$(broker_vm_pid) && kill -STOP "$p" ;;
    esac
}
thaw() {
    local p
    case $1 in
    postgres) p=$(pg_pid) && { pkill -CONT -P "$p"; kill -CONT "$p"; } ;;
    ferretdb) p=$(prog_pid ferretdb) && kill -CONT "$p" ;;
    rabbitmq) p=$(broker_vm_pid) && kill -CONT "$p" ;;
    esac
}

# svc-payment's sessions in its database (as the superuser, who sees them).
payment_sessions() {
    pg_admin -d "${PAYMENT_DB_URL##*/}" -c "SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name LIKE 'svc-payment%'"
}
no_payment_sessions() { [[ $(payment_sessions) == 0 ]]; }
dead_letters() { curl -s --max-time 3 "http://127.0.0.1:$USER_ADMIN_PORT/status" | jq -r '.dead_letters // "none"'; }
order_backlog() { curl -s --max-time 3 "http://127.0.0.1:$ORDER_ADMIN_PORT/status" | jq -r '.outbox_backlog // "none"'; }
payments_of() { pg_pay "SELECT count(*) FROM payments WHERE order_id = '$1'"; }

# ---- every server up ---------------------------------------------------------------------
stop_all "every server up" "${PROGS[@]}"
recover "every server up"

# ---- PostgreSQL frozen -------------------------------------------------------------------
# An event in svc-payment's hands when its database freezes: svc-payment is
# hung (SIGSTOP) while an order is made, so that its order.created waits at
# its consumer; the database freezes, svc-payment resumes and meets it with
# the event in hand.
dl_before=$(dead_letters)
check "set up: the dead-letter count ($dl_before)" test "$dl_before" != none
sp=$(prog_pid svc-payment)
kill -STOP "$sp"
X=$(new_order held "$CARD")
check "set up: a card order made while svc-payment is hung (${X:-none})" test -n "$X"
check "set up: ... its order.created is out of svc-order's outbox, at the broker" wait_until 10 eval '[[ $(order_backlog) == 0 ]]'
freeze postgres
m=$(log_mark svc-payment)
kill -CONT "$sp"
check "PostgreSQL frozen: svc-payment's consumer holds the order.created (it cannot apply it)" \
    wait_until 15 log_since svc-payment "$m" '"order event not applied"'
sleep 2
stop_all "PostgreSQL frozen" "${PROGS[@]}"
start_waiting "${SERVICES[@]}"
stop_all "PostgreSQL frozen, at start-up" "${SERVICES[@]}"
thaw postgres
check "PostgreSQL thawed: the stopped svc-payment's sessions are gone (what they had open, rolled back)" \
    wait_until 10 no_payment_sessions
recover "PostgreSQL thawed"
check "... the order.created held at the stop was not acked: the order gets its payment" wait_until 30 has_payment "$X"
check "... and is paid" wait_until 30 is_paid "$X"
check_eq "... one payment" 1 "$(payments_of "$X")"
check_eq "... and nothing was dead-lettered" "$dl_before" "$(dead_letters)"

# ---- FerretDB frozen ---------------------------------------------------------------------
freeze ferretdb
works "FerretDB frozen: an order is refused (its event cannot be written)" POST /api/orders "$CARD" 503
sleep 3
stop_all "FerretDB frozen" "${PROGS[@]}"
start_waiting svc-order
stop_all "FerretDB frozen, at start-up" svc-order
thaw ferretdb
recover "FerretDB thawed"

# ---- RabbitMQ frozen ---------------------------------------------------------------------
# Events written while it is frozen stay in the outboxes: a card order's
# order.created (svc-order's), a cash payment completed by an admin
# (svc-payment's payment.completed).
C=$(new_order cash "$CASH")
check "set up: a cash order with its pending payment (${C:-none})" wait_until 30 has_payment "$C"
C_PAY=$(payment_of "$C")
freeze rabbitmq
works "RabbitMQ frozen: a card order is taken (its event waits in the outbox)" POST /api/orders "$CARD" 201
Z=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
works "RabbitMQ frozen: an admin completes the cash payment (its event waits in the outbox)" \
    PUT "/api/payments/$C_PAY/status" '{"status":"completed"}' 200
sleep 3
stop_all "RabbitMQ frozen" "${PROGS[@]}"
# Started during the freeze, the services serve (the broker is not waited
# for) and stop again as promptly.
for p in "${PROGS[@]}"; do stack start-svc "$p" >/dev/null 2>&1; done
check "RabbitMQ frozen: the programs serve again without it" wait_until 20 eval 'users_ok && orders_ok && payments_ok'
sleep 2
stop_all "RabbitMQ frozen, restarted" "${PROGS[@]}"
thaw rabbitmq
recover "RabbitMQ thawed"
check "... the card order made during the freeze (svc-order's outbox) is paid" wait_until 30 is_paid "$Z"
check "... and so is the cash order completed meanwhile (svc-payment's outbox)" wait_until 30 is_paid "$C"

# ---- each server down --------------------------------------------------------------------
stack kill-svc postgres >/dev/null 2>&1
sleep 3
stop_all "PostgreSQL down" "${PROGS[@]}"
# FerretDB runs on without its PostgreSQL and answers svc-order's
# createIndexes with an InternalError: svc-order waits as for a server down.
m=$(log_mark svc-order)
start_waiting "${SERVICES[@]}"
check "... svc-order says it waits for MongoDB (FerretDB up, its PostgreSQL down)" \
    log_since svc-order "$m" 'waiting for MongoDB to create the indexes'
stop_all "PostgreSQL down, at start-up" "${SERVICES[@]}"
stack start-svc postgres >/dev/null 2>&1
stack start-svc ferretdb >/dev/null 2>&1
recover "PostgreSQL back"

stack kill-svc ferretdb >/dev/null 2>&1
sleep 3
stop_all "FerretDB down" "${PROGS[@]}"
start_waiting svc-order
stop_all "FerretDB down, at start-up" svc-order
stack start-svc ferretdb >/dev/null 2>&1
recover "FerretDB back"

stack kill-svc rabbitmq >/dev/null 2>&1
sleep 3
stop_all "RabbitMQ down" "${PROGS[@]}"
stack start-svc rabbitmq >/dev/null 2>&1
recover "RabbitMQ back"

# ---- the grace, on a live database --------------------------------------------------------
# A request in flight at SIGTERM finishes when its server answers within
# the grace (1 s): a PATCH waiting for a row lock of ours, released 0.5 s
# after the signal, is answered 200 and stored. One that waits longer is cut
# at the grace: 503 (before the gateway's deadline), its transaction rolled
# back, nothing stored.
works "set up: a user to change" POST /api/users "$(new_user grace)" 201
U=$(jq -r '.user.id // empty' <<<"$HTTP_BODY")
check "set up: its id (${U:-none})" test -n "$U"
# hold_row: a session of ours locks U's row (until release_lock); patching:
# svc-user's UPDATE of it waits for that lock.
hold_row() {
    PGAPPNAME=$LOCK_APP pg_admin -d "${USER_DB_URL##*/}" -c "BEGIN" -c "SELECT 1 FROM users WHERE id = $U FOR UPDATE" \
        -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
}
row_held() {
    [[ $(pg_admin -d "${USER_DB_URL##*/}" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$LOCK_APP'
        AND query LIKE '%pg_sleep%'") == 1 ]]
}
patching() {
    [[ $(pg_admin -d "${USER_DB_URL##*/}" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
        AND application_name = 'svc-user' AND wait_event_type = 'Lock'") == 1 ]]
}
user_name() { pg_admin -d "${USER_DB_URL##*/}" -c "SELECT name FROM users WHERE id = $U"; }
# patch_async NAME: PATCH U's name in the background; its status goes to
# $COMANDA_RUN_DIR/patch.status.
patch_async() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X PATCH -H "Authorization: Bearer $TADMIN" \
        -H 'Content-Type: application/json' -d "{\"name\":\"$1\"}" "$GATEWAY_URL/api/users/$U" \
        >"$COMANDA_RUN_DIR/patch.status" &
    patch_pid=$!
}
hold_row
check "set up: a session of ours holds the user's row" wait_until 5 row_held
patch_async "Grace answered"
check "set up: the PATCH waits for that row" wait_until 5 patching
m=$(log_mark svc-user)
stop_timed svc-user 15 >"$COMANDA_RUN_DIR/stop.svc-user" &
stopper=$!
sleep 0.5
release_lock
wait "$patch_pid" "$stopper"
check_eq "the lock released 0.5 s after SIGTERM: the PATCH in flight is answered 200" 200 "$(cat "$COMANDA_RUN_DIR/patch.status")"
check_eq "... and stored" "Grace answered" "$(user_name)"
took=$(cat "$COMANDA_RUN_DIR/stop.svc-user")
check "... and svc-user ends within $BOUND_MS ms ($took ms), by itself" under "$BOUND_MS" "$took"
check "... its log ends with its clean stop" log_since svc-user "$m" "$(clean_stop svc-user)"
check "svc-user starts again" stack start-svc svc-user
hold_row
check "set up: a session of ours holds the user's row again" wait_until 5 row_held
patch_async "Grace cut"
check "set up: the PATCH waits for that row" wait_until 5 patching
m=$(log_mark svc-user)
took=$(stop_timed svc-user 15)
wait "$patch_pid"
check "the lock kept past the grace: svc-user ends within $BOUND_MS ms ($took ms)" under "$BOUND_MS" "$took"
check "... by itself" log_since svc-user "$m" "$(clean_stop svc-user)"
check_eq "... the PATCH in flight is answered 503 (not left to the gateway's 504)" 503 "$(cat "$COMANDA_RUN_DIR/patch.status")"
release_lock
check_eq "... and nothing of it was stored (its transaction rolled back)" "Grace answered" "$(user_name)"
check "svc-user starts again" stack start-svc svc-user
back "after the grace"
rm -f "$COMANDA_RUN_DIR/patch.status" "$COMANDA_RUN_DIR/stop.svc-user"

# ---- PostgreSQL frozen in the middle of a migration -------------------------------------
# svc-payment's last migration (005, two ALTER TABLE ... ADD COLUMN) made
# pending again, and a session of ours holding a lock that its ALTER TABLE
# waits for: the migration is under way (its transaction open, inside
# pg_migrate) for as long as we like.
stack stop-svc svc-payment >/dev/null 2>&1
pg_pay_admin "BEGIN; DELETE FROM schema_migrations WHERE version = 5;
    ALTER TABLE payments DROP COLUMN sweep_failures, DROP COLUMN sweep_next_at; COMMIT" >/dev/null
PGAPPNAME=$LOCK_APP pg_admin -d "${PAYMENT_DB_URL##*/}" -c "BEGIN" -c "LOCK TABLE payments IN ACCESS SHARE MODE" \
    -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
lock_pid=$!
lock_held() {
    [[ $(pg_admin -d "${PAYMENT_DB_URL##*/}" -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.relation = 'payments'::regclass AND l.granted AND a.application_name = '$LOCK_APP'") == 1 ]]
}
# svc-payment's migration waiting for that lock
migrating() {
    [[ $(pg_admin -d "${PAYMENT_DB_URL##*/}" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
        AND application_name = 'svc-payment' AND wait_event_type = 'Lock'") == 1 ]]
}
check "set up: a session of ours holds a lock migration 005 needs" wait_until 5 lock_held
m=$(log_mark svc-payment)
DB_MIGRATION_TIMEOUT_S=6 stack start-svc svc-payment --no-wait >/dev/null 2>&1
check "svc-payment started: migration 005 waits for the lock" wait_until 10 migrating
check "the lock wait ends at lock_timeout (5 s): the migration is rolled back, to be tried again" \
    wait_until 10 log_since svc-payment "$m" '"migration did not finish within DB_MIGRATION_TIMEOUT_S'
check "... and it is tried again (waiting for the lock once more)" wait_until 10 migrating
m=$(log_mark svc-payment)
freeze postgres
check "PostgreSQL frozen mid-migration: svc-payment gives it up (DB_MIGRATION_TIMEOUT_S + 2 s at most)" \
    wait_until 12 log_since svc-payment "$m" '"database did not answer before the caller.s deadline'
thaw postgres
check "PostgreSQL thawed: the migration is under way again" wait_until 20 migrating
freeze postgres
sleep 1
stop_all "PostgreSQL frozen mid-migration" svc-payment
thaw postgres
check "PostgreSQL thawed: the stopped migration's session is gone (its transaction rolled back)" \
    wait_until 10 no_payment_sessions
check_eq "... migration 005 is not recorded" 4 "$(pg_pay "SELECT max(version) FROM schema_migrations")"
sweep_columns() { pg_pay "SELECT count(*) FROM information_schema.columns WHERE table_name = 'payments' AND column_name LIKE 'sweep%'"; }
check_eq "... and left nothing behind" 0 "$(sweep_columns)"
release_lock
wait "$lock_pid" 2>/dev/null
check "the lock released: svc-payment starts and applies migration 005" stack start-svc svc-payment
check_eq "... recorded" 5 "$(pg_pay "SELECT max(version) FROM schema_migrations")"
check_eq "... its columns there" 2 "$(sweep_columns)"
recover "after the migration"

trap - EXIT
release_lock
outage_thaw_all
finish
