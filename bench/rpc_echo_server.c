/*
 * rpc_echo_server: the "RPC runtime with no work" floor of `make bench`. A
 * process that serves only comanda.Echo (proto/comanda/testing.proto) through
 * lib/rpc exactly as a service does (REP socket over TCP, RpcRequest/RpcReply
 * envelopes, one NNG context per worker thread, metrics, the request log),
 * with a handler that copies the text back and answers OK. rpc_bench
 * --method echo against it measures what lib/rpc costs by itself, so a direct
 * GetUser can be split into that and "handler and PostgreSQL".
 *
 *   rpc_echo_server --url tcp://127.0.0.1:PORT [--workers N]
 *
 * --workers defaults to RPC_WORKERS (8, as every service); the request log
 * follows LOG_REQUESTS (on by default) as in the services, because svc-user
 * writes that line for each GetUser too and it is lib/rpc's work. sleep_ms and
 * fail_code are honoured (sleep, then answer with that code, no details), so
 * the server can stand in for a handler of known cost by hand; rpc_bench sets
 * neither. Runs until SIGTERM or SIGINT, then lets the requests in flight
 * finish and exits 0; 1 on bad usage, 2 when it cannot serve on --url.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "cfg.h"
#include "clock.h"
#include "comanda/testing.rpc.h"
#include "log.h"
#include "proc_start.h"
#include "rpc.h"
#include "stopsig.h"

/* A sleep longer than this would only tie a worker up past any deadline. */
#define ECHO_MAX_SLEEP_MS 10000

static int echo_handler(rpc_ctx *ctx, const Comanda__EchoRequest *req, Comanda__EchoReply *reply)
{
	if (req->sleep_ms != 0)
		clock_sleep_ms(req->sleep_ms < ECHO_MAX_SLEEP_MS ? req->sleep_ms : ECHO_MAX_SLEEP_MS);
	if (req->fail_code != COMANDA__CODE__OK)
		return rpc_ctx_error(ctx, req->fail_code, "echo refused");
	/* The reply must live in the request's arena, not point into the request. */
	reply->text = rpc_ctx_strdup(ctx, req->text != NULL ? req->text : "");
	return reply->text != NULL ? COMANDA__CODE__OK : rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "out of memory");
}

static const echo_impl echo_handlers = { .echo = echo_handler, .unimplemented = NULL };

static int echo_usage(void)
{
	fprintf(stderr,
	    "usage: rpc_echo_server --url tcp://127.0.0.1:PORT [--workers N]\n"
	    "  --workers defaults to $RPC_WORKERS (8); SIGTERM or SIGINT stops it\n");
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* as svc-user starts: the same allocator settings and NNG threads */
	sigset_t stop;
	if (proc_start("rpc-echo", NULL, &stop) != 0)
		return 2;
	const char *url = NULL;
	int workers = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "u:w:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			url = optarg;
			break;
		case 'w': {
			char *end = NULL;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || v < 1 || v > 256)
				return echo_usage();
			workers = (int)v;
			break;
		}
		default:
			return echo_usage();
		}
	}
	if (optind != argc || url == NULL || url[0] == '\0')
		return echo_usage();
	/* The same range svc.c accepts for the services' RPC_WORKERS. */
	if (workers == 0)
		workers = (int)cfg_int("RPC_WORKERS", 1, 256);
	rpc_server_config rc = {
		.url = url,
		.workers = workers,
		.name = "echo",
		.log_requests = cfg_int("LOG_REQUESTS", 0, 1) == 1,
	};
	rpc_server *server = NULL;
	if (rpc_server_open(&server, &rc) != COMANDA__CODE__OK) {
		log_printf(LOG_ERROR, "cannot create the RPC server");
		return 2;
	}
	if (rpc_server_add(server, &echo_binding, &echo_handlers) != COMANDA__CODE__OK ||
	    rpc_server_start(server) != COMANDA__CODE__OK) {
		log_printf(LOG_ERROR, "cannot serve RPC on %s", url);
		rpc_server_close(server);
		return 2;
	}
	/* lib/rpc has logged "serving on URL with N workers". */
	int sig = stopsig_wait(&stop);
	log_printf(LOG_INFO, "signal %d: finishing the requests in flight", sig);
	rpc_server_close(server);
	log_printf(LOG_INFO, "stopped");
	return 0;
}
