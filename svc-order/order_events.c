#include "order_events.h"

#include "order_lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "bgthread.h"
#include "bus.h"
#include "cfg.h"
#include "clock.h"
#include "comanda/events.pb-c.h"
#include "comanda/order.rpc.h"
#include "log.h"
#include "metrics.h"
#include "svc_events.h"

#define ORDER_QUEUE "order-service"
#define ORDER_RELAY_BATCH 50
#define ORDER_RELAY_SCAN_MS 5000     /* full scan for pending outboxes when nobody kicks */
#define ORDER_KICK_RING 1024         /* order ids kicked and not yet relayed */
#define ORDER_MAX_DELIVERIES 10
#define ORDER_OUTBOX_MAX 32          /* events per order document */

static bgthread *order_relay_thread;
static bgthread *order_consumer_thread;

static struct {
	order_db *db;
	char amqp_url[512];
	char self_url[96];
	/* Orders whose write just added an event: the relay reads those by
	 * _id instead of scanning for outbox_pending, which FerretDB answers
	 * with a scan of the whole collection. A full overflows into a scan. */
	pthread_mutex_t mu;
	bson_oid_t ring[ORDER_KICK_RING];
	size_t ring_len;
	bool overflow;
} order_ev = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- relay --------------------------------------------------------------- */

/* One order's unpublished outbox entries, as messages pointing into doc. */
static size_t order_outbox_read(const bson_t *doc, bson_oid_t *oid, char hex[25], int64_t *published, size_t *total,
    bus_message *msgs)
{
	bson_iter_t it, arr;
	size_t n = 0, i = 0;
	*published = 0;
	*total = 0;
	if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it)) {
		bson_oid_copy(bson_iter_oid(&it), oid);
		bson_oid_to_string(oid, hex);
	} else {
		return 0;
	}
	if (bson_iter_init_find(&it, doc, "outbox_published"))
		*published = bson_iter_as_int64(&it);
	if (!bson_iter_init_find(&it, doc, "outbox") || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
		return 0;
	while (bson_iter_next(&arr)) {
		size_t idx = i++;
		if ((int64_t)idx < *published || n >= ORDER_OUTBOX_MAX || !BSON_ITER_HOLDS_DOCUMENT(&arr))
			continue;
		bson_iter_t f;
		if (!bson_iter_recurse(&arr, &f))
			continue;
		bus_message m = { .correlation_id = hex, .request_id = "" };
		while (bson_iter_next(&f)) {
			const char *k = bson_iter_key(&f);
			if (strcmp(k, "event_id") == 0 && BSON_ITER_HOLDS_UTF8(&f))
				m.message_id = bson_iter_utf8(&f, NULL);
			else if (strcmp(k, "type") == 0 && BSON_ITER_HOLDS_UTF8(&f))
				m.type = bson_iter_utf8(&f, NULL);
			else if (strcmp(k, "body") == 0 && BSON_ITER_HOLDS_BINARY(&f)) {
				bson_subtype_t sub;
				uint32_t len;
				const uint8_t *data;
				bson_iter_binary(&f, &sub, &len, &data);
				m.body = data;
				m.len = len;
			}
		}
		if (m.message_id && m.type)
			msgs[n++] = m;
	}
	*total = i;
	return n;
}

/* Records that `confirmed` more entries of the order are published; clears
 * outbox_pending when that is all of them and none was appended meanwhile. */
static void order_outbox_mark(mongoc_collection_t *coll, const bson_oid_t *oid, int64_t published, size_t total,
    int64_t confirmed)
{
	bson_error_t err;
	bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, size;
	BSON_APPEND_OID(&filter, "_id", oid);
	BSON_APPEND_INT64(&filter, "outbox_published", published);
	bool all = published + confirmed == (int64_t)total;
	if (all) {
		BSON_APPEND_DOCUMENT_BEGIN(&filter, "outbox", &size);
		BSON_APPEND_INT32(&size, "$size", (int32_t)total);
		bson_append_document_end(&filter, &size);
	}
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
	BSON_APPEND_INT64(&set, "outbox_published", published + confirmed);
	if (all)
		BSON_APPEND_BOOL(&set, "outbox_pending", false);
	bson_append_document_end(&update, &set);
	bson_t reply;
	order_lock(oid); /* see order_lock.h: FerretDB's updates are not atomic */
	bool ok = mongoc_collection_update_one(coll, &filter, &update, NULL, &reply, &err);
	order_unlock(oid);
	bson_iter_t it;
	bool hit = ok && bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) == 1;
	bson_destroy(&reply);
	bson_destroy(&filter);
	bson_destroy(&update);
	if (ok && !hit && all) /* an event was appended meanwhile: only count */
		order_outbox_mark(coll, oid, published, total + 1, confirmed);
}

/* Publishes the pending events of up to one batch of orders, those of `ids`
 * (n of them) or, when ids is NULL, any; returns the number of orders
 * handled, or -1 when the database or the broker failed. */
