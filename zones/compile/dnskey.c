/* DNSSEC keys (dnskey.h): OpenSSL does the cryptography; this file turns
 * its keys into DNSKEY rdata, signatures into the wire forms RRSIG carries,
 * and reads and writes the files operators already keep keys in (BIND's
 * K-files, which dnssec-keygen and ldns-keygen write too, and PEM).
 */
#include "zones/compile/dnskey.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint8_t dnskey_alg_from_text(const char *s)
{
	if (!strcmp(s, "8") || !strcasecmp(s, "RSASHA256"))
		return DNSKEY_ALG_RSASHA256;
	if (!strcmp(s, "13") || !strcasecmp(s, "ECDSAP256SHA256") || !strcasecmp(s, "ecdsa"))
		return DNSKEY_ALG_ECDSAP256;
	if (!strcmp(s, "15") || !strcasecmp(s, "ED25519"))
		return DNSKEY_ALG_ED25519;
	return 0;
}

const char *dnskey_alg_name(uint8_t alg)
{
	switch (alg) {
	case DNSKEY_ALG_RSASHA256:
		return "RSASHA256";
	case DNSKEY_ALG_ECDSAP256:
		return "ECDSAP256SHA256";
	case DNSKEY_ALG_ED25519:
		return "ED25519";
	}
	return "?";
}

uint16_t dnskey_tag(const uint8_t *rd, size_t len)
{
	uint32_t ac = 0;
	for (size_t i = 0; i < len; i++)
		ac += (i & 1) ? rd[i] : (uint32_t)rd[i] << 8;
	ac += (ac >> 16) & 0xffff;
	return (uint16_t)(ac & 0xffff);
}

/* The public-key field of DNSKEY rdata (RFC 3110, 6605, 8080). */
static size_t pub_field(EVP_PKEY *pk, uint8_t alg, uint8_t *out, size_t cap)
{
	switch (alg) {
	case DNSKEY_ALG_ECDSAP256: {
		uint8_t pt[65];
		size_t l = 0;
		if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt),
						    &l) != 1 ||
		    l != 65 || pt[0] != 4 || cap < 64)
			return 0;
		memcpy(out, pt + 1, 64);
		return 64;
	}
	case DNSKEY_ALG_ED25519: {
		size_t l = cap;
		if (EVP_PKEY_get_raw_public_key(pk, out, &l) != 1 || l != 32)
			return 0;
		return 32;
	}
	case DNSKEY_ALG_RSASHA256: {
		BIGNUM *n = NULL, *e = NULL;
		size_t r = 0;
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
		    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) == 1) {
			size_t el = (size_t)BN_num_bytes(e), nl = (size_t)BN_num_bytes(n);
			size_t hl = el < 256 ? 1 : 3;
			if (hl + el + nl <= cap && el <= 0xffff) {
				if (hl == 1) {
					out[0] = (uint8_t)el;
				} else {
					out[0] = 0;
					out[1] = (uint8_t)(el >> 8);
					out[2] = (uint8_t)el;
				}
				BN_bn2bin(e, out + hl);
				BN_bn2bin(n, out + hl + el);
				r = hl + el + nl;
			}
		}
		BN_free(n);
		BN_free(e);
		return r;
	}
	}
	return 0;
}

/* Fills the rdata and tag from pkey, alg and flags. */
static int finish_key(struct dnskey *k, struct p53_err *err)
{
	k->rdata[0] = (uint8_t)(k->flags >> 8);
	k->rdata[1] = (uint8_t)k->flags;
	k->rdata[2] = 3;
	k->rdata[3] = k->alg;
	size_t n = pub_field(k->pkey, k->alg, k->rdata + 4, sizeof(k->rdata) - 4);
	if (n == 0)
		return p53_err_set(err, P53_EINVAL, "%s: key does not match algorithm %u (%s)",
				   k->file[0] ? k->file : "key", k->alg, dnskey_alg_name(k->alg));
	k->rdlen = (uint16_t)(4 + n);
	k->tag = dnskey_tag(k->rdata, k->rdlen);
	return 0;
}

static uint8_t alg_of_pkey(EVP_PKEY *pk)
{
	if (EVP_PKEY_is_a(pk, "ED25519"))
		return DNSKEY_ALG_ED25519;
	if (EVP_PKEY_is_a(pk, "RSA"))
		return DNSKEY_ALG_RSASHA256;
	if (EVP_PKEY_is_a(pk, "EC")) {
		char g[64];
		size_t l = 0;
		if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof(g),
						   &l) == 1 &&
		    (!strcmp(g, "prime256v1") || !strcmp(g, "P-256")))
			return DNSKEY_ALG_ECDSAP256;
	}
	return 0;
}

