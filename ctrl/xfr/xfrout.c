/* Zone transfers out (see xfrout.h).
 *
 * Each served zone has its current image and a short journal of
 * differences, under one mutex that a transfer holds only to take
 * references. A transfer is then a list of record ranges over images
 * (AXFR: the zone, then its SOA; IXFR: the new SOA, each difference's
 * deleted then added records, the new SOA again), cut into messages of
 * at most MSG_TARGET bytes, each signed when the request was.
 */
#include "ctrl/xfr/xfrout.h"

#include "ctrl/net/ksock.h"
#include "ctrl/xfr/xmsg.h"
#include "ctrl/xfr/zimage.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"
#include "zones/compile/zwalk.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Messages of about this size: big enough that a zone costs few TSIGs and
 * headers, small enough to interleave with other connections' answers. */
#define MSG_TARGET     16384
#define QTYPE_IXFR     251
#define QTYPE_AXFR     252
#define NOTIFY_TRIES   5
#define NOTIFY_WAIT_MS 2000

enum xo_ctr {
	XO_AXFR,
	XO_IXFR,
	XO_IXFR_UPTODATE,
	XO_IXFR_AS_AXFR, /* no journal path from the client's serial */
	XO_REFUSED,
	XO_NOTAUTH, /* a TSIG that does not verify */
	XO_NOTZONE, /* not a zone we serve */
	XO_MESSAGES,
	XO_NOTIFY_SENT,
	XO_NOTIFY_ACKED,
	XO_NOTIFY_FAILED,
	XO__COUNT
};
static const char *const ctr_names[XO__COUNT] = {
    "axfr",	    "ixfr",	"ixfr_uptodate", "ixfr_as_axfr", "refused",	  "notauth",
    "notauth_zone", "messages", "notify_sent",	 "notify_acked", "notify_failed",
};

struct xdiff {
	struct zimage *del, *add;
};

struct xzone {
	struct zimage *cur;
	struct xdiff *d; /* oldest first */
	size_t nd;
};

struct target {
	struct sockaddr_storage ss;
	socklen_t sl;
	const struct tsig_key *key;
	char spec[128];
};

struct pending {
	struct zimage *soa; /* the zone's image at the change (its SOA goes out) */
	struct pending *next;
};

struct xfrout {
	struct xfrout_cfg cfg;
	struct acl allow;
	struct target *targets;
	size_t ntargets;
	pthread_mutex_t mu;
	struct xzone *z;
	size_t nz;
	uint64_t c[XO__COUNT];
	/* NOTIFY sender */
	pthread_t thread;
	bool thread_on, stop;
	pthread_cond_t cv;
	struct pending *queue;
};

struct seg {
	struct zimage *img;
	size_t from, to;
};

struct xfrout_job {
	struct xfrout *x;
	uint8_t hdr[4]; /* id, flags of the answers */
	uint8_t question[260 + 4];
	size_t qlen;
	struct seg *seg;
	size_t nseg, si, ri;
	bool sign, started;
	struct tsig_stream ts;
};

static void bump(struct xfrout *x, enum xo_ctr c)
{
	__atomic_add_fetch(&x->c[c], 1, __ATOMIC_RELAXED);
}

/* ---- publishing --------------------------------------------------------- */

static void xzone_clear(struct xzone *z)
{
	for (size_t i = 0; i < z->nd; i++) {
		zimage_unref(z->d[i].del);
		zimage_unref(z->d[i].add);
	}
	free(z->d);
	z->d = NULL;
	z->nd = 0;
}

static struct xzone *find_zone(struct xfrout *x, const uint8_t *apex, size_t len)
{
	for (size_t i = 0; i < x->nz; i++)
		if (x->z[i].cur && x->z[i].cur->apex_len == len &&
		    memcmp(x->z[i].cur->apex, apex, len) == 0)
			return &x->z[i];
	return NULL;
}

static void queue_notify(struct xfrout *x, struct zimage *img)
{
	if (x->ntargets == 0 || !x->thread_on)
		return;
	struct pending *p = malloc(sizeof(*p));
	if (p == NULL)
		return;
	p->soa = zimage_ref(img);
	p->next = NULL;
	struct pending **at = &x->queue;
	while (*at)
		at = &(*at)->next;
	*at = p;
	pthread_cond_signal(&x->cv);
}

