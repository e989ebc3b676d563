#include "payment_service.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comanda/events.pb-c.h"
#include "comanda/order.rpc.h"
#include "cursor.h"
#include "log.h"
#include "metrics.h"
#include "objectid.h"
#include "payment_events.h"
#include "pg_idem.h"
#include "svc.h"
#include "utf8.h"
#include "uuid.h"

/* What failure messages call this service's database (svc_db_error). */
#define PAY_DB "payment database"
#define PAY_LIST_DEFAULT 50
#define PAY_LIST_MAX 200
/* The key of a payments cursor: a users cursor is a number with no key
 * (or "desc") too, and without one each list took the other's cursors as
 * its own positions instead of refusing them (API.md: a cursor the API did
 * not make for this list is 400). */
#define PAY_CURSOR_TAG "pay"
#define PAY_TOKEN_MAX 128
#define PAY_TXN_MAX 100

#define PAY_COLS                                                                                        \
	"id, order_id, user_id, amount_minor, currency, status, payment_method, transaction_id, "        \
	"coalesce(failure_reason, ''), (extract(epoch FROM created_at) * 1000)::bigint, "                 \
	"(extract(epoch FROM updated_at) * 1000)::bigint, payment_token, charge_started_at IS NOT NULL, "  \
	"refund_started_at IS NOT NULL"
/* Columns of PAY_COLS past the Payment message's own. */
#define PAY_COL_TOKEN 11
#define PAY_COL_CHARGING 12
#define PAY_COL_REFUNDING 13

/* The processor calls a payment has in flight (or abandoned): the marks set
 * before each call (payment_processor.h). */
typedef struct pay_marks {
	bool charging;  /* charge_started_at set: a charge was claimed */
	bool refunding; /* refund_started_at set: a refund was claimed */
} pay_marks;

/* What a status change requires of the charge mark, besides the status. */
typedef enum pay_guard {
	PAY_GUARD_NONE,          /* the claimant recording its own outcome */
	PAY_GUARD_NOT_CHARGING,  /* no charge claimed: an admin, a cancellation */
	PAY_GUARD_CHARGE_STALE,  /* a charge claimed and abandoned: the sweep */
} pay_guard;

static payment_service_config pay_cfg;

/* Calls made to the processor, by kind (/metrics): what reached the card
 * processor, and what did not. */
typedef enum pay_call { PAY_CALL_CHARGE, PAY_CALL_LOOKUP, PAY_CALL_REFUND, PAY_CALLS } pay_call;
static metric *pay_calls[PAY_CALLS];

void payment_service_configure(const payment_service_config *cfg)
{
	pay_cfg = *cfg;
	static const char *const labels[PAY_CALLS] = {
		[PAY_CALL_CHARGE] = "call=\"charge\"",
		[PAY_CALL_LOOKUP] = "call=\"lookup\"",
		[PAY_CALL_REFUND] = "call=\"refund\"",
	};
	for (int i = 0; i < PAY_CALLS; i++)
		pay_calls[i] = metrics_counter("comanda_payment_processor_calls_total",
		    "calls svc-payment made to the payment processor, by kind", labels[i]);
}

/* ---- names ---------------------------------------------------------------- */

static const struct {
	Comanda__PaymentStatus status;
	const char *name;
} pay_statuses[] = {
	{ COMANDA__PAYMENT_STATUS__PAYMENT_PENDING, "pending" },
	{ COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED, "completed" },
	{ COMANDA__PAYMENT_STATUS__PAYMENT_FAILED, "failed" },
	{ COMANDA__PAYMENT_STATUS__PAYMENT_REFUNDED, "refunded" },
};

static const struct {
	Comanda__PaymentMethod method;
	const char *name;
} pay_methods[] = {
	{ COMANDA__PAYMENT_METHOD__CREDIT_CARD, "credit_card" },
	{ COMANDA__PAYMENT_METHOD__DEBIT_CARD, "debit_card" },
	{ COMANDA__PAYMENT_METHOD__CASH, "cash" },
	{ COMANDA__PAYMENT_METHOD__BANK_TRANSFER, "bank_transfer" },
};

#define PAY_N(a) (sizeof(a) / sizeof((a)[0]))

static const char *pay_status_name(Comanda__PaymentStatus s)
{
	for (size_t i = 0; i < PAY_N(pay_statuses); i++)
		if (pay_statuses[i].status == s)
			return pay_statuses[i].name;
	return "unknown";
}

static Comanda__PaymentStatus pay_status_parse(const char *s)
{
	for (size_t i = 0; i < PAY_N(pay_statuses); i++)
		if (strcmp(pay_statuses[i].name, s) == 0)
			return pay_statuses[i].status;
	return COMANDA__PAYMENT_STATUS__PAYMENT_STATUS_UNSPECIFIED;
}

static const char *pay_method_name(Comanda__PaymentMethod m)
{
	for (size_t i = 0; i < PAY_N(pay_methods); i++)
		if (pay_methods[i].method == m)
			return pay_methods[i].name;
	return "unknown";
}

static Comanda__PaymentMethod pay_method_parse(const char *s)
{
	for (size_t i = 0; i < PAY_N(pay_methods); i++)
		if (strcmp(pay_methods[i].name, s) == 0)
			return pay_methods[i].method;
	return COMANDA__PAYMENT_METHOD__PAYMENT_METHOD_UNSPECIFIED;
}

static bool pay_is_card(Comanda__PaymentMethod m)
{
	return m == COMANDA__PAYMENT_METHOD__CREDIT_CARD || m == COMANDA__PAYMENT_METHOD__DEBIT_CARD;
}

/* ---- helpers -------------------------------------------------------------- */

static int pay_not_found(rpc_ctx *ctx)
{
	return rpc_ctx_error(ctx, COMANDA__CODE__NOT_FOUND, "Payment not found");
}

static int pay_rollback(pg_conn *db, int code)
{
	pg_run(db, "ROLLBACK", 0, NULL);
	return code;
}

static void pay_int(char *buf, size_t cap, int64_t v)
{
	snprintf(buf, cap, "%" PRId64, v);
}

/* "admin:7", "user:7" or "system": who made a change, for the ledger. */
static const char *pay_actor(rpc_ctx *ctx)
{
	int role = rpc_ctx_caller_role(ctx);
	if (role == COMANDA__ROLE__ROLE_ADMIN)
		return arena_printf(rpc_ctx_arena(ctx), "admin:%" PRId64, rpc_ctx_caller_id(ctx));
	if (role == COMANDA__ROLE__ROLE_CUSTOMER)
		return arena_printf(rpc_ctx_arena(ctx), "user:%" PRId64, rpc_ctx_caller_id(ctx));
	return "system";
}

/* A payment row (PAY_COLS from column 0) as a Payment in ctx's arena. */
static Comanda__Payment *pay_from_row(rpc_ctx *ctx, const PGresult *r, int row)
{
	Comanda__Payment *p = rpc_ctx_alloc(ctx, sizeof(*p));
	if (p == NULL)
		return NULL;
	comanda__payment__init(p);
	p->id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
	p->order_id = rpc_ctx_strdup(ctx, PQgetvalue(r, row, 1));
	p->user_id = strtoll(PQgetvalue(r, row, 2), NULL, 10);
	p->amount_minor = strtoll(PQgetvalue(r, row, 3), NULL, 10);
	p->currency = rpc_ctx_strdup(ctx, PQgetvalue(r, row, 4));
	p->status = pay_status_parse(PQgetvalue(r, row, 5));
	p->payment_method = pay_method_parse(PQgetvalue(r, row, 6));
	p->transaction_id = rpc_ctx_strdup(ctx, PQgetvalue(r, row, 7));
	p->failure_reason = rpc_ctx_strdup(ctx, PQgetvalue(r, row, 8));
	p->created_at_ms = strtoll(PQgetvalue(r, row, 9), NULL, 10);
	p->updated_at_ms = strtoll(PQgetvalue(r, row, 10), NULL, 10);
	if (!p->order_id || !p->currency || !p->transaction_id || !p->failure_reason)
		return NULL;
	return p;
}

