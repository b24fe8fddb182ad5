/* Route 53 health-check definitions (r53hc.h).
 *
 * The limits are Route 53's (route53-semantics.md section 3): RequestInterval
 * 10 or 30, FailureThreshold 1-10, ResourcePath and SearchString <= 255,
 * HealthThreshold 0-256, at most 256 children. Errors are named the way
 * Route 53 names them (InvalidInput, NoSuchHealthCheck) so an operator can
 * match them with the AWS documentation.
 */
#include "zones/compile/r53hc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
    "HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP", "CALCULATED", "CLOUDWATCH_METRIC"};

const char *r53_hc_type_name(enum r53_hc_type t)
{
	return type_names[t];
}

int r53_check_keys(json_t *obj, const char *const *allowed, const char *file, const char *path,
		   struct p53_err *err)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		size_t i = 0;
		while (allowed[i] && strcmp(allowed[i], k) != 0)
			i++;
		if (allowed[i] == NULL)
			return p53_err_set(err, P53_EINVAL,
					   "%s: %s%s%.100s: InvalidInput: unknown key \"%.100s\"",
					   file, path, *path ? "." : "", k, k);
	}
	return 0;
}

static void hc_clear(struct r53_hc *c)
{
	free(c->id);
	free(c->ip);
	free(c->fqdn);
	free(c->path);
	free(c->search);
	free(c->status_file);
	for (size_t k = 0; k < c->nchildren; k++)
		free(c->children[k]);
	free(c->children);
	memset(c, 0, sizeof(*c));
}

void r53_hcset_free(struct r53_hcset *set)
{
	for (size_t i = 0; i < set->n; i++)
		hc_clear(&set->v[i]);
	free(set->v);
	memset(set, 0, sizeof(*set));
}

void r53_hcset_truncate(struct r53_hcset *set, size_t n)
{
	while (set->n > n)
		hc_clear(&set->v[--set->n]);
}

const struct r53_hc *r53_hc_find(const struct r53_hcset *set, const char *id)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i].id, id) == 0)
			return &set->v[i];
	return NULL;
}

bool r53_hc_present(json_t *root)
{
	return json_is_object(root) &&
	       (json_object_get(root, "HealthChecks") || json_object_get(root, "HealthCheck"));
}

static const char *const check_keys[] = {"Id",
					 "HealthCheckConfig",
					 "CallerReference",
					 "HealthCheckVersion",
					 "LinkedService",
					 "CloudWatchAlarmConfiguration",
					 NULL};
static const char *const config_keys[] = {"IPAddress",
					  "Port",
					  "Type",
					  "ResourcePath",
					  "FullyQualifiedDomainName",
					  "SearchString",
					  "RequestInterval",
					  "FailureThreshold",
					  "MeasureLatency",
					  "Inverted",
					  "Disabled",
					  "HealthThreshold",
					  "ChildHealthChecks",
					  "EnableSNI",
					  "Regions",
					  "AlarmIdentifier",
					  "InsufficientDataHealthStatus",
					  "RoutingControlArn",
					  "StatusFile", /* port53: the alarm state's source */
					  NULL};

