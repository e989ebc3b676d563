/*
 * gw_user_codec: users and auth JSON <-> protobuf. See gw_user_codec.h.
 */
#include "gw_user_codec.h"

#include <stdint.h>
#include <string.h>

#include "gw_out.h"
#include "json.h"

static const char *const gw_user_role_names[] = { "customer", "admin" };
static const int gw_user_role_values[] = { COMANDA__ROLE__ROLE_CUSTOMER, COMANDA__ROLE__ROLE_ADMIN };
/* what PATCH may set; "deleted" is DELETE's */
static const char *const gw_user_status_names[] = { "active", "suspended" };
static const int gw_user_status_values[] = { COMANDA__USER_STATUS__USER_ACTIVE, COMANDA__USER_STATUS__USER_SUSPENDED };
#define GW_N(a) (sizeof(a) / sizeof((a)[0]))

const char *gw_user_status_name(int status)
{
	switch (status) {
	case COMANDA__USER_STATUS__USER_ACTIVE: return "active";
	case COMANDA__USER_STATUS__USER_SUSPENDED: return "suspended";
	case COMANDA__USER_STATUS__USER_DELETED: return "deleted";
	default: return "unknown";
	}
}

const char *gw_user_role_name(int role)
{
	switch (role) {
	case COMANDA__ROLE__ROLE_CUSTOMER: return "customer";
	case COMANDA__ROLE__ROLE_ADMIN: return "admin";
	case COMANDA__ROLE__ROLE_SERVICE: return "service";
	default: return "anonymous";
	}
}

/* protobuf-c declares strings char *; the request is only packed, never
 * written through, so borrowing the body's const storage is sound. */
static char *gw_borrow(const char *s)
{
	return (char *)(uintptr_t)s;
}

/* ---- requests ------------------------------------------------------------ */

bool gw_user_create_request(json_object *body, Comanda__CreateUserRequest *rq, gw_problem *p)
{
	static const char *const known[] = { "name", "email", "password", "role", NULL };
	comanda__create_user_request__init(rq);
	const char *name, *email, *password = NULL;
	int role = COMANDA__ROLE__ROLE_ANONYMOUS;
	if (!gw_fields_known(body, known, p) || !gw_fields_string_required(body, "name", &name, p) ||
	    !gw_fields_string_required(body, "email", &email, p))
		return false;
	gw_field pw = gw_fields_string(body, "password", &password, p);
	if (pw == GW_FIELD_BAD)
		return false;
	/* "" would reach svc-user as "no password": say so rather than
	 * creating an account nobody can log in to by accident */
	if (pw == GW_FIELD_OK && password[0] == '\0') {
		gw_problem_set(p, "password", "must not be empty");
		return false;
	}
	if (gw_fields_enum(body, "role", gw_user_role_names, gw_user_role_values, GW_N(gw_user_role_names), &role, p) ==
	    GW_FIELD_BAD)
		return false;
	rq->name = gw_borrow(name);
	rq->email = gw_borrow(email);
	if (password != NULL)
		rq->password = gw_borrow(password);
	rq->role = (Comanda__Role)role;
	return true;
}

bool gw_user_update_request(json_object *body, int64_t id, Comanda__UpdateUserRequest *rq,
    char *mask[GW_USER_MASK_MAX], gw_problem *p)
{
	static const char *const known[] = { "name", "password", "current_password", "status", "role", NULL };
	comanda__update_user_request__init(rq);
	rq->id = id;
	rq->update_mask = mask;
	rq->n_update_mask = 0;
	if (!gw_fields_known(body, known, p))
		return false;
	const char *s = NULL;
	gw_field f;
	if ((f = gw_fields_string(body, "name", &s, p)) == GW_FIELD_BAD)
		return false;
	if (f == GW_FIELD_OK) {
		rq->name = gw_borrow(s);
		mask[rq->n_update_mask++] = gw_borrow("name");
	}
	if ((f = gw_fields_string(body, "password", &s, p)) == GW_FIELD_BAD)
		return false;
	bool password = f == GW_FIELD_OK;
	if (password) {
		rq->password = gw_borrow(s);
		mask[rq->n_update_mask++] = gw_borrow("password");
	}
	if ((f = gw_fields_string(body, "current_password", &s, p)) == GW_FIELD_BAD)
		return false;
	if (f == GW_FIELD_OK) {
		/* It guards a password change and means nothing alone: without
		 * password svc-user never reads it, so a wrong one passed
		 * unnoticed. Refused rather than checked: checking a member that
		 * guards no change would only tell whether a password is right. */
		if (!password) {
			gw_problem_set(p, "current_password", "only goes with password");
			return false;
		}
		rq->current_password = gw_borrow(s); /* not in the mask: not a field of its own */
	}
	int v = 0;
	if ((f = gw_fields_enum(body, "status", gw_user_status_names, gw_user_status_values, GW_N(gw_user_status_names),
	         &v, p)) == GW_FIELD_BAD)
		return false;
	if (f == GW_FIELD_OK) {
		rq->status = (Comanda__UserStatus)v;
		mask[rq->n_update_mask++] = gw_borrow("status");
	}
	if ((f = gw_fields_enum(body, "role", gw_user_role_names, gw_user_role_values, GW_N(gw_user_role_names), &v,
	         p)) == GW_FIELD_BAD)
		return false;
	if (f == GW_FIELD_OK) {
		rq->role = (Comanda__Role)v;
		mask[rq->n_update_mask++] = gw_borrow("role");
	}
	return true;
}

