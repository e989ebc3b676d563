#include "live.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp_tcp_socket.h>

static int live_passed, live_failed, live_skipped;

void check(bool ok, const char *name, const char *fmt, ...)
{
	if (ok) {
		live_passed++;
		printf("ok   %s\n", name);
		return;
	}
	live_failed++;
	printf("FAIL %s\n", name);
	if (fmt != NULL && fmt[0] != '\0') {
		va_list ap;
		va_start(ap, fmt);
		printf("     ");
		vprintf(fmt, ap);
		printf("\n");
		va_end(ap);
	}
}

void skip(const char *name, const char *why)
{
	live_skipped++;
	printf("skip %s: %s\n", name, why);
}

int live_finish(const char *program)
{
	if (live_skipped > 0)
		printf("%s: %d passed, %d failed, %d skipped\n", program, live_passed, live_failed, live_skipped);
	else
		printf("%s: %d passed, %d failed\n", program, live_passed, live_failed);
	return live_failed == 0 ? 0 : 1;
}

amqp_connection_state_t live_amqp_open(const char *url)
{
	struct amqp_connection_info ci;
	char *buf = url != NULL ? strdup(url) : NULL; /* ci points into it until the login */
	if (buf == NULL || amqp_parse_url(buf, &ci) != AMQP_STATUS_OK) {
		free(buf);
		return NULL;
	}
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = c != NULL ? amqp_tcp_socket_new(c) : NULL;
	struct timeval tv = { 5, 0 };
	bool ok = s != NULL && amqp_socket_open_noblock(s, ci.host, ci.port, &tv) == AMQP_STATUS_OK;
	if (ok) {
		amqp_set_rpc_timeout(c, &tv);
		ok = amqp_login(c, ci.vhost[0] != '\0' ? ci.vhost : "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0,
		         AMQP_SASL_METHOD_PLAIN, ci.user, ci.password)
		         .reply_type == AMQP_RESPONSE_NORMAL;
	}
	if (ok) {
		amqp_channel_open(c, 1);
		ok = amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL;
	}
	free(buf);
	if (!ok && c != NULL) {
		amqp_destroy_connection(c);
		c = NULL;
	}
	return c;
}

void live_amqp_close(amqp_connection_state_t c)
{
	if (c == NULL)
		return;
	amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
}
