#!/usr/bin/env python3
"""Writes the seed corpora tests/fuzz/corpus/<target>/ (stdlib only).

The seeds are committed; run this again only to change them:
    python3 tests/fuzz/make_corpus.py
Each seed is named for what it is, so a reader of the corpus knows what the
fuzzer starts from. Files are only (re)written, never deleted.
"""
import base64
import hashlib
import hmac
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = b"comanda-development-jwt-key-never-use-in-production"  # JWT_DEV_SECRET
NOW = 1760000000  # FUZZ_NOW in fuzz_jwt.c


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_jwt ------------------------------------------------------------------

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(header, claims, key=KEY, sig=None):
    h = b64u(json.dumps(header, separators=(",", ":")).encode())
    p = b64u(json.dumps(claims, separators=(",", ":")).encode())
    if sig is None:
        sig = b64u(hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest())
    return f"{h}.{p}.{sig}"


HS = {"alg": "HS256", "typ": "JWT"}
GOOD = {"sub": "7", "role": "customer", "sid": 3, "iat": NOW, "exp": NOW + 900}
ADMIN = dict(GOOD, sub="1", role="admin")


def jwt_seeds():
    t = "fuzz_jwt"
    good = token(HS, GOOD)
    write(t, "valid-customer", good)
    write(t, "valid-admin", token(HS, ADMIN))
    write(t, "bearer-valid", "Bearer " + good)
    write(t, "bearer-lowercase-two-spaces", "bearer  " + token(HS, ADMIN))
    write(t, "bearer-padding", "Bearer " + good + "==")
    write(t, "basic-scheme", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")
    write(t, "bearer-empty", "Bearer ")
    write(t, "expired", token(HS, dict(GOOD, exp=NOW - 1)))
    write(t, "alg-none", token({"alg": "none", "typ": "JWT"}, ADMIN, sig=""))
    write(t, "alg-hs512", token({"alg": "HS512"}, GOOD))
    write(t, "wrong-key", token(HS, ADMIN, key=b"x" * 32))
    write(t, "sub-number", token(HS, dict(GOOD, sub=7)))
    write(t, "sub-zero", token(HS, dict(GOOD, sub="0")))
    write(t, "exp-double", token(HS, dict(GOOD, exp=1e10)))
    write(t, "role-unknown", token(HS, dict(GOOD, role="root")))
    write(t, "claims-array", token(HS, [1, 2]))
    write(t, "two-dots", "a.b")
    write(t, "four-parts", good + ".x")
    # sign-then-mutate: sub[8] sid[8] exp_delta[4] role[1] cap[2] edits(op,pos,byte)*
    sm = struct.pack(">qqiBH", 7, 3, 900, 0, 400)
    write(t, "sign-roundtrip-customer", sm)
    write(t, "sign-roundtrip-admin-expired", struct.pack(">qqiBH", 1, 1, -5, 1, 400))
    write(t, "sign-small-buffer", struct.pack(">qqiBH", 7, 3, 900, 0, 40))
    write(t, "sign-edit-signature", sm + bytes([0, 250, ord("A"), 3, 200, 0]))
    write(t, "sign-edit-insert-dot", sm + bytes([1, 30, ord(".")]))


# ---- fuzz_rpc --------------------------------------------------------------------

def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, v):
    return varint(num << 3 | 0) + varint(v)


def field_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def envelope(method, body=b"", request_id="req-1", timeout_ms=2000, caller_id=7, role=1, key=""):
    f = field_bytes(1, method) + field_bytes(2, request_id) + field_varint(3, timeout_ms)
    f += field_varint(4, caller_id) + field_varint(5, role)
    if key:
        f += field_bytes(6, key)
    return f + field_bytes(7, body)


def echo(text="hello", sleep_ms=0, fail_code=0):
    b = field_bytes(1, text)
    if sleep_ms:
        b += field_varint(2, sleep_ms)
    if fail_code:
        b += field_varint(3, fail_code)
    return b


