/* The answer engine.
 *
 * Three steps, kept apart so each stays small (the shape of NSD's answer.c):
 *   1. parse: the query into struct query, with every byte read bounds-checked;
 *      nothing is written before parsing ends, which is what makes answering
 *      in place (resp == query) safe;
 *   2. decide: RFC 1034 4.3.2 over the snapshot into a plan (which RRsets go
 *      into which section, under which owner);
 *   3. encode: the plan into wire form with name compression, RRset by RRset,
 *      truncating at the last RRset that fits.
 * The compiler runs steps 2 and 3 for every name it can and stores the bytes
 * (answer_prerender); at run time a query for such a name is a header patch
 * and a copy. Both paths meet in emit_sections' cut logic, so truncation is
 * decided by one rule.
 */
#include "zones/answer/answer.h"

#include "zones/answer/answer_pvt.h"
#include "zones/answer/fw.h"
#include "zones/common/name.h"
#include "zones/answer/policy.h"
#include "zones/common/rrtype.h"

#include <string.h>

#define CHAIN_MAX 8 /* CNAME/DNAME links followed, as resolvers do */
#define AN_MAX	  (2 * CHAIN_MAX + 2)
#define AR_MAX	  32
#define COMP_MAX  64 /* compression targets remembered while encoding */
#define CUT_MAX	  128

enum {
	RCODE_NOERROR = 0,
	RCODE_FORMERR = 1,
	RCODE_SERVFAIL = 2,
	RCODE_NXDOMAIN = 3,
	RCODE_NOTIMP = 4,
	RCODE_REFUSED = 5,
	RCODE_YXDOMAIN = 6,
	RCODE_BADVERS = 16
};

/* Header bits (RFC 1035 4.1.1):
 *                                 1  1  1  1  1  1
 *   0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
 * +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 * |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
 * +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 */
#define HDR_QR 0x80 /* byte 2 */
#define HDR_AA 0x04
#define HDR_TC 0x02
#define HDR_RD 0x01
#define HDR_CD 0x10 /* byte 3 */

#define EDNS_DO 0x8000

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- 1. parse --------------------------------------------------------- */

struct query {
	uint8_t hdr2, hdr3;	     /* flag bytes as received */
	uint8_t qname[P53_NAME_MAX]; /* canonical (lower-case) */
	size_t qname_len;
	size_t qend; /* offset just past the question; 12 when there is none */
	uint16_t qtype, qclass;
	bool edns;
	uint8_t edns_version;
	uint16_t edns_size;
	uint16_t edns_flags;
	/* EDNS Client Subnet (RFC 7871), echoed with the scope that decided */
	bool ecs;
	uint8_t ecs_family; /* 1 = IPv4, 2 = IPv6 (address family numbers) */
	uint8_t ecs_src, ecs_scope;
	uint8_t ecs_addr[16];
};

#define EDNS_OPT_ECS 8

/* RFC 7871 6 and 7.1.1: family 1 or 2, source prefix within the family,
 * exactly ceil(source / 8) address bytes, no bits set past the prefix. */
static bool parse_ecs(const uint8_t *o, uint16_t len, struct query *q)
{
	if (q->ecs || len < 4)
		return false;
	uint16_t fam = rd16(o);
	uint8_t src = o[2];
	size_t alen = ((size_t)src + 7) / 8;
	if ((fam != 1 && fam != 2) || src > (fam == 1 ? 32 : 128) || len - 4u != alen)
		return false;
	memset(q->ecs_addr, 0, sizeof(q->ecs_addr));
	memcpy(q->ecs_addr, o + 4, alen);
	if (src % 8 && (q->ecs_addr[alen - 1] & (uint8_t)(0xff >> (src % 8))))
		return false;
	q->ecs = true;
	q->ecs_family = (uint8_t)fam;
	q->ecs_src = src;
	q->ecs_scope = 0;
	return true;
}

/* Bytes the ECS option takes in our OPT record. */
static size_t ecs_opt_len(const struct query *q)
{
	return q->ecs ? 4 + 4 + ((size_t)q->ecs_src + 7) / 8 : 0;
}

enum parse_result { PARSE_OK, PARSE_DROP, PARSE_FORMERR, PARSE_NOTIMP };

/* Reads the question name: the first name in a message has nothing before it
 * to point at, so any compression pointer is malformed. */
static bool parse_qname(const uint8_t *m, size_t len, struct query *q)
{
	size_t pos = 12, out = 0;
	for (;;) {
		if (pos >= len)
			return false;
		uint8_t l = m[pos];
		if (l > P53_LABEL_MAX || out + 1 + l > P53_NAME_MAX || pos + 1 + l > len)
			return false;
		q->qname[out++] = l;
		pos++;
		if (l == 0)
			break;
		for (uint8_t i = 0; i < l; i++) {
			uint8_t c = m[pos + i];
			q->qname[out + i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
		}
		out += l;
		pos += l;
	}
	q->qname_len = out;
	q->qend = pos;
	return true;
}

/* Skips one name in the additional section (may be compressed): only the
 * extent matters, so pointers are not followed. */
static bool skip_name(const uint8_t *m, size_t len, size_t *pos)
{
	size_t p = *pos;
	for (unsigned n = 0; n < P53_LABELS_MAX; n++) {
		if (p >= len)
			return false;
		uint8_t l = m[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 2 > len)
				return false;
			*pos = p + 2;
			return true;
		}
		if (l & 0xc0)
			return false;
		p += (size_t)l + 1;
		if (l == 0) {
			*pos = p;
			return true;
		}
	}
	return false;
}

static enum parse_result parse_additional(const uint8_t *m, size_t len, size_t pos,
					  uint16_t arcount, struct query *q)
{
	for (uint16_t i = 0; i < arcount; i++) {
		size_t owner = pos;
		if (!skip_name(m, len, &pos) || pos + 10 > len)
			return PARSE_FORMERR;
		uint16_t type = rd16(m + pos), rdlen = rd16(m + pos + 8);
		if (pos + 10 + rdlen > len)
			return PARSE_FORMERR;
		if (type == RR_OPT) {
			/* RFC 6891 6.1.1: one OPT, owned by the root. */
			if (q->edns || m[owner] != 0 || pos != owner + 1)
				return PARSE_FORMERR;
			q->edns = true;
			q->edns_size = rd16(m + pos + 2);
			q->edns_version = m[pos + 5];
			q->edns_flags = rd16(m + pos + 6);
			/* Options: unknown ones are ignored, but their framing
			 * must hold. */
			size_t o = pos + 10, end = o + rdlen;
			while (o < end) {
				if (o + 4 > end || o + 4 + rd16(m + o + 2) > end)
					return PARSE_FORMERR;
				if (rd16(m + o) == EDNS_OPT_ECS &&
				    !parse_ecs(m + o + 4, rd16(m + o + 2), q))
					return PARSE_FORMERR;
				o += 4 + (size_t)rd16(m + o + 2);
			}
		}
		pos += 10 + (size_t)rdlen;
	}
	return PARSE_OK;
}

