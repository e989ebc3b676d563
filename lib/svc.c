#include "svc.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "cfg.h"
#include "clock.h"
#include "comanda/health.rpc.h"
#include "httpd.h"
#include "log.h"
#include "memtune.h"
#include "proc_start.h"
#include "metrics.h"
#include "stopsig.h"
#include "version.h"

struct svc {
	const svc_def *def;
	void *state;
	sigset_t stop_signals;       /* taken by stopsig's watching thread */
	/* configuration */
	int workers;
	int connect_timeout_s;
	int migration_timeout_s;     /* DB_MIGRATION_TIMEOUT_S */
	const char *db_url;
	const char *rpc_url;         /* def->rpc_listen_var */
	const char *admin_bind;      /* ADMIN_BIND */
	int admin_port;              /* def->admin_port_var */
	const char *amqp_url;        /* AMQP_URL */
	bool log_requests;
	/* resources */
	health *health;
	pg_conn *probe_db;           /* owned by the "database" probe thread */
	pg_conn *status_db;          /* /status's, under status_mu */
	bus *bus;                    /* owned by the "broker" probe thread */
	pthread_mutex_t status_mu;   /* one /status at a time: status_db is one connection */
	bus *status_bus;             /* /status's (queue depths), under status_mu; lazily made */
	rpc_server *rpc;
	httpd *admin;
	char self_url[80];           /* inproc://<program> */
	bool started;                /* def->start succeeded: def->stop is owed */
};

/* What rpc_ctx_worker() returns for every service: the svc plus the
 * worker's database connection and the service's own resource. */
typedef struct svc_slot {
	svc *s;
	pg_conn *db;
	void *res;
} svc_slot;

/* ---- accessors ---------------------------------------------------------- */

const char *svc_self_url(const svc *s)
{
	return s->self_url;
}

pg_conn *svc_db(rpc_ctx *ctx)
{
	svc_slot *w = rpc_ctx_worker(ctx);
	/* Only a database that hangs is refused in advance: one that refuses
	 * connections fails a statement at once anyway, and one that is back
	 * must serve the very next request, before its probe has run again. */
	if (w == NULL || w->db == NULL)
		return NULL;
	if (health_hung(w->s->health, "database")) {
		health_hurry(w->s->health, "database");
		return NULL;
	}
	/* Derived from the RPC's deadline alone, so every svc_db of one request
	 * sets the same value: pg reads a different one as a new caller. */
	pg_conn_set_deadline(w->db, rpc_ctx_deadline_us(ctx) - (int64_t)SVC_REPLY_MARGIN_MS * 1000);
	return w->db;
}

int svc_db_error(rpc_ctx *ctx, int code, const char *db)
{
	if (code == COMANDA__CODE__UNAVAILABLE)
		return rpc_ctx_error(ctx, code, "%s unavailable", db);
	if (code == COMANDA__CODE__ABORTED)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "concurrent change in the %s; retry", db);
	if (code == COMANDA__CODE__DEADLINE_EXCEEDED)
		return rpc_ctx_error(ctx, code, "%s timed out", db);
	return rpc_ctx_error(ctx, COMANDA__CODE__INTERNAL, "internal error");
}

bool svc_failing(rpc_ctx *ctx, const char *name)
{
	svc_slot *w = rpc_ctx_worker(ctx);
	if (w == NULL || !health_failing(w->s->health, name))
		return false;
	health_hurry(w->s->health, name);
	return true;
}

void *svc_worker(rpc_ctx *ctx)
{
	svc_slot *w = rpc_ctx_worker(ctx);
	return w != NULL ? w->res : NULL;
}

void svc_set_state(svc *s, void *state)
{
	s->state = state;
}

void *svc_state(const svc *s)
{
	return s->state;
}

const svc_def *svc_definition(const svc *s)
{
	return s->def;
}

int svc_workers(const svc *s)
{
	return s->workers;
}

int svc_connect_timeout_s(const svc *s)
{
	return s->connect_timeout_s;
}

health *svc_health(svc *s)
{
	return s->health;
}

