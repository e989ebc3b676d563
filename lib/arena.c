#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
	arena_chunk *next;
	size_t cap;
	max_align_t data[];
};

#define ARENA_ALIGN (sizeof(max_align_t))
#define ARENA_CHUNK_MIN 4096

static void *pb_alloc(void *data, size_t size)
{
	return arena_alloc(data, size);
}

static void pb_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr;
}

void arena_init(arena *a)
{
	a->head = NULL;
	a->used = 0;
	a->cap = sizeof(a->first);
	a->pb.alloc = pb_alloc;
	a->pb.free = pb_free;
	a->pb.allocator_data = a;
}

static char *arena_current(arena *a)
{
	return a->head ? (char *)a->head->data : a->first;
}

void *arena_alloc(arena *a, size_t n)
{
	/* No object can be larger (malloc refuses it too), and below this
	 * neither the rounding, nor used + need, nor a chunk's header + need
	 * can wrap around to a small size. */
	if (n > PTRDIFF_MAX)
		return NULL;
	size_t need = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	/* The inline chunk is only max_align_t-aligned if the arena is; align the offset. */
	char *base = arena_current(a);
	size_t off = a->used;
	uintptr_t p = (uintptr_t)(base + off);
	size_t pad = (ARENA_ALIGN - (p & (ARENA_ALIGN - 1))) & (ARENA_ALIGN - 1);
	if (off + pad + need <= a->cap) {
		a->used = off + pad + need;
		memset(base + off + pad, 0, n);
		return base + off + pad;
	}
	size_t cap = need > ARENA_CHUNK_MIN ? need : ARENA_CHUNK_MIN;
	if (a->head && a->head->cap * 2 > cap && a->head->cap < (1u << 20))
		cap = a->head->cap * 2;
	arena_chunk *c = malloc(sizeof(*c) + cap);
	if (c == NULL)
		return NULL;
	c->next = a->head;
	c->cap = cap;
	a->head = c;
	a->cap = cap;
	a->used = need;
	memset(c->data, 0, n);
	return c->data;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
	char *d = arena_alloc(a, n + 1);
	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *arena_strdup(arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *d = arena_alloc(a, (size_t)n + 1);
	if (d == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(d, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return d;
}

void arena_reset(arena *a)
{
	arena_chunk *c = a->head;
	while (c != NULL) {
		arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->used = 0;
	a->cap = sizeof(a->first);
}

ProtobufCAllocator *arena_pb_allocator(arena *a)
{
	return &a->pb;
}
