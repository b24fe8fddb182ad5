/* The node's own health (see nodehealth.h).
 *
 * Heartbeats are compared with the previous sample rather than timed by the
 * workers: a worker only bumps a counter it alone writes, and the control
 * thread notes when each last moved.
 */
#include "ctrl/fleet/nodehealth.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct nodehealth {
	struct nodehealth_cfg cfg;
	pthread_mutex_t mu;
	unsigned n;
	uint64_t *last;	   /* last counter seen, per worker */
	int64_t *moved_at; /* CLOCK_MONOTONIC ns of its last change */
	unsigned nbeat;	   /* threads the front end reports; 0 = none yet */
	bool zones_tracked;
	unsigned zones_expired;
	unsigned signed_zones;
	int64_t earliest_expiry; /* Unix seconds */
};

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct nodehealth *nodehealth_new(const struct nodehealth_cfg *cfg, unsigned nworkers)
{
	struct nodehealth *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->cfg = *cfg;
	if (h->cfg.worker_stall_ms == 0)
		h->cfg.worker_stall_ms = 3000;
	h->n = nworkers;
	h->last = calloc(nworkers ? nworkers : 1, sizeof(*h->last));
	h->moved_at = calloc(nworkers ? nworkers : 1, sizeof(*h->moved_at));
	if (h->last == NULL || h->moved_at == NULL) {
		nodehealth_free(h);
		return NULL;
	}
	int64_t now = clock_ns(CLOCK_MONOTONIC);
	for (unsigned i = 0; i < nworkers; i++)
		h->moved_at[i] = now;
	pthread_mutex_init(&h->mu, NULL);
	return h;
}

