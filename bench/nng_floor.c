/*
 * nng_floor: the "NNG alone" floor of `make bench`. An NNG REQ/REP round trip
 * over TCP with none of Comanda's code on the request path: no envelope, no
 * protobuf, no worker thread, no log line, no metrics. Its server echoes each
 * message from the completion callback of the context that received it (the
 * fewest hand-offs NNG allows); its client keeps N calls in flight, each on
 * a context of its own on one REQ socket, and starts each call from the
 * callback that ended the one before (no thread of its own wakes per call).
 * rpc_echo (lib/rpc with no work) against it is what lib/rpc adds; with
 * `GET /health` and `pgbench -S` it bounds what an HTTP -> NNG -> PostgreSQL
 * chain can reach on this machine (docs/PERFORMANCE.md, "The ceiling").
 *
 *   nng_floor --serve URL [--contexts N] [--task-threads N]
 *   nng_floor --url URL [--concurrency N] [--duration S] [--connections N]
 *             [--task-threads N] [--json FILE]
 *
 * --serve: listens on URL with N contexts (64) and echoes until SIGTERM or
 * SIGINT, then exits 0. The client sends a fixed 64-byte message and counts
 * an answer that differs, or a call that fails or takes over 2 s, as an
 * error; --concurrency 32, --duration 10, --connections 4 (the gateway's
 * RPC_CONNECTIONS); --task-threads 2 in both (RPC_TASK_THREADS' default).
 * Writes one JSON object like rpc_bench's (to --json FILE, else stdout).
 * Exit status: 0 when the run completed, 1 on bad usage, 2 when it cannot
 * listen or connect or runs out of memory.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "clock.h"
#include "samples.h"
#include "stopsig.h"

#define FLOOR_MSG_SIZE 64
#define FLOOR_TIMEOUT_MS 2000
#define FLOOR_MAX_CONNECTIONS 64

/* ---- server ------------------------------------------------------------------ */

/* One context: receive, then send the same message back, then receive. */
typedef struct floor_ctx {
	nng_ctx ctx;
	nng_aio *aio;
	bool sending;
} floor_ctx;

static void floor_serve_cb(void *arg)
{
	floor_ctx *c = arg;
	int rv = nng_aio_result(c->aio);
	if (c->sending) {
		c->sending = false;
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio)); /* not sent: still ours */
	} else if (rv == 0) {
		c->sending = true;
		nng_ctx_send(c->ctx, c->aio); /* the message stays set on the aio */
		return;
	}
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return; /* shutting down */
	nng_ctx_recv(c->ctx, c->aio);
}

static int floor_serve(const char *url, int contexts)
{
	sigset_t stop;
	stopsig_block(&stop); /* before NNG starts its threads */
	nng_socket sock;
	int rv = nng_rep0_open(&sock);
	if (rv != 0) {
		fprintf(stderr, "nng_floor: rep socket: %s\n", nng_strerror(rv));
		return 2;
	}
	floor_ctx *ctxs = calloc((size_t)contexts, sizeof(*ctxs));
	int opened = 0;
	for (; ctxs != NULL && opened < contexts; opened++) {
		floor_ctx *c = &ctxs[opened];
		if (nng_aio_alloc(&c->aio, floor_serve_cb, c) != 0)
			break;
		if (nng_ctx_open(&c->ctx, sock) != 0) {
			nng_aio_free(c->aio);
			break;
		}
	}
	if (ctxs == NULL || opened < contexts) {
		fprintf(stderr, "nng_floor: out of memory for %d contexts\n", contexts);
		rv = -1;
	} else if ((rv = nng_listen(sock, url, NULL, 0)) != 0) {
		fprintf(stderr, "nng_floor: cannot listen on %s: %s\n", url, nng_strerror(rv));
	} else {
		for (int i = 0; i < contexts; i++)
			nng_ctx_recv(ctxs[i].ctx, ctxs[i].aio);
		fprintf(stderr, "nng_floor: echoing on %s with %d contexts\n", url, contexts);
		stopsig_wait(&stop);
	}
	/* Stop every aio before its context closes under it. */
	for (int i = 0; i < opened; i++)
		nng_aio_stop(ctxs[i].aio);
	for (int i = 0; i < opened; i++) {
		if (ctxs[i].sending)
			nng_msg_free(nng_aio_get_msg(ctxs[i].aio));
		nng_ctx_close(ctxs[i].ctx);
		nng_aio_free(ctxs[i].aio);
	}
	free(ctxs);
	nng_close(sock);
	return rv == 0 ? 0 : 2;
}

/* ---- client ------------------------------------------------------------------ */

/* One call in flight at a time, driven from its completion callbacks: the
 * next call starts in the callback that ends the last one, so no thread of
 * ours wakes per call (what a blocking client would add to the floor). */
typedef struct floor_slot {
	nng_ctx ctx;
	nng_aio *aio;
	bool sending;
	int64_t t0, end_us;
	samples lat;
	uint64_t calls, errors;
	struct floor_run *run;
} floor_slot;

