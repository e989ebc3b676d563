/*
 * order_events_live: publishes one order's events in the order given, as a
 * requeue or two consumers can deliver them, for test_event_order.sh.
 *
 *   order_events_live ORDER_ID USER_ID TOTAL_MINOR METHOD TOKEN
 *
 * METHOD is the PaymentMethod number (1 credit card ... 4 bank transfer).
 * Publishes order.cancelled, then order.created, to the stack's broker
 * (AMQP_URL), each with a message id of its own; svc-payment's queue takes
 * them in that order.
 *
 *   order_events_live --no-message-id ORDER_ID USER_ID TOTAL_MINOR METHOD TOKEN
 *
 * publishes only the order.created, with no message_id (so no event id),
 * through a plain AMQP connection: lib/bus refuses to send such a message,
 * but a broker takes it from anyone (test_payment_event_no_id.sh).
 *
 * Output: "ok   <check>" / "FAIL <check>" lines, "order.created <its
 * message id>", then "order_events_live: N passed, M failed". Exit status 0 iff none failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>

#include "bus.h"
#include "comanda/events.pb-c.h"
#include "live.h"
#include "log.h"
#include "svc_events.h"
#include "uuid.h"

/* Publishes body as an order.created of `order` with every property
 * lib/bus sets but message_id, persistent, and waits for the broker's
 * confirm. True when confirmed. */
static bool publish_without_id(const char *url, const char *order, const uint8_t *body, size_t len)
{
	amqp_connection_state_t c = live_amqp_open(url);
	if (c == NULL)
		return false;
	bool ok = amqp_confirm_select(c, 1) != NULL;
	amqp_table_entry_t headers[] = {
		{ .key = amqp_cstring_bytes("type"),
		    .value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("order.created") } },
	};
	amqp_basic_properties_t p = {
		._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG |
		    AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG,
		.content_type = amqp_cstring_bytes("application/x-protobuf"),
		.delivery_mode = AMQP_DELIVERY_PERSISTENT,
		.headers = { .num_entries = 1, .entries = headers },
		.type = amqp_cstring_bytes("order.created"),
		.correlation_id = amqp_cstring_bytes(order),
	};
	amqp_bytes_t b = { .len = len, .bytes = (void *)body };
	ok = ok && amqp_basic_publish(c, 1, amqp_cstring_bytes(BUS_EXCHANGE), amqp_cstring_bytes("order.created"), 0, 0,
	               &p, b) == AMQP_STATUS_OK;
	/* the one confirm: a basic.ack on channel 1 */
	amqp_frame_t f;
	struct timeval tv = { 5, 0 };
	ok = ok && amqp_simple_wait_frame_noblock(c, &f, &tv) == AMQP_STATUS_OK && f.frame_type == AMQP_FRAME_METHOD &&
	    f.payload.method.id == AMQP_BASIC_ACK_METHOD;
	live_amqp_close(c);
	return ok;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("order_events_live");
	const char *url = getenv("AMQP_URL");
	bool no_id = argc > 1 && strcmp(argv[1], "--no-message-id") == 0;
	if (no_id) {
		argv++;
		argc--;
	}
	if (url == NULL || url[0] == '\0' || argc != 6) {
		printf("FAIL usage: AMQP_URL=... order_events_live [--no-message-id] ORDER_ID USER_ID TOTAL_MINOR METHOD TOKEN\n"
		       "order_events_live: 0 passed, 1 failed\n");
		return 1;
	}
	Comanda__OrderCancelled cancelled = COMANDA__ORDER_CANCELLED__INIT;
	cancelled.order_id = argv[1];
	cancelled.user_id = strtoll(argv[2], NULL, 10);
	cancelled.reason = "cancelled by the customer";
	Comanda__OrderCreated created = COMANDA__ORDER_CREATED__INIT;
	created.order_id = argv[1];
	created.user_id = strtoll(argv[2], NULL, 10);
	created.total_minor = strtoll(argv[3], NULL, 10);
	created.currency = "COP";
	created.payment_method = (Comanda__PaymentMethod)atoi(argv[4]);
	created.payment_token = argv[5];

	uint8_t cancelled_bytes[512], created_bytes[512];
	size_t cancelled_len = comanda__order_cancelled__get_packed_size(&cancelled);
	size_t created_len = comanda__order_created__get_packed_size(&created);
	if (cancelled_len > sizeof(cancelled_bytes) || created_len > sizeof(created_bytes)) {
		check(false, "the events fit their buffers", "%zu and %zu bytes", cancelled_len, created_len);
		return live_finish("order_events_live");
	}
	comanda__order_cancelled__pack(&cancelled, cancelled_bytes);
	comanda__order_created__pack(&created, created_bytes);
	if (no_id) {
		bus *b = bus_new(url, 3000, "order_events_live");
		check(b != NULL && svc_events_declare_all(b) == 0, "the saga's exchange and queues declared", NULL);
		bus_free(b);
		check(publish_without_id(url, argv[1], created_bytes, created_len),
		    "an order.created without a message id published and confirmed", NULL);
		return live_finish("order_events_live");
	}
	char cancelled_id[UUID_STR_LEN], created_id[UUID_STR_LEN];
	uuid_v4(cancelled_id);
	uuid_v4(created_id);
	bus_message m[2] = {
		{ .type = "order.cancelled", .message_id = cancelled_id, .correlation_id = argv[1],
		  .body = cancelled_bytes, .len = cancelled_len },
		{ .type = "order.created", .message_id = created_id, .correlation_id = argv[1],
		  .body = created_bytes, .len = created_len },
	};
	bus *b = bus_new(url, 3000, "order_events_live");
	check(b != NULL, "a connection to the broker", "%s", "is AMQP_URL right?");
	if (b != NULL)
		check(svc_events_declare_all(b) == 0, "the saga's exchange and queues declared", NULL);
	if (b != NULL)
		check(bus_publish(b, m, 2) == 2, "order.cancelled, then order.created, published and confirmed", NULL);
	bus_free(b);
	printf("order.created %s\n", created_id);
	return live_finish("order_events_live");
}
