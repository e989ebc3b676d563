/*
 * fuzz_codec: the gateway's translation of client input into RPC requests.
 *
 * Every input is used as:
 *   1. a request body: json_parse_body (lib/json, as json_parse_request
 *      does), then every route's JSON -> protobuf translator
 *        POST  /api/users               gw_user_create_request
 *        PATCH /api/users/{id}|me       gw_user_update_request
 *        POST  /api/auth/login          gw_user_login_request
 *        POST  /api/auth/refresh        gw_user_refresh_request
 *        POST  /api/orders              gw_order_create_request (+ _free)
 *        PUT   /api/orders/{id}/status  gw_order_status_request
 *        POST  /api/payments            gw_payment_create_request
 *        PUT   /api/payments/{id}/status gw_payment_status_request
 *        POST  /api/payments/{id}/refund gw_payment_refund_request
 *      and a translated request is packed (as the RPC client does) and
 *      unpacked again; plus the gw_fields readers on every member;
 *   2. raw text: lib/json's money parser (json_money_parse_text), and the
 *      path/query readers (gw_fields_id, gw_fields_uint,
 *      objectid_hex_valid, gw_fields_enum_value).
 *
 * Oracles beyond the sanitizers:
 *   - json_parse_body accepts only valid UTF-8 (RFC 3629: no overlong
 *     forms, surrogates or code points above U+10FFFF), and only RFC 8259
 *     text (as a reference reader here judges it; escaped surrogates only
 *     in high-low pairs, as I-JSON asks) whose member names are
 *     free of \u0000 and unique in their object (the tree has as many
 *     members as the text has names);
 *   - a translator that refuses names a field: non-empty, valid UTF-8
 *     (it reaches the client's error body), with an issue; the error
 *     envelope the gateway would build from it is valid strict JSON;
 *   - a translated request packs and unpacks to the same strings;
 *   - money: OK exactly when the text is an RFC 8259 number within the
 *     rules, the value agrees with strtod, and format -> parse round-trips;
 *     NOT_NUMBER exactly when the text is not a JSON number;
 *   - ids and limits accepted only in canonical form.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "gw_fields.h"
#include "objectid.h"
#include "gw_order_codec.h"
#include "gw_payment_codec.h"
#include "gw_user_codec.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ORDER_ID "65a1b2c3d4e5f6a7b8c9d0e1"

static void fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_codec: %s\n  %s\n", what, detail != NULL ? detail : "");
	abort();
}

/* ---- helpers ------------------------------------------------------------- */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
static bool fuzz_utf8_valid_n(const uint8_t *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = p[i];
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

static bool fuzz_utf8_valid(const char *s)
{
	return fuzz_utf8_valid_n((const uint8_t *)s, strlen(s));
}

/* FUZZ_SKIP_KNOWN=1 skips the oracles of the known findings, to fuzz past
 * them (tests/fuzz/README.md): json_parse_body accepts invalid UTF-8; a
 * member named "" is refused with an empty field name. */
static bool fuzz_skip_known;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_skip_known = fuzz_skip_known_from_env();
	return 0;
}

/* RFC 8259 number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static bool fuzz_json_number(const char *s)
{
	const char *p = s;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return false;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

/* ---- a reference RFC 8259 reader ------------------------------------------ */

/* Recursive descent, written apart from lib/json.c's state machine so the two
 * can be compared. Nesting past FUZZ_REF_DEPTH counts as a refusal (the body
 * parser's limit, JSON_BODY_MAX_DEPTH, is far below). members counts member
 * names; nul_name is set when one contains \u0000. */
#define FUZZ_REF_DEPTH 64

typedef struct fuzz_ref {
	const uint8_t *p;
	size_t len, i, members;
	bool nul_name;
} fuzz_ref;

static void fuzz_ref_ws(fuzz_ref *r)
{
	while (r->i < r->len && (r->p[r->i] == ' ' || r->p[r->i] == '\t' || r->p[r->i] == '\n' || r->p[r->i] == '\r'))
		r->i++;
}

static bool fuzz_ref_peek(const fuzz_ref *r, uint8_t c)
{
	return r->i < r->len && r->p[r->i] == c;
}