/* ---- RPC ------------------------------------------------------------------ */

static void *svc_worker_init(void *arg, int index)
{
	svc *s = arg;
	svc_slot *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->s = s;
	/* One connection per worker: the pool is exactly as large as the
	 * concurrency, and no handler ever waits for a connection. */
	if (s->db_url != NULL)
		w->db = pg_conn_new(s->db_url, s->connect_timeout_s, s->def->program);
	if (s->def->worker_init != NULL)
		w->res = s->def->worker_init(s, index);
	return w;
}

static void svc_worker_fini(void *arg, void *worker)
{
	svc *s = arg;
	svc_slot *w = worker;
	if (w == NULL)
		return;
	if (s->def->worker_fini != NULL)
		s->def->worker_fini(s, w->res);
	pg_conn_free(w->db);
	free(w);
}

static int svc_health_check(rpc_ctx *ctx, const Comanda__HealthCheckRequest *req,
    Comanda__HealthCheckResponse *reply)
{
	svc_slot *w = rpc_ctx_worker(ctx);
	if (w == NULL)
		return rpc_ctx_error(ctx, COMANDA__CODE__UNAVAILABLE, "service not ready");
	/* grpc.health.v1 semantics: "" is the whole process; a named service
	 * must be one served here. */
	const svc_def *def = w->s->def;
	if (req->service[0] != '\0' && strcmp(req->service, def->service) != 0 &&
	    (def->binding == NULL || strcmp(req->service, def->binding->descriptor->name) != 0))
		return rpc_ctx_error(ctx, COMANDA__CODE__NOT_FOUND, "unknown service");
	return health_rpc_reply(w->s->health, ctx, reply);
}

static const health_impl svc_health_rpc = { .check = svc_health_check };

/* ---- admin HTTP --------------------------------------------------------- */

/* Sends obj as the response and releases it. */
static void svc_respond_json(httpd_response *resp, int status, json_object *obj)
{
	if (obj == NULL) {
		resp->status = 0;  /* httpd answers a JSON 500 */
		return;
	}
	size_t len = 0;
	const char *text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
	    &len);
	httpd_respond(resp, status, text, len);
	json_object_put(obj);
}

/* {"service":..,"status":..,"timestamp":..} with status filled in by the caller. */
static json_object *svc_json_common(const svc *s, const char *status_key, const char *status)
{
	json_object *o = json_object_new_object();
	if (o == NULL)
		return NULL;
	char ts[32];
	clock_rfc3339(ts, sizeof(ts), clock_wall_ms());
	json_object_object_add(o, "service", json_object_new_string(s->def->service));
	json_object_object_add(o, status_key, json_object_new_string(status));
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	json_object_object_add(o, "version", json_object_new_string(COMANDA_VERSION));
	return o;
}

/* Adds "down":[...] when a dependency is down; true when all are up. */
static bool svc_json_down(const svc *s, json_object *o)
{
	const char *down[HEALTH_MAX_DEPS];
	size_t n = health_down(s->health, down, HEALTH_MAX_DEPS);
	if (n == 0)
		return true;
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < n && i < HEALTH_MAX_DEPS; i++)
		json_object_array_add(arr, json_object_new_string(down[i]));
	json_object_object_add(o, "down", arr);
	return false;
}

static void svc_admin_health(svc *s, httpd_response *resp)
{
	json_object *o = svc_json_common(s, "status", "healthy");
	if (o == NULL)
		return;
	bool up = svc_json_down(s, o);
	if (!up)
		json_object_object_add(o, "status", json_object_new_string("unhealthy"));
	svc_respond_json(resp, up ? 200 : 503, o);
}

/* True when the monitor reports dependency `name` down. */
static bool svc_dep_down(const svc *s, const char *name)
{
	const char *down[HEALTH_MAX_DEPS];
	size_t n = health_down(s->health, down, HEALTH_MAX_DEPS);
	for (size_t i = 0; i < n && i < HEALTH_MAX_DEPS; i++)
		if (strcmp(down[i], name) == 0)
			return true;
	return false;
}

