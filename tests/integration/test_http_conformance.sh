#!/usr/bin/env bash
# Integration: the gateway's HTTP layer (lib/httpd.c under gateway/) keeps
# what docs/API.md and RFC 9110/9112 promise about request handling, against
# a live stack. Each section names the promise it checks:
#
#   1. Many query arguments: up to 100 are served; more are a JSON 414
#      URI_TOO_LONG; no count around libmicrohttpd's per-connection buffer
#      (64 bytes per argument) runs the handler and then loses its answer
#      (orders made = 201 answers), and every answer in 95-105 and 440-500
#      is JSON. (Far more, 800 and 2000, may be refused by libmicrohttpd
#      itself, as documented; only "no order without a 201" is checked.)
#   2. The 8 KiB path+query limit counts the target as sent: 9 KB and 24 KB
#      of %XX escapes are a JSON 414 URI_TOO_LONG.
#   3. "Login responses add the items "login" and "login-addr" to both
#      headers", a login refused for its body (400) included
#      (gw_ratelimit_login_peek).
#   4. A 304 to If-None-Match carries no Content-Length or the 200's, never
#      0 (RFC 9110 8.6).
#   5. An absolute-form request target (GET http://host:port/health, RFC
#      9112 3.2.2: a server MUST accept it) is served as its path.
#   6. Message framing (RFC 9112 6.1, 6.3): two Content-Length fields with
#      different values are a 400 and the connection closed; Transfer-
#      Encoding with Content-Length is refused and the connection closed,
#      so bytes a proxy counted as body are never served as a second
#      request (request smuggling).
#   7. Chunked bodies over 1 MiB: a 2 MiB one is a JSON 413 at its end; one
#      over 16 MiB is a 413 or, as API.md documents, the connection closed
#      once 16 MiB were read; nothing is stored either way.
#   8. Rate limits: only GET /health, /status, /ready, /metrics are never
#      limited, "unknown paths and wrong methods are charged too": a POST
#      /health (405) is charged (RateLimit headers, 429 once the bucket is
#      empty).
#   9. An HTTP/1.1 request without Host, or any with two, is a JSON 400
#      (RFC 9112 3.2); HTTP/1.0 without Host is served.
#  10. One value where one is meant: a query parameter given twice is 400
#      naming it; so are two Authorization or two Idempotency-Key fields;
#      nothing is stored.
#  11. An encoded slash is data: /api%2Fusers/me is 404, not /api/users/me.
#
# Needs: the stack up (scripts/stack.sh up), curl, jq, python3. Every
# section speaks from its own loopback address so that the rate limits of
# one do not spill into another.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

