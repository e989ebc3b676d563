/* svc-order/order_stats: adding up the database's groups for
 * GET /api/orders/stats. */
#include <stdint.h>

#include "order_stats.h"
#include "test.h"

TEST(order_stats_counts_every_status_and_received_money_per_currency)
{
	static order_stats s;
	order_stats_init(&s);
	CHECK_EQ_INT(order_stats_add_status(&s, "pending", 3), 0);
	CHECK_EQ_INT(order_stats_add_status(&s, "paid", 2), 0);
	CHECK_EQ_INT(order_stats_add_status(&s, "delivered", 1), 0);
	CHECK_EQ_INT(order_stats_add_status(&s, "pending", 4), 0); /* groups of one status add up */
	CHECK(s.orders == 10);
	CHECK(s.by_status[COMANDA__ORDER_STATUS__ORDER_PENDING - 1] == 7);
	CHECK(s.by_status[COMANDA__ORDER_STATUS__ORDER_PAID - 1] == 2);
	CHECK(s.by_status[COMANDA__ORDER_STATUS__ORDER_SHIPPED - 1] == 0);
	CHECK_EQ_INT(order_stats_add_received(&s, "USD", 1999), 0);
	CHECK_EQ_INT(order_stats_add_received(&s, "COP", 366000000), 0);
	CHECK_EQ_INT(order_stats_add_received(&s, "EUR", 1999), 0);
	CHECK_EQ_INT(order_stats_add_received(&s, "USD", 1), 0);
	CHECK_EQ_INT(s.n_paid, 3);
	order_stats_sort(&s); /* largest first; equal totals by code */
	CHECK_STREQ(s.paid[0].currency, "COP");
	CHECK_STREQ(s.paid[1].currency, "USD");
	CHECK(s.paid[1].total_minor == 2000);
	CHECK_STREQ(s.paid[2].currency, "EUR");
}

TEST(order_stats_refuses_groups_that_cannot_be_right)
{
	static order_stats s;
	order_stats_init(&s);
	CHECK_EQ_INT(order_stats_add_status(&s, "teleported", 1), -1);
	CHECK_EQ_INT(order_stats_add_status(&s, NULL, 1), -1);
	CHECK_EQ_INT(order_stats_add_status(&s, "paid", -1), -1);
	CHECK_EQ_INT(order_stats_add_received(&s, "usd", 1), -1);
	CHECK_EQ_INT(order_stats_add_received(&s, "USDX", 1), -1);
	CHECK_EQ_INT(order_stats_add_received(&s, NULL, 1), -1);
	CHECK_EQ_INT(order_stats_add_received(&s, "USD", -1), -1); /* a double or missing sum comes as -1 */
	CHECK(s.orders == 0 && s.n_paid == 0);
	/* int64 overflow: refused, and what was there stays */
	CHECK_EQ_INT(order_stats_add_received(&s, "USD", INT64_MAX), 0);
	CHECK_EQ_INT(order_stats_add_received(&s, "USD", 1), -1);
	CHECK(s.paid[0].total_minor == INT64_MAX);
	CHECK_EQ_INT(order_stats_add_status(&s, "paid", INT64_MAX), 0);
	CHECK_EQ_INT(order_stats_add_status(&s, "pending", 1), -1);
	CHECK(s.orders == INT64_MAX && s.by_status[0] == 0);
	/* one currency more than the table holds */
	order_stats_init(&s);
	char code[4] = "AAA";
	for (int i = 0; i < ORDER_STATS_CURRENCIES; i++) {
		code[0] = (char)('A' + i / 26 % 26);
		code[1] = (char)('A' + i % 26);
		code[2] = (char)('A' + i / 676);
		CHECK_EQ_INT(order_stats_add_received(&s, code, 1), 0);
	}
	CHECK_EQ_INT(order_stats_add_received(&s, "ZZZ", 1), -1);
	CHECK_EQ_INT(order_stats_add_received(&s, "AAA", 1), 0); /* one it has: still fine */
}
