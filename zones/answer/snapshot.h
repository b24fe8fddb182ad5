/* Compiled zone snapshot: loading, verification and read-only access.
 *
 * A snapshot is one file produced by the compiler (compile.h) and mmap'd
 * read-only by every front end. Everything inside is an offset, so the
 * mapping is used in place. The format is documented in docs/snapshot-format.md.
 */
#ifndef P53_SNAPSHOT_H
#define P53_SNAPSHOT_H

#include "zones/common/err.h"

#include <stddef.h>
#include <stdint.h>

struct p53_snapshot;

/* Maps and verifies path: magic, version, section bounds, per-section
 * checksums and the content hash. Returns NULL with a reason in err; a
 * snapshot that fails any check is never returned. */
struct p53_snapshot *p53_snapshot_load(const char *path, struct p53_err *err);
/* Same for bytes in memory (copied; used by tests and the compiler). */
struct p53_snapshot *p53_snapshot_from_mem(const void *data, size_t len, struct p53_err *err);
void p53_snapshot_free(struct p53_snapshot *snap);

struct p53_snapshot_info {
	uint64_t serial;  /* snapshot serial chosen at compile time */
	uint64_t created; /* unix seconds */
	uint32_t version; /* format version */
	uint32_t zones;
	uint32_t nodes;
	uint32_t rrsets;
	uint64_t size;	  /* file size in bytes */
	uint8_t hash[32]; /* SHA-256 content hash */
};
void p53_snapshot_info(const struct p53_snapshot *snap, struct p53_snapshot_info *info);
/* Apex of zone i (canonical wire form) and its SOA serial. */
const uint8_t *p53_snapshot_zone(const struct p53_snapshot *snap, uint32_t i, uint32_t *soa_serial);

/* The signatures of zone i (its RRSIG records, compile-time or pre-signed):
 * how many, the earliest expiration and the latest inception among them,
 * as Unix times. RRSIG times are 32-bit serial numbers (RFC 4034 3.1.5),
 * read as the instant nearest to now. A scan of the zone's records, for
 * the control side once per load, never per query. */
struct p53_zone_sigs {
	uint64_t count;
	int64_t earliest_expiry;
	int64_t latest_inception;
};
void p53_snapshot_zone_sigs(const struct p53_snapshot *snap, uint32_t i, int64_t now,
			    struct p53_zone_sigs *out);
/* Route 53 health checks the snapshot refers to: their number, and the
 * HealthCheckId of check i (NULL past the end). */
uint32_t p53_snapshot_nhealth(const struct p53_snapshot *snap);
const char *p53_snapshot_health_id(const struct p53_snapshot *snap, uint32_t i);

#endif
