/* Resource record types: numbers, mnemonics and rdata layouts.
 *
 * One table drives the zone-file parser, the zone-file printer, the compiler
 * (which needs to find names inside rdata for checks and additional-section
 * processing) and the answer renderer (which may compress only the names that
 * RFC 3597 4 allows: those of the RFC 1035 types).
 *
 * Layout letters, one per rdata field, in wire order:
 *   N  domain name, compressible on output (NS CNAME SOA PTR MX only)
 *   n  domain name, never compressed (SRV, NAPTR, SVCB, DNAME, ...)
 *   1 2 4  unsigned integer of 1, 2, 4 bytes
 *   T  4-byte period (SOA timers): accepts TTL units such as 1h30m
 *   a  IPv4 address        6  IPv6 address
 *   s  one <character-string> (length byte + up to 255 bytes)
 *   S  one or more <character-string>s up to the end of rdata (TXT, SPF)
 *   c  CAA tag: a length-prefixed token, written unquoted
 *   r  the rest of rdata as one quoted string without a length byte (CAA value)
 *   x  the rest of rdata in hex, whitespace allowed between digits
 *   b  the rest of rdata in base64, whitespace allowed
 *   p  SVCB/HTTPS SvcParams up to the end of rdata (RFC 9460 presentation)
 *   *  the rest of rdata, checked by the zone-file scanner only
 * The layout is what the compiler checks wire rdata against (RFC 3597 input
 * included) and what port53's own printer walks; a type flagged
 * RRT_KNOT_PRINT (fields such as LOC coordinates, NSEC bitmaps or RRSIG
 * times that no layout letter expresses) is printed by libknot instead, and
 * a type without an entry is opaque: RFC 3597 "\# len hex" only.
 */
#ifndef P53_RRTYPE_H
#define P53_RRTYPE_H

#include <stddef.h>
#include <stdint.h>

enum {
	RR_A = 1,
	RR_NS = 2,
	RR_CNAME = 5,
	RR_SOA = 6,
	RR_MB = 7,
	RR_MG = 8,
	RR_MR = 9,
	RR_NULL = 10,
	RR_PTR = 12,
	RR_HINFO = 13,
	RR_MINFO = 14,
	RR_MX = 15,
	RR_TXT = 16,
	RR_RP = 17,
	RR_AFSDB = 18,
	RR_RT = 21,
	RR_KEY = 25,
	RR_PX = 26,
	RR_AAAA = 28,
	RR_LOC = 29,
	RR_SRV = 33,
	RR_NAPTR = 35,
	RR_KX = 36,
	RR_CERT = 37,
	RR_DNAME = 39,
	RR_OPT = 41,
	RR_APL = 42,
	RR_DS = 43,
	RR_SSHFP = 44,
	RR_IPSECKEY = 45,
	RR_RRSIG = 46,
	RR_NSEC = 47,
	RR_DNSKEY = 48,
	RR_DHCID = 49,
	RR_NSEC3 = 50,
	RR_NSEC3PARAM = 51,
	RR_TLSA = 52,
	RR_SMIMEA = 53,
	RR_HIP = 55,
	RR_CDS = 59,
	RR_CDNSKEY = 60,
	RR_OPENPGPKEY = 61,
	RR_CSYNC = 62,
	RR_ZONEMD = 63,
	RR_SVCB = 64,
	RR_HTTPS = 65,
	RR_SPF = 99,
	RR_NID = 104,
	RR_L32 = 105,
	RR_L64 = 106,
	RR_LP = 107,
	RR_EUI48 = 108,
	RR_EUI64 = 109,
	RR_IXFR = 251,
	RR_AXFR = 252,
	RR_MAILB = 253,
	RR_MAILA = 254,
	RR_ANY = 255,
	RR_URI = 256,
	RR_CAA = 257,
	RR_AMTRELAY = 260,
};

enum {
	CLASS_IN = 1,
	CLASS_CH = 3,
	CLASS_NONE = 254,
	CLASS_ANY = 255,
};

enum {
	/* Names in the rdata are lower-cased in canonical form (RFC 4034 6.2,
	 * RFC 6840 5.1): records that differ only there are duplicates. */
	RRT_CANON = 1,
	/* Printed by libknot's dumper, not by walking the layout. */
	RRT_KNOT_PRINT = 2,
};

struct rrtype_info {
	uint16_t type;
	const char *name;
	const char *layout;
	unsigned flags;
};

/* NULL for types without an entry (they are still valid: RFC 3597). */
const struct rrtype_info *rrtype_get(uint16_t type);
/* Accepts mnemonics case-insensitively and "TYPEnnn". Returns 0 when unknown. */
uint16_t rrtype_from_text(const char *s, size_t len);
/* Writes the mnemonic or "TYPEnnn" into buf (at least 12 bytes). */
const char *rrtype_to_text(uint16_t type, char *buf);
/* Meta and question-only types (OPT, TKEY, TSIG, IXFR, AXFR, MAILA/B, ANY)
 * cannot appear in zone data. */
int rrtype_is_meta(uint16_t type);
/* Whether wire rdata has the shape layout promises, so that the rest of the
 * system may walk it by layout without re-checking. */
int rrtype_rdata_fits(const char *layout, const uint8_t *p, size_t len);
/* Compares two rdata of one type in canonical form (names of RRT_CANON types
 * case-insensitively, RFC 4034 6.2), as memcmp does, shorter first on a tie. */
int rrtype_rdata_cmp(uint16_t type, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
/* Lower-cases in place the names of RRT_CANON rdata: its canonical form
 * (RFC 4034 6.2), which DNSSEC signatures cover. */
void rrtype_rdata_canon(uint16_t type, uint8_t *p, size_t len);

#endif
