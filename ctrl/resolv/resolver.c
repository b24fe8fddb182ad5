/* The resolver thread (resolver.h).
 *
 * libunbound does the resolving: one validating context for recursion (and
 * SYSTEM rules), one non-validating context per FORWARD target, each with its
 * own background thread; results arrive on a pipe this thread polls with
 * the hand-off ring's eventfd. Route 53 semantics decide which context asks:
 * the most specific rule of the client's view wins, a FORWARD rule tries its
 * targets in order and skips one that failed for failover-s seconds.
 *
 * A small answer cache sits in front of libunbound (which keeps its own
 * message, RRset and infrastructure caches below): a hit is answered on this
 * thread at once, without a round trip through libunbound's thread, and the
 * query log can say it was a cache hit. Responses are rebuilt with ldns from
 * what libunbound returns: the client's ID, question and flags, DNSSEC
 * records only when DO was set, AD only for validated data, and Extended DNS
 * Errors (RFC 8914) on failures and blocks.
 */
#include "ctrl/resolv/resolver.h"

#include "ctrl/control.h"
#include "ctrl/qlog/qlog.h"
#include "zones/answer/fw.h"
#include "zones/answer/snapshot.h"
#include "zones/common/name.h"

#include <errno.h>
#include <ldns/ldns.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unbound.h>
#include <unistd.h>

/* RFC 8914 info-codes used here. */
enum ede {
	EDE_NONE = -1,
	EDE_OTHER = 0,
	EDE_STALE = 3,
	EDE_BOGUS = 6,
	EDE_SIG_EXPIRED = 7,
	EDE_SIG_NOT_YET = 8,
	EDE_DNSKEY_MISSING = 9,
	EDE_RRSIGS_MISSING = 10,
	EDE_NSEC_MISSING = 12,
	EDE_BLOCKED = 15,
	EDE_NO_REACHABLE = 22,
	EDE_NETWORK = 23,
};

enum rstat {
	RS_SUBMITTED,
	RS_RING_FULL,
	RS_ANSWERED,
	RS_CACHE_HIT,
	RS_UPSTREAM,
	RS_FORWARDED,
	RS_FAILOVER,
	RS_SERVFAIL,
	RS_BOGUS,
	RS_FW_CHAIN_BLOCK,
	RS_TRUNCATED,
	RS_BAD_QUERY,
	RS__COUNT
};
static const char *const rstat_names[RS__COUNT] = {
    "submitted", "ring_full", "answered", "cache_hit",	    "upstream",	 "forwarded",
    "failover",	 "servfail",  "bogus",	  "fw_chain_block", "truncated", "bad_query"};

struct target {
	struct ub_ctx *ub;
	const char *addr;
	uint64_t down_until_ms;
};

struct centry {
	uint8_t *pkt; /* libunbound's answer, NULL = empty slot */
	uint16_t plen;
	uint16_t qtype, qclass;
	int16_t rule; /* -1 = recursion */
	uint8_t qlen;
	uint8_t qname[P53_NAME_MAX];
	bool secure;
	uint64_t stored_s, expires_s;
	char upstream[48];
};

struct ring {
	alignas(64) _Atomic uint64_t head;
	alignas(64) _Atomic uint64_t tail;
	alignas(64) struct resolver_job *slots;
};

/* Every view's private snapshots, swapped as a whole. */
struct privset {
	unsigned n[RCONF_MAX_VIEWS];
	struct p53_snapshot *snap[RCONF_MAX_VIEWS][RCONF_MAX_ZONES];
};

struct resolver {
	struct resolver_cfg cfg;
	_Atomic(struct privset *) priv; /* NULL: no view has private zones */
	pthread_mutex_t reload_lock;
	struct ub_ctx *rec;
	struct target **fwd; /* by rule index; NULL for SYSTEM */
	int ep, kick_fd, stop_fd;
	pthread_t thread;
	bool started;
	/* the hand-off rings: one per producer, this thread the consumer */
	unsigned mask, nrings;
	struct ring *rings;
	alignas(64) _Atomic uint64_t stats[RS__COUNT];
	_Atomic uint64_t view_answers[RCONF_MAX_VIEWS];
	_Atomic uint64_t ninflight;
	/* True while the thread waits in epoll_wait: only then does a
	 * producer's resolver_nudge make the system call that wakes it. */
	alignas(64) atomic_bool sleeping;
	struct centry *cache;
	unsigned cmask;
	const struct p53_fw *fw; /* live while this thread is online */
	uint64_t gen;		 /* the live snapshot's generation, with fw */
	struct rshare *share;	 /* NULL: cfg.share off */
	struct pending *inflight;
	uint8_t out[P53_MSG_MAX];
};

/* One query on its way through libunbound. */
struct pending {
	struct pending *prev, *next; /* in flight: freed at stop if never answered */
	struct resolver *r;
	struct resolver_job job;
	int rule;		     /* -1 = recursion */
	unsigned target;	     /* FORWARD: the one asked */
	unsigned tried;		     /* bitmask of targets asked */
	int async_id;		     /* libunbound's, for ub_cancel */
	uint64_t deadline_ms;	     /* FORWARD: the next target is asked after this */
	uint8_t qname[P53_NAME_MAX]; /* canonical */
	uint8_t qname_orig[P53_NAME_MAX];
	size_t qlen;
	uint16_t qtype, qclass, id, udp;
	bool rd, cd, dnssec_ok, edns, ad;
};

static struct pending *pending_new(struct resolver *r)
{
	struct pending *pd = calloc(1, sizeof(*pd));
	if (pd == NULL)
		return NULL;
	pd->r = r;
	atomic_fetch_add_explicit(&r->ninflight, 1, memory_order_relaxed);
	pd->next = r->inflight;
	if (r->inflight)
		r->inflight->prev = pd;
	r->inflight = pd;
	return pd;
}

static void pending_free(struct pending *pd)
{
	if (pd->prev)
		pd->prev->next = pd->next;
	else
		pd->r->inflight = pd->next;
	if (pd->next)
		pd->next->prev = pd->prev;
	atomic_fetch_sub_explicit(&pd->r->ninflight, 1, memory_order_relaxed);
	free(pd);
}

