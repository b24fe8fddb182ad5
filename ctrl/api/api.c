/* Control API on libmicrohttpd (see api.h).
 *
 * Each listener is its own MHD daemon serving each connection on its own
 * thread: a push verifying a large snapshot holds its own connection only,
 * and status and metrics read through snapmgr_view(), which never waits for
 * a load (snapmgr serialises loads across listeners, signals and the
 * watcher). Nothing here is shared between connections but read-only
 * configuration. On TCP, connections per client address and in all are
 * capped and idle ones closed, so clients without the token cannot keep the
 * operator out.
 *
 * A pushed body is streamed into a memfd, never into a heap buffer or a named
 * temporary file: nothing to clean up after a crash, and the snapshot loader
 * maps it like any file.
 */
#include "ctrl/api/api.h"
#include "ctrl/api/lathist.h"
#include "ctrl/api/console.h"

#include "zones/answer/fw.h"

#include "ctrl/net/ksock.h"
#include "zones/common/name.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <limits.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY ((size_t)256 << 20)
#define JSON_BODY_MAX	 65536
#define TOKEN_MIN	 16
#define TOKEN_MAX	 512
/* A request refused before its body was read (401, 404, 405, 413) still has
 * its body read and dropped, up to this much, before the reply: closing a
 * socket with unread data resets it, and the client would lose the reply.
 * Clients that send "Expect: 100-continue" (curl, port53ctl) get the reply at
 * once and send nothing; bigger bodies get the reply and a closed connection. */
#define DISCARD_MAX ((size_t)16 << 20)

struct listener {
	struct api *api;
	struct MHD_Daemon *d;
	bool need_token;
	const char *name; /* "unix" or "tcp", for push sources */
};

/* A TCP connection waiting for its request headers (see header_watch). */
struct pending {
	int fd;
	uint64_t since_ms; /* connection start, or end of its last request */
	bool headers_done;
	struct pending *next, *prev;
};

struct api {
	struct api_cfg cfg;
	char *unix_path; /* owned copy, unlinked on stop */
	char *reload_path;
	char *reload_dir; /* resolved */
	char token[TOKEN_MAX + 1];
	size_t token_len;
	struct listener lu, lt;
	/* Request-header deadline on the TCP listener: libmicrohttpd's
	 * timeout restarts with every byte, so a client sending one byte at a
	 * time would keep its slot; this watchdog shuts down connections whose
	 * headers are not complete in time. */
	pthread_mutex_t plock;
	struct pending *pend;
	pthread_t watch;
	bool watching;
	atomic_bool stop_watch;
	uint64_t header_timeouts;
	struct console *console; /* the web console and its sampler */
};

enum route {
	R_STATUS,
	R_STATS,
	R_SNAPSHOT,
	R_RELOAD,
	R_METRICS,
	R_HEALTH,
	R_HEALTH_REPORTS,
	R_NODE,
	R_DNSSEC,
};

struct req {
	enum route route;
	int fd; /* memfd with the pushed body, or -1 */
	size_t got;
	size_t dropped; /* bytes over the limit, read and dropped */
	char *body;	/* JSON bodies */
	size_t blen;
	/* A refusal decided from the headers, sent once the body is drained. */
	unsigned err_status;
	const char *err_hname, *err_hval;
	char err_msg[400];
};

/* ---- responses ---------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, char *text, size_t len,
				 const char *ctype, const char *hname, const char *hval)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (hname)
		MHD_add_response_header(r, hname, hval);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Steals obj. */
static enum MHD_Result send_json_h(struct MHD_Connection *c, unsigned status, json_t *obj,
				   const char *hname, const char *hval)
{
	char *s = obj ? json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(obj);
	if (s == NULL)
		return MHD_NO;
	size_t n = strlen(s);
	/* A trailing newline makes curl output readable; JSON ignores it. */
	char *t = realloc(s, n + 2);
	if (t == NULL) {
		free(s);
		return MHD_NO;
	}
	t[n] = '\n';
	t[n + 1] = 0;
	return send_text(c, status, t, n + 1, "application/json", hname, hval);
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *obj)
{
	return send_json_h(c, status, obj, NULL, NULL);
}

