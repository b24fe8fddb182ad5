/* Glue between port53d and the transport threads of ctrl/: which sockets,
 * which QSBR readers, and how a thread finds the per-load state (health,
 * firewall) the workers use. */
#include "dp/xport.h"

#include "ctrl/net/doq.h"
#include "ctrl/net/dot.h"
#include "ctrl/net/tcpsrv.h"
#include "ctrl/net/xlisten.h"
#include "ctrl/xfr/notifyd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DNS_PORT   53
#define DOT_PORT   853
#define DOH_PORT   443
#define MAX_LISTEN (2 * DP_MAX_ADDRS)

struct dp_xport {
	struct dp_xport_cfg cfg;
	struct dot_tls *tls;
	struct dot_tls *doh_tls;
	struct tcpsrv *tcp;
	struct notifyd *notify;
#ifdef P53_HAVE_DOQ
	struct doq *doq;
#endif
};

/* The per-load state (control_load) into an answer context. */
static void bind_load(const void *state, struct p53_ctx *ctx)
{
	const struct control_load *ld = state;
	ctx->health = ld ? ld->health : NULL;
	ctx->nhealth = ld ? ld->nhealth : 0;
	ctx->zone_dead = ld ? ld->zone_dead : NULL;
	ctx->nzone_dead = ld ? ld->nzone_dead : 0;
	ctx->fw = ld ? ld->fw : NULL;
	ctx->osign = ld ? ld->osign : NULL;
}

static size_t svc_addrs(const struct dp_svc *svc, struct xlisten_addr *out)
{
	size_t n = 0;
	for (unsigned i = 0; i < svc->n4; i++) {
		out[n].family = 4;
		memcpy(out[n++].addr, svc->v4[i], 4);
	}
	for (unsigned i = 0; i < svc->n6; i++) {
		out[n].family = 6;
		memcpy(out[n++].addr, svc->v6[i], 16);
	}
	return n;
}

struct dp_xport *dp_xport_start(const struct dp_xport_cfg *cfg, struct p53_err *err)
{
	struct dp_xport *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	x->cfg = *cfg;
	struct xlisten_addr addrs[MAX_LISTEN];
	size_t na = svc_addrs(cfg->svc, addrs);
	int fds[MAX_LISTEN], tfds[MAX_LISTEN], hfds[MAX_LISTEN];
	const char *hcert = cfg->doh_cert ? cfg->doh_cert : cfg->tls_cert;
	const char *hkey = cfg->doh_key ? cfg->doh_key : cfg->tls_key;

