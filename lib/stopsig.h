/*
 * stopsig: how a Comanda program is told to stop (SIGTERM from a supervisor,
 * SIGINT from a terminal).
 *
 * The stop signals are blocked in every thread and taken synchronously by
 * the one thread that waits for them, so no handler runs at an arbitrary
 * point inside libpq, NNG or libmicrohttpd, and the waiting thread can stop
 * the program in an order of its choosing.
 *
 * Threading: stopsig_block must run in main before any thread exists (the
 * threads inherit its mask). stopsig_wait may run in any one thread.
 */
#ifndef COMANDA_STOPSIG_H
#define COMANDA_STOPSIG_H

#include <signal.h>

/* Blocks SIGTERM and SIGINT in the calling thread, fills *set with them for
 * stopsig_wait (or sigtimedwait), and ignores SIGPIPE: a peer closing its
 * socket must be an error return, not a dead process. */
void stopsig_block(sigset_t *set);

/* Waits until one of the signals of set is pending and takes it; returns its
 * number. */
int stopsig_wait(const sigset_t *set);

#endif
