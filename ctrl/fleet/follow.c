/* The origin follower (see follow.h).
 *
 * One easy handle is kept for the follower's life, so the connection to the
 * origin is reused between polls. The ETag is remembered only once the
 * object it names has been judged (loaded, found identical, or refused):
 * a download cut short is fetched again at the next poll, and a refused
 * object is not downloaded again until the origin's object changes.
 */
#include "ctrl/fleet/follow.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct follow {
	struct follow_cfg cfg;
	struct snapmgr *mgr;
	char name[32];
	char url[2048];
	char dir[2048];
	char header[1024]; /* from header_file; "" = none */
	pthread_t thread;
	pthread_mutex_t mu; /* guards st, stop, kick */
	pthread_cond_t cv;
	bool stop, kick;
	struct follow_stats st;
	uint64_t rng;
	/* the poll in progress (thread only) */
	CURL *curl;
	int fd;
	uint64_t got;
	bool too_big, write_failed;
	char new_etag[128];
};

void follow_cfg_default(struct follow_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->interval_ms = 2000;
	cfg->timeout_ms = 30000;
}

static int64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t on_body(char *data, size_t sz, size_t nm, void *arg)
{
	struct follow *f = arg;
	size_t n = sz * nm;
	uint64_t cap = f->cfg.max_bytes ? f->cfg.max_bytes : (4ULL << 30);
	if (f->got + n > cap + P53_SIG_LEN) {
		f->too_big = true;
		return 0;
	}
	for (size_t off = 0; off < n;) {
		ssize_t w = write(f->fd, data + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			f->write_failed = true;
			return 0;
		}
		off += (size_t)w;
	}
	f->got += n;
	return n;
}

/* Keeps the ETag of a 200 response; header names are case-insensitive. */
static size_t on_header(char *data, size_t sz, size_t nm, void *arg)
{
	struct follow *f = arg;
	size_t n = sz * nm;
	if (n > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		const char *v = data + 5;
		size_t l = n - 5;
		while (l && (*v == ' ' || *v == '\t'))
			v++, l--;
		while (l && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
			l--;
		if (l < sizeof(f->new_etag)) {
			memcpy(f->new_etag, v, l);
			f->new_etag[l] = 0;
		}
	}
	return n;
}

static void fail(struct follow *f, bool rejected, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct follow *f, bool rejected, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&f->mu);
	if (rejected) {
		f->st.rejected++;
		f->st.origin_rejected = true;
	} else {
		f->st.errors++;
		f->st.consecutive_errors++;
	}
	f->st.last_error_at = real_ns();
	snprintf(f->st.last_error, sizeof(f->st.last_error), "%s", msg);
	bool quiet = !rejected && f->st.consecutive_errors > 3;
	pthread_mutex_unlock(&f->mu);
	/* An origin that stays down is logged a few times, then counted. */
	if (!quiet)
		fprintf(stderr, "%s: origin %s: %s\n", f->name, f->url, msg);
}

/* The downloaded file is judged; the ETag is kept whatever the verdict. */
static void judge(struct follow *f, const char *tmp, double t0)
{
	char dst[2100], src[2100];
	snprintf(dst, sizeof(dst), "%s/origin.p53", f->dir);
	snprintf(src, sizeof(src), "origin %.2000s", f->url);
	struct p53_err err = {0};
	struct snapmgr_swap sw = {0};
	int rc = snapmgr_load_flags(f->mgr, tmp, src, SNAPMGR_NEWER_ONLY, &sw, &err);
	if (rc < 0) {
		unlink(tmp);
		fail(f, true, "refused (keeping the live snapshot): %s", err.msg);
		pthread_mutex_lock(&f->mu);
		snprintf(f->st.etag, sizeof(f->st.etag), "%s", f->new_etag);
		pthread_mutex_unlock(&f->mu);
		return;
	}
	/* Kept for a restart: snapshot.path may name it. */
	if (rename(tmp, dst) != 0) {
		fprintf(stderr, "%s: cannot keep %s: %s\n", f->name, dst, strerror(errno));
		unlink(tmp);
	}
	int64_t now = real_ns();
	pthread_mutex_lock(&f->mu);
	snprintf(f->st.etag, sizeof(f->st.etag), "%s", f->new_etag);
	f->st.origin_rejected = false;
	f->st.consecutive_errors = 0;
	f->st.last_current_at = now;
	f->st.last_fetch_ms = mono_ms() - t0;
	if (rc == SNAPMGR_UNCHANGED) {
		f->st.unchanged++;
	} else {
		f->st.loaded++;
		f->st.last_loaded_at = now;
		f->st.last_loaded_serial = sw.serial;
	}
	pthread_mutex_unlock(&f->mu);
	if (rc != SNAPMGR_UNCHANGED)
		fprintf(stderr, "%s: origin: serial %" PRIu64 " live (was %" PRIu64 ", %.1f ms)\n",
			f->name, sw.serial, sw.old_serial, mono_ms() - t0);
}

