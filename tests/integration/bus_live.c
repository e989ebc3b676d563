/*
 * bus_live: lib/bus against a real RabbitMQ, run by tests/integration/
 * test_bus.sh (which builds it and passes the stack's broker).
 *
 * Environment:
 *   AMQP_URL                      the broker (required)
 *   BUS_LIVE_KILL, BUS_LIVE_START shell commands that kill the broker
 *                                 (SIGKILL) and start it again; without
 *                                 them the restart test is skipped
 *   BUS_LIVE_PAUSE, BUS_LIVE_RESUME  commands that freeze and thaw the broker
 *                                 (SIGSTOP / SIGCONT); without them the
 *                                 confirm-timeout test is skipped
 *
 * Everything it creates is named after this run (comanda.test.<run>.*
 * queues, test.<run>.* routing keys) so it can share the broker with a
 * running stack; it deletes its queues and takes its own messages out of
 * comanda.dead-letter at the end.
 *
 * Output: "ok   <check>" / "FAIL <check>" lines, then
 * "bus_live: N passed, M failed[, K skipped]". Exit status 0 iff none failed.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <amqp.h>

#include "bus.h"
#include "live.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

static const char *live_url;
static char live_run[32];

static void queue_name(char *dst, size_t cap, const char *name)
{
	snprintf(dst, cap, "comanda.test.%s.%s", live_run, name);
}

static void key_name(char *dst, size_t cap, const char *name)
{
	snprintf(dst, cap, "test.%s.%s", live_run, name);
}

static void msg_id(char *dst, size_t cap, const char *name, int i)
{
	snprintf(dst, cap, "%s-%s-%d", live_run, name, i);
}

/* Declares queue `name` bound by key `name` on b. */
static int declare(bus *b, const char *name, int max_deliveries)
{
	char q[128], k[128];
	queue_name(q, sizeof(q), name);
	key_name(k, sizeof(k), name);
	const char *keys[] = { k };
	return bus_declare(b, q, keys, 1, max_deliveries);
}

/* Publishes messages from..from+n-1 of routing key `name`; bus_publish's
 * result, or with acked != NULL bus_publish_each's (acked[0..n)). */
static int publish_with(bus *b, const char *name, int from, int n, bool *acked)
{
	char type[128];
	key_name(type, sizeof(type), name);
	enum { MAX = 128 };
	char ids[MAX][96], cids[MAX][32], rids[MAX][32], bodies[MAX][32];
	bus_message msgs[MAX];
	if (n > MAX)
		n = MAX;
	for (int i = 0; i < n; i++) {
		msg_id(ids[i], sizeof(ids[i]), name, from + i);
		snprintf(cids[i], sizeof(cids[i]), "order-%d", from + i);
		snprintf(rids[i], sizeof(rids[i]), "req-%d", from + i);
		snprintf(bodies[i], sizeof(bodies[i]), "body-%d", from + i);
		msgs[i] = (bus_message){ .type = type, .message_id = ids[i], .correlation_id = cids[i],
			.request_id = rids[i], .body = bodies[i], .len = strlen(bodies[i]) };
	}
	return acked != NULL ? bus_publish_each(b, msgs, (size_t)n, acked) : bus_publish(b, msgs, (size_t)n);
}

static int publish(bus *b, const char *name, int from, int n)
{
	return publish_with(b, name, from, n, NULL);
}

/* ---- a consumer on its own thread ----------------------------------------------- */

typedef enum { ACK_ALL, RETRY_TWICE, RETRY_ALWAYS, REJECT_ALL, STOP_AT_FIRST, WAIT_TWICE, WAIT_ALWAYS } policy;

typedef struct rec {
	char id[96], type[96], cid[32], rid[32], body[32];
	int delivery;
	int64_t at_us;
} rec;

#define MAX_RECS 256

typedef struct consumer {
	bus *b;
	char queue[128];
	policy pol;
	pthread_t th;
	atomic_bool stop;
	int rc;
	pthread_mutex_t mu;
	int n;
	rec recs[MAX_RECS];
} consumer;

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "(null)");
}

static bus_outcome on_message(const bus_message *m, int delivery, void *arg)
{
	consumer *c = arg;
	pthread_mutex_lock(&c->mu);
	if (c->n < MAX_RECS) {
		rec *r = &c->recs[c->n];
		copy_str(r->id, sizeof(r->id), m->message_id);
		copy_str(r->type, sizeof(r->type), m->type);
		copy_str(r->cid, sizeof(r->cid), m->correlation_id);
		copy_str(r->rid, sizeof(r->rid), m->request_id);
		snprintf(r->body, sizeof(r->body), "%.*s", (int)m->len, (const char *)m->body);
		r->delivery = delivery;
		r->at_us = clock_mono_us();
	}
	c->n++;
	pthread_mutex_unlock(&c->mu);
	switch (c->pol) {
	case RETRY_TWICE: return delivery < 3 ? BUS_RETRY : BUS_ACK;
	case RETRY_ALWAYS: return BUS_RETRY;
	case WAIT_TWICE: return c->n <= 2 ? BUS_WAIT : BUS_ACK;
	case WAIT_ALWAYS: return BUS_WAIT;
	case REJECT_ALL: return BUS_REJECT;
	case STOP_AT_FIRST: atomic_store(&c->stop, true); return BUS_ACK;
	default: return BUS_ACK;
	}
}

