#!/usr/bin/env bash
# Integration: a write that PostgreSQL rolls back for a deadlock (40P01) or a
# serialization failure (40001) is answered 503 UNAVAILABLE by svc-user and
# svc-payment alike (lib/svc.h, svc_db_error): the whole transaction was
# rolled back, so the same request can simply be sent again, which a 503
# tells a client where a 500 says it would fail again. Nothing is stored, and
# the same request succeeds once the conflict is gone.
#
# A real deadlock cannot be timed from a script, so a trigger raises the
# SQLSTATE the server would, for one row only: a user's name change, and an
# admin's status change of one payment.
#
# Needs the stack up (scripts/stack.sh up), and curl, jq, psql.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
: "${PAYMENT_DB_URL:?no stack environment (scripts/stack.sh up)}"
: "${USER_DB_URL:?no stack environment (scripts/stack.sh up)}"
RUN=$(date +%s%N | tail -c 10)$RANDOM
pg_user_admin() { pg_admin -d "${USER_DB_URL##*/}" -c "$1" 2>&1; }

cleanup() {
    pg_user_admin "DROP TRIGGER IF EXISTS db_conflict_test ON users; DROP FUNCTION IF EXISTS db_conflict_test()" >/dev/null
    pg_pay_admin "DROP TRIGGER IF EXISTS db_conflict_test ON payments; DROP FUNCTION IF EXISTS db_conflict_test()" >/dev/null
}
trap cleanup EXIT

# conflict_trigger DB_FN TABLE SQLSTATE WHEN: a BEFORE UPDATE trigger on TABLE
# that fails the rows WHEN selects with SQLSTATE.
conflict_trigger() {
    "$1" "CREATE OR REPLACE FUNCTION db_conflict_test() RETURNS trigger LANGUAGE plpgsql AS \$\$
          BEGIN RAISE EXCEPTION 'test: conflict' USING ERRCODE = '$3'; END \$\$;
          CREATE TRIGGER db_conflict_test BEFORE UPDATE ON $2 FOR EACH ROW WHEN ($4)
          EXECUTE FUNCTION db_conflict_test()"
}

TADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
[[ -n $TADMIN ]] || { fail "set up: admin login"; finish; exit 1; }

# ---- svc-user: a serialization failure ----------------------------------------------------------
EMAIL="conflict$RUN@example.com"
TOKEN=$TADMIN api POST /api/users "{\"name\":\"Before Conflict\",\"email\":\"$EMAIL\"}"
expect "set up: a user" 201 '.user.id > 0'
UID_=$(jq -r '.user.id' <<<"$HTTP_BODY")
check "a trigger fails this user's updates with 40001" \
    conflict_trigger pg_user_admin users 40001 "OLD.id = $UID_"
TOKEN=$TADMIN api PATCH "/api/users/$UID_" '{"name":"After Conflict"}'
expect "svc-user: a serialization failure is 503 UNAVAILABLE, not 500" 503 "$(err UNAVAILABLE)"
TOKEN=$TADMIN api GET "/api/users/$UID_"
expect "... and the name is unchanged" 200 '.user.name == "Before Conflict"'
pg_user_admin "DROP TRIGGER db_conflict_test ON users; DROP FUNCTION db_conflict_test()" >/dev/null
TOKEN=$TADMIN api PATCH "/api/users/$UID_" '{"name":"After Conflict"}'
expect "... the same request succeeds once the conflict is gone" 200 '.user.name == "After Conflict"'

# ---- svc-payment: a deadlock ----------------------------------------------------------------------
TOKEN=$TADMIN api POST /api/orders '{"items":[{"product":"Conflict test","quantity":1,"price":3.75}]}'
expect "set up: a cash order" 201 '.order.status == "pending"'
ORDER=$(jq -r '.order._id // empty' <<<"$HTTP_BODY")
check "... its payment" wait_until 10 has_payment "$ORDER"
PAY=$(payment_of "$ORDER")
check "a trigger fails this payment's updates with 40P01" \
    conflict_trigger pg_pay_admin payments 40P01 "OLD.id = ${PAY:-0}"
TOKEN=$TADMIN api PUT "/api/payments/$PAY/status" '{"status":"completed"}'
expect "svc-payment: a deadlock is 503 UNAVAILABLE, not 500" 503 "$(err UNAVAILABLE)"
check_eq "... and the payment is still pending" pending \
    "$(pg_pay "SELECT status FROM payments WHERE id = ${PAY:-0}")"
pg_pay_admin "DROP TRIGGER db_conflict_test ON payments; DROP FUNCTION db_conflict_test()" >/dev/null
TOKEN=$TADMIN api PUT "/api/payments/$PAY/status" '{"status":"completed"}'
expect "... the same request succeeds once the conflict is gone" 200 '.payment.status == "completed"'

finish
