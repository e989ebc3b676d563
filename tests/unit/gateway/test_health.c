/* gateway/gw_health: concurrent Health.Check against real in-process RPC
 * servers (ipc:// sockets), and the /status and /ready bodies. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "comanda/health.rpc.h"
#include "gw_health.h"
#include "gw_http.h"
#include "httpd.h"
#include "json.h"
#include "test.h"
#include "testhttp.h"

enum { MODE_SERVING, MODE_NOT_SERVING, MODE_HUNG };
#define HUNG_MS 700

static int fake_check(rpc_ctx *ctx, const Comanda__HealthCheckRequest *req, Comanda__HealthCheckResponse *reply)
{
	(void)req;
	const int *mode = rpc_ctx_worker(ctx);
	if (*mode == MODE_HUNG)
		clock_sleep_ms(HUNG_MS);
	if (*mode == MODE_NOT_SERVING) {
		static char *down[] = { "database", "broker" };
		reply->status = COMANDA__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
		reply->n_down = 2;
		reply->down = down;
	} else {
		reply->status = COMANDA__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	}
	reply->service = rpc_ctx_strdup(ctx, "fake");
	return COMANDA__CODE__OK;
}

static const health_impl fake_impl = { .check = fake_check };

static void *fake_worker_init(void *arg, int index)
{
	(void)index;
	return arg;
}

typedef struct fake {
	rpc_server *server;
	rpc_client *client;
	int mode;
} fake;

static void fake_start(fake *f, int mode)
{
	static atomic_int seq;
	char url[128];
	snprintf(url, sizeof(url), "ipc:///tmp/comanda-test-gwhealth-%d-%d.sock", (int)getpid(), atomic_fetch_add(&seq, 1));
	f->mode = mode;
	f->server = NULL;
	f->client = NULL;
	rpc_server_config cfg = { .url = url, .workers = 2, .name = "fake-health", .worker_init = fake_worker_init,
		.worker_arg = &f->mode };
	CHECK_EQ_INT(rpc_server_open(&f->server, &cfg), 0);
	CHECK_EQ_INT(rpc_server_add(f->server, &health_binding, &fake_impl), 0);
	CHECK_EQ_INT(rpc_server_start(f->server), 0);
	rpc_client_config cc = { .urls = url, .default_timeout_ms = 2000 };
	CHECK_EQ_INT(rpc_client_open(&f->client, &cc), 0);
	CHECK(rpc_client_wait_connected(f->client, 2000));
}

static void fake_stop(fake *f)
{
	rpc_client_close(f->client);
	rpc_server_close(f->server);
}

/* gw_health_probe_async, waited for. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
} probe_wait = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

static void probe_done(void *arg, gw_health_result out[])
{
	(void)arg;
	(void)out;
	pthread_mutex_lock(&probe_wait.mu);
	probe_wait.done++;
	pthread_cond_signal(&probe_wait.cv);
	pthread_mutex_unlock(&probe_wait.mu);
}

static void probe(rpc_client *const clients[], const char *const names[], size_t n, int timeout_ms,
    gw_health_result out[])
{
	pthread_mutex_lock(&probe_wait.mu);
	probe_wait.done = 0;
	pthread_mutex_unlock(&probe_wait.mu);
	gw_health_probe_async(clients, names, n, timeout_ms, "rid", out, probe_done, NULL);
	pthread_mutex_lock(&probe_wait.mu);
	while (probe_wait.done == 0)
		pthread_cond_wait(&probe_wait.cv, &probe_wait.mu);
	CHECK_EQ_INT(probe_wait.done, 1);
	pthread_mutex_unlock(&probe_wait.mu);
}

TEST(gw_health_probe_concurrent_states)
{
	fake serving, degraded, hung1, hung2;
	fake_start(&serving, MODE_SERVING);
	fake_start(&degraded, MODE_NOT_SERVING);
	fake_start(&hung1, MODE_HUNG);
	fake_start(&hung2, MODE_HUNG);
	rpc_client *const clients[] = { serving.client, degraded.client, hung1.client, hung2.client, NULL };
	const char *const names[] = { "a", "b", "c", "d", "e" };
	gw_health_result r[5];
	int64_t t0 = clock_mono_us();
	probe(clients, names, 5, 250, r);
	int64_t took_ms = (clock_mono_us() - t0) / 1000;
	/* two hung services cost one timeout, not two */
	if (took_ms < 240 || took_ms > 450)
		test_fail(__FILE__, __LINE__, "probe took %lld ms, want about 250", (long long)took_ms);
	CHECK_EQ_INT(r[0].state, GW_HEALTH_ONLINE);
	CHECK_STREQ(r[0].name, "a");
	CHECK_EQ_INT(r[1].state, GW_HEALTH_DEGRADED);
	CHECK_EQ_INT(r[1].n_down, 2);
	CHECK_STREQ(r[1].down[0], "database");
	CHECK_STREQ(r[1].down[1], "broker");
	CHECK_EQ_INT(r[2].state, GW_HEALTH_OFFLINE);
	CHECK_EQ_INT(r[2].code, COMANDA__CODE__DEADLINE_EXCEEDED);
	CHECK_EQ_INT(r[3].state, GW_HEALTH_OFFLINE);
	CHECK_EQ_INT(r[4].state, GW_HEALTH_OFFLINE);
	CHECK_EQ_INT(r[4].code, COMANDA__CODE__UNAVAILABLE);
	CHECK_STREQ(gw_health_state_name(r[1].state), "degraded");
	fake_stop(&serving);
	fake_stop(&degraded);
	fake_stop(&hung1);
	fake_stop(&hung2);
}

