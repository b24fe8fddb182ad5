/* DNS over QUIC (RFC 9250) on ngtcp2 with GnuTLS, ALPN "doq".
 *
 * One thread, one epoll set: the UDP sockets (port 853 on the service
 * addresses, ctrl/xlisten.h), a wake-up eventfd and the connections' QUIC
 * timers. Each bidirectional stream carries one query (two-byte length
 * prefix, Message ID 0) and gets one answer, after which the server closes
 * its side of the stream.
 *
 * Address validation uses Retry tokens (RFC 9000 8.1.2) made and checked
 * by ngtcp2_crypto with a key drawn at start; a connection that ends keeps
 * a closing period (after our CONNECTION_CLOSE, which is sent again to
 * the packets that still arrive) or a draining period (after the client's)
 * of three PTOs and at least a second, RFC 9000 10.2, before its state is
 * dropped. An idle
 * timeout drops it silently (10.1).
 *
 * Like the TCP thread, it is a reader of the snapshot manager under its own
 * QSBR reader id: it takes the live snapshot once per loop iteration and is
 * offline while it sleeps, so every transport answers from the generation
 * the last completed push published.
 */
#ifndef P53_DOQ_H
#define P53_DOQ_H

#include "ctrl/api/api.h"
#include "ctrl/snap/qsbr.h"
#include "ctrl/snap/snapmgr.h"
#include "zones/answer/answer.h"
#include "zones/common/err.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum doq_ctr {
	DOQ_ACCEPTED,	   /* connections created from a client Initial */
	DOQ_HANDSHAKES,	   /* completed TLS handshakes */
	DOQ_QUERIES,	   /* answered streams */
	DOQ_REFUSED_LIMIT, /* max_conns reached */
	DOQ_CLOSED_IDLE,
	DOQ_CLOSED_ERROR,    /* transport, TLS or DoQ protocol error */
	DOQ_CLOSED_PEER,     /* the client closed: draining */
	DOQ_PROTOCOL_ERRORS, /* Message ID not 0, message over a stream's end */
	DOQ_VERSION_NEGOTIATIONS,
	DOQ_RETRIES,	    /* Retry packets sent (address validation) */
	DOQ_INVALID_TOKENS, /* Initials with a bad or expired Retry token */
	DOQ_CLOSE_RESENT,   /* CONNECTION_CLOSE sent again in a closing period */
	DOQ_C__COUNT
};
struct doq;
struct sockaddr_storage;

/* Views and the resolver (ctrl/resolv, docs/resolver.md), as tcpsrv's
 * route: pick before answering, hand_over after; the resolver's response
 * comes back through doq_deliver(d, token, ...). NULL = authoritative
 * answers only. */
struct doq_route {
	const struct p53_snapshot *(*pick)(void *arg, const struct p53_client *c,
					   const struct sockaddr_storage *local, const uint8_t *q,
					   size_t qlen, const struct p53_snapshot *pub, int *view);
	bool (*hand_over)(void *arg, int view, const struct p53_client *c, const uint8_t *q,
			  size_t qlen, const uint8_t *resp, size_t rlen, uint32_t fw_rule,
			  struct doq *d, uint64_t token);
	void *arg;
};

struct doq_cfg {
	const int *fds; /* bound UDP sockets, taken over */
	size_t nfds;
	const char *cert, *key; /* PEM files */
	struct snapmgr *mgr;
	struct qsbr *qsbr;
	unsigned reader_id;
	const struct p53_answer_cfg *answer;
	unsigned worker; /* firewall scratch index */
	/* Copies what the front end built per snapshot load (live->state:
	 * health, firewall) into ctx; NULL when there is none. */
	void (*bind)(const void *state, struct p53_ctx *ctx);
	struct qlog_ring *qlog; /* NULL: no query log */
	unsigned max_conns;	/* 0 = 256 */
	unsigned idle_ms;	/* QUIC max_idle_timeout; 0 = 10000 */
	/* Address validation (RFC 9000 8.1): a client Initial without a
	 * valid token gets a Retry. always: every new connection; otherwise
	 * only once half of max_conns are taken. */
	bool retry_always;
	const char *name;	       /* log prefix */
	const struct doq_route *route; /* NULL = none */
	/* NULL = pthread_create. */
	int (*spawn)(pthread_t *t, const char *name, void *(*fn)(void *), void *arg);
};

struct doq;
struct qlog_ring;

/* Starts the thread; NULL with err set (the fds are closed then too). */
struct doq *doq_start(const struct doq_cfg *cfg, struct p53_err *err);
void doq_stop(struct doq *q);
/* Reloads cert and key (any thread): new connections use them, open ones
 * keep theirs. 0, or a negative code with the old files still in use. */
int doq_reload_tls(struct doq *q, struct p53_err *err);
uint64_t doq_ctr(const struct doq *q, enum doq_ctr c);
/* A response to a query handed over by route->hand_over (len 0: none, the
 * stream is cancelled). From any thread; the stream may be gone by then. */
void doq_deliver(struct doq *q, uint64_t token, const uint8_t *resp, size_t len);
/* The engine's and the QUIC counters, as worker cfg.worker. */
void doq_counters(const struct doq *q, api_emit_fn emit, void *sink);

#endif
