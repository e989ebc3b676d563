/* gateway/gw_cors: the origin list, and the headers through gw_http and a
 * real lib/httpd: preflights for allowed and refused origins, actual
 * requests, "*", and nothing at all when no origin is configured. */
#include <stdlib.h>
#include <string.h>

#include "gw_cors.h"
#include "gw_errors.h"
#include "gw_http.h"
#include "httpd.h"
#include "test.h"
#include "testhttp.h"

TEST(gw_cors_origin_list)
{
	gw_cors *c = NULL;
	char why[160];
	CHECK_EQ_INT(gw_cors_new(&c, "", 600, why, sizeof(why)), 0);
	CHECK(c == NULL);
	CHECK_EQ_INT(gw_cors_new(&c, " , ", 600, why, sizeof(why)), 0);
	CHECK(c == NULL);
	CHECK(!gw_cors_allowed(NULL, "https://a.example"));
	CHECK_EQ_INT(gw_cors_new(&c, "https://shop.example.com, http://localhost:8080/ ,http://[::1]:3000", 600, why,
	                 sizeof(why)),
	    0);
	CHECK(c != NULL);
	CHECK(gw_cors_allowed(c, "https://shop.example.com"));
	CHECK(gw_cors_allowed(c, "HTTPS://Shop.Example.com"));
	CHECK(gw_cors_allowed(c, "http://localhost:8080"));
	CHECK(gw_cors_allowed(c, "http://[::1]:3000"));
	CHECK(!gw_cors_allowed(c, "http://shop.example.com"));        /* other scheme */
	CHECK(!gw_cors_allowed(c, "https://shop.example.com:8443"));  /* other port */
	CHECK(!gw_cors_allowed(c, "https://evil.shop.example.com"));
	CHECK(!gw_cors_allowed(c, "https://shop.example.com.evil"));
	CHECK(!gw_cors_allowed(c, "null"));
	CHECK(!gw_cors_allowed(c, ""));
	CHECK(!gw_cors_allowed(c, NULL));
	gw_cors_free(c);
	const char *bad[] = { "shop.example.com", "https://", "https://a.example/path", "https://a b", "*://x",
		"https://a.example:123456", "://a.example" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(gw_cors_new(&c, bad[i], 600, why, sizeof(why)), -1);
		CHECK(c == NULL);
		CHECK(strstr(why, "is not an origin") != NULL);
	}
	CHECK_EQ_INT(gw_cors_new(&c, "*", 60, why, sizeof(why)), 0);
	CHECK(gw_cors_allowed(c, "https://anything.example"));
	gw_cors_free(c);
}

static void h_ok(gw_app *app, const gw_request *req, httpd_response *resp)
{
	(void)app;
	(void)req;
	httpd_respond(resp, 201, "{\"ok\":true}", 11);
	httpd_add_header(resp, "Location", "/things/1");
}

