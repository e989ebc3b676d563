#!/usr/bin/env bash
# The admin bootstrap (svc-user start-up, "no active admin exists"): a
# svc-user of this build on a database of its own (made here in the stack's
# PostgreSQL and dropped at the end), so the stack's admin is never touched:
#   - on an empty database it creates the ADMIN_EMAIL admin, and says so;
#   - with no active admin and ADMIN_EMAIL naming a customer that signed up
#     (anyone may register a plausible admin address in advance), it still
#     starts but makes no admin: that customer keeps its role, password and
#     sessions (its refresh token is no way to an admin token), and the log
#     says why;
#   - ADMIN_EMAIL naming the suspended admin makes it active again with
#     ADMIN_PASSWORD, ends its old sessions, and the log says "reactivated",
#     not "created".
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

: "${USER_DB_URL:?no stack environment (scripts/stack.sh up)}"
USER_BIN=${COMANDA_BIN_DIR:-build/bin}/svc-user
USER_LOG=${COMANDA_RUN_DIR:-.run/dev}/logs/svc-user-bootstrap.log
mkdir -p "$(dirname "$USER_LOG")"
DB=comanda_boot_$(date +%s%N | tail -c 8)$RANDOM
DB_URL=${USER_DB_URL%/*}/$DB
read -r USER_RPC USER_ADMIN < <(free_ports 2)
USER_PID=
cleanup() {
    [[ -n $USER_PID ]] && { kill -TERM "$USER_PID" 2>/dev/null; wait "$USER_PID" 2>/dev/null; }
    pg_admin -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
}
trap cleanup EXIT

q() { psql -XAtq -v ON_ERROR_STOP=1 "$DB_URL" -c "$1"; }

# run_user EMAIL PASSWORD: starts svc-user on $DB with this ADMIN_EMAIL and
# ADMIN_PASSWORD, waits until it serves its health check, and stops it, so
# the bootstrap (part of its start) has run. The log gets only this run's
# lines. Returns 1 when it did not come up.
run_user() {
    : >"$USER_LOG"
    env -u COMANDA_STACK_ID USER_DB_URL="$DB_URL" USER_RPC_LISTEN="tcp://127.0.0.1:$USER_RPC" \
        USER_ADMIN_PORT="$USER_ADMIN" ADMIN_EMAIL="$1" ADMIN_PASSWORD="$2" "$USER_BIN" >>"$USER_LOG" 2>&1 &
    USER_PID=$!
    local rc=0
    wait_until 30 curl -fsS -o /dev/null "http://127.0.0.1:$USER_ADMIN/health" || rc=1
    kill -TERM "$USER_PID" 2>/dev/null
    wait "$USER_PID" 2>/dev/null
    USER_PID=
    return $rc
}

# a session row for user $1 with a random refresh hash; prints its id
add_session() {
    q "INSERT INTO sessions (id, family_id, user_id, refresh_hash, expires_at)
       SELECT n, n, $1, decode(md5(random()::text) || md5(random()::text), 'hex'), now() + interval '1 hour'
       FROM nextval('sessions_id_seq') AS n RETURNING id"
}

check "the test database $DB is made" pg_admin -c "CREATE DATABASE $DB OWNER comanda"

ADMIN=first.admin@boot.example
check "svc-user starts on an empty database" run_user "$ADMIN" first-admin-pass-1
check_eq "...and creates ADMIN_EMAIL as the active admin" "admin|active" \
    "$(q "SELECT role, status FROM users WHERE email = '$ADMIN'")"
check "...and logs that it created it" grep -q "created the admin account $ADMIN" "$USER_LOG"
ADMIN_ID=$(q "SELECT id FROM users WHERE email = '$ADMIN'")

# The only admin is suspended; a customer registered the address the
# operator will now name.
MALLORY=ops@boot.example
q "UPDATE users SET status = 'suspended' WHERE id = $ADMIN_ID"
MALLORY_ID=$(q "INSERT INTO users (name, email, password_hash) VALUES ('Mallory', '$MALLORY', 'mallory-hash') RETURNING id")
MALLORY_SID=$(add_session "$MALLORY_ID")
MALLORY_BEFORE=$(q "SELECT role, status, password_hash, updated_at FROM users WHERE id = $MALLORY_ID")

check "with ADMIN_EMAIL naming a customer, svc-user still starts" run_user "$MALLORY" operator-secret-9
check_eq "...and the customer's row is untouched (role, status, password, updated_at)" "$MALLORY_BEFORE" \
    "$(q "SELECT role, status, password_hash, updated_at FROM users WHERE id = $MALLORY_ID")"
check_eq "...and the customer's session is not revoked (nor made an admin's)" "t" \
    "$(q "SELECT revoked_at IS NULL FROM sessions WHERE id = $MALLORY_SID")"
check_eq "...and no admin is active" 0 "$(q "SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active'")"
check "...and the log says why no admin was made" \
    grep -q "no admin bootstrapped: ADMIN_EMAIL $MALLORY belongs to an existing account that is not an admin" "$USER_LOG"
check_not "...and does not claim to have created one" grep -q "created the admin account" "$USER_LOG"

# The operator names the suspended admin instead.
ADMIN_SID=$(add_session "$ADMIN_ID")
OLD_HASH=$(q "SELECT password_hash FROM users WHERE id = $ADMIN_ID")
check "with ADMIN_EMAIL naming the suspended admin, svc-user starts" run_user "$ADMIN" second-admin-pass-2
check_eq "...and that admin is active again" "admin|active" "$(q "SELECT role, status FROM users WHERE id = $ADMIN_ID")"
check_eq "...with the new ADMIN_PASSWORD's hash" "f" \
    "$(q "SELECT password_hash = '$OLD_HASH' FROM users WHERE id = $ADMIN_ID")"
check_eq "...and its old session revoked" "admin" "$(q "SELECT revoke_reason FROM sessions WHERE id = $ADMIN_SID")"
check "...and the log says reactivated" grep -q "reactivated the admin account $ADMIN" "$USER_LOG"
check_not "...not created" grep -q "created the admin account" "$USER_LOG"
check_eq "...and still one row with that e-mail" 1 "$(q "SELECT count(*) FROM users WHERE email = '$ADMIN'")"

finish
