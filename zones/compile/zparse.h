/* RFC 1035 master-file parser.
 *
 * Streams records to a callback; it keeps no records itself, so a 10-million
 * record zone costs the parser only its line buffer. The compiler owns
 * meaning (zone cuts, CNAME rules, glue); the parser owns syntax: $ORIGIN,
 * $TTL, $INCLUDE, "@", relative names, omitted owner/TTL/class, parentheses,
 * comments, quoted strings, "\X" and "\DDD" escapes, TTL units (1h30m), every
 * type in rrtype.h by its layout, and RFC 3597 "TYPEnnn \# len hex" for any.
 */
#ifndef P53_ZPARSE_H
#define P53_ZPARSE_H

#include "zones/common/err.h"
#include "zones/common/name.h"

#include <stddef.h>
#include <stdint.h>

struct zparse_rr {
	const uint8_t *owner; /* uncompressed wire name, case as written */
	size_t owner_len;
	uint16_t type;
	uint16_t rclass;
	uint32_t ttl;
	const uint8_t *rdata; /* uncompressed wire rdata */
	uint16_t rdlen;
	const char *file; /* where the record was written, for messages */
	unsigned line;
};

/* Return 0 to continue; a negative P53_E* code stops parsing (the callback
 * has then recorded its own reason in err). */
typedef int (*zparse_cb)(void *ctx, const struct zparse_rr *rr, struct p53_err *err);

struct zparse_opts {
	const uint8_t *origin;	    /* initial $ORIGIN (wire); required */
	uint32_t default_ttl;	    /* used until $TTL or an explicit TTL; RFC 2308 */
	unsigned max_include_depth; /* 0 means the default, 8 */
};

/* Parses path. On error returns a negative code and err->msg reads
 * "file:line: reason". */
int zparse_file(const char *path, const struct zparse_opts *opts, zparse_cb cb, void *ctx,
		struct p53_err *err);
/* Same for text in memory (name is used in messages; $INCLUDE paths are
 * relative to the current directory). */
int zparse_string(const char *name, const char *text, size_t len, const struct zparse_opts *opts,
		  zparse_cb cb, void *ctx, struct p53_err *err);

/* Converts one record's rdata from presentation to wire form, as the parser
 * does (used by the Route 53 JSON importer too). text holds the rdata fields
 * only. Returns the wire length or a negative code with a reason in err. */
int zparse_rdata(uint16_t type, const char *text, size_t len, const uint8_t *origin, uint8_t *out,
		 size_t cap, struct p53_err *err);

/* Writes rdata in presentation form (the inverse of zparse_rdata): names
 * absolute with a trailing dot, strings quoted, RFC 3597 form for types
 * without a layout or rdata that does not fit the layout. Returns the text
 * length, or -1 when cap is too small. */
int zprint_rdata(uint16_t type, const uint8_t *rdata, size_t rdlen, char *out, size_t cap);

#endif
