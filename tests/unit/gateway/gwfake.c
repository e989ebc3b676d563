/*
 * gwfake: the gateway against fake services. See gwfake.h.
 */
#include "gwfake.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "comanda/rpc.pb-c.h"
#include "gw_http.h"
#include "test.h"
#include "testhttp.h"

static const char gwfake_key[] = "gwfake-test-key-gwfake-test-key-0123456789";

static void gwfake_bearer(char *out, size_t cap, int64_t sub, int role)
{
	int64_t now = clock_wall_ms() / 1000;
	jwt_claims c = { .sub = sub, .role = role, .sid = 40 + sub, .iat = now, .exp = now + 600 };
	memcpy(out, "Bearer ", 8);
	CHECK_EQ_INT(jwt_sign((const uint8_t *)gwfake_key, strlen(gwfake_key), &c, out + 7, cap - 7), JWT_OK);
}

/* Opens *client on url and waits for it to connect. */
static bool gwfake_client(rpc_client **client, const char *url)
{
	rpc_client_config cc = { .urls = url, .default_timeout_ms = 3000 };
	CHECK_EQ_INT(rpc_client_open(client, &cc), 0);
	if (*client == NULL)
		return false;
	CHECK(rpc_client_wait_connected(*client, 2000));
	return true;
}

bool gwfake_start(gwfake *f, const char *tag, const rpc_service_binding *const bindings[], const void *const impls[],
    size_t n, unsigned clients, int http_threads)
{
	static atomic_int seq;
	char url[128];
	snprintf(url, sizeof(url), "ipc:///tmp/comanda-test-gw%s-%d-%d.sock", tag, (int)getpid(),
	    atomic_fetch_add(&seq, 1));
	memset(f, 0, sizeof(*f));
	rpc_server_config sc = { .url = url, .workers = 2, .name = tag };
	CHECK_EQ_INT(rpc_server_open(&f->server, &sc), 0);
	if (f->server == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		CHECK_EQ_INT(rpc_server_add(f->server, bindings[i], impls[i]), 0);
	CHECK_EQ_INT(rpc_server_start(f->server), 0);
	if (((clients & GWFAKE_USER) != 0 && !gwfake_client(&f->app.user, url)) ||
	    ((clients & GWFAKE_ORDER) != 0 && !gwfake_client(&f->app.order, url)) ||
	    ((clients & GWFAKE_PAYMENT) != 0 && !gwfake_client(&f->app.payment, url)))
		return false;
	f->app.jwt.key = (const uint8_t *)gwfake_key;
	f->app.jwt.key_len = strlen(gwfake_key);
	httpd_config hc = { .name = tag, .bind = "127.0.0.1", .threads = http_threads > 0 ? http_threads : 2,
		.handler = gw_http_handle, .arg = &f->app };
	CHECK_EQ_INT(httpd_start(&f->http, &hc), 0);
	if (f->http == NULL)
		return false;
	f->port = httpd_port(f->http);
	gwfake_bearer(f->customer, sizeof(f->customer), 7, COMANDA__ROLE__ROLE_CUSTOMER);
	gwfake_bearer(f->admin, sizeof(f->admin), 1, COMANDA__ROLE__ROLE_ADMIN);
	return true;
}

void gwfake_stop(gwfake *f)
{
	httpd_stop(f->http); /* first: it waits for answers still out */
	rpc_client_close(f->app.user);
	rpc_client_close(f->app.order);
	rpc_client_close(f->app.payment);
	rpc_server_close(f->server);
}

char *gwfake_request(const gwfake *f, const char *method, const char *target, const char *auth, const char *extra,
    const char *body)
{
	char headers[JWT_MAX_LEN + 1024];
	snprintf(headers, sizeof(headers), "%s%s%s%s%s", auth != NULL ? "Authorization: " : "", auth != NULL ? auth : "",
	    auth != NULL ? "\r\n" : "", body != NULL ? "Content-Type: application/json\r\n" : "", extra != NULL ? extra : "");
	return testhttp_request(f->port, method, target, headers, body);
}
