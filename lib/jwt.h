/*
 * jwt: Comanda's access tokens, JWS compact form with HS256 only.
 *
 * The gateway verifies every request's token itself (no RPC); svc-user signs
 * them at login and refresh. Exactly one algorithm is accepted: a token whose
 * header says anything but "HS256" (including "none") is refused before its
 * signature is looked at, and the signature is compared in constant time.
 *
 * Threading: pure functions; call from any thread.
 */
#ifndef COMANDA_JWT_H
#define COMANDA_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The key of a development run when JWT_SECRET is unset (refused in
 * production by cfg_secret); the gateway and svc-user must agree on it. */
#define JWT_DEV_SECRET "comanda-development-jwt-key-never-use-in-production"

#define JWT_MAX_LEN 1024        /* longer tokens are refused unparsed */
#define JWT_MIN_KEY_LEN 32

enum {
	JWT_OK = 0,
	JWT_E_MALFORMED = -1,   /* not three base64url parts of JSON objects, or claims missing */
	JWT_E_ALG = -2,         /* alg is not HS256 */
	JWT_E_SIGNATURE = -3,   /* signature does not match */
	JWT_E_EXPIRED = -4,     /* exp <= now */
	JWT_E_SPACE = -5,       /* output buffer too small */
	JWT_E_NOT_YET_VALID = -6, /* nbf > now */
	JWT_E_ISSUED_LATER = -7,  /* iat > now + JWT_IAT_LEEWAY_S */
};

/* How far in the future a token's iat may be. svc-user stamps iat with its
 * own clock and the gateway compares it with another (another host, in a
 * deployment with several): NTP keeps such clocks well within a second of
 * each other, and a minute absorbs a host whose sync has lapsed for a while
 * without giving a token minted to start later any real head start. exp has
 * no leeway: a token is 15 minutes long, and a skewed gateway ending it a
 * little early or late changes nothing that a refresh does not. nbf has
 * none either: svc-user never sets it, so an nbf is always a deliberate
 * "not before", honoured to the second (a future issuer that sets nbf to
 * its iat should leave it out instead, or this must become a leeway too). */
#define JWT_IAT_LEEWAY_S 60

typedef struct jwt_claims {
	int64_t sub;            /* user id ("sub" is its decimal string) */
	int role;               /* COMANDA__ROLE__ROLE_CUSTOMER or _ADMIN ("role": "customer"/"admin") */
	int64_t sid;            /* session id */
	int64_t iat;            /* issued at, Unix seconds; 0: none (optional, RFC 7519; svc-user always sets it) */
	int64_t exp;            /* expires at, Unix seconds */
	int64_t nbf;            /* not before, Unix seconds; 0: none (svc-user never sets it) */
} jwt_claims;

/* Writes the signed token for c into out (cap bytes, NUL-terminated); nbf
 * is written only when not 0. Returns JWT_OK or JWT_E_SPACE. */
int jwt_sign(const uint8_t *key, size_t key_len, const jwt_claims *c, char *out, size_t cap);

/* Checks token's form, algorithm, signature and times (jwt_check_time)
 * against now_s, and fills *out. iat and nbf are optional, but when present
 * must be JSON integers like exp. An integer claim outside
 * (INT64_MIN, INT64_MAX] is JWT_E_MALFORMED (JSON readers clamp such numbers,
 * so INT64_MIN is refused too). Returns JWT_OK or the first JWT_E_* that
 * applies. */
int jwt_verify(const uint8_t *key, size_t key_len, const char *token, int64_t now_s, jwt_claims *out);

/* The time checks alone, for claims verified earlier (the gateway's cache
 * of verified tokens): JWT_E_EXPIRED when exp <= now_s, else
 * JWT_E_NOT_YET_VALID when nbf > now_s, else JWT_E_ISSUED_LATER when
 * iat > now_s + JWT_IAT_LEEWAY_S, else JWT_OK. */
int jwt_check_time(const jwt_claims *c, int64_t now_s);

/* Why `key` must not sign tokens ("must be at least 32 bytes"; the caller
 * names the variable), or NULL when it may: shorter than
 * JWT_MIN_KEY_LEN, or (in production) the public development key. The
 * gateway and svc-user both refuse to start on such a key. */
const char *jwt_key_problem(const char *key, bool production);

/* The keys a program signs or verifies tokens with: JWT_SECRET, and
 * JWT_SECRET_PREVIOUS during a rotation (docs/OPERATIONS.md). */
typedef struct jwt_keys {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *previous;        /* NULL: no rotation under way */
	size_t previous_len;
} jwt_keys;

/* Reads both variables (in jwt_cfg.c: this file knows nothing of the
 * environment). Each must pass jwt_key_problem: a token signed with a weak
 * previous key must not get in by the back door. Returns 0, or -1 after
 * logging which variable is wrong and why, as `program`. The pointers stay
 * valid for the life of the process. Call from the main thread at start. */
int jwt_keys_from_cfg(const char *program, jwt_keys *out);

/* A short reason for a JWT_E_* code, for logs (never shown to clients). */
const char *jwt_strerror(int rc);

#endif
