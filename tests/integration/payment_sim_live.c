/*
 * payment_sim_live: svc-payment's processor simulator
 * (svc-payment/payment_processor.c) against the stack's real PostgreSQL,
 * run by tests/integration/test_payment_lookup_unknown.sh. The simulator
 * keeps the references it charged in svc-payment's database
 * (processor_sim_charges), as a processor keeps them on its side: a lookup
 * of one never charged is unknown; a charge asked again answers the first
 * one's outcome, whatever the second asks; and what one simulator charged
 * another knows, one that replaces it after a restart or a second replica
 * beside it. Before, it kept them in the process's memory: the others
 * answered "unknown", and the sweep charged the payment a second time. Two
 * simulators charging one reference at once agree on one outcome. A refund
 * is approved only for a reference charged and approved; of any other it is
 * PAYMENT_UNKNOWN, "no such charge" (before, every refund was approved).
 *
 * Environment: PG_LIVE_URL (required), svc-payment's database (migration
 * 004 applied: the stack's svc-payment has started). Its rows are deleted
 * at the end. Output: "ok"/"FAIL" lines, then
 * "payment_sim_live: N passed, M failed".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comanda/rpc.pb-c.h"
#include "live.h"
#include "log.h"
#include "payment_processor.h"
#include "pg.h"

#define LIMIT_MINOR 10000000000LL
#define RACERS 8

static char prefix[48];

/* A reference of this run: SIMLIVE-<pid>-<name>. */
static const char *ref(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s%s", prefix, name);
	return buf;
}

typedef struct racer {
	const payment_processor *p;
	payment_charge c;
	pthread_barrier_t *start;
	int rc;
	payment_outcome o;
} racer;

