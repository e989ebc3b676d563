/*
 * gw_users: the /api/users handlers. See gw_users.h.
 *
 * Every handler has the same shape: judge the input (answer 400 and stop),
 * then one RPC with gw_call_async, whose answer function (on an NNG thread)
 * renders the reply; a failed call is answered from its status there. The
 * request is packed before gw_call_async returns, so the JSON body it
 * borrows from is put right after.
 */
#include "gw_users.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "comanda/user.rpc.h"
#include "gw_call.h"
#include "gw_errors.h"
#include "gw_fields.h"
#include "gw_http.h"
#include "gw_list.h"
#include "gw_ratelimit.h"
#include "gw_user_codec.h"
#include "json.h"

/* The {id} of the path; answers 400 when it is not a canonical positive id. */
static bool gw_users_path_id(const gw_request *req, httpd_response *resp, int64_t *id)
{
	if (gw_fields_id(gw_param(req, "id"), id))
		return true;
	gw_errors_respond_invalid(resp, req->http, "id", "must be a positive integer");
	return false;
}

/* Answers a UserReply: status with {success, message?, user}. */
static void gw_users_respond_user(httpd_response *resp, const gw_request *req, int status, const char *message,
    const Comanda__UserReply *rep)
{
	json_respond(resp, req->http, status, gw_user_reply_json(message, rep != NULL ? rep->user : NULL));
}

static void gw_users_answer_created(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	const Comanda__UserReply *rep = (const Comanda__UserReply *)reply;
	char location[64];
	snprintf(location, sizeof(location), "/api/users/%" PRId64, rep->user != NULL ? rep->user->id : 0);
	gw_call_respond_created(resp, req, gw_user_reply_json("User created successfully", rep->user), location,
	    rep->replayed);
}

void gw_users_create(gw_app *app, const gw_request *req, httpd_response *resp)
{
	json_object *body = NULL;
	if (!json_parse_request(req->http, resp, &body))
		return;
	Comanda__CreateUserRequest rq;
	gw_problem p;
	if (!gw_user_create_request(body, &rq, &p))
		gw_errors_respond_invalid(resp, req->http, p.field, p.issue);
	else
		gw_call_async(app, req, resp, true, app->user, &user_service_create_user_method, &rq.base,
		    gw_users_answer_created);
	json_object_put(body);
}

static void gw_users_answer_list(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	json_respond(resp, req->http, 200, gw_user_list_json((const Comanda__ListUsersReply *)reply));
}

void gw_users_list(gw_app *app, const gw_request *req, httpd_response *resp)
{
	Comanda__ListUsersRequest rq = COMANDA__LIST_USERS_REQUEST__INIT;
	char *cursor = NULL;
	if (!gw_list_page(req, resp, &rq.limit, &cursor))
		return;
	if (cursor != NULL)
		rq.cursor = cursor;
	static const char *const orders[] = { "asc", "desc" };
	static const int descending[] = { 0, 1 };
	int desc = 0;
	if (!gw_list_filter_enum(req, resp, "order", orders, descending, 2, &desc))
		return;
	rq.newest_first = desc != 0;
	gw_call_async(app, req, resp, false, app->user, &user_service_list_users_method, &rq.base, gw_users_answer_list);
}

static void gw_users_answer_user(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	gw_users_respond_user(resp, req, 200, NULL, (const Comanda__UserReply *)reply);
}

/* GET of user id (0: the caller). */
static void gw_users_get_id(gw_app *app, const gw_request *req, httpd_response *resp, int64_t id)
{
	Comanda__GetUserRequest rq = COMANDA__GET_USER_REQUEST__INIT;
	rq.id = id;
	gw_call_async(app, req, resp, false, app->user, &user_service_get_user_method, &rq.base, gw_users_answer_user);
}

void gw_users_get_me(gw_app *app, const gw_request *req, httpd_response *resp)
{
	gw_users_get_id(app, req, resp, 0);
}

void gw_users_get(gw_app *app, const gw_request *req, httpd_response *resp)
{
	int64_t id;
	if (gw_users_path_id(req, resp, &id))
		gw_users_get_id(app, req, resp, id);
}

static void gw_users_answer_updated(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	gw_users_respond_user(resp, req, 200, "User updated successfully", (const Comanda__UserReply *)reply);
}

