/* port53ctl: the control API's command line (docs/control.md).
 *
 *   port53ctl [-s SOCKET | -u URL [--token-file F]] [--json] COMMAND
 *     status            live snapshot, zones, swaps, last error
 *     stats             counters, total and per worker
 *     metrics           Prometheus text, as scraped
 *     health            Route 53 health checks: state, last result, last change
 *     push FILE         upload a compiled snapshot and make it live
 *                       (--allow-older: accept a serial below the live one)
 *     reload [PATH]     have the server reload from disk
 *     node              the node's own health and its origin (exit 1 unhealthy)
 *     anycast [OPTIONS] announce the node's prefixes through BIRD while it is
 *                       healthy, withdraw them while not (tools/anycast.h)
 *
 * Tables for people by default; --json prints the API's JSON untouched for
 * scripts (after the command too: `port53ctl status --json`). Exit status:
 * 0 success, 1 the server refused (reason on stderr), 2 usage, 3 the server
 * could not be reached (tools/cli.h).
 */
#include "tools/anycast.h"
#include "tools/cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DEFAULT_SOCKET "/run/port53/control.sock"

struct opts {
	const char *sock;
	const char *url;
	const char *token_file;
	bool json;
	long timeout;
	long timeout_ms; /* overrides timeout when set (anycast) */
	bool quiet;	 /* unreachable: reason in err, not on stderr (anycast) */
	char err[256];
	char auth[600];
};

struct buf {
	char *p;
	size_t n;
};

static size_t on_data(char *data, size_t sz, size_t nm, void *arg)
{
	struct buf *b = arg;
	size_t n = sz * nm;
	char *p = realloc(b->p, b->n + n + 1);
	if (p == NULL)
		return 0;
	memcpy(p + b->n, data, n);
	b->p = p;
	b->n += n;
	p[b->n] = 0;
	return n;
}

#define PROG "port53ctl"

struct command {
	const char *name;
	int minargs, maxargs;
	const char *args, *summary;
};

static const struct command commands[] = {
    {"status", 0, 0, "", "live snapshot, zones, swaps, last error"},
    {"stats", 0, 0, "", "counters, total and per worker"},
    {"firewall", 0, 0, "", "DNS Firewall hits per rule"},
    {"health", 0, 0, "", "Route 53 health checks: state, last result, last change"},
    {"metrics", 0, 0, "", "Prometheus text, as scraped"},
    {"push", 1, 1, " [--allow-older] FILE",
     "make a snapshot live (an older serial only with --allow-older)"},
    {"reload", 0, 1, " [PATH]", "have the server reload from disk"},
    {"node", 0, 0, "", "the node's own health and its origin (exit 1 when unhealthy)"},
    {"anycast", 0, 0,
     " [--bird-socket PATH] [--protocol NAME] [--interval-ms N] [--fall N] [--rise N] "
     "[--reassert-s N] [--once]",
     "announce the node's prefixes through BIRD while healthy, withdraw while not"},
    {NULL, 0, 0, NULL, NULL},
};

static const char common_opts[] =
    "  -s, --socket PATH    control socket (default $PORT53_CONTROL_SOCKET or\n"
    "                       " DEFAULT_SOCKET ")\n"
    "  -u, --url URL        control API over TCP, e.g. http://127.0.0.1:8053\n"
    "      --token-file F   bearer token for --url\n"
    "      --json           print the API's JSON instead of tables\n"
    "  -t, --timeout S      give up after S seconds (default 60)\n";

static void usage(FILE *f, const char *cmd)
{
	for (const struct command *c = commands; cmd && c->name; c++) {
		if (strcmp(c->name, cmd) == 0) {
			fprintf(f, "usage: port53ctl [options] %s%s [--json]\n  %s\noptions:\n%s",
				c->name, c->args, c->summary, common_opts);
			return;
		}
	}
	fputs("usage: port53ctl [-s SOCKET | -u URL [--token-file FILE]] [--json] [-t SECONDS]\n"
	      "                 COMMAND [ARGS]\n"
	      "       port53ctl COMMAND --help | --version\ncommands:\n",
	      f);
	for (const struct command *c = commands; c->name; c++)
		fprintf(f, "  %-16s %s\n", c->name, c->summary);
	fprintf(f,
		"options:\n%s"
		"exit status: 0 success, 1 the server refused, 2 usage error,\n"
		"3 the server could not be reached. See port53ctl(1).\n",
		common_opts);
}

