/* BIRD control-socket client (see bird.h). */
#include "tools/bird.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

struct reader {
	int fd;
	char buf[8192];
	size_t n;
};

/* Next line without its newline into line; 0, or -1 on error / EOF. */
static int next_line(struct reader *r, char *line, size_t cap)
{
	for (;;) {
		char *nl = memchr(r->buf, '\n', r->n);
		if (nl) {
			size_t len = (size_t)(nl - r->buf);
			size_t k = len < cap - 1 ? len : cap - 1;
			memcpy(line, r->buf, k);
			line[k] = 0;
			memmove(r->buf, nl + 1, r->n - len - 1);
			r->n -= len + 1;
			return 0;
		}
		if (r->n == sizeof(r->buf))
			r->n = 0; /* a line longer than the buffer: drop its start */
		ssize_t got = read(r->fd, r->buf + r->n, sizeof(r->buf) - r->n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		r->n += (size_t)got;
	}
}

static bool is_code(const char *l)
{
	for (int i = 0; i < 4; i++)
		if (l[i] < '0' || l[i] > '9')
			return false;
	return true;
}

/* Reads one reply; its final code, or -1 when the socket failed. */
static int read_reply(struct reader *r, char *out, size_t cap)
{
	char line[1024];
	size_t o = 0;
	out[0] = 0;
	while (next_line(r, line, sizeof(line)) == 0) {
		const char *text = line;
		bool final = false;
		int code = 0;
		if (strlen(line) >= 5 && is_code(line) && (line[4] == ' ' || line[4] == '-')) {
			code = atoi(line);
			final = line[4] == ' ';
			text = line + 5;
		} else if (line[0] == ' ') {
			text = line + 1;
		}
		if (*text && o + 3 < cap)
			o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "; " : "", text);
		if (final)
			return code;
	}
	snprintf(out, cap, "connection closed: %s", errno ? strerror(errno) : "end of file");
	return -1;
}

int bird_cmd(const char *path, const char *cmd, unsigned timeout_ms, char *out, size_t cap)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(out, cap, "socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	struct reader r = {.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
	if (r.fd < 0) {
		snprintf(out, cap, "socket: %s", strerror(errno));
		return -1;
	}
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	setsockopt(r.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(r.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int rc = -1;
	char line[512];
	if (connect(r.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(out, cap, "%s: %s", path, strerror(errno));
		goto out;
	}
	errno = 0;
	if (read_reply(&r, out, cap) != 1) { /* the greeting, code 0001 */
		snprintf(line, sizeof(line), "%s", out);
		snprintf(out, cap, "%s: no BIRD greeting (%s)", path, line);
		goto out;
	}
	int n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (n <= 0 || (size_t)n >= sizeof(line) || write(r.fd, line, (size_t)n) != n) {
		snprintf(out, cap, "%s: cannot send the command: %s", path, strerror(errno));
		goto out;
	}
	errno = 0;
	int code = read_reply(&r, out, cap);
	rc = code >= 0 && code < 8000 ? 0 : -1;
out:
	close(r.fd);
	return rc;
}
