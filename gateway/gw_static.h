/*
 * gw_static: the web UI's files (web/), served by the gateway.
 *
 *   GET /                   WEB_ROOT/index.html
 *   GET /ui/{file}          WEB_ROOT/{file}
 *   GET /ui/{dir}/{file}    WEB_ROOT/{dir}/{file}       (one level of folders)
 *
 * (HEAD too, as for every GET route.) The UI routes are public: the files are
 * the same for everyone; the app authenticates its API calls itself.
 *
 * Safety. A request names at most two path segments, and each must be
 * 1-100 characters of [A-Za-z0-9._-] that do not start with '.': so no "..",
 * no ".", no hidden files (.git, .env), no absolute path, no NUL, no
 * backslash can reach the file system. The file is opened beneath the root
 * one component at a time with O_NOFOLLOW, so a symbolic link inside the
 * root is never followed (the root itself may be one: it is the operator's
 * setting). Only regular files of at most GW_STATIC_MAX_BYTES with an
 * extension of the fixed map below are served; anything else is 404.
 *
 *   .html text/html  .js text/javascript  .css text/css  .json application/json
 *   (all "; charset=utf-8")  .svg image/svg+xml  .png image/png  .ico image/x-icon
 *
 * Reading. Files are read at request time (they are small, and a changed
 * file is served at once, without restarting the gateway). Every answer has
 * an ETag (size and modification time) and "Cache-Control: no-cache": the
 * app has no build step, so its file names carry no version and a browser
 * must revalidate; an unchanged file then costs a bodiless 304
 * (If-None-Match) whose Content-Length is the file's, as a 200's would be. Also X-Content-Type-Options: nosniff, Referrer-Policy:
 * no-referrer and, on HTML, a Content-Security-Policy allowing only this
 * origin's scripts, styles, images and API (no inline script, no framing).
 *
 * Not found. A missing or refused file is a small plain HTML 404 page (these
 * are browser paths). Paths under /api never reach this module: an unknown
 * API path is still the JSON 404 of the route table.
 *
 * Configuration: WEB_ROOT (lib/cfg.def, default "web", relative to the
 * gateway's working directory).
 *
 * Threading: handlers run on HTTP threads, many at once; no shared state
 * besides a log-once flag.
 */
#ifndef COMANDA_GW_STATIC_H
#define COMANDA_GW_STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_app.h"
#include "gw_routes.h"
#include "httpd.h"

#define GW_STATIC_MAX_BYTES ((size_t)1 << 20)
#define GW_STATIC_NAME_MAX 100

/* The route handler of the three UI routes above. */
void gw_static_get(gw_app *app, const gw_request *req, httpd_response *resp);

/* True when s is a servable path segment (rules above). */
bool gw_static_name_ok(const char *s);

/* The content type of a file name by its extension, NULL when not served. */
const char *gw_static_content_type(const char *name);

/* A file read from under a root. */
typedef struct gw_static_file {
	char *data;                  /* malloc'd, NUL-terminated; owned by the caller */
	size_t len;
	char etag[64];               /* "\"<size hex>-<mtime hex>\"" */
} gw_static_file;

typedef enum gw_static_result {
	GW_STATIC_OK = 0,
	GW_STATIC_NOT_FOUND,         /* missing, refused name, symlink, not regular, too large */
	GW_STATIC_ERROR,             /* the root cannot be opened, or an I/O error (errno kept) */
} gw_static_result;

/* Reads root/[dir/]file (dir may be NULL) under the rules above. */
gw_static_result gw_static_read(const char *root, const char *dir, const char *file, gw_static_file *out);

/* True when an If-None-Match header value matches etag ("*", or one of a
 * comma-separated list, weak or strong). */
bool gw_static_etag_matches(const char *if_none_match, const char *etag);

#endif
