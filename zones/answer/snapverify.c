/* Structural verification of a snapshot: everything the answer engine
 * trusts without checking at query time.
 *
 * The checksums only prove that a file is the one its author sealed; the
 * author may be careless or hostile. So after the hashes the loader proves,
 * for the bytes the engine will follow, what the engine assumes of them:
 * indices and offsets inside their sections, names well formed where the
 * engine walks them (owners, the names inside NS/CNAME/PTR/MX/SRV/SOA/DNAME
 * rdata), node flags backed by the records they announce, hash probes that
 * end, pre-rendered answers that parse as the DNS sections they claim to
 * be with truncation points on record boundaries. docs/snapshot-format.md
 * lists every check; the routing-policy sections are checked in snapr53.c.
 */
#include "zones/answer/snapshot_pvt.h"

#include "zones/answer/nsec3hash.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Below this many items one thread does a pass: starting another costs more
 * than it saves. */
#define VERIFY_SPLIT_MIN 65536

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* Length of the uncompressed name at n when it is well formed and ends
 * within avail bytes; 0 otherwise. */
static size_t wire_name(const uint8_t *n, size_t avail)
{
	size_t i = 0;
	while (i < avail && i < P53_NAME_MAX) {
		uint8_t l = n[i];
		if (l == 0)
			return i + 1;
		if (l > P53_LABEL_MAX)
			return 0;
		i += (size_t)l + 1;
	}
	return 0;
}

bool snap_name_ok(const struct p53_snapshot *s, uint32_t off, size_t len)
{
	if (off > s->names_len || len > s->names_len - off || len == 0)
		return false;
	return wire_name(s->names + off, len) == len;
}

/* The node's name for messages, or "?" when it is itself what is wrong. */
static const char *node_text(const struct p53_snapshot *s, uint32_t i, char *buf, size_t cap)
{
	const struct snap_node *n = &s->nodes[i];
	if (!snap_name_ok(s, n->name, n->name_len) ||
	    name_to_text(s->names + n->name, buf, cap) < 0)
		snprintf(buf, cap, "?");
	return buf;
}

static int bad_node(const struct p53_snapshot *s, uint32_t i, struct p53_err *err, const char *why)
{
	char t[4 * P53_NAME_MAX + 2];
	return p53_err_set(err, P53_ECORRUPT, "snapshot node %u (%s): %s", i,
			   node_text(s, i, t, sizeof(t)), why);
}

static int bad_rrset(uint32_t i, uint16_t type, struct p53_err *err, const char *why)
{
	char tn[16];
	rrtype_to_text(type, tn);
	return p53_err_set(err, P53_ECORRUPT, "snapshot rrset %u (%s): %s", i, tn, why);
}

/* ---- rdata ---------------------------------------------------------------- */

/* Where, in each record of type, the engine reads a name: the offset of
 * the first name, and what must follow the last one. Types not listed are
 * copied as opaque bytes. */
static bool rdata_ok(uint16_t type, const uint8_t *rd, size_t len)
{
	size_t a, b;
	switch (type) {
	case RR_NS:
	case RR_CNAME:
	case RR_PTR:
	case RR_DNAME:
		return wire_name(rd, len) == len;
	case RR_MX:
		return len > 2 && wire_name(rd + 2, len - 2) == len - 2;
	case RR_SRV:
		return len > 6 && wire_name(rd + 6, len - 6) == len - 6;
	case RR_SVCB: /* SvcPriority, then TargetName (followed for additional
		       * data), then the SvcParams */
	case RR_HTTPS:
		return len > 2 && wire_name(rd + 2, len - 2) != 0;
	case RR_SOA:
		a = wire_name(rd, len);
		b = a ? wire_name(rd + a, len - a) : 0;
		return b && len - a - b == 20;
	}
	return true;
}