static enum parse_result parse_query(const uint8_t *m, size_t len, struct query *q)
{
	if (len < 12 || (m[2] & HDR_QR))
		return PARSE_DROP;
	q->hdr2 = m[2];
	q->hdr3 = m[3];
	q->qend = 12;
	q->edns = false;
	q->ecs = false;
	uint16_t qd = rd16(m + 4), an = rd16(m + 6), ns = rd16(m + 8), ar = rd16(m + 10);
	bool have_q = qd == 1 && parse_qname(m, len, q) && q->qend + 4 <= len;
	if (have_q) {
		q->qtype = rd16(m + q->qend);
		q->qclass = rd16(m + q->qend + 2);
		q->qend += 4;
	} else {
		q->qend = 12;
	}
	if (((m[2] >> 3) & 0xf) != 0)
		return PARSE_NOTIMP;
	if (!have_q || an != 0 || ns != 0)
		return PARSE_FORMERR;
	return parse_additional(m, len, q->qend, ar, q);
}

/* ---- 2. decide -------------------------------------------------------- */

struct pent {
	const uint8_t *owner;	      /* canonical wire name */
	const struct snap_rrset *set; /* NULL for a synthesised CNAME */
	uint32_t ttl;
	const uint8_t *synth; /* synthesised CNAME target (DNAME) */
};

struct plan {
	uint8_t rcode;
	bool aa;
	bool referral;
	unsigned nan, nns, nar;
	uint32_t soa_zone; /* zone whose SOA is in authority, if any */
	uint32_t ref_cut;  /* the zone cut of a referral */
	struct p53_sel *sel; /* client, RNG and health for routing policies */
	struct pent an[AN_MAX];
	struct pent ns[1];
	struct pent ar[AR_MAX];
	uint8_t names[CHAIN_MAX + 1][P53_NAME_MAX]; /* chain names, canonical */
	struct fw_chain *fwc;			    /* DNS Firewall chain inspection, or NULL */
};

/* A name's suffixes with their hashes, longest first: computed once per
 * name, shared by the pre-rendered lookup and the closest-encloser walk. */
struct suffixes {
	unsigned n;
	uint8_t off[P53_LABELS_MAX];
	uint32_t hash[P53_LABELS_MAX];
};

static void suffixes_of(const uint8_t *name, size_t len, struct suffixes *sf)
{
	sf->n = name_suffix_hashes(name, len, sf->off, sf->hash);
}

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

static void add_soa(const struct p53_snapshot *s, uint32_t zone, struct plan *p)
{
	const struct snap_zone *z = &s->zones[zone];
	p->ns[0] = (struct pent){s->names + z->name, &s->rrsets[z->soa], z->neg_ttl, NULL};
	p->nns = 1;
	p->soa_zone = zone;
}

static void add_ar_set(struct plan *p, const uint8_t *owner, const struct snap_rrset *set)
{
	/* A routing-policy group (count 0) is left out of the additional
	 * section: it is optional data, and keeps such answers pre-rendered. */
	if (set == NULL || set->count == 0 || p->nar >= AR_MAX)
		return;
	for (unsigned i = 0; i < p->nar; i++)
		if (p->ar[i].set == set)
			return;
	p->ar[p->nar++] = (struct pent){owner, set, set->ttl, NULL};
}

/* Offset of the name that additional-section processing follows, or -1. */
static int target_offset(uint16_t type)
{
	switch (type) {
	case RR_NS:
		return 0;
	case RR_MX:
		return 2;
	case RR_SRV:
		return 6;
	}
	return -1;
}

/* RFC 1034 4.3.2 step 6, and glue for referrals: A and AAAA of the names an
 * NS, MX or SRV set points at, where we hold them. Glue below a cut is only
 * used for referrals: elsewhere it is not authoritative data. */
