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
#include "gw_cors.h"
#include "gw_http.h"
#include "gw_metrics.h"
#include "gw_ratelimit.h"
#include "gw_routes.h"
#include "httpd.h"
#include "jwt.h"
#include "log.h"
#include "memtune.h"
#include "proc_start.h"
#include "rpc.h"
#include "stopsig.h"

/* Opens the client for one service; exits when its URL is malformed (a
 * configuration error that retrying cannot fix). */
static rpc_client *gw_open_client(const char *var)
{
	rpc_client *c = NULL;
	rpc_client_config rc;
	rpc_client_config_from_cfg(&rc, var);
	if (rpc_client_open(&c, &rc) != COMANDA__CODE__OK) {
		log_printf(LOG_ERROR, "gateway: cannot open the RPC client for %s=\"%s\"", var, rc.urls);
		exit(2);
	}
	return c;
}

/* The rate limits of lib/cfg.def; exits on a configuration that cannot work. */
static gw_ratelimit *gw_open_limits(void)
{
	gw_ratelimit_config rc = {
		.rps = (int)cfg_int("RATE_LIMIT_RPS", 0, 100000),
		.burst = (int)cfg_int("RATE_LIMIT_BURST", 1, 1000000),
		.login_fail_limit = (int)cfg_int("LOGIN_FAIL_LIMIT", 0, 100000),
		.login_fail_addr_limit = (int)cfg_int("LOGIN_FAIL_ADDR_LIMIT", 0, 1000000),
		.login_fail_window_s = (int)cfg_int("LOGIN_FAIL_WINDOW_S", 1, 86400),
		.table_size = (size_t)cfg_int("RATE_LIMIT_TABLE_SIZE", 16, 1 << 26),
	};
	gw_ratelimit *rl = NULL;
	if (gw_ratelimit_new(&rl, &rc) != 0)
		exit(2);
	if (rl == NULL)
		log_printf(LOG_WARN, "gateway: every rate limit is off (RATE_LIMIT_RPS, LOGIN_FAIL_LIMIT and "
		                     "LOGIN_FAIL_ADDR_LIMIT are 0)");
	return rl;
}

static gw_cors *gw_open_cors(void)
{
	gw_cors *c = NULL;
	char why[200];
	if (gw_cors_new(&c, cfg_str("CORS_ALLOWED_ORIGINS"), (int)cfg_int("CORS_MAX_AGE_S", 0, 86400), why,
	        sizeof(why)) != 0) {
		log_printf(LOG_ERROR, "gateway: CORS_ALLOWED_ORIGINS: %s", why);
		exit(2);
	}
	return c;
}

int main(void)
{
	sigset_t stop;
	if (proc_start("gateway", "GATEWAY_CPUS", &stop) != 0)
		return 2;

	size_t nroutes = 0;
	const gw_route *routes = gw_routes(&nroutes);
	char why[256];
	if (!gw_routes_valid(routes, nroutes, why, sizeof(why))) {
		log_printf(LOG_ERROR, "gateway: route table: %s", why);
		return 1;
	}

	/* The key svc-user signs access tokens with, and the one it replaced
	 * while a rotation is under way. */
	jwt_keys keys;
	if (jwt_keys_from_cfg("gateway", &keys) != 0)
		return 2;
	if (keys.previous != NULL)
		log_printf(LOG_INFO, "gateway: access tokens of the previous JWT key are accepted until they expire");

	gw_app app = {
		.user = gw_open_client("USER_RPC_URL"),
		.order = gw_open_client("ORDER_RPC_URL"),
		.payment = gw_open_client("PAYMENT_RPC_URL"),
		.health_timeout_ms = (int)cfg_int("HEALTH_TIMEOUT_MS", 1, 60000),
		.jwt = keys,
		.version = COMANDA_VERSION,
	};
	gw_ratelimit *limits = gw_open_limits();
	gw_cors *cors = gw_open_cors();
	app.limits = limits;
	app.cors = cors;

	httpd *h = NULL;
	httpd_config hc = {
		.name = "gateway",
		.bind = cfg_str("GATEWAY_BIND"),
		.port = (int)cfg_int("GATEWAY_PORT", 0, 65535),
		.threads = (int)cfg_int("GATEWAY_THREADS", 1, 256),
		.max_body = (size_t)cfg_int("GATEWAY_MAX_BODY_BYTES", 1024, 1LL << 30),
		.max_url = (size_t)cfg_int("GATEWAY_MAX_URL_BYTES", 256, 1 << 20),
		.max_header_bytes = (size_t)cfg_int("GATEWAY_MAX_HEADER_BYTES", 1024, 1 << 20),
		.max_json_depth = (int)cfg_int("GATEWAY_MAX_JSON_DEPTH", 4, 1000),
		.connection_timeout_s = (int)cfg_int("GATEWAY_IDLE_TIMEOUT_S", 1, 3600),
		.max_connections = (int)cfg_int("GATEWAY_MAX_CONNECTIONS", 1, 1000000),
		.max_connections_per_ip = (int)cfg_int("GATEWAY_MAX_CONNECTIONS_PER_IP", 0, 1000000),
		.trusted_proxies = cfg_str("GATEWAY_TRUSTED_PROXIES"),
		.log_requests = cfg_int("LOG_REQUESTS", 0, 1) == 1,
		.handler = gw_http_handle,
		.observer = gw_metrics_observe,
		.decorate = gw_http_decorate,
		.arg = &app,
	};
	bgthread *trimmer = memtune_trim_start();
	if (httpd_start(&h, &hc) != 0) {
		bgthread_stop(trimmer);
		rpc_client_close(app.user);
		rpc_client_close(app.order);
		rpc_client_close(app.payment);
		gw_ratelimit_free(limits);
		gw_cors_free(cors);
		return 1;
	}
	log_printf(LOG_INFO, "gateway %s: serving on %s:%d", app.version, hc.bind, httpd_port(h));

	int sig = stopsig_wait(&stop);
	log_printf(LOG_INFO, "gateway: signal %d, stopping", sig);

	/* HTTP first: once it returns no handler is running and every deferred
	 * answer is in (httpd_stop waits for them), so no RPC call is in
	 * progress when the clients close. */
	httpd_stop(h);
	rpc_client_close(app.user);
	rpc_client_close(app.order);
	rpc_client_close(app.payment);
	gw_ratelimit_free(limits);
	gw_cors_free(cors);
	bgthread_stop(trimmer);
	log_printf(LOG_INFO, "gateway: stopped");
	return 0;
}