static int verify_rrsets(const struct p53_snapshot *s, uint32_t from, uint32_t to,
			 struct p53_err *err)
{
	for (uint32_t i = from; i < to; i++) {
		const struct snap_rrset *r = &s->rrsets[i];
		if (r->count == 0) {
			/* A policy-group placeholder (snapfmt.h): rdata is the
			 * group index; the node loop checks it is its group's. */
			if (r->rdata >= s->ngroups || r->len != 0 ||
			    s->groups[r->rdata].type != r->type)
				return bad_rrset(i, r->type, err,
						 "policy placeholder without its group");
			continue;
		}
		if (r->rdata > s->rdata_len || r->len > s->rdata_len - r->rdata)
			return bad_rrset(i, r->type, err, "rdata outside the RDATA section");
		/* The engine names only the first record of these. */
		if ((r->type == RR_CNAME || r->type == RR_DNAME || r->type == RR_SOA) &&
		    r->count != 1)
			return bad_rrset(i, r->type, err, "a singleton type with several records");
		size_t p = 0;
		for (uint16_t k = 0; k < r->count; k++) {
			if (r->len - p < 2)
				return bad_rrset(i, r->type, err, "record count beyond its rdata");
			const uint8_t *lp = s->rdata + r->rdata + p;
			size_t l = rd16(lp);
			if (r->len - p - 2 < l)
				return bad_rrset(i, r->type, err, "record length beyond its rdata");
			if (!rdata_ok(r->type, lp + 2, l))
				return bad_rrset(i, r->type, err,
						 "malformed domain name in a record");
			p += 2 + l;
		}
		if (p != r->len)
			return bad_rrset(i, r->type, err, "rdata longer than its records");
	}
	return 0;
}

/* ---- pre-rendered answers ------------------------------------------------ */

/* A name inside a blob: labels and at most one compression pointer at the
 * end, which must point backwards into the message (at or after the
 * question name at offset 12), as every pointer the encoder writes does.
 * msg is the message offset of the blob's first byte. */
static bool blob_name(const uint8_t *d, size_t len, size_t *pos, size_t msg)
{
	size_t p = *pos, n = 0;
	while (p < len) {
		uint8_t l = d[p];
		if ((l & 0xc0) == 0xc0) {
			if (len - p < 2)
				return false;
			size_t t = (size_t)(l & 0x3f) << 8 | d[p + 1];
			if (t < 12 || t >= msg + p)
				return false;
			*pos = p + 2;
			return true;
		}
		if (l > P53_LABEL_MAX || (n += (size_t)l + 1) > P53_NAME_MAX)
			return false;
		p += (size_t)l + 1;
		if (l == 0) {
			*pos = p;
			return true;
		}
	}
	return false;
}

/* One resource record of a blob, with the rdata names the engine relocates
 * (NS, CNAME, PTR, MX, SOA: RFC 3597 compressible types). */
static bool blob_rr(const uint8_t *d, size_t len, size_t *pos, size_t msg)
{
	size_t p = *pos;
	if (!blob_name(d, len, &p, msg) || len - p < 10)
		return false;
	uint16_t type = rd16(d + p);
	size_t end = p + 10 + rd16(d + p + 8);
	p += 10;
	if (end > len)
		return false;
	switch (type) {
	case RR_MX:
		if (end - p < 3)
			return false;
		p += 2;
		/* fall through */
	case RR_NS:
	case RR_CNAME:
	case RR_PTR:
		if (!blob_name(d, end, &p, msg) || p != end)
			return false;
		break;
	case RR_SOA:
		if (!blob_name(d, end, &p, msg) || !blob_name(d, end, &p, msg) || end - p != 20)
			return false;
		break;
	}
	*pos = end;
	return true;
}

/* Cut k of a blob, counting the implied first and last (snapfmt.h). */
static struct snap_cut blob_cut_at(const struct snap_blob *b, const struct snap_cut *inner,
				   uint32_t k)
{
	if (k == 0)
		return (struct snap_cut){0, 0, 0, 0};
	if (k > b->ncut)
		return (struct snap_cut){b->len, b->an, b->ns, b->ar};
	return inner[k - 1];
}

/* A blob as the node of name length nlen serves it: inside BLOBS, cut points
 * from {0, 0, 0, 0} to {len, an, ns, ar}, never decreasing, each on a record
 * boundary, and bytes that parse as exactly an + ns + ar records whose
 * pointers lead backwards. */
