#include "health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

enum { HEALTH_UNKNOWN = -1, HEALTH_DOWN = 0, HEALTH_UP = 1 };

typedef struct health_dep {
	health *owner;
	const char *name;
	health_probe_fn probe;
	void *arg;
	pthread_t thread;
	bool started;
	atomic_int state;                  /* HEALTH_UNKNOWN / DOWN / UP */
	atomic_int_least64_t probe_since;  /* clock_mono_us() when the running probe began, 0: none */
	atomic_bool slow_failure;          /* the last probe failed after more than HEALTH_STALE_MS */
	atomic_int_least64_t probe_ended;  /* clock_mono_us() when the last probe returned */
	atomic_bool hurry;                 /* health_hurry: probe again without waiting out the period */
	metric *gauge;
} health_dep;

struct health {
	const char *service;
	const char *version;
	health_dep deps[HEALTH_MAX_DEPS];
	size_t n;
	/* Guards stopping; the condition wakes sleeping probe threads at stop. */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stopping;
};

health *health_new(const char *service, const char *version)
{
	health *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->service = service;
	h->version = version;
	pthread_condattr_t ca;
	/* The periods are measured on the monotonic clock so that a wall-clock
	 * step neither stalls nor floods the probes. */
	if (pthread_condattr_init(&ca) != 0) {
		free(h);
		return NULL;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	return h;
}

int health_add(health *h, const char *name, health_probe_fn probe, void *arg)
{
	if (h->n == HEALTH_MAX_DEPS)
		return -1;
	health_dep *d = &h->deps[h->n++];
	d->owner = h;
	d->name = name;
	d->probe = probe;
	d->arg = arg;
	atomic_init(&d->state, HEALTH_UNKNOWN);
	atomic_init(&d->probe_since, 0);
	atomic_init(&d->slow_failure, false);
	atomic_init(&d->probe_ended, 0);
	atomic_init(&d->hurry, false);
	char labels[96];
	snprintf(labels, sizeof(labels), "dependency=\"%s\"", name);
	d->gauge = metrics_gauge("comanda_dependency_up", "1 when the dependency answered its last probe", labels);
	metrics_gauge_set(d->gauge, 0);
	return 0;
}

static void health_record(health_dep *d, bool up)
{
	int now = up ? HEALTH_UP : HEALTH_DOWN;
	int before = atomic_exchange(&d->state, now);
	if (before == now)
		return;
	metrics_gauge_set(d->gauge, up);
	/* Transitions only: a dependency that stays down must not flood the log
	 * twice a second. */
	log_line l;
	log_begin(&l, up ? LOG_INFO : LOG_WARN, up ? "dependency up" : "dependency down");
	log_str(&l, "dependency", d->name);
	log_end(&l);
}

/* Sleeps one period, or until health_hurry; false when the monitor is
 * stopping. */
static bool health_pause(health_dep *d)
{
	health *h = d->owner;
	struct timespec until = clock_mono_timespec(clock_mono_us() + (int64_t)HEALTH_PERIOD_MS * 1000);
	pthread_mutex_lock(&h->mu);
	while (!h->stopping && !atomic_load(&d->hurry) && pthread_cond_timedwait(&h->cond, &h->mu, &until) == 0)
		;
	atomic_store(&d->hurry, false);
	bool go_on = !h->stopping;
	pthread_mutex_unlock(&h->mu);
	return go_on;
}

/* True when more than HEALTH_STALE_MS has passed since since_us. */
static bool health_past_stale(int64_t since_us)
{
	return clock_mono_us() - since_us > (int64_t)HEALTH_STALE_MS * 1000;
}

static void *health_thread(void *arg)
{
	health_dep *d = arg;
	do {
		int64_t since = clock_mono_us();
		atomic_store(&d->probe_since, since);
		bool up = d->probe(d->arg);
		atomic_store(&d->slow_failure, !up && health_past_stale(since));
		/* probe_ended before probe_since: health_hurry reads them the
		 * other way round */
		atomic_store(&d->probe_ended, clock_mono_us());
		atomic_store(&d->probe_since, 0);
		health_record(d, up);
	} while (health_pause(d));
	return NULL;
}

static void health_stop(health *h)
{
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->mu);
	for (size_t i = 0; i < h->n; i++) {
		if (h->deps[i].started)
			pthread_join(h->deps[i].thread, NULL);
		h->deps[i].started = false;
	}
}

