/*
 * rpc: the RPC runtime (see rpc.h for the contract).
 *
 * One request = one RpcRequest envelope in one NNG message; one reply = one
 * RpcReply. Everything decoded for a request lives in an arena: the server's
 * per-worker arena (reset after each reply) or the client's rpc_call.mem.
 */
#include "rpc.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bgthread.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "rpc_breaker.h"
#include "rpc_resolve.h"

#define RPC_METHOD_MAX 128
#define RPC_MAX_SERVICES 8
#define RPC_SERVER_DEFAULT_TIMEOUT_MS 30000

static const char *const rpc_code_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
	"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};
#define RPC_N_CODES ((int)(sizeof(rpc_code_names) / sizeof(rpc_code_names[0])))

const char *rpc_code_name(int code)
{
	return (code >= 0 && code < RPC_N_CODES) ? rpc_code_names[code] : "UNKNOWN";
}

void rpc_runtime_init(int task_threads)
{
	if (task_threads <= 0)
		return;
	if (task_threads < RPC_TASK_THREADS_MIN)
		task_threads = RPC_TASK_THREADS_MIN;
	if (task_threads > RPC_TASK_THREADS_MAX)
		task_threads = RPC_TASK_THREADS_MAX;
	/* NNG reads these when it initialises itself, on the first socket or
	 * aio; after that it ignores them (third_party/README.md: the call is
	 * NNG's, outside its stability promise, pinned by the vendored version). */
	nng_init_set_parameter(NNG_INIT_MAX_TASK_THREADS, (uint64_t)task_threads);
	nng_init_set_parameter(NNG_INIT_NUM_TASK_THREADS, (uint64_t)task_threads);
}

static void rpc_status_set(rpc_status *st, int code, const char *msg)
{
	st->code = code;
	snprintf(st->message, sizeof(st->message), "%s", msg);
}

static void rpc_status_detail(rpc_status *st, const char *field, const char *issue)
{
	if (st->n_details >= RPC_MAX_DETAILS)
		return;
	snprintf(st->details[st->n_details].field, sizeof(st->details[0].field), "%s", field);
	snprintf(st->details[st->n_details].issue, sizeof(st->details[0].issue), "%s", issue);
	st->n_details++;
}

/* "comanda.UserService/GetUser" into dst. */
static void rpc_method_name(char *dst, size_t cap, const ProtobufCServiceDescriptor *svc, unsigned idx)
{
	snprintf(dst, cap, "%s/%s", svc->name, svc->methods[idx].name);
}

enum { RPC_SIDE_CLIENT, RPC_SIDE_SERVER };

/* The two series of one (side, method, code), kept per thread
 * (metrics_pair_slot): keyed by the method's descriptor (NULL: a method the
 * server does not serve) and side * 64 + code. */
#define RPC_SERIES_CACHE 64  /* per thread; a gateway thread uses ~20 (method, code) pairs */
static _Thread_local metrics_pair rpc_series_cache[RPC_SERIES_CACHE];

static metrics_pair *rpc_series_find(int side, const ProtobufCMethodDescriptor *m, const char *method, int code)
{
	metrics_pair *e;
	if (metrics_pair_slot(rpc_series_cache, RPC_SERIES_CACHE, m, NULL, side * 64 + (code & 63), &e))
		return e;
	const char *side_name = side == RPC_SIDE_CLIENT ? "client" : "server";
	char name[96], labels[RPC_METHOD_MAX + 64];
	snprintf(labels, sizeof(labels), "method=\"%s\",code=\"%s\"", method, rpc_code_name(code));
	snprintf(name, sizeof(name), "comanda_rpc_%s_requests_total", side_name);
	e->count = metrics_counter(name, "RPCs by method and status code", labels);
	/* by code too: a DEADLINE_EXCEEDED's latency is the timeout, and mixed
	 * into the OK ones it would hide how fast the service really answers */
	snprintf(name, sizeof(name), "comanda_rpc_%s_latency_seconds", side_name);
	e->latency = metrics_histogram(name, "RPC latency by method and status code", labels);
	return e;
}

/* Counts one call of method m (named `method`; m NULL: "unknown") and its latency. */
static void rpc_observe(int side, const ProtobufCMethodDescriptor *m, const char *method, int code,
    uint64_t latency_us)
{
	metrics_pair *e = rpc_series_find(side, m, method, code);
	metrics_add(e->count, 1);
	metrics_observe_us(e->latency, latency_us);
}

/* ======================================================================== */
/* Client                                                                   */
/* ======================================================================== */

typedef struct rpc_pb_service {
	ProtobufCService base;
	rpc_client *client;
	struct rpc_pb_service *next;
} rpc_pb_service;

/* A reusable (context, aio) pair: opening them costs allocations, so idle
 * ones wait on a free list. */
typedef struct rpc_slot {
	nng_ctx ctx;
	nng_aio *aio;
	struct rpc_slot *next;
} rpc_slot;

/* One call in flight without a waiting thread: a slot whose aio callback
 * (on NNG's task threads) drives send -> receive -> done. Idle ones wait on
 * their own free list. */
typedef struct rpc_async {
	rpc_slot slot;                 /* first: a slot's aio callback gets the slot */
	struct rpc_client *client;
	bool receiving;
	rpc_call *call;
	const ProtobufCMethodDescriptor *m;
	ProtobufCMessage **reply;
	rpc_done_fn done;
	void *arg;
	int64_t t0, deadline_us;
	const char *method;            /* the rpc_method's name */
} rpc_async;

#define RPC_MAX_REPLICAS 16
/* rpc_client_open waits at most this long for its connections. */
#define RPC_OPEN_WAIT_MS 250

/* One address of a replica entry and its dialers: NNG writes one message at
 * a time on a connection (the next waits for the previous write to complete
 * on NNG's task threads), so concurrent callers get several connections per
 * address, and the socket spreads requests over whichever is free. */
typedef struct rpc_endpoint {
	struct rpc_endpoint *next;
	char url[RPC_URL_MAX];
	nng_dialer dialers[RPC_MAX_CONNECTIONS];
	int n_dialers;
	atomic_int pipes;              /* connections up */
} rpc_endpoint;

/* One entry of the configured URL list. An entry whose host is a name is
 * looked up every resolve_ms and gets an endpoint per address (`resolved`);
 * until a lookup first succeeds its one endpoint is the URL itself, which
 * NNG resolves at each connect. */
typedef struct rpc_replica {
	char host[RPC_URL_MAX], port[8];
	bool named;                    /* host is a name, re-resolved */
	bool resolved;                 /* the endpoints are its addresses */
	rpc_endpoint *endpoints;       /* guarded by rpc_client.dial_lock */
} rpc_replica;

