/*
 * netaddr: client addresses for limits and logs.
 *
 *  - lists of trusted proxies ("10.0.0.0/8, 192.168.1.7, fd00::/8"), and the
 *    client behind them: X-Forwarded-For is believed only hop by hop, from
 *    the connection's peer back, and only while the hop is a trusted proxy,
 *    so a client cannot name itself someone else by sending the header;
 *  - the key an address is limited under: an IPv4 address as is, an
 *    IPv4-mapped IPv6 address as its IPv4 form, any other IPv6 address as
 *    its /64 (one subscriber usually holds a whole /64: keying single IPv6
 *    addresses would give one client 2^64 buckets).
 *
 * Threading: a parsed list is read-only; every function is reentrant.
 */
#ifndef COMANDA_NETADDR_H
#define COMANDA_NETADDR_H

#include <stdbool.h>
#include <stddef.h>

/* Room for any address text these functions write (INET6_ADDRSTRLEN + "/64"). */
#define NETADDR_TEXT_MAX 64

typedef struct netaddr_list netaddr_list;

/* Parses a comma-separated list of IPv4/IPv6 addresses and CIDR prefixes
 * (spaces around items allowed). A prefix length counts the bits of the
 * address as written (0..32 after IPv4, 0..128 after IPv6): an
 * IPv4-mapped address takes /96 or more ("::ffff:0:0/96" is all of IPv4,
 * "::ffff:10.0.0.0/104" is 10.0.0.0/8). Each prefix covers its own family
 * only: IPv6 prefixes, ::/0 included, never cover IPv4 clients, which
 * match IPv4 prefixes whether they connect as IPv4 or IPv4-mapped. NULL or "" (nothing trusted) gives 0 with
 * *out NULL; a malformed item gives -1 with the reason in why. On success
 * the caller owns *out (netaddr_list_free). */
int netaddr_list_parse(netaddr_list **out, const char *text, char *why, size_t why_cap);

void netaddr_list_free(netaddr_list *l);

/* True when the address text ip is inside one of l's prefixes. NULL l or a
 * malformed ip: false. */
bool netaddr_list_contains(const netaddr_list *l, const char *ip);

/* The client of a connection from peer: peer itself unless it is trusted;
 * then the X-Forwarded-For values xff[0..n) (in the order the header lines
 * came, each "a, b, c" with the nearest hop last) are walked from the
 * nearest hop back: each hop becomes the client, and the walk stops at the
 * first one that is not trusted, or before an item that is not an address.
 * Writes the client's address text (normalised) into out. */
void netaddr_client(const netaddr_list *trusted, const char *peer, const char *const *xff, size_t n, char *out,
    size_t cap);

/* Writes the limit key of address text ip into out ("198.51.100.7",
 * "2001:db8:1:2::/64"); text that is not an address is copied as is. */
void netaddr_key(const char *ip, char *out, size_t cap);

#endif
