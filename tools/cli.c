/* Shared command-line conventions: see cli.h. */
#include "tools/cli.h"

#include "p53_version.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void prefix(const char *prog, const char *cmd)
{
	if (cmd)
		fprintf(stderr, "%s %s: ", prog, cmd);
	else
		fprintf(stderr, "%s: ", prog);
}

static void hint(const char *prog, const char *cmd)
{
	if (cmd)
		fprintf(stderr, "Try '%s %s --help'.\n", prog, cmd);
	else
		fprintf(stderr, "Try '%s --help'.\n", prog);
}

int cli_usage_error(const char *prog, const char *cmd, const char *fmt, ...)
{
	va_list ap;
	prefix(prog, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	hint(prog, cmd);
	return CLI_USAGE;
}

int cli_getopt_error(const char *prog, const char *cmd, int c, char **argv)
{
	/* optind already points past the word getopt was looking at. */
	const char *word = optind > 0 ? argv[optind - 1] : "?";
	if (c == ':') {
		if (optopt && optopt < 256)
			return cli_usage_error(prog, cmd, "option -%c needs a value", optopt);
		return cli_usage_error(prog, cmd, "option %s needs a value", word);
	}
	if (optopt && optopt < 256 && word[0] == '-' && word[1] != '-')
		return cli_usage_error(prog, cmd, "unknown option -%c", optopt);
	return cli_usage_error(prog, cmd, "unknown option %s", word);
}

int cli_u64(const char *prog, const char *cmd, const char *option, const char *text, uint64_t lo,
	    uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || v < lo || v > hi) {
		cli_usage_error(prog, cmd, "%s must be an integer from %llu to %llu, not '%s'",
				option, (unsigned long long)lo, (unsigned long long)hi, text);
		return -1;
	}
	*out = v;
	return 0;
}

void cli_version(const char *prog)
{
	printf("%s (port53) %s\n", prog, P53_VERSION);
}
