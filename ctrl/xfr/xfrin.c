/* The secondary service (see xfrin.h).
 *
 * Zone state lives under one mutex; the thread drops it for network I/O
 * and compiles, so a NOTIFY is answered at once whatever a transfer is
 * doing. Every network wait is bounded (IO_MS per read, XFR_MS per
 * transfer), so a primary that stalls costs one retry interval, not the
 * thread.
 *
 * Received messages are parsed by libknot (names decompressed, owner case
 * kept and lowered by the zone image). When the zone has a key, the first
 * and last messages must be signed and no more than 99 in a row unsigned
 * (RFC 8945 5.3.1; tsig.c keeps the unsigned ones for the next MAC).
 */
#include "ctrl/xfr/xfrin.h"

#include "ctrl/net/ksock.h"
#include "ctrl/xfr/acl.h"
#include "ctrl/xfr/xmsg.h"
#include "ctrl/xfr/zimage.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"
#include "zones/compile/compile.h"
#include "zones/compile/zparse.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libknot/libknot.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IO_MS	      5000
#define XFR_MS	      120000
#define MIN_REFRESH_S 5 /* floors on the SOA's timers */
#define MIN_RETRY_S   2
#define QTYPE_IXFR    251
#define QTYPE_AXFR    252

struct szone {
	char origin[256]; /* presentation, trailing dot */
	uint8_t apex[256];
	size_t apex_len;
	struct sockaddr_storage primary;
	socklen_t plen;
	char primary_txt[128];
	const struct tsig_key *key;
	char path[4096];    /* the kept zone file */
	struct zimage *img; /* NULL until the first transfer */
	int64_t last_ok;    /* CLOCK_REALTIME s of the last refresh */
	uint64_t next_ms;   /* CLOCK_MONOTONIC ms of the next check */
	bool notified, expired, failing;
	uint64_t transfers, ixfrs, failures, notifies;
	char last_error[256];
};

struct xfrin {
	struct xfrin_cfg cfg;
	struct acl notify_allow;
	struct szone *z;
	size_t nz;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running, stop;
	uint64_t serial;       /* of the last snapshot compiled here */
	struct signer *signer; /* NULL: zones compiled unsigned */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The signer's clock. Not time(NULL): that reads the coarse clock, which
 * can still say the second before an event the builder woke for, and a
 * build must see its keys at the second it woke in. */
static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* SOA timers of an image: refresh, retry, expire (seconds). */
static void soa_timers(const struct zimage *z, uint32_t t[3])
{
	const uint8_t *rr;
	size_t l = zimage_rr(z, 0, &rr);
	/* serial, refresh, retry, expire, minimum end the record */
	const uint8_t *e = rr + l - 16;
	t[0] = get32(e);
	t[1] = get32(e + 4);
	t[2] = get32(e + 8);
	if (t[0] < MIN_REFRESH_S)
		t[0] = MIN_REFRESH_S;
	if (t[1] < MIN_RETRY_S)
		t[1] = MIN_RETRY_S;
}

/* ---- TCP exchanges ------------------------------------------------------ */

static int tcp_connect(const struct szone *z, struct p53_err *err)
{
	int fd = socket(z->primary.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return p53_err_set(err, P53_EIO, "socket: %s", strerror(errno));
	if (connect(fd, (const struct sockaddr *)&z->primary, z->plen) != 0 &&
	    errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return p53_err_set(err, P53_EIO, "connect %s: %s", z->primary_txt, strerror(e));
	}
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int so = 0;
	socklen_t sl = sizeof(so);
	if (poll(&p, 1, IO_MS) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) != 0 ||
	    so != 0) {
		close(fd);
		return p53_err_set(err, P53_EIO, "connect %s: %s", z->primary_txt,
				   so ? strerror(so) : "timed out");
	}
	return fd;
}

static int io_full(int fd, uint8_t *buf, size_t len, bool wr, uint64_t deadline,
		   struct p53_err *err)
{
	size_t done = 0;
	while (done < len) {
		uint64_t now = mono_ms();
		if (now >= deadline)
			return p53_err_set(err, P53_EIO, "timed out");
		struct pollfd p = {.fd = fd, .events = wr ? POLLOUT : POLLIN};
		uint64_t wait = deadline - now;
		if (poll(&p, 1, (int)(wait > IO_MS ? IO_MS : wait)) != 1)
			return p53_err_set(err, P53_EIO, "timed out");
		ssize_t n = wr ? send(fd, buf + done, len - done, MSG_NOSIGNAL)
			       : recv(fd, buf + done, len - done, 0);
		if (n == 0)
			return p53_err_set(err, P53_EIO, "connection closed by the primary");
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return p53_err_set(err, P53_EIO, "%s: %s", wr ? "send" : "recv",
					   strerror(errno));
		}
		done += (size_t)n;
	}
	return 0;
}

