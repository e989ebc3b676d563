/*
 * fuzz_cursor: the `?cursor=` of every list (lib/cursor.c), decoded by
 * svc-user, svc-order and svc-payment from text any client sends.
 *
 * Every input is used three ways:
 *   1. as the cursor text itself: cursor_decode into a key buffer of
 *      CURSOR_KEY_MAX bytes (as the services pass) and into one of an
 *      input-chosen smaller size, each allocated exactly so ASan sees any
 *      write past cap;
 *   2. as the plaintext: base64url(input) is decoded the same way, so the
 *      mutator reaches the "c1|<number>|<key>" parser directly instead of
 *      having to find valid base64 first;
 *   3. as (number, key) for cursor_encode: the first byte picks how the
 *      number (raw 8 bytes, INT64_MIN, INT64_MAX, negative, 0) and the key
 *      (raw bytes, possibly bad; mapped into [A-Za-z0-9_-]; exactly at the
 *      length limit; one past it) are made from the rest; encoded into a
 *      CURSOR_MAX buffer and into an input-chosen smaller one.
 *
 * Oracles beyond the sanitizers (lib/cursor.h):
 *   - decode accepts only what encode makes ("Decoding is strict: anything
 *     else is malformed"): when it accepts a text, encode of the number and
 *     key it returned gives back exactly that text, so a position has one
 *     spelling;
 *   - an accepted key is NUL-terminated within cap, shorter than
 *     CURSOR_KEY_MAX and only [A-Za-z0-9_-]; a smaller cap accepts exactly
 *     when the key fits it, with the same result;
 *   - encode refuses exactly the keys with a character outside
 *     [A-Za-z0-9_-] or of CURSOR_KEY_MAX characters or more; what it makes
 *     is base64url text shorter than CURSOR_MAX that decodes to the same
 *     number and key; a smaller cap gives the same text or a refusal.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz_common.h"
#include "cursor.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_key_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/* FUZZ_SKIP_KNOWN=1: do not stop on the known finding that decode took
 * other spellings of a cursor (tests/fuzz/README.md). */
static bool fuzz_skip_known;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_skip_known = fuzz_skip_known_from_env();
	return 0;
}

static void fuzz_fail(const char *what, const char *cursor, int64_t number, const char *key)
{
	fprintf(stderr, "fuzz_cursor: %s\n  cursor: %s\n  number: %" PRId64 "\n  key: %s\n", what,
	    cursor != NULL ? cursor : "(none)", number, key != NULL ? key : "(none)");
	abort();
}

static bool fuzz_key_valid(const char *k)
{
	return strspn(k, fuzz_key_chars) == strlen(k);
}

/* One decode into a buffer of exactly cap bytes (cap may be 0). Returns
 * the result; on success *number and key (CURSOR_KEY_MAX bytes) hold the
 * copies. */
static int fuzz_decode_cap(const char *cursor, size_t cap, int64_t *number, char key[CURSOR_KEY_MAX])
{
	char *k = malloc(cap > 0 ? cap : 1);
	if (k == NULL)
		abort();
	/* a sentinel that is not a key character, so an unterminated key shows */
	memset(k, '|', cap > 0 ? cap : 1);
	int64_t n = 0;
	int rc = cursor_decode(cursor, &n, k, cap);
	if (rc != 0 && rc != -1)
		fuzz_fail("cursor_decode returned neither 0 nor -1", cursor, 0, NULL);
	if (rc == 0) {
		size_t len = strnlen(k, cap);
		if (len == cap)
			fuzz_fail("cursor_decode accepted, key unterminated within cap", cursor, n, NULL);
		if (len >= CURSOR_KEY_MAX)
			fuzz_fail("cursor_decode returned a key of CURSOR_KEY_MAX characters or more", cursor, n, k);
		if (!fuzz_key_valid(k))
			fuzz_fail("cursor_decode returned a key outside [A-Za-z0-9_-]", cursor, n, k);
		memcpy(key, k, len + 1);
		*number = n;
	}
	free(k);
	return rc;
}

/* 1 and 2: decode text, check the result against encode and a smaller cap. */
static void fuzz_decode(const char *cursor, size_t small_cap)
{
	int64_t n = 0;
	char key[CURSOR_KEY_MAX];
	int rc = fuzz_decode_cap(cursor, CURSOR_KEY_MAX, &n, key);

	int64_t n2 = 0;
	char key2[CURSOR_KEY_MAX];
	int rc2 = fuzz_decode_cap(cursor, small_cap, &n2, key2);
	if (rc2 == 0 && (rc != 0 || n2 != n || strcmp(key2, key) != 0))
		fuzz_fail("a smaller key buffer gave another result", cursor, n2, key2);
	if (rc == 0 && rc2 != 0 && strlen(key) < small_cap)
		fuzz_fail("a smaller key buffer the key fits refused the cursor", cursor, n, key);
	if (rc != 0)
		return;

	char again[CURSOR_MAX];
	if (cursor_encode(again, sizeof(again), n, key) != 0)
		fuzz_fail("cursor_encode refused what cursor_decode returned", cursor, n, key);
	if (strcmp(again, cursor) != 0 && !fuzz_skip_known) {
		fprintf(stderr, "fuzz_cursor: encode gives: %s\n", again);
		fuzz_fail("cursor_decode accepted a spelling cursor_encode does not make", cursor, n, key);
	}
}

