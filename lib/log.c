#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "utf8.h"

static const char *log_service = "comanda";
static size_t log_service_len = 7;
static int log_level = LOG_INFO;
static const char *const log_level_names[] = { "debug", "info", "warn", "error" };

void log_init(const char *service)
{
	log_service = service;
	log_service_len = strlen(service);
	const char *lv = getenv("LOG_LEVEL");
	if (lv == NULL || lv[0] == '\0')
		return;
	for (int i = 0; i < 4; i++)
		if (strcasecmp(lv, log_level_names[i]) == 0) {
			log_level = i;
			return;
		}
	/* as cfg_int does with a malformed number: never run at another level */
	log_printf(LOG_ERROR, "configuration LOG_LEVEL=\"%s\" is not debug, info, warn or error", lv);
	exit(2);
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
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';) {
		/* most bytes are copied as they are: no escape to build */
		if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
			if (n + 1 >= cap)
				break;
			dst[n++] = (char)*p++;
			continue;
		}
		/* a character of several bytes is copied whole or not at all:
		 * never cut inside one */
		size_t len = *p >= 0x80 ? utf8_char_len((const char *)p, strnlen((const char *)p, 4)) : 0;
		if (len > 0) {
			if (n + len >= cap)
				break;
			memcpy(dst + n, p, len);
			n += len;
			p += len;
			continue;
		}
		char esc[6];
		size_t k = 0;
		esc[k++] = '\\';
		switch (*p) {
		case '"': esc[k++] = '"'; break;
		case '\\': esc[k++] = '\\'; break;
		case '\n': esc[k++] = 'n'; break;
		case '\r': esc[k++] = 'r'; break;
		case '\t': esc[k++] = 't'; break;
		default:
			if (*p >= 0x80) {
				/* not UTF-8 (JSON text is): U+FFFD in its place, so
				 * that the line stays JSON whatever a client sent */
				memcpy(esc + k, "ufffd", 5);
				k += 5;
				break;
			}
			esc[k++] = 'u'; esc[k++] = '0'; esc[k++] = '0';
			esc[k++] = hex[*p >> 4]; esc[k++] = hex[*p & 15];
		}
		/* never cut inside an escape sequence */
		if (n + k >= cap)
			break;
		memcpy(dst + n, esc, k);
		n += k;
		p++;
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
	size_t room = LOG_LINE_MAX - 2 - l->len;
	if (room < 3)
		return;
	/* Escaped straight into the line, between the quotes: at most room - 2
	 * bytes, so the closing quote and the line's "}\n" still fit, and
	 * log_json_escape stops at whole escape sequences. */
	char *q = l->buf + l->len;
	q[0] = '"';
	size_t n = log_json_escape(q + 1, room - 1, s);
	q[1 + n] = '"';
	l->len += n + 2;
}

void log_begin(log_line *l, int level, const char *msg)
{
	l->on = log_enabled(level);
	l->len = 0;
	if (!l->on)
		return;
	/* {"ts":"<ts>","level":"<level>","service":"<service>","msg": by
	 * copies: this runs for every request the services log. */
	log_raw(l, "{\"ts\":\"", 7);
	l->len += clock_rfc3339_now(l->buf + l->len, LOG_LINE_MAX - 2 - l->len);
	log_raw(l, "\",\"level\":\"", 11);
	log_raw(l, log_level_names[level], strlen(log_level_names[level]));
	log_raw(l, "\",\"service\":\"", 13);
	log_raw(l, log_service, log_service_len);
	log_raw(l, "\",\"msg\":", 8);
	log_quoted(l, msg);
}

/* Starts field `,"key":` when it and at least `extra` more bytes fit
 * before the closing "}\n"; false (nothing written) otherwise: a field that
 * does not fit whole is left out, so a line cut short is still valid JSON. */
static bool log_key(log_line *l, const char *key, size_t extra)
{
	size_t kl = strlen(key);
	if (l->len + 4 + kl + extra > LOG_LINE_MAX - 2)
		return false;
	char *p = l->buf + l->len;
	p[0] = ',';
	p[1] = '"';
	memcpy(p + 2, key, kl);
	p[2 + kl] = '"';
	p[3 + kl] = ':';
	l->len += 4 + kl;
	return true;
}

void log_str(log_line *l, const char *key, const char *val)
{
	if (!l->on || !log_key(l, key, 4))
		return;
	if (val == NULL)
		log_raw(l, "null", 4);
	else
		log_quoted(l, val);
}

/* Decimal text of v into dst (room for 20 bytes, "-9223372036854775808";
 * no NUL); returns its length. By hand: snprintf's machinery costs more than the digits. */
static size_t log_format_int(char *dst, long long v)
{
	/* the magnitude as unsigned, so LLONG_MIN does not overflow */
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	char rev[20];
	size_t n = 0, k = 0;
	do {
		rev[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		dst[k++] = '-';
	while (n > 0)
		dst[k++] = rev[--n];
	return k;
}

void log_int(log_line *l, const char *key, long long val)
{
	if (!l->on)
		return;
	char num[24];
	size_t n = log_format_int(num, val);
	if (!log_key(l, key, n))
		return;
	log_raw(l, num, n);
}

void log_end(log_line *l)
{
	if (!l->on)
		return;
	/* log_key and log_quoted kept the room for the tail: the line is
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
