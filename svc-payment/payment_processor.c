#include "payment_processor.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "comanda/rpc.pb-c.h"
#include "log.h"
#include "pg.h"

/* The simulator's connections to its table. A call takes one that no other
 * call holds, so a slow or frozen database keeps each caller waiting for
 * its own statement only (PAYMENT_SIM_DB_TIMEOUT_MS), never behind another
 * caller's: one connection under one mutex would queue them all. */
struct payment_sim_store {
	pthread_mutex_t mu; /* guards busy[] */
	int n;
	bool *busy;         /* conns[i] is held by a call */
	pg_conn **conns;    /* NULL: not opened yet */
	char *url;
	int connect_timeout_s;
};

payment_sim_decision payment_sim_decide(int64_t limit_minor, const payment_charge *c)
{
	if (strncmp(c->token, "tok_decline", 11) == 0)
		return PAYMENT_SIM_DECLINED;
	return c->amount_minor > limit_minor ? PAYMENT_SIM_OVER_LIMIT : PAYMENT_SIM_APPROVED;
}

void payment_sim_outcome(payment_sim_decision d, payment_outcome *out)
{
	out->approved = d == PAYMENT_SIM_APPROVED;
	out->reason[0] = '\0';
	if (d == PAYMENT_SIM_DECLINED)
		snprintf(out->reason, sizeof(out->reason), "card declined");
	else if (d == PAYMENT_SIM_OVER_LIMIT)
		snprintf(out->reason, sizeof(out->reason), "amount exceeds the processor limit");
}

int payment_sim_delay_ms(int slow_ms, const payment_charge *c)
{
	/* Off unless configured: a customer's token must not hold a worker. */
	return slow_ms > 0 && strncmp(c->token, "tok_slow", 8) == 0 ? slow_ms : 0;
}

static void payment_sim_wait(const payment_processor *p, const payment_charge *c)
{
	int ms = payment_sim_delay_ms(p->slow_ms, c);
	if (ms > 0)
		clock_sleep_ms(ms);
}

/* A connection no other call holds, opened if it never was, its deadline
 * set for this call; NULL when all are held (more callers than the
 * simulator was made for) or out of memory: the caller answers
 * unreachable. Given back with sim_put. */
static pg_conn *sim_take(payment_sim_store *s, int *slot)
{
	int i;
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->n && s->busy[i]; i++)
		;
	if (i < s->n)
		s->busy[i] = true;
	pthread_mutex_unlock(&s->mu);
	if (i == s->n) {
		log_printf(LOG_ERROR, "payment simulator: all %d of its connections are in use", s->n);
		return NULL;
	}
	/* The slot is this call's: opened outside the mutex, since connecting
	 * takes a while. No longer than a statement may: a call must answer
	 * well within PAYMENT_CLAIM_STALE_S, which DB_CONNECT_TIMEOUT_S (up to
	 * 60 s) would not. */
	int timeout_s = PAYMENT_SIM_DB_TIMEOUT_MS / 1000;
	if (s->connect_timeout_s < timeout_s)
		timeout_s = s->connect_timeout_s;
	if (s->conns[i] == NULL)
		s->conns[i] = pg_conn_new(s->url, timeout_s, "svc-payment processor simulator");
	if (s->conns[i] == NULL) {
		pthread_mutex_lock(&s->mu);
		s->busy[i] = false;
		pthread_mutex_unlock(&s->mu);
		return NULL;
	}
	pg_conn_set_deadline(s->conns[i], clock_mono_us() + (int64_t)PAYMENT_SIM_DB_TIMEOUT_MS * 1000);
	*slot = i;
	return s->conns[i];
}

static void sim_put(payment_sim_store *s, int slot)
{
	pthread_mutex_lock(&s->mu);
	s->busy[slot] = false;
	pthread_mutex_unlock(&s->mu);
}

/* The decision in the one row of r (a decision column), or -1: no row, or
 * a value this simulator never stores. */
static int sim_decision_of(const PGresult *r)
{
	if (PQntuples(r) != 1)
		return -1;
	long d = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	if (d < PAYMENT_SIM_APPROVED || d > PAYMENT_SIM_OVER_LIMIT) {
		log_printf(LOG_ERROR, "payment simulator: stored decision %ld is none of its own", d);
		return -1;
	}
	return (int)d;
}

/* Stores the first charge of a reference: the INSERT takes the row or, if
 * the reference is there (an earlier charge, by this process or another,
 * or a concurrent one, whose insert this one waited for), leaves it; the
 * stored decision, read after it, is the first charge's either way. Two
 * statements, not one: a SELECT in the INSERT's own statement would not
 * see a row another transaction committed while the INSERT waited on it.
 * Each is safe to repeat, as pg_exec may after a broken connection. */
