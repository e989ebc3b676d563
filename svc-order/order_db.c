#include "order_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comanda/rpc.pb-c.h"
#include "log.h"
#include "order_stream.h"
#include "stopsig.h"

struct order_db {
	mongoc_uri_t *uri;            /* the background clients', the probe's and /status's */
	mongoc_client_pool_t *pool;   /* the RPC workers' */
	char *name;                   /* database name */
	char *app;
	mongoc_client_t *probe;       /* the probe thread's; NULL: make anew */
	mongoc_client_t *status;      /* /status's; NULL: make anew */
};

/* The driver logs to stderr by default, which would break our one JSON
 * object per line. */
static void order_db_log(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
	(void)data;
	int lv = level <= MONGOC_LOG_LEVEL_CRITICAL ? LOG_ERROR
	    : level == MONGOC_LOG_LEVEL_WARNING     ? LOG_WARN
	    : level <= MONGOC_LOG_LEVEL_INFO        ? LOG_INFO
	                                            : LOG_DEBUG;
	/* FerretDB v1 has no sessions: the driver's goodbye "endSessions" fails
	 * at every shutdown, harmlessly. */
	if (strstr(message, "endSessions") != NULL)
		lv = LOG_DEBUG;
	if (!log_enabled(lv))
		return;
	log_line l;
	log_begin(&l, lv, "mongoc");
	log_str(&l, "domain", domain);
	log_str(&l, "error", message);
	log_end(&l);
}

/* The server errors that mean "not now, this server cannot serve it": the
 * retryable write errors of MongoDB's drivers specification (a network
 * error seen by the server, shutting down, stepping down, no longer
 * primary) and an operation cut off by its time limit. */
static bool order_db_transient(uint32_t code)
{
	static const uint32_t codes[] = { 6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436 };
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (code == codes[i])
			return true;
	return false;
}

int order_db_code(const bson_error_t *err)
{
	if (err->domain == MONGOC_ERROR_STREAM || err->domain == MONGOC_ERROR_SERVER_SELECTION)
		return COMANDA__CODE__UNAVAILABLE;
	if (err->code == 11000)
		return COMANDA__CODE__ALREADY_EXISTS;
	if (err->domain == MONGOC_ERROR_SERVER && order_db_transient(err->code))
		return COMANDA__CODE__UNAVAILABLE;
	return COMANDA__CODE__INTERNAL;
}

/* The ping command on client (from the calling thread): true when the
 * server answers it. */
static bool order_db_client_ping(mongoc_client_t *client)
{
	bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
	bson_t reply;
	bool ok = cmd != NULL && mongoc_client_command_simple(client, "admin", cmd, NULL, &reply, NULL);
	if (cmd != NULL)
		bson_destroy(&reply);
	bson_destroy(cmd);
	return ok;
}

int order_db_code_on(mongoc_client_t *client, const bson_error_t *err)
{
	int code = order_db_code(err);
	/* FerretDB answers every command with InternalError (1) while its
	 * PostgreSQL is down ("failed to connect to ...", or the backend's
	 * "terminating connection" as it stops), which MongoDB uses for a real
	 * fault too: the code alone cannot tell. A server that cannot answer a
	 * ping either cannot serve at all; one that can refused this command.
	 * Not the client's own failures (MONGOC_ERROR_CLIENT: authentication
	 * above all), which fail the ping the same way and are no outage. Any
	 * other domain counts, as it did for requests: a write's error may come
	 * in the collection's or the write concern's domain, not the server's. */
	if (code == COMANDA__CODE__INTERNAL && err->domain != MONGOC_ERROR_CLIENT && client != NULL &&
	    !order_db_client_ping(client))
		code = COMANDA__CODE__UNAVAILABLE;
	return code;
}

/* Sets an int option unless the URI already does: the operator's choice wins. */
static void order_db_default(mongoc_uri_t *uri, const char *key, int32_t value)
{
	if (!mongoc_uri_has_option(uri, key))
		mongoc_uri_set_option_as_int32(uri, key, value);
}

