/*
 * bus_consume.c: bus_consume: a consumer loop with manual acks, retry
 * backoff, dead-lettering and reconnects. See bus.h for the contract.
 *
 * One message at a time: the handler's outcome is acked or nacked before
 * the next message is read, so "acked" always means "the handler finished".
 * amqp_consume_message waits at most BUS_POLL_MS, which is how often the
 * stop flag is looked at while the queue is idle (rabbitmq-c answers
 * heartbeats during that wait).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_impl.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

#define BUS_POLL_MS 200

/* Our consumer's tag: one consumer per channel, so a constant will do. */
#define BUS_CONSUMER_TAG "comanda.bus"

/* The bus_message of a delivery, its strings copied into one allocation
 * (AMQP strings are not NUL-terminated). */
typedef struct bus_decoded {
	bus_message m;
	int delivery;
	char *buf;        /* owns every string of m */
} bus_decoded;

/* Copies src, NUL-terminated, to *pos and advances *pos past it. */
static const char *bus_put(char **pos, amqp_bytes_t src)
{
	char *s = *pos;
	if (src.len > 0)
		memcpy(s, src.bytes, src.len);
	s[src.len] = '\0';
	*pos = s + src.len + 1;
	return s;
}

/* Fills d from the envelope: 0, or -1 when out of memory. */
static int bus_decode(const amqp_envelope_t *env, bus_decoded *d)
{
	const amqp_basic_properties_t *p = &env->message.properties;
	const amqp_table_t *h = (p->_flags & AMQP_BASIC_HEADERS_FLAG) ? &p->headers : NULL;
	amqp_bytes_t empty = { 0, NULL };
	/* The type property first, then the header, then the routing key:
	 * dead-lettering and shovels keep the first two. */
	amqp_bytes_t type = env->routing_key;
	if ((p->_flags & AMQP_BASIC_TYPE_FLAG) && p->type.len > 0)
		type = p->type;
	else if (!bus_table_bytes(h, "type", &type))
		type = env->routing_key;
	amqp_bytes_t mid = (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) ? p->message_id : empty;
	amqp_bytes_t cid = (p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) ? p->correlation_id : empty;
	amqp_bytes_t rid = empty;
	if (!bus_table_bytes(h, "request_id", &rid))
		rid = empty;
	d->buf = malloc(type.len + mid.len + cid.len + rid.len + 4);
	if (d->buf == NULL)
		return -1;
	char *pos = d->buf;
	d->m.type = bus_put(&pos, type);
	d->m.message_id = bus_put(&pos, mid);
	d->m.correlation_id = bus_put(&pos, cid);
	d->m.request_id = bus_put(&pos, rid);
	d->m.body = env->message.body.bytes;
	d->m.len = env->message.body.len;
	/* Quorum queues count failed deliveries in x-delivery-count (absent
	 * on the first); other queue types only say "redelivered". */
	int64_t count;
	if (bus_table_int(h, "x-delivery-count", &count) && count >= 0)
		d->delivery = count < INT_MAX - 1 ? (int)count + 1 : INT_MAX;
	else
		d->delivery = env->redelivered ? 2 : 1;
	return 0;
}

static const char *const bus_outcome_names[] = {
	[BUS_ACK] = "ack", [BUS_RETRY] = "retry", [BUS_REJECT] = "reject", [BUS_WAIT] = "wait",
};
#define BUS_OUTCOMES (sizeof(bus_outcome_names) / sizeof(bus_outcome_names[0]))

static metric *bus_consumed_series(const char *type, bus_outcome o)
{
	char labels[160];
	snprintf(labels, sizeof(labels), "type=\"%s\",outcome=\"%s\"", bus_type_label(type), bus_outcome_names[o]);
	return metrics_counter("comanda_events_consumed_total", "Events handled by consumers, by type and outcome", labels);
}

void bus_metrics_consumer(const char *const *types, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t o = 0; o < BUS_OUTCOMES; o++)
			(void)bus_consumed_series(types[i], (bus_outcome)o);
}

static void bus_count_outcome(const char *type, bus_outcome o)
{
	metrics_add(bus_consumed_series(type, o), 1);
}

