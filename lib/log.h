/*
 * log: structured logs, one JSON object per line on stderr.
 *
 * A line is built in a caller-owned buffer (no allocation) and written with a
 * single write(2), so lines from many threads never interleave.
 *
 *   log_line l;
 *   log_begin(&l, LOG_INFO, "rpc");
 *   log_str(&l, "method", "comanda.UserService/GetUser");
 *   log_int(&l, "latency_us", 120);
 *   log_end(&l);
 *
 * Threading: log_init once at start; everything else from any thread.
 */
#ifndef COMANDA_LOG_H
#define COMANDA_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

#define LOG_LINE_MAX 2048

typedef struct log_line {
	bool on;          /* false: below the level, every call is a no-op */
	size_t len;
	char buf[LOG_LINE_MAX];
} log_line;

/* Names the program in every line ("svc-user") and reads LOG_LEVEL; an
 * unknown level logs the problem and exits the process with status 2. */
void log_init(const char *service);

/* True when lines of this level are written. */
bool log_enabled(int level);

/* Starts a line: {"ts":"...","level":"info","service":"...","msg":"<msg>" */
void log_begin(log_line *l, int level, const char *msg);
/* Adds "key":"val" with JSON escaping (val NULL writes null). */
void log_str(log_line *l, const char *key, const char *val);
void log_int(log_line *l, const char *key, long long val);
/* Ends and writes the line. A line that would pass LOG_LINE_MAX stays
 * valid JSON: a string value is cut at a whole character or escape, a field
 * that does not fit at all is left out. */
void log_end(log_line *l);

/* A line with just a printf-style message. */
void log_printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes s as a JSON string body (no quotes) into dst (cap bytes, always
 * NUL-terminated); returns the length written. A byte that is not part of
 * strict UTF-8 is written as \ufffd (JSON text is UTF-8). Text that does not
 * fit is cut at a whole escape or UTF-8 character. Shared with the JSON
 * helpers. */
size_t log_json_escape(char *dst, size_t cap, const char *s);

#endif
