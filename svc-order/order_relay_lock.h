/*
 * order_relay_lock: whose turn it is to relay svc-order's outboxes.
 *
 * Every svc-order replica runs an outbox relay. Without turns, each one's
 * scans find the same pending orders, so with N replicas a backlog (after a
 * broker outage, say) went to the broker up to N times: correct, since
 * consumers ignore an event id they have applied, but N times the traffic.
 * Now a relay pass (read, publish, mark) runs only while its replica holds
 * one lock document in the orders database:
 *
 *   relay_locks: {_id: "order-outbox", holder: "<host>/<pid>/<uuid>",
 *                 expires_at: <wall-clock ms>}
 *
 * Taking it is an insert, which the unique _id makes atomic on MongoDB and
 * on FerretDB v1 alike (FerretDB's updates are not atomic, docs/SCALING.md,
 * but its _id index is PostgreSQL's), made only after a read finds no lock:
 * the usual "held" answer is then a read, not a refused insert, which
 * FerretDB's PostgreSQL would log as an error. Giving it back is a delete
 * naming the holder. A replica that dies or freezes mid-pass leaves its document; once
 * its expires_at is past, another replica deletes exactly that document
 * (holder and expires_at in the filter) and inserts its own. The caller
 * picks a lease well beyond a pass; if a holder still outlives it (a
 * stalled database), two passes overlap and some events go out twice,
 * which consumers ignore; nothing is lost, since marking stays a
 * compare-and-set on each order.
 * Clocks of different machines only need to agree to within the lease.
 *
 * Threading: any thread, with a mongoc client of its own.
 */
#ifndef COMANDA_ORDER_RELAY_LOCK_H
#define COMANDA_ORDER_RELAY_LOCK_H

#include <stddef.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#define ORDER_RELAY_LOCK_COLLECTION "relay_locks"
#define ORDER_RELAY_LOCK_ID "order-outbox"
#define ORDER_RELAY_LOCK_HOLDER_MAX 160 /* "<host>/<pid>/<uuid>" and the NUL */

typedef enum order_relay_lock_result {
	ORDER_RELAY_LOCK_TAKEN = 0, /* this holder now has it until now + lease */
	ORDER_RELAY_LOCK_BUSY = 1,  /* another holder has it, not expired */
	ORDER_RELAY_LOCK_ERROR = -1 /* the database failed (logged): try later */
} order_relay_lock_result;

/* Writes this process's holder name into out: "<host>/<pid>/<uuid v4>",
 * unique per call (each relay thread names itself once). */
void order_relay_lock_holder(char *out, size_t cap);

/* Tries to take the lock in database db for holder until now_ms + lease_ms
 * (wall clock). When another holder's lock has expired (expires_at <
 * now_ms), deletes that one document and tries once more; *taken_over is
 * then set (may be NULL). Does not wait. */
order_relay_lock_result order_relay_lock_take(mongoc_client_t *client, const char *db, const char *holder,
    int64_t now_ms, int64_t lease_ms, int *taken_over);

/* Gives the lock back if holder still has it (a lock another replica took
 * over after it expired is left alone). Returns 0, or -1 when the database
 * failed (logged; the lock then expires by itself). */
int order_relay_lock_release(mongoc_client_t *client, const char *db, const char *holder);

#endif
