/* p53-bench-replay: one core answering a capture held in memory.
 *
 * Two paths, timed separately:
 *   engine  the UDP payloads, pre-extracted, through p53_answer into one
 *           response buffer: the cost of DNS alone;
 *   dp      each whole frame copied into a packet buffer (standing in for the
 *           NIC's DMA), then what a port53d worker does per rx burst of 32:
 *           dp_classify on each frame, the engine's lookups prefetched over
 *           the burst, p53_answer in place, dp_reply_dns (bench/shim.c,
 *           bsh_dp_answer_burst, mirrors dp/worker.c). No mbufs and no PMD:
 *           the rx/tx burst cost of a real port is not in this figure, nor
 *           are RRL and cookies (bench/abuse.c times those).
 * A pass walks the whole capture once; passes repeat until --seconds have
 * gone by, and the median pass is reported (the VMs this runs on are noisy).
 *
 * Checks, outside the timed loops: the dp path's reply payloads equal the
 * engine's answers; with --verify HOST:PORT, the engine's answers equal the
 * bytes a running `port53 serve` sends for the same queries.
 */
#include "bench/shim.h"
#include "zones/answer/fw.h"
#include "pcap/frame.h"
#include "pcap/pcapio.h"
#include "zones/answer/answer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
static inline uint64_t cycles(void)
{
	return __rdtsc();
}
#else
static inline uint64_t cycles(void)
{
	return 0;
}
#endif

struct query {
	uint32_t frame_off, frame_len; /* in the capture */
	uint32_t pl_off;	       /* DNS message, from the frame start */
	uint16_t pl_len;
	struct p53_client client;
};

struct pass {
	uint64_t ns, cyc;
};

#define MAX_PASSES 10000

static struct bsh_engine *eng;
static struct bsh_dp *dpx;
static const uint8_t *cap_data;
static struct query *qs;
static size_t nq;
static uint8_t resp[P53_MSG_MAX];
static uint8_t frame[4096];
static volatile size_t sink; /* keeps the answers from being optimised away */

/* As a port53d worker does with a burst: the lookups' cache misses are
 * prefetched stage by stage over the whole burst (p53_prefetch_burst), then the
 * queries are answered. --no-prefetch measures without. */
#define BURST BSH_DP_BURST
static bool no_prefetch;

static void pass_engine(void)
{
	const struct p53_snapshot *s = bsh_snapshot(eng);
	struct p53_ctx *ctx = bsh_ctx(eng);
	size_t total = 0;
	for (size_t b = 0; b < nq; b += BURST) {
		size_t e = b + BURST < nq ? b + BURST : nq;
		const uint8_t *bq[BURST];
		size_t bl[BURST];
		for (size_t i = b; i < e; i++) {
			bq[i - b] = cap_data + qs[i].frame_off + qs[i].pl_off;
			bl[i - b] = qs[i].pl_len;
		}
		if (!no_prefetch)
			p53_prefetch_burst(s, bq, bl, (unsigned)(e - b));
		for (size_t i = b; i < e; i++) {
			const struct query *q = &qs[i];
			const uint8_t *m = cap_data + q->frame_off + q->pl_off;
			if (i + 4 < nq) /* as a worker prefetches the next packets */
				__builtin_prefetch(cap_data + qs[i + 4].frame_off +
						   qs[i + 4].pl_off);
			total += p53_answer(s, m, q->pl_len, &q->client, ctx, resp, sizeof(resp));
		}
	}
	sink = total;
}

/* The worker's path over the same bursts: each frame copied into a buffer
 * of its own (standing in for the NIC's DMA into an mbuf), then the burst
 * classified, prefetched and answered as dp/worker.c does. */
static uint8_t frames[BURST][4096];

static void pass_dp(void)
{
	uint8_t *f[BURST];
	size_t fl[BURST], out[BURST], total = 0;
	for (unsigned i = 0; i < BURST; i++)
		f[i] = frames[i];
	for (size_t b = 0; b < nq; b += BURST) {
		unsigned n = (unsigned)(b + BURST < nq ? BURST : nq - b);
		for (unsigned i = 0; i < n; i++) {
			const struct query *q = &qs[b + i];
			fl[i] = q->frame_len < sizeof(frames[0]) ? q->frame_len : sizeof(frames[0]);
			memcpy(frames[i], cap_data + q->frame_off, fl[i]);
		}
		total +=
		    bsh_dp_answer_burst(dpx, eng, f, fl, n, sizeof(frames[0]), !no_prefetch, out);
	}
	sink = total;
}

