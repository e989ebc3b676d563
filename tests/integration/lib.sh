# shellcheck shell=bash
# shellcheck disable=SC2034  # HTTP_*, IT_* are read by the sourcing script
# Assertion and HTTP helpers for the integration scripts (tests/integration/*.sh).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   check    "gateway is ready"  curl -fsS -o /dev/null "$GATEWAY_URL/ready"
#   check_eq "ready is 200"      200 "$(http_status "$GATEWAY_URL/ready")"
#   api POST /api/auth/login '{"email":"a@b.c","password":"x"}'
#   expect "login answers 401" 401 '.success == false'
#   TOKEN=$(token admin@comanda.local admin-change-me)
#   api GET /api/users/me                  # as TOKEN
#   TOKEN=$TB api GET /api/orders          # as another caller, for one call
#   TOKEN= api POST /api/users "$json"     # anonymous
#   finish                       # prints "<script>: N passed, M failed"; non-zero on failures
#
# Checks (each prints "ok   NAME" or "FAIL NAME" plus details, and counts):
#   check NAME CMD...              CMD exits 0
#   check_not NAME CMD...          CMD fails
#   check_eq NAME EXPECTED ACTUAL  string equality
#   check_match NAME ERE ACTUAL    [[ ACTUAL =~ ERE ]]
#   check_json NAME JSON FILTER    jq -e FILTER is true on JSON
#   expect NAME STATUS [FILTER]    the last http/api answer had STATUS and its
#                                  body passes FILTER (default true): one check
#   pass NAME / fail NAME [DETAIL...] / skip NAME REASON   by hand
#   finish                         the closing count line; returns 1 on failures
#
# HTTP, one convention for every script:
#   http METHOD URL [BODY] [CURL_ARGS...]   any URL (admin ports, a second gateway)
#   api METHOD PATH [BODY] [CURL_ARGS...]   the same, to $GATEWAY_URL$PATH
#     A non-empty BODY is sent as application/json; pass '' to give CURL_ARGS
#     without one (-H 'Idempotency-Key: k', --interface 127.0.0.2,
#     --data-binary @file with its own -H 'Content-Type: ...').
#     Authorization: "Bearer $TOKEN" when TOKEN is non-empty. TOKEN is an
#     ordinary variable, empty after sourcing (anonymous; one exported by the
#     caller's shell is not used): set it for the script, or for one call as a prefix
#     (TOKEN=$T api ...); an unusual header goes in CURL_ARGS with TOKEN
#     empty (TOKEN= api GET /x '' -H 'Authorization: Basic ...').
#     Timeout: HTTP_TIMEOUT seconds (default 5).
#     Sets HTTP_STATUS (000 when no answer), HTTP_BODY (trailing newlines
#     dropped, as $(...) does) and HTTP_HEADERS (the raw header lines); never
#     fails (safe under set -e).
#   http_header NAME    the value of header NAME in the last answer ("" if none)
#   http_status URL [CURL_ARGS...]   prints just the status of a GET (or of
#                                    what CURL_ARGS make it); sets nothing
#   token EMAIL PASSWORD             prints an access token ("" when login fails)
#   signup NAME EMAIL PASSWORD       creates a customer; prints its id ("" on failure)
#   err CODE    a jq filter: the API's error envelope with .code == CODE
#   mint KEY HEADER_JSON PAYLOAD_JSON [SIGNATURE]   a hand-made JWS (HS256 under
#               KEY, or SIGNATURE verbatim); HS256 is the usual header and
#               claims SUB ROLE EXP_OFFSET_S the usual payload
#   (token, signup and anything run in $(...) set HTTP_* only in that subshell;
#   requests made in parallel, in background jobs or xargs, use curl directly.)
#
# Other: wait_until SECONDS CMD... (polls every 0.1 s); stack ARGS... (runs
# scripts/stack.sh, e.g. stack kill-svc svc-order).
#
# Sourcing it also loads the stack's environment (scripts/stack.sh env, for
# $COMANDA_RUN_DIR or else the repo's .run/dev) unless GATEWAY_URL is set,
# so a script runs the same under scripts/test.sh and by hand after `make up`.
# It sets no shell options and no traps: the script chooses its own (set
# -uo pipefail is typical; the checks never trip `set -e`).

IT_NAME=$(basename "${0%.sh}")
IT_PASSED=0
IT_FAILED=0
IT_SKIPPED=0
IT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

if [[ -z ${GATEWAY_URL:-} ]]; then
    if IT_ENV=$(cd "$IT_REPO" && scripts/stack.sh env 2>/dev/null); then
        eval "$IT_ENV"
    else
        printf '%s: no running stack found (scripts/stack.sh up first)\n' "$IT_NAME" >&2
    fi
    unset IT_ENV
