#include "bgthread.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "log.h"

struct bgthread {
	const char *name;
	bgthread_fn fn;
	void *arg;
	atomic_bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* signalled by kick and stop; CLOCK_MONOTONIC */
	bool kicked;             /* under mu */
	pthread_t thread;
};

static void *bgthread_main(void *p)
{
	bgthread *t = p;
	t->fn(t, t->arg);
	return NULL;
}

bgthread *bgthread_start(const char *name, bgthread_fn fn, void *arg)
{
	bgthread *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->name = name;
	t->fn = fn;
	t->arg = arg;
	atomic_init(&t->stop, false);
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&t->thread, NULL, bgthread_main, t) != 0) {
		log_printf(LOG_ERROR, "cannot start the %s thread", name);
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
		free(t);
		return NULL;
	}
	return t;
}

void bgthread_kick(bgthread *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	t->kicked = true;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

void bgthread_stop(bgthread *t)
{
	if (t == NULL)
		return;
	atomic_store(&t->stop, true);
	bgthread_kick(t);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

bool bgthread_stopping(bgthread *t)
{
	return atomic_load(&t->stop);
}

const atomic_bool *bgthread_stop_flag(bgthread *t)
{
	return &t->stop;
}

bool bgthread_wait(bgthread *t, int ms)
{
	struct timespec until = clock_mono_timespec(clock_mono_us() + (int64_t)ms * 1000);
	pthread_mutex_lock(&t->mu);
	while (!t->kicked && !atomic_load(&t->stop)) {
		if (pthread_cond_timedwait(&t->cv, &t->mu, &until) == ETIMEDOUT)
			break;
	}
	t->kicked = false;
	pthread_mutex_unlock(&t->mu);
	return !atomic_load(&t->stop);
}

bgthread *bgthread_ref_set(bgthread_ref *r, bgthread *t)
{
	pthread_mutex_lock(&r->lock);
	r->t = t;
	pthread_mutex_unlock(&r->lock);
	return t;
}

void bgthread_ref_kick(bgthread_ref *r)
{
	pthread_mutex_lock(&r->lock);
	bgthread_kick(r->t);
	pthread_mutex_unlock(&r->lock);
}

void bgthread_ref_stop(bgthread_ref *r)
{
	pthread_mutex_lock(&r->lock);
	bgthread *t = r->t;
	r->t = NULL;
	pthread_mutex_unlock(&r->lock);
	bgthread_stop(t);
}
