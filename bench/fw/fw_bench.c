/* DNS Firewall benchmark: what a million blocked domains and a hundred
 * patterns cost.
 *
 *   fw_bench [--domains N] [--patterns N] [--hs-domains N] [--seconds S] [--zones DIR]
 *
 * Measures, single-threaded:
 *   1. compile time and file size of N domains + P patterns (port53 fw-compile's code),
 *      and load time (verify, deserialise Hyperscan, scratch);
 *   2. engine throughput (p53_answer) on a simple query mix over tests/zones with the
 *      firewall off, with the list only, and with list + patterns;
 *   3. pure-list matching, hash-of-suffixes (p53_fw_check) against Hyperscan literals
 *      (hs_compile_lit_multi: "\1name\2" for exact names, ".name\2" for "*.name",
 *      scanned over "\1" + presentation name + "\2"), on --hs-domains of the same names.
 * Numbers go to docs/firewall.md. The query mix is half listed, half unlisted names
 * for (3); (2) uses names in the served zones, none of which is listed, so it shows the
 * cost of checking, which every query pays.
 */
#include "zones/answer/answer.h"
#include "zones/compile/compile.h"
#include "zones/answer/fw.h"
#include "zones/compile/fwcompile.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"

#include <dirent.h>
#include <getopt.h>
#include <hs/hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Blocklist-like names: one to three labels of 4..12 letters and digits
 * under a handful of TLDs. */
static void gen_name(char *out, size_t cap, uint64_t seed)
{
	static const char *const tld[] = {"com", "net", "org", "info", "xyz", "ru", "io", "top"};
	static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	uint64_t s = seed * 0x2545f4914f6cdd1dull + 1;
	size_t o = 0;
	unsigned labels = 1 + (unsigned)(s % 3);
	for (unsigned l = 0; l < labels; l++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		unsigned n = 4 + (unsigned)((s >> 33) % 9);
		for (unsigned i = 0; i < n; i++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			out[o++] = al[(s >> 33) % 36];
		}
		out[o++] = '.';
	}
	snprintf(out + o, cap - o, "%s", tld[(s >> 40) % 8]);
}

static const char *dir = "/tmp/p53_fw_bench";

static void write_inputs(unsigned ndom, unsigned npat)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/list.txt", dir);
	FILE *f = fopen(p, "w");
	char n[256];
	for (unsigned i = 0; i < ndom; i++) {
		gen_name(n, sizeof(n), i);
		fprintf(f, "%s%s\n", i % 10 == 0 ? "*." : "", n);
	}
	fclose(f);
	snprintf(p, sizeof(p), "%s/rules.json", dir);
	f = fopen(p, "w");
	fprintf(f,
		"{\"domain_lists\": {\"big\": \"list.txt\"}, \"rule_groups\": [{\"name\": \"g\", "
		"\"priority\": 1, \"rules\": [{\"name\": \"big\", \"priority\": 1, \"action\": "
		"\"BLOCK\", \"block_response\": \"NXDOMAIN\", \"domain_list\": \"big\"}");
	/* random-subdomain floods under 100 victims, and a few other shapes */
	for (unsigned i = 0; i < npat; i++) {
		const char *fmt = i % 4 == 0   ? "^[a-z0-9]{%u,}\\\\.victim%u\\\\.example$"
				  : i % 4 == 1 ? "^[a-z0-9-]{%u,}\\\\.cdn%u\\\\.example\\\\.net$"
				  : i % 4 == 2 ? "(^|\\\\.)x{%u}y-%u[0-9]+\\\\."
					       : "^[0-9a-f]{%u,}\\\\.tunnel%u\\\\.";
		char pat[200];
		snprintf(pat, sizeof(pat), fmt, 16 + i % 16, i);
		fprintf(f,
			",{\"name\": \"p%u\", \"priority\": %u, \"action\": \"BLOCK\", "
			"\"patterns\": [\"%s\"]}",
			i, i + 2, pat);
	}
	fprintf(f, "]}]}\n");
	fclose(f);
}

