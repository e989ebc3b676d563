/*
 * gw_payment_codec: payments JSON <-> protobuf. See gw_payment_codec.h.
 */
#include "gw_payment_codec.h"

#include <stdint.h>

#include "gw_order_codec.h"
#include "gw_out.h"
#include "json.h"

#define GW_N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const gw_payment_status_names[] = { "pending", "completed", "failed", "refunded" };
static const int gw_payment_status_values[] = { COMANDA__PAYMENT_STATUS__PAYMENT_PENDING,
	COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED, COMANDA__PAYMENT_STATUS__PAYMENT_FAILED,
	COMANDA__PAYMENT_STATUS__PAYMENT_REFUNDED };
const gw_enum gw_payment_statuses = { gw_payment_status_names, gw_payment_status_values,
	GW_N(gw_payment_status_names) };

/* the statuses an admin settles a pending payment into; "refunded" has its
 * own route and "pending" is where every payment starts */
static const char *const gw_payment_settlement_names[] = { "completed", "failed" };
static const int gw_payment_settlement_values[] = { COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED,
	COMANDA__PAYMENT_STATUS__PAYMENT_FAILED };
const gw_enum gw_payment_settlements = { gw_payment_settlement_names, gw_payment_settlement_values,
	GW_N(gw_payment_settlement_names) };

/* protobuf-c declares strings char *; the request is only packed, never
 * written through, so borrowing the body's const storage is sound. */
static char *gw_borrow(const char *s)
{
	return (char *)(uintptr_t)s;
}

/* ---- requests ------------------------------------------------------------ */

bool gw_payment_create_request(json_object *body, Comanda__CreatePaymentRequest *rq, gw_problem *p)
{
	static const char *const known[] = { "order_id", "amount", "payment_method", "transaction_id", "payment_token",
		NULL };
	comanda__create_payment_request__init(rq);
	const char *order_id = NULL, *txn = NULL, *token = NULL;
	if (!gw_fields_known(body, known, p) || !gw_fields_string_required(body, "order_id", &order_id, p))
		return false;
	int64_t amount = 0;
	gw_field f = gw_fields_money(body, "amount", &amount, p);
	if (f == GW_FIELD_ABSENT)
		gw_problem_set(p, "amount", "is required");
	if (f != GW_FIELD_OK)
		return false;
	int method = COMANDA__PAYMENT_METHOD__PAYMENT_METHOD_UNSPECIFIED;
	if (gw_fields_enum(body, "payment_method", gw_payment_methods.names, gw_payment_methods.values,
	        gw_payment_methods.n, &method, p) == GW_FIELD_BAD)
		return false;
	if ((f = gw_fields_string(body, "transaction_id", &txn, p)) == GW_FIELD_BAD)
		return false;
	/* "" would reach svc-payment as "make one up": say so instead */
	if (f == GW_FIELD_OK && txn[0] == '\0') {
		gw_problem_set(p, "transaction_id", "must not be empty");
		return false;
	}
	if (gw_fields_string(body, "payment_token", &token, p) == GW_FIELD_BAD)
		return false;
	rq->order_id = gw_borrow(order_id);
	rq->amount_minor = amount;
	rq->payment_method = (Comanda__PaymentMethod)method;
	if (txn != NULL)
		rq->transaction_id = gw_borrow(txn);
	if (token != NULL)
		rq->payment_token = gw_borrow(token);
	return true;
}

bool gw_payment_status_request(json_object *body, int64_t id, Comanda__UpdatePaymentStatusRequest *rq, gw_problem *p)
{
	comanda__update_payment_status_request__init(rq);
	rq->id = id;
	int status = 0;
	const char *reason = NULL;
	if (!gw_fields_status_change(body, &gw_payment_settlements, &status, &reason, p))
		return false;
	rq->status = (Comanda__PaymentStatus)status;
	/* Only a failure keeps a reason (its failure_reason); svc-payment drops
	 * one sent with a completion, which the client would take as stored. */
	if (reason != NULL && rq->status != COMANDA__PAYMENT_STATUS__PAYMENT_FAILED) {
		gw_problem_set(p, "reason", "only goes with status failed");
		return false;
	}
	if (reason != NULL)
		rq->reason = gw_borrow(reason);
	return true;
}

