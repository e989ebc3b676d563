/* Runs every TEST (or those whose name contains argv[1]); the last line of
 * output is "N passed, M failed". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static test_case *test_head;
static test_case **test_tail = &test_head;
static int test_failures_in_case;

void test_register(test_case *tc)
{
	/* keep registration order (file order within a file) */
	*test_tail = tc;
	test_tail = &tc->next;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stdout, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	test_failures_in_case++;
}

int main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	int passed = 0, failed = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (test_case *tc = test_head; tc != NULL; tc = tc->next) {
		if (filter != NULL && strstr(tc->name, filter) == NULL)
			continue;
		test_failures_in_case = 0;
		tc->fn();
		if (test_failures_in_case == 0) {
			passed++;
			printf("ok   %s\n", tc->name);
		} else {
			failed++;
			printf("FAIL %s (%s)\n", tc->name, tc->file);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