/* Reads payment `id` (FOR UPDATE when lock): OK, NOT_FOUND or the database's
 * failure. *token gets the stored payment token when asked. */
static int pay_load(rpc_ctx *ctx, pg_conn *db, int64_t id, bool lock, Comanda__Payment **out, const char **token,
    pay_marks *marks)
{
	char ids[24];
	pay_int(ids, sizeof(ids), id);
	const char *params[] = { ids };
	PGresult *r = NULL;
	int code = pg_exec(db, lock ? "SELECT " PAY_COLS " FROM payments WHERE id = $1 FOR UPDATE"
	                            : "SELECT " PAY_COLS " FROM payments WHERE id = $1", 1, params, &r);
	if (code == COMANDA__CODE__OK && PQntuples(r) == 0)
		code = COMANDA__CODE__NOT_FOUND;
	if (code == COMANDA__CODE__OK) {
		*out = pay_from_row(ctx, r, 0);
		if (token != NULL)
			*token = rpc_ctx_strdup(ctx, PQgetvalue(r, 0, PAY_COL_TOKEN));
		if (marks != NULL) {
			marks->charging = PQgetvalue(r, 0, PAY_COL_CHARGING)[0] == 't';
			marks->refunding = PQgetvalue(r, 0, PAY_COL_REFUNDING)[0] == 't';
		}
		if (*out == NULL)
			code = COMANDA__CODE__INTERNAL;
	}
	PQclear(r);
	return code;
}

/* ---- the ledger and the outbox ---------------------------------------------- */

static int pay_audit(pg_conn *db, const Comanda__Payment *p, const char *action, const char *from, const char *actor,
    const char *request_id, const char *event_id)
{
	char ids[24], amount[24];
	pay_int(ids, sizeof(ids), p->id);
	pay_int(amount, sizeof(amount), p->amount_minor);
	const char *params[] = { ids, action, from, pay_status_name(p->status), amount, actor,
		request_id && request_id[0] ? request_id : NULL, event_id && event_id[0] ? event_id : NULL };
	return pg_run(db, "INSERT INTO payment_audit (payment_id, action, from_status, to_status, amount_minor, actor, "
	                  "request_id, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", 8, params);
}

/* Writes the event that payment p's new status announces into the outbox. */
static int pay_outbox(rpc_ctx *ctx, pg_conn *db, const Comanda__Payment *p)
{
	const char *type;
	size_t len;
	uint8_t *buf;
	arena *mem = rpc_ctx_arena(ctx);
	if (p->status == COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED) {
		Comanda__PaymentCompleted ev = COMANDA__PAYMENT_COMPLETED__INIT;
		ev.payment_id = p->id;
		ev.order_id = p->order_id;
		ev.amount_minor = p->amount_minor;
		ev.currency = p->currency;
		ev.transaction_id = p->transaction_id;
		type = "payment.completed";
		len = comanda__payment_completed__get_packed_size(&ev);
		if ((buf = arena_alloc(mem, len)) == NULL)
			return COMANDA__CODE__INTERNAL;
		comanda__payment_completed__pack(&ev, buf);
	} else if (p->status == COMANDA__PAYMENT_STATUS__PAYMENT_FAILED) {
		Comanda__PaymentFailed ev = COMANDA__PAYMENT_FAILED__INIT;
		ev.payment_id = p->id;
		ev.order_id = p->order_id;
		ev.reason = p->failure_reason;
		type = "payment.failed";
		len = comanda__payment_failed__get_packed_size(&ev);
		if ((buf = arena_alloc(mem, len)) == NULL)
			return COMANDA__CODE__INTERNAL;
		comanda__payment_failed__pack(&ev, buf);
	} else if (p->status == COMANDA__PAYMENT_STATUS__PAYMENT_REFUNDED) {
		Comanda__PaymentRefunded ev = COMANDA__PAYMENT_REFUNDED__INIT;
		ev.payment_id = p->id;
		ev.order_id = p->order_id;
		ev.amount_minor = p->amount_minor;
		/* the refund's own time (updated_at of this transition, as its
		 * payment shows it), which svc-order shows as the order's
		 * refunded_at: not when the event happens to be applied */
		ev.refunded_at_ms = p->updated_at_ms;
		type = "payment.refunded";
		len = comanda__payment_refunded__get_packed_size(&ev);
		if ((buf = arena_alloc(mem, len)) == NULL)
			return COMANDA__CODE__INTERNAL;
		comanda__payment_refunded__pack(&ev, buf);
	} else {
		return COMANDA__CODE__OK; /* pending: nothing to announce */
	}
	char event_id[UUID_STR_LEN];
	uuid_v4(event_id);
	const char *hex = pg_bytea_hex(mem, buf, len);
	if (hex == NULL)
		return COMANDA__CODE__INTERNAL;
	const char *rid = rpc_ctx_request_id(ctx);
	const char *params[] = { event_id, type, p->order_id, rid[0] ? rid : NULL, hex };
	return pg_run(db, "INSERT INTO outbox (event_id, event_type, correlation_id, request_id, payload) "
	                  "VALUES ($1, $2, $3, $4, $5)", 5, params);
}

#define PAY_TRANSITION_SQL(guard)                                                                        \
	"UPDATE payments SET status = $3, failure_reason = coalesce($4, failure_reason), updated_at = now() " \
	"WHERE id = $1 AND status = $2" guard " RETURNING " PAY_COLS
static const char *const pay_transition_sql[] = {
	[PAY_GUARD_NONE] = PAY_TRANSITION_SQL(""),
	[PAY_GUARD_NOT_CHARGING] = PAY_TRANSITION_SQL(" AND charge_started_at IS NULL"),
	[PAY_GUARD_CHARGE_STALE] = PAY_TRANSITION_SQL(" AND charge_started_at < " PAYMENT_CLAIM_STALE_BEFORE),
};

/* Moves payment `id` from `from` to `to` (compare-and-set on the status and
 * on what `guard` requires of the charge mark), with its audit entry and
 * outbox event, in one transaction. *moved says whether the payment matched;
 * when it did not, nothing changed. */
static int pay_transition(rpc_ctx *ctx, pg_conn *db, int64_t id, Comanda__PaymentStatus from, Comanda__PaymentStatus to,
    pay_guard guard, const char *reason, const char *event_id, Comanda__Payment **out, bool *moved)
{
	*moved = false;
	char ids[24];
	pay_int(ids, sizeof(ids), id);
	int code = pg_run(db, "BEGIN", 0, NULL);
	if (code != COMANDA__CODE__OK)
		return code;
	const char *params[] = { ids, pay_status_name(from), pay_status_name(to), reason };
	PGresult *r = NULL;
	code = pg_exec(db, pay_transition_sql[guard], 4, params, &r);
	if (code == COMANDA__CODE__OK && PQntuples(r) == 1 && (*out = pay_from_row(ctx, r, 0)) == NULL)
		code = COMANDA__CODE__INTERNAL;
	bool hit = code == COMANDA__CODE__OK && PQntuples(r) == 1;
	PQclear(r);
	if (code != COMANDA__CODE__OK || !hit)
		return pay_rollback(db, code);
	code = pay_audit(db, *out, pay_status_name(to), pay_status_name(from), pay_actor(ctx), rpc_ctx_request_id(ctx),
	    event_id);
	if (code == COMANDA__CODE__OK)
		code = pay_outbox(ctx, db, *out);
	if (code == COMANDA__CODE__OK)
		code = pg_run(db, "COMMIT", 0, NULL);
	if (code != COMANDA__CODE__OK)
		return pay_rollback(db, code);
	*moved = true;
	payment_events_kick();
	return COMANDA__CODE__OK;
}

