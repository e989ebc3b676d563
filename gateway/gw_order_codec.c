/*
 * gw_order_codec: orders JSON <-> protobuf. See gw_order_codec.h.
 */
#include "gw_order_codec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_out.h"
#include "json.h"

#define GW_N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const gw_order_status_names[] = { "pending", "paid", "payment_failed", "cancelled", "shipped",
	"delivered" };
static const int gw_order_status_values[] = { COMANDA__ORDER_STATUS__ORDER_PENDING, COMANDA__ORDER_STATUS__ORDER_PAID,
	COMANDA__ORDER_STATUS__ORDER_PAYMENT_FAILED, COMANDA__ORDER_STATUS__ORDER_CANCELLED,
	COMANDA__ORDER_STATUS__ORDER_SHIPPED, COMANDA__ORDER_STATUS__ORDER_DELIVERED };
const gw_enum gw_order_statuses = { gw_order_status_names, gw_order_status_values, GW_N(gw_order_status_names) };

static const char *const gw_payment_method_names[] = { "credit_card", "debit_card", "cash", "bank_transfer" };
static const int gw_payment_method_values[] = { COMANDA__PAYMENT_METHOD__CREDIT_CARD,
	COMANDA__PAYMENT_METHOD__DEBIT_CARD, COMANDA__PAYMENT_METHOD__CASH, COMANDA__PAYMENT_METHOD__BANK_TRANSFER };
const gw_enum gw_payment_methods = { gw_payment_method_names, gw_payment_method_values,
	GW_N(gw_payment_method_names) };

/* protobuf-c declares strings char *; the request is only packed, never
 * written through, so borrowing the body's const storage is sound. */
static char *gw_borrow(const char *s)
{
	return (char *)(uintptr_t)s;
}

/* ---- requests ------------------------------------------------------------ */

/* Names a problem found inside item i: "quantity" -> "items[i].quantity"
 * (or "items[i]" itself when member is NULL). */
static bool gw_order_item_problem(gw_problem *p, size_t i, const char *member, const char *issue)
{
	/* room for the prefix and a whole member name; gw_problem_set truncates */
	char field[sizeof(p->field) + 32];
	if (member != NULL)
		snprintf(field, sizeof(field), "items[%zu].%s", i, member);
	else
		snprintf(field, sizeof(field), "items[%zu]", i);
	gw_problem_set(p, field, issue);
	return false;
}

/* The same for a problem a gw_fields reader reported about a member of
 * item i (p->field is the bare member name). */
static bool gw_order_item_reprefix(gw_problem *p, size_t i)
{
	char member[sizeof(p->field)], issue[sizeof(p->issue)];
	memcpy(member, p->field, sizeof(member));
	memcpy(issue, p->issue, sizeof(issue));
	return gw_order_item_problem(p, i, member, issue);
}

/* Item i of the array into *it. */
static bool gw_order_item(json_object *v, size_t i, Comanda__OrderItem *it, gw_problem *p)
{
	static const char *const known[] = { "product", "quantity", "price", NULL };
	comanda__order_item__init(it);
	if (v == NULL || !json_object_is_type(v, json_type_object))
		return gw_order_item_problem(p, i, NULL, "must be an object");
	const char *product = NULL;
	int64_t quantity = 0, price = 0;
	gw_field f;
	if (!gw_fields_known(v, known, p) || !gw_fields_string_required(v, "product", &product, p))
		return gw_order_item_reprefix(p, i);
	if ((f = gw_fields_int64(v, "quantity", &quantity, p)) != GW_FIELD_OK) {
		if (f == GW_FIELD_ABSENT)
			gw_problem_set(p, "quantity", "is required");
		return gw_order_item_reprefix(p, i);
	}
	if ((f = gw_fields_money(v, "price", &price, p)) != GW_FIELD_OK) {
		if (f == GW_FIELD_ABSENT)
			gw_problem_set(p, "price", "is required");
		return gw_order_item_reprefix(p, i);
	}
	it->product = gw_borrow(product);
	/* saturate into int32: svc-order refuses anything outside 1..10000
	 * with its own message, and a wrapped value must never look valid */
	it->quantity = quantity > INT32_MAX ? INT32_MAX : quantity < INT32_MIN ? INT32_MIN : (int32_t)quantity;
	it->price_minor = price;
	return true;
}

