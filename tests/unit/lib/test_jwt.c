/* lib/jwt: what the gateway accepts and refuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "comanda/rpc.pb-c.h"
#include "jwt.h"
#include "test.h"

static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
static const uint8_t other_key[] = "fedcba9876543210fedcba9876543210";
#define KEYLEN 32
#define NOW 1800000000

/* Builds a token from raw header and payload JSON, signed with k (or with
 * the given literal signature when sig != NULL). */
static void make_token(char *out, size_t cap, const char *header, const char *payload, const uint8_t *k,
    const char *sig)
{
	char h[512], p[512];
	sodium_bin2base64(h, sizeof(h), (const unsigned char *)header, strlen(header),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_bin2base64(p, sizeof(p), (const unsigned char *)payload, strlen(payload),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char signing[1100];
	snprintf(signing, sizeof(signing), "%s.%s", h, p);
	if (sig != NULL) {
		snprintf(out, cap, "%s.%s", signing, sig);
		return;
	}
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, k, KEYLEN);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)signing, strlen(signing));
	crypto_auth_hmacsha256_final(&st, mac);
	char s[128];
	sodium_bin2base64(s, sizeof(s), mac, sizeof(mac), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(out, cap, "%s.%s", signing, s);
}

static const char good_claims[] = "{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"iat\":1799999900,\"exp\":1800000600}";

TEST(jwt_signed_token_verifies_with_its_claims)
{
	jwt_claims c = { .sub = 42, .role = COMANDA__ROLE__ROLE_CUSTOMER, .sid = 9, .iat = NOW, .exp = NOW + 900 };
	char tok[JWT_MAX_LEN];
	CHECK_EQ_INT(jwt_sign(key, KEYLEN, &c, tok, sizeof(tok)), JWT_OK);
	jwt_claims got;
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW + 1, &got), JWT_OK);
	CHECK_EQ_INT(got.sub, 42);
	CHECK_EQ_INT(got.role, COMANDA__ROLE__ROLE_CUSTOMER);
	CHECK_EQ_INT(got.sid, 9);
	CHECK_EQ_INT(got.exp, NOW + 900);
}

TEST(jwt_hand_made_hs256_token_verifies)
{
	char tok[JWT_MAX_LEN];
	make_token(tok, sizeof(tok), "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", good_claims, key, NULL);
	jwt_claims got;
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_OK);
	CHECK_EQ_INT(got.sub, 7);
	CHECK_EQ_INT(got.role, COMANDA__ROLE__ROLE_ADMIN);
}

TEST(jwt_alg_none_is_refused)
{
	char tok[JWT_MAX_LEN];
	make_token(tok, sizeof(tok), "{\"alg\":\"none\",\"typ\":\"JWT\"}", good_claims, key, "");
	jwt_claims got;
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_ALG);
	make_token(tok, sizeof(tok), "{\"alg\":\"none\"}", good_claims, key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_ALG);
}

TEST(jwt_other_algorithms_are_refused)
{
	char tok[JWT_MAX_LEN];
	jwt_claims got;
	make_token(tok, sizeof(tok), "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", good_claims, key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_ALG);
	make_token(tok, sizeof(tok), "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", good_claims, key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_ALG);
	make_token(tok, sizeof(tok), "{\"alg\":\"hs256\"}", good_claims, key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_ALG);
	make_token(tok, sizeof(tok), "{\"typ\":\"JWT\"}", good_claims, key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_ALG);
}

TEST(jwt_wrong_key_is_refused)
{
	char tok[JWT_MAX_LEN];
	jwt_claims got;
	make_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}", good_claims, other_key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_SIGNATURE);
}

TEST(jwt_tampered_payload_is_refused)
{
	jwt_claims c = { .sub = 42, .role = COMANDA__ROLE__ROLE_CUSTOMER, .sid = 9, .iat = NOW, .exp = NOW + 900 };
	char tok[JWT_MAX_LEN];
	jwt_sign(key, KEYLEN, &c, tok, sizeof(tok));
	/* swap the payload for one claiming admin, keep the signature */
	char forged[JWT_MAX_LEN], sig[128];
	const char *last = strrchr(tok, '.');
	snprintf(sig, sizeof(sig), "%s", last + 1);
	make_token(forged, sizeof(forged), "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
	    "{\"sub\":\"42\",\"role\":\"admin\",\"sid\":9,\"iat\":1800000000,\"exp\":1800000900}", key, sig);
	jwt_claims got;
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, forged, NOW, &got), JWT_E_SIGNATURE);
	/* flip one character of the signature */
	size_t n = strlen(tok);
	tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_SIGNATURE);
}

