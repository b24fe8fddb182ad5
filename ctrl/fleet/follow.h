/* Following an origin: a node of a fleet polls one HTTP(S) URL for signed
 * snapshots and swaps in each new one (docs/anycast.md).
 *
 * The origin is any static web server or S3-compatible object store: the
 * follower needs only GET with If-None-Match and the ETag it returns, so an
 * unchanged object costs one small request per interval. A changed object
 * is downloaded into a temporary file in the follower's directory, loaded
 * through the snapshot manager with SNAPMGR_NEWER_ONLY (the signature must
 * verify against the trusted keys, which a follower requires, and the
 * serial must move forward), and on success renamed to DIR/origin.p53, so a
 * node restarted with snapshot.path there starts from the last copy it
 * accepted. Anything that fails (network, HTTP status, size, signature,
 * serial) is counted and leaves the live snapshot serving.
 *
 * One thread per follower, started from the control thread (so it inherits
 * its CPU affinity); it never runs on an answering thread.
 */
#ifndef P53_FOLLOW_H
#define P53_FOLLOW_H

#include "ctrl/snap/snapmgr.h"
#include "zones/common/err.h"

#include <stdbool.h>
#include <stdint.h>

struct follow_cfg {
	const char *url;	 /* http:// or https://; NULL = no follower */
	const char *dir;	 /* downloads and origin.p53; required with url */
	unsigned interval_ms;	 /* between polls, +-10% jitter [2000] */
	unsigned timeout_ms;	 /* one request, download included [30000] */
	const char *ca_file;	 /* HTTPS trust anchors; NULL = the system's */
	const char *header_file; /* one extra request header ("Authorization:
				  * Bearer ..."), read at start; NULL = none */
	uint64_t max_bytes;	 /* largest snapshot taken; 0 = 4 GiB */
	bool keys_configured;	 /* the snapshot manager requires signatures */
};

void follow_cfg_default(struct follow_cfg *cfg);

/* What the follower has seen; times are CLOCK_REALTIME nanoseconds, 0 =
 * never. */
struct follow_stats {
	uint64_t polls;	       /* requests made */
	uint64_t not_modified; /* 304: the object is the one already judged */
	uint64_t fetched;      /* 200: downloaded */
	uint64_t loaded;       /* swapped in */
	uint64_t unchanged;    /* downloaded but identical to the live snapshot */
	uint64_t rejected;     /* downloaded and refused (signature, serial, format) */
	uint64_t errors;       /* network, HTTP status, size, local I/O */
	unsigned consecutive_errors;
	int64_t last_ok_at;	 /* the origin answered (304 or 200) */
	int64_t last_current_at; /* the origin's object was found to be the live one */
	int64_t last_loaded_at;	 /* a new snapshot from the origin went live */
	int64_t last_error_at;	 /* an error or a rejection */
	uint64_t last_loaded_serial;
	double last_fetch_ms; /* the last download, request to load done */
	bool origin_rejected; /* the origin's current object was refused */
	char etag[128];
	char last_error[512];
};

struct follow;

/* Checks the configuration (url scheme, dir writable, keys) and starts the
 * thread; NULL with err set. name prefixes log lines ("port53d"). */
struct follow *follow_start(const struct follow_cfg *cfg, struct snapmgr *mgr, const char *name,
			    struct p53_err *err);
/* Stops the thread (an ongoing request is aborted) and frees f; NULL is
 * fine. */
void follow_stop(struct follow *f);
/* A consistent copy of the statistics. */
void follow_stats(struct follow *f, struct follow_stats *out);
/* Polls at once instead of at the end of the interval (SIGHUP). */
void follow_kick(struct follow *f);

#endif
