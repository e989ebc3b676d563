/* gateway/gw_fields and gw_call's Idempotency-Key rule: strict readers of
 * client input. */
#include <string.h>

#include "gw_call.h"
#include "gw_fields.h"
#include "json.h"
#include "test.h"

static json_object *parse(const char *text)
{
	json_object *o = NULL;
	CHECK_EQ_INT(json_parse_body(text, strlen(text), 0, &o), JSON_PARSE_OK);
	return o;
}

TEST(gw_fields_string_types)
{
	json_object *o = parse("{\"s\":\"abc\",\"n\":7,\"b\":true,\"z\":null,\"a\":[\"x\"],\"o\":{},\"e\":\"\","
	                       "\"nul\":\"a\\u0000b\",\"num\":\"7\"}");
	gw_problem p;
	const char *s = NULL;
	CHECK_EQ_INT(gw_fields_string(o, "s", &s, &p), GW_FIELD_OK);
	CHECK_STREQ(s, "abc");
	CHECK_EQ_INT(gw_fields_string(o, "e", &s, &p), GW_FIELD_OK);
	CHECK_STREQ(s, "");
	CHECK_EQ_INT(gw_fields_string(o, "num", &s, &p), GW_FIELD_OK); /* a string that looks like a number is a string */
	CHECK_EQ_INT(gw_fields_string(o, "missing", &s, &p), GW_FIELD_ABSENT);
	CHECK(s == NULL);
	const char *bad[] = { "n", "b", "z", "a", "o", NULL };
	for (int i = 0; bad[i] != NULL; i++) {
		memset(&p, 0, sizeof(p));
		CHECK_EQ_INT(gw_fields_string(o, bad[i], &s, &p), GW_FIELD_BAD);
		CHECK_STREQ(p.field, bad[i]);
		CHECK_STREQ(p.issue, "must be a string");
	}
	CHECK_EQ_INT(gw_fields_string(o, "nul", &s, &p), GW_FIELD_BAD);
	CHECK_STREQ(p.issue, "must not contain NUL characters");
	CHECK(!gw_fields_string_required(o, "missing", &s, &p));
	CHECK_STREQ(p.field, "missing");
	CHECK_STREQ(p.issue, "is required");
	CHECK(!gw_fields_string_required(o, "z", &s, &p));
	CHECK_STREQ(p.issue, "must be a string");
	CHECK(gw_fields_string_required(o, "s", &s, &p));
	json_object_put(o);
}

TEST(gw_fields_enum_and_unknown_members)
{
	static const char *const names[] = { "active", "suspended" };
	static const int values[] = { 1, 2 };
	json_object *o = parse("{\"ok\":\"suspended\",\"upper\":\"ACTIVE\",\"other\":\"deleted\",\"num\":1}");
	gw_problem p;
	int v = 0;
	CHECK_EQ_INT(gw_fields_enum(o, "ok", names, values, 2, &v, &p), GW_FIELD_OK);
	CHECK_EQ_INT(v, 2);
	CHECK_EQ_INT(gw_fields_enum(o, "absent", names, values, 2, &v, &p), GW_FIELD_ABSENT);
	CHECK_EQ_INT(gw_fields_enum(o, "upper", names, values, 2, &v, &p), GW_FIELD_BAD); /* exact names only */
	CHECK_STREQ(p.field, "upper");
	CHECK_STREQ(p.issue, "must be one of: active, suspended");
	CHECK_EQ_INT(gw_fields_enum(o, "other", names, values, 2, &v, &p), GW_FIELD_BAD);
	CHECK_EQ_INT(gw_fields_enum(o, "num", names, values, 2, &v, &p), GW_FIELD_BAD);
	CHECK_STREQ(p.issue, "must be a string");

	static const char *const known[] = { "ok", "upper", "other", "num", NULL };
	CHECK(gw_fields_known(o, known, &p));
	static const char *const fewer[] = { "ok", "upper", "num", NULL };
	CHECK(!gw_fields_known(o, fewer, &p));
	CHECK_STREQ(p.field, "other");
	CHECK_STREQ(p.issue, "is not a known field");
	json_object_put(o);
}

