/* DNS over QUIC (see doq.h).
 *
 * ngtcp2 does the QUIC state machine and GnuTLS the handshake (through
 * ngtcp2's crypto glue); this file routes datagrams to connections by
 * connection ID, answers complete stream messages with the engine, and
 * writes what ngtcp2 has to send. Stream data handed to ngtcp2 is not copied
 * by it, so an answer stays allocated until its stream is closed.
 *
 * Connections are few (max_conns) and short-lived, so lookups scan a list.
 * A connection that ends is kept, without its ngtcp2 state, for three PTOs
 * and at least a second (RFC 9000 10.2): closing after our CONNECTION_CLOSE, whose packet is sent
 * again to the packets that keep coming (to the 1st, 2nd, 4th, 8th ..., so
 * a peer cannot make us send more than it does), or draining after the
 * peer's, silent. Either way its slot stays counted until then.
 */
#include "ctrl/net/doq.h"

#include "ctrl/net/ksock.h"

#include "ctrl/net/keepalive.h"

#include "ctrl/qlog/qlog.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <errno.h>
#include <netinet/in.h>
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

#define SOCK_MAX  32
#define SCID_LEN  16
#define CIDS_MAX  12 /* ours (initial + NEW_CONNECTION_ID) and the client's first DCID */
#define RX_BURST  64
#define TX_MAX	  1452
#define WRITE_MAX 256 /* packets per connection per write round */
#define MSG_CAP	  (2 + P53_MSG_MAX)
#define TOKEN_TTL (10 * NGTCP2_SECONDS) /* a Retry token is good this long */
/* The closing and draining periods last three PTOs (RFC 9000 10.2) and at
 * least this: on a short path three PTOs are a few tens of milliseconds,
 * less than a peer's late packets may take to arrive. */
#define END_MIN (1 * NGTCP2_SECONDS)

/* RFC 9250 section 4.3 error codes. */
#define DOQ_NO_ERROR	      0x0
#define DOQ_INTERNAL_ERROR    0x1
#define DOQ_PROTOCOL_ERROR    0x2
#define DOQ_REQUEST_CANCELLED 0x3

#define TLS_PRIORITY                                                                               \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"  \
	"+AES-128-CCM:%DISABLE_TLS13_COMPAT_MODE"

/* Credentials are not reference-counted by GnuTLS: a session uses them
 * until it is freed, so a reload keeps the old ones while connections
 * started with them live. Counted by the DoQ thread only. */
struct creds {
	gnutls_certificate_credentials_t cred;
	unsigned refs; /* connections, plus one while current */
};

struct stream {
	int64_t id;
	struct stream *next;
	uint8_t *in;
	size_t inlen, incap;
	uint8_t *out;
	size_t outlen, outsent;
	bool answered, cancel, blocked;
};

struct qconn {
	struct doq *q;
	uint32_t serial; /* names it in a resolver's token */
	ngtcp2_conn *conn;
	gnutls_session_t tls;
	struct creds *cr;
	ngtcp2_crypto_conn_ref ref;
	unsigned sock; /* index into doq.fds */
	struct sockaddr_storage remote;
	socklen_t rlen;
	ngtcp2_cid cids[CIDS_MAX];
	unsigned ncids;
	struct stream *streams;
	struct qconn *next, *prev;
	uint64_t app_error; /* set with app_close by a callback */
	bool app_close, handshake_done;
	/* RFC 9000 10.2: after the end, only these are used. */
	enum { Q_OPEN, Q_CLOSING, Q_DRAINING } phase;
	uint64_t end_until; /* ns: the state goes then */
	uint8_t *close_pkt; /* closing: our CONNECTION_CLOSE */
	size_t close_len;
	unsigned end_rx, end_next; /* packets since the end; next to answer */
};

/* A resolver's response on its way back to a stream. */
struct reply {
	struct reply *next;
	uint64_t token; /* connection serial << 32 | stream id / 4 */
	size_t len;
	uint8_t data[];
};

struct doq {
	struct doq_cfg cfg;
	uint32_t next_serial;
	pthread_mutex_t inbox_lock;
	struct reply *inbox;
	pthread_t thread;
	bool running;
	int ep, wake;
	int fds[SOCK_MAX];
	struct sockaddr_storage local[SOCK_MAX];
	socklen_t llen[SOCK_MAX];
	unsigned nfds;
	struct qconn *conns;
	unsigned nconns;
	struct creds *cur;
	_Atomic(struct creds *) next;
	char *cert, *key;
	uint8_t secret[32];		 /* stateless reset tokens */
	uint8_t token_key[32];		 /* Retry tokens */
	const struct p53_snapshot *snap; /* live for the current iteration only */
	struct p53_ctx ctx;
	uint64_t c[DOQ_C__COUNT];
	uint8_t rx[65536];
	uint8_t tx[TX_MAX];
	uint8_t resp[P53_MSG_MAX];
};

