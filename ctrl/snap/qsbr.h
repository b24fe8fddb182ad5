/* Reader quiescence for the snapshot manager (quiescent-state-based RCU).
 *
 * Readers (DPDK workers, the kernel-socket loop) load the live snapshot
 * pointer, use it, and report a quiescent state once they hold no reference
 * to it; a reader that blocks (epoll_wait) goes offline first so it never
 * holds up a writer. The writer publishes a new pointer, then synchronises:
 * once every online reader has reported, nobody can still see the old
 * snapshot and it is freed. Readers never lock, never wait.
 *
 * One table of functions, two implementations chosen once at start-up:
 * DPDK's rte_rcu_qsbr for port53d's lcores (qsbr_dpdk.c, built with DPDK) and
 * a portable one on C11 atomics (qsbr.c) for the kernel-socket server and the
 * tests. Reader ids are small integers, 0 .. max_readers - 1.
 */
#ifndef P53_QSBR_H
#define P53_QSBR_H

#include <stdbool.h>

struct qsbr;

struct qsbr_ops {
	const char *name;
	int (*reader_register)(struct qsbr *q, unsigned id);
	void (*reader_unregister)(struct qsbr *q, unsigned id);
	/* A registered reader starts offline. */
	void (*online)(struct qsbr *q, unsigned id);
	void (*offline)(struct qsbr *q, unsigned id);
	void (*quiescent)(struct qsbr *q, unsigned id);
	/* Waits until every reader online now has reported a quiescent state
	 * or gone offline. Never call it from an online reader. Returns 0, or
	 * -1 after timeout_ms (the caller must then not free). */
	int (*synchronize)(struct qsbr *q, unsigned timeout_ms);
	void (*destroy)(struct qsbr *q);
};

/* Implementations embed this first. */
struct qsbr {
	const struct qsbr_ops *ops;
};

static inline int qsbr_reader_register(struct qsbr *q, unsigned id)
{
	return q->ops->reader_register(q, id);
}
static inline void qsbr_reader_unregister(struct qsbr *q, unsigned id)
{
	q->ops->reader_unregister(q, id);
}
static inline void qsbr_online(struct qsbr *q, unsigned id)
{
	q->ops->online(q, id);
}
static inline void qsbr_offline(struct qsbr *q, unsigned id)
{
	q->ops->offline(q, id);
}
static inline void qsbr_quiescent(struct qsbr *q, unsigned id)
{
	q->ops->quiescent(q, id);
}
static inline int qsbr_synchronize(struct qsbr *q, unsigned timeout_ms)
{
	return q->ops->synchronize(q, timeout_ms);
}
static inline void qsbr_destroy(struct qsbr *q)
{
	if (q)
		q->ops->destroy(q);
}

/* Portable implementation for up to max_readers (at most 64) threads. */
struct qsbr *qsbr_simple_new(unsigned max_readers);

#endif
