/* The health checker: one thread, libcurl multi, every check.
 *
 * Each check keeps its raw status (what the endpoint says) and a streak of
 * results that disagree with it; FailureThreshold disagreeing results in a
 * row flip it. The published status applies Inverted and Disabled, and
 * CALCULATED checks are recomputed from their children after every round.
 * Thousands of checks cost one thread and one multi handle.
 */
#include "ctrl/health/health.h"

#include "ctrl/api/api.h"

#include "zones/compile/r53hc.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_SEARCH_MAX 5120 /* the search string must lie within these bytes */
/* Route 53's timing: the TCP connection within 4 s (10 s for TCP checks),
 * then the HTTP status within 2 s of connecting, then (string matching) the
 * body within 2 s more. Each is its own deadline. */
#define CONNECT_MS     4000
#define TCP_CONNECT_MS 10000
#define STATUS_MS      2000
#define BODY_MS	       2000

enum hc_type { HC_HTTP, HC_HTTPS, HC_HTTP_STR, HC_HTTPS_STR, HC_TCP, HC_CALC, HC_EXTERNAL };

struct hcheck {
	char *id;
	enum hc_type type;
	char *ip, *path, *fqdn, *search, *status_file;
	int port, interval, threshold, health_threshold;
	bool inverted, disabled, sni;
	int insufficient; /* 0 Healthy, 1 Unhealthy, 2 LastKnownStatus */
	char **children;
	size_t nchildren;
	/* state (checker thread; published under the lock) */
	bool raw, eff;
	int streak;
	int64_t next_due;
	int64_t started, status_at; /* now_ms() of the request, of its status line (0: none) */
	CURL *easy;
	struct curl_slist *hdrs;
	char body[BODY_SEARCH_MAX + 1];
	size_t blen;
	char last[96];
	time_t changed;		   /* last change of the published (effective) status */
	unsigned voters, votes_ok; /* last evaluation: checkers counted, healthy */
};

/* Another checker's latest results (POST /v1/health/reports). A result
 * counts for 3 of its check's intervals, then expires. */
#define REPORTERS_MAX	 64
#define CHECKER_NAME_MAX 63

struct reporter {
	char name[CHECKER_NAME_MAX + 1];
	int64_t at;  /* now_ms() of the report */
	uint8_t *ok; /* per check: 0 no result, 1 unhealthy, 2 healthy */
};

struct view {
	const struct p53_snapshot *snap;
	uint64_t serial;
	uint8_t *arr;
	int32_t *map; /* array index -> check, -1 = unknown id (healthy) */
	uint32_t n;
	struct view *next;
};