TEST(jwt_expired_token_is_refused)
{
	jwt_claims c = { .sub = 1, .role = COMANDA__ROLE__ROLE_CUSTOMER, .sid = 1, .iat = NOW - 1000, .exp = NOW - 100 };
	char tok[JWT_MAX_LEN];
	jwt_sign(key, KEYLEN, &c, tok, sizeof(tok));
	jwt_claims got;
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_EXPIRED);
	c.exp = NOW; /* exp == now is already expired */
	jwt_sign(key, KEYLEN, &c, tok, sizeof(tok));
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_EXPIRED);
}

TEST(jwt_token_not_valid_yet_is_refused)
{
	/* nbf one second ahead: refused, to the second (no leeway, jwt.h) */
	jwt_claims c = { .sub = 1, .role = COMANDA__ROLE__ROLE_CUSTOMER, .sid = 1, .iat = NOW, .exp = NOW + 900,
		.nbf = NOW + 1 };
	char tok[JWT_MAX_LEN];
	CHECK_EQ_INT(jwt_sign(key, KEYLEN, &c, tok, sizeof(tok)), JWT_OK);
	jwt_claims got;
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_NOT_YET_VALID);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW + 1, &got), JWT_OK); /* nbf == now: valid */
	CHECK_EQ_INT(got.nbf, NOW + 1);
	c.nbf = NOW + 3600;
	jwt_sign(key, KEYLEN, &c, tok, sizeof(tok));
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_NOT_YET_VALID);
	/* a hand-made one, as an attacker holding an old key might mint */
	make_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}",
	    "{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"nbf\":1800000100,\"exp\":1800000600}", key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_NOT_YET_VALID);
	/* an nbf in the past is fine */
	c.nbf = NOW - 10;
	jwt_sign(key, KEYLEN, &c, tok, sizeof(tok));
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_OK);
}

TEST(jwt_token_issued_in_the_future_is_refused_past_the_leeway)
{
	jwt_claims c = { .sub = 1, .role = COMANDA__ROLE__ROLE_CUSTOMER, .sid = 1, .iat = NOW + JWT_IAT_LEEWAY_S,
		.exp = NOW + JWT_IAT_LEEWAY_S + 900 };
	char tok[JWT_MAX_LEN];
	jwt_claims got;
	/* within the leeway: a signer whose clock is a little ahead */
	jwt_sign(key, KEYLEN, &c, tok, sizeof(tok));
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_OK);
	/* one second past it */
	c.iat = NOW + JWT_IAT_LEEWAY_S + 1;
	jwt_sign(key, KEYLEN, &c, tok, sizeof(tok));
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_ISSUED_LATER);
	/* far ahead, and at the edge of int64 (no overflow in the check) */
	make_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}",
	    "{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"iat\":1900000000,\"exp\":1900000600}", key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_ISSUED_LATER);
	make_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}",
	    "{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"iat\":9223372036854775807,"
	    "\"exp\":9223372036854775807}", key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_ISSUED_LATER);
}