def rpc_seeds():
    t = "fuzz_rpc"
    write(t, "echo-ok", envelope("comanda.Echo/Echo", echo("héllo, wörld")))
    write(t, "echo-fail-not-found", envelope("comanda.Echo/Echo", echo("bad", fail_code=5)))
    write(t, "echo-fail-negative-code", envelope("comanda.Echo/Echo", echo("x", fail_code=-1)))
    write(t, "echo-unimplemented", envelope("comanda.Echo/Unimplemented", echo()))
    write(t, "unknown-method", envelope("comanda.Echo/Nope", echo()))
    write(t, "unknown-service", envelope("comanda.UserService/GetUser", field_varint(1, 7)))
    write(t, "no-slash", envelope("comanda.Echo", echo()))
    write(t, "empty-method", envelope("", echo()))
    write(t, "body-malformed", envelope("comanda.Echo/Echo", b"\x0a\xff\xff\xff\xff\x0f"))
    write(t, "idempotency-key", envelope("comanda.Echo/Echo", echo("k"), key="a" * 255))
    write(t, "long-method", envelope("comanda.Echo/" + "E" * 300, echo()))
    # a served method's name plus a quote counts as "unknown"; the served
    # method's own label (echo-unimplemented, a shorter seed, runs first) must
    # not be taken for it
    write(t, "served-method-plus-quote", envelope('comanda.Echo/Unimplemented"', echo()))
    write(t, "empty-frame", b"")
    write(t, "truncated-frame", envelope("comanda.Echo/Echo", echo("truncated"))[:-3])
    write(t, "wrong-wire-type", b"\x0d\x00\x00\x00\x00")
    # as the body of an Echo/Echo envelope (fuzz_rpc's second use)
    write(t, "echo-body-only", echo("body"))


# ---- fuzz_codec ------------------------------------------------------------------

def codec_seeds():
    t = "fuzz_codec"
    j = lambda o: json.dumps(o, ensure_ascii=False)
    write(t, "users-create", j({"name": "Ana", "email": "ana@example.com", "password": "correct-horse-1"}))
    write(t, "users-create-admin", j({"name": "Bo", "email": "bo@example.com", "role": "admin"}))
    write(t, "users-create-empty-password", j({"name": "Bo", "email": "bo@example.com", "password": ""}))
    write(t, "users-create-null-name", '{"name":null,"email":"a@b.c"}')
    write(t, "users-create-nul", '{"name":"a\\u0000b","email":"a@b.c","password":"12345678"}')
    write(t, "users-update", j({"name": "Ana María", "password": "new-horse-22", "current_password": "x",
                                "status": "suspended", "role": "customer"}))
    write(t, "users-update-unknown-utf8", j({"ñ" * 40: 1}))
    write(t, "login", j({"email": "ana@example.com", "password": "correct-horse-1"}))
    write(t, "refresh", j({"refresh_token": "XNdomaiSfdechluaJrneexQVA8gKTunF5QprAc0DbBw"}))
    write(t, "orders-create", j({"user_id": 2, "items": [{"product": "Laptop", "quantity": 1, "price": 3660000},
                                                      {"product": "Mouse", "quantity": 2, "price": 19.99}],
                                 "total": 3660039.98, "currency": "COP", "payment_method": "credit_card",
                                 "payment_token": "tok_visa"}))
    write(t, "orders-create-bad-item", '{"items":[{"product":"x","quantity":2.0,"price":1}]}')
    write(t, "orders-create-item-unknown", '{"items":[{"product":"x","quantity":1,"price":1,"colour":"red"}]}')
    write(t, "orders-create-big-quantity", '{"items":[{"product":"x","quantity":99999999999999999999,"price":1e2}]}')
    write(t, "orders-create-exp-price", '{"items":[{"product":"x","quantity":1,"price":1999e-2}],"total":0.1999E2}')
    write(t, "orders-status", j({"status": "cancelled", "reason": "changed my mind"}))
    write(t, "payments-create", j({"order_id": "65a1b2c3d4e5f6a7b8c9d0e1", "amount": 19.99,
                                   "payment_method": "cash", "transaction_id": "TXN-1", "payment_token": "tok_decline"}))
    write(t, "payments-create-negative", '{"order_id":"65a1b2c3d4e5f6a7b8c9d0e1","amount":-0.01}')
    write(t, "payments-create-nan", '{"order_id":"x","amount":NaN}')
    write(t, "payments-status", j({"status": "failed", "reason": "bounced"}))
    write(t, "empty-object", "{}")
    write(t, "deep", "{\"a\":" * 20 + "1" + "}" * 20)
    write(t, "array", "[1,2,3]")
    write(t, "trailing", '{"name":"a"} x')
    # not RFC 8259, though json-c 0.16 takes them (even in strict mode)
    write(t, "single-quoted-names", "{'items':[{'product':\"x\",'quantity':1,'price':1}]}")
    write(t, "raw-tab-in-string", '{"name":"a\tb","email":"a@b.c","password":"12345678"}')
    write(t, "nul-in-member-name", '{"name":"Q","email":"q2@example.com","password":"abcdefgh1",'
                                   '"password\\u0000zz":"abcdefgh2"}')
    write(t, "duplicate-member-name", '{"password":"abcdefgh1","\\u0070assword":"abcdefgh2"}')
    # raw text: money, ids, limits, enum names
    for name, text in [("money-19.99", "19.99"), ("money-exp", "1.5e3"), ("money-too-precise", "0.001"),
                       ("money-negative-zero", "-0.0"), ("money-huge-exp", "1e999999999"),
                       ("money-max", "10000000000000"), ("money-leading-zero", "01.5"),
                       ("id-7", "7"), ("id-overflow", "9223372036854775808"), ("limit-200", "200"),
                       ("order-id", "65a1b2c3d4e5f6a7b8c9d0e1"), ("status-paid", "paid")]:
        write(t, name, text)


