#include "bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "log.h"

/* The broker drops a connection it has not heard from in two heartbeats;
 * bus_ping's round trips keep ours alive well within that. */
#define BUS_HEARTBEAT_S 30
#define BUS_CHANNEL 1

struct bus {
	char *url_buf;                    /* amqp_parse_url's fields point into it */
	struct amqp_connection_info ci;
	const char *vhost;
	char *app;
	struct timeval timeout;
	amqp_connection_state_t conn;     /* NULL: not connected */
	bool failing;                     /* the last attempt failed (and was logged) */
};

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
	b->timeout.tv_sec = timeout_ms / 1000;
	b->timeout.tv_usec = (timeout_ms % 1000) * 1000;
	return b;
}

/* Describes a failed rabbitmq-c reply for the log. */
static void bus_reply_text(amqp_rpc_reply_t r, char *buf, size_t cap)
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

/* Logs a failure once per run of failures, so a broker that stays down
 * costs one line, not two a second. */
static void bus_fail(bus *b, const char *what, const char *why)
{
	if (!b->failing)
		log_printf(LOG_WARN, "bus: %s %s:%d failed: %s", what, b->ci.host, b->ci.port, why);
	b->failing = true;
}

static void bus_drop(bus *b)
{
	if (b->conn != NULL)
		amqp_destroy_connection(b->conn);  /* also closes the socket */
	b->conn = NULL;
}

static bool bus_connect(bus *b)
{
	char why[256];
	amqp_connection_state_t c = amqp_new_connection();
	if (c == NULL)
		return false;
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	if (s == NULL) {
		amqp_destroy_connection(c);
		return false;
	}
	int rc = amqp_socket_open_noblock(s, b->ci.host, b->ci.port, &b->timeout);
	if (rc != AMQP_STATUS_OK) {
		bus_fail(b, "connect to", amqp_error_string2(rc));
		amqp_destroy_connection(c);
		return false;
	}
	amqp_set_handshake_timeout(c, &b->timeout);
	amqp_set_rpc_timeout(c, &b->timeout);
	/* The name shows in the broker's connection list. */
	amqp_table_entry_t prop = {
		.key = amqp_cstring_bytes("connection_name"),
		.value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(b->app) },
	};
	amqp_table_t props = { .num_entries = 1, .entries = &prop };
	amqp_rpc_reply_t r = amqp_login_with_properties(c, b->vhost, 0, AMQP_DEFAULT_FRAME_SIZE,
	    BUS_HEARTBEAT_S, &props, AMQP_SASL_METHOD_PLAIN, b->ci.user, b->ci.password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		bus_reply_text(r, why, sizeof(why));
		bus_fail(b, "login to", why);
		amqp_destroy_connection(c);
		return false;
	}
	amqp_channel_open(c, BUS_CHANNEL);
	r = amqp_get_rpc_reply(c);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		bus_reply_text(r, why, sizeof(why));
		bus_fail(b, "channel open on", why);
		amqp_destroy_connection(c);
		return false;
	}
	b->conn = c;
	return true;
}

bool bus_ping(bus *b)
{
	if (b->conn == NULL && !bus_connect(b))
		return false;
	/* A passive declare of a built-in exchange is the cheapest round trip
	 * that proves the broker serves this vhost: it exists in every vhost and
	 * needs no permission. */
	amqp_exchange_declare(b->conn, BUS_CHANNEL, amqp_cstring_bytes("amq.direct"), amqp_cstring_bytes("direct"),
	    1, 0, 0, 0, amqp_empty_table);
	amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);
	amqp_maybe_release_buffers(b->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		char why[256];
		bus_reply_text(r, why, sizeof(why));
		bus_fail(b, "round trip to", why);
		bus_drop(b);
		return false;
	}
	if (b->failing)
		log_printf(LOG_INFO, "bus: connected to %s:%d", b->ci.host, b->ci.port);
	b->failing = false;
	return true;
}

bool bus_probe(void *arg)
{
	return bus_ping(arg);
}

void bus_free(bus *b)
{
	if (b == NULL)
		return;
	if (b->conn != NULL) {
		/* A clean close, bounded by the rpc timeout, so the broker does not
		 * log an abrupt disconnect for every stopped service. */
		amqp_channel_close(b->conn, BUS_CHANNEL, AMQP_REPLY_SUCCESS);
		amqp_connection_close(b->conn, AMQP_REPLY_SUCCESS);
		bus_drop(b);
	}
	free(b->url_buf);
	free(b->app);
	free(b);
}
