/*
 * cpus: pinning a program to a set of CPUs.
 *
 * Why: a request crosses several threads in each program (NNG's poller and
 * task threads, an RPC worker, an HTTP thread), and every hand-off is a
 * wake-up. When the woken thread lands on another CPU that is idle, the
 * kernel must wake that CPU, which on a small virtual machine costs a trip
 * through the hypervisor. Keeping each program on its own CPUs keeps its
 * hand-offs local (docs/OPERATIONS.md, "CPU pinning", has the figures).
 * Pinning is opt-in: by default every program runs wherever the kernel puts
 * it.
 *
 * A CPU list is the kernel's format (cpuset(7), taskset -c): decimal CPU
 * numbers and ranges, comma-separated: "0", "0-3", "0,2-3". Spaces around
 * items are allowed.
 *
 * Threading: cpus_parse and cpus_format are reentrant. cpus_pin_from_cfg is
 * for main, before any other thread exists.
 */
#ifndef COMANDA_CPUS_H
#define COMANDA_CPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CPU numbers run from 0 to CPUS_MAX - 1 (glibc's CPU_SETSIZE). */
#define CPUS_MAX 1024

/* A set of CPUs. Plain data: copy it, compare it with memcmp. */
typedef struct cpus_set {
	uint64_t bits[CPUS_MAX / 64];
} cpus_set;

/* True when CPU c (any int) is in set. */
bool cpus_has(const cpus_set *set, int c);

/* Parses a CPU list into *set. Returns 0, or -1 with the reason in why
 * (an empty list, a number out of [0, CPUS_MAX), a range whose end is below
 * its start, anything else). *set is unspecified after -1. */
int cpus_parse(const char *list, cpus_set *set, char *why, size_t why_cap);

/* Writes set as the shortest CPU list ("0-2,5") into buf, always
 * terminated; an empty set is "". Truncated when buf is too small. */
void cpus_format(const cpus_set *set, char *buf, size_t cap);

/* Pins the calling thread, and with it every thread it creates later, to
 * the CPUs in configuration variable var (cfg_str). An empty value does
 * nothing. Returns 0, or -1 after logging why: a malformed list, or none of
 * its CPUs available to the process. When only some are available, the
 * program runs on those and a warning names the ones left out.
 * Call it first in main, before NNG, libmicrohttpd or any library starts a
 * thread: a thread that already exists keeps the affinity it had. */
int cpus_pin_from_cfg(const char *var);

#endif
