/*
 * bus_publish.c: bus_publish and bus_publish_each: a batch of events with
 * publisher confirms.
 *
 * The channel is put in confirm mode once per connection; from then on the
 * broker numbers our publishes 1, 2, ... and answers each with basic.ack or
 * basic.nack, possibly several at once ("multiple"). rabbitmq-c 0.11 has no
 * helper to wait for them, so after sending the batch we read frames until
 * every message is answered (bus_publish_each) or the prefix the caller gets
 * can no longer grow (bus_publish), or timeout_ms passes. Answers that
 * arrive after a wait gave up belong to an earlier batch; their sequence
 * numbers are below this batch's and bus_confirms ignores them. See bus.h
 * for the contract.
 */
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_impl.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "stopsig.h"

/* A message's fields fit the AMQP property types; logs why not. */
static bool bus_message_valid(const bus_message *m, size_t i)
{
	const char *why = NULL;
	if (!bus_type_valid(m->type))
		why = "type is not 1..255 of [A-Za-z0-9._-]";
	else if (m->message_id == NULL || m->message_id[0] == '\0' || strlen(m->message_id) > BUS_SHORTSTR_MAX)
		why = "message_id is not 1..255 bytes";
	else if (m->correlation_id != NULL && strlen(m->correlation_id) > BUS_SHORTSTR_MAX)
		why = "correlation_id is longer than 255 bytes";
	else if (m->request_id != NULL && strlen(m->request_id) > BUS_SHORTSTR_MAX)
		why = "request_id is longer than 255 bytes";
	else if (m->body == NULL && m->len > 0)
		why = "body is NULL";
	if (why != NULL)
		log_printf(LOG_ERROR, "bus: not publishing message %zu: %s", i, why);
	return why == NULL;
}

/* Reads the frames that are already there (late confirms, blocked
 * notices, a close) without waiting. -1 when the connection turned out to
 * be gone (dropped). */
static int bus_drain(bus *b)
{
	const struct timeval zero = { 0, 0 };
	while (b->conn != NULL) {
		amqp_frame_t f;
		int rc = amqp_simple_wait_frame_noblock(b->conn, &f, &zero);
		if (rc == AMQP_STATUS_TIMEOUT)
			break;
		if (rc != AMQP_STATUS_OK) {
			bus_fail(b, "connection to", amqp_error_string2(rc));
			bus_drop(b);
			return -1;
		}
		if (bus_async_frame(b, &f) != 0)
			return -1;
	}
	if (b->conn != NULL)
		amqp_maybe_release_buffers(b->conn);
	return b->conn != NULL ? 0 : -1;
}

/* Waits up to the deadline (monotonic us) for the next frame; passes it to
 * bus_async_frame unless it is a confirm, which goes to c. -1: connection
 * gone; 1: deadline passed; 0: a frame was handled. */
static int bus_wait_frame(bus *b, int64_t deadline_us, bus_confirms *c)
{
	/* Ended early by the stop's grace (lib/stopsig.h), which the poll on
	 * the socket sees at once: a frozen broker's confirms never come. */
	deadline_us = stopsig_limit(deadline_us);
	if (!amqp_frames_enqueued(b->conn) && !amqp_data_in_buffer(b->conn) &&
	    stopsig_poll(amqp_get_sockfd(b->conn), POLLIN, deadline_us) == 0)
		return 1;
	int64_t left = deadline_us - clock_mono_us();
	if (left < 1000)
		left = 1000; /* something to read: a moment to read it */
	struct timeval tv = { .tv_sec = left / 1000000, .tv_usec = left % 1000000 };
	amqp_frame_t f;
	int rc = amqp_simple_wait_frame_noblock(b->conn, &f, &tv);
	if (rc == AMQP_STATUS_TIMEOUT)
		return 1;
	if (rc != AMQP_STATUS_OK) {
		bus_fail(b, "confirm wait on", amqp_error_string2(rc));
		bus_drop(b);
		return -1;
	}
	if (f.frame_type == AMQP_FRAME_METHOD && f.channel == BUS_CHANNEL &&
	    f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
		const amqp_basic_ack_t *m = f.payload.method.decoded;
		if (c != NULL)
			bus_confirms_on(c, m->delivery_tag, m->multiple, true);
	} else if (f.frame_type == AMQP_FRAME_METHOD && f.channel == BUS_CHANNEL &&
	    f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
		const amqp_basic_nack_t *m = f.payload.method.decoded;
		if (c != NULL)
			bus_confirms_on(c, m->delivery_tag, m->multiple, false);
	} else if (bus_async_frame(b, &f) != 0) {
		return -1;
	}
	amqp_maybe_release_buffers(b->conn);
	return 0;
}

