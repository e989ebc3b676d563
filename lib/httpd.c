/*
 * httpd on libmicrohttpd 0.9.75: a pool of epoll threads, each serving its own
 * connections; a request's handler runs on the thread that owns its
 * connection. See httpd.h for the contract.
 *
 * Per request, MHD calls httpd_access() several times: once with the headers,
 * once per body chunk, once more when the body is complete. The per-request
 * state (httpd_conn) is made on the first call and freed by the completion
 * callback, which MHD calls exactly once per request whatever happened.
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clock.h"
#include "ident.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"

#define HTTPD_DEFAULT_THREADS 2
#define HTTPD_DEFAULT_MAX_BODY ((size_t)1 << 20)
#define HTTPD_DEFAULT_TIMEOUT_S 30
#define HTTPD_DEFAULT_MAX_CONNECTIONS 1024
#define HTTPD_DEFAULT_MAX_URL ((size_t)8 << 10)
#define HTTPD_DEFAULT_MAX_HEADER_BYTES ((size_t)16 << 10)
/* Per-connection memory pool (libmicrohttpd 0.9.75). It holds, in this
 * order of need: the request line and header block as received; a record
 * of HTTPD_MHD_RECORD_BYTES for each query argument, header field and
 * cookie; a copy of the Cookie field's value (to split it); and, once the
 * handler has answered, the answer's status line and headers, built in
 * whatever is left. If that last part does not fit, libmicrohttpd closes
 * the connection after the handler ran (an order made, the client told
 * nothing), so the pool is sized for a request at every limit at once plus
 * the largest answer head httpd can send, and httpd_head_fits refuses
 * whatever would still leave less (raw bytes the limits do not count:
 * whitespace padding, a long absolute-form authority). Not bigger than
 * that: libmicrohttpd zeroes the whole pool for every request on a
 * connection (docs/PERFORMANCE.md, item 5). */
/* sizeof(struct MHD_HTTP_Header), 7 words, rounded up to the pool's
 * 16-byte alignment: 64 on a 64-bit build, an upper bound on others. */
#define HTTPD_MHD_RECORD_BYTES ((size_t)64)
#define HTTPD_POOL_ALIGN ((size_t)16)
/* The largest answer head: status line, Date, Connection, Content-Type,
 * X-Request-Id and Content-Length (512 bounds them together), and
 * HTTPD_MAX_HEADERS headers of the largest name and value with ": " and
 * CRLF. */
#define HTTPD_ANSWER_RESERVE                                                                                          \
	((size_t)512 + HTTPD_MAX_HEADERS * (sizeof(((httpd_response *)0)->headers[0].name) +                           \
	                                       sizeof(((httpd_response *)0)->headers[0].value) + 4))
/* The request line's framing (method, spaces, version, CRLFs), the blank
 * line, alignment of the pool's blocks. */
#define HTTPD_CONNECTION_MEMORY_SLACK ((size_t)1 << 10)
#define HTTPD_CONNECTION_MEMORY_MIN ((size_t)32 << 10)
/* X-Forwarded-For header lines looked at: the last ones, since a proxy
 * appends (to the last line, or as a line of its own, as HAProxy does) and
 * the walk to the client starts from the newest; lines before these are the
 * client's own and never reached. */
#define HTTPD_MAX_XFF_LINES 8
/* A chunked body past max_body is read and dropped so the client still gets
 * its JSON 413; past this many times max_body it is not worth reading and the
 * connection is closed instead, unanswered: libmicrohttpd 0.9.75 accepts a
 * response only before the body is read or after all of it
 * (MHD_queue_response refuses one in between), so a 413 cannot be sent
 * early to a client still sending. */
#define HTTPD_DISCARD_FACTOR 16
/* httpd_stop waits this long for requests in progress before closing. */
#define HTTPD_DRAIN_MS 5000

struct httpd {
	struct MHD_Daemon *daemon;
	char name[64];
	size_t max_body;
	size_t max_url;
	size_t max_header_bytes;
	size_t pool;                      /* MHD_OPTION_CONNECTION_MEMORY_LIMIT */
	int max_json_depth;
	netaddr_list *trusted;            /* NULL: the peer is the client */
	metric *m_connections;            /* comanda_http_connections_open{server} */
	bool log_requests;
	httpd_handler_fn handler;
	httpd_observer_fn observer;
	httpd_decorate_fn decorate;
	void *arg;
	int port;
	atomic_int active;                /* requests between first call and completion */
	atomic_int deferred;              /* httpd_defer calls whose httpd_resume has not returned */
};

/* One request's state, made by httpd_access's first call, owned by MHD's
 * con_cls slot until httpd_completed. */
typedef struct httpd_conn {
	httpd_request req;                /* first: httpd_defer and httpd_resume find the rest from it */
	httpd *h;
	char *body;                       /* malloc'd, NUL-terminated; NULL: none yet */
	size_t len, cap;
	uint64_t discarded;               /* body bytes dropped past max_body */
	size_t target_len;                /* the request target's bytes as received */
	bool too_large;
	bool responded;
	bool deferred;                    /* the handler answers later (httpd_defer) */
	atomic_bool answered;             /* ...and has: set before MHD_resume_connection */
	httpd_response later;             /* the deferred answer */
	char peer[INET6_ADDRSTRLEN];
	char client[NETADDR_TEXT_MAX];
} httpd_conn;

