/* Zone walk (see zwalk.h). */
#include "zones/compile/zwalk.h"

#include "zones/answer/snapshot_pvt.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"

#include <string.h>

uint32_t p53_zone_find(const struct p53_snapshot *s, const uint8_t *apex, size_t len)
{
	for (uint32_t z = 0; z < s->nzones; z++) {
		const struct snap_node *a = &s->nodes[s->zones[z].apex];
		if (a->name_len == len && memcmp(snap_node_name(s, a), apex, len) == 0)
			return z;
	}
	return P53_ZONE_NONE;
}

uint32_t p53_zone_above(const struct p53_snapshot *s, uint32_t z)
{
	const uint8_t *name = s->names + s->zones[z].name;
	size_t len = name_len(name);
	if (name[0] == 0)
		return P53_ZONE_NONE;
	for (size_t off = (size_t)name[0] + 1;; off += (size_t)name[off] + 1) {
		uint32_t id = snap_find(s, name + off, len - off, name_hash(name + off, len - off));
		if (id != SNAP_NONE)
			return s->nodes[id].zone;
		if (name[off] == 0)
			return P53_ZONE_NONE;
	}
}

uint32_t p53_zone_parent_side(const struct p53_snapshot *s, uint32_t z)
{
	uint32_t p = p53_zone_above(s, z);
	if (p == P53_ZONE_NONE)
		return SNAP_NONE;
	const uint8_t *name = s->names + s->zones[z].name;
	uint32_t lo = s->zones[p].apex, hi = lo + s->zones[p].nodes;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = name_cmp_canonical(snap_node_name(s, &s->nodes[mid]), name);
		if (c == 0)
			return (s->nodes[mid].flags & NODE_PARENT) ? mid : SNAP_NONE;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SNAP_NONE;
}

static int walk_rrset(const struct p53_snapshot *s, const struct snap_node *n,
		      const struct snap_rrset *r, p53_walk_fn fn, void *arg, unsigned *skipped)
{
	if (r->count == 0) {
		(*skipped)++;
		return 0;
	}
	const uint8_t *rd = s->rdata + r->rdata, *end = rd + r->len;
	while (rd < end) {
		uint16_t l = (uint16_t)(rd[0] << 8 | rd[1]);
		int rc = fn(arg, snap_node_name(s, n), n->name_len, r->type, r->ttl, rd + 2, l);
		if (rc)
			return rc;
		rd += 2 + l;
	}
	return 0;
}

int p53_zone_walk(const struct p53_snapshot *s, uint32_t z, p53_walk_fn fn, void *arg,
		  unsigned *skipped)
{
	unsigned skip = 0;
	const struct snap_zone *zn = &s->zones[z];
	const struct snap_node *apex = &s->nodes[zn->apex];
	bool parent_served = p53_zone_above(s, z) != P53_ZONE_NONE;
	int rc = walk_rrset(s, apex, &s->rrsets[zn->soa], fn, arg, &skip);
	for (uint32_t i = zn->apex; rc == 0 && i < zn->apex + zn->nodes; i++) {
		const struct snap_node *n = &s->nodes[i];
		for (uint16_t k = 0; rc == 0 && k < n->nrrsets; k++) {
			const struct snap_rrset *r = &s->rrsets[n->rrset + k];
			if (r != &s->rrsets[zn->soa] &&
			    !(r->type == RR_DS && i == zn->apex && parent_served))
				rc = walk_rrset(s, n, r, fn, arg, &skip);
		}
	}
	/* The DS sets of served children belong to this zone: on its side of
	 * their cuts (walked above), or in snapshots from before that, on the
	 * child's apex. */
	for (uint32_t c = 0; rc == 0 && c < s->nzones; c++) {
		if (c == z || p53_zone_above(s, c) != z || p53_zone_parent_side(s, c) != SNAP_NONE)
			continue;
		const struct snap_node *a = &s->nodes[s->zones[c].apex];
		for (uint16_t k = 0; rc == 0 && k < a->nrrsets; k++)
			if (s->rrsets[a->rrset + k].type == RR_DS)
				rc = walk_rrset(s, a, &s->rrsets[a->rrset + k], fn, arg, &skip);
	}
	if (skipped)
		*skipped = skip;
	return rc;
}