static const char *blob_check_in(const uint8_t *blobs, size_t blobs_len, uint32_t off, size_t nlen,
				 const char *outside)
{
	if (off % 4 || off > blobs_len || blobs_len - off < sizeof(struct snap_blob))
		return outside;
	const struct snap_blob *b = (const void *)(blobs + off);
	size_t need = sizeof(*b) + (size_t)b->ncut * sizeof(struct snap_cut) + b->len;
	if (need > blobs_len - off)
		return outside;
	if (b->flags & ~BLOB_AA || b->rcode > 15)
		return "pre-rendered answer with unknown flags or rcode";
	const struct snap_cut *c = (const void *)(b + 1);
	const uint8_t *d = (const uint8_t *)(c + b->ncut);
	uint32_t ncut = (uint32_t)b->ncut + 2;
	for (uint32_t i = 1; i < ncut; i++) {
		struct snap_cut p = blob_cut_at(b, c, i - 1), q = blob_cut_at(b, c, i);
		if (q.off < p.off || q.an < p.an || q.ns < p.ns || q.ar < p.ar ||
		    (q.ns && q.an != b->an) || (q.ar && q.ns != b->ns))
			return "pre-rendered answer's cuts out of order";
	}
	size_t msg = 12 + nlen + 4, pos = 0;
	uint32_t total = (uint32_t)b->an + b->ns + b->ar;
	uint32_t k = 0;
	for (uint32_t rr = 0;; rr++) {
		struct snap_cut q;
		while (k < ncut && (q = blob_cut_at(b, c, k), (uint32_t)q.an + q.ns + q.ar == rr)) {
			if (q.off != pos)
				return "pre-rendered answer's cut not on a record boundary";
			k++;
		}
		if (rr == total)
			break;
		if (!blob_rr(d, b->len, &pos, msg))
			return "pre-rendered answer does not parse";
	}
	if (pos != b->len || k != ncut)
		return "pre-rendered answer does not parse";
	return NULL;
}

static const char *blob_check(const struct p53_snapshot *s, uint32_t off, size_t nlen)
{
	return blob_check_in(s->blobs, s->blobs_len, off, nlen,
			     "pre-rendered answer outside BLOBS");
}

/* A DO=1 answer reference (snapfmt.h): render, the DO=0 answer, or a blob
 * in DOBLOBS checked as BLOBS' are. */
static const char *do_check(const struct p53_snapshot *s, uint32_t v, size_t nlen)
{
	if (v == SNAP_DO_RENDER || v == SNAP_DO_SAME)
		return NULL;
	return blob_check_in(s->doblobs, s->doblobs_len, v - 1, nlen,
			     "pre-rendered DO=1 answer outside DOBLOBS");
}

/* ---- zones and nodes ----------------------------------------------------- */

static bool is_canonical(const uint8_t *n, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (n[i] >= 'A' && n[i] <= 'Z')
			return false;
	return true;
}

/* True when the name at a (alen bytes) is b or lies below it. */
static bool below_or_at(const struct p53_snapshot *s, const struct snap_node *a,
			const struct snap_node *b)
{
	return name_is_below_or_at(s->names + a->name, a->name_len, s->names + b->name,
				   b->name_len);
}

static int verify_zones(const struct p53_snapshot *s, struct p53_err *err)
{
	uint32_t next = 0;
	for (uint32_t z = 0; z < s->nzones; z++) {
		const struct snap_zone *zn = &s->zones[z];
		/* Zones hold contiguous node ranges, in order, covering every
		 * node: each node's zone is then the range it lies in. */
		if (zn->apex != next || zn->nodes == 0 || zn->nodes > s->nnodes - zn->apex)
			return p53_err_set(err, P53_ECORRUPT,
					   "snapshot zone %u: node range out of order or bounds",
					   z);
		next = zn->apex + zn->nodes;
		const struct snap_node *apex = &s->nodes[zn->apex];
		if (zn->name != apex->name)
			return p53_err_set(err, P53_ECORRUPT,
					   "snapshot zone %u: name is not its apex node's", z);
		if (zn->soa >= s->nrrsets || zn->soa < apex->rrset ||
		    zn->soa - apex->rrset >= apex->nrrsets || s->rrsets[zn->soa].type != RR_SOA ||
		    s->rrsets[zn->soa].count != 1)
			return p53_err_set(err, P53_ECORRUPT,
					   "snapshot zone %u: SOA is not one record at the apex",
					   z);
	}
	if (next != s->nnodes)
		return p53_err_set(err, P53_ECORRUPT, "snapshot has nodes outside every zone");
	return 0;
}

