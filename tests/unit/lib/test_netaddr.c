/* lib/netaddr: trusted-proxy lists, the client behind X-Forwarded-For (a
 * client must never be able to pick its own address), and limit keys. */
#include <string.h>

#include "netaddr.h"
#include "test.h"

TEST(netaddr_list_parse_and_contains)
{
	netaddr_list *l = NULL;
	char why[128];
	CHECK_EQ_INT(netaddr_list_parse(&l, "", why, sizeof(why)), 0);
	CHECK(l == NULL);
	CHECK_EQ_INT(netaddr_list_parse(&l, NULL, why, sizeof(why)), 0);
	CHECK(l == NULL);
	CHECK(!netaddr_list_contains(NULL, "127.0.0.1"));
	CHECK_EQ_INT(netaddr_list_parse(&l, " 10.0.0.0/8, 192.168.1.7 ,fd00::/8,203.0.113.9/32", why, sizeof(why)), 0);
	CHECK(l != NULL);
	CHECK(netaddr_list_contains(l, "10.1.2.3"));
	CHECK(netaddr_list_contains(l, "192.168.1.7"));
	CHECK(!netaddr_list_contains(l, "192.168.1.8"));
	CHECK(netaddr_list_contains(l, "fd12:3456::1"));
	CHECK(!netaddr_list_contains(l, "fe80::1"));
	CHECK(netaddr_list_contains(l, "::ffff:10.9.9.9")); /* IPv4-mapped is IPv4 */
	CHECK(netaddr_list_contains(l, "203.0.113.9"));
	CHECK(!netaddr_list_contains(l, "11.0.0.1"));
	CHECK(!netaddr_list_contains(l, "not an ip"));
	netaddr_list_free(l);
	/* host bits are cleared */
	CHECK_EQ_INT(netaddr_list_parse(&l, "172.16.5.4/12", why, sizeof(why)), 0);
	CHECK(netaddr_list_contains(l, "172.31.255.255"));
	CHECK(!netaddr_list_contains(l, "172.32.0.0"));
	netaddr_list_free(l);
	const char *bad[] = { "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0/8", "example.com", "10.0.0.0/x", "1.2.3.4/8/9" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(netaddr_list_parse(&l, bad[i], why, sizeof(why)), -1);
		CHECK(l == NULL);
		CHECK(strstr(why, "is not an IP address") != NULL);
	}
}

TEST(netaddr_prefixes_count_the_bits_of_their_own_family)
{
	netaddr_list *l = NULL;
	char why[128];
	/* all of IPv4, written as IPv6: /96 of the mapped form */
	CHECK_EQ_INT(netaddr_list_parse(&l, "::ffff:0:0/96", why, sizeof(why)), 0);
	CHECK(netaddr_list_contains(l, "198.51.100.7") && netaddr_list_contains(l, "::ffff:10.0.0.1"));
	CHECK(!netaddr_list_contains(l, "2001:db8::1"));
	netaddr_list_free(l);
	/* a mapped prefix counts IPv6 bits: /104 is 10.0.0.0/8 */
	CHECK_EQ_INT(netaddr_list_parse(&l, "::ffff:10.0.0.0/104", why, sizeof(why)), 0);
	CHECK(netaddr_list_contains(l, "10.200.1.1") && !netaddr_list_contains(l, "11.0.0.1"));
	netaddr_list_free(l);
	/* shorter than /96 it would reach past IPv4: refused, not read as IPv4 bits */
	CHECK_EQ_INT(netaddr_list_parse(&l, "::ffff:10.0.0.0/8", why, sizeof(why)), -1);
	CHECK(l == NULL);
	/* an IPv6 prefix never covers IPv4 clients, ::/0 included */
	CHECK_EQ_INT(netaddr_list_parse(&l, "::/0", why, sizeof(why)), 0);
	CHECK(netaddr_list_contains(l, "2001:db8::1") && netaddr_list_contains(l, "::1"));
	CHECK(!netaddr_list_contains(l, "127.0.0.1") && !netaddr_list_contains(l, "::ffff:127.0.0.1"));
	netaddr_list_free(l);
	/* and an IPv4 prefix never covers IPv6 ones */
	CHECK_EQ_INT(netaddr_list_parse(&l, "0.0.0.0/0", why, sizeof(why)), 0);
	CHECK(netaddr_list_contains(l, "203.0.113.1") && !netaddr_list_contains(l, "::"));
	netaddr_list_free(l);
}

