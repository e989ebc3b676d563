#include "utf8.h"

#include <string.h>

/* The code point at *pp (before end), advancing *pp past it; -1 when the
 * bytes there are not strict UTF-8. */
static long utf8_next(const unsigned char **pp, const unsigned char *end)
{
	const unsigned char *p = *pp;
	unsigned c = *p;
	int len;
	unsigned min;
	if (c < 0x80) {
		len = 1;
		min = 0;
	} else if ((c & 0xE0) == 0xC0) {
		len = 2;
		min = 0x80;
		c &= 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3;
		min = 0x800;
		c &= 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		len = 4;
		min = 0x10000;
		c &= 0x07;
	} else {
		return -1;
	}
	if (end - p < len)
		return -1;
	for (int i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return -1;
		c = (c << 6) | (p[i] & 0x3F);
	}
	if (c < min || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
		return -1;
	*pp = p + len;
	return (long)c;
}

long utf8_count(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	long count = 0;
	while (p < end) {
		if (utf8_next(&p, end) < 0)
			return -1;
		count++;
	}
	return count;
}

long utf8_chars(const char *s)
{
	return utf8_count(s, strlen(s));
}

bool utf8_valid(const char *s, size_t n)
{
	return utf8_count(s, n) >= 0;
}

size_t utf8_char_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *q = p;
	if (n == 0 || utf8_next(&q, p + n) < 0)
		return 0;
	return (size_t)(q - p);
}

/* Shows nothing: Unicode's White_Space (the control characters among them
 * are refused before this is asked) and the zero-width format characters
 * a text made of them would also look empty with. */
static bool utf8_shows_nothing(long c)
{
	return c == 0x20 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200D) || c == 0x2028 ||
	    c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x2060 || c == 0x3000 || c == 0xFEFF;
}

long utf8_text(const char *s, size_t n, bool *blank)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	long count = 0;
	*blank = true;
	while (p < end) {
		long c = utf8_next(&p, end);
		if (c < 0)
			return UTF8_TEXT_INVALID;
		if (c < 0x20 || (c >= 0x7F && c <= 0x9F))
			return UTF8_TEXT_CONTROL;
		if (!utf8_shows_nothing(c))
			*blank = false;
		count++;
	}
	return count;
}
