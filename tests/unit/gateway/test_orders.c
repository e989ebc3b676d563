/* gateway/gw_orders + gw_payments through the gateway's real route table and
 * lib/httpd, against fake OrderService and PaymentService on in-process RPC
 * servers: what reaches the services (caller, request id, Idempotency-Key,
 * the translated request) and what the client gets back. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comanda/order.rpc.h"
#include "comanda/payment.rpc.h"
#include "gw_http.h"
#include "httpd.h"
#include "test.h"
#include "gwfake.h"
#include "testhttp.h"

#define OID "65a1b2c3d4e5f60718293a4b"

/* What the fakes saw last (written on an RPC worker, read by the test after
 * the HTTP answer; the mutex orders the two). */
static struct {
	pthread_mutex_t mu;
	int calls;
	char method[64];
	int64_t caller_id;
	int caller_role;
	char request_id[80];
	char idem_key[300];
	char text[512];
} seen = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void saw(rpc_ctx *ctx, const char *text)
{
	pthread_mutex_lock(&seen.mu);
	seen.calls++;
	snprintf(seen.method, sizeof(seen.method), "%s", strrchr(rpc_ctx_method(ctx), '/') + 1);
	seen.caller_id = rpc_ctx_caller_id(ctx);
	seen.caller_role = rpc_ctx_caller_role(ctx);
	snprintf(seen.request_id, sizeof(seen.request_id), "%s", rpc_ctx_request_id(ctx));
	snprintf(seen.idem_key, sizeof(seen.idem_key), "%s", rpc_ctx_idempotency_key(ctx));
	snprintf(seen.text, sizeof(seen.text), "%s", text != NULL ? text : "");
	pthread_mutex_unlock(&seen.mu);
}

static Comanda__Order *fake_order(rpc_ctx *ctx, const char *id)
{
	Comanda__Order *o = rpc_ctx_alloc(ctx, sizeof(*o));
	comanda__order__init(o);
	o->id = rpc_ctx_strdup(ctx, id);
	o->user_id = 7;
	o->items = rpc_ctx_alloc(ctx, sizeof(*o->items));
	o->items[0] = rpc_ctx_alloc(ctx, sizeof(**o->items));
	comanda__order_item__init(o->items[0]);
	o->items[0]->product = rpc_ctx_strdup(ctx, "Mouse Logitech");
	o->items[0]->quantity = 2;
	o->items[0]->price_minor = 8000000;
	o->n_items = 1;
	o->total_minor = 16000000;
	o->currency = rpc_ctx_strdup(ctx, "COP");
	o->status = COMANDA__ORDER_STATUS__ORDER_PENDING;
	o->payment_method = COMANDA__PAYMENT_METHOD__CASH;
	o->created_at_ms = o->updated_at_ms = 1768559400000;
	return o;
}

static int f_create_order(rpc_ctx *ctx, const Comanda__CreateOrderRequest *rq, Comanda__OrderReply *rep)
{
	char text[512];
	int n = snprintf(text, sizeof(text), "u=%lld n=%zu", (long long)rq->user_id, rq->n_items);
	for (size_t i = 0; i < rq->n_items && n > 0 && (size_t)n < sizeof(text); i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, " [%s x%d @%lld]", rq->items[i]->product,
		    rq->items[i]->quantity, (long long)rq->items[i]->price_minor);
	if (n > 0 && (size_t)n < sizeof(text))
		snprintf(text + n, sizeof(text) - (size_t)n, " total=%d:%lld cur=%s pm=%d tok=%s", rq->total_given,
		    (long long)rq->total_minor, rq->currency, rq->payment_method, rq->payment_token);
	saw(ctx, text);
	const char *key = rpc_ctx_idempotency_key(ctx);
	if (strcmp(key, "reused") == 0) {
		rpc_ctx_reason(ctx, "IDEMPOTENCY_KEY_REUSED");
		return rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION, "Idempotency-Key was used with a different request");
	}
	if (rq->n_items > 0 && rq->items[0]->quantity == 0) {
		rpc_ctx_detail(ctx, "items[0].quantity", "must be an integer between 1 and 10000");
		return rpc_ctx_error(ctx, COMANDA__CODE__INVALID_ARGUMENT, "items[0].quantity must be an integer between 1 and 10000");
	}
	if (rq->user_id == 99)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "user service unavailable");
	rep->order = fake_order(ctx, OID);
	rep->replayed = strcmp(key, "replay") == 0;
	return COMANDA__CODE__OK;
}

