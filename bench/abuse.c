/* p53-bench-abuse: what response rate limiting and DNS Cookies cost on
 * normal traffic, measured in one run against the engine alone.
 *
 * A capture (p53-querygen) is answered in passes, each configuration in turn
 * on every chunk of 256 queries, so that drift on a noisy VM hits them alike:
 *   engine    p53_answer only;
 *   rrl       p53_answer, then p53_abuse_apply with the default rate limiter;
 *   cookies   the same queries each carrying a valid server cookie (RFC 9018),
 *             with cookies on: the server verifies it and makes a fresh one
 *             (two SipHash-2-4 runs), and the client is exempt from RRL.
 * "Normal traffic" means no client is over the limit: the limiter's clock is
 * simulated at --sim-qps queries per second across the capture's clients, and
 * the share of limited answers is printed (it should be 0).
 *
 * The same two, engine and rrl, are also timed on the data-plane path, in
 * the same run and interleaved with the rest:
 *   dp        each whole frame copied into a packet buffer (standing in for
 *             the NIC's DMA), then what a port53d worker does with a burst
 *             (dp/worker.c): dp_classify, p53_answer in place, then
 *             dp_reply_dns; no mbufs and no PMD, so a real port's rx/tx
 *             costs come on top of this figure;
 *   dp+rrl    the same with the abuse controls between answer and reply, the
 *             buckets located as each answer is made, as the worker does.
 * Reported: the sum over chunks of each chunk's fastest time (preemption on a
 * shared VM only adds time), and the median pass, each with its ratio to
 * engine (dp+rrl: to dp).
 */
#include "bench/shim.h"
#include "dp/pkt.h"
#include "pcap/frame.h"
#include "pcap/pcapio.h"
#include "zones/answer/abuse.h"

#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PASSES 4000
#define COOKIE_T   1700000000u /* the simulated wall clock for cookies */
#define CHUNK	   256	       /* queries per configuration in turn */

struct query {
	const uint8_t *frame; /* the whole frame, for the dp path */
	uint16_t frame_len;
	const uint8_t *msg;
	uint16_t len;
	const uint8_t *cmsg; /* the same with a COOKIE option, or msg */
	uint16_t clen;
	struct p53_client client;
};

static struct query *qs;
static size_t nq;
#define BURST 32
/* Room for a UDP answer (our EDNS size, 1232, and a cookie) per query. */
static uint8_t rbuf[BURST][2048];
static struct dp_pkt pkt[BURST];
static struct dp_svc svc;
static size_t rlen[BURST];
static struct p53_answer_info info[BURST];
static struct p53_rrl_slot slot[BURST];
static struct p53_client clients[BURST];
static size_t rroom[BURST];
static bool no_prefetch, locate_late;

static volatile size_t sink;
static double ms_per_query;
/* The fastest time of each chunk under each configuration over all passes:
 * preemption by other work on a shared VM only ever adds time, so the sum
 * of the minima is the least noisy figure. */
static uint64_t *chunk_min;

enum conf { C_ENGINE, C_RRL, C_COOKIES, C_DP, C_DP_RRL, C__COUNT };
static const char *const conf_names[C__COUNT] = {"engine", "rrl", "cookies", "dp", "dp+rrl"};
/* What each configuration's ratio is taken against. */
static const enum conf conf_base[C__COUNT] = {C_ENGINE, C_ENGINE, C_ENGINE, C_DP, C_DP};
/* Configurations run (--only): all by default. */
static bool conf_on[C__COUNT] = {true, true, true, true, true};

struct setup {
	struct bsh_engine *eng;
	struct p53_abuse ab;
	uint64_t pass; /* passes done: the simulated clock runs on */
};

/* Answers queries [b, e) as configuration c, in bursts of BURST as a
 * port53d worker does: each answer's rate-limit key is located (hashed, its
 * sieve counter prefetched) as the answer is made, so the counter loads
 * while the rest of the burst is answered; then the abuse controls run on
 * each answer, with the clock read once per burst. Returns the
 * nanoseconds. */
