/* lib/httpd: a real server on an ephemeral loopback port, spoken to over a
 * raw socket (tests/unit/testhttp) so the test sees the bytes a client would. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "httpd.h"
#include "test.h"
#include "testhttp.h"

static atomic_int observed_status;
static atomic_int observed_count;
static char observed_caller[HTTPD_CALLER_MAX]; /* written by the server's thread before the client reads the answer */

static void test_handler(void *arg, const httpd_request *req, httpd_response *resp)
{
	(void)arg;
	resp->route = "/test";
	if (strcmp(req->path, "/nothing") == 0)
		return; /* answers nothing: httpd must make it a JSON 500 */
	if (req->path_encoded_slash) {
		/* as the gateway does: no route has a segment holding a '/' */
		httpd_respond(resp, 404, "{\"encoded_slash\":true}", 22);
		return;
	}
	if (strcmp(req->path, "/not-modified") == 0) {
		/* the 200's body, never sent on a 304 but counted */
		httpd_respond(resp, 304, "{\"a\":1}", 7);
		return;
	}
	if (strcmp(req->path, "/no-content") == 0) {
		httpd_respond_owned(resp, 204, NULL, 0);
		return;
	}
	if (strcmp(req->path, "/text") == 0) {
		resp->content_type = "text/plain; charset=utf-8";
		httpd_respond(resp, 200, "hi", 2);
		return;
	}
	if (strcmp(req->path, "/header") == 0) {
		httpd_add_header(resp, "X-Ok", "yes");
		httpd_add_header(resp, "X-Bad", "a\r\nInjected: 1");
		httpd_add_header(resp, "Bad Name", "v");
	}
	const char *q = httpd_query(req, "q");
	if (strcmp(req->path, "/query") == 0) {
		/* absent (null) and present told apart */
		char qb[128];
		int qn = snprintf(qb, sizeof(qb), q != NULL ? "{\"q\":\"%s\"}" : "{\"q\":null}", q != NULL ? q : "");
		httpd_respond(resp, 200, qb, (size_t)qn);
		return;
	}
	const char *ua = httpd_header(req, "x-test-header");
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "{\"method\":\"%s\",\"path\":\"%s\",\"len\":%zu,\"q\":\"%s\",\"h\":\"%s\",\"client\":\"%s\"}",
	    req->method, req->path, req->body_len, q != NULL ? q : "", ua != NULL ? ua : "", req->client_addr);
	httpd_respond(resp, 200, buf, (size_t)n);
}

static void test_observer(void *arg, const httpd_request *req, const httpd_response *resp, int64_t latency_us)
{
	(void)arg;
	(void)req;
	(void)latency_us;
	memcpy(observed_caller, resp->caller, sizeof(observed_caller));
	atomic_store(&observed_status, resp->status);
	atomic_fetch_add(&observed_count, 1);
}

static httpd *start_server(size_t max_body)
{
	httpd *h = NULL;
	httpd_config cfg = { .name = "test", .bind = "127.0.0.1", .port = 0, .threads = 2, .max_body = max_body,
		.log_requests = false, .handler = test_handler, .observer = test_observer };
	CHECK_EQ_INT(httpd_start(&h, &cfg), 0);
	CHECK(h == NULL || httpd_port(h) > 0);
	return h;
}

static char *get(int port, const char *target, const char *extra_headers)
{
	return testhttp_request(port, "GET", target, extra_headers, NULL);
}

TEST(httpd_request_id_rules)
{
	CHECK(httpd_request_id_valid("abc-DEF_1.2"));
	CHECK(!httpd_request_id_valid(NULL));
	CHECK(!httpd_request_id_valid(""));
	CHECK(!httpd_request_id_valid("has space"));
	CHECK(!httpd_request_id_valid("quote\""));
	CHECK(!httpd_request_id_valid("new\nline"));
	char id64[65], id65[66];
	memset(id64, 'a', 64);
	id64[64] = '\0';
	memset(id65, 'a', 65);
	id65[65] = '\0';
	CHECK(httpd_request_id_valid(id64));
	CHECK(!httpd_request_id_valid(id65));
	char a[33], b[33];
	httpd_request_id_new(a, sizeof(a));
	httpd_request_id_new(b, sizeof(b));
	CHECK_EQ_INT(strlen(a), 32);
	CHECK(strspn(a, "0123456789abcdef") == 32);
	CHECK(strcmp(a, b) != 0);
	CHECK(httpd_request_id_valid(a));
	char small[5];
	httpd_request_id_new(small, sizeof(small));
	CHECK_EQ_INT(strlen(small), 4);
}

