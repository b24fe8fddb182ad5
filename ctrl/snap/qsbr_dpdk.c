/* The qsbr.h table over rte_rcu_qsbr (see qsbr_dpdk.h).
 *
 * rte_rcu_qsbr_synchronize() would wait forever on a stuck worker; the
 * snapshot manager wants a bounded wait so it can keep the old snapshot
 * (leak it) and report, rather than hang the control plane. Hence start +
 * non-blocking check in a loop with a deadline.
 */
#include "ctrl/snap/qsbr_dpdk.h"

#include <rte_common.h>
#include <rte_rcu_qsbr.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct qsbr_dpdk {
	struct qsbr q;
	struct rte_rcu_qsbr *v;
	bool owned;
};

static struct rte_rcu_qsbr *var(struct qsbr *q)
{
	return ((struct qsbr_dpdk *)q)->v;
}

static int d_register(struct qsbr *q, unsigned id)
{
	return rte_rcu_qsbr_thread_register(var(q), id) == 0 ? 0 : -1;
}

static void d_unregister(struct qsbr *q, unsigned id)
{
	rte_rcu_qsbr_thread_unregister(var(q), id);
}

static void d_online(struct qsbr *q, unsigned id)
{
	rte_rcu_qsbr_thread_online(var(q), id);
}

static void d_offline(struct qsbr *q, unsigned id)
{
	rte_rcu_qsbr_thread_offline(var(q), id);
}

static void d_quiescent(struct qsbr *q, unsigned id)
{
	rte_rcu_qsbr_quiescent(var(q), id);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int d_synchronize(struct qsbr *q, unsigned timeout_ms)
{
	uint64_t token = rte_rcu_qsbr_start(var(q));
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
	for (unsigned spins = 0; rte_rcu_qsbr_check(var(q), token, false) != 1; spins++) {
		if (mono_ns() > deadline)
			return -1;
		if (spins > 200) {
			struct timespec ts = {0, 20000};
			nanosleep(&ts, NULL);
		} else {
			rte_pause();
		}
	}
	return 0;
}

static void d_destroy(struct qsbr *q)
{
	struct qsbr_dpdk *d = (struct qsbr_dpdk *)q;
	if (d->owned)
		free(d->v);
	free(d);
}

static const struct qsbr_ops dpdk_ops = {
    .name = "rte_rcu_qsbr",
    .reader_register = d_register,
    .reader_unregister = d_unregister,
    .online = d_online,
    .offline = d_offline,
    .quiescent = d_quiescent,
    .synchronize = d_synchronize,
    .destroy = d_destroy,
};

struct qsbr *qsbr_dpdk_wrap(struct rte_rcu_qsbr *v)
{
	struct qsbr_dpdk *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->q.ops = &dpdk_ops;
	d->v = v;
	return &d->q;
}

struct qsbr *qsbr_dpdk_new(unsigned max_readers)
{
	size_t sz = rte_rcu_qsbr_get_memsize(max_readers);
	if (max_readers == 0 || sz == 1)
		return NULL;
	sz = RTE_ALIGN_CEIL(sz, RTE_CACHE_LINE_SIZE);
	struct rte_rcu_qsbr *v = aligned_alloc(RTE_CACHE_LINE_SIZE, sz);
	if (v == NULL || rte_rcu_qsbr_init(v, max_readers) != 0) {
		free(v);
		return NULL;
	}
	struct qsbr *q = qsbr_dpdk_wrap(v);
	if (q == NULL) {
		free(v);
		return NULL;
	}
	((struct qsbr_dpdk *)q)->owned = true;
	return q;
}

struct rte_rcu_qsbr *qsbr_dpdk_rte(struct qsbr *q)
{
	return var(q);
}