static int f_get_order(rpc_ctx *ctx, const Comanda__GetOrderRequest *rq, Comanda__OrderReply *rep)
{
	saw(ctx, rq->id);
	if (strcmp(rq->id, "0000000000000000000000ff") == 0)
		return rpc_ctx_error(ctx, COMANDA__CODE__NOT_FOUND, "Order not found");
	rep->order = fake_order(ctx, rq->id);
	return COMANDA__CODE__OK;
}

static int f_list_orders(rpc_ctx *ctx, const Comanda__ListOrdersRequest *rq, Comanda__ListOrdersReply *rep)
{
	char text[256];
	snprintf(text, sizeof(text), "u=%lld s=%d l=%u c=%s", (long long)rq->user_id, rq->status, rq->limit, rq->cursor);
	saw(ctx, text);
	rep->orders = rpc_ctx_alloc(ctx, sizeof(*rep->orders));
	rep->orders[0] = fake_order(ctx, OID);
	rep->n_orders = 1;
	rep->next_cursor = rpc_ctx_strdup(ctx, rq->limit == 1 ? "next" : "");
	return COMANDA__CODE__OK;
}

static int f_update_order(rpc_ctx *ctx, const Comanda__UpdateOrderStatusRequest *rq, Comanda__OrderReply *rep)
{
	char text[256];
	snprintf(text, sizeof(text), "%s s=%d r=%s", rq->id, rq->status, rq->reason);
	saw(ctx, text);
	if (rq->status == COMANDA__ORDER_STATUS__ORDER_SHIPPED) {
		rpc_ctx_detail(ctx, "status", "allowed next statuses: cancelled");
		return rpc_ctx_error(ctx, COMANDA__CODE__FAILED_PRECONDITION, "Cannot change order status from pending to shipped");
	}
	rep->order = fake_order(ctx, rq->id);
	rep->order->status = rq->status;
	return COMANDA__CODE__OK;
}

static int f_order_stats(rpc_ctx *ctx, const Comanda__OrderStatsRequest *rq, Comanda__OrderStats *rep)
{
	char text[64];
	snprintf(text, sizeof(text), "u=%lld", (long long)rq->user_id);
	saw(ctx, text);
	static Comanda__OrderStats__StatusCount counts[6];
	static Comanda__OrderStats__StatusCount *count_ptrs[6];
	static Comanda__OrderStats__CurrencyTotal cop, usd;
	static Comanda__OrderStats__CurrencyTotal *received[2] = { &cop, &usd };
	for (int i = 0; i < 6; i++) {
		comanda__order_stats__status_count__init(&counts[i]);
		counts[i].status = (Comanda__OrderStatus)(COMANDA__ORDER_STATUS__ORDER_PENDING + i);
		counts[i].orders = 10 * (i + 1);
		count_ptrs[i] = &counts[i];
	}
	comanda__order_stats__currency_total__init(&cop);
	cop.currency = "COP";
	cop.total_minor = 366000000;
	comanda__order_stats__currency_total__init(&usd);
	usd.currency = "USD";
	usd.total_minor = 1999;
	rep->orders = 210;
	rep->by_status = count_ptrs;
	rep->n_by_status = 6;
	rep->paid = received;
	rep->n_paid = 2;
	return COMANDA__CODE__OK;
}

