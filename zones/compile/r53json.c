/* Route 53 ResourceRecordSet JSON import and validation.
 *
 * The rules are those of Route 53's ChangeResourceRecordSets (see
 * docs/route53.md for the list port53 enforces). Every rejection names the
 * record set as "Name=..., Type=..., SetIdentifier=..." and the rule, so an
 * operator can find it in a file of thousands.
 */
#include "zones/compile/r53json.h"

#include "zones/common/rrtype.h"
#include "zones/common/snapfmt.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#define R53_GROUP_MAX	  100 /* records per name+type in a policy group */
#define R53_GEOPROX_MAX	  30
#define R53_VALUES_MAX	  400
#define R53_VALUE_CHARS	  4000
#define R53_NAME_CHARS	  1024
#define R53_SETID_MAX	  128
#define R53_COMMENT_CHARS 256

static const char *const policy_names[] = {
    [POL_SIMPLE] = "simple",	     [POL_WEIGHTED] = "weighted", [POL_FAILOVER] = "failover",
    [POL_GEO] = "geolocation",	     [POL_LATENCY] = "latency",	  [POL_GEOPROX] = "geoproximity",
    [POL_MULTIVALUE] = "multivalue", [POL_CIDR] = "CIDR",
};

static const char *pol_name(int p)
{
	return p < 0 ? "simple" : policy_names[p];
}

/* ---- sets ------------------------------------------------------------- */

static void set_free(struct r53_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nvals; i++)
		free(s->vals[i].rd);
	free(s->vals);
	free(s->setid);
	free(s->region);
	free(s->gp_region);
	free(s->gp_lzg);
	free(s->health);
	free(s->alias_zone);
	free(s->cidr_coll);
	free(s->cidr_loc);
	free(s->where);
	for (size_t i = 0; i < s->nsub; i++)
		set_free(s->sub[i]);
	free(s->sub);
	free(s);
}

void r53_zone_init(struct r53_zone *z, const uint8_t *apex, size_t apex_len)
{
	memset(z, 0, sizeof(*z));
	memcpy(z->apex, apex, apex_len);
	z->apex_len = apex_len;
}

void r53_zone_free(struct r53_zone *z)
{
	for (size_t i = 0; i < z->nsets; i++)
		set_free(z->sets[i]);
	free(z->sets);
	for (size_t i = 0; i < z->ncidr; i++) {
		free(z->cidr[i].coll);
		free(z->cidr[i].loc);
	}
	free(z->cidr);
	r53_hcset_free(&z->hcs);
	for (size_t i = 0; i < z->namap; i++)
		set_free(z->amap[i]);
	free(z->amap);
	json_decref(z->tf);
	memset(z, 0, sizeof(*z));
}

static int push_set(struct r53_set ***arr, size_t *n, size_t *cap, struct r53_set *s)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct r53_set **p = realloc(*arr, nc * sizeof(*p));
		if (p == NULL)
			return P53_ENOMEM;
		*arr = p;
		*cap = nc;
	}
	(*arr)[(*n)++] = s;
	return 0;
}

/* "Name=www.example.com., Type=A, SetIdentifier=x" for messages. */
static const char *set_label(const struct r53_set *s, char *buf, size_t cap)
{
	char nm[1024], tb[12];
	name_to_text(s->name, nm, sizeof(nm));
	snprintf(buf, cap, "Name=%s, Type=%s, SetIdentifier=%s", nm, rrtype_to_text(s->type, tb),
		 s->setid ? s->setid : "(none)");
	return buf;
}

/* "file: ResourceRecordSets[3].Field: Code: record set (Name=..): rule". The
 * path and code let an operator match the message with the Route 53 API
 * reference; rules that span several sets name the last one read. */
static int set_fail_at(struct p53_err *err, const char *file, const struct r53_set *s,
		       const char *field, const char *code, const char *rule)
{
	char lb[1400];
	const char *w = s->where ? s->where : file;
	return p53_err_set(err, P53_EINVAL, "%s%s%s: %s: record set (%s): %s", w,
			   field && *field ? "." : "", field ? field : "", code,
			   set_label(s, lb, sizeof(lb)), rule);
}

static int set_fail(struct p53_err *err, const char *file, const struct r53_set *s,
		    const char *rule)
{
	return set_fail_at(err, file, s, NULL, "InvalidChangeBatch", rule);
}

static bool same_key(const struct r53_set *a, const struct r53_set *b)
{
	if (a->type != b->type || a->name_len != b->name_len ||
	    memcmp(a->name, b->name, a->name_len) != 0)
		return false;
	if ((a->setid == NULL) != (b->setid == NULL))
		return false;
	return a->setid == NULL || strcmp(a->setid, b->setid) == 0;
}

static bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Every field equal: what a DELETE must repeat. */
static bool same_set(const struct r53_set *a, const struct r53_set *b)
{
	if (!same_key(a, b) || a->policy != b->policy || a->has_ttl != b->has_ttl ||
	    (a->has_ttl && a->ttl != b->ttl) || a->weight != b->weight ||
	    !str_eq(a->region, b->region) || a->has_geo != b->has_geo ||
	    strcmp(a->continent, b->continent) || strcmp(a->country, b->country) ||
	    strcmp(a->subdiv, b->subdiv) || a->has_gp != b->has_gp ||
	    !str_eq(a->gp_region, b->gp_region) || !str_eq(a->gp_lzg, b->gp_lzg) ||
	    a->gp_coords != b->gp_coords || a->lat_e6 != b->lat_e6 || a->lon_e6 != b->lon_e6 ||
	    a->bias != b->bias || a->failover != b->failover || a->multivalue != b->multivalue ||
	    !str_eq(a->health, b->health) || a->alias != b->alias ||
	    a->target_len != b->target_len || memcmp(a->target, b->target, a->target_len) ||
	    a->eval_target != b->eval_target || !str_eq(a->cidr_coll, b->cidr_coll) ||
	    !str_eq(a->cidr_loc, b->cidr_loc) || a->nvals != b->nvals || a->nsub != b->nsub)
		return false;
	for (size_t i = 0; i < a->nvals; i++)
		if (a->vals[i].len != b->vals[i].len ||
		    memcmp(a->vals[i].rd, b->vals[i].rd, a->vals[i].len) != 0)
			return false;
	/* Nested rules: the same sets in the same order (both were read from
	 * JSON in document order). */
	for (size_t i = 0; i < a->nsub; i++)
		if (!same_set(a->sub[i], b->sub[i]))
			return false;
	return true;
}

static int val_cmp(const void *x, const void *y)
{
	const struct r53_value *a = x, *b = y;
	size_t m = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->rd, b->rd, m);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int add_value(struct r53_set *s, const uint8_t *rd, size_t len)
{
	for (size_t i = 0; i < s->nvals; i++)
		if (s->vals[i].len == len && memcmp(s->vals[i].rd, rd, len) == 0)
			return 0; /* RFC 2181 5: no duplicate records in a set */
	struct r53_value *v = realloc(s->vals, (s->nvals + 1) * sizeof(*v));
	if (v == NULL)
		return P53_ENOMEM;
	s->vals = v;
	uint8_t *copy = malloc(len ? len : 1);
	if (copy == NULL)
		return P53_ENOMEM;
	memcpy(copy, rd, len);
	s->vals[s->nvals++] = (struct r53_value){copy, (uint16_t)len};
	return 0;
}

/* ---- zone-file records ------------------------------------------------ */

int r53_zone_add_rr(struct r53_zone *z, const struct zparse_rr *rr, struct p53_err *err)
{
	uint8_t owner[P53_NAME_MAX];
	memcpy(owner, rr->owner, rr->owner_len);
	name_lower(owner, rr->owner_len);
	if (!name_is_below_or_at(owner, rr->owner_len, z->apex, z->apex_len)) {
		char on[1024];
		name_to_text(owner, on, sizeof(on));
		return p53_err_at(err, P53_EINVAL, rr->file, rr->line, "%s is outside the zone",
				  on);
	}
	struct r53_set *s = NULL;
	/* Zone files usually keep a set's records together: look back a little
	 * before searching everything. */
	for (size_t i = z->nsets; i-- > 0;) {
		struct r53_set *c = z->sets[i];
		if (c->policy == R53_PLAIN && c->type == rr->type && c->name_len == rr->owner_len &&
		    memcmp(c->name, owner, rr->owner_len) == 0) {
			s = c;
			break;
		}
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL || push_set(&z->sets, &z->nsets, &z->cap, s) != 0) {
			free(s);
			return p53_err_set(err, P53_ENOMEM, "out of memory");
		}
		memcpy(s->name, owner, rr->owner_len);
		s->name_len = rr->owner_len;
		s->type = rr->type;
		s->policy = R53_PLAIN;
		s->weight = -1;
		s->multivalue = -1;
		s->has_ttl = true;
		s->ttl = rr->ttl;
	}
	if (rr->ttl < s->ttl)
		s->ttl = rr->ttl; /* RFC 2181 5.2 */
	if (add_value(s, rr->rdata, rr->rdlen) != 0)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	qsort(s->vals, s->nvals, sizeof(*s->vals), val_cmp);
	return 0;
}

/* ---- DomainNameFormat ------------------------------------------------ */

int r53_octal_to_zone(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (o + 5 >= cap)
			return -1;
		if (in[i] != '\\') {
			out[o++] = in[i];
			continue;
		}
		if (i + 1 >= len)
			return -1;
		bool digits = i + 3 < len && in[i + 1] >= '0' && in[i + 1] <= '9' &&
			      in[i + 2] >= '0' && in[i + 2] <= '9' && in[i + 3] >= '0' &&
			      in[i + 3] <= '9';
		if (!digits) {
			/* "\X" means X in both notations. */
			out[o++] = in[i];
			out[o++] = in[++i];
			continue;
		}
		unsigned v = 0;
		for (int k = 1; k <= 3; k++) {
			if (in[i + k] > '7')
				return -1; /* 8 and 9 are no octal digits */
			v = v * 8 + (unsigned)(in[i + k] - '0');
		}
		if (v > 255)
			return -1;
		o += (size_t)snprintf(out + o, cap - o, "\\%03u", v);
		i += 3;
	}
	if (o >= cap)
		return -1;
	out[o] = 0;
	return (int)o;
}

int r53_zone_to_octal(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; in[i]; i++) {
		if (o + 5 >= cap)
			return -1;
		if (in[i] == '\\' && isdigit((unsigned char)in[i + 1]) &&
		    isdigit((unsigned char)in[i + 2]) && isdigit((unsigned char)in[i + 3])) {
			unsigned v = (unsigned)((in[i + 1] - '0') * 100 + (in[i + 2] - '0') * 10 +
						(in[i + 3] - '0'));
			o += (size_t)snprintf(out + o, cap - o, "\\%03o", v & 0xff);
			i += 3;
			continue;
		}
		if (in[i] == '\\' && in[i + 1]) {
			out[o++] = in[i++];
			out[o++] = in[i];
			continue;
		}
		out[o++] = in[i];
	}
	if (o >= cap)
		return -1;
	out[o] = 0;
	return (int)o;
}

