#include "pg.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "comanda/rpc.pb-c.h"
#include "log.h"
#include "pg_stmt_cache.h"
#include "stopsig.h"

/* pg_advisory_lock key of the migration runner: "comanda" as a big-endian
 * integer, so no other lock in the project can collide with it by chance.
 * Advisory locks are per database, so services with their own databases do
 * not wait for each other. */
#define PG_MIGRATE_LOCK "27988538271097953"

struct pg_conn {
	PGconn *pg;          /* NULL: not connected */
	char *url;
	char *app;
	int connect_timeout_s;
	bool failing;        /* the last connect failed (and was logged) */
	/* When the current caller stops waiting (clock_mono_us), 0: never. A
	 * statement or connect that has no answer by then is abandoned with
	 * its connection (pg_conn_set_deadline). */
	int64_t deadline_us;
	bool hung_logged;    /* "did not answer in time" was logged for this outage */
	/* The statements prepared on the current server session (pg_send). */
	pg_stmt_cache stmts;
	/* The session may hold prepared statements that stmts no longer lists
	 * (they were invalidated inside a transaction, where DEALLOCATE cannot
	 * run): DEALLOCATE ALL before the next statement outside a transaction,
	 * and prepare nothing new until then, so no name the cache hands out
	 * can be deallocated under it. */
	bool dealloc_pending;
	bool full_logged;    /* "cache full" was logged for this connection */
	bool check_logged;   /* "client_connection_check_interval refused" was logged */
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

/* Prepared statements live in the server session: a new session (or none)
 * starts with none. */
static void pg_drop(pg_conn *c)
{
	PQfinish(c->pg);
	c->pg = NULL;
	pg_stmt_cache_clear(&c->stmts);
	c->dealloc_pending = false;
}

/* Waits until c's socket is ready for events (POLLIN/POLLOUT) or `until`
 * (clock_mono_us; 0: no limit) passes, or the process's stop has gone on
 * for STOPSIG_GRACE_MS (lib/stopsig.h: a frozen server must not hold a
 * stopping process, whoever waits on it). Returns 1 ready, 0 timed out, -1
 * a poll error. */
static int pg_wait_socket(PGconn *pg, short events, int64_t until)
{
	if (PQsocket(pg) < 0)
		return -1; /* no socket (the connection is gone): poll would wait for nothing */
	return stopsig_poll(PQsocket(pg), events, until);
}

/* The caller's deadline or the connect timeout, whichever comes first. */
static int64_t pg_connect_until(const pg_conn *c)
{
	int64_t until = clock_mono_us() + (int64_t)c->connect_timeout_s * 1000000;
	return c->deadline_us != 0 && c->deadline_us < until ? c->deadline_us : until;
}

static PGresult *pg_collect(pg_conn *c, int sent, bool *timed_out);

/* How often the server checks, while it runs one of our statements, that we
 * are still connected (client_connection_check_interval, PostgreSQL 14+). */
#define PG_CLIENT_CHECK_MS "250"

/* Settings of a new session, before its first statement. A statement we give
 * up on at the caller's deadline is abandoned by closing the connection (see
 * pg_exec_any); without this setting its backend would go on running it,
 * or waiting for a lock with the locks it already holds, until it next
 * wrote to the socket: behind a lock held for long, every timed-out request
 * left one more backend waiting, and their connections added up to
 * max_connections. With it, the server ends the statement, its transaction
 * and its backend within PG_CLIENT_CHECK_MS of the close. (PQcancel is no
 * better here: libpq 15's blocks without a timeout, and would hang the
 * worker on a frozen server.) Returns false when the server did not answer
 * by `until`; a server that refuses the setting (older than 14) is logged
 * and used without it. */
static bool pg_session_setup(pg_conn *c, int64_t until)
{
	int64_t deadline = c->deadline_us;
	c->deadline_us = until;
	bool timed_out = false;
	PGresult *r = pg_collect(c, PQsendQuery(c->pg, "SET client_connection_check_interval = " PG_CLIENT_CHECK_MS),
	    &timed_out);
	c->deadline_us = deadline;
	if (!timed_out && PQresultStatus(r) != PGRES_COMMAND_OK && PQstatus(c->pg) == CONNECTION_OK &&
	    !c->check_logged) {
		log_printf(LOG_WARN, "client_connection_check_interval refused: statements abandoned at a deadline "
		                     "run on in the server until they end (%s)", c->app);
		c->check_logged = true;
	}
	PQclear(r);
	return !timed_out && PQstatus(c->pg) == CONNECTION_OK;
}

static bool pg_connect(pg_conn *c)
{
	pg_drop(c);
	/* The URL comes first so that the settings after it win over the same
	 * ones written in the URL (libpq's expand_dbname rule). Keepalives
	 * notice a peer that vanished without closing (a host gone, a network
	 * cut), which would otherwise block a worker until the kernel gives up.
	 * Connecting is asynchronous so that it ends at DB_CONNECT_TIMEOUT_S or
	 * at the caller's deadline, whichever is first (libpq's own
	 * connect_timeout counts whole seconds, at least 2, and a server that
	 * accepts the TCP connection but never answers, a frozen one, holds a
	 * blocking connect for all of it). */
	static const char *const keys[] = { "dbname", "application_name", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", NULL };
	const char *vals[] = { c->url, c->app, "1", "10", "3", "3", NULL };
	c->pg = PQconnectStartParams(keys, vals, 1);
	int64_t until = pg_connect_until(c);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	bool timed_out = false;
	while (c->pg != NULL && PQstatus(c->pg) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
	       st != PGRES_POLLING_FAILED) {
		int w = pg_wait_socket(c->pg, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, until);
		if (w <= 0) {
			timed_out = w == 0;
			break;
		}
		st = PQconnectPoll(c->pg);
	}
	if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
		/* One line per outage, not one per attempt. */
		if (!c->failing) {
			if (timed_out)
				log_printf(LOG_WARN, "database connection failed: no answer within the connect timeout "
				                     "or the caller's deadline (%s)", c->app);
			else
				pg_log_conn_error(LOG_WARN, "database connection failed", c->pg);
		}
		c->failing = true;
		pg_drop(c);
		return false;
	}
	PQsetNoticeProcessor(c->pg, pg_notice, NULL);
	if (!pg_session_setup(c, until)) {
		if (!c->failing)
			log_printf(LOG_WARN, "database connection failed: no answer to its setup within the connect "
			                     "timeout or the caller's deadline (%s)", c->app);
		c->failing = true;
		pg_drop(c);
		return false;
	}
	if (c->failing)
		log_printf(LOG_INFO, "database connection restored (%s)", c->app);
	c->failing = false;
	c->hung_logged = false;
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
	c->connect_timeout_s = connect_timeout_s > 0 ? connect_timeout_s : 1;
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

void pg_conn_set_deadline(pg_conn *c, int64_t deadline_us)
{
	if (c == NULL || c->deadline_us == deadline_us)
		return;
	/* A new caller never inherits a transaction: one that the previous
	 * caller left open (its ROLLBACK came too late to be sent) is ended by
	 * closing the connection, which makes the server roll it back. */
	if (c->pg != NULL && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		log_printf(LOG_WARN, "a transaction was left open on a connection: rolled back (%s)", c->app);
		pg_drop(c);
	}
	c->deadline_us = deadline_us;
}

/* Reads the results of what was just sent, as PQexec would return them: the
 * first error result if any, else the last result. sent is what the PQsend*
 * call returned: 0 (nothing went out) gives NULL at once, as PQexec's NULL.
 * NULL with *timed_out set when c's deadline passed before the server had
 * answered everything (the connection is then in an unknown state: the
 * caller drops it). */
static PGresult *pg_collect(pg_conn *c, int sent, bool *timed_out)
{
	if (!sent)
		return NULL;
	PGresult *keep = NULL;
	for (;;) {
		while (PQisBusy(c->pg)) {
			int w = pg_wait_socket(c->pg, POLLIN, c->deadline_us);
			if (w == 0) {
				PQclear(keep);
				*timed_out = true;
				return NULL;
			}
			/* A broken connection: PQgetResult then reports it at once. */
			if (w < 0 || !PQconsumeInput(c->pg))
				break;
		}
		PGresult *r = PQgetResult(c->pg);
		if (r == NULL)
			break;
		if (keep != NULL && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
			PQclear(r);
			continue;
		}
		PQclear(keep);
		keep = r;
	}
	return keep;
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
	/* A statement timeout, and a lock timeout (lock_timeout; NOWAIT, which
	 * nothing of ours uses): the time allowed ran out, nothing was done. */
	if (strcmp(s, "57014") == 0 || strcmp(s, "55P03") == 0)
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

/* Runs sql on c's open connection: PG_SIMPLE through the simple protocol;
 * otherwise prepared once per session and executed by name from then on, so
 * the server parses and plans it once rather than on every call. Unnamed
 * (PQexecParams, parsed and planned each time) when pinned (the migration
 * runner's one-shot session: preparing would cost a round trip per
 * statement, and the migrations it runs change the very tables), while a
 * DEALLOCATE ALL is pending, or when the cache is full. Sets *id to the
 * statement's id when the result is PQexecPrepared's (only such a result
 * can say the statement went stale), else 0. The result is PQexec's
 * convention: NULL or an error result on failure, including a failed
 * prepare's, which the caller handles like the statement's own. Each step
 * is sent and its answer awaited until c's deadline: NULL with *timed_out
 * set when it passed. */
static PGresult *pg_send(pg_conn *c, const char *sql, int n_params, const char *const *params, int flags,
    uint32_t *id, bool *timed_out)
{
	*id = 0;
	if ((flags & PG_SIMPLE) != 0)
		return pg_collect(c, PQsendQuery(c->pg, sql), timed_out);
	if ((flags & PG_PINNED) != 0 || c->dealloc_pending)
		return pg_collect(c, PQsendQueryParams(c->pg, sql, n_params, NULL, params, NULL, NULL, 0), timed_out);
	uint32_t hash = pg_stmt_hash(sql);
	uint32_t found = pg_stmt_cache_find(&c->stmts, sql, hash);
	char name[PG_STMT_NAME_CAP];
	if (found == 0) {
		found = pg_stmt_cache_add(&c->stmts, sql, hash);
		if (found == 0) {
			if (!c->full_logged)
				log_printf(LOG_WARN,
				    "%s: %d statements prepared on one connection (or out of memory): "
				    "new statements run unprepared (SQL built with values in it?)",
				    c->app, PG_STMT_CACHE_MAX);
			c->full_logged = true;
			return pg_collect(c, PQsendQueryParams(c->pg, sql, n_params, NULL, params, NULL, NULL, 0), timed_out);
		}
		pg_stmt_name(found, name);
		/* Parameter types NULL: inferred from the text, as PQexecParams does. */
		PGresult *p = pg_collect(c, PQsendPrepare(c->pg, name, sql, n_params, NULL), timed_out);
		if (PQresultStatus(p) != PGRES_COMMAND_OK) {
			/* Nothing was prepared: an SQL error, which the caller returns
			 * like the statement's own (the same SQLSTATE and fields an
			 * unnamed statement would give), or a broken connection, which
			 * it reconnects from. */
			pg_stmt_cache_remove(&c->stmts, found);
			return p;
		}
		PQclear(p);
	} else {
		pg_stmt_name(found, name);
	}
	*id = found;
	return pg_collect(c, PQsendQueryPrepared(c->pg, name, n_params, params, NULL, NULL, 0), timed_out);
}

/* True when an executed prepared statement failed because the statement
 * itself is stale, so preparing it again can succeed: 26000 (the session no
 * longer has it: DEALLOCATE or DISCARD ALL behind our back), 0A000 ("cached
 * plan must not change result type": another replica's migration changed
 * the columns it returns, which a prepared statement cannot follow). 0A000
 * is matched without its message, which lc_messages translates: a genuine
 * 0A000 at execution (none of our statements has one) costs only a
 * re-prepare. */
static bool pg_stmt_stale(const char *state)
{
	return state != NULL && (strcmp(state, "26000") == 0 || strcmp(state, "0A000") == 0);
}

/* Runs the pending DEALLOCATE ALL (outside a transaction). Returns false only
 * when the connection broke doing so; an SQL error leaves it pending (and
 * statements unprepared) for the next try. */
static bool pg_deallocate_pending(pg_conn *c, bool *timed_out)
{
	PGresult *r = pg_collect(c, PQsendQuery(c->pg, "DEALLOCATE ALL"), timed_out);
	if (*timed_out)
		return false;
	bool done = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (done)
		c->dealloc_pending = false;
	return done || PQstatus(c->pg) == CONNECTION_OK;
}

/* pg_exec's body, with PG_* flags. */
static int pg_exec_any(pg_conn *c, const char *sql, int n_params, const char *const *params, PGresult **res,
    int flags)
{
	*res = NULL;
	if (c == NULL)
		return COMANDA__CODE__UNAVAILABLE;
	/* A caller already past its deadline (it waited for a worker, or a
	 * processor call took its time) sends nothing: its answer would come
	 * too late. An open transaction is ended all the same, by closing the
	 * connection (the server rolls it back), so that its ROLLBACK, refused
	 * here too, leaves nothing behind. */
	if (c->deadline_us != 0 && clock_mono_us() >= c->deadline_us) {
		if (c->pg != NULL && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
			pg_drop(c);
		return COMANDA__CODE__DEADLINE_EXCEEDED;
	}
	/* The same once the stop's grace is over: whatever is sent would be
	 * cut short unanswered; an open transaction goes with its connection. */
	if (stopsig_grace_over()) {
		if (c->pg != NULL && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
			pg_drop(c);
		return COMANDA__CODE__UNAVAILABLE;
	}
	bool reconnected = false;  /* the statement was sent again on a new connection */
	bool reprepared = false;   /* ... or again after its prepared statement went stale */
	for (;;) {
		if (!pg_conn_ok(c) && ((flags & PG_PINNED) != 0 || !pg_connect(c)))
			return COMANDA__CODE__UNAVAILABLE;
		bool idle = PQtransactionStatus(c->pg) == PQTRANS_IDLE;
		PGresult *r = NULL;
		bool timed_out = false;
		bool sent = !c->dealloc_pending || !idle || pg_deallocate_pending(c, &timed_out);
		uint32_t id = 0;
		if (sent)
			r = pg_send(c, sql, n_params, params, flags, &id, &timed_out);
		if (timed_out) {
			/* The server holds the statement and has not answered: a frozen
			 * server, a lock wait, a network that drops packets. What the
			 * session was doing is unknown, so the connection goes (and the
			 * server rolls back an open transaction when it notices); the
			 * next statement connects again. */
			if (!c->hung_logged)
				log_printf(LOG_WARN, "database did not answer before the caller's deadline%s: connection "
				                     "closed (%s)", stopsig_stopping() ? " or the stop" : "", c->app);
			c->hung_logged = true;
			PQclear(r);
			pg_drop(c);
			return COMANDA__CODE__UNAVAILABLE;
		}
		ExecStatusType st = PQresultStatus(r);  /* PGRES_FATAL_ERROR for NULL */
		if (sent && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) {
			*res = r;
			return COMANDA__CODE__OK;
		}
		const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		int code = pg_code_for_sqlstate(state);
		if (sent && PQstatus(c->pg) == CONNECTION_OK && code != COMANDA__CODE__UNAVAILABLE) {
			/* The server answered with an SQL error. */
			if (id != 0 && pg_stmt_stale(state)) {
				/* Forget every statement: one migration usually touches
				 * several, and this is rare. The session's copies go with
				 * DEALLOCATE ALL once outside a transaction. */
				log_line l;
				log_begin(&l, LOG_INFO, "prepared statements invalidated; preparing them again");
				log_str(&l, "sqlstate", state);
				log_str(&l, "app", c->app);
				log_end(&l);
				pg_stmt_cache_clear(&c->stmts);
				c->dealloc_pending = true;
				/* Outside a transaction the failed statement changed
				 * nothing: run it once more. Inside one the transaction is
				 * aborted anyway: the caller gets the error. */
				if (idle && !reprepared) {
					reprepared = true;
					PQclear(r);
					continue;
				}
			}
			if (code == COMANDA__CODE__INTERNAL) {
				log_line l;
				log_begin(&l, LOG_ERROR, "sql error");
				log_str(&l, "sqlstate", state);
				log_str(&l, "error",
				    r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(c->pg));
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
		if (!idle || reconnected || (flags & PG_PINNED) != 0)
			return COMANDA__CODE__UNAVAILABLE;
		reconnected = true;
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

int pg_exec_int64(pg_conn *c, const char *sql, int n_params, const char *const *params, int64_t *out)
{
	PGresult *r = NULL;
	int code = pg_exec(c, sql, n_params, params, &r);
	*out = 0;
	if (code == COMANDA__CODE__OK && PQntuples(r) < 1)
		code = COMANDA__CODE__INTERNAL;
	if (code == COMANDA__CODE__OK)
		*out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return code;
}

bool pg_probe(void *arg)
{
	pg_conn_set_deadline(arg, clock_mono_us() + (int64_t)PG_PROBE_TIMEOUT_MS * 1000);
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

/* The runner's own limit for one step (a statement of its own, or one
 * migration's whole transaction): the migration's time, plus a margin for
 * the server's own cancel to come first when it can. Outside a transaction
 * only (a new deadline ends an open one: pg_conn_set_deadline). */
static void pg_mig_deadline(pg_conn *c, int timeout_s)
{
	pg_conn_set_deadline(c, clock_mono_us() + ((int64_t)timeout_s * 1000 + PG_MIGRATE_MARGIN_MS) * 1000);
}

/* A failed step's code for pg_migrate: UNAVAILABLE and DEADLINE_EXCEEDED
 * (worth retrying) stay, anything else is INTERNAL. */
static int pg_mig_code(int code)
{
	return code == COMANDA__CODE__UNAVAILABLE || code == COMANDA__CODE__DEADLINE_EXCEEDED ? code
	                                                                                     : COMANDA__CODE__INTERNAL;
}

/* Applies one migration and its record in one transaction. */
static int pg_migrate_one(pg_conn *c, const pg_migration *m, int timeout_s)
{
	char version[16];
	snprintf(version, sizeof(version), "%d", m->version);
	const char *params[] = { version, m->name };
	pg_mig_deadline(c, timeout_s);
	int code = pg_mig_run(c, "BEGIN", 0, NULL);
	PGresult *r = NULL;
	if (code == COMANDA__CODE__OK)
		code = pg_exec_any(c, m->sql, 0, NULL, &r, PG_SIMPLE | PG_PINNED);
	if (code != COMANDA__CODE__OK && (r != NULL || code == COMANDA__CODE__DEADLINE_EXCEEDED)) {
		/* The operator needs the whole message (it names the line). Out
		 * of time is not the migration's fault: it is tried again. */
		bool late = code == COMANDA__CODE__DEADLINE_EXCEEDED;
		log_line l;
		log_begin(&l, late ? LOG_WARN : LOG_ERROR,
		    late ? "migration did not finish within DB_MIGRATION_TIMEOUT_S (a statement, or a lock wait): "
		           "rolled back, to be tried again"
		         : "migration failed");
		log_int(&l, "version", m->version);
		log_str(&l, "name", m->name);
		log_str(&l, "error", r != NULL ? PQresultErrorMessage(r) : "");
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
		return pg_mig_code(code);
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
static int pg_migrate_locked(pg_conn *c, const pg_migration *m, size_t n, int timeout_s)
{
	pg_mig_deadline(c, timeout_s);
	int code = pg_mig_run(c,
	    "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
	    0, NULL);
	PGresult *rec = NULL;
	pg_mig_deadline(c, timeout_s);
	if (code == COMANDA__CODE__OK)
		code = pg_mig_exec(c, "SELECT version, name FROM schema_migrations", 0, NULL, &rec);
	if (code != COMANDA__CODE__OK) {
		PQclear(rec);
		return pg_mig_code(code);
	}
	size_t applied = 0;
	for (size_t i = 0; i < n && code == COMANDA__CODE__OK; i++) {
		const char *name = pg_recorded_name(rec, m[i].version);
		if (name == NULL) {
			code = pg_migrate_one(c, &m[i], timeout_s);
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

int pg_migrate(const char *url, int connect_timeout_s, int timeout_s, const char *app, const pg_migration *m,
    size_t n)
{
	long bad = pg_migrations_check(m, n);
	if (bad >= 0) {
		log_printf(LOG_ERROR, "migration list is not in strictly increasing version order at entry %ld", bad);
		return COMANDA__CODE__INTERNAL;
	}
	if (timeout_s < 1)
		timeout_s = 1;
	pg_conn *c = pg_conn_new(url, connect_timeout_s, app);
	if (c == NULL)
		return COMANDA__CODE__RESOURCE_EXHAUSTED;
	if (!pg_conn_ok(c)) {
		pg_conn_free(c);
		return COMANDA__CODE__UNAVAILABLE;
	}
	/* The server's own limits for this session, which it enforces while it
	 * runs (a frozen one enforces nothing: pg_mig_deadline is for that):
	 * a statement that runs longer than a migration may, or waits for a
	 * lock longer than PG_MIGRATE_LOCK_TIMEOUT_MS (an ALTER TABLE queued
	 * behind the running version's transactions would queue every later
	 * statement on that table behind it), is cancelled and its migration
	 * rolled back. */
	char statement_ms[24], lock_ms[24];
	snprintf(statement_ms, sizeof(statement_ms), "%lld", (long long)timeout_s * 1000);
	snprintf(lock_ms, sizeof(lock_ms), "%lld",
	    (long long)timeout_s * 1000 < PG_MIGRATE_LOCK_TIMEOUT_MS ? (long long)timeout_s * 1000
	                                                           : (long long)PG_MIGRATE_LOCK_TIMEOUT_MS);
	const char *limits[] = { statement_ms, lock_ms };
	pg_mig_deadline(c, timeout_s);
	int code = pg_mig_run(c, "SELECT set_config('statement_timeout', $1, false), set_config('lock_timeout', $2, false)",
	    2, limits);
	/* A session lock: released by the unlock below or, if this process dies
	 * half-way, by the server when the connection ends. Tried, not waited
	 * for: pg_advisory_lock would wait for as long as another process
	 * migrates (or is frozen in the middle of it), silently and deaf to
	 * the caller's stop; the caller waits and tries again instead. */
	PGresult *r = NULL;
	if (code == COMANDA__CODE__OK)
		code = pg_mig_exec(c, "SELECT pg_try_advisory_lock(" PG_MIGRATE_LOCK ")", 0, NULL, &r);
	if (code == COMANDA__CODE__OK && strcmp(PQgetvalue(r, 0, 0), "t") != 0)
		code = COMANDA__CODE__ABORTED;
	else if (code != COMANDA__CODE__OK)
		code = pg_mig_code(code);
	PQclear(r);
	if (code == COMANDA__CODE__OK) {
		code = pg_migrate_locked(c, m, n, timeout_s);
		pg_mig_deadline(c, timeout_s);
		if (pg_conn_ok(c))
			pg_mig_run(c, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK ")", 0, NULL);
	}
	pg_conn_free(c);
	return code;
}
