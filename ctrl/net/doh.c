/* DNS over HTTPS on nghttp2 (see doh.h).
 *
 * nghttp2 runs the protocol (frames, HPACK, flow control, stream states,
 * HTTP/2 messaging rules); this file keeps one small record per request
 * stream, turns a finished request into a DNS message (doh_request), and
 * gives the answer back as a response whose body is read from the stream
 * record.
 *
 * Flow control is manual: a body's bytes are given back to the client's
 * windows (nghttp2_session_consume) only once its stream is answered or
 * gone, so the connection window bounds the body bytes a connection holds.
 * Bytes we do not keep (a body over the limit) are given back at once.
 *
 * Requests are answered in doh_flush, not in the receive callbacks: there
 * the backlog can be checked before each answer, and a resolver hand-off
 * never runs in the middle of nghttp2's parsing.
 */
#include "ctrl/net/doh.h"

#include <nghttp2/nghttp2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MSG_MAX	  65535
#define DNS_HDR	  12
#define CTYPE_MAX 64
#define GATHER	  16384 /* output gathered before a write: one TLS record */

enum st_state {
	S_RECV,	    /* request headers or body arriving */
	S_READY,    /* complete (or refused early): waiting for doh_flush */
	S_RESOLVER, /* answered later (doh_deliver) */
	S_SENDING,  /* response submitted */
	S_RESET,    /* reset by us, waiting for nghttp2 to close it */
};

struct stream {
	int32_t id;
	enum st_state state;
	int status;	   /* an early error status (413, 414, 431), 0: none yet */
	uint64_t since;	   /* the deadline starts here */
	size_t hdr_bytes;  /* header list size as RFC 9113 6.5.2 counts it */
	size_t unconsumed; /* body bytes kept, not yet given back to the windows */
	char method[8];	   /* longer methods are truncated: still not GET/POST */
	char ctype[CTYPE_MAX];
	bool has_ctype;
	char *target;
	size_t tlen;
	uint8_t *body;
	size_t blen, bcap;
	uint8_t *resp;
	size_t rlen, roff;
	struct stream *next, *prev; /* every stream of the session */
	struct stream *rnext;	    /* the ready queue */
};

struct doh_sess {
	nghttp2_session *ng;
	struct doh_limits lim;
	const struct doh_ops *ops;
	void *arg;
	struct doh_stats *st;
	uint8_t *qbuf, *abuf; /* scratch: the decoded query, the answer */
	size_t qcap, acap;
	uint64_t now;
	struct stream *streams;
	struct stream *ready, **ready_tail;
	unsigned nstreams;
	size_t held; /* response bytes not yet handed to nghttp2 */
	bool goaway;
	bool cut;     /* an answer ended in the output gathered: write it now */
	uint8_t *out; /* what the peer did not take yet: out[off, len) */
	size_t olen, ooff, ocap;
};

static const char *const ctr_names[DOH_C__COUNT] = {
    [DOH_SESSIONS] = "sessions",
    [DOH_GET] = "get",
    [DOH_POST] = "post",
    [DOH_ANSWERED] = "status_200",
    [DOH_ST_400] = "status_400",
    [DOH_ST_404] = "status_404",
    [DOH_ST_405] = "status_405",
    [DOH_ST_413] = "status_413",
    [DOH_ST_414] = "status_414",
    [DOH_ST_415] = "status_415",
    [DOH_ST_431] = "status_431",
    [DOH_DROPPED] = "dropped",
    [DOH_RESET_DEADLINE] = "reset_deadline",
    [DOH_RESET_BY_PEER] = "reset_by_peer",
    [DOH_PROTOCOL_ERRORS] = "protocol_errors",
    [DOH_GOAWAY] = "goaway",
};

const char *doh_ctr_name(enum doh_ctr c)
{
	return c < DOH_C__COUNT ? ctr_names[c] : "?";
}

void doh_limits_default(struct doh_limits *l)
{
	*l = (struct doh_limits){
	    .path = DOH_PATH_DEFAULT,
	    .max_streams = 100,
	    .max_header = 8192,
	    .max_body = MSG_MAX,
	    .conn_window = 262144,
	    .out_max = 65536,
	    .msg_ms = 5000,
	};
}

