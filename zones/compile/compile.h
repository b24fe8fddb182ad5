/* Zone compiler: zone files in, one snapshot out.
 *
 * Offline and thorough: every record is checked against the rules in
 * docs/zone-files.md, and the first violation is reported as "file:line:
 * reason" with nothing written. The output is laid out once, in place: in a
 * mapping of a temporary file that is synced and renamed into place (so a
 * reader never sees half a file), or in memory.
 */
#ifndef P53_COMPILE_H
#define P53_COMPILE_H

#include "zones/answer/snapshot.h"
#include "zones/common/err.h"
#include "zones/compile/zparse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct p53_zone_input {
	const char *origin; /* presentation form, e.g. "example.com." */
	const char *path;   /* master file, or Route 53 JSON; "a,b,c" reads several in
			     * order (change batches apply to what came before) */
};

/* Where a compile is, for a progress display. */
struct p53_compile_progress {
	const char *phase;    /* "reading", "checking", "laying out", "pre-rendering" */
	uint64_t records;     /* records read so far */
	uint64_t bytes_done;  /* input bytes read so far (reading phase) */
	uint64_t bytes_total; /* size of all input files */
};

#define P53_COMPILE_PHASES 12

struct p53_compile_phase {
	const char *name;
	double wall, cpu; /* seconds; CPU of the whole process, all threads */
	double sys;	  /* of cpu, in the kernel (page faults, mostly) */
	double main;	  /* CPU of the calling thread: with two idle cores the wall
			   * time is near this when the phase runs in parallel */
};

/* Filled in by a successful compile. */
struct p53_compile_stats {
	size_t zones;
	uint64_t records;     /* records in the snapshot, after merging duplicates */
	uint64_t bytes;	      /* snapshot size */
	unsigned split_files; /* zone files read in parts on several threads */
	/* Where the time went (port53 compile --timings), in the order the
	 * phases ran. */
	unsigned nphases;
	struct p53_compile_phase phase[P53_COMPILE_PHASES];
};

struct p53_compile_opts {
	uint64_t serial;	   /* snapshot serial; 0 = current unix time */
	uint32_t default_ttl;	   /* before any $TTL; default 3600 */
	bool no_prerender;	   /* skip pre-rendered answers (tests compare both) */
	const char *geo_csv;	   /* geo database: prefix,continent,country,subdivision,lat,lon */
	const char *latency_csv;   /* latency table: prefix,region,ms */
	const char *regions_csv;   /* region coordinates: region,lat,lon (override built-ins) */
	const char *health_checks; /* Route 53 health checks every HealthCheckId must name */
	const char *alias_map;	   /* records for aliases to AWS resources (AliasMappings) */
	/* DNSSEC (docs/dnssec.md): zones with keys in this directory are
	 * signed; sig_validity in seconds (0: 14 days); sig_now fixes the
	 * signing time (0: now). */
	const char *dnssec_keys;
	uint32_t sig_validity;
	uint64_t sig_now;
	unsigned sign_threads; /* signing threads; 0 = one per online CPU */
	/* Zones (text names) signed without an NSEC chain: their denials are
	 * compact answers made per query by the server (RFC 9824). */
	const char *const *compact_zones;
	size_t ncompact;
#define P53_COMPACT_MAX 64
	/* Zones (text names) signed with an NSEC3 chain instead of NSEC
	 * (RFC 5155), and those of them with opt-out; the chain's
	 * iterations (0 by default, RFC 9276) and salt (hex; NULL or "-":
	 * none). */
	const char *const *nsec3_zones;
	size_t nnsec3;
	const char *const *optout_zones;
	size_t noptout;
	uint32_t nsec3_iterations;
	const char *nsec3_salt;
	enum zparse_include include; /* $INCLUDE policy for zone text from others */
	const char *include_dir;     /* with ZPARSE_INCLUDE_CONFINE */
	uint32_t max_generate;	     /* zparse_opts.max_generate: 0 default, FORBID */
	/* Called now and then (every 64K records, and at each phase); NULL
	 * for none. */
	void (*progress)(const struct p53_compile_progress *p, void *arg);
	void *progress_arg;
	struct p53_compile_stats *stats; /* NULL when not wanted */
	/* Threads the work is shared out to: 0 means one per online CPU, at
	 * most P53_COMPILE_THREADS_MAX. The snapshot's bytes do not depend on
	 * it (the work is cut into the same parts; only how many run at once
	 * changes). The header's creation time is SOURCE_DATE_EPOCH when that
	 * is set in the environment, so that two compiles can be compared. */
	unsigned threads;
#define P53_COMPILE_THREADS_MAX 2
};

/* Compiles zones into a malloc'd snapshot image (*out, *outlen). */
int p53_compile(const struct p53_zone_input *zones, size_t nzones,
		const struct p53_compile_opts *opts, uint8_t **out, size_t *outlen,
		struct p53_err *err);
/* Compiles and writes atomically to path. */
int p53_compile_file(const struct p53_zone_input *zones, size_t nzones,
		     const struct p53_compile_opts *opts, const char *path, struct p53_err *err);

/* Writes every zone of snap as master-file text, one zone after another,
 * each starting with its $ORIGIN line and its SOA. Compiling the output
 * again gives a snapshot with the same records. */
int p53_dump(const struct p53_snapshot *snap, FILE *out);
/* Writes one zone (origin in presentation form); P53_EINVAL if not served. */
int p53_dump_zone(const struct p53_snapshot *snap, const char *origin, FILE *out);

#endif
