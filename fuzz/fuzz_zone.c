/* Zone-file text through the whole compiler: parse, check, build the
 * snapshot and pre-render its answers, load it (every loader check), answer
 * from it and print it back. Whatever the text, the compiler must refuse it
 * with a message or produce a snapshot the loader accepts.
 *
 * $INCLUDE is forbidden (an error like any other): it would read other
 * files of this machine, which is not what this target explores. $GENERATE
 * is capped at 512 records, so one input cannot make a run slow. */
#include "fuzz/fuzz.h"

#include "zones/compile/compile.h"

#include <stdio.h>
#include <stdlib.h>

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
	struct p53_compile_opts o = {
	    .serial = 1, .include = ZPARSE_INCLUDE_FORBID, .max_generate = 512};
	struct p53_snapshot *s = fuzz_compile_input("z.zone", data, size, &o);
	if (s == NULL)
		return 0;
	fuzz_walk_snapshot(s, NULL, 0, fuzz_seed(data, size));
	p53_dump(s, fuzz_devnull());
	p53_snapshot_free(s);
	return 0;
}