/* Translates the items array into rq (allocating rq->items). */
static bool gw_order_items(json_object *items, Comanda__CreateOrderRequest *rq, gw_problem *p)
{
	size_t n = json_object_array_length(items);
	if (n == 0)
		return true; /* svc-order says "must hold at least one item" */
	/* one pointer array and one block of items; the free releases both */
	Comanda__OrderItem **ptrs = calloc(n, sizeof(*ptrs));
	Comanda__OrderItem *store = calloc(n, sizeof(*store));
	if (ptrs == NULL || store == NULL) {
		free(ptrs);
		free(store);
		/* not the client's fault: an empty field tells the handler (500) */
		gw_problem_internal(p, "out of memory");
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!gw_order_item(json_object_array_get_idx(items, i), i, &store[i], p)) {
			free(ptrs);
			free(store);
			return false;
		}
		ptrs[i] = &store[i];
	}
	rq->items = ptrs;
	rq->n_items = n;
	return true;
}

bool gw_order_create_request(json_object *body, Comanda__CreateOrderRequest *rq, gw_problem *p)
{
	static const char *const known[] = { "user_id", "items", "total", "currency", "payment_method", "payment_token",
		NULL };
	comanda__create_order_request__init(rq);
	if (!gw_fields_known(body, known, p))
		return false;
	int64_t user_id = 0;
	gw_field f = gw_fields_int64(body, "user_id", &user_id, p);
	if (f == GW_FIELD_BAD)
		return false;
	/* 0 on the wire means "the caller": an explicit 0 must not become that */
	if (f == GW_FIELD_OK && user_id < 1) {
		gw_problem_set(p, "user_id", "must be a positive integer");
		return false;
	}
	json_object *items = NULL;
	if ((f = gw_fields_array(body, "items", &items, p)) != GW_FIELD_OK) {
		if (f == GW_FIELD_ABSENT)
			gw_problem_set(p, "items", "is required");
		return false;
	}
	int64_t total = 0;
	gw_field total_f = gw_fields_money(body, "total", &total, p);
	if (total_f == GW_FIELD_BAD)
		return false;
	const char *currency = NULL, *token = NULL;
	if ((f = gw_fields_string(body, "currency", &currency, p)) == GW_FIELD_BAD)
		return false;
	/* "" would reach svc-order as "not given" and silently become COP */
	if (f == GW_FIELD_OK && currency[0] == '\0') {
		gw_problem_set(p, "currency", "must be an ISO 4217 currency code");
		return false;
	}
	int method = COMANDA__PAYMENT_METHOD__PAYMENT_METHOD_UNSPECIFIED;
	if (gw_fields_enum(body, "payment_method", gw_payment_methods.names, gw_payment_methods.values,
	        gw_payment_methods.n, &method, p) == GW_FIELD_BAD)
		return false;
	if ((f = gw_fields_string(body, "payment_token", &token, p)) == GW_FIELD_BAD)
		return false;
	/* "" would reach svc-order as "not given": with cash it was accepted as
	 * if absent, with a card refused as missing */
	if (f == GW_FIELD_OK && token[0] == '\0') {
		gw_problem_set(p, "payment_token", "must not be empty");
		return false;
	}
	/* items last: they are the only part that allocates */
	if (!gw_order_items(items, rq, p))
		return false;
	rq->user_id = user_id;
	rq->total_given = total_f == GW_FIELD_OK;
	rq->total_minor = total;
	if (currency != NULL)
		rq->currency = gw_borrow(currency);
	rq->payment_method = (Comanda__PaymentMethod)method;
	if (token != NULL)
		rq->payment_token = gw_borrow(token);
	return true;
}

void gw_order_create_request_free(Comanda__CreateOrderRequest *rq)
{
	if (rq->n_items > 0 && rq->items != NULL)
		free(rq->items[0]); /* the block of items starts with item 0 */
	free(rq->items);
	rq->items = NULL;
	rq->n_items = 0;
}

bool gw_order_status_request(json_object *body, const char *id, Comanda__UpdateOrderStatusRequest *rq, gw_problem *p)
{
	comanda__update_order_status_request__init(rq);
	rq->id = gw_borrow(id);
	int status = 0;
	const char *reason = NULL;
	if (!gw_fields_status_change(body, &gw_order_statuses, &status, &reason, p))
		return false;
	rq->status = (Comanda__OrderStatus)status;
	if (reason != NULL)
		rq->reason = gw_borrow(reason);
	return true;
}

/* ---- responses ----------------------------------------------------------- */

static json_object *gw_order_item_json(const Comanda__OrderItem *it)
{
	bool ok = true;
	json_object *o = json_object_new_object();
	gw_out_put(o, "product", json_object_new_string(it->product != NULL ? it->product : ""), &ok);
	gw_out_put(o, "quantity", json_object_new_int(it->quantity), &ok);
	gw_out_put(o, "price", json_money_new(it->price_minor), &ok);
	return gw_out_done(o, ok);
}

