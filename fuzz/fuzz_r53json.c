/* Route 53 JSON (record sets, change batches, CIDR collections) through the
 * whole compiler, with the fixtures' geo database and latency table: the
 * compiler refuses it with a message or builds a snapshot that the loader
 * accepts, that answers every name, and that exports back to JSON. */
#include "fuzz/fuzz.h"

#include "zones/compile/compile.h"
#include "zones/compile/r53json.h"

#include <stdio.h>
#include <stdlib.h>

static char geo[4096], lat[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_tmpdir();
	snprintf(geo, sizeof(geo), "%s", fuzz_src("tests/e2e/r53/geo.csv"));
	snprintf(lat, sizeof(lat), "%s", fuzz_src("fuzz/data/latency.csv"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t health[16] = {1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1};
	if (size > 64 * 1024)
		return 0;
	struct p53_compile_opts o = {.serial = 1, .geo_csv = geo, .latency_csv = lat};
	struct p53_snapshot *s = fuzz_compile_input("r.json", data, size, &o);
	if (s == NULL)
		return 0;
	fuzz_walk_snapshot(s, health, sizeof(health), fuzz_seed(data, size));
	r53_export_json(s, "example.com.", fuzz_devnull());
	p53_snapshot_free(s);
	return 0;
}
