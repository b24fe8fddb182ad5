/* The rate limiter's table, its hash and its accounting, for rrl.c,
 * abuse.c and the inline path of abuse.h only: RRL runs on every UDP
 * answer, and inlined into the front end's loop it costs no call, no
 * argument spills and no second test of what the caller already knows. */
#ifndef P53_RRL_PVT_H
#define P53_RRL_PVT_H

#include "zones/answer/rrl.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
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
	int32_t full;	    /* rate * RRL_TOKEN: a bucket's capacity */
	int32_t full_less1; /* what a full bucket holds after one response */
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

/* One unaligned load each: the address sits in a packet or a client struct. */
static inline uint64_t rrl_be64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

static inline uint32_t rrl_be32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}

/* Both halves of the 128-bit product, folded: one multiplication mixes
 * every bit of two words into the result (wyhash's "mum"). Both words are
 * xored with the per-table random key first, so no one without it can aim
 * many keys at one group. */
static inline uint64_t rrl_mum(uint64_t a, uint64_t b)
{
	unsigned __int128 p = (unsigned __int128)a * b;
	return (uint64_t)p ^ (uint64_t)(p >> 64);
}

/* An IPv4 client's prefix and the name's key share one word, so its bucket
 * is one multiplication; IPv6 takes two (its prefix may reach past 64
 * bits). key must be 0 for P53_RRL_ERROR, which is keyed by the prefix
 * alone. The two families hash different words under different keys. */
static inline struct p53_rrl_slot rrl_locate_inline(const struct p53_rrl *r, uint8_t family,
						    const uint8_t *addr, enum p53_rrl_class cls,
						    uint32_t key)
{
	uint64_t h;
	if (family == 4) {
		/* Four bytes: the caller's buffer may hold no more. */
		uint64_t a = (uint64_t)(rrl_be32(addr) & (uint32_t)r->v4mask) << 32 | key;
		h = rrl_mum(a ^ r->key[0], (uint64_t)cls ^ r->key[1]);
	} else {
		uint64_t hi = rrl_be64(addr) & r->v6mask_hi;
		uint64_t lo = rrl_be64(addr + 8) & r->v6mask_lo;
		h = rrl_mum(hi ^ r->key[0],
			    rrl_mum(lo ^ r->key[2], ((uint64_t)key << 8 | cls) ^ r->key[3]));
	}
	struct p53_rrl_slot s = {.g = &r->g[(uint32_t)h & r->mask], .tag = (uint32_t)(h >> 32) | 1};
	__builtin_prefetch(s.g, 1);
	return s;
}

/* Bit i set when bucket i of g holds tag. */
static inline unsigned rrl_match(const struct p53_rrl_group *g, uint32_t tag)
{
#ifdef __SSE2__
	__m128i tags = _mm_load_si128((const __m128i *)g->tag);
	return (unsigned)_mm_movemask_ps(
	    _mm_castsi128_ps(_mm_cmpeq_epi32(tags, _mm_set1_epi32((int)tag))));
#else
	unsigned m = 0;
	for (unsigned i = 0; i < RRL_GROUP; i++)
		m |= (unsigned)(g->tag[i] == tag) << i;
	return m;
#endif
}

/* The bucket to take for a key no bucket of g holds: a free one, else the
 * one unused longest, which is an idle one (unused for a second: full and
 * out of any episode, as good as free) when there is one, else the least
 * recently used. Without a branch on the ages: when the keys of the last
 * second outnumber the buckets, every answer comes here, and which case it
 * meets is as good as random. */
static inline unsigned rrl_victim(const struct p53_rrl_group *g, uint32_t now_ms)
{
#ifdef __SSE2__
	__m128i bias = _mm_set1_epi32(INT32_MIN);
	__m128i ages =
	    _mm_sub_epi32(_mm_set1_epi32((int)now_ms), _mm_load_si128((const __m128i *)g->stamp));
	/* Unsigned ages ordered as signed ones; a free bucket oldest of all. */
	__m128i fr = _mm_cmpeq_epi32(_mm_load_si128((const __m128i *)g->tag), _mm_setzero_si128());
	__m128i a = _mm_or_si128(_mm_xor_si128(ages, bias), fr);
	a = _mm_andnot_si128(_mm_and_si128(fr, bias), a); /* free: INT32_MAX */
	/* The largest, in every lane: two exchanges and maxima. */
	__m128i m = a, t, gt;
	t = _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2));
	gt = _mm_cmpgt_epi32(t, m);
	m = _mm_or_si128(_mm_and_si128(gt, t), _mm_andnot_si128(gt, m));
	t = _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1));
	gt = _mm_cmpgt_epi32(t, m);
	m = _mm_or_si128(_mm_and_si128(gt, t), _mm_andnot_si128(gt, m));
	return (unsigned)__builtin_ctz(
	    (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(a, m))));
#else
	unsigned victim = 0;
	uint32_t oldest = 0;
	for (unsigned i = 0; i < RRL_GROUP; i++) {
		uint32_t age = g->tag[i] == 0 ? UINT32_MAX : now_ms - g->stamp[i];
		if (age > oldest) {
			oldest = age;
			victim = i;
		}
	}
	return victim;
#endif
}

/* Takes one response from the bucket at s: true when it passes. The bucket
 * is the one with our tag, else the one rrl_victim picks (free, idle or the
 * least recently used). A bucket that is new,
 * or was idle for a second, is full: it passes with no refill to work out,
 * which is what most answers of normal traffic meet. Only a response over
 * the limit needs more (p53_rrl_over), so the client and the class are not
 * even loaded on this path. */
static inline bool rrl_take(const struct p53_rrl *r, struct p53_rrl_slot s, uint32_t now_ms)
{
	struct p53_rrl_group *g = s.g;
	unsigned match = rrl_match(g, s.tag), i;
	if (match) {
		i = (unsigned)__builtin_ctz(match);
		uint32_t dt = now_ms - g->stamp[i];
		/* A limited episode ends when the flood stops for a second;
		 * one at twice the rate, which passes every other response,
		 * stays one episode: one log line. */
		if (dt < RRL_REFILL_FULL) {
			int64_t t = (int64_t)g->tokens[i] + (int64_t)dt * r->rate;
			int32_t tokens = t > r->full ? r->full : (int32_t)t;
			g->stamp[i] = now_ms;
			bool pass = tokens >= RRL_TOKEN;
			g->tokens[i] = pass ? tokens - RRL_TOKEN : tokens;
			return pass;
		}
	} else {
		i = rrl_victim(g, now_ms);
	}
	g->tag[i] = s.tag;
	g->stamp[i] = now_ms;
	g->tokens[i] = r->full_less1; /* rate >= 1: a full bucket passes */
	g->nlimited[i] = 0;
	return true;
}

/* The verdict on a response rrl_take refused from the bucket at s. */
enum p53_rrl_verdict p53_rrl_over(struct p53_rrl *r, struct p53_rrl_slot s, uint8_t family,
				  const uint8_t *addr, enum p53_rrl_class cls);

static inline enum p53_rrl_verdict p53_rrl_account_inline(struct p53_rrl *r, struct p53_rrl_slot s,
							  uint8_t family, const uint8_t *addr,
							  enum p53_rrl_class cls, uint32_t now_ms)
{
	if (__builtin_expect(rrl_take(r, s, now_ms), 1))
		return P53_RRL_PASS;
	return p53_rrl_over(r, s, family, addr, cls);
}

#endif