static struct p53_snapshot *load_zones(const char *zdir)
{
	DIR *d = opendir(zdir);
	struct p53_zone_input z[32];
	char paths[32][512], origins[32][256];
	size_t n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL && n < 32) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".zone") != 0)
			continue;
		snprintf(paths[n], sizeof(paths[n]), "%s/%s", zdir, e->d_name);
		snprintf(origins[n], sizeof(origins[n]), "%.*s.", (int)(l - 5), e->d_name);
		z[n].origin = origins[n];
		z[n].path = paths[n];
		n++;
	}
	if (d)
		closedir(d);
	struct p53_compile_opts o = {.serial = 1};
	struct p53_err err = {0};
	uint8_t *img;
	size_t len;
	if (p53_compile(z, n, &o, &img, &len, &err) != 0) {
		fprintf(stderr, "zones: %s\n", err.msg);
		return NULL;
	}
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &err);
	free(img);
	return s;
}

#define NQ 4096

struct q {
	uint8_t wire[300];
	size_t len;
};

static size_t mkq(uint8_t *q, const char *name, uint16_t type)
{
	uint8_t w[P53_NAME_MAX];
	int n = name_from_text(name, strlen(name), NULL, w, NULL);
	memset(q, 0, 12);
	q[5] = 1;
	memcpy(q + 12, w, (size_t)n);
	size_t p = 12 + (size_t)n;
	q[p++] = (uint8_t)(type >> 8);
	q[p++] = (uint8_t)type;
	q[p++] = 0;
	q[p++] = 1;
	return p;
}

/* A simple authoritative mix: existing names (most), names that do not
 * exist, other types, CNAMEs. */
static void build_mix(struct q *qs)
{
	static const struct {
		const char *name;
		uint16_t type;
		unsigned weight;
	} mix[] = {
	    {"www.example.com.", RR_A, 30}, {"mail.example.com.", RR_A, 10},
	    {"example.com.", RR_MX, 8},	    {"www.example.com.", RR_AAAA, 10},
	    {"ftp.example.com.", RR_A, 7},  {"example.net.", RR_NS, 5},
	    {"www.example.org.", RR_A, 10}, {"nope.example.com.", RR_A, 0},
	    {"example.com.", RR_SOA, 5},
	};
	unsigned total = 0;
	for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++)
		total += mix[i].weight;
	for (unsigned i = 0; i < NQ; i++) {
		unsigned r = (unsigned)(rnd() % (total + 15));
		if (r >= total) { /* 15 of 100: random names that do not exist */
			char n[128];
			snprintf(n, sizeof(n), "r%llu.example.com.",
				 (unsigned long long)(rnd() % 100000));
			qs[i].len = mkq(qs[i].wire, n, RR_A);
			continue;
		}
		for (size_t k = 0; k < sizeof(mix) / sizeof(mix[0]); k++) {
			if (r < mix[k].weight) {
				qs[i].len = mkq(qs[i].wire, mix[k].name, mix[k].type);
				break;
			}
			r -= mix[k].weight;
		}
	}
}

static double engine_qps(const struct p53_snapshot *s, const struct p53_fw *fw, struct q *qs,
			 double seconds)
{
	struct p53_answer_cfg cfg;
	p53_answer_cfg_default(&cfg);
	struct p53_ctx ctx;
	p53_ctx_init(&ctx, &cfg, 1);
	ctx.fw = fw;
	ctx.worker = 0;
	static uint8_t out[P53_MSG_MAX];
	struct p53_client cl = {.family = 4, .transport = P53_UDP};
	uint64_t n = 0;
	double t0 = now(), t;
	do {
		for (unsigned i = 0; i < NQ; i++)
			if (p53_answer(s, qs[i].wire, qs[i].len, &cl, &ctx, out, sizeof(out)) == 0)
				abort();
		n += NQ;
		t = now();
	} while (t - t0 < seconds);
	if (ctx.stats[P53_STAT_FW_BLOCK] != 0)
		fprintf(stderr, "warning: %llu blocked in the engine mix\n",
			(unsigned long long)ctx.stats[P53_STAT_FW_BLOCK]);
	return (double)n / (t - t0);
}

