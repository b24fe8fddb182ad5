/* port53: the offline and kernel-socket command line.
 *
 * One function per subcommand (commands[] at the end lists them with their
 * usage); `port53 CMD --help` prints that command's usage only. Exit
 * status: 0 success, 1 failure, 2 usage error (tools/cli.h).
 */
#include "ctrl/conf.h"
#include "ctrl/fleet/fleetopt.h"
#include "ctrl/net/ksock.h"
#include "tools/cli.h"
#include "tools/publish.h"
#include "tools/dnssec_cmd.h"
#include "zones/compile/compile.h"
#include "zones/answer/fw.h"
#include "zones/compile/fwcompile.h"
#include "zones/compile/r53json.h"
#include "zones/answer/sign.h"
#include "zones/answer/snapshot.h"

#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG "port53"

/* One entry per subcommand: its synopsis and options for `port53 CMD --help`. */
struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *usage;
};

static const struct command *find_command(const char *name);
static int cmd_compile(int argc, char **argv);
static int cmd_check(int argc, char **argv);
static int cmd_diff(int argc, char **argv);

static const char zone_help[] =
    "ZONE is ORIGIN=FILE (example.com=db.example), or FILE named ORIGIN.zone or\n"
    "ORIGIN.json; FILE may be a comma-separated list of zone files and Route 53\n"
    "JSON (record sets, change batches), read in order (docs/route53.md).\n";

/* Prints the usage of one command, or the list of commands. */
static void usage_of(const char *cmd, FILE *f)
{
	const struct command *c = cmd ? find_command(cmd) : NULL;
	if (c) {
		fprintf(f, "usage: %s", c->usage);
		if (c->run == cmd_compile || c->run == cmd_check || c->run == cmd_diff)
			fputs(zone_help, f);
		return;
	}
	fputs("usage: port53 COMMAND [OPTIONS] [ARGS]\n"
	      "       port53 COMMAND --help    the options of one command\n"
	      "       port53 --version\n\ncommands:\n",
	      f);
	for (const struct command *k = find_command(NULL); k->name; k++)
		fprintf(f, "  %-12s %s\n", k->name, k->summary);
	fputs("\nexit status: 0 success, 1 failure (bad input, I/O), 2 usage error.\n"
	      "See port53(1).\n",
	      f);
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
	return cli_usage_error(PROG, cmd, fmt, arg);
}

/* The optstring of every getopt_long call here starts with ':' so a
 * missing value and an unknown option can be told apart. */
static int getopt_fail(const char *cmd, int c, char **argv)
{
	return cli_getopt_error(PROG, cmd, c, argv);
}

static void json_print(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(j);
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
			cli_usage_error(PROG, NULL, "%s: give the zone as ORIGIN=FILE", argv[i]);
			free(copy);
			free(z);
			return -1;
		}
		base[bl - 5] = 0;
		z[i].origin = strdup(base); /* freed by the caller */
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

static void apex_text(const uint8_t *apex, char *name, size_t cap)
{
	char *o = name;
	name[0] = 0;
	for (const uint8_t *p = apex; *p && (size_t)(o - name) < cap; p += *p + 1)
		o += snprintf(o, cap - (size_t)(o - name), "%.*s.", *p, (const char *)p + 1);
	if (*apex == 0)
		snprintf(name, cap, ".");
}

/* What `info --json` and `check --json` report about a snapshot. */
static json_t *snapshot_json(const struct p53_snapshot *s)
{
	struct p53_snapshot_info in;
	p53_snapshot_info(s, &in);
	char hash[65], when[64], name[1024];
	for (int i = 0; i < 32; i++)
		snprintf(hash + 2 * i, 3, "%02x", in.hash[i]);
	time_t t = (time_t)in.created;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	json_t *zones = json_array();
	for (uint32_t i = 0; i < in.zones; i++) {
		uint32_t serial;
		apex_text(p53_snapshot_zone(s, i, &serial), name, sizeof(name));
		json_array_append_new(
		    zones, json_pack("{s:s,s:I}", "name", name, "serial", (json_int_t)serial));
	}
	uint8_t kid[P53_KEY_ID_LEN];
	char idt[17];
	json_t *signer = json_null();
	if (p53_sig_present(s, kid)) {
		p53_key_id_text(kid, idt);
		signer = json_string(idt);
	}
	return json_pack("{s:I,s:I,s:s,s:i,s:I,s:s,s:i,s:i,s:o,s:o}", "serial",
			 (json_int_t)in.serial, "created", (json_int_t)in.created, "created_iso",
			 when, "format", (int)in.version, "size", (json_int_t)in.size, "hash", hash,
			 "names", (int)in.nodes, "rrsets", (int)in.rrsets, "zones", zones,
			 "signed_by", signer);
}