struct rpc_client {
	nng_socket sock;
	int default_timeout_ms;
	int conns;                     /* connections per endpoint */
	atomic_int pipes;              /* connections up, all replicas */
	int n_replicas;
	rpc_replica replicas[RPC_MAX_REPLICAS];
	pthread_mutex_t dial_lock;     /* guards every replica's endpoints list, and up */
	uint32_t *up;                  /* ids of the connections counted in pipes */
	size_t n_up, cap_up;
	int resolve_ms;
	rpc_resolve_fn resolve;
	bgthread *resolver;            /* NULL when no entry is a name, or resolve_ms is 0 */
	pthread_mutex_t lock;          /* guards free_slots, free_async and services */
	rpc_slot *free_slots;
	rpc_slot *free_async;          /* idle slots of rpc_client_call_async (rpc_async) */
	atomic_int async_calls;        /* async calls whose callback has not finished */
	/* Held by an async call's callback while it posts its receive or
	 * closes its context, and by rpc_client_close to set closing before it
	 * closes the socket: NNG 1.12 panics (a destroyed mutex) or reads freed
	 * memory when nng_ctx_recv or nng_ctx_close drops the last hold of a
	 * context whose socket nng_close has finished meanwhile. */
	pthread_mutex_t close_lock;
	bool closing;
	rpc_pb_service *services;
	rpc_breaker breaker;           /* fails calls fast while the service does not answer */
	char label[RPC_URL_MAX];       /* its first URL, for log lines */
};

static void rpc_slot_free_list(rpc_slot *s);

/* Notes connection `id` as counted (up) or no longer (!up), under
 * dial_lock; true when that changed the set. NNG reports the removal of
 * every connection it began to add, also of one that never became usable
 * (a peer of another protocol, a dialer closed meanwhile): only one that
 * was added is subtracted, or the counts would drift below zero. Out of
 * memory, a connection goes uncounted (calls then fail fast). */
static bool rpc_client_note_up(rpc_client *c, uint32_t id, bool up)
{
	for (size_t i = 0; i < c->n_up; i++)
		if (c->up[i] == id) {
			if (!up)
				c->up[i] = c->up[--c->n_up];
			return !up;
		}
	if (!up)
		return false;
	if (c->n_up == c->cap_up) {
		size_t cap = c->cap_up ? c->cap_up * 2 : 16;
		uint32_t *grown = realloc(c->up, cap * sizeof(*grown));
		if (grown == NULL)
			return false;
		c->up = grown;
		c->cap_up = cap;
	}
	c->up[c->n_up++] = id;
	return true;
}

/* Runs on NNG's threads. An endpoint is linked (under dial_lock) before its
 * dialers start and unlinked before they close, so a pipe of a listed
 * endpoint is always counted there. */
static void rpc_client_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	rpc_client *c = arg;
	if (ev != NNG_PIPE_EV_ADD_POST && ev != NNG_PIPE_EV_REM_POST)
		return;
	int delta = ev == NNG_PIPE_EV_ADD_POST ? 1 : -1;
	int id = nng_dialer_id(nng_pipe_dialer(p));
	pthread_mutex_lock(&c->dial_lock);
	if (!rpc_client_note_up(c, (uint32_t)nng_pipe_id(p), delta > 0)) {
		pthread_mutex_unlock(&c->dial_lock);
		return;
	}
	atomic_fetch_add(&c->pipes, delta);
	for (int r = 0; r < c->n_replicas; r++)
		for (rpc_endpoint *e = c->replicas[r].endpoints; e != NULL; e = e->next)
			for (int i = 0; i < e->n_dialers; i++)
				if (nng_dialer_id(e->dialers[i]) == id) {
					atomic_fetch_add(&e->pipes, delta);
					goto done;
				}
done:
	pthread_mutex_unlock(&c->dial_lock);
}

/* Closes e's dialers (and so its connections) and frees it; e is unlinked. */
static void rpc_endpoint_close(rpc_endpoint *e)
{
	for (int i = 0; i < e->n_dialers; i++)
		nng_dialer_close(e->dialers[i]);
	free(e);
}

/* An endpoint for url with c->conns dialers, created and not started. */
static rpc_endpoint *rpc_endpoint_new(rpc_client *c, const char *url)
{
	rpc_endpoint *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	snprintf(e->url, sizeof(e->url), "%s", url);
	atomic_init(&e->pipes, 0);
	for (int i = 0; i < c->conns; i++) {
		int rv = nng_dialer_create(&e->dialers[i], c->sock, url);
		if (rv != 0) {
			log_printf(LOG_ERROR, "rpc: cannot dial %s: %s", url, nng_strerror(rv));
			rpc_endpoint_close(e);
			return NULL;
		}
		e->n_dialers++;
	}
	return e;
}

/* Starts e's dialers without waiting: they connect in the background and
 * keep redialling. (A blocking start waits for NNG's handshake, up to its
 * 10 s, for each dialer of a replica that accepts connections and never
 * answers: rpc_client_open bounds its own wait instead.) */
static int rpc_endpoint_start(rpc_endpoint *e)
{
	for (int i = 0; i < e->n_dialers; i++) {
		int rv = nng_dialer_start(e->dialers[i], NNG_FLAG_NONBLOCK);
		if (rv != 0) {
			log_printf(LOG_ERROR, "rpc: cannot dial %s: %s", e->url, nng_strerror(rv));
			return rv;
		}
	}
	return 0;
}

/* Links a new endpoint for url to r. 0, or an NNG error. */
static int rpc_replica_link(rpc_client *c, rpc_replica *r, const char *url, rpc_endpoint **out)
{
	rpc_endpoint *e = rpc_endpoint_new(c, url);
	if (e == NULL)
		return NNG_ENOMEM;
	pthread_mutex_lock(&c->dial_lock);
	e->next = r->endpoints;
	r->endpoints = e;
	pthread_mutex_unlock(&c->dial_lock);
	*out = e;
	return 0;
}

/* Makes r's endpoints match addrs: dials addresses that appeared, closes
 * those that went (their calls in flight fail as if the replica had died).
 * On the resolver thread, or in open. */
static void rpc_replica_update(rpc_client *c, rpc_replica *r, const rpc_addrs *addrs)
{
	rpc_endpoint *gone = NULL;
	int added = 0, removed = 0;
	pthread_mutex_lock(&c->dial_lock);
	for (rpc_endpoint **pe = &r->endpoints; *pe != NULL;) {
		rpc_endpoint *e = *pe;
		if (r->resolved && rpc_addrs_has(addrs, e->url)) {
			pe = &e->next;
			continue;
		}
		*pe = e->next;
		e->next = gone;
		gone = e;
		removed++;
	}
	bool was_resolved = r->resolved;
	r->resolved = true;
	pthread_mutex_unlock(&c->dial_lock);
	for (int i = 0; i < addrs->n; i++) {
		bool have = false;
		pthread_mutex_lock(&c->dial_lock);
		for (rpc_endpoint *e = r->endpoints; e != NULL && !have; e = e->next)
			have = strcmp(e->url, addrs->urls[i]) == 0;
		pthread_mutex_unlock(&c->dial_lock);
		rpc_endpoint *e;
		if (have || rpc_replica_link(c, r, addrs->urls[i], &e) != 0)
			continue;
		rpc_endpoint_start(e);
		added++;
	}
	/* The new connections are started before the old ones close. */
	while (gone != NULL) {
		rpc_endpoint *next = gone->next;
		rpc_endpoint_close(gone);
		gone = next;
	}
	if (added > 0 || removed > 0)
		log_printf(LOG_INFO, "rpc: %s:%s resolves to %d address%s (%d new, %d gone)%s", r->host, r->port,
		    addrs->n, addrs->n == 1 ? "" : "es", added, was_resolved ? removed : 0,
		    was_resolved ? "" : "; dialling each");
}

