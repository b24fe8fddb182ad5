/* port53: the offline and kernel-socket command line.
 *
 *   port53 compile -o OUT.p53 [--serial N] ZONE...
 *   port53 check ZONE...
 *   port53 dump SNAPSHOT [ZONE]
 *   port53 info SNAPSHOT
 *   port53 serve -s SNAPSHOT [-l ADDR:PORT]... [options]
 *
 * ZONE is ORIGIN=FILE, or FILE named ORIGIN.zone.
 */
#include "ctrl/ksock.h"
#include "zones/compile.h"
#include "zones/snapshot.h"

#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
	fputs("usage:\n"
	      "  port53 compile -o OUT.p53 [--serial N] [--no-prerender] ZONE...\n"
	      "  port53 check ZONE...\n"
	      "  port53 dump SNAPSHOT [ZONE]\n"
	      "  port53 info SNAPSHOT\n"
	      "  port53 serve -s SNAPSHOT [-l ADDR:PORT]... [--identity NAME] [--version TEXT]\n"
	      "               [--edns-size N] [--tcp-max-conns N] [--tcp-idle-ms N]\n"
	      "ZONE is ORIGIN=FILE (example.com=db.example), or FILE named ORIGIN.zone.\n"
	      "serve listens on 127.0.0.1:5353 unless -l is given; SIGHUP reloads.\n",
	      f);
}

/* Zone arguments: "origin=path", or a path whose file name is origin.zone. */
static int parse_zones(int argc, char **argv, struct p53_zone_input **out)
{
	struct p53_zone_input *z = calloc((size_t)argc + 1, sizeof(*z));
	if (z == NULL)
		return -1;
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (eq) {
			*eq = 0;
			z[i].origin = argv[i];
			z[i].path = eq + 1;
			continue;
		}
		char *copy = strdup(argv[i]);
		char *base = basename(copy);
		size_t bl = strlen(base);
		if (bl <= 5 || strcmp(base + bl - 5, ".zone") != 0) {
			fprintf(stderr, "port53: %s: give the zone as ORIGIN=FILE\n", argv[i]);
			free(copy);
			free(z);
			return -1;
		}
		base[bl - 5] = 0;
		z[i].origin = strdup(base); /* lives until exit */
		z[i].path = argv[i];
		free(copy);
	}
	*out = z;
	return argc;
}

static int cmd_compile(int argc, char **argv, bool check_only)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
					   {"serial", required_argument, NULL, 'S'},
					   {"no-prerender", no_argument, NULL, 'P'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	struct p53_compile_opts o = {0};
	const char *outp = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			outp = optarg;
			break;
		case 'S':
			o.serial = strtoull(optarg, NULL, 10);
			break;
		case 'P':
			o.no_prerender = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if ((!check_only && outp == NULL) || optind >= argc) {
		usage(stderr);
		return 2;
	}
	struct p53_zone_input *zones;
	int n = parse_zones(argc - optind, argv + optind, &zones);
	if (n < 0)
		return 2;
	struct p53_err err = {0};
	int rc;
	if (check_only) {
		uint8_t *img;
		size_t len;
		rc = p53_compile(zones, (size_t)n, &o, &img, &len, &err);
		if (rc == 0)
			free(img);
	} else {
		rc = p53_compile_file(zones, (size_t)n, &o, outp, &err);
	}
	free(zones);
	if (rc) {
		fprintf(stderr, "%s\n", err.msg[0] ? err.msg : p53_strerror(rc));
		return 1;
	}
	return 0;
}

static struct p53_snapshot *load_arg(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return NULL;
	}
	struct p53_err err = {0};
	struct p53_snapshot *s = p53_snapshot_load(argv[1], &err);
	if (s == NULL)
		fprintf(stderr, "%s\n", err.msg);
	return s;
}