static int verify_node_links(const struct p53_snapshot *s, uint32_t i, struct p53_err *err)
{
	const struct snap_node *n = &s->nodes[i];
	if (n->cut != SNAP_NONE) {
		if (n->cut >= s->nnodes || !(s->nodes[n->cut].flags & NODE_DELEG) ||
		    s->nodes[n->cut].zone != n->zone || !below_or_at(s, n, &s->nodes[n->cut]))
			return bad_node(s, i, err, "zone cut is not a delegation above it");
		if ((n->cut == i) != ((n->flags & NODE_DELEG) != 0) ||
		    (n->cut != i) != ((n->flags & NODE_OCCLUDED) != 0))
			return bad_node(s, i, err, "delegation flags disagree with its zone cut");
	} else if (n->flags & (NODE_DELEG | NODE_OCCLUDED)) {
		return bad_node(s, i, err, "delegation flag without a zone cut");
	}
	if (n->wild != SNAP_NONE) {
		const struct snap_node *w = n->wild < s->nnodes ? &s->nodes[n->wild] : NULL;
		if (w == NULL || !(w->flags & NODE_WILDCARD) || w->zone != n->zone ||
		    w->name_len != n->name_len + 2 ||
		    memcmp(s->names + w->name + 2, s->names + n->name, n->name_len) != 0)
			return bad_node(s, i, err, "wildcard child is not \"*\" below it");
	}
	return 0;
}

/* First pass: what a node holds by itself, so that the second may compare
 * it with the nodes it points at. */
static int verify_node_self(const struct p53_snapshot *s, uint32_t i, struct p53_err *err)
{
	const struct snap_node *n = &s->nodes[i];
	const uint8_t *name = s->names + n->name;
	if (!snap_name_ok(s, n->name, n->name_len))
		return bad_node(s, i, err, "owner name malformed or outside NAMES");
	if (!is_canonical(name, n->name_len) || n->labels != name_labels(name))
		return bad_node(s, i, err, "owner name not canonical or label count wrong");
	if (n->zone >= s->nzones)
		return bad_node(s, i, err, "zone out of range");
	if (n->flags & ~(NODE_APEX | NODE_DELEG | NODE_OCCLUDED | NODE_CNAME | NODE_DNAME |
			 NODE_WILDCARD | NODE_ENT | NODE_NSEC3 | NODE_PARENT))
		return bad_node(s, i, err, "unknown flags");
	if ((n->flags & NODE_PARENT) && !(n->flags & NODE_DELEG))
		return bad_node(s, i, err, "parent's side of a cut that is no delegation");
	if (((n->flags & NODE_WILDCARD) != 0) != (name[0] == 1 && name[1] == '*'))
		return bad_node(s, i, err, "wildcard flag disagrees with its name");
	return 0;
}

/* DNSSEC facts (snapfmt.h): the NSEC node a denial reads lies in the same
 * zone (the engine copies its NSEC set, if it has one, as opaque records);
 * the DO=1 answers are render, same, or valid blobs. */
static int verify_node_dnssec(const struct p53_snapshot *s, uint32_t i, struct p53_err *err)
{
	const struct snap_node *n = &s->nodes[i];
	if (s->nodesec) {
		const struct snap_nodesec *d = &s->nodesec[i];
		/* Compact denial is a zone's choice: all its nodes or none. */
		bool compact = s->nodesec[s->zones[n->zone].apex].nsec == SNAP_NSEC_COMPACT;
		if (compact && s->hdr->version < 5)
			return bad_node(s, i, err, "compact denial in a version 4 snapshot");
		if (compact != (d->nsec == SNAP_NSEC_COMPACT))
			return bad_node(s, i, err, "compact denial on some nodes of its zone only");
		if (d->nsec != SNAP_NONE && !compact &&
		    (d->nsec >= s->nnodes || s->nodes[d->nsec].zone != n->zone))
			return bad_node(s, i, err, "NSEC node outside its zone");
		const char *why = do_check(s, d->other_do, n->name_len);
		if (why)
			return bad_node(s, i, err, why);
	}
	for (uint16_t k = 0; s->ansdo && k < n->nans; k++) {
		const char *why = do_check(s, s->ansdo[n->ans + k], n->name_len);
		if (why)
			return bad_node(s, i, err, why);
	}
	return 0;
}