/* The resolver thread: looks every named entry up again every resolve_ms.
 * A lookup that fails keeps the endpoints there are: a resolver outage must
 * not drop connections that work. */
static void rpc_client_resolve_loop(bgthread *self, void *arg)
{
	rpc_client *c = arg;
	rpc_addrs *addrs = malloc(sizeof(*addrs));
	if (addrs == NULL)
		return;
	while (bgthread_wait(self, c->resolve_ms)) {
		for (int r = 0; r < c->n_replicas; r++) {
			rpc_replica *rep = &c->replicas[r];
			if (rep->named && c->resolve(rep->host, rep->port, addrs) == 0)
				rpc_replica_update(c, rep, addrs);
		}
	}
	free(addrs);
}

/* Adds the replica entry url: its addresses when it names a host that
 * resolves now (and resolve_ms > 0), else url itself. */
static int rpc_client_add_replica(rpc_client *c, const char *url, rpc_addrs *scratch)
{
	if (c->n_replicas >= RPC_MAX_REPLICAS) {
		log_printf(LOG_ERROR, "rpc: more than %d replicas", RPC_MAX_REPLICAS);
		return NNG_EINVAL;
	}
	rpc_replica *r = &c->replicas[c->n_replicas];
	r->named = c->resolve_ms > 0 && rpc_url_named_host(url, r->host, sizeof(r->host), r->port, sizeof(r->port));
	/* the replicas started before may report connections meanwhile */
	pthread_mutex_lock(&c->dial_lock);
	c->n_replicas++;
	pthread_mutex_unlock(&c->dial_lock);
	if (r->named && c->resolve(r->host, r->port, scratch) == 0) {
		rpc_replica_update(c, r, scratch);
		return 0;
	}
	rpc_endpoint *e;
	int rv = rpc_replica_link(c, r, url, &e);
	return rv != 0 ? rv : rpc_endpoint_start(e);
}

/* Whether every endpoint has all its connections. */
static bool rpc_client_all_up(rpc_client *c)
{
	bool all = true;
	pthread_mutex_lock(&c->dial_lock);
	for (int r = 0; r < c->n_replicas && all; r++)
		for (rpc_endpoint *e = c->replicas[r].endpoints; e != NULL && all; e = e->next)
			all = atomic_load(&e->pipes) >= e->n_dialers;
	pthread_mutex_unlock(&c->dial_lock);
	return all;
}

int rpc_client_open(rpc_client **out, const rpc_client_config *cfg)
{
	*out = NULL;
	rpc_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return COMANDA__CODE__INTERNAL;
	c->default_timeout_ms = cfg->default_timeout_ms > 0 ? cfg->default_timeout_ms : 2000;
	c->conns = cfg->connections > 0 ? cfg->connections : 1;
	if (c->conns > RPC_MAX_CONNECTIONS)
		c->conns = RPC_MAX_CONNECTIONS;
	c->resolve_ms = cfg->resolve_ms > 0 ? cfg->resolve_ms : 0;
	c->resolve = cfg->resolve != NULL ? cfg->resolve : rpc_resolve_getaddrinfo;
	rpc_breaker_init(&c->breaker, cfg->breaker_timeouts, cfg->breaker_open_ms);
	snprintf(c->label, sizeof(c->label), "%.*s", (int)strcspn(cfg->urls ? cfg->urls : "", ","),
	    cfg->urls ? cfg->urls : "");
	atomic_init(&c->pipes, 0);
	atomic_init(&c->async_calls, 0);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->dial_lock, NULL);
	pthread_mutex_init(&c->close_lock, NULL);
	int rv = nng_req0_open(&c->sock);
	if (rv != 0) {
		pthread_mutex_destroy(&c->dial_lock);
		pthread_mutex_destroy(&c->lock);
		pthread_mutex_destroy(&c->close_lock);
		free(c);
		return COMANDA__CODE__INTERNAL;
	}
	/* At most once: never let NNG resend a request (see rpc.h). */
	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 20);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 500);
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, RPC_FRAME_MAX);
	nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, rpc_client_pipe_event, c);
	nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, rpc_client_pipe_event, c);

	/* Split the comma-separated list without modifying cfg->urls. */
	rpc_addrs *scratch = malloc(sizeof(*scratch));
	const char *p = cfg->urls ? cfg->urls : "";
	bool named = false;
	while (scratch != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char url[RPC_URL_MAX];
		if (n >= sizeof(url)) {
			/* too long to keep: malformed (skipped, a replica would go undialled without a word) */
			log_printf(LOG_ERROR, "rpc: cannot dial %.64s...: longer than %zu bytes", p, sizeof(url) - 1);
			free(scratch);
			rpc_client_close(c);
			return COMANDA__CODE__INVALID_ARGUMENT;
		}
		if (n > 0) {
			memcpy(url, p, n);
			url[n] = '\0';
			if (rpc_client_add_replica(c, url, scratch) != 0) {
				free(scratch);
				rpc_client_close(c);
				return COMANDA__CODE__INVALID_ARGUMENT;
			}
			named = named || c->replicas[c->n_replicas - 1].named;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	bool ok = scratch != NULL;
	free(scratch);
	if (!ok || c->n_replicas == 0) {
		rpc_client_close(c);
		return ok ? COMANDA__CODE__INVALID_ARGUMENT : COMANDA__CODE__INTERNAL;
	}
	if (named && (c->resolver = bgthread_start("rpc-resolve", rpc_client_resolve_loop, c)) == NULL) {
		rpc_client_close(c);
		return COMANDA__CODE__INTERNAL;
	}
	/* A replica that is up is connected in a few milliseconds, so the first
	 * call finds it; one that is down or hung is not waited for. */
	int64_t until = clock_mono_us() + (int64_t)RPC_OPEN_WAIT_MS * 1000;
	while (!rpc_client_all_up(c) && clock_mono_us() < until)
		clock_sleep_ms(2);
	*out = c;
	return COMANDA__CODE__OK;
}

void rpc_client_close(rpc_client *c)
{
	if (c == NULL)
		return;
	bgthread_stop(c->resolver);
	pthread_mutex_lock(&c->close_lock);
	c->closing = true;
	pthread_mutex_unlock(&c->close_lock);
	nng_close(c->sock);
	/* closing fails the async calls still out; their callbacks use c */
	while (atomic_load(&c->async_calls) > 0)
		clock_sleep_ms(1);
	for (int r = 0; r < c->n_replicas; r++)
		for (rpc_endpoint *e = c->replicas[r].endpoints; e != NULL;) {
			rpc_endpoint *next = e->next;
			free(e);  /* its dialers closed with the socket */
			e = next;
		}
	rpc_slot_free_list(c->free_slots);
	rpc_slot_free_list(c->free_async);
	for (rpc_pb_service *s = c->services; s != NULL;) {
		rpc_pb_service *next = s->next;
		free(s);
		s = next;
	}
	free(c->up);
	pthread_mutex_destroy(&c->dial_lock);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->close_lock);
	free(c);
}

