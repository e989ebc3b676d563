/*
 * gw_cors: the allowed-origin list and the CORS headers. See gw_cors.h.
 */
#include "gw_cors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_errors.h"

/* Longest origin kept: it must fit a response header value (255). */
#define GW_CORS_ORIGIN_MAX 200

struct gw_cors {
	bool any;                         /* "*" */
	char max_age[16];
	size_t n;
	char (*origins)[GW_CORS_ORIGIN_MAX + 1];
};

/* scheme "://" host [":" port], nothing else; host of letters, digits,
 * '-', '.', or an [IPv6] literal. */
static bool gw_cors_origin_ok(const char *o, size_t n)
{
	const char *sep = NULL;
	for (size_t i = 0; i + 2 < n; i++)
		if (o[i] == ':' && o[i + 1] == '/' && o[i + 2] == '/') {
			sep = o + i;
			break;
		}
	if (sep == NULL || sep == o)
		return false;
	for (const char *p = o; p < sep; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' ||
		        *p == '-' || *p == '.'))
			return false;
	const char *h = sep + 3, *end = o + n;
	if (h == end)
		return false;
	if (*h == '[') {
		const char *close = memchr(h, ']', (size_t)(end - h));
		if (close == NULL)
			return false;
		for (const char *p = h + 1; p < close; p++)
			if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') || *p == ':' ||
			        *p == '.'))
				return false;
		h = close + 1;
	} else {
		const char *start = h;
		while (h < end && ((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
		                      *h == '-' || *h == '.'))
			h++;
		if (h == start)
			return false;
	}
	if (h < end && *h == ':') {
		const char *start = ++h;
		while (h < end && *h >= '0' && *h <= '9')
			h++;
		if (h == start || h - start > 5)
			return false;
	}
	return h == end;
}

int gw_cors_new(gw_cors **out, const char *origins, int max_age_s, char *why, size_t why_cap)
{
	*out = NULL;
	if (why_cap > 0)
		why[0] = '\0';
	if (origins == NULL)
		return 0;
	size_t items = 1;
	for (const char *p = origins; *p != '\0'; p++)
		items += *p == ',';
	gw_cors *c = calloc(1, sizeof(*c));
	if (c != NULL)
		c->origins = calloc(items, sizeof(*c->origins));
	if (c == NULL || c->origins == NULL) {
		gw_cors_free(c);
		snprintf(why, why_cap, "out of memory");
		return -1;
	}
	snprintf(c->max_age, sizeof(c->max_age), "%d", max_age_s > 0 ? max_age_s : 0);
	for (const char *s = origins;;) {
		size_t len = strcspn(s, ",");
		const char *t = s;
		size_t tl = len;
		while (tl > 0 && (*t == ' ' || *t == '\t')) {
			t++;
			tl--;
		}
		while (tl > 0 && (t[tl - 1] == ' ' || t[tl - 1] == '\t' || t[tl - 1] == '/'))
			tl--; /* "https://a.example/" names the same origin */
		if (tl == 1 && t[0] == '*') {
			c->any = true;
		} else if (tl > 0) {
			if (tl > GW_CORS_ORIGIN_MAX || !gw_cors_origin_ok(t, tl)) {
				snprintf(why, why_cap, "\"%.*s\" is not an origin (scheme://host[:port])", (int)(tl > 80 ? 80 : tl),
				    t);
				gw_cors_free(c);
				return -1;
			}
			memcpy(c->origins[c->n], t, tl);
			c->origins[c->n][tl] = '\0';
			c->n++;
		}
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
	if (!c->any && c->n == 0) {
		gw_cors_free(c);
		return 0;
	}
	*out = c;
	return 0;
}

void gw_cors_free(gw_cors *c)
{
	if (c == NULL)
		return;
	free(c->origins);
	free(c);
}

bool gw_cors_allowed(const gw_cors *c, const char *origin)
{
	if (c == NULL || origin == NULL || origin[0] == '\0')
		return false;
	if (c->any)
		return true;
	for (size_t i = 0; i < c->n; i++)
		if (strcasecmp(c->origins[i], origin) == 0)
			return true;
	return false;
}

bool gw_cors_is_preflight(const httpd_request *req)
{
	return strcmp(req->method, "OPTIONS") == 0 && httpd_header(req, "Origin") != NULL &&
	    httpd_header(req, "Access-Control-Request-Method") != NULL;
}

/* Access-Control-Allow-Origin and Vary for an allowed origin. */
static void gw_cors_origin_headers(const gw_cors *c, const char *origin, httpd_response *resp)
{
	/* "*" needs no Vary: the answer is the same for every origin */
	if (c->any) {
		httpd_add_header(resp, "Access-Control-Allow-Origin", "*");
		return;
	}
	httpd_add_header(resp, "Access-Control-Allow-Origin", origin);
	httpd_add_header(resp, "Vary", "Origin");
}

void gw_cors_preflight(const gw_cors *c, const httpd_request *req, const char *allow, httpd_response *resp)
{
	const char *origin = httpd_header(req, "Origin");
	if (!gw_cors_allowed(c, origin)) {
		gw_errors_respond_code(resp, req, COMANDA__CODE__PERMISSION_DENIED, "Origin not allowed");
		if (c != NULL && !c->any)
			httpd_add_header(resp, "Vary", "Origin");
		return;
	}
	httpd_respond_owned(resp, 204, NULL, 0);
	gw_cors_origin_headers(c, origin, resp);
	httpd_add_header(resp, "Access-Control-Allow-Methods", allow);
	httpd_add_header(resp, "Access-Control-Allow-Headers", GW_CORS_ALLOW_HEADERS);
	httpd_add_header(resp, "Access-Control-Max-Age", c->max_age);
}

void gw_cors_decorate(const gw_cors *c, const httpd_request *req, httpd_response *resp)
{
	if (c == NULL)
		return;
	const char *origin = httpd_header(req, "Origin");
	if (!gw_cors_allowed(c, origin)) {
		/* a cache must not serve one origin's answer to another */
		if (!c->any)
			httpd_add_header(resp, "Vary", "Origin");
		return;
	}
	gw_cors_origin_headers(c, origin, resp);
	httpd_add_header(resp, "Access-Control-Expose-Headers", GW_CORS_EXPOSE_HEADERS);
}