	if ((cfg->tls || cfg->quic) && (!cfg->tls_cert || !cfg->tls_key)) {
		p53_err_set(err, P53_EINVAL, "TLS and QUIC need --tls-cert and --tls-key");
		goto fail;
	}
	if (cfg->tls) {
		char warn[512];
		if ((x->tls = dot_tls_new(cfg->tls_cert, cfg->tls_key, warn, sizeof(warn), err)) ==
		    NULL)
			goto fail;
		if (warn[0])
			fprintf(stderr, "port53d: warning: %s\n", warn);
	}
	if (cfg->doh && (!hcert || !hkey)) {
		p53_err_set(err, P53_EINVAL,
			    "DoH needs --doh-cert and --doh-key (or --tls-cert, --tls-key)");
		goto fail;
	}
	if (cfg->doh) {
		char warn[512];
		if ((x->doh_tls = dot_tls_new_alpn(hcert, hkey, "h2", warn, sizeof(warn), err)) ==
		    NULL)
			goto fail;
		if (warn[0])
			fprintf(stderr, "port53d: warning: %s\n", warn);
	}
	if (cfg->tcp || cfg->tls || cfg->doh) {
		size_t nt = 0, ns = 0, nh = 0;
		if (cfg->tcp &&
		    xlisten_open(cfg->netns, addrs, na, DNS_PORT, SOCK_STREAM, fds, err) != 0)
			goto fail;
		nt = cfg->tcp ? na : 0;
		if (cfg->tls &&
		    xlisten_open(cfg->netns, addrs, na, DOT_PORT, SOCK_STREAM, tfds, err) != 0) {
			for (size_t i = 0; i < nt; i++)
				close(fds[i]);
			goto fail;
		}
		ns = cfg->tls ? na : 0;
		if (cfg->doh &&
		    xlisten_open(cfg->netns, addrs, na, cfg->doh_port ? cfg->doh_port : DOH_PORT,
				 SOCK_STREAM, hfds, err) != 0) {
			for (size_t i = 0; i < nt; i++)
				close(fds[i]);
			for (size_t i = 0; i < ns; i++)
				close(tfds[i]);
			goto fail;
		}
		nh = cfg->doh ? na : 0;
		struct tcpsrv_cfg tc = {
		    .fds = fds,
		    .nfds = nt,
		    .tls_fds = tfds,
		    .ntls_fds = ns,
		    .tls = x->tls,
		    .doh_fds = hfds,
		    .ndoh_fds = nh,
		    .doh_tls = x->doh_tls,
		    .doh = cfg->doh_lim,
		    .mgr = control_mgr(cfg->ctl),
		    .qsbr = cfg->qsbr,
		    .reader_id = cfg->nworkers + DP_XPORT_TCP,
		    .answer = cfg->answer,
		    .worker = cfg->nworkers + DP_XPORT_TCP,
		    .qlog = control_qlog_ring(cfg->ctl, cfg->nworkers + DP_XPORT_TCP),
		    .lim = cfg->tcp_lim,
		    .name = "port53d",
		    .spawn = cfg->spawn,
		    .xfr = control_xfrout(cfg->ctl),
		    .notify = control_xfrin(cfg->ctl),
		    .route = cfg->route,
		};
		if ((x->tcp = tcpsrv_start(&tc, err)) == NULL)
			goto fail;
	}
	/* A secondary takes NOTIFY over UDP: the workers hand it to the
	 * kernel (worker.c), which delivers it here. */
	if (control_xfrin(cfg->ctl)) {
		if (xlisten_open(cfg->netns, addrs, na, DNS_PORT, SOCK_DGRAM, fds, err) != 0)
			goto fail;
		struct notifyd_cfg nc = {
		    .fds = fds,
		    .nfds = na,
		    .xfrin = control_xfrin(cfg->ctl),
		    .name = "port53d",
		    .spawn = cfg->spawn,
		};
		if ((x->notify = notifyd_start(&nc, err)) == NULL)
			goto fail;
	}
	if (cfg->quic) {
#ifdef P53_HAVE_DOQ
		if (xlisten_open(cfg->netns, addrs, na, DOT_PORT, SOCK_DGRAM, fds, err) != 0)
			goto fail;
		struct doq_cfg qc = {
		    .fds = fds,
		    .nfds = na,
		    .cert = cfg->tls_cert,
		    .key = cfg->tls_key,
		    .mgr = control_mgr(cfg->ctl),
		    .qsbr = cfg->qsbr,
		    .reader_id = cfg->nworkers + DP_XPORT_QUIC,
		    .answer = cfg->answer,
		    .worker = cfg->nworkers + DP_XPORT_QUIC,
		    .bind = bind_load,
		    .qlog = control_qlog_ring(cfg->ctl, cfg->nworkers + DP_XPORT_QUIC),
		    .idle_ms = cfg->quic_idle_ms,
		    .retry_always = cfg->quic_retry,
		    .route = cfg->quic_route,
		    .name = "port53d",
		    .spawn = cfg->spawn,
		};
		if ((x->doq = doq_start(&qc, err)) == NULL)
			goto fail;
#else
		p53_err_set(err, P53_ENOTSUP, "built without ngtcp2: no DNS over QUIC");
		goto fail;
#endif
	}
	return x;
fail:
	dp_xport_stop(x);
	return NULL;
}

void dp_xport_reload(struct dp_xport *x)
{
	if (x == NULL)
		return;
	if (x->tls) {
		struct p53_err err = {0};
		char warn[512];
		if (dot_tls_reload(x->tls, warn, sizeof(warn), &err) != 0)
			fprintf(stderr,
				"port53d: TLS certificate reload failed, old one stays: %s\n",
				err.msg);
		else
			fprintf(stderr, "port53d: TLS certificate reloaded%s%s\n",
				warn[0] ? ": " : "", warn);
	}
	if (x->doh_tls) {
		struct p53_err err = {0};
		char warn[512];
		if (dot_tls_reload(x->doh_tls, warn, sizeof(warn), &err) != 0)
			fprintf(stderr,
				"port53d: DoH certificate reload failed, old one stays: %s\n",
				err.msg);
	}
#ifdef P53_HAVE_DOQ
	if (x->doq) {
		struct p53_err err = {0};
		if (doq_reload_tls(x->doq, &err) != 0)
			fprintf(stderr,
				"port53d: QUIC certificate reload failed, old one stays: %s\n",
				err.msg);
	}
#endif
}

void dp_xport_counters(const struct dp_xport *x, api_emit_fn emit, void *sink)
{
	if (x == NULL)
		return;
	if (x->tcp)
		tcpsrv_counters(x->tcp, emit, sink);
	notifyd_counters(x->notify, emit, sink);
	if (x->tls) {
		struct dot_stats st;
		dot_tls_stats(x->tls, &st);
		unsigned w = x->cfg.nworkers + DP_XPORT_TCP;
		emit(sink, "tls", "event", "handshakes", w, st.handshakes);
		emit(sink, "tls", "event", "handshake_failures", w, st.failures);
		emit(sink, "tls", "event", "alpn_refused", w, st.alpn_refused);
	}
#ifdef P53_HAVE_DOQ
	if (x->doq)
		doq_counters(x->doq, emit, sink);
#else
	(void)emit;
	(void)sink;
#endif
}

void dp_xport_stop(struct dp_xport *x)
{
	if (x == NULL)
		return;
	tcpsrv_stop(x->tcp);
	notifyd_stop(x->notify);
#ifdef P53_HAVE_DOQ
	doq_stop(x->doq);
#endif
	dot_tls_free(x->tls); /* after the TCP thread: its sessions use it */
	dot_tls_free(x->doh_tls);
	free(x);
}
