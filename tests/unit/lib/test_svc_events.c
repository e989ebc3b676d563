/* lib/svc_events: which answers ack, retry or dead-letter an event, the
 * saga's queues, and the event series a service exports from the start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comanda/rpc.pb-c.h"
#include "metrics.h"
#include "svc_events.h"
#include "test.h"

TEST(svc_events_outcome_acks_waits_retries_and_rejects)
{
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__OK), BUS_ACK);
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__UNAVAILABLE), BUS_WAIT); /* a dependency down */
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__DEADLINE_EXCEEDED), BUS_RETRY);
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__ABORTED), BUS_RETRY);
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__INTERNAL), BUS_RETRY);
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__INVALID_ARGUMENT), BUS_REJECT);
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__NOT_FOUND), BUS_REJECT);
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__PERMISSION_DENIED), BUS_REJECT);
}

/* The one event type a queue takes, or NULL. */
static const char *topic_queue_of(const char *type)
{
	static const char *const queues[] = { SVC_EVENTS_ORDER_QUEUE, SVC_EVENTS_PAYMENT_QUEUE };
	const char *found = NULL;
	for (size_t q = 0; q < sizeof(queues) / sizeof(queues[0]); q++) {
		const svc_events_topic *t = svc_events_topic_of(queues[q]);
		for (size_t i = 0; t != NULL && i < t->n_keys; i++)
			if (strcmp(t->keys[i], type) == 0)
				found = found == NULL ? t->queue : "(more than one queue)";
	}
	return found;
}

TEST(svc_events_topology_binds_every_published_event_to_its_one_consumer)
{
	/* every type an outbox writes (svc-order: order.*, svc-payment: payment.*) */
	CHECK_STREQ(topic_queue_of("order.created"), SVC_EVENTS_PAYMENT_QUEUE);
	CHECK_STREQ(topic_queue_of("order.cancelled"), SVC_EVENTS_PAYMENT_QUEUE);
	CHECK_STREQ(topic_queue_of("payment.completed"), SVC_EVENTS_ORDER_QUEUE);
	CHECK_STREQ(topic_queue_of("payment.failed"), SVC_EVENTS_ORDER_QUEUE);
	CHECK_STREQ(topic_queue_of("payment.refunded"), SVC_EVENTS_ORDER_QUEUE);
	CHECK(topic_queue_of("order.shipped") == NULL);
	CHECK(svc_events_topic_of("no-such-queue") == NULL);
	const svc_events_topic *t = svc_events_topic_of(SVC_EVENTS_ORDER_QUEUE);
	CHECK(t != NULL && t->max_deliveries >= 1 && t->max_deliveries <= 1000);
}

/* The value of series `series` (name{labels}) in the rendered metrics, -1
 * when it is not there. */
static long long rendered_value(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

TEST(svc_events_metrics_exports_each_series_before_any_event)
{
	/* svc-order's: what it consumes and what it publishes. The registry is
	 * the process's: test_bus's failed publishes may have counted failures
	 * already, so that one is only required to be there. */
	svc_events_metrics(SVC_EVENTS_ORDER_QUEUE, SVC_EVENTS_PAYMENT_QUEUE);
	svc_events_metrics(NULL, NULL); /* nothing, and no crash */
	size_t len = 0;
	char *text = metrics_render(&len);
	CHECK(text != NULL);
	if (text == NULL)
		return;
	static const char *const outcomes[] = { "ack", "retry", "reject", "wait" };
	const svc_events_topic *in = svc_events_topic_of(SVC_EVENTS_ORDER_QUEUE);
	for (size_t i = 0; i < in->n_keys; i++)
		for (size_t o = 0; o < 4; o++) {
			char series[160];
			snprintf(series, sizeof(series), "comanda_events_consumed_total{type=\"%s\",outcome=\"%s\"}",
			    in->keys[i], outcomes[o]);
			CHECK_EQ_INT(rendered_value(text, series), 0);
		}
	const svc_events_topic *out = svc_events_topic_of(SVC_EVENTS_PAYMENT_QUEUE);
	for (size_t i = 0; i < out->n_keys; i++) {
		char series[128];
		snprintf(series, sizeof(series), "comanda_events_published_total{type=\"%s\"}", out->keys[i]);
		CHECK_EQ_INT(rendered_value(text, series), 0);
	}
	CHECK(rendered_value(text, "comanda_events_publish_failures_total") >= 0);
	free(text);
}