int r53_name_text(const uint8_t *wire, char *out, size_t cap)
{
	size_t o = 0;
	if (*wire == 0) {
		if (cap < 2)
			return -1;
		out[0] = '.';
		out[1] = 0;
		return 1;
	}
	for (const uint8_t *p = wire; *p; p += *p + 1) {
		for (unsigned k = 1; k <= *p; k++) {
			unsigned char ch = (unsigned char)tolower(p[k]);
			if (o + 6 >= cap)
				return -1;
			if (isalnum(ch) || ch == '-' || ch == '_')
				out[o++] = (char)ch;
			else
				o += (size_t)snprintf(out + o, cap - o, "\\%03o", ch);
		}
		out[o++] = '.';
	}
	out[o] = 0;
	return (int)o;
}

/* ---- JSON → set ------------------------------------------------------- */

static bool allowed_type(uint16_t t)
{
	static const uint16_t ok[] = {RR_SOA,	RR_A,	 RR_TXT,   RR_NS,   RR_CNAME, RR_MX,
				      RR_NAPTR, RR_PTR,	 RR_SRV,   RR_SPF,  RR_AAAA,  RR_CAA,
				      RR_DS,	RR_TLSA, RR_SSHFP, RR_SVCB, RR_HTTPS};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (ok[i] == t)
			return true;
	return false;
}

static bool multivalue_type(uint16_t t)
{
	static const uint16_t ok[] = {RR_A,   RR_AAAA, RR_MX,	RR_NAPTR, RR_PTR,  RR_SPF,  RR_SRV,
				      RR_TXT, RR_CAA,  RR_TLSA, RR_SSHFP, RR_SVCB, RR_HTTPS};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (ok[i] == t)
			return true;
	return false;
}

/* ISO 3166-1 alpha-2, as Route 53's GeoLocation takes them, and the US
 * states and DC for SubdivisionCode; one string each, codes at every third
 * character, so a lookup is a bounded scan. */
static const char iso_countries[] =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR "
    "BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ "
    "EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW "
    "GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY "
    "KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV "
    "MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY "
    "QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG "
    "TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM "
    "ZW";
static const char us_states[] =
    "AK AL AR AZ CA CO CT DC DE FL GA HI IA ID IL IN KS KY LA MA MD ME MI MN MO MS MT NC ND NE NH "
    "NJ NM NV NY OH OK OR PA RI SC SD TN TX UT VA VT WA WI WV WY";

static bool code_in(const char *list, const char *code)
{
	if (strlen(code) != 2)
		return false;
	for (const char *p = list; *p; p += p[2] ? 3 : 2)
		if (p[0] == code[0] && p[1] == code[1])
			return true;
	return false;
}

static bool valid_continent(const char *c)
{
	static const char *const k[] = {"AF", "AN", "AS", "EU", "OC", "NA", "SA"};
	for (size_t i = 0; i < 7; i++)
		if (strcmp(c, k[i]) == 0)
			return true;
	return false;
}

/* Decimal degrees "49.2" to micro-degrees, within +-limit. */
static bool parse_deg(const char *t, int limit, int32_t *out)
{
	char *end;
	double d = strtod(t, &end);
	if (end == t || *end || !(d >= -limit && d <= limit))
		return false;
	*out = (int32_t)(d * 1e6 + (d < 0 ? -0.5 : 0.5));
	return true;
}

static char *dup_str(json_t *v)
{
	return strdup(json_string_value(v));
}

/* Message context while one set is read; the set's identity is filled in as
 * soon as it is known, so every later rule can name it. */
struct rd_ctx {
	const char *file;
	const struct r53_zone *z;
	struct p53_err *err;
	const char *where; /* "file: JSON path" of the set being read */
	unsigned nest;	   /* P53NestedRule levels above the set being read */
};

#define FAIL(rule)		 return set_fail(c->err, c->file, s, rule)
#define FAILF(field, code, rule) return set_fail_at(c->err, c->file, s, field, code, rule)

static const char *const set_keys[] = {"Name",
				       "Type",
				       "SetIdentifier",
				       "Weight",
				       "Region",
				       "GeoLocation",
				       "GeoProximityLocation",
				       "Failover",
				       "MultiValueAnswer",
				       "TTL",
				       "ResourceRecords",
				       "AliasTarget",
				       "HealthCheckId",
				       "TrafficPolicyInstanceId",
				       "CidrRoutingConfig",
				       "P53NestedRule",
				       NULL};
static const char *const geo_keys[] = {"ContinentCode", "CountryCode", "SubdivisionCode", NULL};
static const char *const gp_keys[] = {"AWSRegion", "LocalZoneGroup", "Coordinates", "Bias", NULL};
static const char *const coord_keys[] = {"Latitude", "Longitude", NULL};
static const char *const alias_keys[] = {"HostedZoneId", "DNSName", "EvaluateTargetHealth", NULL};
static const char *const cidr_cfg_keys[] = {"CollectionId", "LocationName", NULL};
static const char *const value_keys[] = {"Value", NULL};

/* Unknown keys of one object inside a set: a typo such as "HealthCheckID"
 * would otherwise drop the field silently. */
static int set_keys_ok(struct rd_ctx *c, struct r53_set *s, json_t *o, const char *const *keys,
		       const char *field)
{
	const char *k;
	json_t *v;
	if (!json_is_object(o))
		return 0;
	json_object_foreach(o, k, v)
	{
		size_t i = 0;
		while (keys[i] && strcmp(keys[i], k) != 0)
			i++;
		if (keys[i] == NULL) {
			char f[200], rule[200];
			snprintf(f, sizeof(f), "%s%s%.80s", field, *field ? "." : "", k);
			snprintf(rule, sizeof(rule), "unknown key \"%.80s\"", k);
			return set_fail_at(c->err, c->file, s, f, "InvalidInput", rule);
		}
	}
	return 0;
}

static int read_geo(struct rd_ctx *c, struct r53_set *s, json_t *g)
{
	if (!json_is_object(g))
		FAIL("GeoLocation must be an object");
	int krc = set_keys_ok(c, s, g, geo_keys, "GeoLocation");
	if (krc)
		return krc;
	json_t *cc = json_object_get(g, "ContinentCode"), *co = json_object_get(g, "CountryCode"),
	       *sd = json_object_get(g, "SubdivisionCode");
	if ((cc && !json_is_string(cc)) || (co && !json_is_string(co)) ||
	    (sd && !json_is_string(sd)))
		FAIL("GeoLocation codes must be strings");
	if (cc && co)
		FAIL("GeoLocation: ContinentCode together with CountryCode is invalid");
	if (!cc && !co)
		FAIL("GeoLocation needs a ContinentCode or a CountryCode");
	s->has_geo = true;
	if (cc) {
		if (sd)
			FAIL("GeoLocation: SubdivisionCode requires CountryCode US");
		if (!valid_continent(json_string_value(cc)))
			FAILF("GeoLocation.ContinentCode", "InvalidInput",
			      "GeoLocation: ContinentCode must be one of AF AN AS EU OC NA SA");
		strcpy(s->continent, json_string_value(cc));
		s->geo_level = GEO_CONTINENT;
		return 0;
	}
	const char *ct = json_string_value(co);
	if (strcmp(ct, "*") == 0) {
		if (sd)
			FAIL("GeoLocation: SubdivisionCode requires CountryCode US");
		strcpy(s->country, "*");
		s->geo_level = GEO_DEFAULT;
		return 0;
	}
	if (!code_in(iso_countries, ct))
		FAILF("GeoLocation.CountryCode", "InvalidInput",
		      "GeoLocation: CountryCode must be an ISO 3166-1 alpha-2 code or *");
	strcpy(s->country, ct);
	s->geo_level = GEO_COUNTRY;
	if (sd) {
		const char *st = json_string_value(sd);
		if (strcmp(ct, "US") != 0)
			FAIL("GeoLocation: SubdivisionCode requires CountryCode US");
		if (!code_in(us_states, st))
			FAILF("GeoLocation.SubdivisionCode", "InvalidInput",
			      "GeoLocation: SubdivisionCode must be a US state code (or DC)");
		strcpy(s->subdiv, st);
		s->geo_level = GEO_SUBDIV;
	}
	return 0;
}

static int read_geoprox(struct rd_ctx *c, struct r53_set *s, json_t *g)
{
	if (!json_is_object(g))
		FAIL("GeoProximityLocation must be an object");
	int krc = set_keys_ok(c, s, g, gp_keys, "GeoProximityLocation");
	if (krc == 0)
		krc = set_keys_ok(c, s, json_object_get(g, "Coordinates"), coord_keys,
				  "GeoProximityLocation.Coordinates");
	if (krc)
		return krc;
	json_t *reg = json_object_get(g, "AWSRegion"), *lzg = json_object_get(g, "LocalZoneGroup"),
	       *co = json_object_get(g, "Coordinates"), *bias = json_object_get(g, "Bias");
	if (!!reg + !!lzg + !!co != 1)
		FAIL("GeoProximityLocation needs exactly one of AWSRegion, LocalZoneGroup, "
		     "Coordinates");
	s->has_gp = true;
	if (reg) {
		double la, lo;
		if (!json_is_string(reg) || !r53_region_coords(json_string_value(reg), &la, &lo))
			FAIL("GeoProximityLocation: unknown AWSRegion");
		s->gp_region = dup_str(reg);
	} else if (lzg) {
		/* A Local Zone group is placed at its parent region: the name
		 * starts with the region ("us-west-2-lax-1"). */
		if (!json_is_string(lzg))
			FAIL("GeoProximityLocation: LocalZoneGroup must be a string");
		char pr[64];
		snprintf(pr, sizeof(pr), "%s", json_string_value(lzg));
		double la, lo;
		bool ok = false;
		for (char *d = pr + strlen(pr); d > pr && !ok; d--)
			if (*d == '-' || *d == 0) {
				*d = 0;
				ok = r53_region_coords(pr, &la, &lo);
			}
		if (!ok)
			FAIL("GeoProximityLocation: LocalZoneGroup of an unknown region");
		s->gp_lzg = dup_str(lzg);
	} else {
		json_t *la = json_object_get(co, "Latitude"),
		       *lo = json_object_get(co, "Longitude");
		if (!json_is_object(co) || !json_is_string(la) || !json_is_string(lo))
			FAIL("GeoProximityLocation: Coordinates need Latitude and Longitude "
			     "strings");
		if (!parse_deg(json_string_value(la), 90, &s->lat_e6))
			FAIL("GeoProximityLocation: Latitude must be -90..90");
		if (!parse_deg(json_string_value(lo), 180, &s->lon_e6))
			FAIL("GeoProximityLocation: Longitude must be -180..180");
		s->gp_coords = true;
	}
	if (bias) {
		if (!json_is_integer(bias) || json_integer_value(bias) < -99 ||
		    json_integer_value(bias) > 99)
			FAIL("GeoProximityLocation: Bias must be an integer -99..99");
		s->bias = (int)json_integer_value(bias);
	}
	return 0;
}

