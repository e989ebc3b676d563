/*
 * metrics: one process-wide registry of series, rendered in the Prometheus
 * text exposition format 0.0.4. See metrics.h for the contract.
 *
 * Lookups go through a hash table under a read-write lock: the hot path (a
 * series that exists) takes only the read side, so request threads do not
 * serialise on it; creation takes the write side. Series live until exit, so
 * a pointer handed out stays valid without reference counting.
 *
 * A histogram keeps one non-cumulative counter per bucket: an observation is
 * two atomic increments and one add, and the renderer sums buckets into the
 * cumulative `le` form. _count is that sum, so a scrape never shows a count
 * that disagrees with its own +Inf bucket.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum metrics_kind { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

static const char *const metrics_kind_names[] = { "counter", "gauge", "histogram" };

/* Upper bounds in microseconds; rendered in seconds as `le`. */
static const uint64_t metrics_bounds_us[] = { 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2500000, 5000000, 10000000 };
#define METRICS_NBOUNDS (sizeof(metrics_bounds_us) / sizeof(metrics_bounds_us[0]))
static const char *const metrics_bounds_text[METRICS_NBOUNDS] = { "0.0005", "0.001", "0.0025", "0.005", "0.01",
	"0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10" };

#define METRICS_HASH_SIZE 1024

typedef struct metrics_family metrics_family;

struct metric {
	metrics_family *family;
	char *labels;                     /* owned; "" for none */
	metric *next_in_family;           /* creation order, for rendering */
	metric *next_in_bucket;           /* hash chain */
	_Atomic uint64_t count;           /* counter value; histogram unused */
	_Atomic int64_t gauge;
	_Atomic uint64_t buckets[METRICS_NBOUNDS + 1]; /* last: above every bound */
	_Atomic uint64_t sum_us;
};

struct metrics_family {
	char *name;                       /* owned */
	char *help;                       /* owned, first one given */
	enum metrics_kind kind;
	metric *first, *last;
	metrics_family *next;             /* creation order */
};

static pthread_rwlock_t metrics_lock = PTHREAD_RWLOCK_INITIALIZER;
static metrics_family *metrics_families, *metrics_families_last;
static metric *metrics_table[METRICS_HASH_SIZE];

static uint64_t metrics_hash(const char *name, const char *labels)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (const char *p = name; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (const char *p = labels; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

static bool metrics_name_valid(const char *name)
{
	if (name == NULL || name[0] == '\0' || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		        c == ':'))
			return false;
	}
	return true;
}

static char *metrics_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

static metric *metrics_find_locked(const char *name, const char *labels, uint64_t h)
{
	for (metric *m = metrics_table[h % METRICS_HASH_SIZE]; m != NULL; m = m->next_in_bucket)
		if (strcmp(m->family->name, name) == 0 && strcmp(m->labels, labels) == 0)
			return m;
	return NULL;
}

static metrics_family *metrics_family_locked(const char *name, const char *help, enum metrics_kind kind)
{
	for (metrics_family *f = metrics_families; f != NULL; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	metrics_family *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->name = metrics_strdup(name);
	f->help = metrics_strdup(help != NULL ? help : "");
	if (f->name == NULL || f->help == NULL) {
		free(f->name);
		free(f->help);
		free(f);
		return NULL;
	}
	f->kind = kind;
	if (metrics_families_last != NULL)
		metrics_families_last->next = f;
	else
		metrics_families = f;
	metrics_families_last = f;
	return f;
}

static metric *metrics_get(const char *name, const char *help, const char *labels, enum metrics_kind kind)
{
	if (labels == NULL)
		labels = "";
	if (!metrics_name_valid(name)) {
		log_printf(LOG_ERROR, "metrics: invalid metric name \"%.100s\"", name != NULL ? name : "(null)");
		return NULL;
	}
	uint64_t h = metrics_hash(name, labels);

	pthread_rwlock_rdlock(&metrics_lock);
	metric *m = metrics_find_locked(name, labels, h);
	pthread_rwlock_unlock(&metrics_lock);
	if (m == NULL) {
		pthread_rwlock_wrlock(&metrics_lock);
		/* another thread may have created it between the two locks */
		m = metrics_find_locked(name, labels, h);
		if (m == NULL) {
			metrics_family *f = metrics_family_locked(name, help, kind);
			m = f != NULL ? calloc(1, sizeof(*m)) : NULL;
			char *lab = m != NULL ? metrics_strdup(labels) : NULL;
			if (lab == NULL) {
				/* the family, if new, stays: it renders with no series */
				free(m);
				m = NULL;
			} else {
				m->family = f;
				m->labels = lab;
				if (f->last != NULL)
					f->last->next_in_family = m;
				else
					f->first = m;
				f->last = m;
				m->next_in_bucket = metrics_table[h % METRICS_HASH_SIZE];
				metrics_table[h % METRICS_HASH_SIZE] = m;
			}
		}
		pthread_rwlock_unlock(&metrics_lock);
	}
	if (m != NULL && m->family->kind != kind) {
		log_printf(LOG_ERROR, "metrics: %s is a %s, not a %s", name, metrics_kind_names[m->family->kind],
		    metrics_kind_names[kind]);
		return NULL;
	}
	return m;
}

metric *metrics_counter(const char *name, const char *help, const char *labels)
{
	return metrics_get(name, help, labels, METRICS_COUNTER);
}

metric *metrics_gauge(const char *name, const char *help, const char *labels)
{
	return metrics_get(name, help, labels, METRICS_GAUGE);
}

metric *metrics_histogram(const char *name, const char *help, const char *labels)
{
	return metrics_get(name, help, labels, METRICS_HISTOGRAM);
}

void metrics_add(metric *m, uint64_t n)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->count, n, memory_order_relaxed);
}