fi

# The stack's control script, for kill/restart tests:
#   stack kill-svc svc-order; stack start-svc svc-order
stack() { (cd "$IT_REPO" && scripts/stack.sh "$@"); }

pass() { IT_PASSED=$((IT_PASSED + 1)); printf 'ok   %s\n' "$1"; }

# fail NAME [DETAIL...]
fail() {
    local name=$1
    shift
    IT_FAILED=$((IT_FAILED + 1))
    printf 'FAIL %s\n' "$name"
    (($#)) && printf '     %s\n' "$@"
    return 0
}

# skip NAME REASON: counted apart; does not fail the run.
skip() { IT_SKIPPED=$((IT_SKIPPED + 1)); printf 'skip %s: %s\n' "$1" "${2:-}"; }

# check NAME CMD...: passes when CMD exits 0; on failure shows its last output.
check() {
    local name=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    if ((rc == 0)); then
        pass "$name"
    else
        fail "$name" "exit $rc: $*"
        [[ -n $out ]] && printf '%s\n' "$out" | tail -n 15 | sed 's/^/     | /'
    fi
    return 0
}

# check_not NAME CMD...: passes when CMD fails.
check_not() {
    local name=$1
    shift
    if "$@" >/dev/null 2>&1; then fail "$name" "succeeded but should not: $*"; else pass "$name"; fi
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [[ $2 == "$3" ]]; then
        pass "$1"
    else
        fail "$1" "expected: $2" "actual:   $3"
    fi
}

# check_match NAME EXTENDED_REGEX ACTUAL
check_match() {
    if [[ $3 =~ $2 ]]; then
        pass "$1"
    else
        fail "$1" "expected to match: $2" "actual: $3"
    fi
}

# check_json NAME JSON JQ_FILTER: passes when the filter yields true
# (e.g. check_json "has id" "$HTTP_BODY" '.data.id | type == "string"').
check_json() {
    local got
    got=$(printf '%s' "$2" | jq -e "$3" 2>&1) && { pass "$1"; return 0; }
    fail "$1" "jq: $3 -> ${got:-error}" "body: ${2:0:300}"
}

# http_status URL [CURL_ARGS...]: prints the HTTP status (000 when no answer).
http_status() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time "${HTTP_TIMEOUT:-5}" "$@" "$url" || true
}

# http METHOD URL [BODY] [CURL_ARGS...]: sets HTTP_STATUS, HTTP_BODY and
# HTTP_HEADERS (see the header comment). curl writes the headers, then the
# body, then "<header bytes> <status>" on a line of its own; the headers are
# cut off by their byte count (LC_ALL=C: a UTF-8 body counts in bytes too).
HTTP_STATUS=000
HTTP_BODY=
HTTP_HEADERS=
TOKEN=
http() {
    local method=$1 url=$2 body=${3:-} out tail size LC_ALL=C
    shift 2
    (($#)) && shift
    local -a args=(-s -D - -X "$method" --max-time "${HTTP_TIMEOUT:-5}" -w '\n%{size_header} %{http_code}')
    [[ -n ${TOKEN:-} ]] && args+=(-H "Authorization: Bearer $TOKEN")
    [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    out=$(curl "${args[@]}" "$@" "$url") || true
    if [[ $out == *$'\n'* ]]; then
        tail=${out##*$'\n'} out=${out%$'\n'*}
    else
        tail=$out out=
    fi
    size=${tail%% *}
    HTTP_STATUS=${tail##* }
    [[ $size =~ ^[0-9]+$ ]] || size=0
    [[ $HTTP_STATUS =~ ^[0-9]{3}$ ]] || HTTP_STATUS=000
    HTTP_HEADERS=${out:0:size}
    HTTP_BODY=${out:size}
    while [[ $HTTP_BODY == *$'\n' ]]; do HTTP_BODY=${HTTP_BODY%$'\n'}; done
    return 0
}

# api METHOD PATH [BODY] [CURL_ARGS...]: http to $GATEWAY_URL$PATH.
api() { http "$1" "$GATEWAY_URL$2" "${@:3}"; }

# http_header NAME: header NAME of the last answer (case-insensitive; the
# first one when repeated; "" when absent).
http_header() { sed -n "s/^$1: *//Ip" <<<"$HTTP_HEADERS" | tr -d '\r' | head -n1; }

# expect NAME STATUS [JQ_FILTER]: one check on the last http/api answer: it
# had STATUS and its body satisfies the filter.
expect() {
    local name=$1 want=$2 filter=${3:-true}
    if [[ $HTTP_STATUS != "$want" ]]; then
        fail "$name" "HTTP $HTTP_STATUS, want $want" "body: ${HTTP_BODY:0:400}"
        return 0
    fi
    check_json "$name" "$HTTP_BODY" "$filter"
}

# err CODE: a jq filter for the API's error envelope with that code.
err() { printf '.success == false and .code == "%s" and (.request_id | type == "string")' "$1"; }

# token EMAIL PASSWORD: prints an access token ("" when login fails).
token() {
    TOKEN='' api POST /api/auth/login "$(jq -nc --arg e "$1" --arg p "$2" '{email:$e,password:$p}')"
    [[ $HTTP_STATUS == 200 ]] && jq -r '.token // empty' <<<"$HTTP_BODY"
}

# signup NAME EMAIL PASSWORD: creates a customer; prints its id ("" on failure).
signup() {
    TOKEN='' api POST /api/users "$(jq -nc --arg n "$1" --arg e "$2" --arg p "$3" '{name:$n,email:$e,password:$p}')"
    [[ $HTTP_STATUS == 201 ]] && jq -r .user.id <<<"$HTTP_BODY"
}

# mint KEY HEADER_JSON PAYLOAD_JSON [SIGNATURE]: a JWS compact token signed
# with HMAC-SHA256 under KEY (or carrying SIGNATURE verbatim).
mint() {
    python3 - "$@" <<'PY'
import base64, hashlib, hmac, sys
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key, header, payload = sys.argv[1:4]
signing = b64(header.encode()) + "." + b64(payload.encode())
sig = sys.argv[4] if len(sys.argv) > 4 else b64(hmac.new(key.encode(), signing.encode(), hashlib.sha256).digest())
print(signing + "." + sig)
PY
}

HS256='{"alg":"HS256","typ":"JWT"}'
claims() { # claims SUB ROLE EXP_OFFSET_S
    local now
    now=$(date +%s)
    printf '{"sub":"%s","role":"%s","sid":1,"iat":%d,"exp":%d}' "$1" "$2" "$now" $((now + $3))
}

# wait_until SECONDS CMD...: polls CMD, every 0.1 s for its first 2 s, then
# every 0.5 s; returns 0 once it succeeds. The slower pace keeps a long wait
# whose CMD makes API calls under the gateway's per-caller rate limit (20/s,
# a burst of 100): at 10 polls a second, a CMD of two calls ran out of its
# burst in 10 s, and each call after that was a 429, so the wait timed out
# whatever the state (chaos.sh's checks were blinded so).
wait_until() {
    local tenths=$(($1 * 10)) polls=0
    shift
    while ((tenths > 0)); do
        "$@" >/dev/null 2>&1 && return 0
        if ((polls++ < 20)); then
            sleep 0.1
            tenths=$((tenths - 1))
        else
            sleep 0.5
            tenths=$((tenths - 5))
        fi
    done
    "$@" >/dev/null 2>&1
}

# pg_admin PSQL_ARGS...: psql as the stack's PostgreSQL superuser, quiet,
# unaligned, stopping at the first error.
pg_admin() { psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$COMANDA_PG_PORT" -U postgres "$@"; }

# pg_pay SQL: one statement on svc-payment's database as svc-payment's own
# role; pg_pay_admin SQL: the same as the superuser (what the service's role
# may not do, such as triggers that simulate a crash). Output and errors on
# stdout.
pg_pay() { psql "$PAYMENT_DB_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1" 2>&1; }
pg_pay_admin() { pg_admin -d "${PAYMENT_DB_URL##*/}" -c "$1" 2>&1; }

# payment_of ORDER_ID: the id of the order's first payment ("" while there
# is none); has_payment ORDER_ID: whether it has one yet.
payment_of() { pg_pay "SELECT id FROM payments WHERE order_id = '$1' ORDER BY id LIMIT 1"; }
has_payment() { [[ -n $(payment_of "$1") ]]; }

# check_left_completed PAY ORDER: the checks of a payment whose refund the
# processor refused (409 NO_PROCESSOR_CHARGE, docs/API.md): it stays
# completed, with no refund mark left for the sweep, its audit shows no
# refund, and no payment.refunded of its order is in the outbox. Needs
# TADMIN.
check_left_completed() {
    check_eq "the payment is not refunded: it stays completed" completed \
        "$(pg_pay_admin "SELECT status FROM payments WHERE id = $1")"
    check_eq "... with no refund mark left (nothing for the sweep)" t \
        "$(pg_pay_admin "SELECT refund_started_at IS NULL FROM payments WHERE id = $1")"
    TOKEN=$TADMIN api GET "/api/payments/$1/audit"
    check_json "audit: created, completed; no refund" "$HTTP_BODY" '[.entries[].to_status] == ["pending","completed"]'
    check_eq "no payment.refunded in the outbox" 0 \
        "$(pg_pay_admin "SELECT count(*) FROM outbox WHERE event_type = 'payment.refunded' AND correlation_id = '$2'")"
}

# no_card_pending: no card payment is pending, so the sweep's processor
# calls from here on are the caller's (wait for it before counting them).
no_card_pending() {
    [[ $(pg_pay_admin "SELECT count(*) FROM payments WHERE status = 'pending' AND payment_method IN ('credit_card', 'debit_card')") == 0 ]]
}

# processor_calls KIND: how many calls of that kind (charge, lookup, refund)
# svc-payment has made to its payment processor (its /metrics); "none" when
# /metrics did not answer or has no such series (svc-payment registers all
# three at 0, so that is never a count). processor_calls_since KIND BEFORE:
# the calls since the count was BEFORE, or "unread (BEFORE -> NOW)" when
# either is not a count: two failed reads are no "0 calls".
processor_calls() {
    curl -s --max-time 5 "http://127.0.0.1:$PAYMENT_ADMIN_PORT/metrics" |
        awk -v m="comanda_payment_processor_calls_total{call=\"$1\"}" '$1 == m { print $2; f = 1 } END { if (!f) print "none" }'
}
processor_calls_since() { delta "$2" "$(processor_calls "$1")"; }

# delta BEFORE NOW: NOW - BEFORE when both are counts, else "unread (BEFORE
# -> NOW)": a check that a count did not change (check_eq NAME 0 "$(delta
# ...)") must not pass on two reads that failed the same way ("error 503"
# twice, "?" twice), nor vanish in a bash arithmetic error.
delta() {
    if [[ $1 =~ ^-?[0-9]+$ && $2 =~ ^-?[0-9]+$ ]]; then
        echo $(($2 - $1))
    else
        echo "unread ($1 -> $2)"
    fi
}

# The administrator the stack bootstraps (scripts/stack.sh), unless the
# caller says otherwise.
ADMIN_EMAIL=${ADMIN_EMAIL:-admin@comanda.local}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-admin-change-me}

# free_ports N: N distinct ports free on 127.0.0.1 now, space-separated
# (all held open at once while chosen, so none repeats).
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(*(s.getsockname()[1] for s in socks))
PY
}

# live_build NAME: builds the C test program tests/integration/NAME.c
# (make $BUILD/tests/NAME, with sanitizers unless LIVE_SAN=0) and sets
# LIVE_BIN to its path; a failed build is one failed check with the build's
# tail, and returns 1.
LIVE_BIN=
live_build() {
    local san=1 out
    LIVE_BIN=build/san/tests/$1
    [[ ${LIVE_SAN:-1} == 1 ]] || LIVE_BIN=build/tests/$1 san=0
    if ! out=$(cd "$IT_REPO" && make --no-print-directory -j"${JOBS:-$(nproc)}" SAN=$san "$LIVE_BIN" 2>&1); then
        fail "build $LIVE_BIN" "$(printf '%s\n' "$out" | tail -n 20 | sed 's/^/| /')"
        return 1
    fi
    LIVE_BIN=$IT_REPO/$LIVE_BIN
}

# live_run ARGS...: runs $LIVE_BIN ARGS (after live_build): its "ok"/"FAIL"
# lines and its own summary line go to stdout as they come (scripts/test.sh
# counts that line), its stderr (log lines, a sanitizer's report) is kept
# aside. A program that ends without its summary line (a crash, a missing
# setting: its checks never ran) or exits non-zero with none of its checks
# failed (a leak reported at exit) is one failed check here, with the tail
# of its stderr: either would otherwise pass unseen. Returns its exit status.
live_run() {
    local name rc out err summary
    name=$(basename "$LIVE_BIN")
    out=$(mktemp) err=$(mktemp)
    "$LIVE_BIN" "$@" 2>"$err" | tee "$out"
    rc=${PIPESTATUS[0]}
    summary=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$out" | tail -n1)
    if [[ -z $summary ]]; then
        fail "$name runs to its summary line" "exit $rc, no \"$name: N passed, M failed\" line; its stderr ends:" \
            "$(tail -n 15 "$err" | sed 's/^/| /')"
    elif ((rc != 0)) && [[ $summary =~ \ 0\ failed ]]; then
        fail "$name exits 0 when none of its checks failed" "exit $rc after \"$summary\"; its stderr ends:" \
            "$(tail -n 15 "$err" | sed 's/^/| /')"
    fi
    rm -f "$out" "$err"
    return "$rc"
}

# finish: the closing line "<script>: N passed, M failed[, K skipped]";
# returns 1 when a check failed (use as the script's last command).
finish() {
    local line="$IT_PASSED passed, $IT_FAILED failed"
    ((IT_SKIPPED)) && line+=", $IT_SKIPPED skipped"
    printf '%s: %s\n' "$IT_NAME" "$line"
    ((IT_FAILED == 0))
}
