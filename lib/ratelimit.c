/*
 * ratelimit: GCRA token buckets in a fixed, sharded, open-addressing table.
 * See ratelimit.h for the contract.
 *
 * Layout: the top bits of a key's hash pick the shard, the low bits its home
 * slot; collisions probe linearly. Deletion shifts the rest of the probe run
 * back (no tombstones), so a shard never degrades however many keys pass
 * through it. A slot whose hash is 0 is empty (a real hash of 0 is stored as
 * 1: it only merges that key's bucket with another's one-in-2^64 twin).
 */
#include "ratelimit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "metrics.h"

#define RATELIMIT_MAX_SHARDS 64
/* Below this many keys per shard, fewer shards: a tiny table (tests, small
 * configurations) should still hold its capacity in practice. */
#define RATELIMIT_MIN_PER_SHARD 16
/* Slots looked at (and dropped when idle) by every take. */
#define RATELIMIT_HAND_STEP 2

typedef struct ratelimit_entry {
	uint64_t hash;          /* 0: empty */
	int64_t tat_us;         /* when the bucket is full again */
} ratelimit_entry;

typedef struct ratelimit_shard {
	pthread_mutex_t mu;
	ratelimit_entry *slots;
	size_t mask;            /* slots - 1 (a power of two) */
	size_t count;
	size_t max;             /* count never exceeds it: load <= 3/4 */
	size_t hand;            /* next slot the incremental expiry looks at */
} ratelimit_shard;

struct ratelimit {
	int64_t interval_us;
	int64_t burst;
	int64_t tau_us;         /* burst * interval: how far ahead tat may run */
	bool fail_closed;
	unsigned shard_shift;   /* hash >> shard_shift is the shard index */
	size_t nshards;
	ratelimit_shard *shards;
	size_t bytes;
	unsigned char hash_key[crypto_shorthash_KEYBYTES];
	_Atomic uint64_t evictions;
	_Atomic uint64_t full_refusals;
	metric *m_entries;      /* NULL without a name */
	metric *m_evictions;
	metric *m_full;
};

/* ------------------------------------------------------------------------ */
/* hashing and probing                                                      */
/* ------------------------------------------------------------------------ */

static uint64_t ratelimit_hash(const ratelimit *rl, const void *key, size_t len)
{
	unsigned char out[crypto_shorthash_BYTES];
	crypto_shorthash(out, key, (unsigned long long)len, rl->hash_key);
	uint64_t h = 0;
	for (size_t i = 0; i < sizeof(out); i++)
		h = (h << 8) | out[i];
	return h != 0 ? h : 1;
}

static ratelimit_shard *ratelimit_shard_of(const ratelimit *rl, uint64_t h)
{
	/* nshards == 1 gives shift 64, which C leaves undefined */
	return rl->nshards == 1 ? &rl->shards[0] : &rl->shards[h >> rl->shard_shift];
}

/* The slot holding h, or the empty slot where it would go. */
static size_t ratelimit_probe(const ratelimit_shard *s, uint64_t h)
{
	size_t i = (size_t)h & s->mask;
	while (s->slots[i].hash != 0 && s->slots[i].hash != h)
		i = (i + 1) & s->mask;
	return i;
}

/* Empties slot i and shifts the rest of its probe run back so that every
 * entry stays reachable from its home slot. */
static void ratelimit_delete_at(ratelimit *rl, ratelimit_shard *s, size_t i)
{
	size_t j = i;
	for (;;) {
		s->slots[i].hash = 0;
		size_t home;
		do {
			j = (j + 1) & s->mask;
			if (s->slots[j].hash == 0)
				goto done;
			home = (size_t)s->slots[j].hash & s->mask;
			/* the entry at j may stay when its home lies cyclically in (i, j] */
		} while (i <= j ? (i < home && home <= j) : (i < home || home <= j));
		s->slots[i] = s->slots[j];
		i = j;
	}
done:
	s->count--;
	metrics_gauge_add(rl->m_entries, -1);
}

