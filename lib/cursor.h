/*
 * cursor: the opaque `next_cursor` of every list.
 *
 * A cursor is the position of the last item of a page: a number (an id, or a
 * creation time) and an optional key (an ObjectId hex string) that breaks
 * ties. It travels as base64url("c1|<number>|<key>") so clients treat it as
 * opaque and the format can change behind the version tag. Decoding is
 * strict: anything else is malformed (the API answers 400), and so is any
 * other spelling of the same position (" 7", "+7", "07", "-0"): a position
 * has one cursor.
 *
 * Threading: pure functions.
 */
#ifndef COMANDA_CURSOR_H
#define COMANDA_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#define CURSOR_MAX 128      /* encoded length limit, including the NUL */
#define CURSOR_KEY_MAX 48   /* key length limit, including the NUL */

/* Encodes (number, key) into dst (>= CURSOR_MAX bytes). key may be NULL or
 * "", and holds only [A-Za-z0-9_-]. Returns 0, or -1 on a bad key. */
int cursor_encode(char *dst, size_t cap, int64_t number, const char *key);

/* Decodes a cursor made by cursor_encode into *number and key (cap bytes,
 * "" when none). Returns 0, or -1 when cursor is malformed. */
int cursor_decode(const char *cursor, int64_t *number, char *key, size_t cap);

#endif
