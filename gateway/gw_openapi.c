/*
 * gw_openapi: serves the embedded OpenAPI document. See gw_openapi.h.
 */
#include "gw_openapi.h"

void gw_openapi_get(gw_app *app, const gw_request *req, httpd_response *resp)
{
	(void)app;
	(void)req;
	httpd_respond(resp, 200, gw_openapi_json, gw_openapi_json_len);
	/* it changes only with the binary: let clients keep it a while */
	if (resp->status == 200)
		httpd_add_header(resp, "Cache-Control", "public, max-age=300");
}
