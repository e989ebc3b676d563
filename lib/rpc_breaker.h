/*
 * rpc_breaker: an RPC client stops waiting on a service that has stopped
 * answering.
 *
 * A service that is killed is noticed at once: its connections close and
 * calls fail fast (no pipes). One that hangs (stopped, deadlocked, a stalled
 * VM) keeps its connections, so every call waits out its whole deadline and
 * the caller answers 504s seconds late while its own connections pile up.
 * After `threshold` calls in a row got no answer before their deadline, the
 * breaker opens: calls fail at once (UNAVAILABLE) for `open_ms`. Then one
 * call goes through as a probe while the others still fail fast; an answer
 * closes the breaker, another timeout opens it again. Any answer, an error
 * code included, resets the count: a service that is only slow and answers
 * some calls in time never trips it, and neither does one hung replica
 * among healthy ones (its timeouts are interleaved with answers).
 *
 * Threading: lock-free; any thread. The state is read on every call and
 * written only when a count changes, so a healthy client shares no written
 * cache line between its threads.
 */
#ifndef COMANDA_RPC_BREAKER_H
#define COMANDA_RPC_BREAKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct rpc_breaker {
	int threshold;                       /* timeouts in a row that open it; 0: never opens */
	int open_ms;                         /* how long it stays open before a probe */
	atomic_int timeouts;                 /* calls in a row that got no answer */
	atomic_int_least64_t open_until_us;  /* clock_mono_us; 0: closed */
} rpc_breaker;

/* threshold 0 turns the breaker off; open_ms <= 0 means 1000. */
void rpc_breaker_init(rpc_breaker *b, int threshold, int open_ms);

/* Before a call at now_us whose deadline is timeout_ms away: true when it
 * may go out. Closed: true. Open: false until open_ms has passed; then true
 * for exactly one caller (the probe), after which the others get false until
 * the probe ends (its deadline plus open_ms at most). */
bool rpc_breaker_allow(rpc_breaker *b, int64_t now_us, int timeout_ms);

/* After a call that went out: timed_out when no answer came before its
 * deadline, else false (any reply, or a transport error other than a
 * timeout). Returns 1 when this call opened the breaker, -1 when it closed
 * it, 0 otherwise (for the caller's log line). */
int rpc_breaker_record(rpc_breaker *b, bool timed_out, int64_t now_us);

#endif