/* ---- charging ------------------------------------------------------------- */

/* Which charge a worker claims: a first one (no attempt marked yet), or,
 * after the lookup of an abandoned attempt found that the processor never
 * had it (PAYMENT_UNKNOWN), the same charge again: its mark is taken over
 * only while it is still abandoned, so one replica's sweep charges it, and
 * its new mark is a new attempt, which may be in flight for
 * PAYMENT_CLAIM_STALE_S in turn. Neither is claimed once svc-payment has
 * its order's order.cancelled (cancelled_orders): no card of a cancelled
 * order is charged. The payment is then left pending without a mark, which
 * that event's handler fails, or the sweep (pay_settle). */
typedef enum pay_charge_by { PAY_CHARGE_FIRST, PAY_CHARGE_UNKNOWN } pay_charge_by;

#define PAY_NOT_CANCELLED "NOT EXISTS (SELECT 1 FROM cancelled_orders c WHERE c.order_id = payments.order_id)"
#define PAY_CHARGE_CLAIM_SQL(cond)                                                                          \
	"UPDATE payments SET charge_started_at = now() WHERE id = $1 AND status = 'pending' AND " cond \
	" AND " PAY_NOT_CANCELLED " RETURNING 1"
static const char *const pay_charge_claim_sql[] = {
	[PAY_CHARGE_FIRST] = PAY_CHARGE_CLAIM_SQL("charge_started_at IS NULL"),
	[PAY_CHARGE_UNKNOWN] = PAY_CHARGE_CLAIM_SQL("charge_started_at < " PAYMENT_CLAIM_STALE_BEFORE),
};

/* Charges a pending card payment once and records the outcome. Only the
 * worker that sets the charge marker calls the processor; if the processor
 * cannot be reached the payment stays pending (the recovery sweep settles
 * it). *p is updated to the payment as it ends. */
static int pay_charge(rpc_ctx *ctx, pg_conn *db, Comanda__Payment **p, const char *token, pay_charge_by by)
{
	char ids[24];
	pay_int(ids, sizeof(ids), (*p)->id);
	const char *params[] = { ids };
	PGresult *r = NULL;
	int code = pg_exec(db, pay_charge_claim_sql[by], 1, params, &r);
	bool mine = code == COMANDA__CODE__OK && PQntuples(r) == 1;
	PQclear(r);
	if (code != COMANDA__CODE__OK)
		return code;
	if (!mine)
		return COMANDA__CODE__OK; /* charged (or being charged) by someone else, or its order cancelled */
	/* The same reference either way: the processor's idempotency key, so
	 * that a first call that reaches it after all is not a second charge. */
	payment_charge c = { (*p)->transaction_id, (*p)->amount_minor, (*p)->currency, token };
	payment_outcome o;
	metrics_add(pay_calls[PAY_CALL_CHARGE], 1);
	if (pay_cfg.processor->charge(pay_cfg.processor, &c, &o) != 0) {
		log_printf(LOG_WARN, "payment %" PRId64 ": processor unreachable; left pending", (*p)->id);
		return COMANDA__CODE__OK;
	}
	bool moved;
	Comanda__Payment *after = NULL;
	code = pay_transition(ctx, db, (*p)->id, COMANDA__PAYMENT_STATUS__PAYMENT_PENDING,
	    o.approved ? COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED : COMANDA__PAYMENT_STATUS__PAYMENT_FAILED,
	    PAY_GUARD_NONE, o.approved ? NULL : o.reason, NULL, &after, &moved);
	if (code == COMANDA__CODE__OK && moved)
		*p = after;
	return code;
}

/* ---- creating ------------------------------------------------------------- */

typedef struct pay_new {
	const char *order_id;
	int64_t user_id;
	int64_t amount_minor;
	const char *currency;
	Comanda__PaymentMethod method;
	const char *transaction_id;   /* "" or NULL: TXN-<uuid> */
	const char *token;
	const char *event_id;         /* the order.created that causes it, or NULL */
	const char *idem_caller;      /* with idem_key: the Idempotency-Key claim it completes */
	const char *idem_key;         /* "" or NULL: none */
} pay_new;

/* Takes the order's advisory lock for the rest of the transaction: a
 * payment's creation and the order's cancellation record serialise on it
 * (cancelled_orders, migration 003). */
static int pay_order_lock(pg_conn *db, const char *order_id)
{
	const char *params[] = { order_id };
	return pg_run(db, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", 1, params);
}

/* Whether svc-payment has the order.cancelled of order_id (cancelled_orders):
 * OK with *cancelled set, or the database's failure. */
static int pay_order_cancelled(pg_conn *db, const char *order_id, bool *cancelled)
{
	const char *params[] = { order_id };
	PGresult *r = NULL;
	int code = pg_exec(db, "SELECT 1 FROM cancelled_orders WHERE order_id = $1", 1, params, &r);
	*cancelled = code == COMANDA__CODE__OK && PQntuples(r) == 1;
	PQclear(r);
	return code;
}

/* Inserts a pending payment with its "created" audit entry (and, for an
 * event, its processed_events row) in one transaction. The Idempotency-Key
 * claim, if any, is completed in that transaction too, with the pending
 * payment as its reply: once the payment exists a retry replays it, even if
 * this process dies before the charge's outcome is recorded (pay_create
 * refreshes a replayed pending payment). *duplicate: the event had been
 * processed before (nothing inserted). An order svc-payment has seen
 * cancelled gets no payment: FAILED_PRECONDITION (an order.created that
 * arrived after its order.cancelled, or a request that raced it). */
static int pay_insert(rpc_ctx *ctx, pg_conn *db, const pay_new *n, Comanda__Payment **out, bool *duplicate)
{
	*duplicate = false;
	char txn[PAY_TXN_MAX * 4 + 8]; /* 100 characters of up to 4 bytes */
	if (n->transaction_id && n->transaction_id[0])
		snprintf(txn, sizeof(txn), "%s", n->transaction_id);
	else {
		char u[UUID_STR_LEN];
		uuid_v4(u);
		snprintf(txn, sizeof(txn), "TXN-%s", u);
	}
	int code = pg_run(db, "BEGIN", 0, NULL);
	if (code == COMANDA__CODE__OK)
		code = pay_order_lock(db, n->order_id);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, pay_rollback(db, code), PAY_DB);
	PGresult *r = NULL;
	const char *po[] = { n->order_id };
	bool cancelled;
	code = pay_order_cancelled(db, n->order_id, &cancelled);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, pay_rollback(db, code), PAY_DB);
	if (cancelled && n->event_id == NULL) {
		pay_rollback(db, COMANDA__CODE__OK);
		return rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION,
		    "Only a pending or payment_failed order can be paid");
	}
	if (n->event_id == NULL && pay_cfg.max_failed > 0) {
		/* Counted under the order's lock, so concurrent attempts cannot
		 * all pass: one order is not a card-testing bench. */
		int64_t failed;
		code = pg_exec_int64(db, "SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'failed'", 1, po, &failed);
		if (code != COMANDA__CODE__OK)
			return svc_db_error(ctx, pay_rollback(db, code), PAY_DB);
		if (failed >= pay_cfg.max_failed) {
			pay_rollback(db, COMANDA__CODE__OK);
			rpc_ctx_reason(ctx, "TOO_MANY_FAILED_PAYMENTS");
			return rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION,
			    "This order has %" PRId64 " failed payments, the most allowed", failed);
		}
	}
	if (n->event_id != NULL) {
		const char *p1[] = { n->event_id };
		code = pg_exec(db, "INSERT INTO processed_events (event_id, event_type) VALUES ($1, 'order.created') "
		                   "ON CONFLICT DO NOTHING RETURNING 1", 1, p1, &r);
		*duplicate = code == COMANDA__CODE__OK && PQntuples(r) == 0;
		PQclear(r);
		if (code != COMANDA__CODE__OK)
			return svc_db_error(ctx, pay_rollback(db, code), PAY_DB);
		if (*duplicate)
			return pay_rollback(db, COMANDA__CODE__OK);
		if (cancelled) {
			/* the event is consumed (its row commits), and creates nothing */
			*duplicate = true;
			code = pg_run(db, "COMMIT", 0, NULL);
			return code == COMANDA__CODE__OK ? COMANDA__CODE__OK : svc_db_error(ctx, pay_rollback(db, code), PAY_DB);
		}
	}
	char uid[24], amount[24];
	pay_int(uid, sizeof(uid), n->user_id);
	pay_int(amount, sizeof(amount), n->amount_minor);
	const char *params[] = { n->order_id, uid, amount, n->currency, pay_method_name(n->method), txn, n->token };
	code = pg_exec(db, "INSERT INTO payments (order_id, user_id, amount_minor, currency, payment_method, "
	                   "transaction_id, payment_token) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING " PAY_COLS,
	    7, params, &r);
	if (code == COMANDA__CODE__ALREADY_EXISTS) {
		const char *constraint = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;
		bool live = constraint && strcmp(constraint, "payments_one_live_per_order") == 0;
		PQclear(r);
		pay_rollback(db, code);
		if (live)
			return rpc_ctx_error(ctx, COMANDA__CODE__ALREADY_EXISTS, "The order already has a live payment");
		rpc_ctx_detail(ctx, "transaction_id", "already exists");
		return rpc_ctx_error(ctx, COMANDA__CODE__ALREADY_EXISTS, "transaction_id already exists");
	}
	if (code == COMANDA__CODE__OK && (*out = pay_from_row(ctx, r, 0)) == NULL)
		code = COMANDA__CODE__INTERNAL;
	PQclear(r);
	if (code == COMANDA__CODE__OK)
		code = pay_audit(db, *out, "created", NULL, pay_actor(ctx), rpc_ctx_request_id(ctx), n->event_id);
	if (code == COMANDA__CODE__OK && n->idem_key && n->idem_key[0]) {
		Comanda__PaymentReply created = COMANDA__PAYMENT_REPLY__INIT;
		created.payment = *out;
		code = pg_idem_complete(db, n->idem_caller, n->idem_key, &created.base, rpc_ctx_arena(ctx));
	}
	if (code == COMANDA__CODE__OK)
		code = pg_run(db, "COMMIT", 0, NULL);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, pay_rollback(db, code), PAY_DB);
	return COMANDA__CODE__OK;
}

