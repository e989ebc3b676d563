#include "order_events.h"

#include "order_lock.h"
#include "order_relay_lock.h"

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

/* Orders per relay pass: one find, one publish of all their events with one
 * wait for the confirms, one update_many marking them. On FerretDB the find
 * and each update_many read the whole collection (no filter here uses an
 * index there) and the update_many commits each order on its own, so a
 * pass costs about two scans plus 128 small commits instead of one scan and
 * one commit per order. Not more: a handler writing one of the batch's
 * orders waits for the update_many (order_lock_many), and that took
 * 0.4-2 s per batch of 128 on the local stack with a backlog of a few
 * thousand orders (most of it FerretDB decoding every pending order,
 * whatever the batch size): already up to the default RPC deadline. */
#define ORDER_RELAY_BATCH 128
#define ORDER_RELAY_SCAN_MS 5000     /* full scan for pending outboxes when nobody kicks */
/* A scan runs only while its replica holds the relay lock (order_relay_lock.h).
 * One that finds the lock held is put off this long: the holder's scans are
 * reading the same outboxes meanwhile. The lease is five times the longest
 * pass measured on the local stack (0.4-2 s per batch of 128 on FerretDB
 * under load, the broker's confirms bounded by 2 s); a pass that outlives
 * it (a database stalled for longer) only lets another replica's scan
 * publish some events twice. It bounds how long a replica that died
 * mid-scan holds up the others' scans; kicked passes never wait for it. */
#define ORDER_RELAY_SCAN_BUSY_MS 1000
#define ORDER_RELAY_LEASE_MS 10000
#define ORDER_KICK_RING 1024         /* order ids kicked and not yet relayed */
#define ORDER_OUTBOX_MAX 32          /* events per order document */
#define ORDER_RELAY_MSGS (ORDER_RELAY_BATCH * ORDER_OUTBOX_MAX)

/* kicked by RPC handlers, which are still served while it stops */
static bgthread_ref order_relay_thread = BGTHREAD_REF_INIT;
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

/* One order of a relay pass. */
typedef struct order_relay_item {
	bson_t *doc;          /* owned copy: the messages point into it */
	bson_oid_t oid;
	char hex[25];         /* the messages' correlation_id */
	int64_t published;    /* outbox_published when read */
	size_t total;         /* entries in its outbox when read */
	size_t first, n;      /* its unpublished entries: msgs[first..first+n) */
	int64_t confirmed;    /* how many of those, from the first, the broker acked */
	bool done;            /* marked, or nothing to mark */
} order_relay_item;

/* The relay's working memory, allocated once per relay thread (~200 KiB:
 * too much for its stack). */
typedef struct order_relay_buf {
	order_relay_item items[ORDER_RELAY_BATCH];
	bus_message msgs[ORDER_RELAY_MSGS];
	bool acked[ORDER_RELAY_MSGS];
	bson_oid_t group[ORDER_RELAY_BATCH];
} order_relay_buf;

/* Appends {_id: {$in: oids[0..n)}} to filter. */
static void order_filter_ids(bson_t *filter, const bson_oid_t *oids, size_t n)
{
	bson_t in, arr;
	char key[16];
	BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &in);
	BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
	for (size_t i = 0; i < n; i++) {
		const char *k;
		bson_uint32_to_string((uint32_t)i, &k, key, sizeof(key));
		BSON_APPEND_OID(&arr, k, &oids[i]);
	}
	bson_append_array_end(&in, &arr);
	bson_append_document_end(filter, &in);
}

/* One update_many over the orders oids[0..n) that still have
 * outbox_published == published (and, when size >= 0, exactly `size`
 * outbox entries): sets outbox_published to `to`, and outbox_pending to false
 * when `clear`. *matched: how many matched. 0, or -1 (logged). The filter
 * also names outbox_pending: true, which FerretDB pushes down to
 * PostgreSQL: it then decodes only the pending orders, not all of them. */
