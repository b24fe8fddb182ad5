/* Keys that stay in a PKCS#11 token (docs/dnssec.md), through OpenSSL's
 * pkcs11 engine (libp11, Debian libengine-pkcs11-openssl): the open
 * counterpart of a key held in a key management service. The private key
 * is an engine handle; every signature is made by the token, and nothing
 * here can read the key itself.
 *
 * Debian 12's OpenSSL 3.0 has no PKCS#11 provider, so this unit uses the
 * ENGINE API, deprecated in OpenSSL 3, and reads the public half of an
 * engine key through the legacy EC_KEY/RSA accessors: the provider
 * parameter calls do not reach legacy keys. It is kept apart so that
 * nothing else needs the deprecated interfaces.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "zones/compile/dnskey.h"

#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The engine is process-wide and bound to one module. */
static pthread_mutex_t p11_mu = PTHREAD_MUTEX_INITIALIZER;
static ENGINE *p11_engine;
static char p11_module[512];

static ENGINE *engine_for(const char *module, struct p53_err *err)
{
	if (p11_engine) {
		if (strcmp(module, p11_module) != 0) {
			p53_err_set(err, P53_EINVAL,
				    "one PKCS#11 module per run: %s is already in use, not %s",
				    p11_module[0] ? p11_module : "the default", module);
			return NULL;
		}
		return p11_engine;
	}
	ENGINE_load_builtin_engines();
	ENGINE *e = ENGINE_by_id("pkcs11");
	if (e == NULL) {
		p53_err_set(err, P53_ENOTSUP,
			    "OpenSSL's pkcs11 engine is not installed (Debian "
			    "libengine-pkcs11-openssl)");
		return NULL;
	}
	if ((module[0] && !ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0)) ||
	    !ENGINE_init(e)) {
		ENGINE_free(e);
		p53_err_set(err, P53_EIO, "PKCS#11 module %s: cannot be initialised",
			    module[0] ? module : "(p11-kit default)");
		return NULL;
	}
	p11_engine = e;
	snprintf(p11_module, sizeof(p11_module), "%s", module);
	return e;
}

/* The DNSKEY public key field of an engine key (RFC 6605, RFC 3110). */
static size_t public_field(EVP_PKEY *pk, uint8_t *alg, uint8_t *out, size_t cap)
{
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
		const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(pk);
		uint8_t pt[65];
		if (ec == NULL ||
		    EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) != NID_X9_62_prime256v1 ||
		    EC_POINT_point2oct(EC_KEY_get0_group(ec), EC_KEY_get0_public_key(ec),
				       POINT_CONVERSION_UNCOMPRESSED, pt, sizeof(pt), NULL) != 65 ||
		    cap < 64)
			return 0;
		*alg = DNSKEY_ALG_ECDSAP256;
		memcpy(out, pt + 1, 64);
		return 64;
	}
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA) {
		const RSA *rsa = EVP_PKEY_get0_RSA(pk);
		const BIGNUM *n = NULL, *e = NULL;
		if (rsa == NULL)
			return 0;
		RSA_get0_key(rsa, &n, &e, NULL);
		size_t el = (size_t)BN_num_bytes(e), nl = (size_t)BN_num_bytes(n);
		if (el > 255 || 1 + el + nl > cap || nl < 128 || nl > 512)
			return 0;
		*alg = DNSKEY_ALG_RSASHA256;
		out[0] = (uint8_t)el;
		BN_bn2bin(e, out + 1);
		BN_bn2bin(n, out + 1 + el);
		return 1 + el + nl;
	}
	return 0;
}

int dnskey_load_pkcs11(const char *path, const uint8_t *owner, size_t owner_len, uint16_t flags,
		       struct dnskey *k, struct p53_err *err)
{
	memset(k, 0, sizeof(*k));
	size_t pl = strlen(path);
	memcpy(k->file, pl < sizeof(k->file) ? path : path + pl - sizeof(k->file) + 1,
	       (pl < sizeof(k->file) ? pl : sizeof(k->file) - 1) + 1);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return p53_err_set(err, P53_EIO, "%s: cannot be read", path);
	char line[2048], uri[2048] = "";
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (line[0] && line[0] != '#') {
			snprintf(uri, sizeof(uri), "%s", line);
			break;
		}
	}
	fclose(f);
	if (strncmp(uri, "pkcs11:", 7) != 0)
		return p53_err_set(err, P53_EINVAL,
				   "%s: the first line must be a PKCS#11 URI (pkcs11:...)", path);
	/* RFC 7512's module-path names the module; the rest (token, object,
	 * pin-value or pin-source) is libp11's to read. */
	char module[512] = "", rest[2048];
	char *q = strchr(uri, '?');
	if (q) {
		size_t used = 0;
		rest[0] = 0;
		for (char *a = strtok(q + 1, "&"); a; a = strtok(NULL, "&")) {
			if (strncmp(a, "module-path=", 12) == 0) {
				snprintf(module, sizeof(module), "%s", a + 12);
				continue;
			}
			int n =
			    snprintf(rest + used, sizeof(rest) - used, "%s%s", used ? "&" : "", a);
			if (n > 0 && (size_t)n < sizeof(rest) - used)
				used += (size_t)n;
		}
		*q = 0;
		if (used) {
			size_t ul = strlen(uri);
			snprintf(uri + ul, sizeof(uri) - ul, "?%s", rest);
		}
	}
	pthread_mutex_lock(&p11_mu);
	ENGINE *e = engine_for(module, err);
	EVP_PKEY *pk = e ? ENGINE_load_private_key(e, uri, NULL, NULL) : NULL;
	pthread_mutex_unlock(&p11_mu);
	if (e == NULL)
		return err->code;
	if (pk == NULL)
		return p53_err_set(err, P53_EINVAL,
				   "%s: no private key at that URI in the token (object, "
				   "token and PIN)",
				   path);
	k->pkey = pk;
	k->flags = flags;
	memcpy(k->owner, owner, owner_len);
	k->owner_len = owner_len;
	uint8_t pub[DNSKEY_RDATA_MAX - 4];
	size_t n = public_field(pk, &k->alg, pub, sizeof(pub));
	if (n == 0) {
		dnskey_free(k);
		return p53_err_set(err, P53_ENOTSUP,
				   "%s: a token key must be ECDSA P-256 (13) or RSA (8)", path);
	}
	k->rdata[0] = (uint8_t)(flags >> 8);
	k->rdata[1] = (uint8_t)flags;
	k->rdata[2] = 3;
	k->rdata[3] = k->alg;
	memcpy(k->rdata + 4, pub, n);
	k->rdlen = (uint16_t)(4 + n);
	k->tag = dnskey_tag(k->rdata, k->rdlen);
	return 0;
}
