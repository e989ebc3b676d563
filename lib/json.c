/*
 * json: Comanda's JSON conventions over json-c 0.16. See json.h.
 */
#include "json.h"
#include "utf8.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

/* ------------------------------------------------------------------------ */
/* parsing                                                                  */
/* ------------------------------------------------------------------------ */

static bool json_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ------------------------------------------------------------------------ */
/* strict syntax                                                            */
/* ------------------------------------------------------------------------ */

/* Containers json_scan_strict can track. The gateway's depth is at most
 * 1000 (GATEWAY_MAX_JSON_DEPTH), and json-c counts a leaf as a level too, so
 * a body it would accept never nests more containers than this. */
#define JSON_SCAN_MAX_NEST 1024

typedef enum json_scan_state {
	JSON_SCAN_VALUE,          /* a value: the top level, or after ':' or ',' in an array */
	JSON_SCAN_VALUE_OR_CLOSE, /* after '[' */
	JSON_SCAN_KEY,            /* after ',' in an object */
	JSON_SCAN_KEY_OR_CLOSE,   /* after '{' */
	JSON_SCAN_COLON,          /* after a member name */
	JSON_SCAN_NEXT,           /* after a value inside a container: ',' or its close */
	JSON_SCAN_DONE,           /* after the top-level value: only white space */
} json_scan_state;

