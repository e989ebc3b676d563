/* gateway/gw_ratelimit through gw_http and a real lib/httpd: the default
 * policy (per address, per user, exempt routes, 429 shape, RateLimit
 * headers), and the failed-login policies through the real route table
 * against a fake UserService (lock-out per address and e-mail only, the
 * per-address cap, reservations under concurrency, success forgets). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "comanda/user.rpc.h"
#include "gw_http.h"
#include "gw_metrics.h"
#include "gw_ratelimit.h"
#include "httpd.h"
#include "jwt.h"
#include "test.h"
#include "testhttp.h"

static const char rl_key[] = "ratelimit-test-key-ratelimit-test-key-01";

static void h_ok(gw_app *app, const gw_request *req, httpd_response *resp)
{
	(void)app;
	(void)req;
	httpd_respond(resp, 200, "{\"ok\":true}", 11);
}

static const gw_route rl_table[] = {
	{ "GET", "/thing", h_ok, GW_AUTH_PUBLIC },
	{ "GET", "/mine", h_ok, GW_AUTH_USER },
	{ "GET", "/probe", h_ok, GW_AUTH_PUBLIC, GW_ROUTE_UNLIMITED },
};

static void rl_dispatch(void *arg, const httpd_request *req, httpd_response *resp)
{
	gw_http_dispatch(arg, rl_table, sizeof(rl_table) / sizeof(rl_table[0]), req, resp);
}

static void bearer_of(char *out, size_t cap, int64_t sub)
{
	int64_t now = clock_wall_ms() / 1000;
	jwt_claims c = { .sub = sub, .role = COMANDA__ROLE__ROLE_CUSTOMER, .sid = 1, .iat = now, .exp = now + 600 };
	int n = snprintf(out, cap, "Authorization: Bearer ");
	CHECK_EQ_INT(jwt_sign((const uint8_t *)rl_key, strlen(rl_key), &c, out + n, cap - (size_t)n - 3), JWT_OK);
	size_t l = strlen(out);
	memcpy(out + l, "\r\n", 3);
}

TEST(gw_ratelimit_off_when_every_policy_is_zero)
{
	gw_ratelimit *rl = (gw_ratelimit *)1;
	gw_ratelimit_config c = { .rps = 0, .login_fail_limit = 0, .login_fail_addr_limit = 0, .table_size = 100 };
	CHECK_EQ_INT(gw_ratelimit_new(&rl, &c), 0);
	CHECK(rl == NULL);
	gw_ratelimit_config bad = { .rps = 5, .burst = 0, .table_size = 100 };
	CHECK_EQ_INT(gw_ratelimit_new(&rl, &bad), -1);
	gw_ratelimit_config bad2 = { .login_fail_limit = 5, .login_fail_window_s = 0, .table_size = 100 };
	CHECK_EQ_INT(gw_ratelimit_new(&rl, &bad2), -1);
}

TEST(gw_ratelimit_default_policy)
{
	gw_ratelimit_config c = { .rps = 1, .burst = 3, .table_size = 1000 };
	gw_app app = { .jwt = { .key = (const uint8_t *)rl_key, .key_len = strlen(rl_key) } };
	CHECK_EQ_INT(gw_ratelimit_new(&app.limits, &c), 0);
	if (app.limits == NULL)
		return;
	httpd *h = NULL;
	httpd_config hc = { .name = "rl-test", .bind = "127.0.0.1", .threads = 2, .handler = rl_dispatch,
		.observer = gw_metrics_observe, .arg = &app };
	CHECK_EQ_INT(httpd_start(&h, &hc), 0);
	if (h == NULL) {
		gw_ratelimit_free(app.limits);
		return;
	}
	int port = httpd_port(h);
	char v[256];
	/* the burst, with the draft's headers counting down */
	const char *want_r[] = { "\"default\";r=2;t=1", "\"default\";r=1;t=2", "\"default\";r=0;t=3" };
	for (int i = 0; i < 3; i++) {
		char *r = testhttp_request(port, "GET", "/thing", NULL, NULL);
		CHECK_EQ_INT(testhttp_status(r), 200);
		CHECK_STREQ(testhttp_header(r, "RateLimit-Policy", v, sizeof(v)), "\"default\";q=3;w=3");
		CHECK_STREQ(testhttp_header(r, "RateLimit", v, sizeof(v)), want_r[i]);
		free(r);
	}
	/* then 429, the API's envelope, Retry-After = t */
	char *r = testhttp_request(port, "GET", "/thing", "X-Request-Id: rl-1\r\n", NULL);
	CHECK_EQ_INT(testhttp_status(r), 429);
	CHECK_STREQ(testhttp_body(r), "{\"success\":false,\"error\":\"Too many requests; retry later\","
	                              "\"code\":\"RESOURCE_EXHAUSTED\",\"request_id\":\"rl-1\"}");
	CHECK_STREQ(testhttp_header(r, "Retry-After", v, sizeof(v)), "1");
	CHECK_STREQ(testhttp_header(r, "RateLimit", v, sizeof(v)), "\"default\";r=0;t=1");
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "application/json; charset=utf-8");
	free(r);
	/* unknown paths and wrong methods are charged too (scanners) */
	r = testhttp_request(port, "GET", "/nope", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 429);
	free(r);
	r = testhttp_request(port, "POST", "/thing", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 429);
	free(r);
	/* exempt routes are never limited and carry no RateLimit headers */
	for (int i = 0; i < 10; i++) {
		r = testhttp_request(port, "GET", "/probe", NULL, NULL);
		CHECK_EQ_INT(testhttp_status(r), 200);
		CHECK_STREQ(testhttp_header(r, "RateLimit", v, sizeof(v)), "");
		free(r);
	}
	/* a user is its own caller, apart from its address */
	char auth[JWT_MAX_LEN + 64];
	bearer_of(auth, sizeof(auth), 42);
	r = testhttp_request(port, "GET", "/mine", auth, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_STREQ(testhttp_header(r, "RateLimit", v, sizeof(v)), "\"default\";r=2;t=1");
	free(r);
	/* a refused token pays to the address, and the 429 replaces the 401 */
	r = testhttp_request(port, "GET", "/mine", "Authorization: Bearer bad.token.here\r\n", NULL);
	CHECK_EQ_INT(testhttp_status(r), 429);
	CHECK_STREQ(testhttp_header(r, "WWW-Authenticate", v, sizeof(v)), "");
	free(r);
	/* a second later, one more request */
	clock_sleep_ms(1050);
	r = testhttp_request(port, "GET", "/mine", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 401);
	CHECK_STREQ(testhttp_header(r, "RateLimit", v, sizeof(v)), "\"default\";r=0;t=3");
	free(r);
	httpd_stop(h);
	gw_ratelimit_free(app.limits);
}