/* ------------------------------------------------------------------------ */
/* expiry and eviction (shard lock held)                                    */
/* ------------------------------------------------------------------------ */

/* Drops every idle bucket of s; returns how many. Sets *min_tat and *min_at
 * to the active bucket nearest to full (INT64_MAX / SIZE_MAX when none). */
static size_t ratelimit_sweep_shard(ratelimit *rl, ratelimit_shard *s, int64_t now_us, int64_t *min_tat,
    size_t *min_at)
{
	size_t dropped = 0;
	*min_tat = INT64_MAX;
	*min_at = SIZE_MAX;
	/* A delete may pull a later entry into slot i: look at i again. An
	 * entry moved back across the end was already looked at; looking twice
	 * is harmless. The minimum is taken after the scan, since deletes move
	 * entries. */
	for (size_t i = 0; i <= s->mask;) {
		if (s->slots[i].hash != 0 && s->slots[i].tat_us <= now_us) {
			ratelimit_delete_at(rl, s, i);
			dropped++;
		} else {
			i++;
		}
	}
	for (size_t i = 0; i <= s->mask; i++) {
		if (s->slots[i].hash != 0 && s->slots[i].tat_us < *min_tat) {
			*min_tat = s->slots[i].tat_us;
			*min_at = i;
		}
	}
	return dropped;
}

/* Looks at the next RATELIMIT_HAND_STEP slots and drops idle buckets. */
static void ratelimit_hand(ratelimit *rl, ratelimit_shard *s, int64_t now_us)
{
	for (int k = 0; k < RATELIMIT_HAND_STEP; k++) {
		size_t i = s->hand & s->mask;
		if (s->slots[i].hash != 0 && s->slots[i].tat_us <= now_us)
			ratelimit_delete_at(rl, s, i); /* slot i may now hold another: next time */
		else
			s->hand = i + 1;
	}
}

/* Makes room for one more key in a full shard. Returns false (fail-closed
 * table with only active buckets) with *wait_us until one turns idle. */
static bool ratelimit_make_room(ratelimit *rl, ratelimit_shard *s, int64_t now_us, int64_t *wait_us)
{
	int64_t min_tat;
	size_t min_at;
	if (ratelimit_sweep_shard(rl, s, now_us, &min_tat, &min_at) > 0)
		return true;
	if (rl->fail_closed) {
		*wait_us = min_tat - now_us;
		atomic_fetch_add(&rl->full_refusals, 1);
		metrics_add(rl->m_full, 1);
		return false;
	}
	/* the bucket nearest to full loses the least if forgotten */
	ratelimit_delete_at(rl, s, min_at);
	atomic_fetch_add(&rl->evictions, 1);
	metrics_add(rl->m_evictions, 1);
	return true;
}

/* ------------------------------------------------------------------------ */
/* the buckets                                                              */
/* ------------------------------------------------------------------------ */

/* The state of a bucket whose tat is tat_us (>= now). */
static void ratelimit_describe(const ratelimit *rl, int64_t tat_us, int64_t now_us, ratelimit_state *st)
{
	int64_t ahead = tat_us - now_us; /* 0 .. tau */
	st->limit = rl->burst;
	st->remaining = (rl->tau_us - ahead) / rl->interval_us;
	st->reset_us = ahead;
	st->retry_after_us = st->remaining > 0 ? 0 : ahead + rl->interval_us - rl->tau_us;
}

