/* The fleet's command-line options, the same for `port53 serve` and
 * port53d (their getopt tables list FLEETOPT_LONG; conf.c maps the
 * configuration file's origin: and node: sections onto them).
 */
#ifndef P53_FLEETOPT_H
#define P53_FLEETOPT_H

#include "ctrl/fleet/follow.h"
#include "ctrl/fleet/nodehealth.h"

#include <stddef.h>

/* getopt_long entries; every one takes a value and returns val. */
#define FLEETOPT_LONG(val)                                                                         \
	{"origin-url", required_argument, NULL, (val)},                                            \
	    {"origin-dir", required_argument, NULL, (val)},                                        \
	    {"origin-interval-ms", required_argument, NULL, (val)},                                \
	    {"origin-timeout-ms", required_argument, NULL, (val)},                                 \
	    {"origin-ca-file", required_argument, NULL, (val)},                                    \
	    {"origin-header-file", required_argument, NULL, (val)},                                \
	    {"node-max-snapshot-age-s", required_argument, NULL, (val)},                           \
	    {"node-max-origin-silence-s", required_argument, NULL, (val)},                         \
	    {"node-min-signature-validity-s", required_argument, NULL, (val)},                     \
	{                                                                                          \
		"node-worker-stall-ms", required_argument, NULL, (val)                             \
	}

/* Sets option name (without "--") to value; 0, or -1 with the reason in
 * why. Strings are kept by pointer. */
int fleetopt_set(struct follow_cfg *origin, struct nodehealth_cfg *node, const char *name,
		 const char *value, char *why, size_t cap);

#endif
