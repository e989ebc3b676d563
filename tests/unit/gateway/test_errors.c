/* gateway/gw_errors: the API's code -> HTTP table and the error JSON. */
#include <stdlib.h>
#include <string.h>

#include "gw_errors.h"
#include "test.h"

static void req_init(httpd_request *req)
{
	memset(req, 0, sizeof(*req));
	memcpy(req->request_id, "req-1", 6);
}

TEST(gw_errors_status_table_matches_api)
{
	struct { int code; int http; const char *name; } want[] = {
		{ COMANDA__CODE__OK, 200, "OK" },
		{ COMANDA__CODE__INVALID_ARGUMENT, 400, "INVALID_ARGUMENT" },
		{ COMANDA__CODE__OUT_OF_RANGE, 400, "OUT_OF_RANGE" },
		{ COMANDA__CODE__UNAUTHENTICATED, 401, "UNAUTHENTICATED" },
		{ COMANDA__CODE__PERMISSION_DENIED, 403, "PERMISSION_DENIED" },
		{ COMANDA__CODE__NOT_FOUND, 404, "NOT_FOUND" },
		{ COMANDA__CODE__ALREADY_EXISTS, 409, "ALREADY_EXISTS" },
		{ COMANDA__CODE__ABORTED, 409, "ABORTED" },
		{ COMANDA__CODE__FAILED_PRECONDITION, 409, "FAILED_PRECONDITION" },
		{ COMANDA__CODE__RESOURCE_EXHAUSTED, 429, "RESOURCE_EXHAUSTED" },
		{ COMANDA__CODE__INTERNAL, 500, "INTERNAL" },
		{ COMANDA__CODE__UNKNOWN, 500, "UNKNOWN" },
		{ COMANDA__CODE__DATA_LOSS, 500, "DATA_LOSS" },
		{ COMANDA__CODE__UNIMPLEMENTED, 501, "UNIMPLEMENTED" },
		{ COMANDA__CODE__UNAVAILABLE, 503, "UNAVAILABLE" },
		{ COMANDA__CODE__DEADLINE_EXCEEDED, 504, "DEADLINE_EXCEEDED" },
		{ COMANDA__CODE__CANCELLED, 500, "UNKNOWN" },
		{ -1, 500, "UNKNOWN" },
		{ 17, 500, "UNKNOWN" },
		{ 1000, 500, "UNKNOWN" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_EQ_INT(gw_errors_http_status(want[i].code), want[i].http);
		CHECK_STREQ(gw_errors_code_name(want[i].code), want[i].name);
	}
	/* every listed name is the runtime's canonical name too */
	for (int c = 0; c <= COMANDA__CODE__UNAUTHENTICATED; c++)
		if (c != COMANDA__CODE__CANCELLED)
			CHECK_STREQ(gw_errors_code_name(c), rpc_code_name(c));
}

TEST(gw_errors_client_error_passes_message_and_details)
{
	httpd_request req;
	req_init(&req);
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	rpc_status st;
	memset(&st, 0, sizeof(st));
	st.code = COMANDA__CODE__INVALID_ARGUMENT;
	snprintf(st.message, sizeof(st.message), "Invalid user");
	st.n_details = 2;
	snprintf(st.details[0].field, sizeof(st.details[0].field), "email");
	snprintf(st.details[0].issue, sizeof(st.details[0].issue), "is invalid");
	snprintf(st.details[1].field, sizeof(st.details[1].field), "name");
	snprintf(st.details[1].issue, sizeof(st.details[1].issue), "must not be empty");
	gw_errors_respond(&resp, &req, &st);
	CHECK_EQ_INT(resp.status, 400);
	CHECK_STREQ(resp.body, "{\"success\":false,\"error\":\"Invalid user\",\"code\":\"INVALID_ARGUMENT\",\"request_id\":"
	                       "\"req-1\",\"details\":[{\"field\":\"email\",\"issue\":\"is invalid\"},{\"field\":\"name\","
	                       "\"issue\":\"must not be empty\"}]}");
	CHECK_EQ_INT(resp.n_headers, 0);
	free(resp.body);
}

TEST(gw_errors_internal_messages_never_leak)
{
	int codes[] = { COMANDA__CODE__INTERNAL, COMANDA__CODE__UNKNOWN, COMANDA__CODE__DATA_LOSS,
		COMANDA__CODE__UNAVAILABLE, COMANDA__CODE__DEADLINE_EXCEEDED, COMANDA__CODE__CANCELLED, 99 };
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		httpd_request req;
		req_init(&req);
		httpd_response resp;
		memset(&resp, 0, sizeof(resp));
		rpc_status st;
		memset(&st, 0, sizeof(st));
		st.code = codes[i];
		snprintf(st.message, sizeof(st.message), "pq: relation \"users\" at /var/lib/x.c:42");
		st.n_details = 1;
		snprintf(st.details[0].field, sizeof(st.details[0].field), "sql");
		gw_errors_respond(&resp, &req, &st);
		CHECK(resp.status >= 500);
		CHECK(resp.body != NULL && strstr(resp.body, "relation") == NULL);
		CHECK(resp.body != NULL && strstr(resp.body, "details") == NULL);
		free(resp.body);
	}
	httpd_request req;
	req_init(&req);
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	gw_errors_respond_code(&resp, &req, COMANDA__CODE__DATA_LOSS, "disk on fire");
	CHECK_STREQ(resp.body, "{\"success\":false,\"error\":\"Internal error\",\"code\":\"DATA_LOSS\",\"request_id\":\"req-1\"}");
	free(resp.body);
}

