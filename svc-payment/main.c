/*
 * svc-payment: payments, their audit ledger and the payment processor on
 * PostgreSQL. The handlers come with the payments issue; until then every
 * PaymentService method answers UNIMPLEMENTED and the process serves
 * Health, /health, /status and /metrics.
 */
#include <stdlib.h>

#include "comanda/payment.rpc.h"
#include "payment_migrations.h"
#include "svc.h"

static const payment_service_impl payment_handlers = { 0 };

/* /status: "total_payments" (all) and "total_amount", the completed ones in
 * major units. The database does the arithmetic in numeric, so the total is
 * exact: no int64 overflow, no binary fraction, and a product rather than a
 * division so no digit is rounded away; trim_scale drops zero decimals
 * (3660000, 19.9). The text goes out as the JSON number verbatim. */
static int payment_status(svc *s, pg_conn *db, json_object *obj)
{
	(void)s;
	PGresult *r = NULL;
	int code = pg_exec(db,
	    "SELECT count(*),"
	    " trim_scale(coalesce(sum(amount_minor) FILTER (WHERE status = 'completed'), 0) * 0.01)::text"
	    " FROM payments",
	    0, NULL, &r);
	if (code == COMANDA__CODE__OK) {
		const char *amount = PQgetvalue(r, 0, 1);
		json_object_object_add(obj, "total_payments", json_object_new_int64(strtoll(PQgetvalue(r, 0, 0), NULL, 10)));
		json_object_object_add(obj, "total_amount", json_object_new_double_s(strtod(amount, NULL), amount));
	}
	PQclear(r);
	return code == COMANDA__CODE__OK ? 0 : -1;
}

static const svc_def payment_svc = {
	.program = "svc-payment",
	.service = "payment-service",
	.rpc_listen_var = "PAYMENT_RPC_LISTEN",
	.admin_port_var = "PAYMENT_ADMIN_PORT",
	.binding = &payment_service_binding,
	.impl = &payment_handlers,
	.db_url_var = "PAYMENT_DB_URL",
	.migrations = payment_migrations,
	.n_migrations = PAYMENT_MIGRATIONS_COUNT,
	.status = payment_status,
};

int main(void)
{
	return svc_main(&payment_svc);
}
