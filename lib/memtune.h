/*
 * memtune: how the C library's allocator keeps memory.
 *
 * Why: glibc gives a thread that meets a busy allocator an arena of its own,
 * up to 8 per CPU, and each arena keeps what is freed in it for its own next
 * use. A program of ours runs 20 to 30 threads (HTTP threads, RPC workers,
 * NNG's), so under a long mixed load the free memory of a dozen arenas piles
 * up in RSS: the gateway's climbed from 16.5 to 21.3 MiB over a 10-minute
 * soak while what it had in use stayed near 9 MiB (docs/PERFORMANCE.md,
 * "Memory under a long load"). Two remedies, both set in lib/cfg.def:
 *   - the trimmer (MALLOC_TRIM_S, on by default): a thread that hands the
 *     free pages of every arena back to the kernel every few seconds
 *     (malloc_trim), off the request path;
 *   - fewer arenas (MALLOC_ARENAS, off by default): two arenas also held the
 *     gateway flat, but then every thread allocates behind one of two
 *     locks; nothing measurable on two CPUs, more on many.
 *
 * Threading: memtune_from_cfg is for main before any other thread exists;
 * memtune_trim_start after the stop signals are blocked (the thread must
 * not take them); both from main only.
 */
#ifndef COMANDA_MEMTUNE_H
#define COMANDA_MEMTUNE_H

#include "bgthread.h"

/* Applies MALLOC_ARENAS: the most arenas glibc may create; 0 leaves
 * glibc's default. A malformed value exits with status 2, as every cfg_int
 * does. An allocator that does not take the setting (a sanitizer's) is not
 * an error: that is logged at debug level. */
void memtune_from_cfg(void);

/* Starts the trimmer when MALLOC_TRIM_S > 0. Returns its thread (stop it
 * with bgthread_stop), or NULL when it is off or could not start (logged:
 * the program runs on without it). */
bgthread *memtune_trim_start(void);

#endif
