/* The YAML configuration file (ctrl/conf.c, libfyaml): conf_load refuses it
 * with at least one located message or accepts it, and what it accepts
 * turns into both programs' argument vectors, with and without arguments
 * of the user's own that override the file's. */
#include "fuzz/fuzz.h"

#include "ctrl/conf.h"

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

static void on_report(void *arg, const char *msg)
{
	if (msg == NULL || msg[0] == 0)
		abort(); /* every problem is reported with its text */
	(*(unsigned *)arg)++;
}

static void check_argv(struct conf *c, enum conf_prog prog, int argc, char **argv)
{
	char **out = NULL;
	int n = conf_argv(c, prog, argc, argv, &out);
	if (n < 0)
		return; /* allocation failure is reported, not a crash */
	if (n < argc || out == NULL || out[n] != NULL)
		abort(); /* the user's arguments are kept, the vector terminated */
	for (int i = 0; i < n; i++)
		if (out[i] == NULL)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	const char *path = fuzz_put("c.yaml", data, size);
	if (path == NULL)
		abort();
	unsigned reported = 0, nerr = 0;
	struct conf *c = conf_load(path, on_report, &reported, &nerr);
	if (c == NULL) {
		if (reported == 0 || nerr == 0)
			abort(); /* a refusal says why */
		return 0;
	}
	char a0[] = "port53", a1[] = "--identity=fuzz", a2[] = "-l", a3[] = "-w", a4[] = "--";
	char *bare[] = {a0, NULL};
	char *user[] = {a0, a1, NULL};
	char *eal[] = {a0, a2, a3, a4, a1, NULL};
	check_argv(c, CONF_SERVE, 1, bare);
	check_argv(c, CONF_SERVE, 2, user);
	check_argv(c, CONF_PORT53D, 1, bare);
	check_argv(c, CONF_PORT53D, 5, eal);
	conf_free(c);
	return 0;
}
