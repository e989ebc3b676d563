#include "user_service.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "clock.h"
#include "cursor.h"
#include "jwt.h"
#include "log.h"
#include "pg_idem.h"
#include "svc.h"
#include "user_password.h"
#include "user_refresh.h"
#include "user_store.h"
#include "user_validate.h"

/* What failure messages call this service's database (svc_db_error). */
#define USER_DB "user database"
#define USER_LIST_DEFAULT 50
#define USER_LIST_MAX 200
#define USER_LIST_DESC_TAG "desc"  /* the key of a newest-first cursor */

static user_service_config user_cfg;

void user_service_configure(const user_service_config *cfg)
{
	user_cfg = *cfg;
}

/* ---- small helpers ------------------------------------------------------ */

static void user_int(char *buf, size_t cap, int64_t v)
{
	snprintf(buf, cap, "%" PRId64, v);
}

/* Ends a transaction that failed; the original code is what the caller sees. */
static int user_rollback(pg_conn *db, int code)
{
	pg_run(db, "ROLLBACK", 0, NULL);
	return code;
}

static int user_not_found(rpc_ctx *ctx)
{
	return rpc_ctx_error(ctx, COMANDA__CODE__NOT_FOUND, "User not found");
}

/* ---- idempotency -------------------------------------------------------- */

typedef struct user_idem {
	bool on;
	char caller[80];              /* "user:<id>", "anon:<address key>" */
	const char *key;
} user_idem;

/* Claims the request's Idempotency-Key, when it has one, in the caller's
 * transaction (see user_create). Returns -1 to go
 * on and run the request, or the Code to answer at once (a replay fills
 * reply and sets *replayed). */
static int user_idem_start(rpc_ctx *ctx, pg_conn *db, const ProtobufCMessage *request, ProtobufCMessage *reply,
    protobuf_c_boolean *replayed, user_idem *st)
{
	st->on = false;
	st->key = rpc_ctx_idempotency_key(ctx);
	if (st->key[0] == '\0')
		return -1;
	if (rpc_ctx_caller_id(ctx) > 0)
		snprintf(st->caller, sizeof(st->caller), "user:%" PRId64, rpc_ctx_caller_id(ctx));
	else if (rpc_ctx_client(ctx)[0] != '\0')
		snprintf(st->caller, sizeof(st->caller), "anon:%s", rpc_ctx_client(ctx));
	else  /* no address: a caller that sends none (not the gateway) */
		snprintf(st->caller, sizeof(st->caller), "anonymous");
	/* Fingerprints are keyed with JWT_SECRET (a body may hold a password).
	 * While a rotation is under way, a record the previous key made still
	 * matches, so a retry across the switch is replayed (docs/OPERATIONS.md,
	 * "Rotating JWT_SECRET"). */
	uint8_t hash[PG_IDEM_HASH_LEN], hash_previous[PG_IDEM_HASH_LEN];
	pg_idem_fingerprint(user_cfg.jwt.key, user_cfg.jwt.key_len, rpc_ctx_method(ctx), request, hash);
	bool rotating = user_cfg.jwt.previous != NULL;
	if (rotating)
		pg_idem_fingerprint(user_cfg.jwt.previous, user_cfg.jwt.previous_len, rpc_ctx_method(ctx), request,
		    hash_previous);
	int state = 0;
	ProtobufCBinaryData stored;
	int code = pg_idem_begin(db, st->caller, st->key, hash, rotating ? hash_previous : NULL, rpc_ctx_arena(ctx),
	    &state, &stored);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, USER_DB);
	switch (state) {
	case PG_IDEM_NEW:
		st->on = true;
		return -1;
	case PG_IDEM_IN_PROGRESS:
		rpc_ctx_reason(ctx, "IDEMPOTENCY_KEY_IN_USE");
		return rpc_ctx_error(ctx, COMANDA__CODE__ABORTED,
		    "A request with this Idempotency-Key is still in progress");
	case PG_IDEM_MISMATCH:
		rpc_ctx_reason(ctx, "IDEMPOTENCY_KEY_REUSED");
		return rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION,
		    "Idempotency-Key was used with a different request");
	default: {
		ProtobufCMessage *old = protobuf_c_message_unpack(reply->descriptor,
		    arena_pb_allocator(rpc_ctx_arena(ctx)), stored.len, stored.data);
		if (old == NULL)
			return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
		memcpy(reply, old, reply->descriptor->sizeof_message);
		*replayed = 1;
		return COMANDA__CODE__OK;
	}
	}
}

/* How long a password hash or check may wait for a place at the gate (see
 * user_password.h): half the time left before the caller's deadline, so the
 * hash (~20 ms) and the statements after it still fit in the other half. */
static int64_t user_pw_wait_ms(rpc_ctx *ctx)
{
	int64_t left = rpc_ctx_remaining_ms(ctx);
	return left > 0 ? left / 2 : 0;
}

/* The answer for a hash or check that did not happen (BUSY or NOMEM). */
static int user_pw_failed(rpc_ctx *ctx, int rc)
{
	if (rc == USER_PASSWORD_BUSY)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE,
		    "Too many password checks at once; retry in a moment");
	return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "out of memory");
}

/* ---- CreateUser ---------------------------------------------------------- */

