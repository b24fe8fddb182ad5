/* DNSSEC keys: generation, the files they live in, signatures, DS digests.
 *
 * Algorithms 8 (RSA/SHA-256), 13 (ECDSA P-256/SHA-256, the default) and 15
 * (Ed25519), all through OpenSSL. A key lives in BIND's pair of files
 * (Kzone.+AAA+TTTTT.key with the DNSKEY record, .private with the private
 * fields), or in a PEM file (PKCS#8) named ZONE.ksk.pem, ZONE.zsk.pem or
 * ZONE.csk.pem, whose name gives the role. docs/dnssec.md describes both.
 */
#ifndef P53_DNSKEY_H
#define P53_DNSKEY_H

#include "zones/common/err.h"
#include "zones/common/name.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	DNSKEY_ALG_RSASHA256 = 8,
	DNSKEY_ALG_ECDSAP256 = 13,
	DNSKEY_ALG_ED25519 = 15,
};

/* DNSKEY flags (RFC 4034 2.1.1): ZONE, and SEP for key-signing keys. */
enum { DNSKEY_ZSK = 256, DNSKEY_KSK = 257 };

#define DNSKEY_RDATA_MAX 1024 /* RSA up to 4096 bits */
#define DNSKEY_SIG_MAX	 512

struct dnskey {
	void *pkey; /* EVP_PKEY */
	uint8_t alg;
	uint16_t flags;
	uint16_t tag;
	uint8_t owner[P53_NAME_MAX]; /* canonical */
	size_t owner_len;
	uint8_t rdata[DNSKEY_RDATA_MAX]; /* the DNSKEY record's rdata */
	uint16_t rdlen;
	char file[256]; /* where it was read from, for messages */
	/* BIND's timing metadata (.private fields Publish, Activate, Inactive,
	 * Delete, SyncPublish, SyncDelete; Unix seconds, 0 = not set): the
	 * key is in the DNSKEY set from publish until remove, signs from
	 * activate until inactive, and has CDS/CDNSKEY records from
	 * sync_publish (or, unset, while it signs) until sync_delete. A PEM
	 * key has none: always published and signing. */
	int64_t publish, activate, inactive, remove, sync_publish, sync_delete;
};

/* The key's state at time now under its timing metadata. */
bool dnskey_published(const struct dnskey *k, int64_t now);
bool dnskey_active(const struct dnskey *k, int64_t now);
bool dnskey_synced(const struct dnskey *k, int64_t now);

/* Rewrites the timing fields of the BIND key pair k was read from (its
 * .private; the .key's comment lines are BIND's and left alone). */
int dnskey_save_timing(const struct dnskey *k, struct p53_err *err);

/* Algorithm number from "13", "ECDSAP256SHA256", "ed25519", "rsasha256";
 * 0 when not one of the three. */
uint8_t dnskey_alg_from_text(const char *s);
const char *dnskey_alg_name(uint8_t alg);

/* A new key for owner. rsa_bits only for algorithm 8 (2048 when 0). */
int dnskey_generate(struct dnskey *k, const uint8_t *owner, size_t owner_len, uint8_t alg,
		    uint16_t flags, unsigned rsa_bits, struct p53_err *err);
/* Writes dir/Kzone.+AAA+TTTTT.key and .private (mode 0600), with the
 * timing k has set; the base path (without extension) goes to base. */
int dnskey_write_bind(const struct dnskey *k, const char *dir, char *base, size_t cap,
		      struct p53_err *err);
/* Writes the private key as PKCS#8 PEM (mode 0600). */
int dnskey_write_pem(const struct dnskey *k, const char *path, struct p53_err *err);

/* Reads a BIND key: path is the .key, the .private or their common base.
 * The two files must agree (owner, algorithm, public key). */
int dnskey_load_bind(const char *path, struct dnskey *k, struct p53_err *err);
/* Reads a PEM private key for owner with the given flags. */
int dnskey_load_pem(const char *path, const uint8_t *owner, size_t owner_len, uint16_t flags,
		    struct dnskey *k, struct p53_err *err);
/* The same two readers on contents already in memory (the files' readers
 * read them and call these; the fuzz target dnskey calls them directly):
 * keytext and privtext are a .key and a .private, NUL-terminated, keyname
 * and privname their names in messages (privname becomes k->file, which
 * dnskey_save_timing writes); pem is len bytes of a PEM file named name. */
int dnskey_parse_bind(const char *keytext, const char *keyname, const char *privtext,
		      const char *privname, struct dnskey *k, struct p53_err *err);
int dnskey_parse_pem(const void *pem, size_t len, const char *name, const uint8_t *owner,
		     size_t owner_len, uint16_t flags, struct dnskey *k, struct p53_err *err);
/* A key held in a PKCS#11 token: path is a file whose first line is its
 * RFC 7512 URI (module-path in its query names the module; pin-value or
 * pin-source the PIN). Signing goes through the token; algorithms 13 and
 * 8 (libp11 0.4 has no Ed25519). */
int dnskey_load_pkcs11(const char *path, const uint8_t *owner, size_t owner_len, uint16_t flags,
		       struct dnskey *k, struct p53_err *err);
/* Every key of zone owner in dir (BIND pairs, ZONE.{ksk,zsk,csk}.pem and
 * ZONE.{ksk,zsk,csk}.pkcs11),
 * in a malloc'd array (dnskey_free_all). None found is not an error. */
int dnskey_load_dir(const char *dir, const uint8_t *owner, size_t owner_len, struct dnskey **keys,
		    size_t *nkeys, struct p53_err *err);
void dnskey_free(struct dnskey *k);
void dnskey_free_all(struct dnskey *keys, size_t n);

/* Signs msg as RRSIG wants it (RFC 5702, 6605, 8080 wire forms). Returns
 * the signature length, or 0 on failure. Safe to call from several threads
 * on one key. */
size_t dnskey_sign(const struct dnskey *k, const uint8_t *msg, size_t len,
		   uint8_t sig[DNSKEY_SIG_MAX]);
/* The key tag of DNSKEY rdata (RFC 4034 appendix B). */
uint16_t dnskey_tag(const uint8_t *rdata, size_t len);
/* DS rdata for the key, digest 2 (SHA-256) or 4 (SHA-384); returns its
 * length, 0 for another digest type. */
size_t dnskey_ds(const struct dnskey *k, uint8_t digest, uint8_t out[64]);
/* CDNSKEY / DNSKEY presentation of the public key (base64) into buf. */
int dnskey_pub_base64(const struct dnskey *k, char *buf, size_t cap);

#endif
