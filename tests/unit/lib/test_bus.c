/* lib/bus without a broker: the confirm bookkeeping, the pure helpers, and
 * the contract's answers when nobody listens. The broker-side behaviour is
 * tested by tests/integration/test_bus.sh (bus_live.c). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bus.h"
#include "bus_impl.h"
#include "clock.h"
#include "stopsig.h"
#include "test.h"
#include "teststop.h"

/* A port nothing listens on: connecting fails at once. */
#define BUS_NOBODY "amqp://guest:guest@127.0.0.1:1/"

TEST(bus_confirms_single_acks_grow_the_prefix)
{
	bus_confirms c;
	CHECK_EQ_INT(bus_confirms_init(&c, 10, 3), 0);
	CHECK_EQ_INT(bus_confirms_prefix(&c), 0);
	CHECK(!bus_confirms_settled(&c));
	bus_confirms_on(&c, 11, false, true);   /* the second one first */
	CHECK_EQ_INT(bus_confirms_prefix(&c), 0);
	bus_confirms_on(&c, 10, false, true);
	CHECK_EQ_INT(bus_confirms_prefix(&c), 2);
	CHECK(!bus_confirms_settled(&c));
	bus_confirms_on(&c, 12, false, true);
	CHECK_EQ_INT(bus_confirms_prefix(&c), 3);
	CHECK(bus_confirms_settled(&c));
	bus_confirms_free(&c);
}

TEST(bus_confirms_multiple_ack_covers_everything_up_to_its_tag)
{
	bus_confirms c;
	CHECK_EQ_INT(bus_confirms_init(&c, 5, 4), 0);
	bus_confirms_on(&c, 7, true, true);     /* 5, 6, 7 */
	CHECK_EQ_INT(bus_confirms_prefix(&c), 3);
	CHECK(!bus_confirms_settled(&c));
	bus_confirms_on(&c, 8, true, true);
	CHECK_EQ_INT(bus_confirms_prefix(&c), 4);
	CHECK(bus_confirms_settled(&c));
	bus_confirms_free(&c);
}

TEST(bus_confirms_a_nack_ends_the_prefix_even_if_later_ones_are_acked)
{
	bus_confirms c;
	CHECK_EQ_INT(bus_confirms_init(&c, 1, 4), 0);
	bus_confirms_on(&c, 2, false, false);   /* nack the second */
	CHECK_EQ_INT(bus_confirms_prefix(&c), 0);
	CHECK(!bus_confirms_settled(&c));       /* the first may still be acked */
	bus_confirms_on(&c, 4, true, true);     /* multiple ack over the nack */
	CHECK_EQ_INT(bus_confirms_prefix(&c), 1);
	CHECK(bus_confirms_settled(&c));
	CHECK_EQ_INT(c.state[1], BUS_NACKED);   /* the first answer stands */
	CHECK_EQ_INT(c.state[3], BUS_ACKED);
	bus_confirms_free(&c);
}

TEST(bus_confirms_multiple_nack_covers_the_pending_ones_only)
{
	bus_confirms c;
	CHECK_EQ_INT(bus_confirms_init(&c, 1, 3), 0);
	bus_confirms_on(&c, 1, false, true);
	bus_confirms_on(&c, 3, true, false);
	CHECK_EQ_INT(c.state[0], BUS_ACKED);
	CHECK_EQ_INT(c.state[1], BUS_NACKED);
	CHECK_EQ_INT(c.state[2], BUS_NACKED);
	CHECK_EQ_INT(bus_confirms_prefix(&c), 1);
	CHECK(bus_confirms_settled(&c));
	bus_confirms_free(&c);
}

TEST(bus_confirms_ignore_late_answers_to_an_earlier_batch)
{
	bus_confirms c;
	CHECK_EQ_INT(bus_confirms_init(&c, 100, 2), 0);
	bus_confirms_on(&c, 99, true, true);    /* multiple, all below the batch */
	bus_confirms_on(&c, 50, false, true);
	bus_confirms_on(&c, 99, false, false);
	CHECK_EQ_INT(bus_confirms_prefix(&c), 0);
	CHECK_EQ_INT(c.state[0], BUS_PENDING);
	CHECK_EQ_INT(c.state[1], BUS_PENDING);
	bus_confirms_on(&c, 102, false, true);  /* single, beyond the batch: not ours */
	CHECK_EQ_INT(bus_confirms_prefix(&c), 0);
	bus_confirms_free(&c);
}