static const char *const ctr_names[DOQ_C__COUNT] = {
    [DOQ_ACCEPTED] = "accepted",
    [DOQ_HANDSHAKES] = "handshakes",
    [DOQ_QUERIES] = "queries",
    [DOQ_REFUSED_LIMIT] = "refused_conn_limit",
    [DOQ_CLOSED_IDLE] = "closed_idle",
    [DOQ_CLOSED_ERROR] = "closed_error",
    [DOQ_CLOSED_PEER] = "closed_by_peer",
    [DOQ_PROTOCOL_ERRORS] = "protocol_errors",
    [DOQ_VERSION_NEGOTIATIONS] = "version_negotiations",
    [DOQ_RETRIES] = "retries",
    [DOQ_INVALID_TOKENS] = "invalid_tokens",
    [DOQ_CLOSE_RESENT] = "close_resent",
};

static void bump(struct doq *q, enum doq_ctr c)
{
	__atomic_store_n(&q->c[c], q->c[c] + 1, __ATOMIC_RELAXED);
}

uint64_t doq_ctr(const struct doq *q, enum doq_ctr c)
{
	return __atomic_load_n(&q->c[c], __ATOMIC_RELAXED);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- credentials --------------------------------------------------------- */

static struct creds *creds_load(const char *cert, const char *key, struct p53_err *err)
{
	struct creds *cr = calloc(1, sizeof(*cr));
	if (cr == NULL || gnutls_certificate_allocate_credentials(&cr->cred) < 0) {
		free(cr);
		p53_err_set(err, P53_ENOMEM, "QUIC: out of memory for credentials");
		return NULL;
	}
	int rc = gnutls_certificate_set_x509_key_file(cr->cred, cert, key, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		p53_err_set(err, P53_EINVAL, "QUIC: certificate %s / key %s: %s", cert, key,
			    gnutls_strerror(rc));
		gnutls_certificate_free_credentials(cr->cred);
		free(cr);
		return NULL;
	}
	cr->refs = 1;
	return cr;
}

static void creds_put(struct creds *cr)
{
	if (cr && --cr->refs == 0) {
		gnutls_certificate_free_credentials(cr->cred);
		free(cr);
	}
}

int doq_reload_tls(struct doq *q, struct p53_err *err)
{
	struct creds *cr = creds_load(q->cert, q->key, err);
	if (cr == NULL)
		return err->code ? err->code : P53_EINVAL;
	/* Not adopted yet means no connection uses it: free outright. */
	creds_put(atomic_exchange(&q->next, cr));
	uint64_t one = 1;
	if (write(q->wake, &one, sizeof(one)) < 0) {
		/* adopted at the next tick anyway */
	}
	return 0;
}

static void creds_adopt(struct doq *q)
{
	struct creds *cr = atomic_exchange(&q->next, NULL);
	if (cr == NULL)
		return;
	creds_put(q->cur);
	q->cur = cr;
}

/* --- connections ------------------------------------------------------------ */

static struct qconn *find_conn(struct doq *q, const uint8_t *cid, size_t len)
{
	for (struct qconn *c = q->conns; c; c = c->next)
		for (unsigned i = 0; i < c->ncids; i++)
			if (c->cids[i].datalen == len && memcmp(c->cids[i].data, cid, len) == 0)
				return c;
	return NULL;
}

static bool cid_add(struct qconn *c, const ngtcp2_cid *cid)
{
	if (c->ncids == CIDS_MAX)
		return false;
	c->cids[c->ncids++] = *cid;
	return true;
}

static void stream_free(struct stream *s)
{
	free(s->in);
	free(s->out);
	free(s);
}

/* Drops the QUIC and TLS state and the streams; what a closing or
 * draining connection keeps is the rest. */
static void conn_release(struct qconn *c)
{
	ngtcp2_conn_del(c->conn);
	c->conn = NULL;
	if (c->tls)
		gnutls_deinit(c->tls);
	c->tls = NULL;
	creds_put(c->cr);
	c->cr = NULL;
	while (c->streams) {
		struct stream *s = c->streams;
		c->streams = s->next;
		stream_free(s);
	}
}

static void conn_free(struct doq *q, struct qconn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		q->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	q->nconns--;
	conn_release(c);
	free(c->close_pkt);
	free(c);
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct qconn *)ref->user_data)->conn;
}

static void on_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *rctx)
{
	(void)rctx;
	gnutls_rnd(GNUTLS_RND_NONCE, dest, len);
}

static int on_new_cid(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *ud)
{
	struct qconn *c = ud;
	(void)conn;
	if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) < 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	cid->datalen = cidlen;
	if (ngtcp2_crypto_generate_stateless_reset_token(token, c->q->secret, sizeof(c->q->secret),
							 cid) != 0 ||
	    !cid_add(c, cid))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int on_remove_cid(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *ud)
{
	struct qconn *c = ud;
	(void)conn;
	for (unsigned i = 0; i < c->ncids; i++)
		if (ngtcp2_cid_eq(&c->cids[i], cid)) {
			c->cids[i] = c->cids[--c->ncids];
			break;
		}
	return 0;
}