static int order_outbox_update(mongoc_collection_t *coll, const bson_oid_t *oids, size_t n, int64_t published,
    int64_t size, int64_t to, bool clear, int64_t *matched)
{
	bson_error_t err;
	bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, size_doc, reply;
	order_filter_ids(&filter, oids, n);
	BSON_APPEND_BOOL(&filter, "outbox_pending", true);
	BSON_APPEND_INT64(&filter, "outbox_published", published);
	if (size >= 0) {
		BSON_APPEND_DOCUMENT_BEGIN(&filter, "outbox", &size_doc);
		BSON_APPEND_INT32(&size_doc, "$size", (int32_t)size);
		bson_append_document_end(&filter, &size_doc);
	}
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
	BSON_APPEND_INT64(&set, "outbox_published", to);
	if (clear)
		BSON_APPEND_BOOL(&set, "outbox_pending", false);
	bson_append_document_end(&update, &set);
	bool ok = mongoc_collection_update_many(coll, &filter, &update, NULL, &reply, &err);
	bson_iter_t it;
	*matched = ok && bson_iter_init_find(&it, &reply, "matchedCount") ? bson_iter_as_int64(&it) : 0;
	if (!ok)
		log_printf(LOG_WARN, "outbox relay: marking %zu orders published failed (published again later): %s", n,
		    err.message);
	bson_destroy(&reply);
	bson_destroy(&filter);
	bson_destroy(&update);
	return ok ? 0 : -1;
}

/* Records that `confirmed` more entries of each order oids[0..n) are
 * published, for orders that all had `published` of `total` entries
 * published when read; clears outbox_pending of those where that is all of
 * them and none was appended meanwhile. 0, or -1 (logged). */
static int order_outbox_mark(mongoc_collection_t *coll, const bson_oid_t *oids, size_t n, int64_t published,
    size_t total, int64_t confirmed)
{
	bool all = published + confirmed == (int64_t)total;
	int64_t matched = 0;
	order_lock_many(oids, n); /* see order_lock.h: FerretDB's updates are not atomic */
	int rc = order_outbox_update(coll, oids, n, published, all ? (int64_t)total : -1, published + confirmed, all,
	    &matched);
	/* Orders that got an event appended meanwhile did not match the
	 * $size: only count theirs. The orders just marked no longer have
	 * outbox_published == published (confirmed > 0), so they do not match. */
	if (rc == 0 && all && confirmed > 0 && matched < (int64_t)n)
		rc = order_outbox_update(coll, oids, n, published, -1, published + confirmed, false, &matched);
	order_unlock_many();
	return rc;
}

/* Marks the batch's acked entries: one order_outbox_mark for each
 * distinct (published, total, confirmed), so in practice one update_many
 * for the whole batch (new orders: 1 of 1 entries confirmed, 0 published
 * before). Returns how many orders were written, or -1 when a write
 * failed. */
static int order_outbox_mark_batch(mongoc_collection_t *coll, order_relay_buf *buf, size_t n_items)
{
	for (size_t i = 0; i < n_items; i++) {
		order_relay_item *o = &buf->items[i];
		/* Nothing acked and entries left: nothing to record. (Nothing acked
		 * and nothing left, e.g. an earlier mark that lost its $size race:
		 * clearing outbox_pending is still owed.) */
		o->done = o->confirmed == 0 && o->published < (int64_t)o->total;
	}
	int rc = 0, written = 0;
	for (size_t i = 0; i < n_items && rc == 0; i++) {
		const order_relay_item *a = &buf->items[i];
		if (a->done)
			continue;
		size_t n = 0;
		for (size_t j = i; j < n_items; j++) {
			order_relay_item *o = &buf->items[j];
			if (!o->done && o->published == a->published && o->total == a->total && o->confirmed == a->confirmed) {
				buf->group[n++] = o->oid;
				o->done = true;
			}
		}
		rc = order_outbox_mark(coll, buf->group, n, a->published, a->total, a->confirmed);
		written += (int)n;
	}
	return rc == 0 ? written : -1;
}

/* Publishes the pending events of up to one batch of orders, those of `ids`
 * (n of them) or, when ids is NULL, any: reads the orders with one find,
 * publishes every unpublished entry of all of them (each order's in outbox
 * order, one order after the other) and waits for the confirms once, then
 * marks each order's acked prefix with one update_many. Returns the number
 * of orders marked (a full batch: there may be more), or -1 when the
 * database or the broker failed (what was not marked stays pending:
 * published again later, at least once). */
