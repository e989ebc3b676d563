#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "test.h"

TEST(arena_alloc_is_zeroed_aligned_and_grows)
{
	arena a;
	arena_init(&a);
	/* past the inline chunk and past the first malloc'd one */
	for (size_t n = 1; n < 3 * 4096; n += 97) {
		unsigned char *p = arena_alloc(&a, n);
		CHECK(p != NULL);
		if (p == NULL)
			break;
		CHECK(((uintptr_t)p % alignof(max_align_t)) == 0);
		size_t nonzero = 0;
		for (size_t i = 0; i < n; i++)
			nonzero += p[i] != 0;
		CHECK_EQ_INT(nonzero, 0);
		memset(p, 0xa5, n);
	}
	void *z1 = arena_alloc(&a, 0), *z2 = arena_alloc(&a, 0);
	CHECK(z1 != NULL && z2 != NULL && z1 != z2);
	arena_reset(&a);
	/* usable again, from the inline chunk */
	CHECK(arena_alloc(&a, 16) != NULL);
	arena_reset(&a);
}

TEST(arena_string_helpers_copy_and_terminate)
{
	arena a;
	arena_init(&a);
	CHECK_STREQ(arena_strdup(&a, "abc"), "abc");
	CHECK_STREQ(arena_strndup(&a, "abcdef", 4), "abcd");
	CHECK_STREQ(arena_strndup(&a, "", 0), "");
	CHECK_STREQ(arena_printf(&a, "%s-%d", "x", 42), "x-42");
	arena_reset(&a);
}

/* A size past PTRDIFF_MAX is refused (NULL, as when memory is exhausted):
 * near SIZE_MAX, the room check against the current chunk (used + need) and
 * the size of a new chunk (header + need) wrapped around to small numbers,
 * so a small block was handed out and n bytes zeroed from it. */
TEST(arena_alloc_refuses_sizes_that_would_wrap)
{
	arena a;
	arena_init(&a);
	CHECK(arena_alloc(&a, 100) != NULL);
	CHECK(arena_alloc(&a, SIZE_MAX) == NULL);
	CHECK(arena_alloc(&a, SIZE_MAX - 15) == NULL);   /* a new chunk: header + size wraps */
	CHECK(arena_alloc(&a, SIZE_MAX - 64) == NULL);   /* the inline chunk: used + size wraps */
	CHECK(arena_alloc(&a, SIZE_MAX / 2 + 1) == NULL);
	/* the same from a malloc'd chunk */
	CHECK(arena_alloc(&a, 8192) != NULL);
	CHECK(arena_alloc(&a, SIZE_MAX - 64) == NULL);
	CHECK(arena_alloc(&a, SIZE_MAX - 15) == NULL);
	/* and the arena still works */
	char *s = arena_strdup(&a, "still here");
	CHECK(s != NULL && strcmp(s, "still here") == 0);
	arena_reset(&a);
}
