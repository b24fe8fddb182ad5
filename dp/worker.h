/* The per-lcore poll loop: rx burst, classify, answer in place, tx burst.
 *
 * A worker owns queue w of every service port (and of that port's exception
 * port), its counters and its engine context; it shares only read-only
 * configuration and the live snapshot pointer, which it reads once per burst
 * and releases by reporting an RCU quiescent state once per loop.
 */
#ifndef DP_WORKER_H
#define DP_WORKER_H

#include "dp/pkt.h"
#include "dp/stats.h"
#include "zones/answer/abuse.h"
#include "zones/answer/answer.h"

#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define DP_BURST     32
#define DP_MAX_PORTS 8

struct rte_rcu_qsbr;
struct snapmgr;
struct p53_fw;
struct qlog_ring;
struct dp_rdp;
struct rte_ring;

/* State shared by all workers and the control thread. */
struct dp_shared {
	struct snapmgr *mgr;	   /* the live snapshot and its control_load */
	struct rte_rcu_qsbr *qsbr; /* workers report quiescence here */
	atomic_bool quit;	   /* set by ctrl: leave the loop */
	/* Clocks for the abuse controls: milliseconds from the TSC since
	 * tsc0; the wall clock's seconds kept current by the control thread
	 * (cookie timestamps, which a fleet must agree on). */
	uint64_t tsc0, tsc_per_ms;
	uint64_t ns_mul; /* lathist_ns_mul(TSC hz) */
	/* Idle: after idle_after_tsc of empty polls (idle_after_fd_tsc when
	 * it sleeps on descriptors) a worker sleeps, first
	 * idle_sleep_ns, then each sleep of the quiet spell twice the last, up
	 * to idle_sleep_max_ns (idle_sleep_ns 0: it busy-polls always). With
	 * idle_fd it sleeps on its queues' descriptors when every queue has
	 * one, so the first frame wakes it; the sleep is then a timeout. */
	uint64_t idle_after_tsc, idle_after_fd_tsc;
	long idle_sleep_ns, idle_sleep_max_ns;
	bool idle_fd;
	/* On descriptors, idle_after_fd_tsc is the longest spin, and each
	 * worker adapts its own below it (dp_worker.spin_tsc) unless the
	 * operator fixed it (--idle-after-us). */
	bool idle_adapt;
	_Atomic uint32_t unix_s;
};

/* One (port, queue) a worker polls. */
struct dp_wq {
	const struct dp_svc *svc; /* per port: its MAC and the service addresses */
	uint16_t port;
	uint16_t queue;
	uint16_t exc_port; /* valid when has_exc */
	uint16_t sp;	   /* service port index (the resolver path's frames) */
	int rx_fd, exc_fd; /* pollable descriptors of the queues, or -1 (dp_port.rx_fd) */
	bool has_exc;
	bool notify_exc;   /* NOTIFY to the kernel (a secondary with an exception path) */
	unsigned tx_flags; /* DP_TX_CSUM_OFFLOAD when the port does checksums */
};

struct dp_worker {
	struct dp_stats stats; /* first: cache-line aligned, written only by this worker */
	_Alignas(DP_CACHE_LINE) struct p53_ctx ctx;
	struct dp_shared *sh;
	struct qlog_ring *qlog; /* query log ring; NULL = off */
	struct p53_abuse abuse; /* RRL table and cookie counters of this worker */
	/* The resolver path (dp/rdp.h); NULL = authoritative only. ret is
	 * this worker's return ring, kick set when a job awaits a nudge. */
	struct dp_rdp *rdp;
	struct rte_ring *ret;
	bool kick;
	uint64_t gen;		/* the live snapshot's generation, read once per loop */
	uint32_t now_ms, now_s; /* the abuse controls' clocks, set per burst */
	unsigned idx;		/* worker number: queue id and QSBR thread id */
	unsigned nq;
	struct dp_wq q[DP_MAX_PORTS];
	/* Idle: the quiet spell's start (TSC, 0 when busy), the next sleep,
	 * and the descriptors it sleeps on (npfd 0: timed naps). */
	uint64_t idle_since;
	long nap_ns;
	unsigned npfd;
	/* On descriptors with idle_adapt: how long the spell's empty polls
	 * go on before it sleeps, and whether it slept in this spell. */
	uint64_t spin_tsc;
	bool slept;
	struct pollfd pfd[2 * DP_MAX_PORTS];
};

/* Sets w->pfd from its queues' descriptors when idle_fd is on and every
 * queue it polls has one; returns whether it sleeps on them. */
bool dp_worker_idle_fds(struct dp_worker *w);

/* lcore entry point (rte_lcore_function_t); arg is a struct dp_worker. */
int dp_worker_main(void *arg);

#endif
