/* lib/pg_stmt_cache: lookups by text (not address), the bound, removal,
 * clearing, names that are never reused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_stmt_cache.h"
#include "test.h"

static uint32_t test_add(pg_stmt_cache *c, const char *sql)
{
	return pg_stmt_cache_add(c, sql, pg_stmt_hash(sql));
}

static uint32_t test_find(const pg_stmt_cache *c, const char *sql)
{
	return pg_stmt_cache_find(c, sql, pg_stmt_hash(sql));
}

TEST(pg_stmt_hash_is_fnv1a)
{
	/* The published FNV-1a 32-bit test vectors. */
	CHECK_EQ_INT(pg_stmt_hash(""), 0x811c9dc5u);
	CHECK_EQ_INT(pg_stmt_hash("a"), 0xe40c292cu);
	CHECK_EQ_INT(pg_stmt_hash("foobar"), 0xbf9cf968u);
}

TEST(pg_stmt_cache_finds_by_text_not_address)
{
	pg_stmt_cache c;
	memset(&c, 0, sizeof(c));
	CHECK_EQ_INT(test_find(&c, "SELECT 1"), 0);
	uint32_t a = test_add(&c, "SELECT 1");
	uint32_t b = test_add(&c, "SELECT 2");
	CHECK(a != 0 && b != 0 && a != b);
	CHECK_EQ_INT(c.n, 2);
	/* The same text at another address, as a statement built on the stack. */
	char buf[32];
	snprintf(buf, sizeof(buf), "SELECT %d", 1);
	CHECK_EQ_INT(test_find(&c, buf), a);
	/* One address, another text. */
	snprintf(buf, sizeof(buf), "SELECT %d", 2);
	CHECK_EQ_INT(test_find(&c, buf), b);
	snprintf(buf, sizeof(buf), "SELECT %d", 3);
	CHECK_EQ_INT(test_find(&c, buf), 0);
	/* The cache owns a copy: changing the caller's text changes nothing. */
	char mine[] = "SELECT 4";
	uint32_t d = test_add(&c, mine);
	mine[7] = '5';
	CHECK_EQ_INT(test_find(&c, "SELECT 4"), d);
	CHECK_EQ_INT(test_find(&c, "SELECT 5"), 0);
	pg_stmt_cache_clear(&c);
}

TEST(pg_stmt_cache_compares_texts_when_hashes_collide)
{
	pg_stmt_cache c;
	memset(&c, 0, sizeof(c));
	/* Two texts filed under one hash (as a collision would): only the text
	 * decides. */
	uint32_t a = pg_stmt_cache_add(&c, "SELECT a", 42);
	uint32_t b = pg_stmt_cache_add(&c, "SELECT b", 42);
	CHECK_EQ_INT(pg_stmt_cache_find(&c, "SELECT a", 42), a);
	CHECK_EQ_INT(pg_stmt_cache_find(&c, "SELECT b", 42), b);
	CHECK_EQ_INT(pg_stmt_cache_find(&c, "SELECT c", 42), 0);
	/* The right text under another hash is not found either. */
	CHECK_EQ_INT(pg_stmt_cache_find(&c, "SELECT a", 43), 0);
	pg_stmt_cache_clear(&c);
}

