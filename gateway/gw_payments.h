/*
 * gw_payments: the /api/payments routes (../API.md "Payments",
 * docs/API.md), each a translation of JSON to one svc-payment RPC and back
 * (gw_payment_codec), on behalf of the caller gw_auth verified (gw_call).
 * svc-payment decides ownership, amounts and allowed status changes; these
 * handlers judge shapes, path ids and query parameters.
 *
 *   POST /api/payments               user   201 {success,message,payment} with
 *                                    Location: /api/payments/{id};
 *                                    Idempotency-Key (a replay adds
 *                                    Idempotent-Replayed: true)
 *   GET  /api/payments               user   200 {success,count,payments,next_cursor}
 *                                    ?order_id=, ?status=, ?limit=, ?cursor=;
 *                                    newest first; a customer sees their own
 *   GET  /api/payments/{id}          user   200 {success,payment}; another's: 404
 *   PUT  /api/payments/{id}/status   admin  200 {success,message,payment}
 *   POST /api/payments/{id}/refund   admin  200 {success,message,payment}
 *   GET  /api/payments/{id}/audit    admin  200 {success,entries}
 *
 * {id} is a canonical positive decimal, ?order_id= 24 lower-case hex
 * digits; anything else is 400 naming it before any RPC.
 *
 * Threading: handlers run on HTTP pool threads, many at once; they share
 * only app, which is read-only.
 */
#ifndef COMANDA_GW_PAYMENTS_H
#define COMANDA_GW_PAYMENTS_H

#include "gw_app.h"
#include "gw_routes.h"
#include "httpd.h"

/* The route handlers (gw_handler_fn, named in gw_routes.c) of the table
 * above. Each answers resp on every path and frees what it made. */
void gw_payments_create(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_payments_list(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_payments_get(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_payments_update_status(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_payments_refund(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_payments_audit(gw_app *app, const gw_request *req, httpd_response *resp);

#endif
