/*
 * teststop: what unit tests of "a stop cuts a wait on a frozen server
 * short" (lib/stopsig.h) share. The stop is process-wide and cannot be
 * undone, so each such test runs in a child process; the server is a
 * listener that never accepts: the kernel completes the TCP handshake and
 * nothing ever answers, as with a SIGSTOPped server.
 *
 * Threading: teststop_in_child from the test's thread; the rest in the
 * child.
 */
#ifndef COMANDA_TESTSTOP_H
#define COMANDA_TESTSTOP_H

/* A TCP listener on 127.0.0.1 that never accepts. Returns the socket (its
 * port in *port) or -1. */
int teststop_silent_server(int *port);

/* Runs fn(arg) in a child process and returns its result (0..255), or -1
 * when the child did not exit normally. The child exits before the leak
 * check that runs at exit: it inherits the parent's heap (and objects that
 * threads it does not have were to free). */
int teststop_in_child(int (*fn)(void *arg), void *arg);

/* In the child: begins the stop (stopsig_begin(SIGTERM)) ms from now, from
 * a thread of its own, while the caller waits on something. 0, or -1 when
 * the thread cannot be started. */
int teststop_begin_after(int ms);

#endif
