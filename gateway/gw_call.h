/*
 * gw_call: an RPC made on behalf of an HTTP request carries who asked and
 * why: the verified caller (id, role), the request id, and on the routes
 * that take one, the Idempotency-Key header. Every handler that calls a
 * service starts its rpc_call here, so none can forget the caller (the
 * services authorize again from it).
 *
 * gw_call_async makes the call without holding the HTTP thread: the
 * connection is suspended (httpd_defer) and the reply answered on one of
 * NNG's task threads, which then resumes it.
 *
 * Threading: gw_call_begin on any thread; gw_call_async on the handler's
 * HTTP thread, inside the handler.
 */
#ifndef COMANDA_GW_CALL_H
#define COMANDA_GW_CALL_H

#include <stdbool.h>

#include <json-c/json.h>

#include "gw_routes.h"
#include "httpd.h"
#include "rpc.h"

#define GW_IDEMPOTENCY_KEY_MAX 255

/* True when key is an acceptable Idempotency-Key: 1..255 characters of
 * printable ASCII (0x20-0x7E). NULL is false. Pure. */
bool gw_call_idempotency_key_valid(const char *key);

/* Initialises call for an RPC on behalf of req: caller_id, caller_role,
 * request_id (borrowed from req), the client's default timeout and, when
 * idempotent, the Idempotency-Key header (borrowed; none when absent),
 * with the client's address key as an anonymous caller's identity.
 * Returns OK; the caller then owns call and must rpc_call_release it.
 * Otherwise resp is answered and nothing is left to release: a malformed
 * Idempotency-Key is INVALID_ARGUMENT (400, field "Idempotency-Key"), no
 * memory for the address INTERNAL (500). */
int gw_call_begin(rpc_call *call, const gw_request *req, httpd_response *resp, bool idempotent);

/* Answers resp from an OK reply (its status, body, headers). Runs on one of
 * NNG's threads: it must not block. */
typedef void (*gw_answer_fn)(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply);

/* One RPC for req without holding the HTTP thread: gw_call_begin, then the
 * request is sent (request and its borrowed strings are not used after this
 * returns) and the connection is suspended (httpd_defer). When the reply
 * comes, answer fills the response (a failed call answers with
 * gw_errors_respond instead), CORS headers are added and the connection is
 * resumed. The handler returns right after this and must not touch resp. */
void gw_call_async(gw_app *app, const gw_request *req, httpd_response *resp, bool idempotent, rpc_client *client,
    const rpc_method *method, const ProtobufCMessage *request, gw_answer_fn answer);

/* After the answer (OK or not), on the same thread: code is the call's
 * canonical code, reason its reply's machine-readable reason ("" for none,
 * and always for OK), note the copy of gw_call_async_then's note ("" for
 * none). */
typedef void (*gw_then_fn)(gw_app *app, const gw_request *req, httpd_response *resp, int code, const char *reason,
    const char *note);

/* gw_call_async, then `then` (when not NULL) exactly once: after the
 * answer, or at once with INVALID_ARGUMENT / INTERNAL when the call could
 * not begin (a malformed Idempotency-Key, no memory). note (may be NULL) is
 * copied. For work that must know the outcome (the failed-login limits). */
void gw_call_async_then(gw_app *app, const gw_request *req, httpd_response *resp, bool idempotent,
    rpc_client *client, const rpc_method *method, const ProtobufCMessage *request, gw_answer_fn answer,
    gw_then_fn then, const char *note);

/* gw_call_async_then for a request already suspended by gw_call_defer, for
 * a handler whose call can only be made once an earlier one has answered
 * (gw_users' password change: the account's e-mail first): from any thread
 * (the earlier call's done), resp being gw_call_defer's. Every path ends in
 * gw_call_resume, after answer or the failure's answer and then. */
void gw_call_async_deferred(gw_app *app, const gw_request *req, httpd_response *resp, bool idempotent,
    rpc_client *client, const rpc_method *method, const ProtobufCMessage *request, gw_answer_fn answer,
    gw_then_fn then, const char *note);

/* The deferral under gw_call_async, for a handler that computes its answer
 * elsewhere (gw_health's three probes): gw_call_defer suspends req (on the
 * handler's thread, see httpd_defer), counts it in flight and returns the
 * response to fill; gw_call_resume, once, from any thread, adds the CORS
 * headers, ends the in-flight count and sends it. */
httpd_response *gw_call_defer(const gw_request *req, httpd_response *resp);
void gw_call_resume(gw_app *app, const httpd_request *http, httpd_response *resp);

/* Answers a creation: 201 with o (taken; NULL answers 500). When the 201
 * went out, adds Location: location and, when replayed (the reply to an
 * earlier request with the same Idempotency-Key), Idempotent-Replayed: true. */
void gw_call_respond_created(httpd_response *resp, const gw_request *req, json_object *o, const char *location,
    bool replayed);

#endif
