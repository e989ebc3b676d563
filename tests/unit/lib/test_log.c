/* lib/log: the bytes of a line, and a line that would be too long is still
 * one valid JSON object. */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "clock.h"
#include "log.h"
#include "test.h"
#include "utf8.h"

TEST(log_long_line_stays_valid_json)
{
	log_line l;
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '"';
	big[20] = '\n';
	log_begin(&l, LOG_ERROR, "test");
	log_str(&l, "first", big);
	log_int(&l, "number", 1234567890123LL);
	log_str(&l, "second", "y");
	/* what log_end writes, without writing it */
	CHECK(l.len <= LOG_LINE_MAX - 2);
	char line[LOG_LINE_MAX + 1];
	memcpy(line, l.buf, l.len);
	line[l.len] = '}';
	line[l.len + 1] = '\0';
	json_object *o = json_tokener_parse(line);
	CHECK(o != NULL);
	if (o != NULL) {
		json_object *v;
		CHECK(json_object_object_get_ex(o, "first", &v));
		CHECK(!json_object_object_get_ex(o, "number", &v)); /* did not fit: left out */
		json_object_put(o);
	}
}

/* The line as log_begin/log_str/log_int made it with snprintf, after the
 * timestamp: the reference the hand-made line must equal byte for byte. */
static void log_text(const log_line *l, char *dst, size_t cap)
{
	size_t n = l->len < cap - 1 ? l->len : cap - 1;
	memcpy(dst, l->buf, n);
	dst[n] = '\0';
}

TEST(log_line_bytes_are_unchanged)
{
	log_line l;
	int64_t before = clock_wall_ms();
	log_begin(&l, LOG_WARN, "http \"request\"");
	int64_t after = clock_wall_ms();
	log_str(&l, "path", "/api/users/7?q=a\\b\n\t\r\x01\x1f\xc3\xa9");
	log_str(&l, "caller", NULL);
	log_int(&l, "status", 200);
	log_int(&l, "zero", 0);
	log_int(&l, "neg", -42);
	log_int(&l, "min", LLONG_MIN);
	log_int(&l, "max", LLONG_MAX);
	char got[LOG_LINE_MAX + 1];
	log_text(&l, got, sizeof(got));

	/* {"ts":"<24 characters>" first, a time between before and after */
	CHECK(strncmp(got, "{\"ts\":\"", 7) == 0 && got[7 + CLOCK_RFC3339_LEN] == '"');
	char ts[CLOCK_RFC3339_LEN + 1], lo[32], hi[32];
	memcpy(ts, got + 7, CLOCK_RFC3339_LEN);
	ts[CLOCK_RFC3339_LEN] = '\0';
	clock_rfc3339(lo, sizeof(lo), before);
	clock_rfc3339(hi, sizeof(hi), after);
	CHECK(strcmp(lo, ts) <= 0 && strcmp(ts, hi) <= 0);

	char want[LOG_LINE_MAX];
	snprintf(want, sizeof(want),
	    "{\"ts\":\"%s\",\"level\":\"warn\",\"service\":\"comanda\",\"msg\":\"http \\\"request\\\"\","
	    "\"path\":\"/api/users/7?q=a\\\\b\\n\\t\\r\\u0001\\u001f\xc3\xa9\",\"caller\":null,\"status\":200,"
	    "\"zero\":0,\"neg\":-42,\"min\":%lld,\"max\":%lld",
	    ts, LLONG_MIN, LLONG_MAX);
	CHECK_STREQ(got, want);
}

/* A string value cut at the end of the line stops before the escape that
 * would not fit, and the line keeps its two closing bytes. */
TEST(log_long_value_is_cut_at_a_whole_escape)
{
	char val[LOG_LINE_MAX];
	for (size_t shift = 0; shift < 4; shift++) {
		memset(val, '"', sizeof(val) - 1); /* each one is 2 bytes escaped */
		val[sizeof(val) - 1] = '\0';
		log_line l;
		log_begin(&l, LOG_INFO, "cut");
		char pad[8] = "";
		memset(pad, 'p', shift);
		pad[shift] = '\0';
		log_str(&l, pad[0] != '\0' ? pad : "k", "v");
		size_t start = l.len;
		log_str(&l, "v", val);
		CHECK(l.len <= LOG_LINE_MAX - 2);
		/* ,"v":" then \" pairs, then the closing quote */
		size_t body = l.len - start - 6 - 1;
		CHECK_EQ_INT(body % 2, 0);
		CHECK(l.buf[l.len - 1] == '"' && l.buf[l.len - 2] == '"' && l.buf[l.len - 3] == '\\');
		/* one more pair would not have fit */
		CHECK(l.len + 2 > LOG_LINE_MAX - 2 - 1);
	}
}

/* log.h: "a string value is cut at a whole character or escape". A
 * multi-byte UTF-8 character that does not fit whole is left out whole:
 * cut after its first bytes, the line (or httpd's error envelope, which
 * escapes the same way) was no longer valid UTF-8, so not valid JSON. */
