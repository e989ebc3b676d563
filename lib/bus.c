/*
 * bus.c: the handle and its connection: connecting (and replaying the
 * remembered declarations), repairing after errors, bus_ping. See bus.h for
 * the contract and bus_impl.h for how the module is split.
 */
#include "bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp_tcp_socket.h>

#include "bus_impl.h"
#include "clock.h"
#include "log.h"
#include "stopsig.h"

/* The broker drops a connection it has not heard from in two heartbeats.
 * rabbitmq-c answers them while it waits for frames (bus_consume's loop,
 * the confirm wait); bus_ping's round trips keep an idle handle alive. */
#define BUS_HEARTBEAT_S 30

bus *bus_new(const char *url, int timeout_ms, const char *app)
{
	bus *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->url_buf = strdup(url);
	b->app = strdup(app);
	if (b->url_buf == NULL || b->app == NULL) {
		bus_free(b);
		return NULL;
	}
	int rc = amqp_parse_url(b->url_buf, &b->ci);
	if (rc != AMQP_STATUS_OK || b->ci.ssl) {
		/* The URL carries a password: name the problem, not the URL. */
		log_printf(LOG_ERROR, "bus: AMQP_URL is not a valid amqp:// URL (%s)",
		    rc != AMQP_STATUS_OK ? amqp_error_string2(rc) : "amqps is not supported");
		bus_free(b);
		return NULL;
	}
	/* "amqp://host/" parses to the empty vhost, which RabbitMQ does not have;
	 * everyone writing it means the default one. */
	b->vhost = b->ci.vhost[0] != '\0' ? b->ci.vhost : "/";
	if (timeout_ms < 1)
		timeout_ms = 1;
	b->timeout_ms = timeout_ms;
	return b;
}

void bus_reply_text(amqp_rpc_reply_t r, char *buf, size_t cap)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(buf, cap, "%s", amqp_error_string2(r.library_error));
		break;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			const amqp_connection_close_t *m = r.reply.decoded;
			snprintf(buf, cap, "broker closed the connection: %u %.*s", m->reply_code,
			    (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		} else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			const amqp_channel_close_t *m = r.reply.decoded;
			snprintf(buf, cap, "broker closed the channel: %u %.*s", m->reply_code,
			    (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		} else {
			snprintf(buf, cap, "broker error (method 0x%08x)", (unsigned)r.reply.id);
		}
		break;
	default:
		snprintf(buf, cap, "no reply");
		break;
	}
}

void bus_fail(bus *b, const char *what, const char *why)
{
	/* Once per run of failures, so a broker that stays down costs one
	 * line, not two a second. */
	if (!b->failing)
		log_printf(LOG_WARN, "bus: %s %s:%d failed: %s", what, b->ci.host, b->ci.port, why);
	b->failing = true;
}

void bus_ok(bus *b)
{
	if (b->failing)
		log_printf(LOG_INFO, "bus: connected to %s:%d", b->ci.host, b->ci.port);
	b->failing = false;
}

/* How long a wait for the broker may take now (us): timeout_ms, cut by the
 * stop's grace; 0 or less when none is left. */
static int64_t bus_wait_us(const bus *b)
{
	int64_t now = clock_mono_us();
	return stopsig_limit(now + (int64_t)b->timeout_ms * 1000) - now;
}

static struct timeval bus_timeval(int64_t us)
{
	return (struct timeval){ .tv_sec = us / 1000000, .tv_usec = us % 1000000 };
}

bool bus_arm(bus *b)
{
	int64_t us = bus_wait_us(b);
	if (b->conn == NULL || us <= 0) {
		bus_drop(b);
		return false;
	}
	struct timeval tv = bus_timeval(us);
	amqp_set_rpc_timeout(b->conn, &tv);
	return true;
}

void bus_drop(bus *b)
{
	if (b->conn != NULL)
		amqp_destroy_connection(b->conn);  /* also closes the socket */
	b->conn = NULL;
	b->confirming = false;
	b->blocked = false;
}