static bool fuzz_ref_string(fuzz_ref *r, bool name)
{
	if (!fuzz_ref_peek(r, '"'))
		return false;
	r->i++;
	bool high = false; /* the last escape was a high surrogate: a low one must follow */
	while (r->i < r->len) {
		uint8_t c = r->p[r->i++];
		if (high && (c != '\\' || !fuzz_ref_peek(r, 'u')))
			return false;
		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		if (r->i >= r->len)
			return false;
		c = r->p[r->i++];
		if (c == 'u') {
			if (r->len - r->i < 4)
				return false;
			unsigned v = 0;
			for (int k = 0; k < 4; k++) {
				uint8_t h = r->p[r->i++];
				int d = h >= '0' && h <= '9' ? h - '0'
				    : h >= 'a' && h <= 'f'   ? h - 'a' + 10
				    : h >= 'A' && h <= 'F'   ? h - 'A' + 10
				                             : -1;
				if (d < 0)
					return false;
				v = v * 16 + (unsigned)d;
			}
			if (name && v == 0)
				r->nul_name = true;
			/* I-JSON (RFC 7493 2.1): a surrogate only as a high-low pair */
			bool is_low = v >= 0xDC00 && v <= 0xDFFF;
			if (is_low != high)
				return false;
			high = v >= 0xD800 && v <= 0xDBFF;
		} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
			return false;
		}
	}
	return false;
}

static bool fuzz_ref_digits(fuzz_ref *r)
{
	size_t start = r->i;
	while (r->i < r->len && r->p[r->i] >= '0' && r->p[r->i] <= '9')
		r->i++;
	return r->i > start;
}

static bool fuzz_ref_value(fuzz_ref *r, int depth);

static bool fuzz_ref_container(fuzz_ref *r, int depth, bool object)
{
	if (depth >= FUZZ_REF_DEPTH)
		return false;
	r->i++;
	fuzz_ref_ws(r);
	if (fuzz_ref_peek(r, object ? '}' : ']')) {
		r->i++;
		return true;
	}
	for (;;) {
		if (object) {
			if (!fuzz_ref_string(r, true))
				return false;
			r->members++;
			fuzz_ref_ws(r);
			if (!fuzz_ref_peek(r, ':'))
				return false;
			r->i++;
		}
		if (!fuzz_ref_value(r, depth + 1))
			return false;
		fuzz_ref_ws(r);
		if (fuzz_ref_peek(r, ',')) {
			r->i++;
			fuzz_ref_ws(r);
			continue;
		}
		if (!fuzz_ref_peek(r, object ? '}' : ']'))
			return false;
		r->i++;
		return true;
	}
}

static bool fuzz_ref_value(fuzz_ref *r, int depth)
{
	fuzz_ref_ws(r);
	if (r->i >= r->len)
		return false;
	uint8_t c = r->p[r->i];
	if (c == '{' || c == '[')
		return fuzz_ref_container(r, depth, c == '{');
	if (c == '"')
		return fuzz_ref_string(r, false);
	static const char *const words[] = { "true", "false", "null" };
	for (size_t k = 0; k < 3; k++) {
		size_t n = strlen(words[k]);
		if (r->len - r->i >= n && memcmp(r->p + r->i, words[k], n) == 0) {
			r->i += n;
			return true;
		}
	}
	if (c == '-')
		r->i++;
	if (fuzz_ref_peek(r, '0'))
		r->i++;
	else if (r->i >= r->len || r->p[r->i] < '1' || r->p[r->i] > '9' || !fuzz_ref_digits(r))
		return false;
	if (fuzz_ref_peek(r, '.')) {
		r->i++;
		if (!fuzz_ref_digits(r))
			return false;
	}
	if (fuzz_ref_peek(r, 'e') || fuzz_ref_peek(r, 'E')) {
		r->i++;
		if (fuzz_ref_peek(r, '+') || fuzz_ref_peek(r, '-'))
			r->i++;
		if (!fuzz_ref_digits(r))
			return false;
	}
	return true;
}

/* Whether data is one RFC 8259 value with nothing but white space around it. */
static bool fuzz_ref_json(const uint8_t *data, size_t size, fuzz_ref *r)
{
	*r = (fuzz_ref){ .p = data, .len = size };
	if (!fuzz_ref_value(r, 0))
		return false;
	fuzz_ref_ws(r);
	return r->i == r->len;
}

/* Member names in o, counted as the reference reader counts them. */
static size_t fuzz_tree_members(json_object *o)
{
	size_t n = 0;
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			n += 1 + fuzz_tree_members(val);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t k = 0; k < json_object_array_length(o); k++)
			n += fuzz_tree_members(json_object_array_get_idx(o, k));
	}
	return n;
}

