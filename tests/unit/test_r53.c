/* Route 53 JSON input, routing policies and EDNS Client Subnet.
 *
 * Every validation rule of route53-semantics.md section 1 is rejected with a
 * message naming the record set; every selection rule of section 2 is
 * checked, with health states, including the all-unhealthy rules; weighted
 * shares pass a chi-square bound over a large sample with a fixed seed.
 */
#include "check.h"

#include "zones/answer/answer.h"
#include "zones/compile/compile.h"
#include "zones/compile/r53json.h"
#include "zones/compile/r53snap.h"
#include "zones/answer/snapshot.h"
#include "zones/answer/snapshot_pvt.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];
static int nfile;

static const char *write_tmp(const char *text, const char *ext)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/f%d.%s", tmpdir, nfile++, ext);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static const char base_sets[] =
    "{\"Name\":\"example.com.\",\"Type\":\"SOA\",\"TTL\":900,\"ResourceRecords\":[{\"Value\":"
    "\"ns.example.com. h.example.com. 1 7200 900 1209600 86400\"}]},"
    "{\"Name\":\"example.com.\",\"Type\":\"NS\",\"TTL\":900,\"ResourceRecords\":[{\"Value\":"
    "\"ns.example.com.\"}]},"
    "{\"Name\":\"ns.example.com.\",\"Type\":\"A\",\"TTL\":900,\"ResourceRecords\":[{\"Value\":"
    "\"192.0.2.53\"}]}";

/* Health checks for every HealthCheckId the sets name (TCP checks that are
 * never run here), so that only the tests of NoSuchHealthCheck see one
 * missing; NULL when there are none or auto_checks is off. */
static bool auto_checks = true;

static const char *checks_for(const char *extra)
{
	static const char key[] = "\"HealthCheckId\":\"";
	char *out = malloc(strlen(extra) * 2 + 64);
	strcpy(out, "{\"HealthChecks\":[");
	bool any = false;
	for (const char *p = strstr(extra, key); p; p = strstr(p + 1, key)) {
		const char *id = p + sizeof(key) - 1, *e = strchr(id, '"');
		char one[80];
		snprintf(one, sizeof(one), "\"Id\":\"%.*s\"", (int)(e - id), id);
		if (strstr(out, one))
			continue;
		sprintf(out + strlen(out),
			"%s{%s,\"HealthCheckConfig\":{\"Type\":\"TCP\",\"IPAddress\":"
			"\"127.0.0.1\",\"Port\":9}}",
			any ? "," : "", one);
		any = true;
	}
	strcat(out, "]}");
	const char *path = any && auto_checks ? write_tmp(out, "json") : NULL;
	free(out);
	return path;
}

/* Compiles base sets plus extra (a JSON fragment of sets), then an optional
 * change batch; returns the snapshot or NULL with the message in msg. */
static struct p53_snapshot *build(const char *extra, const char *batch, const char *geo,
				  bool prerender, char *msg)
{
	char *text = malloc(strlen(extra) + sizeof(base_sets) + 64);
	sprintf(text, "{\"ResourceRecordSets\":[%s%s%s]}", base_sets, *extra ? "," : "", extra);
	char paths[512];
	snprintf(paths, sizeof(paths), "%s", write_tmp(text, "json"));
	free(text);
	if (batch) {
		strcat(paths, ",");
		strcat(paths, write_tmp(batch, "json"));
	}
	struct p53_zone_input zi = {"example.com.", paths};
	char hc[128] = "";
	const char *hcp = checks_for(extra);
	if (hcp)
		snprintf(hc, sizeof(hc), "%s", hcp);
	struct p53_compile_opts o = {.serial = 1,
				     .no_prerender = !prerender,
				     .geo_csv = geo,
				     .health_checks = hcp ? hc : NULL};
	struct p53_err err = {0};
	uint8_t *img;
	size_t len;
	msg[0] = 0;
	if (p53_compile(&zi, 1, &o, &img, &len, &err) != 0) {
		snprintf(msg, 512, "%s", err.msg);
		return NULL;
	}
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &err);
	free(img);
	if (s == NULL)
		snprintf(msg, 512, "%s", err.msg);
	return s;
}

/* Expects a rejection whose message holds every one of the given parts. */
static void reject(int line, const char *extra, const char *batch, const char *want,
		   const char *who)
{
	char msg[512];
	struct p53_snapshot *s = build(extra, batch, NULL, false, msg);
	check_count++;
	if (s != NULL || strstr(msg, want) == NULL || (who && strstr(msg, who) == NULL)) {
		check_failures++;
		fprintf(stderr, "test_r53.c:%d: expected rejection \"%s\" (%s), got \"%s\"\n", line,
			want, who ? who : "", s ? "(accepted)" : msg);
	}
	p53_snapshot_free(s);
}

#define REJECT(extra, want, who)	      reject(__LINE__, extra, NULL, want, who)
#define REJECT_BATCH(extra, batch, want, who) reject(__LINE__, extra, batch, want, who)

#define A(name, extra, ip)                                                                         \
	"{\"Name\":\"" name "\",\"Type\":\"A\"," extra "\"ResourceRecords\":[{\"Value\":\"" ip     \
	"\"}]}"

