#include "user_store.h"

#include <stdlib.h>
#include <string.h>

const char *user_status_name(Comanda__UserStatus s)
{
	switch (s) {
	case COMANDA__USER_STATUS__USER_ACTIVE: return "active";
	case COMANDA__USER_STATUS__USER_SUSPENDED: return "suspended";
	case COMANDA__USER_STATUS__USER_DELETED: return "deleted";
	default: return "unknown";
	}
}

Comanda__UserStatus user_status_parse(const char *s)
{
	if (strcmp(s, "active") == 0)
		return COMANDA__USER_STATUS__USER_ACTIVE;
	if (strcmp(s, "suspended") == 0)
		return COMANDA__USER_STATUS__USER_SUSPENDED;
	if (strcmp(s, "deleted") == 0)
		return COMANDA__USER_STATUS__USER_DELETED;
	return COMANDA__USER_STATUS__USER_STATUS_UNSPECIFIED;
}

const char *user_role_name(Comanda__Role r)
{
	return r == COMANDA__ROLE__ROLE_ADMIN ? "admin" : "customer";
}

Comanda__Role user_role_parse(const char *s)
{
	if (strcmp(s, "customer") == 0)
		return COMANDA__ROLE__ROLE_CUSTOMER;
	if (strcmp(s, "admin") == 0)
		return COMANDA__ROLE__ROLE_ADMIN;
	return COMANDA__ROLE__ROLE_ANONYMOUS;
}

Comanda__User *user_from_row(rpc_ctx *ctx, const PGresult *r, int row, int col)
{
	Comanda__User *u = rpc_ctx_alloc(ctx, sizeof(*u));
	if (u == NULL)
		return NULL;
	comanda__user__init(u);
	u->id = strtoll(PQgetvalue(r, row, col + 0), NULL, 10);
	u->name = rpc_ctx_strdup(ctx, PQgetvalue(r, row, col + 1));
	u->email = rpc_ctx_strdup(ctx, PQgetvalue(r, row, col + 2));
	u->status = user_status_parse(PQgetvalue(r, row, col + 3));
	u->role = user_role_parse(PQgetvalue(r, row, col + 4));
	u->created_at_ms = strtoll(PQgetvalue(r, row, col + 5), NULL, 10);
	u->updated_at_ms = strtoll(PQgetvalue(r, row, col + 6), NULL, 10);
	u->has_password = strcmp(PQgetvalue(r, row, col + 7), "t") == 0;
	if (u->name == NULL || u->email == NULL)
		return NULL;
	return u;
}