/* A refusal must name a field the client can read. */
static void fuzz_check_problem(const char *route, const gw_problem *p)
{
	char msg[512];
	if (memchr(p->field, '\0', sizeof(p->field)) == NULL || memchr(p->issue, '\0', sizeof(p->issue)) == NULL)
		fuzz_fail("unterminated problem", route);
	/* known finding: a member named "" is reported with field "", which
	 * gw_orders reads as its out-of-memory signal (a 500) */
	bool known_empty = fuzz_skip_known && p->field[0] == '\0' && strcmp(p->issue, "is not a known field") == 0;
	if ((p->field[0] == '\0' || p->issue[0] == '\0') && !known_empty) {
		snprintf(msg, sizeof(msg), "%s: field \"%s\" issue \"%s\"", route, p->field, p->issue);
		fuzz_fail("a refusal with an empty field or issue (the handler answers 500)", msg);
	}
	if (!fuzz_skip_known && (!fuzz_utf8_valid(p->field) || !fuzz_utf8_valid(p->issue)))
		fuzz_fail("a problem that is not valid UTF-8", route);

	/* the body gw_errors_respond_invalid builds: "<field> <issue>" + details */
	snprintf(msg, sizeof(msg), "%s %s", p->field, p->issue);
	json_object *err = json_error_new(msg, "INVALID_ARGUMENT", "fuzz-request-id");
	if (err == NULL || json_error_add_detail(err, p->field, p->issue) != 0)
		fuzz_fail("cannot build an error envelope", route);
	size_t len = 0;
	char *text = json_dump(err, &len);
	json_object_put(err);
	if (text == NULL)
		fuzz_fail("cannot serialise an error envelope", route);
	json_object *back = NULL;
	if (json_parse_body(text, len, 0, &back) != JSON_PARSE_OK || (!fuzz_skip_known && !fuzz_utf8_valid(text)))
		fuzz_fail("the error envelope is not valid strict JSON", text);
	json_object_put(back);
	free(text);
}

/* The string member name of body, or NULL. */
static const char *fuzz_member_string(json_object *body, const char *name)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(body, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void fuzz_same_string(const char *route, const char *name, const char *want, const char *got)
{
	if (want == NULL)
		return;
	if (got == NULL || strcmp(want, got) != 0)
		fuzz_fail("a string changed between the body and the packed request", name);
	(void)route;
}

/* Packs msg as the RPC client would and unpacks it: returns the copy. */
static ProtobufCMessage *fuzz_repack(const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n > 0 ? n : 1);
	if (buf == NULL)
		return NULL;
	if (protobuf_c_message_pack(msg, buf) != n)
		fuzz_fail("pack wrote a different size than it announced", msg->descriptor->name);
	ProtobufCMessage *back = protobuf_c_message_unpack(msg->descriptor, NULL, n, buf);
	free(buf);
	if (back == NULL)
		fuzz_fail("a packed request does not unpack", msg->descriptor->name);
	return back;
}

/* ---- 1. routes --------------------------------------------------------- */

static void fuzz_users(json_object *body)
{
	gw_problem p;
	{
		Comanda__CreateUserRequest rq;
		if (gw_user_create_request(body, &rq, &p)) {
			Comanda__CreateUserRequest *b = (Comanda__CreateUserRequest *)fuzz_repack(&rq.base);
			fuzz_same_string("users.create", "name", fuzz_member_string(body, "name"), b->name);
			fuzz_same_string("users.create", "email", fuzz_member_string(body, "email"), b->email);
			fuzz_same_string("users.create", "password", fuzz_member_string(body, "password"), b->password);
			protobuf_c_message_free_unpacked(&b->base, NULL);
		} else {
			fuzz_check_problem("users.create", &p);
		}
	}
	{
		Comanda__UpdateUserRequest rq;
		char *mask[GW_USER_MASK_MAX];
		if (gw_user_update_request(body, 7, &rq, mask, &p)) {
			if (rq.n_update_mask > GW_USER_MASK_MAX || rq.id != 7)
				fuzz_fail("users.update: bad mask or id", NULL);
			Comanda__UpdateUserRequest *b = (Comanda__UpdateUserRequest *)fuzz_repack(&rq.base);
			fuzz_same_string("users.update", "name", fuzz_member_string(body, "name"), b->name);
			fuzz_same_string("users.update", "password", fuzz_member_string(body, "password"), b->password);
			protobuf_c_message_free_unpacked(&b->base, NULL);
		} else {
			fuzz_check_problem("users.update", &p);
		}
	}
	{
		Comanda__LoginRequest rq;
		if (gw_user_login_request(body, &rq, &p)) {
			Comanda__LoginRequest *b = (Comanda__LoginRequest *)fuzz_repack(&rq.base);
			fuzz_same_string("auth.login", "email", fuzz_member_string(body, "email"), b->email);
			fuzz_same_string("auth.login", "password", fuzz_member_string(body, "password"), b->password);
			protobuf_c_message_free_unpacked(&b->base, NULL);
		} else {
			fuzz_check_problem("auth.login", &p);
		}
	}
	{
		Comanda__RefreshRequest rq;
		if (gw_user_refresh_request(body, &rq, &p)) {
			Comanda__RefreshRequest *b = (Comanda__RefreshRequest *)fuzz_repack(&rq.base);
			fuzz_same_string("auth.refresh", "refresh_token", fuzz_member_string(body, "refresh_token"),
			    b->refresh_token);
			protobuf_c_message_free_unpacked(&b->base, NULL);
		} else {
			fuzz_check_problem("auth.refresh", &p);
		}
	}
}

