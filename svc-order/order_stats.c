#include "order_stats.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "order_status.h"

void order_stats_init(order_stats *s)
{
	memset(s, 0, sizeof(*s));
}

static bool order_stats_currency_ok(const char *c)
{
	return c != NULL && strlen(c) == 3 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' &&
	    c[2] >= 'A' && c[2] <= 'Z';
}

int order_stats_add_status(order_stats *s, const char *status, int64_t n)
{
	Comanda__OrderStatus st = order_status_parse(status != NULL ? status : "");
	if (st < COMANDA__ORDER_STATUS__ORDER_PENDING || st > COMANDA__ORDER_STATUS__ORDER_DELIVERED || n < 0)
		return -1;
	int64_t orders, in_status;
	if (__builtin_add_overflow(s->orders, n, &orders) ||
	    __builtin_add_overflow(s->by_status[st - COMANDA__ORDER_STATUS__ORDER_PENDING], n, &in_status))
		return -1;
	s->orders = orders;
	s->by_status[st - COMANDA__ORDER_STATUS__ORDER_PENDING] = in_status;
	return 0;
}

int order_stats_add_received(order_stats *s, const char *currency, int64_t total_minor)
{
	if (!order_stats_currency_ok(currency) || total_minor < 0)
		return -1;
	int i = 0;
	while (i < s->n_paid && strcmp(s->paid[i].currency, currency) != 0)
		i++;
	if (i == s->n_paid && s->n_paid == ORDER_STATS_CURRENCIES)
		return -1;
	int64_t total = i < s->n_paid ? s->paid[i].total_minor : 0;
	if (__builtin_add_overflow(total, total_minor, &total))
		return -1;
	if (i == s->n_paid) {
		memcpy(s->paid[i].currency, currency, 4);
		s->n_paid++;
	}
	s->paid[i].total_minor = total;
	return 0;
}

static int order_stats_cmp(const void *a, const void *b)
{
	const order_stats_currency *x = a, *y = b;
	if (x->total_minor != y->total_minor)
		return x->total_minor > y->total_minor ? -1 : 1;
	return strcmp(x->currency, y->currency);
}

void order_stats_sort(order_stats *s)
{
	qsort(s->paid, (size_t)s->n_paid, sizeof(s->paid[0]), order_stats_cmp);
}