static void test_validation(void)
{
	char long_name[1100], long_id[140], long_val[4100], big[40000];
	REJECT("{\"Type\":\"A\",\"TTL\":1,\"ResourceRecords\":[{\"Value\":\"1.2.3.4\"}]}",
	       "Name is required", NULL);
	memset(long_name, 'a', 1030);
	long_name[1030] = 0;
	char frag[1300];
	snprintf(frag, sizeof(frag), A("%s", "\"TTL\":1,", "1.2.3.4"), long_name);
	REJECT(frag, "Name must be 1-1024", NULL);
	REJECT(A("www.example.org.", "\"TTL\":1,", "1.2.3.4"), "not in this hosted zone",
	       "Name=www.example.org., Type=A");
	REJECT("{\"Name\":\"*.example.com.\",\"Type\":\"NS\",\"TTL\":1,\"ResourceRecords\":[{"
	       "\"Value\":\"ns.example.com.\"}]}",
	       "NS records cannot be wildcards", NULL);
	REJECT("{\"Name\":\"x.example.com.\",\"Type\":\"DNAME\",\"TTL\":1,\"ResourceRecords\":[{"
	       "\"Value\":\"example.net.\"}]}",
	       "Type must be one of", NULL);
	REJECT("{\"Name\":\"x.example.com.\",\"Type\":\"DNSKEY\",\"TTL\":1,\"ResourceRecords\":[{"
	       "\"Value\":\"257 3 13 AAAA\"}]}",
	       "DNSKEY is created by signing", NULL);
	memset(long_id, 'i', 129);
	long_id[129] = 0;
	snprintf(frag, sizeof(frag),
		 A("w.example.com.", "\"SetIdentifier\":\"%s\",\"Weight\":1,\"TTL\":1,", "1.2.3.4"),
		 long_id);
	REJECT(frag, "SetIdentifier must be 1-128", NULL);
	REJECT(A("w.example.com.", "\"SetIdentifier\":\"a\",\"Weight\":256,\"TTL\":1,", "1.2.3.4"),
	       "Weight must be an integer 0-255", "SetIdentifier=a");
	REJECT(
	    A("w.example.com.", "\"SetIdentifier\":\"a\",\"Weight\":1,\"TTL\":1,",
	      "1.2.3.4") "," A("w.example.com.", "\"SetIdentifier\":\"b\",\"TTL\":1,", "1.2.3.5"),
	    "needs a routing policy", "SetIdentifier=b");
	REJECT(A("w.example.com.", "\"SetIdentifier\":\"a\",\"Weight\":1,\"TTL\":1,",
		 "1.2.3.4") "," A("w.example.com.",
				  "\"SetIdentifier\":\"b\",\"Failover\":\"PRIMARY\",\"TTL\":1,",
				  "1.2.3.5"),
	       "routing policies cannot be mixed", NULL);
	REJECT(A("w.example.com.", "\"TTL\":1,", "1.2.3.4") "," A(
		   "w.example.com.", "\"SetIdentifier\":\"b\",\"Weight\":1,\"TTL\":1,", "1.2.3.5"),
	       "routing policies cannot be mixed", NULL);
	REJECT(A("w.example.com.", "\"SetIdentifier\":\"a\",\"Weight\":1,\"TTL\":1,",
		 "1.2.3.4") "," A("w.example.com.",
				  "\"SetIdentifier\":\"a\",\"Weight\":1,\"TTL\":1,", "1.2.3.5"),
	       "SetIdentifier must be unique", "SetIdentifier=a");
	REJECT(A("w.example.com.", "\"SetIdentifier\":\"a\",\"Weight\":1,\"TTL\":1,",
		 "1.2.3.4") "," A("w.example.com.",
				  "\"SetIdentifier\":\"b\",\"Weight\":1,\"TTL\":2,", "1.2.3.5"),
	       "same TTL", NULL);
	REJECT(A("w.example.com.", "\"Weight\":1,\"TTL\":1,", "1.2.3.4"),
	       "SetIdentifier is required for a weighted record", NULL);
	REJECT(A("w.example.com.",
		 "\"SetIdentifier\":\"a\",\"Weight\":1,\"Region\":\"us-east-1\",\"TTL\":1,",
		 "1.2.3.4"),
	       "more than one routing policy", NULL);
	REJECT(A("l.example.com.", "\"SetIdentifier\":\"a\",\"Region\":\"mars-1\",\"TTL\":1,",
		 "1.2.3.4"),
	       "Region must name an AWS region", NULL);
	REJECT(A("l.example.com.", "\"SetIdentifier\":\"a\",\"Region\":\"us-east-1\",\"TTL\":1,",
		 "1.2.3.4") "," A("l.example.com.",
				  "\"SetIdentifier\":\"b\",\"Region\":\"us-east-1\",\"TTL\":1,",
				  "1.2.3.5"),
	       "one latency record per region", "SetIdentifier=b");
	REJECT(A("g.example.com.",
		 "\"SetIdentifier\":\"a\",\"GeoLocation\":{\"ContinentCode\":\"EU\","
		 "\"CountryCode\":\"DE\"},\"TTL\":1,",
		 "1.2.3.4"),
	       "ContinentCode together with CountryCode", NULL);
	REJECT(A("g.example.com.",
		 "\"SetIdentifier\":\"a\",\"GeoLocation\":{\"CountryCode\":\"DE\","
		 "\"SubdivisionCode\":\"BY\"},\"TTL\":1,",
		 "1.2.3.4"),
	       "SubdivisionCode requires CountryCode US", NULL);
	REJECT(A("g.example.com.",
		 "\"SetIdentifier\":\"a\",\"GeoLocation\":{\"ContinentCode\":\"XX\"},\"TTL\":1,",
		 "1.2.3.4"),
	       "ContinentCode must be one of", NULL);
	REJECT(A("g.example.com.",
		 "\"SetIdentifier\":\"a\",\"GeoLocation\":{\"CountryCode\":\"DEU\"},\"TTL\":1,",
		 "1.2.3.4"),
	       "ISO 3166-1 alpha-2", NULL);
	REJECT(A("g.example.com.",
		 "\"SetIdentifier\":\"a\",\"GeoLocation\":{\"CountryCode\":\"DE\"},\"TTL\":1,",
		 "1.2.3.4") "," A("g.example.com.",
				  "\"SetIdentifier\":\"b\",\"GeoLocation\":{\"CountryCode\":\"DE\"}"
				  ",\"TTL\":1,",
				  "1.2.3.5"),
	       "name the same location", NULL);
	REJECT(A("p.example.com.",
		 "\"SetIdentifier\":\"a\",\"GeoProximityLocation\":{\"AWSRegion\":\"us-east-1\","
		 "\"Coordinates\":{\"Latitude\":\"1\",\"Longitude\":\"2\"}},\"TTL\":1,",
		 "1.2.3.4"),
	       "exactly one of AWSRegion, LocalZoneGroup, Coordinates", NULL);
	REJECT(A("p.example.com.",
		 "\"SetIdentifier\":\"a\",\"GeoProximityLocation\":{\"AWSRegion\":\"us-east-1\","
		 "\"Bias\":100},\"TTL\":1,",
		 "1.2.3.4"),
	       "Bias must be an integer -99..99", NULL);
	REJECT(A("p.example.com.",
		 "\"SetIdentifier\":\"a\",\"GeoProximityLocation\":{\"Coordinates\":{\"Latitude\":"
		 "\"91\",\"Longitude\":\"2\"}},\"TTL\":1,",
		 "1.2.3.4"),
	       "Latitude must be -90..90", NULL);
	REJECT(A("f.example.com.", "\"SetIdentifier\":\"a\",\"Failover\":\"TERTIARY\",\"TTL\":1,",
		 "1.2.3.4"),
	       "Failover must be PRIMARY or SECONDARY", NULL);
	REJECT(A("f.example.com.", "\"SetIdentifier\":\"a\",\"Failover\":\"PRIMARY\",\"TTL\":1,",
		 "1.2.3.4") "," A("f.example.com.",
				  "\"SetIdentifier\":\"b\",\"Failover\":\"PRIMARY\",\"TTL\":1,",
				  "1.2.3.5"),
	       "one PRIMARY and one SECONDARY", NULL);
	REJECT(A("m.example.com.",
		 "\"SetIdentifier\":\"a\",\"MultiValueAnswer\":\"yes\",\"TTL\":1,", "1.2.3.4"),
	       "MultiValueAnswer must be a boolean", NULL);
	REJECT("{\"Name\":\"m.example.com.\",\"Type\":\"CNAME\",\"SetIdentifier\":\"a\","
	       "\"MultiValueAnswer\":true,\"TTL\":1,\"ResourceRecords\":[{\"Value\":\"x.example."
	       "com.\"}]}",
	       "multivalue answer is not allowed for this type", NULL);
	REJECT(A("t.example.com.", "\"TTL\":-1,", "1.2.3.4"), "TTL must be an integer", NULL);
	REJECT(A("t.example.com.", "\"TTL\":2147483648,", "1.2.3.4"), "TTL must be an integer",
	       NULL);
	memset(long_val, 'x', 4001);
	long_val[4001] = 0;
	char *f2 = malloc(5000);
	snprintf(f2, 5000,
		 "{\"Name\":\"t.example.com.\",\"Type\":\"TXT\",\"TTL\":1,\"ResourceRecords\":[{"
		 "\"Value\":\"%s\"}]}",
		 long_val);
	REJECT(f2, "longer than 4000", NULL);
	free(f2);
	strcpy(big, "{\"Name\":\"v.example.com.\",\"Type\":\"A\",\"TTL\":1,\"ResourceRecords\":[");
	for (int i = 0; i < 401; i++)
		sprintf(big + strlen(big), "%s{\"Value\":\"10.0.%d.%d\"}", i ? "," : "", i / 256,
			i % 256);
	strcat(big, "]}");
	REJECT(big, "more than 400 values", NULL);
	REJECT(A("t.example.com.", "\"TTL\":1,", "1.2.3.999"), "bad value", NULL);
	REJECT("{\"Name\":\"a.example.com.\",\"Type\":\"A\",\"AliasTarget\":{\"DNSName\":\"ns."
	       "example.com.\",\"EvaluateTargetHealth\":false}}",
	       "AliasTarget needs HostedZoneId, DNSName and EvaluateTargetHealth", NULL);
	REJECT("{\"Name\":\"a.example.com.\",\"Type\":\"A\",\"TTL\":1,\"AliasTarget\":{"
	       "\"HostedZoneId\":\"Z\",\"DNSName\":\"ns.example.com.\",\"EvaluateTargetHealth\":"
	       "false}}",
	       "an alias record has no TTL", NULL);
	REJECT("{\"Name\":\"a.example.com.\",\"Type\":\"A\",\"ResourceRecords\":[],\"AliasTarget\":"
	       "{\"HostedZoneId\":\"Z\",\"DNSName\":\"ns.example.com.\",\"EvaluateTargetHealth\":"
	       "false}}",
	       "an alias record has no ResourceRecords", NULL);
	REJECT("{\"Name\":\"a.example.com.\",\"Type\":\"NS\",\"AliasTarget\":{\"HostedZoneId\":"
	       "\"Z\",\"DNSName\":\"ns.example.com.\",\"EvaluateTargetHealth\":false}}",
	       "an alias cannot have type NS or SOA", NULL);
	REJECT("{\"Name\":\"a.example.com.\",\"Type\":\"A\",\"AliasTarget\":{\"HostedZoneId\":"
	       "\"Z\",\"DNSName\":\"elb.amazonaws.com.\",\"EvaluateTargetHealth\":false}}",
	       "no mapping for it in the alias map", "AliasTarget.DNSName: InvalidChangeBatch");
	REJECT("{\"Name\":\"a.example.com.\",\"Type\":\"A\",\"AliasTarget\":{\"HostedZoneId\":"
	       "\"Z\",\"DNSName\":\"none.example.com.\",\"EvaluateTargetHealth\":false}}",
	       "no record set of this type at DNSName", NULL);
	REJECT("{\"Name\":\"example.com.\",\"Type\":\"A\",\"AliasTarget\":{\"HostedZoneId\":\"Z\","
	       "\"DNSName\":\"c.example.com.\",\"EvaluateTargetHealth\":false}},"
	       "{\"Name\":\"c.example.com.\",\"Type\":\"CNAME\",\"TTL\":1,\"ResourceRecords\":[{"
	       "\"Value\":\"ns.example.com.\"}]}",
	       "apex cannot point at a CNAME", NULL);
	REJECT("{\"Name\":\"a.example.com.\",\"Type\":\"A\",\"SetIdentifier\":\"a\","
	       "\"MultiValueAnswer\":true,\"AliasTarget\":{\"HostedZoneId\":\"Z\",\"DNSName\":\"ns."
	       "example.com.\",\"EvaluateTargetHealth\":false}}",
	       "multivalue answer record cannot be an alias", NULL);
	REJECT("{\"Name\":\"a.example.com.\",\"Type\":\"A\",\"SetIdentifier\":\"a\",\"Failover\":"
	       "\"PRIMARY\",\"AliasTarget\":{\"HostedZoneId\":\"Z\",\"DNSName\":\"ns.example.com."
	       "\",\"EvaluateTargetHealth\":false}}",
	       "failover alias needs EvaluateTargetHealth", NULL);
	REJECT(A("c.example.com.",
		 "\"SetIdentifier\":\"a\",\"CidrRoutingConfig\":{\"CollectionId\":\"c\","
		 "\"LocationName\":\"seventeen-chars-x\"},\"TTL\":1,",
		 "1.2.3.4"),
	       "LocationName must be 1-16", NULL);
	REJECT("{\"Name\":\"c.example.com.\",\"Type\":\"CNAME\",\"TTL\":1,\"ResourceRecords\":[{"
	       "\"Value\":\"a.example.com.\"},{\"Value\":\"b.example.com.\"}]}",
	       "a CNAME or SOA record set holds exactly one value", NULL);
	REJECT("{\"Name\":\"example.com.\",\"Type\":\"CNAME\",\"TTL\":1,\"ResourceRecords\":[{"
	       "\"Value\":\"a.example.net.\"}]}",
	       "", "Type=CNAME");
	REJECT("{\"Name\":\"ns.example.com.\",\"Type\":\"CNAME\",\"TTL\":1,\"ResourceRecords\":[{"
	       "\"Value\":\"a.example.net.\"}]}",
	       "CNAME cannot share its name", NULL);
	REJECT(A("n.example.com.", "", "1.2.3.4"), "TTL is required", NULL);
	/* CIDR blocks: IPv4 /1-/24, IPv6 /1-/48 */
	char msg[512];
	struct p53_snapshot *s =
	    build(A("c.example.com.",
		    "\"SetIdentifier\":\"a\",\"CidrRoutingConfig\":{\"CollectionId\":\"c\","
		    "\"LocationName\":\"x\"},\"TTL\":1,",
		    "1.2.3.4"),
		  "{\"CidrCollections\":[{\"Id\":\"c\",\"Locations\":[{\"LocationName\":\"x\","
		  "\"CidrList\":[\"10.0.0.0/25\"]}]}],"
		  "\"Changes\":[{\"Action\":\"UPSERT\",\"ResourceRecordSet\":" A(
		      "d.example.com.", "\"TTL\":1,", "1.2.3.4") "}]}",
		  NULL, false, msg);
	CHECK(s == NULL && strstr(msg, "IPv4 /1-/24") != NULL);
	/* Groups: at most 100 records per name and type. */
	big[0] = 0;
	for (int i = 0; i < 101; i++)
		sprintf(big + strlen(big),
			"%s" A("w.example.com.",
			       "\"SetIdentifier\":\"s%d\",\"Weight\":1,\"TTL\":1,", "10.0.0.%d"),
			i ? "," : "", i, i % 250);
	REJECT(big, "too many records in one policy group", NULL);
	/* Change batches. */
	const char *www = A("www.example.com.", "\"TTL\":60,", "192.0.2.1");
	REJECT_BATCH(www,
		     "{\"Changes\":[{\"Action\":\"CREATE\",\"ResourceRecordSet\":" A(
			 "www.example.com.", "\"TTL\":60,", "192.0.2.9") "}]}",
		     "CREATE of a record set that already exists", "Name=www.example.com.");
	REJECT_BATCH(www,
		     "{\"Changes\":[{\"Action\":\"DELETE\",\"ResourceRecordSet\":" A(
			 "new.example.com.", "\"TTL\":60,", "192.0.2.9") "}]}",
		     "DELETE of a record set that does not exist", NULL);
	REJECT_BATCH(www,
		     "{\"Changes\":[{\"Action\":\"DELETE\",\"ResourceRecordSet\":" A(
			 "www.example.com.", "\"TTL\":61,", "192.0.2.1") "}]}",
		     "DELETE must repeat every field", NULL);
	REJECT_BATCH(www,
		     "{\"Changes\":[{\"Action\":\"DELETE\",\"ResourceRecordSet\":" A(
			 "www.example.com.", "\"TTL\":60,",
			 "192.0.2.1") "},"
				      "{\"Action\":\"DELETE\",\"ResourceRecordSet\":" A(
					  "www.example.com.", "\"TTL\":60,", "192.0.2.1") "}]}",
		     "deleted twice", NULL);
	REJECT_BATCH(www,
		     "{\"Changes\":[{\"Action\":\"MERGE\",\"ResourceRecordSet\":" A(
			 "www.example.com.", "\"TTL\":60,", "192.0.2.1") "}]}",
		     "Action must be CREATE, DELETE or UPSERT", NULL);
	REJECT_BATCH(www, "{\"Changes\":[]}", "at least one change", NULL);
	memset(long_name, 'c', 300);
	long_name[300] = 0;
	snprintf(
	    big, sizeof(big),
	    "{\"Comment\":\"%s\",\"Changes\":[{\"Action\":\"UPSERT\",\"ResourceRecordSet\":%s}]}",
	    long_name, www);
	REJECT_BATCH(www, big, "Comment must be a string of at most 256", NULL);
	/* A good batch applies: UPSERT replaces, DELETE removes, CREATE adds. */
	s = build(
	    www,
	    "{\"Comment\":\"ok\",\"Changes\":[{\"Action\":\"UPSERT\",\"ResourceRecordSet\":" A(
		"www.example.com.", "\"TTL\":30,",
		"192.0.2.2") "},"
			     "{\"Action\":\"CREATE\",\"ResourceRecordSet\":" A(
				 "new.example.com.", "\"TTL\":30,", "192.0.2.3") "}]}",
	    NULL, false, msg);
	CHECK(s != NULL);
	p53_snapshot_free(s);

	/* A failed batch changes nothing. */
	struct r53_zone z;
	uint8_t apex[] = "\7example\3com";
	r53_zone_init(&z, apex, sizeof(apex));
	struct p53_err err = {0};
	char list[2048];
	snprintf(list, sizeof(list), "{\"ResourceRecordSets\":[%s,%s]}", base_sets, www);
	CHECK_EQ(r53_zone_add_json_text(&z, "list", list, &err), 0);
	size_t before = z.nsets;
	struct r53_set *first = z.sets[0];
	err.code = 0;
	err.msg[0] = 0;
	CHECK(r53_zone_add_json_text(
		  &z, "batch",
		  "{\"Changes\":[{\"Action\":\"DELETE\",\"ResourceRecordSet\":" A(
		      "www.example.com.", "\"TTL\":60,",
		      "192.0.2.1") "},"
				   "{\"Action\":\"CREATE\",\"ResourceRecordSet\":" A(
				       "ns.example.com.", "\"TTL\":60,", "192.0.2.1") "}]}",
		  &err) != 0);
	CHECK(strstr(err.msg, "Name=ns.example.com., Type=A, SetIdentifier=(none)") != NULL);
	CHECK_EQ(z.nsets, before);
	CHECK(z.sets[0] == first);
	r53_zone_free(&z);
}