static void fuzz_orders(json_object *body)
{
	gw_problem p;
	{
		Comanda__CreateOrderRequest rq;
		if (gw_order_create_request(body, &rq, &p)) {
			json_object *items = NULL;
			json_object_object_get_ex(body, "items", &items);
			if (rq.n_items != json_object_array_length(items))
				fuzz_fail("orders.create: item count differs from the body's", NULL);
			for (size_t i = 0; i < rq.n_items; i++) {
				if (rq.items[i] == NULL || rq.items[i]->price_minor < 0 ||
				    rq.items[i]->price_minor > JSON_MONEY_MAX_MINOR)
					fuzz_fail("orders.create: an item price outside the money range", NULL);
				fuzz_same_string("orders.create", "product",
				    fuzz_member_string(json_object_array_get_idx(items, i), "product"), rq.items[i]->product);
			}
			if (rq.total_given && (rq.total_minor < 0 || rq.total_minor > JSON_MONEY_MAX_MINOR))
				fuzz_fail("orders.create: a total outside the money range", NULL);
			Comanda__CreateOrderRequest *b = (Comanda__CreateOrderRequest *)fuzz_repack(&rq.base);
			if (b->n_items != rq.n_items)
				fuzz_fail("orders.create: items lost in packing", NULL);
			fuzz_same_string("orders.create", "currency", fuzz_member_string(body, "currency"), b->currency);
			fuzz_same_string("orders.create", "payment_token", fuzz_member_string(body, "payment_token"),
			    b->payment_token);
			protobuf_c_message_free_unpacked(&b->base, NULL);
			gw_order_create_request_free(&rq);
			if (rq.items != NULL || rq.n_items != 0)
				fuzz_fail("orders.create: _free left items behind", NULL);
		} else {
			fuzz_check_problem("orders.create", &p);
		}
	}
	{
		Comanda__UpdateOrderStatusRequest rq;
		if (gw_order_status_request(body, FUZZ_ORDER_ID, &rq, &p)) {
			Comanda__UpdateOrderStatusRequest *b = (Comanda__UpdateOrderStatusRequest *)fuzz_repack(&rq.base);
			fuzz_same_string("orders.status", "id", FUZZ_ORDER_ID, b->id);
			fuzz_same_string("orders.status", "reason", fuzz_member_string(body, "reason"), b->reason);
			if (gw_enum_name(&gw_order_statuses, b->status) == NULL)
				fuzz_fail("orders.status: a status outside the enum", NULL);
			protobuf_c_message_free_unpacked(&b->base, NULL);
		} else {
			fuzz_check_problem("orders.status", &p);
		}
	}
}