static inline __attribute__((always_inline)) uint64_t
run_chunk_body(struct setup *st, enum conf c, size_t b, size_t e, bool nopf, bool late)
{
	const struct p53_snapshot *s = bsh_snapshot(st->eng);
	struct p53_ctx *ctx = bsh_ctx(st->eng);
	size_t total = 0;
	double t0 = (double)st->pass * (double)nq * ms_per_query;
	bool ck = c == C_COOKIES;
	bool locate = c != C_ENGINE && !nopf;
	ctx->cookies = ck;
	uint64_t start = bsh_now_ns();
	for (size_t i0 = b; i0 < e; i0 += BURST) {
		size_t n = e - i0 < BURST ? e - i0 : BURST;
		for (size_t j = 0; j < n; j++) {
			const struct query *q = &qs[i0 + j];
			rlen[j] = p53_answer(s, ck ? q->cmsg : q->msg, ck ? q->clen : q->len,
					     &q->client, ctx, rbuf[j], sizeof(rbuf[j]));
			info[j] = ctx->last;
			if (locate && !late)
				p53_abuse_locate(&st->ab, &info[j], q->client.family,
						 q->client.addr, &slot[j]);
		}
		if (locate && late)
			for (size_t j = 0; j < n; j++)
				p53_abuse_locate(&st->ab, &info[j], qs[i0 + j].client.family,
						 qs[i0 + j].client.addr, &slot[j]);
		uint32_t now_ms = (uint32_t)(t0 + (double)i0 * ms_per_query);
		for (size_t j = 0; j < n; j++) {
			if (c != C_ENGINE && rlen[j])
				rlen[j] = p53_abuse_apply(
				    &st->ab, &info[j], &qs[i0 + j].client, locate ? &slot[j] : NULL,
				    rbuf[j], rlen[j], sizeof(rbuf[j]), now_ms, COOKIE_T);
			total += rlen[j];
		}
	}
	sink = total;
	return bsh_now_ns() - start;
}

/* Each configuration and option gets its own copy of the loop, so the
 * figures hold no test of the benchmark's own flags per query (the worker
 * has none). */
static uint64_t run_chunk(struct setup *st, enum conf c, size_t b, size_t e)
{
	if (c == C_ENGINE)
		return run_chunk_body(st, C_ENGINE, b, e, false, false);
	if (no_prefetch)
		return run_chunk_body(st, c, b, e, true, false);
	if (locate_late)
		return run_chunk_body(st, c, b, e, false, true);
	if (c == C_RRL)
		return run_chunk_body(st, C_RRL, b, e, false, false);
	return run_chunk_body(st, C_COOKIES, b, e, false, false);
}

/* Queries [b, e) as a port53d worker answers a burst of frames: each frame
 * copied in (the NIC's DMA), classified, answered in place and its bucket
 * located; then, with the clock read once, the abuse controls (dp+rrl) and
 * the reply headers. Returns the nanoseconds. */
static inline __attribute__((always_inline)) uint64_t
run_chunk_dp_body(struct setup *st, enum conf c, size_t b, size_t e, bool nopf, bool late)
{
	const struct p53_snapshot *s = bsh_snapshot(st->eng);
	struct p53_ctx *ctx = bsh_ctx(st->eng);
	size_t total = 0;
	double t0 = (double)st->pass * (double)nq * ms_per_query;
	bool rrl = c == C_DP_RRL;
	bool locate = rrl && !nopf;
	ctx->cookies = false;
	uint64_t start = bsh_now_ns();
	for (size_t i0 = b; i0 < e; i0 += BURST) {
		size_t n = e - i0 < BURST ? e - i0 : BURST;
		for (size_t j = 0; j < n; j++) {
			const struct query *q = &qs[i0 + j];
			uint8_t *f = rbuf[j];
			rlen[j] = 0;
			memcpy(f, q->frame, q->frame_len);
			struct dp_pkt *p = &pkt[j];
			if (dp_classify(&svc, f, q->frame_len, 0, p) != DP_ACT_DNS)
				continue;
			struct p53_client *cl = &clients[j];
			*cl = (struct p53_client){
			    .family = p->family, .transport = P53_UDP, .port = p->sport};
			memcpy(cl->addr, f + p->l3_off + (p->family == 4 ? 12 : 8),
			       p->family == 4 ? 4 : 16);
			size_t room = dp_dns_room(&svc, p, sizeof(rbuf[j]));
			uint8_t *dns = f + p->pl_off;
			rlen[j] = p53_answer(s, dns, p->pl_len, cl, ctx, dns, room);
			rroom[j] = room;
			info[j] = ctx->last;
			if (locate && !late)
				p53_abuse_locate(&st->ab, &info[j], cl->family, cl->addr, &slot[j]);
		}
		if (locate && late)
			for (size_t j = 0; j < n; j++)
				if (rlen[j])
					p53_abuse_locate(&st->ab, &info[j], clients[j].family,
							 clients[j].addr, &slot[j]);
		uint32_t now_ms = (uint32_t)(t0 + (double)i0 * ms_per_query);
		for (size_t j = 0; j < n; j++) {
			if (rlen[j] == 0)
				continue;
			uint8_t *f = rbuf[j];
			size_t len = rlen[j];
			if (rrl)
				len = p53_abuse_apply(&st->ab, &info[j], &clients[j],
						      locate ? &slot[j] : NULL, f + pkt[j].pl_off,
						      len, rroom[j], now_ms, COOKIE_T);
			total += len ? dp_reply_dns(&svc, f, &pkt[j], len, 0) : 0;
		}
	}
	sink = total;
	return bsh_now_ns() - start;
}

