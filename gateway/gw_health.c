/*
 * gw_health: /health, /status, /ready. See gw_health.h.
 */
#include "gw_health.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "comanda/health.rpc.h"
#include "json.h"

#define GW_HEALTH_SERVICE_NAME "api-gateway"
/* Checks started at once by one gw_health_probe call (more go in batches). */
#define GW_HEALTH_BATCH 8

typedef struct gw_health_job {
	rpc_client *client;
	int timeout_ms;
	const char *request_id;
	gw_health_result *out;
} gw_health_job;

const char *gw_health_state_name(gw_health_state s)
{
	switch (s) {
	case GW_HEALTH_ONLINE: return "online";
	case GW_HEALTH_DEGRADED: return "degraded";
	case GW_HEALTH_OFFLINE: return "offline";
	}
	return "offline";
}

static void gw_health_check_one(gw_health_job *j)
{
	gw_health_result *r = j->out;
	r->state = GW_HEALTH_OFFLINE;
	r->code = COMANDA__CODE__UNAVAILABLE;
	r->n_down = 0;
	if (j->client == NULL)
		return;
	rpc_call call;
	rpc_call_init(&call);
	call.timeout_ms = j->timeout_ms;
	call.request_id = j->request_id;
	call.caller_role = COMANDA__ROLE__ROLE_SERVICE;
	Comanda__HealthCheckRequest rq = COMANDA__HEALTH_CHECK_REQUEST__INIT;
	Comanda__HealthCheckResponse *rep = NULL;
	r->code = health_check(j->client, &call, &rq, &rep);
	if (r->code == COMANDA__CODE__OK && rep != NULL) {
		/* UNKNOWN answers too: alive, but not claiming to serve */
		r->state = rep->status == COMANDA__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING ? GW_HEALTH_ONLINE
		                                                                                  : GW_HEALTH_DEGRADED;
		for (size_t i = 0; i < rep->n_down && r->n_down < GW_HEALTH_MAX_DOWN; i++)
			snprintf(r->down[r->n_down++], sizeof(r->down[0]), "%s", rep->down[i] != NULL ? rep->down[i] : "");
	} else if (r->code == COMANDA__CODE__OK) {
		r->code = COMANDA__CODE__INTERNAL; /* OK without a reply: treat as a failure */
	}
	rpc_call_release(&call);
}

static void *gw_health_thread(void *arg)
{
	gw_health_check_one(arg);
	return NULL;
}

void gw_health_probe(rpc_client *const clients[], const char *const names[], size_t n, int timeout_ms,
    const char *request_id, gw_health_result out[])
{
	for (size_t base = 0; base < n; base += GW_HEALTH_BATCH) {
		size_t m = n - base < GW_HEALTH_BATCH ? n - base : GW_HEALTH_BATCH;
		gw_health_job jobs[GW_HEALTH_BATCH];
		pthread_t th[GW_HEALTH_BATCH];
		bool started[GW_HEALTH_BATCH];
		for (size_t i = 0; i < m; i++) {
			out[base + i].name = names[base + i];
			jobs[i] = (gw_health_job){ clients[base + i], timeout_ms, request_id, &out[base + i] };
			started[i] = pthread_create(&th[i], NULL, gw_health_thread, &jobs[i]) == 0;
			if (!started[i])
				gw_health_check_one(&jobs[i]); /* no thread to spare: check here, slower but right */
		}
		for (size_t i = 0; i < m; i++)
			if (started[i])
				pthread_join(th[i], NULL);
	}
}

/* The three services of the app, in the order API.md lists them. */
static void gw_health_probe_app(gw_app *app, const gw_request *req, gw_health_result out[GW_HEALTH_SERVICES])
{
	rpc_client *const clients[GW_HEALTH_SERVICES] = { app->user, app->order, app->payment };
	static const char *const names[GW_HEALTH_SERVICES] = { "user-service", "order-service", "payment-service" };
	gw_health_probe(clients, names, GW_HEALTH_SERVICES, app->health_timeout_ms, req->http->request_id, out);
}

/* json_object_object_add that remembers a failed allocation in *ok. */
static void gw_health_put(json_object *o, const char *key, json_object *v, bool *ok)
{
	if (o == NULL || v == NULL || json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		*ok = false;
	}
}

static json_object *gw_health_head(const char *status, bool *ok)
{
	json_object *o = json_object_new_object();
	if (o == NULL) {
		*ok = false;
		return NULL;
	}
	gw_health_put(o, "status", json_object_new_string(status), ok);
	gw_health_put(o, "service", json_object_new_string(GW_HEALTH_SERVICE_NAME), ok);
	gw_health_put(o, "timestamp", json_timestamp_new(clock_wall_ms()), ok);
	return o;
}

