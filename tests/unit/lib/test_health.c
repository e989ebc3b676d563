/* lib/health: cached states, the down list, staleness of a hung probe; and
 * lib/bus against a broker that is not there. */
#include <stdatomic.h>
#include <stdbool.h>

#include "bus.h"
#include "clock.h"
#include "health.h"
#include "test.h"

typedef struct test_dep {
	atomic_bool up;
	atomic_bool hang;      /* the probe blocks while this is true */
	atomic_int calls;
	atomic_int returned;   /* probes that have returned */
} test_dep;

static bool test_probe(void *arg)
{
	test_dep *d = arg;
	atomic_fetch_add(&d->calls, 1);
	while (atomic_load(&d->hang))
		clock_sleep_ms(5);
	bool up = atomic_load(&d->up);
	atomic_fetch_add(&d->returned, 1);
	return up;
}

/* Polls until health_all_up(h) == want or ms pass; returns the elapsed ms. */
static int64_t test_wait_state(const health *h, bool want, int64_t ms)
{
	int64_t start = clock_mono_us();
	while (health_all_up(h) != want && clock_mono_us() - start < ms * 1000)
		clock_sleep_ms(10);
	return (clock_mono_us() - start) / 1000;
}

TEST(health_tracks_probes_and_lists_what_is_down)
{
	test_dep db = { .up = true }, broker = { .up = false };
	health *h = health_new("test-service", "1.2.3");
	CHECK(h != NULL);
	CHECK_EQ_INT(health_add(h, "database", test_probe, &db), 0);
	CHECK_EQ_INT(health_add(h, "broker", test_probe, &broker), 0);
	/* Nothing probed yet: down, not optimistically up; but not known to be
	 * failing, so handlers do not refuse requests before the first probe. */
	CHECK(!health_all_up(h));
	CHECK(!health_failing(h, "database") && !health_failing(h, "broker"));
	CHECK_EQ_INT(health_start(h), 0);
	clock_sleep_ms(100);
	const char *down[4] = { 0 };
	CHECK_EQ_INT(health_down(h, down, 4), 1);
	CHECK_STREQ(down[0], "broker");
	CHECK(health_failing(h, "broker"));
	CHECK(!health_hung(h, "broker")); /* it said no at once: failing, not hung */
	CHECK(!health_failing(h, "database"));
	CHECK(!health_failing(h, "no such dependency"));
	CHECK(!health_failing(NULL, "database"));
	atomic_store(&broker.up, true);
	CHECK(test_wait_state(h, true, 2000) < 1000);
	CHECK_EQ_INT(health_down(h, down, 4), 0);
	atomic_store(&db.up, false);
	CHECK(test_wait_state(h, false, 2000) < 1000);
	CHECK_EQ_INT(health_down(h, down, 0), 1);  /* counts even with no room */
	CHECK_STREQ(health_service(h), "test-service");
	CHECK_STREQ(health_version(h), "1.2.3");
	health_free(h);
	CHECK(atomic_load(&db.calls) >= 2);
}

/* Polls until d's probe has returned n times or ms pass. */
static void test_wait_returned(test_dep *d, int n, int64_t ms)
{
	int64_t start = clock_mono_us();
	while (atomic_load(&d->returned) < n && clock_mono_us() - start < ms * 1000)
		clock_sleep_ms(5);
}

TEST(health_hurry_probes_a_failing_dependency_again_without_waiting_out_the_period)
{
	test_dep db = { .up = false };
	health *h = health_new("test-service", "1");
	health_add(h, "database", test_probe, &db);
	health_start(h);
	test_wait_returned(&db, 1, 2000);
	CHECK(health_failing(h, "database"));
	/* back; the next probe is due HEALTH_PERIOD_MS after the first */
	atomic_store(&db.up, true);
	clock_sleep_ms(HEALTH_HURRY_MS + 20);
	health_hurry(h, "database");
	int64_t ms = test_wait_state(h, true, 2000);
	/* the period would have ended ~430 ms from here; allow a slow wake-up */
	CHECK(ms < (HEALTH_PERIOD_MS - HEALTH_HURRY_MS - 20) / 2);
	CHECK_EQ_INT(atomic_load(&db.calls), 2);
	/* up: nothing to hurry, no extra probe */
	health_hurry(h, "database");
	clock_sleep_ms(100);
	CHECK_EQ_INT(atomic_load(&db.calls), 2);
	health_hurry(h, "no such dependency");
	health_free(h);
}

