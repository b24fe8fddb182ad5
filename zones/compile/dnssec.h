/* DNSSEC signing at compile time (docs/dnssec.md).
 *
 * The compiler hands each zone to be signed over as its nodes in canonical
 * order with their records; the signer adds the DNSKEY, CDS and CDNSKEY
 * sets at the apex, an NSEC chain (RFC 4034 4) or an NSEC3 chain and its
 * NSEC3PARAM (RFC 5155) and the RRSIGs of every authoritative RRset, and
 * gives the new records back through a callback.
 * Once the snapshot image is laid out, the compiler adds what the
 * engine needs to answer DO=1 queries quickly: the NSEC node of each node
 * and the pre-rendered DO=1 answers (snapfmt.h SECT_NODESEC, SECT_ANSDO,
 * SECT_DOBLOBS, and for NSEC3 zones SECT_NSEC3Z, SECT_NSEC3, SECT_NODESEC3).
 * Pre-signed zones (RRSIG and NSEC or NSEC3 in the zone file) get the second
 * step only.
 */
#ifndef P53_DNSSEC_H
#define P53_DNSSEC_H

#include "zones/common/err.h"
#include "zones/compile/dnskey.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNSSEC_TTL_MAX	     604800u	    /* one week: signed zones cap TTLs */
#define DNSSEC_VALIDITY_DEF  (14u * 86400u) /* signature lifetime */
#define DNSSEC_INCEPTION_LAG 3600u	    /* inception this far back, for skewed clocks */

struct dnssec_rec {
	uint16_t type;
	uint16_t rdlen;
	uint32_t ttl;
	const uint8_t *rdata; /* NULL: a routing-policy group, listed in NSEC, unsigned */
};

struct dnssec_node {
	const uint8_t *name; /* canonical */
	uint8_t name_len;
	uint16_t flags;		      /* snapfmt.h NODE_* */
	const struct dnssec_rec *rec; /* sorted by type */
	uint32_t nrec;
};

struct dnssec_opts {
	uint64_t now;	   /* unix seconds; 0 = the current time */
	uint32_t validity; /* seconds; 0 = DNSSEC_VALIDITY_DEF */
	bool compact;	   /* no NSEC chain: denials are made online (RFC 9824) */
	/* An NSEC3 chain (RFC 5155) instead of NSEC: hash algorithm 1 with
	 * these parameters (RFC 9276: 0 iterations, no salt); opt_out leaves
	 * insecure delegations out of the chain and sets the Opt-Out flag. */
	bool nsec3, opt_out;
	uint16_t iterations;
	uint8_t salt_len;
	uint8_t salt[255];
	unsigned threads; /* signing threads; 0 = one per online CPU */
};

/* A new record: the signer's output. At node index node, or, when node is
 * DNSSEC_NEW_NAME, at owner (an NSEC3 owner, a name the zone did not have;
 * owner is given in both cases). */
#define DNSSEC_NEW_NAME UINT32_MAX
typedef int (*dnssec_emit_fn)(void *arg, uint32_t node, const uint8_t *owner, size_t olen,
			      uint16_t type, uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);

/* Signs one zone: nodes[0] is its apex. soa_ttl is the TTL given to the
 * DNSKEY, CDS and CDNSKEY sets, nsec_ttl the NSEC records' (RFC 9077: the
 * SOA's negative TTL). Keys with the SEP flag sign the key sets; the others
 * sign the rest, or every key signs everything when none lacks the flag
 * (a CSK). */
int dnssec_sign_zone(const struct dnssec_opts *o, const struct dnskey *keys, size_t nkeys,
		     const struct dnssec_node *nodes, uint32_t nnodes, uint32_t soa_ttl,
		     uint32_t nsec_ttl, dnssec_emit_fn emit, void *arg, struct p53_err *err);

struct p53_snapshot;
struct snap_nodesec;
struct snap_nsec3zone;
struct snap_nsec3;
struct snap_nodesec3;

/* Whether an image (its views) holds NSEC or RRSIG records: then it gets
 * the DNSSEC sections. */
bool dnssec_present(const struct p53_snapshot *s);
/* SECT_NODESEC for the image, malloc'd, one entry per node; the DO=1
 * answers for other types are left to render. compact[zone] marks zones
 * with compact denial (SNAP_NSEC_COMPACT on each of their nodes). */
int dnssec_nodesec(const struct p53_snapshot *s, const bool *compact, struct snap_nodesec **out);
/* The DO=1 answers of an image whose NODESEC is in place (ns, written
 * with each node's other-types answer): SECT_ANSDO and SECT_DOBLOBS,
 * malloc'd. */
int dnssec_do_answers(const struct p53_snapshot *s, struct snap_nodesec *ns, uint32_t **ansdo,
		      uint8_t **blobs, size_t *blobs_len);

/* The NSEC3 sections of an image (snapfmt.h SECT_NSEC3Z, SECT_NSEC3,
 * SECT_NODESEC3), malloc'd, from the NSEC3 records the zones hold, made
 * by the signer or pre-signed: each zone's chain parameters (its
 * NSEC3PARAM, else its first NSEC3 record's), its NSEC3 owners by hash,
 * and each node's proofs. *nz is 0 when no zone has an NSEC3 chain.
 * P53_EINVAL (with err) for a chain the engine would not serve. */
int dnssec_nsec3(const struct p53_snapshot *s, struct snap_nsec3zone **zones, size_t *nz,
		 struct snap_nsec3 **ents, size_t *nents, struct snap_nodesec3 **nodes,
		 struct p53_err *err);

#endif
