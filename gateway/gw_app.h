/*
 * gw_app: what every gateway handler shares: the RPC clients of the three
 * services and the settings read at start-up. main.c owns the one instance;
 * handlers get it as their first argument and only read it.
 *
 * Threading: filled before httpd starts, read-only afterwards; the
 * rpc_client handles and the rate limiter are themselves thread-safe.
 */
#ifndef COMANDA_GW_APP_H
#define COMANDA_GW_APP_H

#include <stddef.h>
#include <stdint.h>

#include "jwt.h"
#include "rpc.h"
#include "version.h" /* COMANDA_VERSION, reported by /status */

typedef struct gw_cors gw_cors;
typedef struct gw_ratelimit gw_ratelimit;

typedef struct gw_app {
	rpc_client *user;            /* svc-user (USER_RPC_URL) */
	rpc_client *order;           /* svc-order (ORDER_RPC_URL) */
	rpc_client *payment;         /* svc-payment (PAYMENT_RPC_URL) */
	int health_timeout_ms;       /* HEALTH_TIMEOUT_MS: budget of one Health.Check */
	jwt_keys jwt;                /* JWT_SECRET (key; NULL: every token is refused) and
	                              * JWT_SECRET_PREVIOUS (previous, also accepted; NULL: none) */
	const char *version;         /* static */
	gw_ratelimit *limits;        /* rate limits (gw_ratelimit.h, thread-safe); NULL: none */
	const gw_cors *cors;         /* allowed origins (gw_cors.h); NULL: same origin only */
} gw_app;

#endif