static enum MHD_Result send_error_h(struct MHD_Connection *c, unsigned status, const char *hname,
				    const char *hval, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum MHD_Result send_error_h(struct MHD_Connection *c, unsigned status, const char *hname,
				    const char *hval, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return send_json_h(c, status, json_pack("{s:s, s:i}", "error", msg, "status", status),
			   hname, hval);
}

#define send_error(c, status, ...) send_error_h(c, status, NULL, NULL, __VA_ARGS__)

/* ---- status --------------------------------------------------------------- */

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static double seconds(int64_t ns)
{
	return (double)ns / 1e9;
}

static json_t *zones_json(const struct p53_snapshot *s, uint32_t n)
{
	json_t *arr = json_array();
	for (uint32_t i = 0; i < n; i++) {
		uint32_t serial;
		const uint8_t *apex = p53_snapshot_zone(s, i, &serial);
		char name[1100];
		if (apex == NULL || name_to_text(apex, name, sizeof(name)) < 0)
			continue;
		json_array_append_new(
		    arr, json_pack("{s:s, s:I}", "name", name, "serial", (json_int_t)serial));
	}
	return arr;
}

static void status_view(void *arg, const struct snapmgr_live *live, const struct snapmgr_stats *st)
{
	json_t *o = arg;
	int64_t now = 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if (live) {
		struct p53_snapshot_info in;
		p53_snapshot_info(live->snap, &in);
		char h[65];
		hex(in.hash, 32, h);
		json_object_set_new(o, "serial", json_integer((json_int_t)in.serial));
		json_object_set_new(o, "hash", json_string(h));
		json_object_set_new(o, "created", json_integer((json_int_t)in.created));
		json_object_set_new(o, "loaded_at", json_real(seconds(live->loaded_at)));
		json_object_set_new(o, "age_seconds", json_real(seconds(now - live->loaded_at)));
		json_object_set_new(o, "generation", json_integer((json_int_t)live->generation));
		json_object_set_new(o, "size", json_integer((json_int_t)in.size));
		json_object_set_new(o, "source", json_string(st->source));
		if (st->signed_ok) {
			char id[17];
			p53_key_id_text(st->key_id, id);
			json_object_set_new(o, "signed_by", json_string(id));
		} else {
			json_object_set_new(o, "signed_by", json_null());
		}
		json_object_set_new(o, "zones", zones_json(live->snap, in.zones));
	} else {
		json_object_set_new(o, "serial", json_null());
	}
	json_object_set_new(o, "require_signature", json_boolean(st->require_signature));
	json_object_set_new(o, "swaps", json_integer((json_int_t)st->swaps));
	json_object_set_new(o, "failed_loads", json_integer((json_int_t)st->failures));
	json_object_set_new(o, "last_swap_latency_us", json_real((double)st->last_swap_ns / 1e3));
	json_object_set_new(o, "max_swap_latency_us", json_real((double)st->max_swap_ns / 1e3));
	json_object_set_new(o, "last_verify_ms", json_real((double)st->last_verify_ns / 1e6));
	if (st->last_error_at) {
		json_object_set_new(o, "last_error", json_string(st->last_error));
		json_object_set_new(o, "last_error_at", json_real(seconds(st->last_error_at)));
	} else {
		json_object_set_new(o, "last_error", json_null());
	}
}

static enum MHD_Result do_status(struct api *a, struct MHD_Connection *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "server",
			    json_string(a->cfg.server_name ? a->cfg.server_name : "port53"));
	snapmgr_view(a->cfg.mgr, status_view, o);
	return send_json(c, MHD_HTTP_OK, o);
}

/* ---- counters ------------------------------------------------------------- */

struct ctr {
	char family[48];
	char label[24];
	char value[32];
	unsigned worker;
	uint64_t v;
};

struct ctrs {
	struct ctr *c;
	size_t n, cap;
	bool oom;
};

static void emit(void *sink, const char *family, const char *label, const char *value,
		 unsigned worker, uint64_t v)
{
	struct ctrs *cs = sink;
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 64;
		struct ctr *p = realloc(cs->c, cap * sizeof(*p));
		if (p == NULL) {
			cs->oom = true;
			return;
		}
		cs->c = p;
		cs->cap = cap;
	}
	struct ctr *c = &cs->c[cs->n++];
	snprintf(c->family, sizeof(c->family), "%s", family);
	snprintf(c->label, sizeof(c->label), "%s", label && value ? label : "");
	snprintf(c->value, sizeof(c->value), "%s", label && value ? value : "");
	c->worker = worker;
	c->v = v;
}

static void collect(struct api *a, struct ctrs *cs)
{
	memset(cs, 0, sizeof(*cs));
	if (a->cfg.counters)
		a->cfg.counters(a->cfg.counters_arg, emit, cs);
}

static uint64_t load64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void api_emit_fw(api_emit_fn out, void *sink, const struct p53_fw *fw)
{
	struct p53_fw_rule_info ri;
	for (uint32_t i = 0; fw && p53_fw_rule(fw, i, &ri); i++) {
		char name[256];
		snprintf(name, sizeof(name), "%s/%s", ri.group, ri.name);
		out(sink, "firewall_hits", "rule", name, 0, p53_fw_hits(fw, i));
	}
	if (fw)
		out(sink, "firewall_errors", NULL, NULL, 0, p53_fw_errors(fw));
}

