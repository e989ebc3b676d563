/*
 * gw_fields: strict readers of client input. See gw_fields.h.
 */
#include "gw_fields.h"

#include "utf8.h"

#include <stdio.h>
#include <string.h>

#include "json.h"

void gw_problem_internal(gw_problem *p, const char *issue)
{
	gw_problem_set(p, "internal", issue);
	p->internal = true;
}

void gw_problem_set(gw_problem *p, const char *field, const char *issue)
{
	p->internal = false;
	if (field[0] == '\0')
		field = "\"\"";
	size_t n = strlen(field);
	if (n >= sizeof(p->field)) {
		n = sizeof(p->field) - 1;
		/* back off UTF-8 continuation bytes: a response must stay valid UTF-8 */
		while (n > 0 && ((unsigned char)field[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(p->field, field, n);
	p->field[n] = '\0';
	snprintf(p->issue, sizeof(p->issue), "%s", issue);
}

const char *gw_enum_name(const gw_enum *e, int v)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->values[i] == v)
			return e->names[i];
	return NULL;
}

bool gw_fields_known(json_object *obj, const char *const known[], gw_problem *p)
{
	json_object_object_foreach(obj, key, val)
	{
		(void)val;
		bool ok = false;
		for (size_t i = 0; known[i] != NULL && !ok; i++)
			ok = strcmp(known[i], key) == 0;
		if (!ok) {
			gw_problem_set(p, key, "is not a known field");
			return false;
		}
	}
	return true;
}

bool gw_fields_none(json_object *obj, gw_problem *p)
{
	static const char *const none[] = { NULL };
	return obj == NULL || gw_fields_known(obj, none, p);
}

gw_field gw_fields_string(json_object *obj, const char *name, const char **out, gw_problem *p)
{
	json_object *v = NULL;
	*out = NULL;
	if (!json_object_object_get_ex(obj, name, &v))
		return GW_FIELD_ABSENT;
	/* a member that is JSON null is present: v is NULL, and not a string */
	if (v == NULL || !json_object_is_type(v, json_type_string)) {
		gw_problem_set(p, name, "must be a string");
		return GW_FIELD_BAD;
	}
	const char *s = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len) {
		gw_problem_set(p, name, "must not contain NUL characters");
		return GW_FIELD_BAD;
	}
	/* json_parse_body checked the raw body, and json-c turns escaped lone
	 * surrogates into U+FFFD; this guards objects built any other way, since
	 * the databases refuse invalid UTF-8 with an error that would be a 500. */
	if (!utf8_valid(s, len)) {
		gw_problem_set(p, name, "must be valid UTF-8 (no lone surrogates)");
		return GW_FIELD_BAD;
	}
	*out = s;
	return GW_FIELD_OK;
}

gw_field gw_fields_bool(json_object *obj, const char *name, bool *out, gw_problem *p)
{
	json_object *v = NULL;
	*out = false;
	if (!json_object_object_get_ex(obj, name, &v))
		return GW_FIELD_ABSENT;
	if (v == NULL || !json_object_is_type(v, json_type_boolean)) {
		gw_problem_set(p, name, "must be true or false");
		return GW_FIELD_BAD;
	}
	*out = json_object_get_boolean(v) != 0;
	return GW_FIELD_OK;
}

bool gw_fields_string_required(json_object *obj, const char *name, const char **out, gw_problem *p)
{
	gw_field f = gw_fields_string(obj, name, out, p);
	if (f == GW_FIELD_ABSENT)
		gw_problem_set(p, name, "is required");
	return f == GW_FIELD_OK;
}

bool gw_fields_status_change(json_object *body, const gw_enum *e, int *status, const char **reason, gw_problem *p)
{
	static const char *const known[] = { "status", "reason", NULL };
	*reason = NULL;
	if (!gw_fields_known(body, known, p))
		return false;
	gw_field f = gw_fields_enum(body, "status", e->names, e->values, e->n, status, p);
	if (f == GW_FIELD_ABSENT)
		gw_problem_set(p, "status", "is required");
	if (f != GW_FIELD_OK || (f = gw_fields_string(body, "reason", reason, p)) == GW_FIELD_BAD)
		return false;
	if (f == GW_FIELD_ABSENT)
		return true;
	/* A reason is text people read (an order's history, a payment's
	 * failure_reason, the UI, logs): the one rule of names and products
	 * (lib/utf8 utf8_text). Blank includes "", which would reach the
	 * service as "no reason" and turn into its default ("changed by the
	 * customer", "marked failed by an admin"). */
	bool blank;
	long chars = utf8_text(*reason, strlen(*reason), &blank);
	if (chars < 0) /* (invalid UTF-8 was refused by gw_fields_string already) */
		gw_problem_set(p, "reason",
		    chars == UTF8_TEXT_CONTROL ? "must not contain control characters" : "must be valid UTF-8");
	else if (blank)
		gw_problem_set(p, "reason", "must not be empty");
	else
		return true;
	*reason = NULL;
	return false;
}

bool gw_fields_enum_value(const char *field, const char *s, const char *const names[], const int values[], size_t n,
    int *out, gw_problem *p)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = values[i];
			return true;
		}
	}
	char issue[sizeof(p->issue)];
	size_t len = (size_t)snprintf(issue, sizeof(issue), "must be one of:");
	for (size_t i = 0; i < n && len < sizeof(issue); i++)
		len += (size_t)snprintf(issue + len, sizeof(issue) - len, "%s %s", i > 0 ? "," : "", names[i]);
	gw_problem_set(p, field, issue);
	return false;
}