TEST(health_hung_probe_counts_as_down)
{
	test_dep db = { .up = true };
	health *h = health_new("test-service", "1");
	health_add(h, "database", test_probe, &db);
	health_start(h);
	CHECK(test_wait_state(h, true, 2000) < 1000);
	/* The next probe hangs: the cached "up" must expire, not stick. */
	atomic_store(&db.hang, true);
	int64_t ms = test_wait_state(h, false, 4000);
	CHECK(!health_all_up(h));
	CHECK(health_failing(h, "database"));
	CHECK(health_hung(h, "database"));
	CHECK(ms <= HEALTH_STALE_MS + HEALTH_PERIOD_MS + 200);
	atomic_store(&db.hang, false);
	CHECK(test_wait_state(h, true, 2000) < 1000);
	health_free(h);
}

/* Starts a health with dependency "database" probed through db, waits for
 * it to be up, then makes one probe hang past the stale limit and fail, as
 * one that times out; returns once that probe has returned. */
static health *test_health_after_a_timeout(test_dep *db)
{
	health *h = health_new("test-service", "1");
	health_add(h, "database", test_probe, db);
	health_start(h);
	CHECK(test_wait_state(h, true, 2000) < 1000);
	atomic_store(&db->up, false);
	atomic_store(&db->hang, true);
	clock_sleep_ms(HEALTH_PERIOD_MS + HEALTH_STALE_MS + 200);
	int returned = atomic_load(&db->returned);
	atomic_store(&db->hang, false);
	test_wait_returned(db, returned + 1, 5000);
	return h;
}

TEST(health_a_probe_that_fails_only_after_the_limit_counts_as_hung)
{
	test_dep db = { .up = true };
	health *h = test_health_after_a_timeout(&db);
	clock_sleep_ms(50); /* recorded; the next probe is a period away */
	/* it has returned and the next waits a period: its slow failure says hung */
	CHECK(health_hung(h, "database"));
	CHECK(health_failing(h, "database"));
	/* the next probe fails at once: failing, no longer hung */
	int returned = atomic_load(&db.returned);
	test_wait_returned(&db, returned + 1, 5000);
	clock_sleep_ms(5);
	CHECK(!health_hung(h, "database"));
	CHECK(health_failing(h, "database"));
	health_free(h);
}

TEST(health_a_slow_failure_stays_hung_while_the_next_probe_is_young)
{
	test_dep db = { .up = true };
	health *h = test_health_after_a_timeout(&db);
	/* the next probe hangs too; while it is younger than the limit, the
	 * slow failure before it still says hung */
	int calls = atomic_load(&db.calls);
	atomic_store(&db.hang, true);
	while (atomic_load(&db.calls) == calls)
		clock_sleep_ms(1);
	clock_sleep_ms(50);
	CHECK(health_hung(h, "database"));
	CHECK(health_failing(h, "database"));
	atomic_store(&db.up, true);
	atomic_store(&db.hang, false);
	CHECK(test_wait_state(h, true, 2000) < 1000);
	CHECK(!health_hung(h, "database"));
	health_free(h);
}

TEST(health_refuses_too_many_dependencies)
{
	test_dep d = { .up = true };
	health *h = health_new("s", "v");
	for (int i = 0; i < HEALTH_MAX_DEPS; i++)
		CHECK_EQ_INT(health_add(h, "x", test_probe, &d), 0);
	CHECK_EQ_INT(health_add(h, "one too many", test_probe, &d), -1);
	health_free(h);  /* never started: nothing to join */
}

TEST(bus_rejects_bad_urls_and_fails_fast_when_no_broker)
{
	CHECK(bus_new("http://127.0.0.1:5672/", 200, "unit-test") == NULL);
	CHECK(bus_new("amqps://127.0.0.1:5671/", 200, "unit-test") == NULL);
	bus *b = bus_new("amqp://guest:guest@127.0.0.1:1/", 200, "unit-test");
	CHECK(b != NULL);
	int64_t start = clock_mono_us();
	CHECK(!bus_ping(b));
	CHECK(!bus_probe(b));  /* and again: a failed connection is retried */
	CHECK(clock_mono_us() - start < 1000000);
	bus_free(b);
}
