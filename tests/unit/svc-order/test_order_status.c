/* svc-order: the status machine table, every allowed and refused change. */
#include "order_status.h"
#include "test.h"

#define S(x) COMANDA__ORDER_STATUS__ORDER_##x

TEST(order_status_allowed_changes)
{
	CHECK_EQ_INT(order_status_check(S(PENDING), S(PAID), ORDER_ACTOR_EVENT), ORDER_MOVE_OK);
	CHECK_EQ_INT(order_status_check(S(PENDING), S(PAYMENT_FAILED), ORDER_ACTOR_EVENT), ORDER_MOVE_OK);
	CHECK_EQ_INT(order_status_check(S(PAYMENT_FAILED), S(PAID), ORDER_ACTOR_EVENT), ORDER_MOVE_OK);
	CHECK_EQ_INT(order_status_check(S(PENDING), S(CANCELLED), ORDER_ACTOR_OWNER), ORDER_MOVE_OK);
	CHECK_EQ_INT(order_status_check(S(PAYMENT_FAILED), S(CANCELLED), ORDER_ACTOR_ADMIN), ORDER_MOVE_OK);
	CHECK_EQ_INT(order_status_check(S(PAID), S(CANCELLED), ORDER_ACTOR_OWNER), ORDER_MOVE_OK);
	CHECK_EQ_INT(order_status_check(S(PAID), S(SHIPPED), ORDER_ACTOR_ADMIN), ORDER_MOVE_OK);
	CHECK_EQ_INT(order_status_check(S(SHIPPED), S(DELIVERED), ORDER_ACTOR_ADMIN), ORDER_MOVE_OK);
}

/* A refund (payment.refunded) cancels a paid order; goods that have left
 * keep their status, and a refund cancels nothing else. */
TEST(order_status_refund_cancels_only_a_paid_order)
{
	CHECK_EQ_INT(order_status_check(S(PAID), S(CANCELLED), ORDER_ACTOR_EVENT), ORDER_MOVE_OK);
	CHECK(order_status_check(S(SHIPPED), S(CANCELLED), ORDER_ACTOR_EVENT) != ORDER_MOVE_OK);
	CHECK(order_status_check(S(DELIVERED), S(CANCELLED), ORDER_ACTOR_EVENT) != ORDER_MOVE_OK);
	CHECK(order_status_check(S(CANCELLED), S(CANCELLED), ORDER_ACTOR_EVENT) != ORDER_MOVE_OK);
}

TEST(order_status_paid_is_never_set_by_hand)
{
	CHECK_EQ_INT(order_status_check(S(PENDING), S(PAID), ORDER_ACTOR_ADMIN), ORDER_MOVE_INVALID);
	CHECK_EQ_INT(order_status_check(S(PENDING), S(PAID), ORDER_ACTOR_OWNER), ORDER_MOVE_INVALID);
	CHECK_EQ_INT(order_status_check(S(PAYMENT_FAILED), S(PAID), ORDER_ACTOR_ADMIN), ORDER_MOVE_INVALID);
	CHECK_EQ_INT(order_status_check(S(PENDING), S(PAYMENT_FAILED), ORDER_ACTOR_ADMIN), ORDER_MOVE_INVALID);
}

TEST(order_status_admin_only_changes_are_forbidden_to_owners)
{
	CHECK_EQ_INT(order_status_check(S(PAID), S(SHIPPED), ORDER_ACTOR_OWNER), ORDER_MOVE_FORBIDDEN);
	CHECK_EQ_INT(order_status_check(S(SHIPPED), S(DELIVERED), ORDER_ACTOR_OWNER), ORDER_MOVE_FORBIDDEN);
	/* whatever the order's status: a customer never ships or delivers */
	CHECK_EQ_INT(order_status_check(S(PENDING), S(SHIPPED), ORDER_ACTOR_OWNER), ORDER_MOVE_FORBIDDEN);
	CHECK_EQ_INT(order_status_check(S(DELIVERED), S(SHIPPED), ORDER_ACTOR_OWNER), ORDER_MOVE_FORBIDDEN);
	CHECK_EQ_INT(order_status_check(S(PENDING), S(DELIVERED), ORDER_ACTOR_OWNER), ORDER_MOVE_FORBIDDEN);
	/* but a status only payments set stays a 409 for everyone */
	CHECK_EQ_INT(order_status_check(S(SHIPPED), S(PAID), ORDER_ACTOR_OWNER), ORDER_MOVE_INVALID);
	CHECK_EQ_INT(order_status_check(S(PENDING), S(SHIPPED), ORDER_ACTOR_ADMIN), ORDER_MOVE_INVALID);
}

