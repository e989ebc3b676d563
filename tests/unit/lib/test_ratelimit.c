/* lib/ratelimit: the bucket arithmetic on a driven clock, refunds and
 * forgetting, idle expiry, eviction (fail open) and refusal (fail closed)
 * when full, bounded memory with 100,000 distinct keys, and exactness under
 * concurrent takes. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"
#include "test.h"

#define S 1000000LL /* one second in microseconds */

static ratelimit *mk(int64_t interval_us, int64_t burst, size_t capacity, bool fail_closed)
{
	ratelimit *rl = NULL;
	ratelimit_config c = { .interval_us = interval_us, .burst = burst, .capacity = capacity,
		.fail_closed = fail_closed };
	CHECK_EQ_INT(ratelimit_new(&rl, &c), 0);
	return rl;
}

static ratelimit_verdict take(ratelimit *rl, const char *key, int64_t now, ratelimit_state *st)
{
	return ratelimit_take(rl, key, strlen(key), now, st);
}

TEST(ratelimit_config_is_checked)
{
	ratelimit *rl = NULL;
	ratelimit_config bad[] = {
		{ .interval_us = 0, .burst = 1, .capacity = 1 },
		{ .interval_us = 1, .burst = 0, .capacity = 1 },
		{ .interval_us = 1, .burst = 1, .capacity = 0 },
		{ .interval_us = RATELIMIT_MAX_INTERVAL_US + 1, .burst = 1, .capacity = 1 },
		{ .interval_us = 1, .burst = RATELIMIT_MAX_BURST + 1, .capacity = 1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(ratelimit_new(&rl, &bad[i]), -1);
		CHECK(rl == NULL);
	}
}

TEST(ratelimit_bucket_math)
{
	/* 3 tokens, one more every second */
	ratelimit *rl = mk(S, 3, 100, false);
	if (rl == NULL)
		return;
	ratelimit_state st;
	int64_t t0 = 1000 * S;
	CHECK_EQ_INT(take(rl, "a", t0, &st), RATELIMIT_ALLOWED);
	CHECK_EQ_INT(st.limit, 3);
	CHECK_EQ_INT(st.remaining, 2);
	CHECK_EQ_INT(st.reset_us, S); /* one token short of full */
	CHECK_EQ_INT(st.retry_after_us, 0);
	CHECK_EQ_INT(take(rl, "a", t0, &st), RATELIMIT_ALLOWED);
	CHECK_EQ_INT(st.remaining, 1);
	CHECK_EQ_INT(take(rl, "a", t0, &st), RATELIMIT_ALLOWED);
	CHECK_EQ_INT(st.remaining, 0);
	CHECK_EQ_INT(st.reset_us, 3 * S);
	/* empty: refused, with the wait until the next token */
	CHECK_EQ_INT(take(rl, "a", t0, &st), RATELIMIT_LIMITED);
	CHECK_EQ_INT(st.remaining, 0);
	CHECK_EQ_INT(st.retry_after_us, S);
	CHECK_EQ_INT(take(rl, "a", t0 + S / 2, &st), RATELIMIT_LIMITED);
	CHECK_EQ_INT(st.retry_after_us, S / 2);
	/* a refusal takes nothing: one token back after exactly a second */
	CHECK_EQ_INT(take(rl, "a", t0 + S - 1, &st), RATELIMIT_LIMITED);
	CHECK_EQ_INT(take(rl, "a", t0 + S, &st), RATELIMIT_ALLOWED);
	CHECK_EQ_INT(st.remaining, 0);
	CHECK_EQ_INT(take(rl, "a", t0 + S, &st), RATELIMIT_LIMITED);
	/* another key has its own bucket */
	CHECK_EQ_INT(take(rl, "b", t0 + S, &st), RATELIMIT_ALLOWED);
	CHECK_EQ_INT(st.remaining, 2);
	/* long idle: full again, never more than full */
	CHECK_EQ_INT(take(rl, "a", t0 + 100 * S, &st), RATELIMIT_ALLOWED);
	CHECK_EQ_INT(st.remaining, 2);
	/* sustained: one per interval forever */
	int64_t t = t0 + 200 * S;
	int allowed = 0;
	for (int i = 0; i < 100; i++, t += S / 4)
		allowed += take(rl, "c", t, NULL) == RATELIMIT_ALLOWED;
	/* 25 seconds at 4 a second: the 3 of the burst plus one a second */
	CHECK(allowed >= 3 + 24 && allowed <= 3 + 25);
	ratelimit_free(rl);
}

TEST(ratelimit_peek_refund_forget)
{
	ratelimit *rl = mk(10 * S, 2, 100, true);
	if (rl == NULL)
		return;
	ratelimit_state st;
	int64_t t0 = 50 * S;
	ratelimit_peek(rl, "k", 1, t0, &st);
	CHECK_EQ_INT(st.remaining, 2);
	CHECK_EQ_INT(st.reset_us, 0);
	CHECK_EQ_INT(take(rl, "k", t0, NULL), RATELIMIT_ALLOWED);
	CHECK_EQ_INT(take(rl, "k", t0, NULL), RATELIMIT_ALLOWED);
	ratelimit_peek(rl, "k", 1, t0, &st);
	CHECK_EQ_INT(st.remaining, 0);
	CHECK_EQ_INT(st.retry_after_us, 10 * S);
	CHECK_EQ_INT(take(rl, "k", t0, NULL), RATELIMIT_LIMITED);
	/* a refund gives exactly one back */
	ratelimit_refund(rl, "k", 1, t0);
	ratelimit_peek(rl, "k", 1, t0, &st);
	CHECK_EQ_INT(st.remaining, 1);
	CHECK_EQ_INT(take(rl, "k", t0, NULL), RATELIMIT_ALLOWED);
	CHECK_EQ_INT(take(rl, "k", t0, NULL), RATELIMIT_LIMITED);
	ratelimit_stats s;
	ratelimit_stats_get(rl, &s);
	CHECK_EQ_INT(s.entries, 1);
	/* refunding to full drops the entry: nothing to remember */
	ratelimit_refund(rl, "k", 1, t0);
	ratelimit_refund(rl, "k", 1, t0);
	ratelimit_stats_get(rl, &s);
	CHECK_EQ_INT(s.entries, 0);
	ratelimit_refund(rl, "unknown", 7, t0); /* no effect */
	/* forget: full at once */
	CHECK_EQ_INT(take(rl, "k", t0, NULL), RATELIMIT_ALLOWED);
	CHECK_EQ_INT(take(rl, "k", t0, NULL), RATELIMIT_ALLOWED);
	ratelimit_forget(rl, "k", 1);
	CHECK_EQ_INT(take(rl, "k", t0, &st), RATELIMIT_ALLOWED);
	CHECK_EQ_INT(st.remaining, 1);
	ratelimit_free(rl);
}

/* Keys "key-<i>" into buf. */
static size_t key_of(char *buf, size_t cap, unsigned i)
{
	int n = snprintf(buf, cap, "key-%u", i);
	return (size_t)n;
}

TEST(ratelimit_idle_buckets_expire_and_others_survive)
{
	/* 1000 keys; half used once (idle after 1 s), half drained (busy for 100 s).
	 * Capacity is enforced per shard (capacity / 64 keys each) and keys land
	 * on shards at random, so a table at half its capacity can still fill one
	 * shard now and then (about one run in 200 at 2,000); at 8,000 a shard
	 * would need 125 of the 1,000 keys, which does not happen. */
	ratelimit *rl = mk(S, 100, 8000, false);
	if (rl == NULL)
		return;
	char k[32];
	int64_t t0 = 10 * S;
	for (unsigned i = 0; i < 1000; i++) {
		size_t n = key_of(k, sizeof(k), i);
		int times = i % 2 == 0 ? 1 : 100;
		for (int j = 0; j < times; j++)
			CHECK_EQ_INT(ratelimit_take(rl, k, n, t0, NULL), RATELIMIT_ALLOWED);
	}
	ratelimit_stats s;
	ratelimit_stats_get(rl, &s);
	CHECK_EQ_INT(s.entries, 1000);
	CHECK_EQ_INT(ratelimit_sweep(rl, t0 + 2 * S), 500);
	ratelimit_stats_get(rl, &s);
	CHECK_EQ_INT(s.entries, 500);
	/* every busy bucket kept its state through the deletions around it */
	int wrong = 0;
	for (unsigned i = 1; i < 1000; i += 2) {
		ratelimit_state st;
		size_t n = key_of(k, sizeof(k), i);
		ratelimit_peek(rl, k, n, t0 + 2 * S, &st);
		wrong += st.remaining != 2;
	}
	CHECK_EQ_INT(wrong, 0);
	/* the incremental hand reclaims without an explicit sweep */
	for (unsigned i = 0; i < 5000; i++)
		ratelimit_take(rl, "hot", 3, t0 + 200 * S, NULL);
	ratelimit_stats_get(rl, &s);
	CHECK(s.entries < 500);
	ratelimit_free(rl);
}

TEST(ratelimit_full_table_evicts_when_failing_open)
{
	ratelimit *rl = mk(S, 5, 64, false);
	if (rl == NULL)
		return;
	ratelimit_stats s;
	ratelimit_stats_get(rl, &s);
	size_t cap = s.capacity;
	CHECK(cap >= 64 && cap < 128);
	char k[32];
	int64_t t0 = 10 * S;
	/* every key drains its bucket: nothing ever turns idle */
	for (unsigned i = 0; i < 1000; i++) {
		size_t n = key_of(k, sizeof(k), i);
		for (int j = 0; j < 5; j++)
			CHECK_EQ_INT(ratelimit_take(rl, k, n, t0, NULL), RATELIMIT_ALLOWED);
	}
	ratelimit_stats_get(rl, &s);
	CHECK(s.entries <= cap);
	CHECK(s.evictions >= 1000 - cap);
	CHECK_EQ_INT(s.full_refusals, 0);
	ratelimit_free(rl);
}

TEST(ratelimit_full_table_refuses_new_keys_when_failing_closed)
{
	ratelimit *rl = mk(10 * S, 1, 16, true);
	if (rl == NULL)
		return;
	ratelimit_stats s;
	ratelimit_stats_get(rl, &s);
	size_t cap = s.capacity;
	char k[32];
	int64_t t0 = 10 * S;
	size_t admitted = 0, full = 0;
	ratelimit_state st;
	for (unsigned i = 0; i < 100; i++) {
		size_t n = key_of(k, sizeof(k), i);
		ratelimit_verdict v = ratelimit_take(rl, k, n, t0 + i, &st);
		if (v == RATELIMIT_ALLOWED)
			admitted++;
		else if (v == RATELIMIT_FULL) {
			full++;
			CHECK(st.retry_after_us > 0 && st.retry_after_us <= 10 * S);
		}
	}
	CHECK_EQ_INT(admitted, cap);
	CHECK_EQ_INT(full, 100 - cap);
	ratelimit_stats_get(rl, &s);
	CHECK_EQ_INT(s.entries, cap);
	CHECK_EQ_INT(s.evictions, 0);
	CHECK_EQ_INT(s.full_refusals, 100 - cap);
	/* an admitted key still counts its failure: nothing was forgotten */
	size_t n = key_of(k, sizeof(k), 0);
	CHECK_EQ_INT(ratelimit_take(rl, k, n, t0 + 200, NULL), RATELIMIT_LIMITED);
	/* once buckets go idle, new keys get in again */
	n = key_of(k, sizeof(k), 99);
	CHECK_EQ_INT(ratelimit_take(rl, k, n, t0 + 11 * S, NULL), RATELIMIT_ALLOWED);
	ratelimit_free(rl);
}

TEST(ratelimit_memory_is_bounded_with_100000_keys)
{
	ratelimit *rl = mk(S, 10, 10000, false);
	if (rl == NULL)
		return;
	ratelimit_stats before, after;
	ratelimit_stats_get(rl, &before);
	char k[32];
	int64_t t = 10 * S;
	for (unsigned i = 0; i < 100000; i++) {
		size_t n = key_of(k, sizeof(k), i);
		CHECK_EQ_INT(ratelimit_take(rl, k, n, t, NULL), RATELIMIT_ALLOWED);
		t += 5; /* 100,000 keys within half a second: none goes idle */
	}
	ratelimit_stats_get(rl, &after);
	CHECK_EQ_INT(after.bytes, before.bytes);
	CHECK(after.entries <= after.capacity);
	CHECK(after.entries >= after.capacity * 9 / 10);
	CHECK(after.evictions + after.entries == 100000);
	/* 16 bytes an entry at a load of at most 3/4, plus the shard headers */
	CHECK(after.bytes <= after.capacity * 16 * 8 / 3 + 64 * 128 + 1024);
	printf("    ratelimit: capacity %zu keys, %zu bytes (%.1f B/key), %zu entries and %llu evictions after "
	       "100000 keys\n",
	    after.capacity, after.bytes, (double)after.bytes / (double)after.capacity, after.entries,
	    (unsigned long long)after.evictions);
	ratelimit_free(rl);

	/* the gateway's default size */
	rl = mk(S, 10, 65536, true);
	if (rl == NULL)
		return;
	ratelimit_stats_get(rl, &after);
	CHECK_EQ_INT(after.capacity, 65536);
	CHECK_EQ_INT(after.bytes / 65536, 32);
	printf("    ratelimit: default table 65536 keys = %zu bytes\n", after.bytes);
	ratelimit_free(rl);
}

typedef struct race {
	ratelimit *rl;
	_Atomic int allowed;
} race;

static void *race_main(void *arg)
{
	race *r = arg;
	for (int i = 0; i < 5000; i++)
		if (ratelimit_take(r->rl, "shared", 6, 77 * S, NULL) == RATELIMIT_ALLOWED)
			atomic_fetch_add(&r->allowed, 1);
	return NULL;
}

TEST(ratelimit_concurrent_takes_are_exact)
{
	race r = { .rl = mk(S, 1000, 100, false) };
	if (r.rl == NULL)
		return;
	atomic_init(&r.allowed, 0);
	pthread_t th[8];
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, race_main, &r);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	/* the clock stands still: exactly the burst, whatever the interleaving */
	CHECK_EQ_INT(atomic_load(&r.allowed), 1000);
	ratelimit_free(r.rl);
}