/* A connection in confirm mode that the broker lets us publish on.
 * Returns 0, 1 when the broker blocks publishing (still so after waiting
 * timeout_ms for it to unblock), -1 when there is no connection. */
static int bus_prepare(bus *b)
{
	/* A connection kept since the last call may have died meanwhile (a
	 * broker restart): finding out now costs nothing and lets this call
	 * reconnect at once instead of failing. */
	if (b->conn != NULL)
		bus_drain(b);
	if (!bus_ensure(b))
		return -1;
	if (!b->confirming) {
		if (!bus_arm(b))
			return -1;
		amqp_confirm_select(b->conn, BUS_CHANNEL);
		if (bus_rpc_result(b, amqp_get_rpc_reply(b->conn), "confirm.select on") != 0) {
			bus_drop(b);
			return -1;
		}
		b->confirming = true;
	}
	/* Under a resource alarm the broker stops reading our socket: sending
	 * would block in rabbitmq-c (it writes without a deadline) once the
	 * socket buffer fills. Wait for the all-clear instead, bounded. */
	int64_t deadline = clock_mono_us() + (int64_t)b->timeout_ms * 1000;
	while (b->blocked) {
		int rc = bus_wait_frame(b, deadline, NULL);
		if (rc < 0)
			return -1;
		if (rc > 0)
			return 1;
	}
	return 0;
}

/* The series of a publisher's metrics. */
static metric *bus_published_series(const char *type)
{
	char labels[128];
	snprintf(labels, sizeof(labels), "type=\"%s\"", bus_type_label(type));
	return metrics_counter("comanda_events_published_total", "Events the broker confirmed, by type", labels);
}

static metric *bus_failures_series(void)
{
	return metrics_counter("comanda_events_publish_failures_total",
	    "Events handed to bus_publish that the broker did not confirm", NULL);
}

void bus_metrics_publisher(const char *const *types, size_t n)
{
	(void)bus_failures_series();
	for (size_t i = 0; i < n; i++)
		(void)bus_published_series(types[i]);
}

/* The metrics of one message the broker acked. */
static void bus_count_ok(const bus_message *m)
{
	metrics_add(bus_published_series(m->type), 1);
}

/* The metrics of `failed` messages the broker did not ack. */
static void bus_count_failed(size_t failed)
{
	if (failed > 0)
		metrics_add(bus_failures_series(), failed);
}

static int bus_send(bus *b, const bus_message *m)
{
	amqp_table_entry_t headers[2] = {
		{ .key = amqp_cstring_bytes("type"),
		    .value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(m->type) } },
	};
	int n_headers = 1;
	if (m->request_id != NULL) {
		headers[n_headers++] = (amqp_table_entry_t){ .key = amqp_cstring_bytes("request_id"),
			.value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(m->request_id) } };
	}
	amqp_basic_properties_t p = {
		._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG |
		    AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_TIMESTAMP_FLAG,
		.content_type = amqp_cstring_bytes("application/x-protobuf"),
		.delivery_mode = AMQP_DELIVERY_PERSISTENT,
		.headers = { .num_entries = n_headers, .entries = headers },
		.message_id = amqp_cstring_bytes(m->message_id),
		.type = amqp_cstring_bytes(m->type),
		.timestamp = (uint64_t)(clock_wall_ms() / 1000),
	};
	if (m->correlation_id != NULL) {
		p._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
		p.correlation_id = amqp_cstring_bytes(m->correlation_id);
	}
	if (strlen(b->app) <= BUS_SHORTSTR_MAX) {
		p._flags |= AMQP_BASIC_APP_ID_FLAG;
		p.app_id = amqp_cstring_bytes(b->app);
	}
	/* rabbitmq-c takes the body as non-const bytes but only reads it. */
	amqp_bytes_t body = { .len = m->len, .bytes = (void *)m->body };
	int rc = amqp_basic_publish(b->conn, BUS_CHANNEL, amqp_cstring_bytes(BUS_EXCHANGE),
	    amqp_cstring_bytes(m->type), 0, 0, &p, body);
	if (rc != AMQP_STATUS_OK) {
		bus_fail(b, "publish to", amqp_error_string2(rc));
		bus_drop(b);
		return -1;
	}
	b->next_tag++;
	return 0;
}

