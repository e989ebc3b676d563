/*
 * pg: PostgreSQL (libpq) helpers shared by the PostgreSQL services.
 *
 *  - pg_conn: one connection that reconnects by itself. A database restart
 *    costs the requests in flight at that moment, never the process: the
 *    next statement finds the connection broken and opens a new one.
 *  - pg_exec: a parameterised statement whose failures come back as a
 *    canonical Code (comanda.Code), so handlers can pass them on. Each SQL
 *    text is prepared once per connection and executed by name afterwards.
 *  - pg_migrate: the schema migrations compiled into the binary, applied in
 *    order, each in its own transaction, recorded in schema_migrations and
 *    serialised between replicas by an advisory lock.
 *
 * Threading: a pg_conn belongs to one thread at a time (libpq connections are
 * not shared); an RPC worker owns one for its whole life. Everything else is
 * thread-safe.
 */
#ifndef COMANDA_PG_H
#define COMANDA_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

typedef struct pg_conn pg_conn;

/* Makes a connection to `url` (a libpq connection string or URI) and tries to
 * connect once, waiting at most connect_timeout_s; a database that is down
 * now is not an error (the connection is retried on first use). `app` is
 * the application_name the server shows ("svc-user"). Returns NULL only when
 * out of memory. The strings are copied. */
pg_conn *pg_conn_new(const char *url, int connect_timeout_s, const char *app);

/* Closes the connection and frees c (NULL is fine). */
void pg_conn_free(pg_conn *c);

/* True when c holds an open connection (without touching the network: a
 * server that died since the last statement still looks connected). */
bool pg_conn_ok(const pg_conn *c);

/* Sets when the caller stops waiting for c (clock_mono_us; 0: never, the
 * default). From then on pg_exec gives up on a server that has not answered
 * a statement by that time, or a connect that has not finished: the
 * connection is closed (what the session was doing is unknown; the server
 * ends the statement and rolls back an open transaction, releasing its
 * locks, within 250 ms: every session is set up with
 * client_connection_check_interval) and the answer is UNAVAILABLE, which the
 * caller can still pass on before its own deadline. A pg_exec begun after
 * the deadline sends nothing and answers DEADLINE_EXCEEDED (closing the
 * connection if a transaction is open, so that it is rolled back even though
 * the caller's ROLLBACK is refused too). A different deadline means a new
 * caller, which never inherits a transaction: one left open is rolled back
 * the same way. svc_db sets it for each request from the RPC's deadline. */
void pg_conn_set_deadline(pg_conn *c, int64_t deadline_us);

/* Runs one statement with text parameters (params[i] NULL is SQL NULL) and
 * text results. Returns:
 *   OK               *res is the result (PGRES_COMMAND_OK or PGRES_TUPLES_OK)
 *   UNAVAILABLE      the database cannot be reached, the connection broke,
 *                    or the server did not answer by c's deadline or by
 *                    the end of the process's stop grace (lib/stopsig.h:
 *                    STOPSIG_GRACE_MS after SIGTERM, whatever the deadline;
 *                    the connection is closed as at the deadline, and after
 *                    the grace nothing is sent)
 *   DEADLINE_EXCEEDED  c's deadline had passed before anything was sent, or
 *                    a statement timeout (57014) or lock timeout (55P03)
 *   ALREADY_EXISTS   unique violation (23505)
 *   FAILED_PRECONDITION  another integrity violation (23xxx) or a raised
 *                    exception (P0001)
 *   ABORTED          serialization failure or deadlock (40001, 40P01)
 *   INTERNAL         any other SQL error (logged with its SQLSTATE)
 * Whenever the server answered (OK or an SQL error) *res is its result, so
 * the caller can read PG_DIAG_CONSTRAINT_NAME; otherwise *res is NULL. The
 * caller PQclear()s *res in every case.
 *
 * Reconnecting: a connection found broken (before sending, or by this very
 * statement) is reopened and the statement sent once more, but only when the
 * connection was outside a transaction block: there, a statement that
 * failed on a dead connection is either unapplied or, in the rare case the
 * server died while running it, applied once. So a statement run outside a
 * transaction must be safe to repeat (a read, BEGIN, an upsert); a write
 * that must not repeat belongs in BEGIN ... COMMIT, where a broken
 * connection gives UNAVAILABLE and the server has rolled the work back
 * (except for a lost COMMIT reply, which no client can disambiguate: that is
 * what idempotency keys are for). After UNAVAILABLE the next pg_exec starts
 * from a fresh connection outside any transaction.
 *
 * Prepared once per connection: the first pg_exec of an SQL text on a
 * server session prepares it as a named statement ("c<N>") and later ones
 * only execute it, because an unnamed statement is parsed and planned again
 * on every call: PostgreSQL spent 98 µs of CPU per query that way against
 * 41 µs prepared (pgbench, docs/PERFORMANCE.md, finding 4). A text's first
 * use on a session costs one more round trip. The cache is keyed by the
 * text, not its address (texts built with snprintf on the stack are fine),
 * holds PG_STMT_CACHE_MAX texts per connection and evicts none: further new
 * texts run unprepared, so SQL with values spliced in cannot thrash it (pass
 * values as parameters). A new session (a reconnect) starts with an empty
 * cache. The codes and results above stay as they were, except:
 *  - A statement invalidated under the connection (26000: the session lost
 *    it; 0A000 "cached plan must not change result type": another replica's
 *    migration changed the columns it returns) is prepared again. Outside a
 *    transaction block it is run once more (it failed, so it changed
 *    nothing) and the caller sees only that second outcome; inside one its
 *    error is returned (INTERNAL; the transaction is aborted anyway), at
 *    most once per connection and schema change, and the next use prepares
 *    it again.
 * Also worth knowing:
 *  - After five executions PostgreSQL may run a statement with a generic
 *    plan instead of one made for the parameters' values (plan_cache_mode).
 *  - The URL must reach a server session that lasts as long as the
 *    connection: PgBouncer in transaction pooling mode would lose the
 *    statements between transactions.
 *
 * c may be NULL (a worker whose connection could not even be allocated):
 * that is UNAVAILABLE, so handlers need no check of their own. */
