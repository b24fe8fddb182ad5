/* The web console's server side: static pages, and JSON built from what the
 * control API already reads (console.h).
 *
 * History lives here, not in the servers: a sampler thread takes the
 * counters, the health checks and the snapshot status once a second and keeps
 * a bounded ring of each. One mutex guards the rings; the sampler holds it
 * only to append, the handlers only to copy out.
 */
#include "ctrl/api/console.h"
#include "ctrl/api/lathist.h"

#include "zones/answer/snapshot.h"
#include "zones/compile/r53json.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef P53_CONSOLE_DIR
#define P53_CONSOLE_DIR "/usr/share/port53/console"
#endif
#define CHARTJS_DIR "/usr/share/javascript/chart.js"

#define SAMPLES	     300 /* five minutes at one a second */
#define MAX_NAMES    32	 /* rcodes and firewall rules followed per sample */
#define MAX_WORKERS  64
#define MAX_CHECKS   256
#define CHECK_EVENTS 64
#define GENERATIONS  64
#define RECORDS_MAX  1000 /* rows one search returns */
#define FILE_MAX     (4u << 20)

struct named {
	char name[96];
	uint64_t v;
};

/* One reading of the counters: totals since start. */
struct reading {
	struct named rcode[MAX_NAMES];
	unsigned nrcode;
	struct named fw[MAX_NAMES];
	unsigned nfw;
	uint64_t worker[MAX_WORKERS];
	unsigned nworker;
	uint64_t lat[LATHIST_BUCKETS]; /* every answering thread's, summed */
	uint64_t busy_ns[MAX_WORKERS];
	unsigned nbusy;
};

/* Per-second rates between two readings. */
struct sample {
	double t;
	struct named rcode[MAX_NAMES]; /* v: answers per second, x1000 */
	unsigned nrcode;
	struct named fw[MAX_NAMES];
	unsigned nfw;
	uint64_t worker[MAX_WORKERS];
	unsigned nworker;
	/* Time in the server of the answers between the two readings: upper
	 * bounds of the buckets holding the median and the 99th percentile,
	 * in microseconds; 0 when nothing was answered. */
	double p50_us, p99_us;
	double busy[MAX_WORKERS]; /* fraction of the interval each worked */
	unsigned nbusy;
};

struct check_event {
	double t;
	bool healthy;
	char result[160];
};

struct check_hist {
	char id[128];
	char type[32];
	bool healthy;
	struct check_event ev[CHECK_EVENTS];
	unsigned nev, head; /* ring: head is the oldest once full */
};

struct generation {
	uint64_t generation, serial;
	double loaded_at, seen_at;
	double swap_us, verify_ms;
	char source[256];
	char hash[17];
	unsigned zones;
};

struct console {
	struct api_cfg cfg;
	char *assets, *chartjs;
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;

	struct reading last;
	double last_t;
	bool have_last;
	struct sample s[SAMPLES];
	unsigned ns, sh; /* count, head */

	struct check_hist *checks;
	unsigned nchecks;

	struct generation g[GENERATIONS];
	unsigned ng, gh;
	uint64_t swaps, failures;
	char last_error[512];
	double last_error_at;

	/* Record search works on Route 53 JSON exported once per generation. */
	uint64_t cache_gen;
	json_t *cache; /* zone name -> ResourceRecordSets */
};

