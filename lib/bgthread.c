#include "bgthread.h"

#include <pthread.h>
#include <stdlib.h>

#include "clock.h"
#include "log.h"

struct bgthread {
	const char *name;
	bgthread_fn fn;
	void *arg;
	atomic_bool stop;
	pthread_t thread;
};

static void *bgthread_main(void *p)
{
	bgthread *t = p;
	t->fn(t->arg, &t->stop);
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
	if (pthread_create(&t->thread, NULL, bgthread_main, t) != 0) {
		log_printf(LOG_ERROR, "cannot start the %s thread", name);
		free(t);
		return NULL;
	}
	return t;
}

void bgthread_stop(bgthread *t)
{
	if (t == NULL)
		return;
	atomic_store(&t->stop, true);
	pthread_join(t->thread, NULL);
	free(t);
}

bool bgthread_sleep(const atomic_bool *stop, int ms)
{
	/* Short naps: a stop is noticed within 20 ms. */
	while (ms > 0 && !atomic_load(stop)) {
		int nap = ms < 20 ? ms : 20;
		clock_sleep_ms(nap);
		ms -= nap;
	}
	return !atomic_load(stop);
}
