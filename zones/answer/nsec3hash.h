/* NSEC3 owner hashes (RFC 5155 5): SHA-1 over the canonical wire name and
 * the salt, then iterations more times over the digest and the salt.
 *
 * Shared by the compiler (the chain, and each node's proofs) and the answer
 * engine (the next closer name of an NXDOMAIN or a wildcard answer, the one
 * proof that depends on the query name): OpenSSL's SHA-1 on a stack
 * context, so hashing allocates nothing and takes no lock.
 */
#ifndef P53_NSEC3HASH_H
#define P53_NSEC3HASH_H

#include <stddef.h>
#include <stdint.h>

#define P53_NSEC3_HASH_LEN 20  /* SHA-1, hash algorithm 1, the only one defined */
#define P53_NSEC3_ITER_MAX 150 /* RFC 9276 3.2: validators treat more as insecure */
#define P53_NSEC3_B32_LEN  32  /* base32hex of a SHA-1 hash, one label */

/* The hash of name (wire form, already lower-case, len bytes) into out. */
void p53_nsec3_hash(const uint8_t *name, size_t len, const uint8_t *salt, size_t salt_len,
		    unsigned iterations, uint8_t out[P53_NSEC3_HASH_LEN]);

/* Base32hex (RFC 4648 7, lower-case, no padding) of a hash: the first
 * label of an NSEC3 owner. */
void p53_nsec3_b32(const uint8_t h[P53_NSEC3_HASH_LEN], char out[P53_NSEC3_B32_LEN]);
/* The reverse, case-insensitive: 0, or -1 when the label is no such hash. */
int p53_nsec3_unb32(const uint8_t *label, size_t len, uint8_t out[P53_NSEC3_HASH_LEN]);

#endif