void api_emit_engine(api_emit_fn e, void *sink, unsigned worker,
		     const uint64_t stats[P53_STAT__COUNT])
{
	static const struct {
		enum p53_stat s;
		const char *v;
	} rc[] = {
	    {P53_STAT_NOERROR, "NOERROR"},   {P53_STAT_FORMERR, "FORMERR"},
	    {P53_STAT_SERVFAIL, "SERVFAIL"}, {P53_STAT_NXDOMAIN, "NXDOMAIN"},
	    {P53_STAT_NOTIMP, "NOTIMP"},     {P53_STAT_REFUSED, "REFUSED"},
	    {P53_STAT_BADVERS, "BADVERS"},
	};
	static const enum p53_stat kinds[] = {P53_STAT_NODATA, P53_STAT_REFERRAL,
					      P53_STAT_TRUNCATED, P53_STAT_PRERENDERED};
	uint64_t answered = 0;
	for (size_t i = 0; i < sizeof(rc) / sizeof(rc[0]); i++) {
		uint64_t v = load64(&stats[rc[i].s]);
		answered += v;
		e(sink, "responses", "rcode", rc[i].v, worker, v);
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		e(sink, "answers", "kind", p53_stat_name(kinds[i]), worker,
		  load64(&stats[kinds[i]]));
	uint64_t dropped = load64(&stats[P53_STAT_DROP_SHORT]);
	e(sink, "drops", "reason", "malformed", worker, dropped);
	e(sink, "edns_queries", NULL, NULL, worker, load64(&stats[P53_STAT_EDNS]));
	e(sink, "queries", NULL, NULL, worker, answered + dropped);
}

void api_emit_latency(api_emit_fn e, void *sink, unsigned worker, const struct lathist *h,
		      uint64_t busy_ns)
{
	for (unsigned k = 0; k < LATHIST_BUCKETS; k++) {
		char le[24];
		snprintf(le, sizeof(le), "%llu", 2ull << k);
		e(sink, "latency_answers", "le_ns", le, worker, load64(&h->b[k]));
	}
	e(sink, "busy_ns", NULL, NULL, worker, busy_ns);
}

/* Families in order of first appearance, each an object of label values or
 * a number. */
static json_t *counters_obj(const struct ctrs *cs, bool all, unsigned worker)
{
	json_t *o = json_object();
	for (size_t i = 0; i < cs->n; i++) {
		const struct ctr *c = &cs->c[i];
		if (!all && c->worker != worker)
			continue;
		if (c->label[0] == 0) {
			json_t *cur = json_object_get(o, c->family);
			uint64_t base =
			    json_is_integer(cur) ? (uint64_t)json_integer_value(cur) : 0;
			json_object_set_new(o, c->family, json_integer((json_int_t)(base + c->v)));
			continue;
		}
		json_t *sub = json_object_get(o, c->family);
		if (!json_is_object(sub)) {
			sub = json_object();
			json_object_set_new(o, c->family, sub);
		}
		json_t *cur = json_object_get(sub, c->value);
		uint64_t base = json_is_integer(cur) ? (uint64_t)json_integer_value(cur) : 0;
		json_object_set_new(sub, c->value, json_integer((json_int_t)(base + c->v)));
	}
	return o;
}

static enum MHD_Result do_stats(struct api *a, struct MHD_Connection *c)
{
	struct ctrs cs;
	collect(a, &cs);
	if (cs.oom) {
		free(cs.c);
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	/* Worker numbers in ascending order, without duplicates. */
	unsigned maxw = 0;
	for (size_t i = 0; i < cs.n; i++)
		if (cs.c[i].worker > maxw)
			maxw = cs.c[i].worker;
	json_t *per = json_array();
	for (unsigned w = 0; cs.n && w <= maxw; w++) {
		bool seen = false;
		for (size_t i = 0; i < cs.n && !seen; i++)
			seen = cs.c[i].worker == w;
		if (seen)
			json_array_append_new(per,
					      json_pack("{s:i, s:o}", "worker", (int)w, "counters",
							counters_obj(&cs, false, w)));
	}
	json_t *o = json_pack("{s:I, s:o, s:o}", "workers", (json_int_t)json_array_size(per),
			      "total", counters_obj(&cs, true, 0), "per_worker", per);
	free(cs.c);
	return send_json(c, MHD_HTTP_OK, o);
}

/* ---- metrics -------------------------------------------------------------- */

static void prom_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static const char *family_help(const char *family)
{
	static const char *const help[][2] = {
	    {"queries", "DNS queries handled by the answer engine."},
	    {"responses", "DNS responses sent, by RCODE."},
	    {"answers", "Responses of a particular kind (NODATA, referral, truncated, "
			"pre-rendered)."},
	    {"drops", "Queries dropped without a response, by reason."},
	    {"edns_queries", "Queries carrying an EDNS OPT record."},
	    {"abuse", "Response rate limiting and DNS Cookie outcomes (docs/abuse.md)."},
	    {"latency_answers", "Answers by time spent in the server, in buckets of "
				"[le_ns/2, le_ns) nanoseconds (not cumulative)."},
	    {"busy_ns", "Nanoseconds an answering thread spent on work; its rate is the "
			"busy fraction."},
	    {"resolver", "Resolver outcomes: hand-offs, cache hits, upstream queries, "
			 "failovers, validation failures (docs/resolver.md)."},
	    {"resolver_view", "Resolver responses sent, by view."},
	    {"resolver_queue", "Resolver queue depth (a level, not a count): jobs waiting in "
			       "each answering thread's ring, and queries in flight."},
	};
	for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++)
		if (strcmp(help[i][0], family) == 0)
			return help[i][1];
	return "port53 counter.";
}

struct metrics_view {
	FILE *f;
};

static void gauge(FILE *f, const char *name, const char *help, const char *type, double v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.9g\n", name, help, name, type, name, v);
}

static void metrics_view(void *arg, const struct snapmgr_live *live, const struct snapmgr_stats *st)
{
	FILE *f = ((struct metrics_view *)arg)->f;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if (live) {
		gauge(f, "port53_snapshot_serial", "Serial of the live snapshot.", "gauge",
		      (double)live->serial);
		gauge(f, "port53_snapshot_loaded_timestamp_seconds",
		      "When the live snapshot was loaded (unix time).", "gauge",
		      seconds(live->loaded_at));
		gauge(f, "port53_snapshot_age_seconds",
		      "Seconds since the live snapshot was loaded.", "gauge",
		      seconds(now - live->loaded_at));
		struct p53_snapshot_info in;
		p53_snapshot_info(live->snap, &in);
		gauge(f, "port53_snapshot_zones", "Zones in the live snapshot.", "gauge",
		      (double)in.zones);
		fputs("# HELP port53_zone_soa_serial SOA serial of each zone served.\n"
		      "# TYPE port53_zone_soa_serial gauge\n",
		      f);
		for (uint32_t i = 0; i < in.zones; i++) {
			uint32_t serial;
			const uint8_t *apex = p53_snapshot_zone(live->snap, i, &serial);
			char name[1100];
			if (apex == NULL || name_to_text(apex, name, sizeof(name)) < 0)
				continue;
			fputs("port53_zone_soa_serial{zone=\"", f);
			prom_escape(f, name);
			fprintf(f, "\"} %u\n", serial);
		}
	}
	gauge(f, "port53_snapshot_swaps_total", "Snapshots swapped in after the first.", "counter",
	      (double)st->swaps);
	gauge(f, "port53_snapshot_load_failures_total", "Snapshots rejected.", "counter",
	      (double)st->failures);
	fprintf(f,
		"# HELP port53_snapshot_swap_latency_seconds Publish of a new snapshot to the "
		"old one freed (RCU grace period).\n"
		"# TYPE port53_snapshot_swap_latency_seconds summary\n"
		"port53_snapshot_swap_latency_seconds_sum %.9f\n"
		"port53_snapshot_swap_latency_seconds_count %llu\n",
		(double)st->sum_swap_ns / 1e9, (unsigned long long)st->swaps);
	gauge(f, "port53_snapshot_last_swap_latency_seconds", "Latency of the last swap.", "gauge",
	      (double)st->last_swap_ns / 1e9);
	gauge(f, "port53_snapshot_max_swap_latency_seconds", "Largest swap latency seen.", "gauge",
	      (double)st->max_swap_ns / 1e9);
}

static enum MHD_Result do_metrics(struct api *a, struct MHD_Connection *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	struct metrics_view mv = {f};
	snapmgr_view(a->cfg.mgr, metrics_view, &mv);
	if (a->cfg.metrics)
		a->cfg.metrics(a->cfg.node_arg, f);
	struct ctrs cs;
	collect(a, &cs);
	/* One HELP/TYPE block per family, its samples together, as the text
	 * format requires. */
	for (size_t i = 0; i < cs.n; i++) {
		bool first = true;
		for (size_t j = 0; j < i && first; j++)
			first = strcmp(cs.c[j].family, cs.c[i].family) != 0;
		if (!first)
			continue;
		fprintf(f, "# HELP port53_%s_total %s\n# TYPE port53_%s_total counter\n",
			cs.c[i].family, family_help(cs.c[i].family), cs.c[i].family);
		for (size_t j = i; j < cs.n; j++) {
			const struct ctr *k = &cs.c[j];
			if (strcmp(k->family, cs.c[i].family) != 0)
				continue;
			fprintf(f, "port53_%s_total{worker=\"%u\"", k->family, k->worker);
			if (k->label[0]) {
				fprintf(f, ",%s=\"", k->label);
				prom_escape(f, k->value);
				fputc('"', f);
			}
			fprintf(f, "} %llu\n", (unsigned long long)k->v);
		}
	}
	free(cs.c);
	if (fclose(f) != 0) {
		free(buf);
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	return send_text(c, MHD_HTTP_OK, buf, len, "text/plain; version=0.0.4; charset=utf-8", NULL,
			 NULL);
}

/* ---- loading -------------------------------------------------------------- */

static enum MHD_Result load_reply(struct api *a, struct MHD_Connection *c, const char *path,
				  const char *source, unsigned flags)
{
	struct snapmgr_swap sw;
	struct p53_err err = {0};
	if (snapmgr_load_flags(a->cfg.mgr, path, source, flags, &sw, &err) != 0) {
		const char *msg = err.msg;
		fprintf(stderr, "port53: %s rejected: %s\n", source ? source : path, msg);
		return send_json(c, MHD_HTTP_UNPROCESSABLE_CONTENT,
				 json_pack("{s:s, s:i}", "error", msg, "status",
					   MHD_HTTP_UNPROCESSABLE_CONTENT));
	}
	fprintf(stderr, "port53: %s: serial %llu live (was %llu), swap %.1f us\n",
		source ? source : path, (unsigned long long)sw.serial,
		(unsigned long long)sw.old_serial, (double)sw.swap_ns / 1e3);
	return send_json(c, MHD_HTTP_OK,
			 json_pack("{s:I, s:I, s:f, s:f, s:b}", "serial", (json_int_t)sw.serial,
				   "previous_serial", (json_int_t)sw.old_serial, "swap_latency_us",
				   (double)sw.swap_ns / 1e3, "verify_ms",
				   (double)sw.verify_ns / 1e6, "deferred_free", sw.deferred));
}

static enum MHD_Result do_push(struct listener *l, struct MHD_Connection *c, struct req *r)
{
	if (r->got == 0)
		return send_error(c, MHD_HTTP_BAD_REQUEST,
				  "empty body: send the snapshot file as the request body");
	char path[64], source[128];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", r->fd);
	snprintf(source, sizeof(source), "push over %s (%zu bytes)", l->name, r->got);
	/* ?allow_older=1: the operator rolls back on purpose. */
	const char *ao = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "allow_older");
	unsigned flags = 0;
	if (ao && (strcmp(ao, "1") == 0 || strcmp(ao, "true") == 0))
		flags |= SNAPMGR_ALLOW_OLDER;
	else if (ao)
		return send_error(c, MHD_HTTP_BAD_REQUEST, "allow_older must be 1 or true");
	return load_reply(l->api, c, path, source, flags);
}

/* Resolves path (symbolic links and "..") into real and checks that it names
 * something inside dir (itself resolved at start-up). */
static bool inside_dir(const char *dir, const char *path, char real[PATH_MAX])
{
	if (realpath(path, real) == NULL)
		return false;
	size_t n = strlen(dir);
	return strncmp(real, dir, n) == 0 && real[n] == '/' && real[n + 1] != 0;
}

static enum MHD_Result do_reload(struct api *a, struct MHD_Connection *c, struct req *r)
{
	const char *path = a->reload_path;
	unsigned flags = 0;
	json_t *doc = NULL;
	if (r->blen) {
		json_error_t je;
		doc = json_loadb(r->body, r->blen, JSON_REJECT_DUPLICATES, &je);
		if (doc == NULL)
			return send_error(c, MHD_HTTP_BAD_REQUEST,
					  "invalid JSON at line %d column %d: %s", je.line,
					  je.column, je.text);
		if (!json_is_object(doc)) {
			json_decref(doc);
			return send_error(
			    c, MHD_HTTP_BAD_REQUEST,
			    "the body must be a JSON object like {\"path\": \"...\"}");
		}
		const char *key;
		json_t *v;
		json_object_foreach(doc, key, v)
		{
			if (strcmp(key, "allow_older") == 0) {
				if (!json_is_boolean(v)) {
					json_decref(doc);
					return send_error(c, MHD_HTTP_BAD_REQUEST,
							  "field 'allow_older' must be a boolean");
				}
				flags = json_is_true(v) ? SNAPMGR_ALLOW_OLDER : 0;
				continue;
			}
			if (strcmp(key, "path") != 0) {
				enum MHD_Result ret = send_error(
				    c, MHD_HTTP_BAD_REQUEST,
				    "unknown field '%s' (known fields: path, allow_older)", key);
				json_decref(doc);
				return ret;
			}
			if (!json_is_string(v)) {
				json_decref(doc);
				return send_error(c, MHD_HTTP_BAD_REQUEST,
						  "field 'path' must be a string");
			}
			path = json_string_value(v);
			if (path[0] != '/') {
				json_decref(doc);
				return send_error(c, MHD_HTTP_BAD_REQUEST,
						  "field 'path' must be an absolute path");
			}
		}
	}
	enum MHD_Result ret;
	char real[PATH_MAX];
	if (path == NULL) {
		ret = send_error(c, MHD_HTTP_BAD_REQUEST,
				 "no snapshot path configured: give {\"path\": \"...\"}");
	} else if (path != a->reload_path && a->reload_dir == NULL) {
		ret = send_error(c, MHD_HTTP_FORBIDDEN,
				 "reloads from a given path are off: start the server with "
				 "--reload-dir DIR");
	} else if (path != a->reload_path && !inside_dir(a->reload_dir, path, real)) {
		ret = send_error(c, MHD_HTTP_FORBIDDEN,
				 "'%s' is not a file inside the reload directory %s", path,
				 a->reload_dir);
	} else {
		ret = load_reply(a, c, path != a->reload_path ? real : path, NULL, flags);
	}
	json_decref(doc);
	return ret;
}

/* ---- health checks -------------------------------------------------------- */

static void health_emit(void *sink, const struct api_health_check *hc)
{
	json_array_append_new(
	    sink, json_pack("{s:s, s:s, s:s, s:s, s:f, s:b, s:b, s:{s:i, s:i}}", "id", hc->id,
			    "type", hc->type, "state", hc->healthy ? "healthy" : "unhealthy",
			    "last_result", hc->last, "last_change", hc->changed, "inverted",
			    hc->inverted, "disabled", hc->disabled, "checkers", "reporting",
			    (int)hc->checkers, "healthy", (int)hc->checkers_healthy));
}

static enum MHD_Result do_health(struct api *a, struct MHD_Connection *c)
{
	json_t *arr = json_array();
	if (a->cfg.health)
		a->cfg.health(a->cfg.health_arg, health_emit, arr);
	return send_json(
	    c, MHD_HTTP_OK,
	    json_pack("{s:b, s:o}", "configured", a->cfg.health != NULL, "checks", arr));
}

/* {"checker": "name", "results": {"<check id>": true|false, ...}} */
static enum MHD_Result do_health_report(struct api *a, struct MHD_Connection *c, struct req *r)
{
	if (a->cfg.health_report == NULL)
		return send_error(c, MHD_HTTP_NOT_FOUND,
				  "this server runs no health checks (--health-checks)");
	json_error_t je;
	json_t *doc = json_loadb(r->body ? r->body : "", r->blen, JSON_REJECT_DUPLICATES, &je);
	if (doc == NULL)
		return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid JSON at line %d column %d: %s",
				  je.line, je.column, je.text);
	enum MHD_Result ret;
	const char *key, *checker = NULL;
	json_t *v, *results = NULL;
	if (!json_is_object(doc)) {
		ret = send_error(c, MHD_HTTP_BAD_REQUEST,
				 "the body must be a JSON object like {\"checker\": \"name\", "
				 "\"results\": {\"check-id\": true}}");
		goto out;
	}
	json_object_foreach(doc, key, v)
	{
		if (strcmp(key, "checker") == 0 && json_is_string(v)) {
			checker = json_string_value(v);
		} else if (strcmp(key, "results") == 0 && json_is_object(v)) {
			results = v;
		} else {
			ret = send_error(c, MHD_HTTP_BAD_REQUEST,
					 "field '%s': unknown or of the wrong type (known fields: "
					 "checker, a string; results, an object of booleans)",
					 key);
			goto out;
		}
	}
	if (checker == NULL || results == NULL) {
		ret =
		    send_error(c, MHD_HTTP_BAD_REQUEST, "fields 'checker' and 'results' required");
		goto out;
	}
	size_t n = json_object_size(results), i = 0;
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	bool *ok = calloc(n ? n : 1, sizeof(*ok));
	if (ids == NULL || ok == NULL) {
		ret = send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		goto out_free;
	}
	json_object_foreach(results, key, v)
	{
		if (!json_is_boolean(v)) {
			ret = send_error(c, MHD_HTTP_BAD_REQUEST,
					 "result for '%s' must be true or false", key);
			goto out_free;
		}
		ids[i] = key;
		ok[i++] = json_is_true(v);
	}
	char msg[256];
	if (a->cfg.health_report(a->cfg.health_arg, checker, n, ids, ok, msg, sizeof(msg)) != 0)
		ret = send_error(c, MHD_HTTP_BAD_REQUEST, "%s", msg);
	else
		ret = send_json(
		    c, MHD_HTTP_OK,
		    json_pack("{s:s, s:I}", "checker", checker, "accepted", (json_int_t)n));
out_free:
	free(ids);
	free(ok);
out:
	json_decref(doc);
	return ret;
}