static const order_service_impl fake_orders = {
	.create_order = f_create_order,
	.get_order = f_get_order,
	.list_orders = f_list_orders,
	.update_order_status = f_update_order,
	.get_order_stats = f_order_stats,
};

static Comanda__Payment *fake_payment(rpc_ctx *ctx, int64_t id)
{
	Comanda__Payment *p = rpc_ctx_alloc(ctx, sizeof(*p));
	comanda__payment__init(p);
	p->id = id;
	p->order_id = rpc_ctx_strdup(ctx, OID);
	p->user_id = 7;
	p->amount_minor = 1999;
	p->currency = rpc_ctx_strdup(ctx, "COP");
	p->status = COMANDA__PAYMENT_STATUS__PAYMENT_PENDING;
	p->payment_method = COMANDA__PAYMENT_METHOD__CASH;
	p->transaction_id = rpc_ctx_strdup(ctx, "TXN-1");
	p->created_at_ms = p->updated_at_ms = 1768559400000;
	return p;
}

static int f_create_payment(rpc_ctx *ctx, const Comanda__CreatePaymentRequest *rq, Comanda__PaymentReply *rep)
{
	char text[256];
	snprintf(text, sizeof(text), "%s a=%lld pm=%d t=%s k=%s", rq->order_id, (long long)rq->amount_minor,
	    rq->payment_method, rq->transaction_id, rq->payment_token);
	saw(ctx, text);
	rep->payment = fake_payment(ctx, 31);
	rep->replayed = strcmp(rpc_ctx_idempotency_key(ctx), "replay") == 0;
	return COMANDA__CODE__OK;
}

static int f_get_payment(rpc_ctx *ctx, const Comanda__GetPaymentRequest *rq, Comanda__PaymentReply *rep)
{
	char text[32];
	snprintf(text, sizeof(text), "%lld", (long long)rq->id);
	saw(ctx, text);
	if (rq->id == 404)
		return rpc_ctx_error(ctx, COMANDA__CODE__NOT_FOUND, "Payment not found");
	rep->payment = fake_payment(ctx, rq->id);
	return COMANDA__CODE__OK;
}

static int f_list_payments(rpc_ctx *ctx, const Comanda__ListPaymentsRequest *rq, Comanda__ListPaymentsReply *rep)
{
	char text[256];
	snprintf(text, sizeof(text), "o=%s s=%d l=%u c=%s", rq->order_id, rq->status, rq->limit, rq->cursor);
	saw(ctx, text);
	rep->payments = rpc_ctx_alloc(ctx, sizeof(*rep->payments));
	rep->payments[0] = fake_payment(ctx, 31);
	rep->n_payments = 1;
	return COMANDA__CODE__OK;
}

static int f_update_payment(rpc_ctx *ctx, const Comanda__UpdatePaymentStatusRequest *rq, Comanda__PaymentReply *rep)
{
	char text[256];
	snprintf(text, sizeof(text), "%lld s=%d r=%s", (long long)rq->id, rq->status, rq->reason);
	saw(ctx, text);
	rep->payment = fake_payment(ctx, rq->id);
	rep->payment->status = rq->status;
	return COMANDA__CODE__OK;
}

static int f_refund(rpc_ctx *ctx, const Comanda__RefundPaymentRequest *rq, Comanda__PaymentReply *rep)
{
	char text[32];
	snprintf(text, sizeof(text), "%lld", (long long)rq->id);
	saw(ctx, text);
	rep->payment = fake_payment(ctx, rq->id);
	rep->payment->status = COMANDA__PAYMENT_STATUS__PAYMENT_REFUNDED;
	return COMANDA__CODE__OK;
}

