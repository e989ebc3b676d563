/* lib/json: body parsing, envelopes, timestamps and, above all, money. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "test.h"

static json_parse_status parse_str(const char *s, json_object **out)
{
	return json_parse_body(s, strlen(s), 0, out);
}

TEST(json_parse_accepts_objects)
{
	json_object *o = NULL;
	CHECK_EQ_INT(parse_str("{\"a\":1}", &o), JSON_PARSE_OK);
	CHECK(o != NULL && json_object_is_type(o, json_type_object));
	json_object_put(o);
	CHECK_EQ_INT(parse_str("  \n{ \"a\" : [1, {\"b\": null}] }\r\n\t", &o), JSON_PARSE_OK);
	json_object_put(o);
	CHECK_EQ_INT(parse_str("{}", &o), JSON_PARSE_OK);
	json_object_put(o);
}

TEST(json_parse_tells_empty_malformed_and_not_object_apart)
{
	json_object *o = NULL;
	CHECK_EQ_INT(parse_str("", &o), JSON_PARSE_EMPTY);
	CHECK_EQ_INT(parse_str(" \n\t", &o), JSON_PARSE_EMPTY);
	const char *malformed[] = { "{", "{\"a\":1", "{\"a\":1,}", "{\"a\":01}", "{\"a\":1} x", "{\"a\":1}{}",
		"[1,", "nul", "{a:1}", "{\"a\":\"\xff\"}", "\"unterminated", "{\"a\":1}}", NULL };
	for (int i = 0; malformed[i] != NULL; i++) {
		o = (json_object *)&o; /* must be reset to NULL on failure */
		json_parse_status st = parse_str(malformed[i], &o);
		if (st != JSON_PARSE_MALFORMED)
			test_fail(__FILE__, __LINE__, "%s: got %d, want MALFORMED", malformed[i], st);
		CHECK(o == NULL);
	}
	const char *scalars[] = { "123", "1.5", "true", "false", "null", "\"x\"", "[1,2]", "[]", " 7 ", NULL };
	for (int i = 0; scalars[i] != NULL; i++) {
		json_parse_status st = parse_str(scalars[i], &o);
		if (st != JSON_PARSE_NOT_OBJECT)
			test_fail(__FILE__, __LINE__, "%s: got %d, want NOT_OBJECT", scalars[i], st);
		CHECK(o == NULL);
	}
}

TEST(json_parse_refuses_embedded_nul_and_uses_len)
{
	json_object *o = NULL;
	const char text[] = "{\"a\":1}\0{\"b\":2}";
	CHECK_EQ_INT(json_parse_body(text, sizeof(text) - 1, 0, &o), JSON_PARSE_MALFORMED);
	CHECK(o == NULL);
	/* only len bytes count: the object is complete within them */
	CHECK_EQ_INT(json_parse_body("{\"a\":1}garbage", 7, 0, &o), JSON_PARSE_OK);
	json_object_put(o);
	const char in_string[] = "{\"a\":\"x\0y\"}";
	CHECK(json_parse_body(in_string, sizeof(in_string) - 1, 0, &o) != JSON_PARSE_OK);
	CHECK(o == NULL);
}

static void check_malformed(const char *file, int line, const char *text, size_t len)
{
	json_object *o = (json_object *)&o; /* must be reset to NULL on failure */
	json_parse_status st = json_parse_body(text, len, 0, &o);
	if (st != JSON_PARSE_MALFORMED)
		test_fail(file, line, "%.*s: got %d, want MALFORMED", (int)len, text, st);
	if (o != NULL)
		test_fail(file, line, "%.*s: *out not NULL", (int)len, text);
}
#define MALFORMED(s) check_malformed(__FILE__, __LINE__, s, strlen(s))

TEST(json_parse_refuses_single_quotes)
{
	MALFORMED("{'items':[]}");
	MALFORMED("{\"a\":'x'}");
	MALFORMED("['x']");
}

