/* The Route 53 sections of a loaded snapshot: the loader's structural checks
 * (every index the policy engine follows stays inside its table) and the
 * health-check ids the control plane binds checks to. Answer side: the loader
 * needs these, the compiler does not. */
#include "zones/answer/snapshot_pvt.h"

#include "zones/answer/policy.h"

#include <stdlib.h>
#include <string.h>

static bool str_ok(const struct p53_snapshot *s, uint32_t off)
{
	return off < s->strings_len; /* the section ends with a NUL (checked) */
}

static bool opt_str_ok(const struct p53_snapshot *s, uint32_t off)
{
	return off == SNAP_NONE || str_ok(s, off);
}

static int bad(struct p53_err *err, const char *what, uint32_t i, const char *why)
{
	return p53_err_set(err, P53_ECORRUPT, "snapshot %s %u: %s", what, i, why);
}

/* The placeholder or RRset of type at node, as policy.c's type_set finds it. */
static const struct snap_rrset *node_set(const struct p53_snapshot *s, uint32_t node, uint16_t type)
{
	const struct snap_node *n = &s->nodes[node];
	for (uint16_t i = 0; i < n->nrrsets; i++)
		if (s->rrsets[n->rrset + i].type == type)
			return &s->rrsets[n->rrset + i];
	return NULL;
}

static const char *member_check(const struct p53_snapshot *s, const struct snap_group *g,
				const struct snap_member *m)
{
	/* A member RRset is a real set of the group's type, never a
	 * placeholder: the engine encodes it directly, and a CNAME group's
	 * pick is read as a CNAME. An alias names a node, and only an alias
	 * is flagged one. */
	if ((m->rrset == SNAP_NONE) == (m->alias == SNAP_NONE))
		return "neither an RRset nor an alias, or both";
	if (((m->flags & (MEM_ALIAS | MEM_GROUP)) != 0) != (m->alias != SNAP_NONE) ||
	    ((m->flags & MEM_ALIAS) && (m->flags & MEM_GROUP)))
		return "alias flag disagrees with its alias target";
	if ((m->flags & MEM_EVAL_TARGET) && !(m->flags & MEM_ALIAS))
		return "EvaluateTargetHealth on a member that is not an alias";
	if (m->flags & ~(MEM_PRIMARY | MEM_SECONDARY | MEM_EVAL_TARGET | MEM_MV_TRUE | MEM_ALIAS |
			 MEM_COORDS | MEM_LOCALZONE | MEM_GROUP) ||
	    (m->flags & MEM_PRIMARY && m->flags & MEM_SECONDARY))
		return "unknown or contradictory flags";
	/* A nested group is reached through this member only: nested, of
	 * the same type and owner, and no AWS-resource alias besides. */
	if (m->flags & MEM_GROUP) {
		if (m->alias >= s->ngroups)
			return "nested group out of range";
		const struct snap_group *t = &s->groups[m->alias];
		if (!(t->flags & GRP_NESTED) || t->type != g->type || t->node != g->node ||
		    m->ext_alias)
			return "nested group not nested, or of another type or owner";
	}
	if (m->rrset != SNAP_NONE && (m->rrset >= s->nrrsets || s->rrsets[m->rrset].count == 0 ||
				      s->rrsets[m->rrset].type != g->type))
		return "RRset out of range, a placeholder, or of another type";
	if ((m->flags & MEM_ALIAS) && m->alias >= s->nnodes)
		return "alias target out of range";
	if (m->health != SNAP_NONE && m->health >= s->nhchecks)
		return "health check out of range";
	if (!opt_str_ok(s, m->setid) || !opt_str_ok(s, m->region) || !opt_str_ok(s, m->cidr_loc) ||
	    (m->ext_alias && !str_ok(s, m->ext_alias - 1)))
		return "string offset outside STRINGS";
	if (m->ext_alias && m->rrset == SNAP_NONE)
		return "an AWS-resource alias without its mapped records";
	if (m->geo_level > GEO_SUBDIV || m->bias < -99 || m->bias > 99)
		return "geolocation level or bias out of range";
	return NULL;
}

