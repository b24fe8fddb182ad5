/* DNS over TCP (see tcpsrv.h).
 *
 * Each connection is in one of three states: OPEN (reading queries,
 * answering in order, RFC 7766 6.2.1.1), DRAIN (no more reading: after a
 * bad message, end of input or the lifetime; queued answers are sent first)
 * and LINGER (our side shut down, the client's leftovers read and dropped
 * for a moment so that closing does not reset the connection under answers
 * the client has not read yet; a client that has sent its FIN has no
 * leftovers, so its connection is closed once its answers are written).
 *
 * Timers are deadlines, not idle clocks that any byte resets: a message
 * started must be complete within msg_ms, queued output must drain within
 * msg_ms of its last progress, and a connection lives lifetime_ms at most.
 * A slow client therefore holds a slot for a bounded time however it paces
 * its bytes, and per_source bounds how many slots one client can hold.
 *
 * Output is checked after every answer: past out_max unsent bytes the
 * connection stops being read (its pipelined queries wait in its input
 * buffer and the kernel's), so a client that never reads costs out_max plus
 * one message, not what it asked for.
 */
#include "ctrl/net/tcpsrv.h"

#include "ctrl/control.h"
#include "ctrl/net/doh.h"
#include "ctrl/net/dot.h"
#include "ctrl/net/keepalive.h"
#include "ctrl/net/ksock.h"
#include "ctrl/net/tcpframe.h"
#include "ctrl/qlog/qlog.h"
#include "ctrl/xfr/xfrin.h"
#include "ctrl/xfr/xfrout.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_MAX   64
#define LINGER_MS    1000
#define ACCEPT_BURST 64
#define LOG_EVERY_MS 10000
#define IN_CAP	     (2 + P53_MSG_MAX)
/* Input bytes a connection holds without a separate buffer: queries are
 * small, and allocating (and zeroing) 64 KiB per connection was most of
 * the cost of a short connection. A longer message gets IN_CAP. */
#define IN_INLINE 768
/* Reads per event before the other connections get a turn (a TLS record
 * is at most 16 KiB). */
#define READS_MAX 8

enum conn_state { C_OPEN, C_DRAIN, C_LINGER };
enum tag_kind { T_LISTEN, T_LISTEN_TLS, T_LISTEN_DOH, T_CONN, T_WAKE };
/* A DoH stream's token for the resolver: the connection's id (its low 32
 * bits) and the stream id, marked apart from a plain connection's id. */
#define DOH_TOKEN (1ull << 63)

struct tag {
	enum tag_kind kind;
	int fd;
	struct conn *conn;
};

/* A resolver's response on its way back to a connection. */
struct reply {
	struct reply *next;
	uint64_t token;
	size_t len;
	uint8_t data[];
};

struct conn {
	struct tag tag;
	struct tcpsrv *srv;
	int fd;
	enum conn_state state;
	bool paused;		/* output over out_max: not reading */
	bool eof;		/* the client has shut down its side */
	struct dot_conn *tls;	/* DNS over TLS, or NULL for plain TCP */
	struct doh_sess *h2;	/* DNS over HTTPS (over tls), or NULL */
	struct xfrout_job *job; /* a zone transfer being sent */
	unsigned tls_want;	/* DOT_WANT_*: what the TLS session waits for */
	struct p53_client client;
	uint8_t src[8];	  /* per-source key: IPv4 address or IPv6 /64 */
	uint32_t ev;	  /* the events epoll waits for */
	uint64_t id;	  /* the token of handed-over queries */
	unsigned pending; /* handed over, not answered yet */
	unsigned lidx;	  /* listener it was accepted on */
	uint64_t born, idle_since, msg_since, out_since, linger_until;
	struct tcpframe_out out;
	uint8_t *in; /* inbuf, or IN_CAP bytes once a long message came */
	size_t inlen, incap;
	struct conn *next, *prev;
	uint8_t inbuf[IN_INLINE];
};

struct tcpsrv {
	struct tcpsrv_cfg cfg;
	pthread_t thread;
	bool running;
	int ep, wake;
	unsigned ntags;
	struct tag tags[LISTEN_MAX];
	bool listen_paused;
	uint64_t listen_resume;
	uint64_t accept_err_logged, last_log;
	unsigned nconns;
	struct conn *conns;
	struct p53_ctx ctx;
	struct p53_abuse abuse;		 /* cookies only: no rate limiter */
	uint32_t now_s;			 /* wall-clock seconds, read once per epoll batch */
	uint64_t now;			 /* monotonic ms of this batch (DoH's callbacks) */
	const struct p53_snapshot *snap; /* this batch's (DoH's callbacks) */
	uint64_t next_id;
	struct sockaddr_storage laddr[LISTEN_MAX]; /* by tag index (views by listener) */
	pthread_mutex_t inbox_lock;
	struct reply *inbox, **inbox_tail;
	_Atomic(bool) inbox_ready;
	uint64_t c[TCPSRV_C__COUNT];
	struct doh_stats doh;
	uint64_t doh_queries;
	uint8_t doh_scratch[2 * P53_MSG_MAX]; /* DoH: a decoded query, its answer */
	uint8_t rbuf[16384];		      /* DoH reads (a TLS record at most) */
	/* An answer with its two-byte length in front, sent from here when
	 * nothing is queued before it. */
	uint8_t frame[2 + P53_MSG_MAX];
};

