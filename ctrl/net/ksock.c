/* `port53 serve`: UDP on this thread, TCP on a tcpsrv thread, everything
 * else on the shared control side (control.h), the same as port53d's.
 *
 * This thread is the UDP answering thread and one QSBR reader; it takes the
 * live snapshot and its per-load state once per loop iteration and is
 * offline while it sleeps in epoll_wait. It never loads anything: SIGHUP,
 * API pushes and the watched directory load on control threads, and a swap
 * waits at most for the iteration in progress here (a bounded batch of
 * datagrams), so answering never pauses for a reload.
 */
#include "ctrl/net/ksock.h"
#include "ctrl/api/lathist.h"

#include "ctrl/control.h"
#include "ctrl/qlog/qlog.h"
#include "ctrl/resolv/rconf.h"
#include "ctrl/resolv/resolver.h"
#include "ctrl/snap/qsbr.h"
#include "ctrl/snap/snapmgr.h"
#include "ctrl/net/dot.h"
#include "ctrl/net/tcpsrv.h"
#include "ctrl/xfr/xfrin.h"
#include "zones/answer/fw.h"
#include "zones/common/portset.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_MAX   64
#define UDP_READER   0 /* QSBR reader ids and worker numbers */
#define TCP_READER   1
#define RES_READER   2	  /* the resolver thread, when there is one */
#define VIEW_UNKNOWN (-2) /* not looked up yet (rconf_view_of: -1 = none) */

struct server {
	const struct ksock_cfg *cfg;
	struct qsbr *qsbr;
	struct control *ctl;
	struct xfrin *xfrin; /* NOTIFY for secondary zones; NULL = none */
	struct tcpsrv *tcp;
	struct qlog_ring *qring; /* UDP's ring; NULL = off */
	struct p53_ctx ctx;
	uint64_t udp_queries;  /* read by the API thread */
	uint64_t udp_bad_port; /* from a reflection source port: dropped */
	uint64_t udp_busy_ns;  /* read by the API thread, as lat */
	struct lathist lat;
	uint64_t udp_loops;	 /* node health's heartbeat, read by the control thread */
	struct p53_abuse abuse;	 /* RRL and cookies after each UDP answer */
	struct p53_portset drop; /* reflection source ports */
	int ep, stop_fd;
	unsigned nudp;
	int udp[LISTEN_MAX];
	struct sockaddr_storage udp_addr[LISTEN_MAX]; /* for views by listener */
	struct rconf *rconf;			      /* NULL: authoritative only */
	struct resolver *res;
	struct dot_tls *tls;	     /* DNS over TLS; NULL = none */
	struct dot_tls *doh_tls;     /* DNS over HTTPS (ALPN h2); NULL = none */
	bool private;		     /* some view has private zones */
	struct resolver_job job;     /* the one being handed over (UDP thread) */
	struct resolver_job tcp_job; /* the TCP thread's */
	struct tcpsrv_route route;
	uint8_t buf[P53_MSG_MAX];
	uint8_t resp[P53_MSG_MAX];
};

int ksock_parse_addr(const char *s, struct sockaddr_storage *ss, unsigned *len)
{
	char host[128];
	unsigned port = 53;
	const char *colon;
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || (size_t)(end - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = 0;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != 0 && colon == NULL)
			return -1;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			colon = NULL; /* bare IPv6 address */
		size_t hl = colon ? (size_t)(colon - s) : strlen(s);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, s, hl);
		host[hl] = 0;
	}
	if (colon) {
		char *e;
		unsigned long p = strtoul(colon + 1, &e, 10);
		if (*e || p == 0 || p > 65535)
			return -1;
		port = (unsigned)p;
	}
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return 0;
	}
	return -1;
}

void ksock_client(const struct sockaddr_storage *ss, uint8_t transport, struct p53_client *c)
{
	memset(c, 0, sizeof(*c));
	c->transport = transport;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *)ss;
		c->family = 4;
		c->port = ntohs(v4->sin_port);
		memcpy(c->addr, &v4->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const void *)ss;
		c->family = 6;
		c->port = ntohs(v6->sin6_port);
		memcpy(c->addr, &v6->sin6_addr, 16);
	}
}

