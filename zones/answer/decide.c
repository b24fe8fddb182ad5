/* Step 2 of the answer engine: decide what the answer holds.
 *
 * RFC 1034 4.3.2 over the snapshot: the name's node or its closest encloser,
 * then exact match, wildcard (RFC 4592), delegation, CNAME and DNAME chains
 * (RFC 6672), routing policies; the outcome is a plan (answer_int.h) listing
 * which RRsets go in which section under which owner, and nothing is written
 * yet. The DNS Firewall sees each name a chain leads to.
 */
#include "zones/answer/answer_int.h"

/* Finds the name's node (exact) or its closest encloser. */
static uint32_t lookup(const struct p53_snapshot *s, const uint8_t *name, size_t len,
		       const struct suffixes *sf, bool *exact)
{
	for (unsigned i = 0; i < sf->n; i++) {
		uint32_t id = snap_find(s, name + sf->off[i], len - sf->off[i], sf->hash[i]);
		if (id != SNAP_NONE) {
			*exact = i == 0;
			return id;
		}
	}
	*exact = len == 1;
	return snap_find(s, name + len - 1, 1, name_hash(name + len - 1, 1)); /* the root */
}

static const struct snap_rrset *find_rrset(const struct p53_snapshot *s, const struct snap_node *n,
					   uint16_t type)
{
	const struct snap_rrset *r = &s->rrsets[n->rrset];
	for (uint16_t i = 0; i < n->nrrsets; i++)
		if (r[i].type == type)
			return &r[i];
	return NULL;
}

/* First rdata of a set: length and bytes. */
static const uint8_t *first_rdata(const struct p53_snapshot *s, const struct snap_rrset *r,
				  uint16_t *len)
{
	*len = rd16(s->rdata + r->rdata);
	return s->rdata + r->rdata + 2;
}

static void ans_add_soa(const struct p53_snapshot *s, uint32_t zone, struct plan *p)
{
	const struct snap_zone *z = &s->zones[zone];
	p->ns[0] =
	    (struct pent){s->names + z->name, &s->rrsets[z->soa], z->neg_ttl, NULL, z->apex, 0};
	p->nns = 1;
	p->soa_zone = zone;
}

static void add_ar_set(struct plan *p, const uint8_t *owner, const struct snap_rrset *set,
		       uint32_t node)
{
	/* A routing-policy group (count 0) is left out of the additional
	 * section: it is optional data, and keeps such answers pre-rendered. */
	if (set == NULL || set->count == 0 || p->nar >= AR_MAX)
		return;
	for (unsigned i = 0; i < p->nar; i++)
		if (p->ar[i].set == set)
			return;
	p->ar[p->nar++] = (struct pent){owner, set, set->ttl, NULL, node, 0};
}

/* Offset of the name that additional-section processing follows, or -1. */
static int target_offset(uint16_t type)
{
	switch (type) {
	case RR_NS:
		return 0;
	case RR_MX:
	case RR_SVCB: /* after SvcPriority */
	case RR_HTTPS:
		return 2;
	case RR_SRV:
		return 6;
	}
	return -1;
}

/* RFC 1034 4.3.2 step 6, and glue for referrals: A and AAAA of the names an
 * NS, MX, SRV, SVCB or HTTPS set points at, where we hold them. Glue below a
 * cut is only used for referrals: elsewhere it is not authoritative data.
 * SVCB and HTTPS (RFC 9460 4.1) also bring the target's own set of the same
 * type, as Knot DNS does, so a client following a chain of service names
 * gets the next link; in ServiceMode the target "." stands for the owner
 * (RFC 9460 2.5.2), whose addresses come along when owner is the node that
 * answered (SNAP_NONE, or a wildcard, gives none: the records would be the
 * wildcard's, not the owner's). */
