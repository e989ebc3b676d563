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
 * Every call must return well within that time.
 *
 * The built-in simulator (API.md) approves everything except a token that
 * starts with "tok_decline" and an amount above its limit; it is
 * deterministic, so its lookup recomputes the outcome. For tests it can
 * also be slow: with slow_ms > 0 it answers a charge or lookup of a token
 * that starts with "tok_slow" only after that long (a processor that keeps
 * its callers waiting up to their timeout), then as for any other token.
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

typedef struct payment_outcome {
	bool approved;
	char reason[PAYMENT_REASON_MAX]; /* why it was declined, shown to the customer */
} payment_outcome;

typedef struct payment_processor {
	const char *name;
	/* Charges c once. Returns 0 with *out filled, or -1 when the processor
	 * cannot be reached (the charge did not happen; the payment stays
	 * pending). */
	int (*charge)(const struct payment_processor *p, const payment_charge *c, payment_outcome *out);
	/* The outcome of an earlier charge of the same reference. */
	int (*lookup)(const struct payment_processor *p, const payment_charge *c, payment_outcome *out);
	/* Refunds the charge of c->reference in full; asked again for the same
	 * reference, answers the first refund's outcome without refunding
	 * twice. 0, or -1 when unreachable. */
	int (*refund)(const struct payment_processor *p, const payment_charge *c, payment_outcome *out);
	int64_t limit_minor;          /* the simulator's: declines amounts above it */
	int slow_ms;                  /* the simulator's: how long a "tok_slow" token waits; 0: not at all */
} payment_processor;

/* The simulator, declining amounts above limit_minor, and taking slow_ms
 * over a "tok_slow" token (0: no slower than any other). */
void payment_simulator_init(payment_processor *p, int64_t limit_minor, int slow_ms);

#endif