# ---- fuzz_cursor -----------------------------------------------------------------

def cursor(number, key=""):
    """cursor_encode: base64url("c1|<number>|<key>"), no padding"""
    return b64u(f"c1|{number}|{key}".encode())


def cursor_seeds():
    t = "fuzz_cursor"
    # as the services make them (used as the text a client sends back)
    write(t, "user-asc", cursor(7))                                  # svc-user, oldest first
    write(t, "user-desc", cursor(123456, "desc"))                    # svc-user, newest first
    write(t, "order", cursor(1767225600123, "65a1b2c3d4e5f60718293a4b"))  # svc-order: created_at_ms, _id
    write(t, "payment", cursor(42))                                  # svc-payment, NULL key
    write(t, "int64-min", cursor(-(1 << 63)))
    write(t, "int64-max", cursor((1 << 63) - 1, "desc"))
    write(t, "key-at-limit", cursor(1, "k" * 47))
    write(t, "key-too-long", cursor(1, "k" * 48))
    write(t, "padded", cursor(7) + "=")
    write(t, "not-a-cursor", "bm90LWEtY3Vyc29y")                      # what the integration tests send
    write(t, "standard-alphabet", base64.b64encode(b"c1|1|a?>").decode())
    # plaintexts (fuzz_cursor also decodes base64url(input))
    for name, text in [("plain-order", "c1|1767225600123|65a1b2c3d4e5f60718293a4b"), ("plain-empty-key", "c1|7|"),
                       ("plain-negative", "c1|-7|ab"), ("plain-overflow", "c1|9223372036854775808|"),
                       ("plain-int64-min", "c1|-9223372036854775808|"), ("plain-version-2", "c2|1|"),
                       ("plain-no-number", "c1||k"), ("plain-bad-key", "c1|1|a b"), ("plain-two-bars", "c1|1|a|b"),
                       ("plain-nul", "c1|1|a\0b"), ("plain-no-bar", "c1|1")]:
        write(t, name, text)
    # encode: mode[1] number[8] cap[1] key; mode % 5 picks the number, (mode / 5) % 4 the key
    write(t, "encode-raw-key", struct.pack(">BqB", 0, 1767225600123, 100) + b"65a1b2c3d4e5f60718293a4b")
    write(t, "encode-bad-key", struct.pack(">BqB", 0, 1, 100) + b"has|bar")
    write(t, "encode-int64-min-mapped-key", struct.pack(">BqB", 1 + 5, 0, 40) + b"\x00\x01\xfe\xff")
    write(t, "encode-int64-max-key-at-limit", struct.pack(">BqB", 2 + 10, 0, 127) + b"x")
    write(t, "encode-negative-key-too-long", struct.pack(">BqB", 3 + 15, 12345, 96))
    write(t, "encode-null-key", struct.pack(">BqB", 0x80 + 4, 0, 20))


# ---- fuzz_netaddr ----------------------------------------------------------------