static int read_values(struct rd_ctx *c, struct r53_set *s, json_t *rr)
{
	if (!json_is_array(rr))
		FAIL("ResourceRecords must be an array");
	if (json_array_size(rr) == 0)
		FAIL("ResourceRecords must hold at least one value");
	if (json_array_size(rr) > R53_VALUES_MAX)
		FAIL("more than 400 values in one record");
	if (json_array_size(rr) > 1 && (s->type == RR_CNAME || s->type == RR_SOA))
		FAIL("a CNAME or SOA record set holds exactly one value");
	size_t i;
	json_t *v;
	uint8_t wire[65535];
	char txt[R53_VALUE_CHARS * 2 + 16];
	json_array_foreach(rr, i, v)
	{
		json_t *val = json_object_get(v, "Value");
		char field[40];
		snprintf(field, sizeof(field), "ResourceRecords[%zu]", i);
		int krc = set_keys_ok(c, s, v, value_keys, field);
		if (krc)
			return krc;
		if (!json_is_string(val))
			FAIL("each ResourceRecords entry needs a string Value");
		const char *t = json_string_value(val);
		size_t tl = json_string_length(val);
		if (tl > R53_VALUE_CHARS)
			FAIL("a value is longer than 4000 characters");
		if (memchr(t, '\n', tl) || memchr(t, ';', tl) != NULL) {
			/* The zone-file lexer would read past the value. */
			if (s->type != RR_TXT && s->type != RR_SPF)
				FAIL("a value holds a newline or ';'");
		}
		/* Route 53 reads every name in a value as fully qualified, with
		 * or without its trailing dot, and "\\ooo" as octal: the value is
		 * read relative to the root after the escapes are rewritten. */
		if (r53_octal_to_zone(t, tl, txt, sizeof(txt)) < 0) {
			strcat(field, ".Value");
			FAILF(field, "InvalidChangeBatch",
			      "a backslash escape in the value is not \\ooo octal (000-377)");
		}
		struct p53_err e2 = {0};
		static const uint8_t root[1] = {0};
		int n = zparse_rdata(s->type, txt, strlen(txt), root, wire, sizeof(wire), &e2);
		if (n < 0) {
			char rule[1024];
			snprintf(rule, sizeof(rule), "bad value \"%.200s\": %.700s", t, e2.msg);
			FAIL(rule);
		}
		if (add_value(s, wire, (size_t)n) != 0)
			return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	}
	qsort(s->vals, s->nvals, sizeof(*s->vals), val_cmp);
	return 0;
}

/* Reads one ResourceRecordSet object into a new set (*out). */
static int check_group(const char *file, struct r53_set **g, size_t n, struct p53_err *err);
static int read_set(struct rd_ctx *c, json_t *o, struct r53_set **out);

/* A traffic-flow rule nested in another (P53NestedRule: the nested rule's
 * sets, as a traffic policy document compiles to them, docs/route53.md). */
static int read_nested(struct rd_ctx *c, struct r53_set *s, json_t *arr)
{
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return set_fail(c->err, c->file, s, "P53NestedRule must be a non-empty array");
	if (c->nest >= R53_NEST_MAX)
		return set_fail(c->err, c->file, s,
				"rules nested more than 4 levels deep (P53NestedRule)");
	s->sub = calloc(json_array_size(arr), sizeof(*s->sub));
	if (s->sub == NULL)
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	size_t i;
	json_t *o;
	int rc = 0;
	c->nest++;
	json_array_foreach(arr, i, o)
	{
		struct r53_set *k;
		if ((rc = read_set(c, o, &k)) != 0)
			break;
		s->sub[s->nsub++] = k;
		if (k->name_len != s->name_len || memcmp(k->name, s->name, s->name_len) ||
		    k->type != s->type) {
			rc = set_fail(c->err, c->file, k,
				      "a nested rule's records have the name and type of the "
				      "record that holds them");
			break;
		}
		if (k->policy == R53_PLAIN || k->policy == POL_SIMPLE) {
			rc = set_fail(c->err, c->file, k,
				      "a nested rule's records need a routing policy");
			break;
		}
	}
	c->nest--;
	if (rc == 0)
		rc = check_group(c->file, s->sub, s->nsub, c->err);
	return rc;
}

static int read_set(struct rd_ctx *c, json_t *o, struct r53_set **out)
{
	struct r53_set *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	s->policy = R53_PLAIN;
	s->weight = -1;
	s->multivalue = -1;
	s->name_len = 1; /* root until the name is read, for messages */
	int rc = 0;
#undef FAIL
#undef FAILF
#define FAIL(rule)                                                                                 \
	do {                                                                                       \
		rc = set_fail(c->err, c->file, s, rule);                                           \
		goto out;                                                                          \
	} while (0)
#define FAILF(field, code, rule)                                                                   \
	do {                                                                                       \
		rc = set_fail_at(c->err, c->file, s, field, code, rule);                           \
		goto out;                                                                          \
	} while (0)
	if (c->where)
		s->where = strdup(c->where);
	if (!json_is_object(o))
		FAIL("a ResourceRecordSet must be an object");
	json_t *name = json_object_get(o, "Name"), *type = json_object_get(o, "Type"),
	       *sid = json_object_get(o, "SetIdentifier");
	bool type_case = true;
	if (json_is_string(type)) {
		const char *t = json_string_value(type);
		char tb[12];
		s->type = rrtype_from_text(t, strlen(t));
		/* Route 53 takes the upper-case names only. */
		type_case = s->type == 0 || strcmp(rrtype_to_text(s->type, tb), t) == 0;
	}
	if (sid && json_is_string(sid))
		s->setid = dup_str(sid);
	if (!json_is_string(name))
		FAIL("Name is required");
	const char *nt = json_string_value(name);
	size_t nl = json_string_length(name);
	if (nl == 0 || nl > R53_NAME_CHARS)
		FAIL("Name must be 1-1024 characters");
	const char *why = "bad name";
	char abs[R53_NAME_CHARS * 2 + 2];
	int nal = r53_octal_to_zone(nt, nl, abs, sizeof(abs) - 1);
	if (nal < 0)
		FAILF("Name", "InvalidInput",
		      "Name: a backslash escape is not \\ooo octal (000-377)");
	if (nal == 0 || abs[nal - 1] != '.' || (nal > 1 && abs[nal - 2] == '\\'))
		strcat(abs, "."); /* the trailing dot is optional */
	int wl = name_from_text(abs, strlen(abs), NULL, s->name, &why);
	if (wl < 0) {
		s->name_len = 1;
		s->name[0] = 0;
		char rule[300];
		snprintf(rule, sizeof(rule), "Name \"%.200s\": %s", nt, why);
		FAIL(rule);
	}
	s->name_len = (size_t)wl;
	name_lower(s->name, s->name_len);
	if ((rc = set_keys_ok(c, s, o, set_keys, "")) != 0)
		goto out;
	if (!json_is_string(type))
		FAIL("Type is required");
	if (!type_case)
		FAILF("Type", "InvalidInput",
		      "Type must be written in upper case (e.g. A, AAAA, MX)");
	if (s->type == RR_DNSKEY)
		FAIL("Type DNSKEY is created by signing, not by users");
	if (s->type == 0 || !allowed_type(s->type))
		FAILF("Type", "InvalidInput",
		      "Type must be one of SOA A TXT NS CNAME MX NAPTR PTR SRV SPF AAAA CAA DS "
		      "TLSA SSHFP SVCB HTTPS");
	if (!name_is_below_or_at(s->name, s->name_len, c->z->apex, c->z->apex_len))
		FAIL("Name is not in this hosted zone");
	if (s->name[0] == 1 && s->name[1] == '*' && s->type == RR_NS)
		FAIL("NS records cannot be wildcards");
	if (sid) {
		if (!json_is_string(sid) || json_string_length(sid) < 1 ||
		    json_string_length(sid) > R53_SETID_MAX)
			FAIL("SetIdentifier must be 1-128 characters");
	}
	json_t *v;
	int npol = 0;
	if ((v = json_object_get(o, "Weight"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255)
			FAIL("Weight must be an integer 0-255");
		s->weight = (int)json_integer_value(v);
		s->policy = POL_WEIGHTED;
		npol++;
	}
	if ((v = json_object_get(o, "Region"))) {
		double la, lo;
		if (!json_is_string(v) || !r53_region_coords(json_string_value(v), &la, &lo))
			FAIL("Region must name an AWS region");
		s->region = dup_str(v);
		s->policy = POL_LATENCY;
		npol++;
	}
	if ((v = json_object_get(o, "GeoLocation"))) {
		if ((rc = read_geo(c, s, v)) != 0)
			goto out;
		s->policy = POL_GEO;
		npol++;
	}
	if ((v = json_object_get(o, "GeoProximityLocation"))) {
		if ((rc = read_geoprox(c, s, v)) != 0)
			goto out;
		s->policy = POL_GEOPROX;
		npol++;
	}
	if ((v = json_object_get(o, "Failover"))) {
		const char *f = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(f, "PRIMARY") == 0)
			s->failover = 1;
		else if (strcmp(f, "SECONDARY") == 0)
			s->failover = 2;
		else
			FAIL("Failover must be PRIMARY or SECONDARY");
		s->policy = POL_FAILOVER;
		npol++;
	}
	if ((v = json_object_get(o, "MultiValueAnswer"))) {
		if (!json_is_boolean(v))
			FAIL("MultiValueAnswer must be a boolean");
		s->multivalue = json_is_true(v);
		s->policy = POL_MULTIVALUE;
		npol++;
	}
	if ((v = json_object_get(o, "CidrRoutingConfig"))) {
		json_t *ci = json_object_get(v, "CollectionId"),
		       *ln = json_object_get(v, "LocationName");
		if (!json_is_object(v) || !json_is_string(ci) || !json_is_string(ln))
			FAIL("CidrRoutingConfig needs CollectionId and LocationName");
		if ((rc = set_keys_ok(c, s, v, cidr_cfg_keys, "CidrRoutingConfig")) != 0)
			goto out;
		if (json_string_length(ln) < 1 || json_string_length(ln) > 16)
			FAIL("CidrRoutingConfig: LocationName must be 1-16 characters");
		s->cidr_coll = dup_str(ci);
		s->cidr_loc = dup_str(ln);
		s->policy = POL_CIDR;
		npol++;
	}
	if (npol > 1)
		FAIL("more than one routing policy in one record set");
	if ((v = json_object_get(o, "HealthCheckId"))) {
		if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > 64)
			FAIL("HealthCheckId must be a string of 1-64 characters");
		s->health = dup_str(v);
	}
	json_t *ttl = json_object_get(o, "TTL"), *rrs = json_object_get(o, "ResourceRecords"),
	       *al = json_object_get(o, "AliasTarget"), *nr = json_object_get(o, "P53NestedRule");
	if (ttl) {
		if (!json_is_integer(ttl) || json_integer_value(ttl) < 0 ||
		    json_integer_value(ttl) > 2147483647)
			FAIL("TTL must be an integer 0..2147483647");
		s->has_ttl = true;
		s->ttl = (uint32_t)json_integer_value(ttl);
	}
	if (nr) {
		if (ttl || rrs || al)
			FAIL("a record holding a nested rule has no TTL, ResourceRecords or "
			     "AliasTarget");
		if (s->policy == R53_PLAIN || s->policy == POL_MULTIVALUE)
			FAIL("a nested rule sits in a failover, geo, latency, geoproximity or "
			     "weighted rule");
		if ((rc = read_nested(c, s, nr)) != 0)
			goto out;
	} else if (al) {
		if (ttl)
			FAIL("an alias record has no TTL");
		if (rrs)
			FAIL("an alias record has no ResourceRecords");
		json_t *hz = json_object_get(al, "HostedZoneId"),
		       *dn = json_object_get(al, "DNSName"),
		       *et = json_object_get(al, "EvaluateTargetHealth");
		if (!json_is_object(al) || !json_is_string(hz) || !json_is_string(dn) ||
		    !json_is_boolean(et))
			FAIL("AliasTarget needs HostedZoneId, DNSName and EvaluateTargetHealth");
		if ((rc = set_keys_ok(c, s, al, alias_keys, "AliasTarget")) != 0)
			goto out;
		if (s->type == RR_NS || s->type == RR_SOA)
			FAIL("an alias cannot have type NS or SOA");
		char t[R53_NAME_CHARS * 2 + 2];
		int tl = r53_octal_to_zone(json_string_value(dn), json_string_length(dn), t,
					   sizeof(t) - 1);
		if (tl < 0)
			FAILF("AliasTarget.DNSName", "InvalidInput",
			      "AliasTarget DNSName: a backslash escape is not \\ooo octal");
		if (tl == 0 || t[tl - 1] != '.' || (tl > 1 && t[tl - 2] == '\\'))
			strcat(t, ".");
		int n = name_from_text(t, strlen(t), NULL, s->target, &why);
		if (n < 0)
			FAILF("AliasTarget.DNSName", "InvalidInput",
			      "AliasTarget DNSName is not a valid name");
		s->target_len = (size_t)n;
		name_lower(s->target, s->target_len);
		/* Outside the zone: an AWS resource (CloudFront, ELB, S3 website,
		 * API Gateway, ...), served from the operator's alias map once
		 * every input is read (r53_zone_resolve_ext). */
		s->ext = !name_is_below_or_at(s->target, s->target_len, c->z->apex, c->z->apex_len);
		s->alias = true;
		s->alias_zone = dup_str(hz);
		s->eval_target = json_is_true(et);
		if (s->policy == POL_MULTIVALUE)
			FAIL("a multivalue answer record cannot be an alias");
		if (s->policy == POL_FAILOVER && !s->eval_target)
			FAIL("a failover alias needs EvaluateTargetHealth true");
		if (s->policy == R53_PLAIN)
			s->policy = POL_SIMPLE;
	} else {
		if (!ttl)
			FAIL("TTL is required (except for alias records)");
		if (!rrs)
			FAIL("ResourceRecords are required (except for alias records)");
		if ((rc = read_values(c, s, rrs)) != 0)
			goto out;
	}
	bool routed = s->policy != R53_PLAIN && s->policy != POL_SIMPLE;
	if (routed && !s->setid) {
		char rule[128];
		snprintf(rule, sizeof(rule), "SetIdentifier is required for a %s record",
			 pol_name(s->policy));
		FAIL(rule);
	}
	if (!routed && s->setid)
		FAIL("a record with a SetIdentifier needs a routing policy (a weighted set needs "
		     "a Weight on every member)");
	if (s->policy == POL_MULTIVALUE && !multivalue_type(s->type))
		FAIL("multivalue answer is not allowed for this type");
	if (s->policy == POL_MULTIVALUE && s->multivalue != 1)
		FAIL("MultiValueAnswer must be true for a multivalue answer record");
	if (routed && (s->type == RR_NS || s->type == RR_SOA))
		FAIL("NS and SOA records cannot have a routing policy");
