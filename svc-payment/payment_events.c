#include "payment_events.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bgthread.h"
#include "bus.h"
#include "cfg.h"
#include "clock.h"
#include "comanda/events.pb-c.h"
#include "comanda/payment.rpc.h"
#include "payment_processor.h"
#include "log.h"
#include "metrics.h"
#include "svc_events.h"
#include "pg_idem.h"

/* Outbox rows per relay pass: one SELECT, one publish of all of them with
 * one wait for the confirms, one UPDATE marking the acked ones: the fsync'd
 * commit and the broker round trip are paid once per batch instead of once
 * per event. 128 keeps a pass's memory (the rows and their decoded bodies)
 * and its confirm wait small, and a backlog still drains in few passes. */
#define PAY_RELAY_BATCH 128
#define PAY_RELAY_POLL_MS 1000        /* outbox poll when nobody kicks (events of another replica) */
/* Every replica runs a relay, and they take turns: a pass runs in a
 * transaction holding this advisory lock ("payrelay" as a big-endian
 * integer), so one pass at a time goes through the outbox of a database.
 * Two passes at once would publish the same rows twice; claiming rows with
 * SKIP LOCKED instead would let two relays publish one order's events out of
 * order. The lock goes with the transaction, or with its connection when a
 * replica dies. A relay that finds it taken tries again after
 * PAY_RELAY_BUSY_MS: the pass under way may have read the outbox before this
 * replica's own events were committed. */
#define PAY_RELAY_LOCK "8097887137223696761"
/* A pass idles in its transaction only while the broker confirms (bus
 * timeout 2 s). A replica frozen mid-pass (SIGSTOP, a stalled VM) would keep
 * the lock, and with it every relay, for as long as its connection lives:
 * PostgreSQL ends such a session after this long, which frees the lock. */
#define PAY_RELAY_IDLE_TIMEOUT_MS "10000"
/* The longest a relay pass or a sweep's query waits for the database: the
 * pass's own work (a batch read, the broker's confirms within 2 s, one
 * write) takes well under a second; a database that has not answered by
 * then is treated as down (lib/pg closes the connection). */
#define PAY_RELAY_PASS_MS 15000
#define PAY_RELAY_BUSY_MS 20
#define PAY_RELAY_BUSY (-2)           /* pay_relay_once: another replica's pass holds the lock */
#define PAY_SWEEP_EVERY_MS 2000       /* between the end of a sweep and the next */
/* How long the sweep waits for one SettlePayment, the processor call in it
 * included. A processor that takes longer is left to finish on the worker;
 * the pass ends there (the rest would wait on the same processor). */
#define PAY_SWEEP_CALL_MS 5000
/* A payment whose SettlePayment failed or timed out waits this long before
 * the sweep asks again, doubled for each further failure in a row, up to
 * PAY_SWEEP_BACKOFF_MAX_S (sweep_next_at, migration 005): the payments
 * after it get their turns meanwhile, and it is still asked again. The
 * first wait is as long as PAY_SWEEP_CALL_MS, so that a timed-out call's
 * worker, which goes on waiting for the processor, is not joined at once by
 * another for the same payment; the longest is PAYMENT_CLAIM_STALE_S, so
 * that a processor back up is asked again within the time an abandoned
 * charge waits anyway. */
#define PAY_SWEEP_BACKOFF_S "5"
#define PAY_SWEEP_BACKOFF_MAX_S "60"
/* How long the sweep's write of a payment's turn may wait for the database. */
#define PAY_SWEEP_WRITE_MS 3000

/* Three threads, each with its own connections. The sweep is not run by the
 * relay: each payment it settles waits for the processor, which may hang up
 * to its timeout, and the events of every other payment must go out
 * meanwhile. */
/* kicked by RPC handlers, which are still served while it stops */
static bgthread_ref pay_relay_thread = BGTHREAD_REF_INIT;
static bgthread *pay_sweep_thread;
static bgthread *pay_consumer_thread;

