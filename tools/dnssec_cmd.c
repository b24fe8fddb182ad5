/* port53's DNSSEC subcommands (dnssec_cmd.h). */
#include "tools/dnssec_cmd.h"

#include "tools/cli.h"
#include "zones/compile/dnskey.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
