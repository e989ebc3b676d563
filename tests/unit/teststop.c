#include "teststop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "stopsig.h"

int teststop_silent_server(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void teststop_child_exit(int status, void *arg)
{
	(void)arg;
	_exit(status);
}

int teststop_in_child(int (*fn)(void *arg), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		on_exit(teststop_child_exit, NULL);
		exit(fn(arg));
	}
	int status = -1;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void *teststop_begin_main(void *arg)
{
	clock_sleep_ms((int64_t)(intptr_t)arg);
	stopsig_begin(SIGTERM);
	return NULL;
}

int teststop_begin_after(int ms)
{
	pthread_t t;
	if (pthread_create(&t, NULL, teststop_begin_main, (void *)(intptr_t)ms) != 0)
		return -1;
	pthread_detach(t);
	return 0;
}
