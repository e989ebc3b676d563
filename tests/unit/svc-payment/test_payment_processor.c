/* svc-payment: the simulator's decisions, at the edges of its limit, and
 * what it remembers of the references it charged. */
#include "clock.h"
#include "payment_processor.h"
#include "test.h"

TEST(payment_simulator_declines_tokens_and_amounts_over_the_limit)
{
	payment_processor p;
	CHECK_EQ_INT(payment_simulator_init(&p, 10000000000LL, 0, 16), 0); /* 100000000.00 */
	payment_outcome o;
	payment_charge c = { "TXN-1", 1, "COP", "" };
	CHECK_EQ_INT(p.charge(&p, &c, &o), 0);
	CHECK(o.approved); /* 0.01 */
	c.reference = "TXN-2";
	c.amount_minor = 10000000000LL;
	p.charge(&p, &c, &o);
	CHECK(o.approved); /* exactly the limit */
	c.reference = "TXN-3";
	c.amount_minor = 10000000001LL;
	p.charge(&p, &c, &o);
	CHECK(!o.approved); /* one minor unit over */
	CHECK_STREQ(o.reason, "amount exceeds the processor limit");
	c.reference = "TXN-4";
	c.amount_minor = 100;
	c.token = "tok_decline_insufficient_funds";
	p.charge(&p, &c, &o);
	CHECK(!o.approved);
	CHECK_STREQ(o.reason, "card declined");
	c.reference = "TXN-1";
	c.token = "tok_visa";
	CHECK_EQ_INT(p.lookup(&p, &c, &o), 0);
	CHECK(o.approved);
	payment_simulator_free(&p);
}

TEST(payment_simulator_is_slow_only_for_tok_slow_and_only_when_configured)
{
	payment_processor p;
	CHECK_EQ_INT(payment_simulator_init(&p, 10000000000LL, 200, 16), 0);
	payment_outcome o;
	payment_charge c = { "TXN-1", 100, "COP", "tok_visa" };
	int64_t t0 = clock_mono_us();
	CHECK_EQ_INT(p.charge(&p, &c, &o), 0);
	CHECK(o.approved);
	CHECK(clock_mono_us() - t0 < 150000);
	c.reference = "TXN-2";
	c.token = "tok_slow";
	t0 = clock_mono_us();
	CHECK_EQ_INT(p.charge(&p, &c, &o), 0);
	CHECK(o.approved); /* late, then as any other token */
	CHECK(clock_mono_us() - t0 >= 200000);
	t0 = clock_mono_us();
	CHECK_EQ_INT(p.lookup(&p, &c, &o), 0);
	CHECK(o.approved);
	CHECK(clock_mono_us() - t0 >= 200000);
	payment_simulator_free(&p);
	CHECK_EQ_INT(payment_simulator_init(&p, 10000000000LL, 0, 16), 0);
	t0 = clock_mono_us();
	CHECK_EQ_INT(p.charge(&p, &c, &o), 0);
	CHECK(o.approved);
	CHECK(clock_mono_us() - t0 < 150000);
	payment_simulator_free(&p);
}

/* A lookup of a reference the simulator was never charged is "unknown",
 * not an outcome it makes up: before, it recomputed one, so a charge that
 * never reached it was settled completed with no money taken. */
TEST(payment_simulator_lookup_of_a_reference_never_charged_is_unknown)
{
	payment_processor p;
	CHECK_EQ_INT(payment_simulator_init(&p, 10000000000LL, 0, 16), 0);
	payment_outcome o;
	payment_charge c = { "TXN-never", 100, "COP", "tok_visa" };
	CHECK_EQ_INT(p.lookup(&p, &c, &o), PAYMENT_UNKNOWN);
	c.token = "tok_decline";
	CHECK_EQ_INT(p.lookup(&p, &c, &o), PAYMENT_UNKNOWN);
	/* charged: its lookup is the charge's outcome */
	CHECK_EQ_INT(p.charge(&p, &c, &o), 0);
	CHECK(!o.approved);
	o.approved = true;
	CHECK_EQ_INT(p.lookup(&p, &c, &o), 0);
	CHECK(!o.approved);
	CHECK_STREQ(o.reason, "card declined");
	payment_simulator_free(&p);
}

/* The reference is the idempotency key: a charge asked again answers the
 * first one's outcome, whatever the second asks (a late first call and its
 * retry carry the same reference). */
TEST(payment_simulator_charge_of_a_known_reference_answers_the_first)
{
	payment_processor p;
	CHECK_EQ_INT(payment_simulator_init(&p, 10000000000LL, 0, 16), 0);
	payment_outcome o;
	payment_charge c = { "TXN-1", 100, "COP", "tok_visa" };
	CHECK_EQ_INT(p.charge(&p, &c, &o), 0);
	CHECK(o.approved);
	c.token = "tok_decline";
	CHECK_EQ_INT(p.charge(&p, &c, &o), 0);
	CHECK(o.approved);
	CHECK_STREQ(o.reason, "");
	payment_charge d = { "TXN-2", 100, "COP", "tok_decline" };
	CHECK_EQ_INT(p.charge(&p, &d, &o), 0);
	CHECK(!o.approved);
	d.token = "tok_visa";
	CHECK_EQ_INT(p.charge(&p, &d, &o), 0);
	CHECK(!o.approved);
	CHECK_STREQ(o.reason, "card declined");
	payment_simulator_free(&p);
}

/* Its memory is bounded: past `remember` references the oldest is
 * forgotten first (as one it never had), the others stay. */
TEST(payment_simulator_forgets_the_oldest_reference_past_its_memory)
{
	payment_processor p;
	CHECK_EQ_INT(payment_simulator_init(&p, 10000000000LL, 0, 3), 0);
	payment_outcome o;
	char ref[16];
	payment_charge c = { ref, 100, "COP", "tok_visa" };
	for (int i = 0; i < 5; i++) {
		snprintf(ref, sizeof(ref), "TXN-%d", i);
		CHECK_EQ_INT(p.charge(&p, &c, &o), 0);
	}
	for (int i = 0; i < 5; i++) {
		snprintf(ref, sizeof(ref), "TXN-%d", i);
		CHECK_EQ_INT(p.lookup(&p, &c, &o), i < 2 ? PAYMENT_UNKNOWN : 0);
	}
	/* charged again, TXN-0 is remembered again, in TXN-2's place */
	snprintf(ref, sizeof(ref), "TXN-0");
	CHECK_EQ_INT(p.charge(&p, &c, &o), 0);
	CHECK_EQ_INT(p.lookup(&p, &c, &o), 0);
	snprintf(ref, sizeof(ref), "TXN-2");
	CHECK_EQ_INT(p.lookup(&p, &c, &o), PAYMENT_UNKNOWN);
	snprintf(ref, sizeof(ref), "TXN-4");
	CHECK_EQ_INT(p.lookup(&p, &c, &o), 0);
	payment_simulator_free(&p);
	CHECK_EQ_INT(payment_simulator_init(&p, 1, 0, 0), -1);
}
