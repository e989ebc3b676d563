/* gateway/gw_users + gw_session through the gateway's real route table and
 * lib/httpd, against a fake UserService on an in-process RPC server: what
 * reaches svc-user (caller, request id, Idempotency-Key, the translated
 * request) and what the client gets back (statuses, bodies, headers). */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comanda/user.rpc.h"
#include "gw_http.h"
#include "httpd.h"
#include "test.h"
#include "gwfake.h"
#include "testhttp.h"

/* What the fake saw last (written on an RPC worker, read by the test after
 * the HTTP answer; the mutex orders the two). */
static struct {
	pthread_mutex_t mu;
	int calls;
	char method[64];
	int64_t caller_id;
	int caller_role;
	char request_id[80];
	char idem_key[300];
	char client[64];             /* RpcRequest.client */
	int64_t id;
	char mask[128];
	char text[256];              /* a request field, by method */
	uint32_t limit;
	bool newest_first;
	int64_t session_id;
} seen = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void saw(rpc_ctx *ctx, int64_t id, const char *text)
{
	pthread_mutex_lock(&seen.mu);
	seen.calls++;
	snprintf(seen.method, sizeof(seen.method), "%s", strrchr(rpc_ctx_method(ctx), '/') + 1);
	seen.caller_id = rpc_ctx_caller_id(ctx);
	seen.caller_role = rpc_ctx_caller_role(ctx);
	snprintf(seen.request_id, sizeof(seen.request_id), "%s", rpc_ctx_request_id(ctx));
	snprintf(seen.idem_key, sizeof(seen.idem_key), "%s", rpc_ctx_idempotency_key(ctx));
	snprintf(seen.client, sizeof(seen.client), "%s", rpc_ctx_client(ctx));
	seen.id = id;
	snprintf(seen.text, sizeof(seen.text), "%s", text != NULL ? text : "");
	pthread_mutex_unlock(&seen.mu);
}

static Comanda__User *fake_user(rpc_ctx *ctx, int64_t id, const char *name)
{
	Comanda__User *u = rpc_ctx_alloc(ctx, sizeof(*u));
	comanda__user__init(u);
	u->id = id;
	u->name = rpc_ctx_strdup(ctx, name);
	u->email = rpc_ctx_strdup(ctx, "fake@example.com");
	u->status = COMANDA__USER_STATUS__USER_ACTIVE;
	u->role = COMANDA__ROLE__ROLE_CUSTOMER;
	u->created_at_ms = 1768559400000;
	u->updated_at_ms = 1768559400000;
	return u;
}

static int f_create(rpc_ctx *ctx, const Comanda__CreateUserRequest *rq, Comanda__UserReply *rep)
{
	char text[256];
	snprintf(text, sizeof(text), "%s|%s|%s|%d", rq->name, rq->email, rq->password, (int)rq->role);
	saw(ctx, 0, text);
	const char *key = rpc_ctx_idempotency_key(ctx);
	if (strcmp(key, "reused") == 0) {
		rpc_ctx_reason(ctx, "IDEMPOTENCY_KEY_REUSED");
		return rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION, "Idempotency-Key was used with a different request");
	}
	if (strcmp(rq->email, "dup@example.com") == 0) {
		rpc_ctx_detail(ctx, "email", "already exists");
		return rpc_ctx_error(ctx, COMANDA__CODE__ALREADY_EXISTS, "Email already exists");
	}
	rep->user = fake_user(ctx, 5, rq->name);
	rep->replayed = strcmp(key, "replay") == 0;
	return COMANDA__CODE__OK;
}

/* GetUser of id 77 waits until the test opens this gate (giving up after
 * 10 s, which the test sees as timed_out). */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool waiting, open, timed_out;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false };

static void gate_wait(void)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&gate.mu);
	gate.waiting = true;
	pthread_cond_broadcast(&gate.cv);
	while (!gate.open && !gate.timed_out)
		gate.timed_out = pthread_cond_timedwait(&gate.cv, &gate.mu, &until) != 0;
	pthread_mutex_unlock(&gate.mu);
}