int rpc_client_connected(const rpc_client *c)
{
	rpc_client *mc = (rpc_client *)c;
	int n = 0;
	pthread_mutex_lock(&mc->dial_lock);
	for (int r = 0; r < mc->n_replicas; r++)
		for (rpc_endpoint *e = mc->replicas[r].endpoints; e != NULL; e = e->next)
			if (atomic_load(&e->pipes) > 0)
				n++;
	pthread_mutex_unlock(&mc->dial_lock);
	return n;
}

bool rpc_client_wait_connected(rpc_client *c, int timeout_ms)
{
	int64_t until = clock_mono_us() + (int64_t)timeout_ms * 1000;
	while (rpc_client_connected(c) == 0) {
		if (clock_mono_us() >= until)
			return false;
		clock_sleep_ms(5);
	}
	return true;
}

void rpc_call_init(rpc_call *call)
{
	memset(call, 0, offsetof(rpc_call, mem));
	arena_init(&call->mem);
}

void rpc_call_release(rpc_call *call)
{
	arena_reset(&call->mem);
}

/* Pops an idle slot from *list, or makes one of size bytes (an rpc_slot
 * first) whose aio calls cb with the slot (cb NULL: an aio to wait on). */
static rpc_slot *rpc_slot_get(rpc_client *c, rpc_slot **list, size_t size, void (*cb)(void *))
{
	pthread_mutex_lock(&c->lock);
	rpc_slot *s = *list;
	if (s != NULL)
		*list = s->next;
	pthread_mutex_unlock(&c->lock);
	if (s != NULL)
		return s;
	s = calloc(1, size);
	if (s == NULL)
		return NULL;
	if (nng_aio_alloc(&s->aio, cb, s) != 0) {
		free(s);
		return NULL;
	}
	if (nng_ctx_open(&s->ctx, c->sock) != 0) {
		nng_aio_free(s->aio);
		free(s);
		return NULL;
	}
	return s;
}

/* A slot whose call failed mid-way is discarded, not reused: its context may
 * still hold state of the abandoned request. Its aio is reaped (freed later,
 * on NNG's reaper) rather than freed: an async slot is put back from inside
 * its own aio callback, where nng_aio_free would wait for itself. */
static void rpc_slot_put(rpc_client *c, rpc_slot **list, rpc_slot *s, bool reusable)
{
	if (!reusable) {
		/* Once rpc_client_close has begun, nng_close closes every context
		 * itself and may already have freed the socket, which a late
		 * nng_ctx_close would then touch (a use after free inside NNG,
		 * seen from an async call failed by the close). */
		pthread_mutex_lock(&c->close_lock);
		if (!c->closing)
			nng_ctx_close(s->ctx);
		pthread_mutex_unlock(&c->close_lock);
		nng_aio_reap(s->aio);
		free(s);
		return;
	}
	pthread_mutex_lock(&c->lock);
	s->next = *list;
	*list = s;
	pthread_mutex_unlock(&c->lock);
}

static void rpc_slot_free_list(rpc_slot *s)
{
	while (s != NULL) {
		rpc_slot *next = s->next;
		nng_aio_free(s->aio);
		free(s);
		s = next;
	}
}

static int rpc_transport_code(int nng_rv)
{
	switch (nng_rv) {
	case NNG_ETIMEDOUT:
		return COMANDA__CODE__DEADLINE_EXCEEDED;
	case NNG_ENOMEM:
		return COMANDA__CODE__INTERNAL;
	default:
		/* ECLOSED, ECONNRESET, ECONNREFUSED, ECONNSHUT, ECANCELED, ...:
		 * the peer is not there to answer. */
		return COMANDA__CODE__UNAVAILABLE;
	}
}

/* Milliseconds left until deadline_us, rounded up (a call of 1 ms still
 * has 1 ms when a few microseconds have passed); 0 once it has passed. */
static int64_t rpc_left_ms(int64_t deadline_us)
{
	int64_t us = deadline_us - clock_mono_us();
	return us > 0 ? (us + 999) / 1000 : 0;
}

/* Sends msg on the slot and waits for the reply, all within timeout_ms. */
static int rpc_exchange(rpc_slot *s, nng_msg *msg, int64_t deadline_us, nng_msg **reply)
{
	int64_t left = rpc_left_ms(deadline_us);
	if (left <= 0) {
		nng_msg_free(msg);
		return NNG_ETIMEDOUT;
	}
	nng_aio_set_timeout(s->aio, (nng_duration)left);
	nng_aio_set_msg(s->aio, msg);
	nng_ctx_send(s->ctx, s->aio);
	nng_aio_wait(s->aio);
	int rv = nng_aio_result(s->aio);
	if (rv != 0) {
		nng_msg_free(msg); /* not sent: still ours */
		return rv;
	}
	left = rpc_left_ms(deadline_us);
	nng_aio_set_timeout(s->aio, left > 0 ? (nng_duration)left : 1);
	nng_ctx_recv(s->ctx, s->aio);
	nng_aio_wait(s->aio);
	rv = nng_aio_result(s->aio);
	if (rv != 0)
		return rv;
	*reply = nng_aio_get_msg(s->aio);
	return 0;
}

/* Checks that the call may go out (a replica connected, the breaker
 * closed, at t0, when the call started), and packs the request in its
 * envelope into *msg. Returns OK, or the code set in call->status (the call
 * is over). */
