/* lib/rpc_breaker: when calls fail fast, on a clock of the test's own. */
#include "rpc_breaker.h"
#include "test.h"

#define MS 1000 /* microseconds */

TEST(rpc_breaker_opens_after_timeouts_in_a_row_and_probes_once)
{
	rpc_breaker b;
	rpc_breaker_init(&b, 3, 500);
	int64_t t = 1000000;
	CHECK(rpc_breaker_allow(&b, t, 2000));
	CHECK_EQ_INT(rpc_breaker_record(&b, true, t), 0);
	CHECK_EQ_INT(rpc_breaker_record(&b, true, t), 0);
	CHECK(rpc_breaker_allow(&b, t, 2000)); /* two in a row: still closed */
	CHECK_EQ_INT(rpc_breaker_record(&b, true, t), 1); /* the third opens it */
	CHECK(!rpc_breaker_allow(&b, t + 1 * MS, 2000));
	CHECK(!rpc_breaker_allow(&b, t + 499 * MS, 2000));
	/* open_ms later: one probe, the others still fail fast */
	CHECK(rpc_breaker_allow(&b, t + 500 * MS, 2000));
	CHECK(!rpc_breaker_allow(&b, t + 501 * MS, 2000));
	CHECK(!rpc_breaker_allow(&b, t + 2400 * MS, 2000));
	/* the probe is answered: closed, everyone goes */
	CHECK_EQ_INT(rpc_breaker_record(&b, false, t + 600 * MS), -1);
	CHECK(rpc_breaker_allow(&b, t + 601 * MS, 2000));
	CHECK(rpc_breaker_allow(&b, t + 602 * MS, 2000));
	CHECK_EQ_INT(rpc_breaker_record(&b, false, t + 603 * MS), 0);
}

TEST(rpc_breaker_probe_that_times_out_opens_it_again)
{
	rpc_breaker b;
	rpc_breaker_init(&b, 2, 300);
	int64_t t = 5000000;
	rpc_breaker_record(&b, true, t);
	CHECK_EQ_INT(rpc_breaker_record(&b, true, t), 1);
	CHECK(rpc_breaker_allow(&b, t + 300 * MS, 100)); /* the probe */
	CHECK_EQ_INT(rpc_breaker_record(&b, true, t + 400 * MS), 0); /* already open: not "opened" again */
	CHECK(!rpc_breaker_allow(&b, t + 401 * MS, 100));
	CHECK(!rpc_breaker_allow(&b, t + 699 * MS, 100));
	CHECK(rpc_breaker_allow(&b, t + 700 * MS, 100)); /* the next probe, open_ms after the timeout */
}

TEST(rpc_breaker_any_answer_resets_the_count)
{
	rpc_breaker b;
	rpc_breaker_init(&b, 3, 1000);
	int64_t t = 1000000;
	/* a slow service that still answers some calls in time, or one hung
	 * replica among healthy ones: timeouts never come three in a row */
	for (int i = 0; i < 100; i++) {
		CHECK_EQ_INT(rpc_breaker_record(&b, true, t), 0);
		CHECK_EQ_INT(rpc_breaker_record(&b, true, t), 0);
		CHECK_EQ_INT(rpc_breaker_record(&b, false, t), 0);
	}
	CHECK(rpc_breaker_allow(&b, t, 2000));
}

TEST(rpc_breaker_threshold_zero_never_opens)
{
	rpc_breaker b;
	rpc_breaker_init(&b, 0, 0);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ_INT(rpc_breaker_record(&b, true, 1000), 0);
	CHECK(rpc_breaker_allow(&b, 2000, 2000));
	CHECK_EQ_INT(b.open_ms, 1000);
}