bool doh_path_valid(const char *p)
{
	size_t n = p ? strlen(p) : 0;
	if (n == 0 || n > DOH_PATH_MAX || p[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '?' || p[i] == '#' || (unsigned char)p[i] <= ' ' ||
		    (unsigned char)p[i] >= 0x7f)
			return false;
	return true;
}

static void bump(struct doh_sess *s, enum doh_ctr c)
{
	if (s->st)
		__atomic_store_n(&s->st->c[c], s->st->c[c] + 1, __ATOMIC_RELAXED);
}

/* ---- request parsing ---- */

static int b64url_val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	return -1;
}

/* base64url without padding (RFC 8484 4.1, RFC 4648 5). -1: not that;
 * -2: longer than cap. */
static long b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	if (n % 4 == 1)
		return -1;
	size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (need > cap)
		return -2;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_val((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* The bits left over must be zero (RFC 4648 3.5: canonical). */
	if (bits && (acc & ((1u << bits) - 1)))
		return -1;
	return (long)o;
}

static bool ctype_is_dns(const char *ct)
{
	static const char want[] = "application/dns-message";
	size_t n = sizeof(want) - 1;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	/* Parameters may follow (RFC 9110 8.3). */
	return ct[n] == 0 || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

int doh_request(const char *path_cfg, const char *method, const char *target, size_t tlen,
		const char *ctype, const uint8_t *body, size_t blen, uint8_t *msg, size_t cap,
		size_t *mlen)
{
	const char *q = memchr(target, '?', tlen);
	size_t plen = q ? (size_t)(q - target) : tlen;
	if (plen != strlen(path_cfg) || memcmp(target, path_cfg, plen) != 0)
		return 404;
	if (strcmp(method, "GET") == 0) {
		const char *p = q ? q + 1 : target + tlen, *end = target + tlen;
		const char *val = NULL;
		size_t vlen = 0;
		while (p < end) {
			const char *amp = memchr(p, '&', (size_t)(end - p));
			const char *e = amp ? amp : end;
			if (e - p >= 4 && memcmp(p, "dns=", 4) == 0) {
				val = p + 4;
				vlen = (size_t)(e - val);
				break;
			}
			p = e + 1;
		}
		if (val == NULL)
			return 400;
		long n = b64url_decode(val, vlen, msg, cap);
		if (n == -2)
			return 413;
		if (n < DNS_HDR)
			return 400;
		*mlen = (size_t)n;
		return 200;
	}
	if (strcmp(method, "POST") == 0) {
		if (ctype == NULL || !ctype_is_dns(ctype))
			return 415;
		if (blen > cap)
			return 413;
		if (blen < DNS_HDR)
			return 400;
		memcpy(msg, body, blen);
		*mlen = blen;
		return 200;
	}
	return 405;
}

/* ---- the TTL for cache-control ---- */

/* Offset after the name at off, or 0 when it runs out of the message. */
static size_t skip_name(const uint8_t *m, size_t len, size_t off)
{
	for (unsigned labels = 0; off < len && labels < 128; labels++) {
		uint8_t l = m[off];
		if ((l & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if (l & 0xc0)
			return 0;
		off += 1 + (size_t)l;
		if (l == 0)
			return off <= len ? off : 0;
	}
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint32_t doh_max_age(const uint8_t *m, size_t len)
{
	if (len < DNS_HDR)
		return 0;
	unsigned qd = (unsigned)(m[4] << 8 | m[5]), an = (unsigned)(m[6] << 8 | m[7]);
	unsigned ns = (unsigned)(m[8] << 8 | m[9]);
	size_t off = DNS_HDR;
	for (unsigned i = 0; i < qd; i++) {
		if ((off = skip_name(m, len, off)) == 0 || off + 4 > len)
			return 0;
		off += 4;
	}
	bool any = false;
	uint32_t min = UINT32_MAX;
	for (unsigned i = 0; i < an + ns; i++) {
		if ((off = skip_name(m, len, off)) == 0 || off + 10 > len)
			return 0;
		uint16_t type = (uint16_t)(m[off] << 8 | m[off + 1]);
		uint32_t ttl = rd32(m + off + 4);
		size_t rdl = (size_t)(m[off + 8] << 8 | m[off + 9]);
		size_t rd = off + 10;
		if (rd + rdl > len)
			return 0;
		off = rd + rdl;
		if (i < an) {
			any = true;
			min = ttl < min ? ttl : min;
			continue;
		}
		if (any)
			break; /* the answer section decided */
		if (type != 6)
			continue;
		/* Negative answer: the SOA's TTL and MINIMUM (RFC 2308 5). */
		size_t p = skip_name(m, rd + rdl, rd);
		if (p)
			p = skip_name(m, rd + rdl, p);
		if (p == 0 || p + 20 > rd + rdl)
			return 0;
		uint32_t minimum = rd32(m + p + 16);
		return ttl < minimum ? ttl : minimum;
	}
	return any ? min : 0;
}

/* ---- streams ---- */

/* Takes a ready stream out of the queue of answers to send. */
static void ready_unlink(struct doh_sess *s, struct stream *st)
{
	struct stream **pp = &s->ready;
	while (*pp && *pp != st)
		pp = &(*pp)->rnext;
	if (*pp)
		*pp = st->rnext;
	s->ready_tail = &s->ready;
	for (struct stream *r = s->ready; r; r = r->rnext)
		s->ready_tail = &r->rnext;
}

static void stream_free(struct doh_sess *s, struct stream *st)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		s->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	if (st->state == S_READY)
		ready_unlink(s, st);
	if (st->rlen > st->roff)
		s->held -= st->rlen - st->roff;
	free(st->target);
	free(st->body);
	free(st->resp);
	free(st);
	s->nstreams--;
}

/* Gives the body's bytes back to the client's windows. */
static void release_body(struct doh_sess *s, struct stream *st)
{
	if (st->unconsumed)
		nghttp2_session_consume(s->ng, st->id, st->unconsumed);
	st->unconsumed = 0;
	free(st->body);
	st->body = NULL;
	st->blen = st->bcap = 0;
}

static void make_ready(struct doh_sess *s, struct stream *st)
{
	if (st->state != S_RECV)
		return;
	st->state = S_READY;
	st->rnext = NULL;
	*s->ready_tail = st;
	s->ready_tail = &st->rnext;
}

static void reset(struct doh_sess *s, struct stream *st, uint32_t code)
{
	if (st->state == S_READY)
		ready_unlink(s, st);
	st->state = S_RESET;
	release_body(s, st);
	nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, code);
}

static ssize_t read_body(nghttp2_session *ng, int32_t sid, uint8_t *buf, size_t len,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct doh_sess *s = ud;
	struct stream *st = src->ptr;
	(void)ng;
	(void)sid;
	size_t n = st->rlen - st->roff;
	if (n > len)
		n = len;
	if (n)
		memcpy(buf, st->resp + st->roff, n);
	st->roff += n;
	s->held -= n;
	if (st->roff == st->rlen) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		s->cut = true;
	}
	return (ssize_t)n;
}

#define NV(n, v, vl)                                                                               \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NO_COPY_NAME  \
	}

/* Submits the response: status, and for a 200 the DNS message. */
static void respond(struct doh_sess *s, struct stream *st, int status, const uint8_t *msg,
		    size_t len)
{
	char code[8], clen[24], cache[40];
	snprintf(code, sizeof(code), "%03u", (unsigned)status % 1000u);
	release_body(s, st);
	st->state = S_SENDING;
	st->since = s->now;
	if (status == 200) {
		uint8_t *copy = malloc(len);
		if (copy == NULL) {
			reset(s, st, NGHTTP2_INTERNAL_ERROR);
			return;
		}
		memcpy(copy, msg, len);
		st->resp = copy;
		st->rlen = len;
		st->roff = 0;
		s->held += len;
	}
	snprintf(clen, sizeof(clen), "%zu", st->rlen);
	nghttp2_nv nv[5];
	size_t n = 0;
	nv[n++] = (nghttp2_nv)NV(":status", code, 3);
	if (status == 200) {
		snprintf(cache, sizeof(cache), "max-age=%u", doh_max_age(msg, len));
		nv[n++] = (nghttp2_nv)NV("content-type", "application/dns-message", 23);
		nv[n++] = (nghttp2_nv)NV("cache-control", cache, strlen(cache));
	} else if (status == 405) {
		nv[n++] = (nghttp2_nv)NV("allow", "GET, POST", 9);
	}
	nv[n++] = (nghttp2_nv)NV("content-length", clen, strlen(clen));
	nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
	/* Header values are copied by nghttp2 (no NO_COPY_VALUE flag). */
	if (nghttp2_submit_response(s->ng, st->id, nv, n, status == 200 ? &dp : NULL) != 0)
		reset(s, st, NGHTTP2_INTERNAL_ERROR);
	static const struct {
		int status;
		enum doh_ctr ctr;
	} by_status[] = {
	    {200, DOH_ANSWERED}, {400, DOH_ST_400}, {404, DOH_ST_404}, {405, DOH_ST_405},
	    {413, DOH_ST_413},	 {414, DOH_ST_414}, {415, DOH_ST_415}, {431, DOH_ST_431},
	};
	for (size_t i = 0; i < sizeof(by_status) / sizeof(by_status[0]); i++)
		if (by_status[i].status == status)
			bump(s, by_status[i].ctr);
}

/* A request complete (or refused early): its answer. */
static void answer(struct doh_sess *s, struct stream *st)
{
	if (st->status) {
		respond(s, st, st->status, NULL, 0);
		return;
	}
	if (strcmp(st->method, "GET") == 0)
		bump(s, DOH_GET);
	else if (strcmp(st->method, "POST") == 0)
		bump(s, DOH_POST);
	size_t qlen = 0, rlen = 0;
	int status = doh_request(s->lim.path, st->method, st->target ? st->target : "", st->tlen,
				 st->has_ctype ? st->ctype : NULL, st->body, st->blen, s->qbuf,
				 s->qcap < s->lim.max_body ? s->qcap : s->lim.max_body, &qlen);
	if (status != 200) {
		respond(s, st, status, NULL, 0);
		return;
	}
	release_body(s, st);
	switch (s->ops->answer(s->arg, st->id, s->qbuf, qlen, s->abuf, s->acap, &rlen)) {
	case DOH_ANSWER:
		if (rlen >= DNS_HDR && rlen <= s->acap)
			respond(s, st, 200, s->abuf, rlen);
		else
			reset(s, st, NGHTTP2_INTERNAL_ERROR);
		break;
	case DOH_LATER:
		st->state = S_RESOLVER;
		break;
	case DOH_DROP:
		bump(s, DOH_DROPPED);
		reset(s, st, NGHTTP2_CANCEL);
		break;
	case DOH_BAD:
		respond(s, st, 400, NULL, 0);
		break;
	}
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
	struct doh_sess *s = ud;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct stream *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	st->id = f->hd.stream_id;
	st->since = s->now;
	st->next = s->streams;
	if (s->streams)
		s->streams->prev = st;
	s->streams = st;
	s->nstreams++;
	nghttp2_session_set_stream_user_data(ng, st->id, st);
	return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct doh_sess *s = ud;
	(void)flags;
	struct stream *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
	if (st == NULL || f->headers.cat != NGHTTP2_HCAT_REQUEST || st->state != S_RECV)
		return 0;
	st->hdr_bytes += nlen + vlen + 32;
	if (nlen == 5 && memcmp(name, ":path", 5) == 0 && vlen + 37 > s->lim.max_header) {
		st->status = 414;
		return 0;
	}
	if (st->hdr_bytes > s->lim.max_header) {
		if (st->status == 0)
			st->status = 431;
		return 0;
	}
	if (nlen == 7 && memcmp(name, ":method", 7) == 0) {
		size_t n = vlen < sizeof(st->method) - 1 ? vlen : sizeof(st->method) - 1;
		memcpy(st->method, value, n);
		st->method[n] = 0;
	} else if (nlen == 5 && memcmp(name, ":path", 5) == 0 && st->target == NULL) {
		if ((st->target = malloc(vlen + 1)) == NULL)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		memcpy(st->target, value, vlen);
		st->target[vlen] = 0;
		st->tlen = vlen;
	} else if (nlen == 12 && memcmp(name, "content-type", 12) == 0) {
		size_t n = vlen < sizeof(st->ctype) - 1 ? vlen : sizeof(st->ctype) - 1;
		memcpy(st->ctype, value, n);
		st->ctype[n] = 0;
		st->has_ctype = true;
	} else if (nlen == 14 && memcmp(name, "content-length", 14) == 0) {
		/* Refused before the body arrives. nghttp2 has checked it is
		 * a number. */
		unsigned long long cl = 0;
		for (size_t i = 0; i < vlen && cl <= s->lim.max_body; i++)
			cl = cl * 10 + (unsigned)(value[i] - '0');
		if (cl > s->lim.max_body && st->status == 0)
			st->status = 413;
	}
	return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t sid, const uint8_t *data, size_t len,
		   void *ud)
{
	struct doh_sess *s = ud;
	(void)flags;
	struct stream *st = nghttp2_session_get_stream_user_data(ng, sid);
	bool keep = st && st->state == S_RECV && st->status == 0;
	if (keep && st->blen + len > s->lim.max_body) {
		st->status = 413;
		release_body(s, st);
		make_ready(s, st); /* answered at once: no need to wait for the rest */
		keep = false;
	}
	if (!keep) {
		nghttp2_session_consume(ng, sid, len);
		return 0;
	}
	if (st->blen + len > st->bcap) {
		size_t cap = st->bcap ? st->bcap : 512;
		while (cap < st->blen + len)
			cap *= 2;
		if (cap > s->lim.max_body)
			cap = s->lim.max_body;
		uint8_t *p = realloc(st->body, cap);
		if (p == NULL)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		st->body = p;
		st->bcap = cap;
	}
	memcpy(st->body + st->blen, data, len);
	st->blen += len;
	st->unconsumed += len;
	return 0;
}

static int on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
	struct doh_sess *s = ud;
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	struct stream *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
	if (st == NULL || st->state != S_RECV)
		return 0;
	/* A refusal decided from the headers goes out without waiting for
	 * the body; otherwise the request is whole at END_STREAM. */
	if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
	    (f->hd.type == NGHTTP2_HEADERS && st->status != 0))
		make_ready(s, st);
	return 0;
}