int health_start(health *h)
{
	for (size_t i = 0; i < h->n; i++) {
		health_dep *d = &h->deps[i];
		if (pthread_create(&d->thread, NULL, health_thread, d) != 0) {
			log_printf(LOG_ERROR, "health: cannot start the probe thread of %s", d->name);
			health_stop(h);
			return -1;
		}
		d->started = true;
	}
	return 0;
}

void health_free(health *h)
{
	if (h == NULL)
		return;
	health_stop(h);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* True when the probe running now has taken longer than HEALTH_STALE_MS. */
static bool health_probe_stale(const health_dep *d)
{
	int64_t since = atomic_load(&d->probe_since);
	return since != 0 && health_past_stale(since);
}

static bool health_dep_up(const health_dep *d)
{
	/* A probe that has not returned within the limit is as good as a failed
	 * one: the dependency hangs. */
	return atomic_load(&d->state) == HEALTH_UP && !health_probe_stale(d);
}

static const health_dep *health_find(const health *h, const char *name)
{
	for (size_t i = 0; h != NULL && i < h->n; i++)
		if (strcmp(h->deps[i].name, name) == 0)
			return &h->deps[i];
	return NULL;
}

bool health_failing(const health *h, const char *name)
{
	const health_dep *d = health_find(h, name);
	return d != NULL && atomic_load(&d->state) != HEALTH_UNKNOWN && !health_dep_up(d);
}

bool health_hung(const health *h, const char *name)
{
	const health_dep *d = health_find(h, name);
	if (d == NULL)
		return false;
	/* The last probe's verdict stands while the next one is young: a probe
	 * that started after a timeout says nothing yet, and judging by its age
	 * alone let requests wait on a frozen database for the first
	 * HEALTH_STALE_MS of every probe. */
	return health_probe_stale(d) || (atomic_load(&d->state) == HEALTH_DOWN && atomic_load(&d->slow_failure));
}

void health_hurry(health *h, const char *name)
{
	/* the monitor is h's, not const: health_find only shares the lookup */
	health_dep *d = (health_dep *)health_find(h, name);
	if (d == NULL || atomic_load(&d->state) != HEALTH_DOWN || atomic_load(&d->probe_since) != 0 ||
	    clock_mono_us() - atomic_load(&d->probe_ended) < (int64_t)HEALTH_HURRY_MS * 1000)
		return;
	if (atomic_exchange(&d->hurry, true))
		return;  /* asked already; its thread is on the way */
	/* under the mutex, so the wake-up cannot fall between the thread's test
	 * of hurry and its wait */
	pthread_mutex_lock(&h->mu);
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->mu);
}

bool health_all_up(const health *h)
{
	for (size_t i = 0; i < h->n; i++)
		if (!health_dep_up(&h->deps[i]))
			return false;
	return true;
}

size_t health_down(const health *h, const char **names, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < h->n; i++) {
		if (health_dep_up(&h->deps[i]))
			continue;
		if (n < cap)
			names[n] = h->deps[i].name;
		n++;
	}
	return n;
}

const char *health_service(const health *h)
{
	return h->service;
}

const char *health_version(const health *h)
{
	return h->version;
}

int health_rpc_reply(const health *h, rpc_ctx *ctx, Comanda__HealthCheckResponse *reply)
{
	const char *down[HEALTH_MAX_DEPS];
	size_t n = health_down(h, down, HEALTH_MAX_DEPS);
	reply->service = rpc_ctx_strdup(ctx, h->service);
	reply->version = rpc_ctx_strdup(ctx, h->version);
	reply->down = n > 0 ? rpc_ctx_alloc(ctx, n * sizeof(char *)) : NULL;
	if (reply->service == NULL || reply->version == NULL || (n > 0 && reply->down == NULL))
		return rpc_ctx_error(ctx, COMANDA__CODE__RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < n; i++) {
		reply->down[i] = rpc_ctx_strdup(ctx, down[i]);
		if (reply->down[i] == NULL)
			return rpc_ctx_error(ctx, COMANDA__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	reply->n_down = n;
	reply->status = n == 0 ? COMANDA__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
	                       : COMANDA__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
	return COMANDA__CODE__OK;
}
