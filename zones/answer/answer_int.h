/* The answer engine's units and what they share (private to zones/answer/).
 *
 * p53_answer() (answer.c) runs three steps, each its own unit, in the shape
 * of NSD's answer.c and Knot's nameserver: decide first, then encode.
 *   query.c   parse: the query into struct query, every byte read
 *             bounds-checked; nothing is written before parsing ends, which
 *             is what makes answering in place (resp == query) safe;
 *   decide.c  RFC 1034 4.3.2 over the snapshot into a struct plan (which
 *             RRsets go into which section, under which owner);
 *   encode.c  the plan into wire form with name compression, RRset by RRset,
 *             truncating at the last RRset that fits; error and CH replies;
 *   secure.c  DNSSEC (DO=1): RRSIGs beside each RRset of a plan, and the
 *             NSEC records that prove what decide() found absent;
 *   blob.c    pre-rendered answers: the compiler runs decide and encode for
 *             every answer that depends on nothing but (name, type) and
 *             stores the bytes with their cut points (answer_prerender); at
 *             run time such a query is a header patch and a copy, cut by the
 *             same rule; relocation reuses a node's blob for names below it;
 *   prefetch.c  burst prefetching (p53_prefetch_burst).
 * The units are compiled as one translation unit (engine.c), so what they
 * share is static and the per-query path is inlined as in a single file.
 */
#ifndef P53_ANSWER_INT_H
#define P53_ANSWER_INT_H

#include "zones/answer/answer.h"
#include "zones/answer/cookie.h"
#include "zones/answer/fw.h"
#include "zones/answer/osign.h"
#include "zones/answer/policy.h"
#include "zones/answer/snapshot_pvt.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CHAIN_MAX 8		      /* CNAME/DNAME links followed, as resolvers do */
#define AN_MAX	  (4 * CHAIN_MAX + 4) /* each RRset may bring its RRSIGs */
#define NS_MAX	  12		      /* SOA or NS, DS, NSECs, and their RRSIGs */
#define AR_MAX	  48
#define PROOF_MAX (CHAIN_MAX + 2)
#define COMP_MAX  64 /* compression targets remembered while encoding */
#define CUT_MAX	  128
#define OBUF_MAX  3072 /* records made per query (online RRSIG, NSEC) */
#define RR_NXNAME 128  /* RFC 9824 meta-type, only in compact NSEC bitmaps */

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
#define EDNS_CO 0x4000 /* Compact Answers OK, RFC 9824 5.1 */

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

struct query {
	uint8_t hdr2, hdr3;	     /* flag bytes as received */
	uint8_t qname[P53_NAME_MAX]; /* canonical (lower-case) */
	size_t qname_len;
	uint8_t nlabels;	      /* labels of qname, the root not counted */
	uint8_t loff[P53_LABELS_MAX]; /* where each starts, as name_suffix_hashes */
	size_t qend;		      /* offset just past the question; 12 when there is none */
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
	/* DNS COOKIE option (RFC 7873), pointing into the query; 0 = none */
	const uint8_t *cookie;
	uint8_t cookie_len;
	/* edns-tcp-keepalive (RFC 7828) sent with a TIMEOUT: only servers
	 * send one, so over TCP the query is FORMERR (3.2.1, 3.2.2) */
	bool keepalive_timeout;
	/* The response's OPT ends with an Extended DNS Error (RFC 8914):
	 * set by fw_respond, read when the response's layout is told. */
	bool ede;
};
#define EDNS_OPT_ECS	   8
#define EDNS_OPT_KEEPALIVE 11
#define EDNS_OPT_EDE	   15
#define EDE_OPT_LEN	   6 /* code, length, INFO-CODE; no EXTRA-TEXT */
#define EDE_BLOCKED	   15

static inline size_t ans_ecs_opt_len(const struct query *q)
{
	/* Bytes the ECS option takes in our OPT record. */
	return q->ecs ? 4 + 4 + ((size_t)q->ecs_src + 7) / 8 : 0;
}

static inline size_t ans_opt_len(const struct query *q)
{
	/* Bytes of the whole OPT record ending the response; 0 = none. */
	return q->edns ? 11 + ans_ecs_opt_len(q) + (q->ede ? EDE_OPT_LEN : 0) : 0;
}

enum parse_result { PARSE_OK, PARSE_DROP, PARSE_FORMERR, PARSE_NOTIMP };

