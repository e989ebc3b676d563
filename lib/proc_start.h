/*
 * proc_start: the first steps of every long-running program of ours (the
 * gateway, the services through svc_main, the benchmark's echo server), in
 * the one order that works:
 *   1. logging (log_init), so every later step can say what went wrong;
 *   2. the allocator's settings (memtune_from_cfg), before any thread
 *      allocates;
 *   3. the CPUs (cpus_pin_from_cfg), since a thread keeps the affinity it
 *      was created with;
 *   4. NNG's task threads (rpc_runtime_init_from_cfg), before NNG's first
 *      use;
 *   5. the stop signals blocked (stopsig_block), before any thread exists,
 *      so only the thread that waits for them takes them.
 * What comes after (the trimmer thread, sockets, servers) differs per
 * program and stays in each main.
 *
 * Threading: main thread, once, before any other thread is started.
 */
#ifndef COMANDA_PROC_START_H
#define COMANDA_PROC_START_H

#include <signal.h>

/* Runs the steps above for `program` (its name in the log), pinning to the
 * CPUs in configuration variable cpus_var (NULL: no such setting), and
 * fills *stop with the blocked stop signals for stopsig_wait. Returns 0, or
 * -1 when the CPUs cannot be used (logged; exit with status 2). A malformed
 * setting of steps 2 and 4 exits with status 2, as cfg_int does. */
int proc_start(const char *program, const char *cpus_var, sigset_t *stop);

#endif
