/* Route 53 routing-policy data in snapshots: AWS region coordinates, the
 * geo database compiled from CSV, verification of the policy sections, and
 * export of a served zone back to Route 53 JSON.
 */
#include "zones/compile/r53json.h"
#include "zones/compile/r53snap.h"
#include "zones/compile/zwalk.h"

#include "zones/common/rrtype.h"
#include "zones/answer/snapshot_pvt.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/* Approximate locations of the AWS regions' metro areas (public facts);
 * used for latency routing without a latency table and for geoproximity. */
static const struct {
	const char *name;
	double lat, lon;
} regions[] = {
    {"us-east-1", 38.9, -77.4},	     {"us-east-2", 40.0, -83.0},
    {"us-west-1", 37.4, -121.9},     {"us-west-2", 45.8, -119.7},
    {"af-south-1", -33.9, 18.4},     {"ap-east-1", 22.3, 114.2},
    {"ap-south-1", 19.1, 72.9},	     {"ap-south-2", 17.4, 78.5},
    {"ap-southeast-1", 1.35, 103.8}, {"ap-southeast-2", -33.9, 151.2},
    {"ap-southeast-3", -6.2, 106.8}, {"ap-southeast-4", -37.8, 145.0},
    {"ap-northeast-1", 35.7, 139.7}, {"ap-northeast-2", 37.6, 127.0},
    {"ap-northeast-3", 34.7, 135.5}, {"ca-central-1", 45.5, -73.6},
    {"ca-west-1", 51.0, -114.1},     {"eu-central-1", 50.1, 8.7},
    {"eu-central-2", 47.4, 8.5},     {"eu-west-1", 53.3, -6.3},
    {"eu-west-2", 51.5, -0.1},	     {"eu-west-3", 48.9, 2.35},
    {"eu-north-1", 59.3, 18.1},	     {"eu-south-1", 45.5, 9.2},
    {"eu-south-2", 41.6, -0.9},	     {"il-central-1", 32.1, 34.8},
    {"me-south-1", 26.1, 50.6},	     {"me-central-1", 25.2, 55.3},
    {"sa-east-1", -23.5, -46.6},     {"cn-north-1", 39.9, 116.4},
    {"cn-northwest-1", 37.5, 105.2}, {"us-gov-east-1", 40.0, -83.0},
    {"us-gov-west-1", 45.8, -119.7},
};

/* compile --regions: overrides and additions, looked up first. */
struct region_ovr {
	char name[R53_REGION_MAX];
	double lat, lon;
};
static struct region_ovr *ovr;
static size_t novr;

void r53_regions_reset(void)
{
	free(ovr);
	ovr = NULL;
	novr = 0;
}

bool r53_region_coords(const char *region, double *lat, double *lon)
{
	for (size_t i = novr; i-- > 0;) /* the last line for a region wins */
		if (strcmp(ovr[i].name, region) == 0) {
			*lat = ovr[i].lat;
			*lon = ovr[i].lon;
			return true;
		}
	for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
		if (strcmp(regions[i].name, region) == 0) {
			*lat = regions[i].lat;
			*lon = regions[i].lon;
			return true;
		}
	return false;
}

/* ---- geo database ----------------------------------------------------- */

void r53_geo_free(struct r53_geo *g)
{
	free(g->v4);
	free(g->v6);
	free(g->locs);
	memset(g, 0, sizeof(*g));
}