/* Runs passes for at least secs seconds; returns the number of passes. */
static size_t run(void (*fn)(void), double secs, size_t min_passes, struct pass *ps)
{
	size_t n = 0;
	uint64_t start = bsh_now_ns(), limit = (uint64_t)(secs * 1e9);
	fn(); /* warm-up: page in the capture and the snapshot */
	do {
		uint64_t t0 = bsh_now_ns(), c0 = cycles();
		fn();
		uint64_t c1 = cycles(), t1 = bsh_now_ns();
		ps[n].ns = t1 - t0;
		ps[n].cyc = c1 - c0;
		n++;
	} while (n < MAX_PASSES && (n < min_passes || bsh_now_ns() - start < limit));
	return n;
}

struct result {
	double qps, ns_q, cyc_q, best_qps;
	size_t passes;
};

static struct result summarise(struct pass *ps, size_t n)
{
	uint64_t ns[MAX_PASSES], cy[MAX_PASSES];
	for (size_t i = 0; i < n; i++) {
		ns[i] = ps[i].ns;
		cy[i] = ps[i].cyc;
	}
	qsort(ns, n, sizeof(ns[0]), bsh_cmp_u64);
	qsort(cy, n, sizeof(cy[0]), bsh_cmp_u64);
	struct result r;
	r.passes = n;
	r.ns_q = (double)ns[n / 2] / (double)nq;
	r.cyc_q = (double)cy[n / 2] / (double)nq;
	r.qps = 1e9 / r.ns_q;
	r.best_qps = 1e9 / ((double)ns[0] / (double)nq);
	return r;
}

/* The dp path must give the engine's bytes: compares one pass. */
static size_t check_dp(void)
{
	const struct p53_snapshot *s = bsh_snapshot(eng);
	size_t bad = 0;
	for (size_t i = 0; i < nq; i++) {
		const struct query *q = &qs[i];
		size_t el = p53_answer(s, cap_data + q->frame_off + q->pl_off, q->pl_len,
				       &q->client, bsh_ctx(eng), resp, sizeof(resp));
		memcpy(frame, cap_data + q->frame_off, q->frame_len);
		size_t fl = bsh_dp_answer(dpx, eng, frame, q->frame_len, sizeof(frame));
		struct p53_udp_view v;
		if (el == 0 && fl == 0)
			continue;
		if (!p53_udp_parse(frame, fl, P53_LINKTYPE_ETHERNET, &v) || v.pl_len != el ||
		    memcmp(frame + v.pl_off, resp, el) != 0)
			bad++;
	}
	return bad;
}

/* Sends the first n queries to a running server and compares its answers
 * with the engine's for the same client address and port. */
