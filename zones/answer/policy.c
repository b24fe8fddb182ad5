/* Route 53 routing policies at query time (route53-semantics.md section 2).
 *
 * The general loop: pick a record by the policy; if it is unhealthy, pick
 * again by the same criteria among the rest; if no record of the group is
 * healthy, all count as healthy. Aliases resolve to their target's RRset
 * (which may itself be a group), and a member may be a nested group (a
 * traffic-flow rule inside a rule): at most ALIAS_DEPTH links deep, counting
 * both.
 */
#include "zones/answer/policy.h"

#include <math.h>
#include <string.h>

#define ALIAS_DEPTH POLICY_ALIAS_DEPTH
#define SCAN_MAX    POLICY_MEMBERS_MAX

/* xorshift64*: one multiply per draw, state per core. */
static uint64_t rng_next(struct p53_ctx *c)
{
	uint64_t x = c->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	c->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n): the high 32 bits scaled by n (Lemire); the bias is below
 * n / 2^32, far under what a chi-square test over millions of draws sees. */
static uint32_t rng_below(struct p53_ctx *c, uint32_t n)
{
	return (uint32_t)(((rng_next(c) >> 32) * (uint64_t)n) >> 32);
}

static const struct snap_rrset *type_set(const struct p53_snapshot *s, uint32_t node, uint16_t type)
{
	const struct snap_node *n = &s->nodes[node];
	const struct snap_rrset *r = &s->rrsets[n->rrset];
	for (uint16_t i = 0; i < n->nrrsets; i++)
		if (r[i].type == type)
			return &r[i];
	return NULL;
}

static bool check_ok(struct p53_sel *sel, uint32_t check)
{
	if (check == SNAP_NONE)
		return true;
	sel->dynamic = true;
	const struct p53_ctx *c = sel->ctx;
	if (c == NULL || c->health == NULL || check >= c->nhealth)
		return true;
	/* The checker thread stores bytes atomically; a relaxed load sees the
	 * latest flip without ordering anything else. */
	return __atomic_load_n(&c->health[check], __ATOMIC_RELAXED) != 0;
}

static bool group_any_healthy(const struct p53_snapshot *s, const struct snap_group *g,
			      struct p53_sel *sel, unsigned depth);

/* A member's own health: its check, and for an alias that evaluates target
 * health, at least one healthy record behind the target. */
static bool member_ok(const struct p53_snapshot *s, const struct snap_group *g,
		      const struct snap_member *m, struct p53_sel *sel, unsigned depth)
{
	if (!check_ok(sel, m->health))
		return false;
	/* A nested rule is healthy when any of its members is, as Route 53
	 * evaluates a rule inside a traffic policy. */
	if (m->flags & MEM_GROUP)
		return depth < ALIAS_DEPTH &&
		       group_any_healthy(s, &s->groups[m->alias], sel, depth + 1);
	if ((m->flags & MEM_ALIAS) && (m->flags & MEM_EVAL_TARGET)) {
		const struct snap_rrset *t = type_set(s, m->alias, g->type);
		if (t == NULL)
			return false;
		if (t->count == 0)
			return depth < ALIAS_DEPTH &&
			       group_any_healthy(s, &s->groups[t->rdata], sel, depth + 1);
	}
	return true;
}

static bool group_any_healthy(const struct p53_snapshot *s, const struct snap_group *g,
			      struct p53_sel *sel, unsigned depth)
{
	for (uint16_t i = 0; i < g->nmembers && i < SCAN_MAX; i++)
		if (member_ok(s, g, &s->members[g->member + i], sel, depth))
			return true;
	return false;
}

/* ---- client location -------------------------------------------------- */