static void poll_once(struct follow *f)
{
	char tmp[2100];
	snprintf(tmp, sizeof(tmp), "%s/.origin.p53.part", f->dir);
	f->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f->fd < 0) {
		fail(f, false, "cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	f->got = 0;
	f->too_big = f->write_failed = false;
	f->new_etag[0] = 0;

	struct curl_slist *hdrs = NULL;
	char inm[200];
	pthread_mutex_lock(&f->mu);
	f->st.polls++;
	if (f->st.etag[0]) {
		snprintf(inm, sizeof(inm), "If-None-Match: %s", f->st.etag);
		hdrs = curl_slist_append(hdrs, inm);
	}
	pthread_mutex_unlock(&f->mu);
	if (f->header[0])
		hdrs = curl_slist_append(hdrs, f->header);
	curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, hdrs);
	double t0 = mono_ms();
	CURLcode cc = curl_easy_perform(f->curl);
	long status = 0;
	curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	bool synced = cc == CURLE_OK && fsync(f->fd) == 0;
	close(f->fd);
	f->fd = -1;

	if (cc != CURLE_OK) {
		unlink(tmp);
		if (f->too_big)
			fail(f, false, "object larger than %llu bytes",
			     (unsigned long long)(f->cfg.max_bytes ? f->cfg.max_bytes
								   : (4ULL << 30)));
		else if (f->write_failed)
			fail(f, false, "cannot write %s: %s", tmp, strerror(errno));
		else
			fail(f, false, "%s", curl_easy_strerror(cc));
		return;
	}
	if (status == 304) {
		unlink(tmp);
		pthread_mutex_lock(&f->mu);
		f->st.not_modified++;
		f->st.consecutive_errors = 0;
		f->st.last_ok_at = real_ns();
		if (!f->st.origin_rejected)
			f->st.last_current_at = f->st.last_ok_at;
		pthread_mutex_unlock(&f->mu);
		return;
	}
	if (status != 200) {
		unlink(tmp);
		fail(f, false, "HTTP status %ld", status);
		return;
	}
	if (!synced) {
		unlink(tmp);
		fail(f, false, "cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	pthread_mutex_lock(&f->mu);
	f->st.fetched++;
	f->st.consecutive_errors = 0;
	f->st.last_ok_at = real_ns();
	pthread_mutex_unlock(&f->mu);
	judge(f, tmp, t0);
}

/* Interval +-10%, so a fleet started together does not poll in step. */
static unsigned next_wait_ms(struct follow *f)
{
	f->rng ^= f->rng << 13;
	f->rng ^= f->rng >> 7;
	f->rng ^= f->rng << 17;
	unsigned span = f->cfg.interval_ms / 5;
	return f->cfg.interval_ms - f->cfg.interval_ms / 10 +
	       (span ? (unsigned)(f->rng % span) : 0);
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct follow *f = arg;
	(void)a, (void)b, (void)c, (void)d;
	pthread_mutex_lock(&f->mu);
	bool stop = f->stop;
	pthread_mutex_unlock(&f->mu);
	return stop; /* non-zero aborts the transfer */
}

static void *follow_main(void *arg)
{
	struct follow *f = arg;
	for (;;) {
		pthread_mutex_lock(&f->mu);
		bool stop = f->stop;
		f->kick = false;
		pthread_mutex_unlock(&f->mu);
		if (stop)
			break;
		poll_once(f);
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)next_wait_ms(f) * 1000000ULL;
		until.tv_sec += (time_t)(ns / 1000000000ULL);
		until.tv_nsec = (long)(ns % 1000000000ULL);
		pthread_mutex_lock(&f->mu);
		while (!f->stop && !f->kick &&
		       pthread_cond_timedwait(&f->cv, &f->mu, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&f->mu);
	}
	return NULL;
}

static int read_header(struct follow *f, struct p53_err *err)
{
	FILE *h = fopen(f->cfg.header_file, "r");
	if (h == NULL)
		return p53_err_set(err, P53_EIO, "origin header file %s: %s", f->cfg.header_file,
				   strerror(errno));
	bool ok = fgets(f->header, sizeof(f->header), h) != NULL;
	fclose(h);
	f->header[strcspn(f->header, "\r\n")] = 0;
	if (!ok || strchr(f->header, ':') == NULL)
		return p53_err_set(err, P53_EINVAL,
				   "origin header file %s: the first line must be 'Name: value'",
				   f->cfg.header_file);
	return 0;
}

static int setup_curl(struct follow *f, struct p53_err *err)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((f->curl = curl_easy_init()) == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory (libcurl)");
	CURL *c = f->curl;
	curl_easy_setopt(c, CURLOPT_URL, f->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)f->cfg.timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(f->cfg.timeout_ms < 5000 ? f->cfg.timeout_ms : 5000));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, f);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "port53-follower");
	if (f->cfg.ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, f->cfg.ca_file);
	return 0;
}