TEST(log_json_escape_cuts_at_a_whole_character)
{
	char out[16];
	/* "aaaa" then a 2-, 3- and 4-byte character: each cap that would end
	 * inside the character gives "aaaa" alone */
	static const char *const chars[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
	for (size_t c = 0; c < 3; c++) {
		char in[16];
		snprintf(in, sizeof(in), "aaaa%s", chars[c]);
		size_t clen = strlen(chars[c]);
		for (size_t cap = 5; cap < 5 + clen; cap++) {
			size_t n = log_json_escape(out, cap, in);
			CHECK_EQ_INT(n, 4);
			CHECK_STREQ(out, "aaaa");
		}
		/* room for all of it: copied as it is */
		CHECK_EQ_INT(log_json_escape(out, 5 + clen, in), 4 + clen);
		CHECK_STREQ(out, in);
	}
	/* a character after an escape: the escape stays, the partial character goes */
	CHECK_EQ_INT(log_json_escape(out, 4, "\n\xc3\xa9"), 2);
	CHECK_STREQ(out, "\\n");
}

/* The same through a whole line: a long value of 2-byte characters, cut
 * at either parity, leaves a line of strict UTF-8 that json-c parses. */
TEST(log_long_value_of_multibyte_characters_stays_valid_utf8)
{
	char val[LOG_LINE_MAX];
	for (size_t i = 0; i + 2 < sizeof(val); i += 2) {
		val[i] = (char)0xc3;
		val[i + 1] = (char)0xa9;
	}
	val[sizeof(val) - 2] = '\0';
	for (size_t shift = 0; shift < 2; shift++) {
		log_line l;
		log_begin(&l, LOG_INFO, shift ? "mm" : "m");
		log_str(&l, "v", val);
		l.buf[l.len++] = '}';
		CHECK(utf8_valid(l.buf, l.len));
		json_tokener *tok = json_tokener_new();
		json_object *o = json_tokener_parse_ex(tok, l.buf, (int)l.len);
		CHECK(o != NULL && json_object_is_type(o, json_type_object));
		json_object_put(o);
		json_tokener_free(tok);
	}
}

/* A log line is one JSON object, and JSON is UTF-8: bytes of a value that
 * are not strict UTF-8 (a client's "GET /%FF" is logged as its decoded
 * path) are written as U+FFFD, escaped, and valid characters as they are.
 * Copied raw, they made the line something a JSON reader refuses. */
TEST(log_json_escape_replaces_bytes_that_are_not_utf8)
{
	char out[64];
	CHECK_EQ_INT(log_json_escape(out, sizeof(out), "/a\xffz"), 9);
	CHECK_STREQ(out, "/a\\ufffdz");
	/* a lead byte without its continuation, an overlong form, a surrogate,
	 * past U+10FFFF: one U+FFFD per byte that is not part of a character */
	CHECK_STREQ((log_json_escape(out, sizeof(out), "\xc3("), out), "\\ufffd(");
	CHECK_STREQ((log_json_escape(out, sizeof(out), "\xc0\x80"), out), "\\ufffd\\ufffd");
	CHECK_STREQ((log_json_escape(out, sizeof(out), "\xed\xa0\x80"), out), "\\ufffd\\ufffd\\ufffd");
	CHECK_STREQ((log_json_escape(out, sizeof(out), "\xf4\x90\x80\x80"), out),
	    "\\ufffd\\ufffd\\ufffd\\ufffd");
	/* valid characters stay as they are, next to a bad byte too */
	CHECK_STREQ((log_json_escape(out, sizeof(out), "\xc3\xa9\x80\xf0\x9f\x98\x80"), out),
	    "\xc3\xa9\\ufffd\xf0\x9f\x98\x80");
	/* a replacement that does not fit whole is left out */
	CHECK_EQ_INT(log_json_escape(out, 7, "a\xff"), 1);
	CHECK_STREQ(out, "a");

	log_line l;
	log_begin(&l, LOG_INFO, "http request \xfe");
	log_str(&l, "path", "/api/\xff\xfe/x\xe2\x82");
	l.buf[l.len++] = '}';
	CHECK(utf8_valid(l.buf, l.len));
}

/* LOG_LEVEL is read by log_init: an unknown level stops the program (exit
 * 2), as every other malformed setting does (lib/cfg.h), instead of being
 * ignored for "info". */
static void log_child_exit(int status, void *arg)
{
	(void)arg;
	_exit(status);
}

static int log_level_exit_status(const char *value)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		on_exit(log_child_exit, NULL);
		setenv("LOG_LEVEL", value, 1);
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 2);  /* the refusal's log line */
		log_init("test");
		_exit(0);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(log_init_refuses_an_unknown_level)
{
	CHECK_EQ_INT(log_level_exit_status("debug"), 0);
	CHECK_EQ_INT(log_level_exit_status("WARN"), 0);
	CHECK_EQ_INT(log_level_exit_status("error"), 0);
	CHECK_EQ_INT(log_level_exit_status("verbose"), 2);
	CHECK_EQ_INT(log_level_exit_status("warning"), 2);
	CHECK_EQ_INT(log_level_exit_status("inf"), 2);
}