/* ---- queries ---------------------------------------------------------- */

struct ans {
	int rcode, an;
	char a[8][16];
	int ecs_scope; /* -1 when the response has no ECS */
};

static size_t mkq(uint8_t *q, const char *name, uint16_t type, const char *ecs)
{
	memset(q, 0, 12);
	q[1] = 7;
	q[5] = 1;
	size_t p = 12;
	const char *s = name;
	while (*s) {
		const char *d = strchr(s, '.');
		size_t l = d ? (size_t)(d - s) : strlen(s);
		q[p++] = (uint8_t)l;
		memcpy(q + p, s, l);
		p += l;
		s += l + (d ? 1 : 0);
	}
	q[p++] = 0;
	q[p++] = (uint8_t)(type >> 8);
	q[p++] = (uint8_t)type;
	q[p++] = 0;
	q[p++] = 1;
	q[11] = 1; /* OPT */
	uint8_t opt[11] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
	memcpy(q + p, opt, 11);
	size_t rdl = p + 9;
	p += 11;
	if (ecs) {
		/* "a.b.c.d/n" or raw "fam:src:scope:hexbytes" for malformed ones */
		uint8_t o[40];
		size_t ol = 0;
		unsigned fam, src, sc;
		char hex[80];
		if (sscanf(ecs, "raw:%u:%u:%u:%79s", &fam, &src, &sc, hex) == 4) {
			o[0] = 0;
			o[1] = (uint8_t)fam;
			o[2] = (uint8_t)src;
			o[3] = (uint8_t)sc;
			ol = 4;
			for (char *h = hex; h[0] && h[1] && strcmp(h, "-"); h += 2) {
				unsigned b;
				sscanf(h, "%2x", &b);
				o[ol++] = (uint8_t)b;
			}
		} else {
			char a[64];
			snprintf(a, sizeof(a), "%s", ecs);
			char *sl = strchr(a, '/');
			*sl = 0;
			src = (unsigned)atoi(sl + 1);
			uint8_t bytes[16];
			fam = inet_pton(AF_INET, a, bytes) == 1 ? 1 : 2;
			if (fam == 2)
				inet_pton(AF_INET6, a, bytes);
			o[0] = 0;
			o[1] = (uint8_t)fam;
			o[2] = (uint8_t)src;
			o[3] = 0;
			memcpy(o + 4, bytes, (src + 7) / 8);
			ol = 4 + (src + 7) / 8;
		}
		q[p++] = 0;
		q[p++] = 8;
		q[p++] = 0;
		q[p++] = (uint8_t)ol;
		memcpy(q + p, o, ol);
		p += ol;
		q[rdl] = 0;
		q[rdl + 1] = (uint8_t)(4 + ol);
	}
	return p;
}

static size_t skipname(const uint8_t *r, size_t p)
{
	while (r[p] && (r[p] & 0xc0) != 0xc0)
		p += r[p] + 1u;
	return r[p] ? p + 2 : p + 1;
}

static struct p53_ctx ctx;
static struct p53_answer_cfg cfg;

static struct ans ask(const struct p53_snapshot *s, const char *name, uint16_t type,
		      const char *ecs, const char *src)
{
	uint8_t q[512], r[4096];
	size_t ql = mkq(q, name, type, ecs);
	struct p53_client cl = {0};
	if (src) {
		cl.family = 4;
		inet_pton(AF_INET, src, cl.addr);
	}
	size_t n = p53_answer(s, q, ql, &cl, &ctx, r, sizeof(r));
	struct ans a = {.rcode = n ? r[3] & 0xf : -1, .ecs_scope = -1};
	if (n < 12)
		return a;
	int an = r[6] << 8 | r[7], ns = r[8] << 8 | r[9], ar = r[10] << 8 | r[11];
	size_t p = skipname(r, 12) + 4;
	for (int i = 0; i < an + ns + ar; i++) {
		p = skipname(r, p);
		uint16_t t = (uint16_t)(r[p] << 8 | r[p + 1]),
			 l = (uint16_t)(r[p + 8] << 8 | r[p + 9]);
		if (i < an && t == 1 && a.an < 8)
			inet_ntop(AF_INET, r + p + 10, a.a[a.an++], 16);
		if (t == 41 && l >= 8 && r[p + 10] == 0 && r[p + 11] == 8)
			a.ecs_scope = r[p + 17];
		p += 10u + l;
	}
	return a;
}

static bool has(const struct ans *a, const char *ip)
{
	for (int i = 0; i < a->an; i++)
		if (strcmp(a->a[i], ip) == 0)
			return true;
	return false;
}

static uint8_t health[16];

static void set_health(const struct p53_snapshot *s, const char *id, int v)
{
	for (uint32_t i = 0; i < p53_snapshot_nhealth(s); i++)
		if (strcmp(p53_snapshot_health_id(s, i), id) == 0)
			health[i] = (uint8_t)v;
}

static const char *geo_csv(void)
{
	return write_tmp("10.1.0.0/16,NA,US,WA,47.6,-122.3\n"
			 "10.2.0.0/16,NA,US,NY,40.7,-74.0\n"
			 "10.3.0.0/16,EU,DE,,50.1,8.7\n"
			 "10.4.0.0/16,EU,FR,,48.9,2.35\n"
			 "10.5.0.0/16,AS,JP,,35.7,139.7\n"
			 "10.6.0.0/16,SA,BR,,-23.5,-46.6\n",
			 "csv");
}

