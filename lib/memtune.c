#include "memtune.h"

#include <malloc.h>

#include "cfg.h"
#include "log.h"

#define MEMTUNE_ARENAS_MAX 1024

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