static int g4_cmp(const void *a, const void *b)
{
	const struct snap_geo4 *x = a, *y = b;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

static int g6_cmp(const void *a, const void *b)
{
	const struct snap_geo6 *x = a, *y = b;
	return memcmp(x->lo, y->lo, 16);
}

/* The next line of a CSV input that holds data (blank lines and '#'
 * comments skipped), leading space removed; NULL at the end. *ln counts
 * lines for messages. */
static char *csv_line(FILE *f, char *buf, size_t cap, unsigned *ln)
{
	while (fgets(buf, (int)cap, f)) {
		++*ln;
		char *p = buf;
		while (isspace((unsigned char)*p))
			p++;
		if (*p != 0 && *p != '#')
			return p;
	}
	return NULL;
}

static char *field(char **p)
{
	char *f = *p;
	char *c = strchr(f, ',');
	if (c) {
		*c = 0;
		*p = c + 1;
	} else {
		*p = f + strlen(f);
	}
	while (isspace((unsigned char)*f))
		f++;
	size_t l = strlen(f);
	while (l && isspace((unsigned char)f[l - 1]))
		f[--l] = 0;
	return f;
}

/* One network and its location; fields already validated. The CSV and the
 * MaxMind loaders both come through here so they build the same arrays. */
int r53_geo_add(struct r53_geo *g, int fam, const uint8_t addr[16], unsigned pl, const char *cont,
		const char *ctry, const char *sub, double la, double lo)
{
	if (g->nlocs == g->capl) {
		size_t n = g->capl ? g->capl * 2 : 256;
		void *q = realloc(g->locs, n * sizeof(*g->locs));
		if (q == NULL)
			return -1;
		g->locs = q;
		g->capl = n;
	}
	struct snap_geoloc L = {0};
	memcpy(L.continent, cont, strlen(cont));
	memcpy(L.country, ctry, strlen(ctry));
	memcpy(L.subdiv, sub, strlen(sub));
	L.lat_e6 = (int32_t)lrint(la * 1e6);
	L.lon_e6 = (int32_t)lrint(lo * 1e6);
	double rl = la * M_PI / 180, ro = lo * M_PI / 180;
	L.x = (float)(cos(rl) * cos(ro));
	L.y = (float)(cos(rl) * sin(ro));
	L.z = (float)sin(rl);
	uint32_t li = (uint32_t)g->nlocs;
	g->locs[g->nlocs++] = L;
	if (fam == 4) {
		uint32_t v = (uint32_t)addr[0] << 24 | addr[1] << 16 | addr[2] << 8 | addr[3];
		uint32_t mask = pl == 0 ? 0 : ~0u << (32 - pl);
		if (g->n4 == g->cap4) {
			size_t n = g->cap4 ? g->cap4 * 2 : 256;
			void *q = realloc(g->v4, n * sizeof(*g->v4));
			if (q == NULL)
				return -1;
			g->v4 = q;
			g->cap4 = n;
		}
		g->v4[g->n4++] = (struct snap_geo4){
		    .lo = v & mask, .hi = (v & mask) | ~mask, .loc = li, .plen = (uint8_t)pl};
	} else {
		struct snap_geo6 e = {.loc = li, .plen = (uint8_t)pl};
		for (unsigned b = 0; b < 128; b++) {
			uint8_t bit = (uint8_t)(0x80 >> (b % 8));
			if (b < pl && (addr[b / 8] & bit)) {
				e.lo[b / 8] |= bit;
				e.hi[b / 8] |= bit;
			} else if (b >= pl) {
				e.hi[b / 8] |= bit;
			}
		}
		if (g->n6 == g->cap6) {
			size_t n = g->cap6 ? g->cap6 * 2 : 256;
			void *q = realloc(g->v6, n * sizeof(*g->v6));
			if (q == NULL)
				return -1;
			g->v6 = q;
			g->cap6 = n;
		}
		g->v6[g->n6++] = e;
	}
	return 0;
}

int r53_geo_finish(struct r53_geo *g, const char *path, struct p53_err *err)
{
	if (g->n4)
		qsort(g->v4, g->n4, sizeof(*g->v4), g4_cmp);
	if (g->n6)
		qsort(g->v6, g->n6, sizeof(*g->v6), g6_cmp);
	/* Disjoint ranges make lookup one binary search. */
	for (size_t i = 1; i < g->n4; i++)
		if (g->v4[i].lo <= g->v4[i - 1].hi)
			return p53_err_set(err, P53_EINVAL, "%s: IPv4 prefixes overlap", path);
	for (size_t i = 1; i < g->n6; i++)
		if (memcmp(g->v6[i].lo, g->v6[i - 1].hi, 16) <= 0)
			return p53_err_set(err, P53_EINVAL, "%s: IPv6 prefixes overlap", path);
	return 0;
}

int r53_geo_load_csv(const char *path, struct r53_geo *g, struct p53_err *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return p53_err_set(err, P53_EIO, "%s: cannot open", path);
	char line[512];
	unsigned ln = 0;
	int rc = 0;
	for (char *p; (p = csv_line(f, line, sizeof(line), &ln)) != NULL;) {
		char *pfx = field(&p), *cont = field(&p), *ctry = field(&p), *sub = field(&p),
		     *lat = field(&p), *lon = field(&p);
		char a[64];
		snprintf(a, sizeof(a), "%s", pfx);
		char *sl = strchr(a, '/');
		long pl = sl ? strtol(sl + 1, NULL, 10) : -1;
		if (sl)
			*sl = 0;
		uint8_t addr[16] = {0};
		int fam = inet_pton(AF_INET, a, addr) == 1    ? 4
			  : inet_pton(AF_INET6, a, addr) == 1 ? 6
							      : 0;
		char *e1, *e2;
		double la = strtod(lat, &e1), lo = strtod(lon, &e2);
		if (!fam || pl < 0 || pl > (fam == 4 ? 32 : 128) || strlen(cont) > 2 ||
		    strlen(ctry) > 2 || strlen(sub) > 3 || e1 == lat || *e1 || e2 == lon || *e2 ||
		    !(la >= -90 && la <= 90) || !(lo >= -180 && lo <= 180)) {
			rc = p53_err_at(err, P53_EINVAL, path, ln,
					"expected prefix,continent,country,subdivision,latitude,"
					"longitude");
			goto out;
		}
		if (r53_geo_add(g, fam, addr, (unsigned)pl, cont, ctry, sub, la, lo) < 0) {
			rc = p53_err_set(err, P53_ENOMEM, "out of memory");
			goto out;
		}
	}
	rc = r53_geo_finish(g, path, err);
out:
	fclose(f);
	return rc;
}

/* ---- region coordinates and the latency table -------------------------- */

static bool region_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= R53_REGION_MAX)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '-')
			return false;
	return true;
}

