/* DNSSEC in the answer engine (answer_int.h): a DO=1 plan gets, beside each
 * RRset, the RRSIGs that cover it, and in the authority section the NSEC
 * records (with their RRSIGs) that prove what decide() found absent: the
 * name (NXDOMAIN, or the name a wildcard answered), a wildcard at the
 * closest encloser, the type at a node (NODATA), the DS set at a delegation
 * (RFC 4035 3.1.3). What the compiler signed comes from the snapshot (or as
 * a pre-signed zone file held it). What depends on the query is signed here
 * with the zone's online key (osign.h): routing-policy picks, an NSEC
 * showing a policy's type absent when it picked nothing, and in zones
 * compiled with compact denial (RFC 9824) wildcard expansions, signed under
 * the query name, and every denial, one NSEC at the name itself. A DO=1
 * answer for a zone without signatures gets nothing added. Zones with an
 * NSEC3 chain (RFC 5155 7.2) prove the same with NSEC3 records: those
 * about a node were found at compile time (snap_nodesec3); the next closer
 * name of an NXDOMAIN or a wildcard answer is hashed here, on the stack,
 * and its covering NSEC3 found by a binary search.
 */
#include "zones/answer/answer_int.h"
#include "zones/answer/nsec3hash.h"

/* Records of RRSIG set r covering type; each record's first two bytes
 * are the type it covers (RFC 4034 3.1). */
static uint16_t sigs_covering(const struct p53_snapshot *s, const struct snap_rrset *r,
			      uint16_t type)
{
	const uint8_t *rd = s->rdata + r->rdata, *end = rd + r->len;
	uint16_t n = 0;
	while (rd < end) {
		uint16_t l = rd16(rd);
		if (l >= 2 && rd16(rd + 2) == type)
			n++;
		rd += 2 + l;
	}
	return n;
}

static uint16_t pent_count(const struct p53_snapshot *s, const struct pent *e)
{
	if (e->set == NULL)
		return e->synth ? 1 : e->rdn;
	if (e->covered == 0)
		return e->set->count;
	return sigs_covering(s, e->set, e->covered);
}

/* Appends e, then the RRSIGs at its node that cover it, to arr. */
static void add_signed(const struct p53_snapshot *s, struct pent *arr, unsigned *n, unsigned max,
		       const struct pent *e)
{
	if (*n >= max)
		return;
	arr[(*n)++] = *e;
	if (e->set == NULL || e->set->count == 0 || e->node == SNAP_NONE || e->online || *n >= max)
		return;
	const struct snap_rrset *sig = find_rrset(s, &s->nodes[e->node], RR_RRSIG);
	if (sig == NULL || e->set->type == RR_RRSIG || sigs_covering(s, sig, e->set->type) == 0)
		return;
	arr[(*n)++] = (struct pent){e->owner, sig, e->ttl, NULL, e->node, e->set->type};
}

static bool zone_compact(const struct p53_snapshot *s, uint32_t zone)
{
	return s->nodesec[s->zones[zone].apex].nsec == SNAP_NSEC_COMPACT;
}

static bool same_name(const uint8_t *a, const uint8_t *b)
{
	size_t l = name_len(a);
	return a == b || (l == name_len(b) && memcmp(a, b, l) == 0);
}

/* Signs records rr[0..n) (one RRset) per query and appends their RRSIGs to
 * arr. Marks the plan as needing online signing even when no key is there
 * (pre-rendering then leaves the answer to run time). */
static void add_online_sigs(struct plan *p, struct pent *arr, unsigned *cnt, unsigned max,
			    uint32_t zone, const uint8_t *owner, uint16_t type, uint32_t ttl,
			    const struct p53_osign_rr *rr, unsigned n)
{
	p->online = true;
	if (p->osign == NULL || *cnt >= max || n == 0)
		return;
	size_t at = p->oused;
	unsigned m = p53_osign_rrset(p->osign, p->worker, zone, owner, name_len(owner), type, ttl,
				     rr, n, p->obuf, sizeof(p->obuf), &p->oused);
	if (m)
		arr[(*cnt)++] = (struct pent){owner, NULL,  ttl,      NULL,	   SNAP_NONE,
					      0,     false, RR_RRSIG, (uint16_t)m, p->obuf + at};
}

/* The zone an entry is signed per query for, or SNAP_NONE when the
 * snapshot's signatures cover it: a policy pick, or a wildcard expansion
 * in a compact zone (signed under the query name, so no NSEC has to show
 * the name absent). */
