/* Portable QSBR on C11 atomics (the scheme of DPDK's rte_rcu_qsbr, reduced).
 *
 * A global token counts grace periods. Each reader publishes the last token
 * it has seen (0 = offline). A writer that has published a new pointer bumps
 * the token to t and waits until every reader shows 0 or a value >= t: such a
 * reader passed a quiescent point after the bump, hence after the pointer
 * store, and can only see the new pointer from then on.
 *
 * Everything on the reader side is seq_cst: going online must be ordered
 * before the reader's next pointer load, or a writer that saw it offline
 * could free what it is about to read. The reader cost is one load and, at
 * most once per grace period, one store: negligible beside a loop iteration.
 */
#include "ctrl/snap/qsbr.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define SIMPLE_MAX 64

struct reader {
	_Alignas(64) _Atomic uint64_t seen; /* 0 = offline */
	atomic_bool registered;
};

struct qsbr_simple {
	struct qsbr q;
	unsigned max;
	_Alignas(64) _Atomic uint64_t token;
	struct reader r[SIMPLE_MAX];
};

static struct qsbr_simple *simple(struct qsbr *q)
{
	return (struct qsbr_simple *)q;
}

static int s_register(struct qsbr *q, unsigned id)
{
	struct qsbr_simple *s = simple(q);
	if (id >= s->max)
		return -1;
	atomic_store(&s->r[id].seen, 0);
	atomic_store(&s->r[id].registered, true);
	return 0;
}

static void s_unregister(struct qsbr *q, unsigned id)
{
	struct qsbr_simple *s = simple(q);
	atomic_store(&s->r[id].seen, 0);
	atomic_store(&s->r[id].registered, false);
}

static void s_online(struct qsbr *q, unsigned id)
{
	struct qsbr_simple *s = simple(q);
	atomic_store(&s->r[id].seen, atomic_load(&s->token));
	atomic_thread_fence(memory_order_seq_cst);
}

static void s_offline(struct qsbr *q, unsigned id)
{
	atomic_store_explicit(&simple(q)->r[id].seen, 0, memory_order_release);
}

static void s_quiescent(struct qsbr *q, unsigned id)
{
	struct qsbr_simple *s = simple(q);
	uint64_t t = atomic_load_explicit(&s->token, memory_order_acquire);
	if (atomic_load_explicit(&s->r[id].seen, memory_order_relaxed) != t)
		atomic_store_explicit(&s->r[id].seen, t, memory_order_release);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int s_synchronize(struct qsbr *q, unsigned timeout_ms)
{
	struct qsbr_simple *s = simple(q);
	uint64_t t = atomic_fetch_add(&s->token, 1) + 1;
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
	for (unsigned i = 0; i < s->max; i++) {
		if (!atomic_load(&s->r[i].registered))
			continue;
		/* Spin briefly (a loop iteration is microseconds), then sleep
		 * so a long wait does not burn a core the readers need. */
		for (unsigned spins = 0;; spins++) {
			uint64_t v = atomic_load(&s->r[i].seen);
			if (v == 0 || v >= t)
				break;
			if (mono_ns() > deadline)
				return -1;
			if (spins > 200) {
				struct timespec ts = {0, 20000};
				nanosleep(&ts, NULL);
			}
		}
	}
	return 0;
}

static void s_destroy(struct qsbr *q)
{
	free(q);
}

static const struct qsbr_ops simple_ops = {
    .name = "simple",
    .reader_register = s_register,
    .reader_unregister = s_unregister,
    .online = s_online,
    .offline = s_offline,
    .quiescent = s_quiescent,
    .synchronize = s_synchronize,
    .destroy = s_destroy,
};

struct qsbr *qsbr_simple_new(unsigned max_readers)
{
	if (max_readers == 0 || max_readers > SIMPLE_MAX)
		return NULL;
	struct qsbr_simple *s = aligned_alloc(64, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->q.ops = &simple_ops;
	s->max = max_readers;
	atomic_init(&s->token, 1);
	for (unsigned i = 0; i < SIMPLE_MAX; i++) {
		atomic_init(&s->r[i].seen, 0);
		atomic_init(&s->r[i].registered, false);
	}
	return &s->q;
}
