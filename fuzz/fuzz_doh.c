/* DNS over HTTPS (ctrl/net/doh.c) driven as tcpsrv.c drives it: an HTTP/2
 * byte stream from a client, cut into reads where the input says, with a
 * socket that takes only so much after each read, a stand-in for the
 * engine, late answers delivered as the resolver would, deadlines and
 * GOAWAY; and the request parser and the TTL reader on the raw input.
 *
 * Input: byte 0 picks the stream limit (bits 0-2), the output limit (bits
 * 5-7), whether deadlines run (bit 3) and a GOAWAY (bit 4); bytes 1-4 the
 * sizes of successive reads, bytes 5-8 how many bytes the socket takes
 * after each read (0: it would block); the rest is what the client sends
 * after its connection preface (which the target adds).
 *
 * The stand-in engine: a message with QR set is no query (400); first byte
 * 0xfe is answered later (doh_deliver), 0xfd dropped (stream reset); any
 * other is answered with itself, QR set, and (byte 1 % 8) * 3000 bytes
 * more, so answers span several DATA frames and flow-control windows.
 *
 * Checks: the server's output is a sequence of whole HTTP/2 frames; every
 * stream whose DATA ends (END_STREAM) carried exactly the answer made for
 * that stream's request; doh_request returns only its documented statuses
 * and a 200 carries a whole DNS header.
 */
#include "fuzz/fuzz.h"

#include "ctrl/net/doh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_MAX	  65535
#define NSTREAMS  64
#define EXTRA_MAX (7 * 3000)

struct expect {
	int32_t sid;
	size_t len;
	uint8_t *bytes; /* what the stream's body must be */
	bool later;	/* waiting for doh_deliver */
	uint8_t *got;	/* what came in DATA frames */
	size_t ngot;
	bool ended;
};

struct sim {
	size_t take; /* what the socket takes before it would block */
	uint8_t *out;
	size_t nout, outcap;
	struct expect e[NSTREAMS];
	unsigned ne;
};

static uint8_t scratch[2 * MSG_MAX];
static uint8_t msgbuf[MSG_MAX];

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		abort();
	return q;
}

static ssize_t sim_send(void *arg, const uint8_t *buf, size_t len)
{
	struct sim *s = arg;
	size_t n = len < s->take ? len : s->take;
	if (n == 0)
		return 0; /* nothing taken: s->out may still be NULL */
	s->take -= n;
	if (s->nout + n > s->outcap) {
		s->outcap = (s->nout + n) * 2;
		s->out = xrealloc(s->out, s->outcap);
	}
	memcpy(s->out + s->nout, buf, n);
	s->nout += n;
	return (ssize_t)n;
}

static struct expect *find(struct sim *s, int32_t sid)
{
	for (unsigned i = 0; i < s->ne; i++)
		if (s->e[i].sid == sid)
			return &s->e[i];
	return NULL;
}

static enum doh_verdict sim_answer(void *arg, int32_t sid, const uint8_t *q, size_t qlen,
				   uint8_t *resp, size_t room, size_t *rlen)
{
	struct sim *s = arg;
	if (qlen < 12 || (q[2] & 0x80))
		return DOH_BAD;
	if (q[0] == 0xfd)
		return DOH_DROP;
	size_t n = qlen + (size_t)(q[1] % 8) * 3000;
	if (n > room)
		n = room;
	if (qlen <= n)
		memcpy(resp, q, qlen);
	for (size_t i = qlen; i < n; i++)
		resp[i] = (uint8_t)(i * 7);
	resp[2] |= 0x80;
	if (find(s, sid))
		abort(); /* one answer per stream */
	if (s->ne < NSTREAMS) {
		struct expect *e = &s->e[s->ne++];
		memset(e, 0, sizeof(*e));
		e->sid = sid;
		e->len = n;
		e->bytes = xrealloc(NULL, n);
		memcpy(e->bytes, resp, n);
		e->later = q[0] == 0xfe;
	}
	if (q[0] == 0xfe)
		return DOH_LATER;
	*rlen = n;
	return DOH_ANSWER;
}

static const struct doh_ops ops = {.answer = sim_answer, .send = sim_send};

/* Parses the server's frames; aborts on a stream that is not whole frames
 * or a finished body that is not the answer made for its stream. */
