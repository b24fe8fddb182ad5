#include "ctrl/snap/cookiekeys.h"

#include "ctrl/snap/qsbr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYNC_TIMEOUT_MS 5000
#define FILE_MAX	4096

struct cookie_keys {
	p53_cookie_live live;
	struct qsbr *qsbr;
	const char *file;
	unsigned rotate_s;
	time_t rotated;
	struct stat seen; /* the file as last read */
};

static int publish(struct cookie_keys *k, const struct p53_cookie_secret *sec)
{
	struct p53_cookie_secret *n = malloc(sizeof(*n));
	if (n == NULL)
		return P53_ENOMEM;
	*n = *sec;
	const struct p53_cookie_secret *old =
	    atomic_exchange_explicit(&k->live, n, memory_order_acq_rel);
	/* A reader that never quiesces keeps the old secret alive: leak it
	 * rather than free it under the reader. */
	if (old && qsbr_synchronize(k->qsbr, SYNC_TIMEOUT_MS) == 0)
		free((void *)old);
	return 0;
}

static int rotate_random(struct cookie_keys *k, struct p53_err *err)
{
	struct p53_cookie_secret s = {0};
	const struct p53_cookie_secret *cur = atomic_load(&k->live);
	if (getrandom(s.cur, sizeof(s.cur), 0) != (ssize_t)sizeof(s.cur))
		return p53_err_set(err, P53_EIO, "cookie secret: getrandom: %s", strerror(errno));
	if (cur) {
		memcpy(s.prev, cur->cur, sizeof(s.prev));
		s.has_prev = true;
	}
	return publish(k, &s);
}

static int read_file(struct cookie_keys *k, struct p53_err *err)
{
	char buf[FILE_MAX + 1];
	int fd = open(k->file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return p53_err_set(err, P53_EIO, "%s: %s", k->file, strerror(errno));
	struct stat st;
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= FILE_MAX)
		n = read(fd, buf, FILE_MAX);
	close(fd);
	if (n < 0)
		return p53_err_set(err, P53_EINVAL, "%s: not a regular file of at most %d bytes",
				   k->file, FILE_MAX);
	buf[n] = 0;
	/* Never echo the file: it holds a secret. */
	struct p53_cookie_secret s = {0};
	char *save = NULL, *line = strtok_r(buf, "\r\n", &save);
	if (line == NULL || p53_cookie_secret_parse(line, s.cur) != 0)
		return p53_err_set(err, P53_EINVAL, "%s:1: want 32 hex digits", k->file);
	if ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		if (p53_cookie_secret_parse(line, s.prev) != 0)
			return p53_err_set(err, P53_EINVAL, "%s:2: want 32 hex digits", k->file);
		s.has_prev = true;
	}
	if (strtok_r(NULL, "\r\n", &save) != NULL)
		return p53_err_set(err, P53_EINVAL, "%s:3: at most two secrets", k->file);
	k->seen = st;
	return publish(k, &s);
}

struct cookie_keys *cookie_keys_new(const struct cookie_keys_cfg *cfg, struct qsbr *q,
				    struct p53_err *err)
{
	struct cookie_keys *k = calloc(1, sizeof(*k));
	if (k == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	atomic_init(&k->live, NULL);
	k->qsbr = q;
	k->file = cfg->secret_file;
	k->rotate_s = cfg->rotate_s ? cfg->rotate_s : COOKIE_ROTATE_DEFAULT_S;
	k->rotated = time(NULL);
	if ((k->file ? read_file(k, err) : rotate_random(k, err)) != 0) {
		cookie_keys_free(k);
		return NULL;
	}
	return k;
}

void cookie_keys_free(struct cookie_keys *k)
{
	if (k == NULL)
		return;
	free((void *)atomic_load(&k->live));
	free(k);
}

const p53_cookie_live *cookie_keys_live(struct cookie_keys *k)
{
	return &k->live;
}

int cookie_keys_tick(struct cookie_keys *k, time_t now, struct p53_err *err)
{
	if (k->file) {
		struct stat st;
		if (stat(k->file, &st) != 0)
			return p53_err_set(err, P53_EIO, "%s: %s", k->file, strerror(errno));
		if (st.st_mtim.tv_sec == k->seen.st_mtim.tv_sec &&
		    st.st_mtim.tv_nsec == k->seen.st_mtim.tv_nsec && st.st_ino == k->seen.st_ino &&
		    st.st_size == k->seen.st_size)
			return 0;
		int rc = read_file(k, err);
		if (rc != 0) {
			k->seen = st; /* say it once per change */
			return rc;
		}
		return 1;
	}
	if (now - k->rotated < (time_t)k->rotate_s)
		return 0;
	k->rotated = now;
	int rc = rotate_random(k, err);
	return rc ? rc : 1;
}
