/*
 * rpc: protobuf-c services over NNG request/reply sockets.
 *
 * Wire format: every request is a comanda.RpcRequest envelope (method name,
 * request id, timeout, caller, idempotency key, packed body) and every reply a
 * comanda.RpcReply (canonical Code, message, field details, packed body); see
 * proto/comanda/rpc.proto.
 *
 * Server: one REP socket, a pool of worker threads, each with its own NNG
 * context, so requests are served concurrently; a worker runs one handler at a
 * time and may hold per-worker resources (a database connection) made by
 * rpc_server_config.worker_init. Requests are dispatched by service and method
 * name through the ProtobufCServiceDescriptor; the typed handlers and their
 * trampolines are generated (gen/comanda/NAME.rpc.[ch], tools/stubgen.py).
 *
 * Client: one REQ socket that dials every replica of one service; NNG spreads
 * requests over the connected ones. Resends are disabled (NNG_OPT_REQ_RESENDTIME
 * is infinite), so a request is delivered at most once: if the connection to
 * the server drops while a call waits, the call fails with UNAVAILABLE instead
 * of being sent again. Retrying a mutating call is the caller's decision and is
 * made safe by idempotency keys, never by the transport. A URL whose host is a
 * name is looked up again every resolve_ms (RPC_RESOLVE_MS) and each of its
 * addresses gets its own connections (lib/rpc_resolve.h), so replicas added
 * behind a name start taking calls within that interval.
 *
 * All functions return a Code from comanda.Code (COMANDA__CODE__OK == 0) unless
 * stated otherwise.
 */
#ifndef COMANDA_RPC_H
#define COMANDA_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "comanda/rpc.pb-c.h"
#include "rpc_resolve.h"

#define RPC_MAX_DETAILS 16
#define RPC_MAX_CONNECTIONS 16   /* per replica: rpc_client_config.connections, RPC_CONNECTIONS */
#define RPC_MESSAGE_MAX 256
/* The largest frame either side accepts (requests and replies, envelope
 * included). A handler whose reply would be larger answers INTERNAL "reply
 * too large" instead; a handler that can produce one (a list) keeps its
 * reply under a budget of its own below this. */
#define RPC_FRAME_MAX (4u << 20)

/* A canonical status: code, a message safe for clients, field details. */
typedef struct rpc_status {
	int code;
	char message[RPC_MESSAGE_MAX];
	char reason[48];             /* "" or a cause the gateway maps specially (see rpc.proto) */
	size_t n_details;
	struct {
		char field[64];
		char issue[160];
	} details[RPC_MAX_DETAILS];
} rpc_status;

/* The canonical name of a Code ("NOT_FOUND"); "UNKNOWN" for unknown values. */
const char *rpc_code_name(int code);

#define RPC_TASK_THREADS_MIN 2   /* NNG creates at least 2, so that callbacks cannot deadlock */
#define RPC_TASK_THREADS_MAX 64

/* Sets how many task threads NNG runs in this process: the threads that
 * complete every message sent and received and run the callbacks of
 * rpc_client_call_async. NNG's own default is two per CPU; each completion
 * wakes one of them, so fewer threads mean fewer hand-offs between threads
 * per call (docs/PERFORMANCE.md, item 11). task_threads is
 * clamped to [RPC_TASK_THREADS_MIN, RPC_TASK_THREADS_MAX]; 0 keeps NNG's
 * default.
 *
 * Takes effect only when called before the process's first use of NNG (any
 * other rpc_* call): call it from main, before any thread is started. Later
 * calls do nothing. Not thread-safe. */
void rpc_runtime_init(int task_threads);

/* rpc_runtime_init with RPC_TASK_THREADS from lib/cfg.def (a malformed or
 * out-of-range value logs and exits with status 2). In lib/rpc_cfg.c. */
void rpc_runtime_init_from_cfg(void);

