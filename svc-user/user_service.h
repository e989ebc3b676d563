/*
 * user_service: the UserService handlers (accounts, login, sessions) and
 * the admin bootstrap.
 *
 * Authorization is checked here again, whatever the gateway did: the caller
 * travels in the RPC envelope. A customer reaches only its own user (another
 * one answers NOT_FOUND, so existence does not leak); admins reach all.
 *
 * Threading: user_service_configure once before serving; the handlers run on
 * RPC workers, each with its own database connection (svc_db).
 */
#ifndef COMANDA_USER_SERVICE_H
#define COMANDA_USER_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "comanda/user.rpc.h"
#include "jwt.h"
#include "pg.h"

typedef struct user_service_config {
	jwt_keys jwt;                /* HS256 key (>= 32 bytes) and the one it replaced (or NULL);
	                              * both must outlive the service */
	int jwt_ttl_s;               /* access token lifetime, <= 900 */
	int refresh_ttl_s;           /* refresh token lifetime */
	int refresh_retry_grace_s;   /* how long an exchanged refresh token is still answered as a
	                              * retry while its successor is unused (user_refresh.h); 0: never */
} user_service_config;

/* Stores the configuration the handlers use (copied). */
void user_service_configure(const user_service_config *cfg);

/* The handlers, for rpc_server_add / svc_def.impl. */
extern const user_service_impl user_service_handlers;

/* Creates the admin `email` with `password` when no active admin exists.
 * An existing admin account with that e-mail (suspended or deleted) is made
 * active with that password instead, its sessions revoked; an existing
 * account that is not an admin is left as it is (logged as an error; no
 * admin is made, and the answer is still OK: the service runs without one).
 * Returns a Code. */
int user_bootstrap_admin(pg_conn *db, const char *email, const char *password);

#endif