static void bump(struct resolver *r, enum rstat s)
{
	atomic_fetch_add_explicit(&r->stats[s], 1, memory_order_relaxed);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool is_dnssec_type(ldns_rr_type t)
{
	return t == LDNS_RR_TYPE_RRSIG || t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3;
}

bool resolver_wants(const uint8_t *resp, size_t n)
{
	if (n < 12)
		return false;
	uint8_t rcode = resp[3] & 15;
	bool aa = resp[2] & 4;
	unsigned an = (unsigned)resp[6] << 8 | resp[7];
	/* The engine clears AA only for REFUSED (outside every zone) and for
	 * referrals (NOERROR, no answer, below a cut). */
	return !aa && ((rcode == 5) || (rcode == 0 && an == 0));
}

bool resolver_fw_decided(const struct p53_fw *fw, uint32_t fw_rule)
{
	struct p53_fw_rule_info ri;
	return fw_rule != UINT32_MAX && fw && p53_fw_rule(fw, fw_rule, &ri) &&
	       ri.action != P53_FW_ALLOW && ri.action != P53_FW_ALERT;
}

/* ---- the hand-off ring ------------------------------------------------- */

bool resolver_submit(struct resolver *r, unsigned producer, const struct resolver_job *job)
{
	struct ring *rg = &r->rings[producer < r->nrings ? producer : 0];
	uint64_t h = atomic_load_explicit(&rg->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&rg->tail, memory_order_acquire);
	if (h - t > r->mask) {
		bump(r, RS_RING_FULL);
		return false;
	}
	struct resolver_job *s = &rg->slots[h & r->mask];
	size_t hdr = offsetof(struct resolver_job, q);
	memcpy(s, job, hdr + job->qlen);
	atomic_store_explicit(&rg->head, h + 1, memory_order_release);
	bump(r, RS_SUBMITTED);
	return true;
}

struct resolver_job *resolver_slot(struct resolver *r, unsigned producer)
{
	struct ring *rg = &r->rings[producer < r->nrings ? producer : 0];
	uint64_t h = atomic_load_explicit(&rg->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&rg->tail, memory_order_acquire);
	return h - t > r->mask ? NULL : &rg->slots[h & r->mask];
}

void resolver_commit(struct resolver *r, unsigned producer)
{
	struct ring *rg = &r->rings[producer < r->nrings ? producer : 0];
	uint64_t h = atomic_load_explicit(&rg->head, memory_order_relaxed);
	atomic_store_explicit(&rg->head, h + 1, memory_order_release);
	bump(r, RS_SUBMITTED);
}

void resolver_ring_full(struct resolver *r)
{
	bump(r, RS_RING_FULL);
}

void resolver_nudge(struct resolver *r)
{
	/* Pairs with the fence in thread_main: either this sees the thread
	 * asleep and wakes it, or the thread sees the new head before it
	 * sleeps. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->sleeping, memory_order_relaxed))
		resolver_kick(r);
}

bool resolver_takes(const uint8_t *q, size_t qlen)
{
	if (qlen > RESOLVER_QMAX || qlen < 12 || !(q[2] & 1) || ((q[2] >> 3) & 15) != 0 ||
	    q[4] != 0 || q[5] != 1)
		return false;
	size_t o = 12;
	while (o < qlen && q[o] != 0 && q[o] < 64)
		o += (size_t)q[o] + 1;
	if (o + 5 > qlen || q[o] != 0)
		return false;
	uint16_t qtype = (uint16_t)(q[o + 1] << 8 | q[o + 2]);
	return (q[o + 3] << 8 | q[o + 4]) == 1 && qtype != 251 && qtype != 252;
}

void resolver_kick(struct resolver *r)
{
	uint64_t one = 1;
	if (write(r->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		bump(r, RS_RING_FULL);
}

/* ---- the answer cache --------------------------------------------------- */

static struct centry *cache_slot(struct resolver *r, const struct pending *pd)
{
	uint32_t h = name_hash(pd->qname, pd->qlen);
	h ^= (uint32_t)pd->qtype * 0x9e3779b1u ^ (uint32_t)(pd->rule + 1) * 0x85ebca6bu;
	return &r->cache[h & r->cmask];
}

static bool cache_match(const struct centry *e, const struct pending *pd)
{
	return e->pkt && e->qtype == pd->qtype && e->qclass == pd->qclass && e->rule == pd->rule &&
	       e->qlen == pd->qlen && !memcmp(e->qname, pd->qname, pd->qlen);
}

/* The smallest TTL of the answer and authority sections: how long the
 * whole response stays true. 0 = not to be cached. */
static uint32_t min_ttl(const ldns_pkt *p)
{
	uint32_t m = UINT32_MAX;
	ldns_rr_list *secs[2] = {ldns_pkt_answer(p), ldns_pkt_authority(p)};
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < ldns_rr_list_rr_count(secs[s]); i++) {
			uint32_t t = ldns_rr_ttl(ldns_rr_list_rr(secs[s], i));
			if (t < m)
				m = t;
		}
	return m == UINT32_MAX ? 0 : m;
}

static void cache_put(struct resolver *r, const struct pending *pd, const uint8_t *pkt, size_t plen,
		      const ldns_pkt *parsed, bool secure, const char *upstream)
{
	uint8_t rcode = ldns_pkt_get_rcode(parsed);
	if ((rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) || plen > 65535)
		return;
	uint32_t ttl = min_ttl(parsed);
	const struct rconf *rc = r->cfg.rc;
	if (ttl > rc->cache_max_ttl)
		ttl = rc->cache_max_ttl;
	if (ttl == 0)
		return;
	struct centry *e = cache_slot(r, pd);
	uint8_t *copy = malloc(plen);
	if (copy == NULL)
		return;
	free(e->pkt);
	memcpy(copy, pkt, plen);
	e->pkt = copy;
	e->plen = (uint16_t)plen;
	e->qtype = pd->qtype;
	e->qclass = pd->qclass;
	e->rule = (int16_t)pd->rule;
	e->qlen = (uint8_t)pd->qlen;
	memcpy(e->qname, pd->qname, pd->qlen);
	e->secure = secure;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	e->stored_s = (uint64_t)ts.tv_sec;
	e->expires_s = e->stored_s + ttl;
	snprintf(e->upstream, sizeof(e->upstream), "%s", upstream ? upstream : "");
}

/* ---- building the response ---------------------------------------------- */

struct outcome {
	uint8_t rcode;
	enum ede ede;
	const char *ede_text;
	bool secure, bogus, cache, chain;
	const char *upstream;
	struct p53_fw_verdict fw;
	bool fw_set;
};

static ldns_rr *question_rr(const struct pending *pd)
{
	ldns_rr *q = ldns_rr_new();
	if (q == NULL)
		return NULL;
	ldns_rr_set_owner(q, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, pd->qlen, pd->qname_orig));
	ldns_rr_set_type(q, (ldns_rr_type)pd->qtype);
	ldns_rr_set_class(q, (ldns_rr_class)pd->qclass);
	ldns_rr_set_question(q, true);
	return q;
}