static void fuzz_payments(json_object *body)
{
	gw_problem p;
	{
		Comanda__CreatePaymentRequest rq;
		if (gw_payment_create_request(body, &rq, &p)) {
			if (rq.amount_minor < 0 || rq.amount_minor > JSON_MONEY_MAX_MINOR)
				fuzz_fail("payments.create: an amount outside the money range", NULL);
			Comanda__CreatePaymentRequest *b = (Comanda__CreatePaymentRequest *)fuzz_repack(&rq.base);
			fuzz_same_string("payments.create", "order_id", fuzz_member_string(body, "order_id"), b->order_id);
			fuzz_same_string("payments.create", "transaction_id", fuzz_member_string(body, "transaction_id"),
			    b->transaction_id);
			fuzz_same_string("payments.create", "payment_token", fuzz_member_string(body, "payment_token"),
			    b->payment_token);
			protobuf_c_message_free_unpacked(&b->base, NULL);
		} else {
			fuzz_check_problem("payments.create", &p);
		}
	}
	{
		Comanda__UpdatePaymentStatusRequest rq;
		if (gw_payment_status_request(body, 7, &rq, &p)) {
			if (gw_enum_name(&gw_payment_settlements, rq.status) == NULL || rq.id != 7)
				fuzz_fail("payments.status: a status outside the settlements, or a wrong id", NULL);
			Comanda__UpdatePaymentStatusRequest *b = (Comanda__UpdatePaymentStatusRequest *)fuzz_repack(&rq.base);
			fuzz_same_string("payments.status", "reason", fuzz_member_string(body, "reason"), b->reason);
			protobuf_c_message_free_unpacked(&b->base, NULL);
		} else {
			fuzz_check_problem("payments.status", &p);
		}
	}
	{
		Comanda__RefundPaymentRequest rq;
		if (gw_payment_refund_request(body, 7, &rq, &p)) {
			if (json_object_object_length(body) != 0)
				fuzz_fail("payments.refund: accepted a member", NULL);
			protobuf_c_message_free_unpacked(fuzz_repack(&rq.base), NULL);
		} else {
			fuzz_check_problem("payments.refund", &p);
		}
	}
}

/* The typed readers on every member, whatever its name. */
static void fuzz_members(json_object *body)
{
	json_object_object_foreach(body, key, val)
	{
		(void)val;
		/* no route reads a member named "": a problem about it would name
		 * an empty field only because this harness asked */
		if (key[0] == '\0')
			continue;
		gw_problem p;
		const char *s;
		int64_t i64, minor;
		json_object *arr;
		int e;
		if (gw_fields_string(body, key, &s, &p) == GW_FIELD_BAD)
			fuzz_check_problem("gw_fields_string", &p);
		if (gw_fields_int64(body, key, &i64, &p) == GW_FIELD_BAD)
			fuzz_check_problem("gw_fields_int64", &p);
		gw_field f = gw_fields_money(body, key, &minor, &p);
		if (f == GW_FIELD_BAD)
			fuzz_check_problem("gw_fields_money", &p);
		else if (f == GW_FIELD_OK && (minor < 0 || minor > JSON_MONEY_MAX_MINOR))
			fuzz_fail("gw_fields_money: OK outside the money range", key);
		if (gw_fields_array(body, key, &arr, &p) == GW_FIELD_BAD)
			fuzz_check_problem("gw_fields_array", &p);
		if (gw_fields_enum(body, key, gw_payment_methods.names, gw_payment_methods.values, gw_payment_methods.n, &e,
		        &p) == GW_FIELD_BAD)
			fuzz_check_problem("gw_fields_enum", &p);
	}
}

/* ---- 2. raw text --------------------------------------------------------- */

static void fuzz_money_text(const char *s)
{
	int64_t minor = -1;
	json_money_status st = json_money_parse_text(s, &minor);
	bool number = fuzz_json_number(s);
	char msg[160];
	snprintf(msg, sizeof(msg), "\"%.100s\" -> status %d, minor %" PRId64, s, (int)st, minor);
	(void)json_money_message(st);
	if ((st == JSON_MONEY_NOT_NUMBER) == number)
		fuzz_fail("json_money_parse_text disagrees with the JSON number grammar", msg);
	if (!number)
		return;
	double d = strtod(s, NULL);
	switch (st) {
	case JSON_MONEY_OK: {
		if (minor < 0 || minor > JSON_MONEY_MAX_MINOR)
			fuzz_fail("money OK outside 0..JSON_MONEY_MAX_MINOR", msg);
		if (fabs(d * 100.0 - (double)minor) > 1e-6 + (double)minor * 1e-12)
			fuzz_fail("money value disagrees with strtod", msg);
		char text[40];
		json_money_format(text, sizeof(text), minor);
		int64_t again = -1;
		if (json_money_parse_text(text, &again) != JSON_MONEY_OK || again != minor)
			fuzz_fail("json_money_format does not parse back to the same amount", msg);
		json_object *o = json_money_new(minor);
		if (o == NULL || json_money_from_json(o, &again) != JSON_MONEY_OK || again != minor)
			fuzz_fail("json_money_new does not read back to the same amount", msg);
		json_object_put(o);
		break;
	}
	case JSON_MONEY_NEGATIVE:
		if (s[0] != '-')
			fuzz_fail("money NEGATIVE without a minus sign", msg);
		break;
	case JSON_MONEY_TOO_LARGE:
		if (!(d * 100.0 > (double)JSON_MONEY_MAX_MINOR * (1 - 1e-12)))
			fuzz_fail("money TOO_LARGE for an amount strtod finds small", msg);
		break;
	case JSON_MONEY_TOO_PRECISE: /* judged on digits; a double cannot tell */
	case JSON_MONEY_NOT_NUMBER:
		break;
	}
}