int dnskey_generate(struct dnskey *k, const uint8_t *owner, size_t owner_len, uint8_t alg,
		    uint16_t flags, unsigned rsa_bits, struct p53_err *err)
{
	memset(k, 0, sizeof(*k));
	EVP_PKEY *pk = NULL;
	switch (alg) {
	case DNSKEY_ALG_ECDSAP256:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case DNSKEY_ALG_ED25519:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case DNSKEY_ALG_RSASHA256:
		if (rsa_bits == 0)
			rsa_bits = 2048;
		if (rsa_bits < 1024 || rsa_bits > 4096)
			return p53_err_set(err, P53_EINVAL, "RSA keys are 1024 to 4096 bits");
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
		break;
	default:
		return p53_err_set(err, P53_EINVAL, "algorithm %u not supported (8, 13, 15)", alg);
	}
	if (pk == NULL)
		return p53_err_set(err, P53_EIO, "key generation failed");
	k->pkey = pk;
	k->alg = alg;
	k->flags = flags;
	memcpy(k->owner, owner, owner_len);
	k->owner_len = owner_len;
	name_lower(k->owner, owner_len);
	int rc = finish_key(k, err);
	if (rc)
		dnskey_free(k);
	return rc;
}

void dnskey_free(struct dnskey *k)
{
	if (k && k->pkey) {
		EVP_PKEY_free(k->pkey);
		k->pkey = NULL;
	}
}

void dnskey_free_all(struct dnskey *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dnskey_free(&keys[i]);
	free(keys);
}

/* ---- signatures ------------------------------------------------------- */

size_t dnskey_sign(const struct dnskey *k, const uint8_t *msg, size_t len,
		   uint8_t sig[DNSKEY_SIG_MAX])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[DNSKEY_SIG_MAX];
	size_t sl = sizeof(der), out = 0;
	const EVP_MD *h = k->alg == DNSKEY_ALG_ED25519 ? NULL : EVP_sha256();
	if (md == NULL || EVP_DigestSignInit(md, NULL, h, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(md, der, &sl, msg, len) != 1)
		goto done;
	if (k->alg == DNSKEY_ALG_ECDSAP256) {
		/* RFC 6605 4: r and s, 32 bytes each, not DER. */
		const uint8_t *p = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
		const BIGNUM *r, *s;
		if (es == NULL)
			goto done;
		ECDSA_SIG_get0(es, &r, &s);
		if (BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32)
			out = 64;
		ECDSA_SIG_free(es);
	} else if (sl <= DNSKEY_SIG_MAX) {
		memcpy(sig, der, sl);
		out = sl;
	}
done:
	EVP_MD_CTX_free(md);
	return out;
}

size_t dnskey_ds(const struct dnskey *k, uint8_t digest, uint8_t out[64])
{
	const EVP_MD *md = digest == 2 ? EVP_sha256() : digest == 4 ? EVP_sha384() : NULL;
	if (md == NULL)
		return 0;
	uint8_t buf[P53_NAME_MAX + DNSKEY_RDATA_MAX];
	memcpy(buf, k->owner, k->owner_len);
	memcpy(buf + k->owner_len, k->rdata, k->rdlen);
	unsigned dl = 0;
	out[0] = (uint8_t)(k->tag >> 8);
	out[1] = (uint8_t)k->tag;
	out[2] = k->alg;
	out[3] = digest;
	if (EVP_Digest(buf, k->owner_len + k->rdlen, out + 4, &dl, md, NULL) != 1)
		return 0;
	return 4 + dl;
}

int dnskey_pub_base64(const struct dnskey *k, char *buf, size_t cap)
{
	size_t n = (size_t)k->rdlen - 4;
	if (cap < 4 * ((n + 2) / 3) + 1)
		return P53_ERANGE;
	EVP_EncodeBlock((unsigned char *)buf, k->rdata + 4, (int)n);
	return 0;
}

/* A key read from files must be one the signer can use: what it signs,
 * its own public half (the DNSKEY record made of it) verifies. Neither
 * format ties the two together (PKCS#8 and RFC 5915 EC keys carry a public
 * point of their own, RSA keys the modulus beside the exponents and
 * primes, and OpenSSL checks neither on reading), and a mismatched pair
 * would publish a DNSKEY under which every RRSIG of the zone is bogus. */
