/* Pre-rendered answers (answer_int.h): the compiler runs decide and encode
 * for every answer that depends on nothing but (name, type) and stores the
 * bytes with their cut points; at run time such a query is a header patch and
 * a copy. Relocation reuses a node's blob for names below it.
 */
#include "zones/answer/answer_pvt.h"

#include "zones/answer/answer_int.h"

/* The last RRset boundary of a blob that fits in room bytes: the whole
 * answer, an inner cut, or nothing (the first and last cuts are implied,
 * snapfmt.h). *data is where the blob's bytes start. */
static struct snap_cut blob_fit(const struct snap_blob *b, size_t room, const uint8_t **data)
{
	const struct snap_cut *cuts = (const void *)(b + 1);
	*data = (const uint8_t *)(cuts + b->ncut);
	if (b->len <= room)
		return (struct snap_cut){b->len, b->an, b->ns, b->ar};
	for (const struct snap_cut *c = cuts + b->ncut; c > cuts;)
		if ((--c)->off <= room)
			return *c;
	return (struct snap_cut){0, 0, 0, 0};
}

/* Copies a pre-rendered blob after the question, cut at the last RRset
 * boundary that fits. */
static size_t ans_emit_blob(const uint8_t *base, uint32_t off, const uint8_t *qmsg,
			    const struct query *q, struct p53_ctx *ctx, uint8_t *r, size_t limit)
{
	const struct snap_blob *b = (const void *)(base + off);
	const uint8_t *data;
	struct snap_cut cut = blob_fit(b, limit - q->qend, &data);
	const struct snap_cut *c = &cut;
	bool aa = b->flags & BLOB_AA;
	bool tc =
	    c->an < b->an || c->ns < b->ns || referral_glue_cut(b->rcode, aa, b->an, c->ar, b->ar);
	put_header(r, qmsg, q, b->rcode, aa);
	if (tc)
		r[2] |= HDR_TC;
	set_counts(r, 1, c->an, c->ns, c->ar);
	memcpy(r + q->qend, data, c->off);
	ctx->stats[P53_STAT_PRERENDERED]++;
	ans_count_outcome(ctx, b->rcode, aa, b->an, tc);
	return ans_put_opt(r, q->qend + c->off, q, ctx, b->rcode);
}

