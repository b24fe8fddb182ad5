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

#define RRL_GROUP   8
#define RRL_TOKEN   1000 /* one response */
#define RRL_TICK_MS 4	 /* a stamp's unit: 16 bits of them wrap every 262 s */
#define RRL_IDLE    250	 /* ticks (a second) after which any bucket is full */
/* tokens' top bit: the bucket is in a limited episode (p53_rrl_over) */
#define RRL_EPISODE 0x80000000u

/* One cache line: eight 8-byte buckets, field by field, so that the eight
 * tags (and the eight stamps) are compared in one vector operation. Only
 * keys the sieve promotes come here: under a spoofed flood from many
 * networks, every one of its answers. */
struct p53_rrl_group {
	uint16_t tag[RRL_GROUP];    /* 16 bits of the key's hash, never 0; 0 = free */
	uint16_t stamp[RRL_GROUP];  /* ticks of the last use */
	uint32_t tokens[RRL_GROUP]; /* thousandths of a response, and RRL_EPISODE */
};

/* The sieve's window (zones/answer/rrl.c): a key's count covers the
 * responses of at most this long. */
#define RRL_WINDOW_MS 250
/* A sieve counter: bit 7 = its key took a bucket and keeps it this window
 * (it reached the threshold in the last one); bits 0-6 = responses counted
 * this window, up to the threshold (at most 127). */
#define RRL_KEPT 0x80u

struct p53_rrl {
	uint8_t *sieve; /* sieve_mask + 1 counters */
	uint32_t sieve_mask;
	uint32_t threshold; /* a key takes a bucket at its threshold-th response of a window */
	uint32_t win_start; /* now_ms when the window began */
	struct p53_rrl_group *g;
	size_t map_len;	   /* g is an mmap of this many bytes; 0 = from malloc */
	uint32_t mask;	   /* groups - 1 */
	uint32_t full;	   /* rate * RRL_TOKEN: a bucket's capacity */
	uint32_t per_tick; /* rate * RRL_TICK_MS: the refill of a tick */
	uint32_t slip;
	uint32_t *nlimited; /* by bucket: limited responses of its episode (cold) */
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
	/* 16 bits of tag: a key meets a foreign bucket's tag once in 65,535
	 * per bucket taken in its group, and shares its tokens then, which
	 * limits it only if that bucket is drained, i.e. a flood's. The
	 * sieve's index comes from other bits than the group's, so keys that
	 * share a counter are spread over the table. */
	uint32_t tag = (uint32_t)(h >> 48);
	struct p53_rrl_slot s = {.g = &r->g[(uint32_t)h & r->mask],
				 .tag = tag + (tag == 0),
				 .sieve = (uint32_t)(h >> 24) & r->sieve_mask};
	__builtin_prefetch(&r->sieve[s.sieve], 1);
	return s;
}

/* Bits 2i and 2i + 1 set when bucket i of g holds tag (a tag is in a
 * group at most once): the bucket is __builtin_ctz of it, halved. */
static inline unsigned rrl_match(const struct p53_rrl_group *g, uint32_t tag)
{
#ifdef __SSE2__
	__m128i tags = _mm_load_si128((const __m128i *)g->tag);
	return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(tags, _mm_set1_epi16((short)tag)));
#else
	unsigned m = 0;
	for (unsigned i = 0; i < RRL_GROUP; i++)
		m |= (g->tag[i] == tag ? 3u : 0u) << 2 * i;
	return m;
#endif
}

/* The bucket to take for a key no bucket of g holds: a free one, else the
 * one unused longest, which is an idle one (unused for a second: full and
 * out of any episode, as good as free) when there is one, else the least
 * recently used. Without a branch on the ages: when the keys of the last
 * second outnumber the buckets, every answer comes here, and which case it
 * meets is as good as random. */
