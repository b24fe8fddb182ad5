/* p53-bench-dnssec: what DNSSEC costs the answer engine, per core, in one
 * run (docs/dnssec.md). bench/dnssec.sh builds the inputs.
 *
 *   static DO=0 / DO=1   a static name (pre-rendered in both forms);
 *   policy DO=1 warm     a geolocation answer, four ECS subnets in turn: each
 *                        answer signed online, every signature from the
 *                        thread's cache after the first four;
 *   policy DO=1 cold     the same queries with the thread's signature cache
 *                        emptied before each: every answer is signed anew;
 *   policy DO=0          the same queries without DO, the baseline;
 *   compact NX cold      DO=1 NXDOMAIN in a compact-denial zone for names
 *                        never asked before: every answer makes and signs
 *                        one NSEC (a cache miss each time);
 *   signatures/s         p53_osign_rrset on distinct RRsets (all misses), for
 *                        each snapshot and key directory given, labelled
 *                        with the algorithm of the signatures made.
 * Rounds alternate the cases so that drift on a shared VM hits them alike;
 * each figure is the best round (preemption only adds time). Output: one
 * tab-separated line per case (case, per second, ratio or -).
 *
 * usage: p53-bench-dnssec CHAIN.p53 KEYDIR COMPACT.p53 KEYDIR2 [ROUNDS [SNAP KEYDIR]...]
 */
#include "ctrl/snap/osignload.h"
#include "zones/answer/answer.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 20000

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A query for name/type, DO and an optional IPv4 ECS /24. */
static size_t mkq(uint8_t *q, const char *name, uint16_t type, bool edns, bool dobit,
		  const uint8_t *ecs)
{
	uint8_t w[P53_NAME_MAX];
	int n = name_from_text(name, strlen(name), NULL, w, NULL);
	if (n < 0)
		abort();
	memset(q, 0, 12);
	q[0] = 0x12;
	q[5] = 1;
	memcpy(q + 12, w, (size_t)n);
	size_t p = 12 + (size_t)n;
	q[p++] = (uint8_t)(type >> 8);
	q[p++] = (uint8_t)type;
	q[p++] = 0;
	q[p++] = 1;
	if (!edns)
		return p;
	q[11] = 1;
	uint8_t opt[11] = {0, 0, 41, 4, 0xd0, 0, 0, (uint8_t)(dobit ? 0x80 : 0), 0, 0, 0};
	memcpy(q + p, opt, 11);
	p += 11;
	if (ecs) {
		uint8_t o[11] = {0, 8, 0, 7, 0, 1, 24, 0, ecs[0], ecs[1], ecs[2]};
		q[p - 1] = 11;
		memcpy(q + p, o, 11);
		p += 11;
	}
	return p;
}

struct qset {
	uint8_t q[N][128];
	size_t len[N];
};

static double run(const struct p53_snapshot *s, struct p53_ctx *ctx, const struct qset *qs,
		  unsigned n)
{
	static uint8_t r[4096];
	double t0 = now_s();
	size_t sink = 0;
	for (unsigned i = 0; i < n; i++)
		sink += p53_answer(s, qs->q[i], qs->len[i], NULL, ctx, r, sizeof(r));
	double t = now_s() - t0;
	if (sink == 0)
		fprintf(stderr, "no answers\n");
	return n / t;
}

static struct p53_osign *keys(const char *dir, const struct p53_snapshot *s, uint32_t cache)
{
	struct p53_err err = {0};
	struct p53_osign_cfg cfg = {.cache = cache};
	struct p53_osign *o = osignload_build(dir, s, &cfg, 1, NULL, NULL, &err);
	if (o == NULL) {
		fprintf(stderr, "keys %s: %s\n", dir, err.code ? err.msg : "none usable");
		exit(1);
	}
	return o;
}

/* Answers with the signature cache emptied before each query. */
static double run_cold(const struct p53_snapshot *s, struct p53_ctx *ctx, struct p53_osign *o,
		       const struct qset *qs, unsigned n)
{
	static uint8_t r[4096];
	double t0 = now_s();
	size_t sink = 0;
	for (unsigned i = 0; i < n; i++) {
		p53_osign_cache_clear(o, 0);
		sink += p53_answer(s, qs->q[i], qs->len[i], NULL, ctx, r, sizeof(r));
	}
	double t = now_s() - t0;
	if (sink == 0)
		fprintf(stderr, "no answers\n");
	return n / t;
}

/* Signatures per second with o's keys over distinct RRsets (all misses);
 * *alg gets the algorithm of the RRSIGs made. */
static double sigrate(const struct p53_osign *o, unsigned round, unsigned n, unsigned *alg)
{
	static const uint8_t owner[] = "\3www\7example\3com";
	double t0 = now_s();
	unsigned made = 0;
	for (unsigned i = 0; i < n; i++) {
		uint8_t a[4] = {198, (uint8_t)round, (uint8_t)(i >> 8), (uint8_t)i};
		struct p53_osign_rr rr = {a, 4};
		uint8_t out[1200];
		size_t used = 0;
		unsigned m = p53_osign_rrset(o, 0, 0, owner, sizeof(owner), RR_A, 60 + round, &rr,
					     1, out, sizeof(out), &used);
		if (m && used > 6)
			*alg = out[4];
		made += m;
	}
	return made / (now_s() - t0);
}

#define SIGSETS_MAX 8

