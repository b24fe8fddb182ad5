/* One thread, one epoll set: UDP sockets, TCP listeners, TCP connections and
 * a signalfd. A DNS answer costs microseconds, so a single thread keeps up
 * with what the kernel path is for (TCP, fallback) without any locking; the
 * fast path is the DPDK data plane.
 *
 * The snapshot is swapped by the snapshot manager (snapmgr.h), from the
 * control API's thread or from this one on SIGHUP. This thread is its only
 * reader: it takes the live snapshot once per loop iteration and is offline
 * (quiescent) while it sleeps in epoll_wait, so a swap waits at most for the
 * iteration in progress and never for traffic to arrive.
 */
#include "ksock.h"

#include "api.h"
#include "health.h"
#include "zones/answer/fw.h"
#include "qsbr.h"
#include "snapmgr.h"
#include "qlog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TCP_BACKLOG_MAX (256 * 1024) /* stop reading a client that does not read */

enum fd_kind { FD_UDP, FD_LISTEN, FD_CONN, FD_SIGNAL };

struct ev_tag {
	enum fd_kind kind;
	int fd;
	struct conn *conn;
};

struct conn {
	struct ev_tag tag; /* epoll's data.ptr for this connection */
	int fd;
	struct p53_client client;
	size_t inlen;
	uint8_t *out;
	size_t outlen, outoff, outcap;
	uint64_t last_ms;
	struct conn *next, *prev;
	uint8_t in[2 + P53_MSG_MAX];
};

#define LISTEN_MAX 64

#define READER_ID 0 /* this thread's QSBR reader id */

struct server {
	const struct ksock_cfg *cfg;
	const struct p53_snapshot *snap; /* live for the current iteration only */
	struct snapmgr *mgr;
	struct qsbr *qsbr;
	struct api *api;
	struct p53_health *health; /* shown by the API; NULL = none */
	struct p53_fw *fw;	   /* DNS Firewall, used by this thread only; NULL = none */
	struct qlog *qlog;	   /* query log (qlog.h); NULL = off */
	struct qlog_ring *qring;   /* its one ring: this thread is the one worker */
	struct p53_ctx ctx;
	/* Front-end counters beside the engine's (read by the API thread). */
	uint64_t udp_queries, tcp_queries, tcp_refused;
	int ep;
	unsigned ntags;
	struct ev_tag tags[LISTEN_MAX + 1]; /* listeners and the signalfd */
	unsigned nconns;
	struct conn *conns;
	uint8_t buf[P53_MSG_MAX];
	uint8_t resp[P53_MSG_MAX];
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

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

static void client_from(const struct sockaddr_storage *ss, enum p53_transport t,
			struct p53_client *c)
{
	memset(c, 0, sizeof(*c));
	c->transport = (uint8_t)t;
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

static int ep_add(struct server *sv, int fd, enum fd_kind kind, struct conn *c, uint32_t events)
{
	struct ev_tag *t;
	if (c) {
		t = &c->tag;
	} else {
		if (sv->ntags >= LISTEN_MAX + 1)
			return -1;
		t = &sv->tags[sv->ntags++];
	}
	*t = (struct ev_tag){kind, fd, c};
	struct epoll_event ev = {.events = events, .data.ptr = t};
	return epoll_ctl(sv->ep, EPOLL_CTL_ADD, fd, &ev);
}

static int open_listener(struct server *sv, const char *spec, int type, struct p53_err *err)
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
	if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
		int e = errno;
		close(fd);
		return p53_err_set(err, P53_EIO, "bind %s (%s): %s", spec,
				   type == SOCK_STREAM ? "tcp" : "udp", strerror(e));
	}
	if (type == SOCK_STREAM && listen(fd, 128) != 0) {
		int e = errno;
		close(fd);
		return p53_err_set(err, P53_EIO, "listen %s: %s", spec, strerror(e));
	}
	if (ep_add(sv, fd, type == SOCK_STREAM ? FD_LISTEN : FD_UDP, NULL, EPOLLIN) != 0) {
		close(fd);
		return p53_err_set(err, P53_ENOMEM, "epoll: %s", strerror(errno));
	}
	return 0;
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

static void on_udp(struct server *sv, int fd)
{
	/* Bounded so one busy socket cannot starve the others or signals. */
	for (int i = 0; i < 256; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t n = recvfrom(fd, sv->buf, sizeof(sv->buf), 0, (struct sockaddr *)&ss, &sl);
		if (n < 0)
			return;
		struct p53_client c;
		client_from(&ss, P53_UDP, &c);
		sv->udp_queries++;
		bool logq = sv->qring && qlog_sampled(sv->qring);
		size_t r = p53_answer(sv->snap, sv->buf, (size_t)n, &c, &sv->ctx, sv->resp,
				      sizeof(sv->resp));
		if (logq)
			log_query(sv, sv->buf, (size_t)n, r, &c);
		if (r)
			sendto(fd, sv->resp, r, 0, (struct sockaddr *)&ss, sl);
	}
}

static void conn_close(struct server *sv, struct conn *c)
{
	epoll_ctl(sv->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		sv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->out);
	free(c);
	sv->nconns--;
}

static void on_accept(struct server *sv, int lfd)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (sv->nconns >= sv->cfg->tcp_max_conns) {
			sv->tcp_refused++;
			close(fd); /* over the limit: the client retries or uses UDP */
			continue;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->last_ms = now_ms();
		client_from(&ss, P53_TCP, &c->client);
		if (ep_add(sv, fd, FD_CONN, c, EPOLLIN) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = sv->conns;
		if (sv->conns)
			sv->conns->prev = c;
		sv->conns = c;
		sv->nconns++;
	}
}

static bool conn_queue(struct conn *c, const uint8_t *msg, size_t len)
{
	if (c->outlen + 2 + len > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 4096;
		while (cap < c->outlen + 2 + len)
			cap *= 2;
		uint8_t *p = realloc(c->out, cap);
		if (p == NULL)
			return false;
		c->out = p;
		c->outcap = cap;
	}
	c->out[c->outlen] = (uint8_t)(len >> 8);
	c->out[c->outlen + 1] = (uint8_t)len;
	memcpy(c->out + c->outlen + 2, msg, len);
	c->outlen += 2 + len;
	return true;
}

/* Returns false when the connection is finished. */
static bool conn_flush(struct server *sv, struct conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return false;
			break;
		}
		c->outoff += (size_t)n;
	}
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	struct epoll_event ev = {.events = EPOLLIN | (c->outlen ? EPOLLOUT : 0u),
				 .data.ptr = &c->tag};
	if (c->outlen > TCP_BACKLOG_MAX)
		ev.events &= ~(uint32_t)EPOLLIN;
	epoll_ctl(sv->ep, EPOLL_CTL_MOD, c->fd, &ev);
	return true;
}

