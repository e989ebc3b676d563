/*
 * bus_topology.c: bus_declare (the exchanges and queues, remembered and
 * replayed on reconnect) and bus_queue_depth. See bus.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_impl.h"
#include "log.h"

/* Upper bound of max_deliveries: a message that fails a thousand times is
 * poison however transient the cause looked. */
#define BUS_MAX_DELIVERIES 1000

static amqp_table_entry_t bus_entry_str(const char *key, const char *val)
{
	return (amqp_table_entry_t){ .key = amqp_cstring_bytes(key),
		.value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(val) } };
}

static amqp_table_entry_t bus_entry_i64(const char *key, int64_t val)
{
	return (amqp_table_entry_t){ .key = amqp_cstring_bytes(key),
		.value = { .kind = AMQP_FIELD_KIND_I64, .value.i64 = val } };
}

static int bus_exchange(bus *b, const char *name, const char *type)
{
	char what[320];
	snprintf(what, sizeof(what), "declare exchange %s", name);
	if (!bus_arm(b))
		return -1;
	amqp_exchange_declare(b->conn, BUS_CHANNEL, amqp_cstring_bytes(name), amqp_cstring_bytes(type),
	    0, 1, 0, 0, amqp_empty_table);
	return bus_rpc_result(b, amqp_get_rpc_reply(b->conn), what);
}

static int bus_queue(bus *b, const char *name, amqp_table_t args)
{
	char what[320];
	snprintf(what, sizeof(what), "declare queue %s", name);
	if (!bus_arm(b))
		return -1;
	amqp_queue_declare(b->conn, BUS_CHANNEL, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
	return bus_rpc_result(b, amqp_get_rpc_reply(b->conn), what);
}

static int bus_bind(bus *b, const char *queue, const char *exchange, const char *key)
{
	char what[640];
	snprintf(what, sizeof(what), "bind queue %s to %s by \"%s\"", queue, exchange, key);
	if (!bus_arm(b))
		return -1;
	amqp_queue_bind(b->conn, BUS_CHANNEL, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
	    amqp_cstring_bytes(key), amqp_empty_table);
	return bus_rpc_result(b, amqp_get_rpc_reply(b->conn), what);
}

int bus_decl_apply(bus *b, const bus_decl *d)
{
	/* Quorum queues: replicated and durable in a cluster, and the only
	 * classic-free way to get a broker-side delivery limit. */
	amqp_table_entry_t dlq_args[] = { bus_entry_str("x-queue-type", "quorum") };
	if (bus_exchange(b, BUS_EXCHANGE, "topic") != 0 || bus_exchange(b, BUS_DLX, "fanout") != 0 ||
	    bus_queue(b, BUS_DLQ, (amqp_table_t){ .num_entries = 1, .entries = dlq_args }) != 0 ||
	    bus_bind(b, BUS_DLQ, BUS_DLX, "") != 0)
		return -1;
	if (d->queue == NULL)
		return 0;
	/* RabbitMQ 3.10 dead-letters a message once it has been returned
	 * (nacked with requeue, or left unacked by a closed channel) more than
	 * x-delivery-limit times, i.e. on the failure of delivery limit + 1.
	 * at-least-once dead-lettering keeps a message in this queue until the
	 * dead-letter queue has it (the default, at-most-once, can lose it in
	 * between); the broker requires reject-publish overflow for it, which
	 * changes nothing here as the queue has no length limit. */
	amqp_table_entry_t args[] = {
		bus_entry_str("x-queue-type", "quorum"),
		bus_entry_i64("x-delivery-limit", d->max_deliveries - 1),
		bus_entry_str("x-dead-letter-exchange", BUS_DLX),
		bus_entry_str("x-dead-letter-strategy", "at-least-once"),
		bus_entry_str("x-overflow", "reject-publish"),
	};
	if (bus_queue(b, d->queue, (amqp_table_t){ .num_entries = 5, .entries = args }) != 0)
		return -1;
	for (size_t i = 0; i < d->n_keys; i++) {
		if (bus_bind(b, d->queue, BUS_EXCHANGE, d->keys[i]) != 0)
			return -1;
	}
	return 0;
}

static void bus_decl_free(bus_decl *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n_keys; i++)
		free(d->keys[i]);
	free(d->keys);
	free(d->queue);
	free(d);
}

