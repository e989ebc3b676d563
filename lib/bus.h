/*
 * bus: Comanda's event bus on RabbitMQ (AMQP 0-9-1, via rabbitmq-c 0.11).
 *
 * One handle is one broker connection with one channel, reopened by itself
 * whenever the broker goes away. On it:
 *
 *   bus_ping / bus_probe   a round trip, for the health monitor's "broker"
 *   bus_declare            the topology below, declared idempotently, and
 *                          remembered: every later reconnect of the handle
 *                          declares it again before anything else, so a
 *                          broker that lost its state gets it back
 *   bus_publish            a batch of events, with publisher confirms: the
 *                          caller learns exactly which prefix the broker took
 *   bus_publish_each       the same, answered per message: one event the
 *                          broker refuses does not hold back the others
 *   bus_consume            a consumer loop with manual acks, retry backoff and
 *                          dead-lettering, on the caller's thread
 *   bus_queue_depth        a queue's ready messages (the dead-letter count)
 *
 * Topology (docs/EVENTS.md, "Bus"):
 *   exchange comanda.events        topic, durable; routing key = event type
 *   exchange comanda.dead-letter   fanout, durable
 *   queue    comanda.dead-letter   quorum, durable, bound to the exchange above
 *   queue    <service queue>       quorum, durable, bound to comanda.events by
 *                                  each routing key; a message is delivered
 *                                  at most max_deliveries times, then (or at
 *                                  once on BUS_REJECT) it goes to
 *                                  comanda.dead-letter
 *
 * Messages: persistent (delivery_mode 2), content_type
 * "application/x-protobuf", the event type both as the routing key and as
 * the `type` property and header, message_id = event UUID, correlation_id =
 * order id, header `request_id`.
 *
 * Threading: a handle belongs to one thread at a time (rabbitmq-c connections
 * are not thread-safe). A service uses one handle per job: one for the health
 * probe, one for its publisher, one per consumer thread (bus_consume keeps
 * its handle for as long as it runs). Different handles are independent.
 */
#ifndef COMANDA_BUS_H
#define COMANDA_BUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bus bus;

/* Exchange and queue names every service shares. */
#define BUS_EXCHANGE "comanda.events"
#define BUS_DLX "comanda.dead-letter"
#define BUS_DLQ "comanda.dead-letter"

/* One event on the bus. In bus_publish the caller owns every field; in a
 * bus_handler the bus owns them and they are valid only during the call.
 * Strings are NUL-terminated; the ones marked optional may be NULL when
 * publishing and are "" when consumed and absent. */
typedef struct bus_message {
	const char *type;            /* routing key, e.g. "order.created": [A-Za-z0-9._-], 1..255 bytes */
	const char *message_id;      /* event UUID, 1..255 bytes */
	const char *correlation_id;  /* optional: the order id, at most 255 bytes */
	const char *request_id;      /* optional: header "request_id", at most 255 bytes */
	const void *body;            /* the protobuf encoding; may be NULL when len is 0 */
	size_t len;
} bus_message;

/* What a consumer's handler made of a message. */
typedef enum bus_outcome {
	BUS_ACK = 0,     /* done (also: already applied): ack, the broker forgets it */
	BUS_RETRY = 1,   /* transient failure: after a short backoff, nack with
	                  * requeue; after max_deliveries it is dead-lettered */
	BUS_REJECT = 2,  /* poison (undecodable, invalid): nack without requeue,
	                  * dead-lettered at once */
	BUS_WAIT = 3,    /* a dependency the handler needs is down: the bus keeps
	                  * the message and runs the handler on it again after a
	                  * backoff (100 ms doubling to 2 s), without counting a
	                  * delivery, for up to BUS_WAIT_MAX_MS; then it is a
	                  * BUS_RETRY. So an outage uses up one delivery per
	                  * BUS_WAIT_MAX_MS, not one per short backoff. */
} bus_outcome;

/* How long one delivery is held while its handler answers BUS_WAIT: well
 * inside the connection's heartbeat window, which is not served meanwhile. */
#define BUS_WAIT_MAX_MS 20000

/* A consumer's handler. `delivery` counts this message's deliveries to
 * consumers of its queue, this one included: 1 the first time, then
 * 1 + the broker's x-delivery-count (a queue without that header: 2 on any
 * redelivery). Runs on bus_consume's thread; must
 * return within about a minute (the connection's heartbeats are not
 * answered meanwhile) and must not use the consuming handle. */
typedef bus_outcome (*bus_handler)(const bus_message *m, int delivery, void *arg);

/* A handle for the broker at `url` ("amqp://user:pass@host:5672/vhost"; an
 * empty vhost means "/"), with timeout_ms bounding every connect, login and
 * broker round trip, and bus_publish's wait for confirms. Once the process
 * stops (lib/stopsig.h) they end STOPSIG_GRACE_MS after the signal at the
 * latest, except a round trip or login already under way at the signal,
 * which keeps its timeout_ms (rabbitmq-c waits inside it). `app` names the
 * connection in the broker's connection list. Does not connect yet. Returns
 * NULL when the URL is malformed (logged) or out of memory. Strings are
 * copied. */
bus *bus_new(const char *url, int timeout_ms, const char *app);

/* Closes the connection, if any, and frees b (NULL is fine). Not while
 * another thread uses b (bus_consume: set its stop flag and join first). */
void bus_free(bus *b);

/* Makes sure the connection is open (connecting and logging in when it is
 * not) and that the broker answers a round trip on it. A connection that
 * fails is dropped and reopened by the next call. Returns true when the
 * broker answered. Blocks at most about 3 x timeout_ms. */
bool bus_ping(bus *b);

/* bus_ping in the shape of a health probe; arg is the bus. */
bool bus_probe(void *arg);