static uint32_t online_zone(const struct p53_snapshot *s, const struct pent *e)
{
	if (e->set == NULL || e->node == SNAP_NONE || e->set->type == RR_RRSIG)
		return SNAP_NONE;
	const struct snap_node *n = &s->nodes[e->node];
	if (e->online)
		return n->zone;
	if ((n->flags & NODE_WILDCARD) && zone_compact(s, n->zone) &&
	    !same_name(e->owner, snap_node_name(s, n)))
		return n->zone;
	return SNAP_NONE;
}

/* Rebuilds one section with the signatures of each RRset after it. */
static void secure_section(const struct p53_snapshot *s, struct plan *p, struct pent *arr,
			   unsigned *cnt, unsigned max)
{
	struct pent old[AN_MAX > AR_MAX ? AN_MAX : AR_MAX];
	unsigned n = *cnt;
	memcpy(old, arr, n * sizeof(old[0]));
	*cnt = 0;
	for (unsigned i = 0; i < n;) {
		const struct pent *e = &old[i];
		uint32_t zone = online_zone(s, e);
		if (zone == SNAP_NONE) {
			add_signed(s, arr, cnt, max, e);
			i++;
			continue;
		}
		/* A multivalue answer is several picks of one RRset. */
		struct p53_osign_rr rr[P53_OSIGN_RRS_MAX];
		unsigned nrr = 0, j = i;
		for (; j < n && online_zone(s, &old[j]) == zone &&
		       old[j].set->type == e->set->type && same_name(old[j].owner, e->owner);
		     j++) {
			if (*cnt < max)
				arr[(*cnt)++] = old[j];
			const uint8_t *rd = s->rdata + old[j].set->rdata,
				      *end = rd + old[j].set->len;
			for (; rd < end && nrr < P53_OSIGN_RRS_MAX; rd += 2 + rd16(rd))
				rr[nrr++] = (struct p53_osign_rr){rd + 2, rd16(rd)};
		}
		add_online_sigs(p, arr, cnt, max, zone, e->owner, e->set->type, e->ttl, rr, nrr);
		i = j;
	}
}

/* Adds the denial RRset (NSEC or NSEC3) of node, and its RRSIGs, once. */
static void add_denial(const struct p53_snapshot *s, struct plan *p, uint32_t node, uint16_t type)
{
	if (node == SNAP_NONE || node == SNAP_NSEC_COMPACT)
		return;
	for (unsigned i = 0; i < p->nns; i++)
		if (p->ns[i].node == node && p->ns[i].set && p->ns[i].set->type == type)
			return;
	const struct snap_node *n = &s->nodes[node];
	const struct snap_rrset *nsec = find_rrset(s, n, type);
	if (nsec == NULL || nsec->count == 0)
		return;
	struct pent e = {snap_node_name(s, n), nsec, nsec->ttl, NULL, node, 0};
	add_signed(s, p->ns, &p->nns, NS_MAX, &e);
}

static void add_nsec(const struct p53_snapshot *s, struct plan *p, uint32_t node)
{
	add_denial(s, p, node, RR_NSEC);
}

static bool zone_nsec3(const struct p53_snapshot *s, uint32_t zone)
{
	return s->n3zones && s->n3zones[zone].count;
}

/* What the node's NSEC3 proves (RFC 5155 7.2.3, 7.2.4, 7.2.7): its types,
 * or when it has none (an insecure delegation under opt-out), the closest
 * provable encloser and the opt-out NSEC3 covering the next closer name. */
static void n3_node_proof(const struct p53_snapshot *s, struct plan *p, uint32_t node)
{
	const struct snap_nodesec3 *d = &s->nodesec3[node];
	if (d->match != SNAP_NONE) {
		add_denial(s, p, d->match, RR_NSEC3);
		return;
	}
	add_denial(s, p, d->ce, RR_NSEC3);
	add_denial(s, p, d->nc, RR_NSEC3);
}

/* The NSEC3 covering the next closer name of name (RFC 5155 7.2.1): its
 * ancestor one label below the closest encloser ce; hashed per query. */
