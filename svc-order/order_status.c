#include "order_status.h"

#include <string.h>

typedef struct order_move {
	Comanda__OrderStatus from;
	Comanda__OrderStatus to;
	unsigned actors;         /* order_actor bits */
} order_move;

#define S(x) COMANDA__ORDER_STATUS__ORDER_##x
static const order_move order_moves[] = {
	{ S(PENDING), S(PAID), ORDER_ACTOR_EVENT },
	{ S(PENDING), S(PAYMENT_FAILED), ORDER_ACTOR_EVENT },
	{ S(PAYMENT_FAILED), S(PAID), ORDER_ACTOR_EVENT },
	{ S(PENDING), S(CANCELLED), ORDER_ACTOR_OWNER | ORDER_ACTOR_ADMIN },
	{ S(PAYMENT_FAILED), S(CANCELLED), ORDER_ACTOR_OWNER | ORDER_ACTOR_ADMIN },
	{ S(PAID), S(CANCELLED), ORDER_ACTOR_OWNER | ORDER_ACTOR_ADMIN | ORDER_ACTOR_EVENT }, /* event: a refund */
	{ S(PAID), S(SHIPPED), ORDER_ACTOR_ADMIN },
	{ S(SHIPPED), S(DELIVERED), ORDER_ACTOR_ADMIN },
};

static const struct {
	Comanda__OrderStatus status;
	const char *name;
} order_names[] = {
	{ S(PENDING), "pending" },
	{ S(PAID), "paid" },
	{ S(PAYMENT_FAILED), "payment_failed" },
	{ S(CANCELLED), "cancelled" },
	{ S(SHIPPED), "shipped" },
	{ S(DELIVERED), "delivered" },
};
#undef S

#define ORDER_N(a) (sizeof(a) / sizeof((a)[0]))

order_verdict order_status_check(Comanda__OrderStatus from, Comanda__OrderStatus to, order_actor actor)
{
	unsigned reach = 0; /* who may move an order to `to` from anywhere */
	for (size_t i = 0; i < ORDER_N(order_moves); i++) {
		if (order_moves[i].to == to)
			reach |= order_moves[i].actors;
		if (order_moves[i].from != from || order_moves[i].to != to)
			continue;
		if (order_moves[i].actors & (unsigned)actor)
			return ORDER_MOVE_OK;
		/* a change only the payment flow makes is not anyone's to ask for */
		return order_moves[i].actors == ORDER_ACTOR_EVENT ? ORDER_MOVE_INVALID : ORDER_MOVE_FORBIDDEN;
	}
	/* A status this actor can never set, but another person can (a
	 * customer asking for shipped or delivered), is refused for who is
	 * asking, whatever the order's status: 403, not a 409 listing moves. */
	unsigned people = ORDER_ACTOR_OWNER | ORDER_ACTOR_ADMIN;
	if ((reach & (unsigned)actor) == 0 && (reach & people) != 0)
		return ORDER_MOVE_FORBIDDEN;
	return ORDER_MOVE_INVALID;
}

size_t order_status_next(Comanda__OrderStatus from, order_actor actor, Comanda__OrderStatus *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < ORDER_N(order_moves); i++)
		if (order_moves[i].from == from && (order_moves[i].actors & (unsigned)actor) && n < cap)
			out[n++] = order_moves[i].to;
	return n;
}

bool order_refund_before_completion(Comanda__OrderStatus from)
{
	return from == COMANDA__ORDER_STATUS__ORDER_PENDING || from == COMANDA__ORDER_STATUS__ORDER_PAYMENT_FAILED;
}

const char *order_status_name(Comanda__OrderStatus s)
{
	for (size_t i = 0; i < ORDER_N(order_names); i++)
		if (order_names[i].status == s)
			return order_names[i].name;
	return "unknown";
}

Comanda__OrderStatus order_status_parse(const char *name)
{
	for (size_t i = 0; i < ORDER_N(order_names); i++)
		if (strcmp(order_names[i].name, name) == 0)
			return order_names[i].status;
	return COMANDA__ORDER_STATUS__ORDER_STATUS_UNSPECIFIED;
}
