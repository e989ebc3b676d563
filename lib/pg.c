#include "pg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comanda/rpc.pb-c.h"
#include "log.h"

/* pg_advisory_lock key of the migration runner: "comanda" as a big-endian
 * integer, so no other lock in the project can collide with it by chance.
 * Advisory locks are per database, so services with their own databases do
 * not wait for each other. */
#define PG_MIGRATE_LOCK "27988538271097953"

struct pg_conn {
	PGconn *pg;          /* NULL: not connected */
	char *url;
	char *app;
	char timeout[16];    /* connect_timeout, as libpq wants it */
	bool failing;        /* the last connect failed (and was logged) */
};

/* libpq's messages end with a newline that would break a log line. */
static void pg_log_conn_error(int level, const char *what, const PGconn *pg)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", pg != NULL ? PQerrorMessage(pg) : "out of memory");
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	log_line l;
	log_begin(&l, level, what);
	log_str(&l, "error", msg);
	log_end(&l);
}

/* libpq prints server notices ("relation ... already exists, skipping") on
 * stderr by default, which would break one JSON object per line. */
static void pg_notice(void *arg, const char *message)
{
	(void)arg;
	if (!log_enabled(LOG_DEBUG))
		return;
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", message);
	msg[strcspn(msg, "\n")] = '\0';
	log_line l;
	log_begin(&l, LOG_DEBUG, "database notice");
	log_str(&l, "notice", msg);
	log_end(&l);
}

static void pg_drop(pg_conn *c)
{
	PQfinish(c->pg);
	c->pg = NULL;
}

static bool pg_connect(pg_conn *c)
{
	pg_drop(c);
	/* The URL comes first so that the settings after it win over the same
	 * ones written in the URL (libpq's expand_dbname rule): the connect
	 * timeout is DB_CONNECT_TIMEOUT_S whatever the URL says. Keepalives
	 * notice a peer that vanished without closing (a host gone, a network
	 * cut), which would otherwise block a worker until the kernel gives up. */
	static const char *const keys[] = { "dbname", "connect_timeout", "application_name", "keepalives",
		"keepalives_idle", "keepalives_interval", "keepalives_count", NULL };
	const char *vals[] = { c->url, c->timeout, c->app, "1", "10", "3", "3", NULL };
	c->pg = PQconnectdbParams(keys, vals, 1);
	if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
		/* One line per outage, not one per attempt. */
		if (!c->failing)
			pg_log_conn_error(LOG_WARN, "database connection failed", c->pg);
		c->failing = true;
		pg_drop(c);
		return false;
	}
	PQsetNoticeProcessor(c->pg, pg_notice, NULL);
	if (c->failing)
		log_printf(LOG_INFO, "database connection restored (%s)", c->app);
	c->failing = false;
	return true;
}

pg_conn *pg_conn_new(const char *url, int connect_timeout_s, const char *app)
{
	pg_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->url = strdup(url);
	c->app = strdup(app);
	if (c->url == NULL || c->app == NULL) {
		pg_conn_free(c);
		return NULL;
	}
	snprintf(c->timeout, sizeof(c->timeout), "%d", connect_timeout_s);
	pg_connect(c);
	return c;
}

void pg_conn_free(pg_conn *c)
{
	if (c == NULL)
		return;
	pg_drop(c);
	free(c->url);
	free(c->app);
	free(c);
}

bool pg_conn_ok(const pg_conn *c)
{
	return c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK;
}

int pg_code_for_sqlstate(const char *s)
{
	if (s == NULL || strlen(s) != 5)
		return COMANDA__CODE__INTERNAL;
	if (strcmp(s, "23505") == 0)
		return COMANDA__CODE__ALREADY_EXISTS;
	if (strncmp(s, "23", 2) == 0 || strcmp(s, "P0001") == 0)
		return COMANDA__CODE__FAILED_PRECONDITION;
	if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0)
		return COMANDA__CODE__ABORTED;
	if (strcmp(s, "57014") == 0)
		return COMANDA__CODE__DEADLINE_EXCEEDED;
	/* Connection exceptions, the server shutting down or restarting, and
	 * too many connections: the database is (for now) not there. */
	if (strncmp(s, "08", 2) == 0 || strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 ||
	    strcmp(s, "57P03") == 0 || strcmp(s, "53300") == 0)
		return COMANDA__CODE__UNAVAILABLE;
	/* Data exceptions (bad number, string too long...) are the input's fault. */
	if (strncmp(s, "22", 2) == 0)
		return COMANDA__CODE__INVALID_ARGUMENT;
	return COMANDA__CODE__INTERNAL;
}