static const char *const ctr_names[TCPSRV_C__COUNT] = {
    [TCPSRV_ACCEPTED] = "accepted",
    [TCPSRV_QUERIES] = "queries",
    [TCPSRV_REFUSED_LIMIT] = "refused_conn_limit",
    [TCPSRV_REFUSED_SOURCE] = "refused_per_source",
    [TCPSRV_EVICTED_IDLE] = "evicted_idle",
    [TCPSRV_CLOSED_IDLE] = "closed_idle",
    [TCPSRV_CLOSED_DEADLINE] = "closed_deadline",
    [TCPSRV_CLOSED_LIFETIME] = "closed_lifetime",
    [TCPSRV_CLOSED_BAD] = "closed_bad_message",
    [TCPSRV_BACKLOG_PAUSES] = "backlog_pauses",
    [TCPSRV_ACCEPT_ERRORS] = "accept_errors",
};

void tcpsrv_limits_default(struct tcpsrv_limits *l)
{
	*l = (struct tcpsrv_limits){
	    .max_conns = 256,
	    .per_source = 16,
	    .idle_ms = 10000,
	    .msg_ms = 5000,
	    .lifetime_ms = 120000,
	    .out_max = 65536,
	    .accept_backoff_ms = 250,
	};
}

static void bump(struct tcpsrv *t, enum tcpsrv_ctr c)
{
	__atomic_store_n(&t->c[c], t->c[c] + 1, __ATOMIC_RELAXED);
}

uint64_t tcpsrv_ctr(const struct tcpsrv *t, enum tcpsrv_ctr c)
{
	return __atomic_load_n(&t->c[c], __ATOMIC_RELAXED);
}

uint64_t tcpsrv_doh_queries(const struct tcpsrv *t)
{
	return __atomic_load_n(&t->doh_queries, __ATOMIC_RELAXED);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void client_from(const struct sockaddr_storage *ss, struct conn *c)
{
	ksock_client(ss, P53_TCP, &c->client);
	memset(c->src, 0, sizeof(c->src));
	if (c->client.family == 4) {
		memcpy(c->src, c->client.addr, 4);
		c->src[7] = 4;
	} else if (c->client.family == 6) {
		/* One host usually has a /64: count by it. */
		memcpy(c->src, c->client.addr, 8);
	}
}

static size_t conn_pending(const struct conn *c)
{
	return c->h2 ? doh_pending(c->h2) : tcpframe_pending(&c->out);
}

static void set_events(struct tcpsrv *t, struct conn *c)
{
	uint32_t ev = 0;
	if (c->h2) {
		/* HTTP/2 is read while draining too: the client's window
		 * updates and the rest of its requests. */
		if (!doh_paused(c->h2) && !c->eof)
			ev |= EPOLLIN;
	} else if (c->state == C_LINGER || (c->state == C_OPEN && !c->paused && !c->eof)) {
		ev |= EPOLLIN;
	}
	if (conn_pending(c))
		ev |= EPOLLOUT;
	if (c->tls && c->state != C_LINGER) {
		/* A handshake or a record in progress, whatever the DNS
		 * state says. */
		if (c->tls_want & DOT_WANT_READ)
			ev |= EPOLLIN;
		if (c->tls_want & DOT_WANT_WRITE)
			ev |= EPOLLOUT;
	}
	if (ev == c->ev)
		return;
	struct epoll_event e = {.events = ev, .data.ptr = &c->tag};
	epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &e);
	c->ev = ev;
}

static void conn_close(struct tcpsrv *t, struct conn *c)
{
	/* close() takes the descriptor out of the epoll set: it is never
	 * duplicated. */
	doh_sess_free(c->h2);
	dot_conn_free(c->tls);
	xfrout_job_free(c->job);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	tcpframe_out_free(&c->out);
	if (c->in != c->inbuf)
		free(c->in);
	free(c);
	t->nconns--;
}

static void log_limited(struct tcpsrv *t, const char *what, int e)
{
	uint64_t now = now_ms(); /* for log spacing only */
	if (t->last_log && now - t->last_log < LOG_EVERY_MS)
		return;
	uint64_t n = t->c[TCPSRV_ACCEPT_ERRORS];
	fprintf(stderr, "%s: tcp: %s: %s; pausing accepts for %u ms (%llu such errors so far)\n",
		t->cfg.name, what, strerror(e), t->cfg.lim.accept_backoff_ms,
		(unsigned long long)n);
	t->last_log = now;
}

static void listeners_enable(struct tcpsrv *t, bool on)
{
	for (unsigned i = 0; i < t->ntags; i++) {
		if (t->tags[i].kind != T_LISTEN && t->tags[i].kind != T_LISTEN_TLS &&
		    t->tags[i].kind != T_LISTEN_DOH)
			continue;
		struct epoll_event e = {.events = on ? EPOLLIN : 0, .data.ptr = &t->tags[i]};
		epoll_ctl(t->ep, EPOLL_CTL_MOD, t->tags[i].fd, &e);
	}
	t->listen_paused = !on;
}

/* RFC 7766 6.2.3: under pressure, close the connection idle longest. */
static struct conn *oldest_idle(struct tcpsrv *t)
{
	struct conn *best = NULL;
	for (struct conn *c = t->conns; c; c = c->next)
		if (c->state == C_OPEN && c->inlen == 0 && conn_pending(c) == 0 &&
		    c->pending == 0 && (c->h2 == NULL || doh_streams(c->h2) == 0) &&
		    (best == NULL || c->idle_since < best->idle_since))
			best = c;
	return best;
}

static unsigned source_count(struct tcpsrv *t, const uint8_t src[8])
{
	unsigned n = 0;
	for (struct conn *c = t->conns; c; c = c->next)
		n += memcmp(c->src, src, 8) == 0;
	return n;
}

static bool on_conn(struct tcpsrv *t, struct conn *c, uint32_t events,
		    const struct p53_snapshot *snap, uint64_t now);
