/*
 * payment_processor: the seam where a card processor plugs in.
 *
 * Comanda calls a processor with the payment's transaction id as the
 * idempotency reference, once per payment for a charge and once for a refund
 * (svc-payment marks the attempt in its database first). An attempt whose
 * outcome was never recorded (its process died, or its database write
 * failed) is taken for abandoned once its mark is PAYMENT_CLAIM_STALE_S old:
 * a charge is then settled with `lookup`, which asks for the outcome of that
 * reference without charging again, and a refund is asked for again, which
 * the processor must answer from the first (approved, no second refund).
 * A lookup may find that the processor never had a charge of that reference
 * (PAYMENT_UNKNOWN: the process died before its call, or the call never
 * arrived): the charge is then made, under the same reference, so that a
 * first call arriving after all is not a second charge. Every call must
 * return well within PAYMENT_CLAIM_STALE_S: an attempt that old can no
 * longer be in flight, and only then is its lookup's answer final.
 *
 * The built-in simulator (API.md) approves everything except a token that
 * starts with "tok_decline" and an amount above its limit. It keeps the
 * references it charged as a processor does, durably and shared by every
 * svc-payment replica: in svc-payment's database, in a table of its own
 * that stands for the processor's records (processor_sim_charges,
 * migration 004). A charge of a reference stored there answers the stored
 * outcome, its lookup answers that outcome, and the lookup of any other is
 * PAYMENT_UNKNOWN; a refund of a reference it charged and approved is
 * approved, and of any other is PAYMENT_UNKNOWN (no money to give back);
 * a restart of svc-payment, or another replica, forgets nothing. Before,
 * it remembered them in the process's memory, so a charge made by a process
 * since restarted (or by another replica) whose outcome was not recorded
 * was looked up as unknown and charged again. The
 * database unreachable is the processor unreachable (-1). For tests it can
 * also be slow: with slow_ms > 0 it answers a charge or lookup of a token
 * that starts with "tok_slow" only after that long (a processor that keeps
 * its callers waiting up to their timeout), then as for any other token; a
 * charge is stored when it answers, so one cut short by the process's
 * death never reached it.
 *
 * Threading: a processor's functions are called from many RPC workers at
 * once and must be thread-safe.
 */
#ifndef COMANDA_PAYMENT_PROCESSOR_H
#define COMANDA_PAYMENT_PROCESSOR_H

#include <stdbool.h>
#include <stdint.h>

#define PAYMENT_REASON_MAX 160

/* How old a charge or refund mark is before its attempt counts as abandoned
 * (above), and the same as an SQL expression: marks set before it are stale. */
#define PAYMENT_CLAIM_STALE_S 60
#define PAYMENT_STR_(x) #x
#define PAYMENT_STR(x) PAYMENT_STR_(x)
#define PAYMENT_CLAIM_STALE_BEFORE "now() - interval '" PAYMENT_STR(PAYMENT_CLAIM_STALE_S) " seconds'"

typedef struct payment_charge {
	const char *reference;        /* transaction id: the processor's idempotency key */
	int64_t amount_minor;
	const char *currency;
	const char *token;            /* the client's payment token ("" when none) */
} payment_charge;

/* lookup's answer when the processor has no charge of the reference: the
 * charge never reached it (0: the outcome, -1: unreachable); refund's when
 * it took no money under the reference. */
#define PAYMENT_UNKNOWN 1

typedef struct payment_sim_store payment_sim_store;

typedef struct payment_outcome {
	bool approved;
	char reason[PAYMENT_REASON_MAX]; /* why it was declined, shown to the customer */
} payment_outcome;

typedef struct payment_processor {
	const char *name;
	/* Charges c once: asked again for the same reference, answers the
	 * first charge's outcome without charging twice. Returns 0 with *out
	 * filled, or -1 when the processor cannot be reached (the charge did
	 * not happen; the payment stays pending). */
	int (*charge)(const struct payment_processor *p, const payment_charge *c, payment_outcome *out);
	/* The outcome of an earlier charge of the same reference: 0 with *out
	 * filled; PAYMENT_UNKNOWN when the processor has no charge of it; -1
	 * when it cannot be reached. Never charges. */
	int (*lookup)(const struct payment_processor *p, const payment_charge *c, payment_outcome *out);
	/* Refunds the charge of c->reference in full; asked again for the same
	 * reference, answers the first refund's outcome without refunding
	 * twice. 0 with *out filled; PAYMENT_UNKNOWN when the processor took no
	 * money under that reference (it has no charge of it, or declined it:
	 * "no such charge"), so nothing is refunded; -1 when unreachable. */
	int (*refund)(const struct payment_processor *p, const payment_charge *c, payment_outcome *out);
	int64_t limit_minor;          /* the simulator's: declines amounts above it */
	int slow_ms;                  /* the simulator's: how long a "tok_slow" token waits; 0: not at all */
	payment_sim_store *store;     /* the simulator's: its connections to the charges it made */
} payment_processor;

/* The simulator, declining amounts above limit_minor and taking slow_ms
 * over a "tok_slow" token (0: no slower than any other). It keeps its
 * charges in the database at db_url (processor_sim_charges), through up to
 * `callers` (> 0) connections of its own, opened when first needed (none
 * here, so a database down now does not hold up the start): one for each
 * thread that may call it at once, so that none waits on another's
 * statement; a call that finds all in use answers unreachable. 0, or -1
 * (out of memory, or callers out of range; nothing to free then). */
int payment_simulator_init(payment_processor *p, int64_t limit_minor, int slow_ms, const char *db_url,
    int connect_timeout_s, int callers);
/* Frees what payment_simulator_init took, its connections included. No
 * call may be in flight. */
void payment_simulator_free(payment_processor *p);

/* How long a statement on the simulator's database may take before the
 * call answers unreachable: well within PAYMENT_CLAIM_STALE_S (above). */
#define PAYMENT_SIM_DB_TIMEOUT_MS 3000

/* ---- the simulator's decisions (pure; the unit tests call them) ---------- */

/* What the simulator decides for a first charge, and stores (as this
 * number: the values must not change, the table keeps them). */
typedef enum payment_sim_decision {
	PAYMENT_SIM_APPROVED = 0,
	PAYMENT_SIM_DECLINED = 1,    /* a token starting with "tok_decline" */
	PAYMENT_SIM_OVER_LIMIT = 2,  /* an amount above limit_minor */
} payment_sim_decision;

payment_sim_decision payment_sim_decide(int64_t limit_minor, const payment_charge *c);
/* The outcome answered for decision d. */
void payment_sim_outcome(payment_sim_decision d, payment_outcome *out);
/* How long the simulator keeps a call of c waiting: slow_ms for a
 * "tok_slow" token when slow_ms > 0, else 0. */
int payment_sim_delay_ms(int slow_ms, const payment_charge *c);

#endif