enum {
	/* The simple query protocol, which takes several statements in one
	 * string (migrations) but no parameters. */
	PG_SIMPLE = 1,
	/* The session matters (it holds an advisory lock): never reconnect,
	 * since a new session would silently lack it. */
	PG_PINNED = 2,
};

/* pg_exec's body, with PG_* flags. */
static int pg_exec_any(pg_conn *c, const char *sql, int n_params, const char *const *params, PGresult **res,
    int flags)
{
	*res = NULL;
	if (c == NULL)
		return COMANDA__CODE__UNAVAILABLE;
	bool simple = (flags & PG_SIMPLE) != 0;
	for (int attempt = 0;; attempt++) {
		if (!pg_conn_ok(c) && ((flags & PG_PINNED) != 0 || !pg_connect(c)))
			return COMANDA__CODE__UNAVAILABLE;
		bool idle = PQtransactionStatus(c->pg) == PQTRANS_IDLE;
		PGresult *r = simple ? PQexec(c->pg, sql)
		                     : PQexecParams(c->pg, sql, n_params, NULL, params, NULL, NULL, 0);
		ExecStatusType st = PQresultStatus(r);  /* PGRES_FATAL_ERROR for NULL */
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			*res = r;
			return COMANDA__CODE__OK;
		}
		const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		int code = pg_code_for_sqlstate(state);
		if (PQstatus(c->pg) == CONNECTION_OK && code != COMANDA__CODE__UNAVAILABLE) {
			/* The server answered with an SQL error. */
			if (code == COMANDA__CODE__INTERNAL) {
				log_line l;
				log_begin(&l, LOG_ERROR, "sql error");
				log_str(&l, "sqlstate", state);
				log_str(&l, "error", r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL);
				log_end(&l);
			}
			*res = r;
			return code;
		}
		/* The connection broke (a restart sends 57P01 first, then closes). */
		if (!c->failing)
			pg_log_conn_error(LOG_WARN, "database connection lost", c->pg);
		PQclear(r);
		pg_drop(c);
		if (!idle || attempt > 0 || (flags & PG_PINNED) != 0)
			return COMANDA__CODE__UNAVAILABLE;
	}
}

int pg_exec(pg_conn *c, const char *sql, int n_params, const char *const *params, PGresult **res)
{
	return pg_exec_any(c, sql, n_params, params, res, 0);
}

int pg_run(pg_conn *c, const char *sql, int n_params, const char *const *params)
{
	PGresult *r = NULL;
	int code = pg_exec(c, sql, n_params, params, &r);
	PQclear(r);
	return code;
}

bool pg_probe(void *arg)
{
	return pg_run(arg, "SELECT 1", 0, NULL) == COMANDA__CODE__OK;
}

/* ---- migrations ---------------------------------------------------------- */

bool pg_migration_parse_name(const char *file, int *version, char *name, size_t cap)
{
	const char *p = file;
	long v = 0;
	int digits = 0;
	for (; isdigit((unsigned char)*p); p++) {
		if (++digits > 9)
			return false;
		v = v * 10 + (*p - '0');
	}
	if (digits == 0 || v == 0 || *p++ != '_')
		return false;
	const char *start = p;
	while (islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_')
		p++;
	size_t len = (size_t)(p - start);
	if (len == 0 || len >= cap || strcmp(p, ".sql") != 0)
		return false;
	memcpy(name, start, len);
	name[len] = '\0';
	*version = (int)v;
	return true;
}

long pg_migrations_check(const pg_migration *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].version <= 0 || (i > 0 && m[i].version <= m[i - 1].version))
			return (long)i;
	return -1;
}

/* The runner's statements: on its one pinned session, which holds the lock. */
static int pg_mig_exec(pg_conn *c, const char *sql, int n_params, const char *const *params, PGresult **res)
{
	return pg_exec_any(c, sql, n_params, params, res, PG_PINNED);
}

static int pg_mig_run(pg_conn *c, const char *sql, int n_params, const char *const *params)
{
	PGresult *r = NULL;
	int code = pg_mig_exec(c, sql, n_params, params, &r);
	PQclear(r);
	return code;
}