TEST(gw_fields_problem_truncates_on_a_character_boundary)
{
	gw_problem p;
	char field[200];
	/* "ab" then two-byte characters, so the byte at the cut is a
	 * continuation byte: the cut must not leave half a character */
	field[0] = 'a';
	field[1] = 'b';
	size_t n = 2;
	while (n + 2 < sizeof(field)) {
		field[n++] = (char)0xc3;
		field[n++] = (char)0xa9;
	}
	field[n] = '\0';
	gw_problem_set(&p, field, "is not a known field");
	size_t len = strlen(p.field);
	CHECK(len < sizeof(p.field));
	CHECK(len % 2 == 0); /* "ab" plus whole pairs */
	CHECK(len >= sizeof(p.field) - 2);
	CHECK(((unsigned char)p.field[len - 1]) == 0xa9);
}

TEST(gw_fields_ids_are_canonical_positive_decimals)
{
	int64_t id = -5;
	CHECK(gw_fields_id("1", &id));
	CHECK_EQ_INT(id, 1);
	CHECK(gw_fields_id("9223372036854775807", &id));
	CHECK_EQ_INT(id, INT64_MAX);
	const char *bad[] = { "", "0", "00", "07", "-1", "+1", "1.0", "1e3", " 1", "1 ", "abc", "0x10",
		"9223372036854775808", "99999999999999999999999", "1/2", NULL };
	for (int i = 0; bad[i] != NULL; i++)
		if (gw_fields_id(bad[i], &id))
			test_fail(__FILE__, __LINE__, "id \"%s\" accepted", bad[i]);
	CHECK(!gw_fields_id(NULL, &id));
}

TEST(gw_fields_uint_limits)
{
	uint32_t v = 0;
	CHECK(gw_fields_uint("1", 1, 200, &v));
	CHECK_EQ_INT(v, 1);
	CHECK(gw_fields_uint("200", 1, 200, &v));
	CHECK_EQ_INT(v, 200);
	CHECK(!gw_fields_uint("0", 1, 200, &v));
	CHECK(!gw_fields_uint("201", 1, 200, &v));
	CHECK(!gw_fields_uint("-1", 1, 200, &v));
	CHECK(!gw_fields_uint("050", 1, 200, &v));
	CHECK(!gw_fields_uint("2.5", 1, 200, &v));
	CHECK(!gw_fields_uint("", 1, 200, &v));
	CHECK(!gw_fields_uint("4294967296", 0, UINT32_MAX, &v));
	CHECK(gw_fields_uint("0", 0, 5, &v));
	CHECK(!gw_fields_uint("7", 0, 5, &v)); /* one digit over a one-digit max */
	CHECK_EQ_INT(v, 0);
}

TEST(gw_call_idempotency_key_rule)
{
	CHECK(gw_call_idempotency_key_valid("a"));
	CHECK(gw_call_idempotency_key_valid("7f9c1d2e-4b3a-4c5d-8e6f-0a1b2c3d4e5f"));
	CHECK(gw_call_idempotency_key_valid("with space and ~!@#$%^&*()"));
	char k[300];
	memset(k, 'k', 255);
	k[255] = '\0';
	CHECK(gw_call_idempotency_key_valid(k));
	k[255] = 'k';
	k[256] = '\0';
	CHECK(!gw_call_idempotency_key_valid(k));
	CHECK(!gw_call_idempotency_key_valid(NULL));
	CHECK(!gw_call_idempotency_key_valid(""));
	CHECK(!gw_call_idempotency_key_valid("tab\there"));
	CHECK(!gw_call_idempotency_key_valid("caf\xc3\xa9"));
	CHECK(!gw_call_idempotency_key_valid("del\x7f"));
}

TEST(gw_fields_known_names_an_empty_member)
{
	json_object *o = json_tokener_parse("{\"\":1}");
	static const char *const known[] = { "name", NULL };
	gw_problem p;
	CHECK(!gw_fields_known(o, known, &p));
	CHECK_STREQ(p.field, "\"\"");
	CHECK(!p.internal);
	json_object_put(o);
}

TEST(gw_fields_none_takes_no_body_or_an_empty_object_only)
{
	gw_problem p;
	CHECK(gw_fields_none(NULL, &p));
	json_object *o = json_tokener_parse("{}");
	CHECK(gw_fields_none(o, &p));
	json_object_put(o);
	o = json_tokener_parse("{\"all_sessions\":true}");
	CHECK(!gw_fields_none(o, &p));
	CHECK_STREQ(p.field, "all_sessions");
	CHECK_STREQ(p.issue, "is not a known field");
	json_object_put(o);
}

