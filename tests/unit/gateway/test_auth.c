/* gateway/gw_auth: strict Bearer parsing, the key check, and route access by
 * class through the real dispatcher and lib/httpd (401 challenges, 403, the
 * optional class, the verified caller reaching the handler). */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "clock.h"
#include "gw_auth.h"
#include "gw_http.h"
#include "httpd.h"
#include "jwt.h"
#include "test.h"
#include "testhttp.h"

static const char test_key[] = "unit-test-key-unit-test-key-0123456789";

TEST(gw_auth_bearer_accepts_rfc6750_credentials)
{
	const char *tok = NULL;
	CHECK_EQ_INT(gw_auth_bearer("Bearer abc.def.ghi", &tok), GW_BEARER_OK);
	CHECK_STREQ(tok, "abc.def.ghi");
	CHECK_EQ_INT(gw_auth_bearer("bearer abc", &tok), GW_BEARER_OK); /* scheme is case-insensitive */
	CHECK_STREQ(tok, "abc");
	CHECK_EQ_INT(gw_auth_bearer("BEARER   a-b_c~d+e/f.g==", &tok), GW_BEARER_OK); /* 1*SP, b64token */
	CHECK_STREQ(tok, "a-b_c~d+e/f.g==");
	char longest[JWT_MAX_LEN + 16];
	memcpy(longest, "Bearer ", 7);
	memset(longest + 7, 'a', JWT_MAX_LEN);
	longest[7 + JWT_MAX_LEN] = '\0';
	CHECK_EQ_INT(gw_auth_bearer(longest, &tok), GW_BEARER_OK);
}

TEST(gw_auth_bearer_refuses_everything_else)
{
	const char *tok = "untouched";
	CHECK_EQ_INT(gw_auth_bearer(NULL, &tok), GW_BEARER_NONE);
	CHECK(tok == NULL);
	const char *malformed[] = {
		"", " Bearer abc", "Bearer", "Bearer ", "Bearer  ", "Bearer\tabc", "Bearer abc ",
		"Bearer abc def", "Bearer abc,def", "Bearer =abc", "Bearer abc=d", "Bearer ab\"c", "Bearer abc\r",
		"Bearer a\xc3\xa9", "B@d abc", "(x) abc", NULL,
	};
	for (int i = 0; malformed[i] != NULL; i++) {
		tok = "untouched";
		gw_bearer b = gw_auth_bearer(malformed[i], &tok);
		if (b != GW_BEARER_MALFORMED)
			test_fail(__FILE__, __LINE__, "\"%s\": %d, want MALFORMED", malformed[i], (int)b);
		CHECK(tok == NULL);
	}
	CHECK_EQ_INT(gw_auth_bearer("Basic YWxhZGRpbjpvcGVuc2VzYW1l", &tok), GW_BEARER_OTHER_SCHEME);
	CHECK_EQ_INT(gw_auth_bearer("Token abc", &tok), GW_BEARER_OTHER_SCHEME);
	CHECK_EQ_INT(gw_auth_bearer("Bearers abc", &tok), GW_BEARER_OTHER_SCHEME);
	CHECK_EQ_INT(gw_auth_bearer("Bearerabc", &tok), GW_BEARER_OTHER_SCHEME); /* a scheme of that name */
	CHECK(tok == NULL);
	char too_long[JWT_MAX_LEN + 16];
	memcpy(too_long, "Bearer ", 7);
	memset(too_long + 7, 'a', JWT_MAX_LEN + 1);
	too_long[7 + JWT_MAX_LEN + 1] = '\0';
	CHECK_EQ_INT(gw_auth_bearer(too_long, &tok), GW_BEARER_MALFORMED);
}