static char *sdup(json_t *v)
{
	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* An optional integer in [lo, hi]; def when absent. */
static bool int_field(json_t *cfg, const char *k, long lo, long hi, long def, int *out)
{
	json_t *v = json_object_get(cfg, k);
	if (v == NULL) {
		*out = (int)def;
		return true;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return false;
	*out = (int)json_integer_value(v);
	return true;
}

static bool bool_field(json_t *cfg, const char *k, bool *out)
{
	json_t *v = json_object_get(cfg, k);
	if (v && !json_is_boolean(v))
		return false;
	*out = json_is_true(v);
	return true;
}

static int read_check(struct r53_hc *c, json_t *o, const char *file, const char *path,
		      struct p53_err *err)
{
	char p[160];
#define BAD(field, code, ...)                                                                      \
	do {                                                                                       \
		char why_[300];                                                                    \
		snprintf(why_, sizeof(why_), __VA_ARGS__);                                         \
		return p53_err_set(err, P53_EINVAL, "%s: %s%s: %s: health check %.64s: %s", file,  \
				   path, field, code, c->id ? c->id : "(no Id)", why_);            \
	} while (0)
	if (!json_is_object(o))
		BAD("", "InvalidInput", "a health check must be an object");
	int rc = r53_check_keys(o, check_keys, file, path, err);
	if (rc)
		return rc;
	json_t *id = json_object_get(o, "Id"), *cfg = json_object_get(o, "HealthCheckConfig");
	if (!json_is_string(id) || json_string_length(id) < 1 || json_string_length(id) > 64)
		BAD(".Id", "InvalidInput", "Id must be a string of 1-64 characters");
	c->id = sdup(id);
	if (!json_is_object(cfg))
		BAD(".HealthCheckConfig", "InvalidInput", "HealthCheckConfig is required");
	snprintf(p, sizeof(p), "%s.HealthCheckConfig", path);
	if ((rc = r53_check_keys(cfg, config_keys, file, p, err)) != 0)
		return rc;
	const char *t = json_string_value(json_object_get(cfg, "Type"));
	int type = -1;
	for (int k = 0; t && k < 7; k++)
		if (strcmp(t, type_names[k]) == 0)
			type = k;
	if (t && strcmp(t, "RECOVERY_CONTROL") == 0)
		BAD(".HealthCheckConfig.Type", "InvalidInput",
		    "RECOVERY_CONTROL checks are not supported by port53");
	if (type < 0)
		BAD(".HealthCheckConfig.Type", "InvalidInput",
		    "Type must be HTTP, HTTPS, HTTP_STR_MATCH, HTTPS_STR_MATCH, TCP, CALCULATED "
		    "or CLOUDWATCH_METRIC");
	c->type = (enum r53_hc_type)type;
	bool endpoint = c->type != R53_HC_CALC && c->type != R53_HC_METRIC;
	bool tls = c->type == R53_HC_HTTPS || c->type == R53_HC_HTTPS_STR;
	bool str = c->type == R53_HC_HTTP_STR || c->type == R53_HC_HTTPS_STR;
	json_t *v;
	if ((v = json_object_get(cfg, "IPAddress"))) {
		unsigned char a[16];
		const char *ip = json_string_value(v);
		if (!ip || (inet_pton(AF_INET, ip, a) != 1 && inet_pton(AF_INET6, ip, a) != 1))
			BAD(".HealthCheckConfig.IPAddress", "InvalidInput",
			    "IPAddress must be an IPv4 or IPv6 address");
		c->ip = strdup(ip);
	}
	if ((v = json_object_get(cfg, "FullyQualifiedDomainName"))) {
		if (!json_is_string(v) || json_string_length(v) < 1 ||
		    json_string_length(v) > 255 || strpbrk(json_string_value(v), " /:"))
			BAD(".HealthCheckConfig.FullyQualifiedDomainName", "InvalidInput",
			    "FullyQualifiedDomainName must be a host name of 1-255 characters");
		c->fqdn = sdup(v);
		size_t l = strlen(c->fqdn);
		if (l > 1 && c->fqdn[l - 1] == '.')
			c->fqdn[l - 1] = 0; /* HTTP Host headers carry no root dot */
	}
	if (endpoint && !c->ip && !c->fqdn)
		BAD("", "InvalidInput", "%s checks need an IPAddress or a FullyQualifiedDomainName",
		    t);
	if (!int_field(cfg, "Port", 1, 65535, tls ? 443 : 80, &c->port))
		BAD(".HealthCheckConfig.Port", "InvalidInput", "Port must be 1-65535");
	if (c->type == R53_HC_TCP && !json_object_get(cfg, "Port"))
		BAD(".HealthCheckConfig.Port", "InvalidInput", "TCP checks need a Port");
	if (!int_field(cfg, "RequestInterval", 10, 30, 30, &c->interval) ||
	    (c->interval != 10 && c->interval != 30))
		BAD(".HealthCheckConfig.RequestInterval", "InvalidInput",
		    "RequestInterval must be 10 or 30");
	if (!int_field(cfg, "FailureThreshold", 1, 10, 3, &c->threshold))
		BAD(".HealthCheckConfig.FailureThreshold", "InvalidInput",
		    "FailureThreshold must be 1-10");
	if (!int_field(cfg, "HealthThreshold", 0, 256, 0, &c->health_threshold))
		BAD(".HealthCheckConfig.HealthThreshold", "InvalidInput",
		    "HealthThreshold must be 0-256");
	if (!bool_field(cfg, "Inverted", &c->inverted) ||
	    !bool_field(cfg, "Disabled", &c->disabled) || !bool_field(cfg, "EnableSNI", &c->sni))
		BAD("", "InvalidInput", "Inverted, Disabled and EnableSNI must be booleans");
	bool ml;
	if (!bool_field(cfg, "MeasureLatency", &ml))
		BAD(".HealthCheckConfig.MeasureLatency", "InvalidInput",
		    "MeasureLatency must be a boolean");
	if (!json_object_get(cfg, "EnableSNI"))
		c->sni = tls; /* Route 53's default for HTTPS */
	v = json_object_get(cfg, "ResourcePath");
	if (v && (!json_is_string(v) || json_string_length(v) > 255))
		BAD(".HealthCheckConfig.ResourcePath", "InvalidInput",
		    "ResourcePath must be a string of at most 255 characters");
	const char *rp = v ? json_string_value(v) : "";
	size_t rl = strlen(rp);
	c->path = malloc(rl + 2);
	if (c->path == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	snprintf(c->path, rl + 2, "%s%s", rp[0] == '/' ? "" : "/", rp);
	v = json_object_get(cfg, "SearchString");
	if (v && (!json_is_string(v) || json_string_length(v) > 255))
		BAD(".HealthCheckConfig.SearchString", "InvalidInput",
		    "SearchString must be a string of at most 255 characters");
	if (str && !v)
		BAD(".HealthCheckConfig.SearchString", "InvalidInput",
		    "%s checks need a SearchString", t);
	c->search = str ? sdup(v) : NULL;
	v = json_object_get(cfg, "InsufficientDataHealthStatus");
	const char *ins = json_string_value(v);
	if (v && (!ins || (strcmp(ins, "Healthy") && strcmp(ins, "Unhealthy") &&
			   strcmp(ins, "LastKnownStatus"))))
		BAD(".HealthCheckConfig.InsufficientDataHealthStatus", "InvalidInput",
		    "InsufficientDataHealthStatus must be Healthy, Unhealthy or LastKnownStatus");
	c->insufficient = ins && !strcmp(ins, "Unhealthy")	   ? 1
			  : ins && !strcmp(ins, "LastKnownStatus") ? 2
								   : 0;
	v = json_object_get(cfg, "StatusFile");
	if (v && !json_is_string(v))
		BAD(".HealthCheckConfig.StatusFile", "InvalidInput", "StatusFile must be a path");
	c->status_file = sdup(v);
	if (c->type == R53_HC_METRIC && !c->status_file)
		BAD(".HealthCheckConfig.StatusFile", "InvalidInput",
		    "CLOUDWATCH_METRIC checks need a StatusFile (port53 reads the alarm state "
		    "from it: OK or ALARM)");
	v = json_object_get(cfg, "AlarmIdentifier");
	if (v && (!json_is_object(v) || !json_is_string(json_object_get(v, "Region")) ||
		  !json_is_string(json_object_get(v, "Name")) || json_object_size(v) != 2))
		BAD(".HealthCheckConfig.AlarmIdentifier", "InvalidInput",
		    "AlarmIdentifier holds Region and Name");
	v = json_object_get(cfg, "Regions");
	if (v && !json_is_array(v))
		BAD(".HealthCheckConfig.Regions", "InvalidInput", "Regions must be an array");
	json_t *ch = json_object_get(cfg, "ChildHealthChecks");
	if (ch && (!json_is_array(ch) || json_array_size(ch) > 256))
		BAD(".HealthCheckConfig.ChildHealthChecks", "InvalidInput",
		    "ChildHealthChecks must be an array of at most 256 ids");
	if (ch && c->type != R53_HC_CALC)
		BAD(".HealthCheckConfig.ChildHealthChecks", "InvalidInput",
		    "only CALCULATED checks have ChildHealthChecks");
	c->nchildren = json_array_size(ch);
	c->children = calloc(c->nchildren ? c->nchildren : 1, sizeof(char *));
	if (c->children == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	for (size_t k = 0; k < c->nchildren; k++) {
		const char *cid = json_string_value(json_array_get(ch, k));
		if (cid == NULL)
			BAD(".HealthCheckConfig.ChildHealthChecks", "InvalidInput",
			    "child %zu is not a string", k);
		c->children[k] = strdup(cid);
	}
	return 0;
#undef BAD
}

int r53_hc_add_json(struct r53_hcset *set, json_t *root, const char *file, struct p53_err *err)
{
	json_t *arr = root, *one = NULL;
	const char *base = "";
	if (json_is_object(root)) {
		arr = json_object_get(root, "HealthChecks");
		one = json_object_get(root, "HealthCheck");
		base = one ? "HealthCheck" : "HealthChecks";
	}
	if (one) {
		arr = json_array();
		json_array_append(arr, one);
	} else if (!json_is_array(arr)) {
		return p53_err_set(err, P53_EINVAL, "%s: %s: InvalidInput: expected an array", file,
				   base);
	} else {
		json_incref(arr);
	}
	size_t n0 = set->n, i;
	json_t *o;
	int rc = 0;
	json_array_foreach(arr, i, o)
	{
		if (set->n == set->cap) {
			size_t nc = set->cap ? set->cap * 2 : 16;
			void *p = realloc(set->v, nc * sizeof(*set->v));
			if (p == NULL) {
				rc = p53_err_set(err, P53_ENOMEM, "out of memory");
				break;
			}
			set->v = p;
			set->cap = nc;
		}
		struct r53_hc *c = &set->v[set->n];
		memset(c, 0, sizeof(*c));
		char path[64];
		if (one)
			snprintf(path, sizeof(path), "HealthCheck");
		else
			snprintf(path, sizeof(path), "%s[%zu]", base, i);
		if ((rc = read_check(c, o, file, path, err)) != 0) {
			hc_clear(c);
			break;
		}
		if (r53_hc_find(set, c->id)) {
			rc = p53_err_set(err, P53_EINVAL,
					 "%s: %s.Id: HealthCheckAlreadyExists: health check %s is "
					 "defined twice",
					 file, path, c->id);
			hc_clear(c);
			break;
		}
		set->n++;
	}
	json_decref(arr);
	if (rc)
		while (set->n > n0)
			hc_clear(&set->v[--set->n]);
	return rc;
}

int r53_hc_load_file(struct r53_hcset *set, const char *path, struct p53_err *err)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (root == NULL)
		return p53_err_at(err, P53_EINVAL, path, (unsigned)je.line, "JSON: %s", je.text);
	int rc = r53_hc_add_json(set, root, path, err);
	json_decref(root);
	return rc;
}

int r53_hc_finish(const struct r53_hcset *set, const char *file, struct p53_err *err)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct r53_hc *c = &set->v[i];
		for (size_t k = 0; k < c->nchildren; k++) {
			const struct r53_hc *ch = r53_hc_find(set, c->children[k]);
			if (ch == NULL)
				return p53_err_set(
				    err, P53_EINVAL,
				    "%s: health check %s: ChildHealthChecks[%zu]: "
				    "NoSuchHealthCheck: no health check with Id %.64s",
				    file, c->id, k, c->children[k]);
			if (ch->type == R53_HC_CALC)
				return p53_err_set(
				    err, P53_EINVAL,
				    "%s: health check %s: ChildHealthChecks[%zu]: InvalidInput: "
				    "%s is CALCULATED; a calculated check cannot have calculated "
				    "children",
				    file, c->id, k, ch->id);
		}
	}
	return 0;
}
