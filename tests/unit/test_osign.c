/* Online signing (zones/answer/osign.h): signatures checked with OpenSSL's
 * verification over the RFC 4034 signed data this test builds itself, the
 * per-thread signature cache (hits, separate threads, the key's fields,
 * bounded size), canonical order, and keys that are not published. */
#include "check.h"
#include "zones/answer/osign.h"
#include "zones/compile/compile.h"
#include "zones/compile/dnskey.h"
#include "zones/common/rrtype.h"
#include "zones/common/snapfmt.h"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const uint8_t apex[] = "\7example";
static const uint8_t www[] = "\3www\7example";

static struct p53_snapshot *build(const char *keys, const char *zonefile)
{
	struct p53_zone_input z[1] = {{"example.", zonefile}};
	struct p53_compile_opts o = {.serial = 1, .dnssec_keys = keys};
	struct p53_err err = {0};
	uint8_t *img;
	size_t len;
	if (p53_compile(z, 1, &o, &img, &len, &err) != 0) {
		fprintf(stderr, "compile: %s\n", err.msg);
		return NULL;
	}
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &err);
	free(img);
	return s;
}

/* What each case compiles: a scratch directory holding example.zone, its
 * SOA, NS and ns A written and the rest of the records left to the caller
 * (scratch_zone), and one key beside it in BIND's format (scratch_key). */
struct scratch {
	char dir[32], zf[64];
	struct dnskey k;
};

static FILE *scratch_zone(struct scratch *sc)
{
	snprintf(sc->dir, sizeof(sc->dir), "/tmp/p53_osign_XXXXXX");
	CHECK(mkdtemp(sc->dir) != NULL);
	snprintf(sc->zf, sizeof(sc->zf), "%s/example.zone", sc->dir);
	FILE *f = fopen(sc->zf, "w");
	CHECK(f != NULL);
	if (f)
		fputs("$ORIGIN example.\n$TTL 300\n@ SOA ns hm 1 3600 600 86400 300\n@ NS ns\n"
		      "ns A 192.0.2.1\n",
		      f);
	return f;
}

static void scratch_key(struct scratch *sc, uint8_t alg, unsigned bits)
{
	struct p53_err err = {0};
	char base[512];
	CHECK_EQ(dnskey_generate(&sc->k, apex, sizeof(apex), alg, DNSKEY_KSK, bits, &err), 0);
	CHECK_EQ(dnskey_write_bind(&sc->k, sc->dir, base, sizeof(base), &err), 0);
}

static void scratch_done(struct scratch *sc)
{
	dnskey_free(&sc->k);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sc->dir);
	CHECK_EQ(system(cmd), 0);
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* RFC 4034 3.1.8.1 by hand: the RRSIG rdata without the signature, then
 * each record (sorted by the caller) with the original TTL. The signature
 * as OpenSSL verifies it: Ed25519 and RSA (RFC 5702) as they are, ECDSA
 * P-256's r and s (RFC 6605) as DER. */
static bool verify(EVP_PKEY *pk, const uint8_t *rrsig, size_t rl, const uint8_t *const *rd,
		   unsigned n, uint32_t ttl)
{
	uint8_t data[2048];
	size_t head = 18 + sizeof(apex), pos = head;
	uint8_t alg = rl > head ? rrsig[2] : 0;
	size_t want = alg == 8 ? (size_t)EVP_PKEY_get_size(pk) : 64;
	if (alg == 0 || rl != head + want)
		return false;
	memcpy(data, rrsig, head);
	for (unsigned i = 0; i < n; i++) {
		memcpy(data + pos, www, sizeof(www));
		pos += sizeof(www);
		put16(data + pos, RR_A);
		put16(data + pos + 2, 1);
		data[pos + 4] = (uint8_t)(ttl >> 24);
		data[pos + 5] = (uint8_t)(ttl >> 16);
		data[pos + 6] = (uint8_t)(ttl >> 8);
		data[pos + 7] = (uint8_t)ttl;
		put16(data + pos + 8, 4);
		memcpy(data + pos + 10, rd[i], 4);
		pos += 14;
	}
	const uint8_t *sig = rrsig + head;
	size_t sl = want;
	uint8_t der[80];
	if (alg == 13) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
		uint8_t *dp = der;
		if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
			BN_free(r);
			BN_free(s);
			ECDSA_SIG_free(es);
			return false;
		}
		int dl = i2d_ECDSA_SIG(es, &dp);
		ECDSA_SIG_free(es);
		if (dl <= 0)
			return false;
		sig = der;
		sl = (size_t)dl;
	}
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	bool ok = c &&
		  EVP_DigestVerifyInit(c, NULL, alg == 15 ? NULL : EVP_sha256(), NULL, pk) == 1 &&
		  EVP_DigestVerify(c, sig, sl, data, pos) == 1;
	EVP_MD_CTX_free(c);
	return ok;
}

