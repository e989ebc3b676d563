/*
 * gw_user_codec: the JSON of the users and auth routes <-> svc-user's
 * protobuf messages (proto/comanda/user.proto). Pure translation: shapes and
 * types are judged here (gw_fields rules: wrong type, null, unknown member,
 * unknown enum value -> a gw_problem naming the field); values (lengths,
 * e-mail form, password rules, who may set what) are svc-user's to judge, so
 * the rules live in one place.
 *
 * Rendering follows API.md: a user is
 *   {"id","name","email","status","role","created_at","updated_at"}
 * with RFC 3339 UTC millisecond timestamps; never a password or its hash
 * (the User message has none to give). Every builder returns a new object
 * the caller puts, or NULL when out of memory (nothing leaks then).
 *
 * Requests fill protobuf-c messages whose strings borrow the body's storage:
 * the message is valid while the body object lives, and is only read (packed
 * for the RPC), never modified or freed through its fields.
 *
 * Threading: pure functions; objects belong to the calling thread.
 */
#ifndef COMANDA_GW_USER_CODEC_H
#define COMANDA_GW_USER_CODEC_H

#include <stdbool.h>

#include <json-c/json.h>

#include "comanda/user.pb-c.h"
#include "gw_fields.h"

/* update_mask entries a PATCH can produce: name, password, status, role. */
#define GW_USER_MASK_MAX 4

/* "active" / "suspended" / "deleted" ("unknown" for anything else). */
const char *gw_user_status_name(int status);

/* "customer" / "admin" ("anonymous" / "service" for the other roles). */
const char *gw_user_role_name(int role);

/* ---- requests ------------------------------------------------------------ */

/* POST /api/users: {name, email, password?, role?} -> *rq (initialised here).
 * name and email are required strings; password, when present, a non-empty
 * string (absent means none, which only an admin may ask for); role one of
 * customer, admin. Returns false with *p on the first problem. */
bool gw_user_create_request(json_object *body, Comanda__CreateUserRequest *rq, gw_problem *p);

/* PATCH /api/users/{id}: {name?, password?, current_password?, status?,
 * role?} -> *rq (initialised here, rq->id = id) with update_mask naming
 * name/password/status/role in that order when present (mask is the
 * storage for it). status is active or suspended (deletion is DELETE's job),
 * role customer or admin. current_password only goes with password
 * (refused without it: never silently ignored). An empty body gives an
 * empty mask, which svc-user answers "Nothing to update". */
bool gw_user_update_request(json_object *body, int64_t id, Comanda__UpdateUserRequest *rq,
    char *mask[GW_USER_MASK_MAX], gw_problem *p);

/* POST /api/auth/login: {email, password}, both required strings. */
bool gw_user_login_request(json_object *body, Comanda__LoginRequest *rq, gw_problem *p);

/* POST /api/auth/refresh: {refresh_token}, a required string. */
bool gw_user_refresh_request(json_object *body, Comanda__RefreshRequest *rq, gw_problem *p);

/* ---- responses ----------------------------------------------------------- */

/* The user object above. */
json_object *gw_user_json(const Comanda__User *u);

/* {"success":true,"message":message,"user":{...}}; message NULL is left out
 * ({"success":true,"user":{...}}). */
json_object *gw_user_reply_json(const char *message, const Comanda__User *u);

/* {"success":true,"count":n,"users":[...],"next_cursor":"..."|null}. */
json_object *gw_user_list_json(const Comanda__ListUsersReply *r);

/* {"success":true,"message":message}. */
json_object *gw_message_json(const char *message);

/* {"success":true,"token","token_type":"Bearer","expires_in","refresh_token","user"}. */
json_object *gw_token_pair_json(const Comanda__TokenPair *tp);

#endif
