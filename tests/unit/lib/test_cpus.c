/* lib/cpus: CPU lists and pinning a program's threads to them. */
#define _GNU_SOURCE /* sched_getaffinity */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpus.h"
#include "test.h"

/* The set as a CPU list, for readable checks. */
static const char *cpus_text(const cpus_set *set)
{
	static char buf[256];
	cpus_format(set, buf, sizeof(buf));
	return buf;
}

TEST(cpus_parse_lists_and_ranges)
{
	cpus_set set;
	char why[96];
	const char *good[][2] = {
		{ "0", "0" },
		{ "0-3", "0-3" },
		{ " 1 , 3-4 ", "1,3-4" },
		{ "5-5", "5" },
		{ "3,1,2", "1-3" },
		{ "0-2,1-4", "0-4" },
		{ "1023", "1023" },
		{ "0007", "7" },
		{ "\t2,\t4", "2,4" },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_EQ_INT(cpus_parse(good[i][0], &set, why, sizeof(why)), 0);
		CHECK_STREQ(cpus_text(&set), good[i][1]);
	}
	CHECK(cpus_has(&set, 2));
	CHECK(!cpus_has(&set, 3));
	CHECK(!cpus_has(&set, -1));
	CHECK(!cpus_has(&set, CPUS_MAX));
}

TEST(cpus_parse_refuses_what_is_not_a_cpu_list)
{
	cpus_set set;
	char why[96];
	CHECK_EQ_INT(cpus_parse("", &set, why, sizeof(why)), -1);
	CHECK_STREQ(why, "no CPU given");
	CHECK_EQ_INT(cpus_parse(NULL, &set, why, sizeof(why)), -1);
	CHECK_EQ_INT(cpus_parse("  ", &set, why, sizeof(why)), -1);
	CHECK_STREQ(why, "no CPU given");
	CHECK_EQ_INT(cpus_parse("3-1", &set, why, sizeof(why)), -1);
	CHECK_STREQ(why, "range 3-1 ends before it starts");
	CHECK_EQ_INT(cpus_parse("1024", &set, why, sizeof(why)), -1);
	CHECK_STREQ(why, "\"1024\" is not a CPU number below 1024");
	CHECK_EQ_INT(cpus_parse("1-", &set, why, sizeof(why)), -1);
	CHECK_STREQ(why, "\"1-\" is not a CPU range");
	const char *bad[] = { "a", "-1", "0,,1", "0,", ",0", "1 2", "0x1", "1-2-3", "0;1", "1.5",
		"99999999999999999999999", "0-99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		CHECK_EQ_INT(cpus_parse(bad[i], &set, why, sizeof(why)), -1);
		CHECK(why[0] != '\0');
	}
}

TEST(cpus_format_is_the_shortest_list_and_never_half_an_item)
{
	cpus_set set;
	memset(&set, 0, sizeof(set));
	char buf[64];
	cpus_format(&set, buf, sizeof(buf));
	CHECK_STREQ(buf, "");
	char why[96];
	CHECK_EQ_INT(cpus_parse("0,1,2,5,7,8,1023", &set, why, sizeof(why)), 0);
	cpus_format(&set, buf, sizeof(buf));
	CHECK_STREQ(buf, "0-2,5,7-8,1023");
	cpus_format(&set, buf, 6); /* "0-2,5" fits, ",7-8" does not */
	CHECK_STREQ(buf, "0-2,5");
	cpus_format(&set, buf, 3);
	CHECK_STREQ(buf, "");
	CHECK_EQ_INT(cpus_parse("0-1023", &set, why, sizeof(why)), 0);
	cpus_format(&set, buf, sizeof(buf));
	CHECK_STREQ(buf, "0-1023");
}

/* Whatever set goes out through cpus_format comes back the same through
 * cpus_parse (random sets from a fixed seed). */
TEST(cpus_format_then_parse_is_the_same_set)
{
	unsigned seed = 12345;
	static char buf[8192]; /* the longest list: every other CPU, "0,2,...,1022" */
	for (int round = 0; round < 200; round++) {
		cpus_set set, back;
		memset(&set, 0, sizeof(set));
		int density = 1 + round % 7;
		for (int c = 0; c < CPUS_MAX; c++) {
			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 8 < (unsigned)density)
				set.bits[c / 64] |= (uint64_t)1 << (c % 64);
		}
		if (set.bits[0] == 0)
			set.bits[0] = 1;
		cpus_format(&set, buf, sizeof(buf));
		char why[96];
		CHECK_EQ_INT(cpus_parse(buf, &back, why, sizeof(why)), 0);
		CHECK(memcmp(&set, &back, sizeof(set)) == 0);
	}
}

/* ---- pinning: done on a thread of its own, so the test runner keeps its
 * CPUs ---- */

typedef struct pin_case {
	const char *value;  /* GATEWAY_CPUS, NULL: unset */
	int rv;             /* cpus_pin_from_cfg's */
	char self[256];     /* the pinning thread's CPUs after it */
	char child[256];    /* those of a thread it then creates */
} pin_case;

static void *pin_child(void *arg)
{
	cpu_set_t sys;
	char *out = arg;
	out[0] = '\0';
	if (sched_getaffinity(0, sizeof(sys), &sys) != 0)
		return NULL;
	cpus_set set;
	memset(&set, 0, sizeof(set));
	for (int c = 0; c < CPUS_MAX; c++)
		if (CPU_ISSET(c, &sys))
			set.bits[c / 64] |= (uint64_t)1 << (c % 64);
	cpus_format(&set, out, 256);
	return NULL;
}

static void *pin_thread(void *arg)
{
	pin_case *pc = arg;
	pc->rv = cpus_pin_from_cfg("GATEWAY_CPUS");
	pin_child(pc->self);
	pthread_t t;
	if (pthread_create(&t, NULL, pin_child, pc->child) == 0)
		pthread_join(t, NULL);
	return NULL;
}

/* Pins a new thread with GATEWAY_CPUS=value (NULL: unset); checks the
 * result and that the thread and a thread it creates run on cpus. */
static void pin_expect(const char *value, int rv, const char *cpus)
{
	pin_case pc = { .value = value };
	if (value != NULL)
		setenv("GATEWAY_CPUS", value, 1);
	else
		unsetenv("GATEWAY_CPUS");
	pthread_t t;
	CHECK_EQ_INT(pthread_create(&t, NULL, pin_thread, &pc), 0);
	pthread_join(t, NULL);
	unsetenv("GATEWAY_CPUS");
	CHECK_EQ_INT(pc.rv, rv);
	CHECK_STREQ(pc.self, cpus);
	CHECK_STREQ(pc.child, cpus);
}

TEST(cpus_pin_from_cfg_pins_the_thread_and_every_thread_it_creates)
{
	char mine[256];
	pin_child(mine);
	CHECK(mine[0] != '\0');
	/* the first CPU this process may use */
	char first[16], some[32];
	snprintf(first, sizeof(first), "%d", atoi(mine));
	snprintf(some, sizeof(some), "%s,1023", first);

	pin_expect(first, 0, first);
	pin_expect(some, 0, first); /* some of the CPUs are not there: the rest */
	pin_expect(NULL, 0, mine);  /* unset: nothing changes */
	pin_expect("one", -1, mine);
	pin_expect("1023", -1, mine); /* no machine of ours has 1024 CPUs */

	/* the runner's own thread was never pinned */
	char after[256];
	pin_child(after);
	CHECK_STREQ(after, mine);
}
