/* A zone's records as transfers carry them: owner, type, class, TTL and
 * rdata in uncompressed wire form, the SOA first, the others sorted.
 *
 * Images are immutable once built and reference-counted, so a transfer in
 * progress keeps the generation it started with however many snapshots are
 * published meanwhile, without holding the snapshot itself (and so without
 * delaying the RCU grace period of a swap). The difference of two images is
 * a pair of images (deleted, added), each starting with an SOA, which is
 * what an IXFR answer sends (RFC 1995) and what a secondary applies.
 */
#ifndef P53_XFR_ZIMAGE_H
#define P53_XFR_ZIMAGE_H

#include "zones/answer/snapshot.h"
#include "zones/common/err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct zimage {
	unsigned refs;
	uint8_t apex[256]; /* canonical wire */
	size_t apex_len;
	uint32_t serial; /* of record 0, the SOA */
	uint8_t *buf;	 /* records back to back */
	size_t len, cap;
	uint32_t *off; /* record i starts at buf + off[i] */
	size_t n, ncap;
	unsigned skipped; /* routing-policy groups left out (zwalk.h) */
};

struct zimage *zimage_new(const uint8_t *apex, size_t apex_len);
struct zimage *zimage_ref(struct zimage *z);
void zimage_unref(struct zimage *z);

/* Appends a record (owner is lowered). 0 or P53_ENOMEM / P53_EINVAL. */
int zimage_add(struct zimage *z, const uint8_t *owner, size_t olen, uint16_t type, uint32_t ttl,
	       const uint8_t *rdata, uint16_t rdlen);
/* Appends record i of another image. */
int zimage_add_rr(struct zimage *z, const struct zimage *from, size_t i);
/* Record i's wire bytes; returns its length. */
size_t zimage_rr(const struct zimage *z, size_t i, const uint8_t **rr);
uint16_t zimage_rr_type(const struct zimage *z, size_t i);
/* The SOA serial in an SOA record's wire bytes (0 if not an SOA). */
uint32_t zimage_soa_serial(const uint8_t *rr, size_t len);

/* Sorts records 1.. and drops duplicates; requires record 0 to be the SOA
 * and sets serial from it. P53_EINVAL when it is not. */
int zimage_seal(struct zimage *z);

/* Zone z of a snapshot (zwalk.h), sealed. */
int zimage_from_snapshot(const struct p53_snapshot *s, uint32_t z, struct zimage **out,
			 struct p53_err *err);

/* del: old's SOA then what old has and new lacks; add: new's SOA then
 * what new has and old lacks. A changed TTL is a deletion and an addition. */
int zimage_diff(const struct zimage *old, const struct zimage *new, struct zimage **del,
		struct zimage **add);
/* Applies one difference to base; the result takes add's SOA. P53_EINVAL
 * when del's SOA is not base's or a deleted record is absent. */
int zimage_apply(const struct zimage *base, const struct zimage *del, const struct zimage *add,
		 struct zimage **out, struct p53_err *err);
/* True when both hold the same records. */
int zimage_equal(const struct zimage *a, const struct zimage *b);

/* Master-file text, $ORIGIN and SOA first (zprint_rdata). */
int zimage_write_text(const struct zimage *z, FILE *out);

#endif
