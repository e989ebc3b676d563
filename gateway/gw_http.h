/*
 * gw_http: the gateway's shared request path, between lib/httpd and the
 * route handlers. In order, for every request:
 *
 *   1. a CORS preflight (gw_cors) is answered at once: 204 for an allowed
 *      origin on a known path, 403 for another origin, 404 for an unknown
 *      path; nothing below runs for it;
 *   2. route match: no pattern -> 404 NOT_FOUND; pattern but not the method
 *      -> 405 METHOD_NOT_ALLOWED with Allow (both charged to the address by
 *      the rate limit first, as in 4);
 *   3. gw_auth: who calls, and whether they may (401/403);
 *   4. gw_ratelimit, unless the route is GW_ROUTE_UNLIMITED: the caller's
 *      bucket (the user, else the address; a request refused in 3 pays to
 *      the address) -> 429 RESOURCE_EXHAUSTED replacing any 401/403; the
 *      RateLimit headers go on every answer from here on;
 *   5. the 401/403 of step 3, if any;
 *   6. a body on POST/PUT/PATCH/DELETE whose Content-Type is not JSON
 *      (application/json or application/<x>+json, any parameters) ->
 *      415 UNSUPPORTED_MEDIA_TYPE; a missing Content-Type counts as not JSON
 *      (a body of white space alone is no body and needs none);
 *      a query parameter given twice (httpd_query_repeated) -> 400
 *      INVALID_ARGUMENT naming it, "must be given once";
 *   7. the route's handler. A handler that needs a service starts its RPC
 *      with gw_call_async and returns: the connection is suspended, the
 *      HTTP thread serves other connections, and the answer is rendered on
 *      an NNG thread when the reply comes (then step 8 runs there);
 *   8. gw_cors adds the CORS headers for an allowed Origin.
 * (413/414/431 for oversized requests and the JSON 500 for a handler that
 * answers nothing come from lib/httpd, before and after all this.)
 *
 * Threading: called on the HTTP pool threads, many at once.
 */
#ifndef COMANDA_GW_HTTP_H
#define COMANDA_GW_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_app.h"
#include "gw_routes.h"
#include "httpd.h"

/* The httpd_handler_fn of the gateway: arg is the gw_app. Serves the table
 * of gw_routes() and counts the request as in flight while it runs (and a
 * deferred one until its answer is in). */
void gw_http_handle(void *arg, const httpd_request *req, httpd_response *resp);

/* httpd's decorate hook (arg: the gw_app): the CORS headers on the answers
 * lib/httpd makes by itself (413, 414, 431), as on every other answer. */
void gw_http_decorate(void *arg, const httpd_request *req, httpd_response *resp);

/* Steps 1-8 above against any table (the unit tests bring their own). */
void gw_http_dispatch(gw_app *app, const gw_route *table, size_t n, const httpd_request *req,
    httpd_response *resp);

/* For a handler whose route takes no body: true when the request has none,
 * white space alone or {} (gw_fields_none); otherwise false with resp
 * holding the answer: 400 for malformed JSON or any member (never ignored:
 * "all_sessions" on a logout would read as done), 413 as for any body.
 * Threading: a handler's thread. */
bool gw_http_no_body(const gw_request *req, httpd_response *resp);

/* True when a Content-Type value names JSON (see step 3). NULL is false. */
bool gw_http_is_json(const char *content_type);

#endif
