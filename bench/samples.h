/*
 * samples: what the benchmark clients written in C (rpc_bench, nng_floor)
 * share: every call's latency kept in a growing array per thread, exact
 * nearest-rank percentiles over all of them, and strict number parsing for
 * their options.
 *
 * Threading: a samples belongs to one thread while it records; merge them
 * after those threads are joined.
 */
#ifndef BENCH_SAMPLES_H
#define BENCH_SAMPLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct samples {
	uint32_t *us; /* one latency per call, in microseconds */
	size_t n, cap;
	bool oom;     /* a sample was dropped for want of memory */
} samples;

/* Appends one latency (clamped to UINT32_MAX µs). On out of memory the
 * sample is dropped and s->oom set, which samples_merge reports. */
void samples_add(samples *s, uint64_t us);

/* Frees s's array; s is empty afterwards. */
void samples_free(samples *s);

/* Moves the samples of parts[0..n) into *all, sorted, and frees theirs;
 * all->n is the count and all_sum_us their sum. Returns false (leaving
 * *all empty) when a part had dropped samples or memory runs out. */
bool samples_merge(samples *parts, size_t n, samples *all, double *all_sum_us);

/* The nearest-rank percentile p (0-100] of sorted samples, in ms; 0 when
 * there are none. */
double samples_pct_ms(const samples *sorted, double p);

/* Parses a whole decimal integer within [min, max]. */
bool samples_parse_long(const char *s, long long min, long long max, long long *out);

#endif
