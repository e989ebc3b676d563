/*
 * ratelimit: token buckets by key, in a fixed-capacity sharded hash table.
 *
 * A bucket holds at most `burst` tokens and gains one every `interval_us`;
 * a request takes one. It is kept as one number, its theoretical arrival
 * time (GCRA, the "virtual scheduling" form of a token bucket): tat is when
 * the bucket would be full again, so a bucket whose tat has passed is full
 * (idle) and carries no information. That makes expiry free of policy: an
 * idle bucket can be dropped at any moment without changing any answer.
 *
 * Memory is fixed at ratelimit_new: `capacity` keys, spread over up to 64
 * shards (one mutex each), open addressing at a load factor of at most 3/4.
 * An entry is 16 bytes (a 64-bit keyed hash of the key and the tat), so a
 * table costs about 21-43 bytes per key of capacity (ratelimit_stats.bytes
 * says exactly) and never grows, whatever the number of distinct keys.
 * Keys are hashed with SipHash-2-4 under a random per-table key, so a client
 * cannot aim keys at one shard or slot; two keys whose 64-bit hashes collide
 * (about 1 in 10^9 per pair of 10^5 keys) share a bucket.
 *
 * When a shard is full and a new key arrives, its idle buckets are dropped
 * first. If none is idle:
 *   - fail_closed = false (per-caller request limits): the bucket nearest to
 *     full is evicted, i.e. its key starts over with a full bucket. That key
 *     is let through early: counted in stats.evictions (and the metric).
 *   - fail_closed = true (failed-login limits): the new key is refused
 *     (RATELIMIT_FULL, with the time until some bucket turns idle), so that
 *     filling the table can never erase anyone's failures; counted in
 *     stats.full_refusals.
 *
 * Besides, every take looks at two slots of its shard and drops them when
 * idle, so buckets of keys that never come back are reclaimed over time.
 *
 * Times are the caller's (microseconds, monotonic), so tests drive the clock.
 *
 * Threading: every function may be called from any thread at once on the
 * same table, except ratelimit_free (no call may be in progress).
 */
#ifndef COMANDA_RATELIMIT_H
#define COMANDA_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit;

/* Limits that keep every tat computation far from int64 overflow. */
#define RATELIMIT_MAX_INTERVAL_US (86400LL * 1000000LL) /* one token a day */
#define RATELIMIT_MAX_BURST 1000000LL
#define RATELIMIT_MAX_CAPACITY ((size_t)1 << 26)

typedef struct ratelimit_config {
	const char *name;       /* metric label table="name"; NULL: no metrics (tests) */
	int64_t interval_us;    /* one token per interval, 1..RATELIMIT_MAX_INTERVAL_US */
	int64_t burst;          /* bucket size, 1..RATELIMIT_MAX_BURST */
	size_t capacity;        /* keys tracked at once, 1..RATELIMIT_MAX_CAPACITY
	                         * (rounded up to a multiple of the shard count) */
	bool fail_closed;       /* see the header comment */
} ratelimit_config;

typedef enum ratelimit_verdict {
	RATELIMIT_ALLOWED = 0,  /* a token was taken */
	RATELIMIT_LIMITED,      /* the key's bucket is empty */
	RATELIMIT_FULL,         /* fail_closed table full of active buckets: new key refused */
} ratelimit_verdict;

typedef struct ratelimit_state {
	int64_t limit;          /* burst */
	int64_t remaining;      /* whole tokens left (after the take, if any) */
	int64_t reset_us;       /* until the bucket is full again (0: full) */
	int64_t retry_after_us; /* LIMITED/FULL: until a take can succeed; else 0 */
} ratelimit_state;

typedef struct ratelimit_stats {
	size_t entries;         /* keys tracked now (idle ones not yet dropped included) */
	size_t capacity;        /* the effective capacity (>= the configured one) */
	size_t bytes;           /* every byte the table allocated; constant */
	uint64_t evictions;     /* active buckets evicted to make room (fail-open tables) */
	uint64_t full_refusals; /* new keys refused because the table was full (fail-closed) */
} ratelimit_stats;

/* Makes a table; 0, or -1 when cfg is out of range (logged) or out of
 * memory. *out is NULL on failure. */
int ratelimit_new(ratelimit **out, const ratelimit_config *cfg);

/* Frees rl (NULL is fine). */
void ratelimit_free(ratelimit *rl);

/* Takes one token from key[0..len)'s bucket at now_us (a new key starts
 * full). *st (may be NULL) describes the bucket afterwards. */
ratelimit_verdict ratelimit_take(ratelimit *rl, const void *key, size_t len, int64_t now_us, ratelimit_state *st);

/* What ratelimit_take would find, without taking: remaining, reset_us and,
 * when remaining is 0, retry_after_us. *st is required. */
void ratelimit_peek(ratelimit *rl, const void *key, size_t len, int64_t now_us, ratelimit_state *st);

/* Gives one token back (a reservation that turned out not to count); a
 * bucket that becomes full is dropped. No effect on an unknown key. */
void ratelimit_refund(ratelimit *rl, const void *key, size_t len, int64_t now_us);

/* Drops key's bucket: it starts full next time. */
void ratelimit_forget(ratelimit *rl, const void *key, size_t len);

/* Drops every idle bucket; returns how many. O(capacity). */
size_t ratelimit_sweep(ratelimit *rl, int64_t now_us);

/* The table's accounting. *st is required. */
void ratelimit_stats_get(ratelimit *rl, ratelimit_stats *st);

#endif