static double now_real(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- sampling ------------------------------------------------------------- */

static void add_named(struct named *arr, unsigned *n, const char *name, uint64_t v)
{
	for (unsigned i = 0; i < *n; i++)
		if (strcmp(arr[i].name, name) == 0) {
			arr[i].v += v;
			return;
		}
	if (*n == MAX_NAMES)
		return;
	snprintf(arr[*n].name, sizeof(arr[*n].name), "%s", name);
	arr[(*n)++].v = v;
}

static void on_counter(void *sink, const char *family, const char *label, const char *value,
		       unsigned worker, uint64_t v)
{
	struct reading *r = sink;
	(void)label;
	if (strcmp(family, "responses") == 0 && value) {
		add_named(r->rcode, &r->nrcode, value, v);
		if (worker < MAX_WORKERS) {
			r->worker[worker] += v;
			if (worker + 1 > r->nworker)
				r->nworker = worker + 1;
		}
	} else if (strcmp(family, "firewall_hits") == 0 && value) {
		add_named(r->fw, &r->nfw, value, v);
	} else if (strcmp(family, "latency_answers") == 0 && value) {
		/* le_ns is 2^(k+1) for bucket k (api_emit_latency). */
		unsigned long long le = strtoull(value, NULL, 10);
		unsigned k = le > 1 ? 62u - (unsigned)__builtin_clzll(le) : 0;
		if (k < LATHIST_BUCKETS)
			r->lat[k] += v;
	} else if (strcmp(family, "busy_ns") == 0 && worker < MAX_WORKERS) {
		r->busy_ns[worker] += v;
		if (worker + 1 > r->nbusy)
			r->nbusy = worker + 1;
	}
}

/* The upper bound, in microseconds, of the bucket where the q-quantile of
 * the answers counted between two readings falls. */
static double quantile_us(const uint64_t *now, const uint64_t *before, double q)
{
	uint64_t d[LATHIST_BUCKETS], total = 0;
	for (unsigned k = 0; k < LATHIST_BUCKETS; k++) {
		d[k] = now[k] > before[k] ? now[k] - before[k] : 0;
		total += d[k];
	}
	if (total == 0)
		return 0;
	uint64_t want = (uint64_t)((double)total * q + 0.999999), seen = 0;
	unsigned k = 0;
	for (; k < LATHIST_BUCKETS - 1; k++) {
		seen += d[k];
		if (seen >= want)
			break;
	}
	return (double)(2ull << k) / 1000.0;
}

static uint64_t value_of(const struct named *arr, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(arr[i].name, name) == 0)
			return arr[i].v;
	return 0;
}

static uint64_t rate_milli(uint64_t now, uint64_t before, double dt)
{
	return now > before ? (uint64_t)((double)(now - before) * 1000.0 / dt + 0.5) : 0;
}

/* Claims the next slot of a ring of cap entries (head: oldest, n: in use),
 * dropping the oldest when it is full; returns the slot's index. */
static unsigned ring_push(unsigned *head, unsigned *n, unsigned cap)
{
	unsigned i = (*head + *n) % cap;
	if (*n == cap)
		*head = (*head + 1) % cap;
	else
		(*n)++;
	return i;
}

static void sample_counters(struct console *c, double t)
{
	struct reading r;
	memset(&r, 0, sizeof(r));
	c->cfg.counters(c->cfg.counters_arg, on_counter, &r);
	pthread_mutex_lock(&c->mu);
	if (c->have_last && t > c->last_t) {
		double dt = t - c->last_t;
		struct sample *s = &c->s[ring_push(&c->sh, &c->ns, SAMPLES)];
		memset(s, 0, sizeof(*s));
		s->t = t;
		for (unsigned i = 0; i < r.nrcode; i++) {
			s->rcode[i] = r.rcode[i];
			s->rcode[i].v = rate_milli(
			    r.rcode[i].v, value_of(c->last.rcode, c->last.nrcode, r.rcode[i].name),
			    dt);
		}
		s->nrcode = r.nrcode;
		for (unsigned i = 0; i < r.nfw; i++) {
			s->fw[i] = r.fw[i];
			s->fw[i].v = rate_milli(
			    r.fw[i].v, value_of(c->last.fw, c->last.nfw, r.fw[i].name), dt);
		}
		s->nfw = r.nfw;
		for (unsigned w = 0; w < r.nworker; w++)
			s->worker[w] = rate_milli(r.worker[w], c->last.worker[w], dt);
		s->nworker = r.nworker;
		s->p50_us = quantile_us(r.lat, c->last.lat, 0.50);
		s->p99_us = quantile_us(r.lat, c->last.lat, 0.99);
		for (unsigned w = 0; w < r.nbusy; w++) {
			uint64_t b = r.busy_ns[w] > c->last.busy_ns[w]
					 ? r.busy_ns[w] - c->last.busy_ns[w]
					 : 0;
			s->busy[w] = (double)b / (dt * 1e9);
		}
		s->nbusy = r.nbusy;
	}
	c->last = r;
	c->last_t = t;
	c->have_last = true;
	pthread_mutex_unlock(&c->mu);
}

/* One check as read, before it is merged into the history. */
struct check_now {
	char id[128], type[32], result[160];
	bool healthy;
	double changed;
};

