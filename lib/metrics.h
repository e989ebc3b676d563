/*
 * metrics: counters, gauges and latency histograms rendered in the Prometheus
 * text format (`GET /metrics`).
 *
 * A series is a metric name plus a fixed label set, e.g.
 *   metrics_counter("comanda_rpc_server_requests_total", "RPCs served",
 *                   "method=\"GetUser\",code=\"OK\"")
 * The lookup takes a lock; keep the returned pointer when the labels are
 * fixed. Updates are lock-free atomics.
 *
 * Threading: everything is thread-safe. Series are never freed (their number
 * is bounded by routes x methods x codes).
 */
#ifndef COMANDA_METRICS_H
#define COMANDA_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct metric metric;

/* Get-or-create a series. help is the # HELP text of the metric name (the
 * first one given wins). labels may be NULL or "" for none. NULL only when
 * out of memory (updates on NULL are no-ops). */
metric *metrics_counter(const char *name, const char *help, const char *labels);
metric *metrics_gauge(const char *name, const char *help, const char *labels);
/* Latency histogram in seconds, buckets 0.5 ms .. 10 s. */
metric *metrics_histogram(const char *name, const char *help, const char *labels);

void metrics_add(metric *m, uint64_t n);           /* counter += n */
void metrics_gauge_set(metric *m, int64_t v);
void metrics_gauge_add(metric *m, int64_t delta);
void metrics_observe_us(metric *m, uint64_t us);   /* histogram */

/* A request's pair of series (a counter and a latency histogram) kept per
 * thread for hot paths: building their labels and looking them up under the
 * lock costs more than the rest of a request's bookkeeping. The key is two
 * pointers to text that is static, so equal pointers mean equal labels
 * (a route pattern, a method descriptor; NULL is a key like any other), and
 * an int. A cache is an array the caller keeps _Thread_local. */
typedef struct metrics_pair {
	const void *k1, *k2;
	int k3;
	int used;
	metric *count;
	metric *latency;
} metrics_pair;

/* The entry of cache[0..n) (direct-mapped) for (k1, k2, k3). A hit returns
 * true; a miss takes the entry for this key and returns false, and the
 * caller then sets count and latency (a collision just misses again). One
 * thread per cache. */
bool metrics_pair_slot(metrics_pair *cache, size_t n, const void *k1, const void *k2, int k3, metrics_pair **entry);

/* Renders every series; returns a malloc'd NUL-terminated string (caller
 * frees) and its length in *len. NULL when out of memory. */
char *metrics_render(size_t *len);

#endif
