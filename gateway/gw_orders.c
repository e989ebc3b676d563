/*
 * gw_orders: the /api/orders handlers. See gw_orders.h.
 *
 * The shape of gw_users: judge the input (answer 400 and stop), then one
 * RPC with gw_call_async and an answer function that renders its reply.
 */
#include "gw_orders.h"

#include <stdint.h>
#include <stdio.h>

#include "comanda/order.rpc.h"
#include "gw_call.h"
#include "gw_errors.h"
#include "gw_fields.h"
#include "objectid.h"
#include "gw_list.h"
#include "gw_order_codec.h"
#include "json.h"

/* The {id} of the path; answers 400 when it is not an order id. */
static bool gw_orders_path_id(const gw_request *req, httpd_response *resp, const char **id)
{
	*id = gw_param(req, "id");
	if (objectid_hex_valid(*id))
		return true;
	gw_errors_respond_invalid(resp, req->http, "id", "must be a 24-character hexadecimal order id");
	return false;
}

/* ?user_id= of a list or the stats, into *user_id (left 0 when absent):
 * svc-order applies it for admins; a customer always gets its own orders.
 * Answers 400 naming user_id when it is not a canonical positive id. */
static bool gw_orders_user_filter(const gw_request *req, httpd_response *resp, int64_t *user_id)
{
	const char *user = httpd_query(req->http, "user_id");
	if (user == NULL || gw_fields_id(user, user_id))
		return true;
	gw_errors_respond_invalid(resp, req->http, "user_id", "must be a positive integer");
	return false;
}

/* Answers p from a codec: a client mistake (400) or, with no field, our
 * own failure to allocate (500). */
static void gw_orders_respond_problem(httpd_response *resp, const gw_request *req, const gw_problem *p)
{
	if (p->internal)
		gw_errors_respond_code(resp, req->http, COMANDA__CODE__INTERNAL, "Internal error");
	else
		gw_errors_respond_invalid(resp, req->http, p->field, p->issue);
}

static void gw_orders_answer_created(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	const Comanda__OrderReply *rep = (const Comanda__OrderReply *)reply;
	char location[64];
	snprintf(location, sizeof(location), "/api/orders/%s", rep->order != NULL ? rep->order->id : "");
	gw_call_respond_created(resp, req, gw_order_reply_json("Order created successfully", rep->order), location,
	    rep->replayed);
}

void gw_orders_create(gw_app *app, const gw_request *req, httpd_response *resp)
{
	json_object *body = NULL;
	if (!json_parse_request(req->http, resp, &body))
		return;
	Comanda__CreateOrderRequest rq;
	gw_problem p;
	if (!gw_order_create_request(body, &rq, &p)) {
		gw_orders_respond_problem(resp, req, &p);
		json_object_put(body);
		return;
	}
	gw_call_async(app, req, resp, true, app->order, &order_service_create_order_method, &rq.base,
	    gw_orders_answer_created);
	gw_order_create_request_free(&rq);
	json_object_put(body);
}

static void gw_orders_answer_list(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	json_respond(resp, req->http, 200, gw_order_list_json((const Comanda__ListOrdersReply *)reply));
}

void gw_orders_list(gw_app *app, const gw_request *req, httpd_response *resp)
{
	Comanda__ListOrdersRequest rq = COMANDA__LIST_ORDERS_REQUEST__INIT;
	char *cursor = NULL;
	if (!gw_list_page(req, resp, &rq.limit, &cursor))
		return;
	if (cursor != NULL)
		rq.cursor = cursor;
	if (!gw_orders_user_filter(req, resp, &rq.user_id))
		return;
	int status = COMANDA__ORDER_STATUS__ORDER_STATUS_UNSPECIFIED;
	if (!gw_list_filter_enum(req, resp, "status", gw_order_statuses.names, gw_order_statuses.values,
	        gw_order_statuses.n, &status))
		return;
	rq.status = (Comanda__OrderStatus)status;
	gw_call_async(app, req, resp, false, app->order, &order_service_list_orders_method, &rq.base,
	    gw_orders_answer_list);
}

static void gw_orders_answer_stats(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	json_respond(resp, req->http, 200, gw_order_stats_json((const Comanda__OrderStats *)reply));
}

void gw_orders_stats(gw_app *app, const gw_request *req, httpd_response *resp)
{
	Comanda__OrderStatsRequest rq = COMANDA__ORDER_STATS_REQUEST__INIT;
	if (!gw_orders_user_filter(req, resp, &rq.user_id))
		return;
	gw_call_async(app, req, resp, false, app->order, &order_service_get_order_stats_method, &rq.base,
	    gw_orders_answer_stats);
}

static void gw_orders_answer_order(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	json_respond(resp, req->http, 200, gw_order_reply_json(NULL, ((const Comanda__OrderReply *)reply)->order));
}

void gw_orders_get(gw_app *app, const gw_request *req, httpd_response *resp)
{
	const char *id;
	if (!gw_orders_path_id(req, resp, &id))
		return;
	Comanda__GetOrderRequest rq = COMANDA__GET_ORDER_REQUEST__INIT;
	rq.id = (char *)(uintptr_t)id; /* borrowed from the request, only packed */
	gw_call_async(app, req, resp, false, app->order, &order_service_get_order_method, &rq.base,
	    gw_orders_answer_order);
}

static void gw_orders_answer_status(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	json_respond(resp, req->http, 200,
	    gw_order_reply_json("Order status updated successfully", ((const Comanda__OrderReply *)reply)->order));
}

void gw_orders_update_status(gw_app *app, const gw_request *req, httpd_response *resp)
{
	const char *id;
	if (!gw_orders_path_id(req, resp, &id))
		return;
	json_object *body = NULL;
	if (!json_parse_request(req->http, resp, &body))
		return;
	Comanda__UpdateOrderStatusRequest rq;
	gw_problem p;
	if (!gw_order_status_request(body, id, &rq, &p))
		gw_orders_respond_problem(resp, req, &p);
	else
		gw_call_async(app, req, resp, false, app->order, &order_service_update_order_status_method, &rq.base,
		    gw_orders_answer_status);
	json_object_put(body);
}
