/* DNS over TCP framing (ctrl/net/tcpframe.c) against streams written here
 * byte by byte per RFC 1035 4.2.2 (a two-byte big-endian length before each
 * message): several messages in one read, a message or a length cut by the
 * end of a read, a bad message after good ones, the backlog limit, partial
 * sends, and the output buffer's size under a client that never reads all. */
#include "check.h"

#include "ctrl/net/tcpframe.h"

#include <stdlib.h>

/* A peer: the answer to a message is the message with every byte + 1; a
 * message starting 0xff (or empty) is not a query; the peer's socket takes
 * take bytes more in all (SIZE_MAX: no limit), and what it took is
 * recorded. */
struct peer {
	size_t take;
	bool fail_send;
	int pump_rc;
	unsigned answered, sends;
	uint8_t got[1 << 20];
	size_t ngot;
};

static uint8_t frame[2 + 65535];

static enum tcpframe_verdict answer(void *arg, const uint8_t *m, size_t len, uint8_t *r,
				    size_t room, size_t *rlen)
{
	struct peer *p = arg;
	if (len == 0 || m[0] == 0xff || len > room)
		return TCPFRAME_BAD;
	for (size_t i = 0; i < len; i++)
		r[i] = (uint8_t)(m[i] + 1);
	*rlen = len;
	p->answered++;
	return TCPFRAME_ANSWER;
}

static ssize_t peer_send(void *arg, const uint8_t *buf, size_t len)
{
	struct peer *p = arg;
	p->sends++;
	if (p->fail_send)
		return -1;
	size_t n = len < p->take ? len : p->take;
	if (p->take != SIZE_MAX)
		p->take -= n;
	memcpy(p->got + p->ngot, buf, n);
	p->ngot += n;
	return (ssize_t)n;
}

static enum tcpframe_stop run(struct tcpframe_out *o, const uint8_t *in, size_t inlen,
			      size_t out_max, const struct tcpframe_ops *ops, struct peer *p,
			      size_t *used)
{
	return tcpframe_run(o, frame, sizeof(frame), in, inlen, out_max, ops, p, used);
}

static int pump(void *arg, struct tcpframe_out *o, size_t out_max)
{
	(void)o;
	(void)out_max;
	return ((struct peer *)arg)->pump_rc;
}

static const struct tcpframe_ops ops = {.answer = answer, .send = peer_send};
static const struct tcpframe_ops ops_pump = {.pump = pump, .answer = answer, .send = peer_send};

static void test_several_and_partial(void)
{
	/* "ab", "xyz", then 4 of the 5 bytes of a third message. */
	static const uint8_t in[] = {0, 2, 'a', 'b', 0, 3, 'x', 'y', 'z', 0, 5, 1, 2, 3, 4};
	static const uint8_t want[] = {0, 2, 'b', 'c', 0, 3, 'y', 'z', '{'};
	struct peer *p = calloc(1, sizeof(*p));
	struct tcpframe_out o = {0};
	size_t used = 99;
	p->take = SIZE_MAX;
	CHECK_EQ(run(&o, in, sizeof(in), 65536, &ops, p, &used), TCPFRAME_MORE);
	CHECK_EQ(used, 9);
	CHECK_EQ(p->answered, 2);
	CHECK_EQ(p->ngot, sizeof(want));
	CHECK(memcmp(p->got, want, sizeof(want)) == 0);
	CHECK_EQ(tcpframe_pending(&o), 0);
	CHECK_EQ(o.len, 0); /* all sent: rewound */

	/* A length cut after its first byte, and nothing at all. */
	CHECK_EQ(run(&o, in, 1, 65536, &ops, p, &used), TCPFRAME_MORE);
	CHECK_EQ(used, 0);
	CHECK_EQ(run(&o, in, 0, 65536, &ops, p, &used), TCPFRAME_MORE);
	CHECK_EQ(used, 0);
	CHECK_EQ(p->answered, 2);
	tcpframe_out_free(&o);
	free(p);
}