static int rpc_request_build(rpc_client *c, rpc_call *call, const ProtobufCMessage *request, const char *method,
    int64_t t0, int timeout_ms, nng_msg **msg)
{
	rpc_status *st = &call->status;
	/* Fail fast: with no replica connected the request could only wait out
	 * its deadline; nor while the service has stopped answering. */
	if (atomic_load(&c->pipes) == 0) {
		rpc_status_set(st, COMANDA__CODE__UNAVAILABLE, "service unavailable");
		return st->code;
	}
	if (!rpc_breaker_allow(&c->breaker, t0, timeout_ms)) {
		rpc_status_set(st, COMANDA__CODE__UNAVAILABLE, "service not answering");
		return st->code;
	}
	size_t body_len = protobuf_c_message_get_packed_size(request);
	uint8_t *body = arena_alloc(&call->mem, body_len);
	if (body == NULL) {
		rpc_status_set(st, COMANDA__CODE__INTERNAL, "out of memory");
		return st->code;
	}
	protobuf_c_message_pack(request, body);
	Comanda__RpcRequest env = COMANDA__RPC_REQUEST__INIT;
	env.method = (char *)method;
	env.request_id = (char *)(call->request_id ? call->request_id : "");
	env.timeout_ms = (uint32_t)timeout_ms;
	env.caller_id = call->caller_id;
	env.caller_role = (Comanda__Role)call->caller_role;
	env.idempotency_key = (char *)(call->idempotency_key ? call->idempotency_key : "");
	env.client = (char *)(call->client ? call->client : "");
	env.body.data = body;
	env.body.len = body_len;
	size_t env_len = comanda__rpc_request__get_packed_size(&env);
	if (nng_msg_alloc(msg, env_len) != 0) {
		rpc_status_set(st, COMANDA__CODE__INTERNAL, "out of memory");
		return st->code;
	}
	comanda__rpc_request__pack(&env, nng_msg_body(*msg));
	return COMANDA__CODE__OK;
}

/* Tells c's breaker how a call that went out ended: rv is NNG's result of
 * its exchange (0: a reply came). Logs when that opens or closes it. */
static void rpc_breaker_note(rpc_client *c, int rv)
{
	bool timed_out = rv == NNG_ETIMEDOUT;
	/* the time matters only to a timeout: an answered call reads no clock */
	int changed = rpc_breaker_record(&c->breaker, timed_out, timed_out ? clock_mono_us() : 0);
	if (changed > 0)
		log_printf(LOG_WARN, "rpc: %s: %d calls in a row got no answer; failing calls at once for %d ms, "
		                     "then probing", c->label, c->breaker.threshold, c->breaker.open_ms);
	else if (changed < 0)
		log_printf(LOG_INFO, "rpc: %s answers again", c->label);
}

/* The status of a call whose exchange failed in the transport (NNG's rv). */
static void rpc_transport_failed(rpc_call *call, int rv)
{
	int code = rpc_transport_code(rv);
	rpc_status_set(&call->status, code,
	    code == COMANDA__CODE__DEADLINE_EXCEEDED ? "deadline exceeded" : "service unavailable");
}

/* Decodes a reply message (freed here) into call's status and, on OK, *reply
 * (in call->mem) of method m's output type. */
static void rpc_reply_decode(rpc_call *call, const ProtobufCMethodDescriptor *m, nng_msg *rmsg,
    ProtobufCMessage **reply)
{
	rpc_status *st = &call->status;
	ProtobufCAllocator *alloc = arena_pb_allocator(&call->mem);
	Comanda__RpcReply *rep = comanda__rpc_reply__unpack(alloc, nng_msg_len(rmsg), nng_msg_body(rmsg));
	nng_msg_free(rmsg);
	if (rep == NULL) {
		rpc_status_set(st, COMANDA__CODE__INTERNAL, "malformed reply");
		return;
	}
	st->code = rep->code;
	snprintf(st->message, sizeof(st->message), "%s", rep->message ? rep->message : "");
	snprintf(st->reason, sizeof(st->reason), "%s", rep->reason ? rep->reason : "");
	for (size_t i = 0; i < rep->n_details; i++)
		rpc_status_detail(st, rep->details[i]->field, rep->details[i]->issue);
	if (st->code == COMANDA__CODE__OK) {
		*reply = protobuf_c_message_unpack(m->output, alloc, rep->body.len, rep->body.data);
		if (*reply == NULL)
			rpc_status_set(st, COMANDA__CODE__INTERNAL, "malformed reply body");
	}
}

/* Starts a call's bookkeeping: clears its status and reply, checks the
 * method. Returns OK, or the code set in call->status. */
static int rpc_call_start(rpc_call *call, const ProtobufCServiceDescriptor *svc, unsigned method_index,
    const ProtobufCMessage *request, ProtobufCMessage **reply)
{
	memset(&call->status, 0, sizeof(call->status));
	*reply = NULL;
	if (method_index >= svc->n_methods || request->descriptor != svc->methods[method_index].input) {
		rpc_status_set(&call->status, COMANDA__CODE__INTERNAL, "rpc: request type does not match the method");
		return call->status.code;
	}
	return COMANDA__CODE__OK;
}

int rpc_client_call(rpc_client *c, rpc_call *call, const ProtobufCServiceDescriptor *svc,
    unsigned method_index, const ProtobufCMessage *request, ProtobufCMessage **reply)
{
	int64_t t0 = clock_mono_us();
	if (rpc_call_start(call, svc, method_index, request, reply) != COMANDA__CODE__OK)
		return call->status.code;
	const ProtobufCMethodDescriptor *m = &svc->methods[method_index];
	char method[RPC_METHOD_MAX];
	rpc_method_name(method, sizeof(method), svc, method_index);
	int timeout_ms = call->timeout_ms > 0 ? call->timeout_ms : c->default_timeout_ms;
	int64_t deadline_us = t0 + (int64_t)timeout_ms * 1000;
	nng_msg *msg = NULL;
	if (rpc_request_build(c, call, request, method, t0, timeout_ms, &msg) == COMANDA__CODE__OK) {
		rpc_slot *slot = rpc_slot_get(c, &c->free_slots, sizeof(rpc_slot), NULL);
		if (slot == NULL) {
			nng_msg_free(msg);
			rpc_status_set(&call->status, COMANDA__CODE__INTERNAL, "out of memory");
		} else {
			nng_msg *rmsg = NULL;
			int rv = rpc_exchange(slot, msg, deadline_us, &rmsg);
			rpc_slot_put(c, &c->free_slots, slot, rv == 0);
			rpc_breaker_note(c, rv);
			if (rv != 0)
				rpc_transport_failed(call, rv);
			else
				rpc_reply_decode(call, m, rmsg, reply);
		}
	}
	call->latency_us = (uint64_t)(clock_mono_us() - t0);
	rpc_observe(RPC_SIDE_CLIENT, m, method, call->status.code, call->latency_us);
	return call->status.code;
}

/* ---- calls that do not wait ---------------------------------------------- */

/* Ends the call: bookkeeping, the caller's callback, then the slot back
 * (last: once on the free list another thread may start a call on its aio,
 * and this callback is still running on it). */
static void rpc_async_finish(rpc_async *a, bool reusable)
{
	rpc_call *call = a->call;
	call->latency_us = (uint64_t)(clock_mono_us() - a->t0);
	rpc_observe(RPC_SIDE_CLIENT, a->m, a->method, call->status.code, call->latency_us);
	a->done(a->arg, call, *a->reply);
	rpc_client *c = a->client;
	rpc_slot_put(c, &c->free_async, &a->slot, reusable);
	atomic_fetch_sub(&c->async_calls, 1); /* the last touch of c by this call */
}

