/* Query logging: per-worker rings on the hot path, a drain thread beside them.
 *
 * A worker must never wait for a disk. So each worker owns one
 * single-producer/single-consumer ring of fixed-size records allocated at
 * start; pushing a record is a few stores and one release store, with no
 * allocation, lock or system call. A full ring drops the record and counts
 * it. One control-side thread empties every ring (every 50 ms, sooner while a
 * ring is over half full) and writes JSON lines and/or dnstap.
 *
 * The answer engine knows nothing about this: the front end decides whether a
 * query is sampled (qlog_sampled), reads the question from the query before
 * answering (qlog_rec_query: the DPDK workers answer in place), fills in the
 * outcome from the response header after (qlog_rec_response), and pushes.
 *
 *	if (ring && qlog_sampled(ring)) { qlog_rec_query(&rec, q, qlen, &cl); log = 1; }
 *	n = p53_answer(...);
 *	if (log && n) { qlog_rec_response(&rec, resp, n); rec.worker = w; qlog_push(ring, &rec); }
 */
#ifndef P53_QLOG_H
#define P53_QLOG_H

#include "zones/answer/answer.h"
#include "zones/common/err.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QLOG_RULE_NONE UINT32_MAX

/* One logged query. Fixed size so the ring is an array and a push is a copy. */
struct qlog_rec {
	uint64_t time_ns;     /* CLOCK_REALTIME, when the query was read */
	uint32_t fw_rule;     /* DNS Firewall rule that decided; QLOG_RULE_NONE */
	uint16_t worker;      /* which worker (ring) answered */
	uint16_t port;	      /* client source port */
	uint16_t id;	      /* DNS message ID */
	uint16_t qflags;      /* query header flags (opcode, RD, CD, ...) */
	uint16_t rflags;      /* response header flags: RCODE, AA, TC, ... */
	uint16_t qtype;	      /* 0 when the question could not be read */
	uint16_t qclass;      /* idem */
	uint16_t resp_len;    /* response size in bytes; 0 = no response */
	uint8_t family;	      /* 4 or 6; 0 unknown */
	uint8_t transport;    /* enum p53_transport */
	uint8_t qname_len;    /* wire length of qname, 0 = no question */
	uint8_t ecs_family;   /* EDNS Client Subnet: 1 IPv4, 2 IPv6, 0 none */
	uint8_t ecs_src;      /* ECS source prefix length */
	uint8_t edns;	      /* 1 when the query had an OPT record */
	uint8_t addr[16];     /* client address, IPv4 in the first 4 bytes */
	uint8_t ecs_addr[16]; /* ECS address, zero-padded */
	uint8_t qname[255];   /* the question name as sent (case kept), uncompressed */
	/* Resolver path (ctrl/resolv/resolver.h); res == 0 on the
	 * authoritative path, and the fields below are then not written. */
	uint8_t res;	   /* QLOG_RES_* flags */
	uint8_t fw_action; /* enum p53_fw_action of fw_rule */
	char view[64];	   /* the client's view */
	char rule[64];	   /* the Resolver rule that decided; "" = recursion */
	char upstream[48]; /* FORWARD target used ("addr@port"); "" = none */
};
#define QLOG_RES_ON	   1  /* answered by the resolver */
#define QLOG_RES_CACHE	   2  /* from the resolver's answer cache */
#define QLOG_RES_SECURE	   4  /* DNSSEC-validated */
#define QLOG_RES_BOGUS	   8  /* failed validation: SERVFAIL */
#define QLOG_RES_FW_CHAIN  16 /* the firewall decided on a CNAME/DNAME target */
#define QLOG_RES_FORWARDED 32 /* through a FORWARD rule */

#define QLOG_RCODE(rec) ((rec)->rflags & 15)
#define QLOG_AA(rec)	(((rec)->rflags >> 10) & 1)
#define QLOG_TC(rec)	(((rec)->rflags >> 9) & 1)

/* The ring. Producer and consumer indexes live on their own cache lines, and
 * each side keeps a private copy of the other's index so that it only reads
 * the shared line when the ring looks full (producer) or empty (consumer). */
#define QLOG_CACHE_LINE 64
struct qlog_ring {
	alignas(QLOG_CACHE_LINE) _Atomic uint64_t head; /* next slot to write */
	uint64_t tail_cache;				/* producer's view of tail */
	uint32_t sample;				/* log 1 query in sample */
	uint32_t countdown;				/* queries until the next logged */
	_Atomic uint64_t seen, pushed, dropped;		/* written by the producer only */
	alignas(QLOG_CACHE_LINE) _Atomic uint64_t tail; /* next slot to read */
	uint64_t head_cache;				/* consumer's view of head */
	alignas(QLOG_CACHE_LINE) uint32_t mask;		/* capacity - 1 (power of two) */
	struct qlog_rec *slots;
};

