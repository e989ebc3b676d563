/*
 * clock: the two clocks Comanda uses.
 * Wall time (Unix milliseconds) for timestamps that leave the process;
 * monotonic time for deadlines and latencies. Thread-safe.
 */
#ifndef COMANDA_CLOCK_H
#define COMANDA_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Unix time in milliseconds (UTC). */
int64_t clock_wall_ms(void);

/* Monotonic time in microseconds, for measuring and deadlines. */
int64_t clock_mono_us(void);

/* Formats Unix milliseconds as RFC 3339 UTC with milliseconds,
 * "2026-01-16T10:30:00.000Z", into dst (cap >= 25). Returns dst. */
char *clock_rfc3339(char *dst, size_t cap, int64_t unix_ms);

/* Sleeps ms milliseconds (restarting after signals). */
void clock_sleep_ms(int64_t ms);

#endif
