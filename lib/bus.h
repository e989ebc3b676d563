/*
 * bus: Comanda's connection to the event bus (RabbitMQ, AMQP 0-9-1, via
 * rabbitmq-c).
 *
 * For now it only keeps a connection open and checks that the broker answers
 * (the health monitor's "broker" dependency); publishing with confirms and
 * consuming come with the events issue and will live here too.
 *
 * Threading: a bus handle belongs to one thread at a time (rabbitmq-c
 * connections are not thread-safe).
 */
#ifndef COMANDA_BUS_H
#define COMANDA_BUS_H

#include <stdbool.h>

typedef struct bus bus;

/* A handle for the broker at `url` ("amqp://user:pass@host:5672/vhost"; an
 * empty vhost means "/"), with timeout_ms bounding every connect, login and
 * broker round trip. Does not connect yet. Returns NULL when the URL is
 * malformed (logged) or out of memory. */
bus *bus_new(const char *url, int timeout_ms, const char *app);

/* Closes the connection, if any, and frees b (NULL is fine). */
void bus_free(bus *b);

/* Makes sure the connection is open (connecting and logging in when it is
 * not) and that the broker answers a round trip on it. A connection that
 * fails is dropped and reopened by the next call. Returns true when the
 * broker answered. Blocks at most about 3 x timeout_ms. */
bool bus_ping(bus *b);

/* bus_ping in the shape of a health probe; arg is the bus. */
bool bus_probe(void *arg);

#endif
