/*
 * gw_http: the shared request path. See gw_http.h.
 */
#include "gw_http.h"

#include <string.h>
#include <strings.h>

#include "gw_auth.h"
#include "gw_cors.h"
#include "gw_errors.h"
#include "gw_fields.h"
#include "gw_metrics.h"
#include "gw_ratelimit.h"
#include "json.h"

bool gw_http_is_json(const char *ct)
{
	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	size_t n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	static const char app[] = "application/";
	const size_t al = sizeof(app) - 1;
	if (n <= al || strncasecmp(ct, app, al) != 0)
		return false;
	if (n == al + 4 && strncasecmp(ct + al, "json", 4) == 0)
		return true;
	/* structured syntax suffix (RFC 6839): application/problem+json etc. */
	return n > al + 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* The longest repeated query key an error names (gw_http_route). */
#define GW_HTTP_KEY_NAMED_MAX 64

bool gw_http_no_body(const gw_request *req, httpd_response *resp)
{
	json_object *body = NULL;
	if (!json_parse_request_optional(req->http, resp, &body))
		return false;
	gw_problem p;
	bool none = gw_fields_none(body, &p);
	json_object_put(body);
	if (!none)
		gw_errors_respond_invalid(resp, req->http, p.field, p.issue);
	return none;
}

static bool gw_http_has_body_method(const char *m)
{
	/* DELETE too: its body is refused unless empty or {} (gw_fields_none),
	 * and a body in another type is the 415 of any other body */
	return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0 || strcmp(m, "DELETE") == 0;
}

/* Steps 2-7 of gw_http.h, for a request that is not a preflight. */
static void gw_http_route(gw_app *app, const gw_route *table, size_t n, const httpd_request *req,
    httpd_response *resp)
{
	gw_request g;
	memset(&g, 0, sizeof(g));
	g.http = req;
	char allow[128];
	/* an encoded '/' is data inside a segment, and no route has a segment
	 * that holds one: the path matches nothing (lib/httpd.h) */
	gw_match_result m = req->path_encoded_slash ? GW_MATCH_NOT_FOUND
	                                     : gw_route_match(table, n, req->method, req->path, &g.route, &g.params,
	                                           allow, sizeof(allow));
	switch (m) {
	case GW_MATCH_NOT_FOUND:
		/* no route label: unknown paths must not create metric series */
		resp->route = NULL;
		httpd_set_caller(resp, "anonymous"); /* not authenticated: nothing to run */
		/* scanners pay too: charged to the address */
		if (!gw_ratelimit_request(app->limits, &g, resp))
			return;
		httpd_respond_error(resp, req, 404, "NOT_FOUND", "Route not found");
		return;
	case GW_MATCH_METHOD_NOT_ALLOWED:
		resp->route = g.route->pattern;
		httpd_set_caller(resp, "anonymous");
		/* charged even on an exempt route: only its own method is a probe */
		if (!gw_ratelimit_request(app->limits, &g, resp))
			return;
		httpd_respond_error(resp, req, 405, "METHOD_NOT_ALLOWED", "Method not allowed");
		httpd_add_header(resp, "Allow", allow);
		return;
	case GW_MATCH_OK:
		break;
	}
	resp->route = g.route->pattern;
	/* Who calls decides whose bucket pays, so auth runs first; a refused
	 * token still pays (to the address), so guessing tokens is limited. */
	bool authorized = gw_auth_authorize(app, &g, resp);
	if ((g.route->flags & GW_ROUTE_UNLIMITED) == 0 && !gw_ratelimit_request(app->limits, &g, resp))
		return;
	if (!authorized)
		return;
	if (req->body_len > 0 && gw_http_has_body_method(req->method) &&
	    !gw_http_is_json(httpd_header(req, "Content-Type")) &&
	    /* white space alone is no body (API.md: a refund takes none, "white
	     * space alone counts as none"), so it needs no Content-Type either */
	    !json_body_blank(req->body, req->body_len)) {
		httpd_respond_error(resp, req, 415, "UNSUPPORTED_MEDIA_TYPE",
		    "Content-Type must be application/json");
		return;
	}
	const char *twice = httpd_query_repeated(req);
	if (twice != NULL) {
		/* named when it reads as a name; a long key is the client's text */
		gw_errors_respond_invalid(resp, req, strlen(twice) <= GW_HTTP_KEY_NAMED_MAX ? twice : "query",
		    "must be given once");
		return;
	}
	g.route->handler(app, &g, resp);
}

/* A CORS preflight: answered here, for the methods the path has. */
static void gw_http_preflight(gw_app *app, const gw_route *table, size_t n, const httpd_request *req,
    httpd_response *resp)
{
	const gw_route *route = NULL;
	gw_params params;
	char allow[128];
	if (req->path_encoded_slash ||
	    gw_route_match(table, n, req->method, req->path, &route, &params, allow, sizeof(allow)) ==
	        GW_MATCH_NOT_FOUND) {
		resp->route = NULL;
		httpd_respond_error(resp, req, 404, "NOT_FOUND", "Route not found");
		return;
	}
	resp->route = route->pattern;
	/* OPTIONS itself never has a route: allow names the path's methods */
	gw_cors_preflight(app->cors, req, allow, resp);
}

void gw_http_dispatch(gw_app *app, const gw_route *table, size_t n, const httpd_request *req,
    httpd_response *resp)
{
	if (gw_cors_is_preflight(req)) {
		gw_http_preflight(app, table, n, req, resp);
		return;
	}
	gw_http_route(app, table, n, req, resp);
	gw_cors_decorate(app->cors, req, resp);
}

void gw_http_decorate(void *arg, const httpd_request *req, httpd_response *resp)
{
	const gw_app *app = arg;
	gw_cors_decorate(app->cors, req, resp);
}

void gw_http_handle(void *arg, const httpd_request *req, httpd_response *resp)
{
	size_t n = 0;
	const gw_route *table = gw_routes(&n);
	gw_metrics_in_flight(1);
	gw_http_dispatch(arg, table, n, req, resp);
	gw_metrics_in_flight(-1);
}
