/* Server cookies per RFC 9018 section 4. The hash covers the reserved bytes
 * as received, so a cookie with reserved bits set (another implementation's)
 * still verifies; the ones we make have them zero. */
#include "zones/answer/cookie.h"

#include "zones/common/siphash.h"

#include <string.h>

static uint64_t cookie_hash(const uint8_t secret[P53_COOKIE_SECRET_LEN], const uint8_t *cc,
			    const uint8_t *vrt, const uint8_t *addr, size_t alen)
{
	uint8_t in[P53_COOKIE_CLIENT_LEN + 8 + 16];
	memcpy(in, cc, P53_COOKIE_CLIENT_LEN);
	memcpy(in + 8, vrt, 8); /* version, reserved, timestamp */
	memcpy(in + 16, addr, alen);
	return p53_siphash24(secret, in, 16 + alen);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void p53_cookie_make(const uint8_t secret[P53_COOKIE_SECRET_LEN],
		     const uint8_t cc[P53_COOKIE_CLIENT_LEN], const uint8_t *addr, size_t alen,
		     uint32_t now, uint8_t out[P53_COOKIE_SERVER_LEN])
{
	out[0] = 1;
	out[1] = out[2] = out[3] = 0;
	out[4] = (uint8_t)(now >> 24);
	out[5] = (uint8_t)(now >> 16);
	out[6] = (uint8_t)(now >> 8);
	out[7] = (uint8_t)now;
	put_le64(out + 8, cookie_hash(secret, cc, out, addr, alen));
}

static bool hash_matches(const uint8_t secret[P53_COOKIE_SECRET_LEN], const uint8_t *opt,
			 const uint8_t *addr, size_t alen)
{
	uint8_t h[8];
	put_le64(h, cookie_hash(secret, opt, opt + 8, addr, alen));
	/* Not secret-dependent timing worth hiding: the attacker learns
	 * nothing about the key from how many bytes of a tag matched. */
	return memcmp(h, opt + 16, 8) == 0;
}

enum p53_cookie_verdict p53_cookie_check(const struct p53_cookie_secret *sec, const uint8_t *opt,
					 size_t len, const uint8_t *addr, size_t alen, uint32_t now)
{
	if (len == 0)
		return P53_COOKIE_ABSENT;
	if (len == P53_COOKIE_CLIENT_LEN)
		return P53_COOKIE_CLIENT_ONLY;
	/* Only our own format: version 1, 16 bytes. */
	if (sec == NULL || len != P53_COOKIE_CLIENT_LEN + P53_COOKIE_SERVER_LEN || opt[8] != 1 ||
	    (alen != 4 && alen != 16))
		return P53_COOKIE_BAD;
	uint32_t ts =
	    (uint32_t)opt[12] << 24 | (uint32_t)opt[13] << 16 | (uint32_t)opt[14] << 8 | opt[15];
	/* Serial arithmetic: the signed distance from the cookie's time. */
	int32_t age = (int32_t)(now - ts);
	if (age > P53_COOKIE_LIFETIME_S || age < -P53_COOKIE_FUTURE_S)
		return P53_COOKIE_BAD;
	if (hash_matches(sec->cur, opt, addr, alen) ||
	    (sec->has_prev && hash_matches(sec->prev, opt, addr, alen)))
		return P53_COOKIE_VALID;
	return P53_COOKIE_BAD;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int p53_cookie_secret_parse(const char *hex, uint8_t out[P53_COOKIE_SECRET_LEN])
{
	for (unsigned i = 0; i < P53_COOKIE_SECRET_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo = hi < 0 ? -1 : hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * P53_COOKIE_SECRET_LEN] == 0 ? 0 : -1;
}
