/* The Route 53 sections of a loaded snapshot: the loader's structural checks
 * (every index the policy engine follows stays inside its table) and the
 * health-check ids the control plane binds checks to. Answer side: the loader
 * needs these, the compiler does not. */
#include "zones/answer/snapshot_pvt.h"

#include <string.h>

static bool str_ok(const struct p53_snapshot *s, uint32_t off)
{
	return off < s->strings_len; /* the section ends with a NUL (checked) */
}

static bool opt_str_ok(const struct p53_snapshot *s, uint32_t off)
{
	return off == SNAP_NONE || str_ok(s, off);
}

int snap_verify_r53(const struct p53_snapshot *s)
{
	if (s->strings_len && s->strings[s->strings_len - 1] != 0)
		return -1;
	for (uint32_t i = 0; i < s->nhchecks; i++)
		if (!str_ok(s, s->hchecks[i]))
			return -1;
	for (uint32_t i = 0; i < s->ngroups; i++) {
		const struct snap_group *g = &s->groups[i];
		if (g->member > s->nmembers || g->nmembers > s->nmembers - g->member ||
		    g->nmembers == 0 || g->policy > POL__MAX || g->node >= s->nnodes ||
		    !opt_str_ok(s, g->cidr_coll))
			return -1;
		/* Multivalue members are encoded directly: no aliases. */
		for (uint32_t k = 0; g->policy == POL_MULTIVALUE && k < g->nmembers; k++)
			if (s->members[g->member + k].rrset == SNAP_NONE)
				return -1;
	}
	for (uint32_t i = 0; i < s->nmembers; i++) {
		const struct snap_member *m = &s->members[i];
		/* A member RRset is a real set, never a placeholder: the engine
		 * encodes it directly. An alias names a node. */
		if ((m->rrset == SNAP_NONE) == (m->alias == SNAP_NONE))
			return -1;
		if (m->rrset != SNAP_NONE &&
		    (m->rrset >= s->nrrsets || s->rrsets[m->rrset].count == 0))
			return -1;
		if (m->alias != SNAP_NONE && m->alias >= s->nnodes)
			return -1;
		if (m->health != SNAP_NONE && m->health >= s->nhchecks)
			return -1;
		if (!opt_str_ok(s, m->setid) || !opt_str_ok(s, m->region) ||
		    !opt_str_ok(s, m->cidr_loc) || m->geo_level > GEO_SUBDIV)
			return -1;
	}
	for (uint32_t i = 0; i < s->ngeo4; i++)
		if (s->geo4[i].loc >= s->ngeolocs || s->geo4[i].lo > s->geo4[i].hi ||
		    (i && s->geo4[i].lo <= s->geo4[i - 1].hi))
			return -1;
	for (uint32_t i = 0; i < s->ngeo6; i++)
		if (s->geo6[i].loc >= s->ngeolocs ||
		    (i && memcmp(s->geo6[i].lo, s->geo6[i - 1].hi, 16) <= 0))
			return -1;
	/* Latency table: ranges like the geo database's, rows inside LATENT,
	 * regions inside STRINGS. */
	for (uint32_t i = 0; i < s->nlat4; i++)
		if (s->lat4[i].loc >= s->nlatrows || s->lat4[i].lo > s->lat4[i].hi ||
		    (i && s->lat4[i].lo <= s->lat4[i - 1].hi))
			return -1;
	for (uint32_t i = 0; i < s->nlat6; i++)
		if (s->lat6[i].loc >= s->nlatrows || memcmp(s->lat6[i].lo, s->lat6[i].hi, 16) > 0 ||
		    (i && memcmp(s->lat6[i].lo, s->lat6[i - 1].hi, 16) <= 0))
			return -1;
	for (uint32_t i = 0; i < s->nlatrows; i++)
		if (s->latrows[i].ent > s->nlatents ||
		    s->latrows[i].nent > s->nlatents - s->latrows[i].ent)
			return -1;
	for (uint32_t i = 0; i < s->nlatents; i++)
		if (!str_ok(s, s->latents[i].region))
			return -1;
	for (uint32_t i = 0; i < s->ncidrs; i++)
		if (!str_ok(s, s->cidrs[i].coll) || !str_ok(s, s->cidrs[i].loc) ||
		    (s->cidrs[i].family != 4 && s->cidrs[i].family != 6) || s->cidrs[i].plen > 128)
			return -1;
	return 0;
}

uint32_t p53_snapshot_nhealth(const struct p53_snapshot *s)
{
	return s->nhchecks;
}

const char *p53_snapshot_health_id(const struct p53_snapshot *s, uint32_t i)
{
	return i < s->nhchecks ? s->strings + s->hchecks[i] : NULL;
}