static int f_get(rpc_ctx *ctx, const Comanda__GetUserRequest *rq, Comanda__UserReply *rep)
{
	if (rq->id == 77)
		gate_wait();
	saw(ctx, rq->id, NULL);
	if (rq->id == 404)
		return rpc_ctx_error(ctx, COMANDA__CODE__NOT_FOUND, "User not found");
	if (rq->id == 500)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "pq: connection to /var/run/postgresql failed");
	rep->user = fake_user(ctx, rq->id != 0 ? rq->id : rpc_ctx_caller_id(ctx), "Got");
	return COMANDA__CODE__OK;
}

static int f_list(rpc_ctx *ctx, const Comanda__ListUsersRequest *rq, Comanda__ListUsersReply *rep)
{
	saw(ctx, 0, rq->cursor);
	pthread_mutex_lock(&seen.mu);
	seen.limit = rq->limit;
	seen.newest_first = rq->newest_first;
	pthread_mutex_unlock(&seen.mu);
	rep->users = rpc_ctx_alloc(ctx, 2 * sizeof(*rep->users));
	rep->users[0] = fake_user(ctx, 1, "One");
	rep->users[1] = fake_user(ctx, 2, "Two");
	rep->n_users = 2;
	rep->next_cursor = rpc_ctx_strdup(ctx, rq->limit == 2 ? "next-page" : "");
	return COMANDA__CODE__OK;
}

static int f_update(rpc_ctx *ctx, const Comanda__UpdateUserRequest *rq, Comanda__UserReply *rep)
{
	char text[256];
	snprintf(text, sizeof(text), "%s|%s|%s|%d|%d", rq->name, rq->password, rq->current_password, (int)rq->status,
	    (int)rq->role);
	saw(ctx, rq->id, text);
	pthread_mutex_lock(&seen.mu);
	seen.mask[0] = '\0';
	for (size_t i = 0; i < rq->n_update_mask; i++) {
		size_t n = strlen(seen.mask);
		snprintf(seen.mask + n, sizeof(seen.mask) - n, "%s%s", i > 0 ? "," : "", rq->update_mask[i]);
	}
	pthread_mutex_unlock(&seen.mu);
	if (rq->n_update_mask == 0)
		return rpc_ctx_error(ctx, COMANDA__CODE__INVALID_ARGUMENT, "Nothing to update");
	rep->user = fake_user(ctx, rq->id != 0 ? rq->id : rpc_ctx_caller_id(ctx), rq->name[0] ? rq->name : "Same");
	return COMANDA__CODE__OK;
}

static int f_delete(rpc_ctx *ctx, const Comanda__DeleteUserRequest *rq, Comanda__UserReply *rep)
{
	saw(ctx, rq->id, NULL);
	rep->user = fake_user(ctx, rq->id, "Gone");
	rep->user->status = COMANDA__USER_STATUS__USER_DELETED;
	return COMANDA__CODE__OK;
}

static int f_tokens(rpc_ctx *ctx, Comanda__TokenPair *rep)
{
	rep->access_token = rpc_ctx_strdup(ctx, "access.token.here");
	rep->expires_in = 900;
	rep->refresh_token = rpc_ctx_strdup(ctx, "refresh-token");
	rep->user = fake_user(ctx, 3, "Logged");
	return COMANDA__CODE__OK;
}

static int f_login(rpc_ctx *ctx, const Comanda__LoginRequest *rq, Comanda__TokenPair *rep)
{
	char text[256];
	snprintf(text, sizeof(text), "%s|%s", rq->email, rq->password);
	saw(ctx, 0, text);
	if (strcmp(rq->password, "wrong") == 0)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Invalid email or password");
	return f_tokens(ctx, rep);
}

static int f_refresh(rpc_ctx *ctx, const Comanda__RefreshRequest *rq, Comanda__TokenPair *rep)
{
	saw(ctx, 0, rq->refresh_token);
	return f_tokens(ctx, rep);
}

