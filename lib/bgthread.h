/*
 * bgthread: a background thread that runs until asked to stop and can be
 * woken early, for the services' event relays and consumers.
 *
 *   static void relay(bgthread *self, void *arg) {
 *       while (!bgthread_stopping(self)) { ...; bgthread_wait(self, 1000); }
 *   }
 *   bgthread *t = bgthread_start("relay", relay, arg);
 *   bgthread_kick(t);   // from any thread: "there is work", wakes the wait
 *   bgthread_stop(t);   // sets the flag, wakes the wait, joins
 *
 * Threading: start and stop from one controlling thread; kick from any
 * thread; fn runs on the new thread and must return soon after stopping
 * becomes true.
 */
#ifndef COMANDA_BGTHREAD_H
#define COMANDA_BGTHREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct bgthread bgthread;

typedef void (*bgthread_fn)(bgthread *self, void *arg);

/* Starts fn(self, arg) on a new thread. name (static) is for logs. Returns
 * NULL when the thread cannot be created (logged). */
bgthread *bgthread_start(const char *name, bgthread_fn fn, void *arg);

/* Asks the thread to stop, waits for fn to return, frees t. NULL is fine. */
void bgthread_stop(bgthread *t);

/* True once bgthread_stop was called. */
bool bgthread_stopping(bgthread *t);

/* The stop flag itself, for loops that take one (bus_consume). */
const atomic_bool *bgthread_stop_flag(bgthread *t);

/* Waits up to ms milliseconds, returning early when kicked (since the last
 * wait) or stopping. Returns false when stopping. */
bool bgthread_wait(bgthread *t, int ms);

/* Wakes the thread's current or next bgthread_wait. Cheap; any thread;
 * NULL is fine. The caller must know t is not being stopped meanwhile:
 * otherwise use a bgthread_ref. */
void bgthread_kick(bgthread *t);

/* A bgthread that other threads kick while it may be stopped: an outbox
 * relay that RPC handlers kick after each commit, stopped while RPC is
 * still served. A kick and the stop take turns on the ref's lock, so a
 * kick finds the thread running or finds none, never one being freed.
 *
 *   static bgthread_ref relay = BGTHREAD_REF_INIT;
 *   bgthread_ref_set(&relay, bgthread_start("relay", fn, arg));
 *   bgthread_ref_kick(&relay);   // any thread
 *   bgthread_ref_stop(&relay);   // the controlling thread
 */
typedef struct bgthread_ref {
	pthread_mutex_t lock;
	bgthread *t;
} bgthread_ref;
#define BGTHREAD_REF_INIT { PTHREAD_MUTEX_INITIALIZER, NULL }

/* Makes t (may be NULL) the ref's thread; returns t. */
bgthread *bgthread_ref_set(bgthread_ref *r, bgthread *t);

/* bgthread_kick on the ref's thread, if any. Any thread. */
void bgthread_ref_kick(bgthread_ref *r);

/* Takes the thread out of the ref (later kicks do nothing), then stops and
 * frees it. No-op when the ref holds none. */
void bgthread_ref_stop(bgthread_ref *r);

#endif
