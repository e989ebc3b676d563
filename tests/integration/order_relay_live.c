/*
 * order_relay_live: svc-order's relay lock (svc-order/order_relay_lock.c)
 * against the stack's MongoDB-wire server, and the tool that
 * tests/integration/test_relay_replicas.sh uses to give svc-order's relays
 * a backlog.
 *
 *   order_relay_live                 the lock's checks, in a scratch database
 *                                    of their own (dropped at the end)
 *   order_relay_live backlog N TYPE  N order documents, each with one
 *                                    pending outbox event of type TYPE, in
 *                                    the orders collection (relay_test: TYPE)
 *   order_relay_live pending TYPE    how many of those are still pending
 *   order_relay_live clean TYPE      deletes them
 *   order_relay_live hold HOLDER MS  writes the relay lock as held by HOLDER
 *                                    until MS milliseconds from now (< 0: an
 *                                    expired lock, as a replica that died
 *                                    mid-scan leaves it)
 *   order_relay_live holder          prints the lock's holder, or "none"
 *   order_relay_live drop-lock       deletes the lock
 *
 * Environment: ORDER_MONGO_URL (required; the database is its path).
 * Output of the checks: "ok"/"FAIL" lines, then
 * "order_relay_live: N passed, M failed". Exit status 0 iff none failed
 * (the subcommands: 0 unless the server failed).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "clock.h"
#include "live.h"
#include "log.h"
#include "order_db.h"
#include "order_relay_lock.h"
#include "uuid.h"

static const char *live_url;

static mongoc_client_t *client_new(void)
{
	mongoc_client_t *c = mongoc_client_new(live_url);
	if (c != NULL)
		mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
	return c;
}

/* The database named by ORDER_MONGO_URL's path (comanda_orders without one). */
static void url_database(char *dst, size_t cap)
{
	mongoc_uri_t *uri = mongoc_uri_new(live_url);
	const char *db = uri ? mongoc_uri_get_database(uri) : NULL;
	snprintf(dst, cap, "%s", db && db[0] ? db : "comanda_orders");
	mongoc_uri_destroy(uri);
}

/* ---- the lock's checks ---------------------------------------------------- */

static char scratch_db[64];

/* Several threads, each with its own client and holder name, try the lock
 * over and over; whoever takes it marks itself inside, stays a moment and
 * gives it back. More than one inside at once is a broken lock. */
enum { RACE_THREADS = 6, RACE_ROUNDS = 60 };
static atomic_int race_inside, race_overlaps, race_taken, race_errors;

static void *race_main(void *arg)
{
	(void)arg;
	mongoc_client_t *c = client_new();
	char holder[ORDER_RELAY_LOCK_HOLDER_MAX];
	order_relay_lock_holder(holder, sizeof(holder));
	for (int i = 0; i < RACE_ROUNDS && c != NULL; i++) {
		order_relay_lock_result r = order_relay_lock_take(c, scratch_db, holder, clock_wall_ms(), 30000, NULL);
		if (r == ORDER_RELAY_LOCK_ERROR)
			atomic_fetch_add(&race_errors, 1);
		if (r != ORDER_RELAY_LOCK_TAKEN)
			continue;
		atomic_fetch_add(&race_taken, 1);
		if (atomic_fetch_add(&race_inside, 1) != 0)
			atomic_fetch_add(&race_overlaps, 1);
		usleep(2000); /* longer than an insert: a second taker would land inside */
		atomic_fetch_sub(&race_inside, 1);
		if (order_relay_lock_release(c, scratch_db, holder) != 0)
			atomic_fetch_add(&race_errors, 1);
	}
	if (c == NULL)
		atomic_fetch_add(&race_errors, 1);
	mongoc_client_destroy(c);
	return NULL;
}

