/* lib/bgthread: waits end on kick, on stop, or at their timeout. */
#include <pthread.h>
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

typedef struct kicker_arg {
	bgthread_ref *ref;
	atomic_bool *done;
	atomic_int kicks;
} kicker_arg;

static void *kicker(void *p)
{
	kicker_arg *k = p;
	while (!atomic_load(k->done)) {
		bgthread_ref_kick(k->ref);
		atomic_fetch_add(&k->kicks, 1);
	}
	return NULL;
}

/* RPC handlers kick a service's relay while the service stops it: every
 * kick lands on the running thread or on none (ASan would report a kick
 * on the freed one), the stop still joins the thread, and kicks after it
 * do nothing. */
TEST(bgthread_ref_kicks_while_it_stops_never_reach_a_freed_thread)
{
	wake_log w = { 0, 0 };
	bgthread_ref ref = BGTHREAD_REF_INIT;
	CHECK(bgthread_ref_set(&ref, bgthread_start("test", waiter, &w)) != NULL);
	atomic_bool done = false;
	kicker_arg k = { &ref, &done, 0 };
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, kicker, &k);
	clock_sleep_ms(20);
	bgthread_ref_stop(&ref);
	int at_stop = atomic_load(&k.kicks);
	clock_sleep_ms(20);
	atomic_store(&done, true);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK(at_stop > 0);
	CHECK(atomic_load(&k.kicks) > at_stop); /* kicked on after the stop */
	CHECK(atomic_load(&w.wakes) > 0);
	bgthread_ref_stop(&ref); /* again: nothing left to stop */
}
