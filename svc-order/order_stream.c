#include "order_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "stopsig.h"

/* The vtable's type: not one of the driver's (1..7); the driver compares
 * it only between streams given to one poll, which are all ours. */
#define ORDER_STREAM_TYPE 100

typedef struct order_stream {
	mongoc_stream_t vtable;  /* first: the driver holds a mongoc_stream_t * */
	int fd;                  /* -1 once closed */
	int err;                 /* errno of the last failed call (timed_out, should_retry) */
} order_stream;

/* A wait's end for the driver's timeout_msec: < 0 none (0 for stopsig),
 * 0 "do not wait" (now), else now + timeout. */
static int64_t order_stream_until(int32_t timeout_msec)
{
	if (timeout_msec < 0)
		return 0;
	return clock_mono_us() + (int64_t)timeout_msec * 1000;
}

static bool order_stream_again(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == EINPROGRESS;
}

/* Waits for events on s, as the driver's socket does between two tries:
 * true when ready; false with s->err ETIMEDOUT (EAGAIN for a wait of 0)
 * when the time, or the stop's grace, is up. */
static bool order_stream_wait(order_stream *s, short events, int32_t timeout_msec, int64_t until)
{
	int rc = timeout_msec == 0 ? 0 : stopsig_poll(s->fd, events, until);
	if (rc > 0)
		return true;
	s->err = rc < 0 ? errno : timeout_msec != 0 ? ETIMEDOUT : EAGAIN;
	return false;
}

/* The driver's socket stream's contract (mongoc-stream-socket.c): reads
 * into iov until min_bytes have come (or iov is full), waiting up to
 * timeout_msec; on a failure or the timeout, what was read if that is at
 * least min_bytes, else -1 (errno set). iov is advanced in place, as the
 * driver's own stream does. */
static ssize_t order_stream_readv(mongoc_stream_t *stream, mongoc_iovec_t *iov, size_t iovcnt, size_t min_bytes,
    int32_t timeout_msec)
{
	order_stream *s = (order_stream *)stream;
	int64_t until = order_stream_until(timeout_msec);
	ssize_t ret = 0;
	size_t cur = 0;
	while (cur < iovcnt) {
		ssize_t n = s->fd >= 0 ? recv(s->fd, iov[cur].iov_base, iov[cur].iov_len, 0) : -1;
		if (n < 0) {
			s->err = s->fd >= 0 ? errno : EBADF;
			if (order_stream_again(s->err) && order_stream_wait(s, POLLIN, timeout_msec, until))
				continue;
		} else {
			s->err = 0;
		}
		if (n <= 0) {
			if (ret >= (ssize_t)min_bytes)
				return ret;
			errno = s->err;
			return -1;
		}
		ret += n;
		while (cur < iovcnt && (size_t)n >= iov[cur].iov_len)
			n -= (ssize_t)iov[cur++].iov_len;
		if (cur == iovcnt || ret >= (ssize_t)min_bytes)
			break;
		iov[cur].iov_base = (char *)iov[cur].iov_base + n;
		iov[cur].iov_len -= (size_t)n;
	}
	return ret;
}

/* The driver's mongoc_socket_sendv: sends all of iov, waiting up to
 * timeout_msec for room; returns what was sent when the time is up, -1 on
 * an error (errno set). */
static ssize_t order_stream_writev(mongoc_stream_t *stream, mongoc_iovec_t *iov, size_t iovcnt, int32_t timeout_msec)
{
	order_stream *s = (order_stream *)stream;
	int64_t until = order_stream_until(timeout_msec);
	ssize_t ret = 0;
	size_t cur = 0;
	while (cur < iovcnt) {
		struct msghdr m = { .msg_iov = &iov[cur], .msg_iovlen = iovcnt - cur };
		ssize_t n = s->fd >= 0 ? sendmsg(s->fd, &m, MSG_NOSIGNAL) : -1;
		if (n < 0) {
			s->err = s->fd >= 0 ? errno : EBADF;
			if (!order_stream_again(s->err)) {
				errno = s->err;
				return -1;
			}
			if (!order_stream_wait(s, POLLOUT, timeout_msec, until))
				return ret;
			continue;
		}
		s->err = 0;
		ret += n;
		while (cur < iovcnt && (size_t)n >= iov[cur].iov_len)
			n -= (ssize_t)iov[cur++].iov_len;
		if (cur < iovcnt) {
			iov[cur].iov_base = (char *)iov[cur].iov_base + n;
			iov[cur].iov_len -= (size_t)n;
		}
	}
	return ret;
}

/* The driver polls its streams while it waits for a hello (the topology
 * scan of a single-threaded client). Once the stop's grace is over, every
 * stream reports an error: the driver would otherwise poll again at once,
 * its own timeout not yet reached, until that timeout. */
static ssize_t order_stream_poll(mongoc_stream_poll_t *streams, size_t nstreams, int32_t timeout_msec)
{
	struct pollfd fds[STOPSIG_POLL_MAX];
	if (nstreams > STOPSIG_POLL_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < nstreams; i++)
		fds[i] = (struct pollfd){ .fd = ((order_stream *)streams[i].stream)->fd, .events = (short)streams[i].events };
	int rc = timeout_msec == 0 ? poll(fds, (nfds_t)nstreams, 0)
	                           : stopsig_poll_fds(fds, nstreams, order_stream_until(timeout_msec));
	if (rc == 0 && stopsig_grace_over()) {
		for (size_t i = 0; i < nstreams; i++)
			fds[i].revents = POLLERR;
		rc = (int)nstreams;
	}
	for (size_t i = 0; rc > 0 && i < nstreams; i++)
		streams[i].revents = fds[i].revents;
	return rc;
}

