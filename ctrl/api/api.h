/* Control API: HTTP + JSON over a unix socket and, optionally, TCP.
 *
 *   GET  /v1/status     live snapshot (serial, hash, zones), swaps, last error
 *   GET  /v1/stats      counters per worker and in total
 *   PUT  /v1/snapshot   body = snapshot file; loaded through the snapmgr
 *   POST /v1/snapshot   same
 *   POST /v1/reload     JSON {"path": "..."} or empty: reload from disk
 *   GET  /metrics       Prometheus text format
 *   GET  /v1/health     Route 53 health checks: state, last result, last change
 *   POST /v1/health/reports  another checker's results, for voting
 *   GET  /v1/node       the node's own health and its origin (200 healthy,
 *                       503 not; ctrl/fleet/nodehealth.h)
 *   GET  /v1/dnssec     the control-plane signer: signed zones, their keys,
 *                       last signing, next event (ctrl/xfr/signer.h)
 *
 * The unix socket is created mode 0600 and needs no token: its permissions
 * are the authentication. The TCP listener is off unless configured, and
 * then requires "Authorization: Bearer <token>" with the token from a file.
 * Errors are JSON {"error": "..."} with a 4xx/5xx status.
 *
 * libmicrohttpd serves each connection on its own thread (bounded by the
 * limits below), so a push that is verifying a large snapshot delays no
 * other request: the API reads the live snapshot only through
 * snapmgr_view(), which never waits for a load, and the counters only
 * through the front end's callback, which must read them with relaxed
 * atomic loads.
 */
#ifndef P53_API_H
#define P53_API_H

#include "ctrl/snap/snapmgr.h"
#include "zones/answer/answer.h"
#include "zones/common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Counter emission: family is a metric name ("responses"), label/value an
 * optional label ("rcode", "NXDOMAIN"; both NULL for none), worker the
 * worker (core) number. Strings are copied. */
typedef void (*api_emit_fn)(void *sink, const char *family, const char *label, const char *value,
			    unsigned worker, uint64_t v);
/* Fills counters on the API thread when /v1/stats or /metrics is asked. */
typedef void (*api_counters_fn)(void *arg, api_emit_fn emit, void *sink);

/* One health check (GET /v1/health); strings are copied. */
struct api_health_check {
	const char *id, *type, *last;
	bool healthy, inverted, disabled;
	double changed;			     /* unix time of the last change of healthy */
	unsigned checkers, checkers_healthy; /* voting: current results, and up */
};
typedef void (*api_health_emit_fn)(void *sink, const struct api_health_check *c);
/* Emits every check on the API thread when /v1/health is asked. */
typedef void (*api_health_fn)(void *arg, api_health_emit_fn emit, void *sink);
/* Takes a checker's results (ids[i] up when ok[i]); 0, or -1 with the
 * reason in msg, keeping nothing. */
typedef int (*api_health_report_fn)(void *arg, const char *checker, size_t n,
				    const char *const *ids, const bool *ok, char *msg, size_t cap);

/* Limits of the TCP listener (the unix socket has only max_conns and
 * timeout_s: its permissions already keep strangers out). Zeros take the
 * defaults in brackets (docs/hardening.md). */
struct api_limits {
	unsigned max_conns;  /* all clients together [64] */
	unsigned per_source; /* one client address [4] */
	unsigned timeout_s;  /* a connection with no activity is closed [10] */
	unsigned header_ms;  /* TCP: request headers complete within this, however
			      * the bytes are paced [5000] */
};

struct api_cfg {
	struct snapmgr *mgr;	 /* required */
	const char *unix_path;	 /* NULL: no unix socket */
	const char *tcp_listen;	 /* "127.0.0.1:8053", "[::1]:8053"; NULL: off */
	const char *token_file;	 /* required with tcp_listen */
	size_t max_body;	 /* snapshot push limit; default 256 MiB */
	const char *reload_path; /* POST /v1/reload without a path */
	const char *reload_dir;	 /* {"path": ...} must resolve inside; NULL: refused */
	struct api_limits limits;
	api_counters_fn counters; /* NULL: no counters */
	void *counters_arg;
	const char *server_name; /* "port53 serve", "port53d" */
	api_health_fn health;	 /* NULL: no health checks (404 on /v1/health) */
	api_health_report_fn health_report;
	void *health_arg;
	/* GET /v1/node's body (a json_t *) and verdict; NULL: 404. */
	struct json_t *(*node)(void *arg, bool *healthy);
	/* GET /v1/dnssec's body (a json_t *), NULL: 404; with node_arg. */
	struct json_t *(*dnssec)(void *arg);
	/* More /metrics text (node health, origin); NULL: none. */
	void (*metrics)(void *arg, FILE *f);
	void *node_arg;
};

struct api;

/* Opens the sockets and starts serving; NULL with err set on failure. */
struct api *api_start(const struct api_cfg *cfg, struct p53_err *err);
/* Stops serving, closes and unlinks the unix socket. */
void api_stop(struct api *a);

/* Emits an answer engine's counters (struct p53_ctx.stats) for one worker
 * in the standard families: responses{rcode}, answers{kind}, drops{reason},
 * edns_queries, queries. Reads with relaxed atomic loads. */
void api_emit_engine(api_emit_fn emit, void *sink, unsigned worker,
		     const uint64_t stats[P53_STAT__COUNT]);
struct lathist;
/* Emits an answering thread's time in the server (lathist.h) as
 * latency_answers{le_ns="2^(k+1)"}, answers per bucket (not cumulative),
 * and busy_ns, the nanoseconds it spent on work rather than waiting: its
 * rate over a second is the thread's busy fraction. */
void api_emit_latency(api_emit_fn emit, void *sink, unsigned worker, const struct lathist *h,
		      uint64_t busy_ns);
struct p53_fw;
/* Emits the DNS Firewall's per-rule hits as firewall_hits{rule="group/name"}
 * (summed over workers, reported as worker 0); fw may be NULL. */
void api_emit_fw(api_emit_fn emit, void *sink, const struct p53_fw *fw);

#endif
