/*
 * user_refresh: refresh-token successors and the exchange's verdict. See
 * user_refresh.h.
 */
#include "user_refresh.h"

#include <string.h>

#include <sodium.h>

/* Keeps this HMAC apart from any other use of the same key (access tokens
 * are HMACs under it too, of other text, but no overlap should have to be
 * argued). "v1": a change of derivation must not match old rows. */
static const char user_refresh_domain[] = "comanda refresh-token successor v1";

int user_refresh_successor(const uint8_t *key, size_t key_len, const char *presented, char *out, size_t cap)
{
	if (cap < USER_REFRESH_TOKEN_LEN + 1)
		return -1;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, key_len);
	/* with its NUL, so that the domain cannot run on into the token */
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)user_refresh_domain, sizeof(user_refresh_domain));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)presented, strlen(presented));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
	_Static_assert(sizeof(mac) == USER_REFRESH_BYTES, "a successor is as long as a login's token");
	sodium_bin2base64(out, cap, mac, sizeof(mac), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(mac, sizeof(mac));
	return 0;
}

user_refresh_verdict user_refresh_decide(const user_refresh_state *s)
{
	if (s->revoked)
		return USER_REFRESH_REVOKED;
	if (s->replaced) {
		/* The exchange's answer may not have arrived: the same
		 * request again gets the same answer, as long as nobody has
		 * shown to hold that answer by using it. */
		if (s->within_grace && s->successor_derived && s->successor_live)
			return s->user_active ? USER_REFRESH_RETRY : USER_REFRESH_INACTIVE;
		return USER_REFRESH_REUSE;
	}
	if (s->expired)
		return USER_REFRESH_EXPIRED;
	if (!s->user_active)
		return USER_REFRESH_INACTIVE;
	return USER_REFRESH_ROTATE;
}
