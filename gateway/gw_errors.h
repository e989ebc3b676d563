/*
 * gw_errors: the one mapping from canonical codes (comanda.Code, carried in
 * every RPC reply) to HTTP statuses and the API's error JSON (../API.md):
 *
 *   OK 200 · INVALID_ARGUMENT, OUT_OF_RANGE 400 · UNAUTHENTICATED 401
 *   (+ WWW-Authenticate: Bearer) · PERMISSION_DENIED 403 · NOT_FOUND 404 ·
 *   ALREADY_EXISTS, ABORTED, FAILED_PRECONDITION 409 · RESOURCE_EXHAUSTED 429 ·
 *   INTERNAL, UNKNOWN, DATA_LOSS 500 · UNIMPLEMENTED 501 · UNAVAILABLE 503 ·
 *   DEADLINE_EXCEEDED 504.
 *
 * Codes the API does not list (CANCELLED, numbers outside comanda.Code) are
 * answered 500 UNKNOWN.
 *
 * What reaches a client: for 4xx and 501 the RPC's message and field details
 * (services promise they are client-safe); for every other 5xx a fixed
 * generic message and no details, whatever the service said, so driver
 * errors, SQL or paths cannot leak through a careless handler.
 *
 * Errors the HTTP layer makes itself (no RPC behind them) use these codes:
 * 404 NOT_FOUND (no route), 405 METHOD_NOT_ALLOWED (+ Allow),
 * 413 RESOURCE_EXHAUSTED (lib/httpd), 415 UNSUPPORTED_MEDIA_TYPE,
 * 400 INVALID_ARGUMENT (bad JSON, lib/json), 500 INTERNAL.
 *
 * Threading: pure functions over a constant table; any thread.
 */
#ifndef COMANDA_GW_ERRORS_H
#define COMANDA_GW_ERRORS_H

#include "httpd.h"
#include "rpc.h"

/* The HTTP status for a canonical code (500 for unknown codes). */
int gw_errors_http_status(int code);

/* The canonical name sent in "code" ("NOT_FOUND"; "UNKNOWN" when unknown). */
const char *gw_errors_code_name(int code);

/* Answers resp with the error envelope for st:
 * {"success":false,"error","code","request_id","details":[{field,issue}]}
 * with the status of st->code, WWW-Authenticate: Bearer on 401, and the
 * message policy above. st->code OK is a caller bug and answers 500. */
void gw_errors_respond(httpd_response *resp, const httpd_request *req, const rpc_status *st);

/* The same for an error the gateway decides itself (code, message, no details). */
void gw_errors_respond_code(httpd_response *resp, const httpd_request *req, int code, const char *message);

#endif