static void rpc_async_cb(void *arg)
{
	rpc_async *a = arg;
	int rv = nng_aio_result(a->slot.aio);
	if (rv != 0 || a->receiving)
		rpc_breaker_note(a->client, rv);
	if (rv != 0) {
		if (!a->receiving)
			nng_msg_free(nng_aio_get_msg(a->slot.aio)); /* not sent: still ours */
		rpc_transport_failed(a->call, rv);
		rpc_async_finish(a, false);
		return;
	}
	if (!a->receiving) {
		rpc_client *c = a->client;
		pthread_mutex_lock(&c->close_lock);
		if (c->closing) {
			pthread_mutex_unlock(&c->close_lock);
			rpc_transport_failed(a->call, NNG_ECLOSED);
			rpc_async_finish(a, false);
			return;
		}
		a->receiving = true;
		int64_t left = rpc_left_ms(a->deadline_us);
		nng_aio_set_timeout(a->slot.aio, left > 0 ? (nng_duration)left : 1);
		nng_ctx_recv(a->slot.ctx, a->slot.aio);
		pthread_mutex_unlock(&c->close_lock);
		return;
	}
	rpc_reply_decode(a->call, a->m, nng_aio_get_msg(a->slot.aio), a->reply);
	rpc_async_finish(a, true);
}

int rpc_client_call_async(rpc_client *c, rpc_call *call, const rpc_method *method_of,
    const ProtobufCMessage *request, ProtobufCMessage **reply, rpc_done_fn done, void *arg)
{
	int64_t t0 = clock_mono_us();
	const ProtobufCServiceDescriptor *svc = method_of->service;
	unsigned method_index = method_of->index;
	if (rpc_call_start(call, svc, method_index, request, reply) != COMANDA__CODE__OK)
		return call->status.code;
	const ProtobufCMethodDescriptor *m = &svc->methods[method_index];
	int timeout_ms = call->timeout_ms > 0 ? call->timeout_ms : c->default_timeout_ms;
	const char *method = method_of->name;
	nng_msg *msg = NULL;
	rpc_async *a = NULL;
	if (rpc_request_build(c, call, request, method, t0, timeout_ms, &msg) == COMANDA__CODE__OK &&
	    (a = (rpc_async *)rpc_slot_get(c, &c->free_async, sizeof(rpc_async), rpc_async_cb)) == NULL) {
		nng_msg_free(msg);
		rpc_status_set(&call->status, COMANDA__CODE__INTERNAL, "out of memory");
	}
	if (a == NULL) {
		call->latency_us = (uint64_t)(clock_mono_us() - t0);
		rpc_observe(RPC_SIDE_CLIENT, m, method, call->status.code, call->latency_us);
		return call->status.code;
	}
	atomic_fetch_add(&c->async_calls, 1);
	a->client = c;
	a->receiving = false;
	a->call = call;
	a->m = m;
	a->reply = reply;
	a->done = done;
	a->arg = arg;
	a->t0 = t0;
	a->deadline_us = t0 + (int64_t)timeout_ms * 1000;
	a->method = method;
	nng_aio_set_timeout(a->slot.aio, (nng_duration)timeout_ms);
	nng_aio_set_msg(a->slot.aio, msg);
	nng_ctx_send(a->slot.ctx, a->slot.aio);
	return COMANDA__CODE__OK;
}

static void rpc_pb_invoke(ProtobufCService *service, unsigned method_index, const ProtobufCMessage *input,
    ProtobufCClosure closure, void *closure_data)
{
	rpc_pb_service *s = (rpc_pb_service *)service;
	rpc_call call;
	rpc_call_init(&call);
	ProtobufCMessage *out = NULL;
	int code = rpc_client_call(s->client, &call, service->descriptor, method_index, input, &out);
	closure(code == COMANDA__CODE__OK ? out : NULL, closure_data);
	rpc_call_release(&call);
}

ProtobufCService *rpc_client_service(rpc_client *c, const ProtobufCServiceDescriptor *svc)
{
	pthread_mutex_lock(&c->lock);
	rpc_pb_service *s;
	for (s = c->services; s != NULL; s = s->next)
		if (s->base.descriptor == svc)
			break;
	if (s == NULL && (s = calloc(1, sizeof(*s))) != NULL) {
		s->base.descriptor = svc;
		s->base.invoke = rpc_pb_invoke;
		s->base.destroy = NULL; /* owned by the client */
		s->client = c;
		s->next = c->services;
		c->services = s;
	}
	pthread_mutex_unlock(&c->lock);
	return s ? &s->base : NULL;
}

/* ======================================================================== */
/* Server                                                                   */
/* ======================================================================== */

typedef struct rpc_worker rpc_worker;

struct rpc_ctx {
	rpc_worker *worker;
	const Comanda__RpcRequest *env;
	char method[RPC_METHOD_MAX];
	int64_t deadline_us;
	rpc_status status;
	arena mem;
};

struct rpc_worker {
	rpc_server *server;
	int index;
	pthread_t thread;
	nng_ctx nctx;
	nng_aio *aio;                   /* receives; rpc_server_close stops it */
	nng_aio *send_aio;              /* replies: a reply in hand is sent even while closing */
	void *resource;
	rpc_ctx ctx;
};

typedef struct rpc_service_entry {
	const rpc_service_binding *binding;
	const void *impl;
} rpc_service_entry;

struct rpc_server {
	rpc_server_config cfg;
	nng_socket sock;
	bool started;
	atomic_bool stopping;
	size_t n_services;
	rpc_service_entry services[RPC_MAX_SERVICES];
	int n_workers;
	rpc_worker *workers;
};

int rpc_server_open(rpc_server **out, const rpc_server_config *cfg)
{
	*out = NULL;
	rpc_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return COMANDA__CODE__INTERNAL;
	s->cfg = *cfg;
	if (s->cfg.name == NULL)
		s->cfg.name = "rpc";
	s->n_workers = cfg->workers > 0 ? cfg->workers : 4;
	atomic_init(&s->stopping, false);
	if (nng_rep0_open(&s->sock) != 0) {
		free(s);
		return COMANDA__CODE__INTERNAL;
	}
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, RPC_FRAME_MAX);
	*out = s;
	return COMANDA__CODE__OK;
}

int rpc_server_add(rpc_server *s, const rpc_service_binding *binding, const void *impl)
{
	if (s->started || s->n_services >= RPC_MAX_SERVICES ||
	    binding->n_handlers != binding->descriptor->n_methods)
		return COMANDA__CODE__INVALID_ARGUMENT;
	s->services[s->n_services].binding = binding;
	s->services[s->n_services].impl = impl;
	s->n_services++;
	return COMANDA__CODE__OK;
}

