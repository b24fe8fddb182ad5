/* NSEC3 owner hashes (zones/answer/nsec3hash.c) against the hashes RFC 5155
 * Appendix A lists for its example zone (salt aabbccdd, 12 iterations), the
 * base32hex round trip, what the decoder refuses, and that hashing (which
 * the engine does per query) makes no OpenSSL allocation. */
#include "tests/unit/check.h"
#include "zones/answer/nsec3hash.h"
#include "zones/common/name.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>

static unsigned long allocs;

static void *count_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	allocs++;
	return malloc(n);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	allocs++;
	return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

static void hash_of(const char *text, unsigned iter, const uint8_t *salt, size_t slen, char *out)
{
	uint8_t w[P53_NAME_MAX], h[P53_NSEC3_HASH_LEN];
	const char *why;
	int l = name_from_text(text, strlen(text), (const uint8_t *)"", w, &why);
	CHECK(l > 0);
	p53_nsec3_hash(w, name_len(w), salt, slen, iter, h);
	p53_nsec3_b32(h, out);
	out[P53_NSEC3_B32_LEN] = 0;
}

int main(void)
{
	/* Before OpenSSL allocates anything: every allocation it makes from
	 * here on is counted. */
	CHECK(CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) == 1);
	static const struct {
		const char *name, *hash;
	} rfc[] = {
	    {"example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"},
	    {"a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"},
	    {"ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi"},
	    {"ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"},
	    {"w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h"},
	    {"*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"},
	    {"x.y.w.example.", "2vptu5timamqttgl4luu9kg21e0aor3s"},
	    {"xx.example.", "t644ebqk9bibcna874givr6joj62mlhv"},
	};
	const uint8_t salt[] = {0xaa, 0xbb, 0xcc, 0xdd};
	char b[P53_NSEC3_B32_LEN + 1];
	for (size_t i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
		hash_of(rfc[i].name, 12, salt, sizeof(salt), b);
		CHECK_STR(b, rfc[i].hash);
		/* Decoding gives back the bytes that encode to the label, in
		 * either case. */
		uint8_t h[P53_NSEC3_HASH_LEN], h2[P53_NSEC3_HASH_LEN];
		CHECK_EQ(p53_nsec3_unb32((const uint8_t *)rfc[i].hash, 32, h), 0);
		char up[33];
		for (int k = 0; k < 32; k++)
			up[k] = (char)(rfc[i].hash[k] >= 'a' ? rfc[i].hash[k] - 32 : rfc[i].hash[k]);
		CHECK_EQ(p53_nsec3_unb32((const uint8_t *)up, 32, h2), 0);
		CHECK(memcmp(h, h2, sizeof(h)) == 0);
		p53_nsec3_b32(h, b);
		b[32] = 0;
		CHECK_STR(b, rfc[i].hash);
	}
	/* Hashing allocates nothing (the engine hashes per query). */
	unsigned long before = allocs;
	for (unsigned i = 0; i < 1000; i++)
		hash_of("a.b.example.", i % 3, salt, i % 5, b);
	CHECK_EQ(allocs, before);
	/* ... while the counter does see OpenSSL's allocations. */
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	CHECK(mc != NULL && allocs > before);
	EVP_MD_CTX_free(mc);
	/* The name is hashed as given: upper case is the caller's to fold. */
	char lo[33];
	hash_of("example.", 0, NULL, 0, lo);
	hash_of("EXAMPLE.", 0, NULL, 0, b);
	CHECK(strcmp(lo, b) != 0);
	/* Not a hash: wrong length, a digit outside base32hex. */
	uint8_t h[P53_NSEC3_HASH_LEN];
	CHECK_EQ(p53_nsec3_unb32((const uint8_t *)"0p9mhaveqvm6t7vbl5lop2u3t2rp3to", 31, h), -1);
	CHECK_EQ(p53_nsec3_unb32((const uint8_t *)"0p9mhaveqvm6t7vbl5lop2u3t2rp3toz", 32, h), -1);
	CHECK_EQ(p53_nsec3_unb32((const uint8_t *)"0p9mhaveqvm6t7vbl5lop2u3t2rp3to-", 32, h), -1);
	return check_report("nsec3hash");
}