/* Asks svc-order for the order, on behalf of the caller (so a customer sees
 * only its own orders). */
static int pay_order_summary(rpc_ctx *ctx, const char *order_id, rpc_call *call, Comanda__OrderSummary **out)
{
	rpc_call_init(call);
	int64_t left = rpc_ctx_remaining_ms(ctx) - 20;
	call->timeout_ms = (int)(left < pay_cfg.order_timeout_ms ? (left > 10 ? left : 10) : pay_cfg.order_timeout_ms);
	call->request_id = rpc_ctx_request_id(ctx);
	call->caller_id = rpc_ctx_caller_id(ctx);
	call->caller_role = rpc_ctx_caller_role(ctx);
	Comanda__GetOrderRequest req = COMANDA__GET_ORDER_REQUEST__INIT;
	req.id = (char *)order_id;
	int code = order_service_get_order_summary(pay_cfg.orders, call, &req, out);
	if (code == COMANDA__CODE__UNAVAILABLE || code == COMANDA__CODE__DEADLINE_EXCEEDED)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "order service unavailable");
	if (code == COMANDA__CODE__NOT_FOUND)
		return rpc_ctx_invalid(ctx, "order_id", "must name an existing order of yours");
	if (code != COMANDA__CODE__OK)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	return COMANDA__CODE__OK;
}

static int pay_create(rpc_ctx *ctx, const Comanda__CreatePaymentRequest *req, Comanda__PaymentReply *reply)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	if (!objectid_hex_valid(req->order_id))
		return rpc_ctx_invalid(ctx, "order_id", "must be a 24-character hexadecimal order id");
	if (req->amount_minor < 0)
		return rpc_ctx_invalid(ctx, "amount", "must not be negative");
	if (utf8_chars(req->transaction_id) > PAY_TXN_MAX)
		return rpc_ctx_invalid(ctx, "transaction_id", "must be at most 100 characters");
	if (utf8_chars(req->payment_token) > PAY_TOKEN_MAX)
		return rpc_ctx_invalid(ctx, "payment_token", "must be at most 128 characters");
	pg_conn *db = svc_db(ctx);

	/* Idempotency-Key: claimed before the order is even read, so two
	 * concurrent retries cannot both charge. */
	const char *key = rpc_ctx_idempotency_key(ctx);
	char caller[40];
	snprintf(caller, sizeof(caller), "user:%" PRId64, rpc_ctx_caller_id(ctx));
	if (key[0]) {
		uint8_t hash[PG_IDEM_HASH_LEN];
		pg_idem_fingerprint(pay_cfg.hash_key, pay_cfg.hash_key_len, rpc_ctx_method(ctx), &req->base, hash);
		int state = 0;
		ProtobufCBinaryData stored;
		/* the fingerprint key is a constant: never rotated, no previous one */
		int code = pg_idem_begin(db, caller, key, hash, NULL, rpc_ctx_arena(ctx), &state, &stored);
		if (code != COMANDA__CODE__OK)
			return svc_db_error(ctx, code, PAY_DB);
		if (state == PG_IDEM_IN_PROGRESS) {
			rpc_ctx_reason(ctx, "IDEMPOTENCY_KEY_IN_USE");
			return rpc_ctx_error(ctx, COMANDA__CODE__ABORTED, "A request with this Idempotency-Key is still in progress");
		}
		if (state == PG_IDEM_MISMATCH) {
			rpc_ctx_reason(ctx, "IDEMPOTENCY_KEY_REUSED");
			return rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION,
			    "Idempotency-Key was used with a different request");
		}
		if (state == PG_IDEM_REPLAY) {
			Comanda__PaymentReply *old = comanda__payment_reply__unpack(arena_pb_allocator(rpc_ctx_arena(ctx)),
			    stored.len, stored.data);
			if (old == NULL)
				return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
			*reply = *old;
			reply->replayed = 1;
			/* Stored pending: the first request died (or its last write
			 * failed) before recording the charge's outcome. The payment
			 * row has what happened since (the sweep's charge, say). */
			if (old->payment && old->payment->status == COMANDA__PAYMENT_STATUS__PAYMENT_PENDING) {
				Comanda__Payment *now = NULL;
				code = pay_load(ctx, db, old->payment->id, false, &now, NULL, NULL);
				if (code != COMANDA__CODE__OK && code != COMANDA__CODE__NOT_FOUND)
					return svc_db_error(ctx, code, PAY_DB);
				if (code == COMANDA__CODE__OK)
					reply->payment = now;
			}
			return COMANDA__CODE__OK;
		}
	}

	rpc_call call;
	Comanda__OrderSummary *order = NULL;
	int code = pay_order_summary(ctx, req->order_id, &call, &order);
	if (code == COMANDA__CODE__OK && order->status != COMANDA__ORDER_STATUS__ORDER_PENDING &&
	    order->status != COMANDA__ORDER_STATUS__ORDER_PAYMENT_FAILED)
		code = rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION,
		    "Only a pending or payment_failed order can be paid");
	if (code == COMANDA__CODE__OK && req->amount_minor != order->total_minor)
		code = rpc_ctx_invalid(ctx, "amount", "must equal the order total");
	pay_new n = { 0 };
	if (code == COMANDA__CODE__OK) {
		n.order_id = req->order_id;
		n.user_id = order->user_id;
		n.amount_minor = req->amount_minor;
		n.currency = rpc_ctx_strdup(ctx, order->currency[0] ? order->currency : "COP");
		n.method = req->payment_method != COMANDA__PAYMENT_METHOD__PAYMENT_METHOD_UNSPECIFIED ? req->payment_method
		                                                                                     : order->payment_method;
		if (n.method == COMANDA__PAYMENT_METHOD__PAYMENT_METHOD_UNSPECIFIED)
			n.method = COMANDA__PAYMENT_METHOD__CASH;
		n.transaction_id = req->transaction_id;
		n.token = req->payment_token;
		n.idem_caller = caller;
		n.idem_key = key;
		/* as for orders: a card needs a token to charge, other methods take none */
		if (pay_is_card(n.method) && n.token[0] == '\0')
			code = rpc_ctx_invalid(ctx, "payment_token", "is required for card payments");
		else if (!pay_is_card(n.method) && n.token[0] != '\0')
			code = rpc_ctx_invalid(ctx, "payment_token", "is only accepted with a card payment_method");
	}
	rpc_call_release(&call);
	Comanda__Payment *p = NULL;
	bool dup;
	if (code == COMANDA__CODE__OK)
		code = pay_insert(ctx, db, &n, &p, &dup);
	if (code != COMANDA__CODE__OK) {
		/* nothing committed: a retry with the key runs again */
		if (key[0])
			pg_idem_abandon(db, caller, key);
		return code;
	}
	/* From here the key's record holds the payment: a retry replays it. */
	if (pay_is_card(n.method) && (code = pay_charge(ctx, db, &p, n.token, PAY_CHARGE_FIRST)) != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, PAY_DB);
	reply->payment = p;
	/* The charge's outcome, for an exact replay; if this write fails, a
	 * replay reads the payment row instead. */
	if (key[0] && pay_is_card(n.method) &&
	    pg_idem_complete(db, caller, key, &reply->base, rpc_ctx_arena(ctx)) != COMANDA__CODE__OK)
		log_printf(LOG_WARN, "payment %" PRId64 ": idempotency record keeps the pending payment", p->id);
	return COMANDA__CODE__OK;
}

