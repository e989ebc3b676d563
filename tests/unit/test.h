/*
 * test: Comanda's unit-test runner, small on purpose.
 *
 *   #include "test.h"
 *   TEST(arena_strdup_copies) {
 *       ...
 *       CHECK(p != NULL);
 *       CHECK_EQ_INT(n, 3);
 *       CHECK_STREQ(s, "abc");
 *   }
 *
 * TEST registers the function at load time; tests/unit/main.c runs them all
 * (or those whose name contains argv[1]) and ends with "N passed, M failed".
 * A failed CHECK records file:line and the test goes on, so one run shows
 * every broken expectation.
 */
#ifndef COMANDA_TEST_H
#define COMANDA_TEST_H

#include <stdio.h>
#include <string.h>

typedef struct test_case {
	const char *name;
	const char *file;
	void (*fn)(void);
	struct test_case *next;
} test_case;

void test_register(test_case *tc);
/* Records a failure of the running test (printed at once). */
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define TEST(name)                                                                \
	static void test_fn_##name(void);                                         \
	static test_case test_case_##name = { #name, __FILE__, test_fn_##name, NULL }; \
	__attribute__((constructor)) static void test_reg_##name(void)            \
	{                                                                         \
		test_register(&test_case_##name);                                 \
	}                                                                         \
	static void test_fn_##name(void)

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond))                                                 \
			test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);   \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                              \
	do {                                                                            \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);         \
		if (check_a_ != check_b_)                                               \
			test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, \
			    check_a_, check_b_);                                        \
	} while (0)

#define CHECK_STREQ(a, b)                                                                   \
	do {                                                                                \
		const char *check_a_ = (a), *check_b_ = (b);                                \
		if (check_a_ == NULL || check_b_ == NULL || strcmp(check_a_, check_b_) != 0) \
			test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, \
			    check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); \
	} while (0)

#endif
