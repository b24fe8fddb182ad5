/* The answer engine's entry point: p53_answer() walks a query through the
 * steps (answer_int.h lists the units): parse, the class and type checks that
 * need no data, the DNS Firewall, the pre-rendered answer when there is one,
 * else decide and encode. Also the per-core context and the counter names.
 */
#include "zones/answer/answer_int.h"
#include "zones/answer/rrl.h"

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
			 const uint8_t *qmsg, struct query *q, struct p53_ctx *ctx, uint8_t *r,
			 size_t limit)
{
	if (v->action == P53_FW_DROP)
		return 0;
	if (v->action == P53_FW_REFUSED)
		return ans_reply_empty(qmsg, q, ctx, r, RCODE_REFUSED);
	if (v->action == P53_FW_FAIL)
		return ans_reply_empty(qmsg, q, ctx, r, RCODE_SERVFAIL);
	struct plan p;
	uint32_t zone = 0;
	p.rcode = v->action == P53_FW_BLOCK_NXDOMAIN ? RCODE_NXDOMAIN : RCODE_NOERROR;
	p.aa = fw_zone(s, q, &zone); /* as an answer from that zone would be */
	p.referral = false;
	p.dnssec = false; /* a block is not signed data */
	p.co = false;
	p.nan = p.nns = p.nar = p.nproof = 0;
	p.fwc = NULL;
	if (v->action == P53_FW_BLOCK_OVERRIDE)
		p.an[p.nan++] =
		    (struct pent){q->qname, NULL, v->override_ttl, v->override_name, SNAP_NONE, 0};
	else if (p.aa)
		ans_add_soa(s, zone, &p);
	/* RFC 8914 4.16: every BLOCK says why to a client that sent EDNS,
	 * as the resolver's blocks in a resolved chain do; the sections make
	 * room for the option rather than the option going missing. */
	if (!q->edns || limit < q->qend + EDE_OPT_LEN)
		return ans_emit_plan(s, &p, qmsg, q, ctx, r, limit);
	size_t n = ans_emit_plan(s, &p, qmsg, q, ctx, r, limit - EDE_OPT_LEN);
	return ans_add_ede(r, n, q, EDE_BLOCKED);
}

/* Could the pre-rendered answer of node id (find_blob's) hold a CNAME chain
 * the firewall must see? */
static bool fw_may_redirect(const struct p53_snapshot *s, uint32_t id)
{
	return id != SNAP_NONE && (s->nodes[id].flags & NODE_CNAME);
}

/* What the rate limiter keys an answer by (zones/answer/rrl.h), gathered on
 * the way; the class is read from the response once it is written. */
struct rrl_keys {
	bool early; /* answered before any lookup: an error, or CHAOS */
	uint32_t name, zone, cut, wild;
};

static size_t answer(const struct p53_snapshot *s, const uint8_t *qmsg, size_t qlen,
		     const struct p53_client *client, struct p53_ctx *ctx, uint8_t *r, size_t cap,
		     struct query *q, struct rrl_keys *k)
{
	ctx->fw_rule = UINT32_MAX;
	enum parse_result pr = ans_parse_query(qmsg, qlen, q);
	if (pr == PARSE_DROP || cap < 512) {
		ctx->stats[P53_STAT_DROP_SHORT]++;
		return 0;
	}
	if (q->edns)
		ctx->stats[P53_STAT_EDNS]++;
	size_t limit =
	    ans_size_limit(q, client, ctx, cap) - (q->edns ? 11 + ans_ecs_opt_len(q) : 0);
	/* The cookie is copied before the query is overwritten by its answer
	 * (in place), and the answer leaves room for ours (abuse.h). */
	ctx->last.cookie_len = 0;
	if (ctx->cookies && q->edns && q->cookie_len && pr == PARSE_OK) {
		memcpy(ctx->last.cookie, q->cookie, q->cookie_len);
		ctx->last.cookie_len = q->cookie_len;
		limit -= P53_COOKIE_REPLY_OPT_LEN;
	}
	k->early = true;
	k->name = k->zone = k->cut = k->wild = SNAP_NONE;
	if (pr == PARSE_NOTIMP)
		return ans_reply_empty(qmsg, q, ctx, r, RCODE_NOTIMP);
	if (pr == PARSE_FORMERR)
		return ans_reply_empty(qmsg, q, ctx, r, RCODE_FORMERR);
	if (q->edns && q->edns_version != 0)
		return ans_reply_empty(qmsg, q, ctx, r, RCODE_BADVERS);
	/* Over UDP the option is ignored (RFC 7828 3.2.2). */
	if (q->keepalive_timeout && client && client->transport == P53_TCP)
		return ans_reply_empty(qmsg, q, ctx, r, RCODE_FORMERR);
	if (q->qclass == CLASS_CH)
		return ans_reply_chaos(qmsg, q, ctx, r, limit);
	if (q->qclass != CLASS_IN && q->qclass != CLASS_ANY)
		return ans_reply_empty(qmsg, q, ctx, r, RCODE_REFUSED);
	/* RFC 9824 3.5: NXNAME is only ever in a compact denial's bitmap. */
	if (q->qtype == RR_OPT || q->qtype == 0 || q->qtype == RR_NXNAME)
		return ans_reply_empty(qmsg, q, ctx, r, RCODE_FORMERR);
	if (q->qtype == RR_AXFR || q->qtype == RR_IXFR)
		return ans_reply_empty(qmsg, q, ctx, r, RCODE_REFUSED); /* no transfers */

