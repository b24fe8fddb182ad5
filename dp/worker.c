/* The worker loop. Hot path: no allocation, no lock, no system call, no
 * printing. Everything a frame needs is decided by dp_classify() (pkt.c); the
 * DNS message itself is answered by p53_answer(), the one place answers are
 * built, writing into the same mbuf. Frames leave by one of three doors per
 * burst: replies out the service port, kernel-bound to the exception port,
 * the rest freed in bulk.
 */
#include "dp/worker.h"

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include "ctrl/qlog/qlog.h"
#include "ctrl/control.h"
#include "ctrl/resolv/rconf.h"
#include "ctrl/resolv/resolver.h"
#include "ctrl/resolv/rshare.h"
#include "ctrl/snap/snapmgr.h"
#include "dp/rdp.h"

#include <rte_ring.h>

#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <time.h>

/* A DNS query answered by the engine, waiting for the abuse controls: the
 * whole burst is answered first, each answer's rate-limit key located as
 * it is made, so that its sieve counter loads while the rest of the burst
 * is answered. */
struct dns_pend {
	struct rte_mbuf *m;
	struct dp_pkt p;
	struct p53_client cl;
	struct p53_answer_info info;
	struct p53_rrl_slot slot;
	size_t n, room;
};

struct burst_out {
	struct dns_pend dns[DP_BURST];
	uint16_t ndns;
	struct rte_mbuf *tx[DP_BURST];
	struct rte_mbuf *exc[DP_BURST];
	struct rte_mbuf *drop[DP_BURST];
	uint16_t ntx, nexc, ndrop;
};

