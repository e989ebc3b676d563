#include "order_doc.h"

#include <stdlib.h>
#include <string.h>

#include "order_status.h"
#include "order_validate.h"

static char *order_iter_str(rpc_ctx *ctx, const bson_iter_t *it)
{
	if (!BSON_ITER_HOLDS_UTF8(it))
		return rpc_ctx_strdup(ctx, "");
	uint32_t len = 0;
	const char *s = bson_iter_utf8(it, &len);
	return arena_strndup(rpc_ctx_arena(ctx), s, len);
}

/* Dates are stored as BSON dates; servers may hand other number types back
 * for what we wrote as int64, hence bson_iter_as_int64 everywhere else. */
static int64_t order_iter_time(const bson_iter_t *it)
{
	if (BSON_ITER_HOLDS_DATE_TIME(it))
		return bson_iter_date_time(it);
	return bson_iter_as_int64(it);
}

/* Counts the elements of the array at *arr, allocates room for that many
 * pointers (at least one) and leaves *child before the first element.
 * NULL when out of memory or arr is not an array. */
static void *order_array_begin(rpc_ctx *ctx, const bson_iter_t *arr, bson_iter_t *child, size_t elem, size_t *n)
{
	*n = 0;
	if (!bson_iter_recurse(arr, child))
		return NULL;
	while (bson_iter_next(child))
		(*n)++;
	void *out = rpc_ctx_alloc(ctx, (*n ? *n : 1) * elem);
	if (out == NULL || !bson_iter_recurse(arr, child))
		return NULL;
	return out;
}

static bool order_read_items(rpc_ctx *ctx, bson_iter_t *arr, Comanda__Order *o)
{
	bson_iter_t child;
	size_t n;
	if ((o->items = order_array_begin(ctx, arr, &child, sizeof(*o->items), &n)) == NULL)
		return false;
	while (bson_iter_next(&child) && o->n_items < n) {
		bson_iter_t f;
		Comanda__OrderItem *it = rpc_ctx_alloc(ctx, sizeof(*it));
		if (it == NULL || !BSON_ITER_HOLDS_DOCUMENT(&child) || !bson_iter_recurse(&child, &f))
			return false;
		comanda__order_item__init(it);
		while (bson_iter_next(&f)) {
			const char *k = bson_iter_key(&f);
			if (strcmp(k, "product") == 0)
				it->product = order_iter_str(ctx, &f);
			else if (strcmp(k, "quantity") == 0)
				it->quantity = (int32_t)bson_iter_as_int64(&f);
			else if (strcmp(k, "price_minor") == 0)
				it->price_minor = bson_iter_as_int64(&f);
		}
		o->items[o->n_items++] = it;
	}
	return true;
}

static bool order_read_history(rpc_ctx *ctx, bson_iter_t *arr, Comanda__Order *o)
{
	bson_iter_t child;
	size_t n;
	if ((o->history = order_array_begin(ctx, arr, &child, sizeof(*o->history), &n)) == NULL)
		return false;
	while (bson_iter_next(&child) && o->n_history < n) {
		bson_iter_t f;
		Comanda__StatusChange *h = rpc_ctx_alloc(ctx, sizeof(*h));
		if (h == NULL || !BSON_ITER_HOLDS_DOCUMENT(&child) || !bson_iter_recurse(&child, &f))
			return false;
		comanda__status_change__init(h);
		while (bson_iter_next(&f)) {
			const char *k = bson_iter_key(&f);
			if (strcmp(k, "status") == 0 && BSON_ITER_HOLDS_UTF8(&f))
				h->status = order_status_parse(bson_iter_utf8(&f, NULL));
			else if (strcmp(k, "at") == 0)
				h->at_ms = order_iter_time(&f);
			else if (strcmp(k, "reason") == 0)
				h->reason = order_iter_str(ctx, &f);
			else if (strcmp(k, "cause") == 0)
				h->cause = order_iter_str(ctx, &f);
		}
		o->history[o->n_history++] = h;
	}
	return true;
}

bool order_from_doc(rpc_ctx *ctx, const bson_t *doc, Comanda__Order *o)
{
	bson_iter_t it;
	bool have_id = false;
	if (!bson_iter_init(&it, doc))
		return false;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (strcmp(k, "_id") == 0 && BSON_ITER_HOLDS_OID(&it)) {
			char *hex = rpc_ctx_alloc(ctx, 25);
			if (hex == NULL)
				return false;
			bson_oid_to_string(bson_iter_oid(&it), hex);
			o->id = hex;
			have_id = true;
		} else if (strcmp(k, "user_id") == 0) {
			o->user_id = bson_iter_as_int64(&it);
		} else if (strcmp(k, "items") == 0 && BSON_ITER_HOLDS_ARRAY(&it)) {
			if (!order_read_items(ctx, &it, o))
				return false;
		} else if (strcmp(k, "total_minor") == 0) {
			o->total_minor = bson_iter_as_int64(&it);
		} else if (strcmp(k, "currency") == 0) {
			o->currency = order_iter_str(ctx, &it);
		} else if (strcmp(k, "status") == 0 && BSON_ITER_HOLDS_UTF8(&it)) {
			o->status = order_status_parse(bson_iter_utf8(&it, NULL));
		} else if (strcmp(k, "payment_method") == 0 && BSON_ITER_HOLDS_UTF8(&it)) {
			o->payment_method = order_method_parse(bson_iter_utf8(&it, NULL));
		} else if (strcmp(k, "payment_id") == 0) {
			o->payment_id = bson_iter_as_int64(&it);
		} else if (strcmp(k, "failure_reason") == 0) {
			o->failure_reason = order_iter_str(ctx, &it);
		} else if (strcmp(k, "created_at") == 0) {
			o->created_at_ms = order_iter_time(&it);
		} else if (strcmp(k, "updated_at") == 0) {
			o->updated_at_ms = order_iter_time(&it);
		} else if (strcmp(k, "refunded_at") == 0) {
			o->refunded_at_ms = order_iter_time(&it);
		} else if (strcmp(k, "history") == 0 && BSON_ITER_HOLDS_ARRAY(&it)) {
			if (!order_read_history(ctx, &it, o))
				return false;
		}
	}
	return have_id && o->id != NULL && o->currency != NULL && o->failure_reason != NULL;
}

