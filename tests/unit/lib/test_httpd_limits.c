/* lib/httpd's limits on hostile input, through a real server and raw
 * sockets: 414 and 431 as JSON, the JSON depth handed to the parser, the
 * idle timeout dropping a slow client without blocking others, the per-IP
 * connection cap, the connection gauge, and trusted proxies. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "httpd.h"
#include "json.h"
#include "metrics.h"
#include "test.h"
#include "testhttp.h"

static atomic_int handler_runs;

static void limits_handler(void *arg, const httpd_request *req, httpd_response *resp)
{
	(void)arg;
	atomic_fetch_add(&handler_runs, 1);
	resp->route = "/limits";
	if (strncmp(req->path, "/pp", 3) == 0) {
		/* the largest answer head a handler can make: every header slot
		 * with the longest name and value */
		char name[48], value[256];
		memset(value, 'v', sizeof(value) - 1);
		value[sizeof(value) - 1] = '\0';
		for (int i = 0; i < HTTPD_MAX_HEADERS; i++) {
			memset(name, '0', sizeof(name) - 1);
			name[sizeof(name) - 1] = '\0';
			memcpy(name, "X-Fat-", 6);
			name[6] = (char)('0' + i / 10);
			name[7] = (char)('0' + i % 10);
			httpd_add_header(resp, name, value);
		}
	}
	if (strcmp(req->path, "/json") == 0) {
		json_object *o = NULL;
		if (!json_parse_request(req, resp, &o))
			return;
		json_object_put(o);
	}
	char buf[512];
	if (strncmp(req->path, "/esc/", 5) == 0) {
		const char *q = httpd_query(req, "q");
		int n = snprintf(buf, sizeof(buf), "{\"path\":\"%s\",\"q\":\"%s\"}", req->path, q != NULL ? q : "");
		httpd_respond(resp, 200, buf, (size_t)n);
		return;
	}
	int n = snprintf(buf, sizeof(buf), "{\"client\":\"%s\",\"peer\":\"%s\"}", req->client_addr, req->peer_addr);
	httpd_respond(resp, 200, buf, (size_t)n);
}

static httpd *limits_start(const httpd_config *over)
{
	httpd_config c = *over;
	c.name = c.name != NULL ? c.name : "limits-test";
	c.bind = "127.0.0.1";
	c.threads = 2;
	c.handler = limits_handler;
	httpd *h = NULL;
	CHECK_EQ_INT(httpd_start(&h, &c), 0);
	return h;
}

/* A string of n copies of ch (caller frees). */
static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);
	if (s != NULL) {
		memset(s, ch, n);
		s[n] = '\0';
	}
	return s;
}