int ksock_open(const char *spec, int type, struct p53_err *err)
{
	struct sockaddr_storage ss;
	unsigned len;
	if (ksock_parse_addr(spec, &ss, &len) != 0)
		return p53_err_set(err, P53_EINVAL, "bad listen address '%s'", spec);
	int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return p53_err_set(err, P53_EIO, "socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	bool stream = type == SOCK_STREAM;
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || (stream && listen(fd, 128) != 0)) {
		int e = errno;
		close(fd);
		return p53_err_set(err, P53_EIO, "%s %s (%s): %s", stream ? "listen" : "bind", spec,
				   stream ? "tcp" : "udp", strerror(e));
	}
	return fd;
}

/* Query log: the query buffer is still intact after answering here (the
 * response has its own), so the record is built afterwards. Dropped queries
 * (r == 0, e.g. a firewall DROP) are logged too, with no RCODE. */
static void log_query(struct server *sv, const uint8_t *q, size_t qlen, size_t r,
		      const struct p53_client *c)
{
	struct qlog_rec rec;
	qlog_rec_from(q, qlen, sv->resp, r, c, &rec);
	rec.fw_rule = sv->ctx.fw_rule;
	qlog_push(sv->qring, &rec);
}

/* A query the engine is not authoritative for, from a client in a view,
 * goes to the resolver thread instead of the engine's REFUSED or referral;
 * 1 when it was handed over (the resolver answers it), 0 when it is not
 * for the resolver, -1 when the resolver's ring is full. Runs only for
 * such answers, so authoritative answering pays one test of the header.
 * j is the calling thread's own job buffer, with the reply fields set. */
static int hand_over(struct server *sv, unsigned producer, struct resolver_job *j, int v,
		     const struct sockaddr_storage *local, const uint8_t *q, size_t qlen,
		     const struct p53_client *c, uint32_t fw_rule, const struct p53_fw *fw)
{
	/* RD clear: the authoritative answer. Only standard IN queries with
	 * one question are resolved; the rest keep the engine's answer. */
	if (qlen > RESOLVER_QMAX || qlen < 12 || !(q[2] & 1) || ((q[2] >> 3) & 15) != 0 ||
	    q[4] != 0 || q[5] != 1)
		return 0;
	size_t o = 12;
	while (o < qlen && q[o] != 0 && q[o] < 64)
		o += (size_t)q[o] + 1;
	if (o + 5 > qlen || q[o] != 0)
		return 0;
	uint16_t qtype = (uint16_t)(q[o + 1] << 8 | q[o + 2]);
	if ((q[o + 3] << 8 | q[o + 4]) != 1 || qtype == 251 || qtype == 252)
		return 0;
	if (v == VIEW_UNKNOWN)
		v = rconf_view_of(sv->rconf, c->family, c->addr, local);
	if (v < 0)
		return 0;
	if (resolver_fw_decided(fw, fw_rule))
		return 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	j->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	j->client = *c;
	j->view = (uint16_t)v;
	j->fw_rule = fw_rule;
	j->qlen = (uint16_t)qlen;
	memcpy(j->q, q, qlen);
	return resolver_submit(sv->res, producer, j) ? 1 : -1;
}

/* TCP and TLS (tcpsrv's route hooks), on the TCP thread. */
static const struct p53_snapshot *tcp_pick(void *arg, const struct p53_client *c,
					   const struct sockaddr_storage *local, const uint8_t *q,
					   size_t qlen, const struct p53_snapshot *pub, int *view)
{
	struct server *sv = arg;
	*view = VIEW_UNKNOWN;
	if (!sv->private)
		return pub;
	*view = rconf_view_of(sv->rconf, c->family, c->addr, local);
	return resolver_pick(sv->res, *view, q, qlen, pub);
}

static void tcp_reply(void *ctx, uint64_t token, const uint8_t *resp, size_t len)
{
	tcpsrv_deliver(ctx, token, resp, len);
}

