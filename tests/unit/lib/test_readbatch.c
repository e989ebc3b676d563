#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "readbatch.h"
#include "test.h"

/* A fetch that records what it was asked, optionally holding each fetch
 * open until told to go on, so that callers pile up behind it. */
typedef struct fake_fetch {
	int seq;       /* which fetch this was, from 1 */
	size_t n;
	int64_t keys[64];
} fake_fetch;

static atomic_int fake_fetches, fake_frees, fake_running, fake_overlaps;
static atomic_int fake_code;
static atomic_bool fake_hold;        /* fetches wait while this is set */
static atomic_int fake_first_waits;  /* the first fetch waits until this is 0 */

static void fake_reset(void)
{
	atomic_store(&fake_fetches, 0);
	atomic_store(&fake_frees, 0);
	atomic_store(&fake_running, 0);
	atomic_store(&fake_overlaps, 0);
	atomic_store(&fake_code, 0);
	atomic_store(&fake_hold, false);
	atomic_store(&fake_first_waits, 0);
}

static void fake_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int fake_fetch_fn(void *conn, const int64_t *keys, size_t n, void **data)
{
	(void)conn;
	if (atomic_fetch_add(&fake_running, 1) != 0)
		atomic_fetch_add(&fake_overlaps, 1);
	int seq = atomic_fetch_add(&fake_fetches, 1) + 1;
	if (seq == 1)
		while (atomic_load(&fake_first_waits) != 0)
			fake_sleep_ms(1);
	while (atomic_load(&fake_hold))
		fake_sleep_ms(1);
	fake_fetch *f = calloc(1, sizeof(*f));
	if (f != NULL) {
		f->seq = seq;
		f->n = n;
		for (size_t i = 0; i < n && i < 64; i++)
			f->keys[i] = keys[i];
	}
	*data = f;
	atomic_fetch_sub(&fake_running, 1);
	return atomic_load(&fake_code);
}

static void fake_free_fn(void *data)
{
	atomic_fetch_add(&fake_frees, 1);
	free(data);
}

static bool fake_has(const fake_fetch *f, int64_t key)
{
	for (size_t i = 0; f != NULL && i < f->n; i++)
		if (f->keys[i] == key)
			return true;
	return false;
}

TEST(readbatch_new_refuses_a_batch_size_out_of_range)
{
	CHECK(readbatch_new(0, fake_fetch_fn, fake_free_fn) == NULL);
	CHECK(readbatch_new(4097, fake_fetch_fn, fake_free_fn) == NULL);
	CHECK(readbatch_new(8, NULL, fake_free_fn) == NULL);
	readbatch *rb = readbatch_new(4096, fake_fetch_fn, fake_free_fn);
	CHECK(rb != NULL);
	readbatch_free(rb);
	readbatch_free(NULL);
}

TEST(readbatch_alone_fetches_its_own_key_at_once_and_frees_on_release)
{
	fake_reset();
	readbatch *rb = readbatch_new(8, fake_fetch_fn, fake_free_fn);
	readbatch_result *res = NULL;
	CHECK_EQ_INT(readbatch_get(rb, NULL, 42, &res), 0);
	const fake_fetch *f = readbatch_data(res);
	CHECK(f != NULL && f->n == 1 && f->keys[0] == 42);
	CHECK_EQ_INT(readbatch_size(res), 1);
	CHECK_EQ_INT(atomic_load(&fake_frees), 0);
	readbatch_release(res);
	CHECK_EQ_INT(atomic_load(&fake_frees), 1);
	CHECK_EQ_INT(readbatch_get(rb, NULL, 43, &res), 0);
	CHECK_EQ_INT(((const fake_fetch *)readbatch_data(res))->seq, 2);
	readbatch_release(res);
	readbatch_release(NULL);
	readbatch_free(rb);
}

typedef struct caller {
	readbatch *rb;
	int64_t key;
	int code;
	int seq;            /* the fetch that answered */
	size_t batch;
	bool had_key;
	atomic_bool *started;
} caller;