static void add_additional(const struct p53_snapshot *s, const struct snap_rrset *set,
			   uint32_t owner, struct plan *p, bool glue)
{
	int toff = target_offset(set->type);
	if (toff < 0)
		return;
	bool svcb = set->type == RR_SVCB || set->type == RR_HTTPS;
	const uint8_t *rd = s->rdata + set->rdata, *end = rd + set->len;
	while (rd < end) {
		uint16_t l = rd16(rd);
		const uint8_t *t = rd + 2 + toff, *data = rd + 2;
		rd += 2 + l;
		if (t >= rd)
			continue;
		uint32_t id;
		if (*t == 0) {
			if (!svcb || rd16(data) == 0 || owner == SNAP_NONE ||
			    (s->nodes[owner].flags & NODE_WILDCARD))
				continue;
			id = owner;
		} else {
			uint8_t name[P53_NAME_MAX];
			size_t nlen = name_len(t);
			memcpy(name, t, nlen);
			name_lower(name, nlen);
			id = snap_find(s, name, nlen, name_hash(name, nlen));
		}
		if (id == SNAP_NONE)
			continue;
		const struct snap_node *n = &s->nodes[id];
		if ((n->flags & NODE_OCCLUDED) && !glue)
			continue;
		add_ar_set(p, snap_node_name(s, n), find_rrset(s, n, RR_A), id);
		add_ar_set(p, snap_node_name(s, n), find_rrset(s, n, RR_AAAA), id);
		if (svcb && id != owner)
			add_ar_set(p, snap_node_name(s, n), find_rrset(s, n, set->type), id);
	}
}

