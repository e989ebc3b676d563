/*
 * gw_call: the metadata of an RPC made for an HTTP request. See gw_call.h.
 */
#include "gw_call.h"

#include <stdlib.h>
#include <string.h>

#include "gw_cors.h"
#include "gw_errors.h"
#include "gw_metrics.h"
#include "json.h"
#include "netaddr.h"

bool gw_call_idempotency_key_valid(const char *key)
{
	if (key == NULL)
		return false;
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++, n++)
		if (*p < 0x20 || *p > 0x7e || n >= GW_IDEMPOTENCY_KEY_MAX)
			return false;
	return n > 0;
}

int gw_call_begin(rpc_call *call, const gw_request *req, httpd_response *resp, bool idempotent)
{
	const char *key = idempotent ? httpd_header(req->http, "Idempotency-Key") : NULL;
	if (key != NULL && httpd_header_repeated(req->http, "Idempotency-Key")) {
		gw_errors_respond_invalid(resp, req->http, "Idempotency-Key", "must be given once");
		return COMANDA__CODE__INVALID_ARGUMENT;
	}
	if (key != NULL && !gw_call_idempotency_key_valid(key)) {
		gw_errors_respond_invalid(resp, req->http, "Idempotency-Key", "must be 1-255 printable ASCII characters");
		return COMANDA__CODE__INVALID_ARGUMENT;
	}
	rpc_call_init(call);
	call->request_id = req->http->request_id;
	call->caller_id = req->caller_id;
	call->caller_role = req->caller_role;
	call->idempotency_key = key;
	if (key != NULL && req->caller_id <= 0) {
		/* an anonymous caller is its address, as for the rate limits */
		char client[NETADDR_TEXT_MAX];
		netaddr_key(req->http->client_addr, client, sizeof(client));
		call->client = arena_strdup(&call->mem, client);
		if (call->client == NULL) {  /* not after arena_init: its first chunk is inline */
			rpc_call_release(call);
			httpd_respond_error(resp, req->http, 500, "INTERNAL", "Internal error");
			return COMANDA__CODE__INTERNAL;
		}
	}
	return COMANDA__CODE__OK;
}

/* One RPC in flight for a suspended HTTP request. */
typedef struct gw_pending {
	gw_app *app;
	gw_request req;              /* a copy: the dispatcher's is on its stack */
	httpd_response *resp;        /* httpd_defer's */
	gw_answer_fn answer;
	gw_then_fn then;             /* may be NULL */
	rpc_call call;
	ProtobufCMessage *reply;
	char note[];                 /* the caller's note for then, NUL-terminated */
} gw_pending;

/* The end of the call, on an NNG thread (or the handler's, for a call that
 * failed before it was sent): answer, then wake the connection. */
static void gw_pending_done(void *arg, rpc_call *call, ProtobufCMessage *reply)
{
	gw_pending *p = arg;
	int code = call->status.code;
	if (code != COMANDA__CODE__OK)
		gw_errors_respond(p->resp, p->req.http, &call->status);
	else
		p->answer(&p->req, p->resp, reply);
	if (p->then != NULL)
		p->then(p->app, &p->req, p->resp, code, code != COMANDA__CODE__OK ? call->status.reason : "", p->note);
	rpc_call_release(call);
	gw_app *app = p->app;
	const httpd_request *http = p->req.http;
	httpd_response *resp = p->resp;
	free(p);
	gw_call_resume(app, http, resp);
}

httpd_response *gw_call_defer(const gw_request *req, httpd_response *resp)
{
	gw_metrics_in_flight(1);
	return httpd_defer(req->http, resp);
}

void gw_call_resume(gw_app *app, const httpd_request *http, httpd_response *resp)
{
	gw_cors_decorate(app->cors, http, resp);
	gw_metrics_in_flight(-1);
	httpd_resume(http);
}

/* gw_call_async_then and gw_call_async_deferred: deferred says whether
 * resp is httpd_defer's already (then it is resumed on every path). */
static void gw_call_start(gw_app *app, const gw_request *req, httpd_response *resp, bool deferred,
    bool idempotent, rpc_client *client, const rpc_method *method, const ProtobufCMessage *request,
    gw_answer_fn answer, gw_then_fn then, const char *note)
{
	size_t note_len = note != NULL ? strlen(note) : 0;
	gw_pending *p = malloc(sizeof(*p) + note_len + 1);
	int begun = COMANDA__CODE__INTERNAL;
	if (p == NULL)
		httpd_respond_error(resp, req->http, 500, "INTERNAL", "Internal error");
	else
		begun = gw_call_begin(&p->call, req, resp, idempotent);
	if (begun != COMANDA__CODE__OK) {
		free(p);
		if (then != NULL)
			then(app, req, resp, begun, "", note != NULL ? note : "");
		if (deferred)
			gw_call_resume(app, req->http, resp);
		return;
	}
	p->app = app;
	p->req = *req;
	p->answer = answer;
	p->then = then;
	p->reply = NULL;
	memcpy(p->note, note != NULL ? note : "", note_len + 1);
	/* before the call starts: its end may come before it returns */
	p->resp = deferred ? resp : gw_call_defer(req, resp);
	if (rpc_client_call_async(client, &p->call, method, request, &p->reply, gw_pending_done, p) !=
	    COMANDA__CODE__OK)
		gw_pending_done(p, &p->call, NULL);
}

void gw_call_async_then(gw_app *app, const gw_request *req, httpd_response *resp, bool idempotent,
    rpc_client *client, const rpc_method *method, const ProtobufCMessage *request, gw_answer_fn answer,
    gw_then_fn then, const char *note)
{
	gw_call_start(app, req, resp, false, idempotent, client, method, request, answer, then, note);
}

void gw_call_async_deferred(gw_app *app, const gw_request *req, httpd_response *resp, bool idempotent,
    rpc_client *client, const rpc_method *method, const ProtobufCMessage *request, gw_answer_fn answer,
    gw_then_fn then, const char *note)
{
	gw_call_start(app, req, resp, true, idempotent, client, method, request, answer, then, note);
}

void gw_call_async(gw_app *app, const gw_request *req, httpd_response *resp, bool idempotent, rpc_client *client,
    const rpc_method *method, const ProtobufCMessage *request, gw_answer_fn answer)
{
	gw_call_async_then(app, req, resp, idempotent, client, method, request, answer, NULL, NULL);
}

void gw_call_respond_created(httpd_response *resp, const gw_request *req, json_object *o, const char *location,
    bool replayed)
{
	json_respond(resp, req->http, 201, o);
	if (resp->status != 201)
		return;
	httpd_add_header(resp, "Location", location);
	/* a replay answers what the first request got, and says so */
	if (replayed)
		httpd_add_header(resp, "Idempotent-Replayed", "true");
}