int r53_regions_load_csv(const char *path, struct p53_err *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return p53_err_set(err, P53_EIO, "%s: cannot open", path);
	char line[256];
	unsigned ln = 0;
	size_t cap = novr;
	int rc = 0;
	for (char *p; (p = csv_line(f, line, sizeof(line), &ln)) != NULL;) {
		char *name = field(&p), *lat = field(&p), *lon = field(&p), *e1, *e2;
		double la = strtod(lat, &e1), lo = strtod(lon, &e2);
		if (!region_name_ok(name) || e1 == lat || *e1 || e2 == lon || *e2 || *p ||
		    !(la >= -90 && la <= 90) || !(lo >= -180 && lo <= 180)) {
			rc = p53_err_at(err, P53_EINVAL, path, ln,
					"expected region,latitude,longitude (region in lower "
					"case, latitude -90..90, longitude -180..180)");
			break;
		}
		if (novr == cap) {
			cap = cap ? cap * 2 : 64;
			void *q = realloc(ovr, cap * sizeof(*ovr));
			if (q == NULL) {
				rc = p53_err_set(err, P53_ENOMEM, "out of memory");
				break;
			}
			ovr = q;
		}
		snprintf(ovr[novr].name, sizeof(ovr[novr].name), "%s", name);
		ovr[novr].lat = la;
		ovr[novr].lon = lo;
		novr++;
	}
	fclose(f);
	return rc;
}

void r53_lat_free(struct r53_lat *t)
{
	free(t->v4);
	free(t->v6);
	free(t->rows);
	free(t->ents);
	memset(t, 0, sizeof(*t));
}

/* A parsed line: the prefix as an inclusive range in 16 bytes (IPv4 in the
 * first 4), its family and length. */
struct lat_line {
	uint8_t fam, plen;
	uint8_t lo[16], hi[16];
	struct r53_lat_ent e;
};

static int lat_line_cmp(const void *a, const void *b)
{
	const struct lat_line *x = a, *y = b;
	if (x->fam != y->fam)
		return x->fam - y->fam;
	int c = memcmp(x->lo, y->lo, 16);
	if (c)
		return c;
	if (x->plen != y->plen)
		return x->plen - y->plen;
	return strcmp(x->e.region, y->e.region);
}

static bool parse_prefix(const char *pfx, struct lat_line *l)
{
	char a[64];
	snprintf(a, sizeof(a), "%s", pfx);
	char *sl = strchr(a, '/'), *end;
	if (sl == NULL)
		return false;
	*sl = 0;
	long pl = strtol(sl + 1, &end, 10);
	uint8_t addr[16] = {0};
	int fam = inet_pton(AF_INET, a, addr) == 1 ? 4 : inet_pton(AF_INET6, a, addr) == 1 ? 6 : 0;
	int bits = fam == 4 ? 32 : 128;
	if (!fam || end == sl + 1 || *end || pl < 0 || pl > bits)
		return false;
	l->fam = (uint8_t)fam;
	l->plen = (uint8_t)pl;
	memset(l->lo, 0, 16);
	memset(l->hi, 0, 16);
	for (int b = 0; b < bits; b++) {
		uint8_t bit = (uint8_t)(0x80 >> (b % 8));
		if (b >= pl)
			l->hi[b / 8] |= bit;
		else if (addr[b / 8] & bit)
			l->lo[b / 8] |= bit, l->hi[b / 8] |= bit;
	}
	return true;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int r53_lat_load_csv(const char *path, struct r53_lat *t, struct p53_err *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return p53_err_set(err, P53_EIO, "%s: cannot open", path);
	struct lat_line *L = NULL;
	size_t n = 0, cap = 0;
	char line[256];
	unsigned ln = 0;
	int rc = 0;
	for (char *p; (p = csv_line(f, line, sizeof(line), &ln)) != NULL;) {
		char *pfx = field(&p), *reg = field(&p), *ms = field(&p), *e;
		double v = strtod(ms, &e);
		double la, lo;
		struct lat_line l = {0};
		if (!parse_prefix(pfx, &l) || e == ms || *e || *p || !(v >= 0 && v <= 4e6)) {
			rc = p53_err_at(err, P53_EINVAL, path, ln,
					"expected prefix/length,region,milliseconds (0..4000000)");
			goto out;
		}
		if (!region_name_ok(reg) || !r53_region_coords(reg, &la, &lo)) {
			rc = p53_err_at(err, P53_EINVAL, path, ln,
					"unknown region '%.60s' (add it with --regions)", reg);
			goto out;
		}
		snprintf(l.e.region, sizeof(l.e.region), "%s", reg);
		l.e.us = (uint32_t)lrint(v * 1000);
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			void *q = realloc(L, cap * sizeof(*L));
			if (q == NULL)
				goto nomem;
			L = q;
		}
		L[n++] = l;
	}
	if (n)
		qsort(L, n, sizeof(*L), lat_line_cmp);
	/* Rows: runs of one prefix. A region twice in a row is ambiguous;
	 * distinct prefixes must be disjoint so lookup is one binary search. */
	t->ents = calloc(n ? n : 1, sizeof(*t->ents));
	t->rows = calloc(n ? n : 1, sizeof(*t->rows));
	t->v4 = calloc(n ? n : 1, sizeof(*t->v4));
	t->v6 = calloc(n ? n : 1, sizeof(*t->v6));
	if (!t->ents || !t->rows || !t->v4 || !t->v6)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		const struct lat_line *l = &L[i];
		bool same = i && L[i - 1].fam == l->fam && L[i - 1].plen == l->plen &&
			    !memcmp(L[i - 1].lo, l->lo, 16);
		if (same && strcmp(L[i - 1].e.region, l->e.region) == 0) {
			rc = p53_err_set(err, P53_EINVAL, "%s: region %s twice for one prefix",
					 path, l->e.region);
			goto out;
		}
		if (!same && i && L[i - 1].fam == l->fam && memcmp(l->lo, L[i - 1].hi, 16) <= 0) {
			rc = p53_err_set(err, P53_EINVAL, "%s: IPv%d prefixes overlap", path,
					 l->fam);
			goto out;
		}
		if (!same) {
			uint32_t row = (uint32_t)t->nrows++;
			t->rows[row] = (struct snap_latrow){.ent = (uint32_t)t->nents};
			if (l->fam == 4) {
				t->v4[t->n4++] = (struct snap_geo4){.lo = be32(l->lo),
								    .hi = be32(l->hi),
								    .loc = row,
								    .plen = l->plen};
			} else {
				struct snap_geo6 *g = &t->v6[t->n6++];
				memcpy(g->lo, l->lo, 16);
				memcpy(g->hi, l->hi, 16);
				g->loc = row;
				g->plen = l->plen;
			}
		}
		t->rows[t->nrows - 1].nent++;
		t->ents[t->nents++] = l->e;
	}