static int on_lit(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
		  void *arg)
{
	(void)id;
	(void)from;
	(void)to;
	(void)flags;
	++*(unsigned *)arg;
	return 1; /* a list needs only "is it listed" */
}

int main(int argc, char **argv)
{
	unsigned ndom = 1000000, npat = 100, hsdom = 0;
	double seconds = 2;
	const char *zdir = "tests/zones";
	static const struct option lo[] = {{"domains", required_argument, NULL, 'd'},
					   {"patterns", required_argument, NULL, 'p'},
					   {"hs-domains", required_argument, NULL, 'H'},
					   {"seconds", required_argument, NULL, 's'},
					   {"zones", required_argument, NULL, 'z'},
					   {0}};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			ndom = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			npat = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'H':
			hsdom = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			break;
		case 'z':
			zdir = optarg;
			break;
		default:
			fprintf(stderr, "usage: fw_bench [--domains N] [--patterns N] "
					"[--hs-domains N] [--seconds S] [--zones DIR]\n");
			return 2;
		}
	}
	if (hsdom == 0 || hsdom > ndom)
		hsdom = ndom;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "mkdir -p %s", dir);
	if (system(cmd) != 0)
		return 1;
	double t0 = now();
	write_inputs(ndom, npat);
	printf("inputs: %u domains (10%% \"*.\"), %u patterns, written in %.2f s\n", ndom, npat,
	       now() - t0);

	char rp[256];
	snprintf(rp, sizeof(rp), "%s/rules.json", dir);
	struct p53_err err = {0};
	uint8_t *img;
	size_t len;
	t0 = now();
	if (p53_fw_compile(rp, NULL, &img, &len, &err) != 0) {
		fprintf(stderr, "compile: %s\n", err.msg);
		return 1;
	}
	double tc = now() - t0;
	char fp[256];
	snprintf(fp, sizeof(fp), "%s/fw.p53fw", dir);
	FILE *f = fopen(fp, "w");
	fwrite(img, 1, len, f);
	fclose(f);
	free(img);
	t0 = now();
	struct p53_fw *fw = p53_fw_load(fp, 2, &err);
	double tl = now() - t0;
	if (fw == NULL) {
		fprintf(stderr, "load: %s\n", err.msg);
		return 1;
	}
	printf("list+patterns: compile %.2f s, file %.1f MB, load %.3f s (verify, hs "
	       "deserialise, 2 scratches)\n",
	       tc, (double)len / 1e6, tl);

	/* list only, for the split */
	snprintf(cmd, sizeof(cmd), "sed -i 's/,{\"name\": \"p0\".*]}]}/]}]}/' %s", rp);
	if (system(cmd) != 0)
		return 1;
	t0 = now();
	if (p53_fw_compile(rp, NULL, &img, &len, &err) != 0) {
		fprintf(stderr, "compile: %s\n", err.msg);
		return 1;
	}
	double tc2 = now() - t0;
	struct p53_fw *fwl = p53_fw_from_mem(img, len, 1, &err);
	free(img);
	printf("list only:     compile %.2f s, file %.1f MB\n", tc2, (double)len / 1e6);

	struct p53_snapshot *s = load_zones(zdir);
	if (s == NULL || fwl == NULL)
		return 1;
	static struct q qs[NQ];
	build_mix(qs);
	double off = engine_qps(s, NULL, qs, seconds);
	double onl = engine_qps(s, fwl, qs, seconds);
	double onp = engine_qps(s, fw, qs, seconds);
	double off2 = engine_qps(s, NULL, qs, seconds);
	off = off > off2 ? off : off2;
	printf("engine, 1 core: off %.2f Mqps | list %.2f Mqps (%+.1f%%) | list+patterns %.2f "
	       "Mqps (%+.1f%%)\n",
	       off / 1e6, onl / 1e6, (onl / off - 1) * 100, onp / 1e6, (onp / off - 1) * 100);

	/* hash-of-suffixes vs Hyperscan literals for a pure list */
	char **names = calloc(hsdom, sizeof(char *));
	const char **lits = calloc(hsdom, sizeof(char *));
	size_t *lens = calloc(hsdom, sizeof(size_t));
	unsigned *ids = calloc(hsdom, sizeof(unsigned)), *flags = calloc(hsdom, sizeof(unsigned));
	for (unsigned i = 0; i < hsdom; i++) {
		char n[256], l[260];
		gen_name(n, sizeof(n), i);
		int k = snprintf(l, sizeof(l), i % 10 == 0 ? ".%s\2" : "\1%s\2", n);
		names[i] = strdup(n);
		lits[i] = strdup(l);
		lens[i] = (size_t)k;
		ids[i] = 0;
		flags[i] = HS_FLAG_SINGLEMATCH;
	}
	hs_database_t *db = NULL;
	hs_compile_error_t *ce = NULL;
	t0 = now();
	hs_error_t he =
	    hs_compile_lit_multi(lits, flags, ids, lens, hsdom, HS_MODE_BLOCK, NULL, &db, &ce);
	double ths = now() - t0;
	if (he != HS_SUCCESS) {
		fprintf(stderr, "hyperscan literals: %s\n", ce ? ce->message : "?");
		return 1;
	}
	size_t dbsize = 0;
	hs_database_size(db, &dbsize);
	hs_scratch_t *scr = NULL;
	hs_alloc_scratch(db, &scr);
	/* Lookup set: half listed (a subdomain for "*." entries), half not. */
	enum { NL = 1 << 16 };
	static uint8_t lw[NL][P53_NAME_MAX];
	static size_t lwl[NL];
	static char lt[NL][260];
	static unsigned ltl[NL];
	for (unsigned i = 0; i < NL; i++) {
		char n[300];
		unsigned k = (unsigned)(rnd() % hsdom);
		if (i % 2)
			snprintf(n, sizeof(n), "%s%s", k % 10 == 0 ? "www." : "", names[k]);
		else
			snprintf(n, sizeof(n), "miss%u.%s", i, names[k]);
		int w = name_from_text(n, strlen(n), (const uint8_t *)"", lw[i], NULL);
		lwl[i] = (size_t)w;
		ltl[i] = (unsigned)snprintf(lt[i], sizeof(lt[i]), "\1%s\2", n);
	}
	struct p53_fw *fwh = fwl;
	unsigned hits = 0;
	uint64_t n = 0;
	t0 = now();
	double t;
	do {
		for (unsigned i = 0; i < NL; i++) {
			struct p53_fw_verdict v;
			hits += p53_fw_check(fwh, 0, lw[i], lwl[i], RR_A, &v) != P53_FW_NONE;
		}
		n += NL;
		t = now();
	} while (t - t0 < seconds);
	double hash_rate = (double)n / (t - t0), hash_hit_pct = 100.0 * hits / (double)n;
	hits = 0;
	n = 0;
	t0 = now();
	do {
		for (unsigned i = 0; i < NL; i++) {
			unsigned m = 0;
			hs_scan(db, lt[i], ltl[i], 0, scr, on_lit, &m);
			hits += m != 0;
		}
		n += NL;
		t = now();
	} while (t - t0 < seconds);
	double hs_rate = (double)n / (t - t0);
	printf("pure list of %u names (hash has all %u): hash-of-suffixes %.2f M lookups/s "
	       "(%.1f%% hits) | Hyperscan literals %.2f M scans/s (%.1f%% hits), compile %.1f s, "
	       "db %.1f MB\n",
	       hsdom, ndom, hash_rate / 1e6, hash_hit_pct, hs_rate / 1e6, 100.0 * hits / (double)n,
	       ths, (double)dbsize / 1e6);
	hs_free_scratch(scr);
	hs_free_database(db);
	p53_fw_free(fw);
	p53_fw_free(fwl);
	p53_snapshot_free(s);
	return 0;
}