/* Opens channel BUS_CHANNEL on the connection; -1 (logged, connection
 * dropped) when the broker refuses. A fresh channel is not in confirm mode
 * and numbers its publishes from 1. */
static int bus_channel_open(bus *b)
{
	if (!bus_arm(b))
		return -1;
	amqp_channel_open(b->conn, BUS_CHANNEL);
	amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		char why[256];
		bus_reply_text(r, why, sizeof(why));
		bus_fail(b, "channel open on", why);
		bus_drop(b);
		return -1;
	}
	b->confirming = false;
	b->next_tag = 1;
	return 0;
}

int bus_channel_reopen(bus *b)
{
	amqp_channel_close_ok_t ok = { 0 };
	if (amqp_send_method(b->conn, BUS_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK) {
		bus_drop(b);
		return -1;
	}
	return bus_channel_open(b);
}

/* The broker closed the connection: answer close-ok (politeness; the
 * broker closes the socket either way) and forget it. */
static void bus_connection_closed(bus *b)
{
	amqp_connection_close_ok_t ok = { 0 };
	amqp_send_method(b->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
	bus_drop(b);
}

int bus_rpc_result(bus *b, amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 0;
	char why[256];
	bus_reply_text(r, why, sizeof(why));
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
		/* A refusal of this one request (a missing queue, arguments that
		 * differ from the existing queue's): always worth a line. */
		log_printf(LOG_WARN, "bus: %s on %s:%d refused: %s", what, b->ci.host, b->ci.port, why);
		bus_channel_reopen(b);
		return -1;
	}
	bus_fail(b, what, why);
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
		bus_connection_closed(b);
	else
		bus_drop(b);
	return -1;
}

int bus_async_frame(bus *b, const amqp_frame_t *f)
{
	if (f->frame_type != AMQP_FRAME_METHOD)
		return 0;
	char why[256];
	switch (f->payload.method.id) {
	case AMQP_CONNECTION_BLOCKED_METHOD: {
		/* A resource alarm (memory, disk): the broker stops reading from
		 * publishers until it clears. */
		const amqp_connection_blocked_t *m = f->payload.method.decoded;
		log_printf(LOG_WARN, "bus: broker %s:%d blocks publishing: %.*s", b->ci.host, b->ci.port,
		    (int)m->reason.len, (const char *)m->reason.bytes);
		b->blocked = true;
		return 0;
	}
	case AMQP_CONNECTION_UNBLOCKED_METHOD:
		log_printf(LOG_INFO, "bus: broker %s:%d accepts publishing again", b->ci.host, b->ci.port);
		b->blocked = false;
		return 0;
	case AMQP_CHANNEL_CLOSE_METHOD: {
		/* An asynchronous channel error (publishing to a missing exchange,
		 * acking an unknown tag): whatever was in flight on the channel is
		 * lost with it, so start over on a new connection. */
		const amqp_channel_close_t *m = f->payload.method.decoded;
		snprintf(why, sizeof(why), "broker closed the channel: %u %.*s", m->reply_code,
		    (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		log_printf(LOG_WARN, "bus: %s:%d: %s", b->ci.host, b->ci.port, why);
		b->failing = true;
		bus_drop(b);
		return -1;
	}
	case AMQP_CONNECTION_CLOSE_METHOD: {
		const amqp_connection_close_t *m = f->payload.method.decoded;
		snprintf(why, sizeof(why), "broker closed the connection: %u %.*s", m->reply_code,
		    (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		bus_fail(b, "connection to", why);
		bus_connection_closed(b);
		return -1;
	}
	default:
		return 0;
	}
}

static bool bus_connect(bus *b)
{
	char why[256];
	/* Connecting and logging in wait for the broker as any call does: at
	 * most timeout_ms, less when stopping, and not at all once the stop's
	 * grace is over. */
	int64_t wait_us = bus_wait_us(b);
	if (wait_us <= 0)
		return false;
	struct timeval wait = bus_timeval(wait_us);
	amqp_connection_state_t c = amqp_new_connection();
	if (c == NULL)
		return false;
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	if (s == NULL) {
		amqp_destroy_connection(c);
		return false;
	}
	int rc = amqp_socket_open_noblock(s, b->ci.host, b->ci.port, &wait);
	if (rc != AMQP_STATUS_OK) {
		bus_fail(b, "connect to", amqp_error_string2(rc));
		amqp_destroy_connection(c);
		return false;
	}
	amqp_set_handshake_timeout(c, &wait);
	amqp_set_rpc_timeout(c, &wait);
	/* connection_name shows in the broker's connection list. The
	 * capabilities (merged into rabbitmq-c's own) ask the broker to tell us
	 * when it blocks publishers and when it cancels our consumer (a deleted
	 * queue), instead of going silent. */
	amqp_table_entry_t caps[] = {
		{ .key = amqp_cstring_bytes("connection.blocked"),
		    .value = { .kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1 } },
		{ .key = amqp_cstring_bytes("consumer_cancel_notify"),
		    .value = { .kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1 } },
	};
	amqp_table_entry_t props[] = {
		{ .key = amqp_cstring_bytes("connection_name"),
		    .value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(b->app) } },
		{ .key = amqp_cstring_bytes("capabilities"),
		    .value = { .kind = AMQP_FIELD_KIND_TABLE,
		        .value.table = { .num_entries = 2, .entries = caps } } },
	};
	amqp_table_t props_table = { .num_entries = 2, .entries = props };
	amqp_rpc_reply_t r = amqp_login_with_properties(c, b->vhost, 0, AMQP_DEFAULT_FRAME_SIZE,
	    BUS_HEARTBEAT_S, &props_table, AMQP_SASL_METHOD_PLAIN, b->ci.user, b->ci.password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		bus_reply_text(r, why, sizeof(why));
		bus_fail(b, "login to", why);
		amqp_destroy_connection(c);
		return false;
	}
	b->conn = c;
	b->blocked = false;
	return bus_channel_open(b) == 0;
}

bool bus_ensure(bus *b)
{
	if (b->conn != NULL)
		return true;
	if (!bus_connect(b))
		return false;
	/* Replay before anyone uses the connection: a consumer must not
	 * consume from, nor a publisher publish to, what a fresh broker lacks. */
	for (const bus_decl *d = b->decls; d != NULL; d = d->next) {
		if (bus_decl_apply(b, d) != 0) {
			bus_drop(b);
			return false;
		}
	}
	bus_ok(b);
	return true;
}

bool bus_ping(bus *b)
{
	if (!bus_ensure(b))
		return false;
	/* A passive declare of a built-in exchange is the cheapest round trip
	 * that proves the broker serves this vhost: it exists in every vhost and
	 * needs no permission. */
	if (!bus_arm(b))
		return false;
	amqp_exchange_declare(b->conn, BUS_CHANNEL, amqp_cstring_bytes("amq.direct"), amqp_cstring_bytes("direct"),
	    1, 0, 0, 0, amqp_empty_table);
	amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);
	if (bus_rpc_result(b, r, "round trip to") != 0)
		return false;
	amqp_maybe_release_buffers(b->conn);
	bus_ok(b);
	return true;
}

bool bus_probe(void *arg)
{
	return bus_ping(arg);
}

void bus_close(bus *b)
{
	if (b->conn == NULL)
		return;
	/* A clean close, bounded by the rpc timeout (and the stop's grace:
	 * bus_arm), so the broker does not log an abrupt disconnect for every
	 * stopped service. */
	if (!bus_arm(b))
		return;
	amqp_channel_close(b->conn, BUS_CHANNEL, AMQP_REPLY_SUCCESS);
	if (!bus_arm(b))
		return;
	amqp_connection_close(b->conn, AMQP_REPLY_SUCCESS);
	bus_drop(b);
}

void bus_free(bus *b)
{
	if (b == NULL)
		return;
	bus_close(b);
	bus_decls_free(b);
	free(b->url_buf);
	free(b->app);
	free(b);
}