struct p53_health {
	struct hcheck *c;
	size_t n;
	pthread_t thr;
	int stop;
	pthread_mutex_t lock;
	/* Every array handed out and not yet released: during a snapshot
	 * swap the old and the new one are both read by workers, and the
	 * checker keeps both current. Under lock. */
	struct view *views;
	struct view reader; /* p53_health_view's current acquisition */
	CURLM *multi;
	/* Voting (under lock): a check's endpoint is up when more than
	 * quorum of the checkers with a current result say so, the local one
	 * included. */
	double quorum;
	struct reporter rep[REPORTERS_MAX];
	size_t nrep;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads and validates the definitions (zones/compile/r53hc.c: the same
 * reader the compiler checks HealthCheckIds against), then takes each
 * check's fields over. */
static int load(struct p53_health *h, const char *path, struct p53_err *err)
{
	struct r53_hcset set = {0};
	int rc = r53_hc_load_file(&set, path, err);
	if (rc == 0)
		rc = r53_hc_finish(&set, path, err);
	if (rc) {
		r53_hcset_free(&set);
		return rc;
	}
	h->n = set.n;
	h->c = calloc(h->n ? h->n : 1, sizeof(*h->c));
	if (h->c == NULL) {
		r53_hcset_free(&set);
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < set.n; i++) {
		struct hcheck *c = &h->c[i];
		struct r53_hc *d = &set.v[i];
		c->id = d->id;
		c->type = (enum hc_type)d->type;
		c->ip = d->ip;
		c->fqdn = d->fqdn;
		c->path = d->path;
		c->search = d->search;
		c->status_file = d->status_file;
		c->port = d->port;
		c->interval = d->interval;
		c->threshold = d->threshold;
		c->health_threshold = d->health_threshold;
		c->inverted = d->inverted;
		c->disabled = d->disabled;
		c->sni = d->sni;
		c->insufficient = d->insufficient;
		c->children = d->children;
		c->nchildren = d->nchildren;
		memset(d, 0, sizeof(*d)); /* the strings are the check's now */
		/* New checks are healthy until data arrives. */
		c->raw = true;
		c->eff = c->disabled || !c->inverted;
		c->changed = time(NULL);
		snprintf(c->last, sizeof(c->last), "no data yet");
	}
	r53_hcset_free(&set);
	return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct hcheck *c = arg;
	size_t len = sz * n, room = BODY_SEARCH_MAX - c->blen;
	size_t take = len < room ? len : room;
	memcpy(c->body + c->blen, p, take);
	c->blen += take;
	return len;
}

static void result(struct hcheck *c, bool ok, const char *what)
{
	snprintf(c->last, sizeof(c->last), "%s: %s", ok ? "pass" : "fail", what);
	if (ok == c->raw) {
		c->streak = 0;
		return;
	}
	/* FailureThreshold consecutive results against the status flip it. */
	if (++c->streak >= c->threshold) {
		c->raw = ok;
		c->streak = 0;
	}
}

/* The alarm stand-in follows the alarm at once, as Route 53's metric checks
 * follow their CloudWatch alarm: FailureThreshold counts endpoint probes,
 * not alarm states. */
static void result_now(struct hcheck *c, bool ok, const char *what)
{
	snprintf(c->last, sizeof(c->last), "%s: %s", ok ? "pass" : "fail", what);
	c->raw = ok;
	c->streak = 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct hcheck *c = arg;
	if (c->status_at == 0 && sz * n >= 5 && memcmp(p, "HTTP/", 5) == 0)
		c->status_at = now_ms();
	return sz * n;
}

static void start(struct p53_health *h, struct hcheck *c)
{
	if (c->type == HC_EXTERNAL) {
		char buf[32] = "";
		FILE *f = fopen(c->status_file, "r");
		if (f) {
			if (fgets(buf, sizeof(buf), f) == NULL)
				buf[0] = 0;
			fclose(f);
		}
		buf[strcspn(buf, " \r\n")] = 0;
		if (strcmp(buf, "OK") == 0)
			result_now(c, true, "OK");
		else if (strcmp(buf, "ALARM") == 0)
			result_now(c, false, "ALARM");
		else if (c->insufficient != 2)
			result_now(c, c->insufficient == 0, "insufficient data");
		else
			snprintf(c->last, sizeof(c->last), "insufficient data: last known status");
		return;
	}
	CURL *e = curl_easy_init();
	if (e == NULL)
		return;
	bool tls = c->type == HC_HTTPS || c->type == HC_HTTPS_STR;
	char url[600];
	/* Without an IPAddress the FQDN is resolved at every check (IPv4, as
	 * Route 53 does). */
	const char *host = (c->sni && c->fqdn) || c->ip == NULL ? c->fqdn : c->ip;
	bool v6 = host == c->ip && strchr(c->ip, ':') != NULL;
	snprintf(url, sizeof(url), "%s://%s%s%s:%d%s", tls ? "https" : "http", v6 ? "[" : "", host,
		 v6 ? "]" : "", c->port, c->type == HC_TCP ? "" : c->path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	if (c->ip == NULL)
		curl_easy_setopt(e, CURLOPT_IPRESOLVE, (long)CURL_IPRESOLVE_V4);
	if (host != c->ip && c->ip) {
		/* SNI and Host are the FQDN; the connection goes to the IP. */
		char res[600];
		snprintf(res, sizeof(res), "%s:%d:%s", c->fqdn, c->port, c->ip);
		c->hdrs = curl_slist_append(NULL, res);
		curl_easy_setopt(e, CURLOPT_RESOLVE, c->hdrs);
	}
	if (c->type == HC_TCP) {
		curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)TCP_CONNECT_MS);
	} else {
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_MS);
		/* The status and body deadlines run from the connection
		 * (check_deadlines); this bound only keeps a stuck transfer from
		 * living forever. */
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
				 (long)(CONNECT_MS + STATUS_MS + BODY_MS + 1000));
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
		curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* gzip, deflate */
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
		curl_easy_setopt(e, CURLOPT_USERAGENT, "port53-health-check/1.0");
		if (c->fqdn && c->ip && host == c->ip) {
			char hh[400];
			bool std = c->port == 80 || c->port == 443;
			if (std)
				snprintf(hh, sizeof(hh), "Host: %s", c->fqdn);
			else
				snprintf(hh, sizeof(hh), "Host: %s:%d", c->fqdn, c->port);
			struct curl_slist *l = curl_slist_append(NULL, hh);
			curl_easy_setopt(e, CURLOPT_HTTPHEADER, l);
			c->hdrs = l;
		}
	}
	c->blen = 0;
	c->easy = e;
	c->started = now_ms();
	c->status_at = 0;
	curl_multi_add_handle(h->multi, e);
}

