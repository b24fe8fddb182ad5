/* The fleet's options (see fleetopt.h): one parser and one set of ranges
 * for both programs. */
#include "ctrl/fleet/fleetopt.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int number(const char *name, const char *v, unsigned long long lo, unsigned long long hi,
		  unsigned *out, char *why, size_t cap)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || n < lo || n > hi) {
		snprintf(why, cap, "--%s must be an integer from %llu to %llu, not '%s'", name, lo,
			 hi, v);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

int fleetopt_set(struct follow_cfg *o, struct nodehealth_cfg *n, const char *name,
		 const char *value, char *why, size_t cap)
{
	if (strcmp(name, "origin-url") == 0) {
		if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
			snprintf(why, cap,
				 "--origin-url must be an http:// or https:// URL, not '%s'",
				 value);
			return -1;
		}
		o->url = value;
		return 0;
	}
	if (*value == 0) {
		snprintf(why, cap, "--%s needs a value", name);
		return -1;
	}
	if (strcmp(name, "origin-dir") == 0)
		o->dir = value;
	else if (strcmp(name, "origin-ca-file") == 0)
		o->ca_file = value;
	else if (strcmp(name, "origin-header-file") == 0)
		o->header_file = value;
	else if (strcmp(name, "origin-interval-ms") == 0)
		return number(name, value, 100, 86400000, &o->interval_ms, why, cap);
	else if (strcmp(name, "origin-timeout-ms") == 0)
		return number(name, value, 100, 3600000, &o->timeout_ms, why, cap);
	else if (strcmp(name, "node-max-snapshot-age-s") == 0)
		return number(name, value, 0, 31536000, &n->max_snapshot_age_s, why, cap);
	else if (strcmp(name, "node-max-origin-silence-s") == 0)
		return number(name, value, 0, 31536000, &n->origin_max_silence_s, why, cap);
	else if (strcmp(name, "node-min-signature-validity-s") == 0)
		return number(name, value, 0, 31536000, &n->min_signature_validity_s, why, cap);
	else if (strcmp(name, "node-worker-stall-ms") == 0)
		return number(name, value, 100, 3600000, &n->worker_stall_ms, why, cap);
	else {
		snprintf(why, cap, "unknown fleet option --%s", name);
		return -1;
	}
	return 0;
}
