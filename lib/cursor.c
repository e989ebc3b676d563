#include "cursor.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static int cursor_key_ok(const char *k)
{
	for (; *k; k++) {
		char c = *k;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int cursor_encode(char *dst, size_t cap, int64_t number, const char *key)
{
	if (key == NULL)
		key = "";
	if (strlen(key) >= CURSOR_KEY_MAX || !cursor_key_ok(key))
		return -1;
	char raw[96];
	int n = snprintf(raw, sizeof(raw), "c1|%" PRId64 "|%s", number, key);
	if (n < 0 || (size_t)n >= sizeof(raw))
		return -1;
	if (cap < sodium_base64_ENCODED_LEN((size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
		return -1;
	sodium_bin2base64(dst, cap, (const unsigned char *)raw, (size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return 0;
}

int cursor_decode(const char *cursor, int64_t *number, char *key, size_t cap)
{
	unsigned char raw[96];
	size_t n = 0;
	size_t len = strnlen(cursor, CURSOR_MAX);
	if (len == 0 || len >= CURSOR_MAX ||
	    sodium_base642bin(raw, sizeof(raw) - 1, cursor, len, NULL, &n, NULL,
	        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -1;
	raw[n] = '\0';
	if (strlen((char *)raw) != n || strncmp((char *)raw, "c1|", 3) != 0)
		return -1;
	char *num = (char *)raw + 3;
	char *bar = strchr(num, '|');
	if (bar == NULL)
		return -1;
	*bar = '\0';
	char *end = NULL;
	errno = 0;
	long long v = strtoll(num, &end, 10);
	if (errno != 0 || end == num || *end != '\0')
		return -1;
	const char *k = bar + 1;
	if (strlen(k) >= cap || strlen(k) >= CURSOR_KEY_MAX || !cursor_key_ok(k))
		return -1;
	/* One spelling per position: strtoll also takes " 7", "+7", "007" and
	 * "-0" (and libsodium 1.0.18 decodes any byte >= 0x80 like '_'), so
	 * only the exact text cursor_encode makes of what was read is one. */
	char again[CURSOR_MAX];
	if (cursor_encode(again, sizeof(again), v, k) != 0 || strcmp(again, cursor) != 0)
		return -1;
	*number = v;
	memcpy(key, k, strlen(k) + 1);
	return 0;
}