/* ---- failed logins through the real route table ------------------------------ */

static _Atomic int login_calls;

static int f_login(rpc_ctx *ctx, const Comanda__LoginRequest *rq, Comanda__TokenPair *rep)
{
	atomic_fetch_add(&login_calls, 1);
	if (strcmp(rq->password, "right-password") != 0)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Invalid email or password");
	rep->access_token = rpc_ctx_strdup(ctx, "access");
	rep->expires_in = 900;
	rep->refresh_token = rpc_ctx_strdup(ctx, "refresh");
	Comanda__User *u = rpc_ctx_alloc(ctx, sizeof(*u));
	comanda__user__init(u);
	u->id = 9;
	u->name = rpc_ctx_strdup(ctx, "Login");
	u->email = rpc_ctx_strdup(ctx, rq->email);
	u->status = COMANDA__USER_STATUS__USER_ACTIVE;
	u->role = COMANDA__ROLE__ROLE_CUSTOMER;
	u->created_at_ms = 1768559400000;
	u->updated_at_ms = 1768559400000;
	rep->user = u;
	return COMANDA__CODE__OK;
}

static const user_service_impl login_impl = { .login = f_login };

typedef struct login_fixture {
	rpc_server *server;
	gw_app app;
	httpd *http;
	int port;
} login_fixture;

