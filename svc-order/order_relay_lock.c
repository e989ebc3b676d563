#include "order_relay_lock.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "uuid.h"

void order_relay_lock_holder(char *out, size_t cap)
{
	char host[64] = "";
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	char id[UUID_STR_LEN];
	uuid_v4(id);
	snprintf(out, cap, "%s/%ld/%s", host, (long)getpid(), id);
}

static int order_relay_lock_insert(mongoc_collection_t *coll, const char *holder, int64_t expires_at,
    bson_error_t *err)
{
	bson_t doc = BSON_INITIALIZER;
	BSON_APPEND_UTF8(&doc, "_id", ORDER_RELAY_LOCK_ID);
	BSON_APPEND_UTF8(&doc, "holder", holder);
	BSON_APPEND_INT64(&doc, "expires_at", expires_at);
	bool ok = mongoc_collection_insert_one(coll, &doc, NULL, NULL, err);
	bson_destroy(&doc);
	return ok ? 0 : -1;
}

/* Reads the lock document: its holder (into holder, cap bytes) and
 * expires_at. Returns 1 when there is one, 0 when there is none (given
 * back meanwhile), -1 when the read failed (err). */
static int order_relay_lock_read(mongoc_collection_t *coll, char *holder, size_t cap, int64_t *expires_at,
    bson_error_t *err)
{
	bson_t filter = BSON_INITIALIZER;
	BSON_APPEND_UTF8(&filter, "_id", ORDER_RELAY_LOCK_ID);
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
	const bson_t *doc;
	int found = 0;
	if (mongoc_cursor_next(cur, &doc)) {
		bson_iter_t it;
		found = 1;
		holder[0] = '\0';
		*expires_at = 0;
		if (bson_iter_init_find(&it, doc, "holder") && BSON_ITER_HOLDS_UTF8(&it))
			snprintf(holder, cap, "%s", bson_iter_utf8(&it, NULL));
		if (bson_iter_init_find(&it, doc, "expires_at") && BSON_ITER_HOLDS_NUMBER(&it))
			*expires_at = bson_iter_as_int64(&it);
	}
	if (mongoc_cursor_error(cur, err))
		found = -1;
	mongoc_cursor_destroy(cur);
	bson_destroy(&filter);
	return found;
}

/* Deletes the lock document if it is still (holder, expires_at); with
 * expires_at < 0, whatever its expiry. */
static int order_relay_lock_delete(mongoc_collection_t *coll, const char *holder, int64_t expires_at,
    bson_error_t *err)
{
	bson_t filter = BSON_INITIALIZER;
	BSON_APPEND_UTF8(&filter, "_id", ORDER_RELAY_LOCK_ID);
	BSON_APPEND_UTF8(&filter, "holder", holder);
	if (expires_at >= 0)
		BSON_APPEND_INT64(&filter, "expires_at", expires_at);
	bool ok = mongoc_collection_delete_one(coll, &filter, NULL, NULL, err);
	bson_destroy(&filter);
	return ok ? 0 : -1;
}

static bool order_relay_lock_is_duplicate(const bson_error_t *err)
{
	return err->code == 11000;
}

order_relay_lock_result order_relay_lock_take(mongoc_client_t *client, const char *db, const char *holder,
    int64_t now_ms, int64_t lease_ms, int *taken_over)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, db, ORDER_RELAY_LOCK_COLLECTION);
	bson_error_t err = { 0 };
	order_relay_lock_result res = ORDER_RELAY_LOCK_ERROR;
	char expired[ORDER_RELAY_LOCK_HOLDER_MAX] = ""; /* the holder whose lock this call deleted */
	int64_t expired_at = 0;
	/* Read first, insert only when there is no lock (or an expired one,
	 * deleted): a replica that finds the lock held writes nothing, where a
	 * refused insert would be an error in the server's log (PostgreSQL's,
	 * under FerretDB) at every turn not taken. A second round only after
	 * an insert lost to another replica's between the read and the write. */
	for (int round = 0; round < 2; round++) {
		char other[ORDER_RELAY_LOCK_HOLDER_MAX];
		int64_t expires_at = 0;
		int found = order_relay_lock_read(coll, other, sizeof(other), &expires_at, &err);
		if (found < 0) {
			res = ORDER_RELAY_LOCK_ERROR;
			break;
		}
		if (found == 1 && (expires_at >= now_ms || round == 1)) {
			res = ORDER_RELAY_LOCK_BUSY; /* held; or another replica is taking it over right now */
			break;
		}
		if (found == 1) {
			if (order_relay_lock_delete(coll, other, expires_at, &err) != 0) {
				res = ORDER_RELAY_LOCK_ERROR;
				break;
			}
			snprintf(expired, sizeof(expired), "%s", other);
			expired_at = expires_at;
		}
		if (order_relay_lock_insert(coll, holder, now_ms + lease_ms, &err) == 0) {
			res = ORDER_RELAY_LOCK_TAKEN;
			break;
		}
		if (!order_relay_lock_is_duplicate(&err)) {
			res = ORDER_RELAY_LOCK_ERROR;
			break;
		}
		res = ORDER_RELAY_LOCK_BUSY; /* another replica's insert came first: read it */
	}
	if (res == ORDER_RELAY_LOCK_ERROR)
		log_printf(LOG_WARN, "outbox relay: cannot take the relay lock: %s", err.message);
	bool took_over = res == ORDER_RELAY_LOCK_TAKEN && expired[0];
	if (took_over) {
		log_line l;
		log_begin(&l, LOG_WARN, "outbox relay: took over an expired relay lock");
		log_str(&l, "holder", expired);
		log_int(&l, "expired_ms_ago", now_ms - expired_at);
		log_end(&l);
	}
	if (taken_over)
		*taken_over = took_over;
	mongoc_collection_destroy(coll);
	return res;
}

int order_relay_lock_release(mongoc_client_t *client, const char *db, const char *holder)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, db, ORDER_RELAY_LOCK_COLLECTION);
	bson_error_t err;
	int rc = order_relay_lock_delete(coll, holder, -1, &err);
	if (rc != 0)
		log_printf(LOG_WARN, "outbox relay: cannot give the relay lock back (it expires by itself): %s",
		    err.message);
	mongoc_collection_destroy(coll);
	return rc;
}
