/*
 * gw_auth: who is calling, and may they call this route.
 *
 * Access tokens are verified here, in the gateway, with lib/jwt (HS256 only,
 * constant-time signature check, exp, nbf and iat enforced) against
 * app->jwt; no RPC is made. The route's class (gw_routes.h) decides what happens:
 *
 *   PUBLIC    the Authorization header is not read at all, so a stale token
 *             in a client cannot break login, refresh or health checks;
 *   OPTIONAL  no header: anonymous; a header: it must be a valid token (a
 *             broken one is never silently downgraded to anonymous);
 *   USER      a valid token of a customer or an admin;
 *   ADMIN     a valid token of an admin; a customer's gets 403.
 *
 * Answers (every one the API's JSON error envelope):
 *   no Authorization header, or a scheme other than Bearer
 *       -> 401 UNAUTHENTICATED, WWW-Authenticate: Bearer
 *   "Bearer" with a malformed credential, or a token that fails
 *   verification (bad form, alg other than HS256 incl. "none", bad
 *   signature, wrong key, expired, nbf in the future, iat more than
 *   JWT_IAT_LEEWAY_S in the future: "Invalid access token", all but
 *   expired)
 *       -> 401 UNAUTHENTICATED, WWW-Authenticate: Bearer error="invalid_token"
 *   a customer on an ADMIN route -> 403 PERMISSION_DENIED
 *
 * Access tokens are not looked up: a token stays valid until its exp (at
 * most 15 minutes) even if the user is suspended or logs out meanwhile;
 * svc-user re-checks what matters (it refuses refresh to such a user).
 *
 * Threading: any thread; no shared state (the log label of the caller is
 * per thread, see gw_auth_authorize).
 */
#ifndef COMANDA_GW_AUTH_H
#define COMANDA_GW_AUTH_H

#include <stdbool.h>

#include "gw_app.h"
#include "gw_routes.h"
#include "httpd.h"

/* The challenge of a 401 for a token that was sent but is not acceptable. */
#define GW_AUTH_INVALID_TOKEN "Bearer error=\"invalid_token\""

typedef enum gw_bearer {
	GW_BEARER_NONE = 0,     /* no Authorization header */
	GW_BEARER_OK,           /* "Bearer <token>": *token points at the token */
	GW_BEARER_OTHER_SCHEME, /* a well-formed header of another scheme ("Basic ...") */
	GW_BEARER_MALFORMED,    /* "Bearer" without a proper token, or an empty or garbled header */
} gw_bearer;

/* Parses an Authorization header value (NULL: absent) strictly as RFC 6750
 * §2.1 credentials: the scheme "Bearer" (case-insensitive, RFC 9110
 * §11.1), one or more spaces, then a b64token (ALPHA DIGIT - . _ ~ + /,
 * then '=' padding only) of at most JWT_MAX_LEN characters, then nothing.
 * On GW_BEARER_OK *token points into header (NUL-terminated there);
 * otherwise *token is NULL. Pure. */
gw_bearer gw_auth_bearer(const char *header, const char **token);


/* Fills req->caller_id / caller_role / session_id and resp->caller (the
 * log's "caller": "anonymous", or "user:7" / "admin:7" in a per-thread buffer
 * that lives until the next request on this thread, i.e. past the log line
 * lib/httpd writes right after the handler) and returns true when req may
 * run req->route; otherwise answers resp (401 or 403 as above, 500 when the
 * app has no usable key) and returns false. */
bool gw_auth_authorize(gw_app *app, gw_request *req, httpd_response *resp);

#endif
