#include "order_service.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "clock.h"
#include "comanda/events.pb-c.h"
#include "comanda/user.rpc.h"
#include "cursor.h"
#include "log.h"
#include "order_db.h"
#include "order_doc.h"
#include "order_events.h"
#include "order_lock.h"
#include "order_stats.h"
#include "order_status.h"
#include "order_validate.h"
#include "pg_idem.h"
#include "svc.h"
#include "utf8.h"
#include "uuid.h"

#define ORDER_LIST_DEFAULT 50
#define ORDER_LIST_MAX 200
#define ORDER_LIST_MAX_BYTES (RPC_FRAME_MAX / 2) /* a page's orders, packed; headroom for the envelope */
#define ORDER_CAS_ATTEMPTS 5
#define ORDER_TOKEN_MAX 128

static order_service_config order_cfg;

void order_service_configure(const order_service_config *cfg)
{
	order_cfg = *cfg;
}

/* ---- helpers ------------------------------------------------------------- */

static int order_not_found(rpc_ctx *ctx)
{
	return rpc_ctx_error(ctx, COMANDA__CODE__NOT_FOUND, "Order not found");
}

static int order_db_error(rpc_ctx *ctx, const bson_error_t *err)
{
	/* A server that cannot serve at all (FerretDB answers "internal error"
	 * when its PostgreSQL is down) is unavailable, not broken: the health
	 * probe may know already (no round trip), else order_db_code_on asks
	 * it on the worker's client. */
	int code = order_db_code(err);
	if (code == COMANDA__CODE__INTERNAL)
		code = svc_failing(ctx, "database") ? COMANDA__CODE__UNAVAILABLE : order_db_code_on(svc_worker(ctx), err);
	if (code == COMANDA__CODE__UNAVAILABLE)
		return rpc_ctx_error(ctx, code, "order database unavailable");
	log_line l;
	log_begin(&l, LOG_ERROR, "order database error");
	log_str(&l, "error", err->message);
	log_int(&l, "code", err->code);
	log_end(&l);
	return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
}

/* The orders collection on the worker's client; NULL (UNAVAILABLE) while
 * the health probe finds the database down, so that a request is answered
 * at once instead of waiting for server selection or a frozen server. */
static mongoc_collection_t *order_coll(rpc_ctx *ctx)
{
	if (svc_failing(ctx, "database"))
		return NULL;
	mongoc_client_t *client = svc_worker(ctx);
	return client ? mongoc_client_get_collection(client, order_cfg.db_name, ORDER_DB_COLLECTION) : NULL;
}

/* Appends {field: {$exists: false}} to a filter: the documents without
 * field (FerretDB v1 runs it in a find's filter and in $match). */
static void order_bson_absent(bson_t *filter, const char *field)
{
	bson_t ex;
	BSON_APPEND_DOCUMENT_BEGIN(filter, field, &ex);
	BSON_APPEND_BOOL(&ex, "$exists", false);
	bson_append_document_end(filter, &ex);
}

static bool order_parse_id(const char *id, bson_oid_t *oid)
{
	if (strlen(id) != 24 || !bson_oid_is_valid(id, 24))
		return false;
	bson_oid_init_from_string(oid, id);
	return true;
}

/* Finds one document matching filter into *out (a copy the caller destroys).
 * Returns OK, NOT_FOUND, or the database's failure (status set). */
static int order_find_one(rpc_ctx *ctx, mongoc_collection_t *coll, const bson_t *filter, bson_t *out)
{
	bson_t opts = BSON_INITIALIZER;
	BSON_APPEND_INT64(&opts, "limit", 1);
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
	bson_destroy(&opts);
	const bson_t *doc;
	int code = COMANDA__CODE__NOT_FOUND;
	if (mongoc_cursor_next(cur, &doc)) {
		bson_copy_to(doc, out);
		code = COMANDA__CODE__OK;
	}
	bson_error_t err;
	if (code != COMANDA__CODE__OK && mongoc_cursor_error(cur, &err))
		code = order_db_error(ctx, &err);
	mongoc_cursor_destroy(cur);
	return code;
}

/* Loads order `oid` into o. Customers see only their own (else NOT_FOUND).
 * With raw != NULL the document is kept there too (caller destroys it). */
static int order_load(rpc_ctx *ctx, mongoc_collection_t *coll, const bson_oid_t *oid, Comanda__Order *o, bson_t *raw)
{
	bson_t filter = BSON_INITIALIZER, doc;
	BSON_APPEND_OID(&filter, "_id", oid);
	int code = order_find_one(ctx, coll, &filter, &doc);
	bson_destroy(&filter);
	if (code == COMANDA__CODE__NOT_FOUND)
		return order_not_found(ctx);
	if (code != COMANDA__CODE__OK)
		return code;
	comanda__order__init(o);
	bool ok = order_from_doc(ctx, &doc, o);
	if (raw != NULL)
		bson_copy_to(&doc, raw);
	bson_destroy(&doc);
	if (!ok) {
		if (raw != NULL)
			bson_destroy(raw);
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	}
	bool visible = rpc_ctx_is_admin(ctx) || rpc_ctx_is_service(ctx) || o->user_id == rpc_ctx_caller_id(ctx);
	if (!visible) {
		if (raw != NULL)
			bson_destroy(raw);
		return order_not_found(ctx);
	}
	return COMANDA__CODE__OK;
}

/* The 403 of a caller whose own account may not order. Its access token is
 * verified in the gateway alone, so it stays usable for a while after a
 * suspension or deletion; the client sent no bad field then, and the message
 * says what happened to the account (as the login's 401 does). */
static int order_account_inactive(rpc_ctx *ctx, bool exists, Comanda__UserStatus status)
{
	const char *msg = "Account is not active";
	if (exists && status == COMANDA__USER_STATUS__USER_SUSPENDED)
		msg = "Account is suspended";
	else if (exists && status == COMANDA__USER_STATUS__USER_DELETED)
		msg = "Account is deleted";
	rpc_ctx_reason(ctx, "ACCOUNT_INACTIVE");
	return rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "%s", msg);
}

