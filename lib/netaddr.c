/*
 * netaddr: trusted-proxy lists, X-Forwarded-For and limit keys. See netaddr.h.
 */
#include "netaddr.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An address as 16 bytes: IPv4 is kept in its IPv4-mapped IPv6 form, so one
 * comparison covers both families. */
typedef struct netaddr_ip {
	uint8_t b[16];
	bool v4;
} netaddr_ip;

typedef struct netaddr_prefix {
	netaddr_ip ip;
	unsigned bits;          /* of the 128 */
} netaddr_prefix;

struct netaddr_list {
	size_t n;
	netaddr_prefix p[];
};

static const uint8_t netaddr_v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Parses s[0..len) as an address (no prefix). */
static bool netaddr_parse_ip(const char *s, size_t len, netaddr_ip *ip)
{
	char buf[NETADDR_TEXT_MAX];
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(ip, 0, sizeof(*ip));
	struct in_addr a4;
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		memcpy(ip->b, netaddr_v4_mapped, 12);
		memcpy(ip->b + 12, &a4, 4);
		ip->v4 = true;
		return true;
	}
	if (inet_pton(AF_INET6, buf, ip->b) != 1)
		return false;
	ip->v4 = memcmp(ip->b, netaddr_v4_mapped, 12) == 0;
	return true;
}

static void netaddr_format(const netaddr_ip *ip, char *out, size_t cap)
{
	char buf[INET6_ADDRSTRLEN];
	const char *t = ip->v4 ? inet_ntop(AF_INET, ip->b + 12, buf, sizeof(buf)) : inet_ntop(AF_INET6, ip->b, buf, sizeof(buf));
	snprintf(out, cap, "%s", t != NULL ? t : "unknown");
}

static bool netaddr_in(const netaddr_prefix *p, const netaddr_ip *ip)
{
	/* One family at a time: an IPv6 prefix, even ::/0, says nothing about
	 * IPv4 clients (which are kept in the mapped form it would cover). */
	if (p->ip.v4 != ip->v4)
		return false;
	unsigned full = p->bits / 8, rest = p->bits % 8;
	if (memcmp(p->ip.b, ip->b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (p->ip.b[full] & mask) == (ip->b[full] & mask);
}

static bool netaddr_list_has(const netaddr_list *l, const netaddr_ip *ip)
{
	if (l == NULL)
		return false;
	for (size_t i = 0; i < l->n; i++)
		if (netaddr_in(&l->p[i], ip))
			return true;
	return false;
}

static const char *netaddr_trim(const char *s, size_t *len)
{
	while (*len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*len)--;
	}
	while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
		(*len)--;
	return s;
}

/* One list item "addr" or "addr/bits". The length counts the bits of the
 * address as written: 0..32 after an IPv4 address, 0..128 after an IPv6
 * one, so "::ffff:0:0/96" is every IPv4 address; an IPv4-mapped one
 * shorter than /96 would reach past IPv4 and is refused. */
static bool netaddr_parse_prefix(const char *s, size_t len, netaddr_prefix *p)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash != NULL ? (size_t)(slash - s) : len;
	if (!netaddr_parse_ip(s, alen, &p->ip))
		return false;
	bool written_v4 = memchr(s, ':', alen) == NULL;
	unsigned max = written_v4 ? 32 : 128;
	unsigned bits = max;
	if (slash != NULL) {
		size_t dl = len - alen - 1;
		if (dl == 0 || dl > 3)
			return false;
		bits = 0;
		for (size_t i = 0; i < dl; i++) {
			char c = slash[1 + i];
			if (c < '0' || c > '9')
				return false;
			bits = bits * 10 + (unsigned)(c - '0');
		}
		if (bits > max || (p->ip.v4 && !written_v4 && bits < 96))
			return false;
	}
	p->bits = written_v4 ? bits + 96 : bits;
	/* clear host bits, so "10.1.2.3/8" means 10.0.0.0/8 */
	for (unsigned i = p->bits; i < 128; i++)
		p->ip.b[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return true;
}

int netaddr_list_parse(netaddr_list **out, const char *text, char *why, size_t why_cap)
{
	*out = NULL;
	if (why_cap > 0)
		why[0] = '\0';
	if (text == NULL)
		return 0;
	size_t items = 1;
	for (const char *c = text; *c != '\0'; c++)
		items += *c == ',';
	netaddr_list *l = calloc(1, sizeof(*l) + items * sizeof(netaddr_prefix));
	if (l == NULL) {
		snprintf(why, why_cap, "out of memory");
		return -1;
	}
	for (const char *s = text;;) {
		size_t len = strcspn(s, ",");
		size_t tl = len;
		const char *t = netaddr_trim(s, &tl);
		if (tl > 0) {
			if (!netaddr_parse_prefix(t, tl, &l->p[l->n])) {
				snprintf(why, why_cap, "\"%.*s\" is not an IP address or CIDR prefix", (int)(tl > 64 ? 64 : tl), t);
				free(l);
				return -1;
			}
			l->n++;
		}
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
	if (l->n == 0) {
		free(l);
		return 0;
	}
	*out = l;
	return 0;
}

void netaddr_list_free(netaddr_list *l)
{
	free(l);
}

bool netaddr_list_contains(const netaddr_list *l, const char *ip)
{
	netaddr_ip a;
	return ip != NULL && netaddr_parse_ip(ip, strlen(ip), &a) && netaddr_list_has(l, &a);
}

void netaddr_client(const netaddr_list *trusted, const char *peer, const char *const *xff, size_t n, char *out,
    size_t cap)
{
	netaddr_ip cur;
	if (!netaddr_parse_ip(peer, strlen(peer), &cur)) {
		snprintf(out, cap, "%s", peer);
		return;
	}
	/* from the last header line's last item back to the first line's first */
	for (size_t k = n; k > 0 && netaddr_list_has(trusted, &cur); k--) {
		const char *line = xff[k - 1];
		if (line == NULL)
			continue;
		size_t end = strlen(line);
		for (;;) {
			size_t start = end;
			while (start > 0 && line[start - 1] != ',')
				start--;
			size_t len = end - start;
			const char *item = netaddr_trim(line + start, &len);
			netaddr_ip hop;
			if (!netaddr_parse_ip(item, len, &hop))
				goto done; /* garbage (or "unknown"): the last good hop is the client */
			cur = hop;
			if (!netaddr_list_has(trusted, &cur) || start == 0)
				break;
			end = start - 1;
		}
	}
done:
	netaddr_format(&cur, out, cap);
}

void netaddr_key(const char *ip, char *out, size_t cap)
{
	netaddr_ip a;
	if (ip == NULL || !netaddr_parse_ip(ip, strlen(ip), &a)) {
		snprintf(out, cap, "%s", ip != NULL ? ip : "");
		return;
	}
	if (a.v4) {
		netaddr_format(&a, out, cap);
		return;
	}
	memset(a.b + 8, 0, 8);
	char buf[INET6_ADDRSTRLEN];
	const char *t = inet_ntop(AF_INET6, a.b, buf, sizeof(buf));
	snprintf(out, cap, "%s/64", t != NULL ? t : "unknown");
}