static int check_pair(const struct dnskey *k, struct p53_err *err)
{
	if (k->alg == DNSKEY_ALG_RSASHA256) {
		int bits = EVP_PKEY_get_bits(k->pkey);
		if (bits < 1024 || bits > 4096)
			return p53_err_set(err, P53_EINVAL,
					   "%s: RSA keys are 1024 to 4096 bits, not %d", k->file,
					   bits);
	}
	static const uint8_t msg[] = "port53 key pair check";
	uint8_t sig[DNSKEY_SIG_MAX], der[80];
	size_t sl = dnskey_sign(k, msg, sizeof(msg), sig);
	const uint8_t *s = sig;
	if (sl == 64 && k->alg == DNSKEY_ALG_ECDSAP256) {
		/* Back from RFC 6605's r || s to the DER OpenSSL verifies. */
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
		unsigned char *o = der;
		int dl = 0;
		if (es && r && ss && ECDSA_SIG_set0(es, r, ss) == 1) {
			r = ss = NULL;
			if (i2d_ECDSA_SIG(es, NULL) <= (int)sizeof(der))
				dl = i2d_ECDSA_SIG(es, &o);
		}
		BN_free(r);
		BN_free(ss);
		ECDSA_SIG_free(es);
		sl = dl > 0 ? (size_t)dl : 0;
		s = der;
	}
	EVP_MD_CTX *md = sl ? EVP_MD_CTX_new() : NULL;
	bool ok = md &&
		  EVP_DigestVerifyInit(md, NULL, k->alg == DNSKEY_ALG_ED25519 ? NULL : EVP_sha256(),
				       NULL, k->pkey) == 1 &&
		  EVP_DigestVerify(md, s, sl, msg, sizeof(msg)) == 1;
	EVP_MD_CTX_free(md);
	if (!ok)
		return p53_err_set(err, P53_EINVAL,
				   "%s: the private key does not match its public key (a damaged "
				   "key file?)",
				   k->file);
	return 0;
}

/* ---- files ------------------------------------------------------------ */

static int b64_decode(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	char clean[8192];
	size_t n = 0;
	for (; *s; s++)
		if (!isspace((unsigned char)*s)) {
			if (n + 1 >= sizeof(clean))
				return -1;
			clean[n++] = *s;
		}
	clean[n] = 0;
	if (n == 0 || n % 4 || n / 4 * 3 > cap)
		return -1;
	int l = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)n);
	if (l < 0)
		return -1;
	size_t pad = (clean[n - 1] == '=') + (clean[n - 2] == '=');
	*len = (size_t)l - pad;
	return 0;
}

static void name_text(const uint8_t *owner, char *buf, size_t cap)
{
	name_to_text(owner, buf, cap);
}

static int write_file(const char *path, const char *text, mode_t mode, struct p53_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (fd < 0)
		return p53_err_set(err, P53_EIO, "%s: %s", path, strerror(errno));
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	if (close(fd) != 0 || w != (ssize_t)len) {
		unlink(path);
		return p53_err_set(err, P53_EIO, "%s: write failed", path);
	}
	return 0;
}

static int add_b64(char *t, size_t cap, const char *field, const uint8_t *v, size_t n)
{
	size_t used = strlen(t);
	if (used + strlen(field) + 4 * ((n + 2) / 3) + 4 > cap)
		return -1;
	used += (size_t)sprintf(t + used, "%s: ", field);
	used += (size_t)EVP_EncodeBlock((unsigned char *)t + used, v, (int)n);
	strcpy(t + used, "\n");
	return 0;
}

static int add_bn(char *t, size_t cap, const char *field, EVP_PKEY *pk, const char *param)
{
	BIGNUM *b = NULL;
	uint8_t v[1024];
	if (EVP_PKEY_get_bn_param(pk, param, &b) != 1)
		return -1;
	int n = BN_num_bytes(b);
	int rc = n > 0 && (size_t)n <= sizeof(v) ? 0 : -1;
	if (rc == 0) {
		BN_bn2bin(b, v);
		rc = add_b64(t, cap, field, v, (size_t)n);
	}
	BN_clear_free(b);
	return rc;
}

/* BIND's timing fields, in .private order, and their dnskey members. */
static const struct {
	const char *name;
	size_t off;
} timing_fields[] = {
    {"Publish", offsetof(struct dnskey, publish)},
    {"Activate", offsetof(struct dnskey, activate)},
    {"Inactive", offsetof(struct dnskey, inactive)},
    {"Delete", offsetof(struct dnskey, remove)},
    {"SyncPublish", offsetof(struct dnskey, sync_publish)},
    {"SyncDelete", offsetof(struct dnskey, sync_delete)},
};
#define NTIMING (sizeof(timing_fields) / sizeof(timing_fields[0]))

static int64_t *timing_of(struct dnskey *k, size_t i)
{
	return (int64_t *)((char *)k + timing_fields[i].off);
}

/* "Field: YYYYMMDDHHMMSS" lines (UTC) for the timing k has set. */
static void timing_lines(const struct dnskey *k, char *out, size_t cap)
{
	size_t used = 0;
	out[0] = 0;
	for (size_t i = 0; i < NTIMING; i++) {
		int64_t v = *timing_of((struct dnskey *)k, i);
		if (v == 0)
			continue;
		time_t t = (time_t)v;
		struct tm tm;
		char when[32];
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y%m%d%H%M%S", &tm);
		int n = snprintf(out + used, cap - used, "%s: %s\n", timing_fields[i].name, when);
		if (n < 0 || (size_t)n >= cap - used)
			return;
		used += (size_t)n;
	}
}