typedef struct pay_events_ctx {
	char db_url[512];
	char amqp_url[512];
	char self_url[96];
	int connect_timeout_s;
} pay_events_ctx;

static pay_events_ctx pay_ev;

/* ---- relay --------------------------------------------------------------- */

/* True when row i of the batch may be marked published: the broker acked
 * it, and no earlier row of the same order (correlation_id) in this batch
 * went unacked. So a later event of an order is never recorded while an
 * earlier one waits: the next pass publishes the earlier one and then the
 * later one again, in the order they were written (the same rule as
 * svc-order's relay, which records each order's acked prefix). */
static bool pay_relay_markable(PGresult *r, const bool *acked, int i)
{
	if (!acked[i])
		return false;
	const char *order = PQgetvalue(r, i, 3);
	for (int j = 0; j < i; j++) {
		if (!acked[j] && strcmp(PQgetvalue(r, j, 3), order) == 0)
			return false;
	}
	return true;
}

/* Publishes up to one batch of pending outbox rows, oldest first (so each
 * order's events go out in the order they were written), waits for the
 * broker's confirms once, and marks the acked ones published with one
 * UPDATE. Runs inside pay_relay_once's transaction. Returns how many rows
 * were marked, or -1 when the database or the broker failed (rows not marked
 * stay pending: published again later, at least once). */
static int pay_relay_batch(pg_conn *db, bus *b)
{
	char limit[16];
	snprintf(limit, sizeof(limit), "%d", PAY_RELAY_BATCH);
	const char *params[] = { limit };
	PGresult *r = NULL;
	int code = pg_exec(db, "SELECT id, event_id, event_type, correlation_id, coalesce(request_id, ''), payload "
	                       "FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1", 1, params, &r);
	if (code != COMANDA__CODE__OK) {
		PQclear(r);
		return -1;
	}
	int n = PQntuples(r);
	if (n == 0) {
		PQclear(r);
		return 0;
	}
	arena mem;
	arena_init(&mem);
	bus_message *msgs = arena_alloc(&mem, (size_t)n * sizeof(*msgs));
	bool *acked = arena_alloc(&mem, (size_t)n * sizeof(*acked));
	int ready = 0;
	for (int i = 0; msgs != NULL && acked != NULL && i < n; i++) {
		ProtobufCBinaryData body;
		if (pg_bytea_parse(&mem, PQgetvalue(r, i, 5), &body) != 0)
			break; /* out of memory: the rest wait for the next pass */
		msgs[i] = (bus_message){
			.type = PQgetvalue(r, i, 2),
			.message_id = PQgetvalue(r, i, 1),
			.correlation_id = PQgetvalue(r, i, 3),
			.request_id = PQgetvalue(r, i, 4),
			.body = body.data,
			.len = body.len,
		};
		ready++;
	}
	int confirmed = ready > 0 ? bus_publish_each(b, msgs, (size_t)ready, acked) : 0;
	int result = confirmed < 0 ? -1 : 0;
	if (confirmed > 0) {
		/* ids of the markable rows, as a PostgreSQL array literal: each id
		 * is at most 19 digits, plus a comma */
		size_t cap = (size_t)ready * 21 + 3;
		char *ids = arena_alloc(&mem, cap);
		size_t len = 0;
		int marked = 0;
		if (ids != NULL) {
			ids[len++] = '{';
			for (int i = 0; i < ready; i++) {
				if (!pay_relay_markable(r, acked, i))
					continue;
				size_t room = cap - len - 2; /* and the closing brace and NUL */
				int w = snprintf(ids + len, room, "%s%s", marked ? "," : "", PQgetvalue(r, i, 0));
				if (w < 0 || (size_t)w >= room)
					break;
				len += (size_t)w;
				marked++;
			}
			ids[len++] = '}';
			ids[len] = '\0';
		}
		const char *p2[] = { ids };
		if (ids == NULL)
			result = -1;
		else if (marked > 0)
			result = pg_run(db, "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", 1, p2) ==
			        COMANDA__CODE__OK
			    ? marked
			    : -1;
	}
	PQclear(r);
	arena_reset(&mem);
	return result;
}

