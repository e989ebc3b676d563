/*
 * gw_errors: canonical code -> HTTP status and error JSON. See gw_errors.h.
 */
#include "gw_errors.h"

#include <stddef.h>

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

const char *gw_errors_code_name(int code)
{
	return gw_errors_find(code)->name;
}

static void gw_errors_build(httpd_response *resp, const httpd_request *req, int code, const char *message,
    const rpc_status *details)
{
	const gw_errors_entry *e = gw_errors_find(code);
	if (code == COMANDA__CODE__OK)
		e = gw_errors_find(COMANDA__CODE__INTERNAL); /* an "error" that is OK is a bug */
	const char *msg = e->generic != NULL ? e->generic : message;
	if (msg == NULL || msg[0] == '\0')
		msg = e->name;
	json_object *o = json_error_new(msg, e->name, req->request_id);
	if (o != NULL && e->generic == NULL && details != NULL) {
		for (size_t i = 0; i < details->n_details && i < RPC_MAX_DETAILS; i++) {
			if (json_error_add_detail(o, details->details[i].field, details->details[i].issue) != 0) {
				json_object_put(o);
				o = NULL;
				break;
			}
		}
	}
	json_respond(resp, req, e->http, o);
	if (resp->status == 401)
		httpd_add_header(resp, "WWW-Authenticate", "Bearer");
}

void gw_errors_respond(httpd_response *resp, const httpd_request *req, const rpc_status *st)
{
	gw_errors_build(resp, req, st->code, st->message, st);
}

void gw_errors_respond_code(httpd_response *resp, const httpd_request *req, int code, const char *message)
{
	gw_errors_build(resp, req, code, message, NULL);
}