static void test_bad_after_good(void)
{
	/* "q", then a message that is not a query, then "r" never read. */
	static const uint8_t in[] = {0, 1, 'q', 0, 2, 0xff, 0, 0, 1, 'r'};
	struct peer *p = calloc(1, sizeof(*p));
	struct tcpframe_out o = {0};
	size_t used;
	p->take = 0; /* the client reads nothing yet */
	CHECK_EQ(run(&o, in, sizeof(in), 65536, &ops, p, &used), TCPFRAME_STOP_BAD);
	CHECK_EQ(used, 7);
	CHECK_EQ(p->answered, 1);
	/* The answer before it is still queued for the client. */
	CHECK_EQ(tcpframe_pending(&o), 3);
	CHECK(o.buf[o.off] == 0 && o.buf[o.off + 1] == 1 && o.buf[o.off + 2] == 'r');
	/* An empty message is not a query either. */
	static const uint8_t empty[] = {0, 0, 0, 1, 'q'};
	CHECK_EQ(run(&o, empty, sizeof(empty), 65536, &ops, p, &used), TCPFRAME_STOP_BAD);
	CHECK_EQ(used, 2);
	tcpframe_out_free(&o);
	free(p);
}

static void test_backlog_and_partial_sends(void)
{
	/* Ten messages of 20 bytes; out_max 50 with a client that reads
	 * nothing: three answers (66 bytes queued) and then a stop, checked
	 * before each message. */
	uint8_t in[220];
	for (int i = 0; i < 10; i++) {
		in[i * 22] = 0;
		in[i * 22 + 1] = 20;
		memset(in + i * 22 + 2, 'a' + i, 20);
	}
	struct peer *p = calloc(1, sizeof(*p));
	struct tcpframe_out o = {0};
	size_t used;
	p->take = 0;
	CHECK_EQ(run(&o, in, sizeof(in), 50, &ops, p, &used), TCPFRAME_BACKLOG);
	CHECK_EQ(used, 66);
	CHECK_EQ(tcpframe_pending(&o), 66);
	/* The client reads 15 bytes: 51 left, still over. */
	p->take = 15;
	CHECK(tcpframe_flush(&o, &ops, p));
	CHECK_EQ(tcpframe_pending(&o), 51);
	CHECK_EQ(o.off, 15);
	CHECK_EQ(run(&o, in + used, sizeof(in) - used, 50, &ops, p, &used), TCPFRAME_BACKLOG);
	CHECK_EQ(used, 0);
	/* Now it reads everything: answers to pipelined queries are written
	 * together, three at a time under this limit, then the rest. */
	p->take = SIZE_MAX;
	CHECK(tcpframe_flush(&o, &ops, p));
	size_t at = 66;
	CHECK_EQ(run(&o, in + at, sizeof(in) - at, 50, &ops, p, &used), TCPFRAME_BACKLOG);
	CHECK_EQ(used, 66);
	CHECK_EQ(tcpframe_pending(&o), 0); /* written at the end of the run */
	at += used;
	CHECK_EQ(run(&o, in + at, sizeof(in) - at, 50, &ops, p, &used), TCPFRAME_BACKLOG);
	at += used;
	CHECK_EQ(run(&o, in + at, sizeof(in) - at, 50, &ops, p, &used), TCPFRAME_MORE);
	CHECK_EQ(at + used, sizeof(in));
	CHECK_EQ(p->ngot, 220);
	for (int i = 0; i < 10; i++) {
		CHECK(p->got[i * 22] == 0 && p->got[i * 22 + 1] == 20);
		CHECK(p->got[i * 22 + 2] == 'a' + i + 1 && p->got[i * 22 + 21] == 'a' + i + 1);
	}
	tcpframe_out_free(&o);
	free(p);
}