def netaddr(mode, trusted, peer, *xff):
    """mode[1], then list, peer and X-Forwarded-For lines, each ended by NUL;
    mode & 3: 0 the list, 1 the list plus the peer, 2 plus 0.0.0.0/0,::/0;
    mode >> 2: a small buffer size"""
    return bytes([mode]) + b"\0".join(p.encode() for p in (trusted, peer) + xff)


def netaddr_seeds():
    t = "fuzz_netaddr"
    lst = " 10.0.0.0/8, 192.168.1.7 ,fd00::/8,203.0.113.9/32"
    write(t, "one-hop", netaddr(0, lst, "10.0.0.5", "198.51.100.7"))
    write(t, "untrusted-peer", netaddr(0, lst, "203.0.113.1", "198.51.100.7"))
    write(t, "no-list", netaddr(0, "", "10.0.0.5", "198.51.100.7"))
    write(t, "forged-left", netaddr(0, "10.0.0.0/8", "10.0.0.5", "1.2.3.4, 198.51.100.7, 10.0.0.9"))
    write(t, "two-lines", netaddr(0, "10.0.0.0/8", "10.0.0.5", "1.2.3.4", "198.51.100.8 , 10.1.1.1"))
    write(t, "all-trusted", netaddr(0, "10.0.0.0/8", "10.0.0.5", "10.3.3.3, 10.2.2.2"))
    write(t, "garbage-unknown", netaddr(0, "10.0.0.0/8", "10.0.0.5", "1.2.3.4, unknown, 10.2.2.2"))
    write(t, "garbage-port-brackets", netaddr(2, "", "10.0.0.5", "[2001:db8::1]:443, 192.0.2.1:8080, 10.2.2.2"))
    write(t, "garbage-forwarded-syntax", netaddr(2, "", "127.0.0.1", 'for=192.0.2.60;proto=http, "_hidden"'))
    write(t, "empty-line", netaddr(0, "10.0.0.0/8", "10.0.0.5", ""))
    write(t, "empty-items", netaddr(2, "", "10.0.0.5", "1.2.3.4,, ,10.2.2.2,"))
    write(t, "tabs-and-spaces", netaddr(1, "\t10.0.0.0/8 ,\t", "10.0.0.5", " \t198.51.100.7\t, \t10.9.9.9 "))
    write(t, "ipv6", netaddr(0, "fd00::/8, 2001:db8:ffff::/48", "fd00::1", "2001:DB8:0:0::1, 2001:db8:ffff::7"))
    write(t, "ipv6-upper-zero-runs", netaddr(2, "", "::1", "2001:0DB8:0000:0000:0000:0000:0000:0001"))
    write(t, "mapped-peer", netaddr(0, "10.0.0.0/8", "::ffff:10.0.0.5", "2001:db8::1"))
    write(t, "mapped-hop", netaddr(0, "10.0.0.0/8", "10.0.0.5", "198.51.100.7, ::ffff:10.1.2.3"))
    write(t, "mapped-list-item", netaddr(0, "::ffff:10.0.0.0, ::ffff:0:0/96", "10.0.0.0", "::ffff:198.51.100.7"))
    write(t, "mapped-prefix-v4-bits", netaddr(0, "::ffff:10.0.0.0/8", "10.1.2.3", "198.51.100.7"))
    write(t, "v4-compatible-and-zone", netaddr(2, "", "10.0.0.5", "fe80::1%eth0, ::1.2.3.4, ::"))
    write(t, "unknown-peer", netaddr(1, "10.0.0.0/8", "unknown", "198.51.100.7"))
    write(t, "long-peer", netaddr(0, "", "p" * 100, ""))
    write(t, "eight-lines", netaddr(2, "", "10.0.0.1", *[f"10.0.{i}.1, 192.0.2.{i}" for i in range(8)]))
    write(t, "small-buffer", netaddr(2 + (9 << 2), "", "10.0.0.1", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"))
    write(t, "host-bits-cleared", netaddr(0, "172.16.5.4/12, 2001:db8::1/127", "172.31.255.255", "2001:db8::"))
    write(t, "prefix-zero", netaddr(0, "0.0.0.0/0, ::/0", "2001:db8::1", "1.2.3.4"))
    for name, bad in [("bad-v4-33", "10.0.0.0/33"), ("bad-v6-129", "::/129"), ("bad-empty-bits", "10.0.0.0/"),
                      ("bad-short-v4", "10.0.0/8"), ("bad-name", "example.com"), ("bad-two-slashes", "1.2.3.4/8/9"),
                      ("bad-only-bits", "/8"), ("bad-leading-zero-octet", "10.0.0.01"),
                      ("odd-leading-zero-bits", "10.0.0.0/08"), ("bad-space-before-slash", "10.0.0.0 /8")]:
        write(t, "list-" + name, netaddr(0, bad, "10.0.0.5", "198.51.100.7"))


# ---- fuzz_httpd -------------------------------------------------------------------

def httpd_raw(text):
    """Mode 0: the bytes go out as they are."""
    return b"\x00" + (text.encode() if isinstance(text, str) else text)


def httpd_parts(method_index, target, headers=(), body=b""):
    """Mode 1: target, header lines and body of a request fuzz_httpd builds."""
    if isinstance(body, str):
        body = body.encode()
    return bytes([1 + 2 * method_index]) + target.encode() + b"\x00" + "\n".join(headers).encode() + b"\x00" + body


def httpd_seeds():
    t = "fuzz_httpd"
    write(t, "raw-get", httpd_raw("GET /api/users/me HTTP/1.1\r\nHost: a\r\n\r\n"))
    write(t, "raw-http10-no-host", httpd_raw("GET /health HTTP/1.0\r\n\r\n"))
    write(t, "raw-absolute-form", httpd_raw("GET http://h:8080/x?y=1 HTTP/1.1\r\nHost: h\r\n\r\n"))
    write(t, "raw-post-length", httpd_raw("POST /api/orders HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\n{\"a\":1}"))
    write(t, "raw-length-over-limit", httpd_raw("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 999999\r\n\r\n"))
    write(t, "raw-two-lengths", httpd_raw("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"))
    write(t, "raw-length-and-chunked", httpd_raw(
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
    write(t, "raw-chunked", httpd_raw("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"))
    write(t, "raw-chunked-over-limit", httpd_raw("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                                 "900\r\n" + "x" * 2304 + "\r\n0\r\n\r\n"))
    write(t, "raw-two-hosts", httpd_raw("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"))
    write(t, "raw-pipelined", httpd_raw("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"))
    write(t, "raw-garbage", httpd_raw(b"\xff\xfe\r\n\r\n"))
    write(t, "parts-query-and-headers", httpd_parts(0, "/api/orders?limit=10&cursor=YzF8N3w&limit=2",
                                                    ["X-Request-Id: rid-1", "Authorization: Bearer x",
                                                     "Authorization: Bearer y"]))
    write(t, "parts-post-body", httpd_parts(1, "/api/users", ["Content-Type: application/json"], '{"name":"a"}'))
    write(t, "parts-nul-and-slash", httpd_parts(0, "/api/orders/1%00/x%2Fy?q=a%00b&r=%zz"))
    write(t, "parts-absolute", httpd_parts(2, "HTTPS://user@h:1/p%41th?x", []))
    write(t, "parts-absolute-only-decoded", httpd_parts(0, "%68ttp://h/api/users/me"))
    write(t, "parts-absolute-slash-in-authority", httpd_parts(0, "http://h%2Fx/y"))
    write(t, "parts-xff", httpd_parts(0, "/", ["X-Forwarded-For: 198.51.100.7, 127.0.0.1",
                                              "X-Forwarded-For: 10.0.0.1"]))
    write(t, "parts-cookies", httpd_parts(0, "/", ["Cookie: a=1; b=2; " + "c=3; " * 40]))
    write(t, "parts-long-header", httpd_parts(0, "/", ["X-Long: " + "v" * 2100]))
    write(t, "parts-expect", httpd_parts(1, "/x", ["Expect: 100-continue"], "body"))
    write(t, "parts-many-args", httpd_parts(0, "/?" + "&".join(f"a{i}={i}" for i in range(101))))
    write(t, "parts-body-over-limit", httpd_parts(1, "/x", [], "b" * 2049))


if __name__ == "__main__":
    jwt_seeds()
    rpc_seeds()
    codec_seeds()
    cursor_seeds()
    netaddr_seeds()
    httpd_seeds()
