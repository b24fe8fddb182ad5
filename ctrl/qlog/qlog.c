/* Query logging: SPSC rings, record extraction, JSON lines and dnstap output,
 * and the drain thread. See qlog.h for the design. */
#include "ctrl/qlog/qlog.h"

#include "zones/common/name.h"
#include "zones/common/rrtype.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef P53_DNSTAP
#include "dnstap.pb-c.h"
#include <fstrm.h>
#endif

/* ---- the ring ---------------------------------------------------------- */

int qlog_ring_init(struct qlog_ring *r, unsigned capacity, unsigned sample)
{
	unsigned cap = 2;
	while (cap < capacity && cap < (1u << 30))
		cap <<= 1;
	memset(r, 0, sizeof(*r));
	r->slots = calloc(cap, sizeof(*r->slots));
	if (r->slots == NULL)
		return -1;
	r->mask = cap - 1;
	r->sample = sample ? sample : 1;
	r->countdown = 1; /* the first query is logged, then one in `sample` */
	return 0;
}

void qlog_ring_fini(struct qlog_ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

/* Counters have one writer, so a relaxed load and store is enough; the atomic
 * type only keeps the reader's loads well defined. */
static inline void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

bool qlog_push(struct qlog_ring *r, const struct qlog_rec *rec)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (head - r->tail_cache > r->mask) {
		/* Looks full: only now look at the consumer's cache line. The
		 * acquire pairs with the consumer's release after it has copied
		 * the slots out, so they may be overwritten. */
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head - r->tail_cache > r->mask) {
			bump(&r->dropped);
			return false;
		}
	}
	r->slots[head & r->mask] = *rec;
	/* Release: the record is complete before the consumer can see it. */
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	bump(&r->pushed);
	return true;
}

size_t qlog_pop(struct qlog_ring *r, struct qlog_rec *out, size_t max)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	if (r->head_cache == tail)
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
	size_t n = (size_t)(r->head_cache - tail);
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		out[i] = r->slots[(tail + i) & r->mask];
	if (n)
		atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

size_t qlog_ring_used(struct qlog_ring *r)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
	return h >= t ? (size_t)(h - t) : 0;
}

