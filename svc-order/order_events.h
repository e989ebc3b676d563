/*
 * order_events: svc-order's side of the saga.
 *
 *  - the outbox relay publishes the events kept inside order documents
 *    (written in the same single-document write as the change that causes
 *    them) with publisher confirms; a document's `outbox_published` counts
 *    the entries confirmed, and `outbox_pending` is cleared only when all
 *    are, by a write that checks nothing was appended meanwhile;
 *  - the consumer takes payment.completed / payment.failed / payment.refunded
 *    from the `order-service` queue and applies each through the service
 *    itself (ApplyPaymentResult over inproc RPC), which remembers the event
 *    id in the same write as its effect; it acks only after that.
 *
 * Threading: start and stop on the main thread (svc hooks); the work runs on
 * two background threads.
 */
#ifndef COMANDA_ORDER_EVENTS_H
#define COMANDA_ORDER_EVENTS_H

#include "order_db.h"
#include "svc.h"

/* Starts the relay (on a client of db's pool) and the consumer. 0 or -1. */
int order_events_start(svc *s, order_db *db);

/* Tells the relay that order `order_id` (24 hex) just got an event in its
 * outbox, so it publishes now rather than at its next scan. Any thread. */
void order_events_kick(const char *order_id);

/* Stops them (each finishes the event in hand). */
void order_events_stop(void);

/* "outbox_backlog" (orders with unpublished events) for /status, and its
 * gauge. Returns 0 or -1. */
int order_events_status(order_db *db, json_object *obj);

#endif
