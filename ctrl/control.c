/* The shared control side (see control.h).
 *
 * The control thread does the start-up work itself, so every thread that
 * libmicrohttpd, libcurl's checker and the query log create inherits its
 * CPU affinity; then it waits for signals with a short timeout and polls the
 * watched directory between them. Loads from paths are done here or on an
 * API thread, both control threads.
 */
#include "ctrl/control.h"

#include "ctrl/health/health.h"
#include "ctrl/snap/osignload.h"
#include "ctrl/qlog/qlog.h"
#include "ctrl/xfr/tsig.h"
#include "ctrl/xfr/xfr.h"
#include "ctrl/xfr/xfrin.h"
#include "ctrl/xfr/xfrout.h"
#include "zones/answer/fw.h"
#include "zones/common/name.h"

#include <jansson.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS		 20
#define RRL_LOG_PER_TICK 8   /* rate limiter log lines per second */
#define BEAT_MS		 100 /* heartbeat sampling for node health */

struct control {
	struct control_cfg cfg;
	pthread_t thread;
	atomic_bool quit;
	bool quiesced; /* control_quiesce() ran */
	/* start-up hand-shake with control_start() */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool started;
	int start_rc;
	struct p53_err start_err;

	struct snapmgr *mgr;
	struct p53_health *health;
	struct qlog *qlog;
	struct api *api;
	int watch_fd;
	struct cookie_keys *ck; /* NULL: cookies off */
	time_t abuse_tick;	/* second of the last cookie and RRL log tick */
	struct tsig_keys keys;
	struct xfrout *xfrout;
	struct xfrin *xfrin;
	char secondary_snapshot[4096]; /* the default snapshot path of a secondary */
	struct nodehealth *node;
	struct p53_osign_clock clock; /* online signing's time, set every tick */
	struct follow *origin;	      /* NULL: not following one */
	uint64_t *beats;	      /* nworkers sampling buffer */
	struct timespec beat_at;
};

/* The signals the control thread takes with sigtimedwait; every other
 * thread blocks them. */
static void control_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGHUP);
}

