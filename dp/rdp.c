/* port53d's resolver path (rdp.h). The reply hook runs on the resolver
 * thread, a control thread: it may take mbufs from the shared pool (no
 * per-lcore cache there, the pool's own multi-producer ring) and it is the
 * only producer of every worker's return ring. */
#include "dp/rdp.h"

#include "ctrl/control.h"
#include "zones/answer/fw.h"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static const char *const ctr_names[DP_RDP__COUNT] = {
    [DP_RDP_NOMBUF] = "drop_no_mbuf",
    [DP_RDP_TOO_BIG] = "drop_too_big",
    [DP_RDP_RET_FULL] = "drop_return_ring_full",
    [DP_RDP_TCP_FULL] = "tcp_ring_full",
};

static void count(struct dp_rdp *x, enum dp_rdp_ctr c)
{
	atomic_fetch_add_explicit(&x->ctr[c], 1, memory_order_relaxed);
}

/* On the resolver thread: the response into a frame, onto the worker's
 * return ring. */
static void frame_reply(void *ctx, const struct resolver_job *job, const uint8_t *resp, size_t len)
{
	struct dp_rdp *x = ctx;
	struct dp_rdp_link l;
	memcpy(&l, job->link, sizeof(l));
	if (l.sp >= x->cfg.nsp || l.worker >= x->cfg.nw || l.p.pl_off > DP_RDP_HDR_MAX)
		return;
	const struct dp_svc *svc = x->cfg.svc[l.sp];
	struct rte_mbuf *m = rte_pktmbuf_alloc(x->cfg.pool);
	if (m == NULL) {
		count(x, DP_RDP_NOMBUF);
		return;
	}
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	size_t bufcap = (size_t)m->buf_len - m->data_off;
	if (l.p.pl_off + len > bufcap || len > dp_dns_room(svc, &l.p, bufcap)) {
		count(x, DP_RDP_TOO_BIG);
		rte_pktmbuf_free(m);
		return;
	}
	memcpy(f, l.hdr, l.p.pl_off);
	memcpy(f + l.p.pl_off, resp, len);
	size_t flen = dp_reply_dns(svc, f, &l.p, len, 0); /* checksums in software */
	m->data_len = (uint16_t)flen;
	m->pkt_len = (uint32_t)flen;
	m->port = x->cfg.port[l.sp];
	m->ol_flags = 0;
	if (rte_ring_sp_enqueue(x->ret[l.worker], m) != 0) {
		count(x, DP_RDP_RET_FULL);
		rte_pktmbuf_free(m);
	}
}

int dp_rdp_view(const struct dp_rdp *x, const uint8_t *f, const struct dp_pkt *p,
		const struct p53_client *cl)
{
	struct sockaddr_storage local;
	memset(&local, 0, sizeof(local));
	if (p->family == 4) {
		struct sockaddr_in *v4 = (struct sockaddr_in *)&local;
		v4->sin_family = AF_INET;
		v4->sin_port = htons(DP_DNS_PORT);
		memcpy(&v4->sin_addr, f + p->l3_off + 16, 4);
	} else {
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&local;
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(DP_DNS_PORT);
		memcpy(&v6->sin6_addr, f + p->l3_off + 24, 16);
	}
	return rconf_view_of(x->cfg.rc, cl->family, cl->addr, &local);
}

void dp_rdp_fill(struct dp_rdp *x, struct resolver_job *j, unsigned worker, uint16_t sp,
		 const uint8_t *f, const struct dp_pkt *p, const struct p53_client *cl, int view,
		 uint32_t fw_rule)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); /* vDSO: no system call */
	j->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	j->fd = -1;
	j->reply = NULL;
	j->reply_job = frame_reply;
	j->reply_ctx = x;
	j->token = 0;
	j->peer_len = 0;
	j->client = *cl;
	j->view = (uint16_t)view;
	j->fw_rule = fw_rule;
	j->qlen = p->pl_len;
	struct dp_rdp_link *l = (struct dp_rdp_link *)(void *)j->link;
	l->p = *p;
	l->sp = sp;
	l->worker = (uint16_t)worker;
	memcpy(l->hdr, f, p->pl_off);
}

/* ---- TCP and TLS (tcpsrv's route hooks), on the TCP thread ------------- */

static const struct p53_snapshot *tcp_pick(void *arg, const struct p53_client *c,
					   const struct sockaddr_storage *local, const uint8_t *q,
					   size_t qlen, const struct p53_snapshot *pub, int *view)
{
	struct dp_rdp *x = arg;
	*view = rconf_view_of(x->cfg.rc, c->family, c->addr, local);
	return x->private ? resolver_pick(x->cfg.res, *view, q, qlen, pub) : pub;
}

static void tcp_reply(void *ctx, uint64_t token, const uint8_t *resp, size_t len)
{
	tcpsrv_deliver(ctx, token, resp, len);
}

/* A stream query (TCP, TLS, QUIC) for the resolver, on the listener's
 * thread, an online reader: the live firewall holds. reply(ctx, token)
 * delivers the answer; a full ring keeps the engine's answer (a stream
 * cannot drop one query). */