void xfrout_publish(struct xfrout *x, const struct p53_snapshot *snap)
{
	struct p53_snapshot_info info;
	p53_snapshot_info(snap, &info);
	struct zimage **img = calloc(info.zones ? info.zones : 1, sizeof(*img));
	if (img == NULL)
		return;
	/* Built outside the lock: transfers keep starting meanwhile. */
	for (uint32_t i = 0; i < info.zones; i++) {
		struct p53_err err = {0};
		if (zimage_from_snapshot(snap, i, &img[i], &err) != 0)
			fprintf(stderr, "%s: xfr: %s\n", x->cfg.name, err.msg);
	}
	struct xzone *nz = calloc(info.zones ? info.zones : 1, sizeof(*nz));
	if (nz == NULL)
		goto out;
	size_t n = 0;
	pthread_mutex_lock(&x->mu);
	for (uint32_t i = 0; i < info.zones; i++) {
		struct zimage *cur = img[i];
		if (cur == NULL)
			continue;
		img[i] = NULL;
		struct xzone *old = find_zone(x, cur->apex, cur->apex_len);
		struct xzone z = {.cur = cur};
		if (old && old->cur->serial == cur->serial && zimage_equal(old->cur, cur)) {
			z = *old; /* unchanged: keep the journal and the image */
			zimage_unref(cur);
			old->cur = NULL;
			old->d = NULL;
			old->nd = 0;
		} else if (old && xmsg_serial_gt(cur->serial, old->cur->serial)) {
			struct zimage *del, *add;
			z.d = old->d;
			z.nd = old->nd;
			old->d = NULL;
			old->nd = 0;
			if (zimage_diff(old->cur, cur, &del, &add) == 0) {
				struct xdiff *d = realloc(z.d, (z.nd + 1) * sizeof(*d));
				if (d) {
					z.d = d;
					z.d[z.nd++] = (struct xdiff){del, add};
				} else {
					zimage_unref(del);
					zimage_unref(add);
					xzone_clear(&z);
				}
			} else {
				xzone_clear(&z);
			}
			while (z.nd > x->cfg.ixfr_depth) {
				zimage_unref(z.d[0].del);
				zimage_unref(z.d[0].add);
				memmove(z.d, z.d + 1, (z.nd - 1) * sizeof(*z.d));
				z.nd--;
			}
			queue_notify(x, cur);
		} else {
			/* New, rolled back, or changed under the same serial: no
			 * journal can describe it. */
			queue_notify(x, cur);
		}
		nz[n++] = z;
	}
	for (size_t i = 0; i < x->nz; i++) {
		zimage_unref(x->z[i].cur);
		xzone_clear(&x->z[i]);
	}
	free(x->z);
	x->z = nz;
	x->nz = n;
	pthread_mutex_unlock(&x->mu);
out:
	for (uint32_t i = 0; i < info.zones; i++)
		zimage_unref(img[i]);
	free(img);
}

/* ---- answering ---------------------------------------------------------- */

/* The serial of the SOA in an IXFR request's authority section. */
static bool ixfr_serial(const uint8_t *q, size_t qlen, size_t off, uint32_t *serial)
{
	uint16_t nscount = (uint16_t)(q[8] << 8 | q[9]);
	if (nscount < 1)
		return false;
	/* Owner: a pointer or a name. */
	while (off < qlen) {
		if ((q[off] & 0xc0) == 0xc0) {
			off += 2;
			break;
		}
		if (q[off] == 0) {
			off++;
			break;
		}
		off += 1 + (size_t)q[off];
	}
	if (off + 10 > qlen || (q[off] << 8 | q[off + 1]) != RR_SOA)
		return false;
	size_t rdlen = (size_t)q[off + 8] << 8 | q[off + 9];
	off += 10;
	size_t end = off + rdlen;
	if (end > qlen)
		return false;
	for (int names = 0; names < 2; names++) {
		while (off < end) {
			if ((q[off] & 0xc0) == 0xc0) {
				off += 2;
				break;
			}
			if (q[off] == 0) {
				off++;
				break;
			}
			off += 1 + (size_t)q[off];
		}
	}
	if (off + 20 != end)
		return false;
	*serial = (uint32_t)q[off] << 24 | (uint32_t)q[off + 1] << 16 | (uint32_t)q[off + 2] << 8 |
		  q[off + 3];
	return true;
}

static int add_seg(struct xfrout_job *j, struct zimage *img, size_t from, size_t to)
{
	struct seg *s = realloc(j->seg, (j->nseg + 1) * sizeof(*s));
	if (s == NULL)
		return P53_ENOMEM;
	j->seg = s;
	j->seg[j->nseg++] = (struct seg){zimage_ref(img), from, to};
	return 0;
}

