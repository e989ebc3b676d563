/*
 * gw_fields: strict readers of client input (JSON body members, path ids,
 * query integers), so every route judges types the same way and names the
 * offending field the same way.
 *
 * The rules (docs/API.md "Conventions"):
 *   - a member of the wrong JSON type is refused, null included
 *     ("name must be a string"); nothing is coerced ("7" is not 7);
 *   - strings with an embedded NUL ("\u0000") are refused: the services
 *     work on C strings and would see a shorter value than the client sent;
 *   - enums are closed sets of lower-case names; anything else is refused
 *     with the accepted names listed;
 *   - unknown members are refused ("nmae is not a known field"), so a typo
 *     never turns into a silently ignored change;
 *   - ids are canonical positive decimals ("7", not "07", "+7" or "7.0");
 *     order ids are 24 lower-case hexadecimal digits;
 *   - integers are integer literals (2, not 2.0, 1e0 or "2");
 *   - money is a JSON number in major units with at most 2 decimals, read
 *     from its literal text (lib/json), so 19.99 is exactly 1999 minor units.
 * Each reader reports the first problem in a gw_problem, which
 * gw_errors_respond_invalid turns into a 400 naming the field.
 *
 * Threading: pure functions; a json_object belongs to the calling thread.
 */
#ifndef COMANDA_GW_FIELDS_H
#define COMANDA_GW_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

typedef struct gw_problem {
	char field[64];                 /* valid UTF-8 (truncated on a character boundary) */
	char issue[160];
	bool internal;                  /* not the client's fault (out of memory): 500 */
} gw_problem;

/* Sets *p (field truncated to fit, without splitting a UTF-8 sequence). A
 * member named "" is reported as the field `""`, so every message names
 * something. */
void gw_problem_set(gw_problem *p, const char *field, const char *issue);

/* Sets *p to a failure of the gateway itself (answered 500, never shown). */
void gw_problem_internal(gw_problem *p, const char *issue);

typedef enum gw_field {
	GW_FIELD_BAD = -1,              /* present but unacceptable: *p says why */
	GW_FIELD_ABSENT = 0,
	GW_FIELD_OK = 1,
} gw_field;

/* A closed set of lower-case names and the enum values they stand for: how
 * a protobuf enum is spelled in the API's JSON. */
typedef struct gw_enum {
	const char *const *names;
	const int *values;
	size_t n;
} gw_enum;

/* The name of value v in e; NULL when e has none (unset or unknown values
 * render as JSON null). */
const char *gw_enum_name(const gw_enum *e, int v);

/* True when every member of obj is named in known (NULL-terminated);
 * otherwise false with "<member> is not a known field" in *p. */
bool gw_fields_known(json_object *obj, const char *const known[], gw_problem *p);

/* For a route that takes no body (json_parse_request_optional gave obj):
 * true when there was none (obj NULL) or it is {}; otherwise false with
 * the first member "is not a known field" in *p. A member is never
 * ignored, as on every other route ("all_sessions" on a logout, "hard" on
 * a DELETE, would otherwise read as done). */
bool gw_fields_none(json_object *obj, gw_problem *p);

/* Member name as a string. GW_FIELD_OK: *out borrows obj's storage (valid
 * while obj lives). */
gw_field gw_fields_string(json_object *obj, const char *name, const char **out, gw_problem *p);

/* The same, and absent is a problem too ("is required"): returns true only
 * when *out was set. */
bool gw_fields_string_required(json_object *obj, const char *name, const char **out, gw_problem *p);

/* Member name as one of names[0..n) (a string, compared exactly); on
 * GW_FIELD_OK *out = values[i]. The issue lists the names:
 * "must be one of: active, suspended". */
gw_field gw_fields_enum(json_object *obj, const char *name, const char *const names[], const int values[], size_t n,
    int *out, gw_problem *p);

/* Member name as a JSON integer (no fraction, no exponent: 2.0, 1e2 and "2"
 * are refused with "must be an integer"). Values beyond int64 saturate at
 * INT64_MIN / INT64_MAX (json-c's behaviour), so range checks still refuse
 * them. */
gw_field gw_fields_int64(json_object *obj, const char *name, int64_t *out, gw_problem *p);

/* obj[name] as a JSON true or false ("must be true or false" otherwise). */
gw_field gw_fields_bool(json_object *obj, const char *name, bool *out, gw_problem *p);

/* Member name as money (lib/json: a JSON number in major units with at most
 * 2 decimals, judged on its literal text, never through a double) into
 * *minor units. Refused: non-numbers (strings, null, NaN, Infinity),
 * negatives, a third non-zero decimal, amounts over JSON_MONEY_MAX_MINOR;
 * the issue is json_money_message's ("must not be negative"). */
gw_field gw_fields_money(json_object *obj, const char *name, int64_t *minor, gw_problem *p);

/* Member name as an array; GW_FIELD_OK: *out borrows it. Null and every
 * other type are refused with "must be an array". */
gw_field gw_fields_array(json_object *obj, const char *name, json_object **out, gw_problem *p);


/* The body of a status change: {"status": one of e's names (required),
 * "reason": text (optional)} and no other member. reason follows the text
 * rule of user names and products (lib/utf8 utf8_text): no control
 * character ("must not contain control characters"), and not blank: "",
 * white space or zero-width characters alone are "must not be empty". True
 * with *status and *reason (NULL when absent; borrowing body's storage),
 * else false with the problem in *p. Its length is the service's to judge. */
bool gw_fields_status_change(json_object *body, const gw_enum *e, int *status, const char **reason, gw_problem *p);

/* s (a query value, not a member) as one of names[0..n): true with
 * *out = values[i], else false with "<field> must be one of: a, b" in *p. */
bool gw_fields_enum_value(const char *field, const char *s, const char *const names[], const int values[], size_t n,
    int *out, gw_problem *p);

/* Parses a resource id from a path: a canonical decimal in 1..INT64_MAX.
 * Returns false for anything else (NULL, "", "0", "07", "-1", "1e3", " 7",
 * overflow). */
bool gw_fields_id(const char *s, int64_t *out);

/* Parses a query integer in [min, max] with the same canonical form as ids
 * (min >= 0). Returns false when s is not one. */
bool gw_fields_uint(const char *s, uint32_t min, uint32_t max, uint32_t *out);

#endif