static int read_token(struct opts *o)
{
	FILE *f = fopen(o->token_file, "r");
	if (f == NULL) {
		fprintf(stderr, "port53ctl: %s: %s\n", o->token_file, strerror(errno));
		return -1;
	}
	char tok[520];
	size_t n = fread(tok, 1, sizeof(tok) - 1, f);
	fclose(f);
	while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
		n--;
	tok[n] = 0;
	snprintf(o->auth, sizeof(o->auth), "Authorization: Bearer %s", tok);
	return 0;
}

/* One request; returns the HTTP status, or -1 when the server is
 * unreachable (reported). body gets the response. */
static long request(struct opts *o, const char *method, const char *path, FILE *upload,
		    long long upload_len, const char *json_body, struct buf *body)
{
	CURL *c = curl_easy_init();
	if (c == NULL)
		return -1;
	char url[1024];
	if (o->url)
		snprintf(url, sizeof(url), "%s%s", o->url, path);
	else
		snprintf(url, sizeof(url), "http://localhost%s", path);
	struct curl_slist *hdr = NULL;
	if (o->auth[0])
		hdr = curl_slist_append(hdr, o->auth);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (!o->url)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, o->sock);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	if (o->timeout_ms)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	else
		curl_easy_setopt(c, CURLOPT_TIMEOUT, o->timeout);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (upload) {
		hdr = curl_slist_append(hdr, "Content-Type: application/octet-stream");
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READDATA, upload);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)upload_len);
	} else if (json_body) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	CURLcode rc = curl_easy_perform(c);
	long status = -1;
	if (rc != CURLE_OK && !o->quiet)
		fprintf(stderr, "port53ctl: %s: %s\n", o->url ? o->url : o->sock,
			curl_easy_strerror(rc));
	if (rc != CURLE_OK)
		snprintf(o->err, sizeof(o->err), "%s", curl_easy_strerror(rc));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return status;
}

static void fmt_time(double t, char *out, size_t n)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static long long int_of(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static double num_of(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : 0;
}

static const char *str_of(json_t *o, const char *k, const char *dflt)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : dflt;
}

static void print_status(json_t *o)
{
	char when[64];
	printf("%-14s %s\n", "server", str_of(o, "server", "?"));
	if (json_is_null(json_object_get(o, "serial"))) {
		printf("%-14s none loaded\n", "snapshot");
	} else {
		printf("%-14s %lld\n", "serial", int_of(o, "serial"));
		printf("%-14s %s\n", "hash", str_of(o, "hash", "?"));
		fmt_time((double)int_of(o, "created"), when, sizeof(when));
		printf("%-14s %s\n", "created", when);
		fmt_time(num_of(o, "loaded_at"), when, sizeof(when));
		printf("%-14s %s (%.1f s ago)\n", "loaded", when, num_of(o, "age_seconds"));
		printf("%-14s %s\n", "source", str_of(o, "source", "?"));
		printf("%-14s %lld bytes\n", "size", int_of(o, "size"));
		printf("%-14s %s%s\n", "signed by", str_of(o, "signed_by", "-"),
		       json_is_true(json_object_get(o, "require_signature")) ? " (required)" : "");
	}
	printf("%-14s %lld (failed loads: %lld)\n", "swaps", int_of(o, "swaps"),
	       int_of(o, "failed_loads"));
	printf("%-14s last %.1f us, max %.1f us (publish to old snapshot freed)\n", "swap latency",
	       num_of(o, "last_swap_latency_us"), num_of(o, "max_swap_latency_us"));
	const char *le = str_of(o, "last_error", NULL);
	if (le) {
		fmt_time(num_of(o, "last_error_at"), when, sizeof(when));
		printf("%-14s %s: %s\n", "last error", when, le);
	}
	json_t *zones = json_object_get(o, "zones");
	if (json_array_size(zones)) {
		printf("\n%-12s %s\n", "SOA SERIAL", "ZONE");
		size_t i;
		json_t *z;
		json_array_foreach(zones, i, z)
		{
			printf("%-12lld %s\n", int_of(z, "serial"), str_of(z, "name", "?"));
		}
	}
}