static json_object *gw_order_change_json(const Comanda__StatusChange *c)
{
	/* c->cause (the request or event id behind it) stays internal */
	bool ok = true;
	json_object *o = json_object_new_object();
	gw_out_put_name(o, "status", gw_enum_name(&gw_order_statuses, c->status), &ok);
	gw_out_put(o, "at", json_timestamp_new(c->at_ms), &ok);
	gw_out_put_text(o, "reason", c->reason, &ok);
	return gw_out_done(o, ok);
}

json_object *gw_order_json(const Comanda__Order *o)
{
	if (o == NULL)
		return NULL;
	bool ok = true;
	json_object *j = json_object_new_object();
	gw_out_put(j, "_id", json_object_new_string(o->id != NULL ? o->id : ""), &ok);
	gw_out_put(j, "user_id", json_object_new_int64(o->user_id), &ok);
	json_object *items = gw_out_array(o->n_items);
	for (size_t i = 0; i < o->n_items; i++)
		gw_out_append(items, gw_order_item_json(o->items[i]), &ok);
	gw_out_put(j, "items", items, &ok);
	gw_out_put(j, "total", json_money_new(o->total_minor), &ok);
	gw_out_put(j, "currency", json_object_new_string(o->currency != NULL ? o->currency : ""), &ok);
	gw_out_put_name(j, "status", gw_enum_name(&gw_order_statuses, o->status), &ok);
	gw_out_put_name(j, "payment_method", gw_enum_name(&gw_payment_methods, o->payment_method), &ok);
	if (o->payment_id > 0)
		gw_out_put(j, "payment_id", json_object_new_int64(o->payment_id), &ok);
	else
		gw_out_put_null(j, "payment_id", &ok);
	/* only while it explains the status: svc-order clears it once paid */
	if (o->failure_reason != NULL && o->failure_reason[0] != '\0')
		gw_out_put(j, "failure_reason", json_object_new_string(o->failure_reason), &ok);
	gw_out_put(j, "created_at", json_timestamp_new(o->created_at_ms), &ok);
	gw_out_put(j, "updated_at", json_timestamp_new(o->updated_at_ms), &ok);
	/* always there, null until a refund, as payment_id until a payment: a
	 * fact that may come later, and stays, unlike failure_reason */
	if (o->refunded_at_ms > 0)
		gw_out_put(j, "refunded_at", json_timestamp_new(o->refunded_at_ms), &ok);
	else
		gw_out_put_null(j, "refunded_at", &ok);
	json_object *history = gw_out_array(o->n_history);
	for (size_t i = 0; i < o->n_history; i++)
		gw_out_append(history, gw_order_change_json(o->history[i]), &ok);
	gw_out_put(j, "history", history, &ok);
	return gw_out_done(j, ok);
}

json_object *gw_order_reply_json(const char *message, const Comanda__Order *o)
{
	return gw_out_reply(message, "order", gw_order_json(o));
}

json_object *gw_order_stats_json(const Comanda__OrderStats *s)
{
	bool ok = true;
	json_object *stats = json_object_new_object();
	gw_out_put(stats, "orders", json_object_new_int64(s->orders), &ok);
	json_object *by_status = json_object_new_object();
	for (size_t i = 0; i < s->n_by_status; i++) {
		const char *name = gw_enum_name(&gw_order_statuses, s->by_status[i]->status);
		if (name != NULL)
			gw_out_put(by_status, name, json_object_new_int64(s->by_status[i]->orders), &ok);
	}
	gw_out_put(stats, "by_status", by_status, &ok);
	json_object *received = gw_out_array(s->n_paid);
	for (size_t i = 0; i < s->n_paid; i++) {
		const Comanda__OrderStats__CurrencyTotal *c = s->paid[i];
		json_object *one = json_object_new_object();
		gw_out_put_text(one, "currency", c->currency, &ok);
		gw_out_put(one, "total", json_money_new(c->total_minor), &ok);
		gw_out_append(received, one, &ok);
	}
	gw_out_put(stats, "received", received, &ok);
	return gw_out_reply(NULL, "stats", gw_out_done(stats, ok));
}

json_object *gw_order_list_json(const Comanda__ListOrdersReply *r)
{
	bool ok = true;
	json_object *orders = gw_out_array(r->n_orders);
	for (size_t i = 0; i < r->n_orders; i++)
		gw_out_append(orders, gw_order_json(r->orders[i]), &ok);
	if (!ok) {
		json_object_put(orders);
		return NULL;
	}
	return gw_out_list("orders", orders, r->next_cursor);
}
