/* Route 53 ResourceRecordSet JSON: import (record lists and change batches),
 * validation by the rules of Route 53 (docs/route53.md), and export.
 *
 * A zone whose input includes JSON is first gathered as a list of record
 * sets (struct r53_zone): zone files add simple sets, `list-resource-record-
 * sets` output adds sets, and change batches are applied to what is there so
 * far, all or nothing. The compiler then lowers the sets to records, policy
 * groups and members.
 */
#ifndef P53_R53JSON_H
#define P53_R53JSON_H

#include "zones/common/err.h"
#include "zones/common/name.h"
#include "zones/answer/snapshot.h"
#include "zones/compile/r53hc.h"
#include "zones/compile/zparse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct r53_value {
	uint8_t *rd;
	uint16_t len;
};

enum { R53_PLAIN = -1 }; /* no policy, no alias: an ordinary RRset */

struct r53_set {
	uint8_t name[P53_NAME_MAX]; /* canonical wire form */
	size_t name_len;
	uint16_t type;
	int policy;  /* R53_PLAIN or enum snap_policy */
	char *setid; /* NULL when absent */
	bool has_ttl;
	uint32_t ttl;
	int weight;   /* -1 when absent */
	char *region; /* latency Region */
	bool has_geo;
	uint8_t geo_level;			  /* GEO_* */
	char continent[3], country[3], subdiv[4]; /* "" when absent */
	bool has_gp;
	char *gp_region, *gp_lzg; /* AWSRegion, LocalZoneGroup */
	bool gp_coords;
	int32_t lat_e6, lon_e6;
	int bias;
	int failover;	/* 0 none, 1 PRIMARY, 2 SECONDARY */
	int multivalue; /* -1 absent, 0 false, 1 true */
	char *health;	/* HealthCheckId */
	bool alias;
	uint8_t target[P53_NAME_MAX]; /* alias DNSName, canonical */
	size_t target_len;
	char *alias_zone; /* HostedZoneId */
	bool eval_target;
	char *cidr_coll, *cidr_loc;
	struct r53_value *vals; /* sorted by bytes, no duplicates */
	size_t nvals;
	bool mark;   /* scratch while a batch commits */
	char *where; /* "file: JSON path" of the set, for messages; NULL for zone files */
	bool ext;    /* alias to a name outside the zone: served from the alias map */
	/* A traffic-flow rule inside another rule: this member stands for
	 * the nested rule's sets (same name and type, one policy). */
	struct r53_set **sub;
	size_t nsub;
	bool tf; /* made by a traffic policy instance (a policy record) */
};

/* Rules nested in rules: at most this many levels below a policy record's
 * start rule (the engine follows 4 links from a group, aliases included). */
#define R53_NEST_MAX 4

struct r53_cidr_block {
	char *coll, *loc;
	uint8_t family, plen;
	uint8_t addr[16];
};

struct r53_zone {
	uint8_t apex[P53_NAME_MAX];
	size_t apex_len;
	struct r53_set **sets;
	size_t nsets, cap;
	struct r53_cidr_block *cidr;
	size_t ncidr, capcidr;
	struct r53_hcset hcs; /* health checks known to this compilation */
	/* The operator's alias map: records for AWS resource names (Name is
	 * the resource's DNSName), used by aliases that leave the zone. */
	struct r53_set **amap;
	size_t namap, capamap;
	/* Traffic flow as given, for export: {"TrafficPolicies": [every
	 * version read], "TrafficPolicyInstances": [the policy records]},
	 * NULL when the zone has none. The compiler keeps it in the
	 * snapshot (SECT_R53TF) beside the sets the instances compile to. */
	json_t *tf;
};

void r53_zone_init(struct r53_zone *z, const uint8_t *apex, size_t apex_len);
void r53_zone_free(struct r53_zone *z);

/* Adds one record read from a zone file to the simple set of its name and
 * type. */
int r53_zone_add_rr(struct r53_zone *z, const struct zparse_rr *rr, struct p53_err *err);

/* Reads a JSON file (or text): {"ResourceRecordSets": [...]} adds sets,
 * {"Changes": [...]} (optionally inside "ChangeBatch") applies a batch; either
 * may carry "CidrCollections". On any error the zone is unchanged and err
 * names the record set and the rule. */
int r53_zone_add_json_file(struct r53_zone *z, const char *path, struct p53_err *err);
int r53_zone_add_json_text(struct r53_zone *z, const char *name, const char *text,
			   struct p53_err *err);

