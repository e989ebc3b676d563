/* lib/stopsig: the stop, seen from every thread. Before it nothing changes;
 * once it begins, every wait through stopsig ends STOPSIG_GRACE_MS later at
 * the latest, whoever waits. The stop cannot be undone: those tests run in
 * a child process each (teststop.h). */
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "clock.h"
#include "stopsig.h"
#include "test.h"
#include "teststop.h"

/* Milliseconds since t0 (clock_mono_us). */
static int64_t ms_since(int64_t t0)
{
	return (clock_mono_us() - t0) / 1000;
}

TEST(stopsig_before_the_stop_changes_no_wait)
{
	CHECK(!stopsig_stopping());
	CHECK(!stopsig_grace_over());
	CHECK_EQ_INT(stopsig_limit(0), 0);
	CHECK_EQ_INT(stopsig_limit(12345), 12345);
	int p[2];
	CHECK_EQ_INT(pipe(p), 0);
	/* nothing to read: the wait lasts until its own limit */
	int64_t t0 = clock_mono_us();
	CHECK_EQ_INT(stopsig_poll(p[0], POLLIN, clock_mono_us() + 100 * 1000), 0);
	CHECK(ms_since(t0) >= 90);
	/* something to read: at once */
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK_EQ_INT(stopsig_poll(p[0], POLLIN, 0), 1);
	close(p[0]);
	close(p[1]);
	t0 = clock_mono_us();
	CHECK(stopsig_sleep(50));
	CHECK(ms_since(t0) >= 45);
}

/* A wait with no limit of its own on a descriptor that never becomes
 * ready, the stop begun 200 ms into it: it ends at the grace's end. */
static int stop_ends_an_endless_poll(void *arg)
{
	(void)arg;
	int p[2];
	if (pipe(p) != 0 || teststop_begin_after(200) != 0)
		return 10;
	int64_t t0 = clock_mono_us();
	int rc = stopsig_poll(p[0], POLLIN, 0);
	int64_t took = ms_since(t0);
	if (rc != 0)
		return 11;
	if (took < 200 + STOPSIG_GRACE_MS - 50 || took > 200 + STOPSIG_GRACE_MS + 500)
		return 12;
	if (!stopsig_stopping() || !stopsig_grace_over())
		return 13;
	/* after the grace every wait ends at once, a limit of its own or not */
	t0 = clock_mono_us();
	if (stopsig_poll(p[0], POLLIN, clock_mono_us() + 10 * 1000 * 1000) != 0 || ms_since(t0) > 100)
		return 14;
	return 0;
}

TEST(stopsig_stop_ends_a_wait_at_the_end_of_its_grace)
{
	CHECK_EQ_INT(teststop_in_child(stop_ends_an_endless_poll, NULL), 0);
}

/* The limits a stop sets, and the waits that end at once. */
static int stop_limits(void *arg)
{
	(void)arg;
	int64_t before = clock_mono_us();
	stopsig_begin(SIGTERM);
	stopsig_begin(SIGINT); /* only the first counts */
	int64_t end = stopsig_limit(0);
	if (!stopsig_stopping() || end < before + (int64_t)STOPSIG_GRACE_MS * 1000 ||
	    end > clock_mono_us() + (int64_t)STOPSIG_GRACE_MS * 1000)
		return 20;
	if (stopsig_limit(before + 1000) != before + 1000)   /* an earlier limit stays */
		return 21;
	if (stopsig_limit(end + 5000000) != end)             /* a later one is cut */
		return 22;
	if (stopsig_await() != SIGTERM)
		return 23;
	int64_t t0 = clock_mono_us();
	if (stopsig_sleep(10000) || ms_since(t0) > 100)
		return 24;
	/* ready now: reported at once, in the grace */
	int p[2];
	if (pipe(p) != 0 || write(p[1], "x", 1) != 1 || stopsig_poll(p[0], POLLIN, 0) != 1)
		return 25;
	return 0;
}

TEST(stopsig_stop_cuts_later_limits_and_keeps_earlier_ones)
{
	CHECK_EQ_INT(teststop_in_child(stop_limits, NULL), 0);
}

/* A sleep under way ends when the stop begins, not at its end. */
static int stop_ends_a_sleep(void *arg)
{
	(void)arg;
	if (teststop_begin_after(100) != 0)
		return 30;
	int64_t t0 = clock_mono_us();
	if (stopsig_sleep(10000))
		return 31;
	return ms_since(t0) < 600 ? 0 : 32;
}

TEST(stopsig_stop_ends_a_sleep_at_once)
{
	CHECK_EQ_INT(teststop_in_child(stop_ends_a_sleep, NULL), 0);
}

/* The watching thread takes a SIGTERM sent to the process and begins the
 * stop; unwatch ends it. */
static int watch_takes_the_signal(void *arg)
{
	(void)arg;
	sigset_t set;
	stopsig_block(&set);
	if (stopsig_watch(&set) != 0)
		return 40;
	if (stopsig_stopping())
		return 41;
	kill(getpid(), SIGTERM);
	int64_t t0 = clock_mono_us();
	int sig = stopsig_await();
	if (sig != SIGTERM || ms_since(t0) > 1000)
		return 42;
	stopsig_unwatch();
	return 0;
}

TEST(stopsig_watch_begins_the_stop_at_sigterm)
{
	CHECK_EQ_INT(teststop_in_child(watch_takes_the_signal, NULL), 0);
}

/* Ended without a signal (a program that stops for another reason), the
 * watching thread is not a stop. */
static int unwatch_is_no_stop(void *arg)
{
	(void)arg;
	sigset_t set;
	stopsig_block(&set);
	if (stopsig_watch(&set) != 0)
		return 50;
	stopsig_unwatch();
	return stopsig_stopping() ? 51 : 0;
}

TEST(stopsig_unwatch_without_a_signal_begins_no_stop)
{
	CHECK_EQ_INT(teststop_in_child(unwatch_is_no_stop, NULL), 0);
}