TEST(netaddr_client_behind_trusted_proxies)
{
	netaddr_list *l = NULL;
	char why[64], out[NETADDR_TEXT_MAX];
	CHECK_EQ_INT(netaddr_list_parse(&l, "10.0.0.0/8", why, sizeof(why)), 0);
	const char *one[] = { "198.51.100.7" };
	/* nothing trusted: the header is ignored */
	netaddr_client(NULL, "10.0.0.5", one, 1, out, sizeof(out));
	CHECK_STREQ(out, "10.0.0.5");
	/* an untrusted peer cannot name anyone */
	netaddr_client(l, "203.0.113.1", one, 1, out, sizeof(out));
	CHECK_STREQ(out, "203.0.113.1");
	/* a trusted peer: the hop before it */
	netaddr_client(l, "10.0.0.5", one, 1, out, sizeof(out));
	CHECK_STREQ(out, "198.51.100.7");
	/* a client's forged left part is not believed: the first untrusted hop from the right wins */
	const char *chain[] = { "1.2.3.4, 198.51.100.7, 10.0.0.9" };
	netaddr_client(l, "10.0.0.5", chain, 1, out, sizeof(out));
	CHECK_STREQ(out, "198.51.100.7");
	/* across several header lines, the last line is nearest */
	const char *lines[] = { "1.2.3.4", "198.51.100.8 , 10.1.1.1" };
	netaddr_client(l, "10.0.0.5", lines, 2, out, sizeof(out));
	CHECK_STREQ(out, "198.51.100.8");
	/* all trusted: the farthest one */
	const char *all[] = { "10.3.3.3, 10.2.2.2" };
	netaddr_client(l, "10.0.0.5", all, 1, out, sizeof(out));
	CHECK_STREQ(out, "10.3.3.3");
	/* garbage stops the walk at the last good hop */
	const char *junk[] = { "1.2.3.4, unknown, 10.2.2.2" };
	netaddr_client(l, "10.0.0.5", junk, 1, out, sizeof(out));
	CHECK_STREQ(out, "10.2.2.2");
	const char *empty[] = { "" };
	netaddr_client(l, "10.0.0.5", empty, 1, out, sizeof(out));
	CHECK_STREQ(out, "10.0.0.5");
	/* no header at all */
	netaddr_client(l, "10.0.0.5", NULL, 0, out, sizeof(out));
	CHECK_STREQ(out, "10.0.0.5");
	/* IPv6 normalised */
	const char *v6[] = { "2001:DB8:0:0::1" };
	netaddr_client(l, "::ffff:10.0.0.5", v6, 1, out, sizeof(out));
	CHECK_STREQ(out, "2001:db8::1");
	netaddr_list_free(l);
}

TEST(netaddr_keys)
{
	char k[NETADDR_TEXT_MAX];
	netaddr_key("198.51.100.7", k, sizeof(k));
	CHECK_STREQ(k, "198.51.100.7");
	netaddr_key("::ffff:198.51.100.7", k, sizeof(k));
	CHECK_STREQ(k, "198.51.100.7");
	/* a whole /64 is one client */
	netaddr_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k, sizeof(k));
	CHECK_STREQ(k, "2001:db8:1:2::/64");
	char k2[NETADDR_TEXT_MAX];
	netaddr_key("2001:db8:1:2::1", k2, sizeof(k2));
	CHECK_STREQ(k, k2);
	netaddr_key("unknown", k, sizeof(k));
	CHECK_STREQ(k, "unknown");
}