static int user_create(rpc_ctx *ctx, const Comanda__CreateUserRequest *req, Comanda__UserReply *reply)
{
	bool admin = rpc_ctx_is_admin(ctx);
	char name[512], email[USER_EMAIL_MAX + 1];
	const char *issue;
	if ((issue = user_validate_name(req->name, name, sizeof(name))) != NULL)
		return rpc_ctx_invalid(ctx, "name", issue);
	if ((issue = user_validate_email(req->email, email, sizeof(email))) != NULL)
		return rpc_ctx_invalid(ctx, "email", issue);
	bool has_password = req->password[0] != '\0';
	if (!has_password && !admin)
		return rpc_ctx_invalid(ctx, "password", "is required");
	if (has_password && (issue = user_validate_password(req->password)) != NULL)
		return rpc_ctx_invalid(ctx, "password", issue);
	Comanda__Role role = req->role == COMANDA__ROLE__ROLE_ANONYMOUS ? COMANDA__ROLE__ROLE_CUSTOMER : req->role;
	if (role != COMANDA__ROLE__ROLE_CUSTOMER && role != COMANDA__ROLE__ROLE_ADMIN)
		return rpc_ctx_invalid(ctx, "role", "must be customer or admin");
	if (role == COMANDA__ROLE__ROLE_ADMIN && !admin)
		return rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "Only admins can create admins");

	/* The key is claimed inside the transaction that creates the user, so
	 * the claim commits with the user or not at all: a request that failed
	 * in any way, timed out or died leaves no claim behind, and its retry
	 * runs again (a claim committed on its own was left "in progress" for
	 * 60 s whenever its abandon could not be sent, after the deadline). A
	 * duplicate sent while the first is in flight waits for its outcome on
	 * the claim's row, then replays it or runs again. The hash comes after
	 * the claim, so that a replay does not wait for a place at the gate. */
	pg_conn *db = svc_db(ctx);
	int code = pg_run(db, "BEGIN", 0, NULL);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, USER_DB);
	user_idem idem;
	int early = user_idem_start(ctx, db, &req->base, &reply->base, &reply->replayed, &idem);
	if (early >= 0)
		return user_rollback(db, early);

	char hash[USER_PASSWORD_HASH_MAX];
	int hashed = has_password ? user_password_hash(req->password, hash, user_pw_wait_ms(ctx)) : USER_PASSWORD_OK;
	if (hashed != USER_PASSWORD_OK)
		return user_rollback(db, user_pw_failed(ctx, hashed));
	const char *params[] = { name, email, has_password ? hash : NULL, user_role_name(role) };
	PGresult *r = NULL;
	code = pg_exec(db, "INSERT INTO users (name, email, password_hash, role) VALUES ($1, $2, $3, $4) "
	                   "RETURNING " USER_COLS, 4, params, &r);
	if (code == COMANDA__CODE__OK && (reply->user = user_from_row(ctx, r, 0, 0)) == NULL)
		code = COMANDA__CODE__INTERNAL;
	PQclear(r);
	if (code == COMANDA__CODE__OK && idem.on)
		code = pg_idem_complete(db, idem.caller, idem.key, &reply->base, rpc_ctx_arena(ctx));
	if (code == COMANDA__CODE__OK)
		code = pg_run(db, "COMMIT", 0, NULL);
	if (code != COMANDA__CODE__OK) {
		user_rollback(db, code);
		if (code == COMANDA__CODE__ALREADY_EXISTS) {
			rpc_ctx_detail(ctx, "email", "already exists");
			return rpc_ctx_error(ctx, code, "Email already exists");
		}
		return svc_db_error(ctx, code, USER_DB);
	}
	return COMANDA__CODE__OK;
}

/* ---- GetUser / ListUsers / CheckUser ------------------------------------- */

/* The user id a request names: 0 means the caller. Customers may name only
 * themselves; anything else is NOT_FOUND. Returns -1 to go on. */
static int user_target(rpc_ctx *ctx, int64_t requested, int64_t *id)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	*id = requested != 0 ? requested : rpc_ctx_caller_id(ctx);
	if (*id < 0 || (!rpc_ctx_is_admin(ctx) && *id != rpc_ctx_caller_id(ctx)))
		return user_not_found(ctx);
	return -1;
}

static int user_get(rpc_ctx *ctx, const Comanda__GetUserRequest *req, Comanda__UserReply *reply)
{
	int64_t id;
	int early = user_target(ctx, req->id, &id);
	if (early >= 0)
		return early;
	char ids[24];
	user_int(ids, sizeof(ids), id);
	const char *params[] = { ids };
	PGresult *r = NULL;
	int code = pg_exec(svc_db(ctx), "SELECT " USER_COLS " FROM users WHERE id = $1", 1, params, &r);
	if (code == COMANDA__CODE__OK && PQntuples(r) == 0)
		code = COMANDA__CODE__NOT_FOUND;
	if (code == COMANDA__CODE__OK && (reply->user = user_from_row(ctx, r, 0, 0)) == NULL)
		code = COMANDA__CODE__INTERNAL;
	PQclear(r);
	if (code == COMANDA__CODE__NOT_FOUND)
		return user_not_found(ctx);
	return code == COMANDA__CODE__OK ? code : svc_db_error(ctx, code, USER_DB);
}

