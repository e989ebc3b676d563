/*
 * live: the reporting of the integration programs that drive lib/ and the
 * services' modules against the stack's real servers (bus_live,
 * order_relay_live, ...). Each check prints "ok   <name>" or "FAIL <name>" (and
 * an indented reason), a skip "skip <name>: <why>"; live_finish prints
 * "<program>: N passed, M failed[, K skipped]", the line scripts/test.sh
 * counts, and gives the exit status.
 *
 * Threading: the main thread only (the counters are plain ints).
 */
#ifndef COMANDA_TESTS_LIVE_H
#define COMANDA_TESTS_LIVE_H

#include <stdbool.h>

#include <amqp.h>

void check(bool ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void skip(const char *name, const char *why);

/* A plain rabbitmq-c connection to the broker at url (AMQP_URL's form),
 * logged in, with channel 1 open and a 5 s timeout on every round trip: for
 * looking at queues behind lib/bus's back (basic.get, taps, deletes).
 * NULL when the broker cannot be reached or refuses us. Closed and freed
 * with live_amqp_close (NULL is fine), which returns any message taken and
 * not acked to its queue. */
amqp_connection_state_t live_amqp_open(const char *url);
void live_amqp_close(amqp_connection_state_t c);

/* Prints the summary line for program; returns 0 when nothing failed, else 1. */
int live_finish(const char *program);

#endif