TEST(httpd_absolute_prefix_rules)
{
	CHECK_EQ_INT(httpd_absolute_prefix_len("/x"), 0);
	CHECK_EQ_INT(httpd_absolute_prefix_len("*"), 0);
	CHECK_EQ_INT(httpd_absolute_prefix_len(""), 0);
	CHECK_EQ_INT(httpd_absolute_prefix_len("ftp://h/x"), 0);
	CHECK_EQ_INT(httpd_absolute_prefix_len("http:/x"), 0);
	CHECK_EQ_INT(httpd_absolute_prefix_len("http://h:8080/x?y"), 13);
	CHECK_EQ_INT(httpd_absolute_prefix_len("HTTPS://[::1]:443/x"), 17);
	CHECK_EQ_INT(httpd_absolute_prefix_len("http://h?y"), 8);
	CHECK_EQ_INT(httpd_absolute_prefix_len("http://h"), 8);
	CHECK_EQ_INT(httpd_absolute_prefix_len("http://"), 7);
	CHECK_EQ_INT(httpd_absolute_prefix_len("http://u@h/x"), 10);
}

TEST(httpd_response_helpers)
{
	httpd_request req;
	memset(&req, 0, sizeof(req));
	memcpy(req.request_id, "rid", 4);
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	httpd_respond(&resp, 200, "{}", 2);
	CHECK_STREQ(resp.body, "{}");
	/* answering again replaces (and frees) the first body */
	httpd_respond_error(&resp, &req, 404, "NOT_FOUND", "No \"such\" thing");
	CHECK_EQ_INT(resp.status, 404);
	CHECK_STREQ(resp.body,
	    "{\"success\":false,\"error\":\"No \\\"such\\\" thing\",\"code\":\"NOT_FOUND\",\"request_id\":\"rid\"}");
	CHECK_EQ_INT(resp.body_len, strlen(resp.body));
	free(resp.body);
	for (int i = 0; i < HTTPD_MAX_HEADERS + 3; i++)
		httpd_add_header(&resp, "X-N", "v");
	CHECK_EQ_INT(resp.n_headers, HTTPD_MAX_HEADERS);
}

