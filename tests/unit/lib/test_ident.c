/* lib/ident: the one alphabet of names that go into logs, headers and URLs. */
#include <string.h>

#include "ident.h"
#include "test.h"

TEST(ident_valid_takes_the_alphabet_up_to_max)
{
	CHECK(ident_valid("a", 1));
	CHECK(ident_valid("order.created", 64));
	CHECK(ident_valid("AZaz09._-", 9));
	char s[66];
	memset(s, 'x', 65);
	s[65] = '\0';
	CHECK(!ident_valid(s, 64));
	s[64] = '\0';
	CHECK(ident_valid(s, 64));
}

TEST(ident_valid_refuses_empty_null_and_anything_that_needs_quoting)
{
	CHECK(!ident_valid(NULL, 64));
	CHECK(!ident_valid("", 64));
	static const char *const bad[] = { "a b", "a/b", "a\"b", "a\\b", "a\nb", "a:b", "a%20", "é", "a\x7f" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!ident_valid(bad[i], 64));
}
