/*
 * order_service: the OrderService handlers.
 *
 * Every change to an order is one single-document write; a status change is
 * a compare-and-set (the filter names the status it was read in), so of two
 * concurrent changes exactly one wins and the other is re-evaluated against
 * the new status. Events the change causes go into the same write (the
 * document's outbox), so a change and its event exist together or not at all.
 *
 * Authorization is checked here again: a customer reaches only its own
 * orders (another's is NOT_FOUND), admins reach all.
 *
 * Threading: order_service_configure once before serving; handlers on RPC
 * workers, each with its own MongoDB client (svc_worker).
 */
#ifndef COMANDA_ORDER_SERVICE_H
#define COMANDA_ORDER_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "comanda/order.rpc.h"
#include "rpc.h"

typedef struct order_service_config {
	const char *db_name;           /* the MongoDB database; must outlive the service */
	rpc_client *users;             /* svc-user, for CheckUser */
	int user_check_timeout_ms;     /* upper bound of that call */
	const uint8_t *hash_key;       /* keys request fingerprints (idempotency) */
	size_t hash_key_len;
} order_service_config;

void order_service_configure(const order_service_config *cfg);

extern const order_service_impl order_service_handlers;

#endif
