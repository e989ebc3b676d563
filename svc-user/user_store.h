/*
 * user_store: rows of the users table as protobuf Users, and the names of
 * statuses and roles as the database and the API spell them.
 * Threading: pure functions over a PGresult; any thread.
 */
#ifndef COMANDA_USER_STORE_H
#define COMANDA_USER_STORE_H

#include <libpq-fe.h>

#include "comanda/user.pb-c.h"
#include "rpc.h"

/* The columns every query that returns users selects, in this order. */
#define USER_COLS                                                                                     \
	"id, name, email, status, role, (extract(epoch FROM created_at) * 1000)::bigint, "            \
	"(extract(epoch FROM updated_at) * 1000)::bigint, password_hash IS NOT NULL"
#define USER_NCOLS 8

/* Row `row` of r (starting at column `col`, USER_COLS order) as a User
 * allocated in ctx's arena; NULL when out of memory. */
Comanda__User *user_from_row(rpc_ctx *ctx, const PGresult *r, int row, int col);

/* "active" / "suspended" / "deleted" <-> COMANDA__USER_STATUS__*; parse
 * gives USER_STATUS_UNSPECIFIED for anything else. */
const char *user_status_name(Comanda__UserStatus s);
Comanda__UserStatus user_status_parse(const char *s);

/* "customer" / "admin" <-> COMANDA__ROLE__*; parse gives ROLE_ANONYMOUS for
 * anything else. */
const char *user_role_name(Comanda__Role r);
Comanda__Role user_role_parse(const char *s);

#endif
