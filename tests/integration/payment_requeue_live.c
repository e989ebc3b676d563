/*
 * payment_requeue_live: takes one order's events off svc-order's queue and
 * publishes them again in the reverse order, as a requeue (a nack after a
 * transient failure) or two svc-order replicas can deliver them, for
 * test_payment_order_events.sh. svc-order must be stopped meanwhile.
 *
 *   payment_requeue_live ORDER_ID N
 *
 * Consumes `order-service` (prefetch 1) until it has N messages of ORDER_ID
 * (the correlation id) or 10 s pass; messages of other orders are published
 * again unchanged. Then publishes the N in reverse order, each with its
 * own message id (the event id, which consumers deduplicate by).
 *
 * Output: "ok   <check>" / "FAIL <check>" lines, then
 * "payment_requeue_live: N passed, M failed". Exit status 0 iff none failed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "live.h"
#include "log.h"
#include "svc_events.h"

#define MAXMSG 64

typedef struct kept {
	char type[256], id[256], corr[256], rid[256];
	unsigned char *body;
	size_t len;
} kept;

static kept mine[MAXMSG], others[MAXMSG];
static int n_mine, n_others, want;
static const char *order;
static atomic_bool stop;

static void keep(kept *k, const bus_message *m)
{
	snprintf(k->type, sizeof(k->type), "%s", m->type);
	snprintf(k->id, sizeof(k->id), "%s", m->message_id);
	snprintf(k->corr, sizeof(k->corr), "%s", m->correlation_id ? m->correlation_id : "");
	snprintf(k->rid, sizeof(k->rid), "%s", m->request_id ? m->request_id : "");
	k->body = malloc(m->len ? m->len : 1);
	if (k->body && m->len)
		memcpy(k->body, m->body, m->len);
	k->len = m->len;
}

static bus_outcome take(const bus_message *m, int delivery, void *arg)
{
	(void)delivery;
	(void)arg;
	if (m->correlation_id && strcmp(m->correlation_id, order) == 0 && n_mine < MAXMSG)
		keep(&mine[n_mine++], m);
	else if (n_others < MAXMSG)
		keep(&others[n_others++], m);
	else
		return BUS_RETRY;
	if (n_mine >= want)
		atomic_store(&stop, true);
	return BUS_ACK;
}

static void *timer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100 && !atomic_load(&stop); i++)
		usleep(100000);
	atomic_store(&stop, true);
	return NULL;
}

static bus_message as_msg(const kept *k)
{
	return (bus_message){ .type = k->type, .message_id = k->id, .correlation_id = k->corr,
		.request_id = k->rid, .body = k->body, .len = k->len };
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("payment_requeue_live");
	const char *url = getenv("AMQP_URL");
	if (url == NULL || url[0] == '\0' || argc != 3) {
		printf("FAIL usage: AMQP_URL=... payment_requeue_live ORDER_ID N\n"
		       "payment_requeue_live: 0 passed, 1 failed\n");
		return 1;
	}
	order = argv[1];
	want = atoi(argv[2]);
	if (want < 1 || want > MAXMSG)
		want = 2;
	bus *in = bus_new(url, 3000, "payment_requeue_live-in");
	bus *out = bus_new(url, 3000, "payment_requeue_live-out");
	check(in != NULL && out != NULL, "connections to the broker", "%s", "is AMQP_URL right?");
	if (in == NULL || out == NULL)
		return live_finish("payment_requeue_live");
	check(svc_events_declare_all(out) == 0, "the saga's exchange and queues declared", NULL);
	pthread_t t;
	pthread_create(&t, NULL, timer, NULL);
	bus_consume(in, "order-service", 1, take, NULL, &stop);
	pthread_join(t, NULL);
	check(n_mine == want, "the order's events taken off order-service", "%d of %d", n_mine, want);
	for (int i = 0; i < n_others; i++) {
		bus_message m = as_msg(&others[i]);
		check(bus_publish(out, &m, 1) == 1, "another order's event published again", "%s", others[i].type);
	}
	for (int i = n_mine - 1; i >= 0; i--) {
		bus_message m = as_msg(&mine[i]);
		check(bus_publish(out, &m, 1) == 1, "published again, in reverse order", "%s", mine[i].type);
		printf("%s %s\n", mine[i].type, mine[i].id);
	}
	bus_free(in);
	bus_free(out);
	return live_finish("payment_requeue_live");
}
