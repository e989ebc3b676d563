/*
 * gw_order_codec: the JSON of the /api/orders routes <-> svc-order's
 * protobuf messages (proto/comanda/order.proto). Pure translation, like
 * gw_user_codec: shapes and types are judged here with the gw_fields rules
 * (wrong type, null, unknown member, unknown enum name -> a gw_problem
 * naming the field, "items[2].quantity" for a member of an item); values
 * (item count, product length, quantity range, the total matching the
 * items, the currency being ISO 4217, who may order for whom) are
 * svc-order's to judge, so those rules live in one place.
 *
 * Money is read with lib/json's literal-text parser (never a double) and
 * written with json_money_new: major units, at most 2 decimals.
 *
 * An order renders as
 *   {"_id","user_id","items":[{"product","quantity","price"}],"total",
 *    "currency","status","payment_method","payment_id"|null,
 *    "failure_reason" (only when set),"created_at","updated_at",
 *    "refunded_at"|null,"history":[{"status","at","reason"}]}
 * with RFC 3339 UTC millisecond timestamps. Builders return a new object
 * the caller puts, or NULL when out of memory (nothing leaks then).
 *
 * Threading: pure functions; objects belong to the calling thread.
 */
#ifndef COMANDA_GW_ORDER_CODEC_H
#define COMANDA_GW_ORDER_CODEC_H

#include <stdbool.h>

#include <json-c/json.h>

#include "comanda/order.pb-c.h"
#include "gw_fields.h"

/* pending, paid, payment_failed, cancelled, shipped, delivered. */
extern const gw_enum gw_order_statuses;

/* credit_card, debit_card, cash, bank_transfer (PaymentMethod lives in
 * order.proto; the payment codec uses the same set). */
extern const gw_enum gw_payment_methods;

/* ---- requests ------------------------------------------------------------ */

/* POST /api/orders: {user_id?, items, total?, currency?, payment_method?,
 * payment_token?} -> *rq (initialised here).
 *   user_id         an integer >= 1 (absent: the caller);
 *   items           a required array of objects {product: string,
 *                   quantity: integer, price: money}, all three required;
 *                   a quantity beyond int32 is saturated, so svc-order's
 *                   range check refuses it as out of range;
 *   total           money; when present total_given is set;
 *   currency        a non-empty string (svc-order checks ISO 4217);
 *   payment_method  one of gw_payment_methods;
 *   payment_token   a string.
 * Strings borrow body's storage (valid while body lives, only packed).
 * rq->items is allocated here: on true the caller releases it with
 * gw_order_create_request_free; on false nothing is left to release.
 * Out of memory is false with p->field "" (a 500, not the client's fault). */
bool gw_order_create_request(json_object *body, Comanda__CreateOrderRequest *rq, gw_problem *p);

/* Frees what gw_order_create_request allocated (rq->items); leaves rq empty. */
void gw_order_create_request_free(Comanda__CreateOrderRequest *rq);

/* PUT /api/orders/{id}/status: {status, reason?} -> *rq (initialised here,
 * rq->id borrowing id). status is one of gw_order_statuses (which moves are
 * allowed is svc-order's call); reason a string. */
bool gw_order_status_request(json_object *body, const char *id, Comanda__UpdateOrderStatusRequest *rq, gw_problem *p);

/* ---- responses ----------------------------------------------------------- */

/* The order object above. */
json_object *gw_order_json(const Comanda__Order *o);

/* {"success":true,"message":message,"order":{...}}; message NULL is left out. */
json_object *gw_order_reply_json(const char *message, const Comanda__Order *o);

/* {"success":true,"count":n,"orders":[...],"next_cursor":"..."|null}. */
json_object *gw_order_list_json(const Comanda__ListOrdersReply *r);

/* {"success":true,"stats":{"orders":N,"by_status":{"pending":n,...every
 * status},"received":[{"currency","total"},...]}}: received is the
 * money of orders paid, shipped or delivered and not refunded, per
 * currency, in the reply's order (largest first). NULL when out of
 * memory. */
json_object *gw_order_stats_json(const Comanda__OrderStats *s);

#endif