static int run_checks(void)
{
	snprintf(scratch_db, sizeof(scratch_db), "comanda_relay_live_%ld", (long)getpid());
	mongoc_client_t *c = client_new();
	char a[ORDER_RELAY_LOCK_HOLDER_MAX], b[ORDER_RELAY_LOCK_HOLDER_MAX], x[ORDER_RELAY_LOCK_HOLDER_MAX];
	order_relay_lock_holder(a, sizeof(a));
	order_relay_lock_holder(b, sizeof(b));
	order_relay_lock_holder(x, sizeof(x));
	check(strcmp(a, b) != 0 && strchr(a, '/') != NULL, "every holder name is different: host/pid/uuid", "%s, %s", a,
	    b);
	int64_t now = clock_wall_ms();
	int over = -1;
	order_relay_lock_result r = order_relay_lock_take(c, scratch_db, a, now, 30000, &over);
	check(r == ORDER_RELAY_LOCK_TAKEN && over == 0, "a free lock is taken", "result %d, taken_over %d", r, over);
	r = order_relay_lock_take(c, scratch_db, b, now, 30000, &over);
	check(r == ORDER_RELAY_LOCK_BUSY, "a held lock is busy for another holder", "result %d", r);
	r = order_relay_lock_take(c, scratch_db, a, now, 30000, &over);
	check(r == ORDER_RELAY_LOCK_BUSY, "... and for its own holder too (one pass at a time, no re-entry)", "result %d",
	    r);
	check(order_relay_lock_release(c, scratch_db, b) == 0 &&
	          order_relay_lock_take(c, scratch_db, x, now, 30000, NULL) == ORDER_RELAY_LOCK_BUSY,
	    "giving back a lock one does not hold leaves it held", NULL);
	check(order_relay_lock_release(c, scratch_db, a) == 0 &&
	          order_relay_lock_take(c, scratch_db, b, now, 30000, &over) == ORDER_RELAY_LOCK_TAKEN && over == 0,
	    "once given back, another holder takes it", NULL);
	order_relay_lock_release(c, scratch_db, b);

	/* a holder that died mid-pass: its lock expired a while ago */
	r = order_relay_lock_take(c, scratch_db, a, now - 60000, 30000, NULL);
	check(r == ORDER_RELAY_LOCK_TAKEN, "set up: a lock that expired 30 s ago", "result %d", r);
	r = order_relay_lock_take(c, scratch_db, b, now, 30000, &over);
	check(r == ORDER_RELAY_LOCK_TAKEN && over == 1, "an expired lock is taken over", "result %d, taken_over %d", r,
	    over);
	check(order_relay_lock_release(c, scratch_db, a) == 0 &&
	          order_relay_lock_take(c, scratch_db, x, now, 30000, NULL) == ORDER_RELAY_LOCK_BUSY,
	    "the late holder giving its lock back leaves the new holder's", NULL);
	order_relay_lock_release(c, scratch_db, b);
	r = order_relay_lock_take(c, scratch_db, a, now, 1000, NULL);
	check(r == ORDER_RELAY_LOCK_TAKEN &&
	          order_relay_lock_take(c, scratch_db, b, now + 999, 30000, NULL) == ORDER_RELAY_LOCK_BUSY &&
	          order_relay_lock_take(c, scratch_db, b, now + 1001, 30000, &over) == ORDER_RELAY_LOCK_TAKEN && over == 1,
	    "a lease is held until its end and no longer", NULL);
	order_relay_lock_release(c, scratch_db, b);

	pthread_t th[RACE_THREADS];
	int started = 0;
	for (int i = 0; i < RACE_THREADS; i++)
		if (pthread_create(&th[i], NULL, race_main, NULL) == 0)
			started++;
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	check(started == RACE_THREADS && atomic_load(&race_errors) == 0, "the race ran without errors",
	    "%d threads, %d errors", started, atomic_load(&race_errors));
	check(atomic_load(&race_taken) > 0 && atomic_load(&race_overlaps) == 0,
	    "racing holders: never two inside at once (the insert is the atomic step)", "taken %d times, %d overlaps",
	    atomic_load(&race_taken), atomic_load(&race_overlaps));
	printf("     (%d threads x %d tries: taken %d times)\n", RACE_THREADS, RACE_ROUNDS, atomic_load(&race_taken));

	/* an unreachable server is an error, not "busy" */
	mongoc_client_t *dead = mongoc_client_new("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300");
	if (dead != NULL)
		mongoc_client_set_error_api(dead, MONGOC_ERROR_API_VERSION_2);
	r = dead ? order_relay_lock_take(dead, scratch_db, a, now, 30000, NULL) : ORDER_RELAY_LOCK_ERROR;
	check(r == ORDER_RELAY_LOCK_ERROR, "a server that cannot be reached gives an error", "result %d", r);
	mongoc_client_destroy(dead);

	mongoc_database_t *d = mongoc_client_get_database(c, scratch_db);
	mongoc_database_drop(d, NULL);
	mongoc_database_destroy(d);
	mongoc_client_destroy(c);
	return live_finish("order_relay_live");
}