/* Asks svc-user whether user_id may order, within the caller's deadline. */
static int order_check_user(rpc_ctx *ctx, int64_t user_id)
{
	rpc_call call;
	rpc_call_init(&call);
	int64_t left = rpc_ctx_remaining_ms(ctx) - 20;
	call.timeout_ms = (int)(left < order_cfg.user_check_timeout_ms ? (left > 10 ? left : 10) : order_cfg.user_check_timeout_ms);
	call.request_id = rpc_ctx_request_id(ctx);
	call.caller_role = COMANDA__ROLE__ROLE_SERVICE;
	Comanda__CheckUserRequest req = COMANDA__CHECK_USER_REQUEST__INIT;
	req.id = user_id;
	Comanda__CheckUserReply *reply = NULL;
	int code = user_service_check_user(order_cfg.users, &call, &req, &reply);
	bool exists = code == COMANDA__CODE__OK && reply->exists;
	Comanda__UserStatus status = exists ? reply->status : COMANDA__USER_STATUS__USER_STATUS_UNSPECIFIED;
	bool usable = status == COMANDA__USER_STATUS__USER_ACTIVE;
	rpc_call_release(&call);
	if (code == COMANDA__CODE__UNAVAILABLE || code == COMANDA__CODE__DEADLINE_EXCEEDED)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "user service unavailable");
	if (code != COMANDA__CODE__OK)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	/* The caller's own account (a customer always orders for themselves) is
	 * not a field at fault; a member an admin named is. */
	if (!usable && user_id == rpc_ctx_caller_id(ctx))
		return order_account_inactive(ctx, exists, status);
	if (!usable)
		return rpc_ctx_invalid(ctx, "user_id", "must be an existing, active user");
	return COMANDA__CODE__OK;
}

static bool order_history_push(rpc_ctx *ctx, Comanda__Order *o, Comanda__OrderStatus status, int64_t at, const char *reason,
    const char *cause)
{
	Comanda__StatusChange **h = rpc_ctx_alloc(ctx, (o->n_history + 1) * sizeof(*h));
	Comanda__StatusChange *e = rpc_ctx_alloc(ctx, sizeof(*e));
	if (h == NULL || e == NULL)
		return false;
	comanda__status_change__init(e);
	e->status = status;
	e->at_ms = at;
	e->reason = rpc_ctx_strdup(ctx, reason);
	e->cause = rpc_ctx_strdup(ctx, cause);
	if (o->n_history)
		memcpy(h, o->history, o->n_history * sizeof(*h));
	h[o->n_history++] = e;
	o->history = h;
	return e->reason && e->cause;
}

/* ---- CreateOrder ---------------------------------------------------------- */

/* The existing order of (user_id, key): replay when it was made from the same
 * request, else refuse the reuse of the key. No such order: OK with *found
 * false when found is not NULL, else ABORTED (the insert met a key that is
 * not there: a concurrent request's). */
static int order_replay(rpc_ctx *ctx, mongoc_collection_t *coll, int64_t user_id, const char *key,
    const uint8_t *hash, Comanda__OrderReply *reply, bool *found)
{
	bson_t filter = BSON_INITIALIZER, doc;
	BSON_APPEND_INT64(&filter, "user_id", user_id);
	BSON_APPEND_UTF8(&filter, "idempotency_key", key);
	int code = order_find_one(ctx, coll, &filter, &doc);
	bson_destroy(&filter);
	if (found != NULL)
		*found = code != COMANDA__CODE__NOT_FOUND;
	if (code == COMANDA__CODE__NOT_FOUND && found != NULL)
		return COMANDA__CODE__OK;
	if (code == COMANDA__CODE__NOT_FOUND)
		return rpc_ctx_error(ctx, COMANDA__CODE__ABORTED, "Conflicting concurrent request; retry");
	if (code != COMANDA__CODE__OK)
		return code;
	bson_iter_t it;
	const uint8_t *stored = NULL, *old = NULL;
	uint32_t stored_len = 0, old_len = 0;
	bson_subtype_t sub;
	if (bson_iter_init_find(&it, &doc, "request_hash") && BSON_ITER_HOLDS_BINARY(&it))
		bson_iter_binary(&it, &sub, &stored_len, &stored);
	if (bson_iter_init_find(&it, &doc, "reply") && BSON_ITER_HOLDS_BINARY(&it))
		bson_iter_binary(&it, &sub, &old_len, &old);
	if (stored == NULL || stored_len != PG_IDEM_HASH_LEN || memcmp(stored, hash, PG_IDEM_HASH_LEN) != 0) {
		bson_destroy(&doc);
		rpc_ctx_reason(ctx, "IDEMPOTENCY_KEY_REUSED");
		return rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION,
		    "Idempotency-Key was used with a different request");
	}
	Comanda__OrderReply *first = old ? comanda__order_reply__unpack(arena_pb_allocator(rpc_ctx_arena(ctx)), old_len, old)
	                                 : NULL;
	bson_destroy(&doc);
	if (first == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	*reply = *first;
	reply->replayed = 1;
	return COMANDA__CODE__OK;
}