static int user_list(rpc_ctx *ctx, const Comanda__ListUsersRequest *req, Comanda__ListUsersReply *reply)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	if (!rpc_ctx_is_admin(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "Admin role required");
	uint32_t limit = req->limit ? req->limit : USER_LIST_DEFAULT;
	if (limit > USER_LIST_MAX)
		return rpc_ctx_invalid(ctx, "limit", "must be between 1 and 200");
	/* A cursor is the last id of its page, tagged with its order ("" or
	 * "desc"), so a cursor of one order is refused in the other. */
	const char *tag = req->newest_first ? USER_LIST_DESC_TAG : "";
	int64_t from = req->newest_first ? INT64_MAX : 0;
	if (req->cursor[0] != '\0') {
		char key[CURSOR_KEY_MAX];
		if (cursor_decode(req->cursor, &from, key, sizeof(key)) != 0 || strcmp(key, tag) != 0 || from < 0)
			return rpc_ctx_invalid(ctx, "cursor", "is not a cursor this API returned");
	}
	char froms[24], limits[16];
	user_int(froms, sizeof(froms), from);
	user_int(limits, sizeof(limits), (int64_t)limit + 1);
	const char *params[] = { froms, limits };
	PGresult *r = NULL;
	int code = pg_exec(svc_db(ctx),
	    req->newest_first ? "SELECT " USER_COLS " FROM users WHERE id < $1 ORDER BY id DESC LIMIT $2"
	                      : "SELECT " USER_COLS " FROM users WHERE id > $1 ORDER BY id LIMIT $2",
	    2, params, &r);
	if (code != COMANDA__CODE__OK) {
		PQclear(r);
		return svc_db_error(ctx, code, USER_DB);
	}
	int rows = PQntuples(r);
	size_t n = rows > (int)limit ? limit : (size_t)rows;
	reply->users = rpc_ctx_alloc(ctx, (n ? n : 1) * sizeof(*reply->users));
	if (reply->users == NULL) {
		PQclear(r);
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		if ((reply->users[i] = user_from_row(ctx, r, (int)i, 0)) == NULL) {
			PQclear(r);
			return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "out of memory");
		}
	}
	reply->n_users = n;
	if ((size_t)rows > n) {
		char *next = rpc_ctx_alloc(ctx, CURSOR_MAX);
		if (next != NULL && cursor_encode(next, CURSOR_MAX, reply->users[n - 1]->id, tag) == 0)
			reply->next_cursor = next;
	}
	PQclear(r);
	return COMANDA__CODE__OK;
}