TEST(json_parse_refuses_raw_control_characters_in_strings)
{
	MALFORMED("{\"a\":\"x\ty\"}");
	MALFORMED("{\"a\":\"x\ny\"}");
	MALFORMED("{\"a\":\"\x01\"}");
	MALFORMED("{\"a\":\"\x1f\"}");
	MALFORMED("{\"a\tb\":1}");
	/* escaped, they are fine; DEL (0x7f) is not a control character to JSON */
	json_object *o = NULL;
	CHECK_EQ_INT(parse_str("{\"a\":\"x\\ty\\n\\u0001\x7f\"}", &o), JSON_PARSE_OK);
	json_object_put(o);
}

TEST(json_parse_refuses_nul_in_member_names)
{
	/* json-c cut the name at the NUL: this one overwrote "password" */
	MALFORMED("{\"password\":\"abcdefgh1\",\"password\\u0000zz\":\"abcdefgh2\"}");
	MALFORMED("{\"\\u0000\":1}");
	MALFORMED("{\"a\":{\"b\\u0000\":1}}");
	/* in a value it parses, and gw_fields refuses it naming the member */
	json_object *o = NULL;
	CHECK_EQ_INT(parse_str("{\"a\":\"x\\u0000y\"}", &o), JSON_PARSE_OK);
	json_object_put(o);
	CHECK_EQ_INT(parse_str("{\"a\\u0001\":1,\"\\u00001\":2,\"\\u1000\":3}", &o), JSON_PARSE_MALFORMED);
	CHECK_EQ_INT(parse_str("{\"a\\u0001\":1,\"\\u1000\":3}", &o), JSON_PARSE_OK);
	json_object_put(o);
}

TEST(json_parse_refuses_lone_surrogate_escapes)
{
	/* json-c would turn each into U+FFFD: another text than the one sent */
	MALFORMED("{\"a\":\"x\\ud800\"}");
	MALFORMED("{\"a\":\"x\\udfff\"}");
	MALFORMED("{\"a\":\"\\ud83d\\u0041\"}");
	MALFORMED("{\"a\":\"\\ud83d\\ud83d\"}");
	MALFORMED("{\"a\":\"\\ud83d\\n\"}");
	MALFORMED("{\"a\\udc00\":1}");
	json_object *o = NULL;
	CHECK_EQ_INT(parse_str("{\"a\":\"\\ud83d\\udcda \\uD83D\\uDCDA\"}", &o), JSON_PARSE_OK);
	CHECK_STREQ(json_object_get_string(json_object_object_get(o, "a")), "\xf0\x9f\x93\x9a \xf0\x9f\x93\x9a");
	json_object_put(o);
}

TEST(json_parse_refuses_duplicate_member_names)
{
	MALFORMED("{\"password\":\"a\",\"password\":\"b\"}");
	MALFORMED("{\"a\":1,\"\\u0061\":2}"); /* the same name, spelled differently */
	MALFORMED("{\"items\":[{\"price\":1,\"price\":2}]}");
	MALFORMED("{\"a\":{\"x\":1},\"a\":{\"x\":1,\"y\":2}}");
	/* the same name in different objects is fine */
	json_object *o = NULL;
	CHECK_EQ_INT(parse_str("{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}],\"A\":null}", &o), JSON_PARSE_OK);
	json_object_put(o);
}

TEST(json_parse_refuses_what_rfc8259_does_not_allow)
{
	const char *bad[] = { "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":-Infinity}", "{\"a\":+1}", "{\"a\":0x10}",
		"{\"a\":.5}", "{\"a\":1.}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
		"{\"a\":\"\\u12g4\"}", "{\"a\":True}", "{\"a\":nulL}", "{\"a\" 1}", "{\"a\":1 \"b\":2}", "{,}",
		"{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\":[1}", "{\"a\":{]}", "{\"a\":1]", "{/*c*/}", "{\"a\":1}//",
		"{\"a\":\"\\", "{\"a\":\"\\u00", "{\"a\":1}\x0b", "\xef\xbb\xbf{}", NULL };
	for (int i = 0; bad[i] != NULL; i++)
		MALFORMED(bad[i]);
	json_object *o = NULL;
	CHECK_EQ_INT(parse_str("{\"a\":[-0,0.5e-3,1E+2,-1.25e2,true,false,null,\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\uABcd\"],"
	                       "\"b\":{},\"c\":[],\"\":[[]]}",
	                 &o),
	    JSON_PARSE_OK);
	json_object_put(o);
}