static int order_relay_once(mongoc_client_t *client, bus *b, order_relay_buf *buf, const bson_oid_t *ids,
    size_t n_ids)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, order_db_name(order_ev.db), ORDER_DB_COLLECTION);
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj;
	if (ids != NULL)
		order_filter_ids(&filter, ids, n_ids);
	BSON_APPEND_BOOL(&filter, "outbox_pending", true);
	BSON_APPEND_INT64(&opts, "limit", ORDER_RELAY_BATCH);
	BSON_APPEND_INT32(&opts, "batchSize", ORDER_RELAY_BATCH); /* one round trip, not a getMore after 101 */
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	BSON_APPEND_INT32(&proj, "outbox", 1);
	BSON_APPEND_INT32(&proj, "outbox_published", 1);
	bson_append_document_end(&opts, &proj);
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	const bson_t *doc;
	size_t n_items = 0, n_msgs = 0;
	bool failed = false;
	while (n_items < ORDER_RELAY_BATCH && mongoc_cursor_next(cur, &doc)) {
		bson_iter_t it;
		if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it))
			continue; /* not an order of ours: nothing to publish or mark */
		order_relay_item *o = &buf->items[n_items];
		/* The cursor reuses its document: keep a copy for the messages. */
		if ((o->doc = bson_copy(doc)) == NULL) {
			failed = true;
			break;
		}
		n_items++;
		o->first = n_msgs;
		o->n = order_outbox_read(o->doc, &o->oid, o->hex, &o->published, &o->total, &buf->msgs[n_msgs]);
		o->confirmed = 0;
		n_msgs += o->n;
	}
	bson_error_t err;
	if (mongoc_cursor_error(cur, &err))
		failed = true;
	mongoc_cursor_destroy(cur);
	if (!failed && n_msgs > 0) {
		int k = bus_publish_each(b, buf->msgs, n_msgs, buf->acked);
		if (k < 0)
			failed = true;
		/* outbox_published is a count, so only each order's acked prefix
		 * can be recorded: the entries after an unacked one stay pending
		 * and go out again after it (duplicates, which consumers ignore).
		 * A later entry is never recorded while an earlier one waits. */
		for (size_t i = 0; i < n_items && k > 0; i++) {
			order_relay_item *o = &buf->items[i];
			while ((size_t)o->confirmed < o->n && buf->acked[o->first + (size_t)o->confirmed])
				o->confirmed++;
		}
	}
	int marked = failed ? -1 : order_outbox_mark_batch(coll, buf, n_items);
	for (size_t i = 0; i < n_items; i++)
		bson_destroy(buf->items[i].doc);
	bson_destroy(&filter);
	bson_destroy(&opts);
	mongoc_collection_destroy(coll);
	return marked;
}

/* True when a full scan is owed: the ring overflowed or a pass failed, so
 * kicked ids were dropped. */
static bool order_ring_overflowed(void)
{
	pthread_mutex_lock(&order_ev.mu);
	bool overflow = order_ev.overflow;
	pthread_mutex_unlock(&order_ev.mu);
	return overflow;
}

/* With scan false: takes the kicked ids (up to cap) into ids and returns
 * how many. With scan true (this pass scans): empties the ring and clears
 * the overflow, since a scan finds every pending order, the kicked ones
 * too (each kick follows its order's commit), and returns 0. */
static size_t order_ring_take(bson_oid_t *ids, size_t cap, bool scan)
{
	pthread_mutex_lock(&order_ev.mu);
	size_t n = scan ? 0 : order_ev.ring_len < cap ? order_ev.ring_len : cap;
	memcpy(ids, order_ev.ring + (order_ev.ring_len - n), n * sizeof(*ids));
	order_ev.ring_len = scan ? 0 : order_ev.ring_len - n;
	if (scan)
		order_ev.overflow = false;
	pthread_mutex_unlock(&order_ev.mu);
	return n;
}