/* ---- node health ---------------------------------------------------------- */

/* 503 when unhealthy, so a plain HTTP check (curl -f, a load balancer)
 * reads the verdict from the status alone. */
static enum MHD_Result do_node(struct api *a, struct MHD_Connection *c)
{
	if (a->cfg.node == NULL)
		return send_error(c, MHD_HTTP_NOT_FOUND, "this server reports no node health");
	bool healthy = false;
	json_t *o = a->cfg.node(a->cfg.node_arg, &healthy);
	if (o == NULL)
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return send_json(c, healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, o);
}

/* The control-plane signer's zones, keys and timing. */
static enum MHD_Result do_dnssec(struct api *a, struct MHD_Connection *c)
{
	if (a->cfg.dnssec == NULL)
		return send_error(c, MHD_HTTP_NOT_FOUND,
				  "this server does not sign (see --sign-keys, docs/dnssec.md)");
	json_t *o = a->cfg.dnssec(a->cfg.node_arg);
	if (o == NULL)
		return send_error(c, MHD_HTTP_NOT_FOUND,
				  "this server does not sign (see --sign-keys, docs/dnssec.md)");
	return send_json(c, MHD_HTTP_OK, o);
}

/* ---- dispatch ------------------------------------------------------------- */

static bool token_ok(struct api *a, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	size_t n = strlen(h);
	/* Constant time in the token's bytes; the length is no secret. */
	return n == a->token_len && CRYPTO_memcmp(h, a->token, n) == 0;
}