/* ------------------------------------------------------------------------ */
/* request ids                                                              */
/* ------------------------------------------------------------------------ */

bool httpd_request_id_valid(const char *s)
{
	return ident_valid(s, HTTPD_REQUEST_ID_MAX);
}

/* xorshift128+ per thread: ids need to be unique and unguessable enough to not
 * collide, not cryptographic, and a syscall per request is avoidable. */
static _Thread_local uint64_t httpd_rng[2];
static _Thread_local bool httpd_rng_seeded;

static uint64_t httpd_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t httpd_rand64(void)
{
	if (!httpd_rng_seeded) {
		uint64_t seed[2] = { 0, 0 };
		if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
			/* No entropy syscall: mix what differs between threads and runs. */
			uint64_t x = (uint64_t)clock_wall_ms() ^ ((uint64_t)clock_mono_us() << 20) ^
			    (uint64_t)(uintptr_t)&httpd_rng ^ ((uint64_t)getpid() << 40);
			seed[0] = httpd_splitmix(&x);
			seed[1] = httpd_splitmix(&x);
		}
		if (seed[0] == 0 && seed[1] == 0)
			seed[1] = 1; /* the all-zero state is a fixed point */
		httpd_rng[0] = seed[0];
		httpd_rng[1] = seed[1];
		httpd_rng_seeded = true;
	}
	uint64_t s1 = httpd_rng[0];
	const uint64_t s0 = httpd_rng[1];
	httpd_rng[0] = s0;
	s1 ^= s1 << 23;
	httpd_rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return httpd_rng[1] + s0;
}

void httpd_request_id_new(char *dst, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	if (cap == 0)
		return;
	uint64_t r[2] = { httpd_rand64(), httpd_rand64() };
	size_t n = 0;
	for (int w = 0; w < 2; w++)
		for (int i = 0; i < 16 && n + 1 < cap; i++, n++)
			dst[n] = hex[(r[w] >> (60 - 4 * i)) & 15];
	dst[n] = '\0';
}

/* ------------------------------------------------------------------------ */
/* request accessors                                                        */
/* ------------------------------------------------------------------------ */

const char *httpd_header(const httpd_request *req, const char *name)
{
	if (req->conn == NULL)
		return NULL;
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* httpd_field_count's walk: header fields named `name`, without case. */
typedef struct httpd_named {
	const char *name;
	size_t n;
} httpd_named;

static enum MHD_Result httpd_named_count(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	(void)value;
	httpd_named *f = cls;
	if (key != NULL && strcasecmp(key, f->name) == 0 && ++f->n == 2)
		return MHD_NO; /* "more than one" is all any caller asks */
	return MHD_YES;
}

/* How many header fields are named `name`: 0, 1, or 2 for two or more. */
static size_t httpd_field_count(struct MHD_Connection *conn, const char *name)
{
	httpd_named f = { name, 0 };
	MHD_get_connection_values(conn, MHD_HEADER_KIND, httpd_named_count, &f);
	return f.n;
}

/* Whether the request has a Cookie field, and the length of the first
 * one's value in *len (0 when none): libmicrohttpd keeps a copy of it in
 * the connection's pool to split it. */
static bool httpd_cookie_len(struct MHD_Connection *conn, size_t *len)
{
	*len = 0;
	if (MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, "Cookie", 6, NULL, len) == MHD_YES)
		return true;
	*len = 0;
	return false;
}

bool httpd_header_repeated(const httpd_request *req, const char *name)
{
	return req->conn != NULL && httpd_field_count(req->conn, name) > 1;
}

/* httpd_query's walk: the first value of one key, compared exactly. */
typedef struct httpd_query_find {
	const char *key;
	const char *value;
	bool found;
} httpd_query_find;

static enum MHD_Result httpd_query_match(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	httpd_query_find *f = cls;
	if (key == NULL || strcmp(key, f->key) != 0)
		return MHD_YES;
	f->value = value;
	f->found = true;
	return MHD_NO;
}

const char *httpd_query(const httpd_request *req, const char *key)
{
	if (req->conn == NULL)
		return NULL;
	/* Names are case-sensitive (API.md: "limit" and "Limit" are two
	 * parameters), and MHD_lookup_connection_value compares them without
	 * case: walk the arguments instead. MHD keeps "?status" (no '=') as a
	 * key with a NULL value, which is given, as "". */
	httpd_query_find f = { .key = key, .value = NULL, .found = false };
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, httpd_query_match, &f);
	if (!f.found)
		return NULL;
	return f.value != NULL ? f.value : "";
}

/* The query keys seen so far by httpd_query_repeated's walk. */
typedef struct httpd_keys {
	const char *key[HTTPD_MAX_QUERY_ARGS];
	size_t n;
	const char *repeated;
} httpd_keys;

static enum MHD_Result httpd_key_seen(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	(void)value;
	httpd_keys *k = cls;
	if (key == NULL)
		return MHD_YES;
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->key[i], key) == 0) {
			k->repeated = key;
			return MHD_NO;
		}
	if (k->n == HTTPD_MAX_QUERY_ARGS)
		return MHD_NO; /* refused before any handler runs (httpd_access) */
	k->key[k->n++] = key;
	return MHD_YES;
}

