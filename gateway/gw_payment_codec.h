/*
 * gw_payment_codec: the JSON of the /api/payments routes <-> svc-payment's
 * protobuf messages (proto/comanda/payment.proto). Pure translation with the
 * gw_fields rules, like the other codecs: types, unknown members and enum
 * names are judged here; values (order_id form and ownership, the amount
 * equal to the order's total, transaction_id length and uniqueness, which
 * status changes are allowed) are svc-payment's.
 *
 * A payment renders as
 *   {"id","order_id","user_id","amount","currency","status","payment_method",
 *    "transaction_id","failure_reason"|null,"created_at","updated_at"}
 * and an audit entry as
 *   {"at","action","from_status"|null,"to_status","amount","actor",
 *    "request_id"|null,"event_id"|null}
 * (from_status is null for the creation entry; empty ids are null).
 * Money is written with json_money_new (major units, at most 2 decimals),
 * timestamps as RFC 3339 UTC with milliseconds. Builders return a new object
 * the caller puts, or NULL when out of memory.
 *
 * Requests fill protobuf-c messages whose strings borrow the body's storage
 * (valid while the body lives; only packed).
 *
 * Threading: pure functions; objects belong to the calling thread.
 */
#ifndef COMANDA_GW_PAYMENT_CODEC_H
#define COMANDA_GW_PAYMENT_CODEC_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "comanda/payment.pb-c.h"
#include "gw_fields.h"

/* pending, completed, failed, refunded (the ?status= filter). */
extern const gw_enum gw_payment_statuses;

/* completed, failed: what PUT /api/payments/{id}/status may ask for. */
extern const gw_enum gw_payment_settlements;

/* ---- requests ------------------------------------------------------------ */

/* POST /api/payments: {order_id, amount, payment_method?, transaction_id?,
 * payment_token?} -> *rq (initialised here). order_id a required string,
 * amount required money, payment_method one of gw_payment_methods (absent:
 * the order's), transaction_id a non-empty string (absent: svc-payment
 * makes TXN-<uuid>), payment_token a string. */
bool gw_payment_create_request(json_object *body, Comanda__CreatePaymentRequest *rq, gw_problem *p);

/* PUT /api/payments/{id}/status: {status, reason?} -> *rq (initialised
 * here, rq->id = id). status one of gw_payment_settlements; reason text
 * (gw_fields_status_change), only with status failed (svc-payment keeps it
 * as the payment's failure reason; a completion has none, so a reason sent
 * with one is refused, not dropped). */
bool gw_payment_status_request(json_object *body, int64_t id, Comanda__UpdatePaymentStatusRequest *rq, gw_problem *p);

/* POST /api/payments/{id}/refund: no body, {}, or {"by_hand": true|false}
 * -> *rq (initialised here, rq->id = id). body NULL means none was sent.
 * Any other member is refused: the service keeps no refund reason yet, so
 * accepting one would drop it. */
bool gw_payment_refund_request(json_object *body, int64_t id, Comanda__RefundPaymentRequest *rq, gw_problem *p);

/* ---- responses ----------------------------------------------------------- */

/* The payment object above. */
json_object *gw_payment_json(const Comanda__Payment *pay);

/* {"success":true,"message":message,"payment":{...}}; message NULL is left out. */
json_object *gw_payment_reply_json(const char *message, const Comanda__Payment *pay);

/* {"success":true,"count":n,"payments":[...],"next_cursor":"..."|null}. */
json_object *gw_payment_list_json(const Comanda__ListPaymentsReply *r);

/* {"success":true,"entries":[{...}, ...]} in ledger order. */
json_object *gw_payment_audit_json(const Comanda__GetAuditReply *r);

#endif