static void test_selection(void)
{
	char msg[512];
	const char *geo = geo_csv();
	char path[128];
	snprintf(path, sizeof(path), "%s", geo);
	struct p53_snapshot *s = build(
	    A("w.example.com.",
	      "\"SetIdentifier\":\"a\",\"Weight\":70,\"TTL\":60,\"HealthCheckId\":\"ha\",",
	      "192.0.2.1") "," A("w.example.com.",
				 "\"SetIdentifier\":\"b\",\"Weight\":30,\"TTL\":60,"
				 "\"HealthCheckId\":\"hb\",",
				 "192.0.2.2") "," A("w.example.com.",
						    "\"SetIdentifier\":\"z\",\"Weight\":0,\"TTL\":"
						    "60,\"HealthCheckId\":\"hz\",",
						    "192.0.2.3") "," A("z.example.com.",
								       "\"SetIdentifier\":\"a\","
								       "\"Weight\":0,\"TTL\":60,",
								       "192.0.2.4") "," A("z."
											  "example."
											  "com.",
											  "\"SetIde"
											  "ntifier"
											  "\":"
											  "\"b\","
											  "\"Weight"
											  "\":0,"
											  "\"TTL\":"
											  "60,",
											  "192.0.2."
											  "5") "," A("f.example.com.",
												     "\"SetIdentifier\":\"p\",\"Failover\":\"PRIMARY\",\"TTL\":60,\"HealthCheckId\":\"hp\",", "192.0.2.10") "," A("f.example.com.",
																										  "\"SetIdentifier\":\"s\",\"Failover\":\"SECONDARY\",\"TTL\":60,\"HealthCheckId\":\"hs\",", "192.0.2.11") "," A("f2.example.com.", "\"SetIdentifier\":\"p\",\"Failover\":\"PRIMARY\",\"TTL\":60,\"HealthCheckId\":\"hp\",", "192.0.2.12") "," A("f2.example.com.",
																																																								 "\"SetIdentifier\":\"s\",\"Failover\":\"SECONDARY\",\"TTL\":60,", "192.0.2.13") "," A("g.example.com.", "\"SetIdentifier\":\"wa\",\"GeoLocation\":{\"CountryCode\":\"US\",\"SubdivisionCode\":\"WA\"},\"TTL\":60,\"HealthCheckId\":\"hg\",", "192.0.2.20") "," A("g.example.com.",
																																																																																								  "\"SetIdentifier\":\"us\",\"GeoLocation\":{\"CountryCode\":\"US\"},\"TTL\":60,", "192.0.2.21") "," A("g.example.com.", "\"SetIdentifier\":\"eu\",\"GeoLocation\":{\"ContinentCode\":\"EU\"},\"TTL\":60,", "192.0.2.22") "," A("g.example.com.", "\"SetIdentifier\":\"de\",\"GeoLocation\":{\"CountryCode\":\"DE\"},\"TTL\":60,",
																																																																																																																				"192.0.2.23") "," A("g.example.com.",
																																																																																																																						    "\"SetIdentifier\":\"def\",\"GeoLocation\":{\"CountryCode\":\"*\"},\"TTL\":60,", "192.0.2.24") "," A("gn.example.com.",
																																																																																																																																			 "\"SetIdentifier\":\"jp\",\"GeoLocation\":{\"CountryCode\":\"JP\"},\"TTL\":60,", "192.0.2.25") "," A("l.example.com.",
																																																																																																																																															      "\"SetIdentifier\":\"us\",\"Region\":\"us-east-1\",\"TTL\":60,",
																																																																																																																																															      "192.0.2.30") "," A("l.example.com.",
																																																																																																																																																		  "\"SetIdentifier\":\"eu\",\"Region\":\"eu-central-1\",\"TTL\":60,\"HealthCheckId\":\"hl\",",
																																																																																																																																																		  "192.0.2.31") "," A("l.example.com.", "\"SetIdentifier\":\"jp\",\"Region\":\"ap-northeast-1\",\"TTL\":60,", "192.0.2.32") "," A("p.example.com.", "\"SetIdentifier\":\"paris\",\"GeoProximityLocation\":{\"Coordinates\":{\"Latitude\":\"48.86\",\"Longitude\":\"2.35\"}},\"TTL\":60,", "192.0.2.40") "," A("p.example.com.", "\"SetIdentifier\":\"fra\",\"GeoProximityLocation\":{\"AWSRegion\":\"eu-central-1\"},\"TTL\":60,", "192.0.2.41") "," A("pb.example.com.", "\"SetIdentifier\":\"paris\",\"GeoProximityLocation\":{\"Coordinates\":{\"Latitude\":\"48.86\",\"Longitude\":\"2.35\"},\"Bias\":50},\"TTL\":60,", "192.0.2.42") "," A("pb.example.com.",
																																																																																																																																																																																																																																"\"SetIdentifier\":\"fra\",\"GeoProximityLocation\":{\"AWSRegion\":\"eu-central-1\",\"Bias\":-20},\"TTL\":60,",
																																																																																																																																																																																																																																"192.0.2.43") "," A("m.example.com.",
																																																																																																																																																																																																																																		    "\"SetIdentifier\":\"1\",\"MultiValueAnswer\":true,\"TTL\":60,\"HealthCheckId\":\"hm\",", "192.0.3.1") "," A("m.example.com.",
																																																																																																																																																																																																																																																 "\"SetIdentifier\":\"2\",\"MultiValueAnswer\":true,\"TTL\":60,\"HealthCheckId\":\"hm\",",
																																																																																																																																																																																																																																																 "192.0.3.2") "," A("m.example.com.",
																																																																																																																																																																																																																																																		    "\"SetIdentifier\":\"3\",\"MultiValueAnswer\":true,\"TTL\":60,\"HealthCheckId\":\"hm\",", "192.0.3.3") "," A("m.example.com.", "\"SetIdentifier\":\"4\",\"MultiValueAnswer\":true,\"TTL\":60,\"HealthCheckId\":\"hm\",", "192.0.3.4") "," A("m.example.com.",
																																																																																																																																																																																																																																																																																"\"SetIdentifier\":\"5\",\"MultiValueAnswer\":true,\"TTL\":60,\"HealthCheckId\":\"hm\",",
																																																																																																																																																																																																																																																																																"192.0.3.5") "," A("m.example.com.",
																																																																																																																																																																																																																																																																																		   "\"SetIdentifier\":\"6\",\"MultiValueAnswer\":true,\"TTL\":60,\"HealthCheckId\":\"hm\",",
																																																																																																																																																																																																																																																																																		   "192.0.3.6") "," A("m.example.com.",
																																																																																																																																																																																																																																																																																				      "\"SetIdentifier\":\"7\",\"MultiValueAnswer\":true,\"TTL\":60,\"HealthCheckId\":\"hm\",",
																																																																																																																																																																																																																																																																																				      "192.0.3.7") "," A("m.example.com.",
																																																																																																																																																																																																																																																																																							 "\"SetIdentifier\":\"8\",\"MultiValueAnswer\":true,\"TTL\":60,\"HealthCheckId\":\"hm\",",
																																																																																																																																																																																																																																																																																							 "192.0.3.8") "," A("m.example.com.", "\"SetIdentifier\":\"9\",\"MultiValueAnswer\":true,\"TTL\":60,\"HealthCheckId\":\"hm\",", "192.0.3.9") "," A("m.example.com.", "\"SetIdentifier\":\"10\",\"MultiValueAnswer\":true,\"TTL\":60,\"HealthCheckId\":\"hm10\",",
																																																																																																																																																																																																																																																																																																									   "192.0.3.10") "," A("c.example.com.", "\"SetIdentifier\":\"o\",\"CidrRoutingConfig\":{\"CollectionId\":\"col\",\"LocationName\":\"office\"},\"TTL\":60,", "192.0.2.50") "," A("c.example.com.", "\"SetIdentifier\":\"d\",\"CidrRoutingConfig\":{\"CollectionId\":\"col\",\"LocationName\":\"*\"},\"TTL\":60,", "192.0.2.51") ","
																																																																																																																																																																																																																																																																																																																																																	"{\"Name\":\"al.example.com.\",\"Type\":\"A\",\"AliasTarget\":{\"HostedZoneId\":\"Z\",\"DNSName\":\"f.example.com.\",\"EvaluateTargetHealth\":true}},"
																																																																																																																																																																																																																																																																																																																																																	"{\"Name\":\"al2.example.com.\",\"Type\":\"A\",\"AliasTarget\":{\"HostedZoneId\":\"Z\",\"DNSName\":\"ns.example.com.\",\"EvaluateTargetHealth\":false}}," A("af.example.com.",
																																																																																																																																																																																																																																																																																																																																																																				    "\"SetIdentifier\":\"p\",\"Failover\":\"PRIMARY\",\"TTL\":60,", "192.0.2.60") ","
																																																																																																																																																																																																																																																																																																																																																																														  "{\"Name\":\"af.example.com.\",\"Type\":\"A\",\"SetIdentifier\":\"x\",\"Failover\":\"SECONDARY\",\"AliasTarget\":{\"HostedZoneId\":\"Z\",\"DNSName\":\"f.example.com.\",\"EvaluateTargetHealth\":true}},"
																																																																																																																																																																																																																																																																																																																																																																														  "{\"Name\":\"cn.example.com.\",\"Type\":\"CNAME\",\"TTL\":60,\"ResourceRecords\":[{\"Value\":\"w.example.com.\"}]}",
	    "{\"CidrCollections\":[{\"Id\":\"col\",\"Locations\":[{\"LocationName\":\"office\","
	    "\"CidrList\":[\"10.9.0.0/16\"]}]}],"
	    "\"Changes\":[{\"Action\":\"UPSERT\",\"ResourceRecordSet\":" A(
		"x.example.com.", "\"TTL\":1,", "1.2.3.4") "}]}",
	    path, true, msg);
	CHECK(s != NULL);
	if (s == NULL) {
		fprintf(stderr, "%s\n", msg);
		return;
	}
	p53_answer_cfg_default(&cfg);
	p53_ctx_init(&ctx, &cfg, 12345);
	memset(health, 1, sizeof(health));
	ctx.health = health;
	ctx.nhealth = p53_snapshot_nhealth(s);

	/* Weighted: shares 70/30, never weight 0; chi-square, 1 d.f., p=0.001 */
	enum { N = 200000 };
	long ca = 0, cb = 0, cz = 0;
	for (int i = 0; i < N; i++) {
		struct ans a = ask(s, "w.example.com", 1, NULL, NULL);
		ca += has(&a, "192.0.2.1");
		cb += has(&a, "192.0.2.2");
		cz += has(&a, "192.0.2.3");
	}
	double ea = N * 0.7, eb = N * 0.3;
	double chi = (ca - ea) * (ca - ea) / ea + (cb - eb) * (cb - eb) / eb;
	printf("weighted 70/30 over %d: %ld/%ld, chi-square %.3f\n", N, ca, cb, chi);
	CHECK(chi < 10.83);
	CHECK_EQ(cz, 0);
	/* Unhealthy non-zero weight: the other; all non-zero down: weight 0. */
	set_health(s, "ha", 0);
	CHECK(has(&(struct ans){0}, "x") == false);
	for (int i = 0; i < 50; i++) {
		struct ans a = ask(s, "w.example.com", 1, NULL, NULL);
		CHECK(has(&a, "192.0.2.2"));
	}
	set_health(s, "hb", 0);
	struct ans a = ask(s, "w.example.com", 1, NULL, NULL);
	CHECK(has(&a, "192.0.2.3"));
	set_health(s, "hz", 0); /* all unhealthy: all count, by weight */
	ca = cz = 0;
	for (int i = 0; i < 1000; i++) {
		a = ask(s, "w.example.com", 1, NULL, NULL);
		ca += has(&a, "192.0.2.1");
		cz += has(&a, "192.0.2.3");
	}
	CHECK(ca > 600 && ca < 800);
	CHECK_EQ(cz, 0);
	/* All weights zero: equal shares. */
	ca = 0;
	for (int i = 0; i < 10000; i++) {
		a = ask(s, "z.example.com", 1, NULL, NULL);
		ca += has(&a, "192.0.2.4");
	}
	CHECK(ca > 4700 && ca < 5300);
	memset(health, 1, sizeof(health));

	/* Failover */
	a = ask(s, "f.example.com", 1, NULL, NULL);
	CHECK(a.an == 1 && has(&a, "192.0.2.10"));
	set_health(s, "hp", 0);
	a = ask(s, "f.example.com", 1, NULL, NULL);
	CHECK(a.an == 1 && has(&a, "192.0.2.11"));
	set_health(s, "hs", 0);
	a = ask(s, "f.example.com", 1, NULL, NULL);
	CHECK(a.an == 1 && has(&a, "192.0.2.10")); /* both down: primary */
	a = ask(s, "f2.example.com", 1, NULL, NULL);
	CHECK(has(&a, "192.0.2.13")); /* secondary without a check */
	/* Alias with EvaluateTargetHealth: f's group all down -> the failover
	 * alias secondary is skipped; the primary answers anyway. */
	a = ask(s, "al.example.com", 1, NULL, NULL);
	CHECK(has(&a, "192.0.2.10"));
	memset(health, 1, sizeof(health));
	a = ask(s, "al.example.com", 1, NULL, NULL);
	CHECK(has(&a, "192.0.2.10"));
	a = ask(s, "al2.example.com", 1, NULL, NULL);
	CHECK(a.an == 1 && has(&a, "192.0.2.53"));

	/* Geolocation: smallest region, health fallback, no match NODATA */
	a = ask(s, "g.example.com", 1, "10.1.2.0/24", NULL);
	CHECK(has(&a, "192.0.2.20"));
	CHECK_EQ(a.ecs_scope, 16);
	a = ask(s, "g.example.com", 1, "10.2.2.0/24", NULL);
	CHECK(has(&a, "192.0.2.21"));
	a = ask(s, "g.example.com", 1, "10.3.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.23")); /* country DE beats continent EU */
	a = ask(s, "g.example.com", 1, "10.4.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.22"));
	a = ask(s, "g.example.com", 1, "10.5.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.24"));
	a = ask(s, "g.example.com", 1, "192.168.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.24"));
	CHECK_EQ(a.ecs_scope, 24);
	a = ask(s, "g.example.com", 1, NULL, "10.1.9.9"); /* source address */
	CHECK(has(&a, "192.0.2.20"));
	CHECK_EQ(a.ecs_scope, -1);
	set_health(s, "hg", 0);
	a = ask(s, "g.example.com", 1, "10.1.2.0/24", NULL);
	CHECK(has(&a, "192.0.2.21")); /* WA down: US */
	memset(health, 1, sizeof(health));
	a = ask(s, "gn.example.com", 1, "10.3.0.0/24", NULL);
	CHECK(a.rcode == 0 && a.an == 0);
	a = ask(s, "gn.example.com", 1, "10.5.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.25"));

	/* Latency by distance; unhealthy: next nearest */
	a = ask(s, "l.example.com", 1, "10.4.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.31"));
	a = ask(s, "l.example.com", 1, "10.5.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.32"));
	a = ask(s, "l.example.com", 1, "10.2.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.30"));
	set_health(s, "hl", 0);
	a = ask(s, "l.example.com", 1, "10.4.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.30")); /* eu down: us-east-1 is nearer than Tokyo */
	memset(health, 1, sizeof(health));

	/* Geoproximity: nearest; bias moves the boundary */
	a = ask(s, "p.example.com", 1, "10.4.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.40"));
	a = ask(s, "p.example.com", 1, "10.3.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.41"));
	a = ask(s, "p.example.com", 1, "10.5.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.41")); /* Tokyo: Frankfurt is a little nearer */
	a = ask(s, "pb.example.com", 1, "10.5.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.42")); /* Paris +50, Frankfurt -20 */

	/* Multivalue: at most 8, healthy only, all unhealthy -> up to 8 */
	a = ask(s, "m.example.com", 1, NULL, NULL);
	CHECK_EQ(a.an, 8);
	set_health(s, "hm", 0);
	a = ask(s, "m.example.com", 1, NULL, NULL);
	CHECK(a.an == 1 && has(&a, "192.0.3.10"));
	set_health(s, "hm10", 0);
	a = ask(s, "m.example.com", 1, NULL, NULL);
	CHECK_EQ(a.an, 8);
	memset(health, 1, sizeof(health));
	bool seen10 = false;
	for (int i = 0; i < 200 && !seen10; i++) {
		a = ask(s, "m.example.com", 1, NULL, NULL);
		seen10 = has(&a, "192.0.3.10");
	}
	CHECK(seen10); /* different combinations */

	/* CIDR: a longer client prefix matches, a shorter one falls to "*" */
	a = ask(s, "c.example.com", 1, "10.9.1.0/24", NULL);
	CHECK(has(&a, "192.0.2.50"));
	CHECK_EQ(a.ecs_scope, 16);
	a = ask(s, "c.example.com", 1, "10.9.0.0/8", NULL);
	CHECK(has(&a, "192.0.2.51"));
	a = ask(s, "c.example.com", 1, "10.10.0.0/24", NULL);
	CHECK(has(&a, "192.0.2.51"));

	/* A CNAME to a weighted name follows the policy. */
	a = ask(s, "cn.example.com", 1, NULL, NULL);
	CHECK(a.an == 1 && (has(&a, "192.0.2.1") || has(&a, "192.0.2.2")));

	/* ECS: echoed with scope 0 for non-geo data; malformed -> FORMERR */
	a = ask(s, "ns.example.com", 1, "10.1.2.0/24", NULL);
	CHECK(a.rcode == 0 && a.ecs_scope == 0 && has(&a, "192.0.2.53"));
	a = ask(s, "ns.example.com", 1, "raw:3:24:0:0a0102", NULL);
	CHECK_EQ(a.rcode, 1); /* family */
	a = ask(s, "ns.example.com", 1, "raw:1:33:0:0a010203ff", NULL);
	CHECK_EQ(a.rcode, 1); /* prefix too long */
	a = ask(s, "ns.example.com", 1, "raw:1:24:0:0a0102ff", NULL);
	CHECK_EQ(a.rcode, 1); /* address longer than the prefix */
	a = ask(s, "ns.example.com", 1, "raw:1:23:0:0a0103", NULL);
	CHECK_EQ(a.rcode, 1); /* bits set past the prefix */
	a = ask(s, "ns.example.com", 1, "raw:2:48:0:20010db80001", NULL);
	CHECK(a.rcode == 0 && a.ecs_scope == 0);
	p53_snapshot_free(s);
}