out:
	free(L);
	fclose(f);
	return rc;
nomem:
	free(L);
	fclose(f);
	return p53_err_set(err, P53_ENOMEM, "out of memory");
}

/* ---- export ----------------------------------------------------------- */

static json_t *values_json(const struct p53_snapshot *s, const struct snap_rrset *r, char *txt,
			   size_t cap)
{
	json_t *arr = json_array();
	const uint8_t *rd = s->rdata + r->rdata, *end = rd + r->len;
	while (rd < end) {
		uint16_t l = (uint16_t)(rd[0] << 8 | rd[1]);
		/* Route 53 writes "\\ooo" octal where zone files write "\\DDD". */
		if (zprint_rdata(r->type, rd + 2, l, txt, cap / 2) < 0 ||
		    r53_zone_to_octal(txt, txt + cap / 2, cap / 2) < 0)
			txt[cap / 2] = 0;
		json_array_append_new(arr, json_pack("{s:s}", "Value", txt + cap / 2));
		rd += 2 + l;
	}
	return arr;
}

static json_t *set_json(const char *owner, uint16_t type)
{
	char tb[12];
	return json_pack("{s:s,s:s}", "Name", owner, "Type", rrtype_to_text(type, tb));
}

static void deg_text(int32_t e6, char *out, size_t cap)
{
	snprintf(out, cap, "%.6f", e6 / 1e6);
	char *d = strchr(out, '.');
	size_t l = strlen(out);
	while (d && l > (size_t)(d - out) + 2 && out[l - 1] == '0')
		out[--l] = 0;
}