static uint64_t run_chunk_dp(struct setup *st, enum conf c, size_t b, size_t e)
{
	if (c == C_DP)
		return run_chunk_dp_body(st, C_DP, b, e, false, false);
	if (no_prefetch)
		return run_chunk_dp_body(st, C_DP_RRL, b, e, true, false);
	if (locate_late)
		return run_chunk_dp_body(st, C_DP_RRL, b, e, false, true);
	return run_chunk_dp_body(st, C_DP_RRL, b, e, false, false);
}

/* One pass over the capture for every configuration, interleaved chunk by
 * chunk, so that a noisy neighbour slows all three alike; the order within
 * a chunk rotates from pass to pass, so none always runs on the cache the
 * one before warmed. */
static void one_round(struct setup *st, uint64_t out[C__COUNT])
{
	for (int k = 0; k < C__COUNT; k++)
		out[k] = 0;
	for (size_t b = 0, ci = 0; b < nq; b += CHUNK, ci++) {
		size_t e = b + CHUNK < nq ? b + CHUNK : nq;
		for (int j = 0; j < C__COUNT; j++) {
			int k = (int)((st->pass + (uint64_t)j) % C__COUNT);
			if (!conf_on[k])
				continue;
			uint64_t t = k >= C_DP ? run_chunk_dp(st, (enum conf)k, b, e)
					       : run_chunk(st, (enum conf)k, b, e);
			out[k] += t;
			if (st->pass == 0 || t < chunk_min[ci * C__COUNT + (size_t)k])
				chunk_min[ci * C__COUNT + (size_t)k] = t;
		}
	}
	st->pass++;
}

/* Appends a COOKIE option (client cookie + our server cookie for the
 * query's client) to a query whose last record is an OPT. */
static size_t with_cookie(const struct query *q, const uint8_t secret[16], uint8_t *out)
{
	const uint8_t *m = q->msg;
	size_t n = q->len;
	if (n < 12 + 11 || m[10] != 0 || m[11] != 1 || m[n - 11] != 0 || m[n - 10] != 0 ||
	    m[n - 9] != 41 || m[n - 2] != 0 || m[n - 1] != 0)
		return 0;
	memcpy(out, m, n);
	out[n - 1] = P53_COOKIE_REPLY_OPT_LEN;
	uint8_t *o = out + n;
	o[0] = 0;
	o[1] = P53_COOKIE_OPT;
	o[2] = 0;
	o[3] = 24;
	for (int i = 0; i < 8; i++)
		o[4 + i] = (uint8_t)(q->client.addr[i % 4] * 31 + i);
	p53_cookie_make(secret, o + 4, q->client.addr, q->client.family == 4 ? 4 : 16, COOKIE_T,
			o + 12);
	return n + P53_COOKIE_REPLY_OPT_LEN;
}