/* Sends msgs[sel[j]] for j in [0, m) (msgs[j] when sel is NULL) in that
 * order, then reads frames until done(c) says waiting longer is useless,
 * the connection breaks (*lost, dropped) or timeout_ms passes. c gets one
 * entry per message sent, entry j for the j-th; the caller frees it.
 * Returns 0 when sent (c initialised), -1 when there is no connection, 1
 * when nothing was sent (the broker blocks publishing, or out of memory);
 * c is not initialised then. */
static int bus_publish_run(bus *b, const bus_message *msgs, const size_t *sel, size_t m,
    bool (*done)(const bus_confirms *), bus_confirms *c, bool *lost)
{
	*lost = false;
	int prep = bus_prepare(b);
	if (prep != 0)
		return prep;
	if (bus_confirms_init(c, b->next_tag, m) != 0)
		return 1;
	for (size_t j = 0; j < m && !*lost; j++)
		*lost = bus_send(b, &msgs[sel != NULL ? sel[j] : j]) != 0;
	int64_t deadline = clock_mono_us() + (int64_t)b->timeout_ms * 1000;
	while (!*lost && !done(c)) {
		int rc = bus_wait_frame(b, deadline, c);
		if (rc > 0)
			break;
		*lost = rc < 0;
	}
	return 0;
}

/* The end of a publish of n messages of which the broker acked k, the
 * connection lost or not: counts the ones not acked and gives the caller's
 * answer (bus.h: -1 only when nothing was acked on a lost connection). */
static int bus_publish_done(bus *b, size_t n, size_t k, bool lost)
{
	bus_count_failed(n - k);
	if (lost && k == 0)
		return -1;
	if (!lost)
		bus_ok(b);
	return (int)k;
}

int bus_publish(bus *b, const bus_message *msgs, size_t n)
{
	if (n == 0)
		return 0;
	if (n > INT_MAX)
		n = INT_MAX;  /* the count must fit the return value; the rest waits */
	size_t valid = 0;
	while (valid < n && bus_message_valid(&msgs[valid], valid))
		valid++;
	if (valid == 0) {
		bus_count_failed(n);
		return 0;
	}
	bus_confirms c;
	bool lost;
	int rc = bus_publish_run(b, msgs, NULL, valid, bus_confirms_settled, &c, &lost);
	if (rc != 0) {
		bus_count_failed(n);
		return rc < 0 ? -1 : 0;
	}
	size_t k = bus_confirms_prefix(&c);
	if (!lost && k < valid && b->conn != NULL) {
		/* Not an outage (the connection still works), but worth knowing:
		 * a nack (broker-side failure) or a slow broker. */
		log_printf(LOG_WARN, "bus: broker confirmed %zu of %zu messages (%s)", k, valid,
		    c.state[k] == BUS_NACKED ? "nacked" : "no answer in time");
	}
	bus_confirms_free(&c);
	for (size_t i = 0; i < k; i++)
		bus_count_ok(&msgs[i]);
	return bus_publish_done(b, n, k, lost);
}

int bus_publish_each(bus *b, const bus_message *msgs, size_t n, bool *acked)
{
	for (size_t i = 0; i < n; i++)
		acked[i] = false;
	if (n == 0)
		return 0;
	if (n > INT_MAX)
		n = INT_MAX;  /* the count must fit the return value; the rest stay false */
	/* The valid ones, in order: an invalid message is skipped, not a stop. */
	size_t *sel = malloc(n * sizeof(*sel));
	if (sel == NULL) {
		bus_count_failed(n);
		return 0;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (bus_message_valid(&msgs[i], i))
			sel[m++] = i;
	}
	bus_confirms c;
	bool lost = false;
	int rc = m > 0 ? bus_publish_run(b, msgs, sel, m, bus_confirms_answered, &c, &lost) : 1;
	if (rc != 0) {
		free(sel);
		bus_count_failed(n);
		return rc < 0 ? -1 : 0;
	}
	size_t k = 0, nacked = 0;
	for (size_t j = 0; j < m; j++) {
		if (c.state[j] == BUS_ACKED) {
			acked[sel[j]] = true;
			bus_count_ok(&msgs[sel[j]]);
			k++;
		} else if (c.state[j] == BUS_NACKED) {
			nacked++;
		}
	}
	if (!lost && k < m && b->conn != NULL) {
		/* Not an outage (the connection still works), but worth knowing. */
		log_printf(LOG_WARN, "bus: broker confirmed %zu of %zu messages (%zu nacked, %zu without an answer in time)",
		    k, m, nacked, m - k - nacked);
	}
	bus_confirms_free(&c);
	free(sel);
	return bus_publish_done(b, n, k, lost);
}