static void test_zero_copy(void)
{
	/* One query, one answer: sent straight from the frame; what the
	 * socket does not take is queued from where it stopped. */
	static const uint8_t in[] = {0, 5, 'a', 'b', 'c', 'd', 'e'};
	struct peer *p = calloc(1, sizeof(*p));
	struct tcpframe_out o = {0};
	size_t used;
	p->take = SIZE_MAX;
	CHECK_EQ(run(&o, in, sizeof(in), 65536, &ops, p, &used), TCPFRAME_MORE);
	CHECK_EQ(p->sends, 1);
	CHECK(o.buf == NULL); /* nothing was copied */
	p->take = 3;
	CHECK_EQ(run(&o, in, sizeof(in), 65536, &ops, p, &used), TCPFRAME_MORE);
	CHECK_EQ(tcpframe_pending(&o), 4);
	CHECK(memcmp(o.buf + o.off, "cdef", 4) == 0);
	p->take = SIZE_MAX;
	CHECK(tcpframe_flush(&o, &ops, p));
	CHECK_EQ(p->ngot, 14);
	CHECK(memcmp(p->got + 7, "\0\5bcdef", 7) == 0);
	tcpframe_out_free(&o);
	free(p);
}

static void test_buffer_bounded(void)
{
	/* A client that reads all but the last byte of each answer keeps the
	 * backlog tiny but never empty: the buffer must not grow by what it
	 * has read. 2000 answers of 100 bytes. */
	uint8_t msg[102];
	memset(msg, 7, sizeof(msg));
	msg[0] = 0;
	msg[1] = 100;
	struct tcpframe_out o = {0};
	for (int i = 0; i < 2000; i++) {
		CHECK_EQ(tcpframe_push(&o, msg, sizeof(msg)), 0);
		tcpframe_sent(&o, tcpframe_pending(&o) - 1);
		if (tcpframe_pending(&o) != 1)
			break;
	}
	CHECK_EQ(tcpframe_pending(&o), 1);
	CHECK(o.cap <= 4096);
	/* A frame whose length does not match what it says: refused,
	 * nothing queued. */
	static uint8_t big[2 + 65535];
	big[0] = big[1] = 0xff;
	CHECK_EQ(tcpframe_push(&o, big, sizeof(big) - 1), -1);
	CHECK_EQ(tcpframe_push(&o, big, 1), -1);
	CHECK_EQ(tcpframe_pending(&o), 1);
	CHECK_EQ(tcpframe_push(&o, big, sizeof(big)), 0);
	CHECK_EQ(tcpframe_pending(&o), 1 + 2 + 65535);
	CHECK(o.buf[o.off + 1] == 0xff && o.buf[o.off + 2] == 0xff);
	/* More sent than pending is clamped. */
	tcpframe_sent(&o, 1u << 20);
	CHECK_EQ(tcpframe_pending(&o), 0);
	tcpframe_out_free(&o);
	CHECK(o.buf == NULL && o.cap == 0);
}

static void test_failures_and_pump(void)
{
	static const uint8_t in[] = {0, 1, 'q', 0, 1, 'r'};
	struct peer *p = calloc(1, sizeof(*p));
	struct tcpframe_out o = {0};
	size_t used;
	p->take = SIZE_MAX;
	p->fail_send = true;
	CHECK_EQ(run(&o, in, sizeof(in), 65536, &ops, p, &used), TCPFRAME_CLOSE);
	CHECK_EQ(used, 6);
	p->fail_send = false;
	tcpframe_sent(&o, tcpframe_pending(&o));
	/* A stream in progress holds the queries behind it; -1 closes. */
	p->pump_rc = 1;
	CHECK_EQ(run(&o, in, sizeof(in), 65536, &ops_pump, p, &used), TCPFRAME_BACKLOG);
	CHECK_EQ(used, 0);
	p->pump_rc = -1;
	CHECK_EQ(run(&o, in, sizeof(in), 65536, &ops_pump, p, &used), TCPFRAME_CLOSE);
	CHECK_EQ(used, 0);
	p->pump_rc = 0;
	CHECK_EQ(run(&o, in, sizeof(in), 65536, &ops_pump, p, &used), TCPFRAME_MORE);
	CHECK_EQ(used, 6);
	tcpframe_out_free(&o);
	free(p);
}

int main(void)
{
	test_several_and_partial();
	test_bad_after_good();
	test_backlog_and_partial_sends();
	test_zero_copy();
	test_buffer_bounded();
	test_failures_and_pump();
	return check_report("tcpframe");
}