/* Compile-time signing in parallel (dnssec.c): a zone with more RRsets
 * than one signing batch holds, signed by Ed25519 (deterministic, RFC
 * 8032) at a fixed time, gives the same snapshot bytes on one thread and
 * on several. */
static void parallel_case(void)
{
	struct scratch sc;
	FILE *f = scratch_zone(&sc);
	if (f == NULL)
		return;
	/* Four jobs per name (two signatures, the NSEC and its signature):
	 * more than one batch. */
	for (unsigned i = 0; i < 2500; i++)
		fprintf(f, "h%u A 192.0.%u.%u\nh%u TXT \"%u\"\n", i, i / 250, i % 250, i, i);
	fclose(f);
	scratch_key(&sc, DNSKEY_ALG_ED25519, 0);
	struct p53_err err = {0};
	uint8_t *img[2] = {NULL};
	size_t len[2] = {0};
	static const unsigned threads[2] = {1, 3};
	for (unsigned t = 0; t < 2; t++) {
		struct p53_zone_input z[1] = {{"example.", sc.zf}};
		struct p53_compile_opts o = {.serial = 1,
					     .dnssec_keys = sc.dir,
					     .sig_now = 1800000000,
					     .sign_threads = threads[t]};
		CHECK_EQ(p53_compile(z, 1, &o, &img[t], &len[t], &err), 0);
		/* The creation time, and the content hash over it, differ. */
		if (img[t] && len[t] >= sizeof(struct snap_hdr)) {
			((struct snap_hdr *)img[t])->created = 0;
			memset(((struct snap_hdr *)img[t])->hash, 0, 32);
		}
	}
	CHECK(img[0] && img[1] && len[0] == len[1] && memcmp(img[0], img[1], len[0]) == 0);
	CHECK(len[0] > 7500u * 64); /* every RRset and NSEC signed */
	for (unsigned t = 0; t < 2; t++)
		free(img[t]);
	scratch_done(&sc);
}

/* Algorithms 8 (RSA/SHA-256, 2048 and 1024 bits) and 13 (ECDSA P-256):
 * a zone signed with one key of the algorithm, its online signatures
 * verified by OpenSSL, cache hits giving the same bytes, and many sets
 * through a small cache (entries as long as the key's signatures). */
