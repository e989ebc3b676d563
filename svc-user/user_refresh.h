/*
 * user_refresh: the rules of a refresh-token exchange, without the database
 * (user_service.c runs them against the sessions table; unit-tested apart).
 *
 * Each refresh replaces the presented token with its successor, and a token
 * presented after it was replaced is reuse: someone holds a copy, and the
 * whole session is revoked. One presentation again is not theft, though: a
 * retry of a refresh whose answer never arrived. A 504 says only that the
 * gateway stopped waiting; svc-user may still run the exchange afterwards
 * (a request that waited for a free worker, or for a frozen svc-user, gets
 * its deadline when a worker takes it: docs/RPC.md), so the client keeps
 * the old token, sends it again, and used to lose its session for it.
 *
 * So the successor is not random but derived from the presented token,
 * HMAC-SHA256 under JWT_SECRET: svc-user can hand the same successor out
 * again without ever storing a token (sessions hold SHA-256 hashes only). A
 * replaced token presented again within the grace window
 * (REFRESH_RETRY_GRACE_S) while its successor is still unused is answered
 * as a retry: the same successor, a fresh access token, nothing changed.
 * Past the window, or once the successor has been exchanged itself, it is
 * reuse as before. The successor is unpredictable to anyone without the
 * key; whoever has JWT_SECRET can mint any access token anyway.
 *
 * Threading: pure functions; any thread.
 */
#ifndef COMANDA_USER_REFRESH_H
#define COMANDA_USER_REFRESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A refresh token: base64url of 32 bytes, no padding (logins draw them at
 * random, refreshes derive them). */
#define USER_REFRESH_BYTES 32
#define USER_REFRESH_TOKEN_LEN 43

/* Writes the successor of refresh token `presented` under key (a JWT key,
 * 32+ bytes) into out: base64url(HMAC-SHA256(key, domain || presented)),
 * NUL-terminated. Returns 0, or -1 when cap < USER_REFRESH_TOKEN_LEN + 1. */
int user_refresh_successor(const uint8_t *key, size_t key_len, const char *presented, char *out, size_t cap);

/* What the sessions table says about a presented refresh token. */
typedef struct user_refresh_state {
	bool revoked;            /* its session was revoked (logout, reuse, suspension, ...) */
	bool replaced;           /* it was exchanged already */
	bool within_grace;       /* ...no longer than REFRESH_RETRY_GRACE_S ago */
	bool successor_derived;  /* the row that exchange added holds user_refresh_successor(token) */
	bool successor_live;     /* ...and it is not exchanged, revoked or expired */
	bool expired;            /* past its expires_at */
	bool user_active;        /* its user's status is active */
} user_refresh_state;

typedef enum user_refresh_verdict {
	USER_REFRESH_ROTATE,     /* hand out the successor; the token is replaced */
	USER_REFRESH_RETRY,      /* hand out the successor already handed out; change nothing */
	USER_REFRESH_REUSE,      /* revoke the whole session; 401 */
	USER_REFRESH_REVOKED,    /* 401 "Session revoked" */
	USER_REFRESH_EXPIRED,    /* 401 "Refresh token expired" */
	USER_REFRESH_INACTIVE,   /* 401 "Account is not active" */
} user_refresh_verdict;

/* The verdict for s. A revoked session stays revoked; a replaced token is a
 * RETRY only within the grace window while its derived successor is live
 * (and then the user must still be active), otherwise REUSE; then expiry,
 * then the user's status. */
user_refresh_verdict user_refresh_decide(const user_refresh_state *s);

#endif