static bool tcp_hand_over(void *arg, int view, const struct p53_client *c,
			  const struct sockaddr_storage *local, const uint8_t *q, size_t qlen,
			  const uint8_t *resp, size_t rlen, uint32_t fw_rule, struct tcpsrv *t,
			  uint64_t token)
{
	struct server *sv = arg;
	if (!resolver_wants(resp, rlen))
		return false;
	/* The TCP thread is an online reader here: the live firewall holds. */
	const struct snapmgr_live *live = snapmgr_current(control_mgr(sv->ctl));
	const struct control_load *ld = live ? live->state : NULL;
	struct resolver_job *j = &sv->tcp_job;
	j->fd = -1;
	j->reply = tcp_reply;
	j->reply_ctx = t;
	j->token = token;
	/* A full ring leaves the engine's answer (REFUSED) on TCP: a stream
	 * cannot drop one query. */
	if (hand_over(sv, TCP_READER, j, view, local, q, qlen, c, fw_rule, ld ? ld->fw : NULL) != 1)
		return false;
	resolver_kick(sv->res);
	return true;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_udp(struct server *sv, const struct p53_snapshot *snap, unsigned li)
{
	int fd = sv->udp[li];
	bool kick = false;
	/* The clocks are read once per batch, not per query: RRL counts in
	 * milliseconds and cookies in seconds, far coarser than a batch. */
	struct timespec mono, wall;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &mono);
	clock_gettime(CLOCK_REALTIME_COARSE, &wall);
	uint32_t now_ms =
	    (uint32_t)((uint64_t)mono.tv_sec * 1000 + (uint64_t)mono.tv_nsec / 1000000);
	uint32_t now_s = (uint32_t)wall.tv_sec;
	/* One precise clock read per query: the time from the end of the
	 * previous send to the end of this one, receiving included. */
	uint64_t t0 = mono_ns(), t = t0;
	/* Bounded so one busy socket cannot starve the others, and a swap
	 * waits for at most this many answers. */
	for (int i = 0; i < 256; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t n = recvfrom(fd, sv->buf, sizeof(sv->buf), 0, (struct sockaddr *)&ss, &sl);
		if (n < 0)
			break;
		struct p53_client c;
		ksock_client(&ss, P53_UDP, &c);
		__atomic_store_n(&sv->udp_queries, sv->udp_queries + 1, __ATOMIC_RELAXED);
		if (c.port == 0 || p53_portset_has(&sv->drop, c.port)) {
			__atomic_store_n(&sv->udp_bad_port, sv->udp_bad_port + 1, __ATOMIC_RELAXED);
			t = mono_ns(); /* not an answer: not timed */
			continue;
		}
		size_t r;
		/* NOTIFY to a secondary zone (opcode 4 only, never a query). */
		if (sv->xfrin && (sv->buf[2] & 0x78) == 0x20 &&
		    xfrin_notify(sv->xfrin, sv->buf, (size_t)n, &c, sv->resp, sizeof(sv->resp),
				 &r)) {
			if (r)
				sendto(fd, sv->resp, r, 0, (struct sockaddr *)&ss, sl);
			continue;
		}
		/* Private zones: the view is found first, and a private
		 * snapshot holding the name answers instead of the public one
		 * (its health checks are not tracked: all healthy). */
		int v = VIEW_UNKNOWN;
		const struct p53_snapshot *use = snap;
		if (sv->private) {
			v = rconf_view_of(sv->rconf, c.family, c.addr, &sv->udp_addr[li]);
			use = resolver_pick(sv->res, v, sv->buf, (size_t)n, snap);
		}
		const uint8_t *health = sv->ctx.health;
		if (use != snap)
			sv->ctx.health = NULL;
		r = p53_answer(use, sv->buf, (size_t)n, &c, &sv->ctx, sv->resp, sizeof(sv->resp));
		sv->ctx.health = health;
		if (sv->res && resolver_wants(sv->resp, r)) {
			struct resolver_job *j = &sv->job;
			j->fd = fd;
			j->peer = ss;
			j->peer_len = sl;
			j->reply = NULL;
			int h = hand_over(sv, UDP_READER, j, v, &sv->udp_addr[li], sv->buf,
					  (size_t)n, &c, sv->ctx.fw_rule, sv->ctx.fw);
			if (h != 0) {
				/* Handed over (timed by the resolver, not here), or
				 * dropped on a full ring: the client retries. */
				kick |= h > 0;
				t = mono_ns();
				continue;
			}
		}
		bool logq = sv->qring && qlog_sampled(sv->qring);
		if (logq)
			log_query(sv, sv->buf, (size_t)n, r, &c);
		if (r)
			r = p53_abuse_apply(&sv->abuse, &sv->ctx.last, &c, NULL, sv->resp, r,
					    sizeof(sv->resp), now_ms, now_s);
		if (r)
			sendto(fd, sv->resp, r, 0, (struct sockaddr *)&ss, sl);
		uint64_t done = mono_ns();
		lathist_add(&sv->lat, done - t, 1);
		t = done;
	}
	__atomic_store_n(&sv->udp_busy_ns, sv->udp_busy_ns + (mono_ns() - t0), __ATOMIC_RELAXED);
	if (kick)
		resolver_kick(sv->res);
}

