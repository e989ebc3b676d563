/*
 * dead_letter_live: takes one order's messages off comanda.dead-letter, for
 * a script that caused them on purpose (test_payment_cancel_dead_letter.sh)
 * and must leave the queue as it found it: test_saga.sh and the chaos test
 * require it empty.
 *
 *   AMQP_URL=... dead_letter_live ORDER_ID
 *
 * Reads comanda.dead-letter to its end with basic.get, acks (removes) each
 * message whose correlation id is ORDER_ID and prints it as one line
 *
 *   dead-letter <type> <message_id> <x-first-death-reason> <x-first-death-queue>
 *
 * ("-" for a field the message lacks). Messages of other orders are taken
 * unacked and so go back to the queue when the connection closes: someone
 * else's dead letters are not this program's to remove.
 *
 * Output: those lines, "ok   <check>" / "FAIL <check>" lines, then
 * "dead_letter_live: N passed, M failed". Exit status 0 iff none failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>

#include "bus.h"
#include "live.h"

/* The queue holds what failed: a few messages, or a few thousand after an
 * incident; more than this is not a test's queue. */
#define DLL_MAX_READ 100000

static bool bytes_eq(amqp_bytes_t b, const char *s)
{
	return b.len == strlen(s) && memcmp(b.bytes, s, b.len) == 0;
}

/* A string header of m into dst ("-" when absent or not a string). */
static void header_str(const amqp_basic_properties_t *p, const char *key, char *dst, size_t cap)
{
	snprintf(dst, cap, "-");
	if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
		return;
	for (int i = 0; i < p->headers.num_entries; i++) {
		const amqp_table_entry_t *e = &p->headers.entries[i];
		if (bytes_eq(e->key, key) &&
		    (e->value.kind == AMQP_FIELD_KIND_UTF8 || e->value.kind == AMQP_FIELD_KIND_BYTES))
			snprintf(dst, cap, "%.*s", (int)e->value.value.bytes.len, (const char *)e->value.value.bytes.bytes);
	}
}

static void prop_str(bool present, amqp_bytes_t b, char *dst, size_t cap)
{
	if (present)
		snprintf(dst, cap, "%.*s", (int)b.len, (const char *)b.bytes);
	else
		snprintf(dst, cap, "-");
}

int main(int argc, char **argv)
{
	const char *url = getenv("AMQP_URL");
	if (argc != 2 || url == NULL || url[0] == '\0') {
		fprintf(stderr, "usage: AMQP_URL=amqp://... %s ORDER_ID\n", argv[0]);
		return 2;
	}
	const char *order = argv[1];
	amqp_connection_state_t c = live_amqp_open(url);
	check(c != NULL, "a plain AMQP connection to the broker", "%s", url);
	if (c == NULL)
		return live_finish("dead_letter_live");
	int read = 0, taken = 0;
	bool clean = false; /* read to the queue's end without an error */
	while (read < DLL_MAX_READ) {
		amqp_rpc_reply_t rep = amqp_basic_get(c, 1, amqp_cstring_bytes(BUS_DLQ), 0);
		if (rep.reply_type != AMQP_RESPONSE_NORMAL)
			break;
		if (rep.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) {
			clean = true;
			break;
		}
		uint64_t tag = ((amqp_basic_get_ok_t *)rep.reply.decoded)->delivery_tag;
		amqp_message_t m;
		if (amqp_read_message(c, 1, &m, 0).reply_type != AMQP_RESPONSE_NORMAL)
			break;
		read++;
		const amqp_basic_properties_t *p = &m.properties;
		if ((p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) && bytes_eq(p->correlation_id, order)) {
			char type[256], id[256], reason[64], queue[256];
			prop_str(p->_flags & AMQP_BASIC_TYPE_FLAG, p->type, type, sizeof(type));
			prop_str(p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG, p->message_id, id, sizeof(id));
			header_str(p, "x-first-death-reason", reason, sizeof(reason));
			header_str(p, "x-first-death-queue", queue, sizeof(queue));
			printf("dead-letter %s %s %s %s\n", type, id, reason, queue);
			if (amqp_basic_ack(c, 1, tag, 0) == AMQP_STATUS_OK)
				taken++;
		}
		amqp_destroy_message(&m);
		amqp_maybe_release_buffers(c);
	}
	check(clean, "comanda.dead-letter read to its end", "stopped after %d messages", read);
	printf("%d of the %d dead letters read were of order %s: taken off\n", taken, read, order);
	/* The others, unacked, go back to the queue. */
	live_amqp_close(c);
	return live_finish("dead_letter_live");
}
