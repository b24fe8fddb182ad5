/* What the command-line tools share: one way to report a usage error, to
 * read a number and to print --version, so every tool names the problem the
 * same way and exits with the same codes.
 *
 * Exit codes (every tool, documented in the man pages):
 *   0 success, 1 the work failed (bad input, refused, I/O), 2 usage error,
 *   3 (port53ctl) the server could not be reached.
 */
#ifndef P53_CLI_H
#define P53_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_UNREACHABLE = 3 };

/* "PROG CMD: <message>" and a pointer to CMD --help on stderr; returns
 * CLI_USAGE. cmd may be NULL for the tool itself. */
int cli_usage_error(const char *prog, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Names what getopt_long found wrong: c is its return value (':' for a
 * missing argument, '?' otherwise; the optstring must start with ':'),
 * argv the vector it parsed. Returns CLI_USAGE. */
int cli_getopt_error(const char *prog, const char *cmd, int c, char **argv);

/* Parses a decimal integer in [lo, hi]; on anything else reports
 * "PROG CMD: OPTION must be an integer from LO to HI, not 'TEXT'" and
 * returns -1. */
int cli_u64(const char *prog, const char *cmd, const char *option, const char *text, uint64_t lo,
	    uint64_t hi, uint64_t *out);

/* "PROG (port53) VERSION" on stdout. */
void cli_version(const char *prog);

#endif