static int verify_node(const struct p53_snapshot *s, uint32_t i, struct p53_err *err)
{
	const struct snap_node *n = &s->nodes[i];
	const struct snap_zone *z = &s->zones[n->zone];
	if (i < z->apex || i - z->apex >= z->nodes)
		return bad_node(s, i, err, "outside its zone's node range");
	if (!below_or_at(s, n, &s->nodes[z->apex]))
		return bad_node(s, i, err, "not at or below its zone's apex");
	if (((n->flags & NODE_APEX) != 0) != (i == z->apex))
		return bad_node(s, i, err, "apex flag disagrees with its zone");
	if (n->rrset > s->nrrsets || n->nrrsets > s->nrrsets - n->rrset)
		return bad_node(s, i, err, "RRset range outside RRSETS");
	if (n->ans > s->nans || n->nans > s->nans - n->ans)
		return bad_node(s, i, err, "answer range outside ANS");
	/* What each flag announces must be there, and be real records where
	 * the engine reads them (a DNAME's target). */
	bool cname = false, dname = false, ns = false;
	for (uint16_t k = 0; k < n->nrrsets; k++) {
		const struct snap_rrset *r = &s->rrsets[n->rrset + k];
		if (k > 0 && r->type <= r[-1].type)
			return bad_node(s, i, err, "RRsets not in ascending type order");
		if (r->count == 0 && s->groups[r->rdata].node != i)
			return bad_node(s, i, err, "holds another node's policy group");
		cname |= r->type == RR_CNAME;
		ns |= r->type == RR_NS;
		if (r->type == RR_DNAME) {
			if (r->count == 0)
				return bad_node(s, i, err, "DNAME with a routing policy");
			dname = true;
		}
	}
	if (((n->flags & NODE_CNAME) != 0) != cname)
		return bad_node(s, i, err, "CNAME flag disagrees with its RRsets");
	if (((n->flags & NODE_DNAME) != 0) != dname)
		return bad_node(s, i, err, "DNAME flag disagrees with its RRsets");
	if ((n->flags & NODE_DELEG) && (!ns || (n->flags & NODE_APEX)))
		return bad_node(s, i, err, "delegation without NS records, or at an apex");
	if ((n->flags & NODE_ENT) && n->nrrsets)
		return bad_node(s, i, err, "empty non-terminal holding records");
	if (n->flags & NODE_NSEC3) {
		/* Lookups pass over it: nothing may need it found. */
		bool only = n->nrrsets > 0;
		for (uint16_t k = 0; k < n->nrrsets; k++) {
			uint16_t t = s->rrsets[n->rrset + k].type;
			only &= t == RR_NSEC3 || t == RR_RRSIG;
		}
		if (!only || n->nans || n->other_blob || n->flags != NODE_NSEC3)
			return bad_node(s, i, err, "NSEC3 owner flag on a name with other data");
	}
	int rc = verify_node_links(s, i, err);
	if (rc)
		return rc;
	for (uint16_t k = 0; k < n->nans; k++) {
		const struct snap_ans *a = &s->ans[n->ans + k];
		if (a->flags & ~(ANS_DYNAMIC | ANS_ANY))
			return bad_node(s, i, err, "pre-rendered answer with unknown flags");
		const char *why =
		    (a->flags & ANS_DYNAMIC) ? NULL : blob_check(s, a->blob, n->name_len);
		if (why)
			return bad_node(s, i, err, why);
	}
	if (n->other_blob) {
		const char *why = blob_check(s, n->other_blob - 1, n->name_len);
		if (why)
			return bad_node(s, i, err, why);
	}
	return verify_node_dnssec(s, i, err);
}

/* ---- NSEC3 --------------------------------------------------------------- */

/* A node a proof names: in the zone, holding NSEC3 records. */
static bool n3_node_ok(const struct p53_snapshot *s, uint32_t node, uint32_t zone)
{
	if (node == SNAP_NONE)
		return true;
	if (node >= s->nnodes || s->nodes[node].zone != zone)
		return false;
	const struct snap_node *n = &s->nodes[node];
	for (uint16_t k = 0; k < n->nrrsets; k++) {
		const struct snap_rrset *r = &s->rrsets[n->rrset + k];
		if (r->type == RR_NSEC3)
			return r->count > 0;
	}
	return false;
}

/* Each zone's list inside NSEC3, strictly ascending (the engine's binary
 * search), its iterations bounded (hashed per query); every node a proof
 * or an entry names holds NSEC3 records in the same zone. */