/* ---- a change of one's own password --------------------------------------
 *
 * Changing one's own password checks current_password (Argon2id, in
 * svc-user): a guess at the password for whoever holds the access token,
 * so it is charged to the failed-password limits like a login
 * (gw_ratelimit.h). Their per-account bucket is keyed by the account's
 * e-mail, the key a login of that account is charged under, so that
 * logins and password changes spend one budget; the token names only the
 * user id, so the e-mail is looked up first (GetUser, a read by primary
 * key, on this rare route only). Then the limits are asked, and only when
 * they allow it is UpdateUser called, which runs the check: a locked
 * account is refused 429 before any Argon2id run.
 *
 * The request outlives the handler here (it is sent from the GetUser's
 * done), so it is copied: gw_pwchange owns the copy, and wipes the two
 * passwords in it when freed. */
typedef struct gw_pwchange {
	gw_app *app;
	gw_request req;                   /* a copy: the dispatcher's is on its stack */
	httpd_response *resp;             /* gw_call_defer's */
	rpc_call call;                    /* the GetUser */
	ProtobufCMessage *reply;
	Comanda__UpdateUserRequest rq;    /* its strings point into text */
	char *mask[GW_USER_MASK_MAX];
	size_t text_len;
	char text[];
} gw_pwchange;

/* The reason svc-user gives a wrong current_password (and nothing else). */
#define GW_USERS_WRONG_CURRENT "CURRENT_PASSWORD_INCORRECT"

static void gw_pwchange_free(gw_pwchange *p)
{
	sodium_memzero(p->text, p->text_len);
	free(p);
}

/* Copies s to *at (advanced past its NUL) and returns the copy. */
static char *gw_pwchange_put(char **at, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = *at;
	memcpy(d, s, n);
	*at += n;
	return d;
}

/* A copy of rq (its strings included); NULL when out of memory. */
static gw_pwchange *gw_pwchange_new(const Comanda__UpdateUserRequest *rq)
{
	size_t len = strlen(rq->name) + strlen(rq->password) + strlen(rq->current_password) + 3;
	for (size_t i = 0; i < rq->n_update_mask; i++)
		len += strlen(rq->update_mask[i]) + 1;
	gw_pwchange *p = calloc(1, sizeof(*p) + len);
	if (p == NULL)
		return NULL;
	p->text_len = len;
	p->rq = *rq;
	char *at = p->text;
	p->rq.name = gw_pwchange_put(&at, rq->name);
	p->rq.password = gw_pwchange_put(&at, rq->password);
	p->rq.current_password = gw_pwchange_put(&at, rq->current_password);
	for (size_t i = 0; i < rq->n_update_mask && i < GW_USER_MASK_MAX; i++)
		p->mask[i] = gw_pwchange_put(&at, rq->update_mask[i]);
	p->rq.update_mask = p->mask;
	return p;
}

/* The UpdateUser's outcome, for the limits: the right password gives the
 * reservation back, a wrong one keeps it. So does a call the gateway
 * stopped waiting for (504): svc-user may have checked it all the same,
 * and a right guess would have changed the password (to one the guesser
 * chose, which a later login shows), so it is a guess made; a login's 504
 * shows nothing and is given back. Anything else (a 400 of another member,
 * 404, the service down) is no verdict: given back. note is the e-mail. */
static void gw_pwchange_then(gw_app *app, const gw_request *req, httpd_response *resp, int code, const char *reason,
    const char *note)
{
	gw_rl_verdict v = GW_RL_PASSWORD_UNCHECKED;
	if (code == COMANDA__CODE__OK)
		v = GW_RL_PASSWORD_RIGHT;
	else if ((code == COMANDA__CODE__INVALID_ARGUMENT && strcmp(reason, GW_USERS_WRONG_CURRENT) == 0) ||
	    code == COMANDA__CODE__DEADLINE_EXCEEDED)
		v = GW_RL_PASSWORD_WRONG;
	gw_ratelimit_password_end(app->limits, req, note, v, resp);
}

