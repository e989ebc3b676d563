/*
 * fuzz_httpd: lib/httpd.c as a client reaches it, over a real connection:
 * the request target (its length as sent, absolute form, percent-decoding
 * with "%00" kept, the encoded-slash mark), query arguments, the header
 * checks (counts, bytes, room left in the connection's buffer, Host,
 * Content-Length and Transfer-Encoding), X-Request-Id, X-Forwarded-For
 * through a trusted proxy, and the body (declared or chunked, the 413
 * limit and what is dropped past it).
 *
 * Once per process httpd serves 127.0.0.1 on an ephemeral port with small
 * limits (so that inputs reach them) and 127.0.0.1 as a trusted proxy; its
 * handler reads everything a handler may and answers 200 with a header of
 * its own. The first byte of an input says how the rest is sent, over a new
 * connection:
 *   even: as it is, then the sending side is shut (garbage, partial
 *         requests, pipelining, chunked bodies all reach the parser);
 *   odd:  as the parts of a well-formed request, NUL-separated: target,
 *         header lines (LF-separated; bytes that would end a line dropped),
 *         body. Sent as "METHOD target HTTP/1.1" (a method picked by the
 *         first byte), Host, the lines, Content-Length, Connection: close,
 *         then the body.
 *
 * Oracles beyond the sanitizers (which see the server's threads too):
 *   - the server answers or closes a complete request within
 *     FUZZ_HTTPD_WAIT_S;
 *   - an answer starts with a status line; one of httpd's own (it carries
 *     X-Request-Id) names a valid request id, and its body, when JSON, is
 *     one object of strict UTF-8 whose "request_id", if any, is that id;
 *   - the handler sees a non-empty path, a body NUL-terminated at body_len
 *     <= max_body, a valid request id, a client that is the peer or an
 *     address; in the structured form, the path is what the target as
 *     sent gives (the absolute form's scheme and authority gone only when
 *     sent in that form, %XX decoded but %00 kept as text, malformed
 *     escapes as they are) and path_encoded_slash is set exactly when the
 *     target before its query holds "%2F";
 *   - in the structured form, a request the handler ran for gets the
 *     handler's answer (httpd.h: the buffer is sized so that one that
 *     passes the limits always does).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fuzz_common.h"
#include "httpd.h"
#include "utf8.h"

#define FUZZ_HTTPD_MAX_BODY 2048
#define FUZZ_HTTPD_MAX_URL 1024
#define FUZZ_HTTPD_MAX_HEADERS 2048
#define FUZZ_HTTPD_WAIT_S 10
#define FUZZ_HTTPD_RAW_WAIT_MS 20

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static httpd *fuzz_server;
static int fuzz_port;

/* FUZZ_SKIP_KNOWN=1: no path oracle for a target that is, or decodes to,
 * the absolute form, whose finding is known (tests/fuzz/README.md). */
static bool fuzz_skip_known;

/* What the handler saw of the last request (under fuzz_mu). */
static pthread_mutex_t fuzz_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	bool ran;
	bool encoded_slash;
	char path[FUZZ_HTTPD_MAX_URL + 1];
} fuzz_seen;

static void fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_httpd: %s%s%s\n", what, detail != NULL ? ": " : "", detail != NULL ? detail : "");
	abort();
}