static void counters(void *arg, api_emit_fn emit, void *sink)
{
	struct server *sv = arg;
	api_emit_engine(emit, sink, UDP_READER, sv->ctx.stats);
	emit(sink, "transport_queries", "transport", "udp", UDP_READER,
	     __atomic_load_n(&sv->udp_queries, __ATOMIC_RELAXED));
	emit(sink, "drops", "reason", "src_port", UDP_READER,
	     __atomic_load_n(&sv->udp_bad_port, __ATOMIC_RELAXED));
	api_emit_latency(emit, sink, UDP_READER, &sv->lat,
			 __atomic_load_n(&sv->udp_busy_ns, __ATOMIC_RELAXED));
	for (unsigned i = 0; i < P53_AB__COUNT; i++)
		emit(sink, "abuse", "outcome", p53_abuse_stat_name((enum p53_abuse_stat)i),
		     UDP_READER, __atomic_load_n(&sv->abuse.stats[i], __ATOMIC_RELAXED));
	resolver_counters(sv->res, emit, sink);
	if (sv->tcp) {
		emit(sink, "transport_queries", "transport", "tcp", TCP_READER,
		     tcpsrv_ctr(sv->tcp, TCPSRV_QUERIES));
		tcpsrv_counters(sv->tcp, emit, sink);
	}
}

static struct p53_rrl *rrl_of(void *arg, unsigned worker)
{
	struct server *sv = arg;
	return worker == UDP_READER ? sv->abuse.rrl : NULL;
}

/* The reflection port list and the UDP thread's rate limiter, before the
 * control side starts (it reads the limiter for the log). */
static int abuse_start(struct server *sv, struct p53_err *err)
{
	const struct ksock_cfg *cfg = sv->cfg;
	const char *ports = cfg->drop_ports ? cfg->drop_ports : P53_PORTSET_DEFAULT_DROP;
	if (p53_portset_parse(&sv->drop, ports) != 0)
		return p53_err_set(err, P53_EINVAL, "--drop-ports: bad port list '%s'", ports);
	uint8_t seed[16];
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return p53_err_set(err, P53_EIO, "getrandom: %s", strerror(errno));
	if (p53_abuse_init(&sv->abuse, &cfg->abuse, NULL, seed) != 0)
		return p53_err_set(err, P53_ENOMEM, "rate limiting: out of memory");
	return 0;
}

/* SIGHUP: the views' private snapshots are reloaded with the public one. */
static void on_hup(void *arg)
{
	struct server *sv = arg;
	struct p53_err err = {0};
	char warn[512] = "";
	if (sv->tls && dot_tls_reload(sv->tls, warn, sizeof(warn), &err) != 0)
		fprintf(stderr, "port53: TLS certificate not reloaded, the old one serves: %s\n",
			err.msg);
	memset(&err, 0, sizeof(err));
	if (sv->doh_tls && dot_tls_reload(sv->doh_tls, warn, sizeof(warn), &err) != 0)
		fprintf(stderr, "port53: DoH certificate not reloaded, the old one serves: %s\n",
			err.msg);
	memset(&err, 0, sizeof(err));
	if (sv->res && resolver_reload(sv->res, &err) != 0)
		fprintf(stderr, "port53: private zones not reloaded, the old ones serve: %s\n",
			err.msg);
}

static void on_stop(void *arg)
{
	struct server *sv = arg;
	uint64_t one = 1;
	if (write(sv->stop_fd, &one, sizeof(one)) < 0)
		fprintf(stderr, "port53: cannot signal the stop: %s\n", strerror(errno));
}

void ksock_cfg_default(struct ksock_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	p53_answer_cfg_default(&cfg->answer);
	p53_abuse_cfg_default(&cfg->abuse);
	tcpsrv_limits_default(&cfg->tcp);
	doh_limits_default(&cfg->doh);
	cfg->doh.msg_ms = 0; /* the TCP limits' */
	cfg->doh.out_max = 0;
	follow_cfg_default(&cfg->origin);
}