static int f_logout(rpc_ctx *ctx, const Comanda__LogoutRequest *rq, Comanda__LogoutReply *rep)
{
	(void)rep;
	saw(ctx, 0, NULL);
	pthread_mutex_lock(&seen.mu);
	seen.session_id = rq->session_id;
	pthread_mutex_unlock(&seen.mu);
	return COMANDA__CODE__OK;
}

static const user_service_impl fake_impl = {
	.create_user = f_create,
	.get_user = f_get,
	.list_users = f_list,
	.update_user = f_update,
	.delete_user = f_delete,
	.login = f_login,
	.refresh = f_refresh,
	.logout = f_logout,
};

typedef gwfake fixture;

static bool fixture_start(fixture *f)
{
	const rpc_service_binding *const bindings[] = { &user_service_binding };
	const void *const impls[] = { &fake_impl };
	return gwfake_start(f, "users", bindings, impls, 1, GWFAKE_USER, 0);
}

static void fixture_stop(fixture *f)
{
	gwfake_stop(f);
}

/* One request; auth NULL: anonymous; extra: more header lines. */
static char *call(fixture *f, const char *method, const char *target, const char *auth, const char *extra,
    const char *body)
{
	pthread_mutex_lock(&seen.mu);
	seen.calls = 0;
	pthread_mutex_unlock(&seen.mu);
	return gwfake_request(f, method, target, auth, extra, body);
}

static int rpc_calls(void)
{
	pthread_mutex_lock(&seen.mu);
	int n = seen.calls;
	pthread_mutex_unlock(&seen.mu);
	return n;
}

#define CHECK_BODY_HAS(r, part)                                                                             \
	do {                                                                                                \
		if (strstr(testhttp_body(r), (part)) == NULL)                                               \
			test_fail(__FILE__, __LINE__, "body lacks %s: %s", (part), testhttp_body(r));       \
	} while (0)

