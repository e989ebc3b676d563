/*
 * svc-order: orders and their status machine on MongoDB (FerretDB locally).
 * The handlers are in order_service.c; this file wires the database, the
 * client of svc-user and /status into the shared service skeleton.
 */
#include <sodium.h>

#include "cfg.h"
#include "comanda/order.rpc.h"
#include "log.h"
#include "order_db.h"
#include "order_events.h"
#include "order_service.h"
#include "stopsig.h"
#include "svc.h"
#include "svc_events.h"

/* Orders hold no secrets, so their idempotency fingerprints need no secret
 * key; a fixed one keeps them apart from other services' fingerprints. */
static const char order_fingerprint_key[] = "comanda-order-fingerprint";

static rpc_client *order_users;

/* Creates its event series, opens the pool (one client per worker), creates
 * the indexes (waiting for the server if it is not up yet) and registers the
 * "database" probe. */
static int order_init(svc *s)
{
	/* Its event series at 0 before the admin port serves /metrics: the
	 * payment.* it consumes, the order.* it publishes to svc-payment. */
	svc_events_metrics(SVC_EVENTS_ORDER_QUEUE, SVC_EVENTS_PAYMENT_QUEUE);
	/* RPC_TIMEOUT_MS, read the one way: svc-order's calls to svc-user
	 * and, the same in every program, the deadline its own callers give. */
	rpc_client_config uc;
	rpc_client_config_from_cfg(&uc, "USER_RPC_URL");
	int rpc_ms = uc.default_timeout_ms;
	/* One client per worker, whose answers must come within the RPC
	 * deadline (a caller's deadline is at most RPC_TIMEOUT_MS away, the
	 * gateway's); and one for the outbox relay. */
	int answer_ms = rpc_ms > 2 * SVC_REPLY_MARGIN_MS ? rpc_ms - SVC_REPLY_MARGIN_MS : rpc_ms / 2;
	order_db *db = order_db_open(cfg_str("ORDER_MONGO_URL"), svc_workers(s), svc_connect_timeout_s(s) * 1000,
	    answer_ms, "svc-order");
	if (db == NULL)
		return -1;
	svc_set_state(s, db);
	int backoff_ms = 250;
	int code;
	bson_error_t why = { 0 };
	while ((code = order_db_ensure_indexes(db, &why)) == COMANDA__CODE__UNAVAILABLE) {
		if (backoff_ms == 250) {
			/* with the server's answer: FerretDB's names its PostgreSQL */
			log_line l;
			log_begin(&l, LOG_WARN, "waiting for MongoDB to create the indexes");
			log_str(&l, "error", why.message);
			log_end(&l);
		}
		if (!stopsig_sleep(backoff_ms))
			return -1;
		backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
	}
	if (code != COMANDA__CODE__OK)
		return -1;
	health_add(svc_health(s), "database", order_db_probe, db);
	if (sodium_init() < 0)
		return -1;
	if (rpc_client_open(&order_users, &uc) != COMANDA__CODE__OK) {
		log_printf(LOG_ERROR, "USER_RPC_URL is not usable: %s", uc.urls);
		return -1;
	}
	order_service_config oc = {
		.db_name = order_db_name(db),
		.users = order_users,
		.user_check_timeout_ms = rpc_ms < 1000 ? rpc_ms : 1000,
		.hash_key = (const uint8_t *)order_fingerprint_key,
		.hash_key_len = sizeof(order_fingerprint_key) - 1,
	};
	order_service_configure(&oc);
	return 0;
}

static void order_fini(svc *s)
{
	rpc_client_close(order_users);
	order_users = NULL;
	order_db_close(svc_state(s));
}

/* Each worker holds one client of the pool for its whole life. */
static void *order_worker_init(svc *s, int index)
{
	(void)index;
	return order_db_pop(svc_state(s));
}

static void order_worker_fini(svc *s, void *worker)
{
	order_db_push(svc_state(s), worker);
}

/* /status: "total_orders". */
static int order_status(svc *s, pg_conn *db, json_object *obj)
{
	(void)db;
	int64_t n = 0;
	if (order_db_count(svc_state(s), &n) != COMANDA__CODE__OK)
		return -1;
	json_object_object_add(obj, "total_orders", json_object_new_int64(n));
	return order_events_status(svc_state(s), obj);
}

static int order_start(svc *s)
{
	return order_events_start(s, svc_state(s));
}

static void order_stop(svc *s)
{
	(void)s;
	order_events_stop();
}

static const svc_def order_svc = {
	.program = "svc-order",
	.service = "order-service",
	.rpc_listen_var = "ORDER_RPC_LISTEN",
	.admin_port_var = "ORDER_ADMIN_PORT",
	.cpus_var = "ORDER_CPUS",
	.binding = &order_service_binding,
	.impl = &order_service_handlers,
	.init = order_init,
	.fini = order_fini,
	.worker_init = order_worker_init,
	.worker_fini = order_worker_fini,
	.start = order_start,
	.stop = order_stop,
	.status = order_status,
};

int main(void)
{
	int status = svc_main(&order_svc);
	order_db_shutdown();
	return status;
}
