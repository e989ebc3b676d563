/*
 * svc-payment: payments, their audit ledger and the payment processor on
 * PostgreSQL. The handlers are in payment_service.c; this file wires the
 * processor, the client of svc-order and /status into lib/svc.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cfg.h"
#include "comanda/payment.rpc.h"
#include "log.h"
#include "payment_events.h"
#include "payment_migrations.h"
#include "payment_processor.h"
#include "payment_service.h"
#include "svc.h"
#include "svc_events.h"

static payment_processor payment_sim;
static rpc_client *payment_orders;

/* Idempotency fingerprints are keyed so a stored one reveals nothing. */
static const char payment_fingerprint_key[] = "comanda-payment-fingerprint";

/* Read by payment_configure. */
static struct {
	int64_t sim_limit_minor;
	int sim_slow_ms;
	int max_failed;
	rpc_client_config orders;
} payment_settings;

static int payment_configure(svc *s)
{
	(void)s;
	/* PAYMENT_SIM_LIMIT is in major units; the simulator compares minor. */
	payment_settings.sim_limit_minor = cfg_int("PAYMENT_SIM_LIMIT", 0, 90000000000000LL) * 100;
	payment_settings.sim_slow_ms = (int)cfg_int("PAYMENT_SIM_SLOW_MS", 0, 30000);
	payment_settings.max_failed = (int)cfg_int("PAYMENT_MAX_FAILED", 0, 1000000);
	rpc_client_config_from_cfg(&payment_settings.orders, "ORDER_RPC_URL");
	return 0;
}

static int payment_init(svc *s)
{
	/* Its event series at 0 before the admin port serves /metrics: the
	 * order.* it consumes, the payment.* it publishes to svc-order. */
	svc_events_metrics(SVC_EVENTS_PAYMENT_QUEUE, SVC_EVENTS_ORDER_QUEUE);
	if (sodium_init() < 0)
		return -1;
	/* The simulator keeps its charges in this service's database, so that
	 * a restart or another replica knows them (payment_processor.h), with a
	 * connection for each RPC worker: only the workers call it. */
	if (payment_simulator_init(&payment_sim, payment_settings.sim_limit_minor, payment_settings.sim_slow_ms,
	        cfg_str("PAYMENT_DB_URL"), svc_connect_timeout_s(s), svc_workers(s)) != 0) {
		log_printf(LOG_ERROR, "payment simulator: out of memory");
		return -1;
	}
	rpc_client_config oc = payment_settings.orders;
	int timeout_ms = oc.default_timeout_ms;
	if (rpc_client_open(&payment_orders, &oc) != COMANDA__CODE__OK) {
		log_printf(LOG_ERROR, "ORDER_RPC_URL is not usable: %s", oc.urls);
		return -1;
	}
	payment_service_config pc = {
		.orders = payment_orders,
		.order_timeout_ms = timeout_ms < 1000 ? timeout_ms : 1000,
		.processor = &payment_sim,
		.hash_key = (const uint8_t *)payment_fingerprint_key,
		.hash_key_len = sizeof(payment_fingerprint_key) - 1,
		.max_failed = payment_settings.max_failed,
	};
	payment_service_configure(&pc);
	return 0;
}

static void payment_fini(svc *s)
{
	(void)s;
	rpc_client_close(payment_orders);
	payment_orders = NULL;
	/* after the RPC workers are gone (svc_teardown): none calls it now */
	payment_simulator_free(&payment_sim);
}

/* /status: "total_payments" (all), "total_amount", the completed ones in
 * major units, and "total_amount_by_currency", the same per currency
 * (total_amount, the prototype's field, adds currencies together). One scan:
 * ROLLUP adds the row of all currencies (currency NULL) to the per-currency
 * ones, and gives it for an empty table too. The database does the
 * arithmetic in numeric, so the totals are exact: no int64 overflow, no
 * binary fraction, and a product rather than a division so no digit is
 * rounded away; trim_scale drops zero decimals (3660000, 19.9). The text
 * goes out as the JSON number verbatim. */
static int payment_status(svc *s, pg_conn *db, json_object *obj)
{
	(void)s;
	PGresult *r = NULL;
	int code = pg_exec(db,
	    "SELECT currency, count(*), count(*) FILTER (WHERE status = 'completed'),"
	    " trim_scale(coalesce(sum(amount_minor) FILTER (WHERE status = 'completed'), 0) * 0.01)::text"
	    " FROM payments GROUP BY ROLLUP (currency) ORDER BY currency",
	    0, NULL, &r);
	if (code != COMANDA__CODE__OK) {
		PQclear(r);
		return -1;
	}
	json_object *by = json_object_new_object();
	for (int i = 0; i < PQntuples(r); i++) {
		const char *amount = PQgetvalue(r, i, 3);
		json_object *value = json_object_new_double_s(strtod(amount, NULL), amount);
		if (PQgetisnull(r, i, 0)) {
			json_object_object_add(obj, "total_payments", json_object_new_int64(strtoll(PQgetvalue(r, i, 1), NULL, 10)));
			json_object_object_add(obj, "total_amount", value);
		} else if (by != NULL && strcmp(PQgetvalue(r, i, 2), "0") != 0) {
			json_object_object_add(by, PQgetvalue(r, i, 0), value);
		} else {
			json_object_put(value); /* a currency with no completed payment */
		}
	}
	PQclear(r);
	json_object_object_add(obj, "total_amount_by_currency", by);
	return payment_events_status(db, obj);
}

static const svc_def payment_svc = {
	.program = "svc-payment",
	.service = "payment-service",
	.rpc_listen_var = "PAYMENT_RPC_LISTEN",
	.admin_port_var = "PAYMENT_ADMIN_PORT",
	.cpus_var = "PAYMENT_CPUS",
	.binding = &payment_service_binding,
	.impl = &payment_service_handlers,
	.db_url_var = "PAYMENT_DB_URL",
	.migrations = payment_migrations,
	.n_migrations = PAYMENT_MIGRATIONS_COUNT,
	.configure = payment_configure,
	.init = payment_init,
	.fini = payment_fini,
	.start = payment_events_start,
	.stop = payment_events_stop,
	.status = payment_status,
};

int main(void)
{
	return svc_main(&payment_svc);
}