#undef FAIL
out:
	if (rc) {
		set_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* ---- group rules ------------------------------------------------------ */

/* Rules over one name+type: all sets sharing it, given as an array. */
static int check_group(const char *file, struct r53_set **g, size_t n, struct p53_err *err)
{
	struct r53_set *s = g[0];
	size_t nprim = 0, nsec = 0;
	int limit = s->policy == POL_GEOPROX ? R53_GEOPROX_MAX : R53_GROUP_MAX;
	for (size_t i = 0; i < n; i++) {
		s = g[i];
		if (s->policy != g[0]->policy)
			return set_fail(err, file, s,
					"routing policies cannot be mixed within one name and "
					"type");
		for (size_t k = 0; k < i; k++) {
			const struct r53_set *o = g[k];
			if (str_eq(o->setid, s->setid))
				return set_fail(err, file, s,
						s->setid ? "SetIdentifier must be unique within "
							   "the name and type"
							 : "a record set with this name and type "
							   "already exists");
			if (s->policy == POL_LATENCY && strcmp(o->region, s->region) == 0)
				return set_fail(err, file, s,
						"only one latency record per region per name and "
						"type");
			if (s->policy == POL_GEO && strcmp(o->continent, s->continent) == 0 &&
			    strcmp(o->country, s->country) == 0 &&
			    strcmp(o->subdiv, s->subdiv) == 0)
				return set_fail(err, file, s,
						"two geolocation records name the same location");
			if (s->policy == POL_CIDR && strcmp(o->cidr_loc, s->cidr_loc) == 0)
				return set_fail(err, file, s,
						"two CIDR records name the same location");
			if (s->policy == POL_CIDR && strcmp(o->cidr_coll, s->cidr_coll) != 0)
				return set_fail(err, file, s,
						"CIDR records of one name and type must use one "
						"collection");
			if (s->policy == POL_WEIGHTED && !s->alias && !o->alias && !s->nsub &&
			    !o->nsub && s->ttl != o->ttl)
				return set_fail(err, file, s,
						"every record of a weighted set must have the same "
						"TTL");
		}
		nprim += s->failover == 1;
		nsec += s->failover == 2;
		if (nprim > 1 || nsec > 1)
			return set_fail(err, file, s,
					"a failover set holds one PRIMARY and one SECONDARY");
		if ((int)i >= limit)
			return set_fail(err, file, s,
					"too many records in one policy group (100; 30 for "
					"geoproximity)");
	}
	return 0;
}

static int key_cmp(const void *x, const void *y)
{
	const struct r53_set *a = *(struct r53_set *const *)x, *b = *(struct r53_set *const *)y;
	int c = name_cmp_canonical(a->name, b->name);
	if (c)
		return c;
	return (a->type > b->type) - (a->type < b->type);
}

/* Sorts by name and type and checks every group and the node rules. */
static int check_sets(const char *file, const struct r53_zone *z, struct r53_set **sets, size_t n,
		      struct p53_err *err)
{
	qsort(sets, n, sizeof(*sets), key_cmp);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && key_cmp(&sets[i], &sets[j]) == 0)
			j++;
		int rc = check_group(file, sets + i, j - i, err);
		if (rc)
			return rc;
		i = j;
	}
	/* Per name: CNAME rules. */
	for (size_t i = 0; i < n;) {
		size_t j = i;
		bool cname = false, other = false;
		const struct r53_set *cn = NULL;
		while (j < n && name_cmp_canonical(sets[i]->name, sets[j]->name) == 0) {
			if (sets[j]->type == RR_CNAME) {
				cname = true;
				cn = sets[j];
			} else {
				other = true;
			}
			j++;
		}
		if (cname && sets[i]->name_len == z->apex_len &&
		    memcmp(sets[i]->name, z->apex, z->apex_len) == 0)
			return set_fail(err, file, cn, "a CNAME cannot be at the zone apex");
		if (cname && other)
			return set_fail(err, file, cn,
					"a CNAME cannot share its name with other records");
		i = j;
	}
	return 0;
}

static const struct r53_set *find_type(struct r53_set *const *sets, size_t n, const uint8_t *name,
				       size_t len, uint16_t type)
{
	for (size_t i = 0; i < n; i++)
		if (sets[i]->name_len == len && memcmp(sets[i]->name, name, len) == 0 &&
		    (type == 0 || sets[i]->type == type))
			return sets[i];
	return NULL;
}

/* Alias rules that need the whole zone; sub are the sets to check (the
 * zone's, or a nested rule's), sets the zone's. */
static int check_aliases(const char *file, const struct r53_zone *z, struct r53_set *const *sets,
			 size_t n, struct r53_set *const *sub, size_t nsub, struct p53_err *err)
{
	for (size_t i = 0; i < nsub; i++) {
		const struct r53_set *s = sub[i];
		if (s->nsub) {
			int rc = check_aliases(file, z, sets, n, s->sub, s->nsub, err);
			if (rc)
				return rc;
		}
		if (!s->alias || s->ext)
			continue;
		bool apex =
		    s->name_len == z->apex_len && memcmp(s->name, z->apex, z->apex_len) == 0;
		if (apex && find_type(sets, n, s->target, s->target_len, RR_CNAME))
			return set_fail(err, file, s,
					"an alias at the zone apex cannot point at a "
					"CNAME");
		if (!find_type(sets, n, s->target, s->target_len, s->type))
			return set_fail(err, file, s,
					"AliasTarget: no record set of this type at DNSName in "
					"this zone");
		if (s->target_len == s->name_len && memcmp(s->target, s->name, s->name_len) == 0)
			return set_fail(err, file, s, "an alias cannot point at itself");
	}
	return 0;
}

int r53_zone_validate(const struct r53_zone *z, const char *file, struct p53_err *err)
{
	struct r53_set **tmp = malloc((z->nsets ? z->nsets : 1) * sizeof(*tmp));
	if (tmp == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	if (z->nsets)
		memcpy(tmp, z->sets, z->nsets * sizeof(*tmp));
	int rc = check_sets(file, z, tmp, z->nsets, err);
	if (rc == 0)
		rc = check_aliases(file, z, tmp, z->nsets, tmp, z->nsets, err);
	free(tmp);
	return rc;
}

static int check_refs(const struct r53_zone *z, struct r53_set *const *sets, size_t n,
		      struct p53_err *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct r53_set *s = sets[i];
		if (s->nsub) {
			int rc = check_refs(z, s->sub, s->nsub, err);
			if (rc)
				return rc;
		}
		const char *f = s->where ? s->where : "";
		if (s->health && !r53_hc_find(&z->hcs, s->health)) {
			char rule[160];
			snprintf(rule, sizeof(rule),
				 "no health check with Id %.64s (define it in HealthChecks, or "
				 "compile --health-checks FILE)",
				 s->health);
			return set_fail_at(err, f, s, "HealthCheckId", "NoSuchHealthCheck", rule);
		}
		if (!s->cidr_coll)
			continue;
		bool coll = false, loc = strcmp(s->cidr_loc, "*") == 0;
		for (size_t k = 0; k < z->ncidr; k++)
			if (strcmp(z->cidr[k].coll, s->cidr_coll) == 0) {
				coll = true;
				loc = loc || strcmp(z->cidr[k].loc, s->cidr_loc) == 0;
			}
		if (!coll)
			return set_fail_at(err, f, s, "CidrRoutingConfig.CollectionId",
					   "NoSuchCidrCollectionException",
					   "no CIDR collection with this CollectionId");
		if (!loc)
			return set_fail_at(err, f, s, "CidrRoutingConfig.LocationName",
					   "NoSuchCidrLocationException",
					   "the CIDR collection has no location of this name");
	}
	return 0;
}

int r53_zone_check_refs(const struct r53_zone *z, struct p53_err *err)
{
	int rc = r53_hc_finish(&z->hcs, "health checks", err);
	return rc ? rc : check_refs(z, z->sets, z->nsets, err);
}

/* ---- CIDR collections -------------------------------------------------- */