TEST(gw_errors_401_asks_for_bearer_and_ok_is_a_bug)
{
	httpd_request req;
	req_init(&req);
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	gw_errors_respond_code(&resp, &req, COMANDA__CODE__UNAUTHENTICATED, "Invalid token");
	CHECK_EQ_INT(resp.status, 401);
	CHECK_EQ_INT(resp.n_headers, 1);
	CHECK_STREQ(resp.headers[0].name, "WWW-Authenticate");
	CHECK_STREQ(resp.headers[0].value, "Bearer");
	CHECK(resp.body != NULL && strstr(resp.body, "\"error\":\"Invalid token\"") != NULL);
	free(resp.body);

	memset(&resp, 0, sizeof(resp));
	gw_errors_respond_code(&resp, &req, COMANDA__CODE__OK, "fine");
	CHECK_EQ_INT(resp.status, 500);
	CHECK(resp.body != NULL && strstr(resp.body, "\"code\":\"INTERNAL\"") != NULL);
	free(resp.body);

	/* an empty message gets the code's name rather than "" */
	memset(&resp, 0, sizeof(resp));
	gw_errors_respond_code(&resp, &req, COMANDA__CODE__NOT_FOUND, "");
	CHECK(resp.body != NULL && strstr(resp.body, "\"error\":\"NOT_FOUND\"") != NULL);
	free(resp.body);
}