static int verify_server(const char *hostport, size_t n, size_t *same, size_t *diff, size_t *lost)
{
	char host[128];
	const char *colon = strrchr(hostport, ':');
	if (!colon || (size_t)(colon - hostport) >= sizeof(host))
		return -EINVAL;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = 0;
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)atoi(colon + 1))};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return -errno;
	struct timeval tv = {.tv_sec = 1};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	getsockname(fd, (struct sockaddr *)&me, &ml);
	struct p53_client cl = {.family = 4, .transport = P53_UDP, .port = ntohs(me.sin_port)};
	memcpy(cl.addr, &me.sin_addr, 4);
	static uint8_t got[P53_MSG_MAX];
	*same = *diff = *lost = 0;
	for (size_t i = 0; i < n && i < nq; i++) {
		const struct query *q = &qs[i];
		const uint8_t *m = cap_data + q->frame_off + q->pl_off;
		size_t el = p53_answer(bsh_snapshot(eng), m, q->pl_len, &cl, bsh_ctx(eng), resp,
				       sizeof(resp));
		if (send(fd, m, q->pl_len, 0) < 0) {
			(*lost)++;
			continue;
		}
		ssize_t r = recv(fd, got, sizeof(got), 0);
		if (r < 0) {
			(*lost)++; /* the engine may have dropped it too */
			if (el == 0)
				(*same)++, (*lost)--;
			continue;
		}
		if ((size_t)r == el && memcmp(got, resp, el) == 0) {
			(*same)++;
		} else {
			if (*diff < 3)
				fprintf(stderr,
					"replay: query %zu: server sent %zd bytes, engine %zu\n", i,
					r, el);
			(*diff)++;
		}
	}
	close(fd);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: p53-bench-replay -s SNAPSHOT.p53 -r QUERIES.pcap [options]\n"
		   "  --path engine|dp|both   what to time (default both)\n"
		   "  --seconds S             time per path (default 3)\n"
		   "  --min-passes N          at least N passes over the capture (default 3)\n"
		   "  --max N                 load at most N packets\n"
		   "  --cpu N                 pin to CPU N\n"
		   "  --no-prefetch           answer both paths without burst prefetching\n"
		   "  --firewall FILE         check every query against a DNS Firewall (.p53fw)\n"
		   "  --copy                  copy the snapshot into anonymous memory instead of\n"
		   "                          mmap (with GLIBC_TUNABLES=glibc.malloc.hugetlb=1:\n"
		   "                          transparent huge pages)\n"
		   "  --verify HOST:PORT      compare answers with a running port53 serve\n"
		   "  --verify-count N        queries to compare (default 2000)\n"
		   "  --label TEXT            tag for the output line\n"
		   "  --json                  one JSON object per path on stdout\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"snapshot", required_argument, NULL, 's'},
	    {"pcap", required_argument, NULL, 'r'},
	    {"path", required_argument, NULL, 'P'},
	    {"seconds", required_argument, NULL, 'S'},
	    {"min-passes", required_argument, NULL, 'm'},
	    {"max", required_argument, NULL, 'M'},
	    {"cpu", required_argument, NULL, 'c'},
	    {"verify", required_argument, NULL, 'V'},
	    {"verify-count", required_argument, NULL, 'C'},
	    {"label", required_argument, NULL, 'L'},
	    {"json", no_argument, NULL, 'j'},
	    {"copy", no_argument, NULL, 'k'},
	    {"no-prefetch", no_argument, NULL, 'N'},
	    {"firewall", required_argument, NULL, 'F'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *snap = NULL, *pcap = NULL, *path = "both", *verify = NULL, *label = "";
	const char *fw_path = NULL;
	double secs = 3;
	size_t min_passes = 3, max = 0, vcount = 2000;
	int cpu = -1, c;
	bool json = false, copy = false;
	while ((c = getopt_long(argc, argv, "s:r:h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			snap = optarg;
			break;
		case 'N':
			no_prefetch = true;
			break;
		case 'F':
			fw_path = optarg;
			break;
		case 'r':
			pcap = optarg;
			break;
		case 'P':
			path = optarg;
			break;
		case 'S':
			secs = strtod(optarg, NULL);
			break;
		case 'm':
			min_passes = strtoul(optarg, NULL, 10);
			break;
		case 'M':
			max = strtoul(optarg, NULL, 10);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'V':
			verify = optarg;
			break;
		case 'C':
			vcount = strtoul(optarg, NULL, 10);
			break;
		case 'L':
			label = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'k':
			copy = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	bool do_engine = !strcmp(path, "engine") || !strcmp(path, "both");
	bool do_dp = !strcmp(path, "dp") || !strcmp(path, "both");
	if (!snap || !pcap || (!do_engine && !do_dp)) {
		usage(stderr);
		return 2;
	}
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			perror("replay: sched_setaffinity");
	}

	eng = copy ? bsh_engine_load_copy(snap) : bsh_engine_load(snap);
	struct p53_fw *fw = NULL;
	if (eng && fw_path) {
		/* Every query is checked against the DNS Firewall, as a worker
		 * with --firewall does. */
		struct p53_err err = {0};
		if ((fw = p53_fw_load(fw_path, 1, &err)) == NULL) {
			fprintf(stderr, "p53-bench-replay: %s\n", err.msg);
			return 1;
		}
		bsh_ctx(eng)->fw = fw;
		bsh_ctx(eng)->worker = 0;
	}
	if (!eng) {
		fprintf(stderr, "replay: %s\n", bsh_error());
		return 1;
	}
	dpx = bsh_dp_new();
	struct p53_pcap cap;
	char err[512];
	if (p53_pcap_load(pcap, max, &cap, err, sizeof(err)) != 0) {
		fprintf(stderr, "replay: %s\n", err);
		return 1;
	}
	if (cap.linktype != P53_LINKTYPE_ETHERNET && do_dp) {
		fprintf(stderr,
			"replay: the dp path needs an Ethernet capture; timing engine only\n");
		do_dp = false;
	}
	qs = calloc(cap.n ? cap.n : 1, sizeof(*qs));
	if (!qs || !dpx) {
		fprintf(stderr, "replay: out of memory\n");
		return 1;
	}
	size_t skipped = 0;
	for (size_t i = 0; i < cap.n; i++) {
		struct p53_udp_view v;
		const uint8_t *f = cap.data + cap.pkts[i].off;
		if (cap.pkts[i].len > sizeof(frame) ||
		    !p53_udp_parse(f, cap.pkts[i].len, cap.linktype, &v)) {
			skipped++;
			continue;
		}
		struct query *q = &qs[nq++];
		q->frame_off = cap.pkts[i].off;
		q->frame_len = cap.pkts[i].len;
		q->pl_off = (uint32_t)v.pl_off;
		q->pl_len = (uint16_t)v.pl_len;
		q->client.family = v.family;
		q->client.transport = P53_UDP;
		q->client.port = v.sport;
		memcpy(q->client.addr, v.src, 16);
	}
	cap_data = cap.data;
	if (nq == 0) {
		fprintf(stderr, "replay: %s holds no UDP queries\n", pcap);
		return 1;
	}

	/* Outcomes of one pass, from the engine's own counters. */
	struct p53_ctx *ctx = bsh_ctx(eng);
	uint64_t before[P53_STAT__COUNT];
	memcpy(before, ctx->stats, sizeof(before));
	pass_engine();
	char mix[512];
	size_t ml = 0;
	for (int s = 0; s < P53_STAT__COUNT; s++) {
		uint64_t d = ctx->stats[s] - before[s];
		if (d && ml < sizeof(mix) - 64)
			ml += (size_t)snprintf(mix + ml, sizeof(mix) - ml, "%s%s=%.1f%%",
					       ml ? " " : "", p53_stat_name((enum p53_stat)s),
					       100.0 * (double)d / (double)nq);
	}
	fprintf(stderr, "replay: %zu queries (%zu skipped) from %s; outcomes: %s\n", nq, skipped,
		pcap, mix);

	int rc = 0;
	if (do_dp) {
		size_t bad = check_dp();
		fprintf(stderr, "replay: dp path vs engine: %zu of %zu answers differ\n", bad, nq);
		if (bad)
			rc = 1;
	}
	if (verify) {
		size_t same = 0, diff = 0, lost = 0;
		int vr = verify_server(verify, vcount, &same, &diff, &lost);
		if (vr) {
			fprintf(stderr, "replay: --verify %s: %s\n", verify, strerror(-vr));
			rc = 1;
		} else {
			fprintf(
			    stderr,
			    "replay: vs server %s: %zu identical, %zu different, %zu no reply\n",
			    verify, same, diff, lost);
			if (diff || lost)
				rc = 1;
		}
	}

	static struct pass ps[MAX_PASSES];
	const char *names[2] = {"engine", "dp"};
	bool which[2] = {do_engine, do_dp};
	void (*fns[2])(void) = {pass_engine, pass_dp};
	for (int k = 0; k < 2; k++) {
		if (!which[k])
			continue;
		size_t n = run(fns[k], secs, min_passes, ps);
		struct result r = summarise(ps, n);
		if (json)
			printf("{\"label\":\"%s\",\"path\":\"%s\",\"queries\":%zu,\"passes\":%zu,"
			       "\"qps\":%.0f,\"best_qps\":%.0f,\"ns_per_query\":%.2f,"
			       "\"tsc_cycles_per_query\":%.1f}\n",
			       label, names[k], nq, r.passes, r.qps, r.best_qps, r.ns_q, r.cyc_q);
		else
			printf("%s%s%-6s %10.0f q/s (best %10.0f)  %7.1f ns/q  %7.1f TSC cycles/q"
			       "  [%zu passes x %zu queries]\n",
			       label, *label ? "  " : "", names[k], r.qps, r.best_qps, r.ns_q,
			       r.cyc_q, r.passes, nq);
		fflush(stdout);
	}
	free(qs);
	p53_pcap_free(&cap);
	bsh_dp_free(dpx);
	bsh_engine_free(eng);
	return rc;
}