TEST(json_parse_limits_depth)
{
	char deep[256];
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		deep[n++] = '[';
	for (int i = 0; i < 40; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	json_object *o = NULL;
	CHECK_EQ_INT(parse_str(deep, &o), JSON_PARSE_TOO_DEEP);
	CHECK(o == NULL);
	/* json-c counts the leaf value as a level: {"a":{"a":{"a":1}}} is depth 4 */
	CHECK_EQ_INT(json_parse_body("{\"a\":{\"a\":{\"a\":1}}}", 19, 4, &o), JSON_PARSE_OK);
	json_object_put(o);
	CHECK_EQ_INT(json_parse_body("{\"a\":{\"a\":{\"a\":1}}}", 19, 3, &o), JSON_PARSE_TOO_DEEP);
	CHECK(o == NULL);
}

TEST(json_parse_request_answers_400)
{
	httpd_request req;
	memset(&req, 0, sizeof(req));
	memcpy(req.request_id, "rid-1", 6);
	req.body = "[1]";
	req.body_len = 3;
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	json_object *o = NULL;
	CHECK(!json_parse_request(&req, &resp, &o));
	CHECK_EQ_INT(resp.status, 400);
	CHECK(resp.body != NULL && strstr(resp.body, "\"code\":\"INVALID_ARGUMENT\"") != NULL);
	CHECK(resp.body != NULL && strstr(resp.body, "must be a JSON object") != NULL);
	CHECK(resp.body != NULL && strstr(resp.body, "\"request_id\":\"rid-1\"") != NULL);
	free(resp.body);
}

TEST(json_parse_request_optional_takes_white_space_as_no_body)
{
	httpd_request req;
	memset(&req, 0, sizeof(req));
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	const char *none[] = { "", " ", " \r\n\t ", NULL };
	for (int i = 0; none[i] != NULL; i++) {
		req.body = none[i];
		req.body_len = strlen(none[i]);
		json_object *o = (json_object *)&o;
		CHECK(json_parse_request_optional(&req, &resp, &o));
		CHECK(o == NULL);
		CHECK_EQ_INT(resp.status, 0);
	}
	req.body = " {} ";
	req.body_len = 4;
	json_object *o = NULL;
	CHECK(json_parse_request_optional(&req, &resp, &o));
	CHECK(o != NULL && json_object_is_type(o, json_type_object));
	json_object_put(o);
	/* a body that is there must still be an object */
	const char *bad[] = { "[]", " x", "{'a':1}", NULL };
	for (int i = 0; bad[i] != NULL; i++) {
		req.body = bad[i];
		req.body_len = strlen(bad[i]);
		CHECK(!json_parse_request_optional(&req, &resp, &o));
		CHECK(o == NULL);
		CHECK_EQ_INT(resp.status, 400);
	}
	free(resp.body);
	/* and where a body is required, white space is still none */
	memset(&resp, 0, sizeof(resp));
	req.body = " \n";
	req.body_len = 2;
	CHECK(!json_parse_request(&req, &resp, &o));
	CHECK(resp.body != NULL && strstr(resp.body, "Request body is required") != NULL);
	free(resp.body);
}

TEST(json_error_envelope_shape)
{
	json_object *e = json_error_new("Bad \"name\"", "INVALID_ARGUMENT", "abc");
	CHECK(e != NULL);
	CHECK_EQ_INT(json_error_add_detail(e, "name", "must not be empty"), 0);
	CHECK_EQ_INT(json_error_add_detail(e, "email", "is invalid"), 0);
	size_t n = 0;
	char *s = json_dump(e, &n);
	CHECK_STREQ(s, "{\"success\":false,\"error\":\"Bad \\\"name\\\"\",\"code\":\"INVALID_ARGUMENT\",\"request_id\":"
	               "\"abc\",\"details\":[{\"field\":\"name\",\"issue\":\"must not be empty\"},{\"field\":\"email\","
	               "\"issue\":\"is invalid\"}]}");
	CHECK_EQ_INT(n, s != NULL ? strlen(s) : 0);
	free(s);
	json_object_put(e);
	e = json_error_new("x", "NOT_FOUND", NULL);
	s = json_dump(e, NULL);
	CHECK_STREQ(s, "{\"success\":false,\"error\":\"x\",\"code\":\"NOT_FOUND\"}");
	free(s);
	json_object_put(e);
	CHECK(json_dump(NULL, NULL) == NULL);
}

TEST(json_dump_does_not_escape_slashes)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "route", json_object_new_string("/api/users/{id}"));
	char *s = json_dump(o, NULL);
	CHECK_STREQ(s, "{\"route\":\"/api/users/{id}\"}");
	free(s);
	json_object_put(o);
}

