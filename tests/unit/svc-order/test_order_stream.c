/* svc-order/order_stream: a client whose streams are ours answers as the
 * driver's would while nothing stops (a refused connect fails at once), and
 * its wait on a server that never answers (frozen) ends at the stop's grace,
 * not at its own timeouts (20 s to connect and for the hello, 30 s to select
 * a server). */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "clock.h"
#include "order_stream.h"
#include "stopsig.h"
#include "test.h"
#include "teststop.h"

/* A client of url with our streams, the driver's errors as error API 2. */
static mongoc_client_t *test_client(const char *url)
{
	mongoc_init();
	mongoc_log_set_handler(NULL, NULL); /* its DEBUG lines would go to stderr */
	mongoc_client_t *c = mongoc_client_new(url);
	if (c != NULL) {
		mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
		order_stream_use(c);
	}
	return c;
}

static bool test_ping(mongoc_client_t *c)
{
	bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
	bson_t reply;
	bool ok = mongoc_client_command_simple(c, "admin", cmd, NULL, &reply, NULL);
	bson_destroy(&reply);
	bson_destroy(cmd);
	return ok;
}

#define TEST_URI_OPTS "?connectTimeoutMS=20000&serverSelectionTimeoutMS=30000&socketTimeoutMS=30000"

TEST(order_stream_refused_connect_fails_at_once)
{
	mongoc_client_t *c = test_client("mongodb://127.0.0.1:1/x" TEST_URI_OPTS);
	CHECK(c != NULL);
	int64_t t0 = clock_mono_us();
	CHECK(!test_ping(c));
	CHECK(clock_mono_us() - t0 < 2000 * 1000);
	mongoc_client_destroy(c);
}

/* The child's ping, the stop begun 200 ms into it. */
static int order_stream_stop_cuts_the_hello(void *arg)
{
	mongoc_client_t *c = test_client(arg);
	if (c == NULL || teststop_begin_after(200) != 0)
		return 10;
	int64_t t0 = clock_mono_us();
	if (test_ping(c))
		return 11;
	int64_t took = (clock_mono_us() - t0) / 1000;
	if (took < 200 + STOPSIG_GRACE_MS - 50 || took > 200 + STOPSIG_GRACE_MS + 1000)
		return 12;
	/* and its goodbye (endSessions) waits for nothing either */
	t0 = clock_mono_us();
	mongoc_client_destroy(c);
	return (clock_mono_us() - t0) / 1000 < 500 ? 0 : 13;
}

TEST(order_stream_stop_cuts_a_wait_on_a_server_that_never_answers)
{
	int port = 0;
	int fd = teststop_silent_server(&port);
	CHECK(fd >= 0);
	char url[160];
	snprintf(url, sizeof(url), "mongodb://127.0.0.1:%d/x" TEST_URI_OPTS, port);
	CHECK_EQ_INT(teststop_in_child(order_stream_stop_cuts_the_hello, url), 0);
	if (fd >= 0)
		close(fd);
}
