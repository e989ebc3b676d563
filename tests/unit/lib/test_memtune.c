/* lib/memtune: the trimmer starts only when asked, and stops when told. */
#include <stdlib.h>

#include "memtune.h"
#include "test.h"

TEST(memtune_trimmer_is_off_at_zero)
{
	setenv("MALLOC_TRIM_S", "0", 1);
	CHECK(memtune_trim_start() == NULL);
	unsetenv("MALLOC_TRIM_S");
}

TEST(memtune_trimmer_starts_at_a_positive_period_and_stops)
{
	setenv("MALLOC_TRIM_S", "1", 1);
	bgthread *t = memtune_trim_start();
	unsetenv("MALLOC_TRIM_S");
	CHECK(t != NULL);
	/* memory to give back, so a trim has work if it runs meanwhile */
	void *p = malloc(1 << 20);
	free(p);
	bgthread_stop(t);  /* wakes its wait and joins it */
}
