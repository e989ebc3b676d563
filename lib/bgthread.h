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
 * NULL is fine. */
void bgthread_kick(bgthread *t);

#endif
