/* gateway/gw_ratelimit through gw_http and a real lib/httpd: the default
 * policy (per address, per user, exempt routes, 429 shape, RateLimit
 * headers), and the failed-login policies through the real route table
 * against a fake UserService (lock-out per address and e-mail only, the
 * per-address cap, reservations under concurrency, success forgets), and
 * wrong current passwords of PATCH /api/users/{id} in the same budget. */
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

/* "Authorization: Bearer <token of sub with role>\r\n" */
static void bearer_role(char *out, size_t cap, int64_t sub, int role)
{
	int64_t now = clock_wall_ms() / 1000;
	jwt_claims c = { .sub = sub, .role = role, .sid = 1, .iat = now, .exp = now + 600 };
	int n = snprintf(out, cap, "Authorization: Bearer ");
	CHECK_EQ_INT(jwt_sign((const uint8_t *)rl_key, strlen(rl_key), &c, out + n, cap - (size_t)n - 3), JWT_OK);
	size_t l = strlen(out);
	memcpy(out + l, "\r\n", 3);
}

static void bearer_of(char *out, size_t cap, int64_t sub)
{
	bearer_role(out, cap, sub, COMANDA__ROLE__ROLE_CUSTOMER);
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

/* The e-mail of user id in the fake: user 7 is the ana@example.com that
 * the login tests use. */
static const char *f_email_of(int64_t id)
{
	switch (id) {
	case 7: return "ana@example.com";
	case 8: return "bo@example.com";
	default: return "someone@example.com";
	}
}

static Comanda__User *f_user(rpc_ctx *ctx, int64_t id)
{
	Comanda__User *u = rpc_ctx_alloc(ctx, sizeof(*u));
	comanda__user__init(u);
	u->id = id;
	u->name = rpc_ctx_strdup(ctx, "Pw");
	u->email = rpc_ctx_strdup(ctx, f_email_of(id));
	u->status = COMANDA__USER_STATUS__USER_ACTIVE;
	u->role = COMANDA__ROLE__ROLE_CUSTOMER;
	u->created_at_ms = 1768559400000;
	u->updated_at_ms = 1768559400000;
	return u;
}

static _Atomic int get_calls, update_calls;

static int f_get_user(rpc_ctx *ctx, const Comanda__GetUserRequest *rq, Comanda__UserReply *rep)
{
	atomic_fetch_add(&get_calls, 1);
	int64_t id = rq->id != 0 ? rq->id : rpc_ctx_caller_id(ctx);
	if (id != rpc_ctx_caller_id(ctx) && !rpc_ctx_is_admin(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__NOT_FOUND, "User not found");
	rep->user = f_user(ctx, id);
	return COMANDA__CODE__OK;
}

/* UpdateUser as svc-user answers a password change: "right-password" is
 * the current password of everyone; a new password under 8 characters is
 * refused before any check; "slow" is checked after the gateway's
 * timeout. */
static int f_update_user(rpc_ctx *ctx, const Comanda__UpdateUserRequest *rq, Comanda__UserReply *rep)
{
	atomic_fetch_add(&update_calls, 1);
	int64_t id = rq->id != 0 ? rq->id : rpc_ctx_caller_id(ctx);
	bool self = id == rpc_ctx_caller_id(ctx);
	if (rq->password[0] != '\0' && strlen(rq->password) < 8)
		return rpc_ctx_invalid(ctx, "password", "must be at least 8 characters");
	if (!self && rq->current_password[0] != '\0')
		return rpc_ctx_invalid(ctx, "current_password", "only goes with a change of one's own password");
	if (self && rq->password[0] != '\0') {
		if (strcmp(rq->current_password, "slow") == 0)
			clock_sleep_ms(700);
		if (strcmp(rq->current_password, "right-password") != 0) {
			rpc_ctx_reason(ctx, "CURRENT_PASSWORD_INCORRECT");
			return rpc_ctx_invalid(ctx, "current_password", "is incorrect");
		}
	}
	rep->user = f_user(ctx, id);
	return COMANDA__CODE__OK;
}

static const user_service_impl login_impl = { .login = f_login, .get_user = f_get_user,
	.update_user = f_update_user };

typedef struct login_fixture {
	rpc_server *server;
	gw_app app;
	httpd *http;
	int port;
} login_fixture;

/* timeout_ms: the gateway's RPC timeout (0: 3 s). */
static bool login_start_timeout(login_fixture *f, int per_email, int per_addr, int timeout_ms)
{
	static atomic_int seq;
	char url[128];
	snprintf(url, sizeof(url), "ipc:///tmp/comanda-test-gwrl-%d-%d.sock", (int)getpid(), atomic_fetch_add(&seq, 1));
	memset(f, 0, sizeof(*f));
	f->app.jwt.key = (const uint8_t *)rl_key;
	f->app.jwt.key_len = strlen(rl_key);
	rpc_server_config sc = { .url = url, .workers = 4, .name = "fake-user" };
	CHECK_EQ_INT(rpc_server_open(&f->server, &sc), 0);
	CHECK_EQ_INT(rpc_server_add(f->server, &user_service_binding, &login_impl), 0);
	CHECK_EQ_INT(rpc_server_start(f->server), 0);
	rpc_client_config cc = { .urls = url, .default_timeout_ms = timeout_ms > 0 ? timeout_ms : 3000 };
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
	atomic_store(&get_calls, 0);
	atomic_store(&update_calls, 0);
	return true;
}

static bool login_start(login_fixture *f, int per_email, int per_addr)
{
	return login_start_timeout(f, per_email, per_addr, 0);
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

/* ---- wrong current passwords (PATCH /api/users/{id}) ------------------------ */

/* PATCH target {"password":"new-password-1","current_password":current} as auth. */
static char *pw_change(const login_fixture *f, const char *target, const char *auth, const char *current)
{
	char body[256], hdr[JWT_MAX_LEN + 128];
	snprintf(body, sizeof(body), "{\"password\":\"new-password-1\",\"current_password\":\"%s\"}", current);
	snprintf(hdr, sizeof(hdr), "%sContent-Type: application/json\r\n", auth);
	return testhttp_request(f->port, "PATCH", target, hdr, body);
}

static int pw_change_status(const login_fixture *f, const char *auth, const char *current)
{
	char *r = pw_change(f, "/api/users/me", auth, current);
	int st = testhttp_status(r);
	free(r);
	return st;
}

TEST(gw_ratelimit_wrong_current_passwords_lock_the_password_change)
{
	login_fixture f;
	if (!login_start(&f, 3, 100))
		return;
	char ana[JWT_MAX_LEN + 64], bo[JWT_MAX_LEN + 64], v[256];
	bearer_of(ana, sizeof(ana), 7);
	bearer_of(bo, sizeof(bo), 8);
	/* each wrong one is svc-user's 400, and says what is left */
	for (int i = 0; i < 3; i++) {
		char *r = pw_change(&f, i == 1 ? "/api/users/7" : "/api/users/me", ana, "guess");
		CHECK_EQ_INT(testhttp_status(r), 400);
		CHECK(strstr(testhttp_body(r), "\"reason\":\"CURRENT_PASSWORD_INCORRECT\"") != NULL);
		CHECK_STREQ(testhttp_header(r, "RateLimit-Policy", v, sizeof(v)),
		    "\"default\";q=1000;w=1, \"login\";q=3;w=600, \"login-addr\";q=100;w=600");
		char want[64];
		snprintf(want, sizeof(want), "\"login\";r=%d;", 2 - i);
		CHECK(strstr(testhttp_header(r, "RateLimit", v, sizeof(v)), want) != NULL);
		free(r);
	}
	CHECK_EQ_INT(atomic_load(&update_calls), 3);
	/* the 4th is refused before svc-user checks anything, as a login is */
	char *r = pw_change(&f, "/api/users/me", ana, "guess");
	CHECK_EQ_INT(testhttp_status(r), 429);
	CHECK(strstr(testhttp_body(r), "\"error\":\"Too many failed password checks; retry later\","
	                               "\"code\":\"RESOURCE_EXHAUSTED\"") != NULL);
	CHECK_STREQ(testhttp_header(r, "Retry-After", v, sizeof(v)), "200");
	CHECK_STREQ(testhttp_header(r, "RateLimit-Policy", v, sizeof(v)),
	    "\"default\";q=1000;w=1, \"login\";q=3;w=600, \"login-addr\";q=100;w=600");
	CHECK(strstr(testhttp_header(r, "RateLimit", v, sizeof(v)), "\"login\";r=0;t=200") != NULL);
	free(r);
	/* the right one is refused too (that is the lock), by the path id as well */
	CHECK_EQ_INT(pw_change_status(&f, ana, "right-password"), 429);
	r = pw_change(&f, "/api/users/7", ana, "right-password");
	CHECK_EQ_INT(testhttp_status(r), 429);
	free(r);
	CHECK_EQ_INT(atomic_load(&update_calls), 3);
	/* what is not a password check is not locked: a new name */
	char hdr[JWT_MAX_LEN + 128];
	snprintf(hdr, sizeof(hdr), "%sContent-Type: application/json\r\n", ana);
	r = testhttp_request(f.port, "PATCH", "/api/users/me", hdr, "{\"name\":\"Ana\"}");
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK(strstr(testhttp_header(r, "RateLimit-Policy", v, sizeof(v)), "login") == NULL);
	free(r);
	/* and another account from the same address is untouched */
	CHECK_EQ_INT(pw_change_status(&f, bo, "right-password"), 200);
	login_stop(&f);
}

TEST(gw_ratelimit_right_current_password_gives_back_and_no_verdict_is_free)
{
	login_fixture f;
	if (!login_start(&f, 3, 100))
		return;
	char ana[JWT_MAX_LEN + 64], admin[JWT_MAX_LEN + 64], v[256];
	bearer_of(ana, sizeof(ana), 7);
	bearer_role(admin, sizeof(admin), 1, COMANDA__ROLE__ROLE_ADMIN);
	CHECK_EQ_INT(pw_change_status(&f, ana, "guess"), 400);
	CHECK_EQ_INT(pw_change_status(&f, ana, "guess"), 400);
	/* the right one: 200, and the typos before it no longer count */
	char *r = pw_change(&f, "/api/users/me", ana, "right-password");
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK(strstr(testhttp_header(r, "RateLimit", v, sizeof(v)), "\"login\";r=3;t=0, \"login-addr\";r=98;") !=
	    NULL);
	free(r);
	/* a refusal of another member (a short new password: nothing checked)
	 * charges nothing, however many */
	for (int i = 0; i < 5; i++) {
		char hdr[JWT_MAX_LEN + 128];
		snprintf(hdr, sizeof(hdr), "%sContent-Type: application/json\r\n", ana);
		r = testhttp_request(f.port, "PATCH", "/api/users/me", hdr,
		    "{\"password\":\"short\",\"current_password\":\"guess\"}");
		CHECK_EQ_INT(testhttp_status(r), 400);
		CHECK(strstr(testhttp_body(r), "\"field\":\"password\"") != NULL);
		free(r);
	}
	/* neither does an admin's current_password for another account
	 * (svc-user refuses it unread), nor is the e-mail looked up for it */
	int gets = atomic_load(&get_calls);
	for (int i = 0; i < 5; i++) {
		r = pw_change(&f, "/api/users/7", admin, "guess");
		CHECK_EQ_INT(testhttp_status(r), 400);
		CHECK(strstr(testhttp_header(r, "RateLimit-Policy", v, sizeof(v)), "login") == NULL);
		free(r);
	}
	CHECK_EQ_INT(atomic_load(&get_calls), gets);
	/* so the whole budget is still there */
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(pw_change_status(&f, ana, "guess"), 400);
	CHECK_EQ_INT(pw_change_status(&f, ana, "guess"), 429);
	login_stop(&f);
}

TEST(gw_ratelimit_logins_and_password_changes_share_one_budget)
{
	login_fixture f;
	if (!login_start(&f, 4, 6))
		return;
	char ana[JWT_MAX_LEN + 64], bo[JWT_MAX_LEN + 64];
	bearer_of(ana, sizeof(ana), 7);
	bearer_of(bo, sizeof(bo), 8);
	/* user 7 is ana@example.com: two failed logins and two wrong current
	 * passwords are her four */
	CHECK_EQ_INT(login_status(&f, "ana@example.com", "typo"), 401);
	CHECK_EQ_INT(pw_change_status(&f, ana, "guess"), 400);
	CHECK_EQ_INT(login_status(&f, "ANA@example.com", "typo"), 401);
	CHECK_EQ_INT(pw_change_status(&f, ana, "guess"), 400);
	CHECK_EQ_INT(login_status(&f, "ana@example.com", "right-password"), 429);
	CHECK_EQ_INT(pw_change_status(&f, ana, "right-password"), 429);
	CHECK_EQ_INT(atomic_load(&login_calls), 2);
	CHECK_EQ_INT(atomic_load(&update_calls), 2);
	/* the address cap counts both too: 4 so far, 2 more, then nothing */
	CHECK_EQ_INT(pw_change_status(&f, bo, "guess"), 400);
	CHECK_EQ_INT(login_status(&f, "cy@example.com", "typo"), 401);
	CHECK_EQ_INT(login_status(&f, "dee@example.com", "typo"), 429);
	char v[256];
	char *r = pw_change(&f, "/api/users/me", bo, "guess");
	CHECK_EQ_INT(testhttp_status(r), 429);
	CHECK(strstr(testhttp_header(r, "RateLimit", v, sizeof(v)), "\"login-addr\";r=0;t=") != NULL);
	free(r);
	CHECK_EQ_INT(atomic_load(&update_calls), 3);
	login_stop(&f);
}

TEST(gw_ratelimit_a_password_check_timed_out_is_a_guess_made)
{
	login_fixture f;
	if (!login_start_timeout(&f, 2, 100, 300))
		return;
	char ana[JWT_MAX_LEN + 64];
	bearer_of(ana, sizeof(ana), 7);
	/* checked after the gateway stopped waiting: 504, kept (a right guess
	 * would have changed the password all the same) */
	CHECK_EQ_INT(pw_change_status(&f, ana, "slow"), 504);
	CHECK_EQ_INT(pw_change_status(&f, ana, "guess"), 400);
	CHECK_EQ_INT(pw_change_status(&f, ana, "guess"), 429);
	/* a login's 504 shows nothing and is given back: its own test is the
	 * login policy's; here the budget is the same one, spent */
	CHECK_EQ_INT(login_status(&f, "ana@example.com", "right-password"), 429);
	clock_sleep_ms(600); /* the slow check ends before the fake server stops */
	login_stop(&f);
}

typedef struct pw_race {
	login_fixture *f;
	const char *auth;
	_Atomic int n400, n429, other;
} pw_race;

static void *pw_race_main(void *arg)
{
	pw_race *pr = arg;
	for (int i = 0; i < 10; i++) {
		int st = pw_change_status(pr->f, pr->auth, "guess");
		if (st == 400)
			atomic_fetch_add(&pr->n400, 1);
		else if (st == 429)
			atomic_fetch_add(&pr->n429, 1);
		else
			atomic_fetch_add(&pr->other, 1);
	}
	return NULL;
}

TEST(gw_ratelimit_password_changes_in_parallel_never_overshoot)
{
	login_fixture f;
	if (!login_start(&f, 4, 100))
		return;
	char ana[JWT_MAX_LEN + 64];
	bearer_of(ana, sizeof(ana), 7);
	pw_race pr = { .f = &f, .auth = ana };
	pthread_t th[6];
	for (int i = 0; i < 6; i++)
		pthread_create(&th[i], NULL, pw_race_main, &pr);
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	/* 60 guesses at once: exactly the limit were checked */
	CHECK_EQ_INT(atomic_load(&pr.n400), 4);
	CHECK_EQ_INT(atomic_load(&pr.n429), 56);
	CHECK_EQ_INT(atomic_load(&pr.other), 0);
	CHECK_EQ_INT(atomic_load(&update_calls), 4);
	login_stop(&f);
}