TEST(json_respond_consumes_and_falls_back_to_500)
{
	httpd_request req;
	memset(&req, 0, sizeof(req));
	memcpy(req.request_id, "r", 2);
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_respond(&resp, &req, 201, o);
	CHECK_EQ_INT(resp.status, 201);
	CHECK_STREQ(resp.body, "{\"success\":true}");
	CHECK_EQ_INT(resp.body_len, 16);
	json_respond(&resp, &req, 200, NULL);
	CHECK_EQ_INT(resp.status, 500);
	CHECK(resp.body != NULL && strstr(resp.body, "\"code\":\"INTERNAL\"") != NULL);
	free(resp.body);
}

TEST(json_timestamp_rfc3339_millis)
{
	json_object *t = json_timestamp_new(1768559400000LL);
	CHECK_STREQ(json_object_get_string(t), "2026-01-16T10:30:00.000Z");
	json_object_put(t);
	t = json_timestamp_new(1768559400123LL);
	CHECK_STREQ(json_object_get_string(t), "2026-01-16T10:30:00.123Z");
	json_object_put(t);
}

TEST(json_money_format_and_new)
{
	char b[32];
	struct { int64_t minor; const char *text; } cases[] = {
		{ 0, "0" }, { 1999, "19.99" }, { 1990, "19.9" }, { 366000000, "3660000" }, { 5, "0.05" },
		{ 50, "0.5" }, { -5, "-0.05" }, { -1999, "-19.99" }, { 100, "1" },
		{ INT64_MAX, "92233720368547758.07" }, { INT64_MIN, "-92233720368547758.08" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_money_format(b, sizeof(b), cases[i].minor);
		CHECK_STREQ(b, cases[i].text);
		json_object *m = json_money_new(cases[i].minor);
		CHECK_STREQ(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN), cases[i].text);
		json_object_put(m);
	}
	/* inside a document too */
	json_object *o = json_object_new_object();
	json_object_object_add(o, "total", json_money_new(1999));
	json_object_object_add(o, "amount", json_money_new(366000000));
	char *s = json_dump(o, NULL);
	CHECK_STREQ(s, "{\"total\":19.99,\"amount\":3660000}");
	free(s);
	json_object_put(o);
}

static void check_money_text(const char *file, int line, const char *text, json_money_status want, int64_t want_minor)
{
	int64_t minor = -777;
	json_money_status st = json_money_parse_text(text, &minor);
	if (st != want)
		test_fail(file, line, "\"%s\": status %d, want %d", text, st, want);
	else if (st == JSON_MONEY_OK && minor != want_minor)
		test_fail(file, line, "\"%s\": %lld minor, want %lld", text, (long long)minor, (long long)want_minor);
	else if (st != JSON_MONEY_OK && minor != -777)
		test_fail(file, line, "\"%s\": *minor written on failure", text);
}
#define MONEY(text, want, minor) check_money_text(__FILE__, __LINE__, text, want, minor)

