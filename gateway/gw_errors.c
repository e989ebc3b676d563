/*
 * gw_errors: canonical code -> HTTP status and error JSON. See gw_errors.h.
 */
#include "gw_errors.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

typedef struct gw_errors_entry {
	int code;
	const char *name;
	int http;
	/* non-NULL: the client always sees this instead of the RPC's message */
	const char *generic;
} gw_errors_entry;

/* The table of ../API.md, in comanda.Code order (checked by the unit test). */
static const gw_errors_entry gw_errors_table[] = {
	{ COMANDA__CODE__OK, "OK", 200, NULL },
	{ COMANDA__CODE__CANCELLED, "UNKNOWN", 500, "Internal error" },
	{ COMANDA__CODE__UNKNOWN, "UNKNOWN", 500, "Internal error" },
	{ COMANDA__CODE__INVALID_ARGUMENT, "INVALID_ARGUMENT", 400, NULL },
	{ COMANDA__CODE__DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", 504, "The service did not answer in time" },
	{ COMANDA__CODE__NOT_FOUND, "NOT_FOUND", 404, NULL },
	{ COMANDA__CODE__ALREADY_EXISTS, "ALREADY_EXISTS", 409, NULL },
	{ COMANDA__CODE__PERMISSION_DENIED, "PERMISSION_DENIED", 403, NULL },
	{ COMANDA__CODE__RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", 429, NULL },
	{ COMANDA__CODE__FAILED_PRECONDITION, "FAILED_PRECONDITION", 409, NULL },
	{ COMANDA__CODE__ABORTED, "ABORTED", 409, NULL },
	{ COMANDA__CODE__OUT_OF_RANGE, "OUT_OF_RANGE", 400, NULL },
	{ COMANDA__CODE__UNIMPLEMENTED, "UNIMPLEMENTED", 501, NULL },
	{ COMANDA__CODE__INTERNAL, "INTERNAL", 500, "Internal error" },
	{ COMANDA__CODE__UNAVAILABLE, "UNAVAILABLE", 503, "Service temporarily unavailable" },
	{ COMANDA__CODE__DATA_LOSS, "DATA_LOSS", 500, "Internal error" },
	{ COMANDA__CODE__UNAUTHENTICATED, "UNAUTHENTICATED", 401, NULL },
};
#define GW_ERRORS_N (sizeof(gw_errors_table) / sizeof(gw_errors_table[0]))

/* Reasons that change the HTTP status of their code (gw_errors.h). */
static const struct {
	int code;
	const char *reason;
	int http;
} gw_errors_reasons[] = {
	{ COMANDA__CODE__FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED", 422 },
};

static const gw_errors_entry *gw_errors_find(int code)
{
	/* UNKNOWN's row answers for every code outside the table */
	if (code < 0 || (size_t)code >= GW_ERRORS_N)
		return &gw_errors_table[COMANDA__CODE__UNKNOWN];
	return &gw_errors_table[code];
}

int gw_errors_http_status(int code)
{
	return gw_errors_find(code)->http;
}

int gw_errors_http_status_reason(int code, const char *reason)
{
	if (reason != NULL && reason[0] != '\0')
		for (size_t i = 0; i < sizeof(gw_errors_reasons) / sizeof(gw_errors_reasons[0]); i++)
			if (gw_errors_reasons[i].code == code && strcmp(gw_errors_reasons[i].reason, reason) == 0)
				return gw_errors_reasons[i].http;
	return gw_errors_http_status(code);
}

const char *gw_errors_code_name(int code)
{
	return gw_errors_find(code)->name;
}

/* What one error response says; everything but code may be NULL. */
typedef struct gw_errors_what {
	int code;
	const char *message;
	const char *reason;
	const rpc_status *details;
	const char *challenge;          /* WWW-Authenticate of a 401; NULL: "Bearer" */
} gw_errors_what;

static void gw_errors_build(httpd_response *resp, const httpd_request *req, const gw_errors_what *w)
{
	int code = w->code;
	if (code == COMANDA__CODE__OK)
		code = COMANDA__CODE__INTERNAL; /* an "error" that is OK is a bug */
	const gw_errors_entry *e = gw_errors_find(code);
	/* a generic row says nothing of what the service said: no reason either */
	bool client_safe = e->generic == NULL;
	const char *msg = client_safe ? w->message : e->generic;
	if (msg == NULL || msg[0] == '\0')
		msg = e->name;
	const char *reason = client_safe && w->reason != NULL && w->reason[0] != '\0' ? w->reason : NULL;
	int http = reason != NULL ? gw_errors_http_status_reason(code, reason) : e->http;
	json_object *o = json_error_new(msg, e->name, req->request_id);
	if (o != NULL && reason != NULL) {
		json_object *r = json_object_new_string(reason);
		if (r == NULL || json_object_object_add(o, "reason", r) != 0) {
			json_object_put(r);
			json_object_put(o);
			o = NULL;
		}
	}
	if (o != NULL && client_safe && w->details != NULL) {
		for (size_t i = 0; i < w->details->n_details && i < RPC_MAX_DETAILS; i++) {
			if (json_error_add_detail(o, w->details->details[i].field, w->details->details[i].issue) != 0) {
				json_object_put(o);
				o = NULL;
				break;
			}
		}
	}
	json_respond(resp, req, http, o);
	if (resp->status == 401)
		httpd_add_header(resp, "WWW-Authenticate", w->challenge != NULL ? w->challenge : "Bearer");
}

void gw_errors_respond(httpd_response *resp, const httpd_request *req, const rpc_status *st)
{
	gw_errors_what w = { .code = st->code, .message = st->message, .reason = st->reason, .details = st };
	gw_errors_build(resp, req, &w);
}

void gw_errors_respond_code(httpd_response *resp, const httpd_request *req, int code, const char *message)
{
	gw_errors_what w = { .code = code, .message = message };
	gw_errors_build(resp, req, &w);
}

void gw_errors_respond_invalid(httpd_response *resp, const httpd_request *req, const char *field, const char *issue)
{
	rpc_status st;
	memset(&st, 0, sizeof(st));
	st.code = COMANDA__CODE__INVALID_ARGUMENT;
	snprintf(st.message, sizeof(st.message), "%s %s", field, issue);
	snprintf(st.details[0].field, sizeof(st.details[0].field), "%s", field);
	snprintf(st.details[0].issue, sizeof(st.details[0].issue), "%s", issue);
	st.n_details = 1;
	gw_errors_respond(resp, req, &st);
}

void gw_errors_respond_unauthenticated(httpd_response *resp, const httpd_request *req, const char *message,
    const char *challenge)
{
	gw_errors_what w = { .code = COMANDA__CODE__UNAUTHENTICATED, .message = message, .challenge = challenge };
	gw_errors_build(resp, req, &w);
}