static int order_create(rpc_ctx *ctx, const Comanda__CreateOrderRequest *req, Comanda__OrderReply *reply)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	int64_t user_id = req->user_id ? req->user_id : rpc_ctx_caller_id(ctx);
	if (!rpc_ctx_is_admin(ctx) && user_id != rpc_ctx_caller_id(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "Customers can only order for themselves");
	if (user_id <= 0)
		return rpc_ctx_invalid(ctx, "user_id", "must be a positive integer");
	int64_t total = 0;
	order_problem p;
	if (!order_validate_create(req, &total, &p))
		return rpc_ctx_invalid(ctx, p.field, p.issue);
	/* characters, as API.md says (and as svc-payment's column counts them) */
	if (utf8_chars(req->payment_token) > ORDER_TOKEN_MAX)
		return rpc_ctx_invalid(ctx, "payment_token", "must be at most 128 characters");

	/* The request as it will be stored (user resolved), fingerprinted for
	 * Idempotency-Key replays. */
	Comanda__CreateOrderRequest resolved = *req;
	resolved.user_id = user_id;
	uint8_t hash[PG_IDEM_HASH_LEN];
	pg_idem_fingerprint(order_cfg.hash_key, order_cfg.hash_key_len, rpc_ctx_method(ctx), &resolved.base, hash);
	const char *key = rpc_ctx_idempotency_key(ctx);
	char *stored_key = key[0] ? arena_printf(rpc_ctx_arena(ctx), "k:%s", key) : NULL;
	if (key[0] && stored_key == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	int code = order_check_user(ctx, user_id);
	if (code != COMANDA__CODE__OK && key[0]) {
		/* A retry is replayed even when the user cannot be checked now
		 * (svc-user down) or no longer passes (deactivated since). Looked
		 * up only here: on FerretDB a find by (user_id, key) scans the
		 * collection, so the usual path finds a retry by its insert's
		 * duplicate key instead. */
		mongoc_collection_t *coll = order_coll(ctx);
		if (coll == NULL)
			return code;
		rpc_status refused = *rpc_ctx_status(ctx);
		rpc_ctx_clear(ctx);
		bool found = false;
		int replay = order_replay(ctx, coll, user_id, stored_key, hash, reply, &found);
		mongoc_collection_destroy(coll);
		if (found)
			return replay;
		return rpc_ctx_forward(ctx, &refused);
	}
	if (code != COMANDA__CODE__OK)
		return code;

	bson_oid_t oid;
	bson_oid_init(&oid, NULL);
	char *hex = rpc_ctx_alloc(ctx, 25);
	Comanda__Order *o = rpc_ctx_alloc(ctx, sizeof(*o));
	if (hex == NULL || o == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	bson_oid_to_string(&oid, hex);
	int64_t now = clock_wall_ms();
	comanda__order__init(o);
	o->id = hex;
	o->user_id = user_id;
	o->n_items = req->n_items;
	o->items = req->items;
	o->total_minor = total;
	o->currency = req->currency[0] ? req->currency : "COP";
	o->status = COMANDA__ORDER_STATUS__ORDER_PENDING;
	o->payment_method = req->payment_method != COMANDA__PAYMENT_METHOD__PAYMENT_METHOD_UNSPECIFIED
	    ? req->payment_method
	    : COMANDA__PAYMENT_METHOD__CASH;
	o->created_at_ms = o->updated_at_ms = now;
	const char *cause = rpc_ctx_request_id(ctx);
	if (!order_history_push(ctx, o, o->status, now, "order created", cause))
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	reply->order = o;

	/* The reply is stored with the order, so a replay answers byte for byte
	 * what the first request got. */
	size_t rlen = comanda__order_reply__get_packed_size(reply);
	uint8_t *rbytes = rpc_ctx_alloc(ctx, rlen);
	if (!key[0])
		stored_key = arena_printf(rpc_ctx_arena(ctx), "auto:%s", hex);
	if (rbytes == NULL || stored_key == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	comanda__order_reply__pack(reply, rbytes);

	Comanda__OrderCreated ev = COMANDA__ORDER_CREATED__INIT;
	ev.order_id = hex;
	ev.user_id = user_id;
	ev.total_minor = total;
	ev.currency = o->currency;
	ev.payment_method = o->payment_method;
	ev.payment_token = req->payment_token;
	ev.created_at_ms = now;
	char event_id[UUID_STR_LEN];
	uuid_v4(event_id);

	bson_t doc = BSON_INITIALIZER;
	order_doc_new(&doc, &oid, o, stored_key, hash, sizeof(hash), rbytes, rlen, event_id, &ev.base, cause);
	mongoc_collection_t *coll = order_coll(ctx);
	if (coll == NULL) {
		bson_destroy(&doc);
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "order database unavailable");
	}
	bson_error_t err;
	bool inserted = mongoc_collection_insert_one(coll, &doc, NULL, NULL, &err);
	bson_destroy(&doc);
	if (!inserted) {
		code = order_db_code(&err) == COMANDA__CODE__ALREADY_EXISTS && key[0]
		    ? order_replay(ctx, coll, user_id, stored_key, hash, reply, NULL)
		    : order_db_error(ctx, &err);
		mongoc_collection_destroy(coll);
		return code;
	}
	mongoc_collection_destroy(coll);
	order_events_kick(hex);
	return COMANDA__CODE__OK;
}

/* ---- GetOrder / GetOrderSummary / ListOrders ------------------------------ */

static int order_get(rpc_ctx *ctx, const Comanda__GetOrderRequest *req, Comanda__OrderReply *reply)
{
	if (!rpc_ctx_signed_in(ctx) && !rpc_ctx_is_service(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	bson_oid_t oid;
	if (!order_parse_id(req->id, &oid))
		return rpc_ctx_invalid(ctx, "id", "must be a 24-character hexadecimal order id");
	mongoc_collection_t *coll = order_coll(ctx);
	if (coll == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "order database unavailable");
	Comanda__Order *o = rpc_ctx_alloc(ctx, sizeof(*o));
	int code = o ? order_load(ctx, coll, &oid, o, NULL) : rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	mongoc_collection_destroy(coll);
	if (code == COMANDA__CODE__OK)
		reply->order = o;
	return code;
}

static int order_summary(rpc_ctx *ctx, const Comanda__GetOrderRequest *req, Comanda__OrderSummary *reply)
{
	Comanda__OrderReply full = COMANDA__ORDER_REPLY__INIT;
	int code = order_get(ctx, req, &full);
	if (code != COMANDA__CODE__OK)
		return code;
	const Comanda__Order *o = full.order;
	reply->id = o->id;
	reply->user_id = o->user_id;
	reply->total_minor = o->total_minor;
	reply->currency = o->currency;
	reply->status = o->status;
	reply->payment_method = o->payment_method;
	return COMANDA__CODE__OK;
}

static int order_list(rpc_ctx *ctx, const Comanda__ListOrdersRequest *req, Comanda__ListOrdersReply *reply)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	uint32_t limit = req->limit ? req->limit : ORDER_LIST_DEFAULT;
	if (limit > ORDER_LIST_MAX)
		return rpc_ctx_invalid(ctx, "limit", "must be between 1 and 200");
	/* Customers list their own orders, whatever user_id they name. */
	int64_t user_id = rpc_ctx_is_admin(ctx) ? req->user_id : rpc_ctx_caller_id(ctx);
	int64_t after_ms = 0;
	char after_id[CURSOR_KEY_MAX] = "";
	bson_oid_t after_oid;
	if (req->cursor[0] != '\0' &&
	    (cursor_decode(req->cursor, &after_ms, after_id, sizeof(after_id)) != 0 || !order_parse_id(after_id, &after_oid)))
		return rpc_ctx_invalid(ctx, "cursor", "is not a cursor this API returned");

	/* Newest first by (created_at, _id): an order created while a client
	 * pages sorts before its cursor, so no page skips or repeats one. */
	bson_t filter = BSON_INITIALIZER;
	if (user_id > 0)
		BSON_APPEND_INT64(&filter, "user_id", user_id);
	if (req->status != COMANDA__ORDER_STATUS__ORDER_STATUS_UNSPECIFIED)
		BSON_APPEND_UTF8(&filter, "status", order_status_name(req->status));
	if (after_id[0] != '\0') {
		bson_t or, a, b, lt, lt2;
		BSON_APPEND_ARRAY_BEGIN(&filter, "$or", &or);
		BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &a);
		BSON_APPEND_DOCUMENT_BEGIN(&a, "created_at", &lt);
		BSON_APPEND_DATE_TIME(&lt, "$lt", after_ms);
		bson_append_document_end(&a, &lt);
		bson_append_document_end(&or, &a);
		BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &b);
		BSON_APPEND_DATE_TIME(&b, "created_at", after_ms);
		BSON_APPEND_DOCUMENT_BEGIN(&b, "_id", &lt2);
		BSON_APPEND_OID(&lt2, "$lt", &after_oid);
		bson_append_document_end(&b, &lt2);
		bson_append_document_end(&or, &b);
		bson_append_array_end(&filter, &or);
	}
	bson_t opts = BSON_INITIALIZER, sort, proj;
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "created_at", -1);
	BSON_APPEND_INT32(&sort, "_id", -1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_INT64(&opts, "limit", (int64_t)limit + 1);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	BSON_APPEND_INT32(&proj, "outbox", 0);
	BSON_APPEND_INT32(&proj, "reply", 0);
	BSON_APPEND_INT32(&proj, "request_hash", 0);
	bson_append_document_end(&opts, &proj);

	mongoc_collection_t *coll = order_coll(ctx);
	if (coll == NULL) {
		bson_destroy(&filter);
		bson_destroy(&opts);
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "order database unavailable");
	}
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	bson_destroy(&filter);
	bson_destroy(&opts);
	reply->orders = rpc_ctx_alloc(ctx, ((size_t)limit + 1) * sizeof(*reply->orders));
	int code = reply->orders ? COMANDA__CODE__OK : rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	const bson_t *doc;
	bool more = false;
	size_t bytes = 0;
	while (code == COMANDA__CODE__OK && mongoc_cursor_next(cur, &doc)) {
		if (reply->n_orders == limit) {
			more = true;
			break;
		}
		Comanda__Order *o = rpc_ctx_alloc(ctx, sizeof(*o));
		if (o == NULL) {
			code = rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
			break;
		}
		comanda__order__init(o);
		if (!order_from_doc(ctx, doc, o)) {
			code = rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
			break;
		}
		/* 200 orders of 100 items of 200 characters would not fit in one
		 * frame: a page ends early, with its cursor, at the byte budget
		 * (always with at least one order, which fits by far). */
		bytes += comanda__order__get_packed_size(o) + 8;
		if (reply->n_orders > 0 && bytes > ORDER_LIST_MAX_BYTES) {
			more = true;
			break;
		}
		reply->orders[reply->n_orders++] = o;
	}
	bson_error_t err;
	if (code == COMANDA__CODE__OK && mongoc_cursor_error(cur, &err))
		code = order_db_error(ctx, &err);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	if (code == COMANDA__CODE__OK && more) {
		const Comanda__Order *last = reply->orders[reply->n_orders - 1];
		char *next = rpc_ctx_alloc(ctx, CURSOR_MAX);
		if (next != NULL && cursor_encode(next, CURSOR_MAX, last->created_at_ms, last->id) == 0)
			reply->next_cursor = next;
	}
	return code;
}