static int payment_sim_charge(const payment_processor *p, const payment_charge *c, payment_outcome *out)
{
	payment_sim_wait(p, c);
	char ds[8];
	snprintf(ds, sizeof(ds), "%d", (int)payment_sim_decide(p->limit_minor, c));
	const char *params[] = { c->reference, ds };
	int slot;
	pg_conn *db = sim_take(p->store, &slot);
	if (db == NULL)
		return -1;
	PGresult *r = NULL;
	int code = pg_exec(db,
	    "INSERT INTO processor_sim_charges (reference, decision) VALUES ($1, $2)"
	    " ON CONFLICT (reference) DO NOTHING RETURNING decision",
	    2, params, &r);
	bool inserted = code == COMANDA__CODE__OK && PQntuples(r) == 1;
	int d = inserted ? sim_decision_of(r) : -1;
	PQclear(r);
	r = NULL;
	if (code == COMANDA__CODE__OK && !inserted) {
		/* charged already: the first outcome */
		code = pg_exec(db, "SELECT decision FROM processor_sim_charges WHERE reference = $1", 1, params, &r);
		d = code == COMANDA__CODE__OK ? sim_decision_of(r) : -1;
		PQclear(r);
	}
	sim_put(p->store, slot);
	/* Unreachable, or a row it cannot read: for the caller the charge did
	 * not happen, the payment stays pending with its mark, and the sweep's
	 * lookup finds the row if the INSERT did go through. */
	if (d < 0)
		return -1;
	payment_sim_outcome((payment_sim_decision)d, out);
	return 0;
}

/* The decision stored for c's reference: 0 with *d set, PAYMENT_UNKNOWN
 * when the simulator never charged it, -1 when unreachable. */
static int sim_stored_decision(const payment_processor *p, const payment_charge *c, payment_sim_decision *d)
{
	const char *params[] = { c->reference };
	int slot;
	pg_conn *db = sim_take(p->store, &slot);
	if (db == NULL)
		return -1;
	PGresult *r = NULL;
	int code = pg_exec(db, "SELECT decision FROM processor_sim_charges WHERE reference = $1", 1, params, &r);
	bool none = code == COMANDA__CODE__OK && PQntuples(r) == 0;
	int stored = code == COMANDA__CODE__OK && !none ? sim_decision_of(r) : -1;
	PQclear(r);
	sim_put(p->store, slot);
	if (none)
		return PAYMENT_UNKNOWN;
	if (stored < 0)
		return -1;
	*d = (payment_sim_decision)stored;
	return 0;
}

static int payment_sim_lookup(const payment_processor *p, const payment_charge *c, payment_outcome *out)
{
	payment_sim_wait(p, c);
	payment_sim_decision d;
	int rc = sim_stored_decision(p, c, &d);
	if (rc != 0)
		return rc; /* never charged (no outcome made up), or unreachable */
	payment_sim_outcome(d, out);
	return 0;
}

/* A refund gives back the money of an approved charge. Asked for a
 * reference it never charged, or one it declined, the simulator has no
 * money to give back and says so, as a processor answers "no such charge";
 * before, it approved every refund, and svc-payment recorded as refunded
 * money that was never taken. No refund is stored: asked again, it answers
 * from the charge the same way, and moves no money either way. */
static int payment_sim_refund(const payment_processor *p, const payment_charge *c, payment_outcome *out)
{
	payment_sim_decision d;
	int rc = sim_stored_decision(p, c, &d);
	if (rc < 0)
		return -1;
	out->approved = rc == 0 && d == PAYMENT_SIM_APPROVED;
	out->reason[0] = '\0';
	if (!out->approved) {
		snprintf(out->reason, sizeof(out->reason), "no such charge");
		return PAYMENT_UNKNOWN;
	}
	return 0;
}

int payment_simulator_init(payment_processor *p, int64_t limit_minor, int slow_ms, const char *db_url,
    int connect_timeout_s, int callers)
{
	memset(p, 0, sizeof(*p));
	if (callers <= 0 || callers > 4096 || db_url == NULL)
		return -1;
	payment_sim_store *s = calloc(1, sizeof(*s));
	if (s != NULL) {
		s->busy = calloc((size_t)callers, sizeof(*s->busy));
		s->conns = calloc((size_t)callers, sizeof(*s->conns));
		s->url = strdup(db_url);
	}
	if (s == NULL || s->busy == NULL || s->conns == NULL || s->url == NULL || pthread_mutex_init(&s->mu, NULL) != 0) {
		if (s != NULL) {
			free(s->busy);
			free(s->conns);
			free(s->url);
		}
		free(s);
		return -1;
	}
	s->n = callers;
	s->connect_timeout_s = connect_timeout_s;
	p->store = s;
	p->slow_ms = slow_ms;
	p->name = "simulator";
	p->charge = payment_sim_charge;
	p->lookup = payment_sim_lookup;
	p->refund = payment_sim_refund;
	p->limit_minor = limit_minor;
	return 0;
}

void payment_simulator_free(payment_processor *p)
{
	payment_sim_store *s = p->store;
	if (s == NULL)
		return;
	for (int i = 0; i < s->n; i++)
		pg_conn_free(s->conns[i]);
	pthread_mutex_destroy(&s->mu);
	free(s->busy);
	free(s->conns);
	free(s->url);
	free(s);
	p->store = NULL;
}
