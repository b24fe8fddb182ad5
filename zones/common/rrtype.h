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
 * A type with an empty layout is opaque: only RFC 3597 "\# len hex" applies.
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
	RR_PTR = 12,
	RR_HINFO = 13,
	RR_MX = 15,
	RR_TXT = 16,
	RR_AAAA = 28,
	RR_SRV = 33,
	RR_NAPTR = 35,
	RR_DNAME = 39,
	RR_OPT = 41,
	RR_DS = 43,
	RR_SSHFP = 44,
	RR_RRSIG = 46,
	RR_NSEC = 47,
	RR_DNSKEY = 48,
	RR_NSEC3 = 50,
	RR_TLSA = 52,
	RR_SVCB = 64,
	RR_HTTPS = 65,
	RR_SPF = 99,
	RR_IXFR = 251,
	RR_AXFR = 252,
	RR_MAILB = 253,
	RR_MAILA = 254,
	RR_ANY = 255,
	RR_CAA = 257,
};

enum {
	CLASS_IN = 1,
	CLASS_CH = 3,
	CLASS_NONE = 254,
	CLASS_ANY = 255,
};

struct rrtype_info {
	uint16_t type;
	const char *name;
	const char *layout;
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

#endif
