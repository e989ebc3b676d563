/*
 * gw_cors: cross-origin access for browsers (../API.md "CORS").
 *
 * CORS_ALLOWED_ORIGINS is a comma-separated list of origins
 * ("https://shop.example.com, http://localhost:8080": scheme://host[:port],
 * no path, compared case-insensitively) or "*" for any origin. Empty (the
 * default): no cross-origin access at all; pages served by the gateway
 * itself (same origin) need none.
 *
 * For an allowed Origin:
 *   - a preflight (OPTIONS with Origin and Access-Control-Request-Method) on
 *     a known path is answered 204 with Access-Control-Allow-Origin (the
 *     origin, echoed; "*" when the list is "*"), Vary: Origin,
 *     Access-Control-Allow-Methods (the path's methods, as in Allow),
 *     Access-Control-Allow-Headers (Authorization, Content-Type,
 *     Idempotency-Key, X-Request-Id) and Access-Control-Max-Age
 *     (CORS_MAX_AGE_S); an unknown path is the usual 404;
 *   - every other answer gets Access-Control-Allow-Origin, Vary: Origin and
 *     Access-Control-Expose-Headers (X-Request-Id, RateLimit,
 *     RateLimit-Policy, Retry-After, Idempotent-Replayed, Location,
 *     WWW-Authenticate, Allow).
 * A disallowed origin gets no CORS header at all (its preflight: 403
 * PERMISSION_DENIED JSON), so the browser keeps the page out. No
 * Access-Control-Allow-Credentials: the API authenticates with bearer
 * tokens, never cookies. Preflights are not rate limited.
 *
 * Threading: a gw_cors is read-only after gw_cors_new; any thread.
 */
#ifndef COMANDA_GW_CORS_H
#define COMANDA_GW_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "httpd.h"

typedef struct gw_cors gw_cors;

#define GW_CORS_ALLOW_HEADERS "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
/* Every response header the API sends that a page may need and CORS does
 * not expose by itself (it does Cache-Control, Content-Type, Pragma...):
 * WWW-Authenticate says why a 401 (invalid_token, expired), Allow what a
 * 405's path takes. */
#define GW_CORS_EXPOSE_HEADERS \
	"X-Request-Id, RateLimit, RateLimit-Policy, Retry-After, Idempotent-Replayed, Location, WWW-Authenticate, Allow"

/* Parses the origin list. "" or NULL: 0 with *out NULL (same origin only).
 * A malformed origin: -1 with the reason in why. max_age_s: the preflight
 * cache time sent. The caller owns *out (gw_cors_free). */
int gw_cors_new(gw_cors **out, const char *origins, int max_age_s, char *why, size_t why_cap);

void gw_cors_free(gw_cors *c);

/* True when a browser page of origin may call the API. NULL c or origin: false. */
bool gw_cors_allowed(const gw_cors *c, const char *origin);

/* True when req is a CORS preflight: OPTIONS with Origin and
 * Access-Control-Request-Method. */
bool gw_cors_is_preflight(const httpd_request *req);

/* Answers a preflight for a path whose methods are allow ("GET, HEAD, POST"). */
void gw_cors_preflight(const gw_cors *c, const httpd_request *req, const char *allow, httpd_response *resp);

/* Adds the headers of an actual (non-preflight) answer for req's Origin. */
void gw_cors_decorate(const gw_cors *c, const httpd_request *req, httpd_response *resp);

#endif