TEST(order_status_refused_changes)
{
	Comanda__OrderStatus all[] = { S(PENDING), S(PAID), S(PAYMENT_FAILED), S(CANCELLED), S(SHIPPED), S(DELIVERED) };
	int allowed = 0;
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < 6; j++)
			for (int a = 1; a <= 4; a *= 2)
				if (order_status_check(all[i], all[j], (order_actor)a) == ORDER_MOVE_OK)
					allowed++;
	/* 3 payment moves + 3 cancels x 2 actors + a refund's cancel + ship + deliver */
	CHECK_EQ_INT(allowed, 12);
	CHECK_EQ_INT(order_status_check(S(CANCELLED), S(PENDING), ORDER_ACTOR_ADMIN), ORDER_MOVE_INVALID);
	CHECK_EQ_INT(order_status_check(S(DELIVERED), S(CANCELLED), ORDER_ACTOR_ADMIN), ORDER_MOVE_INVALID);
	CHECK_EQ_INT(order_status_check(S(SHIPPED), S(CANCELLED), ORDER_ACTOR_OWNER), ORDER_MOVE_INVALID);
	CHECK_EQ_INT(order_status_check(S(PENDING), S(PENDING), ORDER_ACTOR_ADMIN), ORDER_MOVE_INVALID);
	CHECK_EQ_INT(order_status_check(S(PENDING), S(DELIVERED), ORDER_ACTOR_ADMIN), ORDER_MOVE_INVALID);
}

TEST(order_status_next_lists_what_the_actor_may_do)
{
	Comanda__OrderStatus out[8];
	CHECK_EQ_INT(order_status_next(S(PAID), ORDER_ACTOR_ADMIN, out, 8), 2);
	CHECK_EQ_INT(out[0], S(CANCELLED));
	CHECK_EQ_INT(out[1], S(SHIPPED));
	CHECK_EQ_INT(order_status_next(S(PAID), ORDER_ACTOR_OWNER, out, 8), 1);
	CHECK_EQ_INT(order_status_next(S(DELIVERED), ORDER_ACTOR_ADMIN, out, 8), 0);
}

TEST(order_status_names_round_trip)
{
	CHECK_STREQ(order_status_name(S(PAYMENT_FAILED)), "payment_failed");
	CHECK_EQ_INT(order_status_parse("shipped"), S(SHIPPED));
	CHECK_EQ_INT(order_status_parse("Shipped"), COMANDA__ORDER_STATUS__ORDER_STATUS_UNSPECIFIED);
	CHECK_EQ_INT(order_status_parse(""), COMANDA__ORDER_STATUS__ORDER_STATUS_UNSPECIFIED);
}

TEST(order_status_refund_before_completion)
{
	/* a refund of a completed payment finds its order paid (or past it)
	 * once the completion was applied: pending or payment_failed means
	 * the completion has not arrived yet */
	CHECK(order_refund_before_completion(S(PENDING)));
	CHECK(order_refund_before_completion(S(PAYMENT_FAILED)));
	CHECK(!order_refund_before_completion(S(PAID)));
	CHECK(!order_refund_before_completion(S(CANCELLED)));
	CHECK(!order_refund_before_completion(S(SHIPPED)));
	CHECK(!order_refund_before_completion(S(DELIVERED)));
}