static int user_check(rpc_ctx *ctx, const Comanda__CheckUserRequest *req, Comanda__CheckUserReply *reply)
{
	char ids[24];
	user_int(ids, sizeof(ids), req->id);
	const char *params[] = { ids };
	PGresult *r = NULL;
	int code = pg_exec(svc_db(ctx), "SELECT status, role FROM users WHERE id = $1", 1, params, &r);
	if (code == COMANDA__CODE__OK && PQntuples(r) == 1) {
		reply->exists = 1;
		reply->status = user_status_parse(PQgetvalue(r, 0, 0));
		reply->role = user_role_parse(PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	return code == COMANDA__CODE__OK ? code : svc_db_error(ctx, code, USER_DB);
}

/* ---- sessions and tokens ------------------------------------------------- */

static void user_revoke_sql(pg_conn *db, const char *column, const char *id, const char *reason, int *code)
{
	if (*code != COMANDA__CODE__OK)
		return;
	char sql[200];
	snprintf(sql, sizeof(sql),
	    "UPDATE sessions SET revoked_at = now(), revoke_reason = $2 WHERE %s = $1 AND revoked_at IS NULL", column);
	const char *params[] = { id, reason };
	*code = pg_run(db, sql, 2, params);
}

/* A fresh refresh token (base64url of 32 random bytes) and the hex bytea of
 * its SHA-256, the only form stored. */
static int user_new_refresh(rpc_ctx *ctx, char **token, const char **hash_hex)
{
	uint8_t raw[USER_REFRESH_BYTES];
	randombytes_buf(raw, sizeof(raw));
	size_t len = sodium_base64_ENCODED_LEN(sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	*token = rpc_ctx_alloc(ctx, len);
	if (*token == NULL)
		return -1;
	sodium_bin2base64(*token, len, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	uint8_t digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(digest, (const unsigned char *)*token, strlen(*token));
	*hash_hex = pg_bytea_hex(rpc_ctx_arena(ctx), digest, sizeof(digest));
	return *hash_hex ? 0 : -1;
}

static const char *user_refresh_hash(rpc_ctx *ctx, const char *token)
{
	uint8_t digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
	return pg_bytea_hex(rpc_ctx_arena(ctx), digest, sizeof(digest));
}

/* Fills the access token of a TokenPair for user u in session sid. */
static int user_sign_access(rpc_ctx *ctx, const Comanda__User *u, int64_t sid, Comanda__TokenPair *reply)
{
	int64_t now = clock_wall_ms() / 1000;
	jwt_claims c = { .sub = u->id, .role = u->role, .sid = sid, .iat = now, .exp = now + user_cfg.jwt_ttl_s };
	char *tok = rpc_ctx_alloc(ctx, JWT_MAX_LEN);
	if (tok == NULL || jwt_sign(user_cfg.jwt.key, user_cfg.jwt.key_len, &c, tok, JWT_MAX_LEN) != JWT_OK)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
	reply->access_token = tok;
	reply->expires_in = (uint32_t)user_cfg.jwt_ttl_s;
	return COMANDA__CODE__OK;
}

static int user_login(rpc_ctx *ctx, const Comanda__LoginRequest *req, Comanda__TokenPair *reply)
{
	pg_conn *db = svc_db(ctx);
	char email[USER_EMAIL_MAX + 1];
	bool email_ok = user_validate_email(req->email, email, sizeof(email)) == NULL;
	PGresult *r = NULL;
	int code = COMANDA__CODE__OK;
	const char *hash = NULL;
	if (email_ok) {
		const char *params[] = { email };
		code = pg_exec(db, "SELECT " USER_COLS ", password_hash FROM users WHERE lower(email) = $1", 1, params, &r);
		if (code != COMANDA__CODE__OK) {
			PQclear(r);
			return svc_db_error(ctx, code, USER_DB);
		}
		if (PQntuples(r) == 1 && !PQgetisnull(r, 0, USER_NCOLS))
			hash = PQgetvalue(r, 0, USER_NCOLS);
	}
	/* The same work whether the account exists or not (a dummy hash when not),
	 * and the same answer. */
	int checked = user_password_check(hash, req->password, user_pw_wait_ms(ctx));
	if (checked == USER_PASSWORD_BUSY) {
		PQclear(r);
		return user_pw_failed(ctx, checked);
	}
	if (checked != USER_PASSWORD_OK) {
		PQclear(r);
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Invalid email or password");
	}
	Comanda__User *u = user_from_row(ctx, r, 0, 0);
	PQclear(r);
	if (u == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "out of memory");
	if (u->status != COMANDA__USER_STATUS__USER_ACTIVE)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Account is %s", user_status_name(u->status));

	char *token;
	const char *token_hash;
	if (user_new_refresh(ctx, &token, &token_hash) != 0)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "out of memory");
	char uid[24], ttl[24];
	user_int(uid, sizeof(uid), u->id);
	user_int(ttl, sizeof(ttl), user_cfg.refresh_ttl_s);
	const char *params[] = { uid, token_hash, ttl };
	int64_t sid;
	code = pg_exec_int64(db, "INSERT INTO sessions (id, family_id, user_id, refresh_hash, expires_at) "
	                         "SELECT n, n, $1, $2, now() + make_interval(secs => $3) FROM nextval('sessions_id_seq') AS n "
	                         "RETURNING id", 3, params, &sid);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, USER_DB);
	reply->refresh_token = token;
	reply->user = u;
	return user_sign_access(ctx, u, sid, reply);
}

/* The successor of `presented` under key, in the request's arena, and the
 * hex bytea of its SHA-256; NULL when out of memory. */
static char *user_successor(rpc_ctx *ctx, const uint8_t *key, size_t key_len, const char *presented,
    const char **hash_hex)
{
	char *token = rpc_ctx_alloc(ctx, USER_REFRESH_TOKEN_LEN + 1);
	if (token == NULL || user_refresh_successor(key, key_len, presented, token, USER_REFRESH_TOKEN_LEN + 1) != 0)
		return NULL;
	*hash_hex = user_refresh_hash(ctx, token);
	return *hash_hex != NULL ? token : NULL;
}

/* For a token exchanged within the grace window (user_refresh.h): whether
 * the row that exchange added (family, rotation) holds the presented
 * token's successor under JWT_SECRET or, during a key rotation, under the
 * previous key, and whether that row is still unused. *token is then that
 * successor. Returns a Code (the transaction is the caller's). */
static int user_refresh_find_successor(rpc_ctx *ctx, pg_conn *db, const char *family, const char *rotation,
    const char *presented, user_refresh_state *st, char **token)
{
	const char *hash = NULL, *hash_previous = NULL;
	char *successor = user_successor(ctx, user_cfg.jwt.key, user_cfg.jwt.key_len, presented, &hash);
	char *successor_previous = successor;
	hash_previous = hash;
	if (successor != NULL && user_cfg.jwt.previous != NULL)
		successor_previous =
		    user_successor(ctx, user_cfg.jwt.previous, user_cfg.jwt.previous_len, presented, &hash_previous);
	if (successor == NULL || successor_previous == NULL)
		return COMANDA__CODE__INTERNAL;
	const char *params[] = { family, rotation, hash, hash_previous };
	PGresult *r = NULL;
	int code = pg_exec(db,
	    "SELECT refresh_hash = $3, replaced_at IS NULL AND revoked_at IS NULL AND expires_at > now() "
	    "FROM sessions WHERE family_id = $1 AND rotation = $2 AND refresh_hash IN ($3, $4)",
	    4, params, &r);
	if (code == COMANDA__CODE__OK && PQntuples(r) == 1) {
		st->successor_derived = true;
		st->successor_live = PQgetvalue(r, 0, 1)[0] == 't';
		*token = PQgetvalue(r, 0, 0)[0] == 't' ? successor : successor_previous;
	}
	PQclear(r);
	return code;
}

static int user_refresh(rpc_ctx *ctx, const Comanda__RefreshRequest *req, Comanda__TokenPair *reply)
{
	if (req->refresh_token[0] == '\0' || strlen(req->refresh_token) > 256)
		return rpc_ctx_invalid(ctx, "refresh_token", "is required");
	pg_conn *db = svc_db(ctx);
	const char *hash = user_refresh_hash(ctx, req->refresh_token);
	if (hash == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "out of memory");
	int code = pg_run(db, "BEGIN", 0, NULL);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, USER_DB);
	/* Locks, in the order of every transaction that changes a user's
	 * sessions (logout, PATCH, DELETE too): the user's row, then the session's
	 * root row (family_id = id). The root lock serialises the refreshes,
	 * reuse revocations and logouts of one session, so a revocation of the
	 * family sees every row a refresh added; the user's row serialises them
	 * with a password change, suspension or deletion, which lock it first
	 * too, instead of the two waiting for each other's rows (a deadlock).
	 * A session's user and family never change: they are read first, and
	 * the session's own state only once the locks are held. */
	const char *params[] = { hash };
	PGresult *r = NULL;
	code = pg_exec(db,
	    "SELECT s.family_id, u.* "
	    /* USER_COLS is unqualified: in a plain join its id, created_at... would be
	     * ambiguous with the session's, so the user's columns come from a subquery */
	    "FROM sessions s CROSS JOIN LATERAL (SELECT " USER_COLS " FROM users WHERE users.id = s.user_id FOR SHARE) u "
	    "WHERE s.refresh_hash = $1",
	    1, params, &r);
	if (code != COMANDA__CODE__OK) {
		PQclear(r);
		return svc_db_error(ctx, user_rollback(db, code), USER_DB);
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		user_rollback(db, code);
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Invalid refresh token");
	}
	char sess_id[24], family[24], rotation[16], grace[16];
	snprintf(family, sizeof(family), "%s", PQgetvalue(r, 0, 0));
	Comanda__User *u = user_from_row(ctx, r, 0, 1);
	PQclear(r);
	if (u == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, user_rollback(db, 0) ? "" : "out of memory");
	const char *pf[] = { family };
	snprintf(grace, sizeof(grace), "%d", user_cfg.refresh_retry_grace_s);
	const char *ps[] = { hash, grace };
	code = pg_run(db, "SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", 1, pf);
	/* The window is measured against this statement's clock, not now():
	 * now() is when this transaction began, and a presentation that began
	 * first but lost the root lock to the exchange (two presentations of
	 * one token at once) would see replaced_at, the exchange's now(), in
	 * its future - within any window, even a grace of 0. The statement
	 * starts after the lock is held, so after the exchange committed. */
	if (code == COMANDA__CODE__OK)
		code = pg_exec(db,
		    "SELECT id, rotation, replaced_at IS NOT NULL, revoked_at IS NOT NULL, expires_at <= now(), "
		    "replaced_at > statement_timestamp() - make_interval(secs => $2) "
		    "FROM sessions WHERE refresh_hash = $1",
		    2, ps, &r);
	if (code != COMANDA__CODE__OK || PQntuples(r) != 1) {  /* sessions are never deleted: not 0 rows */
		PQclear(r);
		return svc_db_error(ctx, user_rollback(db, code == COMANDA__CODE__OK ? COMANDA__CODE__INTERNAL : code), USER_DB);
	}
	snprintf(sess_id, sizeof(sess_id), "%s", PQgetvalue(r, 0, 0));
	snprintf(rotation, sizeof(rotation), "%d", atoi(PQgetvalue(r, 0, 1)) + 1);
	user_refresh_state st = {
		.replaced = PQgetvalue(r, 0, 2)[0] == 't',
		.revoked = PQgetvalue(r, 0, 3)[0] == 't',
		.expired = PQgetvalue(r, 0, 4)[0] == 't',
		.within_grace = PQgetvalue(r, 0, 5)[0] == 't',
		.user_active = u->status == COMANDA__USER_STATUS__USER_ACTIVE,
	};
	PQclear(r);
	char *token = NULL;
	if (user_cfg.refresh_retry_grace_s <= 0)
		st.within_grace = false;  /* 0: strict reuse detection, whatever the clocks say */
	if (!st.revoked && st.replaced && st.within_grace) {
		code = user_refresh_find_successor(ctx, db, family, rotation, req->refresh_token, &st, &token);
		if (code != COMANDA__CODE__OK)
			return svc_db_error(ctx, user_rollback(db, code), USER_DB);
	}
	const char *refusal = NULL;
	switch (user_refresh_decide(&st)) {
	case USER_REFRESH_REVOKED:
		refusal = "Session revoked";
		break;
	case USER_REFRESH_REUSE:
		/* A token that was already exchanged, and not as a retry: someone
		 * holds a copy. End the whole session, for the thief and the owner
		 * alike. */
		user_revoke_sql(db, "family_id", family, "reuse", &code);
		refusal = "Refresh token reused; session revoked";
		log_printf(LOG_WARN, "refresh token reuse: session %s of user %" PRId64 " revoked", family, u->id);
		break;
	case USER_REFRESH_EXPIRED:
		refusal = "Refresh token expired";
		break;
	case USER_REFRESH_INACTIVE:
		refusal = "Account is not active";
		break;
	case USER_REFRESH_RETRY:
		/* The exchange already happened; its answer is given again and
		 * nothing changes (the locks are let go). */
		code = pg_run(db, "COMMIT", 0, NULL);
		if (code != COMANDA__CODE__OK)
			return svc_db_error(ctx, user_rollback(db, code), USER_DB);
		log_printf(LOG_INFO, "refresh retried: session %s of user %" PRId64 " answered again with rotation %s",
		    family, u->id, rotation);
		reply->refresh_token = token;
		reply->user = u;
		return user_sign_access(ctx, u, strtoll(family, NULL, 10), reply);
	case USER_REFRESH_ROTATE:
		break;
	}
	if (refusal != NULL) {
		if (code == COMANDA__CODE__OK)
			code = pg_run(db, "COMMIT", 0, NULL);
		if (code != COMANDA__CODE__OK)
			return svc_db_error(ctx, user_rollback(db, code), USER_DB);
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "%s", refusal);
	}
	const char *token_hash;
	token = user_successor(ctx, user_cfg.jwt.key, user_cfg.jwt.key_len, req->refresh_token, &token_hash);
	if (token == NULL)
		return user_rollback(db, rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "out of memory"));
	char uid[24], ttl[24];
	user_int(uid, sizeof(uid), u->id);
	user_int(ttl, sizeof(ttl), user_cfg.refresh_ttl_s);
	const char *p1[] = { sess_id };
	code = pg_run(db, "UPDATE sessions SET replaced_at = now() WHERE id = $1", 1, p1);
	const char *p2[] = { family, uid, rotation, token_hash, ttl };
	if (code == COMANDA__CODE__OK)
		code = pg_run(db, "INSERT INTO sessions (family_id, user_id, rotation, refresh_hash, expires_at) "
		                  "VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))", 5, p2);
	if (code == COMANDA__CODE__OK)
		code = pg_run(db, "COMMIT", 0, NULL);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, user_rollback(db, code), USER_DB);
	reply->refresh_token = token;
	reply->user = u;
	return user_sign_access(ctx, u, strtoll(family, NULL, 10), reply);
}