static void put_edns(const struct resolver *r, const struct pending *pd, ldns_pkt *a,
		     const struct outcome *o)
{
	if (!pd->edns)
		return;
	ldns_pkt_set_edns_udp_size(a, r->cfg.edns_udp_max);
	ldns_pkt_set_edns_do(a, pd->dnssec_ok);
	if (o->ede == EDE_NONE)
		return;
	uint8_t opt[4 + 2 + 200];
	size_t tl = o->ede_text ? strlen(o->ede_text) : 0;
	if (tl > 200)
		tl = 200;
	opt[0] = 0;
	opt[1] = 15; /* EDNS option code: Extended DNS Error */
	opt[2] = (uint8_t)((2 + tl) >> 8);
	opt[3] = (uint8_t)(2 + tl);
	opt[4] = (uint8_t)((unsigned)o->ede >> 8);
	opt[5] = (uint8_t)o->ede;
	memcpy(opt + 6, o->ede_text ? o->ede_text : "", tl);
	ldns_pkt_set_edns_data(a, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 6 + tl, opt));
}

static void copy_section(ldns_pkt *a, ldns_pkt_section sec, const ldns_rr_list *from,
			 const struct pending *pd, uint32_t age)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(from); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(from, i);
		ldns_rr_type t = ldns_rr_get_type(rr);
		if (t == LDNS_RR_TYPE_OPT)
			continue;
		if (!pd->dnssec_ok && is_dnssec_type(t) && t != pd->qtype)
			continue;
		ldns_rr *c = ldns_rr_clone(rr);
		if (c == NULL)
			continue;
		uint32_t ttl = ldns_rr_ttl(c);
		ldns_rr_set_ttl(c, ttl > age ? ttl - age : 0);
		ldns_pkt_push_rr(a, sec, c);
	}
}

/* The response in r->out; its length, 0 when there is none (DROP). */
static size_t compose(struct resolver *r, const struct pending *pd, const ldns_pkt *up,
		      uint32_t age, const struct outcome *o)
{
	ldns_pkt *a = ldns_pkt_new();
	if (a == NULL)
		return 0;
	ldns_pkt_set_id(a, pd->id);
	ldns_pkt_set_qr(a, true);
	ldns_pkt_set_opcode(a, LDNS_PACKET_QUERY);
	ldns_pkt_set_rd(a, pd->rd);
	ldns_pkt_set_ra(a, true);
	ldns_pkt_set_cd(a, pd->cd);
	ldns_pkt_set_rcode(a, o->rcode);
	ldns_pkt_push_rr(a, LDNS_SECTION_QUESTION, question_rr(pd));
	if (o->fw_set && o->fw.action == P53_FW_BLOCK_OVERRIDE) {
		ldns_rr *c = ldns_rr_new();
		ldns_rr_set_owner(
		    c, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, pd->qlen, pd->qname_orig));
		ldns_rr_set_type(c, LDNS_RR_TYPE_CNAME);
		ldns_rr_set_class(c, LDNS_RR_CLASS_IN);
		ldns_rr_set_ttl(c, o->fw.override_ttl);
		ldns_rr_push_rdf(c, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME,
							  name_len(o->fw.override_name),
							  o->fw.override_name));
		ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, c);
	} else if (up && !o->fw_set) {
		copy_section(a, LDNS_SECTION_ANSWER, ldns_pkt_answer(up), pd, age);
		copy_section(a, LDNS_SECTION_AUTHORITY, ldns_pkt_authority(up), pd, age);
		copy_section(a, LDNS_SECTION_ADDITIONAL, ldns_pkt_additional(up), pd, age);
	}
	ldns_pkt_set_ad(a, o->secure && !o->fw_set && (pd->dnssec_ok || pd->ad));
	put_edns(r, pd, a, o);
	size_t limit = pd->job.client.transport == P53_UDP
			   ? (pd->edns ? (pd->udp < 512 ? 512 : pd->udp) : 512)
			   : P53_MSG_MAX;
	if (pd->edns && limit > r->cfg.edns_udp_max)
		limit = r->cfg.edns_udp_max;
	uint8_t *wire = NULL;
	size_t wlen = 0;
	size_t n = 0;
	if (ldns_pkt2wire(&wire, a, &wlen) == LDNS_STATUS_OK && wlen > limit) {
		/* RFC 1035 4.2.1: too large for UDP, TC set and the client asks
		 * again over TCP; the question alone goes back. */
		free(wire);
		wire = NULL;
		ldns_rr_list_deep_free(ldns_pkt_answer(a));
		ldns_rr_list_deep_free(ldns_pkt_authority(a));
		ldns_rr_list_deep_free(ldns_pkt_additional(a));
		ldns_pkt_set_answer(a, ldns_rr_list_new());
		ldns_pkt_set_authority(a, ldns_rr_list_new());
		ldns_pkt_set_additional(a, ldns_rr_list_new());
		ldns_pkt_set_ancount(a, 0);
		ldns_pkt_set_nscount(a, 0);
		ldns_pkt_set_arcount(a, 0);
		ldns_pkt_set_tc(a, true);
		bump(r, RS_TRUNCATED);
		if (ldns_pkt2wire(&wire, a, &wlen) != LDNS_STATUS_OK)
			wlen = 0;
	}
	if (wire && wlen <= sizeof(r->out) && wlen >= 12 + pd->qlen) {
		memcpy(r->out, wire, wlen);
		/* The question as the client wrote it (0x20 case kept). */
		memcpy(r->out + 12, pd->qname_orig, pd->qlen);
		n = wlen;
	}
	free(wire);
	ldns_pkt_free(a);
	return n;
}

