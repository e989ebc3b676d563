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
 *   - ids are canonical positive decimals ("7", not "07", "+7" or "7.0").
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
} gw_problem;

/* Sets *p (field truncated to fit, without splitting a UTF-8 sequence). */
void gw_problem_set(gw_problem *p, const char *field, const char *issue);

typedef enum gw_field {
	GW_FIELD_BAD = -1,              /* present but unacceptable: *p says why */
	GW_FIELD_ABSENT = 0,
	GW_FIELD_OK = 1,
} gw_field;

/* True when every member of obj is named in known (NULL-terminated);
 * otherwise false with "<member> is not a known field" in *p. */
bool gw_fields_known(json_object *obj, const char *const known[], gw_problem *p);

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

/* Parses a resource id from a path: a canonical decimal in 1..INT64_MAX.
 * Returns false for anything else (NULL, "", "0", "07", "-1", "1e3", " 7",
 * overflow). */
bool gw_fields_id(const char *s, int64_t *out);

/* Parses a query integer in [min, max] with the same canonical form as ids
 * (min >= 0). Returns false when s is not one. */
bool gw_fields_uint(const char *s, uint32_t min, uint32_t max, uint32_t *out);

#endif
