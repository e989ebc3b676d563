/*
 * gw_list: limit, cursor and enum filters of list routes. See gw_list.h.
 */
#include "gw_list.h"

#include <string.h>

#include "cursor.h"
#include "gw_errors.h"
#include "gw_fields.h"

bool gw_list_page(const gw_request *req, httpd_response *resp, uint32_t *limit, char **cursor)
{
	*limit = GW_LIST_LIMIT_DEFAULT;
	*cursor = NULL;
	const char *l = httpd_query(req->http, "limit");
	if (l != NULL && !gw_fields_uint(l, 1, GW_LIST_LIMIT_MAX, limit)) {
		gw_errors_respond_invalid(resp, req->http, "limit", "must be an integer between 1 and 200");
		return false;
	}
	const char *c = httpd_query(req->http, "cursor");
	if (c != NULL && c[0] != '\0') {
		/* the service decodes it; one longer than any it makes is not one */
		if (strlen(c) >= CURSOR_MAX) {
			gw_errors_respond_invalid(resp, req->http, "cursor", "is not a cursor this API returned");
			return false;
		}
		*cursor = (char *)(uintptr_t)c; /* borrowed, only packed */
	}
	return true;
}

bool gw_list_filter_enum(const gw_request *req, httpd_response *resp, const char *key, const char *const names[],
    const int values[], size_t n, int *out)
{
	const char *v = httpd_query(req->http, key);
	if (v == NULL)
		return true;
	gw_problem p;
	if (gw_fields_enum_value(key, v, names, values, n, out, &p))
		return true;
	gw_errors_respond_invalid(resp, req->http, p.field, p.issue);
	return false;
}