/* ---- reading --------------------------------------------------------------- */

static int pay_get(rpc_ctx *ctx, const Comanda__GetPaymentRequest *req, Comanda__PaymentReply *reply)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	Comanda__Payment *p = NULL;
	int code = pay_load(ctx, svc_db(ctx), req->id, false, &p, NULL, NULL);
	if (code == COMANDA__CODE__NOT_FOUND || (code == COMANDA__CODE__OK && !rpc_ctx_is_admin(ctx) &&
	                                            p->user_id != rpc_ctx_caller_id(ctx)))
		return pay_not_found(ctx);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, PAY_DB);
	reply->payment = p;
	return COMANDA__CODE__OK;
}

static int pay_list(rpc_ctx *ctx, const Comanda__ListPaymentsRequest *req, Comanda__ListPaymentsReply *reply)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	uint32_t limit = req->limit ? req->limit : PAY_LIST_DEFAULT;
	if (limit > PAY_LIST_MAX)
		return rpc_ctx_invalid(ctx, "limit", "must be between 1 and 200");
	if (req->order_id[0] && !objectid_hex_valid(req->order_id))
		return rpc_ctx_invalid(ctx, "order_id", "must be a 24-character hexadecimal order id");
	int64_t before = INT64_MAX;
	if (req->cursor[0]) {
		char k[CURSOR_KEY_MAX];
		if (cursor_decode(req->cursor, &before, k, sizeof(k)) != 0 || strcmp(k, PAY_CURSOR_TAG) != 0 || before <= 0)
			return rpc_ctx_invalid(ctx, "cursor", "is not a cursor this API returned");
	}
	char befores[24], limits[16], uid[24];
	pay_int(befores, sizeof(befores), before);
	pay_int(limits, sizeof(limits), (int64_t)limit + 1);
	pay_int(uid, sizeof(uid), rpc_ctx_caller_id(ctx));
	const char *params[] = {
		befores, limits, rpc_ctx_is_admin(ctx) ? NULL : uid, req->order_id[0] ? req->order_id : NULL,
		req->status != COMANDA__PAYMENT_STATUS__PAYMENT_STATUS_UNSPECIFIED ? pay_status_name(req->status) : NULL,
	};
	/* Newest first by id (ids only grow), so new payments never shift a page. */
	PGresult *r = NULL;
	int code = pg_exec(svc_db(ctx),
	    "SELECT " PAY_COLS " FROM payments WHERE id < $1 AND ($3::bigint IS NULL OR user_id = $3) "
	    "AND ($4::text IS NULL OR order_id = $4) AND ($5::text IS NULL OR status = $5) ORDER BY id DESC LIMIT $2",
	    5, params, &r);
	if (code != COMANDA__CODE__OK) {
		PQclear(r);
		return svc_db_error(ctx, code, PAY_DB);
	}
	int rows = PQntuples(r);
	size_t n = rows > (int)limit ? limit : (size_t)rows;
	reply->payments = rpc_ctx_alloc(ctx, (n ? n : 1) * sizeof(*reply->payments));
	for (size_t i = 0; reply->payments && i < n; i++)
		if ((reply->payments[i] = pay_from_row(ctx, r, (int)i)) != NULL)
			reply->n_payments++;
	PQclear(r);
	if (reply->n_payments != n)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	if ((size_t)rows > n) {
		char *next = rpc_ctx_alloc(ctx, CURSOR_MAX);
		if (next && cursor_encode(next, CURSOR_MAX, reply->payments[n - 1]->id, PAY_CURSOR_TAG) == 0)
			reply->next_cursor = next;
	}
	return COMANDA__CODE__OK;
}

static int pay_get_audit(rpc_ctx *ctx, const Comanda__GetAuditRequest *req, Comanda__GetAuditReply *reply)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	if (!rpc_ctx_is_admin(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "Admin role required");
	char ids[24];
	pay_int(ids, sizeof(ids), req->id);
	const char *params[] = { ids };
	PGresult *r = NULL;
	int code = pg_exec(svc_db(ctx),
	    "SELECT (extract(epoch FROM a.at) * 1000)::bigint, a.action, coalesce(a.from_status, ''), a.to_status, "
	    "a.amount_minor, a.actor, coalesce(a.request_id, ''), coalesce(a.event_id::text, ''), p.id IS NOT NULL "
	    "FROM (SELECT $1::bigint AS id) q LEFT JOIN payments p ON p.id = q.id "
	    "LEFT JOIN payment_audit a ON a.payment_id = p.id ORDER BY a.id",
	    1, params, &r);
	if (code != COMANDA__CODE__OK) {
		PQclear(r);
		return svc_db_error(ctx, code, PAY_DB);
	}
	int rows = PQntuples(r);
	if (rows == 0 || PQgetvalue(r, 0, 8)[0] != 't') {
		PQclear(r);
		return pay_not_found(ctx);
	}
	reply->entries = rpc_ctx_alloc(ctx, (size_t)rows * sizeof(*reply->entries));
	for (int i = 0; reply->entries && i < rows; i++) {
		if (PQgetisnull(r, i, 1))
			continue;
		Comanda__AuditEntry *e = rpc_ctx_alloc(ctx, sizeof(*e));
		if (e == NULL)
			break;
		comanda__audit_entry__init(e);
		e->at_ms = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		e->action = rpc_ctx_strdup(ctx, PQgetvalue(r, i, 1));
		e->from_status = pay_status_parse(PQgetvalue(r, i, 2));
		e->to_status = pay_status_parse(PQgetvalue(r, i, 3));
		e->amount_minor = strtoll(PQgetvalue(r, i, 4), NULL, 10);
		e->actor = rpc_ctx_strdup(ctx, PQgetvalue(r, i, 5));
		e->request_id = rpc_ctx_strdup(ctx, PQgetvalue(r, i, 6));
		e->event_id = rpc_ctx_strdup(ctx, PQgetvalue(r, i, 7));
		reply->entries[reply->n_entries++] = e;
	}
	PQclear(r);
	return reply->entries ? COMANDA__CODE__OK : rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
}