/* BIND's YYYYMMDDHHMMSS (UTC); 0 when malformed. */
static int64_t timing_parse(const char *s)
{
	if (strlen(s) != 14 || strspn(s, "0123456789") != 14)
		return 0;
	int v[6], w[6] = {4, 2, 2, 2, 2, 2};
	for (int i = 0, o = 0; i < 6; o += w[i++]) {
		v[i] = 0;
		for (int j = 0; j < w[i]; j++)
			v[i] = v[i] * 10 + (s[o + j] - '0');
	}
	int y = v[0], m = v[1], d = v[2];
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
		return 0;
	/* Days from 1970-01-01 to the civil date (proleptic Gregorian). */
	y -= m <= 2;
	int64_t era = y / 400, yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days = era * 146097 + doe - 719468;
	return days * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
}

bool dnskey_published(const struct dnskey *k, int64_t now)
{
	int64_t from = k->publish ? k->publish : k->activate;
	return (from == 0 || from <= now) && (k->remove == 0 || now < k->remove);
}

bool dnskey_active(const struct dnskey *k, int64_t now)
{
	return dnskey_published(k, now) && (k->activate == 0 || k->activate <= now) &&
	       (k->inactive == 0 || now < k->inactive);
}

bool dnskey_synced(const struct dnskey *k, int64_t now)
{
	if (!(k->flags & 1))
		return false;
	int64_t from = k->sync_publish ? k->sync_publish : k->activate ? k->activate : k->publish;
	if (from && now < from)
		return false;
	if (k->sync_delete)
		return now < k->sync_delete;
	/* Without SyncDelete, the CDS goes with the key's signing. */
	return !((k->inactive && now >= k->inactive) || (k->remove && now >= k->remove));
}

