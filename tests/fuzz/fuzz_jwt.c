/*
 * fuzz_jwt: the gateway's access-token path (lib/jwt.c, gateway/gw_auth.c).
 *
 * Every input is used three ways:
 *   1. as a whole Authorization header value: gw_auth_bearer, then
 *      jwt_verify of the token it yields, as gw_auth_authorize does;
 *   2. as a bare token: jwt_verify with a fixed key and clock (reaches the
 *      JSON parts with characters the bearer grammar would refuse);
 *   3. sign-then-mutate: the first bytes choose claims, jwt_sign makes a
 *      token into a buffer of an input-chosen size (allocated exactly, so
 *      ASan sees any overrun), the token must verify to the same claims,
 *      and then the rest of the input edits the token (overwrite, insert,
 *      delete, truncate): an edited token that differs from the signed one
 *      must never verify (no forgery, no malleable encoding).
 *
 * Oracles beyond the sanitizers: verify's result is one of the documented
 * codes; OK fills claims consistent with what a valid token may carry
 * (sub > 0, a known role, exp > now); the sign/verify round trip; 3's rule.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "comanda/rpc.pb-c.h"
#include "gw_auth.h"
#include "jwt.h"

#define FUZZ_NOW 1760000000LL /* fixed clock: 2025-10-09 */

static const uint8_t fuzz_key[] = JWT_DEV_SECRET;
#define FUZZ_KEY_LEN (sizeof(fuzz_key) - 1)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FUZZ_SKIP_KNOWN=1: do not stop on the known finding that the signature
 * decoder takes any byte >= 0x80 for '_' (tests/fuzz/README.md). */
static bool fuzz_skip_known;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_skip_known = fuzz_skip_known_from_env();
	return 0;
}