TEST(json_money_parse_text_accepts)
{
	MONEY("0", JSON_MONEY_OK, 0);
	MONEY("-0", JSON_MONEY_OK, 0);
	MONEY("-0.00", JSON_MONEY_OK, 0);
	MONEY("0.0e5", JSON_MONEY_OK, 0);
	MONEY("0e-999", JSON_MONEY_OK, 0);
	MONEY("19.99", JSON_MONEY_OK, 1999);
	MONEY("19.9", JSON_MONEY_OK, 1990);
	MONEY("19.990", JSON_MONEY_OK, 1999);
	MONEY("19.99000000000000000000", JSON_MONEY_OK, 1999);
	MONEY("0.01", JSON_MONEY_OK, 1);
	MONEY("0.1", JSON_MONEY_OK, 10);
	MONEY("3660000", JSON_MONEY_OK, 366000000);
	MONEY("1e2", JSON_MONEY_OK, 10000);
	MONEY("1E2", JSON_MONEY_OK, 10000);
	MONEY("1e+2", JSON_MONEY_OK, 10000);
	MONEY("1e-2", JSON_MONEY_OK, 1);
	MONEY("1.5e1", JSON_MONEY_OK, 1500);
	MONEY("1234e-2", JSON_MONEY_OK, 1234);
	MONEY("12340e-3", JSON_MONEY_OK, 1234);
	MONEY("0.000000000000000000000000000001e30", JSON_MONEY_OK, 100);
	MONEY("10000000000000", JSON_MONEY_OK, JSON_MONEY_MAX_MINOR);
	MONEY("1e13", JSON_MONEY_OK, JSON_MONEY_MAX_MINOR);
	MONEY("9999999999999.99", JSON_MONEY_OK, 999999999999999);
}

TEST(json_money_parse_text_refuses)
{
	/* not a JSON number */
	const char *bad[] = { "", "-", "+1", " 1", "1 ", "01", "00", "1.", ".5", "1.e2", "1e", "1e+", "0x10", "NaN",
		"-NaN", "Infinity", "-Infinity", "inf", "1,5", "19.99.1", "\"19.99\"", "1_000", "--1", "1e2.5",
		"true", NULL };
	for (int i = 0; bad[i] != NULL; i++)
		MONEY(bad[i], JSON_MONEY_NOT_NUMBER, 0);
	CHECK_EQ_INT(json_money_parse_text(NULL, NULL), JSON_MONEY_NOT_NUMBER);
	/* negative */
	MONEY("-1", JSON_MONEY_NEGATIVE, 0);
	MONEY("-0.01", JSON_MONEY_NEGATIVE, 0);
	MONEY("-1e-2", JSON_MONEY_NEGATIVE, 0);
	/* more than 2 decimals */
	MONEY("19.999", JSON_MONEY_TOO_PRECISE, 0);
	MONEY("0.001", JSON_MONEY_TOO_PRECISE, 0);
	MONEY("0.0010", JSON_MONEY_TOO_PRECISE, 0);
	MONEY("1e-3", JSON_MONEY_TOO_PRECISE, 0);
	MONEY("1.0001e1", JSON_MONEY_TOO_PRECISE, 0);
	MONEY("123.4e-2", JSON_MONEY_TOO_PRECISE, 0);
	MONEY("1e-999999999999999999999", JSON_MONEY_TOO_PRECISE, 0);
	MONEY("0.30000000000000004", JSON_MONEY_TOO_PRECISE, 0);
	/* absurd */
	MONEY("10000000000000.01", JSON_MONEY_TOO_LARGE, 0);
	MONEY("10000000000001", JSON_MONEY_TOO_LARGE, 0);
	MONEY("1e14", JSON_MONEY_TOO_LARGE, 0);
	MONEY("1E400", JSON_MONEY_TOO_LARGE, 0);
	MONEY("1e999999999999999999999", JSON_MONEY_TOO_LARGE, 0);
	MONEY("92233720368547758.07", JSON_MONEY_TOO_LARGE, 0);
	MONEY("18446744073709551616", JSON_MONEY_TOO_LARGE, 0);
	MONEY("123456789012345678901234567890", JSON_MONEY_TOO_LARGE, 0);
}

