/* Route 53 health-check JSON (zones/compile/r53hc.c), the reader shared by
 * the compiler and the checker (ctrl/health.c): a file is refused with a
 * message and leaves the set as it was, or every check it adds is whole
 * (an id, a known type, the children a CALCULATED check names). */
#include "fuzz/fuzz.h"

#include "zones/compile/r53hc.h"

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
	const char *path = fuzz_put("hc.json", data, size);
	if (path == NULL)
		abort();
	struct r53_hcset set = {0};
	struct p53_err err = {0};
	if (r53_hc_load_file(&set, path, &err) != 0) {
		if (err.msg[0] == 0 || set.n != 0)
			abort(); /* refused with a message, nothing kept */
		r53_hcset_free(&set);
		return 0;
	}
	for (size_t i = 0; i < set.n; i++) {
		const struct r53_hc *c = &set.v[i];
		if (c->id == NULL || r53_hc_find(&set, c->id) == NULL ||
		    r53_hc_type_name(c->type) == NULL)
			abort();
		if (c->type == R53_HC_CALC)
			for (size_t k = 0; k < c->nchildren; k++)
				if (c->children[k] == NULL)
					abort();
	}
	struct p53_err ferr = {0};
	if (r53_hc_finish(&set, path, &ferr) != 0 && ferr.msg[0] == 0)
		abort();
	/* The same file again: every id is now a duplicate, so a file that
	 * added checks is refused and the set keeps exactly what it had. */
	size_t n = set.n;
	struct p53_err again = {0};
	int rc = r53_hc_load_file(&set, path, &again);
	if (set.n != n || (n > 0 && rc == 0) || (rc != 0 && again.msg[0] == 0))
		abort();
	r53_hcset_free(&set);
	return 0;
}