TEST(httpd_serves_and_echoes_request_id)
{
	httpd *h = start_server(0);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	char v[128];

	char *r = get(port, "/echo?q=a%20b", "X-Request-Id: client-id_1.x\r\nX-Test-Header: hv\r\n");
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_STREQ(testhttp_header(r, "X-Request-Id", v, sizeof(v)), "client-id_1.x");
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "application/json; charset=utf-8");
	CHECK_STREQ(testhttp_body(r),
	    "{\"method\":\"GET\",\"path\":\"/echo\",\"len\":0,\"q\":\"a b\",\"h\":\"hv\",\"client\":\"127.0.0.1\"}");
	free(r);

	/* an insane id is replaced by a generated one */
	r = get(port, "/echo", "X-Request-Id: bad id <script>\r\n");
	testhttp_header(r, "X-Request-Id", v, sizeof(v));
	CHECK_EQ_INT(strlen(v), 32);
	CHECK(httpd_request_id_valid(v));
	free(r);

	/* none given: generated */
	r = get(port, "/echo", NULL);
	CHECK_EQ_INT(strlen(testhttp_header(r, "X-Request-Id", v, sizeof(v))), 32);
	free(r);

	/* absolute form (RFC 9112 3.2.2): served as its path and query */
	r = get(port, "http://127.0.0.1:1/echo?q=abs", NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK(strstr(testhttp_body(r), "\"path\":\"/echo\",\"len\":0,\"q\":\"abs\"") != NULL);
	free(r);
	r = get(port, "HTTP://example.com", NULL);
	CHECK(strstr(testhttp_body(r), "\"path\":\"/\"") != NULL);
	free(r);
	r = get(port, "http://example.com?q=1", NULL);
	CHECK(strstr(testhttp_body(r), "\"path\":\"/\",\"len\":0,\"q\":\"1\"") != NULL);
	free(r);

	/* Host (RFC 9112 3.2): required of HTTP/1.1, at most one */
	static const char no_host[] = "GET /echo HTTP/1.1\r\nConnection: close\r\nX-Request-Id: no-host\r\n\r\n";
	r = testhttp_exchange(port, no_host, sizeof(no_host) - 1);
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_STREQ(testhttp_body(r), "{\"success\":false,\"error\":\"Host header field required (HTTP/1.1)\","
	                              "\"code\":\"INVALID_ARGUMENT\",\"request_id\":\"no-host\"}");
	free(r);
	static const char two_hosts[] = "GET /echo HTTP/1.1\r\nHost: a\r\nhost: b\r\nConnection: close\r\n\r\n";
	r = testhttp_exchange(port, two_hosts, sizeof(two_hosts) - 1);
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK(strstr(testhttp_body(r), "\"error\":\"More than one Host header field\"") != NULL);
	free(r);
	static const char http10[] = "GET /echo HTTP/1.0\r\n\r\n";
	r = testhttp_exchange(port, http10, sizeof(http10) - 1);
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);

	/* a 304 carries the length of the body it does not send */
	r = get(port, "/not-modified", NULL);
	CHECK_EQ_INT(testhttp_status(r), 304);
	CHECK_STREQ(testhttp_header(r, "Content-Length", v, sizeof(v)), "7");
	CHECK_STREQ(testhttp_body(r), "");
	free(r);

	/* a 204 has no content, so no Content-Type either (it was JSON's) */
	r = get(port, "/no-content", NULL);
	CHECK_EQ_INT(testhttp_status(r), 204);
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "");
	CHECK_STREQ(testhttp_header(r, "Content-Length", v, sizeof(v)), "");
	CHECK(testhttp_header(r, "X-Request-Id", v, sizeof(v))[0] != '\0');
	CHECK_STREQ(testhttp_body(r), "");
	free(r);

	r = get(port, "/text", NULL);
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "text/plain; charset=utf-8");
	CHECK_STREQ(testhttp_body(r), "hi");
	free(r);

	r = get(port, "/header", NULL);
	CHECK_STREQ(testhttp_header(r, "X-Ok", v, sizeof(v)), "yes");
	CHECK(r != NULL && strstr(r, "Injected") == NULL);
	CHECK(r != NULL && strstr(r, "Bad Name") == NULL);
	free(r);
	httpd_stop(h);
}

/* The absolute form is told by the target as sent (RFC 9112 3.2.2: a scheme
 * has no percent-escapes). Judged after percent-decoding, "%68ttp://h/echo"
 * and "http%3A//h/echo" were served as "/echo", a path the client never
 * sent as one (a proxy in front routes and filters by the target it saw);
 * and "http://h%2Fecho/x", whose authority holds an encoded '/', as
 * "/echo/x" rather than "/x", without the encoded-slash mark. */
