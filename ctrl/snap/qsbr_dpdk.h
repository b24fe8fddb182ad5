/* QSBR for port53d's lcores: the qsbr.h table over DPDK's rte_rcu_qsbr.
 *
 * Workers keep calling rte_rcu_qsbr_quiescent() inline on the handle from
 * qsbr_dpdk_rte(), with no indirect call on the hot path; the snapshot
 * manager uses the table to synchronise. Built only when DPDK is found.
 */
#ifndef P53_QSBR_DPDK_H
#define P53_QSBR_DPDK_H

#include "ctrl/snap/qsbr.h"

struct rte_rcu_qsbr;

/* A new QSBR variable for max_readers worker threads (ids 0..max-1). Plain
 * memory: usable before or without rte_eal_init. */
struct qsbr *qsbr_dpdk_new(unsigned max_readers);
/* Wraps an rte_rcu_qsbr the caller owns and keeps (destroy frees only the
 * wrapper). */
struct qsbr *qsbr_dpdk_wrap(struct rte_rcu_qsbr *v);
/* The underlying variable, for rte_rcu_qsbr_quiescent() in worker loops. */
struct rte_rcu_qsbr *qsbr_dpdk_rte(struct qsbr *q);

#endif