RUN=$(date +%s)-$$
PORT=${GATEWAY_URL##*:}

# args N: N bare query arguments of distinct names, "a0&a1&...": a name
# given twice would be refused for that alone (section 10)
args() { python3 -c "import sys; print('&'.join('a%d' % i for i in range(int(sys.argv[1]))))" "$1"; }

# ==== 1. many query arguments ===================================================

uid=$(signup "Review $RUN" "review-$RUN@example.com" correct-horse-1)
check_match "setup: a customer signs up" '^[0-9]+$' "$uid"
TOKEN=$(token "review-$RUN@example.com" correct-horse-1)
ORDER='{"items":[{"product":"Book","quantity":1,"price":1}]}'

orders_count() {
    api GET /api/orders/stats '' --interface 127.0.0.61
    jq -r '.stats.orders // "?"' <<<"$HTTP_BODY"
}
before=$(orders_count)
silent=0 nonjson=0 created=0 seen= capped=
# 440-500: the window where libmicrohttpd's buffer used to run out after the
# handler ran; 95-105: around the cap of 100 arguments
for n in $(seq 95 105) $(seq 440 500); do
    api POST "/api/orders?$(args "$n")" "$ORDER" --interface 127.0.0.61
    if [[ $HTTP_STATUS == 000 ]]; then
        silent=$((silent + 1)) seen+=" $n:none"
    elif ! jq -e '.success | type == "boolean"' <<<"$HTTP_BODY" >/dev/null 2>&1; then
        nonjson=$((nonjson + 1)) seen+=" $n:$HTTP_STATUS-not-JSON"
    elif [[ $HTTP_STATUS == 201 ]]; then
        created=$((created + 1))
    fi
    if ((n <= 105)); then
        capped+=" $n:$HTTP_STATUS$([[ $HTTP_STATUS == 414 ]] && jq -r '"/" + .code' <<<"$HTTP_BODY")"
    fi
    sleep 0.06 # stay under RATE_LIMIT_RPS
done
check_eq "1: POST /api/orders with 95-105 and 440-500 bare query arguments (~1 KB URL) always gets an answer" \
    0 "$silent"
[[ -n $seen ]] && printf '     (argument count:outcome)%s\n' "$seen"
check_eq "1: ... and that answer is JSON (no libmicrohttpd HTML 431 far below the documented limits)" 0 "$nonjson"
check_eq "1: up to 100 arguments are served, more are 414 URI_TOO_LONG" \
    " 95:201 96:201 97:201 98:201 99:201 100:201 101:414/URI_TOO_LONG 102:414/URI_TOO_LONG 103:414/URI_TOO_LONG 104:414/URI_TOO_LONG 105:414/URI_TOO_LONG" \
    "$capped"
# Far more arguments than the connection's buffer has room for records:
# libmicrohttpd refuses them itself (HTML 431, or nothing until the idle
# timeout), documented; what matters is that no order is made unanswered.
for n in 800 2000; do
    HTTP_TIMEOUT=2 api POST "/api/orders?$(args "$n")" "$ORDER" --interface 127.0.0.61
    [[ $HTTP_STATUS == 201 ]] && created=$((created + 1))
done
check_eq "1: no order is created without a 201 answer (orders made = 201 answers)" \
    "$created" "$(delta "$before" "$(orders_count)")"

# ==== 2. the URL limit counts the bytes sent =====================================

esc=$(python3 -c "print('%41' * 3000)")
TOKEN= api GET "/api/users?x=$esc" '' --interface 127.0.0.62
check_eq "2: a 9 KB path+query of %XX escapes (3000 decoded bytes) is 414 URI_TOO_LONG" 414 "$HTTP_STATUS"
check_json "2: ... in the JSON error envelope" "${HTTP_BODY:-null}" "$(err URI_TOO_LONG)"
esc=$(python3 -c "print('%41' * 8000)")
TOKEN= api GET "/health?x=$esc" '' --interface 127.0.0.62
check_eq "2: a 24 KB request target of escapes is 414, not served" 414 "$HTTP_STATUS"

# ==== 3. RateLimit items of the login route on every login answer ================

TOKEN= api POST /api/auth/login '{"email":1,"password":"x"}' --interface 127.0.0.63
check_eq "3: a login with a bad body is 400" 400 "$HTTP_STATUS"
check_match "3: ... and its RateLimit-Policy has the login item" '"login";q=[0-9]+;w=[0-9]+' \
    "$(http_header RateLimit-Policy)"
check_match "3: ... and its RateLimit has the login-addr item" '"login-addr";r=[0-9]+;t=[0-9]+' \
    "$(http_header RateLimit)"

# ==== 4. 304 without a false Content-Length ======================================

TOKEN= api GET / '' --interface 127.0.0.64
len200=$(http_header Content-Length)
etag=$(http_header ETag)
check_eq "4: GET / is 200 with an ETag" "200 yes" "$HTTP_STATUS $([[ -n $etag ]] && echo yes)"
TOKEN= api GET / '' --interface 127.0.0.64 -H "If-None-Match: $etag"
check_eq "4: GET / with its ETag in If-None-Match is 304" 304 "$HTTP_STATUS"
cl=$(http_header Content-Length)
if [[ -z $cl || $cl == "$len200" ]]; then
    pass "4: the 304 carries no Content-Length, or the 200's ($len200) (RFC 9110 8.6)"
else
    fail "4: the 304 carries no Content-Length, or the 200's ($len200) (RFC 9110 8.6)" "Content-Length: $cl"
fi

# ==== 5. absolute-form request target =============================================

status=$(python3 - "$PORT" <<'PY'
import sys
sys.path.insert(0, "tests/integration")
from rawhttp import exchange
port = int(sys.argv[1])
data = exchange(port, f"GET http://127.0.0.1:{port}/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Connection: close\r\n\r\n".encode())
print(data.split(b"\r\n", 1)[0].decode(errors="replace"))
PY
)
check_eq "5: GET http://host:port/health (absolute form) is served like GET /health" "HTTP/1.1 200 OK" "$status"

# ==== 6. ambiguous framing is refused, not split into two requests ===============

framing=$(python3 - "$PORT" <<'PY'
import re, sys
sys.path.insert(0, "tests/integration")
from rawhttp import exchange
port = int(sys.argv[1])
def send(data):
    t = exchange(port, data, timeout=3, timeout_ends=True).decode("latin1")
    status = re.findall(r"^HTTP/1.1 (\d+)", t, re.M)
    return ",".join(status) + (" smuggled-answered" if "X-Request-Id: review-smuggled" in t else "")
inner = (b"GET /api/review-smuggled HTTP/1.1\r\nHost: x\r\nX-Request-Id: review-smuggled\r\n"
         b"Connection: close\r\n\r\n")
head = b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
body = b"{}" + inner
dup = head + b"Content-Length: 2\r\nContent-Length: %d\r\n\r\n" % len(body) + body
chunks = b"2\r\n{}\r\n0\r\n\r\n"
tecl = head + b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n" % (len(chunks) + len(inner)) + chunks + inner
print(send(dup) + "|" + send(tecl))
PY
)
check_eq "6: two Content-Length fields (2 and the real length) in one request: one 400, nothing served after it" \
    "400" "${framing%%|*}"
tecl=${framing#*|}
check_match "6: Transfer-Encoding + Content-Length: the bytes after the chunked body are not served as a request" \
    '^[0-9]{3}$' "$tecl"

# ==== 7. chunked bodies over the limit ============================================
# API.md: a chunked body over 1 MiB is read and dropped, and answered 413 at
# its end; past 16 MiB the connection is closed without an answer
# (libmicrohttpd 0.9.75 cannot send an answer while a body is coming in).
# Nothing is stored either way. The bodies are a valid signup once the
# spaces are dropped, so that a body served anyway would show as a user.

big=$(mktemp)
body_of() { # body_of FILE EMAIL MiB
    { printf '{"name":"Big","email":"%s","password":"correct-horse-1"' "$2"
      head -c $(($3 * 1024 * 1024)) /dev/zero | tr '\0' ' '
      printf '}'; } >"$1"
}
body_of "$big" "big2-$RUN@example.com" 2
out=$(curl -s --interface 127.0.0.65 --max-time 30 -w '\n%{http_code}' -X POST \
    -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$big" \
    "$GATEWAY_URL/api/users" 2>/dev/null)
check_eq "7: a 2 MiB chunked body is answered 413 at its end" 413 "${out##*$'\n'}"
check_json "7: ... in the JSON error envelope" "${out%$'\n'*}" "$(err PAYLOAD_TOO_LARGE)"
body_of "$big" "big17-$RUN@example.com" 17
rc=0
res=$(curl -s --interface 127.0.0.65 --max-time 30 -o /dev/null -w '%{http_code} %{size_upload}' -X POST \
    -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$big" \
    "$GATEWAY_URL/api/users" 2>/dev/null) || rc=$?
rm -f "$big"
code=${res%% *} sent=${res##* }
# curl: 52 empty reply, 55 send failure, 56 receive failure (reset);
# "100" is the 100 Continue it asked for, the last answer it saw
if [[ $code == 413 ]] || { [[ $code == 000 || $code == 100 ]] && ((rc == 52 || rc == 55 || rc == 56)) &&
    ((sent >= 16 * 1024 * 1024)); }; then
    pass "7: a 17 MiB chunked body: a 413, or the connection closed after 16 MiB ($code, curl exit $rc, $sent bytes sent)"
else
    fail "7: a 17 MiB chunked body: a 413, or the connection closed after 16 MiB" \
        "http code $code, curl exit $rc, $sent bytes sent"
fi
for n in 2 17; do
    TOKEN= api POST /api/auth/login "{\"email\":\"big$n-$RUN@example.com\",\"password\":\"correct-horse-1\"}" \
        --interface 127.0.0.65
    check_eq "7: ... nothing stored from the $n MiB body (its signup cannot log in)" 401 "$HTTP_STATUS"
done

# ==== 8. a wrong method on an exempt probe route is charged =======================

TOKEN= api POST /health '' --interface 127.0.0.66
check_eq "8: POST /health is 405" 405 "$HTTP_STATUS"
check_match "8: ... charged like any wrong method (RateLimit header)" '^"default";r=[0-9]+;t=[0-9]+$' \
    "$(http_header RateLimit)"
codes=$(for _ in $(seq 1 130); do printf 'url = "%s/health"\nrequest = "POST"\noutput = "/dev/null"\n' "$GATEWAY_URL"; done |
    curl -s --interface 127.0.0.66 -K - -w '%{http_code}\n' | sort | uniq -c | xargs)
check_match "8: 130 POST /health from one address run out of the bucket (some 429)" '429' "$codes"

# ==== 9. an HTTP/1.1 request without Host is 400 ====================================

hostless=$(python3 - "$PORT" <<'PY'
import json, sys
sys.path.insert(0, "tests/integration")
from rawhttp import exchange
port = int(sys.argv[1])
def send(req):
    head, _, body = exchange(port, req).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    try:
        code = json.loads(body).get("code", "")
    except ValueError:
        code = "not-JSON"
    return f"{status} {code}"
print(send(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"))
print(send(b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n"))
print(send(b"GET /health HTTP/1.0\r\n\r\n"))
PY
)
check_eq "9: GET /health HTTP/1.1 without Host is a JSON 400 (RFC 9112 3.2)" \
    "HTTP/1.1 400 Bad Request INVALID_ARGUMENT" "$(sed -n 1p <<<"$hostless")"
check_eq "9: ... and so is one with two Host fields" \
    "HTTP/1.1 400 Bad Request INVALID_ARGUMENT" "$(sed -n 2p <<<"$hostless")"
check_match "9: GET /health HTTP/1.0 without Host is still served" '^HTTP/1\.[01] 200 OK' "$(sed -n 3p <<<"$hostless")"

# ==== 10. one value where one is meant ==============================================

once() { printf '%s and (.details == [{"field": "%s", "issue": "must be given once"}])' "$(err INVALID_ARGUMENT)" "$1"; }
api GET '/api/orders?limit=1&limit=abc' '' --interface 127.0.0.70
expect "10: ?limit=1&limit=abc is 400 naming limit" 400 "$(once limit)"
api GET '/api/orders?status=pending&limit=2&status=paid' '' --interface 127.0.0.70
expect "10: a repeated status, other parameters between, is 400 naming status" 400 "$(once status)"
api GET '/api/orders?limit=1&Limit=abc' '' --interface 127.0.0.70
expect "10: (limit and Limit are two parameters: 200)" 200 '.success == true'
before=$(orders_count)
api POST /api/orders "$ORDER" --interface 127.0.0.70 -H "Idempotency-Key: a-$RUN" -H "Idempotency-Key: b-$RUN"
expect "10: two Idempotency-Key fields are 400 naming Idempotency-Key" 400 "$(once Idempotency-Key)"
api POST /api/orders "$ORDER" --interface 127.0.0.70 -H "Authorization: Bearer $TOKEN"
expect "10: two Authorization fields are 400 naming Authorization" 400 "$(once Authorization)"
check_eq "10: ... and neither stored an order" 0 "$(delta "$before" "$(orders_count)")"

# ==== 11. an encoded slash is data ===================================================

api GET '/api%2Fusers/me' '' --interface 127.0.0.71
expect "11: /api%2Fusers/me is 404, not /api/users/me" 404 "$(err NOT_FOUND)"
api GET '/api/users%2fme' '' --interface 127.0.0.71
expect "11: /api/users%2fme is 404 too" 404 "$(err NOT_FOUND)"
api GET '/api/users/m%65' '' --interface 127.0.0.71
expect "11: (other escapes decode: /api/users/m%65 is /api/users/me)" 200 '.user.id == '"$uid"

finish
