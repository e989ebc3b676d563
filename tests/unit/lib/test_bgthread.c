/* lib/bgthread: waits end on kick, on stop, or at their timeout. */
#include <stdatomic.h>

#include "bgthread.h"
#include "clock.h"
#include "test.h"

typedef struct wake_log {
	atomic_int wakes;
	atomic_llong first_wake_us;
} wake_log;

static void waiter(bgthread *self, void *arg)
{
	wake_log *w = arg;
	while (bgthread_wait(self, 10000)) {
		if (atomic_fetch_add(&w->wakes, 1) == 0)
			atomic_store(&w->first_wake_us, clock_mono_us());
	}
}

TEST(bgthread_kick_wakes_a_long_wait_and_stop_ends_it)
{
	wake_log w = { 0, 0 };
	bgthread *t = bgthread_start("test", waiter, &w);
	CHECK(t != NULL);
	clock_sleep_ms(50);
	CHECK_EQ_INT(atomic_load(&w.wakes), 0);
	int64_t kicked = clock_mono_us();
	bgthread_kick(t);
	for (int i = 0; i < 200 && atomic_load(&w.wakes) == 0; i++)
		clock_sleep_ms(5);
	CHECK_EQ_INT(atomic_load(&w.wakes), 1);
	CHECK(atomic_load(&w.first_wake_us) - kicked < 1000000); /* not the 10 s timeout */
	int64_t t0 = clock_mono_us();
	bgthread_stop(t); /* the 10 s wait ends at once */
	CHECK(clock_mono_us() - t0 < 1000000);
}

static void counter(bgthread *self, void *arg)
{
	atomic_int *n = arg;
	while (bgthread_wait(self, 20))
		atomic_fetch_add(n, 1);
}

TEST(bgthread_wait_times_out)
{
	atomic_int n = 0;
	bgthread *t = bgthread_start("test", counter, &n);
	clock_sleep_ms(200);
	bgthread_stop(t);
	CHECK(atomic_load(&n) >= 2);
}
