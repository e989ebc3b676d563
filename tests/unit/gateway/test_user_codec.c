/* gateway/gw_user_codec: JSON bodies -> svc-user requests (types, unknown
 * members, enums, update masks) and users -> the API's JSON. */
#include <stdlib.h>
#include <string.h>

#include "gw_user_codec.h"
#include "json.h"
#include "test.h"

static json_object *parse(const char *text)
{
	json_object *o = NULL;
	CHECK_EQ_INT(json_parse_body(text, strlen(text), 0, &o), JSON_PARSE_OK);
	return o;
}

/* Runs the create translation on text; returns whether it passed, with *p. */
static bool create(const char *text, Comanda__CreateUserRequest *rq, gw_problem *p)
{
	json_object *o = parse(text);
	memset(p, 0, sizeof(*p));
	bool ok = o != NULL && gw_user_create_request(o, rq, p);
	json_object_put(o);
	return ok;
}

TEST(gw_user_create_request_fields)
{
	json_object *o = parse("{\"name\":\"Ana\",\"email\":\"ana@example.com\",\"password\":\"secret-123\"}");
	Comanda__CreateUserRequest rq;
	gw_problem p;
	CHECK(gw_user_create_request(o, &rq, &p));
	CHECK_STREQ(rq.name, "Ana");
	CHECK_STREQ(rq.email, "ana@example.com");
	CHECK_STREQ(rq.password, "secret-123");
	CHECK_EQ_INT(rq.role, COMANDA__ROLE__ROLE_ANONYMOUS); /* svc-user makes it customer */
	json_object_put(o);

	/* an admin's body: no password, a role */
	o = parse("{\"name\":\"Bo\",\"email\":\"bo@example.com\",\"role\":\"admin\"}");
	CHECK(gw_user_create_request(o, &rq, &p));
	CHECK_STREQ(rq.password, ""); /* none */
	CHECK_EQ_INT(rq.role, COMANDA__ROLE__ROLE_ADMIN);
	json_object_put(o);
	o = parse("{\"name\":\"Cy\",\"email\":\"cy@example.com\",\"role\":\"customer\",\"password\":\"x\"}");
	CHECK(gw_user_create_request(o, &rq, &p));
	CHECK_EQ_INT(rq.role, COMANDA__ROLE__ROLE_CUSTOMER);
	CHECK_STREQ(rq.password, "x"); /* values are svc-user's to judge */
	json_object_put(o);
}

