/* p53-bench-dnssec: what DNSSEC costs the answer engine, per core, in one
 * run (docs/dnssec.md). bench/dnssec.sh builds the inputs.
 *
 *   static DO=0 / DO=1   a static name (pre-rendered in both forms);
 *   policy DO=1 warm     a geolocation answer, four ECS subnets in turn: each
 *                        answer signed online, every signature from the
 *                        thread's cache after the first four;
 *   policy DO=0          the same queries without DO, the baseline;
 *   compact NX cold      DO=1 NXDOMAIN in a compact-denial zone for names
 *                        never asked before: every answer makes and signs
 *                        one NSEC (a cache miss each time);
 *   signatures/s         p53_osign_rrset on distinct RRsets (all misses), per
 *                        algorithm of the key directories given.
 * Rounds alternate the cases so that drift on a shared VM hits them alike;
 * each figure is the best round (preemption only adds time).
 *
 * usage: p53-bench-dnssec CHAIN.p53 KEYDIR COMPACT.p53 KEYDIR2 [ROUNDS]
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

static struct p53_osign *keys(const char *dir, const struct p53_snapshot *s)
{
	struct p53_err err = {0};
	struct p53_osign_cfg cfg = {0};
	struct p53_osign *o = osignload_build(dir, s, &cfg, 1, NULL, NULL, &err);
	if (o == NULL) {
		fprintf(stderr, "keys %s: %s\n", dir, err.code ? err.msg : "none usable");
		exit(1);
	}
	return o;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s CHAIN.p53 KEYDIR COMPACT.p53 KEYDIR2 [ROUNDS]\n",
			argv[0]);
		return 2;
	}
	unsigned rounds = argc > 5 ? (unsigned)atoi(argv[5]) : 5;
	struct p53_err err = {0};
	struct p53_snapshot *chain = p53_snapshot_load(argv[1], &err);
	struct p53_snapshot *compact = chain ? p53_snapshot_load(argv[3], &err) : NULL;
	if (compact == NULL) {
		fprintf(stderr, "load: %s\n", err.msg);
		return 1;
	}
	struct p53_osign *o1 = keys(argv[2], chain), *o2 = keys(argv[4], compact);
	struct p53_answer_cfg acfg;
	p53_answer_cfg_default(&acfg);
	struct p53_ctx c1, c2;
	p53_ctx_init(&c1, &acfg, 1);
	p53_ctx_init(&c2, &acfg, 2);
	c1.osign = o1;
	c2.osign = o2;

	static struct qset st0, st1, pol0, pol1, nx;
	static const uint8_t subnets[4][3] = {{10, 1, 2}, {10, 2, 2}, {10, 3, 2}, {10, 5, 2}};
	for (unsigned i = 0; i < N; i++) {
		st0.len[i] = mkq(st0.q[i], "simple.example.com.", RR_A, true, false, NULL);
		st1.len[i] = mkq(st1.q[i], "simple.example.com.", RR_A, true, true, NULL);
		pol0.len[i] = mkq(pol0.q[i], "geo.example.com.", RR_A, true, false, subnets[i % 4]);
		pol1.len[i] = mkq(pol1.q[i], "geo.example.com.", RR_A, true, true, subnets[i % 4]);
	}
	double best[6] = {0};
	unsigned nxi = 0;
	for (unsigned r = 0; r < rounds; r++) {
		/* Names never asked before, for the cold case. */
		for (unsigned i = 0; i < N; i++) {
			char nm[64];
			snprintf(nm, sizeof(nm), "n%u.nx.example.com.", nxi++);
			nx.len[i] = mkq(nx.q[i], nm, RR_A, true, true, NULL);
		}
		double v[5] = {run(chain, &c1, &st0, N), run(chain, &c1, &st1, N),
			       run(chain, &c1, &pol0, N), run(chain, &c1, &pol1, N),
			       run(compact, &c2, &nx, 2000)};
		for (unsigned k = 0; k < 5; k++)
			best[k] = v[k] > best[k] ? v[k] : best[k];
		/* Signatures per second: distinct RRsets, each a miss. */
		double sps = 0;
		for (unsigned pass = 0; pass < 2; pass++) {
			const struct p53_osign *o = pass ? o2 : o1;
			static const uint8_t owner[] = "\3www\7example\3com";
			double t0 = now_s();
			unsigned made = 0;
			for (unsigned i = 0; i < 2000; i++) {
				uint8_t a[4] = {198, (uint8_t)r, (uint8_t)(i >> 8), (uint8_t)i};
				struct p53_osign_rr rr = {a, 4};
				uint8_t out[512];
				size_t used = 0;
				made += p53_osign_rrset(o, 0, 0, owner, sizeof(owner), RR_A,
							60 + r * 2 + pass, &rr, 1, out, sizeof(out),
							&used);
			}
			double x = made / (now_s() - t0);
			if (pass == 0)
				sps = x;
			else
				best[5] = x > best[5] ? x : best[5];
		}
		static double best_sps1;
		best_sps1 = sps > best_sps1 ? sps : best_sps1;
		if (r + 1 == rounds) {
			printf("static DO=0            %10.0f answers/s\n", best[0]);
			printf("static DO=1            %10.0f answers/s  (%.2f x DO=0)\n", best[1],
			       best[1] / best[0]);
			printf("policy DO=0 (geo, ECS) %10.0f answers/s\n", best[2]);
			printf("policy DO=1 warm cache %10.0f answers/s  (%.2f x DO=0)\n", best[3],
			       best[3] / best[2]);
			printf("compact NX DO=1 cold   %10.0f answers/s  (one signature each)\n",
			       best[4]);
			const char *b2 = strrchr(argv[2], '/'), *b4 = strrchr(argv[4], '/');
			printf("signatures/s, keys %-8s %8.0f\n", b2 ? b2 + 1 : argv[2], best_sps1);
			printf("signatures/s, keys %-8s %8.0f\n", b4 ? b4 + 1 : argv[4], best[5]);
		}
	}
	uint64_t made, hits;
	p53_osign_counts(o1, &made, &hits);
	printf("chain zone: %llu signatures made, %llu cache hits\n", (unsigned long long)made,
	       (unsigned long long)hits);
	p53_osign_free(o1);
	p53_osign_free(o2);
	p53_snapshot_free(chain);
	p53_snapshot_free(compact);
	return 0;
}