TEST(gw_errors_reason_refines_the_status_and_is_shown)
{
	CHECK_EQ_INT(gw_errors_http_status_reason(COMANDA__CODE__FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED"), 422);
	CHECK_EQ_INT(gw_errors_http_status_reason(COMANDA__CODE__FAILED_PRECONDITION, ""), 409);
	CHECK_EQ_INT(gw_errors_http_status_reason(COMANDA__CODE__FAILED_PRECONDITION, NULL), 409);
	CHECK_EQ_INT(gw_errors_http_status_reason(COMANDA__CODE__FAILED_PRECONDITION, "SOMETHING_ELSE"), 409);
	CHECK_EQ_INT(gw_errors_http_status_reason(COMANDA__CODE__ABORTED, "IDEMPOTENCY_KEY_IN_USE"), 409);
	/* a reason belongs to its code: another code with it is unchanged */
	CHECK_EQ_INT(gw_errors_http_status_reason(COMANDA__CODE__ABORTED, "IDEMPOTENCY_KEY_REUSED"), 409);

	httpd_request req;
	req_init(&req);
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	rpc_status st;
	memset(&st, 0, sizeof(st));
	st.code = COMANDA__CODE__FAILED_PRECONDITION;
	snprintf(st.message, sizeof(st.message), "Idempotency-Key was used with a different request");
	snprintf(st.reason, sizeof(st.reason), "IDEMPOTENCY_KEY_REUSED");
	gw_errors_respond(&resp, &req, &st);
	CHECK_EQ_INT(resp.status, 422);
	CHECK_STREQ(resp.body, "{\"success\":false,\"error\":\"Idempotency-Key was used with a different request\","
	                       "\"code\":\"FAILED_PRECONDITION\",\"request_id\":\"req-1\",\"reason\":\"IDEMPOTENCY_KEY_REUSED\"}");
	free(resp.body);

	/* a 5xx shows neither the message nor the reason */
	memset(&resp, 0, sizeof(resp));
	st.code = COMANDA__CODE__INTERNAL;
	snprintf(st.reason, sizeof(st.reason), "PG_DEADLOCK");
	gw_errors_respond(&resp, &req, &st);
	CHECK_EQ_INT(resp.status, 500);
	CHECK(resp.body != NULL && strstr(resp.body, "reason") == NULL && strstr(resp.body, "PG_") == NULL);
	free(resp.body);
}

/* svc-order's refusal of a caller whose own account is not active: the
 * reason keeps 403 (it only tells this 403 from a role's) and is shown. */
TEST(gw_errors_account_inactive_is_403_with_its_reason)
{
	CHECK_EQ_INT(gw_errors_http_status_reason(COMANDA__CODE__PERMISSION_DENIED, "ACCOUNT_INACTIVE"), 403);

	httpd_request req;
	req_init(&req);
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	rpc_status st;
	memset(&st, 0, sizeof(st));
	st.code = COMANDA__CODE__PERMISSION_DENIED;
	snprintf(st.message, sizeof(st.message), "Account is suspended");
	snprintf(st.reason, sizeof(st.reason), "ACCOUNT_INACTIVE");
	gw_errors_respond(&resp, &req, &st);
	CHECK_EQ_INT(resp.status, 403);
	CHECK_STREQ(resp.body, "{\"success\":false,\"error\":\"Account is suspended\","
	                       "\"code\":\"PERMISSION_DENIED\",\"request_id\":\"req-1\",\"reason\":\"ACCOUNT_INACTIVE\"}");
	free(resp.body);
}

TEST(gw_errors_invalid_field_and_token_challenge)
{
	httpd_request req;
	req_init(&req);
	httpd_response resp;
	memset(&resp, 0, sizeof(resp));
	gw_errors_respond_invalid(&resp, &req, "name", "must be a string");
	CHECK_EQ_INT(resp.status, 400);
	CHECK_STREQ(resp.body, "{\"success\":false,\"error\":\"name must be a string\",\"code\":\"INVALID_ARGUMENT\","
	                       "\"request_id\":\"req-1\",\"details\":[{\"field\":\"name\",\"issue\":\"must be a string\"}]}");
	free(resp.body);

	memset(&resp, 0, sizeof(resp));
	gw_errors_respond_unauthenticated(&resp, &req, "Access token expired", "Bearer error=\"invalid_token\"");
	CHECK_EQ_INT(resp.status, 401);
	CHECK_EQ_INT(resp.n_headers, 1);
	CHECK_STREQ(resp.headers[0].name, "WWW-Authenticate");
	CHECK_STREQ(resp.headers[0].value, "Bearer error=\"invalid_token\"");
	CHECK(resp.body != NULL && strstr(resp.body, "\"error\":\"Access token expired\",\"code\":\"UNAUTHENTICATED\"") != NULL);
	free(resp.body);
}