/* ---- admin changes ----------------------------------------------------------- */

/* The answer to a change that did not apply, from what the payment is now:
 * a processor call in flight is waited for (a charge decides a pending
 * payment; a refund in progress is asked to be retried: 503, so that the
 * order.cancelled consumer waits instead of dead-lettering), anything else
 * is a 409 naming the status. */
static int pay_refused(rpc_ctx *ctx, pg_conn *db, int64_t id, Comanda__PaymentStatus to)
{
	Comanda__Payment *now = NULL;
	pay_marks marks;
	int code = pay_load(ctx, db, id, false, &now, NULL, &marks);
	if (code == COMANDA__CODE__NOT_FOUND)
		return pay_not_found(ctx);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, PAY_DB);
	if (now->status == COMANDA__PAYMENT_STATUS__PAYMENT_PENDING && marks.charging)
		return rpc_ctx_error(ctx, COMANDA__CODE__ABORTED,
		    "The payment's charge is in flight: its outcome decides; retry once it has one");
	if (now->status == COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED && marks.refunding &&
	    to == COMANDA__PAYMENT_STATUS__PAYMENT_REFUNDED)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "A refund of this payment is in progress; retry later");
	const char *allowed = now->status == COMANDA__PAYMENT_STATUS__PAYMENT_PENDING     ? "completed, failed"
	                    : now->status == COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED ? "refunded (by a refund)"
	                                                                                : "none";
	char issue[96];
	snprintf(issue, sizeof(issue), "allowed next statuses: %s", allowed);
	rpc_ctx_detail(ctx, "status", issue);
	return rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION, "Cannot change payment status from %s to %s",
	    pay_status_name(now->status), pay_status_name(to));
}

static int pay_update_status(rpc_ctx *ctx, const Comanda__UpdatePaymentStatusRequest *req, Comanda__PaymentReply *reply)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	if (!rpc_ctx_is_admin(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "Admin role required");
	if (req->status != COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED && req->status != COMANDA__PAYMENT_STATUS__PAYMENT_FAILED)
		return rpc_ctx_invalid(ctx, "status", "must be completed or failed");
	/* characters, as API.md says (strlen counted bytes: 100 "é" were refused) */
	long reason_chars = utf8_chars(req->reason);
	if (reason_chars < 0)
		return rpc_ctx_invalid(ctx, "reason", "must be valid UTF-8");
	if (reason_chars > PAYMENT_REASON_MAX)
		return rpc_ctx_invalid(ctx, "reason", "must be at most 160 characters");
	pg_conn *db = svc_db(ctx);
	const char *reason = req->status == COMANDA__PAYMENT_STATUS__PAYMENT_FAILED
	    ? (req->reason[0] ? req->reason : "marked failed by an admin")
	    : NULL;
	bool moved;
	Comanda__Payment *p = NULL;
	/* not while a charge is in flight: its outcome decides */
	int code = pay_transition(ctx, db, req->id, COMANDA__PAYMENT_STATUS__PAYMENT_PENDING, req->status,
	    PAY_GUARD_NOT_CHARGING, reason, NULL, &p, &moved);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, PAY_DB);
	if (!moved)
		return pay_refused(ctx, db, req->id, req->status);
	reply->payment = p;
	return COMANDA__CODE__OK;
}

/* Who claims a refund: a request for one (an admin's, or order.cancelled),
 * which may also take over an abandoned claim; or the recovery sweep, which
 * only takes over an abandoned claim (payment_processor.h). */
typedef enum pay_refund_by { PAY_REFUND_REQUEST, PAY_REFUND_ABANDONED } pay_refund_by;

#define PAY_REFUND_CLAIM_SQL(cond)                                                                         \
	"UPDATE payments SET refund_started_at = now() WHERE id = $1 AND status = 'completed' AND " cond \
	" RETURNING " PAY_COLS
static const char *const pay_refund_claim_sql[] = {
	[PAY_REFUND_REQUEST] = PAY_REFUND_CLAIM_SQL(
	    "(refund_started_at IS NULL OR refund_started_at < " PAYMENT_CLAIM_STALE_BEFORE ")"),
	[PAY_REFUND_ABANDONED] = PAY_REFUND_CLAIM_SQL("refund_started_at < " PAYMENT_CLAIM_STALE_BEFORE),
};

/* Asks the processor for the outcome of payment p's charge, counted in
 * comanda_payment_processor_calls_total: payment_processor's lookup answer
 * (0 with *o filled, PAYMENT_UNKNOWN, -1). Never charges. */
static int pay_lookup(const Comanda__Payment *p, const char *token, payment_outcome *o)
{
	payment_charge c = { p->transaction_id, p->amount_minor, p->currency, token };
	metrics_add(pay_calls[PAY_CALL_LOOKUP], 1);
	return pay_cfg.processor->lookup(pay_cfg.processor, &c, o);
}

/* Whether a card payment's refund may be recorded as made by hand: OK when
 * the processor holds no approved charge of it (it never had the
 * reference, or declined it: the money came in some other way, as when an
 * admin completed the payment by hand), FAILED_PRECONDITION with reason
 * PROCESSOR_CHARGE when it does (that money goes back through the
 * processor, or it would be returned twice), UNAVAILABLE when it cannot be
 * asked. Never charges or refunds. */
static int pay_by_hand_allowed(rpc_ctx *ctx, const Comanda__Payment *p)
{
	payment_outcome o;
	int found = pay_lookup(p, "", &o);
	if (found == 0 && o.approved) {
		rpc_ctx_reason(ctx, "PROCESSOR_CHARGE");
		return rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION,
		    "The payment processor holds a charge of this payment: refund it through the processor");
	}
	if (found != 0 && found != PAYMENT_UNKNOWN)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "payment processor unavailable");
	return COMANDA__CODE__OK;
}

/* Refunds a completed payment: claims the refund, asks the processor (a
 * card payment's only), then records completed -> refunded. event_id: the order.cancelled causing it.
 * by_hand: an admin returned the money outside the processor; the refund is
 * only recorded, once the processor says it holds no approved charge of the
 * payment (pay_by_hand_allowed).
 * A claim whose outcome could not be recorded stays, so no second request
 * refunds meanwhile (503 "in progress"); once abandoned, the next request
 * or the sweep asks the processor again, which answers from the first. */