static int f_audit(rpc_ctx *ctx, const Comanda__GetAuditRequest *rq, Comanda__GetAuditReply *rep)
{
	char text[32];
	snprintf(text, sizeof(text), "%lld", (long long)rq->id);
	saw(ctx, text);
	rep->entries = rpc_ctx_alloc(ctx, sizeof(*rep->entries));
	rep->entries[0] = rpc_ctx_alloc(ctx, sizeof(**rep->entries));
	comanda__audit_entry__init(rep->entries[0]);
	rep->entries[0]->at_ms = 1768559400000;
	rep->entries[0]->action = rpc_ctx_strdup(ctx, "created");
	rep->entries[0]->to_status = COMANDA__PAYMENT_STATUS__PAYMENT_PENDING;
	rep->entries[0]->amount_minor = 1999;
	rep->entries[0]->actor = rpc_ctx_strdup(ctx, "user:7");
	rep->n_entries = 1;
	return COMANDA__CODE__OK;
}

static const payment_service_impl fake_payments = {
	.create_payment = f_create_payment,
	.get_payment = f_get_payment,
	.list_payments = f_list_payments,
	.update_payment_status = f_update_payment,
	.refund_payment = f_refund,
	.get_audit = f_audit,
};

typedef gwfake fixture;

/* one server serves both fakes: the gateway's two clients dial it */
static bool fixture_start(fixture *f)
{
	const rpc_service_binding *const bindings[] = { &order_service_binding, &payment_service_binding };
	const void *const impls[] = { &fake_orders, &fake_payments };
	return gwfake_start(f, "orders", bindings, impls, 2, GWFAKE_ORDER | GWFAKE_PAYMENT, 0);
}

static void fixture_stop(fixture *f)
{
	gwfake_stop(f);
}

/* One request; auth NULL: anonymous; extra: more header lines. */
static char *call(fixture *f, const char *method, const char *target, const char *auth, const char *extra,
    const char *body)
{
	pthread_mutex_lock(&seen.mu);
	seen.calls = 0;
	seen.text[0] = '\0';
	pthread_mutex_unlock(&seen.mu);
	return gwfake_request(f, method, target, auth, extra, body);
}

static int rpc_calls(void)
{
	pthread_mutex_lock(&seen.mu);
	int n = seen.calls;
	pthread_mutex_unlock(&seen.mu);
	return n;
}

#define CHECK_BODY_HAS(r, part)                                                                             \
	do {                                                                                                \
		if (strstr(testhttp_body(r), (part)) == NULL)                                               \
			test_fail(__FILE__, __LINE__, "body lacks %s: %s", (part), testhttp_body(r));       \
	} while (0)

/* Each case: a request that must be 400 naming field, with no RPC made. */
typedef struct bad_case {
	const char *method, *target, *body, *field;
} bad_case;

static void check_bad(fixture *f, const char *auth, const bad_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *r = call(f, cases[i].method, cases[i].target, auth, NULL, cases[i].body);
		char want[96];
		snprintf(want, sizeof(want), "\"field\":\"%s\"", cases[i].field);
		if (testhttp_status(r) != 400 || strstr(testhttp_body(r), want) == NULL || rpc_calls() != 0)
			test_fail(__FILE__, __LINE__, "%s %s %s: %d calls=%d %s", cases[i].method, cases[i].target,
			    cases[i].body != NULL ? cases[i].body : "", testhttp_status(r), rpc_calls(), testhttp_body(r));
		free(r);
	}
}

