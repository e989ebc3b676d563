#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t clock_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec clock_mono_timespec(int64_t mono_us)
{
	return (struct timespec){ .tv_sec = (time_t)(mono_us / 1000000), .tv_nsec = (long)(mono_us % 1000000) * 1000L };
}

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the seconds whose text is
 * formatted by hand. Outside them the year has another width (or a sign),
 * and gmtime_r + snprintf write it as they always did. */
#define CLOCK_FAST_MIN_SEC (-62167219200LL)
#define CLOCK_FAST_MAX_SEC 253402300799LL

static void clock_put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* "YYYY-MM-DDTHH:MM:SS" of a second between CLOCK_FAST_MIN_SEC and
 * CLOCK_FAST_MAX_SEC, without gmtime_r (which takes glibc's time-zone lock)
 * or snprintf. Days to a civil date: H. Hinnant's days_from_civil inverse
 * (proleptic Gregorian calendar, eras of 400 years), exact in this range. */
static void clock_second_text(int64_t sec, char out[20])
{
	int64_t days = sec / 86400, rem = sec % 86400;
	if (rem < 0) {
		rem += 86400;
		days -= 1;
	}
	int64_t z = days + 719468; /* days since 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);                            /* [0, 146096] */
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  /* [0, 399] */
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                 /* [0, 365] */
	unsigned mp = (5 * doy + 2) / 153;                                      /* March = 0 */
	unsigned day = doy - (153 * mp + 2) / 5 + 1;
	unsigned month = mp < 10 ? mp + 3 : mp - 9;
	unsigned year = (unsigned)(yoe + era * 400 + (month <= 2));
	unsigned hms = (unsigned)rem;
	clock_put2(out, year / 100);
	clock_put2(out + 2, year % 100);
	out[4] = '-';
	clock_put2(out + 5, month);
	out[7] = '-';
	clock_put2(out + 8, day);
	out[10] = 'T';
	clock_put2(out + 11, hms / 3600);
	out[13] = ':';
	clock_put2(out + 14, hms / 60 % 60);
	out[16] = ':';
	clock_put2(out + 17, hms % 60);
	out[19] = '\0';
}

/* Copies text (len bytes) into dst as snprintf would: cut to cap - 1 and
 * NUL-terminated. Returns the length written. */
static size_t clock_copy_out(char *dst, size_t cap, const char *text, size_t len)
{
	if (cap == 0)
		return 0;
	if (len > cap - 1)
		len = cap - 1;
	memcpy(dst, text, len);
	dst[len] = '\0';
	return len;
}

size_t clock_rfc3339_cached(clock_rfc3339_cache *cache, char *dst, size_t cap, int64_t unix_ms)
{
	int64_t sec = unix_ms / 1000;
	int ms = (int)(unix_ms % 1000);
	if (ms < 0) {
		ms += 1000;
		sec -= 1;
	}
	if (sec < CLOCK_FAST_MIN_SEC || sec > CLOCK_FAST_MAX_SEC) {
		/* years of another width: the text snprintf always gave them */
		time_t secs = (time_t)sec;
		struct tm tm;
		if (gmtime_r(&secs, &tm) == NULL)
			memset(&tm, 0, sizeof(tm));
		char buf[64];
		int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
		return clock_copy_out(dst, cap, buf, n > 0 ? (size_t)n : 0);
	}
	if (!cache->valid || cache->sec != sec) {
		clock_second_text(sec, cache->text);
		cache->sec = sec;
		cache->valid = true;
	}
	/* only the milliseconds differ within the second */
	char buf[CLOCK_RFC3339_LEN];
	memcpy(buf, cache->text, 19);
	buf[19] = '.';
	buf[20] = (char)('0' + ms / 100);
	buf[21] = (char)('0' + ms / 10 % 10);
	buf[22] = (char)('0' + ms % 10);
	buf[23] = 'Z';
	return clock_copy_out(dst, cap, buf, sizeof(buf));
}

/* One cache for "now", one for every other time: a thread that formats the
 * time of a stored record and then its own log line would evict a single
 * shared entry on every call. */
static _Thread_local clock_rfc3339_cache clock_cache_now, clock_cache_any;

char *clock_rfc3339(char *dst, size_t cap, int64_t unix_ms)
{
	clock_rfc3339_cached(&clock_cache_any, dst, cap, unix_ms);
	return dst;
}

size_t clock_rfc3339_now(char *dst, size_t cap)
{
	return clock_rfc3339_cached(&clock_cache_now, dst, cap, clock_wall_ms());
}

void clock_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}