static int read_cidr(struct r53_zone *z, const char *file, json_t *cols, struct p53_err *err,
		     size_t *added)
{
	*added = 0;
	if (!json_is_array(cols))
		return p53_err_set(err, P53_EINVAL, "%s: CidrCollections must be an array", file);
	size_t i, k, m;
	json_t *col, *loc, *blk;
	static const char *const col_keys[] = {"Id", "Name", "Arn", "Version", "Locations", NULL};
	static const char *const loc_keys[] = {"LocationName", "CidrList", NULL};
	json_array_foreach(cols, i, col)
	{
		char path[80];
		snprintf(path, sizeof(path), "CidrCollections[%zu]", i);
		int rc = r53_check_keys(col, col_keys, file, path, err);
		if (rc)
			return rc;
		json_t *id = json_object_get(col, "Id"), *locs = json_object_get(col, "Locations");
		if (!json_is_string(id) || !json_is_array(locs))
			return p53_err_set(err, P53_EINVAL,
					   "%s: CidrCollections[%zu] needs Id and Locations", file,
					   i);
		json_array_foreach(locs, k, loc)
		{
			char lpath[120];
			snprintf(lpath, sizeof(lpath), "%s.Locations[%zu]", path, k);
			if ((rc = r53_check_keys(loc, loc_keys, file, lpath, err)) != 0)
				return rc;
			json_t *ln = json_object_get(loc, "LocationName"),
			       *cl = json_object_get(loc, "CidrList");
			if (!json_is_string(ln) || json_string_length(ln) < 1 ||
			    json_string_length(ln) > 16 ||
			    strcmp(json_string_value(ln), "*") == 0 || !json_is_array(cl))
				return p53_err_set(err, P53_EINVAL,
						   "%s: CIDR collection %s: each location needs a "
						   "LocationName of 1-16 characters (not *) and a "
						   "CidrList",
						   file, json_string_value(id));
			json_array_foreach(cl, m, blk)
			{
				const char *t = json_is_string(blk) ? json_string_value(blk) : "";
				char a[64];
				snprintf(a, sizeof(a), "%s", t);
				char *sl = strchr(a, '/');
				struct r53_cidr_block b = {0};
				long pl = -1;
				if (sl) {
					*sl = 0;
					pl = strtol(sl + 1, NULL, 10);
				}
				if (inet_pton(AF_INET, a, b.addr) == 1)
					b.family = 4;
				else if (inet_pton(AF_INET6, a, b.addr) == 1)
					b.family = 6;
				if (!b.family || !sl || pl < 1 || pl > (b.family == 4 ? 24 : 48))
					return p53_err_set(
					    err, P53_EINVAL,
					    "%s: CIDR collection %s location %s: \"%s\" must be "
					    "an IPv4 /1-/24 or IPv6 /1-/48 block",
					    file, json_string_value(id), json_string_value(ln), t);
				b.plen = (uint8_t)pl;
				for (unsigned bit = b.plen; bit < 128; bit++)
					b.addr[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
				b.coll = dup_str(id);
				b.loc = dup_str(ln);
				if (z->ncidr == z->capcidr) {
					size_t nc = z->capcidr ? z->capcidr * 2 : 64;
					void *p = realloc(z->cidr, nc * sizeof(*z->cidr));
					if (p == NULL)
						return p53_err_set(err, P53_ENOMEM,
								   "out of memory");
					z->cidr = p;
					z->capcidr = nc;
				}
				z->cidr[z->ncidr++] = b;
				(*added)++;
			}
		}
	}
	return 0;
}

/* ---- alias map: AWS resources ------------------------------------------ */

/* {"AliasMappings": [{"DNSName", "Type", "TTL", "ResourceRecords"}]}: what an
 * alias to a CloudFront distribution, load balancer, S3 website or API
 * endpoint answers, since port53 serves none of them. */
static int read_alias_map(struct r53_zone *z, const char *file, json_t *arr, struct p53_err *err)
{
	static const char *const keys[] = {"DNSName", "Type", "TTL", "ResourceRecords", NULL};
	char where[600];
	struct rd_ctx c = {.file = file, .z = z, .err = err, .where = where};
	if (!json_is_array(arr))
		return p53_err_set(err, P53_EINVAL,
				   "%s: AliasMappings: InvalidInput: expected an array", file);
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o)
	{
		snprintf(where, sizeof(where), "%s: AliasMappings[%zu]", file, i);
		struct r53_set *s = calloc(1, sizeof(*s));
		if (s == NULL)
			return p53_err_set(err, P53_ENOMEM, "out of memory");
		s->policy = R53_PLAIN;
		s->weight = -1;
		s->multivalue = -1;
		s->name_len = 1;
		s->where = strdup(where);
		int rc = set_keys_ok(&c, s, o, keys, "");
		json_t *dn = json_object_get(o, "DNSName"), *ty = json_object_get(o, "Type"),
		       *ttl = json_object_get(o, "TTL");
		char t[R53_NAME_CHARS * 2 + 2], tb[12];
		int tl = json_is_string(dn)
			     ? r53_octal_to_zone(json_string_value(dn), json_string_length(dn), t,
						 sizeof(t) - 1)
			     : -1;
		if (rc == 0 && tl <= 0)
			rc = set_fail_at(err, file, s, "DNSName", "InvalidInput",
					 "a mapping needs the resource's DNSName");
		if (rc == 0 && t[tl - 1] != '.')
			strcat(t, ".");
		int n = rc ? -1 : name_from_text(t, strlen(t), NULL, s->name, NULL);
		if (rc == 0 && n < 0)
			rc = set_fail_at(err, file, s, "DNSName", "InvalidInput",
					 "DNSName is not a valid name");
		if (rc == 0) {
			s->name_len = (size_t)n;
			name_lower(s->name, s->name_len);
			const char *tt = json_string_value(ty);
			s->type = tt ? rrtype_from_text(tt, strlen(tt)) : 0;
			if (s->type == 0 || strcmp(rrtype_to_text(s->type, tb), tt) != 0)
				rc = set_fail_at(err, file, s, "Type", "InvalidInput",
						 "Type must be a record type in upper case");
		}
		if (rc == 0 && (!json_is_integer(ttl) || json_integer_value(ttl) < 0 ||
				json_integer_value(ttl) > 2147483647))
			rc = set_fail_at(err, file, s, "TTL", "InvalidInput",
					 "TTL must be an integer 0..2147483647 (Route 53 uses the "
					 "resource's own TTL; say which)");
		if (rc == 0) {
			s->has_ttl = true;
			s->ttl = (uint32_t)json_integer_value(ttl);
			rc = read_values(&c, s, json_object_get(o, "ResourceRecords"));
		}
		for (size_t k = 0; rc == 0 && k < z->namap; k++)
			if (same_key(z->amap[k], s))
				rc = set_fail_at(err, file, s, "", "InvalidInput",
						 "this DNSName and Type are mapped twice");
		if (rc == 0 && push_set(&z->amap, &z->namap, &z->capamap, s) != 0)
			rc = p53_err_set(err, P53_ENOMEM, "out of memory");
		if (rc) {
			set_free(s);
			return rc;
		}
	}
	return 0;
}

static int resolve_ext(struct r53_zone *z, struct r53_set **sets, size_t n, struct p53_err *err)
{
	for (size_t i = 0; i < n; i++) {
		struct r53_set *s = sets[i];
		if (s->nsub) {
			int rc = resolve_ext(z, s->sub, s->nsub, err);
			if (rc)
				return rc;
		}
		if (!s->ext || s->nvals)
			continue;
		const struct r53_set *m = NULL;
		for (size_t k = 0; k < z->namap && !m; k++)
			if (z->amap[k]->type == s->type && z->amap[k]->name_len == s->target_len &&
			    memcmp(z->amap[k]->name, s->target, s->target_len) == 0)
				m = z->amap[k];
		if (m == NULL) {
			char tn[1024], tb[12], rule[1300];
			name_to_text(s->target, tn, sizeof(tn));
			snprintf(rule, sizeof(rule),
				 "alias to %s (type %s) outside the zone: no mapping for it in the "
				 "alias map (AliasMappings, or compile --alias-map FILE); port53 "
				 "serves no AWS resources",
				 tn, rrtype_to_text(s->type, tb));
			return set_fail_at(err, s->where ? s->where : "", s, "AliasTarget.DNSName",
					   "InvalidChangeBatch", rule);
		}
		s->vals = calloc(m->nvals, sizeof(*s->vals));
		if (s->vals == NULL)
			return p53_err_set(err, P53_ENOMEM, "out of memory");
		for (size_t v = 0; v < m->nvals; v++) {
			s->vals[v].rd = malloc(m->vals[v].len ? m->vals[v].len : 1);
			if (s->vals[v].rd == NULL)
				return p53_err_set(err, P53_ENOMEM, "out of memory");
			memcpy(s->vals[v].rd, m->vals[v].rd, m->vals[v].len);
			s->vals[v].len = m->vals[v].len;
			s->nvals++;
		}
		s->has_ttl = true;
		s->ttl = m->ttl;
	}
	return 0;
}

int r53_zone_resolve_ext(struct r53_zone *z, struct p53_err *err)
{
	return resolve_ext(z, z->sets, z->nsets, err);
}

int r53_zone_add_alias_map(struct r53_zone *z, const char *path, struct p53_err *err)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (root == NULL)
		return p53_err_at(err, P53_EINVAL, path, (unsigned)je.line, "JSON: %s", je.text);
	static const char *const keys[] = {"AliasMappings", NULL};
	int rc = r53_check_keys(root, keys, path, "", err);
	if (rc == 0)
		rc = read_alias_map(z, path, json_object_get(root, "AliasMappings"), err);
	json_decref(root);
	return rc;
}

/* ---- traffic flow: policy documents and policy records ------------------ */

/* One rule item (or the start endpoint) as a ResourceRecordSet object:
 * the endpoint's value, or an alias to an AWS resource for the other
 * endpoint types (served from the alias map). */
static json_t *tf_endpoint_set(json_t *doc, const char *ref, const char *name, json_int_t ttl,
			       const char **why)
{
	json_t *ep = json_object_get(json_object_get(doc, "Endpoints"), ref);
	const char *t = json_string_value(json_object_get(ep, "Type")),
		   *v = json_string_value(json_object_get(ep, "Value"));
	if (!json_is_object(ep) || !t || !v) {
		*why = "EndpointReference names no endpoint with a Type and a Value";
		return NULL;
	}
	json_t *s =
	    json_pack("{s:s,s:O}", "Name", name, "Type", json_object_get(doc, "RecordType"));
	if (strcmp(t, "value") == 0) {
		json_object_set_new(s, "TTL", json_integer(ttl));
		json_object_set_new(s, "ResourceRecords", json_pack("[{s:s}]", "Value", v));
	} else {
		json_object_set_new(s, "AliasTarget",
				    json_pack("{s:s,s:s,s:b}", "HostedZoneId", t, "DNSName", v,
					      "EvaluateTargetHealth", 1));
	}
	return s;
}

/* The sets of one rule, sr: one per item, each an endpoint's set or (for a
 * RuleReference) a set holding the nested rule's sets. path holds the rules
 * above, to refuse a rule that reaches itself. */