static int order_relay_once(mongoc_client_t *client, bus *b, const bson_oid_t *ids, size_t n_ids)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, order_db_name(order_ev.db), ORDER_DB_COLLECTION);
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj;
	if (ids != NULL) {
		bson_t in, arr;
		char key[16];
		BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &in);
		BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
		for (size_t i = 0; i < n_ids; i++) {
			const char *k;
			bson_uint32_to_string((uint32_t)i, &k, key, sizeof(key));
			BSON_APPEND_OID(&arr, k, &ids[i]);
		}
		bson_append_array_end(&in, &arr);
		bson_append_document_end(&filter, &in);
	}
	BSON_APPEND_BOOL(&filter, "outbox_pending", true);
	BSON_APPEND_INT64(&opts, "limit", ORDER_RELAY_BATCH);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	BSON_APPEND_INT32(&proj, "outbox", 1);
	BSON_APPEND_INT32(&proj, "outbox_published", 1);
	bson_append_document_end(&opts, &proj);
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	const bson_t *doc;
	int orders = 0;
	bool failed = false;
	while (!failed && mongoc_cursor_next(cur, &doc)) {
		bus_message msgs[ORDER_OUTBOX_MAX];
		bson_oid_t oid;
		char hex[25];
		int64_t published;
		size_t total;
		size_t n = order_outbox_read(doc, &oid, hex, &published, &total, msgs);
		int confirmed = n ? bus_publish(b, msgs, n) : 0;
		if (confirmed < 0) {
			failed = true;
			break;
		}
		order_outbox_mark(coll, &oid, published, total, confirmed);
		orders++;
	}
	bson_error_t err;
	if (mongoc_cursor_error(cur, &err))
		failed = true;
	mongoc_cursor_destroy(cur);
	bson_destroy(&filter);
	bson_destroy(&opts);
	mongoc_collection_destroy(coll);
	return failed ? -1 : orders;
}

/* Takes the kicked ids (up to cap) into ids; *scan: a full scan is owed
 * (the ring overflowed). Returns how many were taken. */
static size_t order_ring_take(bson_oid_t *ids, size_t cap, bool *scan)
{
	pthread_mutex_lock(&order_ev.mu);
	size_t n = order_ev.ring_len < cap ? order_ev.ring_len : cap;
	memcpy(ids, order_ev.ring + (order_ev.ring_len - n), n * sizeof(*ids));
	order_ev.ring_len -= n;
	*scan = order_ev.overflow;
	order_ev.overflow = false;
	pthread_mutex_unlock(&order_ev.mu);
	return n;
}

static void order_relay_main(bgthread *self, void *arg)
{
	(void)arg;
	mongoc_client_t *client = order_db_pop(order_ev.db);
	bus *b = bus_new(order_ev.amqp_url, 2000, "svc-order relay");
	if (b != NULL)
		bus_declare(b, NULL, NULL, 0, 0); /* the exchange, before the first publish */
	int backoff = 100;
	int64_t next_scan = 0; /* a scan first: events left by an earlier run */
	bson_oid_t ids[ORDER_RELAY_BATCH];
	while (b != NULL && !bgthread_stopping(self)) {
		bool scan = false;
		size_t n_ids = order_ring_take(ids, ORDER_RELAY_BATCH, &scan);
		int64_t now = clock_mono_us() / 1000;
		int n = 0;
		if (n_ids > 0)
			n = order_relay_once(client, b, ids, n_ids);
		if (n >= 0 && (scan || now >= next_scan)) {
			n = order_relay_once(client, b, NULL, 0);
			next_scan = now + (n == ORDER_RELAY_BATCH ? 0 : ORDER_RELAY_SCAN_MS);
		}
		if (n < 0) {
			/* the kicked ids wait for the next full scan */
			pthread_mutex_lock(&order_ev.mu);
			order_ev.overflow = true;
			pthread_mutex_unlock(&order_ev.mu);
			bgthread_wait(self, backoff);
			backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
			continue;
		}
		backoff = 100;
		pthread_mutex_lock(&order_ev.mu);
		bool more = order_ev.ring_len > 0 || order_ev.overflow;
		pthread_mutex_unlock(&order_ev.mu);
		if (!more && now < next_scan)
			bgthread_wait(self, (int)(next_scan - now));
	}
	bus_free(b);
	order_db_push(order_ev.db, client);
}

/* ---- consumer ------------------------------------------------------------- */

