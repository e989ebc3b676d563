/*
 * gw_http: the gateway's shared request path, between lib/httpd and the
 * route handlers. In order, for every request:
 *
 *   1. route match: no pattern -> 404 NOT_FOUND; pattern but not the method
 *      -> 405 METHOD_NOT_ALLOWED with Allow;
 *   2. gw_auth: 401/403 for routes the caller may not use;
 *   3. a body on POST/PUT/PATCH whose Content-Type is not JSON
 *      (application/json or application/<x>+json, any parameters) ->
 *      415 UNSUPPORTED_MEDIA_TYPE; a missing Content-Type counts as not JSON;
 *   4. the route's handler.
 * (413 for a body over 1 MiB and the JSON 500 for a handler that answers
 * nothing come from lib/httpd.)
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
 * of gw_routes() and counts the request as in flight while it runs. */
void gw_http_handle(void *arg, const httpd_request *req, httpd_response *resp);

/* Steps 1-4 above against any table (the unit tests bring their own). */
void gw_http_dispatch(gw_app *app, const gw_route *table, size_t n, const httpd_request *req,
    httpd_response *resp);

/* True when a Content-Type value names JSON (see step 3). NULL is false. */
bool gw_http_is_json(const char *content_type);

#endif