static void alg_case(uint8_t alg, unsigned bits)
{
	struct scratch sc;
	FILE *f = scratch_zone(&sc);
	if (f == NULL)
		return;
	fputs("www A 192.0.2.2\n", f);
	fclose(f);
	scratch_key(&sc, alg, bits);
	const struct dnskey k = sc.k;
	struct p53_err err = {0};
	struct p53_snapshot *s = build(sc.dir, sc.zf);
	CHECK(s != NULL);
	struct p53_osign_cfg cfg = {.cache = 64, .fixed_now = 1800000000};
	struct p53_osign *o = s ? p53_osign_new(s, &cfg, 1, &err) : NULL;
	CHECK(o != NULL);
	if (o) {
		CHECK_EQ(p53_osign_add_key(o, 0, k.alg, k.tag, k.pkey, k.rdata, k.rdlen, &err), 0);
		CHECK_EQ(p53_osign_ready(o, &err), 0);
		static const uint8_t a1[4] = {192, 0, 2, 10}, a2[4] = {192, 0, 2, 9};
		struct p53_osign_rr rr[2] = {{a1, 4}, {a2, 4}}, rev[2] = {{a2, 4}, {a1, 4}};
		const uint8_t *sorted[2] = {a2, a1};
		uint8_t out[2][1024];
		size_t used[2] = {0};
		CHECK_EQ(p53_osign_rrset(o, 0, 0, www, sizeof(www), RR_A, 60, rr, 2, out[0],
					 sizeof(out[0]), &used[0]),
			 1u);
		size_t rl = (size_t)(out[0][0] << 8 | out[0][1]);
		CHECK_EQ(out[0][2 + 2], alg);
		CHECK(verify(k.pkey, out[0] + 2, rl, sorted, 2, 60));
		CHECK_EQ(p53_osign_rrset(o, 0, 0, www, sizeof(www), RR_A, 60, rev, 2, out[1],
					 sizeof(out[1]), &used[1]),
			 1u);
		uint64_t made, hits;
		p53_osign_counts(o, &made, &hits);
		CHECK_EQ(made, 1u);
		CHECK_EQ(hits, 1u);
		CHECK(used[0] == used[1] && memcmp(out[0], out[1], used[0]) == 0);
		unsigned bad = 0;
		for (unsigned round = 0; round < 2; round++)
			for (unsigned i = 0; i < 150; i++) {
				uint8_t a[4] = {10, 1, (uint8_t)i, (uint8_t)(i % 5)};
				struct p53_osign_rr x = {a, 4};
				const uint8_t *xs[1] = {a};
				size_t u = 0;
				uint8_t buf[1024];
				if (p53_osign_rrset(o, 0, 0, www, sizeof(www), RR_A, 60, &x, 1, buf,
						    sizeof(buf), &u) != 1 ||
				    !verify(k.pkey, buf + 2, (size_t)(buf[0] << 8 | buf[1]), xs, 1,
					    60))
					bad++;
			}
		CHECK_EQ(bad, 0u);
		CHECK(p53_osign_cache_used(o, 0) <= 64);
		p53_osign_counts(o, &made, &hits);
		CHECK(hits > 1u); /* the second round found some still cached */
		/* Room for the header but not the signature: nothing written. */
		size_t u = 0;
		uint8_t small[120];
		CHECK_EQ(p53_osign_rrset(o, 0, 0, www, sizeof(www), RR_A, 60, rr, 2, small,
					 alg == 8 ? sizeof(small) : 40, &u),
			 0u);
		CHECK_EQ(u, 0u);
	}
	p53_osign_free(o);
	p53_snapshot_free(s);
	scratch_done(&sc);
}

