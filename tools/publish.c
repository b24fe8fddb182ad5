/* `port53 publish` (see publish.h). */
#include "tools/publish.h"

#include "zones/answer/sign.h"
#include "zones/answer/snapshot.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int copy_fd(int in, int out)
{
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
			off += w;
		}
	}
}

static int put_dir(const char *src, const char *dir, const char *name, char *where, size_t wcap,
		   struct p53_err *err)
{
	char final[4096], tmp[4096];
	if ((size_t)snprintf(final, sizeof(final), "%s/%s", dir, name) >= sizeof(final) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= sizeof(tmp))
		return p53_err_set(err, P53_EINVAL, "path too long");
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return p53_err_set(err, P53_EIO, "%s: %s", src, strerror(errno));
	int out = mkstemp(tmp);
	if (out < 0) {
		close(in);
		return p53_err_set(err, P53_EIO, "%s: %s", tmp, strerror(errno));
	}
	int rc = 0;
	if (copy_fd(in, out) != 0 || fchmod(out, 0644) != 0 || fsync(out) != 0) {
		rc = p53_err_set(err, P53_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	/* ETags of "mtime-size": a replacement must be later than the old. */
	struct stat old;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (stat(final, &old) == 0 && old.st_mtim.tv_sec >= now.tv_sec) {
		struct timespec ts[2] = {{old.st_mtim.tv_sec + 1, 0}, {old.st_mtim.tv_sec + 1, 0}};
		if (futimens(out, ts) != 0) {
			rc = p53_err_set(err, P53_EIO, "%s: %s", tmp, strerror(errno));
			goto out;
		}
	}
	if (rename(tmp, final) != 0) {
		rc = p53_err_set(err, P53_EIO, "cannot rename %s to %s: %s", tmp, final,
				 strerror(errno));
		goto out;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	snprintf(where, wcap, "%s", final);
out:
	if (rc)
		unlink(tmp);
	close(in);
	close(out);
	return rc;
}

static size_t discard(char *d, size_t s, size_t n, void *a)
{
	(void)d, (void)a;
	return s * n;
}

static CURL *easy(const char *url, struct curl_slist *hdrs, unsigned timeout_ms)
{
	CURL *c = curl_easy_init();
	if (c == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "port53-publish");
	return c;
}

/* Until the clock is past the old object's Last-Modified second (at most
 * two seconds), so the new object's date differs. */
static void wait_past_last_modified(const char *url, struct curl_slist *hdrs, unsigned tmo)
{
	CURL *c = easy(url, hdrs, tmo);
	if (c == NULL)
		return;
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
	curl_off_t ft = -1;
	long status = 0;
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(c, CURLINFO_FILETIME_T, &ft);
	}
	curl_easy_cleanup(c);
	if (status != 200 || ft < 0)
		return;
	for (int i = 0; i < 25 && time(NULL) <= (time_t)ft; i++) {
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static int put_http(const char *src, const struct publish_cfg *cfg, const char *name, char *where,
		    size_t wcap, struct p53_err *err)
{
	char url[4096];
	size_t ul = strlen(cfg->dest);
	if ((size_t)snprintf(url, sizeof(url), "%s%s", cfg->dest,
			     ul && cfg->dest[ul - 1] == '/' ? name : "") >= sizeof(url))
		return p53_err_set(err, P53_EINVAL, "URL too long");
	struct curl_slist *hdrs = NULL;
	char line[1024] = "";
	if (cfg->header_file) {
		FILE *h = fopen(cfg->header_file, "r");
		if (h == NULL)
			return p53_err_set(err, P53_EIO, "%s: %s", cfg->header_file,
					   strerror(errno));
		bool ok = fgets(line, sizeof(line), h) != NULL;
		fclose(h);
		line[strcspn(line, "\r\n")] = 0;
		if (!ok || strchr(line, ':') == NULL)
			return p53_err_set(err, P53_EINVAL,
					   "%s: the first line must be 'Name: value'",
					   cfg->header_file);
		hdrs = curl_slist_append(hdrs, line);
	}
	unsigned tmo = cfg->timeout_ms ? cfg->timeout_ms : 60000;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	wait_past_last_modified(url, hdrs, tmo);
	int rc = 0;
	FILE *in = fopen(src, "rb");
	struct stat st;
	if (in == NULL || fstat(fileno(in), &st) != 0) {
		rc = p53_err_set(err, P53_EIO, "%s: %s", src, strerror(errno));
		goto out;
	}
	CURL *c = easy(url, hdrs, tmo);
	if (c == NULL) {
		rc = p53_err_set(err, P53_ENOMEM, "out of memory (libcurl)");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READDATA, in);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK)
		rc = p53_err_set(err, P53_EIO, "PUT %s: %s", url, curl_easy_strerror(cc));
	else if (status != 200 && status != 201 && status != 204)
		rc = p53_err_set(err, P53_EIO, "PUT %s: HTTP status %ld", url, status);
	else
		snprintf(where, wcap, "%s", url);
out:
	if (in)
		fclose(in);
	curl_slist_free_all(hdrs);
	return rc;
}

int publish_run(const struct publish_cfg *cfg, bool quiet, struct p53_err *err)
{
	const char *src = cfg->snapshot;
	char tmp[] = "/tmp/port53-publish-XXXXXX";
	bool have_tmp = false;
	int rc = 0;
	if (cfg->key) {
		int fd = mkstemp(tmp);
		if (fd < 0)
			return p53_err_set(err, P53_EIO, "%s: %s", tmp, strerror(errno));
		close(fd);
		have_tmp = true;
		if ((rc = p53_sign_file(cfg->snapshot, cfg->key, tmp, err)) != 0)
			goto out;
		src = tmp;
	}
	/* What followers will check, checked here first: a publish they
	 * would all refuse is better refused at the source. */
	struct p53_snapshot *s = p53_snapshot_load(src, err);
	if (s == NULL) {
		rc = err->code ? err->code : P53_ECORRUPT;
		goto out;
	}
	uint8_t kid[P53_KEY_ID_LEN];
	bool is_signed = p53_sig_present(s, kid);
	struct p53_snapshot_info in;
	p53_snapshot_info(s, &in);
	p53_snapshot_free(s);
	if (!is_signed && !cfg->allow_unsigned) {
		rc = p53_err_set(err, P53_EINVAL,
				 "%s is not signed, so followers would refuse it: sign it "
				 "(--key KEY) or publish it anyway with --unsigned",
				 cfg->snapshot);
		goto out;
	}
	char base[4096];
	snprintf(base, sizeof(base), "%s", cfg->snapshot);
	const char *name = cfg->name ? cfg->name : basename(base);
	if (*name == 0 || strchr(name, '/')) {
		rc = p53_err_set(err, P53_EINVAL, "bad object name '%s'", name);
		goto out;
	}
	char where[4096];
	bool http = strncmp(cfg->dest, "http://", 7) == 0 || strncmp(cfg->dest, "https://", 8) == 0;
	rc = http ? put_http(src, cfg, name, where, sizeof(where), err)
		  : put_dir(src, cfg->dest, name, where, sizeof(where), err);
	if (rc == 0 && !quiet) {
		char id[17] = "unsigned";
		if (is_signed)
			p53_key_id_text(kid, id);
		printf("published serial %llu (key %s) to %s\n", (unsigned long long)in.serial, id,
		       where);
	}
out:
	if (have_tmp)
		unlink(tmp);
	return rc;
}