/* Rows are "family" or "family{value}", columns total and each worker. */
static void print_stats(json_t *o)
{
	json_t *total = json_object_get(o, "total");
	json_t *per = json_object_get(o, "per_worker");
	size_t nw = json_array_size(per);
	printf("%-32s %14s", "COUNTER", "TOTAL");
	for (size_t w = 0; nw > 1 && w < nw; w++)
		printf(" %12s%lld", "W", int_of(json_array_get(per, w), "worker"));
	putchar('\n');
	const char *fam;
	json_t *v;
	json_object_foreach(total, fam, v)
	{
		const char *lv;
		json_t *x;
		if (json_is_integer(v)) {
			printf("%-32s %14lld", fam, (long long)json_integer_value(v));
			for (size_t w = 0; nw > 1 && w < nw; w++) {
				json_t *wc = json_object_get(json_array_get(per, w), "counters");
				printf(" %13lld", int_of(wc, fam));
			}
			putchar('\n');
			continue;
		}
		json_object_foreach(v, lv, x)
		{
			char row[96];
			snprintf(row, sizeof(row), "%s{%s}", fam, lv);
			printf("%-32s %14lld", row, (long long)json_integer_value(x));
			for (size_t w = 0; nw > 1 && w < nw; w++) {
				json_t *wc = json_object_get(json_array_get(per, w), "counters");
				printf(" %13lld", int_of(json_object_get(wc, fam), lv));
			}
			putchar('\n');
		}
	}
}

/* The firewall_hits family of /v1/stats: one row per rule. */
static void print_firewall(json_t *o)
{
	json_t *hits = json_object_get(json_object_get(o, "total"), "firewall_hits");
	if (!json_is_object(hits)) {
		printf("no DNS Firewall loaded\n");
		return;
	}
	printf("%-48s %14s\n", "RULE", "HITS");
	const char *rule;
	json_t *v;
	json_object_foreach(hits, rule, v)
	{
		printf("%-48s %14lld\n", rule, (long long)json_integer_value(v));
	}
}

/* One row per check; CHECKERS is healthy/reporting when others vote. */
static void print_health(json_t *o)
{
	json_t *checks = json_object_get(o, "checks");
	if (!json_is_true(json_object_get(o, "configured"))) {
		printf("no health checks configured (--health-checks)\n");
		return;
	}
	printf("%-20s %-17s %-9s %-20s %-8s %-5s %s\n", "ID", "TYPE", "STATE", "CHANGED",
	       "CHECKERS", "FLAGS", "LAST RESULT");
	size_t i;
	json_t *c;
	json_array_foreach(checks, i, c)
	{
		char when[64], votes[24], flags[8] = "-";
		json_t *ck = json_object_get(c, "checkers");
		fmt_time(num_of(c, "last_change"), when, sizeof(when));
		snprintf(votes, sizeof(votes), "%lld/%lld", int_of(ck, "healthy"),
			 int_of(ck, "reporting"));
		if (json_is_true(json_object_get(c, "inverted")) ||
		    json_is_true(json_object_get(c, "disabled")))
			snprintf(flags, sizeof(flags), "%s%s",
				 json_is_true(json_object_get(c, "inverted")) ? "I" : "",
				 json_is_true(json_object_get(c, "disabled")) ? "D" : "");
		printf("%-20s %-17s %-9s %-20s %-8s %-5s %s\n", str_of(c, "id", "?"),
		       str_of(c, "type", "?"), str_of(c, "state", "?"), when, votes, flags,
		       str_of(c, "last_result", ""));
	}
}