/* Applies one migration and its record in one transaction. */
static int pg_migrate_one(pg_conn *c, const pg_migration *m)
{
	char version[16];
	snprintf(version, sizeof(version), "%d", m->version);
	const char *params[] = { version, m->name };
	int code = pg_mig_run(c, "BEGIN", 0, NULL);
	PGresult *r = NULL;
	if (code == COMANDA__CODE__OK)
		code = pg_exec_any(c, m->sql, 0, NULL, &r, PG_SIMPLE | PG_PINNED);
	if (code != COMANDA__CODE__OK && r != NULL) {
		/* The operator needs the whole message (it names the line). */
		log_line l;
		log_begin(&l, LOG_ERROR, "migration failed");
		log_int(&l, "version", m->version);
		log_str(&l, "name", m->name);
		log_str(&l, "error", PQresultErrorMessage(r));
		log_end(&l);
	}
	PQclear(r);
	if (code == COMANDA__CODE__OK)
		code = pg_mig_run(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, params);
	if (code == COMANDA__CODE__OK)
		code = pg_mig_run(c, "COMMIT", 0, NULL);
	if (code != COMANDA__CODE__OK) {
		/* Nothing to undo when the connection broke: the server rolled back. */
		if (pg_conn_ok(c))
			pg_mig_run(c, "ROLLBACK", 0, NULL);
		return code == COMANDA__CODE__UNAVAILABLE ? code : COMANDA__CODE__INTERNAL;
	}
	log_line l;
	log_begin(&l, LOG_INFO, "migration applied");
	log_int(&l, "version", m->version);
	log_str(&l, "name", m->name);
	log_end(&l);
	return COMANDA__CODE__OK;
}

/* Finds version v among the recorded rows; its name or NULL. */
static const char *pg_recorded_name(const PGresult *r, int v)
{
	for (int i = 0; i < PQntuples(r); i++)
		if (atoi(PQgetvalue(r, i, 0)) == v)
			return PQgetvalue(r, i, 1);
	return NULL;
}

/* The migrations proper, with the lock held. */
static int pg_migrate_locked(pg_conn *c, const pg_migration *m, size_t n)
{
	int code = pg_mig_run(c,
	    "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
	    0, NULL);
	PGresult *rec = NULL;
	if (code == COMANDA__CODE__OK)
		code = pg_mig_exec(c, "SELECT version, name FROM schema_migrations", 0, NULL, &rec);
	if (code != COMANDA__CODE__OK) {
		PQclear(rec);
		return code == COMANDA__CODE__UNAVAILABLE ? code : COMANDA__CODE__INTERNAL;
	}
	size_t applied = 0;
	for (size_t i = 0; i < n && code == COMANDA__CODE__OK; i++) {
		const char *name = pg_recorded_name(rec, m[i].version);
		if (name == NULL) {
			code = pg_migrate_one(c, &m[i]);
			applied += code == COMANDA__CODE__OK;
		} else if (strcmp(name, m[i].name) != 0) {
			log_printf(LOG_ERROR,
			    "migration %d is recorded as \"%s\" but this program's is \"%s\": "
			    "another service's database, or an edited history",
			    m[i].version, name, m[i].name);
			code = COMANDA__CODE__INTERNAL;
		}
	}
	if (code == COMANDA__CODE__OK && (size_t)PQntuples(rec) + applied > n)
		log_printf(LOG_WARN, "the database has migrations this program does not know: a newer version ran here");
	PQclear(rec);
	if (code == COMANDA__CODE__OK)
		log_printf(LOG_INFO, "schema up to date (%zu migrations applied now)", applied);
	return code;
}

int pg_migrate(const char *url, int connect_timeout_s, const char *app, const pg_migration *m, size_t n)
{
	long bad = pg_migrations_check(m, n);
	if (bad >= 0) {
		log_printf(LOG_ERROR, "migration list is not in strictly increasing version order at entry %ld", bad);
		return COMANDA__CODE__INTERNAL;
	}
	pg_conn *c = pg_conn_new(url, connect_timeout_s, app);
	if (c == NULL)
		return COMANDA__CODE__RESOURCE_EXHAUSTED;
	if (!pg_conn_ok(c)) {
		pg_conn_free(c);
		return COMANDA__CODE__UNAVAILABLE;
	}
	/* A session lock: released by the unlock below or, if this process dies
	 * half-way, by the server when the connection ends. */
	int code = pg_mig_run(c, "SELECT pg_advisory_lock(" PG_MIGRATE_LOCK ")", 0, NULL);
	if (code == COMANDA__CODE__OK) {
		code = pg_migrate_locked(c, m, n);
		if (pg_conn_ok(c))
			pg_mig_run(c, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK ")", 0, NULL);
	}
	pg_conn_free(c);
	return code;
}
