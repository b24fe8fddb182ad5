/* Domain names in uncompressed wire form (RFC 1035 3.1).
 *
 * Stored names are canonical: lower-case ASCII, absolute, at most 255 bytes.
 * Lower-casing once at compile time (and once per query) lets every later
 * comparison be memcmp.
 */
#ifndef P53_NAME_H
#define P53_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define P53_NAME_MAX   255
#define P53_LABEL_MAX  63
#define P53_LABELS_MAX 128

/* Parses presentation format (RFC 1035 5.1: "\X" and "\DDD" escapes, "@" is the
 * origin, names without a trailing dot are relative to origin). origin may be
 * NULL when the name must be absolute. Returns the wire length, or a negative
 * P53_E* code with a reason in *why (a static string). Case is preserved. */
int name_from_text(const char *txt, size_t len, const uint8_t *origin, uint8_t out[P53_NAME_MAX],
		   const char **why);

/* Writes presentation format with a trailing dot, escaping as RFC 1035 does.
 * Returns the text length, or -1 when cap (at least 1 byte) is too small. */
int name_to_text(const uint8_t *wire, char *out, size_t cap);

/* Length of a well-formed uncompressed wire name, root included. */
size_t name_len(const uint8_t *wire);
/* Number of labels, not counting the root. */
unsigned name_labels(const uint8_t *wire);
void name_lower(uint8_t *wire, size_t len);
/* True when name equals parent or lies below it. Both canonical. */
bool name_is_below_or_at(const uint8_t *name, size_t nlen, const uint8_t *parent, size_t plen);
/* Case-insensitive equality of two uncompressed names. */
bool name_equal_ci(const uint8_t *a, const uint8_t *b);
/* RFC 4034 6.1 canonical order (label by label from the root). */
int name_cmp_canonical(const uint8_t *a, const uint8_t *b);
/* Hash of a canonical wire name, used by the snapshot index. Stable across
 * builds: it is part of the snapshot format. */
uint32_t name_hash(const uint8_t *wire, size_t len);
/* Offsets and hashes of every suffix of wire except the root, longest
 * first, in one pass; returns their number. off[i] fits in a byte since
 * names are at most 255 bytes. */
unsigned name_suffix_hashes(const uint8_t *wire, size_t len, uint8_t off[P53_LABELS_MAX],
			    uint32_t hash[P53_LABELS_MAX]);
/* The same hashes when the n label offsets are known already (a parser
 * found them): off[0..n-1] ascending, every one below len. */
void name_suffix_hashes_at(const uint8_t *wire, size_t len, const uint8_t *off, unsigned n,
			   uint32_t *hash);

/* Eight bytes lower-cased at once: 0x20 is added to each byte in 'A'..'Z'
 * (a byte's low seven bits plus 0x3f carry into its top bit from 'A' up,
 * plus 0x25 from '[' up; bytes with the top bit set are left alone). */
static inline uint64_t name_lower8(uint64_t x)
{
	const uint64_t hi = 0x8080808080808080u;
	uint64_t t = x & ~hi;
	uint64_t up = (t + 0x3f3f3f3f3f3f3f3fu) & ~(t + 0x2525252525252525u) & ~x & hi;
	return x | up >> 2;
}

/* Copies a wire name of len bytes with its letters lower-cased, eight bytes
 * a step. Its length bytes must be at most 63 (below 'A'), as in any valid
 * name, so they pass unchanged; src and dst may be the same buffer. Reads
 * and writes only the len bytes. */
static inline void name_lower_copy(uint8_t *dst, const uint8_t *src, size_t len)
{
	uint64_t x;
	size_t i = 0;
	if (len < 8) {
		for (; i < len; i++)
			dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (uint8_t)(src[i] + 32) : src[i];
		return;
	}
	for (; i + 8 <= len; i += 8) {
		memcpy(&x, src + i, 8);
		x = name_lower8(x);
		memcpy(dst + i, &x, 8);
	}
	if (i < len) { /* the last eight again: lower-casing twice is harmless */
		memcpy(&x, src + len - 8, 8);
		x = name_lower8(x);
		memcpy(dst + len - 8, &x, 8);
	}
}

/* Reads a possibly compressed name from a DNS message (RFC 1035 4.1.4),
 * bounded by the message length, following at most P53_LABELS_MAX pointers
 * and only backwards ones, so loops and forward references are rejected.
 * Writes the uncompressed name to out. Returns the number of bytes the name
 * occupies at pos (pointer included), or -1 when malformed. */
int name_unpack(const uint8_t *msg, size_t msglen, size_t pos, uint8_t out[P53_NAME_MAX],
		size_t *outlen);

#endif
