/*
 * rpc_resolve: the addresses behind an RPC URL's host name.
 *
 * NNG's dialer resolves its host name at each connect and keeps one
 * connection to the first address. A name with several addresses (a
 * Kubernetes headless Service, a service scaled in Docker Compose) should
 * instead get connections to each of them, and to new ones as they appear:
 * lib/rpc.c looks the name up every RPC_RESOLVE_MS with these helpers and
 * keeps one set of dialers per address.
 *
 * Threading: pure functions and getaddrinfo; any thread.
 */
#ifndef COMANDA_RPC_RESOLVE_H
#define COMANDA_RPC_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#define RPC_URL_MAX 256
#define RPC_RESOLVE_MAX 16    /* addresses kept per name; more are ignored */

/* The addresses of one name, as NNG URLs ("tcp://10.0.0.7:6001",
 * "tcp://[fd00::7]:6001"), sorted and without repeats. */
typedef struct rpc_addrs {
	int n;
	char urls[RPC_RESOLVE_MAX][RPC_URL_MAX];
} rpc_addrs;

/* Looks up host:port and fills *out. Returns 0, or -1 when the lookup failed
 * or gave no address (then *out is empty). */
typedef int (*rpc_resolve_fn)(const char *host, const char *port, rpc_addrs *out);

/* The resolver used unless a client is given another: getaddrinfo, TCP,
 * IPv4 and IPv6. */
int rpc_resolve_getaddrinfo(const char *host, const char *port, rpc_addrs *out);

/* True when url is "tcp://HOST:PORT" with HOST a name rather than an IP
 * literal, that is, one worth resolving; then stores HOST and PORT
 * (NUL-terminated, within hcap and pcap bytes). Any other URL (an IP
 * literal, ipc://, tcp4://, a malformed one) gives false. */
bool rpc_url_named_host(const char *url, char *host, size_t hcap, char *port, size_t pcap);

/* Adds url to a (kept sorted, no repeats, at most RPC_RESOLVE_MAX).
 * Returns false when it is too long or a is full. */
bool rpc_addrs_add(rpc_addrs *a, const char *url);

/* True when a holds url. */
bool rpc_addrs_has(const rpc_addrs *a, const char *url);

#endif
