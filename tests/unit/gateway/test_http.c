/* gateway/gw_http: the shared request path (404, 405 + Allow, 401 for
 * non-public routes without a token, 415, a repeated query parameter, handler) through a real lib/httpd server, plus
 * the gateway's own table for /health, /metrics and unknown routes. */
#include <stdlib.h>
#include <string.h>

#include "gw_http.h"
#include "gw_metrics.h"
#include "httpd.h"
#include "test.h"
#include "testhttp.h"

static void h_echo(gw_app *app, const gw_request *req, httpd_response *resp)
{
	(void)app;
	char buf[256];
	const char *id = gw_param(req, "id");
	int n = snprintf(buf, sizeof(buf), "{\"id\":\"%s\",\"len\":%zu}", id != NULL ? id : "", req->http->body_len);
	httpd_respond(resp, 200, buf, (size_t)n);
}

static const gw_route test_table[] = {
	{ "GET", "/things/{id}", h_echo, GW_AUTH_PUBLIC },
	{ "POST", "/things", h_echo, GW_AUTH_PUBLIC },
	{ "PUT", "/things/{id}", h_echo, GW_AUTH_PUBLIC },
	{ "GET", "/private", h_echo, GW_AUTH_USER },
	{ "DELETE", "/admin/{id}", h_echo, GW_AUTH_ADMIN },
};

static void test_dispatch(void *arg, const httpd_request *req, httpd_response *resp)
{
	gw_http_dispatch(arg, test_table, sizeof(test_table) / sizeof(test_table[0]), req, resp);
}

static httpd *start(httpd_handler_fn fn, gw_app *app)
{
	httpd *h = NULL;
	httpd_config cfg = { .name = "gw-test", .bind = "127.0.0.1", .port = 0, .threads = 2, .handler = fn,
		.observer = gw_metrics_observe, .arg = app };
	CHECK_EQ_INT(httpd_start(&h, &cfg), 0);
	return h;
}

TEST(gw_http_is_json_media_types)
{
	CHECK(gw_http_is_json("application/json"));
	CHECK(gw_http_is_json("application/json; charset=utf-8"));
	CHECK(gw_http_is_json("Application/JSON;charset=UTF-8"));
	CHECK(gw_http_is_json("  application/json  ; x=y"));
	CHECK(gw_http_is_json("application/merge-patch+json"));
	CHECK(!gw_http_is_json(NULL));
	CHECK(!gw_http_is_json(""));
	CHECK(!gw_http_is_json("text/plain"));
	CHECK(!gw_http_is_json("application/x-www-form-urlencoded"));
	CHECK(!gw_http_is_json("application/jsonp"));
	CHECK(!gw_http_is_json("application/json-seq"));
	CHECK(!gw_http_is_json("text/json"));
	CHECK(!gw_http_is_json("application/+json"));
	CHECK(!gw_http_is_json("multipart/form-data; boundary=x"));
}