static uint64_t fuzz_u64(const uint8_t *p, size_t size)
{
	uint64_t v = 0;
	for (size_t i = 0; i < 8; i++)
		v = v << 8 | (i < size ? p[i] : 0);
	return v;
}

/* 3. encode then decode. Layout: mode[1] number[8] cap[1] key... */
static void fuzz_encode(const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	uint8_t mode = data[0];
	data++;
	size--;
	uint64_t raw = fuzz_u64(data, size);
	int64_t number;
	switch (mode % 5) {
	case 0: number = (int64_t)raw; break;
	case 1: number = INT64_MIN; break;
	case 2: number = INT64_MAX; break;
	case 3: number = -(int64_t)(raw >> 1) - 1; break; /* always negative */
	default: number = 0; break;
	}
	size_t skip = size < 8 ? size : 8;
	data += skip;
	size -= skip;
	size_t small_cap = size > 0 ? data[0] % CURSOR_MAX : 0;
	if (size > 0) {
		data++;
		size--;
	}

	/* the key: room for CURSOR_KEY_MAX + 1 characters at the limits */
	size_t klen;
	switch ((mode / 5) % 4) {
	case 0: klen = size; break;                                 /* raw, may be bad */
	case 1: klen = size; break;                                 /* mapped into the alphabet */
	case 2: klen = CURSOR_KEY_MAX - 1; break;                   /* the longest allowed */
	default: klen = CURSOR_KEY_MAX; break;                      /* one too long */
	}
	char *key = malloc(klen + 1);
	if (key == NULL)
		abort();
	for (size_t i = 0; i < klen; i++) {
		uint8_t b = i < size ? data[i] : (uint8_t)(i * 7);
		key[i] = (mode / 5) % 4 == 0 ? (char)b : fuzz_key_chars[b % 64];
	}
	key[klen] = '\0';
	size_t len = strlen(key); /* a raw key stops at its first NUL */
	bool want_ok = len < CURSOR_KEY_MAX && fuzz_key_valid(key);

	/* mode bit 7: NULL key for the empty one, as svc-payment passes it */
	const char *arg = (mode & 0x80) && len == 0 ? NULL : key;
	char *dst = malloc(CURSOR_MAX);
	if (dst == NULL)
		abort();
	int rc = cursor_encode(dst, CURSOR_MAX, number, arg);
	if (rc != 0 && rc != -1)
		fuzz_fail("cursor_encode returned neither 0 nor -1", NULL, number, key);
	if ((rc == 0) != want_ok)
		fuzz_fail(want_ok ? "cursor_encode refused a good key" : "cursor_encode took a bad key", NULL, number,
		    key);
	if (rc == 0) {
		size_t clen = strnlen(dst, CURSOR_MAX);
		if (clen == CURSOR_MAX || clen == 0)
			fuzz_fail("cursor_encode made an empty or unterminated cursor", NULL, number, key);
		if (strspn(dst, fuzz_key_chars) != clen)
			fuzz_fail("cursor_encode made a cursor that is not base64url", dst, number, key);
		int64_t n = 0;
		char k[CURSOR_KEY_MAX];
		if (fuzz_decode_cap(dst, CURSOR_KEY_MAX, &n, k) != 0)
			fuzz_fail("cursor_decode refused what cursor_encode made", dst, number, key);
		if (n != number || strcmp(k, key) != 0)
			fuzz_fail("encode -> decode changed the number or the key", dst, n, k);
	}

	/* a smaller buffer: the same text or a refusal, never a write past it */
	char *sdst = malloc(small_cap > 0 ? small_cap : 1);
	if (sdst == NULL)
		abort();
	int src = cursor_encode(sdst, small_cap, number, arg);
	if (src == 0 && (rc != 0 || strnlen(sdst, small_cap) == small_cap || strcmp(sdst, dst) != 0))
		fuzz_fail("cursor_encode into a smaller buffer made something else", NULL, number, key);
	free(sdst);
	free(dst);
	free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a cursor is a C string: the text stops at a NUL, as the services see it */
	char *s = fuzz_cstring(data, size);
	if (s == NULL)
		return 0;
	size_t small_cap = size > 0 ? data[size - 1] % CURSOR_KEY_MAX : 0;

	/* 1. the text as sent */
	fuzz_decode(s, small_cap);

	/* 2. the input as the decoded plaintext */
	size_t b64 = sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *enc = malloc(b64);
	if (enc != NULL) {
		sodium_bin2base64(enc, b64, data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		fuzz_decode(enc, small_cap);
		free(enc);
	}
	free(s);

	/* 3. encode, then decode */
	fuzz_encode(data, size);
	return 0;
}
