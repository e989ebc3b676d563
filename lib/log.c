#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"

static const char *log_service = "comanda";
static int log_level = LOG_INFO;
static const char *const log_level_names[] = { "debug", "info", "warn", "error" };

void log_init(const char *service)
{
	log_service = service;
	const char *lv = getenv("LOG_LEVEL");
	if (lv == NULL)
		return;
	for (int i = 0; i < 4; i++)
		if (strcasecmp(lv, log_level_names[i]) == 0)
			log_level = i;
}

bool log_enabled(int level)
{
	return level >= log_level;
}

size_t log_json_escape(char *dst, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	if (cap == 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		char esc[7];
		size_t k = 0;
		switch (*p) {
		case '"': esc[k++] = '\\'; esc[k++] = '"'; break;
		case '\\': esc[k++] = '\\'; esc[k++] = '\\'; break;
		case '\n': esc[k++] = '\\'; esc[k++] = 'n'; break;
		case '\r': esc[k++] = '\\'; esc[k++] = 'r'; break;
		case '\t': esc[k++] = '\\'; esc[k++] = 't'; break;
		default:
			if (*p < 0x20) {
				esc[k++] = '\\'; esc[k++] = 'u'; esc[k++] = '0'; esc[k++] = '0';
				esc[k++] = hex[*p >> 4]; esc[k++] = hex[*p & 15];
			} else {
				esc[k++] = (char)*p;
			}
		}
		if (n + k >= cap)
			break;
		memcpy(dst + n, esc, k);
		n += k;
	}
	dst[n] = '\0';
	return n;
}

static void log_raw(log_line *l, const char *s, size_t n)
{
	/* keep 2 bytes for the closing "}\n" */
	if (l->len + n > LOG_LINE_MAX - 2)
		n = LOG_LINE_MAX - 2 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void log_quoted(log_line *l, const char *s)
{
	char tmp[LOG_LINE_MAX];
	size_t room = LOG_LINE_MAX - 2 - l->len;
	if (room < 3)
		return;
	size_t n = log_json_escape(tmp, room - 1 < sizeof(tmp) ? room - 1 : sizeof(tmp), s);
	/* never cut inside an escape sequence: escape() stops at whole ones */
	log_raw(l, "\"", 1);
	log_raw(l, tmp, n);
	log_raw(l, "\"", 1);
}

void log_begin(log_line *l, int level, const char *msg)
{
	l->on = log_enabled(level);
	l->len = 0;
	if (!l->on)
		return;
	char ts[32];
	clock_rfc3339(ts, sizeof(ts), clock_wall_ms());
	int n = snprintf(l->buf, LOG_LINE_MAX, "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":\"%s\",\"msg\":", ts,
	    log_level_names[level], log_service);
	l->len = (size_t)n;
	log_quoted(l, msg);
}

/* True when `,"key":` and at least `extra` more bytes fit before the
 * closing "}\n": a field that does not fit whole is left out, so a line
 * cut short is still valid JSON. */
static bool log_room(const log_line *l, const char *key, size_t extra)
{
	return l->len + 4 + strlen(key) + extra <= LOG_LINE_MAX - 2;
}

void log_str(log_line *l, const char *key, const char *val)
{
	if (!l->on || !log_room(l, key, 4))
		return;
	log_raw(l, ",\"", 2);
	log_raw(l, key, strlen(key));
	log_raw(l, "\":", 2);
	if (val == NULL)
		log_raw(l, "null", 4);
	else
		log_quoted(l, val);
}

void log_int(log_line *l, const char *key, long long val)
{
	if (!l->on)
		return;
	char num[32];
	int n = snprintf(num, sizeof(num), "%lld", val);
	if (!log_room(l, key, (size_t)n))
		return;
	log_raw(l, ",\"", 2);
	log_raw(l, key, strlen(key));
	log_raw(l, "\":", 2);
	log_raw(l, num, (size_t)n);
}

void log_end(log_line *l)
{
	if (!l->on)
		return;
	/* log_room and log_quoted kept the room for the tail: the line is
	 * valid JSON however long its values were. */
	l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	ssize_t w = write(STDERR_FILENO, l->buf, l->len);
	(void)w;
}

void log_printf(int level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_line l;
	log_begin(&l, level, msg);
	log_end(&l);
}