/* ------------------------------------------------------------------------ */
/* Client                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct rpc_client rpc_client;

typedef struct rpc_client_config {
	/* Comma-separated NNG URLs of the replicas, "tcp://127.0.0.1:6001,...". */
	const char *urls;
	/* Timeout of a call whose rpc_call.timeout_ms is 0. */
	int default_timeout_ms;
	/* TCP connections kept to each replica (0: 1; at most RPC_MAX_CONNECTIONS). NNG writes
	 * one message at a time per connection, so callers that run many calls
	 * at once (the gateway) want several; RPC_CONNECTIONS in lib/cfg.def. */
	int connections;
	/* How often (ms) a URL whose host is a name ("tcp://svc-user:6001") is
	 * looked up again: every address it gives gets `connections` connections
	 * of its own; an address that appears is dialled, one that is gone is
	 * closed (its calls in flight fail as if that replica had died); a
	 * lookup that fails changes nothing. Until a lookup first succeeds the
	 * URL is dialled as it is (NNG resolves it at each connect, to one
	 * address). 0: never looked up, as NNG does. IP literals and ipc://
	 * URLs are never looked up. RPC_RESOLVE_MS in lib/cfg.def. */
	int resolve_ms;
	/* The lookup (NULL: rpc_resolve_getaddrinfo); tests give their own. */
	rpc_resolve_fn resolve;
	/* After this many calls in a row got no answer before their deadline
	 * (a service that hangs), calls fail at once with UNAVAILABLE for
	 * breaker_open_ms, then one probes (lib/rpc_breaker.h). 0: never (the
	 * default of a zeroed config); RPC_BREAKER_TIMEOUTS and
	 * RPC_BREAKER_OPEN_MS in lib/cfg.def. */
	int breaker_timeouts;
	int breaker_open_ms;
} rpc_client_config;

/* Opens a client and starts dialling every URL (every address of a name, see
 * resolve_ms) in the background; a replica
 * that is down is redialled (every 20 ms at first, backing off to 500 ms) so it
 * is used again soon after it comes back. Returns once every connection is
 * up, or after 250 ms at most when some are not (a replica down, or one that
 * accepts connections and never answers: its dialers go on trying). Fails
 * only on a malformed URL or when out of memory. Thread-safe after return. */
int rpc_client_open(rpc_client **out, const rpc_client_config *cfg);

/* RPC_TIMEOUT_MS is read within these bounds by every program. */
#define RPC_TIMEOUT_MIN_MS 10
#define RPC_TIMEOUT_MAX_MS 60000

/* Fills *out from lib/cfg.def the one way every caller of services reads it:
 * urls from variable urls_var (NULL: out->urls NULL, for a caller that sets
 * its own), default_timeout_ms from RPC_TIMEOUT_MS, connections from
 * RPC_CONNECTIONS, resolve_ms from RPC_RESOLVE_MS, the breaker from
 * RPC_BREAKER_TIMEOUTS and RPC_BREAKER_OPEN_MS. A malformed or out-of-range value logs and exits with
 * status 2 (cfg_int). Thread-safe (cfg is read-only). In lib/rpc_cfg.c. */
void rpc_client_config_from_cfg(rpc_client_config *out, const char *urls_var);

/* Closes the client. No call may be started afterwards, nor a waiting call
 * be in progress; calls from rpc_client_call_async still out end with
 * UNAVAILABLE (their done runs) before it returns. */
void rpc_client_close(rpc_client *c);

/* Number of replicas with at least one connection up: URLs, and each address
 * of a URL that is looked up. Thread-safe. */
int rpc_client_connected(const rpc_client *c);

/* Waits until at least one replica is connected or timeout_ms passes.
 * Returns true when connected. */
bool rpc_client_wait_connected(rpc_client *c, int timeout_ms);

/* One call: options in, status and reply out. Initialise with rpc_call_init,
 * release with rpc_call_release (which frees the reply). One thread at a time. */
typedef struct rpc_call {
	/* in */
	int timeout_ms;              /* 0: the client's default */
	const char *request_id;      /* NULL: none */
	int64_t caller_id;
	int caller_role;             /* COMANDA__ROLE__* */
	const char *idempotency_key; /* NULL: none */
	const char *client;          /* NULL: none; RpcRequest.client */
	/* out */
	rpc_status status;
	uint64_t latency_us;
	/* owned: the decoded reply lives here */
	arena mem;
} rpc_call;

