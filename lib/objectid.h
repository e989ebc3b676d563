/*
 * objectid: the canonical text of an order id, a MongoDB ObjectId: exactly
 * 24 lower-case hexadecimal digits. The gateway refuses anything else in a
 * path or a body; svc-payment checks what it stores with the same rule.
 * Threading: pure.
 */
#ifndef COMANDA_OBJECTID_H
#define COMANDA_OBJECTID_H

#include <stdbool.h>

/* True when s is 24 characters of [0-9a-f]; NULL is false. */
bool objectid_hex_valid(const char *s);

#endif