TEST(gw_orders_create_carries_caller_key_and_items)
{
	fixture f;
	if (!fixture_start(&f))
		return;
	char v[256];
	char *r = call(&f, "POST", "/api/orders", f.admin, "X-Request-Id: rid-o1\r\nIdempotency-Key: k-1\r\n",
	    "{\"user_id\":1,\"items\":[{\"product\":\"Laptop Dell Inspiron\",\"quantity\":1,\"price\":3500000},"
	    "{\"product\":\"Mouse Logitech\",\"quantity\":2,\"price\":80000}],\"total\":3660000}");
	CHECK_EQ_INT(testhttp_status(r), 201);
	CHECK_BODY_HAS(r, "{\"success\":true,\"message\":\"Order created successfully\",\"order\":{\"_id\":\"" OID "\",");
	CHECK_STREQ(testhttp_header(r, "Location", v, sizeof(v)), "/api/orders/" OID);
	CHECK_STREQ(testhttp_header(r, "Idempotent-Replayed", v, sizeof(v)), "");
	free(r);
	CHECK_STREQ(seen.method, "CreateOrder");
	CHECK_EQ_INT(seen.caller_id, 1);
	CHECK_EQ_INT(seen.caller_role, COMANDA__ROLE__ROLE_ADMIN);
	CHECK_STREQ(seen.request_id, "rid-o1");
	CHECK_STREQ(seen.idem_key, "k-1");
	CHECK_STREQ(seen.text, "u=1 n=2 [Laptop Dell Inspiron x1 @350000000] [Mouse Logitech x2 @8000000] "
	                       "total=1:366000000 cur= pm=0 tok=");

	r = call(&f, "POST", "/api/orders", f.customer, "Idempotency-Key: replay\r\n",
	    "{\"items\":[{\"product\":\"x\",\"quantity\":3,\"price\":0.01}],\"currency\":\"USD\","
	    "\"payment_method\":\"debit_card\",\"payment_token\":\"tok_1\"}");
	CHECK_EQ_INT(testhttp_status(r), 201);
	CHECK_STREQ(testhttp_header(r, "Idempotent-Replayed", v, sizeof(v)), "true");
	free(r);
	CHECK_EQ_INT(seen.caller_id, 7);
	CHECK_STREQ(seen.text, "u=0 n=1 [x x3 @1] total=0:0 cur=USD pm=2 tok=tok_1");

	r = call(&f, "POST", "/api/orders", f.customer, "Idempotency-Key: reused\r\n",
	    "{\"items\":[{\"product\":\"x\",\"quantity\":1,\"price\":1}]}");
	CHECK_EQ_INT(testhttp_status(r), 422);
	CHECK_BODY_HAS(r, "\"reason\":\"IDEMPOTENCY_KEY_REUSED\"");
	free(r);

	/* svc-order's validation comes back with its details */
	r = call(&f, "POST", "/api/orders", f.customer, NULL, "{\"items\":[{\"product\":\"x\",\"quantity\":0,\"price\":1}]}");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_BODY_HAS(r, "\"details\":[{\"field\":\"items[0].quantity\",\"issue\":\"must be an integer between 1 and 10000\"}]");
	free(r);
	/* svc-user down: 503 with the generic message */
	r = call(&f, "POST", "/api/orders", f.admin, NULL, "{\"user_id\":99,\"items\":[{\"product\":\"x\",\"quantity\":1,\"price\":1}]}");
	CHECK_EQ_INT(testhttp_status(r), 503);
	CHECK_BODY_HAS(r, "\"error\":\"Service temporarily unavailable\",\"code\":\"UNAVAILABLE\"");
	free(r);

	r = call(&f, "POST", "/api/orders", NULL, NULL, "{\"items\":[]}");
	CHECK_EQ_INT(testhttp_status(r), 401);
	CHECK_EQ_INT(rpc_calls(), 0);
	free(r);
	static const bad_case bad[] = {
		{ "POST", "/api/orders", "{\"items\":[{\"product\":\"x\",\"quantity\":\"2\",\"price\":1}]}", "items[0].quantity" },
		{ "POST", "/api/orders", "{\"items\":[{\"product\":\"x\",\"quantity\":1,\"price\":1.001}]}", "items[0].price" },
		{ "POST", "/api/orders", "{\"items\":[{\"product\":\"x\",\"quantity\":1,\"price\":-1}]}", "items[0].price" },
		{ "POST", "/api/orders", "{\"items\":[],\"payment_method\":\"paypal\"}", "payment_method" },
		{ "POST", "/api/orders", "{\"items\":[],\"user_id\":null}", "user_id" },
		{ "POST", "/api/orders", "{\"items\":[],\"coupon\":\"X\"}", "coupon" },
	};
	/* a scalar body names no field */
	r = call(&f, "POST", "/api/orders", f.customer, NULL, "\"order\"");
	CHECK_EQ_INT(testhttp_status(r), 400);
	CHECK_BODY_HAS(r, "\"error\":\"Request body must be a JSON object\"");
	CHECK_EQ_INT(rpc_calls(), 0);
	free(r);
	check_bad(&f, f.customer, bad, sizeof(bad) / sizeof(bad[0]));
	fixture_stop(&f);
}

