/*
 * pg_stmt_cache: which SQL texts a pg_conn has prepared on its server
 * session, and under which names. Pure bookkeeping (no libpq), so it can be
 * tested without a server; lib/pg.c does the preparing.
 *
 * Keyed by the SQL text, not its address: some statements are built on the
 * stack with snprintf, so one address can hold different texts over time and
 * one text can live at different addresses.
 *
 * Bounded: at most PG_STMT_CACHE_MAX texts, never evicted. A program's
 * statements are a fixed, small set; a text that does not fit (a program
 * that builds SQL with values in it) is run unprepared by the caller rather
 * than pushing a hot statement out, so such SQL cannot make the cache thrash.
 *
 * A zeroed pg_stmt_cache is an empty one. Not thread-safe: it belongs to its
 * pg_conn, which belongs to one thread at a time.
 */
#ifndef COMANDA_PG_STMT_CACHE_H
#define COMANDA_PG_STMT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Texts cached at most. The services have about 30 statements each. */
#define PG_STMT_CACHE_MAX 64
/* Hash buckets: a power of two, twice the entries, so chains stay short. */
#define PG_STMT_CACHE_BUCKETS 128

/* Room for a statement name, "c4294967295" and its NUL. */
#define PG_STMT_NAME_CAP 12

typedef struct pg_stmt_entry {
	char *sql;        /* owned copy; NULL: the slot is free */
	uint32_t hash;    /* pg_stmt_hash(sql) */
	uint32_t id;      /* the statement's name is "c<id>"; > 0 */
	uint8_t next;     /* next entry in the bucket's chain, index + 1; 0: end */
} pg_stmt_entry;

typedef struct pg_stmt_cache {
	uint8_t head[PG_STMT_CACHE_BUCKETS];  /* first entry of each chain, index + 1; 0: empty */
	pg_stmt_entry e[PG_STMT_CACHE_MAX];
	size_t n;                             /* entries in use */
	/* The last id handed out. Never reset, not even by clear: a name is
	 * never reused within a pg_conn's life, so a statement that is still
	 * on the server (not yet deallocated) cannot collide with a new one. */
	uint32_t last_id;
} pg_stmt_cache;

/* FNV-1a (32 bits) of the NUL-terminated text. */
uint32_t pg_stmt_hash(const char *sql);

/* The id of sql's statement (hash: pg_stmt_hash(sql)), or 0 when sql is not
 * cached. */
uint32_t pg_stmt_cache_find(const pg_stmt_cache *c, const char *sql, uint32_t hash);

/* Adds sql (copied) under a new id and returns that id; 0 when the cache is
 * full or out of memory (the caller then runs sql unprepared). sql must not
 * be cached already. */
uint32_t pg_stmt_cache_add(pg_stmt_cache *c, const char *sql, uint32_t hash);

/* Forgets the entry of id (a statement that failed to prepare); no-op when
 * id is not cached. */
void pg_stmt_cache_remove(pg_stmt_cache *c, uint32_t id);

/* Forgets every entry and frees the copies (the server session is gone, or
 * its statements are being deallocated). The cache stays usable. */
void pg_stmt_cache_clear(pg_stmt_cache *c);

/* Writes id's statement name, "c<id>", into name (PG_STMT_NAME_CAP bytes). */
void pg_stmt_name(uint32_t id, char name[PG_STMT_NAME_CAP]);

#endif
