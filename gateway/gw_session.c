/*
 * gw_session: login, refresh, logout. See gw_session.h.
 */
#include "gw_session.h"

#include "comanda/user.rpc.h"
#include "gw_call.h"
#include "gw_errors.h"
#include "gw_fields.h"
#include "gw_http.h"
#include "gw_ratelimit.h"
#include "gw_user_codec.h"
#include "json.h"

/* Answers a TokenPair; tokens must not be cached by anything in between. */
static void gw_session_respond_tokens(httpd_response *resp, const gw_request *req, const Comanda__TokenPair *tp)
{
	json_respond(resp, req->http, 200, gw_token_pair_json(tp));
	if (resp->status == 200) {
		httpd_add_header(resp, "Cache-Control", "no-store");
		httpd_add_header(resp, "Pragma", "no-cache");
	}
}

static void gw_session_answer_tokens(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	gw_session_respond_tokens(resp, req, (const Comanda__TokenPair *)reply);
}

/* The failed-login limits (gw_ratelimit.h) hold a token until the outcome
 * is known; anything but a 401 gives it back. note is the e-mail. */
static void gw_session_login_then(gw_app *app, const gw_request *req, httpd_response *resp, int code,
    const char *reason, const char *note)
{
	(void)reason;
	gw_ratelimit_login_end(app->limits, req, note, code, resp);
}

void gw_session_login(gw_app *app, const gw_request *req, httpd_response *resp)
{
	json_object *body = NULL;
	if (!json_parse_request(req->http, resp, &body)) {
		gw_ratelimit_login_peek(app->limits, req, NULL, resp);
		return;
	}
	Comanda__LoginRequest rq;
	gw_problem p;
	if (!gw_user_login_request(body, &rq, &p)) {
		gw_errors_respond_invalid(resp, req->http, p.field, p.issue);
		/* the bucket the attempt would have been charged in: the e-mail
		 * sent, when it is a string at all */
		json_object *email = NULL;
		gw_ratelimit_login_peek(app->limits, req,
		    json_object_object_get_ex(body, "email", &email) && json_object_is_type(email, json_type_string)
		        ? json_object_get_string(email)
		        : NULL,
		    resp);
	} else if (gw_ratelimit_login_begin(app->limits, req, rq.email, resp))
		gw_call_async_then(app, req, resp, false, app->user, &user_service_login_method, &rq.base,
		    gw_session_answer_tokens, gw_session_login_then, rq.email);
	json_object_put(body);
}

void gw_session_refresh(gw_app *app, const gw_request *req, httpd_response *resp)
{
	json_object *body = NULL;
	if (!json_parse_request(req->http, resp, &body))
		return;
	Comanda__RefreshRequest rq;
	gw_problem p;
	if (!gw_user_refresh_request(body, &rq, &p))
		gw_errors_respond_invalid(resp, req->http, p.field, p.issue);
	else
		gw_call_async(app, req, resp, false, app->user, &user_service_refresh_method, &rq.base,
		    gw_session_answer_tokens);
	json_object_put(body);
}

static void gw_session_answer_logout(const gw_request *req, httpd_response *resp, ProtobufCMessage *reply)
{
	(void)reply;
	json_respond(resp, req->http, 200, gw_message_json("Logged out successfully"));
}

void gw_session_logout(gw_app *app, const gw_request *req, httpd_response *resp)
{
	/* The session is the one of the token gw_auth verified: a body has
	 * nothing to add, so none, white space or {} is taken; anything else
	 * is refused like any body, and the session stays. */
	if (!gw_http_no_body(req, resp))
		return;
	Comanda__LogoutRequest rq = COMANDA__LOGOUT_REQUEST__INIT;
	rq.session_id = req->session_id;
	gw_call_async(app, req, resp, false, app->user, &user_service_logout_method, &rq.base, gw_session_answer_logout);
}
