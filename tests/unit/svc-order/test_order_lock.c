/* svc-order/order_lock: one order's lock and the many-orders form agree. */
#include <pthread.h>
#include <stdatomic.h>

#include "clock.h"
#include "order_lock.h"
#include "test.h"

typedef struct locker {
	bson_oid_t oid;
	int hold_ms;         /* how long it keeps the lock */
	atomic_bool got;     /* has had the lock */
	atomic_bool ending;  /* is about to release it: set before the unlock, so
	                      * a lock taken right after it always sees it */
	atomic_bool done;    /* has released it */
} locker;

static void *lock_one(void *arg)
{
	locker *l = arg;
	order_lock(&l->oid);
	atomic_store(&l->got, true);
	clock_sleep_ms(l->hold_ms);
	atomic_store(&l->ending, true);
	order_unlock(&l->oid);
	atomic_store(&l->done, true);
	return NULL;
}

static void locker_init(locker *l, const bson_oid_t *oid, int hold_ms)
{
	l->oid = *oid;
	l->hold_ms = hold_ms;
	atomic_init(&l->got, false);
	atomic_init(&l->ending, false);
	atomic_init(&l->done, false);
}

/* Waits up to 2 s for *flag. */
static bool eventually(atomic_bool *flag)
{
	for (int i = 0; i < 200 && !atomic_load(flag); i++)
		clock_sleep_ms(10);
	return atomic_load(flag);
}

TEST(order_lock_many_holds_its_orders_and_only_those)
{
	enum { N = 300 };   /* more orders than stripes: every stripe is shared */
	bson_oid_t oids[N + 1];
	for (int i = 0; i < N; i++)
		bson_oid_init(&oids[i], NULL);
	oids[N] = oids[7];  /* a duplicate */
	order_lock_many(oids, N + 1);

	locker member, other;
	locker_init(&member, &oids[123], 0);
	bson_oid_t outside;
	bson_oid_init(&outside, NULL);
	locker_init(&other, &outside, 0);
	pthread_t th_member, th_other;
	CHECK(pthread_create(&th_member, NULL, lock_one, &member) == 0);
	CHECK(pthread_create(&th_other, NULL, lock_one, &other) == 0);
	CHECK(eventually(&other.done));       /* an order outside the set: at once */
	clock_sleep_ms(50);
	CHECK(!atomic_load(&member.got));      /* one of the set waits */
	order_unlock_many();
	pthread_join(th_member, NULL);
	pthread_join(th_other, NULL);
	CHECK(atomic_load(&member.got));
	for (int i = 0; i < N; i++) {          /* everything released */
		order_lock(&oids[i]);
		order_unlock(&oids[i]);
	}
	order_lock_many(oids, 0);              /* an empty set holds nothing */
	order_unlock_many();
}

TEST(order_lock_many_waits_for_a_write_already_running)
{
	bson_oid_t oid;
	bson_oid_init(&oid, NULL);
	locker running;
	locker_init(&running, &oid, 200);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, lock_one, &running) == 0);
	CHECK(eventually(&running.got));
	order_lock_many(&oid, 1);
	/* not before that write ended ("done" is set after the unlock, so a
	 * loaded machine can run this line between the two) */
	CHECK(atomic_load(&running.ending));
	order_unlock_many();
	pthread_join(th, NULL);
}

/* ---- order_lock_until: a request's wait ends at its deadline ---------------- */

/* One order_lock_until on its own thread, so that a wait that ignored its
 * deadline shows as a late success instead of hanging the test. */
typedef struct timed_locker {
	bson_oid_t oid;
	int wait_ms;         /* its deadline, from when it starts */
	int rc;              /* order_lock_until's answer */
	int64_t waited_ms;   /* how long it took to answer */
	atomic_bool done;
} timed_locker;