/* ---- GetOrderStats ----------------------------------------------------------- */

/* Reads one group of a stats pipeline into s: {_id: status, n} or, for the
 * received money, {_id: currency, t}. A count or sum the database gave as a
 * double (MongoDB's $sum does so when int64 overflows) or of any other type
 * is refused: -1. */
static int order_stats_group(order_stats *s, const bson_t *doc, bool received)
{
	bson_iter_t it;
	const char *key = NULL;
	int64_t n = -1, t = -1;
	if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
		key = bson_iter_utf8(&it, NULL);
	if (bson_iter_init_find(&it, doc, "n") && (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it)))
		n = bson_iter_as_int64(&it);
	if (bson_iter_init_find(&it, doc, "t") && (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it)))
		t = bson_iter_as_int64(&it);
	return received ? order_stats_add_received(s, key, t) : order_stats_add_status(s, key, n);
}

/* [{$match: {user_id?, status in received?, refunded_at absent?}},
 * {$group: {_id: "$status", n: {$sum: 1}}} or {$group: {_id: "$currency",
 * t: {$sum: "$total_minor"}}}]. The received money leaves out a shipped or
 * delivered order whose payment was refunded (it keeps its status, so it
 * stays in the count by status): the mark is a field that only refunded
 * orders have, hence {$exists: false}, which FerretDB v1 supports in
 * $match (test_payment_order_events.sh runs it there).
 * Two pipelines of one accumulator each, not one grouped by {status,
 * currency} with both: FerretDB 1.24 answers 0 for every accumulator after
 * the first of a $group (checked with pymongo against the local stack). */
