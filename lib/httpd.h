/*
 * httpd: the HTTP server under the gateway and every service's admin port, on
 * libmicrohttpd with a thread pool.
 *
 * It owns the cross-cutting parts every endpoint shares: it reads the body
 * (413 JSON over max_body), takes or makes the request id (X-Request-Id,
 * echoed on every response), turns a handler that answered nothing into a
 * JSON 500, and writes one JSON log line per request. Endpoints only map a
 * request to a response.
 *
 * The errors it answers itself use the API's envelope (httpd_respond_error),
 * checked in this order before the handler runs:
 *   414 "URI_TOO_LONG" "Too many query parameters" over HTTPD_MAX_QUERY_ARGS
 *       query arguments;
 *   431 "REQUEST_HEADER_FIELDS_TOO_LARGE" "Too many header fields" over
 *       HTTPD_MAX_HEADER_FIELDS header fields and cookies together;
 *   414 "URI_TOO_LONG" when the request target (path plus query) exceeds
 *       max_url bytes as sent, before percent-decoding;
 *   431 "REQUEST_HEADER_FIELDS_TOO_LARGE" when the header fields (names plus
 *       values plus 4 bytes of framing each, and the Cookie field's value
 *       once more) exceed max_header_bytes;
 *   431 "REQUEST_HEADER_FIELDS_TOO_LARGE" when the request as received
 *       (bytes the counts above do not see included: whitespace padding a
 *       value) would leave less of the connection's buffer than the
 *       largest answer needs - its handler's answer would be lost;
 *   400 "INVALID_ARGUMENT" for an HTTP/1.1 request without a Host field
 *       or any request with more than one (RFC 9112 3.2; HTTP/1.0 needs
 *       none), and for ambiguous framing (two differing Content-Length
 *       fields, or Content-Length beside Transfer-Encoding), unread;
 *   413 "PAYLOAD_TOO_LARGE" for a body over max_body (a declared
 *       Content-Length over it is refused before any of the body is read and
 *       the connection is then closed; a chunked body is read to its end,
 *       what is past the limit dropped, and then refused - but one longer
 *       than 16 times max_body is not read to its end: the connection is
 *       closed without an answer, since libmicrohttpd cannot send one
 *       while a body is still coming in);
 * and 500 "INTERNAL" when a handler leaves status 0 or sets one outside
 * 100..599. The per-connection buffer of libmicrohttpd is sized to hold a
 * request at all of those limits at once and the largest answer head
 * (HTTPD_MAX_HEADERS headers of the longest name and value), so a request
 * that passes them always gets its handler's answer. Input that does not
 * fit even there (or is not HTTP at all) gets libmicrohttpd's own short
 * non-JSON answer (414/431/400) and the connection is closed - the one
 * place a client can see something other than JSON; with several hundred
 * query arguments or header fields, libmicrohttpd may not even answer and
 * the connection is closed by the idle timeout. No handler runs in either
 * case. (A client that pipelines requests leaves the next one's bytes in
 * the same buffer; a request at the limits with more than about 1 KiB of
 * them behind it may lose its answer, the connection then closed.)
 * Every response carries X-Request-Id and, unless the handler named another
 * content_type, Content-Type: application/json; charset=utf-8 - but a 204,
 * which has no content to type (nor Content-Length), carries none.
 *
 * Connections: at most max_connections at once (split between the pool's
 * threads) and max_connections_per_ip from one address; a connection over
 * either cap is closed at once, without an answer (there is no slot to
 * answer it from). A connection that sends or accepts nothing for
 * connection_timeout_s is closed: that bounds a slow client trickling its
 * headers ("slowloris") and idle keep-alive connections alike. The gauge
 * comanda_http_connections_open{server} counts open connections.
 *
 * The path and query arguments are percent-decoded, except that "%00" is
 * kept as those three characters (a NUL would cut them short unseen). A
 * path whose target held "%2F" sets req->path_encoded_slash: decoded, that
 * '/' reads as a separator, and a router must not match it as one (the
 * gateway answers 404: no route has a segment holding a '/'). A
 * request target in absolute form ("GET http://host:port/health", which
 * RFC 9112 3.2.2 says a server MUST accept) is served as its path and
 * query ("/health"; "/" when it has no path); its scheme and authority
 * count toward no limit but the connection's buffer, and are otherwise
 * ignored, as is the Host field (only one server is behind each port).
 * The form is told by the target as sent: one that only decodes to it
 * ("%68ttp://h/x") is served as that decoded text, and a "%2F" in the
 * authority sets path_encoded_slash as one in the path does.
 *
 * The client: req->peer_addr is the connection's peer; req->client_addr the
 * client behind it when the peer is one of trusted_proxies (netaddr_client
 * over X-Forwarded-For), else the peer. The log line names both when they
 * differ.
 *
 * Threading: handlers run on the pool's threads, many at once; a request and
 * its response belong to the thread running the handler.
 */
