/*
 * bus_util.c: the bus's pure helpers: names, metric labels, AMQP field
 * tables, backoff delays. See bus_impl.h.
 */
#include <string.h>

#include "bus_impl.h"
#include "clock.h"
#include "ident.h"

#define BUS_LABEL_MAX 64

bool bus_type_valid(const char *s)
{
	return ident_valid(s, BUS_SHORTSTR_MAX);
}

const char *bus_type_label(const char *s)
{
	return bus_type_valid(s) && strlen(s) <= BUS_LABEL_MAX ? s : "invalid";
}

const amqp_field_value_t *bus_table_get(const amqp_table_t *t, const char *key)
{
	if (t == NULL)
		return NULL;
	size_t klen = strlen(key);
	for (int i = 0; i < t->num_entries; i++) {
		const amqp_table_entry_t *e = &t->entries[i];
		if (e->key.len == klen && memcmp(e->key.bytes, key, klen) == 0)
			return &e->value;
	}
	return NULL;
}

bool bus_table_int(const amqp_table_t *t, const char *key, int64_t *out)
{
	const amqp_field_value_t *v = bus_table_get(t, key);
	if (v == NULL)
		return false;
	/* The broker picks the width (RabbitMQ writes x-delivery-count as a
	 * signed 64-bit "long"); accept every integer kind. */
	switch (v->kind) {
	case AMQP_FIELD_KIND_I8: *out = v->value.i8; return true;
	case AMQP_FIELD_KIND_U8: *out = v->value.u8; return true;
	case AMQP_FIELD_KIND_I16: *out = v->value.i16; return true;
	case AMQP_FIELD_KIND_U16: *out = v->value.u16; return true;
	case AMQP_FIELD_KIND_I32: *out = v->value.i32; return true;
	case AMQP_FIELD_KIND_U32: *out = v->value.u32; return true;
	case AMQP_FIELD_KIND_I64: *out = v->value.i64; return true;
	case AMQP_FIELD_KIND_U64:
		if (v->value.u64 > INT64_MAX)
			return false;
		*out = (int64_t)v->value.u64;
		return true;
	default:
		return false;
	}
}

bool bus_table_bytes(const amqp_table_t *t, const char *key, amqp_bytes_t *out)
{
	const amqp_field_value_t *v = bus_table_get(t, key);
	if (v == NULL || (v->kind != AMQP_FIELD_KIND_UTF8 && v->kind != AMQP_FIELD_KIND_BYTES))
		return false;
	*out = v->value.bytes;
	return true;
}

/* base doubled (n - 1) times, at most cap; n < 1 counts as 1. */
static int64_t bus_doubling(int64_t base, int n, int64_t cap)
{
	int64_t d = base;
	for (int i = 1; i < n && d < cap; i++)
		d *= 2;
	return d < cap ? d : cap;
}

int64_t bus_reconnect_delay_ms(int failures)
{
	return bus_doubling(100, failures, 5000);
}

int64_t bus_retry_delay_ms(int delivery)
{
	return bus_doubling(100, delivery, 2000);
}

bool bus_sleep(int64_t ms, const atomic_bool *stop)
{
	int64_t end = clock_mono_us() + ms * 1000;
	for (;;) {
		if (stop != NULL && atomic_load(stop))
			return true;
		int64_t left_us = end - clock_mono_us();
		if (left_us <= 0)
			return false;
		clock_sleep_ms(left_us > 100000 ? 100 : (left_us + 999) / 1000);
	}
}
