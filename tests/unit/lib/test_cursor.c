/* lib/cursor: round trips and strict decoding. */
#include <stdint.h>
#include <string.h>

#include "cursor.h"
#include "test.h"

TEST(cursor_round_trips_number_and_key)
{
	char c[CURSOR_MAX], key[CURSOR_KEY_MAX];
	int64_t n = 0;
	CHECK_EQ_INT(cursor_encode(c, sizeof(c), 1767225600123, "65a1b2c3d4e5f60718293a4b"), 0);
	CHECK_EQ_INT(cursor_decode(c, &n, key, sizeof(key)), 0);
	CHECK_EQ_INT(n, 1767225600123);
	CHECK_STREQ(key, "65a1b2c3d4e5f60718293a4b");
	CHECK_EQ_INT(cursor_encode(c, sizeof(c), INT64_MAX, NULL), 0);
	CHECK_EQ_INT(cursor_decode(c, &n, key, sizeof(key)), 0);
	CHECK_EQ_INT(n, INT64_MAX);
	CHECK_STREQ(key, "");
}

TEST(cursor_malformed_is_refused)
{
	char key[CURSOR_KEY_MAX];
	int64_t n = 0;
	const char *bad[] = { "", "!!!", "YWJj", /* "abc" */ "YzF8", /* "c1|" */ "YzF8eHw", /* "c1|x|" */
		"YzJ8MXw", /* "c2|1|" */ "YzF8MXxhIGI", /* "c1|1|a b" */ NULL };
	for (int i = 0; bad[i]; i++)
		CHECK_EQ_INT(cursor_decode(bad[i], &n, key, sizeof(key)), -1);
	char c[CURSOR_MAX];
	CHECK_EQ_INT(cursor_encode(c, sizeof(c), 1, "has|bar"), -1);
}

/* tests/fuzz/crashes/fuzz_cursor-number-*: strtoll's other spellings of a
 * number were decoded as the same position. */
TEST(cursor_other_spellings_of_a_position_are_refused)
{
	char key[CURSOR_KEY_MAX];
	int64_t n = 0;
	const char *bad[] = { "YzF8Kzd8", /* "c1|+7|" */ "YzF8IDd8", /* "c1| 7|" */ "YzF8Cjd8", /* "c1|\n7|" */
		"YzF8MDd8", /* "c1|07|" */ "YzF8LTB8", /* "c1|-0|" */ "YzF8LTA3fGFi", /* "c1|-07|ab" */ NULL };
	for (int i = 0; bad[i]; i++)
		CHECK_EQ_INT(cursor_decode(bad[i], &n, key, sizeof(key)), -1);
	/* the one spelling of each still decodes */
	const char *good[] = { "YzF8N3w", /* "c1|7|" */ "YzF8MHw", /* "c1|0|" */ "YzF8LTd8YWI", /* "c1|-7|ab" */ NULL };
	const int64_t want[] = { 7, 0, -7 };
	for (int i = 0; good[i]; i++) {
		CHECK_EQ_INT(cursor_decode(good[i], &n, key, sizeof(key)), 0);
		CHECK_EQ_INT(n, want[i]);
	}
	char c[CURSOR_MAX];
	CHECK_EQ_INT(cursor_encode(c, sizeof(c), 7, NULL), 0);
	CHECK_STREQ(c, "YzF8N3w");
}