static int on_handshake_completed(ngtcp2_conn *conn, void *ud)
{
	struct qconn *c = ud;
	gnutls_datum_t proto;
	(void)conn;
	/* GNUTLS_ALPN_MANDATORY refuses a client without "doq"; this
	 * catches anything it lets through. */
	if (gnutls_alpn_get_selected_protocol(c->tls, &proto) != 0 || proto.size != 3 ||
	    memcmp(proto.data, "doq", 3) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	c->handshake_done = true;
	bump(c->q, DOQ_HANDSHAKES);
	return 0;
}

static void protocol_error(struct qconn *c)
{
	bump(c->q, DOQ_PROTOCOL_ERRORS);
	c->app_close = true;
	c->app_error = DOQ_PROTOCOL_ERROR;
}

static void client_of(const struct qconn *c, struct p53_client *cl)
{
	/* The engine's TCP size rule: a stream answer is never truncated. */
	ksock_client(&c->remote, P53_TCP, cl);
}

/* A whole message arrived on s: answer it. Returns false on a protocol
 * error (the connection is then closed). */
static bool answer_stream(struct qconn *c, struct stream *s, size_t ml)
{
	struct doq *q = c->q;
	const uint8_t *msg = s->in + 2;
	/* RFC 9250 4.2.1: the Message ID is 0 on DoQ; 5.5.2: the TCP
	 * keepalive option has no meaning on QUIC and is an error. */
	if (ml < 12 || msg[0] != 0 || msg[1] != 0 || keepalive_asked(msg, ml))
		return false;
	s->answered = true;
	struct p53_client cl;
	client_of(c, &cl);
	bool logq = q->cfg.qlog && qlog_sampled(q->cfg.qlog);
	const struct doq_route *rt = q->cfg.route;
	const struct p53_snapshot *use = q->snap;
	int view = -1;
	if (rt && rt->pick && use)
		use = rt->pick(rt->arg, &cl, &q->local[c->sock], msg, ml, q->snap, &view);
	/* A private snapshot's health checks are not tracked: all healthy. */
	const uint8_t *health = q->ctx.health;
	if (use != q->snap)
		q->ctx.health = NULL;
	size_t r = use ? p53_answer(use, msg, ml, &cl, &q->ctx, q->resp, sizeof(q->resp)) : 0;
	q->ctx.health = health;
	bump(q, DOQ_QUERIES);
	if (r && rt && rt->hand_over && s->id >= 0 &&
	    rt->hand_over(rt->arg, view, &cl, msg, ml, q->resp, r, q->ctx.fw_rule, q,
			  (uint64_t)c->serial << 32 | (uint64_t)s->id >> 2))
		return true; /* the resolver answers (doq_deliver) and logs it */
	if (logq) {
		struct qlog_rec rec;
		qlog_rec_from(msg, ml, q->resp, r, &cl, &rec);
		rec.fw_rule = q->ctx.fw_rule;
		qlog_push(q->cfg.qlog, &rec);
	}
	if (r == 0) {
		s->cancel = true; /* dropped by the engine: no answer will come */
		return true;
	}
	s->out = malloc(2 + r);
	if (s->out == NULL) {
		s->cancel = true;
		return true;
	}
	s->out[0] = (uint8_t)(r >> 8);
	s->out[1] = (uint8_t)r;
	memcpy(s->out + 2, q->resp, r);
	s->outlen = 2 + r;
	return true;
}

static int on_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t sid, uint64_t offset,
			  const uint8_t *data, size_t len, void *ud, void *sud)
{
	struct qconn *c = ud;
	struct stream *s = sud;
	(void)offset; /* ngtcp2 delivers stream data in order */
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return NGTCP2_ERR_CALLBACK_FAILURE;
		s->id = sid;
		s->next = c->streams;
		c->streams = s;
		ngtcp2_conn_set_stream_user_data(conn, sid, s);
	}
	ngtcp2_conn_extend_max_stream_offset(conn, sid, len);
	ngtcp2_conn_extend_max_offset(conn, len);
	if (len) {
		/* One message per stream: bytes after it are an error. */
		if (s->answered || s->inlen + len > MSG_CAP) {
			protocol_error(c);
			return NGTCP2_ERR_CALLBACK_FAILURE;
		}
		if (s->inlen + len > s->incap) {
			size_t cap = s->incap ? s->incap : 512;
			while (cap < s->inlen + len)
				cap *= 2;
			uint8_t *p = realloc(s->in, cap > MSG_CAP ? MSG_CAP : cap);
			if (p == NULL)
				return NGTCP2_ERR_CALLBACK_FAILURE;
			s->in = p;
			s->incap = cap > MSG_CAP ? MSG_CAP : cap;
		}
		memcpy(s->in + s->inlen, data, len);
		s->inlen += len;
	}
	if (!s->answered && s->inlen >= 2) {
		size_t ml = (size_t)s->in[0] << 8 | s->in[1];
		if (s->inlen > 2 + ml || (s->inlen == 2 + ml && !answer_stream(c, s, ml))) {
			protocol_error(c);
			return NGTCP2_ERR_CALLBACK_FAILURE;
		}
	}
	if ((flags & NGTCP2_STREAM_DATA_FLAG_FIN) && !s->answered) {
		protocol_error(c); /* the stream ended inside the message */
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int on_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t sid, uint64_t app_error,
			   void *ud, void *sud)
{
	struct qconn *c = ud;
	struct stream *s = sud;
	(void)conn;
	(void)flags;
	(void)sid;
	(void)app_error;
	if (s == NULL)
		return 0;
	for (struct stream **pp = &c->streams; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	stream_free(s);
	return 0;
}

static void send_to(struct doq *q, unsigned sock, const void *buf, size_t len,
		    const struct sockaddr *to, socklen_t tolen)
{
	/* A full socket buffer loses the packet; QUIC retransmits. */
	if (sendto(q->fds[sock], buf, len, MSG_DONTWAIT, to, tolen) < 0) {
		/* counted by the kernel */
	}
}

static struct stream *next_pending(struct qconn *c, struct stream *from)
{
	for (struct stream *s = from ? from->next : c->streams; s; s = s->next)
		if (!s->blocked && s->out && s->outsent < s->outlen)
			return s;
	return NULL;
}

/* Writes what the connection has to send. 0, or an ngtcp2 error. */
static int conn_write(struct doq *q, struct qconn *c, uint64_t ts)
{
	for (struct stream *s = c->streams; s; s = s->next) {
		s->blocked = false;
		if (s->cancel) {
			s->cancel = false;
			ngtcp2_conn_shutdown_stream(c->conn, s->id, DOQ_REQUEST_CANCELLED);
		}
	}
	ngtcp2_path_storage ps;
	ngtcp2_path_storage_zero(&ps);
	ngtcp2_pkt_info pi;
	struct stream *s = next_pending(c, NULL);
	for (unsigned n = 0; n < WRITE_MAX;) {
		ngtcp2_vec v = {0};
		int64_t sid = -1;
		size_t nv = 0;
		uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
		if (s) {
			sid = s->id;
			v.base = s->out + s->outsent;
			v.len = s->outlen - s->outsent;
			nv = 1;
			flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
		}
		ngtcp2_ssize wlen = -1;
		ngtcp2_ssize w =
		    ngtcp2_conn_writev_stream(c->conn, &ps.path, &pi, q->tx, sizeof(q->tx), &wlen,
					      flags, sid, nv ? &v : NULL, nv, ts);
		if (w < 0) {
			if (w == NGTCP2_ERR_WRITE_MORE) {
				s->outsent += (size_t)wlen;
				s = next_pending(c, s);
				continue;
			}
			if (w == NGTCP2_ERR_STREAM_DATA_BLOCKED || w == NGTCP2_ERR_STREAM_SHUT_WR ||
			    w == NGTCP2_ERR_STREAM_NOT_FOUND) {
				s->blocked = true;
				s = next_pending(c, s);
				continue;
			}
			return (int)w;
		}
		if (s && wlen > 0)
			s->outsent += (size_t)wlen;
		if (w == 0)
			return 0;
		send_to(q, c->sock, q->tx, (size_t)w, (const struct sockaddr *)ps.path.remote.addr,
			(socklen_t)ps.path.remote.addrlen);
		n++;
		s = next_pending(c, NULL);
	}
	return 0;
}

/* Keeps c for three PTOs without its QUIC state (RFC 9000 10.2). */
static void conn_end(struct qconn *c, int phase, uint64_t ts)
{
	c->phase = phase;
	uint64_t period = 3 * ngtcp2_conn_get_pto(c->conn);
	c->end_until = ts + (period > END_MIN ? period : END_MIN);
	c->end_rx = 0;
	c->end_next = 1;
	conn_release(c);
}

/* Ends a connection after an ngtcp2 error: silently when QUIC says so,
 * otherwise with a CONNECTION_CLOSE that says why, kept for the closing
 * period. */
static void conn_fail(struct doq *q, struct qconn *c, int rv, uint64_t ts)
{
	if (rv == NGTCP2_ERR_IDLE_CLOSE) {
		bump(q, DOQ_CLOSED_IDLE); /* RFC 9000 10.1: nothing is sent */
		conn_free(q, c);
		return;
	}
	if (rv == NGTCP2_ERR_DRAINING || ngtcp2_conn_is_in_draining_period(c->conn)) {
		bump(q, DOQ_CLOSED_PEER);
		conn_end(c, Q_DRAINING, ts);
		return;
	}
	bump(q, DOQ_CLOSED_ERROR);
	if (rv == NGTCP2_ERR_DROP_CONN || rv == NGTCP2_ERR_CLOSING ||
	    ngtcp2_conn_is_in_closing_period(c->conn)) {
		conn_free(q, c);
		return;
	}
	ngtcp2_connection_close_error ccerr;
	ngtcp2_connection_close_error_default(&ccerr);
	if (c->app_close)
		ngtcp2_connection_close_error_set_application_error(&ccerr, c->app_error, NULL, 0);
	else if (rv == NGTCP2_ERR_CRYPTO)
		ngtcp2_connection_close_error_set_transport_error_tls_alert(
		    &ccerr, ngtcp2_conn_get_tls_alert(c->conn), NULL, 0);
	else
		ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, rv, NULL, 0);
	ngtcp2_path_storage ps;
	ngtcp2_path_storage_zero(&ps);
	ngtcp2_pkt_info pi;
	ngtcp2_ssize w = ngtcp2_conn_write_connection_close(c->conn, &ps.path, &pi, q->tx,
							    sizeof(q->tx), &ccerr, ts);
	if (w <= 0 || (c->close_pkt = malloc((size_t)w)) == NULL) {
		conn_free(q, c);
		return;
	}
	memcpy(c->close_pkt, q->tx, (size_t)w);
	c->close_len = (size_t)w;
	send_to(q, c->sock, c->close_pkt, c->close_len, (const struct sockaddr *)&c->remote,
		c->rlen);
	conn_end(c, Q_CLOSING, ts);
}

