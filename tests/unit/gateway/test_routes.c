/* gateway/gw_routes: the matcher (404 vs 405, specificity, params) and the
 * table checker, including on the gateway's real table. */
#include <string.h>

#include "gw_routes.h"
#include "test.h"

static void h_a(gw_app *app, const gw_request *req, httpd_response *resp)
{
	(void)app;
	(void)req;
	(void)resp;
}

static void h_b(gw_app *app, const gw_request *req, httpd_response *resp)
{
	(void)app;
	(void)req;
	(void)resp;
}

static const gw_route table[] = {
	{ "GET", "/", h_a, GW_AUTH_PUBLIC },
	{ "GET", "/api/users/{id}", h_a, GW_AUTH_USER },
	{ "PATCH", "/api/users/{id}", h_b, GW_AUTH_USER },
	{ "DELETE", "/api/users/{id}", h_b, GW_AUTH_ADMIN },
	{ "GET", "/api/users/me", h_b, GW_AUTH_USER },
	{ "POST", "/api/users", h_a, GW_AUTH_PUBLIC },
	{ "GET", "/api/users", h_b, GW_AUTH_ADMIN },
	{ "PUT", "/api/orders/{id}/status", h_a, GW_AUTH_USER },
	{ "GET", "/api/{kind}/{id}/audit", h_b, GW_AUTH_ADMIN },
};
#define N (sizeof(table) / sizeof(table[0]))

static gw_match_result match(const char *method, const char *path, const gw_route **r, gw_params *p,
    char *allow)
{
	return gw_route_match(table, N, method, path, r, p, allow, 128);
}

TEST(gw_routes_match_literal_and_params)
{
	const gw_route *r = NULL;
	gw_params p;
	char allow[128];
	CHECK_EQ_INT(match("GET", "/api/users/42", &r, &p, allow), GW_MATCH_OK);
	CHECK(r == &table[1]);
	CHECK_EQ_INT(p.n, 1);
	CHECK_STREQ(p.p[0].name, "id");
	CHECK_STREQ(p.p[0].value, "42");
	gw_request req = { .params = p };
	CHECK_STREQ(gw_param(&req, "id"), "42");
	CHECK(gw_param(&req, "other") == NULL);

	CHECK_EQ_INT(match("PATCH", "/api/users/7", &r, &p, allow), GW_MATCH_OK);
	CHECK(r == &table[2]);
	CHECK_EQ_INT(match("POST", "/api/users", &r, &p, allow), GW_MATCH_OK);
	CHECK(r == &table[5]);
	CHECK_EQ_INT(p.n, 0);
	CHECK_EQ_INT(match("GET", "/", &r, &p, allow), GW_MATCH_OK);
	CHECK(r == &table[0]);

	CHECK_EQ_INT(match("PUT", "/api/orders/65a1b2c3d4e5f60718293a4b/status", &r, &p, allow), GW_MATCH_OK);
	CHECK(r == &table[7]);
	CHECK_STREQ(p.p[0].value, "65a1b2c3d4e5f60718293a4b");

	CHECK_EQ_INT(match("GET", "/api/payments/9/audit", &r, &p, allow), GW_MATCH_OK);
	CHECK(r == &table[8]);
	CHECK_EQ_INT(p.n, 2);
	CHECK_STREQ(p.p[0].name, "kind");
	CHECK_STREQ(p.p[0].value, "payments");
	CHECK_STREQ(p.p[1].name, "id");
	CHECK_STREQ(p.p[1].value, "9");
}

TEST(gw_routes_most_specific_wins_whatever_the_order)
{
	const gw_route *r = NULL;
	gw_params p;
	char allow[128];
	/* /api/users/me is listed after /api/users/{id} and still wins */
	CHECK_EQ_INT(match("GET", "/api/users/me", &r, &p, allow), GW_MATCH_OK);
	CHECK(r == &table[4]);
	CHECK_EQ_INT(p.n, 0);
	/* and it does not fall back to {id} for another method */
	CHECK_EQ_INT(match("DELETE", "/api/users/me", &r, &p, allow), GW_MATCH_METHOD_NOT_ALLOWED);
	CHECK_STREQ(allow, "GET, HEAD");
	/* a literal earlier in the path weighs more than one later */
	CHECK_EQ_INT(match("GET", "/api/orders/1/audit", &r, &p, allow), GW_MATCH_OK);
	CHECK(r == &table[8]);
}

TEST(gw_routes_404_and_405)
{
	const gw_route *r = NULL;
	gw_params p;
	char allow[128];
	const char *missing[] = { "/nope", "/api/users/", "/api/users/1/", "/api/users//", "//", "/api/users/1/x",
		"/api", "/API/users", "", "relative", NULL };
	for (int i = 0; missing[i] != NULL; i++) {
		r = table;
		if (match("GET", missing[i], &r, &p, allow) != GW_MATCH_NOT_FOUND)
			test_fail(__FILE__, __LINE__, "%s matched", missing[i]);
		CHECK(r == NULL);
	}
	CHECK_EQ_INT(match("PUT", "/api/users/1", &r, &p, allow), GW_MATCH_METHOD_NOT_ALLOWED);
	CHECK_STREQ(allow, "GET, HEAD, PATCH, DELETE");
	CHECK(r != NULL && strcmp(r->pattern, "/api/users/{id}") == 0);
	CHECK_EQ_INT(match("DELETE", "/api/users", &r, &p, allow), GW_MATCH_METHOD_NOT_ALLOWED);
	CHECK_STREQ(allow, "POST, GET, HEAD");
	CHECK_EQ_INT(match("get", "/", &r, &p, allow), GW_MATCH_METHOD_NOT_ALLOWED); /* methods are case-sensitive */
	/* NULL allow is fine */
	CHECK_EQ_INT(gw_route_match(table, N, "PUT", "/", &r, &p, NULL, 0), GW_MATCH_METHOD_NOT_ALLOWED);
}

