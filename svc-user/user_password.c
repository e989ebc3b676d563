#include "user_password.h"

#include <string.h>

#include <sodium.h>

#define USER_PW_OPSLIMIT 2
#define USER_PW_MEMLIMIT (19u * 1024u * 1024u)

_Static_assert(USER_PASSWORD_HASH_MAX == crypto_pwhash_STRBYTES, "hash buffer size");

/* Verified against when there is no real hash: same parameters, same cost. */
static char user_dummy_hash[USER_PASSWORD_HASH_MAX];

int user_password_init(void)
{
	if (sodium_init() < 0)
		return -1;
	return user_password_hash("comanda-dummy-password", user_dummy_hash);
}

int user_password_hash(const char *password, char out[USER_PASSWORD_HASH_MAX])
{
	return crypto_pwhash_str_alg(out, password, strlen(password), USER_PW_OPSLIMIT, USER_PW_MEMLIMIT,
	           crypto_pwhash_ALG_ARGON2ID13) == 0 ? 0 : -1;
}

bool user_password_verify(const char *hash, const char *password)
{
	if (hash == NULL || hash[0] == '\0') {
		/* same work as a real check; the outcome is irrelevant */
		int rc = crypto_pwhash_str_verify(user_dummy_hash, password, strlen(password));
		(void)rc;
		return false;
	}
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}