/* Finds the handler of "package.Service/Method"; NULL when unknown. */
static const rpc_service_entry *rpc_server_lookup(const rpc_server *s, const char *method, unsigned *index)
{
	const char *slash = strchr(method, '/');
	if (slash == NULL)
		return NULL;
	size_t svc_len = (size_t)(slash - method);
	for (size_t i = 0; i < s->n_services; i++) {
		const ProtobufCServiceDescriptor *d = s->services[i].binding->descriptor;
		if (strlen(d->name) != svc_len || memcmp(d->name, method, svc_len) != 0)
			continue;
		const ProtobufCMethodDescriptor *m = protobuf_c_service_descriptor_get_method_by_name(d, slash + 1);
		if (m == NULL)
			return NULL;
		*index = (unsigned)(m - d->methods);
		return &s->services[i];
	}
	return NULL;
}

/* Serves one request frame; returns the reply frame (NULL only when out of
 * memory, in which case the client sees its deadline pass). */
static nng_msg *rpc_serve(rpc_worker *w, nng_msg *in)
{
	rpc_server *s = w->server;
	rpc_ctx *ctx = &w->ctx;
	int64_t t0 = clock_mono_us();
	rpc_ctx_clear(ctx);
	ctx->env = NULL;
	snprintf(ctx->method, sizeof(ctx->method), "%s", "?");
	ProtobufCAllocator *alloc = arena_pb_allocator(&ctx->mem);
	ProtobufCMessage *out = NULL;
	const ProtobufCMethodDescriptor *m = NULL;

	Comanda__RpcRequest *env = comanda__rpc_request__unpack(alloc, nng_msg_len(in), nng_msg_body(in));
	if (env == NULL || env->method == NULL) {
		rpc_status_set(&ctx->status, COMANDA__CODE__INVALID_ARGUMENT, "malformed request frame");
		goto reply;
	}
	ctx->env = env;
	snprintf(ctx->method, sizeof(ctx->method), "%s", env->method);
	uint32_t timeout_ms = env->timeout_ms ? env->timeout_ms : RPC_SERVER_DEFAULT_TIMEOUT_MS;
	ctx->deadline_us = t0 + (int64_t)timeout_ms * 1000;

	unsigned index = 0;
	const rpc_service_entry *e = rpc_server_lookup(s, env->method, &index);
	if (e == NULL) {
		rpc_status_set(&ctx->status, COMANDA__CODE__UNIMPLEMENTED, "unknown method");
		goto reply;
	}
	m = &e->binding->descriptor->methods[index];
	ProtobufCMessage *req = protobuf_c_message_unpack(m->input, alloc, env->body.len, env->body.data);
	if (req == NULL) {
		rpc_status_set(&ctx->status, COMANDA__CODE__INVALID_ARGUMENT, "malformed request body");
		goto reply;
	}
	out = arena_alloc(&ctx->mem, m->output->sizeof_message);
	if (out == NULL) {
		rpc_status_set(&ctx->status, COMANDA__CODE__INTERNAL, "out of memory");
		goto reply;
	}
	protobuf_c_message_init(m->output, out);
	int code = e->binding->handlers[index](ctx, e->impl, req, out);
	ctx->status.code = code;

reply:;
	Comanda__RpcReply rep = COMANDA__RPC_REPLY__INIT;
	rep.code = (Comanda__Code)ctx->status.code;
	rep.message = ctx->status.message;
	Comanda__FieldViolation fv[RPC_MAX_DETAILS];
	Comanda__FieldViolation *fvp[RPC_MAX_DETAILS];
	if (ctx->status.code != COMANDA__CODE__OK) {
		for (size_t i = 0; i < ctx->status.n_details; i++) {
			comanda__field_violation__init(&fv[i]);
			fv[i].field = ctx->status.details[i].field;
			fv[i].issue = ctx->status.details[i].issue;
			fvp[i] = &fv[i];
		}
		rep.n_details = ctx->status.n_details;
		rep.details = fvp;
		rep.reason = ctx->status.reason;
	} else if (out != NULL) {
		rep.body.len = protobuf_c_message_get_packed_size(out);
		/* the caller would drop a larger frame and wait out its deadline
		 * (and lose its connection): an error it can read instead */
		rep.body.data = rep.body.len > RPC_FRAME_MAX ? NULL : arena_alloc(&ctx->mem, rep.body.len);
		if (rep.body.data == NULL) {
			rep.code = COMANDA__CODE__INTERNAL;
			rep.message = (char *)(rep.body.len > RPC_FRAME_MAX ? "reply too large" : "out of memory");
			rep.body.len = 0;
		} else {
			protobuf_c_message_pack(out, rep.body.data);
		}
	}
	size_t len = comanda__rpc_reply__get_packed_size(&rep);
	if (len > RPC_FRAME_MAX) {
		rep.code = COMANDA__CODE__INTERNAL;
		rep.message = (char *)"reply too large";
		rep.body.len = 0;
		len = comanda__rpc_reply__get_packed_size(&rep);
	}
	nng_msg *msg = NULL;
	if (nng_msg_alloc(&msg, len) == 0)
		comanda__rpc_reply__pack(&rep, nng_msg_body(msg));

	uint64_t latency_us = (uint64_t)(clock_mono_us() - t0);
	/* Only methods this server serves name a series: a frame's method is
	 * client text, and as a label it could inject lines into /metrics or
	 * grow it without bound. */
	rpc_observe(RPC_SIDE_SERVER, m, m != NULL ? ctx->method : "unknown", rep.code, latency_us);
	if (s->cfg.log_requests) {
		log_line l;
		log_begin(&l, rep.code == COMANDA__CODE__INTERNAL ? LOG_WARN : LOG_INFO, "rpc");
		log_str(&l, "method", ctx->method);
		log_str(&l, "request_id", env && env->request_id ? env->request_id : "");
		log_str(&l, "code", rpc_code_name(rep.code));
		log_int(&l, "latency_us", (long long)latency_us);
		log_int(&l, "caller_id", env ? env->caller_id : 0);
		log_int(&l, "worker", w->index);
		if (rep.code != COMANDA__CODE__OK)
			log_str(&l, "error", ctx->status.message);
		log_end(&l);
	}
	arena_reset(&ctx->mem);
	return msg;
}

static void *rpc_worker_main(void *arg)
{
	rpc_worker *w = arg;
	rpc_server *s = w->server;
	arena_init(&w->ctx.mem);
	w->ctx.worker = w;
	if (s->cfg.worker_init)
		w->resource = s->cfg.worker_init(s->cfg.worker_arg, w->index);
	/* An idle worker waits in its receive with no timeout: rpc_server_close
	 * stops w->aio, which ends a receive in progress and makes every later
	 * one fail at once, so no worker polls for shutdown (a poll every 200 ms
	 * per worker kept NNG's timer thread at 1-2% of a CPU in an idle
	 * service). */
	while (!atomic_load(&s->stopping)) {
		nng_ctx_recv(w->nctx, w->aio);
		nng_aio_wait(w->aio);
		int rv = nng_aio_result(w->aio);
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0)
			continue; /* NNG_ECANCELED once stopped: the loop sees the flag */
		nng_msg *in = nng_aio_get_msg(w->aio);
		nng_msg *out = rpc_serve(w, in);
		nng_msg_free(in);
		if (out == NULL)
			continue;
		nng_aio_set_timeout(w->send_aio, 5000);
		nng_aio_set_msg(w->send_aio, out);
		nng_ctx_send(w->nctx, w->send_aio);
		nng_aio_wait(w->send_aio);
		if (nng_aio_result(w->send_aio) != 0)
			nng_msg_free(out);
	}
	if (s->cfg.worker_fini)
		s->cfg.worker_fini(s->cfg.worker_arg, w->resource);
	arena_reset(&w->ctx.mem);
	return NULL;
}