struct health_pass {
	struct check_now *now;
	unsigned n;
};

static void on_check(void *sink, const struct api_health_check *hc)
{
	struct health_pass *p = sink;
	if (p->n == MAX_CHECKS)
		return;
	struct check_now *x = &p->now[p->n++];
	snprintf(x->id, sizeof(x->id), "%s", hc->id);
	snprintf(x->type, sizeof(x->type), "%s", hc->type ? hc->type : "");
	snprintf(x->result, sizeof(x->result), "%s", hc->last ? hc->last : "");
	x->healthy = hc->healthy;
	x->changed = hc->changed;
}

static void merge_check(struct console *c, const struct check_now *x, double t)
{
	struct check_hist *h = NULL;
	for (unsigned i = 0; i < c->nchecks && h == NULL; i++)
		if (strcmp(c->checks[i].id, x->id) == 0)
			h = &c->checks[i];
	if (h == NULL) {
		if (c->nchecks == MAX_CHECKS)
			return;
		h = &c->checks[c->nchecks++];
		memset(h, 0, sizeof(*h));
		snprintf(h->id, sizeof(h->id), "%s", x->id);
		snprintf(h->type, sizeof(h->type), "%s", x->type);
	} else if (h->healthy == x->healthy) {
		return;
	}
	h->healthy = x->healthy;
	struct check_event *e = &h->ev[(h->head + h->nev) % CHECK_EVENTS];
	if (h->nev == CHECK_EVENTS)
		h->head = (h->head + 1) % CHECK_EVENTS;
	else
		h->nev++;
	/* The checker knows when the state changed; we only see it later. */
	e->t = x->changed > 0 ? x->changed : t;
	e->healthy = x->healthy;
	snprintf(e->result, sizeof(e->result), "%s", x->result);
}

/* The health callback may take other locks: it runs without ours. */
static void sample_health(struct console *c, double t)
{
	if (c->cfg.health == NULL)
		return;
	struct health_pass p = {calloc(MAX_CHECKS, sizeof(struct check_now)), 0};
	if (p.now == NULL)
		return;
	c->cfg.health(c->cfg.health_arg, on_check, &p);
	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < p.n; i++)
		merge_check(c, &p.now[i], t);
	pthread_mutex_unlock(&c->mu);
	free(p.now);
}

struct snap_pass {
	struct console *c;
	double t;
};

static void on_snapshot(void *arg, const struct snapmgr_live *live, const struct snapmgr_stats *st)
{
	struct snap_pass *p = arg;
	struct console *c = p->c;
	pthread_mutex_lock(&c->mu);
	c->swaps = st->swaps;
	c->failures = st->failures;
	if (st->last_error_at) {
		snprintf(c->last_error, sizeof(c->last_error), "%s", st->last_error);
		c->last_error_at = (double)st->last_error_at / 1e9;
	}
	const struct generation *newest = c->ng ? &c->g[(c->gh + c->ng - 1) % GENERATIONS] : NULL;
	if (live && (newest == NULL || newest->generation != live->generation)) {
		struct generation *g = &c->g[ring_push(&c->gh, &c->ng, GENERATIONS)];
		memset(g, 0, sizeof(*g));
		struct p53_snapshot_info in;
		p53_snapshot_info(live->snap, &in);
		g->generation = live->generation;
		g->serial = live->serial;
		g->loaded_at = (double)live->loaded_at / 1e9;
		g->seen_at = p->t;
		/* The manager keeps the last swap's figures: right for every
		 * generation the sampler sees as it happens. */
		g->swap_us = live->generation > 1 ? (double)st->last_swap_ns / 1e3 : 0;
		g->verify_ms = (double)st->last_verify_ns / 1e6;
		g->zones = in.zones;
		for (int i = 0; i < 8; i++)
			snprintf(g->hash + 2 * i, 3, "%02x", in.hash[i]);
		snprintf(g->source, sizeof(g->source), "%s", st->source);
	}
	pthread_mutex_unlock(&c->mu);
}

