#define _GNU_SOURCE /* sched_setaffinity, cpu_set_t */
#include "cpus.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "log.h"

_Static_assert(CPUS_MAX == CPU_SETSIZE, "cpus_set holds what a cpu_set_t holds");

bool cpus_has(const cpus_set *set, int c)
{
	return c >= 0 && c < CPUS_MAX && (set->bits[c / 64] >> (c % 64) & 1) != 0;
}

static void cpus_add(cpus_set *set, int c)
{
	set->bits[c / 64] |= (uint64_t)1 << (c % 64);
}

static void cpus_to_sys(const cpus_set *in, cpu_set_t *out)
{
	CPU_ZERO(out);
	for (int c = 0; c < CPUS_MAX; c++)
		if (cpus_has(in, c))
			CPU_SET(c, out);
}

static void cpus_from_sys(const cpu_set_t *in, cpus_set *out)
{
	memset(out, 0, sizeof(*out));
	for (int c = 0; c < CPUS_MAX; c++)
		if (CPU_ISSET(c, in))
			cpus_add(out, c);
}

static bool cpus_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Reads a CPU number at *p (advanced past it). False when there are no
 * digits or the number is CPUS_MAX or more. */
static bool cpus_number(const char **p, int *out)
{
	const char *s = *p;
	if (*s < '0' || *s > '9')
		return false;
	long v = 0;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (*s - '0');
		if (v >= CPUS_MAX)
			return false;
		s++;
	}
	*p = s;
	*out = (int)v;
	return true;
}

int cpus_parse(const char *list, cpus_set *set, char *why, size_t why_cap)
{
	memset(set, 0, sizeof(*set));
	const char *p = list != NULL ? list : "";
	bool any = false;
	for (;;) {
		while (cpus_space(*p))
			p++;
		const char *item = p;
		int lo, hi;
		if (!cpus_number(&p, &lo)) {
			if (*item == '\0' && !any)
				snprintf(why, why_cap, "no CPU given");
			else
				snprintf(why, why_cap, "\"%.32s\" is not a CPU number below %d", item, CPUS_MAX);
			return -1;
		}
		hi = lo;
		if (*p == '-') {
			p++;
			if (!cpus_number(&p, &hi)) {
				snprintf(why, why_cap, "\"%.32s\" is not a CPU range", item);
				return -1;
			}
			if (hi < lo) {
				snprintf(why, why_cap, "range %d-%d ends before it starts", lo, hi);
				return -1;
			}
		}
		for (int c = lo; c <= hi; c++)
			cpus_add(set, c);
		any = true;
		while (cpus_space(*p))
			p++;
		if (*p == '\0')
			return 0;
		if (*p != ',') {
			snprintf(why, why_cap, "\"%.32s\" is not a CPU list item", item);
			return -1;
		}
		p++;
	}
}

void cpus_format(const cpus_set *set, char *buf, size_t cap)
{
	if (cap == 0)
		return;
	buf[0] = '\0';
	size_t len = 0;
	for (int c = 0; c < CPUS_MAX; c++) {
		if (!cpus_has(set, c))
			continue;
		int end = c;
		while (cpus_has(set, end + 1))
			end++;
		int n = end == c ? snprintf(buf + len, cap - len, "%s%d", len ? "," : "", c)
		                 : snprintf(buf + len, cap - len, "%s%d-%d", len ? "," : "", c, end);
		if (n < 0 || (size_t)n >= cap - len) {
			buf[len] = '\0'; /* no half-written item */
			return;
		}
		len += (size_t)n;
		c = end;
	}
}

int cpus_pin_from_cfg(const char *var)
{
	const char *list = cfg_str(var);
	if (list[0] == '\0')
		return 0;
	cpus_set want, have;
	char why[96];
	if (cpus_parse(list, &want, why, sizeof(why)) != 0) {
		log_printf(LOG_ERROR, "%s=%s: %s", var, list, why);
		return -1;
	}
	cpu_set_t sys;
	cpus_to_sys(&want, &sys);
	if (sched_setaffinity(0, sizeof(sys), &sys) != 0) {
		/* EINVAL: none of them is online and allowed to this process */
		log_printf(LOG_ERROR, "%s=%s: cannot run there: %s", var, list, strerror(errno));
		return -1;
	}
	char text[256];
	if (sched_getaffinity(0, sizeof(sys), &sys) == 0) {
		cpus_from_sys(&sys, &have);
		if (memcmp(&want, &have, sizeof(want)) != 0) {
			cpus_set missing; /* the kernel keeps the part of want it can give */
			for (size_t i = 0; i < sizeof(want.bits) / sizeof(want.bits[0]); i++)
				missing.bits[i] = want.bits[i] & ~have.bits[i];
			char kept[256];
			cpus_format(&missing, text, sizeof(text));
			cpus_format(&have, kept, sizeof(kept));
			log_printf(LOG_WARN, "%s=%s: CPUs %s are not available; running on %s", var, list, text, kept);
			return 0;
		}
	}
	cpus_format(&want, text, sizeof(text));
	log_printf(LOG_INFO, "pinned to CPUs %s (%s)", text, var);
	return 0;
}
