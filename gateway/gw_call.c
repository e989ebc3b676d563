/*
 * gw_call: the metadata of an RPC made for an HTTP request. See gw_call.h.
 */
#include "gw_call.h"

#include <string.h>

#include "gw_errors.h"

bool gw_call_idempotency_key_valid(const char *key)
{
	if (key == NULL)
		return false;
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++, n++)
		if (*p < 0x20 || *p > 0x7e || n >= GW_IDEMPOTENCY_KEY_MAX)
			return false;
	return n > 0;
}

bool gw_call_begin(rpc_call *call, const gw_request *req, httpd_response *resp, bool idempotent)
{
	const char *key = idempotent ? httpd_header(req->http, "Idempotency-Key") : NULL;
	if (key != NULL && !gw_call_idempotency_key_valid(key)) {
		gw_errors_respond_invalid(resp, req->http, "Idempotency-Key", "must be 1-255 printable ASCII characters");
		return false;
	}
	rpc_call_init(call);
	call->request_id = req->http->request_id;
	call->caller_id = req->caller_id;
	call->caller_role = req->caller_role;
	call->idempotency_key = key;
	return true;
}
