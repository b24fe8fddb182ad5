/* Route 53 routing-policy data in snapshots (private to zones/): the geo
 * database builder, and verification of the policy sections. */
#ifndef P53_R53SNAP_H
#define P53_R53SNAP_H

#include "zones/common/err.h"
#include "zones/common/snapfmt.h"

#include <stddef.h>
#include <stdint.h>

struct r53_geo {
	struct snap_geo4 *v4;
	size_t n4;
	struct snap_geo6 *v6;
	size_t n6;
	struct snap_geoloc *locs;
	size_t nlocs;
	size_t cap4, cap6, capl; /* allocated entries */
};

/* Reads "prefix,continent,country,subdivision,latitude,longitude" lines
 * ('#' comments, blank lines); prefixes must not overlap. */
int r53_geo_load_csv(const char *path, struct r53_geo *g, struct p53_err *err);
/* Reads every network of a MaxMind DB (.mmdb) with its continent.code,
 * country.iso_code, subdivisions[0].iso_code, location.latitude/longitude:
 * the same arrays the CSV gives for the same networks (zones/compile/r53mmdb.c). */
int r53_geo_load_mmdb(const char *path, struct r53_geo *g, struct p53_err *err);
/* --geo FILE: MaxMind DB when FILE ends in .mmdb or carries the MaxMind
 * metadata marker, CSV otherwise. */
int r53_geo_load(const char *path, struct r53_geo *g, struct p53_err *err);
/* The loaders' common steps: add one network (family 4 or 6, fields
 * validated; -1 when out of memory), then sort and refuse overlaps. */
int r53_geo_add(struct r53_geo *g, int fam, const uint8_t addr[16], unsigned plen, const char *cont,
		const char *ctry, const char *sub, double lat, double lon);
int r53_geo_finish(struct r53_geo *g, const char *path, struct p53_err *err);
void r53_geo_free(struct r53_geo *g);

/* Region coordinates for this compilation: "region,latitude,longitude"
 * lines replace or add to the built-in table until r53_regions_reset().
 * The compiler is single-threaded; the table is process-wide. */
int r53_regions_load_csv(const char *path, struct p53_err *err);
void r53_regions_reset(void);

/* A latency table: "prefix,region,ms" lines. Each distinct prefix is a row
 * of (region, latency) entries; prefixes must not overlap. Entries name
 * their region as text: the compiler turns it into a STRINGS offset. */
#define R53_REGION_MAX 48
struct r53_lat_ent {
	char region[R53_REGION_MAX];
	uint32_t us;
};

struct r53_lat {
	struct snap_geo4 *v4; /* loc = row index */
	size_t n4;
	struct snap_geo6 *v6;
	size_t n6;
	struct snap_latrow *rows;
	size_t nrows;
	struct r53_lat_ent *ents;
	size_t nents;
};

int r53_lat_load_csv(const char *path, struct r53_lat *t, struct p53_err *err);
void r53_lat_free(struct r53_lat *t);

#endif