/* Export: JSON -> snapshot -> JSON gives the same sets. */
static void test_roundtrip(void)
{
	char msg[512];
	struct p53_snapshot *s =
	    build(A("w.example.com.",
		    "\"SetIdentifier\":\"a\",\"Weight\":70,\"TTL\":60,\"HealthCheckId\":\"ha\",",
		    "192.0.2.1") ","
				 "{\"Name\":\"al.example.com.\",\"Type\":\"A\",\"AliasTarget\":{"
				 "\"HostedZoneId\":\"Z\",\"DNSName\":\"w.example.com.\","
				 "\"EvaluateTargetHealth\":true}}",
		  NULL, NULL, true, msg);
	CHECK(s != NULL);
	if (!s)
		return;
	char path[128];
	snprintf(path, sizeof(path), "%s/export.json", tmpdir);
	FILE *f = fopen(path, "w");
	CHECK_EQ(r53_export_json(s, "example.com.", f), 0);
	fclose(f);
	struct p53_zone_input zi = {"example.com.", path};
	/* Health checks live beside the zone, as in Route 53: the export
	 * names them and the second compile is given them again. */
	char hc[128];
	snprintf(hc, sizeof(hc), "%s", checks_for("\"HealthCheckId\":\"ha\""));
	struct p53_compile_opts o = {.serial = 1, .health_checks = hc};
	struct p53_err err = {0};
	uint8_t *img;
	size_t len;
	CHECK_EQ(p53_compile(&zi, 1, &o, &img, &len, &err), 0);
	struct p53_snapshot *s2 = p53_snapshot_from_mem(img, len, &err);
	free(img);
	char *t1 = NULL, *t2 = NULL;
	size_t l1, l2;
	FILE *m1 = open_memstream(&t1, &l1), *m2 = open_memstream(&t2, &l2);
	r53_export_json(s, "example.com.", m1);
	r53_export_json(s2, "example.com.", m2);
	fclose(m1);
	fclose(m2);
	CHECK_STR(t1, t2);
	CHECK(strstr(t1, "\"Weight\": 70") && strstr(t1, "\"EvaluateTargetHealth\": true"));
	free(t1);
	free(t2);
	p53_snapshot_free(s);
	p53_snapshot_free(s2);
}