static json_t *member_json(const struct p53_snapshot *s, const struct snap_group *g,
			   const struct snap_member *m, const char *owner, char *txt, size_t cap)
{
	json_t *o = set_json(owner, g->type);
	if (m->setid != SNAP_NONE)
		json_object_set_new(o, "SetIdentifier", json_string(s->strings + m->setid));
	switch (g->policy) {
	case POL_WEIGHTED:
		json_object_set_new(o, "Weight", json_integer(m->weight));
		break;
	case POL_LATENCY:
		json_object_set_new(o, "Region", json_string(s->strings + m->region));
		break;
	case POL_FAILOVER:
		json_object_set_new(o, "Failover",
				    json_string(m->flags & MEM_PRIMARY ? "PRIMARY" : "SECONDARY"));
		break;
	case POL_MULTIVALUE:
		json_object_set_new(o, "MultiValueAnswer", json_true());
		break;
	case POL_GEO: {
		json_t *gl = json_object();
		char b[5];
		if (m->geo_level == GEO_CONTINENT) {
			snprintf(b, sizeof(b), "%.2s", m->continent);
			json_object_set_new(gl, "ContinentCode", json_string(b));
		} else {
			snprintf(b, sizeof(b), "%.2s", m->country);
			json_object_set_new(gl, "CountryCode", json_string(b));
			if (m->geo_level == GEO_SUBDIV) {
				snprintf(b, sizeof(b), "%.3s", m->subdiv);
				json_object_set_new(gl, "SubdivisionCode", json_string(b));
			}
		}
		json_object_set_new(o, "GeoLocation", gl);
		break;
	}
	case POL_GEOPROX: {
		json_t *gp = json_object();
		if (m->flags & MEM_COORDS) {
			char la[32], lo[32];
			deg_text(m->lat_e6, la, sizeof(la));
			deg_text(m->lon_e6, lo, sizeof(lo));
			json_object_set_new(
			    gp, "Coordinates",
			    json_pack("{s:s,s:s}", "Latitude", la, "Longitude", lo));
		} else {
			json_object_set_new(
			    gp, m->flags & MEM_LOCALZONE ? "LocalZoneGroup" : "AWSRegion",
			    json_string(s->strings + m->region));
		}
		if (m->bias)
			json_object_set_new(gp, "Bias", json_integer(m->bias));
		json_object_set_new(o, "GeoProximityLocation", gp);
		break;
	}
	case POL_CIDR:
		json_object_set_new(o, "CidrRoutingConfig",
				    json_pack("{s:s,s:s}", "CollectionId",
					      s->strings + g->cidr_coll, "LocationName",
					      s->strings + m->cidr_loc));
		break;
	}
	if (m->health != SNAP_NONE)
		json_object_set_new(o, "HealthCheckId",
				    json_string(s->strings + s->hchecks[m->health]));
	if (m->ext_alias) {
		/* An AWS-resource alias: written back as the alias it was, not
		 * as the mapped records it is served from. */
		char t[1400], tn[4200], *dn, *ev;
		uint8_t w[P53_NAME_MAX];
		snprintf(t, sizeof(t), "%s", s->strings + m->ext_alias - 1);
		dn = strchr(t, '\t');
		ev = dn ? strchr(dn + 1, '\t') : NULL;
		if (dn && ev) {
			*dn++ = 0;
			*ev++ = 0;
			if (name_from_text(dn, strlen(dn), NULL, w, NULL) < 0 ||
			    r53_name_text(w, tn, sizeof(tn)) < 0)
				snprintf(tn, sizeof(tn), "%s", dn);
			json_object_set_new(o, "AliasTarget",
					    json_pack("{s:s,s:s,s:b}", "HostedZoneId", t, "DNSName",
						      tn, "EvaluateTargetHealth", *ev == '1'));
		}
	} else if (m->flags & MEM_GROUP) {
		/* A traffic-flow rule inside this one: its own sets (port53's
		 * P53NestedRule, read back by the importer). */
		const struct snap_group *ng = &s->groups[m->alias];
		json_t *sub = json_array();
		for (uint16_t k = 0; k < ng->nmembers; k++)
			json_array_append_new(
			    sub, member_json(s, ng, &s->members[ng->member + k], owner, txt, cap));
		json_object_set_new(o, "P53NestedRule", sub);
	} else if (m->flags & MEM_ALIAS) {
		char tn[4200];
		r53_name_text(s->names + s->nodes[m->alias].name, tn, sizeof(tn));
		char zid[R53_ZONE_ID_LEN + 1];
		r53_zone_id(s->names + s->zones[s->nodes[g->node].zone].name, zid);
		json_object_set_new(o, "AliasTarget",
				    json_pack("{s:s,s:s,s:b}", "HostedZoneId", zid, "DNSName", tn,
					      "EvaluateTargetHealth",
					      (m->flags & MEM_EVAL_TARGET) != 0));
	} else {
		const struct snap_rrset *r = &s->rrsets[m->rrset];
		json_object_set_new(o, "TTL", json_integer(r->ttl));
		json_object_set_new(o, "ResourceRecords", values_json(s, r, txt, cap));
	}
	return o;
}

void r53_zone_id(const uint8_t *apex, char out[R53_ZONE_ID_LEN + 1])
{
	/* "Z" and 20 base-32 characters of SHA-256 over the lower-case wire
	 * name: the shape of a Route 53 hosted-zone id, the same on every
	 * compile and every machine. */
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint8_t w[P53_NAME_MAX], h[SHA256_DIGEST_LENGTH];
	size_t n = name_len(apex);
	memcpy(w, apex, n);
	name_lower(w, n);
	SHA256(w, n, h);
	out[0] = 'Z';
	for (int i = 0; i < R53_ZONE_ID_LEN - 1; i++) {
		unsigned bit = (unsigned)i * 5, v = (unsigned)(h[bit / 8] << 8 | h[bit / 8 + 1]);
		out[i + 1] = b32[(v >> (11 - bit % 8)) & 31];
	}
	out[R53_ZONE_ID_LEN] = 0;
}

int r53_export_json(const struct p53_snapshot *s, const char *origin, FILE *out)
{
	return r53_export_fmt(s, origin, R53_EXPORT_LIST, out);
}

static json_t *export_root(const struct p53_snapshot *s, const char *origin, int fmt);

int r53_export_fmt(const struct p53_snapshot *s, const char *origin, int fmt, FILE *out)
{
	json_t *root = export_root(s, origin, fmt);
	if (root == NULL)
		return P53_EINVAL;
	int rc = json_dumpf(root, out, JSON_INDENT(2)) == 0 ? 0 : P53_EIO;
	fputc('\n', out);
	json_decref(root);
	return rc;
}

/* export_root's third form, for diff: every set the zone serves, the sets
 * of policy records included. */
enum { EXPORT_SETS = 2 };

json_t *r53_export_sets(const struct p53_snapshot *s, const char *origin)
{
	json_t *root = export_root(s, origin, EXPORT_SETS);
	if (root == NULL)
		return NULL;
	json_t *sets = json_incref(json_object_get(root, "ResourceRecordSets"));
	json_decref(root);
	return sets;
}

json_t *r53_snap_tf(const struct p53_snapshot *s, const char *origin)
{
	uint8_t apex[P53_NAME_MAX];
	char zname[1100];
	int n = name_from_text(origin, strlen(origin), (const uint8_t *)"", apex, NULL);
	if (n < 0 || s->r53tf_len == 0)
		return NULL;
	name_lower(apex, (size_t)n);
	name_to_text(apex, zname, sizeof(zname));
	json_t *all = json_loadb(s->r53tf, s->r53tf_len - 1, 0, NULL);
	json_t *tf = json_incref(json_object_get(all, zname));
	json_decref(all);
	return tf;
}

