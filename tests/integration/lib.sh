# shellcheck shell=bash
# shellcheck disable=SC2034  # HTTP_STATUS, HTTP_BODY, IT_* are read by the sourcing script
# Tiny assertion helpers for the integration scripts (tests/integration/*.sh).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   check    "gateway is ready"  curl -fsS -o /dev/null "$GATEWAY_URL/ready"
#   check_eq "ready is 200"      200 "$(http_status "$GATEWAY_URL/ready")"
#   http POST "$GATEWAY_URL/api/auth/login" '{"email":"a@b.c","password":"x"}'
#   check_eq "login answers 401" 401 "$HTTP_STATUS"
#   finish                       # prints "<script>: N passed, M failed"; non-zero on failures
#
# Sourcing it also loads the stack's environment (scripts/stack.sh env, for
# $COMANDA_RUN_DIR or else the repo's .run/dev) unless GATEWAY_URL is set,
# so a script runs the same under scripts/test.sh and by hand after `make up`.
# It sets no shell options: the script chooses its own (set -uo pipefail is
# typical; check/check_eq never trip `set -e`).

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

# http METHOD URL [JSON_BODY] [CURL_ARGS...]: sets HTTP_STATUS and HTTP_BODY.
# Sends a bearer token when TOKEN is set.
HTTP_STATUS=000
HTTP_BODY=
http() {
    local method=$1 url=$2 body=${3:-} out
    shift 2
    (($#)) && shift
    local -a args=(-s -X "$method" --max-time "${HTTP_TIMEOUT:-5}" -w '\n%{http_code}')
    [[ -n ${TOKEN:-} ]] && args+=(-H "Authorization: Bearer $TOKEN")
    [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    out=$(curl "${args[@]}" "$@" "$url") || true
    HTTP_STATUS=${out##*$'\n'}
    HTTP_BODY=${out%$'\n'*}
    [[ $out == *$'\n'* ]] || HTTP_BODY=
    [[ -n $HTTP_STATUS ]] || HTTP_STATUS=000
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s; returns 0 once it succeeds.
wait_until() {
    local tenths=$(($1 * 10))
    shift
    while ((tenths-- > 0)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    "$@" >/dev/null 2>&1
}

# finish: the closing line "<script>: N passed, M failed[, K skipped]";
# returns 1 when a check failed (use as the script's last command).
finish() {
    local line="$IT_PASSED passed, $IT_FAILED failed"
    ((IT_SKIPPED)) && line+=", $IT_SKIPPED skipped"
    printf '%s: %s\n' "$IT_NAME" "$line"
    ((IT_FAILED == 0))
}
