/* testhttp: see testhttp.h. */
#include "testhttp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

char *testhttp_exchange(int port, const char *raw, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return NULL;
	/* a hung server fails the test instead of hanging it */
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return NULL;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = send(fd, raw + off, len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	size_t cap = 8192, n = 0;
	char *out = malloc(cap);
	while (out != NULL) {
		if (n + 1 >= cap) {
			char *bigger = realloc(out, cap * 2);
			if (bigger == NULL)
				break;
			out = bigger;
			cap *= 2;
		}
		ssize_t r = recv(fd, out + n, cap - n - 1, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (out != NULL)
		out[n] = '\0';
	close(fd);
	return out;
}

char *testhttp_request(int port, const char *method, const char *target, const char *extra_headers,
    const char *body)
{
	size_t blen = body != NULL ? strlen(body) : 0;
	size_t cap = blen + strlen(target) + (extra_headers != NULL ? strlen(extra_headers) : 0) + 256;
	char *raw = malloc(cap);
	if (raw == NULL)
		return NULL;
	int n = snprintf(raw, cap, "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s", method, target,
	    extra_headers != NULL ? extra_headers : "");
	if (body != NULL)
		n += snprintf(raw + n, cap - (size_t)n, "Content-Length: %zu\r\n", blen);
	n += snprintf(raw + n, cap - (size_t)n, "\r\n");
	if (body != NULL) {
		memcpy(raw + n, body, blen);
		n += (int)blen;
	}
	char *resp = testhttp_exchange(port, raw, (size_t)n);
	free(raw);
	return resp;
}

int testhttp_status(const char *resp)
{
	return resp != NULL && strncmp(resp, "HTTP/1.1 ", 9) == 0 ? atoi(resp + 9) : -1;
}

const char *testhttp_header(const char *resp, const char *name, char *dst, size_t cap)
{
	dst[0] = '\0';
	if (resp == NULL)
		return dst;
	const char *end = strstr(resp, "\r\n\r\n");
	size_t nl = strlen(name);
	for (const char *p = strstr(resp, "\r\n"); p != NULL && (end == NULL || p < end); p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == ' ')
				v++;
			size_t n = strcspn(v, "\r");
			if (n >= cap)
				n = cap - 1;
			memcpy(dst, v, n);
			dst[n] = '\0';
			return dst;
		}
	}
	return dst;
}

const char *testhttp_body(const char *resp)
{
	const char *p = resp != NULL ? strstr(resp, "\r\n\r\n") : NULL;
	return p != NULL ? p + 4 : "";
}
