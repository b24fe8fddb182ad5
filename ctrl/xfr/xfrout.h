/* Zone transfers out: AXFR (RFC 5936) and IXFR (RFC 1995) answered from the
 * published snapshots, over TCP and TLS (XoT, RFC 9103), with TSIG and
 * address rules; NOTIFY (RFC 1996) sent when a zone's serial changes.
 *
 * The control side calls xfrout_publish() after every snapshot swap: each
 * zone's records become an image (zimage.h), and when a zone's SOA serial
 * moved, the difference from the previous image is kept, up to ixfr_depth
 * per zone, for IXFR. The TCP server (tcpsrv.c) hands every query to
 * xfrout_query() first: transfers are answered here and streamed message by
 * message through xfrout_next(), as the connection's output backlog allows;
 * anything else goes on to the answer engine.
 */
#ifndef P53_XFROUT_H
#define P53_XFROUT_H

#include "ctrl/api/api.h"
#include "ctrl/xfr/acl.h"
#include "ctrl/xfr/tsig.h"
#include "zones/answer/answer.h"
#include "zones/answer/snapshot.h"
#include "zones/common/err.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct xfrout_cfg {
	const struct tsig_keys *keys; /* not owned; outlives the xfrout */
	const char *const *allow;     /* acl.h rules for AXFR/IXFR; none = all refused */
	size_t nallow;
	/* NOTIFY targets: "ADDR[:PORT] [key NAME]", sent for every zone whose
	 * serial changes. */
	const char *const *notify;
	size_t nnotify;
	unsigned ixfr_depth; /* differences kept per zone; 0 = 16 */
	const char *name;    /* log prefix */
	/* NULL = pthread_create (the NOTIFY sender's thread). */
	int (*spawn)(pthread_t *t, const char *name, void *(*fn)(void *), void *arg);
};

struct xfrout;
struct xfrout_job;

struct xfrout *xfrout_new(const struct xfrout_cfg *cfg, struct p53_err *err);
void xfrout_free(struct xfrout *x);

/* After a swap, from the loading thread while the snapshot is live. */
void xfrout_publish(struct xfrout *x, const struct p53_snapshot *snap);

enum xfrout_rc {
	XFROUT_PASS,   /* not a transfer: answer it as usual */
	XFROUT_ANSWER, /* one message in resp (an error, or an up-to-date IXFR) */
	XFROUT_STREAM, /* *job holds the answer's messages */
};
/* tls: the query came over TLS (rules with "tls" allow only those). */
enum xfrout_rc xfrout_query(struct xfrout *x, const uint8_t *q, size_t qlen,
			    const struct p53_client *c, bool tls, uint8_t *resp, size_t cap,
			    size_t *rlen, struct xfrout_job **job);
/* The answer's next message into buf; 0 when all were given. */
size_t xfrout_next(struct xfrout_job *j, uint8_t *buf, size_t cap);
void xfrout_job_free(struct xfrout_job *j);

/* Counters (xfr_out{event}) for the control API. */
void xfrout_counters(struct xfrout *x, api_emit_fn emit, void *sink);

#endif