/* The policy record (traffic policy instance) at name and type, or NULL. */
static json_t *tf_instance_at(json_t *tf, const uint8_t *name, uint16_t type)
{
	size_t i;
	json_t *in;
	json_array_foreach(json_object_get(tf, "TrafficPolicyInstances"), i, in)
	{
		const char *n = json_string_value(json_object_get(in, "Name")),
			   *t = json_string_value(json_object_get(in, "TrafficPolicyType"));
		uint8_t w[P53_NAME_MAX];
		int l = n ? name_from_text(n, strlen(n), (const uint8_t *)"", w, NULL) : -1;
		if (l < 0 || !t || rrtype_from_text(t, strlen(t)) != type)
			continue;
		name_lower(w, (size_t)l);
		if ((size_t)l == name_len(name) && memcmp(w, name, (size_t)l) == 0)
			return in;
	}
	return NULL;
}

static json_t *export_root(const struct p53_snapshot *s, const char *origin, int fmt)
{
	uint8_t apex[P53_NAME_MAX];
	int n = name_from_text(origin, strlen(origin), (const uint8_t *)"", apex, NULL);
	if (n < 0)
		return NULL;
	name_lower(apex, (size_t)n);
	json_t *tf = fmt == EXPORT_SETS ? NULL : r53_snap_tf(s, origin);
	uint32_t z = SNAP_NONE;
	for (uint32_t i = 0; i < s->nzones && z == SNAP_NONE; i++) {
		const struct snap_node *a = &s->nodes[s->zones[i].apex];
		if (a->name_len == n && memcmp(s->names + a->name, apex, (size_t)n) == 0)
			z = i;
	}
	if (z == SNAP_NONE)
		return NULL;
	size_t cap = 512 * 1024;
	char *txt = malloc(cap);
	json_t *list = json_array();
	const struct snap_zone *zn = &s->zones[z];
	/* The DS set at a served child's apex is the parent's (RFC 4035
	 * 3.1.4.1): exported with the parent, as zwalk.c gives it. */
	bool parent_served = p53_zone_above(s, z) != P53_ZONE_NONE;
	for (uint32_t i = zn->apex; txt && i < zn->apex + zn->nodes; i++) {
		const struct snap_node *nd = &s->nodes[i];
		char owner[4200];
		r53_name_text(s->names + nd->name, owner, sizeof(owner));
		for (uint16_t k = 0; k < nd->nrrsets; k++) {
			const struct snap_rrset *r = &s->rrsets[nd->rrset + k];
			if (r->type == RR_DS && i == zn->apex && parent_served)
				continue;
			json_t *in = tf ? tf_instance_at(tf, s->names + nd->name, r->type) : NULL;
			if (in) {
				/* A policy record: its instance, not the sets it
				 * compiled to (which a change batch cannot make). In
				 * the list, the set as list-resource-record-sets shows
				 * one that traffic flow made. */
				if (fmt == R53_EXPORT_LIST) {
					json_t *o = set_json(owner, r->type);
					json_object_set(o, "TrafficPolicyInstanceId",
							json_object_get(in, "Id"));
					json_array_append_new(list, o);
				}
				continue;
			}
			if (r->count) {
				json_t *o = set_json(owner, r->type);
				json_object_set_new(o, "TTL", json_integer(r->ttl));
				json_object_set_new(o, "ResourceRecords",
						    values_json(s, r, txt, cap));
				json_array_append_new(list, o);
				continue;
			}
			const struct snap_group *g = &s->groups[r->rdata];
			for (uint16_t m = 0; m < g->nmembers; m++)
				json_array_append_new(
				    list,
				    member_json(s, g, &s->members[g->member + m], owner, txt, cap));
		}
	}
	for (uint32_t c = 0; txt && c < s->nzones; c++) {
		if (c == z || p53_zone_above(s, c) != z)
			continue;
		const struct snap_node *a = &s->nodes[s->zones[c].apex];
		char owner[4200];
		r53_name_text(s->names + a->name, owner, sizeof(owner));
		for (uint16_t k = 0; k < a->nrrsets; k++) {
			const struct snap_rrset *r = &s->rrsets[a->rrset + k];
			if (r->type != RR_DS || r->count == 0)
				continue;
			json_t *o = set_json(owner, r->type);
			json_object_set_new(o, "TTL", json_integer(r->ttl));
			json_object_set_new(o, "ResourceRecords", values_json(s, r, txt, cap));
			json_array_append_new(list, o);
		}
	}
	if (txt == NULL) {
		json_decref(list);
		json_decref(tf);
		return NULL;
	}
	json_t *root;
	if (fmt == R53_EXPORT_CHANGES) {
		/* What `aws route53 change-resource-record-sets --cli-input-json`
		 * takes: every set as an UPSERT into the zone's id. */
		char zid[R53_ZONE_ID_LEN + 1], zname[1024];
		r53_zone_id(s->names + s->nodes[s->zones[z].apex].name, zid);
		name_to_text(s->names + s->nodes[s->zones[z].apex].name, zname, sizeof(zname));
		json_t *ch = json_array(), *v;
		size_t i;
		json_array_foreach(list, i, v) json_array_append_new(
		    ch, json_pack("{s:s,s:O}", "Action", "UPSERT", "ResourceRecordSet", v));
		char cm[1100];
		snprintf(cm, sizeof(cm), "port53 export of %s", zname);
		root = json_pack("{s:s,s:{s:s,s:o}}", "HostedZoneId", zid, "ChangeBatch", "Comment",
				 cm, "Changes", ch);
		json_decref(list);
		json_decref(tf);
		free(txt);
		return root;
	}
	root = json_pack("{s:o}", "ResourceRecordSets", list);
	if (tf && fmt == R53_EXPORT_LIST) {
		/* As list-traffic-policy-versions and list-traffic-policy-
		 * instances-by-hosted-zone print them; the import reads both. */
		char zid[R53_ZONE_ID_LEN + 1];
		r53_zone_id(s->names + s->nodes[s->zones[z].apex].name, zid);
		json_t *insts = json_array(), *in;
		size_t i;
		json_array_foreach(json_object_get(tf, "TrafficPolicyInstances"), i, in)
		    json_array_append_new(
			insts,
			json_pack("{s:O,s:s,s:O,s:O,s:s,s:s,s:O,s:O,s:O}", "Id",
				  json_object_get(in, "Id"), "HostedZoneId", zid, "Name",
				  json_object_get(in, "Name"), "TTL", json_object_get(in, "TTL"),
				  "State", "Applied", "Message", "", "TrafficPolicyId",
				  json_object_get(in, "TrafficPolicyId"), "TrafficPolicyVersion",
				  json_object_get(in, "TrafficPolicyVersion"), "TrafficPolicyType",
				  json_object_get(in, "TrafficPolicyType")));
		json_object_set(root, "TrafficPolicies", json_object_get(tf, "TrafficPolicies"));
		json_object_set_new(root, "TrafficPolicyInstances", insts);
	}
	json_decref(tf);
	/* CIDR collections used by this zone's groups. */
	json_t *cols = json_array();
	for (uint32_t i = 0; i < s->ncidrs; i++) {
		const struct snap_cidr *b = &s->cidrs[i];
		bool used = false;
		for (uint32_t g = 0; g < s->ngroups && !used; g++)
			used = s->groups[g].cidr_coll == b->coll &&
			       s->nodes[s->groups[g].node].zone == z;
		if (!used)
			continue;
		const char *cid = s->strings + b->coll, *loc = s->strings + b->loc;
		json_t *col = NULL, *v;
		size_t ci;
		json_array_foreach(cols, ci,
				   v) if (!strcmp(json_string_value(json_object_get(v, "Id")), cid))
		    col = v;
		if (col == NULL) {
			col = json_pack("{s:s,s:[]}", "Id", cid, "Locations");
			json_array_append_new(cols, col);
		}
		json_t *locs = json_object_get(col, "Locations"), *L = NULL;
		json_array_foreach(
		    locs, ci, v) if (!strcmp(json_string_value(json_object_get(v, "LocationName")),
					     loc)) L = v;
		if (L == NULL) {
			L = json_pack("{s:s,s:[]}", "LocationName", loc, "CidrList");
			json_array_append_new(locs, L);
		}
		char a[INET6_ADDRSTRLEN], pfx[64];
		inet_ntop(b->family == 4 ? AF_INET : AF_INET6, b->addr, a, sizeof(a));
		snprintf(pfx, sizeof(pfx), "%s/%u", a, b->plen);
		json_array_append_new(json_object_get(L, "CidrList"), json_string(pfx));
	}
	if (json_array_size(cols))
		json_object_set_new(root, "CidrCollections", cols);
	else
		json_decref(cols);
	free(txt);
	return root;
}

