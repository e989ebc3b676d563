/* svc-payment: the simulator's decisions, at the edges of its limit. */
#include "clock.h"
#include "payment_processor.h"
#include "test.h"

TEST(payment_simulator_declines_tokens_and_amounts_over_the_limit)
{
	payment_processor p;
	payment_simulator_init(&p, 10000000000LL, 0); /* 100000000.00 */
	payment_outcome o;
	payment_charge c = { "TXN-1", 1, "COP", "" };
	CHECK_EQ_INT(p.charge(&p, &c, &o), 0);
	CHECK(o.approved); /* 0.01 */
	c.amount_minor = 10000000000LL;
	p.charge(&p, &c, &o);
	CHECK(o.approved); /* exactly the limit */
	c.amount_minor = 10000000001LL;
	p.charge(&p, &c, &o);
	CHECK(!o.approved); /* one minor unit over */
	CHECK_STREQ(o.reason, "amount exceeds the processor limit");
	c.amount_minor = 100;
	c.token = "tok_decline_insufficient_funds";
	p.charge(&p, &c, &o);
	CHECK(!o.approved);
	CHECK_STREQ(o.reason, "card declined");
	c.token = "tok_visa";
	p.lookup(&p, &c, &o);
	CHECK(o.approved);
}

TEST(payment_simulator_is_slow_only_for_tok_slow_and_only_when_configured)
{
	payment_processor p;
	payment_simulator_init(&p, 10000000000LL, 200);
	payment_outcome o;
	payment_charge c = { "TXN-1", 100, "COP", "tok_visa" };
	int64_t t0 = clock_mono_us();
	CHECK_EQ_INT(p.charge(&p, &c, &o), 0);
	CHECK(o.approved);
	CHECK(clock_mono_us() - t0 < 150000);
	c.token = "tok_slow";
	t0 = clock_mono_us();
	CHECK_EQ_INT(p.lookup(&p, &c, &o), 0);
	CHECK(o.approved); /* late, then as any other token */
	CHECK(clock_mono_us() - t0 >= 200000);
	payment_simulator_init(&p, 10000000000LL, 0);
	t0 = clock_mono_us();
	CHECK_EQ_INT(p.charge(&p, &c, &o), 0);
	CHECK(o.approved);
	CHECK(clock_mono_us() - t0 < 150000);
}
