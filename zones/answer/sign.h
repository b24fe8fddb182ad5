/* Snapshot signatures: Ed25519 over the content hash (OpenSSL).
 *
 * A fleet of anycast nodes should serve only what its operator built, even
 * when the push channel or a build host is compromised. The compiler (or
 * `port53 sign`) appends a signature trailer to a snapshot; a server given a
 * set of trusted public keys refuses any snapshot without a valid signature
 * from one of them.
 *
 * The trailer follows the content and is not covered by the header's size, so
 * signing leaves the content and its hash untouched and an unsigned reader
 * still loads a signed file. Layout (docs/snapshot-format.md, "Signatures"):
 *
 *   offset size
 *   0      8    magic "P53SIG1\0"
 *   8      4    algorithm, 1 = Ed25519 (little-endian)
 *   12     4    trailer length, 128
 *   16     32   key id: SHA-256 of the raw 32-byte public key
 *   48     64   signature over "port53-snapshot-sig-v1" || content hash
 *   112    16   reserved, zero
 *
 * The content hash covers the header and the section table, which holds the
 * SHA-256 of every section, so the signature covers every byte the loader
 * verifies.
 */
#ifndef P53_SIGN_H
#define P53_SIGN_H

#include "zones/common/err.h"
#include "zones/answer/snapshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define P53_SIG_MAGIC	"P53SIG1"
#define P53_SIG_LEN	128
#define P53_SIG_ED25519 1
#define P53_KEY_ID_LEN	32

/* Writes a new Ed25519 key pair: the private key as PKCS#8 PEM (mode 0600,
 * never overwritten) and the public key as SubjectPublicKeyInfo PEM. */
int p53_keygen(const char *priv_path, const char *pub_path, struct p53_err *err);

/* Signs a snapshot image (content only, as p53_compile returns it) with the
 * private key in key_path; writes the trailer to out. */
int p53_sign_image(const uint8_t *img, size_t len, const char *key_path, uint8_t out[P53_SIG_LEN],
		   struct p53_err *err);

/* Writes img followed by trailer (NULL: none) to path through a temporary
 * file renamed into place. */
int p53_write_signed(const char *path, const uint8_t *img, size_t len, const uint8_t *trailer,
		     struct p53_err *err);

/* Verifies the snapshot in in_path (any existing signature is dropped),
 * signs it and writes the result to out_path (which may be in_path). */
int p53_sign_file(const char *in_path, const char *key_path, const char *out_path,
		  struct p53_err *err);

/* Trusted public keys. */
struct p53_keyring;
struct p53_keyring *p53_keyring_new(void);
void p53_keyring_free(struct p53_keyring *kr);
/* Adds the Ed25519 public key in a PEM file (as p53_keygen writes it). */
int p53_keyring_add_file(struct p53_keyring *kr, const char *pub_path, struct p53_err *err);
size_t p53_keyring_count(const struct p53_keyring *kr);

/* Whether snap carries a signature trailer; copies the (unverified) key id. */
bool p53_sig_present(const struct p53_snapshot *snap, uint8_t key_id[P53_KEY_ID_LEN]);

/* 0 when snap is signed by a key in kr (key_id then names it), else
 * P53_ECORRUPT with the reason: not signed, unknown key, bad signature. */
int p53_sig_verify(const struct p53_snapshot *snap, const struct p53_keyring *kr,
		   uint8_t key_id[P53_KEY_ID_LEN], struct p53_err *err);

/* First 8 bytes of a key id in hex (17 bytes with the NUL): how keys are
 * named in messages and in the status API. */
void p53_key_id_text(const uint8_t key_id[P53_KEY_ID_LEN], char out[17]);
/* The whole key id in hex (65 bytes with the NUL): error messages. */
void p53_key_id_hex(const uint8_t key_id[P53_KEY_ID_LEN], char out[2 * P53_KEY_ID_LEN + 1]);
/* True when the P53_SIG_LEN bytes at trailer have the magic, the length
 * field 128 and zero reserved bytes: what the loader requires of any
 * trailer, signatures required or not. */
bool p53_sig_trailer_ok(const uint8_t *trailer);

#endif