/* The alias graph: a group reaches the group behind each alias member's
 * target, and the nested group of each MEM_GROUP member. policy.c follows it at most
 * POLICY_ALIAS_DEPTH links deep and, for health, member by member; so the graph must be acyclic, no
 * deeper than that, and the members one query may visit bounded. depth[] and cost[] memoise per
 * group (0 = not yet seen, UINT32_MAX = on the path). */
#define POLICY_VISIT_MAX 65536

static int walk_group(const struct p53_snapshot *s, uint32_t gi, unsigned level, uint32_t *depth,
		      uint32_t *cost, struct p53_err *err)
{
	if (depth[gi] == UINT32_MAX)
		return bad(err, "routing-policy group", gi,
			   "alias chain loops (through aliases or nested rules)");
	if (depth[gi])
		return 0;
	if (level > POLICY_ALIAS_DEPTH)
		return bad(err, "routing-policy group", gi,
			   "alias chain deeper than 4 links (aliases and nested rules together)");
	depth[gi] = UINT32_MAX;
	const struct snap_group *g = &s->groups[gi];
	uint32_t d = 1, c = 0;
	for (uint16_t k = 0; k < g->nmembers; k++) {
		const struct snap_member *m = &s->members[g->member + k];
		c++;
		if (m->alias == SNAP_NONE)
			continue;
		uint32_t next = m->alias; /* a nested group, or the group behind an alias */
		if (!(m->flags & MEM_GROUP)) {
			const struct snap_rrset *t = node_set(s, m->alias, g->type);
			if (t == NULL || t->count)
				continue;
			next = t->rdata;
		}
		int rc = walk_group(s, next, level + 1, depth, cost, err);
		if (rc)
			return rc;
		d = depth[next] + 1 > d ? depth[next] + 1 : d;
		c += cost[next];
		if (c > POLICY_VISIT_MAX)
			break;
	}
	if (d > POLICY_ALIAS_DEPTH + 1)
		return bad(err, "routing-policy group", gi,
			   "alias chain deeper than 4 links (aliases and nested rules together)");
	if (c > POLICY_VISIT_MAX)
		return bad(err, "routing-policy group", gi, "aliases fan out to too many members");
	depth[gi] = d;
	cost[gi] = c;
	return 0;
}

static int verify_graph(const struct p53_snapshot *s, struct p53_err *err)
{
	uint32_t *depth = calloc(s->ngroups ? s->ngroups : 1, sizeof(uint32_t));
	uint32_t *cost = calloc(s->ngroups ? s->ngroups : 1, sizeof(uint32_t));
	int rc = 0;
	if (depth == NULL || cost == NULL)
		rc = p53_err_set(err, P53_ENOMEM, "out of memory");
	for (uint32_t i = 0; rc == 0 && i < s->ngroups; i++)
		rc = walk_group(s, i, 0, depth, cost, err);
	free(depth);
	free(cost);
	return rc;
}

/* Sorted, disjoint, inside their own bounds, pointing into their table. */
static bool ranges4_ok(const struct snap_geo4 *r, uint32_t n, uint32_t nloc)
{
	for (uint32_t i = 0; i < n; i++)
		if (r[i].loc >= nloc || r[i].lo > r[i].hi || r[i].plen > 32 ||
		    (i && r[i].lo <= r[i - 1].hi))
			return false;
	return true;
}

static bool ranges6_ok(const struct snap_geo6 *r, uint32_t n, uint32_t nloc)
{
	for (uint32_t i = 0; i < n; i++)
		if (r[i].loc >= nloc || memcmp(r[i].lo, r[i].hi, 16) > 0 || r[i].plen > 128 ||
		    (i && memcmp(r[i].lo, r[i - 1].hi, 16) <= 0))
			return false;
	return true;
}