/* GET target through lib/httpd and the gateway's route table (the
 * handlers answer from another thread, so they need the real server);
 * parses the body. */
static json_object *call(const char *target, gw_app *app, int *status)
{
	httpd *h = NULL;
	httpd_config hc = { .name = "gw-health-test", .bind = "127.0.0.1", .threads = 1, .handler = gw_http_handle,
		.arg = app };
	CHECK_EQ_INT(httpd_start(&h, &hc), 0);
	if (h == NULL)
		return NULL;
	char *r = testhttp_request(httpd_port(h), "GET", target, "X-Request-Id: rid-h\r\n", NULL);
	httpd_stop(h);
	*status = testhttp_status(r);
	json_object *o = NULL;
	const char *body = r != NULL ? testhttp_body(r) : "";
	CHECK_EQ_INT(json_parse_body(body, strlen(body), 0, &o), JSON_PARSE_OK);
	free(r);
	return o;
}

static const char *field(json_object *o, const char *path)
{
	/* "a.b" walks objects; the value's JSON text is returned for non-strings */
	char key[64];
	while (o != NULL && *path != '\0') {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		json_object *next = NULL;
		if (!json_object_object_get_ex(o, key, &next))
			return NULL;
		o = next;
		path += n;
		if (*path == '.')
			path++;
	}
	if (o == NULL)
		return NULL;
	return json_object_is_type(o, json_type_string) ? json_object_get_string(o)
	                                                : json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
}

TEST(gw_health_status_and_ready_bodies)
{
	fake u, o, p;
	fake_start(&u, MODE_SERVING);
	fake_start(&o, MODE_NOT_SERVING);
	fake_start(&p, MODE_SERVING);
	gw_app app = { .user = u.client, .order = o.client, .payment = NULL, .health_timeout_ms = 500,
		.version = "9.9.9" };
	int status = 0;
	json_object *s = call("/status", &app, &status);
	CHECK_EQ_INT(status, 200);
	CHECK_STREQ(field(s, "service"), "api-gateway");
	CHECK_STREQ(field(s, "status"), "degraded");
	CHECK_STREQ(field(s, "version"), "9.9.9");
	CHECK(field(s, "timestamp") != NULL && strlen(field(s, "timestamp")) == 24);
	CHECK_STREQ(field(s, "services.user-service"), "online");
	CHECK_STREQ(field(s, "services.order-service"), "degraded");
	CHECK_STREQ(field(s, "services.payment-service"), "offline");
	CHECK_STREQ(field(s, "details.order-service.down"), "[\"database\",\"broker\"]");
	CHECK_STREQ(field(s, "details.payment-service.error"), "UNAVAILABLE");
	CHECK(field(s, "details.user-service") == NULL);
	json_object_put(s);

	json_object *r = call("/ready", &app, &status);
	CHECK_EQ_INT(status, 503);
	CHECK_STREQ(field(r, "status"), "not_ready");
	CHECK_STREQ(field(r, "not_ready"), "[\"order-service\",\"payment-service\"]");
	CHECK_STREQ(field(r, "services.user-service"), "online");
	json_object_put(r);

	/* all serving: operational and ready */
	app.order = u.client;
	app.payment = p.client;
	s = call("/status", &app, &status);
	CHECK_EQ_INT(status, 200);
	CHECK_STREQ(field(s, "status"), "operational");
	CHECK_STREQ(field(s, "details"), "{}");
	json_object_put(s);
	r = call("/ready", &app, &status);
	CHECK_EQ_INT(status, 200);
	CHECK_STREQ(field(r, "status"), "ready");
	CHECK(field(r, "not_ready") == NULL);
	json_object_put(r);

	r = call("/health", &app, &status);
	CHECK_EQ_INT(status, 200);
	CHECK_STREQ(field(r, "status"), "healthy");
	json_object_put(r);
	fake_stop(&u);
	fake_stop(&o);
	fake_stop(&p);
}
