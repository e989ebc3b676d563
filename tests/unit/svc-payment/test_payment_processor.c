/* svc-payment: the simulator's decisions, at the edges of its limit, and
 * its slowness. What it remembers of the references it charged is in
 * svc-payment's database (processor_sim_charges): that is tested against a
 * real server by tests/integration/payment_sim_live.c
 * (test_payment_lookup_unknown.sh). Here only that a database it cannot
 * reach is a processor it cannot reach. */
#include "clock.h"
#include "payment_processor.h"
#include "test.h"

TEST(payment_simulator_declines_tokens_and_amounts_over_the_limit)
{
	int64_t limit = 10000000000LL; /* 100000000.00 */
	payment_charge c = { "TXN-1", 1, "COP", "" };
	CHECK_EQ_INT(payment_sim_decide(limit, &c), PAYMENT_SIM_APPROVED); /* 0.01 */
	c.amount_minor = 10000000000LL;
	CHECK_EQ_INT(payment_sim_decide(limit, &c), PAYMENT_SIM_APPROVED); /* exactly the limit */
	c.amount_minor = 10000000001LL;
	CHECK_EQ_INT(payment_sim_decide(limit, &c), PAYMENT_SIM_OVER_LIMIT); /* one minor unit over */
	c.amount_minor = 100;
	c.token = "tok_decline_insufficient_funds";
	CHECK_EQ_INT(payment_sim_decide(limit, &c), PAYMENT_SIM_DECLINED);
	c.amount_minor = 10000000001LL; /* declined first: the card, then the amount */
	CHECK_EQ_INT(payment_sim_decide(limit, &c), PAYMENT_SIM_DECLINED);
	c.token = "tok_declin";
	c.amount_minor = 100;
	CHECK_EQ_INT(payment_sim_decide(limit, &c), PAYMENT_SIM_APPROVED);
}

TEST(payment_simulator_outcomes_say_why)
{
	payment_outcome o;
	payment_sim_outcome(PAYMENT_SIM_APPROVED, &o);
	CHECK(o.approved);
	CHECK_STREQ(o.reason, "");
	payment_sim_outcome(PAYMENT_SIM_DECLINED, &o);
	CHECK(!o.approved);
	CHECK_STREQ(o.reason, "card declined");
	payment_sim_outcome(PAYMENT_SIM_OVER_LIMIT, &o);
	CHECK(!o.approved);
	CHECK_STREQ(o.reason, "amount exceeds the processor limit");
	/* the table stores these numbers (migration 004's CHECK): they must not move */
	CHECK_EQ_INT(PAYMENT_SIM_APPROVED, 0);
	CHECK_EQ_INT(PAYMENT_SIM_DECLINED, 1);
	CHECK_EQ_INT(PAYMENT_SIM_OVER_LIMIT, 2);
}

TEST(payment_simulator_is_slow_only_for_tok_slow_and_only_when_configured)
{
	payment_charge c = { "TXN-1", 100, "COP", "tok_visa" };
	CHECK_EQ_INT(payment_sim_delay_ms(200, &c), 0);
	c.token = "tok_slow";
	CHECK_EQ_INT(payment_sim_delay_ms(200, &c), 200);
	c.token = "tok_slow_decline";
	CHECK_EQ_INT(payment_sim_delay_ms(200, &c), 200);
	CHECK_EQ_INT(payment_sim_delay_ms(0, &c), 0);
}

/* Its database unreachable (nothing listens on port 1), the simulator is a
 * processor that cannot be reached: -1 for a charge and a lookup, which
 * the callers leave pending, never PAYMENT_UNKNOWN, which would have the
 * sweep charge it again; -1 for a refund too, which is tried again, never
 * PAYMENT_UNKNOWN, which would refuse it for good. And it still waits first
 * for a "tok_slow" token: the wait stands for the processor's, before any
 * answer. */
TEST(payment_simulator_without_its_database_is_unreachable)
{
	payment_processor p;
	CHECK_EQ_INT(payment_simulator_init(&p, 10000000000LL, 100, "postgresql://127.0.0.1:1/none", 1, 2), 0);
	payment_outcome o;
	payment_charge c = { "TXN-1", 100, "COP", "tok_visa" };
	CHECK_EQ_INT(p.charge(&p, &c, &o), -1);
	CHECK_EQ_INT(p.lookup(&p, &c, &o), -1);
	c.token = "tok_slow";
	int64_t t0 = clock_mono_us();
	CHECK_EQ_INT(p.lookup(&p, &c, &o), -1);
	CHECK(clock_mono_us() - t0 >= 100000);
	/* A refund asks whether the reference was charged, so it cannot be
	 * made either (before, every refund was approved unasked). */
	CHECK_EQ_INT(p.refund(&p, &c, &o), -1);
	payment_simulator_free(&p);
	CHECK(p.store == NULL);
	CHECK_EQ_INT(payment_simulator_init(&p, 1, 0, "postgresql://127.0.0.1:1/none", 1, 0), -1);
	CHECK_EQ_INT(payment_simulator_init(&p, 1, 0, NULL, 1, 1), -1);
}
