/* In-memory view of a verified snapshot (private to zones/). */
#ifndef P53_SNAPSHOT_PVT_H
#define P53_SNAPSHOT_PVT_H

#include "zones/common/snapfmt.h"
#include "zones/answer/snapshot.h"

#include <stdbool.h>

struct p53_snapshot {
	const uint8_t *base;
	size_t size;
	bool mapped; /* munmap on free, else free */
	const struct snap_hdr *hdr;
	const struct snap_zone *zones;
	uint32_t nzones;
	const struct snap_node *nodes;
	uint32_t nnodes;
	const struct snap_rrset *rrsets;
	uint32_t nrrsets;
	uint32_t hslots; /* name index size (snapfmt.h: home slots, probing) */
	const struct snap_hash_ent *ht;
	size_t hlen; /* the hash section's bytes, header included */
	const uint8_t *names;
	size_t names_len;
	const uint8_t *rdata;
	size_t rdata_len;
	const struct snap_ans *ans;
	uint32_t nans;
	const uint8_t *blobs;
	size_t blobs_len;
	/* Route 53 routing policies (snapfmt.h) */
	const struct snap_group *groups;
	uint32_t ngroups;
	const struct snap_member *members;
	uint32_t nmembers;
	const char *strings;
	size_t strings_len;
	const uint32_t *hchecks;
	uint32_t nhchecks;
	const struct snap_geo4 *geo4;
	uint32_t ngeo4;
	const struct snap_geo6 *geo6;
	uint32_t ngeo6;
	const struct snap_geoloc *geolocs;
	uint32_t ngeolocs;
	const struct snap_cidr *cidrs;
	uint32_t ncidrs;
	const struct snap_geo4 *lat4; /* latency table; loc = latrows index */
	uint32_t nlat4;
	const struct snap_geo6 *lat6;
	uint32_t nlat6;
	const struct snap_latrow *latrows;
	uint32_t nlatrows;
	const struct snap_latent *latents;
	uint32_t nlatents;
	/* DNSSEC (snapfmt.h); NULL / 0 when the snapshot has none */
	const struct snap_nodesec *nodesec;
	uint32_t nnodesec;
	const uint32_t *ansdo;
	uint32_t nansdo;
	const uint8_t *doblobs;
	size_t doblobs_len;
	/* NSEC3 (snapfmt.h); NULL / 0 when no zone has an NSEC3 chain */
	const struct snap_nsec3zone *n3zones;
	uint32_t nn3zones;
	const struct snap_nsec3 *n3;
	uint32_t nn3;
	const struct snap_nodesec3 *nodesec3;
	uint32_t nnodesec3;
	/* Route 53 traffic flow kept for export (SECT_R53TF): a JSON text
	 * with its NUL, or length 0 */
	const char *r53tf;
	size_t r53tf_len;
};

static inline const uint8_t *snap_node_name(const struct p53_snapshot *s, const struct snap_node *n)
{
	return s->names + n->name;
}

/* The name index slot a probe for hash starts at, and the one after i. */
static inline uint32_t snap_home(const struct p53_snapshot *s, uint32_t hash)
{
	return (uint32_t)(((uint64_t)hash * s->hslots) >> 32);
}

static inline uint32_t snap_next(const struct p53_snapshot *s, uint32_t i)
{
	return i + 1 == s->hslots ? 0 : i + 1;
}

/* Node index for a canonical name, or SNAP_NONE; NSEC3 owners
 * (NODE_NSEC3) are names that do not exist (RFC 5155 7.2.8). */
uint32_t snap_find(const struct p53_snapshot *s, const uint8_t *name, size_t len, uint32_t hash);

/* The entry of zone z's NSEC3 list (z has one: count > 0) whose hash is
 * the last at or before h, wrapping to the last entry: the NSEC3 that
 * covers h, or matches it (*exact). An index in s->n3. */
uint32_t snap_nsec3_cover(const struct p53_snapshot *s, const struct snap_nsec3zone *z,
			  const uint8_t h[20], bool *exact);

/* Sets up the views over an image without verifying checksums (the compiler
 * uses it on its own output before the blobs exist). */
int snap_map_views(struct p53_snapshot *s, struct p53_err *err);
/* The structural checks (snapverify.c): everything the engine follows
 * without checking at query time. 0, or P53_ECORRUPT with the reason. */
int snap_verify_structure(const struct p53_snapshot *s, struct p53_err *err);
/* The routing-policy sections' part of it (snapr53.c). */
int snap_verify_r53(const struct p53_snapshot *s, struct p53_err *err);
/* Views and structural checks over an image in memory, not copied and
 * without its checksums: the compiler checks its own output with it. */
int snap_verify_image(const uint8_t *image, size_t len, struct p53_err *err);
/* True when NAMES holds a well-formed wire name of len bytes at off. */
bool snap_name_ok(const struct p53_snapshot *s, uint32_t off, size_t len);
/* Computes section checksums and the content hash into the image. */
void snap_seal(uint8_t *image, size_t len);

#endif