/* ---- the tool's subcommands ---------------------------------------------- */

static mongoc_collection_t *collection(mongoc_client_t *c, const char *name)
{
	char db[128];
	url_database(db, sizeof(db));
	return mongoc_client_get_collection(c, db, name);
}

static int cmd_backlog(mongoc_client_t *c, long n, const char *type)
{
	mongoc_collection_t *coll = collection(c, ORDER_DB_COLLECTION);
	enum { BATCH = 500 };
	bson_t *docs[BATCH];
	int rc = 0;
	for (long done = 0; done < n && rc == 0;) {
		size_t k = 0;
		for (; k < BATCH && done < n; k++, done++) {
			bson_t *d = bson_new();
			bson_oid_t oid;
			bson_oid_init(&oid, NULL);
			char id[UUID_STR_LEN];
			uuid_v4(id);
			bson_t outbox, entry;
			BSON_APPEND_OID(d, "_id", &oid);
			BSON_APPEND_UTF8(d, "relay_test", type);
			BSON_APPEND_ARRAY_BEGIN(d, "outbox", &outbox);
			BSON_APPEND_DOCUMENT_BEGIN(&outbox, "0", &entry);
			BSON_APPEND_UTF8(&entry, "event_id", id);
			BSON_APPEND_UTF8(&entry, "type", type);
			BSON_APPEND_BINARY(&entry, "body", BSON_SUBTYPE_BINARY, (const uint8_t *)"", 0);
			bson_append_document_end(&outbox, &entry);
			bson_append_array_end(d, &outbox);
			BSON_APPEND_BOOL(d, "outbox_pending", true);
			BSON_APPEND_INT64(d, "outbox_published", 0);
			docs[k] = d;
		}
		bson_error_t err;
		if (!mongoc_collection_insert_many(coll, (const bson_t **)docs, k, NULL, NULL, &err)) {
			fprintf(stderr, "backlog: %s\n", err.message);
			rc = 1;
		}
		for (size_t i = 0; i < k; i++)
			bson_destroy(docs[i]);
	}
	mongoc_collection_destroy(coll);
	return rc;
}

static int cmd_pending(mongoc_client_t *c, const char *type)
{
	mongoc_collection_t *coll = collection(c, ORDER_DB_COLLECTION);
	bson_t filter = BSON_INITIALIZER;
	BSON_APPEND_UTF8(&filter, "relay_test", type);
	BSON_APPEND_BOOL(&filter, "outbox_pending", true);
	bson_error_t err;
	int64_t n = mongoc_collection_count_documents(coll, &filter, NULL, NULL, NULL, &err);
	if (n >= 0)
		printf("%lld\n", (long long)n);
	else
		fprintf(stderr, "pending: %s\n", err.message);
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
	return n >= 0 ? 0 : 1;
}