/* A packet for a connection that has ended: the closing period answers
 * with the CONNECTION_CLOSE again, at a rate that halves as packets keep
 * coming (RFC 9000 10.2.1); the draining period says nothing. */
static void ended_rx(struct doq *q, struct qconn *c)
{
	if (c->phase != Q_CLOSING || ++c->end_rx < c->end_next)
		return;
	c->end_next *= 2;
	bump(q, DOQ_CLOSE_RESENT);
	send_to(q, c->sock, c->close_pkt, c->close_len, (const struct sockaddr *)&c->remote,
		c->rlen);
}

/* odcid: the client's first Destination Connection ID, from its Retry
 * token, or NULL when it sent none (hd's is the first then). */
static struct qconn *conn_new(struct doq *q, unsigned sock, const ngtcp2_pkt_hd *hd,
			      const ngtcp2_cid *odcid, const struct sockaddr_storage *from,
			      socklen_t fl, uint64_t ts)
{
	struct qconn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->q = q;
	c->serial = ++q->next_serial;
	c->sock = sock;
	memcpy(&c->remote, from, fl);
	c->rlen = fl;
	ngtcp2_cid scid;
	scid.datalen = SCID_LEN;
	if (gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, SCID_LEN) < 0)
		goto fail;
	ngtcp2_path path = {
	    .local = {(ngtcp2_sockaddr *)&q->local[sock], q->llen[sock]},
	    .remote = {(ngtcp2_sockaddr *)&c->remote, c->rlen},
	};
	ngtcp2_callbacks cb = {
	    .recv_client_initial = ngtcp2_crypto_recv_client_initial_cb,
	    .recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	    .handshake_completed = on_handshake_completed,
	    .encrypt = ngtcp2_crypto_encrypt_cb,
	    .decrypt = ngtcp2_crypto_decrypt_cb,
	    .hp_mask = ngtcp2_crypto_hp_mask_cb,
	    .recv_stream_data = on_stream_data,
	    .stream_close = on_stream_close,
	    .rand = on_rand,
	    .get_new_connection_id = on_new_cid,
	    .remove_connection_id = on_remove_cid,
	    .update_key = ngtcp2_crypto_update_key_cb,
	    .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	    .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	    .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
	    .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
	};
	ngtcp2_settings st;
	ngtcp2_settings_default(&st);
	st.initial_ts = ts;
	ngtcp2_transport_params p;
	ngtcp2_transport_params_default(&p);
	p.initial_max_streams_bidi = 100;
	p.initial_max_streams_uni = 0;
	p.initial_max_stream_data_bidi_remote = MSG_CAP;
	p.initial_max_data = 1u << 20;
	p.max_idle_timeout = (uint64_t)q->cfg.idle_ms * NGTCP2_MILLISECONDS;
	p.original_dcid = hd->dcid;
	if (odcid) {
		/* RFC 9000 7.3: both IDs of the Retry exchange are proved
		 * to the client in the transport parameters. */
		p.original_dcid = *odcid;
		p.retry_scid = hd->dcid;
		p.retry_scid_present = 1;
		st.token = hd->token;
	}
	p.stateless_reset_token_present = 1;
	if (ngtcp2_crypto_generate_stateless_reset_token(p.stateless_reset_token, q->secret,
							 sizeof(q->secret), &scid) != 0)
		goto fail;
	if (ngtcp2_conn_server_new(&c->conn, &hd->scid, &scid, &path, hd->version, &cb, &st, &p,
				   NULL, c) != 0) {
		c->conn = NULL;
		goto fail;
	}
	static const gnutls_datum_t alpn = {(unsigned char *)"doq", 3};
	if (gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_ENABLE_EARLY_DATA |
				     GNUTLS_NO_END_OF_EARLY_DATA) != 0) {
		c->tls = NULL;
		goto fail;
	}
	c->cr = q->cur;
	c->cr->refs++;
	c->ref.get_conn = get_conn;
	c->ref.user_data = c;
	if (gnutls_priority_set_direct(c->tls, TLS_PRIORITY, NULL) != 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cr->cred) != 0 ||
	    ngtcp2_crypto_gnutls_configure_server_session(c->tls) != 0 ||
	    gnutls_alpn_set_protocols(c->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY) != 0)
		goto fail;
	gnutls_session_set_ptr(c->tls, &c->ref);
	ngtcp2_conn_set_tls_native_handle(c->conn, c->tls);
	cid_add(c, &scid);
	cid_add(c, &hd->dcid); /* the client's choice, until it learns ours */
	c->next = q->conns;
	if (q->conns)
		q->conns->prev = c;
	q->conns = c;
	q->nconns++;
	bump(q, DOQ_ACCEPTED);
	return c;