static const struct snap_geoloc *locate(const struct p53_snapshot *s, struct p53_sel *sel)
{
	if (sel->located)
		return sel->loc;
	sel->located = true;
	sel->loc = NULL;
	if (sel->family == 4 && s->ngeo4) {
		uint32_t v = (uint32_t)sel->addr[0] << 24 | sel->addr[1] << 16 | sel->addr[2] << 8 |
			     sel->addr[3];
		uint32_t lo = 0, hi = s->ngeo4; /* first range with lo > v */
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (s->geo4[mid].lo <= v)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo > 0 && v <= s->geo4[lo - 1].hi) {
			sel->loc = &s->geolocs[s->geo4[lo - 1].loc];
			sel->loc_plen = s->geo4[lo - 1].plen;
		}
	} else if (sel->family == 6 && s->ngeo6) {
		uint32_t lo = 0, hi = s->ngeo6;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (memcmp(s->geo6[mid].lo, sel->addr, 16) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo > 0 && memcmp(sel->addr, s->geo6[lo - 1].hi, 16) <= 0) {
			sel->loc = &s->geolocs[s->geo6[lo - 1].loc];
			sel->loc_plen = s->geo6[lo - 1].plen;
		}
	}
	return sel->loc;
}

/* The scope of a location-based answer: the geo range that decided, or the
 * client's own prefix when nothing matched (the answer holds for that much). */
static void scope_geo(struct p53_sel *sel)
{
	uint8_t sc = sel->loc ? sel->loc_plen : sel->src_plen;
	if (sc > sel->scope)
		sel->scope = sc;
}

/* ---- the policies ------------------------------------------------------ */

static unsigned pick_weighted(const struct p53_snapshot *s, const struct snap_group *g,
			      struct p53_sel *sel, unsigned depth)
{
	uint32_t sum_h = 0, zero_h = 0, sum_all = 0;
	uint16_t n = g->nmembers < SCAN_MAX ? g->nmembers : SCAN_MAX;
	bool ok[SCAN_MAX];
	for (uint16_t i = 0; i < n; i++) {
		const struct snap_member *m = &s->members[g->member + i];
		ok[i] = member_ok(s, g, m, sel, depth);
		sum_all += m->weight;
		if (ok[i]) {
			sum_h += m->weight;
			zero_h += m->weight == 0;
		}
	}
	/* Non-zero weights first; zero weights only when every non-zero one
	 * is unhealthy (or all weights are zero); nothing healthy: all count. */
	bool use_all = sum_h == 0 && zero_h == 0;
	uint32_t total = use_all ? sum_all : sum_h;
	if (total == 0) {
		uint32_t cnt = use_all ? n : zero_h, k = rng_below(sel->ctx, cnt);
		for (uint16_t i = 0; i < n; i++)
			if (use_all || (ok[i] && s->members[g->member + i].weight == 0)) {
				if (k == 0)
					return i;
				k--;
			}
		return 0;
	}
	uint32_t r = rng_below(sel->ctx, total);
	for (uint16_t i = 0; i < n; i++) {
		uint16_t w = s->members[g->member + i].weight;
		if (!use_all && !ok[i])
			continue;
		if (r < w)
			return i;
		r -= w;
	}
	return 0;
}

static unsigned pick_failover(const struct p53_snapshot *s, const struct snap_group *g,
			      struct p53_sel *sel, unsigned depth)
{
	int prim = -1, sec = -1;
	for (uint16_t i = 0; i < g->nmembers && i < SCAN_MAX; i++) {
		uint8_t f = s->members[g->member + i].flags;
		if (f & MEM_PRIMARY)
			prim = i;
		else if (f & MEM_SECONDARY)
			sec = i;
	}
	if (prim >= 0 && member_ok(s, g, &s->members[g->member + prim], sel, depth))
		return (unsigned)prim;
	if (sec >= 0 && member_ok(s, g, &s->members[g->member + sec], sel, depth))
		return (unsigned)sec;
	return prim >= 0 ? (unsigned)prim : (unsigned)(sec >= 0 ? sec : 0); /* both down */
}

static bool code_eq(const char *a, const char *b, size_t n)
{
	return memcmp(a, b, n) == 0;
}

/* Most specific matching region first: subdivision, country, continent, "*".
 * Returns the member, or -1 for no answer. */
