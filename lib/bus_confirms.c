/*
 * bus_confirms.c: the publisher-confirm bookkeeping of one bus_publish
 * batch. Kept apart from the I/O so the one rule that matters, "never call
 * a message confirmed that the broker did not ack", is tested without a
 * broker. See bus_impl.h.
 */
#include <stdlib.h>

#include "bus_impl.h"

int bus_confirms_init(bus_confirms *c, uint64_t first, size_t n)
{
	c->first = first;
	c->n = n;
	/* calloc: every message starts BUS_PENDING (0). */
	c->state = calloc(n > 0 ? n : 1, 1);
	return c->state != NULL ? 0 : -1;
}

void bus_confirms_free(bus_confirms *c)
{
	free(c->state);
	c->state = NULL;
	c->n = 0;
}

void bus_confirms_on(bus_confirms *c, uint64_t tag, bool multiple, bool ack)
{
	unsigned char to = ack ? BUS_ACKED : BUS_NACKED;
	size_t lo, hi;   /* the indexes [lo, hi) this answer covers */
	if (multiple) {
		/* "Up to and including tag"; tag 0 means every outstanding one. */
		if (tag != 0 && tag < c->first)
			return;  /* all of it answers an earlier batch */
		lo = 0;
		hi = (tag == 0 || tag - c->first >= c->n) ? c->n : (size_t)(tag - c->first) + 1;
	} else {
		if (tag < c->first || tag - c->first >= c->n)
			return;
		lo = (size_t)(tag - c->first);
		hi = lo + 1;
	}
	/* The first answer stands: a broker answers each message once, and if
	 * one ever said both, the nack must not be overwritten by an ack. */
	for (size_t i = lo; i < hi; i++) {
		if (c->state[i] == BUS_PENDING)
			c->state[i] = to;
	}
}

size_t bus_confirms_prefix(const bus_confirms *c)
{
	size_t k = 0;
	while (k < c->n && c->state[k] == BUS_ACKED)
		k++;
	return k;
}

bool bus_confirms_settled(const bus_confirms *c)
{
	size_t k = bus_confirms_prefix(c);
	return k == c->n || c->state[k] == BUS_NACKED;
}

bool bus_confirms_answered(const bus_confirms *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->state[i] == BUS_PENDING)
			return false;
	}
	return true;
}