void bus_decls_free(bus *b)
{
	while (b->decls != NULL) {
		bus_decl *next = b->decls->next;
		bus_decl_free(b->decls);
		b->decls = next;
	}
}

/* A deep copy of the arguments; NULL when out of memory. */
static bus_decl *bus_decl_new(const char *queue, const char *const *keys, size_t n_keys, int max_deliveries)
{
	bus_decl *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->max_deliveries = max_deliveries;
	if (queue != NULL && (d->queue = strdup(queue)) == NULL)
		goto fail;
	if (n_keys > 0) {
		d->keys = calloc(n_keys, sizeof(*d->keys));
		if (d->keys == NULL)
			goto fail;
		for (; d->n_keys < n_keys; d->n_keys++) {
			if ((d->keys[d->n_keys] = strdup(keys[d->n_keys])) == NULL)
				goto fail;
		}
	}
	return d;
fail:
	bus_decl_free(d);
	return NULL;
}

static bool bus_same_queue(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* Adds d to the remembered declarations, replacing one for the same queue
 * in place (so the replay order stays the order of first declaration). */
static void bus_remember(bus *b, bus_decl *d)
{
	for (bus_decl **p = &b->decls; *p != NULL; p = &(*p)->next) {
		if (bus_same_queue((*p)->queue, d->queue)) {
			d->next = (*p)->next;
			bus_decl_free(*p);
			*p = d;
			return;
		}
	}
	bus_decl **tail = &b->decls;
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = d;
}

static bool bus_name_valid(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	return n > 0 && n <= BUS_SHORTSTR_MAX;
}

int bus_declare(bus *b, const char *queue, const char *const *keys, size_t n_keys, int max_deliveries)
{
	if (queue != NULL) {
		bool ok = bus_name_valid(queue) && strncmp(queue, "amq.", 4) != 0 &&
		    max_deliveries >= 1 && max_deliveries <= BUS_MAX_DELIVERIES && (n_keys == 0 || keys != NULL);
		for (size_t i = 0; ok && i < n_keys; i++)
			ok = keys[i] != NULL && strlen(keys[i]) <= BUS_SHORTSTR_MAX;
		if (!ok) {
			log_printf(LOG_ERROR, "bus: bus_declare(%s): invalid arguments", queue);
			return -1;
		}
	} else {
		n_keys = 0;
		max_deliveries = 0;
	}
	bus_decl *d = bus_decl_new(queue, keys, n_keys, max_deliveries);
	if (d == NULL)
		return -1;
	bus_remember(b, d);
	/* A new connection replays every declaration, d included. A kept one
	 * may have died since its last use (a broker restart): then the
	 * failure dropped it, and one reconnect is worth trying at once. */
	if (b->conn != NULL && bus_decl_apply(b, d) == 0)
		return 0;
	if (b->conn != NULL)
		return -1;  /* refused by a working broker: logged, retrying won't help */
	return bus_ensure(b) ? 0 : -1;
}

int64_t bus_queue_depth(bus *b, const char *queue)
{
	if (!bus_name_valid(queue) || !bus_ensure(b) || !bus_arm(b))
		return -1;
	amqp_queue_declare_ok_t *ok =
	    amqp_queue_declare(b->conn, BUS_CHANNEL, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
	amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD &&
	    ((const amqp_channel_close_t *)r.reply.decoded)->reply_code == AMQP_NOT_FOUND) {
		/* No such queue: an answer, not a failure worth a line per scrape. */
		bus_channel_reopen(b);
		return -1;
	}
	if (r.reply_type != AMQP_RESPONSE_NORMAL || ok == NULL) {
		char what[320];
		snprintf(what, sizeof(what), "passive declare of queue %s", queue);
		bus_rpc_result(b, r, what);
		return -1;
	}
	int64_t depth = ok->message_count;
	amqp_maybe_release_buffers(b->conn);
	bus_ok(b);
	return depth;
}