static int pick_geo(const struct p53_snapshot *s, const struct snap_group *g, struct p53_sel *sel,
		    unsigned depth)
{
	const struct snap_geoloc *L = locate(s, sel);
	scope_geo(sel);
	int match[4] = {-1, -1, -1, -1}; /* by GEO_* level */
	for (uint16_t i = 0; i < g->nmembers && i < SCAN_MAX; i++) {
		const struct snap_member *m = &s->members[g->member + i];
		bool hit = false;
		switch (m->geo_level) {
		case GEO_DEFAULT:
			hit = true;
			break;
		case GEO_CONTINENT:
			hit = L && code_eq(m->continent, L->continent, 2);
			break;
		case GEO_COUNTRY:
			hit = L && code_eq(m->country, L->country, 2);
			break;
		case GEO_SUBDIV:
			hit = L && code_eq(m->country, L->country, 2) &&
			      code_eq(m->subdiv, L->subdiv, 4);
			break;
		}
		if (hit && match[m->geo_level] < 0)
			match[m->geo_level] = i;
	}
	int first = -1;
	for (int lv = GEO_SUBDIV; lv >= GEO_DEFAULT; lv--) {
		if (match[lv] < 0)
			continue;
		if (first < 0)
			first = match[lv];
		if (member_ok(s, g, &s->members[g->member + match[lv]], sel, depth))
			return match[lv];
	}
	/* No healthy match: if nothing in the group is healthy, all count as
	 * healthy and the most specific match answers; else no answer. */
	if (first >= 0 && !group_any_healthy(s, g, sel, depth))
		return first;
	return -1;
}

static double arc(float x1, float y1, float z1, float x2, float y2, float z2)
{
	double dx = x1 - x2, dy = y1 - y2, dz = z1 - z2;
	double chord = sqrt(dx * dx + dy * dy + dz * dz);
	return 2 * asin(chord > 2 ? 1 : chord / 2);
}

/* The lowest-cost member seen so far, and the lowest-cost healthy one:
 * nothing healthy falls back to the former. closest_offer records i as a
 * candidate and says whether it would beat the healthy best, so that the
 * caller checks health only then. */
struct closest {
	int best, any;
	double bd, bd_any;
};

static bool closest_offer(struct closest *c, int i, double d)
{
	if (c->any < 0 || d < c->bd_any) {
		c->any = i;
		c->bd_any = d;
	}
	return c->best < 0 || d < c->bd;
}

static void closest_take(struct closest *c, int i, double d)
{
	c->best = i;
	c->bd = d;
}

static unsigned closest_pick(const struct closest *c)
{
	return (unsigned)(c->best >= 0 ? c->best : c->any < 0 ? 0 : c->any);
}

/* Latency (by distance to the region) and geoproximity (biased distance):
 * the nearest healthy member; nothing healthy: the nearest. */
static unsigned pick_nearest(const struct p53_snapshot *s, const struct snap_group *g,
			     struct p53_sel *sel, unsigned depth, bool biased)
{
	const struct snap_geoloc *L = locate(s, sel);
	scope_geo(sel);
	struct closest cl = {-1, -1, 0, 0};
	for (uint16_t i = 0; i < g->nmembers && i < SCAN_MAX; i++) {
		const struct snap_member *m = &s->members[g->member + i];
		double d = L ? arc(L->x, L->y, L->z, m->x, m->y, m->z) : 0;
		if (biased && m->bias > 0)
			d *= 1 - m->bias / 100.0;
		else if (biased && m->bias < 0)
			d /= 1 + m->bias / 100.0;
		if (closest_offer(&cl, i, d) && member_ok(s, g, m, sel, depth))
			closest_take(&cl, i, d);
	}
	return closest_pick(&cl);
}

/* The latency table's row for the client's address (one binary search, the
 * ranges being disjoint), or NULL; *plen is its prefix length. */
