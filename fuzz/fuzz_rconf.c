/* The resolver's configuration file (ctrl/resolv/rconf.c, libfyaml): a
 * refusal carries a message; what is accepted holds together, so the
 * lookups the resolver makes per query (view of a client, rule of a name)
 * stay inside the tables for every view. */
#include "fuzz/fuzz.h"

#include "ctrl/resolv/rconf.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_tmpdir();
	return 0;
}

/* Canonical wire names the rules are asked about: the root, one label, a
 * name under a rule domain of the seeds, and one of 127 labels. */
static size_t probe_name(unsigned which, uint8_t *w)
{
	static const uint8_t corp[] = "\3www\4corp\7example";
	switch (which) {
	case 0:
		w[0] = 0;
		return 1;
	case 1:
		memcpy(w, "\7example", 9);
		return 9;
	case 2:
		memcpy(w, corp, sizeof(corp));
		return sizeof(corp);
	default:
		for (unsigned i = 0; i < 127; i++) {
			w[2 * i] = 1;
			w[2 * i + 1] = 'a';
		}
		w[254] = 0;
		return 255;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	const char *path = fuzz_put("r.yaml", data, size);
	if (path == NULL)
		abort();
	struct p53_err err = {0};
	struct rconf *rc = rconf_load(path, &err);
	if (rc == NULL) {
		if (err.msg[0] == 0)
			abort(); /* a refusal says why */
		return 0;
	}
	if (rc->nviews == 0 || rc->nviews > RCONF_MAX_VIEWS || rc->nrules > RCONF_MAX_RULES)
		abort();
	uint8_t a4[4], a6[16];
	inet_pton(AF_INET, "192.0.2.77", a4);
	inet_pton(AF_INET6, "2001:db8::1", a6);
	int v4 = rconf_view_of(rc, 4, a4, NULL), v6 = rconf_view_of(rc, 6, a6, NULL);
	if (v4 >= (int)rc->nviews || v6 >= (int)rc->nviews)
		abort();
	uint8_t w[P53_NAME_MAX];
	for (unsigned v = 0; v < rc->nviews; v++) {
		for (unsigned k = 0; k < 4; k++) {
			size_t len = probe_name(k, w);
			int r = rconf_rule_of(rc, v, w, len);
			if (r >= (int)rc->nrules)
				abort();
		}
	}
	rconf_free(rc);
	return 0;
}