fail:
	ngtcp2_conn_del(c->conn);
	if (c->tls)
		gnutls_deinit(c->tls);
	creds_put(c->cr);
	free(c);
	return NULL;
}

static void version_negotiation(struct doq *q, unsigned sock, const ngtcp2_version_cid *vc,
				const struct sockaddr_storage *from, socklen_t fl)
{
	static const uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
	uint8_t r;
	gnutls_rnd(GNUTLS_RND_NONCE, &r, 1);
	ngtcp2_ssize w = ngtcp2_pkt_write_version_negotiation(
	    q->tx, sizeof(q->tx), r, vc->scid, vc->scidlen, vc->dcid, vc->dcidlen, versions, 1);
	if (w > 0) {
		bump(q, DOQ_VERSION_NEGOTIATIONS);
		send_to(q, sock, q->tx, (size_t)w, (const struct sockaddr *)from, fl);
	}
}

/* Address validation (RFC 9000 8.1.2): a Retry whose token carries the
 * client's address, its first DCID and the time, sealed with token_key. */
static void send_retry(struct doq *q, unsigned sock, const ngtcp2_pkt_hd *hd,
		       const struct sockaddr_storage *from, socklen_t fl, uint64_t ts)
{
	uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
	ngtcp2_cid scid;
	scid.datalen = SCID_LEN;
	if (gnutls_rnd(GNUTLS_RND_NONCE, scid.data, SCID_LEN) < 0)
		return;
	ngtcp2_ssize tl = ngtcp2_crypto_generate_retry_token(
	    token, q->token_key, sizeof(q->token_key), hd->version, (const ngtcp2_sockaddr *)from,
	    fl, &scid, &hd->dcid, ts);
	if (tl < 0)
		return;
	ngtcp2_ssize w = ngtcp2_crypto_write_retry(q->tx, sizeof(q->tx), hd->version, &hd->scid,
						   &scid, &hd->dcid, token, (size_t)tl);
	if (w > 0) {
		bump(q, DOQ_RETRIES);
		send_to(q, sock, q->tx, (size_t)w, (const struct sockaddr *)from, fl);
	}
}