TEST(bus_confirms_multiple_beyond_or_zero_covers_the_whole_batch)
{
	bus_confirms c;
	CHECK_EQ_INT(bus_confirms_init(&c, 3, 2), 0);
	bus_confirms_on(&c, 9, true, true);
	CHECK_EQ_INT(bus_confirms_prefix(&c), 2);
	bus_confirms_free(&c);
	CHECK_EQ_INT(bus_confirms_init(&c, 3, 2), 0);
	bus_confirms_on(&c, 0, true, true);     /* 0 + multiple: all outstanding */
	CHECK_EQ_INT(bus_confirms_prefix(&c), 2);
	bus_confirms_free(&c);
	CHECK_EQ_INT(bus_confirms_init(&c, 3, 2), 0);
	bus_confirms_on(&c, 0, false, true);    /* 0 alone names no message */
	CHECK_EQ_INT(bus_confirms_prefix(&c), 0);
	bus_confirms_free(&c);
}

TEST(bus_confirms_unanswered_is_never_confirmed)
{
	bus_confirms c;
	CHECK_EQ_INT(bus_confirms_init(&c, 1, 3), 0);
	bus_confirms_on(&c, 1, false, true);
	bus_confirms_on(&c, 3, false, true);    /* 2 never answered */
	CHECK_EQ_INT(bus_confirms_prefix(&c), 1);
	CHECK(!bus_confirms_settled(&c));
	bus_confirms_free(&c);
}

TEST(bus_confirms_answered_waits_for_every_message_not_the_prefix)
{
	bus_confirms c;
	CHECK_EQ_INT(bus_confirms_init(&c, 1, 3), 0);
	CHECK(!bus_confirms_answered(&c));
	bus_confirms_on(&c, 1, false, false);   /* a nack first: settled, not answered */
	CHECK(bus_confirms_settled(&c));
	CHECK(!bus_confirms_answered(&c));
	bus_confirms_on(&c, 3, false, true);
	CHECK(!bus_confirms_answered(&c));      /* 2 still pending */
	bus_confirms_on(&c, 3, true, true);     /* multiple: covers 2, keeps 1's nack */
	CHECK(bus_confirms_answered(&c));
	CHECK_EQ_INT(c.state[0], BUS_NACKED);
	CHECK_EQ_INT(c.state[1], BUS_ACKED);
	CHECK_EQ_INT(c.state[2], BUS_ACKED);
	CHECK_EQ_INT(bus_confirms_prefix(&c), 0);
	bus_confirms_free(&c);
	CHECK_EQ_INT(bus_confirms_init(&c, 1, 0), 0);
	CHECK(bus_confirms_answered(&c));       /* nothing to wait for */
	bus_confirms_free(&c);
}

TEST(bus_type_valid_and_label)
{
	CHECK(bus_type_valid("order.created"));
	CHECK(bus_type_valid("payment.completed-v2_x"));
	CHECK(!bus_type_valid(""));
	CHECK(!bus_type_valid(NULL));
	CHECK(!bus_type_valid("order created"));
	CHECK(!bus_type_valid("order.*"));
	CHECK(!bus_type_valid("a\"b"));
	char long_type[300];
	memset(long_type, 'a', sizeof(long_type) - 1);
	long_type[255] = '\0';
	CHECK(bus_type_valid(long_type));       /* 255 bytes: the AMQP limit */
	long_type[255] = 'a';
	long_type[256] = '\0';
	CHECK(!bus_type_valid(long_type));
	CHECK_STREQ(bus_type_label("order.created"), "order.created");
	CHECK_STREQ(bus_type_label("a\"}b"), "invalid");
	long_type[65] = '\0';
	CHECK_STREQ(bus_type_label(long_type), "invalid");  /* 65 bytes: too long for a label */
	long_type[64] = '\0';
	CHECK_STREQ(bus_type_label(long_type), long_type);
}

TEST(bus_table_reads_integers_of_every_width_and_strings)
{
	amqp_table_entry_t e[] = {
		{ .key = amqp_cstring_bytes("x-delivery-count"), .value = { .kind = AMQP_FIELD_KIND_I64, .value.i64 = 4 } },
		{ .key = amqp_cstring_bytes("small"), .value = { .kind = AMQP_FIELD_KIND_U8, .value.u8 = 7 } },
		{ .key = amqp_cstring_bytes("i32"), .value = { .kind = AMQP_FIELD_KIND_I32, .value.i32 = -3 } },
		{ .key = amqp_cstring_bytes("huge"), .value = { .kind = AMQP_FIELD_KIND_U64, .value.u64 = UINT64_MAX } },
		{ .key = amqp_cstring_bytes("request_id"),
		    .value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("req-1") } },
		{ .key = amqp_cstring_bytes("flag"), .value = { .kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1 } },
	};
	amqp_table_t t = { .num_entries = 6, .entries = e };
	int64_t v = 0;
	CHECK(bus_table_int(&t, "x-delivery-count", &v));
	CHECK_EQ_INT(v, 4);
	CHECK(bus_table_int(&t, "small", &v));
	CHECK_EQ_INT(v, 7);
	CHECK(bus_table_int(&t, "i32", &v));
	CHECK_EQ_INT(v, -3);
	CHECK(!bus_table_int(&t, "huge", &v));  /* does not fit */
	CHECK(!bus_table_int(&t, "flag", &v));
	CHECK(!bus_table_int(&t, "request_id", &v));
	CHECK(!bus_table_int(&t, "missing", &v));
	CHECK(!bus_table_int(NULL, "x-delivery-count", &v));
	amqp_bytes_t s;
	CHECK(bus_table_bytes(&t, "request_id", &s));
	CHECK(s.len == 5 && memcmp(s.bytes, "req-1", 5) == 0);
	CHECK(!bus_table_bytes(&t, "small", &s));
	CHECK(!bus_table_bytes(&t, "request", &s));  /* a prefix is not the key */
}

