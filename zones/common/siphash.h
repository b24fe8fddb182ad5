/* SipHash-2-4 (Aumasson and Bernstein), the keyed hash of RFC 9018 server
 * cookies and of the rate limiter's table index.
 *
 * A plain function over a byte buffer: no allocation, no state between
 * calls, so the answer path can run it per query. OpenSSL 3 has SipHash as
 * an EVP_MAC, but each use would allocate a context; the tests compare the
 * two.
 */
#ifndef P53_SIPHASH_H
#define P53_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define P53_SIPHASH_KEY_LEN 16

/* The 64-bit tag of len bytes under a 16-byte key, as a number; its wire
 * form is that number in little-endian byte order (p53_siphash24_bytes). */
uint64_t p53_siphash24(const uint8_t key[P53_SIPHASH_KEY_LEN], const void *data, size_t len);
void p53_siphash24_bytes(const uint8_t key[P53_SIPHASH_KEY_LEN], const void *data, size_t len,
			 uint8_t out[8]);

#endif