static void *race(void *arg)
{
	racer *r = arg;
	pthread_barrier_wait(r->start);
	r->rc = r->p->charge(r->p, &r->c, &r->o);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("payment_sim_live");
	const char *url = getenv("PG_LIVE_URL");
	if (url == NULL || url[0] == '\0') {
		fprintf(stderr, "payment_sim_live: PG_LIVE_URL is not set\n");
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "SIMLIVE-%ld-", (long)getpid());
	char r1[96], r2[96], r3[96];
	payment_outcome o = { 0 }; /* read in the failure messages even when a call did not fill it */
	payment_processor a, b;
	check(payment_simulator_init(&a, LIMIT_MINOR, 0, url, 2, RACERS / 2) == 0, "set up: a simulator", NULL);

	/* never charged */
	payment_charge c = { ref(r1, sizeof(r1), "never"), 100, "COP", "tok_visa" };
	int rc = a.lookup(&a, &c, &o);
	check(rc == PAYMENT_UNKNOWN, "the lookup of a reference never charged is unknown", "got %d", rc);

	/* charged: its lookup and a second charge answer the first outcome */
	c = (payment_charge){ ref(r1, sizeof(r1), "declined"), 100, "COP", "tok_decline" };
	rc = a.charge(&a, &c, &o);
	check(rc == 0 && !o.approved && strcmp(o.reason, "card declined") == 0, "a tok_decline charge is declined",
	    "rc %d approved %d reason '%s'", rc, o.approved, o.reason);
	o.approved = true;
	rc = a.lookup(&a, &c, &o);
	check(rc == 0 && !o.approved && strcmp(o.reason, "card declined") == 0, "its lookup answers its outcome",
	    "rc %d approved %d reason '%s'", rc, o.approved, o.reason);
	c.token = "tok_visa";
	rc = a.charge(&a, &c, &o);
	check(rc == 0 && !o.approved && strcmp(o.reason, "card declined") == 0,
	    "charged again with another token: the first outcome (declined)", "rc %d approved %d", rc, o.approved);
	payment_charge d = { ref(r2, sizeof(r2), "approved"), 100, "COP", "tok_visa" };
	rc = a.charge(&a, &d, &o);
	check(rc == 0 && o.approved, "a tok_visa charge is approved", "rc %d approved %d", rc, o.approved);
	d.token = "tok_decline";
	d.amount_minor = LIMIT_MINOR + 1;
	rc = a.charge(&a, &d, &o);
	check(rc == 0 && o.approved && o.reason[0] == '\0',
	    "charged again declined and over the limit: the first outcome (approved)", "rc %d approved %d", rc,
	    o.approved);

	/* a restart: the simulator that charged is gone, a new one asks */
	payment_simulator_free(&a);
	check(payment_simulator_init(&b, LIMIT_MINOR, 0, url, 2, RACERS / 2) == 0, "set up: the restarted one", NULL);
	rc = b.lookup(&b, &c, &o);
	check(rc == 0 && !o.approved && strcmp(o.reason, "card declined") == 0,
	    "after a restart the lookup knows the charge (it was unknown: charged twice)", "rc %d", rc);
	d.token = "tok_visa";
	d.amount_minor = 100;
	rc = b.lookup(&b, &d, &o);
	check(rc == 0 && o.approved, "... and the approved one", "rc %d approved %d", rc, o.approved);
	c.token = "tok_visa";
	rc = b.charge(&b, &c, &o);
	check(rc == 0 && !o.approved, "... and a charge of it answers the first outcome", "rc %d approved %d", rc,
	    o.approved);
	c = (payment_charge){ ref(r3, sizeof(r3), "never"), 100, "COP", "tok_visa" };
	rc = b.lookup(&b, &c, &o);
	check(rc == PAYMENT_UNKNOWN, "... and one never charged is still unknown", "got %d", rc);

	/* refunds: only the money of an approved charge goes back */
	o.approved = true;
	rc = b.refund(&b, &c, &o);
	check(rc == PAYMENT_UNKNOWN && !o.approved && strcmp(o.reason, "no such charge") == 0,
	    "the refund of a reference never charged is refused: no such charge (it was approved)",
	    "rc %d approved %d reason '%s'", rc, o.approved, o.reason);
	rc = b.refund(&b, &d, &o);
	check(rc == 0 && o.approved, "the refund of an approved charge is approved", "rc %d approved %d", rc, o.approved);
	rc = b.refund(&b, &d, &o);
	check(rc == 0 && o.approved, "... and asked again, approved again (the first refund's answer)", "rc %d approved %d",
	    rc, o.approved);
	payment_charge declined = { ref(r1, sizeof(r1), "declined"), 100, "COP", "" };
	o.approved = true;
	rc = b.refund(&b, &declined, &o);
	check(rc == PAYMENT_UNKNOWN && !o.approved, "the refund of a declined charge is refused: no money was taken",
	    "rc %d approved %d", rc, o.approved);

	/* two replicas charge one reference at once, half with a declined card:
	 * one outcome for all, whichever came first */
	check(payment_simulator_init(&a, LIMIT_MINOR, 0, url, 2, RACERS / 2) == 0, "set up: a second replica", NULL);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, RACERS);
	racer rs[RACERS];
	pthread_t th[RACERS];
	ref(r3, sizeof(r3), "race");
	for (int i = 0; i < RACERS; i++) {
		rs[i] = (racer){ i % 2 ? &a : &b, { r3, 100, "COP", i % 4 < 2 ? "tok_visa" : "tok_decline" }, &start, -2,
			{ 0 } };
		pthread_create(&th[i], NULL, race, &rs[i]);
	}
	int answered = 0, approved = 0;
	for (int i = 0; i < RACERS; i++) {
		pthread_join(th[i], NULL);
		answered += rs[i].rc == 0;
		approved += rs[i].rc == 0 && rs[i].o.approved;
	}
	pthread_barrier_destroy(&start);
	check(answered == RACERS && (approved == 0 || approved == RACERS),
	    "concurrent charges of one reference on two replicas: one outcome for all", "%d answered, %d approved of %d",
	    answered, approved, RACERS);
	pg_conn *db = pg_conn_new(url, 2, "payment_sim_live");
	char like[64];
	snprintf(like, sizeof(like), "%s%%", prefix);
	const char *params[] = { r3, like };
	PGresult *res = NULL;
	int code = pg_exec(db, "SELECT count(*) FROM processor_sim_charges WHERE reference = $1", 1, params, &res);
	check(code == COMANDA__CODE__OK && strcmp(PQgetvalue(res, 0, 0), "1") == 0, "... and one charge stored", NULL);
	PQclear(res);
	check(pg_run(db, "DELETE FROM processor_sim_charges WHERE reference LIKE $1", 1, params + 1) == COMANDA__CODE__OK,
	    "clean up: this run's charges deleted", NULL);
	pg_conn_free(db);
	payment_simulator_free(&a);
	payment_simulator_free(&b);
	return live_finish("payment_sim_live");
}