static void release(struct p53_health *h, struct hcheck *c)
{
	curl_multi_remove_handle(h->multi, c->easy);
	curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->hdrs);
	c->hdrs = NULL;
	c->easy = NULL;
}

/* The 2 s after connecting for the status line, and 2 s after it for the
 * body of a string match: a check past either fails now. Under lock. */
static void check_deadlines(struct p53_health *h, int64_t now)
{
	for (size_t i = 0; i < h->n; i++) {
		struct hcheck *c = &h->c[i];
		if (c->easy == NULL || c->type == HC_TCP)
			continue;
		curl_off_t conn_us = 0;
		curl_easy_getinfo(c->easy, CURLINFO_CONNECT_TIME_T, &conn_us);
		if (conn_us <= 0)
			continue; /* still connecting: CONNECTTIMEOUT applies */
		int64_t connected = c->started + (int64_t)(conn_us / 1000);
		const char *why = NULL;
		if (c->status_at == 0 && now > connected + STATUS_MS)
			why = "no HTTP status within 2 s of connecting";
		else if (c->status_at && c->search && now > c->status_at + BODY_MS)
			why = "body not read within 2 s of the status";
		if (why) {
			result(c, false, why);
			release(h, c);
		}
	}
}

static void finish(struct p53_health *h, CURL *e, CURLcode code)
{
	struct hcheck *c = NULL;
	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&c);
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	char what[80];
	curl_off_t conn_us = 0;
	curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &conn_us);
	if (code == CURLE_OPERATION_TIMEDOUT && conn_us <= 0) {
		/* Said apart from a slow status, which check_deadlines names:
		 * an operator reading the last result needs to know which of
		 * Route 53's deadlines the endpoint missed. */
		snprintf(what, sizeof(what), "no TCP connection within %d s",
			 (c->type == HC_TCP ? TCP_CONNECT_MS : CONNECT_MS) / 1000);
		result(c, false, what);
	} else if (code != CURLE_OK) {
		snprintf(what, sizeof(what), "%s", curl_easy_strerror(code));
		result(c, false, what);
	} else if (c->type == HC_TCP) {
		result(c, true, "connected");
	} else if (status < 200 || status > 399) {
		snprintf(what, sizeof(what), "HTTP %ld", status);
		result(c, false, what);
	} else if (c->search) {
		c->body[c->blen] = 0;
		bool found = memmem(c->body, c->blen, c->search, strlen(c->search)) != NULL;
		snprintf(what, sizeof(what), "HTTP %ld, string %sfound", status,
			 found ? "" : "not ");
		result(c, found, what);
	} else {
		snprintf(what, sizeof(what), "HTTP %ld", status);
		result(c, true, what);
	}
	release(h, c);
}

static struct hcheck *find(struct p53_health *h, const char *id)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->c[i].id, id) == 0)
			return &h->c[i];
	return NULL;
}

/* The endpoint's status by vote: the local checker's raw status and every
 * other checker's current result; up when more than quorum of them say so
 * (route53-semantics.md section 3: "more than 18%"). With no reports this is
 * the local status. Under lock. */
