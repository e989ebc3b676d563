#include "stopsig.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* When the stop began (clock_mono_us, at least 1), 0 while it has not. */
static atomic_int_least64_t stopsig_began_us;
static atomic_int stopsig_signo;

/* Readable from the moment the stop begins, and for good (never read), so
 * that a thread blocked in poll on a server's socket wakes at once: an
 * eventfd, made on first use. -1 if it could not be made: waits then look
 * at the stop every STOPSIG_SLICE_MS instead. */
static int stopsig_event = -1;
static pthread_once_t stopsig_event_once = PTHREAD_ONCE_INIT;
#define STOPSIG_SLICE_MS 100

static void stopsig_event_init(void)
{
	stopsig_event = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

static int stopsig_event_fd(void)
{
	pthread_once(&stopsig_event_once, stopsig_event_init);
	return stopsig_event;
}

/* The watching thread. */
static pthread_t stopsig_watcher;
static bool stopsig_watching;           /* main thread only */
static sigset_t stopsig_watched;
static atomic_bool stopsig_unwatching;

void stopsig_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int stopsig_wait(const sigset_t *set)
{
	int sig = 0;
	/* sigwait returns an error number only for an invalid set; retrying
	 * keeps the contract "returns a stop signal" whatever happens. */
	while (sigwait(set, &sig) != 0) {
	}
	return sig;
}

static void *stopsig_watch_main(void *arg)
{
	(void)arg;
	int sig = stopsig_wait(&stopsig_watched);
	/* stopsig_unwatch's own wake-up is not a stop */
	if (!atomic_load(&stopsig_unwatching))
		stopsig_begin(sig);
	return NULL;
}

int stopsig_watch(const sigset_t *set)
{
	(void)stopsig_event_fd();
	stopsig_watched = *set;
	if (pthread_create(&stopsig_watcher, NULL, stopsig_watch_main, NULL) != 0) {
		log_printf(LOG_ERROR, "cannot start the thread that takes the stop signals");
		return -1;
	}
	stopsig_watching = true;
	return 0;
}

void stopsig_unwatch(void)
{
	if (!stopsig_watching)
		return;
	atomic_store(&stopsig_unwatching, true);
	/* The signals are blocked in every thread: one sent to the watcher is
	 * taken by its sigwait (or, once it has returned, by nobody). */
	pthread_kill(stopsig_watcher, SIGTERM);
	pthread_join(stopsig_watcher, NULL);
	stopsig_watching = false;
}

void stopsig_begin(int sig)
{
	/* The signal first, so that whoever sees the stop begun finds it; the
	 * first one stays. */
	int no_signal = 0;
	if (sig != 0)
		atomic_compare_exchange_strong(&stopsig_signo, &no_signal, sig);
	int64_t now = clock_mono_us();
	int_least64_t not_begun = 0;
	if (!atomic_compare_exchange_strong(&stopsig_began_us, &not_begun, now > 0 ? now : 1))
		return;
	int fd = stopsig_event_fd();
	if (fd >= 0) {
		uint64_t one = 1;
		/* a full counter would already be readable: nothing to check */
		(void)!write(fd, &one, sizeof(one));
	}
}

bool stopsig_stopping(void)
{
	return atomic_load(&stopsig_began_us) != 0;
}

int64_t stopsig_limit(int64_t until_us)
{
	int64_t began = atomic_load(&stopsig_began_us);
	if (began == 0)
		return until_us;
	int64_t end = began + (int64_t)STOPSIG_GRACE_MS * 1000;
	return until_us != 0 && until_us < end ? until_us : end;
}

bool stopsig_grace_over(void)
{
	return stopsig_stopping() && clock_mono_us() >= stopsig_limit(0);
}

/* Milliseconds for poll until `limit` (0: none, -1), at most cap (> 0; -1:
 * no cap). */
static int stopsig_ms_until(int64_t limit, int cap)
{
	if (limit == 0)
		return cap;
	int64_t left = limit - clock_mono_us();
	if (left <= 0)
		return 0;
	int64_t ms = (left + 999) / 1000;
	if (cap >= 0 && ms > cap)
		return cap;
	return ms > 60000 ? 60000 : (int)ms;
}

int stopsig_poll_fds(struct pollfd *fds, size_t n, int64_t until_us)
{
	if (n > STOPSIG_POLL_MAX) {
		errno = EINVAL;
		return -1;
	}
	int ev = stopsig_event_fd();
	struct pollfd p[STOPSIG_POLL_MAX + 1];
	for (size_t i = 0; i < n; i++)
		fds[i].revents = 0;
	for (;;) {
		bool stopping = stopsig_stopping();
		int64_t limit = stopsig_limit(until_us);
		if (limit != 0 && clock_mono_us() >= limit)
			return 0;
		memcpy(p, fds, n * sizeof(*fds));
		/* Once stopping, the event is always readable: only the limit
		 * matters then. Without one, look at the stop every slice. */
		nfds_t all = (nfds_t)n;
		if (!stopping && ev >= 0)
			p[all++] = (struct pollfd){ .fd = ev, .events = POLLIN };
		int ms = stopsig_ms_until(limit, !stopping && ev < 0 ? STOPSIG_SLICE_MS : -1);
		int rc = poll(p, all, ms);
		if (rc < 0 && errno != EINTR)
			return -1;
		int ready = 0;
		for (size_t i = 0; rc > 0 && i < n; i++) {
			fds[i].revents = p[i].revents;
			ready += p[i].revents != 0;
		}
		if (ready > 0)
			return ready;
	}
}

int stopsig_poll(int fd, short events, int64_t until_us)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc = stopsig_poll_fds(&p, 1, until_us);
	return rc > 0 ? 1 : rc;
}

bool stopsig_sleep(int ms)
{
	int ev = stopsig_event_fd();
	int64_t until = clock_mono_us() + (int64_t)ms * 1000;
	while (!stopsig_stopping()) {
		int wait = stopsig_ms_until(until, ev < 0 ? STOPSIG_SLICE_MS : -1);
		if (wait == 0 && clock_mono_us() >= until)
			return true;
		struct pollfd p = { .fd = ev, .events = POLLIN };
		if (ev >= 0)
			(void)poll(&p, 1, wait);
		else
			clock_sleep_ms(wait);
	}
	return false;
}

int stopsig_await(void)
{
	int ev = stopsig_event_fd();
	while (!stopsig_stopping()) {
		struct pollfd p = { .fd = ev, .events = POLLIN };
		if (ev >= 0)
			(void)poll(&p, 1, -1);
		else
			clock_sleep_ms(STOPSIG_SLICE_MS);
	}
	return atomic_load(&stopsig_signo);
}
