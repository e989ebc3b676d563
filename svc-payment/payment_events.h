/*
 * payment_events: svc-payment's side of the saga.
 *
 *  - the outbox relay publishes the outbox rows (written in the same
 *    transaction as the payment changes that cause them) with publisher
 *    confirms, and marks a row published only once the broker confirmed it;
 *    while the broker is down the rows simply wait;
 *  - the consumer takes order.created and order.cancelled from the
 *    `payment-service` queue and hands each to the service itself
 *    (HandleOrderEvent over inproc RPC); it acks only after that commits,
 *    retries transient failures and dead-letters what can never succeed;
 *  - the recovery sweep settles card payments left pending by a process that
 *    died around a charge (SettlePayment), never charging twice.
 *
 * Threading: start and stop on the main thread (svc hooks); the work runs on
 * three background threads (relay, sweep, consumer), each with its own
 * connections, so that a processor call of the sweep that hangs (up to its
 * timeout) holds up neither the publishing of events nor their consuming.
 */
#ifndef COMANDA_PAYMENT_EVENTS_H
#define COMANDA_PAYMENT_EVENTS_H

#include "svc.h"

/* Starts the relay, the sweep and the consumer. 0 or -1. */
int payment_events_start(svc *s);

/* Tells the relay that an event was just committed to the outbox, so it
 * publishes now rather than at its next poll. Any thread; cheap. */
void payment_events_kick(void);

/* Stops them (each finishes the event in hand). */
void payment_events_stop(svc *s);

/* Adds "outbox_backlog" and "refunds_owed" to /status (and their gauges,
 * comanda_outbox_backlog and comanda_payments_refund_owed). Returns 0, or
 * -1 when they cannot be read now. Under svc's status lock (one caller). */
int payment_events_status(pg_conn *db, json_object *obj);

#endif
