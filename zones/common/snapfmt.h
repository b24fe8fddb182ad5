/* On-disk layout of a snapshot (private to zones/).
 *
 * Little-endian, naturally aligned, offsets only: the file is mmap'd and read
 * in place by every worker. docs/snapshot-format.md describes the same layout
 * for people; keep the two in step and bump SNAP_VERSION on any change.
 *
 *   +------------------+  0
 *   | snap_hdr         |  magic, version, serial, created, size, content hash
 *   | snap_sect[nsect] |  id, offset, length, SHA-256 prefix of the section
 *   +------------------+
 *   | sections ...     |  each 64-byte aligned
 *   +------------------+
 *
 * The content hash is SHA-256 over the header (hash field zeroed) and the
 * section table; each section's checksum in the table covers its bytes, so
 * verification reads every byte exactly once.
 */
#ifndef P53_SNAPFMT_H
#define P53_SNAPFMT_H

#include <stdint.h>

#define SNAP_MAGIC   "P53SNAP"
#define SNAP_VERSION 8
/* Oldest version still read: 6 added sections (NSEC3), 7 one more
 * (SECT_R53TF), and a header holds exactly SECT__MAX of them; 8 changed
 * the blob, answer and index layouts. */
#define SNAP_VERSION_MIN 8
#define SNAP_ALIGN	 64
#define SNAP_NONE	 UINT32_MAX

enum snap_sect_id {
	SECT_ZONES = 1,	 /* struct snap_zone[] */
	SECT_NODES = 2,	 /* struct snap_node[], canonical order within each zone */
	SECT_RRSETS = 3, /* struct snap_rrset[], grouped by node, ascending type */
	SECT_HASH = 4,	 /* struct snap_hash_hdr + struct snap_hash_ent[slots] */
	SECT_NAMES = 5,	 /* canonical wire names */
	SECT_RDATA = 6,	 /* per RRset: count x (u16 length, rdata) */
	SECT_ANS = 7,	 /* struct snap_ans[]: per node, qtype -> pre-rendered blob */
	SECT_BLOBS = 8,	 /* struct snap_blob + cuts + section bytes, 4-aligned */
	/* Route 53 routing policies (docs/route53.md); empty when unused. */
	SECT_GROUPS = 9,   /* struct snap_group[]: policy groups */
	SECT_MEMBERS = 10, /* struct snap_member[]: grouped by group */
	SECT_STRINGS = 11, /* NUL-terminated strings, deduplicated; ends with NUL */
	SECT_HCHECKS = 12, /* u32 STRINGS offsets: HealthCheckId per check number */
	SECT_GEO4 = 13,	   /* struct snap_geo4[], sorted, disjoint */
	SECT_GEO6 = 14,	   /* struct snap_geo6[], sorted, disjoint */
	SECT_GEOLOC = 15,  /* struct snap_geoloc[] */
	SECT_CIDR = 16,	   /* struct snap_cidr[]: CIDR collection blocks */
	/* Latency table (compile --latency): client prefix -> region -> ms. */
	SECT_LAT4 = 17,	  /* struct snap_geo4[], sorted, disjoint; loc = LATROW index */
	SECT_LAT6 = 18,	  /* struct snap_geo6[], likewise */
	SECT_LATROW = 19, /* struct snap_latrow[]: one per prefix */
	SECT_LATENT = 20, /* struct snap_latent[]: grouped by row */
	/* DNSSEC (docs/dnssec.md); empty in snapshots without DNSSEC data. */
	SECT_NODESEC = 21, /* struct snap_nodesec[]: one per node */
	SECT_ANSDO = 22,   /* u32 per ANS entry: its DO=1 answer (SNAP_DO_*) */
	SECT_DOBLOBS = 23, /* pre-rendered DO=1 answers, laid out as in BLOBS */
	/* NSEC3 (RFC 5155; version 6); empty in snapshots without NSEC3. */
	SECT_NSEC3Z = 24,   /* struct snap_nsec3zone[]: one per zone */
	SECT_NSEC3 = 25,    /* struct snap_nsec3[]: per zone, ascending hash */
	SECT_NODESEC3 = 26, /* struct snap_nodesec3[]: one per node */
	/* Route 53 traffic flow as given, for export (version 7): one JSON
	 * text and its NUL, {"zone.": {"TrafficPolicies": [...],
	 * "TrafficPolicyInstances": [...]}, ...}; empty when unused. The
	 * engine never reads it: the instances are served from GROUPS. */
	SECT_R53TF = 27,
	SECT__MAX = 27
};

