#include "stopsig.h"

#include <pthread.h>

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