static void deliver(struct resolver *r, struct pending *pd, size_t n, const struct outcome *o,
		    int rule)
{
	if (pd->job.reply_job) {
		if (n)
			pd->job.reply_job(pd->job.reply_ctx, &pd->job, r->out, n);
	} else if (pd->job.reply) {
		pd->job.reply(pd->job.reply_ctx, pd->job.token, r->out, n);
	}
	if (n && r->share && pd->job.client.transport == P53_UDP && pd->job.fw_rule == UINT32_MAX &&
	    !o->fw_set && o->ede == EDE_NONE && !o->bogus) {
		/* Answering threads serve the next one themselves
		 * (rshare_put refuses what must not be shared). */
		struct rshare_key k;
		if (rshare_key_of(pd->job.q, pd->job.qlen, &k)) {
			k.view = pd->job.view;
			rshare_put(r->share, &k, r->out, n, r->gen, (uint32_t)time(NULL),
				   r->cfg.rc->cache_max_ttl, rule, o->secure);
		}
	}
	if (n) {
		if (pd->job.reply == NULL && pd->job.reply_job == NULL)
			sendto(pd->job.fd, r->out, n, 0, (const struct sockaddr *)&pd->job.peer,
			       pd->job.peer_len);
		bump(r, RS_ANSWERED);
		if (pd->job.view < RCONF_MAX_VIEWS)
			atomic_fetch_add_explicit(&r->view_answers[pd->job.view], 1,
						  memory_order_relaxed);
		if (o->rcode == LDNS_RCODE_SERVFAIL)
			bump(r, RS_SERVFAIL);
	}
	struct qlog_ring *ring = r->cfg.qlog;
	if (ring == NULL || !qlog_sampled(ring))
		return;
	struct qlog_rec rec;
	qlog_rec_from(pd->job.q, pd->job.qlen, r->out, n, &pd->job.client, &rec);
	rec.time_ns = pd->job.time_ns;
	rec.worker = (uint16_t)r->cfg.fw_worker;
	rec.fw_rule = o->fw_set ? o->fw.rule : pd->job.fw_rule;
	rec.fw_action = o->fw_set ? (uint8_t)o->fw.action : 0;
	if (!o->fw_set && pd->job.fw_rule != UINT32_MAX && r->fw) {
		struct p53_fw_rule_info ri;
		if (p53_fw_rule(r->fw, pd->job.fw_rule, &ri))
			rec.fw_action = (uint8_t)ri.action;
	}
	rec.res = QLOG_RES_ON | (o->cache ? QLOG_RES_CACHE : 0) |
		  (o->secure ? QLOG_RES_SECURE : 0) | (o->bogus ? QLOG_RES_BOGUS : 0) |
		  (o->chain ? QLOG_RES_FW_CHAIN : 0) | (o->upstream ? QLOG_RES_FORWARDED : 0);
	snprintf(rec.view, sizeof(rec.view), "%s", r->cfg.rc->views[pd->job.view].name);
	snprintf(rec.rule, sizeof(rec.rule), "%s", rule >= 0 ? r->cfg.rc->rules[rule].name : "");
	snprintf(rec.upstream, sizeof(rec.upstream), "%s", o->upstream ? o->upstream : "");
	qlog_push(ring, &rec);
}

/* The firewall on every name the answer's CNAME and DNAME records lead
 * to (Route 53's INSPECT_REDIRECTION_DOMAIN); true when one blocked, with
 * the verdict in o->fw. */
static bool chain_blocked(struct resolver *r, const struct pending *pd, const ldns_pkt *up,
			  struct outcome *o)
{
	const struct p53_fw *fw = r->fw;
	if (fw == NULL)
		return false;
	if (pd->job.fw_rule != UINT32_MAX) {
		struct p53_fw_rule_info ri;
		if (p53_fw_rule(fw, pd->job.fw_rule, &ri) && ri.trust)
			return false; /* TRUST_REDIRECTION_DOMAIN on the query name */
	}
	ldns_rr_list *an = ldns_pkt_answer(up);
	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		ldns_rr_type t = ldns_rr_get_type(rr);
		if ((t != LDNS_RR_TYPE_CNAME && t != LDNS_RR_TYPE_DNAME) ||
		    ldns_rr_rd_count(rr) < 1)
			continue;
		const ldns_rdf *tgt = ldns_rr_rdf(rr, 0);
		size_t len = ldns_rdf_size(tgt);
		uint8_t name[P53_NAME_MAX];
		if (len == 0 || len > sizeof(name))
			continue;
		memcpy(name, ldns_rdf_data(tgt), len);
		name_lower(name, len);
		struct p53_fw_verdict v;
		enum p53_fw_action act =
		    p53_fw_check(fw, r->cfg.fw_worker, name, len, pd->qtype, &v);
		if (act == P53_FW_NONE)
			continue;
		if (act == P53_FW_ALLOW || act == P53_FW_ALERT) {
			if (v.trust)
				return false;
			continue;
		}
		o->fw = v;
		o->fw_set = true;
		o->chain = true;
		bump(r, RS_FW_CHAIN_BLOCK);
		return true;
	}
	return false;
}

/* Answers pd from libunbound's packet pkt (or a failure). */
static void answer_from(struct resolver *r, struct pending *pd, const uint8_t *pkt, size_t plen,
			uint32_t age, struct outcome *o)
{
	ldns_pkt *up = NULL;
	if (pkt && ldns_wire2pkt(&up, pkt, plen) != LDNS_STATUS_OK)
		up = NULL;
	if (up == NULL && o->rcode != LDNS_RCODE_SERVFAIL) {
		o->rcode = LDNS_RCODE_SERVFAIL;
		o->ede = EDE_OTHER;
		o->ede_text = "unreadable upstream answer";
	}
	if (up && o->rcode != LDNS_RCODE_SERVFAIL) {
		o->rcode = (uint8_t)ldns_pkt_get_rcode(up);
		if (chain_blocked(r, pd, up, o)) {
			switch (o->fw.action) {
			case P53_FW_BLOCK_NXDOMAIN:
				o->rcode = LDNS_RCODE_NXDOMAIN;
				o->ede = EDE_BLOCKED;
				break;
			case P53_FW_BLOCK_NODATA:
				o->rcode = LDNS_RCODE_NOERROR;
				o->ede = EDE_BLOCKED;
				break;
			case P53_FW_BLOCK_OVERRIDE:
				o->rcode = LDNS_RCODE_NOERROR;
				o->ede = EDE_BLOCKED;
				break;
			case P53_FW_REFUSED:
				o->rcode = LDNS_RCODE_REFUSED;
				break;
			case P53_FW_DROP:
				ldns_pkt_free(up);
				deliver(r, pd, 0, o, pd->rule);
				return;
			default: /* FAIL: fail-closed */
				o->rcode = LDNS_RCODE_SERVFAIL;
				break;
			}
		}
	}
	size_t n = compose(r, pd, o->rcode == LDNS_RCODE_SERVFAIL ? NULL : up, age, o);
	ldns_pkt_free(up);
	deliver(r, pd, n, o, pd->rule);
}