static bool stream_hand_over(struct dp_rdp *x, unsigned ring, int view, const struct p53_client *c,
			     const uint8_t *q, size_t qlen, const uint8_t *resp, size_t rlen,
			     uint32_t fw_rule,
			     void (*reply)(void *, uint64_t, const uint8_t *, size_t), void *ctx,
			     uint64_t token)
{
	if (view < 0 || !resolver_wants(resp, rlen) || !resolver_takes(q, qlen))
		return false;
	const struct snapmgr_live *live = snapmgr_current(x->cfg.mgr);
	const struct control_load *ld = live ? live->state : NULL;
	if (resolver_fw_decided(ld ? ld->fw : NULL, fw_rule))
		return false;
	struct resolver_job *j = resolver_slot(x->cfg.res, ring);
	if (j == NULL) {
		count(x, DP_RDP_TCP_FULL);
		resolver_ring_full(x->cfg.res);
		return false;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	j->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	j->fd = -1;
	j->reply = reply;
	j->reply_job = NULL;
	j->reply_ctx = ctx;
	j->token = token;
	j->peer_len = 0;
	j->client = *c;
	j->view = (uint16_t)view;
	j->fw_rule = fw_rule;
	j->qlen = (uint16_t)qlen;
	memcpy(j->q, q, qlen);
	resolver_commit(x->cfg.res, ring);
	resolver_kick(x->cfg.res);
	return true;
}

static bool tcp_hand_over(void *arg, int view, const struct p53_client *c,
			  const struct sockaddr_storage *local, const uint8_t *q, size_t qlen,
			  const uint8_t *resp, size_t rlen, uint32_t fw_rule, struct tcpsrv *t,
			  uint64_t token)
{
	(void)local;
	return stream_hand_over(arg, ((struct dp_rdp *)arg)->cfg.tcp, view, c, q, qlen, resp, rlen,
				fw_rule, tcp_reply, t, token);
}

/* ---- QUIC (doq's route hooks), on the QUIC thread ----------------------- */

static void quic_reply(void *ctx, uint64_t token, const uint8_t *resp, size_t len)
{
#ifdef P53_HAVE_DOQ
	doq_deliver(ctx, token, resp, len);
#else
	(void)ctx, (void)token, (void)resp, (void)len;
#endif
}

static bool quic_hand_over(void *arg, int view, const struct p53_client *c, const uint8_t *q,
			   size_t qlen, const uint8_t *resp, size_t rlen, uint32_t fw_rule,
			   struct doq *d, uint64_t token)
{
	return stream_hand_over(arg, ((struct dp_rdp *)arg)->cfg.quic, view, c, q, qlen, resp, rlen,
				fw_rule, quic_reply, d, token);
}

/* ---- set-up -------------------------------------------------------------- */

struct dp_rdp *dp_rdp_new(const struct dp_rdp_cfg *cfg, char *err, size_t errlen)
{
	struct dp_rdp *x = calloc(1, sizeof(*x));
	if (x == NULL || (x->ret = calloc(cfg->nw, sizeof(*x->ret))) == NULL) {
		snprintf(err, errlen, "resolver path: out of memory");
		free(x);
		return NULL;
	}
	x->cfg = *cfg;
	x->private = resolver_has_private(cfg->res);
	x->share = resolver_share(cfg->res);
	x->route = (struct tcpsrv_route){tcp_pick, tcp_hand_over, x};
	x->quic_route = (struct doq_route){tcp_pick, quic_hand_over, x};
	for (unsigned i = 0; i < cfg->nw; i++) {
		char name[RTE_RING_NAMESIZE];
		snprintf(name, sizeof(name), "p53_rdp%u", i);
		x->ret[i] = rte_ring_create(name, DP_RDP_RING, SOCKET_ID_ANY,
					    RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (x->ret[i] == NULL) {
			snprintf(err, errlen, "resolver path: ring %s: %s", name,
				 rte_strerror(rte_errno));
			dp_rdp_free(x);
			return NULL;
		}
	}
	return x;
}

void dp_rdp_free(struct dp_rdp *x)
{
	if (x == NULL)
		return;
	for (unsigned i = 0; x->ret && i < x->cfg.nw; i++) {
		if (x->ret[i] == NULL)
			continue;
		void *m;
		while (rte_ring_sc_dequeue(x->ret[i], &m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(x->ret[i]);
	}
	free(x->ret);
	free(x);
}

void dp_rdp_counters(const struct dp_rdp *x, api_emit_fn emit, void *sink)
{
	if (x == NULL)
		return;
	for (unsigned c = 0; c < DP_RDP__COUNT; c++)
		emit(sink, "resolver_path", "outcome", ctr_names[c], 0,
		     atomic_load_explicit(&x->ctr[c], memory_order_relaxed));
	for (unsigned i = 0; i < x->cfg.nw; i++)
		emit(sink, "resolver_queue", "state", "return", i, rte_ring_count(x->ret[i]));
}
