/*
 * gw_auth: who is calling, and may they call this route.
 *
 * Today only public routes exist and tokens are not verified yet: a route of
 * class GW_AUTH_USER or GW_AUTH_ADMIN is refused with 401 (fail closed), so a
 * route added before authentication lands cannot be reached anonymously.
 * The JWT issue replaces gw_auth_authorize's body; the dispatcher and the
 * table stay as they are.
 *
 * Threading: any thread; no shared state.
 */
#ifndef COMANDA_GW_AUTH_H
#define COMANDA_GW_AUTH_H

#include <stdbool.h>

#include "gw_app.h"
#include "gw_routes.h"
#include "httpd.h"

/* Fills req->caller_id / caller_role and resp->caller (the log's "caller",
 * a static string or one that lives until the request is logged) and returns
 * true when req may run req->route; otherwise answers resp (401 with
 * WWW-Authenticate: Bearer, or 403) and returns false. */
bool gw_auth_authorize(gw_app *app, gw_request *req, httpd_response *resp);

#endif
