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
