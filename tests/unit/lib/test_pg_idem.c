/* lib/pg_idem: the parts that need no database: bytea text in libpq's hex
 * form (the stored reply is read back through pg_bytea_parse) and the
 * request fingerprint. */
#include <string.h>

#include "arena.h"
#include "comanda/testing.pb-c.h"
#include "pg_idem.h"
#include "test.h"

TEST(pg_bytea_hex_and_parse_round_trip)
{
	arena a;
	arena_init(&a);
	static const uint8_t bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char *hex = pg_bytea_hex(&a, bytes, sizeof(bytes));
	CHECK_STREQ(hex, "\\x00017f80abff");
	ProtobufCBinaryData out;
	CHECK_EQ_INT(pg_bytea_parse(&a, hex, &out), 0);
	CHECK_EQ_INT(out.len, sizeof(bytes));
	CHECK(out.data != NULL && memcmp(out.data, bytes, sizeof(bytes)) == 0);
	/* upper case (libpq writes lower) and the empty value */
	CHECK_EQ_INT(pg_bytea_parse(&a, "\\xABff", &out), 0);
	CHECK(out.len == 2 && out.data[0] == 0xab && out.data[1] == 0xff);
	CHECK_STREQ(pg_bytea_hex(&a, NULL, 0), "\\x");
	CHECK_EQ_INT(pg_bytea_parse(&a, "\\x", &out), 0);
	CHECK_EQ_INT(out.len, 0);
	arena_reset(&a);
}

/* Anything but "\x" and whole hex pairs is refused, with out left empty: a
 * stored reply that does not read back is an error, never a shorter reply. */
TEST(pg_bytea_parse_refuses_what_is_not_hex_bytea)
{
	arena a;
	arena_init(&a);
	static const char *const bad[] = {
		"",            /* SQL NULL reads as "" */
		"\\",          /* the prefix cut short */
		"x00",         /* no backslash */
		"\\X00",       /* the escape format's letter is lower case */
		"\\x0",        /* half a byte */
		"\\x001",      /* a byte and a half */
		"\\x0g",       /* not hex */
		"\\x00 01",    /* a space inside */
		"\\x00\n",     /* a trailing newline */
		"\\000\\001",  /* bytea's escape format */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ProtobufCBinaryData out = { .len = 99, .data = (uint8_t *)"x" };
		if (pg_bytea_parse(&a, bad[i], &out) != -1 || out.data != NULL || out.len != 0)
			test_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
	}
	arena_reset(&a);
}

/* The fingerprint is the request's, under the key: the same method and
 * message give the same hash, another key, method or field another; a
 * request too large for the stack buffer is hashed whole. */
TEST(pg_idem_fingerprint_depends_on_key_method_and_request)
{
	static const uint8_t k1[] = "key-one-key-one-key-one-key-one!";
	static const uint8_t k2[] = "key-two-key-two-key-two-key-two!";
	Comanda__EchoRequest r = COMANDA__ECHO_REQUEST__INIT;
	r.text = "hello";
	uint8_t a[PG_IDEM_HASH_LEN], b[PG_IDEM_HASH_LEN];
	pg_idem_fingerprint(k1, sizeof(k1) - 1, "comanda.Echo/Echo", &r.base, a);
	pg_idem_fingerprint(k1, sizeof(k1) - 1, "comanda.Echo/Echo", &r.base, b);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	pg_idem_fingerprint(k2, sizeof(k2) - 1, "comanda.Echo/Echo", &r.base, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	pg_idem_fingerprint(k1, sizeof(k1) - 1, "comanda.Echo/Other", &r.base, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	r.text = "hellp";
	pg_idem_fingerprint(k1, sizeof(k1) - 1, "comanda.Echo/Echo", &r.base, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);

	/* past the 512-byte buffer: the heap path, and still every byte counts */
	char big[2000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	r.text = big;
	pg_idem_fingerprint(k1, sizeof(k1) - 1, "comanda.Echo/Echo", &r.base, a);
	big[1500] = 'b';
	pg_idem_fingerprint(k1, sizeof(k1) - 1, "comanda.Echo/Echo", &r.base, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	big[1500] = 'a';
	pg_idem_fingerprint(k1, sizeof(k1) - 1, "comanda.Echo/Echo", &r.base, b);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
}