static int on_close(nghttp2_session *ng, int32_t sid, uint32_t code, void *ud)
{
	struct doh_sess *s = ud;
	struct stream *st = nghttp2_session_get_stream_user_data(ng, sid);
	if (st == NULL)
		return 0;
	if (code != NGHTTP2_NO_ERROR && st->state != S_RESET &&
	    (st->state != S_SENDING || st->roff < st->rlen))
		bump(s, DOH_RESET_BY_PEER);
	/* The stream is gone: its window with it, but the connection's
	 * share of the body comes back. */
	if (st->unconsumed)
		nghttp2_session_consume_connection(ng, st->unconsumed);
	st->unconsumed = 0;
	nghttp2_session_set_stream_user_data(ng, sid, NULL);
	stream_free(s, st);
	return 0;
}

/* ---- the session ---- */

struct doh_sess *doh_sess_new(const struct doh_limits *lim, const struct doh_ops *ops, void *arg,
			      struct doh_stats *stats, uint8_t *scratch, size_t scratch_len)
{
	if (scratch_len < 2 * MSG_MAX)
		return NULL;
	struct doh_sess *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	struct doh_limits def;
	doh_limits_default(&def);
	s->lim = *lim;
	if (s->lim.path == NULL)
		s->lim.path = def.path;
	if (!s->lim.max_streams)
		s->lim.max_streams = def.max_streams;
	if (!s->lim.max_header)
		s->lim.max_header = def.max_header;
	if (!s->lim.max_body || s->lim.max_body > MSG_MAX)
		s->lim.max_body = def.max_body;
	if (!s->lim.conn_window)
		s->lim.conn_window = def.conn_window;
	if (s->lim.conn_window < s->lim.max_body)
		s->lim.conn_window = s->lim.max_body;
	if (!s->lim.out_max)
		s->lim.out_max = def.out_max;
	if (!s->lim.msg_ms)
		s->lim.msg_ms = def.msg_ms;
	s->ops = ops;
	s->arg = arg;
	s->st = stats;
	s->qbuf = scratch;
	s->qcap = MSG_MAX;
	s->abuf = scratch + MSG_MAX;
	s->acap = scratch_len - MSG_MAX < MSG_MAX ? scratch_len - MSG_MAX : MSG_MAX;
	s->ready_tail = &s->ready;

	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;
	if (nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0)
		goto fail;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	if (nghttp2_session_server_new2(&s->ng, cb, s, opt) != 0)
		goto fail;
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	cb = NULL;
	opt = NULL;
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->lim.max_streams},
	    /* A whole body fits in a stream's window: it is given back
	     * only once answered. */
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)s->lim.max_body},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)s->lim.max_header},
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	};
	if (nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) !=
		0 ||
	    nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0,
						  (int32_t)s->lim.conn_window) != 0)
		goto fail;
	bump(s, DOH_SESSIONS);
	return s;