void rpc_call_init(rpc_call *call);
void rpc_call_release(rpc_call *call);

/* Sends `request` as method `method_index` of service `svc` and waits for the
 * reply. On OK, *reply points to the decoded reply (in call->mem). Transport
 * failures become UNAVAILABLE (no replica connected, connection lost) or
 * DEADLINE_EXCEEDED (no answer in time). Safe from many threads at once, each
 * with its own rpc_call. Use the generated typed stubs rather than this. */
int rpc_client_call(rpc_client *c, rpc_call *call, const ProtobufCServiceDescriptor *svc,
    unsigned method_index, const ProtobufCMessage *request, ProtobufCMessage **reply);

/* One method of one service; the generated NAME_METHOD_method constants
 * (gen/comanda/NAME.rpc.h) name each, with the name the envelope carries
 * written out so that a call need not format it. */
typedef struct rpc_method {
	const ProtobufCServiceDescriptor *service;
	unsigned index;
	const char *name;            /* "comanda.UserService/GetUser" */
} rpc_method;

/* Called once when a call under way from rpc_client_call_async ends, on one
 * of NNG's task threads (possibly before rpc_client_call_async returns).
 * call->status says how it went; reply is the decoded reply on OK (in
 * call->mem), else NULL. It may release and free the call. It runs on a
 * thread that NNG needs for other completions, so it must not block (no
 * waiting RPC, no database). */
typedef void (*rpc_done_fn)(void *arg, rpc_call *call, ProtobufCMessage *reply);

/* rpc_client_call without waiting: packs and sends the request (request and
 * the call's borrowed strings are not used after it returns), then returns.
 * The request must be of the method's input type (else INTERNAL).
 * Returns OK when the call is under way: done runs later, exactly once.
 * Otherwise returns the failure's code, also in call->status, and done
 * never runs. call and *reply must stay valid until done runs. */
int rpc_client_call_async(rpc_client *c, rpc_call *call, const rpc_method *method,
    const ProtobufCMessage *request, ProtobufCMessage **reply, rpc_done_fn done, void *arg);

/* A ProtobufCService for `svc` whose invoke() sends over this client with the
 * default timeout and no caller; the closure gets NULL on any failure. The
 * service is owned by the client and freed with it. For code that wants the
 * plain protoc-c client functions (comanda__user_service__get_user(...)). */
ProtobufCService *rpc_client_service(rpc_client *c, const ProtobufCServiceDescriptor *svc);

/* ------------------------------------------------------------------------ */
/* Server                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct rpc_server rpc_server;
typedef struct rpc_ctx rpc_ctx;

/* What the generated trampolines look like: impl is the *_impl struct given
 * to rpc_server_add, request and reply are of the method's types. */
typedef int (*rpc_handler_fn)(rpc_ctx *ctx, const void *impl, const ProtobufCMessage *request,
    ProtobufCMessage *reply);

/* Generated per service: its descriptor and one trampoline per method. */
typedef struct rpc_service_binding {
	const ProtobufCServiceDescriptor *descriptor;
	const rpc_handler_fn *handlers;
	unsigned n_handlers;
} rpc_service_binding;

typedef struct rpc_server_config {
	const char *url;       /* "tcp://0.0.0.0:6001" */
	const char *extra_url; /* also listen here (NULL: no): "inproc://svc-user" lets the
	                        * process call itself without the network */
	int workers;           /* concurrent requests; <= 0: 4 */
	const char *name;      /* for logs and metrics: "user-service" */
	/* Called once on each worker thread before it serves (may be NULL); its
	 * result is what rpc_ctx_worker() returns. A NULL result is allowed. */
	void *(*worker_init)(void *arg, int index);
	/* Called on the worker thread when it stops (may be NULL). */
	void (*worker_fini)(void *arg, void *worker);
	void *worker_arg;
	/* Request log: one JSON line per request when true. */
	bool log_requests;
} rpc_server_config;