static int route_of(const char *url, const char *method, enum route *rt, const char **allow)
{
	static const struct {
		const char *url;
		enum route rt;
		const char *allow;
	} routes[] = {
	    {"/v1/status", R_STATUS, "GET"},
	    {"/v1/stats", R_STATS, "GET"},
	    {"/v1/snapshot", R_SNAPSHOT, "PUT, POST"},
	    {"/v1/reload", R_RELOAD, "POST"},
	    {"/metrics", R_METRICS, "GET"},
	    {"/v1/health", R_HEALTH, "GET"},
	    {"/v1/health/reports", R_HEALTH_REPORTS, "POST"},
	    {"/v1/node", R_NODE, "GET"},
	    {"/v1/dnssec", R_DNSSEC, "GET"},
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(url, routes[i].url) != 0)
			continue;
		*rt = routes[i].rt;
		*allow = routes[i].allow;
		bool get = strcmp(method, "GET") == 0;
		bool put = strcmp(method, "PUT") == 0, post = strcmp(method, "POST") == 0;
		switch (routes[i].rt) {
		case R_SNAPSHOT:
			return put || post ? 0 : -2;
		case R_RELOAD:
		case R_HEALTH_REPORTS:
			return post ? 0 : -2;
		default:
			return get ? 0 : -2;
		}
	}
	return -1;
}

