/* Step 3 of the answer engine: encode a plan into wire form.
 *
 * RRset by RRset with name compression (RFC 1035 4.1.4, only the types RFC
 * 3597 allows), recording after each RRset a cut point; a response that does
 * not fit the client's size stops at the last whole RRset, and TC is decided
 * here and in blob.c by the same rule. Also the replies that need no plan:
 * errors, refusals and the CH class.
 */
#include "zones/answer/answer_int.h"

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

/* Remembers the suffixes of the question name at offset 12 that start skip
 * bytes into it or later (a label boundary). */
static void ans_comp_add_question(struct wr *w, size_t qname_len, size_t skip)
{
	for (size_t off = 12 + skip; w->buf[off] != 0; off += (size_t)w->buf[off] + 1)
		comp_add(w, off, qname_len - (off - 12));
}

/* How much of the question name compression must ignore. An answer the
 * pre-rendered path may serve relocated (blob.c: NXDOMAIN, NODATA without a
 * node, referrals from below a cut) is compressed as that blob was: against
 * the question's suffixes from its base node up, never against labels below
 * it, which the blob never saw. Rendered, pre-rendered for the name itself
 * and relocated, such an answer is then the same bytes. */
static size_t ans_question_skip(const struct p53_snapshot *s, const struct plan *p,
				const uint8_t *qname, size_t qname_len)
{
	uint32_t base = ans_plan_base(s, p);
	if (base == SNAP_NONE)
		return 0;
	const struct snap_node *n = &s->nodes[base];
	if (n->name_len > qname_len ||
	    memcmp(qname + qname_len - n->name_len, snap_node_name(s, n), n->name_len) != 0)
		return 0;
	return qname_len - n->name_len;
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
	if (e->set == NULL && e->synth) {
		ok = put_rr(w, e->owner, RR_CNAME, CLASS_IN, e->ttl, e->synth, name_len(e->synth));
		n = 1;
	} else if (e->set == NULL) { /* records made per query (secure.c) */
		const uint8_t *rd = e->rd;
		for (uint16_t i = 0; ok && i < e->rdn; i++) {
			ok = put_rr(w, e->owner, e->rtype, CLASS_IN, e->ttl, rd + 2, rd16(rd));
			rd += 2 + rd16(rd);
			n++;
		}
	} else {
		const uint8_t *rd = s->rdata + e->set->rdata, *end = rd + e->set->len;
		while (ok && rd < end) {
			uint16_t l = rd16(rd);
			/* An RRSIG set is written only as far as it covers
			 * the RRset it follows (secure.c). */
			if (!e->covered || (l >= 2 && rd16(rd + 2) == e->covered)) {
				ok = put_rr(w, e->owner, e->set->type, CLASS_IN, e->ttl, rd + 2, l);
				n++;
			}
			rd += 2 + l;
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

static void ans_encode_plan(struct wr *w, const struct p53_snapshot *s, const struct plan *p)
{
	cut_here(w);
	for (unsigned i = 0; i < p->nan; i++)
		put_set(w, s, 0, &p->an[i]);
	for (unsigned i = 0; i < p->nns; i++)
		put_set(w, s, 1, &p->ns[i]);
	for (unsigned i = 0; i < p->nar; i++)
		put_set(w, s, 2, &p->ar[i]);
}

static size_t ans_put_opt(uint8_t *r, size_t pos, const struct query *q, const struct p53_ctx *ctx,
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
	/* RFC 9824 5: CO is echoed to a DO=1 query that set it, telling
	 * the resolver an NXDOMAIN with an NXNAME proof is meant. */
	uint16_t f = q->edns_flags & EDNS_DO;
	if (f)
		f |= q->edns_flags & EDNS_CO;
	wr16(o + 7, f);
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

/* Appends an Extended DNS Error option (RFC 8914) to the OPT record that
 * ends the response of len bytes, whose writer left EDE_OPT_LEN bytes of
 * room for it; the new length. Without an OPT (no EDNS in the query, RFC
 * 6891 7) there is nowhere to say it, and nothing changes. */
static size_t ans_add_ede(uint8_t *r, size_t len, struct query *q, uint16_t code)
{
	size_t opt = 11 + ans_ecs_opt_len(q);
	if (!q->edns || q->ede || len < (size_t)q->qend + opt)
		return len;
	uint8_t *o = r + len - opt;
	wr16(o + 9, (uint16_t)(rd16(o + 9) + EDE_OPT_LEN));
	o = r + len;
	wr16(o, EDNS_OPT_EDE);
	wr16(o + 2, 2);
	wr16(o + 4, code);
	q->ede = true;
	return len + EDE_OPT_LEN;
}

static size_t ans_size_limit(const struct query *q, const struct p53_client *c,
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
static size_t ans_reply_empty(const uint8_t *qmsg, const struct query *q, struct p53_ctx *ctx,
			      uint8_t *r, uint8_t rcode)
{
	put_header(r, qmsg, q, rcode, false);
	set_counts(r, q->qend > 12, 0, 0, 0);
	count_rcode(ctx, rcode);
	return ans_put_opt(r, q->qend, q, ctx, rcode);
}

static size_t ans_reply_chaos(const uint8_t *qmsg, const struct query *q, struct p53_ctx *ctx,
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
		return ans_reply_empty(qmsg, q, ctx, r, RCODE_REFUSED);
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
	return ans_put_opt(r, q->qend + 13 + tl, q, ctx, RCODE_NOERROR);
}

static void ans_count_outcome(struct p53_ctx *ctx, uint8_t rcode, bool aa, uint16_t an, bool tc)
{
	count_rcode(ctx, rcode);
	if (rcode == RCODE_NOERROR && an == 0)
		ctx->stats[aa ? P53_STAT_NODATA : P53_STAT_REFERRAL]++;
	if (tc)
		ctx->stats[P53_STAT_TRUNCATED]++;
}

static size_t ans_emit_plan(const struct p53_snapshot *s, const struct plan *p, const uint8_t *qmsg,
			    const struct query *q, struct p53_ctx *ctx, uint8_t *r, size_t limit)
{
	struct wr w;
	ans_wr_init(&w, r, limit, q->qend);
	put_header(r, qmsg, q, p->rcode, p->aa);
	ans_comp_add_question(&w, q->qname_len, ans_question_skip(s, p, q->qname, q->qname_len));
	ans_encode_plan(&w, s, p);
	uint16_t an_all = 0;
	uint32_t ar_all = 0, ns_all = 0;
	for (unsigned i = 0; i < p->nan; i++)
		an_all = (uint16_t)(an_all + pent_count(s, &p->an[i]));
	for (unsigned i = 0; i < p->nns; i++)
		ns_all += pent_count(s, &p->ns[i]);
	for (unsigned i = 0; i < p->nar; i++)
		ar_all += pent_count(s, &p->ar[i]);
	bool tc = w.cnt[0] < an_all || w.cnt[1] < ns_all ||
		  referral_glue_cut(p->rcode, p->aa, p->nan, w.cnt[2], ar_all);
	if (tc)
		r[2] |= HDR_TC;
	set_counts(r, 1, w.cnt[0], w.cnt[1], w.cnt[2]);
	ans_count_outcome(ctx, p->rcode, p->aa, an_all, tc);
	return ans_put_opt(r, w.pos, q, ctx, p->rcode);
}
