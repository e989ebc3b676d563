#include "rpc_breaker.h"

void rpc_breaker_init(rpc_breaker *b, int threshold, int open_ms)
{
	b->threshold = threshold > 0 ? threshold : 0;
	b->open_ms = open_ms > 0 ? open_ms : 1000;
	atomic_init(&b->timeouts, 0);
	atomic_init(&b->open_until_us, 0);
}

bool rpc_breaker_allow(rpc_breaker *b, int64_t now_us, int timeout_ms)
{
	int_least64_t until = atomic_load_explicit(&b->open_until_us, memory_order_relaxed);
	if (until == 0)
		return true;
	if (now_us < until)
		return false;
	/* The open period is over: the caller that moves the mark is the probe;
	 * the mark it sets keeps the others out while the probe is under way. */
	int_least64_t probe_until = now_us + ((int64_t)timeout_ms + b->open_ms) * 1000;
	return atomic_compare_exchange_strong(&b->open_until_us, &until, probe_until);
}

int rpc_breaker_record(rpc_breaker *b, bool timed_out, int64_t now_us)
{
	if (!timed_out) {
		if (atomic_load_explicit(&b->timeouts, memory_order_relaxed) != 0)
			atomic_store(&b->timeouts, 0);
		if (atomic_load_explicit(&b->open_until_us, memory_order_relaxed) != 0 &&
		    atomic_exchange(&b->open_until_us, 0) != 0)
			return -1;
		return 0;
	}
	int n = atomic_fetch_add(&b->timeouts, 1) + 1;
	if (b->threshold == 0 || n < b->threshold)
		return 0;
	int_least64_t was = atomic_exchange(&b->open_until_us, now_us + (int64_t)b->open_ms * 1000);
	return was == 0 ? 1 : 0;
}