static bool voted(struct p53_health *h, struct hcheck *c, int64_t now)
{
	size_t k = (size_t)(c - h->c);
	unsigned n = 1, ok = c->raw;
	for (size_t r = 0; r < h->nrep; r++) {
		const struct reporter *rp = &h->rep[r];
		if (rp->ok[k] == 0 || now - rp->at > 3 * (int64_t)c->interval * 1000)
			continue;
		n++;
		ok += rp->ok[k] == 2;
	}
	c->voters = n;
	c->votes_ok = ok;
	return (double)ok > h->quorum * (double)n;
}

/* A reporter whose every result has expired is forgotten. Under lock. */
static void expire_reports(struct p53_health *h, int64_t now)
{
	int maxiv = 10;
	for (size_t i = 0; i < h->n; i++)
		if (h->c[i].interval > maxiv)
			maxiv = h->c[i].interval;
	for (size_t r = 0; r < h->nrep;) {
		if (now - h->rep[r].at <= 3 * (int64_t)maxiv * 1000) {
			r++;
			continue;
		}
		free(h->rep[r].ok);
		h->rep[r] = h->rep[--h->nrep];
	}
}

static void set_eff(struct hcheck *c, bool up)
{
	bool eff = c->disabled || (c->inverted ? !up : up);
	if (eff != c->eff)
		c->changed = time(NULL);
	c->eff = eff;
}

/* Effective status: Disabled is healthy; Inverted flips; CALCULATED counts
 * healthy children (a disabled child counts as healthy). Under lock, so the
 * API's readers see each check whole. */
static void evaluate(struct p53_health *h)
{
	int64_t now = now_ms();
	expire_reports(h, now);
	for (size_t i = 0; i < h->n; i++) {
		struct hcheck *c = &h->c[i];
		if (c->type != HC_CALC)
			set_eff(c, voted(h, c, now));
	}
	for (size_t i = 0; i < h->n; i++) {
		struct hcheck *c = &h->c[i];
		if (c->type != HC_CALC)
			continue;
		int ok = 0;
		for (size_t k = 0; k < c->nchildren; k++) {
			struct hcheck *ch = find(h, c->children[k]);
			ok += ch && ch->type != HC_CALC && ch->eff;
		}
		c->raw = ok >= c->health_threshold;
		c->voters = 1;
		c->votes_ok = c->raw;
		snprintf(c->last, sizeof(c->last), "%d of %zu children healthy", ok, c->nchildren);
		set_eff(c, c->raw);
	}
	for (struct view *v = h->views; v; v = v->next)
		for (uint32_t i = 0; i < v->n; i++) {
			int32_t k = v->map[i];
			__atomic_store_n(&v->arr[i], (uint8_t)(k < 0 || h->c[k].eff),
					 __ATOMIC_RELAXED);
		}
}

static void *run(void *arg)
{
	struct p53_health *h = arg;
	/* Spread first checks over a second so they do not all fire at once. */
	int64_t t0 = now_ms();
	for (size_t i = 0; i < h->n; i++)
		h->c[i].next_due = t0 + (int64_t)(i % 1000);
	while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
		int64_t now = now_ms();
		/* Results and statuses change under the lock; the network
		 * waits (curl_multi_poll/perform) run outside it. */
		pthread_mutex_lock(&h->lock);
		for (size_t i = 0; i < h->n; i++) {
			struct hcheck *c = &h->c[i];
			if (c->type == HC_CALC || c->easy || now < c->next_due)
				continue;
			c->next_due = now + (int64_t)c->interval * 1000;
			start(h, c);
		}
		pthread_mutex_unlock(&h->lock);
		int running = 0, left;
		curl_multi_poll(h->multi, NULL, 0, 100, NULL);
		curl_multi_perform(h->multi, &running);
		CURLMsg *m;
		pthread_mutex_lock(&h->lock);
		while ((m = curl_multi_info_read(h->multi, &left)))
			if (m->msg == CURLMSG_DONE)
				finish(h, m->easy_handle, m->data.result);
		check_deadlines(h, now_ms());
		evaluate(h);
		pthread_mutex_unlock(&h->lock);
	}
	return NULL;
}