static void order_stats_pipeline(bson_t *pipeline, int64_t user_id, bool received)
{
	bson_t stages, match, m, in, group, g, count, sum;
	BSON_APPEND_ARRAY_BEGIN(pipeline, "pipeline", &stages);
	BSON_APPEND_DOCUMENT_BEGIN(&stages, "0", &match);
	BSON_APPEND_DOCUMENT_BEGIN(&match, "$match", &m);
	if (user_id > 0)
		BSON_APPEND_INT64(&m, "user_id", user_id);
	if (received) {
		bson_t st;
		BSON_APPEND_DOCUMENT_BEGIN(&m, "status", &st);
		BSON_APPEND_ARRAY_BEGIN(&st, "$in", &in);
		BSON_APPEND_UTF8(&in, "0", order_status_name(COMANDA__ORDER_STATUS__ORDER_PAID));
		BSON_APPEND_UTF8(&in, "1", order_status_name(COMANDA__ORDER_STATUS__ORDER_SHIPPED));
		BSON_APPEND_UTF8(&in, "2", order_status_name(COMANDA__ORDER_STATUS__ORDER_DELIVERED));
		bson_append_array_end(&st, &in);
		bson_append_document_end(&m, &st);
		order_bson_absent(&m, "refunded_at");
	}
	bson_append_document_end(&match, &m);
	bson_append_document_end(&stages, &match);
	BSON_APPEND_DOCUMENT_BEGIN(&stages, "1", &group);
	BSON_APPEND_DOCUMENT_BEGIN(&group, "$group", &g);
	BSON_APPEND_UTF8(&g, "_id", received ? "$currency" : "$status");
	if (received) {
		BSON_APPEND_DOCUMENT_BEGIN(&g, "t", &sum);
		BSON_APPEND_UTF8(&sum, "$sum", "$total_minor");
		bson_append_document_end(&g, &sum);
	} else {
		BSON_APPEND_DOCUMENT_BEGIN(&g, "n", &count);
		BSON_APPEND_INT32(&count, "$sum", 1);
		bson_append_document_end(&g, &count);
	}
	bson_append_document_end(&group, &g);
	bson_append_document_end(&stages, &group);
	bson_append_array_end(pipeline, &stages);
}

/* Runs one of the two pipelines and adds its groups to s. */
static int order_stats_run(rpc_ctx *ctx, mongoc_collection_t *coll, int64_t user_id, bool received, order_stats *s)
{
	bson_t pipeline = BSON_INITIALIZER;
	order_stats_pipeline(&pipeline, user_id, received);
	mongoc_cursor_t *cur = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, &pipeline, NULL, NULL);
	bson_destroy(&pipeline);
	int code = COMANDA__CODE__OK;
	const bson_t *doc;
	while (code == COMANDA__CODE__OK && mongoc_cursor_next(cur, &doc))
		if (order_stats_group(s, doc, received) != 0) {
			char *json = bson_as_relaxed_extended_json(doc, NULL);
			log_printf(LOG_ERROR, "order stats: a group the counts cannot take: %s", json ? json : "?");
			bson_free(json);
			code = rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
		}
	bson_error_t err;
	if (code == COMANDA__CODE__OK && mongoc_cursor_error(cur, &err))
		code = order_db_error(ctx, &err);
	mongoc_cursor_destroy(cur);
	return code;
}