static void add_additional(const struct p53_snapshot *s, const struct snap_rrset *set,
			   struct plan *p, bool glue)
{
	int toff = target_offset(set->type);
	if (toff < 0)
		return;
	const uint8_t *rd = s->rdata + set->rdata, *end = rd + set->len;
	while (rd < end) {
		uint16_t l = rd16(rd);
		const uint8_t *t = rd + 2 + toff;
		rd += 2 + l;
		if (t >= rd || *t == 0)
			continue;
		uint8_t name[P53_NAME_MAX];
		size_t nlen = name_len(t);
		memcpy(name, t, nlen);
		name_lower(name, nlen);
		uint32_t id = snap_find(s, name, nlen, name_hash(name, nlen));
		if (id == SNAP_NONE)
			continue;
		const struct snap_node *n = &s->nodes[id];
		if ((n->flags & NODE_OCCLUDED) && !glue)
			continue;
		add_ar_set(p, snap_node_name(s, n), find_rrset(s, n, RR_A));
		add_ar_set(p, snap_node_name(s, n), find_rrset(s, n, RR_AAAA));
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
	p->ns[0] = (struct pent){snap_node_name(s, c), ns, ns->ttl, NULL};
	p->nns = 1;
	add_additional(s, ns, p, true);
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

/* A routing-policy group: the records its policy picks for this client, under
 * the query's name, with one TTL (RFC 2181 5.2); none picked is NODATA. */
static void add_policy(const struct p53_snapshot *s, struct plan *p, uint32_t zone,
		       const uint8_t *name, const struct snap_rrset *ph)
{
	const struct snap_rrset *out[POLICY_OUT_MAX];
	unsigned n = policy_select(s, ph, p->sel, out);
	if (n == 0) {
		add_soa(s, zone, p);
		return;
	}
	uint32_t ttl = out[0]->ttl;
	for (unsigned i = 1; i < n; i++)
		ttl = out[i]->ttl < ttl ? out[i]->ttl : ttl;
	for (unsigned i = 0; i < n && p->nan < AN_MAX; i++) {
		p->an[p->nan++] = (struct pent){name, out[i], ttl, NULL};
		add_additional(s, out[i], p, false);
	}
}

static bool seen_in_chain(const struct plan *p, unsigned depth, const uint8_t *name, size_t len)
{
	for (unsigned i = 0; i < depth; i++)
		if (name_len(p->names[i]) == len && memcmp(p->names[i], name, len) == 0)
			return true;
	return false;
}

/* DNS Firewall, INSPECT_REDIRECTION_DOMAIN: decide() shows the firewall
 * every name a CNAME or DNAME leads to, and a block on any of them blocks
 * the query (the resolver would otherwise fetch the blocked name's data
 * through the chain). */
struct fw_chain {
	const struct p53_fw *fw;
	struct p53_ctx *ctx;
	uint16_t qtype;
	bool blocked;
	struct p53_fw_verdict v;
};

static void fw_count(struct p53_ctx *ctx, const struct p53_fw_verdict *v)
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
	fw_count(c->ctx, &c->v);
	if (a == P53_FW_NONE || a == P53_FW_ALLOW || a == P53_FW_ALERT) {
		if (a != P53_FW_NONE && c->v.trust)
			p->fwc = NULL; /* TRUST_REDIRECTION_DOMAIN: the rest is trusted */
		return false;
	}
	c->blocked = true;
	return true;
}

static void decide(const struct p53_snapshot *s, const uint8_t *qname, size_t qlen,
		   const struct suffixes *qsf, uint16_t qtype, struct plan *p)
{
	struct suffixes chain_sf;
	const uint8_t *name = qname;
	size_t nlen = qlen;
	p->rcode = RCODE_NOERROR;
	p->aa = true;
	p->referral = false;
	p->nan = p->nns = p->nar = 0;

	for (unsigned depth = 0;; depth++) {
		bool exact;
		const struct suffixes *sf = qsf;
		if (depth > 0) {
			suffixes_of(name, nlen, &chain_sf);
			sf = &chain_sf;
		}
		uint32_t id = lookup(s, name, nlen, sf, &exact);
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
				    (struct pent){snap_node_name(s, n), dn, dn->ttl, NULL};
				uint8_t *next = p->names[depth];
				size_t nl = dname_subst(name, nlen, n->name_len, target, next);
				if (nl == 0) {
					p->rcode = RCODE_YXDOMAIN;
					return;
				}
				p->an[p->nan++] = (struct pent){name, NULL, dn->ttl, next};
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
				add_soa(s, n->zone, p);
				return;
			}
			n = &s->nodes[n->wild];
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
			add_policy(s, p, n->zone, name, set);
			return;
		}
		if (set) {
			if (p->nan < AN_MAX)
				p->an[p->nan++] = (struct pent){name, set, set->ttl, NULL};
			add_additional(s, set, p, false);
			return;
		}
		if (n->flags & NODE_CNAME) {
			const struct snap_rrset *cn = find_rrset(s, n, RR_CNAME);
			if (cn->count == 0) { /* a CNAME with a routing policy */
				const struct snap_rrset *out[POLICY_OUT_MAX];
				if (policy_select(s, cn, p->sel, out) == 0) {
					add_soa(s, n->zone, p);
					return;
				}
				cn = out[0];
			}
			if (p->nan >= AN_MAX || depth + 1 > CHAIN_MAX)
				return;
			p->an[p->nan++] = (struct pent){name, cn, cn->ttl, NULL};
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
		add_soa(s, n->zone, p); /* NODATA */
		return;
	}
}

/* ---- 3. encode -------------------------------------------------------- */

struct wr {
	uint8_t *buf;
	size_t limit; /* bytes the sections may reach (OPT space reserved) */
	size_t pos;
	uint16_t cnt[3];
	bool full;
	unsigned ncomp;
	/* Names written, for compression: where each suffix starts and how
	 * long it is uncompressed. Only equal lengths can match, which skips
	 * nearly every comparison. */
	uint16_t comp[COMP_MAX];
	uint8_t comp_len[COMP_MAX];
	unsigned ncut;
	struct snap_cut cuts[CUT_MAX];
};

/* Does the (possibly compressed, already written) name at off equal name? */
static bool name_at_equals(const uint8_t *buf, size_t off, const uint8_t *name)
{
	for (unsigned hops = 0; hops < P53_LABELS_MAX; hops++) {
		uint8_t l = buf[off];
		if ((l & 0xc0) == 0xc0) {
			off = ((size_t)(l & 0x3f) << 8) | buf[off + 1];
			continue;
		}
		if (l != *name)
			return false;
		if (l == 0)
			return true;
		for (uint8_t i = 1; i <= l; i++) {
			uint8_t c = buf[off + i];
			if (c >= 'A' && c <= 'Z')
				c = (uint8_t)(c + 32);
			if (c != name[i])
				return false;
		}
		off += (size_t)l + 1;
		name += l + 1;
	}
	return false;
}

static void comp_add(struct wr *w, size_t off, size_t len)
{
	if (w->ncomp < COMP_MAX && off < 0x3fff) {
		w->comp[w->ncomp] = (uint16_t)off;
		w->comp_len[w->ncomp++] = (uint8_t)len;
	}
}

/* Remembers every suffix of the question name at offset 12. */
static void comp_add_question(struct wr *w, size_t qname_len)
{
	for (size_t off = 12; w->buf[off] != 0; off += (size_t)w->buf[off] + 1)
		comp_add(w, off, qname_len - (off - 12));
}

/* Writes a canonical name, compressed against earlier names when allowed. */
static bool put_name(struct wr *w, const uint8_t *name, bool compress)
{
	const uint8_t *p = name;
	size_t rem = name_len(name);
	while (*p) {
		if (compress) {
			for (unsigned i = 0; i < w->ncomp; i++) {
				if (w->comp_len[i] == rem &&
				    name_at_equals(w->buf, w->comp[i], p)) {
					if (w->pos + 2 > w->limit)
						return false;
					wr16(w->buf + w->pos, (uint16_t)(0xc000 | w->comp[i]));
					w->pos += 2;
					return true;
				}
			}
		}
		size_t l = (size_t)*p + 1;
		if (w->pos + l > w->limit)
			return false;
		if (compress)
			comp_add(w, w->pos, rem);
		memcpy(w->buf + w->pos, p, l);
		w->pos += l;
		p += l;
		rem -= l;
	}
	if (w->pos + 1 > w->limit)
		return false;
	w->buf[w->pos++] = 0;
	return true;
}

