/* Online DNSSEC signing for the answer engine (docs/dnssec.md).
 *
 * Answers that depend on the query (routing policies, ECS, and in zones
 * compiled with compact denial the wildcard expansions and every denial of
 * existence) cannot be signed at compile time: the engine signs them per
 * query with the zone-signing keys the control side loaded from the key
 * directory (ctrl/snap/osignload.c) and published with the snapshot
 * generation, read-only. The keys never enter the snapshot file.
 *
 * Each answering thread has its own slot: pre-created OpenSSL contexts per
 * key, a scratch buffer, and a fixed-size signature cache keyed by a SipHash
 * of exactly what a signature covers (the RRSIG header with key, labels,
 * original TTL and validity window, then the RRset in canonical form), so a
 * repeated answer costs a hash and a lookup; nothing is shared between
 * threads and nothing is locked. A cache miss runs OpenSSL, which allocates
 * internally (measured in docs/dnssec.md); nothing else does.
 *
 * Validity: each RRset's signatures belong to a window of cfg.refresh
 * seconds whose start is offset by a hash of the owner and type (so
 * re-signing after a refresh is spread over the period rather than done all
 * at once); inception is cfg.lag before the window starts, expiration
 * cfg.validity after it. The time is a coarse clock the control thread
 * stores (p53_osign_clock_set), read with one relaxed atomic load.
 */
#ifndef P53_OSIGN_H
#define P53_OSIGN_H

#include "zones/answer/snapshot.h"
#include "zones/common/err.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define P53_OSIGN_SIG_MAX      512 /* RSA of 4096 bits; 64 for algorithms 13 and 15 */
#define P53_OSIGN_KEYS_MAX     2   /* per zone: an algorithm change signs with both */
#define P53_OSIGN_RRS_MAX      64  /* records in one RRset signed online */
#define P53_OSIGN_VALIDITY_DEF (14u * 86400u)
#define P53_OSIGN_REFRESH_DEF  86400u
#define P53_OSIGN_LAG_DEF      3600u
#define P53_OSIGN_CACHE_DEF    4096u

/* Seconds since the epoch, stored by the control thread every second and
 * read by answering threads; 0 until set. */
struct p53_osign_clock {
	_Atomic int64_t now;
};
void p53_osign_clock_set(struct p53_osign_clock *c, int64_t now);

struct p53_osign_cfg {
	uint32_t validity; /* seconds after the window's start; 0 = default (14 d) */
	uint32_t refresh;  /* window length in seconds; 0 = default (1 d) */
	uint32_t lag;	   /* inception this far before the window; 0 = default (1 h) */
	uint32_t cache;	   /* cache entries per thread, rounded up to a power of 2 */
	/* The time signatures are made for. fixed_now != 0 pins it (tests,
	 * reproducible answers); otherwise *clock. */
	int64_t fixed_now;
	const struct p53_osign_clock *clock;
};

struct p53_osign;

/* Online signing state for snapshot s, with one slot per answering thread
 * (p53_ctx.worker < nworkers). */
struct p53_osign *p53_osign_new(const struct p53_snapshot *s, const struct p53_osign_cfg *cfg,
				unsigned nworkers, struct p53_err *err);
/* Adds a zone-signing key (an OpenSSL EVP_PKEY, algorithm 8, 13 or 15; a
 * reference is taken) for the snapshot's zone index zone; tag is its key
 * tag, and its DNSKEY rdata must be in the zone's apex DNSKEY set as
 * compiled (P53_EINVAL otherwise: validators could not use it). */
int p53_osign_add_key(struct p53_osign *o, uint32_t zone, uint8_t alg, uint16_t tag, void *pkey,
		      const uint8_t *dnskey, size_t dnskey_len, struct p53_err *err);
/* Creates the per-thread contexts: call once, after the keys. */
int p53_osign_ready(struct p53_osign *o, struct p53_err *err);
void p53_osign_free(struct p53_osign *o);

/* Zones with a key; whether zone has one. */
unsigned p53_osign_nzones(const struct p53_osign *o);
bool p53_osign_has_zone(const struct p53_osign *o, uint32_t zone);

/* Counters summed over threads: signatures made, cache hits. */
void p53_osign_counts(const struct p53_osign *o, uint64_t *signed_, uint64_t *hits);

/* One record of an RRset to sign: rdata as the snapshot stores it. */
struct p53_osign_rr {
	const uint8_t *rd;
	uint16_t len;
};

/* Signs the RRset (owner, type, ttl, rr[0..n)) of zone on thread worker with
 * each of the zone's keys, appending each RRSIG as (u16 length, rdata) to
 * out. Returns the number of RRSIGs written, 0 when the zone has no key, the
 * set is too large or out too small. Answering threads only; no lock, no
 * system call. */
unsigned p53_osign_rrset(const struct p53_osign *o, unsigned worker, uint32_t zone,
			 const uint8_t *owner, size_t olen, uint16_t type, uint32_t ttl,
			 const struct p53_osign_rr *rr, unsigned n, uint8_t *out, size_t cap,
			 size_t *used);

/* The signature cache of one thread, for its unit test: entries in use. */
unsigned p53_osign_cache_used(const struct p53_osign *o, unsigned worker);
/* Empties one thread's cache (benchmarks of cold answers; called by that
 * thread only). */
void p53_osign_cache_clear(struct p53_osign *o, unsigned worker);

#endif
