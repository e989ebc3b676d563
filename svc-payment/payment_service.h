/*
 * payment_service: the PaymentService handlers, the charge and refund
 * flows, and the entry point of the order events.
 *
 * Every status change is one transaction that moves the payment with a
 * compare-and-set (WHERE status = the expected one), appends its audit
 * entry and writes its event to the outbox, so the three exist together or
 * not at all. A charge or refund is attempted at most once per payment:
 * the worker that sets the payment's charge (refund) marker calls the
 * processor; nobody else does.
 *
 * Threading: payment_service_configure once before serving; handlers on RPC
 * workers, each with its own database connection (svc_db).
 */
#ifndef COMANDA_PAYMENT_SERVICE_H
#define COMANDA_PAYMENT_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "comanda/payment.rpc.h"
#include "payment_processor.h"
#include "rpc.h"

typedef struct payment_service_config {
	rpc_client *orders;                 /* svc-order, for GetOrderSummary */
	int order_timeout_ms;               /* upper bound of that call */
	const payment_processor *processor; /* must outlive the service */
	const uint8_t *hash_key;            /* keys idempotency fingerprints */
	size_t hash_key_len;
	int max_failed;                     /* failed payments an order may have; 0: no limit */
} payment_service_config;

void payment_service_configure(const payment_service_config *cfg);

extern const payment_service_impl payment_service_handlers;

#endif