/* Export of one zone as text (list-resource-record-sets shape). */
static char *export_text(const struct p53_snapshot *s)
{
	char *t = NULL;
	size_t l;
	FILE *m = open_memstream(&t, &l);
	r53_export_json(s, "example.com.", m);
	fclose(m);
	return t;
}

/* Route 53's own rules for names and escapes, keys, codes and references:
 * each rejection names the JSON path and the Route 53 error. */
static void test_strict(void)
{
	char msg[512];
	/* A typo in a key is refused with its path, not dropped. */
	REJECT(A("w.example.com.", "\"TTL\":60,\"HealthCheckID\":\"h\",", "192.0.2.1"),
	       "ResourceRecordSets[3].HealthCheckID: InvalidInput", "unknown key");
	REJECT(A("g.example.com.",
		 "\"SetIdentifier\":\"a\",\"GeoLocation\":{\"Country\":\"DE\"},\"TTL\":1,",
		 "1.2.3.4"),
	       "ResourceRecordSets[3].GeoLocation.Country: InvalidInput", NULL);
	REJECT("{\"Name\":\"a.example.com.\",\"Type\":\"A\",\"AliasTarget\":{\"HostedZoneId\":"
	       "\"Z\",\"DNSName\":\"ns.example.com.\",\"EvaluateTargetHealth\":false,"
	       "\"EvaluateHealth\":true}}",
	       "AliasTarget.EvaluateHealth: InvalidInput", NULL);
	REJECT(A("r.example.com.", "\"TTL\":60,", "192.0.2.1\"},{\"Valeu\":\"192.0.2.2"),
	       "ResourceRecords[1].Valeu: InvalidInput", NULL);
	REJECT_BATCH(
	    "",
	    "{\"ChangeBatch\":{\"Changes\":[{\"Action\":\"CREATE\",\"Foo\":1,"
	    "\"ResourceRecordSet\":" A("n.example.com.", "\"TTL\":60,", "192.0.2.1") "}]}}",
	    "ChangeBatch.Changes[0].Foo: InvalidInput", NULL);
	REJECT_BATCH("",
		     "{\"Changes\":[{\"Action\":\"CREATE\",\"ResourceRecordSet\":" A(
			 "n.example.com.", "\"TTL\":60,\"Wieght\":1,", "192.0.2.1") "}]}",
		     "Changes[0].ResourceRecordSet.Wieght: InvalidInput", NULL);
	REJECT_BATCH("", "{\"ResourceRecordSet\":[]}", "ResourceRecordSet: InvalidInput", NULL);
	/* Types in upper case only. */
	REJECT("{\"Name\":\"t.example.com.\",\"Type\":\"a\",\"TTL\":1,\"ResourceRecords\":[{"
	       "\"Value\":\"192.0.2.1\"}]}",
	       "ResourceRecordSets[3].Type: InvalidInput", "upper case");
	REJECT("{\"Name\":\"t.example.com.\",\"Type\":\"Mx\",\"TTL\":1,\"ResourceRecords\":[{"
	       "\"Value\":\"10 a.example.com\"}]}",
	       "Type: InvalidInput", NULL);
	REJECT("{\"Name\":\"t.example.com.\",\"Type\":\"FOO\",\"TTL\":1,\"ResourceRecords\":[{"
	       "\"Value\":\"x\"}]}",
	       "Type: InvalidInput", "Type must be one of");
	/* Codes: ISO 3166-1 alpha-2 (GB, not UK) and US states. */
	REJECT(A("g.example.com.",
		 "\"SetIdentifier\":\"a\",\"GeoLocation\":{\"CountryCode\":\"UK\"},\"TTL\":1,",
		 "1.2.3.4"),
	       "GeoLocation.CountryCode: InvalidInput", NULL);
	REJECT(A("g.example.com.",
		 "\"SetIdentifier\":\"a\",\"GeoLocation\":{\"CountryCode\":\"us\"},\"TTL\":1,",
		 "1.2.3.4"),
	       "GeoLocation.CountryCode: InvalidInput", NULL);
	REJECT(A("g.example.com.",
		 "\"SetIdentifier\":\"a\",\"GeoLocation\":{\"CountryCode\":\"US\","
		 "\"SubdivisionCode\":\"ZZ\"},\"TTL\":1,",
		 "1.2.3.4"),
	       "GeoLocation.SubdivisionCode: InvalidInput", NULL);
	/* References that do not exist. */
	auto_checks = false;
	REJECT(A("f.example.com.", "\"TTL\":60,\"HealthCheckId\":\"nope\",", "192.0.2.1"),
	       "ResourceRecordSets[3].HealthCheckId: NoSuchHealthCheck", "nope");
	auto_checks = true;
	const char *cidr =
	    "{\"CidrCollections\":[{\"Id\":\"c1\",\"Locations\":[{\"LocationName\":\"office\","
	    "\"CidrList\":[\"10.9.0.0/16\"]}]}]}";
	REJECT_BATCH(A("c.example.com.",
		       "\"SetIdentifier\":\"a\",\"CidrRoutingConfig\":{\"CollectionId\":\"c2\","
		       "\"LocationName\":\"office\"},\"TTL\":1,",
		       "1.2.3.4"),
		     cidr, "CidrRoutingConfig.CollectionId: NoSuchCidrCollectionException", NULL);
	REJECT_BATCH(A("c.example.com.",
		       "\"SetIdentifier\":\"a\",\"CidrRoutingConfig\":{\"CollectionId\":\"c1\","
		       "\"LocationName\":\"home\"},\"TTL\":1,",
		       "1.2.3.4"),
		     cidr, "CidrRoutingConfig.LocationName: NoSuchCidrLocationException", NULL);
	/* A file of CIDR collections only, or of health checks only, is
	 * accepted; the default location "*" needs no block. */
	struct p53_snapshot *s =
	    build(A("c.example.com.",
		    "\"SetIdentifier\":\"a\",\"CidrRoutingConfig\":{\"CollectionId\":\"c1\","
		    "\"LocationName\":\"office\"},\"TTL\":1,",
		    "1.2.3.4") "," A("c.example.com.",
				     "\"SetIdentifier\":\"b\",\"CidrRoutingConfig\":{"
				     "\"CollectionId\":\"c1\",\"LocationName\":\"*\"},\"TTL\":1,",
				     "1.2.3.5"),
		  cidr, NULL, false, msg);
	CHECK(s != NULL);
	if (s == NULL)
		fprintf(stderr, "  %s\n", msg);
	p53_snapshot_free(s);
	auto_checks = false;
	s = build(A("f.example.com.", "\"TTL\":60,\"HealthCheckId\":\"hc-1\",", "192.0.2.1"),
		  "{\"HealthCheck\":{\"Id\":\"hc-1\",\"CallerReference\":\"x\","
		  "\"HealthCheckConfig\":{\"Type\":\"HTTP\",\"FullyQualifiedDomainName\":"
		  "\"www.example.net\",\"Port\":80,\"RequestInterval\":30,\"FailureThreshold\":3,"
		  "\"MeasureLatency\":false,\"Inverted\":false,\"Disabled\":false,"
		  "\"EnableSNI\":false},\"HealthCheckVersion\":1}}",
		  NULL, false, msg);
	CHECK(s != NULL);
	if (s == NULL)
		fprintf(stderr, "  %s\n", msg);
	p53_snapshot_free(s);
	/* Health checks: unknown keys, CALCULATED children. */
	REJECT_BATCH("",
		     "{\"HealthChecks\":[{\"Id\":\"h\",\"HealthCheckConfig\":{\"Type\":\"TCP\","
		     "\"IPAddress\":\"192.0.2.1\",\"Port\":80,\"FailureTreshold\":3}}]}",
		     "HealthChecks[0].HealthCheckConfig.FailureTreshold: InvalidInput", NULL);
	REJECT_BATCH("",
		     "{\"HealthChecks\":[{\"Id\":\"h\",\"HealthCheckConfig\":{\"Type\":\"TCP\","
		     "\"IPAddress\":\"192.0.2.1\"}}]}",
		     "TCP checks need a Port", NULL);
	REJECT_BATCH(
	    "", "{\"HealthChecks\":[{\"Id\":\"h\",\"HealthCheckConfig\":{\"Type\":\"HTTP\"}}]}",
	    "IPAddress or a FullyQualifiedDomainName", NULL);
	const char *calc = "{\"HealthChecks\":["
			   "{\"Id\":\"leaf\",\"HealthCheckConfig\":{\"Type\":\"TCP\",\"IPAddress\":"
			   "\"192.0.2.1\",\"Port\":80}},"
			   "{\"Id\":\"inner\",\"HealthCheckConfig\":{\"Type\":\"CALCULATED\","
			   "\"HealthThreshold\":1,\"ChildHealthChecks\":[\"leaf\"]}},"
			   "{\"Id\":\"outer\",\"HealthCheckConfig\":{\"Type\":\"CALCULATED\","
			   "\"HealthThreshold\":1,\"ChildHealthChecks\":[\"leaf\",\"inner\"]}}]}";
	REJECT_BATCH("", calc, "ChildHealthChecks[1]: InvalidInput", "calculated children");
	REJECT_BATCH("",
		     "{\"HealthChecks\":[{\"Id\":\"c\",\"HealthCheckConfig\":{\"Type\":"
		     "\"CALCULATED\",\"HealthThreshold\":1,\"ChildHealthChecks\":[\"gone\"]}}]}",
		     "ChildHealthChecks[0]: NoSuchHealthCheck", NULL);
	auto_checks = true;

	/* Names in values are fully qualified, dot or not; "\052" is "*";
	 * octal escapes in values; all written back the same way. */
	s = build("{\"Name\":\"\\\\052.w.example.com\",\"Type\":\"A\",\"TTL\":60,"
		  "\"ResourceRecords\":[{\"Value\":\"192.0.2.7\"}]},"
		  "{\"Name\":\"mx.example.com\",\"Type\":\"MX\",\"TTL\":60,"
		  "\"ResourceRecords\":[{\"Value\":\"10 mail.example.net\"},"
		  "{\"Value\":\"20 mail2.example.net.\"}]},"
		  "{\"Name\":\"cn.example.com\",\"Type\":\"CNAME\",\"TTL\":60,"
		  "\"ResourceRecords\":[{\"Value\":\"www.example.com\"}]},"
		  "{\"Name\":\"srv.example.com\",\"Type\":\"SRV\",\"TTL\":60,"
		  "\"ResourceRecords\":[{\"Value\":\"1 2 443 target.example.org\"}]},"
		  "{\"Name\":\"t.example.com\",\"Type\":\"TXT\",\"TTL\":60,"
		  "\"ResourceRecords\":[{\"Value\":\"\\\"caf\\\\351\\\" \\\"a\\\\\\\"b\\\"\"}]}",
		  NULL, NULL, true, msg);
	CHECK(s != NULL);
	if (s == NULL) {
		fprintf(stderr, "  %s\n", msg);
		return;
	}
	struct ans a = ask(s, "x.w.example.com", 1, NULL, NULL);
	CHECK(a.rcode == 0 && a.an == 1 && has(&a, "192.0.2.7")); /* a wildcard, not "4" */
	char *t = export_text(s);
	CHECK(strstr(t, "\"10 mail.example.net.\"") != NULL);
	CHECK(strstr(t, "\"20 mail2.example.net.\"") != NULL);
	CHECK(strstr(t, "\"www.example.com.\"") != NULL);
	CHECK(strstr(t, "\"1 2 443 target.example.org.\"") != NULL);
	CHECK(strstr(t, "example.net.example.com") == NULL);
	CHECK(strstr(t, "\"Name\": \"\\\\052.w.example.com.\"") != NULL);
	CHECK(strstr(t, "caf\\\\351") != NULL);
	if (!strstr(t, "caf\\\\351") || !strstr(t, "\\\\052.w"))
		fprintf(stderr, "%s\n", t);
	free(t);
	p53_snapshot_free(s);
	REJECT("{\"Name\":\"t.example.com\",\"Type\":\"TXT\",\"TTL\":60,"
	       "\"ResourceRecords\":[{\"Value\":\"\\\"a\\\\089\\\"\"}]}",
	       "ResourceRecords[0].Value: InvalidChangeBatch", "octal");
	REJECT("{\"Name\":\"\\\\400.example.com\",\"Type\":\"A\",\"TTL\":60,"
	       "\"ResourceRecords\":[{\"Value\":\"192.0.2.1\"}]}",
	       "Name: InvalidInput", "octal");
}

