/*
 * svc_events: the part of an event consumer every service shares.
 *
 * A service consumes its queue on a background thread and hands each message
 * to itself over inproc RPC (so the event takes the same path, checks and
 * database connections as any request); the RPC's answer decides the ack.
 *
 * Threading: svc_events_consume runs on the calling background thread.
 */
#ifndef COMANDA_SVC_EVENTS_H
#define COMANDA_SVC_EVENTS_H

#include <stddef.h>

#include "bgthread.h"
#include "bus.h"

/* What a service's answer to an event means for its message: OK → ack;
 * UNAVAILABLE (a dependency is down) → wait: run it again in place, without
 * using up a delivery, for up to BUS_WAIT_MAX_MS at a time, so a database
 * outage of minutes dead-letters nothing; DEADLINE_EXCEEDED, ABORTED,
 * INTERNAL, RESOURCE_EXHAUSTED → retry later (after max deliveries:
 * dead-lettered); anything else (the event itself is wrong) → dead-letter
 * now. */
bus_outcome svc_events_outcome(int code);

/* The saga's queues (docs/EVENTS.md): one per consuming service, with the
 * event types bound to it. One table for both sides: a consumer declares its
 * own queue from it, and every outbox relay declares all of them before it
 * publishes (svc_events_declare_all). The broker confirms and drops an event
 * that no queue is bound for, so without that an order.created relayed
 * before svc-payment first started (a new deployment), or after the broker
 * lost its state (a new node), would be gone for good. */
typedef struct svc_events_topic {
	const char *queue;
	const char *const *keys;       /* routing keys bound to the queue */
	size_t n_keys;
	int max_deliveries;            /* then the dead-letter queue */
} svc_events_topic;

#define SVC_EVENTS_ORDER_QUEUE "order-service"     /* payment.* for svc-order */
#define SVC_EVENTS_PAYMENT_QUEUE "payment-service" /* order.* for svc-payment */

/* The table's entry for `queue`; NULL when it has none. */
const svc_events_topic *svc_events_topic_of(const char *queue);

/* Declares the shared topology and every queue of the table on b, so that
 * b's reconnects declare them too (bus_declare). 0, or -1 when one could not
 * be declared now (logged; the next connection of b declares it). */
int svc_events_declare_all(bus *b);

/* Creates a service's event series in /metrics at 0 (bus_metrics_publisher,
 * bus_metrics_consumer), so that they are exported, and alerts on them work,
 * before its first event: comanda_events_consumed_total of the types bound
 * to `consumed` (its own queue), comanda_events_published_total of the types
 * bound to `published_to` (the queue of the service its events are for: the
 * saga has one consumer per event type) and
 * comanda_events_publish_failures_total. Either may be NULL (nothing of that
 * side). Call before the admin port serves (svc_def.init). Any thread. */
void svc_events_metrics(const char *consumed, const char *published_to);

typedef struct svc_events_queue {
	const char *amqp_url;
	const char *self_url;          /* svc_self_url(): the service's inproc address */
	const char *app;               /* the connection's name at the broker */
	const svc_events_topic *topic; /* the queue consumed */
	int prefetch;
} svc_events_queue;

/* Declares q's queue and consumes it until t stops, calling fn with
 * arg = an rpc_client of the service itself. Reconnects by itself. */
void svc_events_consume(bgthread *t, const svc_events_queue *q, bus_handler fn);

#endif