TEST(gw_orders_reads_lists_and_status_changes)
{
	fixture f;
	if (!fixture_start(&f))
		return;
	char *r = call(&f, "GET", "/api/orders/" OID, f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "{\"success\":true,\"order\":{\"_id\":\"" OID "\",\"user_id\":7,");
	CHECK_BODY_HAS(r, "\"history\":[]}}");
	free(r);
	CHECK_STREQ(seen.method, "GetOrder");
	CHECK_STREQ(seen.text, OID);
	r = call(&f, "GET", "/api/orders/0000000000000000000000ff", f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	CHECK_BODY_HAS(r, "\"error\":\"Order not found\",\"code\":\"NOT_FOUND\"");
	free(r);

	r = call(&f, "GET", "/api/orders", f.admin, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "{\"success\":true,\"count\":1,\"orders\":[{\"_id\":");
	CHECK_BODY_HAS(r, "\"next_cursor\":null}");
	free(r);
	CHECK_STREQ(seen.text, "u=0 s=0 l=50 c=");
	r = call(&f, "GET", "/api/orders?user_id=12&status=payment_failed&limit=1&cursor=abc", f.admin, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "\"next_cursor\":\"next\"}");
	free(r);
	CHECK_STREQ(seen.text, "u=12 s=3 l=1 c=abc");

	r = call(&f, "PUT", "/api/orders/" OID "/status", f.customer, NULL, "{\"status\":\"cancelled\",\"reason\":\"nope\"}");
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "{\"success\":true,\"message\":\"Order status updated successfully\",\"order\":{");
	CHECK_BODY_HAS(r, "\"status\":\"cancelled\"");
	free(r);
	CHECK_STREQ(seen.method, "UpdateOrderStatus");
	CHECK_STREQ(seen.text, OID " s=4 r=nope");
	r = call(&f, "PUT", "/api/orders/" OID "/status", f.admin, NULL, "{\"status\":\"shipped\"}");
	CHECK_EQ_INT(testhttp_status(r), 409);
	CHECK_BODY_HAS(r, "\"details\":[{\"field\":\"status\",\"issue\":\"allowed next statuses: cancelled\"}]");
	free(r);

	static const bad_case bad[] = {
		{ "GET", "/api/orders/65A1B2C3D4E5F60718293A4B", NULL, "id" },
		{ "GET", "/api/orders/123", NULL, "id" },
		{ "GET", "/api/orders/" OID "0", NULL, "id" },
		{ "GET", "/api/orders?limit=0", NULL, "limit" },
		{ "GET", "/api/orders?limit=201", NULL, "limit" },
		{ "GET", "/api/orders?status=teleported", NULL, "status" },
		{ "GET", "/api/orders?status=", NULL, "status" },
		{ "GET", "/api/orders?user_id=07", NULL, "user_id" },
		{ "GET", "/api/orders?user_id=abc", NULL, "user_id" },
		{ "PUT", "/api/orders/nope/status", "{\"status\":\"cancelled\"}", "id" },
		{ "PUT", "/api/orders/" OID "/status", "{\"status\":\"teleported\"}", "status" },
		{ "PUT", "/api/orders/" OID "/status", "{\"status\":null}", "status" },
		{ "PUT", "/api/orders/" OID "/status", "{}", "status" },
		{ "PUT", "/api/orders/" OID "/status", "{\"status\":\"cancelled\",\"by\":1}", "by" },
		/* "" would read as no reason, and the service's default would stand in */
		{ "PUT", "/api/orders/" OID "/status", "{\"status\":\"cancelled\",\"reason\":\"\"}", "reason" },
	};
	check_bad(&f, f.customer, bad, sizeof(bad) / sizeof(bad[0]));
	fixture_stop(&f);
}