/* A pool for uri with at most max clients; NULL when out of memory. */
static mongoc_client_pool_t *order_db_pool(const mongoc_uri_t *uri, const char *app, int max)
{
	mongoc_client_pool_t *pool = mongoc_client_pool_new(uri);
	if (pool != NULL) {
		mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
		mongoc_client_pool_set_appname(pool, app);
		mongoc_client_pool_max_size(pool, (uint32_t)max);
	}
	return pool;
}

order_db *order_db_open(const char *url, int max_clients, int timeout_ms, int answer_ms, const char *app)
{
	mongoc_init();
	mongoc_log_set_handler(order_db_log, NULL);
	order_db *db = calloc(1, sizeof(*db));
	if (db == NULL)
		return NULL;
	bson_error_t err;
	db->uri = mongoc_uri_new_with_error(url, &err);
	if (db->uri == NULL) {
		/* The URI may carry a password: the driver's message names the
		 * problem without echoing the URI. */
		log_printf(LOG_ERROR, "ORDER_MONGO_URL is not a valid MongoDB URI: %s", err.message);
		order_db_close(db);
		return NULL;
	}
	/* The driver's defaults (30 s server selection, 10 s connect, 300 s for
	 * an answer) would hold a request far past any RPC deadline while the
	 * server is down or frozen. Server selection gives up within a second,
	 * so a request that meets a server gone answers UNAVAILABLE while its
	 * caller still waits (the RPC default is 2 s); once the health probe
	 * has seen it, handlers answer at once (order_service.c). A server that
	 * takes a request and never answers holds its worker answer_ms: libmongoc
	 * 1.23 has no per-operation client timeout, so the workers' pool has a
	 * socket timeout of its own, and the background clients a long one,
	 * since the relay's update_many of a batch took up to 2 s on FerretDB
	 * under load. */
	order_db_default(db->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout_ms < 1000 ? timeout_ms : 1000);
	order_db_default(db->uri, MONGOC_URI_CONNECTTIMEOUTMS, timeout_ms);
	mongoc_uri_t *requests = mongoc_uri_copy(db->uri);
	order_db_default(db->uri, MONGOC_URI_SOCKETTIMEOUTMS, timeout_ms * ORDER_DB_SOCKET_TIMEOUTS);
	const char *name = mongoc_uri_get_database(db->uri);
	db->name = strdup(name != NULL ? name : "comanda_orders");
	db->app = strdup(app);
	if (requests != NULL) {
		order_db_default(requests, MONGOC_URI_SOCKETTIMEOUTMS, answer_ms);
		db->pool = order_db_pool(requests, app, max_clients);
		mongoc_uri_destroy(requests);
	}
	if (db->name == NULL || db->app == NULL || db->pool == NULL) {
		order_db_close(db);
		return NULL;
	}
	return db;
}

void order_db_close(order_db *db)
{
	if (db == NULL)
		return;
	order_db_client_free(db->probe);
	order_db_client_free(db->status);
	if (db->pool != NULL && stopsig_grace_over()) {
		/* As order_db_client_free: no goodbye to a server that did not
		 * answer within the stop's grace. The pool's goodbye would wait
		 * for it up to the workers' answer timeout. */
		mongoc_client_t *c = mongoc_client_pool_try_pop(db->pool);
		if (c != NULL) {
			mongoc_client_reset(c);
			mongoc_client_pool_push(db->pool, c);
		}
	}
	if (db->pool != NULL)
		mongoc_client_pool_destroy(db->pool);
	mongoc_uri_destroy(db->uri);
	free(db->name);
	free(db->app);
	free(db);
}

void order_db_shutdown(void)
{
	mongoc_cleanup();
}

const char *order_db_name(const order_db *db)
{
	return db->name;
}

mongoc_client_t *order_db_pop(order_db *db)
{
	return mongoc_client_pool_pop(db->pool);
}

void order_db_push(order_db *db, mongoc_client_t *client)
{
	if (client != NULL)
		mongoc_client_pool_push(db->pool, client);
}

/* A single-threaded client of db's URI whose connections are stop-aware
 * (order_stream.h): the background clients, the probe's and /status's. */
