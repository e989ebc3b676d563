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
 * starts with "tok_decline" and an amount above its limit. It remembers the
 * references it charged (the last PAYMENT_SIM_REMEMBER of them, in this
 * process's memory): a charge of one it remembers answers the first
 * outcome, its lookup answers that outcome, and the lookup of any other is
 * PAYMENT_UNKNOWN. So a restart of svc-payment forgets every charge, as a
 * processor that never had them; charging one again decides as the first
 * time did, the decision being deterministic. For tests it can also be
 * slow: with slow_ms > 0 it answers a charge or lookup of a token that
 * starts with "tok_slow" only after that long (a processor that keeps its
 * callers waiting up to their timeout), then as for any other token; a
 * charge is remembered when it answers, so one cut short by the process's
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
 * charge never reached it (0: the outcome, -1: unreachable). */
#define PAYMENT_UNKNOWN 1

/* How many charged references the simulator remembers: some 6 MB with
 * svc-payment's own TXN-<uuid> references (10 MB with 100-character ones).
 * Far more than it is charged within PAYMENT_CLAIM_STALE_S, the age of the
 * youngest charge a lookup asks about, except under a load test. */
#define PAYMENT_SIM_REMEMBER 65536

typedef struct payment_sim_memory payment_sim_memory;

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
	 * twice. 0, or -1 when unreachable. */
	int (*refund)(const struct payment_processor *p, const payment_charge *c, payment_outcome *out);
	int64_t limit_minor;          /* the simulator's: declines amounts above it */
	int slow_ms;                  /* the simulator's: how long a "tok_slow" token waits; 0: not at all */
	payment_sim_memory *memory;   /* the simulator's: the references it charged */
} payment_processor;

/* The simulator, declining amounts above limit_minor, taking slow_ms over a
 * "tok_slow" token (0: no slower than any other), and remembering the last
 * `remember` (> 0) references it charged. 0, or -1 out of memory (nothing
 * to free then). */
int payment_simulator_init(payment_processor *p, int64_t limit_minor, int slow_ms, int remember);
/* Frees what payment_simulator_init took. */
void payment_simulator_free(payment_processor *p);

#endif