static json_t *tf_rule(json_t *doc, const char *sr, const char *name, json_int_t ttl,
		       const char *prefix, unsigned depth, const char **path, const char **why)
{
	json_t *out = json_array();
	json_t *rule = json_object_get(json_object_get(doc, "Rules"), sr);
	const char *rt = json_string_value(json_object_get(rule, "RuleType"));
	if (!json_is_object(rule) || !rt) {
		*why = depth ? "RuleReference names no rule with a RuleType"
			     : "StartRule names no rule with a RuleType";
		json_decref(out);
		return NULL;
	}
	for (unsigned d = 0; d < depth; d++)
		if (strcmp(path[d], sr) == 0) {
			*why = "a rule refers to itself through RuleReference";
			json_decref(out);
			return NULL;
		}
	if (depth > R53_NEST_MAX) {
		*why = "rules nested more than 4 levels below the start rule";
		json_decref(out);
		return NULL;
	}
	path[depth] = sr;
	json_t *items = json_array();
	if (strcmp(rt, "failover") == 0) {
		json_t *p = json_object_get(rule, "Primary"),
		       *q = json_object_get(rule, "Secondary");
		json_array_append(items, p ? p : json_null());
		json_array_append(items, q ? q : json_null());
	} else {
		const char *k = !strcmp(rt, "geo")	      ? "Locations"
				: !strcmp(rt, "latency")      ? "Regions"
				: !strcmp(rt, "geoproximity") ? "GeoproximityLocations"
				: !strcmp(rt, "multivalue") || !strcmp(rt, "weighted") ? "Items"
										       : NULL;
		if (k == NULL) {
			*why = "RuleType must be failover, geo, latency, geoproximity, multivalue "
			       "or weighted";
			goto fail;
		}
		json_t *a = json_object_get(rule, k);
		if (!json_is_array(a) || json_array_size(a) == 0) {
			*why = "the rule has no items";
			goto fail;
		}
		json_array_extend(items, a);
	}
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
	{
		const char *ep = json_string_value(json_object_get(it, "EndpointReference")),
			   *rr = json_string_value(json_object_get(it, "RuleReference"));
		if (!!ep == !!rr) {
			*why = "every item needs an EndpointReference or a RuleReference";
			goto fail;
		}
		if (rr && !strcmp(rt, "multivalue")) {
			*why = "a multivalue rule's items are endpoints, not rules";
			goto fail;
		}
		char sid[128];
		int n = snprintf(sid, sizeof(sid), "%s%s%s-%zu", prefix, *prefix ? "/" : "", rt, i);
		if (n < 0 || (size_t)n >= sizeof(sid)) {
			*why = "rule names nested too long for a set identifier";
			goto fail;
		}
		json_t *s;
		if (rr) {
			json_t *sub = tf_rule(doc, rr, name, ttl, sid, depth + 1, path, why);
			if (sub == NULL)
				goto fail;
			s = json_pack("{s:s,s:O,s:o}", "Name", name, "Type",
				      json_object_get(doc, "RecordType"), "P53NestedRule", sub);
		} else {
			s = tf_endpoint_set(doc, ep, name, ttl, why);
		}
		if (s == NULL)
			goto fail;
		json_object_set_new(s, "SetIdentifier", json_string(sid));
		json_t *hc = json_object_get(it, "HealthCheck"),
		       *et = json_object_get(it, "EvaluateTargetHealth");
		if (hc)
			json_object_set(s, "HealthCheckId", hc);
		json_t *al = json_object_get(s, "AliasTarget");
		if (al)
			json_object_set_new(al, "EvaluateTargetHealth",
					    json_boolean(et ? json_is_true(et) : true));
		if (!strcmp(rt, "failover")) {
			json_object_set_new(s, "Failover",
					    json_string(i ? "SECONDARY" : "PRIMARY"));
		} else if (!strcmp(rt, "weighted")) {
			json_t *w = json_object_get(it, "Weight");
			json_int_t wv = json_is_integer(w) ? json_integer_value(w)
					: json_is_string(w)
					    ? strtoll(json_string_value(w), NULL, 10)
					    : -1;
			json_object_set_new(s, "Weight", json_integer(wv));
		} else if (!strcmp(rt, "multivalue")) {
			json_object_set_new(s, "MultiValueAnswer", json_true());
		} else if (!strcmp(rt, "latency")) {
			json_object_set(s, "Region", json_object_get(it, "Region"));
		} else if (!strcmp(rt, "geo")) {
			json_t *g = json_object();
			if (json_is_true(json_object_get(it, "IsDefault")))
				json_object_set_new(g, "CountryCode", json_string("*"));
			json_t *v;
			if ((v = json_object_get(it, "Continent")))
				json_object_set(g, "ContinentCode", v);
			if ((v = json_object_get(it, "Country")))
				json_object_set(g, "CountryCode", v);
			if ((v = json_object_get(it, "Subdivision")))
				json_object_set(g, "SubdivisionCode", v);
			json_object_set_new(s, "GeoLocation", g);
		} else { /* geoproximity */
			json_t *g = json_object(), *v;
			const char *reg = json_string_value(json_object_get(it, "Region"));
			if (reg)
				json_object_set_new(
				    g, "AWSRegion",
				    json_string(strncmp(reg, "aws:route53:", 12) ? reg : reg + 12));
			if (json_object_get(it, "Latitude"))
				json_object_set_new(g, "Coordinates",
						    json_pack("{s:O,s:O}", "Latitude",
							      json_object_get(it, "Latitude"),
							      "Longitude",
							      json_object_get(it, "Longitude")));
			if ((v = json_object_get(it, "Bias")))
				json_object_set_new(
				    g, "Bias",
				    json_integer(json_is_string(v)
						     ? strtoll(json_string_value(v), NULL, 10)
						     : json_integer_value(v)));
			json_object_set_new(s, "GeoProximityLocation", g);
		}
		json_array_append_new(out, s);
	}
	json_decref(items);
	return out;
fail:
	json_decref(items);
	json_decref(out);
	return NULL;
}

/* The sets a policy record stands for: a start endpoint is one plain set; a
 * start rule is one policy group whose members are the rule's items, a
 * nested rule a member holding its own group (P53NestedRule). */
static json_t *tf_sets(json_t *doc, const char *name, json_int_t ttl, const char **why)
{
	const char *ver = json_string_value(json_object_get(doc, "AWSPolicyFormatVersion"));
	if (!ver || (strcmp(ver, "2015-10-01") && strcmp(ver, "2023-05-09"))) {
		*why = "AWSPolicyFormatVersion must be 2015-10-01 or 2023-05-09";
		return NULL;
	}
	if (!json_is_string(json_object_get(doc, "RecordType"))) {
		*why = "RecordType is required";
		return NULL;
	}
	const char *se = json_string_value(json_object_get(doc, "StartEndpoint")),
		   *sr = json_string_value(json_object_get(doc, "StartRule"));
	if (!!se == !!sr) {
		*why = "give exactly one of StartEndpoint and StartRule";
		return NULL;
	}
	json_t *out = json_array();
	if (se) {
		json_t *s = tf_endpoint_set(doc, se, name, ttl, why);
		if (s == NULL) {
			json_decref(out);
			return NULL;
		}
		json_array_append_new(out, s);
		return out;
	}
	json_decref(out);
	const char *path[R53_NEST_MAX + 2];
	return tf_rule(doc, sr, name, ttl, "", 0, path, why);
}

static const char *const tfpol_keys[] = {"Id",	     "Version", "Name", "Type",
					 "Document", "Comment", NULL};
static const char *const tfinst_keys[] = {"Id",
					  "HostedZoneId",
					  "Name",
					  "TTL",
					  "State",
					  "Message",
					  "TrafficPolicyId",
					  "TrafficPolicyVersion",
					  "TrafficPolicyType",
					  NULL};

/* The entries of root[many], and root[one] (the get-* shape), as one array. */
static json_t *tf_list(json_t *root, const char *many, const char *one)
{
	json_t *arr = json_array(), *l = json_object_get(root, many),
	       *o = json_object_get(root, one);
	if (o)
		json_array_append(arr, o);
	if (json_is_array(l))
		json_array_extend(arr, l);
	else if (l)
		json_array_append(arr, l); /* refused by the caller: not an array */
	return arr;
}

static json_t *tf_find_policy(json_t *pols, const char *id, json_int_t ver)
{
	size_t i;
	json_t *p;
	json_array_foreach(
	    pols, i, p) if (!strcmp(json_string_value(json_object_get(p, "Id")), id) &&
			    json_integer_value(json_object_get(p, "Version")) == ver) return p;
	return NULL;
}

/* Adds the policy versions of root (TrafficPolicies, as list-traffic-policy-
 * versions prints them, or TrafficPolicy, as get-traffic-policy does) to
 * pols in the form kept for export: Document a JSON string, as the API
 * gives it. The same version read twice must say the same. */
static int tf_read_policies(json_t *root, json_t *pols, const char *file, struct p53_err *err)
{
	json_t *arr = tf_list(root, "TrafficPolicies", "TrafficPolicy"), *p;
	bool one = json_object_get(root, "TrafficPolicy") != NULL;
	int rc = 0;
	size_t i;
	if (json_object_get(root, "TrafficPolicies") &&
	    !json_is_array(json_object_get(root, "TrafficPolicies")))
		rc = p53_err_set(err, P53_EINVAL,
				 "%s: TrafficPolicies: InvalidInput: an array expected", file);
	json_array_foreach(arr, i, p)
	{
		if (rc)
			break;
		char path[48];
		if (one && i == 0)
			snprintf(path, sizeof(path), "TrafficPolicy");
		else
			snprintf(path, sizeof(path), "TrafficPolicies[%zu]", i - one);
		if (!json_is_object(p)) {
			rc = p53_err_set(err, P53_EINVAL,
					 "%s: %s: InvalidInput: an object expected", file, path);
			break;
		}
		if ((rc = r53_check_keys(p, tfpol_keys, file, path, err)) != 0)
			break;
		const char *id = json_string_value(json_object_get(p, "Id"));
		json_t *ver = json_object_get(p, "Version"), *d = json_object_get(p, "Document");
		if (!id || !*id || strlen(id) > 36 || !json_is_integer(ver) ||
		    json_integer_value(ver) < 1 || !(json_is_string(d) || json_is_object(d))) {
			rc =
			    p53_err_set(err, P53_EINVAL,
					"%s: %s: InvalidInput: Id (1-36 characters), Version (1 or "
					"more) and Document (a JSON text or object) are required",
					file, path);
			break;
		}
		json_t *doc =
		    json_is_string(d) ? json_loads(json_string_value(d), 0, NULL) : json_incref(d);
		if (!json_is_object(doc)) {
			json_decref(doc);
			rc =
			    p53_err_set(err, P53_EINVAL,
					"%s: %s.Document: InvalidTrafficPolicyDocument: not a JSON "
					"object",
					file, path);
			break;
		}
		json_t *was = tf_find_policy(pols, id, json_integer_value(ver));
		if (was) {
			json_t *wd = json_loads(json_string_value(json_object_get(was, "Document")),
						0, NULL);
			bool same = json_equal(wd, doc);
			json_decref(wd);
			json_decref(doc);
			if (!same)
				rc = p53_err_set(
				    err, P53_EINVAL,
				    "%s: %s: TrafficPolicyAlreadyExists: traffic policy "
				    "%s version %lld was given before with another "
				    "Document",
				    file, path, id, (long long)json_integer_value(ver));
			continue;
		}
		json_t *k = json_pack("{s:s,s:O}", "Id", id, "Version", ver), *v;
		if ((v = json_object_get(p, "Name")))
			json_object_set(k, "Name", v);
		v = json_object_get(p, "Type");
		json_object_set(k, "Type", v ? v : json_object_get(doc, "RecordType"));
		if (json_is_string(d))
			json_object_set(k, "Document", d);
		else {
			char *t = json_dumps(d, JSON_COMPACT);
			json_object_set_new(k, "Document", json_string(t ? t : "{}"));
			free(t);
		}
		if ((v = json_object_get(p, "Comment")))
			json_object_set(k, "Comment", v);
		json_array_append_new(pols, k);
		json_decref(doc);
	}
	json_decref(arr);
	return rc;
}

