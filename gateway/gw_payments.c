/*
 * gw_payments: the /api/payments handlers. See gw_payments.h.
 *
 * The shape of gw_users: judge the input (answer 400 and stop), then one
 * RPC with gw_call_async and an answer function that renders its reply.
 */
#include "gw_payments.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "comanda/payment.rpc.h"
#include "gw_call.h"
#include "gw_errors.h"
#include "gw_fields.h"
#include "objectid.h"
#include "gw_list.h"
#include "gw_payment_codec.h"
#include "json.h"

/* The {id} of the path; answers 400 when it is not a canonical positive id. */
static bool gw_payments_path_id(const gw_request *req, httpd_response *resp, int64_t *id)
{
	if (gw_fields_id(gw_param(req, "id"), id))
		return true;
	gw_errors_respond_invalid(resp, req->http, "id", "must be a positive integer");
	return false;
}

/* Answers a PaymentReply with status, {success, message?, payment}. */
static void gw_payments_respond(httpd_response *resp, const gw_request *req, int status, const char *message,
    const Comanda__PaymentReply *rep)
{
	json_respond(resp, req->http, status, gw_payment_reply_json(message, rep != NULL ? rep->payment : NULL));
}

static void gw_payments_answer_created(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	const Comanda__PaymentReply *rep = (const Comanda__PaymentReply *)reply;
	char location[64];
	snprintf(location, sizeof(location), "/api/payments/%" PRId64, rep->payment != NULL ? rep->payment->id : 0);
	gw_call_respond_created(resp, req, gw_payment_reply_json("Payment created successfully", rep->payment), location,
	    rep->replayed);
}

void gw_payments_create(gw_app *app, const gw_request *req, httpd_response *resp)
{
	json_object *body = NULL;
	if (!json_parse_request(req->http, resp, &body))
		return;
	Comanda__CreatePaymentRequest rq;
	gw_problem p;
	if (!gw_payment_create_request(body, &rq, &p))
		gw_errors_respond_invalid(resp, req->http, p.field, p.issue);
	else
		gw_call_async(app, req, resp, true, app->payment, &payment_service_create_payment_method, &rq.base,
		    gw_payments_answer_created);
	json_object_put(body);
}

static void gw_payments_answer_list(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	json_respond(resp, req->http, 200, gw_payment_list_json((const Comanda__ListPaymentsReply *)reply));
}

void gw_payments_list(gw_app *app, const gw_request *req, httpd_response *resp)
{
	Comanda__ListPaymentsRequest rq = COMANDA__LIST_PAYMENTS_REQUEST__INIT;
	char *cursor = NULL;
	if (!gw_list_page(req, resp, &rq.limit, &cursor))
		return;
	if (cursor != NULL)
		rq.cursor = cursor;
	const char *order_id = httpd_query(req->http, "order_id");
	if (order_id != NULL) {
		if (!objectid_hex_valid(order_id)) {
			gw_errors_respond_invalid(resp, req->http, "order_id", "must be a 24-character hexadecimal order id");
			return;
		}
		rq.order_id = (char *)(uintptr_t)order_id; /* borrowed, only packed */
	}
	int status = COMANDA__PAYMENT_STATUS__PAYMENT_STATUS_UNSPECIFIED;
	if (!gw_list_filter_enum(req, resp, "status", gw_payment_statuses.names, gw_payment_statuses.values,
	        gw_payment_statuses.n, &status))
		return;
	rq.status = (Comanda__PaymentStatus)status;
	gw_call_async(app, req, resp, false, app->payment, &payment_service_list_payments_method, &rq.base,
	    gw_payments_answer_list);
}

static void gw_payments_answer_payment(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	gw_payments_respond(resp, req, 200, NULL, (const Comanda__PaymentReply *)reply);
}

void gw_payments_get(gw_app *app, const gw_request *req, httpd_response *resp)
{
	Comanda__GetPaymentRequest rq = COMANDA__GET_PAYMENT_REQUEST__INIT;
	if (gw_payments_path_id(req, resp, &rq.id))
		gw_call_async(app, req, resp, false, app->payment, &payment_service_get_payment_method, &rq.base,
		    gw_payments_answer_payment);
}

static void gw_payments_answer_status(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	gw_payments_respond(resp, req, 200, "Payment status updated successfully", (const Comanda__PaymentReply *)reply);
}

void gw_payments_update_status(gw_app *app, const gw_request *req, httpd_response *resp)
{
	int64_t id;
	if (!gw_payments_path_id(req, resp, &id))
		return;
	json_object *body = NULL;
	if (!json_parse_request(req->http, resp, &body))
		return;
	Comanda__UpdatePaymentStatusRequest rq;
	gw_problem p;
	if (!gw_payment_status_request(body, id, &rq, &p))
		gw_errors_respond_invalid(resp, req->http, p.field, p.issue);
	else
		gw_call_async(app, req, resp, false, app->payment, &payment_service_update_payment_status_method, &rq.base,
		    gw_payments_answer_status);
	json_object_put(body);
}

static void gw_payments_answer_refund(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	gw_payments_respond(resp, req, 200, "Payment refunded successfully", (const Comanda__PaymentReply *)reply);
}

void gw_payments_refund(gw_app *app, const gw_request *req, httpd_response *resp)
{
	int64_t id;
	if (!gw_payments_path_id(req, resp, &id))
		return;
	/* the body is optional here; when one is sent it must be a JSON object
	 * (only white space is no body: it was "Request body is required") */
	json_object *body = NULL;
	if (!json_parse_request_optional(req->http, resp, &body))
		return;
	Comanda__RefundPaymentRequest rq;
	gw_problem p;
	if (!gw_payment_refund_request(body, id, &rq, &p))
		gw_errors_respond_invalid(resp, req->http, p.field, p.issue);
	else
		gw_call_async(app, req, resp, false, app->payment, &payment_service_refund_payment_method, &rq.base,
		    gw_payments_answer_refund);
	json_object_put(body);
}

static void gw_payments_answer_audit(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	json_respond(resp, req->http, 200, gw_payment_audit_json((const Comanda__GetAuditReply *)reply));
}

void gw_payments_audit(gw_app *app, const gw_request *req, httpd_response *resp)
{
	Comanda__GetAuditRequest rq = COMANDA__GET_AUDIT_REQUEST__INIT;
	if (gw_payments_path_id(req, resp, &rq.id))
		gw_call_async(app, req, resp, false, app->payment, &payment_service_get_audit_method, &rq.base,
		    gw_payments_answer_audit);
}
