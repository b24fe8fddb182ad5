/* A served zone's records, one by one, for zone transfers and dumps.
 *
 * The walk gives what a zone file of the zone would hold: the apex SOA
 * first, then every other record of the zone's nodes in the snapshot's
 * canonical order, glue included; the NS and DS sets at a served child's
 * apex are given with the parent (RFC 4035 3.1.4.1), not with the child. Routing
 * policy groups (Route 53 records with a SetIdentifier or an alias) have no
 * zone-file form: they are skipped and counted.
 */
#ifndef P53_ZWALK_H
#define P53_ZWALK_H

#include "zones/answer/snapshot.h"

#include <stddef.h>
#include <stdint.h>

#define P53_ZONE_NONE UINT32_MAX

/* Zone index of the served zone whose apex is the canonical wire name apex,
 * or P53_ZONE_NONE. */
uint32_t p53_zone_find(const struct p53_snapshot *s, const uint8_t *apex, size_t len);
/* The served zone holding zone z's apex's parent name, or P53_ZONE_NONE. */
uint32_t p53_zone_above(const struct p53_snapshot *s, uint32_t z);
/* The node of zone z's parent zone on its side of the cut at z's apex
 * (NODE_PARENT), or SNAP_NONE (no parent served, or an older snapshot). */
uint32_t p53_zone_parent_side(const struct p53_snapshot *s, uint32_t z);

/* One record: owner in canonical wire form, class IN. Return non-zero to
 * stop the walk (the walk returns that value). */
typedef int (*p53_walk_fn)(void *arg, const uint8_t *owner, size_t owner_len, uint16_t type,
			   uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);

/* Walks zone z; *skipped (may be NULL) counts the policy groups left out.
 * Returns 0 or the callback's non-zero value. */
int p53_zone_walk(const struct p53_snapshot *s, uint32_t z, p53_walk_fn fn, void *arg,
		  unsigned *skipped);

#endif
