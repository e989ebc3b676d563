#include "pg_stmt_cache.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Chains store index + 1 in a uint8_t; buckets are picked with a mask. */
_Static_assert(PG_STMT_CACHE_MAX < UINT8_MAX, "entry links must fit a uint8_t");
_Static_assert((PG_STMT_CACHE_BUCKETS & (PG_STMT_CACHE_BUCKETS - 1)) == 0, "buckets: a power of two");

uint32_t pg_stmt_hash(const char *sql)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)sql; *p != '\0'; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

static size_t pg_stmt_bucket(uint32_t hash)
{
	/* FNV-1a's low bits mix well enough for a mask. */
	return hash & (PG_STMT_CACHE_BUCKETS - 1);
}

uint32_t pg_stmt_cache_find(const pg_stmt_cache *c, const char *sql, uint32_t hash)
{
	for (uint8_t i = c->head[pg_stmt_bucket(hash)]; i != 0; i = c->e[i - 1].next) {
		const pg_stmt_entry *e = &c->e[i - 1];
		/* The hash first: strcmp only on a likely match. */
		if (e->hash == hash && strcmp(e->sql, sql) == 0)
			return e->id;
	}
	return 0;
}

uint32_t pg_stmt_cache_add(pg_stmt_cache *c, const char *sql, uint32_t hash)
{
	if (c->n >= PG_STMT_CACHE_MAX || c->last_id == UINT32_MAX)
		return 0;
	size_t slot = 0;
	while (c->e[slot].sql != NULL)
		slot++;  /* a free slot exists: n < MAX */
	size_t len = strlen(sql);
	char *copy = malloc(len + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, sql, len + 1);
	pg_stmt_entry *e = &c->e[slot];
	size_t b = pg_stmt_bucket(hash);
	e->sql = copy;
	e->hash = hash;
	e->id = ++c->last_id;
	e->next = c->head[b];
	c->head[b] = (uint8_t)(slot + 1);
	c->n++;
	return e->id;
}

void pg_stmt_cache_remove(pg_stmt_cache *c, uint32_t id)
{
	if (id == 0)
		return;
	for (size_t i = 0; i < PG_STMT_CACHE_MAX; i++) {
		pg_stmt_entry *e = &c->e[i];
		if (e->sql == NULL || e->id != id)
			continue;
		/* Unlink it from its bucket's chain, where it must be. */
		uint8_t *link = &c->head[pg_stmt_bucket(e->hash)];
		while (*link != i + 1)
			link = &c->e[*link - 1].next;
		*link = e->next;
		free(e->sql);
		memset(e, 0, sizeof(*e));
		c->n--;
		return;
	}
}

void pg_stmt_cache_clear(pg_stmt_cache *c)
{
	for (size_t i = 0; i < PG_STMT_CACHE_MAX; i++) {
		free(c->e[i].sql);
		memset(&c->e[i], 0, sizeof(c->e[i]));
	}
	memset(c->head, 0, sizeof(c->head));
	c->n = 0;
}

void pg_stmt_name(uint32_t id, char name[PG_STMT_NAME_CAP])
{
	snprintf(name, PG_STMT_NAME_CAP, "c%" PRIu32, id);
}
