#!/usr/bin/env bash
# Integration: users and authentication through the gateway (../API.md
# "Authentication and roles", "Users"; docs/API.md). One check per rule:
# sign-up validation and shapes, duplicate e-mails, literal storage of SQL
# metacharacters and non-ASCII names, login, bearer tokens (tampered,
# expired, not valid yet, alg:none, wrong key, malformed), roles (403/404), pagination,
# idempotent sign-up, PATCH rules (a password change: its Argon2id runs, and
# one racing another change of the password), refresh rotation and reuse detection,
# logout, suspended and deleted users.
#
# Needs the stack up (scripts/stack.sh up) and curl, jq, psql, python3 (stdlib
# only: it mints hand-made tokens with the stack's JWT_SECRET). Every run
# makes fresh e-mail addresses, so it can run again on the same stack.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
KEY=${JWT_SECRET:-comanda-development-jwt-key-never-use-in-production}
HTTP_TIMEOUT=15

RUN=$(date +%s%N | tail -c 10)$RANDOM   # makes this run's e-mails unique
RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$'
USER_KEYS='["created_at","email","id","name","role","status","updated_at"]'

# ---- helpers -------------------------------------------------------------------

# names FIELD: a jq filter: the error's message and details name FIELD.
names() { printf '(.error | contains("%s")) and ([.details[]?.field] | index("%s") != null)' "$1" "$1"; }

# login EMAIL PASSWORD: sets HTTP_STATUS/HTTP_BODY; prints nothing.
login() { api POST /api/auth/login "$(jq -nc --arg e "$1" --arg p "$2" '{email:$e,password:$p}')"; }

# argon2_runs OP: svc-user's Argon2id runs of OP (hash, verify) so far, from
# comanda_password_hashes_total on its admin port; "unread" when /metrics
# did not answer with the series (registered at 0 on start, so never absent).
# With delta (lib.sh), two failed reads are no "0 runs".
argon2_runs() {
    curl -s --max-time 5 "http://127.0.0.1:$USER_ADMIN_PORT/metrics" |
        awk -v m="comanda_password_hashes_total{op=\"$1\"}" '$1 == m { print $2; f = 1 } END { if (!f) print "unread" }'
}

