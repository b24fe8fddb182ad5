/* port53d's transports beside UDP (docs/transports.md): DNS over TCP (53),
 * TLS (853), HTTPS (443, HTTP/2) and QUIC (UDP 853), answered by in-process control threads from
 * the workers' snapshot manager, each a reader of the same QSBR variable.
 *
 * The packets reach the kernel through the exception path (TAP or
 * virtio-user) or, in AF_XDP mode, because the XDP program passes
 * everything but UDP/53; these threads read them from kernel sockets bound
 * to the service addresses, in the namespace that holds them (netns).
 */
#ifndef DP_XPORT_H
#define DP_XPORT_H

#include "ctrl/api/api.h"
#include "ctrl/control.h"
#include "ctrl/snap/qsbr.h"
#include "ctrl/net/doq.h"
#include "ctrl/net/tcpsrv.h"
#include "ctrl/snap/snapmgr.h"
#include "dp/pkt.h"
#include "zones/answer/answer.h"
#include "zones/common/err.h"

#include <pthread.h>
#include <stdbool.h>

/* QSBR readers and firewall scratches the transports take after the
 * workers': ids nworkers + DP_XPORT_*. */
enum { DP_XPORT_TCP, DP_XPORT_QUIC, DP_XPORT_READERS };

struct dp_xport_cfg {
	bool tcp;			/* DNS over TCP on port 53 */
	bool tls;			/* DNS over TLS on port 853 (needs the certificate) */
	bool quic;			/* DNS over QUIC on UDP 853 (needs the certificate) */
	bool quic_retry;		/* Retry every new QUIC connection (doq.h) */
	unsigned quic_idle_ms;		/* QUIC idle timeout; 0: 10000 */
	const char *tls_cert, *tls_key; /* PEM files for TLS and QUIC */
	bool doh;			/* DNS over HTTPS on doh_port (needs a certificate) */
	unsigned doh_port;		/* 0: 443 */
	const char *doh_cert, *doh_key; /* PEM for DoH; NULL: tls_cert, tls_key */
	struct doh_limits doh_lim;	/* path, streams; zeros: defaults */
	struct tcpsrv_limits tcp_lim;	/* zeros: the defaults */
	const char *netns;		/* where the listeners live; NULL: port53d's own */
	const struct dp_svc *svc;	/* the service addresses */
	struct control *ctl;		/* snapshot manager, query-log rings */
	struct qsbr *qsbr;
	unsigned nworkers; /* first reader id / firewall scratch index */
	const struct p53_answer_cfg *answer;
	int (*spawn)(pthread_t *t, const char *name, void *(*fn)(void *), void *arg);
	/* Views and the resolver for TCP and TLS (dp/rdp.h); NULL = none. */
	const struct tcpsrv_route *route;
	const struct doq_route *quic_route;
};

struct dp_xport;

/* Opens the listeners and starts the threads; NULL with err set. With
 * nothing enabled, returns a handle that does nothing. */
struct dp_xport *dp_xport_start(const struct dp_xport_cfg *cfg, struct p53_err *err);
/* SIGHUP: reloads the TLS certificate and key; a bad file is reported and
 * the old ones stay. */
void dp_xport_reload(struct dp_xport *x);
void dp_xport_counters(const struct dp_xport *x, api_emit_fn emit, void *sink);
void dp_xport_stop(struct dp_xport *x);

#endif
