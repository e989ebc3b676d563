/*
 * gateway: the public JSON REST API on :5000 (../API.md). It authenticates,
 * validates and maps each route to RPCs on svc-user, svc-order and
 * svc-payment; it keeps no state of its own.
 *
 * Start-up: configuration (lib/cfg.def), the route table's sanity, the three
 * RPC clients (they dial in the background, so the gateway starts whether or
 * not the services are up), then the HTTP server. SIGTERM or SIGINT stops it
 * gracefully: no new connections, requests in progress finish, exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "cfg.h"
#include "gw_app.h"
#include "gw_auth.h"
#include "gw_http.h"
#include "gw_metrics.h"
#include "gw_routes.h"
#include "httpd.h"
#include "jwt.h"
#include "log.h"
#include "rpc.h"

/* Opens the client for one service; exits when its URL is malformed (a
 * configuration error that retrying cannot fix). */
static rpc_client *gw_open_client(const char *var, int timeout_ms)
{
	rpc_client *c = NULL;
	rpc_client_config rc = { .urls = cfg_str(var), .default_timeout_ms = timeout_ms };
	if (rpc_client_open(&c, &rc) != COMANDA__CODE__OK) {
		log_printf(LOG_ERROR, "gateway: cannot open the RPC client for %s=\"%s\"", var, rc.urls);
		exit(2);
	}
	return c;
}

int main(void)
{
	log_init("gateway");

	/* Block the stop signals before any thread exists (NNG's, MHD's), so
	 * every thread inherits the mask and only sigwait below sees them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	size_t nroutes = 0;
	const gw_route *routes = gw_routes(&nroutes);
	char why[256];
	if (!gw_routes_valid(routes, nroutes, why, sizeof(why))) {
		log_printf(LOG_ERROR, "gateway: route table: %s", why);
		return 1;
	}

	/* The key svc-user signs access tokens with; cfg_secret exits in
	 * production when it is unset, jwt_key_problem refuses a short one
	 * (or the public development key in production). */
	const char *jwt_key = cfg_secret("JWT_SECRET", JWT_DEV_SECRET);
	const char *key_problem = jwt_key_problem(jwt_key, cfg_production());
	if (key_problem != NULL) {
		log_printf(LOG_ERROR, "gateway: %s", key_problem);
		return 2;
	}

	int rpc_timeout = (int)cfg_int("RPC_TIMEOUT_MS", 1, 600000);
	gw_app app = {
		.user = gw_open_client("USER_RPC_URL", rpc_timeout),
		.order = gw_open_client("ORDER_RPC_URL", rpc_timeout),
		.payment = gw_open_client("PAYMENT_RPC_URL", rpc_timeout),
		.health_timeout_ms = (int)cfg_int("HEALTH_TIMEOUT_MS", 1, 60000),
		.jwt_key = (const uint8_t *)jwt_key,
		.jwt_key_len = strlen(jwt_key),
		.version = COMANDA_VERSION,
	};

	httpd *h = NULL;
	httpd_config hc = {
		.name = "gateway",
		.bind = cfg_str("GATEWAY_BIND"),
		.port = (int)cfg_int("GATEWAY_PORT", 0, 65535),
		.threads = (int)cfg_int("GATEWAY_THREADS", 1, 256),
		.max_body = (size_t)1 << 20, /* API.md: bodies over 1 MiB get 413 */
		.log_requests = cfg_int("LOG_REQUESTS", 0, 1) == 1,
		.handler = gw_http_handle,
		.observer = gw_metrics_observe,
		.arg = &app,
	};
	if (httpd_start(&h, &hc) != 0) {
		rpc_client_close(app.user);
		rpc_client_close(app.order);
		rpc_client_close(app.payment);
		return 1;
	}
	log_printf(LOG_INFO, "gateway %s: serving on %s:%d", app.version, hc.bind, httpd_port(h));

	int sig = 0;
	while (sigwait(&stop, &sig) != 0) {
	}
	log_printf(LOG_INFO, "gateway: signal %d, stopping", sig);

	/* HTTP first: once it returns no handler is running, so no RPC call is
	 * in progress when the clients close. */
	httpd_stop(h);
	rpc_client_close(app.user);
	rpc_client_close(app.order);
	rpc_client_close(app.payment);
	log_printf(LOG_INFO, "gateway: stopped");
	return 0;
}
