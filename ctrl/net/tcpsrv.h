/* DNS over TCP (RFC 7766) on kernel sockets: one thread, one epoll set, any
 * number of listeners, with the limits that keep one source from denying
 * TCP to the others.
 *
 * Every TCP listener of port53 runs on this module: `port53 serve` and the
 * in-process TCP threads of port53d. A front end hands it
 *   - listening sockets (bound, listening, non-blocking; the module owns them),
 *   - the snapshot manager and a QSBR reader id: the thread reads the live
 *     snapshot and its per-load state (struct control_load: health, firewall)
 *     once per loop and is offline while it sleeps, so a push never waits
 *     for TCP traffic,
 *   - its answer context (engine configuration, firewall scratch index,
 *     query-log ring),
 *   - the limits below (tcpsrv_limits_default() fills the documented
 *     defaults, docs/hardening.md).
 * The answer path allocates only when a connection's output buffer grows,
 * up to out_max plus one message. A zone transfer is one answer of many
 * messages: they are made one at a time while the connection's unsent
 * output is under out_max, so a transfer costs a connection no more.
 */
#ifndef P53_TCPSRV_H
#define P53_TCPSRV_H

#include "ctrl/api/api.h"
#include "ctrl/net/doh.h"
#include "ctrl/snap/qsbr.h"
#include "ctrl/snap/snapmgr.h"
#include "zones/answer/abuse.h"
#include "zones/answer/answer.h"
#include "zones/common/err.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct qlog_ring;
struct dot_tls;
struct xfrout;
struct xfrin;
struct tcpsrv;
struct sockaddr_storage;

/* Views and the resolver (ctrl/resolv, docs/resolver.md), supplied by the
 * front end; NULL = authoritative answers only. */
struct tcpsrv_route {
	/* Before answering: the snapshot the query is answered from (a view's
	 * private zones, else pub); *view is the client's view (-1: none). */
	const struct p53_snapshot *(*pick)(void *arg, const struct p53_client *c,
					   const struct sockaddr_storage *local, const uint8_t *q,
					   size_t qlen, const struct p53_snapshot *pub, int *view);
	/* After answering: true when the resolver took the query instead of
	 * the engine's answer resp; its response comes back later through
	 * tcpsrv_deliver(t, token, ...), on any thread. */
	bool (*hand_over)(void *arg, int view, const struct p53_client *c,
			  const struct sockaddr_storage *local, const uint8_t *q, size_t qlen,
			  const uint8_t *resp, size_t rlen, uint32_t fw_rule, struct tcpsrv *t,
			  uint64_t token);
	void *arg;
};

struct tcpsrv_limits {
	unsigned max_conns;	    /* all sources together (256) */
	unsigned per_source;	    /* per client: IPv4 address, IPv6 /64 (16) */
	unsigned idle_ms;	    /* no message in progress (10000; RFC 7766 6.2.3) */
	unsigned msg_ms;	    /* a message must arrive whole, and queued output
				     * must make progress, within this (5000) */
	unsigned lifetime_ms;	    /* then no new query is read; output is flushed (120000) */
	size_t out_max;		    /* unsent bytes before reading stops (65536) */
	unsigned accept_backoff_ms; /* listeners paused after EMFILE/ENFILE (250) */
};

void tcpsrv_limits_default(struct tcpsrv_limits *l);

/* Counters, each with one writer (the TCP thread), read with relaxed loads. */
enum tcpsrv_ctr {
	TCPSRV_ACCEPTED,
	TCPSRV_QUERIES,
	TCPSRV_REFUSED_LIMIT,  /* max_conns reached and no idle one to close */
	TCPSRV_REFUSED_SOURCE, /* per_source reached */
	TCPSRV_EVICTED_IDLE,   /* an idle connection closed to make room */
	TCPSRV_CLOSED_IDLE,
	TCPSRV_CLOSED_DEADLINE, /* msg_ms passed with a message or output pending */
	TCPSRV_CLOSED_LIFETIME,
	TCPSRV_CLOSED_BAD,     /* a message that is not a query: queued answers sent first */
	TCPSRV_BACKLOG_PAUSES, /* reading stopped because output exceeded out_max */
	TCPSRV_ACCEPT_ERRORS,  /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
	TCPSRV_C__COUNT
};
struct tcpsrv_cfg {
	const int *fds; /* listening sockets, taken over */
	size_t nfds;
	/* DNS over TLS (dot.h): connections accepted on tls_fds (taken over
	 * too) read and write through tls; same framing and limits. */
	const int *tls_fds;
	size_t ntls_fds;
	struct dot_tls *tls;
	/* DNS over HTTPS (doh.h): connections accepted on doh_fds (taken
	 * over) run TLS through doh_tls (ALPN h2) and HTTP/2 with doh's
	 * limits; msg_ms, idle_ms, lifetime_ms, out_max and the connection
	 * caps above apply to them too. */
	const int *doh_fds;
	size_t ndoh_fds;
	struct dot_tls *doh_tls;
	struct doh_limits doh;
	struct snapmgr *mgr;
	struct qsbr *qsbr;
	unsigned reader_id;
	const struct p53_answer_cfg *answer;
	unsigned worker;	/* firewall scratch and counters index */
	struct qlog_ring *qlog; /* NULL: no query log */
	struct tcpsrv_limits lim;
	const char *name; /* for log lines ("port53", "port53d") */
	/* DNS Cookies on TCP answers (control_cookies()); NULL = off. TCP is
	 * never rate limited: its source address is not spoofed. */
	const p53_cookie_live *cookies;
	/* Zone transfers (ctrl/xfr/xfrout.h): AXFR and IXFR are answered
	 * there and streamed within out_max; NULL = REFUSED as before. */
	struct xfrout *xfr;
	/* NOTIFY for secondary zones (ctrl/xfr/xfrin.h); NULL = NOTIMP. */
	struct xfrin *notify;
	const struct tcpsrv_route *route; /* NULL = none */
	/* Starts the thread; NULL = pthread_create. port53d passes one that
	 * calls rte_ctrl_thread_create, keeping it off the workers' cores. */
	int (*spawn)(pthread_t *t, const char *name, void *(*fn)(void *), void *arg);
};

struct tcpsrv;

/* Starts serving on a new thread; NULL with err set on failure (the fds
 * are closed then too). */
struct tcpsrv *tcpsrv_start(const struct tcpsrv_cfg *cfg, struct p53_err *err);
/* Stops the thread, closes every connection and listener. */
void tcpsrv_stop(struct tcpsrv *t);

/* A response to a query handed over by route->hand_over (len 0: none, the
 * query is dropped). From any thread; the connection may be gone by then,
 * and the response with it. */
void tcpsrv_deliver(struct tcpsrv *t, uint64_t token, const uint8_t *resp, size_t len);

/* Emits the engine's counters, the TCP counters (tcp{event}) and with DoH
 * listeners the DoH ones (doh{event}, tls handshakes of DoH as
 * doh_tls{event}) as worker cfg.worker; for the control API's counters
 * callback. */
void tcpsrv_counters(const struct tcpsrv *t, api_emit_fn emit, void *sink);
uint64_t tcpsrv_ctr(const struct tcpsrv *t, enum tcpsrv_ctr c);
/* DNS messages answered (or handed over) over DoH. */
uint64_t tcpsrv_doh_queries(const struct tcpsrv *t);

#endif
