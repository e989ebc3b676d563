/*
 * utf8: strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * past U+10FFFF. json-c's own check lets all three through, and PostgreSQL
 * then refuses the text with an error the client would see as a 500.
 * Threading: pure functions.
 */
#ifndef COMANDA_UTF8_H
#define COMANDA_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The number of code points in s[0..n), or -1 when it is not valid UTF-8
 * (a NUL byte counts as a code point here; callers with C strings pass
 * strlen). */
long utf8_count(const char *s, size_t n);

/* utf8_count(s, n) >= 0. */
bool utf8_valid(const char *s, size_t n);

#endif