static bool put_bytes(struct wr *w, const void *b, size_t n)
{
	if (w->pos + n > w->limit)
		return false;
	memcpy(w->buf + w->pos, b, n);
	w->pos += n;
	return true;
}

/* RFC 3597 4: only the RFC 1035 types may have their rdata names compressed. */
static bool put_rdata(struct wr *w, uint16_t type, const uint8_t *rd, size_t len)
{
	switch (type) {
	case RR_NS:
	case RR_CNAME:
	case RR_PTR:
		return put_name(w, rd, true);
	case RR_MX:
		return put_bytes(w, rd, 2) && put_name(w, rd + 2, true);
	case RR_SOA: {
		size_t m = name_len(rd), r = name_len(rd + m);
		return put_name(w, rd, true) && put_name(w, rd + m, true) &&
		       put_bytes(w, rd + m + r, len - m - r);
	}
	}
	return put_bytes(w, rd, len);
}

static bool put_rr(struct wr *w, const uint8_t *owner, uint16_t type, uint16_t rclass, uint32_t ttl,
		   const uint8_t *rd, size_t rdlen)
{
	if (!put_name(w, owner, true) || w->pos + 10 > w->limit)
		return false;
	uint8_t *f = w->buf + w->pos;
	wr16(f, type);
	wr16(f + 2, rclass);
	wr32(f + 4, ttl);
	w->pos += 10;
	size_t start = w->pos;
	if (!put_rdata(w, type, rd, rdlen))
		return false;
	wr16(f + 8, (uint16_t)(w->pos - start));
	return true;
}

static void cut_here(struct wr *w)
{
	if (w->ncut < CUT_MAX)
		w->cuts[w->ncut++] =
		    (struct snap_cut){(uint16_t)w->pos, w->cnt[0], w->cnt[1], w->cnt[2]};
	else
		w->full = true; /* cannot describe truncation points: give up */
}

/* Writes one RRset whole or not at all. */
static bool put_set(struct wr *w, const struct p53_snapshot *s, unsigned sect, const struct pent *e)
{
	if (w->full)
		return false;
	size_t pos0 = w->pos;
	unsigned ncomp0 = w->ncomp;
	uint16_t n = 0;
	bool ok = true;
	if (e->set == NULL) {
		ok = put_rr(w, e->owner, RR_CNAME, CLASS_IN, e->ttl, e->synth, name_len(e->synth));
		n = 1;
	} else {
		const uint8_t *rd = s->rdata + e->set->rdata, *end = rd + e->set->len;
		while (ok && rd < end) {
			uint16_t l = rd16(rd);
			ok = put_rr(w, e->owner, e->set->type, CLASS_IN, e->ttl, rd + 2, l);
			rd += 2 + l;
			n++;
		}
	}
	if (!ok || w->cnt[sect] + n > 0xffff) {
		w->pos = pos0;
		w->ncomp = ncomp0;
		w->full = true;
		return false;
	}
	w->cnt[sect] = (uint16_t)(w->cnt[sect] + n);
	cut_here(w);
	return true;
}

static void encode_plan(struct wr *w, const struct p53_snapshot *s, const struct plan *p)
{
	cut_here(w);
	for (unsigned i = 0; i < p->nan; i++)
		put_set(w, s, 0, &p->an[i]);
	for (unsigned i = 0; i < p->nns; i++)
		put_set(w, s, 1, &p->ns[i]);
	for (unsigned i = 0; i < p->nar; i++)
		put_set(w, s, 2, &p->ar[i]);
}

/* ---- assembling the response ------------------------------------------ */

static void set_counts(uint8_t *r, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
	wr16(r + 4, qd);
	wr16(r + 6, an);
	wr16(r + 8, ns);
	wr16(r + 10, ar);
}

/* Header and question; the question bytes are already in place when
 * answering in place. */
static void put_header(uint8_t *r, const uint8_t *qmsg, const struct query *q, uint8_t rcode,
		       bool aa)
{
	if (r != qmsg) {
		memcpy(r, qmsg, 2);
		memcpy(r + 12, qmsg + 12, q->qend - 12);
	}
	r[2] = (uint8_t)(HDR_QR | (q->hdr2 & (0x78 | HDR_RD)) | (aa ? HDR_AA : 0));
	r[3] = (uint8_t)((q->hdr3 & HDR_CD) | (rcode & 0xf));
}

static size_t put_opt(uint8_t *r, size_t pos, const struct query *q, const struct p53_ctx *ctx,
		      uint8_t rcode)
{
	if (!q->edns)
		return pos;
	uint8_t *o = r + pos;
	o[0] = 0;
	wr16(o + 1, RR_OPT);
	wr16(o + 3, ctx->cfg->edns_udp_max);
	o[5] = (uint8_t)(rcode >> 4); /* extended RCODE, upper 8 bits */
	o[6] = 0;		      /* version */
	wr16(o + 7, q->edns_flags & EDNS_DO);
	wr16(o + 9, 0);
	uint16_t ar = rd16(r + 10);
	wr16(r + 10, (uint16_t)(ar + 1));
	if (q->ecs) {
		/* RFC 7871 7.2.1: family, source prefix and address as asked,
		 * with the scope of the data that decided (0: not tailored). */
		size_t alen = ((size_t)q->ecs_src + 7) / 8;
		wr16(o + 9, (uint16_t)(8 + alen));
		wr16(o + 11, EDNS_OPT_ECS);
		wr16(o + 13, (uint16_t)(4 + alen));
		wr16(o + 15, q->ecs_family);
		o[17] = q->ecs_src;
		o[18] = q->ecs_scope;
		memcpy(o + 19, q->ecs_addr, alen);
		return pos + 19 + alen;
	}
	return pos + 11;
}

static size_t size_limit(const struct query *q, const struct p53_client *c,
			 const struct p53_ctx *ctx, size_t cap)
{
	size_t lim = 512;
	if (c && c->transport == P53_TCP)
		lim = P53_MSG_MAX;
	else if (q->edns)
		lim = q->edns_size < 512		      ? 512
		      : q->edns_size > ctx->cfg->edns_udp_max ? ctx->cfg->edns_udp_max
							      : q->edns_size;
	return lim < cap ? lim : cap;
}