static bool login_start(login_fixture *f, int per_email, int per_addr)
{
	static atomic_int seq;
	char url[128];
	snprintf(url, sizeof(url), "ipc:///tmp/comanda-test-gwrl-%d-%d.sock", (int)getpid(), atomic_fetch_add(&seq, 1));
	memset(f, 0, sizeof(*f));
	rpc_server_config sc = { .url = url, .workers = 4, .name = "fake-user" };
	CHECK_EQ_INT(rpc_server_open(&f->server, &sc), 0);
	CHECK_EQ_INT(rpc_server_add(f->server, &user_service_binding, &login_impl), 0);
	CHECK_EQ_INT(rpc_server_start(f->server), 0);
	rpc_client_config cc = { .urls = url, .default_timeout_ms = 3000 };
	CHECK_EQ_INT(rpc_client_open(&f->app.user, &cc), 0);
	CHECK(rpc_client_wait_connected(f->app.user, 2000));
	gw_ratelimit_config c = { .rps = 1000, .burst = 1000, .login_fail_limit = per_email,
		.login_fail_addr_limit = per_addr, .login_fail_window_s = 600, .table_size = 1000 };
	CHECK_EQ_INT(gw_ratelimit_new(&f->app.limits, &c), 0);
	httpd_config hc = { .name = "rl-login-test", .bind = "127.0.0.1", .threads = 4, .handler = gw_http_handle,
		.arg = &f->app };
	CHECK_EQ_INT(httpd_start(&f->http, &hc), 0);
	if (f->http == NULL)
		return false;
	f->port = httpd_port(f->http);
	atomic_store(&login_calls, 0);
	return true;
}

static void login_stop(login_fixture *f)
{
	httpd_stop(f->http);
	rpc_client_close(f->app.user);
	rpc_server_close(f->server);
	gw_ratelimit_free(f->app.limits);
}

static char *login(const login_fixture *f, const char *email, const char *password)
{
	char body[256];
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
	return testhttp_request(f->port, "POST", "/api/auth/login", "Content-Type: application/json\r\n", body);
}

static int login_status(const login_fixture *f, const char *email, const char *password)
{
	char *r = login(f, email, password);
	int st = testhttp_status(r);
	free(r);
	return st;
}