int snap_verify_r53(const struct p53_snapshot *s, struct p53_err *err)
{
	/* Only export reads the traffic flow, as text: one NUL, at the end. */
	if (s->r53tf_len && memchr(s->r53tf, 0, s->r53tf_len) != s->r53tf + s->r53tf_len - 1)
		return p53_err_set(err, P53_ECORRUPT,
				   "snapshot traffic-flow section is not one NUL-terminated text");
	if (s->strings_len && s->strings[s->strings_len - 1] != 0)
		return p53_err_set(err, P53_ECORRUPT, "snapshot strings do not end with NUL");
	for (uint32_t i = 0; i < s->nhchecks; i++)
		if (!str_ok(s, s->hchecks[i]))
			return bad(err, "health check", i, "id outside STRINGS");
	for (uint32_t i = 0; i < s->ngroups; i++) {
		const struct snap_group *g = &s->groups[i];
		if (g->member > s->nmembers || g->nmembers > s->nmembers - g->member ||
		    g->nmembers == 0 || g->nmembers > POLICY_MEMBERS_MAX)
			return bad(err, "routing-policy group", i, "member range out of bounds");
		if (g->policy > POL__MAX || (g->policy == POL_SIMPLE && g->nmembers != 1))
			return bad(err, "routing-policy group", i, "unknown policy");
		if (g->node >= s->nnodes || !opt_str_ok(s, g->cidr_coll))
			return bad(err, "routing-policy group", i,
				   "owner or CIDR collection out of range");
		if (g->flags & ~GRP_NESTED)
			return bad(err, "routing-policy group", i, "unknown flags");
		const struct snap_rrset *ph = node_set(s, g->node, g->type);
		if (!(g->flags & GRP_NESTED) && (ph == NULL || ph->count != 0 || ph->rdata != i))
			return bad(err, "routing-policy group", i, "its owner does not hold it");
		if ((g->flags & GRP_NESTED) && ph != NULL && ph->count == 0 && ph->rdata == i)
			return bad(err, "routing-policy group", i, "a nested group held by a node");
		for (uint16_t k = 0; k < g->nmembers; k++) {
			const struct snap_member *m = &s->members[g->member + k];
			const char *why = member_check(s, g, m);
			/* Multivalue members are encoded directly: no aliases. */
			if (why == NULL && g->policy == POL_MULTIVALUE && m->rrset == SNAP_NONE)
				why = "an alias in a multivalue group";
			if (why)
				return bad(err, "routing-policy member", g->member + k, why);
		}
	}
	int rc = verify_graph(s, err);
	if (rc)
		return rc;
	if (!ranges4_ok(s->geo4, s->ngeo4, s->ngeolocs) ||
	    !ranges6_ok(s->geo6, s->ngeo6, s->ngeolocs))
		return p53_err_set(err, P53_ECORRUPT, "snapshot geo ranges malformed");
	/* Latency table: ranges like the geo database's, rows inside LATENT,
	 * regions inside STRINGS. */
	if (!ranges4_ok(s->lat4, s->nlat4, s->nlatrows) ||
	    !ranges6_ok(s->lat6, s->nlat6, s->nlatrows))
		return p53_err_set(err, P53_ECORRUPT, "snapshot latency ranges malformed");
	for (uint32_t i = 0; i < s->nlatrows; i++)
		if (s->latrows[i].ent > s->nlatents ||
		    s->latrows[i].nent > s->nlatents - s->latrows[i].ent)
			return bad(err, "latency row", i, "entries outside LATENT");
	for (uint32_t i = 0; i < s->nlatents; i++)
		if (!str_ok(s, s->latents[i].region))
			return bad(err, "latency entry", i, "region outside STRINGS");
	for (uint32_t i = 0; i < s->ncidrs; i++)
		if (!str_ok(s, s->cidrs[i].coll) || !str_ok(s, s->cidrs[i].loc) ||
		    (s->cidrs[i].family != 4 && s->cidrs[i].family != 6) ||
		    s->cidrs[i].plen > (s->cidrs[i].family == 4 ? 32 : 128))
			return bad(err, "CIDR block", i, "malformed");
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
