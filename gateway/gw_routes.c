/*
 * gw_routes: the route table and the matcher. See gw_routes.h.
 */
#include "gw_routes.h"

#include <stdio.h>
#include <string.h>

#include "gw_health.h"
#include "gw_metrics.h"
#include "gw_openapi.h"
#include "gw_orders.h"
#include "gw_payments.h"
#include "gw_session.h"
#include "gw_static.h"
#include "gw_users.h"

/* ------------------------------------------------------------------------ */
/* The table. One line per endpoint; order does not matter (see the header). */
/* ------------------------------------------------------------------------ */

static const gw_route gw_route_table[] = {
	/* probes and scrapers must never be throttled into "down" */
	{ "GET", "/health", gw_health_get, GW_AUTH_PUBLIC, GW_ROUTE_UNLIMITED },
	{ "GET", "/status", gw_health_status_get, GW_AUTH_PUBLIC, GW_ROUTE_UNLIMITED },
	{ "GET", "/ready", gw_health_ready_get, GW_AUTH_PUBLIC, GW_ROUTE_UNLIMITED },
	{ "GET", "/metrics", gw_metrics_get, GW_AUTH_PUBLIC, GW_ROUTE_UNLIMITED },
	{ "GET", "/openapi.json", gw_openapi_get, GW_AUTH_PUBLIC },

	{ "GET", "/", gw_static_get, GW_AUTH_PUBLIC },
	{ "GET", "/ui/{file}", gw_static_get, GW_AUTH_PUBLIC },
	{ "GET", "/ui/{dir}/{file}", gw_static_get, GW_AUTH_PUBLIC },

	{ "POST", "/api/users", gw_users_create, GW_AUTH_OPTIONAL },
	{ "GET", "/api/users", gw_users_list, GW_AUTH_ADMIN },
	{ "GET", "/api/users/me", gw_users_get_me, GW_AUTH_USER },
	{ "PATCH", "/api/users/me", gw_users_update_me, GW_AUTH_USER },
	{ "GET", "/api/users/{id}", gw_users_get, GW_AUTH_USER },
	{ "PATCH", "/api/users/{id}", gw_users_update, GW_AUTH_USER },
	{ "DELETE", "/api/users/{id}", gw_users_delete, GW_AUTH_ADMIN },

	{ "POST", "/api/auth/login", gw_session_login, GW_AUTH_PUBLIC },
	{ "POST", "/api/auth/refresh", gw_session_refresh, GW_AUTH_PUBLIC },
	{ "POST", "/api/auth/logout", gw_session_logout, GW_AUTH_USER },

	{ "POST", "/api/orders", gw_orders_create, GW_AUTH_USER },
	{ "GET", "/api/orders", gw_orders_list, GW_AUTH_USER },
	{ "GET", "/api/orders/stats", gw_orders_stats, GW_AUTH_USER },
	{ "GET", "/api/orders/{id}", gw_orders_get, GW_AUTH_USER },
	{ "PUT", "/api/orders/{id}/status", gw_orders_update_status, GW_AUTH_USER },

	{ "POST", "/api/payments", gw_payments_create, GW_AUTH_USER },
	{ "GET", "/api/payments", gw_payments_list, GW_AUTH_USER },
	{ "GET", "/api/payments/{id}", gw_payments_get, GW_AUTH_USER },
	{ "PUT", "/api/payments/{id}/status", gw_payments_update_status, GW_AUTH_ADMIN },
	{ "POST", "/api/payments/{id}/refund", gw_payments_refund, GW_AUTH_ADMIN },
	{ "GET", "/api/payments/{id}/audit", gw_payments_audit, GW_AUTH_ADMIN },
};

const gw_route *gw_routes(size_t *n)
{
	*n = sizeof(gw_route_table) / sizeof(gw_route_table[0]);
	return gw_route_table;
}

/* ------------------------------------------------------------------------ */
/* matching                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct gw_seg {
	const char *p;
	size_t n;
} gw_seg;

/* Splits an absolute path into its segments ("/" is one empty segment).
 * Returns the count, or -1 when s is not absolute or has too many. */