void xfrout_job_free(struct xfrout_job *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->nseg; i++)
		zimage_unref(j->seg[i].img);
	free(j->seg);
	free(j);
}

/* Builds the job for zone z (mutex held). IXFR: the journal path from
 * serial to the current one, else the whole zone. */
static int build_job(struct xfrout *x, struct xfrout_job *j, struct xzone *z, bool ixfr,
		     uint32_t serial)
{
	struct zimage *cur = z->cur;
	if (ixfr) {
		size_t k = 0;
		while (k < z->nd && z->d[k].del->serial != serial)
			k++;
		if (k < z->nd) {
			bump(x, XO_IXFR);
			int rc = add_seg(j, cur, 0, 1);
			for (; rc == 0 && k < z->nd; k++) {
				rc = add_seg(j, z->d[k].del, 0, z->d[k].del->n);
				if (rc == 0)
					rc = add_seg(j, z->d[k].add, 0, z->d[k].add->n);
			}
			return rc ? rc : add_seg(j, cur, 0, 1);
		}
		bump(x, XO_IXFR_AS_AXFR);
	} else {
		bump(x, XO_AXFR);
	}
	int rc = add_seg(j, cur, 0, cur->n);
	return rc ? rc : add_seg(j, cur, 0, 1);
}

enum xfrout_rc xfrout_query(struct xfrout *x, const uint8_t *q, size_t qlen,
			    const struct p53_client *c, bool tls, uint8_t *resp, size_t cap,
			    size_t *rlen, struct xfrout_job **job)
{
	*job = NULL;
	*rlen = 0;
	if (x == NULL || qlen < 12 || (q[2] & 0x80) || ((q[2] >> 3) & 0xf) != 0 || q[4] != 0 ||
	    q[5] != 1)
		return XFROUT_PASS;
	uint16_t qtype;
	uint8_t name[256];
	size_t nlen;
	size_t qend = xmsg_question(q, qlen, name, &nlen, &qtype);
	if (qend == 0 || (qtype != QTYPE_AXFR && qtype != QTYPE_IXFR))
		return XFROUT_PASS;
	struct tsig_req tr;
	if (tsig_check_request(x->cfg.keys, q, qlen, &tr) != 0) {
		*rlen = xmsg_answer(q, qend, 1 /* FORMERR */, false, NULL, resp, cap);
		return XFROUT_ANSWER;
	}
	if (tr.present && tr.error) {
		bump(x, XO_NOTAUTH);
		*rlen = xmsg_answer(q, qend, 9 /* NOTAUTH */, false, &tr, resp, cap);
		return XFROUT_ANSWER;
	}
	if (!acl_allows(&x->allow, c, tr.key, tls)) {
		bump(x, XO_REFUSED);
		*rlen = xmsg_answer(q, qend, 5 /* REFUSED */, false, &tr, resp, cap);
		return XFROUT_ANSWER;
	}
	uint32_t serial = 0;
	bool ixfr = qtype == QTYPE_IXFR;
	if (ixfr && !ixfr_serial(q, qlen, qend, &serial)) {
		*rlen = xmsg_answer(q, qend, 1 /* FORMERR */, false, &tr, resp, cap);
		return XFROUT_ANSWER;
	}
	struct xfrout_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		*rlen = xmsg_answer(q, qend, 2 /* SERVFAIL */, false, &tr, resp, cap);
		return XFROUT_ANSWER;
	}
	j->x = x;
	memcpy(j->hdr, q, 2);
	j->hdr[2] = (uint8_t)(0x84 | (q[2] & 0x01)); /* QR, AA, RD */
	j->hdr[3] = 0;
	j->qlen = qend - 12;
	memcpy(j->question, q + 12, j->qlen);
	pthread_mutex_lock(&x->mu);
	struct xzone *z = find_zone(x, name, nlen);
	int rc = 0;
	bool uptodate = false;
	if (z && ixfr && !xmsg_serial_gt(z->cur->serial, serial)) {
		/* RFC 1995 2: the client is current; one SOA says so. */
		uptodate = true;
		rc = add_seg(j, z->cur, 0, 1);
		bump(x, XO_IXFR_UPTODATE);
	} else if (z) {
		rc = build_job(x, j, z, ixfr, serial);
	}
	pthread_mutex_unlock(&x->mu);
	(void)uptodate;
	if (z == NULL || rc != 0) {
		xfrout_job_free(j);
		if (z == NULL)
			bump(x, XO_NOTZONE);
		*rlen =
		    xmsg_answer(q, qend, z == NULL ? 9 /* NOTAUTH */ : 2, false, &tr, resp, cap);
		return XFROUT_ANSWER;
	}
	j->sign = tr.present && tr.key;
	if (j->sign)
		tsig_stream_server(&j->ts, &tr);
	*job = j;
	return XFROUT_STREAM;
}