TEST(gw_http_dispatch_paths)
{
	gw_app app = { 0 };
	httpd *h = start(test_dispatch, &app);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	char v[256];

	char *r = testhttp_request(port, "GET", "/things/42", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_STREQ(testhttp_body(r), "{\"id\":\"42\",\"len\":0}");
	free(r);

	/* an encoded '/' is data, not a separator: /things%2F42 is not /things/42 */
	r = testhttp_request(port, "GET", "/things%2F42", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	free(r);
	r = testhttp_request(port, "GET", "/things/4%2f2", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	free(r);
	r = testhttp_request(port, "GET", "/things/42?cursor=a%2Fb", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200); /* in the query it is just a '/' */
	free(r);
	r = testhttp_request(port, "GET", "/things/%34%32", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200); /* other escapes decode as before */
	CHECK_STREQ(testhttp_body(r), "{\"id\":\"42\",\"len\":0}");
	free(r);

	r = testhttp_request(port, "GET", "/nothing/here", "X-Request-Id: abc\r\n", NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	CHECK_STREQ(testhttp_body(r),
	    "{\"success\":false,\"error\":\"Route not found\",\"code\":\"NOT_FOUND\",\"request_id\":\"abc\"}");
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "application/json; charset=utf-8");
	free(r);

	r = testhttp_request(port, "DELETE", "/things/1", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 405);
	CHECK_STREQ(testhttp_header(r, "Allow", v, sizeof(v)), "GET, HEAD, PUT");
	CHECK(strstr(testhttp_body(r), "\"code\":\"METHOD_NOT_ALLOWED\"") != NULL);
	free(r);

	/* non-public routes without a token: 401 asking for one (gw_auth) */
	r = testhttp_request(port, "GET", "/private", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 401);
	CHECK_STREQ(testhttp_header(r, "WWW-Authenticate", v, sizeof(v)), "Bearer");
	CHECK(strstr(testhttp_body(r), "\"code\":\"UNAUTHENTICATED\"") != NULL);
	free(r);
	r = testhttp_request(port, "DELETE", "/admin/1", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 401);
	free(r);

	/* bodies must be JSON on POST/PUT/PATCH */
	r = testhttp_request(port, "POST", "/things", "Content-Type: application/json\r\n", "{\"a\":1}");
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_STREQ(testhttp_body(r), "{\"id\":\"\",\"len\":7}");
	free(r);
	r = testhttp_request(port, "POST", "/things", "Content-Type: text/plain\r\n", "{\"a\":1}");
	CHECK_EQ_INT(testhttp_status(r), 415);
	CHECK(strstr(testhttp_body(r), "\"code\":\"UNSUPPORTED_MEDIA_TYPE\"") != NULL);
	free(r);
	r = testhttp_request(port, "PUT", "/things/3", NULL, "{\"a\":1}");
	CHECK_EQ_INT(testhttp_status(r), 415); /* no Content-Type at all */
	free(r);
	r = testhttp_request(port, "PUT", "/things/3", "Content-Type: application/x-www-form-urlencoded\r\n", "a=1");
	CHECK_EQ_INT(testhttp_status(r), 415);
	free(r);
	/* no body, no Content-Type needed; white space alone is no body */
	r = testhttp_request(port, "POST", "/things", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	r = testhttp_request(port, "POST", "/things", NULL, " \r\n\t");
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	r = testhttp_request(port, "POST", "/things", NULL, " x");
	CHECK_EQ_INT(testhttp_status(r), 415);
	free(r);

	/* a query parameter given twice: which value counts would be a guess */
	r = testhttp_request(port, "GET", "/things/4?limit=1&cursor=x&limit=abc", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK(strstr(testhttp_body(r), "\"details\":[{\"field\":\"limit\",\"issue\":\"must be given once\"}]") != NULL);
	free(r);
	r = testhttp_request(port, "GET", "/things/4?status&status=paid", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 400);
	free(r);
	r = testhttp_request(port, "GET", "/things/4?limit=1&Limit=2&cursor=", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200); /* keys are case-sensitive: two keys */
	free(r);
	httpd_stop(h);
}

TEST(gw_http_gateway_table_health_and_metrics)
{
	gw_app app = { .health_timeout_ms = 100, .version = "test" };
	httpd *h = start(gw_http_handle, &app);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	char v[256];
	char *r = testhttp_request(port, "GET", "/health", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK(strncmp(testhttp_body(r), "{\"status\":\"healthy\",\"service\":\"api-gateway\",\"timestamp\":\"", 57) == 0);
	free(r);
	r = testhttp_request(port, "POST", "/health", "Content-Type: application/json\r\n", "{}");
	CHECK_EQ_INT(testhttp_status(r), 405);
	CHECK_STREQ(testhttp_header(r, "Allow", v, sizeof(v)), "GET, HEAD");
	free(r);
	r = testhttp_request(port, "GET", "/api/does-not-exist", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	free(r);
	r = testhttp_request(port, "GET", "/metrics", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "text/plain; version=0.0.4; charset=utf-8");
	const char *b = testhttp_body(r);
	CHECK(strstr(b, "comanda_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"}") != NULL);
	CHECK(strstr(b, "comanda_http_requests_total{route=\"/health\",method=\"POST\",status=\"405\"}") != NULL);
	CHECK(strstr(b, "comanda_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}") != NULL);
	CHECK(strstr(b, "comanda_http_request_duration_seconds_bucket{route=\"/health\",method=\"GET\",le=\"+Inf\"}") != NULL);
	/* the scrape itself is in flight while it renders */
	CHECK(strstr(b, "\ncomanda_http_requests_in_flight ") != NULL);
	free(r);
	/* odd methods are folded into one label value */
	r = testhttp_request(port, "BREW", "/health", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 405);
	free(r);
	r = testhttp_request(port, "GET", "/metrics", NULL, NULL);
	CHECK(strstr(testhttp_body(r), "method=\"OTHER\",status=\"405\"") != NULL);
	CHECK(strstr(testhttp_body(r), "BREW") == NULL);
	free(r);
	httpd_stop(h);
}