TEST(pg_stmt_cache_is_bounded_and_never_evicts)
{
	pg_stmt_cache c;
	memset(&c, 0, sizeof(c));
	uint32_t ids[PG_STMT_CACHE_MAX];
	char sql[64];
	for (int i = 0; i < PG_STMT_CACHE_MAX; i++) {
		snprintf(sql, sizeof(sql), "SELECT %d FROM t WHERE id = $1", i);
		ids[i] = test_add(&c, sql);
		CHECK(ids[i] != 0);
	}
	CHECK_EQ_INT(c.n, PG_STMT_CACHE_MAX);
	/* Full: a new text is refused (the caller runs it unprepared)... */
	CHECK_EQ_INT(test_add(&c, "SELECT 'one too many'"), 0);
	CHECK_EQ_INT(c.n, PG_STMT_CACHE_MAX);
	/* ...and every cached one is still there under its id. */
	for (int i = 0; i < PG_STMT_CACHE_MAX; i++) {
		snprintf(sql, sizeof(sql), "SELECT %d FROM t WHERE id = $1", i);
		if (test_find(&c, sql) != ids[i])
			test_fail(__FILE__, __LINE__, "entry %d lost once the cache was full", i);
	}
	/* A removal makes room again. */
	pg_stmt_cache_remove(&c, ids[10]);
	CHECK_EQ_INT(c.n, PG_STMT_CACHE_MAX - 1);
	uint32_t late = test_add(&c, "SELECT 'one too many'");
	CHECK(late != 0);
	CHECK_EQ_INT(test_find(&c, "SELECT 'one too many'"), late);
	CHECK_EQ_INT(test_add(&c, "SELECT 'two too many'"), 0);
	pg_stmt_cache_clear(&c);
}

TEST(pg_stmt_cache_remove_unlinks_one_entry)
{
	pg_stmt_cache c;
	memset(&c, 0, sizeof(c));
	/* Three in one chain: remove the middle, the head, then the tail. */
	uint32_t a = pg_stmt_cache_add(&c, "a", 7);
	uint32_t b = pg_stmt_cache_add(&c, "b", 7);
	uint32_t d = pg_stmt_cache_add(&c, "d", 7);
	uint32_t e = test_add(&c, "e");
	pg_stmt_cache_remove(&c, b);
	CHECK_EQ_INT(pg_stmt_cache_find(&c, "b", 7), 0);
	CHECK_EQ_INT(pg_stmt_cache_find(&c, "a", 7), a);
	CHECK_EQ_INT(pg_stmt_cache_find(&c, "d", 7), d);
	pg_stmt_cache_remove(&c, d);
	CHECK_EQ_INT(pg_stmt_cache_find(&c, "d", 7), 0);
	CHECK_EQ_INT(pg_stmt_cache_find(&c, "a", 7), a);
	pg_stmt_cache_remove(&c, a);
	CHECK_EQ_INT(pg_stmt_cache_find(&c, "a", 7), 0);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_INT(test_find(&c, "e"), e);
	/* Unknown ids and 0 are no-ops. */
	pg_stmt_cache_remove(&c, 0);
	pg_stmt_cache_remove(&c, a);
	pg_stmt_cache_remove(&c, 9999);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_INT(test_find(&c, "e"), e);
	pg_stmt_cache_clear(&c);
}

TEST(pg_stmt_cache_clear_empties_and_names_are_not_reused)
{
	pg_stmt_cache c;
	memset(&c, 0, sizeof(c));
	uint32_t a = test_add(&c, "SELECT 1");
	uint32_t b = test_add(&c, "SELECT 2");
	pg_stmt_cache_clear(&c);
	CHECK_EQ_INT(c.n, 0);
	CHECK_EQ_INT(test_find(&c, "SELECT 1"), 0);
	CHECK_EQ_INT(test_find(&c, "SELECT 2"), 0);
	/* Usable again, with ids never seen before (a statement still on the
	 * server under an old name cannot collide). */
	uint32_t a2 = test_add(&c, "SELECT 1");
	CHECK(a2 != 0 && a2 != a && a2 != b);
	CHECK_EQ_INT(test_find(&c, "SELECT 1"), a2);
	pg_stmt_cache_remove(&c, a2);
	uint32_t a3 = test_add(&c, "SELECT 1");
	CHECK(a3 != a2);
	pg_stmt_cache_clear(&c);
	pg_stmt_cache_clear(&c);  /* twice is fine */
	CHECK_EQ_INT(c.n, 0);
}

TEST(pg_stmt_name_formats_ids)
{
	char name[PG_STMT_NAME_CAP];
	pg_stmt_name(1, name);
	CHECK_STREQ(name, "c1");
	pg_stmt_name(4294967295u, name);
	CHECK_STREQ(name, "c4294967295");
}