static mongoc_client_t *order_db_client(order_db *db)
{
	mongoc_client_t *c = mongoc_client_new_from_uri(db->uri);
	if (c != NULL) {
		mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
		mongoc_client_set_appname(c, db->app);
		order_stream_use(c);
	}
	return c;
}

mongoc_client_t *order_db_background(order_db *db)
{
	return order_db_client(db);
}

void order_db_client_free(mongoc_client_t *client)
{
	/* A client's last act is endSessions, the server's sessions' goodbye.
	 * Once the stop's grace is over (a server that may not be answering),
	 * the sessions are dropped without it (mongoc_client_reset): MongoDB
	 * ends them itself after logicalSessionTimeoutMinutes, and FerretDB v1
	 * refuses endSessions anyway. */
	if (client != NULL && stopsig_grace_over())
		mongoc_client_reset(client);
	mongoc_client_destroy(client);
}

/* The order store's indexes:
 * - user_created: a user's orders newest first (GET /api/orders), with _id
 *   to break ties for the cursor;
 * - created: everyone's, for admins;
 * - user_idempotency: one order per (user, Idempotency-Key); plain unique,
 *   not partial (see order_db.h);
 * - outbox_pending: orders whose events are not yet published, for the relay
 *   (the outbox lives in the order document: FerretDB v1 has no
 *   multi-document transactions). */
static const struct {
	const char *name;
	const char *key;   /* extended JSON, in key order */
	bool unique;
} order_db_indexes[] = {
	{ "user_created", "{\"user_id\": 1, \"created_at\": -1, \"_id\": -1}", false },
	{ "created", "{\"created_at\": -1, \"_id\": -1}", false },
	{ "user_idempotency", "{\"user_id\": 1, \"idempotency_key\": 1}", true },
	{ "outbox_pending", "{\"outbox_pending\": 1}", false },
};

/* createIndexes for index i alone. */
static bson_t *order_db_index_command(size_t i)
{
	bson_error_t err;
	bson_t *key = bson_new_from_json((const uint8_t *)order_db_indexes[i].key, -1, &err);
	if (key == NULL)
		return NULL;
	bson_t *cmd = bson_new();
	bson_t list, spec;
	BSON_APPEND_UTF8(cmd, "createIndexes", ORDER_DB_COLLECTION);
	BSON_APPEND_ARRAY_BEGIN(cmd, "indexes", &list);
	BSON_APPEND_DOCUMENT_BEGIN(&list, "0", &spec);
	BSON_APPEND_DOCUMENT(&spec, "key", key);
	BSON_APPEND_UTF8(&spec, "name", order_db_indexes[i].name);
	if (order_db_indexes[i].unique)
		BSON_APPEND_BOOL(&spec, "unique", true);
	bson_append_document_end(&list, &spec);
	bson_append_array_end(cmd, &list);
	bson_destroy(key);
	return cmd;
}

/* Creates index i on d (a database of client c). Returns OK, UNAVAILABLE
 * (the server cannot serve now; why says why) or INTERNAL (a refusal,
 * logged with the server's answer). */
static int order_db_create_index(mongoc_client_t *c, mongoc_database_t *d, size_t i, bson_error_t *why)
{
	bson_t *cmd = order_db_index_command(i);
	if (cmd == NULL) {
		log_printf(LOG_ERROR, "createIndexes: out of memory");
		return COMANDA__CODE__INTERNAL;
	}
	int code = COMANDA__CODE__OK;
	/* A refusal counts when the server makes it twice while answering
	 * pings: the first may have been met half-way through its backend's
	 * return (PostgreSQL back between FerretDB's answer and our ping).
	 * createIndexes of an index that exists is a no-op, so asking again is
	 * harmless. */
	for (int attempt = 0; attempt < 2; attempt++) {
		bson_error_t err;
		bson_t reply;
		bool ok = mongoc_database_write_command_with_opts(d, cmd, NULL, &reply, &err);
		code = ok ? COMANDA__CODE__OK : order_db_code_on(c, &err);
		if (code == COMANDA__CODE__UNAVAILABLE)
			*why = err;
		else if (code != COMANDA__CODE__OK && attempt == 1) {
			code = COMANDA__CODE__INTERNAL;
			bson_iter_t it;
			log_line l;
			log_begin(&l, LOG_ERROR, "createIndexes refused");
			log_str(&l, "index", order_db_indexes[i].name);
			log_int(&l, "code", err.code);
			if (bson_iter_init_find(&it, &reply, "codeName") && BSON_ITER_HOLDS_UTF8(&it))
				log_str(&l, "code_name", bson_iter_utf8(&it, NULL));
			log_str(&l, "error", err.message);
			log_end(&l);
		}
		bson_destroy(&reply);
		if (code == COMANDA__CODE__OK || code == COMANDA__CODE__UNAVAILABLE)
			break;
	}
	bson_destroy(cmd);
	return code;
}

