/*
 * clock: the two clocks Comanda uses.
 * Wall time (Unix milliseconds) for timestamps that leave the process;
 * monotonic time for deadlines and latencies. Thread-safe.
 */
#ifndef COMANDA_CLOCK_H
#define COMANDA_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Unix time in milliseconds (UTC). */
int64_t clock_wall_ms(void);

/* Monotonic time in microseconds, for measuring and deadlines. */
int64_t clock_mono_us(void);

/* The clock_mono_us time mono_us as a CLOCK_MONOTONIC timespec, for the
 * timed waits that take one (a condition variable set to that clock,
 * pthread_mutex_clocklock). */
struct timespec clock_mono_timespec(int64_t mono_us);

/* Length of clock_rfc3339's text, "2026-01-16T10:30:00.000Z", for years
 * 0000-9999 (every wall-clock time this code will see). */
#define CLOCK_RFC3339_LEN 24

/* Formats Unix milliseconds as RFC 3339 UTC with milliseconds,
 * "2026-01-16T10:30:00.000Z", into dst (cap >= 25; less is cut short and
 * still NUL-terminated, as snprintf would). Returns dst. Keeps the text of
 * the last second formatted on this thread, so the timestamps of one second
 * cost a copy. */
char *clock_rfc3339(char *dst, size_t cap, int64_t unix_ms);

/* clock_rfc3339 of the current wall time, through a per-thread cache of its
 * own (so that "now" and stored timestamps formatted in turn, as a request's
 * log line and its reply do, do not keep evicting each other). Returns the
 * length of the text (CLOCK_RFC3339_LEN, or less when cut short). */
size_t clock_rfc3339_now(char *dst, size_t cap);

/* The text of one second, "2026-01-16T10:30:00", as last formatted. */
typedef struct clock_rfc3339_cache {
	bool valid;       /* false (zero-initialized): nothing formatted yet */
	int64_t sec;      /* the Unix second text holds */
	char text[20];    /* "YYYY-MM-DDTHH:MM:SS", NUL-terminated */
} clock_rfc3339_cache;

/* What clock_rfc3339 does, through the caller's cache: a pure function of
 * (cache, unix_ms), for tests and for callers that keep caches of their own.
 * Returns the length written to dst, without the NUL. */
size_t clock_rfc3339_cached(clock_rfc3339_cache *cache, char *dst, size_t cap, int64_t unix_ms);

/* Sleeps ms milliseconds (restarting after signals). */
void clock_sleep_ms(int64_t ms);

#endif
