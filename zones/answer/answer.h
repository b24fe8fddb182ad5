/* The answer engine: one function turns a DNS query into a DNS response.
 *
 * Every front end calls it: the DPDK workers, the kernel-socket server
 * (UDP and TCP), pcap replay, benchmarks and tests. It allocates nothing,
 * takes no lock, makes no system call and logs nothing: all it touches is
 * the read-only snapshot, the query, the caller's response buffer and the
 * caller's per-core context.
 */
#ifndef P53_ANSWER_H
#define P53_ANSWER_H

#include "zones/answer/snapshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct p53_fw;	  /* zones/answer/fw.h */
struct p53_osign; /* zones/answer/osign.h */

enum p53_transport { P53_UDP = 0, P53_TCP = 1 };

/* Who asked, as the front end saw it. */
struct p53_client {
	uint8_t family;	   /* 4 or 6; 0 when unknown (tests) */
	uint8_t transport; /* enum p53_transport */
	uint16_t port;	   /* source port, host order */
	uint8_t addr[16];  /* IPv4 in the first 4 bytes */
};

/* Server-wide answer settings, fixed for the life of a worker. */
struct p53_answer_cfg {
	uint16_t edns_udp_max; /* our advertised EDNS UDP size; default 1232 */
	const char *identity;  /* CH TXT id.server / hostname.bind; NULL = REFUSED */
	const char *version;   /* CH TXT version.bind / version.server; NULL = REFUSED */
};
void p53_answer_cfg_default(struct p53_answer_cfg *cfg);

/* What the engine did, by outcome; summed by the control plane. */
enum p53_stat {
	P53_STAT_NOERROR,
	P53_STAT_FORMERR,
	P53_STAT_SERVFAIL,
	P53_STAT_NXDOMAIN,
	P53_STAT_NOTIMP,
	P53_STAT_REFUSED,
	P53_STAT_BADVERS,
	P53_STAT_NODATA, /* NOERROR with an empty answer, counted again here */
	P53_STAT_REFERRAL,
	P53_STAT_TRUNCATED,
	P53_STAT_PRERENDERED, /* answered by copying compiler-rendered sections */
	P53_STAT_DROP_SHORT,  /* shorter than a header, or QR set: dropped */
	P53_STAT_EDNS,
	/* DNS Firewall verdicts (zones/answer/fw.h); the response is counted above too */
	P53_STAT_FW_ALLOW,
	P53_STAT_FW_ALERT,
	P53_STAT_FW_BLOCK, /* NXDOMAIN, NODATA or OVERRIDE */
	P53_STAT_FW_REFUSED,
	P53_STAT_FW_DROP,
	P53_STAT_FW_ERROR, /* could not decide: SERVFAIL, or answered if fail-open */
	P53_STAT__COUNT
};

/* What the abuse controls (zones/answer/abuse.h) need to know about the
 * last answer, recorded by the engine: they run after it, on the response. */
struct p53_answer_info {
	/* Where the response's question ends. From 12 up, the response holds
	 * the header, the question and then, at its end, the OPT record of
	 * opt_len bytes: the abuse controls cut it down to those, trusting
	 * this on their inline path (fuzz/fuzz_answer.c checks it on every
	 * answer); below 12, they leave the response alone. */
	uint16_t qend;
	uint16_t opt_len;  /* bytes of the OPT record ending the response; 0 = none */
	uint8_t rrl_class; /* enum p53_rrl_class (zones/answer/rrl.h) */
	uint32_t rrl_key;  /* the name the answer is about: name, zone, cut or wildcard;
			    * 0 for P53_RRL_ERROR (p53_abuse_locate hashes it as it is) */
	/* The query's COOKIE option (RFC 7873), copied because the query may
	 * be overwritten by its answer: 0, or 8 to 40 bytes. */
	uint8_t cookie_len;
	uint8_t cookie[40];
};

/* Per-core state: one per worker thread, never shared. */
struct p53_ctx {
	const struct p53_answer_cfg *cfg;
	uint64_t rng; /* per-core PRNG state (routing policies) */
	/* Health of Route 53 health checks by check number (the snapshot's
	 * HealthCheckId table), 1 = healthy; NULL = all healthy. Written by the
	 * checker thread with atomic byte stores. */
	const uint8_t *health;
	uint32_t nhealth;
	/* Zones that must answer SERVFAIL, by zone index, 1 = so (a secondary
	 * zone past its SOA expire time, ctrl/xfr/xfrin.h); NULL = none. */
	const uint8_t *zone_dead;
	uint32_t nzone_dead;
	uint64_t stats[P53_STAT__COUNT];
	/* DNS Firewall, or NULL; worker is this core's index into its
	 * per-worker scratch and counters (p53_fw_load's nworkers). */
	const struct p53_fw *fw;
	/* The firewall rule behind the last answer's verdict (query logs), or
	 * UINT32_MAX when no rule matched. */
	uint32_t fw_rule;
	unsigned worker;
	/* When set, a query with a COOKIE option leaves room for ours in its
	 * answer (abuse.h adds it). */
	bool cookies;
	/* Online DNSSEC signing (osign.h): keys and per-thread state published
	 * with the snapshot; NULL = DO=1 answers carry only the snapshot's
	 * signatures. */
	const struct p53_osign *osign;
	struct p53_answer_info last;
};
void p53_ctx_init(struct p53_ctx *ctx, const struct p53_answer_cfg *cfg, uint64_t seed);
const char *p53_stat_name(enum p53_stat s);

/* Largest response the engine writes (TCP); UDP answers are bounded by the
 * client's EDNS size or 512. */
#define P53_MSG_MAX 65535

/* Answers query (qlen bytes) into resp (cap bytes). resp may be the same
 * buffer as query (answering in place, as the DPDK workers do); any other
 * overlap is undefined. Returns the response length, or 0 when the query must
 * be dropped (too short to answer, QR set, or cap too small for a header). */
size_t p53_answer(const struct p53_snapshot *snap, const uint8_t *query, size_t qlen,
		  const struct p53_client *client, struct p53_ctx *ctx, uint8_t *resp, size_t cap);

/* Burst prefetching. A lookup in a large snapshot is a chain of cache
 * misses (hash bucket, node, its name and answer table, the answer bytes),
 * each address known only once the previous line has arrived. A front end
 * holding a burst of n queries (at most P53_BURST_MAX) calls this before
 * answering them: it walks the burst stage by stage, so the misses of the
 * whole burst overlap instead of following each other query by query. A hint
 * only: answers are the same without it, and it returns at once for
 * snapshots small enough to stay in cache. */
#define P53_BURST_MAX 64
void p53_prefetch_burst(const struct p53_snapshot *snap, const uint8_t *const *query,
			const size_t *qlen, unsigned n);

#endif