static json_t *tf_find_instance_in(json_t *insts, const char *id)
{
	size_t i;
	json_t *p;
	json_array_foreach(
	    insts, i, p) if (!strcmp(json_string_value(json_object_get(p, "Id")), id)) return p;
	return NULL;
}

/* An instance Id for a policy record given without one: the shape of
 * Route 53's (36 characters), from a hash of what the record is, so every
 * compile and export gives the same. */
static void tf_instance_id(const char *name, const char *pid, json_int_t ver, char out[37])
{
	char t[1200];
	uint8_t h[SHA256_DIGEST_LENGTH];
	int n = snprintf(t, sizeof(t), "%s\t%s\t%lld", name, pid, (long long)ver);
	SHA256((const uint8_t *)t, n > 0 ? (size_t)n : 0, h);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12],
		 h[13], h[14], h[15]);
}

/* TrafficPolicyInstances (list-traffic-policy-instances-by-hosted-zone; or
 * TrafficPolicyInstance, get-traffic-policy-instance): each a name bound to
 * one version of pols. Returns the sets they stand for, as a
 * ResourceRecordSets array, and adds each instance, in the form kept for
 * export, to insts. */
static json_t *tf_instances(json_t *root, json_t *pols, json_t *insts, const char *file,
			    struct p53_err *err)
{
	json_t *arr = tf_list(root, "TrafficPolicyInstances", "TrafficPolicyInstance"),
	       *out = json_array();
	bool one = json_object_get(root, "TrafficPolicyInstance") != NULL;
	size_t i;
	json_t *in;
	if (json_object_get(root, "TrafficPolicyInstances") &&
	    !json_is_array(json_object_get(root, "TrafficPolicyInstances"))) {
		p53_err_set(err, P53_EINVAL,
			    "%s: TrafficPolicyInstances: InvalidInput: an array expected", file);
		goto fail;
	}
	json_array_foreach(arr, i, in)
	{
		char path[48];
		if (one && i == 0)
			snprintf(path, sizeof(path), "TrafficPolicyInstance");
		else
			snprintf(path, sizeof(path), "TrafficPolicyInstances[%zu]", i - one);
		if (!json_is_object(in)) {
			p53_err_set(err, P53_EINVAL, "%s: %s: InvalidInput: an object expected",
				    file, path);
			goto fail;
		}
		if (r53_check_keys(in, tfinst_keys, file, path, err) != 0)
			goto fail;
		const char *name = json_string_value(json_object_get(in, "Name")),
			   *pid = json_string_value(json_object_get(in, "TrafficPolicyId")),
			   *iid = json_string_value(json_object_get(in, "Id"));
		json_t *ver = json_object_get(in, "TrafficPolicyVersion"),
		       *ttl = json_object_get(in, "TTL");
		if (!name || !pid || !json_is_integer(ver) || !json_is_integer(ttl) ||
		    (json_object_get(in, "Id") && (!iid || !*iid || strlen(iid) > 36))) {
			p53_err_set(
			    err, P53_EINVAL,
			    "%s: %s: InvalidInput: Name, TTL, TrafficPolicyId and "
			    "TrafficPolicyVersion are required (and Id, when given, is 1-36 "
			    "characters)",
			    file, path);
			goto fail;
		}
		json_t *p = tf_find_policy(pols, pid, json_integer_value(ver));
		json_t *doc =
		    p ? json_loads(json_string_value(json_object_get(p, "Document")), 0, NULL)
		      : NULL;
		if (doc == NULL) {
			p53_err_set(
			    err, P53_EINVAL,
			    "%s: %s: NoSuchTrafficPolicy: no traffic policy %s version %lld "
			    "with a JSON Document",
			    file, path, pid, (long long)json_integer_value(ver));
			goto fail;
		}
		const char *why = "bad document";
		json_t *sets = tf_sets(doc, name, json_integer_value(ttl), &why);
		if (sets == NULL) {
			p53_err_set(err, P53_EINVAL,
				    "%s: %s (%s, policy %s version %lld): "
				    "InvalidTrafficPolicyDocument: %s",
				    file, path, name, pid, (long long)json_integer_value(ver), why);
			json_decref(doc);
			goto fail;
		}
		char gid[37];
		if (!iid) {
			tf_instance_id(name, pid, json_integer_value(ver), gid);
			iid = gid;
		}
		if (tf_find_instance_in(insts, iid)) {
			p53_err_set(err, P53_EINVAL,
				    "%s: %s: InvalidInput: traffic policy instance Id %s is given "
				    "twice",
				    file, path, iid);
			json_decref(doc);
			json_decref(sets);
			goto fail;
		}
		size_t nl = strlen(name);
		json_t *k = json_pack("{s:s,s:s+,s:O,s:s,s:O,s:O}", "Id", iid, "Name", name,
				      nl && name[nl - 1] == '.' ? "" : ".", "TTL", ttl,
				      "TrafficPolicyId", pid, "TrafficPolicyVersion", ver,
				      "TrafficPolicyType", json_object_get(doc, "RecordType"));
		json_decref(doc);
		json_array_append_new(insts, k);
		json_array_extend(out, sets);
		json_decref(sets);
	}
	json_decref(arr);
	return out;
fail:
	json_decref(arr);
	json_decref(out);
	return NULL;
}

/* ---- files ------------------------------------------------------------ */

