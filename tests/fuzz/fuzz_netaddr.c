/*
 * fuzz_netaddr: client addresses behind trusted proxies (lib/netaddr.c), as
 * lib/httpd.c and gateway/gw_ratelimit.c use them: GATEWAY_TRUSTED_PROXIES
 * from the configuration, the peer of a connection and the X-Forwarded-For
 * lines any client can send.
 *
 * Input: mode[1], then NUL-separated parts: the trusted-proxy list text, the
 * peer, and up to 8 X-Forwarded-For lines (lib/httpd.c keeps 8). The mode
 * picks the list (the text as is; the text plus the peer, so the peer is
 * trusted; the text plus "0.0.0.0/0,::/0", so every hop is, and the walk
 * goes to the end of the header or its first garbage; in the last two, the
 * added part alone when the text does not parse) and a small buffer size.
 * Calls: netaddr_list_parse, netaddr_list_contains on every address in
 * sight, netaddr_client (as httpd does, and with no header), netaddr_key
 * of the client and of every address (as the rate limiter does). Output
 * buffers are allocated exactly (NETADDR_TEXT_MAX, or the small size), so
 * ASan sees any write past cap.
 *
 * Oracles beyond the sanitizers (lib/netaddr.h), against a model built
 * here from inet_pton and the documented grammar:
 *   - the list: an item that is an address, or an address and a prefix
 *     length 0..32 (IPv4) / 0..128 (IPv6), is accepted; an item that is not
 *     an address or has a bad length is refused, with a reason that fits
 *     its buffer; a parsed list contains each of its own addresses, and
 *     contains an address exactly when one of its prefixes covers it
 *     (bitwise, in the model, within its own family: an IPv6 prefix never
 *     covers an IPv4 address); an IPv4 address and its IPv4-mapped form
 *     are treated alike, and so are two spellings of one address; a length
 *     after an IPv4-mapped IPv6 address counts IPv6 bits and must be 96 or
 *     more;
 *   - the client is the peer itself when the peer is not an address (copied
 *     as is) or not trusted, whatever the header says; otherwise the hop
 *     the model's walk reaches (from the nearest hop back while the current
 *     one is trusted, stopping before garbage), so every hop nearer than the
 *     client is trusted; it is the peer or one of the (trimmed) items, and
 *     its text is an address that inet_pton accepts, in normal form;
 *   - the key of an IPv4 or IPv4-mapped address is its IPv4 text; of any
 *     other IPv6 address, its /64 with the host bits zero, the same for
 *     every address of that /64; text that is not an address is the key
 *     as is;
 *   - every output fits its buffer (NETADDR_TEXT_MAX, or smaller).
 *
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_XFF_MAX 8       /* HTTPD_MAX_XFF_LINES */
#define FUZZ_MODEL_MAX 64    /* list items the model follows; longer lists are only run */
#define FUZZ_HOPS_MAX 512    /* X-Forwarded-For items the model follows */

static const uint8_t fuzz_v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_netaddr: %s\n  %s\n", what, detail != NULL ? detail : "");
	abort();
}

/* ---- the model ------------------------------------------------------------- */

typedef struct fuzz_ip {
	uint8_t b[16];  /* IPv4 as IPv4-mapped IPv6 */
	bool mapped;    /* IPv4, written either way */
	bool written_v4; /* dotted IPv4 text, not IPv6 */
} fuzz_ip;

/* Is s[0..len) an address? Only inet_pton decides. */
static bool fuzz_addr(const char *s, size_t len, fuzz_ip *ip)
{
	char buf[128];
	if (len >= sizeof(buf))
		return false; /* no address text is that long */
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(ip, 0, sizeof(*ip));
	struct in_addr a4;
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		memcpy(ip->b, fuzz_v4_mapped, 12);
		memcpy(ip->b + 12, &a4, 4);
		ip->mapped = ip->written_v4 = true;
		return true;
	}
	if (inet_pton(AF_INET6, buf, ip->b) != 1)
		return false;
	ip->mapped = memcmp(ip->b, fuzz_v4_mapped, 12) == 0;
	return true;
}

