/*
 * gw_auth: bearer parsing, token verification and route access by class.
 * See gw_auth.h.
 */
#include "gw_auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "gw_errors.h"
#include "jwt.h"
#include "log.h"

static bool gw_auth_b64token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	    c == '_' || c == '~' || c == '+' || c == '/';
}

gw_bearer gw_auth_bearer(const char *header, const char **token)
{
	*token = NULL;
	if (header == NULL)
		return GW_BEARER_NONE;
	static const char scheme[] = "Bearer";
	const size_t sl = sizeof(scheme) - 1;
	size_t n = strcspn(header, " ");
	if (n == 0)
		return GW_BEARER_MALFORMED; /* empty, or starts with a space */
	if (n != sl || strncasecmp(header, scheme, sl) != 0) {
		/* another scheme's credentials are not ours to judge, but its name
		 * must at least be a token (RFC 9110 §11.1) */
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)header[i];
			if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
				return GW_BEARER_MALFORMED;
		}
		return GW_BEARER_OTHER_SCHEME;
	}
	const char *p = header + sl;
	if (*p != ' ')
		return GW_BEARER_MALFORMED; /* "Bearer" alone */
	while (*p == ' ')
		p++;
	const char *start = p;
	while (gw_auth_b64token_char(*p))
		p++;
	if (p == start)
		return GW_BEARER_MALFORMED;
	while (*p == '=')
		p++;
	if (*p != '\0' || (size_t)(p - start) > JWT_MAX_LEN)
		return GW_BEARER_MALFORMED; /* spaces, commas, controls, a second token */
	*token = start;
	return GW_BEARER_OK;
}

/* A per-thread cache of the last tokens this thread verified: a client sends
 * the same token for up to 15 minutes, and verifying it (HMAC and two JSON
 * parses) was a quarter of the gateway's instructions per request. Only
 * tokens that verified are kept, under their exact text; their times (exp,
 * nbf, iat) are checked again at each use; a thread's cache dies with the thread. */
#define GW_AUTH_CACHE 8

typedef struct gw_auth_cached {
	char token[JWT_MAX_LEN + 1];
	jwt_claims claims;
} gw_auth_cached;

static _Thread_local gw_auth_cached gw_auth_cache[GW_AUTH_CACHE];
static _Thread_local unsigned gw_auth_cache_next;

static int gw_auth_verify_cached(const gw_app *app, const char *token, int64_t now_s, jwt_claims *out)
{
	for (unsigned i = 0; i < GW_AUTH_CACHE; i++) {
		const gw_auth_cached *e = &gw_auth_cache[i];
		if (e->token[0] != '\0' && strcmp(e->token, token) == 0) {
			*out = e->claims;
			/* all the time checks, not just exp: the wall clock can
			 * step back (NTP) after the token first verified */
			return jwt_check_time(out, now_s);
		}
	}
	int rc = jwt_verify(app->jwt.key, app->jwt.key_len, token, now_s, out);
	/* signed before the key was rotated; a token expired or malformed is
	 * that under either key */
	if (rc == JWT_E_SIGNATURE && app->jwt.previous != NULL)
		rc = jwt_verify(app->jwt.previous, app->jwt.previous_len, token, now_s, out);
	if (rc == JWT_OK && strlen(token) <= JWT_MAX_LEN) {
		gw_auth_cached *e = &gw_auth_cache[gw_auth_cache_next++ % GW_AUTH_CACHE];
		memcpy(e->token, token, strlen(token) + 1);
		e->claims = *out;
	}
	return rc;
}

static void gw_auth_set_caller(gw_request *req, httpd_response *resp, const jwt_claims *c)
{
	req->caller_id = c->sub;
	req->caller_role = c->role;
	req->session_id = c->sid;
	/* the log label, written into resp: a deferred request is logged after
	 * its thread has served others, so it must carry its own */
	snprintf(resp->caller, sizeof(resp->caller), "%s:%" PRId64,
	    c->role == COMANDA__ROLE__ROLE_ADMIN ? "admin" : "user", c->sub);
}

bool gw_auth_authorize(gw_app *app, gw_request *req, httpd_response *resp)
{
	req->caller_id = 0;
	req->caller_role = COMANDA__ROLE__ROLE_ANONYMOUS;
	req->session_id = 0;
	httpd_set_caller(resp, "anonymous");
	gw_auth_class cls = req->route->auth;
	if (cls == GW_AUTH_PUBLIC)
		return true;

	/* Two credentials: which one a proxy in front judged is unknown (RFC
	 * 6750 3.1: invalid_request, 400). */
	if (httpd_header_repeated(req->http, "Authorization")) {
		gw_errors_respond_invalid(resp, req->http, "Authorization", "must be given once");
		return false;
	}
	const char *token = NULL;
	switch (gw_auth_bearer(httpd_header(req->http, "Authorization"), &token)) {
	case GW_BEARER_NONE:
		if (cls == GW_AUTH_OPTIONAL)
			return true;
		gw_errors_respond_unauthenticated(resp, req->http, "Authentication required", "Bearer");
		return false;
	case GW_BEARER_OTHER_SCHEME:
		gw_errors_respond_unauthenticated(resp, req->http, "Authorization must use the Bearer scheme", "Bearer");
		return false;
	case GW_BEARER_MALFORMED:
		gw_errors_respond_unauthenticated(resp, req->http, "Invalid access token", GW_AUTH_INVALID_TOKEN);
		return false;
	case GW_BEARER_OK:
		break;
	}
	if (app->jwt.key == NULL || app->jwt.key_len < JWT_MIN_KEY_LEN) {
		/* main never starts so; a test app without a key fails closed */
		log_printf(LOG_ERROR, "gateway: no usable JWT key: every token is refused");
		gw_errors_respond_code(resp, req->http, COMANDA__CODE__INTERNAL, "Internal error");
		return false;
	}
	jwt_claims c;
	int rc = gw_auth_verify_cached(app, token, clock_wall_ms() / 1000, &c);
	if (rc != JWT_OK) {
		/* why, for whoever debugs a client; the client learns only expired or not */
		log_printf(LOG_DEBUG, "gateway: request %s: token refused: %s", req->http->request_id, jwt_strerror(rc));
		gw_errors_respond_unauthenticated(resp, req->http,
		    rc == JWT_E_EXPIRED ? "Access token expired" : "Invalid access token", GW_AUTH_INVALID_TOKEN);
		return false;
	}
	gw_auth_set_caller(req, resp, &c);
	if (cls == GW_AUTH_ADMIN && c.role != COMANDA__ROLE__ROLE_ADMIN) {
		gw_errors_respond_code(resp, req->http, COMANDA__CODE__PERMISSION_DENIED, "Admin role required");
		return false;
	}
	return true;
}
