/* lib/clock: RFC 3339 text by hand and through the per-second cache, byte
 * for byte what gmtime_r + snprintf give. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "test.h"

/* The text as it was made before the cache: the reference. */
static void ref_rfc3339(char *dst, size_t cap, int64_t unix_ms)
{
	time_t secs = (time_t)(unix_ms / 1000);
	int ms = (int)(unix_ms % 1000);
	if (ms < 0) {
		ms += 1000;
		secs -= 1;
	}
	struct tm tm;
	if (gmtime_r(&secs, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(dst, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* Checks clock_rfc3339 and the cached form (with the cache given) against
 * the reference; true when all agree. */
static bool same_as_ref(clock_rfc3339_cache *cache, int64_t ms)
{
	char want[64], got[64], got2[64];
	ref_rfc3339(want, sizeof(want), ms);
	clock_rfc3339(got, sizeof(got), ms);
	size_t n = clock_rfc3339_cached(cache, got2, sizeof(got2), ms);
	if (strcmp(want, got) != 0 || strcmp(want, got2) != 0 || n != strlen(want)) {
		test_fail(__FILE__, __LINE__, "%" PRId64 " ms: \"%s\" / \"%s\" (%zu), want \"%s\"", ms, got, got2, n,
		    want);
		return false;
	}
	return true;
}

TEST(clock_rfc3339_known_values)
{
	char b[32];
	CHECK_STREQ(clock_rfc3339(b, sizeof(b), 1768559400000LL), "2026-01-16T10:30:00.000Z");
	CHECK_STREQ(clock_rfc3339(b, sizeof(b), 1768559400123LL), "2026-01-16T10:30:00.123Z");
	CHECK_STREQ(clock_rfc3339(b, sizeof(b), 0), "1970-01-01T00:00:00.000Z");
	CHECK_STREQ(clock_rfc3339(b, sizeof(b), -1), "1969-12-31T23:59:59.999Z");
	CHECK_STREQ(clock_rfc3339(b, sizeof(b), 951782400000LL), "2000-02-29T00:00:00.000Z");
	CHECK_STREQ(clock_rfc3339(b, sizeof(b), 4107542399999LL), "2100-02-28T23:59:59.999Z");
	CHECK_STREQ(clock_rfc3339(b, sizeof(b), 4107542400000LL), "2100-03-01T00:00:00.000Z");
	CHECK_STREQ(clock_rfc3339(b, sizeof(b), 253402300799999LL), "9999-12-31T23:59:59.999Z");
	CHECK_STREQ(clock_rfc3339(b, sizeof(b), -62167219200000LL), "0000-01-01T00:00:00.000Z");
}

TEST(clock_rfc3339_matches_gmtime_and_snprintf)
{
	clock_rfc3339_cache cache = { 0 };
	/* the edges of the hand-made range and just past them (other widths) */
	static const int64_t edges[] = { 0, 1, -1, 999, 1000, -999, -1000, -1001, 86399999, 86400000,
		-62167219200000LL, -62167219200001LL, -62135596800000LL, 253402300799999LL, 253402300800000LL,
		-30610224000000LL, 951868799999LL, 951868800000LL, 978307199999LL, 978307200000LL };
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		same_as_ref(&cache, edges[i]);
	/* every day of a few leap-year cycles, at a varying time of day */
	int bad = 0;
	for (int64_t day = -800; day < 2 * 1461 + 800 && bad < 5; day++)
		bad += !same_as_ref(&cache, (day + 10957) * 86400000LL + (day * 7919) % 86400000);
	/* pseudo-random instants from year 0 to 9999 and somewhat beyond */
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 200000 && bad < 10; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t ms = (int64_t)(x % 330000000000000ULL) - 70000000000000LL;
		bad += !same_as_ref(&cache, ms);
	}
	CHECK_EQ_INT(bad, 0);
}

TEST(clock_rfc3339_cache_across_a_second)
{
	clock_rfc3339_cache c = { 0 };
	char b[32];
	CHECK_EQ_INT(clock_rfc3339_cached(&c, b, sizeof(b), 1768559400998LL), 24);
	CHECK_STREQ(b, "2026-01-16T10:30:00.998Z");
	CHECK(c.valid && c.sec == 1768559400LL);
	clock_rfc3339_cached(&c, b, sizeof(b), 1768559400999LL);
	CHECK_STREQ(b, "2026-01-16T10:30:00.999Z");
	/* the next second: the cached text is replaced, not patched */
	clock_rfc3339_cached(&c, b, sizeof(b), 1768559401000LL);
	CHECK_STREQ(b, "2026-01-16T10:30:01.000Z");
	CHECK(c.sec == 1768559401LL);
	/* the minute, hour, day, month and year roll over together */
	clock_rfc3339_cached(&c, b, sizeof(b), 1767225599999LL);
	CHECK_STREQ(b, "2025-12-31T23:59:59.999Z");
	clock_rfc3339_cached(&c, b, sizeof(b), 1767225600000LL);
	CHECK_STREQ(b, "2026-01-01T00:00:00.000Z");
	/* a wall clock stepped back */
	clock_rfc3339_cached(&c, b, sizeof(b), 1767225599500LL);
	CHECK_STREQ(b, "2025-12-31T23:59:59.500Z");
	/* a time outside the hand-made range leaves the cache alone */
	clock_rfc3339_cached(&c, b, sizeof(b), 253402300800000LL);
	CHECK_STREQ(b, "10000-01-01T00:00:00.000Z");
	CHECK(c.sec == 1767225599LL);
}

TEST(clock_rfc3339_cut_short_like_snprintf)
{
	clock_rfc3339_cache c = { 0 };
	char b[32];
	memset(b, 'x', sizeof(b));
	CHECK_EQ_INT(clock_rfc3339_cached(&c, b, 10, 1768559400123LL), 9);
	CHECK_STREQ(b, "2026-01-1");
	CHECK_EQ_INT(clock_rfc3339_cached(&c, b, 24, 1768559400123LL), 23);
	CHECK_STREQ(b, "2026-01-16T10:30:00.123");
	CHECK_EQ_INT(clock_rfc3339_cached(&c, b, 1, 1768559400123LL), 0);
	CHECK_STREQ(b, "");
	b[0] = 'x';
	CHECK_EQ_INT(clock_rfc3339_cached(&c, b, 0, 1768559400123LL), 0);
	CHECK(b[0] == 'x');
	CHECK_STREQ(clock_rfc3339(b, 25, 1768559400123LL), "2026-01-16T10:30:00.123Z");
	CHECK_STREQ(clock_rfc3339(b, 12, 253402300800000LL), "10000-01-01");
}

TEST(clock_rfc3339_now_is_the_wall_clock)
{
	char b[32], lo[32], hi[32];
	int64_t before = clock_wall_ms();
	size_t n = clock_rfc3339_now(b, sizeof(b));
	int64_t after = clock_wall_ms();
	CHECK_EQ_INT(n, CLOCK_RFC3339_LEN);
	ref_rfc3339(lo, sizeof(lo), before);
	ref_rfc3339(hi, sizeof(hi), after);
	/* same width, so text order is time order */
	CHECK(strcmp(lo, b) <= 0 && strcmp(b, hi) <= 0);
}