static int user_logout(rpc_ctx *ctx, const Comanda__LogoutRequest *req, Comanda__LogoutReply *reply)
{
	(void)reply;
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	char sid[24], uid[24];
	user_int(sid, sizeof(sid), req->session_id);
	user_int(uid, sizeof(uid), rpc_ctx_caller_id(ctx));
	const char *params[] = { sid, uid };
	pg_conn *db = svc_db(ctx);
	int code = pg_run(db, "BEGIN", 0, NULL);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, USER_DB);
	/* The locks of a refresh, in its order (see user_refresh): the user's
	 * row, then the session's root row. Once they are held, a refresh of
	 * this session that was under way has committed its new row, which the
	 * UPDATE then sees and revokes too, and a later refresh finds the
	 * session revoked. */
	const char *pu[] = { uid };
	code = pg_run(db, "SELECT 1 FROM users WHERE id = $1 FOR SHARE", 1, pu);
	if (code == COMANDA__CODE__OK)
		code = pg_run(db, "SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2 FOR UPDATE", 2, params);
	/* Only the caller's own session; revoking twice is fine. */
	if (code == COMANDA__CODE__OK)
		code = pg_run(db, "UPDATE sessions SET revoked_at = now(), revoke_reason = 'logout' "
		                  "WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL", 2, params);
	if (code == COMANDA__CODE__OK)
		code = pg_run(db, "COMMIT", 0, NULL);
	return code == COMANDA__CODE__OK ? code : svc_db_error(ctx, user_rollback(db, code), USER_DB);
}