/* libunbound's why_bogus text to the closest RFC 8914 code. */
static enum ede ede_of(const char *why)
{
	if (why == NULL)
		return EDE_BOGUS;
	if (strstr(why, "expired"))
		return EDE_SIG_EXPIRED;
	if (strstr(why, "before inception") || strstr(why, "not yet"))
		return EDE_SIG_NOT_YET;
	if (strstr(why, "no signatures") || strstr(why, "no RRSIG"))
		return EDE_RRSIGS_MISSING;
	if (strstr(why, "no DNSKEY") || strstr(why, "DNSKEY missing"))
		return EDE_DNSKEY_MISSING;
	if (strstr(why, "NSEC") && strstr(why, "missing"))
		return EDE_NSEC_MISSING;
	return EDE_BOGUS;
}

static void ask(struct resolver *r, struct pending *pd);

/* Marks pd's FORWARD target down and asks the next one in order not yet
 * asked; false when every target has been asked. */
static bool fail_over(struct resolver *r, struct pending *pd)
{
	const struct rconf_rule *rl = &r->cfg.rc->rules[pd->rule];
	r->fwd[pd->rule][pd->target].down_until_ms =
	    now_ms() + (uint64_t)r->cfg.rc->failover_s * 1000;
	for (unsigned i = 0; i < rl->ntargets; i++)
		if (!(pd->tried & (1u << i))) {
			bump(r, RS_FAILOVER);
			pd->target = i;
			ask(r, pd);
			return true;
		}
	return false;
}

/* A FORWARD target that has not answered within forward-timeout-ms is
 * given up for the next one: libunbound would keep retrying it for
 * seconds, longer than a client waits. */
static void check_deadlines(struct resolver *r)
{
	uint64_t t = now_ms();
	struct pending *pd = r->inflight, *next;
	for (; pd; pd = next) {
		next = pd->next;
		if (pd->rule < 0 || r->fwd[pd->rule] == NULL || t < pd->deadline_ms)
			continue;
		const struct rconf_rule *rl = &r->cfg.rc->rules[pd->rule];
		if ((unsigned)__builtin_popcount(pd->tried) >= rl->ntargets)
			continue; /* the last target: libunbound decides */
		ub_cancel(r->fwd[pd->rule][pd->target].ub, pd->async_id);
		fail_over(r, pd);
	}
}

static void on_result(void *arg, int err, struct ub_result *res)
{
	struct pending *pd = arg;
	struct resolver *r = pd->r;
	struct target *tg =
	    pd->rule >= 0 && r->fwd[pd->rule] ? &r->fwd[pd->rule][pd->target] : NULL;
	struct outcome o = {.rcode = LDNS_RCODE_SERVFAIL, .ede = EDE_NONE};
	bool failed = err != 0 || res == NULL || (res->rcode == LDNS_RCODE_SERVFAIL && !res->bogus);
	if (tg && failed) {
		ub_resolve_free(res);
		res = NULL;
		if (fail_over(r, pd))
			return;
	}
	o.upstream = tg ? tg->addr : NULL;
	if (failed) {
		o.ede = tg ? EDE_NO_REACHABLE : EDE_OTHER;
		o.ede_text = err ? ub_strerror(err) : tg ? "no FORWARD target answered" : NULL;
		if (!tg && err == 0)
			o.ede = EDE_NONE; /* libunbound says no more than SERVFAIL */
		answer_from(r, pd, NULL, 0, 0, &o);
	} else if (res->bogus) {
		bump(r, RS_BOGUS);
		o.bogus = true;
		o.ede = ede_of(res->why_bogus);
		o.ede_text = res->why_bogus;
		answer_from(r, pd, NULL, 0, 0, &o);
	} else {
		o.rcode = LDNS_RCODE_NOERROR;
		o.secure = res->secure;
		ldns_pkt *parsed = NULL;
		if (res->answer_packet &&
		    ldns_wire2pkt(&parsed, res->answer_packet, (size_t)res->answer_len) ==
			LDNS_STATUS_OK) {
			cache_put(r, pd, res->answer_packet, (size_t)res->answer_len, parsed,
				  res->secure, o.upstream);
			ldns_pkt_free(parsed);
		}
		answer_from(r, pd, res->answer_packet, (size_t)res->answer_len, 0, &o);
	}
	ub_resolve_free(res);
	pending_free(pd);
}

static void ask(struct resolver *r, struct pending *pd)
{
	struct ub_ctx *ub = r->rec;
	if (pd->rule >= 0 && r->fwd[pd->rule]) {
		pd->tried |= 1u << pd->target;
		ub = r->fwd[pd->rule][pd->target].ub;
		bump(r, RS_FORWARDED);
	}
	char txt[P53_NAME_MAX * 4 + 2];
	bump(r, RS_UPSTREAM);
	pd->deadline_ms = now_ms() + r->cfg.rc->forward_timeout_ms;
	if (name_to_text(pd->qname, txt, sizeof(txt)) < 0 ||
	    ub_resolve_async(ub, txt, pd->qtype, pd->qclass, pd, on_result, &pd->async_id) != 0) {
		struct outcome o = {.rcode = LDNS_RCODE_SERVFAIL,
				    .ede = EDE_OTHER,
				    .ede_text = "resolver could not start the query"};
		answer_from(r, pd, NULL, 0, 0, &o);
		pending_free(pd);
	}
}

/* Reads the question and EDNS of the handed-over query. */
static bool parse_job(struct pending *pd)
{
	ldns_pkt *q = NULL;
	if (ldns_wire2pkt(&q, pd->job.q, pd->job.qlen) != LDNS_STATUS_OK)
		return false;
	bool ok = false;
	ldns_rr_list *ql = ldns_pkt_question(q);
	if (ldns_rr_list_rr_count(ql) == 1) {
		const ldns_rr *qr = ldns_rr_list_rr(ql, 0);
		const ldns_rdf *owner = ldns_rr_owner(qr);
		size_t len = ldns_rdf_size(owner);
		if (len >= 1 && len <= P53_NAME_MAX) {
			memcpy(pd->qname_orig, ldns_rdf_data(owner), len);
			memcpy(pd->qname, ldns_rdf_data(owner), len);
			name_lower(pd->qname, len);
			pd->qlen = len;
			pd->qtype = (uint16_t)ldns_rr_get_type(qr);
			pd->qclass = (uint16_t)ldns_rr_get_class(qr);
			pd->id = ldns_pkt_id(q);
			pd->rd = ldns_pkt_rd(q);
			pd->cd = ldns_pkt_cd(q);
			pd->ad = ldns_pkt_ad(q);
			pd->edns = ldns_pkt_edns(q);
			pd->udp = ldns_pkt_edns_udp_size(q);
			pd->dnssec_ok = ldns_pkt_edns_do(q);
			ok = pd->qclass == LDNS_RR_CLASS_IN && pd->rd;
		}
	}
	ldns_pkt_free(q);
	return ok;
}

