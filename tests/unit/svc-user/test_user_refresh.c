/* svc-user/user_refresh: derived successors, and when a replaced refresh
 * token presented again is a retry rather than reuse. */
#include <string.h>

#include "test.h"
#include "user_refresh.h"

static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
static const uint8_t other_key[] = "fedcba9876543210fedcba9876543210";
#define KEYLEN 32

TEST(user_refresh_successor_is_a_function_of_token_and_key)
{
	char a[USER_REFRESH_TOKEN_LEN + 1], b[USER_REFRESH_TOKEN_LEN + 1], c[USER_REFRESH_TOKEN_LEN + 1];
	const char *tok = "XNdomaiSfdechluaJrneexQVA8gKTunF5QprAc0DbBw";
	CHECK_EQ_INT(user_refresh_successor(key, KEYLEN, tok, a, sizeof(a)), 0);
	CHECK_EQ_INT(strlen(a), USER_REFRESH_TOKEN_LEN);
	for (size_t i = 0; i < strlen(a); i++) /* base64url, no padding: the same alphabet as a login's */
		CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]) != NULL);
	/* the same request again: the same answer (what makes a retry possible) */
	CHECK_EQ_INT(user_refresh_successor(key, KEYLEN, tok, b, sizeof(b)), 0);
	CHECK_STREQ(a, b);
	/* another key, another token, the successor's successor: all different */
	user_refresh_successor(other_key, KEYLEN, tok, c, sizeof(c));
	CHECK(strcmp(a, c) != 0);
	user_refresh_successor(key, KEYLEN, "XNdomaiSfdechluaJrneexQVA8gKTunF5QprAc0DbBx", c, sizeof(c));
	CHECK(strcmp(a, c) != 0);
	user_refresh_successor(key, KEYLEN, a, c, sizeof(c));
	CHECK(strcmp(a, c) != 0);
	CHECK(strcmp(tok, a) != 0);
	/* too small a buffer is refused, not overrun */
	char small[USER_REFRESH_TOKEN_LEN];
	CHECK_EQ_INT(user_refresh_successor(key, KEYLEN, tok, small, sizeof(small)), -1);
}

/* A replaced token, presented again 5 s after its exchange, whose successor
 * is the derived one and unused: the retry a lost answer (504) leads to. */
static user_refresh_state retried(void)
{
	return (user_refresh_state){ .replaced = true, .within_grace = true, .successor_derived = true,
		.successor_live = true, .user_active = true };
}

TEST(user_refresh_a_live_token_rotates)
{
	user_refresh_state s = { .user_active = true };
	CHECK_EQ_INT(user_refresh_decide(&s), USER_REFRESH_ROTATE);
	s.expired = true;
	CHECK_EQ_INT(user_refresh_decide(&s), USER_REFRESH_EXPIRED);
	s.expired = false;
	s.user_active = false;
	CHECK_EQ_INT(user_refresh_decide(&s), USER_REFRESH_INACTIVE);
	s.revoked = true;
	CHECK_EQ_INT(user_refresh_decide(&s), USER_REFRESH_REVOKED);
}

TEST(user_refresh_a_retry_after_a_lost_answer_gets_the_same_successor)
{
	user_refresh_state s = retried();
	CHECK_EQ_INT(user_refresh_decide(&s), USER_REFRESH_RETRY);
	/* the presented token's own expiry does not matter: its exchange
	 * happened when it was valid, and this only repeats that answer */
	s.expired = true;
	CHECK_EQ_INT(user_refresh_decide(&s), USER_REFRESH_RETRY);
	/* a user suspended since is refused, as a fresh refresh would be, and
	 * that is no reason to call it theft */
	s = retried();
	s.user_active = false;
	CHECK_EQ_INT(user_refresh_decide(&s), USER_REFRESH_INACTIVE);
}

TEST(user_refresh_reuse_is_still_reuse)
{
	user_refresh_state s = retried();
	/* past the grace window (or REFRESH_RETRY_GRACE_S=0: never within it) */
	s.within_grace = false;
	CHECK_EQ_INT(user_refresh_decide(&s), USER_REFRESH_REUSE);
	/* the successor was exchanged in turn (someone holds and uses it) */
	s = retried();
	s.successor_live = false;
	CHECK_EQ_INT(user_refresh_decide(&s), USER_REFRESH_REUSE);
	/* the successor is not the one derived from this token (a row from
	 * before derivation, or under a key no longer known) */
	s = retried();
	s.successor_derived = false;
	CHECK_EQ_INT(user_refresh_decide(&s), USER_REFRESH_REUSE);
	/* a revoked session answers revoked, whatever else */
	s = retried();
	s.revoked = true;
	CHECK_EQ_INT(user_refresh_decide(&s), USER_REFRESH_REVOKED);
}