fail:
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	doh_sess_free(s);
	return NULL;
}

void doh_sess_free(struct doh_sess *s)
{
	if (s == NULL)
		return;
	/* nghttp2_session_del calls no stream-close callback: free them. */
	nghttp2_session_del(s->ng);
	while (s->streams)
		stream_free(s, s->streams);
	free(s->out);
	free(s);
}

bool doh_feed(struct doh_sess *s, const uint8_t *in, size_t len, uint64_t now_ms)
{
	s->now = now_ms;
	ssize_t n = nghttp2_session_mem_recv(s->ng, in, len);
	if (n < 0 || (size_t)n != len) {
		bump(s, DOH_PROTOCOL_ERRORS);
		return false;
	}
	return true;
}

static bool out_keep(struct doh_sess *s, const uint8_t *p, size_t n)
{
	if (s->ooff == s->olen)
		s->ooff = s->olen = 0;
	if (s->olen + n > s->ocap) {
		if (s->ooff) {
			memmove(s->out, s->out + s->ooff, s->olen - s->ooff);
			s->olen -= s->ooff;
			s->ooff = 0;
		}
		size_t cap = s->ocap ? s->ocap : 4096;
		while (cap < s->olen + n)
			cap *= 2;
		uint8_t *q = realloc(s->out, cap);
		if (q == NULL)
			return false;
		s->out = q;
		s->ocap = cap;
	}
	memcpy(s->out + s->olen, p, n);
	s->olen += n;
	return true;
}