/* ---- UpdateUser / DeleteUser --------------------------------------------- */

enum { USER_SET_NAME = 1, USER_SET_PASSWORD = 2, USER_SET_STATUS = 4, USER_SET_ROLE = 8 };

/* How many times a change of one's own password checks current_password
 * (user_update): each time after the first needs another change of that
 * password to have committed during the one before. Then 503, retry. */
#define USER_PW_CHANGE_TRIES 3

/* Checks current_password, for a change of one's own password, against the
 * hash stored for user ids, read without a lock and outside any transaction:
 * the Argon2id run (~20 ms, after up to half the deadline at the gate) holds
 * neither. Under the row's lock it would stall the user's refreshes (they
 * take the row FOR SHARE), and a token thief's every guess would stall the
 * owner's. Returns -1 when the password matches, *checked then being the
 * hash it matched (in the request's arena); else the answer to give: 404,
 * 503 (gate or database), or 400 CURRENT_PASSWORD_INCORRECT. */
static int user_check_current(rpc_ctx *ctx, pg_conn *db, const char *ids, const char *password, const char **checked)
{
	const char *params[] = { ids };
	PGresult *r = NULL;
	int code = pg_exec(db, "SELECT password_hash FROM users WHERE id = $1 AND status <> 'deleted'", 1, params, &r);
	if (code != COMANDA__CODE__OK) {
		PQclear(r);
		return svc_db_error(ctx, code, USER_DB);
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		return user_not_found(ctx);
	}
	bool none = PQgetisnull(r, 0, 0);
	const char *stored = none ? NULL : rpc_ctx_strdup(ctx, PQgetvalue(r, 0, 0));
	PQclear(r);
	if (!none && stored == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "out of memory");
	/* no password (NULL): checked against the dummy hash, and refused */
	int rc = user_password_check(stored, password, user_pw_wait_ms(ctx));
	if (rc == USER_PASSWORD_BUSY)
		return user_pw_failed(ctx, rc);
	if (rc != USER_PASSWORD_OK) {
		/* the one answer that says a password was checked and was wrong:
		 * the gateway charges it to the failed-password limits (a token
		 * thief would otherwise guess the password here at the request
		 * rate), and gives everything else back */
		rpc_ctx_reason(ctx, "CURRENT_PASSWORD_INCORRECT");
		return rpc_ctx_invalid(ctx, "current_password", "is incorrect");
	}
	*checked = stored;
	return -1;
}