static void take_job(struct resolver *r, const struct resolver_job *job)
{
	struct pending *pd = pending_new(r);
	if (pd == NULL)
		return;
	memcpy(&pd->job, job, offsetof(struct resolver_job, q) + job->qlen);
	if (!parse_job(pd)) {
		bump(r, RS_BAD_QUERY);
		if (job->reply)
			job->reply(job->reply_ctx, job->token, NULL, 0);
		pending_free(pd);
		return;
	}
	pd->rule = rconf_rule_of(r->cfg.rc, job->view, pd->qname, pd->qlen);
	const struct rconf_view *v = &r->cfg.rc->views[job->view];
	if ((pd->rule < 0 || r->cfg.rc->rules[pd->rule].type == RCONF_SYSTEM) && !v->recursion) {
		struct outcome o = {.rcode = LDNS_RCODE_REFUSED, .ede = EDE_NONE};
		answer_from(r, pd, NULL, 0, 0, &o);
		pending_free(pd);
		return;
	}
	struct centry *e = cache_slot(r, pd);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	uint64_t now = (uint64_t)ts.tv_sec;
	if (cache_match(e, pd) && now < e->expires_s) {
		bump(r, RS_CACHE_HIT);
		struct outcome o = {.rcode = LDNS_RCODE_NOERROR,
				    .ede = EDE_NONE,
				    .secure = e->secure,
				    .cache = true,
				    .upstream = e->upstream[0] ? e->upstream : NULL};
		answer_from(r, pd, e->pkt, e->plen, (uint32_t)(now - e->stored_s), &o);
		pending_free(pd);
		return;
	}
	if (pd->rule >= 0 && r->fwd[pd->rule]) {
		/* The first target in order that has not failed lately. */
		const struct rconf_rule *rl = &r->cfg.rc->rules[pd->rule];
		uint64_t t = now_ms();
		pd->target = 0;
		for (unsigned i = 0; i < rl->ntargets; i++)
			if (r->fwd[pd->rule][i].down_until_ms <= t) {
				pd->target = i;
				break;
			}
	}
	ask(r, pd);
}

static void drain(struct resolver *r)
{
	for (unsigned i = 0; i < r->nrings; i++) {
		struct ring *rg = &r->rings[i];
		uint64_t t = atomic_load_explicit(&rg->tail, memory_order_relaxed);
		uint64_t h = atomic_load_explicit(&rg->head, memory_order_acquire);
		for (unsigned n = 0; t != h && n < 256; n++, t++) {
			take_job(r, &rg->slots[t & r->mask]);
			atomic_store_explicit(&rg->tail, t + 1, memory_order_release);
		}
	}
}

static bool rings_empty(struct resolver *r)
{
	for (unsigned i = 0; i < r->nrings; i++)
		if (atomic_load_explicit(&r->rings[i].head, memory_order_acquire) !=
		    atomic_load_explicit(&r->rings[i].tail, memory_order_relaxed))
			return false;
	return true;
}