static void check_output(struct sim *s)
{
	size_t off = 0;
	while (off < s->nout) {
		if (s->nout - off < 9)
			abort(); /* a frame cut short although everything was flushed */
		size_t len =
		    (size_t)s->out[off] << 16 | (size_t)s->out[off + 1] << 8 | s->out[off + 2];
		uint8_t type = s->out[off + 3], flags = s->out[off + 4];
		int32_t sid =
		    (int32_t)(((uint32_t)s->out[off + 5] << 24 | (uint32_t)s->out[off + 6] << 16 |
			       (uint32_t)s->out[off + 7] << 8 | s->out[off + 8]) &
			      0x7fffffff);
		if (s->nout - off - 9 < len)
			abort();
		const uint8_t *p = s->out + off + 9;
		struct expect *e = type == 0 ? find(s, sid) : NULL;
		if (type == 0 && e) {
			size_t pad = 0;
			if (flags & 0x8) {
				if (len == 0 || (size_t)p[0] + 1 > len)
					abort();
				pad = p[0] + 1u;
				p++;
			}
			size_t n = len - pad;
			e->got = xrealloc(e->got, e->ngot + n);
			memcpy(e->got + e->ngot, p, n);
			e->ngot += n;
			if (flags & 0x1)
				e->ended = true;
		}
		off += 9 + len;
	}
	for (unsigned i = 0; i < s->ne; i++) {
		struct expect *e = &s->e[i];
		if (e->ended && (e->ngot != e->len || memcmp(e->got, e->bytes, e->len) != 0))
			abort();
	}
}

static void check_request(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "POST", "PUT", ""};
	char target[1024];
	size_t tl = size < sizeof(target) - 1 ? size : sizeof(target) - 1;
	memcpy(target, data, tl);
	target[tl] = 0;
	for (unsigned m = 0; m < 4; m++) {
		size_t mlen = 0;
		int st = doh_request("/dns-query", methods[m], target, tl,
				     m == 1 ? "application/dns-message" : NULL, data, size, msgbuf,
				     sizeof(msgbuf), &mlen);
		if (st != 200 && st != 400 && st != 404 && st != 405 && st != 413 && st != 415)
			abort();
		if (st == 200 && (mlen < 12 || mlen > sizeof(msgbuf)))
			abort();
	}
	(void)doh_max_age(data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	if (size < 9)
		return 0;
	uint8_t opt = data[0];
	size_t reads[4], takes[4];
	for (int i = 0; i < 4; i++) {
		reads[i] = 1 + (size_t)data[1 + i] * 8;
		takes[i] = (size_t)data[5 + i] * 97;
	}
	data += 9;
	size -= 9;
	check_request(data, size);

	struct doh_limits lim;
	doh_limits_default(&lim);
	lim.max_streams = 1 + (opt & 7) * 3;
	lim.out_max = 512u << ((opt >> 5) & 7);
	lim.msg_ms = 1000;
	struct sim s = {0};
	struct doh_stats st = {0};
	struct doh_sess *h = doh_sess_new(&lim, &ops, &s, &st, scratch, sizeof(scratch));
	if (h == NULL)
		abort();
	uint64_t now = 1000;
	bool ok = doh_feed(h, (const uint8_t *)preface, sizeof(preface) - 1, now);
	size_t off = 0;
	unsigned stalled = 0;
	for (unsigned r = 0; ok && off < size && stalled < 8; r++) {
		size_t n = reads[r % 4];
		if (n > size - off)
			n = size - off;
		size_t before = s.nout;
		bool fed = !doh_paused(h);
		if (fed) {
			ok = doh_feed(h, data + off, n, now);
			off += n;
		}
		s.take = takes[r % 4];
		if (ok)
			ok = doh_flush(h, now);
		now += 10;
		/* Paused with nothing going out: a client that does not read
		 * (or gives no window) stays paused. */
		stalled = fed || s.nout != before ? 0 : stalled + 1;
	}
	if (ok) {
		for (unsigned i = 0; i < s.ne; i++)
			if (s.e[i].later)
				doh_deliver(h, s.e[i].sid, s.e[i].bytes, s.e[i].len, now);
		if (opt & 0x8)
			doh_expire(h, now + 5000);
		if (opt & 0x10)
			doh_goaway(h);
		/* Everything the session has to say, to a client that reads. */
		for (int i = 0; ok && i < 64; i++) {
			s.take = (size_t)-1;
			size_t before = s.nout;
			ok = doh_flush(h, now);
			if (s.nout == before && doh_pending(h) == 0)
				break;
		}
		if (ok && doh_pending(h) == 0)
			check_output(&s);
		(void)doh_finished(h);
		(void)doh_streams(h);
	}
	doh_sess_free(h);
	for (unsigned i = 0; i < s.ne; i++) {
		free(s.e[i].bytes);
		free(s.e[i].got);
	}
	free(s.out);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}