static bool json_is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool json_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The four hex digits of the escape \uXXXX at s[k] (a backslash) into *cp. */
static bool json_scan_u4(const char *s, size_t len, size_t k, unsigned *cp)
{
	if (len - k < 6 || s[k + 1] != 'u')
		return false;
	unsigned v = 0;
	for (size_t h = 2; h < 6; h++) {
		char c = s[k + h];
		if (!json_is_hex(c))
			return false;
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	*cp = v;
	return true;
}

/* The string starting at s[*i] == '"'; on success *i is past its closing
 * quote. A member name (key) may not contain \u0000: json-c cuts a name at
 * its first NUL, so "password\u0000x" would be stored as "password". Raw
 * control characters are refused, as RFC 8259 says (json-c takes them). */
static bool json_scan_string(const char *s, size_t len, size_t *i, bool key)
{
	size_t k = *i + 1;
	for (;;) {
		if (k >= len)
			return false;
		unsigned char c = (unsigned char)s[k];
		if (c == '"')
			break;
		if (c < 0x20)
			return false;
		if (c != '\\') {
			k++;
			continue;
		}
		if (k + 1 >= len)
			return false;
		switch (s[k + 1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			k += 2;
			break;
		case 'u': {
			unsigned cp = 0;
			if (!json_scan_u4(s, len, k, &cp))
				return false;
			if (key && cp == 0)
				return false;
			/* A surrogate must be a high one followed by a low one (one
			 * character): json-c turns a lone one into U+FFFD, which
			 * would store another text than the one sent (I-JSON, RFC
			 * 7493 2.1, says MUST NOT). */
			if (cp >= 0xDC00 && cp <= 0xDFFF)
				return false;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned lo = 0;
				if (len - k < 12 || s[k + 6] != '\\' || !json_scan_u4(s, len, k + 6, &lo) || lo < 0xDC00 ||
				    lo > 0xDFFF)
					return false;
				k += 6;
			}
			k += 6;
			break;
		}
		default:
			return false;
		}
	}
	*i = k + 1;
	return true;
}

/* RFC 8259 number at s[*i]: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * (no NaN, Infinity, '+', leading zeros or hex, which json-c takes). What
 * follows is the caller's: "01" ends after "0" and the '1' is then refused. */
static bool json_scan_number(const char *s, size_t len, size_t *i)
{
	size_t k = *i;
	if (k < len && s[k] == '-')
		k++;
	if (k < len && s[k] == '0') {
		k++;
	} else if (k < len && s[k] >= '1' && s[k] <= '9') {
		while (k < len && json_is_digit(s[k]))
			k++;
	} else {
		return false;
	}
	if (k < len && s[k] == '.') {
		k++;
		if (k >= len || !json_is_digit(s[k]))
			return false;
		while (k < len && json_is_digit(s[k]))
			k++;
	}
	if (k < len && (s[k] == 'e' || s[k] == 'E')) {
		k++;
		if (k < len && (s[k] == '+' || s[k] == '-'))
			k++;
		if (k >= len || !json_is_digit(s[k]))
			return false;
		while (k < len && json_is_digit(s[k]))
			k++;
	}
	*i = k;
	return true;
}

static bool json_scan_literal(const char *s, size_t len, size_t *i, const char *word)
{
	size_t n = strlen(word);
	if (len - *i < n || memcmp(s + *i, word, n) != 0)
		return false;
	*i += n;
	return true;
}

/* One pass over text[0..len), exactly the RFC 8259 grammar: json-c 0.16 in
 * strict mode still takes single-quoted strings, raw control characters in
 * strings, NaN and Infinity, and cuts member names at \u0000 (which let an
 * unknown member overwrite a known one). No recursion: the open containers
 * are a bit stack, at most max_depth of them (deeper is JSON_PARSE_TOO_DEEP,
 * as json-c would answer). *members counts member names, for the duplicate
 * check after json-c has parsed the text. */
static json_parse_status json_scan_strict(const char *s, size_t len, int max_depth, size_t *members)
{
	uint64_t is_object[JSON_SCAN_MAX_NEST / 64] = { 0 };
	int nest_max = max_depth < JSON_SCAN_MAX_NEST ? max_depth : JSON_SCAN_MAX_NEST;
	int nest = 0;
	size_t i = 0;
	json_scan_state st = JSON_SCAN_VALUE;
	*members = 0;
	for (;;) {
		while (i < len && json_is_space(s[i]))
			i++;
		if (i == len)
			return st == JSON_SCAN_DONE ? JSON_PARSE_OK : JSON_PARSE_MALFORMED;
		char c = s[i];
		bool closes = false;
		switch (st) {
		case JSON_SCAN_DONE:
			return JSON_PARSE_MALFORMED;
		case JSON_SCAN_COLON:
			if (c != ':')
				return JSON_PARSE_MALFORMED;
			i++;
			st = JSON_SCAN_VALUE;
			continue;
		case JSON_SCAN_KEY_OR_CLOSE:
		case JSON_SCAN_KEY:
			if (c == '}' && st == JSON_SCAN_KEY_OR_CLOSE) {
				closes = true;
				break;
			}
			if (c != '"' || !json_scan_string(s, len, &i, true))
				return JSON_PARSE_MALFORMED;
			(*members)++;
			st = JSON_SCAN_COLON;
			continue;
		case JSON_SCAN_NEXT: {
			bool in_object = (is_object[(nest - 1) / 64] >> ((nest - 1) % 64)) & 1u;
			if (c == ',') {
				i++;
				st = in_object ? JSON_SCAN_KEY : JSON_SCAN_VALUE;
				continue;
			}
			if (c != (in_object ? '}' : ']'))
				return JSON_PARSE_MALFORMED;
			closes = true;
			break;
		}
		case JSON_SCAN_VALUE_OR_CLOSE:
		case JSON_SCAN_VALUE:
			if (c == ']' && st == JSON_SCAN_VALUE_OR_CLOSE) {
				closes = true;
				break;
			}
			if (c == '{' || c == '[') {
				if (nest >= nest_max)
					return JSON_PARSE_TOO_DEEP;
				uint64_t bit = (uint64_t)1 << (nest % 64);
				if (c == '{')
					is_object[nest / 64] |= bit;
				else
					is_object[nest / 64] &= ~bit;
				nest++;
				i++;
				st = c == '{' ? JSON_SCAN_KEY_OR_CLOSE : JSON_SCAN_VALUE_OR_CLOSE;
				continue;
			}
			bool ok;
			if (c == '"')
				ok = json_scan_string(s, len, &i, false);
			else if (c == '-' || json_is_digit(c))
				ok = json_scan_number(s, len, &i);
			else
				ok = json_scan_literal(s, len, &i, "true") || json_scan_literal(s, len, &i, "false") ||
				    json_scan_literal(s, len, &i, "null");
			if (!ok)
				return JSON_PARSE_MALFORMED;
			st = nest == 0 ? JSON_SCAN_DONE : JSON_SCAN_NEXT;
			continue;
		}
		if (closes) {
			i++;
			nest--;
			st = nest == 0 ? JSON_SCAN_DONE : JSON_SCAN_NEXT;
		}
	}
}

/* Member names in o and everything in it. Recursion is bounded by the depth
 * json-c allowed when it parsed o. */
static size_t json_count_members(json_object *o)
{
	size_t n = 0;
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			n += 1 + json_count_members(val);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		size_t len = json_object_array_length(o);
		for (size_t k = 0; k < len; k++)
			n += json_count_members(json_object_array_get_idx(o, k));
	}
	return n;
}