/* A 401 as every route answers one, with its WWW-Authenticate. */
static void h_locked(gw_app *app, const gw_request *req, httpd_response *resp)
{
	(void)app;
	gw_errors_respond_code(resp, req->http, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
}

static const gw_route cors_table[] = {
	{ "GET", "/locked", h_locked, GW_AUTH_PUBLIC },
	{ "GET", "/things", h_ok, GW_AUTH_PUBLIC },
	{ "POST", "/things", h_ok, GW_AUTH_PUBLIC },
	{ "DELETE", "/things/{id}", h_ok, GW_AUTH_PUBLIC },
};

static void cors_dispatch(void *arg, const httpd_request *req, httpd_response *resp)
{
	gw_http_dispatch(arg, cors_table, sizeof(cors_table) / sizeof(cors_table[0]), req, resp);
}

static httpd *cors_start(gw_app *app)
{
	httpd *h = NULL;
	httpd_config hc = { .name = "cors-test", .bind = "127.0.0.1", .threads = 2, .handler = cors_dispatch, .arg = app };
	CHECK_EQ_INT(httpd_start(&h, &hc), 0);
	return h;
}

#define PREFLIGHT(origin) "Origin: " origin "\r\nAccess-Control-Request-Method: POST\r\n" \
	"Access-Control-Request-Headers: authorization, content-type\r\n"

TEST(gw_cors_preflight_and_actual_requests)
{
	gw_cors *c = NULL;
	char why[128], v[256];
	CHECK_EQ_INT(gw_cors_new(&c, "https://shop.example.com", 600, why, sizeof(why)), 0);
	gw_app app = { .cors = c };
	httpd *h = cors_start(&app);
	if (h == NULL) {
		gw_cors_free(c);
		return;
	}
	int port = httpd_port(h);
	/* allowed origin: 204 with everything a browser checks */
	char *r = testhttp_request(port, "OPTIONS", "/things", PREFLIGHT("https://shop.example.com"), NULL);
	CHECK_EQ_INT(testhttp_status(r), 204);
	CHECK_STREQ(testhttp_header(r, "Access-Control-Allow-Origin", v, sizeof(v)), "https://shop.example.com");
	CHECK_STREQ(testhttp_header(r, "Vary", v, sizeof(v)), "Origin");
	CHECK_STREQ(testhttp_header(r, "Access-Control-Allow-Methods", v, sizeof(v)), "GET, HEAD, POST");
	CHECK_STREQ(testhttp_header(r, "Access-Control-Allow-Headers", v, sizeof(v)),
	    "Authorization, Content-Type, Idempotency-Key, X-Request-Id");
	CHECK_STREQ(testhttp_header(r, "Access-Control-Max-Age", v, sizeof(v)), "600");
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), ""); /* no content, nothing to type */
	CHECK_STREQ(testhttp_body(r), "");
	free(r);
	r = testhttp_request(port, "OPTIONS", "/things/9", PREFLIGHT("https://shop.example.com"), NULL);
	CHECK_EQ_INT(testhttp_status(r), 204);
	CHECK_STREQ(testhttp_header(r, "Access-Control-Allow-Methods", v, sizeof(v)), "DELETE");
	free(r);
	/* refused origin: no CORS header at all, a JSON 403 */
	r = testhttp_request(port, "OPTIONS", "/things", PREFLIGHT("https://evil.example"), NULL);
	CHECK_EQ_INT(testhttp_status(r), 403);
	CHECK_STREQ(testhttp_header(r, "Access-Control-Allow-Origin", v, sizeof(v)), "");
	CHECK_STREQ(testhttp_header(r, "Access-Control-Allow-Methods", v, sizeof(v)), "");
	CHECK(strstr(testhttp_body(r), "\"code\":\"PERMISSION_DENIED\"") != NULL);
	free(r);
	/* unknown path: the usual 404 */
	r = testhttp_request(port, "OPTIONS", "/nothing", PREFLIGHT("https://shop.example.com"), NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	free(r);
	/* OPTIONS without the preflight headers is just a method the route lacks */
	r = testhttp_request(port, "OPTIONS", "/things", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 405);
	free(r);
	/* an actual request from the allowed origin can read what it needs */
	r = testhttp_request(port, "POST", "/things", "Origin: https://shop.example.com\r\n", NULL);
	CHECK_EQ_INT(testhttp_status(r), 201);
	CHECK_STREQ(testhttp_header(r, "Access-Control-Allow-Origin", v, sizeof(v)), "https://shop.example.com");
	CHECK_STREQ(testhttp_header(r, "Access-Control-Expose-Headers", v, sizeof(v)),
	    "X-Request-Id, RateLimit, RateLimit-Policy, Retry-After, Idempotent-Replayed, Location, WWW-Authenticate, "
	    "Allow");
	CHECK_STREQ(testhttp_header(r, "Vary", v, sizeof(v)), "Origin");
	free(r);
	/* a 401's WWW-Authenticate and a 405's Allow are readable too: what a
	 * page needs to tell an expired token or which methods a path takes */
	r = testhttp_request(port, "GET", "/locked", "Origin: https://shop.example.com\r\n", NULL);
	CHECK_EQ_INT(testhttp_status(r), 401);
	CHECK(strncmp(testhttp_header(r, "WWW-Authenticate", v, sizeof(v)), "Bearer", 6) == 0);
	CHECK(strstr(testhttp_header(r, "Access-Control-Expose-Headers", v, sizeof(v)), "WWW-Authenticate") != NULL);
	free(r);
	r = testhttp_request(port, "PUT", "/things", "Origin: https://shop.example.com\r\n", NULL);
	CHECK_EQ_INT(testhttp_status(r), 405);
	CHECK_STREQ(testhttp_header(r, "Allow", v, sizeof(v)), "GET, HEAD, POST");
	CHECK(strstr(testhttp_header(r, "Access-Control-Expose-Headers", v, sizeof(v)), ", Allow") != NULL);
	free(r);
	/* errors too (a browser must be able to read them) */
	r = testhttp_request(port, "GET", "/nothing", "Origin: https://shop.example.com\r\n", NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	CHECK_STREQ(testhttp_header(r, "Access-Control-Allow-Origin", v, sizeof(v)), "https://shop.example.com");
	free(r);
	/* another origin: served (CORS is the browser's check) but without CORS headers */
	r = testhttp_request(port, "GET", "/things", "Origin: https://evil.example\r\n", NULL);
	CHECK_EQ_INT(testhttp_status(r), 201);
	CHECK_STREQ(testhttp_header(r, "Access-Control-Allow-Origin", v, sizeof(v)), "");
	CHECK_STREQ(testhttp_header(r, "Access-Control-Expose-Headers", v, sizeof(v)), "");
	CHECK_STREQ(testhttp_header(r, "Vary", v, sizeof(v)), "Origin");
	free(r);
	httpd_stop(h);
	gw_cors_free(c);
}

TEST(gw_cors_default_is_same_origin_only)
{
	gw_app app = { .cors = NULL };
	httpd *h = cors_start(&app);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	char v[256];
	char *r = testhttp_request(port, "OPTIONS", "/things", PREFLIGHT("https://shop.example.com"), NULL);
	CHECK_EQ_INT(testhttp_status(r), 403);
	CHECK_STREQ(testhttp_header(r, "Access-Control-Allow-Origin", v, sizeof(v)), "");
	free(r);
	r = testhttp_request(port, "GET", "/things", "Origin: https://shop.example.com\r\n", NULL);
	CHECK_EQ_INT(testhttp_status(r), 201);
	CHECK_STREQ(testhttp_header(r, "Access-Control-Allow-Origin", v, sizeof(v)), "");
	CHECK_STREQ(testhttp_header(r, "Vary", v, sizeof(v)), "");
	free(r);
	httpd_stop(h);
}

TEST(gw_cors_any_origin)
{
	gw_cors *c = NULL;
	char why[64], v[256];
	CHECK_EQ_INT(gw_cors_new(&c, "*", 30, why, sizeof(why)), 0);
	gw_app app = { .cors = c };
	httpd *h = cors_start(&app);
	if (h == NULL) {
		gw_cors_free(c);
		return;
	}
	int port = httpd_port(h);
	char *r = testhttp_request(port, "OPTIONS", "/things", PREFLIGHT("https://x.example"), NULL);
	CHECK_EQ_INT(testhttp_status(r), 204);
	CHECK_STREQ(testhttp_header(r, "Access-Control-Allow-Origin", v, sizeof(v)), "*");
	CHECK_STREQ(testhttp_header(r, "Access-Control-Max-Age", v, sizeof(v)), "30");
	free(r);
	httpd_stop(h);
	gw_cors_free(c);
}