static int add_json(struct r53_zone *z, const char *file, json_t *root, struct p53_err *err)
{
	char where[600];
	struct rd_ctx c = {.file = file, .z = z, .err = err, .where = where};
	if (!json_is_object(root))
		return p53_err_set(err, P53_EINVAL, "%s: expected a JSON object", file);
	static const char *const top_keys[] = {"ResourceRecordSets",
					       "IsTruncated",
					       "MaxItems",
					       "NextRecordName",
					       "NextRecordType",
					       "NextRecordIdentifier",
					       "ChangeBatch",
					       "Changes",
					       "Comment",
					       "HostedZoneId",
					       "CidrCollections",
					       "HealthChecks",
					       "HealthCheck",
					       "Marker",
					       "NextMarker",
					       "AliasMappings",
					       "TrafficPolicies",
					       "TrafficPolicy",
					       "TrafficPolicyInstances",
					       "TrafficPolicyInstance",
					       NULL};
	static const char *const batch_keys[] = {"Comment", "Changes", NULL};
	static const char *const change_keys[] = {"Action", "ResourceRecordSet", NULL};
	int rc = r53_check_keys(root, top_keys, file, "", err);
	json_t *batch = json_object_get(root, "ChangeBatch");
	if (rc == 0 && batch)
		rc = r53_check_keys(batch, batch_keys, file, "ChangeBatch", err);
	if (rc)
		return rc;
	json_t *src = batch ? batch : root;
	json_t *list = json_object_get(root, "ResourceRecordSets"),
	       *changes = json_object_get(src, "Changes"),
	       *cols = json_object_get(root, "CidrCollections");
	bool checks = r53_hc_present(root);
	json_t *amap = json_object_get(root, "AliasMappings");
	bool tf = json_object_get(root, "TrafficPolicies") ||
		  json_object_get(root, "TrafficPolicy") ||
		  json_object_get(root, "TrafficPolicyInstances") ||
		  json_object_get(root, "TrafficPolicyInstance");
	if (!list && !changes && !cols && !checks && !amap && !tf)
		return p53_err_set(err, P53_EINVAL,
				   "%s: InvalidInput: none of ResourceRecordSets, Changes, "
				   "CidrCollections, HealthChecks, AliasMappings found",
				   file);
	size_t nhc0 = z->hcs.n, namap0 = z->namap;
	if (checks && (rc = r53_hc_add_json(&z->hcs, root, file, err)) != 0)
		return rc;
	if (amap && (rc = read_alias_map(z, file, amap, err)) != 0) {
		r53_hcset_truncate(&z->hcs, nhc0);
		return rc;
	}
	/* Work on a copy of the set list so that a failure changes nothing. */
	size_t n = z->nsets, cap = z->nsets + 16;
	struct r53_set **sets = malloc(cap * sizeof(*sets));
	struct r53_set **fresh = NULL, **dels = NULL;
	size_t nfresh = 0, capfresh = 0, ndels = 0, capdels = 0, ncidr0 = z->ncidr, added = 0;
	json_t *ntf = NULL; /* z->tf with this file's traffic flow, until commit */
	if (sets == NULL) {
		rc = p53_err_set(err, P53_ENOMEM, "out of memory");
		goto fail;
	}
	if (n)
		memcpy(sets, z->sets, n * sizeof(*sets));
	if (cols && (rc = read_cidr(z, file, cols, err, &added)) != 0)
		goto fail;
	if (tf) {
		/* Every policy version read is kept (for export), the zone's
		 * earlier ones included: an instance may name any of them. */
		ntf = z->tf ? json_deep_copy(z->tf)
			    : json_pack("{s:[],s:[]}", "TrafficPolicies", "TrafficPolicyInstances");
		if (ntf == NULL) {
			rc = p53_err_set(err, P53_ENOMEM, "out of memory");
			goto fail;
		}
		if ((rc = tf_read_policies(root, json_object_get(ntf, "TrafficPolicies"), file,
					   err)) != 0)
			goto fail;
	}
	if (json_object_get(root, "TrafficPolicyInstances") ||
	    json_object_get(root, "TrafficPolicyInstance")) {
		/* Policy records become the sets their policy version stands for,
		 * checked by the same rules as any set. */
		json_t *tfs =
		    tf_instances(root, json_object_get(ntf, "TrafficPolicies"),
				 json_object_get(ntf, "TrafficPolicyInstances"), file, err);
		if (tfs == NULL) {
			rc = P53_EINVAL;
			goto fail;
		}
		size_t i;
		json_t *o;
		json_array_foreach(tfs, i, o)
		{
			struct r53_set *s;
			snprintf(where, sizeof(where), "%s: TrafficPolicyInstances (%s, %s)", file,
				 json_string_value(json_object_get(o, "Name")),
				 json_string_value(json_object_get(o, "SetIdentifier")) ?: "start");
			if ((rc = read_set(&c, o, &s)) != 0)
				break;
			s->tf = true;
			if (push_set(&fresh, &nfresh, &capfresh, s) != 0 ||
			    push_set(&sets, &n, &cap, s) != 0) {
				rc = p53_err_set(err, P53_ENOMEM, "out of memory");
				break;
			}
		}
		json_decref(tfs);
		if (rc)
			goto fail;
	}
	if (list) {
		if (!json_is_array(list)) {
			rc = p53_err_set(err, P53_EINVAL, "%s: ResourceRecordSets must be an array",
					 file);
			goto fail;
		}
		size_t i;
		json_t *o;
		json_array_foreach(list, i, o)
		{
			struct r53_set *s;
			snprintf(where, sizeof(where), "%s: ResourceRecordSets[%zu]", file, i);
			/* A set a traffic policy instance made, as list-resource-
			 * record-sets prints it: the instance stands for it. */
			const char *tpi =
			    json_string_value(json_object_get(o, "TrafficPolicyInstanceId"));
			json_t *tfi = ntf ? ntf : z->tf;
			if (tpi && tf_find_instance_in(
				       json_object_get(tfi, "TrafficPolicyInstances"), tpi))
				continue;
			if (tpi && !json_object_get(o, "ResourceRecords") &&
			    !json_object_get(o, "AliasTarget")) {
				rc = p53_err_set(
				    err, P53_EINVAL,
				    "%s.TrafficPolicyInstanceId: "
				    "NoSuchTrafficPolicyInstance: no traffic policy "
				    "instance %.80s (give it in TrafficPolicyInstances, "
				    "in this file or one read before)",
				    where, tpi);
				goto fail;
			}
			if ((rc = read_set(&c, o, &s)) != 0)
				goto fail;
			if (push_set(&fresh, &nfresh, &capfresh, s) != 0 ||
			    push_set(&sets, &n, &cap, s) != 0) {
				rc = p53_err_set(err, P53_ENOMEM, "out of memory");
				goto fail;
			}
		}
	}
	if (changes) {
		json_t *cm = json_object_get(src, "Comment");
		if (cm && (!json_is_string(cm) || json_string_length(cm) > R53_COMMENT_CHARS)) {
			rc = p53_err_set(err, P53_EINVAL,
					 "%s: InvalidChangeBatch: Comment must be a string of at "
					 "most 256 characters",
					 file);
			goto fail;
		}
		if (!json_is_array(changes) || json_array_size(changes) == 0) {
			rc = p53_err_set(err, P53_EINVAL,
					 "%s: InvalidChangeBatch: Changes must hold at least one "
					 "change",
					 file);
			goto fail;
		}
		size_t i;
		json_t *ch;
		json_array_foreach(changes, i, ch)
		{
			char cpath[64];
			snprintf(cpath, sizeof(cpath), "%sChanges[%zu]",
				 batch ? "ChangeBatch." : "", i);
			if ((rc = r53_check_keys(ch, change_keys, file, cpath, err)) != 0)
				goto fail;
			snprintf(where, sizeof(where), "%s: %s.ResourceRecordSet", file, cpath);
			json_t *act = json_object_get(ch, "Action");
			const char *a = json_is_string(act) ? json_string_value(act) : "";
			int kind = !strcmp(a, "CREATE")	  ? 1
				   : !strcmp(a, "DELETE") ? 2
				   : !strcmp(a, "UPSERT") ? 3
							  : 0;
			struct r53_set *s;
			if ((rc = read_set(&c, json_object_get(ch, "ResourceRecordSet"), &s)) != 0)
				goto fail;
			if (push_set(&fresh, &nfresh, &capfresh, s) != 0) {
				set_free(s);
				rc = p53_err_set(err, P53_ENOMEM, "out of memory");
				goto fail;
			}
			if (kind == 0) {
				rc = set_fail(err, file, s,
					      "Action must be CREATE, DELETE or "
					      "UPSERT");
				goto fail;
			}
			size_t at = n;
			for (size_t k = 0; k < n; k++)
				if (sets[k] && same_key(sets[k], s)) {
					at = k;
					break;
				}
			for (size_t k = 0; k < n; k++)
				if (sets[k] && sets[k]->tf && sets[k]->type == s->type &&
				    sets[k]->name_len == s->name_len &&
				    !memcmp(sets[k]->name, s->name, s->name_len)) {
					rc = set_fail(err, file, s,
						      "the name and type belong to a traffic "
						      "policy instance (a policy record): change "
						      "the instance, not its record sets");
					goto fail;
				}
			if (kind == 2) {
				for (size_t k = 0; k < ndels; k++)
					if (same_key(dels[k], s)) {
						rc = set_fail(err, file, s,
							      "the same record set "
							      "is deleted twice");
						goto fail;
					}
				if (at == n) {
					rc = set_fail(err, file, s,
						      "DELETE of a record set "
						      "that does not exist");
					goto fail;
				}
				if (!same_set(sets[at], s)) {
					rc = set_fail(err, file, s,
						      "DELETE must repeat every "
						      "field and value of the record set");
					goto fail;
				}
				sets[at] = NULL;
				if (push_set(&dels, &ndels, &capdels, s) != 0) {
					rc = p53_err_set(err, P53_ENOMEM, "out of memory");
					goto fail;
				}
				continue;
			}
			if (kind == 1 && at != n) {
				rc = set_fail(err, file, s,
					      "CREATE of a record set that "
					      "already exists");
				goto fail;
			}
			if (at != n)
				sets[at] = NULL; /* UPSERT replaces */
			if (push_set(&sets, &n, &cap, s) != 0) {
				rc = p53_err_set(err, P53_ENOMEM, "out of memory");
				goto fail;
			}
		}
	}
	/* Compact, validate the result, then commit. */
	size_t m = 0;
	for (size_t k = 0; k < n; k++)
		if (sets[k])
			sets[m++] = sets[k];
	struct r53_zone tz = *z;
	tz.sets = sets;
	tz.nsets = m;
	if ((rc = r53_zone_validate(&tz, file, err)) != 0)
		goto fail;
	/* Commit: free the sets that left, keep the new list. */
	for (size_t q = 0; q < m; q++)
		sets[q]->mark = true;
	for (size_t k = 0; k < z->nsets; k++)
		if (!z->sets[k]->mark)
			set_free(z->sets[k]);
	for (size_t k = 0; k < nfresh; k++)
		if (!fresh[k]->mark)
			set_free(fresh[k]);
	for (size_t q = 0; q < m; q++)
		sets[q]->mark = false;
	free(z->sets);
	z->sets = sets;
	z->nsets = m;
	z->cap = cap;
	free(fresh);
	free(dels);
	if (ntf) {
		json_decref(z->tf);
		z->tf = ntf;
	}
	return 0;
fail:
	json_decref(ntf);
	for (size_t k = 0; k < nfresh; k++)
		set_free(fresh[k]);
	free(fresh);
	free(sets);
	free(dels);
	while (z->ncidr > ncidr0) {
		z->ncidr--;
		free(z->cidr[z->ncidr].coll);
		free(z->cidr[z->ncidr].loc);
	}
	r53_hcset_truncate(&z->hcs, nhc0);
	while (z->namap > namap0)
		set_free(z->amap[--z->namap]);
	return rc ? rc : P53_EINVAL;
}

int r53_zone_add_json_text(struct r53_zone *z, const char *name, const char *text,
			   struct p53_err *err)
{
	json_error_t je;
	json_t *root = json_loads(text, 0, &je);
	if (root == NULL)
		return p53_err_at(err, P53_EINVAL, name, (unsigned)je.line, "JSON: %s", je.text);
	int rc = add_json(z, name, root, err);
	json_decref(root);
	return rc;
}

int r53_zone_add_json_file(struct r53_zone *z, const char *path, struct p53_err *err)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (root == NULL)
		return p53_err_at(err, P53_EINVAL, path, (unsigned)je.line, "JSON: %s", je.text);
	int rc = add_json(z, path, root, err);
	json_decref(root);
	return rc;
}

bool r53_is_json_path(const char *path)
{
	size_t l = strlen(path);
	if (l > 5 && strcmp(path + l - 5, ".json") == 0)
		return true;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	int ch;
	for (int i = 0; i < 4096 && (ch = fgetc(f)) != EOF; i++)
		if (!isspace(ch)) {
			fclose(f);
			return ch == '{';
		}
	fclose(f);
	return false;
}

/* ---- $ROUTE53 lines in zone files --------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, n = 0, got;
	char *buf = malloc(cap + 1);
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf) {
		buf[n] = 0;
		*len = n;
	}
	return buf;
}

static bool directive_at(const char *p)
{
	return strncmp(p, "$ROUTE53", 8) == 0 && (p[8] == ' ' || p[8] == '\t');
}

bool r53_has_directives(const char *path)
{
	/* Streamed in chunks with memmem: every zone file of a Route 53
	 * zone is scanned, and a 10M-record file must cost a read, not a
	 * copy. The 9 bytes kept between chunks catch a marker across them. */
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return false;
	enum { CHUNK = 1 << 16, KEEP = 9 };
	char *buf = malloc(CHUNK + KEEP + 1);
	size_t have = 1, got;
	bool found = false;
	if (buf)
		buf[0] = '\n'; /* the first line starts after a virtual newline */
	while (buf && !found && (got = fread(buf + have, 1, CHUNK, f)) > 0) {
		have += got;
		for (char *p = buf;
		     !found && (p = memmem(p, have - (size_t)(p - buf), "\n$ROUTE53", 9)) != NULL;
		     p++)
			found =
			    (size_t)(p - buf) + 9 < have ? (p[9] == ' ' || p[9] == '\t') : false;
		size_t keep = have < KEEP ? have : KEEP;
		memmove(buf, buf + have - keep, keep);
		have = keep;
	}
	free(buf);
	fclose(f);
	return found;
}

char *r53_take_directives(const char *path, size_t *len, json_t **root, struct p53_err *err)
{
	char *t = slurp(path, len);
	if (t == NULL) {
		p53_err_set(err, P53_EIO, "%s: cannot read", path);
		return NULL;
	}
	json_t *sets = json_array(), *cols = json_array(), *pols = json_array(),
	       *insts = json_array();
	unsigned line = 1;
	for (char *p = t; *p;) {
		char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (directive_at(p)) {
			json_error_t je;
			json_t *o = json_loadb(p + 9, l - 9, 0, &je);
			if (!json_is_object(o)) {
				p53_err_at(
				    err, P53_EINVAL, path, line,
				    "$ROUTE53: a JSON record set (or CidrCollections, "
				    "TrafficPolicy, TrafficPolicyInstance) on one line expected");
				json_decref(o);
				json_decref(sets);
				json_decref(cols);
				json_decref(pols);
				json_decref(insts);
				free(t);
				return NULL;
			}
			if (json_object_get(o, "CidrCollections"))
				json_array_extend(cols, json_object_get(o, "CidrCollections"));
			else if (json_object_get(o, "TrafficPolicy"))
				json_array_append(pols, json_object_get(o, "TrafficPolicy"));
			else if (json_object_get(o, "TrafficPolicyInstance"))
				json_array_append(insts,
						  json_object_get(o, "TrafficPolicyInstance"));
			else
				json_array_append(sets, o);
			json_decref(o);
			memset(p, ' ', l); /* the zone-file reader sees a blank line */
		}
		if (!nl)
			break;
		p = nl + 1;
		line++;
	}
	*root = json_pack("{s:o}", "ResourceRecordSets", sets);
	if (json_array_size(cols))
		json_object_set_new(*root, "CidrCollections", cols);
	else
		json_decref(cols);
	if (json_array_size(pols))
		json_object_set(*root, "TrafficPolicies", pols);
	if (json_array_size(insts))
		json_object_set(*root, "TrafficPolicyInstances", insts);
	json_decref(pols);
	json_decref(insts);
	return t;
}

int r53_zone_add_json_root(struct r53_zone *z, const char *name, json_t *root, struct p53_err *err)
{
	return add_json(z, name, root, err);
}