static inline unsigned rx_flags(const struct rte_mbuf *m)
{
	uint64_t f = m->ol_flags;
	unsigned r = 0;

	if ((f & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		r |= DP_RX_IP_GOOD;
	else if ((f & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		r |= DP_RX_IP_BAD;
	if ((f & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		r |= DP_RX_L4_GOOD;
	else if ((f & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		r |= DP_RX_L4_BAD;
	return r;
}

static inline void set_len(struct rte_mbuf *m, size_t len)
{
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
}

/* What answer_dns did with a query. */
enum dns_fate {
	DNS_DROP, /* free the frame */
	DNS_PEND, /* answered in d: cookies and RRL in finish_dns, then sent */
	DNS_SENT, /* the frame is a finished reply: send it */
};

/* The DNS response (n bytes at p->pl_off) into a reply frame. */
static inline void reply_frame(const struct dp_wq *wq, struct rte_mbuf *m, uint8_t *f,
			       const struct dp_pkt *p, size_t n)
{
	set_len(m, dp_reply_dns(wq->svc, f, p, n, wq->tx_flags));
	m->ol_flags = 0;
	if (wq->tx_flags & DP_TX_CSUM_OFFLOAD) {
		m->l2_len = p->l3_off;
		if (p->family == 4) {
			m->l3_len = DP_IP4_HLEN;
			m->ol_flags =
			    RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
		} else {
			m->l3_len = DP_IP6_HLEN;
			m->ol_flags = RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;
		}
	}
}

/* A query for the resolver that it already answered for this view: the
 * shared answer (ctrl/resolv/rshare.h) into dns; its length, 0 on a miss.
 * q is the query's copy in the ring slot. */
static inline size_t cache_hit(struct dp_worker *w, int view, const uint8_t *q, size_t qlen,
			       uint8_t *dns, size_t room, struct rshare_hit *hit)
{
	const struct rshare *sh = w->rdp->share;
	struct rshare_key k;
	if (sh == NULL || w->ctx.fw_rule != UINT32_MAX || !rshare_key_of(q, qlen, &k))
		return 0;
	k.view = (uint16_t)view;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts); /* vDSO: no system call */
	return rshare_get(sh, &k, q, w->gen, (uint32_t)ts.tv_sec, dns, room, hit);
}

/* Answers one DNS query in place, leaving it in d for finish_dns, or
 * making the frame the reply itself. */
static inline enum dns_fate answer_dns(struct dp_worker *w, const struct dp_wq *wq,
				       const struct p53_snapshot *snap, struct rte_mbuf *m,
				       uint8_t *f, const struct dp_pkt *p, struct dns_pend *d)
{
	if (unlikely(!snap)) {
		w->stats.c[DP_C_NO_SNAPSHOT]++;
		return DNS_DROP;
	}
	struct p53_client cl = {.family = p->family, .transport = P53_UDP, .port = p->sport};
	if (p->family == 4)
		memcpy(cl.addr, f + p->l3_off + 12, 4);
	else
		memcpy(cl.addr, f + p->l3_off + 8, 16);

	size_t bufcap = (size_t)m->buf_len - m->data_off;
	size_t room = dp_dns_room(wq->svc, p, bufcap);
	uint8_t *dns = f + p->pl_off;
	/* The resolver path: a query the resolver could take, from a client
	 * in a view, is copied into a free slot of this worker's ring before
	 * it is answered in place, and handed over if the engine says the
	 * name is not ours. Clients of views with private zones are answered
	 * from them. */
	const struct p53_snapshot *use = snap;
	struct resolver_job *job = NULL;
	int view = -1;
	bool cand = false;
	if (unlikely(w->rdp != NULL)) {
		cand = p->pl_off <= DP_RDP_HDR_MAX && resolver_takes(dns, p->pl_len);
		if (cand || w->rdp->private)
			view = dp_rdp_view(w->rdp, f, p, &cl);
		if (view >= 0 && w->rdp->private)
			use = resolver_pick(w->rdp->cfg.res, view, dns, p->pl_len, snap);
		if (cand && view >= 0 && (job = resolver_slot(w->rdp->cfg.res, w->idx)) != NULL)
			memcpy(job->q, dns, p->pl_len);
	}
	/* Query log: the question is read before it is answered in place. */
	struct qlog_rec qr;
	bool logq = w->qlog && qlog_sampled(w->qlog);
	if (unlikely(logq))
		logq = qlog_rec_query(&qr, dns, p->pl_len, &cl) == 0;
	const uint8_t *health = w->ctx.health;
	if (unlikely(use != snap))
		w->ctx.health = NULL; /* a private snapshot's checks are not tracked */
	size_t n = p53_answer(use, dns, p->pl_len, &cl, &w->ctx, dns, room);
	w->ctx.health = health;
	if (unlikely(cand && view >= 0) && resolver_wants(dns, n) &&
	    !resolver_fw_decided(w->ctx.fw, w->ctx.fw_rule)) {
		/* Answered before: the shared answer, sent as it is (the
		 * resolver's answers are not rate limited). */
		struct rshare_hit hit;
		size_t h = job ? cache_hit(w, view, job->q, p->pl_len, dns, room, &hit) : 0;
		if (h) {
			w->stats.c[DP_C_RES_CACHE_HIT]++;
			w->stats.rcode[dns[3] & 15]++;
			if (unlikely(logq)) {
				qlog_rec_response(&qr, dns, h);
				qr.worker = (uint16_t)w->idx;
				const struct rconf *rc = w->rdp->cfg.rc;
				bool fwd =
				    hit.rule >= 0 && rc->rules[hit.rule].type == RCONF_FORWARD;
				qr.res = QLOG_RES_ON | QLOG_RES_CACHE |
					 (hit.secure ? QLOG_RES_SECURE : 0) |
					 (fwd ? QLOG_RES_FORWARDED : 0);
				snprintf(qr.view, sizeof(qr.view), "%s", rc->views[view].name);
				snprintf(qr.rule, sizeof(qr.rule), "%s",
					 hit.rule >= 0 ? rc->rules[hit.rule].name : "");
				qlog_push(w->qlog, &qr);
			}
			reply_frame(wq, m, f, p, h);
			return DNS_SENT;
		}
		/* The resolver answers (and logs) it; the frame is freed. */
		if (job) {
			dp_rdp_fill(w->rdp, job, w->idx, wq->sp, f, p, &cl, view, w->ctx.fw_rule);
			resolver_commit(w->rdp->cfg.res, w->idx);
			w->stats.c[DP_C_RES_HANDED]++;
			w->kick = true;
		} else {
			w->stats.c[DP_C_RES_RING_FULL]++;
			resolver_ring_full(w->rdp->cfg.res);
		}
		return DNS_DROP;
	}
	if (unlikely(logq)) {
		qlog_rec_response(&qr, dns, n);
		qr.worker = (uint16_t)w->idx;
		qr.fw_rule = w->ctx.fw_rule;
		qlog_push(w->qlog, &qr);
	}
	if (unlikely(n == 0)) {
		w->stats.c[DP_C_ENGINE_DROP]++;
		return DNS_DROP;
	}
	d->m = m;
	d->p = *p;
	d->cl = cl;
	d->info = w->ctx.last;
	p53_abuse_locate(&w->abuse, &d->info, cl.family, cl.addr, &d->slot);
	d->n = n;
	d->room = room;
	return DNS_PEND;
}

/* Cookies and rate limiting on an answer of the burst (a limited one is
 * counted there), then the reply; false means drop. */
static inline bool finish_dns(struct dp_worker *w, const struct dp_wq *wq, struct dns_pend *d)
{
	struct rte_mbuf *m = d->m;
	const struct dp_pkt *p = &d->p;
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	uint8_t *dns = f + p->pl_off;
	size_t n = p53_abuse_apply(&w->abuse, &d->info, &d->cl, &d->slot, dns, d->n, d->room,
				   w->now_ms, w->now_s);
	if (unlikely(n == 0))
		return false;
	w->stats.rcode[dns[3] & 15]++;
	w->stats.c[DP_C_ANSWERED]++;
	reply_frame(wq, m, f, p, n);
	return true;
}

/* Classifies a frame: DP_ACT_DROP for chained mbufs, which we never ask
 * for (no RX scatter) and do not parse. */
static inline enum dp_action classify(struct dp_worker *w, const struct dp_wq *wq,
				      struct rte_mbuf *m, struct dp_pkt *p)
{
	if (unlikely(m->nb_segs != 1)) {
		w->stats.c[DP_C_MULTISEG]++;
		*p = (struct dp_pkt){.action = DP_ACT_DROP};
		return DP_ACT_DROP;
	}
	enum dp_action a =
	    dp_classify(wq->svc, rte_pktmbuf_mtod(m, uint8_t *), m->data_len, rx_flags(m), p);
	w->stats.reason[p->reason]++;
	return a;
}

static inline void handle(struct dp_worker *w, const struct dp_wq *wq,
			  const struct p53_snapshot *snap, struct rte_mbuf *m, struct dp_pkt *pp,
			  struct burst_out *o)
{
	struct dp_pkt p = *pp;
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);

	switch ((enum dp_action)p.action) {
	case DP_ACT_DNS:
		/* NOTIFY (QR 0, opcode 4) is the secondary's, on the control
		 * side: over the exception path to its UDP listener
		 * (ctrl/xfr/notifyd.c). classify_udp checked pl_len fits. */
		if (unlikely(wq->notify_exc && p.pl_len >= 12 &&
			     (f[p.pl_off + 2] & 0xf8) == 0x20)) {
			w->stats.c[DP_C_NOTIFY_KERNEL]++;
			o->exc[o->nexc++] = m;
			return;
		}
		switch (answer_dns(w, wq, snap, m, f, &p, &o->dns[o->ndns])) {
		case DNS_PEND:
			o->ndns++;
			return;
		case DNS_SENT:
			o->tx[o->ntx++] = m;
			return;
		case DNS_DROP:
			break;
		}
		break;
	case DP_ACT_ARP:
		set_len(m, dp_reply_arp(wq->svc, f, &p, m->data_len));
		m->ol_flags = 0;
		w->stats.c[DP_C_ARP_REPLY]++;
		o->tx[o->ntx++] = m;
		return;
	case DP_ACT_ND: {
		size_t len = dp_reply_na(wq->svc, f, &p, (size_t)m->buf_len - m->data_off);
		if (len) {
			set_len(m, len);
			m->ol_flags = 0;
			w->stats.c[DP_C_NA_REPLY]++;
			o->tx[o->ntx++] = m;
			return;
		}
		break;
	}
	case DP_ACT_KERNEL:
		if (wq->has_exc) {
			o->exc[o->nexc++] = m;
			return;
		}
		w->stats.c[DP_C_KERNEL_DROP]++;
		break;
	case DP_ACT_DROP:
		break;
	}
	o->drop[o->ndrop++] = m;
}

/* Sends n frames; what the queue did not take is freed and counted. */
static inline uint16_t tx_all(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n,
			      uint64_t *unsent)
{
	if (!n)
		return 0;
	uint16_t sent = rte_eth_tx_burst(port, queue, pkts, n);
	if (unlikely(sent < n)) {
		*unsent += n - sent;
		rte_pktmbuf_free_bulk(pkts + sent, n - sent);
	}
	return sent;
}

/* Returns whether the poll received anything. */
static inline bool poll_queue(struct dp_worker *w, const struct dp_wq *wq,
			      const struct p53_snapshot *snap)
{
	struct rte_mbuf *pkts[DP_BURST];
	struct burst_out o;
	/* Read before the poll so that the busy time and the burst's time in
	 * the server include receiving it; an empty poll pays only this. */
	uint64_t now = rte_rdtsc();
	uint16_t n = rte_eth_rx_burst(wq->port, wq->queue, pkts, DP_BURST);
	uint16_t got = n;

	o.ntx = o.nexc = o.ndrop = o.ndns = 0;
	if (n) {
		if (unlikely(!w->stats.first_rx_tsc))
			w->stats.first_rx_tsc = now;
		w->stats.last_rx_tsc = now;
		w->now_ms = (uint32_t)((now - w->sh->tsc0) / w->sh->tsc_per_ms);
		w->now_s = atomic_load_explicit(&w->sh->unix_s, memory_order_relaxed);
		w->stats.c[DP_C_RX] += n;
		/* Classify the burst, let the engine prefetch what the DNS
		 * queries among it will look up, then answer them. */
		struct dp_pkt pk[DP_BURST];
		const uint8_t *dq[DP_BURST];
		size_t dl[DP_BURST];
		unsigned nd = 0;
		rte_prefetch0(rte_pktmbuf_mtod(pkts[0], void *));
		for (uint16_t i = 0; i < n; i++) {
			if (i + 1 < n)
				rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
			if (classify(w, wq, pkts[i], &pk[i]) == DP_ACT_DNS) {
				dq[nd] = rte_pktmbuf_mtod(pkts[i], uint8_t *) + pk[i].pl_off;
				dl[nd++] = pk[i].pl_len;
			}
		}
		if (nd && snap)
			p53_prefetch_burst(snap, dq, dl, nd);
		for (uint16_t i = 0; i < n; i++)
			handle(w, wq, snap, pkts[i], &pk[i], &o);
		/* Cookies and RRL on each answer, their buckets loaded. */
		for (uint16_t i = 0; i < o.ndns; i++) {
			if (likely(finish_dns(w, wq, &o.dns[i])))
				o.tx[o.ntx++] = o.dns[i].m;
			else
				o.drop[o.ndrop++] = o.dns[i].m;
		}
		w->stats.c[DP_C_TX] +=
		    tx_all(wq->port, wq->queue, o.tx, o.ntx, &w->stats.c[DP_C_TX_FULL]);
		if (o.nexc)
			w->stats.c[DP_C_TO_KERNEL] += tx_all(wq->exc_port, wq->queue, o.exc, o.nexc,
							     &w->stats.c[DP_C_KERNEL_DROP]);
		if (o.ndrop)
			rte_pktmbuf_free_bulk(o.drop, o.ndrop);
	}

	/* What the kernel sends on the exception port goes out as it is. */
	if (wq->has_exc) {
		n = rte_eth_rx_burst(wq->exc_port, wq->queue, pkts, DP_BURST);
		if (n) {
			uint16_t sent =
			    tx_all(wq->port, wq->queue, pkts, n, &w->stats.c[DP_C_TX_FULL]);
			w->stats.c[DP_C_FROM_KERNEL] += sent;
			w->stats.c[DP_C_TX] += sent;
			got += n;
		}
	}
	if (got) {
		uint64_t took = rte_rdtsc() - now;
		w->stats.busy_tsc += took;
		if (o.ndns)
			lathist_add(&w->stats.lat, lathist_ns(took, w->sh->ns_mul), o.ndns);
	}
	return got != 0;
}

/* Responses of the resolver thread, built into frames there: out on this
 * worker's queue of the port each query came in on. */
static bool send_resolved(struct dp_worker *w)
{
	struct rte_mbuf *pkts[DP_BURST], *out[DP_BURST];
	unsigned n = rte_ring_sc_dequeue_burst(w->ret, (void **)pkts, DP_BURST, NULL);
	if (n == 0)
		return false;
	for (unsigned i = 0; i < w->nq; i++) {
		const struct dp_wq *wq = &w->q[i];
		uint16_t k = 0;
		for (unsigned j = 0; j < n; j++)
			if (pkts[j] && pkts[j]->port == wq->port) {
				out[k++] = pkts[j];
				pkts[j] = NULL;
			}
		uint16_t sent = tx_all(wq->port, wq->queue, out, k, &w->stats.c[DP_C_TX_FULL]);
		w->stats.c[DP_C_TX] += sent;
		w->stats.c[DP_C_RES_TX] += sent;
	}
	for (unsigned j = 0; j < n; j++)
		if (pkts[j])
			rte_pktmbuf_free(pkts[j]); /* a port this worker does not poll */
	return true;
}

/* The longest sleep on descriptors (the timeout, see idle()). */
#define DP_FD_SLEEP_MAX_NS 50000000L

static long fd_sleep_cap(const struct dp_shared *sh)
{
	return sh->idle_sleep_max_ns < DP_FD_SLEEP_MAX_NS ? DP_FD_SLEEP_MAX_NS
							  : sh->idle_sleep_max_ns;
}

bool dp_worker_idle_fds(struct dp_worker *w)
{
	w->npfd = 0;
	if (!w->sh->idle_fd || w->nq == 0)
		return false;
	unsigned n = 0;
	for (unsigned i = 0; i < w->nq; i++) {
		const struct dp_wq *wq = &w->q[i];
		if (wq->rx_fd < 0 || (wq->has_exc && wq->exc_fd < 0))
			return false;
		w->pfd[n++] = (struct pollfd){.fd = wq->rx_fd, .events = POLLIN};
		if (wq->has_exc)
			w->pfd[n++] = (struct pollfd){.fd = wq->exc_fd, .events = POLLIN};
	}
	w->npfd = n;
	return true;
}

/* On descriptors the spin before a sleep adapts between nothing and
 * idle_after_fd: longer after it paid off, shorter after it did not. */
static void spin_adapt(struct dp_worker *w, bool longer)
{
	uint64_t max = w->sh->idle_after_fd_tsc;
	if (longer)
		w->spin_tsc = w->spin_tsc == 0	      ? max / 8
			      : w->spin_tsc * 2 < max ? w->spin_tsc * 2
						      : max;
	else
		w->spin_tsc = w->spin_tsc > max / 8 ? w->spin_tsc / 2 : 0;
}

/* The end of a quiet spell (a poll found work). A spin that saw the
 * frame before any sleep paid off: spin longer next time. */
static void idle_end(struct dp_worker *w)
{
	if (w->npfd && w->sh->idle_adapt && !w->slept)
		spin_adapt(w, true);
	w->idle_since = 0;
}

/* An idle worker gives its core back. Once its queues have been empty for
 * idle_after it sleeps until a poll finds work: on its queues' descriptors
 * where it has them (the first frame wakes it, as a blocking server would
 * be), else in naps, which bound how late that frame is seen. A nap
 * doubles with each sleep of the quiet spell, from idle_sleep to
 * idle_sleep_max: right after traffic the worker looks often, a long-idle
 * one rarely (each sleep costs a system call and two context switches, a
 * few us of CPU on a VM). On descriptors the timeout is long from the
 * first sleep (it doubles only when the worker serves a resolver, whose
 * responses wake nothing). A worker on descriptors goes to sleep soon after
 * its queues empty (idle_after_fd): a frame wakes it, so only the CPU a
 * spin would burn between bursts is at stake, and light load arrives in
 * bursts (a generator's or a NIC's batch) with quiet gaps between. Under
 * load polls are never empty for idle_after,
 * so nothing changes; the system call is on the idle path only. Offline
 * while asleep, so that a snapshot swap never waits for it. */
static void idle(struct dp_worker *w)
{
	const struct dp_shared *sh = w->sh;
	uint64_t now = rte_rdtsc();
	if (w->idle_since == 0) {
		w->idle_since = now;
		w->slept = false;
		/* On descriptors the timeout is the cap from the first sleep:
		 * each timeout that expires is a wake-up with nothing to do,
		 * and growing from idle_sleep took a dozen of them per quiet
		 * spell (most of an idle worker's CPU under sparse queries). */
		w->nap_ns = w->npfd && !w->rdp ? fd_sleep_cap(sh) : sh->idle_sleep_ns;
		return;
	}
	uint64_t after = !w->npfd	  ? sh->idle_after_tsc
			 : sh->idle_adapt ? w->spin_tsc
					  : sh->idle_after_fd_tsc;
	if (now - w->idle_since < after)
		return;
	struct timespec ts = {.tv_sec = w->nap_ns / 1000000000L,
			      .tv_nsec = w->nap_ns % 1000000000L};
	rte_rcu_qsbr_thread_offline(sh->qsbr, w->idx);
	if (w->npfd) {
		int r = ppoll(w->pfd, w->npfd, &ts, NULL);
		/* The first sleep of a spell says whether the spin was too
		 * short: a frame that came within the longest spin (the
		 * wake-up's own delay included) would have been seen by
		 * it; one that came later, or none, was not worth spinning
		 * for. Traffic in bursts with quiet gaps (a generator's or
		 * a NIC's batches) takes the spin to nothing, dense traffic
		 * keeps it. */
		if (sh->idle_adapt && !w->slept)
			spin_adapt(w, r > 0 && rte_rdtsc() - w->idle_since < sh->idle_after_fd_tsc);
		w->slept = true;
		if (r > 0) {
			w->stats.c[DP_C_IDLE_WAKES]++;
			/* A descriptor in error would wake every sleep at once:
			 * nap instead from now on. */
			for (unsigned i = 0; i < w->npfd; i++)
				if (unlikely(w->pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL))) {
					w->npfd = 0;
					w->nap_ns = sh->idle_sleep_ns;
				}
		}
	} else {
		nanosleep(&ts, NULL);
	}
	rte_rcu_qsbr_thread_online(sh->qsbr, w->idx);
	w->stats.c[DP_C_IDLE_SLEEPS]++;
	/* On descriptors a frame ends the sleep, so the timeout only bounds
	 * how late the worker sees a stop or its resolver's responses (which
	 * wake nothing): long, unless it serves a resolver. */
	long cap = w->npfd && !w->rdp ? fd_sleep_cap(sh) : sh->idle_sleep_max_ns;
	if (w->nap_ns < cap)
		w->nap_ns = w->nap_ns * 2 < cap ? w->nap_ns * 2 : cap;
}

int dp_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct dp_shared *sh = w->sh;

	w->idle_since = 0;
	w->spin_tsc = sh->idle_after_fd_tsc;
	/* Naps are short: the kernel's default 50 us timer slack would more
	 * than double them. */
	if (sh->idle_sleep_ns)
		prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	rte_rcu_qsbr_thread_register(sh->qsbr, w->idx);
	rte_rcu_qsbr_thread_online(sh->qsbr, w->idx);
	while (!atomic_load_explicit(&sh->quit, memory_order_relaxed)) {
		/* One read per loop: the snapshot and what was built for it
		 * cannot be freed before this worker reports quiescence below,
		 * after its last use. */
		const struct snapmgr_live *live = snapmgr_current(sh->mgr);
		const struct p53_snapshot *snap = live ? live->snap : NULL;
		const struct control_load *ld = live ? live->state : NULL;
		w->gen = live ? live->generation : 0;
		w->ctx.health = ld ? ld->health : NULL;
		w->ctx.nhealth = ld ? ld->nhealth : 0;
		w->ctx.zone_dead = ld ? ld->zone_dead : NULL;
		w->ctx.nzone_dead = ld ? ld->nzone_dead : 0;
		w->ctx.fw = ld ? ld->fw : NULL;
		w->ctx.osign = ld ? ld->osign : NULL;
		bool busy = false;
		for (unsigned i = 0; i < w->nq; i++)
			busy |= poll_queue(w, &w->q[i], snap);
		if (w->rdp) {
			/* One wake-up per loop, and a system call only when the
			 * resolver thread sleeps. */
			if (w->kick) {
				resolver_nudge(w->rdp->cfg.res);
				w->kick = false;
			}
			busy |= send_resolved(w);
		}
		/* snap is not used past this point: idle() may go offline. */
		rte_rcu_qsbr_quiescent(sh->qsbr, w->idx);
		__atomic_store_n(&w->stats.loops, w->stats.loops + 1, __ATOMIC_RELAXED);
		if (busy || !sh->idle_sleep_ns) {
			if (w->idle_since)
				idle_end(w);
		} else {
			idle(w);
		}
	}
	rte_rcu_qsbr_thread_offline(sh->qsbr, w->idx);
	rte_rcu_qsbr_thread_unregister(sh->qsbr, w->idx);
	return 0;
}