static bool fuzz_addr_str(const char *s, fuzz_ip *ip)
{
	return fuzz_addr(s, strlen(s), ip);
}

/* The one text of an address: IPv4 (mapped ones too) dotted, IPv6 as
 * inet_ntop writes it. */
static void fuzz_normal(const fuzz_ip *ip, char *out, size_t cap)
{
	const char *t = ip->mapped ? inet_ntop(AF_INET, ip->b + 12, out, (socklen_t)cap)
	                           : inet_ntop(AF_INET6, ip->b, out, (socklen_t)cap);
	if (t == NULL)
		fuzz_fail("inet_ntop failed on an address", NULL);
}

/* HTTP's optional white space around list items */
static const char *fuzz_trim(const char *s, size_t *len)
{
	while (*len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*len)--;
	}
	while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
		(*len)--;
	return s;
}

static bool fuzz_covers(const uint8_t *p, unsigned bits, const uint8_t *b)
{
	for (unsigned i = 0; i < bits; i++) {
		uint8_t m = (uint8_t)(0x80u >> (i % 8));
		if ((p[i / 8] & m) != (b[i / 8] & m))
			return false;
	}
	return true;
}

typedef enum { FUZZ_GOOD, FUZZ_BAD, FUZZ_EITHER } fuzz_verdict;

typedef struct fuzz_item {
	fuzz_verdict v;
	fuzz_ip ip;
	unsigned bits;          /* of the 128, for GOOD */
	netaddr_list *alone;    /* for EITHER items the code accepted: the item parsed alone */
} fuzz_item;

/* One trimmed, non-empty list item by the documented grammar. */
static fuzz_verdict fuzz_item_judge(const char *s, size_t len, fuzz_item *it)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash != NULL ? (size_t)(slash - s) : len;
	if (!fuzz_addr(s, alen, &it->ip))
		return FUZZ_BAD;
	unsigned max = it->ip.written_v4 ? 32 : 128;
	if (slash == NULL) {
		it->bits = 128;
		return FUZZ_GOOD;
	}
	const char *d = slash + 1;
	size_t dl = len - alen - 1;
	if (dl == 0 || strspn(d, "0123456789") < dl)
		return FUZZ_BAD; /* "a/", "a/x", "a/8/9" */
	/* a length past any family's, or (IPv4) past 32: no reading accepts it;
	 * "08" is not how CIDR writes 8, but nothing says it is refused */
	unsigned long bits = 0;
	for (size_t i = 0; i < dl && bits <= 1000; i++)
		bits = bits * 10 + (unsigned long)(d[i] - '0');
	if (bits > max || (it->ip.mapped && !it->ip.written_v4 && bits < 96))
		return FUZZ_BAD;
	if (dl > 1 && d[0] == '0')
		return FUZZ_EITHER;
	it->bits = (unsigned)bits + (it->ip.written_v4 ? 96 : 0);
	return FUZZ_GOOD;
}

typedef struct fuzz_model {
	bool on;        /* false: too many items to follow */
	size_t n;
	fuzz_item it[FUZZ_MODEL_MAX];
} fuzz_model;

static bool fuzz_model_has(const fuzz_model *m, const fuzz_ip *ip, const char *text)
{
	for (size_t i = 0; i < m->n; i++) {
		const fuzz_item *it = &m->it[i];
		if (it->v == FUZZ_GOOD ? it->ip.mapped == ip->mapped && fuzz_covers(it->ip.b, it->bits, ip->b)
		                       : netaddr_list_contains(it->alone, text))
			return true;
	}
	return false;
}