/* Declares the shared topology (both exchanges and the dead-letter queue)
 * and, when queue is not NULL, the durable quorum queue `queue` with
 * x-delivery-limit and x-dead-letter-exchange comanda.dead-letter, bound to
 * comanda.events by each of keys[0..n_keys) (topic patterns allowed).
 * max_deliveries (1..1000) is how many times a message is delivered at
 * most before it is dead-lettered; ignored when queue is NULL.
 *
 * Idempotent: declaring what exists changes nothing. Bindings are only ever
 * added (drop a key by hand with `rabbitmqctl` or the management UI), and a
 * queue's arguments are fixed once it exists: declaring it again with another
 * max_deliveries fails (PRECONDITION_FAILED, logged).
 *
 * The declaration is also remembered in b (a later call for the same queue
 * replaces it) and replayed on every reconnect, before the connection is
 * used; so it is remembered even when this call fails because the broker is
 * down. Returns 0 when declared, -1 when not (logged; also on invalid
 * arguments or out of memory, which are not remembered). */
int bus_declare(bus *b, const char *queue, const char *const *keys, size_t n_keys, int max_deliveries);

/* Publishes msgs[0..n) to comanda.events with publisher confirms, then
 * waits at most timeout_ms for the broker's basic.ack / basic.nack.
 * Returns k (0..n): msgs[0..k) were confirmed (acked) by the broker; the
 * caller marks exactly those as sent and publishes the rest again later.
 * A message nacked, unconfirmed when the wait ends, or invalid (see
 * bus_message; logged) ends the prefix; messages after it may or may not
 * have reached the broker, so consumers must tolerate duplicates.
 * Returns -1 when the connection failed before any message was confirmed
 * (broker down, connection lost, channel closed: e.g. comanda.events not
 * declared on this handle); the connection is reopened by the next call.
 * Never counts a message the broker did not ack. n == 0 returns 0. */
int bus_publish(bus *b, const bus_message *msgs, size_t n);

/* Publishes msgs[0..n) to comanda.events with publisher confirms and waits
 * once, at most timeout_ms, until the broker has answered every one of
 * them; then acked[i] (an array of n the caller owns) is true exactly when
 * the broker acked msgs[i]. For an outbox relay that publishes a batch of
 * entries and marks the acked ones sent with one write.
 *
 * Unlike bus_publish, one message does not hold back the others: an invalid
 * one (see bus_message; logged) is not sent, a nacked or unanswered one is
 * false, and every other message is still sent and answered on its own.
 * Messages are sent in array order on the handle's one channel, so the
 * broker enqueues the ones it takes in that order (a message published
 * again later comes after the ones acked meanwhile: a caller that must keep
 * a group in order counts only the acked prefix of each group). A message
 * not acked may still have reached the broker: consumers must tolerate
 * duplicates.
 *
 * Returns the number of acked messages (0..n), or -1 when the connection
 * failed before any message was acked (broker down, connection lost,
 * channel closed); the connection is reopened by the next call. A
 * connection that breaks after some acks returns those. Under a resource
 * alarm it waits as bus_publish does and returns 0. Never marks a message
 * the broker did not ack. n == 0 returns 0; acked may be NULL only then.
 * Threading: the handle's, as every call here. */
int bus_publish_each(bus *b, const bus_message *msgs, size_t n, bool *acked);

/* Consumes `queue` on the caller's thread until *stop is true (checked at
 * least every 200 ms, also during backoffs), with manual acks and at most
 * `prefetch` (1..65535) unacknowledged messages in flight. Each message goes
 * to fn, one at a time; its outcome is acked / nacked as bus_outcome says
 * (BUS_RETRY after a backoff of 100 ms doubling per delivery up to 2 s).
 *
 * When the broker goes away (or cancels the consumer, e.g. the queue was
 * deleted) it reconnects by itself with exponential backoff, 100 ms doubling
 * up to 5 s; each reconnect replays b's declarations first (bus_declare the
 * queue on b before calling this), then consumes again. Messages unacked
 * when a connection breaks are redelivered by the broker, so a handler may
 * see a message again after it returned BUS_ACK: handlers are idempotent.
 *
 * Stopping cancels the consumer and still hands the messages the broker had
 * already sent (at most prefetch) to fn, with no retry backoff: returned
 * unhandled, each would use up one of its max_deliveries on RabbitMQ 3.10.
 * A broker that does not confirm the cancel within the process's stop grace
 * (frozen) has the connection dropped instead: it redelivers what it had
 * sent, none of it acked.
 *
 * Returns 0 once stopped (the connection closed, b reusable), -1 at once on
 * invalid arguments. */
int bus_consume(bus *b, const char *queue, int prefetch, bus_handler fn, void *arg, const atomic_bool *stop);

/* A publisher's and a consumer's series in /metrics, created at 0; without
 * this each one appears with the first event it counts, and an alert on
 * rate() or increase() of a series that is not there yet never fires
 * (docs/OPERATIONS.md). bus_metrics_publisher: comanda_events_publish_failures_total,
 * and comanda_events_published_total of each of types[0..n);
 * bus_metrics_consumer: comanda_events_consumed_total of each of
 * types[0..n) with each outcome (ack, retry, reject, wait). Labels as when
 * counted (an invalid type is "invalid"). Idempotent; any thread; needs no
 * handle. */
void bus_metrics_publisher(const char *const *types, size_t n);
void bus_metrics_consumer(const char *const *types, size_t n);

/* The number of ready messages in `queue` (a passive declare: creates
 * nothing), e.g. BUS_DLQ for the dead-letter count in /status and /metrics.
 * -1 when the queue does not exist or the broker cannot be reached. */
int64_t bus_queue_depth(bus *b, const char *queue);

#endif
