/*
 * json: the JSON conventions of Comanda's HTTP APIs on top of json-c 0.16
 * (the gateway and every service's admin port use them).
 *
 *  - parsing a request body with a nesting limit, telling apart empty,
 *    malformed, too deep and "valid JSON but not an object";
 *  - the error envelope {"success":false,"error","code","request_id",
 *    "details":[{"field","issue"}]};
 *  - serialising a json_object into a malloc'd body for httpd_respond_owned;
 *  - RFC 3339 timestamps with milliseconds;
 *  - money: int64 minor units <-> JSON numbers in major units with at most 2
 *    decimals. Parsing works on the number's literal text, never through a
 *    double, so 19.99 is exactly 1999 and 0.1 + 0.2 games cannot happen.
 *
 * Names avoid json-c's own (json_object_*, json_tokener_*, json_parse_int64).
 * This header includes <json-c/json.h>, so it is also a drop-in for code
 * that wrote `#include <json.h>` expecting json-c (-Ilib comes first).
 *
 * Threading: every function is thread-safe; a json_object belongs to one
 * thread at a time (json-c objects are not locked).
 */
#ifndef COMANDA_JSON_H
#define COMANDA_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "httpd.h"

/* Nesting depth accepted in request bodies: deeper is refused, not parsed.
 * Depth as json-c counts it, leaf values included: {"a":1} is 2,
 * {"items":[{"price":1}]} is 4. No Comanda body goes past 5. */
#define JSON_BODY_MAX_DEPTH 16

/* Largest money amount accepted from a client, in minor units (10^13 major
 * units). Far above any real amount, far below INT64_MAX, so a quantity up to
 * 10^3 times it cannot overflow; sums of many still need checked arithmetic. */
#define JSON_MONEY_MAX_MINOR 1000000000000000LL

/* ---- parsing ----------------------------------------------------------- */

typedef enum json_parse_status {
	JSON_PARSE_OK = 0,
	JSON_PARSE_EMPTY,       /* no body, or only whitespace */
	JSON_PARSE_MALFORMED,   /* not JSON: syntax, invalid UTF-8, trailing text,
	                         * a name with \u0000 or given twice */
	JSON_PARSE_TOO_DEEP,    /* nested deeper than max_depth */
	JSON_PARSE_NOT_OBJECT,  /* valid JSON whose top level is not an object */
	JSON_PARSE_NOMEM,
} json_parse_status;

/* Parses text[0..len) (a NUL at text[len] is not required) as one JSON object
 * at most max_depth deep (counted as for JSON_BODY_MAX_DEPTH; <= 0:
 * JSON_BODY_MAX_DEPTH). On JSON_PARSE_OK *out is a new object the caller
 * puts; otherwise *out is NULL. Strict RFC 8259, checked in one pass before
 * json-c (which even in strict mode takes single quotes, raw control
 * characters in strings, NaN and Infinity): anything else, trailing text
 * included, is malformed; so are a member name containing \u0000 and a
 * member name given twice in one object (I-JSON, RFC 7493). */
json_parse_status json_parse_body(const char *text, size_t len, int max_depth, json_object **out);

/* True when text[0..len) is no body for JSON: empty, or JSON white space
 * alone (what json_parse_body answers JSON_PARSE_EMPTY for). Pure. */
bool json_body_blank(const char *text, size_t len);

/* A client-safe sentence for a failed parse ("Malformed JSON in request body"). */
const char *json_parse_message(json_parse_status st);

/* The usual handler prologue: parses req's body as an object, at most
 * req->max_json_depth deep (<= 0: JSON_BODY_MAX_DEPTH). On failure
 * answers resp with 400 INVALID_ARGUMENT (500 when out of memory) naming the
 * problem and returns false; on success returns true with *out to put. */
bool json_parse_request(const httpd_request *req, httpd_response *resp, json_object **out);

/* The same for a route whose body is optional: no body, or only white space
 * (what json_parse_body calls empty), is true with *out NULL. */
bool json_parse_request_optional(const httpd_request *req, httpd_response *resp, json_object **out);

/* ---- building responses ------------------------------------------------ */

/* A new error envelope {"success":false,"error":message,"code":code,
 * "request_id":request_id}; request_id NULL or "" is left out. NULL when out
 * of memory. */
json_object *json_error_new(const char *message, const char *code, const char *request_id);

/* Appends {"field":field,"issue":issue} to err's "details" array (made on
 * first use). Returns 0, or -1 when out of memory. */
int json_error_add_detail(json_object *err, const char *field, const char *issue);

/* o as compact JSON text (no "\/" escaping) in a malloc'd NUL-terminated
 * string the caller frees; *len (may be NULL) gets its length. NULL when o is
 * NULL or out of memory. Does not consume o. */
char *json_dump(json_object *o, size_t *len);

/* Answers status with o as the body, and puts o (always, even on failure).
 * o NULL (a failed build) or no memory to serialise: a 500 INTERNAL envelope. */
void json_respond(httpd_response *resp, const httpd_request *req, int status, json_object *o);

/* ---- values ------------------------------------------------------------ */

/* unix_ms as an RFC 3339 UTC string with milliseconds, "2026-01-16T10:30:00.000Z".
 * NULL when out of memory. */
json_object *json_timestamp_new(int64_t unix_ms);

/* Writes minor units as major-unit text with at most 2 decimals and no
 * trailing zero decimals: 1999 -> "19.99", 1990 -> "19.9", 366000000 ->
 * "3660000", -5 -> "-0.05". Returns the length (snprintf-style). */
int json_money_format(char *dst, size_t cap, int64_t minor);

/* minor units as a JSON number that serialises exactly as json_money_format
 * writes it (an int when whole, else a double carrying its text). NULL when
 * out of memory. */
json_object *json_money_new(int64_t minor);

typedef enum json_money_status {
	JSON_MONEY_OK = 0,
	JSON_MONEY_NOT_NUMBER,  /* not a JSON number: string, bool, null, NaN, "1." ... */
	JSON_MONEY_NEGATIVE,    /* below zero (-0 is zero and accepted) */
	JSON_MONEY_TOO_PRECISE, /* a non-zero digit past the 2nd decimal (19.990 is fine) */
	JSON_MONEY_TOO_LARGE,   /* above JSON_MONEY_MAX_MINOR */
} json_money_status;

/* Parses the literal text of a JSON number (RFC 8259 grammar, exponents
 * allowed, nothing else: no spaces, no '+', no leading zeros, no hex) as
 * major units into *minor. *minor is written only on JSON_MONEY_OK. */
json_money_status json_money_parse_text(const char *text, int64_t *minor);

/* The same for a parsed value: an int is taken as is; a double is judged by
 * the text the tokener kept for it (json-c keeps a parsed double's literal
 * for re-serialisation, which is what json_object_to_json_string returns), so
 * values built with json_object_new_double without text are judged by their
 * %.17g form. NULL is JSON_MONEY_NOT_NUMBER. */
json_money_status json_money_from_json(json_object *v, int64_t *minor);

/* A client-safe issue for a detail entry: "must be a number", ... */
const char *json_money_message(json_money_status st);

#endif