/* The reply from s, in the call's arena. */
static int order_stats_reply(rpc_ctx *ctx, const order_stats *s, Comanda__OrderStats *reply)
{
	reply->orders = s->orders;
	reply->by_status = rpc_ctx_alloc(ctx, ORDER_STATS_STATUSES * sizeof(*reply->by_status));
	Comanda__OrderStats__StatusCount *counts = rpc_ctx_alloc(ctx, ORDER_STATS_STATUSES * sizeof(*counts));
	reply->paid = rpc_ctx_alloc(ctx, ((size_t)s->n_paid + 1) * sizeof(*reply->paid));
	Comanda__OrderStats__CurrencyTotal *paid = rpc_ctx_alloc(ctx, ((size_t)s->n_paid + 1) * sizeof(*paid));
	if (reply->by_status == NULL || counts == NULL || reply->paid == NULL || paid == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	for (int i = 0; i < ORDER_STATS_STATUSES; i++) {
		comanda__order_stats__status_count__init(&counts[i]);
		counts[i].status = (Comanda__OrderStatus)(COMANDA__ORDER_STATUS__ORDER_PENDING + i);
		counts[i].orders = s->by_status[i];
		reply->by_status[reply->n_by_status++] = &counts[i];
	}
	for (int i = 0; i < s->n_paid; i++) {
		comanda__order_stats__currency_total__init(&paid[i]);
		paid[i].currency = (char *)(uintptr_t)s->paid[i].currency;
		paid[i].total_minor = s->paid[i].total_minor;
		reply->paid[reply->n_paid++] = &paid[i];
	}
	return COMANDA__CODE__OK;
}

/* Two aggregations, each one pass over the caller's orders (on MongoDB the
 * user_id index narrows a customer's): the count by status, then the
 * received money by currency. Under concurrent writes the two can be a
 * moment apart. */
static int order_get_stats(rpc_ctx *ctx, const Comanda__OrderStatsRequest *req, Comanda__OrderStats *reply)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	if (req->user_id < 0)
		return rpc_ctx_invalid(ctx, "user_id", "must be a positive integer");
	/* customers count their own orders, whatever user_id they name */
	int64_t user_id = rpc_ctx_is_admin(ctx) ? req->user_id : rpc_ctx_caller_id(ctx);
	order_stats *s = rpc_ctx_alloc(ctx, sizeof(*s));
	if (s == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	order_stats_init(s);
	mongoc_collection_t *coll = order_coll(ctx);
	if (coll == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "order database unavailable");
	int code = order_stats_run(ctx, coll, user_id, false, s);
	if (code == COMANDA__CODE__OK)
		code = order_stats_run(ctx, coll, user_id, true, s);
	mongoc_collection_destroy(coll);
	if (code != COMANDA__CODE__OK)
		return code;
	order_stats_sort(s);
	return order_stats_reply(ctx, s, reply);
}

/* ---- status changes -------------------------------------------------------- */

/* One compare-and-set: moves order `o` (read in status o->status) to `to`,
 * with a history entry and, when given, an outbox event, an applied event
 * id and the refund mark (refunded_at > 0: the order's refunded_at, set
 * only on an order that has none yet), all in one write. `to` == o->status
 * changes no status and adds no history entry (history lists status changes
 * only): it records the event id, the outbox event and the mark, if any.
 * updated_at moves with the status or the mark (what the order shows).
 * Returns OK with *won false when the order had changed meanwhile (or the
 * event was applied already, or the order was marked already),
 * DEADLINE_EXCEEDED (nothing written) when the order's lock was not had
 * before the caller's deadline, or the database's failure (status set). */
static int order_cas(rpc_ctx *ctx, mongoc_collection_t *coll, const bson_oid_t *oid, const Comanda__Order *o,
    Comanda__OrderStatus to, const char *reason, const char *cause, int64_t payment_id, const char *failure,
    const char *event_id, const char *out_type, const ProtobufCMessage *out_body, int64_t refunded_at, bool *won)
{
	*won = false;
	int64_t now = clock_wall_ms();
	bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, push, ne;
	BSON_APPEND_OID(&filter, "_id", oid);
	BSON_APPEND_UTF8(&filter, "status", order_status_name(o->status));
	if (event_id != NULL) {
		BSON_APPEND_DOCUMENT_BEGIN(&filter, "applied_events", &ne);
		BSON_APPEND_UTF8(&ne, "$ne", event_id);
		bson_append_document_end(&filter, &ne);
	}
	if (refunded_at > 0) {
		/* the first refund's time stays: a second payment.refunded of the
		 * order (another event id) finds it marked and loses the race */
		order_bson_absent(&filter, "refunded_at");
	}
	bool moves = to != o->status;
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
	BSON_APPEND_UTF8(&set, "status", order_status_name(to));
	if (moves || refunded_at > 0)
		BSON_APPEND_DATE_TIME(&set, "updated_at", now);
	if (refunded_at > 0)
		BSON_APPEND_DATE_TIME(&set, "refunded_at", refunded_at);
	if (payment_id > 0)
		BSON_APPEND_INT64(&set, "payment_id", payment_id);
	if (failure != NULL)
		BSON_APPEND_UTF8(&set, "failure_reason", failure);
	if (out_type != NULL)
		BSON_APPEND_BOOL(&set, "outbox_pending", true);
	bson_append_document_end(&update, &set);
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$push", &push);
	if (moves) {
		bson_t hist;
		/* $push of one element: the entry under key "history" */
		BSON_APPEND_DOCUMENT_BEGIN(&push, "history", &hist);
		BSON_APPEND_UTF8(&hist, "status", order_status_name(to));
		BSON_APPEND_DATE_TIME(&hist, "at", now);
		BSON_APPEND_UTF8(&hist, "reason", reason);
		BSON_APPEND_UTF8(&hist, "cause", cause);
		bson_append_document_end(&push, &hist);
	}
	if (event_id != NULL)
		BSON_APPEND_UTF8(&push, "applied_events", event_id);
	if (out_type != NULL) {
		char id[UUID_STR_LEN];
		uuid_v4(id);
		bson_t tmp = BSON_INITIALIZER;
		order_doc_outbox_entry(&tmp, 0, id, out_type, out_body, now);
		bson_iter_t it;
		if (bson_iter_init_find(&it, &tmp, "0")) {
			uint32_t len;
			const uint8_t *data;
			bson_iter_document(&it, &len, &data);
			bson_t entry;
			if (bson_init_static(&entry, data, len))
				BSON_APPEND_DOCUMENT(&push, "outbox", &entry);
		}
		bson_destroy(&tmp);
	}
	bson_append_document_end(&update, &push);

	/* The wait for this process's lock of the order ends with the caller's
	 * deadline (less the reply's way back, as svc_db's statements): the
	 * relay's update_many can hold the order for seconds on FerretDB, and a
	 * write made after the caller gave up would be answered to nobody; the
	 * caller may retry. DEADLINE_EXCEEDED, as lib/pg answers a statement
	 * not sent for the same reason. */
	if (order_lock_until(oid, rpc_ctx_deadline_us(ctx) - (int64_t)SVC_REPLY_MARGIN_MS * 1000) != 0) {
		bson_destroy(&filter);
		bson_destroy(&update);
		return rpc_ctx_error(ctx, COMANDA__CODE__DEADLINE_EXCEEDED, "timed out waiting to write the order");
	}
	bson_t result;
	bson_error_t err;
	bool ok = mongoc_collection_update_one(coll, &filter, &update, NULL, &result, &err);
	order_unlock(oid);
	bson_destroy(&filter);
	bson_destroy(&update);
	int code = COMANDA__CODE__OK;
	if (!ok) {
		code = order_db_error(ctx, &err);
	} else {
		bson_iter_t it;
		*won = bson_iter_init_find(&it, &result, "modifiedCount") && bson_iter_as_int64(&it) == 1;
	}
	if (*won && out_type != NULL)
		order_events_kick(o->id);
	bson_destroy(&result);
	return code;
}

/* "allowed next statuses: cancelled, shipped" (or "none"). */
static void order_detail_next(rpc_ctx *ctx, Comanda__OrderStatus from, order_actor actor)
{
	Comanda__OrderStatus next[8];
	size_t n = order_status_next(from, actor, next, 8);
	char buf[160] = "allowed next statuses: ";
	size_t len = strlen(buf);
	if (n == 0)
		snprintf(buf + len, sizeof(buf) - len, "none");
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? ", " : "", order_status_name(next[i]));
		if (w < 0 || (size_t)w >= sizeof(buf) - len)
			break;
		len += (size_t)w;
	}
	rpc_ctx_detail(ctx, "status", buf);
}