TEST(gw_user_create_request_problems)
{
	struct {
		const char *body, *field, *issue;
	} cases[] = {
		{ "{\"email\":\"a@b.co\",\"password\":\"password-1\"}", "name", "is required" },
		{ "{\"name\":\"A\",\"password\":\"password-1\"}", "email", "is required" },
		{ "{\"name\":123,\"email\":\"a@b.co\"}", "name", "must be a string" },
		{ "{\"name\":[\"A\"],\"email\":\"a@b.co\"}", "name", "must be a string" },
		{ "{\"name\":\"A\",\"email\":null}", "email", "must be a string" },
		{ "{\"name\":\"A\",\"email\":\"a@b.co\",\"password\":12345678}", "password", "must be a string" },
		{ "{\"name\":\"A\",\"email\":\"a@b.co\",\"password\":\"\"}", "password", "must not be empty" },
		{ "{\"name\":\"A\",\"email\":\"a@b.co\",\"password\":\"p\\u0000ssword\"}", "password",
		    "must not contain NUL characters" },
		{ "{\"name\":\"A\",\"email\":\"a@b.co\",\"role\":\"root\"}", "role", "must be one of: customer, admin" },
		{ "{\"name\":\"A\",\"email\":\"a@b.co\",\"role\":2}", "role", "must be a string" },
		{ "{\"name\":\"A\",\"email\":\"a@b.co\",\"is_admin\":true}", "is_admin", "is not a known field" },
		{ "{\"name\":\"A\",\"email\":\"a@b.co\",\"id\":5}", "id", "is not a known field" },
		{ "{\"name\":\"A\",\"email\":\"a@b.co\",\"password_hash\":\"x\"}", "password_hash", "is not a known field" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Comanda__CreateUserRequest rq;
		gw_problem p;
		if (create(cases[i].body, &rq, &p)) {
			test_fail(__FILE__, __LINE__, "accepted %s", cases[i].body);
			continue;
		}
		if (strcmp(p.field, cases[i].field) != 0 || strcmp(p.issue, cases[i].issue) != 0)
			test_fail(__FILE__, __LINE__, "%s: \"%s %s\", want \"%s %s\"", cases[i].body, p.field, p.issue,
			    cases[i].field, cases[i].issue);
	}
}

TEST(gw_user_update_request_masks_what_is_present)
{
	char *mask[GW_USER_MASK_MAX];
	Comanda__UpdateUserRequest rq;
	gw_problem p;
	json_object *o = parse("{\"name\":\"New\"}");
	CHECK(gw_user_update_request(o, 42, &rq, mask, &p));
	CHECK_EQ_INT(rq.id, 42);
	CHECK_EQ_INT(rq.n_update_mask, 1);
	CHECK_STREQ(rq.update_mask[0], "name");
	CHECK_STREQ(rq.name, "New");
	json_object_put(o);

	o = parse("{\"role\":\"admin\",\"current_password\":\"old-pass-1\",\"status\":\"suspended\",\"password\":\"new-pass-1\","
	          "\"name\":\"N\"}");
	CHECK(gw_user_update_request(o, 0, &rq, mask, &p));
	CHECK_EQ_INT(rq.n_update_mask, 4); /* current_password goes with password, not in the mask */
	CHECK_STREQ(rq.update_mask[0], "name");
	CHECK_STREQ(rq.update_mask[1], "password");
	CHECK_STREQ(rq.update_mask[2], "status");
	CHECK_STREQ(rq.update_mask[3], "role");
	CHECK_STREQ(rq.password, "new-pass-1");
	CHECK_STREQ(rq.current_password, "old-pass-1");
	CHECK_EQ_INT(rq.status, COMANDA__USER_STATUS__USER_SUSPENDED);
	CHECK_EQ_INT(rq.role, COMANDA__ROLE__ROLE_ADMIN);
	json_object_put(o);

	o = parse("{}");
	CHECK(gw_user_update_request(o, 1, &rq, mask, &p));
	CHECK_EQ_INT(rq.n_update_mask, 0); /* svc-user answers "Nothing to update" */
	json_object_put(o);
	o = parse("{\"status\":\"active\"}");
	CHECK(gw_user_update_request(o, 1, &rq, mask, &p));
	CHECK_EQ_INT(rq.status, COMANDA__USER_STATUS__USER_ACTIVE);
	json_object_put(o);
}

TEST(gw_user_update_request_problems)
{
	struct {
		const char *body, *field, *issue;
	} cases[] = {
		{ "{\"name\":null}", "name", "must be a string" },
		{ "{\"password\":1234}", "password", "must be a string" },
		{ "{\"current_password\":false,\"password\":\"x\"}", "current_password", "must be a string" },
		/* alone it would be read by nobody: a wrong one passed unnoticed */
		{ "{\"current_password\":\"wrong-pass-1\"}", "current_password", "only goes with password" },
		{ "{\"name\":\"N\",\"current_password\":\"wrong-pass-1\"}", "current_password", "only goes with password" },
		{ "{\"current_password\":\"\"}", "current_password", "only goes with password" },
		{ "{\"status\":\"deleted\"}", "status", "must be one of: active, suspended" },
		{ "{\"status\":\"Active\"}", "status", "must be one of: active, suspended" },
		{ "{\"role\":\"owner\"}", "role", "must be one of: customer, admin" },
		{ "{\"email\":\"x@y.co\"}", "email", "is not a known field" },
		{ "{\"nmae\":\"typo\"}", "nmae", "is not a known field" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *mask[GW_USER_MASK_MAX];
		Comanda__UpdateUserRequest rq;
		gw_problem p;
		memset(&p, 0, sizeof(p));
		json_object *o = parse(cases[i].body);
		bool ok = o != NULL && gw_user_update_request(o, 1, &rq, mask, &p);
		json_object_put(o);
		if (ok || strcmp(p.field, cases[i].field) != 0 || strcmp(p.issue, cases[i].issue) != 0)
			test_fail(__FILE__, __LINE__, "%s: ok=%d \"%s %s\", want \"%s %s\"", cases[i].body, ok, p.field,
			    p.issue, cases[i].field, cases[i].issue);
	}
}

TEST(gw_user_login_and_refresh_requests)
{
	Comanda__LoginRequest lr;
	Comanda__RefreshRequest rr;
	gw_problem p;
	json_object *o = parse("{\"email\":\"a@b.co\",\"password\":\"pw\"}");
	CHECK(gw_user_login_request(o, &lr, &p));
	CHECK_STREQ(lr.email, "a@b.co");
	CHECK_STREQ(lr.password, "pw");
	json_object_put(o);
	o = parse("{\"email\":\"a@b.co\"}");
	CHECK(!gw_user_login_request(o, &lr, &p));
	CHECK_STREQ(p.field, "password");
	json_object_put(o);
	o = parse("{\"email\":\"a@b.co\",\"password\":\"pw\",\"remember\":true}");
	CHECK(!gw_user_login_request(o, &lr, &p));
	CHECK_STREQ(p.field, "remember");
	json_object_put(o);
	o = parse("{\"refresh_token\":\"abc\"}");
	CHECK(gw_user_refresh_request(o, &rr, &p));
	CHECK_STREQ(rr.refresh_token, "abc");
	json_object_put(o);
	o = parse("{\"refresh_token\":{}}");
	CHECK(!gw_user_refresh_request(o, &rr, &p));
	CHECK_STREQ(p.field, "refresh_token");
	CHECK_STREQ(p.issue, "must be a string");
	json_object_put(o);
	o = parse("{}");
	CHECK(!gw_user_refresh_request(o, &rr, &p));
	CHECK_STREQ(p.issue, "is required");
	json_object_put(o);
}

static bool starts(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* o as text (o put). */
static char *text(json_object *o)
{
	char *s = json_dump(o, NULL);
	json_object_put(o);
	return s;
}

static Comanda__User sample_user(void)
{
	Comanda__User u = COMANDA__USER__INIT;
	u.id = 12;
	u.name = "José \"Pepe\" O'Brien";
	u.email = "jose@example.com";
	u.status = COMANDA__USER_STATUS__USER_ACTIVE;
	u.role = COMANDA__ROLE__ROLE_CUSTOMER;
	u.created_at_ms = 1768559400123; /* 2026-01-16T10:30:00.123Z */
	u.updated_at_ms = 1768559401000;
	u.has_password = 1;
	return u;
}

TEST(gw_user_json_renders_the_api_shape)
{
	Comanda__User u = sample_user();
	char *s = text(gw_user_json(&u));
	CHECK_STREQ(s, "{\"id\":12,\"name\":\"José \\\"Pepe\\\" O'Brien\",\"email\":\"jose@example.com\",\"status\":\"active\","
	               "\"role\":\"customer\",\"created_at\":\"2026-01-16T10:30:00.123Z\","
	               "\"updated_at\":\"2026-01-16T10:30:01.000Z\"}");
	free(s);
	u.status = COMANDA__USER_STATUS__USER_DELETED;
	u.role = COMANDA__ROLE__ROLE_ADMIN;
	s = text(gw_user_json(&u));
	CHECK(strstr(s, "\"status\":\"deleted\",\"role\":\"admin\"") != NULL);
	CHECK(strstr(s, "password") == NULL);
	free(s);
	CHECK(gw_user_json(NULL) == NULL);

	s = text(gw_user_reply_json("User created successfully", &u));
	CHECK(starts(s, "{\"success\":true,\"message\":\"User created successfully\",\"user\":{\"id\":12,"));
	free(s);
	s = text(gw_user_reply_json(NULL, &u));
	CHECK(starts(s, "{\"success\":true,\"user\":{\"id\":12,"));
	free(s);
	CHECK(gw_user_reply_json("x", NULL) == NULL); /* no user: the caller answers 500 */
	s = text(gw_message_json("Logged out successfully"));
	CHECK_STREQ(s, "{\"success\":true,\"message\":\"Logged out successfully\"}");
	free(s);
}

TEST(gw_user_list_json_counts_and_cursor)
{
	Comanda__User a = sample_user(), b = sample_user();
	b.id = 13;
	Comanda__User *users[] = { &a, &b };
	Comanda__ListUsersReply r = COMANDA__LIST_USERS_REPLY__INIT;
	r.users = users;
	r.n_users = 2;
	r.next_cursor = "YzF8MTN8";
	char *s = text(gw_user_list_json(&r));
	CHECK(starts(s, "{\"success\":true,\"count\":2,\"users\":[{\"id\":12,"));
	CHECK(strstr(s, "},{\"id\":13,") != NULL);
	CHECK(strstr(s, "],\"next_cursor\":\"YzF8MTN8\"}") != NULL);
	free(s);
	r.n_users = 0;
	r.next_cursor = "";
	s = text(gw_user_list_json(&r));
	CHECK_STREQ(s, "{\"success\":true,\"count\":0,\"users\":[],\"next_cursor\":null}");
	free(s);
}

TEST(gw_token_pair_json_shape)
{
	Comanda__User u = sample_user();
	Comanda__TokenPair tp = COMANDA__TOKEN_PAIR__INIT;
	tp.access_token = "h.p.s";
	tp.expires_in = 900;
	tp.refresh_token = "r-t";
	tp.user = &u;
	char *s = text(gw_token_pair_json(&tp));
	CHECK(starts(s, "{\"success\":true,\"token\":\"h.p.s\",\"token_type\":\"Bearer\",\"expires_in\":900,"
	                 "\"refresh_token\":\"r-t\",\"user\":{\"id\":12,"));
	free(s);
}
