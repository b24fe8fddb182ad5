/* port53's DNSSEC subcommands (dnssec_cmd.h). */
#include "tools/dnssec_cmd.h"

#include "tools/cli.h"
#include "zones/compile/dnskey.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG "port53"

static int owner_of(const char *cmd, const char *text, uint8_t owner[P53_NAME_MAX], size_t *len)
{
	const char *why = NULL;
	int n = name_from_text(text, strlen(text), (const uint8_t *)"", owner, &why);
	if (n < 0)
		return cli_usage_error(PROG, cmd, "zone '%s': %s", text, why);
	name_lower(owner, (size_t)n);
	*len = (size_t)n;
	return 0;
}

int dnssec_cmd_keygen(int argc, char **argv)
{
	static const struct option lo[] = {{"algorithm", required_argument, NULL, 'a'},
					   {"bits", required_argument, NULL, 'b'},
					   {"ksk", no_argument, NULL, 'k'},
					   {"zsk", no_argument, NULL, 'z'},
					   {"csk", no_argument, NULL, 'c'},
					   {"pem", no_argument, NULL, 'p'},
					   {"dir", required_argument, NULL, 'K'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	const char *cmd = "dnssec-keygen", *dir = ".";
	uint8_t alg = DNSKEY_ALG_ECDSAP256;
	uint64_t bits = 0;
	char role = 'c';
	bool pem = false;
	int c;
	while ((c = getopt_long(argc, argv, ":a:b:K:h", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
			if ((alg = dnskey_alg_from_text(optarg)) == 0)
				return cli_usage_error(PROG, cmd,
						       "algorithm '%s': give 13, 15 or 8", optarg);
			break;
		case 'b':
			if (cli_u64(PROG, cmd, "--bits", optarg, 1024, 4096, &bits))
				return CLI_USAGE;
			break;
		case 'k':
		case 'z':
		case 'c':
			role = (char)c;
			break;
		case 'p':
			pem = true;
			break;
		case 'K':
			dir = optarg;
			break;
		case 'h':
			fputs("usage: " DNSSEC_CMD_KEYGEN_USAGE, stdout);
			return 0;
		default:
			return cli_getopt_error(PROG, cmd, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error(PROG, cmd, "no ZONE given%s", "");
	if (argc - optind > 1)
		return cli_usage_error(PROG, cmd, "unexpected argument '%s'", argv[optind + 1]);
	uint8_t owner[P53_NAME_MAX];
	size_t olen = 0;
	if (owner_of(cmd, argv[optind], owner, &olen))
		return CLI_USAGE;
	struct dnskey k;
	struct p53_err err = {0};
	int rc = dnskey_generate(&k, owner, olen, alg, role == 'z' ? DNSKEY_ZSK : DNSKEY_KSK,
				 (unsigned)bits, &err);
	char path[2048];
	if (rc == 0 && pem) {
		char zone[1024];
		name_to_text(owner, zone, sizeof(zone));
		snprintf(path, sizeof(path), "%s/%s%s.pem", dir, zone,
			 role == 'k'   ? "ksk"
			 : role == 'z' ? "zsk"
				       : "csk");
		rc = dnskey_write_pem(&k, path, &err);
	} else if (rc == 0) {
		rc = dnskey_write_bind(&k, dir, path, sizeof(path), &err);
	}
	if (rc == 0)
		printf("%s\n", path);
	else
		fprintf(stderr, "port53 %s: %s\n", cmd, err.msg);
	dnskey_free(&k);
	return rc ? CLI_FAIL : 0;
}

static void print_ds(const struct dnskey *k, uint8_t digest)
{
	uint8_t ds[64];
	size_t n = dnskey_ds(k, digest, ds);
	char zone[1024];
	name_to_text(k->owner, zone, sizeof(zone));
	printf("%s IN DS %u %u %u ", zone, k->tag, k->alg, digest);
	for (size_t i = 4; i < n; i++)
		printf("%02X", ds[i]);
	printf("\n");
}

int dnssec_cmd_ds(int argc, char **argv)
{
	static const struct option lo[] = {{"digest", required_argument, NULL, 'd'},
					   {"dir", required_argument, NULL, 'K'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	const char *cmd = "ds", *dir = NULL;
	uint64_t digest = 2;
	int c;
	while ((c = getopt_long(argc, argv, ":d:K:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (cli_u64(PROG, cmd, "--digest", optarg, 2, 4, &digest))
				return CLI_USAGE;
			if (digest == 3)
				return cli_usage_error(PROG, cmd, "--digest: give 2 or 4%s", "");
			break;
		case 'K':
			dir = optarg;
			break;
		case 'h':
			fputs("usage: " DNSSEC_CMD_DS_USAGE, stdout);
			return 0;
		default:
			return cli_getopt_error(PROG, cmd, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error(PROG, cmd, "no ZONE or KEYFILE given%s", "");
	struct p53_err err = {0};
	const char *a = argv[optind];
	size_t al = strlen(a);
	bool files = dir == NULL && ((al > 4 && !strcmp(a + al - 4, ".key")) ||
				     (al > 8 && !strcmp(a + al - 8, ".private")));
	if (files) {
		for (int i = optind; i < argc; i++) {
			struct dnskey k;
			if (dnskey_load_bind(argv[i], &k, &err) != 0) {
				fprintf(stderr, "port53 %s: %s\n", cmd, err.msg);
				return CLI_FAIL;
			}
			print_ds(&k, (uint8_t)digest);
			dnskey_free(&k);
		}
		return 0;
	}
	if (argc - optind > 1)
		return cli_usage_error(PROG, cmd, "unexpected argument '%s'", argv[optind + 1]);
	uint8_t owner[P53_NAME_MAX];
	size_t olen = 0;
	if (owner_of(cmd, a, owner, &olen))
		return CLI_USAGE;
	struct dnskey *keys;
	size_t n;
	if (dnskey_load_dir(dir ? dir : ".", owner, olen, &keys, &n, &err) != 0) {
		fprintf(stderr, "port53 %s: %s\n", cmd, err.msg);
		return CLI_FAIL;
	}
	size_t shown = 0;
	for (size_t i = 0; i < n; i++)
		if (keys[i].flags & 1) {
			print_ds(&keys[i], (uint8_t)digest);
			shown++;
		}
	dnskey_free_all(keys, n);
	if (shown == 0) {
		fprintf(stderr, "port53 %s: no key-signing key for %s in %s\n", cmd, a,
			dir ? dir : ".");
		return CLI_FAIL;
	}
	return 0;
}

/* Loads the zone's keys from dir for a key-management command. */
static int zone_keys(const char *cmd, const char *dir, const char *zone, uint8_t *owner,
		     size_t *olen, struct dnskey **keys, size_t *n)
{
	if (owner_of(cmd, zone, owner, olen))
		return CLI_USAGE;
	struct p53_err err = {0};
	if (dnskey_load_dir(dir, owner, *olen, keys, n, &err) != 0) {
		fprintf(stderr, "port53 %s: %s\n", cmd, err.msg);
		return CLI_FAIL;
	}
	if (*n == 0) {
		fprintf(stderr, "port53 %s: no keys for %s in %s\n", cmd, zone, dir);
		return CLI_FAIL;
	}
	return 0;
}

static void print_time(const char *label, int64_t t)
{
	if (t == 0)
		return;
	time_t tt = (time_t)t;
	struct tm tm;
	char s[32];
	gmtime_r(&tt, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf(" %s=%s", label, s);
}

static const char *role_of(const struct dnskey *k, bool split)
{
	return !(k->flags & 1) ? "ZSK" : split ? "KSK" : "CSK";
}

static bool zone_split(const struct dnskey *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(keys[i].flags & 1))
			return true;
	return false;
}

static void print_key(const struct dnskey *k, bool split, int64_t at)
{
	const char *state = dnskey_active(k, at)	     ? "active"
			    : dnskey_published(k, at)	     ? "published"
			    : (k->remove && k->remove <= at) ? "removed"
							     : "future";
	printf("%s %u alg %u %s%s", role_of(k, split), k->tag, k->alg, state,
	       dnskey_synced(k, at) ? " cds" : "");
	print_time("publish", k->publish);
	print_time("activate", k->activate);
	print_time("inactive", k->inactive);
	print_time("delete", k->remove);
	print_time("sync-publish", k->sync_publish);
	print_time("sync-delete", k->sync_delete);
	printf("  %s\n", k->file);
}

int dnssec_cmd_status(int argc, char **argv)
{
	static const struct option lo[] = {{"dir", required_argument, NULL, 'K'},
					   {"at", required_argument, NULL, 't'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	const char *cmd = "dnssec-status", *dir = ".";
	uint64_t at = (uint64_t)time(NULL);
	int c;
	while ((c = getopt_long(argc, argv, ":K:h", lo, NULL)) != -1) {
		switch (c) {
		case 'K':
			dir = optarg;
			break;
		case 't':
			if (cli_u64(PROG, cmd, "--at", optarg, 1, UINT32_MAX, &at))
				return CLI_USAGE;
			break;
		case 'h':
			fputs("usage: " DNSSEC_CMD_STATUS_USAGE, stdout);
			return 0;
		default:
			return cli_getopt_error(PROG, cmd, c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(PROG, cmd, "give one ZONE%s", "");
	uint8_t owner[P53_NAME_MAX];
	size_t olen = 0;
	struct dnskey *keys;
	size_t n;
	int rc = zone_keys(cmd, dir, argv[optind], owner, &olen, &keys, &n);
	if (rc)
		return rc;
	bool split = zone_split(keys, n);
	int64_t next = 0;
	for (size_t i = 0; i < n; i++) {
		print_key(&keys[i], split, (int64_t)at);
		const int64_t t[] = {keys[i].publish, keys[i].activate,	    keys[i].inactive,
				     keys[i].remove,  keys[i].sync_publish, keys[i].sync_delete};
		for (size_t j = 0; j < sizeof(t) / sizeof(t[0]); j++)
			if (t[j] > (int64_t)at && (next == 0 || t[j] < next))
				next = t[j];
	}
	printf("next key event:");
	if (next)
		print_time("at", next);
	else
		printf(" none");
	printf("\n");
	dnskey_free_all(keys, n);
	return 0;
}

/* RFC 7583: a ZSK by pre-publication (3.3.1: the successor is in the DNSKEY
 * set for prepublish seconds before it signs; the old key stays published
 * retire seconds after it stops, while its signatures may be cached), a
 * KSK by double-DS (3.3.2: the successor's CDS/CDNSKEY go out at once so
 * the parent adds its DS; after ds-wait the DNSKEY sets swap; the old CDS
 * goes retire seconds later, when no cache holds the old DNSKEY set, so
 * the parent can drop the old DS), a CSK (3.3.3) by both at once: the
 * successor's DNSKEY and CDS go out together and it signs from the later
 * of the two waits. Each step happens at a recompile at or after its
 * time: the times go into the keys' files. */
int dnssec_cmd_rollover(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"zsk", no_argument, NULL, 'z'},	      {"ksk", no_argument, NULL, 'k'},
	    {"csk", no_argument, NULL, 'c'},	      {"dir", required_argument, NULL, 'K'},
	    {"at", required_argument, NULL, 't'},     {"prepublish", required_argument, NULL, 'p'},
	    {"retire", required_argument, NULL, 'r'}, {"ds-wait", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},	      {0}};
	const char *cmd = "dnssec-rollover", *dir = ".";
	char which = 0;
	/* Defaults from the signed zones' limits: TTLs are capped at a week,
	 * DNSKEY sets take the SOA TTL (at most that), plus an hour's margin. */
	uint64_t at = (uint64_t)time(NULL), prepublish = 25 * 3600, retire = 7 * 86400 + 3600,
		 ds_wait = 2 * 86400;
	int c;
	while ((c = getopt_long(argc, argv, ":K:h", lo, NULL)) != -1) {
		switch (c) {
		case 'z':
		case 'k':
		case 'c':
			which = (char)c;
			break;
		case 'K':
			dir = optarg;
			break;
		case 't':
			if (cli_u64(PROG, cmd, "--at", optarg, 1, UINT32_MAX, &at))
				return CLI_USAGE;
			break;
		case 'p':
			if (cli_u64(PROG, cmd, "--prepublish", optarg, 0, 365 * 86400, &prepublish))
				return CLI_USAGE;
			break;
		case 'r':
			if (cli_u64(PROG, cmd, "--retire", optarg, 0, 365 * 86400, &retire))
				return CLI_USAGE;
			break;
		case 'd':
			if (cli_u64(PROG, cmd, "--ds-wait", optarg, 0, 365 * 86400, &ds_wait))
				return CLI_USAGE;
			break;
		case 'h':
			fputs("usage: " DNSSEC_CMD_ROLLOVER_USAGE, stdout);
			return 0;
		default:
			return cli_getopt_error(PROG, cmd, c, argv);
		}
	}
	if (which == 0)
		return cli_usage_error(PROG, cmd, "give --zsk, --ksk or --csk%s", "");
	if (argc - optind != 1)
		return cli_usage_error(PROG, cmd, "give one ZONE%s", "");
	uint8_t owner[P53_NAME_MAX];
	size_t olen = 0;
	struct dnskey *keys;
	size_t n;
	int rc = zone_keys(cmd, dir, argv[optind], owner, &olen, &keys, &n);
	if (rc)
		return rc;
	bool split = zone_split(keys, n);
	uint16_t flags = which == 'z' ? DNSKEY_ZSK : DNSKEY_KSK;
	const int64_t t = (int64_t)at;
	struct dnskey *old = NULL;
	const char *why = NULL;
	for (size_t i = 0; i < n && why == NULL; i++) {
		struct dnskey *k = &keys[i];
		if (k->flags != flags || (k->remove && k->remove <= t))
			continue;
		/* A key of this role still to come, or one already leaving:
		 * a rollover is under way. */
		if (!dnskey_published(k, t) || k->inactive || k->remove)
			why = "a rollover of this role is under way (see port53 dnssec-status)";
		else if (dnskey_active(k, t) && old == NULL)
			old = k;
		else if (dnskey_active(k, t))
			why = "two keys of this role are active: roll them by hand";
	}
	if (why == NULL && old == NULL)
		why = which == 'z'   ? "no active zone-signing key"
		      : which == 'k' ? "no active key-signing key"
				     : "no active combined signing key";
	if (why == NULL && which == 'k' && !split)
		why = "the zone has one combined key (CSK): roll it with --csk";
	if (why == NULL && which == 'c' && split)
		why = "the zone has separate KSK and ZSK: roll them with --ksk and --zsk";
	if (why == NULL && old->file[0] == 0)
		why = "the active key is a PEM file, which has no timing: use BIND key files";
	if (why) {
		fprintf(stderr, "port53 %s: %s: %s\n", cmd, argv[optind], why);
		dnskey_free_all(keys, n);
		return CLI_FAIL;
	}
	struct dnskey nk;
	struct p53_err err = {0};
	if ((rc = dnskey_generate(&nk, owner, olen, old->alg, flags, 0, &err)) != 0) {
		fprintf(stderr, "port53 %s: %s\n", cmd, err.msg);
		dnskey_free_all(keys, n);
		return CLI_FAIL;
	}
	if (which == 'z') {
		nk.publish = t;
		nk.activate = t + (int64_t)prepublish;
		old->inactive = nk.activate;
		old->remove = nk.activate + (int64_t)retire;
	} else if (which == 'k') {
		nk.sync_publish = t;
		nk.publish = nk.activate = t + (int64_t)ds_wait;
		old->inactive = old->remove = nk.publish;
		old->sync_delete = nk.publish + (int64_t)retire;
	} else {
		/* The successor's DNSKEY, CDS and CDNSKEY at once; it takes over
		 * the signing when every cache has both (its DNSKEY and its DS);
		 * the old key and its CDS stay until no cache holds what it
		 * signed (RFC 7583 3.3.3, pre-publication with double-DS). */
		nk.publish = nk.sync_publish = t;
		nk.activate = t + (int64_t)(prepublish > ds_wait ? prepublish : ds_wait);
		old->inactive = nk.activate;
		old->remove = old->sync_delete = nk.activate + (int64_t)retire;
	}
	char base[sizeof(nk.file) - 8];
	rc = dnskey_write_bind(&nk, dir, base, sizeof(base), &err);
	if (rc == 0 && (rc = dnskey_save_timing(old, &err)) != 0) {
		char p[sizeof(base) + 8];
		snprintf(p, sizeof(p), "%s.key", base);
		unlink(p);
		snprintf(p, sizeof(p), "%s.private", base);
		unlink(p);
	}
	if (rc == 0) {
		snprintf(nk.file, sizeof(nk.file), "%s.private", base);
		print_key(old, split, t);
		print_key(&nk, split, t);
	} else {
		fprintf(stderr, "port53 %s: %s\n", cmd, err.msg);
	}
	dnskey_free(&nk);
	dnskey_free_all(keys, n);
	return rc ? CLI_FAIL : 0;
}