static int order_update_status(rpc_ctx *ctx, const Comanda__UpdateOrderStatusRequest *req, Comanda__OrderReply *reply)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	bson_oid_t oid;
	if (!order_parse_id(req->id, &oid))
		return rpc_ctx_invalid(ctx, "id", "must be a 24-character hexadecimal order id");
	if (req->status == COMANDA__ORDER_STATUS__ORDER_STATUS_UNSPECIFIED ||
	    strcmp(order_status_name(req->status), "unknown") == 0)
		return rpc_ctx_invalid(ctx, "status", "must be one of pending, paid, payment_failed, cancelled, shipped, delivered");
	long reason_chars = utf8_chars(req->reason);
	if (reason_chars < 0)
		return rpc_ctx_invalid(ctx, "reason", "must be valid UTF-8");
	if (reason_chars > 500)
		return rpc_ctx_invalid(ctx, "reason", "must be at most 500 characters");
	order_actor actor = rpc_ctx_is_admin(ctx) ? ORDER_ACTOR_ADMIN : ORDER_ACTOR_OWNER;
	mongoc_collection_t *coll = order_coll(ctx);
	if (coll == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "order database unavailable");
	int code = COMANDA__CODE__ABORTED;
	for (int attempt = 0; attempt < ORDER_CAS_ATTEMPTS; attempt++) {
		Comanda__Order *o = rpc_ctx_alloc(ctx, sizeof(*o));
		if (o == NULL) {
			code = rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
			break;
		}
		code = order_load(ctx, coll, &oid, o, NULL);
		if (code != COMANDA__CODE__OK)
			break;
		order_verdict v = order_status_check(o->status, req->status, actor);
		if (v == ORDER_MOVE_FORBIDDEN) {
			code = rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "Only an admin can mark an order %s",
			    order_status_name(req->status));
			break;
		}
		if (v == ORDER_MOVE_INVALID) {
			order_detail_next(ctx, o->status, actor);
			code = rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION, "Cannot change order status from %s to %s",
			    order_status_name(o->status), order_status_name(req->status));
			break;
		}
		/* Cancelling tells the payment side (which refunds a completed payment). */
		Comanda__OrderCancelled ev = COMANDA__ORDER_CANCELLED__INIT;
		bool cancel = req->status == COMANDA__ORDER_STATUS__ORDER_CANCELLED;
		ev.order_id = o->id;
		ev.user_id = o->user_id;
		ev.payment_id = o->payment_id;
		ev.reason = req->reason[0] ? req->reason : (actor == ORDER_ACTOR_ADMIN ? "cancelled by an admin" : "cancelled by the customer");
		const char *reason = req->reason[0] ? req->reason
		                     : actor == ORDER_ACTOR_ADMIN ? "changed by an admin"
		                                                  : "changed by the customer";
		bool won;
		code = order_cas(ctx, coll, &oid, o, req->status, reason, rpc_ctx_request_id(ctx), 0, NULL, NULL,
		    cancel ? "order.cancelled" : NULL, cancel ? &ev.base : NULL, 0, &won);
		if (code != COMANDA__CODE__OK)
			break;
		if (won) {
			code = order_load(ctx, coll, &oid, o, NULL);
			if (code == COMANDA__CODE__OK)
				reply->order = o;
			break;
		}
		/* lost the race: read the order again and judge the new status */
		code = rpc_ctx_error(ctx, COMANDA__CODE__ABORTED, "The order changed concurrently; retry");
	}
	mongoc_collection_destroy(coll);
	return code;
}

/* What a payment outcome does to an order in status `from`: the status it
 * moves to (== from: no change; the note is only logged) and, for a payment
 * completed on an order cancelled meanwhile, the order.cancelled event that
 * makes the payment side refund it. A refund (an admin's, since a
 * cancellation's finds the order cancelled already) cancels a paid order:
 * its money went back, so it must not ship or count as received. A shipped
 * or delivered order keeps its status: its goods have left. (Every refund
 * also marks the order refunded_at, which order_apply_payment writes: that
 * is what keeps a shipped or delivered order's money out of the stats.) */
typedef struct order_effect {
	Comanda__OrderStatus to;
	const char *note;
	bool refund;
} order_effect;

static order_effect order_payment_effect(Comanda__OrderStatus from, Comanda__ApplyPaymentResultRequest__Result result,
    const char *reason)
{
	order_effect e = { from, NULL, false };
	switch (result) {
	case COMANDA__APPLY_PAYMENT_RESULT_REQUEST__RESULT__COMPLETED:
		if (order_status_check(from, COMANDA__ORDER_STATUS__ORDER_PAID, ORDER_ACTOR_EVENT) == ORDER_MOVE_OK) {
			e.to = COMANDA__ORDER_STATUS__ORDER_PAID;
			e.note = "payment completed";
		} else if (from == COMANDA__ORDER_STATUS__ORDER_CANCELLED) {
			e.note = "payment completed after cancellation; refund requested";
			e.refund = true;
		} else {
			e.note = "payment completed; order unchanged";
		}
		break;
	case COMANDA__APPLY_PAYMENT_RESULT_REQUEST__RESULT__FAILED:
		if (order_status_check(from, COMANDA__ORDER_STATUS__ORDER_PAYMENT_FAILED, ORDER_ACTOR_EVENT) == ORDER_MOVE_OK) {
			e.to = COMANDA__ORDER_STATUS__ORDER_PAYMENT_FAILED;
			e.note = reason[0] ? reason : "payment failed";
		} else {
			e.note = "payment failed; order unchanged";
		}
		break;
	default:
		if (order_status_check(from, COMANDA__ORDER_STATUS__ORDER_CANCELLED, ORDER_ACTOR_EVENT) == ORDER_MOVE_OK) {
			e.to = COMANDA__ORDER_STATUS__ORDER_CANCELLED;
			e.note = "payment refunded";
		} else {
			e.note = "payment refunded; status unchanged";
		}
		break;
	}
	return e;
}

