/* DNSSEC key files (zones/compile/dnskey.c), as the compiler
 * (--dnssec-keys) and the control plane's signer (--sign-keys) read them
 * from a directory on every run: BIND's K-file pair and PEM keys, through
 * the readers the directory loader calls (dnskey_parse_bind,
 * dnskey_parse_pem), on memory.
 *
 * Input: byte 0 picks the PEM key's role (KSK, ZSK, CSK) and owner
 * (example.com. or the root); the rest is cut at its first two NUL bytes
 * into the .key text, the .private text and a PEM file (absent pieces are
 * empty). A refusal must carry a message. A key that loads is used as the
 * signer uses it: it signs an RRset's signed data, and the signature must
 * verify under the public key as published (the DNSKEY rdata, read back
 * here with OpenSSL alone), so a key that loads but signs wrongly is
 * caught; its DS digests, key tag, base64 and timing are checked too.
 */
#include "fuzz/fuzz.h"

#include "zones/common/name.h"
#include "zones/compile/dnskey.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* RFC 4034 appendix B, written out again rather than calling dnskey_tag. */
static uint16_t tag_of(const uint8_t *rd, size_t len)
{
	unsigned long ac = 0;
	for (size_t i = 0; i < len; i++)
		ac += (i & 1) ? rd[i] : (unsigned long)rd[i] << 8;
	ac += (ac >> 16) & 0xffff;
	return (uint16_t)ac;
}

/* The public key of DNSKEY rdata (RFC 3110, 6605, 8080), or NULL. */
static EVP_PKEY *pub_of_rdata(const uint8_t *rd, size_t len)
{
	if (len < 4)
		return NULL;
	const uint8_t *p = rd + 4;
	size_t n = len - 4;
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *ps = NULL;
	BIGNUM *e = NULL, *m = NULL;
	uint8_t pt[65] = {4}; /* the builder keeps a pointer until to_param */
	if (bld == NULL)
		return NULL;
	switch (rd[3]) {
	case DNSKEY_ALG_ED25519:
		if (n == 32)
			pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p, 32);
		goto out;
	case DNSKEY_ALG_ECDSAP256:
		if (n != 64)
			goto out;
		memcpy(pt + 1, p, 64);
		if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1",
						    0) != 1 ||
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 65) != 1 ||
		    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL)
			goto out;
		break;
	case DNSKEY_ALG_RSASHA256: {
		size_t hl = 1, el = n ? p[0] : 0;
		if (n >= 3 && p[0] == 0) {
			hl = 3;
			el = (size_t)p[1] << 8 | p[2];
		}
		if (el == 0 || hl + el >= n || (e = BN_bin2bn(p + hl, (int)el, NULL)) == NULL ||
		    (m = BN_bin2bn(p + hl + el, (int)(n - hl - el), NULL)) == NULL ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, m) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
		    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL)
			goto out;
		break;
	}
	default:
		goto out;
	}
	if ((ps = OSSL_PARAM_BLD_to_param(bld)) == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, ps) != 1)
		pk = NULL;
out:
	OSSL_PARAM_free(ps);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(e);
	BN_free(m);
	return pk;
}