/* ---- diff --------------------------------------------------------------- */

/* "Name Type [SetIdentifier]": a record set's identity within a zone. */
static void set_key(json_t *o, char *buf, size_t cap)
{
	const char *sid = json_string_value(json_object_get(o, "SetIdentifier"));
	snprintf(buf, cap, "%s %s%s%s", json_string_value(json_object_get(o, "Name")),
		 json_string_value(json_object_get(o, "Type")), sid ? " set " : "", sid ? sid : "");
}

static json_t *find_set(json_t *arr, const char *key)
{
	size_t i;
	json_t *o;
	char k[2400];
	json_array_foreach(arr, i, o)
	{
		set_key(o, k, sizeof(k));
		if (strcmp(k, key) == 0)
			return o;
	}
	return NULL;
}

/* Values compare as sets: the order of ResourceRecords carries no meaning. */
static char *canon(json_t *v, const char *field)
{
	if (v && strcmp(field, "ResourceRecords") == 0 && json_is_array(v)) {
		json_t *c = json_deep_copy(v);
		size_t n = json_array_size(c);
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j > 0; j--) {
				const char *a = json_string_value(
					       json_object_get(json_array_get(c, j - 1), "Value")),
					   *b = json_string_value(
					       json_object_get(json_array_get(c, j), "Value"));
				if (a && b && strcmp(a, b) > 0) {
					json_t *t = json_incref(json_array_get(c, j));
					json_array_set(c, j, json_array_get(c, j - 1));
					json_array_set_new(c, j - 1, t);
				}
			}
		char *s = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(c);
		return s;
	}
	return v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("-");
}