size_t xfrout_next(struct xfrout_job *j, uint8_t *buf, size_t cap)
{
	while (j->si < j->nseg && j->ri >= j->seg[j->si].to) {
		j->si++;
		if (j->si < j->nseg)
			j->ri = j->seg[j->si].from;
	}
	if (j->si >= j->nseg || cap < 12 + j->qlen + TSIG_RESERVE)
		return 0;
	size_t limit = cap - TSIG_RESERVE;
	memcpy(buf, j->hdr, 4);
	bool first = !j->started;
	xmsg_put16(buf + 4, first ? 1 : 0);
	memset(buf + 6, 0, 6);
	size_t len = 12;
	if (first) {
		memcpy(buf + 12, j->question, j->qlen);
		len += j->qlen;
		j->ri = j->seg[0].from;
	}
	j->started = true;
	unsigned an = 0;
	while (j->si < j->nseg) {
		struct seg *s = &j->seg[j->si];
		if (j->ri >= s->to) {
			if (++j->si < j->nseg)
				j->ri = j->seg[j->si].from;
			continue;
		}
		const uint8_t *rr;
		size_t l = zimage_rr(s->img, j->ri, &rr);
		if (len + l > limit || (an > 0 && len + l > MSG_TARGET))
			break;
		memcpy(buf + len, rr, l);
		len += l;
		j->ri++;
		an++;
	}
	if (an == 0)
		return 0; /* a record larger than a message: cannot be sent */
	xmsg_put16(buf + 6, (uint16_t)an);
	if (j->sign && tsig_sign_answer(&j->ts, buf, &len, cap) != 0)
		return 0;
	bump(j->x, XO_MESSAGES);
	return len;
}

/* ---- NOTIFY ------------------------------------------------------------- */

static size_t build_notify(const struct zimage *img, uint16_t id, uint8_t *m, size_t cap)
{
	const uint8_t *soa;
	size_t sl = zimage_rr(img, 0, &soa);
	if (12 + img->apex_len + 4 + sl > cap)
		return 0;
	xmsg_put16(m, id);
	m[2] = (uint8_t)(4 << 3 | 0x04); /* NOTIFY, AA */
	m[3] = 0;
	xmsg_put16(m + 4, 1);
	xmsg_put16(m + 6, 1);
	memset(m + 8, 0, 4);
	size_t len = 12;
	memcpy(m + len, img->apex, img->apex_len);
	len += img->apex_len;
	xmsg_put16(m + len, RR_SOA);
	xmsg_put16(m + len + 2, 1);
	len += 4;
	memcpy(m + len, soa, sl); /* the new SOA, RFC 1996 3.7 */
	return len + sl;
}

static bool notify_one(struct xfrout *x, const struct target *t, const struct zimage *img)
{
	uint8_t m[1024], r[4096];
	uint16_t id = xmsg_new_id();
	size_t len = build_notify(img, id, m, sizeof(m));
	struct tsig_stream ts = {.key = t->key};
	if (len == 0 || (t->key && tsig_sign_request(&ts, m, &len, sizeof(m)) != 0))
		return false;
	int fd = socket(t->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool ok = false;
	for (int i = 0; i < NOTIFY_TRIES && !ok && !__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE);
	     i++) {
		bump(x, XO_NOTIFY_SENT);
		if (sendto(fd, m, len, 0, (const struct sockaddr *)&t->ss, t->sl) < 0)
			break;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		while (poll(&p, 1, NOTIFY_WAIT_MS) == 1) {
			ssize_t n = recv(fd, r, sizeof(r), 0);
			/* The answer to this NOTIFY: same id, QR, opcode NOTIFY. */
			if (n >= 12 && r[0] == m[0] && r[1] == m[1] && (r[2] & 0x80) &&
			    ((r[2] >> 3) & 0xf) == 4) {
				ok = (r[3] & 0x0f) == 0;
				if (!ok)
					fprintf(stderr, "%s: xfr: NOTIFY to %s: rcode %u\n",
						x->cfg.name, t->spec, r[3] & 0x0f);
				i = NOTIFY_TRIES; /* answered, even if refused */
				break;
			}
		}
	}
	close(fd);
	bump(x, ok ? XO_NOTIFY_ACKED : XO_NOTIFY_FAILED);
	return ok;
}