int main(int argc, char **argv)
{
	if (argc < 5 || (argc > 6 && (argc - 6) % 2 != 0)) {
		fprintf(
		    stderr,
		    "usage: %s CHAIN.p53 KEYDIR COMPACT.p53 KEYDIR2 [ROUNDS [SNAP KEYDIR]...]\n",
		    argv[0]);
		return 2;
	}
	unsigned rounds = argc > 5 ? (unsigned)atoi(argv[5]) : 5;
	if (rounds == 0)
		rounds = 1;
	struct p53_err err = {0};
	struct p53_snapshot *chain = p53_snapshot_load(argv[1], &err);
	struct p53_snapshot *compact = chain ? p53_snapshot_load(argv[3], &err) : NULL;
	if (compact == NULL) {
		fprintf(stderr, "load: %s\n", err.msg);
		return 1;
	}
	struct p53_osign *o1 = keys(argv[2], chain, 0), *o2 = keys(argv[4], compact, 0);
	/* A small cache for the cold case, so emptying it costs little. */
	struct p53_osign *o1c = keys(argv[2], chain, 64);
	struct p53_snapshot *xs[SIGSETS_MAX] = {chain, compact};
	const struct p53_osign *xo[SIGSETS_MAX] = {o1, o2};
	unsigned nx_sets = 2;
	for (int a = 6; a + 1 < argc && nx_sets < SIGSETS_MAX; a += 2) {
		xs[nx_sets] = p53_snapshot_load(argv[a], &err);
		if (xs[nx_sets] == NULL) {
			fprintf(stderr, "load %s: %s\n", argv[a], err.msg);
			return 1;
		}
		xo[nx_sets] = keys(argv[a + 1], xs[nx_sets], 0);
		nx_sets++;
	}
	struct p53_answer_cfg acfg;
	p53_answer_cfg_default(&acfg);
	struct p53_ctx c1, c2, c1c;
	p53_ctx_init(&c1, &acfg, 1);
	p53_ctx_init(&c2, &acfg, 2);
	p53_ctx_init(&c1c, &acfg, 3);
	c1.osign = o1;
	c2.osign = o2;
	c1c.osign = o1c;

	static struct qset st0, st1, pol0, pol1, nx;
	static const uint8_t subnets[4][3] = {{10, 1, 2}, {10, 2, 2}, {10, 3, 2}, {10, 5, 2}};
	for (unsigned i = 0; i < N; i++) {
		st0.len[i] = mkq(st0.q[i], "simple.example.com.", RR_A, true, false, NULL);
		st1.len[i] = mkq(st1.q[i], "simple.example.com.", RR_A, true, true, NULL);
		pol0.len[i] = mkq(pol0.q[i], "geo.example.com.", RR_A, true, false, subnets[i % 4]);
		pol1.len[i] = mkq(pol1.q[i], "geo.example.com.", RR_A, true, true, subnets[i % 4]);
	}
	double best[6] = {0}, sps[SIGSETS_MAX] = {0};
	unsigned algs[SIGSETS_MAX] = {0};
	unsigned nxi = 0;
	for (unsigned r = 0; r < rounds; r++) {
		/* Names never asked before, for the cold case. */
		for (unsigned i = 0; i < N; i++) {
			char nm[64];
			snprintf(nm, sizeof(nm), "n%u.nx.example.com.", nxi++);
			nx.len[i] = mkq(nx.q[i], nm, RR_A, true, true, NULL);
		}
		double v[6] = {run(chain, &c1, &st0, N),
			       run(chain, &c1, &st1, N),
			       run(chain, &c1, &pol0, N),
			       run(chain, &c1, &pol1, N),
			       run_cold(chain, &c1c, o1c, &pol1, 1000),
			       run(compact, &c2, &nx, 1000)};
		for (unsigned k = 0; k < 6; k++)
			best[k] = v[k] > best[k] ? v[k] : best[k];
		for (unsigned k = 0; k < nx_sets; k++) {
			double x = sigrate(xo[k], r * SIGSETS_MAX + k, 1000, &algs[k]);
			sps[k] = x > sps[k] ? x : sps[k];
		}
	}
	printf("static_do0\t%.0f\t-\n", best[0]);
	printf("static_do1\t%.0f\t%.3f\n", best[1], best[1] / best[0]);
	printf("policy_do0\t%.0f\t-\n", best[2]);
	printf("policy_do1_warm\t%.0f\t%.3f\n", best[3], best[3] / best[2]);
	printf("policy_do1_cold\t%.0f\t%.3f\n", best[4], best[4] / best[2]);
	printf("compact_nx_do1_cold\t%.0f\t-\n", best[5]);
	for (unsigned k = 0; k < nx_sets; k++)
		printf("signatures_alg%u\t%.0f\t-\n", algs[k], sps[k]);
	uint64_t made, hits;
	p53_osign_counts(o1, &made, &hits);
	fprintf(stderr, "chain zone: %llu signatures made, %llu cache hits\n",
		(unsigned long long)made, (unsigned long long)hits);
	for (unsigned k = 2; k < nx_sets; k++) {
		p53_osign_free((struct p53_osign *)xo[k]);
		p53_snapshot_free(xs[k]);
	}
	p53_osign_free(o1);
	p53_osign_free(o1c);
	p53_osign_free(o2);
	p53_snapshot_free(chain);
	p53_snapshot_free(compact);
	return 0;
}