/* ---- records ------------------------------------------------------------ */

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Skips a possibly compressed name; returns the offset after it or 0. */
static size_t skip_name(const uint8_t *m, size_t len, size_t off)
{
	for (unsigned n = 0; off < len && n < 128; n++) {
		uint8_t l = m[off];
		if (l == 0)
			return off + 1;
		if ((l & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if (l & 0xc0)
			return 0;
		off += 1u + l;
	}
	return 0;
}

/* Looks for the OPT record and its ECS option after the question. Anything
 * malformed just means "no ECS": the question is what matters. */
static void read_opt(struct qlog_rec *rec, const uint8_t *m, size_t len, size_t off)
{
	unsigned skip = (unsigned)rd16(m + 6) + rd16(m + 8), nar = rd16(m + 10);
	for (unsigned i = 0; i < skip + nar; i++) {
		size_t name = off;
		off = skip_name(m, len, off);
		if (off == 0 || len - off < 10)
			return;
		uint16_t type = rd16(m + off), rdlen = rd16(m + off + 8);
		off += 10;
		if (len - off < rdlen)
			return;
		if (i >= skip && type == 41 && m[name] == 0) {
			rec->edns = 1;
			for (size_t o = off; off + rdlen - o >= 4;) {
				uint16_t code = rd16(m + o), olen = rd16(m + o + 2);
				o += 4;
				if (off + rdlen - o < olen)
					return;
				/* RFC 7871 6: family, source, scope, address. */
				if (code == 8 && olen >= 4 && olen - 4 <= 16) {
					uint16_t fam = rd16(m + o);
					if ((fam == 1 && olen - 4 <= 4) || (fam == 2)) {
						rec->ecs_family = (uint8_t)fam;
						rec->ecs_src = m[o + 2];
						memcpy(rec->ecs_addr, m + o + 4, olen - 4u);
					}
				}
				o += olen;
			}
			return;
		}
		off += rdlen;
	}
}

int qlog_rec_query(struct qlog_rec *rec, const uint8_t *q, size_t qlen,
		   const struct p53_client *client)
{
	memset(rec, 0, offsetof(struct qlog_rec, qname));
	rec->res = 0; /* the resolver's fields are read only when it is set */
	rec->fw_rule = QLOG_RULE_NONE;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); /* vDSO: no system call */
	rec->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (client) {
		rec->family = client->family;
		rec->transport = client->transport;
		rec->port = client->port;
		memcpy(rec->addr, client->addr, sizeof(rec->addr));
	}
	if (qlen < 12)
		return -1;
	rec->id = rd16(q);
	rec->qflags = rd16(q + 2);
	if (rd16(q + 4) == 0)
		return -1;
	/* The question name, uncompressed as in every real query (nothing
	 * precedes it that a pointer could refer to). */
	size_t off = 12;
	for (;;) {
		if (off >= qlen)
			return -1;
		uint8_t l = q[off];
		if (l > 63 || off - 12 + 1u + l > 255)
			return -1;
		off += 1u + l;
		if (l == 0)
			break;
	}
	if (qlen - off < 4)
		return -1;
	size_t nl = off - 12;
	memcpy(rec->qname, q + 12, nl);
	rec->qname_len = (uint8_t)nl;
	rec->qtype = rd16(q + off);
	rec->qclass = rd16(q + off + 2);
	if (rd16(q + 4) == 1)
		read_opt(rec, q, qlen, off + 4);
	return 0;
}

void qlog_rec_response(struct qlog_rec *rec, const uint8_t *resp, size_t rlen)
{
	rec->resp_len = (uint16_t)(rlen > 65535 ? 65535 : rlen);
	rec->rflags = rlen >= 12 ? rd16(resp + 2) : 0;
}

int qlog_rec_from(const uint8_t *query, size_t qlen, const uint8_t *resp, size_t rlen,
		  const struct p53_client *client, struct qlog_rec *rec)
{
	int rc = qlog_rec_query(rec, query, qlen, client);
	qlog_rec_response(rec, resp, rlen);
	return rc;
}

/* ---- JSON lines ----------------------------------------------------------- */

static const char *rcode_name(unsigned rc)
{
	static const char *const n[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					  "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
					  "NXRRSET", "NOTAUTH", "NOTZONE",  "DSOTYPENI",
					  "RCODE12", "RCODE13", "RCODE14",  "RCODE15"};
	return n[rc & 15];
}

static const char *class_name(uint16_t c, char *buf)
{
	switch (c) {
	case 1:
		return "IN";
	case 3:
		return "CH";
	case 4:
		return "HS";
	case 254:
		return "NONE";
	case 255:
		return "ANY";
	}
	snprintf(buf, 16, "CLASS%u", c);
	return buf;
}

struct out {
	char *p;
	size_t len, cap;
	bool over;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->over || o->cap - o->len < n + 1) {
		o->over = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = 0;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		o->over = true;
	else
		put(o, tmp, (size_t)n);
}

/* A JSON string. Presentation names are printable ASCII already (RFC 1035
 * escapes), but JSON needs its own escapes for '"' and '\'. */
static void put_jstr(struct out *o, const char *s)
{
	put(o, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			put(o, e, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			putf(o, "\\u%04x", c);
		} else {
			put(o, (const char *)&c, 1);
		}
	}
	put(o, "\"", 1);
}

static void put_addr(struct out *o, unsigned family, const uint8_t *a)
{
	char txt[INET6_ADDRSTRLEN];
	if (family == 4 && inet_ntop(AF_INET, a, txt, sizeof(txt)))
		put_jstr(o, txt);
	else if (family == 6 && inet_ntop(AF_INET6, a, txt, sizeof(txt)))
		put_jstr(o, txt);
	else
		puts_(o, "null");
}

size_t qlog_format_json(const struct qlog_rec *rec, char *buf, size_t cap)
{
	struct out o = {buf, 0, cap, cap == 0};
	time_t sec = (time_t)(rec->time_ns / 1000000000u);
	struct tm tm;
	char ts[40];
	gmtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	putf(&o, "{\"version\":\"1.0\",\"query_timestamp\":\"%s.%06uZ\"", ts,
	     (unsigned)(rec->time_ns % 1000000000u / 1000u));
	puts_(&o, ",\"query_name\":");
	char name[P53_NAME_MAX * 4 + 2];
	if (rec->qname_len && name_to_text(rec->qname, name, sizeof(name)) >= 0) {
		put_jstr(&o, name);
		char tb[16], cb[16];
		puts_(&o, ",\"query_type\":");
		put_jstr(&o, rrtype_to_text(rec->qtype, tb));
		puts_(&o, ",\"query_class\":");
		put_jstr(&o, class_name(rec->qclass, cb));
	} else {
		puts_(&o, "null,\"query_type\":null,\"query_class\":null");
	}
	if (rec->resp_len)
		putf(&o, ",\"rcode\":\"%s\"", rcode_name(QLOG_RCODE(rec)));
	else
		puts_(&o, ",\"rcode\":null");
	putf(&o,
	     ",\"protocol\":\"%s\",\"resolver_ip\":", rec->transport == P53_TCP ? "TCP" : "UDP");
	put_addr(&o, rec->family, rec->addr);
	putf(&o, ",\"resolver_port\":%u,\"edns_client_subnet\":", rec->port);
	if (rec->ecs_family) {
		char txt[INET6_ADDRSTRLEN + 8];
		if (inet_ntop(rec->ecs_family == 1 ? AF_INET : AF_INET6, rec->ecs_addr, txt,
			      INET6_ADDRSTRLEN) == NULL)
			strcpy(txt, "?");
		snprintf(txt + strlen(txt), 8, "/%u", rec->ecs_src);
		put_jstr(&o, txt);
	} else {
		puts_(&o, "null");
	}
	putf(&o,
	     ",\"id\":%u,\"rd\":%s,\"edns\":%s,\"aa\":%s,\"tc\":%s,\"response_size\":%u,"
	     "\"worker\":%u,\"firewall_rule\":",
	     rec->id, (rec->qflags >> 8) & 1 ? "true" : "false", rec->edns ? "true" : "false",
	     QLOG_AA(rec) ? "true" : "false", QLOG_TC(rec) ? "true" : "false", rec->resp_len,
	     rec->worker);
	if (rec->fw_rule == QLOG_RULE_NONE)
		puts_(&o, "null");
	else
		putf(&o, "%u", rec->fw_rule);
	if (rec->res & QLOG_RES_ON) {
		static const char *const act[] = {
		    "NONE",    "ALLOW", "ALERT", "BLOCK_NXDOMAIN", "BLOCK_NODATA", "BLOCK_OVERRIDE",
		    "REFUSED", "DROP",	"FAIL"};
		puts_(&o, ",\"resolver\":{\"view\":");
		put_jstr(&o, rec->view);
		puts_(&o, ",\"rule\":");
		if (rec->rule[0])
			put_jstr(&o, rec->rule);
		else
			puts_(&o, "null");
		puts_(&o, ",\"upstream\":");
		if (rec->upstream[0])
			put_jstr(&o, rec->upstream);
		else
			puts_(&o, "null");
		putf(&o,
		     ",\"firewall_action\":\"%s\",\"firewall_chain\":%s,\"cache_hit\":%s,"
		     "\"forwarded\":%s,\"dnssec\":\"%s\"}",
		     rec->fw_action < sizeof(act) / sizeof(act[0]) ? act[rec->fw_action] : "?",
		     rec->res & QLOG_RES_FW_CHAIN ? "true" : "false",
		     rec->res & QLOG_RES_CACHE ? "true" : "false",
		     rec->res & QLOG_RES_FORWARDED ? "true" : "false",
		     rec->res & QLOG_RES_BOGUS	  ? "bogus"
		     : rec->res & QLOG_RES_SECURE ? "secure"
						  : "insecure");
	}
	puts_(&o, "}\n");
	return o.over ? 0 : o.len;
}

/* ---- dnstap ----------------------------------------------------------------- */

#ifdef P53_DNSTAP
/* The ring keeps the question, not the messages (records stay small), so the
 * dnstap messages are rebuilt from it: the query's header (ID, flags) and
 * question, and the response's header and question, with the other sections
 * empty. Readers that parse the messages (dnstap-read, Wireshark) then show
 * the name, type, class, RCODE and flags; the real response size is in the
 * JSON log. */
static size_t rebuild_msg(const struct qlog_rec *rec, uint16_t flags, uint8_t *m)
{
	m[0] = (uint8_t)(rec->id >> 8);
	m[1] = (uint8_t)rec->id;
	m[2] = (uint8_t)(flags >> 8);
	m[3] = (uint8_t)flags;
	memset(m + 4, 0, 8);
	if (rec->qname_len == 0)
		return 12;
	m[5] = 1;
	memcpy(m + 12, rec->qname, rec->qname_len);
	size_t o = 12u + rec->qname_len;
	m[o++] = (uint8_t)(rec->qtype >> 8);
	m[o++] = (uint8_t)rec->qtype;
	m[o++] = (uint8_t)(rec->qclass >> 8);
	m[o++] = (uint8_t)rec->qclass;
	return o;
}

/* Returns the packed length in buf (at least QLOG_TAP_MAX bytes), or 0. */
#define QLOG_TAP_MAX 2048
static size_t format_dnstap(const struct qlog_rec *rec, const char *identity, uint8_t *buf)
{
	uint8_t qm[12 + 255 + 4], rm[12 + 255 + 4];
	Dnstap__Message msg = DNSTAP__MESSAGE__INIT;
	msg.type = DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE;
	if (rec->family == 4 || rec->family == 6) {
		msg.has_socket_family = 1;
		msg.socket_family =
		    rec->family == 4 ? DNSTAP__SOCKET_FAMILY__INET : DNSTAP__SOCKET_FAMILY__INET6;
		msg.has_query_address = 1;
		msg.query_address.data = (uint8_t *)rec->addr;
		msg.query_address.len = rec->family == 4 ? 4 : 16;
		msg.has_query_port = 1;
		msg.query_port = rec->port;
	}
	msg.has_socket_protocol = 1;
	msg.socket_protocol =
	    rec->transport == P53_TCP ? DNSTAP__SOCKET_PROTOCOL__TCP : DNSTAP__SOCKET_PROTOCOL__UDP;
	msg.has_query_time_sec = msg.has_response_time_sec = 1;
	msg.has_query_time_nsec = msg.has_response_time_nsec = 1;
	msg.query_time_sec = msg.response_time_sec = rec->time_ns / 1000000000u;
	msg.query_time_nsec = msg.response_time_nsec = (uint32_t)(rec->time_ns % 1000000000u);
	msg.has_query_message = 1;
	msg.query_message.data = qm;
	msg.query_message.len = rebuild_msg(rec, rec->qflags, qm);
	if (rec->resp_len) {
		msg.has_response_message = 1;
		msg.response_message.data = rm;
		msg.response_message.len = rebuild_msg(rec, rec->rflags, rm);
	}
	Dnstap__Dnstap d = DNSTAP__DNSTAP__INIT;
	d.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
	d.message = &msg;
	if (identity) {
		d.has_identity = 1;
		d.identity.data = (uint8_t *)identity;
		d.identity.len = strlen(identity);
	}
	d.has_version = 1;
	d.version.data = (uint8_t *)"port53";
	d.version.len = 6;
	if (dnstap__dnstap__get_packed_size(&d) > QLOG_TAP_MAX)
		return 0;
	return dnstap__dnstap__pack(&d, buf);
}

static struct fstrm_writer *tap_open(const char *path, dev_t *dev, ino_t *ino)
{
	static const char ctype[] = "protobuf:dnstap.Dnstap";
	struct fstrm_file_options *fopt = fstrm_file_options_init();
	struct fstrm_writer_options *wopt = fstrm_writer_options_init();
	struct fstrm_writer *w = NULL;
	if (fopt && wopt &&
	    fstrm_writer_options_add_content_type(wopt, ctype, sizeof(ctype) - 1) ==
		fstrm_res_success) {
		fstrm_file_options_set_file_path(fopt, path);
		w = fstrm_file_writer_init(fopt, wopt);
		/* The file is opened lazily; open now so a bad path fails at
		 * start rather than at the first query. */
		if (w && fstrm_writer_open(w) != fstrm_res_success) {
			fstrm_writer_destroy(&w);
			w = NULL;
		}
		struct stat sb;
		if (w && stat(path, &sb) == 0) {
			*dev = sb.st_dev;
			*ino = sb.st_ino;
		}
	}
	if (fopt)
		fstrm_file_options_destroy(&fopt);
	if (wopt)
		fstrm_writer_options_destroy(&wopt);
	return w;
}
#endif

/* ---- the logger ------------------------------------------------------------ */

#define DRAIN_BATCH 256

struct qlog {
	struct qlog_ring *rings; /* nworkers, cache-line aligned */
	unsigned nworkers;
	unsigned drain_ms;
	char *json_path, *dnstap_path, *identity;
	FILE *json;
#ifdef P53_DNSTAP
	struct fstrm_writer *tap;
	dev_t tap_dev; /* the file tap writes, to see whether it was renamed */
	ino_t tap_ino;
#endif
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool quit;	    /* under mu */
	atomic_bool reopen; /* set by qlog_reopen, from any context */
	_Atomic uint64_t written, write_errors, reopens;
	struct qlog_rec batch[DRAIN_BATCH]; /* drain thread only */
	char line[QLOG_JSON_MAX];
#ifdef P53_DNSTAP
	uint8_t tapbuf[QLOG_TAP_MAX];
#endif
};

static FILE *json_open(const char *path)
{
	/* Appended, so a restart or a reopen without rotation loses nothing. */
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "a");
	if (f == NULL) {
		close(fd);
		return NULL;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 16);
	return f;
}