static int gw_split(const char *s, gw_seg *out)
{
	if (s == NULL || s[0] != '/')
		return -1;
	int n = 0;
	const char *p = s + 1;
	for (;;) {
		const char *e = strchr(p, '/');
		if (n == GW_MAX_SEGMENTS)
			return -1;
		out[n].p = p;
		out[n].n = e != NULL ? (size_t)(e - p) : strlen(p);
		n++;
		if (e == NULL)
			return n;
		p = e + 1;
	}
}

static bool gw_is_param(const gw_seg *s)
{
	return s->n >= 2 && s->p[0] == '{' && s->p[s->n - 1] == '}';
}

/* Whether the path split into xs[0..nx) fits pattern; *score ranks
 * specificity (a literal segment is a 1 bit, earlier segments weigh more).
 * Fills params when non-NULL. The pattern is walked segment by segment and
 * the walk stops at the first literal that differs, so most routes of the
 * table are ruled out after one or two segments: the path is split once per
 * request (gw_route_match), never once per route. */
static bool gw_shape_match(const char *pattern, const gw_seg *xs, int nx, unsigned *score, gw_params *params)
{
	if (pattern == NULL || pattern[0] != '/' || nx < 1)
		return false;
	unsigned sc = 0;
	if (params != NULL)
		params->n = 0;
	const char *p = pattern + 1;
	for (int i = 0;; i++) {
		if (i == nx)
			return false; /* the pattern has more segments */
		const char *e = strchr(p, '/');
		gw_seg ps = { p, e != NULL ? (size_t)(e - p) : strlen(p) };
		const gw_seg *x = &xs[i];
		if (gw_is_param(&ps)) {
			if (x->n == 0)
				return false;
			if (params != NULL && params->n < GW_MAX_PARAMS) {
				size_t nn = ps.n - 2;
				if (nn >= GW_PARAM_NAME_MAX)
					nn = GW_PARAM_NAME_MAX - 1;
				memcpy(params->p[params->n].name, ps.p + 1, nn);
				params->p[params->n].name[nn] = '\0';
				/* A value too long to keep still matches, as "": no
				 * parameter (an id, a file name) is valid empty, so its
				 * handler refuses it (400 naming id) instead of the
				 * whole route being a 404 "Route not found". */
				size_t vn = x->n < GW_PARAM_MAX ? x->n : 0;
				memcpy(params->p[params->n].value, x->p, vn);
				params->p[params->n].value[vn] = '\0';
				params->n++;
			}
			sc <<= 1;
		} else {
			if (ps.n != x->n || memcmp(ps.p, x->p, ps.n) != 0)
				return false;
			sc = (sc << 1) | 1u;
		}
		if (e == NULL) {
			if (i + 1 != nx)
				return false; /* the path has more segments */
			break;
		}
		p = e + 1;
	}
	*score = sc;
	return true;
}