/* Whole-zone rules (CNAME at the apex, beside other data, alias targets). */
int r53_zone_validate(const struct r53_zone *z, const char *file, struct p53_err *err);
/* References once every input is read: each HealthCheckId names a known
 * check (NoSuchHealthCheck), each CidrRoutingConfig a known collection and
 * location (NoSuchCidrCollection, NoSuchCidrLocation); CALCULATED checks
 * have no CALCULATED children. */
int r53_zone_check_refs(const struct r53_zone *z, struct p53_err *err);
/* Gives every alias to an AWS resource the records its alias map names
 * (DNSName and type), or fails naming the record and the missing mapping. */
int r53_zone_resolve_ext(struct r53_zone *z, struct p53_err *err);
/* Reads an alias map file ({"AliasMappings": [...]}, docs/route53.md). */
int r53_zone_add_alias_map(struct r53_zone *z, const char *path, struct p53_err *err);

/* Route 53's DomainNameFormat: "\ooo" is an octal escape (\052 is "*").
 * Rewrites text so that the zone-file reader, whose "\DDD" is decimal,
 * reads the same bytes; other escapes are kept. Returns the length written
 * or -1 (bad escape, or cap too small). */
int r53_octal_to_zone(const char *in, size_t len, char *out, size_t cap);
/* The reverse for export: "\DDD" decimal escapes become octal. */
int r53_zone_to_octal(const char *in, char *out, size_t cap);
/* A wire name as Route 53 prints it: lower case, every byte outside
 * a-z 0-9 - _ as an octal escape (the wildcard label is \052). */
int r53_name_text(const uint8_t *wire, char *out, size_t cap);

/* True when path names a JSON file: ".json" or a first non-blank '{'. */
bool r53_is_json_path(const char *path);

/* Writes one served zone as {"ResourceRecordSets": [...]} (plus
 * "CidrCollections" when used). P53_EINVAL if the zone is not served. */
int r53_export_json(const struct p53_snapshot *snap, const char *origin, FILE *out);
/* R53_EXPORT_LIST: the list-resource-record-sets shape (with CidrCollections
 * when used); R53_EXPORT_CHANGES: {"HostedZoneId", "ChangeBatch": {"Changes":
 * [UPSERT ...]}}, what change-resource-record-sets --cli-input-json takes. */
enum { R53_EXPORT_LIST = 0, R53_EXPORT_CHANGES = 1 };
int r53_export_fmt(const struct p53_snapshot *snap, const char *origin, int fmt, FILE *out);
/* The zone's record sets as a JSON array (new reference), or NULL when the
 * zone is not served. */
json_t *r53_export_sets(const struct p53_snapshot *snap, const char *origin);

/* Prints what turning old into cur (arrays of record sets, as
 * r53_export_sets gives) changes: "+ key set" added, "- key set" removed,
 * "~ key" then "    Field: old -> new" changed, key being "Name Type [set
 * SetIdentifier]". counts: added, removed, changed. */
int r53_diff_sets(json_t *old, json_t *cur, FILE *out, unsigned counts[3]);

/* One zone as a master file that says everything: plain RRsets as records,
 * every set with a routing policy or an alias as a "$ROUTE53 {JSON}" line
 * (and the CIDR collections as one), which the compiler reads back
 * (r53_take_directives). */
int r53_export_zone(const struct p53_snapshot *snap, const char *origin, FILE *out);
/* True when the zone file holds "$ROUTE53" lines. */
bool r53_has_directives(const char *path);
/* Reads path, moves its "$ROUTE53" lines into *root ({"ResourceRecordSets":
 * [...], "CidrCollections": [...]}) and returns the text with those lines
 * blanked (line numbers kept) for the zone-file reader; NULL on error. */
char *r53_take_directives(const char *path, size_t *len, json_t **root, struct p53_err *err);
int r53_zone_add_json_root(struct r53_zone *z, const char *name, json_t *root, struct p53_err *err);

/* The traffic flow a snapshot keeps for one zone (origin in any form), as
 * r53_zone.tf has it: a new reference, or NULL when the zone has none. */
json_t *r53_snap_tf(const struct p53_snapshot *snap, const char *origin);

/* A stable hosted-zone id for a zone: "Z" and 20 base-32 characters of a
 * hash of its name, the same on every compile. Used for HostedZoneId on
 * export. */
#define R53_ZONE_ID_LEN 21
void r53_zone_id(const uint8_t *apex, char out[R53_ZONE_ID_LEN + 1]);

/* AWS region coordinates: the overrides of r53_regions_load_csv() first,
 * then the built-in table (approximate city locations). Returns false for
 * an unknown region name. */
bool r53_region_coords(const char *region, double *lat, double *lon);

#endif
