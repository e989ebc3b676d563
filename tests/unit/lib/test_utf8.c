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
	CHECK_EQ_INT(utf8_chars("Ana María"), 9); /* a C string */
	CHECK_EQ_INT(utf8_chars("a\xFF"), -1);
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

#define T(s, b) utf8_text(s, sizeof(s) - 1, b)

TEST(utf8_text_refuses_controls_and_sees_blank)
{
	bool blank = false;
	CHECK_EQ_INT(T("Café ☕", &blank), 6);
	CHECK(!blank);
	CHECK_EQ_INT(T("", &blank), 0);
	CHECK(blank);
	/* C0 (TAB and newlines too), DEL, C1: U+0085 (NEL), U+009B (CSI) */
	const char *controls[] = { "a\tb", "a\nb", "a\x01", "a\x7f", "a\xc2\x85", "a\xc2\x9b", "\xc2\x80" };
	for (size_t i = 0; i < sizeof(controls) / sizeof(controls[0]); i++)
		CHECK_EQ_INT(utf8_text(controls[i], strlen(controls[i]), &blank), UTF8_TEXT_CONTROL);
	CHECK_EQ_INT(T("a\xc2\xa0" "b", &blank), 3); /* U+00A0 is a space, not a control */
	CHECK(!blank);
	CHECK_EQ_INT(T("a\xc3\x28", &blank), UTF8_TEXT_INVALID);
	/* shows nothing: spaces of White_Space and zero-width characters only */
	const char *blanks[] = { "   ", "\xc2\xa0\xc2\xa0", "\xe3\x80\x80", "\xe2\x80\x8b", "\xef\xbb\xbf",
		" \xe2\x80\xaf\xe2\x81\x9f\xe2\x80\x80" };
	for (size_t i = 0; i < sizeof(blanks) / sizeof(blanks[0]); i++) {
		blank = false;
		CHECK(utf8_text(blanks[i], strlen(blanks[i]), &blank) > 0);
		CHECK(blank);
	}
	CHECK_EQ_INT(T("\xe3\x80\x80x", &blank), 2);
	CHECK(!blank);
}

TEST(utf8_char_len_reads_one_whole_character_within_n)
{
	CHECK_EQ_INT(utf8_char_len("a", 1), 1);
	CHECK_EQ_INT(utf8_char_len("\xc3\xa9x", 3), 2);
	CHECK_EQ_INT(utf8_char_len("\xe2\x82\xac", 3), 3);
	CHECK_EQ_INT(utf8_char_len("\xf0\x9f\x98\x80", 4), 4);
	CHECK_EQ_INT(utf8_char_len("\xe2\x82\xac", 2), 0);     /* cut by n */
	CHECK_EQ_INT(utf8_char_len("\xc3", 1), 0);             /* a lead byte alone */
	CHECK_EQ_INT(utf8_char_len("\xed\xa0\x80", 3), 0);     /* a surrogate */
	CHECK_EQ_INT(utf8_char_len("\xc0\xaf", 2), 0);         /* overlong */
	CHECK_EQ_INT(utf8_char_len("\x80", 1), 0);             /* a continuation byte */
	CHECK_EQ_INT(utf8_char_len("a", 0), 0);
}