/* A client Initial for no known connection: validate its address when the
 * policy asks, then start the connection. NULL when none was made. */
static struct qconn *accept_initial(struct doq *q, unsigned sock, size_t n,
				    const struct sockaddr_storage *from, socklen_t fl, uint64_t ts)
{
	ngtcp2_pkt_hd hd;
	if (ngtcp2_accept(&hd, q->rx, n) != 0)
		return NULL; /* not a client Initial: nothing to say to it */
	if (q->nconns >= q->cfg.max_conns) {
		bump(q, DOQ_REFUSED_LIMIT);
		return NULL;
	}
	bool validate = q->cfg.retry_always || q->nconns >= q->cfg.max_conns / 2;
	ngtcp2_cid odcid;
	bool have_odcid = false;
	if (hd.type == NGTCP2_PKT_INITIAL && hd.token.len &&
	    hd.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
		/* Our token came back: it must be ours, for this address and
		 * recent, or the client is told INVALID_TOKEN (8.1.3). */
		if (ngtcp2_crypto_verify_retry_token(&odcid, hd.token.base, hd.token.len,
						     q->token_key, sizeof(q->token_key), hd.version,
						     (const ngtcp2_sockaddr *)from, fl, &hd.dcid,
						     TOKEN_TTL, ts) != 0) {
			bump(q, DOQ_INVALID_TOKENS);
			ngtcp2_ssize w = ngtcp2_crypto_write_connection_close(
			    q->tx, sizeof(q->tx), hd.version, &hd.scid, &hd.dcid,
			    NGTCP2_INVALID_TOKEN, NULL, 0);
			if (w > 0)
				send_to(q, sock, q->tx, (size_t)w, (const struct sockaddr *)from,
					fl);
			return NULL;
		}
		have_odcid = true;
	} else if (validate) {
		if (hd.type == NGTCP2_PKT_INITIAL)
			send_retry(q, sock, &hd, from, fl, ts);
		return NULL; /* 0-RTT before validation: dropped */
	}
	return conn_new(q, sock, &hd, have_odcid ? &odcid : NULL, from, fl, ts);
}

static void on_datagram(struct doq *q, unsigned sock, size_t n, const struct sockaddr_storage *from,
			socklen_t fl, uint64_t ts)
{
	ngtcp2_version_cid vc;
	int rv = ngtcp2_pkt_decode_version_cid(&vc, q->rx, n, SCID_LEN);
	if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
		version_negotiation(q, sock, &vc, from, fl);
		return;
	}
	if (rv != 0)
		return;
	struct qconn *c = find_conn(q, vc.dcid, vc.dcidlen);
	if (c && c->phase != Q_OPEN) {
		ended_rx(q, c);
		return;
	}
	if (c == NULL && (c = accept_initial(q, sock, n, from, fl, ts)) == NULL)
		return;
	ngtcp2_path path = {
	    .local = {(ngtcp2_sockaddr *)&q->local[sock], q->llen[sock]},
	    .remote = {(ngtcp2_sockaddr *)from, fl},
	};
	rv = ngtcp2_conn_read_pkt(c->conn, &path, NULL, q->rx, n, ts);
	if (rv == 0)
		rv = conn_write(q, c, ts);
	if (rv != 0)
		conn_fail(q, c, rv, ts);
}

