/*
 * gw_static: the web UI's files. See gw_static.h.
 */
#include "gw_static.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "ident.h"
#include "log.h"

/* ------------------------------------------------------------------------ */
/* names and types                                                          */
/* ------------------------------------------------------------------------ */

bool gw_static_name_ok(const char *s)
{
	/* no leading dot: neither "..", nor a hidden file */
	return ident_valid(s, GW_STATIC_NAME_MAX) && s[0] != '.';
}

static const struct {
	const char *ext;
	const char *type;
} gw_static_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
};

const char *gw_static_content_type(const char *name)
{
	const char *dot = name != NULL ? strrchr(name, '.') : NULL;
	if (dot == NULL || dot == name)
		return NULL;
	for (size_t i = 0; i < sizeof(gw_static_types) / sizeof(gw_static_types[0]); i++)
		if (strcmp(dot, gw_static_types[i].ext) == 0)
			return gw_static_types[i].type;
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* reading beneath the root                                                 */
/* ------------------------------------------------------------------------ */

static bool gw_static_errno_is_missing(int e)
{
	/* ELOOP: a symlink met with O_NOFOLLOW; ENOTDIR: a file where a folder
	 * was named, or a symlinked folder; EACCES: not ours to show. */
	return e == ENOENT || e == ENOTDIR || e == ELOOP || e == EACCES || e == ENAMETOOLONG || e == ENXIO;
}

gw_static_result gw_static_read(const char *root, const char *dir, const char *file, gw_static_file *out)
{
	memset(out, 0, sizeof(*out));
	if ((dir != NULL && !gw_static_name_ok(dir)) || !gw_static_name_ok(file) ||
	    gw_static_content_type(file) == NULL)
		return GW_STATIC_NOT_FOUND;

	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return GW_STATIC_ERROR;
	int dirfd = rootfd;
	if (dir != NULL) {
		dirfd = openat(rootfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		close(rootfd);
		if (dirfd < 0) {
			errno = e;
			return gw_static_errno_is_missing(e) ? GW_STATIC_NOT_FOUND : GW_STATIC_ERROR;
		}
	}
	/* O_NONBLOCK: a FIFO planted in the root must not hang a worker. */
	int fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int e = errno;
	close(dirfd);
	if (fd < 0) {
		errno = e;
		return gw_static_errno_is_missing(e) ? GW_STATIC_NOT_FOUND : GW_STATIC_ERROR;
	}

	gw_static_result res = GW_STATIC_NOT_FOUND;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		res = GW_STATIC_ERROR;
		goto done;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > GW_STATIC_MAX_BYTES)
		goto done;
	size_t size = (size_t)st.st_size;
	char *buf = malloc(size + 1);
	if (buf == NULL) {
		errno = ENOMEM;
		res = GW_STATIC_ERROR;
		goto done;
	}
	size_t got = 0;
	bool failed = false;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			failed = true;
		if (n <= 0)
			break; /* an error, or the file shrank meanwhile: what was read */
		got += (size_t)n;
	}
	if (failed) {
		free(buf);
		res = GW_STATIC_ERROR;
		goto done;
	}
	buf[got] = '\0';
	out->data = buf;
	out->len = got;
	snprintf(out->etag, sizeof(out->etag), "\"%" PRIx64 "-%" PRIx64 ".%lx\"", (uint64_t)st.st_size,
	    (uint64_t)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
	res = GW_STATIC_OK;
done:
	e = errno;
	close(fd);
	errno = e;
	return res;
}

bool gw_static_etag_matches(const char *inm, const char *etag)
{
	if (inm == NULL || etag == NULL || etag[0] == '\0')
		return false;
	size_t el = strlen(etag);
	const char *p = inm;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		size_t n = strcspn(p, ",");
		size_t m = n;
		while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
			m--;
		const char *t = p;
		if (m == 1 && t[0] == '*')
			return true;
		if (m > 2 && t[0] == 'W' && t[1] == '/') { /* weak comparison (RFC 9110 13.1.2) */
			t += 2;
			m -= 2;
		}
		if (m == el && memcmp(t, etag, el) == 0)
			return true;
		p += n;
	}
	return false;
}

/* ------------------------------------------------------------------------ */
/* the route                                                                */
/* ------------------------------------------------------------------------ */

static const char gw_static_csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
				    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
				    "frame-ancestors 'none'";

static const char gw_static_404[] = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
				    "<title>Not found - Comanda</title></head>\n<body><h1>Not found</h1>"
				    "<p>There is no such page. <a href=\"/\">Go to the Comanda dashboard</a>.</p>"
				    "</body></html>\n";

static atomic_bool gw_static_root_warned;

static void gw_static_common_headers(httpd_response *resp)
{
	httpd_add_header(resp, "X-Content-Type-Options", "nosniff");
	httpd_add_header(resp, "Referrer-Policy", "no-referrer");
}

static void gw_static_not_found(httpd_response *resp)
{
	httpd_respond(resp, 404, gw_static_404, sizeof(gw_static_404) - 1);
	resp->content_type = "text/html; charset=utf-8";
	httpd_add_header(resp, "Cache-Control", "no-store");
	gw_static_common_headers(resp);
}

void gw_static_get(gw_app *app, const gw_request *req, httpd_response *resp)
{
	(void)app;
	const char *dir = gw_param(req, "dir");
	const char *file = gw_param(req, "file");
	if (file == NULL) /* GET / */
		file = "index.html";

	const char *root = cfg_str("WEB_ROOT");
	gw_static_file f;
	switch (gw_static_read(root, dir, file, &f)) {
	case GW_STATIC_OK:
		break;
	case GW_STATIC_NOT_FOUND:
		gw_static_not_found(resp);
		return;
	case GW_STATIC_ERROR: {
		int e = errno;
		if (!atomic_exchange(&gw_static_root_warned, true))
			log_printf(LOG_WARN, "gateway: web UI file %s%s%s under WEB_ROOT=%s: %s (logged once)",
			    dir != NULL ? dir : "", dir != NULL ? "/" : "", file, root, strerror(e));
		gw_static_not_found(resp);
		return;
	}
	}

	const char *type = gw_static_content_type(file);
	/* A 304 keeps the file as its body: httpd never sends a 304's body but
	 * announces its length, and RFC 9110 8.6 allows only the length the
	 * 200 would have had (an empty body would say Content-Length: 0). */
	bool unchanged = gw_static_etag_matches(httpd_header(req->http, "If-None-Match"), f.etag);
	httpd_respond_owned(resp, unchanged ? 304 : 200, f.data, f.len);
	resp->content_type = type;
	httpd_add_header(resp, "ETag", f.etag);
	httpd_add_header(resp, "Cache-Control", "no-cache");
	gw_static_common_headers(resp);
	if (strncmp(type, "text/html", 9) == 0)
		httpd_add_header(resp, "Content-Security-Policy", gw_static_csp);
}