TEST(jwt_key_problem_rules)
{
	CHECK(jwt_key_problem(NULL, false) != NULL);
	CHECK(jwt_key_problem("", false) != NULL);
	CHECK(jwt_key_problem("0123456789abcdef0123456789abcde", false) != NULL); /* 31 bytes */
	CHECK(jwt_key_problem("0123456789abcdef0123456789abcdef", false) == NULL);
	CHECK(jwt_key_problem("0123456789abcdef0123456789abcdef", true) == NULL);
	CHECK(jwt_key_problem(JWT_DEV_SECRET, false) == NULL);
	CHECK(jwt_key_problem(JWT_DEV_SECRET, true) != NULL);
}

/* ---- through the dispatcher ------------------------------------------------ */

static void h_caller(gw_app *app, const gw_request *req, httpd_response *resp)
{
	(void)app;
	char buf[160];
	int n = snprintf(buf, sizeof(buf), "{\"id\":%" PRId64 ",\"role\":%d,\"sid\":%" PRId64 "}", req->caller_id,
	    req->caller_role, req->session_id);
	httpd_respond(resp, 200, buf, (size_t)n);
}

static const gw_route auth_table[] = {
	{ "GET", "/public", h_caller, GW_AUTH_PUBLIC },
	{ "GET", "/optional", h_caller, GW_AUTH_OPTIONAL },
	{ "GET", "/user", h_caller, GW_AUTH_USER },
	{ "GET", "/admin", h_caller, GW_AUTH_ADMIN },
};

static void auth_dispatch(void *arg, const httpd_request *req, httpd_response *resp)
{
	gw_http_dispatch(arg, auth_table, sizeof(auth_table) / sizeof(auth_table[0]), req, resp);
}

/* An HTTP server on a free port that dispatches auth_table for app; NULL
 * (the failure recorded) when it cannot start. */
static httpd *auth_server(gw_app *app, const char *name, int threads)
{
	httpd *h = NULL;
	httpd_config cfg = { .name = name, .bind = "127.0.0.1", .threads = threads, .handler = auth_dispatch,
		.arg = app };
	CHECK_EQ_INT(httpd_start(&h, &cfg), 0);
	return h;
}

/* A token of user sub with role, signed with key, expiring ttl seconds from now. */
static void sign(char *out, size_t cap, const char *key, int64_t sub, int role, int64_t ttl)
{
	int64_t now = clock_wall_ms() / 1000;
	jwt_claims c = { .sub = sub, .role = role, .sid = 77, .iat = now, .exp = now + ttl };
	CHECK_EQ_INT(jwt_sign((const uint8_t *)key, strlen(key), &c, out, cap), JWT_OK);
}

/* GET path with "Authorization: auth" (NULL: none); returns the response. */
static char *get(int port, const char *path, const char *auth)
{
	char hdr[JWT_MAX_LEN + 64];
	if (auth != NULL)
		snprintf(hdr, sizeof(hdr), "Authorization: %s\r\n", auth);
	return testhttp_request(port, "GET", path, auth != NULL ? hdr : NULL, NULL);
}

/* Expects status, and the WWW-Authenticate value (NULL: none). */
static void expect(char *r, int status, const char *challenge, const char *body_part, int line)
{
	char v[256];
	if (testhttp_status(r) != status)
		test_fail(__FILE__, line, "status %d, want %d: %s", testhttp_status(r), status, r != NULL ? r : "(null)");
	testhttp_header(r, "WWW-Authenticate", v, sizeof(v));
	if (strcmp(v, challenge != NULL ? challenge : "") != 0)
		test_fail(__FILE__, line, "WWW-Authenticate \"%s\", want \"%s\"", v, challenge != NULL ? challenge : "");
	if (body_part != NULL && strstr(testhttp_body(r), body_part) == NULL)
		test_fail(__FILE__, line, "body lacks %s: %s", body_part, testhttp_body(r));
	free(r);
}