TEST(gw_fields_status_change_refuses_an_empty_reason)
{
	static const char *const names[] = { "completed", "failed" };
	static const int values[] = { 1, 2 };
	const gw_enum e = { names, values, 2 };
	gw_problem p;
	int status = 0;
	const char *reason = NULL;
	json_object *o = json_tokener_parse("{\"status\":\"failed\",\"reason\":\"\"}");
	CHECK(!gw_fields_status_change(o, &e, &status, &reason, &p));
	CHECK_STREQ(p.field, "reason");
	CHECK_STREQ(p.issue, "must not be empty");
	json_object_put(o);
	o = json_tokener_parse("{\"status\":\"failed\",\"reason\":\" x \"}");
	CHECK(gw_fields_status_change(o, &e, &status, &reason, &p));
	CHECK_EQ_INT(status, 2);
	CHECK_STREQ(reason, " x "); /* kept as sent, like a product */
	json_object_put(o);
	o = json_tokener_parse("{\"status\":\"completed\"}");
	CHECK(gw_fields_status_change(o, &e, &status, &reason, &p));
	CHECK(reason == NULL);
	json_object_put(o);
}

/* The text rule of names and products (lib/utf8 utf8_text), not a second one. */
TEST(gw_fields_status_change_reason_is_text)
{
	static const char *const names[] = { "completed", "failed" };
	static const int values[] = { 1, 2 };
	const gw_enum e = { names, values, 2 };
	static const struct {
		const char *json, *issue;
	} bad[] = {
		{ "{\"status\":\"failed\",\"reason\":\"bell\\u0007\"}", "must not contain control characters" },
		{ "{\"status\":\"failed\",\"reason\":\"line\\nbreak\"}", "must not contain control characters" },
		{ "{\"status\":\"failed\",\"reason\":\"tab\\there\"}", "must not contain control characters" },
		{ "{\"status\":\"failed\",\"reason\":\"csi\\u009b31m\"}", "must not contain control characters" },
		{ "{\"status\":\"failed\",\"reason\":\"del\\u007f\"}", "must not contain control characters" },
		{ "{\"status\":\"failed\",\"reason\":\" \"}", "must not be empty" },
		{ "{\"status\":\"failed\",\"reason\":\"   \"}", "must not be empty" },
		{ "{\"status\":\"failed\",\"reason\":\"\\u00a0\\u3000\"}", "must not be empty" },
		{ "{\"status\":\"failed\",\"reason\":\"\\u200b\"}", "must not be empty" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gw_problem p = { 0 };
		int status = 0;
		const char *reason = "untouched";
		json_object *o = json_tokener_parse(bad[i].json);
		CHECK(o != NULL);
		CHECK(!gw_fields_status_change(o, &e, &status, &reason, &p));
		CHECK(reason == NULL);
		CHECK_STREQ(p.field, "reason");
		CHECK_STREQ(p.issue, bad[i].issue);
		json_object_put(o);
	}
	gw_problem p = { 0 };
	int status = 0;
	const char *reason = NULL;
	json_object *o = json_tokener_parse("{\"status\":\"failed\",\"reason\":\"caf\xc3\xa9 \\u00a0closed\"}");
	CHECK(gw_fields_status_change(o, &e, &status, &reason, &p));
	CHECK_STREQ(reason, "caf\xc3\xa9 \xc2\xa0" "closed"); /* a no-break space among letters is fine */
	json_object_put(o);
}

TEST(gw_fields_string_refuses_invalid_utf8)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string_len("a\xed\xa0\x80" "b", 5)); /* a surrogate */
	json_object_object_add(o, "ok", json_object_new_string("caf\xc3\xa9"));
	const char *out = NULL;
	gw_problem p;
	CHECK_EQ_INT(gw_fields_string(o, "name", &out, &p), GW_FIELD_BAD);
	CHECK_STREQ(p.field, "name");
	CHECK_EQ_INT(gw_fields_string(o, "ok", &out, &p), GW_FIELD_OK);
	json_object_put(o);
}
