/* port53: the offline and kernel-socket command line.
 *
 *   port53 compile -o OUT.p53 [--serial N] [--sign-key KEY.pem] ZONE...
 *   port53 check ZONE...
 *   port53 dump SNAPSHOT [ZONE]
 *   port53 info SNAPSHOT
 *   port53 keygen NAME                 writes NAME.key and NAME.pub
 *   port53 sign -k KEY.pem SNAPSHOT [-o OUT.p53]
 *   port53 fw-compile -o OUT.p53fw RULES.json   DNS Firewall (docs/firewall.md)
 *   port53 serve -s SNAPSHOT [-l ADDR:PORT]... [--firewall FILE.p53fw] [options]
 *
 * ZONE is ORIGIN=FILE, or FILE named ORIGIN.zone.
 */
#include "ctrl/ksock.h"
#include "zones/compile/compile.h"
#include "zones/answer/fw.h"
#include "zones/compile/fwcompile.h"
#include "zones/compile/r53json.h"
#include "zones/answer/sign.h"
#include "zones/answer/snapshot.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fputs(
	    "usage:\n"
	    "  port53 compile -o OUT.p53 [--serial N] [--no-prerender] [--sign-key KEY]\n"
	    "                 [--no-include | --include-dir DIR] [--quiet] ZONE...\n"
	    "  port53 check [--no-include | --include-dir DIR] [--quiet] ZONE...\n"
	    "  port53 diff [compile options] SNAPSHOT ZONE...   (exit 1 when sets change)\n"
	    "  port53 compile --dry-run -o SNAPSHOT ZONE...     (prints the diff, writes nothing)\n"
	    "  port53 export --format route53|route53-changes|zone SNAPSHOT ZONE\n"
	    "  port53 dump SNAPSHOT [ZONE]\n"
	    "  port53 info SNAPSHOT\n"
	    "  port53 keygen NAME          (writes NAME.key, mode 0600, and NAME.pub)\n"
	    "  port53 sign -k KEY SNAPSHOT [-o OUT]\n"
	    "  port53 fw-compile -o OUT.p53fw [--serial N] RULES.json  (docs/firewall.md)\n"
	    "  port53 serve -s SNAPSHOT [-l ADDR:PORT]... [--identity NAME] [--version TEXT]\n"
	    "               [--firewall FILE.p53fw]\n"
	    "               [--query-log FILE.jsonl] [--query-log-dnstap FILE.fstrm]\n"
	    "               [--query-log-sample N]\n"
	    "               [--edns-size N] [--tcp-max-conns N] [--tcp-idle-ms N]\n"
	    "               [--tcp-per-source N] [--tcp-msg-ms N] [--tcp-lifetime-ms N]\n"
	    "               [--tcp-out-max BYTES]\n"
	    "               [--reload-dir DIR] [--watch-dir DIR] [--snapshot-max-bytes N]\n"
	    "               [--api-max-conns N] [--api-per-source N] [--api-timeout-s N]\n"
	    "               [--api-header-ms N]\n"
	    "               [--control-socket PATH] [--control-listen ADDR:PORT\n"
	    "                --control-token-file FILE] [--push-max-bytes N]\n"
	    "               [--require-signature PUBKEY.pem]...\n"
	    "               [--health-checks FILE [--health-quorum SHARE]]\n"
	    "               [--rrl-rate N] [--rrl-slip N] [--rrl-ipv4-prefix N]\n"
	    "               [--rrl-ipv6-prefix N] [--rrl-table-size N] [--rrl-exempt LIST]\n"
	    "               [--cookies on|off] [--cookie-secret-file F] [--cookie-rotate S]\n"
	    "               [--drop-ports LIST]   (docs/abuse.md)\n"
	    "ZONE is ORIGIN=FILE (example.com=db.example), or FILE named ORIGIN.zone or\n"
	    "ORIGIN.json; FILE may be a comma-separated list of zone files and Route 53\n"
	    "JSON (record sets, change batches), read in order (docs/route53.md).\n"
	    "compile --geo FILE.csv adds a geo database (prefix,continent,country,\n"
	    "subdivision,latitude,longitude), or --geo FILE.mmdb a MaxMind DB;\n"
	    "--latency FILE.csv a latency table\n"
	    "(prefix,region,ms); --regions FILE.csv region coordinates (region,lat,lon);\n"
	    "--health-checks FILE the Route 53 health checks HealthCheckIds may name;\n"
	    "--alias-map FILE records for aliases to AWS resources (CloudFront, ELB, ...).\n"
	    "serve listens on 127.0.0.1:5353 unless -l is given; SIGHUP reloads;\n"
	    "port53ctl talks to the control socket (docs/control.md).\n",
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
		if (bl > 5 && strcmp(base + bl - 5, ".json") == 0)
			memcpy(base + bl - 5, ".zone", 5); /* ORIGIN.json, as ORIGIN.zone */
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

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct progress {
	double start, last;
	bool shown;
};

