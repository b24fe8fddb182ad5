/* DNS over TCP framing (see tcpframe.h). */
#include "ctrl/net/tcpframe.h"

#include <stdlib.h>
#include <string.h>

#define FIRST_CAP 4096

int tcpframe_push(struct tcpframe_out *o, const uint8_t *frame, size_t len)
{
	if (len < 2 || len - 2 != ((size_t)frame[0] << 8 | frame[1]))
		return -1;
	if (o->len + len > o->cap && o->off) {
		/* A client that reads just enough to keep the backlog under
		 * the limit, never all of it, would otherwise grow the buffer
		 * by what it has read. */
		memmove(o->buf, o->buf + o->off, tcpframe_pending(o));
		o->len -= o->off;
		o->off = 0;
	}
	if (o->len + len > o->cap) {
		size_t cap = o->cap ? o->cap : FIRST_CAP;
		while (cap < o->len + len)
			cap *= 2;
		uint8_t *p = realloc(o->buf, cap);
		if (p == NULL)
			return -1;
		o->buf = p;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, frame, len);
	o->len += len;
	return 0;
}

void tcpframe_sent(struct tcpframe_out *o, size_t n)
{
	size_t p = tcpframe_pending(o);
	o->off += n < p ? n : p;
	if (o->off == o->len)
		o->off = o->len = 0;
}

void tcpframe_out_free(struct tcpframe_out *o)
{
	free(o->buf);
	*o = (struct tcpframe_out){0};
}

bool tcpframe_flush(struct tcpframe_out *o, const struct tcpframe_ops *ops, void *arg)
{
	while (tcpframe_pending(o)) {
		ssize_t n = ops->send(arg, o->buf + o->off, tcpframe_pending(o));
		if (n < 0)
			return false;
		if (n == 0)
			break;
		tcpframe_sent(o, (size_t)n);
	}
	return true;
}

/* Whether a whole message starts at in + off. */
static bool complete_at(const uint8_t *in, size_t inlen, size_t off)
{
	return inlen - off >= 2 && inlen - off - 2 >= ((size_t)in[off] << 8 | in[off + 1]);
}

/* The answer in frame, sent from there when nothing is queued before it
 * (one query, one answer: no copy); what the peer does not take is
 * queued. */
static bool send_or_queue(struct tcpframe_out *o, const uint8_t *frame, size_t len,
			  const struct tcpframe_ops *ops, void *arg)
{
	if (tcpframe_pending(o))
		return tcpframe_push(o, frame, len) == 0;
	ssize_t n = ops->send(arg, frame, len);
	if (n < 0)
		return false;
	if ((size_t)n >= len)
		return true;
	if (tcpframe_push(o, frame, len) != 0)
		return false;
	tcpframe_sent(o, (size_t)n);
	return true;
}

enum tcpframe_stop tcpframe_run(struct tcpframe_out *o, uint8_t *frame, size_t framecap,
				const uint8_t *in, size_t inlen, size_t out_max,
				const struct tcpframe_ops *ops, void *arg, size_t *used)
{
	size_t off = 0;
	size_t room = framecap - 2 < TCPFRAME_MSG_MAX ? framecap - 2 : TCPFRAME_MSG_MAX;
	enum tcpframe_stop st = TCPFRAME_MORE;
	while (inlen - off >= 2) {
		int busy = ops->pump ? ops->pump(arg, o, out_max) : 0;
		if (busy < 0) {
			st = TCPFRAME_CLOSE;
			break;
		}
		if (busy || tcpframe_pending(o) > out_max) {
			st = TCPFRAME_BACKLOG;
			break;
		}
		if (!complete_at(in, inlen, off))
			break;
		size_t ml = (size_t)in[off] << 8 | in[off + 1];
		size_t r = 0;
		enum tcpframe_verdict v = ops->answer(arg, in + off + 2, ml, frame + 2, room, &r);
		off += 2 + ml;
		if (v == TCPFRAME_BAD) {
			st = TCPFRAME_STOP_BAD;
			break;
		}
		if (v != TCPFRAME_ANSWER)
			continue;
		if (r == 0 || r > room) {
			st = TCPFRAME_CLOSE;
			break;
		}
		frame[0] = (uint8_t)(r >> 8);
		frame[1] = (uint8_t)r;
		bool ok = complete_at(in, inlen, off) ? tcpframe_push(o, frame, 2 + r) == 0
						      : send_or_queue(o, frame, 2 + r, ops, arg);
		if (!ok) {
			st = TCPFRAME_CLOSE;
			break;
		}
	}
	*used = off;
	if (st != TCPFRAME_CLOSE && !tcpframe_flush(o, ops, arg))
		st = TCPFRAME_CLOSE;
	return st;
}
