/* p53-bench-nsec3: what NSEC3 denial costs the answer engine beside NSEC,
 * per core, on the same zone signed both ways (bench/nsec3.sh builds them).
 *
 *   NX DO=0            NXDOMAIN without DNSSEC (the relocated apex blob);
 *   NX DO=1 NSEC       the NSEC covering the name and the wildcard's,
 *                      found by binary search over the zone's nodes;
 *   NX DO=1 NSEC3      the closest encloser's NSEC3 and its wildcard's
 *                      (found at compile time) and the NSEC3 covering the
 *                      next closer name: one SHA-1 per query plus one per
 *                      iteration, and a binary search over the owner hashes;
 *   NODATA DO=1        a name without the type (pre-rendered in both);
 *   hashes/s           p53_nsec3_hash alone on a 3-label name.
 * Each NX query asks a name never asked before. Rounds alternate the cases;
 * each figure is the best round.
 *
 * usage: p53-bench-nsec3 NSEC.p53 NSEC3.p53 NODATA-NAME [ROUNDS]
 */
#include "zones/answer/answer.h"
#include "zones/answer/nsec3hash.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 50000

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t mkq(uint8_t *q, const char *name, uint16_t type, bool dobit)
{
	uint8_t w[P53_NAME_MAX];
	int n = name_from_text(name, strlen(name), NULL, w, NULL);
	if (n < 0)
		abort();
	memset(q, 0, 12);
	q[0] = 0x12;
	q[5] = 1;
	q[11] = 1;
	memcpy(q + 12, w, (size_t)n);
	size_t p = 12 + (size_t)n;
	uint8_t tail[15] = {(uint8_t)(type >> 8),
			    (uint8_t)type,
			    0,
			    1,
			    0,
			    0,
			    41,
			    4,
			    0xd0,
			    0,
			    0,
			    (uint8_t)(dobit ? 0x80 : 0),
			    0,
			    0,
			    0};
	memcpy(q + p, tail, sizeof(tail));
	return p + sizeof(tail);
}

struct qset {
	uint8_t q[N][128];
	size_t len[N];
};

static double run(const struct p53_snapshot *s, struct p53_ctx *ctx, const struct qset *qs)
{
	static uint8_t r[4096];
	size_t sink = 0;
	double t0 = now_s();
	for (unsigned i = 0; i < N; i++)
		sink += p53_answer(s, qs->q[i], qs->len[i], NULL, ctx, r, sizeof(r));
	double t = now_s() - t0;
	if (sink == 0)
		fprintf(stderr, "no answers\n");
	return N / t;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s NSEC.p53 NSEC3.p53 NODATA-NAME [ROUNDS]\n", argv[0]);
		return 2;
	}
	unsigned rounds = argc > 4 ? (unsigned)atoi(argv[4]) : 5;
	struct p53_err err = {0};
	struct p53_snapshot *s1 = p53_snapshot_load(argv[1], &err);
	struct p53_snapshot *s3 = s1 ? p53_snapshot_load(argv[2], &err) : NULL;
	if (s3 == NULL) {
		fprintf(stderr, "load: %s\n", err.msg);
		return 1;
	}
	struct p53_answer_cfg acfg;
	p53_answer_cfg_default(&acfg);
	struct p53_ctx ctx;
	p53_ctx_init(&ctx, &acfg, 1);
	static struct qset nx0, nx1, nd1;
	for (unsigned i = 0; i < N; i++)
		nd1.len[i] = mkq(nd1.q[i], argv[3], RR_TXT, true);
	double best[6] = {0};
	unsigned serial = 0;
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned i = 0; i < N; i++) {
			char nm[64];
			snprintf(nm, sizeof(nm), "nx%u.example.", serial++);
			nx0.len[i] = mkq(nx0.q[i], nm, RR_A, false);
			nx1.len[i] = mkq(nx1.q[i], nm, RR_A, true);
		}
		double v[5] = {run(s1, &ctx, &nx0), run(s1, &ctx, &nx1), run(s3, &ctx, &nx1),
			       run(s1, &ctx, &nd1), run(s3, &ctx, &nd1)};
		static const uint8_t name[] = "\3www\7example\3com";
		uint8_t h[P53_NSEC3_HASH_LEN] = {0};
		double t0 = now_s();
		for (unsigned i = 0; i < N; i++) /* each hash feeds the next */
			p53_nsec3_hash(name, sizeof(name), h, (size_t)(i & 1), 0, h);
		double hs = N / (now_s() - t0);
		for (unsigned k = 0; k < 5; k++)
			best[k] = v[k] > best[k] ? v[k] : best[k];
		best[5] = hs > best[5] ? hs : best[5];
	}
	printf("NX DO=0                %10.0f answers/s\n", best[0]);
	printf("NX DO=1 NSEC           %10.0f answers/s\n", best[1]);
	printf("NX DO=1 NSEC3          %10.0f answers/s  (%.2f x NSEC)\n", best[2],
	       best[2] / best[1]);
	printf("NODATA DO=1 NSEC       %10.0f answers/s\n", best[3]);
	printf("NODATA DO=1 NSEC3      %10.0f answers/s  (%.2f x NSEC)\n", best[4],
	       best[4] / best[3]);
	printf("NSEC3 hashes/s         %10.0f  (0 iterations)\n", best[5]);
	p53_snapshot_free(s1);
	p53_snapshot_free(s3);
	return 0;
}