static bool on_conn(struct server *sv, struct conn *c, uint32_t events)
{
	if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN))
		return false;
	if (events & EPOLLIN) {
		ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
		if (n == 0) {
			/* The client may half-close after its last query:
			 * send what is ready, then close. */
			conn_flush(sv, c);
			return false;
		}
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		c->inlen += (size_t)n;
		c->last_ms = now_ms();
		/* RFC 7766 6.2.1.1: answer every complete message, in order. */
		size_t off = 0;
		while (c->inlen - off >= 2) {
			size_t ml = (size_t)c->in[off] << 8 | c->in[off + 1];
			if (c->inlen - off - 2 < ml)
				break;
			bool logq = sv->qring && qlog_sampled(sv->qring);
			size_t r = p53_answer(sv->snap, c->in + off + 2, ml, &c->client, &sv->ctx,
					      sv->resp, sizeof(sv->resp));
			sv->tcp_queries++;
			if (logq)
				log_query(sv, c->in + off + 2, ml, r, &c->client);
			off += 2 + ml;
			if (r == 0)
				return false; /* not a query: close, as no reply can follow */
			if (!conn_queue(c, sv->resp, r))
				return false;
		}
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
	return conn_flush(sv, c);
}

static void reap_idle(struct server *sv)
{
	uint64_t now = now_ms();
	for (struct conn *c = sv->conns, *next; c; c = next) {
		next = c->next;
		if (now - c->last_ms > sv->cfg->tcp_idle_ms)
			conn_close(sv, c);
	}
}

static void info_view(void *arg, const struct snapmgr_live *live, const struct snapmgr_stats *st)
{
	(void)st;
	p53_snapshot_info(live->snap, arg);
}

/* Called while this thread is offline: snapmgr waits for readers, and this
 * thread is one. Offline, it may not dereference the live snapshot either
 * (the API thread may swap it at any time), hence snapmgr_view. */
static void reload(struct server *sv)
{
	struct p53_err err = {0};
	struct snapmgr_swap sw;
	struct p53_snapshot_info in;
	int rc = snapmgr_load(sv->mgr, sv->cfg->snapshot_path, NULL, &sw, &err);
	snapmgr_view(sv->mgr, info_view, &in);
	if (rc != 0) {
		fprintf(stderr, "port53: reload failed, still serving serial %llu: %s\n",
			(unsigned long long)in.serial, err.msg);
		return;
	}
	fprintf(stderr, "port53: reloaded %s: serial %llu, %u zones (swap %.1f us)\n",
		sv->cfg->snapshot_path, (unsigned long long)sw.serial, in.zones,
		(double)sw.swap_ns / 1e3);
}