int order_db_ensure_indexes(order_db *db, bson_error_t *why)
{
	/* building an index on a large collection takes long: not a request */
	mongoc_client_t *c = order_db_background(db);
	if (c == NULL) {
		log_printf(LOG_ERROR, "createIndexes: out of memory");
		return COMANDA__CODE__INTERNAL;
	}
	mongoc_database_t *d = mongoc_client_get_database(c, db->name);
	int code = COMANDA__CODE__OK;
	/* One index per command: FerretDB v1.24.2 drops the connection (a panic,
	 * "slice bounds out of range [:3:2]") when one createIndexes lists
	 * several indexes that all exist already, i.e. at every restart. */
	for (size_t i = 0; i < sizeof(order_db_indexes) / sizeof(order_db_indexes[0]) && code == COMANDA__CODE__OK; i++)
		code = order_db_create_index(c, d, i, why);
	mongoc_database_destroy(d);
	order_db_client_free(c);
	return code;
}

/* Runs a read command on *slot's client, making it when needed. After a
 * failure the client is dropped: a single-threaded client waits 5 s
 * before it tries a failed server again, which would hide the server's
 * return for that long. */
static int order_db_command(order_db *db, mongoc_client_t **slot, const char *dbname, const bson_t *cmd,
    bson_t *reply)
{
	if (*slot == NULL)
		*slot = order_db_client(db);
	if (*slot == NULL) {
		bson_init(reply);
		return COMANDA__CODE__RESOURCE_EXHAUSTED;
	}
	bson_error_t err;
	if (mongoc_client_command_simple(*slot, dbname, cmd, NULL, reply, &err))
		return COMANDA__CODE__OK;
	order_db_client_free(*slot);
	*slot = NULL;
	return order_db_code(&err);
}

bool order_db_probe(void *arg)
{
	order_db *db = arg;
	bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
	bson_t reply;
	int code = cmd != NULL ? order_db_command(db, &db->probe, "admin", cmd, &reply) : COMANDA__CODE__INTERNAL;
	if (cmd != NULL)
		bson_destroy(&reply);
	bson_destroy(cmd);
	return code == COMANDA__CODE__OK;
}

/* The count command: one round trip on both servers. Without a query
 * MongoDB answers from collection metadata, which an unclean shutdown can
 * leave slightly off: good enough for /status. */
static int order_db_count_where(order_db *db, bson_t *cmd, int64_t *n)
{
	if (cmd == NULL)
		return COMANDA__CODE__RESOURCE_EXHAUSTED;
	bson_t reply;
	int code = order_db_command(db, &db->status, db->name, cmd, &reply);
	bson_iter_t it;
	if (code == COMANDA__CODE__OK && bson_iter_init_find(&it, &reply, "n") && BSON_ITER_HOLDS_NUMBER(&it))
		*n = bson_iter_as_int64(&it);
	else if (code == COMANDA__CODE__OK)
		code = COMANDA__CODE__INTERNAL;
	bson_destroy(&reply);
	bson_destroy(cmd);
	return code;
}

int order_db_count(order_db *db, int64_t *n)
{
	return order_db_count_where(db, BCON_NEW("count", BCON_UTF8(ORDER_DB_COLLECTION)), n);
}

int order_db_count_pending(order_db *db, int64_t *n)
{
	return order_db_count_where(db,
	    BCON_NEW("count", BCON_UTF8(ORDER_DB_COLLECTION), "query", "{", "outbox_pending", BCON_BOOL(true), "}"), n);
}
