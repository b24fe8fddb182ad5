/* Sockets in another network namespace: setns() moves only the calling
 * thread, which goes back to its own namespace before returning. */
#include "ctrl/net/xlisten.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

static int open_one(const struct xlisten_addr *a, uint16_t port, int type, struct p53_err *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char text[INET6_ADDRSTRLEN] = "?";
	memset(&ss, 0, sizeof(ss));
	if (a->family == 4) {
		struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		memcpy(&v4->sin_addr, a->addr, 4);
		len = sizeof(*v4);
		inet_ntop(AF_INET, a->addr, text, sizeof(text));
	} else {
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		memcpy(&v6->sin6_addr, a->addr, 16);
		len = sizeof(*v6);
		inet_ntop(AF_INET6, a->addr, text, sizeof(text));
	}
	const char *proto = type == SOCK_STREAM ? "tcp" : "udp";
	int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return p53_err_set(err, P53_EIO, "socket (%s): %s", proto, strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->family == 4) {
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	} else {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 1024) != 0)) {
		int e = errno;
		close(fd);
		return p53_err_set(err, P53_EIO, "listen %s port %u (%s): %s", text, port, proto,
				   strerror(e));
	}
	return fd;
}

int xlisten_open(const char *netns, const struct xlisten_addr *addrs, size_t n, uint16_t port,
		 int type, int *fds, struct p53_err *err)
{
	int home = -1, rc = 0;
	size_t done = 0;
	if (netns) {
		char path[512];
		snprintf(path, sizeof(path), "%s%s", strchr(netns, '/') ? "" : "/run/netns/",
			 netns);
		int target = open(path, O_RDONLY | O_CLOEXEC);
		if (target < 0)
			return p53_err_set(err, P53_EIO, "network namespace %s: %s", path,
					   strerror(errno));
		home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (home < 0 || setns(target, CLONE_NEWNET) != 0) {
			rc = p53_err_set(err, P53_EIO, "entering network namespace %s: %s", path,
					 strerror(errno));
			close(target);
			if (home >= 0)
				close(home);
			return rc;
		}
		close(target);
	}
	for (; done < n; done++) {
		int fd = open_one(&addrs[done], port, type, err);
		if (fd < 0) {
			rc = fd;
			break;
		}
		fds[done] = fd;
	}
	if (home >= 0) {
		/* Cannot fail for a namespace we were in; if it did, this
		 * thread would open everything later in the wrong place. */
		if (setns(home, CLONE_NEWNET) != 0 && rc == 0)
			rc = p53_err_set(err, P53_EIO, "leaving the network namespace: %s",
					 strerror(errno));
		close(home);
	}
	if (rc != 0)
		while (done > 0)
			close(fds[--done]);
	return rc;
}