static const struct snap_latrow *lat_row(const struct p53_snapshot *s, const struct p53_sel *sel,
					 uint8_t *plen)
{
	uint32_t lo = 0, hi, row;
	if (sel->family == 4 && s->nlat4) {
		uint32_t v = (uint32_t)sel->addr[0] << 24 | sel->addr[1] << 16 | sel->addr[2] << 8 |
			     sel->addr[3];
		for (hi = s->nlat4; lo < hi;) { /* first range with lo > v */
			uint32_t mid = lo + (hi - lo) / 2;
			if (s->lat4[mid].lo <= v)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == 0 || v > s->lat4[lo - 1].hi)
			return NULL;
		row = s->lat4[lo - 1].loc;
		*plen = s->lat4[lo - 1].plen;
	} else if (sel->family == 6 && s->nlat6) {
		for (hi = s->nlat6; lo < hi;) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (memcmp(s->lat6[mid].lo, sel->addr, 16) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == 0 || memcmp(sel->addr, s->lat6[lo - 1].hi, 16) > 0)
			return NULL;
		row = s->lat6[lo - 1].loc;
		*plen = s->lat6[lo - 1].plen;
	} else {
		return NULL;
	}
	return &s->latrows[row];
}

/* Latency with a table entry for the client's prefix: the lowest measured
 * latency among the members' regions; a member whose region was not
 * measured ranks after every measured one, by distance. Health fallback as
 * in pick_nearest. Without an entry: distance alone. */