static int cmd_dump(int argc, char **argv)
{
	struct p53_snapshot *s = load_arg(argc, argv);
	if (s == NULL)
		return 1;
	int rc = argc > 2 ? p53_dump_zone(s, argv[2], stdout) : p53_dump(s, stdout);
	if (rc == P53_EINVAL)
		fprintf(stderr, "port53: zone %s is not in %s\n", argv[2], argv[1]);
	p53_snapshot_free(s);
	return rc ? 1 : 0;
}

static int cmd_info(int argc, char **argv)
{
	struct p53_snapshot *s = load_arg(argc, argv);
	if (s == NULL)
		return 1;
	struct p53_snapshot_info in;
	p53_snapshot_info(s, &in);
	char hash[65];
	for (int i = 0; i < 32; i++)
		snprintf(hash + 2 * i, 3, "%02x", in.hash[i]);
	time_t t = (time_t)in.created;
	char when[64];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	printf("serial:   %llu\ncreated:  %s\nformat:   %u\nsize:     %llu bytes\n"
	       "hash:     %s\nnames:    %u\nrrsets:   %u\nzones:    %u\n",
	       (unsigned long long)in.serial, when, in.version, (unsigned long long)in.size, hash,
	       in.nodes, in.rrsets, in.zones);
	for (uint32_t i = 0; i < in.zones; i++) {
		uint32_t serial;
		const uint8_t *apex = p53_snapshot_zone(s, i, &serial);
		char name[1024] = "", *o = name;
		for (const uint8_t *p = apex; *p; p += *p + 1)
			o += snprintf(o, sizeof(name) - (size_t)(o - name), "%.*s.", *p,
				      (const char *)p + 1);
		printf("  %s serial %u\n", *apex ? name : ".", serial);
	}
	p53_snapshot_free(s);
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option lo[] = {{"snapshot", required_argument, NULL, 's'},
					   {"listen", required_argument, NULL, 'l'},
					   {"identity", required_argument, NULL, 'I'},
					   {"version", required_argument, NULL, 'V'},
					   {"edns-size", required_argument, NULL, 'E'},
					   {"tcp-max-conns", required_argument, NULL, 'C'},
					   {"tcp-idle-ms", required_argument, NULL, 'T'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	struct ksock_cfg cfg;
	ksock_cfg_default(&cfg);
	const char **listen = calloc((size_t)argc, sizeof(char *));
	size_t nlisten = 0;
	int c;
	long v;
	while ((c = getopt_long(argc, argv, "s:l:h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			cfg.snapshot_path = optarg;
			break;
		case 'l':
			listen[nlisten++] = optarg;
			break;
		case 'I':
			cfg.answer.identity = optarg;
			break;
		case 'V':
			cfg.answer.version = optarg;
			break;
		case 'E':
			v = strtol(optarg, NULL, 10);
			if (v < 512 || v > 65535) {
				fprintf(stderr, "port53: --edns-size must be 512..65535\n");
				free(listen);
				return 2;
			}
			cfg.answer.edns_udp_max = (uint16_t)v;
			break;
		case 'C':
			cfg.tcp_max_conns = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'T':
			cfg.tcp_idle_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			free(listen);
			return 0;
		default:
			usage(stderr);
			free(listen);
			return 2;
		}
	}
	if (cfg.snapshot_path == NULL || optind != argc) {
		usage(stderr);
		free(listen);
		return 2;
	}
	cfg.listen = listen;
	cfg.nlisten = nlisten;
	struct p53_err err = {0};
	int rc = ksock_run(&cfg, &err);
	free(listen);
	if (rc) {
		fprintf(stderr, "port53: %s\n", err.msg);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	argc--;
	argv++;
	if (!strcmp(cmd, "compile"))
		return cmd_compile(argc, argv, false);
	if (!strcmp(cmd, "check"))
		return cmd_compile(argc, argv, true);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(argc, argv);
	if (!strcmp(cmd, "info"))
		return cmd_info(argc, argv);
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc, argv);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "port53: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
