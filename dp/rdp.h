/* port53d's resolver path (docs/dataplane.md, "The resolver path";
 * docs/resolver.md): what joins the workers, the TCP/TLS thread and the
 * resolver thread of ctrl/resolv.
 *
 * A worker answers its own names and the view's private zones as before.
 * A query the engine is not authoritative for, from a client in a view, is
 * written into the worker's own single-producer ring of the resolver
 * (resolver_slot: no copy beyond the query itself) together with the query
 * frame's L2-L4 headers; the worker frees the mbuf and goes on. The
 * resolver thread (a control thread, never on a worker's core) answers it
 * from its cache or through libunbound and calls dp_rdp's reply, which
 * builds the response frame in a new mbuf (addresses and ports swapped,
 * checksums in software) and puts it on the worker's return ring, an
 * rte_ring with one producer (the resolver thread) and one consumer (the
 * worker). The worker sends what it finds there on its own queue of the
 * port the query came in on. A full ring drops and counts, on either side;
 * nothing on a worker waits.
 */
#ifndef DP_RDP_H
#define DP_RDP_H

#include "ctrl/api/api.h"
#include "ctrl/net/doq.h"
#include "ctrl/net/tcpsrv.h"
#include "ctrl/resolv/rconf.h"
#include "ctrl/resolv/resolver.h"
#include "ctrl/snap/snapmgr.h"
#include "dp/pkt.h"
#include "dp/worker.h"
#include "zones/answer/answer.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_RDP_RING 1024 /* responses waiting in each worker's return ring */

struct rte_mempool;
struct rte_ring;

/* Carried in resolver_job.link: how to turn the response into a frame. */
struct dp_rdp_link {
	struct dp_pkt p; /* the query frame's parse */
	uint16_t sp;	 /* service port index */
	uint16_t worker;
	uint8_t hdr[RESOLVER_LINK_MAX - sizeof(struct dp_pkt) - 4]; /* frame up to p.pl_off */
};
_Static_assert(sizeof(struct dp_rdp_link) <= RESOLVER_LINK_MAX, "link too large");
#define DP_RDP_HDR_MAX sizeof(((struct dp_rdp_link *)0)->hdr)

struct dp_rdp_cfg {
	const struct rconf *rc;
	struct resolver *res;
	struct snapmgr *mgr; /* the live firewall, for the TCP thread */
	struct rte_mempool *pool;
	unsigned nw;   /* workers: producers 0..nw-1 */
	unsigned tcp;  /* the TCP/TLS thread's producer number */
	unsigned quic; /* the QUIC thread's */
	unsigned nsp;
	const struct dp_svc *svc[DP_MAX_PORTS];
	uint16_t port[DP_MAX_PORTS];
};

enum dp_rdp_ctr {
	DP_RDP_NOMBUF,	 /* a response with no mbuf free: dropped */
	DP_RDP_TOO_BIG,	 /* a response larger than the frame allows: dropped */
	DP_RDP_RET_FULL, /* a worker's return ring full: dropped */
	DP_RDP_TCP_FULL, /* TCP/TLS/QUIC: the ring full, the engine's answer stands */
	DP_RDP__COUNT
};

struct dp_rdp {
	struct dp_rdp_cfg cfg;
	bool private;		    /* some view has private zones: views are found first */
	const struct rshare *share; /* resolver answers the workers serve themselves */
	struct tcpsrv_route route;
	struct doq_route quic_route;
	_Atomic uint64_t ctr[DP_RDP__COUNT];
	struct rte_ring **ret; /* per worker */
};

/* The return rings; NULL with a message in err. */
struct dp_rdp *dp_rdp_new(const struct dp_rdp_cfg *cfg, char *err, size_t errlen);
/* After the resolver is halted and the workers stopped: frees what is
 * left in the rings, then the rings. */
void dp_rdp_free(struct dp_rdp *x);
void dp_rdp_counters(const struct dp_rdp *x, api_emit_fn emit, void *sink);

/* The view of the client cl that sent the query frame f (parsed as p):
 * by source address and by the service address and port 53 it asked;
 * -1 when none. */
int dp_rdp_view(const struct dp_rdp *x, const uint8_t *f, const struct dp_pkt *p,
		const struct p53_client *cl);
/* Fills the job in a ring slot for a worker: the query frame's headers,
 * the reply hook, the client and view (the query itself is already in
 * j->q). */
void dp_rdp_fill(struct dp_rdp *x, struct resolver_job *j, unsigned worker, uint16_t sp,
		 const uint8_t *f, const struct dp_pkt *p, const struct p53_client *cl, int view,
		 uint32_t fw_rule);

#endif
