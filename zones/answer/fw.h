/* DNS Firewall: loading a compiled rule file and checking query names.
 *
 * The firewall is its own artifact (a .p53fw file from `port53 fw-compile`,
 * zones/compile/fwcompile.h), separate from the zone snapshot, so that block lists
 * change without recompiling zones. Loading verifies the file, deserialises
 * its Hyperscan database and gives every worker its own scratch space; after
 * that, p53_fw_check() allocates nothing, takes no lock and makes no system
 * call. Semantics (Route 53 Resolver DNS Firewall, docs/firewall.md): rules are
 * evaluated in ascending (group priority, rule priority); the first rule that
 * matches the name and passes its qtype filter decides.
 */
#ifndef P53_FW_H
#define P53_FW_H

#include "zones/common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The order is the on-disk encoding of a rule's action: do not renumber. */
enum p53_fw_action {
	P53_FW_NONE = 0,	   /* no rule matched: answer normally */
	P53_FW_ALLOW = 1,	   /* answer normally, stop evaluating */
	P53_FW_ALERT = 2,	   /* answer normally, counted and logged */
	P53_FW_BLOCK_NXDOMAIN = 3, /* NXDOMAIN (zone SOA in authority when in zone) */
	P53_FW_BLOCK_NODATA = 4,   /* NOERROR, empty answer, zone SOA */
	P53_FW_BLOCK_OVERRIDE = 5, /* CNAME to the rule's override name */
	P53_FW_REFUSED = 6,	   /* REFUSED (beyond Route 53) */
	P53_FW_DROP = 7,	   /* no reply at all (beyond Route 53) */
	P53_FW_FAIL = 8,	   /* cannot decide and fail-closed: SERVFAIL */
	P53_FW__ACTIONS
};

struct p53_fw_verdict {
	enum p53_fw_action action;
	uint32_t rule;	       /* index for p53_fw_rule()/p53_fw_hits(); UINT32_MAX when none */
	bool trust;	       /* TRUST_REDIRECTION_DOMAIN: do not inspect the chain */
	bool error;	       /* could not decide (fail-open turns it into NONE) */
	uint32_t override_ttl; /* BLOCK_OVERRIDE */
	const uint8_t *override_name; /* BLOCK_OVERRIDE: canonical wire name */
};

struct p53_fw;

/* Maps and verifies a compiled firewall file (magic, version, bounds,
 * SHA-256 of every section), deserialises its Hyperscan database and
 * allocates one scratch per worker (nworkers >= 1). Returns NULL with a reason
 * in err; nothing half-loaded is ever returned. */
struct p53_fw *p53_fw_load(const char *path, unsigned nworkers, struct p53_err *err);
/* Same for bytes in memory (copied). */
struct p53_fw *p53_fw_from_mem(const void *data, size_t len, unsigned nworkers,
			       struct p53_err *err);
void p53_fw_free(struct p53_fw *fw);

/* Checks a canonical (lower-case) wire name of qlen bytes for query type
 * qtype on behalf of worker (< nworkers; each worker uses only its own
 * index, from one thread at a time). Fills *v and returns v->action. Counts a
 * hit for the deciding rule. When the firewall cannot decide (a Hyperscan
 * error), the result is P53_FW_FAIL if the file is fail-closed, else
 * P53_FW_NONE (fail-open); either way the error is counted. */
enum p53_fw_action p53_fw_check(const struct p53_fw *fw, unsigned worker, const uint8_t *qname,
				size_t qlen, uint16_t qtype, struct p53_fw_verdict *v);
/* Same, for a caller that already has the name's suffix hashes: n, off and
 * hash exactly as name_suffix_hashes(qname, qlen, off, hash) returns them
 * (the firewall's table is keyed by name_hash()), so the name is not hashed
 * twice. */
enum p53_fw_action p53_fw_check_sfx(const struct p53_fw *fw, unsigned worker, const uint8_t *qname,
				    size_t qlen, uint16_t qtype, unsigned n, const uint8_t *off,
				    const uint32_t *hash, struct p53_fw_verdict *v);

/* Introspection for the control plane: rule i in evaluation order. */
struct p53_fw_rule_info {
	const char *group; /* rule group name */
	const char *name;  /* rule name */
	uint32_t group_priority, priority;
	enum p53_fw_action action;
	uint16_t qtype; /* 0: any */
	bool trust;	/* TRUST_REDIRECTION_DOMAIN */
};
struct p53_fw_info {
	uint64_t serial, created, size;
	uint8_t hash[32];
	uint32_t rules, domains, patterns;
	bool fail_open;
	unsigned workers;
};
void p53_fw_info(const struct p53_fw *fw, struct p53_fw_info *info);
/* False when i is out of range. */
bool p53_fw_rule(const struct p53_fw *fw, uint32_t i, struct p53_fw_rule_info *info);
/* Hits of rule i summed over workers (relaxed reads: a count may lag by the
 * queries in flight). */
uint64_t p53_fw_hits(const struct p53_fw *fw, uint32_t i);
/* Times the firewall could not decide (Hyperscan errors, bad worker index). */
uint64_t p53_fw_errors(const struct p53_fw *fw);
#endif