int pg_exec(pg_conn *c, const char *sql, int n_params, const char *const *params, PGresult **res);

/* pg_exec for a statement whose result is not needed. */
int pg_run(pg_conn *c, const char *sql, int n_params, const char *const *params);

/* pg_exec for a statement whose answer is one integer in its first row and
 * column (a count(*), an id from RETURNING): OK with *out set, else the
 * failure's code (*out 0); a statement that answered no row is INTERNAL. */
int pg_exec_int64(pg_conn *c, const char *sql, int n_params, const char *const *params, int64_t *out);

/* Reachability probe for the health monitor: `SELECT 1` on c (a pg_conn
 * dedicated to the probe), reconnecting when needed, abandoned after
 * PG_PROBE_TIMEOUT_MS (so that a frozen server's connection is replaced, not
 * waited on for ever). arg is the pg_conn. */
#define PG_PROBE_TIMEOUT_MS 3000
bool pg_probe(void *arg);

/* The canonical Code for a SQLSTATE (see pg_exec); exposed for tests. */
int pg_code_for_sqlstate(const char *sqlstate);

/* ---- migrations ---------------------------------------------------------- */

/* One migration: svc-NAME/migrations/NNN_name.sql, embedded by tools/embed_sql.py. */
typedef struct pg_migration {
	int version;        /* NNN, > 0 */
	const char *name;   /* "users" */
	const char *sql;    /* the file's text: statements without BEGIN/COMMIT */
} pg_migration;

/* Parses a migration file name "NNN_name.sql" (NNN: 1..9 digits, > 0; name:
 * [a-z0-9_]+). On success stores the version and name (NUL-terminated, cap
 * bytes) and returns true. */
bool pg_migration_parse_name(const char *file, int *version, char *name, size_t cap);

/* Checks a list: versions > 0 and strictly increasing. Returns -1 when
 * valid, else the index of the first bad entry. */
long pg_migrations_check(const pg_migration *m, size_t n);

/* The longest a migration's statement waits for a lock (lock_timeout;
 * timeout_s of pg_migrate when that is shorter). */
#define PG_MIGRATE_LOCK_TIMEOUT_MS 5000
/* How much longer than timeout_s pg_migrate waits for a server that does
 * not answer a step, so that a live server's own cancel comes first. */
#define PG_MIGRATE_MARGIN_MS 2000

/* Applies the migrations of `m` (n entries, checked as above) that
 * schema_migrations does not record yet, each with its record in one
 * transaction, under an advisory lock so concurrent starts run them once.
 * A recorded version whose name differs from m's fails (two services'
 * histories in one database, or an edited history). Does not wait for the
 * lock: while another process holds it (applying the migrations, or frozen
 * doing so) it returns ABORTED at once, and the caller waits as it likes
 * (and can stop meanwhile) before calling again.
 *
 * Time: each migration has timeout_s (DB_MIGRATION_TIMEOUT_S). The server
 * cancels a statement that runs longer (statement_timeout of the session)
 * or waits for a lock longer than PG_MIGRATE_LOCK_TIMEOUT_MS (lock_timeout);
 * the migration is then rolled back: DEADLINE_EXCEEDED. A server that has
 * not answered a migration (its whole transaction) or a step of the runner
 * within timeout_s + PG_MIGRATE_MARGIN_MS, a frozen one, is given up: its
 * connection closed (the server rolls back when it notices), UNAVAILABLE.
 * A stop (lib/stopsig.h) ends any wait STOPSIG_GRACE_MS after the signal,
 * UNAVAILABLE too.
 *
 * Returns OK; ABORTED as above; UNAVAILABLE when the database cannot be
 * reached or did not answer in time, and DEADLINE_EXCEEDED as above (both
 * worth retrying); INTERNAL when a migration fails (nothing of that
 * migration is applied; the ones before it stay). Logs what it did. */
int pg_migrate(const char *url, int connect_timeout_s, int timeout_s, const char *app, const pg_migration *m,
    size_t n);

#endif