/* Refuses a request from its headers: at once when there is no body to
 * drain (or the client waits for 100-continue, or the body is too big to
 * drain), else after draining it (see DISCARD_MAX). */
static enum MHD_Result refuse(struct MHD_Connection *c, void **con_cls, unsigned status,
			      const char *hname, const char *hval, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static enum MHD_Result refuse(struct MHD_Connection *c, void **con_cls, unsigned status,
			      const char *hname, const char *hval, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *cl =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	const char *ex = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
	unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
	bool body = te != NULL || n > 0;
	struct req *r = NULL;
	if (body && ex == NULL && n <= DISCARD_MAX)
		r = calloc(1, sizeof(*r));
	if (r == NULL)
		return send_error_h(c, status, hname, hval, "%s", msg);
	r->fd = -1;
	r->err_status = status;
	r->err_hname = hname;
	r->err_hval = hval;
	memcpy(r->err_msg, msg, sizeof(msg));
	*con_cls = r;
	return MHD_YES;
}

static enum MHD_Result first_call(struct listener *l, struct MHD_Connection *c, const char *url,
				  const char *method, void **con_cls)
{
	struct api *a = l->api;
	/* Reading is open on TCP too (the console, status, metrics); every
	 * change needs the token. */
	bool read_only = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	if (console_owns(url) && a->console) {
		if (!read_only)
			return refuse(
			    c, con_cls, MHD_HTTP_METHOD_NOT_ALLOWED, MHD_HTTP_HEADER_ALLOW, "GET",
			    "%s not allowed on %s (the console is read-only)", method, url);
		return console_handle(a->console, c, url);
	}
	if (l->need_token && !read_only && !token_ok(a, c))
		return refuse(c, con_cls, MHD_HTTP_UNAUTHORIZED, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			      "Bearer realm=\"port53\"",
			      "missing or wrong bearer token (Authorization: Bearer ...)");
	enum route rt;
	const char *allow;
	int m = route_of(url, method, &rt, &allow);
	if (m == -1)
		return refuse(
		    c, con_cls, MHD_HTTP_NOT_FOUND, NULL, NULL,
		    "no such endpoint: %s (try /v1/status, /v1/stats, "
		    "/v1/snapshot, /v1/reload, /v1/health, /v1/node, /v1/dnssec, /metrics, "
		    "/console/)",
		    url);
	if (m == -2)
		return refuse(c, con_cls, MHD_HTTP_METHOD_NOT_ALLOWED, MHD_HTTP_HEADER_ALLOW, allow,
			      "%s not allowed on %s (allowed: %s)", method, url, allow);
	const char *cl =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	size_t limit = rt == R_SNAPSHOT				  ? a->cfg.max_body
		       : rt == R_RELOAD || rt == R_HEALTH_REPORTS ? JSON_BODY_MAX
								  : 0;
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (errno || *end || n > limit)
			return refuse(c, con_cls, MHD_HTTP_CONTENT_TOO_LARGE, NULL, NULL,
				      "body of %s bytes is over the limit of %zu bytes for %s", cl,
				      limit, url);
	}
	struct req *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return MHD_NO;
	r->route = rt;
	r->fd = -1;
	if (rt == R_SNAPSHOT) {
		r->fd = memfd_create("port53-push", MFD_CLOEXEC);
		if (r->fd < 0) {
			free(r);
			return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "memfd_create: %s",
					  strerror(errno));
		}
	}
	*con_cls = r;
	return MHD_YES;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Takes a chunk of the body. Returns false to abort the connection. With a
 * Content-Length the limit was checked before any byte was read; a chunked
 * body is counted here. */