/* Runs the handler on one delivery and settles it. -1 when the connection
 * broke while settling (dropped). */
static int bus_deliver(bus *b, const amqp_envelope_t *env, bus_handler fn, void *arg, const atomic_bool *stop)
{
	bus_decoded d = { 0 };
	bus_outcome o;
	bool waited = false; /* held for BUS_WAIT_MAX_MS already: no backoff before the nack */
	if (bus_decode(env, &d) != 0) {
		log_printf(LOG_ERROR, "bus: out of memory decoding a delivery; requeueing it");
		o = BUS_RETRY;
		d.delivery = 1;
	} else {
		/* BUS_WAIT: the same delivery again, in place, until the handler
		 * settles it or the hold is over (or a stop comes). */
		int64_t held_until = clock_mono_us() + (int64_t)BUS_WAIT_MAX_MS * 1000;
		for (int attempt = 1;; attempt++) {
			o = fn(&d.m, d.delivery, arg);
			if (o != BUS_ACK && o != BUS_RETRY && o != BUS_REJECT && o != BUS_WAIT) {
				log_printf(LOG_ERROR, "bus: handler returned %d for %s; retrying it", (int)o, d.m.type);
				o = BUS_RETRY;
			}
			bus_count_outcome(d.m.type, o);
			if (o != BUS_WAIT)
				break;
			if (clock_mono_us() >= held_until || bus_sleep(bus_retry_delay_ms(attempt), stop) ||
			    clock_mono_us() >= held_until) {
				o = BUS_RETRY;
				waited = true;
				break;
			}
		}
	}
	int rc;
	switch (o) {
	case BUS_ACK:
		rc = amqp_basic_ack(b->conn, env->channel, env->delivery_tag, 0);
		break;
	case BUS_REJECT:
		/* requeue=0: the queue dead-letters it to comanda.dead-letter. */
		rc = amqp_basic_nack(b->conn, env->channel, env->delivery_tag, 0, 0);
		break;
	default:
		/* Back off before handing it back: the broker redelivers a
		 * requeued message at once, and a handler failing on a dead
		 * dependency would otherwise spin. A stop cuts the wait short;
		 * the nack still goes out so the message is not held. */
		if (!waited)
			bus_sleep(bus_retry_delay_ms(d.delivery), stop);
		rc = amqp_basic_nack(b->conn, env->channel, env->delivery_tag, 0, 1);
		break;
	}
	free(d.buf);
	if (rc != AMQP_STATUS_OK) {
		bus_fail(b, "ack to", amqp_error_string2(rc));
		bus_drop(b);
		return -1;
	}
	return 0;
}

/* Connects if needed (replaying the declarations) and starts consuming.
 * 0, or -1 with the connection dropped, so the next attempt starts over
 * with a replay (which may recreate a deleted queue). */
static int bus_start(bus *b, const char *queue, int prefetch)
{
	if (!bus_ensure(b) || !bus_arm(b))
		return -1;
	amqp_basic_qos(b->conn, BUS_CHANNEL, 0, (uint16_t)prefetch, 0);
	if (bus_rpc_result(b, amqp_get_rpc_reply(b->conn), "basic.qos on") != 0) {
		bus_drop(b);
		return -1;
	}
	char what[320];
	snprintf(what, sizeof(what), "consume from queue %s", queue);
	if (!bus_arm(b))
		return -1;
	amqp_basic_consume(b->conn, BUS_CHANNEL, amqp_cstring_bytes(queue), amqp_cstring_bytes(BUS_CONSUMER_TAG), 0, 0,
	    0, amqp_empty_table);
	if (bus_rpc_result(b, amqp_get_rpc_reply(b->conn), what) != 0) {
		bus_drop(b);
		return -1;
	}
	bus_ok(b);
	return 0;
}

/* Handles the frame amqp_consume_message did not want (it put it back).
 * -1 when the consumer is gone (connection dropped). */
