/*
 * gw_metrics: HTTP request metrics and the /metrics route. See gw_metrics.h.
 */
#include "gw_metrics.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

static pthread_once_t gw_metrics_once = PTHREAD_ONCE_INIT;
static metric *gw_metrics_inflight;

static void gw_metrics_init(void)
{
	gw_metrics_inflight = metrics_gauge("comanda_http_requests_in_flight", "HTTP requests being handled", NULL);
}

void gw_metrics_in_flight(int delta)
{
	pthread_once(&gw_metrics_once, gw_metrics_init);
	metrics_gauge_add(gw_metrics_inflight, delta);
}

static const char *gw_metrics_method(const char *m)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" };
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "OTHER";
}

/* Escapes a label value (format 0.0.4: backslash, quote, newline). */
static void gw_metrics_escape(char *dst, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s != '\0' && n + 3 < cap; s++) {
		if (*s == '\\' || *s == '"') {
			dst[n++] = '\\';
			dst[n++] = *s;
		} else if (*s == '\n') {
			dst[n++] = '\\';
			dst[n++] = 'n';
		} else {
			dst[n++] = *s;
		}
	}
	dst[n] = '\0';
}

/* The two series of one (route, method, status). Formatting their labels and
 * looking them up under the registry's lock was a few per cent of a request's
 * user-space time, so each thread keeps the ones it used, keyed by pointer:
 * route patterns come from the static route tables and methods from
 * gw_metrics_method, so equal pointers mean equal text. Series are never
 * freed, so a kept pointer stays valid. */
typedef struct gw_metrics_series {
	const char *route;      /* NULL: empty slot */
	const char *method;
	int status;
	metric *count;
	metric *latency;
} gw_metrics_series;

#define GW_METRICS_CACHE 64  /* per thread; direct-mapped, a collision just looks up again */
static _Thread_local gw_metrics_series gw_metrics_cache[GW_METRICS_CACHE];

static gw_metrics_series *gw_metrics_series_of(const char *route, const char *method, int status)
{
	size_t h = (size_t)(((uintptr_t)route >> 3) * 31u + ((uintptr_t)method >> 3) * 7u + (unsigned)status) %
	           GW_METRICS_CACHE;
	gw_metrics_series *e = &gw_metrics_cache[h];
	if (e->route == route && e->method == method && e->status == status)
		return e;
	char escaped[256], labels[384];
	gw_metrics_escape(escaped, sizeof(escaped), route);
	snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",status=\"%d\"", escaped, method, status);
	e->count = metrics_counter("comanda_http_requests_total", "HTTP requests by route, method and status", labels);
	snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\"", escaped, method);
	e->latency = metrics_histogram("comanda_http_request_duration_seconds",
	    "HTTP request latency by route and method", labels);
	e->route = route;
	e->method = method;
	e->status = status;
	return e;
}

void gw_metrics_observe(void *arg, const httpd_request *req, const httpd_response *resp, int64_t latency_us)
{
	(void)arg;
	gw_metrics_series *e = gw_metrics_series_of(resp->route != NULL ? resp->route : "unmatched",
	    gw_metrics_method(req->method), resp->status);
	metrics_add(e->count, 1);
	metrics_observe_us(e->latency, latency_us > 0 ? (uint64_t)latency_us : 0);
}

void gw_metrics_get(gw_app *app, const gw_request *req, httpd_response *resp)
{
	(void)app;
	size_t len = 0;
	char *text = metrics_render(&len);
	if (text == NULL) {
		httpd_respond_error(resp, req->http, 500, "INTERNAL", "Internal error");
		return;
	}
	httpd_respond_owned(resp, 200, text, len);
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
