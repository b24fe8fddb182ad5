/* Ed25519 snapshot signatures (see sign.h for the trailer layout).
 *
 * What is signed is a fixed context string followed by the content hash, not
 * the whole file: the loader already proves that the hash covers every byte,
 * so signing 54 bytes is as strong as signing megabytes and verifying costs
 * the same for any snapshot size. The context string keeps a signature made
 * for something else with the same key from being replayed as a snapshot
 * signature.
 */
#include "zones/answer/sign.h"

#include "zones/common/fileio.h"

#include "zones/answer/snapshot_pvt.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIG_CONTEXT	"port53-snapshot-sig-v1"
#define SIG_CONTEXT_LEN (sizeof(SIG_CONTEXT) - 1)
#define ED25519_SIG_LEN 64
#define ED25519_PUB_LEN 32
#define KEYRING_MAX	64

struct sig_trailer {
	char magic[8];
	uint32_t alg;
	uint32_t len;
	uint8_t key_id[P53_KEY_ID_LEN];
	uint8_t sig[ED25519_SIG_LEN];
	uint8_t reserved[16];
};
_Static_assert(sizeof(struct sig_trailer) == P53_SIG_LEN, "signature trailer layout");

struct p53_keyring {
	size_t n;
	EVP_PKEY *key[KEYRING_MAX];
	uint8_t id[KEYRING_MAX][P53_KEY_ID_LEN];
};

