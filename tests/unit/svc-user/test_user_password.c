/* svc-user/user_password: Argon2id hashes and the gate around them. */
#include <pthread.h>
#include <string.h>

#include "clock.h"
#include "test.h"
#include "user_password.h"

TEST(user_password_hash_is_argon2id_and_checks)
{
	CHECK_EQ_INT(user_password_init(2), 0);
	char h[USER_PASSWORD_HASH_MAX];
	CHECK_EQ_INT(user_password_hash("correct horse", h, 1000), USER_PASSWORD_OK);
	CHECK(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	CHECK_EQ_INT(user_password_check(h, "correct horse", 1000), USER_PASSWORD_OK);
	CHECK_EQ_INT(user_password_check(h, "correct horsE", 1000), USER_PASSWORD_MISMATCH);
	CHECK_EQ_INT(user_password_check(NULL, "anything", 1000), USER_PASSWORD_MISMATCH);
	CHECK_EQ_INT(user_password_check("", "anything", 1000), USER_PASSWORD_MISMATCH);
	char h2[USER_PASSWORD_HASH_MAX];
	CHECK_EQ_INT(user_password_hash("correct horse", h2, 1000), USER_PASSWORD_OK);
	CHECK(strcmp(h, h2) != 0); /* salted */
}

TEST(user_password_gate_holds_its_places_and_refuses_after_the_wait)
{
	CHECK_EQ_INT(user_password_init(2), 0);
	CHECK(user_password_gate_enter(0));
	CHECK(user_password_gate_enter(0));
	CHECK(!user_password_gate_enter(0));       /* full, no wait */
	int64_t t0 = clock_mono_us();
	CHECK(!user_password_gate_enter(50));      /* full for the whole wait */
	CHECK(clock_mono_us() - t0 >= 50 * 1000);  /* it did wait */
	/* a full gate refuses the work itself, not just the place */
	char h[USER_PASSWORD_HASH_MAX];
	CHECK_EQ_INT(user_password_hash("correct horse", h, 0), USER_PASSWORD_BUSY);
	CHECK_EQ_INT(user_password_check(NULL, "anything", 0), USER_PASSWORD_BUSY);
	user_password_gate_leave();
	CHECK(user_password_gate_enter(0));
	user_password_gate_leave();
	user_password_gate_leave();
}

static void *user_password_leave_later(void *arg)
{
	(void)arg;
	clock_sleep_ms(50);
	user_password_gate_leave();
	return NULL;
}

TEST(user_password_gate_wakes_a_waiter_when_a_place_frees)
{
	CHECK_EQ_INT(user_password_init(1), 0);
	CHECK(user_password_gate_enter(0));
	pthread_t t;
	CHECK_EQ_INT(pthread_create(&t, NULL, user_password_leave_later, NULL), 0);
	CHECK(user_password_gate_enter(5000));     /* the place the thread gives back */
	pthread_join(t, NULL);
	user_password_gate_leave();
	user_password_init(2);                     /* as the other tests expect */
}
