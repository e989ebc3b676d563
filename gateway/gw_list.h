/*
 * gw_list: the query parameters every list route shares (docs/API.md "Ids,
 * lists, timestamps"), read the same way everywhere:
 *
 *   ?limit=   an integer 1..200 in canonical form, default 50; anything
 *             else (0, 201, "", "2.5", "07") is 400 naming limit;
 *   ?cursor=  the previous page's next_cursor, passed on to the service,
 *             which decodes it (lib/cursor) and answers 400 naming cursor
 *             for one it did not make; empty means the first page; one
 *             longer than any cursor the API makes is refused here;
 *   ?<enum>=  a filter by a closed set of names (?status=): 400 naming it,
 *             with the accepted names, for any other value.
 *
 * Threading: pure apart from reading the request's query; any thread.
 */
#ifndef COMANDA_GW_LIST_H
#define COMANDA_GW_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_routes.h"
#include "httpd.h"

#define GW_LIST_LIMIT_DEFAULT 50
#define GW_LIST_LIMIT_MAX 200

/* Reads ?limit= into *limit (GW_LIST_LIMIT_DEFAULT when absent) and
 * ?cursor= into *cursor (borrowed from the request, typed char * for the
 * protobuf field it fills and never written through; NULL when absent or
 * empty). A bad one answers resp 400 naming it and returns false. */
bool gw_list_page(const gw_request *req, httpd_response *resp, uint32_t *limit, char **cursor);

/* Reads ?<key>= as one of names[0..n) into *out (values[i]); absent leaves
 * *out untouched and returns true. Any other value, "" included, answers
 * resp 400 naming key ("status must be one of: pending, ...") and returns
 * false. */
bool gw_list_filter_enum(const gw_request *req, httpd_response *resp, const char *key, const char *const names[],
    const int values[], size_t n, int *out);

#endif