static void write_rec(struct qlog *q, const struct qlog_rec *rec)
{
	bool ok = true;
	if (q->json) {
		size_t n = qlog_format_json(rec, q->line, sizeof(q->line));
		ok = n && fwrite(q->line, 1, n, q->json) == n;
	}
#ifdef P53_DNSTAP
	if (q->tap) {
		size_t n = format_dnstap(rec, q->identity, q->tapbuf);
		ok = ok && n && fstrm_writer_write(q->tap, q->tapbuf, n) == fstrm_res_success;
	}
#endif
	bump(ok ? &q->written : &q->write_errors);
}

/* Reopens in place: the new file first, so a failure keeps the old one. */
static void do_reopen(struct qlog *q)
{
	if (q->json_path) {
		FILE *f = json_open(q->json_path);
		if (f) {
			fclose(q->json);
			q->json = f;
		} else {
			fprintf(stderr,
				"port53: query log %s: reopen failed (%s), keeping the old file\n",
				q->json_path, strerror(errno));
			bump(&q->write_errors);
		}
	}
#ifdef P53_DNSTAP
	struct stat sb;
	/* fstrm truncates what it opens, and SIGHUP also means "reload the
	 * snapshot": start a new dnstap file only when the old one was moved
	 * away, else a reload would wipe the log. */
	if (q->dnstap_path && !(stat(q->dnstap_path, &sb) == 0 && sb.st_dev == q->tap_dev &&
				sb.st_ino == q->tap_ino)) {
		/* Frame Streams files carry a start frame: each reopen starts a
		 * new file, closing the old one with its stop frame. */
		if (q->tap)
			fstrm_writer_destroy(&q->tap);
		q->tap = tap_open(q->dnstap_path, &q->tap_dev, &q->tap_ino);
		if (q->tap == NULL) {
			fprintf(stderr, "port53: dnstap log %s: reopen failed\n", q->dnstap_path);
			bump(&q->write_errors);
		}
	}
#endif
	bump(&q->reopens);
}