/* "dead_letters": the dead-letter queue's depth (null when the broker
 * cannot tell), also the comanda_dead_letters gauge. Under status_mu. */
static void svc_status_dead_letters(svc *s, json_object *o)
{
	int64_t n = -1;
	if (!svc_dep_down(s, "broker")) {
		if (s->status_bus == NULL)
			s->status_bus = bus_new(s->amqp_url, 1000, s->def->program);
		/* a connection broken since the last /status is reopened by the
		 * next call: one more try */
		for (int attempt = 0; attempt < 2 && n < 0 && s->status_bus != NULL; attempt++)
			n = bus_queue_depth(s->status_bus, BUS_DLQ);
	}
	json_object_object_add(o, "dead_letters", n >= 0 ? json_object_new_int64(n) : NULL);
	if (n >= 0)
		metrics_gauge_set(metrics_gauge("comanda_dead_letters", "Messages in the dead-letter queue", NULL), n);
}

/* Runs the service's status hook unless its database is known down or the
 * previous /status is still stuck on it: the admin port has two threads,
 * and a hung database must not take the second one, which /health needs.
 * Returns the hook's result, -1 when skipped. */
static int svc_status_counters(svc *s, json_object *o)
{
	if (s->def->status == NULL)
		return 0;
	if (svc_dep_down(s, "database"))
		return -1;
	/* A concurrent /status waits a little, not for as long as a stuck one. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 250 * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	if (pthread_mutex_timedlock(&s->status_mu, &until) != 0)
		return -1;
	/* Bounded as the probe's statements are: a database that froze before
	 * its probe noticed must not hold /status (and this thread) for ever. */
	pg_conn_set_deadline(s->status_db, clock_mono_us() + (int64_t)PG_PROBE_TIMEOUT_MS * 1000);
	int rc = s->def->status(s, s->status_db, o);
	svc_status_dead_letters(s, o);
	pthread_mutex_unlock(&s->status_mu);
	return rc;
}

static void svc_admin_status(svc *s, httpd_response *resp)
{
	json_object *o = svc_json_common(s, "status", "operational");
	if (o == NULL)
		return;
	/* A dependency down makes the service degraded even when its counters
	 * can still be read (the broker, say). */
	bool up = svc_json_down(s, o);
	int rc = svc_status_counters(s, o);
	if (!up || rc != 0)
		json_object_object_add(o, "status", json_object_new_string("degraded"));
	if (rc != 0)
		json_object_object_add(o, "error", json_object_new_string("counters unavailable: database unreachable"));
	svc_respond_json(resp, rc == 0 ? 200 : 503, o);
}

static void svc_admin_metrics(httpd_response *resp)
{
	size_t len = 0;
	char *text = metrics_render(&len);
	if (text == NULL)
		return;  /* status 0: httpd answers a JSON 500 */
	httpd_respond_owned(resp, 200, text, len);
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void svc_admin(void *arg, const httpd_request *req, httpd_response *resp)
{
	svc *s = arg;
	static const char *const routes[] = { "/health", "/status", "/metrics" };
	size_t r = 0;
	while (r < 3 && strcmp(req->path, routes[r]) != 0)
		r++;
	if (r == 3) {
		resp->route = "other";
		httpd_respond_error(resp, req, 404, "NOT_FOUND", "Not found");
		return;
	}
	resp->route = routes[r];
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		httpd_respond_error(resp, req, 405, "METHOD_NOT_ALLOWED", "Method not allowed");
		httpd_add_header(resp, "Allow", "GET, HEAD");
		return;
	}
	if (r == 0)
		svc_admin_health(s, resp);
	else if (r == 1)
		svc_admin_status(s, resp);
	else {
		/* Refresh the gauges the status hook computes (outbox backlog,
		 * dead letters), so a scrape of /metrics alone sees them. */
		json_object *scratch = json_object_new_object();
		if (scratch != NULL)
			(void)svc_status_counters(s, scratch);
		json_object_put(scratch);
		svc_admin_metrics(resp);
	}
	/* Probes poll these: never let a cache keep an old answer. */
	httpd_add_header(resp, "Cache-Control", "no-store");
}

