/*
 * bus_impl: what the bus_*.c files share, and nothing else includes (unit
 * tests excepted: the pure helpers at the end are tested directly).
 *
 *   bus.c           the handle, connecting and reconnecting, bus_ping
 *   bus_topology.c  bus_declare (and its replay on connect), bus_queue_depth
 *   bus_publish.c   bus_publish, bus_publish_each and their confirm wait
 *   bus_confirms.c  the confirm bookkeeping of one batch (pure)
 *   bus_consume.c   bus_consume
 *   bus_util.c      field tables, names, backoff, metrics labels (pure)
 *
 * Threading: as bus.h; the pure helpers are thread-safe.
 */
#ifndef COMANDA_BUS_IMPL_H
#define COMANDA_BUS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include <amqp.h>

#include "bus.h"

/* The one channel of a handle's connection. */
#define BUS_CHANNEL 1

/* AMQP short strings (properties, names) are at most 255 bytes. */
#define BUS_SHORTSTR_MAX 255

/* One remembered bus_declare. */
typedef struct bus_decl {
	char *queue;                  /* NULL: the shared topology only */
	char **keys;
	size_t n_keys;
	int max_deliveries;
	struct bus_decl *next;
} bus_decl;

struct bus {
	char *url_buf;                    /* amqp_parse_url's fields point into it */
	struct amqp_connection_info ci;
	const char *vhost;
	char *app;
	int timeout_ms;
	amqp_connection_state_t conn;     /* NULL: not connected */
	bool failing;                     /* the last attempt failed (and was logged) */
	bool confirming;                  /* confirm.select done on this connection */
	bool blocked;                     /* the broker sent connection.blocked */
	uint64_t next_tag;                /* publish sequence number of the next publish */
	bus_decl *decls;                  /* remembered declarations, in call order */
};

/* ---- bus.c: the connection ---------------------------------------------------- */

/* Connects (and replays b->decls) unless connected. False when it failed
 * (logged once per run of failures). */
bool bus_ensure(bus *b);

/* Drops the connection without a goodbye (it is broken or unusable). */
void bus_drop(bus *b);

/* Closes the connection cleanly (bounded by the rpc timeout), if open. */
void bus_close(bus *b);
/* Sets how long the next synchronous call on the open connection waits for
 * the broker's answer: timeout_ms, or what is left of the process's stop
 * grace when that is less (lib/stopsig.h), so that a frozen broker holds a
 * stopping process no longer than the grace. Returns false when nothing is
 * left (or there is no connection): the connection is then dropped, and the
 * caller gives the call up as failed. Call it before each call that waits
 * for an answer. */
bool bus_arm(bus *b);

/* Logs a failure once per run of failures; `what` is "publish to" etc. */
void bus_fail(bus *b, const char *what, const char *why);

/* Notes that the connection works again (logs the recovery once). */
void bus_ok(bus *b);

/* Describes a failed rabbitmq-c reply for the log. */
void bus_reply_text(amqp_rpc_reply_t r, char *buf, size_t cap);

/* After a synchronous method (amqp_get_rpc_reply): 0 when it succeeded.
 * Otherwise logs it (as `what`), repairs the handle and returns -1: a
 * channel the broker closed is reopened (the connection is fine), anything
 * else drops the connection. */
int bus_rpc_result(bus *b, amqp_rpc_reply_t r, const char *what);

/* After the broker closed our channel with an error (404, 406, ...): says
 * channel.close-ok, as the protocol wants before the channel is reused, and
 * opens it again. The connection survives; -1 (dropped) when it does not. */
int bus_channel_reopen(bus *b);

/* Handles a frame nobody asked for (read while waiting for something else):
 * connection.blocked/unblocked, channel.close, connection.close. Returns -1
 * when the connection or channel is gone (b->conn is then NULL), else 0. */
int bus_async_frame(bus *b, const amqp_frame_t *f);

/* ---- bus_topology.c --------------------------------------------------------------- */

/* Declares d on the open connection. 0 or -1 (logged; handle repaired as
 * bus_rpc_result does). */
int bus_decl_apply(bus *b, const bus_decl *d);

/* Frees the remembered declarations. */
void bus_decls_free(bus *b);

/* ---- bus_confirms.c: which messages of a batch the broker confirmed ----------------- */

enum { BUS_PENDING = 0, BUS_ACKED = 1, BUS_NACKED = 2 };

typedef struct bus_confirms {
	uint64_t first;        /* publish sequence number of message 0 */
	size_t n;
	unsigned char *state;  /* BUS_PENDING / BUS_ACKED / BUS_NACKED per message */
} bus_confirms;

/* A batch of n messages published with sequence numbers first.. . 0 or -1
 * (out of memory). */
int bus_confirms_init(bus_confirms *c, uint64_t first, size_t n);
void bus_confirms_free(bus_confirms *c);

/* One basic.ack (ack true) or basic.nack from the broker. `multiple`
 * covers every sequence number up to tag (0 with multiple: all). A message
 * keeps its first answer; tags outside the batch (late answers to an earlier
 * one) are ignored. */
void bus_confirms_on(bus_confirms *c, uint64_t tag, bool multiple, bool ack);

/* How many messages from the start are acked. */
size_t bus_confirms_prefix(const bus_confirms *c);

/* True when waiting longer cannot change bus_confirms_prefix: every
 * message is acked, or the first one not acked is nacked. */
bool bus_confirms_settled(const bus_confirms *c);

/* True when every message has its answer (ack or nack): waiting longer
 * cannot change any of them (bus_publish_each's wait). */
bool bus_confirms_answered(const bus_confirms *c);

/* ---- bus_util.c: pure helpers ------------------------------------------------------ */

/* True when s is a valid event type / routing key: 1..255 of [A-Za-z0-9._-]. */
bool bus_type_valid(const char *s);

/* The metrics label value of an event type: s when bus_type_valid and at
 * most 64 bytes, else "invalid" (label values must not be able to break the
 * exposition format nor grow without bound). */
const char *bus_type_label(const char *s);

/* Finds key in a field table; NULL when absent. */
const amqp_field_value_t *bus_table_get(const amqp_table_t *t, const char *key);

/* Reads an integer field of any integer kind; false when absent or not an
 * integer. */
bool bus_table_int(const amqp_table_t *t, const char *key, int64_t *out);

/* Reads a string field (longstr or utf8 kind); false when absent or not a
 * string. */
bool bus_table_bytes(const amqp_table_t *t, const char *key, amqp_bytes_t *out);

/* Delay before the next reconnect attempt: 100 ms doubling per failure,
 * at most 5 s; failures counts from 1. */
int64_t bus_reconnect_delay_ms(int failures);

/* Delay before a BUS_RETRY nack of a message on its delivery-th delivery:
 * 100 ms doubling, at most 2 s. */
int64_t bus_retry_delay_ms(int delivery);

/* Sleeps ms milliseconds in slices of at most 100 ms; returns early (true)
 * when *stop becomes true. stop may be NULL. */
bool bus_sleep(int64_t ms, const atomic_bool *stop);

#endif