static void order_relay_main(bgthread *self, void *arg)
{
	(void)arg;
	/* A client of its own, whose waits end at the process's stop
	 * (order_db_background), replaced after each failure. */
	mongoc_client_t *client = NULL;
	const char *db = order_db_name(order_ev.db);
	bus *b = bus_new(order_ev.amqp_url, 2000, "svc-order relay");
	if (b != NULL)
		svc_events_declare_all(b); /* the exchange and every queue, before the first publish */
	order_relay_buf *buf = calloc(1, sizeof(*buf));
	if (buf == NULL)
		log_printf(LOG_ERROR, "outbox relay: out of memory; events stay in the outboxes");
	int backoff = 100;
	int64_t next_scan = 0; /* a scan first: events left by an earlier run */
	bson_oid_t ids[ORDER_RELAY_BATCH];
	char holder[ORDER_RELAY_LOCK_HOLDER_MAX];
	order_relay_lock_holder(holder, sizeof(holder));
	while (b != NULL && buf != NULL && !bgthread_stopping(self)) {
		if (client == NULL && (client = order_db_background(order_ev.db)) == NULL) {
			log_printf(LOG_ERROR, "outbox relay: out of memory for a MongoDB client; trying again");
			bgthread_wait(self, 5000);
			continue;
		}
		int64_t now = clock_mono_us() / 1000;
		bool scan = false, failed = false;
		if (now >= next_scan || order_ring_overflowed()) {
			/* A scan owed while another replica holds the lock waits: that
			 * replica's scans read the same outboxes. The kicked ids still
			 * go out meanwhile, and an overflow stays owed. */
			order_relay_lock_result lk =
			    order_relay_lock_take(client, db, holder, clock_wall_ms(), ORDER_RELAY_LEASE_MS, NULL);
			scan = lk == ORDER_RELAY_LOCK_TAKEN;
			failed = lk == ORDER_RELAY_LOCK_ERROR;
			if (lk == ORDER_RELAY_LOCK_BUSY)
				next_scan = now + ORDER_RELAY_SCAN_BUSY_MS;
		}
		int n = -1;
		if (!failed) {
			size_t n_ids = order_ring_take(ids, ORDER_RELAY_BATCH, scan);
			/* While scans come back full (a backlog), scan again at once and
			 * skip the kicked ids: on FerretDB a find by {_id: {$in}} reads
			 * and decodes every pending order (only outbox_pending is pushed
			 * down to PostgreSQL, $in is filtered in FerretDB), whereas a
			 * scan stops decoding at its limit (measured with ~1,500
			 * pending: 200-700 ms against 50-120 ms). */
			n = scan ? order_relay_once(client, b, buf, NULL, 0)
			    : n_ids > 0 ? order_relay_once(client, b, buf, ids, n_ids)
			    : 0;
		}
		if (scan) {
			order_relay_lock_release(client, db, holder);
			if (n >= 0)
				next_scan = now + (n == ORDER_RELAY_BATCH ? 0 : ORDER_RELAY_SCAN_MS);
		}
		if (n < 0) {
			/* the kicked ids wait for the next full scan */
			pthread_mutex_lock(&order_ev.mu);
			order_ev.overflow = true;
			pthread_mutex_unlock(&order_ev.mu);
			/* a fresh client: this one would not try the server again for
			 * 5 s (order_db_background) */
			order_db_client_free(client);
			client = NULL;
			bgthread_wait(self, backoff);
			backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
			continue;
		}
		backoff = 100;
		pthread_mutex_lock(&order_ev.mu);
		bool more = order_ev.ring_len > 0 || (order_ev.overflow && now >= next_scan);
		pthread_mutex_unlock(&order_ev.mu);
		if (!more && now < next_scan)
			bgthread_wait(self, (int)(next_scan - now));
	}
	free(buf);
	bus_free(b);
	order_db_client_free(client);
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
		req.refunded_at_ms = refunded->refunded_at_ms;
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
	svc_events_queue q = {
		.amqp_url = order_ev.amqp_url,
		.self_url = order_ev.self_url,
		.app = "svc-order consumer",
		.topic = svc_events_topic_of(SVC_EVENTS_ORDER_QUEUE),
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
	bgthread *relay = bgthread_ref_set(&order_relay_thread, bgthread_start("outbox relay", order_relay_main, NULL));
	order_consumer_thread = bgthread_start("event consumer", order_consumer_main, NULL);
	if (relay && order_consumer_thread)
		return 0;
	/* svc calls the stop hook only after a start that succeeded: the
	 * thread that did start is joined here */
	order_events_stop();
	return -1;
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
	bgthread_ref_kick(&order_relay_thread);
}

void order_events_stop(void)
{
	bgthread_stop(order_consumer_thread);
	bgthread_ref_stop(&order_relay_thread);
	order_consumer_thread = NULL;
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