typedef struct floor_run {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int finished; /* slots past their end time */
} floor_run;

static const char floor_payload[FLOOR_MSG_SIZE] = "nng_floor: 64 bytes, about a small RPC request's envelope.....";

static void floor_slot_finish(floor_slot *s)
{
	pthread_mutex_lock(&s->run->mu);
	s->run->finished++;
	pthread_cond_signal(&s->run->cv);
	pthread_mutex_unlock(&s->run->mu);
}

/* Starts the slot's next call, or finishes the slot once its time is up. */
static void floor_slot_next(floor_slot *s)
{
	s->t0 = clock_mono_us();
	nng_msg *msg = NULL;
	if (s->t0 >= s->end_us || nng_msg_alloc(&msg, 0) != 0 ||
	    nng_msg_append(msg, floor_payload, sizeof(floor_payload)) != 0) {
		if (msg != NULL) {
			nng_msg_free(msg);
			s->errors++; /* out of memory: counted, and the slot stops */
		}
		floor_slot_finish(s);
		return;
	}
	s->sending = true;
	nng_aio_set_msg(s->aio, msg);
	nng_ctx_send(s->ctx, s->aio);
}

static void floor_slot_cb(void *arg)
{
	floor_slot *s = arg;
	int rv = nng_aio_result(s->aio);
	bool ok = false;
	if (s->sending) {
		s->sending = false;
		if (rv == 0) {
			nng_ctx_recv(s->ctx, s->aio);
			return;
		}
		nng_msg_free(nng_aio_get_msg(s->aio)); /* not sent: still ours */
	} else if (rv == 0) {
		nng_msg *msg = nng_aio_get_msg(s->aio);
		ok = nng_msg_len(msg) == sizeof(floor_payload) &&
		     memcmp(nng_msg_body(msg), floor_payload, sizeof(floor_payload)) == 0;
		nng_msg_free(msg);
	}
	s->calls++;
	s->errors += !ok;
	samples_add(&s->lat, (uint64_t)(clock_mono_us() - s->t0));
	if (rv == NNG_ECLOSED) {
		floor_slot_finish(s);
		return;
	}
	floor_slot_next(s);
}

typedef struct floor_cfg {
	const char *url;
	int concurrency, duration_s, connections;
	const char *json_path;
} floor_cfg;

static int floor_report(const floor_cfg *cfg, floor_slot *slots, double elapsed_s)
{
	uint64_t calls = 0, errors = 0;
	samples *parts = calloc((size_t)cfg->concurrency, sizeof(*parts));
	for (int i = 0; i < cfg->concurrency; i++) {
		calls += slots[i].calls;
		errors += slots[i].errors;
		if (parts != NULL) {
			parts[i] = slots[i].lat; /* moved: merged and freed there */
			slots[i].lat = (samples){ 0 };
		} else {
			samples_free(&slots[i].lat);
		}
	}
	samples all;
	double sum_us;
	bool merged = parts != NULL && samples_merge(parts, (size_t)cfg->concurrency, &all, &sum_us);
	free(parts);
	if (!merged) {
		fprintf(stderr, "nng_floor: out of memory for the samples\n");
		return 2;
	}
	FILE *out = stdout;
	if (cfg->json_path != NULL && (out = fopen(cfg->json_path, "w")) == NULL) {
		fprintf(stderr, "nng_floor: cannot write %s: %s\n", cfg->json_path, strerror(errno));
		samples_free(&all);
		return 2;
	}
	double rps = elapsed_s > 0 ? (double)calls / elapsed_s : 0.0;
	fprintf(out,
	    "{\"tool\":\"nng_floor\",\"method\":\"NNG REQ/REP echo, %d bytes\",\"url\":\"%s\","
	    "\"concurrency\":%d,\"connections\":%d,\"duration_s\":%.3f,\"requests\":%llu,\"errors\":%llu,\"rps\":%.1f,"
	    "\"mean_ms\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
	    FLOOR_MSG_SIZE, cfg->url, cfg->concurrency, cfg->connections, elapsed_s, (unsigned long long)calls,
	    (unsigned long long)errors, rps, all.n > 0 ? sum_us / (double)all.n / 1000.0 : 0.0,
	    samples_pct_ms(&all, 50), samples_pct_ms(&all, 90), samples_pct_ms(&all, 99),
	    all.n > 0 ? all.us[all.n - 1] / 1000.0 : 0.0);
	if (out != stdout)
		fclose(out);
	fprintf(stderr, "nng_floor: %d in flight, %.1f s: %llu calls, %.0f/s, p50 %.3f ms, p99 %.3f ms, %llu errors\n",
	    cfg->concurrency, elapsed_s, (unsigned long long)calls, rps, samples_pct_ms(&all, 50),
	    samples_pct_ms(&all, 99), (unsigned long long)errors);
	samples_free(&all);
	return 0;
}