TEST(httpd_limits_uri_and_headers_answer_json)
{
	httpd_config c = { .max_url = 200, .max_header_bytes = 1024 };
	httpd *h = limits_start(&c);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	char v[128];
	char *seg = repeat('a', 250), target[400], *r;
	snprintf(target, sizeof(target), "/%s", seg);
	r = testhttp_request(port, "GET", target, "X-Request-Id: uri-1\r\n", NULL);
	CHECK_EQ_INT(testhttp_status(r), 414);
	CHECK_STREQ(testhttp_body(r), "{\"success\":false,\"error\":\"Request URI too long (limit 200 bytes)\","
	                              "\"code\":\"URI_TOO_LONG\",\"request_id\":\"uri-1\"}");
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "application/json; charset=utf-8");
	free(r);
	/* the query counts */
	snprintf(target, sizeof(target), "/x?q=%.199s", seg);
	r = testhttp_request(port, "GET", target, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 414);
	free(r);
	snprintf(target, sizeof(target), "/x?q=%.150s", seg);
	r = testhttp_request(port, "GET", target, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	free(seg);
	/* the bytes as sent count, not the decoded text: 66 escapes are 198
	 * bytes (200 with "/x"), one more is over the limit */
	size_t k = (size_t)snprintf(target, sizeof(target), "/x");
	for (int i = 0; i < 66; i++)
		k += (size_t)snprintf(target + k, sizeof(target) - k, "%%41");
	r = testhttp_request(port, "GET", target, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	snprintf(target + k, sizeof(target) - k, "%%41");
	r = testhttp_request(port, "GET", target, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 414);
	free(r);
	/* an absolute-form target's scheme and authority do not count */
	snprintf(target, sizeof(target), "http://a-rather-long-host-name.example:8080/x?q=%.190s",
	    "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
	    "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");
	r = testhttp_request(port, "GET", target, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	k = (size_t)snprintf(target, sizeof(target), "/x?q=");
	for (int i = 0; i < 70; i++)
		k += (size_t)snprintf(target + k, sizeof(target) - k, "%%41");
	r = testhttp_request(port, "GET", target, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 414);
	free(r);

	char *big = repeat('b', 1100), hdr[1200];
	snprintf(hdr, sizeof(hdr), "X-Big: %s\r\n", big);
	r = testhttp_request(port, "GET", "/x", hdr, NULL);
	CHECK_EQ_INT(testhttp_status(r), 431);
	CHECK(strstr(testhttp_body(r), "\"code\":\"REQUEST_HEADER_FIELDS_TOO_LARGE\"") != NULL);
	free(r);
	/* many small fields add up */
	char many[1400] = "";
	for (int i = 0; i < 60; i++) {
		size_t l = strlen(many);
		snprintf(many + l, sizeof(many) - l, "X-H%02d: 0123456789\r\n", i);
	}
	r = testhttp_request(port, "GET", "/x", many, NULL);
	CHECK_EQ_INT(testhttp_status(r), 431);
	free(r);
	free(big);
	/* far beyond the connection's buffer: libmicrohttpd's own refusal,
	 * and the server goes on */
	char *huge = repeat('c', 200 * 1024);
	char *huge_hdr = malloc(strlen(huge) + 16);
	if (huge_hdr != NULL) {
		snprintf(huge_hdr, strlen(huge) + 16, "X-Huge: %s\r\n", huge);
		r = testhttp_request(port, "GET", "/x", huge_hdr, NULL);
		int st = r != NULL ? testhttp_status(r) : -1;
		CHECK(st == 431 || st == 400 || st == 413 || st == -1);
		free(r);
		free(huge_hdr);
	}
	free(huge);
	r = testhttp_request(port, "GET", "/x", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	httpd_stop(h);
}

/* A raw request: "GET <url of url_len bytes> HTTP/1.1", Host and Connection
 * (31 header bytes as httpd counts them: name + value + 4), then `fields`
 * X-Fill header fields that bring the count to exactly header_bytes
 * (caller frees; *len is its length). url_len counts the query as httpd
 * does: `args` arguments "aNN=v...", each with its "?" or "&" and "=". */
static char *at_limits_request(size_t url_len, size_t args, size_t header_bytes, size_t fields, size_t *len)
{
	size_t cap = url_len + header_bytes + 256, n = 0;
	char *raw = malloc(cap);
	if (raw == NULL)
		return NULL;
	n += (size_t)snprintf(raw + n, cap - n, "GET /");
	/* each argument: "?aNN=" or "&aNN=" then its value; 2 of its bytes are
	 * framing, the rest key and value */
	size_t arg_len = args > 0 ? (url_len - 1) / (2 * args) : 0, path_len = url_len - 1 - args * arg_len;
	memset(raw + n, 'p', path_len);
	n += path_len;
	for (size_t i = 0; i < args; i++) {
		int k = snprintf(raw + n, cap - n, "%ca%02zu=", i == 0 ? '?' : '&', i % 100);
		n += (size_t)k;
		memset(raw + n, 'v', arg_len - (size_t)k);
		n += arg_len - (size_t)k;
	}
	n += (size_t)snprintf(raw + n, cap - n, " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
	size_t left = header_bytes - 31;
	for (size_t i = 0; i < fields; i++) {
		/* "X-Fill-NNN: " and its CRLF are 4 + 10 bytes of the count */
		size_t share = left / (fields - i);
		n += (size_t)snprintf(raw + n, cap - n, "X-Fill-%03zu: ", i);
		memset(raw + n, 'f', share - 14);
		n += share - 14;
		raw[n++] = '\r';
		raw[n++] = '\n';
		left -= share;
	}
	raw[n++] = '\r';
	raw[n++] = '\n';
	raw[n] = '\0';
	*len = n;
	return raw;
}

/* With the default limits (8 KiB of URL, 16 KiB of header fields) a
 * request at both limits at once reaches the handler, and one byte more of
 * either is our JSON answer, not libmicrohttpd's: the connection's memory
 * pool holds them, with a realistic number of fields and arguments. */
/* The decorate hook: the headers an application adds to its own answers
 * (the gateway's CORS) go on httpd's 414 too, with the request's headers
 * in reach. */
static void decorate_with_origin(void *arg, const httpd_request *req, httpd_response *resp)
{
	(void)arg;
	const char *origin = httpd_header(req, "Origin");
	httpd_add_header(resp, "X-Decorated", origin != NULL ? origin : "none");
}

TEST(httpd_limits_own_answers_pass_the_decorate_hook)
{
	httpd_config c = { .max_url = 200, .decorate = decorate_with_origin };
	httpd *h = limits_start(&c);
	if (h == NULL)
		return;
	char *seg = repeat('a', 250), target[400], v[128];
	snprintf(target, sizeof(target), "/%s", seg);
	char *r = testhttp_request(httpd_port(h), "GET", target, "Origin: https://app.example\r\n", NULL);
	CHECK_EQ_INT(testhttp_status(r), 414);
	CHECK_STREQ(testhttp_header(r, "X-Decorated", v, sizeof(v)), "https://app.example");
	free(r);
	free(seg);
	httpd_stop(h);
}

TEST(httpd_limits_default_pool_holds_a_request_at_both_limits)
{
	httpd_config c = { 0 };
	httpd *h = limits_start(&c);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	/* arguments, fields (plus Host and Connection): up to the caps on both,
	 * and the handler's largest answer head still fits */
	static const size_t shapes[][2] = { { 0, 2 }, { 0, 64 }, { 16, 48 }, { 40, 32 }, { HTTPD_MAX_QUERY_ARGS, 2 },
		{ 0, HTTPD_MAX_HEADER_FIELDS - 2 }, { HTTPD_MAX_QUERY_ARGS, HTTPD_MAX_HEADER_FIELDS - 2 } };
	char v[300];
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		size_t args = shapes[i][0], fields = shapes[i][1], len = 0;
		char *raw = at_limits_request(8192, args, 16384, fields, &len);
		char *r = raw != NULL ? testhttp_exchange(port, raw, len) : NULL;
		if (testhttp_status(r) != 200)
			test_fail(__FILE__, __LINE__, "%zu arguments, %zu fields at both limits: %.200s", args, fields,
			    r != NULL ? r : "(no answer)");
		CHECK_EQ_INT(strlen(testhttp_header(r, "X-Fat-15000000000000000000000000000000000000000", v, sizeof(v))),
		    255);
		free(r);
		free(raw);

		raw = at_limits_request(8193, args, 16384, fields, &len);
		r = raw != NULL ? testhttp_exchange(port, raw, len) : NULL;
		CHECK_EQ_INT(testhttp_status(r), 414);
		CHECK(r != NULL && strstr(testhttp_body(r), "\"error\":\"Request URI too long (limit 8192 bytes)\","
		                                          "\"code\":\"URI_TOO_LONG\"") != NULL);
		free(r);
		free(raw);

		raw = at_limits_request(8192, args, 16385, fields, &len);
		r = raw != NULL ? testhttp_exchange(port, raw, len) : NULL;
		CHECK_EQ_INT(testhttp_status(r), 431);
		CHECK(r != NULL && strstr(testhttp_body(r), "\"error\":\"Request header fields too large (limit 16384 "
		                                          "bytes)\",\"code\":\"REQUEST_HEADER_FIELDS_TOO_LARGE\"") != NULL);
		free(r);
		free(raw);
	}
	httpd_stop(h);
}

/* A request made of " HTTP/1.1", Host, Connection: close, extra header
 * lines, and the target (caller frees; *len is its length). */
static char *raw_request(const char *target, const char *extra, size_t *len)
{
	size_t cap = strlen(target) + strlen(extra) + 128;
	char *raw = malloc(cap);
	if (raw == NULL)
		return NULL;
	int n = snprintf(raw, cap, "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s\r\n", target, extra);
	*len = n > 0 ? (size_t)n : 0;
	return raw;
}

/* "/pp?a&a&...&a" with n bare arguments (caller frees). */
static char *bare_args(size_t n)
{
	char *t = malloc(4 + 2 * n + 1);
	if (t == NULL)
		return NULL;
	size_t k = (size_t)snprintf(t, 5, "/pp?");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			t[k++] = '&';
		t[k++] = 'a';
	}
	t[k] = '\0';
	return t;
}

/* Many query arguments or header fields cost libmicrohttpd 64 bytes of the
 * connection's buffer each: over the caps they are refused in JSON before
 * the handler runs, and whatever the count no handler runs without its
 * answer reaching the client. */
TEST(httpd_limits_many_fields_never_run_without_an_answer)
{
	httpd_config c = { 0 };
	httpd *h = limits_start(&c);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	size_t len = 0;
	char *t = bare_args(HTTPD_MAX_QUERY_ARGS), *raw = NULL, *r = NULL;
	r = t != NULL ? testhttp_request(port, "GET", t, NULL, NULL) : NULL;
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	free(t);
	t = bare_args(HTTPD_MAX_QUERY_ARGS + 1);
	r = t != NULL ? testhttp_request(port, "GET", t, "X-Request-Id: many-args\r\n", NULL) : NULL;
	CHECK_EQ_INT(testhttp_status(r), 414);
	CHECK_STREQ(testhttp_body(r), "{\"success\":false,\"error\":\"Too many query parameters (limit 100)\","
	                              "\"code\":\"URI_TOO_LONG\",\"request_id\":\"many-args\"}");
	free(r);
	free(t);
	/* the counts where libmicrohttpd's buffer used to run out: the handler
	 * ran, its answer did not fit, the client got nothing */
	int runs = atomic_load(&handler_runs);
	for (size_t n = 440; n <= 520; n += 8) {
		t = bare_args(n);
		r = t != NULL ? testhttp_request(port, "GET", t, NULL, NULL) : NULL;
		if (testhttp_status(r) != 414)
			test_fail(__FILE__, __LINE__, "%zu arguments: %.200s", n, r != NULL ? r : "(no answer)");
		free(r);
		free(t);
	}
	CHECK_EQ_INT(atomic_load(&handler_runs), runs);

	/* header fields, and cookies counted one each */
	char extra[8192] = "";
	size_t k = 0;
	for (int i = 0; i < HTTPD_MAX_HEADER_FIELDS - 2; i++)
		k += (size_t)snprintf(extra + k, sizeof(extra) - k, "X-F%03d: v\r\n", i);
	raw = raw_request("/x", extra, &len);
	r = raw != NULL ? testhttp_exchange(port, raw, len) : NULL;
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	free(raw);
	snprintf(extra + k, sizeof(extra) - k, "X-One-More: v\r\n");
	raw = raw_request("/x", extra, &len);
	r = raw != NULL ? testhttp_exchange(port, raw, len) : NULL;
	CHECK_EQ_INT(testhttp_status(r), 431);
	CHECK(r != NULL && strstr(testhttp_body(r), "\"error\":\"Too many header fields (cookies included) (limit 100)\","
	                                          "\"code\":\"REQUEST_HEADER_FIELDS_TOO_LARGE\"") != NULL);
	free(r);
	free(raw);
	k = (size_t)snprintf(extra, sizeof(extra), "Cookie: c0=v");
	for (int i = 1; i < 98; i++)
		k += (size_t)snprintf(extra + k, sizeof(extra) - k, "; c%d=v", i);
	snprintf(extra + k, sizeof(extra) - k, "\r\n");
	raw = raw_request("/x", extra, &len); /* 3 fields, 98 cookies */
	r = raw != NULL ? testhttp_exchange(port, raw, len) : NULL;
	CHECK_EQ_INT(testhttp_status(r), 431);
	free(r);
	free(raw);
	CHECK_EQ_INT(atomic_load(&handler_runs), runs + 1);
	httpd_stop(h);

	/* Far more arguments than the buffer has records for: libmicrohttpd
	 * refuses them itself, before httpd sees the request, and then neither
	 * answers nor closes until the idle timeout (1 s here). Never the
	 * handler. */
	httpd_config quick = { .connection_timeout_s = 1 };
	h = limits_start(&quick);
	if (h == NULL)
		return;
	runs = atomic_load(&handler_runs);
	for (size_t n = 1000; n <= 3000; n += 2000) {
		t = bare_args(n);
		r = t != NULL ? testhttp_request(httpd_port(h), "GET", t, NULL, NULL) : NULL;
		int st = testhttp_status(r);
		CHECK(st == 431 || st == -1);
		free(r);
		free(t);
	}
	CHECK_EQ_INT(atomic_load(&handler_runs), runs);
	httpd_stop(h);
}

/* Bytes the counted limits do not see (whitespace around a value) still
 * take the connection's buffer: a request that would leave too little for
 * the answer is refused in JSON, unrun. */
TEST(httpd_limits_padded_head_that_leaves_no_room_is_refused)
{
	httpd_config c = { 0 };
	httpd *h = limits_start(&c);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	size_t len = 0;
	/* one more field below, "X-Pad:" then spaces, then "v": 11 bytes as
	 * counted, which bring the fields to their limit */
	char *raw = at_limits_request(8192, HTTPD_MAX_QUERY_ARGS, 16384 - 11, HTTPD_MAX_HEADER_FIELDS - 3, &len);
	size_t pad = 3000;
	char *big = raw != NULL ? malloc(len + pad + 32) : NULL;
	if (big != NULL) {
		memcpy(big, raw, len - 2); /* without the blank line */
		size_t n = len - 2;
		memcpy(big + n, "X-Pad:", 6);
		n += 6;
		memset(big + n, ' ', pad);
		n += pad;
		memcpy(big + n, "v\r\n\r\n", 5);
		n += 5;
		int runs = atomic_load(&handler_runs);
		char *r = testhttp_exchange(port, big, n);
		int st = testhttp_status(r);
		CHECK_EQ_INT(st, 431);
		CHECK(r != NULL && strstr(testhttp_body(r), "\"error\":\"Request header too large for the server's buffer\","
		                                          "\"code\":\"REQUEST_HEADER_FIELDS_TOO_LARGE\"") != NULL);
		CHECK_EQ_INT(atomic_load(&handler_runs), runs);
		free(r);
	}
	free(big);
	free(raw);
	httpd_stop(h);
}

TEST(httpd_limits_json_depth_is_the_servers)
{
	httpd_config c = { .max_json_depth = 6 };
	httpd *h = limits_start(&c);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	/* {"a":{"a":{"a":{"a":{"a":1}}}}} is 6 deep as json-c counts */
	const char *ok = "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}";
	const char *deep = "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}";
	char *r = testhttp_request(port, "POST", "/json", "Content-Type: application/json\r\n", ok);
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	r = testhttp_request(port, "POST", "/json", "Content-Type: application/json\r\n", deep);
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK(strstr(testhttp_body(r), "\"error\":\"JSON in request body is nested too deeply\"") != NULL);
	free(r);
	/* 10,000 levels: refused at the limit, not parsed to the end */
	char *brackets = repeat('[', 10000);
	char body[10100];
	snprintf(body, sizeof(body), "{\"a\":%s", brackets);
	r = testhttp_request(port, "POST", "/json", "Content-Type: application/json\r\n", body);
	CHECK_EQ_INT(testhttp_status(r), 400);
	free(r);
	free(brackets);
	httpd_stop(h);
}

static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* True when the server closed fd within ms (EOF or reset). */
static bool closed_within(int fd, int ms)
{
	int64_t deadline = clock_mono_us() + (int64_t)ms * 1000;
	for (;;) {
		int64_t left = (deadline - clock_mono_us()) / 1000;
		if (left <= 0)
			return false;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		char buf[512];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
}

TEST(httpd_limits_slow_client_is_dropped_and_blocks_nobody)
{
	httpd_config c = { .connection_timeout_s = 1 };
	httpd *h = limits_start(&c);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	int slow = raw_connect(port);
	CHECK(slow >= 0);
	if (slow < 0) {
		httpd_stop(h);
		return;
	}
	/* half a request line, then silence */
	CHECK(send(slow, "GET /x HTT", 10, MSG_NOSIGNAL) == 10);
	/* meanwhile others are served at once */
	int64_t t0 = clock_mono_us();
	for (int i = 0; i < 5; i++) {
		char *r = testhttp_request(port, "GET", "/x", NULL, NULL);
		CHECK_EQ_INT(testhttp_status(r), 200);
		free(r);
	}
	CHECK(clock_mono_us() - t0 < 900000);
	/* and the slow one is gone within the timeout (MHD checks about once a second) */
	CHECK(closed_within(slow, 3500));
	close(slow);
	httpd_stop(h);
}

TEST(httpd_limits_connections_per_address)
{
	httpd_config c = { .max_connections_per_ip = 2, .name = "limits-conn-test" };
	httpd *h = limits_start(&c);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	int a = raw_connect(port), b = raw_connect(port);
	CHECK(a >= 0 && b >= 0);
	clock_sleep_ms(100);
	size_t len = 0;
	char *m = metrics_render(&len);
	CHECK(m != NULL && strstr(m, "comanda_http_connections_open{server=\"limits-conn-test\"} 2") != NULL);
	free(m);
	/* a third from the same address: closed unanswered */
	char *r = testhttp_request(port, "GET", "/x", NULL, NULL);
	CHECK(r == NULL || testhttp_status(r) == -1);
	free(r);
	close(a);
	close(b);
	clock_sleep_ms(100);
	r = testhttp_request(port, "GET", "/x", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	httpd_stop(h);
}

TEST(httpd_limits_trusted_proxies)
{
	httpd_config bad = { .trusted_proxies = "10.0.0.0/8, nonsense" };
	httpd *h = NULL;
	httpd_config badc = bad;
	badc.bind = "127.0.0.1";
	badc.handler = limits_handler;
	CHECK_EQ_INT(httpd_start(&h, &badc), -1);
	CHECK(h == NULL);

	httpd_config untrusted = { 0 };
	h = limits_start(&untrusted);
	if (h == NULL)
		return;
	char *r = testhttp_request(httpd_port(h), "GET", "/x", "X-Forwarded-For: 198.51.100.7\r\n", NULL);
	CHECK_STREQ(testhttp_body(r), "{\"client\":\"127.0.0.1\",\"peer\":\"127.0.0.1\"}");
	free(r);
	httpd_stop(h);

	httpd_config trusted = { .trusted_proxies = "127.0.0.0/8" };
	h = limits_start(&trusted);
	if (h == NULL)
		return;
	r = testhttp_request(httpd_port(h), "GET", "/x", "X-Forwarded-For: 203.0.113.5, 198.51.100.7\r\n", NULL);
	CHECK_STREQ(testhttp_body(r), "{\"client\":\"198.51.100.7\",\"peer\":\"127.0.0.1\"}");
	free(r);
	r = testhttp_request(httpd_port(h), "GET", "/x", NULL, NULL);
	CHECK_STREQ(testhttp_body(r), "{\"client\":\"127.0.0.1\",\"peer\":\"127.0.0.1\"}");
	free(r);
	/* A proxy that appends a line of its own (HAProxy) after 8 lines the
	 * client forged: the newest lines are the ones walked, so the proxy's
	 * entry is the client, not a forged one. */
	char forged[1024];
	size_t len = 0;
	for (int i = 0; i < 8; i++)
		len += (size_t)snprintf(forged + len, sizeof(forged) - len, "X-Forwarded-For: 198.51.100.%d\r\n", 70 + i);
	snprintf(forged + len, sizeof(forged) - len, "X-Forwarded-For: 203.0.113.5\r\n");
	r = testhttp_request(httpd_port(h), "GET", "/x", forged, NULL);
	CHECK_STREQ(testhttp_body(r), "{\"client\":\"203.0.113.5\",\"peer\":\"127.0.0.1\"}");
	free(r);
	/* lines of trusted hops only: the walk goes back through them in order */
	r = testhttp_request(httpd_port(h), "GET", "/x",
	    "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 127.0.0.7\r\nX-Forwarded-For: 127.0.0.8\r\n", NULL);
	CHECK_STREQ(testhttp_body(r), "{\"client\":\"203.0.113.9\",\"peer\":\"127.0.0.1\"}");
	free(r);
	httpd_stop(h);
}

TEST(httpd_limits_percent_decoding_keeps_nul_escaped)
{
	httpd_config c = { 0 };
	httpd *h = limits_start(&c);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	char *r = testhttp_request(port, "GET", "/esc/a%41%2fb?q=x%20y+z%41", NULL, NULL);
	CHECK_STREQ(testhttp_body(r), "{\"path\":\"/esc/aA/b\",\"q\":\"x y zA\"}");
	free(r);
	/* a NUL would end the string early: it stays "%00" */
	r = testhttp_request(port, "GET", "/esc/1%00/status?q=a%00b", NULL, NULL);
	CHECK_STREQ(testhttp_body(r), "{\"path\":\"/esc/1%00/status\",\"q\":\"a%00b\"}");
	free(r);
	/* malformed escapes are left alone */
	r = testhttp_request(port, "GET", "/esc/%zz%4?q=%", NULL, NULL);
	CHECK_STREQ(testhttp_body(r), "{\"path\":\"/esc/%zz%4\",\"q\":\"%\"}");
	free(r);
	httpd_stop(h);
}