static void *notify_main(void *arg)
{
	struct xfrout *x = arg;
	pthread_mutex_lock(&x->mu);
	for (;;) {
		while (x->queue == NULL && !x->stop)
			pthread_cond_wait(&x->cv, &x->mu);
		if (x->stop)
			break;
		struct pending *p = x->queue;
		x->queue = p->next;
		pthread_mutex_unlock(&x->mu);
		for (size_t i = 0; i < x->ntargets; i++)
			notify_one(x, &x->targets[i], p->soa);
		zimage_unref(p->soa);
		free(p);
		pthread_mutex_lock(&x->mu);
	}
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

static int parse_target(struct target *t, const char *spec, const struct tsig_keys *keys,
			struct p53_err *err)
{
	char addr[128], kw[16], kname[256];
	int n = sscanf(spec, "%127s %15s %255s", addr, kw, kname);
	if (n != 1 && !(n == 3 && strcmp(kw, "key") == 0))
		return p53_err_set(err, P53_EINVAL, "notify '%s': expected ADDR[:PORT] [key NAME]",
				   spec);
	unsigned sl;
	if (ksock_parse_addr(addr, &t->ss, &sl) != 0)
		return p53_err_set(err, P53_EINVAL, "notify '%s': bad address", spec);
	t->sl = (socklen_t)sl;
	if (n == 3 && (t->key = tsig_keys_find(keys, kname)) == NULL)
		return p53_err_set(err, P53_EINVAL, "notify '%s': no TSIG key named '%s'", spec,
				   kname);
	snprintf(t->spec, sizeof(t->spec), "%s", addr);
	return 0;
}

static int spawn_default(pthread_t *th, const char *name, void *(*fn)(void *), void *arg)
{
	(void)name;
	return pthread_create(th, NULL, fn, arg);
}

struct xfrout *xfrout_new(const struct xfrout_cfg *cfg, struct p53_err *err)
{
	struct xfrout *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	x->cfg = *cfg;
	if (x->cfg.ixfr_depth == 0)
		x->cfg.ixfr_depth = 16;
	if (x->cfg.name == NULL)
		x->cfg.name = "port53";
	pthread_mutex_init(&x->mu, NULL);
	pthread_cond_init(&x->cv, NULL);
	static const struct tsig_keys none = {0};
	const struct tsig_keys *keys = cfg->keys ? cfg->keys : &none;
	x->cfg.keys = keys;
	for (size_t i = 0; i < cfg->nallow; i++)
		if (acl_add(&x->allow, cfg->allow[i], keys, err) != 0)
			goto fail;
	if (cfg->nnotify) {
		x->targets = calloc(cfg->nnotify, sizeof(*x->targets));
		if (x->targets == NULL) {
			p53_err_set(err, P53_ENOMEM, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < cfg->nnotify; i++)
			if (parse_target(&x->targets[x->ntargets++], cfg->notify[i], keys, err))
				goto fail;
		int (*spawn)(pthread_t *, const char *, void *(*)(void *), void *) =
		    cfg->spawn ? cfg->spawn : spawn_default;
		if (spawn(&x->thread, "p53-notify", notify_main, x) != 0) {
			p53_err_set(err, P53_EIO, "xfr: cannot start the NOTIFY thread");
			goto fail;
		}
		x->thread_on = true;
	}
	return x;
fail:
	xfrout_free(x);
	return NULL;
}

void xfrout_free(struct xfrout *x)
{
	if (x == NULL)
		return;
	if (x->thread_on) {
		pthread_mutex_lock(&x->mu);
		__atomic_store_n(&x->stop, true, __ATOMIC_RELEASE);
		pthread_cond_signal(&x->cv);
		pthread_mutex_unlock(&x->mu);
		pthread_join(x->thread, NULL);
	}
	while (x->queue) {
		struct pending *p = x->queue;
		x->queue = p->next;
		zimage_unref(p->soa);
		free(p);
	}
	for (size_t i = 0; i < x->nz; i++) {
		zimage_unref(x->z[i].cur);
		xzone_clear(&x->z[i]);
	}
	free(x->z);
	free(x->targets);
	acl_free(&x->allow);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cv);
	free(x);
}

void xfrout_counters(struct xfrout *x, api_emit_fn emit, void *sink)
{
	for (int i = 0; i < XO__COUNT; i++)
		emit(sink, "xfr_out", "event", ctr_names[i], 0,
		     __atomic_load_n(&x->c[i], __ATOMIC_RELAXED));
}
