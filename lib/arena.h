/*
 * arena: a bump allocator that frees everything at once.
 *
 * An RPC request, its decoded message, the handler's reply and every string
 * they point to live in one arena owned by the request; releasing the arena
 * releases them all. This keeps handlers free of per-field frees and makes
 * "every allocation has an owner" true by construction.
 *
 * Threading: an arena belongs to one thread at a time; no locking.
 */
#ifndef COMANDA_ARENA_H
#define COMANDA_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct arena_chunk arena_chunk;

typedef struct arena {
	arena_chunk *head;        /* newest chunk, the one being filled */
	size_t used;              /* bytes used in head */
	size_t cap;               /* bytes available in head */
	ProtobufCAllocator pb;    /* protobuf-c view of this arena */
	char first[512];          /* inline first chunk: small requests never hit malloc */
} arena;

/* Prepares an empty arena. Never fails. */
void arena_init(arena *a);

/* Returns n bytes aligned for any type, or NULL when memory is exhausted.
 * Memory is zero-filled. n == 0 returns a valid unique pointer. */
void *arena_alloc(arena *a, size_t n);

/* Copies s (NUL-terminated) into the arena; NULL when out of memory. */
char *arena_strdup(arena *a, const char *s);

/* Copies n bytes of s and a terminating NUL into the arena. */
char *arena_strndup(arena *a, const char *s, size_t n);

/* printf into the arena. Returns NULL on error. */
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Frees every chunk; the arena is empty and usable again afterwards. */
void arena_reset(arena *a);

/* A ProtobufCAllocator that allocates from a (free is a no-op), for
 * protobuf_c_message_unpack(). Valid while a lives. */
ProtobufCAllocator *arena_pb_allocator(arena *a);

#endif
