/* Glue between port53d and the transport threads of ctrl/: which sockets,
 * which QSBR readers, and how a thread finds the per-load state (health,
 * firewall) the workers use. */
#include "dp/xport.h"

#include "ctrl/doq.h"
#include "ctrl/xlisten.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DOT_PORT   853
#define MAX_LISTEN (2 * DP_MAX_ADDRS)

struct dp_xport {
	struct dp_xport_cfg cfg;
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
	ctx->fw = ld ? ld->fw : NULL;
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
	int fds[MAX_LISTEN];

	if (cfg->quic) {
#ifdef P53_HAVE_DOQ
		if (!cfg->tls_cert || !cfg->tls_key) {
			p53_err_set(err, P53_EINVAL, "QUIC needs --tls-cert and --tls-key");
			goto fail;
		}
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
#ifdef P53_HAVE_DOQ
	doq_stop(x->doq);
#endif
	free(x);
}
