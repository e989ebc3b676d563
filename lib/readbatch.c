#include "readbatch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

/* One caller of readbatch_get, on its own stack; queued until a fetch
 * answers it. Its fields after `key` are written under rb->mu. */
typedef struct rb_waiter {
	int64_t key;
	pthread_cond_t wake;  /* signalled when answered, or when it is next to lead */
	bool done;
	int code;
	readbatch_result *res;
	struct rb_waiter *next;
} rb_waiter;

struct readbatch_result {
	atomic_size_t refs;
	size_t keys;
	void *data;
	readbatch_free_fn free_data;
};

struct readbatch {
	pthread_mutex_t mu;
	rb_waiter *head, *tail;  /* the queue of callers not yet in a fetch */
	bool fetching;           /* a leader is fetching; only it uses the arrays below */
	size_t max_keys;
	int64_t *keys;           /* the leader's batch: keys and who asked */
	rb_waiter **batch;
	readbatch_fetch_fn fetch;
	readbatch_free_fn free_data;
};

readbatch *readbatch_new(size_t max_keys, readbatch_fetch_fn fetch, readbatch_free_fn free_data)
{
	if (max_keys < 1 || max_keys > 4096 || fetch == NULL || free_data == NULL)
		return NULL;
	readbatch *rb = calloc(1, sizeof(*rb));
	if (rb == NULL)
		return NULL;
	rb->keys = calloc(max_keys, sizeof(*rb->keys));
	rb->batch = calloc(max_keys, sizeof(*rb->batch));
	if (rb->keys == NULL || rb->batch == NULL || pthread_mutex_init(&rb->mu, NULL) != 0) {
		free(rb->keys);
		free(rb->batch);
		free(rb);
		return NULL;
	}
	rb->max_keys = max_keys;
	rb->fetch = fetch;
	rb->free_data = free_data;
	return rb;
}

void readbatch_free(readbatch *rb)
{
	if (rb == NULL)
		return;
	pthread_mutex_destroy(&rb->mu);
	free(rb->keys);
	free(rb->batch);
	free(rb);
}

/* Runs one fetch for the callers at the head of the queue. Called and
 * returns with rb->mu held and rb->fetching false; drops the lock while
 * fetching. */
static void rb_lead(readbatch *rb, void *conn)
{
	rb->fetching = true;
	size_t n = 0;
	while (rb->head != NULL && n < rb->max_keys) {
		rb_waiter *w = rb->head;
		rb->head = w->next;
		rb->keys[n] = w->key;
		rb->batch[n++] = w;
	}
	if (rb->head == NULL)
		rb->tail = NULL;
	pthread_mutex_unlock(&rb->mu);

	/* A result that cannot be allocated fails the batch before any fetch. */
	readbatch_result *res = malloc(sizeof(*res));
	int code = -1;
	if (res != NULL) {
		void *data = NULL;
		code = rb->fetch(conn, rb->keys, n, &data);
		atomic_init(&res->refs, n);
		res->keys = n;
		res->data = data;
		res->free_data = rb->free_data;
	}

	pthread_mutex_lock(&rb->mu);
	for (size_t i = 0; i < n; i++) {
		rb_waiter *w = rb->batch[i];
		w->code = code;
		w->res = res;
		w->done = true;
		pthread_cond_signal(&w->wake);
	}
	rb->fetching = false;
	/* The next batch is whoever queued meanwhile; its first caller leads. */
	if (rb->head != NULL)
		pthread_cond_signal(&rb->head->wake);
}

int readbatch_get(readbatch *rb, void *conn, int64_t key, readbatch_result **res)
{
	rb_waiter w = { .key = key };
	pthread_cond_init(&w.wake, NULL);
	pthread_mutex_lock(&rb->mu);
	if (rb->tail != NULL)
		rb->tail->next = &w;
	else
		rb->head = &w;
	rb->tail = &w;
	/* Lead whenever no fetch runs: at once when idle, or when woken as the
	 * head of the queue. A leader whose own key did not fit its batch
	 * (callers queued ahead of it filled it) goes round again. */
	while (!w.done) {
		if (!rb->fetching)
			rb_lead(rb, conn);
		else
			pthread_cond_wait(&w.wake, &rb->mu);
	}
	pthread_mutex_unlock(&rb->mu);
	pthread_cond_destroy(&w.wake);
	*res = w.res;
	return w.code;
}

void *readbatch_data(const readbatch_result *res)
{
	return res != NULL ? res->data : NULL;
}

size_t readbatch_size(const readbatch_result *res)
{
	return res != NULL ? res->keys : 0;
}

void readbatch_release(readbatch_result *res)
{
	if (res == NULL || atomic_fetch_sub(&res->refs, 1) != 1)
		return;
	if (res->data != NULL)
		res->free_data(res->data);
	free(res);
}
