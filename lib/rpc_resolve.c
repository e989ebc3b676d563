#include "rpc_resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

bool rpc_addrs_has(const rpc_addrs *a, const char *url)
{
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->urls[i], url) == 0)
			return true;
	return false;
}

bool rpc_addrs_add(rpc_addrs *a, const char *url)
{
	size_t len = strlen(url);
	if (len >= RPC_URL_MAX)
		return false;
	int at = 0;
	while (at < a->n && strcmp(a->urls[at], url) < 0)
		at++;
	if (at < a->n && strcmp(a->urls[at], url) == 0)
		return true;
	if (a->n >= RPC_RESOLVE_MAX)
		return false;
	memmove(a->urls[at + 1], a->urls[at], (size_t)(a->n - at) * sizeof(a->urls[0]));
	memcpy(a->urls[at], url, len + 1);
	a->n++;
	return true;
}

bool rpc_url_named_host(const char *url, char *host, size_t hcap, char *port, size_t pcap)
{
	static const char scheme[] = "tcp://";
	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return false;
	const char *h = url + sizeof(scheme) - 1;
	if (*h == '[')  /* "[v6]:port": always a literal */
		return false;
	const char *colon = strrchr(h, ':');
	if (colon == NULL || colon == h || colon[1] == '\0')
		return false;
	size_t hlen = (size_t)(colon - h), plen = strlen(colon + 1);
	if (hlen >= hcap || plen >= pcap || memchr(h, '/', hlen) != NULL)
		return false;
	for (const char *p = colon + 1; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return false;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memcpy(port, colon + 1, plen + 1);
	struct in_addr v4;
	return strcmp(host, "*") != 0 && inet_pton(AF_INET, host, &v4) != 1;
}

int rpc_resolve_getaddrinfo(const char *host, const char *port, rpc_addrs *out)
{
	out->n = 0;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		char ip[INET6_ADDRSTRLEN], url[RPC_URL_MAX];
		if (ai->ai_family == AF_INET) {
			const struct sockaddr_in *sa = (const struct sockaddr_in *)ai->ai_addr;
			inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
			snprintf(url, sizeof(url), "tcp://%s:%s", ip, port);
		} else if (ai->ai_family == AF_INET6) {
			const struct sockaddr_in6 *sa = (const struct sockaddr_in6 *)ai->ai_addr;
			inet_ntop(AF_INET6, &sa->sin6_addr, ip, sizeof(ip));
			snprintf(url, sizeof(url), "tcp://[%s]:%s", ip, port);
		} else {
			continue;
		}
		rpc_addrs_add(out, url);
	}
	freeaddrinfo(res);
	return out->n > 0 ? 0 : -1;
}
