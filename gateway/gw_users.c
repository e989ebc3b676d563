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
#include <string.h>

#include "comanda/user.rpc.h"
#include "gw_call.h"
#include "gw_errors.h"
#include "gw_fields.h"
#include "gw_http.h"
#include "gw_list.h"
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