/* One relay pass: pay_relay_batch in a transaction that holds
 * PAY_RELAY_LOCK. Returns its count of marked rows, PAY_RELAY_BUSY when
 * another replica's pass holds the lock, or -1 when the database or the
 * broker failed (nothing marked: the transaction is rolled back). */
static int pay_relay_once(pg_conn *db, bus *b)
{
	/* A database that stops answering mid-pass gives the thread back (and
	 * the connection up) instead of holding it until the server thaws: a
	 * stop, or a failover behind the same address, is not kept waiting. */
	pg_conn_set_deadline(db, clock_mono_us() + (int64_t)PAY_RELAY_PASS_MS * 1000);
	if (pg_run(db, "BEGIN", 0, NULL) != COMANDA__CODE__OK)
		return -1;
	PGresult *r = NULL;
	int code = pg_exec(db,
	    "SELECT pg_try_advisory_xact_lock(" PAY_RELAY_LOCK "), "
	    "set_config('idle_in_transaction_session_timeout', '" PAY_RELAY_IDLE_TIMEOUT_MS "', true)",
	    0, NULL, &r);
	bool mine = code == COMANDA__CODE__OK && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!mine) {
		pg_run(db, "ROLLBACK", 0, NULL);
		return code == COMANDA__CODE__OK ? PAY_RELAY_BUSY : -1;
	}
	int n = pay_relay_batch(db, b);
	if (n < 0) {
		pg_run(db, "ROLLBACK", 0, NULL);
		return -1;
	}
	/* a lost COMMIT leaves the rows pending: published again, at least once */
	return pg_run(db, "COMMIT", 0, NULL) == COMANDA__CODE__OK ? n : -1;
}

static void pay_relay_main(bgthread *self, void *arg)
{
	(void)arg;
	pg_conn *db = pg_conn_new(pay_ev.db_url, pay_ev.connect_timeout_s, "svc-payment relay");
	bus *b = bus_new(pay_ev.amqp_url, 2000, "svc-payment relay");
	if (b != NULL)
		svc_events_declare_all(b); /* the exchange and every queue, before the first publish */
	int backoff = 100;
	while (db != NULL && b != NULL && !bgthread_stopping(self)) {
		int n = pay_relay_once(db, b);
		if (n == PAY_RELAY_BUSY) {
			bgthread_wait(self, PAY_RELAY_BUSY_MS);
			continue;
		}
		if (n < 0) {
			bgthread_wait(self, backoff);
			backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
			continue;
		}
		backoff = 100;
		/* a commit that wrote an event kicks: it leaves at once */
		if (n < PAY_RELAY_BATCH)
			bgthread_wait(self, PAY_RELAY_POLL_MS);
	}
	bus_free(b);
	pg_conn_free(db);
}

/* ---- recovery sweep ------------------------------------------------------ */

/* Records how payment `id`'s SettlePayment went, for the next sweeps: a
 * failure (answered or timed out) pushes it back, doubling the wait with
 * each failure in a row; an answer resets it. Best effort: if the write
 * fails the payment keeps the turn it had, as before this existed. */