static void *thread_main(void *arg)
{
	struct resolver *r = arg;
	for (;;) {
		struct epoll_event evs[16];
		/* Asleep only with every ring empty, checked after saying so
		 * (resolver_nudge's fence pairs with this one). */
		atomic_store_explicit(&r->sleeping, true, memory_order_relaxed);
		atomic_thread_fence(memory_order_seq_cst);
		int wait = rings_empty(r) ? (r->inflight ? 50 : 1000) : 0;
		int n = epoll_wait(r->ep, evs, 16, wait);
		atomic_store_explicit(&r->sleeping, false, memory_order_relaxed);
		qsbr_online(r->cfg.qsbr, r->cfg.reader);
		const struct snapmgr_live *live = snapmgr_current(r->cfg.mgr);
		const struct control_load *ld = live ? live->state : NULL;
		r->fw = ld ? ld->fw : NULL;
		r->gen = live ? live->generation : 0;
		bool stop = false;
		for (int i = 0; i < n; i++) {
			uint64_t v;
			if (evs[i].data.ptr == &r->stop_fd) {
				stop = true;
			} else if (evs[i].data.ptr == &r->kick_fd) {
				if (read(r->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					stop = true;
			} else {
				ub_process(evs[i].data.ptr);
			}
		}
		/* The ring is read every wake-up, not only on a kick: a kick may
		 * have been coalesced with one already consumed. */
		drain(r);
		check_deadlines(r);
		r->fw = NULL;
		qsbr_offline(r->cfg.qsbr, r->cfg.reader);
		if (r->share)
			rshare_reclaim(r->share, r->cfg.qsbr, (uint32_t)time(NULL));
		if (stop)
			break;
	}
	return NULL;
}

/* ---- private zones ------------------------------------------------------ */

static void privset_free(struct privset *ps)
{
	if (ps == NULL)
		return;
	for (unsigned v = 0; v < RCONF_MAX_VIEWS; v++)
		for (unsigned i = 0; i < ps->n[v]; i++)
			p53_snapshot_free(ps->snap[v][i]);
	free(ps);
}

/* NULL with *none when no view has private zones; NULL with err set when
 * one fails to load. */
static struct privset *privset_load(const struct rconf *rc, bool *none, struct p53_err *err)
{
	*none = true;
	for (unsigned v = 0; v < rc->nviews; v++)
		*none &= rc->views[v].nzones == 0;
	if (*none)
		return NULL;
	struct privset *ps = calloc(1, sizeof(*ps));
	if (ps == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	for (unsigned v = 0; v < rc->nviews; v++)
		for (unsigned i = 0; i < rc->views[v].nzones; i++) {
			struct p53_err e = {0};
			struct p53_snapshot *s = p53_snapshot_load(rc->views[v].zones[i], &e);
			if (s == NULL) {
				p53_err_set(err, e.code ? e.code : P53_EIO, "view %s: %s: %s",
					    rc->views[v].name, rc->views[v].zones[i], e.msg);
				privset_free(ps);
				return NULL;
			}
			ps->snap[v][ps->n[v]++] = s;
		}
	return ps;
}

bool resolver_has_private(const struct resolver *r)
{
	return r && atomic_load_explicit(&r->priv, memory_order_relaxed) != NULL;
}

const struct p53_snapshot *resolver_pick(struct resolver *r, int v, const uint8_t *q, size_t qlen,
					 const struct p53_snapshot *pub)
{
	const struct privset *ps = atomic_load_explicit(&r->priv, memory_order_acquire);
	if (ps == NULL || v < 0 || ps->n[v] == 0)
		return pub;
	/* The question name, bounded and lower-cased (no compression in a
	 * question that starts at offset 12). */
	uint8_t name[P53_NAME_MAX];
	size_t o = 12, len = 0;
	while (o < qlen && q[o] != 0) {
		size_t l = q[o];
		if (l > 63 || o + 1 + l > qlen || len + 1 + l + 1 > sizeof(name))
			return pub;
		memcpy(name + len, q + o, l + 1);
		len += l + 1;
		o += l + 1;
	}
	if (o >= qlen)
		return pub;
	name[len++] = 0;
	name_lower(name, len);
	const struct p53_snapshot *best = pub;
	unsigned best_labels = 0;
	bool found = false;
	for (unsigned i = 0; i < ps->n[v]; i++) {
		struct p53_snapshot_info info;
		p53_snapshot_info(ps->snap[v][i], &info);
		for (uint32_t z = 0; z < info.zones; z++) {
			const uint8_t *apex = p53_snapshot_zone(ps->snap[v][i], z, NULL);
			if (apex == NULL)
				continue;
			unsigned labels = name_labels(apex);
			if ((!found || labels > best_labels) &&
			    name_is_below_or_at(name, len, apex, name_len(apex))) {
				best = ps->snap[v][i];
				best_labels = labels;
				found = true;
			}
		}
	}
	return best;
}

int resolver_reload(struct resolver *r, struct p53_err *err)
{
	bool none;
	struct privset *ps = privset_load(r->cfg.rc, &none, err);
	if (ps == NULL && !none)
		return err->code ? err->code : P53_EIO;
	pthread_mutex_lock(&r->reload_lock);
	struct privset *old = atomic_exchange_explicit(&r->priv, ps, memory_order_acq_rel);
	/* Every reader that may hold a pointer into the old set passes a
	 * quiescent state before it is freed; on a timeout it is kept. */
	if (old && qsbr_synchronize(r->cfg.qsbr, 10000) == 0)
		privset_free(old);
	pthread_mutex_unlock(&r->reload_lock);
	return 0;
}

/* ---- set-up ------------------------------------------------------------- */

static int set(struct ub_ctx *ub, const char *opt, const char *val, struct p53_err *err)
{
	int rc = ub_ctx_set_option(ub, opt, val);
	if (rc != 0)
		return p53_err_set(err, P53_EINVAL, "resolver: %s %s: %s", opt, val,
				   ub_strerror(rc));
	return 0;
}

static struct ub_ctx *new_ctx(struct resolver *r, bool validate, const char *fwd,
			      struct p53_err *err)
{
	const struct rconf *rc = r->cfg.rc;
	struct ub_ctx *ub = ub_ctx_create();
	if (ub == NULL) {
		p53_err_set(err, P53_ENOMEM, "resolver: ub_ctx_create failed");
		return NULL;
	}
	char maxttl[16], minttl[16], negttl[16], stale[16];
	snprintf(maxttl, sizeof(maxttl), "%u", rc->cache_max_ttl);
	snprintf(minttl, sizeof(minttl), "%u", rc->cache_min_ttl);
	snprintf(negttl, sizeof(negttl), "%u", rc->cache_max_negative_ttl);
	snprintf(stale, sizeof(stale), "%u", rc->stale_ttl);
	const char *opts[][2] = {
	    /* Targets and test trees on loopback are legitimate here. */
	    {"do-not-query-localhost:", "no"},
	    {"qname-minimisation:", rc->qname_min ? "yes" : "no"},
	    {"cache-max-ttl:", maxttl},
	    {"cache-min-ttl:", minttl},
	    {"cache-max-negative-ttl:", negttl},
	    {"serve-expired:", rc->serve_stale ? "yes" : "no"},
	    {"serve-expired-ttl:", stale},
	    {"module-config:", validate ? "validator iterator" : "iterator"},
	};
	int e = 0;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]) && !e; i++)
		e = set(ub, opts[i][0], opts[i][1], err);
	if (!e && validate && rc->root_hints)
		e = set(ub, "root-hints:", rc->root_hints, err);
	if (!e && validate && rc->trust_anchor) {
		int x = ub_ctx_add_ta_file(ub, rc->trust_anchor);
		if (x != 0)
			e = p53_err_set(err, P53_EINVAL, "resolver: trust anchor %s: %s",
					rc->trust_anchor, ub_strerror(x));
	}
	if (!e && fwd) {
		int x = ub_ctx_set_fwd(ub, fwd);
		if (x != 0)
			e = p53_err_set(err, P53_EINVAL, "resolver: forward target %s: %s", fwd,
					ub_strerror(x));
	}
	if (!e) {
		int x = ub_ctx_async(ub, 1); /* a thread, not a forked process */
		if (x != 0)
			e = p53_err_set(err, P53_EIO, "resolver: %s", ub_strerror(x));
	}
	if (!e) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ub};
		if (epoll_ctl(r->ep, EPOLL_CTL_ADD, ub_fd(ub), &ev) != 0)
			e = p53_err_set(err, P53_EIO, "resolver: epoll: %s", strerror(errno));
	}
	if (e) {
		ub_ctx_delete(ub);
		return NULL;
	}
	return ub;
}