static bool settle(struct tcpsrv *t, struct conn *c, uint64_t now);

static const struct doh_ops doh_ops;

static void on_accept(struct tcpsrv *t, int lfd, unsigned lidx, enum tag_kind kind,
		      const struct p53_snapshot *snap, uint64_t now)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
				/* The connection stays in the backlog and the
				 * listener stays readable: without a pause this
				 * thread would spin on it. */
				bump(t, TCPSRV_ACCEPT_ERRORS);
				log_limited(t, "accept", e);
				listeners_enable(t, false);
				t->listen_resume = now + t->cfg.lim.accept_backoff_ms;
			}
			return;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->in = c->inbuf;
		c->incap = sizeof(c->inbuf);
		client_from(&ss, c);
		if (source_count(t, c->src) >= t->cfg.lim.per_source) {
			bump(t, TCPSRV_REFUSED_SOURCE);
			free(c);
			close(fd);
			continue;
		}
		if (t->nconns >= t->cfg.lim.max_conns) {
			struct conn *victim = oldest_idle(t);
			if (victim == NULL) {
				bump(t, TCPSRV_REFUSED_LIMIT);
				free(c);
				close(fd); /* the client retries later or over UDP */
				continue;
			}
			bump(t, TCPSRV_EVICTED_IDLE);
			conn_close(t, victim);
		}
		c->fd = fd;
		c->srv = t;
		c->id = ++t->next_id;
		c->lidx = lidx;
		c->born = c->idle_since = now;
		c->tag = (struct tag){T_CONN, fd, c};
		/* The handshake runs in the first reads; until it is done the
		 * idle deadline bounds how long it may take. */
		bool tls = kind != T_LISTEN;
		if (tls && (c->tls = dot_conn_new(
				kind == T_LISTEN_DOH ? t->cfg.doh_tls : t->cfg.tls, fd)) == NULL) {
			free(c);
			close(fd);
			continue;
		}
		/* HTTP/2's SETTINGS go out with the first write, which
		 * finishes the handshake. */
		if (kind == T_LISTEN_DOH &&
		    (c->h2 = doh_sess_new(&t->cfg.doh, &doh_ops, c, &t->doh, t->doh_scratch,
					  sizeof(t->doh_scratch))) == NULL) {
			dot_conn_free(c->tls);
			free(c);
			close(fd);
			continue;
		}
		/* HTTP/2 multiplexes: an answer must not wait behind an
		 * unacknowledged one (Nagle and the client's delayed ACK). */
		if (kind == T_LISTEN_DOH)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
		c->ev = EPOLLIN;
		struct epoll_event e = {.events = c->ev, .data.ptr = &c->tag};
		if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
			doh_sess_free(c->h2);
			dot_conn_free(c->tls);
			free(c);
			close(fd);
			continue;
		}
		c->next = t->conns;
		if (t->conns)
			t->conns->prev = c;
		t->conns = c;
		t->nconns++;
		bump(t, TCPSRV_ACCEPTED);
		/* A client's first query often arrives with the handshake's
		 * last ACK: read it now rather than after another epoll round
		 * (an empty socket costs one EAGAIN). */
		if (!tls && (!on_conn(t, c, EPOLLIN, snap, now) || !settle(t, c, now)))
			conn_close(t, c);
	}
}

/* Writes the two-byte length of the len-byte message in t->frame. */
static void set_len(struct tcpsrv *t, size_t len)
{
	t->frame[0] = (uint8_t)(len >> 8);
	t->frame[1] = (uint8_t)len;
}

/* Appends the message in t->frame (len bytes after its length) to c's
 * output. */
static bool queue(struct tcpsrv *t, struct conn *c, size_t len, uint64_t now)
{
	if (tcpframe_pending(&c->out) == 0)
		c->out_since = now;
	return tcpframe_push(&c->out, t->frame, 2 + len) == 0;
}

/* recv() and send(), or the same through the TLS session. */
static ssize_t conn_recv(struct conn *c, void *buf, size_t len)
{
	if (c->tls)
		return dot_read(c->tls, buf, len, &c->tls_want);
	return recv(c->fd, buf, len, 0);
}