/* Judges each trimmed, non-empty item of a list text. */
static void fuzz_list_judge(const char *text, bool *all_good, bool *any_bad)
{
	*all_good = true;
	*any_bad = false;
	for (const char *s = text;;) {
		size_t len = strcspn(s, ",");
		size_t il = len;
		const char *t = fuzz_trim(s, &il);
		if (il > 0) {
			fuzz_item it;
			fuzz_verdict v = fuzz_item_judge(t, il, &it);
			*all_good &= v == FUZZ_GOOD;
			*any_bad |= v == FUZZ_BAD;
		}
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
}

/* The model of a list text the code took (so no item is BAD). */
static void fuzz_model_build(fuzz_model *m, const char *text)
{
	m->on = true;
	for (const char *s = text;;) {
		size_t len = strcspn(s, ",");
		size_t il = len;
		const char *t = fuzz_trim(s, &il);
		if (il > 0) {
			if (m->n == FUZZ_MODEL_MAX) {
				m->on = false;
				return;
			}
			fuzz_item *it = &m->it[m->n++];
			it->v = fuzz_item_judge(t, il, it);
			if (it->v != FUZZ_GOOD) {
				/* its meaning is the code's: the item parsed alone */
				char one[160], w[8];
				if (il >= sizeof(one)) {
					m->on = false;
					return;
				}
				memcpy(one, t, il);
				one[il] = '\0';
				if (netaddr_list_parse(&it->alone, one, w, sizeof(w)) != 0)
					fuzz_fail("netaddr_list_parse: an item of a list it took is refused alone", one);
			}
		}
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
}

/* ---- checks ----------------------------------------------------------------- */

/* netaddr_list_contains of one address text, against the model, in all its
 * spellings. Returns the answer. */
static bool fuzz_contains(const netaddr_list *l, const fuzz_model *m, const char *text)
{
	bool got = netaddr_list_contains(l, text);
	fuzz_ip ip;
	if (!fuzz_addr_str(text, &ip)) {
		if (got)
			fuzz_fail("netaddr_list_contains: true for text that is not an address", text);
		return false;
	}
	if (l == NULL && got)
		fuzz_fail("netaddr_list_contains: true for an empty list", text);
	if (m->on && got != fuzz_model_has(m, &ip, text))
		fuzz_fail(got ? "netaddr_list_contains: true, but no prefix of the list covers it"
		              : "netaddr_list_contains: false, but a prefix of the list covers it",
		    text);
	char norm[INET6_ADDRSTRLEN + 8];
	fuzz_normal(&ip, norm, sizeof(norm));
	if (netaddr_list_contains(l, norm) != got)
		fuzz_fail("netaddr_list_contains: another answer for another spelling", text);
	if (ip.mapped) {
		/* the IPv4 and IPv4-mapped forms of one address */
		char other[INET6_ADDRSTRLEN + 8];
		if (ip.written_v4)
			snprintf(other, sizeof(other), "::ffff:%s", norm);
		else
			snprintf(other, sizeof(other), "%s", norm);
		if (netaddr_list_contains(l, other) != got)
			fuzz_fail("netaddr_list_contains: IPv4 and IPv4-mapped forms differ", text);
	}
	return got;
}

/* netaddr_key of one text, in a NETADDR_TEXT_MAX buffer and in a small one. */
static void fuzz_key(const char *text, size_t small_cap, const uint8_t *host)
{
	char *k = malloc(NETADDR_TEXT_MAX);
	char *ks = malloc(small_cap > 0 ? small_cap : 1);
	if (k == NULL || ks == NULL)
		abort();
	netaddr_key(text, k, NETADDR_TEXT_MAX);
	if (strnlen(k, NETADDR_TEXT_MAX) == NETADDR_TEXT_MAX)
		fuzz_fail("netaddr_key: unterminated within NETADDR_TEXT_MAX", text);
	netaddr_key(text, ks, small_cap);
	if (small_cap > 0 && strnlen(ks, small_cap) == small_cap)
		fuzz_fail("netaddr_key: unterminated within a small buffer", text);

	fuzz_ip ip;
	if (!fuzz_addr_str(text, &ip)) {
		/* "text that is not an address is copied as is" (as much as fits) */
		if (strncmp(k, text, NETADDR_TEXT_MAX - 1) != 0)
			fuzz_fail("netaddr_key: text that is not an address changed", text);
		goto out;
	}
	char want[NETADDR_TEXT_MAX];
	if (ip.mapped) {
		fuzz_normal(&ip, want, sizeof(want));
		if (strcmp(k, want) != 0) {
			fprintf(stderr, "fuzz_netaddr: key %s, want %s\n", k, want);
			fuzz_fail("netaddr_key: an IPv4 (or mapped) address is not keyed as its IPv4 text", text);
		}
		goto out;
	}
	size_t kl = strlen(k);
	fuzz_ip net;
	if (kl < 3 || strcmp(k + kl - 3, "/64") != 0 || !fuzz_addr(k, kl - 3, &net) || net.written_v4) {
		fprintf(stderr, "fuzz_netaddr: key %s\n", k);
		fuzz_fail("netaddr_key: an IPv6 address is not keyed as an IPv6 /64", text);
	}
	static const uint8_t zero[8];
	if (memcmp(net.b, ip.b, 8) != 0 || memcmp(net.b + 8, zero, 8) != 0) {
		fprintf(stderr, "fuzz_netaddr: key %s\n", k);
		fuzz_fail("netaddr_key: the /64 is not the address's, or has host bits", text);
	}
	char norm[INET6_ADDRSTRLEN];
	fuzz_normal(&net, norm, sizeof(norm));
	if (strlen(norm) != kl - 3 || strncmp(norm, k, kl - 3) != 0) {
		fprintf(stderr, "fuzz_netaddr: key %s\n", k);
		fuzz_fail("netaddr_key: the /64 is not in normal form (one key per /64)", text);
	}
	/* another address of the same /64 (not a mapped one: that is IPv4) */
	fuzz_ip o = ip;
	memcpy(o.b + 8, host, 8);
	if (memcmp(o.b, fuzz_v4_mapped, 12) != 0) {
		char otext[INET6_ADDRSTRLEN];
		char *k2 = malloc(NETADDR_TEXT_MAX);
		if (k2 == NULL)
			abort();
		if (inet_ntop(AF_INET6, o.b, otext, sizeof(otext)) == NULL)
			fuzz_fail("inet_ntop failed", text);
		netaddr_key(otext, k2, NETADDR_TEXT_MAX);
		if (strcmp(k, k2) != 0) {
			fprintf(stderr, "fuzz_netaddr: %s keyed %s, %s keyed %s\n", text, k, otext, k2);
			fuzz_fail("netaddr_key: two addresses of one /64 have different keys", text);
		}
		free(k2);
	}
out:
	free(ks);
	free(k);
}

/* ---- the input ---------------------------------------------------------------- */

typedef struct fuzz_hop {
	const char *s;
	size_t len;
} fuzz_hop;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	size_t small_cap = (size_t)(mode >> 2) % NETADDR_TEXT_MAX; /* 0..63 */
	char *buf = malloc(size); /* the parts, each ended by a NUL */
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	const char *part[2 + FUZZ_XFF_MAX];
	size_t nparts = 0;
	for (char *p = buf; nparts < 2 + FUZZ_XFF_MAX;) {
		part[nparts++] = p;
		p += strlen(p);
		if (p == buf + size - 1)
			break;
		p++;
	}
	const char *text = part[0];
	const char *peer = nparts > 1 ? part[1] : "";
	const char *const *xff = part + 2;
	size_t n = nparts > 2 ? nparts - 2 : 0;

	/* the list text the mode asks for */
	const char *extra = (mode & 3) == 1 ? peer : (mode & 3) == 2 ? "0.0.0.0/0,::/0" : NULL;
	size_t tl = strlen(text) + (extra != NULL ? strlen(extra) + 2 : 1);
	char *ltext = malloc(tl);
	if (ltext == NULL)
		abort();
	snprintf(ltext, tl, "%s%s%s", text, extra != NULL ? "," : "", extra != NULL ? extra : "");

	/* 1. the list */
	size_t why_cap = 1 + small_cap;
	char *why = malloc(why_cap);
	if (why == NULL)
		abort();
	netaddr_list *l = (netaddr_list *)(uintptr_t)1; /* must be overwritten */
	int rc = netaddr_list_parse(&l, ltext, why, why_cap);
	if (rc != 0 && rc != -1)
		fuzz_fail("netaddr_list_parse returned neither 0 nor -1", ltext);
	if (strnlen(why, why_cap) == why_cap)
		fuzz_fail("netaddr_list_parse: the reason is unterminated within its buffer", ltext);
	if (rc == -1 && (l != NULL || (why_cap > 1 && why[0] == '\0')))
		fuzz_fail("netaddr_list_parse: a refusal with a list or without a reason", ltext);
	if (rc == 0 && why[0] != '\0')
		fuzz_fail("netaddr_list_parse: success with a reason", ltext);
	bool all_good, any_bad;
	fuzz_list_judge(ltext, &all_good, &any_bad);
	if (all_good && rc != 0)
		fuzz_fail("netaddr_list_parse: refused a list of addresses and CIDR prefixes", ltext);
	if (any_bad && rc == 0)
		fuzz_fail("netaddr_list_parse: took an item that is not an address or CIDR prefix", ltext);
	if (rc != 0 && extra != NULL) {
		/* the added part alone, so these modes still trust something */
		rc = netaddr_list_parse(&l, extra, why, why_cap);
		snprintf(ltext, tl, "%s", extra);
	}
	if (rc != 0)
		l = NULL;

	/* the model of the list that was parsed */
	fuzz_model *m = calloc(1, sizeof(*m));
	if (m == NULL)
		abort();
	m->on = true; /* no list: the model trusts nothing */
	if (l != NULL)
		fuzz_model_build(m, ltext);

	/* 2. membership: the list's own addresses, and their neighbours */
	if (m->on) {
		for (size_t i = 0; i < m->n; i++) {
			const fuzz_item *it = &m->it[i];
			char a[INET6_ADDRSTRLEN + 8];
			fuzz_normal(&it->ip, a, sizeof(a));
			if (!fuzz_contains(l, m, a))
				fuzz_fail("netaddr_list_contains: a list does not contain its own address", a);
			/* the first host bit flipped: in or out exactly as the model says */
			if (it->v == FUZZ_GOOD && it->bits < 128) {
				fuzz_ip o = it->ip;
				o.b[it->bits / 8] ^= (uint8_t)(0x80u >> (it->bits % 8));
				o.mapped = memcmp(o.b, fuzz_v4_mapped, 12) == 0;
				fuzz_normal(&o, a, sizeof(a));
				fuzz_contains(l, m, a);
				/* and the last prefix bit */
				if (it->bits > 0) {
					o = it->ip;
					o.b[(it->bits - 1) / 8] ^= (uint8_t)(0x80u >> ((it->bits - 1) % 8));
					o.mapped = memcmp(o.b, fuzz_v4_mapped, 12) == 0;
					fuzz_normal(&o, a, sizeof(a));
					fuzz_contains(l, m, a);
				}
			}
		}
	}
	fuzz_contains(l, m, peer);

	/* 3. the client, as httpd asks: the model walks the hops first */
	fuzz_hop *hops = malloc(FUZZ_HOPS_MAX * sizeof(*hops));
	if (hops == NULL)
		abort();
	size_t nh = 0;
	bool walk_model = true;
	for (size_t k = 0; k < n; k++) {
		for (const char *s = xff[k];;) {
			size_t len = strcspn(s, ",");
			if (nh == FUZZ_HOPS_MAX) {
				walk_model = false;
				break;
			}
			hops[nh].len = len;
			hops[nh].s = fuzz_trim(s, &hops[nh].len);
			nh++;
			if (s[len] == '\0')
				break;
			s += len + 1;
		}
	}

	char *out = malloc(NETADDR_TEXT_MAX);
	char *outs = malloc(small_cap > 0 ? small_cap : 1);
	char *out0 = malloc(NETADDR_TEXT_MAX);
	if (out == NULL || outs == NULL || out0 == NULL)
		abort();
	netaddr_client(l, peer, xff, n, out, NETADDR_TEXT_MAX);
	if (strnlen(out, NETADDR_TEXT_MAX) == NETADDR_TEXT_MAX)
		fuzz_fail("netaddr_client: unterminated within NETADDR_TEXT_MAX", peer);
	netaddr_client(l, peer, xff, n, outs, small_cap);
	if (small_cap > 0 && strnlen(outs, small_cap) == small_cap)
		fuzz_fail("netaddr_client: unterminated within a small buffer", peer);
	netaddr_client(l, peer, NULL, 0, out0, NETADDR_TEXT_MAX);

	fuzz_ip cur;
	if (!fuzz_addr_str(peer, &cur)) {
		/* "peer itself": a peer that is not an address ("unknown") is copied */
		if (strncmp(out, peer, NETADDR_TEXT_MAX - 1) != 0 || strlen(out) != strnlen(peer, NETADDR_TEXT_MAX - 1))
			fuzz_fail("netaddr_client: a peer that is not an address was not kept as is", peer);
	} else {
		char want[NETADDR_TEXT_MAX], ptext[NETADDR_TEXT_MAX];
		fuzz_normal(&cur, ptext, sizeof(ptext));
		if (strcmp(out0, ptext) != 0)
			fuzz_fail("netaddr_client: without a header, the client is not the peer", peer);
		bool trusted = fuzz_contains(l, m, ptext);
		if (!trusted && strcmp(out, ptext) != 0) {
			fprintf(stderr, "fuzz_netaddr: client %s\n", out);
			fuzz_fail("netaddr_client: an untrusted peer's header was believed", peer);
		}
		/* the walk: from the nearest hop back while the current one is trusted */
		bool from_peer = true;
		if (walk_model) {
			for (size_t i = nh; i > 0 && trusted; i--) {
				fuzz_ip hop;
				if (!fuzz_addr(hops[i - 1].s, hops[i - 1].len, &hop))
					break;
				cur = hop;
				from_peer = false;
				char t[NETADDR_TEXT_MAX];
				fuzz_normal(&cur, t, sizeof(t));
				trusted = fuzz_contains(l, m, t);
			}
			fuzz_normal(&cur, want, sizeof(want));
			if (strcmp(out, want) != 0) {
				fprintf(stderr, "fuzz_netaddr: client %s, want %s (%s)\n", out, want,
				    from_peer ? "the peer" : "a hop");
				fuzz_fail("netaddr_client: not the client the walk reaches", peer);
			}
		}
		/* whatever the walk: an address, in normal form, the peer's or an item's */
		fuzz_ip got;
		char norm[NETADDR_TEXT_MAX];
		if (!fuzz_addr_str(out, &got))
			fuzz_fail("netaddr_client: the client is not an address", out);
		fuzz_normal(&got, norm, sizeof(norm));
		if (strcmp(norm, out) != 0)
			fuzz_fail("netaddr_client: the client is not in normal form", out);
		bool seen = strcmp(out, ptext) == 0;
		for (size_t i = 0; i < nh && !seen; i++) {
			fuzz_ip hop;
			seen = fuzz_addr(hops[i].s, hops[i].len, &hop) && memcmp(hop.b, got.b, 16) == 0;
		}
		if (!seen && walk_model)
			fuzz_fail("netaddr_client: the client is neither the peer nor an X-Forwarded-For item", out);
	}

	/* 4. keys: of the client (gw_ratelimit), the peer, the hops */
	const uint8_t *host = data + (size >= 9 ? size - 8 : 0);
	uint8_t hb[8] = { 0 };
	memcpy(hb, host, size >= 9 ? 8 : 0);
	fuzz_key(out, small_cap, hb);
	fuzz_key(peer, small_cap, hb);
	for (size_t i = 0; i < nh && i < 16; i++) {
		char h[160];
		if (hops[i].len < sizeof(h)) {
			memcpy(h, hops[i].s, hops[i].len);
			h[hops[i].len] = '\0';
			fuzz_key(h, small_cap, hb);
		}
	}

	free(out0);
	free(outs);
	free(out);
	free(hops);
	for (size_t i = 0; i < m->n; i++)
		netaddr_list_free(m->it[i].alone);
	free(m);
	netaddr_list_free(l);
	free(why);
	free(ltext);
	free(buf);
	return 0;
}
