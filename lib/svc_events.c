#include "svc_events.h"

#include "comanda/rpc.pb-c.h"
#include "log.h"
#include "rpc.h"

bus_outcome svc_events_outcome(int code)
{
	switch (code) {
	case COMANDA__CODE__OK:
		return BUS_ACK;
	case COMANDA__CODE__UNAVAILABLE:
		return BUS_WAIT;
	case COMANDA__CODE__DEADLINE_EXCEEDED:
	case COMANDA__CODE__ABORTED:
	case COMANDA__CODE__INTERNAL:
	case COMANDA__CODE__RESOURCE_EXHAUSTED:
		return BUS_RETRY;
	default:
		return BUS_REJECT;
	}
}

void svc_events_consume(bgthread *t, const svc_events_queue *q, bus_handler fn)
{
	bus *b = bus_new(q->amqp_url, 2000, q->app);
	rpc_client *self = NULL;
	rpc_client_config sc = { .urls = q->self_url, .default_timeout_ms = 10000 };
	if (b == NULL || rpc_client_open(&self, &sc) != COMANDA__CODE__OK) {
		log_printf(LOG_ERROR, "%s: cannot start consuming %s", q->app, q->queue);
	} else {
		/* Declared once here; the bus replays it on every reconnect. */
		bus_declare(b, q->queue, q->keys, q->n_keys, q->max_deliveries);
		bus_consume(b, q->queue, q->prefetch, fn, self, bgthread_stop_flag(t));
	}
	rpc_client_close(self);
	bus_free(b);
}