static void fuzz_path_values(const char *s)
{
	char canon[32];
	int64_t id = 0;
	if (gw_fields_id(s, &id)) {
		snprintf(canon, sizeof(canon), "%" PRId64, id);
		if (id < 1 || strcmp(canon, s) != 0)
			fuzz_fail("gw_fields_id accepted a non-canonical id", s);
	}
	uint32_t u = 0;
	if (gw_fields_uint(s, 1, 200, &u)) {
		snprintf(canon, sizeof(canon), "%" PRIu32, u);
		if (u < 1 || u > 200 || strcmp(canon, s) != 0)
			fuzz_fail("gw_fields_uint accepted a non-canonical or out-of-range limit", s);
	}
	bool hex = strlen(s) == 24 && strspn(s, "0123456789abcdef") == 24;
	if (objectid_hex_valid(s) != hex)
		fuzz_fail("objectid_hex_valid disagrees with /^[0-9a-f]{24}$/", s);
	gw_problem p;
	int v = 0;
	if (!gw_fields_enum_value("status", s, gw_order_statuses.names, gw_order_statuses.values, gw_order_statuses.n,
	        &v, &p))
		fuzz_check_problem("gw_fields_enum_value", &p);
	else if (gw_enum_name(&gw_order_statuses, v) == NULL || strcmp(gw_enum_name(&gw_order_statuses, v), s) != 0)
		fuzz_fail("gw_fields_enum_value: value and name disagree", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* 1. the input as a request body */
	json_object *body = NULL;
	json_parse_status st = json_parse_body((const char *)data, size, JSON_BODY_MAX_DEPTH, &body);
	(void)json_parse_message(st);
	if (st == JSON_PARSE_OK) {
		if (body == NULL || !json_object_is_type(body, json_type_object))
			fuzz_fail("json_parse_body: OK without an object", NULL);
		/* the body reaches the services and the databases: it must be
		 * UTF-8 as RFC 8259 §8.1 says, which JSON_TOKENER_VALIDATE_UTF8
		 * is meant to ensure */
		if (!fuzz_skip_known && !fuzz_utf8_valid_n(data, size))
			fuzz_fail("json_parse_body accepted a body that is not valid UTF-8", "lib/json.c json_parse_body");
		/* strict RFC 8259, and no member lost: json-c cuts a name at
		 * \u0000 and keeps only the last of a name given twice */
		fuzz_ref ref;
		if (!fuzz_ref_json(data, size, &ref))
			fuzz_fail("json_parse_body accepted a body that is not RFC 8259 JSON", "lib/json.c json_parse_body");
		if (ref.nul_name)
			fuzz_fail("json_parse_body accepted a member name with \\u0000", "lib/json.c json_parse_body");
		if (fuzz_tree_members(body) != ref.members)
			fuzz_fail("json_parse_body accepted a member name given twice", "lib/json.c json_parse_body");
		fuzz_users(body);
		fuzz_orders(body);
		fuzz_payments(body);
		fuzz_members(body);
		json_object_put(body);
	} else if (body != NULL) {
		fuzz_fail("json_parse_body: an object on failure", NULL);
	}
	/* a refund may come without a body */
	{
		Comanda__RefundPaymentRequest rq;
		gw_problem p;
		if (!gw_payment_refund_request(NULL, 7, &rq, &p))
			fuzz_fail("payments.refund: refused an absent body", NULL);
	}

	/* 2. the input as raw text (up to its first NUL, as C code sees it) */
	char *s = fuzz_cstring(data, size);
	if (s == NULL)
		return 0;
	fuzz_money_text(s);
	fuzz_path_values(s);
	free(s);
	return 0;
}