static int compile_main(int argc, char **argv, bool check_only)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
					   {"serial", required_argument, NULL, 'S'},
					   {"no-prerender", no_argument, NULL, 'P'},
					   {"sign-key", required_argument, NULL, 'K'},
					   {"dnssec-keys", required_argument, NULL, 'k'},
					   {"sig-validity", required_argument, NULL, 'V'},
					   {"sig-time", required_argument, NULL, 'T'},
					   {"sign-threads", required_argument, NULL, 'W'},
					   {"compact-denial", required_argument, NULL, 'C'},
					   {"nsec3", required_argument, NULL, '3'},
					   {"nsec3-opt-out", required_argument, NULL, 'O'},
					   {"nsec3-iterations", required_argument, NULL, 'R'},
					   {"nsec3-salt", required_argument, NULL, 'L'},
					   {"geo", required_argument, NULL, 'G'},
					   {"latency", required_argument, NULL, 'Y'},
					   {"regions", required_argument, NULL, 'Z'},
					   {"json", no_argument, NULL, 'j'},
					   {"health-checks", required_argument, NULL, 'H'},
					   {"alias-map", required_argument, NULL, 'M'},
					   {"no-include", no_argument, NULL, 'I'},
					   {"include-dir", required_argument, NULL, 'D'},
					   {"max-generate", required_argument, NULL, 'g'},
					   {"quiet", no_argument, NULL, 'q'},
					   {"timings", no_argument, NULL, 't'},
					   {"threads", required_argument, NULL, 'J'},
					   {"dry-run", no_argument, NULL, 'N'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	bool is_diff = check_only && argc > 0 && strcmp(argv[0], "diff") == 0;
	const char *cmd = is_diff ? "diff" : check_only ? "check" : "compile";
	struct p53_compile_opts o = {0};
	const char *compact[P53_COMPACT_MAX], *nsec3[P53_COMPACT_MAX], *optout[P53_COMPACT_MAX];
	bool dry = false, quiet = false, timings = false;
	struct p53_compile_stats stats = {0};
	struct progress pr = {.start = now_s()};
	o.stats = &stats;
	const char *outp = NULL, *sign_key = NULL;
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			outp = optarg;
			break;
		case 'S':
			if (cli_u64(PROG, cmd, "--serial", optarg, 0, UINT64_MAX, &o.serial))
				return CLI_USAGE;
			break;
		case 'P':
			o.no_prerender = true;
			break;
		case 'K':
			sign_key = optarg;
			break;
		case 'k':
			o.dnssec_keys = optarg;
			break;
		case 'V': {
			uint64_t days;
			if (cli_u64(PROG, cmd, "--sig-validity", optarg, 1, 365, &days))
				return CLI_USAGE;
			o.sig_validity = (uint32_t)(days * 86400);
			break;
		}
		case 'T':
			if (cli_u64(PROG, cmd, "--sig-time", optarg, 1, UINT32_MAX, &o.sig_now))
				return CLI_USAGE;
			break;
		case 'W': {
			uint64_t n;
			if (cli_u64(PROG, cmd, "--sign-threads", optarg, 1, 16, &n))
				return CLI_USAGE;
			o.sign_threads = (unsigned)n;
			break;
		}
		case 'C':
			if (o.ncompact >= P53_COMPACT_MAX) {
				fprintf(stderr, "%s %s: at most %d --compact-denial zones\n", PROG,
					cmd, P53_COMPACT_MAX);
				return CLI_USAGE;
			}
			compact[o.ncompact++] = optarg;
			o.compact_zones = compact;
			break;
		case '3':
		case 'O':
			if (o.nnsec3 + o.noptout >= P53_COMPACT_MAX) {
				fprintf(stderr, "%s %s: at most %d --nsec3 zones\n", PROG, cmd,
					P53_COMPACT_MAX);
				return CLI_USAGE;
			}
			if (c == '3') {
				nsec3[o.nnsec3++] = optarg;
				o.nsec3_zones = nsec3;
			} else {
				optout[o.noptout++] = optarg;
				o.optout_zones = optout;
			}
			break;
		case 'R': {
			uint64_t it;
			if (cli_u64(PROG, cmd, "--nsec3-iterations", optarg, 0, 150, &it))
				return CLI_USAGE;
			o.nsec3_iterations = (uint32_t)it;
			break;
		}
		case 'L':
			o.nsec3_salt = optarg;
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
		case 'M':
			o.alias_map = optarg;
			break;
		case 'I':
			o.include = ZPARSE_INCLUDE_FORBID;
			break;
		case 'D':
			o.include = ZPARSE_INCLUDE_CONFINE;
			o.include_dir = optarg;
			break;
		case 'g': {
			uint64_t n;
			if (cli_u64(PROG, cmd, "--max-generate", optarg, 0, UINT32_MAX - 1, &n))
				return CLI_USAGE;
			o.max_generate = n ? (uint32_t)n : ZPARSE_GENERATE_FORBID;
			break;
		}
		case 'q':
			quiet = true;
			break;
		case 't':
			timings = true;
			break;
		case 'J': {
			uint64_t n;
			if (cli_u64(PROG, cmd, "--threads", optarg, 1, P53_COMPILE_THREADS_MAX, &n))
				return CLI_USAGE;
			o.threads = (unsigned)n;
			break;
		}
		case 'N':
			dry = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage_of(cmd, stdout);
			return 0;
		default:
			return getopt_fail(cmd, c, argv);
		}
	}
	if (is_diff) {
		/* diff SNAPSHOT ZONE...: the snapshot is the first operand. */
		if (optind >= argc)
			return usage_error(cmd, "no SNAPSHOT given%s", "");
		outp = argv[optind++];
		dry = true;
	}
	if (!check_only && outp == NULL)
		return usage_error(cmd, "missing -o OUT.p53 (where to write the snapshot)%s", "");
	if (optind >= argc)
		return usage_error(cmd, "no ZONE given (ORIGIN=FILE or FILE named ORIGIN.zone)%s",
				   "");
	if (check_only && sign_key)
		return usage_error(cmd, "--sign-key is for compile: check writes nothing%s", "");
	struct p53_zone_input *zones;
	int n = parse_zones(argc - optind, argv + optind, &zones);
	if (n < 0)
		return CLI_USAGE;
	struct p53_err err = {0};
	int rc;
	json_t *report = NULL;
	if (dry) {
		/* Nothing is written: what the compile would change in outp. */
		rc = diff_against(outp, zones, (size_t)n, &o);
		for (int i = 0; i < n; i++)
			if (zones[i].origin != argv[optind + i])
				free((char *)zones[i].origin);
		free(zones);
		return rc < 0 ? 2 : is_diff ? rc : 0;
	}
	if (!quiet && !json && isatty(2)) {
		o.progress = show_progress;
		o.progress_arg = &pr;
	}
	if (check_only) {
		uint8_t *img;
		size_t len;
		rc = p53_compile(zones, (size_t)n, &o, &img, &len, &err);
		if (rc == 0) {
			struct p53_snapshot *s =
			    json ? p53_snapshot_from_mem(img, len, &err) : NULL;
			if (s) {
				report = snapshot_json(s);
				p53_snapshot_free(s);
			}
			free(img);
		}
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
	/* Origins taken from file names were copied; ORIGIN=FILE ones point
	 * into argv. */
	for (int i = 0; i < n; i++)
		if (zones[i].origin != argv[optind + i])
			free((char *)zones[i].origin);
	free(zones);
	if (pr.shown)
		fputs("\r\033[K", stderr);
	const char *msg = rc ? (err.msg[0] ? err.msg : p53_strerror(rc)) : NULL;
	if (rc == 0 && !quiet && !json)
		fprintf(stderr, "%s: %zu zone%s, %llu records, %llu bytes, %.2f s\n",
			check_only ? "checked" : "compiled", stats.zones,
			stats.zones == 1 ? "" : "s", (unsigned long long)stats.records,
			(unsigned long long)stats.bytes, now_s() - pr.start);
	for (unsigned i = 0; rc == 0 && timings && i < stats.nphases; i++)
		fprintf(
		    stderr,
		    "phase %-16s %7.2f s wall %7.2f s CPU (%.2f s system, %.2f s main thread)\n",
		    stats.phase[i].name, stats.phase[i].wall, stats.phase[i].cpu,
		    stats.phase[i].sys, stats.phase[i].main);
	if (rc == 0 && timings)
		fprintf(stderr, "zone files read in parts: %u\n", stats.split_files);
	if (json && check_only) {
		json_t *j = json_pack("{s:b}", "ok", rc == 0);
		if (rc)
			json_object_set_new(j, "error", json_string(msg));
		else if (report)
			json_object_set_new(j, "snapshot", report);
		json_print(j);
	} else if (rc) {
		fprintf(stderr, "%s\n", msg);
	}
	return rc ? CLI_FAIL : 0;
}

