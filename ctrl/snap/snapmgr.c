/* Snapshot manager (see snapmgr.h).
 *
 * One mutex serialises writers (API pushes, SIGHUP, a watcher) for the whole
 * load. A second one, the view lock, is taken by everyone who reads the live
 * snapshot without being a registered reader (status, metrics) and by the
 * writer only around the pointer exchange and the statistics: a viewer
 * holding it keeps the writer from retiring the snapshot it looks at, and a
 * load that is still reading a large file or waiting for readers never
 * delays a viewer. Readers take no part in either: they see the old or the
 * new struct snapmgr_live, each complete, because the pointer is published
 * with one release store after everything it points to is built.
 *
 * If readers do not pass a quiescent state in time (a stuck worker), the old
 * snapshot cannot be freed safely; it goes on a retired list that the next
 * successful grace period frees. Leaking beats a use-after-free.
 */
#include "ctrl/snap/snapmgr.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RETIRED_MAX 8

struct snapmgr {
	_Atomic(struct snapmgr_live *) live;
	struct snapmgr_cfg cfg;
	struct p53_keyring *keys;
	pthread_mutex_t lock;  /* writers */
	pthread_mutex_t vlock; /* viewers, and the exchange */
	uint64_t generation;
	struct snapmgr_stats st;
	unsigned nretired;
	struct snapmgr_live *retired[RETIRED_MAX];
};

static int64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void live_free(struct snapmgr *m, struct snapmgr_live *l)
{
	if (l == NULL)
		return;
	if (m->cfg.destroy && l->state)
		m->cfg.destroy(m->cfg.arg, l->state);
	p53_snapshot_free((struct p53_snapshot *)l->snap);
	free(l);
}

struct snapmgr *snapmgr_new(const struct snapmgr_cfg *cfg, struct p53_err *err)
{
	if (cfg->qsbr == NULL) {
		p53_err_set(err, P53_EINVAL, "snapshot manager needs a QSBR implementation");
		return NULL;
	}
	struct snapmgr *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	m->cfg = *cfg;
	if (m->cfg.sync_timeout_ms == 0)
		m->cfg.sync_timeout_ms = 10000;
	/* The key paths belong to the caller; only the keys are kept. */
	m->cfg.trusted_keys = NULL;
	m->cfg.ntrusted = 0;
	atomic_init(&m->live, NULL);
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->vlock, NULL);
	if (m->cfg.max_bytes == 0)
		m->cfg.max_bytes = (uint64_t)4 << 30;
	if (cfg->ntrusted) {
		m->keys = p53_keyring_new();
		if (m->keys == NULL) {
			p53_err_set(err, P53_ENOMEM, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < cfg->ntrusted; i++)
			if (p53_keyring_add_file(m->keys, cfg->trusted_keys[i], err) != 0)
				goto fail;
		m->st.require_signature = true;
	}
	return m;
fail:
	p53_keyring_free(m->keys);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->vlock);
	free(m);
	return NULL;
}

void snapmgr_free(struct snapmgr *m)
{
	if (m == NULL)
		return;
	live_free(m, atomic_load(&m->live));
	for (unsigned i = 0; i < m->nretired; i++)
		live_free(m, m->retired[i]);
	p53_keyring_free(m->keys);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->vlock);
	free(m);
}

const struct snapmgr_live *snapmgr_current(struct snapmgr *m)
{
	return atomic_load_explicit(&m->live, memory_order_acquire);
}

/* The loader names the file in its messages; when the caller named the
 * source (a push lands in a memfd whose /proc path means nothing to the
 * operator), the reason alone goes back and the status names the source. */