/* Every ISO 3166-1 code and US state is accepted and nothing else, against
 * Debian's iso-codes tables (independent of the list in r53json.c). */
static void test_iso_codes(void)
{
	json_error_t je;
	json_t *c1 = json_load_file("/usr/share/iso-codes/json/iso_3166-1.json", 0, &je),
	       *c2 = json_load_file("/usr/share/iso-codes/json/iso_3166-2.json", 0, &je);
	if (c1 == NULL || c2 == NULL) {
		printf("iso-codes tables missing: country-code check skipped\n");
		json_decref(c1);
		json_decref(c2);
		return;
	}
	char *sets = malloc(1 << 20);
	char msg[512];
	size_t i, n = 0;
	json_t *e;
	bool seen[26 * 26] = {0};
	sets[0] = 0;
	json_array_foreach(json_object_get(c1, "3166-1"), i, e)
	{
		const char *a2 = json_string_value(json_object_get(e, "alpha_2"));
		seen[(a2[0] - 'A') * 26 + a2[1] - 'A'] = true;
		/* 100 records per group: one name per 90 countries. */
		sprintf(sets + strlen(sets),
			"%s{\"Name\":\"g%zu.example.com.\",\"Type\":\"A\",\"SetIdentifier\":"
			"\"%s\",\"GeoLocation\":{\"CountryCode\":\"%s\"},\"TTL\":60,"
			"\"ResourceRecords\":[{\"Value\":\"192.0.2.1\"}]}",
			n++ ? "," : "", i / 90, a2, a2);
	}
	json_array_foreach(json_object_get(c2, "3166-2"), i, e)
	{
		const char *code = json_string_value(json_object_get(e, "code")),
			   *type = json_string_value(json_object_get(e, "type"));
		if (strncmp(code, "US-", 3) != 0 ||
		    (strcmp(type, "State") != 0 && strcmp(type, "District") != 0))
			continue;
		sprintf(sets + strlen(sets),
			",{\"Name\":\"us.example.com.\",\"Type\":\"A\",\"SetIdentifier\":"
			"\"%s\",\"GeoLocation\":{\"CountryCode\":\"US\",\"SubdivisionCode\":"
			"\"%s\"},\"TTL\":60,\"ResourceRecords\":[{\"Value\":\"192.0.2.1\"}]}",
			code + 3, code + 3);
	}
	struct p53_snapshot *s = build(sets, NULL, NULL, false, msg);
	CHECK(s != NULL);
	if (s == NULL)
		fprintf(stderr, "  %s\n", msg);
	p53_snapshot_free(s);
	/* Every other pair of capitals is refused (sampled: each first letter). */
	int refused = 0, tried = 0;
	for (int x = 0; x < 26 * 26; x += 7) {
		if (seen[x])
			continue;
		char frag[300], code[3] = {(char)('A' + x / 26), (char)('A' + x % 26), 0};
		snprintf(frag, sizeof(frag),
			 A("g.example.com.",
			   "\"SetIdentifier\":\"a\",\"GeoLocation\":{\"CountryCode\":\"%s\"},"
			   "\"TTL\":1,",
			   "1.2.3.4"),
			 code);
		s = build(frag, NULL, NULL, false, msg);
		tried++;
		refused += s == NULL && strstr(msg, "CountryCode: InvalidInput") != NULL;
		p53_snapshot_free(s);
	}
	CHECK_EQ(refused, tried);
	free(sets);
	json_decref(c1);
	json_decref(c2);
}

/* Compiles the base sets plus extra with a geo database, a latency table
 * and region overrides (any may be NULL). */
static struct p53_snapshot *build_lat(const char *extra, const char *geo, const char *lat,
				      const char *regions, char *msg)
{
	char *text = malloc(strlen(extra) + sizeof(base_sets) + 64);
	sprintf(text, "{\"ResourceRecordSets\":[%s,%s]}", base_sets, extra);
	char path[128];
	snprintf(path, sizeof(path), "%s", write_tmp(text, "json"));
	free(text);
	struct p53_zone_input zi = {"example.com.", path};
	char hc[128] = "";
	const char *hcp = checks_for(extra);
	if (hcp)
		snprintf(hc, sizeof(hc), "%s", hcp);
	struct p53_compile_opts o = {.serial = 1,
				     .geo_csv = geo,
				     .latency_csv = lat,
				     .regions_csv = regions,
				     .health_checks = hcp ? hc : NULL};
	struct p53_err err = {0};
	uint8_t *img;
	size_t len;
	msg[0] = 0;
	if (p53_compile(&zi, 1, &o, &img, &len, &err) != 0) {
		snprintf(msg, 512, "%s", err.msg);
		return NULL;
	}
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &err);
	if (s == NULL)
		snprintf(msg, 512, "%s", err.msg);
	/* A bad LATROW index with valid checksums must still be refused. */
	const struct snap_hdr *h = (const void *)img;
	for (uint32_t i = 0; s && i < h->nsect; i++) {
		if (h->sect[i].id != SECT_LAT4 || h->sect[i].len == 0)
			continue;
		struct snap_geo4 *g = (void *)(img + h->sect[i].off);
		uint32_t keep = g->loc;
		g->loc = 1000000;
		snap_seal(img, len);
		struct p53_snapshot *bad = p53_snapshot_from_mem(img, len, &err);
		CHECK(bad == NULL);
		p53_snapshot_free(bad);
		g->loc = keep;
	}
	free(img);
	return s;
}

#define LAT_SETS                                                                                   \
	A("l.example.com.", "\"SetIdentifier\":\"us\",\"Region\":\"us-east-1\",\"TTL\":60,",       \
	  "192.0.2.30")                                                                            \
	"," A("l.example.com.",                                                                    \
	      "\"SetIdentifier\":\"eu\",\"Region\":\"eu-central-1\",\"TTL\":60,",                  \
	      "192.0.2.31") "," A("l.example.com.",                                                \
				  "\"SetIdentifier\":\"jp\",\"Region\":\"ap-northeast-1\","        \
				  "\"TTL\":60,"                                                    \
				  "\"HealthCheckId\":\"hj\",",                                     \
				  "192.0.2.32")

/* compile --latency and --regions: the table decides where it has the
 * client's prefix, distance where it does not. */