void nodehealth_free(struct nodehealth *h)
{
	if (h == NULL)
		return;
	free(h->last);
	free(h->moved_at);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

void nodehealth_beat(struct nodehealth *h, const uint64_t *beats, unsigned n)
{
	int64_t now = clock_ns(CLOCK_MONOTONIC);
	pthread_mutex_lock(&h->mu);
	if (n > h->n)
		n = h->n;
	for (unsigned i = 0; i < n; i++) {
		if (beats[i] != h->last[i]) {
			h->last[i] = beats[i];
			h->moved_at[i] = now;
		}
	}
	h->nbeat = n;
	pthread_mutex_unlock(&h->mu);
}

void nodehealth_set_expired(struct nodehealth *h, unsigned nexpired)
{
	pthread_mutex_lock(&h->mu);
	h->zones_tracked = true;
	h->zones_expired = nexpired;
	pthread_mutex_unlock(&h->mu);
}

void nodehealth_set_signatures(struct nodehealth *h, unsigned signed_zones, int64_t earliest)
{
	pthread_mutex_lock(&h->mu);
	h->signed_zones = signed_zones;
	h->earliest_expiry = earliest;
	pthread_mutex_unlock(&h->mu);
}

struct live_view {
	bool have;
	int64_t loaded_at;
	uint64_t serial;
};

static void view(void *arg, const struct snapmgr_live *live, const struct snapmgr_stats *st)
{
	struct live_view *v = arg;
	(void)st;
	if (live) {
		v->have = true;
		v->loaded_at = live->loaded_at;
		v->serial = live->serial;
	}
}

static void reason(struct nodehealth_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reason(struct nodehealth_report *r, const char *fmt, ...)
{
	size_t o = strlen(r->reasons);
	if (o && o + 2 < sizeof(r->reasons)) {
		memcpy(r->reasons + o, "; ", 3);
		o += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->reasons + o, sizeof(r->reasons) - o, fmt, ap);
	va_end(ap);
}

void nodehealth_eval(struct nodehealth *h, struct snapmgr *mgr, struct follow *fol,
		     struct nodehealth_report *r)
{
	memset(r, 0, sizeof(*r));
	int64_t mono = clock_ns(CLOCK_MONOTONIC), now = clock_ns(CLOCK_REALTIME);

	pthread_mutex_lock(&h->mu);
	r->workers = h->nbeat;
	for (unsigned i = 0; i < r->workers; i++)
		if (mono - h->moved_at[i] <= (int64_t)h->cfg.worker_stall_ms * 1000000)
			r->workers_answering++;
	r->zones_tracked = h->zones_tracked;
	r->zones_expired = h->zones_expired;
	r->signed_zones = h->signed_zones;
	r->signature_validity_s = (double)h->earliest_expiry - (double)now / 1e9;
	pthread_mutex_unlock(&h->mu);
	r->workers_ok = r->workers_answering == r->workers;
	if (!r->workers_ok)
		reason(r, "%u of %u answering threads made no progress for %u ms",
		       r->workers - r->workers_answering, r->workers, h->cfg.worker_stall_ms);

	struct live_view lv = {0};
	snapmgr_view(mgr, view, &lv);
	struct follow_stats fs = {0};
	if (fol)
		follow_stats(fol, &fs);
	r->origin = fol != NULL;
	r->serial = lv.serial;
	r->snapshot_age_s = r->loaded_age_s = -1;
	if (lv.have) {
		int64_t known =
		    lv.loaded_at > fs.last_current_at ? lv.loaded_at : fs.last_current_at;
		r->loaded_age_s = (double)(now - lv.loaded_at) / 1e9;
		r->snapshot_age_s = (double)(now - known) / 1e9;
	}
	r->snapshot_ok = lv.have && (h->cfg.max_snapshot_age_s == 0 ||
				     r->snapshot_age_s <= (double)h->cfg.max_snapshot_age_s);
	if (!lv.have)
		reason(r, "no snapshot loaded");
	else if (!r->snapshot_ok)
		reason(r, "snapshot last known current %.0f s ago, limit %u s", r->snapshot_age_s,
		       h->cfg.max_snapshot_age_s);

	r->origin_ok = true;
	if (fol) {
		/* Before the first answer, silence counts from the load. */
		int64_t since = fs.last_ok_at ? fs.last_ok_at : lv.loaded_at;
		r->origin_silence_s = since ? (double)(now - since) / 1e9 : -1;
		if (h->cfg.origin_max_silence_s &&
		    r->origin_silence_s > (double)h->cfg.origin_max_silence_s) {
			r->origin_ok = false;
			reason(r, "origin not reached for %.0f s, limit %u s (%s)",
			       r->origin_silence_s, h->cfg.origin_max_silence_s,
			       fs.last_error[0] ? fs.last_error : "no answer yet");
		}
	}
	r->zones_ok = r->zones_expired == 0;
	if (!r->zones_ok)
		reason(r, "%u zones past their expire time", r->zones_expired);
	r->signatures_ok = r->signed_zones == 0 || h->cfg.min_signature_validity_s == 0 ||
			   r->signature_validity_s >= (double)h->cfg.min_signature_validity_s;
	if (!r->signatures_ok)
		reason(r, "earliest signature expires in %.0f s, limit %u s",
		       r->signature_validity_s, h->cfg.min_signature_validity_s);
	r->healthy =
	    r->workers_ok && r->snapshot_ok && r->origin_ok && r->zones_ok && r->signatures_ok;
}

static json_t *real_or_null(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

static json_t *time_or_null(int64_t ns)
{
	return ns ? json_real((double)ns / 1e9) : json_null();
}

json_t *nodehealth_json(const struct nodehealth_report *r, struct follow *fol)
{
	json_t *o = json_object();
	json_object_set_new(o, "healthy", json_boolean(r->healthy));
	json_object_set_new(o, "reasons", json_string(r->reasons));
	json_object_set_new(o, "serial", json_integer((json_int_t)r->serial));
	json_t *ck = json_object();
	json_object_set_new(ck, "workers",
			    json_pack("{s:b, s:i, s:i}", "ok", r->workers_ok, "answering",
				      (int)r->workers_answering, "of", (int)r->workers));
	json_object_set_new(ck, "snapshot_age",
			    json_pack("{s:b, s:o, s:o}", "ok", r->snapshot_ok, "seconds",
				      real_or_null(r->snapshot_age_s), "since_load",
				      real_or_null(r->loaded_age_s)));
	json_object_set_new(ck, "origin",
			    r->origin
				? json_pack("{s:b, s:o}", "ok", r->origin_ok, "silent_seconds",
					    real_or_null(r->origin_silence_s))
				: json_null());
	json_object_set_new(ck, "zones_expired",
			    r->zones_tracked ? json_pack("{s:b, s:i}", "ok", r->zones_ok, "count",
							 (int)r->zones_expired)
					     : json_null());
	json_object_set_new(ck, "signatures",
			    r->signed_zones ? json_pack("{s:b, s:i, s:f}", "ok", r->signatures_ok,
							"signed_zones", (int)r->signed_zones,
							"validity_seconds", r->signature_validity_s)
					    : json_null());
	json_object_set_new(o, "checks", ck);
	if (fol == NULL) {
		json_object_set_new(o, "origin", json_null());
		return o;
	}
	struct follow_stats s;
	follow_stats(fol, &s);
	json_t *og = json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:o, s:o, s:o, s:o, s:b, s:s, s:s, s:f}",
	    "polls", (json_int_t)s.polls, "not_modified", (json_int_t)s.not_modified, "fetched",
	    (json_int_t)s.fetched, "loaded", (json_int_t)s.loaded, "unchanged",
	    (json_int_t)s.unchanged, "rejected", (json_int_t)s.rejected, "errors",
	    (json_int_t)s.errors, "consecutive_errors", (int)s.consecutive_errors, "last_ok_at",
	    time_or_null(s.last_ok_at), "last_current_at", time_or_null(s.last_current_at),
	    "last_loaded_at", time_or_null(s.last_loaded_at), "last_error_at",
	    time_or_null(s.last_error_at), "origin_rejected", s.origin_rejected, "etag", s.etag,
	    "last_error", s.last_error, "last_fetch_ms", s.last_fetch_ms);
	json_object_set_new(og, "last_loaded_serial",
			    s.last_loaded_serial ? json_integer((json_int_t)s.last_loaded_serial)
						 : json_null());
	json_object_set_new(o, "origin", og);
	return o;
}

static void g(FILE *f, const char *name, const char *help, const char *type, double v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

void nodehealth_metrics(FILE *f, const struct nodehealth_report *r, struct follow *fol)
{
	g(f, "port53_node_healthy", "1 when every node check passes (GET /v1/node).", "gauge",
	  r->healthy);
	fputs("# HELP port53_node_check 1 when the node check passes.\n"
	      "# TYPE port53_node_check gauge\n",
	      f);
	fprintf(f, "port53_node_check{check=\"workers\"} %d\n", r->workers_ok);
	fprintf(f, "port53_node_check{check=\"snapshot_age\"} %d\n", r->snapshot_ok);
	if (r->origin)
		fprintf(f, "port53_node_check{check=\"origin\"} %d\n", r->origin_ok);
	if (r->zones_tracked)
		fprintf(f, "port53_node_check{check=\"zones_expired\"} %d\n", r->zones_ok);
	if (r->signed_zones)
		fprintf(f, "port53_node_check{check=\"signatures\"} %d\n", r->signatures_ok);
	g(f, "port53_node_workers_answering", "Answering threads that made progress lately.",
	  "gauge", r->workers_answering);
	if (r->signed_zones)
		g(f, "port53_node_signature_validity_seconds",
		  "Seconds until the earliest RRSIG of the signed zones served expires.", "gauge",
		  r->signature_validity_s);
	if (r->snapshot_age_s >= 0)
		g(f, "port53_node_snapshot_age_seconds",
		  "Seconds since the node last knew its snapshot current.", "gauge",
		  r->snapshot_age_s);
	if (fol == NULL)
		return;
	struct follow_stats s;
	follow_stats(fol, &s);
	fputs("# HELP port53_origin_polls_total Polls of the origin, by outcome.\n"
	      "# TYPE port53_origin_polls_total counter\n",
	      f);
	static const char *const names[] = {"not_modified", "fetched", "error"};
	const uint64_t v[] = {s.not_modified, s.fetched, s.errors};
	for (size_t i = 0; i < 3; i++)
		fprintf(f, "port53_origin_polls_total{outcome=\"%s\"} %llu\n", names[i],
			(unsigned long long)v[i]);
	fputs("# HELP port53_origin_snapshots_total Downloaded snapshots, by verdict.\n"
	      "# TYPE port53_origin_snapshots_total counter\n",
	      f);
	fprintf(f, "port53_origin_snapshots_total{verdict=\"loaded\"} %llu\n",
		(unsigned long long)s.loaded);
	fprintf(f, "port53_origin_snapshots_total{verdict=\"unchanged\"} %llu\n",
		(unsigned long long)s.unchanged);
	fprintf(f, "port53_origin_snapshots_total{verdict=\"rejected\"} %llu\n",
		(unsigned long long)s.rejected);
	g(f, "port53_origin_consecutive_errors", "Failed polls since the last answer.", "gauge",
	  s.consecutive_errors);
	g(f, "port53_origin_rejected", "1 while the origin's current object is refused.", "gauge",
	  s.origin_rejected);
	if (s.last_ok_at)
		g(f, "port53_origin_last_ok_timestamp_seconds",
		  "When the origin last answered (unix time).", "gauge",
		  (double)s.last_ok_at / 1e9);
	if (s.last_loaded_at)
		g(f, "port53_origin_last_loaded_timestamp_seconds",
		  "When a snapshot from the origin last went live (unix time).", "gauge",
		  (double)s.last_loaded_at / 1e9);
}