static void record_failure(struct snapmgr *m, const char *path, const char *source,
			   struct p53_err *err)
{
	if (err->msg[0] == 0)
		snprintf(err->msg, sizeof(err->msg), "snapshot rejected");
	size_t n = strlen(path);
	if (source && strncmp(err->msg, path, n) == 0 && err->msg[n] == ':' &&
	    err->msg[n + 1] == ' ')
		memmove(err->msg, err->msg + n + 2, strlen(err->msg + n + 2) + 1);
	m->st.failures++;
	m->st.last_error_at = real_ns();
	snprintf(m->st.last_error, sizeof(m->st.last_error), "%.200s: %.300s",
		 source ? source : path, err->msg);
}

/* Load, verify and build: everything that can fail, before anything is
 * published. */
/* Opens path without blocking (a FIFO has no writer to wait for here) and
 * checks what it is before anything maps or reads it; the loader then maps
 * that same open file through /proc/self/fd. */
static struct p53_snapshot *load_checked(struct snapmgr *m, const char *path, struct p53_err *err)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		p53_err_set(err, P53_EIO, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	struct p53_snapshot *s = NULL;
	if (fstat(fd, &st) != 0) {
		p53_err_set(err, P53_EIO, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		p53_err_set(err, P53_EINVAL, "%s: not a regular file", path);
	} else if ((uint64_t)st.st_size > m->cfg.max_bytes) {
		p53_err_set(err, P53_EINVAL, "%s: %llu bytes, over the limit of %llu", path,
			    (unsigned long long)st.st_size, (unsigned long long)m->cfg.max_bytes);
	} else {
		char fdpath[64];
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
		s = p53_snapshot_load(fdpath, err);
		size_t n = strlen(fdpath);
		if (s == NULL && strncmp(err->msg, fdpath, n) == 0) {
			/* Name the operator's path, not ours. */
			char tmp[sizeof(err->msg)];
			snprintf(tmp, sizeof(tmp), "%s%s", path, err->msg + n);
			memcpy(err->msg, tmp, sizeof(tmp));
		}
	}
	close(fd);
	return s;
}

static struct snapmgr_live *prepare(struct snapmgr *m, const char *path, uint8_t *key_id,
				    struct p53_err *err)
{
	struct p53_snapshot *s = load_checked(m, path, err);
	if (s == NULL)
		return NULL;
	if (m->keys && p53_sig_verify(s, m->keys, key_id, err) != 0) {
		p53_snapshot_free(s);
		return NULL;
	}
	struct snapmgr_live *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		p53_snapshot_free(s);
		return NULL;
	}
	if (m->cfg.build && m->cfg.build(m->cfg.arg, s, &l->state, err) != 0) {
		if (err && err->code == 0)
			p53_err_set(err, P53_EINVAL, "building per-snapshot state failed");
		free(l);
		p53_snapshot_free(s);
		return NULL;
	}
	struct p53_snapshot_info in;
	p53_snapshot_info(s, &in);
	l->snap = s;
	l->serial = in.serial;
	return l;
}

int snapmgr_load(struct snapmgr *m, const char *path, const char *source, struct snapmgr_swap *out,
		 struct p53_err *err)
{
	return snapmgr_load_flags(m, path, source, 0, out, err);
}