static bool fuzz_has_high_byte(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

static void fuzz_fail(const char *what, const char *token)
{
	fprintf(stderr, "fuzz_jwt: %s\n  token: %s\n", what, token != NULL ? token : "(null)");
	abort();
}

/* verify and check the result is well-formed */
static int fuzz_verify(const char *token)
{
	jwt_claims c;
	int rc = jwt_verify(fuzz_key, FUZZ_KEY_LEN, token, FUZZ_NOW, &c);
	switch (rc) {
	case JWT_OK:
		if (c.sub <= 0)
			fuzz_fail("verified token with sub <= 0", token);
		if (c.role != COMANDA__ROLE__ROLE_CUSTOMER && c.role != COMANDA__ROLE__ROLE_ADMIN)
			fuzz_fail("verified token with an unknown role", token);
		if (c.exp <= FUZZ_NOW)
			fuzz_fail("verified token that has expired", token);
		if (c.nbf > FUZZ_NOW || (c.iat > FUZZ_NOW && c.iat - FUZZ_NOW > JWT_IAT_LEEWAY_S))
			fuzz_fail("verified token that is not valid yet", token);
		break;
	case JWT_E_MALFORMED:
	case JWT_E_ALG:
	case JWT_E_SIGNATURE:
	case JWT_E_EXPIRED:
	case JWT_E_NOT_YET_VALID:
	case JWT_E_ISSUED_LATER:
		break;
	default:
		fuzz_fail("jwt_verify returned an undocumented code", token);
	}
	(void)jwt_strerror(rc);
	return rc;
}

static uint64_t fuzz_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* 3. sign-then-mutate. Layout: sub[8] sid[8] exp_delta[4] role[1] cap[2]
 * then edits of 3 bytes each: op, position, byte. */
static void fuzz_sign_mutate(const uint8_t *data, size_t size)
{
	if (size < 23)
		return;
	jwt_claims c = { 0 };
	c.sub = (int64_t)fuzz_u64(data);
	c.sid = (int64_t)fuzz_u64(data + 8);
	int32_t delta = (int32_t)((uint32_t)data[16] << 24 | (uint32_t)data[17] << 16 | (uint32_t)data[18] << 8 |
	    data[19]);
	c.iat = FUZZ_NOW;
	c.exp = FUZZ_NOW + delta;
	c.role = (data[20] & 1) ? COMANDA__ROLE__ROLE_ADMIN : COMANDA__ROLE__ROLE_CUSTOMER;
	size_t cap = ((size_t)data[21] << 8 | data[22]) % 600;
	data += 23;
	size -= 23;

	char *tok = malloc(cap > 0 ? cap : 1);
	if (tok == NULL)
		return;
	int rc = jwt_sign(fuzz_key, FUZZ_KEY_LEN, &c, tok, cap);
	if (rc == JWT_E_SPACE) {
		free(tok);
		return;
	}
	if (rc != JWT_OK)
		fuzz_fail("jwt_sign returned neither OK nor SPACE", NULL);
	size_t len = strnlen(tok, cap);
	if (len == cap)
		fuzz_fail("jwt_sign left its output unterminated", NULL);

	/* round trip */
	jwt_claims got;
	rc = jwt_verify(fuzz_key, FUZZ_KEY_LEN, tok, FUZZ_NOW, &got);
	int want = c.sub <= 0 || c.sid == INT64_MIN ? JWT_E_MALFORMED : c.exp <= FUZZ_NOW ? JWT_E_EXPIRED : JWT_OK;
	if (rc != want) {
		fprintf(stderr, "fuzz_jwt: round trip gave %d (%s), want %d\n", rc, jwt_strerror(rc), want);
		fuzz_fail("a token jwt_sign made does not verify as it should", tok);
	}
	if (rc == JWT_OK && (got.sub != c.sub || got.sid != c.sid || got.exp != c.exp || got.iat != c.iat ||
	                        got.role != c.role))
		fuzz_fail("round trip changed the claims", tok);

	/* edits: the buffer grows by at most one byte per edit */
	size_t n_edits = size / 3;
	char *m = malloc(len + n_edits + 1);
	if (m == NULL) {
		free(tok);
		return;
	}
	memcpy(m, tok, len + 1);
	size_t mlen = len;
	for (size_t i = 0; i < n_edits; i++) {
		uint8_t op = data[3 * i], pos8 = data[3 * i + 1], byte = data[3 * i + 2];
		size_t pos = mlen > 0 ? ((size_t)pos8 * 7 + (size_t)op * 131) % (mlen + 1) : 0;
		if (byte == 0)
			byte = '.';
		switch (op % 4) {
		case 0: /* overwrite */
			if (pos < mlen)
				m[pos] = (char)byte;
			break;
		case 1: /* insert */
			memmove(m + pos + 1, m + pos, mlen - pos + 1);
			m[pos] = (char)byte;
			mlen++;
			break;
		case 2: /* delete */
			if (pos < mlen) {
				memmove(m + pos, m + pos + 1, mlen - pos);
				mlen--;
			}
			break;
		case 3: /* truncate */
			m[pos] = '\0';
			mlen = pos;
			break;
		}
	}
	rc = fuzz_verify(m);
	if (rc == JWT_OK && strcmp(m, tok) != 0 && !(fuzz_skip_known && fuzz_has_high_byte(m))) {
		fprintf(stderr, "fuzz_jwt: signed token: %s\n", tok);
		fuzz_fail("an edited token verified (forgery or malleable encoding)", m);
	}
	free(m);
	free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstring(data, size);
	if (s == NULL)
		return 0;

	/* 1. the Authorization header */
	const char *token = NULL;
	gw_bearer b = gw_auth_bearer(s, &token);
	if (b == GW_BEARER_OK) {
		/* RFC 6750 b64token: [A-Za-z0-9-._~+/]+ then '=' only, <= JWT_MAX_LEN */
		size_t n = token != NULL ? strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/") : 0;
		if (n == 0 || strlen(token) > JWT_MAX_LEN || token[n + strspn(token + n, "=")] != '\0')
			fuzz_fail("gw_auth_bearer: OK without a proper b64token", s);
		fuzz_verify(token);
	} else if (token != NULL) {
		fuzz_fail("gw_auth_bearer: a token on failure", s);
	}

	/* 2. the bare token */
	fuzz_verify(s);
	free(s);

	/* 3. sign, then mutate */
	fuzz_sign_mutate(data, size);
	return 0;
}
