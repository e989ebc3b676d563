#include "memtune.h"

#include <malloc.h>

#include "cfg.h"
#include "log.h"

#define MEMTUNE_ARENAS_MAX 1024
#define MEMTUNE_TRIM_MAX_S 3600

void memtune_from_cfg(void)
{
	int arenas = (int)cfg_int("MALLOC_ARENAS", 0, MEMTUNE_ARENAS_MAX);
	if (arenas == 0)
		return;
	/* glibc answers 1; AddressSanitizer's allocator has no arenas and
	 * answers 0, which is fine: it is not what production runs. */
	if (mallopt(M_ARENA_MAX, arenas) != 1)
		log_printf(LOG_DEBUG, "MALLOC_ARENAS=%d: this allocator does not take it", arenas);
}

static void memtune_trimmer(bgthread *self, void *arg)
{
	int ms = (int)(long)arg * 1000;
	/* malloc_trim(0) gives back the whole free pages inside every arena,
	 * not only the tops: each arena's lock is held while its free chunks
	 * are walked (tens of microseconds for a program of ours). */
	while (bgthread_wait(self, ms))
		malloc_trim(0);
}

bgthread *memtune_trim_start(void)
{
	long seconds = (long)cfg_int("MALLOC_TRIM_S", 0, MEMTUNE_TRIM_MAX_S);
	if (seconds == 0)
		return NULL;
	return bgthread_start("malloc-trim", memtune_trimmer, (void *)seconds);
}