int r53_diff_sets(json_t *old, json_t *cur, FILE *out, unsigned counts[3])
{
	char key[2400];
	size_t i;
	json_t *o;
	counts[0] = counts[1] = counts[2] = 0;
	json_array_foreach(cur, i, o)
	{
		set_key(o, key, sizeof(key));
		json_t *was = find_set(old, key);
		if (was == NULL) {
			char *t = json_dumps(o, JSON_COMPACT);
			fprintf(out, "+ %s %s\n", key, t ? t : "");
			free(t);
			counts[0]++;
			continue;
		}
		/* Every field of either side, in a fixed order. */
		json_t *fields = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(o, k, v) json_object_set(fields, k, json_null());
		json_object_foreach(was, k, v) json_object_set(fields, k, json_null());
		bool changed = false;
		json_object_foreach(fields, k, v)
		{
			char *a = canon(json_object_get(was, k), k),
			     *b = canon(json_object_get(o, k), k);
			if (a && b && strcmp(a, b) != 0) {
				if (!changed)
					fprintf(out, "~ %s\n", key);
				changed = true;
				fprintf(out, "    %s: %s -> %s\n", k, a, b);
			}
			free(a);
			free(b);
		}
		json_decref(fields);
		counts[2] += changed;
	}
	json_array_foreach(old, i, o)
	{
		set_key(o, key, sizeof(key));
		if (find_set(cur, key) == NULL) {
			char *t = json_dumps(o, JSON_COMPACT);
			fprintf(out, "- %s %s\n", key, t ? t : "");
			free(t);
			counts[1]++;
		}
	}
	return 0;
}

/* ---- zone-file export ----------------------------------------------------- */

/* One set as master-file lines; names and values come in Route 53's octal
 * notation and go out in the zone file's decimal one. */
static void zone_lines(json_t *o, FILE *out)
{
	char name[4200], val[8200], tb[16];
	const char *n = json_string_value(json_object_get(o, "Name"));
	if (r53_octal_to_zone(n, strlen(n), name, sizeof(name)) < 0)
		return;
	if (strncmp(name, "\\042.", 5) == 0) {
		/* The wildcard label reads better as itself. */
		memmove(name + 1, name + 4, strlen(name + 4) + 1);
		name[0] = '*';
	}
	snprintf(tb, sizeof(tb), "%s", json_string_value(json_object_get(o, "Type")));
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(o, "ResourceRecords"), i, v)
	{
		const char *t = json_string_value(json_object_get(v, "Value"));
		if (r53_octal_to_zone(t, strlen(t), val, sizeof(val)) < 0)
			continue;
		fprintf(out, "%s\t%lld\tIN\t%s\t%s\n", name,
			(long long)json_integer_value(json_object_get(o, "TTL")), tb, val);
	}
}

int r53_export_zone(const struct p53_snapshot *s, const char *origin, FILE *out)
{
	json_t *root = export_root(s, origin, R53_EXPORT_LIST);
	if (root == NULL)
		return P53_EINVAL;
	json_t *list = json_object_get(root, "ResourceRecordSets"), *o;
	char on[1100];
	snprintf(on, sizeof(on), "%s%s", origin,
		 origin[0] && origin[strlen(origin) - 1] == '.' ? "" : ".");
	fprintf(out, "$ORIGIN %s\n", on);
	size_t i;
	/* The SOA first, as every master file has it. */
	json_array_foreach(list, i, o) if (!strcmp(json_string_value(json_object_get(o, "Type")),
						   "SOA")) zone_lines(o, out);
	json_array_foreach(list, i, o)
	{
		if (!strcmp(json_string_value(json_object_get(o, "Type")), "SOA") ||
		    json_object_get(o, "TrafficPolicyInstanceId"))
			continue; /* a policy record: its $ROUTE53 line comes below */
		if (json_object_get(o, "SetIdentifier") || json_object_get(o, "AliasTarget")) {
			/* Zone files cannot say this: one $ROUTE53 line holds the
			 * record set as Route 53 JSON (docs/route53.md). */
			char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
			fprintf(out, "$ROUTE53 %s\n", t ? t : "{}");
			free(t);
			continue;
		}
		zone_lines(o, out);
	}
	/* Traffic policies and policy records, one per line, in the shapes
	 * get-traffic-policy and get-traffic-policy-instance print. */
	static const char *const tfk[][2] = {{"TrafficPolicies", "TrafficPolicy"},
					     {"TrafficPolicyInstances", "TrafficPolicyInstance"}};
	for (size_t k = 0; k < 2; k++)
		json_array_foreach(json_object_get(root, tfk[k][0]), i, o)
		{
			json_t *w = json_pack("{s:O}", tfk[k][1], o);
			char *t = json_dumps(w, JSON_COMPACT | JSON_PRESERVE_ORDER);
			fprintf(out, "$ROUTE53 %s\n", t ? t : "{}");
			free(t);
			json_decref(w);
		}
	json_t *cols = json_object_get(root, "CidrCollections");
	if (cols) {
		json_t *w = json_pack("{s:O}", "CidrCollections", cols);
		char *t = json_dumps(w, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fprintf(out, "$ROUTE53 %s\n", t ? t : "{}");
		free(t);
		json_decref(w);
	}
	json_decref(root);
	return ferror(out) ? P53_EIO : 0;
}