static int cmd_clean(mongoc_client_t *c, const char *type)
{
	mongoc_collection_t *coll = collection(c, ORDER_DB_COLLECTION);
	bson_t filter = BSON_INITIALIZER;
	BSON_APPEND_UTF8(&filter, "relay_test", type);
	bson_error_t err;
	bool ok = mongoc_collection_delete_many(coll, &filter, NULL, NULL, &err);
	if (!ok)
		fprintf(stderr, "clean: %s\n", err.message);
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
	return ok ? 0 : 1;
}

/* hold / holder / drop-lock act on the lock document directly, as another
 * replica (or one that died) would have left it. */
static int cmd_lock(mongoc_client_t *c, const char *what, const char *holder, long ms)
{
	mongoc_collection_t *coll = collection(c, ORDER_RELAY_LOCK_COLLECTION);
	bson_t filter = BSON_INITIALIZER;
	BSON_APPEND_UTF8(&filter, "_id", ORDER_RELAY_LOCK_ID);
	bson_error_t err;
	bool ok = true;
	if (strcmp(what, "holder") == 0) {
		mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
		const bson_t *doc;
		bson_iter_t it;
		if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "holder") && BSON_ITER_HOLDS_UTF8(&it))
			printf("%s\n", bson_iter_utf8(&it, NULL));
		else if (!(ok = !mongoc_cursor_error(cur, &err)))
			fprintf(stderr, "holder: %s\n", err.message);
		else
			printf("none\n");
		mongoc_cursor_destroy(cur);
	} else {
		ok = mongoc_collection_delete_one(coll, &filter, NULL, NULL, &err);
		if (ok && strcmp(what, "hold") == 0) {
			bson_t doc = BSON_INITIALIZER;
			BSON_APPEND_UTF8(&doc, "_id", ORDER_RELAY_LOCK_ID);
			BSON_APPEND_UTF8(&doc, "holder", holder);
			BSON_APPEND_INT64(&doc, "expires_at", clock_wall_ms() + ms);
			ok = mongoc_collection_insert_one(coll, &doc, NULL, NULL, &err);
			bson_destroy(&doc);
		}
		if (!ok)
			fprintf(stderr, "%s: %s\n", what, err.message);
	}
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
	return ok ? 0 : 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: order_relay_live [backlog N TYPE | pending TYPE | clean TYPE | hold HOLDER MS | holder | "
	                "drop-lock]\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("order_relay_live");
	live_url = getenv("ORDER_MONGO_URL");
	if (live_url == NULL || live_url[0] == '\0') {
		fprintf(stderr, "order_relay_live: ORDER_MONGO_URL is not set\n");
		return 2;
	}
	mongoc_init();
	mongoc_log_set_handler(NULL, NULL); /* FerretDB's "no endSessions" warnings; errors are ours to print */
	int rc;
	if (argc == 1) {
		rc = run_checks();
	} else {
		mongoc_client_t *c = client_new();
		const char *cmd = argv[1];
		if (c == NULL)
			rc = 1;
		else if (strcmp(cmd, "backlog") == 0 && argc == 4)
			rc = cmd_backlog(c, strtol(argv[2], NULL, 10), argv[3]);
		else if (strcmp(cmd, "pending") == 0 && argc == 3)
			rc = cmd_pending(c, argv[2]);
		else if (strcmp(cmd, "clean") == 0 && argc == 3)
			rc = cmd_clean(c, argv[2]);
		else if (strcmp(cmd, "hold") == 0 && argc == 4)
			rc = cmd_lock(c, cmd, argv[2], strtol(argv[3], NULL, 10));
		else if ((strcmp(cmd, "holder") == 0 || strcmp(cmd, "drop-lock") == 0) && argc == 2)
			rc = cmd_lock(c, cmd, NULL, 0);
		else
			rc = usage();
		mongoc_client_destroy(c);
	}
	mongoc_cleanup();
	return rc;
}
