/* DNSSEC in the answer engine (answer_int.h): a DO=1 plan gets, beside each
 * RRset, the RRSIGs that cover it, and in the authority section the NSEC
 * records (with their RRSIGs) that prove what decide() found absent: the
 * name (NXDOMAIN, or the name a wildcard answered), a wildcard at the
 * closest encloser, the type at a node (NODATA), the DS set at a delegation
 * (RFC 4035 3.1.3). Everything comes from the snapshot as the compiler
 * signed it, or as a pre-signed zone file held it; nothing is signed here.
 * A DO=1 answer for a zone without signatures gets nothing added.
 */
#include "zones/answer/answer_int.h"

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
		return 1;
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
	if (e->set == NULL || e->set->count == 0 || e->node == SNAP_NONE || *n >= max)
		return;
	const struct snap_rrset *sig = find_rrset(s, &s->nodes[e->node], RR_RRSIG);
	if (sig == NULL || e->set->type == RR_RRSIG || sigs_covering(s, sig, e->set->type) == 0)
		return;
	arr[(*n)++] = (struct pent){e->owner, sig, e->ttl, NULL, e->node, e->set->type};
}

/* The last node of zone at or before name in canonical order: the zone's
 * nodes are sorted (snapfmt.h), so a binary search, from the apex, which
 * precedes every name of its zone. */
static uint32_t node_before(const struct p53_snapshot *s, uint32_t zone, const uint8_t *name)
{
	const struct snap_zone *z = &s->zones[zone];
	uint32_t lo = z->apex, hi = z->apex + z->nodes - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;
		if (name_cmp_canonical(snap_node_name(s, &s->nodes[mid]), name) <= 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Adds the NSEC RRset of node (and its RRSIGs) once. */
static void add_nsec(const struct p53_snapshot *s, struct plan *p, uint32_t node)
{
	if (node == SNAP_NONE)
		return;
	for (unsigned i = 0; i < p->nns; i++)
		if (p->ns[i].node == node && p->ns[i].set && p->ns[i].set->type == RR_NSEC)
			return;
	const struct snap_node *n = &s->nodes[node];
	const struct snap_rrset *nsec = find_rrset(s, n, RR_NSEC);
	if (nsec == NULL || nsec->count == 0)
		return;
	struct pent e = {snap_node_name(s, n), nsec, nsec->ttl, NULL, node, 0};
	add_signed(s, p->ns, &p->nns, NS_MAX, &e);
}

static void add_proof(const struct p53_snapshot *s, struct plan *p, const struct proof *pr)
{
	const struct snap_node *n = &s->nodes[pr->node];
	switch (pr->kind) {
	case PROOF_NODATA:
	case PROOF_DELEG_NODS:
		add_nsec(s, p, s->nodesec[pr->node].nsec);
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
	struct pent old[AN_MAX > AR_MAX ? AN_MAX : AR_MAX];
	unsigned n = p->nan;
	memcpy(old, p->an, n * sizeof(old[0]));
	p->nan = 0;
	for (unsigned i = 0; i < n; i++)
		add_signed(s, p->an, &p->nan, AN_MAX, &old[i]);

	n = p->nns;
	memcpy(old, p->ns, n * sizeof(old[0]));
	p->nns = 0;
	for (unsigned i = 0; i < n; i++)
		add_signed(s, p->ns, &p->nns, NS_MAX, &old[i]);
	if (p->referral && p->nns) {
		/* A signed delegation carries its DS set, an unsigned one the
		 * NSEC at the cut that shows there is none. */
		const struct snap_node *cut = &s->nodes[p->ref_cut];
		const struct snap_rrset *ds = find_rrset(s, cut, RR_DS);
		if (ds && ds->count) {
			struct pent e = {snap_node_name(s, cut), ds, ds->ttl, NULL, p->ref_cut, 0};
			add_signed(s, p->ns, &p->nns, NS_MAX, &e);
		} else {
			struct proof pr = {PROOF_DELEG_NODS, 0, p->ref_cut, NULL};
			add_proof(s, p, &pr);
		}
	}
	for (unsigned i = 0; i < p->nproof; i++)
		add_proof(s, p, &p->proof[i]);

	n = p->nar;
	memcpy(old, p->ar, n * sizeof(old[0]));
	p->nar = 0;
	for (unsigned i = 0; i < n; i++)
		add_signed(s, p->ar, &p->nar, AR_MAX, &old[i]);
}
