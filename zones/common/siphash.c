/* SipHash-2-4: two compression rounds per 8-byte word, four finalisation
 * rounds, as the SipHash paper specifies. Words are read little-endian. */
#include "zones/common/siphash.h"

static inline uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

struct sip {
	uint64_t v0, v1, v2, v3;
};

static inline void round_(struct sip *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

static inline void absorb(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	round_(s);
	round_(s);
	s->v0 ^= m;
}

uint64_t p53_siphash24(const uint8_t key[P53_SIPHASH_KEY_LEN], const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	/* The initialisation constants spell "somepseudorandomlygeneratedbytes". */
	struct sip s = {
	    k0 ^ 0x736f6d6570736575ULL,
	    k1 ^ 0x646f72616e646f6dULL,
	    k0 ^ 0x6c7967656e657261ULL,
	    k1 ^ 0x7465646279746573ULL,
	};
	size_t full = len & ~(size_t)7;
	for (size_t i = 0; i < full; i += 8)
		absorb(&s, le64(in + i));
	/* The last word: the remaining bytes, and the length's low byte on top. */
	uint64_t last = (uint64_t)(len & 0xff) << 56;
	for (size_t i = 0; i < (len & 7); i++)
		last |= (uint64_t)in[full + i] << (8 * i);
	absorb(&s, last);
	s.v2 ^= 0xff;
	for (unsigned i = 0; i < 4; i++)
		round_(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void p53_siphash24_bytes(const uint8_t key[P53_SIPHASH_KEY_LEN], const void *data, size_t len,
			 uint8_t out[8])
{
	uint64_t h = p53_siphash24(key, data, len);
	for (unsigned i = 0; i < 8; i++)
		out[i] = (uint8_t)(h >> (8 * i));
}