static int cmd_compile(int argc, char **argv)
{
	return compile_main(argc, argv, false);
}

static int cmd_check(int argc, char **argv)
{
	return compile_main(argc, argv, true);
}

/* argv[0] is "diff": compile_main tells it from check by that. */
static int cmd_diff(int argc, char **argv)
{
	return compile_main(argc, argv, true);
}

/* For the commands whose only option is --help (and --json where json is
 * not NULL): returns -1 to go on, else the exit status. */
static int simple_opts(const char *cmd, int argc, char **argv, bool *json)
{
	static const struct option lo[] = {
	    {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
	int c;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if (c == 'h') {
			usage_of(cmd, stdout);
			return 0;
		}
		if (c == 'j' && json) {
			*json = true;
			continue;
		}
		if (c == 'j')
			return usage_error(cmd, "%s has no --json output", cmd);
		return getopt_fail(cmd, c, argv);
	}
	return -1;
}

static struct p53_snapshot *load_snapshot(const char *path)
{
	struct p53_err err = {0};
	struct p53_snapshot *s = p53_snapshot_load(path, &err);
	if (s == NULL)
		fprintf(stderr, "%s\n", err.msg);
	return s;
}

static int cmd_dump(int argc, char **argv)
{
	int rc = simple_opts("dump", argc, argv, NULL);
	if (rc >= 0)
		return rc;
	int nargs = argc - optind;
	if (nargs < 1)
		return usage_error("dump", "no SNAPSHOT given%s", "");
	if (nargs > 2)
		return usage_error("dump", "unexpected argument '%s'", argv[optind + 2]);
	const char *path = argv[optind], *zone = nargs == 2 ? argv[optind + 1] : NULL;
	struct p53_snapshot *s = load_snapshot(path);
	if (s == NULL)
		return CLI_FAIL;
	rc = zone ? p53_dump_zone(s, zone, stdout) : p53_dump(s, stdout);
	if (rc == P53_EINVAL)
		fprintf(stderr, "port53 dump: zone %s is not in %s\n", zone, path);
	p53_snapshot_free(s);
	return rc ? CLI_FAIL : 0;
}

static int cmd_info(int argc, char **argv)
{
	bool json = false;
	int rc = simple_opts("info", argc, argv, &json);
	if (rc >= 0)
		return rc;
	if (optind >= argc)
		return usage_error("info", "no SNAPSHOT given%s", "");
	if (argc - optind > 1)
		return usage_error("info", "unexpected argument '%s'", argv[optind + 1]);
	struct p53_snapshot *s = load_snapshot(argv[optind]);
	if (s == NULL)
		return CLI_FAIL;
	json_t *j = snapshot_json(s);
	p53_snapshot_free(s);
	if (json) {
		json_print(j);
		return 0;
	}
	printf("serial:   %" JSON_INTEGER_FORMAT "\ncreated:  %s\nformat:   %d\n"
	       "size:     %" JSON_INTEGER_FORMAT " bytes\nhash:     %s\nnames:    %d\n"
	       "rrsets:   %d\nzones:    %zu\n",
	       json_integer_value(json_object_get(j, "serial")),
	       json_string_value(json_object_get(j, "created_iso")),
	       (int)json_integer_value(json_object_get(j, "format")),
	       json_integer_value(json_object_get(j, "size")),
	       json_string_value(json_object_get(j, "hash")),
	       (int)json_integer_value(json_object_get(j, "names")),
	       (int)json_integer_value(json_object_get(j, "rrsets")),
	       json_array_size(json_object_get(j, "zones")));
	json_t *signer = json_object_get(j, "signed_by");
	if (json_is_string(signer))
		printf("signed:   ed25519 key %s (not verified here)\n", json_string_value(signer));
	size_t i;
	json_t *z;
	json_array_foreach(json_object_get(j, "zones"), i, z)
	{
		printf("  %s serial %" JSON_INTEGER_FORMAT "\n",
		       json_string_value(json_object_get(z, "name")),
		       json_integer_value(json_object_get(z, "serial")));
	}
	json_decref(j);
	return 0;
}

static int cmd_keygen(int argc, char **argv)
{
	int rc = simple_opts("keygen", argc, argv, NULL);
	if (rc >= 0)
		return rc;
	if (optind >= argc)
		return usage_error("keygen", "no NAME given (writes NAME.key and NAME.pub)%s", "");
	if (argc - optind > 1)
		return usage_error("keygen", "unexpected argument '%s'", argv[optind + 1]);
	const char *base = argv[optind];
	size_t n = strlen(base) + 5;
	char *priv = malloc(n), *pub = malloc(n);
	if (priv == NULL || pub == NULL) {
		free(priv);
		free(pub);
		return CLI_FAIL;
	}
	snprintf(priv, n, "%s.key", base);
	snprintf(pub, n, "%s.pub", base);
	struct p53_err err = {0};
	rc = p53_keygen(priv, pub, &err);
	if (rc)
		fprintf(stderr, "port53 keygen: %s\n", err.msg);
	else
		printf("private key: %s (keep it off the servers)\npublic key:  %s\n", priv, pub);
	free(priv);
	free(pub);
	return rc ? CLI_FAIL : 0;
}

static int cmd_sign(int argc, char **argv)
{
	static const struct option lo[] = {{"key", required_argument, NULL, 'k'},
					   {"output", required_argument, NULL, 'o'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	const char *key = NULL, *outp = NULL;
	int c;
	while ((c = getopt_long(argc, argv, ":k:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 'o':
			outp = optarg;
			break;
		case 'h':
			usage_of("sign", stdout);
			return 0;
		default:
			return getopt_fail("sign", c, argv);
		}
	}
	if (key == NULL)
		return usage_error("sign", "missing -k KEY (the private key, PEM)%s", "");
	if (optind >= argc)
		return usage_error("sign", "no SNAPSHOT given%s", "");
	if (optind != argc - 1)
		return usage_error("sign", "unexpected argument '%s'", argv[optind + 1]);
	struct p53_err err = {0};
	if (p53_sign_file(argv[optind], key, outp ? outp : argv[optind], &err) != 0) {
		fprintf(stderr, "port53 sign: %s\n", err.msg);
		return CLI_FAIL;
	}
	return 0;
}

/* publish SNAPSHOT DEST: to a fleet's origin (tools/publish.h). */
static int cmd_publish(int argc, char **argv)
{
	static const struct option lo[] = {{"key", required_argument, NULL, 'k'},
					   {"name", required_argument, NULL, 'n'},
					   {"header-file", required_argument, NULL, 'H'},
					   {"timeout-ms", required_argument, NULL, 'T'},
					   {"unsigned", no_argument, NULL, 'U'},
					   {"quiet", no_argument, NULL, 'q'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	struct publish_cfg cfg = {0};
	bool quiet = false;
	uint64_t v;
	int c;
	while ((c = getopt_long(argc, argv, ":k:n:qh", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			cfg.key = optarg;
			break;
		case 'n':
			cfg.name = optarg;
			break;
		case 'H':
			cfg.header_file = optarg;
			break;
		case 'T':
			if (cli_u64(PROG, "publish", "--timeout-ms", optarg, 100, 3600000, &v))
				return CLI_USAGE;
			cfg.timeout_ms = (unsigned)v;
			break;
		case 'U':
			cfg.allow_unsigned = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage_of("publish", stdout);
			return 0;
		default:
			return getopt_fail("publish", c, argv);
		}
	}
	if (argc - optind < 2)
		return usage_error("publish", "give SNAPSHOT and DEST (a directory or a URL)%s",
				   "");
	if (argc - optind > 2)
		return usage_error("publish", "unexpected argument '%s'", argv[optind + 2]);
	cfg.snapshot = argv[optind];
	cfg.dest = argv[optind + 1];
	struct p53_err err = {0};
	if (publish_run(&cfg, quiet, &err) != 0) {
		fprintf(stderr, "port53 publish: %s\n", err.msg);
		return CLI_FAIL;
	}
	return 0;
}

static void fw_warn(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "port53 fw-compile: warning: %s\n", msg);
}

/* DNS Firewall rules and lists -> one verified, mmap-able file. */
static int cmd_fw_compile(int argc, char **argv)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
					   {"serial", required_argument, NULL, 'S'},
					   {"json", no_argument, NULL, 'j'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	struct p53_fw_compile_opts o = {.warn = fw_warn};
	const char *outp = NULL;
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
		if (c == 'o') {
			outp = optarg;
		} else if (c == 'S') {
			if (cli_u64(PROG, "fw-compile", "--serial", optarg, 0, UINT64_MAX,
				    &o.serial))
				return CLI_USAGE;
		} else if (c == 'j') {
			json = true;
		} else if (c == 'h') {
			usage_of("fw-compile", stdout);
			return 0;
		} else {
			return getopt_fail("fw-compile", c, argv);
		}
	}
	if (outp == NULL)
		return usage_error("fw-compile", "missing -o OUT.p53fw%s", "");
	if (optind >= argc)
		return usage_error("fw-compile", "no RULES.json given%s", "");
	if (optind + 1 != argc)
		return usage_error("fw-compile", "unexpected argument '%s'", argv[optind + 1]);
	struct p53_err err = {0};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct p53_fw *fw = NULL;
	if (p53_fw_compile_file(argv[optind], &o, outp, &err) == 0) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		/* Load it back: what is written is what a server will accept. */
		fw = p53_fw_load(outp, 1, &err);
	}
	if (fw == NULL) {
		if (json)
			json_print(json_pack("{s:b,s:s}", "ok", 0, "error", err.msg));
		else
			fprintf(stderr, "port53 fw-compile: %s\n", err.msg);
		return CLI_FAIL;
	}
	struct p53_fw_info in;
	p53_fw_info(fw, &in);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (json)
		json_print(json_pack("{s:b,s:s,s:i,s:i,s:i,s:I,s:I,s:f}", "ok", 1, "output", outp,
				     "rules", (int)in.rules, "domains", (int)in.domains, "patterns",
				     (int)in.patterns, "size", (json_int_t)in.size, "serial",
				     (json_int_t)in.serial, "seconds", secs));
	else
		printf("%s: %u rules, %u domains, %u patterns, %llu bytes, serial %llu, %.2f s\n",
		       outp, in.rules, in.domains, in.patterns, (unsigned long long)in.size,
		       (unsigned long long)in.serial, secs);
	p53_fw_free(fw);
	return 0;
}

static void conf_to_stderr(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
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
					   {"resolver", required_argument, NULL, 267},
					   {"tls-listen", required_argument, NULL, 268},
					   {"tls-cert", required_argument, NULL, 269},
					   {"tls-key", required_argument, NULL, 270},
					   {"doh-listen", required_argument, NULL, 271},
					   {"doh-cert", required_argument, NULL, 272},
					   {"doh-key", required_argument, NULL, 273},
					   {"doh-path", required_argument, NULL, 274},
					   {"doh-max-streams", required_argument, NULL, 275},
					   {"dnssec-keys", required_argument, NULL, 290},
					   {"dnssec-sig-time", required_argument, NULL, 291},
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
					   {"tsig-key", required_argument, NULL, 'X'},
					   {"xfr-allow", required_argument, NULL, 'X'},
					   {"notify", required_argument, NULL, 'X'},
					   {"ixfr-depth", required_argument, NULL, 'X'},
					   {"secondary", required_argument, NULL, 'X'},
					   {"zone", required_argument, NULL, 'X'},
					   {"secondary-dir", required_argument, NULL, 'X'},
					   {"sign-keys", required_argument, NULL, 'X'},
					   {"sig-validity", required_argument, NULL, 'X'},
					   {"resign-interval", required_argument, NULL, 'X'},
					   {"notify-allow", required_argument, NULL, 'X'},
					   FLEETOPT_LONG('G'),
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	/* The file's settings come first as options, so the command line
	 * overrides them (ctrl/conf.h). */
	bool bad;
	const char *conf_path = conf_take_path(&argc, argv, true, &bad);
	if (bad)
		return usage_error("serve", "--config needs a FILE%s", "");
	struct conf *conf = NULL;
	if (conf_path) {
		conf = conf_load(conf_path, conf_to_stderr, NULL, NULL);
		if (conf == NULL)
			return CLI_FAIL;
		argc = conf_argv(conf, CONF_SERVE, argc, argv, &argv);
		if (argc < 0) {
			conf_free(conf);
			return CLI_FAIL;
		}
	}
	struct ksock_cfg cfg;
	ksock_cfg_default(&cfg);
	const char **listen = calloc((size_t)argc, sizeof(char *));
	size_t nlisten = 0;
	const char **tls_listen = calloc((size_t)argc, sizeof(char *));
	size_t ntls = 0;
	const char **doh_listen = calloc((size_t)argc, sizeof(char *));
	size_t ndoh = 0;
	/* Only --require-signature fills it: at most argc entries. */
	const char **keys = calloc((size_t)argc, sizeof(char *));
	size_t nkeys = 0;
	int c, rc = CLI_USAGE;
	uint64_t v;
	int li = 0;
	char why[160];
	while ((c = getopt_long(argc, argv, ":s:l:h", lo, &li)) != -1) {
		if (c == 'A') { /* the abuse controls' options, shared with port53d */
			if (p53_abuse_cfg_set(&cfg.abuse, lo[li].name, optarg, why, sizeof(why))) {
				usage_error("serve", "%s", why);
				goto out;
			}
			continue;
		}
		if (c == 'X') { /* zone transfers, shared with port53d */
			if (xfr_cfg_set(&cfg.xfr, lo[li].name, optarg, why, sizeof(why))) {
				usage_error("serve", "%s", why);
				goto out;
			}
			continue;
		}
		if (c == 'G') { /* following an origin, node health (docs/anycast.md) */
			if (fleetopt_set(&cfg.origin, &cfg.node, lo[li].name, optarg, why,
					 sizeof(why))) {
				usage_error("serve", "%s", why);
				goto out;
			}
			continue;
		}
		switch (c) {
		case 's':
			cfg.snapshot_path = optarg;
			break;
		case 'W':
			cfg.firewall_path = optarg;
			break;
		case 267:
			cfg.resolver_path = optarg;
			break;
		case 268:
			tls_listen[ntls++] = optarg;
			break;
		case 269:
			cfg.tls_cert = optarg;
			break;
		case 290:
			cfg.dnssec_keys = optarg;
			break;
		case 291: {
			uint64_t t;
			if (cli_u64(PROG, "serve", "--dnssec-sig-time", optarg, 1, UINT32_MAX, &t))
				return CLI_USAGE;
			cfg.dnssec_sig_time = (int64_t)t;
			break;
		}
		case 270:
			cfg.tls_key = optarg;
			break;
		case 271:
			doh_listen[ndoh++] = optarg;
			break;
		case 272:
			cfg.doh_cert = optarg;
			break;
		case 273:
			cfg.doh_key = optarg;
			break;
		case 274:
			if (!doh_path_valid(optarg)) {
				usage_error("serve",
					    "--doh-path: '%s' is not a path (starts with '/', no "
					    "'?', '#' or spaces)",
					    optarg);
				goto out;
			}
			cfg.doh.path = optarg;
			break;
		case 275:
			if (cli_u64(PROG, "serve", "--doh-max-streams", optarg, 1, 10000, &v))
				goto out;
			cfg.doh.max_streams = (unsigned)v;
			break;
		case 'P':
			cfg.drop_ports = optarg;
			break;
		case 'K':
			cfg.cookie_secret_file = optarg;
			break;
		case 'O':
			if (cli_u64(PROG, "serve", "--cookie-rotate", optarg, 60, 365ULL * 86400,
				    &v))
				goto out;
			cfg.cookie_rotate_s = (unsigned)v;
			break;
		case 'q':
			cfg.query_log = optarg;
			break;
		case 'D':
			cfg.query_log_dnstap = optarg;
			break;
		case 'S':
			if (cli_u64(PROG, "serve", "--query-log-sample", optarg, 1, 1000000000, &v))
				goto out;
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
			if (cli_u64(PROG, "serve", "--edns-size", optarg, 512, 65535, &v))
				goto out;
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
			uint64_t hi = c == 259 || c == 262 ? (1ULL << 40) : 100000000ULL;
			char name[40] = "";
			for (const struct option *x = lo; x->name; x++)
				if (x->val == c)
					snprintf(name, sizeof(name), "--%s", x->name);
			if (cli_u64(PROG, "serve", name, optarg, 1, hi, &v))
				goto out;
			unsigned u = (unsigned)v;
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
				cfg.tcp.out_max = (size_t)v;
				break;
			case 262:
				cfg.snapshot_max_bytes = v;
				break;
			case 263:
				cfg.api_limits.max_conns = u;
				break;
			case 264:
				cfg.api_limits.per_source = u;
				break;
			case 266:
				cfg.api_limits.header_ms = u;
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
			if (end == optarg || *end || !(q >= 0 && q < 1)) {
				usage_error("serve",
					    "--health-quorum must be 0 <= SHARE < 1, not '%s'",
					    optarg);
				goto out;
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
			if (cli_u64(PROG, "serve", "--push-max-bytes", optarg, 1024, UINT64_MAX,
				    &v))
				goto out;
			cfg.push_max_bytes = (size_t)v;
			break;
		case 'h':
			usage_of("serve", stdout);
			rc = 0;
			goto out;
		default:
			getopt_fail("serve", c, argv);
			goto out;
		}
	}
	if (cfg.snapshot_path == NULL && !(xfr_cfg_builds(&cfg.xfr) && cfg.xfr.dir)) {
		usage_error("serve",
			    "no snapshot: give -s SNAPSHOT, or snapshot.path in the --config file "
			    "(a secondary or a signer writes its own in --secondary-dir)%s",
			    "");
		goto out;
	}
	if (optind != argc) {
		usage_error("serve", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (cfg.control_listen && cfg.control_token_file == NULL) {
		usage_error("serve", "--control-listen needs --control-token-file%s", "");
		goto out;
	}
	if (ntls && (cfg.tls_cert == NULL || cfg.tls_key == NULL)) {
		usage_error("serve", "--tls-listen needs --tls-cert and --tls-key%s", "");
		goto out;
	}
	if (ndoh && ((cfg.doh_cert ? cfg.doh_cert : cfg.tls_cert) == NULL ||
		     (cfg.doh_key ? cfg.doh_key : cfg.tls_key) == NULL)) {
		usage_error("serve", "--doh-listen needs --doh-cert and --doh-key%s",
			    " (or --tls-cert and --tls-key)");
		goto out;
	}
	cfg.listen = listen;
	cfg.nlisten = nlisten;
	cfg.tls_listen = tls_listen;
	cfg.ntls_listen = ntls;
	cfg.doh_listen = doh_listen;
	cfg.ndoh_listen = ndoh;
	cfg.trusted_keys = keys;
	cfg.ntrusted = nkeys;
	struct p53_err err = {0};
	rc = ksock_run(&cfg, &err) ? CLI_FAIL : 0;
	if (rc)
		fprintf(stderr, "port53 serve: %s\n", err.msg);
out:
	xfr_cfg_free(&cfg.xfr);
	free(listen);
	free(tls_listen);
	free(doh_listen);
	free(keys);
	conf_free(conf);
	return rc;
}

/* export --format route53|zone SNAPSHOT ZONE: a served zone back to Route 53
 * JSON or to zone-file text, for migration in either direction. */
static int cmd_export(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {0}};
	const char *fmt = "route53";
	int c;
	while ((c = getopt_long(argc, argv, ":f:h", lo, NULL)) != -1) {
		if (c == 'f') {
			fmt = optarg;
		} else if (c == 'h') {
			usage_of("export", stdout);
			return 0;
		} else {
			return getopt_fail("export", c, argv);
		}
	}
	if (strcmp(fmt, "route53") && strcmp(fmt, "zone") && strcmp(fmt, "route53-changes"))
		return usage_error(
		    "export", "--format must be route53, route53-changes or zone, not '%s'", fmt);
	if (argc - optind < 2)
		return usage_error("export", "give SNAPSHOT and ZONE%s", "");
	if (argc - optind > 2)
		return usage_error("export", "unexpected argument '%s'", argv[optind + 2]);
	const char *path = argv[optind], *zone = argv[optind + 1];
	struct p53_snapshot *s = load_snapshot(path);
	if (s == NULL)
		return CLI_FAIL;
	int rc = strcmp(fmt, "zone") == 0 ? r53_export_zone(s, zone, stdout)
		 : strcmp(fmt, "route53") == 0
		     ? r53_export_json(s, zone, stdout)
		     : r53_export_fmt(s, zone, R53_EXPORT_CHANGES, stdout);
	if (rc == P53_EINVAL)
		fprintf(stderr, "port53 export: zone %s is not in %s\n", zone, path);
	p53_snapshot_free(s);
	return rc ? CLI_FAIL : 0;
}

static void conf_collect(void *arg, const char *msg)
{
	json_array_append_new(arg, json_string(msg));
}

/* conf-check: every problem of a configuration file, each with its place. */
static int cmd_conf_check(int argc, char **argv)
{
	static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
					   {"args", required_argument, NULL, 'a'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	bool json = false;
	const char *args_for = NULL;
	int c;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if (c == 'j') {
			json = true;
		} else if (c == 'a') {
			args_for = optarg;
		} else if (c == 'h') {
			usage_of("conf-check", stdout);
			return 0;
		} else {
			return getopt_fail("conf-check", c, argv);
		}
	}
	if (args_for && strcmp(args_for, "serve") && strcmp(args_for, "port53d"))
		return usage_error("conf-check", "--args must be serve or port53d, not '%s'",
				   args_for);
	if (optind >= argc)
		return usage_error("conf-check", "no FILE given%s", "");
	if (argc - optind > 1)
		return usage_error("conf-check", "unexpected argument '%s'", argv[optind + 1]);
	const char *path = argv[optind];
	json_t *errors = json_array();
	struct conf *conf = conf_load(path, json ? conf_collect : conf_to_stderr,
				      json ? (void *)errors : NULL, NULL);
	json_t *out_args = json_array();
	if (conf && args_for) {
		bool d = strcmp(args_for, "port53d") == 0;
		char *av[] = {d ? "port53d" : "serve", NULL};
		char **nv;
		int n = conf_argv(conf, d ? CONF_PORT53D : CONF_SERVE, 1, av, &nv);
		for (int i = 1; i < n; i++) {
			if (!json)
				printf("%s\n", nv[i]);
			json_array_append_new(out_args, json_string(nv[i]));
		}
	}
	if (json) {
		json_t *j =
		    json_pack("{s:s,s:b,s:o}", "file", path, "ok", conf != NULL, "errors", errors);
		if (args_for)
			json_object_set(j, "args", out_args);
		json_print(j);
	} else {
		json_decref(errors);
		if (conf && !args_for)
			printf("%s: ok\n", path);
	}
	json_decref(out_args);
	int rc = conf ? 0 : CLI_FAIL;
	conf_free(conf);
	return rc;
}

static int cmd_help(int argc, char **argv)
{
	if (argc > 1 && find_command(argv[1]) == NULL)
		return usage_error(NULL, "no command '%s'", argv[1]);
	usage_of(argc > 1 ? argv[1] : NULL, stdout);
	return 0;
}

static const struct command commands[] = {
    {"compile", cmd_compile, "compile zones into a snapshot",
     "port53 compile -o OUT.p53 [--serial N] [--no-prerender] [--sign-key KEY.pem]\n"
     "                      [--dnssec-keys DIR [--sig-validity DAYS]\n"
     "                       [--compact-denial ZONE]... [--nsec3 ZONE]...\n"
     "                       [--nsec3-opt-out ZONE]... [--nsec3-iterations N]\n"
     "                       [--nsec3-salt HEX]]\n"
     "                      [--geo FILE.csv|FILE.mmdb] [--latency FILE.csv]\n"
     "                      [--regions FILE.csv] [--health-checks FILE]\n"
     "                      [--no-include | --include-dir DIR] [--max-generate N]\n"
     "                      [--quiet] [--timings] [--threads N] [--dry-run] ZONE...\n"
     "  -o, --output FILE     the snapshot to write (atomically)\n"
     "      --serial N        snapshot serial (default: the current unix time)\n"
     "      --no-prerender    leave out pre-rendered answers\n"
     "      --sign-key KEY    sign with this Ed25519 private key (port53 keygen)\n"
     "      --dnssec-keys DIR DNSSEC-sign each zone with keys in DIR (docs/dnssec.md)\n"
     "      --sig-validity D  RRSIG lifetime in days (default 14)\n"
     "      --sig-time T      sign as if the time were T (unix seconds; tests)\n"
     "      --sign-threads N  threads that make signatures (default: one per CPU)\n"
     "      --compact-denial Z  no NSEC chain for zone Z: denials are made and signed\n"
     "                        per query by the server's online key (RFC 9824)\n"
     "      --nsec3 Z         an NSEC3 chain (RFC 5155) for zone Z instead of NSEC\n"
     "      --nsec3-opt-out Z NSEC3 with opt-out: insecure delegations left out\n"
     "      --nsec3-iterations N  extra hash iterations (default 0, at most 150)\n"
     "      --nsec3-salt HEX  NSEC3 salt (default none: '-'; RFC 9276)\n"
     "      --geo FILE        geo database: CSV (prefix,continent,country,subdivision,\n"
     "                        latitude,longitude) or a MaxMind DB (.mmdb)\n"
     "      --latency FILE    latency table, CSV (prefix,region,ms)\n"
     "      --regions FILE    region coordinates, CSV (region,lat,lon)\n"
     "      --health-checks FILE  the Route 53 health checks HealthCheckIds may name\n"
     "      --alias-map FILE  records for aliases to AWS resources (CloudFront, ELB, ...)\n"
     "      --no-include      refuse $INCLUDE; --include-dir DIR: only files inside DIR\n"
     "      --max-generate N  records $GENERATE may make per zone (default 65536; 0: none)\n"
     "      --quiet           no progress line and no summary on stderr\n"
     "      --timings         wall and CPU seconds of each phase on stderr\n"
     "      --threads N       threads to compile on (default: one per CPU, at most 2;\n"
     "                        the snapshot is the same whatever N)\n"
     "      --dry-run         print what would change in OUT.p53, write nothing\n"},
    {"check", cmd_check, "check zones; write nothing",
     "port53 check [--json] [--geo FILE] [--latency FILE] [--regions FILE]\n"
     "                    [--health-checks FILE] [--alias-map FILE]\n"
     "                    [--no-include | --include-dir DIR] [--quiet] ZONE...\n"
     "      --json            {\"ok\": ..., \"error\" or \"snapshot\": ...} on stdout\n"
     "  and the other options of compile, as in port53(1)\n"},
    {"diff", cmd_diff, "what compiling zones would change against a snapshot",
     "port53 diff [compile options] SNAPSHOT ZONE...\n"
     "  record set by record set, zone by zone; exit 0 no change, 1 changes,\n"
     "  2 error (as diff(1)). compile --dry-run -o SNAPSHOT prints the same.\n"},
    {"info", cmd_info, "serial, hash, size and zones of a snapshot",
     "port53 info [--json] SNAPSHOT\n"},
    {"dump", cmd_dump, "a snapshot back to zone-file text", "port53 dump SNAPSHOT [ZONE]\n"},
    {"export", cmd_export, "one zone as Route 53 JSON or zone-file text",
     "port53 export [--format route53|route53-changes|zone] SNAPSHOT ZONE\n"},
    {"keygen", cmd_keygen, "make an Ed25519 key pair for signing snapshots",
     "port53 keygen NAME        writes NAME.key (mode 0600) and NAME.pub\n"},
    {"publish", cmd_publish, "put a signed snapshot where a fleet follows it",
     "port53 publish [--key KEY.pem] [--name NAME] [--header-file F] [--unsigned]\n"
     "                      [--timeout-ms N] [--quiet] SNAPSHOT DEST\n"
     "  DEST is a directory a web server serves, or an http(s):// URL taking PUT\n"
     "  (ending in '/': NAME is appended). The object replaces the old one in\n"
     "  one step, so followers never see half a publish (docs/anycast.md).\n"
     "  -k, --key KEY         sign with this private key first\n"
     "  -n, --name NAME       object name (default: SNAPSHOT's base name)\n"
     "      --header-file F   one extra HTTP request header, e.g. Authorization\n"
     "      --unsigned        publish even without a signature (followers refuse it)\n"
     "      --timeout-ms N    HTTP request timeout (60000)\n"
     "  -q, --quiet           print nothing on success\n"},
    {"dnssec-keygen", dnssec_cmd_keygen, "make a DNSSEC key for a zone (docs/dnssec.md)",
     DNSSEC_CMD_KEYGEN_USAGE},
    {"ds", dnssec_cmd_ds, "the DS records of a zone's DNSSEC keys", DNSSEC_CMD_DS_USAGE},
    {"dnssec-status", dnssec_cmd_status, "a zone's DNSSEC keys, their state and timing",
     DNSSEC_CMD_STATUS_USAGE},
    {"dnssec-rollover", dnssec_cmd_rollover, "start a ZSK or KSK rollover (RFC 7583)",
     DNSSEC_CMD_ROLLOVER_USAGE},
    {"sign", cmd_sign, "sign a snapshot",
     "port53 sign -k KEY.pem SNAPSHOT [-o OUT.p53]\n"
     "  -k, --key KEY         Ed25519 private key (PEM)\n"
     "  -o, --output FILE     write here (default: sign SNAPSHOT in place)\n"},
    {"fw-compile", cmd_fw_compile, "compile DNS Firewall rules (docs/firewall.md)",
     "port53 fw-compile -o OUT.p53fw [--serial N] [--json] RULES.json\n"
     "  -o, --output FILE     the compiled rules to write\n"
     "      --serial N        rules serial (default: the current unix time)\n"
     "      --json            {\"ok\", \"output\", counts, \"size\", \"serial\", ...} on stdout\n"},
    {"serve", cmd_serve, "serve a snapshot over kernel sockets (UDP and TCP)",
     "port53 serve [-c CONFIG] [-s SNAPSHOT] [-l ADDR:PORT]... [options]\n"
     "  -c, --config FILE          settings from a port53.yaml(5) file; options given\n"
     "                             here override it\n"
     "  -s, --snapshot FILE        the snapshot to serve (reloaded on SIGHUP)\n"
     "  -l, --listen ADDR:PORT     UDP and TCP address; repeat (default 127.0.0.1:5353)\n"
     "      --identity NAME        CH TXT id.server / hostname.bind answer\n"
     "      --version TEXT         CH TXT version.bind answer\n"
     "      --edns-size N          our EDNS UDP payload size (512..65535, default 1232)\n"
     "      --tcp-max-conns N      open TCP connections (default 256)\n"
     "      --tcp-idle-ms N        idle TCP timeout (default 10000)\n"
     "      --tcp-per-source N     TCP connections per client address (16)\n"
     "      --tcp-msg-ms N         time to read one TCP message (5000)\n"
     "      --tcp-lifetime-ms N    longest TCP connection (120000)\n"
     "      --tcp-out-max BYTES    unsent replies buffered per TCP connection (65536)\n"
     "      --reload-dir DIR       POST /v1/reload {\"path\"} only inside DIR\n"
     "      --watch-dir DIR        load every *.p53 written or moved into DIR\n"
     "      --snapshot-max-bytes N largest snapshot loaded from a path (4 GiB)\n"
     "      --origin-url URL       follow an origin: poll URL for signed snapshots\n"
     "                             (needs --require-signature; docs/anycast.md)\n"
     "      --origin-dir DIR       where downloads and origin.p53 go (the snapshot's)\n"
     "      --origin-interval-ms N between polls (2000)\n"
     "      --origin-timeout-ms N  one request, download included (30000)\n"
     "      --origin-ca-file F     HTTPS trust anchors (the system's)\n"
     "      --origin-header-file F one request header, e.g. Authorization: ...\n"
     "      --node-max-snapshot-age-s N   unhealthy once the snapshot was last known\n"
     "                             current N s ago (0: no limit)\n"
     "      --node-max-origin-silence-s N unhealthy when the origin is silent N s (0: off)\n"
     "      --node-worker-stall-ms N      an answering thread stuck N ms is unhealthy (3000)\n"
     "      --node-min-signature-validity-s N  unhealthy once the earliest RRSIG expires\n"
     "                             within N s (0: reported only)\n"
     "      --api-max-conns N      control API connections (default 64)\n"
     "      --api-per-source N     control API connections per client on TCP (4)\n"
     "      --api-timeout-s N      idle API connections closed after N s (10)\n"
     "      --api-header-ms N      TCP API request headers due within N ms (5000)\n"
     "      --firewall FILE        DNS Firewall rules, compiled by fw-compile\n"
     "      --dnssec-keys DIR      zone-signing keys: sign answers that depend on the\n"
     "                             query online (docs/dnssec.md)\n"
     "      --dnssec-sig-time T    sign online as if the time were T (unix s; tests)\n"
     "      --resolver FILE        views, Resolver rules, recursion (docs/resolver.md)\n"
     "      --tls-listen A:P       DNS over TLS there too (repeat); needs --tls-cert, --tls-key\n"
     "      --tls-cert F, --tls-key F  PEM certificate chain and key, reread on SIGHUP\n"
     "      --doh-listen A:P       DNS over HTTPS (HTTP/2) there (repeat); certificate from\n"
     "                             --doh-cert, --doh-key, else --tls-cert, --tls-key\n"
     "      --doh-path PATH        the DoH path (default /dns-query)\n"
     "      --doh-max-streams N    concurrent HTTP/2 streams per connection (100)\n"
     "      --query-log FILE       log queries as JSON lines\n"
     "      --query-log-dnstap F   log queries as dnstap\n"
     "      --query-log-sample N   log one query in N (default 1: all)\n"
     "      --control-socket PATH  control API on a unix socket (mode 0600)\n"
     "      --control-listen A:P   control API and web console on TCP (needs the token)\n"
     "      --control-token-file F the bearer token for --control-listen\n"
     "      --push-max-bytes N     largest pushed snapshot (default 256 MiB)\n"
     "      --require-signature K  accept only snapshots signed by public key K; repeat\n"
     "      --health-checks FILE   Route 53 health checks (JSON)\n"
     "      --health-quorum SHARE  healthy when more than SHARE of checkers say so (0.18)\n"
     "      --rrl-rate N, --rrl-slip N, --rrl-ipv4-prefix N, --rrl-ipv6-prefix N,\n"
     "      --rrl-table-size N, --rrl-exempt LIST   response rate limiting (defaults\n"
     "                             200/s, slip 2, /24, /56, 131072 buckets; rate 0: off)\n"
     "      --cookies on|off, --cookie-secret-file F, --cookie-rotate S   DNS Cookies\n"
     "                             (default on, random secret rotated every 93600 s)\n"
     "      --drop-ports LIST      source ports never answered (docs/abuse.md)\n"
     "zone transfers (docs/transfers.md):\n"
     "      --tsig-key [ALG:]NAME:SECRET  a TSIG key; repeat (hmac-sha256 by default)\n"
     "      --xfr-allow 'PREFIX [key NAME] [tls]'  who may AXFR/IXFR (TCP, TLS); repeat\n"
     "      --notify 'ADDR[:PORT] [key NAME]'  NOTIFY sent when a zone changes; repeat\n"
     "      --ixfr-depth N         zone differences kept for IXFR (16)\n"
     "      --secondary 'ORIGIN PRIMARY[:PORT] [key NAME]'  transfer ORIGIN in; repeat\n"
     "      --zone ORIGIN=PATH     compiled into one snapshot with the transferred zones\n"
     "      --secondary-dir DIR    where transferred zones are kept\n"
     "      --notify-allow 'PREFIX [key NAME]'  NOTIFY senders beside the primaries\n"
     "      --sign-keys DIR        sign the --zone and transferred zones with the keys\n"
     "                             in DIR, rebuilt on their timing (docs/dnssec.md)\n"
     "      --sig-validity DAYS    the signer's signature validity (14)\n"
     "      --resign-interval S    the signer's re-signing interval (21600)\n"
     "signals: HUP reloads the snapshot and firewall, TERM and INT stop.\n"},
    {"conf-check", cmd_conf_check, "check a configuration file (port53.yaml(5))",
     "port53 conf-check [--json] [--args serve|port53d] FILE\n"
     "      --json            {\"file\", \"ok\", \"errors\": [\"FILE:LINE:COL: ...\"]}\n"
     "      --args PROG       print the options the file gives PROG, one a line\n"},
    {"help", cmd_help, "the options of a command", "port53 help [COMMAND]\n"},
    {NULL, NULL, NULL, NULL},
};

static const struct command *find_command(const char *name)
{
	if (name == NULL)
		return commands;
	for (const struct command *c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error(NULL, "no command given%s", "");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage_of(NULL, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		cli_version(PROG);
		return 0;
	}
	const struct command *c = find_command(cmd);
	if (c == NULL)
		return usage_error(NULL, "unknown command '%s'", cmd);
	opterr = 0; /* getopt_fail says what was wrong, naming the command */
	return c->run(argc - 1, argv + 1);
}