#ifndef COMANDA_HTTPD_H
#define COMANDA_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;

#define HTTPD_MAX_HEADERS 16
/* Most query arguments a request may carry (414 above) and most header
 * fields, cookies counted one each (431 above): several times what a real
 * client sends, and what the connection's buffer is sized for. */
#define HTTPD_MAX_QUERY_ARGS 100
#define HTTPD_MAX_HEADER_FIELDS 100
#define HTTPD_REQUEST_ID_MAX 64
#define HTTPD_CALLER_MAX 48

typedef struct httpd httpd;

typedef struct httpd_request {
	const char *method;               /* "GET" */
	const char *path;                 /* "/api/users/7", without the query */
	bool path_encoded_slash;          /* the path as sent held "%2F": a '/' that is data, not a separator */
	const char *body;                 /* NUL-terminated; "" when none */
	size_t body_len;
	const char *client_addr;          /* "127.0.0.1": the client (see trusted_proxies) */
	const char *peer_addr;            /* the connection's peer address */
	int max_json_depth;               /* httpd_config.max_json_depth, for the JSON parser */
	char request_id[HTTPD_REQUEST_ID_MAX + 1];
	int64_t start_us;                 /* clock_mono_us() at arrival */
	struct MHD_Connection *conn;      /* for httpd_header / httpd_query */
} httpd_request;

typedef struct httpd_response {
	int status;                       /* 0: handler answered nothing (500) */
	char *body;                       /* malloc'd, owned: freed by httpd */
	size_t body_len;
	const char *content_type;         /* static string; NULL: application/json; charset=utf-8 */
	const char *route;                /* static route pattern for the log line and metrics, "/api/users/{id}" */
	char caller[HTTPD_CALLER_MAX];    /* who asked, for the log ("user:7"); "" when unknown */
	size_t n_headers;
	struct {
		char name[48];
		char value[256];
	} headers[HTTPD_MAX_HEADERS];
} httpd_response;

/* Called once per complete request (body read). Must fill resp. */
typedef void (*httpd_handler_fn)(void *arg, const httpd_request *req, httpd_response *resp);

/* Called after a response is queued, for metrics (may be NULL). */
typedef void (*httpd_observer_fn)(void *arg, const httpd_request *req, const httpd_response *resp,
    int64_t latency_us);

/* Called on an answer httpd makes by itself (413, 414, 431: a request over a
 * limit, refused before the handler sees it), before it is sent, so the
 * application adds the headers it puts on its own answers (the gateway's
 * CORS headers, without which a browser page could not read the error).
 * May be NULL. Same threading as the handler. */
typedef void (*httpd_decorate_fn)(void *arg, const httpd_request *req, httpd_response *resp);

typedef struct httpd_config {
	const char *name;                 /* for logs: "gateway", "svc-user admin" */
	const char *bind;                 /* "0.0.0.0" */
	int port;                         /* 0: an ephemeral port (see httpd_port) */
	int threads;                      /* <= 0: 2 */
	size_t max_body;                  /* 0: 1 MiB */
	size_t max_url;                   /* 0: 8 KiB (414 above) */
	size_t max_header_bytes;          /* 0: 16 KiB (431 above) */
	int max_json_depth;               /* copied into every request; <= 0: the parser's default */
	int connection_timeout_s;         /* idle connection timeout; <= 0: 30 */
	int max_connections;              /* <= 0: 1024 */
	int max_connections_per_ip;       /* <= 0: no cap per address */
	const char *trusted_proxies;      /* netaddr list; NULL or "": trust no X-Forwarded-For */
	bool log_requests;
	httpd_handler_fn handler;
	httpd_observer_fn observer;
	httpd_decorate_fn decorate;
	void *arg;
} httpd_config;