static bool gw_method_serves(const char *route_method, const char *method)
{
	return strcmp(route_method, method) == 0 || (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

/* Appends m to the comma-separated list in allow unless present. */
static void gw_allow_add(char *allow, size_t cap, const char *m)
{
	size_t ml = strlen(m);
	for (const char *p = allow; *p != '\0';) {
		size_t n = strcspn(p, ",");
		if (n == ml && memcmp(p, m, ml) == 0)
			return;
		p += n;
		while (*p == ',' || *p == ' ')
			p++;
	}
	size_t len = strlen(allow);
	snprintf(allow + len, cap - len, "%s%s", len > 0 ? ", " : "", m);
}

gw_match_result gw_route_match(const gw_route *table, size_t n, const char *method, const char *path,
    const gw_route **route, gw_params *params, char *allow, size_t allow_cap)
{
	*route = NULL;
	params->n = 0;
	if (allow != NULL && allow_cap > 0)
		allow[0] = '\0';
	gw_seg xs[GW_MAX_SEGMENTS];
	int nx = gw_split(path, xs);
	if (nx < 0)
		return GW_MATCH_NOT_FOUND; /* not absolute, or more segments than any route */
	const gw_route *best_any = NULL, *best_method = NULL;
	unsigned best = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned sc = 0;
		if (!gw_shape_match(table[i].pattern, xs, nx, &sc, NULL))
			continue;
		if (best_any == NULL || sc > best) {
			best = sc;
			best_any = &table[i];
			best_method = NULL;
		}
		if (sc == best && best_method == NULL && gw_method_serves(table[i].method, method))
			best_method = &table[i];
	}
	if (best_any == NULL)
		return GW_MATCH_NOT_FOUND;
	if (best_method != NULL) {
		*route = best_method;
		gw_shape_match(best_method->pattern, xs, nx, &best, params);
		return GW_MATCH_OK;
	}
	*route = best_any;
	if (allow != NULL && allow_cap > 0) {
		for (size_t i = 0; i < n; i++) {
			unsigned sc = 0;
			if (!gw_shape_match(table[i].pattern, xs, nx, &sc, NULL) || sc != best)
				continue;
			gw_allow_add(allow, allow_cap, table[i].method);
			if (strcmp(table[i].method, "GET") == 0)
				gw_allow_add(allow, allow_cap, "HEAD");
		}
	}
	return GW_MATCH_METHOD_NOT_ALLOWED;
}

const char *gw_param(const gw_request *req, const char *name)
{
	for (size_t i = 0; i < req->params.n && i < GW_MAX_PARAMS; i++)
		if (strcmp(req->params.p[i].name, name) == 0)
			return req->params.p[i].value;
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* table validation                                                         */
/* ------------------------------------------------------------------------ */

static bool gw_param_name_ok(const gw_seg *s)
{
	if (s->n < 3 || s->n - 2 >= GW_PARAM_NAME_MAX)
		return false;
	for (size_t i = 1; i + 1 < s->n; i++) {
		char c = s->p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* Same segments, with every parameter equal to every other parameter. */
static bool gw_same_shape(const char *a, const char *b)
{
	gw_seg as[GW_MAX_SEGMENTS], bs[GW_MAX_SEGMENTS];
	int na = gw_split(a, as), nb = gw_split(b, bs);
	if (na < 0 || na != nb)
		return false;
	for (int i = 0; i < na; i++) {
		bool pa = gw_is_param(&as[i]), pb = gw_is_param(&bs[i]);
		if (pa != pb)
			return false;
		if (!pa && (as[i].n != bs[i].n || memcmp(as[i].p, bs[i].p, as[i].n) != 0))
			return false;
	}
	return true;
}

bool gw_routes_valid(const gw_route *table, size_t n, char *why, size_t why_cap)
{
	for (size_t i = 0; i < n; i++) {
		const gw_route *r = &table[i];
		gw_seg s[GW_MAX_SEGMENTS];
		int ns = r->pattern != NULL ? gw_split(r->pattern, s) : -1;
		if (r->method == NULL || r->method[0] == '\0' || r->handler == NULL || ns < 0) {
			snprintf(why, why_cap, "route %zu (%s): missing method or handler, or bad pattern", i,
			    r->pattern != NULL ? r->pattern : "(null)");
			return false;
		}
		int nparams = 0;
		for (int k = 0; k < ns; k++) {
			bool braces = memchr(s[k].p, '{', s[k].n) != NULL || memchr(s[k].p, '}', s[k].n) != NULL;
			if (gw_is_param(&s[k])) {
				nparams++;
				if (!gw_param_name_ok(&s[k])) {
					snprintf(why, why_cap, "%s %s: bad parameter name", r->method, r->pattern);
					return false;
				}
			} else if (braces) {
				snprintf(why, why_cap, "%s %s: a { } must span a whole segment", r->method, r->pattern);
				return false;
			}
		}
		if (nparams > GW_MAX_PARAMS) {
			snprintf(why, why_cap, "%s %s: more than %d parameters", r->method, r->pattern, GW_MAX_PARAMS);
			return false;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(table[j].method, r->method) == 0 && gw_same_shape(table[j].pattern, r->pattern)) {
				snprintf(why, why_cap, "%s %s: same method and shape as %s", r->method, r->pattern,
				    table[j].pattern);
				return false;
			}
		}
	}
	if (why_cap > 0)
		why[0] = '\0';
	return true;
}