bool gw_user_login_request(json_object *body, Comanda__LoginRequest *rq, gw_problem *p)
{
	static const char *const known[] = { "email", "password", NULL };
	comanda__login_request__init(rq);
	const char *email, *password;
	if (!gw_fields_known(body, known, p) || !gw_fields_string_required(body, "email", &email, p) ||
	    !gw_fields_string_required(body, "password", &password, p))
		return false;
	rq->email = gw_borrow(email);
	rq->password = gw_borrow(password);
	return true;
}

bool gw_user_refresh_request(json_object *body, Comanda__RefreshRequest *rq, gw_problem *p)
{
	static const char *const known[] = { "refresh_token", NULL };
	comanda__refresh_request__init(rq);
	const char *token;
	if (!gw_fields_known(body, known, p) || !gw_fields_string_required(body, "refresh_token", &token, p))
		return false;
	rq->refresh_token = gw_borrow(token);
	return true;
}

/* ---- responses ----------------------------------------------------------- */

json_object *gw_user_json(const Comanda__User *u)
{
	if (u == NULL)
		return NULL;
	bool ok = true;
	json_object *o = json_object_new_object();
	gw_out_put(o, "id", json_object_new_int64(u->id), &ok);
	gw_out_put(o, "name", json_object_new_string(u->name != NULL ? u->name : ""), &ok);
	gw_out_put(o, "email", json_object_new_string(u->email != NULL ? u->email : ""), &ok);
	gw_out_put(o, "status", json_object_new_string(gw_user_status_name(u->status)), &ok);
	gw_out_put(o, "role", json_object_new_string(gw_user_role_name(u->role)), &ok);
	gw_out_put(o, "created_at", json_timestamp_new(u->created_at_ms), &ok);
	gw_out_put(o, "updated_at", json_timestamp_new(u->updated_at_ms), &ok);
	return gw_out_done(o, ok);
}

json_object *gw_user_reply_json(const char *message, const Comanda__User *u)
{
	return gw_out_reply(message, "user", gw_user_json(u));
}

json_object *gw_user_list_json(const Comanda__ListUsersReply *r)
{
	bool ok = true;
	json_object *users = gw_out_array(r->n_users);
	for (size_t i = 0; i < r->n_users; i++)
		gw_out_append(users, gw_user_json(r->users[i]), &ok);
	if (!ok) {
		json_object_put(users);
		return NULL;
	}
	return gw_out_list("users", users, r->next_cursor);
}

json_object *gw_message_json(const char *message)
{
	bool ok = true;
	json_object *o = json_object_new_object();
	gw_out_put(o, "success", json_object_new_boolean(1), &ok);
	gw_out_put(o, "message", json_object_new_string(message), &ok);
	return gw_out_done(o, ok);
}

json_object *gw_token_pair_json(const Comanda__TokenPair *tp)
{
	bool ok = true;
	json_object *o = json_object_new_object();
	gw_out_put(o, "success", json_object_new_boolean(1), &ok);
	gw_out_put(o, "token", json_object_new_string(tp->access_token != NULL ? tp->access_token : ""), &ok);
	gw_out_put(o, "token_type", json_object_new_string("Bearer"), &ok);
	gw_out_put(o, "expires_in", json_object_new_int64(tp->expires_in), &ok);
	gw_out_put(o, "refresh_token", json_object_new_string(tp->refresh_token != NULL ? tp->refresh_token : ""), &ok);
	gw_out_put(o, "user", gw_user_json(tp->user), &ok);
	return gw_out_done(o, ok);
}