struct follow *follow_start(const struct follow_cfg *cfg, struct snapmgr *mgr, const char *name,
			    struct p53_err *err)
{
	if (cfg->url == NULL) {
		p53_err_set(err, P53_EINVAL, "no origin URL");
		return NULL;
	}
	if (strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0) {
		p53_err_set(err, P53_EINVAL, "origin URL '%s' is not http:// or https://",
			    cfg->url);
		return NULL;
	}
	if (!cfg->keys_configured) {
		p53_err_set(err, P53_EINVAL,
			    "following an origin needs --require-signature KEY: a fleet "
			    "takes only snapshots its operator signed");
		return NULL;
	}
	if (cfg->dir == NULL) {
		p53_err_set(err, P53_EINVAL,
			    "following an origin needs a directory (--origin-dir)");
		return NULL;
	}
	if (access(cfg->dir, W_OK) != 0) {
		p53_err_set(err, P53_EIO, "origin directory %s: %s", cfg->dir, strerror(errno));
		return NULL;
	}
	if (strlen(cfg->url) >= sizeof(((struct follow *)0)->url) ||
	    strlen(cfg->dir) >= sizeof(((struct follow *)0)->dir)) {
		p53_err_set(err, P53_EINVAL, "origin URL or directory too long");
		return NULL;
	}
	struct follow *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	f->cfg = *cfg;
	if (f->cfg.interval_ms == 0)
		f->cfg.interval_ms = 2000;
	if (f->cfg.timeout_ms == 0)
		f->cfg.timeout_ms = 30000;
	f->mgr = mgr;
	f->fd = -1;
	snprintf(f->name, sizeof(f->name), "%s", name ? name : "port53");
	snprintf(f->url, sizeof(f->url), "%s", cfg->url);
	snprintf(f->dir, sizeof(f->dir), "%s", cfg->dir);
	f->rng = (uint64_t)real_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((cfg->header_file && read_header(f, err) != 0) || setup_curl(f, err) != 0)
		goto fail;
	if (pthread_create(&f->thread, NULL, follow_main, f) != 0) {
		p53_err_set(err, P53_EIO, "cannot start the origin follower");
		goto fail;
	}
	fprintf(stderr, "%s: following %s every %u ms\n", f->name, f->url, f->cfg.interval_ms);
	return f;
fail:
	if (f->curl)
		curl_easy_cleanup(f->curl);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
	return NULL;
}

void follow_stop(struct follow *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	curl_easy_cleanup(f->curl);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
}

void follow_stats(struct follow *f, struct follow_stats *out)
{
	pthread_mutex_lock(&f->mu);
	*out = f->st;
	pthread_mutex_unlock(&f->mu);
}

void follow_kick(struct follow *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->kick = true;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}