TEST(gw_ratelimit_failed_logins_lock_out_one_email_per_address)
{
	login_fixture f;
	if (!login_start(&f, 3, 100))
		return;
	char v[256];
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(login_status(&f, "ana@example.com", "typo"), 401);
	/* the 4th is refused before svc-user is asked, with the policy's wait */
	char *r = login(&f, "Ana@Example.com ", "typo"); /* the same e-mail, however written */
	CHECK_EQ_INT(testhttp_status(r), 429);
	CHECK(strstr(testhttp_body(r), "\"error\":\"Too many failed login attempts; retry later\","
	                               "\"code\":\"RESOURCE_EXHAUSTED\"") != NULL);
	CHECK_STREQ(testhttp_header(r, "Retry-After", v, sizeof(v)), "200");
	CHECK_STREQ(testhttp_header(r, "RateLimit-Policy", v, sizeof(v)),
	    "\"default\";q=1000;w=1, \"login\";q=3;w=600, \"login-addr\";q=100;w=600");
	CHECK(strstr(testhttp_header(r, "RateLimit", v, sizeof(v)), "\"login\";r=0;t=200") != NULL);
	free(r);
	CHECK_EQ_INT(atomic_load(&login_calls), 3);
	/* the right password is refused too for that e-mail: that is the lock */
	CHECK_EQ_INT(login_status(&f, "ana@example.com", "right-password"), 429);
	/* but another e-mail from the same address is untouched */
	r = login(&f, "bo@example.com", "right-password");
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK(strstr(testhttp_header(r, "RateLimit", v, sizeof(v)), "\"login\";r=3;t=0, \"login-addr\";r=97;") != NULL);
	free(r);
	/* a success forgets that e-mail's typos */
	CHECK_EQ_INT(login_status(&f, "cy@example.com", "typo"), 401);
	CHECK_EQ_INT(login_status(&f, "cy@example.com", "typo"), 401);
	CHECK_EQ_INT(login_status(&f, "cy@example.com", "right-password"), 200);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(login_status(&f, "cy@example.com", "typo"), 401);
	CHECK_EQ_INT(login_status(&f, "cy@example.com", "typo"), 429);
	/* a malformed body is no failed login, and its 400 carries the login
	 * items too (of the e-mail it names, when it names one) */
	r = testhttp_request(f.port, "POST", "/api/auth/login", "Content-Type: application/json\r\n",
	    "{\"email\":\"dee@example.com\"}");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_STREQ(testhttp_header(r, "RateLimit-Policy", v, sizeof(v)),
	    "\"default\";q=1000;w=1, \"login\";q=3;w=600, \"login-addr\";q=100;w=600");
	CHECK(strstr(testhttp_header(r, "RateLimit", v, sizeof(v)), "\"login\";r=3;t=0, \"login-addr\";r=") != NULL);
	free(r);
	r = testhttp_request(f.port, "POST", "/api/auth/login", "Content-Type: application/json\r\n",
	    "{\"email\":\"ana@example.com\",\"password\":7}");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK(strstr(testhttp_header(r, "RateLimit", v, sizeof(v)), "\"login\";r=0;t=") != NULL);
	free(r);
	r = testhttp_request(f.port, "POST", "/api/auth/login", "Content-Type: application/json\r\n", "{\"email\":");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK(strstr(testhttp_header(r, "RateLimit", v, sizeof(v)), "\"login\";r=3;t=0") != NULL);
	free(r);
	CHECK_EQ_INT(login_status(&f, "dee@example.com", "typo"), 401); /* none of those was charged */
	login_stop(&f);
}

TEST(gw_ratelimit_failed_logins_per_address_cap)
{
	login_fixture f;
	if (!login_start(&f, 3, 5))
		return;
	char email[64];
	int refused = 0;
	/* many e-mails, one typo each: the address as a whole is capped */
	for (int i = 0; i < 8; i++) {
		snprintf(email, sizeof(email), "user%d@example.com", i);
		int st = login_status(&f, email, "typo");
		CHECK(st == 401 || st == 429);
		refused += st == 429;
	}
	CHECK_EQ_INT(refused, 3);
	CHECK_EQ_INT(atomic_load(&login_calls), 5);
	/* the cap is about failures: it now refuses everyone from here */
	CHECK_EQ_INT(login_status(&f, "new@example.com", "right-password"), 429);
	login_stop(&f);
}

typedef struct login_race {
	login_fixture *f;
	_Atomic int ok401, ok429, other;
} login_race;

static void *login_race_main(void *arg)
{
	login_race *lr = arg;
	for (int i = 0; i < 10; i++) {
		int st = login_status(lr->f, "eve@example.com", "typo");
		if (st == 401)
			atomic_fetch_add(&lr->ok401, 1);
		else if (st == 429)
			atomic_fetch_add(&lr->ok429, 1);
		else
			atomic_fetch_add(&lr->other, 1);
	}
	return NULL;
}

TEST(gw_ratelimit_failed_logins_in_parallel_never_overshoot)
{
	login_fixture f;
	if (!login_start(&f, 4, 100))
		return;
	login_race lr = { .f = &f };
	pthread_t th[6];
	for (int i = 0; i < 6; i++)
		pthread_create(&th[i], NULL, login_race_main, &lr);
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	/* 60 attempts at once: exactly the limit reached svc-user */
	CHECK_EQ_INT(atomic_load(&lr.ok401), 4);
	CHECK_EQ_INT(atomic_load(&lr.ok429), 56);
	CHECK_EQ_INT(atomic_load(&lr.other), 0);
	CHECK_EQ_INT(atomic_load(&login_calls), 4);
	login_stop(&f);
}
