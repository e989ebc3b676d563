#include "pg_idem.h"

#include <string.h>

#include <sodium.h>

#include "comanda/rpc.pb-c.h"

void pg_idem_fingerprint(const uint8_t *key, size_t key_len, const char *method, const ProtobufCMessage *request,
    uint8_t out[PG_IDEM_HASH_LEN])
{
	crypto_generichash_state st;
	if (key_len > crypto_generichash_KEYBYTES_MAX)
		key_len = crypto_generichash_KEYBYTES_MAX;
	crypto_generichash_init(&st, key, key_len, PG_IDEM_HASH_LEN);
	crypto_generichash_update(&st, (const unsigned char *)method, strlen(method) + 1);
	uint8_t buf[512];
	size_t n = protobuf_c_message_get_packed_size(request);
	if (n <= sizeof(buf)) {
		protobuf_c_message_pack(request, buf);
		crypto_generichash_update(&st, buf, n);
	} else {
		/* large requests: pack into a growing heap buffer */
		ProtobufCBufferSimple simple = PROTOBUF_C_BUFFER_SIMPLE_INIT(buf);
		protobuf_c_message_pack_to_buffer(request, &simple.base);
		crypto_generichash_update(&st, simple.data, simple.len);
		PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&simple);
	}
	crypto_generichash_final(&st, out, PG_IDEM_HASH_LEN);
}

char *pg_bytea_hex(arena *mem, const uint8_t *data, size_t len)
{
	char *s = arena_alloc(mem, 2 * len + 3);
	if (s == NULL)
		return NULL;
	s[0] = '\\';
	s[1] = 'x';
	sodium_bin2hex(s + 2, 2 * len + 1, data, len);
	return s;
}

int pg_bytea_parse(arena *mem, const char *text, ProtobufCBinaryData *out)
{
	out->data = NULL;
	out->len = 0;
	if (text[0] != '\\' || text[1] != 'x')
		return -1;
	size_t hex = strlen(text + 2);
	uint8_t *d = arena_alloc(mem, hex / 2 + 1);
	size_t n = 0;
	if (d == NULL || sodium_hex2bin(d, hex / 2 + 1, text + 2, hex, NULL, &n, NULL) != 0)
		return -1;
	out->data = d;
	out->len = n;
	return 0;
}

int pg_idem_begin(pg_conn *c, const char *caller, const char *key, const uint8_t hash[PG_IDEM_HASH_LEN],
    const uint8_t *hash_previous, arena *mem, int *state, ProtobufCBinaryData *reply)
{
	reply->data = NULL;
	reply->len = 0;
	const char *hex = pg_bytea_hex(mem, hash, PG_IDEM_HASH_LEN);
	if (hex == NULL)
		return COMANDA__CODE__INTERNAL;
	const char *hex_previous = NULL;  /* NULL: SQL NULL, which matches nothing */
	if (hash_previous != NULL && (hex_previous = pg_bytea_hex(mem, hash_previous, PG_IDEM_HASH_LEN)) == NULL)
		return COMANDA__CODE__INTERNAL;
	const char *params[] = { caller, key, hex, hex_previous };
	/* Claim: a new key, a stale in-progress claim (its owner died) or an
	 * expired record are ours; anything else is someone else's. */
	PGresult *r = NULL;
	int code = pg_exec(c,
	    "INSERT INTO idempotency_records (caller, key, request_hash, status) VALUES ($1, $2, $3, 'in_progress') "
	    "ON CONFLICT (caller, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, "
	    "  status = 'in_progress', reply = NULL, created_at = now() "
	    "WHERE (idempotency_records.status = 'in_progress' AND idempotency_records.created_at < now() - interval '60 seconds') "
	    "   OR idempotency_records.created_at < now() - interval '24 hours' "
	    "RETURNING 1",
	    3, params, &r);
	if (code != COMANDA__CODE__OK) {
		PQclear(r);
		return code;
	}
	bool claimed = PQntuples(r) == 1;
	PQclear(r);
	if (claimed) {
		*state = PG_IDEM_NEW;
		return COMANDA__CODE__OK;
	}
	/* With no previous hash, $4 is NULL: "x IN (a, NULL)" is NULL, not true,
	 * when x <> a, so it reads as a mismatch, as it should. */
	code = pg_exec(c, "SELECT request_hash IN ($3::bytea, $4::bytea), status, reply FROM idempotency_records "
	                  "WHERE caller = $1 AND key = $2",
	    4, params, &r);
	if (code != COMANDA__CODE__OK) {
		PQclear(r);
		return code;
	}
	if (PQntuples(r) != 1) {
		/* abandoned between our two statements: the client may retry */
		PQclear(r);
		*state = PG_IDEM_IN_PROGRESS;
		return COMANDA__CODE__OK;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
		*state = PG_IDEM_MISMATCH;
	else if (strcmp(PQgetvalue(r, 0, 1), "completed") != 0)
		*state = PG_IDEM_IN_PROGRESS;
	else if (pg_bytea_parse(mem, PQgetvalue(r, 0, 2), reply) == 0)
		*state = PG_IDEM_REPLAY;
	else
		code = COMANDA__CODE__INTERNAL;
	PQclear(r);
	return code;
}

int pg_idem_complete(pg_conn *c, const char *caller, const char *key, const ProtobufCMessage *reply, arena *mem)
{
	size_t n = protobuf_c_message_get_packed_size(reply);
	uint8_t *buf = arena_alloc(mem, n);
	if (buf == NULL)
		return COMANDA__CODE__INTERNAL;
	protobuf_c_message_pack(reply, buf);
	const char *hex = pg_bytea_hex(mem, buf, n);
	if (hex == NULL)
		return COMANDA__CODE__INTERNAL;
	const char *params[] = { caller, key, hex };
	return pg_run(c, "UPDATE idempotency_records SET status = 'completed', reply = $3 "
	                 "WHERE caller = $1 AND key = $2",
	    3, params);
}

int pg_idem_abandon(pg_conn *c, const char *caller, const char *key)
{
	const char *params[] = { caller, key };
	return pg_run(c, "DELETE FROM idempotency_records WHERE caller = $1 AND key = $2 AND status = 'in_progress'", 2,
	    params);
}