ratelimit_verdict ratelimit_take(ratelimit *rl, const void *key, size_t len, int64_t now_us, ratelimit_state *st)
{
	ratelimit_state local;
	if (st == NULL)
		st = &local;
	uint64_t h = ratelimit_hash(rl, key, len);
	ratelimit_shard *s = ratelimit_shard_of(rl, h);
	ratelimit_verdict v = RATELIMIT_ALLOWED;
	pthread_mutex_lock(&s->mu);
	ratelimit_hand(rl, s, now_us);
	size_t i = ratelimit_probe(s, h);
	int64_t tat = now_us;
	if (s->slots[i].hash == h && s->slots[i].tat_us > now_us)
		tat = s->slots[i].tat_us;
	int64_t new_tat = tat + rl->interval_us;
	if (new_tat - rl->tau_us > now_us) {
		/* empty bucket; an empty bucket is always an existing entry */
		ratelimit_describe(rl, tat, now_us, st);
		v = RATELIMIT_LIMITED;
	} else if (s->slots[i].hash == h) {
		s->slots[i].tat_us = new_tat;
		ratelimit_describe(rl, new_tat, now_us, st);
	} else {
		int64_t wait_us = 0;
		if (s->count >= s->max && !ratelimit_make_room(rl, s, now_us, &wait_us)) {
			st->limit = rl->burst;
			st->remaining = 0;
			st->reset_us = wait_us;
			st->retry_after_us = wait_us > 0 ? wait_us : 1;
			v = RATELIMIT_FULL;
		} else {
			i = ratelimit_probe(s, h); /* making room moved entries */
			s->slots[i].hash = h;
			s->slots[i].tat_us = new_tat;
			s->count++;
			metrics_gauge_add(rl->m_entries, 1);
			ratelimit_describe(rl, new_tat, now_us, st);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return v;
}

void ratelimit_peek(ratelimit *rl, const void *key, size_t len, int64_t now_us, ratelimit_state *st)
{
	uint64_t h = ratelimit_hash(rl, key, len);
	ratelimit_shard *s = ratelimit_shard_of(rl, h);
	pthread_mutex_lock(&s->mu);
	size_t i = ratelimit_probe(s, h);
	int64_t tat = now_us;
	if (s->slots[i].hash == h && s->slots[i].tat_us > now_us)
		tat = s->slots[i].tat_us;
	pthread_mutex_unlock(&s->mu);
	ratelimit_describe(rl, tat, now_us, st);
}

void ratelimit_refund(ratelimit *rl, const void *key, size_t len, int64_t now_us)
{
	uint64_t h = ratelimit_hash(rl, key, len);
	ratelimit_shard *s = ratelimit_shard_of(rl, h);
	pthread_mutex_lock(&s->mu);
	size_t i = ratelimit_probe(s, h);
	if (s->slots[i].hash == h) {
		s->slots[i].tat_us -= rl->interval_us;
		if (s->slots[i].tat_us <= now_us)
			ratelimit_delete_at(rl, s, i);
	}
	pthread_mutex_unlock(&s->mu);
}

void ratelimit_forget(ratelimit *rl, const void *key, size_t len)
{
	uint64_t h = ratelimit_hash(rl, key, len);
	ratelimit_shard *s = ratelimit_shard_of(rl, h);
	pthread_mutex_lock(&s->mu);
	size_t i = ratelimit_probe(s, h);
	if (s->slots[i].hash == h)
		ratelimit_delete_at(rl, s, i);
	pthread_mutex_unlock(&s->mu);
}

size_t ratelimit_sweep(ratelimit *rl, int64_t now_us)
{
	size_t n = 0;
	for (size_t k = 0; k < rl->nshards; k++) {
		ratelimit_shard *s = &rl->shards[k];
		int64_t min_tat;
		size_t min_at;
		pthread_mutex_lock(&s->mu);
		n += ratelimit_sweep_shard(rl, s, now_us, &min_tat, &min_at);
		pthread_mutex_unlock(&s->mu);
	}
	return n;
}

void ratelimit_stats_get(ratelimit *rl, ratelimit_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (size_t k = 0; k < rl->nshards; k++) {
		ratelimit_shard *s = &rl->shards[k];
		pthread_mutex_lock(&s->mu);
		st->entries += s->count;
		st->capacity += s->max;
		pthread_mutex_unlock(&s->mu);
	}
	st->bytes = rl->bytes;
	st->evictions = atomic_load(&rl->evictions);
	st->full_refusals = atomic_load(&rl->full_refusals);
}

/* ------------------------------------------------------------------------ */
/* life cycle                                                               */
/* ------------------------------------------------------------------------ */

static void ratelimit_metrics(ratelimit *rl, const char *name)
{
	char labels[96];
	snprintf(labels, sizeof(labels), "table=\"%s\"", name);
	rl->m_entries = metrics_gauge("comanda_ratelimit_entries", "Keys tracked by a rate-limit table", labels);
	rl->m_evictions = metrics_counter("comanda_ratelimit_evictions_total",
	    "Active buckets evicted from a full rate-limit table (their keys start over)", labels);
	rl->m_full = metrics_counter("comanda_ratelimit_full_refusals_total",
	    "New keys refused because a fail-closed rate-limit table was full", labels);
	size_t cap = 0;
	for (size_t k = 0; k < rl->nshards; k++)
		cap += rl->shards[k].max;
	metrics_gauge_set(metrics_gauge("comanda_ratelimit_capacity", "Keys a rate-limit table can track", labels),
	    (int64_t)cap);
	metrics_gauge_set(metrics_gauge("comanda_ratelimit_memory_bytes",
	                      "Memory allocated by a rate-limit table (fixed at start)", labels),
	    (int64_t)rl->bytes);
	/* a table made again under the same name (tests) starts from zero */
	metrics_gauge_set(rl->m_entries, 0);
}

int ratelimit_new(ratelimit **out, const ratelimit_config *cfg)
{
	*out = NULL;
	if (cfg->interval_us < 1 || cfg->interval_us > RATELIMIT_MAX_INTERVAL_US || cfg->burst < 1 ||
	    cfg->burst > RATELIMIT_MAX_BURST || cfg->capacity < 1 || cfg->capacity > RATELIMIT_MAX_CAPACITY) {
		log_printf(LOG_ERROR, "ratelimit %s: interval, burst or capacity out of range",
		    cfg->name != NULL ? cfg->name : "");
		return -1;
	}
	/* crypto_shorthash and randombytes need it; safe to call again */
	if (sodium_init() < 0) {
		log_printf(LOG_ERROR, "ratelimit: libsodium cannot initialise");
		return -1;
	}
	ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return -1;
	rl->interval_us = cfg->interval_us;
	rl->burst = cfg->burst;
	rl->tau_us = cfg->burst * cfg->interval_us;
	rl->fail_closed = cfg->fail_closed;
	randombytes_buf(rl->hash_key, sizeof(rl->hash_key));
	atomic_init(&rl->evictions, 0);
	atomic_init(&rl->full_refusals, 0);

	size_t nshards = RATELIMIT_MAX_SHARDS;
	unsigned bits = 6;
	while (nshards > 1 && cfg->capacity / nshards < RATELIMIT_MIN_PER_SHARD) {
		nshards /= 2;
		bits--;
	}
	size_t per = (cfg->capacity + nshards - 1) / nshards;
	size_t slots = 16;
	while (slots * 3 / 4 < per)
		slots *= 2;
	rl->nshards = nshards;
	rl->shard_shift = 64 - bits;
	rl->shards = calloc(nshards, sizeof(*rl->shards));
	rl->bytes = sizeof(*rl) + nshards * sizeof(*rl->shards) + nshards * slots * sizeof(ratelimit_entry);
	if (rl->shards == NULL) {
		free(rl);
		return -1;
	}
	for (size_t k = 0; k < nshards; k++) {
		ratelimit_shard *s = &rl->shards[k];
		s->slots = calloc(slots, sizeof(ratelimit_entry));
		if (s->slots == NULL) {
			rl->nshards = k;
			ratelimit_free(rl);
			return -1;
		}
		pthread_mutex_init(&s->mu, NULL);
		s->mask = slots - 1;
		s->max = per;
	}
	if (cfg->name != NULL)
		ratelimit_metrics(rl, cfg->name);
	*out = rl;
	return 0;
}

void ratelimit_free(ratelimit *rl)
{
	if (rl == NULL)
		return;
	for (size_t k = 0; k < rl->nshards; k++) {
		pthread_mutex_destroy(&rl->shards[k].mu);
		free(rl->shards[k].slots);
	}
	free(rl->shards);
	free(rl);
}