static void n3_next_closer(const struct p53_snapshot *s, struct plan *p, uint32_t ce,
			   const uint8_t *name, size_t len)
{
	const struct snap_node *c = &s->nodes[ce];
	if (name == NULL || len == 0 || len > P53_NAME_MAX)
		return;
	unsigned labels = 0;
	for (size_t o = 0; o < len && name[o]; o += (size_t)name[o] + 1)
		labels++;
	if (labels <= c->labels)
		return;
	size_t off = 0;
	for (unsigned k = labels; k > c->labels + 1u; k--)
		off += (size_t)name[off] + 1;
	const struct snap_nsec3zone *z = &s->n3zones[c->zone];
	uint8_t h[P53_NSEC3_HASH_LEN];
	p53_nsec3_hash(name + off, len - off, z->salt, z->salt_len, z->iterations, h);
	add_denial(s, p, s->n3[snap_nsec3_cover(s, z, h, NULL)].node, RR_NSEC3);
}

/* RFC 4034 4.1.2: the type bitmap of sorted, distinct types. */
static size_t put_bitmap(const uint16_t *t, unsigned n, uint8_t *out)
{
	size_t len = 0;
	for (unsigned i = 0; i < n;) {
		uint8_t win = (uint8_t)(t[i] >> 8), top = 0;
		uint8_t *bits = out + len + 2;
		memset(bits, 0, 32);
		for (; i < n && (t[i] >> 8) == win; i++) {
			uint8_t lo = (uint8_t)t[i];
			bits[lo / 8] |= (uint8_t)(0x80 >> (lo % 8));
			top = (uint8_t)(lo / 8 + 1);
		}
		out[len] = win;
		out[len + 1] = top;
		len += 2u + top;
	}
	return len;
}

static void add_type(uint16_t *t, unsigned *n, uint16_t type)
{
	unsigned i = 0;
	while (i < *n && t[i] < type)
		i++;
	if (i < *n && t[i] == type)
		return;
	memmove(t + i + 1, t + i, (*n - i) * sizeof(*t));
	t[i] = type;
	(*n)++;
}

#define TYPES_MAX 256

/* The types an NSEC at node lists, with RRSIG and NSEC, without skip: at a
 * delegation only NS and DS are the zone's (RFC 4035 2.3), and DS at an
 * apex is the parent's. */
static unsigned node_types(const struct p53_snapshot *s, uint32_t node, uint16_t skip,
			   uint16_t t[TYPES_MAX])
{
	const struct snap_node *n = &s->nodes[node];
	unsigned k = 0;
	for (uint16_t i = 0; i < n->nrrsets && k < TYPES_MAX - 3; i++) {
		uint16_t type = s->rrsets[n->rrset + i].type;
		if (type == skip || type == RR_RRSIG || type == RR_NSEC ||
		    ((n->flags & NODE_APEX) && type == RR_DS) ||
		    ((n->flags & NODE_DELEG) && type != RR_NS && type != RR_DS))
			continue;
		add_type(t, &k, type);
	}
	add_type(t, &k, RR_RRSIG);
	add_type(t, &k, RR_NSEC);
	return k;
}

/* Appends one NSEC or NSEC3 made per query (owner; rdata: head, the next
 * name or the NSEC3 fields up to the next hash, then the bitmap of types)
 * to the authority section with its online RRSIG. */
static void add_online_denial(struct plan *p, uint32_t zone, const uint8_t *owner, uint16_t rtype,
			      const uint8_t *head, size_t nlen, const uint16_t *t, unsigned nt,
			      uint32_t ttl)
{
	p->online = true;
	if (p->osign == NULL || p->nns + 2 > NS_MAX ||
	    p->oused + 2 + nlen + 2 + 34 * ((size_t)nt + 1) > sizeof(p->obuf))
		return;
	uint8_t *rec = p->obuf + p->oused;
	memcpy(rec + 2, head, nlen);
	size_t l = nlen + put_bitmap(t, nt, rec + 2 + nlen);
	wr16(rec, (uint16_t)l);
	p->oused += 2 + l;
	p->ns[p->nns++] = (struct pent){owner, NULL, ttl, NULL, SNAP_NONE, 0, false, rtype, 1, rec};
	struct p53_osign_rr rr = {rec + 2, (uint16_t)l};
	add_online_sigs(p, p->ns, &p->nns, NS_MAX, zone, owner, rtype, ttl, &rr, 1);
}

static void add_online_nsec(struct plan *p, uint32_t zone, const uint8_t *owner,
			    const uint8_t *next, size_t nlen, const uint16_t *t, unsigned nt,
			    uint32_t ttl)
{
	add_online_denial(p, zone, owner, RR_NSEC, next, nlen, t, nt, ttl);
}

