/*
 * gw_health: the gateway's health routes (../API.md "Health").
 *
 *   GET /health  200 {"status":"healthy","service":"api-gateway","timestamp"}
 *                the gateway process itself answers; no service is asked.
 *   GET /status  200 {"service":"api-gateway","status":"operational"|"degraded",
 *                "timestamp","version","services":{"user-service":
 *                "online"|"degraded"|"offline",...},"details":{...}}
 *                online: Health.Check answered SERVING; degraded: answered
 *                anything else (details name what is "down"); offline: the
 *                RPC failed or took longer than HEALTH_TIMEOUT_MS (details
 *                give the code). "operational" only when all are online.
 *   GET /ready   200 {"status":"ready",...} when all three are SERVING, else
 *                503 {"status":"not_ready","not_ready":[names],...}.
 *
 * The three checks run concurrently as RPCs that do not wait, so a hung
 * service costs one timeout in total, not three, and /status and /ready
 * hold no HTTP thread meanwhile (the connection is suspended, gw_call_defer).
 *
 * Threading: handlers run on HTTP threads and answer from NNG's;
 * gw_health_probe_async is reentrant.
 */
#ifndef COMANDA_GW_HEALTH_H
#define COMANDA_GW_HEALTH_H

#include <stddef.h>

#include "gw_app.h"
#include "gw_routes.h"
#include "httpd.h"
#include "rpc.h"

#define GW_HEALTH_SERVICES 3
#define GW_HEALTH_MAX_DOWN 8

typedef enum gw_health_state {
	GW_HEALTH_ONLINE = 0,
	GW_HEALTH_DEGRADED,
	GW_HEALTH_OFFLINE,
} gw_health_state;

/* What one Health.Check found. */
typedef struct gw_health_result {
	const char *name;               /* "user-service" (static) */
	gw_health_state state;
	int code;                       /* the RPC's Code (OK unless offline) */
	size_t n_down;                  /* degraded: the dependencies reported down */
	char down[GW_HEALTH_MAX_DOWN][32];
} gw_health_result;

/* Called once when every check of a probe has ended, with its results:
 * on an NNG thread, or on the caller's before gw_health_probe_async
 * returns when none could be sent. Must not block. */
typedef void (*gw_health_done_fn)(void *arg, gw_health_result out[]);

/* Checks n services at once without waiting: clients[i] (NULL counts as
 * offline) named names[i], each bounded by timeout_ms; request_id (may be
 * NULL; borrowed until done) travels in the RPC metadata. out[0..n) is
 * filled and must stay valid until done(arg, out) has run. */
void gw_health_probe_async(rpc_client *const clients[], const char *const names[], size_t n, int timeout_ms,
    const char *request_id, gw_health_result out[], gw_health_done_fn done, void *arg);

/* "online" / "degraded" / "offline". */
const char *gw_health_state_name(gw_health_state s);

/* The route handlers of GET /health, /status and /ready (shapes above);
 * /status and /ready answer within app->health_timeout_ms. */
void gw_health_get(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_health_status_get(gw_app *app, const gw_request *req, httpd_response *resp);
void gw_health_ready_get(gw_app *app, const gw_request *req, httpd_response *resp);

#endif
