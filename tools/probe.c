/*
 * comanda-probe: health check of one Comanda service over its RPC port, like
 * grpc_health_probe. Used by compose and Kubernetes health checks.
 *
 *   comanda-probe [-t TIMEOUT_MS] [-s SERVICE] ADDRESS
 *   comanda-probe tcp://127.0.0.1:6001
 *
 * Exit status (grpc_health_probe's):
 *   0  the service answered SERVING
 *   1  bad command line
 *   2  could not connect within the timeout
 *   3  the Health RPC failed (timeout, error status)
 *   4  the service answered NOT_SERVING (what is down is printed)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "comanda/health.rpc.h"
#include "log.h"
#include "rpc.h"

enum { PROBE_OK = 0, PROBE_USAGE = 1, PROBE_CONNECT = 2, PROBE_RPC = 3, PROBE_UNHEALTHY = 4 };

static int probe_usage(void)
{
	fprintf(stderr, "usage: comanda-probe [-t TIMEOUT_MS] [-s SERVICE] ADDRESS\n"
	                "  e.g. comanda-probe -t 1000 tcp://127.0.0.1:6001\n");
	return PROBE_USAGE;
}

int main(int argc, char **argv)
{
	long timeout_ms = 1000;
	const char *service = "";
	int opt;
	/* Quiet: only the probe's own verdict goes to the terminal. */
	setenv("LOG_LEVEL", "error", 0);
	log_init("comanda-probe");
	while ((opt = getopt(argc, argv, "t:s:h")) != -1) {
		switch (opt) {
		case 't': {
			char *end = NULL;
			timeout_ms = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || timeout_ms <= 0 || timeout_ms > 60000)
				return probe_usage();
			break;
		}
		case 's':
			service = optarg;
			break;
		default:
			return probe_usage();
		}
	}
	if (optind != argc - 1)
		return probe_usage();

	int64_t t0 = clock_mono_us();
	rpc_client_config cfg = { .urls = argv[optind], .default_timeout_ms = (int)timeout_ms };
	rpc_client *client = NULL;
	if (rpc_client_open(&client, &cfg) != 0) {
		fprintf(stderr, "comanda-probe: bad address %s\n", argv[optind]);
		return PROBE_USAGE;
	}
	if (!rpc_client_wait_connected(client, (int)timeout_ms)) {
		fprintf(stderr, "comanda-probe: cannot connect to %s within %ld ms\n", argv[optind], timeout_ms);
		rpc_client_close(client);
		return PROBE_CONNECT;
	}
	Comanda__HealthCheckRequest req = COMANDA__HEALTH_CHECK_REQUEST__INIT;
	req.service = (char *)service;
	rpc_call call;
	rpc_call_init(&call);
	long left = timeout_ms - (long)((clock_mono_us() - t0) / 1000);
	call.timeout_ms = left > 0 ? (int)left : 1;
	Comanda__HealthCheckResponse *reply = NULL;
	int code = health_check(client, &call, &req, &reply);
	int rc;
	if (code != COMANDA__CODE__OK) {
		fprintf(stderr, "comanda-probe: health check failed: %s: %s\n", rpc_code_name(code),
		    call.status.message);
		rc = PROBE_RPC;
	} else if (reply->status != COMANDA__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
		fprintf(stderr, "comanda-probe: %s NOT_SERVING, down:", reply->service);
		for (size_t i = 0; i < reply->n_down; i++)
			fprintf(stderr, " %s", reply->down[i]);
		fputc('\n', stderr);
		rc = PROBE_UNHEALTHY;
	} else {
		printf("status: SERVING\n");
		rc = PROBE_OK;
	}
	rpc_call_release(&call);
	rpc_client_close(client);
	return rc;
}