static int floor_client(const floor_cfg *cfg)
{
	nng_socket sock;
	int rv = nng_req0_open(&sock);
	if (rv != 0) {
		fprintf(stderr, "nng_floor: req socket: %s\n", nng_strerror(rv));
		return 2;
	}
	/* A request is sent once: a resend would be a second call. */
	nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	for (int i = 0; i < cfg->connections; i++) {
		if ((rv = nng_dial(sock, cfg->url, NULL, 0)) != 0) {
			fprintf(stderr, "nng_floor: cannot connect to %s: %s\n", cfg->url, nng_strerror(rv));
			nng_close(sock);
			return 2;
		}
	}
	floor_run run = { .finished = 0 };
	pthread_mutex_init(&run.mu, NULL);
	pthread_cond_init(&run.cv, NULL);
	floor_slot *slots = calloc((size_t)cfg->concurrency, sizeof(*slots));
	int opened = 0;
	for (; slots != NULL && opened < cfg->concurrency; opened++) {
		floor_slot *s = &slots[opened];
		s->run = &run;
		if (nng_aio_alloc(&s->aio, floor_slot_cb, s) != 0)
			break;
		if (nng_ctx_open(&s->ctx, sock) != 0) {
			nng_aio_free(s->aio);
			break;
		}
		nng_aio_set_timeout(s->aio, FLOOR_TIMEOUT_MS);
	}
	rv = 2;
	if (slots == NULL || opened < cfg->concurrency) {
		fprintf(stderr, "nng_floor: out of memory for %d calls in flight\n", cfg->concurrency);
	} else {
		int64_t t_start = clock_mono_us();
		for (int i = 0; i < opened; i++)
			slots[i].end_us = t_start + (int64_t)cfg->duration_s * 1000000;
		for (int i = 0; i < opened; i++)
			floor_slot_next(&slots[i]);
		pthread_mutex_lock(&run.mu);
		while (run.finished < opened)
			pthread_cond_wait(&run.cv, &run.mu);
		pthread_mutex_unlock(&run.mu);
		rv = floor_report(cfg, slots, (double)(clock_mono_us() - t_start) / 1e6);
	}
	for (int i = 0; i < opened; i++) {
		nng_aio_free(slots[i].aio); /* every slot has finished: nothing in flight */
		nng_ctx_close(slots[i].ctx);
		samples_free(&slots[i].lat); /* a no-op after floor_report */
	}
	free(slots);
	nng_close(sock);
	pthread_cond_destroy(&run.cv);
	pthread_mutex_destroy(&run.mu);
	return rv;
}

/* ---- main --------------------------------------------------------------------- */

static int floor_usage(void)
{
	fprintf(stderr,
	    "usage: nng_floor --serve URL [--contexts N] [--task-threads N]\n"
	    "       nng_floor --url URL [--concurrency N] [--duration S] [--connections N]\n"
	    "                 [--task-threads N] [--json FILE]\n"
	    "  --contexts 64, --concurrency 32, --duration 10, --connections 4, --task-threads 2\n");
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "serve", required_argument, NULL, 's' },
		{ "url", required_argument, NULL, 'u' },
		{ "contexts", required_argument, NULL, 'x' },
		{ "concurrency", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "connections", required_argument, NULL, 'c' },
		{ "task-threads", required_argument, NULL, 'k' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	floor_cfg cfg = { .concurrency = 32, .duration_s = 10, .connections = 4 };
	const char *serve_url = NULL;
	long long contexts = 64, task_threads = 2, v;
	int opt;
	while ((opt = getopt_long(argc, argv, "s:u:x:n:d:c:k:j:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			serve_url = optarg;
			break;
		case 'u':
			cfg.url = optarg;
			break;
		case 'x':
			if (!samples_parse_long(optarg, 1, 4096, &contexts))
				return floor_usage();
			break;
		case 'n':
			if (!samples_parse_long(optarg, 1, 4096, &v))
				return floor_usage();
			cfg.concurrency = (int)v;
			break;
		case 'd':
			if (!samples_parse_long(optarg, 1, 86400, &v))
				return floor_usage();
			cfg.duration_s = (int)v;
			break;
		case 'c':
			if (!samples_parse_long(optarg, 1, FLOOR_MAX_CONNECTIONS, &v))
				return floor_usage();
			cfg.connections = (int)v;
			break;
		case 'k':
			if (!samples_parse_long(optarg, 1, 64, &task_threads))
				return floor_usage();
			break;
		case 'j':
			cfg.json_path = optarg;
			break;
		default:
			return floor_usage();
		}
	}
	if (optind != argc || (serve_url == NULL) == (cfg.url == NULL))
		return floor_usage();
	/* NNG reads these when it starts, on the first socket. */
	nng_init_set_parameter(NNG_INIT_MAX_TASK_THREADS, (uint64_t)task_threads);
	nng_init_set_parameter(NNG_INIT_NUM_TASK_THREADS, (uint64_t)task_threads);
	return serve_url != NULL ? floor_serve(serve_url, (int)contexts) : floor_client(&cfg);
}