static bool fuzz_is_address(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static void fuzz_handler(void *arg, const httpd_request *req, httpd_response *resp)
{
	(void)arg;
	if (req->path == NULL || req->path[0] == '\0')
		fuzz_fail("the handler got an empty path", NULL);
	if (req->body == NULL || req->body_len > FUZZ_HTTPD_MAX_BODY || req->body[req->body_len] != '\0')
		fuzz_fail("the handler got a body over the limit or not NUL-terminated", NULL);
	if (!httpd_request_id_valid(req->request_id))
		fuzz_fail("the handler got an invalid request id", req->request_id);
	if (strcmp(req->client_addr, req->peer_addr) != 0 && !fuzz_is_address(req->client_addr))
		fuzz_fail("the client is neither the peer nor an address", req->client_addr);
	/* everything else a handler may ask */
	(void)httpd_query(req, "a");
	(void)httpd_query(req, "");
	(void)httpd_query_repeated(req);
	(void)httpd_header(req, "Authorization");
	(void)httpd_header_repeated(req, "Authorization");
	(void)httpd_header_repeated(req, "Idempotency-Key");
	pthread_mutex_lock(&fuzz_mu);
	fuzz_seen.ran = true;
	fuzz_seen.encoded_slash = req->path_encoded_slash;
	snprintf(fuzz_seen.path, sizeof(fuzz_seen.path), "%s", req->path);
	pthread_mutex_unlock(&fuzz_mu);
	resp->route = "/fuzz";
	httpd_add_header(resp, "X-Fuzz-Handler", "1");
	httpd_respond(resp, 200, "{\"ok\":true}", 11);
}

static void fuzz_stop(void)
{
	httpd_stop(fuzz_server);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	httpd_config cfg = {
		.name = "fuzz",
		.bind = "127.0.0.1",
		.port = 0,
		.threads = 2,
		.max_body = FUZZ_HTTPD_MAX_BODY,
		.max_url = FUZZ_HTTPD_MAX_URL,
		.max_header_bytes = FUZZ_HTTPD_MAX_HEADERS,
		.connection_timeout_s = 1,
		.trusted_proxies = "127.0.0.1, ::1",
		.handler = fuzz_handler,
	};
	if (httpd_start(&fuzz_server, &cfg) != 0)
		fuzz_fail("cannot start the server", NULL);
	fuzz_port = httpd_port(fuzz_server);
	atexit(fuzz_stop);
	fuzz_skip_known = fuzz_skip_known_from_env();
	return 0;
}

static bool fuzz_field(const char *head, const char *end, const char *name, char *dst, size_t cap);

/* True when out[0..n) holds a whole answer (head and Content-Length bytes
 * of body) after an optional 100 Continue. */
static bool fuzz_answer_complete(const char *out, size_t n)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	if (n >= sizeof(cont) - 1 && strncmp(out, cont, sizeof(cont) - 1) == 0)
		out += sizeof(cont) - 1;
	const char *end = strstr(out, "\r\n\r\n");
	char v[32];
	return end != NULL && fuzz_field(out, end, "Content-Length", v, sizeof(v)) &&
	    (size_t)(end + 4 - out) + strtoul(v, NULL, 10) <= n;
}

/* Sends raw[0..len) on a new connection and reads the answer to the close.
 * A complete request (!raw_bytes) must be answered or closed within
 * FUZZ_HTTPD_WAIT_S; the reading stops at the end of its answer (one that
 * keeps the connection open would hold it for the idle timeout). Raw bytes are followed by a shut of the sending side,
 * and a pause of FUZZ_HTTPD_RAW_WAIT_MS ends the wait quietly (*closed
 * false): libmicrohttpd waits out the idle timeout on an unfinished request
 * line even after the client's end, and the fuzzer would wait with it.
 * Returns the answer malloc'd and NUL-terminated, *n its length. */
static char *fuzz_exchange(const char *raw, size_t len, bool raw_bytes, size_t *n, bool *closed)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		fuzz_fail("socket", NULL);
	struct timeval tv = { .tv_sec = raw_bytes ? 0 : FUZZ_HTTPD_WAIT_S,
		.tv_usec = raw_bytes ? FUZZ_HTTPD_RAW_WAIT_MS * 1000 : 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)fuzz_port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fuzz_fail("cannot connect", NULL);
	for (size_t off = 0; off < len;) {
		ssize_t w = send(fd, raw + off, len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* closed early (a refusal before the body): read what came */
		off += (size_t)w;
	}
	if (raw_bytes)
		shutdown(fd, SHUT_WR);
	/* acknowledge at once: an answer in two writes otherwise waits on
	 * the delayed ACK of the first (tens of ms per input) */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	size_t cap = 4096;
	*n = 0;
	*closed = true;
	char *out = malloc(cap);
	for (;;) {
		if (out == NULL)
			fuzz_fail("out of memory", NULL);
		if (*n + 1 >= cap) {
			cap *= 2;
			out = realloc(out, cap);
			continue;
		}
		ssize_t r = recv(fd, out + *n, cap - *n - 1, 0);
		if (r == 0)
			break;
		if (r < 0) {
			/* a reset is a close; a timeout is a server that neither answers nor closes */
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!raw_bytes)
					fuzz_fail("no answer and no close", NULL);
				*closed = false;
			}
			break;
		}
		*n += (size_t)r;
		out[*n] = '\0';
		if (!raw_bytes && fuzz_answer_complete(out, *n))
			break;
	}
	out[*n] = '\0';
	close(fd);
	return out;
}

/* The value of header field `name` in the head [head, end) into dst ("" and
 * false when absent). */