/* One status line, rewritten in place at most four times a second, only
 * when stderr is a terminal. */
static void show_progress(const struct p53_compile_progress *p, void *arg)
{
	struct progress *pr = arg;
	double t = now_s(), el = t - pr->start;
	if (t - pr->last < 0.25 || el < 0.5)
		return;
	pr->last = t;
	pr->shown = true;
	double rate = el > 0 ? (double)p->records / el : 0;
	if (strcmp(p->phase, "reading") == 0 && p->bytes_done && p->bytes_total) {
		double left = el * (double)(p->bytes_total - p->bytes_done) / (double)p->bytes_done;
		fprintf(stderr,
			"\rreading: %llu records, %.0f records/s, %.0f%% of input, about %.0f s "
			"left\033[K",
			(unsigned long long)p->records, rate,
			100.0 * (double)p->bytes_done / (double)p->bytes_total, left);
	} else {
		fprintf(stderr, "\r%s: %llu records, %.1f s elapsed\033[K", p->phase,
			(unsigned long long)p->records, el);
	}
	fflush(stderr);
}

/* What compiling zones would change in the snapshot at old_path (absent:
 * everything is added), zone by zone, record set by record set. Returns 0
 * when nothing changes, 1 when something does, -1 on error. */
static int diff_against(const char *old_path, const struct p53_zone_input *zones, size_t n,
			const struct p53_compile_opts *o)
{
	struct p53_err err = {0};
	uint8_t *img;
	size_t len;
	if (p53_compile(zones, n, o, &img, &len, &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	struct p53_snapshot *cur = p53_snapshot_from_mem(img, len, &err);
	free(img);
	struct p53_snapshot *old = NULL;
	FILE *probe = fopen(old_path, "rb");
	if (probe) {
		fclose(probe);
		old = p53_snapshot_load(old_path, &err);
		if (old == NULL) {
			fprintf(stderr, "%s\n", err.msg);
			p53_snapshot_free(cur);
			return -1;
		}
	}
	if (cur == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		p53_snapshot_free(old);
		return -1;
	}
	unsigned tot[3] = {0, 0, 0};
	for (size_t i = 0; i < n; i++) {
		json_t *a = old ? r53_export_sets(old, zones[i].origin) : NULL;
		json_t *b = r53_export_sets(cur, zones[i].origin);
		if (a == NULL)
			a = json_array();
		unsigned c[3];
		printf("zone %s%s\n", zones[i].origin, old ? "" : " (new snapshot)");
		r53_diff_sets(a, b ? b : json_array(), stdout, c);
		printf("zone %s: %u added, %u removed, %u changed\n", zones[i].origin, c[0], c[1],
		       c[2]);
		for (int k = 0; k < 3; k++)
			tot[k] += c[k];
		json_decref(a);
		json_decref(b);
	}
	p53_snapshot_free(old);
	p53_snapshot_free(cur);
	return tot[0] + tot[1] + tot[2] ? 1 : 0;
}

static int cmd_compile(int argc, char **argv, bool check_only)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
					   {"serial", required_argument, NULL, 'S'},
					   {"no-prerender", no_argument, NULL, 'P'},
					   {"sign-key", required_argument, NULL, 'K'},
					   {"geo", required_argument, NULL, 'G'},
					   {"latency", required_argument, NULL, 'Y'},
					   {"regions", required_argument, NULL, 'Z'},
					   {"health-checks", required_argument, NULL, 'H'},
					   {"alias-map", required_argument, NULL, 'A'},
					   {"no-include", no_argument, NULL, 'I'},
					   {"include-dir", required_argument, NULL, 'D'},
					   {"quiet", no_argument, NULL, 'q'},
					   {"dry-run", no_argument, NULL, 'N'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	struct p53_compile_opts o = {0};
	bool dry = false, is_diff = check_only && argc > 0 && strcmp(argv[0], "diff") == 0;
	struct p53_compile_stats stats = {0};
	struct progress pr = {.start = now_s()};
	bool quiet = false;
	o.stats = &stats;
	const char *outp = NULL, *sign_key = NULL;
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
		case 'K':
			sign_key = optarg;
			break;
		case 'G':
			o.geo_csv = optarg;
			break;
		case 'Y':
			o.latency_csv = optarg;
			break;
		case 'Z':
			o.regions_csv = optarg;
			break;
		case 'H':
			o.health_checks = optarg;
			break;
		case 'A':
			o.alias_map = optarg;
			break;
		case 'I':
			o.include = ZPARSE_INCLUDE_FORBID;
			break;
		case 'D':
			o.include = ZPARSE_INCLUDE_CONFINE;
			o.include_dir = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'N':
			dry = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (is_diff) {
		/* diff SNAPSHOT ZONE...: the snapshot is the first operand. */
		if (optind + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		outp = argv[optind++];
		dry = true;
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
	if (dry) {
		/* Nothing is written: what the compile would change in outp. */
		rc = diff_against(outp, zones, (size_t)n, &o);
		free(zones);
		return rc < 0 ? 2 : is_diff ? rc : 0;
	}
	if (!quiet && isatty(2)) {
		o.progress = show_progress;
		o.progress_arg = &pr;
	}
	if (check_only) {
		uint8_t *img;
		size_t len;
		rc = p53_compile(zones, (size_t)n, &o, &img, &len, &err);
		if (rc == 0)
			free(img);
	} else if (sign_key) {
		/* Sign in memory, then write once: the file never exists
		 * unsigned. */
		uint8_t *img, trailer[P53_SIG_LEN];
		size_t len;
		rc = p53_compile(zones, (size_t)n, &o, &img, &len, &err);
		if (rc == 0) {
			rc = p53_sign_image(img, len, sign_key, trailer, &err);
			if (rc == 0)
				rc = p53_write_signed(outp, img, len, trailer, &err);
			free(img);
		}
	} else {
		rc = p53_compile_file(zones, (size_t)n, &o, outp, &err);
	}
	free(zones);
	if (pr.shown)
		fputs("\r\033[K", stderr);
	if (rc) {
		fprintf(stderr, "%s\n", err.msg[0] ? err.msg : p53_strerror(rc));
		return 1;
	}
	if (!quiet)
		fprintf(stderr, "%s: %zu zone%s, %llu records, %llu bytes, %.2f s\n",
			check_only ? "checked" : "compiled", stats.zones,
			stats.zones == 1 ? "" : "s", (unsigned long long)stats.records,
			(unsigned long long)stats.bytes, now_s() - pr.start);
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
	uint8_t kid[P53_KEY_ID_LEN];
	if (p53_sig_present(s, kid)) {
		char idt[17];
		p53_key_id_text(kid, idt);
		printf("signed:   ed25519 key %s (not verified here)\n", idt);
	}
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

static int cmd_keygen(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		usage(stderr);
		return 2;
	}
	size_t n = strlen(argv[1]) + 5;
	char *priv = malloc(n), *pub = malloc(n);
	if (priv == NULL || pub == NULL) {
		free(priv);
		free(pub);
		return 1;
	}
	snprintf(priv, n, "%s.key", argv[1]);
	snprintf(pub, n, "%s.pub", argv[1]);
	struct p53_err err = {0};
	int rc = p53_keygen(priv, pub, &err);
	if (rc)
		fprintf(stderr, "port53: keygen: %s\n", err.msg);
	else
		printf("private key: %s (keep it off the servers)\npublic key:  %s\n", priv, pub);
	free(priv);
	free(pub);
	return rc ? 1 : 0;
}

static int cmd_sign(int argc, char **argv)
{
	static const struct option lo[] = {{"key", required_argument, NULL, 'k'},
					   {"output", required_argument, NULL, 'o'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	const char *key = NULL, *outp = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "k:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 'o':
			outp = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (key == NULL || optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	struct p53_err err = {0};
	if (p53_sign_file(argv[optind], key, outp ? outp : argv[optind], &err) != 0) {
		fprintf(stderr, "port53: sign: %s\n", err.msg);
		return 1;
	}
	return 0;
}

static void fw_warn(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "port53: warning: %s\n", msg);
}

/* DNS Firewall rules and lists -> one verified, mmap-able file. */
static int cmd_fw_compile(int argc, char **argv)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
					   {"serial", required_argument, NULL, 'S'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	struct p53_fw_compile_opts o = {.warn = fw_warn};
	const char *outp = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		if (c == 'o') {
			outp = optarg;
		} else if (c == 'S') {
			o.serial = strtoull(optarg, NULL, 10);
		} else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (outp == NULL || optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	struct p53_err err = {0};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (p53_fw_compile_file(argv[optind], &o, outp, &err) != 0) {
		fprintf(stderr, "port53: %s\n", err.msg);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Load it back: what is written is what a server will accept. */
	struct p53_fw *fw = p53_fw_load(outp, 1, &err);
	if (fw == NULL) {
		fprintf(stderr, "port53: %s\n", err.msg);
		return 1;
	}
	struct p53_fw_info in;
	p53_fw_info(fw, &in);
	printf("%s: %u rules, %u domains, %u patterns, %llu bytes, serial %llu, %.2f s\n", outp,
	       in.rules, in.domains, in.patterns, (unsigned long long)in.size,
	       (unsigned long long)in.serial,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	p53_fw_free(fw);
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
					   {"health-checks", required_argument, NULL, 'H'},
					   {"health-quorum", required_argument, NULL, 'Q'},
					   {"control-socket", required_argument, NULL, 'U'},
					   {"control-listen", required_argument, NULL, 'L'},
					   {"control-token-file", required_argument, NULL, 'F'},
					   {"require-signature", required_argument, NULL, 'R'},
					   {"push-max-bytes", required_argument, NULL, 'M'},
					   {"firewall", required_argument, NULL, 'W'},
					   {"query-log", required_argument, NULL, 'q'},
					   {"query-log-dnstap", required_argument, NULL, 'D'},
					   {"query-log-sample", required_argument, NULL, 'S'},
					   {"tcp-per-source", required_argument, NULL, 256},
					   {"tcp-msg-ms", required_argument, NULL, 257},
					   {"tcp-lifetime-ms", required_argument, NULL, 258},
					   {"tcp-out-max", required_argument, NULL, 259},
					   {"reload-dir", required_argument, NULL, 260},
					   {"watch-dir", required_argument, NULL, 261},
					   {"snapshot-max-bytes", required_argument, NULL, 262},
					   {"api-max-conns", required_argument, NULL, 263},
					   {"api-per-source", required_argument, NULL, 264},
					   {"api-timeout-s", required_argument, NULL, 265},
					   {"api-header-ms", required_argument, NULL, 266},
					   {"drop-ports", required_argument, NULL, 'P'},
					   {"cookie-secret-file", required_argument, NULL, 'K'},
					   {"cookie-rotate", required_argument, NULL, 'O'},
					   {"rrl-rate", required_argument, NULL, 'A'},
					   {"rrl-slip", required_argument, NULL, 'A'},
					   {"rrl-ipv4-prefix", required_argument, NULL, 'A'},
					   {"rrl-ipv6-prefix", required_argument, NULL, 'A'},
					   {"rrl-table-size", required_argument, NULL, 'A'},
					   {"rrl-exempt", required_argument, NULL, 'A'},
					   {"cookies", required_argument, NULL, 'A'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	struct ksock_cfg cfg;
	ksock_cfg_default(&cfg);
	const char **listen = calloc((size_t)argc, sizeof(char *));
	size_t nlisten = 0;
	/* Only --require-signature fills it: at most argc entries. */
	const char **keys = calloc((size_t)argc, sizeof(char *));
	size_t nkeys = 0;
	int c, li = 0;
	long v;
	char why[160];
	while ((c = getopt_long(argc, argv, "s:l:h", lo, &li)) != -1) {
		switch (c) {
		case 's':
			cfg.snapshot_path = optarg;
			break;
		case 'A': /* the abuse controls' options, shared with port53d */
			if (p53_abuse_cfg_set(&cfg.abuse, lo[li].name, optarg, why, sizeof(why))) {
				fprintf(stderr, "port53: %s\n", why);
				free(listen);
				free(keys);
				return 2;
			}
			break;
		case 'P':
			cfg.drop_ports = optarg;
			break;
		case 'K':
			cfg.cookie_secret_file = optarg;
			break;
		case 'O':
			v = strtol(optarg, NULL, 10);
			if (v < 60 || v > 365L * 86400) {
				fprintf(stderr, "port53: --cookie-rotate must be 60..31536000 s\n");
				free(listen);
				free(keys);
				return 2;
			}
			cfg.cookie_rotate_s = (unsigned)v;
			break;
		case 'W':
			cfg.firewall_path = optarg;
			break;
		case 'q':
			cfg.query_log = optarg;
			break;
		case 'D':
			cfg.query_log_dnstap = optarg;
			break;
		case 'S':
			v = strtol(optarg, NULL, 10);
			if (v < 1 || v > 1000000000) {
				fprintf(stderr,
					"port53: --query-log-sample must be 1..1000000000\n");
				free(listen);
				free(keys);
				return 2;
			}
			cfg.query_log_sample = (unsigned)v;
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
		case 'T':
		case 256:
		case 257:
		case 258:
		case 259:
		case 262:
		case 263:
		case 264:
		case 265:
		case 266: {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(optarg, &end, 10);
			unsigned long long hi = c == 259 || c == 262 ? (1ULL << 40) : 100000000ULL;
			if (errno || *end || end == optarg || n < 1 || n > hi) {
				fprintf(stderr, "port53: bad value for a limit: %s (1..%llu)\n",
					optarg, hi);
				free(listen);
				free(keys);
				return 2;
			}
			unsigned u = (unsigned)n;
			switch (c) {
			case 'C':
				cfg.tcp.max_conns = u;
				break;
			case 'T':
				cfg.tcp.idle_ms = u;
				break;
			case 256:
				cfg.tcp.per_source = u;
				break;
			case 257:
				cfg.tcp.msg_ms = u;
				break;
			case 258:
				cfg.tcp.lifetime_ms = u;
				break;
			case 259:
				cfg.tcp.out_max = (size_t)n;
				break;
			case 262:
				cfg.snapshot_max_bytes = n;
				break;
			case 263:
				cfg.api_limits.max_conns = u;
				break;
			case 264:
				cfg.api_limits.per_source = u;
				break;
			default:
				cfg.api_limits.timeout_s = u;
				break;
			}
			break;
		}
		case 260:
			cfg.reload_dir = optarg;
			break;
		case 261:
			cfg.watch_dir = optarg;
			break;
		case 'H':
			cfg.health_checks = optarg;
			break;
		case 'Q': {
			char *end;
			double q = strtod(optarg, &end);
			if (*end || !(q >= 0 && q < 1)) {
				fprintf(stderr, "port53: --health-quorum must be 0 <= share < 1\n");
				free(listen);
				free(keys);
				return 2;
			}
			/* 0 means "the default" in ksock_cfg: a tiny share
			 * still needs one vote, as 0 would. */
			cfg.health_quorum = q > 0 ? q : 1e-9;
			break;
		}
		case 'U':
			cfg.control_socket = optarg;
			break;
		case 'L':
			cfg.control_listen = optarg;
			break;
		case 'F':
			cfg.control_token_file = optarg;
			break;
		case 'R':
			keys[nkeys++] = optarg;
			break;
		case 'M':
			cfg.push_max_bytes = (size_t)strtoull(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			free(listen);
			free(keys);
			return 0;
		default:
			usage(stderr);
			free(listen);
			free(keys);
			return 2;
		}
	}
	if (cfg.snapshot_path == NULL || optind != argc) {
		usage(stderr);
		free(listen);
		free(keys);
		return 2;
	}
	cfg.listen = listen;
	cfg.nlisten = nlisten;
	cfg.trusted_keys = keys;
	cfg.ntrusted = nkeys;
	struct p53_err err = {0};
	int rc = ksock_run(&cfg, &err);
	free(listen);
	free(keys);
	if (rc) {
		fprintf(stderr, "port53: %s\n", err.msg);
		return 1;
	}
	return 0;
}

/* export --format route53|zone SNAPSHOT ZONE: a served zone back to Route 53
 * JSON or to zone-file text, for migration in either direction. */
static int cmd_export(int argc, char **argv)
{
	const char *fmt = "route53";
	int i = 1;
	if (i + 1 < argc && strcmp(argv[i], "--format") == 0) {
		fmt = argv[i + 1];
		i += 2;
	} else if (i < argc && strncmp(argv[i], "--format=", 9) == 0) {
		fmt = argv[i] + 9;
		i++;
	}
	if (argc - i != 2 ||
	    (strcmp(fmt, "route53") && strcmp(fmt, "zone") && strcmp(fmt, "route53-changes"))) {
		usage(stderr);
		return 2;
	}
	struct p53_err err = {0};
	struct p53_snapshot *s = p53_snapshot_load(argv[i], &err);
	if (s == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	int rc = strcmp(fmt, "zone") == 0 ? r53_export_zone(s, argv[i + 1], stdout)
		 : strcmp(fmt, "route53") == 0
		     ? r53_export_json(s, argv[i + 1], stdout)
		     : r53_export_fmt(s, argv[i + 1], R53_EXPORT_CHANGES, stdout);
	if (rc == P53_EINVAL)
		fprintf(stderr, "port53: zone %s is not in %s\n", argv[i + 1], argv[i]);
	p53_snapshot_free(s);
	return rc ? 1 : 0;
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
	if (!strcmp(cmd, "check") || !strcmp(cmd, "diff"))
		return cmd_compile(argc, argv, true);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(argc, argv);
	if (!strcmp(cmd, "export"))
		return cmd_export(argc, argv);
	if (!strcmp(cmd, "info"))
		return cmd_info(argc, argv);
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc, argv);
	if (!strcmp(cmd, "fw-compile"))
		return cmd_fw_compile(argc, argv);
	if (!strcmp(cmd, "keygen"))
		return cmd_keygen(argc, argv);
	if (!strcmp(cmd, "sign"))
		return cmd_sign(argc, argv);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "port53: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
