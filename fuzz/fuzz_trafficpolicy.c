/* Route 53 traffic-policy documents (traffic flow: Endpoints, Rules,
 * StartRule / StartEndpoint). The input is one policy Document; the target
 * binds it, as the API gives it (a JSON string), to an instance in the zone
 * example.org (tests/zones/example.org.zone gives its SOA) and compiles that with the fixtures'
 * health checks, alias map and geo database, so that references to checks and to AWS resources can
 * resolve. Refused with a message, or a snapshot that the loader accepts
 * and that answers every name. */
#include "fuzz/fuzz.h"

#include "zones/compile/compile.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char geo[4096], lat[4096], hc[4096], amap[4096], soa[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_tmpdir();
	snprintf(geo, sizeof(geo), "%s", fuzz_src("tests/e2e/r53/geo.csv"));
	snprintf(lat, sizeof(lat), "%s", fuzz_src("fuzz/data/latency.csv"));
	snprintf(hc, sizeof(hc), "%s", fuzz_src("tests/e2e/r53/health-check.json"));
	snprintf(amap, sizeof(amap), "%s", fuzz_src("tests/e2e/r53/alias-map.json"));
	snprintf(soa, sizeof(soa), "%s", fuzz_src("tests/zones/example.org.zone"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t health[8] = {1, 0, 1, 1, 0, 1, 1, 1};
	if (size > 64 * 1024)
		return 0;
	/* Not UTF-8: no JSON string can carry it, as in the API. */
	json_t *docstr = json_stringn((const char *)data, size);
	if (docstr == NULL)
		return 0;
	json_t *root = json_pack("{s:[{s:s,s:i,s:o}],s:[{s:s,s:i,s:s,s:i}]}", "TrafficPolicies",
				 "Id", "fuzz-policy", "Version", 1, "Document", docstr,
				 "TrafficPolicyInstances", "Name", "tf.example.org.", "TTL", 60,
				 "TrafficPolicyId", "fuzz-policy", "TrafficPolicyVersion", 1);
	if (root == NULL)
		abort();
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		abort();
	const char *path = fuzz_put("tp.json", text, strlen(text));
	free(text);
	if (path == NULL)
		abort();
	/* The zone's SOA and NS come from a zone file read first. */
	char p[8704];
	snprintf(p, sizeof(p), "%s,%s", soa, path);
	struct p53_zone_input in = {"example.org.", p};
	struct p53_compile_opts o = {.serial = 1,
				     .geo_csv = geo,
				     .latency_csv = lat,
				     .health_checks = hc,
				     .alias_map = amap,
				     .threads = FUZZ_COMPILE_THREADS};
	struct p53_snapshot *s = fuzz_compile_load(&in, &o);
	if (s == NULL)
		return 0;
	fuzz_walk_snapshot(s, health, sizeof(health), fuzz_seed(data, size));
	p53_snapshot_free(s);
	return 0;
}