static bool fuzz_field(const char *head, const char *end, const char *name, char *dst, size_t cap)
{
	size_t nl = strlen(name);
	dst[0] = '\0';
	for (const char *line = strstr(head, "\r\n"); line != NULL && line < end; line = strstr(line + 2, "\r\n")) {
		const char *f = line + 2;
		if (f + nl + 1 < end && strncasecmp(f, name, nl) == 0 && f[nl] == ':') {
			f += nl + 1;
			while (*f == ' ')
				f++;
			size_t vl = strcspn(f, "\r");
			snprintf(dst, cap, "%.*s", (int)(vl < cap ? vl : cap - 1), f);
			return true;
		}
	}
	return false;
}

/* Judges an answer; true when it is the handler's. */
static bool fuzz_judge(const char *resp, size_t n)
{
	if (n == 0)
		return false; /* closed unanswered: libmicrohttpd's way with some refusals */
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	if (strncmp(resp, cont, sizeof(cont) - 1) == 0) {
		resp += sizeof(cont) - 1;
		n -= sizeof(cont) - 1;
	}
	if (n < 13 || (strncmp(resp, "HTTP/1.1 ", 9) != 0 && strncmp(resp, "HTTP/1.0 ", 9) != 0) || resp[9] < '1' ||
	    resp[9] > '5' || resp[10] < '0' || resp[10] > '9' || resp[11] < '0' || resp[11] > '9')
		fuzz_fail("an answer without a status line", resp);
	const char *end = strstr(resp, "\r\n\r\n");
	if (end == NULL)
		fuzz_fail("an answer whose head does not end", resp);
	char rid[128], v[128];
	if (!fuzz_field(resp, end, "X-Request-Id", rid, sizeof(rid)))
		return false; /* libmicrohttpd's own short answer */
	if (!httpd_request_id_valid(rid))
		fuzz_fail("an answer with an invalid X-Request-Id", rid);
	bool handler = fuzz_field(resp, end, "X-Fuzz-Handler", v, sizeof(v));
	if (!fuzz_field(resp, end, "Content-Type", v, sizeof(v)) || strncmp(v, "application/json", 16) != 0 ||
	    !fuzz_field(resp, end, "Content-Length", v, sizeof(v)))
		return handler;
	size_t clen = (size_t)strtoul(v, NULL, 10);
	const char *body = end + 4;
	if ((size_t)(resp + n - body) < clen)
		return handler; /* no body sent: an answer to HEAD, or a 304 */
	if (!utf8_valid(body, clen))
		fuzz_fail("a JSON answer that is not UTF-8", body);
	json_tokener *tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *o = json_tokener_parse_ex(tok, body, (int)clen);
	bool whole = json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == clen;
	json_tokener_free(tok);
	if (o == NULL || !whole || !json_object_is_type(o, json_type_object))
		fuzz_fail("a JSON answer that is not one JSON object", body);
	json_object *id = NULL;
	if (json_object_object_get_ex(o, "request_id", &id) &&
	    (!json_object_is_type(id, json_type_string) || strcmp(json_object_get_string(id), rid) != 0))
		fuzz_fail("an error envelope whose request_id is not its X-Request-Id", body);
	json_object_put(o);
	return handler;
}

static int fuzz_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The path and the encoded-slash mark a handler must see for target t as
 * sent, worked out here on their own: MHD splits the query off at the first
 * '?'; escapes decode except %00; the absolute form (told before decoding)
 * loses its scheme and authority. */
static void fuzz_expected_path(const char *t, char *path, size_t cap, bool *slash, bool *decodes_absolute)
{
	size_t before = strcspn(t, "?#");
	*slash = false;
	for (size_t i = 0; i + 2 < before && !*slash; i++)
		*slash = t[i] == '%' && t[i + 1] == '2' && (t[i + 2] | 0x20) == 'f';
	size_t q = strcspn(t, "?");
	char *dec = malloc(q + 1);
	if (dec == NULL)
		fuzz_fail("out of memory", NULL);
	size_t d = 0;
	for (size_t i = 0; i < q;) {
		int hi, lo;
		if (t[i] == '%' && i + 2 < q && (hi = fuzz_hex(t[i + 1])) >= 0 &&
		    (lo = fuzz_hex(t[i + 2])) >= 0 && (hi | lo) != 0) {
			dec[d++] = (char)(hi * 16 + lo);
			i += 3;
		} else {
			dec[d++] = t[i++];
		}
	}
	dec[d] = '\0';
	*decodes_absolute = strncasecmp(dec, "http://", 7) == 0 || strncasecmp(dec, "https://", 8) == 0;
	const char *p = dec;
	size_t scheme = strncasecmp(t, "http://", 7) == 0 ? 7 : strncasecmp(t, "https://", 8) == 0 ? 8 : 0;
	if (scheme > 0) {
		p = dec + scheme;
		p += strcspn(p, "/?#");
	}
	snprintf(path, cap, "%s", p[0] != '\0' ? p : "/");
	free(dec);
}