TEST(bus_backoff_delays_double_and_cap)
{
	CHECK_EQ_INT(bus_reconnect_delay_ms(0), 100);
	CHECK_EQ_INT(bus_reconnect_delay_ms(1), 100);
	CHECK_EQ_INT(bus_reconnect_delay_ms(2), 200);
	CHECK_EQ_INT(bus_reconnect_delay_ms(6), 3200);
	CHECK_EQ_INT(bus_reconnect_delay_ms(7), 5000);
	CHECK_EQ_INT(bus_reconnect_delay_ms(1000000), 5000);
	CHECK_EQ_INT(bus_retry_delay_ms(1), 100);
	CHECK_EQ_INT(bus_retry_delay_ms(3), 400);
	CHECK_EQ_INT(bus_retry_delay_ms(5), 1600);
	CHECK_EQ_INT(bus_retry_delay_ms(6), 2000);
	CHECK_EQ_INT(bus_retry_delay_ms(INT32_MAX), 2000);
}

TEST(bus_sleep_stops_early)
{
	atomic_bool stop;
	atomic_init(&stop, true);
	int64_t t0 = clock_mono_us();
	CHECK(bus_sleep(5000, &stop));
	CHECK(clock_mono_us() - t0 < 100000);
	atomic_store(&stop, false);
	t0 = clock_mono_us();
	CHECK(!bus_sleep(30, &stop));
	CHECK(clock_mono_us() - t0 >= 30000);
	CHECK(!bus_sleep(0, NULL));
}

TEST(bus_without_a_broker_answers_per_contract)
{
	bus *b = bus_new(BUS_NOBODY, 200, "unit-test");
	CHECK(b != NULL);
	bus_message m = { .type = "order.created", .message_id = "id-1", .body = "x", .len = 1 };
	CHECK_EQ_INT(bus_publish(b, &m, 1), -1);
	CHECK_EQ_INT(bus_publish(b, &m, 0), 0);
	bus_message bad = { .type = "order created", .message_id = "id-1" };
	CHECK_EQ_INT(bus_publish(b, &bad, 1), 0);  /* invalid first: nothing to send, no connect */
	bus_message no_id = { .type = "order.created", .message_id = "" };
	CHECK_EQ_INT(bus_publish(b, &no_id, 1), 0);
	/* bus_publish_each: the same answers, and every acked[] false */
	bus_message two[2] = { bad, m };
	bool acked[2] = { true, true };
	CHECK_EQ_INT(bus_publish_each(b, two, 2, acked), -1);   /* the valid one needs a connection */
	CHECK(!acked[0] && !acked[1]);
	acked[0] = acked[1] = true;
	CHECK_EQ_INT(bus_publish_each(b, two, 1, acked), 0);    /* only invalid: no connect */
	CHECK(!acked[0] && acked[1]);                           /* only acked[0..n) is written */
	CHECK_EQ_INT(bus_publish_each(b, two, 0, NULL), 0);
	CHECK_EQ_INT(bus_queue_depth(b, BUS_DLQ), -1);
	CHECK_EQ_INT(bus_queue_depth(b, ""), -1);
	const char *keys[] = { "order.created" };
	CHECK_EQ_INT(bus_declare(b, "svc-x", keys, 1, 5), -1);  /* remembered, not declared */
	CHECK_EQ_INT(bus_declare(b, "svc-x", keys, 1, 6), -1);  /* replaces it */
	CHECK_EQ_INT(bus_declare(b, NULL, NULL, 0, 0), -1);
	bus_free(b);
}