static int send_msg(int fd, const uint8_t *m, size_t len, uint64_t deadline, struct p53_err *err)
{
	uint8_t buf[2 + 1024];
	if (len > sizeof(buf) - 2)
		return p53_err_set(err, P53_EINVAL, "query too long");
	xmsg_put16(buf, (uint16_t)len);
	memcpy(buf + 2, m, len);
	return io_full(fd, buf, len + 2, true, deadline, err);
}

static int recv_msg(int fd, uint8_t *m, size_t *len, uint64_t deadline, struct p53_err *err)
{
	uint8_t hl[2];
	int rc = io_full(fd, hl, 2, false, deadline, err);
	if (rc)
		return rc;
	size_t l = (size_t)hl[0] << 8 | hl[1];
	if (l < 12)
		return p53_err_set(err, P53_EINVAL, "short message from the primary");
	*len = l;
	return io_full(fd, m, l, false, deadline, err);
}

/* A query for the zone's apex: SOA, AXFR, or IXFR with our SOA. */
static size_t build_query(const struct szone *z, uint16_t qtype, uint16_t id, uint8_t *m,
			  size_t cap, struct tsig_stream *ts)
{
	size_t len = 12;
	memset(m, 0, 12);
	xmsg_put16(m, id);
	xmsg_put16(m + 4, 1);
	memcpy(m + len, z->apex, z->apex_len);
	len += z->apex_len;
	xmsg_put16(m + len, qtype);
	xmsg_put16(m + len + 2, 1);
	len += 4;
	if (qtype == QTYPE_IXFR) {
		const uint8_t *soa;
		size_t sl = zimage_rr(z->img, 0, &soa);
		if (len + sl > cap)
			return 0;
		memcpy(m + len, soa, sl);
		len += sl;
		xmsg_put16(m + 8, 1);
	}
	memset(ts, 0, sizeof(*ts));
	ts->key = z->key;
	if (z->key && tsig_sign_request(ts, m, &len, cap) != 0)
		return 0;
	return len;
}

/* The transfer being read. */
enum xmode { X_FIRST, X_SECOND, X_AXFR, X_DEL, X_ADD, X_DONE };

struct xread {
	enum xmode mode;
	uint32_t ours, newest;
	struct szone *z;
	struct zimage *full;	  /* AXFR: the zone */
	struct zimage *base;	  /* IXFR: what the differences apply to */
	struct zimage *del, *add; /* IXFR: the difference being read */
	unsigned nrr;
	bool uptodate, incr;
};

static int add_knot_rr(struct zimage *img, const knot_rrset_t *rr, const knot_rdata_t *rd)
{
	return zimage_add(img, rr->owner, knot_dname_size(rr->owner), rr->type, rr->ttl, rd->data,
			  rd->len);
}

static int apply_pending(struct xread *x, struct p53_err *err)
{
	struct zimage *out;
	int rc = zimage_apply(x->base, x->del, x->add, &out, err);
	zimage_unref(x->del);
	zimage_unref(x->add);
	x->del = x->add = NULL;
	if (rc)
		return rc;
	zimage_unref(x->base);
	x->base = out;
	return 0;
}

static struct zimage *soa_image(struct xread *x, const knot_rrset_t *rr, const knot_rdata_t *rd)
{
	struct zimage *img = zimage_new(x->z->apex, x->z->apex_len);
	if (img && add_knot_rr(img, rr, rd) != 0) {
		zimage_unref(img);
		return NULL;
	}
	if (img) {
		const uint8_t *w;
		size_t wl = zimage_rr(img, 0, &w);
		img->serial = zimage_soa_serial(w, wl);
	}
	return img;
}

/* One answer record of the transfer, RFC 1995 4 and RFC 5936 2.2. */
static int take_rr(struct xread *x, const knot_rrset_t *rr, const knot_rdata_t *rd,
		   struct p53_err *err)
{
	bool soa = rr->type == KNOT_RRTYPE_SOA;
	uint32_t serial = soa ? knot_soa_serial(rd) : 0;
	x->nrr++;
	switch (x->mode) {
	case X_FIRST:
		if (!soa || !knot_dname_is_equal(rr->owner, x->z->apex))
			return p53_err_set(err, P53_EINVAL, "transfer does not start with the SOA");
		x->newest = serial;
		x->full = zimage_new(x->z->apex, x->z->apex_len);
		if (x->full == NULL || add_knot_rr(x->full, rr, rd) != 0)
			return p53_err_set(err, P53_ENOMEM, "out of memory");
		x->mode = X_SECOND;
		return 0;
	case X_SECOND:
		if (soa && x->base && serial == x->ours && serial != x->newest) {
			x->mode = X_DEL; /* incremental */
			x->incr = true;
			if ((x->del = soa_image(x, rr, rd)) == NULL)
				return p53_err_set(err, P53_ENOMEM, "out of memory");
			return 0;
		}
		if (soa) { /* a zone of its SOA alone */
			x->mode = X_DONE;
			return 0;
		}
		x->mode = X_AXFR;
		/* fall through */
	case X_AXFR:
		if (soa) {
			x->mode = X_DONE;
			return 0;
		}
		return add_knot_rr(x->full, rr, rd) ? p53_err_set(err, P53_ENOMEM, "out of memory")
						    : 0;
	case X_DEL:
		if (soa) {
			x->mode = X_ADD;
			if ((x->add = soa_image(x, rr, rd)) == NULL)
				return p53_err_set(err, P53_ENOMEM, "out of memory");
			return 0;
		}
		return add_knot_rr(x->del, rr, rd) ? p53_err_set(err, P53_ENOMEM, "out of memory")
						   : 0;
	case X_ADD:
		if (soa) {
			bool last = serial == x->newest && x->add->serial == x->newest;
			int rc = apply_pending(x, err);
			if (rc)
				return rc;
			if (last) {
				x->mode = X_DONE;
				return 0;
			}
			x->mode = X_DEL;
			if ((x->del = soa_image(x, rr, rd)) == NULL)
				return p53_err_set(err, P53_ENOMEM, "out of memory");
			return 0;
		}
		return add_knot_rr(x->add, rr, rd) ? p53_err_set(err, P53_ENOMEM, "out of memory")
						   : 0;
	case X_DONE:
		return p53_err_set(err, P53_EINVAL, "records after the closing SOA");
	}
	return 0;
}

