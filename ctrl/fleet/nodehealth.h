/* A node's own health, for the API (GET /v1/node), /metrics and whatever
 * announces the node's anycast prefixes (`port53ctl anycast`, BIRD;
 * docs/anycast.md).
 *
 * A node is healthy when every check passes:
 *  - workers: every answering thread advanced its loop counter within
 *    worker_stall_ms (a wedged worker takes its RSS share of queries with
 *    it);
 *  - snapshot age: the node last knew its snapshot to be current within
 *    max_snapshot_age_s: the later of its load and the origin's last "this
 *    is still the one" (304, or an identical download);
 *  - origin: the origin answered within origin_max_silence_s (when set: an
 *    origin down takes every node's freshness with it, so this is off by
 *    default and reported only);
 *  - zones expired: none (a secondary's zone past its SOA expire), once the
 *    zone-transfer side reports them through nodehealth_set_expired();
 *  - signatures: the earliest RRSIG expiration of the signed zones served
 *    lies at least min_signature_validity_s ahead (when set: one snapshot
 *    feeds every node, so all would leave together; off by default and
 *    reported only), once the control side reports it for each load
 *    through nodehealth_set_signatures().
 *
 * The control thread samples the heartbeats; the API evaluates on demand.
 */
#ifndef P53_NODEHEALTH_H
#define P53_NODEHEALTH_H

#include "ctrl/fleet/follow.h"
#include "ctrl/snap/snapmgr.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct nodehealth_cfg {
	unsigned max_snapshot_age_s;	   /* 0 = no limit */
	unsigned origin_max_silence_s;	   /* 0 = reported, never unhealthy */
	unsigned worker_stall_ms;	   /* [3000] */
	unsigned min_signature_validity_s; /* 0 = reported, never unhealthy */
};

struct nodehealth_report {
	bool healthy;
	unsigned workers, workers_answering; /* workers 0: not tracked */
	bool workers_ok;
	double snapshot_age_s; /* since the node last knew it current; -1: none */
	double loaded_age_s;   /* since the live snapshot was loaded */
	uint64_t serial;
	bool snapshot_ok;
	bool origin; /* following one */
	double origin_silence_s;
	bool origin_ok;
	bool zones_tracked;
	unsigned zones_expired;
	bool zones_ok;
	unsigned signed_zones;	     /* 0: nothing signed, check not applied */
	double signature_validity_s; /* earliest expiration - now */
	bool signatures_ok;
	char reasons[768]; /* "; "-separated, "" when healthy */
};

struct nodehealth;

struct nodehealth *nodehealth_new(const struct nodehealth_cfg *cfg, unsigned nworkers);
void nodehealth_free(struct nodehealth *h);

/* Control thread: the answering threads' loop counters (n of them). */
void nodehealth_beat(struct nodehealth *h, const uint64_t *beats, unsigned n);
/* The zone-transfer side: how many served zones are past their expire. */
void nodehealth_set_expired(struct nodehealth *h, unsigned nexpired);
/* The control side, per load: how many zones carry signatures and the
 * earliest expiration among them (Unix time). */
void nodehealth_set_signatures(struct nodehealth *h, unsigned signed_zones, int64_t earliest);

/* Evaluates every check now; fol may be NULL (no origin). */
void nodehealth_eval(struct nodehealth *h, struct snapmgr *mgr, struct follow *fol,
		     struct nodehealth_report *r);

/* GET /v1/node's body (a jansson json_t *, owned by the caller). */
struct json_t;
struct json_t *nodehealth_json(const struct nodehealth_report *r, struct follow *fol);
/* The port53_node_* and port53_origin_* metrics. */
void nodehealth_metrics(FILE *f, const struct nodehealth_report *r, struct follow *fol);

#endif