static int verify_nsec3(const struct p53_snapshot *s, struct p53_err *err)
{
	if ((s->nn3zones != 0) != (s->nnodesec3 != 0) ||
	    (s->nn3zones && (s->nn3zones != s->nzones || s->nnodesec3 != s->nnodes)))
		return p53_err_set(err, P53_ECORRUPT,
				   "snapshot NSEC3Z and NODESEC3 do not match ZONES and NODES");
	if (s->nn3 && !s->nn3zones)
		return p53_err_set(err, P53_ECORRUPT, "snapshot NSEC3 entries without NSEC3Z");
	for (uint32_t z = 0; z < s->nn3zones; z++) {
		const struct snap_nsec3zone *p = &s->n3zones[z];
		if (p->first > s->nn3 || p->count > s->nn3 - p->first ||
		    p->iterations > P53_NSEC3_ITER_MAX)
			return p53_err_set(
			    err, P53_ECORRUPT,
			    "snapshot zone %u: NSEC3 list out of bounds or iterations "
			    "above %u",
			    z, P53_NSEC3_ITER_MAX);
		for (uint32_t k = 0; k < p->count; k++) {
			const struct snap_nsec3 *e = &s->n3[p->first + k];
			if (!n3_node_ok(s, e->node, z) || e->node == SNAP_NONE ||
			    (k && memcmp(e[-1].hash, e->hash, sizeof(e->hash)) >= 0))
				return p53_err_set(
				    err, P53_ECORRUPT,
				    "snapshot zone %u: NSEC3 entry %u out of order or "
				    "not an NSEC3 owner of the zone",
				    z, k);
		}
	}
	for (uint32_t i = 0; i < s->nnodesec3; i++) {
		const struct snap_nodesec3 *d = &s->nodesec3[i];
		uint32_t z = s->nodes[i].zone;
		if (!n3_node_ok(s, d->match, z) || !n3_node_ok(s, d->ce, z) ||
		    !n3_node_ok(s, d->nc, z) || !n3_node_ok(s, d->wild, z))
			return bad_node(s, i, err, "NSEC3 proof not an NSEC3 owner of its zone");
	}
	return 0;
}

/* ---- the name index ------------------------------------------------------ */

/* Every node once, under its own name's hash, where a probe from the hash's
 * home slot reaches it; at most 3/4 of the slots used, so every probe meets
 * an empty slot and ends, and probes stay short. */
struct hash_scan {
	const struct p53_snapshot *s;
	uint64_t *hn;	 /* each node's hash, with a "seen" mark above it */
	size_t from, to; /* scan steps (from, to] after the start slot */
	size_t start;	 /* the first empty slot */
	size_t bad;	 /* the step that failed, or 0 */
	bool twice;	 /* and why: a node out of range or listed twice */
};

/* Slots name nodes in no order: looking up each slot's node, its name and
 * whether it was seen would be three cache misses per node on a large
 * zone. Each node's hash is computed first, in node order (the names were
 * checked by then), with a mark for "seen" above it, so a slot costs one
 * miss, fetched some slots ahead. The scan starts just after an empty slot,
 * so the run of used slots before each one is known without wrapping back;
 * a part of the scan starts at an empty slot too. The mark is set
 * atomically, so a node listed twice is found whichever parts hold it. */
static void *hash_scan_run(void *arg)
{
	struct hash_scan *h = arg;
	const struct p53_snapshot *s = h->s;
	size_t run = 0;
	for (size_t k = h->from + 1; k <= h->to; k++) {
		size_t i = (h->start + k) % s->hslots;
		const struct snap_hash_ent *e = &s->ht[i];
		uint32_t ahead = s->ht[(i + 16) % s->hslots].node;
		if (ahead && ahead - 1 < s->nnodes)
			__builtin_prefetch(&h->hn[ahead - 1]);
		if (e->node == 0) {
			run = 0;
			continue;
		}
		run++;
		uint32_t id = e->node - 1;
		h->twice = id >= s->nnodes ||
			   (__atomic_fetch_or(&h->hn[id], 1ull << 32, __ATOMIC_RELAXED) >> 32);
		size_t home = snap_home(s, e->hash);
		if (h->twice || e->hash != (uint32_t)h->hn[id] ||
		    (i >= home ? i - home : i + s->hslots - home) >= run) {
			h->bad = k;
			return NULL;
		}
	}
	return NULL;
}

struct hash_nodes {
	const struct p53_snapshot *s;
	uint64_t *hn;
	uint32_t from, to;
};

static void *hash_nodes_run(void *arg)
{
	struct hash_nodes *h = arg;
	/* The parent's side of a cut is marked seen already: a slot naming
	 * it is refused as a node listed twice (the index must not hold it). */
	for (uint32_t i = h->from; i < h->to; i++)
		h->hn[i] = name_hash(h->s->names + h->s->nodes[i].name, h->s->nodes[i].name_len) |
			   ((h->s->nodes[i].flags & NODE_PARENT) ? 1ull << 32 : 0);
	return NULL;
}

/* The step of the scan that failed first, in scan order, or 0 (*twice
 * says why). On a large index the hashes and the scan run on two threads. */