/* Checks one answer message and feeds its records. */
static int take_msg(struct xread *x, const uint8_t *m, size_t len, uint16_t id, uint16_t qtype,
		    struct tsig_stream *ts, struct p53_err *err)
{
	if (m[0] != (uint8_t)(id >> 8) || m[1] != (uint8_t)id || !(m[2] & 0x80))
		return p53_err_set(err, P53_EINVAL, "answer with another id");
	if (ts->key && tsig_check_answer(ts, m, len, err) != 0)
		return err->code;
	unsigned rcode = m[3] & 15;
	if (rcode != 0)
		return p53_err_set(err, P53_EINVAL, "primary answered %s for %s",
				   rcode == 5	? "REFUSED"
				   : rcode == 9 ? "NOTAUTH"
				   : rcode == 4 ? "NOTIMP"
				   : rcode == 1 ? "FORMERR"
						: "an error",
				   qtype == QTYPE_IXFR ? "IXFR" : "AXFR");
	knot_pkt_t *p = knot_pkt_new(NULL, (uint16_t)len, NULL);
	if (p == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	memcpy(p->wire, m, len);
	p->size = len;
	int rc = knot_pkt_parse(p, KNOT_PF_NOCANON);
	if (rc != KNOT_EOK) {
		knot_pkt_free(p);
		return p53_err_set(err, P53_EINVAL, "malformed answer: %s", knot_strerror(rc));
	}
	const knot_pktsection_t *an = knot_pkt_section(p, KNOT_ANSWER);
	rc = 0;
	for (uint16_t i = 0; rc == 0 && i < an->count; i++) {
		const knot_rrset_t *rr = knot_pkt_rr(an, i);
		knot_rdata_t *rd = rr->rrs.rdata;
		for (uint16_t k = 0; rc == 0 && k < rr->rrs.count; k++) {
			rc = take_rr(x, rr, rd, err);
			rd = knot_rdataset_next(rd);
		}
	}
	knot_pkt_free(p);
	return rc;
}

/* The primary's SOA serial, over TCP. */
static int primary_serial(struct szone *z, uint32_t *serial, struct p53_err *err)
{
	uint8_t q[1024], m[65536];
	struct tsig_stream ts;
	uint16_t id = xmsg_new_id();
	size_t ql = build_query(z, KNOT_RRTYPE_SOA, id, q, sizeof(q), &ts), ml = 0;
	if (ql == 0)
		return p53_err_set(err, P53_EINVAL, "cannot build the SOA query");
	int fd = tcp_connect(z, err);
	if (fd < 0)
		return fd;
	uint64_t deadline = mono_ms() + 2 * IO_MS;
	int rc = send_msg(fd, q, ql, deadline, err);
	if (rc == 0)
		rc = recv_msg(fd, m, &ml, deadline, err);
	close(fd);
	if (rc)
		return rc;
	struct xread x = {.z = z};
	rc = take_msg(&x, m, ml, id, KNOT_RRTYPE_SOA, &ts, err);
	tsig_stream_clear(&ts);
	zimage_unref(x.full);
	if (rc)
		return rc;
	if (x.nrr == 0)
		return p53_err_set(err, P53_EINVAL, "no SOA in the primary's answer");
	*serial = x.newest;
	return 0;
}

/* One transfer; *out is the new zone, or NULL when the primary says we are
 * current. */
static int transfer(struct szone *z, uint16_t qtype, struct zimage *base, struct zimage **out,
		    struct p53_err *err)
{
	uint8_t q[1024];
	uint8_t *m = malloc(65536);
	if (m == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	struct tsig_stream ts;
	uint16_t id = xmsg_new_id();
	*out = NULL;
	size_t ql = build_query(z, qtype, id, q, sizeof(q), &ts), ml = 0;
	if (ql == 0) {
		free(m);
		return p53_err_set(err, P53_EINVAL, "cannot build the transfer query");
	}
	int fd = tcp_connect(z, err);
	if (fd < 0) {
		free(m);
		return fd;
	}
	uint64_t deadline = mono_ms() + XFR_MS;
	struct xread x = {.z = z, .ours = base ? base->serial : 0, .base = zimage_ref(base)};
	int rc = send_msg(fd, q, ql, deadline, err);
	unsigned msgs = 0;
	while (rc == 0 && x.mode != X_DONE) {
		rc = recv_msg(fd, m, &ml, deadline, err);
		if (rc == 0)
			rc = take_msg(&x, m, ml, id, qtype, &ts, err);
		msgs++;
		/* RFC 1995 2: a lone SOA not newer than ours says we are current. */
		if (rc == 0 && msgs == 1 && x.mode == X_SECOND && qtype == QTYPE_IXFR) {
			x.uptodate = true;
			break;
		}
	}
	close(fd);
	if (rc == 0)
		rc = tsig_stream_complete(&ts, err);
	tsig_stream_clear(&ts);
	if (rc == 0 && x.uptodate) {
		if (xmsg_serial_gt(x.newest, x.ours))
			rc = p53_err_set(err, P53_EINVAL, "IXFR answer ended after its first SOA");
	} else if (rc == 0 && x.incr) {
		*out = zimage_ref(x.base); /* incremental */
		z->ixfrs++;
	} else if (rc == 0) {
		rc = zimage_seal(x.full);
		if (rc)
			p53_err_set(err, rc, "transferred zone has no SOA at its apex");
		else
			*out = zimage_ref(x.full);
	}
	zimage_unref(x.full);
	zimage_unref(x.base);
	zimage_unref(x.del);
	zimage_unref(x.add);
	free(m);
	return rc;
}

/* ---- snapshots ---------------------------------------------------------- */

/* Compiles every zone (candidate in place of zone `with`'s kept file) to
 * the snapshot path and loads it. Lock held by the caller only for the
 * list of paths; compile and load run without it. */
static int rebuild(struct xfrin *x, const struct szone *with, const char *candidate,
		   const char *why, struct p53_err *err)
{
	const struct xfr_cfg *xc = x->cfg.xfr;
	struct p53_zone_input *in = calloc(xc->nzones + x->nz + 1, sizeof(*in));
	char(*origins)[256] = calloc(xc->nzones + 1, sizeof(*origins));
	size_t n = 0;
	int rc = 0;
	if (in == NULL || origins == NULL) {
		rc = p53_err_set(err, P53_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < xc->nzones; i++) {
		const char *eq = strchr(xc->zones[i], '=');
		size_t ol = (size_t)(eq - xc->zones[i]);
		if (ol >= sizeof(origins[0]))
			ol = sizeof(origins[0]) - 1;
		memcpy(origins[i], xc->zones[i], ol);
		origins[i][ol] = 0;
		in[n++] = (struct p53_zone_input){origins[i], eq + 1};
	}
	pthread_mutex_lock(&x->mu);
	for (size_t i = 0; i < x->nz; i++) {
		const struct szone *z = &x->z[i];
		if (z == with)
			in[n++] = (struct p53_zone_input){z->origin, candidate};
		else if (z->img)
			in[n++] = (struct p53_zone_input){z->origin, z->path};
	}
	pthread_mutex_unlock(&x->mu);
	int64_t when = wall_ms() / 1000;
	if (n == 0) {
		rc = p53_err_set(err, P53_EINVAL, "no zone to serve yet");
		goto signed_out; /* the signer plans its retry */
	}
	uint64_t serial = (uint64_t)when;
	if (serial <= x->serial)
		serial = x->serial + 1;
	struct p53_compile_opts o = {.serial = serial};
	if (x->signer) {
		o.dnssec_keys = x->cfg.xfr->sign_keys;
		o.sig_validity = signer_validity(x->signer);
		o.sig_now = (uint64_t)when; /* the keys' states are those signer_done records */
	}
	if ((rc = p53_compile_file(in, n, &o, x->cfg.snapshot_path, err)) != 0)
		goto signed_out;
	x->serial = serial;
	if (x->running) {
		struct snapmgr_swap sw;
		rc = snapmgr_load(x->cfg.mgr, x->cfg.snapshot_path, why, &sw, err);
	}
signed_out:
	if (x->signer) {
		const char **names = malloc(n * sizeof(*names));
		for (size_t i = 0; names && i < n; i++)
			names[i] = in[i].origin;
		signer_done(x->signer, names, names ? n : 0, when, rc, err->msg);
		free(names);
	}
out:
	free(in);
	free(origins);
	return rc;
}

static int write_candidate(const struct zimage *img, const char *path, struct p53_err *err)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return p53_err_set(err, P53_EIO, "%s: %s", path, strerror(errno));
	int rc = zimage_write_text(img, f);
	if (fclose(f) != 0 && rc == 0)
		rc = P53_EIO;
	if (rc)
		p53_err_set(err, rc, "%s: cannot write the zone", path);
	return rc;
}

/* ---- the timer thread ---------------------------------------------------- */

static void schedule(struct xfrin *x, struct szone *z, bool ok, const char *why)
{
	uint32_t t[3] = {60, 10, 600};
	if (z->img)
		soa_timers(z->img, t);
	uint64_t now = mono_ms();
	z->failing = !ok;
	if (ok) {
		z->last_ok = (int64_t)time(NULL);
		z->next_ms = now + (uint64_t)t[0] * 1000;
		z->last_error[0] = 0;
		if (z->img)
			utimensat(AT_FDCWD, z->path, NULL, 0); /* expire counts from here */
	} else {
		z->failures++;
		z->next_ms = now + (uint64_t)t[1] * 1000;
		snprintf(z->last_error, sizeof(z->last_error), "%s", why);
	}
	(void)x;
}

/* Refreshes one zone; lock not held. */
static void refresh(struct xfrin *x, struct szone *z)
{
	struct p53_err err = {0};
	pthread_mutex_lock(&x->mu);
	struct zimage *cur = zimage_ref(z->img);
	pthread_mutex_unlock(&x->mu);
	uint32_t serial = 0;
	int rc = 0;
	if (cur && (rc = primary_serial(z, &serial, &err)) == 0 &&
	    !xmsg_serial_gt(serial, cur->serial)) {
		pthread_mutex_lock(&x->mu);
		schedule(x, z, true, NULL);
		bool was_expired = z->expired;
		z->expired = false;
		pthread_mutex_unlock(&x->mu);
		zimage_unref(cur);
		/* The zone comes back even without a new serial. */
		if (was_expired && snapmgr_load(x->cfg.mgr, x->cfg.snapshot_path,
						"secondary zone refreshed", NULL, &err) != 0)
			fprintf(stderr, "%s: secondary %s: %s\n", x->cfg.name, z->origin, err.msg);
		return;
	}
	struct zimage *got = NULL;
	if (rc == 0 && cur) {
		rc = transfer(z, QTYPE_IXFR, cur, &got, &err);
		if (rc != 0) {
			fprintf(stderr, "%s: secondary %s: IXFR from %s failed (%s); trying AXFR\n",
				x->cfg.name, z->origin, z->primary_txt, err.msg);
			err = (struct p53_err){0};
			rc = transfer(z, QTYPE_AXFR, NULL, &got, &err);
		}
	} else if (rc == 0) {
		rc = transfer(z, QTYPE_AXFR, NULL, &got, &err);
	}
	char cand[4200];
	snprintf(cand, sizeof(cand), "%s.new", z->path);
	if (rc == 0 && got && got != cur) {
		char why[512];
		snprintf(why, sizeof(why), "secondary %.255s serial %u from %.127s", z->origin,
			 got->serial, z->primary_txt);
		rc = write_candidate(got, cand, &err);
		if (rc == 0)
			rc = rebuild(x, z, cand, why, &err);
		if (rc == 0 && rename(cand, z->path) != 0)
			rc = p53_err_set(&err, P53_EIO, "%s: %s", z->path, strerror(errno));
		if (rc)
			unlink(cand);
		else
			fprintf(stderr, "%s: %s\n", x->cfg.name, why);
	}
	pthread_mutex_lock(&x->mu);
	if (rc == 0 && got) {
		zimage_unref(z->img);
		z->img = zimage_ref(got);
		z->transfers++;
	}
	bool was_expired = z->expired;
	if (rc == 0)
		z->expired = false;
	schedule(x, z, rc == 0, err.msg);
	pthread_mutex_unlock(&x->mu);
	if (rc != 0)
		fprintf(stderr,
			"%s: secondary %s: refresh from %s failed, serving what we had: %s\n",
			x->cfg.name, z->origin, z->primary_txt, err.msg);
	if (rc == 0 && was_expired && got == NULL) {
		/* The zone comes back even without a new serial. */
		struct p53_err e2 = {0};
		snapmgr_load(x->cfg.mgr, x->cfg.snapshot_path, "secondary zone refreshed", NULL,
			     &e2);
	}
	zimage_unref(got);
	zimage_unref(cur);
}

/* Zones past their expire time; lock held. True when any changed. */
static bool expire_check(struct xfrin *x)
{
	int64_t now = (int64_t)time(NULL);
	bool changed = false;
	for (size_t i = 0; i < x->nz; i++) {
		struct szone *z = &x->z[i];
		if (z->img == NULL || z->expired)
			continue;
		uint32_t t[3];
		soa_timers(z->img, t);
		if (now - z->last_ok >= (int64_t)t[2]) {
			z->expired = true;
			changed = true;
			fprintf(stderr, "%s: secondary %s: expired (no refresh for %u s)\n",
				x->cfg.name, z->origin, t[2]);
		}
	}
	return changed;
}

static void *xfrin_main(void *arg)
{
	struct xfrin *x = arg;
	pthread_mutex_lock(&x->mu);
	while (!x->stop) {
		if (expire_check(x)) {
			pthread_mutex_unlock(&x->mu);
			struct p53_err err = {0};
			/* The answering threads read the expired state with the
			 * next load of the snapshot: the same file again. */
			if (snapmgr_load(x->cfg.mgr, x->cfg.snapshot_path, "secondary zone expired",
					 NULL, &err) != 0)
				fprintf(stderr, "%s: secondary: %s\n", x->cfg.name, err.msg);
			pthread_mutex_lock(&x->mu);
		}
		uint64_t now = mono_ms(), next = now + 1000;
		if (x->signer) {
			char why[320];
			int64_t at = signer_due(x->signer, why, sizeof(why)), wall = wall_ms();
			if (at && at * 1000 <= wall) {
				pthread_mutex_unlock(&x->mu);
				struct p53_err err = {0};
				char load_why[400];
				snprintf(load_why, sizeof(load_why), "signer: %s", why);
				fprintf(stderr, "%s: signer: building: %s is due\n", x->cfg.name,
					why);
				rebuild(x, NULL, NULL, load_why, &err);
				pthread_mutex_lock(&x->mu);
				continue;
			}
			/* Waking at the start of the event's second, not up to
			 * a second after it: a step of a rollover is served at
			 * its time. */
			if (at && (uint64_t)(at * 1000 - wall) < next - now)
				next = now + (uint64_t)(at * 1000 - wall);
		}
		struct szone *due = NULL;
		for (size_t i = 0; i < x->nz && !due; i++) {
			struct szone *z = &x->z[i];
			if (z->notified || z->next_ms <= now)
				due = z;
			else if (z->next_ms < next)
				next = z->next_ms;
		}
		if (due) {
			due->notified = false;
			pthread_mutex_unlock(&x->mu);
			refresh(x, due);
			pthread_mutex_lock(&x->mu);
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t wait = next - now;
		ts.tv_sec += (time_t)(wait / 1000);
		ts.tv_nsec += (long)(wait % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&x->cv, &x->mu, &ts);
	}
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

/* ---- NOTIFY ------------------------------------------------------------- */

static bool from_primary(const struct szone *z, const struct p53_client *c)
{
	if (z->primary.ss_family == AF_INET)
		return c->family == 4 &&
		       memcmp(&((const struct sockaddr_in *)&z->primary)->sin_addr, c->addr, 4) ==
			   0;
	if (z->primary.ss_family == AF_INET6)
		return c->family == 6 &&
		       memcmp(&((const struct sockaddr_in6 *)&z->primary)->sin6_addr, c->addr,
			      16) == 0;
	return false;
}

bool xfrin_notify(struct xfrin *x, const uint8_t *q, size_t qlen, const struct p53_client *c,
		  uint8_t *resp, size_t cap, size_t *rlen)
{
	*rlen = 0;
	if (x == NULL || qlen < 12 || (q[2] & 0x80) || ((q[2] >> 3) & 0xf) != 4)
		return false;
	uint8_t name[256];
	size_t nl = 0;
	uint16_t qtype = 0;
	size_t qend = q[4] == 0 && q[5] == 1 ? xmsg_question(q, qlen, name, &nl, &qtype) : 0;
	struct tsig_req tr;
	if (qend == 0 || qtype != KNOT_RRTYPE_SOA ||
	    tsig_check_request(x->cfg.keys, q, qlen, &tr) != 0) {
		*rlen = xmsg_answer(q, qend ? qend : 12, 1 /* FORMERR */, false, NULL, resp, cap);
		return true;
	}
	if (tr.present && tr.error) {
		*rlen = xmsg_answer(q, qend, 9 /* NOTAUTH */, false, &tr, resp, cap);
		return true;
	}
	uint8_t rcode = 9; /* NOTAUTH: not a zone we are secondary for */
	pthread_mutex_lock(&x->mu);
	for (size_t i = 0; i < x->nz; i++) {
		struct szone *z = &x->z[i];
		if (z->apex_len != nl || memcmp(z->apex, name, nl) != 0)
			continue;
		bool who = from_primary(z, c) || acl_allows(&x->notify_allow, c, tr.key, false);
		/* A zone with a key takes signed NOTIFYs only (RFC 1996 and 8945). */
		if (!who || (z->key && tr.key != z->key)) {
			rcode = 5;
			break;
		}
		z->notified = true;
		z->notifies++;
		pthread_cond_signal(&x->cv);
		rcode = 0;
		break;
	}
	pthread_mutex_unlock(&x->mu);
	*rlen = xmsg_answer(q, qend, rcode, true, &tr, resp, cap);
	return true;
}

/* ---- set-up ------------------------------------------------------------- */

static int parse_zone(struct xfrin *x, struct szone *z, const char *spec, struct p53_err *err)
{
	char origin[256], addr[128], kw[16], kname[256];
	int n = sscanf(spec, "%255s %127s %15s %255s", origin, addr, kw, kname);
	if (n != 2 && !(n == 4 && strcmp(kw, "key") == 0))
		return p53_err_set(err, P53_EINVAL,
				   "secondary '%s': expected ORIGIN PRIMARY[:PORT] [key NAME]",
				   spec);
	size_t ol = strlen(origin);
	if (origin[ol - 1] != '.' && ol + 1 < sizeof(origin)) {
		origin[ol++] = '.';
		origin[ol] = 0;
	}
	int wl = name_from_text(origin, ol, (const uint8_t *)"", z->apex, NULL);
	if (wl <= 0)
		return p53_err_set(err, P53_EINVAL, "secondary '%s': bad zone name", spec);
	z->apex_len = (size_t)wl;
	name_lower(z->apex, z->apex_len);
	name_to_text(z->apex, z->origin, sizeof(z->origin));
	for (size_t i = 0; i < x->nz; i++)
		if (x->z[i].apex_len == z->apex_len &&
		    memcmp(x->z[i].apex, z->apex, z->apex_len) == 0)
			return p53_err_set(err, P53_EINVAL, "secondary zone %s given twice",
					   z->origin);
	unsigned sl;
	if (ksock_parse_addr(addr, &z->primary, &sl) != 0)
		return p53_err_set(err, P53_EINVAL, "secondary '%s': bad primary address", spec);
	z->plen = (socklen_t)sl;
	snprintf(z->primary_txt, sizeof(z->primary_txt), "%s", addr);
	if (n == 4 && (z->key = tsig_keys_find(x->cfg.keys, kname)) == NULL)
		return p53_err_set(err, P53_EINVAL, "secondary '%s': no TSIG key named '%s'", spec,
				   kname);
	/* The file name is the zone's name: "." and the names' own bytes,
	 * which name_to_text escapes, never reach the path as a separator. */
	const char *fn = strcmp(z->origin, ".") == 0 ? "root." : z->origin;
	if (strchr(fn, '/'))
		return p53_err_set(err, P53_EINVAL, "secondary '%s': zone name with '/'", spec);
	snprintf(z->path, sizeof(z->path), "%s/%szone", x->cfg.xfr->dir, fn);
	return 0;
}

struct load_ctx {
	struct zimage *img;
};

static int load_cb(void *arg, const struct zparse_rr *rr, struct p53_err *err)
{
	struct zimage *img = arg;
	if (zimage_add(img, rr->owner, rr->owner_len, rr->type, rr->ttl, rr->rdata, rr->rdlen))
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	return 0;
}

/* The zone kept from an earlier run, if any; its file's time is when it was
 * last refreshed. */
static void load_kept(struct xfrin *x, struct szone *z)
{
	struct stat st;
	if (stat(z->path, &st) != 0)
		return;
	struct zimage *img = zimage_new(z->apex, z->apex_len);
	struct zparse_opts po = {
	    .origin = z->apex, .default_ttl = 3600, .include = ZPARSE_INCLUDE_FORBID};
	struct p53_err err = {0};
	if (img == NULL || zparse_file(z->path, &po, load_cb, img, &err) != 0 ||
	    zimage_seal(img) != 0) {
		fprintf(stderr, "%s: secondary %s: ignoring %s: %s\n", x->cfg.name, z->origin,
			z->path, err.msg[0] ? err.msg : "no SOA");
		zimage_unref(img);
		return;
	}
	/* SOA first after sealing: zparse gives records in file order and
	 * the file starts with it. */
	z->img = img;
	z->last_ok = (int64_t)st.st_mtime;
}

struct xfrin *xfrin_new(const struct xfrin_cfg *cfg, struct p53_err *err)
{
	const struct xfr_cfg *xc = cfg->xfr;
	if (xc->dir == NULL && xc->nsecondary) {
		p53_err_set(err, P53_EINVAL, "--secondary needs --secondary-dir");
		return NULL;
	}
	struct xfrin *x = calloc(1, sizeof(*x));
	if (x == NULL || (x->z = calloc(xc->nsecondary + 1, sizeof(*x->z))) == NULL) {
		free(x);
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	x->cfg = *cfg;
	if (x->cfg.name == NULL)
		x->cfg.name = "port53";
	pthread_mutex_init(&x->mu, NULL);
	pthread_cond_init(&x->cv, NULL);
	if (xc->dir)
		mkdir(xc->dir, 0750);
	if (xc->sign_keys) {
		struct signer_cfg sc = {.dir = xc->sign_keys,
					.sig_validity = xc->sig_validity,
					.resign_s = xc->resign_s,
					.name = x->cfg.name};
		if ((x->signer = signer_new(&sc, err)) == NULL)
			goto fail;
	}
	for (size_t i = 0; i < xc->nzones; i++)
		if (strchr(xc->zones[i], '=') == NULL) {
			p53_err_set(err, P53_EINVAL, "--zone '%s': expected ORIGIN=PATH",
				    xc->zones[i]);
			goto fail;
		}
	for (size_t i = 0; i < xc->nnotify_allow; i++) {
		if (acl_add(&x->notify_allow, xc->notify_allow[i], cfg->keys, err) != 0)
			goto fail;
		/* NOTIFY is taken over UDP and TCP alike: "tls" has no use. */
		if (x->notify_allow.v[x->notify_allow.n - 1].tls) {
			p53_err_set(err, P53_EINVAL, "notify-allow '%s': \"tls\" is for xfr-allow",
				    xc->notify_allow[i]);
			goto fail;
		}
	}
	for (size_t i = 0; i < xc->nsecondary; i++) {
		if (parse_zone(x, &x->z[i], xc->secondary[i], err) != 0)
			goto fail;
		x->nz++;
	}
	for (size_t i = 0; i < x->nz; i++) {
		struct szone *z = &x->z[i];
		load_kept(x, z);
		if (z->img) {
			schedule(x, z, true, NULL);
			z->notified = true; /* check the primary soon after start */
			continue;
		}
		/* Nothing kept: one attempt now, so the first snapshot has
		 * the zone when the primary is up. */
		struct p53_err e = {0};
		struct zimage *got = NULL;
		char cand[4200];
		snprintf(cand, sizeof(cand), "%s.new", z->path);
		int rc = transfer(z, QTYPE_AXFR, NULL, &got, &e);
		if (rc == 0 && got && (rc = write_candidate(got, cand, &e)) == 0 &&
		    rename(cand, z->path) != 0)
			rc = p53_err_set(&e, P53_EIO, "%s: %s", z->path, strerror(errno));
		if (rc == 0 && got) {
			z->img = zimage_ref(got);
			z->transfers++;
			fprintf(stderr, "%s: secondary %s serial %u from %s\n", x->cfg.name,
				z->origin, got->serial, z->primary_txt);
		} else {
			unlink(cand);
			fprintf(stderr, "%s: secondary %s: first transfer from %s failed: %s\n",
				x->cfg.name, z->origin, z->primary_txt, e.msg);
		}
		zimage_unref(got);
		schedule(x, z, rc == 0, e.msg);
	}
	if (rebuild(x, NULL, NULL, NULL, err) != 0)
		goto fail;
	return x;
fail:
	xfrin_free(x);
	return NULL;
}

static int spawn_default(pthread_t *th, const char *name, void *(*fn)(void *), void *arg)
{
	(void)name;
	return pthread_create(th, NULL, fn, arg);
}

int xfrin_start(struct xfrin *x, struct p53_err *err)
{
	int (*spawn)(pthread_t *, const char *, void *(*)(void *), void *) =
	    x->cfg.spawn ? x->cfg.spawn : spawn_default;
	x->running = true;
	if (spawn(&x->thread, "p53-secondary", xfrin_main, x) != 0) {
		x->running = false;
		return p53_err_set(err, P53_EIO, "secondary: cannot start its thread");
	}
	return 0;
}

void xfrin_stop(struct xfrin *x)
{
	if (x == NULL || !x->running)
		return;
	pthread_mutex_lock(&x->mu);
	x->stop = true;
	pthread_cond_signal(&x->cv);
	pthread_mutex_unlock(&x->mu);
	pthread_join(x->thread, NULL);
	x->running = false;
}

void xfrin_free(struct xfrin *x)
{
	if (x == NULL)
		return;
	xfrin_stop(x);
	for (size_t i = 0; i < x->nz; i++)
		zimage_unref(x->z[i].img);
	free(x->z);
	acl_free(&x->notify_allow);
	signer_free(x->signer);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cv);
	free(x);
}

bool xfrin_expired(struct xfrin *x, const uint8_t *apex, size_t len)
{
	bool e = false;
	pthread_mutex_lock(&x->mu);
	for (size_t i = 0; i < x->nz; i++)
		if (x->z[i].apex_len == len && memcmp(x->z[i].apex, apex, len) == 0)
			e = x->z[i].expired;
	pthread_mutex_unlock(&x->mu);
	return e;
}

void xfrin_counters(struct xfrin *x, api_emit_fn emit, void *sink)
{
	pthread_mutex_lock(&x->mu);
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < x->nz; i++) {
		const struct szone *z = &x->z[i];
		emit(sink, "secondary_serial", "zone", z->origin, 0, z->img ? z->img->serial : 0);
		emit(sink, "secondary_expired", "zone", z->origin, 0, z->expired);
		emit(sink, "secondary_failing", "zone", z->origin, 0, z->failing);
		emit(sink, "secondary_refresh_age_seconds", "zone", z->origin, 0,
		     z->img && now > z->last_ok ? (uint64_t)(now - z->last_ok) : 0);
		emit(sink, "secondary_transfers", "zone", z->origin, 0, z->transfers);
		emit(sink, "secondary_ixfr", "zone", z->origin, 0, z->ixfrs);
		emit(sink, "secondary_failures", "zone", z->origin, 0, z->failures);
		emit(sink, "secondary_notifies", "zone", z->origin, 0, z->notifies);
	}
	pthread_mutex_unlock(&x->mu);
}

struct signer *xfrin_signer(struct xfrin *x)
{
	return x ? x->signer : NULL;
}