int snapmgr_load_flags(struct snapmgr *m, const char *path, const char *source, unsigned flags,
		       struct snapmgr_swap *out, struct p53_err *err)
{
	struct p53_err local = {0};
	if (err == NULL)
		err = &local;
	uint8_t key_id[P53_KEY_ID_LEN] = {0};
	pthread_mutex_lock(&m->lock);
	uint64_t t0 = mono_ns();
	struct snapmgr_live *l = prepare(m, path, key_id, err);
	if (l == NULL) {
		pthread_mutex_lock(&m->vlock);
		record_failure(m, path, source, err);
		pthread_mutex_unlock(&m->vlock);
		pthread_mutex_unlock(&m->lock);
		return err->code ? err->code : P53_ECORRUPT;
	}
	const struct snapmgr_live *cur = atomic_load(&m->live);
	if (cur && (flags & SNAPMGR_NEWER_ONLY)) {
		struct p53_snapshot_info a, b;
		p53_snapshot_info(cur->snap, &a);
		p53_snapshot_info(l->snap, &b);
		if (a.serial == b.serial && memcmp(a.hash, b.hash, sizeof(a.hash)) == 0) {
			live_free(m, l);
			pthread_mutex_unlock(&m->lock);
			return SNAPMGR_UNCHANGED;
		}
		if (l->serial <= cur->serial) {
			p53_err_set(err, P53_EINVAL,
				    "snapshot serial %llu is not above the live serial %llu",
				    (unsigned long long)l->serial, (unsigned long long)cur->serial);
			live_free(m, l);
			record_failure(m, path, source, err);
			pthread_mutex_unlock(&m->lock);
			return err->code;
		}
	}
	if (cur && l->serial < cur->serial && !(flags & SNAPMGR_ALLOW_OLDER)) {
		p53_err_set(err, P53_EINVAL,
			    "snapshot serial %llu is older than the live serial %llu "
			    "(a rollback must be pushed with --allow-older)",
			    (unsigned long long)l->serial, (unsigned long long)cur->serial);
		live_free(m, l);
		record_failure(m, path, source, err);
		pthread_mutex_unlock(&m->lock);
		return err->code;
	}
	l->generation = ++m->generation;
	l->loaded_at = real_ns();
	uint64_t t1 = mono_ns();

	pthread_mutex_lock(&m->vlock);
	struct snapmgr_live *old = atomic_exchange_explicit(&m->live, l, memory_order_seq_cst);
	snprintf(m->st.source, sizeof(m->st.source), "%s", source ? source : path);
	m->st.signed_ok = m->keys != NULL;
	memcpy(m->st.key_id, key_id, sizeof(key_id));
	pthread_mutex_unlock(&m->vlock);
	uint64_t t_pub = mono_ns();
	/* Read before old is freed below. */
	bool had_old = old != NULL;
	uint64_t old_serial = old ? old->serial : 0;
	bool deferred = false;
	if (old || m->nretired) {
		if (qsbr_synchronize(m->cfg.qsbr, m->cfg.sync_timeout_ms) == 0) {
			live_free(m, old);
			for (unsigned i = 0; i < m->nretired; i++)
				live_free(m, m->retired[i]);
			m->nretired = 0;
		} else if (old) {
			deferred = true;
			if (m->nretired < RETIRED_MAX)
				m->retired[m->nretired++] = old;
			/* else: leak it; a reader may still hold it. */
			fprintf(stderr,
				"port53: readers did not pass a quiescent state within %u ms; "
				"keeping serial %llu in memory\n",
				m->cfg.sync_timeout_ms, (unsigned long long)old->serial);
		}
	}
	uint64_t t_freed = mono_ns();

	struct snapmgr_swap sw = {
	    .serial = l->serial,
	    .old_serial = old_serial,
	    .verify_ns = t1 - t0,
	    .swap_ns = t_freed - t_pub,
	    .deferred = deferred,
	};
	pthread_mutex_lock(&m->vlock);
	if (had_old) {
		m->st.swaps++;
		m->st.last_swap_ns = sw.swap_ns;
		m->st.sum_swap_ns += sw.swap_ns;
		if (sw.swap_ns > m->st.max_swap_ns)
			m->st.max_swap_ns = sw.swap_ns;
	}
	m->st.last_verify_ns = sw.verify_ns;
	pthread_mutex_unlock(&m->vlock);
	if (m->cfg.published)
		m->cfg.published(m->cfg.arg, l);
	pthread_mutex_unlock(&m->lock);
	if (out)
		*out = sw;
	return 0;
}

void snapmgr_view(struct snapmgr *m, snapmgr_view_fn fn, void *arg)
{
	pthread_mutex_lock(&m->vlock);
	fn(arg, atomic_load(&m->live), &m->st);
	pthread_mutex_unlock(&m->vlock);
}