/* query.c: reads every byte of the query it needs, bounds-checked, before
 * anything is written. */
static enum parse_result ans_parse_query(const uint8_t *m, size_t len, struct query *q);

/* ---- the plan: what decide() chose, for encode() to write ------------- */

struct pent {
	const uint8_t *owner;	      /* canonical wire name */
	const struct snap_rrset *set; /* NULL: a synthesised CNAME, or records made per query */
	uint32_t ttl;
	const uint8_t *synth; /* synthesised CNAME target (DNAME) */
	uint32_t node;	      /* the node holding set (its RRSIGs), or SNAP_NONE */
	uint16_t covered;     /* set is an RRSIG set: only the records covering this */
	/* A routing-policy pick (node is the policy's node): no RRSIG in the
	 * snapshot covers it, so a DO=1 answer signs it per query. */
	bool online;
	/* Records made per query (set and synth NULL): rdn records of type
	 * rtype laid out as (u16 length, rdata) at rd, in the plan's obuf. */
	uint16_t rtype, rdn;
	const uint8_t *rd;
};

/* What a DO=1 answer must prove absent (secure.c), noted by decide(). */
enum proof_kind {
	PROOF_NODATA,	  /* node exists without the type: the NSEC at (or before) node */
	PROOF_NOTNAME,	  /* name does not exist: the NSEC covering it */
	PROOF_NOWILD,	  /* and no wildcard at its closest encloser node */
	PROOF_DELEG_NODS, /* an unsigned delegation at node: its NSEC */
	PROOF_NOTYPE,	  /* a policy at node picked nothing for this client: type absent */
};

struct proof {
	uint8_t kind;
	uint8_t name_len;
	uint32_t node;	     /* the node, or the closest encloser */
	const uint8_t *name; /* PROOF_NOTNAME, NODATA, NOTYPE: the name */
	uint16_t type;	     /* PROOF_NOTYPE: the policy's type */
};

struct plan {
	uint8_t rcode;
	bool aa;
	bool referral;
	bool dnssec; /* DO=1: add RRSIGs and proofs (set by the caller) */
	bool co;     /* the query set Compact Answers OK: keep NXDOMAIN */
	unsigned nan, nns, nar, nproof;
	uint32_t soa_zone;   /* zone whose SOA is in authority, if any */
	uint32_t ref_cut;    /* the zone cut of a referral */
	uint32_t wild;	     /* the wildcard that answered the query name, or SNAP_NONE */
	struct p53_sel *sel; /* client, RNG and health for routing policies */
	struct pent an[AN_MAX];
	struct pent ns[NS_MAX];
	struct pent ar[AR_MAX];
	struct proof proof[PROOF_MAX];
	uint8_t names[CHAIN_MAX + 1][P53_NAME_MAX]; /* chain names, canonical */
	struct fw_chain *fwc;			    /* DNS Firewall chain inspection, or NULL */
	/* Online signing (secure.c, osign.h): the keys and this thread's slot,
	 * or NULL; online is set when the DO=1 answer needs it (so it is
	 * never pre-rendered); records made per query go to obuf. */
	const struct p53_osign *osign;
	unsigned worker;
	bool online;
	size_t oused;
	uint8_t obuf[OBUF_MAX];
};

/* A name's suffixes with their hashes, longest first: computed once per
 * name, shared by the pre-rendered lookup and the closest-encloser walk. */
struct suffixes {
	unsigned n;
	const uint8_t *off; /* own, or the parsed query's label offsets */
	uint8_t own[P53_LABELS_MAX];
	uint32_t hash[P53_LABELS_MAX];
};