static bool body_chunk(struct api *a, struct req *r, const char *data, size_t n)
{
	if (r->err_status) {
		r->dropped += n;
		return r->dropped <= DISCARD_MAX;
	}
	size_t limit = r->route == R_SNAPSHOT ? a->cfg.max_body : JSON_BODY_MAX;
	size_t have = r->route == R_SNAPSHOT ? r->got : r->blen;
	if (r->dropped || n > limit - have) {
		r->dropped += n;
		return r->dropped <= DISCARD_MAX;
	}
	if (r->route == R_SNAPSHOT) {
		if (!write_all(r->fd, data, n))
			return false;
		r->got += n;
		return true;
	}
	if (r->route != R_RELOAD && r->route != R_HEALTH_REPORTS)
		return false;
	char *b = realloc(r->body, r->blen + n + 1);
	if (b == NULL)
		return false;
	memcpy(b + r->blen, data, n);
	r->body = b;
	r->blen += n;
	return true;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct pending *pending_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* Headers complete (done) or a request finished (!done: the next one's
 * headers are due within the deadline). */
static void pending_mark(struct api *a, struct MHD_Connection *c, bool done)
{
	struct pending *p = pending_of(c);
	if (p == NULL)
		return;
	pthread_mutex_lock(&a->plock);
	p->headers_done = done;
	p->since_ms = mono_ms();
	pthread_mutex_unlock(&a->plock);
}

/* libmicrohttpd reports CLOSED before it closes the socket, and this
 * removes the entry under the lock the watchdog holds while it shuts a
 * socket down: the watchdog never touches a closed (or reused) descriptor. */
static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode toe)
{
	struct listener *l = cls;
	struct api *a = l->api;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct pending *p = ci ? calloc(1, sizeof(*p)) : NULL;
		if (p == NULL)
			return;
		p->fd = ci->connect_fd;
		p->since_ms = mono_ms();
		pthread_mutex_lock(&a->plock);
		p->next = a->pend;
		if (a->pend)
			a->pend->prev = p;
		a->pend = p;
		pthread_mutex_unlock(&a->plock);
		*socket_context = p;
		return;
	}
	struct pending *p = *socket_context;
	if (p == NULL)
		return;
	pthread_mutex_lock(&a->plock);
	if (p->prev)
		p->prev->next = p->next;
	else
		a->pend = p->next;
	if (p->next)
		p->next->prev = p->prev;
	pthread_mutex_unlock(&a->plock);
	free(p);
	*socket_context = NULL;
}

static void *header_watch(void *arg)
{
	struct api *a = arg;
	uint64_t limit = (uint64_t)a->cfg.limits.header_ms;
	struct timespec tick = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
	while (!atomic_load(&a->stop_watch)) {
		nanosleep(&tick, NULL);
		uint64_t now = mono_ms();
		pthread_mutex_lock(&a->plock);
		for (struct pending *p = a->pend; p; p = p->next) {
			if (p->headers_done || now - p->since_ms <= limit)
				continue;
			/* libmicrohttpd sees the end of the stream and closes
			 * the connection itself. */
			shutdown(p->fd, SHUT_RDWR);
			p->headers_done = true;
			__atomic_store_n(&a->header_timeouts, a->header_timeouts + 1,
					 __ATOMIC_RELAXED);
		}
		pthread_mutex_unlock(&a->plock);
	}
	return NULL;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct listener *l = cls;
	struct req *r = *con_cls;
	if (r == NULL) {
		if (l->need_token)
			pending_mark(l->api, c, true);
		return first_call(l, c, url, method, con_cls);
	}
	if (*upload_data_size) {
		if (!body_chunk(l->api, r, upload_data, *upload_data_size))
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->err_status)
		return send_error_h(c, r->err_status, r->err_hname, r->err_hval, "%s", r->err_msg);
	if (r->dropped) {
		size_t limit = r->route == R_SNAPSHOT ? l->api->cfg.max_body : JSON_BODY_MAX;
		return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
				  "body is over the limit of %zu bytes for %s", limit, url);
	}
	switch (r->route) {
	case R_STATUS:
		return do_status(l->api, c);
	case R_STATS:
		return do_stats(l->api, c);
	case R_METRICS:
		return do_metrics(l->api, c);
	case R_SNAPSHOT:
		return do_push(l, c, r);
	case R_RELOAD:
		return do_reload(l->api, c, r);
	case R_HEALTH:
		return do_health(l->api, c);
	case R_HEALTH_REPORTS:
		return do_health_report(l->api, c, r);
	case R_NODE:
		return do_node(l->api, c);
	case R_DNSSEC:
		return do_dnssec(l->api, c);
	}
	return MHD_NO;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct listener *l = cls;
	(void)toe;
	if (l->need_token)
		pending_mark(l->api, c, false);
	struct req *r = *con_cls;
	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->body);
	free(r);
	*con_cls = NULL;
}

/* ---- start/stop ----------------------------------------------------------- */