TEST(gw_users_sign_up_carries_the_caller_and_the_key)
{
	fixture f;
	if (!fixture_start(&f))
		return;
	char v[256];
	char *r = call(&f, "POST", "/api/users", NULL, "X-Request-Id: rid-1\r\nIdempotency-Key: k-1\r\n",
	    "{\"name\":\"Ana\",\"email\":\"ana@example.com\",\"password\":\"secret-123\"}");
	CHECK_EQ_INT(testhttp_status(r), 201);
	CHECK_STREQ(testhttp_body(r), "{\"success\":true,\"message\":\"User created successfully\",\"user\":{\"id\":5,"
	                              "\"name\":\"Ana\",\"email\":\"fake@example.com\",\"status\":\"active\",\"role\":"
	                              "\"customer\",\"created_at\":\"2026-01-16T10:30:00.000Z\",\"updated_at\":"
	                              "\"2026-01-16T10:30:00.000Z\"}}");
	CHECK_STREQ(testhttp_header(r, "Location", v, sizeof(v)), "/api/users/5");
	CHECK_STREQ(testhttp_header(r, "Idempotent-Replayed", v, sizeof(v)), "");
	free(r);
	CHECK_STREQ(seen.method, "CreateUser");
	CHECK_EQ_INT(seen.caller_id, 0);
	CHECK_EQ_INT(seen.caller_role, COMANDA__ROLE__ROLE_ANONYMOUS);
	CHECK_STREQ(seen.request_id, "rid-1");
	CHECK_STREQ(seen.idem_key, "k-1");
	/* an anonymous caller's keys are scoped by its address */
	CHECK_STREQ(seen.client, "127.0.0.1");
	CHECK_STREQ(seen.text, "Ana|ana@example.com|secret-123|0");

	/* an admin's token makes the caller the admin; role travels */
	r = call(&f, "POST", "/api/users", f.admin, "Idempotency-Key: k-2\r\n",
	    "{\"name\":\"Bo\",\"email\":\"bo@example.com\",\"role\":\"admin\"}");
	CHECK_EQ_INT(testhttp_status(r), 201);
	free(r);
	CHECK_EQ_INT(seen.caller_id, 1);
	CHECK_EQ_INT(seen.caller_role, COMANDA__ROLE__ROLE_ADMIN);
	CHECK_STREQ(seen.idem_key, "k-2");
	CHECK_STREQ(seen.client, "");  /* a user's keys are scoped by its id: no address sent */
	CHECK_STREQ(seen.text, "Bo|bo@example.com||2");

	/* a replay answers the same and says so */
	r = call(&f, "POST", "/api/users", NULL, "Idempotency-Key: replay\r\n",
	    "{\"name\":\"Ana\",\"email\":\"ana@example.com\",\"password\":\"secret-123\"}");
	CHECK_EQ_INT(testhttp_status(r), 201);
	CHECK_STREQ(testhttp_header(r, "Idempotent-Replayed", v, sizeof(v)), "true");
	free(r);

	/* same key, other body: 422, the canonical code kept, the reason added */
	r = call(&f, "POST", "/api/users", NULL, "Idempotency-Key: reused\r\n",
	    "{\"name\":\"Ana\",\"email\":\"ana@example.com\",\"password\":\"secret-123\"}");
	CHECK_EQ_INT(testhttp_status(r), 422);
	CHECK_BODY_HAS(r, "\"code\":\"FAILED_PRECONDITION\"");
	CHECK_BODY_HAS(r, "\"reason\":\"IDEMPOTENCY_KEY_REUSED\"");
	free(r);

	/* a malformed key never reaches the service */
	char longkey[400];
	memcpy(longkey, "Idempotency-Key: ", 17);
	memset(longkey + 17, 'k', 256);
	memcpy(longkey + 17 + 256, "\r\n", 3);
	r = call(&f, "POST", "/api/users", NULL, longkey, "{\"name\":\"A\",\"email\":\"a@example.com\",\"password\":\"p\"}");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_BODY_HAS(r, "\"field\":\"Idempotency-Key\"");
	CHECK_EQ_INT(rpc_calls(), 0);
	free(r);
	/* two keys: which one a proxy in front went by is unknown */
	r = call(&f, "POST", "/api/users", NULL, "Idempotency-Key: k-a\r\nidempotency-key: k-b\r\n",
	    "{\"name\":\"A\",\"email\":\"a@example.com\",\"password\":\"p\"}");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_BODY_HAS(r, "\"details\":[{\"field\":\"Idempotency-Key\",\"issue\":\"must be given once\"}]");
	CHECK_EQ_INT(rpc_calls(), 0);
	free(r);
	/* two Authorization fields: refused as such (RFC 6750 3.1), not judged one by one */
	char two[1200];
	snprintf(two, sizeof(two), "Authorization: %s\r\n", f.admin);
	r = call(&f, "GET", "/api/users/5", f.admin, two, NULL);
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_BODY_HAS(r, "\"details\":[{\"field\":\"Authorization\",\"issue\":\"must be given once\"}]");
	CHECK_EQ_INT(rpc_calls(), 0);
	free(r);

	/* service errors keep their message and details */
	r = call(&f, "POST", "/api/users", NULL, NULL, "{\"name\":\"D\",\"email\":\"dup@example.com\",\"password\":\"p\"}");
	CHECK_EQ_INT(testhttp_status(r), 409);
	CHECK_BODY_HAS(r, "\"error\":\"Email already exists\",\"code\":\"ALREADY_EXISTS\"");
	CHECK_BODY_HAS(r, "\"details\":[{\"field\":\"email\",\"issue\":\"already exists\"}]");
	free(r);
	fixture_stop(&f);
}

