/* RFC 1035 master-file parser, on Knot DNS's libzscanner.
 *
 * libzscanner owns the syntax ($ORIGIN, $TTL, "@", relative names, omitted
 * owner/TTL, parentheses, comments, quoted strings, escapes, TTL units, the
 * presentation form of every registered type, RFC 3597 "\# len hex"); this
 * module adds BIND's $GENERATE (expanded here, before the scanner sees the
 * records) and port53's rules on top: $INCLUDE policy (allowed, forbidden, or
 * confined to a directory), nesting depth and loops, RFC 1035's "last TTL"
 * before any $TTL, TTLs within RFC 2181, rdata that fits its type's layout
 * (RFC 3597 input included), and "file:line: reason" messages that never
 * quote the input. Records stream to a callback; the parser keeps none, so a
 * 10-million record zone costs it only the scanner (about 200 KB) and the
 * mapped file.
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
	uint64_t pos; /* bytes of that file read so far (progress) */
};

/* Return 0 to continue; a negative P53_E* code stops parsing (the callback
 * has then recorded its own reason in err). */
typedef int (*zparse_cb)(void *ctx, const struct zparse_rr *rr, struct p53_err *err);

enum zparse_include {
	ZPARSE_INCLUDE_ALLOW,	/* any file the process can read */
	ZPARSE_INCLUDE_FORBID,	/* $INCLUDE is an error */
	ZPARSE_INCLUDE_CONFINE, /* only regular files below include_dir */
};

struct zparse_opts {
	const uint8_t *origin;	    /* initial $ORIGIN (wire); required */
	uint32_t default_ttl;	    /* used until $TTL or an explicit TTL; RFC 2308 */
	unsigned max_include_depth; /* 0 means the default, 8 */
	enum zparse_include include;
	const char *include_dir; /* for ZPARSE_INCLUDE_CONFINE */
	/* Records $GENERATE may make, all directives of the zone together
	 * (included files too): 0 means the default, 65536;
	 * ZPARSE_GENERATE_FORBID makes any $GENERATE an error. */
	uint32_t max_generate;
};

#define ZPARSE_GENERATE_DEFAULT 65536u
#define ZPARSE_GENERATE_FORBID	UINT32_MAX

/* Parses path. On error returns a negative code and err->msg reads
 * "file:line: reason". */
int zparse_file(const char *path, const struct zparse_opts *opts, zparse_cb cb, void *ctx,
		struct p53_err *err);
/* A large file read in parts on threads (docs/zone-files.md): part k's
 * records go to cb(ctx[k], ...), called on part k's thread. On success the
 * file's records, in order, are those given to ctx[0], then ctx[1], ... up
 * to ctx[used - 1], each with the line a reading from the top gives it.
 * When the file cannot be cut (small; $INCLUDE, $GENERATE, CR LF) or a
 * part's start was guessed wrong, reset(ctx[k], k) is called for every
 * part, on the calling thread, to drop what it was given, and the file is
 * read in one piece into ctx[0] (used is 1): the records and any error are
 * always those of zparse_file. */
#define ZPARSE_PARTS_MAX 8
struct zparse_parts {
	unsigned n; /* parts wanted, 1 to ZPARSE_PARTS_MAX */
	void *ctx[ZPARSE_PARTS_MAX];
	void (*reset)(void *ctx, unsigned k);
	unsigned used; /* out */
};
int zparse_file_parts(const char *path, const struct zparse_opts *opts, zparse_cb cb,
		      struct zparse_parts *parts, struct p53_err *err);
/* Same for text in memory (name is used in messages; $INCLUDE paths are
 * relative to the current directory). */
int zparse_string(const char *name, const char *text, size_t len, const struct zparse_opts *opts,
		  zparse_cb cb, void *ctx, struct p53_err *err);

/* Converts one record's rdata from presentation to wire form, as the parser
 * does (used by the Route 53 JSON importer too). text holds the rdata fields
 * only; relative names are taken relative to origin, or to the root when
 * origin is NULL. Returns the wire length, P53_ERANGE when it exceeds cap, or
 * a negative code with a reason in err. */
int zparse_rdata(uint16_t type, const char *text, size_t len, const uint8_t *origin, uint8_t *out,
		 size_t cap, struct p53_err *err);

/* Writes rdata in presentation form (the inverse of zparse_rdata): names
 * absolute with a trailing dot, strings quoted, RFC 3597 form for types
 * without a layout or rdata that does not fit the layout. Returns the text
 * length, or -1 when cap is too small. */
int zprint_rdata(uint16_t type, const uint8_t *rdata, size_t rdlen, char *out, size_t cap);

#endif
