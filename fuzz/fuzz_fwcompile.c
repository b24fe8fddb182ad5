/* The DNS Firewall compiler on arbitrary rules and lists: it refuses them
 * with a message, or builds a file that the loader accepts and that answers
 * checks. The input is the rules JSON, optionally followed by a line
 * "#LIST" and the text of list.txt, the list file rules may name. */
#include "fuzz/fuzz.h"

#include "zones/answer/fw.h"
#include "zones/common/name.h"
#include "zones/compile/fwcompile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEP "\n#LIST\n"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_tmpdir();
	return 0;
}

static const uint8_t *find(const uint8_t *d, size_t n, const char *s)
{
	size_t k = strlen(s);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(d + i, s, k) == 0)
			return d + i;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	const uint8_t *sep = find(data, size, SEP);
	size_t rl = sep ? (size_t)(sep - data) : size;
	if (sep) {
		size_t off = rl + strlen(SEP);
		if (fuzz_put("list.txt", data + off, size - off) == NULL)
			abort();
	} else if (fuzz_put("list.txt", "", 0) == NULL) {
		abort();
	}
	const char *path = fuzz_put("rules.json", data, rl);
	if (path == NULL)
		abort();
	char p[512];
	snprintf(p, sizeof(p), "%s", path);
	struct p53_fw_compile_opts o = {.serial = 1};
	uint8_t *img;
	size_t len;
	struct p53_err err = {0};
	if (p53_fw_compile(p, &o, &img, &len, &err) != 0) {
		if (err.msg[0] == 0)
			abort(); /* a refusal always says why */
		return 0;
	}
	struct p53_fw *fw = p53_fw_from_mem(img, len, 1, &err);
	free(img);
	if (fw == NULL) {
		fprintf(stderr, "compiled firewall refused by the loader: %s\n", err.msg);
		abort();
	}
	static const char *const names[] = {"www.example.com",
					    "a.b.c.test",
					    "exact.test",
					    "x.sub.test",
					    "aaaaaaaaaaaaaaaa.victim.test",
					    "."};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint8_t w[P53_NAME_MAX];
		int n = name_from_text(names[i], strlen(names[i]), (const uint8_t *)"", w, NULL);
		struct p53_fw_verdict v;
		if (n > 0) {
			name_lower(w, (size_t)n);
			p53_fw_check(fw, 0, w, (size_t)n, (uint16_t)(1 + i), &v);
		}
	}
	p53_fw_free(fw);
	return 0;
}