/* Empties every ring once (at most a ring's worth each, so a producer
 * faster than the disk cannot keep the thread here forever). Returns true
 * when some ring was over half full: the caller drains again at once. */
static bool drain_all(struct qlog *q)
{
	bool busy = false;
	for (unsigned w = 0; w < q->nworkers; w++) {
		struct qlog_ring *r = &q->rings[w];
		size_t cap = (size_t)r->mask + 1, total = 0, n;
		if (qlog_ring_used(r) > cap / 2)
			busy = true;
		while (total < cap && (n = qlog_pop(r, q->batch, DRAIN_BATCH)) > 0) {
			for (size_t i = 0; i < n; i++)
				write_rec(q, &q->batch[i]);
			total += n;
		}
	}
	if (q->json && fflush(q->json) != 0) {
		bump(&q->write_errors);
		clearerr(q->json);
	}
	return busy;
}

static void *drain_main(void *arg)
{
	struct qlog *q = arg;
	pthread_mutex_lock(&q->mu);
	while (!q->quit) {
		pthread_mutex_unlock(&q->mu);
		bool busy = drain_all(q);
		if (atomic_exchange(&q->reopen, false))
			do_reopen(q);
		pthread_mutex_lock(&q->mu);
		if (busy || q->quit)
			continue;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)q->drain_ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&q->cv, &q->mu, &ts);
	}
	pthread_mutex_unlock(&q->mu);
	drain_all(q); /* what the workers pushed before they stopped */
	return NULL;
}

