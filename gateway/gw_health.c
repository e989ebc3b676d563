/*
 * gw_health: /health, /status, /ready. See gw_health.h.
 */
#include "gw_health.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "comanda/health.rpc.h"
#include "gw_call.h"
#include "json.h"

#define GW_HEALTH_SERVICE_NAME "api-gateway"

/* One probe: n checks in flight, the last to end calls done. */
typedef struct gw_health_probe_state gw_health_probe_state;

typedef struct gw_health_check {
	gw_health_probe_state *probe;
	gw_health_result *out;
	rpc_call call;
	ProtobufCMessage *reply;
} gw_health_check;

struct gw_health_probe_state {
	atomic_size_t left;            /* checks not ended, plus one held while starting */
	gw_health_done_fn done;
	void *arg;
	gw_health_result *out;
	gw_health_check checks[];
};

const char *gw_health_state_name(gw_health_state s)
{
	switch (s) {
	case GW_HEALTH_ONLINE: return "online";
	case GW_HEALTH_DEGRADED: return "degraded";
	case GW_HEALTH_OFFLINE: return "offline";
	}
	return "offline";
}

/* One check fewer to wait for; the last one calls done and frees the probe. */
static void gw_health_probe_settle(gw_health_probe_state *st)
{
	if (atomic_fetch_sub(&st->left, 1) != 1)
		return;
	st->done(st->arg, st->out);
	free(st);
}

/* A Health.Check ended (an NNG thread): record what it found. */
static void gw_health_check_done(void *arg, rpc_call *call, ProtobufCMessage *reply)
{
	gw_health_check *c = arg;
	gw_health_result *r = c->out;
	r->code = call->status.code;
	const Comanda__HealthCheckResponse *rep = (const Comanda__HealthCheckResponse *)reply;
	if (r->code == COMANDA__CODE__OK && rep != NULL) {
		/* UNKNOWN answers too: alive, but not claiming to serve */
		r->state = rep->status == COMANDA__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING ? GW_HEALTH_ONLINE
		                                                                                  : GW_HEALTH_DEGRADED;
		for (size_t i = 0; i < rep->n_down && r->n_down < GW_HEALTH_MAX_DOWN; i++)
			snprintf(r->down[r->n_down++], sizeof(r->down[0]), "%s", rep->down[i] != NULL ? rep->down[i] : "");
	} else if (r->code == COMANDA__CODE__OK) {
		r->code = COMANDA__CODE__INTERNAL; /* OK without a reply: treat as a failure */
	}
	rpc_call_release(call);
	gw_health_probe_settle(c->probe);
}

void gw_health_probe_async(rpc_client *const clients[], const char *const names[], size_t n, int timeout_ms,
    const char *request_id, gw_health_result out[], gw_health_done_fn done, void *arg)
{
	for (size_t i = 0; i < n; i++) {
		out[i].name = names[i];
		out[i].state = GW_HEALTH_OFFLINE;
		out[i].code = COMANDA__CODE__UNAVAILABLE;
		out[i].n_down = 0;
	}
	gw_health_probe_state *st = malloc(sizeof(*st) + n * sizeof(st->checks[0]));
	if (st == NULL) {
		for (size_t i = 0; i < n; i++)
			out[i].code = COMANDA__CODE__INTERNAL;
		done(arg, out);
		return;
	}
	/* one more than the checks: held until all are started, so an early
	 * end cannot finish the probe while others are still being sent */
	atomic_init(&st->left, n + 1);
	st->done = done;
	st->arg = arg;
	st->out = out;
	for (size_t i = 0; i < n; i++) {
		gw_health_check *c = &st->checks[i];
		c->probe = st;
		c->out = &out[i];
		c->reply = NULL;
		if (clients[i] == NULL) {
			gw_health_probe_settle(st);
			continue;
		}
		rpc_call_init(&c->call);
		c->call.timeout_ms = timeout_ms;
		c->call.request_id = request_id;
		c->call.caller_role = COMANDA__ROLE__ROLE_SERVICE;
		Comanda__HealthCheckRequest rq = COMANDA__HEALTH_CHECK_REQUEST__INIT;
		int code = rpc_client_call_async(clients[i], &c->call, &health_check_method, &rq.base, &c->reply,
		    gw_health_check_done, c);
		if (code != COMANDA__CODE__OK) {
			out[i].code = code;
			rpc_call_release(&c->call);
			gw_health_probe_settle(st);
		}
	}
	gw_health_probe_settle(st);
}

/* A /status or /ready waiting for its probe. */
typedef struct gw_health_pending {
	gw_app *app;
	const httpd_request *http;
	httpd_response *resp;
	bool ready;                      /* /ready, else /status */
	gw_health_result r[GW_HEALTH_SERVICES];
} gw_health_pending;

static void gw_health_answer(void *arg, gw_health_result r[]);

/* Probes the three services of the app (in the order API.md lists them)
 * and answers req when they are in; resp must not be touched afterwards. */
static void gw_health_probe_app(gw_app *app, const gw_request *req, httpd_response *resp, bool ready)
{
	gw_health_pending *p = malloc(sizeof(*p));
	if (p == NULL) {
		httpd_respond_error(resp, req->http, 500, "INTERNAL", "Internal error");
		return;
	}
	p->app = app;
	p->http = req->http;
	p->ready = ready;
	p->resp = gw_call_defer(req, resp);
	rpc_client *const clients[GW_HEALTH_SERVICES] = { app->user, app->order, app->payment };
	static const char *const names[GW_HEALTH_SERVICES] = { "user-service", "order-service", "payment-service" };
	gw_health_probe_async(clients, names, GW_HEALTH_SERVICES, app->health_timeout_ms, req->http->request_id, p->r,
	    gw_health_answer, p);
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

static void gw_health_status_answer(gw_app *app, const httpd_request *http, httpd_response *resp,
    const gw_health_result r[GW_HEALTH_SERVICES])
{
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
	json_respond(resp, http, 200, o);
}

static void gw_health_ready_answer(const httpd_request *http, httpd_response *resp,
    const gw_health_result r[GW_HEALTH_SERVICES])
{
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
	json_respond(resp, http, ready ? 200 : 503, o);
}

/* The probe is in (an NNG thread): answer, then wake the connection. */
static void gw_health_answer(void *arg, gw_health_result r[])
{
	gw_health_pending *p = arg;
	if (p->ready)
		gw_health_ready_answer(p->http, p->resp, r);
	else
		gw_health_status_answer(p->app, p->http, p->resp, r);
	gw_app *app = p->app;
	const httpd_request *http = p->http;
	httpd_response *resp = p->resp;
	free(p);
	gw_call_resume(app, http, resp);
}

void gw_health_status_get(gw_app *app, const gw_request *req, httpd_response *resp)
{
	gw_health_probe_app(app, req, resp, false);
}

void gw_health_ready_get(gw_app *app, const gw_request *req, httpd_response *resp)
{
	gw_health_probe_app(app, req, resp, true);
}