struct p53_health *p53_health_start(const char *path, struct p53_err *err)
{
	struct p53_health *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->quorum = 0.18;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h->multi = curl_multi_init();
	if (load(h, path, err) != 0 || h->multi == NULL ||
	    pthread_create(&h->thr, NULL, run, h) != 0) {
		if (!err->code)
			p53_err_set(err, P53_EIO, "health checker: cannot start");
		h->thr = 0;
		p53_health_stop(h);
		return NULL;
	}
	return h;
}

static void view_free(struct view *v)
{
	free(v->arr);
	free(v->map);
	free(v);
}

void p53_health_stop(struct p53_health *h)
{
	if (h == NULL)
		return;
	__atomic_store_n(&h->stop, 1, __ATOMIC_RELEASE);
	if (h->thr)
		pthread_join(h->thr, NULL);
	for (size_t i = 0; i < h->n; i++) {
		struct hcheck *c = &h->c[i];
		if (c->easy) {
			curl_multi_remove_handle(h->multi, c->easy);
			curl_easy_cleanup(c->easy);
		}
		curl_slist_free_all(c->hdrs);
		free(c->id);
		free(c->ip);
		free(c->path);
		free(c->fqdn);
		free(c->search);
		free(c->status_file);
		for (size_t k = 0; k < c->nchildren; k++)
			free(c->children[k]);
		free(c->children);
	}
	free(h->c);
	if (h->multi)
		curl_multi_cleanup(h->multi);
	for (size_t r = 0; r < h->nrep; r++)
		free(h->rep[r].ok);
	while (h->views) {
		struct view *v = h->views;
		h->views = v->next;
		view_free(v);
	}
	pthread_mutex_destroy(&h->lock);
	free(h);
}

const uint8_t *p53_health_acquire(struct p53_health *h, const struct p53_snapshot *snap,
				  uint32_t *n)
{
	/* Map the snapshot's check numbers to our checks by Id. */
	struct view *v = calloc(1, sizeof(*v));
	uint32_t nh = p53_snapshot_nhealth(snap);
	if (v == NULL || (v->arr = calloc(nh ? nh : 1, 1)) == NULL ||
	    (v->map = calloc(nh ? nh : 1, sizeof(int32_t))) == NULL) {
		if (v)
			free(v->arr);
		free(v);
		*n = 0;
		return NULL;
	}
	v->snap = snap;
	v->n = nh;
	pthread_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < v->n; i++) {
		struct hcheck *c = find(h, p53_snapshot_health_id(snap, i));
		v->map[i] = c ? (int32_t)(c - h->c) : -1;
		v->arr[i] = (uint8_t)(c == NULL || c->eff);
	}
	v->next = h->views;
	h->views = v;
	pthread_mutex_unlock(&h->lock);
	*n = v->n;
	return v->arr;
}

void p53_health_release(struct p53_health *h, const uint8_t *arr)
{
	if (h == NULL || arr == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	for (struct view **pv = &h->views; *pv; pv = &(*pv)->next) {
		if ((*pv)->arr == arr) {
			struct view *v = *pv;
			*pv = v->next;
			pthread_mutex_unlock(&h->lock);
			view_free(v);
			return;
		}
	}
	pthread_mutex_unlock(&h->lock);
}

const uint8_t *p53_health_view(struct p53_health *h, const struct p53_snapshot *snap, uint32_t *n)
{
	struct p53_snapshot_info in;
	p53_snapshot_info(snap, &in);
	if (h->reader.arr && h->reader.snap == snap && h->reader.serial == in.serial) {
		*n = h->reader.n;
		return h->reader.arr;
	}
	const uint8_t *arr = p53_health_acquire(h, snap, n);
	/* The caller stops using the old array with this call. */
	p53_health_release(h, h->reader.arr);
	h->reader =
	    (struct view){.snap = snap, .serial = in.serial, .arr = (uint8_t *)arr, .n = *n};
	return arr;
}

static const char *const type_names[] = {
    "HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP", "CALCULATED", "CLOUDWATCH_METRIC"};

void p53_health_each(struct p53_health *h, p53_health_each_fn fn, void *arg)
{
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n; i++) {
		const struct hcheck *c = &h->c[i];
		struct p53_health_state st = {
		    .id = c->id,
		    .type = type_names[c->type],
		    .last = c->last,
		    .healthy = c->eff,
		    .inverted = c->inverted,
		    .disabled = c->disabled,
		    .changed = c->changed,
		    .interval = c->interval,
		    .threshold = c->threshold,
		    .voters = c->voters ? c->voters : 1,
		    .votes_ok = c->voters ? c->votes_ok : c->raw,
		};
		fn(arg, &st);
	}
	pthread_mutex_unlock(&h->lock);
}

