/* lib/svc_events: which answers ack, retry or dead-letter an event, and the
 * saga's queues. */
#include <string.h>

#include "comanda/rpc.pb-c.h"
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
