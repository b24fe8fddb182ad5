/* The secondary service: zones transferred from a primary (BIND, Knot DNS,
 * NSD, PowerDNS, another port53) and served with the zones compiled from
 * files or Route 53 JSON, in one snapshot.
 *
 * One thread keeps each zone's SOA timers (RFC 1034 4.3.5): every refresh
 * interval, or at once on a NOTIFY (RFC 1996) from the zone's primary, it
 * asks the primary's SOA over TCP and, when the serial moved, fetches the
 * change by IXFR (RFC 1995), falling back to AXFR (RFC 5936); after a
 * failure it tries again every retry interval. A transfer is applied to
 * the zone's records, written to the secondary directory as a zone file,
 * compiled with every other zone into a new snapshot and swapped in through
 * the snapshot manager; a transfer, compile or load that fails changes
 * nothing that is served. A zone not refreshed for its expire interval
 * answers SERVFAIL until a refresh succeeds (visible in /metrics and
 * /v1/stats as secondary_expired).
 *
 * With a signer's key directory (xfr_cfg.sign_keys) the same builder signs
 * every zone that has keys there at each build, also runs with local zones
 * only, and builds again when signer.h says the next key event or
 * re-signing is due; a failed build keeps the served snapshot.
 */
#ifndef P53_XFRIN_H
#define P53_XFRIN_H

#include "ctrl/api/api.h"
#include "ctrl/snap/snapmgr.h"
#include "ctrl/xfr/signer.h"
#include "ctrl/xfr/tsig.h"
#include "ctrl/xfr/xfr.h"
#include "zones/answer/answer.h"
#include "zones/common/err.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct xfrin_cfg {
	const struct xfr_cfg *xfr;    /* secondary, zones, dir, notify_allow */
	const struct tsig_keys *keys; /* outlives the xfrin */
	struct snapmgr *mgr;
	const char *snapshot_path; /* written by the secondary, then loaded */
	const char *name;	   /* log prefix */
	int (*spawn)(pthread_t *t, const char *name, void *(*fn)(void *), void *arg);
};

struct xfrin;

/* Reads the zones kept in the directory, transfers those that have none
 * (once, with bounded waits), and writes the first snapshot to
 * snapshot_path. NULL with err set when a setting is wrong or nothing can
 * be served. */
struct xfrin *xfrin_new(const struct xfrin_cfg *cfg, struct p53_err *err);
/* Starts the timer thread (after the first load). */
int xfrin_start(struct xfrin *x, struct p53_err *err);
/* Stops the thread; then xfrin_free. */
void xfrin_stop(struct xfrin *x);
void xfrin_free(struct xfrin *x);

/* A message a front end received: when it is a NOTIFY (opcode 4, not a
 * response), the answer is written to resp (*rlen bytes, possibly 0 =
 * no answer) and true is returned. Takes the xfrin's lock: called for
 * NOTIFY messages only, never per query. */
bool xfrin_notify(struct xfrin *x, const uint8_t *q, size_t qlen, const struct p53_client *c,
		  uint8_t *resp, size_t cap, size_t *rlen);

/* Expired zones, by apex (canonical wire): for the per-load state. */
bool xfrin_expired(struct xfrin *x, const uint8_t *apex, size_t len);

/* The control-plane signer (signer.h) when --sign-keys is set, else NULL. */
struct signer *xfrin_signer(struct xfrin *x);

/* Per-zone serial, expiry and transfer counters for the control API. */
void xfrin_counters(struct xfrin *x, api_emit_fn emit, void *sink);

#endif
