/*
 * gw_routes: the gateway's route table, as data, and the matcher.
 *
 * A route is {method, pattern, handler, auth, flags}; a pattern is a path whose
 * segments are literals or {name} parameters: "/api/users/{id}". Adding an
 * endpoint is one line in the table in gw_routes.c.
 *
 * Matching a request path:
 *   - a {param} matches one non-empty segment; one of GW_PARAM_MAX bytes
 *     or more matches with the value "", which no parameter accepts, so the
 *     handler answers as for any bad value (400 naming id); no
 *     trailing-slash folding;
 *   - when several patterns match, the most specific wins: the one with a
 *     literal at the first segment where they differ ("/api/users/me" beats
 *     "/api/users/{id}"), whatever their order in the table;
 *   - no pattern matches -> GW_MATCH_NOT_FOUND (404);
 *     the winning pattern has no route for the method -> GW_MATCH_METHOD_NOT_ALLOWED
 *     (405) with the methods it has, for the Allow header;
 *   - HEAD is served by a GET route (the body is dropped by the server).
 *
 * Threading: the table is constant; everything here is reentrant.
 */
#ifndef COMANDA_GW_ROUTES_H
#define COMANDA_GW_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_app.h"
#include "httpd.h"

#define GW_MAX_PARAMS 4
#define GW_PARAM_NAME_MAX 32
#define GW_PARAM_MAX 128
#define GW_MAX_SEGMENTS 16

/* Who may call a route. Checked by gw_auth before the handler runs. */
typedef enum gw_auth_class {
	GW_AUTH_PUBLIC = 0,     /* anyone; an Authorization header is not even read */
	GW_AUTH_USER,           /* any authenticated user (customer or admin) */
	GW_AUTH_ADMIN,          /* admins only */
	GW_AUTH_OPTIONAL,       /* anyone; a token, when sent, must be valid and
	                         * makes the caller that user (sign-up by an admin) */
} gw_auth_class;

/* Route flags (a bit set; 0 for most routes). */
enum {
	GW_ROUTE_UNLIMITED = 1u << 0,   /* not charged to any rate limit (gw_ratelimit) */
};

typedef struct gw_params {
	size_t n;
	struct {
		char name[GW_PARAM_NAME_MAX];
		char value[GW_PARAM_MAX];   /* as decoded by the server, NUL-terminated */
	} p[GW_MAX_PARAMS];
} gw_params;

typedef struct gw_route gw_route;

/* One request as a handler sees it. Lives on the dispatcher's stack for the
 * duration of the handler call. */
typedef struct gw_request {
	const httpd_request *http;
	const gw_route *route;
	gw_params params;
	int64_t caller_id;              /* 0: anonymous; filled by gw_auth */
	int caller_role;                /* COMANDA__ROLE__* */
	int64_t session_id;             /* the token's `sid` claim; 0: anonymous */
} gw_request;

/* A handler answers resp (httpd_respond*, json_respond, gw_errors_respond).
 * Runs on an HTTP pool thread, many at once. */
typedef void (*gw_handler_fn)(gw_app *app, const gw_request *req, httpd_response *resp);

struct gw_route {
	const char *method;             /* "GET", "POST", ... */
	const char *pattern;            /* "/api/users/{id}"; also the metrics/log route label */
	gw_handler_fn handler;
	gw_auth_class auth;
	unsigned flags;                 /* GW_ROUTE_*; may be left out of a table line (0) */
};

typedef enum gw_match_result {
	GW_MATCH_OK = 0,
	GW_MATCH_NOT_FOUND,
	GW_MATCH_METHOD_NOT_ALLOWED,
} gw_match_result;

/* The gateway's table and its length. */
const gw_route *gw_routes(size_t *n);

/* Matches method and path against table[0..n).
 * GW_MATCH_OK: *route is the route, *params its parameters.
 * GW_MATCH_METHOD_NOT_ALLOWED: *route is a route of the winning pattern (for
 *   its label), allow gets "GET, HEAD, POST"-style text (cap >= 64 advised).
 * GW_MATCH_NOT_FOUND: *route is NULL.
 * allow may be NULL. */
gw_match_result gw_route_match(const gw_route *table, size_t n, const char *method, const char *path,
    const gw_route **route, gw_params *params, char *allow, size_t allow_cap);

/* The value of parameter name, NULL when the pattern has none. */
const char *gw_param(const gw_request *req, const char *name);

/* Checks a table for mistakes a new line could make: a pattern not starting
 * with '/', an unclosed or empty {}, too many parameters or segments, a NULL
 * handler, two routes for the same method and pattern shape. Returns true
 * when sound; else false with the reason in why. main refuses to start with
 * a bad table and a unit test checks the real one. */
bool gw_routes_valid(const gw_route *table, size_t n, char *why, size_t why_cap);

#endif
