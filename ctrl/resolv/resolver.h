/* The resolver (docs/resolver.md): recursion, Route 53 Resolver FORWARD and
 * SYSTEM rules, caching and DNSSEC validation through libunbound, the DNS
 * Firewall on the resolved CNAME/DNAME chain, Extended DNS Errors.
 *
 * Answering threads never wait for it. A query the engine is not
 * authoritative for, from a client in a view, is copied into the answering
 * thread's own single-producer ring (resolver_submit) and the thread goes
 * on; the resolver thread answers it from its cache or asks libunbound
 * asynchronously, and sends the response itself on the UDP socket the query
 * came in on, or hands it back to the TCP/TLS server (job.reply). The resolver thread is a QSBR
 * reader of its own (it reads the live firewall) and has its own firewall scratch and query-log
 * ring.
 */
#ifndef P53_RESOLVER_H
#define P53_RESOLVER_H

#include "ctrl/api/api.h"
#include "ctrl/resolv/rconf.h"
#include "ctrl/resolv/rshare.h"
#include "ctrl/snap/qsbr.h"
#include "ctrl/snap/snapmgr.h"
#include "zones/answer/answer.h"
#include "zones/common/err.h"

#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

struct qlog_ring;

#define RESOLVER_QMAX	       1232 /* larger queries are not handed over */
#define RESOLVER_LINK_MAX      192  /* a front end's own data carried with a job */
#define RESOLVER_MAX_PRODUCERS 256  /* answering threads (port53d: workers + 2) */

/* One query handed over, with what is needed to answer it later. */
struct resolver_job {
	uint64_t time_ns;
	int fd; /* UDP socket the query came in on; the answer leaves by it */
	/* Streams (TCP, TLS): the response goes to reply(reply_ctx, token,
	 * ...) instead, also with len 0 when there is none. NULL for UDP. */
	void (*reply)(void *ctx, uint64_t token, const uint8_t *resp, size_t len);
	void *reply_ctx;
	uint64_t token;
	/* Frames (port53d's workers): when set, the response (never len 0)
	 * goes to reply_job(reply_ctx, job, ...) instead, with link, what the
	 * front end stored at submit (the query frame's headers), intact. */
	void (*reply_job)(void *ctx, const struct resolver_job *job, const uint8_t *resp,
			  size_t len);
	uint8_t link[RESOLVER_LINK_MAX];
	socklen_t peer_len;
	struct sockaddr_storage peer;
	struct p53_client client;
	uint16_t view;
	uint16_t qlen;
	uint32_t fw_rule; /* the engine's verdict on the query name; UINT32_MAX = none */
	uint8_t q[RESOLVER_QMAX];
};

struct resolver_cfg {
	const struct rconf *rc; /* not owned; lives until resolver_stop */
	struct snapmgr *mgr;	/* for the live firewall (struct control_load) */
	struct qsbr *qsbr;
	unsigned reader;	/* the resolver thread's QSBR reader id */
	unsigned fw_worker;	/* its firewall scratch index */
	struct qlog_ring *qlog; /* NULL = off */
	uint16_t edns_udp_max;	/* our advertised EDNS size */
	unsigned ring_size;	/* jobs in each hand-off ring; 0 = 1024 */
	unsigned producers;	/* answering threads, one ring each (1..RESOLVER_MAX_PRODUCERS) */
	unsigned cache_entries; /* answer cache slots; 0 = 65536 */
	/* Publish UDP responses for the answering threads to serve cache hits
	 * themselves (rshare.h); share_entries slots, 0 = 16384. */
	bool share;
	unsigned share_entries;
	const char *name; /* log prefix */
	/* Starts the resolver thread; NULL = pthread_create. port53d passes
	 * one on rte_ctrl_thread_create: never on a worker's core (and
	 * libunbound's threads, started from it, inherit its CPU set). */
	int (*spawn)(pthread_t *t, const char *name, void *(*fn)(void *), void *arg);
};

struct resolver;

/* Builds the libunbound contexts (recursion and one per FORWARD target),
 * the ring and the cache, and starts the resolver thread. NULL with err set
 * when libunbound refuses a setting (root hints, trust anchor). */
struct resolver *resolver_start(const struct resolver_cfg *cfg, struct p53_err *err);
/* Stops the resolver thread: nothing is answered or delivered after it,
 * while submits still land harmlessly (call before stopping the threads
 * that submit and receive replies). resolver_stop then frees. */
void resolver_halt(struct resolver *r);
void resolver_stop(struct resolver *r);

/* Answering thread number producer (< cfg.producers; one thread each):
 * copies the job into its ring. False when the ring is full (counted; a
 * UDP query is dropped and the client retries). */
bool resolver_submit(struct resolver *r, unsigned producer, const struct resolver_job *job);
/* Wakes the resolver thread after one or more submits (once per batch). */
void resolver_kick(struct resolver *r);

/* Without a copy, for threads that must not make system calls (port53d's
 * workers): resolver_slot gives producer's next free ring slot (NULL when
 * the ring is full), which the caller fills (the query in q, qlen, the
 * rest of the job) and publishes with resolver_commit, or abandons by not
 * committing. resolver_nudge wakes the resolver thread only when it sleeps
 * (one system call then; none while it is busy). resolver_ring_full counts
 * a query dropped on a full ring. */
struct resolver_job *resolver_slot(struct resolver *r, unsigned producer);
void resolver_commit(struct resolver *r, unsigned producer);
void resolver_nudge(struct resolver *r);
void resolver_ring_full(struct resolver *r);

/* The query q (qlen bytes) is one the resolver may take: a standard query
 * with RD set and one IN question that is not a zone transfer, small enough
 * to hand over. */
bool resolver_takes(const uint8_t *q, size_t qlen);

/* The engine's response resp (n bytes) to a query says the name is outside
 * every served zone or below a delegation: what a resolver answers instead. */
bool resolver_wants(const uint8_t *resp, size_t n);

/* The engine's firewall decided the query name itself (fw_rule, from the
 * answer context; UINT32_MAX: no rule): any action but ALLOW and ALERT.
 * Such a query keeps the engine's answer, never goes to the resolver: a
 * BLOCK NODATA answer outside every zone looks like a referral to
 * resolver_wants, and resolving it would undo the block. */
bool resolver_fw_decided(const struct p53_fw *fw, uint32_t fw_rule);

/* Private zones (a view's zones:, docs/resolver.md). True when some view
 * has any: the answering thread then finds the client's view before
 * answering. */
bool resolver_has_private(const struct resolver *r);
/* The snapshot to answer the query q (qlen bytes) from, for a client of
 * view v: the view's private snapshot holding the most specific zone at or
 * above the query name, else pub. For online QSBR readers; the result
 * lives until the reader's next quiescent state. */
const struct p53_snapshot *resolver_pick(struct resolver *r, int v, const uint8_t *q, size_t qlen,
					 const struct p53_snapshot *pub);
/* Loads every view's private snapshots anew and swaps them in after the
 * readers' grace period (SIGHUP, on the control thread). A snapshot that
 * fails to load keeps the old set serving; a negative code with err set. */
int resolver_reload(struct resolver *r, struct p53_err *err);

/* The answers shared with the answering threads; NULL unless cfg.share. */
const struct rshare *resolver_share(const struct resolver *r);

/* Counters for the API's metrics. */
void resolver_counters(struct resolver *r, api_emit_fn emit, void *sink);

#endif
