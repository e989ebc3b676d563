/*
 * pg_idem: Idempotency-Key records in a PostgreSQL service's own database
 * (table idempotency_records, see each service's migrations).
 *
 * A mutating handler that received an idempotency key (rpc_ctx_idempotency_key)
 *   1. fingerprints the request (pg_idem_fingerprint) and claims the key
 *      (pg_idem_begin), which answers one of:
 *        NEW          run the request;
 *        REPLAY       answer the stored reply (and set `replayed`);
 *        IN_PROGRESS  another request with this key is running: 409;
 *        MISMATCH     the key was used for a different request: 422;
 *   2. on success writes the reply with pg_idem_complete INSIDE the same
 *      transaction as its effect, so the record and the effect commit or
 *      vanish together;
 *   3. on failure calls pg_idem_abandon, so a retry runs again.
 * A claim left in progress by a crash is taken over after 60 s; a record
 * lives 24 h, after which the key may be reused.
 *
 * Threading: like pg_conn (one thread at a time per connection).
 */
#ifndef COMANDA_PG_IDEM_H
#define COMANDA_PG_IDEM_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "pg.h"

#define PG_IDEM_HASH_LEN 32

enum { PG_IDEM_NEW = 0, PG_IDEM_REPLAY, PG_IDEM_IN_PROGRESS, PG_IDEM_MISMATCH };

/* Keyed BLAKE2b of method and the packed request into out. The key (a
 * service secret) keeps a stored fingerprint of a body that holds a password
 * from being a password hash anyone could brute-force. */
void pg_idem_fingerprint(const uint8_t *key, size_t key_len, const char *method, const ProtobufCMessage *request,
    uint8_t out[PG_IDEM_HASH_LEN]);

/* Claims (caller, key) for the request with fingerprint hash. A stored
 * record matches when its fingerprint is hash, or hash_previous when that is
 * not NULL: the same request fingerprinted with the key the service's secret
 * replaced, so a retry that spans a key rotation is still a replay. A new
 * claim stores hash. Sets *state; for REPLAY *reply holds the stored reply
 * bytes (in mem). Returns a Code (OK, or the database's failure). */
int pg_idem_begin(pg_conn *c, const char *caller, const char *key, const uint8_t hash[PG_IDEM_HASH_LEN],
    const uint8_t *hash_previous, arena *mem, int *state, ProtobufCBinaryData *reply);

/* Stores reply (packed) as the outcome of (caller, key). Call inside the
 * transaction that makes the effect. Returns a Code. */
int pg_idem_complete(pg_conn *c, const char *caller, const char *key, const ProtobufCMessage *reply, arena *mem);

/* Drops an in-progress claim after a failure. Returns a Code. */
int pg_idem_abandon(pg_conn *c, const char *caller, const char *key);

/* bytea <-> text helpers for libpq's text protocol (\x hex form). */
char *pg_bytea_hex(arena *mem, const uint8_t *data, size_t len);
int pg_bytea_parse(arena *mem, const char *text, ProtobufCBinaryData *out);

#endif
