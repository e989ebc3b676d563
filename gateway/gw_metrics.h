/*
 * gw_metrics: the gateway's HTTP metrics and its GET /metrics.
 *
 *   comanda_http_requests_total{route,method,status}     counter
 *   comanda_http_request_duration_seconds{route,method}  histogram
 *   comanda_http_requests_in_flight                      gauge
 *
 * (GET /metrics renders every series of the process, so it also shows
 * those other modules keep: comanda_http_rate_limited_total{policy} and
 * comanda_ratelimit_*{table} (gw_ratelimit, lib/ratelimit),
 * comanda_http_connections_open{server} (lib/httpd) and
 * comanda_rpc_client_*{method,code} (lib/rpc); docs/OPERATIONS.md lists
 * them all.)
 *
 * route is the matched pattern ("/api/users/{id}") or "unmatched" (404s and
 * requests httpd refused before routing, such as 413), never the raw path;
 * method is one of the standard methods or "OTHER". Both bound the number of
 * series whatever clients send.
 *
 * Threading: any thread.
 */
#ifndef COMANDA_GW_METRICS_H
#define COMANDA_GW_METRICS_H

#include <stdint.h>

#include "gw_app.h"
#include "gw_routes.h"
#include "httpd.h"

/* The httpd_observer_fn of the gateway (arg unused). */
void gw_metrics_observe(void *arg, const httpd_request *req, const httpd_response *resp, int64_t latency_us);

/* Adds delta to the in-flight gauge. */
void gw_metrics_in_flight(int delta);

/* GET /metrics: every series of the process in the Prometheus text format. */
void gw_metrics_get(gw_app *app, const gw_request *req, httpd_response *resp);

#endif
