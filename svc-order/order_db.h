/*
 * order_db: svc-order's MongoDB (mongo-c-driver): the client pools its RPC
 * workers and its outbox relay draw from, the indexes the order store relies
 * on, the "database" probe and the counters of /status.
 *
 * Portability: the code speaks only the subset that both MongoDB 7 and
 * FerretDB v1 (on PostgreSQL) serve. In particular FerretDB v1.24 refuses
 * partialFilterExpression (createIndexes -> error 238 NotImplemented) and
 * accepts but ignores `sparse`, and its unique indexes do not index a
 * missing field at all (MongoDB indexes it as null). So the idempotency
 * index is a plain unique {user_id, idempotency_key} and every order
 * document carries an idempotency_key: the client's Idempotency-Key, or a
 * value of its own ("auto:<_id hex>") when the client sent none. Behaviour
 * is then the same on both servers.
 *
 * Threading: order_db_open/close/shutdown and order_db_ensure_indexes on the
 * main thread; order_db_pop/push and order_db_background from any thread;
 * order_db_probe only on the probe thread; order_db_count only from one
 * thread at a time (svc runs /status under a lock).
 */
#ifndef ORDER_DB_H
#define ORDER_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

typedef struct order_db order_db;

/* A server that takes a command and never answers holds the outbox relay
 * this many connect timeouts (socketTimeoutMS, unless the URI sets it),
 * unless the process stops meanwhile (order_stream.h). */
#define ORDER_DB_SOCKET_TIMEOUTS 5

/* The collection of orders. */
#define ORDER_DB_COLLECTION "orders"

/* Opens the RPC workers' pool for `url` (the database is the URI's path,
 * "comanda_orders" when it has none), with at most max_clients clients.
 * Unless the URI sets them, timeout_ms bounds connecting, server selection
 * waits at most min(timeout_ms, 1 s), and an answer waits at most answer_ms
 * for requests (the RPC deadline less the reply's margin: a frozen server
 * then fails a request while its caller still waits) and
 * ORDER_DB_SOCKET_TIMEOUTS times timeout_ms for the background clients
 * (order_db_background, the probe, /status). Connects lazily. Returns NULL
 * when the URI is malformed (logged) or out of memory. Initialises the
 * driver (mongoc_init, once per process) and routes its log into ours. */
order_db *order_db_open(const char *url, int max_clients, int timeout_ms, int answer_ms, const char *app);

/* Frees everything; every popped client must have been pushed back. NULL is
 * fine. */
void order_db_close(order_db *db);

/* Releases the driver's globals (mongoc_cleanup): once, at process exit,
 * after the last order_db_close; no order_db may be opened afterwards (the
 * driver cannot be initialised twice). */
void order_db_shutdown(void);

/* The database name the URI chose. */
const char *order_db_name(const order_db *db);

/* Creates the order store's indexes if missing (createIndexes is a no-op for
 * an index that exists with the same spec). Returns OK; UNAVAILABLE when the
 * server cannot serve now (unreachable, a transient error, or an error
 * while it fails a ping: order_db_code_on), worth retrying, with the
 * error in *why; or INTERNAL when it refused, twice (logged with the
 * server's code, codeName and message). */
int order_db_ensure_indexes(order_db *db, bson_error_t *why);

/* A client of the RPC workers' pool, for one thread at a time; blocks while
 * all of them are out. Give it back with order_db_push. */
mongoc_client_t *order_db_pop(order_db *db);
void order_db_push(order_db *db, mongoc_client_t *client);

/* A client of its own for background work that may take seconds (the outbox
 * relay's batches, creating the indexes): single-threaded (use it from one
 * thread at a time), with the long answer timeout of order_db_open, and
 * waits that end at the process's stop (order_stream.h). After a failure,
 * replace it (order_db_client_free, then a new one): a single-threaded
 * client does not try a server that failed again for 5 s, which would hide
 * the server's return that long. NULL when out of memory. */
mongoc_client_t *order_db_background(order_db *db);

/* Frees a client of order_db_background (NULL is fine). */
void order_db_client_free(mongoc_client_t *client);

/* Health probe (arg: the order_db): the `ping` command on a client of the
 * probe's own. */
bool order_db_probe(void *arg);

/* The number of orders, into *n. Returns OK or UNAVAILABLE/INTERNAL. */
int order_db_count(order_db *db, int64_t *n);

/* The number of orders whose outbox holds unpublished events. Same
 * threading as order_db_count. */
int order_db_count_pending(order_db *db, int64_t *n);

/* order_db_code for an error met on client (one the calling thread may
 * use; NULL: the code alone), asking the server when the code cannot
 * tell: an error that order_db_code calls INTERNAL, and not the client's
 * own (MONGOC_ERROR_CLIENT: authentication), is UNAVAILABLE when the
 * server then fails a ping (one more round trip, on
 * such errors only). FerretDB answers every command with InternalError
 * while its PostgreSQL is down; a server that answers pings refused the
 * command itself. The one rule for requests and start-up alike. */
int order_db_code_on(mongoc_client_t *client, const bson_error_t *err);

/* The canonical Code for a driver error (error API 2): UNAVAILABLE when the
 * server could not be reached (server selection, stream, timeouts) or
 * answered with a transient error (shutting down, not primary, stepped
 * down, a network error on its side, its time limit), ALREADY_EXISTS for a
 * duplicate key (11000), else INTERNAL. Exposed for
 * tests. */
int order_db_code(const bson_error_t *err);

#endif