static const char *order_index_key(uint32_t i, char *buf, size_t cap)
{
	const char *key;
	bson_uint32_to_string(i, &key, buf, cap);
	return key;
}

void order_doc_history_entry(bson_t *array, uint32_t i, const char *status, int64_t at_ms, const char *reason,
    const char *cause)
{
	char buf[16];
	bson_t h;
	BSON_APPEND_DOCUMENT_BEGIN(array, order_index_key(i, buf, sizeof(buf)), &h);
	BSON_APPEND_UTF8(&h, "status", status);
	BSON_APPEND_DATE_TIME(&h, "at", at_ms);
	BSON_APPEND_UTF8(&h, "reason", reason);
	BSON_APPEND_UTF8(&h, "cause", cause);
	bson_append_document_end(array, &h);
}

void order_doc_outbox_entry(bson_t *array, uint32_t i, const char *event_id, const char *type,
    const ProtobufCMessage *body, int64_t at_ms)
{
	char buf[16];
	uint8_t small[512];
	size_t n = protobuf_c_message_get_packed_size(body);
	uint8_t *packed = n <= sizeof(small) ? small : malloc(n);
	bson_t e;
	BSON_APPEND_DOCUMENT_BEGIN(array, order_index_key(i, buf, sizeof(buf)), &e);
	BSON_APPEND_UTF8(&e, "event_id", event_id);
	BSON_APPEND_UTF8(&e, "type", type);
	if (packed != NULL) {
		protobuf_c_message_pack(body, packed);
		BSON_APPEND_BINARY(&e, "body", BSON_SUBTYPE_BINARY, packed, (uint32_t)n);
	}
	BSON_APPEND_DATE_TIME(&e, "at", at_ms);
	bson_append_document_end(array, &e);
	if (packed != small)
		free(packed);
}

void order_doc_new(bson_t *doc, const bson_oid_t *oid, const Comanda__Order *o, const char *idempotency_key,
    const uint8_t *request_hash, size_t hash_len, const uint8_t *reply, size_t reply_len, const char *event_id,
    const ProtobufCMessage *event_body, const char *cause)
{
	char buf[16];
	BSON_APPEND_OID(doc, "_id", oid);
	BSON_APPEND_INT64(doc, "user_id", o->user_id);
	bson_t items;
	BSON_APPEND_ARRAY_BEGIN(doc, "items", &items);
	for (size_t i = 0; i < o->n_items; i++) {
		bson_t it;
		BSON_APPEND_DOCUMENT_BEGIN(&items, order_index_key((uint32_t)i, buf, sizeof(buf)), &it);
		BSON_APPEND_UTF8(&it, "product", o->items[i]->product);
		BSON_APPEND_INT32(&it, "quantity", o->items[i]->quantity);
		BSON_APPEND_INT64(&it, "price_minor", o->items[i]->price_minor);
		bson_append_document_end(&items, &it);
	}
	bson_append_array_end(doc, &items);
	BSON_APPEND_INT64(doc, "total_minor", o->total_minor);
	BSON_APPEND_UTF8(doc, "currency", o->currency);
	BSON_APPEND_UTF8(doc, "status", order_status_name(o->status));
	BSON_APPEND_UTF8(doc, "payment_method", order_method_name(o->payment_method));
	BSON_APPEND_INT64(doc, "payment_id", 0);
	BSON_APPEND_UTF8(doc, "failure_reason", "");
	BSON_APPEND_DATE_TIME(doc, "created_at", o->created_at_ms);
	BSON_APPEND_DATE_TIME(doc, "updated_at", o->updated_at_ms);
	bson_t history;
	BSON_APPEND_ARRAY_BEGIN(doc, "history", &history);
	order_doc_history_entry(&history, 0, order_status_name(o->status), o->created_at_ms, "order created", cause);
	bson_append_array_end(doc, &history);
	BSON_APPEND_UTF8(doc, "idempotency_key", idempotency_key);
	BSON_APPEND_BINARY(doc, "request_hash", BSON_SUBTYPE_BINARY, request_hash, (uint32_t)hash_len);
	BSON_APPEND_BINARY(doc, "reply", BSON_SUBTYPE_BINARY, reply, (uint32_t)reply_len);
	bson_t outbox;
	BSON_APPEND_ARRAY_BEGIN(doc, "outbox", &outbox);
	order_doc_outbox_entry(&outbox, 0, event_id, "order.created", event_body, o->created_at_ms);
	bson_append_array_end(doc, &outbox);
	BSON_APPEND_BOOL(doc, "outbox_pending", true);
	BSON_APPEND_INT64(doc, "outbox_published", 0);
	bson_t applied;
	BSON_APPEND_ARRAY_BEGIN(doc, "applied_events", &applied);
	bson_append_array_end(doc, &applied);
}
