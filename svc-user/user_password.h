/*
 * user_password: Argon2id password hashes (libsodium crypto_pwhash).
 *
 * Parameters: Argon2id v1.3, t = 2 passes, m = 19 MiB, p = 1 — the OWASP
 * password-storage minimum — with a 16-byte random salt; the encoded string
 * ($argon2id$v=19$m=19456,t=2,p=1$...) carries them, so hashes made with
 * other parameters still verify after a change.
 *
 * Threading: call user_password_init once (before threads); then any thread.
 */
#ifndef COMANDA_USER_PASSWORD_H
#define COMANDA_USER_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define USER_PASSWORD_HASH_MAX 128 /* crypto_pwhash_STRBYTES */

/* Initialises libsodium and the dummy hash used for unknown e-mails.
 * Returns 0, or -1 when libsodium cannot start. */
int user_password_init(void);

/* Hashes password into out (USER_PASSWORD_HASH_MAX bytes). 0 or -1 (out of memory). */
int user_password_hash(const char *password, char out[USER_PASSWORD_HASH_MAX]);

/* True when password matches hash. hash NULL (unknown user, or a user with
 * no password) is checked against a dummy hash and gives false, so the time
 * taken does not tell whether the account exists. */
bool user_password_verify(const char *hash, const char *password);

#endif