TEST(jwt_iat_and_nbf_are_optional_but_typed)
{
	jwt_claims got;
	char tok[JWT_MAX_LEN];
	/* no iat, no nbf: accepted (RFC 7519 makes both optional; every token
	 * svc-user issues has an iat, and docs/API.md requires only exp, sub,
	 * role and sid) */
	make_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}", "{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"exp\":1800000600}",
	    key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_OK);
	CHECK_EQ_INT(got.iat, 0);
	CHECK_EQ_INT(got.nbf, 0);
	/* present, they must be integers, as exp must: a string, a double or
	 * null would otherwise switch the check off */
	const char *bad[] = {
		"{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"exp\":1800000600,\"nbf\":\"1900000000\"}",
		"{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"exp\":1800000600,\"nbf\":1.9e9}",
		"{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"exp\":1800000600,\"nbf\":null}",
		"{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"exp\":1800000600,\"iat\":\"1900000000\"}",
		"{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"exp\":1800000600,\"iat\":1.9e9}",
		"{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"exp\":1800000600,\"iat\":[1]}",
		NULL,
	};
	for (int i = 0; bad[i] != NULL; i++) {
		make_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}", bad[i], key, NULL);
		int rc = jwt_verify(key, KEYLEN, tok, NOW, &got);
		if (rc != JWT_E_MALFORMED)
			test_fail(__FILE__, __LINE__, "%s: %d, want JWT_E_MALFORMED", bad[i], rc);
	}
}

TEST(jwt_integer_claims_out_of_range_are_refused)
{
	jwt_claims got;
	char tok[JWT_MAX_LEN];
	const char *bad[] = {
		/* out of int64's range: json-c would clamp them to INT64_MAX /
		 * INT64_MIN, a different claim from the one signed */
		"{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"exp\":9223372036854775808}",
		"{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"exp\":99999999999999999999}",
		"{\"sub\":\"7\",\"role\":\"admin\",\"sid\":18446744073709551615,\"exp\":1800000600}",
		"{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"exp\":1800000600,\"nbf\":-99999999999999999999}",
		"{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"exp\":1800000600,\"iat\":-9223372036854775808}",
		NULL,
	};
	for (int i = 0; bad[i] != NULL; i++) {
		make_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}", bad[i], key, NULL);
		int rc = jwt_verify(key, KEYLEN, tok, NOW, &got);
		if (rc != JWT_E_MALFORMED)
			test_fail(__FILE__, __LINE__, "%s: %d, want JWT_E_MALFORMED", bad[i], rc);
	}
}

TEST(jwt_check_time_order)
{
	jwt_claims c = { .iat = NOW, .exp = NOW + 900 };
	CHECK_EQ_INT(jwt_check_time(&c, NOW), JWT_OK);
	c.exp = NOW;
	CHECK_EQ_INT(jwt_check_time(&c, NOW), JWT_E_EXPIRED);
	c.exp = NOW + 900;
	c.nbf = NOW + 1;
	CHECK_EQ_INT(jwt_check_time(&c, NOW), JWT_E_NOT_YET_VALID);
	c.nbf = 0;
	c.iat = NOW + JWT_IAT_LEEWAY_S + 1;
	CHECK_EQ_INT(jwt_check_time(&c, NOW), JWT_E_ISSUED_LATER);
	CHECK_EQ_INT(jwt_check_time(&c, NOW + 1), JWT_OK);
	CHECK(strcmp(jwt_strerror(JWT_E_NOT_YET_VALID), "unknown error") != 0);
	CHECK(strcmp(jwt_strerror(JWT_E_ISSUED_LATER), "unknown error") != 0);
}

TEST(jwt_malformed_tokens_are_refused)
{
	jwt_claims got;
	const char *bad[] = { "", "abc", "a.b", "a.b.c.d", "...", "!!.??.**", "eyJhbGciOiJIUzI1NiJ9..", NULL };
	for (int i = 0; bad[i]; i++)
		CHECK(jwt_verify(key, KEYLEN, bad[i], NOW, &got) != JWT_OK);
	char tok[JWT_MAX_LEN];
	/* header that is not JSON, a JSON array, a nested bomb */
	make_token(tok, sizeof(tok), "not json", good_claims, key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_MALFORMED);
	make_token(tok, sizeof(tok), "[\"HS256\"]", good_claims, key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_MALFORMED);
	make_token(tok, sizeof(tok), "{\"alg\":\"HS256\",\"x\":[[[[[[[[[[1]]]]]]]]]]}", good_claims, key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_MALFORMED);
	/* claims of the wrong types or missing */
	make_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}", "{\"sub\":7,\"role\":\"admin\",\"sid\":3,\"exp\":1800000600}", key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_MALFORMED);
	make_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}", "{\"sub\":\"7\",\"role\":\"root\",\"sid\":3,\"exp\":1800000600}", key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_MALFORMED);
	make_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}", "{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3}", key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_MALFORMED);
	make_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}", "{\"sub\":\"7\",\"role\":\"admin\",\"sid\":3,\"exp\":1.8e9}", key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_MALFORMED);
	make_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}", "{\"sub\":\"-7\",\"role\":\"admin\",\"sid\":3,\"exp\":1800000600}", key, NULL);
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_MALFORMED);
	/* over the length limit */
	char huge[JWT_MAX_LEN + 100];
	memset(huge, 'a', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, huge, NOW, &got), JWT_E_MALFORMED);
}

