/*
 * stopsig: how a Comanda program is told to stop (SIGTERM from a supervisor,
 * SIGINT from a terminal), and how every thread learns of it.
 *
 * The stop signals are blocked in every thread and taken synchronously by
 * the one thread that waits for them, so no handler runs at an arbitrary
 * point inside libpq, NNG or libmicrohttpd, and the program can stop in an
 * order of its choosing.
 *
 * The stop, seen from every thread: a service starts a watching thread
 * (stopsig_watch) that takes the first stop signal and begins the stop
 * (stopsig_begin). From then on every wait on a server that goes through
 * stopsig_limit, stopsig_poll or stopsig_sleep (lib/pg's statements and
 * connects, lib/bus's broker calls, svc-order's MongoDB streams, start-up's
 * waits for a database) ends STOPSIG_GRACE_MS after the stop began, if the
 * server has not answered by then: a request or an event in flight still
 * finishes when its server answers, and a frozen server cannot hold the stop
 * longer than that. A wait that ends so fails as the server's silence would
 * at its own deadline (lib/pg: UNAVAILABLE, the connection closed so that
 * the server rolls back what was open).
 *
 * Threading: stopsig_block must run in main before any thread exists (the
 * threads inherit its mask); stopsig_watch and stopsig_unwatch on the main
 * thread; everything else from any thread.
 */
#ifndef COMANDA_STOPSIG_H
#define COMANDA_STOPSIG_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long after the stop began a wait on a server still goes on: enough
 * for any server that answers at all (a statement, a broker's confirm or
 * close), short enough that a frozen one costs the stop little.
 * docs/OPERATIONS.md, "Stopping while a dependency is down or frozen". */
#define STOPSIG_GRACE_MS 1000

/* Blocks SIGTERM and SIGINT in the calling thread, fills *set with them for
 * stopsig_wait (or sigtimedwait), and ignores SIGPIPE: a peer closing its
 * socket must be an error return, not a dead process. */
void stopsig_block(sigset_t *set);

/* Waits until one of the signals of set is pending and takes it; returns its
 * number. */
int stopsig_wait(const sigset_t *set);

/* Starts the thread that takes the signals of set (blocked by stopsig_block)
 * and begins the stop at the first one. Returns 0, or -1 when the thread
 * cannot be created (logged). Once per process. */
int stopsig_watch(const sigset_t *set);

/* Ends the watching thread, if any (the signals are then taken by nobody:
 * they stay pending). At exit, after the stop or instead of it. */
void stopsig_unwatch(void);

/* Begins the stop, as the watching thread does at a stop signal; sig is its
 * number (0: none). Only the first call counts. */
void stopsig_begin(int sig);

/* True once the stop has begun. */
bool stopsig_stopping(void);

/* A wait's limit (clock_mono_us; 0: none) as the stop cuts it: until_us
 * while not stopping; after, the earlier of until_us and the end of the
 * stop's grace (never 0 then). */
int64_t stopsig_limit(int64_t until_us);

/* True once the stop's grace is over: a wait on a server would end at once,
 * so there is no point in starting one. */
bool stopsig_grace_over(void);

/* Waits until fd is ready for events (poll's), until_us passes
 * (clock_mono_us; 0: no limit) or the stop's grace ends, whichever is
 * first; a stop that begins meanwhile is seen at once. Returns 1 when fd is
 * ready (or has an error or hang-up to report), 0 when the time is up, -1
 * when poll fails. */
int stopsig_poll(int fd, short events, int64_t until_us);

/* The same for n descriptors (n <= STOPSIG_POLL_MAX): poll(2)'s fds, their
 * revents filled in; returns how many are ready, 0 when the time is up, -1
 * when poll fails (errno). */
#define STOPSIG_POLL_MAX 64
int stopsig_poll_fds(struct pollfd *fds, size_t n, int64_t until_us);

/* Sleeps ms milliseconds, ending early when the stop begins. Returns false
 * when stopping (at once if it had begun), true after the full sleep. */
bool stopsig_sleep(int ms);

/* Waits until the stop begins; returns the signal that began it (0 when
 * stopsig_begin was called without one). */
int stopsig_await(void);

#endif
