/*
 * svc: the skeleton every service's main() runs, so that each main.c only
 * describes its service.
 *
 * svc_main: logs, reads the configuration, migrates the PostgreSQL schema
 * (waiting for the database when it is not up yet, and for another
 * process that is applying the migrations; a stop signal ends either
 * wait), starts the dependency
 * monitor ("database" when the service has a PostgreSQL database, "broker"
 * always, plus the service's own probes), the RPC server (RPC_WORKERS
 * workers, each with its own database connection, serving Health and the
 * service) and the admin HTTP port (ADMIN_BIND:<SVC>_ADMIN_PORT: /health,
 * /status, /metrics). On SIGTERM or SIGINT it stops taking requests, lets
 * the ones in flight finish, and returns 0. The signals are taken from the
 * start by stopsig's thread (stopsig_watch): a signal during start-up ends
 * it too, a migration or connect in progress included, and every wait on a
 * server, start-up's or a request's, ends STOPSIG_GRACE_MS after the signal
 * at the latest (lib/stopsig.h), so the stop is bounded whatever the
 * servers do.
 *
 * Threading: svc_main runs on the main thread, which it keeps for signals;
 * the def's hooks are called as documented on each.
 */
#ifndef COMANDA_SVC_H
#define COMANDA_SVC_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "health.h"
#include "pg.h"
#include "rpc.h"

typedef struct svc svc;

typedef struct svc_def {
	const char *program;          /* "svc-user": logs, the database's application_name */
	const char *service;          /* "user-service": Health, /health, /status */
	const char *rpc_listen_var;   /* cfg variable of the RPC address: "USER_RPC_LISTEN" */
	const char *admin_port_var;   /* cfg variable of the admin port: "USER_ADMIN_PORT" */
	const char *cpus_var;         /* cfg variable of the CPUs it is pinned to: "USER_CPUS" */
	const rpc_service_binding *binding;  /* the service's generated binding */
	const void *impl;             /* its handlers (a generated *_impl, static) */

	/* A PostgreSQL service names the cfg variable of its database URL and
	 * its migrations; svc then migrates before serving, probes "database",
	 * gives every worker its own connection (svc_db) and /status one more.
	 * NULL: no PostgreSQL. */
	const char *db_url_var;
	const pg_migration *migrations;
	size_t n_migrations;

	/* Other resources (svc-order's MongoDB). Each hook may be NULL. */

	/* On the main thread, first of all, with svc's own settings read:
	 * reads and checks the program's settings (cfg_*), connecting to
	 * nothing, so that a bad value stops the program at once even while
	 * its dependencies are down. Returns 0, or -1 to exit with status 2
	 * (a configuration error, after logging it naming the variable). */
	int (*configure)(svc *s);

	/* On the main thread, after the migrations and before serving: opens
	 * what the service needs (keep it with svc_set_state) and registers
	 * its probes with health_add(svc_health(s), ...). May wait for a
	 * dependency with stopsig_sleep (lib/stopsig.h: false once SIGTERM or
	 * SIGINT came, which also cuts short, STOPSIG_GRACE_MS after it, what
	 * init waits on through lib/pg or a stop-aware stream). Returns 0, or
	 * -1 to exit with status 1 (after logging why). */
	int (*init)(svc *s);
	/* On the main thread, after every server has stopped; also after a
	 * failed or skipped init, so svc_state may be NULL: frees what init
	 * opened. */
	void (*fini)(svc *s);
	/* On each RPC worker thread, before it serves: the worker's own resource,
	 * found in handlers with svc_worker(ctx). */
	void *(*worker_init)(svc *s, int index);
	void (*worker_fini)(svc *s, void *worker);

	/* On the main thread once RPC is served (the service can call itself
	 * through svc_self_url): starts background work (event relays and
	 * consumers). Returns 0, or -1 to stop with status 1. May be NULL. */
	int (*start)(svc *s);
	/* On the main thread at SIGTERM, before RPC stops: stops what start
	 * started (a consumer finishes the event in hand). May be NULL. */
	void (*stop)(svc *s);

	/* GET /status: adds the service's counters (svc adds "dead_letters") to obj (the common fields are
	 * there already). Runs on an admin HTTP thread, one call at a time, with
	 * db the connection reserved for /status (NULL without db_url_var);
	 * not called while the "database" dependency is down. Returns 0, or -1
	 * when the counters cannot be read now: the answer is then 503 with
	 * status "degraded". */
	int (*status)(svc *s, pg_conn *db, json_object *obj);
} svc_def;

/* Runs the service until SIGTERM/SIGINT. Returns the process's exit status:
 * 0 after a clean stop, 1 when it could not start, 2 on a configuration
 * error. Call once, from main(). */
int svc_main(const svc_def *def);

/* ---- inside an RPC handler ---- */

/* The calling worker's PostgreSQL connection, its deadline set to the
 * RPC's less SVC_REPLY_MARGIN_MS (pg_conn_set_deadline): a database that
 * does not answer gives UNAVAILABLE while the caller still waits, not its
 * timeout. NULL without db_url_var, when the worker could not be set up, or
 * while the "database" dependency hangs (health_hung): pg_exec answers
 * UNAVAILABLE at once then, and its next probe is hurried (health_hurry). */
pg_conn *svc_db(rpc_ctx *ctx);

/* The answer to a statement on svc_db's connection that failed with `code`
 * (pg_exec's), for the database called `db` in messages ("user database"),
 * returned for `return svc_db_error(ctx, code, "user database");`:
 * UNAVAILABLE "<db> unavailable"; a deadlock or serialization failure
 * (ABORTED: the whole transaction was rolled back, so the same request can
 * simply be sent again, which a 503 tells any client where a 500 says it
 * would fail again) UNAVAILABLE "concurrent change in the <db>; retry";
 * DEADLINE_EXCEEDED "<db> timed out"; anything else INTERNAL "internal
 * error" (the statement's own error is in pg's log line). */
int svc_db_error(rpc_ctx *ctx, int code, const char *db);

/* Time kept from the caller's deadline for the reply's way back. */
#define SVC_REPLY_MARGIN_MS 100

/* True when the service's dependency `name` ("database", "broker") is known
 * to be down (health_failing): a handler answers UNAVAILABLE at once rather
 * than wait on it. Hurries the dependency's next probe (health_hurry), so
 * that it is served again soon after it is back. */
bool svc_failing(rpc_ctx *ctx, const char *name);

/* The calling worker's resource from def->worker_init (NULL when none). */
void *svc_worker(rpc_ctx *ctx);

/* ---- inside the hooks ---- */

/* The in-process RPC address of this service ("inproc://svc-user"): a
 * client dialling it calls the service without the network. */
const char *svc_self_url(const svc *s);

/* The service's state for its hooks and handlers (set in init). The setter
 * is for init only; the getter is safe from any thread afterwards. */
void svc_set_state(svc *s, void *state);
void *svc_state(const svc *s);

/* The definition svc_main was given. */
const svc_def *svc_definition(const svc *s);

/* RPC_WORKERS: the number of workers, for sizing pools. */
int svc_workers(const svc *s);

/* DB_CONNECT_TIMEOUT_S, for the service's own connections. */
int svc_connect_timeout_s(const svc *s);

/* The dependency monitor, for health_add in init. */
health *svc_health(svc *s);


#endif
