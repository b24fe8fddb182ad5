/* Resolver answers shared with the answering threads (docs/resolver.md,
 * "Cache hits on the workers").
 *
 * The resolver thread publishes each response it sends to a UDP client as
 * a ready-made message, keyed by view, question and the query flags the
 * message depends on (EDNS, DO, CD, AD); answering threads (port53d's
 * workers) serve a later query for the same key themselves, with its ID
 * and question case, TTLs counted down, and without a round trip through
 * the resolver thread. Lock-free: one writer (the resolver thread) stores
 * immutable entries into a direct-mapped table of atomic pointers;
 * readers are QSBR readers and copy out. A replaced entry is freed after a
 * grace period (rshare_reclaim, by the writer while it is offline).
 *
 * An entry is valid only for the snapshot generation it was made under (a
 * new snapshot or firewall makes every entry stale), only until the
 * smallest TTL of its answer and authority records runs out (at most
 * cache-max-ttl), and only for a query whose name the firewall left alone.
 */
#ifndef P53_RSHARE_H
#define P53_RSHARE_H

#include "ctrl/snap/qsbr.h"
#include "zones/common/name.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RSHARE_MAX_TTLS 32 /* records whose TTL is counted down; more: not shared */

/* What a query is looked up by. */
struct rshare_key {
	uint16_t view;
	uint16_t qtype, qclass;
	uint8_t flags; /* RSHARE_F_* */
	uint8_t qlen;  /* qname's wire length */
	uint16_t udp;  /* the client's UDP limit (EDNS size, at least 512; else 512) */
	uint8_t qname[P53_NAME_MAX]; /* lower-cased */
};
enum {
	RSHARE_F_EDNS = 1 << 0,
	RSHARE_F_DO = 1 << 1,
	RSHARE_F_CD = 1 << 2,
	RSHARE_F_AD = 1 << 3,
};

/* What a hit was made from, for the query log. */
struct rshare_hit {
	int16_t rule; /* -1: recursion */
	bool secure;
};

struct rshare;

struct rshare *rshare_new(unsigned slots); /* rounded up to a power of two */
/* With no reader left. */
void rshare_free(struct rshare *s);

/* Reads the key of query q (qlen bytes): one question, EDNS from the
 * additional section. False when the query is not one to share. */
bool rshare_key_of(const uint8_t *q, size_t qlen, struct rshare_key *k);

/* Writer: publishes resp (n bytes), the response to a query of key k made
 * at now_s (unix seconds) under snapshot generation gen; not when it is
 * truncated, not NOERROR/NXDOMAIN, or carries no TTL. ttl_max bounds its
 * life. */
void rshare_put(struct rshare *s, const struct rshare_key *k, const uint8_t *resp, size_t n,
		uint64_t gen, uint32_t now_s, uint32_t ttl_max, int rule, bool secure);
/* Writer, while offline in qsbr: frees replaced entries once the readers
 * passed a grace period (at most every 64 replacements or second). */
void rshare_reclaim(struct rshare *s, struct qsbr *qsbr, uint32_t now_s);

/* Reader (online in qsbr): the response to query q (qlen bytes, key k
 * from rshare_key_of with k->view set) written into out (cap bytes); its
 * length, 0 on a miss. */
size_t rshare_get(const struct rshare *s, const struct rshare_key *k, const uint8_t *q,
		  uint64_t gen, uint32_t now_s, uint8_t *out, size_t cap, struct rshare_hit *hit);

#endif
