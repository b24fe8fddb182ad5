/* Zone-file text through the whole compiler: parse, check, build the
 * snapshot and pre-render its answers, load it (every loader check), answer
 * from it and print it back. Whatever the text, the compiler must refuse it
 * with a message or produce a snapshot the loader accepts.
 *
 * $INCLUDE is forbidden (an error like any other): it would read other
 * files of this machine, which is not what this target explores. */
#include "fuzz/fuzz.h"

#include "zones/compile/compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_tmpdir();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	const char *path = fuzz_put("z.zone", data, size);
	if (path == NULL)
		abort();
	char p[512];
	snprintf(p, sizeof(p), "%s", path);
	struct p53_zone_input in = {"example.com.", p};
	struct p53_compile_opts o = {.serial = 1, .include = ZPARSE_INCLUDE_FORBID};
	uint8_t *img;
	size_t len;
	struct p53_err err = {0};
	if (p53_compile(&in, 1, &o, &img, &len, &err) != 0) {
		if (err.msg[0] == 0)
			abort(); /* a refusal always says why */
		return 0;
	}
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &err);
	free(img);
	if (s == NULL) {
		fprintf(stderr, "compiled snapshot refused by the loader: %s\n", err.msg);
		abort();
	}
	fuzz_walk_snapshot(s, NULL, 0, fuzz_seed(data, size));
	FILE *null = fopen("/dev/null", "w");
	if (null) {
		p53_dump(s, null);
		fclose(null);
	}
	p53_snapshot_free(s);
	return 0;
}
