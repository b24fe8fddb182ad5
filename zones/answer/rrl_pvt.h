/* The rate limiter's table and its accounting, for rrl.c and abuse.c only:
 * p53_abuse_apply runs on every answer, and the accounting inlined there
 * saves a call and its register spills per answer. */
#ifndef P53_RRL_PVT_H
#define P53_RRL_PVT_H

#include "zones/answer/rrl.h"

#define RRL_GROUP	4
#define RRL_TOKEN	1000 /* one response */
#define RRL_REFILL_FULL 1000 /* ms after which any bucket is full */

struct p53_rrl_bucket {
	uint32_t tag;	   /* high half of the key's hash, never 0; 0 = free */
	uint32_t stamp;	   /* ms of the last use */
	int32_t tokens;	   /* thousandths of a response */
	uint32_t nlimited; /* limited responses in this episode; 0 = not limited */
};

struct p53_rrl {
	struct p53_rrl_bucket *b;
	size_t map_len; /* b is an mmap of this many bytes; 0 = from malloc */
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

enum p53_rrl_verdict p53_rrl_over(struct p53_rrl *r, struct p53_rrl_bucket *b, uint8_t family,
				  const uint8_t *addr, enum p53_rrl_class cls);

/* Normal traffic mostly meets buckets it has never used or not used for a
 * second, in no order a branch predictor can learn, so the lookup picks its
 * bucket and refill with selects rather than branches (they cost more than
 * the rest of the lookup when mispredicted). */
static inline enum p53_rrl_verdict p53_rrl_account_inline(struct p53_rrl *r, struct p53_rrl_slot s,
							  uint8_t family, const uint8_t *addr,
							  enum p53_rrl_class cls, uint32_t now_ms)
{
	struct p53_rrl_bucket *g = &r->b[(size_t)s.group * RRL_GROUP];
	/* The bucket with our tag, else a free one, else the least
	 * recently used: the largest age, free ones counting as oldest. */
	unsigned match = 0, victim = 0;
	uint64_t oldest = 0;
	for (unsigned i = 0; i < RRL_GROUP; i++) {
		match |= (unsigned)(g[i].tag == s.tag) << i;
		uint64_t age = g[i].tag == 0 ? UINT64_MAX : (uint32_t)(now_ms - g[i].stamp);
		bool older = age > oldest;
		victim = older ? i : victim;
		oldest = older ? age : oldest;
	}
	bool hit = match != 0;
	unsigned pick = hit ? (unsigned)__builtin_ctz(match) : victim;
	struct p53_rrl_bucket *b = &g[pick];
	int32_t full = (int32_t)(r->rate * RRL_TOKEN);
	uint32_t dt = now_ms - b->stamp;
	int64_t t = (int64_t)b->tokens + (int64_t)dt * r->rate;
	/* A limited episode ends when the flood stops for a second; one at
	 * twice the rate, which passes every other response, stays one
	 * episode: one log line. */
	bool fresh = !hit || dt >= RRL_REFILL_FULL;
	int32_t tokens = fresh || t > full ? full : (int32_t)t;
	b->nlimited = fresh ? 0 : b->nlimited;
	b->tag = s.tag;
	b->stamp = now_ms;
	if (__builtin_expect(tokens >= RRL_TOKEN, 1)) {
		b->tokens = tokens - RRL_TOKEN;
		return P53_RRL_PASS;
	}
	b->tokens = tokens;
	return p53_rrl_over(r, b, family, addr, cls);
}

#endif