static void on_socket(struct doq *q, unsigned sock)
{
	for (int i = 0; i < RX_BURST; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(q->fds[sock], q->rx, sizeof(q->rx), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		if (n <= 0)
			return;
		on_datagram(q, sock, (size_t)n, &from, fl, now_ns());
	}
}

/* Runs expired QUIC timers; returns ms until the next one (at most 100). */
static int timers(struct doq *q, uint64_t ts)
{
	uint64_t next = ts + 100 * NGTCP2_MILLISECONDS;
	for (struct qconn *c = q->conns, *nx; c; c = nx) {
		nx = c->next;
		if (c->phase != Q_OPEN) {
			if (c->end_until <= ts)
				conn_free(q, c);
			else if (c->end_until < next)
				next = c->end_until;
			continue;
		}
		uint64_t exp = ngtcp2_conn_get_expiry(c->conn);
		if (exp <= ts) {
			int rv = ngtcp2_conn_handle_expiry(c->conn, ts);
			if (rv == 0)
				rv = conn_write(q, c, ts);
			if (rv != 0) {
				conn_fail(q, c, rv, ts);
				continue;
			}
			exp = ngtcp2_conn_get_expiry(c->conn);
		}
		if (exp < next)
			next = exp;
	}
	if (next <= ts)
		return 0;
	return (int)((next - ts + NGTCP2_MILLISECONDS - 1) / NGTCP2_MILLISECONDS);
}

void doq_deliver(struct doq *q, uint64_t token, const uint8_t *resp, size_t len)
{
	struct reply *rp = malloc(sizeof(*rp) + len);
	if (rp == NULL)
		return; /* the client's own timeout ends the stream */
	rp->token = token;
	rp->len = len;
	if (len)
		memcpy(rp->data, resp, len);
	pthread_mutex_lock(&q->inbox_lock);
	rp->next = q->inbox;
	q->inbox = rp;
	pthread_mutex_unlock(&q->inbox_lock);
	uint64_t one = 1;
	if (write(q->wake, &one, sizeof(one)) < 0) {
		/* the 100 ms tick drains it too */
	}
}

/* The resolver's responses onto their streams, if they are still there. */
static void drain_inbox(struct doq *q, uint64_t ts)
{
	pthread_mutex_lock(&q->inbox_lock);
	struct reply *list = q->inbox;
	q->inbox = NULL;
	pthread_mutex_unlock(&q->inbox_lock);
	while (list) {
		struct reply *rp = list;
		list = rp->next;
		uint32_t serial = (uint32_t)(rp->token >> 32);
		int64_t sid = (int64_t)(rp->token & 0xffffffffu) << 2;
		struct qconn *c = q->conns;
		while (c && c->serial != serial)
			c = c->next;
		struct stream *s = NULL;
		if (c && c->phase == Q_OPEN)
			for (s = c->streams; s && s->id != sid; s = s->next)
				;
		if (s && s->answered && s->out == NULL && !s->cancel) {
			if (rp->len == 0 || (s->out = malloc(2 + rp->len)) == NULL) {
				s->cancel = true;
			} else {
				s->out[0] = (uint8_t)(rp->len >> 8);
				s->out[1] = (uint8_t)rp->len;
				memcpy(s->out + 2, rp->data, rp->len);
				s->outlen = 2 + rp->len;
			}
			int rv = conn_write(q, c, ts);
			if (rv != 0)
				conn_fail(q, c, rv, ts);
		}
		free(rp);
	}
}

static void *doq_main(void *arg)
{
	struct doq *q = arg;
	int wait_ms = 100;
	while (__atomic_load_n(&q->running, __ATOMIC_ACQUIRE)) {
		struct epoll_event evs[SOCK_MAX + 1];
		int n = epoll_wait(q->ep, evs, SOCK_MAX + 1, wait_ms);
		qsbr_online(q->cfg.qsbr, q->cfg.reader_id);
		const struct snapmgr_live *live = snapmgr_current(q->cfg.mgr);
		q->snap = live ? live->snap : NULL;
		if (q->cfg.bind)
			q->cfg.bind(live ? live->state : NULL, &q->ctx);
		creds_adopt(q);
		for (int i = 0; i < n; i++) {
			uint32_t tag = evs[i].data.u32;
			if (tag == SOCK_MAX) {
				uint64_t v;
				if (read(q->wake, &v, sizeof(v)) < 0)
					continue;
			} else {
				on_socket(q, tag);
			}
		}
		if (q->cfg.route)
			drain_inbox(q, now_ns());
		wait_ms = timers(q, now_ns());
		q->snap = NULL;
		q->ctx.health = NULL;
		q->ctx.fw = NULL;
		q->ctx.osign = NULL;
		q->ctx.zone_dead = NULL;
		qsbr_offline(q->cfg.qsbr, q->cfg.reader_id);
	}
	return NULL;
}

static int spawn_default(pthread_t *th, const char *name, void *(*fn)(void *), void *arg)
{
	(void)name;
	return pthread_create(th, NULL, fn, arg);
}

static void free_all(struct doq *q)
{
	while (q->conns)
		conn_free(q, q->conns);
	for (unsigned i = 0; i < q->nfds; i++)
		close(q->fds[i]);
	if (q->ep >= 0)
		close(q->ep);
	if (q->wake >= 0)
		close(q->wake);
	creds_put(atomic_exchange(&q->next, NULL));
	creds_put(q->cur);
	while (q->inbox) {
		struct reply *rp = q->inbox;
		q->inbox = rp->next;
		free(rp);
	}
	pthread_mutex_destroy(&q->inbox_lock);
	free(q->cert);
	free(q->key);
	free(q);
}

struct doq *doq_start(const struct doq_cfg *cfg, struct p53_err *err)
{
	struct doq *q = calloc(1, sizeof(*q));
	if (q == NULL || cfg->nfds > SOCK_MAX) {
		for (size_t i = 0; i < cfg->nfds; i++)
			close(cfg->fds[i]);
		free(q);
		p53_err_set(err, P53_ENOMEM, "QUIC: out of memory or too many sockets");
		return NULL;
	}
	q->cfg = *cfg;
	q->cfg.fds = NULL;
	q->ep = q->wake = -1;
	pthread_mutex_init(&q->inbox_lock, NULL);
	for (size_t i = 0; i < cfg->nfds; i++) {
		q->fds[q->nfds] = cfg->fds[i];
		q->llen[q->nfds] = sizeof(q->local[0]);
		getsockname(cfg->fds[i], (struct sockaddr *)&q->local[q->nfds], &q->llen[q->nfds]);
		q->nfds++;
	}
	if (q->cfg.name == NULL)
		q->cfg.name = "port53";
	if (q->cfg.max_conns == 0)
		q->cfg.max_conns = 256;
	if (q->cfg.idle_ms == 0)
		q->cfg.idle_ms = 10000;
	atomic_init(&q->next, NULL);
	p53_ctx_init(&q->ctx, cfg->answer, now_ns() ^ 0x9e3779b97f4a7c15ULL);
	q->ctx.worker = cfg->worker;
	if ((q->cert = strdup(cfg->cert)) == NULL || (q->key = strdup(cfg->key)) == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		goto fail;
	}
	if ((q->cur = creds_load(cfg->cert, cfg->key, err)) == NULL)
		goto fail;
	if (gnutls_rnd(GNUTLS_RND_KEY, q->secret, sizeof(q->secret)) < 0 ||
	    gnutls_rnd(GNUTLS_RND_KEY, q->token_key, sizeof(q->token_key)) < 0) {
		p53_err_set(err, P53_EIO, "QUIC: no randomness");
		goto fail;
	}
	q->ep = epoll_create1(EPOLL_CLOEXEC);
	q->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->ep < 0 || q->wake < 0) {
		p53_err_set(err, P53_EIO, "QUIC: epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	for (unsigned i = 0; i <= q->nfds; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = i < q->nfds ? i : SOCK_MAX};
		if (epoll_ctl(q->ep, EPOLL_CTL_ADD, i < q->nfds ? q->fds[i] : q->wake, &e) != 0) {
			p53_err_set(err, P53_EIO, "QUIC: epoll: %s", strerror(errno));
			goto fail;
		}
	}
	if (qsbr_reader_register(q->cfg.qsbr, q->cfg.reader_id) != 0) {
		p53_err_set(err, P53_EINVAL, "QUIC: QSBR reader %u unavailable", q->cfg.reader_id);
		goto fail;
	}
	q->running = true;
	if ((cfg->spawn ? cfg->spawn : spawn_default)(&q->thread, "p53-quic", doq_main, q) != 0) {
		qsbr_reader_unregister(q->cfg.qsbr, q->cfg.reader_id);
		p53_err_set(err, P53_EIO, "QUIC: cannot start its thread");
		goto fail;
	}
	return q;
fail:
	free_all(q);
	return NULL;
}

void doq_stop(struct doq *q)
{
	if (q == NULL)
		return;
	__atomic_store_n(&q->running, false, __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (write(q->wake, &one, sizeof(one)) < 0) {
		/* the 100 ms tick notices too */
	}
	pthread_join(q->thread, NULL);
	qsbr_reader_unregister(q->cfg.qsbr, q->cfg.reader_id);
	free_all(q);
}

void doq_counters(const struct doq *q, api_emit_fn emit, void *sink)
{
	api_emit_engine(emit, sink, q->cfg.worker, q->ctx.stats);
	for (int i = 0; i < DOQ_C__COUNT; i++)
		emit(sink, "quic", "event", ctr_names[i], q->cfg.worker,
		     doq_ctr(q, (enum doq_ctr)i));
}