/* RFC 9824: the one NSEC of a compact denial, at the name itself, whose
 * next name is the name's immediate successor \000.name. NXDOMAIN lists
 * RRSIG, NSEC and NXNAME, and the answer turns NOERROR unless the query
 * set Compact Answers OK (RFC 9824 5): such a resolver takes NXDOMAIN with
 * the NXNAME proof, so the rcode stays. */
static void compact_proof(const struct p53_snapshot *s, struct plan *p, const struct proof *pr,
			  bool nxdomain)
{
	const struct snap_node *n = &s->nodes[pr->node];
	const uint8_t *owner = pr->name;
	uint16_t t[TYPES_MAX];
	unsigned nt = 0;
	if (pr->kind == PROOF_DELEG_NODS)
		owner = snap_node_name(s, n);
	if (owner == NULL)
		return;
	size_t olen = name_len(owner);
	uint8_t next[P53_NAME_MAX];
	if (olen + 2 > P53_NAME_MAX)
		return;
	next[0] = 1;
	next[1] = 0;
	memcpy(next + 2, owner, olen);
	if (nxdomain) {
		add_type(t, &nt, RR_RRSIG);
		add_type(t, &nt, RR_NSEC);
		add_type(t, &nt, RR_NXNAME);
	} else {
		nt = node_types(s, pr->node, pr->kind == PROOF_NOTYPE ? pr->type : 0, t);
	}
	bool had = p->osign != NULL;
	add_online_nsec(p, n->zone, owner, next, olen + 2, t, nt, s->zones[n->zone].neg_ttl);
	if (nxdomain && had && p->rcode == RCODE_NXDOMAIN && !p->co)
		p->rcode = RCODE_NOERROR;
}

/* A policy that picked nothing, in a zone with an NSEC chain: the node's
 * own NSEC, its type bitmap without the policy's type, signed per query;
 * the chain's order is unchanged, only the bitmap says less. */
/* The types of a bitmap b..end but skip. */
static unsigned bitmap_types(const uint8_t *b, const uint8_t *end, uint16_t skip,
			     uint16_t t[TYPES_MAX])
{
	unsigned nt = 0;
	for (; b + 2 <= end && b + 2 + b[1] <= end; b += 2 + b[1])
		for (unsigned i = 0; i < b[1] && i < 32; i++)
			for (unsigned k = 0; k < 8; k++)
				if ((b[2 + i] & (0x80 >> k)) && nt < TYPES_MAX) {
					uint16_t type = (uint16_t)(b[0] << 8 | (i * 8 + k));
					if (type != skip)
						t[nt++] = type;
				}
	return nt;
}

/* The same in an NSEC3 zone: the node's NSEC3 with the type taken out of
 * its bitmap, signed per query under the NSEC3's owner. */
static void n3_notype_proof(const struct p53_snapshot *s, struct plan *p, const struct proof *pr)
{
	uint32_t holder = s->nodesec3[pr->node].match;
	const struct snap_rrset *n3 =
	    holder == SNAP_NONE ? NULL : find_rrset(s, &s->nodes[holder], RR_NSEC3);
	if (n3 == NULL || n3->count != 1) {
		n3_node_proof(s, p, pr->node);
		return;
	}
	uint16_t len;
	const uint8_t *rd = first_rdata(s, n3, &len);
	/* algorithm, flags, iterations, salt, hash length, next hash */
	size_t head = len >= 5 ? 5u + rd[4] : len + 1u;
	if (head >= len || (head += 1u + rd[head]) > len) {
		n3_node_proof(s, p, pr->node);
		return;
	}
	uint16_t t[TYPES_MAX];
	unsigned nt = bitmap_types(rd + head, rd + len, pr->type, t);
	const struct snap_node *h = &s->nodes[holder];
	add_online_denial(p, h->zone, snap_node_name(s, h), RR_NSEC3, rd, head, t, nt, n3->ttl);
}

static void notype_proof(const struct p53_snapshot *s, struct plan *p, const struct proof *pr)
{
	uint32_t holder = s->nodesec[pr->node].nsec;
	const struct snap_node *n = &s->nodes[pr->node];
	const struct snap_rrset *nsec = find_rrset(s, n, RR_NSEC);
	if (holder != pr->node || nsec == NULL || nsec->count != 1) {
		add_nsec(s, p, holder);
		return;
	}
	uint16_t len;
	const uint8_t *rd = first_rdata(s, nsec, &len);
	size_t nl = name_len(rd);
	uint16_t t[TYPES_MAX];
	unsigned nt = bitmap_types(rd + nl, rd + len, pr->type, t);
	add_online_nsec(p, n->zone, snap_node_name(s, n), rd, nl, t, nt, nsec->ttl);
}