/* Moves the compression pointer that ends the name at *pos by d bytes. */
static bool reloc_name(uint8_t *b, size_t len, size_t *pos, size_t d)
{
	for (size_t p = *pos; p < len;) {
		uint8_t l = b[p];
		if ((l & 0xc0) == 0xc0) {
			size_t t = (((size_t)(l & 0x3f) << 8) | (p + 1 < len ? b[p + 1] : 0)) + d;
			/* A target moved past 14 bits cannot be written: render. */
			if (p + 1 >= len || t > 0x3fff)
				return false;
			wr16(b + p, (uint16_t)(0xc000 | t));
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
static uint32_t ans_plan_base(const struct p53_snapshot *s, const struct plan *p)
{
	/* DO=1 answers are never relocated: their proofs name the query. */
	if (p->nan != 0 || p->dnssec)
		return SNAP_NONE;
	if (p->referral)
		return p->ref_cut;
	if (p->nns == 1 && p->nar == 0)
		return s->zones[p->soa_zone].apex;
	return SNAP_NONE;
}

static size_t ans_emit_relocated(const struct p53_snapshot *s, const struct plan *p,
				 const uint8_t *qmsg, const struct query *q, struct p53_ctx *ctx,
				 uint8_t *r, size_t limit)
{
	uint32_t base = ans_plan_base(s, p);
	if (base == SNAP_NONE)
		return 0;
	const struct snap_node *n = &s->nodes[base];
	if (!n->other_blob || n->name_len > q->qname_len)
		return 0;
	const struct snap_blob *b = (const void *)(s->blobs + n->other_blob - 1);
	/* The cut's blob is its referral by construction; the apex's must be
	 * the SOA alone. */
	if (b->an != 0 || (!p->referral && (b->ns != 1 || b->ar != 0)))
		return 0;
	const uint8_t *data;
	struct snap_cut cut = blob_fit(b, limit - q->qend, &data);
	const struct snap_cut *c = &cut;
	uint8_t *o = r + q->qend;
	memcpy(o, data, c->off);
	if (!reloc_rrs(o, c->off, (unsigned)c->an + c->ns + c->ar, q->qname_len - n->name_len))
		return 0;
	bool tc = c->ns < b->ns || referral_glue_cut(p->rcode, p->aa, 0, c->ar, b->ar);
	put_header(r, qmsg, q, p->rcode, p->aa);
	if (tc)
		r[2] |= HDR_TC;
	set_counts(r, 1, 0, c->ns, c->ar);
	ans_count_outcome(ctx, p->rcode, p->aa, 0, tc);
	return ans_put_opt(r, q->qend + c->off, q, ctx, p->rcode);
}

/* Also returns the query name's node in *node (SNAP_NONE if none), so the
 * firewall's redirection test needs no second lookup. */
/* A DO=1 query takes the DO=1 form (SECT_ANSDO, nodesec's other_do): in
 * DOBLOBS, the DO=0 blob when they are the same, or rendered. *base says
 * which section the returned offset (+1) is in. */
static uint32_t ans_find_blob(const struct p53_snapshot *s, const struct query *q,
			      const struct suffixes *sf, bool dnssec, const uint8_t **base,
			      uint32_t *node)
{
	*node = SNAP_NONE;
	*base = s->blobs;
	if (sf->n == 0)
		return 0;
	uint32_t id = snap_find(s, q->qname, q->qname_len, sf->hash[0]);
	*node = id;
	if (id == SNAP_NONE)
		return 0;
	const struct snap_node *n = &s->nodes[id];
	const struct snap_ans *a = &s->ans[n->ans];
	uint32_t v = SNAP_DO_SAME, blob = n->other_blob;
	uint16_t i = 0;
	for (; i < n->nans; i++)
		if (a[i].qtype == q->qtype || (q->qtype == RR_ANY && (a[i].flags & ANS_ANY))) {
			if (a[i].flags & ANS_DYNAMIC)
				return 0;
			blob = a[i].blob + 1;
			break;
		}
	if (!dnssec)
		return blob;
	if (i < n->nans)
		v = s->ansdo ? s->ansdo[n->ans + i] : SNAP_DO_RENDER;
	else
		v = s->nodesec[id].other_do;
	if (v == SNAP_DO_SAME)
		return blob;
	*base = s->doblobs;
	return v;
}

static size_t prerender(const struct p53_snapshot *s, uint32_t node, uint16_t qtype, bool dnssec,
			uint8_t *out, size_t cap)
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
	ans_sel_init(&sel, &q, NULL, &pctx);
	p.sel = &sel;
	p.dnssec = dnssec;
	p.co = false;
	ans_decide(s, q.qname, q.qname_len, &sf, qtype, node, &p);
	if (sel.dynamic)
		return 0;
	p.osign = NULL;
	if (p.dnssec) {
		ans_secure_plan(s, &p);
		if (p.online)
			return 0; /* signed per query */
	}
	struct wr w;
	ans_wr_init(&w, msg, sizeof(msg), q.qend);
	ans_comp_add_question(&w, q.qname_len, ans_question_skip(s, &p, q.qname, q.qname_len));
	ans_encode_plan(&w, s, &p);
	size_t len = w.pos - q.qend;
	if (w.full || len > UINT16_MAX)
		return 0;
	/* Only the cuts between the first (nothing) and the last (all) are
	 * stored; their offsets become relative to the end of the question. */
	unsigned inner = w.ncut > 2 ? w.ncut - 2 : 0;
	struct snap_blob b = {(uint16_t)len, p.rcode,  p.aa ? BLOB_AA : 0, w.cnt[0],
			      w.cnt[1],	     w.cnt[2], (uint16_t)inner};
	size_t need = sizeof(b) + inner * sizeof(struct snap_cut) + len;
	if (need > cap)
		return 0;
	for (unsigned i = 0; i < inner; i++)
		w.cuts[i + 1].off = (uint16_t)(w.cuts[i + 1].off - q.qend);
	memcpy(out, &b, sizeof(b));
	memcpy(out + sizeof(b), w.cuts + 1, inner * sizeof(struct snap_cut));
	memcpy(out + sizeof(b) + inner * sizeof(struct snap_cut), msg + q.qend, len);
	return need;
}

size_t answer_prerender(const struct p53_snapshot *s, uint32_t node, uint16_t qtype, uint8_t *out,
			size_t cap)
{
	return prerender(s, node, qtype, false, out, cap);
}

size_t answer_prerender_do(const struct p53_snapshot *s, uint32_t node, uint16_t qtype,
			   uint8_t *out, size_t cap)
{
	return s->nodesec ? prerender(s, node, qtype, true, out, cap) : 0;
}