static void add_referral(const struct p53_snapshot *s, uint32_t cut, struct plan *p)
{
	const struct snap_node *c = &s->nodes[cut];
	const struct snap_rrset *ns = find_rrset(s, c, RR_NS);
	p->referral = true;
	p->ref_cut = cut;
	if (ns == NULL)
		return;
	p->ns[0] = (struct pent){snap_node_name(s, c), ns, ns->ttl, NULL, cut, 0};
	p->nns = 1;
	add_additional(s, ns, SNAP_NONE, p, true);
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

/* What decide() notes for a DO=1 answer to prove (secure.c); nothing
 * otherwise. */
static void note_proof(struct plan *p, enum proof_kind kind, uint32_t node, const uint8_t *name,
		       size_t len)
{
	if (!p->dnssec || p->nproof >= PROOF_MAX)
		return;
	p->proof[p->nproof++] = (struct proof){(uint8_t)kind, (uint8_t)len, node, name, 0};
}

/* RFC 4035 3.1.4.1: the DS set of a zone's apex is the parent zone's data.
 * When the parent is served too, DS at the apex is answered from the
 * parent's side of the cut (NODE_PARENT: its DS set with the parent's
 * signatures, or NODATA with the parent's SOA and the NSEC there), or the
 * parent's referral when the apex lies below one of its cuts. Snapshots
 * from before the parent's side was kept hold the DS set on the apex
 * node. Returns false when no zone above is served. */
static bool ds_from_parent(const struct p53_snapshot *s, const struct snap_node *apex,
			   const uint8_t *name, size_t nlen, const struct suffixes *sf,
			   unsigned depth, struct plan *p)
{
	uint32_t id = SNAP_NONE;
	for (unsigned i = 1; i < sf->n && id == SNAP_NONE; i++)
		id = snap_find(s, name + sf->off[i], nlen - sf->off[i], sf->hash[i]);
	if (id == SNAP_NONE && nlen > 1)
		id = snap_find(s, name + nlen - 1, 1, name_hash(name + nlen - 1, 1));
	if (id == SNAP_NONE)
		return false;
	const struct snap_node *up = &s->nodes[id];
	if (up->cut != SNAP_NONE) {
		if (depth == 0)
			p->aa = false;
		add_referral(s, up->cut, p);
		return true;
	}
	uint32_t side = node_before(s, up->zone, name);
	const struct snap_node *ps = &s->nodes[side];
	if (!(ps->flags & NODE_PARENT) || ps->name_len != nlen ||
	    memcmp(snap_node_name(s, ps), name, nlen) != 0) {
		ps = apex;
		side = (uint32_t)(apex - s->nodes);
	}
	const struct snap_rrset *ds = find_rrset(s, ps, RR_DS);
	if (ds && p->nan < AN_MAX) {
		p->an[p->nan++] = (struct pent){name, ds, ds->ttl, NULL, side, 0};
	} else if (ds == NULL) {
		ans_add_soa(s, up->zone, p);
		if (ps != apex)
			note_proof(p, PROOF_NODATA, side, name, nlen);
	}
	return true;
}

/* DNAME substitution (RFC 6672 2.2): the labels of name below the DNAME
 * owner, then the DNAME target. Returns the new length or 0 if too long. */
static size_t dname_subst(const uint8_t *name, size_t nlen, size_t owner_len, const uint8_t *target,
			  uint8_t out[P53_NAME_MAX])
{
	size_t prefix = nlen - owner_len, tlen = name_len(target);
	if (prefix + tlen > P53_NAME_MAX)
		return 0;
	memcpy(out, name, prefix);
	memcpy(out + prefix, target, tlen);
	name_lower(out, prefix + tlen);
	return prefix + tlen;
}

/* A routing-policy group at node id: the records its policy picks for this
 * client, under the query's name, with one TTL (RFC 2181 5.2), signed per
 * query for DO=1; none picked is NODATA. */
static void add_policy(const struct p53_snapshot *s, struct plan *p, uint32_t id,
		       const uint8_t *name, size_t nlen, const struct snap_rrset *ph)
{
	const struct snap_rrset *out[POLICY_OUT_MAX];
	unsigned n = policy_select(s, ph, p->sel, out);
	if (n == 0) {
		ans_add_soa(s, s->nodes[id].zone, p);
		note_proof(p, PROOF_NOTYPE, id, name, nlen);
		if (p->dnssec && p->nproof)
			p->proof[p->nproof - 1].type = ph->type;
		return;
	}
	uint32_t ttl = out[0]->ttl;
	for (unsigned i = 1; i < n; i++)
		ttl = out[i]->ttl < ttl ? out[i]->ttl : ttl;
	for (unsigned i = 0; i < n && p->nan < AN_MAX; i++) {
		p->an[p->nan++] = (struct pent){name, out[i], ttl, NULL, id, 0, .online = true};
		add_additional(s, out[i], id, p, false);
	}
}

static bool seen_in_chain(const struct plan *p, unsigned depth, const uint8_t *name, size_t len)
{
	for (unsigned i = 0; i < depth; i++)
		if (name_len(p->names[i]) == len && memcmp(p->names[i], name, len) == 0)
			return true;
	return false;
}

static void ans_fw_count(struct p53_ctx *ctx, const struct p53_fw_verdict *v)
{
	static const uint8_t stat[P53_FW__ACTIONS] = {
	    [P53_FW_ALLOW] = P53_STAT_FW_ALLOW,
	    [P53_FW_ALERT] = P53_STAT_FW_ALERT,
	    [P53_FW_BLOCK_NXDOMAIN] = P53_STAT_FW_BLOCK,
	    [P53_FW_BLOCK_NODATA] = P53_STAT_FW_BLOCK,
	    [P53_FW_BLOCK_OVERRIDE] = P53_STAT_FW_BLOCK,
	    [P53_FW_REFUSED] = P53_STAT_FW_REFUSED,
	    [P53_FW_DROP] = P53_STAT_FW_DROP,
	    [P53_FW_FAIL] = P53_STAT_FW_ERROR,
	};
	if (v->action != P53_FW_NONE)
		ctx->fw_rule = v->rule;
	if (v->error)
		ctx->stats[P53_STAT_FW_ERROR]++;
	else if (v->action != P53_FW_NONE && (unsigned)v->action < P53_FW__ACTIONS)
		ctx->stats[stat[v->action]]++;
}

/* True when the chain must end at name because the firewall blocks it. */
static bool fw_chain_blocks(struct plan *p, const uint8_t *name, size_t len)
{
	struct fw_chain *c = p->fwc;
	if (c == NULL)
		return false;
	enum p53_fw_action a = p53_fw_check(c->fw, c->ctx->worker, name, len, c->qtype, &c->v);
	ans_fw_count(c->ctx, &c->v);
	if (a == P53_FW_NONE || a == P53_FW_ALLOW || a == P53_FW_ALERT) {
		if (a != P53_FW_NONE && c->v.trust)
			p->fwc = NULL; /* TRUST_REDIRECTION_DOMAIN: the rest is trusted */
		return false;
	}
	c->blocked = true;
	return true;
}

/* qnode is the query name's own node when the caller has found it already
 * (SNAP_NONE otherwise): on a large zone each lookup is a few cache misses. */
static void ans_decide(const struct p53_snapshot *s, const uint8_t *qname, size_t qlen,
		       const struct suffixes *qsf, uint16_t qtype, uint32_t qnode, struct plan *p)
{
	struct suffixes chain_sf;
	const uint8_t *name = qname;
	size_t nlen = qlen;
	p->rcode = RCODE_NOERROR;
	p->aa = true;
	p->referral = false;
	p->wild = SNAP_NONE;
	p->nan = p->nns = p->nar = p->nproof = 0;

	for (unsigned depth = 0;; depth++) {
		bool exact;
		const struct suffixes *sf = qsf;
		if (depth > 0) {
			suffixes_of(name, nlen, &chain_sf);
			sf = &chain_sf;
		}
		uint32_t id;
		if (depth == 0 && qnode != SNAP_NONE) {
			id = qnode;
			exact = true;
		} else {
			id = lookup(s, name, nlen, sf, &exact);
		}
		if (id == SNAP_NONE) {
			/* Outside every zone we serve: refuse the query, or end a
			 * chain that leaves our zones (the resolver follows it). */
			if (depth == 0) {
				p->rcode = RCODE_REFUSED;
				p->aa = false;
			}
			return;
		}
		const struct snap_node *n = &s->nodes[id];
		if (exact && qtype == RR_DS && (n->flags & NODE_APEX) &&
		    ds_from_parent(s, n, name, nlen, sf, depth, p))
			return;
		/* At or below a zone cut we are not authoritative, except for
		 * the DS set, which lives on the parent side of the cut. */
		if (n->cut != SNAP_NONE && !(exact && n->cut == id && qtype == RR_DS)) {
			if (depth == 0)
				p->aa = false;
			add_referral(s, n->cut, p);
			return;
		}
		if (!exact) {
			if (n->flags & NODE_DNAME) {
				const struct snap_rrset *dn = find_rrset(s, n, RR_DNAME);
				uint16_t tl;
				const uint8_t *target = first_rdata(s, dn, &tl);
				if (p->nan + 2 > AN_MAX || depth + 1 > CHAIN_MAX)
					return;
				p->an[p->nan++] =
				    (struct pent){snap_node_name(s, n), dn, dn->ttl, NULL, id, 0};
				uint8_t *next = p->names[depth];
				size_t nl = dname_subst(name, nlen, n->name_len, target, next);
				if (nl == 0) {
					p->rcode = RCODE_YXDOMAIN;
					return;
				}
				p->an[p->nan++] =
				    (struct pent){name, NULL, dn->ttl, next, SNAP_NONE, 0};
				/* The synthesised CNAME answers a CNAME query. */
				if (qtype == RR_CNAME || seen_in_chain(p, depth, next, nl) ||
				    fw_chain_blocks(p, next, nl))
					return;
				name = next;
				nlen = nl;
				continue;
			}
			if (n->wild == SNAP_NONE) {
				p->rcode = RCODE_NXDOMAIN;
				ans_add_soa(s, n->zone, p);
				note_proof(p, PROOF_NOTNAME, id, name, nlen);
				note_proof(p, PROOF_NOWILD, id, NULL, 0);
				return;
			}
			if (depth == 0)
				p->wild = n->wild;
			/* The name is absent: a DO=1 answer from the wildcard
			 * proves it (RFC 4035 3.1.3.3). */
			note_proof(p, PROOF_NOTNAME, id, name, nlen);
			id = n->wild;
			n = &s->nodes[id];
		}
		const struct snap_rrset *set = NULL;
		if (qtype == RR_ANY) {
			/* RFC 8482: one RRset is a complete answer to ANY. */
			if (n->nrrsets)
				set = &s->rrsets[n->rrset];
		} else {
			set = find_rrset(s, n, qtype);
		}
		if (set && set->count == 0) {
			add_policy(s, p, id, name, nlen, set);
			return;
		}
		if (set) {
			if (p->nan < AN_MAX)
				p->an[p->nan++] = (struct pent){name, set, set->ttl, NULL, id, 0};
			add_additional(s, set, id, p, false);
			return;
		}
		if (n->flags & NODE_CNAME) {
			const struct snap_rrset *cn = find_rrset(s, n, RR_CNAME);
			uint32_t cnode = id;
			bool online = false;
			if (cn->count == 0) { /* a CNAME with a routing policy */
				const struct snap_rrset *out[POLICY_OUT_MAX];
				if (policy_select(s, cn, p->sel, out) == 0) {
					ans_add_soa(s, n->zone, p);
					note_proof(p, PROOF_NOTYPE, id, name, nlen);
					if (p->dnssec && p->nproof)
						p->proof[p->nproof - 1].type = RR_CNAME;
					return;
				}
				cn = out[0];
				online = true;
			}
			if (p->nan >= AN_MAX || depth + 1 > CHAIN_MAX)
				return;
			p->an[p->nan++] =
			    (struct pent){name, cn, cn->ttl, NULL, cnode, 0, .online = online};
			uint16_t tl;
			const uint8_t *t = first_rdata(s, cn, &tl);
			size_t nl = name_len(t);
			uint8_t *next = p->names[depth];
			memcpy(next, t, nl);
			name_lower(next, nl);
			/* A loop ends the chain where it closes; the resolver sees
			 * the loop and gives up, as with any other server. */
			if ((nl == qlen && memcmp(next, qname, qlen) == 0) ||
			    seen_in_chain(p, depth, next, nl) || fw_chain_blocks(p, next, nl))
				return;
			name = next;
			nlen = nl;
			continue;
		}
		ans_add_soa(s, n->zone, p); /* NODATA */
		note_proof(p, PROOF_NODATA, id, name, nlen);
		return;
	}
}

/* Where the client is, for routing: the ECS prefix when the query has one
 * (a /0 prefix says nothing), else the source address. */
static void ans_sel_init(struct p53_sel *sel, const struct query *q, const struct p53_client *c,
			 struct p53_ctx *ctx)
{
	sel->ctx = ctx;
	sel->family = 0;
	sel->src_plen = 0;
	sel->scope = 0;
	sel->dynamic = false;
	sel->located = false;
	sel->loc = NULL;
	sel->loc_plen = 0;
	memset(sel->addr, 0, sizeof(sel->addr));
	if (q->ecs) {
		if (q->ecs_src) {
			sel->family = q->ecs_family == 1 ? 4 : 6;
			sel->src_plen = q->ecs_src;
			memcpy(sel->addr, q->ecs_addr, 16);
		}
	} else if (c && (c->family == 4 || c->family == 6)) {
		sel->family = c->family;
		sel->src_plen = c->family == 4 ? 32 : 128;
		memcpy(sel->addr, c->addr, c->family == 4 ? 4 : 16);
	}
}