struct snap_sect {
	uint32_t id;
	uint32_t reserved;
	uint64_t off;
	uint64_t len;
	uint8_t sum[16]; /* first 16 bytes of SHA-256(section) */
};

struct snap_hdr {
	char magic[8]; /* "P53SNAP\0" */
	uint32_t version;
	uint32_t nsect;
	uint64_t serial;
	uint64_t created;
	uint64_t size; /* whole file */
	uint8_t hash[32];
	uint8_t reserved[24];
	struct snap_sect sect[SECT__MAX];
};

struct snap_zone {
	uint32_t name;	  /* offset in NAMES */
	uint32_t apex;	  /* node index */
	uint32_t soa;	  /* rrset index of the apex SOA */
	uint32_t serial;  /* SOA serial, for status displays */
	uint32_t neg_ttl; /* min(SOA TTL, SOA MINIMUM): RFC 2308 */
	uint32_t nodes;	  /* node count; nodes [apex, apex + nodes) */
};

enum snap_node_flags {
	NODE_APEX = 1 << 0,
	NODE_DELEG = 1 << 1,	/* NS below the apex: a zone cut */
	NODE_OCCLUDED = 1 << 2, /* strictly below a zone cut (glue or nothing) */
	NODE_CNAME = 1 << 3,
	NODE_DNAME = 1 << 4,
	NODE_WILDCARD = 1 << 5, /* the leftmost label is "*" */
	NODE_ENT = 1 << 6,	/* empty non-terminal: exists, holds nothing */
	/* An NSEC3 owner (hash.apex, holding NSEC3 and RRSIG only, no
	 * descendants): answered as a name that does not exist (RFC 5155
	 * 7.2.8), so lookups pass over it; version 6. */
	NODE_NSEC3 = 1 << 7,
	/* The parent zone's side of the cut above a served child zone (its NS,
	 * DS, NSEC and their RRSIGs, RFC 4035 3.1.4.1): a delegation in the
	 * parent's node range, found by the parent's canonical order, never by
	 * name (the index finds the child's apex). */
	NODE_PARENT = 1 << 8,
};

struct snap_node {
	uint32_t name;	  /* offset in NAMES */
	uint8_t name_len; /* 1..255; the root cannot be an owner here */
	uint8_t labels;
	uint16_t flags;
	uint32_t zone;
	uint32_t cut;	/* node of the zone cut at or above, or SNAP_NONE */
	uint32_t wild;	/* node of the "*" child, or SNAP_NONE */
	uint32_t rrset; /* first rrset index */
	uint16_t nrrsets;
	uint16_t nans;
	uint32_t ans;	     /* first index in ANS */
	uint32_t other_blob; /* blob for qtypes not in ANS, +1; 0 = render */
};

struct snap_rrset {
	uint16_t type;
	uint16_t count;
	uint32_t ttl;
	uint32_t rdata; /* offset in RDATA */
	uint32_t len;	/* bytes in RDATA, length prefixes included */
};

struct snap_ans {
	uint16_t qtype;
	uint16_t flags; /* ANS_DYNAMIC: decided per query (routing policy) */
	uint32_t blob;	/* offset in BLOBS; unused when ANS_DYNAMIC */
};

#define ANS_DYNAMIC 0x0001
/* The entry answers ANY too (RFC 8482: ANY gets the node's first RRset, the
 * same answer as that RRset's type), so ANY needs no entry of its own. */
#define ANS_ANY 0x0002

/* A routing-policy group: the records of one name and type that carry a
 * routing policy (or an alias). In the node's RRSET range it is stood for by
 * a placeholder snap_rrset with count 0 and rdata = group index, so every
 * lookup by type finds it; member RRsets lie after all node ranges. */
enum snap_policy {
	POL_SIMPLE = 0, /* a simple alias: one member */
	POL_WEIGHTED = 1,
	POL_FAILOVER = 2,
	POL_GEO = 3,
	POL_LATENCY = 4,
	POL_GEOPROX = 5,
	POL_MULTIVALUE = 6,
	POL_CIDR = 7,
	POL__MAX = 7
};

/* A nested group (a traffic-flow rule inside another rule) is held by no
 * node: only a MEM_GROUP member of another group reaches it. Its node is
 * the owner of the policy record it belongs to. */
enum snap_group_flags { GRP_NESTED = 1 << 0 };

struct snap_group {
	uint32_t member; /* first member index */
	uint16_t nmembers;
	uint8_t policy;	    /* enum snap_policy */
	uint8_t flags;	    /* enum snap_group_flags */
	uint32_t node;	    /* owner node */
	uint32_t cidr_coll; /* CIDR groups: STRINGS offset of CollectionId */
	uint16_t type;
	uint16_t reserved2;
};