static void usage(FILE *f)
{
	fputs("usage: p53-bench-abuse -s SNAPSHOT -r QUERIES.pcap [--seconds S] [--sim-qps N]\n"
	      "                       [--cpu N] [--json]\n"
	      "  --seconds S   time per configuration (default 3)\n"
	      "  --sim-qps N   the traffic rate the rate limiter sees (default 10000)\n"
	      "  --rrl-table-size N  buckets (default: the servers' default)\n"
	      "  --per-client  buckets per client address (/32, /128), not per /24 and\n"
	      "                /56: the capture's 65,536 clients sit in 256 /24s and one\n"
	      "                /56, which at a --sim-qps near the machine's real rate would\n"
	      "                be floods; the work per answer is the same\n"
	      "  --no-prefetch  locate each bucket only when RRL is applied, not as the\n"
	      "                 answer is made\n"
	      "  --locate-late  locate (hash and prefetch) the whole burst's buckets after\n"
	      "                 answering it, back to back, instead of one per answer\n"
	      "  --only LIST    run only these configurations (engine,rrl,cookies,dp,dp+rrl),\n"
	      "                 e.g. one at a time under valgrind to count instructions\n"
	      "  --passes N     exactly N timed passes (after one warm-up), not --seconds\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"seconds", required_argument, NULL, 't'},
					   {"sim-qps", required_argument, NULL, 'q'},
					   {"cpu", required_argument, NULL, 'c'},
					   {"rrl-table-size", required_argument, NULL, 'T'},
					   {"per-client", no_argument, NULL, 'C'},
					   {"no-prefetch", no_argument, NULL, 'N'},
					   {"locate-late", no_argument, NULL, 'L'},
					   {"json", no_argument, NULL, 'j'},
					   {"only", required_argument, NULL, 'O'},
					   {"passes", required_argument, NULL, 'P'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	const char *snap = NULL, *pcap = NULL;
	double secs = 3, sim_qps = 10000;
	int cpu = -1, c;
	long table = -1, passes = 0;
	bool json = false, per_client = false;
	while ((c = getopt_long(argc, argv, "s:r:h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			snap = optarg;
			break;
		case 'r':
			pcap = optarg;
			break;
		case 't':
			secs = atof(optarg);
			break;
		case 'q':
			sim_qps = atof(optarg);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'T':
			table = atol(optarg);
			break;
		case 'C':
			per_client = true;
			break;
		case 'N':
			no_prefetch = true;
			break;
		case 'L':
			locate_late = true;
			break;
		case 'j':
			json = true;
			break;
		case 'O':
			for (int k = 0; k < C__COUNT; k++)
				conf_on[k] = false;
			for (char *tok = strtok(optarg, ","); tok; tok = strtok(NULL, ",")) {
				int k = 0;
				while (k < C__COUNT && strcmp(tok, conf_names[k]) != 0)
					k++;
				if (k == C__COUNT) {
					fprintf(stderr,
						"p53-bench-abuse: --only: no configuration %s\n",
						tok);
					return 2;
				}
				conf_on[k] = true;
			}
			break;
		case 'P':
			passes = atol(optarg);
			if (passes < 1 || passes > MAX_PASSES) {
				fprintf(stderr, "p53-bench-abuse: --passes: 1 to %d\n", MAX_PASSES);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!snap || !pcap || sim_qps <= 0) {
		usage(stderr);
		return 2;
	}
	ms_per_query = 1000.0 / sim_qps;
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	struct setup st = {0};
	if ((st.eng = bsh_engine_load(snap)) == NULL) {
		fprintf(stderr, "p53-bench-abuse: %s\n", bsh_error());
		return 1;
	}
	struct p53_pcap cap;
	char err[512];
	if (p53_pcap_load(pcap, 0, &cap, err, sizeof(err)) != 0) {
		fprintf(stderr, "p53-bench-abuse: %s\n", err);
		return 1;
	}
	qs = calloc(cap.n ? cap.n : 1, sizeof(*qs));
	uint8_t *cbuf = malloc(cap.n * 600 + 1);
	struct p53_cookie_secret sec = {.cur = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}};
	p53_cookie_live live;
	atomic_init(&live, &sec);
	if (!qs || !cbuf)
		return 1;
	size_t ncookie = 0, coff = 0;
	for (size_t i = 0; i < cap.n; i++) {
		struct p53_udp_view v;
		const uint8_t *f = cap.data + cap.pkts[i].off;
		if (cap.pkts[i].len > 1024 ||
		    !p53_udp_parse(f, cap.pkts[i].len, cap.linktype, &v) || v.pl_len > 512)
			continue;
		struct query *q = &qs[nq++];
		q->frame = f;
		q->frame_len = (uint16_t)cap.pkts[i].len;
		q->msg = f + v.pl_off;
		q->len = (uint16_t)v.pl_len;
		q->client.family = v.family;
		q->client.transport = P53_UDP;
		q->client.port = v.sport;
		memcpy(q->client.addr, v.src, 16);
		size_t cl = with_cookie(q, sec.cur, cbuf + coff);
		q->cmsg = cl ? cbuf + coff : q->msg;
		q->clen = cl ? (uint16_t)cl : q->len;
		coff += cl;
		ncookie += cl != 0;
	}
	if (nq == 0) {
		fprintf(stderr, "p53-bench-abuse: no UDP queries in %s\n", pcap);
		return 1;
	}
	if (cap.linktype != P53_LINKTYPE_ETHERNET) {
		fprintf(stderr, "p53-bench-abuse: the dp path needs an Ethernet capture\n");
		return 1;
	}
	/* The service address and MAC p53-querygen's frames are sent to. */
	dp_svc_init(&svc);
	memcpy(svc.mac, (const uint8_t[]){0x02, 0x53, 0x00, 0x00, 0x00, 0x01}, 6);
	if (dp_svc_add_addr(&svc, "192.0.2.53") != 0 || dp_svc_add_addr(&svc, "2001:db8::53") != 0)
		return 1;
	/* The dp path must see every query as DNS for this service, or it
	 * would time less work than the engine path. */
	size_t dns_frames = 0;
	for (size_t i = 0; i < nq; i++) {
		struct dp_pkt p;
		memcpy(rbuf[0], qs[i].frame, qs[i].frame_len);
		dns_frames += dp_classify(&svc, rbuf[0], qs[i].frame_len, 0, &p) == DP_ACT_DNS;
	}
	if (dns_frames != nq) {
		fprintf(stderr,
			"p53-bench-abuse: dp path: %zu of %zu frames are DNS queries to "
			"192.0.2.53 / 2001:db8::53 (a p53-querygen capture?)\n",
			dns_frames, nq);
		return 1;
	}
	struct p53_abuse_cfg acfg;
	p53_abuse_cfg_default(&acfg);
	if (table > 0)
		acfg.rrl.table_size = (uint32_t)table;
	if (per_client) {
		acfg.rrl.v4_prefix = 32;
		acfg.rrl.v6_prefix = 128;
	}
	uint8_t seed[16] = {7};
	if (p53_abuse_init(&st.ab, &acfg, &live, seed) != 0) {
		fprintf(stderr, "p53-bench-abuse: out of memory\n");
		return 1;
	}
	chunk_min = calloc((nq + CHUNK - 1) / CHUNK * C__COUNT, sizeof(*chunk_min));
	if (chunk_min == NULL)
		return 1;
	static uint64_t ns[C__COUNT][MAX_PASSES];
	size_t np = 0;
	uint64_t warm[C__COUNT];
	one_round(&st, warm);
	memset(st.ab.stats, 0, sizeof(st.ab.stats));
	uint64_t t_end = bsh_now_ns() + (uint64_t)(secs * C__COUNT * 1e9);
	do {
		uint64_t r[C__COUNT];
		one_round(&st, r);
		for (int k = 0; k < C__COUNT; k++)
			ns[k][np] = r[k];
		np++;
	} while (passes ? np < (size_t)passes
			: np < MAX_PASSES && (np < 5 || bsh_now_ns() < t_end));
	uint64_t limited = st.ab.stats[P53_AB_RRL_DROPPED] + st.ab.stats[P53_AB_RRL_SLIPPED] +
			   st.ab.stats[P53_AB_RRL_BADCOOKIE];
	fprintf(stderr,
		"p53-bench-abuse: %zu queries (%zu with a cookie), %zu passes each; limited "
		"%.4f%% of rrl answers at %.0f simulated q/s; cookies valid %llu\n",
		nq, ncookie, np, 100.0 * (double)limited / ((double)np * (double)nq), sim_qps,
		(unsigned long long)st.ab.stats[P53_AB_COOKIE_VALID]);
	double med[C__COUNT], best[C__COUNT];
	for (int k = 0; k < C__COUNT; k++) {
		qsort(ns[k], np, sizeof(ns[k][0]), bsh_cmp_u64);
		med[k] = (double)ns[k][np / 2] / (double)nq;
		uint64_t sum = 0;
		for (size_t ci = 0; ci < (nq + CHUNK - 1) / CHUNK; ci++)
			sum += chunk_min[ci * C__COUNT + (size_t)k];
		best[k] = (double)sum / (double)nq;
	}
	for (int k = 0; k < C__COUNT; k++) {
		if (!conf_on[k])
			continue;
		/* Without its baseline in the run, a configuration's ratio is
		 * printed as 1 (0%). */
		double bb = conf_on[conf_base[k]] ? best[conf_base[k]] : best[k];
		double bm = conf_on[conf_base[k]] ? med[conf_base[k]] : med[k];
		if (json)
			printf("{\"config\":\"%s\",\"ns_per_query_min\":%.2f,\"ratio_min\":%.4f,"
			       "\"ns_per_query_median\":%.2f,\"ratio_median\":%.4f,"
			       "\"passes\":%zu,\"queries\":%zu}\n",
			       conf_names[k], best[k], best[k] / bb, med[k], med[k] / bm, np, nq);
		else
			printf("%-8s %7.1f ns/q %+6.1f%%  (median pass %7.1f ns/q %+6.1f%%)%s\n",
			       conf_names[k], best[k], 100.0 * (best[k] / bb - 1), med[k],
			       100.0 * (med[k] / bm - 1),
			       conf_base[k] == C_DP && k != C_DP ? "  vs dp" : "");
	}
	free(chunk_min);
	p53_abuse_fini(&st.ab);
	free(cbuf);
	free(qs);
	p53_pcap_free(&cap);
	bsh_engine_free(st.eng);
	return 0;
}