const char *httpd_query_repeated(const httpd_request *req)
{
	if (req->conn == NULL)
		return NULL;
	httpd_keys k = { .n = 0, .repeated = NULL };
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, httpd_key_seen, &k);
	return k.repeated;
}

/* ------------------------------------------------------------------------ */
/* responses                                                                */
/* ------------------------------------------------------------------------ */

void httpd_respond_owned(httpd_response *resp, int status, char *json, size_t len)
{
	/* A handler may answer twice (an error after a partial answer): the
	 * last answer wins and the earlier body is not leaked. */
	if (resp->body != json)
		free(resp->body);
	resp->status = status;
	resp->body = json;
	resp->body_len = json != NULL ? len : 0;
}

void httpd_respond(httpd_response *resp, int status, const char *json, size_t len)
{
	char *copy = malloc(len + 1);
	if (copy == NULL) {
		/* Out of memory: a bodiless 500 is the most we can promise. */
		httpd_respond_owned(resp, 500, NULL, 0);
		return;
	}
	if (len > 0)
		memcpy(copy, json, len);
	copy[len] = '\0';
	httpd_respond_owned(resp, status, copy, len);
}

void httpd_respond_error(httpd_response *resp, const httpd_request *req, int status, const char *code,
    const char *message)
{
	char msg[1024], cd[128], rid[HTTPD_REQUEST_ID_MAX * 6 + 1];
	log_json_escape(msg, sizeof(msg), message != NULL ? message : "");
	log_json_escape(cd, sizeof(cd), code != NULL ? code : "UNKNOWN");
	log_json_escape(rid, sizeof(rid), req != NULL ? req->request_id : "");
	size_t cap = strlen(msg) + strlen(cd) + strlen(rid) + 80;
	char *body = malloc(cap);
	if (body == NULL) {
		httpd_respond_owned(resp, status, NULL, 0);
		return;
	}
	int n = snprintf(body, cap, "{\"success\":false,\"error\":\"%s\",\"code\":\"%s\",\"request_id\":\"%s\"}", msg,
	    cd, rid);
	httpd_respond_owned(resp, status, body, n > 0 ? (size_t)n : 0);
}

/* A header name is an RFC 9110 token; a value has no control characters
 * (CR/LF would let a caller inject headers). */