static int pay_do_refund(rpc_ctx *ctx, pg_conn *db, int64_t id, pay_refund_by by, bool by_hand, const char *event_id,
    Comanda__Payment **out)
{
	char ids[24];
	pay_int(ids, sizeof(ids), id);
	const char *params[] = { ids };
	PGresult *r = NULL;
	int code = pg_exec(db, pay_refund_claim_sql[by], 1, params, &r);
	bool mine = code == COMANDA__CODE__OK && PQntuples(r) == 1;
	Comanda__Payment *p = mine ? pay_from_row(ctx, r, 0) : NULL;
	PQclear(r);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, PAY_DB);
	if (!mine)
		return pay_refused(ctx, db, id, COMANDA__PAYMENT_STATUS__PAYMENT_REFUNDED);
	if (p == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	/* Only a card payment's money went through the processor. A cash or
	 * bank-transfer payment was completed by an admin who saw the money
	 * arrive (API.md), and it goes back the way it came, by hand: the
	 * processor never charged that reference, so it is not asked to refund
	 * it, and the refund is only recorded. */
	if (pay_is_card(p->payment_method) && by_hand) {
		code = pay_by_hand_allowed(ctx, p);
		if (code != COMANDA__CODE__OK) {
			pg_run(db, "UPDATE payments SET refund_started_at = NULL WHERE id = $1", 1, params);
			return code;
		}
	} else if (pay_is_card(p->payment_method)) {
		payment_charge c = { p->transaction_id, p->amount_minor, p->currency, "" };
		payment_outcome o;
		metrics_add(pay_calls[PAY_CALL_REFUND], 1);
		int rc = pay_cfg.processor->refund(pay_cfg.processor, &c, &o);
		if (rc == PAYMENT_UNKNOWN) {
			/* The processor took no money under this reference (an
			 * admin completed the payment by hand, with no charge
			 * made, or the processor lost it): nothing went back, so
			 * the payment is not refunded; it stays completed, for a
			 * person to settle by hand (API.md). A retry would get the
			 * same answer: not 503, and the claim is released, so
			 * nothing waits on it and the sweep does not ask again. An
			 * order.cancelled meeting this is dead-lettered (409), where
			 * an operator sees it (EVENTS.md). */
			log_printf(LOG_ERROR, "payment %" PRId64 ": the processor has no charge of %s to refund; left completed",
			    id, p->transaction_id);
			pg_run(db, "UPDATE payments SET refund_started_at = NULL WHERE id = $1", 1, params);
			rpc_ctx_reason(ctx, "NO_PROCESSOR_CHARGE");
			return rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION,
			    "The payment processor has no charge of this payment: nothing was refunded");
		}
		if (rc != 0 || !o.approved) {
			/* Not refunded: release the claim so it can be tried again. */
			pg_run(db, "UPDATE payments SET refund_started_at = NULL WHERE id = $1", 1, params);
			return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "payment processor unavailable");
		}
	}
	bool moved;
	code = pay_transition(ctx, db, id, COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED, COMANDA__PAYMENT_STATUS__PAYMENT_REFUNDED,
	    PAY_GUARD_NONE, NULL, event_id, out, &moved);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, PAY_DB);
	return moved ? COMANDA__CODE__OK : pay_refused(ctx, db, id, COMANDA__PAYMENT_STATUS__PAYMENT_REFUNDED);
}

static int pay_refund(rpc_ctx *ctx, const Comanda__RefundPaymentRequest *req, Comanda__PaymentReply *reply)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	if (!rpc_ctx_is_admin(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "Admin role required");
	Comanda__Payment *p = NULL;
	int code = pay_do_refund(ctx, svc_db(ctx), req->id, PAY_REFUND_REQUEST, req->by_hand, NULL, &p);
	if (code == COMANDA__CODE__OK)
		reply->payment = p;
	return code;
}

/* ---- order events ------------------------------------------------------------ */

static int pay_on_created(rpc_ctx *ctx, const char *event_id, const Comanda__OrderCreated *ev,
    Comanda__HandleOrderEventReply *reply)
{
	if (!objectid_hex_valid(ev->order_id) || ev->user_id <= 0 || ev->total_minor < 0)
		return rpc_ctx_error(ctx, COMANDA__CODE__INVALID_ARGUMENT, "malformed order.created event");
	pg_conn *db = svc_db(ctx);
	pay_new n = {
		.order_id = ev->order_id,
		.user_id = ev->user_id,
		.amount_minor = ev->total_minor,
		.currency = ev->currency[0] ? ev->currency : "COP",
		.method = ev->payment_method ? ev->payment_method : COMANDA__PAYMENT_METHOD__CASH,
		.token = utf8_chars(ev->payment_token) <= PAY_TOKEN_MAX ? ev->payment_token : "",
		.event_id = event_id,
	};
	Comanda__Payment *p = NULL;
	bool dup;
	int code = pay_insert(ctx, db, &n, &p, &dup);
	if (code == COMANDA__CODE__ALREADY_EXISTS || (code == COMANDA__CODE__OK && dup)) {
		/* The event was applied before, or the order has a live payment
		 * already: a redelivery, nothing to do. */
		reply->duplicate = 1;
		return COMANDA__CODE__OK;
	}
	if (code != COMANDA__CODE__OK)
		return code;
	if (pay_is_card(n.method))
		code = pay_charge(ctx, db, &p, n.token, PAY_CHARGE_FIRST);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, PAY_DB);
	reply->payment = p;
	return COMANDA__CODE__OK;
}

/* After a refund for order.cancelled did not apply: OK (the event is
 * handled) when someone else settled the payment or is refunding it now (a
 * duplicate event on another replica, an admin's refund; an abandoned claim
 * is re-driven by the sweep), else `code`. Waiting (503) or a 409 here would
 * hold the queue or dead-letter an event whose work is done. */
static int pay_cancel_refund_settled(rpc_ctx *ctx, pg_conn *db, int64_t id, int code,
    Comanda__HandleOrderEventReply *reply)
{
	Comanda__Payment *now = NULL;
	pay_marks marks;
	if (pay_load(ctx, db, id, false, &now, NULL, &marks) != COMANDA__CODE__OK)
		return code;
	bool settled = now->status == COMANDA__PAYMENT_STATUS__PAYMENT_REFUNDED ||
	               now->status == COMANDA__PAYMENT_STATUS__PAYMENT_FAILED ||
	               (now->status == COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED && marks.refunding);
	if (!settled)
		return code;
	rpc_ctx_clear(ctx); /* the refusal above is not the answer */
	reply->duplicate = 1;
	reply->payment = now;
	return COMANDA__CODE__OK;
}

static int pay_on_cancelled(rpc_ctx *ctx, const char *event_id, const Comanda__OrderCancelled *ev,
    Comanda__HandleOrderEventReply *reply)
{
	if (!objectid_hex_valid(ev->order_id))
		return rpc_ctx_error(ctx, COMANDA__CODE__INVALID_ARGUMENT, "malformed order.cancelled event");
	pg_conn *db = svc_db(ctx);
	const char *params[] = { ev->order_id };
	/* Recorded first, under the order's lock: an order.created that comes
	 * later (a requeue, another replica) then creates no payment, and one
	 * that came first has committed its payment, which the SELECT below
	 * sees. */
	const char *tomb[] = { ev->order_id, event_id };
	int code = pg_run(db, "BEGIN", 0, NULL);
	if (code == COMANDA__CODE__OK)
		code = pay_order_lock(db, ev->order_id);
	if (code == COMANDA__CODE__OK)
		code = pg_run(db, "INSERT INTO cancelled_orders (order_id, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", 2,
		    tomb);
	if (code == COMANDA__CODE__OK)
		code = pg_run(db, "COMMIT", 0, NULL);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, pay_rollback(db, code), PAY_DB);
	PGresult *r = NULL;
	code = pg_exec(db, "SELECT id, status, charge_started_at IS NOT NULL FROM payments "
	                       "WHERE order_id = $1 AND status IN ('pending', 'completed')", 1, params, &r);
	if (code != COMANDA__CODE__OK) {
		PQclear(r);
		return svc_db_error(ctx, code, PAY_DB);
	}
	if (PQntuples(r) == 0) {
		PQclear(r);
		reply->duplicate = 1; /* nothing live to undo */
		return COMANDA__CODE__OK;
	}
	int64_t id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	bool completed = strcmp(PQgetvalue(r, 0, 1), "completed") == 0;
	bool charging = PQgetvalue(r, 0, 2)[0] == 't';
	PQclear(r);
	Comanda__Payment *p = NULL;
	if (completed) {
		code = pay_do_refund(ctx, db, id, PAY_REFUND_REQUEST, false, event_id, &p);
		if (code != COMANDA__CODE__OK)
			return pay_cancel_refund_settled(ctx, db, id, code, reply);
	} else if (charging) {
		/* A charge is in flight (or abandoned, until the sweep settles it):
		 * its outcome decides. Handled, not waited for: a wait would hold
		 * every other event of the queue behind this one for up to a
		 * minute. A completion on this cancelled order is refunded all the
		 * same: svc-order answers its payment.completed with another
		 * order.cancelled (docs/EVENTS.md). */
		log_printf(LOG_INFO, "order %s cancelled while payment %" PRId64 " is being charged: its outcome decides",
		    ev->order_id, id);
		return COMANDA__CODE__OK;
	} else {
		/* not if a charge was claimed since the SELECT: its outcome decides */
		bool moved;
		code = pay_transition(ctx, db, id, COMANDA__PAYMENT_STATUS__PAYMENT_PENDING, COMANDA__PAYMENT_STATUS__PAYMENT_FAILED,
		    PAY_GUARD_NOT_CHARGING, "order cancelled", event_id, &p, &moved);
		if (code == COMANDA__CODE__OK && !moved)
			return rpc_ctx_error(ctx, COMANDA__CODE__ABORTED, "payment changed concurrently; retry");
		if (code != COMANDA__CODE__OK)
			code = svc_db_error(ctx, code, PAY_DB);
	}
	if (code == COMANDA__CODE__OK)
		reply->payment = p;
	return code;
}