static void count_rcode(struct p53_ctx *ctx, uint8_t rcode)
{
	static const uint8_t map[] = {
	    [RCODE_NOERROR] = P53_STAT_NOERROR,	  [RCODE_FORMERR] = P53_STAT_FORMERR,
	    [RCODE_SERVFAIL] = P53_STAT_SERVFAIL, [RCODE_NXDOMAIN] = P53_STAT_NXDOMAIN,
	    [RCODE_NOTIMP] = P53_STAT_NOTIMP,	  [RCODE_REFUSED] = P53_STAT_REFUSED,
	    [RCODE_YXDOMAIN] = P53_STAT_SERVFAIL,
	};
	if (rcode == RCODE_BADVERS)
		ctx->stats[P53_STAT_BADVERS]++;
	else if (rcode < sizeof(map))
		ctx->stats[map[rcode]]++;
}

/* A reply with no sections: errors, and refusals. */
static size_t reply_empty(const uint8_t *qmsg, const struct query *q, struct p53_ctx *ctx,
			  uint8_t *r, uint8_t rcode)
{
	put_header(r, qmsg, q, rcode, false);
	set_counts(r, q->qend > 12, 0, 0, 0);
	count_rcode(ctx, rcode);
	return put_opt(r, q->qend, q, ctx, rcode);
}

static size_t reply_chaos(const uint8_t *qmsg, const struct query *q, struct p53_ctx *ctx,
			  uint8_t *r, size_t limit)
{
	static const uint8_t id_server[] = "\2id\6server", hostname_bind[] = "\10hostname\4bind",
			     version_bind[] = "\7version\4bind",
			     version_server[] = "\7version\6server";
	const char *txt = NULL;
	if (q->qtype == 16 || q->qtype == RR_ANY) {
		if (!memcmp(q->qname, id_server, sizeof(id_server)) ||
		    !memcmp(q->qname, hostname_bind, sizeof(hostname_bind)))
			txt = ctx->cfg->identity;
		else if (!memcmp(q->qname, version_bind, sizeof(version_bind)) ||
			 !memcmp(q->qname, version_server, sizeof(version_server)))
			txt = ctx->cfg->version;
	}
	size_t tl = txt ? strlen(txt) : 0;
	if (txt == NULL || tl > 255 || q->qend + 12 + 1 + tl > limit)
		return reply_empty(qmsg, q, ctx, r, RCODE_REFUSED);
	put_header(r, qmsg, q, RCODE_NOERROR, true);
	set_counts(r, 1, 1, 0, 0);
	uint8_t *a = r + q->qend;
	wr16(a, 0xc00c);
	wr16(a + 2, 16);
	wr16(a + 4, CLASS_CH);
	wr32(a + 6, 0);
	wr16(a + 10, (uint16_t)(tl + 1));
	a[12] = (uint8_t)tl;
	memcpy(a + 13, txt, tl);
	ctx->stats[P53_STAT_NOERROR]++;
	return put_opt(r, q->qend + 13 + tl, q, ctx, RCODE_NOERROR);
}

static void count_outcome(struct p53_ctx *ctx, uint8_t rcode, bool aa, uint16_t an, bool tc)
{
	count_rcode(ctx, rcode);
	if (rcode == RCODE_NOERROR && an == 0)
		ctx->stats[aa ? P53_STAT_NODATA : P53_STAT_REFERRAL]++;
	if (tc)
		ctx->stats[P53_STAT_TRUNCATED]++;
}

/* Copies a pre-rendered blob after the question, cut at the last RRset
 * boundary that fits. */
static size_t emit_blob(const struct p53_snapshot *s, uint32_t off, const uint8_t *qmsg,
			const struct query *q, struct p53_ctx *ctx, uint8_t *r, size_t limit)
{
	const struct snap_blob *b = (const void *)(s->blobs + off);
	const struct snap_cut *cuts = (const void *)(b + 1);
	const uint8_t *data = (const uint8_t *)(cuts + b->ncut);
	size_t room = limit - q->qend;
	const struct snap_cut *c = &cuts[b->ncut - 1];
	while (c->off > room && c > cuts)
		c--;
	bool tc = c->an < b->an || c->ns < b->ns;
	bool aa = b->flags & BLOB_AA;
	put_header(r, qmsg, q, b->rcode, aa);
	if (tc)
		r[2] |= HDR_TC;
	set_counts(r, 1, c->an, c->ns, c->ar);
	memcpy(r + q->qend, data, c->off);
	ctx->stats[P53_STAT_PRERENDERED]++;
	count_outcome(ctx, b->rcode, aa, b->an, tc);
	return put_opt(r, q->qend + c->off, q, ctx, b->rcode);
}

static size_t emit_plan(const struct p53_snapshot *s, const struct plan *p, const uint8_t *qmsg,
			const struct query *q, struct p53_ctx *ctx, uint8_t *r, size_t limit)
{
	struct wr w;
	w.buf = r;
	w.limit = limit;
	w.pos = q->qend;
	w.cnt[0] = w.cnt[1] = w.cnt[2] = 0;
	w.full = false;
	w.ncomp = 0;
	w.ncut = 0;
	put_header(r, qmsg, q, p->rcode, p->aa);
	comp_add_question(&w, q->qname_len);
	encode_plan(&w, s, p);
	uint16_t an_all = 0;
	for (unsigned i = 0; i < p->nan; i++)
		an_all = (uint16_t)(an_all + (p->an[i].set ? p->an[i].set->count : 1));
	bool tc = w.cnt[0] < an_all || w.cnt[1] < p->nns;
	if (tc)
		r[2] |= HDR_TC;
	set_counts(r, 1, w.cnt[0], w.cnt[1], w.cnt[2]);
	count_outcome(ctx, p->rcode, p->aa, an_all, tc);
	return put_opt(r, w.pos, q, ctx, p->rcode);
}

/* Moves the compression pointer that ends the name at *pos by d bytes. */
static bool reloc_name(uint8_t *b, size_t len, size_t *pos, size_t d)
{
	for (size_t p = *pos; p < len;) {
		uint8_t l = b[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 1 >= len)
				return false;
			wr16(b + p,
			     (uint16_t)(0xc000 | ((((size_t)(l & 0x3f) << 8) | b[p + 1]) + d)));
			*pos = p + 2;
			return true;
		}
		if (l == 0) {
			*pos = p + 1;
			return true;
		}
		p += (size_t)l + 1;
	}
	return false;
}

