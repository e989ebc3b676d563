/*
 * order_validate: the rules of API.md for a new order, checked by the order
 * service whatever the gateway did.
 *
 *   1..100 items; product 1..200 characters, not blank; quantity 1..10000;
 *   price >= 0 (minor units); the total is computed here, and a client total
 *   that differs is refused; currency an ISO 4217 code (default COP); a
 *   known payment method (default cash: nothing is charged unless the
 *   client asks for a card); a card needs a payment_token, other methods
 *   take none.
 *
 * Threading: pure functions.
 */
#ifndef COMANDA_ORDER_VALIDATE_H
#define COMANDA_ORDER_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include "comanda/order.pb-c.h"

#define ORDER_ITEMS_MAX 100
#define ORDER_PRODUCT_MAX_CHARS 200
#define ORDER_QUANTITY_MAX 10000
#define ORDER_TOTAL_MAX_MINOR 1000000000000000LL /* 10^13 major units, as lib/json's money limit */

typedef struct order_problem {
	char field[64];     /* "items[3].quantity" */
	const char *issue;  /* "must be between 1 and 10000" */
} order_problem;

/* Checks req's items, total, currency and payment method. On success stores
 * the computed total in *total_minor and returns true; otherwise fills *p
 * with the first problem and returns false. */
bool order_validate_create(const Comanda__CreateOrderRequest *req, int64_t *total_minor, order_problem *p);

/* True for an active ISO 4217 code ("COP", "USD", ...). */
bool order_currency_known(const char *code);

/* "credit_card", "debit_card", "cash", "bank_transfer"; parse gives
 * PAYMENT_METHOD_UNSPECIFIED for an unknown name. */
const char *order_method_name(Comanda__PaymentMethod m);
Comanda__PaymentMethod order_method_parse(const char *name);

#endif