static void pay_sweep_turn(pg_conn *db, int64_t id, bool failed)
{
	char ids[24];
	snprintf(ids, sizeof(ids), "%" PRId64, id);
	const char *params[] = { ids };
	/* Its own deadline: the pass's may be spent on slow calls by now. */
	pg_conn_set_deadline(db, clock_mono_us() + (int64_t)PAY_SWEEP_WRITE_MS * 1000);
	/* sweep_failures on the right is the count before this failure: the
	 * first waits PAY_SWEEP_BACKOFF_S (the exponent is bounded, so the
	 * product cannot overflow an interval). */
	int code;
	if (failed)
		code = pg_run(db, "UPDATE payments SET sweep_failures = sweep_failures + 1, sweep_next_at = now() + "
		                  "least(interval '" PAY_SWEEP_BACKOFF_MAX_S " seconds', interval '" PAY_SWEEP_BACKOFF_S
		                  " seconds' * power(2, least(sweep_failures, 16))) WHERE id = $1",
		    1, params);
	else
		code = pg_run(db, "UPDATE payments SET sweep_failures = 0, sweep_next_at = NULL "
		                  "WHERE id = $1 AND sweep_failures > 0", 1, params);
	if (code != COMANDA__CODE__OK)
		log_printf(LOG_WARN, "recovery sweep: payment %" PRId64 ": its next turn not recorded (%s)", id,
		    rpc_code_name(code));
}

/* Asks the service to settle what processor calls left undone
 * (SettlePayment): a card payment still pending 5 s after it was created
 * whose charge was never attempted, or whose charge mark is abandoned; a
 * completed payment whose refund mark is abandoned. A mark younger than
 * PAYMENT_CLAIM_STALE_S belongs to a call that may still be in flight.
 * A payment whose last call failed waits for its turn (sweep_next_at), and
 * the ones that never failed come first, so that one the processor cannot
 * settle does not hold up the others. One payment at a time; stops between
 * two when the thread is stopped. */
static void pay_sweep(bgthread *thread, pg_conn *db, rpc_client *self)
{
	pg_conn_set_deadline(db, clock_mono_us() + (int64_t)PAY_RELAY_PASS_MS * 1000);
	PGresult *r = NULL;
	int code = pg_exec(db, "SELECT id FROM payments WHERE ((status = 'pending' "
	                       "AND payment_method IN ('credit_card', 'debit_card') "
	                       "AND ((charge_started_at IS NULL AND created_at < now() - interval '5 seconds') "
	                       "OR charge_started_at < " PAYMENT_CLAIM_STALE_BEFORE ")) "
	                       "OR (status = 'completed' AND refund_started_at < " PAYMENT_CLAIM_STALE_BEFORE ")) "
	                       "AND (sweep_next_at IS NULL OR sweep_next_at <= now()) "
	                       "ORDER BY sweep_next_at NULLS FIRST, id LIMIT 50", 0, NULL, &r);
	for (int i = 0; code == COMANDA__CODE__OK && i < PQntuples(r) && !bgthread_stopping(thread); i++) {
		rpc_call call;
		rpc_call_init(&call);
		call.caller_role = COMANDA__ROLE__ROLE_SERVICE;
		call.request_id = "recovery-sweep";
		Comanda__GetPaymentRequest req = COMANDA__GET_PAYMENT_REQUEST__INIT;
		req.id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		Comanda__PaymentReply *reply = NULL;
		int rc = payment_service_settle_payment(self, &call, &req, &reply);
		if (rc == COMANDA__CODE__OK)
			log_printf(LOG_INFO, "recovery sweep settled payment %" PRId64, req.id);
		rpc_call_release(&call);
		pay_sweep_turn(db, req.id, rc != COMANDA__CODE__OK);
		/* The processor (or the service) did not answer in time: each
		 * further call would hold one more RPC worker on it. The next
		 * sweep goes on with the others: this payment waits for its
		 * turn (pay_sweep_turn), or, if it was being charged, for its
		 * new mark to be abandoned. */
		if (rc == COMANDA__CODE__DEADLINE_EXCEEDED) {
			log_printf(LOG_WARN, "recovery sweep: payment %" PRId64 " not settled within %d ms; the rest wait",
			    req.id, PAY_SWEEP_CALL_MS);
			break;
		}
	}
	PQclear(r);
}

/* Needs only the database and the service itself, so it settles charges
 * while the broker is down too. */