/* Creates a server; nothing listens yet. */
int rpc_server_open(rpc_server **out, const rpc_server_config *cfg);

/* Serves `binding` with the handlers in impl (a generated *_impl struct, which
 * must outlive the server). Call before rpc_server_start. */
int rpc_server_add(rpc_server *s, const rpc_service_binding *binding, const void *impl);

/* Listens and starts the workers. Returns UNAVAILABLE when the address cannot
 * be bound. */
int rpc_server_start(rpc_server *s);

/* Stops taking new requests, lets every worker finish the request it is
 * serving and send its reply, then closes the socket and frees the server. */
void rpc_server_close(rpc_server *s);

/* ---- inside a handler (the ctx belongs to the calling worker) ---- */

const char *rpc_ctx_method(const rpc_ctx *ctx);        /* "comanda.UserService/GetUser" */
const char *rpc_ctx_request_id(const rpc_ctx *ctx);    /* "" when none */
int64_t rpc_ctx_caller_id(const rpc_ctx *ctx);
int rpc_ctx_caller_role(const rpc_ctx *ctx);
const char *rpc_ctx_idempotency_key(const rpc_ctx *ctx); /* "" when none */
const char *rpc_ctx_client(const rpc_ctx *ctx);          /* RpcRequest.client; "" when none */
/* The caller is an admin (RpcRequest's role). */
bool rpc_ctx_is_admin(const rpc_ctx *ctx);
/* The caller is another service (its events, sweeps and internal calls). */
bool rpc_ctx_is_service(const rpc_ctx *ctx);
/* The caller is a person who signed in: a customer or an admin, with an id
 * (not a service, not anonymous). */
bool rpc_ctx_signed_in(const rpc_ctx *ctx);
/* Milliseconds left before the caller's deadline (<= 0: passed). */
int64_t rpc_ctx_remaining_ms(const rpc_ctx *ctx);
/* The caller's deadline itself (clock_mono_us): the same value for the
 * whole request. */
int64_t rpc_ctx_deadline_us(const rpc_ctx *ctx);
/* The worker's resource from worker_init, and the worker's index. */
void *rpc_ctx_worker(const rpc_ctx *ctx);
int rpc_ctx_worker_index(const rpc_ctx *ctx);
/* Memory released after the reply is sent: use it for everything in *reply. */
arena *rpc_ctx_arena(rpc_ctx *ctx);
void *rpc_ctx_alloc(rpc_ctx *ctx, size_t n);
char *rpc_ctx_strdup(rpc_ctx *ctx, const char *s);

/* Sets the reply status (message printf-style) and returns code, so a handler
 * can `return rpc_ctx_error(ctx, COMANDA__CODE__NOT_FOUND, "User not found");` */
int rpc_ctx_error(rpc_ctx *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Adds a field detail to the reply status (kept when the code is not OK). */
void rpc_ctx_detail(rpc_ctx *ctx, const char *field, const char *issue);

/* The one field problem of a request: sets INVALID_ARGUMENT with the message
 * "<field> <issue>" and the detail (field, issue), and returns the code, so
 * a handler can `return rpc_ctx_invalid(ctx, "email", "is required");`. */
int rpc_ctx_invalid(rpc_ctx *ctx, const char *field, const char *issue);

/* Sets the reply's machine-readable reason (kept when the code is not OK). */
void rpc_ctx_reason(rpc_ctx *ctx, const char *reason);

/* Copies a status into the reply: pass a downstream failure through, or put
 * back one set aside (rpc_ctx_status) before trying something else. */
int rpc_ctx_forward(rpc_ctx *ctx, const rpc_status *st);

/* The reply status as the handler has set it so far. */
const rpc_status *rpc_ctx_status(const rpc_ctx *ctx);

/* Forgets the status set so far (code, message, details, reason): a refusal
 * the handler then recovered from is not its answer. */
void rpc_ctx_clear(rpc_ctx *ctx);

#endif
