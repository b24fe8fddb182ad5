/* The configuration file of port53d and `port53 serve` (YAML, libfyaml).
 *
 * One file serves both programs: each takes the keys that apply to it and
 * leaves the others (dataplane: is port53d's, kernel: is serve's). The file
 * is turned into the programs' own command-line options, placed before the
 * ones given by hand, so a flag on the command line overrides the file and
 * both go through the same checks. docs/operations.md lists every key.
 *
 * Errors name the place: "FILE:LINE:COL: section.key: reason". Unknown
 * keys are errors (a typo must not be silently ignored).
 */
#ifndef P53_CONF_H
#define P53_CONF_H

#include <stdbool.h>
#include <stddef.h>

enum conf_prog {
	CONF_SERVE = 1,	  /* port53 serve (kernel sockets) */
	CONF_PORT53D = 2, /* the DPDK data plane */
};

struct conf;

/* Called once per problem found, with the whole "FILE:LINE:COL: ..." text. */
typedef void (*conf_report_fn)(void *arg, const char *msg);

/* Parses and checks path. Returns NULL after reporting every problem
 * (returns the number of problems in *nerr when nerr is not NULL). */
struct conf *conf_load(const char *path, conf_report_fn report, void *arg, unsigned *nerr);
void conf_free(struct conf *c);

/* Builds the argument vector prog runs with: argv[0], then the options the
 * file sets for prog that the user's own arguments (argv[1..argc-1]) do not
 * set, then the user's. For CONF_PORT53D the vector is
 *   argv[0] EAL... -- OPTIONS...
 * where EAL is the user's EAL arguments (those before "--") when there are
 * any, else the file's dataplane.eal. The vector and its strings live until
 * conf_free. Returns the new argc, or -1 on allocation failure. */
int conf_argv(struct conf *c, enum conf_prog prog, int argc, char **argv, char ***out);

/* Removes "--config FILE" / "--config=FILE" (and, for serve, "-c FILE")
 * from argv in place, returning FILE or NULL; *argc is updated. For port53d
 * only the long form is taken, since EAL owns -c. "" in *bad when the
 * option had no value. */
const char *conf_take_path(int *argc, char **argv, bool allow_short, bool *bad);

#endif