/* The UDP loop wakes at least once a second (epoll_wait's timeout), so a
 * counter that stops moving means the loop is stuck. */
static unsigned beats(void *arg, uint64_t *out, unsigned max)
{
	struct server *sv = arg;
	if (max == 0)
		return 0;
	out[0] = __atomic_load_n(&sv->udp_loops, __ATOMIC_RELAXED);
	return 1;
}

static void serve_udp(struct server *sv)
{
	for (bool running = true; running;) {
		struct epoll_event evs[64];
		int n = epoll_wait(sv->ep, evs, 64, 1000);
		__atomic_store_n(&sv->udp_loops, sv->udp_loops + 1, __ATOMIC_RELAXED);
		qsbr_online(sv->qsbr, UDP_READER);
		const struct snapmgr_live *live = snapmgr_current(control_mgr(sv->ctl));
		const struct control_load *ld = live->state;
		sv->ctx.health = ld ? ld->health : NULL;
		sv->ctx.nhealth = ld ? ld->nhealth : 0;
		sv->ctx.zone_dead = ld ? ld->zone_dead : NULL;
		sv->ctx.nzone_dead = ld ? ld->nzone_dead : 0;
		sv->ctx.fw = ld ? ld->fw : NULL;
		sv->ctx.osign = ld ? ld->osign : NULL;
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == UINT64_MAX)
				running = false;
			else
				on_udp(sv, live->snap, (unsigned)tag);
		}
		sv->ctx.health = NULL;
		sv->ctx.fw = NULL;
		sv->ctx.osign = NULL;
		sv->ctx.zone_dead = NULL;
		qsbr_offline(sv->qsbr, UDP_READER);
	}
}