TEST(bus_declare_rejects_invalid_arguments)
{
	bus *b = bus_new(BUS_NOBODY, 200, "unit-test");
	const char *keys[] = { "order.created", NULL };
	CHECK_EQ_INT(bus_declare(b, "q", keys, 1, 0), -1);
	CHECK_EQ_INT(bus_declare(b, "q", keys, 1, 1001), -1);
	CHECK_EQ_INT(bus_declare(b, "q", keys, 2, 5), -1);     /* a NULL key */
	CHECK_EQ_INT(bus_declare(b, "q", NULL, 1, 5), -1);
	CHECK_EQ_INT(bus_declare(b, "", keys, 1, 5), -1);
	CHECK_EQ_INT(bus_declare(b, "amq.x", keys, 1, 5), -1);  /* reserved by the broker */
	CHECK(b->decls == NULL);                                 /* none remembered */
	CHECK_EQ_INT(bus_declare(b, "q", keys, 1, 5), -1);      /* valid: remembered */
	CHECK(b->decls != NULL && b->decls->n_keys == 1 && b->decls->max_deliveries == 5);
	bus_free(b);
}

static bus_outcome test_bus_never_called(const bus_message *m, int delivery, void *arg)
{
	(void)m;
	(void)delivery;
	*(int *)arg += 1;
	return BUS_ACK;
}

typedef struct test_bus_consumer {
	bus *b;
	atomic_bool stop;
	int calls;
	int rc;
} test_bus_consumer;

static void *test_bus_consume_main(void *arg)
{
	test_bus_consumer *c = arg;
	c->rc = bus_consume(c->b, "q", 1, test_bus_never_called, &c->calls, &c->stop);
	return NULL;
}

TEST(bus_consume_keeps_trying_without_a_broker_and_stops_quickly)
{
	test_bus_consumer c = { .b = bus_new(BUS_NOBODY, 200, "unit-test") };
	atomic_init(&c.stop, false);
	pthread_t th;
	CHECK_EQ_INT(pthread_create(&th, NULL, test_bus_consume_main, &c), 0);
	clock_sleep_ms(400);   /* a few reconnect attempts: 100, 200 ms apart */
	int64_t t0 = clock_mono_us();
	atomic_store(&c.stop, true);
	pthread_join(th, NULL);
	CHECK(clock_mono_us() - t0 < 300000);   /* the backoff sleep notices stop */
	CHECK_EQ_INT(c.rc, 0);
	CHECK_EQ_INT(c.calls, 0);
	bus_free(c.b);
}

TEST(bus_consume_rejects_invalid_arguments)
{
	bus *b = bus_new(BUS_NOBODY, 200, "unit-test");
	atomic_bool stop;
	atomic_init(&stop, true);
	int calls = 0;
	CHECK_EQ_INT(bus_consume(b, "q", 0, test_bus_never_called, &calls, &stop), -1);
	CHECK_EQ_INT(bus_consume(b, "q", 65536, test_bus_never_called, &calls, &stop), -1);
	CHECK_EQ_INT(bus_consume(b, "", 1, test_bus_never_called, &calls, &stop), -1);
	CHECK_EQ_INT(bus_consume(b, "q", 1, NULL, &calls, &stop), -1);
	CHECK_EQ_INT(bus_consume(b, "q", 1, test_bus_never_called, &calls, NULL), -1);
	CHECK_EQ_INT(bus_consume(b, "q", 1, test_bus_never_called, &calls, &stop), 0);  /* stopped already */
	bus_free(b);
}

/* A broker that accepts the connection and never answers (frozen), met by
 * a stopping process: the login waits no longer than what is left of the
 * stop's grace, not the handle's 10 s; once the grace is over, nothing is
 * tried at all. */
static int bus_stop_cuts_a_login(void *arg)
{
	bus *b = bus_new(arg, 10000, "unit-test");
	if (b == NULL)
		return 10;
	stopsig_begin(SIGTERM);
	int64_t t0 = clock_mono_us();
	if (bus_ping(b))
		return 11;
	int64_t took = (clock_mono_us() - t0) / 1000;
	if (took > STOPSIG_GRACE_MS + 300)
		return 12;
	clock_sleep_ms(STOPSIG_GRACE_MS);
	t0 = clock_mono_us();
	if (bus_ping(b) || (clock_mono_us() - t0) / 1000 > 100)
		return 13;
	bus_free(b);
	return 0;
}

TEST(bus_stop_bounds_a_wait_on_a_frozen_broker)
{
	int port = 0;
	int fd = teststop_silent_server(&port);
	CHECK(fd >= 0);
	char url[96];
	snprintf(url, sizeof(url), "amqp://guest:guest@127.0.0.1:%d/", port);
	CHECK_EQ_INT(teststop_in_child(bus_stop_cuts_a_login, url), 0);
	if (fd >= 0)
		close(fd);
}
