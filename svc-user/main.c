/*
 * svc-user: accounts, passwords and sessions on PostgreSQL.
 * The handlers are in user_service.c; this file wires configuration, the
 * admin bootstrap and /status into the shared service skeleton (lib/svc).
 */
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "comanda/user.rpc.h"
#include "jwt.h"
#include "log.h"
#include "stopsig.h"
#include "svc.h"
#include "user_migrations.h"
#include "user_password.h"
#include "user_service.h"

/* /status: "total_users", the accounts not deleted. */
static int user_status(svc *s, pg_conn *db, json_object *obj)
{
	(void)s;
	int64_t users;
	int code = pg_exec_int64(db, "SELECT count(*) FROM users WHERE status <> 'deleted'", 0, NULL, &users);
	if (code == COMANDA__CODE__OK)
		json_object_object_add(obj, "total_users", json_object_new_int64(users));
	return code == COMANDA__CODE__OK ? 0 : -1;
}

/* Read by user_configure: the bootstrap admin's e-mail and password, and
 * how many password hashes may run at once. */
static const char *user_admin_email;
static const char *user_admin_password;
static int user_hash_concurrency;

/* Reads the secrets, the token lifetimes and the bootstrap admin. */
static int user_configure(svc *s)
{
	(void)s;
	jwt_keys keys;
	if (jwt_keys_from_cfg("svc-user", &keys) != 0)
		return -1;
	if (keys.previous != NULL)
		log_printf(LOG_INFO, "svc-user: Idempotency-Key records of the previous JWT key still match");
	user_service_config cfg = {
		.jwt = keys,
		.jwt_ttl_s = (int)cfg_int("JWT_TTL_S", 60, 900),
		.refresh_ttl_s = (int)cfg_int("REFRESH_TTL_S", 300, 31536000),
		.refresh_retry_grace_s = (int)cfg_int("REFRESH_RETRY_GRACE_S", 0, 900),
	};
	user_service_configure(&cfg);
	user_admin_email = cfg_str("ADMIN_EMAIL");
	user_admin_password = cfg_secret("ADMIN_PASSWORD", "admin-change-me");
	user_hash_concurrency = (int)cfg_int("PASSWORD_HASH_CONCURRENCY", 1, 64);
	return 0;
}

/* Sets up password hashing, then makes sure an admin exists. */
static int user_init(svc *s)
{
	if (user_password_init(user_hash_concurrency) != 0) {
		log_printf(LOG_ERROR, "libsodium failed to initialise");
		return -1;
	}
	const char *email = user_admin_email;
	const char *password = user_admin_password;
	pg_conn *db = pg_conn_new(cfg_str("USER_DB_URL"), svc_connect_timeout_s(s), "svc-user");
	if (db == NULL)
		return -1;
	int code;
	/* The migrations just reached the database; wait out a brief outage. */
	while ((code = user_bootstrap_admin(db, email, password)) == COMANDA__CODE__UNAVAILABLE && stopsig_sleep(500)) {
	}
	pg_conn_free(db);
	if (code != COMANDA__CODE__OK) {
		log_printf(LOG_ERROR, "admin bootstrap failed (%s)", rpc_code_name(code));
		return -1;
	}
	return 0;
}

static const svc_def user_svc = {
	.program = "svc-user",
	.service = "user-service",
	.rpc_listen_var = "USER_RPC_LISTEN",
	.admin_port_var = "USER_ADMIN_PORT",
	.cpus_var = "USER_CPUS",
	.binding = &user_service_binding,
	.impl = &user_service_handlers,
	.db_url_var = "USER_DB_URL",
	.migrations = user_migrations,
	.n_migrations = USER_MIGRATIONS_COUNT,
	.configure = user_configure,
	.init = user_init,
	.status = user_status,
};

int main(void)
{
	return svc_main(&user_svc);
}