bool json_body_blank(const char *text, size_t len)
{
	size_t i = 0;
	while (i < len && json_is_space(text[i]))
		i++;
	return i == len;
}

json_parse_status json_parse_body(const char *text, size_t len, int max_depth, json_object **out)
{
	*out = NULL;
	if (json_body_blank(text, len))
		return JSON_PARSE_EMPTY;
	/* json-c takes an int length; bodies are capped far below by httpd.
	 * Its UTF-8 check lets overlong forms and surrogates through: check
	 * the raw body strictly first. */
	if (len > (size_t)INT_MAX - 1 || !utf8_valid(text, len))
		return JSON_PARSE_MALFORMED;
	if (max_depth <= 0)
		max_depth = JSON_BODY_MAX_DEPTH;
	size_t members = 0;
	json_parse_status scanned = json_scan_strict(text, len, max_depth, &members);
	if (scanned != JSON_PARSE_OK)
		return scanned;

	json_tokener *tok = json_tokener_new_ex(max_depth);
	if (tok == NULL)
		return JSON_PARSE_NOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *o = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	if (o == NULL && err == json_tokener_continue) {
		/* A top-level scalar ("123", "true") is only known to be complete
		 * when the tokener sees the end: feed it the terminating NUL. */
		o = json_tokener_parse_ex(tok, "", 1);
		err = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);

	json_parse_status st = JSON_PARSE_OK;
	if (err == json_tokener_error_depth) {
		st = JSON_PARSE_TOO_DEEP;
	} else if (err != json_tokener_success) {
		st = JSON_PARSE_MALFORMED;
	} else {
		/* Strict mode already refuses most trailing text; a NUL byte stops
		 * the tokener early without an error, so check what is left. */
		for (size_t k = end; k < len && st == JSON_PARSE_OK; k++)
			if (!json_is_space(text[k]))
				st = JSON_PARSE_MALFORMED;
		/* a top-level JSON null parses to a NULL object with success */
		if (st == JSON_PARSE_OK && (o == NULL || !json_object_is_type(o, json_type_object)))
			st = JSON_PARSE_NOT_OBJECT;
		/* A member name given twice in one object (I-JSON, RFC 7493, says
		 * MUST NOT) is refused: json-c keeps the last, so a check of the
		 * first and a use of the second could disagree. json-c merges
		 * duplicates, "a" and "\u0061" alike, so fewer members in the tree
		 * than names in the text means one was given twice. */
		if (st == JSON_PARSE_OK && json_count_members(o) != members)
			st = JSON_PARSE_MALFORMED;
	}
	if (st != JSON_PARSE_OK) {
		json_object_put(o);
		return st;
	}
	*out = o;
	return JSON_PARSE_OK;
}

const char *json_parse_message(json_parse_status st)
{
	switch (st) {
	case JSON_PARSE_OK: return "OK";
	case JSON_PARSE_EMPTY: return "Request body is required";
	case JSON_PARSE_MALFORMED: return "Malformed JSON in request body";
	case JSON_PARSE_TOO_DEEP: return "JSON in request body is nested too deeply";
	case JSON_PARSE_NOT_OBJECT: return "Request body must be a JSON object";
	case JSON_PARSE_NOMEM: return "Internal error";
	}
	return "Malformed JSON in request body";
}

static bool json_parse_request_as(const httpd_request *req, httpd_response *resp, json_object **out, bool optional)
{
	/* the server's configured depth (GATEWAY_MAX_JSON_DEPTH); 0: ours */
	int depth = req->max_json_depth > 0 ? req->max_json_depth : JSON_BODY_MAX_DEPTH;
	json_parse_status st = json_parse_body(req->body, req->body_len, depth, out);
	if (st == JSON_PARSE_OK || (optional && st == JSON_PARSE_EMPTY))
		return true;
	if (st == JSON_PARSE_NOMEM)
		httpd_respond_error(resp, req, 500, "INTERNAL", json_parse_message(st));
	else
		httpd_respond_error(resp, req, 400, "INVALID_ARGUMENT", json_parse_message(st));
	return false;
}

bool json_parse_request(const httpd_request *req, httpd_response *resp, json_object **out)
{
	return json_parse_request_as(req, resp, out, false);
}

bool json_parse_request_optional(const httpd_request *req, httpd_response *resp, json_object **out)
{
	return json_parse_request_as(req, resp, out, true);
}

/* ------------------------------------------------------------------------ */
/* building responses                                                       */
/* ------------------------------------------------------------------------ */