static size_t hash_scan(const struct p53_snapshot *s, uint64_t *hn, size_t start, bool two,
			bool *twice)
{
	size_t slots = s->hslots;
	struct hash_nodes na = {s, hn, 0, s->nnodes}, nb = na;
	struct hash_scan a = {.s = s, .hn = hn, .from = 0, .to = slots, .start = start}, b = a;
	pthread_t t;
	if (two) {
		na.to = nb.from = s->nnodes / 2;
		two = pthread_create(&t, NULL, hash_nodes_run, &nb) == 0;
		if (!two)
			na.to = s->nnodes;
	}
	hash_nodes_run(&na);
	if (two) {
		pthread_join(t, NULL);
		/* The second part begins at an empty slot past the middle. */
		size_t mid = slots / 2;
		while (mid < slots && s->ht[(start + mid) % slots].node != 0)
			mid++;
		a.to = b.from = mid;
		two = pthread_create(&t, NULL, hash_scan_run, &b) == 0;
		if (!two)
			a.to = slots;
	}
	hash_scan_run(&a);
	if (two)
		pthread_join(t, NULL);
	*twice = a.bad ? a.twice : b.twice;
	return a.bad ? a.bad : b.bad;
}

static int verify_hash(const struct p53_snapshot *s, struct p53_err *err)
{
	size_t slots = s->hslots, used = 0, indexed = 0;
	for (size_t i = 0; i < slots; i++)
		used += s->ht[i].node != 0;
	for (uint32_t i = 0; i < s->nnodes; i++)
		indexed += !(s->nodes[i].flags & NODE_PARENT);
	if (used != indexed || used > slots - slots / 4)
		return p53_err_set(
		    err, P53_ECORRUPT,
		    "snapshot hash index holds %zu entries for %zu named nodes in %zu slots", used,
		    indexed, slots);
	uint64_t *hn = malloc((s->nnodes ? s->nnodes : 1) * sizeof(*hn));
	if (hn == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	size_t start = 0;
	while (s->ht[start].node != 0)
		start++;
	bool twice;
	size_t k = hash_scan(s, hn, start, s->nnodes >= VERIFY_SPLIT_MIN, &twice);
	/* Two parts may each meet a slot that names a node listed twice; the
	 * message names the one a scan in order meets first, found again by
	 * one thread. */
	if (k && s->nnodes >= VERIFY_SPLIT_MIN)
		k = hash_scan(s, hn, start, false, &twice);
	int rc = 0;
	if (k && twice)
		rc = p53_err_set(err, P53_ECORRUPT,
				 "snapshot hash slot %zu: node out of range or listed twice",
				 (start + k) % s->hslots);
	else if (k)
		rc = bad_node(s, s->ht[(start + k) % s->hslots].node - 1, err,
			      "not found by its hash in the index");
	free(hn);
	return rc;
}

/* The parent's side of a cut stands beside the apex of a served child
 * zone of the same name: the name index finds the child's apex. */
static int verify_parent_sides(const struct p53_snapshot *s, struct p53_err *err)
{
	for (uint32_t i = 0; i < s->nnodes; i++) {
		const struct snap_node *n = &s->nodes[i];
		if (!(n->flags & NODE_PARENT))
			continue;
		const uint8_t *nm = s->names + n->name;
		uint32_t a = snap_find(s, nm, n->name_len, name_hash(nm, n->name_len));
		if (a == SNAP_NONE || !(s->nodes[a].flags & NODE_APEX) ||
		    s->nodes[a].zone == n->zone)
			return bad_node(s, i, err, "parent's side of a cut without a child zone");
	}
	return 0;
}

static int verify_sizes(const struct p53_snapshot *s, struct p53_err *err)
{
	static const struct {
		uint32_t id;
		size_t size;
	} el[] = {
	    {SECT_ZONES, sizeof(struct snap_zone)},
	    {SECT_NODES, sizeof(struct snap_node)},
	    {SECT_RRSETS, sizeof(struct snap_rrset)},
	    {SECT_ANS, sizeof(struct snap_ans)},
	    {SECT_GROUPS, sizeof(struct snap_group)},
	    {SECT_MEMBERS, sizeof(struct snap_member)},
	    {SECT_HCHECKS, sizeof(uint32_t)},
	    {SECT_GEO4, sizeof(struct snap_geo4)},
	    {SECT_GEO6, sizeof(struct snap_geo6)},
	    {SECT_GEOLOC, sizeof(struct snap_geoloc)},
	    {SECT_CIDR, sizeof(struct snap_cidr)},
	    {SECT_LAT4, sizeof(struct snap_geo4)},
	    {SECT_LAT6, sizeof(struct snap_geo6)},
	    {SECT_LATROW, sizeof(struct snap_latrow)},
	    {SECT_LATENT, sizeof(struct snap_latent)},
	    {SECT_NODESEC, sizeof(struct snap_nodesec)},
	    {SECT_ANSDO, sizeof(uint32_t)},
	    {SECT_NSEC3Z, sizeof(struct snap_nsec3zone)},
	    {SECT_NSEC3, sizeof(struct snap_nsec3)},
	    {SECT_NODESEC3, sizeof(struct snap_nodesec3)},
	};
	const struct snap_hdr *h = s->hdr;
	for (size_t k = 0; k < sizeof(el) / sizeof(el[0]); k++)
		for (uint32_t i = 0; i < h->nsect; i++)
			if (h->sect[i].id == el[k].id && (h->sect[i].len % el[k].size ||
							  h->sect[i].len / el[k].size >= SNAP_NONE))
				return p53_err_set(err, P53_ECORRUPT,
						   "snapshot section %u is not a whole number "
						   "of entries",
						   el[k].id);
	/* One entry per node, and one per answer, or none at all. */
	if (s->nnodesec && s->nnodesec != s->nnodes)
		return p53_err_set(err, P53_ECORRUPT, "snapshot NODESEC does not match NODES");
	if (s->nansdo && s->nansdo != s->nans)
		return p53_err_set(err, P53_ECORRUPT, "snapshot ANSDO does not match ANS");
	return 0;
}

/* ---- on two threads ------------------------------------------------------ */

/* The checks of one item each (RRset, node) in [from, to). */
typedef int (*verify_range_fn)(const struct p53_snapshot *s, uint32_t from, uint32_t to,
			       struct p53_err *err);

struct verify_part {
	const struct p53_snapshot *s;
	verify_range_fn fn;
	uint32_t from, to;
	struct p53_err err;
	int rc;
};

static void *verify_part_run(void *arg)
{
	struct verify_part *p = arg;
	p->rc = p->fn(p->s, p->from, p->to, &p->err);
	return NULL;
}

/* Runs fn over [0, n), in two halves on two threads when n is large. Each
 * item's checks read only what earlier passes proved, never what another
 * item of the same pass proves, so the halves are independent. The error
 * is the one a loop in order meets first: the lower half's, if it has one. */
static int verify_split(const struct p53_snapshot *s, verify_range_fn fn, uint32_t n,
			struct p53_err *err)
{
	struct verify_part hi = {.s = s, .fn = fn, .from = n / 2, .to = n};
	pthread_t t;
	if (n < VERIFY_SPLIT_MIN || pthread_create(&t, NULL, verify_part_run, &hi) != 0)
		return fn(s, 0, n, err);
	int rc = fn(s, 0, n / 2, err);
	pthread_join(t, NULL);
	if (rc == 0 && hi.rc != 0) {
		rc = hi.rc;
		if (err && err->code == 0)
			*err = hi.err; /* the first error is kept, as p53_err_set does */
	}
	return rc;
}

static int verify_nodes_self(const struct p53_snapshot *s, uint32_t from, uint32_t to,
			     struct p53_err *err)
{
	int rc = 0;
	for (uint32_t i = from; rc == 0 && i < to; i++)
		rc = verify_node_self(s, i, err);
	return rc;
}

static int verify_nodes(const struct p53_snapshot *s, uint32_t from, uint32_t to,
			struct p53_err *err)
{
	int rc = 0;
	for (uint32_t i = from; rc == 0 && i < to; i++)
		rc = verify_node(s, i, err);
	return rc;
}

/* The passes run in this order, each trusting what those before it proved:
 * RRsets, each node by itself, zones, each node with what it points at,
 * the name index, the routing-policy sections. */
int snap_verify_structure(const struct p53_snapshot *s, struct p53_err *err)
{
	int rc = verify_sizes(s, err);
	if (rc == 0)
		rc = verify_split(s, verify_rrsets, s->nrrsets, err);
	if (rc == 0)
		rc = verify_split(s, verify_nodes_self, s->nnodes, err);
	if (rc == 0)
		rc = verify_zones(s, err);
	if (rc == 0)
		rc = verify_split(s, verify_nodes, s->nnodes, err);
	if (rc == 0)
		rc = verify_nsec3(s, err);
	if (rc == 0)
		rc = verify_hash(s, err);
	if (rc == 0)
		rc = verify_parent_sides(s, err);
	if (rc == 0)
		rc = snap_verify_r53(s, err);
	return rc;
}