/* Moves every compression pointer of the n records at the start of b by d
 * bytes: in owners, and in the rdata names RFC 3597 lets us compress. */
static bool reloc_rrs(uint8_t *b, size_t len, unsigned n, size_t d)
{
	size_t pos = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!reloc_name(b, len, &pos, d) || pos + 10 > len)
			return false;
		uint16_t type = rd16(b + pos);
		size_t end = pos + 10 + rd16(b + pos + 8);
		pos += 10;
		if (end > len)
			return false;
		switch (type) {
		case RR_MX:
			pos += 2;
			/* fall through */
		case RR_NS:
		case RR_CNAME:
		case RR_PTR:
			if (!reloc_name(b, end, &pos, d))
				return false;
			break;
		case RR_SOA:
			if (!reloc_name(b, end, &pos, d) || !reloc_name(b, end, &pos, d))
				return false;
			break;
		}
		pos = end;
	}
	return true;
}

/* Answers whose records all hang off a node at or above the query name are
 * that node's pre-rendered answer for an absent type: NXDOMAIN, and NODATA
 * for names without a node of their own, hold only the zone's SOA (the
 * apex's NODATA answer); a referral from below a cut is the cut's referral.
 * Rendered behind a question holding just that node's name, every pointer in
 * them lands d bytes early for a query name d bytes longer, so moving each
 * pointer by d makes them right. Returns 0 to fall back to encoding. */
static size_t emit_relocated(const struct p53_snapshot *s, const struct plan *p,
			     const uint8_t *qmsg, const struct query *q, struct p53_ctx *ctx,
			     uint8_t *r, size_t limit)
{
	uint32_t base;
	if (p->nan != 0)
		return 0;
	if (p->referral)
		base = p->ref_cut;
	else if (p->nns == 1 && p->nar == 0)
		base = s->zones[p->soa_zone].apex;
	else
		return 0;
	const struct snap_node *n = &s->nodes[base];
	if (!n->other_blob || n->name_len > q->qname_len)
		return 0;
	const struct snap_blob *b = (const void *)(s->blobs + n->other_blob - 1);
	const struct snap_cut *cuts = (const void *)(b + 1);
	const uint8_t *data = (const uint8_t *)(cuts + b->ncut);
	/* The cut's blob is its referral by construction; the apex's must be
	 * the SOA alone. */
	if (b->an != 0 || (!p->referral && (b->ns != 1 || b->ar != 0)))
		return 0;
	const struct snap_cut *c = &cuts[b->ncut - 1];
	while (c->off > limit - q->qend && c > cuts)
		c--;
	uint8_t *o = r + q->qend;
	memcpy(o, data, c->off);
	if (!reloc_rrs(o, c->off, (unsigned)c->an + c->ns + c->ar, q->qname_len - n->name_len))
		return 0;
	bool tc = c->ns < b->ns;
	put_header(r, qmsg, q, p->rcode, p->aa);
	if (tc)
		r[2] |= HDR_TC;
	set_counts(r, 1, 0, c->ns, c->ar);
	count_outcome(ctx, p->rcode, p->aa, 0, tc);
	return put_opt(r, q->qend + c->off, q, ctx, p->rcode);
}

/* The served zone a blocked name is answered from: its closest encloser's,
 * unless that lies at or below a zone cut (not authoritative there). */
static bool fw_zone(const struct p53_snapshot *s, const struct query *q, uint32_t *zone)
{
	const uint8_t *name = q->qname;
	size_t len = q->qname_len;
	for (size_t off = 0;; off += (size_t)name[off] + 1) {
		uint32_t id = snap_find(s, name + off, len - off, name_hash(name + off, len - off));
		if (id != SNAP_NONE) {
			const struct snap_node *n = &s->nodes[id];
			if (n->cut != SNAP_NONE && !(off == 0 && n->cut == id && q->qtype == RR_DS))
				return false;
			*zone = n->zone;
			return true;
		}
		if (name[off] == 0)
			return false;
	}
}

/* The response a firewall verdict asks for, in place of the answer. */
static size_t fw_respond(const struct p53_snapshot *s, const struct p53_fw_verdict *v,
			 const uint8_t *qmsg, const struct query *q, struct p53_ctx *ctx,
			 uint8_t *r, size_t limit)
{
	if (v->action == P53_FW_DROP)
		return 0;
	if (v->action == P53_FW_REFUSED)
		return reply_empty(qmsg, q, ctx, r, RCODE_REFUSED);
	if (v->action == P53_FW_FAIL)
		return reply_empty(qmsg, q, ctx, r, RCODE_SERVFAIL);
	struct plan p;
	uint32_t zone = 0;
	p.rcode = v->action == P53_FW_BLOCK_NXDOMAIN ? RCODE_NXDOMAIN : RCODE_NOERROR;
	p.aa = fw_zone(s, q, &zone); /* as an answer from that zone would be */
	p.referral = false;
	p.nan = p.nns = p.nar = 0;
	p.fwc = NULL;
	if (v->action == P53_FW_BLOCK_OVERRIDE)
		p.an[p.nan++] = (struct pent){q->qname, NULL, v->override_ttl, v->override_name};
	else if (p.aa)
		add_soa(s, zone, &p);
	return emit_plan(s, &p, qmsg, q, ctx, r, limit);
}

/* Could the pre-rendered answer of node id (find_blob's) hold a CNAME chain
 * the firewall must see? */
static bool fw_may_redirect(const struct p53_snapshot *s, uint32_t id)
{
	return id != SNAP_NONE && (s->nodes[id].flags & NODE_CNAME);
}

/* Where the client is, for routing: the ECS prefix when the query has one
 * (a /0 prefix says nothing), else the source address. */