/* The firewall has one user, this thread, so a reload is a pointer swap
 * between two queries; a file that fails to load leaves the old rules on. */
static void reload_fw(struct server *sv)
{
	if (sv->cfg->firewall_path == NULL)
		return;
	struct p53_err err = {0};
	struct p53_fw *fw = p53_fw_load(sv->cfg->firewall_path, 1, &err);
	if (fw == NULL) {
		fprintf(stderr, "port53: firewall reload failed, old rules stay: %s\n", err.msg);
		return;
	}
	p53_fw_free(sv->fw);
	sv->fw = fw;
	sv->ctx.fw = fw;
	struct p53_fw_info in;
	p53_fw_info(fw, &in);
	fprintf(stderr, "port53: firewall %s: serial %llu, %u rules, %u domains, %u patterns\n",
		sv->cfg->firewall_path, (unsigned long long)in.serial, in.rules, in.domains,
		in.patterns);
}

static void counters(void *arg, api_emit_fn emit, void *sink)
{
	struct server *sv = arg;
	api_emit_engine(emit, sink, 0, sv->ctx.stats);
	emit(sink, "transport_queries", "transport", "udp", 0,
	     __atomic_load_n(&sv->udp_queries, __ATOMIC_RELAXED));
	emit(sink, "transport_queries", "transport", "tcp", 0,
	     __atomic_load_n(&sv->tcp_queries, __ATOMIC_RELAXED));
	if (sv->qlog) { /* started before the API, stopped after it */
		struct qlog_stats qs;
		qlog_stats(sv->qlog, -1, &qs);
		emit(sink, "query_log", "outcome", "logged", 0, qs.pushed);
		emit(sink, "query_log", "outcome", "ring_full", 0, qs.dropped);
		emit(sink, "query_log", "outcome", "written", 0, qs.written);
		emit(sink, "query_log", "outcome", "write_error", 0, qs.write_errors);
	}
	emit(sink, "drops", "reason", "tcp_conn_limit", 0,
	     __atomic_load_n(&sv->tcp_refused, __ATOMIC_RELAXED));
}

static int control_start(struct server *sv, struct p53_err *err)
{
	const struct ksock_cfg *cfg = sv->cfg;
	sv->qsbr = qsbr_simple_new(1);
	if (sv->qsbr == NULL || qsbr_reader_register(sv->qsbr, READER_ID) != 0)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	struct snapmgr_cfg mc = {
	    .qsbr = sv->qsbr,
	    .trusted_keys = cfg->trusted_keys,
	    .ntrusted = cfg->ntrusted,
	};
	sv->mgr = snapmgr_new(&mc, err);
	if (sv->mgr == NULL)
		return err->code ? err->code : P53_ENOMEM;
	int rc = snapmgr_load(sv->mgr, cfg->snapshot_path, NULL, NULL, err);
	if (rc)
		return rc;
	if (cfg->control_socket == NULL && cfg->control_listen == NULL)
		return 0;
	struct api_cfg ac = {
	    .mgr = sv->mgr,
	    .unix_path = cfg->control_socket,
	    .tcp_listen = cfg->control_listen,
	    .token_file = cfg->control_token_file,
	    .max_body = cfg->push_max_bytes,
	    .reload_path = cfg->snapshot_path,
	    .counters = counters,
	    .counters_arg = sv,
	    .server_name = "port53 serve",
	};
	if (sv->health)
		p53_health_api(sv->health, &ac);
	sv->api = api_start(&ac, err);
	if (sv->api == NULL)
		return err->code ? err->code : P53_EIO;
	if (cfg->control_socket)
		fprintf(stderr, "port53: control API on %s\n", cfg->control_socket);
	if (cfg->control_listen)
		fprintf(stderr, "port53: control API on http://%s (token required)\n",
			cfg->control_listen);
	return 0;
}

void ksock_cfg_default(struct ksock_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	p53_answer_cfg_default(&cfg->answer);
	cfg->tcp_max_conns = 256;
	cfg->tcp_idle_ms = 10000;
}