static void pay_sweep_main(bgthread *self, void *arg)
{
	(void)arg;
	pg_conn *db = pg_conn_new(pay_ev.db_url, pay_ev.connect_timeout_s, "svc-payment sweep");
	rpc_client *rpc_self = NULL;
	rpc_client_config sc = { .urls = pay_ev.self_url, .default_timeout_ms = PAY_SWEEP_CALL_MS };
	if (db == NULL || rpc_client_open(&rpc_self, &sc) != COMANDA__CODE__OK) {
		log_printf(LOG_ERROR, "recovery sweep: cannot start (out of memory, or %s unusable)", pay_ev.self_url);
	} else {
		/* the first at once: what a previous process left undone */
		do
			pay_sweep(self, db, rpc_self);
		while (bgthread_wait(self, PAY_SWEEP_EVERY_MS));
	}
	rpc_client_close(rpc_self);
	pg_conn_free(db);
}

/* ---- consumer ------------------------------------------------------------- */

static bus_outcome pay_on_message(const bus_message *m, int delivery, void *arg)
{
	rpc_client *self = arg;
	(void)delivery;
	Comanda__HandleOrderEventRequest req = COMANDA__HANDLE_ORDER_EVENT_REQUEST__INIT;
	req.event_id = (char *)(m->message_id ? m->message_id : "");
	Comanda__OrderCreated *created = NULL;
	Comanda__OrderCancelled *cancelled = NULL;
	if (m->type && strcmp(m->type, "order.created") == 0) {
		created = comanda__order_created__unpack(NULL, m->len, m->body);
		req.event_case = COMANDA__HANDLE_ORDER_EVENT_REQUEST__EVENT_CREATED;
		req.created = created;
	} else if (m->type && strcmp(m->type, "order.cancelled") == 0) {
		cancelled = comanda__order_cancelled__unpack(NULL, m->len, m->body);
		req.event_case = COMANDA__HANDLE_ORDER_EVENT_REQUEST__EVENT_CANCELLED;
		req.cancelled = cancelled;
	}
	if ((created == NULL && cancelled == NULL) || req.event_id[0] == '\0') {
		log_printf(LOG_WARN, "dead-lettering an undecodable %s message", m->type ? m->type : "(untyped)");
		/* one that decoded but has no event id is freed too */
		if (created)
			comanda__order_created__free_unpacked(created, NULL);
		if (cancelled)
			comanda__order_cancelled__free_unpacked(cancelled, NULL);
		return BUS_REJECT;
	}
	rpc_call call;
	rpc_call_init(&call);
	call.caller_role = COMANDA__ROLE__ROLE_SERVICE;
	call.request_id = m->request_id;
	call.timeout_ms = 10000;
	Comanda__HandleOrderEventReply *reply = NULL;
	int code = payment_service_handle_order_event(self, &call, &req, &reply);
	if (code != COMANDA__CODE__OK) {
		log_line l;
		log_begin(&l, LOG_WARN, "order event not applied");
		log_str(&l, "type", m->type);
		log_str(&l, "event_id", req.event_id);
		log_str(&l, "code", rpc_code_name(code));
		log_str(&l, "error", call.status.message);
		log_end(&l);
	}
	rpc_call_release(&call);
	if (created)
		comanda__order_created__free_unpacked(created, NULL);
	if (cancelled)
		comanda__order_cancelled__free_unpacked(cancelled, NULL);
	return svc_events_outcome(code);
}

static void pay_consumer_main(bgthread *thread, void *arg)
{
	(void)arg;
	svc_events_queue q = {
		.amqp_url = pay_ev.amqp_url,
		.self_url = pay_ev.self_url,
		.app = "svc-payment consumer",
		.topic = svc_events_topic_of(SVC_EVENTS_PAYMENT_QUEUE),
		.prefetch = 16,
	};
	svc_events_consume(thread, &q, pay_on_message);
}

