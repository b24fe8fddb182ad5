/* Time spent inside the server, as a histogram answering threads keep.
 *
 * Bucket k counts answers that spent [2^k, 2^(k+1)) nanoseconds between
 * their arrival being seen and their reply being handed back (a worker
 * times a whole burst, so each frame is charged the burst's time: an upper
 * bound for every frame in it). Powers of two make the bucket one count of
 * leading zeros; 32 of them reach 4 s. Each histogram has one writer; the
 * control thread reads it without locks, as it reads every other counter.
 */
#ifndef CTRL_API_LATHIST_H
#define CTRL_API_LATHIST_H

#include <stdint.h>

#define LATHIST_BUCKETS 32

struct lathist {
	uint64_t b[LATHIST_BUCKETS];
};

static inline void lathist_add(struct lathist *h, uint64_t ns, uint64_t n)
{
	unsigned k = 63u - (unsigned)__builtin_clzll(ns | 1);
	h->b[k < LATHIST_BUCKETS ? k : LATHIST_BUCKETS - 1] += n;
}

/* Cycles to nanoseconds without a division: mul = 2^32 * 1e9 / hz, set
 * once. Exact enough for buckets a factor of two wide. */
static inline uint64_t lathist_ns_mul(uint64_t hz)
{
	return hz ? (uint64_t)((1000000000.0 * 4294967296.0) / (double)hz) : 0;
}

static inline uint64_t lathist_ns(uint64_t cycles, uint64_t mul)
{
	return (uint64_t)(((unsigned __int128)cycles * mul) >> 32);
}

#endif
