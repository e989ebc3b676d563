/* gateway/gw_order_codec (and the gw_fields readers it adds): order JSON ->
 * svc-order requests (types, unknown members, enums, money as minor units
 * from the literal text) and orders -> the API's JSON. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gw_fields.h"
#include "gw_order_codec.h"
#include "json.h"
#include "test.h"

static json_object *parse(const char *text)
{
	json_object *o = NULL;
	CHECK_EQ_INT(json_parse_body(text, strlen(text), 0, &o), JSON_PARSE_OK);
	return o;
}

/* Translates text; on success frees the items again. Returns whether it
 * passed, with *p on failure and the scalar parts of *rq on success. */
static bool create(const char *text, Comanda__CreateOrderRequest *rq, gw_problem *p)
{
	json_object *o = parse(text);
	memset(p, 0, sizeof(*p));
	bool ok = o != NULL && gw_order_create_request(o, rq, p);
	if (ok)
		gw_order_create_request_free(rq);
	json_object_put(o);
	return ok;
}

/* The body's item prices, for money checks: {"items":[{...,"price":<text>}]}. */
static bool price_of(const char *price_text, int64_t *minor, gw_problem *p)
{
	char body[256];
	snprintf(body, sizeof(body), "{\"items\":[{\"product\":\"x\",\"quantity\":1,\"price\":%s}]}", price_text);
	json_object *o = parse(body);
	Comanda__CreateOrderRequest rq;
	memset(p, 0, sizeof(*p));
	bool ok = o != NULL && gw_order_create_request(o, &rq, p);
	if (ok) {
		*minor = rq.items[0]->price_minor;
		gw_order_create_request_free(&rq);
	}
	json_object_put(o);
	return ok;
}

TEST(gw_order_create_request_seed_example)
{
	/* the seed README's example, verbatim */
	json_object *o = parse("{\"user_id\":1,\"items\":[{\"product\":\"Laptop Dell Inspiron\",\"quantity\":1,"
	                       "\"price\":3500000},{\"product\":\"Mouse Logitech\",\"quantity\":2,\"price\":80000}],"
	                       "\"total\":3660000}");
	Comanda__CreateOrderRequest rq;
	gw_problem p;
	CHECK(gw_order_create_request(o, &rq, &p));
	CHECK_EQ_INT(rq.user_id, 1);
	CHECK_EQ_INT(rq.n_items, 2);
	CHECK_STREQ(rq.items[0]->product, "Laptop Dell Inspiron");
	CHECK_EQ_INT(rq.items[0]->quantity, 1);
	CHECK_EQ_INT(rq.items[0]->price_minor, 350000000);
	CHECK_STREQ(rq.items[1]->product, "Mouse Logitech");
	CHECK_EQ_INT(rq.items[1]->quantity, 2);
	CHECK_EQ_INT(rq.items[1]->price_minor, 8000000);
	CHECK(rq.total_given);
	CHECK_EQ_INT(rq.total_minor, 366000000);
	CHECK_STREQ(rq.currency, "");      /* svc-order makes it COP */
	CHECK_EQ_INT(rq.payment_method, COMANDA__PAYMENT_METHOD__PAYMENT_METHOD_UNSPECIFIED);
	gw_order_create_request_free(&rq);
	CHECK(rq.items == NULL);
	CHECK_EQ_INT(rq.n_items, 0);
	json_object_put(o);

	/* everything optional given; no user_id and no total */
	o = parse("{\"items\":[{\"product\":\"Café ☕\",\"quantity\":10000,\"price\":19.99}],\"currency\":\"USD\","
	          "\"payment_method\":\"credit_card\",\"payment_token\":\"tok_visa\"}");
	CHECK(gw_order_create_request(o, &rq, &p));
	CHECK_EQ_INT(rq.user_id, 0); /* the caller */
	CHECK(!rq.total_given);
	CHECK_STREQ(rq.items[0]->product, "Café ☕");
	CHECK_EQ_INT(rq.items[0]->quantity, 10000);
	CHECK_EQ_INT(rq.items[0]->price_minor, 1999);
	CHECK_STREQ(rq.currency, "USD");
	CHECK_EQ_INT(rq.payment_method, COMANDA__PAYMENT_METHOD__CREDIT_CARD);
	CHECK_STREQ(rq.payment_token, "tok_visa");
	gw_order_create_request_free(&rq);
	json_object_put(o);

	/* an empty items array passes: "at least one item" is svc-order's rule */
	o = parse("{\"items\":[]}");
	CHECK(gw_order_create_request(o, &rq, &p));
	CHECK_EQ_INT(rq.n_items, 0);
	gw_order_create_request_free(&rq);
	json_object_put(o);
}