int ksock_run(const struct ksock_cfg *cfg, struct p53_err *err)
{
	static const char *const default_listen[] = {"127.0.0.1:5353"};
	const char *const *ls = cfg->nlisten ? cfg->listen : default_listen;
	size_t nl = cfg->nlisten ? cfg->nlisten : 1;
	int tfds[LISTEN_MAX], sfds[LISTEN_MAX], hfds[LISTEN_MAX];
	size_t ntfds = 0, nsfds = 0, nhfds = 0;
	int rc = 0;
	if (nl > LISTEN_MAX || cfg->ntls_listen > LISTEN_MAX || cfg->ndoh_listen > LISTEN_MAX)
		return p53_err_set(err, P53_EINVAL, "more than %d listen addresses", LISTEN_MAX);
	struct server *sv = calloc(1, sizeof(*sv));
	if (sv == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	sv->cfg = cfg;
	sv->stop_fd = -1;
	/* Before any thread starts, so only the control thread takes them. */
	control_block_signals();
	/* OpenSSL writes TLS (DoT, DoH) with write(2): a client that hangs
	 * up under an answer must cost an EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);
	p53_ctx_init(&sv->ctx, &cfg->answer, (uint64_t)time(NULL));
	sv->ctx.worker = UDP_READER;
	sv->ep = epoll_create1(EPOLL_CLOEXEC);
	sv->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (cfg->resolver_path && (sv->rconf = rconf_load(cfg->resolver_path, err)) == NULL) {
		rc = err->code ? err->code : P53_EINVAL;
		goto out;
	}
	sv->qsbr = qsbr_simple_new(sv->rconf ? 3 : 2);
	if (sv->ep < 0 || sv->stop_fd < 0 || sv->qsbr == NULL ||
	    qsbr_reader_register(sv->qsbr, UDP_READER) != 0) {
		rc = p53_err_set(err, P53_EIO, "epoll/eventfd/qsbr: %s", strerror(errno));
		goto out;
	}
	struct epoll_event se = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
	epoll_ctl(sv->ep, EPOLL_CTL_ADD, sv->stop_fd, &se);
	/* Sockets first: a busy port fails start-up before any load. */
	for (size_t i = 0; i < nl; i++) {
		int fd = ksock_open(ls[i], SOCK_DGRAM, err);
		if (fd < 0) {
			rc = fd;
			goto out;
		}
		ksock_parse_addr(ls[i], &sv->udp_addr[sv->nudp], &(unsigned){0});
		struct epoll_event e = {.events = EPOLLIN, .data.u64 = sv->nudp};
		sv->udp[sv->nudp++] = fd;
		epoll_ctl(sv->ep, EPOLL_CTL_ADD, fd, &e);
		if ((tfds[ntfds] = ksock_open(ls[i], SOCK_STREAM, err)) < 0) {
			rc = tfds[ntfds];
			goto out;
		}
		ntfds++;
	}
	/* DNS over TLS: the same answers (and views, by listener) on tcpsrv. */
	for (size_t i = 0; i < cfg->ntls_listen && i < LISTEN_MAX; i++) {
		if ((sfds[nsfds] = ksock_open(cfg->tls_listen[i], SOCK_STREAM, err)) < 0) {
			rc = sfds[nsfds];
			goto out;
		}
		nsfds++;
	}
	if (nsfds) {
		char warn[512] = "";
		if ((sv->tls = dot_tls_new(cfg->tls_cert, cfg->tls_key, warn, sizeof(warn), err)) ==
		    NULL) {
			rc = err->code ? err->code : P53_EINVAL;
			goto out;
		}
		if (warn[0])
			fprintf(stderr, "port53: warning: %s\n", warn);
	}
	/* DNS over HTTPS: the same answers and views, HTTP/2 on tcpsrv. */
	for (size_t i = 0; i < cfg->ndoh_listen && i < LISTEN_MAX; i++) {
		if ((hfds[nhfds] = ksock_open(cfg->doh_listen[i], SOCK_STREAM, err)) < 0) {
			rc = hfds[nhfds];
			goto out;
		}
		nhfds++;
	}
	if (nhfds) {
		char warn[512] = "";
		const char *cert = cfg->doh_cert ? cfg->doh_cert : cfg->tls_cert;
		const char *key = cfg->doh_key ? cfg->doh_key : cfg->tls_key;
		if (cert == NULL || key == NULL) {
			rc = p53_err_set(err, P53_EINVAL,
					 "DNS over HTTPS needs a certificate and key");
			goto out;
		}
		if ((sv->doh_tls = dot_tls_new_alpn(cert, key, "h2", warn, sizeof(warn), err)) ==
		    NULL) {
			rc = err->code ? err->code : P53_EINVAL;
			goto out;
		}
		if (warn[0])
			fprintf(stderr, "port53: warning: %s\n", warn);
	}
	struct control_cfg cc = {
	    .name = "port53",
	    .server_name = "port53 serve",
	    .snapshot_path = cfg->snapshot_path,
	    .firewall_path = cfg->firewall_path,
	    .dnssec_keys = cfg->dnssec_keys,
	    .osign = {.fixed_now = cfg->dnssec_sig_time},
	    .health_checks = cfg->health_checks,
	    .health_quorum = cfg->health_quorum,
	    .trusted_keys = cfg->trusted_keys,
	    .ntrusted = cfg->ntrusted,
	    .snapshot_max_bytes = cfg->snapshot_max_bytes,
	    .control_socket = cfg->control_socket,
	    .control_listen = cfg->control_listen,
	    .control_token_file = cfg->control_token_file,
	    .push_max_bytes = cfg->push_max_bytes,
	    .reload_dir = cfg->reload_dir,
	    .api_limits = cfg->api_limits,
	    .watch_dir = cfg->watch_dir,
	    .query_log = cfg->query_log,
	    .query_log_dnstap = cfg->query_log_dnstap,
	    .query_log_sample = cfg->query_log_sample,
	    .nworkers = sv->rconf ? 3 : 2,
	    .qsbr = sv->qsbr,
	    .counters = counters,
	    .counters_arg = sv,
	    .on_stop = on_stop,
	    .on_hup = on_hup,
	    .arg = sv,
	    .cookies = cfg->abuse.cookies,
	    .cookie_secret_file = cfg->cookie_secret_file,
	    .cookie_rotate_s = cfg->cookie_rotate_s,
	    .rrl_of = rrl_of,
	    .xfr = &cfg->xfr,
	    .origin = cfg->origin,
	    .node = cfg->node,
	    .beats = beats,
	};
	if ((rc = abuse_start(sv, err)) != 0)
		goto out;
	if ((sv->ctl = control_start(&cc, err)) == NULL) {
		rc = err->code ? err->code : P53_EIO;
		goto out;
	}
	sv->abuse.secret = control_cookies(sv->ctl);
	sv->xfrin = control_xfrin(sv->ctl);
	sv->ctx.cookies = sv->abuse.secret != NULL;
	sv->qring = control_qlog_ring(sv->ctl, UDP_READER);
	if (sv->rconf) {
		struct resolver_cfg rcfg = {
		    .rc = sv->rconf,
		    .mgr = control_mgr(sv->ctl),
		    .qsbr = sv->qsbr,
		    .reader = RES_READER,
		    .fw_worker = RES_READER,
		    .qlog = control_qlog_ring(sv->ctl, RES_READER),
		    .edns_udp_max = cfg->answer.edns_udp_max,
		    .producers = 2, /* the UDP and the TCP thread */
		    .name = "port53",
		};
		if ((sv->res = resolver_start(&rcfg, err)) == NULL) {
			rc = err->code ? err->code : P53_EIO;
			goto out;
		}
		sv->private = resolver_has_private(sv->res);
		sv->route = (struct tcpsrv_route){tcp_pick, tcp_hand_over, sv};
		fprintf(stderr, "port53: resolver: %u views, %u rules%s\n", sv->rconf->nviews,
			sv->rconf->nrules, sv->private ? ", private zones" : "");
	}
	struct tcpsrv_cfg tc = {
	    .fds = tfds,
	    .nfds = ntfds,
	    .tls_fds = sfds,
	    .ntls_fds = nsfds,
	    .tls = sv->tls,
	    .doh_fds = hfds,
	    .ndoh_fds = nhfds,
	    .doh_tls = sv->doh_tls,
	    .doh = cfg->doh,
	    .mgr = control_mgr(sv->ctl),
	    .qsbr = sv->qsbr,
	    .reader_id = TCP_READER,
	    .answer = &cfg->answer,
	    .worker = TCP_READER,
	    .qlog = control_qlog_ring(sv->ctl, TCP_READER),
	    .lim = cfg->tcp,
	    .name = "port53",
	    .cookies = control_cookies(sv->ctl),
	    .xfr = control_xfrout(sv->ctl),
	    .notify = control_xfrin(sv->ctl),
	    .route = sv->res ? &sv->route : NULL,
	};
	ntfds = nsfds = nhfds = 0; /* tcpsrv owns them now, even when it fails */
	if ((sv->tcp = tcpsrv_start(&tc, err)) == NULL) {
		rc = err->code ? err->code : P53_EIO;
		goto out;
	}
	for (size_t i = 0; i < nl; i++)
		fprintf(stderr, "port53: serving %s (udp, tcp)\n", ls[i]);
	for (size_t i = 0; i < cfg->ntls_listen; i++)
		fprintf(stderr, "port53: serving %s (tls)\n", cfg->tls_listen[i]);
	for (size_t i = 0; i < cfg->ndoh_listen; i++)
		fprintf(stderr, "port53: serving https://%s%s (doh)\n", cfg->doh_listen[i],
			cfg->doh.path ? cfg->doh.path : DOH_PATH_DEFAULT);
	serve_udp(sv);
	fprintf(stderr, "port53: shutting down\n");
out:
	control_quiesce(sv->ctl); /* no counter reader outlives the TCP server */
	resolver_halt(sv->res);	  /* no answer leaves after this */
	tcpsrv_stop(sv->tcp);
	resolver_stop(sv->res); /* after the TCP thread, which submits */
	for (size_t i = 0; i < ntfds; i++)
		close(tfds[i]);
	for (size_t i = 0; i < nsfds; i++)
		close(sfds[i]);
	for (size_t i = 0; i < nhfds; i++)
		close(hfds[i]);
	dot_tls_free(sv->tls); /* after the TCP thread: its sessions use it */
	dot_tls_free(sv->doh_tls);
	/* After the readers: the API may be loading until it stops. */
	control_stop(sv->ctl);
	for (unsigned i = 0; i < sv->nudp; i++)
		close(sv->udp[i]);
	if (sv->stop_fd >= 0)
		close(sv->stop_fd);
	if (sv->ep >= 0)
		close(sv->ep);
	qsbr_destroy(sv->qsbr);
	p53_abuse_fini(&sv->abuse);
	rconf_free(sv->rconf);
	free(sv);
	return rc;
}