static inline void suffixes_of(const uint8_t *name, size_t len, struct suffixes *sf)
{
	sf->n = name_suffix_hashes(name, len, sf->own, sf->hash);
	sf->off = sf->own;
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

/* RFC 9471 3: a referral carries all its glue or sets TC. The rule covers
 * every address in a referral's additional section (for sibling glue and
 * addresses from other served zones RFC 9471 allows TC), so the blob and
 * plan paths decide it alike: a referral is NOERROR with AA clear and an
 * empty answer section (decide() clears AA only for referrals and REFUSED). */
static inline bool referral_glue_cut(uint8_t rcode, bool aa, unsigned an, uint16_t ar_sent,
				     uint32_t ar_all)
{
	return rcode == RCODE_NOERROR && !aa && an == 0 && ar_sent < ar_all;
}

/* decide.c */
static void ans_decide(const struct p53_snapshot *s, const uint8_t *qname, size_t qlen,
		       const struct suffixes *qsf, uint16_t qtype, uint32_t qnode, struct plan *p);
static void ans_add_soa(const struct p53_snapshot *s, uint32_t zone, struct plan *p);
static void ans_fw_count(struct p53_ctx *ctx, const struct p53_fw_verdict *v);
static void ans_sel_init(struct p53_sel *sel, const struct query *q, const struct p53_client *c,
			 struct p53_ctx *ctx);

/* ---- encoding --------------------------------------------------------- */

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

static inline void ans_wr_init(struct wr *w, uint8_t *buf, size_t limit, size_t pos)
{
	w->buf = buf;
	w->limit = limit;
	w->pos = pos;
	w->cnt[0] = w->cnt[1] = w->cnt[2] = 0;
	w->full = false;
	w->ncomp = 0;
	w->ncut = 0;
}

static inline void set_counts(uint8_t *r, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
	wr16(r + 4, qd);
	wr16(r + 6, an);
	wr16(r + 8, ns);
	wr16(r + 10, ar);
}

/* Header and question; the question bytes are already in place when
 * answering in place. */
static inline void put_header(uint8_t *r, const uint8_t *qmsg, const struct query *q, uint8_t rcode,
			      bool aa)
{
	if (r != qmsg) {
		memcpy(r, qmsg, 2);
		memcpy(r + 12, qmsg + 12, q->qend - 12);
	}
	r[2] = (uint8_t)(HDR_QR | (q->hdr2 & (0x78 | HDR_RD)) | (aa ? HDR_AA : 0));
	r[3] = (uint8_t)((q->hdr3 & HDR_CD) | (rcode & 0xf));
}

/* secure.c */
static void ans_secure_plan(const struct p53_snapshot *s, struct plan *p);
static uint16_t pent_count(const struct p53_snapshot *s, const struct pent *e);

/* encode.c */
static void ans_comp_add_question(struct wr *w, size_t qname_len, size_t skip);
static size_t ans_question_skip(const struct p53_snapshot *s, const struct plan *p,
				const uint8_t *qname, size_t qname_len);
static void ans_encode_plan(struct wr *w, const struct p53_snapshot *s, const struct plan *p);
static size_t ans_put_opt(uint8_t *r, size_t pos, const struct query *q, const struct p53_ctx *ctx,
			  uint8_t rcode);
static size_t ans_add_ede(uint8_t *r, size_t len, struct query *q, uint16_t code);
static size_t ans_size_limit(const struct query *q, const struct p53_client *c,
			     const struct p53_ctx *ctx, size_t cap);
static void ans_count_outcome(struct p53_ctx *ctx, uint8_t rcode, bool aa, uint16_t an, bool tc);
static size_t ans_reply_empty(const uint8_t *qmsg, const struct query *q, struct p53_ctx *ctx,
			      uint8_t *r, uint8_t rcode);
static size_t ans_reply_chaos(const uint8_t *qmsg, const struct query *q, struct p53_ctx *ctx,
			      uint8_t *r, size_t limit);
static size_t ans_emit_plan(const struct p53_snapshot *s, const struct plan *p, const uint8_t *qmsg,
			    const struct query *q, struct p53_ctx *ctx, uint8_t *r, size_t limit);

/* blob.c: pre-rendered answers */
static uint32_t ans_find_blob(const struct p53_snapshot *s, const struct query *q,
			      const struct suffixes *sf, bool dnssec, const uint8_t **base,
			      uint32_t *node);
static size_t ans_emit_blob(const uint8_t *base, uint32_t off, const uint8_t *qmsg,
			    const struct query *q, struct p53_ctx *ctx, uint8_t *r, size_t limit);
/* The node whose "other types" blob holds this plan's answer for a longer
 * query name (the zone apex for an SOA-only answer, the cut for a
 * referral), or SNAP_NONE. */
static uint32_t ans_plan_base(const struct p53_snapshot *s, const struct plan *p);
static size_t ans_emit_relocated(const struct p53_snapshot *s, const struct plan *p,
				 const uint8_t *qmsg, const struct query *q, struct p53_ctx *ctx,
				 uint8_t *r, size_t limit);

#endif