static bool httpd_header_ok(const char *name, const char *value)
{
	if (name[0] == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", *p) != NULL)
			return false;
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

void httpd_response_reset(httpd_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	resp->status = 0;
	resp->content_type = NULL;
	resp->n_headers = 0;
}

void httpd_set_caller(httpd_response *resp, const char *caller)
{
	size_t n = strnlen(caller, sizeof(resp->caller) - 1);
	memcpy(resp->caller, caller, n);
	resp->caller[n] = '\0';
}

void httpd_add_header(httpd_response *resp, const char *name, const char *value)
{
	if (resp->n_headers >= HTTPD_MAX_HEADERS || name == NULL || value == NULL)
		return;
	size_t nl = strlen(name), vl = strlen(value);
	/* Truncating a header would change its meaning: drop it and say so. */
	if (nl >= sizeof(resp->headers[0].name) || vl >= sizeof(resp->headers[0].value) ||
	    !httpd_header_ok(name, value)) {
		log_printf(LOG_WARN, "httpd: dropped response header %.48s (too long or invalid)", name);
		return;
	}
	memcpy(resp->headers[resp->n_headers].name, name, nl + 1);
	memcpy(resp->headers[resp->n_headers].value, value, vl + 1);
	resp->n_headers++;
}

/* ------------------------------------------------------------------------ */
/* serving                                                                  */
/* ------------------------------------------------------------------------ */

static void httpd_log_request(const httpd *h, const httpd_request *req, const httpd_response *resp,
    int64_t latency_us)
{
	log_line l;
	log_begin(&l, LOG_INFO, "http request");
	log_str(&l, "server", h->name);
	log_str(&l, "request_id", req->request_id);
	log_str(&l, "method", req->method);
	log_str(&l, "route", resp->route);
	log_str(&l, "path", req->path);
	log_int(&l, "status", resp->status);
	log_int(&l, "latency_us", latency_us);
	log_str(&l, "caller", resp->caller[0] != '\0' ? resp->caller : NULL);
	log_str(&l, "client", req->client_addr);
	if (req->peer_addr != NULL && strcmp(req->peer_addr, req->client_addr) != 0)
		log_str(&l, "peer", req->peer_addr);
	log_end(&l);
}

/* Queues resp (taking its body), then logs and observes. Returns MHD's verdict. */
static enum MHD_Result httpd_send(httpd *h, httpd_conn *c, struct MHD_Connection *conn, httpd_response *resp)
{
	if (resp->status < 100 || resp->status > 599) {
		/* status 0 (no answer) or nonsense: the client still gets JSON. */
		if (resp->status != 0)
			log_printf(LOG_ERROR, "httpd: handler answered invalid status %d for %s %.200s",
			    resp->status, c->req.method, c->req.path);
		httpd_respond_error(resp, &c->req, 500, "INTERNAL", "Internal error");
	}
	struct MHD_Response *r;
	if (resp->body != NULL && resp->body_len > 0) {
		r = MHD_create_response_from_buffer_with_free_callback(resp->body_len, resp->body, free);
		if (r != NULL)
			resp->body = NULL; /* MHD owns it now */
	} else {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	free(resp->body);
	resp->body = NULL;
	if (r == NULL) {
		log_printf(LOG_ERROR, "httpd: out of memory building a response");
		return MHD_NO;
	}
	/* A 204 has no content (RFC 9110 15.3.5), so there is nothing to type;
	 * libmicrohttpd already leaves its Content-Length out. */
	bool ok = resp->status == 204 ||
	    MHD_add_response_header(r, "Content-Type",
	        resp->content_type != NULL ? resp->content_type : "application/json; charset=utf-8") == MHD_YES;
	ok = ok && MHD_add_response_header(r, "X-Request-Id", c->req.request_id) == MHD_YES;
	for (size_t i = 0; ok && i < resp->n_headers && i < HTTPD_MAX_HEADERS; i++)
		ok = MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value) == MHD_YES;
	enum MHD_Result ret = ok ? MHD_queue_response(conn, (unsigned)resp->status, r) : MHD_NO;
	MHD_destroy_response(r);
	c->responded = true;

	int64_t latency_us = clock_mono_us() - c->req.start_us;
	if (h->log_requests)
		httpd_log_request(h, &c->req, resp, latency_us);
	if (h->observer != NULL)
		h->observer(h->arg, &c->req, resp, latency_us);
	return ret;
}

/* Answers one of httpd's own errors ("Request body too large (limit N
 * bytes)"; unit NULL: no limit named) before the handler would run. */
static enum MHD_Result httpd_reject(httpd *h, httpd_conn *c, struct MHD_Connection *conn, int status,
    const char *code, const char *what, size_t limit, const char *unit)
{
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	char msg[128];
	if (unit != NULL)
		snprintf(msg, sizeof(msg), "%s (limit %zu%s%s)", what, limit, unit[0] != '\0' ? " " : "", unit);
	else
		snprintf(msg, sizeof(msg), "%s", what);
	httpd_respond_error(&resp, &c->req, status, code, msg);
	if (h->decorate != NULL)
		h->decorate(h->arg, &c->req, &resp);
	return httpd_send(h, c, conn, &resp);
}

static enum MHD_Result httpd_reject_too_large(httpd *h, httpd_conn *c, struct MHD_Connection *conn)
{
	return httpd_reject(h, c, conn, 413, "PAYLOAD_TOO_LARGE", "Request body too large", h->max_body, "bytes");
}

static size_t httpd_count(struct MHD_Connection *conn, enum MHD_ValueKind kind)
{
	int n = MHD_get_connection_values(conn, kind, NULL, NULL);
	return n > 0 ? (size_t)n : 0;
}

static size_t httpd_align(size_t n)
{
	return (n + HTTPD_POOL_ALIGN - 1) / HTTPD_POOL_ALIGN * HTTPD_POOL_ALIGN;
}

/* True when what the request holds of the connection's pool leaves room
 * for the largest answer head (see HTTPD_ANSWER_RESERVE): its
 * head as received, a record per field, argument and cookie, the copy of
 * the Cookie field, and a little for the alignment of those blocks. */
static bool httpd_head_fits(const httpd *h, struct MHD_Connection *conn, size_t records)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	size_t head = ci != NULL ? ci->header_size : h->pool;
	size_t cookie_len;
	if (httpd_cookie_len(conn, &cookie_len))
		cookie_len = httpd_align(cookie_len + 1);
	size_t need = head + records * HTTPD_MHD_RECORD_BYTES + cookie_len + 4 * HTTPD_POOL_ALIGN + HTTPD_ANSWER_RESERVE;
	return need <= h->pool;
}

/* Sets *cls (the first Content-Length value) to NULL at a Content-Length
 * field that differs from it. */
static enum MHD_Result httpd_length_differs(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	const char **first = cls;
	if (key == NULL || strcasecmp(key, "Content-Length") != 0 || strcmp(value != NULL ? value : "", *first) == 0)
		return MHD_YES;
	*first = NULL;
	return MHD_NO;
}

/* Collects the last HTTPD_MAX_XFF_LINES X-Forwarded-For lines of a
 * request: a ring, put back in order by httpd_xff_lines. */
typedef struct httpd_xff {
	const char *ring[HTTPD_MAX_XFF_LINES];
	size_t seen; /* lines seen in all */
} httpd_xff;

static enum MHD_Result httpd_xff_collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	httpd_xff *x = cls;
	if (key != NULL && value != NULL && strcasecmp(key, "X-Forwarded-For") == 0)
		x->ring[x->seen++ % HTTPD_MAX_XFF_LINES] = value;
	return MHD_YES;
}

/* The kept lines into out, oldest first; returns how many. */
static size_t httpd_xff_lines(const httpd_xff *x, const char *out[HTTPD_MAX_XFF_LINES])
{
	size_t n = x->seen < HTTPD_MAX_XFF_LINES ? x->seen : HTTPD_MAX_XFF_LINES;
	for (size_t i = 0; i < n; i++)
		out[i] = x->ring[(x->seen - n + i) % HTTPD_MAX_XFF_LINES];
	return n;
}