int ksock_run(const struct ksock_cfg *cfg, struct p53_err *err)
{
	static const char *const default_listen[] = {"127.0.0.1:5353"};
	struct server *sv = calloc(1, sizeof(*sv));
	if (sv == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	int rc = 0;
	struct p53_health *health = NULL; /* Route 53 health checks */
	sv->cfg = cfg;
	/* Before the control API, which shows the checks and takes reports. */
	if (cfg->health_checks && (health = p53_health_start(cfg->health_checks, err)) == NULL) {
		free(sv);
		return err->code ? err->code : P53_EIO;
	}
	if (health && cfg->health_quorum > 0)
		p53_health_set_quorum(health, cfg->health_quorum);
	sv->health = health;
	/* Blocked before any thread starts (the control API's), so that only
	 * the signalfd ever sees them. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sv->ep = epoll_create1(EPOLL_CLOEXEC);
	p53_ctx_init(&sv->ctx, &cfg->answer, (uint64_t)now_ms());
	if (sv->ep < 0) {
		rc = p53_err_set(err, P53_EIO, "epoll: %s", strerror(errno));
		goto out;
	}
	if (cfg->query_log || cfg->query_log_dnstap) {
		struct qlog_cfg qc = {.json_path = cfg->query_log,
				      .dnstap_path = cfg->query_log_dnstap,
				      .sample = cfg->query_log_sample};
		if ((sv->qlog = qlog_start(&qc, 1, err)) == NULL) {
			rc = err->code ? err->code : P53_EIO;
			goto out;
		}
		sv->qring = qlog_ring(sv->qlog, 0);
	}
	if ((rc = control_start(sv, err)) != 0)
		goto out;
	if (cfg->firewall_path) {
		sv->fw = p53_fw_load(cfg->firewall_path, 1, err);
		if (sv->fw == NULL) {
			rc = err->code ? err->code : P53_EIO;
			goto out;
		}
		sv->ctx.fw = sv->fw;
		sv->ctx.worker = 0;
	}
	const char *const *ls = cfg->nlisten ? cfg->listen : default_listen;
	size_t nl = cfg->nlisten ? cfg->nlisten : 1;
	for (size_t i = 0; i < nl; i++) {
		if ((rc = open_listener(sv, ls[i], SOCK_DGRAM, err)) != 0 ||
		    (rc = open_listener(sv, ls[i], SOCK_STREAM, err)) != 0)
			goto out;
		fprintf(stderr, "port53: serving %s (udp, tcp)\n", ls[i]);
	}
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0 || ep_add(sv, sfd, FD_SIGNAL, NULL, EPOLLIN) != 0) {
		rc = p53_err_set(err, P53_EIO, "signalfd: %s", strerror(errno));
		goto out;
	}
	for (bool running = true, reload_pending = false; running;) {
		/* Offline here: a SIGHUP reload waits for readers, and this
		 * thread is the reader. */
		if (reload_pending) {
			reload(sv);
			reload_fw(sv);
			reload_pending = false;
		}
		struct epoll_event evs[64];
		int n = epoll_wait(sv->ep, evs, 64, 1000);
		qsbr_online(sv->qsbr, READER_ID);
		sv->snap = snapmgr_current(sv->mgr)->snap;
		if (health) /* indexed by this snapshot's check numbers */
			sv->ctx.health = p53_health_view(health, sv->snap, &sv->ctx.nhealth);
		for (int i = 0; i < n; i++) {
			struct ev_tag *t = evs[i].data.ptr;
			switch (t->kind) {
			case FD_UDP:
				on_udp(sv, t->fd);
				break;
			case FD_LISTEN:
				on_accept(sv, t->fd);
				break;
			case FD_CONN:
				if (!on_conn(sv, t->conn, evs[i].events))
					conn_close(sv, t->conn);
				break;
			case FD_SIGNAL: {
				struct signalfd_siginfo si;
				while (read(t->fd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						reload_pending = true;
						qlog_reopen(sv->qlog);
					} else {
						running = false;
					}
				}
				break;
			}
			}
		}
		reap_idle(sv);
		sv->snap = NULL;
		qsbr_offline(sv->qsbr, READER_ID);
	}
	fprintf(stderr, "port53: shutting down\n");
out:
	/* The API thread may be loading: stop it before the manager goes,
	 * and before the health checker it shows. */
	api_stop(sv->api);
	qlog_stop(sv->qlog); /* after the last push and the API: drains, closes */
	p53_health_stop(health);
	while (sv->conns)
		conn_close(sv, sv->conns);
	for (unsigned i = 0; i < sv->ntags; i++)
		close(sv->tags[i].fd);
	if (sv->ep >= 0)
		close(sv->ep);
	snapmgr_free(sv->mgr);
	qsbr_destroy(sv->qsbr);
	p53_fw_free(sv->fw);
	free(sv);
	return rc;
}
