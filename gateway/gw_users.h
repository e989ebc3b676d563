/*
 * gw_users: the /api/users routes (../API.md "Users"), each a translation
 * of JSON to one svc-user RPC and back (gw_user_codec), on behalf of the
 * caller gw_auth verified (gw_call). svc-user decides what a caller may do
 * and validates values; these handlers only judge shapes and ids.
 *
 *   POST   /api/users        optional auth  201 {success,message,user}
 *                            (Idempotency-Key; a replay adds
 *                            Idempotent-Replayed: true; Location: the user)
 *   GET    /api/users        admin          200 {success,count,users,next_cursor}
 *                            ?limit=1..200 (default 50) &cursor=<next_cursor> (gw_list)
 *   GET    /api/users/me     user           200 {success,user}
 *   PATCH  /api/users/me     user           200 {success,message,user} (own account)
 *   GET    /api/users/{id}   user           200 {success,user}; another's: 404
 *   PATCH  /api/users/{id}   user           200 {success,message,user}
 *   DELETE /api/users/{id}   admin          200 {success,message,user} (soft delete)
 *
 * A malformed {id}, limit or cursor is 400 naming it; RPC failures go
 * through gw_errors.
 *
 * A PATCH changing the caller's own password (current_password set) is a
 * password guess: charged to the failed-password limits of gw_ratelimit
 * under the account's e-mail, the same budget as logins (429 before
 * svc-user checks anything once it is spent); it costs one GetUser more,
 * for that e-mail.
 *
 * Threading: handlers run on HTTP pool threads, many at once; they share
 * only app, which is read-only.
 */
#ifndef COMANDA_GW_USERS_H
#define COMANDA_GW_USERS_H

#include "gw_app.h"
#include "gw_routes.h"
#include "httpd.h"

/* The route handlers (gw_handler_fn, named in gw_routes.c) of the table
 * above. Each answers resp on every path and frees what it made. */
void gw_users_create(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_users_list(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_users_get_me(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_users_update_me(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_users_get(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_users_update(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_users_delete(gw_app *app, const gw_request *req, httpd_response *resp);

#endif