/* Applies a payment event to its order exactly once: the event id is
 * remembered in the same write as the effect, and an id seen before is
 * answered with the order as it stands. */
static int order_apply_payment(rpc_ctx *ctx, const Comanda__ApplyPaymentResultRequest *req, Comanda__OrderReply *reply)
{
	if (!rpc_ctx_is_service(ctx) && !rpc_ctx_is_admin(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "Internal method");
	bson_oid_t oid;
	if (!order_parse_id(req->order_id, &oid))
		return rpc_ctx_invalid(ctx, "order_id", "must be a 24-character hexadecimal order id");
	if (req->event_id[0] == '\0' || strlen(req->event_id) > 64)
		return rpc_ctx_invalid(ctx, "event_id", "is required");
	if (req->result != COMANDA__APPLY_PAYMENT_RESULT_REQUEST__RESULT__COMPLETED &&
	    req->result != COMANDA__APPLY_PAYMENT_RESULT_REQUEST__RESULT__FAILED &&
	    req->result != COMANDA__APPLY_PAYMENT_RESULT_REQUEST__RESULT__REFUNDED)
		return rpc_ctx_invalid(ctx, "result", "must be completed, failed or refunded");
	mongoc_collection_t *coll = order_coll(ctx);
	if (coll == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "order database unavailable");
	int code = COMANDA__CODE__ABORTED;
	for (int attempt = 0; attempt < ORDER_CAS_ATTEMPTS; attempt++) {
		Comanda__Order *o = rpc_ctx_alloc(ctx, sizeof(*o));
		bson_t raw;
		if (o == NULL) {
			code = rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
			break;
		}
		code = order_load(ctx, coll, &oid, o, &raw);
		if (code != COMANDA__CODE__OK)
			break;
		bool seen = false;
		bson_iter_t it, child;
		if (bson_iter_init_find(&it, &raw, "applied_events") && BSON_ITER_HOLDS_ARRAY(&it) &&
		    bson_iter_recurse(&it, &child))
			while (!seen && bson_iter_next(&child))
				seen = BSON_ITER_HOLDS_UTF8(&child) && strcmp(bson_iter_utf8(&child, NULL), req->event_id) == 0;
		bson_destroy(&raw);
		if (seen) {
			reply->order = o;
			reply->replayed = 1;
			break;
		}
		if (req->result == COMANDA__APPLY_PAYMENT_RESULT_REQUEST__RESULT__REFUNDED &&
		    order_refund_before_completion(o->status)) {
			/* its payment.completed is still on its way: applied after
			 * this, it would make the order paid with its money given
			 * back. Retried (ABORTED: the consumer nacks it, requeued). */
			code = rpc_ctx_error(ctx, COMANDA__CODE__ABORTED,
			    "payment.refunded arrived before its payment.completed; retry");
			break;
		}
		order_effect e = order_payment_effect(o->status, req->result, req->reason);
		Comanda__OrderCancelled ev = COMANDA__ORDER_CANCELLED__INIT;
		ev.order_id = o->id;
		ev.user_id = o->user_id;
		ev.payment_id = req->payment_id;
		ev.reason = "payment completed after the order was cancelled";
		bool moves = e.to != o->status;
		if (!moves)
			log_printf(LOG_INFO, "order %s, event %s: %s", o->id, req->event_id, e.note);
		/* A refund marks the order whatever its status (cancelled now, or
		 * already, or shipped or delivered): its money went back, so it is
		 * no longer received money. The refund's time is the event's; an
		 * event without one (an older svc-payment) is dated when applied.
		 * An order marked already keeps its first mark. */
		int64_t refunded_at = 0;
		if (req->result == COMANDA__APPLY_PAYMENT_RESULT_REQUEST__RESULT__REFUNDED && o->refunded_at_ms <= 0)
			refunded_at = req->refunded_at_ms > 0 ? req->refunded_at_ms : clock_wall_ms();
		bool won;
		/* payment_id names the payment that settled the order: not a failed one */
		code = order_cas(ctx, coll, &oid, o, e.to, e.note, req->event_id,
		    e.to == COMANDA__ORDER_STATUS__ORDER_PAID ? req->payment_id : 0,
		    !moves ? NULL : e.to == COMANDA__ORDER_STATUS__ORDER_PAYMENT_FAILED ? e.note : "", req->event_id,
		    e.refund ? "order.cancelled" : NULL, e.refund ? &ev.base : NULL, refunded_at, &won);
		if (code != COMANDA__CODE__OK)
			break;
		if (won) {
			code = order_load(ctx, coll, &oid, o, NULL);
			if (code == COMANDA__CODE__OK)
				reply->order = o;
			break;
		}
		code = rpc_ctx_error(ctx, COMANDA__CODE__ABORTED, "The order changed concurrently; retry");
	}
	mongoc_collection_destroy(coll);
	return code;
}

const order_service_impl order_service_handlers = {
	.create_order = order_create,
	.get_order = order_get,
	.list_orders = order_list,
	.update_order_status = order_update_status,
	.apply_payment_result = order_apply_payment,
	.get_order_summary = order_summary,
	.get_order_stats = order_get_stats,
};