/* "<head>" + n times digit + "<tail>", malloc'd */
static char *money_long(const char *head, char digit, size_t n, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *s = malloc(hl + n + tl + 1);
	if (s == NULL)
		return NULL;
	memcpy(s, head, hl);
	memset(s + hl, digit, n);
	memcpy(s + hl + n, tail, tl + 1);
	return s;
}

TEST(json_money_exponent_outweighs_a_million_digits)
{
	/* 1 and a million zeros, e-10000000: 10^-9000000, not 1 */
	char *tiny = money_long("1", '0', 1000000, "e-10000000");
	/* 0. and a million zeros then 1, e+10000000: 10^8999999, not 0.1 */
	char *huge = money_long("0.", '0', 1000000, "1e+10000000");
	/* the same digits with exponents that cancel them are exact */
	char *one = money_long("1", '0', 1000000, "e-1000000");
	char *tenth = money_long("0.", '0', 1000000, "1e+1000000");
	/* digits past any saturation point: still read as huge */
	char *far = money_long("1e", '9', 100, "");
	CHECK(tiny != NULL && huge != NULL && one != NULL && tenth != NULL && far != NULL);
	if (tiny != NULL && huge != NULL && one != NULL && tenth != NULL && far != NULL) {
		int64_t m = -1;
		CHECK_EQ_INT(json_money_parse_text(tiny, &m), JSON_MONEY_TOO_PRECISE);
		CHECK_EQ_INT(json_money_parse_text(huge, &m), JSON_MONEY_TOO_LARGE);
		CHECK_EQ_INT(m, -1);
		CHECK_EQ_INT(json_money_parse_text(one, &m), JSON_MONEY_OK);
		CHECK_EQ_INT(m, 100);
		CHECK_EQ_INT(json_money_parse_text(tenth, &m), JSON_MONEY_OK);
		CHECK_EQ_INT(m, 10);
		CHECK_EQ_INT(json_money_parse_text(far, &m), JSON_MONEY_TOO_LARGE);
		far[1] = 'E';
		far[2] = '-';
		CHECK_EQ_INT(json_money_parse_text(far, &m), JSON_MONEY_TOO_PRECISE);
	}
	/* and as a body member, read through json-c's kept literal */
	char *doc = money_long("{\"a\":1", '0', 1000000, "e-10000000}");
	if (doc != NULL) {
		json_object *o = NULL;
		CHECK_EQ_INT(json_parse_body(doc, strlen(doc), 0, &o), JSON_PARSE_OK);
		json_object *v = NULL;
		int64_t m = -1;
		CHECK(json_object_object_get_ex(o, "a", &v));
		CHECK_EQ_INT(json_money_from_json(v, &m), JSON_MONEY_TOO_PRECISE);
		json_object_put(o);
	}
	free(doc);
	free(tiny);
	free(huge);
	free(one);
	free(tenth);
	free(far);
}

static json_money_status money_in(const char *doc, int64_t *minor)
{
	json_object *o = NULL;
	if (json_parse_body(doc, strlen(doc), 0, &o) != JSON_PARSE_OK)
		return (json_money_status)-1;
	json_object *v = NULL;
	json_object_object_get_ex(o, "a", &v);
	json_money_status st = json_money_from_json(v, minor);
	json_object_put(o);
	return st;
}

