/*
 * gw_users: the /api/users handlers. See gw_users.h.
 *
 * Every handler has the same shape: judge the input (answer 400 and stop),
 * gw_call_begin, one RPC, answer from the reply or from its status,
 * rpc_call_release. The JSON body is put only after the RPC, because the
 * request message borrows its strings.
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

void gw_users_create(gw_app *app, const gw_request *req, httpd_response *resp)
{
	json_object *body = NULL;
	if (!json_parse_request(req->http, resp, &body))
		return;
	Comanda__CreateUserRequest rq;
	gw_problem p;
	rpc_call call;
	if (!gw_user_create_request(body, &rq, &p)) {
		gw_errors_respond_invalid(resp, req->http, p.field, p.issue);
	} else if (gw_call_begin(&call, req, resp, true)) {
		Comanda__UserReply *rep = NULL;
		if (user_service_create_user(app->user, &call, &rq, &rep) != COMANDA__CODE__OK) {
			gw_errors_respond(resp, req->http, &call.status);
		} else {
			gw_users_respond_user(resp, req, 201, "User created successfully", rep);
			if (resp->status == 201) {
				char location[64];
				snprintf(location, sizeof(location), "/api/users/%" PRId64, rep->user->id);
				httpd_add_header(resp, "Location", location);
				/* a replay answers what the first request got, and says so */
				if (rep->replayed)
					httpd_add_header(resp, "Idempotent-Replayed", "true");
			}
		}
		rpc_call_release(&call);
	}
	json_object_put(body);
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
	rpc_call call;
	if (!gw_call_begin(&call, req, resp, false))
		return;
	Comanda__ListUsersReply *rep = NULL;
	if (user_service_list_users(app->user, &call, &rq, &rep) != COMANDA__CODE__OK)
		gw_errors_respond(resp, req->http, &call.status);
	else
		json_respond(resp, req->http, 200, gw_user_list_json(rep));
	rpc_call_release(&call);
}

/* GET of user id (0: the caller). */
static void gw_users_get_id(gw_app *app, const gw_request *req, httpd_response *resp, int64_t id)
{
	Comanda__GetUserRequest rq = COMANDA__GET_USER_REQUEST__INIT;
	rq.id = id;
	rpc_call call;
	if (!gw_call_begin(&call, req, resp, false))
		return;
	Comanda__UserReply *rep = NULL;
	if (user_service_get_user(app->user, &call, &rq, &rep) != COMANDA__CODE__OK)
		gw_errors_respond(resp, req->http, &call.status);
	else
		gw_users_respond_user(resp, req, 200, NULL, rep);
	rpc_call_release(&call);
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

/* PATCH of user id (0: the caller). */
static void gw_users_update_id(gw_app *app, const gw_request *req, httpd_response *resp, int64_t id)
{
	json_object *body = NULL;
	if (!json_parse_request(req->http, resp, &body))
		return;
	Comanda__UpdateUserRequest rq;
	char *mask[GW_USER_MASK_MAX];
	gw_problem p;
	rpc_call call;
	if (!gw_user_update_request(body, id, &rq, mask, &p)) {
		gw_errors_respond_invalid(resp, req->http, p.field, p.issue);
	} else if (gw_call_begin(&call, req, resp, false)) {
		Comanda__UserReply *rep = NULL;
		if (user_service_update_user(app->user, &call, &rq, &rep) != COMANDA__CODE__OK)
			gw_errors_respond(resp, req->http, &call.status);
		else
			gw_users_respond_user(resp, req, 200, "User updated successfully", rep);
		rpc_call_release(&call);
	}
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

void gw_users_delete(gw_app *app, const gw_request *req, httpd_response *resp)
{
	int64_t id;
	if (!gw_users_path_id(req, resp, &id))
		return;
	Comanda__DeleteUserRequest rq = COMANDA__DELETE_USER_REQUEST__INIT;
	rq.id = id;
	rpc_call call;
	if (!gw_call_begin(&call, req, resp, false))
		return;
	Comanda__UserReply *rep = NULL;
	if (user_service_delete_user(app->user, &call, &rq, &rep) != COMANDA__CODE__OK)
		gw_errors_respond(resp, req->http, &call.status);
	else
		gw_users_respond_user(resp, req, 200, "User deleted successfully", rep);
	rpc_call_release(&call);
}
