/*
 * order_lock: serialises this process's writes to one order document.
 *
 * Why: every change to an order is one update whose filter names the state
 * it expects (a compare-and-set). MongoDB applies such an update atomically
 * per document. FerretDB v1 (the local MongoDB-wire server, on PostgreSQL)
 * does not: it reads the document, applies the filter and the update in Go,
 * and writes the result back, so two concurrent updates of one document can
 * both match and the second overwrites the first (measured: 20 concurrent
 * cancels of one order, two answered 200 and the history shows "cancelled"
 * twice). A striped lock around each write makes the read-check-write
 * atomic again for everything this process writes. It does not protect
 * against another svc-order replica on FerretDB: run one replica there, or
 * MongoDB (docs/SCALING.md).
 *
 * Threading: any thread; locks are not re-entrant. Hold one order's lock,
 * or one order_lock_many set, at a time, never both.
 */
#ifndef COMANDA_ORDER_LOCK_H
#define COMANDA_ORDER_LOCK_H

#include <stdint.h>

#include <bson/bson.h>

void order_lock(const bson_oid_t *oid);
void order_unlock(const bson_oid_t *oid);

/* order_lock for a caller with a deadline (an RPC's): the lock is had by
 * deadline_us (clock_mono_us) or not at all. Its wait can be long: while
 * the relay's update_many holds the order (order_lock_many, up to seconds
 * on FerretDB) or another write of its stripe runs. Returns 0 with the lock
 * held (release it with order_unlock), or -1 without it when the deadline
 * passed first, also when it had passed before the call: a write made after
 * its caller stopped waiting would be answered to nobody. */
int order_lock_until(const bson_oid_t *oid, int64_t deadline_us);

/* Holds the orders oids[0..n) (duplicates are fine) for one write that
 * updates many orders, the outbox relay's update_many: returns once no
 * order_lock of one of them is held, and until order_unlock_many an
 * order_lock of one of them waits. An order_lock of any other order does
 * not wait (beyond a write already running on its stripe when this
 * starts): on FerretDB the relay's write takes up to seconds, and a
 * stripe lock per order would stall ~40% of all orders that long.
 * One set at a time (a second caller waits for the first to release);
 * oids must stay valid and unchanged until order_unlock_many, and the
 * caller must hold no order lock meanwhile. */
void order_lock_many(const bson_oid_t *oids, size_t n);

/* Releases the set order_lock_many holds. */
void order_unlock_many(void);

#endif