struct resolver *resolver_start(const struct resolver_cfg *cfg, struct p53_err *err)
{
	struct resolver *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	r->cfg = *cfg;
	r->ep = r->kick_fd = r->stop_fd = -1;
	unsigned rs = 16, want = cfg->ring_size ? cfg->ring_size : 1024;
	while (rs < want)
		rs <<= 1;
	unsigned cs = 1024, cwant = cfg->cache_entries ? cfg->cache_entries : 65536;
	while (cs < cwant)
		cs <<= 1;
	r->mask = rs - 1;
	r->cmask = cs - 1;
	const struct rconf *rc = cfg->rc;
	r->nrings = cfg->producers ? cfg->producers : 1;
	if (r->nrings > RESOLVER_MAX_PRODUCERS)
		r->nrings = RESOLVER_MAX_PRODUCERS;
	r->rings = calloc(r->nrings, sizeof(*r->rings));
	for (unsigned i = 0; r->rings && i < r->nrings; i++)
		if ((r->rings[i].slots = calloc(rs, sizeof(struct resolver_job))) == NULL) {
			p53_err_set(err, P53_ENOMEM, "out of memory");
			goto fail;
		}
	r->cache = calloc(cs, sizeof(*r->cache));
	if (cfg->share &&
	    (r->share = rshare_new(cfg->share_entries ? cfg->share_entries : 16384)) == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		goto fail;
	}
	r->fwd = calloc(rc->nrules ? rc->nrules : 1, sizeof(*r->fwd));
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->rings == NULL || r->cache == NULL || r->fwd == NULL || r->ep < 0 || r->kick_fd < 0 ||
	    r->stop_fd < 0) {
		p53_err_set(err, P53_ENOMEM, "resolver: out of memory or descriptors");
		goto fail;
	}
	struct epoll_event ke = {.events = EPOLLIN, .data.ptr = &r->kick_fd};
	struct epoll_event se = {.events = EPOLLIN, .data.ptr = &r->stop_fd};
	epoll_ctl(r->ep, EPOLL_CTL_ADD, r->kick_fd, &ke);
	epoll_ctl(r->ep, EPOLL_CTL_ADD, r->stop_fd, &se);
	pthread_mutex_init(&r->reload_lock, NULL);
	bool none;
	struct privset *ps = privset_load(rc, &none, err);
	if (ps == NULL && !none)
		goto fail;
	atomic_store(&r->priv, ps);
	if ((r->rec = new_ctx(r, true, NULL, err)) == NULL)
		goto fail;
	for (unsigned i = 0; i < rc->nrules; i++) {
		const struct rconf_rule *rl = &rc->rules[i];
		if (rl->type != RCONF_FORWARD)
			continue;
		if ((r->fwd[i] = calloc(rl->ntargets, sizeof(struct target))) == NULL) {
			p53_err_set(err, P53_ENOMEM, "out of memory");
			goto fail;
		}
		for (unsigned t = 0; t < rl->ntargets; t++) {
			r->fwd[i][t].addr = rl->targets[t];
			if ((r->fwd[i][t].ub = new_ctx(r, false, rl->targets[t], err)) == NULL)
				goto fail;
		}
	}
	if (qsbr_reader_register(cfg->qsbr, cfg->reader) != 0) {
		p53_err_set(err, P53_EINVAL, "resolver: cannot register QSBR reader %u",
			    cfg->reader);
		goto fail;
	}
	qsbr_offline(cfg->qsbr, cfg->reader);
	errno = cfg->spawn ? cfg->spawn(&r->thread, "p53-resolver", thread_main, r)
			   : pthread_create(&r->thread, NULL, thread_main, r);
	if (errno != 0) {
		p53_err_set(err, P53_EIO, "resolver: thread: %s", strerror(errno));
		qsbr_reader_unregister(cfg->qsbr, cfg->reader);
		goto fail;
	}
	r->started = true;
	return r;
fail:
	resolver_stop(r);
	return NULL;
}

void resolver_halt(struct resolver *r)
{
	if (r == NULL || !r->started)
		return;
	uint64_t one = 1;
	if (write(r->stop_fd, &one, sizeof(one)) < 0)
		fprintf(stderr, "%s: resolver: cannot signal the stop\n",
			r->cfg.name ? r->cfg.name : "port53");
	pthread_join(r->thread, NULL);
	qsbr_reader_unregister(r->cfg.qsbr, r->cfg.reader);
	r->started = false;
}

void resolver_stop(struct resolver *r)
{
	if (r == NULL)
		return;
	resolver_halt(r);
	/* Deleting a context cancels its queries without calling back: their
	 * pending records are freed from the in-flight list after. */
	if (r->rec)
		ub_ctx_delete(r->rec);
	for (unsigned i = 0; r->fwd && i < r->cfg.rc->nrules; i++) {
		if (r->fwd[i] == NULL)
			continue;
		for (unsigned t = 0; t < r->cfg.rc->rules[i].ntargets; t++)
			if (r->fwd[i][t].ub)
				ub_ctx_delete(r->fwd[i][t].ub);
		free(r->fwd[i]);
	}
	free(r->fwd);
	privset_free(atomic_load(&r->priv));
	while (r->inflight)
		pending_free(r->inflight);
	for (unsigned i = 0; r->cache && i <= r->cmask; i++)
		free(r->cache[i].pkt);
	rshare_free(r->share);
	free(r->cache);
	for (unsigned i = 0; r->rings && i < r->nrings; i++)
		free(r->rings[i].slots);
	free(r->rings);
	if (r->ep >= 0)
		close(r->ep);
	if (r->kick_fd >= 0)
		close(r->kick_fd);
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	free(r);
}

const struct rshare *resolver_share(const struct resolver *r)
{
	return r ? r->share : NULL;
}

void resolver_counters(struct resolver *r, api_emit_fn emit, void *sink)
{
	if (r == NULL)
		return;
	for (unsigned i = 0; i < RS__COUNT; i++)
		emit(sink, "resolver", "outcome", rstat_names[i], r->cfg.fw_worker,
		     atomic_load_explicit(&r->stats[i], memory_order_relaxed));
	for (unsigned v = 0; v < r->cfg.rc->nviews && v < RCONF_MAX_VIEWS; v++)
		emit(sink, "resolver_view", "view", r->cfg.rc->views[v].name, r->cfg.fw_worker,
		     atomic_load_explicit(&r->view_answers[v], memory_order_relaxed));
	/* Levels, not counts: jobs waiting in each producer's ring, and
	 * queries at libunbound. */
	for (unsigned i = 0; i < r->nrings; i++) {
		uint64_t h = atomic_load_explicit(&r->rings[i].head, memory_order_acquire);
		uint64_t t = atomic_load_explicit(&r->rings[i].tail, memory_order_acquire);
		emit(sink, "resolver_queue", "state", "ring", i, h >= t ? h - t : 0);
	}
	emit(sink, "resolver_queue", "state", "inflight", r->cfg.fw_worker,
	     atomic_load_explicit(&r->ninflight, memory_order_relaxed));
}