/* The GetUser's done, on an NNG thread: the account's e-mail is known. */
static void gw_pwchange_looked_up(void *arg, rpc_call *call, ProtobufCMessage *reply)
{
	gw_pwchange *p = arg;
	gw_app *app = p->app;
	httpd_response *resp = p->resp;
	const Comanda__UserReply *rep = (const Comanda__UserReply *)reply;
	const char *email = rep != NULL && rep->user != NULL ? rep->user->email : NULL;
	bool resume = true;
	/* answered as UpdateUser would (404, 503...): nothing was checked */
	if (call->status.code != COMANDA__CODE__OK)
		gw_errors_respond(resp, p->req.http, &call->status);
	else if (email == NULL || email[0] == '\0')
		gw_errors_respond_code(resp, p->req.http, COMANDA__CODE__INTERNAL, "Internal error");
	else if (gw_ratelimit_password_begin(app->limits, &p->req, email, resp)) {
		/* the request is packed and the note copied before this returns;
		 * the call may already have ended (and resumed the connection) by
		 * then: it resumes it on every path */
		gw_call_async_deferred(app, &p->req, resp, false, app->user, &user_service_update_user_method, &p->rq.base,
		    gw_users_answer_updated, gw_pwchange_then, email);
		resume = false;
	}
	/* else resp holds the limits' 429 */
	const httpd_request *http = p->req.http;
	rpc_call_release(call);
	gw_pwchange_free(p);
	if (resume)
		gw_call_resume(app, http, resp);
}

/* PATCH changing the caller's own password with rq->current_password set:
 * GetUser, the limits, then UpdateUser (see above). */
static void gw_pwchange_start(gw_app *app, const gw_request *req, httpd_response *resp,
    const Comanda__UpdateUserRequest *rq)
{
	gw_pwchange *p = gw_pwchange_new(rq);
	if (p == NULL) {
		httpd_respond_error(resp, req->http, 500, "INTERNAL", "Internal error");
		return;
	}
	if (gw_call_begin(&p->call, req, resp, false) != COMANDA__CODE__OK) {
		gw_pwchange_free(p);
		return;
	}
	p->app = app;
	p->req = *req;
	Comanda__GetUserRequest g = COMANDA__GET_USER_REQUEST__INIT;
	g.id = rq->id; /* 0 (me) or the caller's own id */
	/* before the call starts: its end may come before it returns */
	p->resp = gw_call_defer(req, resp);
	if (rpc_client_call_async(app->user, &p->call, &user_service_get_user_method, &g.base, &p->reply,
	        gw_pwchange_looked_up, p) != COMANDA__CODE__OK)
		gw_pwchange_looked_up(p, &p->call, NULL);
}

/* PATCH of user id (0: the caller). */
static void gw_users_update_id(gw_app *app, const gw_request *req, httpd_response *resp, int64_t id)
{
	json_object *body = NULL;
	if (!json_parse_request(req->http, resp, &body))
		return;
	Comanda__UpdateUserRequest rq;
	char *mask[GW_USER_MASK_MAX];
	gw_problem p;
	if (!gw_user_update_request(body, id, &rq, mask, &p))
		gw_errors_respond_invalid(resp, req->http, p.field, p.issue);
	else if (rq.current_password[0] != '\0' && (id == 0 || id == req->caller_id) &&
	    gw_ratelimit_passwords_limited(app->limits))
		/* a check of the caller's own password (svc-user reads
		 * current_password for nothing else: "" is refused as missing,
		 * another's id as not one's own, neither checked) */
		gw_pwchange_start(app, req, resp, &rq);
	else
		gw_call_async(app, req, resp, false, app->user, &user_service_update_user_method, &rq.base,
		    gw_users_answer_updated);
	json_object_put(body);
}

void gw_users_update_me(gw_app *app, const gw_request *req, httpd_response *resp)
{
	gw_users_update_id(app, req, resp, 0);
}

void gw_users_update(gw_app *app, const gw_request *req, httpd_response *resp)
{
	int64_t id;
	if (gw_users_path_id(req, resp, &id))
		gw_users_update_id(app, req, resp, id);
}

static void gw_users_answer_deleted(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	gw_users_respond_user(resp, req, 200, "User deleted successfully", (const Comanda__UserReply *)reply);
}

void gw_users_delete(gw_app *app, const gw_request *req, httpd_response *resp)
{
	int64_t id;
	if (!gw_users_path_id(req, resp, &id))
		return;
	if (!gw_http_no_body(req, resp))
		return;
	Comanda__DeleteUserRequest rq = COMANDA__DELETE_USER_REQUEST__INIT;
	rq.id = id;
	gw_call_async(app, req, resp, false, app->user, &user_service_delete_user_method, &rq.base,
	    gw_users_answer_deleted);
}