static void print_push(json_t *o)
{
	printf("serial %lld live (was %lld): verified in %.2f ms, swapped in %.1f us%s\n",
	       int_of(o, "serial"), int_of(o, "previous_serial"), num_of(o, "verify_ms"),
	       num_of(o, "swap_latency_us"),
	       json_is_true(json_object_get(o, "deferred_free"))
		   ? " (old snapshot kept: readers were slow)"
		   : "");
}

static void print_check(json_t *checks, const char *name, const char *detail)
{
	json_t *c = json_object_get(checks, name);
	printf("  %-14s %s%s\n", name,
	       json_is_null(c) || c == NULL		? "-"
	       : json_is_true(json_object_get(c, "ok")) ? "ok"
							: "FAILING",
	       detail);
}

static void print_node(json_t *o)
{
	json_t *ck = json_object_get(o, "checks");
	bool ok = json_is_true(json_object_get(o, "healthy"));
	printf("node           %s%s%s\n", ok ? "healthy" : "UNHEALTHY", ok ? "" : ": ",
	       ok ? "" : str_of(o, "reasons", ""));
	printf("serial         %lld\nchecks\n", int_of(o, "serial"));
	char d[160];
	json_t *w = json_object_get(ck, "workers");
	snprintf(d, sizeof(d), " (%lld of %lld answering threads moving)", int_of(w, "answering"),
		 int_of(w, "of"));
	print_check(ck, "workers", d);
	json_t *sa = json_object_get(ck, "snapshot_age");
	snprintf(d, sizeof(d), " (last known current %.1f s ago, loaded %.1f s ago)",
		 num_of(sa, "seconds"), num_of(sa, "since_load"));
	print_check(ck, "snapshot_age", d);
	json_t *og = json_object_get(ck, "origin");
	snprintf(d, sizeof(d), json_is_object(og) ? " (silent %.1f s)" : " (no origin)",
		 num_of(og, "silent_seconds"));
	print_check(ck, "origin", d);
	print_check(ck, "zones_expired", "");
	json_t *f = json_object_get(o, "origin");
	if (!json_is_object(f))
		return;
	printf("origin         polls %lld: %lld not modified, %lld fetched (%lld loaded, %lld "
	       "unchanged, %lld refused), %lld errors (%lld in a row)\n",
	       int_of(f, "polls"), int_of(f, "not_modified"), int_of(f, "fetched"),
	       int_of(f, "loaded"), int_of(f, "unchanged"), int_of(f, "rejected"),
	       int_of(f, "errors"), int_of(f, "consecutive_errors"));
	printf("etag           %s%s\n", str_of(f, "etag", ""),
	       json_is_true(json_object_get(f, "origin_rejected")) ? " (refused)" : "");
	if (*str_of(f, "last_error", ""))
		printf("last error     %s\n", str_of(f, "last_error", ""));
}

/* 1 healthy, 0 unhealthy, -1 unreachable: the announcer's verdict. */
static long request(struct opts *o, const char *method, const char *path, FILE *upload,
		    long long upload_len, const char *json_body, struct buf *body);

static int node_check(void *arg, unsigned timeout_ms, char *why, size_t cap)
{
	struct opts *o = arg;
	struct buf b = {0};
	o->timeout_ms = timeout_ms;
	o->quiet = true;
	long st = request(o, "GET", "/v1/node", NULL, 0, NULL, &b);
	int v = -1;
	json_t *doc = b.p ? json_loadb(b.p, b.n, 0, NULL) : NULL;
	if (st < 0) {
		snprintf(why, cap, "no answer from the server within %u ms: %s", timeout_ms,
			 o->err);
	} else if (doc == NULL || !json_is_boolean(json_object_get(doc, "healthy"))) {
		snprintf(why, cap, "GET /v1/node: HTTP %ld without a verdict", st);
	} else {
		v = json_is_true(json_object_get(doc, "healthy")) && st == 200;
		snprintf(why, cap, "%s", str_of(doc, "reasons", ""));
	}
	json_decref(doc);
	free(b.p);
	return v;
}