enum snap_member_flags {
	MEM_PRIMARY = 1 << 0,
	MEM_SECONDARY = 1 << 1,
	MEM_EVAL_TARGET = 1 << 2, /* alias EvaluateTargetHealth */
	MEM_MV_TRUE = 1 << 3,	  /* MultiValueAnswer true (false is not a policy) */
	MEM_ALIAS = 1 << 4,
	MEM_COORDS = 1 << 5,	/* geoproximity by Coordinates (lat/lon below) */
	MEM_LOCALZONE = 1 << 6, /* geoproximity by LocalZoneGroup (region holds it) */
	MEM_GROUP = 1 << 7,	/* a nested group: alias holds its GROUPS index */
};

/* Geolocation levels, most specific last; GEO_DEFAULT is CountryCode "*". */
enum { GEO_DEFAULT = 0, GEO_CONTINENT = 1, GEO_COUNTRY = 2, GEO_SUBDIV = 3 };

struct snap_member {
	uint32_t rrset;	   /* member RRset; SNAP_NONE for an alias or a nested group */
	uint32_t alias;	   /* alias target node; with MEM_GROUP a group; or SNAP_NONE */
	uint32_t setid;	   /* STRINGS offset of SetIdentifier, or SNAP_NONE */
	uint32_t health;   /* check number (HCHECKS index), or SNAP_NONE */
	uint32_t region;   /* STRINGS offset: Region / AWSRegion / LocalZoneGroup, or SNAP_NONE */
	uint32_t cidr_loc; /* STRINGS offset of the CIDR LocationName ("*" = default) */
	uint16_t weight;
	uint8_t flags;				  /* enum snap_member_flags */
	uint8_t geo_level;			  /* GEO_* for geolocation members */
	char continent[2], country[2], subdiv[4]; /* ASCII, zero padded */
	int32_t lat_e6, lon_e6;			  /* geoproximity Coordinates, micro-degrees */
	float x, y, z;				  /* unit vector of the member's location */
	int8_t bias;				  /* geoproximity Bias -99..99 */
	uint8_t reserved[3];
	/* An alias to a resource outside the snapshot (CloudFront, ELB, ...)
	 * served from the operator's alias map: STRINGS offset + 1 of
	 * "HostedZoneId\tDNSName\tEvaluateTargetHealth(0|1)", kept for export;
	 * the member is an ordinary RRset otherwise. 0 = none. */
	uint32_t ext_alias;
};

/* Geo database: address ranges to locations. */
struct snap_geo4 {
	uint32_t lo, hi; /* host order, inclusive */
	uint32_t loc;	 /* GEOLOC index */
	uint8_t plen;	 /* prefix length the range came from (ECS scope) */
	uint8_t reserved[3];
};

struct snap_geo6 {
	uint8_t lo[16], hi[16]; /* network order, inclusive */
	uint32_t loc;
	uint8_t plen;
	uint8_t reserved[3];
};

struct snap_geoloc {
	char continent[2], country[2], subdiv[4];
	int32_t lat_e6, lon_e6;
	float x, y, z;
};

struct snap_cidr {
	uint32_t coll;	/* STRINGS offset of CollectionId */
	uint32_t loc;	/* STRINGS offset of LocationName */
	uint8_t family; /* 4 or 6 */
	uint8_t plen;
	uint8_t reserved[2];
	uint8_t addr[16]; /* network order, host bits zero */
};

/* The measured latencies of one client prefix: LATENT[ent, ent + nent). */
struct snap_latrow {
	uint32_t ent;
	uint32_t nent;
};

struct snap_latent {
	uint32_t region; /* STRINGS offset; the same string a member's region uses */
	uint32_t us;	 /* latency in microseconds */
};

/* DNSSEC facts per node. The NSEC that proves a name absent is the one of
 * the last node at or before it in canonical order that has an NSEC RRset:
 * kept here, so a denial costs a binary search and no walk. A DO=1 answer
 * (other_do, and each SECT_ANSDO entry) is a DOBLOBS offset + 1, 0 when it
 * is rendered per query, or SNAP_DO_SAME when it equals the DO=0 answer
 * (an unsigned zone). */
struct snap_nodesec {
	uint32_t nsec; /* node holding that NSEC, or SNAP_NONE */
	uint32_t other_do;
};

/* nsec of every node of a zone compiled with compact denial of existence
 * (RFC 9824; version 5): no NSEC chain, denials are made per query. */
