/*
 * memtune: how the C library's allocator keeps memory.
 *
 * Why: glibc gives a thread that meets a busy allocator an arena of its own,
 * up to 8 per CPU, and keeps what is freed in each arena for that arena's
 * next use. A program of ours runs 20 to 30 threads (HTTP threads, RPC
 * workers, NNG's), so under a long mixed load the slack of a dozen arenas
 * piles up: the gateway's RSS crept from 12 to 20 MiB over 12 minutes while
 * what it used stayed near 9 MiB. Two arenas hold it at ~15 MiB, flat, at
 * the same speed (docs/PERFORMANCE.md, "Memory"): small blocks are served
 * from each thread's own cache, without the arena's lock.
 *
 * Threading: memtune_from_cfg is for main, before any other thread exists.
 */
#ifndef COMANDA_MEMTUNE_H
#define COMANDA_MEMTUNE_H

/* Applies MALLOC_ARENAS (lib/cfg.def): the most arenas glibc may create;
 * 0 leaves glibc's default. A malformed value exits with status 2, as
 * every cfg_int does. An allocator that does not take the setting (a
 * sanitizer's) is not an error: that is logged at debug level. */
void memtune_from_cfg(void);

#endif
