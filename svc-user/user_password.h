/*
 * user_password: Argon2id password hashes (libsodium crypto_pwhash).
 *
 * Parameters: Argon2id v1.3, t = 2 passes, m = 19 MiB, p = 1 — the OWASP
 * password-storage minimum — with a 16-byte random salt; the encoded string
 * ($argon2id$v=19$m=19456,t=2,p=1$...) carries them, so hashes made with
 * other parameters still verify after a change.
 *
 * Every hash and check goes through a gate of PASSWORD_HASH_CONCURRENCY
 * places: each one holds 19 MiB and ~20 ms of a CPU, so without it a burst
 * of sign-ups or logins grows svc-user by 19 MiB per RPC worker (measured:
 * 11 MiB at rest, 160 MiB under `make bench`'s sign-ups) and gains no
 * throughput, the CPUs being the limit. A call that finds the gate full
 * waits, but only as long as it is given; then it is refused (the service
 * answers UNAVAILABLE, which the gateway turns into 503). Each run that
 * passes the gate counts in comanda_password_hashes_total, op "hash" or
 * "verify" (a refused one counts in comanda_password_hash_refused_total).
 *
 * Threading: call user_password_init once (before threads); then any thread.
 */
#ifndef COMANDA_USER_PASSWORD_H
#define COMANDA_USER_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USER_PASSWORD_HASH_MAX 128 /* crypto_pwhash_STRBYTES */

/* What a hash or check came to. */
enum {
	USER_PASSWORD_OK = 0,        /* hashed; or the password matches */
	USER_PASSWORD_MISMATCH = 1,  /* checked: the password does not match */
	USER_PASSWORD_BUSY = -2,     /* the gate stayed full for the whole wait */
	USER_PASSWORD_NOMEM = -1,    /* out of memory */
};

/* Initialises libsodium, the gate (`concurrency` places, at least 1) and the
 * dummy hash used for unknown e-mails. Returns 0, or -1 when libsodium
 * cannot start. */
int user_password_init(int concurrency);

/* Hashes password into out (USER_PASSWORD_HASH_MAX bytes), waiting at most
 * wait_ms for a place at the gate. USER_PASSWORD_OK, _BUSY or _NOMEM. */
int user_password_hash(const char *password, char out[USER_PASSWORD_HASH_MAX], int64_t wait_ms);

/* Checks password against hash, waiting at most wait_ms for a place at the
 * gate: USER_PASSWORD_OK, _MISMATCH or _BUSY. hash NULL (unknown user, or a
 * user with no password) is checked against a dummy hash and gives
 * _MISMATCH, so the time taken does not tell whether the account exists. */
int user_password_check(const char *hash, const char *password, int64_t wait_ms);

/* ---- the gate, exposed for its unit test ------------------------------- */

/* Takes a place, waiting at most wait_ms (0: not at all); true when taken. */
bool user_password_gate_enter(int64_t wait_ms);

/* Gives a place back. */
void user_password_gate_leave(void);

#endif
