/* The C side of the benchmarks: a thin shim so the C++ Google Benchmark code
 * includes one small header instead of the engine's C headers (which use
 * C-only constructs and private structures).
 *
 * Everything slow (compiling zones, building queries and frames) happens in
 * set-up calls; the calls made inside timed loops (bsh_answer, bsh_find,
 * bsh_name_hash, bsh_dp_*) forward straight to the engine or dp/pkt.c and add
 * one call of overhead, about 1 ns, which the figures include.
 */
#ifndef P53_BENCH_SHIM_H
#define P53_BENCH_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bsh_engine;

/* The built-in benchmark zone "bench.example." (see shim.c), compiled with or
 * without pre-rendered answers, plus, when extra_hosts > 0, a zone
 * "hosts.example." of that many A records for lookups in a larger table. */
struct bsh_engine *bsh_engine_builtin(int prerender, unsigned extra_hosts);
/* A snapshot file written by `port53 compile`. */
struct bsh_engine *bsh_engine_load(const char *path);
/* Compiles one zone (a master file or Route 53 JSON) with an optional geo
 * CSV, pre-rendered, in memory. */
struct bsh_engine *bsh_engine_compile(const char *origin, const char *path, const char *geo_csv);
/* Same, but the snapshot is copied into anonymous memory rather than mapped
 * from the page cache; with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 that memory
 * is madvise'd for transparent huge pages, which shows what 4 KiB-page TLB
 * misses cost on a large snapshot. */
struct bsh_engine *bsh_engine_load_copy(const char *path);
void bsh_engine_free(struct bsh_engine *e);
/* Why the last constructor returned NULL. */
const char *bsh_error(void);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bsh_now_ns(void);
/* qsort comparator for uint64_t. */
int bsh_cmp_u64(const void *a, const void *b);

/* Query for name (presentation form) and type into buf; edns: 0 none,
 * 1 EDNS, 2 EDNS+DO, 3 EDNS+ECS (IPv4 /24). Returns length, 0 on error. */
size_t bsh_query(uint8_t *buf, size_t cap, const char *name, uint16_t qtype, int edns);
/* Same with a query class other than IN (parse-only costs). */
size_t bsh_query_class(uint8_t *buf, size_t cap, const char *name, uint16_t qtype, uint16_t qclass);

/* p53_answer over UDP from a fixed IPv4 client. Returns the response length. */
size_t bsh_answer(struct bsh_engine *e, const uint8_t *q, size_t qlen, uint8_t *resp, size_t cap);
/* How many answers so far came from pre-rendered blobs (to check which path
 * a benchmark measures). */
uint64_t bsh_prerendered(const struct bsh_engine *e);

/* The engine's own objects, for C callers that drive p53_answer directly
 * (replay.c) with per-query client information. */
struct p53_snapshot;
struct p53_ctx;
const struct p53_snapshot *bsh_snapshot(const struct bsh_engine *e);
struct p53_ctx *bsh_ctx(struct bsh_engine *e);

/* Canonical wire form of a presentation name; length or -1. */
int bsh_name(const char *text, uint8_t *wire /* 255 bytes */);
uint32_t bsh_name_hash(const uint8_t *wire, size_t len);
/* Hash-table lookup of a canonical name: node index, or UINT32_MAX. */
uint32_t bsh_find(const struct bsh_engine *e, const uint8_t *wire, size_t len);
/* Names of the hosts zone, host i (i < extra_hosts) in wire form. */
int bsh_host_name(unsigned i, uint8_t *wire);

/* Data-plane L2-L4 (dp/pkt.h) for service address 192.0.2.53 / 2001:db8::53. */
struct bsh_dp;
struct bsh_dp *bsh_dp_new(void);
void bsh_dp_free(struct bsh_dp *d);
/* An Ethernet frame carrying the DNS message q to the service address;
 * family 4 or 6, vlan -1 for none. Returns the frame length. */
size_t bsh_dp_frame(uint8_t *buf, size_t cap, int family, int vlan, const uint8_t *q, size_t qlen);
/* dp_classify with software checksum checks; returns 1 when the frame is a
 * DNS query to answer. */
int bsh_dp_classify(const struct bsh_dp *d, const uint8_t *frame, size_t len);
/* The whole data-plane path on one frame in place: classify, answer the
 * payload in place, build the reply headers. Returns the reply frame
 * length, 0 when dropped or sent to the kernel. */
size_t bsh_dp_answer(const struct bsh_dp *d, struct bsh_engine *e, uint8_t *frame, size_t len,
		     size_t bufcap);
/* The same over a burst of n frames (at most BSH_DP_BURST), as a worker
 * handles an rx burst: every frame classified, the engine's lookups
 * prefetched over the burst's queries (prefetch false: not), then each
 * answered. out[i] is frame i's reply length, 0 when dropped; returns the
 * sum. */
#define BSH_DP_BURST 32
size_t bsh_dp_answer_burst(const struct bsh_dp *d, struct bsh_engine *e, uint8_t *const *frame,
			   const size_t *len, unsigned n, size_t bufcap, int prefetch, size_t *out);

#ifdef __cplusplus
}
#endif

#endif