/* RFC 5155 7.2: the NSEC3 form of add_proof's proofs. An NXDOMAIN is the
 * closest encloser's NSEC3, the one covering the next closer name and the
 * one covering the wildcard at the closest encloser (7.2.2); a wildcard
 * answer the next closer name only (7.2.6), a wildcard NODATA also the
 * closest encloser's and the wildcard's own (7.2.5). */
static void n3_proof(const struct p53_snapshot *s, struct plan *p, const struct proof *pr,
		     const struct proof *next)
{
	const struct snap_node *n = &s->nodes[pr->node];
	switch (pr->kind) {
	case PROOF_NODATA:
	case PROOF_DELEG_NODS:
		n3_node_proof(s, p, pr->node);
		break;
	case PROOF_NOTYPE:
		n3_notype_proof(s, p, pr);
		break;
	case PROOF_NOTNAME:
		if (next && ((next->kind == PROOF_NOWILD && next->node == pr->node) ||
			     ((next->kind == PROOF_NODATA || next->kind == PROOF_NOTYPE) &&
			      next->node == n->wild && n->wild != SNAP_NONE)))
			n3_node_proof(s, p, pr->node);
		n3_next_closer(s, p, pr->node, pr->name, pr->name_len);
		break;
	case PROOF_NOWILD:
		add_denial(s, p, s->nodesec3[pr->node].wild, RR_NSEC3);
		break;
	}
}

static void add_proof(const struct p53_snapshot *s, struct plan *p, const struct proof *pr,
		      const struct proof *next)
{
	const struct snap_node *n = &s->nodes[pr->node];
	if (zone_nsec3(s, n->zone)) {
		n3_proof(s, p, pr, next);
		return;
	}
	if (zone_compact(s, n->zone)) {
		/* A wildcard answer is signed under the query name, and an
		 * NXDOMAIN is a NOTNAME and a NOWILD: one NSEC says both. */
		if (pr->kind == PROOF_NOTNAME && next && next->kind == PROOF_NOWILD)
			compact_proof(s, p, pr, true);
		else if (pr->kind == PROOF_NODATA || pr->kind == PROOF_NOTYPE ||
			 pr->kind == PROOF_DELEG_NODS)
			compact_proof(s, p, pr, false);
		return;
	}
	switch (pr->kind) {
	case PROOF_NODATA:
	case PROOF_DELEG_NODS:
		add_nsec(s, p, s->nodesec[pr->node].nsec);
		break;
	case PROOF_NOTYPE:
		notype_proof(s, p, pr);
		break;
	case PROOF_NOTNAME:
		add_nsec(s, p, s->nodesec[node_before(s, n->zone, pr->name)].nsec);
		break;
	case PROOF_NOWILD: {
		uint8_t w[P53_NAME_MAX];
		if (n->name_len + 2 > P53_NAME_MAX)
			break; /* no such wildcard can exist */
		w[0] = 1;
		w[1] = '*';
		memcpy(w + 2, snap_node_name(s, n), n->name_len);
		add_nsec(s, p, s->nodesec[node_before(s, n->zone, w)].nsec);
		break;
	}
	}
}

static void ans_secure_plan(const struct p53_snapshot *s, struct plan *p)
{
	p->online = false;
	p->oused = 0;
	secure_section(s, p, p->an, &p->nan, AN_MAX);
	secure_section(s, p, p->ns, &p->nns, NS_MAX);
	if (p->referral && p->nns) {
		/* A signed delegation carries its DS set, an unsigned one the
		 * NSEC at the cut that shows there is none. */
		const struct snap_node *cut = &s->nodes[p->ref_cut];
		const struct snap_rrset *ds = find_rrset(s, cut, RR_DS);
		if (ds && ds->count) {
			struct pent e = {snap_node_name(s, cut), ds, ds->ttl, NULL, p->ref_cut, 0};
			add_signed(s, p->ns, &p->nns, NS_MAX, &e);
		} else {
			struct proof pr = {PROOF_DELEG_NODS, 0, p->ref_cut, NULL, 0};
			add_proof(s, p, &pr, NULL);
		}
	}
	for (unsigned i = 0; i < p->nproof; i++)
		add_proof(s, p, &p->proof[i], i + 1 < p->nproof ? &p->proof[i + 1] : NULL);
	secure_section(s, p, p->ar, &p->nar, AR_MAX);
}