# race_password_change ID TOKEN CURRENT NEW SQL: PATCH /api/users/ID (as
# TOKEN) to password NEW with current_password CURRENT while psql holds the
# user's row (FOR UPDATE); once the PATCH waits for that row, psql runs SQL
# and commits. Sets HTTP_STATUS and HTTP_BODY to the PATCH's answer. The
# waits are on PostgreSQL's own state (pg_locks, pg_blocking_pids), not on
# time.
race_password_change() {
    local id=$1 tok=$2 current=$3 new=$4 sql=$5 dir app="comanda-test-users-$RUN" fd psql_pid patch_pid
    dir=$(mktemp -d)
    mkfifo "$dir/sql"
    PGAPPNAME=$app psql -XAtq -v ON_ERROR_STOP=1 "$USER_DB_URL" <"$dir/sql" >"$dir/psql.out" 2>&1 &
    psql_pid=$!
    exec {fd}>"$dir/sql"
    printf 'BEGIN;\nSELECT id FROM users WHERE id = %s FOR UPDATE;\n' "$id" >&"$fd"
    # the row is held once psql's transaction has an id (FOR UPDATE gives it one)
    check "race: psql holds the user's row" wait_until 10 pg_holding "$app"
    (
        TOKEN=$tok api PATCH "/api/users/$id" "$(jq -nc --arg p "$new" --arg c "$current" '{password:$p,current_password:$c}')"
        printf '%s' "$HTTP_STATUS" >"$dir/status"
        printf '%s' "$HTTP_BODY" >"$dir/body"
    ) &
    patch_pid=$!
    check "race: the PATCH waits for that row" wait_until 10 pg_blocking "$app"
    printf '%s\nCOMMIT;\n' "$sql" >&"$fd"
    exec {fd}>&-
    wait "$psql_pid"
    check_eq "race: psql's change committed (no error)" "" "$(grep -v '^[0-9]*$' "$dir/psql.out")"
    wait "$patch_pid"
    HTTP_STATUS=$(cat "$dir/status" 2>/dev/null || echo 000)
    HTTP_BODY=$(cat "$dir/body" 2>/dev/null)
    rm -rf "$dir"
}
pg_user() { psql -XAtq -v ON_ERROR_STOP=1 "$USER_DB_URL" -c "$1"; }
# pg_holding APP: the session named APP has a transaction id (it locked a row).
pg_holding() {
    [[ $(pg_user "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                  WHERE a.application_name = '$1' AND l.locktype = 'transactionid'") -ge 1 ]]
}
# pg_blocking APP: some other session waits for a lock the session named APP holds.
pg_blocking() {
    [[ $(pg_user "SELECT count(*) FROM pg_stat_activity w, pg_stat_activity h
                  WHERE h.application_name = '$1' AND h.pid = ANY (pg_blocking_pids(w.pid))") -ge 1 ]]
}

# ---- sign-up -----------------------------------------------------------------------

EMAIL_A="alice.$RUN@example.com"
api POST /api/users "{\"name\":\"  Alice Example  \",\"email\":\"Alice.$RUN@Example.COM\",\"password\":\"alice-pass-1\"}"
expect "sign-up answers 201 with the API's envelope" 201 \
    '.success == true and .message == "User created successfully" and (.user | type == "object")'
check_json "sign-up user has exactly {id,name,email,status,role,created_at,updated_at}" "$HTTP_BODY" \
    "(.user | keys) == $USER_KEYS"
check_json "sign-up user: trimmed name, lower-case e-mail, active customer, integer id" "$HTTP_BODY" \
    ".user.name == \"Alice Example\" and .user.email == \"$EMAIL_A\" and .user.status == \"active\" and .user.role == \"customer\" and (.user.id | type == \"number\" and . > 0)"
check_json "sign-up timestamps are RFC 3339 UTC with milliseconds" "$HTTP_BODY" \
    "(.user.created_at | test(\"$RFC3339\")) and (.user.updated_at | test(\"$RFC3339\"))"
check_not "sign-up response never mentions a password or hash" grep -qiE 'password|hash' <<<"$HTTP_BODY"
ID_A=$(jq -r .user.id <<<"$HTTP_BODY")
check_eq "sign-up answers Location: /api/users/{id}" "/api/users/$ID_A" "$(http_header Location)"

api POST /api/users "{\"name\":\"Other\",\"email\":\"ALICE.$RUN@example.com\",\"password\":\"other-pass-1\"}"
expect "duplicate e-mail in another case -> 409 Email already exists" 409 \
    "$(err ALREADY_EXISTS) and .error == \"Email already exists\""

api POST /api/users '{"name":"Bad Mail","email":"not-an-email","password":"password-1"}'
expect "invalid e-mail -> 400 naming email" 400 "$(err INVALID_ARGUMENT) and $(names email)"

NAME100=$(printf 'n%.0s' {1..100})
api POST /api/users "{\"name\":\"${NAME100}x\",\"email\":\"long.$RUN@example.com\",\"password\":\"password-1\"}"
expect "101-character name -> 400 naming name" 400 "$(err INVALID_ARGUMENT) and $(names name)"
api POST /api/users "{\"name\":\"$NAME100\",\"email\":\"long.$RUN@example.com\",\"password\":\"password-1\"}"
expect "100-character name is accepted" 201 ".user.name | length == 100"

api POST /api/users "{\"name\":\"Shorty\",\"email\":\"short.$RUN@example.com\",\"password\":\"1234567\"}"
expect "7-character password -> 400 naming password" 400 "$(err INVALID_ARGUMENT) and $(names password)"

api POST /api/users "{\"name\":\"No Mail\",\"password\":\"password-1\"}"
expect "missing e-mail -> 400 'email is required'" 400 "$(err INVALID_ARGUMENT) and $(names email) and .error == \"email is required\""

api POST /api/users "{\"name\":\"No Password\",\"email\":\"nopw.$RUN@example.com\"}"
expect "anonymous sign-up without password -> 400 naming password" 400 "$(err INVALID_ARGUMENT) and $(names password)"

api POST /api/users "{\"name\":\"Empty Password\",\"email\":\"emptypw.$RUN@example.com\",\"password\":\"\"}"
expect "empty password string -> 400 naming password" 400 "$(err INVALID_ARGUMENT) and $(names password)"

api POST /api/users "{\"name\":123,\"email\":\"type.$RUN@example.com\",\"password\":\"password-1\"}"
expect "name of the wrong JSON type -> 400 'name must be a string'" 400 \
    "$(err INVALID_ARGUMENT) and .error == \"name must be a string\" and .details[0].field == \"name\""
api POST /api/users "{\"name\":\"Nully\",\"email\":null,\"password\":\"password-1\"}"
expect "null e-mail -> 400 naming email" 400 "$(err INVALID_ARGUMENT) and $(names email)"

api POST /api/users '"just a string"'
expect "JSON scalar body -> 400" 400 "$(err INVALID_ARGUMENT) and (.error | test(\"JSON object\"))"
api POST /api/users '[{"name":"x"}]'
expect "JSON array body -> 400" 400 "$(err INVALID_ARGUMENT)"
api POST /api/users '{"name":"x",'
expect "malformed JSON -> 400" 400 "$(err INVALID_ARGUMENT) and (.error | test(\"Malformed\"))"
# json-c took these; each is refused before any member is read
MALFORMED="$(err INVALID_ARGUMENT) and .error == \"Malformed JSON in request body\""
api POST /api/users "{'name':\"Quote\",\"email\":\"quote.$RUN@example.com\",\"password\":\"password-1\"}"
expect "a single-quoted member name -> 400 Malformed JSON" 400 "$MALFORMED"
api POST /api/users "{\"name\":\"Tab\",\"email\":\"tab.$RUN@example.com\",\"password\":\"pass"$'\t'"word-1\"}"
expect "a raw TAB inside a string -> 400 Malformed JSON" 400 "$MALFORMED"
api POST /api/users "{\"name\":\"Q\",\"email\":\"nulkey.$RUN@example.com\",\"password\":\"abcdefgh1\",\"password\\u0000zz\":\"abcdefgh2\"}"
expect "a member name with \\u0000 (json-c cut it to password) -> 400 Malformed JSON" 400 "$MALFORMED"
# (that neither password logs in says nothing: an account made without a
# password, or a login refused for any other reason, 429 or 503, is "" too)
api POST /api/users "{\"name\":\"Q\",\"email\":\"nulkey.$RUN@example.com\",\"password\":\"abcdefgh1\"}"
expect "... and no account was made (its e-mail is free: a sign-up with it now is 201)" 201 \
    ".user.email == \"nulkey.$RUN@example.com\""
api POST /api/users "{\"name\":\"Dup\",\"email\":\"dup.$RUN@example.com\",\"password\":\"abcdefgh1\",\"\\u0070assword\":\"abcdefgh2\"}"
expect "a member name given twice (password, \\u0070assword) -> 400 Malformed JSON" 400 "$MALFORMED"
api POST /api/users "{\"name\":\"Typo\",\"emial\":\"typo.$RUN@example.com\",\"password\":\"password-1\"}"
expect "unknown field -> 400 naming it" 400 "$(err INVALID_ARGUMENT) and $(names emial)"
api POST /api/users "{\"name\":\"Role\",\"email\":\"role.$RUN@example.com\",\"password\":\"password-1\",\"role\":\"superuser\"}"
expect "unknown role value -> 400 naming role" 400 "$(err INVALID_ARGUMENT) and $(names role)"
api POST /api/users "{\"name\":\"Sneaky\",\"email\":\"sneaky.$RUN@example.com\",\"password\":\"password-1\",\"role\":\"admin\"}"
expect "anonymous sign-up as admin -> 403" 403 "$(err PERMISSION_DENIED)"
api POST /api/users '' -H 'Content-Type: text/plain' --data-binary '{"name":"x"}'
expect "non-JSON Content-Type -> 415" 415 '.code == "UNSUPPORTED_MEDIA_TYPE"'

# jstr VALUE: VALUE as a JSON string literal, for jq filters.
jstr() { jq -nc --arg v "$1" '$v'; }

SQL_NAME="Robert'); DROP TABLE users;-- \"\\ %_ \$1"
SQL_EMAIL="o'brien.$RUN@example.com"
api POST /api/users "$(jq -nc --arg n "$SQL_NAME" --arg e "$SQL_EMAIL" '{name:$n,email:$e,password:"password-1"}')"
expect "SQL metacharacters in name and e-mail are stored and returned literally" 201 \
    ".user.name == $(jstr "$SQL_NAME") and .user.email == $(jstr "$SQL_EMAIL")"
SQL_ID=$(jq -r '.user.id // empty' <<<"$HTTP_BODY")

UNI_NAME='José Ñandú 日本語 Ελληνικά 🍕'
UNI_EMAIL="unicode.$RUN@example.com"
api POST /api/users "$(jq -nc --arg n "$UNI_NAME" --arg e "$UNI_EMAIL" '{name:$n,email:$e,password:"pässwörd-ünï"}')"
expect "non-ASCII name is stored and returned exactly" 201 ".user.name == $(jstr "$UNI_NAME")"
UNI_TOKEN=$(token "$UNI_EMAIL" 'pässwörd-ünï')
TOKEN=$UNI_TOKEN api GET /api/users/me
expect "non-ASCII password logs in and /me returns the name unchanged" 200 ".user.name == $(jstr "$UNI_NAME")"

# ---- login and bearer tokens --------------------------------------------------------

login "$EMAIL_A" alice-pass-1
expect "login -> 200 {success, token, token_type, expires_in, refresh_token, user}" 200 \
    '.success == true and (.token | split(".") | length == 3) and .token_type == "Bearer" and (.expires_in | type == "number" and . > 0 and . <= 900) and (.refresh_token | type == "string" and length > 20) and (.user.id | type == "number")'
check_json "login user has the API's user fields only" "$HTTP_BODY" "(.user | keys) == $USER_KEYS"
check_eq "token responses are not cached" "no-store" "$(http_header Cache-Control)"
TOKEN_A=$(jq -r .token <<<"$HTTP_BODY")

login "ALICE.$RUN@EXAMPLE.com" alice-pass-1
expect "login e-mail is case-insensitive" 200 '.token | length > 0'
login "$EMAIL_A" wrong-password
expect "wrong password -> 401 Invalid email or password" 401 "$(err UNAUTHENTICATED) and .error == \"Invalid email or password\""
WRONG_PW_BODY=$(jq -c 'del(.request_id)' <<<"$HTTP_BODY")
login "nobody.$RUN@example.com" wrong-password
expect "unknown e-mail -> 401" 401 "$(err UNAUTHENTICATED)"
check_eq "unknown e-mail and wrong password answer the same" "$WRONG_PW_BODY" "$(jq -c 'del(.request_id)' <<<"$HTTP_BODY")"
api POST /api/auth/login '{"email":"x@example.com"}'
expect "login without password -> 400 naming password" 400 "$(err INVALID_ARGUMENT) and $(names password)"

TOKEN=$TOKEN_A api GET /api/users/me
expect "GET /api/users/me answers the caller" 200 ".success == true and .user.id == $ID_A and .user.email == \"$EMAIL_A\""

api GET /api/users/me
expect "no token on a user route -> 401" 401 "$(err UNAUTHENTICATED)"
check_eq "no token -> WWW-Authenticate: Bearer" "Bearer" "$(http_header WWW-Authenticate)"

INVALID='Bearer error="invalid_token"'
payload_b64=$(printf '%s' "$(claims "$ID_A" admin 600)" | base64 -w0 | tr '+/' '-_' | tr -d '=')
IFS=. read -r t_head _ t_sig <<<"$TOKEN_A"
TOKEN="$t_head.$payload_b64.$t_sig" api GET /api/users/me
expect "tampered token (payload made admin, signature kept) -> 401" 401 "$(err UNAUTHENTICATED)"
check_eq "tampered token -> WWW-Authenticate: Bearer error=\"invalid_token\"" "$INVALID" "$(http_header WWW-Authenticate)"

last=${TOKEN_A: -1}
[[ $last == A ]] && flip=B || flip=A
TOKEN="${TOKEN_A%?}$flip" api GET /api/users/me
expect "token with one signature character changed -> 401" 401 "$(err UNAUTHENTICATED)"

TOKEN="$(mint "$KEY" "$HS256" "$(claims "$ID_A" customer 600)")" api GET /api/users/me
expect "a token minted here with the stack's key is accepted (the minting is sound)" 200 ".user.id == $ID_A"

TOKEN="$(mint "$KEY" "$HS256" "$(claims "$ID_A" customer -60)")" api GET /api/users/me
expect "expired token -> 401 'Access token expired'" 401 "$(err UNAUTHENTICATED) and .error == \"Access token expired\""
check_eq "expired token -> invalid_token challenge" "$INVALID" "$(http_header WWW-Authenticate)"

# Not valid yet (docs/API.md, "token times"): an nbf in the future, an iat
# more than the 60 s clock-skew leeway ahead; the same answer as any other
# refused token, not "expired".
now=$(date +%s)
NOT_YET="$(err UNAUTHENTICATED) and .error == \"Invalid access token\""
TOKEN="$(mint "$KEY" "$HS256" "{\"sub\":\"$ID_A\",\"role\":\"admin\",\"sid\":1,\"iat\":$now,\"nbf\":$((now + 300)),\"exp\":$((now + 600))}")" \
    api GET /api/users/me
expect "token whose nbf is in the future -> 401 'Invalid access token'" 401 "$NOT_YET"
check_eq "nbf in the future -> invalid_token challenge" "$INVALID" "$(http_header WWW-Authenticate)"
TOKEN="$(mint "$KEY" "$HS256" "{\"sub\":\"$ID_A\",\"role\":\"admin\",\"sid\":1,\"iat\":$((now + 3600)),\"exp\":$((now + 4200))}")" \
    api GET /api/users/me
expect "token whose iat is an hour ahead -> 401 'Invalid access token'" 401 "$NOT_YET"
check_eq "iat in the future -> invalid_token challenge" "$INVALID" "$(http_header WWW-Authenticate)"
TOKEN="$(mint "$KEY" "$HS256" "{\"sub\":\"$ID_A\",\"role\":\"customer\",\"sid\":1,\"iat\":$((now + 10)),\"exp\":$((now + 600))}")" \
    api GET /api/users/me
expect "token whose iat is 10 s ahead (clock skew, within the leeway) is accepted" 200 ".user.id == $ID_A"

TOKEN="$(mint "$KEY" '{"alg":"none","typ":"JWT"}' "$(claims "$ID_A" admin 600)" '')" api GET /api/users/me
expect "alg:none token -> 401" 401 "$(err UNAUTHENTICATED)"
check_eq "alg:none -> invalid_token challenge" "$INVALID" "$(http_header WWW-Authenticate)"

TOKEN="$(mint "$KEY" '{"alg":"HS512","typ":"JWT"}' "$(claims "$ID_A" admin 600)")" api GET /api/users/me
expect "alg other than HS256 -> 401" 401 "$(err UNAUTHENTICATED)"

TOKEN="$(mint "a-completely-different-key-of-32-bytes-or-more" "$HS256" "$(claims "$ID_A" admin 600)")" api GET /api/users/me
expect "token signed with the wrong key -> 401" 401 "$(err UNAUTHENTICATED)"
check_eq "wrong key -> invalid_token challenge" "$INVALID" "$(http_header WWW-Authenticate)"

TOKEN="$TOKEN_A extra" api GET /api/users/me
expect "malformed Bearer credentials (two tokens) -> 401" 401 "$(err UNAUTHENTICATED)"
check_eq "malformed Bearer -> invalid_token challenge" "$INVALID" "$(http_header WWW-Authenticate)"
api GET /api/users/me '' -H 'Authorization: Bearer'
expect "'Bearer' without a token -> 401" 401 "$(err UNAUTHENTICATED)"
api GET /api/users/me '' -H 'Authorization: Basic YWRtaW46YWRtaW4='
expect "Basic credentials -> 401" 401 "$(err UNAUTHENTICATED)"
check_eq "another scheme -> plain Bearer challenge" "Bearer" "$(http_header WWW-Authenticate)"
api GET /api/users/me '' -H "Authorization: bearer $TOKEN_A"
expect "the scheme name is case-insensitive" 200 ".user.id == $ID_A"

TOKEN="not.a.token" api POST /api/users "{\"name\":\"X\",\"email\":\"optional.$RUN@example.com\",\"password\":\"password-1\"}"
expect "sign-up with a bad token is refused, not downgraded to anonymous" 401 "$(err UNAUTHENTICATED)"

# ---- who sees what --------------------------------------------------------------------

EMAIL_B="bob.$RUN@example.com"
ID_B=$(signup "Bob Example" "$EMAIL_B" bob-pass-123)
TOKEN=$TOKEN_A api GET "/api/users/$ID_B"
expect "customer A reading customer B -> 404 User not found" 404 "$(err NOT_FOUND) and .error == \"User not found\""
TOKEN=$TOKEN_A api GET "/api/users/$ID_A"
expect "customer reads itself by id" 200 ".user.id == $ID_A"
TOKEN=$TOKEN_A api GET /api/users/999999999999
expect "a missing user -> 404 (same answer as another's)" 404 "$(err NOT_FOUND) and .error == \"User not found\""
for bad in abc 0 07 -1 1.5 99999999999999999999; do
    TOKEN=$TOKEN_A api GET "/api/users/$bad"
    expect "malformed id '$bad' -> 400 naming id" 400 "$(err INVALID_ARGUMENT) and $(names id)"
done
# an id of 128 characters or more was a 404 "Route not found"
for n in 128 600; do
    TOKEN=$TOKEN_A api GET "/api/users/$(printf '1%.0s' $(seq "$n"))"
    expect "a $n-digit user id -> 400 naming id" 400 "$(err INVALID_ARGUMENT) and $(names id)"
done
TOKEN=$TOKEN_A api GET /api/users
expect "list as customer -> 403" 403 "$(err PERMISSION_DENIED)"
api GET /api/users
expect "list without a token -> 401" 401 "$(err UNAUTHENTICATED)"
TOKEN=$TOKEN_A api DELETE "/api/users/$ID_B"
expect "delete as customer -> 403" 403 "$(err PERMISSION_DENIED)"

ADMIN_TOKEN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
check "admin logs in with ADMIN_EMAIL / ADMIN_PASSWORD" test -n "$ADMIN_TOKEN"
TOKEN=$ADMIN_TOKEN api GET "/api/users/$ID_B"
expect "admin reads any user" 200 ".user.id == $ID_B"

# ---- pagination: every user exactly once ---------------------------------------------------

PAGE_IDS=()
for i in 1 2 3 4 5 6 7; do
    TOKEN=$ADMIN_TOKEN api POST /api/users "{\"name\":\"Page $i\",\"email\":\"page$i.$RUN@example.com\",\"password\":\"password-$i\"}"
    [[ $HTTP_STATUS == 201 ]] && PAGE_IDS+=("$(jq -r .user.id <<<"$HTTP_BODY")")
done
check_eq "admin created 7 users for the walk" 7 "${#PAGE_IDS[@]}"
TOKEN=$ADMIN_TOKEN api GET /api/users
expect "list default page: count == length, ordered by id" 200 \
    '.success == true and .count == (.users | length) and .count <= 50 and ([.users[].id] == ([.users[].id] | sort)) and has("next_cursor")'
# walk_users QUERY LIMIT: follows next_cursor from the first page of
# /api/users?QUERYlimit=LIMIT to the last; WALK gets the ids in order, WALK_OK
# stays 1 while every page answers 200 with count == length <= LIMIT and
# users of the documented keys.
walk_users() {
    local query=$1 limit=$2 pages=0 cursor=''
    WALK=() WALK_OK=1
    while ((pages < 10000)); do
        TOKEN=$ADMIN_TOKEN api GET "/api/users?${query}limit=$limit${cursor:+&cursor=$cursor}"
        [[ $HTTP_STATUS == 200 ]] || { WALK_OK=0; break; }
        jq -e ".count == (.users | length) and .count <= $limit"' and (.users | all(keys == '"$USER_KEYS"'))' \
            <<<"$HTTP_BODY" >/dev/null || WALK_OK=0
        mapfile -t -O "${#WALK[@]}" WALK < <(jq -r '.users[].id' <<<"$HTTP_BODY")
        pages=$((pages + 1))
        cursor=$(jq -r '.next_cursor // empty' <<<"$HTTP_BODY")
        [[ -n $cursor ]] || break
    done
}
walk_users "" 2
walk=("${WALK[@]}")
check_eq "every page of limit=2 answered 200 with count == length <= 2" 1 "$WALK_OK"
check_eq "the walk saw no user twice" "${#walk[@]}" "$(printf '%s\n' "${walk[@]}" | sort -u | wc -l)"
check_eq "the walk is in ascending id order" "$(printf '%s\n' "${walk[@]}")" "$(printf '%s\n' "${walk[@]}" | sort -n)"
missing=0
for id in "${PAGE_IDS[@]}" "$ID_A" "$ID_B"; do
    [[ " ${walk[*]} " == *" $id "* ]] || missing=$((missing + 1))
done
check_eq "the walk saw every user made here" 0 "$missing"
n=$((${#walk[@]} < 200 ? ${#walk[@]} : 200))
TOKEN=$ADMIN_TOKEN api GET "/api/users?limit=$n"
check_json "one page of limit=$n lists the walk's first $n users" "$HTTP_BODY" \
    "[.users[].id] == $(printf '%s\n' "${walk[@]:0:n}" | jq -sc .)"
for bad in 0 201 -1 abc 2.5; do
    TOKEN=$ADMIN_TOKEN api GET "/api/users?limit=$bad"
    expect "limit=$bad -> 400 naming limit" 400 "$(err INVALID_ARGUMENT) and $(names limit)"
done
TOKEN=$ADMIN_TOKEN api GET "/api/users?limit=200"
expect "limit=200 is accepted" 200 '.count <= 200'
TOKEN=$ADMIN_TOKEN api GET "/api/users?cursor=bm90LWEtY3Vyc29y"
expect "a cursor this API did not make -> 400 naming cursor" 400 "$(err INVALID_ARGUMENT) and $(names cursor)"

# newest first (what the web UI's users list shows)
walk_users "order=desc&" 3
check_eq "every page of order=desc&limit=3 answered 200 with count == length <= 3" 1 "$WALK_OK"
check_eq "the order=desc walk is the ascending walk reversed" "$(printf '%s\n' "${walk[@]}" | sort -rn)" \
    "$(printf '%s\n' "${WALK[@]}")"
TOKEN=$ADMIN_TOKEN api POST /api/users "{\"name\":\"Newest\",\"email\":\"newest.$RUN@example.com\"}"
NEWEST_ID=$(jq -r '.user.id // empty' <<<"$HTTP_BODY")
TOKEN=$ADMIN_TOKEN api GET "/api/users?order=desc&limit=1"
expect "order=desc: a user just made is first" 200 ".users[0].id == ${NEWEST_ID:-0} and .next_cursor != null"
DESC_CURSOR=$(jq -r '.next_cursor // empty' <<<"$HTTP_BODY")
TOKEN=$ADMIN_TOKEN api GET "/api/users?limit=1"
ASC_CURSOR=$(jq -r '.next_cursor // empty' <<<"$HTTP_BODY")
TOKEN=$ADMIN_TOKEN api GET "/api/users?order=desc&cursor=$ASC_CURSOR"
expect "an ascending cursor in order=desc -> 400 naming cursor" 400 "$(err INVALID_ARGUMENT) and $(names cursor)"
TOKEN=$ADMIN_TOKEN api GET "/api/users?cursor=$DESC_CURSOR"
expect "a newest-first cursor in the default order -> 400 naming cursor" 400 "$(err INVALID_ARGUMENT) and $(names cursor)"
TOKEN=$ADMIN_TOKEN api GET "/api/users?order=asc&cursor=$ASC_CURSOR&limit=1"
expect "order=asc is the default order (its cursor works)" 200 ".count == 1"
for bad in DESC newest 1 ''; do
    TOKEN=$ADMIN_TOKEN api GET "/api/users?order=$bad"
    expect "order='$bad' -> 400 naming order" 400 "$(err INVALID_ARGUMENT) and $(names order)"
done

# ---- admin creation ---------------------------------------------------------------------

NOPW_EMAIL="nopassword.$RUN@example.com"
TOKEN=$ADMIN_TOKEN api POST /api/users "{\"name\":\"No Password\",\"email\":\"$NOPW_EMAIL\"}"
expect "admin creates a user without a password" 201 '.user.role == "customer" and .user.status == "active"'
login "$NOPW_EMAIL" ""
expect "that user cannot log in (empty password)" 401 "$(err UNAUTHENTICATED)"
login "$NOPW_EMAIL" "any-password-1"
expect "that user cannot log in (any password)" 401 "$(err UNAUTHENTICATED)"
TOKEN=$ADMIN_TOKEN api POST /api/users "{\"name\":\"Second Admin\",\"email\":\"admin2.$RUN@example.com\",\"password\":\"password-1\",\"role\":\"admin\"}"
expect "admin creates an admin" 201 '.user.role == "admin"'

# ---- idempotent sign-up -----------------------------------------------------------------

IKEY="signup-$RUN"
IBODY="{\"name\":\"Idem\",\"email\":\"idem.$RUN@example.com\",\"password\":\"password-1\"}"
api POST /api/users "$IBODY" -H "Idempotency-Key: $IKEY"
expect "sign-up with an Idempotency-Key -> 201" 201 '.user.id > 0'
FIRST_BODY=$HTTP_BODY
check_eq "a first request is not marked replayed" "" "$(http_header Idempotent-Replayed)"
api POST /api/users "$IBODY" -H "Idempotency-Key: $IKEY"
check_eq "same key + same body -> the same status (201)" 201 "$HTTP_STATUS"
check_eq "same key + same body -> the same body" "$FIRST_BODY" "$HTTP_BODY"
check_eq "the replay says Idempotent-Replayed: true" "true" "$(http_header Idempotent-Replayed)"
api POST /api/users "{\"name\":\"Idem Other\",\"email\":\"idem2.$RUN@example.com\",\"password\":\"password-1\"}" \
    -H "Idempotency-Key: $IKEY"
expect "same key + another body -> 422" 422 '.success == false and .reason == "IDEMPOTENCY_KEY_REUSED"'
# An anonymous caller is its address (as for the rate limits): another
# address's key of the same name is its own, never the first one's reply.
api POST /api/users "$IBODY" -H "Idempotency-Key: $IKEY" --interface 127.0.0.7
expect "same key + same body from another anonymous address -> runs (409 email taken), no replay" 409 \
    "$(err ALREADY_EXISTS)"
check_eq "...and is not marked replayed" "" "$(http_header Idempotent-Replayed)"
OTHER_BODY="{\"name\":\"Idem Elsewhere\",\"email\":\"idem3.$RUN@example.com\",\"password\":\"password-1\"}"
api POST /api/users "$OTHER_BODY" -H "Idempotency-Key: $IKEY" --interface 127.0.0.7
expect "same key + another body from another anonymous address -> 201 (its own key)" 201 \
    ".user.email == \"idem3.$RUN@example.com\""
OTHER_FIRST=$HTTP_BODY
api POST /api/users "$OTHER_BODY" -H "Idempotency-Key: $IKEY" --interface 127.0.0.7
check_eq "that address's retry replays its own first response" "$OTHER_FIRST" "$HTTP_BODY"
check_eq "...marked Idempotent-Replayed" "true" "$(http_header Idempotent-Replayed)"
api POST /api/users "$IBODY" -H "Idempotency-Key: $IKEY"
check_eq "the first address still gets its own reply" "$FIRST_BODY" "$HTTP_BODY"
LONGKEY=$(printf 'k%.0s' {1..256})
api POST /api/users "{\"name\":\"K\",\"email\":\"key.$RUN@example.com\",\"password\":\"password-1\"}" \
    -H "Idempotency-Key: $LONGKEY"
expect "a 256-character Idempotency-Key -> 400" 400 "$(err INVALID_ARGUMENT) and $(names Idempotency-Key)"

# ---- PATCH --------------------------------------------------------------------------------

TOKEN=$TOKEN_A api PATCH "/api/users/$ID_A" '{"name":"Alice Renamed"}'
expect "PATCH own name -> 200 User updated successfully" 200 \
    '.success == true and .message == "User updated successfully" and .user.name == "Alice Renamed"'
TOKEN=$TOKEN_A api GET /api/users/me
expect "the new name is stored" 200 '.user.name == "Alice Renamed"'
TOKEN=$TOKEN_A api PATCH /api/users/me '{"name":"Alice Again"}'
expect "PATCH /api/users/me changes the caller" 200 '.user.name == "Alice Again"'
TOKEN=$TOKEN_A api PATCH "/api/users/$ID_A" '{"status":"suspended"}'
expect "customer PATCH of status -> 403" 403 "$(err PERMISSION_DENIED)"
TOKEN=$TOKEN_A api PATCH "/api/users/$ID_A" '{"role":"admin"}'
expect "customer PATCH of role -> 403" 403 "$(err PERMISSION_DENIED)"
TOKEN=$TOKEN_A api PATCH "/api/users/$ID_B" '{"name":"Hijacked"}'
expect "customer PATCH of another user -> 404" 404 "$(err NOT_FOUND)"
TOKEN=$TOKEN_A api PATCH "/api/users/$ID_A" '{"password":"alice-pass-2"}'
expect "password change without current_password -> 400 naming current_password" 400 \
    "$(err INVALID_ARGUMENT) and $(names current_password)"
# current_password only goes with password: alone it was read by nobody,
# so a wrong one passed unnoticed (200, the name changed)
TOKEN=$TOKEN_A api PATCH "/api/users/$ID_A" '{"name":"Alice Unchecked","current_password":"not-it-at-all"}'
expect "current_password without password -> 400 naming current_password" 400 \
    "$(err INVALID_ARGUMENT) and $(names current_password) and (.error | contains(\"only goes with password\"))"
TOKEN=$TOKEN_A api GET /api/users/me
expect "... and nothing was changed" 200 '.user.name == "Alice Again"'
TOKEN=$ADMIN_TOKEN api PATCH "/api/users/$ID_B" '{"status":"active","current_password":"not-it-at-all"}'
expect "current_password without password, from an admin -> 400 naming current_password" 400 \
    "$(err INVALID_ARGUMENT) and $(names current_password)"
VERIFY0=$(argon2_runs verify) HASH0=$(argon2_runs hash)
TOKEN=$TOKEN_A api PATCH "/api/users/$ID_A" '{"password":"alice-pass-2","current_password":"not-it-at-all"}'
expect "password change with a wrong current_password -> 400" 400 "$(err INVALID_ARGUMENT) and $(names current_password)"
# the reason says the password was checked and wrong: the gateway counts it
# as a failed password check (test_limits), and a client can tell it apart
check_json "... with reason CURRENT_PASSWORD_INCORRECT" "$HTTP_BODY" '.reason == "CURRENT_PASSWORD_INCORRECT"'
check_match "... and the failed-login items in RateLimit-Policy" '"login";q=[0-9]+;w=[0-9]+, "login-addr";q=' \
    "$(http_header RateLimit-Policy)"
# A wrong guess costs svc-user one Argon2id run: the new password is hashed
# only once the current one is right (it was hashed first: two runs a guess).
check_eq "... after one Argon2id verification" 1 "$(delta "$VERIFY0" "$(argon2_runs verify)")"
check_eq "... and no hash of the new password" 0 "$(delta "$HASH0" "$(argon2_runs hash)")"
VERIFY0=$(argon2_runs verify) HASH0=$(argon2_runs hash)
TOKEN=$TOKEN_A api PATCH "/api/users/$ID_A" '{"password":"alice-pass-2","current_password":"alice-pass-1"}'
expect "password change with current_password -> 200" 200 '.user.id > 0'
check_eq "... after one Argon2id verification" 1 "$(delta "$VERIFY0" "$(argon2_runs verify)")"
check_eq "... and one hash, of the new password" 1 "$(delta "$HASH0" "$(argon2_runs hash)")"
login "$EMAIL_A" alice-pass-1
expect "the old password no longer logs in" 401 "$(err UNAUTHENTICATED)"
TOKEN_A=$(token "$EMAIL_A" alice-pass-2)
check "the new password logs in" test -n "$TOKEN_A"
# current_password is checked against the hash read without a lock (no
# Argon2id run under the row's lock); the change then locks the row and
# goes on only if the hash is still that one. psql changes the password
# while the change waits for the row:
#   - to another password: checked again, against the hash now stored, the
#     old one is refused, and the other password stays;
#   - to the same password (a new salt): checked again, it passes.
EMAIL_D="dana.$RUN@example.com"
ID_D=$(signup "Dana Example" "$EMAIL_D" dana-pass-1)
# two more users with one password, each hash with its own salt
ID_E=$(signup "Erin Example" "erin.$RUN@example.com" dana-other-2)
ID_F=$(signup "Fred Example" "fred.$RUN@example.com" dana-other-2)
TOKEN_D=$(token "$EMAIL_D" dana-pass-1)
race_password_change "$ID_D" "$TOKEN_D" dana-pass-1 dana-pass-3 \
    "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE id = $ID_E) WHERE id = $ID_D;"
expect "a password changed while the change waited -> 400 CURRENT_PASSWORD_INCORRECT" 400 \
    "$(err INVALID_ARGUMENT) and $(names current_password) and .reason == \"CURRENT_PASSWORD_INCORRECT\""
login "$EMAIL_D" dana-other-2
expect "... and the password set meanwhile stays" 200 ".user.id == $ID_D"
TOKEN_D=$(token "$EMAIL_D" dana-other-2)
race_password_change "$ID_D" "$TOKEN_D" dana-other-2 dana-pass-4 \
    "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE id = $ID_F) WHERE id = $ID_D;"
expect "the same password set again (a new salt) while the change waited -> 200" 200 ".user.id == $ID_D"
login "$EMAIL_D" dana-pass-4
expect "... and the new password logs in" 200 ".user.id == $ID_D"
TOKEN=$TOKEN_A api PATCH "/api/users/$ID_A" '{"name":42}'
expect "PATCH with a wrong type -> 400 naming the field" 400 "$(err INVALID_ARGUMENT) and $(names name)"
TOKEN=$ADMIN_TOKEN api PATCH "/api/users/$ID_B" '{"status":"banned"}'
expect "PATCH with an unknown status -> 400 naming status" 400 "$(err INVALID_ARGUMENT) and $(names status)"
TOKEN=$TOKEN_A api PATCH "/api/users/$ID_A" '{"email":"new@example.com"}'
expect "PATCH of email (not changeable) -> 400 naming email" 400 "$(err INVALID_ARGUMENT) and $(names email)"
TOKEN=$TOKEN_A api PATCH "/api/users/$ID_A" '{}'
expect "PATCH with nothing to change -> 400" 400 "$(err INVALID_ARGUMENT)"
# an admin setting another user's password is not asked for the current
# one, so a current_password sent then is refused, not ignored unchecked
EMAIL_C="carol.$RUN@example.com"
ID_C=$(signup "Carol Example" "$EMAIL_C" carol-pass-123)
TOKEN=$ADMIN_TOKEN api PATCH "/api/users/$ID_C" '{"password":"carol-pass-456","current_password":"not-it-at-all"}'
expect "admin sets another's password with a current_password -> 400 naming current_password" 400 \
    "$(err INVALID_ARGUMENT) and $(names current_password)"
login "$EMAIL_C" carol-pass-123
expect "... and the password was not changed" 200 ".user.id == $ID_C"
TOKEN=$ADMIN_TOKEN api PATCH "/api/users/$ID_C" '{"password":"carol-pass-456"}'
expect "admin sets another's password without one -> 200" 200 ".user.id == $ID_C"
TOKEN=$ADMIN_TOKEN api PATCH "/api/users/$ID_B" '{"role":"admin"}'
expect "admin changes a role" 200 '.user.role == "admin"'
TOKEN=$ADMIN_TOKEN api PATCH "/api/users/$ID_B" '{"role":"customer"}'
expect "admin changes it back" 200 '.user.role == "customer"'

# ---- refresh rotation, reuse detection, logout -----------------------------------------------

login "$EMAIL_B" bob-pass-123
R1=$(jq -r .refresh_token <<<"$HTTP_BODY")
api POST /api/auth/refresh "{\"refresh_token\":\"$R1\"}"
expect "refresh -> 200 with a new token pair" 200 \
    ".success == true and .token_type == \"Bearer\" and (.token | length > 0) and .refresh_token != \"$R1\" and .user.id == $ID_B"
R2=$(jq -r .refresh_token <<<"$HTTP_BODY")
T2=$(jq -r .token <<<"$HTTP_BODY")
TOKEN=$T2 api GET /api/users/me
expect "the refreshed access token works" 200 ".user.id == $ID_B"
api POST /api/auth/refresh "{\"refresh_token\":\"$R2\"}"
expect "the new refresh token rotates again" 200 '.refresh_token | length > 0'
R3=$(jq -r .refresh_token <<<"$HTTP_BODY")
api POST /api/auth/refresh "{\"refresh_token\":\"$R1\"}"
expect "the old refresh token stops working (reuse) -> 401" 401 "$(err UNAUTHENTICATED)"
api POST /api/auth/refresh "{\"refresh_token\":\"$R3\"}"
expect "reuse revoked the session: the newest refresh token fails too" 401 "$(err UNAUTHENTICATED)"
api POST /api/auth/refresh '{"refresh_token":"made-up-token"}'
expect "an unknown refresh token -> 401" 401 "$(err UNAUTHENTICATED)"
api POST /api/auth/refresh '{"refresh_token":7}'
expect "a refresh token of the wrong type -> 400 naming refresh_token" 400 "$(err INVALID_ARGUMENT) and $(names refresh_token)"

login "$EMAIL_B" bob-pass-123
L_TOKEN=$(jq -r .token <<<"$HTTP_BODY")
L_REFRESH=$(jq -r .refresh_token <<<"$HTTP_BODY")
login "$EMAIL_B" bob-pass-123
OTHER_REFRESH=$(jq -r .refresh_token <<<"$HTTP_BODY")
TOKEN=$L_TOKEN api POST /api/auth/logout
expect "logout -> 200" 200 '.success == true and (.message | type == "string")'
api POST /api/auth/refresh "{\"refresh_token\":\"$L_REFRESH\"}"
expect "refresh after logout -> 401" 401 "$(err UNAUTHENTICATED)"
api POST /api/auth/refresh "{\"refresh_token\":\"$OTHER_REFRESH\"}"
expect "logout ends only its own session (another login still refreshes)" 200 '.refresh_token | length > 0'
api POST /api/auth/logout
expect "logout without a token -> 401" 401 "$(err UNAUTHENTICATED)"

# Logout takes no body: none, white space or {} (as a refund's). Anything
# else is refused like any body, and the session stays: a member such as
# "all_sessions" must not be silently ignored (the client would believe
# every device logged out), and malformed JSON is 400 on every route.
login "$EMAIL_B" bob-pass-123
K_TOKEN=$(jq -r .token <<<"$HTTP_BODY")
K_REFRESH=$(jq -r .refresh_token <<<"$HTTP_BODY")
TOKEN=$K_TOKEN api POST /api/auth/logout '{"all_sessions":true}'
expect "logout with an unknown member -> 400 naming it" 400 "$(err INVALID_ARGUMENT) and $(names all_sessions)"
TOKEN=$K_TOKEN api POST /api/auth/logout '{"all_sessions":'
expect "logout with malformed JSON -> 400" 400 "$(err INVALID_ARGUMENT) and .error == \"Malformed JSON in request body\""
TOKEN=$K_TOKEN api POST /api/auth/logout '[]'
expect "logout with a JSON array -> 400" 400 "$(err INVALID_ARGUMENT) and .error == \"Request body must be a JSON object\""
api POST /api/auth/refresh "{\"refresh_token\":\"$K_REFRESH\"}"
expect "a refused logout revoked nothing (its refresh token still works)" 200 '.refresh_token | length > 0'
K_REFRESH=$(jq -r .refresh_token <<<"$HTTP_BODY")
TOKEN=$K_TOKEN api POST /api/auth/logout '{}'
expect "logout with {} -> 200" 200 '.success == true'
api POST /api/auth/refresh "{\"refresh_token\":\"$K_REFRESH\"}"
expect "... and that logout ended the session" 401 "$(err UNAUTHENTICATED)"

# ---- suspended and deleted users -----------------------------------------------------------

EMAIL_S="suspended.$RUN@example.com"
ID_S=$(signup "Sus Pended" "$EMAIL_S" sus-pass-123)
login "$EMAIL_S" sus-pass-123
S_REFRESH=$(jq -r .refresh_token <<<"$HTTP_BODY")
TOKEN=$ADMIN_TOKEN api PATCH "/api/users/$ID_S" '{"status":"suspended"}'
expect "admin suspends a user" 200 '.user.status == "suspended"'
login "$EMAIL_S" sus-pass-123
expect "a suspended user cannot log in" 401 "$(err UNAUTHENTICATED)"
api POST /api/auth/refresh "{\"refresh_token\":\"$S_REFRESH\"}"
expect "a suspended user cannot refresh" 401 "$(err UNAUTHENTICATED)"
TOKEN=$ADMIN_TOKEN api PATCH "/api/users/$ID_S" '{"status":"active"}'
expect "admin reactivates the user" 200 '.user.status == "active"'
login "$EMAIL_S" sus-pass-123
expect "a reactivated user logs in again" 200 '.token | length > 0'

EMAIL_D="deleted.$RUN@example.com"
ID_D=$(signup "De Leted" "$EMAIL_D" del-pass-123)
login "$EMAIL_D" del-pass-123
D_REFRESH=$(jq -r .refresh_token <<<"$HTTP_BODY")
# DELETE takes no body either: a member ("hard": true) is refused rather
# than ignored, a non-JSON body is 415 as on any other method, and neither
# deletes anything.
TOKEN=$ADMIN_TOKEN api DELETE "/api/users/$ID_D" '{"hard":true}'
expect "DELETE with an unknown member -> 400 naming it" 400 "$(err INVALID_ARGUMENT) and $(names hard)"
TOKEN=$ADMIN_TOKEN api DELETE "/api/users/$ID_D" '' -H 'Content-Type: text/plain' --data-binary 'hard'
expect "DELETE with a text/plain body -> 415" 415 "$(err UNSUPPORTED_MEDIA_TYPE)"
TOKEN=$ADMIN_TOKEN api GET "/api/users/$ID_D"
expect "... and the refused DELETEs deleted nothing" 200 '.user.status == "active"'
TOKEN=$ADMIN_TOKEN api DELETE "/api/users/$ID_D"
expect "admin deletes a user -> 200 User deleted successfully, status deleted" 200 \
    ".success == true and .message == \"User deleted successfully\" and .user.id == $ID_D and .user.status == \"deleted\""
login "$EMAIL_D" del-pass-123
expect "a deleted user cannot log in" 401 "$(err UNAUTHENTICATED)"
api POST /api/auth/refresh "{\"refresh_token\":\"$D_REFRESH\"}"
expect "a deleted user's sessions are revoked" 401 "$(err UNAUTHENTICATED)"
TOKEN=$ADMIN_TOKEN api GET "/api/users/$ID_D"
expect "a deleted user stays readable by admins (soft delete)" 200 '.user.status == "deleted"'
TOKEN=$ADMIN_TOKEN api DELETE /api/users/999999999999
expect "deleting a missing user -> 404" 404 "$(err NOT_FOUND)"
api POST /api/users "{\"name\":\"Reuse\",\"email\":\"$EMAIL_D\",\"password\":\"password-1\"}"
expect "a deleted user's e-mail stays taken" 409 "$(err ALREADY_EXISTS)"

# ---- request ids --------------------------------------------------------------------------

api GET /api/users/me '' -H 'X-Request-Id: users-test-1'
check_json "the request id is echoed in error bodies" "$HTTP_BODY" '.request_id == "users-test-1"'
check_eq "the request id is echoed as a header" "users-test-1" "$(http_header X-Request-Id)"

TOKEN=$ADMIN_TOKEN api GET "/api/users/${SQL_ID:-0}"
expect "the SQL-looking name reads back literally (and the table is still there)" 200 ".user.name == $(jstr "$SQL_NAME")"

finish
