#include <string.h>

#include "rpc_resolve.h"
#include "test.h"

TEST(rpc_url_named_host_takes_names_and_leaves_literals)
{
	char host[64], port[8];
	CHECK(rpc_url_named_host("tcp://svc-user:6001", host, sizeof(host), port, sizeof(port)));
	CHECK_STREQ(host, "svc-user");
	CHECK_STREQ(port, "6001");
	CHECK(rpc_url_named_host("tcp://svc-user.comanda.svc.cluster.local:6001", host, sizeof(host), port,
	    sizeof(port)));
	CHECK_STREQ(host, "svc-user.comanda.svc.cluster.local");
	CHECK(rpc_url_named_host("tcp://localhost:1", host, sizeof(host), port, sizeof(port)));
	/* literals, other schemes and malformed URLs are dialled as they are */
	const char *not_named[] = {
		"tcp://127.0.0.1:6001", "tcp://[::1]:6001", "tcp://[fd00::7]:6001", "ipc:///tmp/x.sock",
		"tcp4://svc-user:6001", "tcp://svc-user", "tcp://svc-user:", "tcp://:6001", "tcp://svc-user:60a1",
		"tcp://*:6001", "tcp://a/b:6001", "svc-user:6001", "",
	};
	for (size_t i = 0; i < sizeof(not_named) / sizeof(not_named[0]); i++)
		if (rpc_url_named_host(not_named[i], host, sizeof(host), port, sizeof(port)))
			test_fail(__FILE__, __LINE__, "%s taken for a name", not_named[i]);
	/* a host longer than the room for it is refused, not cut */
	char small[4];
	CHECK(!rpc_url_named_host("tcp://svc-user:6001", small, sizeof(small), port, sizeof(port)));
	CHECK(!rpc_url_named_host("tcp://svc-user:6001234567", host, sizeof(host), port, sizeof(port)));
}

TEST(rpc_addrs_add_keeps_them_sorted_without_repeats_and_bounded)
{
	rpc_addrs a = { 0 };
	CHECK(rpc_addrs_add(&a, "tcp://10.0.0.9:1"));
	CHECK(rpc_addrs_add(&a, "tcp://10.0.0.1:1"));
	CHECK(rpc_addrs_add(&a, "tcp://10.0.0.9:1"));
	CHECK(rpc_addrs_add(&a, "tcp://10.0.0.5:1"));
	CHECK_EQ_INT(a.n, 3);
	CHECK_STREQ(a.urls[0], "tcp://10.0.0.1:1");
	CHECK_STREQ(a.urls[1], "tcp://10.0.0.5:1");
	CHECK_STREQ(a.urls[2], "tcp://10.0.0.9:1");
	CHECK(rpc_addrs_has(&a, "tcp://10.0.0.5:1"));
	CHECK(!rpc_addrs_has(&a, "tcp://10.0.0.6:1"));
	rpc_addrs full = { 0 };
	char url[64];
	for (int i = 0; i < RPC_RESOLVE_MAX; i++) {
		snprintf(url, sizeof(url), "tcp://10.0.1.%d:1", i);
		CHECK(rpc_addrs_add(&full, url));
	}
	CHECK(!rpc_addrs_add(&full, "tcp://10.0.2.1:1"));
	CHECK(rpc_addrs_add(&full, "tcp://10.0.1.3:1"));  /* one it has is fine */
	CHECK_EQ_INT(full.n, RPC_RESOLVE_MAX);
	char longer[RPC_URL_MAX + 8];
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	CHECK(!rpc_addrs_add(&a, longer));
}

/* /etc/hosts names localhost on every machine this runs on. */
TEST(rpc_resolve_getaddrinfo_gives_every_address_as_a_url)
{
	rpc_addrs a = { 0 };
	CHECK_EQ_INT(rpc_resolve_getaddrinfo("localhost", "6001", &a), 0);
	CHECK(rpc_addrs_has(&a, "tcp://127.0.0.1:6001"));
	for (int i = 0; i < a.n; i++)
		CHECK(strncmp(a.urls[i], "tcp://", 6) == 0);
	CHECK_EQ_INT(rpc_resolve_getaddrinfo("127.0.0.1", "7", &a), 0);
	CHECK_EQ_INT(a.n, 1);
	CHECK_STREQ(a.urls[0], "tcp://127.0.0.1:7");
	CHECK_EQ_INT(rpc_resolve_getaddrinfo("::1", "7", &a), 0);
	CHECK_STREQ(a.urls[0], "tcp://[::1]:7");
}
