#include "svc_events.h"

#include <string.h>

#include "comanda/rpc.pb-c.h"
#include "log.h"
#include "rpc.h"

#define SVC_EVENTS_N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const svc_events_order_keys[] = { "payment.completed", "payment.failed", "payment.refunded" };
static const char *const svc_events_payment_keys[] = { "order.created", "order.cancelled" };

/* 10 deliveries: a broker restart costs prefetched messages one. */
static const svc_events_topic svc_events_topology[] = {
	{ SVC_EVENTS_ORDER_QUEUE, svc_events_order_keys, SVC_EVENTS_N(svc_events_order_keys), 10 },
	{ SVC_EVENTS_PAYMENT_QUEUE, svc_events_payment_keys, SVC_EVENTS_N(svc_events_payment_keys), 10 },
};

const svc_events_topic *svc_events_topic_of(const char *queue)
{
	for (size_t i = 0; i < SVC_EVENTS_N(svc_events_topology); i++)
		if (strcmp(svc_events_topology[i].queue, queue) == 0)
			return &svc_events_topology[i];
	return NULL;
}

int svc_events_declare_all(bus *b)
{
	/* each queue's declaration declares the shared topology first */
	int rc = 0;
	for (size_t i = 0; i < SVC_EVENTS_N(svc_events_topology); i++) {
		const svc_events_topic *t = &svc_events_topology[i];
		if (bus_declare(b, t->queue, t->keys, t->n_keys, t->max_deliveries) != 0)
			rc = -1;
	}
	return rc;
}

void svc_events_metrics(const char *consumed, const char *published_to)
{
	const svc_events_topic *in = consumed != NULL ? svc_events_topic_of(consumed) : NULL;
	const svc_events_topic *out = published_to != NULL ? svc_events_topic_of(published_to) : NULL;
	if (in != NULL)
		bus_metrics_consumer(in->keys, in->n_keys);
	if (out != NULL)
		bus_metrics_publisher(out->keys, out->n_keys);
}

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
		log_printf(LOG_ERROR, "%s: cannot start consuming %s", q->app, q->topic->queue);
	} else {
		/* Declared once here; the bus replays it on every reconnect. */
		const svc_events_topic *tp = q->topic;
		bus_declare(b, tp->queue, tp->keys, tp->n_keys, tp->max_deliveries);
		bus_consume(b, tp->queue, q->prefetch, fn, self, bgthread_stop_flag(t));
	}
	rpc_client_close(self);
	bus_free(b);
}
