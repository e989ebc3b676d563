/*
 * fuzz_common: what every libFuzzer target here does the same way.
 *
 *  - FUZZ_SKIP_KNOWN=1 in the environment turns off the oracles of findings
 *    already listed in tests/fuzz/README.md, for fuzzing a tree where one
 *    has come back (fuzz_skip_known_from_env, at LLVMFuzzerInitialize);
 *  - an input seen as C code sees a string: a NUL-terminated copy, which
 *    stops at the input's first NUL (fuzz_cstring; the caller frees it).
 *
 * Threading: libFuzzer calls the targets from one thread.
 */
#ifndef COMANDA_FUZZ_COMMON_H
#define COMANDA_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline bool fuzz_skip_known_from_env(void)
{
	const char *e = getenv("FUZZ_SKIP_KNOWN");
	return e != NULL && e[0] != '\0' && e[0] != '0';
}

/* A malloc'd NUL-terminated copy of data[0..size), or NULL (out of memory). */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

#endif
