/* gateway/gw_payment_codec: payment JSON -> svc-payment requests and
 * payments / audit entries -> the API's JSON. */
#include <stdlib.h>
#include <string.h>

#include "gw_payment_codec.h"
#include "json.h"
#include "test.h"

static json_object *parse(const char *text)
{
	json_object *o = NULL;
	CHECK_EQ_INT(json_parse_body(text, strlen(text), 0, &o), JSON_PARSE_OK);
	return o;
}

static char *dump(json_object *o)
{
	char *s = json_dump(o, NULL);
	json_object_put(o);
	return s;
}

TEST(gw_payment_create_request_fields)
{
	Comanda__CreatePaymentRequest rq;
	gw_problem p;
	json_object *o = parse("{\"order_id\":\"65a1b2c3d4e5f60718293a4b\",\"amount\":3660000}");
	CHECK(gw_payment_create_request(o, &rq, &p));
	CHECK_STREQ(rq.order_id, "65a1b2c3d4e5f60718293a4b");
	CHECK_EQ_INT(rq.amount_minor, 366000000);
	CHECK_EQ_INT(rq.payment_method, COMANDA__PAYMENT_METHOD__PAYMENT_METHOD_UNSPECIFIED); /* the order's */
	CHECK_STREQ(rq.transaction_id, "");                                                   /* TXN-<uuid> */
	CHECK_STREQ(rq.payment_token, "");
	json_object_put(o);
	o = parse("{\"order_id\":\"x\",\"amount\":0.01,\"payment_method\":\"debit_card\",\"transaction_id\":\"T-1\","
	          "\"payment_token\":\"tok_decline_x\"}");
	CHECK(gw_payment_create_request(o, &rq, &p));
	CHECK_STREQ(rq.order_id, "x"); /* its form is svc-payment's to judge */
	CHECK_EQ_INT(rq.amount_minor, 1);
	CHECK_EQ_INT(rq.payment_method, COMANDA__PAYMENT_METHOD__DEBIT_CARD);
	CHECK_STREQ(rq.transaction_id, "T-1");
	CHECK_STREQ(rq.payment_token, "tok_decline_x");
	json_object_put(o);

	struct {
		const char *body, *field, *issue;
	} cases[] = {
		{ "{\"amount\":1}", "order_id", "is required" },
		{ "{\"order_id\":7,\"amount\":1}", "order_id", "must be a string" },
		{ "{\"order_id\":\"x\"}", "amount", "is required" },
		{ "{\"order_id\":\"x\",\"amount\":\"1\"}", "amount", "must be a number" },
		{ "{\"order_id\":\"x\",\"amount\":null}", "amount", "must be a number" },
		{ "{\"order_id\":\"x\",\"amount\":-0.01}", "amount", "must not be negative" },
		{ "{\"order_id\":\"x\",\"amount\":19.999}", "amount", "must have at most 2 decimals" },
		{ "{\"order_id\":\"x\",\"amount\":1,\"payment_method\":\"paypal\"}", "payment_method",
		    "must be one of: credit_card, debit_card, cash, bank_transfer" },
		{ "{\"order_id\":\"x\",\"amount\":1,\"transaction_id\":\"\"}", "transaction_id", "must not be empty" },
		{ "{\"order_id\":\"x\",\"amount\":1,\"transaction_id\":5}", "transaction_id", "must be a string" },
		{ "{\"order_id\":\"x\",\"amount\":1,\"payment_token\":false}", "payment_token", "must be a string" },
		{ "{\"order_id\":\"x\",\"amount\":1,\"status\":\"completed\"}", "status", "is not a known field" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&p, 0, sizeof(p));
		o = parse(cases[i].body);
		bool ok = o != NULL && gw_payment_create_request(o, &rq, &p);
		json_object_put(o);
		if (ok || strcmp(p.field, cases[i].field) != 0 || strcmp(p.issue, cases[i].issue) != 0)
			test_fail(__FILE__, __LINE__, "%s: ok=%d \"%s %s\", want \"%s %s\"", cases[i].body, ok, p.field, p.issue,
			    cases[i].field, cases[i].issue);
	}
}