static bus_outcome order_on_message(const bus_message *m, int delivery, void *arg)
{
	rpc_client *self = arg;
	(void)delivery;
	Comanda__ApplyPaymentResultRequest req = COMANDA__APPLY_PAYMENT_RESULT_REQUEST__INIT;
	req.event_id = (char *)(m->message_id ? m->message_id : "");
	Comanda__PaymentCompleted *done = NULL;
	Comanda__PaymentFailed *failed = NULL;
	Comanda__PaymentRefunded *refunded = NULL;
	const char *type = m->type ? m->type : "";
	if (strcmp(type, "payment.completed") == 0 && (done = comanda__payment_completed__unpack(NULL, m->len, m->body))) {
		req.order_id = done->order_id;
		req.payment_id = done->payment_id;
		req.result = COMANDA__APPLY_PAYMENT_RESULT_REQUEST__RESULT__COMPLETED;
	} else if (strcmp(type, "payment.failed") == 0 && (failed = comanda__payment_failed__unpack(NULL, m->len, m->body))) {
		req.order_id = failed->order_id;
		req.payment_id = failed->payment_id;
		req.reason = failed->reason;
		req.result = COMANDA__APPLY_PAYMENT_RESULT_REQUEST__RESULT__FAILED;
	} else if (strcmp(type, "payment.refunded") == 0 &&
	           (refunded = comanda__payment_refunded__unpack(NULL, m->len, m->body))) {
		req.order_id = refunded->order_id;
		req.payment_id = refunded->payment_id;
		req.result = COMANDA__APPLY_PAYMENT_RESULT_REQUEST__RESULT__REFUNDED;
	}
	bus_outcome v = BUS_REJECT;
	if (req.result != COMANDA__APPLY_PAYMENT_RESULT_REQUEST__RESULT__RESULT_UNSPECIFIED && req.event_id[0]) {
		rpc_call call;
		rpc_call_init(&call);
		call.caller_role = COMANDA__ROLE__ROLE_SERVICE;
		call.request_id = m->request_id;
		call.timeout_ms = 10000;
		Comanda__OrderReply *reply = NULL;
		int code = order_service_apply_payment_result(self, &call, &req, &reply);
		if (code != COMANDA__CODE__OK) {
			log_line l;
			log_begin(&l, LOG_WARN, "payment event not applied");
			log_str(&l, "type", type);
			log_str(&l, "event_id", req.event_id);
			log_str(&l, "code", rpc_code_name(code));
			log_str(&l, "error", call.status.message);
			log_end(&l);
		}
		rpc_call_release(&call);
		v = svc_events_outcome(code);
	} else {
		log_printf(LOG_WARN, "dead-lettering an undecodable %s message", type[0] ? type : "(untyped)");
	}
	if (done)
		comanda__payment_completed__free_unpacked(done, NULL);
	if (failed)
		comanda__payment_failed__free_unpacked(failed, NULL);
	if (refunded)
		comanda__payment_refunded__free_unpacked(refunded, NULL);
	return v;
}

static void order_consumer_main(bgthread *thread, void *arg)
{
	(void)arg;
	static const char *const keys[] = { "payment.completed", "payment.failed", "payment.refunded" };
	svc_events_queue q = {
		.amqp_url = order_ev.amqp_url,
		.self_url = order_ev.self_url,
		.app = "svc-order consumer",
		.queue = ORDER_QUEUE,
		.keys = keys,
		.n_keys = 3,
		.max_deliveries = ORDER_MAX_DELIVERIES,
		.prefetch = 16,
	};
	svc_events_consume(thread, &q, order_on_message);
}

/* ---- hooks ------------------------------------------------------------------ */

int order_events_start(svc *s, order_db *db)
{
	order_ev.db = db;
	snprintf(order_ev.amqp_url, sizeof(order_ev.amqp_url), "%s", cfg_str("AMQP_URL"));
	snprintf(order_ev.self_url, sizeof(order_ev.self_url), "%s", svc_self_url(s));
	order_relay_thread = bgthread_start("outbox relay", order_relay_main, NULL);
	order_consumer_thread = bgthread_start("event consumer", order_consumer_main, NULL);
	return order_relay_thread && order_consumer_thread ? 0 : -1;
}

void order_events_kick(const char *order_id)
{
	bson_oid_t oid;
	if (!bson_oid_is_valid(order_id, strlen(order_id)))
		return;
	bson_oid_init_from_string(&oid, order_id);
	pthread_mutex_lock(&order_ev.mu);
	if (order_ev.ring_len < ORDER_KICK_RING)
		order_ev.ring[order_ev.ring_len++] = oid;
	else
		order_ev.overflow = true;
	pthread_mutex_unlock(&order_ev.mu);
	bgthread_kick(order_relay_thread);
}

void order_events_stop(void)
{
	bgthread_stop(order_consumer_thread);
	bgthread_stop(order_relay_thread);
	order_consumer_thread = order_relay_thread = NULL;
}

int order_events_status(order_db *db, json_object *obj)
{
	int64_t backlog = 0;
	int code = order_db_count_pending(db, &backlog);
	if (code == COMANDA__CODE__OK) {
		json_object_object_add(obj, "outbox_backlog", json_object_new_int64(backlog));
		metrics_gauge_set(metrics_gauge("comanda_outbox_backlog", "Orders with events not yet confirmed by the broker", NULL),
		    backlog);
	}
	return code == COMANDA__CODE__OK ? 0 : -1;
}
