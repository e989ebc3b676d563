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

/* The two series of one (route, method, status), kept per thread
 * (metrics_pair_slot): route patterns come from the static route tables and
 * methods from gw_metrics_method, so their pointers are the keys. */
#define GW_METRICS_CACHE 64  /* per thread */
static _Thread_local metrics_pair gw_metrics_cache[GW_METRICS_CACHE];

static metrics_pair *gw_metrics_series_of(const char *route, const char *method, int status)
{
	metrics_pair *e;
	if (metrics_pair_slot(gw_metrics_cache, GW_METRICS_CACHE, route, method, status, &e))
		return e;
	char escaped[256], labels[384];
	gw_metrics_escape(escaped, sizeof(escaped), route);
	snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",status=\"%d\"", escaped, method, status);
	e->count = metrics_counter("comanda_http_requests_total", "HTTP requests by route, method and status", labels);
	snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\"", escaped, method);
	e->latency = metrics_histogram("comanda_http_request_duration_seconds",
	    "HTTP request latency by route and method", labels);
	return e;
}

void gw_metrics_observe(void *arg, const httpd_request *req, const httpd_response *resp, int64_t latency_us)
{
	(void)arg;
	metrics_pair *e = gw_metrics_series_of(resp->route != NULL ? resp->route : "unmatched",
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