void control_block_signals(void)
{
	sigset_t set;
	control_sigset(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void destroy_load(void *arg, void *state);

/* Secondary zones past their expire time answer SERVFAIL: the array is
 * built only when one is, so answering threads check nothing otherwise. */
static int mark_expired(struct control *c, const struct p53_snapshot *snap, struct control_load *ld)
{
	struct p53_snapshot_info in;
	p53_snapshot_info(snap, &in);
	uint8_t *dead = NULL;
	for (uint32_t i = 0; i < in.zones; i++) {
		uint32_t serial;
		const uint8_t *apex = p53_snapshot_zone(snap, i, &serial);
		if (!xfrin_expired(c->xfrin, apex, name_len(apex)))
			continue;
		if (dead == NULL && (dead = calloc(in.zones, 1)) == NULL)
			return P53_ENOMEM;
		dead[i] = 1;
	}
	ld->zone_dead = dead;
	ld->nzone_dead = dead ? in.zones : 0;
	return 0;
}

static void osign_note(void *arg, const char *text)
{
	const struct control *c = arg;
	fprintf(stderr, "%s: %s\n", c->cfg.name, text);
}

/* snapmgr's per-load hook: everything answering threads need beside the
 * snapshot, built before it is published so no answering thread allocates
 * or waits. */
static int build_load(void *arg, const struct p53_snapshot *snap, void **state, struct p53_err *err)
{
	struct control *c = arg;
	struct control_load *ld = calloc(1, sizeof(*ld));
	if (ld == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	if (c->health && (ld->health = p53_health_acquire(c->health, snap, &ld->nhealth)) == NULL) {
		free(ld);
		return p53_err_set(err, P53_ENOMEM, "out of memory for health state");
	}
	if (c->cfg.firewall_path &&
	    (ld->fw = p53_fw_load(c->cfg.firewall_path, c->cfg.nworkers, err)) == NULL) {
		p53_health_release(c->health, ld->health);
		free(ld);
		return err->code ? err->code : P53_EINVAL;
	}
	if (c->xfrin && mark_expired(c, snap, ld) != 0) {
		destroy_load(c, ld);
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	}
	/* A scan of every RRSIG, once per load and off the answering path. */
	struct p53_snapshot_info in;
	p53_snapshot_info(snap, &in);
	if (in.zones && (ld->sigs = calloc(in.zones, sizeof(*ld->sigs))) == NULL) {
		destroy_load(c, ld);
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	}
	ld->nsigs = in.zones;
	for (uint32_t i = 0; i < in.zones; i++)
		p53_snapshot_zone_sigs(snap, i, (int64_t)time(NULL), &ld->sigs[i]);
	if (c->cfg.dnssec_keys) {
		struct p53_osign_cfg oc = c->cfg.osign;
		oc.clock = &c->clock;
		p53_osign_clock_set(&c->clock, (int64_t)time(NULL));
		ld->osign = osignload_build(c->cfg.dnssec_keys, snap, &oc, c->cfg.nworkers,
					    osign_note, c, err);
		if (ld->osign == NULL && err->code) {
			destroy_load(c, ld);
			return err->code;
		}
	}
	*state = ld;
	return 0;
}

static void destroy_load(void *arg, void *state)
{
	struct control *c = arg;
	struct control_load *ld = state;
	p53_health_release(c->health, ld->health);
	p53_fw_free((struct p53_fw *)ld->fw);
	p53_osign_free((struct p53_osign *)ld->osign);
	free((uint8_t *)ld->zone_dead);
	free(ld->sigs);
	free(ld);
}

/* snapmgr's after-swap hook: transfers answer from the new generation. */
static void published(void *arg, const struct snapmgr_live *live)
{
	struct control *c = arg;
	const struct control_load *ld = live->state;
	unsigned nsigned = 0;
	int64_t earliest = 0;
	for (uint32_t i = 0; ld && i < ld->nsigs; i++) {
		if (ld->sigs[i].count == 0)
			continue;
		if (nsigned++ == 0 || ld->sigs[i].earliest_expiry < earliest)
			earliest = ld->sigs[i].earliest_expiry;
	}
	nodehealth_set_signatures(c->node, nsigned, earliest);
	if (c->xfrout)
		xfrout_publish(c->xfrout, live->snap);
}

struct xfrout *control_xfrout(struct control *c)
{
	return c->xfrout;
}

struct xfrin *control_xfrin(struct control *c)
{
	return c->xfrin;
}

struct snapmgr *control_mgr(struct control *c)
{
	return c->mgr;
}

struct nodehealth *control_nodehealth(struct control *c)
{
	return c->node;
}

static json_t *node_json(void *arg, bool *healthy)
{
	struct control *c = arg;
	struct nodehealth_report r;
	nodehealth_eval(c->node, c->mgr, c->origin, &r);
	*healthy = r.healthy;
	return nodehealth_json(&r, c->origin);
}

/* Each signed zone's signature window, from the live load. */
static void zone_sig_metrics(void *arg, const struct snapmgr_live *live,
			     const struct snapmgr_stats *st)
{
	FILE *f = arg;
	(void)st;
	const struct control_load *ld = live ? live->state : NULL;
	bool head = false;
	for (uint32_t i = 0; ld && i < ld->nsigs; i++) {
		char name[1100];
		const uint8_t *apex = p53_snapshot_zone(live->snap, i, NULL);
		if (ld->sigs[i].count == 0 || apex == NULL ||
		    name_to_text(apex, name, sizeof(name)) < 0)
			continue;
		if (!head) {
			fputs(
			    "# HELP port53_zone_signature_expiry_timestamp_seconds Earliest RRSIG "
			    "expiration of the zone (unix time).\n"
			    "# TYPE port53_zone_signature_expiry_timestamp_seconds gauge\n",
			    f);
			head = true;
		}
		fputs("port53_zone_signature_expiry_timestamp_seconds{zone=\"", f);
		for (const char *p = name; *p; p++) /* the text format's label escapes */
			fprintf(f, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
		fprintf(f, "\"} %lld\n", (long long)ld->sigs[i].earliest_expiry);
	}
}

static void node_metrics(void *arg, FILE *f)
{
	struct control *c = arg;
	struct nodehealth_report r;
	nodehealth_eval(c->node, c->mgr, c->origin, &r);
	nodehealth_metrics(f, &r, c->origin);
	snapmgr_view(c->mgr, zone_sig_metrics, f);
	if (xfrin_signer(c->xfrin))
		signer_metrics(xfrin_signer(c->xfrin), f);
}

static json_t *dnssec_json(void *arg)
{
	struct control *c = arg;
	struct signer *s = xfrin_signer(c->xfrin);
	return s ? signer_json(s) : NULL;
}

/* Sums the secondary's per-zone expired flags out of its counters. */
static void count_expired(void *sink, const char *family, const char *label, const char *value,
			  unsigned worker, uint64_t v)
{
	(void)label, (void)value, (void)worker;
	if (strcmp(family, "secondary_expired") == 0)
		*(unsigned *)sink += v != 0;
}

/* Node health's inputs: the answering threads' heartbeats and the
 * secondary's expired zones. */
static void beat_tick(struct control *c)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms = (int64_t)(now.tv_sec - c->beat_at.tv_sec) * 1000 +
		     (now.tv_nsec - c->beat_at.tv_nsec) / 1000000;
	if (ms < BEAT_MS)
		return;
	c->beat_at = now;
	if (c->cfg.beats) {
		unsigned n = c->cfg.beats(c->cfg.arg, c->beats, c->cfg.nworkers);
		nodehealth_beat(c->node, c->beats, n);
	}
	if (c->xfrin) {
		unsigned expired = 0;
		xfrin_counters(c->xfrin, count_expired, &expired);
		nodehealth_set_expired(c->node, expired);
	}
}

const p53_cookie_live *control_cookies(struct control *c)
{
	return c->ck ? cookie_keys_live(c->ck) : NULL;
}

struct qlog_ring *control_qlog_ring(struct control *c, unsigned worker)
{
	return c->qlog ? qlog_ring(c->qlog, worker) : NULL;
}

struct emit_to {
	api_emit_fn emit;
	void *sink;
};

static void fw_counters(void *arg, const struct snapmgr_live *live, const struct snapmgr_stats *st)
{
	const struct emit_to *e = arg;
	(void)st;
	if (live && live->state)
		api_emit_fw(e->emit, e->sink, ((const struct control_load *)live->state)->fw);
}

void control_counters(struct control *c, api_emit_fn emit, void *sink)
{
	/* The firewall belongs to a load: read it under the view lock so a
	 * swap cannot free it meanwhile. */
	struct emit_to e = {emit, sink};
	snapmgr_view(c->mgr, fw_counters, &e);
	if (c->xfrout)
		xfrout_counters(c->xfrout, emit, sink);
	if (c->xfrin)
		xfrin_counters(c->xfrin, emit, sink);
	if (c->qlog == NULL)
		return;
	for (unsigned i = 0; i < c->cfg.nworkers; i++) {
		struct qlog_stats qs;
		qlog_stats(c->qlog, (int)i, &qs);
		emit(sink, "query_log", "outcome", "logged", i, qs.pushed);
		emit(sink, "query_log", "outcome", "ring_full", i, qs.dropped);
	}
	struct qlog_stats qs;
	qlog_stats(c->qlog, -1, &qs);
	emit(sink, "query_log", "outcome", "written", 0, qs.written);
	emit(sink, "query_log", "outcome", "write_error", 0, qs.write_errors);
}

struct live_info {
	struct p53_snapshot_info snap;
	struct p53_fw_info fw;
	bool has_fw;
};

static void info_view(void *arg, const struct snapmgr_live *live, const struct snapmgr_stats *st)
{
	struct live_info *in = arg;
	(void)st;
	if (live == NULL)
		return;
	p53_snapshot_info(live->snap, &in->snap);
	const struct control_load *ld = live->state;
	if (ld && ld->fw) {
		p53_fw_info(ld->fw, &in->fw);
		in->has_fw = true;
	}
}

int control_reload(struct control *c, struct p53_err *err)
{
	struct snapmgr_swap sw;
	int rc = snapmgr_load(c->mgr, c->cfg.snapshot_path, "SIGHUP", &sw, err);
	struct live_info in = {0};
	snapmgr_view(c->mgr, info_view, &in);
	if (rc != 0) {
		fprintf(stderr, "%s: reload failed, still serving serial %" PRIu64 ": %s\n",
			c->cfg.name, in.snap.serial, err->msg);
		return rc;
	}
	fprintf(stderr,
		"%s: reloaded %s: serial %" PRIu64 ", %u zones (verify %.1f ms, swap %.1f us)\n",
		c->cfg.name, c->cfg.snapshot_path, sw.serial, in.snap.zones,
		(double)sw.verify_ns / 1e6, (double)sw.swap_ns / 1e3);
	if (in.has_fw)
		fprintf(stderr, "%s: firewall %s: serial %llu, %u rules, %u domains, %u patterns\n",
			c->cfg.name, c->cfg.firewall_path, (unsigned long long)in.fw.serial,
			in.fw.rules, in.fw.domains, in.fw.patterns);
	return 0;
}

/* --watch-dir: a snapshot closed after writing, or renamed into the
 * directory (the atomic way to publish one), is loaded like a push. */
static void watch_poll(struct control *c)
{
	_Alignas(struct inotify_event) char buf[4096];
	ssize_t n;
	while ((n = read(c->watch_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;
			p += sizeof(*ev) + ev->len;
			size_t nl = ev->len ? strlen(ev->name) : 0;
			if (nl < 5 || strcmp(ev->name + nl - 4, ".p53") != 0)
				continue;
			char path[4096], src[300];
			snprintf(path, sizeof(path), "%s/%s", c->cfg.watch_dir, ev->name);
			snprintf(src, sizeof(src), "watched file %.256s", ev->name);
			struct p53_err err = {0};
			struct snapmgr_swap sw;
			if (snapmgr_load(c->mgr, path, src, &sw, &err) != 0)
				fprintf(stderr, "%s: %s refused, keeping the old snapshot: %s\n",
					c->cfg.name, path, err.msg);
			else
				fprintf(stderr, "%s: loaded %s (serial %" PRIu64 ")\n", c->cfg.name,
					path, sw.serial);
		}
	}
}

static void api_counters(void *arg, api_emit_fn emit, void *sink)
{
	struct control *c = arg;
	control_counters(c, emit, sink);
	if (c->cfg.counters)
		c->cfg.counters(c->cfg.counters_arg, emit, sink);
}

static void rrl_log(void *arg, const struct p53_rrl_event *ev)
{
	const struct control *c = ((void **)arg)[0];
	unsigned *n = ((void **)arg)[1];
	char what[96];
	if ((*n)++ >= RRL_LOG_PER_TICK)
		return;
	p53_rrl_event_str(ev, what, sizeof(what));
	fprintf(stderr, "%s: rrl: limiting %s responses\n", c->cfg.name, what);
}

/* Once a second: the cookie secret's rotation or reread (which waits for
 * the readers' quiescence: never on an answering thread) and the rate
 * limiters' log. */
static void abuse_tick(struct control *c)
{
	time_t now = time(NULL);
	p53_osign_clock_set(&c->clock, (int64_t)now);
	if (now == c->abuse_tick)
		return;
	c->abuse_tick = now;
	struct p53_err err = {0};
	if (c->ck && cookie_keys_tick(c->ck, now, &err) < 0)
		fprintf(stderr, "%s: cookie secret unchanged: %s\n", c->cfg.name, err.msg);
	if (c->cfg.rrl_of == NULL)
		return;
	unsigned n = 0;
	uint64_t lost = 0;
	void *arg[2] = {c, &n};
	for (unsigned i = 0; i < c->cfg.nworkers; i++) {
		struct p53_rrl *r = c->cfg.rrl_of(c->cfg.arg, i);
		if (r)
			lost += p53_rrl_drain(r, rrl_log, arg);
	}
	if (n > RRL_LOG_PER_TICK || lost)
		fprintf(
		    stderr, "%s: rrl: %llu more limited prefixes not logged\n", c->cfg.name,
		    (unsigned long long)(n - (n > RRL_LOG_PER_TICK ? RRL_LOG_PER_TICK : n) + lost));
}

/* TSIG keys, transfers out, and the secondary service, which compiles
 * the first snapshot from its zones before anything is loaded. */
static int xfr_setup(struct control *c, struct p53_err *err)
{
	const struct xfr_cfg *x = c->cfg.xfr;
	if (!xfr_cfg_any(x))
		return 0;
	for (size_t i = 0; i < x->nkeys; i++)
		if (tsig_keys_add(&c->keys, x->keys[i], err) != 0)
			return err->code;
	if (x->nallow || x->nnotify) {
		struct xfrout_cfg oc = {
		    .keys = &c->keys,
		    .allow = x->allow,
		    .nallow = x->nallow,
		    .notify = x->notify,
		    .nnotify = x->nnotify,
		    .ixfr_depth = x->ixfr_depth,
		    .name = c->cfg.name,
		    .spawn = c->cfg.spawn,
		};
		if ((c->xfrout = xfrout_new(&oc, err)) == NULL)
			return err->code ? err->code : P53_EINVAL;
	}
	if (xfr_cfg_builds(x)) {
		struct xfrin_cfg ic = {
		    .xfr = x,
		    .keys = &c->keys,
		    .mgr = c->mgr,
		    .snapshot_path = c->cfg.snapshot_path,
		    .name = c->cfg.name,
		    .spawn = c->cfg.spawn,
		};
		if ((c->xfrin = xfrin_new(&ic, err)) == NULL)
			return err->code ? err->code : P53_EINVAL;
	}
	return 0;
}

static int setup(struct control *c, struct p53_err *err)
{
	const struct control_cfg *cfg = &c->cfg;
	if (cfg->cookies) {
		struct cookie_keys_cfg kc = {.secret_file = cfg->cookie_secret_file,
					     .rotate_s = cfg->cookie_rotate_s};
		if ((c->ck = cookie_keys_new(&kc, cfg->qsbr, err)) == NULL)
			return err->code ? err->code : P53_EIO;
	}
	if (cfg->health_checks && (c->health = p53_health_start(cfg->health_checks, err)) == NULL)
		return err->code ? err->code : P53_EIO;
	if (c->health && cfg->health_quorum > 0)
		p53_health_set_quorum(c->health, cfg->health_quorum);
	/* Before the first load: each load reports its signatures to it. */
	c->node = nodehealth_new(&cfg->node, cfg->nworkers);
	c->beats = calloc(cfg->nworkers, sizeof(*c->beats));
	if (c->node == NULL || c->beats == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	struct snapmgr_cfg mc = {
	    .qsbr = cfg->qsbr,
	    .trusted_keys = cfg->trusted_keys,
	    .ntrusted = cfg->ntrusted,
	    .build = build_load,
	    .destroy = destroy_load,
	    .published = published,
	    .arg = c,
	    .max_bytes = cfg->snapshot_max_bytes,
	};
	if ((c->mgr = snapmgr_new(&mc, err)) == NULL)
		return err->code ? err->code : P53_ENOMEM;
	int rc = xfr_setup(c, err);
	if (rc)
		return rc;
	if ((rc = snapmgr_load(c->mgr, cfg->snapshot_path, NULL, NULL, err)) != 0)
		return rc;
	if (c->xfrin && (rc = xfrin_start(c->xfrin, err)) != 0)
		return rc;

	if (cfg->origin.url) {
		struct follow_cfg fc = cfg->origin;
		fc.keys_configured = cfg->ntrusted > 0;
		char dir[4096];
		if (fc.dir == NULL) { /* beside the snapshot, which may be origin.p53 */
			snprintf(dir, sizeof(dir), "%s", cfg->snapshot_path);
			char *slash = strrchr(dir, '/');
			if (slash == NULL)
				snprintf(dir, sizeof(dir), ".");
			else if (slash == dir)
				dir[1] = 0;
			else
				*slash = 0;
			fc.dir = dir;
		}
		if (fc.max_bytes == 0)
			fc.max_bytes = cfg->snapshot_max_bytes;
		if ((c->origin = follow_start(&fc, c->mgr, cfg->name, err)) == NULL)
			return err->code ? err->code : P53_EINVAL;
	}
	if (cfg->query_log || cfg->query_log_dnstap) {
		struct qlog_cfg qc = {.json_path = cfg->query_log,
				      .dnstap_path = cfg->query_log_dnstap,
				      .sample = cfg->query_log_sample};
		if ((c->qlog = qlog_start(&qc, cfg->nworkers, err)) == NULL)
			return err->code ? err->code : P53_EIO;
	}
	if (cfg->watch_dir) {
		c->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (c->watch_fd < 0 || inotify_add_watch(c->watch_fd, cfg->watch_dir,
							 IN_CLOSE_WRITE | IN_MOVED_TO) < 0)
			return p53_err_set(err, P53_EIO, "cannot watch %s: %s", cfg->watch_dir,
					   strerror(errno));
	}
	if (cfg->control_socket || cfg->control_listen) {
		struct api_cfg ac = {
		    .mgr = c->mgr,
		    .unix_path = cfg->control_socket,
		    .tcp_listen = cfg->control_listen,
		    .token_file = cfg->control_token_file,
		    .max_body = cfg->push_max_bytes,
		    .reload_path = cfg->snapshot_path,
		    .reload_dir = cfg->reload_dir,
		    .limits = cfg->api_limits,
		    .counters = api_counters,
		    .counters_arg = c,
		    .server_name = cfg->server_name,
		    .node = node_json,
		    .metrics = node_metrics,
		    .dnssec = dnssec_json,
		    .node_arg = c,
		};
		if (c->health)
			p53_health_api(c->health, &ac);
		if ((c->api = api_start(&ac, err)) == NULL)
			return err->code ? err->code : P53_EIO;
		if (cfg->control_socket)
			fprintf(stderr, "%s: control API on %s\n", cfg->name, cfg->control_socket);
		if (cfg->control_listen)
			fprintf(stderr, "%s: control API on http://%s (token required)\n",
				cfg->name, cfg->control_listen);
	}
	return 0;
}

static void *control_main(void *arg)
{
	struct control *c = arg;
	int rc = setup(c, &c->start_err);
	pthread_mutex_lock(&c->mu);
	c->started = true;
	c->start_rc = rc;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (rc)
		return NULL;

	sigset_t set;
	control_sigset(&set);
	struct timespec tick = {.tv_sec = 0, .tv_nsec = TICK_MS * 1000000L};
	while (!atomic_load(&c->quit)) {
		int sig = sigtimedwait(&set, NULL, &tick);
		if (c->watch_fd >= 0)
			watch_poll(c);
		abuse_tick(c);
		beat_tick(c);
		switch (sig) {
		case SIGINT:
		case SIGTERM:
			if (c->cfg.on_stop)
				c->cfg.on_stop(c->cfg.arg);
			break;
		case SIGUSR1:
			if (c->cfg.on_usr1)
				c->cfg.on_usr1(c->cfg.arg);
			break;
		case SIGHUP: {
			struct p53_err err = {0};
			qlog_reopen(c->qlog); /* log rotation */
			control_reload(c, &err);
			follow_kick(c->origin);
			if (c->cfg.on_hup)
				c->cfg.on_hup(c->cfg.arg);
			break;
		}
		default:
			if (c->cfg.on_tick && c->cfg.on_tick(c->cfg.arg) && c->cfg.on_stop)
				c->cfg.on_stop(c->cfg.arg);
			break;
		}
	}
	return NULL;
}

static int spawn_default(pthread_t *t, const char *name, void *(*fn)(void *), void *arg)
{
	(void)name;
	return pthread_create(t, NULL, fn, arg);
}

static void teardown(struct control *c)
{
	api_stop(c->api);
	follow_stop(c->origin); /* it loads into the manager freed below */
	if (c->watch_fd >= 0)
		close(c->watch_fd);
	qlog_stop(c->qlog);
	snapmgr_free(c->mgr);	/* destroys loads: before the checker they use */
	xfrout_free(c->xfrout); /* the TCP servers have stopped */
	xfrin_free(c->xfrin);
	tsig_keys_free(&c->keys);
	p53_health_stop(c->health);
	nodehealth_free(c->node);
	free(c->beats);
	cookie_keys_free(c->ck); /* the answering threads have stopped */
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

struct control *control_start(const struct control_cfg *cfg, struct p53_err *err)
{
	bool secondary = xfr_cfg_builds(cfg->xfr) && cfg->xfr->dir;
	if (cfg->qsbr == NULL || (cfg->snapshot_path == NULL && !secondary) || cfg->nworkers == 0) {
		p53_err_set(err, P53_EINVAL, "control side needs a QSBR, a snapshot and workers");
		return NULL;
	}
	struct control *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	c->cfg = *cfg;
	if (c->cfg.name == NULL)
		c->cfg.name = "port53";
	if (c->cfg.snapshot_path == NULL) {
		/* A secondary writes the snapshot it serves itself. */
		snprintf(c->secondary_snapshot, sizeof(c->secondary_snapshot), "%s/serving.p53",
			 cfg->xfr->dir);
		c->cfg.snapshot_path = c->secondary_snapshot;
	}
	c->watch_fd = -1;
	atomic_init(&c->quit, false);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	int (*spawn)(pthread_t *, const char *, void *(*)(void *), void *) =
	    cfg->spawn ? cfg->spawn : spawn_default;
	if (spawn(&c->thread, "p53-ctrl", control_main, c) != 0) {
		p53_err_set(err, P53_EIO, "cannot start the control thread");
		teardown(c);
		return NULL;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->started)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	if (c->start_rc) {
		pthread_join(c->thread, NULL);
		if (err)
			*err = c->start_err;
		teardown(c);
		return NULL;
	}
	return c;
}

void control_quiesce(struct control *c)
{
	if (c == NULL || c->quiesced)
		return;
	atomic_store(&c->quit, true);
	pthread_join(c->thread, NULL);
	xfrin_stop(c->xfrin); /* it loads snapshots */
	api_stop(c->api);     /* its console sampler reads the front end's counters */
	c->api = NULL;
	/* Its loads wait for the answering threads' quiescence: stopped
	 * while they still run. */
	follow_stop(c->origin);
	c->origin = NULL;
	c->quiesced = true;
}

void control_stop(struct control *c)
{
	if (c == NULL)
		return;
	control_quiesce(c);
	teardown(c);
}