/* ---- hooks ------------------------------------------------------------------ */

int payment_events_start(svc *s)
{
	snprintf(pay_ev.db_url, sizeof(pay_ev.db_url), "%s", cfg_str("PAYMENT_DB_URL"));
	snprintf(pay_ev.amqp_url, sizeof(pay_ev.amqp_url), "%s", cfg_str("AMQP_URL"));
	snprintf(pay_ev.self_url, sizeof(pay_ev.self_url), "%s", svc_self_url(s));
	pay_ev.connect_timeout_s = svc_connect_timeout_s(s);
	bgthread *relay = bgthread_ref_set(&pay_relay_thread, bgthread_start("outbox relay", pay_relay_main, NULL));
	pay_sweep_thread = bgthread_start("recovery sweep", pay_sweep_main, NULL);
	pay_consumer_thread = bgthread_start("event consumer", pay_consumer_main, NULL);
	if (relay && pay_sweep_thread && pay_consumer_thread)
		return 0;
	/* svc calls the stop hook only after a start that succeeded: the
	 * threads that did start are joined here */
	payment_events_stop(s);
	return -1;
}

void payment_events_kick(void)
{
	bgthread_ref_kick(&pay_relay_thread);
}

void payment_events_stop(svc *s)
{
	(void)s;
	/* Each returns once its work in hand is done: the consumer's event,
	 * the sweep's SettlePayment (PAY_SWEEP_CALL_MS at most), the relay's
	 * pass. RPC is still served until after this hook, so neither call
	 * is cut short. */
	bgthread_stop(pay_consumer_thread);
	bgthread_stop(pay_sweep_thread);
	bgthread_ref_stop(&pay_relay_thread);
	pay_consumer_thread = pay_sweep_thread = NULL;
}

/* Completed payments of orders svc-payment has cancelled, with no refund
 * under way, a minute after both (PAY_OWED_AFTER): nothing will refund them
 * by itself. The processor had no charge to refund (an admin completed a
 * card payment by hand; 409 NO_PROCESSOR_CHARGE), so the money goes back
 * by hand. The order.cancelled of such a payment is dead-lettered, except
 * when the refund that met this was the sweep's (svc-payment died during
 * the event's refund, whose redelivery then found the refund in progress):
 * this count is the signal for every path. The minute leaves out a refund
 * between its cancellation and its claim, and a completion of a cancelled
 * order on its way through svc-order (EVENTS.md). */
#define PAY_OWED_AFTER "interval '60 seconds'"
#define PAY_OWED_SQL                                                                                       \
	"SELECT count(*) FROM payments p JOIN cancelled_orders c ON c.order_id = p.order_id "                \
	"WHERE p.status = 'completed' AND p.refund_started_at IS NULL AND p.updated_at < now() - " PAY_OWED_AFTER \
	" AND c.cancelled_at < now() - " PAY_OWED_AFTER

int payment_events_status(pg_conn *db, json_object *obj)
{
	int64_t backlog, owed;
	int code = pg_exec_int64(db, "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0, NULL, &backlog);
	if (code == COMANDA__CODE__OK) {
		json_object_object_add(obj, "outbox_backlog", json_object_new_int64(backlog));
		metrics_gauge_set(metrics_gauge("comanda_outbox_backlog", "Events written but not yet confirmed by the broker", NULL),
		    backlog);
	}
	if (code == COMANDA__CODE__OK)
		code = pg_exec_int64(db, PAY_OWED_SQL, 0, NULL, &owed);
	if (code == COMANDA__CODE__OK) {
		json_object_object_add(obj, "refunds_owed", json_object_new_int64(owed));
		metrics_gauge_set(metrics_gauge("comanda_payments_refund_owed",
		                      "Completed payments of cancelled orders that nothing will refund: money to return by hand",
		                      NULL),
		    owed);
	}
	return code == COMANDA__CODE__OK ? 0 : -1;
}