static void *consumer_main(void *arg)
{
	consumer *c = arg;
	c->rc = bus_consume(c->b, c->queue, 8, on_message, c, &c->stop);
	return NULL;
}

/* Declares queue `name` and consumes it on a new thread; NULL on failure. */
static consumer *consumer_start(const char *name, policy pol, int max_deliveries)
{
	consumer *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	queue_name(c->queue, sizeof(c->queue), name);
	c->pol = pol;
	pthread_mutex_init(&c->mu, NULL);
	atomic_init(&c->stop, false);
	c->b = bus_new(live_url, 2000, "bus_live consumer");
	if (c->b == NULL || declare(c->b, name, max_deliveries) != 0 ||
	    pthread_create(&c->th, NULL, consumer_main, c) != 0) {
		bus_free(c->b);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	return c;
}

static int consumer_count(consumer *c)
{
	pthread_mutex_lock(&c->mu);
	int n = c->n;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* Waits until c has handled n deliveries; false on timeout. */
static bool consumer_wait(consumer *c, int n, int timeout_ms)
{
	int64_t end = clock_mono_us() + (int64_t)timeout_ms * 1000;
	while (consumer_count(c) < n) {
		if (clock_mono_us() > end)
			return false;
		clock_sleep_ms(20);
	}
	return true;
}

/* Stops and frees c; returns bus_consume's result and how long stopping
 * took in *stop_ms. */
static int consumer_stop(consumer *c, int64_t *stop_ms)
{
	int64_t t0 = clock_mono_us();
	atomic_store(&c->stop, true);
	pthread_join(c->th, NULL);
	if (stop_ms != NULL)
		*stop_ms = (clock_mono_us() - t0) / 1000;
	int rc = c->rc;
	bus_free(c->b);
	pthread_mutex_destroy(&c->mu);
	free(c);
	return rc;
}

/* ---- a plain rabbitmq-c connection, to look behind the bus's back ---------------- */

typedef struct raw {
	amqp_connection_state_t c;
} raw;

static int raw_open(raw *r)
{
	r->c = live_amqp_open(live_url);
	return r->c != NULL ? 0 : -1;
}

static void raw_close(raw *r)
{
	live_amqp_close(r->c);
	r->c = NULL;
}

static bool raw_ok(raw *r)
{
	bool ok = amqp_get_rpc_reply(r->c).reply_type == AMQP_RESPONSE_NORMAL;
	amqp_maybe_release_buffers(r->c);
	return ok;
}

/* A server-named exclusive queue bound to the dead-letter exchange: sees
 * a copy of every dead letter without touching comanda.dead-letter. */
static char *raw_dead_letter_tap(raw *r)
{
	amqp_queue_declare_ok_t *ok = amqp_queue_declare(r->c, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
	if (ok == NULL)
		return NULL;
	char *name = strndup(ok->queue.bytes, ok->queue.len);
	amqp_queue_bind(r->c, 1, ok->queue, amqp_cstring_bytes(BUS_DLX), amqp_empty_bytes, amqp_empty_table);
	if (name == NULL || !raw_ok(r)) {
		free(name);
		return NULL;
	}
	return name;
}

/* An exclusive classic queue of at most one message that refuses more
 * (the broker nacks them), bound to comanda.events by key `name`. */
static int raw_full_queue(raw *r, const char *name)
{
	char k[128];
	key_name(k, sizeof(k), name);
	amqp_table_entry_t args[] = {
		{ .key = amqp_cstring_bytes("x-max-length"), .value = { .kind = AMQP_FIELD_KIND_I64, .value.i64 = 1 } },
		{ .key = amqp_cstring_bytes("x-overflow"),
		    .value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("reject-publish") } },
	};
	amqp_queue_declare_ok_t *ok = amqp_queue_declare(r->c, 1, amqp_empty_bytes, 0, 0, 1, 1,
	    (amqp_table_t){ .num_entries = 2, .entries = args });
	if (ok == NULL)
		return -1;
	amqp_queue_bind(r->c, 1, ok->queue, amqp_cstring_bytes(BUS_EXCHANGE), amqp_cstring_bytes(k), amqp_empty_table);
	return raw_ok(r) ? 0 : -1;
}

static bool bytes_eq(amqp_bytes_t b, const char *s)
{
	return b.len == strlen(s) && memcmp(b.bytes, s, b.len) == 0;
}

/* Looks (for up to timeout_ms) for message `id` in `queue`, taking messages
 * off it; copies its x-first-death-reason into reason. */
static bool raw_find(raw *r, const char *queue, const char *id, int timeout_ms, char *reason, size_t cap)
{
	int64_t end = clock_mono_us() + (int64_t)timeout_ms * 1000;
	snprintf(reason, cap, "(none)");
	while (clock_mono_us() < end) {
		amqp_rpc_reply_t rep = amqp_basic_get(r->c, 1, amqp_cstring_bytes(queue), 1);
		if (rep.reply_type != AMQP_RESPONSE_NORMAL)
			return false;
		if (rep.reply.id != AMQP_BASIC_GET_OK_METHOD) {
			amqp_maybe_release_buffers(r->c);
			clock_sleep_ms(50);
			continue;
		}
		amqp_message_t m;
		if (amqp_read_message(r->c, 1, &m, 0).reply_type != AMQP_RESPONSE_NORMAL)
			return false;
		bool found = (m.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) && bytes_eq(m.properties.message_id, id);
		if (found && (m.properties._flags & AMQP_BASIC_HEADERS_FLAG)) {
			const amqp_table_t *h = &m.properties.headers;
			for (int i = 0; i < h->num_entries; i++) {
				if (bytes_eq(h->entries[i].key, "x-first-death-reason") &&
				    h->entries[i].value.kind == AMQP_FIELD_KIND_UTF8)
					snprintf(reason, cap, "%.*s", (int)h->entries[i].value.value.bytes.len,
					    (const char *)h->entries[i].value.value.bytes.bytes);
			}
		}
		amqp_destroy_message(&m);
		amqp_maybe_release_buffers(r->c);
		if (found)
			return true;
	}
	return false;
}

/* Takes this run's messages off comanda.dead-letter (others are left
 * unacked, and so returned, until the channel closes). Returns how many. */
static int raw_clean_dead_letters(raw *r)
{
	char prefix[40];
	snprintf(prefix, sizeof(prefix), "%s-", live_run);
	int ours = 0;
	for (int i = 0; i < 10000; i++) {
		amqp_rpc_reply_t rep = amqp_basic_get(r->c, 1, amqp_cstring_bytes(BUS_DLQ), 0);
		if (rep.reply_type != AMQP_RESPONSE_NORMAL || rep.reply.id != AMQP_BASIC_GET_OK_METHOD)
			break;
		uint64_t tag = ((amqp_basic_get_ok_t *)rep.reply.decoded)->delivery_tag;
		amqp_message_t m;
		if (amqp_read_message(r->c, 1, &m, 0).reply_type != AMQP_RESPONSE_NORMAL)
			break;
		bool mine = (m.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) &&
		    m.properties.message_id.len > strlen(prefix) &&
		    memcmp(m.properties.message_id.bytes, prefix, strlen(prefix)) == 0;
		amqp_destroy_message(&m);
		if (mine) {
			amqp_basic_ack(r->c, 1, tag, 0);
			ours++;
		}
		amqp_maybe_release_buffers(r->c);
	}
	return ours;
}

static void raw_delete(raw *r, const char *name)
{
	char q[128];
	queue_name(q, sizeof(q), name);
	amqp_queue_delete(r->c, 1, amqp_cstring_bytes(q), 0, 0);
	raw_ok(r);
}

/* ---- metrics -------------------------------------------------------------------- */

/* The value of the series `name{labels}`, -1 when absent. */
static long long metric_value(const char *name, const char *labels)
{
	size_t len;
	char *text = metrics_render(&len);
	if (text == NULL)
		return -1;
	char want[512];
	if (labels[0] != '\0')
		snprintf(want, sizeof(want), "\n%s{%s} ", name, labels);
	else
		snprintf(want, sizeof(want), "\n%s ", name);
	const char *p = strstr(text, want);
	long long v = p != NULL ? strtoll(p + strlen(want), NULL, 10) : -1;
	free(text);
	return v;
}

static long long consumed(const char *name, const char *outcome)
{
	char k[128], labels[256];
	key_name(k, sizeof(k), name);
	snprintf(labels, sizeof(labels), "type=\"%s\",outcome=\"%s\"", k, outcome);
	return metric_value("comanda_events_consumed_total", labels);
}

/* ---- the tests ------------------------------------------------------------------ */

static void test_publish_and_consume(bus *pub)
{
	check(declare(pub, "basic", 5) == 0, "declare a quorum queue bound to comanda.events", NULL);
	check(declare(pub, "basic", 5) == 0, "declaring it again is idempotent", NULL);
	int n = publish(pub, "basic", 0, 100);
	check(n == 100, "publish 100 -> 100 confirmed", "got %d", n);
	char q[128], k[128], labels[256];
	queue_name(q, sizeof(q), "basic");
	key_name(k, sizeof(k), "basic");
	int64_t depth = bus_queue_depth(pub, q);
	check(depth == 100, "bus_queue_depth sees the 100", "got %" PRId64, depth);
	snprintf(labels, sizeof(labels), "type=\"%s\"", k);
	long long pubm = metric_value("comanda_events_published_total", labels);
	check(pubm == 100, "comanda_events_published_total{type} counts them", "got %lld", pubm);

	consumer *c = consumer_start("basic", ACK_ALL, 5);
	check(c != NULL, "start a consumer", NULL);
	if (c == NULL)
		return;
	check(consumer_wait(c, 100, 10000), "the consumer gets all 100", "got %d", consumer_count(c));
	int64_t stop_ms;
	int rc = consumer_stop(c, &stop_ms);
	check(rc == 0 && stop_ms < 1000, "bus_consume returns 0 within 1 s of stop", "rc %d after %" PRId64 " ms",
	    rc, stop_ms);
	depth = bus_queue_depth(pub, q);
	check(depth == 0, "acked messages are gone from the queue", "depth %" PRId64, depth);
	long long acks = consumed("basic", "ack");
	check(acks == 100, "comanda_events_consumed_total{outcome=ack} counts them", "got %lld", acks);
	check(bus_queue_depth(pub, "comanda.test.no-such-queue") == -1, "bus_queue_depth of a missing queue is -1",
	    NULL);
	check(bus_queue_depth(pub, q) == 0, "and the handle still works after that 404", NULL);
}

/* bus_publish_each on the happy path: one wait for a whole batch, every
 * message acked, and the queue holds them in publish order (what the
 * outbox relays rely on to keep an order's events in order). */
static void test_publish_each(bus *pub)
{
	check(declare(pub, "each", 5) == 0, "declare a queue for bus_publish_each", NULL);
	bool acked[100];
	int n = publish_with(pub, "each", 0, 100, acked);
	int n_acked = 0;
	for (int i = 0; i < 100; i++)
		n_acked += acked[i];
	check(n == 100 && n_acked == 100, "bus_publish_each of 100 -> 100, every acked[i] true", "got %d, %d true", n,
	    n_acked);
	consumer *c = consumer_start("each", ACK_ALL, 5);
	check(c != NULL, "start a consumer for the bus_publish_each test", NULL);
	if (c == NULL)
		return;
	check(consumer_wait(c, 100, 10000), "the consumer gets all 100", "got %d", consumer_count(c));
	int in_order = 0;
	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < 100 && i < c->n; i++) {
		char want[96];
		msg_id(want, sizeof(want), "each", i);
		in_order += strcmp(c->recs[i].id, want) == 0;
	}
	pthread_mutex_unlock(&c->mu);
	check(in_order == 100, "they arrive in publish order", "%d of 100 in place", in_order);
	consumer_stop(c, NULL);
}

static void test_message_fields(bus *pub)
{
	consumer *c = consumer_start("fields", ACK_ALL, 5);
	check(c != NULL, "start a consumer for the fields test", NULL);
	if (c == NULL)
		return;
	int n = publish(pub, "fields", 7, 3);
	check(n == 3, "publish 3 with every field", "got %d", n);
	bool got = consumer_wait(c, 3, 10000);
	check(got, "the consumer gets them", "got %d", consumer_count(c));
	pthread_mutex_lock(&c->mu);
	if (got) {
		char id[96], k[128];
		key_name(k, sizeof(k), "fields");
		bool order = true, fields = true, first = true;
		for (int i = 0; i < 3; i++) {
			const rec *r = &c->recs[i];
			char cid[32], rid[32], body[32];
			msg_id(id, sizeof(id), "fields", 7 + i);
			snprintf(cid, sizeof(cid), "order-%d", 7 + i);
			snprintf(rid, sizeof(rid), "req-%d", 7 + i);
			snprintf(body, sizeof(body), "body-%d", 7 + i);
			order = order && strcmp(r->id, id) == 0;
			fields = fields && strcmp(r->type, k) == 0 && strcmp(r->cid, cid) == 0 &&
			    strcmp(r->rid, rid) == 0 && strcmp(r->body, body) == 0;
			first = first && r->delivery == 1;
		}
		check(order, "in publish order", "first: %s", c->recs[0].id);
		check(fields, "type, message_id, correlation_id, request_id and body arrive intact",
		    "type %s cid %s rid %s body %s", c->recs[0].type, c->recs[0].cid, c->recs[0].rid, c->recs[0].body);
		check(first, "a first delivery has delivery == 1", "got %d", c->recs[0].delivery);
	}
	pthread_mutex_unlock(&c->mu);
	consumer_stop(c, NULL);
}

static void test_restart(bus *pub)
{
	const char *kill_cmd = getenv("BUS_LIVE_KILL"), *start_cmd = getenv("BUS_LIVE_START");
	if (kill_cmd == NULL || start_cmd == NULL) {
		skip("broker restart", "BUS_LIVE_KILL / BUS_LIVE_START not set");
		return;
	}
	consumer *c = consumer_start("restart", ACK_ALL, 5);
	check(c != NULL, "restart: a consumer", NULL);
	if (c == NULL)
		return;
	check(publish(pub, "restart", 0, 5) == 5 && consumer_wait(c, 5, 10000), "restart: 5 consumed before the kill",
	    NULL);
	check(publish(pub, "durable", 0, 7) == 7, "restart: 7 confirmed into the idle queue", NULL);

	check(system(kill_cmd) == 0, "restart: broker killed (SIGKILL)", "%s", kill_cmd);
	int n = publish(pub, "restart", 100, 1);
	check(n == -1, "publish while the broker is down returns -1", "got %d", n);
	n = publish(pub, "restart", 100, 1);
	check(n == -1, "and again (it retries the connection each call)", "got %d", n);

	check(system(start_cmd) == 0, "restart: broker started again", "%s", start_cmd);
	int64_t t0 = clock_mono_us();
	int attempts = 0;
	for (;;) {
		attempts++;
		n = publish(pub, "restart", 5, 5);
		if (n == 5 || clock_mono_us() - t0 > 15000000)
			break;
		clock_sleep_ms(200);
	}
	check(n == 5, "publish succeeds after the restart", "got %d after %d attempts", n, attempts);
	printf("     (publish after restart: %d attempt(s), %" PRId64 " ms)\n", attempts, (clock_mono_us() - t0) / 1000);

	bool resumed = consumer_wait(c, 10, 15000);
	check(resumed, "the consumer resumes by itself and gets the 5 published after the restart",
	    "got %d of 10", consumer_count(c));
	if (resumed) {
		/* At least once: each of restart-0..9 arrived (a duplicate of an
		 * early one is allowed: its ack may have died with the broker). */
		int seen = 0;
		pthread_mutex_lock(&c->mu);
		for (int i = 0; i < 10; i++) {
			char id[96];
			msg_id(id, sizeof(id), "restart", i);
			for (int j = 0; j < c->n && j < MAX_RECS; j++) {
				if (strcmp(c->recs[j].id, id) == 0) {
					seen++;
					break;
				}
			}
		}
		pthread_mutex_unlock(&c->mu);
		check(seen == 10, "restart: every message delivered", "%d of 10 distinct", seen);
	}
	consumer_stop(c, NULL);

	char q[128];
	queue_name(q, sizeof(q), "durable");
	int64_t depth = -1;
	for (int i = 0; i < 50 && depth != 7; i++) {
		depth = bus_queue_depth(pub, q);
		if (depth != 7)
			clock_sleep_ms(200);
	}
	check(depth == 7, "restart: confirmed messages survive the broker's SIGKILL", "depth %" PRId64, depth);
}

static void test_stop_hands_over(bus *pub)
{
	check(declare(pub, "inflight", 5) == 0 && publish(pub, "inflight", 0, 3) == 3,
	    "3 messages waiting before the consumer starts", NULL);
	consumer *c = consumer_start("inflight", STOP_AT_FIRST, 5);
	check(c != NULL, "start a consumer (prefetch 8) that stops at its first message", NULL);
	if (c == NULL)
		return;
	pthread_join(c->th, NULL);  /* it stops by itself */
	/* The broker sent all 3 before the stop: they are handled, not handed
	 * back (which would count as a failed delivery on RabbitMQ 3.10). */
	bool firsts = c->n == 3 && c->recs[0].delivery == 1 && c->recs[1].delivery == 1 && c->recs[2].delivery == 1;
	check(firsts, "stopping handles the messages already prefetched, each on its first delivery",
	    "%d handled; deliveries %d %d %d", c->n, c->recs[0].delivery, c->recs[1].delivery, c->recs[2].delivery);
	check(c->rc == 0, "bus_consume returned 0", "got %d", c->rc);
	bus_free(c->b);
	pthread_mutex_destroy(&c->mu);
	free(c);
	char q[128];
	queue_name(q, sizeof(q), "inflight");
	check(bus_queue_depth(pub, q) == 0, "and they are acked", NULL);
}

static void test_retry(bus *pub)
{
	consumer *c = consumer_start("retry", RETRY_TWICE, 5);
	check(c != NULL, "start a consumer that retries twice", NULL);
	if (c == NULL)
		return;
	check(publish(pub, "retry", 0, 1) == 1, "publish 1 for the retry test", NULL);
	bool got = consumer_wait(c, 3, 10000);
	check(got, "BUS_RETRY: the message comes back (3 deliveries)", "got %d", consumer_count(c));
	clock_sleep_ms(300);  /* nothing more may come after the ack */
	pthread_mutex_lock(&c->mu);
	if (got) {
		const rec *r = c->recs;
		check(r[0].delivery == 1 && r[1].delivery == 2 && r[2].delivery == 3,
		    "each redelivery has a higher delivery count", "deliveries %d, %d, %d", r[0].delivery, r[1].delivery,
		    r[2].delivery);
		int64_t gap1 = (r[1].at_us - r[0].at_us) / 1000, gap2 = (r[2].at_us - r[1].at_us) / 1000;
		check(gap1 >= 100 && gap2 >= 200, "the retries back off (>= 100 ms, then >= 200 ms)",
		    "gaps %" PRId64 " ms, %" PRId64 " ms", gap1, gap2);
		check(strcmp(r[2].id, r[0].id) == 0, "it is the same message", NULL);
	}
	pthread_mutex_unlock(&c->mu);
	check(consumer_count(c) == 3, "acked after the retries: no more deliveries", "got %d", consumer_count(c));
	consumer_stop(c, NULL);
	long long retries = consumed("retry", "retry"), acks = consumed("retry", "ack");
	check(retries == 2 && acks == 1, "comanda_events_consumed_total counts 2 retry + 1 ack",
	    "retry %lld ack %lld", retries, acks);
}

/* BUS_WAIT: a dependency is down. The message stays with the consumer and
 * its handler runs again with backoff, without a delivery used up; held
 * past BUS_WAIT_MAX_MS it goes back to the queue, one delivery used. */
static void test_wait(bus *pub)
{
	consumer *c = consumer_start("wait", WAIT_TWICE, 2);
	check(c != NULL, "start a consumer that waits twice", NULL);
	if (c == NULL)
		return;
	check(publish(pub, "wait", 0, 1) == 1, "publish 1 for the wait test", NULL);
	bool got = consumer_wait(c, 3, 10000);
	check(got, "BUS_WAIT: the handler runs again on the message (3 runs)", "got %d", consumer_count(c));
	clock_sleep_ms(300);
	pthread_mutex_lock(&c->mu);
	if (got) {
		const rec *r = c->recs;
		check(r[0].delivery == 1 && r[1].delivery == 1 && r[2].delivery == 1,
		    "... all on its first delivery: no delivery used up (the queue allows 2)", "deliveries %d, %d, %d",
		    r[0].delivery, r[1].delivery, r[2].delivery);
		int64_t gap1 = (r[1].at_us - r[0].at_us) / 1000, gap2 = (r[2].at_us - r[1].at_us) / 1000;
		check(gap1 >= 100 && gap2 >= 200, "... with backoff between the runs (>= 100 ms, then >= 200 ms)",
		    "gaps %" PRId64 " ms, %" PRId64 " ms", gap1, gap2);
	}
	pthread_mutex_unlock(&c->mu);
	check(consumer_count(c) == 3, "acked on the third run: nothing more comes", "got %d", consumer_count(c));
	consumer_stop(c, NULL);
	long long waits = consumed("wait", "wait"), acks = consumed("wait", "ack");
	check(waits == 2 && acks == 1, "comanda_events_consumed_total counts 2 wait + 1 ack", "wait %lld ack %lld", waits,
	    acks);
	char q[128];
	queue_name(q, sizeof(q), "wait");
	check(bus_queue_depth(pub, q) == 0, "and the queue is empty", NULL);
}

/* Held past BUS_WAIT_MAX_MS, the delivery goes back to the queue and comes
 * again as the second delivery (about 20 s: a test of its own). */
static void test_wait_limit(bus *pub)
{
	consumer *c = consumer_start("waitlimit", WAIT_ALWAYS, 5);
	check(c != NULL, "start a consumer that always waits", NULL);
	if (c == NULL)
		return;
	check(publish(pub, "waitlimit", 0, 1) == 1, "publish 1 for the wait-limit test", NULL);
	int64_t t0 = clock_mono_us();
	bool second = false;
	while (!second && clock_mono_us() - t0 < (int64_t)(BUS_WAIT_MAX_MS + 10000) * 1000) {
		pthread_mutex_lock(&c->mu);
		for (int i = 0; i < c->n && i < MAX_RECS; i++)
			second |= c->recs[i].delivery == 2;
		pthread_mutex_unlock(&c->mu);
		clock_sleep_ms(100);
	}
	int64_t held_ms = (clock_mono_us() - t0) / 1000;
	check(second && held_ms >= BUS_WAIT_MAX_MS - 500,
	    "BUS_WAIT held past BUS_WAIT_MAX_MS: handed back, then its second delivery", "second %d after %" PRId64 " ms",
	    second, held_ms);
	consumer_stop(c, NULL);
}

static void test_dead_letters(bus *pub, raw *r, const char *tap)
{
	char id[96], reason[64];

	consumer *c = consumer_start("poison", REJECT_ALL, 5);
	check(c != NULL, "start a consumer that rejects", NULL);
	if (c != NULL) {
		check(publish(pub, "poison", 0, 1) == 1, "publish a poison message", NULL);
		check(consumer_wait(c, 1, 10000), "the consumer gets it", NULL);
		msg_id(id, sizeof(id), "poison", 0);
		bool found = raw_find(r, tap, id, 5000, reason, sizeof(reason));
		check(found, "BUS_REJECT: the message is dead-lettered at once", NULL);
		check(strcmp(reason, "rejected") == 0, "with x-first-death-reason \"rejected\"", "got %s", reason);
		clock_sleep_ms(300);
		check(consumer_count(c) == 1, "and delivered exactly once", "got %d", consumer_count(c));
		consumer_stop(c, NULL);
		check(consumed("poison", "reject") == 1, "comanda_events_consumed_total{outcome=reject} counts it", NULL);
	}

	c = consumer_start("limit", RETRY_ALWAYS, 3);
	check(c != NULL, "start a consumer that always retries (max_deliveries 3)", NULL);
	if (c != NULL) {
		check(publish(pub, "limit", 0, 1) == 1, "publish a message that always fails", NULL);
		msg_id(id, sizeof(id), "limit", 0);
		bool found = raw_find(r, tap, id, 15000, reason, sizeof(reason));
		check(found, "retried past max_deliveries, the message is dead-lettered", NULL);
		check(strcmp(reason, "delivery_limit") == 0, "with x-first-death-reason \"delivery_limit\"", "got %s",
		    reason);
		clock_sleep_ms(300);
		pthread_mutex_lock(&c->mu);
		int n = c->n;
		bool counts = n == 3 && c->recs[0].delivery == 1 && c->recs[1].delivery == 2 && c->recs[2].delivery == 3;
		pthread_mutex_unlock(&c->mu);
		check(counts, "after exactly max_deliveries deliveries (1, 2, 3)", "got %d deliveries", n);
		consumer_stop(c, NULL);
	}

	c = consumer_start("limit1", RETRY_ALWAYS, 1);
	check(c != NULL, "start a consumer that always retries (max_deliveries 1)", NULL);
	if (c != NULL) {
		check(publish(pub, "limit1", 0, 1) == 1, "publish one more message that always fails", NULL);
		msg_id(id, sizeof(id), "limit1", 0);
		check(raw_find(r, tap, id, 10000, reason, sizeof(reason)), "max_deliveries 1: dead-lettered", NULL);
		clock_sleep_ms(300);
		check(consumer_count(c) == 1, "after its single delivery", "got %d", consumer_count(c));
		consumer_stop(c, NULL);
	}
	int64_t dlq = bus_queue_depth(pub, BUS_DLQ);
	check(dlq >= 3, "bus_queue_depth(comanda.dead-letter) counts them", "got %" PRId64, dlq);
}

static void test_nacks(bus *pub, raw *r)
{
	if (raw_full_queue(r, "full") != 0) {
		check(false, "declare a queue that refuses a second message", NULL);
		return;
	}
	char nowhere[128], full[128], ids[5][96];
	key_name(nowhere, sizeof(nowhere), "nowhere");
	key_name(full, sizeof(full), "full");
	for (int i = 0; i < 5; i++)
		msg_id(ids[i], sizeof(ids[i]), "nack", i);
	/* unroutable (acked), fits (acked), refused (nacked), unroutable (acked) */
	bus_message m[4] = {
		{ .type = nowhere, .message_id = ids[0] },
		{ .type = full, .message_id = ids[1] },
		{ .type = full, .message_id = ids[2] },
		{ .type = nowhere, .message_id = ids[3] },
	};
	long long fail0 = metric_value("comanda_events_publish_failures_total", "");
	int n = bus_publish(pub, m, 4);
	check(n == 2, "a nacked message ends the confirmed prefix (ack, ack, nack, ack -> 2)", "got %d", n);
	n = bus_publish(pub, &m[2], 1);
	check(n == 0, "a batch whose first message is nacked -> 0, not -1", "got %d", n);
	n = bus_publish(pub, &m[3], 1);
	check(n == 1, "the connection is still good after nacks", "got %d", n);
	long long fail1 = metric_value("comanda_events_publish_failures_total", "");
	check(fail1 - (fail0 < 0 ? 0 : fail0) == 3, "comanda_events_publish_failures_total counts the 3 not confirmed",
	    "from %lld to %lld", fail0, fail1);

	bus_message bad[2] = { { .type = nowhere, .message_id = ids[4] }, { .type = "bad key!", .message_id = "x" } };
	n = bus_publish(pub, bad, 2);
	check(n == 1, "an invalid message ends the prefix too", "got %d", n);
	check(bus_publish(pub, NULL, 0) == 0, "an empty batch is 0", NULL);

	/* bus_publish_each: the queue is full, so "full" is nacked; neither
	 * the nack nor the invalid message holds back the ones after it. */
	char more[3][96];
	for (int i = 0; i < 3; i++)
		msg_id(more[i], sizeof(more[i]), "each-nack", i);
	bus_message each[5] = {
		{ .type = nowhere, .message_id = more[0] },
		{ .type = full, .message_id = ids[2] },
		{ .type = "bad key!", .message_id = "x" },
		{ .type = nowhere, .message_id = more[1] },
		{ .type = nowhere, .message_id = more[2] },
	};
	bool acked[5];
	fail0 = metric_value("comanda_events_publish_failures_total", "");
	n = bus_publish_each(pub, each, 5, acked);
	check(n == 3 && acked[0] && !acked[1] && !acked[2] && acked[3] && acked[4],
	    "bus_publish_each answers per message (ack, nack, invalid, ack, ack -> 3; 10101)", "got %d; %d%d%d%d%d", n,
	    acked[0], acked[1], acked[2], acked[3], acked[4]);
	fail1 = metric_value("comanda_events_publish_failures_total", "");
	check(fail1 - (fail0 < 0 ? 0 : fail0) == 2, "and counts the 2 not confirmed", "from %lld to %lld", fail0, fail1);
}

static void test_confirm_timeout(void)
{
	const char *pause = getenv("BUS_LIVE_PAUSE"), *resume = getenv("BUS_LIVE_RESUME");
	if (pause == NULL || resume == NULL) {
		skip("confirm timeout", "BUS_LIVE_PAUSE / BUS_LIVE_RESUME not set");
		return;
	}
	bus *b = bus_new(live_url, 1000, "bus_live frozen");
	check(b != NULL && bus_declare(b, NULL, NULL, 0, 0) == 0, "a publisher with a 1 s timeout", NULL);
	if (b == NULL)
		return;
	check(publish(b, "nowhere", 0, 1) == 1, "it publishes while the broker runs", NULL);
	check(system(pause) == 0, "broker frozen (SIGSTOP)", "%s", pause);
	int64_t t0 = clock_mono_us();
	int n = publish(b, "nowhere", 1, 3);
	int64_t ms = (clock_mono_us() - t0) / 1000;
	int rc = system(resume);
	check(rc == 0, "broker thawed (SIGCONT)", "%s", resume);
	check(n == 0, "unconfirmed messages are not counted: a frozen broker -> 0 confirmed", "got %d", n);
	check(ms >= 900 && ms < 3000, "the confirm wait is bounded by the timeout", "took %" PRId64 " ms", ms);
	/* The late acks of that batch arrive now, during the next one's wait:
	 * they must not count for it. */
	n = publish(b, "nowhere", 4, 2);
	check(n == 2, "after the thaw the next batch is confirmed (late acks of the last one ignored)", "got %d", n);
	bus_free(b);
}

static void test_no_broker(void)
{
	bus *b = bus_new("amqp://guest:guest@127.0.0.1:1/", 300, "bus_live nobody");
	check(b != NULL, "a handle for a port nobody listens on", NULL);
	if (b == NULL)
		return;
	check(publish(b, "nowhere", 0, 1) == -1, "publish without a broker is -1", NULL);
	check(bus_declare(b, NULL, NULL, 0, 0) == -1, "declare without a broker is -1", NULL);
	check(bus_queue_depth(b, BUS_DLQ) == -1, "queue depth without a broker is -1", NULL);
	bus_free(b);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("bus_live");
	live_url = getenv("AMQP_URL");
	if (live_url == NULL || live_url[0] == '\0') {
		printf("FAIL AMQP_URL is not set\nbus_live: 0 passed, 1 failed\n");
		return 1;
	}
	snprintf(live_run, sizeof(live_run), "r%ld%03d", (long)getpid(), (int)(clock_wall_ms() % 1000));

	raw r;
	bool raw_up = raw_open(&r) == 0;
	check(raw_up, "a plain AMQP connection to the broker", "%s", "is AMQP_URL right?");
	bus *pub = bus_new(live_url, 2000, "bus_live publisher");
	check(pub != NULL && bus_ping(pub), "bus_ping answers", NULL);
	if (!raw_up || pub == NULL) {
		raw_close(&r);
		bus_free(pub);
		return live_finish("bus_live");
	}
	raw_close(&r);  /* opened again when needed */

	/* The restart test's queues, declared first: RabbitMQ 3.10 can lose
	 * a quorum queue created within about a second of a SIGKILL (its Ra
	 * registration is not on disk yet; see docs/EVENTS.md), which is not
	 * what that test is about. */
	check(declare(pub, "durable", 5) == 0 && declare(pub, "restart", 5) == 0, "declare the restart test's queues",
	    NULL);

	test_no_broker();
	test_publish_and_consume(pub);
	test_publish_each(pub);
	test_message_fields(pub);
	test_stop_hands_over(pub);

	char *tap = NULL;
	if (raw_open(&r) == 0)
		tap = raw_dead_letter_tap(&r);
	check(tap != NULL, "a tap on the dead-letter exchange", NULL);
	test_retry(pub);
	test_wait(pub);
	test_wait_limit(pub);
	if (tap != NULL)
		test_dead_letters(pub, &r, tap);
	if (r.c != NULL)
		test_nacks(pub, &r);
	test_confirm_timeout();
	/* Last: it breaks the plain connection (reopened for the clean-up). */
	test_restart(pub);
	raw_close(&r);
	bool raw_again = raw_open(&r) == 0;
	check(raw_again, "a plain AMQP connection after the restart", NULL);

	/* Clean up: our dead letters, our queues. */
	int ours = raw_again ? raw_clean_dead_letters(&r) : -1;
	check(ours == 3, "comanda.dead-letter holds this run's 3 dead letters (taken off again)", "found %d", ours);
	const char *queues[] = { "basic", "each", "fields", "inflight", "restart", "durable", "retry", "wait",
		"waitlimit", "poison", "limit", "limit1" };
	raw_close(&r);  /* returns the dead letters that are not ours */
	if (raw_open(&r) == 0) {
		for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]); i++)
			raw_delete(&r, queues[i]);
	}
	raw_close(&r);
	free(tap);
	bus_free(pub);

	return live_finish("bus_live");
}