static int bus_other_frame(bus *b, const char *queue)
{
	const struct timeval zero = { 0, 0 };
	amqp_frame_t f;
	int rc = amqp_simple_wait_frame_noblock(b->conn, &f, &zero);
	if (rc == AMQP_STATUS_TIMEOUT)
		return 0;
	if (rc != AMQP_STATUS_OK) {
		bus_fail(b, "consume from", amqp_error_string2(rc));
		bus_drop(b);
		return -1;
	}
	if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
		/* The queue was deleted (consumer_cancel_notify): start over on a
		 * new connection, whose replay declares the queue again. */
		log_printf(LOG_WARN, "bus: the broker cancelled the consumer of queue %s", queue);
		b->failing = true;
		bus_drop(b);
		return -1;
	}
	return bus_async_frame(b, &f);
}

/* A clean stop: cancel the consumer, then handle what the broker already
 * sent us before it confirmed the cancel, instead of closing the channel on
 * it. On RabbitMQ 3.10 a message returned by a closing channel counts as a
 * failed delivery (x-delivery-count goes up) even though no handler saw it:
 * every restart of a service would use up delivery attempts of up to
 * `prefetch` messages and could dead-letter a healthy one. */
static void bus_finish(bus *b, bus_handler fn, void *arg, const atomic_bool *stop)
{
	/* A broker that does not confirm the cancel within the stop's grace
	 * (frozen) has the connection dropped instead: it then requeues the
	 * deliveries it had sent, none of them acked. */
	if (!bus_arm(b))
		return;
	amqp_basic_cancel(b->conn, BUS_CHANNEL, amqp_cstring_bytes(BUS_CONSUMER_TAG));
	/* While it waits for cancel-ok, rabbitmq-c queues the deliveries that
	 * came first, frames and all; read them back without waiting. */
	if (bus_rpc_result(b, amqp_get_rpc_reply(b->conn), "basic.cancel on") != 0)
		return;
	const struct timeval zero = { 0, 0 };
	while (b->conn != NULL) {
		amqp_envelope_t env;
		amqp_rpc_reply_t r = amqp_consume_message(b->conn, &env, &zero, 0);
		if (r.reply_type != AMQP_RESPONSE_NORMAL)
			break;
		bus_deliver(b, &env, fn, arg, stop);
		amqp_destroy_envelope(&env);
	}
}

/* Consumes until *stop or until the connection is lost (then dropped). */
static void bus_loop(bus *b, const char *queue, bus_handler fn, void *arg, const atomic_bool *stop)
{
	const struct timeval tick = { .tv_sec = 0, .tv_usec = BUS_POLL_MS * 1000 };
	while (b->conn != NULL && !atomic_load(stop)) {
		amqp_maybe_release_buffers(b->conn);
		amqp_envelope_t env;
		amqp_rpc_reply_t r = amqp_consume_message(b->conn, &env, &tick, 0);
		if (r.reply_type == AMQP_RESPONSE_NORMAL) {
			bus_deliver(b, &env, fn, arg, stop);
			amqp_destroy_envelope(&env);
			continue;
		}
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
			continue;
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
			bus_other_frame(b, queue);
			continue;
		}
		char why[256];
		bus_reply_text(r, why, sizeof(why));
		bus_fail(b, "consume from", why);
		bus_drop(b);
	}
	if (b->conn != NULL)
		bus_finish(b, fn, arg, stop);
}

int bus_consume(bus *b, const char *queue, int prefetch, bus_handler fn, void *arg, const atomic_bool *stop)
{
	if (queue == NULL || queue[0] == '\0' || strlen(queue) > BUS_SHORTSTR_MAX || prefetch < 1 ||
	    prefetch > 65535 || fn == NULL || stop == NULL) {
		log_printf(LOG_ERROR, "bus: bus_consume: invalid arguments");
		return -1;
	}
	int failures = 0;
	while (!atomic_load(stop)) {
		if (bus_start(b, queue, prefetch) != 0) {
			failures++;
			bus_sleep(bus_reconnect_delay_ms(failures), stop);
			continue;
		}
		failures = 0;
		bus_loop(b, queue, fn, arg, stop);
	}
	bus_close(b);
	return 0;
}
