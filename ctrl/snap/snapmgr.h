/* The snapshot manager: which snapshot is live, and replacing it safely.
 *
 * One manager per server. Any control thread (API, SIGHUP, watcher) calls
 * snapmgr_load(): load and verify the file (checksums, format version,
 * signature when keys are configured), build per-load state through an
 * optional hook, publish the result with one atomic store, wait until every
 * reader has passed a quiescent state (qsbr.h), then free the old one. A load
 * that fails at any step changes nothing and returns the reason.
 *
 * Readers (data-plane workers, the kernel-socket loop) call snapmgr_current()
 * once per loop iteration or burst, use the result, and report quiescence
 * through the qsbr they registered with. They never lock.
 */
#ifndef P53_SNAPMGR_H
#define P53_SNAPMGR_H

#include "ctrl/snap/qsbr.h"
#include "zones/common/err.h"
#include "zones/answer/sign.h"
#include "zones/answer/snapshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What readers see: a snapshot and everything built for it, published and
 * retired together. Immutable once published. */
struct snapmgr_live {
	const struct p53_snapshot *snap;
	void *state;	     /* from snapmgr_cfg.build, NULL without one */
	uint64_t serial;     /* p53_snapshot_info().serial */
	int64_t loaded_at;   /* CLOCK_REALTIME, nanoseconds */
	uint64_t generation; /* 1 for the first snapshot, +1 per swap */
};

struct snapmgr_cfg {
	struct qsbr *qsbr; /* required: the readers' quiescence */
	/* Trusted Ed25519 public keys (PEM files); when any is given, only
	 * snapshots signed by one of them are accepted. */
	const char *const *trusted_keys;
	size_t ntrusted;
	/* Per-load state (geo FIB, Hyperscan database, per-worker scratch),
	 * built before publishing and destroyed after the grace period. A
	 * build failure rejects the snapshot. */
	int (*build)(void *arg, const struct p53_snapshot *snap, void **state, struct p53_err *err);
	void (*destroy)(void *arg, void *state);
	/* After a swap, still serialised against other loads, so live and
	 * its snapshot stay valid during the call (zone transfers take their
	 * images and send NOTIFY here). NULL = none. */
	void (*published)(void *arg, const struct snapmgr_live *live);
	void *arg;
	unsigned sync_timeout_ms; /* default 10000 */
	/* Largest snapshot loaded from a path; 0 = 4 GiB. Only regular files
	 * are loaded, opened non-blocking, so a FIFO or device given as a path
	 * is refused at once instead of blocking the loader. */
	uint64_t max_bytes;
};

/* Outcome of one successful load. */
struct snapmgr_swap {
	uint64_t serial, old_serial; /* old_serial 0 for the first load */
	uint64_t verify_ns;	     /* load + verify + build */
	uint64_t swap_ns;	     /* publish -> old snapshot freed */
	bool deferred;		     /* readers too slow: the old one is kept */
};

/* Counters and the last outcome, for status displays. */
struct snapmgr_stats {
	uint64_t swaps;	   /* successful loads after the first */
	uint64_t failures; /* rejected loads */
	uint64_t last_swap_ns, max_swap_ns, sum_swap_ns;
	uint64_t last_verify_ns;
	int64_t last_error_at; /* CLOCK_REALTIME ns; 0 = never */
	char last_error[512];
	char source[256];		/* where the live snapshot came from */
	bool signed_ok;			/* its signature was verified */
	uint8_t key_id[P53_KEY_ID_LEN]; /* by this key */
	bool require_signature;
};

struct snapmgr *snapmgr_new(const struct snapmgr_cfg *cfg, struct p53_err *err);
/* Call once no reader runs any more: frees the live snapshot too. */
void snapmgr_free(struct snapmgr *m);

/* Loads path and makes it live. source names it in status displays (NULL:
 * the path). Serialised against other loads; never call it from an online
 * reader (go offline first). Returns 0 and fills out (may be NULL), or a
 * negative code with err set, the live snapshot unchanged. */
int snapmgr_load(struct snapmgr *m, const char *path, const char *source, struct snapmgr_swap *out,
		 struct p53_err *err);
/* A snapshot whose serial is below the live one's is refused (an old signed
 * file must not be replayed) unless the loader says so: an operator's
 * explicit rollback. snapmgr_load() passes no flags. */
enum {
	SNAPMGR_ALLOW_OLDER = 1 << 0,
	/* An origin's copy (ctrl/fleet/follow.h): a file identical to the
	 * live one (same content hash) changes nothing and returns
	 * SNAPMGR_UNCHANGED; any other serial must be above the live one, so
	 * a replayed or re-sealed file with the live serial is refused too. */
	SNAPMGR_NEWER_ONLY = 1 << 1,
};
#define SNAPMGR_UNCHANGED 1
int snapmgr_load_flags(struct snapmgr *m, const char *path, const char *source, unsigned flags,
		       struct snapmgr_swap *out, struct p53_err *err);

/* The live snapshot, or NULL before the first load. Readers only: the
 * result stays valid until the caller's next quiescent state. */
const struct snapmgr_live *snapmgr_current(struct snapmgr *m);

/* Calls fn with the live snapshot (may be NULL) and the statistics, holding
 * the view lock so nothing is freed meanwhile: for threads that are not
 * registered readers (the API). A load in progress does not hold it while
 * it reads, verifies or waits for readers, so this never waits for a load.
 * fn must be quick and must not load. */
typedef void (*snapmgr_view_fn)(void *arg, const struct snapmgr_live *live,
				const struct snapmgr_stats *st);
void snapmgr_view(struct snapmgr *m, snapmgr_view_fn fn, void *arg);

#endif
