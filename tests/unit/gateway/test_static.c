/* gateway/gw_static: the web UI's files: names, types, ETags, reading beneath
 * a root (no traversal, no symlinks, no FIFOs), and the three routes of the
 * gateway's real table through a real lib/httpd server. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw_http.h"
#include "gw_routes.h"
#include "gw_static.h"
#include "httpd.h"
#include "test.h"
#include "testhttp.h"

/* A scratch tree:  <tmp>/root/{index.html,app.js,style.css,notes.md,.hidden.js,big.js,
 *                  js/main.js, link.js -> ../secret.js, jslink -> ../outside, fifo.js}
 *                  <tmp>/secret.js  <tmp>/outside/x.js */
static char tmp[PATH_MAX], root[PATH_MAX + 8];

static void put(const char *rel, const char *text)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	FILE *f = fopen(p, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void cleanup(void)
{
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	CHECK(system(cmd) == 0);
}

/* A fresh tree for the calling test; cleanup() removes it. */
static void tree(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/comanda-test-static-%d-XXXXXX", (int)getpid());
	CHECK(mkdtemp(tmp) != NULL);
	snprintf(root, sizeof(root), "%s/root", tmp);
	char p[PATH_MAX * 2];
	mkdir(root, 0755);
	snprintf(p, sizeof(p), "%s/js", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/outside", tmp);
	mkdir(p, 0755);
	put("root/index.html", "<!doctype html><title>t</title>");
	put("root/app.js", "export const x = 1;\n");
	put("root/style.css", "body{}");
	put("root/notes.md", "# not served");
	put("root/.hidden.js", "secret");
	put("root/js/main.js", "import './x.js';");
	put("secret.js", "top secret");
	put("outside/x.js", "outside");
	snprintf(p, sizeof(p), "%s/link.js", root);
	CHECK(symlink("../secret.js", p) == 0);
	snprintf(p, sizeof(p), "%s/jslink", root);
	CHECK(symlink("../outside", p) == 0);
	snprintf(p, sizeof(p), "%s/fifo.js", root);
	CHECK(mkfifo(p, 0600) == 0);
	snprintf(p, sizeof(p), "%s/big.js", root);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(ftruncate(fd, (off_t)GW_STATIC_MAX_BYTES + 1) == 0);
		close(fd);
	}
}

TEST(gw_static_names)
{
	CHECK(gw_static_name_ok("index.html"));
	CHECK(gw_static_name_ok("app.min.js"));
	CHECK(gw_static_name_ok("a..b.js"));
	CHECK(gw_static_name_ok("Icon_32-x.png"));
	CHECK(!gw_static_name_ok(NULL));
	CHECK(!gw_static_name_ok(""));
	CHECK(!gw_static_name_ok("."));
	CHECK(!gw_static_name_ok(".."));
	CHECK(!gw_static_name_ok(".env"));
	CHECK(!gw_static_name_ok("a/b.js"));
	CHECK(!gw_static_name_ok("/etc"));
	CHECK(!gw_static_name_ok("a\\b.js"));
	CHECK(!gw_static_name_ok("a b.js"));
	CHECK(!gw_static_name_ok("caf\xc3\xa9.js"));
	CHECK(!gw_static_name_ok("a%2e.js"));
	char longname[GW_STATIC_NAME_MAX + 2];
	memset(longname, 'a', sizeof(longname));
	longname[GW_STATIC_NAME_MAX] = '\0';
	CHECK(gw_static_name_ok(longname));
	longname[GW_STATIC_NAME_MAX] = 'a';
	longname[GW_STATIC_NAME_MAX + 1] = '\0';
	CHECK(!gw_static_name_ok(longname));
}

TEST(gw_static_content_types)
{
	CHECK_STREQ(gw_static_content_type("index.html"), "text/html; charset=utf-8");
	CHECK_STREQ(gw_static_content_type("app.js"), "text/javascript; charset=utf-8");
	CHECK_STREQ(gw_static_content_type("a.css"), "text/css; charset=utf-8");
	CHECK_STREQ(gw_static_content_type("a.json"), "application/json; charset=utf-8");
	CHECK_STREQ(gw_static_content_type("a.svg"), "image/svg+xml");
	CHECK_STREQ(gw_static_content_type("a.png"), "image/png");
	CHECK_STREQ(gw_static_content_type("favicon.ico"), "image/x-icon");
	CHECK(gw_static_content_type("README.md") == NULL);
	CHECK(gw_static_content_type("a.HTML") == NULL);
	CHECK(gw_static_content_type("a.html.bak") == NULL);
	CHECK(gw_static_content_type("html") == NULL);
	CHECK(gw_static_content_type(".js") == NULL);
	CHECK(gw_static_content_type("a.mjs") == NULL);
}

TEST(gw_static_etags)
{
	const char *e = "\"1f-65a1.0\"";
	CHECK(gw_static_etag_matches("\"1f-65a1.0\"", e));
	CHECK(gw_static_etag_matches("W/\"1f-65a1.0\"", e));
	CHECK(gw_static_etag_matches("\"x\", \"1f-65a1.0\" ", e));
	CHECK(gw_static_etag_matches("*", e));
	CHECK(!gw_static_etag_matches(NULL, e));
	CHECK(!gw_static_etag_matches("", e));
	CHECK(!gw_static_etag_matches("\"1f-65a1.1\"", e));
	CHECK(!gw_static_etag_matches("1f-65a1.0", e));
	CHECK(!gw_static_etag_matches("\"1f-65a1.0\"x", e));
}

TEST(gw_static_read_beneath_root)
{
	tree();
	gw_static_file f;
	CHECK_EQ_INT(gw_static_read(root, NULL, "index.html", &f), GW_STATIC_OK);
	CHECK_STREQ(f.data, "<!doctype html><title>t</title>");
	CHECK_EQ_INT(f.len, strlen("<!doctype html><title>t</title>"));
	CHECK(f.etag[0] == '"');
	free(f.data);
	CHECK_EQ_INT(gw_static_read(root, "js", "main.js", &f), GW_STATIC_OK);
	CHECK_STREQ(f.data, "import './x.js';");
	free(f.data);

	/* refused names, types and kinds of file */
	CHECK_EQ_INT(gw_static_read(root, NULL, "missing.js", &f), GW_STATIC_NOT_FOUND);
	CHECK_EQ_INT(gw_static_read(root, NULL, "notes.md", &f), GW_STATIC_NOT_FOUND);
	CHECK_EQ_INT(gw_static_read(root, NULL, ".hidden.js", &f), GW_STATIC_NOT_FOUND);
	CHECK_EQ_INT(gw_static_read(root, "..", "secret.js", &f), GW_STATIC_NOT_FOUND);
	CHECK_EQ_INT(gw_static_read(root, ".", "app.js", &f), GW_STATIC_NOT_FOUND);
	CHECK_EQ_INT(gw_static_read(root, NULL, "../secret.js", &f), GW_STATIC_NOT_FOUND);
	CHECK_EQ_INT(gw_static_read(root, NULL, "/etc/passwd.js", &f), GW_STATIC_NOT_FOUND);
	CHECK_EQ_INT(gw_static_read(root, NULL, "link.js", &f), GW_STATIC_NOT_FOUND);     /* symlink out */
	CHECK_EQ_INT(gw_static_read(root, "jslink", "x.js", &f), GW_STATIC_NOT_FOUND);    /* symlinked folder */
	CHECK_EQ_INT(gw_static_read(root, NULL, "fifo.js", &f), GW_STATIC_NOT_FOUND);     /* not regular, no hang */
	CHECK_EQ_INT(gw_static_read(root, NULL, "big.js", &f), GW_STATIC_NOT_FOUND);      /* over the limit */
	CHECK_EQ_INT(gw_static_read(root, "app.js", "x.js", &f), GW_STATIC_NOT_FOUND);    /* a file as folder */
	CHECK_EQ_INT(gw_static_read(root, NULL, "js", &f), GW_STATIC_NOT_FOUND);          /* no extension */
	CHECK(f.data == NULL);

	char missing[PATH_MAX + 16];
	snprintf(missing, sizeof(missing), "%s/nope", tmp);
	CHECK_EQ_INT(gw_static_read(missing, NULL, "index.html", &f), GW_STATIC_ERROR);
	cleanup();
}

static void dispatch_real(void *arg, const httpd_request *req, httpd_response *resp)
{
	size_t n = 0;
	const gw_route *t = gw_routes(&n);
	gw_http_dispatch(arg, t, n, req, resp);
}

TEST(gw_static_routes_over_http)
{
	tree();
	setenv("WEB_ROOT", root, 1);
	gw_app app = { 0 };
	httpd *h = NULL;
	httpd_config cfg = { .name = "gw-static-test", .bind = "127.0.0.1", .port = 0, .threads = 2,
		.handler = dispatch_real, .arg = &app };
	CHECK_EQ_INT(httpd_start(&h, &cfg), 0);
	if (h == NULL) {
		cleanup();
		return;
	}
	int port = httpd_port(h);
	char v[512], etag[128];

	char *r = testhttp_request(port, "GET", "/", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_STREQ(testhttp_body(r), "<!doctype html><title>t</title>");
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "text/html; charset=utf-8");
	CHECK_STREQ(testhttp_header(r, "Cache-Control", v, sizeof(v)), "no-cache");
	CHECK_STREQ(testhttp_header(r, "X-Content-Type-Options", v, sizeof(v)), "nosniff");
	CHECK(strstr(testhttp_header(r, "Content-Security-Policy", v, sizeof(v)), "default-src 'self'") != NULL);
	testhttp_header(r, "ETag", etag, sizeof(etag));
	CHECK(etag[0] == '"');
	free(r);

	/* revalidation: the same ETag is a bodiless 304, with the 200's
	 * Content-Length or none (RFC 9110 8.6), never 0 */
	char hdr[256];
	snprintf(hdr, sizeof(hdr), "If-None-Match: %s\r\n", etag);
	r = testhttp_request(port, "GET", "/", hdr, NULL);
	CHECK_EQ_INT(testhttp_status(r), 304);
	CHECK_STREQ(testhttp_body(r), "");
	CHECK_STREQ(testhttp_header(r, "Content-Length", v, sizeof(v)), "31");
	CHECK_STREQ(testhttp_header(r, "ETag", v, sizeof(v)), etag);
	free(r);

	r = testhttp_request(port, "GET", "/ui/app.js", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "text/javascript; charset=utf-8");
	CHECK_STREQ(testhttp_header(r, "Content-Security-Policy", v, sizeof(v)), "");
	free(r);

	r = testhttp_request(port, "GET", "/ui/js/main.js", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_STREQ(testhttp_body(r), "import './x.js';");
	free(r);

	r = testhttp_request(port, "HEAD", "/ui/style.css", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 200);
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "text/css; charset=utf-8");
	free(r);

	/* traversal, encoded or not, symlinks, unknown types: the plain 404 page */
	static const char *const refused[] = { "/ui/..", "/ui/../secret.js", "/ui/%2e%2e/secret.js",
		"/ui/..%2fsecret.js", "/ui/%2e%2e%2fsecret.js", "/ui/js/..%2f..%2fsecret.js", "/ui/link.js",
		"/ui/jslink/x.js", "/ui/notes.md", "/ui/.hidden.js", "/ui/missing.js", "/ui/%2fetc%2fpasswd",
		"/ui/app.js%00.png", "/ui/js/%2e%2e" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		r = testhttp_request(port, "GET", refused[i], NULL, NULL);
		int st = testhttp_status(r);
		if (st != 404 && !(st == 200 && strcmp(refused[i], "/ui/app.js%00.png") == 0))
			test_fail(__FILE__, __LINE__, "GET %s: status %d", refused[i], st);
		CHECK(r == NULL || strstr(testhttp_body(r), "secret") == NULL);
		CHECK(r == NULL || strstr(testhttp_body(r), "outside") == NULL);
		free(r);
	}
	r = testhttp_request(port, "GET", "/ui/missing.js", NULL, NULL);
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "text/html; charset=utf-8");
	CHECK(strstr(testhttp_body(r), "Not found") != NULL);
	free(r);

	/* deeper than one folder, and API paths, stay the table's JSON 404; other methods 405 */
	r = testhttp_request(port, "GET", "/ui/js/a/b.js", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "application/json; charset=utf-8");
	free(r);
	r = testhttp_request(port, "GET", "/api/nothing", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	CHECK_STREQ(testhttp_header(r, "Content-Type", v, sizeof(v)), "application/json; charset=utf-8");
	free(r);
	r = testhttp_request(port, "POST", "/ui/app.js", "Content-Type: application/json\r\n", "{}");
	CHECK_EQ_INT(testhttp_status(r), 405);
	free(r);

	/* a missing root: still the 404 page, never a 500 */
	setenv("WEB_ROOT", "/nonexistent/comanda-web", 1);
	r = testhttp_request(port, "GET", "/", NULL, NULL);
	CHECK_EQ_INT(testhttp_status(r), 404);
	free(r);

	httpd_stop(h);
	unsetenv("WEB_ROOT");
	cleanup();
}
