/* The alias map (--alias-map, {"AliasMappings": [...]}): the records served
 * for aliases to AWS resources. The test zone with such aliases
 * (tests/e2e/r53/aliases.json, after tests/zones/example.org.zone for its
 * SOA and NS) is compiled against the input as its map:
 * refused with a message, or a snapshot the loader accepts and that
 * answers every name. */
#include "fuzz/fuzz.h"

#include "zones/compile/compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char zone[8192];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_tmpdir();
	char soa[4096];
	snprintf(soa, sizeof(soa), "%s", fuzz_src("tests/zones/example.org.zone"));
	snprintf(zone, sizeof(zone), "%s,%s", soa, fuzz_src("tests/e2e/r53/aliases.json"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t health[4] = {1, 0, 1, 1};
	if (size > 64 * 1024)
		return 0;
	const char *path = fuzz_put("amap.json", data, size);
	if (path == NULL)
		abort();
	char p[512];
	snprintf(p, sizeof(p), "%s", path);
	struct p53_zone_input in = {"example.org.", zone};
	struct p53_compile_opts o = {.serial = 1, .alias_map = p, .threads = FUZZ_COMPILE_THREADS};
	struct p53_snapshot *s = fuzz_compile_load(&in, &o);
	if (s == NULL)
		return 0;
	fuzz_walk_snapshot(s, health, sizeof(health), fuzz_seed(data, size));
	p53_snapshot_free(s);
	return 0;
}
