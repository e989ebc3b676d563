/* svc-order: each validation rule of a new order. */
#include <string.h>

#include "order_validate.h"
#include "test.h"

typedef struct order_fixture {
	Comanda__CreateOrderRequest req;
	Comanda__OrderItem items[101];
	Comanda__OrderItem *ptrs[101];
} order_fixture;

static void fixture(order_fixture *f, size_t n)
{
	comanda__create_order_request__init(&f->req);
	for (size_t i = 0; i < n; i++) {
		comanda__order_item__init(&f->items[i]);
		f->items[i].product = "Laptop";
		f->items[i].quantity = 1;
		f->items[i].price_minor = 100;
		f->ptrs[i] = &f->items[i];
	}
	f->req.items = f->ptrs;
	f->req.n_items = n;
}

TEST(order_validate_computes_the_total)
{
	order_fixture f;
	fixture(&f, 2);
	f.items[0].price_minor = 350000000; /* 3500000.00 */
	f.items[1].quantity = 2;
	f.items[1].price_minor = 8000000;
	int64_t total = 0;
	order_problem p;
	CHECK(order_validate_create(&f.req, &total, &p));
	CHECK_EQ_INT(total, 366000000);
	f.req.total_given = 1;
	f.req.total_minor = 366000000;
	CHECK(order_validate_create(&f.req, &total, &p));
	f.req.total_minor = 366000001;
	CHECK(!order_validate_create(&f.req, &total, &p));
	CHECK_STREQ(p.field, "total");
	CHECK_STREQ(p.issue, "does not match items");
}

TEST(order_validate_item_count_bounds)
{
	order_fixture f;
	int64_t total;
	order_problem p;
	fixture(&f, 0);
	CHECK(!order_validate_create(&f.req, &total, &p));
	CHECK_STREQ(p.field, "items");
	fixture(&f, 100);
	CHECK(order_validate_create(&f.req, &total, &p));
	fixture(&f, 101);
	CHECK(!order_validate_create(&f.req, &total, &p));
}

TEST(order_validate_product_quantity_price)
{
	order_fixture f;
	int64_t total;
	order_problem p;
	char long_name[300];
	fixture(&f, 1);
	f.items[0].product = "";
	CHECK(!order_validate_create(&f.req, &total, &p));
	CHECK_STREQ(p.field, "items[0].product");
	f.items[0].product = "   ";
	CHECK(!order_validate_create(&f.req, &total, &p));
	memset(long_name, 'x', 200);
	long_name[200] = '\0';
	f.items[0].product = long_name;
	CHECK(order_validate_create(&f.req, &total, &p));
	long_name[200] = 'x';
	long_name[201] = '\0';
	CHECK(!order_validate_create(&f.req, &total, &p));
	f.items[0].product = "Café ☕";
	CHECK(order_validate_create(&f.req, &total, &p));
	/* no control characters: TAB and the C1 ones (U+0085, U+009B) too */
	char *controls[] = { "Book\tSet", "Book\xc2\x85Set", "Book\xc2\x9bSet", "Book\x7fSet" };
	for (size_t i = 0; i < sizeof(controls) / sizeof(controls[0]); i++) {
		f.items[0].product = controls[i];
		CHECK(!order_validate_create(&f.req, &total, &p));
		CHECK_STREQ(p.field, "items[0].product");
	}
	f.items[0].product = "Book \xc2\xa0Set"; /* U+00A0 is not a control character */
	CHECK(order_validate_create(&f.req, &total, &p));
	f.items[0].product = "\xc2\xa0\xe3\x80\x80"; /* but a product of spaces like it shows nothing */
	CHECK(!order_validate_create(&f.req, &total, &p));
	CHECK_STREQ(p.issue, "must not be empty");
	f.items[0].product = "Book";
	f.items[0].quantity = 0;
	CHECK(!order_validate_create(&f.req, &total, &p));
	CHECK_STREQ(p.field, "items[0].quantity");
	f.items[0].quantity = 10001;
	CHECK(!order_validate_create(&f.req, &total, &p));
	f.items[0].quantity = 10000;
	CHECK(order_validate_create(&f.req, &total, &p));
	f.items[0].price_minor = -1;
	CHECK(!order_validate_create(&f.req, &total, &p));
	CHECK_STREQ(p.field, "items[0].price");
	f.items[0].price_minor = 0;
	CHECK(order_validate_create(&f.req, &total, &p));
	CHECK_EQ_INT(total, 0);
	f.items[0].price_minor = INT64_MAX / 2; /* overflow guard */
	CHECK(!order_validate_create(&f.req, &total, &p));
}

TEST(order_validate_currency_and_method_names)
{
	order_fixture f;
	int64_t total;
	order_problem p;
	fixture(&f, 1);
	f.req.currency = "USD";
	CHECK(order_validate_create(&f.req, &total, &p));
	f.req.currency = "usd";
	CHECK(!order_validate_create(&f.req, &total, &p));
	CHECK_STREQ(p.field, "currency");
	f.req.currency = "XYZ";
	CHECK(!order_validate_create(&f.req, &total, &p));
	CHECK(order_currency_known("COP"));
	CHECK(!order_currency_known("CO"));
	CHECK_EQ_INT(order_method_parse("bank_transfer"), COMANDA__PAYMENT_METHOD__BANK_TRANSFER);
	CHECK_EQ_INT(order_method_parse("paypal"), COMANDA__PAYMENT_METHOD__PAYMENT_METHOD_UNSPECIFIED);
	CHECK_STREQ(order_method_name(COMANDA__PAYMENT_METHOD__DEBIT_CARD), "debit_card");
}

TEST(order_validate_payment_token_goes_with_cards_only)
{
	order_fixture f;
	int64_t total;
	order_problem p;
	fixture(&f, 1);
	f.req.payment_method = COMANDA__PAYMENT_METHOD__CREDIT_CARD;
	CHECK(!order_validate_create(&f.req, &total, &p));
	CHECK_STREQ(p.field, "payment_token");
	f.req.payment_token = "tok_visa";
	CHECK(order_validate_create(&f.req, &total, &p));
	f.req.payment_method = COMANDA__PAYMENT_METHOD__CASH;
	CHECK(!order_validate_create(&f.req, &total, &p));
	CHECK_STREQ(p.field, "payment_token");
	f.req.payment_method = COMANDA__PAYMENT_METHOD__PAYMENT_METHOD_UNSPECIFIED; /* cash */
	CHECK(!order_validate_create(&f.req, &total, &p));
	f.req.payment_token = "";
	CHECK(order_validate_create(&f.req, &total, &p));
}