TEST(gw_routes_head_is_served_by_get)
{
	const gw_route *r = NULL;
	gw_params p;
	CHECK_EQ_INT(match("HEAD", "/api/users/3", &r, &p, NULL), GW_MATCH_OK);
	CHECK(r == &table[1]);
	CHECK_EQ_INT(match("HEAD", "/api/orders/3/status", &r, &p, NULL), GW_MATCH_METHOD_NOT_ALLOWED);
}

TEST(gw_routes_param_length_and_segment_limits)
{
	const gw_route *r = NULL;
	gw_params p;
	char path[512], v[GW_PARAM_MAX + 1];
	memset(v, '1', GW_PARAM_MAX - 1);
	v[GW_PARAM_MAX - 1] = '\0';
	snprintf(path, sizeof(path), "/api/users/%s", v);
	CHECK_EQ_INT(match("GET", path, &r, &p, NULL), GW_MATCH_OK);
	CHECK_EQ_INT(strlen(p.p[0].value), GW_PARAM_MAX - 1);
	CHECK_EQ_INT(match("GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t", &r, &p, NULL), GW_MATCH_NOT_FOUND);
}

TEST(gw_routes_overlong_param_matches_as_empty)
{
	/* it was a 404 "Route not found"; "" makes the handler's id check
	 * answer 400 naming id */
	const gw_route *r = NULL;
	gw_params p;
	char path[1024], v[600];
	size_t lens[] = { GW_PARAM_MAX, GW_PARAM_MAX + 1, sizeof(v) - 1 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(v, '1', lens[i]);
		v[lens[i]] = '\0';
		snprintf(path, sizeof(path), "/api/users/%s", v);
		if (match("GET", path, &r, &p, NULL) != GW_MATCH_OK) {
			test_fail(__FILE__, __LINE__, "GET /api/users/<%zu characters>: no match", lens[i]);
			continue;
		}
		CHECK(r == &table[1]);
		CHECK_EQ_INT(p.n, 1);
		CHECK_STREQ(p.p[0].name, "id");
		CHECK_STREQ(p.p[0].value, "");
		snprintf(path, sizeof(path), "/api/orders/%s/status", v);
		if (match("PUT", path, &r, &p, NULL) != GW_MATCH_OK) {
			test_fail(__FILE__, __LINE__, "PUT /api/orders/<%zu characters>/status: no match", lens[i]);
			continue;
		}
		CHECK(r == &table[7]);
		CHECK_STREQ(p.p[0].value, "");
		/* a literal segment that long is still no match */
		snprintf(path, sizeof(path), "/api/%s", v);
		CHECK_EQ_INT(match("GET", path, &r, &p, NULL), GW_MATCH_NOT_FOUND);
	}
}

TEST(gw_routes_checker)
{
	char why[256];
	CHECK(gw_routes_valid(table, N, why, sizeof(why)));
	size_t n = 0;
	const gw_route *real = gw_routes(&n);
	CHECK(n > 0);
	if (!gw_routes_valid(real, n, why, sizeof(why)))
		test_fail(__FILE__, __LINE__, "the gateway's table: %s", why);

	const gw_route dup[] = { { "GET", "/a/{id}", h_a, GW_AUTH_PUBLIC }, { "GET", "/a/{other}", h_b, GW_AUTH_PUBLIC } };
	CHECK(!gw_routes_valid(dup, 2, why, sizeof(why)));
	CHECK(strstr(why, "same method and shape") != NULL);
	const gw_route ok_pair[] = { { "GET", "/a/{id}", h_a, GW_AUTH_PUBLIC }, { "PUT", "/a/{id}", h_b, GW_AUTH_PUBLIC } };
	CHECK(gw_routes_valid(ok_pair, 2, why, sizeof(why)));
	const gw_route bad[][1] = {
		{ { "GET", "a/b", h_a, GW_AUTH_PUBLIC } },
		{ { "GET", "/a/{id", h_a, GW_AUTH_PUBLIC } },
		{ { "GET", "/a/x{id}", h_a, GW_AUTH_PUBLIC } },
		{ { "GET", "/a/{}", h_a, GW_AUTH_PUBLIC } },
		{ { "GET", "/a/{Id}", h_a, GW_AUTH_PUBLIC } },
		{ { "GET", "/{a}/{b}/{c}/{d}/{e}", h_a, GW_AUTH_PUBLIC } },
		{ { "GET", "/a", NULL, GW_AUTH_PUBLIC } },
		{ { "", "/a", h_a, GW_AUTH_PUBLIC } },
		{ { "GET", NULL, h_a, GW_AUTH_PUBLIC } },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gw_routes_valid(bad[i], 1, why, sizeof(why)))
			test_fail(__FILE__, __LINE__, "bad table %zu accepted", i);
}