int dnskey_write_bind(const struct dnskey *k, const char *dir, char *base, size_t cap,
		      struct p53_err *err)
{
	char zone[1024], path[1200], pub[2048], tm[32];
	name_text(k->owner, zone, sizeof(zone));
	/* BIND names keys with the lower-case origin and its final dot. */
	int n = snprintf(base, cap, "%s/K%s+%03u+%05u", dir, zone, k->alg, k->tag);
	if (n < 0 || (size_t)n >= cap)
		return p53_err_set(err, P53_ERANGE, "key path too long");
	time_t now = time(NULL);
	struct tm t;
	gmtime_r(&now, &t);
	strftime(tm, sizeof(tm), "%Y%m%d%H%M%S", &t);
	static char priv[8192];
	snprintf(priv, sizeof(priv), "Private-key-format: v1.3\nAlgorithm: %u (%s)\n", k->alg,
		 dnskey_alg_name(k->alg));
	int rc = 0;
	EVP_PKEY *pk = k->pkey;
	if (k->alg == DNSKEY_ALG_ED25519) {
		uint8_t raw[32];
		size_t l = sizeof(raw);
		rc = EVP_PKEY_get_raw_private_key(pk, raw, &l) == 1 && l == 32
			 ? add_b64(priv, sizeof(priv), "PrivateKey", raw, 32)
			 : -1;
	} else if (k->alg == DNSKEY_ALG_ECDSAP256) {
		BIGNUM *d = NULL;
		uint8_t raw[32];
		rc = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 &&
			     BN_bn2binpad(d, raw, 32) == 32
			 ? add_b64(priv, sizeof(priv), "PrivateKey", raw, 32)
			 : -1;
		BN_clear_free(d);
	} else {
		rc =
		    add_bn(priv, sizeof(priv), "Modulus", pk, OSSL_PKEY_PARAM_RSA_N) ||
		    add_bn(priv, sizeof(priv), "PublicExponent", pk, OSSL_PKEY_PARAM_RSA_E) ||
		    add_bn(priv, sizeof(priv), "PrivateExponent", pk, OSSL_PKEY_PARAM_RSA_D) ||
		    add_bn(priv, sizeof(priv), "Prime1", pk, OSSL_PKEY_PARAM_RSA_FACTOR1) ||
		    add_bn(priv, sizeof(priv), "Prime2", pk, OSSL_PKEY_PARAM_RSA_FACTOR2) ||
		    add_bn(priv, sizeof(priv), "Exponent1", pk, OSSL_PKEY_PARAM_RSA_EXPONENT1) ||
		    add_bn(priv, sizeof(priv), "Exponent2", pk, OSSL_PKEY_PARAM_RSA_EXPONENT2) ||
		    add_bn(priv, sizeof(priv), "Coefficient", pk, OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
	}
	if (rc != 0)
		return p53_err_set(err, P53_EIO, "cannot export the private key");
	size_t used = strlen(priv);
	snprintf(priv + used, sizeof(priv) - used, "Created: %s\n", tm);
	/* Only the timing the key has: a key without any is published and
	 * signs at every signing time, past ones included (--sig-time). */
	used = strlen(priv);
	timing_lines(k, priv + used, sizeof(priv) - used);
	if (dnskey_pub_base64(k, pub, sizeof(pub)) != 0)
		return p53_err_set(err, P53_ERANGE, "public key too long");
	static char keytext[8192];
	snprintf(keytext, sizeof(keytext),
		 "; This is a %s-signing key, keyid %u, for %s\n%s IN DNSKEY %u 3 %u %s\n",
		 k->flags & 1 ? "key" : "zone", k->tag, zone, zone, k->flags, k->alg, pub);
	snprintf(path, sizeof(path), "%s.private", base);
	if ((rc = write_file(path, priv, 0600, err)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s.key", base);
	if ((rc = write_file(path, keytext, 0644, err)) != 0) {
		snprintf(path, sizeof(path), "%s.private", base);
		unlink(path);
	}
	return rc;
}

int dnskey_write_pem(const struct dnskey *k, const char *path, struct p53_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return p53_err_set(err, P53_EIO, "%s: %s", path, strerror(errno));
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return p53_err_set(err, P53_EIO, "%s: %s", path, strerror(errno));
	}
	int ok = PEM_write_PrivateKey(f, k->pkey, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) != 0 || ok != 1) {
		unlink(path);
		return p53_err_set(err, P53_EIO, "%s: write failed", path);
	}
	return 0;
}

/* A key file's contents, NUL-terminated (its length, which may reach past
 * a NUL byte, to len when given). */
static char *slurp(const char *path, size_t *len, struct p53_err *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		p53_err_set(err, P53_EIO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(65536);
	size_t n = buf ? fread(buf, 1, 65535, f) : 0;
	fclose(f);
	if (buf == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	if (n == 65535) {
		free(buf);
		p53_err_set(err, P53_EINVAL, "%s: too large for a key file", path);
		return NULL;
	}
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

/* k->file: name, or its tail when too long. */
static void set_file(struct dnskey *k, const char *name)
{
	size_t pl = strlen(name);
	memcpy(k->file, pl < sizeof(k->file) ? name : name + pl - sizeof(k->file) + 1,
	       (pl < sizeof(k->file) ? pl : sizeof(k->file) - 1) + 1);
}

/* The value of "Field:" in a .private file, or NULL. */
static const char *field(const char *text, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, name, nl) == 0 && l[nl] == ':') {
			const char *v = l + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t n = strcspn(v, "\r\n");
			if (n >= cap)
				return NULL;
			memcpy(out, v, n);
			out[n] = 0;
			return out;
		}
	}
	return NULL;
}

static EVP_PKEY *ec_from_scalar(const uint8_t d[32])
{
	/* ECPrivateKey (RFC 5915) with the named curve and no public key:
	 * OpenSSL derives the public point while decoding it. */
	static const uint8_t head[] = {0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20};
	static const uint8_t tail[] = {0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86,
				       0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	uint8_t der[sizeof(head) + 32 + sizeof(tail)];
	memcpy(der, head, sizeof(head));
	memcpy(der + sizeof(head), d, 32);
	memcpy(der + sizeof(head) + 32, tail, sizeof(tail));
	const uint8_t *p = der;
	EVP_PKEY *pk = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, (long)sizeof(der));
	OPENSSL_cleanse(der, sizeof(der));
	return pk;
}

static EVP_PKEY *rsa_from_fields(const char *text)
{
	static const char *const names[8] = {"Modulus",	  "PublicExponent", "PrivateExponent",
					     "Prime1",	  "Prime2",	    "Exponent1",
					     "Exponent2", "Coefficient"};
	static const char *const params[8] = {
	    OSSL_PKEY_PARAM_RSA_N,	   OSSL_PKEY_PARAM_RSA_E,
	    OSSL_PKEY_PARAM_RSA_D,	   OSSL_PKEY_PARAM_RSA_FACTOR1,
	    OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
	    OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
	BIGNUM *bn[8] = {0};
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *ps = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	char v[4096];
	uint8_t raw[1024];
	size_t len;
	if (bld == NULL)
		return NULL;
	for (int i = 0; i < 8; i++) {
		if (field(text, names[i], v, sizeof(v)) == NULL ||
		    b64_decode(v, raw, sizeof(raw), &len) != 0 ||
		    (bn[i] = BN_bin2bn(raw, (int)len, NULL)) == NULL ||
		    OSSL_PARAM_BLD_push_BN(bld, params[i], bn[i]) != 1)
			goto out;
	}
	if ((ps = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, ps) != 1)
		pk = NULL;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	for (int i = 0; i < 8; i++)
		BN_clear_free(bn[i]);
	OSSL_PARAM_free(ps);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

/* A decimal field of at most max, else -1; with text_after, what follows
 * the digits after a space is a comment ("Algorithm: 13 (ECDSAP256SHA256)"). */
static long number(const char *s, long max, bool text_after)
{
	size_t n = strspn(s, "0123456789");
	if (n == 0 || n > 6 || (s[n] && !(text_after && s[n] == ' ')))
		return -1;
	long v = strtol(s, NULL, 10);
	return v <= max ? v : -1;
}

/* The DNSKEY line of a .key file: owner [ttl] [IN] DNSKEY flags 3 alg key. */
static int parse_keyfile(const char *text, const char *path, struct dnskey *k, uint8_t *pub,
			 size_t *publen, struct p53_err *err)
{
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char line[8192];
		size_t n = strcspn(l, "\n");
		if (n >= sizeof(line) || *l == ';' || n == 0)
			continue;
		memcpy(line, l, n);
		line[n] = 0;
		char *save = NULL, *tok[8];
		int nt = 0;
		for (char *t = strtok_r(line, " \t\r", &save); t && nt < 8;
		     t = strtok_r(NULL, " \t\r", &save)) {
			tok[nt++] = t;
			if (!strcasecmp(t, "DNSKEY"))
				break;
		}
		if (nt < 2 || strcasecmp(tok[nt - 1], "DNSKEY") != 0)
			continue;
		const char *why = NULL;
		int ol =
		    name_from_text(tok[0], strlen(tok[0]), (const uint8_t *)"", k->owner, &why);
		if (ol < 0)
			return p53_err_set(err, P53_EINVAL, "%s: owner %s: %s", path, tok[0], why);
		k->owner_len = (size_t)ol;
		name_lower(k->owner, k->owner_len);
		char *flags = strtok_r(NULL, " \t\r", &save),
		     *proto = strtok_r(NULL, " \t\r", &save), *alg = strtok_r(NULL, " \t\r", &save),
		     *rest = strtok_r(NULL, "\r", &save);
		if (!flags || !proto || !alg || !rest || strcmp(proto, "3") != 0)
			return p53_err_set(err, P53_EINVAL, "%s: malformed DNSKEY record", path);
		long fl = number(flags, 0xffff, false), al = number(alg, 0xff, false);
		/* Without the ZONE flag (RFC 4034 2.1.1) validators may not use
		 * the key for RRSIGs: every signature of the zone would be bogus. */
		if (fl < 0 || !(fl & DNSKEY_ZSK))
			return p53_err_set(err, P53_EINVAL,
					   "%s: DNSKEY flags %s: not a zone key (256, 257)", path,
					   flags);
		if (al < 0)
			return p53_err_set(err, P53_EINVAL, "%s: DNSKEY algorithm %s: not a number",
					   path, alg);
		k->flags = (uint16_t)fl;
		k->alg = (uint8_t)al;
		if (b64_decode(rest, pub, DNSKEY_RDATA_MAX, publen) != 0)
			return p53_err_set(err, P53_EINVAL, "%s: bad base64 in the public key",
					   path);
		return 0;
	}
	return p53_err_set(err, P53_EINVAL, "%s: no DNSKEY record", path);
}

int dnskey_load_bind(const char *path, struct dnskey *k, struct p53_err *err)
{
	memset(k, 0, sizeof(*k));
	char base[1024], kp[1100], pp[1100];
	size_t bl = strlen(path);
	if (bl >= sizeof(base))
		return p53_err_set(err, P53_ERANGE, "%s: path too long", path);
	strcpy(base, path);
	if (bl > 4 && !strcmp(base + bl - 4, ".key"))
		base[bl - 4] = 0;
	else if (bl > 8 && !strcmp(base + bl - 8, ".private"))
		base[bl - 8] = 0;
	snprintf(kp, sizeof(kp), "%s.key", base);
	snprintf(pp, sizeof(pp), "%s.private", base);
	set_file(k, pp);
	char *kt = slurp(kp, NULL, err), *pt = kt ? slurp(pp, NULL, err) : NULL;
	int rc = kt && pt ? dnskey_parse_bind(kt, kp, pt, pp, k, err) : P53_EINVAL;
	if (pt)
		OPENSSL_cleanse(pt, strlen(pt));
	free(kt);
	free(pt);
	return rc;
}

int dnskey_parse_bind(const char *kt, const char *kp, const char *pt, const char *pp,
		      struct dnskey *k, struct p53_err *err)
{
	memset(k, 0, sizeof(*k));
	set_file(k, pp);
	uint8_t pub[DNSKEY_RDATA_MAX], raw[64];
	size_t publen = 0, rl = 0;
	char v[256];
	int rc;
	if ((rc = parse_keyfile(kt, kp, k, pub, &publen, err)) != 0)
		goto out;
	rc = P53_EINVAL;
	if (field(pt, "Algorithm", v, sizeof(v)) == NULL || number(v, 0xff, true) != k->alg) {
		p53_err_set(err, P53_EINVAL, "%s: algorithm differs from %s", pp, kp);
		goto out;
	}
	if (k->alg == DNSKEY_ALG_RSASHA256) {
		k->pkey = rsa_from_fields(pt);
	} else if (k->alg == DNSKEY_ALG_ECDSAP256 || k->alg == DNSKEY_ALG_ED25519) {
		if (field(pt, "PrivateKey", v, sizeof(v)) &&
		    b64_decode(v, raw, sizeof(raw), &rl) == 0 && rl == 32)
			k->pkey =
			    k->alg == DNSKEY_ALG_ED25519
				? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, 32)
				: ec_from_scalar(raw);
		OPENSSL_cleanse(raw, sizeof(raw));
	} else {
		p53_err_set(err, P53_ENOTSUP, "%s: algorithm %u not supported (8, 13, 15)", pp,
			    k->alg);
		goto out;
	}
	OPENSSL_cleanse(v, sizeof(v));
	if (k->pkey == NULL) {
		p53_err_set(err, P53_EINVAL, "%s: cannot read the private key", pp);
		goto out;
	}
	if ((rc = finish_key(k, err)) != 0)
		goto out;
	if (publen != (size_t)k->rdlen - 4 || memcmp(pub, k->rdata + 4, publen) != 0) {
		rc = p53_err_set(err, P53_EINVAL, "%s: private key does not match %s", pp, kp);
		goto out;
	}
	if ((rc = check_pair(k, err)) != 0)
		goto out;
	for (size_t i = 0; i < NTIMING; i++) {
		if (field(pt, timing_fields[i].name, v, sizeof(v)) == NULL)
			continue;
		if ((*timing_of(k, i) = timing_parse(v)) == 0) {
			rc = p53_err_set(err, P53_EINVAL, "%s: %s: not a YYYYMMDDHHMMSS time", pp,
					 timing_fields[i].name);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc)
		dnskey_free(k);
	return rc;
}

int dnskey_save_timing(const struct dnskey *k, struct p53_err *err)
{
	size_t fl = strlen(k->file);
	if (fl < 8 || strcmp(k->file + fl - 8, ".private") != 0 || fl + 1 >= sizeof(k->file))
		return p53_err_set(err, P53_EINVAL, "%s: not a BIND key pair read from its files",
				   k->file);
	char *text = slurp(k->file, NULL, err);
	if (text == NULL)
		return err->code;
	/* Every line kept but the timing ones, which are written anew. */
	static char out[65536 + 512];
	size_t used = 0;
	for (const char *l = text; *l;) {
		size_t n = strcspn(l, "\n");
		bool timing = false;
		for (size_t i = 0; i < NTIMING && !timing; i++) {
			size_t nl = strlen(timing_fields[i].name);
			timing =
			    n > nl && strncmp(l, timing_fields[i].name, nl) == 0 && l[nl] == ':';
		}
		if (!timing && used + n + 1 < sizeof(out)) {
			memcpy(out + used, l, n);
			out[used + n] = '\n';
			used += n + 1;
		}
		l += n + (l[n] == '\n');
	}
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	timing_lines(k, out + used, sizeof(out) - used);
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp", k->file);
	unlink(tmp);
	int rc = write_file(tmp, out, 0600, err);
	OPENSSL_cleanse(out, sizeof(out));
	if (rc == 0 && rename(tmp, k->file) != 0) {
		rc = p53_err_set(err, P53_EIO, "%s: %s", k->file, strerror(errno));
		unlink(tmp);
	}
	return rc;
}

int dnskey_load_pem(const char *path, const uint8_t *owner, size_t owner_len, uint16_t flags,
		    struct dnskey *k, struct p53_err *err)
{
	memset(k, 0, sizeof(*k));
	set_file(k, path);
	size_t len = 0;
	char *text = slurp(path, &len, err);
	if (text == NULL)
		return err->code;
	int rc = dnskey_parse_pem(text, len, path, owner, owner_len, flags, k, err);
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

/* OpenSSL's passphrase callback: without one it would prompt on the
 * terminal (or read standard input), and the signer would wait there. */
static int no_passphrase(char *buf, int size, int rwflag, void *asked)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(bool *)asked = true;
	return -1;
}

int dnskey_parse_pem(const void *pem, size_t len, const char *name, const uint8_t *owner,
		     size_t owner_len, uint16_t flags, struct dnskey *k, struct p53_err *err)
{
	memset(k, 0, sizeof(*k));
	set_file(k, name);
	if (len > INT_MAX)
		return p53_err_set(err, P53_EINVAL, "%s: too large for a key file", name);
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	if (b == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	bool asked = false;
	EVP_PKEY *pk = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, &asked);
	BIO_free(b);
	if (pk == NULL && asked)
		return p53_err_set(err, P53_EINVAL,
				   "%s: the key is encrypted; port53 reads unencrypted keys "
				   "(mode 0600)",
				   name);
	if (pk == NULL)
		return p53_err_set(err, P53_EINVAL, "%s: not a PEM private key", name);
	k->pkey = pk;
	k->alg = alg_of_pkey(pk);
	if (k->alg == 0) {
		dnskey_free(k);
		return p53_err_set(err, P53_ENOTSUP,
				   "%s: key type not supported (P-256, Ed25519 or RSA)", name);
	}
	k->flags = flags;
	memcpy(k->owner, owner, owner_len);
	k->owner_len = owner_len;
	int rc = finish_key(k, err);
	if (rc == 0)
		rc = check_pair(k, err);
	if (rc)
		dnskey_free(k);
	return rc;
}

int dnskey_load_dir(const char *dir, const uint8_t *owner, size_t owner_len, struct dnskey **keys,
		    size_t *nkeys, struct p53_err *err)
{
	char zone[1024], kpre[1100];
	name_text(owner, zone, sizeof(zone));
	for (char *c = zone; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	snprintf(kpre, sizeof(kpre), "K%s+", zone);
	size_t zl = strlen(zone);
	*keys = NULL;
	*nkeys = 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return p53_err_set(err, P53_EIO, "%s: %s", dir, strerror(errno));
	/* Sorted names, so keys are used in the same order on every run. */
	char **names = NULL;
	size_t nn = 0;
	int rc = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		const char *n = e->d_name;
		size_t l = strlen(n);
		bool bind =
		    !strncasecmp(n, kpre, strlen(kpre)) && l > 8 && !strcmp(n + l - 8, ".private");
		bool pem = l == zl + 7 && !strncasecmp(n, zone, zl) &&
			   (!strcmp(n + zl, "ksk.pem") || !strcmp(n + zl, "zsk.pem") ||
			    !strcmp(n + zl, "csk.pem"));
		pem |= l == zl + 10 && !strncasecmp(n, zone, zl) &&
		       (!strcmp(n + zl, "ksk.pkcs11") || !strcmp(n + zl, "zsk.pkcs11") ||
			!strcmp(n + zl, "csk.pkcs11"));
		if (!bind && !pem)
			continue;
		char **nv = realloc(names, (nn + 1) * sizeof(*names));
		if (nv == NULL || (nv[nn] = strdup(n)) == NULL) {
			names = nv ? nv : names;
			rc = p53_err_set(err, P53_ENOMEM, "out of memory");
			break;
		}
		names = nv;
		nn++;
	}
	closedir(d);
	for (size_t i = 0; i + 1 < nn && rc == 0; i++)
		for (size_t j = i + 1; j < nn; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	struct dnskey *v = nn && rc == 0 ? calloc(nn, sizeof(*v)) : NULL;
	if (nn && rc == 0 && v == NULL)
		rc = p53_err_set(err, P53_ENOMEM, "out of memory");
	size_t nk = 0;
	for (size_t i = 0; i < nn && rc == 0; i++) {
		char path[2048];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		size_t l = strlen(names[i]);
		if (l > 4 && !strcmp(names[i] + l - 4, ".pem")) {
			bool ksk = names[i][zl] != 'z';
			rc = dnskey_load_pem(path, owner, owner_len, ksk ? DNSKEY_KSK : DNSKEY_ZSK,
					     &v[nk], err);
		} else if (l > 7 && !strcmp(names[i] + l - 7, ".pkcs11")) {
			bool ksk = names[i][zl] != 'z';
			rc = dnskey_load_pkcs11(path, owner, owner_len,
						ksk ? DNSKEY_KSK : DNSKEY_ZSK, &v[nk], err);
		} else {
			rc = dnskey_load_bind(path, &v[nk], err);
			if (rc == 0 && (v[nk].owner_len != owner_len ||
					memcmp(v[nk].owner, owner, owner_len) != 0)) {
				dnskey_free(&v[nk]);
				rc = p53_err_set(err, P53_EINVAL, "%s: key is not for zone %s",
						 path, zone);
			}
		}
		if (rc == 0)
			nk++;
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	if (rc) {
		dnskey_free_all(v, nk);
		return rc;
	}
	*keys = v;
	*nkeys = nk;
	return 0;
}