/* Initialises a ring of at least capacity records (rounded up to a power of
 * two, minimum 2) that logs one query in sample (0 or 1 = all). Allocates;
 * call at start, not on the hot path. Returns -1 when out of memory. */
int qlog_ring_init(struct qlog_ring *r, unsigned capacity, unsigned sample);
void qlog_ring_fini(struct qlog_ring *r);

/* Producer side (one thread per ring). True when this query is one to log:
 * a countdown, so exactly one in `sample` queries, no random numbers. */
static inline bool qlog_sampled(struct qlog_ring *r)
{
	atomic_store_explicit(&r->seen, atomic_load_explicit(&r->seen, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	if (--r->countdown)
		return false;
	r->countdown = r->sample;
	return true;
}

/* Copies rec into the ring. False when the ring is full: the record is dropped
 * and counted, and the worker goes on. */
bool qlog_push(struct qlog_ring *r, const struct qlog_rec *rec);

/* Consumer side (one thread per ring). Copies out up to max records, oldest
 * first, and returns how many. */
size_t qlog_pop(struct qlog_ring *r, struct qlog_rec *out, size_t max);
/* Records waiting (approximate from either side). */
size_t qlog_ring_used(struct qlog_ring *r);

/* Fills rec from a query (qlen bytes) and the client: time, client, ID and
 * flags, the question, ECS from the OPT record. Bounds-checked: a malformed
 * query gives a record without question (qname_len 0), and -1. Call before
 * answering in place: the response overwrites the query. */
int qlog_rec_query(struct qlog_rec *rec, const uint8_t *query, size_t qlen,
		   const struct p53_client *client);
/* Adds the outcome from the response header: flags, RCODE and size. */
void qlog_rec_response(struct qlog_rec *rec, const uint8_t *resp, size_t rlen);
/* Both, when the query is still intact after answering. */
int qlog_rec_from(const uint8_t *query, size_t qlen, const uint8_t *resp, size_t rlen,
		  const struct p53_client *client, struct qlog_rec *rec);

/* Formats rec as one JSON object and a newline into buf. Returns the length,
 * or 0 when cap is too small (QLOG_JSON_MAX always suffices). */
#define QLOG_JSON_MAX 2048
size_t qlog_format_json(const struct qlog_rec *rec, char *buf, size_t cap);

/* The logger: one ring per worker and the drain thread. */
struct qlog_cfg {
	const char *json_path;	 /* JSON lines, appended; NULL = none */
	const char *dnstap_path; /* dnstap Frame Streams file; NULL = none */
	unsigned sample;	 /* log 1 query in N; 0 or 1 = every query */
	unsigned ring_size;	 /* records per worker ring; default 8192 */
	unsigned drain_ms;	 /* drain period; default 50 */
	const char *identity;	 /* dnstap identity (e.g. host name); NULL = none */
};

struct qlog;

/* Opens the outputs, allocates nworkers rings and starts the drain thread.
 * Returns NULL with err set when a file cannot be opened or dnstap was not
 * built in. */
struct qlog *qlog_start(const struct qlog_cfg *cfg, unsigned nworkers, struct p53_err *err);
/* Worker w's ring (w < nworkers). */
struct qlog_ring *qlog_ring(struct qlog *q, unsigned worker);
/* Asks the drain thread to reopen the files (log rotation: rename, then
 * reopen). Only sets a flag: safe from a signal handler. */
void qlog_reopen(struct qlog *q);
/* Drains what is left, stops the thread, closes the files, frees. NULL is a
 * no-op. The workers must have stopped pushing. */
void qlog_stop(struct qlog *q);

struct qlog_stats {
	uint64_t seen;	  /* queries offered to qlog_sampled */
	uint64_t pushed;  /* records put in a ring */
	uint64_t dropped; /* records lost to a full ring */
	uint64_t written; /* records written out */
	uint64_t write_errors;
	uint64_t reopens;
};
/* Totals when worker < 0, else that worker's ring counters (written,
 * write_errors and reopens are then 0). Relaxed reads. */
void qlog_stats(struct qlog *q, int worker, struct qlog_stats *st);
#endif
