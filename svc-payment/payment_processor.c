#include "payment_processor.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* The simulator's decisions, which is all it remembers of a charge. */
typedef enum sim_decision { SIM_APPROVED, SIM_DECLINED, SIM_OVER_LIMIT } sim_decision;

typedef struct sim_entry {
	char *ref;        /* NULL: the slot is free */
	uint64_t hash;
	int32_t next;     /* the next entry of its bucket, -1: none */
	uint8_t decision; /* sim_decision */
} sim_entry;

/* The references charged, in a hash table whose entries are a ring: a new
 * one takes the oldest's slot once all are used, so the simulator forgets
 * the oldest first and its memory is bounded. */
struct payment_sim_memory {
	pthread_mutex_t mu;
	int32_t cap;      /* entries */
	uint32_t mask;    /* buckets - 1, buckets a power of two >= cap */
	int32_t oldest;   /* the slot the next new reference takes */
	int32_t *buckets; /* the first entry of each, -1: none */
	sim_entry *entries;
};

static uint64_t sim_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The entry of ref, or -1. Under m->mu. */
static int32_t sim_find(const payment_sim_memory *m, const char *ref, uint64_t h)
{
	for (int32_t i = m->buckets[h & m->mask]; i >= 0; i = m->entries[i].next)
		if (m->entries[i].hash == h && strcmp(m->entries[i].ref, ref) == 0)
			return i;
	return -1;
}

/* Frees slot i for another reference: unlinks it from its bucket. Under m->mu. */
static void sim_forget(payment_sim_memory *m, int32_t i)
{
	sim_entry *e = &m->entries[i];
	if (e->ref == NULL)
		return;
	int32_t *link = &m->buckets[e->hash & m->mask];
	while (*link != i)
		link = &m->entries[*link].next;
	*link = e->next;
	free(e->ref);
	e->ref = NULL;
}

static void sim_fill(sim_decision d, payment_outcome *out)
{
	out->approved = d == SIM_APPROVED;
	out->reason[0] = '\0';
	if (d == SIM_DECLINED)
		snprintf(out->reason, sizeof(out->reason), "card declined");
	else if (d == SIM_OVER_LIMIT)
		snprintf(out->reason, sizeof(out->reason), "amount exceeds the processor limit");
}

static void payment_sim_wait(const payment_processor *p, const payment_charge *c)
{
	/* Off unless configured: a customer's token must not hold a worker. */
	if (p->slow_ms > 0 && strncmp(c->token, "tok_slow", 8) == 0)
		clock_sleep_ms(p->slow_ms);
}

static int payment_sim_charge(const payment_processor *p, const payment_charge *c, payment_outcome *out)
{
	payment_sim_wait(p, c);
	sim_decision d = strncmp(c->token, "tok_decline", 11) == 0 ? SIM_DECLINED
	               : c->amount_minor > p->limit_minor          ? SIM_OVER_LIMIT
	                                                           : SIM_APPROVED;
	payment_sim_memory *m = p->memory;
	uint64_t h = sim_hash(c->reference);
	int rc = 0;
	pthread_mutex_lock(&m->mu);
	int32_t i = sim_find(m, c->reference, h);
	if (i >= 0) {
		d = (sim_decision)m->entries[i].decision; /* charged already: the first outcome */
	} else {
		char *ref = strdup(c->reference);
		if (ref == NULL) {
			rc = -1; /* a charge it cannot remember is not made */
		} else {
			i = m->oldest;
			m->oldest = (m->oldest + 1) % m->cap;
			sim_forget(m, i);
			m->entries[i] = (sim_entry){ ref, h, m->buckets[h & m->mask], (uint8_t)d };
			m->buckets[h & m->mask] = i;
		}
	}
	pthread_mutex_unlock(&m->mu);
	if (rc == 0)
		sim_fill(d, out);
	return rc;
}

static int payment_sim_lookup(const payment_processor *p, const payment_charge *c, payment_outcome *out)
{
	payment_sim_wait(p, c);
	payment_sim_memory *m = p->memory;
	uint64_t h = sim_hash(c->reference);
	pthread_mutex_lock(&m->mu);
	int32_t i = sim_find(m, c->reference, h);
	sim_decision d = i >= 0 ? (sim_decision)m->entries[i].decision : SIM_APPROVED;
	pthread_mutex_unlock(&m->mu);
	if (i < 0)
		return PAYMENT_UNKNOWN;
	sim_fill(d, out);
	return 0;
}

static int payment_sim_refund(const payment_processor *p, const payment_charge *c, payment_outcome *out)
{
	(void)p;
	(void)c;
	out->approved = true;
	out->reason[0] = '\0';
	return 0;
}

int payment_simulator_init(payment_processor *p, int64_t limit_minor, int slow_ms, int remember)
{
	memset(p, 0, sizeof(*p));
	if (remember <= 0 || remember > (1 << 30))
		return -1;
	payment_sim_memory *m = calloc(1, sizeof(*m));
	uint32_t buckets = 1;
	while (buckets < (uint32_t)remember)
		buckets <<= 1;
	if (m != NULL) {
		m->buckets = malloc(buckets * sizeof(*m->buckets));
		m->entries = calloc((size_t)remember, sizeof(*m->entries));
	}
	if (m == NULL || m->buckets == NULL || m->entries == NULL || pthread_mutex_init(&m->mu, NULL) != 0) {
		if (m != NULL) {
			free(m->buckets);
			free(m->entries);
		}
		free(m);
		return -1;
	}
	memset(m->buckets, 0xff, buckets * sizeof(*m->buckets)); /* -1: empty */
	m->cap = remember;
	m->mask = buckets - 1;
	p->memory = m;
	p->slow_ms = slow_ms;
	p->name = "simulator";
	p->charge = payment_sim_charge;
	p->lookup = payment_sim_lookup;
	p->refund = payment_sim_refund;
	p->limit_minor = limit_minor;
	return 0;
}

void payment_simulator_free(payment_processor *p)
{
	payment_sim_memory *m = p->memory;
	if (m == NULL)
		return;
	for (int32_t i = 0; i < m->cap; i++)
		free(m->entries[i].ref);
	pthread_mutex_destroy(&m->mu);
	free(m->buckets);
	free(m->entries);
	free(m);
	p->memory = NULL;
}