static void httpd_client_addr(const httpd *h, httpd_conn *c, struct MHD_Connection *conn)
{
	snprintf(c->peer, sizeof(c->peer), "unknown");
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && ci->client_addr != NULL) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, c->peer,
			    sizeof(c->peer));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, c->peer,
			    sizeof(c->peer));
	}
	httpd_xff x = { .seen = 0 };
	if (h->trusted != NULL)
		MHD_get_connection_values(conn, MHD_HEADER_KIND, httpd_xff_collect, &x);
	const char *lines[HTTPD_MAX_XFF_LINES];
	size_t n = httpd_xff_lines(&x, lines);
	netaddr_client(h->trusted, c->peer, lines, n, c->client, sizeof(c->client));
}

/* Bytes of a request's key/value pairs of one kind, plus `framing` each. */
typedef struct httpd_tally {
	size_t bytes;
	size_t framing;
} httpd_tally;

static enum MHD_Result httpd_tally_add(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	httpd_tally *t = cls;
	t->bytes += (key != NULL ? strlen(key) : 0) + (value != NULL ? strlen(value) : 0) + t->framing;
	return MHD_YES;
}

static size_t httpd_tally_kind(struct MHD_Connection *conn, enum MHD_ValueKind kind, size_t framing)
{
	httpd_tally t = { 0, framing };
	MHD_get_connection_values(conn, kind, httpd_tally_add, &t);
	return t.bytes;
}

/* The header fields as max_header_bytes counts them: names plus values
 * plus 4 bytes each, and the first Cookie field's value once more, since
 * libmicrohttpd keeps a copy of it in the same buffer to split it. */
static size_t httpd_header_bytes(struct MHD_Connection *conn)
{
	size_t cookie_len;
	httpd_cookie_len(conn, &cookie_len);
	return httpd_tally_kind(conn, MHD_HEADER_KIND, 4) + cookie_len;
}

size_t httpd_absolute_prefix_len(const char *target)
{
	size_t n;
	if (strncasecmp(target, "http://", 7) == 0)
		n = 7;
	else if (strncasecmp(target, "https://", 8) == 0)
		n = 8;
	else
		return 0;
	/* the authority ends at the path, the query or (never sent, but not
	 * part of it either) a fragment */
	return n + strcspn(target + n, "/?#");
}

/* MHD's URI log callback, called once per request as soon as its request
 * line is in, with the request target as received: before the query is
 * split off and both are percent-decoded, so the only place that sees the
 * bytes the client sent (max_url counts those: decoded, "%41" x 8000 would
 * pass as 8000 bytes; and whether the target is in absolute form is told
 * here: decoded, "%68ttp://h/x" would read as one). Its length reaches
 * httpd_access in con_cls itself, as an odd number (httpd_conn pointers are
 * even): nothing may be allocated here, as libmicrohttpd 0.9.75 drops a
 * request it failed to refuse itself (hundreds of query arguments) without
 * calling httpd_completed. */
static void *httpd_uri_received(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)conn;
	if (uri == NULL)
		return (void *)(uintptr_t)1u;
	/* an absolute-form target's scheme and authority are not its URL */
	size_t prefix = httpd_absolute_prefix_len(uri);
	const char *target = uri + prefix;
	size_t len = strlen(target);
	/* "%2F" in the path is a '/' that is data (RFC 3986 2.2), which
	 * decoding would turn into a separator: "/api%2Fusers/me" would be
	 * routed as "/api/users/me", past whatever a proxy in front decided
	 * about the path as sent. The decoded path cannot tell, so it is noted
	 * here (bit 1). An absolute-form target's authority is looked at too:
	 * decoded, its "%2F" would end it early and land in the path
	 * ("http://h%2Fx/y" as "/x/y"). Bit 2: the target is in absolute form. */
	size_t path_len = strcspn(uri, "?#");
	bool slash = false;
	for (size_t i = 0; i + 2 < path_len && !slash; i++)
		slash = uri[i] == '%' && uri[i + 1] == '2' && (uri[i + 2] == 'f' || uri[i + 2] == 'F');
	return (void *)(((uintptr_t)len << 3) | ((uintptr_t)(prefix > 0) << 2) | ((uintptr_t)slash << 1) | 1u);
}

/* What httpd_uri_received left in con_cls: the target's length, whether
 * its path held an encoded '/', and whether it is in absolute form; false
 * when con_cls holds something else (the request's httpd_conn, or
 * nothing). */
static bool httpd_target_len_of(void *con_cls, size_t *len, bool *encoded_slash, bool *absolute)
{
	uintptr_t v = (uintptr_t)con_cls;
	if ((v & 1u) == 0)
		return false;
	*len = (size_t)(v >> 3);
	*encoded_slash = (v & 2u) != 0;
	*absolute = (v & 4u) != 0;
	return true;
}

