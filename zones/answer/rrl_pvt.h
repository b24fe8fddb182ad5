/* The rate limiter's table and its accounting, for rrl.c and abuse.c only:
 * p53_abuse_apply runs on every answer, and the accounting inlined there
 * saves a call and its register spills per answer. */
#ifndef P53_RRL_PVT_H
#define P53_RRL_PVT_H

#include "zones/answer/rrl.h"

#include <stdbool.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define RRL_GROUP	4
#define RRL_TOKEN	1000 /* one response */
#define RRL_REFILL_FULL 1000 /* ms after which any bucket is full */

/* One cache line: four buckets, field by field, so that the four tags (and
 * the four stamps) are compared in one vector operation. */
struct p53_rrl_group {
	uint32_t tag[RRL_GROUP];      /* high half of the key's hash, never 0; 0 = free */
	uint32_t stamp[RRL_GROUP];    /* ms of the last use */
	int32_t tokens[RRL_GROUP];    /* thousandths of a response */
	uint32_t nlimited[RRL_GROUP]; /* limited responses in this episode; 0 = not */
};

struct p53_rrl {
	struct p53_rrl_group *g;
	size_t map_len; /* g is an mmap of this many bytes; 0 = from malloc */
	uint32_t mask;	/* groups - 1 */
	uint32_t rate;
	uint32_t slip;
	uint64_t v4mask, v6mask_hi, v6mask_lo;
	uint8_t v4len, v6len;
	uint64_t key[4]; /* the hash key, from the seed */
	unsigned nexempt;
	struct p53_prefix exempt[P53_RRL_EXEMPT_MAX];
	/* Event ring: the worker writes head, the drainer tail. */
	_Alignas(64) _Atomic uint32_t head;
	_Atomic uint64_t lost;
	_Alignas(64) _Atomic uint32_t tail;
	struct p53_rrl_event ev[P53_RRL_EVENTS];
};

enum p53_rrl_verdict p53_rrl_over(struct p53_rrl *r, struct p53_rrl_group *g, unsigned i,
				  uint8_t family, const uint8_t *addr, enum p53_rrl_class cls);
unsigned p53_rrl_lru(const struct p53_rrl_group *g, uint32_t now_ms);

/* Bit i set when bucket i of g holds tag; and when it is free or unused
 * for a second (full, and out of any episode: as good as free). */
static inline void rrl_scan(const struct p53_rrl_group *g, uint32_t tag, uint32_t now_ms,
			    unsigned *match, unsigned *idle)
{
#ifdef __SSE2__
	__m128i tags = _mm_load_si128((const __m128i *)g->tag);
	__m128i ages =
	    _mm_sub_epi32(_mm_set1_epi32((int)now_ms), _mm_load_si128((const __m128i *)g->stamp));
	/* Unsigned age >= RRL_REFILL_FULL as a signed compare. */
	__m128i bias = _mm_set1_epi32(INT32_MIN);
	__m128i old = _mm_cmpgt_epi32(_mm_xor_si128(ages, bias),
				      _mm_set1_epi32((int)((RRL_REFILL_FULL - 1) ^ 0x80000000u)));
	__m128i fr = _mm_cmpeq_epi32(tags, _mm_setzero_si128());
	*match = (unsigned)_mm_movemask_ps(
	    _mm_castsi128_ps(_mm_cmpeq_epi32(tags, _mm_set1_epi32((int)tag))));
	*idle = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_or_si128(old, fr)));
#else
	unsigned m = 0, d = 0;
	for (unsigned i = 0; i < RRL_GROUP; i++) {
		m |= (unsigned)(g->tag[i] == tag) << i;
		d |= (unsigned)(g->tag[i] == 0 || now_ms - g->stamp[i] >= RRL_REFILL_FULL) << i;
	}
	*match = m;
	*idle = d;
#endif
}

/* Normal traffic mostly meets buckets it has never used or not used for a
 * second, in no order a branch predictor can learn, so the bucket and the
 * refill are picked with selects rather than branches (they cost more than
 * the rest of the lookup when mispredicted). The bucket is the one with our
 * tag, else a free or idle one (any: all are full and out of an episode),
 * else the least recently used (p53_rrl_lru, rare: four keys of one group
 * each used in the last second). */
static inline enum p53_rrl_verdict p53_rrl_account_inline(struct p53_rrl *r, struct p53_rrl_slot s,
							  uint8_t family, const uint8_t *addr,
							  enum p53_rrl_class cls, uint32_t now_ms)
{
	struct p53_rrl_group *g = &r->g[s.group];
	unsigned match, idle;
	rrl_scan(g, s.tag, now_ms, &match, &idle);
	bool hit = match != 0;
	unsigned any = hit ? match : idle;
	unsigned i =
	    __builtin_expect(any != 0, 1) ? (unsigned)__builtin_ctz(any) : p53_rrl_lru(g, now_ms);
	int32_t full = (int32_t)(r->rate * RRL_TOKEN);
	uint32_t dt = now_ms - g->stamp[i];
	int64_t t = (int64_t)g->tokens[i] + (int64_t)dt * r->rate;
	/* A limited episode ends when the flood stops for a second; one at
	 * twice the rate, which passes every other response, stays one
	 * episode: one log line. */
	bool fresh = !hit || dt >= RRL_REFILL_FULL;
	int32_t tokens = fresh || t > full ? full : (int32_t)t;
	g->nlimited[i] = fresh ? 0 : g->nlimited[i];
	g->tag[i] = s.tag;
	g->stamp[i] = now_ms;
	if (__builtin_expect(tokens >= RRL_TOKEN, 1)) {
		g->tokens[i] = tokens - RRL_TOKEN;
		return P53_RRL_PASS;
	}
	g->tokens[i] = tokens;
	return p53_rrl_over(r, g, i, family, addr, cls);
}

#endif