TEST(gw_users_sign_up_bodies_are_judged_before_any_rpc)
{
	fixture f;
	if (!fixture_start(&f))
		return;
	struct {
		const char *body;
		const char *part;
	} cases[] = {
		{ "{\"name\":1,\"email\":\"a@b.co\",\"password\":\"p\"}", "\"error\":\"name must be a string\"" },
		{ "{\"name\":\"A\",\"password\":\"p\"}", "\"error\":\"email is required\"" },
		{ "{\"name\":\"A\",\"email\":\"a@b.co\",\"x\":1}", "\"details\":[{\"field\":\"x\",\"issue\":\"is not a known field\"}]" },
		{ "{\"name\":\"A\",\"email\":\"a@b.co\",\"role\":\"god\"}", "\"field\":\"role\"" },
		{ "42", "\"error\":\"Request body must be a JSON object\"" },
		{ "[]", "\"error\":\"Request body must be a JSON object\"" },
		{ "{\"name\":", "\"error\":\"Malformed JSON in request body\"" },
		{ "", "\"error\":\"Request body is required\"" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = call(&f, "POST", "/api/users", NULL, NULL, cases[i].body[0] != '\0' ? cases[i].body : NULL);
		if (testhttp_status(r) != 400)
			test_fail(__FILE__, __LINE__, "%s: status %d", cases[i].body, testhttp_status(r));
		CHECK_BODY_HAS(r, cases[i].part);
		CHECK_BODY_HAS(r, "\"code\":\"INVALID_ARGUMENT\"");
		CHECK_EQ_INT(rpc_calls(), 0);
		free(r);
	}
	fixture_stop(&f);
}

TEST(gw_users_reads_updates_and_deletes)
{
	fixture f;
	if (!fixture_start(&f))
		return;
	char *r = call(&f, "GET", "/api/users/me", f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "{\"success\":true,\"user\":{\"id\":7,");
	free(r);
	CHECK_STREQ(seen.method, "GetUser");
	CHECK_EQ_INT(seen.id, 0); /* "the caller" */
	CHECK_EQ_INT(seen.caller_id, 7);
	CHECK_EQ_INT(seen.caller_role, COMANDA__ROLE__ROLE_CUSTOMER);

	r = call(&f, "GET", "/api/users/12", f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_EQ_INT(seen.id, 12);
	free(r);
	r = call(&f, "GET", "/api/users/404", f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	CHECK_BODY_HAS(r, "\"error\":\"User not found\"");
	free(r);
	r = call(&f, "GET", "/api/users/500", f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 500);
	CHECK(strstr(testhttp_body(r), "postgresql") == NULL);
	free(r);
	const char *bad_ids[] = { "/api/users/abc", "/api/users/0", "/api/users/007", "/api/users/-3",
		"/api/users/99999999999999999999", NULL };
	for (int i = 0; bad_ids[i] != NULL; i++) {
		r = call(&f, "GET", bad_ids[i], f.customer, NULL, NULL);
		CHECK_EQ_INT(testhttp_status(r), 400);
		CHECK_BODY_HAS(r, "\"field\":\"id\"");
		CHECK_EQ_INT(rpc_calls(), 0);
		free(r);
	}

	r = call(&f, "PATCH", "/api/users/7", f.customer, NULL, "{\"name\":\"New\",\"password\":\"n-pass-12\","
	                                                        "\"current_password\":\"o-pass-12\"}");
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "{\"success\":true,\"message\":\"User updated successfully\",\"user\":{\"id\":7,\"name\":\"New\"");
	free(r);
	CHECK_STREQ(seen.method, "UpdateUser");
	CHECK_STREQ(seen.mask, "name,password");
	CHECK_STREQ(seen.text, "New|n-pass-12|o-pass-12|0|0");
	r = call(&f, "PATCH", "/api/users/me", f.customer, NULL, "{\"status\":\"suspended\",\"role\":\"admin\"}");
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	CHECK_EQ_INT(seen.id, 0);
	CHECK_STREQ(seen.mask, "status,role");
	CHECK_STREQ(seen.text, "|||2|2");
	r = call(&f, "PATCH", "/api/users/7", f.customer, NULL, "{}");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_BODY_HAS(r, "\"error\":\"Nothing to update\"");
	free(r);
	r = call(&f, "PATCH", "/api/users/7", f.customer, NULL, "{\"status\":\"deleted\"}");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_BODY_HAS(r, "\"field\":\"status\"");
	CHECK_EQ_INT(rpc_calls(), 0);
	free(r);

	r = call(&f, "DELETE", "/api/users/9", f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 403);
	CHECK_EQ_INT(rpc_calls(), 0);
	free(r);
	/* DELETE takes no body: a member is refused, not ignored, and nothing
	 * reaches svc-user; {} is no member */
	r = call(&f, "DELETE", "/api/users/9", f.admin, NULL, "{\"hard\":true}");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_BODY_HAS(r, "\"details\":[{\"field\":\"hard\",\"issue\":\"is not a known field\"}]");
	CHECK_EQ_INT(rpc_calls(), 0);
	free(r);
	r = call(&f, "DELETE", "/api/users/9", f.admin, NULL, "{}");
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	r = call(&f, "DELETE", "/api/users/9", f.admin, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "{\"success\":true,\"message\":\"User deleted successfully\",\"user\":{\"id\":9,");
	CHECK_BODY_HAS(r, "\"status\":\"deleted\"");
	free(r);
	CHECK_EQ_INT(seen.caller_role, COMANDA__ROLE__ROLE_ADMIN);
	fixture_stop(&f);
}

TEST(gw_users_list_limits_cursor_and_order)
{
	fixture f;
	if (!fixture_start(&f))
		return;
	char *r = call(&f, "GET", "/api/users", f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 403);
	CHECK_EQ_INT(rpc_calls(), 0);
	free(r);
	r = call(&f, "GET", "/api/users", f.admin, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "{\"success\":true,\"count\":2,\"users\":[{\"id\":1,");
	CHECK_BODY_HAS(r, "\"next_cursor\":null}");
	free(r);
	CHECK_EQ_INT(seen.limit, 50);
	CHECK_STREQ(seen.text, "");
	r = call(&f, "GET", "/api/users?limit=2&cursor=abc", f.admin, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "\"next_cursor\":\"next-page\"}");
	free(r);
	CHECK_EQ_INT(seen.limit, 2);
	CHECK_STREQ(seen.text, "abc");
	CHECK(!seen.newest_first);
	r = call(&f, "GET", "/api/users?order=desc", f.admin, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	CHECK(seen.newest_first);
	r = call(&f, "GET", "/api/users?order=asc", f.admin, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	CHECK(!seen.newest_first);
	const char *bad_order[] = { "/api/users?order=DESC", "/api/users?order=", "/api/users?order=newest", NULL };
	for (int i = 0; bad_order[i] != NULL; i++) {
		r = call(&f, "GET", bad_order[i], f.admin, NULL, NULL);
		CHECK_EQ_INT(testhttp_status(r), 400);
		CHECK_BODY_HAS(r, "\"field\":\"order\"");
		CHECK_BODY_HAS(r, "must be one of: asc, desc");
		CHECK_EQ_INT(rpc_calls(), 0);
		free(r);
	}
	const char *bad[] = { "/api/users?limit=0", "/api/users?limit=201", "/api/users?limit=x", "/api/users?limit=",
		NULL };
	for (int i = 0; bad[i] != NULL; i++) {
		r = call(&f, "GET", bad[i], f.admin, NULL, NULL);
		CHECK_EQ_INT(testhttp_status(r), 400);
		CHECK_BODY_HAS(r, "\"field\":\"limit\"");
		free(r);
	}
	char target[300];
	memcpy(target, "/api/users?cursor=", 18);
	memset(target + 18, 'c', 200);
	target[218] = '\0';
	r = call(&f, "GET", target, f.admin, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_BODY_HAS(r, "\"field\":\"cursor\"");
	free(r);
	fixture_stop(&f);
}

TEST(gw_session_routes)
{
	fixture f;
	if (!fixture_start(&f))
		return;
	char v[256];
	/* a stale token does not disturb login: the route is public */
	char *r = call(&f, "POST", "/api/auth/login", "Bearer stale.token.x", NULL,
	    "{\"email\":\"a@example.com\",\"password\":\"pw-12345\"}");
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "{\"success\":true,\"token\":\"access.token.here\",\"token_type\":\"Bearer\",\"expires_in\":900,"
	                  "\"refresh_token\":\"refresh-token\",\"user\":{\"id\":3,");
	CHECK_STREQ(testhttp_header(r, "Cache-Control", v, sizeof(v)), "no-store");
	free(r);
	CHECK_STREQ(seen.text, "a@example.com|pw-12345");
	CHECK_EQ_INT(seen.caller_role, COMANDA__ROLE__ROLE_ANONYMOUS);
	r = call(&f, "POST", "/api/auth/login", NULL, NULL, "{\"email\":\"a@example.com\",\"password\":\"wrong\"}");
	CHECK_EQ_INT(testhttp_status(r), 401);
	CHECK_STREQ(testhttp_header(r, "WWW-Authenticate", v, sizeof(v)), "Bearer");
	CHECK_BODY_HAS(r, "\"error\":\"Invalid email or password\"");
	free(r);
	r = call(&f, "POST", "/api/auth/login", NULL, NULL, "{\"email\":\"a@example.com\",\"password\":[]}");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_BODY_HAS(r, "\"error\":\"password must be a string\"");
	free(r);

	r = call(&f, "POST", "/api/auth/refresh", NULL, NULL, "{\"refresh_token\":\"rt-1\"}");
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "\"token_type\":\"Bearer\"");
	free(r);
	CHECK_STREQ(seen.method, "Refresh");
	CHECK_STREQ(seen.text, "rt-1");

	r = call(&f, "POST", "/api/auth/logout", NULL, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 401);
	CHECK_EQ_INT(rpc_calls(), 0);
	free(r);
	r = call(&f, "POST", "/api/auth/logout", f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_STREQ(testhttp_body(r), "{\"success\":true,\"message\":\"Logged out successfully\"}");
	free(r);
	CHECK_STREQ(seen.method, "Logout");
	CHECK_EQ_INT(seen.session_id, 47); /* the sid claim of user 7's token */
	CHECK_EQ_INT(seen.caller_id, 7);
	/* no body, or {}: a member or malformed JSON is refused before svc-user */
	r = call(&f, "POST", "/api/auth/logout", f.customer, NULL, "{}");
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	r = call(&f, "POST", "/api/auth/logout", f.customer, NULL, "{\"all_sessions\":true}");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_BODY_HAS(r, "\"error\":\"all_sessions is not a known field\"");
	CHECK_EQ_INT(rpc_calls(), 0);
	free(r);
	r = call(&f, "POST", "/api/auth/logout", f.customer, NULL, "{");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_BODY_HAS(r, "\"error\":\"Malformed JSON in request body\"");
	CHECK_EQ_INT(rpc_calls(), 0);
	free(r);
	fixture_stop(&f);
}

static void *get_77(void *arg)
{
	fixture *f = arg;
	return call(f, "GET", "/api/users/77", f->admin, NULL, NULL);
}

TEST(gw_users_a_request_waiting_for_its_rpc_does_not_hold_the_http_thread)
{
	fixture f;
	const rpc_service_binding *const bindings[] = { &user_service_binding };
	const void *const impls[] = { &fake_impl };
	/* one HTTP thread: if the first request held it while svc-user is slow,
	 * the second could not be answered until the first was */
	if (!gwfake_start(&f, "users1", bindings, impls, 1, GWFAKE_USER, 1)) {
		gwfake_stop(&f);
		return;
	}
	pthread_t th;
	pthread_create(&th, NULL, get_77, &f);
	pthread_mutex_lock(&gate.mu);
	while (!gate.waiting)
		pthread_cond_wait(&gate.cv, &gate.mu);
	pthread_mutex_unlock(&gate.mu);
	char *r = call(&f, "GET", "/api/users/8", f.admin, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "\"id\":8,");
	free(r);
	pthread_mutex_lock(&gate.mu);
	/* answered while the first still waited for svc-user */
	CHECK(!gate.timed_out);
	gate.open = true;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.mu);
	void *out = NULL;
	pthread_join(th, &out);
	r = out;
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "\"id\":77,");
	free(r);
	gwfake_stop(&f);
}