static int read_token(struct api *a, const char *path, struct p53_err *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return p53_err_set(err, P53_EIO, "token file %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		fprintf(stderr, "port53: warning: token file %s is readable by others\n", path);
	size_t n = fread(a->token, 1, TOKEN_MAX, f);
	bool more = fgetc(f) != EOF;
	fclose(f);
	while (n && (a->token[n - 1] == '\n' || a->token[n - 1] == '\r' || a->token[n - 1] == ' ' ||
		     a->token[n - 1] == '\t'))
		n--;
	a->token[n] = 0;
	a->token_len = n;
	if (more)
		return p53_err_set(err, P53_EINVAL, "token file %s: longer than %d bytes", path,
				   TOKEN_MAX);
	if (n < TOKEN_MIN)
		return p53_err_set(err, P53_EINVAL,
				   "token file %s: token shorter than %d characters", path,
				   TOKEN_MIN);
	for (size_t i = 0; i < n; i++)
		if (a->token[i] <= ' ' || a->token[i] > '~')
			return p53_err_set(err, P53_EINVAL,
					   "token file %s: token must be printable ASCII without "
					   "spaces",
					   path);
	return 0;
}

static int open_unix(const char *path, struct p53_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return p53_err_set(err, P53_EINVAL, "control socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return p53_err_set(err, P53_EIO, "socket: %s", strerror(errno));
	struct stat st;
	if (lstat(path, &st) == 0) {
		/* Remove a stale socket left by a crash, never a live one or
		 * anything that is not a socket. */
		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return p53_err_set(err, P53_EIO, "%s exists and is not a socket", path);
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return p53_err_set(err, P53_EIO, "%s: another server is listening there",
					   path);
		}
		unlink(path);
	}
	/* Bound but not yet listening, nobody can connect: set the mode in
	 * between so there is no window with the umask's permissions. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0600) != 0 ||
	    listen(fd, 64) != 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return p53_err_set(err, P53_EIO, "control socket %s: %s", path, strerror(e));
	}
	return fd;
}

static struct MHD_Daemon *start_mhd(struct listener *l, unsigned flags, int lfd,
				    const struct sockaddr *sa)
{
	const struct api_limits *lim = &l->api->cfg.limits;
	unsigned f = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		     MHD_USE_ERROR_LOG | flags;
	if (lfd >= 0) /* the unix socket: one address, no per-address cap */
		return MHD_start_daemon(
		    f, 0, NULL, NULL, handler, l, MHD_OPTION_LISTEN_SOCKET, lfd,
		    MHD_OPTION_NOTIFY_COMPLETED, completed, l, MHD_OPTION_CONNECTION_TIMEOUT,
		    lim->timeout_s, MHD_OPTION_CONNECTION_LIMIT, lim->max_conns, MHD_OPTION_END);
	return MHD_start_daemon(f, 0, NULL, NULL, handler, l, MHD_OPTION_SOCK_ADDR, sa,
				MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_NOTIFY_COMPLETED,
				completed, l, MHD_OPTION_CONNECTION_TIMEOUT, lim->timeout_s,
				MHD_OPTION_CONNECTION_LIMIT, lim->max_conns,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, lim->per_source,
				MHD_OPTION_NOTIFY_CONNECTION, notify_conn, l, MHD_OPTION_END);
}

struct api *api_start(const struct api_cfg *cfg, struct p53_err *err)
{
	if (cfg->mgr == NULL || (cfg->unix_path == NULL && cfg->tcp_listen == NULL)) {
		p53_err_set(err, P53_EINVAL, "control API needs a snapshot manager and a socket");
		return NULL;
	}
	if (cfg->tcp_listen && cfg->token_file == NULL) {
		p53_err_set(err, P53_EINVAL,
			    "a TCP control listener needs a token file (--control-token-file)");
		return NULL;
	}
	struct api *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	a->cfg = *cfg;
	pthread_mutex_init(&a->plock, NULL);
	atomic_init(&a->stop_watch, false);
	if (a->cfg.max_body == 0)
		a->cfg.max_body = DEFAULT_MAX_BODY;
	a->reload_path = cfg->reload_path ? strdup(cfg->reload_path) : NULL;
	a->cfg.reload_path = NULL;
	a->cfg.reload_dir = NULL;
	if (cfg->reload_dir && (a->reload_dir = realpath(cfg->reload_dir, NULL)) == NULL) {
		p53_err_set(err, P53_EINVAL, "reload directory %s: %s", cfg->reload_dir,
			    strerror(errno));
		goto fail;
	}
	struct api_limits *lim = &a->cfg.limits;
	if (lim->max_conns == 0)
		lim->max_conns = 64;
	if (lim->per_source == 0)
		lim->per_source = 4;
	if (lim->timeout_s == 0)
		lim->timeout_s = 10;
	if (lim->header_ms == 0)
		lim->header_ms = 5000;

	a->lu = (struct listener){.api = a, .name = "unix socket"};
	a->lt = (struct listener){.api = a, .need_token = true, .name = "tcp"};
	if (cfg->tcp_listen && read_token(a, cfg->token_file, err) != 0)
		goto fail;
	a->console = console_new(&a->cfg, NULL, NULL);
	if (a->console == NULL) {
		p53_err_set(err, P53_ENOMEM, "cannot start the web console's sampler");
		goto fail;
	}
	if (cfg->unix_path) {
		int fd = open_unix(cfg->unix_path, err);
		if (fd < 0)
			goto fail;
		a->unix_path = strdup(cfg->unix_path);
		a->lu.d = start_mhd(&a->lu, 0, fd, NULL);
		if (a->lu.d == NULL) {
			close(fd);
			p53_err_set(err, P53_EIO, "control API on %s failed to start",
				    cfg->unix_path);
			goto fail;
		}
	}
	if (cfg->tcp_listen) {
		struct sockaddr_storage ss;
		unsigned len;
		if (ksock_parse_addr(cfg->tcp_listen, &ss, &len) != 0) {
			p53_err_set(err, P53_EINVAL, "bad control listen address '%s'",
				    cfg->tcp_listen);
			goto fail;
		}
		a->lt.d = start_mhd(&a->lt, ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0, -1,
				    (const struct sockaddr *)&ss);
		if (a->lt.d == NULL) {
			p53_err_set(err, P53_EIO, "control API on %s failed to start (in use?)",
				    cfg->tcp_listen);
			goto fail;
		}
		if (pthread_create(&a->watch, NULL, header_watch, a) != 0) {
			p53_err_set(err, P53_EIO, "control API: cannot start its watchdog");
			goto fail;
		}
		a->watching = true;
	}
	return a;
fail:
	api_stop(a);
	return NULL;
}

void api_stop(struct api *a)
{
	if (a == NULL)
		return;
	if (a->lu.d)
		MHD_stop_daemon(a->lu.d); /* closes the listen socket too */
	if (a->watching) {
		atomic_store(&a->stop_watch, true);
		pthread_join(a->watch, NULL);
	}
	if (a->lt.d)
		MHD_stop_daemon(a->lt.d);
	console_free(a->console); /* after the handlers that use it */
	if (a->unix_path) {
		unlink(a->unix_path);
		free(a->unix_path);
	}
	free(a->reload_path);
	free(a->reload_dir);
	pthread_mutex_destroy(&a->plock);
	OPENSSL_cleanse(a->token, sizeof(a->token));
	free(a);
}