bool doh_flush(struct doh_sess *s, uint64_t now_ms)
{
	s->now = now_ms;
	while (s->ready && s->held <= s->lim.out_max) {
		struct stream *st = s->ready;
		s->ready = st->rnext;
		if (s->ready == NULL)
			s->ready_tail = &s->ready;
		st->state = S_RECV; /* out of the queue */
		answer(s, st);
	}
	for (;;) {
		/* nghttp2 hands out a frame or two at a time: gathered, an
		 * answer goes out as one TLS record instead of one per frame,
		 * and a retried TLS write only ever grows. One answer per
		 * record: clients that take one response per read (dnsperf
		 * 2.11) still see each. */
		s->cut = false;
		while (doh_pending(s) < GATHER && !s->cut) {
			const uint8_t *d;
			ssize_t n = nghttp2_session_mem_send(s->ng, &d);
			if (n < 0) {
				bump(s, DOH_PROTOCOL_ERRORS);
				return false;
			}
			if (n == 0)
				break;
			if (!out_keep(s, d, (size_t)n))
				return false;
		}
		if (doh_pending(s) == 0)
			break;
		ssize_t n = s->ops->send(s->arg, s->out + s->ooff, s->olen - s->ooff);
		if (n < 0)
			return false;
		s->ooff += (size_t)n;
		if (s->ooff < s->olen)
			break; /* the peer takes no more now */
	}
	return true;
}

