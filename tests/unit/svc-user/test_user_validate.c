/* svc-user: validation rules of API.md, and the password hashes. */
#include <string.h>

#include "test.h"
#include "user_validate.h"

TEST(user_name_is_trimmed_and_bounded)
{
	char out[512];
	CHECK(user_validate_name("  Ana María  ", out, sizeof(out)) == NULL);
	CHECK_STREQ(out, "Ana María");
	CHECK(user_validate_name("   ", out, sizeof(out)) != NULL);
	CHECK(user_validate_name("", out, sizeof(out)) != NULL);
	char name[200];
	memset(name, 'a', 100);
	name[100] = '\0';
	CHECK(user_validate_name(name, out, sizeof(out)) == NULL);
	name[100] = 'a';
	name[101] = '\0';
	CHECK(user_validate_name(name, out, sizeof(out)) != NULL); /* 101 chars */
	/* 100 two-byte characters are 100 characters, not 200 */
	char wide[256] = "";
	for (int i = 0; i < 100; i++)
		memcpy(wide + 2 * i, "é", 2);
	wide[200] = '\0';
	CHECK(user_validate_name(wide, out, sizeof(out)) == NULL);
	CHECK(user_validate_name("bad\x01name", out, sizeof(out)) != NULL);
	/* lib/utf8's rule for text: C1 controls refused, a name that shows
	 * nothing is empty (trimming takes ASCII spaces only) */
	CHECK_STREQ(user_validate_name("bad\xc2\x9bname", out, sizeof(out)), "must not contain control characters");
	CHECK_STREQ(user_validate_name("in\tside", out, sizeof(out)), "must not contain control characters");
	CHECK_STREQ(user_validate_name(" \xc2\xa0\xe3\x80\x80 ", out, sizeof(out)), "must not be empty");
	CHECK(user_validate_name("Ana\xc2\xa0" "Mar\xc3\xad" "a", out, sizeof(out)) == NULL);
	CHECK(user_validate_name("bad \xc3\x28 utf8", out, sizeof(out)) != NULL);
	CHECK(user_validate_name("Robert'); DROP TABLE users;--", out, sizeof(out)) == NULL);
}

TEST(user_email_is_validated_and_lowercased)
{
	char out[USER_EMAIL_MAX + 1];
	CHECK(user_validate_email("Ana.Maria+test@Example.COM", out, sizeof(out)) == NULL);
	CHECK_STREQ(out, "ana.maria+test@example.com");
	const char *bad[] = { "", "plain", "@example.com", "a@", "a@b", "a@@b.com", "a b@c.com",
		"a@b..com", "a@-b.com", "a@b-.com", ".a@b.com", "a.@b.com", "a..b@c.com", "a@b.com.",
		"a@b_c.com", "a\"b@c.com", NULL };
	for (int i = 0; bad[i]; i++)
		CHECK(user_validate_email(bad[i], out, sizeof(out)) != NULL);
	char longmail[300];
	memset(longmail, 'a', 250);
	memcpy(longmail + 250, "@b.co", 6); /* 255 bytes */
	CHECK(user_validate_email(longmail, out, sizeof(out)) != NULL);
}

TEST(user_password_length_rules)
{
	CHECK(user_validate_password("1234567") != NULL);
	CHECK(user_validate_password("12345678") == NULL);
	char pw[200];
	memset(pw, 'x', 128);
	pw[128] = '\0';
	CHECK(user_validate_password(pw) == NULL);
	pw[128] = 'x';
	pw[129] = '\0';
	CHECK(user_validate_password(pw) != NULL);
	CHECK(user_validate_password("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8") != NULL);
}