static void qlog_free(struct qlog *q)
{
	if (q->rings) {
		for (unsigned w = 0; w < q->nworkers; w++)
			qlog_ring_fini(&q->rings[w]);
		free(q->rings);
	}
	if (q->json)
		fclose(q->json);
#ifdef P53_DNSTAP
	if (q->tap)
		fstrm_writer_destroy(&q->tap);
#endif
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q->json_path);
	free(q->dnstap_path);
	free(q->identity);
	free(q);
}

static char *dup_or_null(const char *s, bool *fail)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*fail = true;
	return d;
}

struct qlog *qlog_start(const struct qlog_cfg *cfg, unsigned nworkers, struct p53_err *err)
{
	if (nworkers == 0 || nworkers > 65535) {
		p53_err_set(err, P53_EINVAL, "query log: bad worker count %u", nworkers);
		return NULL;
	}
	if (cfg->json_path == NULL && cfg->dnstap_path == NULL) {
		p53_err_set(err, P53_EINVAL, "query log: no output file");
		return NULL;
	}
#ifndef P53_DNSTAP
	if (cfg->dnstap_path) {
		p53_err_set(err, P53_ENOTSUP,
			    "query log: built without dnstap (libfstrm-dev, libprotobuf-c-dev, "
			    "protobuf-c-compiler)");
		return NULL;
	}
#endif
	struct qlog *q = calloc(1, sizeof(*q));
	if (q == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&q->reopen, false);
	q->drain_ms = cfg->drain_ms ? cfg->drain_ms : 50;
	bool fail = false;
	q->json_path = dup_or_null(cfg->json_path, &fail);
	q->dnstap_path = dup_or_null(cfg->dnstap_path, &fail);
	q->identity = dup_or_null(cfg->identity, &fail);
	size_t sz = (size_t)nworkers * sizeof(struct qlog_ring);
	q->rings = fail ? NULL : aligned_alloc(QLOG_CACHE_LINE, sz);
	if (q->rings == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		goto fail;
	}
	memset(q->rings, 0, sz);
	for (unsigned w = 0; w < nworkers; w++) {
		if (qlog_ring_init(&q->rings[w], cfg->ring_size ? cfg->ring_size : 8192,
				   cfg->sample) != 0) {
			q->nworkers = w;
			p53_err_set(err, P53_ENOMEM, "out of memory");
			goto fail;
		}
		q->rings[w].countdown = 1;
	}
	q->nworkers = nworkers;
	if (q->json_path && (q->json = json_open(q->json_path)) == NULL) {
		p53_err_set(err, P53_EIO, "query log %s: %s", q->json_path, strerror(errno));
		goto fail;
	}
#ifdef P53_DNSTAP
	if (q->dnstap_path &&
	    (q->tap = tap_open(q->dnstap_path, &q->tap_dev, &q->tap_ino)) == NULL) {
		p53_err_set(err, P53_EIO, "dnstap log %s: cannot open", q->dnstap_path);
		goto fail;
	}
#endif
	/* The drain thread must not take the process's signals (the front
	 * ends use signalfd or a signal thread). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&q->thread, NULL, drain_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		p53_err_set(err, P53_ENOMEM, "query log thread: %s", strerror(rc));
		goto fail;
	}
	q->started = true;
	return q;
fail:
	qlog_free(q);
	return NULL;
}

struct qlog_ring *qlog_ring(struct qlog *q, unsigned worker)
{
	return q && worker < q->nworkers ? &q->rings[worker] : NULL;
}

void qlog_reopen(struct qlog *q)
{
	if (q)
		atomic_store(&q->reopen, true);
}

void qlog_stop(struct qlog *q)
{
	if (q == NULL)
		return;
	if (q->started) {
		pthread_mutex_lock(&q->mu);
		q->quit = true;
		pthread_cond_signal(&q->cv);
		pthread_mutex_unlock(&q->mu);
		pthread_join(q->thread, NULL);
	}
	qlog_free(q);
}

void qlog_stats(struct qlog *q, int worker, struct qlog_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (q == NULL)
		return;
	for (unsigned w = 0; w < q->nworkers; w++) {
		if (worker >= 0 && (unsigned)worker != w)
			continue;
		struct qlog_ring *r = &q->rings[w];
		st->seen += atomic_load_explicit(&r->seen, memory_order_relaxed);
		st->pushed += atomic_load_explicit(&r->pushed, memory_order_relaxed);
		st->dropped += atomic_load_explicit(&r->dropped, memory_order_relaxed);
	}
	if (worker < 0) {
		st->written = atomic_load_explicit(&q->written, memory_order_relaxed);
		st->write_errors = atomic_load_explicit(&q->write_errors, memory_order_relaxed);
		st->reopens = atomic_load_explicit(&q->reopens, memory_order_relaxed);
	}
}