static void *sampler(void *arg)
{
	struct console *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		pthread_mutex_unlock(&c->mu);
		double t = now_real();
		if (c->cfg.counters)
			sample_counters(c, t);
		sample_health(c, t);
		struct snap_pass sp = {c, t};
		snapmgr_view(c->cfg.mgr, on_snapshot, &sp);
		pthread_mutex_lock(&c->mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		while (!c->stop && pthread_cond_timedwait(&c->cv, &c->mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---- JSON ------------------------------------------------------------------ */

static json_t *named_obj(const struct named *arr, unsigned n)
{
	json_t *o = json_object();
	for (unsigned i = 0; i < n; i++)
		json_object_set_new(o, arr[i].name, json_real((double)arr[i].v / 1000.0));
	return o;
}

static json_t *series_json(struct console *c)
{
	json_t *arr = json_array();
	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < c->ns; i++) {
		const struct sample *s = &c->s[(c->sh + i) % SAMPLES];
		json_t *w = json_array(), *busy = json_array();
		for (unsigned k = 0; k < s->nworker; k++)
			json_array_append_new(w, json_real((double)s->worker[k] / 1000.0));
		for (unsigned k = 0; k < s->nbusy; k++)
			json_array_append_new(busy, json_real(s->busy[k]));
		json_array_append_new(arr,
				      json_pack("{s:f,s:o,s:o,s:o,s:f,s:f,s:o}", "t", s->t, "rcode",
						named_obj(s->rcode, s->nrcode), "workers", w,
						"firewall", named_obj(s->fw, s->nfw), "p50_us",
						s->p50_us, "p99_us", s->p99_us, "busy", busy));
	}
	pthread_mutex_unlock(&c->mu);
	return json_pack("{s:i,s:o}", "interval_s", 1, "samples", arr);
}

static json_t *health_json(struct console *c)
{
	json_t *arr = json_array();
	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < c->nchecks; i++) {
		const struct check_hist *h = &c->checks[i];
		json_t *ev = json_array();
		for (unsigned k = 0; k < h->nev; k++) {
			const struct check_event *e = &h->ev[(h->head + k) % CHECK_EVENTS];
			json_array_append_new(ev, json_pack("{s:f,s:s,s:s}", "t", e->t, "state",
							    e->healthy ? "healthy" : "unhealthy",
							    "result", e->result));
		}
		json_array_append_new(
		    arr, json_pack("{s:s,s:s,s:s,s:o}", "id", h->id, "type", h->type, "state",
				   h->healthy ? "healthy" : "unhealthy", "events", ev));
	}
	pthread_mutex_unlock(&c->mu);
	return json_pack("{s:b,s:o}", "configured", c->cfg.health != NULL, "checks", arr);
}

static json_t *snapshots_json(struct console *c)
{
	json_t *arr = json_array();
	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < c->ng; i++) {
		const struct generation *g = &c->g[(c->gh + i) % GENERATIONS];
		json_array_append_new(
		    arr, json_pack("{s:I,s:I,s:f,s:f,s:f,s:f,s:s,s:s,s:i}", "generation",
				   (json_int_t)g->generation, "serial", (json_int_t)g->serial,
				   "loaded_at", g->loaded_at, "seen_at", g->seen_at, "swap_us",
				   g->swap_us, "verify_ms", g->verify_ms, "source", g->source,
				   "hash_prefix", g->hash, "zones", (int)g->zones));
	}
	json_t *o = json_pack("{s:o,s:I,s:I}", "generations", arr, "swaps", (json_int_t)c->swaps,
			      "failed_loads", (json_int_t)c->failures);
	if (c->last_error[0])
		json_object_set_new(
		    o, "last_error",
		    json_pack("{s:s,s:f}", "error", c->last_error, "at", c->last_error_at));
	pthread_mutex_unlock(&c->mu);
	return o;
}

static void apex_text(const uint8_t *apex, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = 0;
	for (const uint8_t *p = apex; *p && o < cap; p += *p + 1)
		o += (size_t)snprintf(out + o, cap - o, "%.*s.", *p, (const char *)p + 1);
	if (*apex == 0)
		snprintf(out, cap, ".");
}

static void zones_view(void *arg, const struct snapmgr_live *live, const struct snapmgr_stats *st)
{
	json_t *arr = arg;
	(void)st;
	if (live == NULL)
		return;
	struct p53_snapshot_info in;
	p53_snapshot_info(live->snap, &in);
	for (uint32_t i = 0; i < in.zones; i++) {
		uint32_t serial;
		char name[1024];
		apex_text(p53_snapshot_zone(live->snap, i, &serial), name, sizeof(name));
		json_array_append_new(
		    arr, json_pack("{s:s,s:I}", "name", name, "serial", (json_int_t)serial));
	}
}

/* Exports every zone of a new generation as Route 53 JSON, once. */
static void records_view(void *arg, const struct snapmgr_live *live, const struct snapmgr_stats *st)
{
	struct console *c = arg;
	(void)st;
	if (live == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	bool fresh = c->cache && c->cache_gen == live->generation;
	pthread_mutex_unlock(&c->mu);
	if (fresh)
		return;
	json_t *cache = json_object();
	struct p53_snapshot_info in;
	p53_snapshot_info(live->snap, &in);
	for (uint32_t i = 0; i < in.zones; i++) {
		uint32_t serial;
		char name[1024];
		apex_text(p53_snapshot_zone(live->snap, i, &serial), name, sizeof(name));
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		if (f == NULL)
			continue;
		int rc = r53_export_json(live->snap, name, f);
		fclose(f);
		json_t *doc = rc == 0 ? json_loadb(buf, len, 0, NULL) : NULL;
		free(buf);
		json_t *sets = json_object_get(doc, "ResourceRecordSets");
		if (json_is_array(sets))
			json_object_set(cache, name, sets);
		json_decref(doc);
	}
	pthread_mutex_lock(&c->mu);
	json_decref(c->cache);
	c->cache = cache;
	c->cache_gen = live->generation;
	pthread_mutex_unlock(&c->mu);
}

static bool contains_ci(const char *hay, const char *needle)
{
	return needle == NULL || *needle == 0 || strcasestr(hay, needle) != NULL;
}

static bool set_matches(json_t *set, const char *q, const char *type)
{
	const char *t = json_string_value(json_object_get(set, "Type"));
	if (type && *type && (t == NULL || strcasecmp(t, type) != 0))
		return false;
	if (q == NULL || *q == 0)
		return true;
	const char *name = json_string_value(json_object_get(set, "Name"));
	const char *id = json_string_value(json_object_get(set, "SetIdentifier"));
	if ((name && contains_ci(name, q)) || (id && contains_ci(id, q)))
		return true;
	size_t i;
	json_t *rr;
	json_array_foreach(json_object_get(set, "ResourceRecords"), i, rr)
	{
		const char *v = json_string_value(json_object_get(rr, "Value"));
		if (v && contains_ci(v, q))
			return true;
	}
	json_t *alias = json_object_get(set, "AliasTarget");
	const char *dns = json_string_value(json_object_get(alias, "DNSName"));
	return dns && contains_ci(dns, q);
}

static json_t *records_json(struct console *c, const char *zone, const char *q, const char *type)
{
	snapmgr_view(c->cfg.mgr, records_view, c);
	json_t *out = json_array();
	size_t total = 0;
	pthread_mutex_lock(&c->mu);
	const char *zn;
	json_t *sets;
	json_object_foreach(c->cache, zn, sets)
	{
		if (zone && *zone && strcasecmp(zone, zn) != 0)
			continue;
		size_t i;
		json_t *set;
		json_array_foreach(sets, i, set)
		{
			if (!set_matches(set, q, type))
				continue;
			if (total++ < RECORDS_MAX) {
				json_t *row = json_deep_copy(set);
				json_object_set_new(row, "Zone", json_string(zn));
				json_array_append_new(out, row);
			}
		}
	}
	pthread_mutex_unlock(&c->mu);
	return json_pack("{s:I,s:i,s:o}", "total", (json_int_t)total, "limit", RECORDS_MAX,
			 "records", out);
}

/* ---- HTTP ------------------------------------------------------------------ */

static enum MHD_Result send_buf(struct MHD_Connection *conn, unsigned status, char *buf, size_t len,
				const char *ctype)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	/* Everything the pages load comes from this server. */
	MHD_add_response_header(
	    r, "Content-Security-Policy",
	    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_obj(struct MHD_Connection *conn, unsigned status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		return MHD_NO;
	return send_buf(conn, status, s, strlen(s), "application/json");
}

static enum MHD_Result not_found(struct MHD_Connection *conn, const char *url)
{
	return send_obj(conn, MHD_HTTP_NOT_FOUND,
			json_pack("{s:s}", "error", url ? url : "not found"));
}

static enum MHD_Result send_file(struct MHD_Connection *conn, const char *dir, const char *name,
				 const char *ctype)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return send_obj(conn, MHD_HTTP_NOT_FOUND,
				json_pack("{s:s}", "error", "console asset missing"));
	char *buf = malloc(FILE_MAX);
	size_t n = buf ? fread(buf, 1, FILE_MAX, f) : 0;
	bool whole = buf && feof(f) && !ferror(f);
	fclose(f);
	if (!whole) {
		free(buf);
		return send_obj(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				json_pack("{s:s}", "error", "console asset unreadable"));
	}
	return send_buf(conn, MHD_HTTP_OK, buf, n, ctype);
}

bool console_owns(const char *url)
{
	return strcmp(url, "/") == 0 || strcmp(url, "/console") == 0 ||
	       strncmp(url, "/console/", 9) == 0 || strncmp(url, "/v1/console/", 12) == 0;
}

enum MHD_Result console_handle(struct console *c, struct MHD_Connection *conn, const char *url)
{
	static const struct {
		const char *url, *file, *ctype;
		bool chartjs;
	} files[] = {
	    {"/console/", "index.html", "text/html; charset=utf-8", false},
	    {"/console/app.js", "app.js", "text/javascript; charset=utf-8", false},
	    {"/console/app.css", "app.css", "text/css; charset=utf-8", false},
	    {"/console/chart.min.js", "chart.min.js", "text/javascript; charset=utf-8", true},
	};
	if (strcmp(url, "/") == 0 || strcmp(url, "/console") == 0) {
		struct MHD_Response *r =
		    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (r == NULL)
			return MHD_NO;
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, "/console/");
		enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_FOUND, r);
		MHD_destroy_response(r);
		return ret;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strcmp(url, files[i].url) == 0)
			return send_file(conn, files[i].chartjs ? c->chartjs : c->assets,
					 files[i].file, files[i].ctype);
	if (strcmp(url, "/v1/console/zones") == 0) {
		json_t *arr = json_array();
		snapmgr_view(c->cfg.mgr, zones_view, arr);
		return send_obj(conn, MHD_HTTP_OK, json_pack("{s:o}", "zones", arr));
	}
	if (strcmp(url, "/v1/console/records") == 0)
		return send_obj(
		    conn, MHD_HTTP_OK,
		    records_json(c,
				 MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "zone"),
				 MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "q"),
				 MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "type")));
	if (strcmp(url, "/v1/console/series") == 0)
		return send_obj(conn, MHD_HTTP_OK, series_json(c));
	if (strcmp(url, "/v1/console/health-history") == 0)
		return send_obj(conn, MHD_HTTP_OK, health_json(c));
	if (strcmp(url, "/v1/console/snapshots") == 0)
		return send_obj(conn, MHD_HTTP_OK, snapshots_json(c));
	return not_found(conn, url);
}

struct console *console_new(const struct api_cfg *cfg, const char *assets, const char *chartjs)
{
	struct console *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->cfg = *cfg;
	const char *env = getenv("PORT53_CONSOLE_DIR");
	c->assets = strdup(assets ? assets : env && *env ? env : P53_CONSOLE_DIR);
	env = getenv("PORT53_CHARTJS_DIR");
	c->chartjs = strdup(chartjs ? chartjs : env && *env ? env : CHARTJS_DIR);
	c->checks = calloc(MAX_CHECKS, sizeof(*c->checks));
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	/* The sampler takes no signals: the servers wait for theirs in one
	 * thread (signalfd, sigtimedwait), which must stay the only taker. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = c->assets && c->chartjs && c->checks ? pthread_create(&c->thread, NULL, sampler, c)
						      : -1;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		console_free(c);
		return NULL;
	}
	c->running = true;
	return c;
}

void console_free(struct console *c)
{
	if (c == NULL)
		return;
	if (c->running) {
		pthread_mutex_lock(&c->mu);
		c->stop = true;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thread, NULL);
	}
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	json_decref(c->cache);
	free(c->checks);
	free(c->assets);
	free(c->chartjs);
	free(c);
}
