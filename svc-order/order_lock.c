#define _GNU_SOURCE /* pthread_mutex_clocklock, pthread_cond_clockwait: deadlines on CLOCK_MONOTONIC */
#include "order_lock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#define ORDER_LOCK_STRIPES 256

static pthread_mutex_t order_locks[ORDER_LOCK_STRIPES];
static pthread_once_t order_locks_once = PTHREAD_ONCE_INIT;

/* The orders of the multi-order write in progress (order_lock_many), if
 * any. A single order's lock waits only when its own order is among them:
 * the write can take seconds on FerretDB, and a stripe lock per order of it
 * would stall every other order of those stripes that long. */
static struct {
	pthread_mutex_t many;        /* one multi-order write at a time */
	pthread_mutex_t mu;          /* guards oids, n */
	pthread_cond_t released;     /* broadcast when the set is released */
	atomic_bool active;          /* a set is held: order_lock's fast path reads only this */
	const bson_oid_t *oids;      /* the caller's array, valid until order_unlock_many */
	size_t n;
} order_batch = {
	.many = PTHREAD_MUTEX_INITIALIZER,
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.released = PTHREAD_COND_INITIALIZER,
};

static void order_locks_init(void)
{
	for (int i = 0; i < ORDER_LOCK_STRIPES; i++)
		pthread_mutex_init(&order_locks[i], NULL);
}

/* The ObjectId's last bytes are its counter: they spread well. */
static size_t order_stripe_index(const bson_oid_t *oid)
{
	uint32_t h = (uint32_t)oid->bytes[11] | (uint32_t)oid->bytes[10] << 8 | (uint32_t)oid->bytes[9] << 16;
	h ^= (uint32_t)oid->bytes[4] * 2654435761u;
	return h % ORDER_LOCK_STRIPES;
}

static pthread_mutex_t *order_stripe(const bson_oid_t *oid)
{
	pthread_once(&order_locks_once, order_locks_init);
	return &order_locks[order_stripe_index(oid)];
}

/* True when oid is in the held set; order_batch.mu held. A linear search:
 * the set is one relay batch (~100 orders). */
static bool order_batch_has(const bson_oid_t *oid)
{
	for (size_t i = 0; i < order_batch.n; i++) {
		if (memcmp(&order_batch.oids[i], oid, sizeof(*oid)) == 0)
			return true;
	}
	return false;
}

/* m locked, without a deadline (until NULL) or by *until (CLOCK_MONOTONIC);
 * 0, or not 0 when the deadline passed first. */
static int order_mutex_lock(pthread_mutex_t *m, const struct timespec *until)
{
	return until == NULL ? pthread_mutex_lock(m) : pthread_mutex_clocklock(m, CLOCK_MONOTONIC, until);
}

/* The lock of oid's stripe, then until oid is not in the held set; with
 * until == NULL without a deadline, else by *until (CLOCK_MONOTONIC).
 * Returns 0 with the stripe locked, or -1 (timed out) without it. */
static int order_lock_by(const bson_oid_t *oid, const struct timespec *until)
{
	pthread_mutex_t *m = order_stripe(oid);
	if (order_mutex_lock(m, until) != 0)
		return -1;
	/* Checked under the stripe lock: order_lock_many publishes its set
	 * before it waits for each of its stripes to be free, so either it
	 * waits for this holder or this holder sees the set. */
	while (atomic_load(&order_batch.active)) {
		pthread_mutex_lock(&order_batch.mu);
		bool mine = order_batch_has(oid);
		pthread_mutex_unlock(&order_batch.mu);
		if (!mine)
			return 0;
		pthread_mutex_unlock(m);
		pthread_mutex_lock(&order_batch.mu);
		int rc = 0;
		while (rc == 0 && order_batch_has(oid))
			rc = until == NULL ? pthread_cond_wait(&order_batch.released, &order_batch.mu)
			                   : pthread_cond_clockwait(&order_batch.released, &order_batch.mu, CLOCK_MONOTONIC, until);
		/* released just as the wait timed out: not too late yet */
		bool held = order_batch_has(oid);
		pthread_mutex_unlock(&order_batch.mu);
		if (held || order_mutex_lock(m, until) != 0)
			return -1;
	}
	return 0;
}

void order_lock(const bson_oid_t *oid)
{
	order_lock_by(oid, NULL);
}

int order_lock_until(const bson_oid_t *oid, int64_t deadline_us)
{
	/* a timed lock succeeds past its deadline when the mutex is free: a
	 * deadline already gone is refused here, before any wait */
	if (clock_mono_us() >= deadline_us)
		return -1;
	struct timespec until = clock_mono_timespec(deadline_us);
	return order_lock_by(oid, &until);
}

void order_unlock(const bson_oid_t *oid)
{
	pthread_mutex_unlock(order_stripe(oid));
}

void order_lock_many(const bson_oid_t *oids, size_t n)
{
	pthread_once(&order_locks_once, order_locks_init);
	pthread_mutex_lock(&order_batch.many);
	pthread_mutex_lock(&order_batch.mu);
	order_batch.oids = oids;
	order_batch.n = n;
	atomic_store(&order_batch.active, true);
	pthread_mutex_unlock(&order_batch.mu);
	/* From now on order_lock of one of these waits; a write that had its
	 * stripe before may still run: wait for each such stripe to be free
	 * once (each stripe once, however many of the orders share it). */
	bool used[ORDER_LOCK_STRIPES] = { false };
	for (size_t i = 0; i < n; i++)
		used[order_stripe_index(&oids[i])] = true;
	for (size_t i = 0; i < ORDER_LOCK_STRIPES; i++) {
		if (used[i]) {
			pthread_mutex_lock(&order_locks[i]);
			pthread_mutex_unlock(&order_locks[i]);
		}
	}
}

void order_unlock_many(void)
{
	pthread_mutex_lock(&order_batch.mu);
	order_batch.oids = NULL;
	order_batch.n = 0;
	atomic_store(&order_batch.active, false);
	pthread_cond_broadcast(&order_batch.released);
	pthread_mutex_unlock(&order_batch.mu);
	pthread_mutex_unlock(&order_batch.many);
}