void metrics_gauge_set(metric *m, int64_t v)
{
	if (m != NULL)
		atomic_store_explicit(&m->gauge, v, memory_order_relaxed);
}

void metrics_gauge_add(metric *m, int64_t delta)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->gauge, delta, memory_order_relaxed);
}

void metrics_observe_us(metric *m, uint64_t us)
{
	if (m == NULL)
		return;
	size_t i = 0;
	while (i < METRICS_NBOUNDS && us > metrics_bounds_us[i])
		i++;
	atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_us, us, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* rendering                                                                */
/* ------------------------------------------------------------------------ */

typedef struct metrics_buf {
	char *p;
	size_t len, cap;
	bool failed;
} metrics_buf;

__attribute__((format(printf, 2, 3))) static void metrics_printf(metrics_buf *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (np == NULL) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

/* HELP text escapes backslash and newline (format 0.0.4). */
static void metrics_help(metrics_buf *b, const char *help)
{
	for (const char *p = help; *p != '\0' && !b->failed; p++) {
		if (*p == '\\')
			metrics_printf(b, "\\\\");
		else if (*p == '\n')
			metrics_printf(b, "\\n");
		else
			metrics_printf(b, "%c", *p);
	}
}

static void metrics_render_histogram(metrics_buf *b, const metrics_family *f, metric *m)
{
	const char *sep = m->labels[0] != '\0' ? "," : "";
	uint64_t cum = 0;
	for (size_t i = 0; i <= METRICS_NBOUNDS; i++) {
		cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
		metrics_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, m->labels, sep,
		    i < METRICS_NBOUNDS ? metrics_bounds_text[i] : "+Inf", (unsigned long long)cum);
	}
	uint64_t sum = atomic_load_explicit(&m->sum_us, memory_order_relaxed);
	const char *lb = m->labels[0] != '\0' ? "{" : "", *rb = m->labels[0] != '\0' ? "}" : "";
	metrics_printf(b, "%s_sum%s%s%s %llu.%06llu\n", f->name, lb, m->labels, rb, (unsigned long long)(sum / 1000000),
	    (unsigned long long)(sum % 1000000));
	metrics_printf(b, "%s_count%s%s%s %llu\n", f->name, lb, m->labels, rb, (unsigned long long)cum);
}

char *metrics_render(size_t *len)
{
	metrics_buf b = { .p = malloc(4096), .len = 0, .cap = 4096, .failed = false };
	if (b.p == NULL)
		return NULL;
	b.p[0] = '\0';
	pthread_rwlock_rdlock(&metrics_lock);
	for (const metrics_family *f = metrics_families; f != NULL && !b.failed; f = f->next) {
		metrics_printf(&b, "# HELP %s ", f->name);
		metrics_help(&b, f->help);
		metrics_printf(&b, "\n# TYPE %s %s\n", f->name, metrics_kind_names[f->kind]);
		for (metric *m = f->first; m != NULL && !b.failed; m = m->next_in_family) {
			const char *lb = m->labels[0] != '\0' ? "{" : "", *rb = m->labels[0] != '\0' ? "}" : "";
			switch (f->kind) {
			case METRICS_COUNTER:
				metrics_printf(&b, "%s%s%s%s %llu\n", f->name, lb, m->labels, rb,
				    (unsigned long long)atomic_load_explicit(&m->count, memory_order_relaxed));
				break;
			case METRICS_GAUGE:
				metrics_printf(&b, "%s%s%s%s %lld\n", f->name, lb, m->labels, rb,
				    (long long)atomic_load_explicit(&m->gauge, memory_order_relaxed));
				break;
			case METRICS_HISTOGRAM:
				metrics_render_histogram(&b, f, m);
				break;
			}
		}
	}
	pthread_rwlock_unlock(&metrics_lock);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	if (len != NULL)
		*len = b.len;
	return b.p;
}

bool metrics_pair_slot(metrics_pair *cache, size_t n, const void *k1, const void *k2, int k3, metrics_pair **entry)
{
	size_t h = (size_t)(((uintptr_t)k1 >> 4) * 31u + ((uintptr_t)k2 >> 4) * 7u + (unsigned)k3) % n;
	metrics_pair *e = &cache[h];
	*entry = e;
	if (e->used && e->k1 == k1 && e->k2 == k2 && e->k3 == k3)
		return true;
	e->used = 1;
	e->k1 = k1;
	e->k2 = k2;
	e->k3 = k3;
	e->count = NULL;
	e->latency = NULL;
	return false;
}