static json_object *gw_health_services(const gw_health_result r[GW_HEALTH_SERVICES], bool *ok)
{
	json_object *s = json_object_new_object();
	for (size_t i = 0; i < GW_HEALTH_SERVICES; i++)
		gw_health_put(s, r[i].name, json_object_new_string(gw_health_state_name(r[i].state)), ok);
	if (s == NULL)
		*ok = false;
	return s;
}

/* {"user-service":{"down":["database"]},"order-service":{"error":"UNAVAILABLE"}} */
static json_object *gw_health_details(const gw_health_result r[GW_HEALTH_SERVICES], bool *ok)
{
	json_object *d = json_object_new_object();
	if (d == NULL) {
		*ok = false;
		return NULL;
	}
	for (size_t i = 0; i < GW_HEALTH_SERVICES; i++) {
		if (r[i].state == GW_HEALTH_ONLINE)
			continue;
		json_object *e = json_object_new_object();
		if (r[i].state == GW_HEALTH_DEGRADED) {
			json_object *down = json_object_new_array();
			for (size_t k = 0; k < r[i].n_down && down != NULL; k++) {
				json_object *name = json_object_new_string(r[i].down[k]);
				if (name == NULL || json_object_array_add(down, name) != 0) {
					json_object_put(name);
					*ok = false;
				}
			}
			gw_health_put(e, "down", down, ok);
		} else {
			gw_health_put(e, "error", json_object_new_string(rpc_code_name(r[i].code)), ok);
		}
		gw_health_put(d, r[i].name, e, ok);
	}
	return d;
}

void gw_health_get(gw_app *app, const gw_request *req, httpd_response *resp)
{
	(void)app;
	bool ok = true;
	json_object *o = gw_health_head("healthy", &ok);
	if (!ok) {
		json_object_put(o);
		o = NULL;
	}
	json_respond(resp, req->http, 200, o);
}

void gw_health_status_get(gw_app *app, const gw_request *req, httpd_response *resp)
{
	gw_health_result r[GW_HEALTH_SERVICES];
	gw_health_probe_app(app, req, r);
	bool all_online = true;
	for (size_t i = 0; i < GW_HEALTH_SERVICES; i++)
		all_online = all_online && r[i].state == GW_HEALTH_ONLINE;

	bool ok = true;
	/* seed order: service first, then status */
	json_object *o = json_object_new_object();
	gw_health_put(o, "service", json_object_new_string(GW_HEALTH_SERVICE_NAME), &ok);
	gw_health_put(o, "status", json_object_new_string(all_online ? "operational" : "degraded"), &ok);
	gw_health_put(o, "timestamp", json_timestamp_new(clock_wall_ms()), &ok);
	gw_health_put(o, "version", json_object_new_string(app->version != NULL ? app->version : COMANDA_VERSION), &ok);
	gw_health_put(o, "services", gw_health_services(r, &ok), &ok);
	gw_health_put(o, "details", gw_health_details(r, &ok), &ok);
	if (!ok || o == NULL) {
		json_object_put(o);
		o = NULL;
	}
	json_respond(resp, req->http, 200, o);
}

void gw_health_ready_get(gw_app *app, const gw_request *req, httpd_response *resp)
{
	gw_health_result r[GW_HEALTH_SERVICES];
	gw_health_probe_app(app, req, r);
	bool ok = true;
	json_object *not_ready = json_object_new_array();
	if (not_ready == NULL)
		ok = false;
	for (size_t i = 0; i < GW_HEALTH_SERVICES && not_ready != NULL; i++) {
		if (r[i].state == GW_HEALTH_ONLINE)
			continue;
		json_object *name = json_object_new_string(r[i].name);
		if (name == NULL || json_object_array_add(not_ready, name) != 0) {
			json_object_put(name);
			ok = false;
		}
	}
	bool ready = ok && json_object_array_length(not_ready) == 0;
	json_object *o = gw_health_head(ready ? "ready" : "not_ready", &ok);
	if (ready)
		json_object_put(not_ready);
	else
		gw_health_put(o, "not_ready", not_ready, &ok);
	gw_health_put(o, "services", gw_health_services(r, &ok), &ok);
	if (!ok) {
		json_object_put(o);
		o = NULL;
	}
	json_respond(resp, req->http, ready ? 200 : 503, o);
}
