/* The DNS Firewall image layout: written by zones/compile/fwcompile.c, read by
 * zones/answer/fw.c; docs/firewall.md describes it for people. Keep the three in
 * step and bump FW_VERSION on any change.
 *
 * The conventions are the snapshot's (zones/common/snapfmt.h): little-endian,
 * naturally aligned, offsets only, sections 64-byte aligned, a section table
 * with the first 16 bytes of each section's SHA-256, and a content hash over
 * header and table.
 *
 *   +------------------+  0
 *   | fw_hdr           |  magic "P53FWDB", version, serial, counts, hash
 *   | fw_sect[nsect]   |
 *   +------------------+
 *   | RULES            |  fw_rule[nrules], in evaluation order
 *   | STRINGS          |  group and rule names (NUL-terminated), override names (wire)
 *   | HASH             |  fw_hash_hdr + fw_hash_ent[mask + 1]: suffix table
 *   | NAMES            |  per listed name: u8 length, canonical wire name
 *   | RLIST            |  u32 rule lists: count, then rule indices ascending
 *   | HSDB             |  hs_serialize_database() bytes (empty without patterns)
 *   | PATTERNS         |  per pattern: u32 rule, u32 length, text, pad to 4
 *   | FILTER           |  fw_filter_hdr + bitmap: blocked Bloom filter of listed names
 *   +------------------+
 */
#ifndef P53_FWFMT_H
#define P53_FWFMT_H

#include <stddef.h>
#include <stdint.h>

#define FW_MAGIC     "P53FWDB"
#define FW_VERSION   2
#define FW_ALIGN     64
#define FW_NONE	     UINT32_MAX
#define FW_LIST_BIT  0x80000000u /* in fw_hash_ent.exact/sub: an RLIST offset */
#define FW_RULES_MAX 100000u	 /* Route 53 allows 100 per group; ample */

enum fw_sect_id {
	FWS_RULES = 1,
	FWS_STRINGS = 2,
	FWS_HASH = 3,
	FWS_NAMES = 4,
	FWS_RLIST = 5,
	FWS_HSDB = 6,
	FWS_PATTERNS = 7,
	FWS_FILTER = 8,
	FWS__MAX = 8
};

struct fw_sect {
	uint32_t id;
	uint32_t reserved;
	uint64_t off;
	uint64_t len;
	uint8_t sum[16]; /* first 16 bytes of SHA-256(section) */
};

#define FW_HDR_FAIL_OPEN 0x1

struct fw_hdr {
	char magic[8]; /* "P53FWDB\0" */
	uint32_t version;
	uint32_t nsect;
	uint64_t serial;
	uint64_t created;
	uint64_t size; /* whole file */
	uint8_t hash[32];
	uint32_t nrules;
	uint32_t flags;	    /* FW_HDR_* */
	uint32_t ndomains;  /* list entries compiled (informational) */
	uint32_t npatterns; /* Hyperscan expressions */
	uint32_t minpat;    /* lowest rule index that has a pattern, FW_NONE if none */
	uint8_t reserved[4];
	struct fw_sect sect[FWS__MAX];
};

#define FW_RULE_TRUST 0x1 /* TRUST_REDIRECTION_DOMAIN */

struct fw_rule {
	uint32_t group_prio;
	uint32_t rule_prio;
	uint32_t group;	       /* STRINGS offset, NUL-terminated */
	uint32_t name;	       /* STRINGS offset, NUL-terminated */
	uint32_t override;     /* STRINGS offset of a canonical wire name, or FW_NONE */
	uint32_t override_ttl; /* 0..604800 */
	uint16_t qtype;	       /* 0: any */
	uint8_t action;	       /* enum p53_fw_action, ALLOW..DROP */
	uint8_t flags;	       /* FW_RULE_* */
	uint32_t reserved;
};

struct fw_hash_hdr {
	uint32_t mask; /* entries - 1, a power of two minus one */
	uint32_t count;
};

/* One listed name. exact: the rules that list the name itself; sub: the
 * rules that list "*.name" (names strictly below). Each is FW_NONE, a rule
 * index, or FW_LIST_BIT | offset (in u32 units) of a list in RLIST. A list
 * is needed only when the first rule has a qtype filter, and it ends at the
 * first rule without one (nothing after it can decide). */
struct fw_hash_ent {
	uint32_t hash;
	uint32_t name; /* NAMES offset + 1; 0 = empty slot */
	uint32_t exact;
	uint32_t sub;
};

/* Most suffixes of most queries are not listed, and a million names make a
 * table far bigger than the caches: a bitmap of about a byte per name stays
 * in cache and turns nearly every miss into one word test instead of a
 * memory access. It is a blocked Bloom filter: the hash's top log2 - 6 bits
 * pick a 64-bit word, and two bits in that word are set per name (positions
 * from fw_filter_mask), which halves the false positives of one bit per name
 * at the same size and still costs one load.
 *
 * minlab and maxlab bound the label counts of listed names (root = 0), so a
 * query suffix outside them is skipped without even that load: typical
 * lists hold no TLDs and no root, which every query would otherwise test. */
struct fw_filter_hdr {
	uint32_t log2;		/* bits = 1 << log2, 9..32 */
	uint8_t minlab, maxlab; /* label counts of listed names; min > max if none */
	uint8_t reserved[2];
};

static inline uint32_t fw_filter_word(uint32_t hash, uint32_t log2)
{
	return hash >> (32 - (log2 - 6));
}

/* Two bit positions from a remix of the hash, so they are independent of
 * the word index (the top bits) whatever log2 is. */
static inline uint64_t fw_filter_mask(uint32_t hash)
{
	uint32_t m = hash * 0x9e3779b1u;
	return (1ull << (m >> 26)) | (1ull << ((m >> 20) & 63));
}

_Static_assert(sizeof(struct fw_hdr) == 96 + FWS__MAX * 40, "fw_hdr layout");
_Static_assert(sizeof(struct fw_rule) == 32, "fw_rule layout");
_Static_assert(sizeof(struct fw_hash_ent) == 16, "fw_hash_ent layout");

/* The table's hash is the snapshot's name_hash() (zones/common/name.h) of the
 * canonical wire name: the answer engine already computes it for every
 * suffix of the query name (name_suffix_hashes), so the firewall reuses
 * those instead of hashing the name a second time. */

/* SHA-256 sums over an image whose header and section table are filled in. */
void fw_seal(uint8_t *image);

#endif