TEST(gw_auth_route_classes_and_challenges)
{
	gw_app app = { .jwt = { .key = (const uint8_t *)test_key, .key_len = strlen(test_key) } };
	httpd *h = auth_server(&app, "gw-auth-test", 2);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	char customer[JWT_MAX_LEN], admin[JWT_MAX_LEN], expired[JWT_MAX_LEN], wrong_key[JWT_MAX_LEN];
	char auth[JWT_MAX_LEN + 16];
	sign(customer, sizeof(customer), test_key, 7, COMANDA__ROLE__ROLE_CUSTOMER, 600);
	sign(admin, sizeof(admin), test_key, 1, COMANDA__ROLE__ROLE_ADMIN, 600);
	sign(expired, sizeof(expired), test_key, 7, COMANDA__ROLE__ROLE_CUSTOMER, -1);
	sign(wrong_key, sizeof(wrong_key), "another-key-another-key-another-key-!!", 1, COMANDA__ROLE__ROLE_ADMIN, 600);
	const char *bearer_invalid = GW_AUTH_INVALID_TOKEN;

	/* public: no token needed, and a broken one is not even read */
	expect(get(port, "/public", NULL), 200, NULL, "{\"id\":0,\"role\":0,\"sid\":0}", __LINE__);
	expect(get(port, "/public", "Bearer garbage"), 200, NULL, "\"id\":0", __LINE__);

	/* user: none -> plain challenge; a good token -> the caller reaches the handler */
	expect(get(port, "/user", NULL), 401, "Bearer", "\"code\":\"UNAUTHENTICATED\"", __LINE__);
	snprintf(auth, sizeof(auth), "Bearer %s", customer);
	expect(get(port, "/user", auth), 200, NULL, "{\"id\":7,\"role\":1,\"sid\":77}", __LINE__);
	snprintf(auth, sizeof(auth), "Bearer %s", admin);
	expect(get(port, "/user", auth), 200, NULL, "{\"id\":1,\"role\":2,\"sid\":77}", __LINE__);

	/* invalid tokens -> invalid_token, with the API's envelope */
	snprintf(auth, sizeof(auth), "Bearer %s", expired);
	expect(get(port, "/user", auth), 401, bearer_invalid, "\"error\":\"Access token expired\"", __LINE__);
	snprintf(auth, sizeof(auth), "Bearer %s", wrong_key);
	expect(get(port, "/user", auth), 401, bearer_invalid, "\"error\":\"Invalid access token\"", __LINE__);
	expect(get(port, "/admin", auth), 401, bearer_invalid, "\"success\":false", __LINE__);
	/* alg none: the admin token's payload under a "none" header, no signature */
	char none[JWT_MAX_LEN];
	const char *hdr_none = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
	char hb[128];
	sodium_bin2base64(hb, sizeof(hb), (const unsigned char *)hdr_none, strlen(hdr_none),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	const char *dot1 = strchr(admin, '.'), *dot2 = strrchr(admin, '.');
	snprintf(none, sizeof(none), "%s%.*s.", hb, (int)(dot2 - dot1), dot1);
	snprintf(auth, sizeof(auth), "Bearer %s", none);
	expect(get(port, "/admin", auth), 401, bearer_invalid, NULL, __LINE__);
	/* tampered: the customer's signature on the admin's payload */
	char tampered[JWT_MAX_LEN];
	snprintf(tampered, sizeof(tampered), "%.*s%s", (int)(dot2 - admin), admin, strrchr(customer, '.'));
	snprintf(auth, sizeof(auth), "Bearer %s", tampered);
	expect(get(port, "/user", auth), 401, bearer_invalid, NULL, __LINE__);
	/* malformed credentials and other schemes */
	snprintf(auth, sizeof(auth), "Bearer %s x", customer);
	expect(get(port, "/user", auth), 401, bearer_invalid, NULL, __LINE__);
	expect(get(port, "/user", "Bearer"), 401, bearer_invalid, NULL, __LINE__);
	expect(get(port, "/user", "Basic dXNlcjpwYXNz"), 401, "Bearer", "Bearer scheme", __LINE__);

	/* admin: a customer is authenticated but not allowed */
	snprintf(auth, sizeof(auth), "Bearer %s", customer);
	expect(get(port, "/admin", auth), 403, NULL, "\"code\":\"PERMISSION_DENIED\"", __LINE__);
	expect(get(port, "/admin", NULL), 401, "Bearer", NULL, __LINE__);
	snprintf(auth, sizeof(auth), "Bearer %s", admin);
	expect(get(port, "/admin", auth), 200, NULL, "{\"id\":1,\"role\":2,\"sid\":77}", __LINE__);

	/* optional: anonymous without a header, the caller with a good token,
	 * and a bad token is refused rather than downgraded to anonymous */
	expect(get(port, "/optional", NULL), 200, NULL, "{\"id\":0,\"role\":0,\"sid\":0}", __LINE__);
	expect(get(port, "/optional", auth), 200, NULL, "{\"id\":1,\"role\":2,\"sid\":77}", __LINE__);
	snprintf(auth, sizeof(auth), "Bearer %s", expired);
	expect(get(port, "/optional", auth), 401, bearer_invalid, NULL, __LINE__);
	expect(get(port, "/optional", "Basic dXNlcjpwYXNz"), 401, "Bearer", NULL, __LINE__);
	httpd_stop(h);
}

TEST(gw_auth_accepts_tokens_of_the_previous_key_after_a_rotation)
{
	static const char old_key[] = "the-key-before-the-rotation-0123456789";
	gw_app app = { .jwt = { .key = (const uint8_t *)test_key, .key_len = strlen(test_key),
		.previous = (const uint8_t *)old_key, .previous_len = strlen(old_key) } };
	httpd *h = auth_server(&app, "gw-auth-rotation", 1);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	char tok[JWT_MAX_LEN], auth[JWT_MAX_LEN + 16];
	/* the new key and the old one both sign tokens that get in */
	sign(tok, sizeof(tok), test_key, 7, COMANDA__ROLE__ROLE_CUSTOMER, 600);
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	expect(get(port, "/user", auth), 200, NULL, "{\"id\":7,", __LINE__);
	sign(tok, sizeof(tok), old_key, 8, COMANDA__ROLE__ROLE_ADMIN, 600);
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	expect(get(port, "/admin", auth), 200, NULL, "{\"id\":8,\"role\":2,", __LINE__);
	/* the old key's expired token is expired, not invalid */
	sign(tok, sizeof(tok), old_key, 8, COMANDA__ROLE__ROLE_CUSTOMER, -1);
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	expect(get(port, "/user", auth), 401, GW_AUTH_INVALID_TOKEN, "\"error\":\"Access token expired\"", __LINE__);
	/* a third key is refused */
	sign(tok, sizeof(tok), "neither-key-neither-key-neither-key-!!", 9, COMANDA__ROLE__ROLE_ADMIN, 600);
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	expect(get(port, "/admin", auth), 401, GW_AUTH_INVALID_TOKEN, "\"error\":\"Invalid access token\"", __LINE__);
	/* once the previous key is dropped, its tokens are refused */
	app.jwt.previous = NULL;
	app.jwt.previous_len = 0;
	sign(tok, sizeof(tok), old_key, 10, COMANDA__ROLE__ROLE_CUSTOMER, 600);
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	expect(get(port, "/user", auth), 401, GW_AUTH_INVALID_TOKEN, NULL, __LINE__);
	httpd_stop(h);
}

/* A customer token (sub 7) with the given claims' times relative to now. */
static void sign_times(char *out, size_t cap, int64_t iat_delta, int64_t nbf_delta, bool with_iat)
{
	int64_t now = clock_wall_ms() / 1000;
	jwt_claims c = { .sub = 7, .role = COMANDA__ROLE__ROLE_CUSTOMER, .sid = 77, .iat = with_iat ? now + iat_delta : 0,
		.exp = now + 3600 + iat_delta, .nbf = nbf_delta != 0 ? now + nbf_delta : 0 };
	CHECK_EQ_INT(jwt_sign((const uint8_t *)test_key, strlen(test_key), &c, out, cap), JWT_OK);
}

TEST(gw_auth_refuses_tokens_not_valid_yet)
{
	gw_app app = { .jwt = { .key = (const uint8_t *)test_key, .key_len = strlen(test_key) } };
	httpd *h = auth_server(&app, "gw-auth-nbf-iat", 1);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	char tok[JWT_MAX_LEN], auth[JWT_MAX_LEN + 16];
	/* the shape of every other refused token: 401, invalid_token, the envelope */
	static const char refused[] = "{\"success\":false,\"error\":\"Invalid access token\",\"code\":\"UNAUTHENTICATED\","
				      "\"request_id\":";
	const struct {
		int64_t iat_delta, nbf_delta;
		bool with_iat;
		int status;
		int line;
	} cases[] = {
		{ 0, 30, true, 401, __LINE__ },                       /* nbf 30 s ahead */
		{ 0, 3600, true, 401, __LINE__ },                     /* nbf an hour ahead */
		{ 0, 3600, false, 401, __LINE__ },                    /* nbf ahead, no iat */
		{ JWT_IAT_LEEWAY_S + 5, 0, true, 401, __LINE__ },     /* iat past the leeway */
		{ 86400, 0, true, 401, __LINE__ },                    /* iat a day ahead */
		{ 0, -30, true, 200, __LINE__ },                      /* nbf passed */
		{ JWT_IAT_LEEWAY_S / 2, 0, true, 200, __LINE__ },     /* iat within the leeway: clock skew */
		{ 0, 0, false, 200, __LINE__ },                       /* no iat at all */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sign_times(tok, sizeof(tok), cases[i].iat_delta, cases[i].nbf_delta, cases[i].with_iat);
		snprintf(auth, sizeof(auth), "Bearer %s", tok);
		if (cases[i].status == 401) {
			expect(get(port, "/user", auth), 401, GW_AUTH_INVALID_TOKEN, refused, cases[i].line);
			/* asked again: a refused token is not cached as good */
			expect(get(port, "/user", auth), 401, GW_AUTH_INVALID_TOKEN, refused, cases[i].line);
			/* and never downgraded to anonymous on an optional route */
			expect(get(port, "/optional", auth), 401, GW_AUTH_INVALID_TOKEN, refused, cases[i].line);
		} else {
			expect(get(port, "/user", auth), 200, NULL, "{\"id\":7,\"role\":1,\"sid\":77}", cases[i].line);
		}
	}
	httpd_stop(h);
}

TEST(gw_auth_without_a_key_fails_closed)
{
	gw_app app = { 0 };
	httpd *h = auth_server(&app, "gw-auth-nokey", 1);
	if (h == NULL)
		return;
	char tok[JWT_MAX_LEN], auth[JWT_MAX_LEN + 16];
	sign(tok, sizeof(tok), test_key, 7, COMANDA__ROLE__ROLE_CUSTOMER, 600);
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	expect(get(httpd_port(h), "/user", auth), 500, NULL, "\"code\":\"INTERNAL\"", __LINE__);
	expect(get(httpd_port(h), "/public", NULL), 200, NULL, NULL, __LINE__);
	httpd_stop(h);
}

TEST(gw_auth_labels_the_caller_for_the_log)
{
	/* no connection: no headers, so only the anonymous paths can run here */
	httpd_request hr;
	memset(&hr, 0, sizeof(hr));
	gw_route r = { "GET", "/x", h_caller, GW_AUTH_OPTIONAL };
	gw_request req;
	memset(&req, 0, sizeof(req));
	req.http = &hr;
	req.route = &r;
	req.caller_id = 99; /* stale values are reset */
	req.session_id = 5;
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	gw_app app = { 0 };
	CHECK(gw_auth_authorize(&app, &req, &resp));
	CHECK_EQ_INT(req.caller_id, 0);
	CHECK_EQ_INT(req.session_id, 0);
	CHECK_EQ_INT(req.caller_role, COMANDA__ROLE__ROLE_ANONYMOUS);
	CHECK_STREQ(resp.caller, "anonymous");
	r.auth = GW_AUTH_USER;
	CHECK(!gw_auth_authorize(&app, &req, &resp));
	CHECK_EQ_INT(resp.status, 401);
	free(resp.body);
}

/* The caller label the request log shows, as the observer sees it after
 * each request (one server thread, so one per-thread label throughout). */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char seen_caller[64];

static void record_caller(void *arg, const httpd_request *req, const httpd_response *resp, int64_t latency_us)
{
	(void)arg;
	(void)req;
	(void)latency_us;
	pthread_mutex_lock(&seen_lock);
	snprintf(seen_caller, sizeof(seen_caller), "%s", resp->caller[0] != '\0' ? resp->caller : "(null)");
	pthread_mutex_unlock(&seen_lock);
}

/* The label of the last request (waiting up to a second for the observer,
 * which may run just after the answer left); "" when none came. */
static void last_caller(char *dst, size_t cap)
{
	for (int i = 0; i < 100; i++) {
		pthread_mutex_lock(&seen_lock);
		snprintf(dst, cap, "%s", seen_caller);
		pthread_mutex_unlock(&seen_lock);
		if (dst[0] != '\0')
			return;
		clock_sleep_ms(10);
	}
}

TEST(gw_auth_caller_label_follows_the_caller)
{
	gw_app app = { .jwt = { .key = (const uint8_t *)test_key, .key_len = strlen(test_key) } };
	httpd *h = NULL;
	httpd_config cfg = { .name = "gw-auth-label", .bind = "127.0.0.1", .threads = 1, .handler = auth_dispatch,
		.observer = record_caller, .arg = &app };
	CHECK_EQ_INT(httpd_start(&h, &cfg), 0);
	if (h == NULL)
		return;
	int port = httpd_port(h);
	char admin1[JWT_MAX_LEN], user1[JWT_MAX_LEN], user7[JWT_MAX_LEN], user1234[JWT_MAX_LEN];
	sign(admin1, sizeof(admin1), test_key, 1, COMANDA__ROLE__ROLE_ADMIN, 600);
	sign(user1, sizeof(user1), test_key, 1, COMANDA__ROLE__ROLE_CUSTOMER, 600);
	sign(user7, sizeof(user7), test_key, 7, COMANDA__ROLE__ROLE_CUSTOMER, 600);
	sign(user1234, sizeof(user1234), test_key, 1234567890123LL, COMANDA__ROLE__ROLE_CUSTOMER, 600);
	/* token, label: a repeat, then a change of id only, of role only, ... */
	const char *steps[][2] = { { admin1, "admin:1" }, { admin1, "admin:1" }, { user7, "user:7" },
		{ user1, "user:1" }, { admin1, "admin:1" }, { NULL, "anonymous" }, { admin1, "admin:1" },
		{ user1234, "user:1234567890123" }, { user7, "user:7" } };
	char auth[JWT_MAX_LEN + 16];
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i][0] != NULL)
			snprintf(auth, sizeof(auth), "Bearer %s", steps[i][0]);
		pthread_mutex_lock(&seen_lock);
		seen_caller[0] = '\0';
		pthread_mutex_unlock(&seen_lock);
		char *r = get(port, "/optional", steps[i][0] != NULL ? auth : NULL);
		CHECK_EQ_INT(testhttp_status(r), 200);
		free(r);
		char got[64];
		last_caller(got, sizeof(got));
		if (strcmp(got, steps[i][1]) != 0)
			test_fail(__FILE__, __LINE__, "step %zu: caller \"%s\", want \"%s\"", i, got, steps[i][1]);
	}
	httpd_stop(h);
}