	/* The firewall sees every IN query (and class ANY, which is answered
	 * from IN data) before any answer is looked up. */
	struct suffixes sf;
	/* shared with the firewall; the parser found the label offsets */
	sf.n = q->nlabels;
	sf.off = q->loff;
	name_suffix_hashes_at(q->qname, q->qname_len, sf.off, sf.n, sf.hash);
	k->early = false;
	k->name = sf.n ? sf.hash[0] : 0;
	k->zone = k->name; /* a firewall block: by name */
	struct fw_chain fc, *fcp = NULL;
	if (ctx->fw) {
		fc.fw = ctx->fw;
		fc.ctx = ctx;
		fc.qtype = q->qtype;
		fc.blocked = false;
		enum p53_fw_action a =
		    p53_fw_check_sfx(ctx->fw, ctx->worker, q->qname, q->qname_len, q->qtype, sf.n,
				     sf.off, sf.hash, &fc.v);
		ans_fw_count(ctx, &fc.v);
		if (a != P53_FW_NONE && a != P53_FW_ALLOW && a != P53_FW_ALERT)
			return fw_respond(s, &fc.v, qmsg, q, ctx, r, limit);
		if (a == P53_FW_NONE || !fc.v.trust)
			fcp = &fc;
	}
	/* RFC 1034 4.3.5: a secondary zone past its expire time is not
	 * answered from. The closest existing name's zone is the answer's. */
	if (ctx->zone_dead) {
		for (unsigned i = 0; i < sf.n; i++) {
			uint32_t id = snap_find(s, q->qname + sf.off[i], q->qname_len - sf.off[i],
						sf.hash[i]);
			if (id == SNAP_NONE)
				continue;
			uint32_t z = s->nodes[id].zone;
			if (z < ctx->nzone_dead && ctx->zone_dead[z])
				return ans_reply_empty(qmsg, q, ctx, r, RCODE_SERVFAIL);
			break;
		}
	}
	/* DO=1 (RFC 3225) matters only when the snapshot holds DNSSEC data. */
	bool dnssec = q->edns && (q->edns_flags & EDNS_DO) && s->nodesec;
	uint32_t node;
	const uint8_t *bbase;
	uint32_t blob = ans_find_blob(s, q, &sf, dnssec, &bbase, &node);
	if (node != SNAP_NONE) {
		k->zone = s->nodes[node].zone;
		k->cut = s->nodes[node].cut;
	}
	/* Class ANY is answered from IN data, never authoritatively. */
	if (blob && q->qclass == CLASS_IN && !(fcp && fw_may_redirect(s, node)))
		return ans_emit_blob(bbase, blob - 1, qmsg, q, ctx, r, limit);
	struct plan p;
	struct p53_sel sel;
	ans_sel_init(&sel, q, client, ctx);
	p.sel = &sel;
	p.fwc = fcp;
	p.dnssec = dnssec;
	p.co = dnssec && (q->edns_flags & EDNS_CO);
	p.osign = ctx->osign;
	p.worker = ctx->worker;
	ans_decide(s, q->qname, q->qname_len, &sf, q->qtype, node, &p);
	if (p.dnssec)
		ans_secure_plan(s, &p);
	if (p.nns && !p.referral)
		k->zone = p.soa_zone;
	k->cut = p.referral ? p.ref_cut : SNAP_NONE;
	k->wild = p.wild;
	/* A chain walked only for the firewall (fcp is set), which blocked
	 * none of it: the pre-rendered answer is the same, and far cheaper
	 * than rendering the plan. */
	if (blob && q->qclass == CLASS_IN && fcp && !fcp->blocked)
		return ans_emit_blob(bbase, blob - 1, qmsg, q, ctx, r, limit);
	if (q->qclass == CLASS_ANY)
		p.aa = false;
	q->ecs_scope = sel.scope;
	if (fcp && fcp->blocked)
		return fw_respond(s, &fcp->v, qmsg, q, ctx, r, limit);
	size_t n = ans_emit_relocated(s, &p, qmsg, q, ctx, r, limit);
	return n ? n : ans_emit_plan(s, &p, qmsg, q, ctx, r, limit);
}

/* Tells the abuse controls what this answer was (struct p53_answer_info):
 * where its question and OPT record lie, and its rate-limiting class and
 * key, read from the header just written and the keys met on the way. */
static void note_answer(struct p53_answer_info *in, const struct query *q, const struct rrl_keys *k,
			const uint8_t *r)
{
	in->qend = (uint16_t)q->qend;
	in->opt_len = (uint16_t)ans_opt_len(q);
	uint8_t rcode = r[3] & 0xf;
	uint16_t an = rd16(r + 6);
	enum p53_rrl_class c = P53_RRL_ERROR;
	uint32_t key = 0;
	if (k->early || (rcode != RCODE_NOERROR && rcode != RCODE_NXDOMAIN)) {
		c = P53_RRL_ERROR;
	} else if (rcode == RCODE_NXDOMAIN) {
		c = P53_RRL_NXDOMAIN;
		key = k->zone;
	} else if (an && k->wild != SNAP_NONE) {
		c = P53_RRL_WILDCARD;
		key = k->wild;
	} else if (an) {
		c = P53_RRL_POSITIVE;
		key = k->name;
	} else if (!(r[2] & HDR_AA) && k->cut != SNAP_NONE) {
		c = P53_RRL_REFERRAL;
		key = k->cut;
	} else {
		c = P53_RRL_NODATA;
		key = k->zone;
	}
	in->rrl_class = (uint8_t)c;
	in->rrl_key = key;
}

size_t p53_answer(const struct p53_snapshot *s, const uint8_t *qmsg, size_t qlen,
		  const struct p53_client *client, struct p53_ctx *ctx, uint8_t *r, size_t cap)
{
	struct query q;
	struct rrl_keys k;
	size_t n = answer(s, qmsg, qlen, client, ctx, r, cap, &q, &k);
	if (n)
		note_answer(&ctx->last, &q, &k, r);
	return n;
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
