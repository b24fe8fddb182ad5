/* Route 53 routing-policy selection for the answer engine (private to
 * zones/). Runs per query: no allocation, no lock, no system call; every
 * loop is bounded by counts verified when the snapshot was loaded. */
#ifndef P53_POLICY_H
#define P53_POLICY_H

#include "zones/answer/answer.h"
#include "zones/answer/snapshot_pvt.h"

#include <stdbool.h>
#include <stdint.h>

#define POLICY_OUT_MAX 8 /* multivalue answers: up to 8 records */
/* Links followed from a group, aliases and nested groups together; the
 * loader refuses deeper or looping graphs (snapr53.c), so on a loaded
 * snapshot the bound never cuts. */
#define POLICY_ALIAS_DEPTH 4
/* Members a group may have (the compiler allows 100); the loader refuses more. */
#define POLICY_MEMBERS_MAX 256

/* The client as routing sees it, and what the decision depended on. */
struct p53_sel {
	struct p53_ctx *ctx; /* RNG and health view */
	uint8_t family;	     /* 4 or 6; 0 = unknown (no location) */
	uint8_t src_plen;    /* leading bits of addr that are known */
	uint8_t addr[16];    /* host bits beyond src_plen are zero */
	uint8_t scope;	     /* out: ECS scope prefix length of the deciding data */
	bool dynamic;	     /* out: the answer depends on more than name and type */
	bool located;	     /* geo lookup done */
	const struct snap_geoloc *loc;
	uint8_t loc_plen;
};

/* Chooses the RRsets that answer for the policy group behind placeholder ph
 * (a snap_rrset with count 0). Returns how many were written to out (at most
 * POLICY_OUT_MAX); 0 means no record applies (NODATA). */
unsigned policy_select(const struct p53_snapshot *s, const struct snap_rrset *ph,
		       struct p53_sel *sel, const struct snap_rrset *out[POLICY_OUT_MAX]);

#endif
