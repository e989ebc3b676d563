#include "jwt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "comanda/rpc.pb-c.h"

/* base64url("{"alg":"HS256","typ":"JWT"}") */
static const char jwt_header_b64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

static const char *jwt_role_name(int role)
{
	return role == COMANDA__ROLE__ROLE_ADMIN ? "admin" : "customer";
}

static void jwt_hmac(const uint8_t *key, size_t key_len, const char *msg, size_t len,
    uint8_t mac[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, key_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
}

int jwt_sign(const uint8_t *key, size_t key_len, const jwt_claims *c, char *out, size_t cap)
{
	char payload[256], nbf[32] = "";
	if (c->nbf != 0)
		snprintf(nbf, sizeof(nbf), ",\"nbf\":%" PRId64, c->nbf);
	int n = snprintf(payload, sizeof(payload),
	    "{\"sub\":\"%" PRId64 "\",\"role\":\"%s\",\"sid\":%" PRId64 ",\"iat\":%" PRId64 ",\"exp\":%" PRId64 "%s}",
	    c->sub, jwt_role_name(c->role), c->sid, c->iat, c->exp, nbf);
	if (n < 0 || (size_t)n >= sizeof(payload))
		return JWT_E_SPACE;
	size_t hlen = sizeof(jwt_header_b64) - 1;
	size_t plen = sodium_base64_ENCODED_LEN((size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	size_t slen = sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	if (cap < hlen + 1 + plen + 1 + slen)
		return JWT_E_SPACE;
	memcpy(out, jwt_header_b64, hlen);
	out[hlen] = '.';
	sodium_bin2base64(out + hlen + 1, plen, (const unsigned char *)payload, (size_t)n,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	size_t signed_len = strlen(out);
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	jwt_hmac(key, key_len, out, signed_len, mac);
	out[signed_len] = '.';
	sodium_bin2base64(out + signed_len + 1, slen, mac, sizeof(mac), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return JWT_OK;
}

/* Decodes one base64url part (no padding) and parses it as a JSON object. */
static json_object *jwt_json_part(const char *b64, size_t len)
{
	unsigned char buf[JWT_MAX_LEN];
	size_t n = 0;
	if (len == 0 || sodium_base642bin(buf, sizeof(buf) - 1, b64, len, NULL, &n, NULL,
	        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return NULL;
	buf[n] = '\0';
	if (strlen((char *)buf) != n)
		return NULL; /* embedded NUL */
	json_tokener *tok = json_tokener_new_ex(4);
	if (tok == NULL)
		return NULL;
	json_object *obj = json_tokener_parse_ex(tok, (char *)buf, (int)n);
	bool whole = json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == n;
	json_tokener_free(tok);
	if (obj == NULL || !whole || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

/* An integer claim: a JSON integer (not a double, not a string) that fits
 * int64_t. json-c clamps silently: a number above INT64_MAX is kept as a
 * uint64 that json_object_get_int64 turns into INT64_MAX, and one below
 * INT64_MIN is stored as INT64_MIN. So a value past INT64_MAX is refused,
 * and INT64_MIN too, since it cannot be told from a clamped one (no claim
 * here is meaningful below 0 anyway). */
static bool jwt_int_claim(json_object *o, const char *name, int64_t *out)
{
	json_object *v;
	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_int))
		return false;
	errno = 0;
	*out = json_object_get_int64(v);
	if (errno != 0 || *out == INT64_MIN)
		return false;
	return *out != INT64_MAX || json_object_get_uint64(v) == (uint64_t)INT64_MAX;
}

/* An optional integer claim: absent is 0 and true; present, it must be a
 * JSON integer as jwt_int_claim wants (a string or a double is malformed,
 * not ignored: a check that a typo could switch off is no check). */
static bool jwt_opt_int_claim(json_object *o, const char *name, int64_t *out)
{
	*out = 0;
	if (!json_object_object_get_ex(o, name, NULL))
		return true;
	return jwt_int_claim(o, name, out);
}

/* True when s[0..n) holds only base64url characters and dots. libsodium's
 * decoder maps some other bytes to valid ones, which would give one token
 * many spellings; a token must have exactly one. */
static bool jwt_charset_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		        c == '.'))
			return false;
	}
	return true;
}

int jwt_verify(const uint8_t *key, size_t key_len, const char *token, int64_t now_s, jwt_claims *out)
{
	memset(out, 0, sizeof(*out));
	size_t len = strnlen(token, JWT_MAX_LEN + 1);
	if (len == 0 || len > JWT_MAX_LEN || !jwt_charset_ok(token, len))
		return JWT_E_MALFORMED;
	const char *dot1 = memchr(token, '.', len);
	if (dot1 == NULL)
		return JWT_E_MALFORMED;
	const char *dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
		return JWT_E_MALFORMED;

	/* 1. the header: exactly HS256 */
	json_object *hdr = jwt_json_part(token, (size_t)(dot1 - token));
	if (hdr == NULL)
		return JWT_E_MALFORMED;
	json_object *alg;
	bool hs256 = json_object_object_get_ex(hdr, "alg", &alg) && json_object_is_type(alg, json_type_string) &&
	    strcmp(json_object_get_string(alg), "HS256") == 0;
	json_object_put(hdr);
	if (!hs256)
		return JWT_E_ALG;

	/* 2. the signature over "header.payload", in constant time */
	unsigned char sig[crypto_auth_hmacsha256_BYTES + 1];
	size_t sig_len = 0;
	const char *sig_b64 = dot2 + 1;
	if (sodium_base642bin(sig, sizeof(sig), sig_b64, len - (size_t)(sig_b64 - token), NULL, &sig_len, NULL,
	        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    sig_len != crypto_auth_hmacsha256_BYTES)
		return JWT_E_SIGNATURE;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	jwt_hmac(key, key_len, token, (size_t)(dot2 - token), mac);
	if (crypto_verify_32(mac, sig) != 0)
		return JWT_E_SIGNATURE;

	/* 3. the claims */
	json_object *claims = jwt_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (claims == NULL)
		return JWT_E_MALFORMED;
	int rc = JWT_OK;
	json_object *sub, *role;
	char *end = NULL;
	if (!json_object_object_get_ex(claims, "sub", &sub) || !json_object_is_type(sub, json_type_string) ||
	    !json_object_object_get_ex(claims, "role", &role) || !json_object_is_type(role, json_type_string) ||
	    !jwt_int_claim(claims, "exp", &out->exp) || !jwt_int_claim(claims, "sid", &out->sid) ||
	    !jwt_opt_int_claim(claims, "iat", &out->iat) || !jwt_opt_int_claim(claims, "nbf", &out->nbf)) {
		rc = JWT_E_MALFORMED;
		goto done;
	}
	const char *subs = json_object_get_string(sub);
	errno = 0;
	long long id = strtoll(subs, &end, 10);
	if (errno != 0 || end == subs || *end != '\0' || id <= 0) {
		rc = JWT_E_MALFORMED;
		goto done;
	}
	out->sub = id;
	const char *r = json_object_get_string(role);
	if (strcmp(r, "admin") == 0)
		out->role = COMANDA__ROLE__ROLE_ADMIN;
	else if (strcmp(r, "customer") == 0)
		out->role = COMANDA__ROLE__ROLE_CUSTOMER;
	else {
		rc = JWT_E_MALFORMED;
		goto done;
	}
	rc = jwt_check_time(out, now_s);
done:
	json_object_put(claims);
	return rc;
}

int jwt_check_time(const jwt_claims *c, int64_t now_s)
{
	if (c->exp <= now_s)
		return JWT_E_EXPIRED;
	if (c->nbf > now_s)
		return JWT_E_NOT_YET_VALID;
	/* written as a difference: an iat near INT64_MAX must not overflow */
	if (c->iat > now_s && c->iat - now_s > JWT_IAT_LEEWAY_S)
		return JWT_E_ISSUED_LATER;
	return JWT_OK;
}

const char *jwt_key_problem(const char *key, bool production)
{
	if (key == NULL || strlen(key) < JWT_MIN_KEY_LEN)
		return "must be at least 32 bytes";
	/* The development key is public (it is in the source): in production
	 * it would let anyone mint an admin token. */
	if (production && strcmp(key, JWT_DEV_SECRET) == 0)
		return "must not be the development key in production";
	return NULL;
}

const char *jwt_strerror(int rc)
{
	switch (rc) {
	case JWT_OK: return "ok";
	case JWT_E_MALFORMED: return "malformed token";
	case JWT_E_ALG: return "algorithm not accepted";
	case JWT_E_SIGNATURE: return "bad signature";
	case JWT_E_EXPIRED: return "token expired";
	case JWT_E_SPACE: return "buffer too small";
	case JWT_E_NOT_YET_VALID: return "token not valid yet (nbf in the future)";
	case JWT_E_ISSUED_LATER: return "token issued in the future (iat past the clock-skew leeway)";
	default: return "unknown error";
	}
}
