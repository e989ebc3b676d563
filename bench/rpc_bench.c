/*
 * rpc_bench: the direct-RPC floors of `make bench`. Calls one method through
 * its generated stub from N threads for a fixed time, with no gateway in
 * between, and reports requests per second, latency percentiles and errors.
 *
 *   rpc_bench --caller-id ID --ids 2,3,4 [--url URL] [--method get_user]
 *             [--threads N] [--duration S] [--timeout-ms MS] [--json FILE]
 *   rpc_bench --method echo --url URL [--threads N] [--duration S] ...
 *
 * --method get_user (the default): UserService.GetUser (user_service_get_user)
 * as an admin (caller_role ROLE_ADMIN, caller_id ID), like the gateway's call
 * for an admin's GET /api/users/{id}; thread t's n-th call asks for
 * ids[(t + n) % count]; an answer with another user counts as an error.
 * --method echo: comanda.Echo/Echo (echo_echo) with a short text, against
 * bench/rpc_echo_server, whose handler does nothing else: the cost of lib/rpc
 * itself; the same envelope (request id, admin role, --caller-id when given),
 * and an answer with another text counts as an error.
 * The threads share one rpc_client, as the gateway's HTTP threads do, over as
 * many connections (RPC_CONNECTIONS). Latency is measured around each stub
 * call (packing, the round trip, unpacking) and every sample is kept, so the
 * percentiles are exact. Exit status: 0 when the run completed (errors are
 * reported, not fatal), 1 on bad usage, 2 when the service cannot be reached
 * at all.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "comanda/testing.rpc.h"
#include "comanda/user.rpc.h"
#include "log.h"
#include "rpc.h"
#include "samples.h"

#define BENCH_MAX_CODES 17 /* canonical codes 0..16 */

/* What each call sends in echo mode: short, like a small request body. */
#define BENCH_ECHO_TEXT "rpc-bench echo"

typedef enum bench_method { BENCH_GET_USER, BENCH_ECHO } bench_method;

/* The method's full name, for the JSON result. */
static const char *const bench_method_names[] = {
	[BENCH_GET_USER] = "comanda.UserService/GetUser",
	[BENCH_ECHO] = "comanda.Echo/Echo",
};

typedef struct bench_cfg {
	bench_method method;
	const char *url;
	int threads;
	int duration_s;
	int timeout_ms;
	int64_t caller_id;
	int64_t *ids;
	size_t n_ids;
	const char *json_path;
} bench_cfg;

typedef struct bench_thread {
	pthread_t tid;
	int index;
	const bench_cfg *cfg;
	rpc_client *client;
	pthread_barrier_t *start;
	int64_t end_us;
	/* results */
	samples lat;       /* one sample per completed call */
	uint64_t codes[BENCH_MAX_CODES + 1]; /* the last one: any other value */
} bench_thread;

static int bench_usage(void)
{
	fprintf(stderr,
	    "usage: rpc_bench --caller-id ID --ids ID[,ID...] [--url URL] [--method get_user]\n"
	    "                 [--threads N] [--duration S] [--timeout-ms MS] [--json FILE]\n"
	    "       rpc_bench --method echo --url URL [--threads N] [--duration S] ...\n"
	    "  get_user: --url defaults to $USER_RPC_URL; echo: --url is required (rpc_echo_server)\n"
	    "  --threads 32, --duration 10, --timeout-ms 2000\n");
	return 1;
}

/* "2,3,4" -> ids. */
static bool bench_parse_ids(const char *s, bench_cfg *cfg)
{
	size_t cap = 1;
	for (const char *p = s; *p != '\0'; p++)
		cap += *p == ',';
	cfg->ids = calloc(cap, sizeof(*cfg->ids));
	if (cfg->ids == NULL)
		return false;
	char *copy = strdup(s);
	if (copy == NULL)
		return false;
	char *save = NULL;
	bool ok = true;
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		long long v;
		if (!samples_parse_long(tok, 1, INT64_MAX, &v)) {
			ok = false;
			break;
		}
		cfg->ids[cfg->n_ids++] = v;
	}
	free(copy);
	return ok && cfg->n_ids > 0;
}

static void bench_record(bench_thread *t, uint64_t us, int code)
{
	t->codes[code >= 0 && code < BENCH_MAX_CODES ? code : BENCH_MAX_CODES]++;
	samples_add(&t->lat, us);
}