/* The most useful line of OpenSSL's error queue, for messages. */
static const char *ossl_reason(void)
{
	static _Thread_local char buf[160];
	unsigned long e = ERR_get_error();
	if (e == 0)
		return "unknown OpenSSL error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static int key_id_of(EVP_PKEY *pk, uint8_t id[P53_KEY_ID_LEN])
{
	uint8_t raw[ED25519_PUB_LEN];
	size_t len = sizeof(raw);
	if (EVP_PKEY_get_raw_public_key(pk, raw, &len) != 1 || len != sizeof(raw))
		return -1;
	SHA256(raw, len, id);
	return 0;
}

void p53_key_id_text(const uint8_t key_id[P53_KEY_ID_LEN], char out[17])
{
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", key_id[i]);
}

void p53_key_id_hex(const uint8_t key_id[P53_KEY_ID_LEN], char out[2 * P53_KEY_ID_LEN + 1])
{
	for (int i = 0; i < P53_KEY_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", key_id[i]);
}

bool p53_sig_trailer_ok(const uint8_t *trailer)
{
	struct sig_trailer t;
	memcpy(&t, trailer, sizeof(t));
	static const uint8_t zero[sizeof(t.reserved)];
	return memcmp(t.magic, P53_SIG_MAGIC, sizeof(P53_SIG_MAGIC)) == 0 && t.len == P53_SIG_LEN &&
	       memcmp(t.reserved, zero, sizeof(zero)) == 0;
}

int p53_keygen(const char *priv_path, const char *pub_path, struct p53_err *err)
{
	int rc = 0;
	FILE *fpriv = NULL, *fpub = NULL;
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pk == NULL)
		return p53_err_set(err, P53_EIO, "Ed25519 key generation: %s", ossl_reason());
	/* O_EXCL: regenerating over an existing key would silently orphan every
	 * server that trusts it. */
	int fd = open(priv_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = p53_err_set(err, P53_EIO, "%s: %s", priv_path, strerror(errno));
		goto out;
	}
	fpriv = fdopen(fd, "w");
	if (fpriv == NULL) {
		close(fd);
		rc = p53_err_set(err, P53_EIO, "%s: %s", priv_path, strerror(errno));
		goto out;
	}
	if (PEM_write_PrivateKey(fpriv, pk, NULL, NULL, 0, NULL, NULL) != 1) {
		rc = p53_err_set(err, P53_EIO, "%s: %s", priv_path, ossl_reason());
		goto out;
	}
	fpub = fopen(pub_path, "w");
	if (fpub == NULL) {
		rc = p53_err_set(err, P53_EIO, "%s: %s", pub_path, strerror(errno));
		goto out;
	}
	if (PEM_write_PUBKEY(fpub, pk) != 1) {
		rc = p53_err_set(err, P53_EIO, "%s: %s", pub_path, ossl_reason());
		goto out;
	}
out:
	if (fpriv && fclose(fpriv) != 0 && rc == 0)
		rc = p53_err_set(err, P53_EIO, "%s: %s", priv_path, strerror(errno));
	if (fpub && fclose(fpub) != 0 && rc == 0)
		rc = p53_err_set(err, P53_EIO, "%s: %s", pub_path, strerror(errno));
	if (rc && fpriv)
		unlink(priv_path);
	EVP_PKEY_free(pk);
	return rc;
}

static EVP_PKEY *read_key(const char *path, bool private, struct p53_err *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		p53_err_set(err, P53_EIO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	EVP_PKEY *pk = private ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
			       : PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (pk == NULL) {
		p53_err_set(err, P53_EINVAL, "%s: not a PEM %s key: %s", path,
			    private ? "private" : "public", ossl_reason());
		return NULL;
	}
	if (EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pk);
		p53_err_set(err, P53_EINVAL, "%s: not an Ed25519 key", path);
		return NULL;
	}
	return pk;
}

static void sig_message(const uint8_t hash[32], uint8_t msg[SIG_CONTEXT_LEN + 32])
{
	memcpy(msg, SIG_CONTEXT, SIG_CONTEXT_LEN);
	memcpy(msg + SIG_CONTEXT_LEN, hash, 32);
}

int p53_sign_image(const uint8_t *img, size_t len, const char *key_path, uint8_t out[P53_SIG_LEN],
		   struct p53_err *err)
{
	/* Never sign what the loader would reject: a signature vouches for
	 * the content, so it must first be known to be well-formed. */
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, err);
	if (s == NULL)
		return err && err->code ? err->code : P53_ECORRUPT;
	if (s->hdr->size != len) {
		p53_snapshot_free(s);
		return p53_err_set(err, P53_EINVAL, "image already carries a signature");
	}
	uint8_t msg[SIG_CONTEXT_LEN + 32];
	sig_message(s->hdr->hash, msg);
	p53_snapshot_free(s);

	EVP_PKEY *pk = read_key(key_path, true, err);
	if (pk == NULL)
		return err && err->code ? err->code : P53_EINVAL;
	struct sig_trailer t;
	memset(&t, 0, sizeof(t));
	memcpy(t.magic, P53_SIG_MAGIC, sizeof(P53_SIG_MAGIC));
	t.alg = P53_SIG_ED25519;
	t.len = P53_SIG_LEN;
	int rc = 0;
	size_t sl = sizeof(t.sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (key_id_of(pk, t.key_id) != 0 || md == NULL ||
	    EVP_DigestSignInit(md, NULL, NULL, NULL, pk) != 1 ||
	    EVP_DigestSign(md, t.sig, &sl, msg, sizeof(msg)) != 1 || sl != sizeof(t.sig))
		rc = p53_err_set(err, P53_EIO, "%s: signing failed: %s", key_path, ossl_reason());
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	if (rc == 0)
		memcpy(out, &t, sizeof(t));
	return rc;
}

int p53_write_signed(const char *path, const uint8_t *img, size_t len, const uint8_t *trailer,
		     struct p53_err *err)
{
	return p53_file_write_atomic(path, img, len, trailer, trailer ? P53_SIG_LEN : 0, err);
}

int p53_sign_file(const char *in_path, const char *key_path, const char *out_path,
		  struct p53_err *err)
{
	struct p53_snapshot *s = p53_snapshot_load(in_path, err);
	if (s == NULL)
		return err && err->code ? err->code : P53_ECORRUPT;
	/* Content only: re-signing replaces the old trailer. */
	size_t len = s->hdr->size;
	uint8_t trailer[P53_SIG_LEN];
	int rc = p53_sign_image(s->base, len, key_path, trailer, err);
	if (rc == 0)
		rc = p53_write_signed(out_path, s->base, len, trailer, err);
	p53_snapshot_free(s);
	return rc;
}

struct p53_keyring *p53_keyring_new(void)
{
	return calloc(1, sizeof(struct p53_keyring));
}

void p53_keyring_free(struct p53_keyring *kr)
{
	if (kr == NULL)
		return;
	for (size_t i = 0; i < kr->n; i++)
		EVP_PKEY_free(kr->key[i]);
	free(kr);
}

int p53_keyring_add_file(struct p53_keyring *kr, const char *pub_path, struct p53_err *err)
{
	if (kr->n >= KEYRING_MAX)
		return p53_err_set(err, P53_ERANGE, "%s: more than %d trusted keys", pub_path,
				   KEYRING_MAX);
	EVP_PKEY *pk = read_key(pub_path, false, err);
	if (pk == NULL)
		return err && err->code ? err->code : P53_EINVAL;
	if (key_id_of(pk, kr->id[kr->n]) != 0) {
		EVP_PKEY_free(pk);
		return p53_err_set(err, P53_EINVAL, "%s: cannot read the raw public key", pub_path);
	}
	kr->key[kr->n++] = pk;
	return 0;
}

size_t p53_keyring_count(const struct p53_keyring *kr)
{
	return kr ? kr->n : 0;
}

static const struct sig_trailer *trailer_of(const struct p53_snapshot *s)
{
	if (s->size - s->hdr->size != P53_SIG_LEN)
		return NULL;
	/* The loader recognised the trailer by its magic only: callers check
	 * every field, and copy it out since the content length need not keep
	 * the trailer's integers aligned. */
	return (const struct sig_trailer *)(s->base + s->hdr->size);
}

bool p53_sig_present(const struct p53_snapshot *s, uint8_t key_id[P53_KEY_ID_LEN])
{
	const struct sig_trailer *t = trailer_of(s);
	if (t == NULL)
		return false;
	if (key_id)
		memcpy(key_id, t->key_id, P53_KEY_ID_LEN);
	return true;
}

int p53_sig_verify(const struct p53_snapshot *s, const struct p53_keyring *kr,
		   uint8_t key_id[P53_KEY_ID_LEN], struct p53_err *err)
{
	const struct sig_trailer *tp = trailer_of(s);
	if (tp == NULL)
		return p53_err_set(err, P53_ECORRUPT,
				   "snapshot is not signed and a signature is required");
	struct sig_trailer t;
	memcpy(&t, tp, sizeof(t));
	/* Errors name the whole key id: operators compare it with
	 * `port53 info` and key files, and a prefix can be forged. */
	char idt[2 * P53_KEY_ID_LEN + 1];
	p53_key_id_hex(t.key_id, idt);
	if (!p53_sig_trailer_ok((const uint8_t *)tp))
		return p53_err_set(
		    err, P53_ECORRUPT,
		    "snapshot signature trailer malformed (length or reserved bytes)");
	if (t.alg != P53_SIG_ED25519)
		return p53_err_set(err, P53_ECORRUPT,
				   "snapshot signature uses unknown algorithm %u", t.alg);
	size_t k = 0;
	while (k < p53_keyring_count(kr) && CRYPTO_memcmp(kr->id[k], t.key_id, P53_KEY_ID_LEN))
		k++;
	if (k == p53_keyring_count(kr))
		return p53_err_set(err, P53_ECORRUPT, "snapshot signed by untrusted key %s", idt);
	uint8_t msg[SIG_CONTEXT_LEN + 32];
	sig_message(s->hdr->hash, msg);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, kr->key[k]) == 1 &&
		 EVP_DigestVerify(md, t.sig, sizeof(t.sig), msg, sizeof(msg)) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	if (!ok)
		return p53_err_set(err, P53_ECORRUPT, "snapshot signature by key %s is invalid",
				   idt);
	if (key_id)
		memcpy(key_id, t.key_id, P53_KEY_ID_LEN);
	return 0;
}