static ssize_t conn_send(struct conn *c, const void *buf, size_t len)
{
	if (c->tls)
		return dot_write(c->tls, buf, len, &c->tls_want);
	return send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* The framing (tcpframe.c) calls back for each message, for the transfer
 * in progress and to send. */
struct frame_arg {
	struct tcpsrv *t;
	struct conn *c;
	const struct p53_snapshot *snap;
	uint64_t now;
};

static ssize_t frame_send(void *arg, const uint8_t *buf, size_t len)
{
	struct frame_arg *a = arg;
	ssize_t n = conn_send(a->c, buf, len);
	if (n < 0)
		return would_block() ? 0 : -1;
	a->c->out_since = a->now; /* progress */
	return n;
}

static int frame_pump(void *arg, struct tcpframe_out *o, size_t out_max);
static enum tcpframe_verdict frame_answer(void *arg, const uint8_t *q, size_t ml, uint8_t *resp,
					  size_t cap, size_t *rlen);
static const struct tcpframe_ops frame_ops = {
    .pump = frame_pump, .answer = frame_answer, .send = frame_send};

/* false: close now. */
static bool flush(struct conn *c, uint64_t now)
{
	struct frame_arg a = {.c = c, .now = now};
	return tcpframe_flush(&c->out, &frame_ops, &a);
}

static void log_query(struct tcpsrv *t, struct conn *c, const uint8_t *q, size_t qlen,
		      const uint8_t *resp, size_t r)
{
	struct qlog_rec rec;
	qlog_rec_from(q, qlen, resp, r, &c->client, &rec);
	rec.fw_rule = t->ctx.fw_rule;
	qlog_push(t->cfg.qlog, &rec);
}

/* Queues a transfer's next messages while the backlog allows; false:
 * close now. The queries behind it wait, answers stay in order. */
static bool pump(struct tcpsrv *t, struct conn *c, uint64_t now)
{
	while (c->job && tcpframe_pending(&c->out) <= t->cfg.lim.out_max) {
		size_t r = xfrout_next(c->job, t->frame + 2, sizeof(t->frame) - 2);
		if (r == 0) {
			xfrout_job_free(c->job);
			c->job = NULL;
			break;
		}
		set_len(t, r);
		if (!queue(t, c, r, now) || !flush(c, now))
			return false;
	}
	return true;
}

static int frame_pump(void *arg, struct tcpframe_out *o, size_t out_max)
{
	struct frame_arg *a = arg;
	(void)o;
	(void)out_max;
	if (a->c->job && !pump(a->t, a->c, a->now))
		return -1;
	return a->c->job != NULL;
}

/* The engine's answer to q from the snapshot the client's view picks; 0
 * with *later set when the resolver took the query instead (it answers
 * through tcpsrv_deliver with token, and logs it). */
static size_t engine_answer(struct tcpsrv *t, struct conn *c, const struct p53_snapshot *snap,
			    const uint8_t *q, size_t ml, uint8_t *resp, size_t cap, uint64_t token,
			    bool *later)
{
	const struct tcpsrv_route *rt = t->cfg.route;
	const struct p53_snapshot *use = snap;
	int view = -1;
	if (rt && rt->pick)
		use = rt->pick(rt->arg, &c->client, &t->laddr[c->lidx], q, ml, snap, &view);
	/* A private snapshot's health checks are not tracked: all healthy. */
	const uint8_t *health = t->ctx.health;
	if (use != snap)
		t->ctx.health = NULL;
	size_t r = p53_answer(use, q, ml, &c->client, &t->ctx, resp, cap);
	t->ctx.health = health;
	if (r && rt && rt->hand_over &&
	    rt->hand_over(rt->arg, view, &c->client, &t->laddr[c->lidx], q, ml, resp, r,
			  t->ctx.fw_rule, t, token)) {
		c->pending++;
		*later = true;
		return 0;
	}
	return r;
}

static enum tcpframe_verdict frame_answer(void *arg, const uint8_t *q, size_t ml, uint8_t *resp,
					  size_t cap, size_t *rlen)
{
	struct frame_arg *a = arg;
	struct tcpsrv *t = a->t;
	struct conn *c = a->c;
	bool logq = t->cfg.qlog && qlog_sampled(t->cfg.qlog);
	size_t r = 0;
	enum xfrout_rc xr =
	    xfrout_query(t->cfg.xfr, q, ml, &c->client, c->tls != NULL, resp, cap, &r, &c->job);
	/* NOTIFY (opcode 4) to a secondary zone: one answer. */
	if (xr == XFROUT_PASS && t->cfg.notify && ml >= 12 && (q[2] & 0x78) == 0x20 &&
	    xfrin_notify(t->cfg.notify, q, ml, &c->client, resp, cap, &r))
		xr = XFROUT_ANSWER;
	bump(t, TCPSRV_QUERIES);
	if (xr != XFROUT_PASS) {
		c->idle_since = a->now;
		if (xr != XFROUT_ANSWER || r == 0)
			return TCPFRAME_SILENT;
	} else {
		bool later = false;
		r = engine_answer(t, c, a->snap, q, ml, resp, cap, c->id, &later);
		if (later) {
			/* The resolver answers it later (tcpsrv_deliver) and logs it. */
			c->idle_since = a->now;
			return TCPFRAME_SILENT;
		}
		/* RFC 7828: the idle timeout, for clients that ask. */
		if (r)
			r = keepalive_add(
			    q, ml, resp, r, cap,
			    keepalive_timeout(t->cfg.lim.idle_ms, t->nconns, t->cfg.lim.max_conns));
		if (logq)
			log_query(t, c, q, ml, resp, r);
		if (r && t->abuse.secret)
			r = p53_abuse_apply(&t->abuse, &t->ctx.last, &c->client, NULL, resp, r, cap,
					    (uint32_t)a->now, t->now_s);
		/* Not a query: nothing can follow it on this stream, but
		 * what was answered before it still goes out. */
		if (r == 0)
			return TCPFRAME_BAD;
		c->idle_since = a->now;
	}
	if (tcpframe_pending(&c->out) == 0)
		c->out_since = a->now;
	*rlen = r;
	return TCPFRAME_ANSWER;
}

/* Answers complete messages in the input buffer while the backlog allows
 * (tcpframe_run): answers to pipelined queries are gathered and written
 * together; the last (or only) one goes out from the frame buffer when
 * nothing is queued. */
static bool answer_buffered(struct tcpsrv *t, struct conn *c, const struct p53_snapshot *snap,
			    uint64_t now)
{
	size_t off = 0;
	if (c->state == C_OPEN) {
		struct frame_arg a = {t, c, snap, now};
		switch (tcpframe_run(&c->out, t->frame, sizeof(t->frame), c->in, c->inlen,
				     t->cfg.lim.out_max, &frame_ops, &a, &off)) {
		case TCPFRAME_CLOSE:
			return false;
		case TCPFRAME_BACKLOG:
			if (!c->paused)
				bump(t, TCPSRV_BACKLOG_PAUSES);
			c->paused = true;
			break;
		case TCPFRAME_STOP_BAD:
			bump(t, TCPSRV_CLOSED_BAD);
			c->state = C_DRAIN;
			break;
		case TCPFRAME_MORE:
			break;
		}
	} else if (!flush(c, now)) {
		return false;
	}
	if (c->job && !pump(t, c, now))
		return false;
	if (c->job == NULL && tcpframe_pending(&c->out) <= t->cfg.lim.out_max)
		c->paused = false;
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	if (c->inlen == 0)
		c->msg_since = 0;
	else if (off || c->msg_since == 0)
		c->msg_since = now; /* a new message started */
	/* A message longer than the inline buffer: give it room. */
	if (c->in == c->inbuf && c->inlen >= 2 &&
	    2 + ((size_t)c->in[0] << 8 | c->in[1]) > sizeof(c->inbuf)) {
		uint8_t *p = malloc(IN_CAP);
		if (p == NULL)
			return false;
		memcpy(p, c->in, c->inlen);
		c->in = p;
		c->incap = IN_CAP;
	}
	return true;
}

/* false: close now. */
static bool on_conn(struct tcpsrv *t, struct conn *c, uint32_t events,
		    const struct p53_snapshot *snap, uint64_t now)
{
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		return false;
	if (c->state == C_LINGER) {
		uint8_t sink[4096];
		ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
		return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
	}
	if ((events & EPOLLOUT) && !flush(c, now))
		return false;
	if (c->job && !pump(t, c, now))
		return false;
	/* A TLS session may want the socket writable to go on reading (its
	 * handshake flight did not fit), and may hold decrypted records the
	 * socket no longer signals: read again while it yields bytes. Plain
	 * TCP reads again only while reads fill the buffer. */
	bool readable =
	    (events & EPOLLIN) || (c->tls && (c->tls_want & DOT_WANT_WRITE) && (events & EPOLLOUT));
	for (int i = 0; readable && i < READS_MAX; i++) {
		if (c->state != C_OPEN || c->paused || c->eof || c->inlen >= c->incap)
			break;
		size_t want = c->incap - c->inlen;
		ssize_t n = conn_recv(c, c->in + c->inlen, want);
		if (n > 0)
			c->inlen += (size_t)n;
		else if (n == 0)
			c->eof = true; /* half-close after the last query */
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return false;
		if (n <= 0)
			break;
		if (!answer_buffered(t, c, snap, now))
			return false;
		if (!c->tls && (size_t)n < want)
			break;
	}
	if (c->state == C_OPEN && !answer_buffered(t, c, snap, now))
		return false;
	return true;
}

/* DNS over HTTPS: doh.c runs HTTP/2 and calls back here. */
static enum doh_verdict doh_answer(void *arg, int32_t sid, const uint8_t *q, size_t ml,
				   uint8_t *resp, size_t cap, size_t *rlen)
{
	struct conn *c = arg;
	struct tcpsrv *t = c->srv;
	if (t->snap == NULL)
		return DOH_DROP;
	bool logq = t->cfg.qlog && qlog_sampled(t->cfg.qlog);
	__atomic_store_n(&t->doh_queries, t->doh_queries + 1, __ATOMIC_RELAXED);
	c->idle_since = t->now;
	bool later = false;
	uint64_t token = DOH_TOKEN | (c->id & 0xffffffffu) << 31 | (uint32_t)sid;
	size_t r = engine_answer(t, c, t->snap, q, ml, resp, cap, token, &later);
	if (later)
		return DOH_LATER;
	if (logq)
		log_query(t, c, q, ml, resp, r);
	if (r && t->abuse.secret)
		r = p53_abuse_apply(&t->abuse, &t->ctx.last, &c->client, NULL, resp, r, cap,
				    (uint32_t)t->now, t->now_s);
	if (r == 0) /* a firewall DROP has no answer; anything else was no query */
		return t->ctx.fw_rule != UINT32_MAX ? DOH_DROP : DOH_BAD;
	*rlen = r;
	return DOH_ANSWER;
}

static ssize_t doh_send(void *arg, const uint8_t *buf, size_t len)
{
	struct conn *c = arg;
	ssize_t n = conn_send(c, buf, len);
	if (n < 0)
		return would_block() ? 0 : -1;
	c->out_since = c->srv->now; /* progress */
	return n;
}

static const struct doh_ops doh_ops = {.answer = doh_answer, .send = doh_send};

/* Answers what is ready and writes; false: close now. */
static bool doh_pump(struct conn *c, uint64_t now)
{
	bool was = doh_pending(c->h2) != 0;
	if (!doh_flush(c->h2, now))
		return false;
	if (!was && doh_pending(c->h2))
		c->out_since = now; /* the output deadline starts */
	return true;
}

/* false: close now. */
static bool on_doh(struct tcpsrv *t, struct conn *c, uint32_t events, uint64_t now)
{
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		return false;
	/* Output first: it may lift a pause on reading. TLS may hold
	 * decrypted bytes the socket no longer signals, so reading is tried
	 * whatever the event (an empty socket costs one EAGAIN). */
	if (!doh_pump(c, now))
		return false;
	for (int i = 0; i < READS_MAX && !c->eof && !doh_paused(c->h2); i++) {
		ssize_t n = conn_recv(c, t->rbuf, sizeof(t->rbuf));
		if (n == 0) {
			c->eof = true;
			break;
		}
		if (n < 0) {
			if (would_block())
				break;
			return false;
		}
		if (!doh_feed(c->h2, t->rbuf, (size_t)n, now)) {
			doh_pump(c, now); /* nghttp2's GOAWAY, best effort */
			return false;
		}
	}
	if (doh_streams(c->h2))
		c->idle_since = now;
	return doh_pump(c, now);
}

/* After any event or timer: finish draining connections, re-arm epoll.
 * false: close now. */
static bool settle(struct tcpsrv *t, struct conn *c, uint64_t now)
{
	if (c->h2) {
		if (c->eof && c->state == C_OPEN)
			c->state = C_DRAIN;
		bool quiet = doh_pending(c->h2) == 0 && c->pending == 0;
		if ((quiet && doh_finished(c->h2)) || (quiet && c->eof) ||
		    (quiet && c->state == C_DRAIN && doh_streams(c->h2) == 0)) {
			dot_shutdown(c->tls);
			return false;
		}
		set_events(t, c);
		return true;
	}
	/* Input ended and every complete query is answered. */
	if (c->state == C_OPEN && c->eof && !c->paused)
		c->state = C_DRAIN;
	if (c->state == C_DRAIN && tcpframe_pending(&c->out) == 0 && c->job == NULL &&
	    c->pending == 0) {
		if (c->tls)
			dot_shutdown(c->tls); /* close_notify before the FIN */
		/* The client has sent its FIN and everything before it was
		 * read: closing cannot reset the stream under our answers, so
		 * there is nothing to linger for. */
		if (c->eof)
			return false;
		shutdown(c->fd, SHUT_WR);
		c->state = C_LINGER;
		c->linger_until = now + LINGER_MS;
	}
	set_events(t, c);
	return true;
}

static void timers(struct tcpsrv *t, uint64_t now)
{
	const struct tcpsrv_limits *l = &t->cfg.lim;
	for (struct conn *c = t->conns, *next; c; c = next) {
		next = c->next;
		enum tcpsrv_ctr why = TCPSRV_C__COUNT;
		bool pending_out = conn_pending(c) != 0;
		if (c->h2) {
			if (pending_out && now - c->out_since > l->msg_ms) {
				why = TCPSRV_CLOSED_DEADLINE;
			} else if (c->state == C_OPEN && !pending_out && c->pending == 0 &&
				   doh_streams(c->h2) == 0 && now - c->idle_since > l->idle_ms) {
				why = TCPSRV_CLOSED_IDLE;
				doh_goaway(c->h2); /* RFC 9113 6.8, best effort */
				doh_pump(c, now);
			} else {
				if (c->state == C_OPEN && now - c->born > l->lifetime_ms) {
					/* No new stream; the open ones finish. */
					bump(t, TCPSRV_CLOSED_LIFETIME);
					c->state = C_DRAIN;
					doh_goaway(c->h2);
				}
				doh_expire(c->h2, now);
				if (!doh_pump(c, now) || !settle(t, c, now))
					conn_close(t, c);
				continue;
			}
			bump(t, why);
			conn_close(t, c);
			continue;
		}
		if (c->state == C_LINGER) {
			if (now >= c->linger_until) {
				conn_close(t, c);
				continue;
			}
		} else if (pending_out && now - c->out_since > l->msg_ms) {
			why = TCPSRV_CLOSED_DEADLINE;
		} else if (c->state == C_OPEN && !c->paused && c->msg_since &&
			   now - c->msg_since > l->msg_ms) {
			why = TCPSRV_CLOSED_DEADLINE;
		} else if (c->state == C_OPEN && !pending_out && c->inlen == 0 && c->pending == 0 &&
			   now - c->idle_since > l->idle_ms) {
			why = TCPSRV_CLOSED_IDLE;
		} else if (c->state == C_OPEN && now - c->born > l->lifetime_ms) {
			/* Stop reading; what is queued is still sent. */
			bump(t, TCPSRV_CLOSED_LIFETIME);
			c->state = C_DRAIN;
			if (!settle(t, c, now)) {
				conn_close(t, c);
				continue;
			}
		}
		if (why != TCPSRV_C__COUNT) {
			bump(t, why);
			conn_close(t, c);
		}
	}
	if (t->listen_paused && now >= t->listen_resume)
		listeners_enable(t, true);
}

void tcpsrv_deliver(struct tcpsrv *t, uint64_t token, const uint8_t *resp, size_t len)
{
	struct reply *rp = malloc(sizeof(*rp) + len);
	if (rp == NULL)
		return; /* the connection's deadlines close it */
	rp->next = NULL;
	rp->token = token;
	rp->len = len;
	if (len)
		memcpy(rp->data, resp, len);
	pthread_mutex_lock(&t->inbox_lock);
	*t->inbox_tail = rp;
	t->inbox_tail = &rp->next;
	atomic_store_explicit(&t->inbox_ready, true, memory_order_release);
	pthread_mutex_unlock(&t->inbox_lock);
	uint64_t one = 1;
	if (write(t->wake, &one, sizeof(one)) < 0) {
		/* the 100 ms tick drains it too */
	}
}

/* Queues the resolver's responses on their connections. */
static void drain_inbox(struct tcpsrv *t, uint64_t now)
{
	if (!atomic_load_explicit(&t->inbox_ready, memory_order_acquire))
		return;
	pthread_mutex_lock(&t->inbox_lock);
	struct reply *rp = t->inbox;
	t->inbox = NULL;
	t->inbox_tail = &t->inbox;
	atomic_store_explicit(&t->inbox_ready, false, memory_order_relaxed);
	pthread_mutex_unlock(&t->inbox_lock);
	while (rp) {
		struct reply *next = rp->next;
		struct conn *c = t->conns;
		if (rp->token & DOH_TOKEN) {
			uint32_t cid = (uint32_t)(rp->token >> 31);
			while (c && (c->h2 == NULL || (uint32_t)c->id != cid))
				c = c->next;
			if (c && c->pending) {
				c->pending--;
				doh_deliver(c->h2, (int32_t)(rp->token & 0x7fffffff), rp->data,
					    rp->len, now);
				if (!doh_pump(c, now) || !settle(t, c, now))
					conn_close(t, c);
			}
			free(rp);
			rp = next;
			continue;
		}
		while (c && c->id != rp->token)
			c = c->next;
		if (c && c->pending) {
			c->pending--;
			bool ok = true;
			if (rp->len && rp->len <= sizeof(t->frame) - 2 && c->state != C_LINGER) {
				memcpy(t->frame + 2, rp->data, rp->len);
				set_len(t, rp->len);
				ok = queue(t, c, rp->len, now) && flush(c, now);
			}
			if (!ok || !settle(t, c, now))
				conn_close(t, c);
		}
		free(rp);
		rp = next;
	}
}

static void sync_load(struct tcpsrv *t, const struct snapmgr_live *live)
{
	const struct control_load *ld = live ? live->state : NULL;
	t->ctx.health = ld ? ld->health : NULL;
	t->ctx.nhealth = ld ? ld->nhealth : 0;
	t->ctx.zone_dead = ld ? ld->zone_dead : NULL;
	t->ctx.nzone_dead = ld ? ld->nzone_dead : 0;
	t->ctx.fw = ld ? ld->fw : NULL;
	t->ctx.osign = ld ? ld->osign : NULL;
}

static void *tcp_main(void *arg)
{
	struct tcpsrv *t = arg;
	uint64_t last_timers = 0;
	while (__atomic_load_n(&t->running, __ATOMIC_ACQUIRE)) {
		struct epoll_event evs[64];
		/* Deadlines are checked every 100 ms at worst. */
		int n = epoll_wait(t->ep, evs, 64, 100);
		uint64_t now = now_ms();
		t->now_s = (uint32_t)time(NULL);
		qsbr_online(t->cfg.qsbr, t->cfg.reader_id);
		const struct snapmgr_live *live = snapmgr_current(t->cfg.mgr);
		sync_load(t, live);
		if (t->cfg.tls)
			dot_tls_adopt(t->cfg.tls); /* a reloaded certificate */
		const struct p53_snapshot *snap = live ? live->snap : NULL;
		if (t->cfg.doh_tls)
			dot_tls_adopt(t->cfg.doh_tls);
		t->now = now;
		t->snap = snap;
		/* Connections first: accepting may close an idle connection
		 * whose event is still in this batch (and a closed one's tag is
		 * gone, so listeners are noted before anything closes). Every
		 * time here is the one read at wake-up, so no timer sees a
		 * later start. */
		int lfds[64];
		enum tag_kind ltls[64];
		unsigned lidx[64];
		int nl = 0;
		for (int i = 0; i < n && snap; i++) {
			struct tag *g = evs[i].data.ptr;
			if (g->kind == T_LISTEN || g->kind == T_LISTEN_TLS ||
			    g->kind == T_LISTEN_DOH) {
				ltls[nl] = g->kind;
				lidx[nl] = (unsigned)(g - t->tags);
				lfds[nl++] = g->fd;
			} else if (g->kind == T_CONN) {
				struct conn *c = g->conn;
				bool ok = c->h2 ? on_doh(t, c, evs[i].events, now)
						: on_conn(t, c, evs[i].events, snap, now);
				if (!ok || !settle(t, c, now))
					conn_close(t, c);
			} else {
				uint64_t v;
				if (read(g->fd, &v, sizeof(v)) < 0)
					continue;
			}
		}
		for (int i = 0; i < nl; i++)
			on_accept(t, lfds[i], lidx[i], ltls[i], snap, now);
		drain_inbox(t, now);
		if (now - last_timers >= 100 || n == 0) {
			timers(t, now);
			last_timers = now;
		}
		t->ctx.health = NULL;
		t->ctx.fw = NULL;
		t->ctx.osign = NULL;
		t->ctx.zone_dead = NULL;
		t->snap = NULL;
		qsbr_offline(t->cfg.qsbr, t->cfg.reader_id);
	}
	return NULL;
}

static int spawn_default(pthread_t *th, const char *name, void *(*fn)(void *), void *arg)
{
	(void)name;
	return pthread_create(th, NULL, fn, arg);
}

static void free_all(struct tcpsrv *t)
{
	while (t->conns)
		conn_close(t, t->conns);
	while (t->inbox) {
		struct reply *next = t->inbox->next;
		free(t->inbox);
		t->inbox = next;
	}
	for (unsigned i = 0; i < t->ntags; i++)
		close(t->tags[i].fd);
	if (t->ep >= 0)
		close(t->ep);
	free(t);
}

struct tcpsrv *tcpsrv_start(const struct tcpsrv_cfg *cfg, struct p53_err *err)
{
	struct tcpsrv *t = calloc(1, sizeof(*t));
	if (t == NULL || cfg->nfds + cfg->ntls_fds + cfg->ndoh_fds + 1 > LISTEN_MAX ||
	    (cfg->ntls_fds && cfg->tls == NULL) || (cfg->ndoh_fds && cfg->doh_tls == NULL)) {
		for (size_t i = 0; i < cfg->nfds; i++)
			close(cfg->fds[i]);
		for (size_t i = 0; i < cfg->ntls_fds; i++)
			close(cfg->tls_fds[i]);
		for (size_t i = 0; i < cfg->ndoh_fds; i++)
			close(cfg->doh_fds[i]);
		free(t);
		p53_err_set(err, P53_ENOMEM, "tcp: out of memory or too many listeners");
		return NULL;
	}
	t->cfg = *cfg;
	t->inbox_tail = &t->inbox;
	pthread_mutex_init(&t->inbox_lock, NULL);
	t->cfg.fds = NULL;
	t->cfg.tls_fds = NULL;
	t->cfg.doh_fds = NULL;
	if (t->cfg.name == NULL)
		t->cfg.name = "port53";
	struct tcpsrv_limits def;
	tcpsrv_limits_default(&def);
	struct tcpsrv_limits *l = &t->cfg.lim;
	if (!l->max_conns)
		l->max_conns = def.max_conns;
	if (!l->per_source)
		l->per_source = def.per_source;
	if (!l->idle_ms)
		l->idle_ms = def.idle_ms;
	if (!l->msg_ms)
		l->msg_ms = def.msg_ms;
	if (!l->lifetime_ms)
		l->lifetime_ms = def.lifetime_ms;
	if (!l->out_max)
		l->out_max = def.out_max;
	if (!l->accept_backoff_ms)
		l->accept_backoff_ms = def.accept_backoff_ms;
	if (!t->cfg.doh.msg_ms)
		t->cfg.doh.msg_ms = l->msg_ms;
	if (!t->cfg.doh.out_max)
		t->cfg.doh.out_max = l->out_max;
	p53_ctx_init(&t->ctx, cfg->answer, now_ms() ^ 0x5bd1e995u);
	t->ctx.worker = cfg->worker;
	t->abuse.secret = cfg->cookies;
	t->ctx.cookies = cfg->cookies != NULL;
	t->ep = epoll_create1(EPOLL_CLOEXEC);
	t->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	for (size_t i = 0; i < cfg->nfds; i++)
		t->tags[t->ntags++] = (struct tag){T_LISTEN, cfg->fds[i], NULL};
	for (size_t i = 0; i < cfg->ntls_fds; i++)
		t->tags[t->ntags++] = (struct tag){T_LISTEN_TLS, cfg->tls_fds[i], NULL};
	for (size_t i = 0; i < cfg->ndoh_fds; i++)
		t->tags[t->ntags++] = (struct tag){T_LISTEN_DOH, cfg->doh_fds[i], NULL};
	for (unsigned i = 0; i < t->ntags; i++) {
		socklen_t sl = sizeof(t->laddr[i]);
		if (getsockname(t->tags[i].fd, (struct sockaddr *)&t->laddr[i], &sl) != 0)
			memset(&t->laddr[i], 0, sizeof(t->laddr[i]));
	}
	if (t->wake >= 0)
		t->tags[t->ntags++] = (struct tag){T_WAKE, t->wake, NULL};
	if (t->ep < 0 || t->wake < 0) {
		p53_err_set(err, P53_EIO, "tcp: epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	for (unsigned i = 0; i < t->ntags; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = &t->tags[i]};
		if (epoll_ctl(t->ep, EPOLL_CTL_ADD, t->tags[i].fd, &e) != 0) {
			p53_err_set(err, P53_EIO, "tcp: epoll: %s", strerror(errno));
			goto fail;
		}
	}
	if (qsbr_reader_register(t->cfg.qsbr, t->cfg.reader_id) != 0) {
		p53_err_set(err, P53_EINVAL, "tcp: QSBR reader %u unavailable", t->cfg.reader_id);
		goto fail;
	}
	t->running = true;
	int (*spawn)(pthread_t *, const char *, void *(*)(void *), void *) =
	    cfg->spawn ? cfg->spawn : spawn_default;
	if (spawn(&t->thread, "p53-tcp", tcp_main, t) != 0) {
		qsbr_reader_unregister(t->cfg.qsbr, t->cfg.reader_id);
		p53_err_set(err, P53_EIO, "tcp: cannot start its thread");
		goto fail;
	}
	return t;
fail:
	free_all(t);
	return NULL;
}

void tcpsrv_stop(struct tcpsrv *t)
{
	if (t == NULL)
		return;
	__atomic_store_n(&t->running, false, __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (write(t->wake, &one, sizeof(one)) < 0) {
		/* the 100 ms tick notices too */
	}
	pthread_join(t->thread, NULL);
	qsbr_reader_unregister(t->cfg.qsbr, t->cfg.reader_id);
	free_all(t);
}

void tcpsrv_counters(const struct tcpsrv *t, api_emit_fn emit, void *sink)
{
	api_emit_engine(emit, sink, t->cfg.worker, t->ctx.stats);
	for (int i = 0; i < TCPSRV_C__COUNT; i++)
		emit(sink, "tcp", "event", ctr_names[i], t->cfg.worker,
		     tcpsrv_ctr(t, (enum tcpsrv_ctr)i));
	if (t->cfg.doh_tls) {
		emit(sink, "transport_queries", "transport", "doh", t->cfg.worker,
		     tcpsrv_doh_queries(t));
		for (int i = 0; i < DOH_C__COUNT; i++)
			emit(sink, "doh", "event", doh_ctr_name((enum doh_ctr)i), t->cfg.worker,
			     __atomic_load_n(&t->doh.c[i], __ATOMIC_RELAXED));
		struct dot_stats st;
		dot_tls_stats(t->cfg.doh_tls, &st);
		emit(sink, "doh", "event", "handshakes", t->cfg.worker, st.handshakes);
		emit(sink, "doh", "event", "handshake_failures", t->cfg.worker, st.failures);
		emit(sink, "doh", "event", "alpn_refused", t->cfg.worker, st.alpn_refused);
	}
	if (t->abuse.secret) /* cookies on TCP; never rate limited */
		for (int i = P53_AB_COOKIE_CLIENT; i <= P53_AB_COOKIE_BAD; i++)
			emit(sink, "abuse", "outcome", p53_abuse_stat_name((enum p53_abuse_stat)i),
			     t->cfg.worker, __atomic_load_n(&t->abuse.stats[i], __ATOMIC_RELAXED));
}