/* First call of a request: set up its state. Returns NULL when out of memory. */
static httpd_conn *httpd_begin(httpd *h, struct MHD_Connection *conn, const char *url, const char *method,
    size_t target_len, bool encoded_slash, bool absolute)
{
	httpd_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	atomic_fetch_add(&h->active, 1);
	c->h = h;
	c->target_len = target_len;
	c->req.method = method;
	/* The one place an absolute-form target becomes its path, before
	 * anything routes on it or logs it: MHD's url is the decoded target
	 * without its query (the query is parsed as for any other form). Only
	 * a target sent in that form: its scheme holds no escapes, so the
	 * decoded one starts with it too. */
	const char *path = absolute ? url + httpd_absolute_prefix_len(url) : url;
	c->req.path = path[0] != '\0' ? path : "/";
	c->req.path_encoded_slash = encoded_slash;
	c->req.body = "";
	c->req.body_len = 0;
	c->req.start_us = clock_mono_us();
	c->req.conn = conn;
	c->req.max_json_depth = h->max_json_depth;
	httpd_client_addr(h, c, conn);
	c->req.client_addr = c->client;
	c->req.peer_addr = c->peer;
	const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	if (httpd_request_id_valid(rid))
		memcpy(c->req.request_id, rid, strlen(rid) + 1);
	else
		httpd_request_id_new(c->req.request_id, sizeof(c->req.request_id));
	return c;
}

/* Appends a body chunk, or counts it as dropped once over the limit.
 * Returns false when the connection should be closed. */
static bool httpd_take_chunk(httpd *h, httpd_conn *c, const char *data, size_t n)
{
	if (c->too_large || n > h->max_body - c->len) {
		c->too_large = true;
		c->discarded += n;
		return c->discarded / HTTPD_DISCARD_FACTOR <= h->max_body;
	}
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap != 0 ? c->cap : 4096;
		while (cap < c->len + n + 1)
			cap *= 2;
		if (cap > h->max_body + 1)
			cap = h->max_body + 1;
		char *nb = realloc(c->body, cap);
		if (nb == NULL)
			return false;
		c->body = nb;
		c->cap = cap;
	}
	memcpy(c->body + c->len, data, n);
	c->len += n;
	c->body[c->len] = '\0';
	return true;
}

