/* Route 53 health-check definitions: reading and validating them.
 *
 * One reader for both sides: the compiler needs the set of check ids (a
 * HealthCheckId that names no check is NoSuchHealthCheck, as in Route 53),
 * the checker (ctrl/health.c) needs every field. Accepted shapes are what
 * the AWS CLI prints and takes: `list-health-checks` ({"HealthChecks": [...]}),
 * `get-health-check` ({"HealthCheck": {...}}), or a bare array, each check
 * {"Id", "HealthCheckConfig": {...}} (CallerReference, HealthCheckVersion,
 * LinkedService, CloudWatchAlarmConfiguration accepted and ignored). Unknown
 * keys are refused with their JSON path.
 */
#ifndef P53_R53HC_H
#define P53_R53HC_H

#include "zones/common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum r53_hc_type {
	R53_HC_HTTP,
	R53_HC_HTTPS,
	R53_HC_HTTP_STR,
	R53_HC_HTTPS_STR,
	R53_HC_TCP,
	R53_HC_CALC,
	R53_HC_METRIC /* CLOUDWATCH_METRIC: port53 reads the alarm state from StatusFile */
};

struct r53_hc {
	char *id;
	enum r53_hc_type type;
	char *ip;   /* IPAddress, or NULL: then fqdn is resolved at each check */
	char *fqdn; /* FullyQualifiedDomainName (Host header, SNI) */
	char *path; /* ResourcePath with its leading '/' */
	char *search;
	char *status_file;
	int port, interval, threshold, health_threshold;
	bool inverted, disabled, sni;
	int insufficient; /* 0 Healthy, 1 Unhealthy, 2 LastKnownStatus */
	char **children;
	size_t nchildren;
};

struct r53_hcset {
	struct r53_hc *v;
	size_t n, cap;
};

const char *r53_hc_type_name(enum r53_hc_type t);

/* Adds the checks of one JSON document (any accepted shape). file names the
 * source in messages. A duplicate Id is refused. */
int r53_hc_add_json(struct r53_hcset *set, json_t *root, const char *file, struct p53_err *err);
int r53_hc_load_file(struct r53_hcset *set, const char *path, struct p53_err *err);
/* True when root holds health checks ("HealthChecks" or "HealthCheck"). */
bool r53_hc_present(json_t *root);
/* Rules across checks: every child of a CALCULATED check exists
 * (NoSuchHealthCheck) and is not itself CALCULATED (InvalidInput). */
int r53_hc_finish(const struct r53_hcset *set, const char *file, struct p53_err *err);
const struct r53_hc *r53_hc_find(const struct r53_hcset *set, const char *id);
void r53_hcset_free(struct r53_hcset *set);
/* Drops the checks added after the first n (a failed file changes nothing). */
void r53_hcset_truncate(struct r53_hcset *set, size_t n);

/* Refuses a key of obj that is not in allowed (NULL-terminated), naming
 * "file: path.key". Shared by every Route 53 JSON reader. */
int r53_check_keys(json_t *obj, const char *const *allowed, const char *file, const char *path,
		   struct p53_err *err);

#endif
