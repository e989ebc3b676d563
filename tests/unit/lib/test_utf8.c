/* lib/utf8: what counts as UTF-8 here, and how many characters. */
#include <string.h>

#include "test.h"
#include "utf8.h"

#define U(s) utf8_count(s, sizeof(s) - 1)

TEST(utf8_counts_code_points)
{
	CHECK_EQ_INT(U(""), 0);
	CHECK_EQ_INT(U("abc"), 3);
	CHECK_EQ_INT(U("Ana María"), 9);
	CHECK_EQ_INT(U("☕"), 1);
	CHECK_EQ_INT(U("\xF0\x9F\x98\x80"), 1); /* U+1F600 */
	CHECK_EQ_INT(U("\xF4\x8F\xBF\xBF"), 1); /* U+10FFFF */
}

TEST(utf8_refuses_what_json_c_lets_through)
{
	CHECK_EQ_INT(U("\xC0\x80"), -1);          /* overlong NUL */
	CHECK_EQ_INT(U("\xC1\xB1"), -1);          /* overlong 'q' */
	CHECK_EQ_INT(U("\xE0\x80\xAF"), -1);      /* overlong '/' */
	CHECK_EQ_INT(U("\xED\xA0\x80"), -1);      /* surrogate U+D800 */
	CHECK_EQ_INT(U("\xF4\x90\x80\x80"), -1);  /* U+110000 */
	CHECK_EQ_INT(U("\xF8\x88\x80\x80\x80"), -1);
	CHECK_EQ_INT(U("abc\xE2\x98"), -1);       /* truncated */
	CHECK_EQ_INT(U("\x80"), -1);              /* lone continuation */
	CHECK(!utf8_valid("a\xFF", 2));
}