static unsigned pick_latency(const struct p53_snapshot *s, const struct snap_group *g,
			     struct p53_sel *sel, unsigned depth)
{
	uint8_t plen = 0;
	const struct snap_latrow *row = lat_row(s, sel, &plen);
	if (row == NULL)
		return pick_nearest(s, g, sel, depth, false);
	struct closest cl = {-1, -1, 0, 0};
	for (uint16_t i = 0; i < g->nmembers && i < SCAN_MAX; i++) {
		const struct snap_member *m = &s->members[g->member + i];
		double d = -1;
		for (uint32_t k = 0; k < row->nent && k < SCAN_MAX; k++)
			if (s->latents[row->ent + k].region == m->region)
				d = s->latents[row->ent + k].us;
		if (d < 0) {
			/* Above any measured latency (at most 4e9 us). */
			const struct snap_geoloc *L = locate(s, sel);
			d = 1e12 + (L ? arc(L->x, L->y, L->z, m->x, m->y, m->z) : 0);
		}
		if (closest_offer(&cl, i, d) && member_ok(s, g, m, sel, depth))
			closest_take(&cl, i, d);
	}
	/* The table's prefix decided; distance too if an unmeasured region won. */
	if (plen > sel->scope)
		sel->scope = plen;
	if ((cl.best >= 0 ? cl.bd : cl.bd_any) >= 1e12)
		scope_geo(sel);
	return closest_pick(&cl);
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static bool is_default_loc(const struct p53_snapshot *s, uint32_t off)
{
	return off != SNAP_NONE && s->strings[off] == '*' && s->strings[off + 1] == 0;
}

/* CIDR routing: the longest block of the collection that holds the client's
 * prefix (a block longer than the client's prefix does not match). */
static int pick_cidr(const struct p53_snapshot *s, const struct snap_group *g, struct p53_sel *sel,
		     unsigned depth)
{
	const struct snap_cidr *hit = NULL;
	for (uint32_t i = 0; i < s->ncidrs && sel->family; i++) {
		const struct snap_cidr *b = &s->cidrs[i];
		if (b->coll != g->cidr_coll || b->family != sel->family ||
		    b->plen > sel->src_plen || (hit && hit->plen >= b->plen))
			continue;
		if (prefix_match(b->addr, sel->addr, b->plen))
			hit = b;
	}
	uint8_t sc = hit ? hit->plen : sel->src_plen;
	if (sc > sel->scope)
		sel->scope = sc;
	int loc = -1, def = -1;
	for (uint16_t i = 0; i < g->nmembers && i < SCAN_MAX; i++) {
		uint32_t l = s->members[g->member + i].cidr_loc;
		if (hit && l == hit->loc)
			loc = i;
		else if (is_default_loc(s, l))
			def = i;
	}
	if (loc >= 0 && member_ok(s, g, &s->members[g->member + loc], sel, depth))
		return loc;
	if (def >= 0 && member_ok(s, g, &s->members[g->member + def], sel, depth))
		return def;
	int first = loc >= 0 ? loc : def;
	if (first >= 0 && !group_any_healthy(s, g, sel, depth))
		return first;
	return -1;
}

static unsigned select_group(const struct p53_snapshot *s, const struct snap_group *g,
			     struct p53_sel *sel, const struct snap_rrset *out[POLICY_OUT_MAX],
			     unsigned depth);

/* The RRsets a member stands for: its own, or its alias target's. */
static unsigned member_sets(const struct p53_snapshot *s, const struct snap_group *g,
			    const struct snap_member *m, struct p53_sel *sel,
			    const struct snap_rrset *out[POLICY_OUT_MAX], unsigned depth)
{
	if (m->rrset != SNAP_NONE) {
		out[0] = &s->rrsets[m->rrset];
		return 1;
	}
	if (m->flags & MEM_GROUP)
		return depth < ALIAS_DEPTH
			   ? select_group(s, &s->groups[m->alias], sel, out, depth + 1)
			   : 0;
	const struct snap_rrset *t = type_set(s, m->alias, g->type);
	if (t == NULL)
		return 0;
	if (t->count) {
		out[0] = t;
		return 1;
	}
	if (depth >= ALIAS_DEPTH)
		return 0;
	return select_group(s, &s->groups[t->rdata], sel, out, depth + 1);
}

static unsigned select_group(const struct p53_snapshot *s, const struct snap_group *g,
			     struct p53_sel *sel, const struct snap_rrset *out[POLICY_OUT_MAX],
			     unsigned depth)
{
	int pick = 0;
	if (g->policy != POL_SIMPLE || g->nmembers != 1)
		sel->dynamic = true;
	switch (g->policy) {
	case POL_WEIGHTED:
		pick = (int)pick_weighted(s, g, sel, depth);
		break;
	case POL_FAILOVER:
		pick = (int)pick_failover(s, g, sel, depth);
		break;
	case POL_GEO:
		pick = pick_geo(s, g, sel, depth);
		break;
	case POL_LATENCY:
		pick = (int)pick_latency(s, g, sel, depth);
		break;
	case POL_GEOPROX:
		pick = (int)pick_nearest(s, g, sel, depth, true);
		break;
	case POL_CIDR:
		pick = pick_cidr(s, g, sel, depth);
		break;
	case POL_MULTIVALUE: {
		/* Up to 8 healthy records in random order (a partial
		 * Fisher-Yates); nothing healthy: up to 8 of all. */
		uint16_t idx[SCAN_MAX], n = 0;
		uint16_t nm = g->nmembers < SCAN_MAX ? g->nmembers : SCAN_MAX;
		for (uint16_t i = 0; i < nm; i++)
			if (member_ok(s, g, &s->members[g->member + i], sel, depth))
				idx[n++] = i;
		if (n == 0)
			for (; n < nm; n++)
				idx[n] = n;
		unsigned k = 0;
		for (; k < POLICY_OUT_MAX && k < n; k++) {
			uint32_t j = k + rng_below(sel->ctx, (uint32_t)(n - k));
			uint16_t t = idx[k];
			idx[k] = idx[j];
			idx[j] = t;
			const struct snap_member *m = &s->members[g->member + idx[k]];
			out[k] = &s->rrsets[m->rrset]; /* multivalue: never an alias */
		}
		return k;
	}
	default: /* POL_SIMPLE: one alias */
		(void)check_ok(sel, s->members[g->member].health);
		break;
	}
	if (pick < 0 || (uint32_t)pick >= g->nmembers)
		return 0;
	return member_sets(s, g, &s->members[g->member + pick], sel, out, depth);
}

unsigned policy_select(const struct p53_snapshot *s, const struct snap_rrset *ph,
		       struct p53_sel *sel, const struct snap_rrset *out[POLICY_OUT_MAX])
{
	return select_group(s, &s->groups[ph->rdata], sel, out, 0);
}
