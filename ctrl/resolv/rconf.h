/* The resolver's configuration (docs/resolver.md): views, Route 53
 * Resolver rules and recursion settings, in a YAML file of its own that the
 * main configuration names (resolver.config, --resolver).
 *
 * A separate file because views and rules are lists of structured items,
 * which the main file's one-key-one-option model (conf.c) cannot carry, and
 * because they are checked and reloaded as a unit. Errors name the place:
 * "FILE:LINE:COL: views[1].sources[0]: reason"; unknown keys are errors.
 */
#ifndef P53_RCONF_H
#define P53_RCONF_H

#include "zones/common/err.h"
#include "zones/common/name.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RCONF_MAX_VIEWS	  64
#define RCONF_MAX_RULES	  1024
#define RCONF_MAX_TARGETS 6 /* Route 53 Resolver takes up to 6 target IPs */
#define RCONF_MAX_PREFIX  64
#define RCONF_MAX_LISTEN  16
#define RCONF_MAX_ZONES	  8 /* private snapshots per view */

enum rconf_rule_type { RCONF_FORWARD = 1, RCONF_SYSTEM = 2 };

struct rconf_prefix {
	uint8_t family; /* 4 or 6 */
	uint8_t len;	/* prefix length in bits */
	uint8_t addr[16];
};

struct rconf_rule {
	char name[64];
	uint8_t domain[P53_NAME_MAX]; /* canonical wire */
	size_t domain_len;
	unsigned labels;
	enum rconf_rule_type type;
	unsigned ntargets;		     /* FORWARD: tried in order */
	char targets[RCONF_MAX_TARGETS][64]; /* libunbound's "addr@port" */
};

struct rconf_view {
	char name[64];
	unsigned nsrc;
	struct rconf_prefix src[RCONF_MAX_PREFIX]; /* none = every source */
	unsigned nlisten;
	struct sockaddr_storage listen[RCONF_MAX_LISTEN]; /* none = every listener */
	bool recursion; /* false: only rules (FORWARD) and own zones */
	unsigned nzones;
	char *zones[RCONF_MAX_ZONES]; /* private snapshots (.p53) only this view sees */
	bool all_rules;		      /* no rules: key, every rule applies */
	unsigned nrules;
	uint16_t *rules; /* indexes into rconf.rules */
};

struct rconf {
	char *root_hints;   /* NULL = libunbound's built-in root servers */
	char *trust_anchor; /* file of DS/DNSKEY lines; NULL = no validation */
	bool qname_min;	    /* default true */
	bool serve_stale;   /* RFC 8767; default false */
	unsigned cache_max_ttl, cache_min_ttl, cache_max_negative_ttl;
	unsigned stale_ttl;	     /* serve-stale: how long past expiry */
	unsigned failover_s;	     /* a FORWARD target that failed is skipped this long */
	unsigned forward_timeout_ms; /* a FORWARD target silent this long: the next */
	unsigned nviews;
	struct rconf_view views[RCONF_MAX_VIEWS];
	unsigned nrules;
	struct rconf_rule *rules;
};

/* Reads and checks path; NULL with the first problem in err. */
struct rconf *rconf_load(const char *path, struct p53_err *err);
void rconf_free(struct rconf *rc);

/* The first view (file order) that a client at family/addr asking on the
 * listener at local (NULL: unknown) belongs to; -1 when none. */
int rconf_view_of(const struct rconf *rc, uint8_t family, const uint8_t *addr,
		  const struct sockaddr_storage *local);

/* The rule of view v deciding a canonical wire name: the most specific
 * domain at or above it; -1 when none (recursion). */
int rconf_rule_of(const struct rconf *rc, unsigned v, const uint8_t *name, size_t len);

/* True when a and b are the same address and port. */
bool rconf_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

#endif