static enum MHD_Result httpd_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	httpd *h = cls;
	httpd_conn *c = *con_cls;
	size_t target_len = 0;
	bool encoded_slash = false, absolute = false;

	if (c == NULL || httpd_target_len_of(c, &target_len, &encoded_slash, &absolute)) {
		if (c == NULL) { /* no URI log call (not expected): the decoded length, the least it can be */
			absolute = httpd_absolute_prefix_len(url) > 0;
			target_len = strlen(url) - httpd_absolute_prefix_len(url);
		}
		c = httpd_begin(h, conn, url, method, target_len, encoded_slash, absolute);
		if (c == NULL)
			return MHD_NO;
		*con_cls = c;
		/* Answered before reading a byte of any body; MHD then closes the
		 * connection instead of reading it. First whether an answer will
		 * fit at all: past that no handler may run, as its answer would
		 * be lost (see HTTPD_ANSWER_RESERVE). */
		size_t args = httpd_count(conn, MHD_GET_ARGUMENT_KIND);
		size_t fields = httpd_count(conn, MHD_HEADER_KIND) + httpd_count(conn, MHD_COOKIE_KIND);
		if (args > HTTPD_MAX_QUERY_ARGS)
			return httpd_reject(h, c, conn, 414, "URI_TOO_LONG", "Too many query parameters", HTTPD_MAX_QUERY_ARGS,
			    "");
		if (fields > HTTPD_MAX_HEADER_FIELDS)
			return httpd_reject(h, c, conn, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE",
			    "Too many header fields (cookies included)", HTTPD_MAX_HEADER_FIELDS, "");
		if (c->target_len > h->max_url)
			return httpd_reject(h, c, conn, 414, "URI_TOO_LONG", "Request URI too long", h->max_url, "bytes");
		if (httpd_header_bytes(conn) > h->max_header_bytes)
			return httpd_reject(h, c, conn, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "Request header fields too large",
			    h->max_header_bytes, "bytes");
		if (!httpd_head_fits(h, conn, args + fields))
			return httpd_reject(h, c, conn, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE",
			    "Request header too large for the server's buffer", 0, NULL);
		/* RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request
		 * without Host and to any with more than one (libmicrohttpd checks
		 * the first only in its strict mode, and answers it in HTML).
		 * HTTP/1.0 had no Host; MHD refuses versions other than 1.x. */
		size_t hosts = httpd_field_count(conn, "Host");
		if (hosts > 1)
			return httpd_reject(h, c, conn, 400, "INVALID_ARGUMENT", "More than one Host header field", 0, NULL);
		if (hosts == 0 && strcmp(version, MHD_HTTP_VERSION_1_0) != 0)
			return httpd_reject(h, c, conn, 400, "INVALID_ARGUMENT", "Host header field required (HTTP/1.1)", 0,
			    NULL);
		/* Framing a proxy in front may read otherwise (RFC 9112 6.1, 6.3: two
		 * lengths, a length beside Transfer-Encoding) would serve the bytes
		 * it counted as body as a request of their own: refused unread. */
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		const char *same = cl;
		if (cl != NULL)
			MHD_get_connection_values(conn, MHD_HEADER_KIND, httpd_length_differs, &same);
		if (cl != NULL &&
		    (same == NULL || MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding") != NULL))
			return httpd_reject(h, c, conn, 400, "INVALID_ARGUMENT", "Ambiguous request framing (Content-Length)",
			    0, NULL);
		/* A declared length over the limit is refused before reading a byte. */
		if (cl != NULL) {
			char *end = NULL;
			errno = 0;
			unsigned long long n = strtoull(cl, &end, 10);
			if (errno == ERANGE || (end != cl && n > h->max_body))
				return httpd_reject_too_large(h, c, conn);
			if (end != cl && n > 0 && n <= h->max_body) {
				c->body = malloc((size_t)n + 1);
				if (c->body == NULL)
					return MHD_NO;
				c->cap = (size_t)n + 1;
				c->body[0] = '\0';
			}
		}
		return MHD_YES;
	}
	if (c->responded)
		return MHD_YES;
	if (c->deferred) {
		/* resumed: the answer is in. (Called again before it is, MHD
		 * would spin on the connection: suspend it again.) */
		if (atomic_load(&c->answered))
			return httpd_send(h, c, conn, &c->later);
		MHD_suspend_connection(conn);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		bool keep = httpd_take_chunk(h, c, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return keep ? MHD_YES : MHD_NO;
	}
	if (c->too_large)
		return httpd_reject_too_large(h, c, conn);

	c->req.body = c->body != NULL ? c->body : "";
	c->req.body_len = c->len;
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	h->handler(h->arg, &c->req, &resp);
	if (c->deferred)
		return MHD_YES;   /* suspended in httpd_defer; httpd_resume sends c->later */
	return httpd_send(h, c, conn, &resp);
}

/* The request's state: req is the first member of its httpd_conn. */
static httpd_conn *httpd_conn_of(const httpd_request *req)
{
	return (httpd_conn *)(uintptr_t)req;
}

httpd_response *httpd_defer(const httpd_request *req, httpd_response *resp)
{
	httpd_conn *c = httpd_conn_of(req);
	c->deferred = true;
	atomic_store(&c->answered, false);
	c->later = *resp;
	memset(resp, 0, sizeof(*resp));
	resp->route = c->later.route;
	memcpy(resp->caller, c->later.caller, sizeof(resp->caller));
	atomic_fetch_add(&c->h->deferred, 1);
	MHD_suspend_connection(req->conn);
	return &c->later;
}

void httpd_resume(const httpd_request *req)
{
	httpd_conn *c = httpd_conn_of(req);
	httpd *h = c->h;
	struct MHD_Connection *conn = req->conn;
	atomic_store(&c->answered, true);
	/* from here the connection's thread may send the answer and free c */
	MHD_resume_connection(conn);
	atomic_fetch_sub(&h->deferred, 1);
}

static void httpd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	(void)conn;
	(void)toe;
	httpd *h = cls;
	httpd_conn *c = *con_cls;
	size_t target_len;
	bool encoded_slash, absolute;
	if (c == NULL || httpd_target_len_of(c, &target_len, &encoded_slash, &absolute)) {
		*con_cls = NULL; /* httpd_access never saw the request */
		return;
	}
	free(c->body);
	if (c->deferred && !c->responded)
		free(c->later.body); /* the connection went away before the answer was sent */
	free(c);
	*con_cls = NULL;
	atomic_fetch_sub(&h->active, 1);
}

static int httpd_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decoding of the path and query arguments, as libmicrohttpd's own
 * except that "%00" stays as it is: a decoded NUL would silently cut the
 * string short, so "/api/orders/1%00/status" would be served as
 * "/api/orders/1" (a 405) and "?cursor=x%00y" as "x". Kept as text, such
 * input reaches the route matcher and the validators whole and is refused
 * by them. Malformed escapes are left as they are, like the default. */
static size_t httpd_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	char *w = s;
	for (const char *r = s; *r != '\0';) {
		int hi, lo;
		if (r[0] == '%' && (hi = httpd_hex(r[1])) >= 0 && (lo = httpd_hex(r[2])) >= 0 && (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void httpd_connection_event(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	(void)conn;
	(void)socket_context;
	httpd *h = cls;
	metrics_gauge_add(h->m_connections, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

__attribute__((format(printf, 2, 0))) static void httpd_mhd_log(void *cls, const char *fmt, va_list ap)
{
	const httpd *h = cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_line l;
	log_begin(&l, LOG_WARN, "libmicrohttpd");
	log_str(&l, "server", h->name);
	log_str(&l, "detail", msg);
	log_end(&l);
}

/* Resolves cfg->bind (numeric or a name such as "localhost") and port. */
static bool httpd_resolve(const httpd_config *cfg, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	char port[16];
	snprintf(port, sizeof(port), "%d", cfg->port);
	const char *bind = (cfg->bind != NULL && cfg->bind[0] != '\0') ? cfg->bind : NULL;
	int rc = getaddrinfo(bind, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		log_printf(LOG_ERROR, "httpd %s: cannot resolve bind address %s: %s", cfg->name != NULL ? cfg->name : "",
		    bind != NULL ? bind : "(any)", gai_strerror(rc));
		return false;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

int httpd_start(httpd **out, const httpd_config *cfg)
{
	*out = NULL;
	if (cfg->handler == NULL || cfg->port < 0 || cfg->port > 65535) {
		log_printf(LOG_ERROR, "httpd: invalid configuration (handler or port)");
		return -1;
	}
	httpd *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -1;
	snprintf(h->name, sizeof(h->name), "%s", cfg->name != NULL ? cfg->name : "httpd");
	h->max_body = cfg->max_body > 0 ? cfg->max_body : HTTPD_DEFAULT_MAX_BODY;
	h->max_url = cfg->max_url > 0 ? cfg->max_url : HTTPD_DEFAULT_MAX_URL;
	h->max_header_bytes = cfg->max_header_bytes > 0 ? cfg->max_header_bytes : HTTPD_DEFAULT_MAX_HEADER_BYTES;
	h->max_json_depth = cfg->max_json_depth > 0 ? cfg->max_json_depth : 0;
	h->log_requests = cfg->log_requests;
	h->handler = cfg->handler;
	h->observer = cfg->observer;
	h->decorate = cfg->decorate;
	h->arg = cfg->arg;
	atomic_init(&h->active, 0);
	atomic_init(&h->deferred, 0);
	char why[160];
	if (netaddr_list_parse(&h->trusted, cfg->trusted_proxies, why, sizeof(why)) != 0) {
		log_printf(LOG_ERROR, "httpd %s: trusted proxies: %s", h->name, why);
		free(h);
		return -1;
	}
	char labels[96];
	snprintf(labels, sizeof(labels), "server=\"%s\"", h->name);
	h->m_connections = metrics_gauge("comanda_http_connections_open", "Open HTTP connections", labels);

	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	if (!httpd_resolve(cfg, &ss, &sslen)) {
		netaddr_list_free(h->trusted);
		free(h);
		return -1;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	unsigned threads = (unsigned)(cfg->threads > 0 ? cfg->threads : HTTPD_DEFAULT_THREADS);
	unsigned timeout = (unsigned)(cfg->connection_timeout_s > 0 ? cfg->connection_timeout_s : HTTPD_DEFAULT_TIMEOUT_S);
	unsigned maxconn = (unsigned)(cfg->max_connections > 0 ? cfg->max_connections : HTTPD_DEFAULT_MAX_CONNECTIONS);
	/* The pool divides the connection limit between its threads. */
	if (maxconn < threads)
		maxconn = threads;
	unsigned per_ip = (unsigned)(cfg->max_connections_per_ip > 0 ? cfg->max_connections_per_ip : 0);
	size_t pool = h->max_url + h->max_header_bytes +
	    (HTTPD_MAX_QUERY_ARGS + HTTPD_MAX_HEADER_FIELDS) * HTTPD_MHD_RECORD_BYTES + HTTPD_ANSWER_RESERVE +
	    HTTPD_CONNECTION_MEMORY_SLACK;
	if (pool < HTTPD_CONNECTION_MEMORY_MIN)
		pool = HTTPD_CONNECTION_MEMORY_MIN;
	h->pool = pool;

	/* the logger goes first: MHD reports problems with later options */
	h->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, httpd_access, h,
	    MHD_OPTION_EXTERNAL_LOGGER, httpd_mhd_log, h,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_TIMEOUT, timeout,
	    MHD_OPTION_CONNECTION_LIMIT, maxconn,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
	    MHD_OPTION_NOTIFY_COMPLETED, httpd_completed, h,
	    MHD_OPTION_NOTIFY_CONNECTION, httpd_connection_event, h,
	    MHD_OPTION_UNESCAPE_CALLBACK, httpd_unescape, h,
	    MHD_OPTION_URI_LOG_CALLBACK, httpd_uri_received, h,
	    MHD_OPTION_END);
	if (h->daemon == NULL) {
		log_printf(LOG_ERROR, "httpd %s: cannot listen on %s:%d", h->name,
		    cfg->bind != NULL ? cfg->bind : "(any)", cfg->port);
		netaddr_list_free(h->trusted);
		free(h);
		return -1;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di != NULL ? (int)di->port : cfg->port;
	log_printf(LOG_INFO,
	    "httpd %s: listening on %s:%d (%u threads, %u connections, %u per address, idle timeout %u s, "
	    "url %zu B, headers %zu B, body %zu B, connection buffer %zu B)",
	    h->name, cfg->bind != NULL ? cfg->bind : "(any)", h->port, threads, maxconn, per_ip, timeout, h->max_url,
	    h->max_header_bytes, h->max_body, pool);
	*out = h;
	return 0;
}

int httpd_port(const httpd *h)
{
	return h->port;
}

void httpd_stop(httpd *h)
{
	if (h == NULL)
		return;
	/* Stop accepting first, so the drain below cannot be kept busy forever;
	 * the listening socket is ours to close after quiesce. */
	MHD_socket lsock = MHD_quiesce_daemon(h->daemon);
	int64_t deadline = clock_mono_us() + (int64_t)HTTPD_DRAIN_MS * 1000;
	while (atomic_load(&h->active) > 0 && clock_mono_us() < deadline)
		clock_sleep_ms(5);
	if (atomic_load(&h->active) > 0)
		log_printf(LOG_WARN, "httpd %s: stopping with %d requests still in progress", h->name,
		    atomic_load(&h->active));
	/* A deferred answer resumes its connection from another thread, which
	 * must not happen once the daemon is gone. Its work (an RPC) has a
	 * deadline of its own, so this wait ends. */
	while (atomic_load(&h->deferred) > 0)
		clock_sleep_ms(5);
	MHD_stop_daemon(h->daemon);
	if (lsock != MHD_INVALID_SOCKET)
		close(lsock);
	netaddr_list_free(h->trusted);
	free(h);
}