static void sel_init(struct p53_sel *sel, const struct query *q, const struct p53_client *c,
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

/* Also returns the query name's node in *node (SNAP_NONE if none), so the
 * firewall's redirection test needs no second lookup. */
static uint32_t find_blob(const struct p53_snapshot *s, const struct query *q,
			  const struct suffixes *sf, uint32_t *node)
{
	*node = SNAP_NONE;
	if (sf->n == 0)
		return 0;
	uint32_t id = snap_find(s, q->qname, q->qname_len, sf->hash[0]);
	*node = id;
	if (id == SNAP_NONE)
		return 0;
	const struct snap_node *n = &s->nodes[id];
	const struct snap_ans *a = &s->ans[n->ans];
	for (uint16_t i = 0; i < n->nans; i++)
		if (a[i].qtype == q->qtype)
			return (a[i].flags & ANS_DYNAMIC) ? 0 : a[i].blob + 1;
	return n->other_blob;
}

size_t p53_answer(const struct p53_snapshot *s, const uint8_t *qmsg, size_t qlen,
		  const struct p53_client *client, struct p53_ctx *ctx, uint8_t *r, size_t cap)
{
	struct query q;
	ctx->fw_rule = UINT32_MAX;
	enum parse_result pr = parse_query(qmsg, qlen, &q);
	if (pr == PARSE_DROP || cap < 512) {
		ctx->stats[P53_STAT_DROP_SHORT]++;
		return 0;
	}
	if (q.edns)
		ctx->stats[P53_STAT_EDNS]++;
	size_t limit = size_limit(&q, client, ctx, cap) - (q.edns ? 11 + ecs_opt_len(&q) : 0);
	if (pr == PARSE_NOTIMP)
		return reply_empty(qmsg, &q, ctx, r, RCODE_NOTIMP);
	if (pr == PARSE_FORMERR) {
		q.edns = false; /* the OPT may be what was malformed */
		return reply_empty(qmsg, &q, ctx, r, RCODE_FORMERR);
	}
	if (q.edns && q.edns_version != 0)
		return reply_empty(qmsg, &q, ctx, r, RCODE_BADVERS);
	if (q.qclass == CLASS_CH)
		return reply_chaos(qmsg, &q, ctx, r, limit);
	if (q.qclass != CLASS_IN && q.qclass != CLASS_ANY)
		return reply_empty(qmsg, &q, ctx, r, RCODE_REFUSED);
	if (q.qtype == RR_OPT || q.qtype == 0)
		return reply_empty(qmsg, &q, ctx, r, RCODE_FORMERR);
	if (q.qtype == RR_AXFR || q.qtype == RR_IXFR)
		return reply_empty(qmsg, &q, ctx, r, RCODE_REFUSED); /* no transfers */

	/* The firewall sees every IN query (and class ANY, which is answered
	 * from IN data) before any answer is looked up. */
	struct suffixes sf;
	suffixes_of(q.qname, q.qname_len, &sf); /* shared with the firewall */
	struct fw_chain fc, *fcp = NULL;
	if (ctx->fw) {
		fc.fw = ctx->fw;
		fc.ctx = ctx;
		fc.qtype = q.qtype;
		fc.blocked = false;
		enum p53_fw_action a = p53_fw_check_sfx(ctx->fw, ctx->worker, q.qname, q.qname_len,
							q.qtype, sf.n, sf.off, sf.hash, &fc.v);
		fw_count(ctx, &fc.v);
		if (a != P53_FW_NONE && a != P53_FW_ALLOW && a != P53_FW_ALERT)
			return fw_respond(s, &fc.v, qmsg, &q, ctx, r, limit);
		if (a == P53_FW_NONE || !fc.v.trust)
			fcp = &fc;
	}
	uint32_t node;
	uint32_t blob = find_blob(s, &q, &sf, &node);
	/* Class ANY is answered from IN data, never authoritatively. */
	if (blob && q.qclass == CLASS_IN && !(fcp && fw_may_redirect(s, node)))
		return emit_blob(s, blob - 1, qmsg, &q, ctx, r, limit);
	struct plan p;
	struct p53_sel sel;
	sel_init(&sel, &q, client, ctx);
	p.sel = &sel;
	p.fwc = fcp;
	decide(s, q.qname, q.qname_len, &sf, q.qtype, &p);
	/* A chain walked only for the firewall (fcp is set), which blocked
	 * none of it: the pre-rendered answer is the same, and far cheaper
	 * than rendering the plan. */
	if (blob && q.qclass == CLASS_IN && fcp && !fcp->blocked)
		return emit_blob(s, blob - 1, qmsg, &q, ctx, r, limit);
	if (q.qclass == CLASS_ANY)
		p.aa = false;
	q.ecs_scope = sel.scope;
	if (fcp && fcp->blocked)
		return fw_respond(s, &fcp->v, qmsg, &q, ctx, r, limit);
	size_t n = emit_relocated(s, &p, qmsg, &q, ctx, r, limit);
	return n ? n : emit_plan(s, &p, qmsg, &q, ctx, r, limit);
}

/* Prefetch state: the stage done in bits 0-7, the stage's result (the
 * name's hash, then its node index) in bits 8-39, the qtype in bits 40-55. */
#define PF_DONE			    0xff
#define PF_KEY(st)		    ((uint32_t)((st) >> 8))
#define PF_QTYPE(st)		    ((uint16_t)((st) >> 40))
#define PF_STATE(stage, key, qtype) ((uint64_t)(qtype) << 40 | (uint64_t)(key) << 8 | (stage))

/* The question's canonical name hash and where its type lies, without the
 * checks p53_answer makes: a malformed query just gets no prefetch. */
static bool pf_qname(const uint8_t *q, size_t qlen, uint32_t *hash, size_t *qtype_off)
{
	uint8_t name[P53_NAME_MAX];
	size_t pos = 12, out = 0;
	if (qlen < 12 + 5)
		return false;
	for (;;) {
		uint8_t l = q[pos];
		if (l > P53_LABEL_MAX || pos + 1 + l >= qlen || out + 1 + l > P53_NAME_MAX)
			return false;
		name[out++] = l;
		pos++;
		if (l == 0)
			break;
		for (uint8_t k = 0; k < l; k++) {
			uint8_t c = q[pos + k];
			name[out + k] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
		}
		out += l;
		pos += l;
	}
	if (pos + 2 > qlen)
		return false;
	*hash = name_hash(name, out);
	*qtype_off = pos;
	return true;
}

static void prefetch_stage(const struct p53_snapshot *s, const uint8_t *q, size_t qlen,
			   uint64_t *state)
{
	uint32_t hash, node;
	size_t toff;
	switch (*state & 0xff) {
	case 0:
		if (!pf_qname(q, qlen, &hash, &toff)) {
			*state = PF_DONE;
			return;
		}
		__builtin_prefetch(&s->ht[hash & s->hmask]);
		*state = PF_STATE(1, hash, rd16(q + toff));
		return;
	case 1:
		hash = PF_KEY(*state);
		for (uint32_t i = hash & s->hmask, k = 0; s->ht[i].node && k < 4;
		     i = (i + 1) & s->hmask, k++)
			if (s->ht[i].hash == hash) {
				node = s->ht[i].node - 1;
				__builtin_prefetch(&s->nodes[node]);
				*state = PF_STATE(2, node, PF_QTYPE(*state));
				return;
			}
		*state = PF_DONE;
		return;
	case 2: {
		const struct snap_node *n = &s->nodes[PF_KEY(*state)];
		__builtin_prefetch(s->names + n->name);
		if (n->nans)
			__builtin_prefetch(&s->ans[n->ans]);
		else if (n->other_blob)
			__builtin_prefetch(s->blobs + n->other_blob - 1);
		*state = (*state & ~(uint64_t)0xff) | 3;
		return;
	}
	case 3: {
		const struct snap_node *n = &s->nodes[PF_KEY(*state)];
		uint16_t qtype = PF_QTYPE(*state);
		*state = PF_DONE;
		const struct snap_ans *a = &s->ans[n->ans];
		for (uint16_t i = 0; i < n->nans; i++)
			if (a[i].qtype == qtype) {
				__builtin_prefetch(s->blobs + a[i].blob);
				return;
			}
		if (n->other_blob)
			__builtin_prefetch(s->blobs + n->other_blob - 1);
		return;
	}
	}
}

void p53_prefetch_burst(const struct p53_snapshot *s, const uint8_t *const *q, const size_t *qlen,
			unsigned n)
{
	/* Below a few MB everything stays in cache: not worth the work. */
	if (s == NULL || s->size < (8u << 20))
		return;
	uint64_t st[P53_BURST_MAX] = {0};
	n = n < P53_BURST_MAX ? n : P53_BURST_MAX;
	for (unsigned stage = 0; stage < 4; stage++)
		for (unsigned i = 0; i < n; i++)
			if ((st[i] & 0xff) != PF_DONE)
				prefetch_stage(s, q[i], qlen[i], &st[i]);
}

size_t answer_prerender(const struct p53_snapshot *s, uint32_t node, uint16_t qtype, uint8_t *out,
			size_t cap)
{
	/* The blob must not depend on anything but the name and type: the
	 * decision does not look at the client, and the encoding starts from a
	 * question in canonical case, which compares equal to any other case. */
	uint8_t msg[P53_MSG_MAX];
	const struct snap_node *n = &s->nodes[node];
	struct query q;
	memcpy(q.qname, snap_node_name(s, n), n->name_len);
	q.qname_len = n->name_len;
	q.qtype = qtype;
	q.qclass = CLASS_IN;
	q.qend = 12 + n->name_len + 4;
	memset(msg, 0, 12);
	memcpy(msg + 12, q.qname, q.qname_len);

	struct plan p;
	struct suffixes sf;
	suffixes_of(q.qname, q.qname_len, &sf);
	p.fwc = NULL; /* blobs never depend on the firewall */
	/* Routing policies run here too, only to learn that the answer depends
	 * on the client: such answers are decided per query. */
	struct p53_ctx pctx;
	memset(&pctx, 0, sizeof(pctx));
	pctx.rng = 1;
	q.ecs = false;
	struct p53_sel sel;
	sel_init(&sel, &q, NULL, &pctx);
	p.sel = &sel;
	decide(s, q.qname, q.qname_len, &sf, qtype, &p);
	if (sel.dynamic)
		return 0;
	struct wr w;
	w.buf = msg;
	w.limit = sizeof(msg);
	w.pos = q.qend;
	w.cnt[0] = w.cnt[1] = w.cnt[2] = 0;
	w.full = false;
	w.ncomp = 0;
	w.ncut = 0;
	comp_add_question(&w, q.qname_len);
	encode_plan(&w, s, &p);
	size_t len = w.pos - q.qend;
	if (w.full || len > UINT16_MAX)
		return 0;
	/* Cut offsets become relative to the end of the question. */
	struct snap_blob b = {(uint16_t)len, p.rcode,  p.aa ? BLOB_AA : 0, w.cnt[0],
			      w.cnt[1],	     w.cnt[2], (uint16_t)w.ncut};
	size_t need = sizeof(b) + w.ncut * sizeof(struct snap_cut) + len;
	if (need > cap)
		return 0;
	for (unsigned i = 0; i < w.ncut; i++)
		w.cuts[i].off = (uint16_t)(w.cuts[i].off - q.qend);
	memcpy(out, &b, sizeof(b));
	memcpy(out + sizeof(b), w.cuts, w.ncut * sizeof(struct snap_cut));
	memcpy(out + sizeof(b) + w.ncut * sizeof(struct snap_cut), msg + q.qend, len);
	return need;
}

void p53_answer_cfg_default(struct p53_answer_cfg *cfg)
{
	cfg->edns_udp_max = 1232;
	cfg->identity = NULL;
	cfg->version = NULL;
}

void p53_ctx_init(struct p53_ctx *ctx, const struct p53_answer_cfg *cfg, uint64_t seed)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->cfg = cfg;
	ctx->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

const char *p53_stat_name(enum p53_stat st)
{
	static const char *const names[P53_STAT__COUNT] = {
	    [P53_STAT_NOERROR] = "noerror",
	    [P53_STAT_FORMERR] = "formerr",
	    [P53_STAT_SERVFAIL] = "servfail",
	    [P53_STAT_NXDOMAIN] = "nxdomain",
	    [P53_STAT_NOTIMP] = "notimp",
	    [P53_STAT_REFUSED] = "refused",
	    [P53_STAT_BADVERS] = "badvers",
	    [P53_STAT_NODATA] = "nodata",
	    [P53_STAT_REFERRAL] = "referral",
	    [P53_STAT_TRUNCATED] = "truncated",
	    [P53_STAT_PRERENDERED] = "prerendered",
	    [P53_STAT_DROP_SHORT] = "dropped",
	    [P53_STAT_EDNS] = "edns",
	    [P53_STAT_FW_ALLOW] = "fw_allow",
	    [P53_STAT_FW_ALERT] = "fw_alert",
	    [P53_STAT_FW_BLOCK] = "fw_block",
	    [P53_STAT_FW_REFUSED] = "fw_refused",
	    [P53_STAT_FW_DROP] = "fw_drop",
	    [P53_STAT_FW_ERROR] = "fw_error",
	};
	return (unsigned)st < P53_STAT__COUNT ? names[st] : "?";
}