/* Binds and starts serving. Returns 0, or -1 (logged) when the address cannot
 * be bound or trusted_proxies is malformed. */
int httpd_start(httpd **out, const httpd_config *cfg);

/* The port actually bound. */
int httpd_port(const httpd *h);

/* Stops accepting, finishes the requests in progress (waiting at most 5 s
 * before closing the rest, and in any case until every deferred request has
 * called httpd_resume), frees h. No handler runs after it returns. */
void httpd_stop(httpd *h);

/* Answering later, from another thread (a handler that started an RPC that
 * does not wait): the handler calls httpd_defer and returns; the connection
 * is suspended (its thread serves other connections meanwhile). The answer
 * goes in the returned response, which starts as a copy of resp (route and
 * caller included; resp is then left empty and must not be used), and is
 * sent once httpd_resume is called: exactly once, from any thread. req and
 * the returned response stay valid until then. req must be the one httpd
 * passed to the handler, and httpd_defer is called on the handler's thread,
 * before it returns. httpd_stop waits for every deferred answer (the work
 * behind one must have a deadline). */
httpd_response *httpd_defer(const httpd_request *req, httpd_response *resp);
void httpd_resume(const httpd_request *req);

/* A request header (case-insensitive), NULL when absent; the first when the
 * request has several (see httpd_header_repeated). */
const char *httpd_header(const httpd_request *req, const char *name);

/* True when the request has more than one field named `name` (without
 * case). For the headers a handler acts on (Authorization,
 * Idempotency-Key), two fields mean two answers, and a proxy in front may
 * have acted on the other one: the gateway refuses them. */
bool httpd_header_repeated(const httpd_request *req, const char *name);

/* A query-string argument (decoded), NULL when absent; "" when given without
 * a value ("?status" as "?status="). */
const char *httpd_query(const httpd_request *req, const char *key);

/* The first query-string key given more than once ("?limit=1&limit=abc"),
 * NULL when none is: which of two values a reader takes is arbitrary, so
 * the gateway refuses the request instead of choosing. Every key is
 * compared (a request has at most HTTPD_MAX_QUERY_ARGS). */
const char *httpd_query_repeated(const httpd_request *req);

/* Bodies and lengths: httpd announces a body's length (Content-Length) on
 * every answer, but sends no body on a 304 or in answer to HEAD (RFC 9110
 * 6.4.1): answer those with the body the 200 to a GET would have had, so
 * that the length is true (RFC 9110 8.6 allows a 304 no other; libmicrohttpd
 * 0.9.75 cannot leave it out, and an empty body would claim 0). */

/* Sets status and a copy of the JSON text as body. */
void httpd_respond(httpd_response *resp, int status, const char *json, size_t len);

/* Sets status and takes ownership of a malloc'd JSON body. */
void httpd_respond_owned(httpd_response *resp, int status, char *json, size_t len);

/* The API's error envelope:
 * {"success":false,"error":message,"code":code,"request_id":id}. */
void httpd_respond_error(httpd_response *resp, const httpd_request *req, int status, const char *code,
    const char *message);

/* Drops what resp answered so far (body, status, headers, content type), so
 * that another answer replaces it entirely; route and caller are kept. */
void httpd_response_reset(httpd_response *resp);

/* Sets who asked, for the log line (a copy, cut at HTTPD_CALLER_MAX - 1 bytes). */
void httpd_set_caller(httpd_response *resp, const char *caller);

/* Adds a response header (ignored past HTTPD_MAX_HEADERS). */
void httpd_add_header(httpd_response *resp, const char *name, const char *value);

/* The length of the "scheme://authority" that starts an absolute-form
 * request target ("http://h:8080/x?y" -> 13, RFC 9112 3.2.2): for the
 * schemes http and https, in any case; 0 for any other target ("/x", "*",
 * "ftp://h/x"). What follows it is the path ("/x"), the query ("?y", the
 * path then being "/") or nothing. */
size_t httpd_absolute_prefix_len(const char *target);

/* True when s is a sane request id: 1..64 chars of [A-Za-z0-9._-]. */
bool httpd_request_id_valid(const char *s);

/* Writes a fresh random request id (32 hex chars) into dst (cap >= 33). */
void httpd_request_id_new(char *dst, size_t cap);

#endif
