/* The control side shared by `port53 serve` and port53d: everything but
 * packet I/O.
 *
 * It owns the snapshot manager and what is built with every snapshot load
 * (struct control_load: Route 53 health array, DNS Firewall with one scratch
 * per answering thread), the health checker, the query log, the control API,
 * the watched directory and the signals (HUP reload and log reopen, INT/TERM
 * stop, USR1 front-end dump). Front ends supply their readers' QSBR, the
 * number of answering threads, their counters and a stop callback.
 *
 * Every control thread descends from one control thread started through the
 * front end's spawn function (port53d: rte_ctrl_thread_create), so the API,
 * health and query-log threads inherit its CPU affinity and never run on a
 * worker's core. Loads (SIGHUP, API, watched directory) run there, never on
 * an answering thread. The API's status and metrics never wait for a load
 * (snapmgr_view does not take the load lock; each API connection has its
 * own thread).
 */
#ifndef P53_CONTROL_H
#define P53_CONTROL_H

#include "ctrl/api/api.h"
#include "ctrl/fleet/follow.h"
#include "ctrl/fleet/nodehealth.h"
#include "ctrl/snap/cookiekeys.h"
#include "ctrl/snap/qsbr.h"
#include "ctrl/snap/snapmgr.h"
#include "zones/answer/osign.h"
#include "zones/common/err.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct p53_fw;
struct qlog_ring;
struct xfr_cfg;
struct xfrout;
struct xfrin;

/* Built per snapshot load, published with the snapshot, freed after the
 * grace period: answering threads copy these into their p53_ctx once per
 * loop. */
struct control_load {
	const uint8_t *health; /* by the snapshot's check numbers; NULL = all healthy */
	uint32_t nhealth;
	const struct p53_fw *fw;  /* NULL = no firewall */
	const uint8_t *zone_dead; /* by zone index: expired secondary zones; NULL = none */
	uint32_t nzone_dead;
	/* By zone index: its signatures' window (control side only: metrics
	 * and node health); NULL when the snapshot has no zones. */
	struct p53_zone_sigs *sigs;
	uint32_t nsigs;
	const struct p53_osign *osign; /* online DNSSEC signing keys; NULL = none */
};

struct control_cfg {
	const char *name;	   /* "port53" or "port53d": log prefix */
	const char *server_name;   /* the API's "server" field */
	const char *snapshot_path; /* loaded at start and on SIGHUP */
	const char *firewall_path; /* .p53fw, loaded with every snapshot; NULL = none */
	/* Online DNSSEC signing (docs/dnssec.md): the zone-signing keys in this
	 * directory, read with every snapshot load; NULL = none. osign's clock
	 * is the control side's. */
	const char *dnssec_keys;
	struct p53_osign_cfg osign;
	const char *health_checks; /* Route 53 health checks JSON; NULL = none */
	double health_quorum;	   /* 0 = default */
	const char *const *trusted_keys;
	size_t ntrusted;
	uint64_t snapshot_max_bytes; /* loads from a path; 0 = 4 GiB */
	/* Control API: off when both are NULL. */
	const char *control_socket;
	const char *control_listen;
	const char *control_token_file;
	size_t push_max_bytes;	      /* 0 = 256 MiB */
	const char *reload_dir;	      /* {"path"} reloads must be inside; NULL: refused */
	struct api_limits api_limits; /* zeros = defaults */
	const char *watch_dir;	      /* *.p53 written or moved in are loaded; NULL = off */
	const char *query_log, *query_log_dnstap;
	unsigned query_log_sample;
	unsigned nworkers;	  /* answering threads: firewall scratches, log rings */
	struct qsbr *qsbr;	  /* the answering threads' quiescence (not owned) */
	api_counters_fn counters; /* the front end's counters; NULL = none */
	void *counters_arg;
	/* Called on the control thread: on SIGINT/SIGTERM (stop serving), on
	 * SIGUSR1, and every tick (~20 ms; returns true to stop). Any may be
	 * NULL. */
	void (*on_stop)(void *arg);
	void (*on_usr1)(void *arg);
	bool (*on_tick)(void *arg);
	/* Called on the control thread after a SIGHUP reload (certificates). */
	void (*on_hup)(void *arg);
	void *arg;
	/* NULL = pthread_create. */
	int (*spawn)(pthread_t *t, const char *name, void *(*fn)(void *), void *arg);
	/* Abuse controls (docs/abuse.md). The DNS Cookie secret all answering
	 * threads share, made or read at start, rotated or reread on the
	 * control thread; off when !cookies. */
	bool cookies;
	const char *cookie_secret_file; /* NULL: random, rotated */
	unsigned cookie_rotate_s;	/* 0: the default */
	/* Answering thread i's rate limiter (NULL: none), whose events the
	 * control thread logs, a few lines a second at most; NULL = none. */
	struct p53_rrl *(*rrl_of)(void *arg, unsigned worker);
	/* Zone transfers in and out, NOTIFY, TSIG (docs/transfers.md); NULL
	 * or empty = none. */
	const struct xfr_cfg *xfr;
	/* A fleet node (docs/anycast.md): the origin followed (origin.url
	 * NULL: none) and the node-health thresholds. */
	struct follow_cfg origin;
	struct nodehealth_cfg node;
	/* Fills up to max answering threads' loop counters, returns how many;
	 * sampled by the control thread for node health. NULL: not tracked. */
	unsigned (*beats)(void *arg, uint64_t *out, unsigned max);
};

struct control;

/* Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR1 in the calling thread: call it
 * before any other thread is created, so only the control thread takes
 * them. */
void control_block_signals(void);

/* Starts the control thread, which starts the health checker, the query
 * log, loads the first snapshot and opens the API; returns once that is
 * done. NULL with err set when any of it fails. */
struct control *control_start(const struct control_cfg *cfg, struct p53_err *err);

struct snapmgr *control_mgr(struct control *c);
/* The node's health, for the zone-transfer side's expired zones. */
struct nodehealth *control_nodehealth(struct control *c);
/* The cookie secret for p53_abuse_init; NULL when cookies are off. */
const p53_cookie_live *control_cookies(struct control *c);
/* Worker i's query-log ring; NULL when the log is off. */
struct qlog_ring *control_qlog_ring(struct control *c, unsigned worker);

/* Transfers out, for the TCP servers (NULL when off); the secondary
 * service, for NOTIFY received by a front end (NULL when off). */
struct xfrout *control_xfrout(struct control *c);
struct xfrin *control_xfrin(struct control *c);

/* Emits the firewall's per-rule hits and the query log's counters; for the
 * front end's counters callback. */
void control_counters(struct control *c, api_emit_fn emit, void *sink);

/* Reloads the configured snapshot (and firewall) as SIGHUP does; 0 or a
 * negative code. From any thread that is not an online reader. */
int control_reload(struct control *c, struct p53_err *err);

/* Stops the control thread and the API (and with it everything that reads
 * the front end's counters), leaving the snapshot manager serving: call
 * before stopping the answering threads, whose counters the API reads. */
void control_quiesce(struct control *c);
/* Stops the API, the watcher and the control thread, then the query log
 * and the checker, and frees the snapshot manager: call after the
 * answering threads have stopped. */
void control_stop(struct control *c);

#endif