/* ---- start and stop ----------------------------------------------------- */

/* Applies the migrations, waiting while the database is unreachable or does
 * not answer in time, while another process holds the migration lock, and
 * while a migration runs out of time (each said once in the log). Returns
 * 0, or -1 (a migration failed, or a stop signal came). */
static int svc_migrate(svc *s)
{
	int backoff_ms = 250;
	bool told_down = false, told_lock = false, told_late = false;
	for (;;) {
		int code = pg_migrate(s->db_url, s->connect_timeout_s, s->migration_timeout_s, s->def->program,
		    s->def->migrations, s->def->n_migrations);
		if (code == COMANDA__CODE__OK)
			return 0;
		if (stopsig_stopping())
			return -1; /* cut short by the stop: nothing to wait for */
		if (code == COMANDA__CODE__UNAVAILABLE && !told_down) {
			log_printf(LOG_WARN, "waiting for the database to apply the migrations");
			told_down = true;
		} else if (code == COMANDA__CODE__ABORTED && !told_lock) {
			log_printf(LOG_WARN, "another process is applying the migrations (it holds their lock): waiting for it");
			told_lock = true;
		} else if (code == COMANDA__CODE__DEADLINE_EXCEEDED && !told_late) {
			/* A lock held by the running version's transactions, or a
			 * migration slower than DB_MIGRATION_TIMEOUT_S (raise it). */
			log_printf(LOG_WARN, "a migration did not finish within DB_MIGRATION_TIMEOUT_S (%d s): "
			                     "trying again",
			    s->migration_timeout_s);
			told_late = true;
		} else if (code != COMANDA__CODE__UNAVAILABLE && code != COMANDA__CODE__ABORTED &&
		           code != COMANDA__CODE__DEADLINE_EXCEEDED) {
			return -1;
		}
		/* the stop signals are taken by stopsig's thread from the start:
		 * a stop ends this pause, and what the attempts wait on too */
		if (!stopsig_sleep(backoff_ms))
			return -1;
		/* The other process's migrations usually take moments: look again
		 * within a second, not after the 5 s of a database that is down. */
		int cap = code == COMANDA__CODE__ABORTED ? 1000 : 5000;
		backoff_ms = backoff_ms * 2 > cap ? cap : backoff_ms * 2;
	}
}

/* Everything before serving: config, migrations, probes, the service's init. */
static int svc_setup(svc *s)
{
	const svc_def *def = s->def;
	/* Every setting is read before anything connects, so that a bad value
	 * stops the program at once (exit 2, naming it) whether or not its
	 * database and broker are up: read after the migrations, it waited
	 * unnamed for as long as the database was down. */
	s->workers = (int)cfg_int("RPC_WORKERS", 1, 256);
	s->connect_timeout_s = (int)cfg_int("DB_CONNECT_TIMEOUT_S", 1, 60);
	if (def->db_url_var != NULL)
		s->migration_timeout_s = (int)cfg_int("DB_MIGRATION_TIMEOUT_S", 1, 86400);
	s->log_requests = cfg_int("LOG_REQUESTS", 0, 1) == 1;
	s->rpc_url = cfg_str(def->rpc_listen_var);
	s->admin_bind = cfg_str("ADMIN_BIND");
	s->admin_port = (int)cfg_int(def->admin_port_var, 0, 65535);
	s->amqp_url = cfg_str("AMQP_URL");
	if (def->db_url_var != NULL)
		s->db_url = cfg_str(def->db_url_var);
	if (def->configure != NULL && def->configure(s) != 0)
		return 2;
	s->health = health_new(def->service, COMANDA_VERSION);
	if (s->health == NULL)
		return 1;
	if (def->db_url_var != NULL) {
		if (svc_migrate(s) != 0)
			return stopsig_stopping() ? 0 : 1;
		s->probe_db = pg_conn_new(s->db_url, s->connect_timeout_s, def->program);
		s->status_db = pg_conn_new(s->db_url, s->connect_timeout_s, def->program);
		if (s->probe_db == NULL || s->status_db == NULL)
			return 1;
		health_add(s->health, "database", pg_probe, s->probe_db);
	}
	if (def->init != NULL && def->init(s) != 0)
		return stopsig_stopping() ? 0 : 1;
	/* The broker round trip must fit in the probe's staleness limit. */
	s->bus = bus_new(s->amqp_url, 1000, def->program);
	if (s->bus == NULL)
		return 2;
	health_add(s->health, "broker", bus_probe, s->bus);
	return 0;
}