TEST(httpd_absolute_form_is_judged_as_sent)
{
	httpd *h = start_server(0);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	char *r = get(port, "%68ttp://h/echo", NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK(strstr(testhttp_body(r), "\"path\":\"http://h/echo\"") != NULL);
	free(r);
	r = get(port, "http%3A//h/echo", NULL);
	CHECK(strstr(testhttp_body(r), "\"path\":\"http://h/echo\"") != NULL);
	free(r);
	r = get(port, "http://h%2Fecho/x", NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	CHECK_STREQ(testhttp_body(r), "{\"encoded_slash\":true}");
	free(r);
	/* a real one still is: its path, and a %2F in the path is marked */
	r = get(port, "http://h/echo", NULL);
	CHECK(strstr(testhttp_body(r), "\"path\":\"/echo\"") != NULL);
	free(r);
	r = get(port, "http://h/a%2Fb", NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	free(r);
	httpd_stop(h);
}

TEST(httpd_query_without_equals_is_present_and_empty)
{
	httpd *h = start_server(0);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	struct {
		const char *target, *body;
	} cases[] = {
		{ "/query", "{\"q\":null}" },
		{ "/query?other=1", "{\"q\":null}" },
		{ "/query?q", "{\"q\":\"\"}" },
		{ "/query?a=1&q&b=2", "{\"q\":\"\"}" },
		{ "/query?q=", "{\"q\":\"\"}" },
		{ "/query?q=x", "{\"q\":\"x\"}" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = get(port, cases[i].target, NULL);
		const char *body = testhttp_body(r);
		if (body == NULL || strcmp(body, cases[i].body) != 0)
			test_fail(__FILE__, __LINE__, "%s: %s, want %s", cases[i].target, body != NULL ? body : "(none)",
			    cases[i].body);
		free(r);
	}
	httpd_stop(h);
}

TEST(httpd_no_answer_is_json_500)
{
	httpd *h = start_server(0);
	if (h == NULL)
		return;
	char v[128];
	char *r = get(httpd_port(h), "/nothing", "X-Request-Id: r500\r\n");
	CHECK_EQ_INT(testhttp_status(r), 500);
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "application/json; charset=utf-8");
	CHECK_STREQ(testhttp_body(r),
	    "{\"success\":false,\"error\":\"Internal error\",\"code\":\"INTERNAL\",\"request_id\":\"r500\"}");
	free(r);
	CHECK_EQ_INT(atomic_load(&observed_status), 500);
	httpd_stop(h);
}

TEST(httpd_body_and_limit)
{
	httpd *h = start_server(1024);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	char v[128];
	static char raw[8192];

	/* exactly the limit: accepted */
	int n = snprintf(raw, sizeof(raw), "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1024\r\n\r\n");
	memset(raw + n, 'x', 1024);
	char *r = testhttp_exchange(port, raw, (size_t)n + 1024);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK(r != NULL && strstr(testhttp_body(r), "\"len\":1024") != NULL);
	free(r);

	/* declared over the limit: refused before the body is read */
	n = snprintf(raw, sizeof(raw),
	    "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: big1\r\nContent-Length: 1025\r\n\r\n");
	memset(raw + n, 'x', 1025);
	int before = atomic_load(&observed_count);
	r = testhttp_exchange(port, raw, (size_t)n + 1025);
	CHECK_EQ_INT(testhttp_status(r), 413);
	CHECK_STREQ(testhttp_header(r, "X-Request-Id", v, sizeof(v)), "big1");
	CHECK(r != NULL && strstr(testhttp_body(r), "\"code\":\"PAYLOAD_TOO_LARGE\"") != NULL);
	CHECK(r != NULL && strstr(testhttp_body(r), "\"success\":false") != NULL);
	free(r);
	CHECK_EQ_INT(atomic_load(&observed_count), before + 1);
	CHECK_EQ_INT(atomic_load(&observed_status), 413);

	/* chunked, no length given: refused once it passes the limit */
	n = snprintf(raw, sizeof(raw),
	    "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 3; i++) {
		n += snprintf(raw + n, sizeof(raw) - (size_t)n, "200\r\n");
		memset(raw + n, 'y', 0x200);
		n += 0x200;
		n += snprintf(raw + n, sizeof(raw) - (size_t)n, "\r\n");
	}
	n += snprintf(raw + n, sizeof(raw) - (size_t)n, "0\r\n\r\n");
	r = testhttp_exchange(port, raw, (size_t)n);
	CHECK_EQ_INT(testhttp_status(r), 413);
	free(r);

	/* chunked, far over: read no further than 16 times the limit, then the
	 * connection is closed unanswered (no handler runs) */
	size_t cap = 64 * 1024, m = 0;
	char *flood = malloc(cap);
	if (flood != NULL) {
		m = (size_t)snprintf(flood, cap,
		    "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
		for (int i = 0; i < 40; i++) { /* 40 x 1 KiB */
			m += (size_t)snprintf(flood + m, cap - m, "400\r\n");
			memset(flood + m, 'z', 0x400);
			m += 0x400;
			m += (size_t)snprintf(flood + m, cap - m, "\r\n");
		}
		m += (size_t)snprintf(flood + m, cap - m, "0\r\n\r\n");
		before = atomic_load(&observed_count);
		r = testhttp_exchange(port, flood, m);
		CHECK(r == NULL || r[0] == '\0');
		CHECK_EQ_INT(atomic_load(&observed_count), before);
		free(r);
		free(flood);
	}

	/* chunked within the limit */
	n = snprintf(raw, sizeof(raw),
	    "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n");
	r = testhttp_exchange(port, raw, (size_t)n);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK(r != NULL && strstr(testhttp_body(r), "\"len\":8") != NULL);
	free(r);
	httpd_stop(h);
}

TEST(httpd_start_fails_on_bad_address)
{
	httpd *h = (httpd *)&h;
	httpd_config cfg = { .name = "bad", .bind = "256.1.1.1", .port = 0, .handler = test_handler };
	CHECK_EQ_INT(httpd_start(&h, &cfg), -1);
	CHECK(h == NULL);
	httpd *a = start_server(0);
	if (a == NULL)
		return;
	/* the same port twice cannot be bound */
	cfg.bind = "127.0.0.1";
	cfg.port = httpd_port(a);
	CHECK_EQ_INT(httpd_start(&h, &cfg), -1);
	httpd_stop(a);
}

/* ---- answering later (httpd_defer / httpd_resume) ---- */

static struct {
	pthread_mutex_t mu;
	const httpd_request *req;     /* the deferred request, until resumed */
	httpd_response *later;
} deferred = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void defer_handler(void *arg, const httpd_request *req, httpd_response *resp)
{
	(void)arg;
	resp->route = "/defer";
	httpd_add_header(resp, "X-Before", "kept");   /* set before deferring: sent */
	/* the caller of each request, kept with it: the deferred one is logged
	 * after its thread has served another */
	char caller[32];
	snprintf(caller, sizeof(caller), "user:%s", req->path + 1);
	httpd_set_caller(resp, caller);
	if (strcmp(req->path, "/later") == 0) {
		httpd_response *later = httpd_defer(req, resp);
		pthread_mutex_lock(&deferred.mu);
		deferred.req = req;
		deferred.later = later;
		pthread_mutex_unlock(&deferred.mu);
		return;
	}
	httpd_respond(resp, 200, "{\"now\":true}", 12);
}

static void *later_client(void *arg)
{
	int port = *(int *)arg;
	return get(port, "/later", "X-Request-Id: deferred-1\r\n");
}

TEST(httpd_deferred_answer_frees_the_thread_and_is_sent_on_resume)
{
	httpd *h = NULL;
	/* one thread: if a deferred request held it, /now could never be answered */
	httpd_config cfg = { .name = "test-defer", .bind = "127.0.0.1", .port = 0, .threads = 1,
		.handler = defer_handler, .observer = test_observer };
	CHECK_EQ_INT(httpd_start(&h, &cfg), 0);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	atomic_store(&observed_count, 0);
	pthread_t th;
	pthread_create(&th, NULL, later_client, &port);
	const httpd_request *req = NULL;
	httpd_response *later = NULL;
	for (int i = 0; i < 1000 && req == NULL; i++) {
		pthread_mutex_lock(&deferred.mu);
		req = deferred.req;
		later = deferred.later;
		pthread_mutex_unlock(&deferred.mu);
		if (req == NULL)
			clock_sleep_ms(2);
	}
	CHECK(req != NULL);
	char *now = get(port, "/now", NULL);
	CHECK_EQ_INT(testhttp_status(now), 200);
	CHECK_STREQ(testhttp_body(now), "{\"now\":true}");
	free(now);
	CHECK_EQ_INT(atomic_load(&observed_count), 1); /* /later is not answered yet */
	CHECK_STREQ(observed_caller, "user:now");
	if (req != NULL) {
		/* answered from this thread, which is not the server's */
		httpd_respond(later, 202, "{\"later\":true}", 14);
		httpd_add_header(later, "X-After", "yes");
		httpd_resume(req);
	}
	void *out = NULL;
	pthread_join(th, &out);
	char *r = out;
	CHECK_EQ_INT(testhttp_status(r), 202);
	CHECK_STREQ(testhttp_body(r), "{\"later\":true}");
	char v[64];
	CHECK_STREQ(testhttp_header(r, "X-Request-Id", v, sizeof(v)), "deferred-1");
	CHECK_STREQ(testhttp_header(r, "X-Before", v, sizeof(v)), "kept");
	CHECK_STREQ(testhttp_header(r, "X-After", v, sizeof(v)), "yes");
	free(r);
	CHECK_EQ_INT(atomic_load(&observed_count), 2);
	CHECK_EQ_INT(atomic_load(&observed_status), 202);
	CHECK_STREQ(observed_caller, "user:later");
	httpd_stop(h);
}
