/*
 * order_status: the order status machine of API.md, in one table.
 *
 *   pending        -> paid            (payment event only)
 *   pending        -> payment_failed  (payment event only)
 *   payment_failed -> paid            (payment event only: a later payment completed)
 *   pending | payment_failed | paid -> cancelled  (owner or admin)
 *   paid           -> shipped         (admin)
 *   shipped        -> delivered       (admin)
 *
 * Every other change is refused: FORBIDDEN when the actor may never set
 * the target status but another person may (a customer asking for
 * shipped, whatever the order's status), else INVALID. The table is the
 * only place these rules live: the handlers ask it, the 409 details list
 * what it allows.
 *
 * Threading: pure functions over constant data.
 */
#ifndef COMANDA_ORDER_STATUS_H
#define COMANDA_ORDER_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include "comanda/order.pb-c.h"

/* Who asks for a change. */
typedef enum order_actor {
	ORDER_ACTOR_EVENT = 1,   /* the payment flow (payment.completed / failed / refunded) */
	ORDER_ACTOR_OWNER = 2,   /* the customer who owns the order */
	ORDER_ACTOR_ADMIN = 4,
} order_actor;

typedef enum order_verdict {
	ORDER_MOVE_OK = 0,
	ORDER_MOVE_FORBIDDEN,    /* the change, or any change to that status, is only another
	                          * kind of person's to make: 403 */
	ORDER_MOVE_INVALID,      /* no such change from this status: 409 */
} order_verdict;

/* May `actor` move an order from `from` to `to`? */
order_verdict order_status_check(Comanda__OrderStatus from, Comanda__OrderStatus to, order_actor actor);

/* The statuses `actor` may move an order in `from` to, in table order, into
 * out (cap entries); returns how many. */
size_t order_status_next(Comanda__OrderStatus from, order_actor actor, Comanda__OrderStatus *out, size_t cap);

/* Is a payment.refunded early for an order in `from`? A refund is of a
 * completed payment, and a completion moves a pending or payment_failed
 * order to paid, so an order still in one of those has not seen its
 * payment's payment.completed yet (a requeue, or two consumers, delivered
 * the refund first). Applied now, the refund would change nothing and the
 * late completion would make the order paid with its money given back:
 * the refund waits for it instead (retried). */
bool order_refund_before_completion(Comanda__OrderStatus from);

/* "pending", "paid", "payment_failed", "cancelled", "shipped", "delivered";
 * "unknown" otherwise. */
const char *order_status_name(Comanda__OrderStatus s);

/* The reverse; ORDER_STATUS_UNSPECIFIED for an unknown name. */
Comanda__OrderStatus order_status_parse(const char *name);

#endif