TEST(json_money_from_parsed_documents)
{
	int64_t m = 0;
	CHECK_EQ_INT(money_in("{\"a\":19.99}", &m), JSON_MONEY_OK);
	CHECK_EQ_INT(m, 1999);
	CHECK_EQ_INT(money_in("{\"a\":0.1}", &m), JSON_MONEY_OK);
	CHECK_EQ_INT(m, 10);
	CHECK_EQ_INT(money_in("{\"a\":3660000}", &m), JSON_MONEY_OK);
	CHECK_EQ_INT(m, 366000000);
	CHECK_EQ_INT(money_in("{\"a\":1.10}", &m), JSON_MONEY_OK);
	CHECK_EQ_INT(m, 110);
	CHECK_EQ_INT(money_in("{\"a\":1e2}", &m), JSON_MONEY_OK);
	CHECK_EQ_INT(m, 10000);
	CHECK_EQ_INT(money_in("{\"a\":-0}", &m), JSON_MONEY_OK);
	CHECK_EQ_INT(m, 0);
	CHECK_EQ_INT(money_in("{\"a\":10000000000000}", &m), JSON_MONEY_OK);
	CHECK_EQ_INT(m, JSON_MONEY_MAX_MINOR);

	CHECK_EQ_INT(money_in("{\"a\":19.999}", &m), JSON_MONEY_TOO_PRECISE);
	CHECK_EQ_INT(money_in("{\"a\":-1}", &m), JSON_MONEY_NEGATIVE);
	CHECK_EQ_INT(money_in("{\"a\":-1.5}", &m), JSON_MONEY_NEGATIVE);
	/* NaN/Infinity are not JSON: json_parse_body refuses the body before
	 * money is read (json_parse_refuses_what_rfc8259_does_not_allow) */
	/* json-c saturates integers beyond 64 bits */
	CHECK_EQ_INT(money_in("{\"a\":99999999999999999999}", &m), JSON_MONEY_TOO_LARGE);
	CHECK_EQ_INT(money_in("{\"a\":-99999999999999999999}", &m), JSON_MONEY_NEGATIVE);
	CHECK_EQ_INT(money_in("{\"a\":10000000000001}", &m), JSON_MONEY_TOO_LARGE);
	CHECK_EQ_INT(money_in("{\"a\":1e400}", &m), JSON_MONEY_TOO_LARGE);
	CHECK_EQ_INT(money_in("{\"a\":\"19.99\"}", &m), JSON_MONEY_NOT_NUMBER);
	CHECK_EQ_INT(money_in("{\"a\":true}", &m), JSON_MONEY_NOT_NUMBER);
	CHECK_EQ_INT(money_in("{\"a\":null}", &m), JSON_MONEY_NOT_NUMBER);
	CHECK_EQ_INT(money_in("{\"a\":[1]}", &m), JSON_MONEY_NOT_NUMBER);
	CHECK_EQ_INT(money_in("{\"b\":1}", &m), JSON_MONEY_NOT_NUMBER);
	CHECK_EQ_INT(m, JSON_MONEY_MAX_MINOR); /* untouched by every failure */
}

TEST(json_money_round_trips)
{
	int64_t samples[] = { 0, 1, 9, 10, 99, 100, 101, 1999, 123456789, JSON_MONEY_MAX_MINOR - 1,
		JSON_MONEY_MAX_MINOR };
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "a", json_money_new(samples[i]));
		char *s = json_dump(o, NULL);
		json_object_put(o);
		int64_t back = -1;
		CHECK_EQ_INT(money_in(s, &back), JSON_MONEY_OK);
		CHECK_EQ_INT(back, samples[i]);
		free(s);
	}
}

TEST(json_money_messages)
{
	CHECK_STREQ(json_money_message(JSON_MONEY_TOO_PRECISE), "must have at most 2 decimals");
	CHECK_STREQ(json_money_message(JSON_MONEY_NEGATIVE), "must not be negative");
	CHECK_STREQ(json_parse_message(JSON_PARSE_NOT_OBJECT), "Request body must be a JSON object");
}
