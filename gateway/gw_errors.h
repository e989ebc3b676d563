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
 * A reply's machine-readable reason (rpc_status.reason) can refine the HTTP
 * status where API.md asks for one the code alone cannot give; the "code"
 * stays the canonical name and the reason is added to the body as "reason":
 *
 *   FAILED_PRECONDITION + IDEMPOTENCY_KEY_REUSED -> 422 (same key, other body)
 *   ABORTED + IDEMPOTENCY_KEY_IN_USE             -> 409 (as the code says)
 *
 * What reaches a client: for 4xx and 501 the RPC's message, reason and
 * field details (services promise they are client-safe); for every other
 * 5xx a fixed generic message and nothing else, whatever the service said,
 * so driver errors, SQL or paths cannot leak through a careless handler.
 *
 * Errors the HTTP layer makes itself (no RPC behind them) use these codes:
 * 404 NOT_FOUND (no route), 405 METHOD_NOT_ALLOWED (+ Allow),
 * 413 PAYLOAD_TOO_LARGE (lib/httpd), 415 UNSUPPORTED_MEDIA_TYPE,
 * 400 INVALID_ARGUMENT (bad JSON, lib/json; bad fields, gw_errors_respond_invalid),
 * 401 UNAUTHENTICATED (gw_auth), 500 INTERNAL.
 *
 * Threading: pure functions over constant tables; any thread.
 */
#ifndef COMANDA_GW_ERRORS_H
#define COMANDA_GW_ERRORS_H

#include "httpd.h"
#include "rpc.h"

/* The HTTP status for a canonical code (500 for unknown codes). */
int gw_errors_http_status(int code);

/* The HTTP status for a code refined by a reply's reason (NULL or "": none);
 * a reason the table does not know changes nothing. */
int gw_errors_http_status_reason(int code, const char *reason);

/* The canonical name sent in "code" ("NOT_FOUND"; "UNKNOWN" when unknown). */
const char *gw_errors_code_name(int code);

/* Answers resp with the error envelope for st:
 * {"success":false,"error","code","request_id","reason"?,"details":[{field,issue}]?}
 * with the status of st->code (and st->reason), WWW-Authenticate: Bearer on
 * 401, and the message policy above. st->code OK is a caller bug and answers
 * 500. */
void gw_errors_respond(httpd_response *resp, const httpd_request *req, const rpc_status *st);

/* The same for an error the gateway decides itself (code, message, no details). */
void gw_errors_respond_code(httpd_response *resp, const httpd_request *req, int code, const char *message);

/* 400 INVALID_ARGUMENT for one bad field: the message is "<field> <issue>"
 * ("name must be a string") and details holds {field, issue}, the shape the
 * services use for their own validation errors. */
void gw_errors_respond_invalid(httpd_response *resp, const httpd_request *req, const char *field, const char *issue);

/* 401 UNAUTHENTICATED with message and the given WWW-Authenticate challenge
 * (`Bearer error="invalid_token"`, RFC 6750 §3) instead of the plain `Bearer`. */
void gw_errors_respond_unauthenticated(httpd_response *resp, const httpd_request *req, const char *message,
    const char *challenge);

#endif