int rpc_server_start(rpc_server *s)
{
	int rv = nng_listen(s->sock, s->cfg.url, NULL, 0);
	if (rv != 0) {
		log_printf(LOG_ERROR, "rpc: cannot listen on %s: %s", s->cfg.url, nng_strerror(rv));
		return COMANDA__CODE__UNAVAILABLE;
	}
	if (s->cfg.extra_url != NULL && (rv = nng_listen(s->sock, s->cfg.extra_url, NULL, 0)) != 0) {
		log_printf(LOG_ERROR, "rpc: cannot listen on %s: %s", s->cfg.extra_url, nng_strerror(rv));
		return COMANDA__CODE__UNAVAILABLE;
	}
	s->workers = calloc((size_t)s->n_workers, sizeof(*s->workers));
	if (s->workers == NULL)
		return COMANDA__CODE__INTERNAL;
	for (int i = 0; i < s->n_workers; i++) {
		rpc_worker *w = &s->workers[i];
		w->server = s;
		w->index = i;
		if (nng_ctx_open(&w->nctx, s->sock) != 0 || nng_aio_alloc(&w->aio, NULL, NULL) != 0 ||
		    nng_aio_alloc(&w->send_aio, NULL, NULL) != 0 ||
		    pthread_create(&w->thread, NULL, rpc_worker_main, w) != 0) {
			log_printf(LOG_ERROR, "rpc: cannot start worker %d", i);
			s->n_workers = i; /* rpc_server_close stops and joins the ones that started */
			if (w->aio)
				nng_aio_free(w->aio);
			if (w->send_aio)
				nng_aio_free(w->send_aio);
			w->aio = w->send_aio = NULL;
			return COMANDA__CODE__INTERNAL;
		}
	}
	s->started = true;
	log_printf(LOG_INFO, "rpc: %s serving on %s with %d workers", s->cfg.name, s->cfg.url, s->n_workers);
	return COMANDA__CODE__OK;
}

void rpc_server_close(rpc_server *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->stopping, true);
	/* Stopping a worker's receive aio ends its wait for a request (or makes
	 * the next one fail at once); a worker with a request in hand finishes
	 * it, sends the reply on its other aio, then sees the flag. */
	for (int i = 0; i < s->n_workers && s->workers; i++)
		nng_aio_stop(s->workers[i].aio);
	for (int i = 0; i < s->n_workers && s->workers; i++)
		pthread_join(s->workers[i].thread, NULL);
	nng_close(s->sock);
	for (int i = 0; i < s->n_workers && s->workers; i++) {
		nng_aio_free(s->workers[i].aio);
		nng_aio_free(s->workers[i].send_aio);
	}
	free(s->workers);
	free(s);
}

/* ---- handler context ---- */

const char *rpc_ctx_method(const rpc_ctx *ctx)
{
	return ctx->method;
}

const char *rpc_ctx_request_id(const rpc_ctx *ctx)
{
	return ctx->env && ctx->env->request_id ? ctx->env->request_id : "";
}

int64_t rpc_ctx_caller_id(const rpc_ctx *ctx)
{
	return ctx->env ? ctx->env->caller_id : 0;
}

int rpc_ctx_caller_role(const rpc_ctx *ctx)
{
	return ctx->env ? (int)ctx->env->caller_role : COMANDA__ROLE__ROLE_ANONYMOUS;
}

const char *rpc_ctx_idempotency_key(const rpc_ctx *ctx)
{
	return ctx->env && ctx->env->idempotency_key ? ctx->env->idempotency_key : "";
}

const char *rpc_ctx_client(const rpc_ctx *ctx)
{
	return ctx->env && ctx->env->client ? ctx->env->client : "";
}

int64_t rpc_ctx_remaining_ms(const rpc_ctx *ctx)
{
	return (ctx->deadline_us - clock_mono_us()) / 1000;
}

int64_t rpc_ctx_deadline_us(const rpc_ctx *ctx)
{
	return ctx->deadline_us;
}

void *rpc_ctx_worker(const rpc_ctx *ctx)
{
	return ctx->worker->resource;
}

int rpc_ctx_worker_index(const rpc_ctx *ctx)
{
	return ctx->worker->index;
}

arena *rpc_ctx_arena(rpc_ctx *ctx)
{
	return &ctx->mem;
}

void *rpc_ctx_alloc(rpc_ctx *ctx, size_t n)
{
	return arena_alloc(&ctx->mem, n);
}

char *rpc_ctx_strdup(rpc_ctx *ctx, const char *s)
{
	return arena_strdup(&ctx->mem, s);
}

int rpc_ctx_error(rpc_ctx *ctx, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->status.message, sizeof(ctx->status.message), fmt, ap);
	va_end(ap);
	ctx->status.code = code;
	return code;
}

void rpc_ctx_detail(rpc_ctx *ctx, const char *field, const char *issue)
{
	rpc_status_detail(&ctx->status, field, issue);
}

bool rpc_ctx_is_admin(const rpc_ctx *ctx)
{
	return rpc_ctx_caller_role(ctx) == COMANDA__ROLE__ROLE_ADMIN;
}

bool rpc_ctx_is_service(const rpc_ctx *ctx)
{
	return rpc_ctx_caller_role(ctx) == COMANDA__ROLE__ROLE_SERVICE;
}

bool rpc_ctx_signed_in(const rpc_ctx *ctx)
{
	int role = rpc_ctx_caller_role(ctx);
	return (role == COMANDA__ROLE__ROLE_CUSTOMER || role == COMANDA__ROLE__ROLE_ADMIN) && rpc_ctx_caller_id(ctx) > 0;
}

int rpc_ctx_invalid(rpc_ctx *ctx, const char *field, const char *issue)
{
	rpc_ctx_detail(ctx, field, issue);
	return rpc_ctx_error(ctx, COMANDA__CODE__INVALID_ARGUMENT, "%s %s", field, issue);
}

void rpc_ctx_reason(rpc_ctx *ctx, const char *reason)
{
	snprintf(ctx->status.reason, sizeof(ctx->status.reason), "%s", reason);
}

int rpc_ctx_forward(rpc_ctx *ctx, const rpc_status *st)
{
	ctx->status = *st;
	return st->code;
}

const rpc_status *rpc_ctx_status(const rpc_ctx *ctx)
{
	return &ctx->status;
}

void rpc_ctx_clear(rpc_ctx *ctx)
{
	memset(&ctx->status, 0, sizeof(ctx->status));
}