static const char *const fuzz_methods[] = { "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS" };

/* The structured form: target, header lines, body (see the top). */
static void fuzz_structured(const uint8_t *data, size_t size, const char *method)
{
	const uint8_t *nul1 = memchr(data, 0, size);
	size_t tl = nul1 != NULL ? (size_t)(nul1 - data) : size;
	const uint8_t *hp = nul1 != NULL ? nul1 + 1 : data + size;
	size_t hrest = (size_t)(data + size - hp);
	const uint8_t *nul2 = memchr(hp, 0, hrest);
	size_t hl = nul2 != NULL ? (size_t)(nul2 - hp) : hrest;
	const uint8_t *body = nul2 != NULL ? nul2 + 1 : hp + hl;
	size_t bl = (size_t)(data + size - body);

	size_t cap = tl + 2 * hl + bl + 256;
	char *raw = malloc(cap);
	char *target = malloc(tl + 2);
	if (raw == NULL || target == NULL)
		fuzz_fail("out of memory", NULL);
	/* what a request line can carry: no white space, no control bytes */
	size_t t = 0;
	for (size_t i = 0; i < tl; i++)
		if (data[i] > 0x20 && data[i] != 0x7f)
			target[t++] = (char)data[i];
	if (t == 0)
		target[t++] = '/';
	target[t] = '\0';
	int n = snprintf(raw, cap, "%s %s HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n", method, target);
	size_t len = (size_t)n;
	/* the header lines: CR, LF and NUL never inside one, no empty line */
	for (size_t i = 0; i < hl;) {
		size_t start = len;
		while (i < hl && hp[i] != '\n') {
			if (hp[i] != '\r')
				raw[len++] = (char)hp[i];
			i++;
		}
		i++;
		if (len > start) {
			raw[len++] = '\r';
			raw[len++] = '\n';
		}
	}
	len += (size_t)snprintf(raw + len, cap - len, "Content-Length: %zu\r\n\r\n", bl);
	memcpy(raw + len, body, bl);
	len += bl;

	pthread_mutex_lock(&fuzz_mu);
	fuzz_seen.ran = false;
	pthread_mutex_unlock(&fuzz_mu);
	size_t n_resp = 0;
	bool closed;
	char *resp = fuzz_exchange(raw, len, false, &n_resp, &closed);
	bool answered = fuzz_judge(resp, n_resp);

	pthread_mutex_lock(&fuzz_mu);
	bool ran = fuzz_seen.ran, seen_slash = fuzz_seen.encoded_slash;
	char seen_path[sizeof(fuzz_seen.path)];
	memcpy(seen_path, fuzz_seen.path, sizeof(seen_path));
	pthread_mutex_unlock(&fuzz_mu);
	if (ran && !answered)
		fuzz_fail("the handler ran and its answer was lost", resp);
	char want[FUZZ_HTTPD_MAX_URL + 1];
	bool want_slash, absolute;
	fuzz_expected_path(target, want, sizeof(want), &want_slash, &absolute);
	if (ran && !(fuzz_skip_known && absolute)) {
		if (strcmp(want, seen_path) != 0) {
			fprintf(stderr, "fuzz_httpd: target \"%s\" served as path \"%s\", expected \"%s\"\n", target, seen_path,
			    want);
			abort();
		}
		if (want_slash != seen_slash)
			fuzz_fail("the encoded-slash mark is wrong for target", target);
	}
	free(resp);
	free(raw);
	free(target);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		size_t n = 0;
		bool closed;
		char *resp = fuzz_exchange((const char *)data + 1, size - 1, true, &n, &closed);
		if (closed) /* else perhaps cut short: not judged */
			(void)fuzz_judge(resp, n);
		free(resp);
		return 0;
	}
	fuzz_structured(data + 1, size - 1, fuzz_methods[(data[0] >> 1) % 6]);
	return 0;
}