static int cmd_anycast(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {{"bird-socket", required_argument, NULL, 'b'},
					   {"protocol", required_argument, NULL, 'p'},
					   {"interval-ms", required_argument, NULL, 'i'},
					   {"fall", required_argument, NULL, 'f'},
					   {"rise", required_argument, NULL, 'r'},
					   {"reassert-s", required_argument, NULL, 'R'},
					   {"once", no_argument, NULL, 'o'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	struct anycast_cfg cfg;
	anycast_cfg_default(&cfg);
	uint64_t v;
	int c, li = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", lo, &li)) != -1) {
		switch (c) {
		case 'b':
			cfg.bird_socket = optarg;
			break;
		case 'p':
			cfg.protocol = optarg;
			break;
		case 'o':
			cfg.once = true;
			break;
		case 'i':
		case 'f':
		case 'r':
		case 'R': {
			char name[32];
			snprintf(name, sizeof(name), "--%s", lo[li].name);
			if (cli_u64(PROG, "anycast", name, optarg, c == 'i' ? 50 : 1,
				    c == 'i' ? 600000 : 3600, &v))
				return CLI_USAGE;
			if (c == 'i')
				cfg.interval_ms = (unsigned)v;
			else if (c == 'f')
				cfg.fall = (unsigned)v;
			else if (c == 'r')
				cfg.rise = (unsigned)v;
			else
				cfg.reassert_s = (unsigned)v;
			break;
		}
		case 'h':
			usage(stdout, "anycast");
			return 0;
		default:
			return cli_getopt_error(PROG, "anycast", c, argv);
		}
	}
	if (optind != argc)
		return cli_usage_error(PROG, "anycast", "unexpected argument '%s'", argv[optind]);
	if (o->token_file && read_token(o) != 0)
		return CLI_USAGE;
	cfg.check = node_check;
	cfg.check_arg = o;
	return anycast_run(&cfg);
}

/* Prints the reply; returns the exit status. */
static int finish(const struct opts *o, long status, struct buf *b, void (*pretty)(json_t *))
{
	if (status < 0)
		return CLI_UNREACHABLE;
	if (o->json || pretty == NULL) {
		fwrite(b->p ? b->p : "", 1, b->n, stdout);
		return status >= 200 && status < 300 ? 0 : 1;
	}
	json_t *doc = b->p ? json_loadb(b->p, b->n, 0, NULL) : NULL;
	if (status < 200 || status >= 300) {
		const char *msg = doc ? str_of(doc, "error", NULL) : NULL;
		fprintf(stderr, "port53ctl: error %ld: %s\n", status,
			msg ? msg : (b->p ? b->p : "(no body)"));
		json_decref(doc);
		return 1;
	}
	if (doc == NULL) {
		fprintf(stderr, "port53ctl: the server's reply is not JSON\n");
		return 1;
	}
	pretty(doc);
	json_decref(doc);
	return 0;
}

static int run(struct opts *o, int argc, char **argv)
{
	const char *cmd = argv[0];
	const struct command *k = commands;
	while (k->name && strcmp(k->name, cmd) != 0)
		k++;
	if (k->name == NULL)
		return cli_usage_error(PROG, NULL, "unknown command '%s'", cmd);
	/* Options after the command: --json and --help. */
	static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
					   {"allow-older", no_argument, NULL, 'A'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	bool allow_older = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if (c == 'A' && strcmp(cmd, "push") == 0) {
			allow_older = true;
		} else if (c == 'j') {
			o->json = true;
		} else if (c == 'h') {
			usage(stdout, cmd);
			return 0;
		} else {
			return cli_getopt_error(PROG, cmd, c, argv);
		}
	}
	int nargs = argc - optind;
	if (nargs < k->minargs)
		return cli_usage_error(PROG, cmd, "missing %s", strrchr(k->args, ' ') + 1);
	if (nargs > k->maxargs)
		return cli_usage_error(PROG, cmd, "unexpected argument '%s'",
				       argv[optind + k->maxargs]);
	/* From here argv[1..] are the command's arguments. */
	argv[optind - 1] = (char *)cmd;
	argv += optind - 1;
	argc = nargs + 1;
	if (o->token_file && read_token(o) != 0)
		return CLI_USAGE;
	struct buf b = {0};
	long st;
	int rc;
	if (!strcmp(cmd, "status") && argc == 1) {
		st = request(o, "GET", "/v1/status", NULL, 0, NULL, &b);
		rc = finish(o, st, &b, print_status);
	} else if (!strcmp(cmd, "stats") && argc == 1) {
		st = request(o, "GET", "/v1/stats", NULL, 0, NULL, &b);
		rc = finish(o, st, &b, print_stats);
	} else if (!strcmp(cmd, "firewall") && argc == 1) {
		st = request(o, "GET", "/v1/stats", NULL, 0, NULL, &b);
		rc = finish(o, st, &b, print_firewall);
	} else if (!strcmp(cmd, "health") && argc == 1) {
		st = request(o, "GET", "/v1/health", NULL, 0, NULL, &b);
		rc = finish(o, st, &b, print_health);
	} else if (!strcmp(cmd, "metrics") && argc == 1) {
		st = request(o, "GET", "/metrics", NULL, 0, NULL, &b);
		rc = finish(o, st, &b, NULL);
	} else if (!strcmp(cmd, "node") && argc == 1) {
		/* 503 is the unhealthy verdict, still a report to print. */
		st = request(o, "GET", "/v1/node", NULL, 0, NULL, &b);
		rc = finish(o, st == 503 ? 200 : st, &b, print_node);
		if (st == 503)
			rc = 1;
	} else if (!strcmp(cmd, "push") && argc == 2) {
		const char *file = argv[1];
		FILE *f = fopen(file, "rb");
		struct stat sb;
		if (f == NULL || fstat(fileno(f), &sb) != 0) {
			fprintf(stderr, "port53ctl: %s: %s\n", file, strerror(errno));
			if (f)
				fclose(f);
			return 1;
		}
		st = request(o, "PUT", allow_older ? "/v1/snapshot?allow_older=1" : "/v1/snapshot",
			     f, (long long)sb.st_size, NULL, &b);
		fclose(f);
		rc = finish(o, st, &b, print_push);
	} else if (!strcmp(cmd, "reload") && argc <= 2) {
		char *body = NULL;
		if (argc == 2) {
			json_t *j = json_pack("{s:s}", "path", argv[1]);
			body = json_dumps(j, 0);
			json_decref(j);
		}
		st = request(o, "POST", "/v1/reload", NULL, 0, body, &b);
		free(body);
		rc = finish(o, st, &b, print_push);
	} else {
		rc = cli_usage_error(PROG, cmd, "internal: no handler");
	}
	free(b.p);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"socket", required_argument, NULL, 's'},	  {"url", required_argument, NULL, 'u'},
	    {"token-file", required_argument, NULL, 'T'}, {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'},	  {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},	  {0}};
	struct opts o = {.timeout = 60};
	o.sock = getenv("PORT53_CONTROL_SOCKET");
	if (o.sock == NULL || !*o.sock)
		o.sock = DEFAULT_SOCKET;
	int c;
	while ((c = getopt_long(argc, argv, "+:s:u:t:h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			o.sock = optarg;
			break;
		case 'u':
			o.url = optarg;
			break;
		case 'T':
			o.token_file = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 't': {
			uint64_t t;
			if (cli_u64(PROG, NULL, "--timeout", optarg, 1, 86400, &t))
				return CLI_USAGE;
			o.timeout = (long)t;
			break;
		}
		case 'V':
			cli_version(PROG);
			return 0;
		case 'h':
			usage(stdout, NULL);
			return 0;
		default:
			return cli_getopt_error(PROG, NULL, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error(PROG, NULL, "no command given");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 3;
	int rc = strcmp(argv[optind], "anycast") == 0
		     ? cmd_anycast(&o, argc - optind, argv + optind)
		     : run(&o, argc - optind, argv + optind);
	curl_global_cleanup();
	return rc;
}