TEST(gw_order_money_is_exact_minor_units)
{
	struct {
		const char *text;
		int64_t minor;
	} good[] = {
		{ "0.01", 1 }, { "19.99", 1999 }, { "3660000", 366000000 }, { "0", 0 }, { "-0", 0 }, { "1.5", 150 },
		{ "19.990", 1999 }, { "1e2", 10000 }, { "0.1", 10 }, { "10000000000000", 1000000000000000 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t minor = -1;
		gw_problem p;
		if (!price_of(good[i].text, &minor, &p) || minor != good[i].minor)
			test_fail(__FILE__, __LINE__, "%s -> %lld (%s %s), want %lld", good[i].text, (long long)minor, p.field,
			    p.issue, (long long)good[i].minor);
	}
	struct {
		const char *text, *issue;
	} bad[] = {
		{ "-1", "must not be negative" },
		{ "-0.01", "must not be negative" },
		{ "1.001", "must have at most 2 decimals" },
		{ "0.005", "must have at most 2 decimals" },
		{ "\"19.99\"", "must be a number" },
		{ "null", "must be a number" },
		{ "true", "must be a number" },
		{ "[1]", "must be a number" },
		{ "10000000000000.01", "is too large" },
		{ "1e400", "is too large" },
		{ "99999999999999999999", "is too large" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t minor = -1;
		gw_problem p;
		if (price_of(bad[i].text, &minor, &p)) {
			test_fail(__FILE__, __LINE__, "accepted price %s as %lld", bad[i].text, (long long)minor);
			continue;
		}
		if (strcmp(p.field, "items[0].price") != 0 || strcmp(p.issue, bad[i].issue) != 0)
			test_fail(__FILE__, __LINE__, "%s: \"%s %s\", want \"items[0].price %s\"", bad[i].text, p.field, p.issue,
			    bad[i].issue);
	}
	/* a double built without text (not from a body) is judged by %.17g */
	json_object *o = json_object_new_object();
	json_object_object_add(o, "amount", json_object_new_double(NAN));
	int64_t minor = 0;
	gw_problem p;
	CHECK_EQ_INT(gw_fields_money(o, "amount", &minor, &p), GW_FIELD_BAD);
	CHECK_STREQ(p.issue, "must be a number");
	CHECK_EQ_INT(gw_fields_money(o, "missing", &minor, &p), GW_FIELD_ABSENT);
	json_object_put(o);
}

TEST(gw_order_create_request_problems)
{
	struct {
		const char *body, *field, *issue;
	} cases[] = {
		{ "{}", "items", "is required" },
		{ "{\"items\":null}", "items", "must be an array" },
		{ "{\"items\":\"laptop\"}", "items", "must be an array" },
		{ "{\"items\":{\"product\":\"x\"}}", "items", "must be an array" },
		{ "{\"items\":[1]}", "items[0]", "must be an object" },
		{ "{\"items\":[null]}", "items[0]", "must be an object" },
		{ "{\"items\":[{\"product\":\"a\",\"quantity\":1,\"price\":1},[]]}", "items[1]", "must be an object" },
		{ "{\"items\":[{\"quantity\":1,\"price\":1}]}", "items[0].product", "is required" },
		{ "{\"items\":[{\"product\":5,\"quantity\":1,\"price\":1}]}", "items[0].product", "must be a string" },
		{ "{\"items\":[{\"product\":\"a\\u0000b\",\"quantity\":1,\"price\":1}]}", "items[0].product",
		    "must not contain NUL characters" },
		{ "{\"items\":[{\"product\":\"a\",\"price\":1}]}", "items[0].quantity", "is required" },
		{ "{\"items\":[{\"product\":\"a\",\"quantity\":\"2\",\"price\":1}]}", "items[0].quantity",
		    "must be an integer" },
		{ "{\"items\":[{\"product\":\"a\",\"quantity\":1.5,\"price\":1}]}", "items[0].quantity", "must be an integer" },
		{ "{\"items\":[{\"product\":\"a\",\"quantity\":2.0,\"price\":1}]}", "items[0].quantity", "must be an integer" },
		{ "{\"items\":[{\"product\":\"a\",\"quantity\":null,\"price\":1}]}", "items[0].quantity",
		    "must be an integer" },
		{ "{\"items\":[{\"product\":\"a\",\"quantity\":1}]}", "items[0].price", "is required" },
		{ "{\"items\":[{\"product\":\"a\",\"quantity\":1,\"price\":1,\"sku\":\"x\"}]}", "items[0].sku",
		    "is not a known field" },
		{ "{\"items\":[],\"user_id\":\"1\"}", "user_id", "must be an integer" },
		{ "{\"items\":[],\"user_id\":1.0}", "user_id", "must be an integer" },
		{ "{\"items\":[],\"user_id\":0}", "user_id", "must be a positive integer" },
		{ "{\"items\":[],\"user_id\":-4}", "user_id", "must be a positive integer" },
		{ "{\"items\":[],\"user_id\":null}", "user_id", "must be an integer" },
		{ "{\"items\":[],\"total\":\"10\"}", "total", "must be a number" },
		{ "{\"items\":[],\"total\":1.001}", "total", "must have at most 2 decimals" },
		{ "{\"items\":[],\"total\":-5}", "total", "must not be negative" },
		{ "{\"items\":[],\"currency\":1}", "currency", "must be a string" },
		{ "{\"items\":[],\"currency\":\"\"}", "currency", "must be an ISO 4217 currency code" },
		{ "{\"items\":[],\"payment_method\":\"paypal\"}", "payment_method",
		    "must be one of: credit_card, debit_card, cash, bank_transfer" },
		{ "{\"items\":[],\"payment_method\":\"CASH\"}", "payment_method",
		    "must be one of: credit_card, debit_card, cash, bank_transfer" },
		{ "{\"items\":[],\"payment_token\":7}", "payment_token", "must be a string" },
		{ "{\"items\":[],\"payment_method\":\"cash\",\"payment_token\":\"\"}", "payment_token", "must not be empty" },
		{ "{\"items\":[],\"status\":\"paid\"}", "status", "is not a known field" },
		{ "{\"items\":[],\"_id\":\"65a000000000000000000000\"}", "_id", "is not a known field" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Comanda__CreateOrderRequest rq;
		gw_problem p;
		if (create(cases[i].body, &rq, &p)) {
			test_fail(__FILE__, __LINE__, "accepted %s", cases[i].body);
			continue;
		}
		if (strcmp(p.field, cases[i].field) != 0 || strcmp(p.issue, cases[i].issue) != 0)
			test_fail(__FILE__, __LINE__, "%s: \"%s %s\", want \"%s %s\"", cases[i].body, p.field, p.issue,
			    cases[i].field, cases[i].issue);
	}
}

TEST(gw_order_quantity_saturates_so_svc_order_refuses_it)
{
	Comanda__CreateOrderRequest rq;
	gw_problem p;
	json_object *o = parse("{\"items\":[{\"product\":\"a\",\"quantity\":4294967297,\"price\":1},"
	                       "{\"product\":\"b\",\"quantity\":-4294967297,\"price\":1},"
	                       "{\"product\":\"c\",\"quantity\":0,\"price\":1}]}");
	CHECK(gw_order_create_request(o, &rq, &p));
	CHECK_EQ_INT(rq.items[0]->quantity, INT32_MAX); /* 2^32 + 1 must not wrap to 1 */
	CHECK_EQ_INT(rq.items[1]->quantity, INT32_MIN);
	CHECK_EQ_INT(rq.items[2]->quantity, 0);
	gw_order_create_request_free(&rq);
	json_object_put(o);
}

TEST(gw_order_status_request_fields)
{
	Comanda__UpdateOrderStatusRequest rq;
	gw_problem p;
	json_object *o = parse("{\"status\":\"cancelled\",\"reason\":\"changed my mind\"}");
	CHECK(gw_order_status_request(o, "65a1b2c3d4e5f60718293a4b", &rq, &p));
	CHECK_STREQ(rq.id, "65a1b2c3d4e5f60718293a4b");
	CHECK_EQ_INT(rq.status, COMANDA__ORDER_STATUS__ORDER_CANCELLED);
	CHECK_STREQ(rq.reason, "changed my mind");
	json_object_put(o);
	/* every status name is accepted here: which moves are allowed is svc-order's call */
	const char *names[] = { "pending", "paid", "payment_failed", "cancelled", "shipped", "delivered" };
	for (int i = 0; i < 6; i++) {
		char body[64];
		snprintf(body, sizeof(body), "{\"status\":\"%s\"}", names[i]);
		o = parse(body);
		CHECK(gw_order_status_request(o, "x", &rq, &p));
		CHECK_STREQ(gw_enum_name(&gw_order_statuses, rq.status), names[i]);
		json_object_put(o);
	}
	struct {
		const char *body, *field, *issue;
	} cases[] = {
		{ "{}", "status", "is required" },
		{ "{\"status\":\"teleported\"}", "status",
		    "must be one of: pending, paid, payment_failed, cancelled, shipped, delivered" },
		{ "{\"status\":null}", "status", "must be a string" },
		{ "{\"status\":4}", "status", "must be a string" },
		{ "{\"status\":\"shipped\",\"reason\":1}", "reason", "must be a string" },
		{ "{\"status\":\"shipped\",\"note\":\"x\"}", "note", "is not a known field" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&p, 0, sizeof(p));
		o = parse(cases[i].body);
		bool ok = o != NULL && gw_order_status_request(o, "x", &rq, &p);
		json_object_put(o);
		if (ok || strcmp(p.field, cases[i].field) != 0 || strcmp(p.issue, cases[i].issue) != 0)
			test_fail(__FILE__, __LINE__, "%s: ok=%d \"%s %s\", want \"%s %s\"", cases[i].body, ok, p.field, p.issue,
			    cases[i].field, cases[i].issue);
	}
}

/* An order as svc-order returns one, with two items and two changes. */
typedef struct sample {
	Comanda__Order o;
	Comanda__OrderItem it[2];
	Comanda__OrderItem *items[2];
	Comanda__StatusChange ch[2];
	Comanda__StatusChange *history[2];
} sample;

static void sample_init(sample *s)
{
	comanda__order__init(&s->o);
	s->o.id = "65a1b2c3d4e5f60718293a4b";
	s->o.user_id = 1;
	for (int i = 0; i < 2; i++) {
		comanda__order_item__init(&s->it[i]);
		s->items[i] = &s->it[i];
		comanda__status_change__init(&s->ch[i]);
		s->history[i] = &s->ch[i];
	}
	s->it[0].product = "Laptop Dell Inspiron";
	s->it[0].quantity = 1;
	s->it[0].price_minor = 350000000;
	s->it[1].product = "Mouse Logitech";
	s->it[1].quantity = 2;
	s->it[1].price_minor = 8000000;
	s->o.items = s->items;
	s->o.n_items = 2;
	s->o.total_minor = 366000000;
	s->o.currency = "COP";
	s->o.status = COMANDA__ORDER_STATUS__ORDER_PENDING;
	s->o.payment_method = COMANDA__PAYMENT_METHOD__CASH;
	s->o.created_at_ms = 1768559400000;
	s->o.updated_at_ms = 1768559400123;
	s->ch[0].status = COMANDA__ORDER_STATUS__ORDER_PENDING;
	s->ch[0].at_ms = 1768559400000;
	s->ch[0].reason = "order created";
	s->ch[0].cause = "req-1";
	s->o.history = s->history;
	s->o.n_history = 1;
}

static char *dump(json_object *o)
{
	char *s = json_dump(o, NULL);
	json_object_put(o);
	return s;
}

TEST(gw_order_json_renders_the_api_shape)
{
	sample s;
	sample_init(&s);
	char *j = dump(gw_order_reply_json("Order created successfully", &s.o));
	CHECK_STREQ(j, "{\"success\":true,\"message\":\"Order created successfully\",\"order\":{"
	               "\"_id\":\"65a1b2c3d4e5f60718293a4b\",\"user_id\":1,\"items\":["
	               "{\"product\":\"Laptop Dell Inspiron\",\"quantity\":1,\"price\":3500000},"
	               "{\"product\":\"Mouse Logitech\",\"quantity\":2,\"price\":80000}],"
	               "\"total\":3660000,\"currency\":\"COP\",\"status\":\"pending\",\"payment_method\":\"cash\","
	               "\"payment_id\":null,\"created_at\":\"2026-01-16T10:30:00.000Z\","
	               "\"updated_at\":\"2026-01-16T10:30:00.123Z\",\"refunded_at\":null,"
	               "\"history\":[{\"status\":\"pending\",\"at\":\"2026-01-16T10:30:00.000Z\",\"reason\":\"order created\"}]}}");
	free(j);

	/* cents, a payment, a failure reason and a second change */
	s.it[0].price_minor = 1;
	s.it[1].price_minor = 1999;
	s.o.total_minor = 3999;
	s.o.status = COMANDA__ORDER_STATUS__ORDER_PAYMENT_FAILED;
	s.o.payment_method = COMANDA__PAYMENT_METHOD__CREDIT_CARD;
	s.o.payment_id = 42;
	s.o.failure_reason = "card declined";
	s.ch[1].status = COMANDA__ORDER_STATUS__ORDER_PAYMENT_FAILED;
	s.ch[1].at_ms = 1768559401000;
	s.ch[1].reason = "card declined";
	s.o.n_history = 2;
	j = dump(gw_order_reply_json(NULL, &s.o));
	CHECK(strstr(j, "{\"success\":true,\"order\":{") == j);
	CHECK(strstr(j, "\"price\":0.01}") != NULL);
	CHECK(strstr(j, "\"price\":19.99}") != NULL);
	CHECK(strstr(j, "\"total\":39.99,") != NULL);
	CHECK(strstr(j, "\"status\":\"payment_failed\",\"payment_method\":\"credit_card\",\"payment_id\":42,"
	                "\"failure_reason\":\"card declined\",") != NULL);
	CHECK(strstr(j, "{\"status\":\"payment_failed\",\"at\":\"2026-01-16T10:30:01.000Z\",\"reason\":\"card declined\"}]")
	      != NULL);
	CHECK(strstr(j, "req-1") == NULL); /* the cause stays internal */
	CHECK(strstr(j, "\"refunded_at\":null,") != NULL);
	free(j);

	/* a refund of a shipped order: its time, the status kept */
	s.o.status = COMANDA__ORDER_STATUS__ORDER_SHIPPED;
	s.o.failure_reason = "";
	s.o.refunded_at_ms = 1768559402500;
	j = dump(gw_order_reply_json(NULL, &s.o));
	CHECK(strstr(j, "\"status\":\"shipped\",") != NULL);
	CHECK(strstr(j, "\"updated_at\":\"2026-01-16T10:30:00.123Z\",\"refunded_at\":\"2026-01-16T10:30:02.500Z\","
	                "\"history\":[") != NULL);
	free(j);
}

TEST(gw_order_list_json_shape)
{
	sample a, b;
	sample_init(&a);
	sample_init(&b);
	b.o.id = "65a1b2c3d4e5f60718293a4c";
	Comanda__Order *orders[2] = { &a.o, &b.o };
	Comanda__ListOrdersReply r = COMANDA__LIST_ORDERS_REPLY__INIT;
	r.orders = orders;
	r.n_orders = 2;
	r.next_cursor = "Y3Vyc29y";
	char *j = dump(gw_order_list_json(&r));
	CHECK(strstr(j, "{\"success\":true,\"count\":2,\"orders\":[{\"_id\":\"65a1b2c3d4e5f60718293a4b\",") == j);
	CHECK(strstr(j, "{\"_id\":\"65a1b2c3d4e5f60718293a4c\",") != NULL);
	CHECK(strstr(j, "],\"next_cursor\":\"Y3Vyc29y\"}") != NULL);
	free(j);
	r.n_orders = 0;
	r.next_cursor = "";
	j = dump(gw_order_list_json(&r));
	CHECK_STREQ(j, "{\"success\":true,\"count\":0,\"orders\":[],\"next_cursor\":null}");
	free(j);
}
