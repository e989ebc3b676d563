/*
 * order_doc: an order as a MongoDB document, and back.
 *
 * Document fields (every change to one order is one atomic single-document
 * write, since FerretDB v1 has no multi-document transactions):
 *   _id ObjectId, user_id int64, items [{product, quantity int32,
 *   price_minor int64}], total_minor int64, currency, status, payment_method,
 *   payment_id int64, failure_reason, created_at / updated_at (date),
 *   refunded_at (date; absent until a payment.refunded is applied: the
 *   order's money went back, so it is not received money, whatever the
 *   status; set once, never cleared),
 *   history [{status, at (date), reason, cause}],
 *   idempotency_key (the client's, or "auto:<_id>"), request_hash (binary),
 *   reply (binary: the packed OrderReply of the creation, for replays),
 *   outbox [{event_id, type, body (binary), at}] with outbox_pending and
 *   outbox_published (how many entries, from the start, the broker confirmed),
 *   applied_events [event ids already applied].
 *
 * Threading: pure functions.
 */
#ifndef COMANDA_ORDER_DOC_H
#define COMANDA_ORDER_DOC_H

#include <stdbool.h>

#include <bson/bson.h>

#include "comanda/order.pb-c.h"
#include "rpc.h"

/* Reads a stored order into o (memory from ctx's arena). Returns false when
 * the document lacks a required field or is out of memory. */
bool order_from_doc(rpc_ctx *ctx, const bson_t *doc, Comanda__Order *o);

/* Appends one history entry {status, at, reason, cause} to array `history`
 * under key index i. */
void order_doc_history_entry(bson_t *array, uint32_t i, const char *status, int64_t at_ms, const char *reason,
    const char *cause);

/* Appends one outbox entry {event_id, type, body, at} to array `outbox`
 * under key index i. */
void order_doc_outbox_entry(bson_t *array, uint32_t i, const char *event_id, const char *type,
    const ProtobufCMessage *body, int64_t at_ms);

/* Builds the document of a new order o (whose fields are all set) with its
 * creation bookkeeping. */
void order_doc_new(bson_t *doc, const bson_oid_t *oid, const Comanda__Order *o, const char *idempotency_key,
    const uint8_t *request_hash, size_t hash_len, const uint8_t *reply, size_t reply_len, const char *event_id,
    const ProtobufCMessage *event_body, const char *cause);

#endif