static void *caller_run(void *arg)
{
	caller *c = arg;
	if (c->started != NULL)
		atomic_store(c->started, true);
	readbatch_result *res = NULL;
	c->code = readbatch_get(c->rb, NULL, c->key, &res);
	const fake_fetch *f = readbatch_data(res);
	c->seq = f != NULL ? f->seq : 0;
	c->had_key = fake_has(f, c->key);
	c->batch = readbatch_size(res);
	readbatch_release(res);
	return NULL;
}

/* 32 callers arrive while the first fetch is held open: they are answered
 * by far fewer fetches than callers, none of more than max_keys keys, never
 * two fetches at once, each caller by a fetch that asked for its key, and
 * every result freed exactly once. */
static void readbatch_crowd(size_t max_keys)
{
	enum { N = 32 };
	fake_reset();
	atomic_store(&fake_first_waits, 1);
	readbatch *rb = readbatch_new(max_keys, fake_fetch_fn, fake_free_fn);
	caller c[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		c[i] = (caller){ .rb = rb, .key = 1000 + i };
		CHECK_EQ_INT(pthread_create(&t[i], NULL, caller_run, &c[i]), 0);
	}
	fake_sleep_ms(50);  /* let them queue behind the first fetch */
	atomic_store(&fake_first_waits, 0);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	int fetches = atomic_load(&fake_fetches);
	CHECK(fetches < N);
	CHECK(fetches >= (int)((N + max_keys - 1) / max_keys));
	CHECK_EQ_INT(atomic_load(&fake_overlaps), 0);
	CHECK_EQ_INT(atomic_load(&fake_frees), fetches);
	for (int i = 0; i < N; i++) {
		CHECK_EQ_INT(c[i].code, 0);
		CHECK(c[i].had_key);
		CHECK(c[i].batch >= 1 && c[i].batch <= max_keys);
	}
	readbatch_free(rb);
}

TEST(readbatch_crowd_is_answered_by_few_fetches)
{
	readbatch_crowd(64);
}

TEST(readbatch_crowd_never_fetches_more_than_max_keys)
{
	readbatch_crowd(3);
}

TEST(readbatch_read_asked_during_a_fetch_is_served_by_a_later_fetch)
{
	fake_reset();
	atomic_store(&fake_first_waits, 1);
	readbatch *rb = readbatch_new(8, fake_fetch_fn, fake_free_fn);
	caller first = { .rb = rb, .key = 1 }, late = { .rb = rb, .key = 2 };
	atomic_bool late_started = false;
	late.started = &late_started;
	pthread_t t1, t2;
	pthread_create(&t1, NULL, caller_run, &first);
	while (atomic_load(&fake_fetches) == 0)  /* the first fetch is running */
		fake_sleep_ms(1);
	pthread_create(&t2, NULL, caller_run, &late);
	while (!atomic_load(&late_started))
		fake_sleep_ms(1);
	fake_sleep_ms(20);
	atomic_store(&fake_first_waits, 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	CHECK_EQ_INT(first.seq, 1);
	CHECK_EQ_INT(first.batch, 1);
	CHECK_EQ_INT(late.seq, 2);
	CHECK(late.had_key);
	CHECK_EQ_INT(atomic_load(&fake_frees), 2);
	readbatch_free(rb);
}

TEST(readbatch_failed_fetch_gives_its_code_to_every_caller_of_the_batch)
{
	enum { N = 6 };
	fake_reset();
	atomic_store(&fake_code, 14);
	atomic_store(&fake_first_waits, 1);
	readbatch *rb = readbatch_new(16, fake_fetch_fn, fake_free_fn);
	caller c[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		c[i] = (caller){ .rb = rb, .key = 7 };  /* the same key, more than once */
		pthread_create(&t[i], NULL, caller_run, &c[i]);
	}
	fake_sleep_ms(30);
	atomic_store(&fake_first_waits, 0);
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(c[i].code, 14);
		CHECK(c[i].had_key);
	}
	CHECK_EQ_INT(atomic_load(&fake_frees), atomic_load(&fake_fetches));
	readbatch_free(rb);
}
