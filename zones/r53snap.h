/* Route 53 routing-policy data in snapshots (private to zones/): the geo
 * database builder, and verification of the policy sections. */
#ifndef P53_R53SNAP_H
#define P53_R53SNAP_H

#include "err.h"
#include "snapfmt.h"

#include <stddef.h>

struct r53_geo {
	struct snap_geo4 *v4;
	size_t n4;
	struct snap_geo6 *v6;
	size_t n6;
	struct snap_geoloc *locs;
	size_t nlocs;
};

/* Reads "prefix,continent,country,subdivision,latitude,longitude" lines
 * ('#' comments, blank lines); prefixes must not overlap. */
int r53_geo_load_csv(const char *path, struct r53_geo *g, struct p53_err *err);
void r53_geo_free(struct r53_geo *g);

#endif