void p53_health_set_quorum(struct p53_health *h, double share)
{
	pthread_mutex_lock(&h->lock);
	h->quorum = share;
	pthread_mutex_unlock(&h->lock);
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CHECKER_NAME_MAX || strcmp(s, "local") == 0)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

int p53_health_report(struct p53_health *h, const char *checker, size_t n, const char *const *ids,
		      const bool *ok, char *msg, size_t cap)
{
	if (!name_ok(checker)) {
		snprintf(msg, cap,
			 "checker name must be 1-%d printable characters without spaces, "
			 "not \"local\"",
			 CHECKER_NAME_MAX);
		return -1;
	}
	/* All or nothing: every id is checked before anything is kept. */
	for (size_t i = 0; i < n; i++) {
		const struct hcheck *c = find(h, ids[i]);
		if (c == NULL || c->type == HC_CALC) {
			snprintf(msg, cap, "%s: %.100s",
				 c ? "calculated checks take no reports" : "no such health check",
				 ids[i]);
			return -1;
		}
	}
	pthread_mutex_lock(&h->lock);
	int64_t now = now_ms();
	expire_reports(h, now);
	struct reporter *rp = NULL;
	for (size_t r = 0; r < h->nrep && rp == NULL; r++)
		if (strcmp(h->rep[r].name, checker) == 0)
			rp = &h->rep[r];
	if (rp == NULL) {
		uint8_t *arr = h->nrep < REPORTERS_MAX ? calloc(h->n ? h->n : 1, 1) : NULL;
		if (arr == NULL) {
			pthread_mutex_unlock(&h->lock);
			snprintf(msg, cap, "%s",
				 h->nrep < REPORTERS_MAX ? "out of memory"
							 : "too many checkers reporting");
			return -1;
		}
		rp = &h->rep[h->nrep++];
		snprintf(rp->name, sizeof(rp->name), "%s", checker);
		rp->ok = arr;
	}
	/* A report replaces the checker's previous one: checks it leaves out
	 * no longer count its old results. */
	memset(rp->ok, 0, h->n);
	for (size_t i = 0; i < n; i++)
		rp->ok[find(h, ids[i]) - h->c] = ok[i] ? 2 : 1;
	rp->at = now;
	/* The checker thread re-evaluates within its next wait (100 ms). */
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* ---- control API glue (api.h) ------------------------------------------- */

struct api_sink {
	api_health_emit_fn emit;
	void *sink;
};

static void api_one(void *arg, const struct p53_health_state *st)
{
	struct api_sink *s = arg;
	struct api_health_check c = {
	    .id = st->id,
	    .type = st->type,
	    .last = st->last,
	    .healthy = st->healthy,
	    .inverted = st->inverted,
	    .disabled = st->disabled,
	    .changed = (double)st->changed,
	    .checkers = st->voters,
	    .checkers_healthy = st->votes_ok,
	};
	s->emit(s->sink, &c);
}

static void api_each(void *arg, api_health_emit_fn emit, void *sink)
{
	struct api_sink s = {emit, sink};
	p53_health_each(arg, api_one, &s);
}

static int api_report(void *arg, const char *checker, size_t n, const char *const *ids,
		      const bool *ok, char *msg, size_t cap)
{
	return p53_health_report(arg, checker, n, ids, ok, msg, cap);
}

void p53_health_api(struct p53_health *h, struct api_cfg *ac)
{
	ac->health = api_each;
	ac->health_report = api_report;
	ac->health_arg = h;
}