/* Whether sig (in RRSIG's wire form) is msg's signature under pk. */
static bool verifies(EVP_PKEY *pk, uint8_t alg, const uint8_t *msg, size_t len, const uint8_t *sig,
		     size_t sl)
{
	uint8_t der[80];
	if (alg == DNSKEY_ALG_ECDSAP256) {
		/* RFC 6605 r || s back to the DER ECDSA-Sig-Value OpenSSL checks. */
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
		unsigned char *o = der;
		int dl = -1;
		if (sl == 64 && es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
			r = s = NULL;
			if (i2d_ECDSA_SIG(es, NULL) <= (int)sizeof(der))
				dl = i2d_ECDSA_SIG(es, &o);
		}
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		if (dl <= 0)
			return false;
		sig = der;
		sl = (size_t)dl;
	}
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md &&
		  EVP_DigestVerifyInit(md, NULL, alg == DNSKEY_ALG_ED25519 ? NULL : EVP_sha256(),
				       NULL, pk) == 1 &&
		  EVP_DigestVerify(md, sig, sl, msg, len) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

/* What the signer does with a key, and what must hold of it. */
static void use_key(const struct dnskey *k, bool pem, uint16_t pem_flags)
{
	if (k->pkey == NULL || k->rdlen < 4 || k->rdlen > DNSKEY_RDATA_MAX || k->owner_len == 0 ||
	    k->owner_len > P53_NAME_MAX || name_len(k->owner) != k->owner_len || k->file[0] == 0)
		abort();
	if (k->alg != DNSKEY_ALG_RSASHA256 && k->alg != DNSKEY_ALG_ECDSAP256 &&
	    k->alg != DNSKEY_ALG_ED25519)
		abort();
	if (k->rdata[0] != (uint8_t)(k->flags >> 8) || k->rdata[1] != (uint8_t)k->flags ||
	    k->rdata[2] != 3 || k->rdata[3] != k->alg || k->tag != tag_of(k->rdata, k->rdlen))
		abort();
	if ((pem && k->flags != pem_flags) || !(k->flags & DNSKEY_ZSK))
		abort(); /* a key without the ZONE flag signs nothing validators accept */

	/* An RRSIG's signed data (RFC 4034 3.1.8.1) over an A RRset. */
	uint8_t msg[18 + 2 * P53_NAME_MAX + 14];
	size_t ml = 0;
	uint8_t labels = 0;
	for (size_t o = 0; k->owner[o]; o += 1u + k->owner[o])
		labels++;
	const uint8_t head[] = {0,
				1,
				k->alg,
				labels,
				0,
				0,
				14,
				16,
				0x6a,
				0x00,
				0,
				0,
				0x69,
				0x00,
				0,
				0,
				(uint8_t)(k->tag >> 8),
				(uint8_t)k->tag};
	memcpy(msg, head, sizeof(head));
	ml = sizeof(head);
	memcpy(msg + ml, k->owner, k->owner_len);
	ml += k->owner_len;
	memcpy(msg + ml, k->owner, k->owner_len);
	ml += k->owner_len;
	const uint8_t rr[] = {0, 1, 0, 1, 0, 0, 14, 16, 0, 4, 192, 0, 2, 1};
	memcpy(msg + ml, rr, sizeof(rr));
	ml += sizeof(rr);

	uint8_t sig[DNSKEY_SIG_MAX];
	size_t sl = dnskey_sign(k, msg, ml, sig);
	EVP_PKEY *pub = pub_of_rdata(k->rdata, k->rdlen);
	/* A key the loader accepted signs, and its published half verifies
	 * what it signed: otherwise the zone would go bogus. */
	if (sl == 0 || pub == NULL || !verifies(pub, k->alg, msg, ml, sig, sl))
		abort();
	EVP_PKEY_free(pub);

	uint8_t ds[64];
	size_t d2 = dnskey_ds(k, 2, ds);
	if (d2 != 36 || ds[0] != (uint8_t)(k->tag >> 8) || ds[1] != (uint8_t)k->tag ||
	    ds[2] != k->alg || ds[3] != 2)
		abort();
	if (dnskey_ds(k, 4, ds) != 52 || dnskey_ds(k, 1, ds) != 0)
		abort();

	char b64[4 * (DNSKEY_RDATA_MAX / 3 + 1) + 1];
	uint8_t back[DNSKEY_RDATA_MAX + 3];
	if (dnskey_pub_base64(k, b64, sizeof(b64)) != 0)
		abort();
	size_t bl = strlen(b64);
	int dl = EVP_DecodeBlock(back, (const unsigned char *)b64, (int)bl);
	size_t pad = bl >= 2 ? (b64[bl - 1] == '=') + (b64[bl - 2] == '=') : 0;
	if (dl < 0 || (size_t)dl - pad != (size_t)k->rdlen - 4 ||
	    memcmp(back, k->rdata + 4, (size_t)k->rdlen - 4) != 0)
		abort();

	/* The timing the signer decides by: signing implies published, and
	 * only a key with the SEP flag has CDS records. */
	const int64_t at[] = {0,	   1,	      k->publish,      k->activate,
			      k->inactive, k->remove, k->sync_publish, k->sync_delete,
			      INT64_MAX};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		if (dnskey_active(k, at[i]) && !dnskey_published(k, at[i]))
			abort();
		if (dnskey_synced(k, at[i]) && !(k->flags & 1))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 64 * 1024)
		return 0;
	static const uint16_t roles[4] = {DNSKEY_KSK, DNSKEY_ZSK, DNSKEY_KSK, DNSKEY_ZSK};
	uint16_t flags = roles[data[0] & 3];
	const uint8_t *owner =
	    (data[0] & 4) ? (const uint8_t *)"" : (const uint8_t *)"\7example\3com";
	size_t owner_len = (data[0] & 4) ? 1 : 13;

	/* One copy, NUL-terminated, cut into its pieces in place. */
	char *buf = malloc(size);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = 0;
	char *keytext = buf, *privtext = buf + strlen(buf);
	if (privtext < buf + size - 1)
		privtext++;
	char *pem = privtext + strlen(privtext);
	if (pem < buf + size - 1)
		pem++;
	size_t pemlen = (size_t)(buf + size - 1 - pem);

	struct dnskey k;
	struct p53_err err = {0};
	if (dnskey_parse_bind(keytext, "K.key", privtext, "K.private", &k, &err) == 0) {
		use_key(&k, false, 0);
		dnskey_free(&k);
	} else if (err.msg[0] == 0 || k.pkey != NULL) {
		abort(); /* refused with a message, nothing kept */
	}
	if (pemlen > 0) {
		struct p53_err perr = {0};
		if (dnskey_parse_pem(pem, pemlen, "zone.pem", owner, owner_len, flags, &k, &perr) ==
		    0) {
			use_key(&k, true, flags);
			dnskey_free(&k);
		} else if (perr.msg[0] == 0 || k.pkey != NULL) {
			abort();
		}
	}
	free(buf);
	return 0;
}