TEST(gw_orders_stats_route_and_shape)
{
	fixture f;
	if (!fixture_start(&f))
		return;
	/* a literal segment: "stats" is never taken for an order {id} */
	char *r = call(&f, "GET", "/api/orders/stats", f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_STREQ(testhttp_body(r),
	    "{\"success\":true,\"stats\":{\"orders\":210,\"by_status\":{\"pending\":10,\"paid\":20,"
	    "\"payment_failed\":30,\"cancelled\":40,\"shipped\":50,\"delivered\":60},"
	    "\"received\":[{\"currency\":\"COP\",\"total\":3660000},{\"currency\":\"USD\",\"total\":19.99}]}}");
	free(r);
	CHECK_STREQ(seen.method, "GetOrderStats");
	CHECK_STREQ(seen.text, "u=0");
	r = call(&f, "GET", "/api/orders/stats?user_id=12", f.admin, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	CHECK_STREQ(seen.text, "u=12");
	r = call(&f, "GET", "/api/orders/stats", NULL, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 401);
	free(r);
	CHECK_EQ_INT(rpc_calls(), 0);
	static const bad_case bad[] = {
		{ "GET", "/api/orders/stats?user_id=0", NULL, "user_id" },
		{ "GET", "/api/orders/stats?user_id=-3", NULL, "user_id" },
		{ "GET", "/api/orders/stats?user_id=x", NULL, "user_id" },
	};
	check_bad(&f, f.admin, bad, sizeof(bad) / sizeof(bad[0]));
	fixture_stop(&f);
}

TEST(gw_payments_routes)
{
	fixture f;
	if (!fixture_start(&f))
		return;
	char v[256];
	char *r = call(&f, "POST", "/api/payments", f.customer, "Idempotency-Key: replay\r\n",
	    "{\"order_id\":\"" OID "\",\"amount\":19.99,\"payment_method\":\"credit_card\",\"transaction_id\":\"T-9\","
	    "\"payment_token\":\"tok_decline_x\"}");
	CHECK_EQ_INT(testhttp_status(r), 201);
	CHECK_STREQ(testhttp_body(r), "{\"success\":true,\"message\":\"Payment created successfully\",\"payment\":{"
	                              "\"id\":31,\"order_id\":\"" OID "\",\"user_id\":7,\"amount\":19.99,\"currency\":\"COP\","
	                              "\"status\":\"pending\",\"payment_method\":\"cash\",\"transaction_id\":\"TXN-1\","
	                              "\"failure_reason\":null,\"created_at\":\"2026-01-16T10:30:00.000Z\","
	                              "\"updated_at\":\"2026-01-16T10:30:00.000Z\"}}");
	CHECK_STREQ(testhttp_header(r, "Location", v, sizeof(v)), "/api/payments/31");
	CHECK_STREQ(testhttp_header(r, "Idempotent-Replayed", v, sizeof(v)), "true");
	free(r);
	CHECK_STREQ(seen.method, "CreatePayment");
	CHECK_STREQ(seen.idem_key, "replay");
	CHECK_STREQ(seen.text, OID " a=1999 pm=1 t=T-9 k=tok_decline_x");

	r = call(&f, "GET", "/api/payments?order_id=" OID "&status=completed&limit=5", f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "{\"success\":true,\"count\":1,\"payments\":[{\"id\":31,");
	CHECK_BODY_HAS(r, "\"next_cursor\":null}");
	free(r);
	CHECK_STREQ(seen.text, "o=" OID " s=2 l=5 c=");
	r = call(&f, "GET", "/api/payments/8", f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "{\"success\":true,\"payment\":{\"id\":8,");
	free(r);
	r = call(&f, "GET", "/api/payments/404", f.customer, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	CHECK_BODY_HAS(r, "\"error\":\"Payment not found\"");
	free(r);

	/* the admin routes: customers stop at the gateway */
	const char *admin_only[][3] = {
		{ "PUT", "/api/payments/8/status", "{\"status\":\"completed\"}" },
		{ "POST", "/api/payments/8/refund", NULL },
		{ "GET", "/api/payments/8/audit", NULL },
	};
	for (int i = 0; i < 3; i++) {
		r = call(&f, admin_only[i][0], admin_only[i][1], f.customer, NULL, admin_only[i][2]);
		CHECK_EQ_INT(testhttp_status(r), 403);
		CHECK_EQ_INT(rpc_calls(), 0);
		free(r);
	}
	r = call(&f, "PUT", "/api/payments/8/status", f.admin, NULL, "{\"status\":\"failed\",\"reason\":\"no cash\"}");
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "{\"success\":true,\"message\":\"Payment status updated successfully\",\"payment\":{\"id\":8,");
	CHECK_BODY_HAS(r, "\"status\":\"failed\"");
	free(r);
	CHECK_STREQ(seen.text, "8 s=3 r=no cash");
	r = call(&f, "POST", "/api/payments/8/refund", f.admin, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "{\"success\":true,\"message\":\"Payment refunded successfully\",\"payment\":{\"id\":8,");
	CHECK_BODY_HAS(r, "\"status\":\"refunded\"");
	free(r);
	r = call(&f, "POST", "/api/payments/9/refund", f.admin, NULL, "{}");
	CHECK_EQ_INT(testhttp_status(r), 200);
	free(r);
	CHECK_STREQ(seen.text, "9");
	/* only white space is no body (it was 400 "Request body is required") */
	r = call(&f, "POST", "/api/payments/10/refund", f.admin, NULL, " \r\n\t ");
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_BODY_HAS(r, "\"message\":\"Payment refunded successfully\"");
	free(r);
	CHECK_STREQ(seen.text, "10");
	r = call(&f, "GET", "/api/payments/8/audit", f.admin, NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_STREQ(testhttp_body(r), "{\"success\":true,\"entries\":[{\"at\":\"2026-01-16T10:30:00.000Z\",\"action\":"
	                              "\"created\",\"from_status\":null,\"to_status\":\"pending\",\"amount\":19.99,"
	                              "\"actor\":\"user:7\",\"request_id\":null,\"event_id\":null}]}");
	free(r);

	static const bad_case bad[] = {
		{ "POST", "/api/payments", "{\"order_id\":\"" OID "\",\"amount\":\"19.99\"}", "amount" },
		{ "POST", "/api/payments", "{\"order_id\":\"" OID "\",\"amount\":19.999}", "amount" },
		{ "POST", "/api/payments", "{\"order_id\":\"" OID "\",\"amount\":1,\"payment_method\":\"paypal\"}",
		    "payment_method" },
		{ "POST", "/api/payments", "{\"amount\":1}", "order_id" },
		{ "GET", "/api/payments/abc", NULL, "id" },
		{ "GET", "/api/payments/0", NULL, "id" },
		{ "GET", "/api/payments?order_id=xyz", NULL, "order_id" },
		{ "GET", "/api/payments?status=paid", NULL, "status" },
		{ "GET", "/api/payments?limit=1000", NULL, "limit" },
		{ "PUT", "/api/payments/8/status", "{\"status\":\"refunded\"}", "status" },
		{ "PUT", "/api/payments/08/status", "{\"status\":\"completed\"}", "id" },
		{ "POST", "/api/payments/8/refund", "{\"reason\":\"x\"}", "reason" },
		{ "GET", "/api/payments/-1/audit", NULL, "id" },
	};
	check_bad(&f, f.admin, bad, sizeof(bad) / sizeof(bad[0]));
	fixture_stop(&f);
}