static int pay_handle_event(rpc_ctx *ctx, const Comanda__HandleOrderEventRequest *req,
    Comanda__HandleOrderEventReply *reply)
{
	if (!rpc_ctx_is_service(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "Internal method");
	switch (req->event_case) {
	case COMANDA__HANDLE_ORDER_EVENT_REQUEST__EVENT_CREATED:
		return pay_on_created(ctx, req->event_id, req->created, reply);
	case COMANDA__HANDLE_ORDER_EVENT_REQUEST__EVENT_CANCELLED:
		return pay_on_cancelled(ctx, req->event_id, req->cancelled, reply);
	default:
		return rpc_ctx_error(ctx, COMANDA__CODE__INVALID_ARGUMENT, "unknown event");
	}
}

/* The sweep's answer for pending card payment p whose order is cancelled
 * and which nothing charged: it fails ("order cancelled"), as the
 * order.cancelled would have made it, provided its charge mark is still as
 * `guard` requires (none made, or an abandoned one). ABORTED when it no
 * longer is (a charge started meanwhile: its outcome decides). */
static int pay_fail_cancelled(rpc_ctx *ctx, pg_conn *db, const Comanda__Payment *p, pay_guard guard,
    Comanda__PaymentReply *reply)
{
	bool moved;
	Comanda__Payment *after = NULL;
	int code = pay_transition(ctx, db, p->id, COMANDA__PAYMENT_STATUS__PAYMENT_PENDING,
	    COMANDA__PAYMENT_STATUS__PAYMENT_FAILED, guard, "order cancelled", NULL, &after, &moved);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, PAY_DB);
	if (!moved)
		return rpc_ctx_error(ctx, COMANDA__CODE__ABORTED, guard == PAY_GUARD_CHARGE_STALE
		        ? "The payment's charge is not abandoned, or it changed"
		        : "The payment's charge started, or it changed");
	log_printf(LOG_INFO, "payment %" PRId64 ": its order %s is cancelled; failed, not charged", p->id, p->order_id);
	reply->payment = after;
	return COMANDA__CODE__OK;
}

/* Settles what a processor call left undone (the recovery sweep's method):
 * a card payment left pending is charged if its charge was never attempted,
 * or, once an attempt is abandoned, settled with the outcome the processor
 * gives for it, never charged twice: if the processor has no charge of that
 * reference, the attempt never reached it and it is charged now, under the
 * same reference; either way, one whose order svc-payment knows cancelled
 * fails instead of being charged. A refund claimed and abandoned is asked
 * for again (payment_processor.h). Anything else is answered as it is. */
static int pay_settle(rpc_ctx *ctx, const Comanda__GetPaymentRequest *req, Comanda__PaymentReply *reply)
{
	if (!rpc_ctx_is_service(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "Internal method");
	pg_conn *db = svc_db(ctx);
	Comanda__Payment *p = NULL;
	const char *token = NULL;
	pay_marks marks;
	int code = pay_load(ctx, db, req->id, false, &p, &token, &marks);
	if (code == COMANDA__CODE__NOT_FOUND)
		return pay_not_found(ctx);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, PAY_DB);
	if (p->status == COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED && marks.refunding) {
		code = pay_do_refund(ctx, db, p->id, PAY_REFUND_ABANDONED, false, NULL, &p);
		if (code == COMANDA__CODE__OK)
			reply->payment = p;
		return code;
	}
	if (p->status != COMANDA__PAYMENT_STATUS__PAYMENT_PENDING || !pay_is_card(p->payment_method)) {
		reply->payment = p;
		return COMANDA__CODE__OK;
	}
	bool cancelled = false;
	if (!marks.charging) {
		/* Never attempted (its process died between the insert and the
		 * charge). Its order may have been cancelled since: that
		 * order.cancelled fails the payment, but the sweep, which needs
		 * no broker, may meet it first (after an outage, or a crash
		 * between that event's record and its effect). Charged, the
		 * card of a cancelled order would be refunded later. */
		code = pay_order_cancelled(db, p->order_id, &cancelled);
		if (code == COMANDA__CODE__OK && cancelled)
			return pay_fail_cancelled(ctx, db, p, PAY_GUARD_NOT_CHARGING, reply);
		if (code == COMANDA__CODE__OK)
			code = pay_charge(ctx, db, &p, token, PAY_CHARGE_FIRST);
	} else {
		payment_outcome o;
		int found = pay_lookup(p, token, &o);
		if (found == PAYMENT_UNKNOWN && (code = pay_order_cancelled(db, p->order_id, &cancelled)) != COMANDA__CODE__OK)
			return svc_db_error(ctx, code, PAY_DB);
		if (found == PAYMENT_UNKNOWN && cancelled) {
			/* Never charged, and its order was cancelled meanwhile (its
			 * order.cancelled found the charge "in flight" and left the
			 * payment to its outcome): the outcome is that nothing was
			 * charged. Charging now would take a cancelled order's money,
			 * to be refunded through svc-order's answer to it. */
			return pay_fail_cancelled(ctx, db, p, PAY_GUARD_CHARGE_STALE, reply);
		} else if (found == PAYMENT_UNKNOWN) {
			/* The attempt never reached the processor. Taken for final
			 * only once the attempt is abandoned (the claim's condition):
			 * before that, its call may still be on its way. Until then,
			 * or if another replica's sweep claims it first, nothing is
			 * charged here and the payment is answered as it is. The
			 * claim also requires the order not cancelled since the
			 * check above (a cancellation recorded after the claim sees
			 * the charge in flight: its outcome decides). */
			log_printf(LOG_INFO, "payment %" PRId64 ": the processor has no charge of it; charging it now", p->id);
			code = pay_charge(ctx, db, &p, token, PAY_CHARGE_UNKNOWN);
		} else if (found != 0) {
			return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "payment processor unavailable");
		} else {
			/* only an abandoned charge: one in flight records its own outcome */
			bool moved;
			Comanda__Payment *after = NULL;
			code = pay_transition(ctx, db, p->id, COMANDA__PAYMENT_STATUS__PAYMENT_PENDING,
			    o.approved ? COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED : COMANDA__PAYMENT_STATUS__PAYMENT_FAILED,
			    PAY_GUARD_CHARGE_STALE, o.approved ? NULL : o.reason, NULL, &after, &moved);
			if (code == COMANDA__CODE__OK && !moved)
				return rpc_ctx_error(ctx, COMANDA__CODE__ABORTED,
				    "The payment's charge is not abandoned, or it changed");
			if (code == COMANDA__CODE__OK)
				p = after;
		}
	}
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, PAY_DB);
	reply->payment = p;
	return COMANDA__CODE__OK;
}

const payment_service_impl payment_service_handlers = {
	.create_payment = pay_create,
	.get_payment = pay_get,
	.list_payments = pay_list,
	.update_payment_status = pay_update_status,
	.refund_payment = pay_refund,
	.get_audit = pay_get_audit,
	.handle_order_event = pay_handle_event,
	.settle_payment = pay_settle,
};