static inline unsigned rrl_victim(const struct p53_rrl_group *g, uint16_t now)
{
#ifdef __SSE2__
	/* Ages as unsigned 16-bit numbers, a free bucket's the largest; then
	 * ordered as signed ones, which SSE2 compares. */
	__m128i fr = _mm_cmpeq_epi16(_mm_load_si128((const __m128i *)g->tag), _mm_setzero_si128());
	__m128i a =
	    _mm_sub_epi16(_mm_set1_epi16((short)now), _mm_load_si128((const __m128i *)g->stamp));
	a = _mm_xor_si128(_mm_or_si128(a, fr), _mm_set1_epi16((short)0x8000));
	/* The largest, in every lane: exchanges of halves, pairs, neighbours. */
	__m128i m = _mm_max_epi16(a, _mm_shuffle_epi32(a, _MM_SHUFFLE(1, 0, 3, 2)));
	m = _mm_max_epi16(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
	m = _mm_max_epi16(m, _mm_shufflehi_epi16(_mm_shufflelo_epi16(m, 0xb1), 0xb1));
	return (unsigned)__builtin_ctz((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(a, m))) / 2;
#else
	unsigned victim = 0;
	uint16_t oldest = 0;
	for (unsigned i = 0; i < RRL_GROUP; i++) {
		uint16_t age = g->tag[i] == 0 ? UINT16_MAX : (uint16_t)(now - g->stamp[i]);
		if (age > oldest) {
			oldest = age;
			victim = i;
		}
	}
	return victim;
#endif
}

/* Takes one response from the bucket at s, charging it take thousandths:
 * true when it passes. The bucket is the one with our tag, else the one
 * rrl_victim picks (free, idle or the least recently used). A bucket that
 * is new, or was idle for a second, is full. A response passes on one
 * token; a promoted key's charge (rrl_take) can take the bucket to 0.
 * Only a response over the limit needs more (p53_rrl_over), so the client
 * and the class are not even loaded on this path. */
static inline bool rrl_take_bucket(const struct p53_rrl *r, struct p53_rrl_slot s, uint32_t now_ms,
				   uint32_t take)
{
	struct p53_rrl_group *g = s.g;
	uint16_t now = (uint16_t)(now_ms / RRL_TICK_MS);
	unsigned match = rrl_match(g, s.tag), i;
	uint32_t tokens = r->full, episode = 0;
	if (match) {
		i = (unsigned)__builtin_ctz(match) / 2;
		uint16_t dt = (uint16_t)(now - g->stamp[i]);
		/* A limited episode ends when the flood stops for a second;
		 * one at twice the rate, which passes every other response,
		 * stays one episode: one log line. Stamps are whole ticks, so
		 * the refills of a bucket add up to its time in use. One
		 * left idle a multiple of 262 s (within a second) looks in
		 * use and keeps what it held: at worst a drained bucket's key
		 * is limited again for a moment, in a table quiet enough that
		 * nothing took the bucket in between. */
		if (dt < RRL_IDLE) {
			uint32_t held = g->tokens[i];
			uint32_t t = (held & ~RRL_EPISODE) + dt * r->per_tick; /* < 2^31 */
			tokens = t < tokens ? t : tokens;
			episode = held & RRL_EPISODE;
		}
	} else {
		i = rrl_victim(g, now);
		g->tag[i] = (uint16_t)s.tag;
	}
	g->stamp[i] = now;
	bool pass = tokens >= RRL_TOKEN;
	uint32_t d = take < tokens ? take : tokens;
	g->tokens[i] = (pass ? tokens - d : tokens) | episode;
	return pass;
}

/* Starts a window of the sieve (rrl.c): four times a second at most. */
void p53_rrl_sieve_roll(struct p53_rrl *r, uint32_t now_ms);

/* Counts one response in the sieve and, for a key at the threshold in this
 * window (or kept from the last), in its token bucket: true when it passes.
 * Nearly every answer of normal traffic ends at the sieve's counter, which
 * p53_rrl_locate started loading. The response that reaches the threshold
 * charges its bucket for itself and for the responses the counter passed
 * in this window. */
static inline bool rrl_take(struct p53_rrl *r, struct p53_rrl_slot s, uint32_t now_ms)
{
	if (__builtin_expect(now_ms - r->win_start >= RRL_WINDOW_MS, 0))
		p53_rrl_sieve_roll(r, now_ms);
	uint8_t *c = &r->sieve[s.sieve];
	unsigned n = *c;
	/* A kept counter (bit 7) is above any threshold (at most 127). */
	if (__builtin_expect(n + 1 < r->threshold, 1)) {
		*c = (uint8_t)(n + 1);
		return true;
	}
	*c = (uint8_t)(n + ((n & ~RRL_KEPT) < r->threshold));
	return rrl_take_bucket(r, s, now_ms,
			       (n == r->threshold - 1 ? r->threshold : 1) * RRL_TOKEN);
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
