#include "live.h"

#include <stdarg.h>
#include <stdio.h>

static int live_passed, live_failed, live_skipped;

void check(bool ok, const char *name, const char *fmt, ...)
{
	if (ok) {
		live_passed++;
		printf("ok   %s\n", name);
		return;
	}
	live_failed++;
	printf("FAIL %s\n", name);
	if (fmt != NULL && fmt[0] != '\0') {
		va_list ap;
		va_start(ap, fmt);
		printf("     ");
		vprintf(fmt, ap);
		printf("\n");
		va_end(ap);
	}
}

void skip(const char *name, const char *why)
{
	live_skipped++;
	printf("skip %s: %s\n", name, why);
}

int live_finish(const char *program)
{
	if (live_skipped > 0)
		printf("%s: %d passed, %d failed, %d skipped\n", program, live_passed, live_failed, live_skipped);
	else
		printf("%s: %d passed, %d failed\n", program, live_passed, live_failed);
	return live_failed == 0 ? 0 : 1;
}
