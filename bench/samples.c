/* samples: see samples.h. */
#include "samples.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void samples_add(samples *s, uint64_t us)
{
	if (s->n == s->cap) {
		size_t cap = s->cap != 0 ? s->cap * 2 : 65536;
		uint32_t *p = realloc(s->us, cap * sizeof(*p));
		if (p == NULL) {
			s->oom = true;
			return;
		}
		s->us = p;
		s->cap = cap;
	}
	s->us[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

void samples_free(samples *s)
{
	free(s->us);
	*s = (samples){ 0 };
}

static int samples_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

bool samples_merge(samples *parts, size_t n, samples *all, double *all_sum_us)
{
	size_t total = 0;
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		total += parts[i].n;
		ok = ok && !parts[i].oom;
	}
	*all = (samples){ 0 };
	*all_sum_us = 0;
	uint32_t *v = ok ? malloc((total > 0 ? total : 1) * sizeof(*v)) : NULL;
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		if (v != NULL && parts[i].n > 0)
			memcpy(v + off, parts[i].us, parts[i].n * sizeof(*v));
		off += parts[i].n;
		samples_free(&parts[i]);
	}
	if (v == NULL)
		return false;
	for (size_t i = 0; i < total; i++)
		*all_sum_us += v[i];
	qsort(v, total, sizeof(*v), samples_cmp);
	*all = (samples){ .us = v, .n = total, .cap = total };
	return true;
}

double samples_pct_ms(const samples *sorted, double p)
{
	if (sorted->n == 0)
		return 0.0;
	size_t rank = (size_t)((p / 100.0) * (double)sorted->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > sorted->n)
		rank = sorted->n;
	return sorted->us[rank - 1] / 1000.0;
}

bool samples_parse_long(const char *s, long long min, long long max, long long *out)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}