/* json_object_object_add does not fail visibly on a NULL value; this does. */
static int json_add(json_object *o, const char *key, json_object *v)
{
	if (v == NULL)
		return -1;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

json_object *json_error_new(const char *message, const char *code, const char *request_id)
{
	json_object *o = json_object_new_object();
	if (o == NULL)
		return NULL;
	int rc = json_add(o, "success", json_object_new_boolean(0));
	rc |= json_add(o, "error", json_object_new_string(message != NULL ? message : ""));
	rc |= json_add(o, "code", json_object_new_string(code != NULL ? code : "UNKNOWN"));
	if (request_id != NULL && request_id[0] != '\0')
		rc |= json_add(o, "request_id", json_object_new_string(request_id));
	if (rc != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int json_error_add_detail(json_object *err, const char *field, const char *issue)
{
	json_object *details = NULL;
	if (!json_object_object_get_ex(err, "details", &details) || !json_object_is_type(details, json_type_array)) {
		details = json_object_new_array();
		if (json_add(err, "details", details) != 0)
			return -1;
	}
	json_object *d = json_object_new_object();
	if (d == NULL)
		return -1;
	int rc = json_add(d, "field", json_object_new_string(field != NULL ? field : ""));
	rc |= json_add(d, "issue", json_object_new_string(issue != NULL ? issue : ""));
	if (rc != 0 || json_object_array_add(details, d) != 0) {
		json_object_put(d);
		return -1;
	}
	return 0;
}

char *json_dump(json_object *o, size_t *len)
{
	if (o == NULL)
		return NULL;
	size_t n = 0;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (s == NULL)
		return NULL;
	/* the text lives in o's print buffer; the body must outlive o */
	char *copy = malloc(n + 1);
	if (copy == NULL)
		return NULL;
	memcpy(copy, s, n);
	copy[n] = '\0';
	if (len != NULL)
		*len = n;
	return copy;
}

void json_respond(httpd_response *resp, const httpd_request *req, int status, json_object *o)
{
	size_t n = 0;
	char *body = json_dump(o, &n);
	json_object_put(o);
	if (body == NULL) {
		httpd_respond_error(resp, req, 500, "INTERNAL", "Internal error");
		return;
	}
	httpd_respond_owned(resp, status, body, n);
}

/* ------------------------------------------------------------------------ */
/* values                                                                   */
/* ------------------------------------------------------------------------ */

json_object *json_timestamp_new(int64_t unix_ms)
{
	char ts[40];
	return json_object_new_string(clock_rfc3339(ts, sizeof(ts), unix_ms));
}

int json_money_format(char *dst, size_t cap, int64_t minor)
{
	/* magnitude as unsigned so INT64_MIN does not overflow */
	uint64_t mag = minor < 0 ? (uint64_t)(-(minor + 1)) + 1 : (uint64_t)minor;
	const char *sign = minor < 0 ? "-" : "";
	uint64_t whole = mag / 100, frac = mag % 100;
	if (frac == 0)
		return snprintf(dst, cap, "%s%" PRIu64, sign, whole);
	if (frac % 10 == 0)
		return snprintf(dst, cap, "%s%" PRIu64 ".%" PRIu64, sign, whole, frac / 10);
	return snprintf(dst, cap, "%s%" PRIu64 ".%02" PRIu64, sign, whole, frac);
}

json_object *json_money_new(int64_t minor)
{
	if (minor % 100 == 0)
		return json_object_new_int64(minor / 100);
	char text[32];
	json_money_format(text, sizeof(text), minor);
	/* new_double_s keeps the text for serialisation: 19.99 prints "19.99",
	 * not the nearest double's 17 digits */
	return json_object_new_double_s((double)minor / 100.0, text);
}

/* The digit string of a number is its integer and fraction digits without the
 * '.': digit k of it, for k in [0, nint + nfrac). */
typedef struct json_digits {
	const char *intp;
	size_t nint;
	const char *fracp;
	size_t nfrac;
} json_digits;

static int json_digit(const json_digits *d, size_t k)
{
	return k < d->nint ? d->intp[k] - '0' : d->fracp[k - d->nint] - '0';
}

/* An exponent is read up to here (10^15): more digits than that cannot be in
 * memory, so an exponent this large decides the value whatever the digits. */
#define JSON_MONEY_EXP_SATURATE 1000000000000000LL

json_money_status json_money_parse_text(const char *text, int64_t *minor)
{
	if (text == NULL)
		return JSON_MONEY_NOT_NUMBER;
	const char *p = text;
	bool negative = false;
	if (*p == '-') {
		negative = true;
		p++;
	}
	/* RFC 8259: int = "0" / digit1-9 *DIGIT */
	json_digits d = { .intp = p };
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (*p >= '0' && *p <= '9')
			p++;
	} else {
		return JSON_MONEY_NOT_NUMBER;
	}
	d.nint = (size_t)(p - d.intp);
	if (*p == '.') {
		p++;
		d.fracp = p;
		while (*p >= '0' && *p <= '9')
			p++;
		d.nfrac = (size_t)(p - d.fracp);
		if (d.nfrac == 0)
			return JSON_MONEY_NOT_NUMBER;
	}
	long long exp = 0;
	if (*p == 'e' || *p == 'E') {
		p++;
		bool eneg = false;
		if (*p == '+' || *p == '-')
			eneg = *p++ == '-';
		if (!(*p >= '0' && *p <= '9'))
			return JSON_MONEY_NOT_NUMBER;
		/* Saturate far above any digit count a text in memory can have:
		 * the exponent must outweigh every digit, as it would unbounded.
		 * At a million, 1 and a million zeros then e-10000000 (a 1 MB
		 * body) was read as 1. exp * 10 + 9 stays far within long long. */
		while (*p >= '0' && *p <= '9') {
			if (exp < JSON_MONEY_EXP_SATURATE)
				exp = exp * 10 + (*p - '0');
			p++;
		}
		if (eneg)
			exp = -exp;
	}
	if (*p != '\0')
		return JSON_MONEY_NOT_NUMBER;

	/* value = digits * 10^(exp - nfrac); minor = digits * 10^shift */
	size_t nd = d.nint + d.nfrac;
	size_t first = 0;
	while (first < nd && json_digit(&d, first) == 0)
		first++;
	if (first == nd) {
		*minor = 0; /* zero in any spelling, -0 included */
		return JSON_MONEY_OK;
	}
	if (negative)
		return JSON_MONEY_NEGATIVE;
	long long shift = exp - (long long)d.nfrac + 2;
	/* digits that would land below the minor unit must all be zero */
	size_t keep_end = nd;
	if (shift < 0) {
		if ((unsigned long long)-shift >= nd - first) {
			return JSON_MONEY_TOO_PRECISE; /* every significant digit is below a cent */
		}
		keep_end = nd - (size_t)-shift;
		for (size_t k = keep_end; k < nd; k++)
			if (json_digit(&d, k) != 0)
				return JSON_MONEY_TOO_PRECISE;
		shift = 0;
	}
	/* JSON_MONEY_MAX_MINOR has 16 digits: more is too large, and at most 16
	 * fit an int64 without overflow checks */
	if ((long long)(keep_end - first) + shift > 16)
		return JSON_MONEY_TOO_LARGE;
	int64_t v = 0;
	for (size_t k = first; k < keep_end; k++)
		v = v * 10 + json_digit(&d, k);
	for (long long s = 0; s < shift; s++)
		v *= 10;
	if (v > JSON_MONEY_MAX_MINOR)
		return JSON_MONEY_TOO_LARGE;
	*minor = v;
	return JSON_MONEY_OK;
}

json_money_status json_money_from_json(json_object *v, int64_t *minor)
{
	if (v == NULL)
		return JSON_MONEY_NOT_NUMBER;
	switch (json_object_get_type(v)) {
	case json_type_int: {
		/* json-c saturates out-of-range integers at INT64_MIN / UINT64_MAX;
		 * both land outside [0, MAX] and are refused below */
		int64_t i = json_object_get_int64(v);
		if (i < 0)
			return JSON_MONEY_NEGATIVE;
		if (i > JSON_MONEY_MAX_MINOR / 100)
			return JSON_MONEY_TOO_LARGE;
		*minor = i * 100;
		return JSON_MONEY_OK;
	}
	case json_type_double:
		return json_money_parse_text(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), minor);
	default:
		return JSON_MONEY_NOT_NUMBER;
	}
}

const char *json_money_message(json_money_status st)
{
	switch (st) {
	case JSON_MONEY_OK: return "OK";
	case JSON_MONEY_NOT_NUMBER: return "must be a number";
	case JSON_MONEY_NEGATIVE: return "must not be negative";
	case JSON_MONEY_TOO_PRECISE: return "must have at most 2 decimals";
	case JSON_MONEY_TOO_LARGE: return "is too large";
	}
	return "is invalid";
}
