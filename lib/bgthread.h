/*
 * bgthread: a background thread that runs until asked to stop, for the
 * services' event relays and consumers.
 *
 *   static void relay(void *arg, const atomic_bool *stop) {
 *       while (!atomic_load(stop)) { ...; bgthread_sleep(stop, 100); }
 *   }
 *   bgthread *t = bgthread_start("relay", relay, arg);
 *   ...
 *   bgthread_stop(t);   // sets the flag, waits for relay() to return
 *
 * Threading: start and stop from one controlling thread; fn runs on the new
 * thread and must return soon after *stop becomes true.
 */
#ifndef COMANDA_BGTHREAD_H
#define COMANDA_BGTHREAD_H

#include <stdatomic.h>
#include <stdbool.h>

typedef struct bgthread bgthread;

typedef void (*bgthread_fn)(void *arg, const atomic_bool *stop);

/* Starts fn(arg, stop) on a new thread. name (static) is for logs. Returns
 * NULL when the thread cannot be created (logged). */
bgthread *bgthread_start(const char *name, bgthread_fn fn, void *arg);

/* Asks the thread to stop, waits for fn to return, frees t. NULL is fine. */
void bgthread_stop(bgthread *t);

/* Sleeps ms milliseconds, waking early when *stop becomes true. Returns
 * false when stopping. */
bool bgthread_sleep(const atomic_bool *stop, int ms);

#endif
