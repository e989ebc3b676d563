/*
 * gw_orders: the /api/orders routes (../API.md "Orders", docs/API.md), each a
 * translation of JSON to one svc-order RPC and back (gw_order_codec), on
 * behalf of the caller gw_auth verified (gw_call). svc-order decides who may
 * do what (owner or admin, the status machine) and validates values; these
 * handlers judge shapes, path ids and query parameters.
 *
 *   POST /api/orders               user  201 {success,message,order} with
 *                                  Location: /api/orders/{id}; Idempotency-Key
 *                                  (a replay adds Idempotent-Replayed: true)
 *   GET  /api/orders               user  200 {success,count,orders,next_cursor}
 *                                  ?user_id= (admins), ?status=, ?limit=, ?cursor=
 *   GET  /api/orders/stats         user  200 {success,stats}: counts of the orders
 *                                  the caller may list; ?user_id= (admins)
 *   GET  /api/orders/{id}          user  200 {success,order}; another's: 404
 *   PUT  /api/orders/{id}/status   user  200 {success,message,order}
 *
 * {id} is 24 lower-case hex digits, else 400 naming id before any RPC.
 *
 * Threading: handlers run on HTTP pool threads, many at once; they share
 * only app, which is read-only.
 */
#ifndef COMANDA_GW_ORDERS_H
#define COMANDA_GW_ORDERS_H

#include "gw_app.h"
#include "gw_routes.h"
#include "httpd.h"

/* The route handlers (gw_handler_fn, named in gw_routes.c) of the table
 * above. Each answers resp on every path and frees what it made. */
void gw_orders_create(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_orders_list(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_orders_stats(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_orders_get(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_orders_update_status(gw_app *app, const gw_request *req, httpd_response *resp);

#endif