int main(void)
{
	struct scratch sc;
	FILE *f = scratch_zone(&sc);
	if (f == NULL)
		return check_report("osign");
	fputs("www A 192.0.2.2\n", f);
	fclose(f);
	scratch_key(&sc, DNSKEY_ALG_ED25519, 0);
	const struct dnskey k = sc.k;
	struct p53_err err = {0};
	struct dnskey other;
	CHECK_EQ(
	    dnskey_generate(&other, apex, sizeof(apex), DNSKEY_ALG_ECDSAP256, DNSKEY_ZSK, 0, &err),
	    0);
	struct p53_snapshot *s = build(sc.dir, sc.zf);
	CHECK(s != NULL);
	if (s == NULL)
		return check_report("osign");

	struct p53_osign_cfg cfg = {.cache = 64, .fixed_now = 1800000000};
	struct p53_osign *o = p53_osign_new(s, &cfg, 2, &err);
	CHECK(o != NULL);
	/* A key the compiled zone does not publish is refused. */
	CHECK(p53_osign_add_key(o, 0, other.alg, other.tag, other.pkey, other.rdata, other.rdlen,
				&err) != 0);
	CHECK_EQ(p53_osign_add_key(o, 0, k.alg, k.tag, k.pkey, k.rdata, k.rdlen, &err), 0);
	CHECK_EQ(p53_osign_ready(o, &err), 0);
	CHECK(p53_osign_has_zone(o, 0));

	static const uint8_t a1[4] = {192, 0, 2, 10}, a2[4] = {192, 0, 2, 9};
	struct p53_osign_rr rr[2] = {{a1, 4}, {a2, 4}}, rev[2] = {{a2, 4}, {a1, 4}};
	const uint8_t *sorted[2] = {a2, a1};
	uint8_t out[4][1024];
	size_t used[4] = {0};
	CHECK_EQ(p53_osign_rrset(o, 0, 0, www, sizeof(www), RR_A, 60, rr, 2, out[0], sizeof(out[0]),
				 &used[0]),
		 1u);
	size_t rl = (size_t)(out[0][0] << 8 | out[0][1]);
	CHECK(verify(k.pkey, out[0] + 2, rl, sorted, 2, 60));
	/* RRSIG fields: covered type, algorithm, labels, TTL, key tag, and a
	 * window holding the pinned time, 14 days and the hour of lag long. */
	const uint8_t *h = out[0] + 2;
	CHECK_EQ(h[0] << 8 | h[1], RR_A);
	CHECK_EQ(h[2], 15);
	CHECK_EQ(h[3], 2);
	uint32_t exp = (uint32_t)h[8] << 24 | h[9] << 16 | h[10] << 8 | h[11];
	uint32_t inc = (uint32_t)h[12] << 24 | h[13] << 16 | h[14] << 8 | h[15];
	CHECK(inc <= 1800000000u && 1800000000u < exp);
	CHECK_EQ(exp - inc, 14u * 86400 + 3600);
	CHECK_EQ(h[16] << 8 | h[17], k.tag);

	/* The same set in another order: a cache hit, the same bytes. */
	uint64_t made, hits;
	CHECK_EQ(p53_osign_rrset(o, 0, 0, www, sizeof(www), RR_A, 60, rev, 2, out[1],
				 sizeof(out[1]), &used[1]),
		 1u);
	p53_osign_counts(o, &made, &hits);
	CHECK_EQ(made, 1u);
	CHECK_EQ(hits, 1u);
	CHECK(used[0] == used[1] && memcmp(out[0], out[1], used[0]) == 0);
	CHECK_EQ(p53_osign_cache_used(o, 0), 1u);
	/* Another thread has its own cache. */
	CHECK_EQ(p53_osign_rrset(o, 1, 0, www, sizeof(www), RR_A, 60, rr, 2, out[2], sizeof(out[2]),
				 &used[2]),
		 1u);
	p53_osign_counts(o, &made, &hits);
	CHECK_EQ(made, 2u);
	CHECK_EQ(p53_osign_cache_used(o, 1), 1u);
	/* Another TTL is another signature. */
	used[3] = 0;
	CHECK_EQ(p53_osign_rrset(o, 0, 0, www, sizeof(www), RR_A, 61, rr, 1, out[3], sizeof(out[3]),
				 &used[3]),
		 1u);
	const uint8_t *one[1] = {a1};
	CHECK(verify(k.pkey, out[3] + 2, (size_t)(out[3][0] << 8 | out[3][1]), one, 1, 61));
	p53_osign_counts(o, &made, &hits);
	CHECK_EQ(made, 3u);

	/* Many distinct sets: the cache stays at its size and every
	 * signature, fresh or evicted and made again, verifies. */
	unsigned bad = 0;
	for (unsigned i = 0; i < 600; i++) {
		uint8_t a[4] = {10, (uint8_t)(i >> 8), (uint8_t)i, (uint8_t)(i % 7)};
		struct p53_osign_rr x = {a, 4};
		const uint8_t *xs[1] = {a};
		size_t u = 0;
		uint8_t buf[512];
		if (p53_osign_rrset(o, 0, 0, www, sizeof(www), RR_A, 60, &x, 1, buf, sizeof(buf),
				    &u) != 1 ||
		    !verify(k.pkey, buf + 2, (size_t)(buf[0] << 8 | buf[1]), xs, 1, 60))
			bad++;
	}
	CHECK_EQ(bad, 0u);
	CHECK(p53_osign_cache_used(o, 0) <= 64);
	/* Too small an output buffer: nothing written. */
	size_t u = 0;
	uint8_t tiny[16];
	CHECK_EQ(
	    p53_osign_rrset(o, 0, 0, www, sizeof(www), RR_A, 60, rr, 2, tiny, sizeof(tiny), &u),
	    0u);
	CHECK_EQ(u, 0u);
	/* No key for an unknown zone index, nor for thread indexes past the end. */
	CHECK_EQ(
	    p53_osign_rrset(o, 0, 7, www, sizeof(www), RR_A, 60, rr, 2, out[0], sizeof(out[0]), &u),
	    0u);
	CHECK_EQ(
	    p53_osign_rrset(o, 2, 0, www, sizeof(www), RR_A, 60, rr, 2, out[0], sizeof(out[0]), &u),
	    0u);

	p53_osign_free(o);
	p53_snapshot_free(s);
	dnskey_free(&other);
	scratch_done(&sc);
	parallel_case();
	alg_case(13, 0);
	alg_case(8, 2048);
	alg_case(8, 1024);
	return check_report("osign");
}