static void *bench_thread_main(void *arg)
{
	bench_thread *t = arg;
	const bench_cfg *cfg = t->cfg;
	pthread_barrier_wait(t->start);
	for (uint64_t n = 0;; n++) {
		int64_t t0 = clock_mono_us();
		if (t0 >= t->end_us)
			break;
		rpc_call call;
		rpc_call_init(&call);
		call.timeout_ms = cfg->timeout_ms;
		call.caller_id = cfg->caller_id;
		call.caller_role = COMANDA__ROLE__ROLE_ADMIN;
		call.request_id = "rpc-bench";
		int code;
		/* A wrong answer is an error too, in either mode. */
		if (cfg->method == BENCH_ECHO) {
			Comanda__EchoRequest req = COMANDA__ECHO_REQUEST__INIT;
			req.text = BENCH_ECHO_TEXT;
			Comanda__EchoReply *reply = NULL;
			code = echo_echo(t->client, &call, &req, &reply);
			if (code == COMANDA__CODE__OK &&
			    (reply == NULL || reply->text == NULL || strcmp(reply->text, BENCH_ECHO_TEXT) != 0))
				code = COMANDA__CODE__INTERNAL;
		} else {
			Comanda__GetUserRequest req = COMANDA__GET_USER_REQUEST__INIT;
			req.id = cfg->ids[((uint64_t)t->index + n) % cfg->n_ids];
			Comanda__UserReply *reply = NULL;
			code = user_service_get_user(t->client, &call, &req, &reply);
			if (code == COMANDA__CODE__OK && (reply == NULL || reply->user == NULL || reply->user->id != req.id))
				code = COMANDA__CODE__INTERNAL;
		}
		rpc_call_release(&call);
		bench_record(t, (uint64_t)(clock_mono_us() - t0), code);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	bench_cfg cfg = { .threads = 32, .duration_s = 10, .timeout_ms = 2000 };
	bool have_caller = false;
	static const struct option opts[] = {
		{ "method", required_argument, NULL, 'm' },
		{ "url", required_argument, NULL, 'u' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "caller-id", required_argument, NULL, 'c' },
		{ "ids", required_argument, NULL, 'i' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	setenv("LOG_LEVEL", "error", 0);
	log_init("rpc-bench");
	int opt;
	long long v;
	while ((opt = getopt_long(argc, argv, "m:u:t:d:T:c:i:j:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (strcmp(optarg, "get_user") == 0)
				cfg.method = BENCH_GET_USER;
			else if (strcmp(optarg, "echo") == 0)
				cfg.method = BENCH_ECHO;
			else
				return bench_usage();
			break;
		case 'u':
			cfg.url = optarg;
			break;
		case 't':
			if (!samples_parse_long(optarg, 1, 1024, &v))
				return bench_usage();
			cfg.threads = (int)v;
			break;
		case 'd':
			if (!samples_parse_long(optarg, 1, 86400, &v))
				return bench_usage();
			cfg.duration_s = (int)v;
			break;
		case 'T':
			if (!samples_parse_long(optarg, 1, 600000, &v))
				return bench_usage();
			cfg.timeout_ms = (int)v;
			break;
		case 'c':
			if (!samples_parse_long(optarg, 1, INT64_MAX, &v))
				return bench_usage();
			cfg.caller_id = v;
			have_caller = true;
			break;
		case 'i':
			if (!bench_parse_ids(optarg, &cfg))
				return bench_usage();
			break;
		case 'j':
			cfg.json_path = optarg;
			break;
		default:
			return bench_usage();
		}
	}
	/* USER_RPC_URL is svc-user's address: no default for the echo server. */
	if (cfg.url == NULL && cfg.method == BENCH_GET_USER)
		cfg.url = getenv("USER_RPC_URL");
	if (optind != argc || cfg.url == NULL || cfg.url[0] == '\0')
		return bench_usage();
	if (cfg.method == BENCH_GET_USER && (!have_caller || cfg.n_ids == 0))
		return bench_usage();

	rpc_runtime_init_from_cfg(); /* NNG's task threads, as the gateway sets them */
	rpc_client *client = NULL;
	/* as many connections as the gateway keeps (RPC_CONNECTIONS) */
	rpc_client_config ccfg;
	rpc_client_config_from_cfg(&ccfg, NULL);
	ccfg.urls = cfg.url;
	ccfg.default_timeout_ms = cfg.timeout_ms;
	if (rpc_client_open(&client, &ccfg) != COMANDA__CODE__OK) {
		fprintf(stderr, "rpc_bench: cannot open a client for %s\n", cfg.url);
		return 2;
	}
	if (!rpc_client_wait_connected(client, 5000)) {
		fprintf(stderr, "rpc_bench: %s did not connect within 5 s\n", cfg.url);
		rpc_client_close(client);
		return 2;
	}

	bench_thread *threads = calloc((size_t)cfg.threads, sizeof(*threads));
	pthread_barrier_t start;
	if (threads == NULL || pthread_barrier_init(&start, NULL, (unsigned)cfg.threads + 1) != 0) {
		fprintf(stderr, "rpc_bench: out of memory\n");
		return 2;
	}
	for (int i = 0; i < cfg.threads; i++) {
		threads[i] = (bench_thread){ .index = i, .cfg = &cfg, .client = client, .start = &start };
		if (pthread_create(&threads[i].tid, NULL, bench_thread_main, &threads[i]) != 0) {
			fprintf(stderr, "rpc_bench: cannot start thread %d\n", i);
			return 2;
		}
	}
	/* Every thread is parked at the barrier: set the deadline, then go. */
	int64_t t_start = clock_mono_us();
	int64_t end_us = t_start + (int64_t)cfg.duration_s * 1000000;
	for (int i = 0; i < cfg.threads; i++)
		threads[i].end_us = end_us;
	pthread_barrier_wait(&start);
	for (int i = 0; i < cfg.threads; i++)
		pthread_join(threads[i].tid, NULL);
	double elapsed_s = (double)(clock_mono_us() - t_start) / 1e6;
	pthread_barrier_destroy(&start);
	rpc_client_close(client);

	/* Merge. */
	uint64_t codes[BENCH_MAX_CODES + 1] = { 0 };
	samples *parts = calloc((size_t)cfg.threads, sizeof(*parts));
	samples all;
	double sum_us = 0;
	for (int i = 0; i < cfg.threads; i++) {
		for (int k = 0; k <= BENCH_MAX_CODES; k++)
			codes[k] += threads[i].codes[k];
		if (parts != NULL) {
			parts[i] = threads[i].lat; /* moved: merged and freed there */
			threads[i].lat = (samples){ 0 };
		} else {
			samples_free(&threads[i].lat);
		}
	}
	if (parts == NULL || !samples_merge(parts, (size_t)cfg.threads, &all, &sum_us)) {
		fprintf(stderr, "rpc_bench: out of memory for the samples\n");
		return 2;
	}
	free(parts);
	size_t total = all.n;
	uint64_t requests = 0, errors = 0;
	for (int k = 0; k <= BENCH_MAX_CODES; k++) {
		requests += codes[k];
		if (k != COMANDA__CODE__OK)
			errors += codes[k];
	}
	double rps = elapsed_s > 0 ? (double)requests / elapsed_s : 0.0;

	/* The result, as one JSON object (to --json FILE, else stdout). */
	FILE *out = stdout;
	if (cfg.json_path != NULL && (out = fopen(cfg.json_path, "w")) == NULL) {
		fprintf(stderr, "rpc_bench: cannot write %s: %s\n", cfg.json_path, strerror(errno));
		return 2;
	}
	fprintf(out,
	    "{\"tool\":\"rpc_bench\",\"method\":\"%s\",\"url\":\"%s\","
	    "\"threads\":%d,\"duration_s\":%.3f,\"requests\":%llu,\"errors\":%llu,\"rps\":%.1f,"
	    "\"mean_ms\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"codes\":{",
	    bench_method_names[cfg.method], cfg.url, cfg.threads, elapsed_s, (unsigned long long)requests,
	    (unsigned long long)errors, rps,
	    total > 0 ? sum_us / (double)total / 1000.0 : 0.0, samples_pct_ms(&all, 50),
	    samples_pct_ms(&all, 90), samples_pct_ms(&all, 99), total > 0 ? all.us[total - 1] / 1000.0 : 0.0);
	bool first = true;
	for (int k = 0; k <= BENCH_MAX_CODES; k++) {
		if (codes[k] == 0)
			continue;
		fprintf(out, "%s\"%s\":%llu", first ? "" : ",", k < BENCH_MAX_CODES ? rpc_code_name(k) : "OTHER",
		    (unsigned long long)codes[k]);
		first = false;
	}
	fprintf(out, "}}\n");
	if (out != stdout)
		fclose(out);
	fprintf(stderr, "rpc_bench: %s, %d threads, %.1f s: %llu calls, %.0f/s, p50 %.3f ms, p99 %.3f ms, %llu errors\n",
	    bench_method_names[cfg.method], cfg.threads, elapsed_s, (unsigned long long)requests, rps,
	    samples_pct_ms(&all, 50), samples_pct_ms(&all, 99), (unsigned long long)errors);
	samples_free(&all);
	free(threads);
	free(cfg.ids);
	return 0;
}