static int user_update(rpc_ctx *ctx, const Comanda__UpdateUserRequest *req, Comanda__UserReply *reply)
{
	int64_t id;
	int early = user_target(ctx, req->id, &id);
	if (early >= 0)
		return early;
	bool admin = rpc_ctx_is_admin(ctx);
	bool self = id == rpc_ctx_caller_id(ctx);
	unsigned set = 0;
	for (size_t i = 0; i < req->n_update_mask; i++) {
		const char *f = req->update_mask[i];
		if (strcmp(f, "name") == 0)
			set |= USER_SET_NAME;
		else if (strcmp(f, "password") == 0)
			set |= USER_SET_PASSWORD;
		else if (strcmp(f, "status") == 0)
			set |= USER_SET_STATUS;
		else if (strcmp(f, "role") == 0)
			set |= USER_SET_ROLE;
		else
			return rpc_ctx_invalid(ctx, f, "cannot be changed");
	}
	if (set == 0)
		return rpc_ctx_error(ctx, COMANDA__CODE__INVALID_ARGUMENT, "Nothing to update");
	if ((set & (USER_SET_STATUS | USER_SET_ROLE)) && !admin)
		return rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "Only admins can change status or role");

	char name[512];
	const char *issue;
	if ((set & USER_SET_NAME) && (issue = user_validate_name(req->name, name, sizeof(name))) != NULL)
		return rpc_ctx_invalid(ctx, "name", issue);
	if ((set & USER_SET_PASSWORD) && (issue = user_validate_password(req->password)) != NULL)
		return rpc_ctx_invalid(ctx, "password", issue);
	if ((set & USER_SET_STATUS) && req->status != COMANDA__USER_STATUS__USER_ACTIVE &&
	    req->status != COMANDA__USER_STATUS__USER_SUSPENDED)
		return rpc_ctx_invalid(ctx, "status", "must be active or suspended");
	if ((set & USER_SET_ROLE) && req->role != COMANDA__ROLE__ROLE_CUSTOMER && req->role != COMANDA__ROLE__ROLE_ADMIN)
		return rpc_ctx_invalid(ctx, "role", "must be customer or admin");
	/* Changing one's own password proves knowledge of the current one;
	 * an admin setting another user's password does not need it. */
	bool need_current = (set & USER_SET_PASSWORD) && self;
	if (need_current && req->current_password[0] == '\0')
		return rpc_ctx_invalid(ctx, "current_password", "is required to change the password");
	/* Not read then: refused, so that it never passes unchecked (the
	 * gateway refuses it without a password at all). */
	if (!need_current && req->current_password[0] != '\0')
		return rpc_ctx_invalid(ctx, "current_password", "only goes with a change of one's own password");
	pg_conn *db = svc_db(ctx);
	char ids[24];
	user_int(ids, sizeof(ids), id);
	char hash[USER_PASSWORD_HASH_MAX];
	bool hashed = false;
	int code;
	/* The Argon2id runs come first, with no transaction open and no lock
	 * held; the row's lock is then taken for the statements alone. */
	for (int tries = 1;; tries++) {
		const char *checked = NULL;
		if (need_current && (early = user_check_current(ctx, db, ids, req->current_password, &checked)) >= 0)
			return early;
		/* Hashed only once current_password is right: a wrong guess costs
		 * one Argon2id run, not two. Outside the transaction too. */
		if ((set & USER_SET_PASSWORD) && !hashed) {
			int rc = user_password_hash(req->password, hash, user_pw_wait_ms(ctx));
			if (rc != USER_PASSWORD_OK)
				return user_pw_failed(ctx, rc);
			hashed = true;
		}
		code = pg_run(db, "BEGIN", 0, NULL);
		if (code != COMANDA__CODE__OK)
			return svc_db_error(ctx, code, USER_DB);
		PGresult *r = NULL;
		const char *p1[] = { ids };
		code = pg_exec(db, "SELECT password_hash FROM users WHERE id = $1 AND status <> 'deleted' FOR UPDATE", 1, p1,
		    &r);
		if (code != COMANDA__CODE__OK) {
			PQclear(r);
			return svc_db_error(ctx, user_rollback(db, code), USER_DB);
		}
		if (PQntuples(r) != 1) {
			PQclear(r);
			user_rollback(db, code);
			return user_not_found(ctx);
		}
		/* current_password was checked against the hash still stored: every
		 * new password gets a new salt, so an equal string means no change
		 * of the password came in between (a NULL one never passed a check). */
		bool unchanged = !need_current || (!PQgetisnull(r, 0, 0) && strcmp(PQgetvalue(r, 0, 0), checked) == 0);
		PQclear(r);
		if (unchanged)
			break;
		/* Another change of the password committed meanwhile: check
		 * current_password again, against the new hash, as if this request
		 * had come after it (the lock is let go for that run too). */
		user_rollback(db, code);
		if (tries == USER_PW_CHANGE_TRIES)
			return svc_db_error(ctx, COMANDA__CODE__ABORTED, USER_DB);
	}
	PGresult *r = NULL;
	const char *params[] = {
		ids,
		(set & USER_SET_NAME) ? name : NULL,
		(set & USER_SET_PASSWORD) ? hash : NULL,
		(set & USER_SET_STATUS) ? user_status_name(req->status) : NULL,
		(set & USER_SET_ROLE) ? user_role_name(req->role) : NULL,
	};
	code = pg_exec(db, "UPDATE users SET name = COALESCE($2, name), password_hash = COALESCE($3, password_hash), "
	                   "status = COALESCE($4, status), role = COALESCE($5, role), updated_at = now() "
	                   "WHERE id = $1 RETURNING " USER_COLS, 5, params, &r);
	if (code == COMANDA__CODE__OK && (reply->user = user_from_row(ctx, r, 0, 0)) == NULL)
		code = COMANDA__CODE__INTERNAL;
	PQclear(r);
	/* A new password or a suspension ends every session of the user. */
	if ((set & USER_SET_PASSWORD) || ((set & USER_SET_STATUS) && req->status == COMANDA__USER_STATUS__USER_SUSPENDED))
		user_revoke_sql(db, "user_id", ids, (set & USER_SET_PASSWORD) ? "admin" : "user_suspended", &code);
	if (code == COMANDA__CODE__OK)
		code = pg_run(db, "COMMIT", 0, NULL);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, user_rollback(db, code), USER_DB);
	return COMANDA__CODE__OK;
}

