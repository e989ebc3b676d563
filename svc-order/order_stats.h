/*
 * order_stats: the counts behind GET /api/orders/stats. The database groups
 * the orders twice: by status (the counts), and those whose money was
 * received (paid, shipped, delivered, and not refunded: a shipped or
 * delivered order keeps its status after a refund, order_service.c) by
 * currency (the sum of their totals).
 * This adds the groups up into what the API answers: orders in all, per
 * status with zeros included, and the received money per currency.
 *
 * Threading: an order_stats belongs to one caller; the functions are
 * reentrant.
 */
#ifndef COMANDA_ORDER_STATS_H
#define COMANDA_ORDER_STATS_H

#include <stdint.h>

#include "comanda/order.pb-c.h"

/* Statuses counted: ORDER_PENDING .. ORDER_DELIVERED, by enum value. */
#define ORDER_STATS_STATUSES 6
/* Distinct currencies of received money: more than ISO 4217 has codes. */
#define ORDER_STATS_CURRENCIES 256

typedef struct order_stats_currency {
	char currency[4];
	int64_t total_minor;
} order_stats_currency;

typedef struct order_stats {
	int64_t orders;
	int64_t by_status[ORDER_STATS_STATUSES];      /* [status - ORDER_PENDING] */
	order_stats_currency paid[ORDER_STATS_CURRENCIES];
	int n_paid;
} order_stats;

void order_stats_init(order_stats *s);

/* Adds a group of the count by status: n orders in status (its API
 * name). Returns 0, or -1 and adds nothing for an unknown status, a
 * negative count or a sum that would overflow int64. */
int order_stats_add_status(order_stats *s, const char *status, int64_t n);

/* Adds a group of the received money: orders in currency (3 capital
 * letters) whose totals sum to total_minor. Returns 0, or -1 and adds
 * nothing for a malformed currency, a negative total, a sum that would
 * overflow int64, or one currency too many. */
int order_stats_add_received(order_stats *s, const char *currency, int64_t total_minor);

/* Sorts the received money by total, largest first (then by currency code,
 * so equal totals keep one order). */
void order_stats_sort(order_stats *s);

#endif
