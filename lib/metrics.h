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

/* Renders every series; returns a malloc'd NUL-terminated string (caller
 * frees) and its length in *len. NULL when out of memory. */
char *metrics_render(size_t *len);

#endif
