/* NSEC3 owner hashes (nsec3hash.h). OpenSSL 3 marks the SHA1_* functions
 * deprecated in favour of EVP digests, which allocate a context per use:
 * the answer engine hashes per query, so the stack context it is. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "zones/answer/nsec3hash.h"

#include <openssl/sha.h>

void p53_nsec3_hash(const uint8_t *name, size_t len, const uint8_t *salt, size_t salt_len,
		    unsigned iterations, uint8_t out[P53_NSEC3_HASH_LEN])
{
	SHA_CTX c;
	SHA1_Init(&c);
	SHA1_Update(&c, name, len);
	SHA1_Update(&c, salt, salt_len);
	SHA1_Final(out, &c);
	for (unsigned i = 0; i < iterations; i++) {
		SHA1_Init(&c);
		SHA1_Update(&c, out, P53_NSEC3_HASH_LEN);
		SHA1_Update(&c, salt, salt_len);
		SHA1_Final(out, &c);
	}
}

static const char b32[] = "0123456789abcdefghijklmnopqrstuv";

void p53_nsec3_b32(const uint8_t h[P53_NSEC3_HASH_LEN], char out[P53_NSEC3_B32_LEN])
{
	/* 20 bytes are 160 bits, 32 digits of 5: four groups of 5 bytes. */
	for (unsigned g = 0; g < 4; g++) {
		uint64_t v = 0;
		for (unsigned i = 0; i < 5; i++)
			v = v << 8 | h[g * 5 + i];
		for (unsigned i = 0; i < 8; i++)
			out[g * 8 + i] = b32[(v >> (35 - 5 * i)) & 31];
	}
}

int p53_nsec3_unb32(const uint8_t *label, size_t len, uint8_t out[P53_NSEC3_HASH_LEN])
{
	if (len != P53_NSEC3_B32_LEN)
		return -1;
	for (unsigned g = 0; g < 4; g++) {
		uint64_t v = 0;
		for (unsigned i = 0; i < 8; i++) {
			uint8_t ch = label[g * 8 + i];
			unsigned d;
			if (ch >= '0' && ch <= '9')
				d = ch - '0';
			else if (ch >= 'a' && ch <= 'v')
				d = ch - 'a' + 10u;
			else if (ch >= 'A' && ch <= 'V')
				d = ch - 'A' + 10u;
			else
				return -1;
			v = v << 5 | d;
		}
		for (unsigned i = 0; i < 5; i++)
			out[g * 5 + i] = (uint8_t)(v >> (32 - 8 * i));
	}
	return 0;
}