void doh_deliver(struct doh_sess *s, int32_t sid, const uint8_t *resp, size_t len, uint64_t now_ms)
{
	s->now = now_ms;
	struct stream *st = nghttp2_session_get_stream_user_data(s->ng, sid);
	if (st == NULL || st->state != S_RESOLVER)
		return;
	if (len < DNS_HDR || len > MSG_MAX) {
		bump(s, DOH_DROPPED);
		reset(s, st, NGHTTP2_CANCEL);
		return;
	}
	respond(s, st, 200, resp, len);
}

void doh_expire(struct doh_sess *s, uint64_t now_ms)
{
	s->now = now_ms;
	for (struct stream *st = s->streams; st; st = st->next) {
		if (st->state == S_RESOLVER || st->state == S_RESET)
			continue;
		if (now_ms - st->since > s->lim.msg_ms) {
			bump(s, DOH_RESET_DEADLINE);
			reset(s, st, NGHTTP2_CANCEL);
		}
	}
}

void doh_goaway(struct doh_sess *s)
{
	if (s->goaway)
		return;
	s->goaway = true;
	bump(s, DOH_GOAWAY);
	nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(s->ng), NGHTTP2_NO_ERROR,
			      NULL, 0);
}

size_t doh_pending(const struct doh_sess *s)
{
	return s->olen - s->ooff;
}

bool doh_paused(const struct doh_sess *s)
{
	return s->held + doh_pending(s) > s->lim.out_max;
}

unsigned doh_streams(const struct doh_sess *s)
{
	return s->nstreams;
}

bool doh_finished(const struct doh_sess *s)
{
	return doh_pending(s) == 0 && !nghttp2_session_want_read(s->ng) &&
	       !nghttp2_session_want_write(s->ng);
}