static int order_stream_close(mongoc_stream_t *stream)
{
	order_stream *s = (order_stream *)stream;
	int rc = s->fd >= 0 ? close(s->fd) : 0;
	s->fd = -1;
	return rc;
}

static void order_stream_destroy(mongoc_stream_t *stream)
{
	order_stream_close(stream);
	free(stream);
}

static int order_stream_flush(mongoc_stream_t *stream)
{
	(void)stream;
	return 0;
}

static int order_stream_setsockopt(mongoc_stream_t *stream, int level, int optname, void *optval,
    mongoc_socklen_t optlen)
{
	order_stream *s = (order_stream *)stream;
	return setsockopt(s->fd, level, optname, optval, optlen);
}

/* As mongoc_socket_check_closed: readable, and a peek finds nothing. */
static bool order_stream_check_closed(mongoc_stream_t *stream)
{
	order_stream *s = (order_stream *)stream;
	if (s->fd < 0)
		return true;
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	if (poll(&p, 1, 0) <= 0)
		return false;
	char c;
	return recv(s->fd, &c, 1, MSG_PEEK) < 1;
}

static bool order_stream_timed_out(mongoc_stream_t *stream)
{
	return ((order_stream *)stream)->err == ETIMEDOUT;
}

static bool order_stream_should_retry(mongoc_stream_t *stream)
{
	return order_stream_again(((order_stream *)stream)->err);
}

static mongoc_stream_t *order_stream_new(int fd)
{
	order_stream *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->fd = fd;
	s->vtable.type = ORDER_STREAM_TYPE;
	s->vtable.destroy = order_stream_destroy;
	s->vtable.failed = order_stream_destroy;
	s->vtable.close = order_stream_close;
	s->vtable.flush = order_stream_flush;
	s->vtable.writev = order_stream_writev;
	s->vtable.readv = order_stream_readv;
	s->vtable.setsockopt = order_stream_setsockopt;
	s->vtable.check_closed = order_stream_check_closed;
	s->vtable.poll = order_stream_poll;
	s->vtable.timed_out = order_stream_timed_out;
	s->vtable.should_retry = order_stream_should_retry;
	/* get_base_stream NULL: this is the root the driver polls */
	return &s->vtable;
}

/* A non-blocking TCP connection to a, within until (and the stop); the
 * descriptor or -1 (errno). */
static int order_stream_connect_one(const struct addrinfo *a, int64_t until)
{
	int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
	if (fd < 0)
		return -1;
	int rc = connect(fd, a->ai_addr, a->ai_addrlen);
	if (rc != 0 && errno == EINPROGRESS) {
		int w = stopsig_poll(fd, POLLOUT, until);
		int err = 0;
		socklen_t len = sizeof(err);
		if (w <= 0)
			err = w == 0 ? ETIMEDOUT : errno;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		rc = err == 0 ? 0 : -1;
		errno = err;
	}
	if (rc != 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	/* As the driver's own sockets: small commands go out at once, and a
	 * peer that vanished is noticed. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	return fd;
}

mongoc_stream_t *order_stream_initiator(const mongoc_uri_t *uri, const mongoc_host_list_t *host, void *user_data,
    bson_error_t *error)
{
	(void)user_data;
	if (host->family == AF_UNIX) {
		/* order_stream_use leaves such a client the driver's streams */
		bson_set_error(error, MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_INVALID_TYPE,
		    "stop-aware streams are TCP only: %s", host->host_and_port);
		return NULL;
	}
	int32_t connect_ms = mongoc_uri_get_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 10000);
	int64_t until = clock_mono_us() + (int64_t)(connect_ms > 0 ? connect_ms : 10000) * 1000;
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)host->port);
	struct addrinfo hints = { .ai_family = host->family == AF_INET || host->family == AF_INET6 ? host->family : AF_UNSPEC,
		.ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP };
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host->host, port, &hints, &res);
	if (gai != 0) {
		bson_set_error(error, MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_NAME_RESOLUTION,
		    "Failed to resolve '%s': %s", host->host, gai_strerror(gai));
		return NULL;
	}
	int fd = -1, err = 0;
	for (const struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
		fd = order_stream_connect_one(a, until);
		err = fd < 0 ? errno : 0;
	}
	freeaddrinfo(res);
	mongoc_stream_t *stream = fd >= 0 ? order_stream_new(fd) : NULL;
	if (stream == NULL) {
		if (fd >= 0)
			close(fd);
		bson_set_error(error, MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_CONNECT,
		    "Failed to connect to target host: %s (%s)", host->host_and_port, strerror(fd >= 0 ? ENOMEM : err));
	}
	return stream;
}

void order_stream_use(mongoc_client_t *client)
{
	/* TLS and UNIX sockets are the driver's to open (its default initiator
	 * is not public in 1.23, so it cannot be called for them from ours). */
	const mongoc_uri_t *uri = mongoc_client_get_uri(client);
	if (mongoc_uri_get_tls(uri))
		return;
	for (const mongoc_host_list_t *h = mongoc_uri_get_hosts(uri); h != NULL; h = h->next)
		if (h->family == AF_UNIX)
			return;
	mongoc_client_set_stream_initiator(client, order_stream_initiator, NULL);
}
