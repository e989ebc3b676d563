/*
 * gw_session: the /api/auth routes (../API.md "Authentication and roles"),
 * each one svc-user RPC:
 *
 *   POST /api/auth/login    public  {email, password} -> 200 {success, token,
 *                           token_type:"Bearer", expires_in, refresh_token, user};
 *                           401 "Invalid email or password" for an unknown
 *                           e-mail and a wrong password alike; 429 once the
 *                           failed-login limits of gw_ratelimit are reached
 *                           (checked before svc-user is asked)
 *   POST /api/auth/refresh  public  {refresh_token} -> 200, the same shape with a
 *                           new pair; the old refresh token stops working, and
 *                           presenting it again revokes the whole session
 *   POST /api/auth/logout   user    (no body needed) -> 200 {success, message};
 *                           revokes the session of the presented access token
 *                           (its sid claim): its refresh tokens stop working
 *
 * Token responses carry Cache-Control: no-store (RFC 6749 §5.1).
 *
 * Threading: handlers run on HTTP pool threads, many at once.
 */
#ifndef COMANDA_GW_SESSION_H
#define COMANDA_GW_SESSION_H

#include "gw_app.h"
#include "gw_routes.h"
#include "httpd.h"

/* The route handlers (gw_handler_fn, named in gw_routes.c) of the table
 * above. Each answers resp on every path and frees what it made. */
void gw_session_login(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_session_refresh(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_session_logout(gw_app *app, const gw_request *req, httpd_response *resp);

#endif
