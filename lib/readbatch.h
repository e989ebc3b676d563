/*
 * readbatch: concurrent reads of rows by key, combined into one fetch.
 *
 * Threads that each want one row by key (an int64 id) call readbatch_get.
 * The first caller when no fetch is running becomes the leader: it fetches
 * its own key at once, with its own connection. Callers that arrive while a
 * fetch is running queue up; when it ends, the first of them leads the next
 * fetch, for every key queued by then (up to max_keys). So an idle system
 * adds no wait and no batching, and a busy one answers many reads with one
 * round trip: the batch grows by itself with the load, with no timer.
 *
 * Freshness: every read is served by a fetch that starts after the read
 * was asked for, so it sees whatever was committed before it was asked,
 * exactly as a read of its own would.
 *
 * Results are shared: a fetch makes one result (say a PGresult) for all the
 * keys of its batch, and each caller holds a reference until it has read
 * its row (readbatch_release); the last release frees it. A result must
 * therefore be safe to read from several threads at once, as a PGresult is.
 *
 * Threading: everything is thread-safe. The fetch callback runs on the
 * leader's thread, one at a time per readbatch.
 */
#ifndef COMANDA_READBATCH_H
#define COMANDA_READBATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct readbatch readbatch;
typedef struct readbatch_result readbatch_result;

/* Fetches the rows of keys[0..n) (1 <= n <= max_keys; a key may appear
 * more than once) using conn, the leader's connection. Returns a code (0
 * for success, by the caller's convention) that every caller of the batch
 * gets back; on success *data is the result (NULL is allowed), on failure
 * it may still be set and is then freed the same way. */
typedef int (*readbatch_fetch_fn)(void *conn, const int64_t *keys, size_t n, void **data);

/* Frees what a fetch returned in *data (never called with NULL). */
typedef void (*readbatch_free_fn)(void *data);

/* Makes a readbatch that fetches at most max_keys (1..4096) keys at once.
 * Returns NULL when out of memory or max_keys is out of range. */
readbatch *readbatch_new(size_t max_keys, readbatch_fetch_fn fetch, readbatch_free_fn free_data);

/* Frees rb. No call may be in readbatch_get; results still held stay valid
 * until released. NULL is fine. */
void readbatch_free(readbatch *rb);

/* What readbatch_get returns when the shared result could not be allocated
 * (no fetch ran for that batch); keep fetch codes apart from it. */
#define READBATCH_NOMEM (-1)

/* Reads `key`: blocks until a fetch whose batch holds key has run (leading
 * it with conn when it is this caller's turn) and returns that fetch's code,
 * or READBATCH_NOMEM. *res is set to the shared result, whatever the fetch's
 * code (NULL only with READBATCH_NOMEM): read it with readbatch_data, then
 * readbatch_release it. */
int readbatch_get(readbatch *rb, void *conn, int64_t key, readbatch_result **res);

/* The fetch's data (what it stored in *data, maybe NULL). */
void *readbatch_data(const readbatch_result *res);

/* How many keys the fetch behind res asked for (for metrics and tests). */
size_t readbatch_size(const readbatch_result *res);

/* Drops the caller's reference; the last one frees the data. NULL is fine. */
void readbatch_release(readbatch_result *res);

#endif