static int svc_serve(svc *s)
{
	const svc_def *def = s->def;
	snprintf(s->self_url, sizeof(s->self_url), "inproc://%s", def->program);
	rpc_server_config rc = {
		.url = s->rpc_url,
		.extra_url = s->self_url,
		.workers = s->workers,
		.name = def->service,
		.worker_init = svc_worker_init,
		.worker_fini = svc_worker_fini,
		.worker_arg = s,
		.log_requests = s->log_requests,
	};
	if (rpc_server_open(&s->rpc, &rc) != COMANDA__CODE__OK ||
	    rpc_server_add(s->rpc, &health_binding, &svc_health_rpc) != COMANDA__CODE__OK ||
	    (def->binding != NULL && rpc_server_add(s->rpc, def->binding, def->impl) != COMANDA__CODE__OK) ||
	    rpc_server_start(s->rpc) != COMANDA__CODE__OK) {
		log_printf(LOG_ERROR, "cannot serve RPC on %s", rc.url);
		return 1;
	}
	if (health_start(s->health) != 0)
		return 1;
	char name[64];
	snprintf(name, sizeof(name), "%s admin", def->program);
	httpd_config hc = {
		.name = name,
		.bind = s->admin_bind,
		.port = s->admin_port,
		.threads = 2,
		.log_requests = s->log_requests,
		.handler = svc_admin,
		.arg = s,
	};
	if (httpd_start(&s->admin, &hc) != 0)
		return 1;
	if (def->start != NULL && def->start(s) != 0)
		return 1;
	s->started = true;
	log_line l;
	log_begin(&l, LOG_INFO, "serving");
	log_str(&l, "rpc", rc.url);
	log_int(&l, "admin_port", httpd_port(s->admin));
	log_int(&l, "workers", s->workers);
	log_str(&l, "version", COMANDA_VERSION);
	log_end(&l);
	return 0;
}

static void svc_teardown(svc *s)
{
	/* Background work first (a consumer may be calling the service), then
	 * RPC: the requests in flight finish while their dependencies are all
	 * still there; then the admin port, the probes, the rest. */
	if (s->started && s->def->stop != NULL)
		s->def->stop(s);
	if (s->rpc != NULL)
		rpc_server_close(s->rpc);
	if (s->admin != NULL)
		httpd_stop(s->admin);
	health_free(s->health);
	if (s->def->fini != NULL)
		s->def->fini(s);
	bus_free(s->bus);
	bus_free(s->status_bus);
	pg_conn_free(s->probe_db);
	pg_conn_free(s->status_db);
}

int svc_main(const svc_def *def)
{
	svc s = { .def = def };
	/* the signals are taken only by stopsig's thread */
	if (proc_start(def->program, def->cpus_var, &s.stop_signals) != 0)
		return 2;
	if (stopsig_watch(&s.stop_signals) != 0)
		return 1;
	pthread_mutex_init(&s.status_mu, NULL);
	bgthread *trimmer = memtune_trim_start();

	int status = svc_setup(&s);
	if (status == 0 && !stopsig_stopping())
		status = svc_serve(&s);
	if (status == 0) {
		int sig = stopsig_await();
		log_printf(LOG_INFO, s.started ? "signal %d: finishing the requests in flight" : "signal %d during start-up: stopping",
		    sig);
	}
	svc_teardown(&s);
	bgthread_stop(trimmer);
	pthread_mutex_destroy(&s.status_mu);
	stopsig_unwatch();
	log_printf(status == 0 ? LOG_INFO : LOG_ERROR, "stopped (exit status %d)", status);
	return status;
}