static void test_latency_table(void)
{
	char msg[512], geo[128], lat[128];
	snprintf(geo, sizeof(geo), "%s", geo_csv());
	snprintf(lat, sizeof(lat), "%s",
		 write_tmp("# prefix,region,ms\n"
			   "10.1.0.0/16,ap-northeast-1,20\n"
			   "10.1.0.0/16, us-east-1, 70.5\n"
			   "10.1.0.0/16,eu-central-1,150\n"
			   "10.3.0.0/20,us-east-1,5\n"
			   "10.6.0.0/16,eu-west-1,10\n"
			   "2001:db8:1::/48,eu-central-1,3\n",
			   "csv"));
	struct p53_snapshot *s = build_lat(LAT_SETS, geo, lat, NULL, msg);
	CHECK(s != NULL);
	if (s == NULL) {
		fprintf(stderr, "latency table: %s\n", msg);
		return;
	}
	p53_ctx_init(&ctx, &cfg, 777);
	memset(health, 1, sizeof(health));
	ctx.health = health;
	ctx.nhealth = p53_snapshot_nhealth(s);
	/* WA: the table says Tokyo is fastest, though Virginia is nearer. */
	struct ans a = ask(s, "l.example.com", 1, "10.1.2.0/24", NULL);
	CHECK(a.an == 1 && has(&a, "192.0.2.32") && a.ecs_scope == 16);
	a = ask(s, "l.example.com", 1, NULL, "10.1.9.9"); /* source address too */
	CHECK(a.an == 1 && has(&a, "192.0.2.32"));
	/* Tokyo unhealthy: the next lowest latency, us-east-1 (70.5 ms). */
	set_health(s, "hj", 0);
	a = ask(s, "l.example.com", 1, "10.1.2.0/24", NULL);
	CHECK(a.an == 1 && has(&a, "192.0.2.30"));
	memset(health, 1, sizeof(health));
	/* DE inside the table's /20: us-east-1 (5 ms), scope 20; outside
	 * it: nearest by distance, Frankfurt, with the geo range's scope. */
	a = ask(s, "l.example.com", 1, "10.3.0.0/24", NULL);
	CHECK(a.an == 1 && has(&a, "192.0.2.30") && a.ecs_scope == 20);
	a = ask(s, "l.example.com", 1, "10.3.128.0/24", NULL);
	CHECK(a.an == 1 && has(&a, "192.0.2.31") && a.ecs_scope == 16);
	/* NY, not in the table: distance (us-east-1). */
	a = ask(s, "l.example.com", 1, "10.2.0.0/24", NULL);
	CHECK(a.an == 1 && has(&a, "192.0.2.30"));
	/* BR: only eu-west-1 measured, which has no record: the rest by
	 * distance, São Paulo being nearer Virginia than Frankfurt. */
	a = ask(s, "l.example.com", 1, "10.6.0.0/24", NULL);
	CHECK(a.an == 1 && has(&a, "192.0.2.30") && a.ecs_scope == 16);
	/* IPv6 prefix in the table. */
	a = ask(s, "l.example.com", 1, "raw:2:56:0:20010db8000100", NULL);
	CHECK(a.an == 1 && has(&a, "192.0.2.31") && a.ecs_scope == 48);
	p53_snapshot_free(s);

	/* --regions: Tokyo's record placed at São Paulo wins for BR; a new
	 * region name becomes valid for records and the table. */
	const char *regs = write_tmp("ap-northeast-1,-23.5,-46.6\nxx-test-1,0,0\n", "csv");
	char regp[128];
	snprintf(regp, sizeof(regp), "%s", regs);
	s = build_lat(LAT_SETS "," A("x.example.com.",
				     "\"SetIdentifier\":\"x\",\"Region\":\"xx-test-1\",\"TTL\":60,",
				     "192.0.2.33"),
		      geo, lat, regp, msg);
	CHECK(s != NULL);
	if (s) {
		a = ask(s, "l.example.com", 1, "10.6.0.0/24", NULL);
		CHECK(a.an == 1 && has(&a, "192.0.2.32"));
		p53_snapshot_free(s);
	}
	/* Without --regions the override is gone and the new name unknown. */
	s = build_lat(A("x.example.com.",
			"\"SetIdentifier\":\"x\",\"Region\":\"xx-test-1\",\"TTL\":60,",
			"192.0.2.33"),
		      geo, NULL, NULL, msg);
	CHECK(s == NULL && strstr(msg, "Region must name an AWS region"));
	p53_snapshot_free(s);

	/* Bad tables and region files name the problem. */
	static const struct {
		const char *lat, *regions, *want;
	} bad[] = {
	    {"10.1.0.0/16,us-east-1,1\n10.1.128.0/17,eu-central-1,2\n", NULL, "overlap"},
	    {"10.1.0.0/16,us-east-1,1\n10.1.0.0/16,us-east-1,2\n", NULL, "twice"},
	    {"10.1.0.0/16,mars-1,1\n", NULL, "unknown region 'mars-1'"},
	    {"10.1.0.0/16,us-east-1,fast\n", NULL, "prefix/length,region,milliseconds"},
	    {"10.1.0.0,us-east-1,1\n", NULL, "prefix/length,region,milliseconds"},
	    {"10.1.0.0/33,us-east-1,1\n", NULL, "prefix/length,region,milliseconds"},
	    {"10.1.0.0/16,us-east-1,-1\n", NULL, "prefix/length,region,milliseconds"},
	    {"10.1.0.0/16,us-east-1,1,extra\n", NULL, "prefix/length,region,milliseconds"},
	    {NULL, "us-east-1,91,0\n", "region,latitude,longitude"},
	    {NULL, "US-EAST-1,1,0\n", "region,latitude,longitude"},
	    {NULL, "us-east-1,1\n", "region,latitude,longitude"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char lp[128] = "", rp[128] = "";
		if (bad[i].lat)
			snprintf(lp, sizeof(lp), "%s", write_tmp(bad[i].lat, "csv"));
		if (bad[i].regions)
			snprintf(rp, sizeof(rp), "%s", write_tmp(bad[i].regions, "csv"));
		s = build_lat(LAT_SETS, geo, bad[i].lat ? lp : NULL, bad[i].regions ? rp : NULL,
			      msg);
		CHECK(s == NULL && strstr(msg, bad[i].want));
		if (s || !strstr(msg, bad[i].want))
			fprintf(stderr, "bad table %zu: %s\n", i, msg);
		p53_snapshot_free(s);
	}
}

/* compile --geo with a MaxMind DB: one network 0.0.0.0/1 (an IPv4 tree,
 * 24-bit records; bytes written by tests/e2e/mmdb_write.py), found by its
 * metadata marker under another name; a broken one names the file. The
 * full comparison with the CSV loader is tests/e2e/test_mmdb.py. */
static void test_geo_mmdb(void)
{
	static const char db[] = "\x00\x00\x11\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
				 "\x00\x00\x00\x00\x00\x00"
				 "\xe2\x47\x63\x6f\x75\x6e\x74\x72\x79\xe1\x48\x69\x73\x6f\x5f\x63"
				 "\x6f\x64\x65\x42\x44\x45"
				 "\x48\x6c\x6f\x63\x61\x74\x69\x6f\x6e\xe2\x48\x6c\x61\x74\x69\x74"
				 "\x75\x64\x65\x68\x40\x49"
				 "\x00\x00\x00\x00\x00\x00\x49\x6c\x6f\x6e\x67\x69\x74\x75\x64\x65"
				 "\x68\x40\x21\x00\x00\x00"
				 "\x00\x00\x00\xab\xcd\xef\x4d\x61\x78\x4d\x69\x6e\x64\x2e\x63\x6f"
				 "\x6d\xe9\x5b\x62\x69\x6e"
				 "\x61\x72\x79\x5f\x66\x6f\x72\x6d\x61\x74\x5f\x6d\x61\x6a\x6f\x72"
				 "\x5f\x76\x65\x72\x73\x69"
				 "\x6f\x6e\xa1\x02\x5b\x62\x69\x6e\x61\x72\x79\x5f\x66\x6f\x72\x6d"
				 "\x61\x74\x5f\x6d\x69\x6e"
				 "\x6f\x72\x5f\x76\x65\x72\x73\x69\x6f\x6e\xa0\x4b\x62\x75\x69\x6c"
				 "\x64\x5f\x65\x70\x6f\x63"
				 "\x68\x04\x02\x65\x53\xf1\x00\x4d\x64\x61\x74\x61\x62\x61\x73\x65"
				 "\x5f\x74\x79\x70\x65\x41"
				 "\x74\x4b\x64\x65\x73\x63\x72\x69\x70\x74\x69\x6f\x6e\xe1\x42\x65"
				 "\x6e\x50\x70\x6f\x72\x74"
				 "\x35\x33\x20\x74\x65\x73\x74\x20\x64\x61\x74\x61\x4a\x69\x70\x5f"
				 "\x76\x65\x72\x73\x69\x6f"
				 "\x6e\xa1\x04\x49\x6c\x61\x6e\x67\x75\x61\x67\x65\x73\x01\x04\x42"
				 "\x65\x6e\x4a\x6e\x6f\x64"
				 "\x65\x5f\x63\x6f\x75\x6e\x74\xc1\x01\x4b\x72\x65\x63\x6f\x72\x64"
				 "\x5f\x73\x69\x7a\x65\xa1"
				 "\x18";
	char path[96];
	snprintf(path, sizeof(path), "%s/geo.dat", tmpdir);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	fwrite(db, 1, sizeof(db) - 1, f);
	fclose(f);
	struct r53_geo g = {0};
	struct p53_err err = {0};
	CHECK_EQ(r53_geo_load(path, &g, &err), 0);
	CHECK_EQ(g.n4, 1);
	CHECK_EQ(g.n6, 0);
	CHECK_EQ(g.nlocs, 1);
	if (g.n4 == 1 && g.nlocs == 1) {
		CHECK_EQ(g.v4[0].lo, 0);
		CHECK_EQ(g.v4[0].hi, 0x7fffffffu);
		CHECK_EQ(g.v4[0].plen, 1);
		CHECK(memcmp(g.locs[0].country, "DE", 2) == 0 && g.locs[0].continent[0] == 0);
		CHECK_EQ(g.locs[0].lat_e6, 50000000);
		CHECK_EQ(g.locs[0].lon_e6, 8500000);
	}
	r53_geo_free(&g);
	/* Cut before the metadata: refused with the file's name. */
	snprintf(path, sizeof(path), "%s/cut.mmdb", tmpdir);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	fwrite(db, 1, 40, f);
	fclose(f);
	CHECK(r53_geo_load(path, &g, &err) != 0);
	CHECK(strstr(err.msg, path) != NULL && strstr(err.msg, "not a valid MaxMind DB") != NULL);
	r53_geo_free(&g);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_r53.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	test_validation();
	test_selection();
	test_roundtrip();
	test_strict();
	test_iso_codes();
	test_latency_table();
	test_geo_mmdb();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return check_report("r53");
}
