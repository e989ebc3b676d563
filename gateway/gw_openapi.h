/*
 * gw_openapi: GET /openapi.json, the OpenAPI document of this API.
 *
 * The document is docs/openapi.yaml, converted to JSON by
 * tools/embed_openapi.py into gw_openapi_doc.c (generated, checked in,
 * kept fresh by `make gen` / `make check-gen`), so the gateway serves the
 * description of exactly the build it is, with no file to find at run time.
 *
 * Threading: the document is constant; any thread.
 */
#ifndef COMANDA_GW_OPENAPI_H
#define COMANDA_GW_OPENAPI_H

#include <stddef.h>

#include "gw_app.h"
#include "gw_routes.h"
#include "httpd.h"

/* The embedded document (gw_openapi_doc.c): JSON, NUL-terminated. */
extern const char gw_openapi_json[];
extern const size_t gw_openapi_json_len;

/* GET /openapi.json: 200 with the document, application/json. */
void gw_openapi_get(gw_app *app, const gw_request *req, httpd_response *resp);

#endif