TEST(jwt_has_one_spelling)
{
	jwt_claims c = { .sub = 42, .role = COMANDA__ROLE__ROLE_CUSTOMER, .sid = 9, .iat = NOW, .exp = NOW + 900 };
	char tok[JWT_MAX_LEN];
	jwt_sign(key, KEYLEN, &c, tok, sizeof(tok));
	jwt_claims got;
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_OK);
	/* a byte outside base64url in the signature: libsodium would read it
	 * as '_' and the token would still verify */
	size_t n = strlen(tok);
	char last = tok[n - 1];
	tok[n - 1] = (char)0xff;
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_MALFORMED);
	tok[n - 1] = last;
	tok[3] = '+';
	CHECK_EQ_INT(jwt_verify(key, KEYLEN, tok, NOW, &got), JWT_E_MALFORMED);
}

/* jwt_keys_from_cfg with JWT_SECRET = k and JWT_SECRET_PREVIOUS = previous
 * (NULL: unset), development settings; the environment is cleared after. */
static int keys_from(const char *k, const char *previous, jwt_keys *out)
{
	setenv("JWT_SECRET", k, 1);
	if (previous != NULL)
		setenv("JWT_SECRET_PREVIOUS", previous, 1);
	int rc = jwt_keys_from_cfg("test", out);
	unsetenv("JWT_SECRET");
	unsetenv("JWT_SECRET_PREVIOUS");
	return rc;
}

TEST(jwt_keys_from_cfg_reads_the_key_and_the_previous_one)
{
	const char *now = "the-current-key-0123456789abcdef01", *before = "the-previous-key-0123456789abcdef0";
	jwt_keys k;
	CHECK_EQ_INT(keys_from(now, NULL, &k), 0);
	CHECK(k.key != NULL && k.key_len == strlen(now) && memcmp(k.key, now, k.key_len) == 0);
	CHECK(k.previous == NULL && k.previous_len == 0);
	CHECK_EQ_INT(keys_from(now, before, &k), 0);
	CHECK(k.previous != NULL && k.previous_len == strlen(before) && memcmp(k.previous, before, k.previous_len) == 0);
	/* empty is unset: no rotation under way */
	CHECK_EQ_INT(keys_from(now, "", &k), 0);
	CHECK(k.previous == NULL);
}

TEST(jwt_keys_from_cfg_refuses_a_weak_key_or_previous_key)
{
	jwt_keys k;
	CHECK_EQ_INT(keys_from("short", NULL, &k), -1);
	/* a previous key is held to the same rules: no back door */
	CHECK_EQ_INT(keys_from("the-current-key-0123456789abcdef01", "short", &k), -1);
	CHECK(k.key == NULL && k.previous == NULL);
}

/* A previous key still holding deploy/k8s/secret.yaml's placeholder is
 * refused in production like JWT_SECRET itself (cfg_secret); in
 * development, where no secret is checked, it is taken. */
TEST(jwt_keys_from_cfg_refuses_a_placeholder_previous_key_in_production)
{
	const char *now = "the-current-key-0123456789abcdef01", *placeholder = "CHANGE-ME-to-32-or-more-random-bytes";
	jwt_keys k;
	setenv("COMANDA_ENV", "production", 1);
	CHECK_EQ_INT(keys_from(now, placeholder, &k), -1);
	CHECK(k.key == NULL && k.previous == NULL);
	CHECK_EQ_INT(keys_from(now, "the-previous-key-0123456789abcdef0", &k), 0);
	unsetenv("COMANDA_ENV");
	CHECK_EQ_INT(keys_from(now, placeholder, &k), 0);
}