static void *lock_until(void *arg)
{
	timed_locker *l = arg;
	int64_t t0 = clock_mono_us();
	l->rc = order_lock_until(&l->oid, t0 + (int64_t)l->wait_ms * 1000);
	l->waited_ms = (clock_mono_us() - t0) / 1000;
	if (l->rc == 0)
		order_unlock(&l->oid);
	atomic_store(&l->done, true);
	return NULL;
}

static void timed_locker_init(timed_locker *l, const bson_oid_t *oid, int wait_ms)
{
	l->oid = *oid;
	l->wait_ms = wait_ms;
	l->rc = 99;
	l->waited_ms = -1;
	atomic_init(&l->done, false);
}

/* The relay's update_many holds the order for longer than the request may
 * wait (svc-order's order_cas): the request gives up at its deadline, not
 * when the relay is done. Before, order_cas took order_lock, which waited
 * for the release however late. */
TEST(order_lock_until_gives_up_at_its_deadline_while_the_relay_holds_the_order)
{
	bson_oid_t oid;
	bson_oid_init(&oid, NULL);
	order_lock_many(&oid, 1);
	timed_locker l;
	timed_locker_init(&l, &oid, 150);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, lock_until, &l) == 0);
	for (int i = 0; i < 100 && !atomic_load(&l.done); i++)
		clock_sleep_ms(10);            /* the relay's write goes on for 1 s */
	order_unlock_many();
	pthread_join(th, NULL);
	CHECK_EQ_INT(l.rc, -1);
	CHECK(l.waited_ms >= 140 && l.waited_ms < 900);

	/* one whose deadline comes after the release gets the lock then */
	order_lock_many(&oid, 1);
	timed_locker_init(&l, &oid, 2000);
	CHECK(pthread_create(&th, NULL, lock_until, &l) == 0);
	clock_sleep_ms(100);
	CHECK(!atomic_load(&l.done));
	order_unlock_many();
	pthread_join(th, NULL);
	CHECK_EQ_INT(l.rc, 0);
	CHECK(l.waited_ms >= 90 && l.waited_ms < 1900);
}

/* Another write of the order (or of its stripe) running long: the same. */
TEST(order_lock_until_gives_up_at_its_deadline_behind_a_long_write)
{
	bson_oid_t oid;
	bson_oid_init(&oid, NULL);
	locker writer;
	locker_init(&writer, &oid, 1000);
	pthread_t tw, th;
	CHECK(pthread_create(&tw, NULL, lock_one, &writer) == 0);
	CHECK(eventually(&writer.got));
	timed_locker l;
	timed_locker_init(&l, &oid, 150);
	CHECK(pthread_create(&th, NULL, lock_until, &l) == 0);
	pthread_join(th, NULL);
	CHECK_EQ_INT(l.rc, -1);
	CHECK(l.waited_ms >= 140 && l.waited_ms < 900);
	CHECK(!atomic_load(&writer.done));
	timed_locker_init(&l, &oid, 3000);
	CHECK(pthread_create(&th, NULL, lock_until, &l) == 0);
	pthread_join(th, NULL);
	pthread_join(tw, NULL);
	CHECK_EQ_INT(l.rc, 0);
	CHECK(atomic_load(&writer.ending));
}

/* A free lock is had at once; a deadline already gone gets nothing, even a
 * free lock (a write its caller no longer waits for is not made). */
TEST(order_lock_until_free_lock_and_past_deadline)
{
	bson_oid_t oid;
	bson_oid_init(&oid, NULL);
	CHECK_EQ_INT(order_lock_until(&oid, clock_mono_us() + 1000000), 0);
	order_unlock(&oid);
	int rc = order_lock_until(&oid, clock_mono_us() - 1);
	CHECK_EQ_INT(rc, -1);
	if (rc == 0)
		order_unlock(&oid); /* so that a failure here does not hang the rest */
	rc = order_lock_until(&oid, 0);
	CHECK_EQ_INT(rc, -1);
	if (rc == 0)
		order_unlock(&oid);
	/* and it was not left held */
	CHECK_EQ_INT(order_lock_until(&oid, clock_mono_us() + 1000000), 0);
	order_unlock(&oid);
}