TEST(gw_payment_status_and_refund_requests)
{
	Comanda__UpdatePaymentStatusRequest rq;
	gw_problem p;
	json_object *o = parse("{\"status\":\"failed\",\"reason\":\"cash never arrived\"}");
	CHECK(gw_payment_status_request(o, 9, &rq, &p));
	CHECK_EQ_INT(rq.id, 9);
	CHECK_EQ_INT(rq.status, COMANDA__PAYMENT_STATUS__PAYMENT_FAILED);
	CHECK_STREQ(rq.reason, "cash never arrived");
	json_object_put(o);
	o = parse("{\"status\":\"completed\"}");
	CHECK(gw_payment_status_request(o, 9, &rq, &p));
	CHECK_EQ_INT(rq.status, COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED);
	json_object_put(o);
	/* a completion has no failure_reason: its reason was dropped unseen */
	o = parse("{\"status\":\"completed\",\"reason\":\"x\"}");
	memset(&p, 0, sizeof(p));
	CHECK(!gw_payment_status_request(o, 9, &rq, &p));
	CHECK_STREQ(p.field, "reason");
	CHECK_STREQ(p.issue, "only goes with status failed");
	json_object_put(o);
	const char *refused[] = { "{\"status\":\"refunded\"}", "{\"status\":\"pending\"}", "{\"status\":\"done\"}", NULL };
	for (int i = 0; refused[i] != NULL; i++) {
		o = parse(refused[i]);
		memset(&p, 0, sizeof(p));
		CHECK(!gw_payment_status_request(o, 9, &rq, &p));
		CHECK_STREQ(p.field, "status");
		CHECK_STREQ(p.issue, "must be one of: completed, failed");
		json_object_put(o);
	}
	o = parse("{}");
	CHECK(!gw_payment_status_request(o, 9, &rq, &p));
	CHECK_STREQ(p.issue, "is required");
	json_object_put(o);

	Comanda__RefundPaymentRequest rf;
	CHECK(gw_payment_refund_request(NULL, 4, &rf, &p));
	CHECK_EQ_INT(rf.id, 4);
	o = parse("{}");
	CHECK(gw_payment_refund_request(o, 4, &rf, &p));
	json_object_put(o);
	o = parse("{\"reason\":\"x\"}");
	CHECK(!gw_payment_refund_request(o, 4, &rf, &p));
	CHECK_STREQ(p.field, "reason");
	CHECK_STREQ(p.issue, "is not a known field");
	json_object_put(o);
	CHECK(!rf.by_hand);
	o = parse("{\"by_hand\":true}");
	CHECK(gw_payment_refund_request(o, 4, &rf, &p));
	CHECK(rf.by_hand);
	json_object_put(o);
	o = parse("{\"by_hand\":false}");
	CHECK(gw_payment_refund_request(o, 4, &rf, &p));
	CHECK(!rf.by_hand);
	json_object_put(o);
	const char *not_bool[] = { "{\"by_hand\":1}", "{\"by_hand\":\"true\"}", "{\"by_hand\":null}", NULL };
	for (int i = 0; not_bool[i] != NULL; i++) {
		o = parse(not_bool[i]);
		memset(&p, 0, sizeof(p));
		CHECK(!gw_payment_refund_request(o, 4, &rf, &p));
		CHECK_STREQ(p.field, "by_hand");
		CHECK_STREQ(p.issue, "must be true or false");
		json_object_put(o);
	}
}

static void payment_init(Comanda__Payment *p)
{
	comanda__payment__init(p);
	p->id = 12;
	p->order_id = "65a1b2c3d4e5f60718293a4b";
	p->user_id = 3;
	p->amount_minor = 366000000;
	p->currency = "COP";
	p->status = COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED;
	p->payment_method = COMANDA__PAYMENT_METHOD__CREDIT_CARD;
	p->transaction_id = "TXN-1";
	p->failure_reason = "";
	p->created_at_ms = 1768559400000;
	p->updated_at_ms = 1768559400500;
}

