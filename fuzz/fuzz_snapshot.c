/* Snapshot loading on mutated snapshots, re-sealed: libFuzzer mutates a
 * valid snapshot, fuzz_reseal() recomputes its section checksums and content
 * hash, so the loader's hash checks pass and its structural checks are what
 * stand between the bytes and the engine. What the loader accepts is then
 * asked about every node it holds. The promise under test
 * (docs/snapshot-format.md): no file with valid checksums makes the engine
 * read outside the mapping, loop or dereference null. */
#include "fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t health[4] = {1, 0, 1, 0};
	if (size > (1u << 20))
		return 0;
	uint8_t *img = malloc(size ? size : 1);
	if (img == NULL)
		abort();
	memcpy(img, data, size);
	fuzz_reseal(img, size);
	struct p53_err err = {0};
	struct p53_snapshot *s = p53_snapshot_from_mem(img, size, &err);
	free(img);
	if (s == NULL) {
		if (err.msg[0] == 0)
			abort(); /* a refusal always says why */
		return 0;
	}
	fuzz_walk_snapshot(s, health, sizeof(health), fuzz_seed(data, size));
	p53_snapshot_free(s);
	return 0;
}