static int user_delete(rpc_ctx *ctx, const Comanda__DeleteUserRequest *req, Comanda__UserReply *reply)
{
	if (!rpc_ctx_signed_in(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	if (!rpc_ctx_is_admin(ctx))
		return rpc_ctx_error(ctx, COMANDA__CODE__PERMISSION_DENIED, "Admin role required");
	pg_conn *db = svc_db(ctx);
	char ids[24];
	user_int(ids, sizeof(ids), req->id);
	int code = pg_run(db, "BEGIN", 0, NULL);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, code, USER_DB);
	const char *params[] = { ids };
	PGresult *r = NULL;
	code = pg_exec(db, "UPDATE users SET status = 'deleted', updated_at = CASE WHEN status = 'deleted' "
	                   "THEN updated_at ELSE now() END WHERE id = $1 RETURNING " USER_COLS, 1, params, &r);
	bool found = code == COMANDA__CODE__OK && PQntuples(r) == 1;
	if (found && (reply->user = user_from_row(ctx, r, 0, 0)) == NULL)
		code = COMANDA__CODE__INTERNAL;
	PQclear(r);
	if (found)
		user_revoke_sql(db, "user_id", ids, "user_deleted", &code);
	if (code == COMANDA__CODE__OK)
		code = pg_run(db, found ? "COMMIT" : "ROLLBACK", 0, NULL);
	if (code != COMANDA__CODE__OK)
		return svc_db_error(ctx, user_rollback(db, code), USER_DB);
	return found ? COMANDA__CODE__OK : user_not_found(ctx);
}

const user_service_impl user_service_handlers = {
	.create_user = user_create,
	.get_user = user_get,
	.list_users = user_list,
	.update_user = user_update,
	.delete_user = user_delete,
	.login = user_login,
	.refresh = user_refresh,
	.logout = user_logout,
	.check_user = user_check,
};

/* ---- admin bootstrap ------------------------------------------------------ */

int user_bootstrap_admin(pg_conn *db, const char *email, const char *password)
{
	char lower[USER_EMAIL_MAX + 1];
	const char *issue = user_validate_email(email, lower, sizeof(lower));
	if (issue != NULL) {
		log_printf(LOG_ERROR, "ADMIN_EMAIL %s", issue);
		return COMANDA__CODE__INVALID_ARGUMENT;
	}
	if ((issue = user_validate_password(password)) != NULL) {
		log_printf(LOG_ERROR, "ADMIN_PASSWORD %s", issue);
		return COMANDA__CODE__INVALID_ARGUMENT;
	}
	PGresult *r = NULL;
	int code = pg_exec(db, "SELECT 1 FROM users WHERE role = 'admin' AND status = 'active' LIMIT 1", 0, NULL, &r);
	bool exists = code == COMANDA__CODE__OK && PQntuples(r) > 0;
	PQclear(r);
	if (code != COMANDA__CODE__OK || exists)
		return code;
	char hash[USER_PASSWORD_HASH_MAX];
	/* at start-up, before any RPC: the gate is empty */
	if (user_password_hash(password, hash, 10000) != USER_PASSWORD_OK)
		return COMANDA__CODE__INTERNAL;
	const char *params[] = { lower, hash };
	/* ADMIN_EMAIL may name an address someone already signed up with: anyone
	 * can register a plausible admin address in advance, so an existing row
	 * is taken over only when it already is an admin (suspended or deleted:
	 * the operator's way back in). A customer's row is left untouched (the
	 * conflict's WHERE makes the upsert return no row), never promoted with
	 * its sessions. A reactivated admin gets the new password, so its old
	 * sessions end, as after any password change. One statement, safe to
	 * repeat: concurrent replicas make one insert win and the other an
	 * update of that admin to the same values. xmax = 0 tells an inserted
	 * row from an updated one. */
	PGresult *res = NULL;
	code = pg_exec(db,
	    "WITH up AS (INSERT INTO users (name, email, password_hash, role) VALUES ('Administrator', $1, $2, 'admin') "
	    "            ON CONFLICT (lower(email)) DO UPDATE SET status = 'active', "
	    "            password_hash = EXCLUDED.password_hash, updated_at = now() WHERE users.role = 'admin' "
	    "            RETURNING id, xmax = 0 AS inserted), "
	    "     rv AS (UPDATE sessions SET revoked_at = now(), revoke_reason = 'admin' "
	    "            WHERE user_id IN (SELECT id FROM up WHERE NOT inserted) AND revoked_at IS NULL) "
	    "SELECT id, inserted FROM up",
	    2, params, &res);
	if (code == COMANDA__CODE__OK && PQntuples(res) == 0)
		log_printf(LOG_ERROR,
		    "no admin bootstrapped: ADMIN_EMAIL %s belongs to an existing account that is not an admin, left "
		    "unchanged (no active admin exists; set ADMIN_EMAIL to an unused address or promote an account "
		    "yourself)", lower);
	else if (code == COMANDA__CODE__OK && PQgetvalue(res, 0, 1)[0] == 't')
		log_printf(LOG_INFO, "created the admin account %s (no active admin existed)", lower);
	else if (code == COMANDA__CODE__OK)
		log_printf(LOG_INFO, "reactivated the admin account %s with ADMIN_PASSWORD (no active admin existed)",
		    lower);
	PQclear(res);
	return code;
}