TEST(gw_payment_json_renders_the_api_shape)
{
	Comanda__Payment pay;
	payment_init(&pay);
	char *j = dump(gw_payment_reply_json("Payment created successfully", &pay));
	CHECK_STREQ(j, "{\"success\":true,\"message\":\"Payment created successfully\",\"payment\":{\"id\":12,"
	               "\"order_id\":\"65a1b2c3d4e5f60718293a4b\",\"user_id\":3,\"amount\":3660000,\"currency\":\"COP\","
	               "\"status\":\"completed\",\"payment_method\":\"credit_card\",\"transaction_id\":\"TXN-1\","
	               "\"failure_reason\":null,\"created_at\":\"2026-01-16T10:30:00.000Z\","
	               "\"updated_at\":\"2026-01-16T10:30:00.500Z\"}}");
	free(j);
	pay.status = COMANDA__PAYMENT_STATUS__PAYMENT_FAILED;
	pay.failure_reason = "card declined";
	pay.amount_minor = 10000000001;
	j = dump(gw_payment_reply_json(NULL, &pay));
	CHECK(strstr(j, "{\"success\":true,\"payment\":{") == j);
	CHECK(strstr(j, "\"amount\":100000000.01,") != NULL);
	CHECK(strstr(j, "\"status\":\"failed\"") != NULL);
	CHECK(strstr(j, "\"failure_reason\":\"card declined\"") != NULL);
	free(j);

	Comanda__Payment *list[1] = { &pay };
	Comanda__ListPaymentsReply r = COMANDA__LIST_PAYMENTS_REPLY__INIT;
	r.payments = list;
	r.n_payments = 1;
	j = dump(gw_payment_list_json(&r));
	CHECK(strstr(j, "{\"success\":true,\"count\":1,\"payments\":[{\"id\":12,") == j);
	CHECK(strstr(j, "}],\"next_cursor\":null}") != NULL);
	free(j);
}

TEST(gw_payment_audit_json_nulls)
{
	Comanda__AuditEntry e[2];
	Comanda__AuditEntry *entries[2] = { &e[0], &e[1] };
	for (int i = 0; i < 2; i++)
		comanda__audit_entry__init(&e[i]);
	e[0].at_ms = 1768559400000;
	e[0].action = "created";
	e[0].to_status = COMANDA__PAYMENT_STATUS__PAYMENT_PENDING;
	e[0].amount_minor = 1999;
	e[0].actor = "user:3";
	e[0].request_id = "req-1";
	e[0].event_id = "";
	e[1].at_ms = 1768559401000;
	e[1].action = "completed";
	e[1].from_status = COMANDA__PAYMENT_STATUS__PAYMENT_PENDING;
	e[1].to_status = COMANDA__PAYMENT_STATUS__PAYMENT_COMPLETED;
	e[1].amount_minor = 1999;
	e[1].actor = "system";
	e[1].request_id = "";
	e[1].event_id = "0d4b9f5e-8f7a-4c39-9a53-3f1f0d2b7c11";
	Comanda__GetAuditReply r = COMANDA__GET_AUDIT_REPLY__INIT;
	r.entries = entries;
	r.n_entries = 2;
	char *j = dump(gw_payment_audit_json(&r));
	CHECK_STREQ(j, "{\"success\":true,\"entries\":["
	               "{\"at\":\"2026-01-16T10:30:00.000Z\",\"action\":\"created\",\"from_status\":null,"
	               "\"to_status\":\"pending\",\"amount\":19.99,\"actor\":\"user:3\",\"request_id\":\"req-1\","
	               "\"event_id\":null},"
	               "{\"at\":\"2026-01-16T10:30:01.000Z\",\"action\":\"completed\",\"from_status\":\"pending\","
	               "\"to_status\":\"completed\",\"amount\":19.99,\"actor\":\"system\",\"request_id\":null,"
	               "\"event_id\":\"0d4b9f5e-8f7a-4c39-9a53-3f1f0d2b7c11\"}]}");
	free(j);
	r.n_entries = 0;
	j = dump(gw_payment_audit_json(&r));
	CHECK_STREQ(j, "{\"success\":true,\"entries\":[]}");
	free(j);
}
