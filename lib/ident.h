/*
 * ident: names a client or another program may hand us that end up in log
 * lines, headers, metric labels, URLs or file names: request ids, event
 * types, static file names. One alphabet for all of them, [A-Za-z0-9._-],
 * needs no quoting or escaping in any of those places.
 *
 * Threading: pure functions; call from any thread.
 */
#ifndef COMANDA_IDENT_H
#define COMANDA_IDENT_H

#include <stdbool.h>
#include <stddef.h>

/* s is 1 to max bytes, each of [A-Za-z0-9._-]. False for NULL. */
bool ident_valid(const char *s, size_t max);

#endif