#define SNAP_NSEC_COMPACT 0xfffffffeu

/* NSEC3 (version 6). A zone's chain parameters and its NSEC3 owners
 * sorted by hash, for the one proof that depends on the query name (the
 * next closer name of an NXDOMAIN or a wildcard answer, hashed per query);
 * count 0: the zone has no NSEC3 chain. Only records with these parameters
 * (hash algorithm 1, SHA-1) are in the list. */
struct snap_nsec3zone {
	uint32_t first; /* index in SECT_NSEC3 */
	uint32_t count;
	uint16_t iterations; /* at most P53_NSEC3_ITER_MAX (nsec3hash.h) */
	uint8_t salt_len;
	uint8_t reserved;
	uint8_t salt[256]; /* salt_len bytes, zero padded */
};

struct snap_nsec3 {
	uint8_t hash[20]; /* the owner's first label, decoded */
	uint32_t node;	  /* the node holding the NSEC3 RRset */
};

/* The NSEC3 proofs about a node that depend on the node only, found at
 * compile time; each an NSEC3 owner node or SNAP_NONE. match: the NSEC3 of
 * the node's own hash (NODATA, a referral, a closest encloser). When it has
 * none (an insecure delegation of an opt-out zone), ce and nc are the
 * closest provable encloser proof (RFC 5155 7.2.1): the NSEC3 matching the
 * nearest ancestor that has one, and the NSEC3 covering the next closer
 * name. wild: the NSEC3 covering *.node, for an NXDOMAIN whose closest
 * encloser is the node. */
struct snap_nodesec3 {
	uint32_t match, ce, nc, wild;
};

#define SNAP_DO_RENDER 0u
#define SNAP_DO_SAME   UINT32_MAX

/* A name's home slot is (hash * slots) >> 32 (so slots need not be a power
 * of two and the table can be filled in hash order); probing is linear and
 * wraps from the last slot to the first. */
struct snap_hash_hdr {
	uint32_t slots; /* table size; at most 3/4 of the slots are used */
	uint32_t reserved;
};

struct snap_hash_ent {
	uint32_t hash;
	uint32_t node; /* node index + 1; 0 = empty */
};

/* A pre-rendered answer: the sections that follow the question for a query
 * whose name is the node's name (any case) and whose type is the entry's. It
 * was rendered with the question at offset 12, so compression pointers are
 * valid as they stand. Cuts mark RRset boundaries for truncation; the two
 * every answer has, {0, 0, 0, 0} and {len, an, ns, ar}, are implied, so
 * only the ones in between are stored (none for a single RRset). */
struct snap_cut {
	uint16_t off;
	uint16_t an, ns, ar;
};

struct snap_blob {
	uint16_t len;
	uint8_t rcode;
	uint8_t flags; /* BLOB_AA */
	uint16_t an, ns, ar;
	uint16_t ncut; /* followed by struct snap_cut[ncut] (inner cuts), then len bytes */
};

#define BLOB_AA 0x01

_Static_assert(sizeof(struct snap_hdr) == 96 + SECT__MAX * 40, "snap_hdr layout");
_Static_assert(sizeof(struct snap_node) == 36, "snap_node layout");
_Static_assert(sizeof(struct snap_rrset) == 16, "snap_rrset layout");
_Static_assert(sizeof(struct snap_blob) == 12, "snap_blob layout");
_Static_assert(sizeof(struct snap_cut) == 8, "snap_cut layout");
_Static_assert(sizeof(struct snap_group) == 20, "snap_group layout");
_Static_assert(sizeof(struct snap_member) == 64, "snap_member layout");
_Static_assert(sizeof(struct snap_geo4) == 16, "snap_geo4 layout");
_Static_assert(sizeof(struct snap_geo6) == 40, "snap_geo6 layout");
_Static_assert(sizeof(struct snap_geoloc) == 28, "snap_geoloc layout");
_Static_assert(sizeof(struct snap_cidr) == 28, "snap_cidr layout");
_Static_assert(sizeof(struct snap_latrow) == 8, "snap_latrow layout");
_Static_assert(sizeof(struct snap_latent) == 8, "snap_latent layout");
_Static_assert(sizeof(struct snap_nodesec) == 8, "snap_nodesec layout");
_Static_assert(sizeof(struct snap_nsec3zone) == 268, "snap_nsec3zone layout");
_Static_assert(sizeof(struct snap_nsec3) == 24, "snap_nsec3 layout");
_Static_assert(sizeof(struct snap_nodesec3) == 16, "snap_nodesec3 layout");

#endif