bool gw_payment_refund_request(json_object *body, int64_t id, Comanda__RefundPaymentRequest *rq, gw_problem *p)
{
	static const char *const known[] = { "by_hand", NULL };
	comanda__refund_payment_request__init(rq);
	rq->id = id;
	if (body == NULL)
		return true;
	bool by_hand;
	if (!gw_fields_known(body, known, p) || gw_fields_bool(body, "by_hand", &by_hand, p) == GW_FIELD_BAD)
		return false;
	rq->by_hand = by_hand;
	return true;
}

/* ---- responses ----------------------------------------------------------- */

json_object *gw_payment_json(const Comanda__Payment *pay)
{
	if (pay == NULL)
		return NULL;
	bool ok = true;
	json_object *o = json_object_new_object();
	gw_out_put(o, "id", json_object_new_int64(pay->id), &ok);
	gw_out_put(o, "order_id", json_object_new_string(pay->order_id != NULL ? pay->order_id : ""), &ok);
	gw_out_put(o, "user_id", json_object_new_int64(pay->user_id), &ok);
	gw_out_put(o, "amount", json_money_new(pay->amount_minor), &ok);
	gw_out_put(o, "currency", json_object_new_string(pay->currency != NULL ? pay->currency : ""), &ok);
	gw_out_put_name(o, "status", gw_enum_name(&gw_payment_statuses, pay->status), &ok);
	gw_out_put_name(o, "payment_method", gw_enum_name(&gw_payment_methods, pay->payment_method), &ok);
	gw_out_put(o, "transaction_id", json_object_new_string(pay->transaction_id != NULL ? pay->transaction_id : ""),
	    &ok);
	gw_out_put_text(o, "failure_reason", pay->failure_reason, &ok);
	gw_out_put(o, "created_at", json_timestamp_new(pay->created_at_ms), &ok);
	gw_out_put(o, "updated_at", json_timestamp_new(pay->updated_at_ms), &ok);
	return gw_out_done(o, ok);
}

json_object *gw_payment_reply_json(const char *message, const Comanda__Payment *pay)
{
	return gw_out_reply(message, "payment", gw_payment_json(pay));
}

json_object *gw_payment_list_json(const Comanda__ListPaymentsReply *r)
{
	bool ok = true;
	json_object *payments = gw_out_array(r->n_payments);
	for (size_t i = 0; i < r->n_payments; i++)
		gw_out_append(payments, gw_payment_json(r->payments[i]), &ok);
	if (!ok) {
		json_object_put(payments);
		return NULL;
	}
	return gw_out_list("payments", payments, r->next_cursor);
}

static json_object *gw_payment_entry_json(const Comanda__AuditEntry *e)
{
	bool ok = true;
	json_object *o = json_object_new_object();
	gw_out_put(o, "at", json_timestamp_new(e->at_ms), &ok);
	gw_out_put(o, "action", json_object_new_string(e->action != NULL ? e->action : ""), &ok);
	/* UNSPECIFIED (the creation entry has no "from") has no name: null */
	gw_out_put_name(o, "from_status", gw_enum_name(&gw_payment_statuses, e->from_status), &ok);
	gw_out_put_name(o, "to_status", gw_enum_name(&gw_payment_statuses, e->to_status), &ok);
	gw_out_put(o, "amount", json_money_new(e->amount_minor), &ok);
	gw_out_put(o, "actor", json_object_new_string(e->actor != NULL ? e->actor : ""), &ok);
	gw_out_put_text(o, "request_id", e->request_id, &ok);
	gw_out_put_text(o, "event_id", e->event_id, &ok);
	return gw_out_done(o, ok);
}

json_object *gw_payment_audit_json(const Comanda__GetAuditReply *r)
{
	bool ok = true;
	json_object *entries = gw_out_array(r->n_entries);
	for (size_t i = 0; i < r->n_entries; i++)
		gw_out_append(entries, gw_payment_entry_json(r->entries[i]), &ok);
	if (!ok) {
		json_object_put(entries);
		return NULL;
	}
	return gw_out_reply(NULL, "entries", entries);
}