gw_field gw_fields_enum(json_object *obj, const char *name, const char *const names[], const int values[], size_t n,
    int *out, gw_problem *p)
{
	const char *s = NULL;
	gw_field f = gw_fields_string(obj, name, &s, p);
	if (f != GW_FIELD_OK)
		return f;
	return gw_fields_enum_value(name, s, names, values, n, out, p) ? GW_FIELD_OK : GW_FIELD_BAD;
}

gw_field gw_fields_int64(json_object *obj, const char *name, int64_t *out, gw_problem *p)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(obj, name, &v))
		return GW_FIELD_ABSENT;
	/* json-c types 2.0 and 1e2 as doubles: only an integer literal is an int */
	if (v == NULL || !json_object_is_type(v, json_type_int)) {
		gw_problem_set(p, name, "must be an integer");
		return GW_FIELD_BAD;
	}
	*out = json_object_get_int64(v);
	return GW_FIELD_OK;
}

gw_field gw_fields_money(json_object *obj, const char *name, int64_t *minor, gw_problem *p)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(obj, name, &v))
		return GW_FIELD_ABSENT;
	json_money_status st = json_money_from_json(v, minor);
	if (st != JSON_MONEY_OK) {
		gw_problem_set(p, name, json_money_message(st));
		return GW_FIELD_BAD;
	}
	return GW_FIELD_OK;
}

gw_field gw_fields_array(json_object *obj, const char *name, json_object **out, gw_problem *p)
{
	json_object *v = NULL;
	*out = NULL;
	if (!json_object_object_get_ex(obj, name, &v))
		return GW_FIELD_ABSENT;
	if (v == NULL || !json_object_is_type(v, json_type_array)) {
		gw_problem_set(p, name, "must be an array");
		return GW_FIELD_BAD;
	}
	*out = v;
	return GW_FIELD_OK;
}

/* A canonical non-negative decimal that fits in max: digits only, no
 * leading zero (except "0" itself), no overflow. */
static bool gw_fields_decimal(const char *s, uint64_t max, uint64_t *out)
{
	if (s == NULL || s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return false;
	uint64_t v = 0;
	for (const char *c = s; *c != '\0'; c++) {
		if (*c < '0' || *c > '9')
			return false;
		unsigned d = (unsigned)(*c - '0');
		if (d > max || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool gw_fields_id(const char *s, int64_t *out)
{
	uint64_t v = 0;
	if (!gw_fields_decimal(s, (uint64_t)INT64_MAX, &v) || v == 0)
		return false;
	*out = (int64_t)v;
	return true;
}

bool gw_fields_uint(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	if (!gw_fields_decimal(s, max, &v) || v < min)
		return false;
	*out = (uint32_t)v;
	return true;
}
