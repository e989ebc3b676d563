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

typedef struct svc_events_queue {
	const char *amqp_url;
	const char *self_url;          /* svc_self_url(): the service's inproc address */
	const char *app;               /* the connection's name at the broker */
	const char *queue;
	const char *const *keys;       /* routing keys bound to the queue */
	size_t n_keys;
	int max_deliveries;
	int prefetch;
} svc_events_queue;

/* Declares q's queue and consumes it until t stops, calling fn with
 * arg = an rpc_client of the service itself. Reconnects by itself. */
void svc_events_consume(bgthread *t, const svc_events_queue *q, bus_handler fn);

#endif
