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

/* utf8_count of a C string: its code points, or -1 when it is not valid
 * UTF-8 (the length limits of API.md count characters, not bytes). */
long utf8_chars(const char *s);

/* utf8_count(s, n) >= 0. */
bool utf8_valid(const char *s, size_t n);

/* The length in bytes (1 to 4) of the strict UTF-8 character that starts
 * at s, reading no further than s[n - 1]; 0 when the bytes there are not
 * one (or n is 0). */
size_t utf8_char_len(const char *s, size_t n);

/* Judges s[0..n) as a text people read (a user's name, a product):
 * returns its code points, or
 *   UTF8_TEXT_INVALID  not strict UTF-8;
 *   UTF8_TEXT_CONTROL  a control character: C0 (TAB and newlines
 *                      included), DEL, or C1 (U+0080..U+009F, which some
 *                      terminals act on, and which logs and the UI would
 *                      carry);
 * and sets *blank when it shows nothing: every code point is a space of
 * Unicode's White_Space (U+00A0, U+3000...) or a zero-width character
 * (U+200B, U+FEFF...), or there are none. One rule, so that a name and a
 * product judge text the same way. */
#define UTF8_TEXT_INVALID (-1)
#define UTF8_TEXT_CONTROL (-2)
long utf8_text(const char *s, size_t n, bool *blank);

#endif
