/* NOTIFY over UDP for port53d (see notifyd.h). One thread, one poll over
 * the sockets and a pipe that stops it; NOTIFY is rare, so a message at a
 * time is enough. */
#include "ctrl/xfr/notifyd.h"

#include "ctrl/net/ksock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 64

struct notifyd {
	struct notifyd_cfg cfg;
	int fds[MAX_FDS];
	int stop_pipe[2];
	pthread_t thread;
	bool running;
	uint64_t received, answered, not_notify;
};

static void take(struct notifyd *n, int fd)
{
	uint8_t q[65535], r[4096];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	ssize_t len = recvfrom(fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
	if (len <= 0)
		return;
	__atomic_add_fetch(&n->received, 1, __ATOMIC_RELAXED);
	struct p53_client c;
	ksock_client(&ss, P53_UDP, &c);
	size_t rl = 0;
	/* xfrin_notify answers opcode NOTIFY requests only. */
	if (c.port == 0 || !xfrin_notify(n->cfg.xfrin, q, (size_t)len, &c, r, sizeof(r), &rl)) {
		__atomic_add_fetch(&n->not_notify, 1, __ATOMIC_RELAXED);
		return;
	}
	if (rl && sendto(fd, r, rl, 0, (const struct sockaddr *)&ss, sl) == (ssize_t)rl)
		__atomic_add_fetch(&n->answered, 1, __ATOMIC_RELAXED);
}

static void *notifyd_main(void *arg)
{
	struct notifyd *n = arg;
	struct pollfd p[MAX_FDS + 1];
	size_t np = n->cfg.nfds;
	for (size_t i = 0; i < np; i++)
		p[i] = (struct pollfd){.fd = n->fds[i], .events = POLLIN};
	p[np] = (struct pollfd){.fd = n->stop_pipe[0], .events = POLLIN};
	for (;;) {
		int k = poll(p, np + 1, -1);
		if (k < 0 && errno != EINTR)
			break;
		if (k <= 0)
			continue;
		if (p[np].revents)
			break;
		for (size_t i = 0; i < np; i++)
			if (p[i].revents & POLLIN)
				take(n, p[i].fd);
	}
	return NULL;
}

static int spawn_default(pthread_t *th, const char *name, void *(*fn)(void *), void *arg)
{
	(void)name;
	return pthread_create(th, NULL, fn, arg);
}

struct notifyd *notifyd_start(const struct notifyd_cfg *cfg, struct p53_err *err)
{
	struct notifyd *n = calloc(1, sizeof(*n));
	if (n == NULL || cfg->nfds > MAX_FDS || cfg->xfrin == NULL) {
		p53_err_set(err, n ? P53_EINVAL : P53_ENOMEM,
			    n ? "NOTIFY listener: bad settings" : "out of memory");
		for (size_t i = 0; i < cfg->nfds; i++)
			close(cfg->fds[i]);
		free(n);
		return NULL;
	}
	n->cfg = *cfg;
	n->cfg.fds = NULL;
	for (size_t i = 0; i < cfg->nfds; i++)
		n->fds[i] = cfg->fds[i];
	n->stop_pipe[0] = n->stop_pipe[1] = -1;
	int (*spawn)(pthread_t *, const char *, void *(*)(void *), void *) =
	    cfg->spawn ? cfg->spawn : spawn_default;
	if (pipe2(n->stop_pipe, O_CLOEXEC) != 0) {
		p53_err_set(err, P53_EIO, "NOTIFY listener: pipe: %s", strerror(errno));
		goto fail;
	}
	if (spawn(&n->thread, "p53-notify-udp", notifyd_main, n) != 0) {
		p53_err_set(err, P53_EIO, "NOTIFY listener: cannot start its thread");
		goto fail;
	}
	n->running = true;
	return n;
fail:
	notifyd_stop(n);
	return NULL;
}

void notifyd_stop(struct notifyd *n)
{
	if (n == NULL)
		return;
	if (n->running) {
		ssize_t w = write(n->stop_pipe[1], "x", 1);
		(void)w;
		pthread_join(n->thread, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (n->stop_pipe[i] >= 0)
			close(n->stop_pipe[i]);
	for (size_t i = 0; i < n->cfg.nfds; i++)
		close(n->fds[i]);
	free(n);
}

void notifyd_counters(const struct notifyd *n, api_emit_fn emit, void *sink)
{
	if (n == NULL)
		return;
	emit(sink, "notify_udp", "event", "received", 0,
	     __atomic_load_n(&n->received, __ATOMIC_RELAXED));
	emit(sink, "notify_udp", "event", "answered", 0,
	     __atomic_load_n(&n->answered, __ATOMIC_RELAXED));
	emit(sink, "notify_udp", "event", "not_notify", 0,
	     __atomic_load_n(&n->not_notify, __ATOMIC_RELAXED));
}
