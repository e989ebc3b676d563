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
 * Threading: any thread; locks are not re-entrant.
 */
#ifndef COMANDA_ORDER_LOCK_H
#define COMANDA_ORDER_LOCK_H

#include <bson/bson.h>

void order_lock(const bson_oid_t *oid);
void order_unlock(const bson_oid_t *oid);

#endif
