/*
 * gw_auth: route access by auth class. See gw_auth.h.
 */
#include "gw_auth.h"

#include "gw_errors.h"

bool gw_auth_authorize(gw_app *app, gw_request *req, httpd_response *resp)
{
	(void)app;
	req->caller_id = 0;
	req->caller_role = COMANDA__ROLE__ROLE_ANONYMOUS;
	resp->caller = "anonymous";
	if (req->route->auth == GW_AUTH_PUBLIC)
		return true;
	/* No token verification yet: nothing but public routes may run. */
	gw_errors_respond_code(resp, req->http, COMANDA__CODE__UNAUTHENTICATED, "Authentication required");
	return false;
}
