/* Per-core counters of the data plane.
 *
 * Each worker owns one struct dp_stats and is its only writer; readers (the
 * control thread printing on SIGUSR1 or at exit) read without locking. A
 * 64-bit aligned load cannot tear on the 64-bit targets we build for, so a
 * reader sees each counter either before or after an increment; totals are a
 * consistent-enough snapshot for operators, never for accounting.
 */
#ifndef DP_STATS_H
#define DP_STATS_H

#include "ctrl/api/lathist.h"
#include "dp/pkt.h"
#include "zones/answer/answer.h"

#include <stdint.h>
#include <stdio.h>

#define DP_CACHE_LINE 64

enum dp_ctr {
	DP_C_RX,	    /* frames received from service ports */
	DP_C_TX,	    /* frames sent on service ports (replies + from kernel) */
	DP_C_TX_FULL,	    /* replies tx_burst did not take: freed */
	DP_C_ANSWERED,	    /* DNS responses built by p53_answer */
	DP_C_ENGINE_DROP,   /* p53_answer returned 0 */
	DP_C_NO_SNAPSHOT,   /* DNS with no snapshot loaded: dropped */
	DP_C_MULTISEG,	    /* chained mbufs: dropped (we never enable scatter) */
	DP_C_ARP_REPLY,	    /* ARP replies sent */
	DP_C_NA_REPLY,	    /* neighbour advertisements sent */
	DP_C_TO_KERNEL,	    /* frames handed to the exception port */
	DP_C_FROM_KERNEL,   /* frames the kernel sent, forwarded to the service port */
	DP_C_KERNEL_DROP,   /* kernel-bound with no exception path, or its queue full */
	DP_C_IDLE_SLEEPS,   /* sleeps taken after idle_after of empty polls */
	DP_C_IDLE_WAKES,    /* sleeps on the queues' descriptors ended by a frame */
	DP_C_RES_HANDED,    /* queries handed to the resolver thread */
	DP_C_RES_RING_FULL, /* for the resolver, its ring full: dropped (the client retries) */
	DP_C_RES_TX,	    /* resolver responses sent on the service port */
	DP_C_NOTIFY_KERNEL, /* NOTIFY handed to the kernel for the secondary */
	DP_C_RES_CACHE_HIT, /* resolver answers served by the worker from the shared cache */
	DP_C__COUNT
};

struct dp_stats {
	_Alignas(DP_CACHE_LINE) uint64_t c[DP_C__COUNT];
	uint64_t reason[DP_R__COUNT]; /* classification outcome, see pkt.h */
	uint64_t loops;		      /* poll loops: node health's heartbeat */
	uint64_t rcode[16];	      /* answered, by RCODE in the response header */
	uint64_t first_rx_tsc;	      /* 0 until the first frame */
	uint64_t last_rx_tsc;
	uint64_t busy_tsc;  /* cycles in polls that received frames */
	struct lathist lat; /* answers by the time their burst took */
};

const char *dp_ctr_name(enum dp_ctr c);

/* Prints totals over n workers (and per-worker columns when n > 1):
 * one "name value [value per worker...]" line per non-zero counter, so tests
 * can parse it. engine may be NULL; else n engine contexts. */
void dp_stats_print(FILE *out, const struct dp_stats *const *st,
		    const struct p53_ctx *const *engine, unsigned n);

#endif
