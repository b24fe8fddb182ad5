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

/* Reads a possibly compressed name from a DNS message (RFC 1035 4.1.4),
 * bounded by the message length, following at most P53_LABELS_MAX pointers
 * and only backwards ones, so loops and forward references are rejected.
 * Writes the uncompressed name to out. Returns the number of bytes the name
 * occupies at pos (pointer included), or -1 when malformed. */
int name_unpack(const uint8_t *msg, size_t msglen, size_t pos, uint8_t out[P53_NAME_MAX],
		size_t *outlen);

#endif
