/* DNS over TCP framing (RFC 1035 4.2.2, RFC 7766 6.2.1): the two-byte
 * length prefix, several messages in one read, a message split over reads,
 * the output queue and what counts as unsent - without sockets.
 *
 * tcpsrv.c does the I/O through the callbacks below; the fuzz target
 * (fuzz/fuzz_tcpframe.c) and the unit test drive the same code from a
 * buffer, with reads and sends cut wherever they like.
 */
#ifndef P53_TCPFRAME_H
#define P53_TCPFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TCPFRAME_MSG_MAX 65535

/* A connection's output: length-prefixed messages, buf[off, len) unsent. */
struct tcpframe_out {
	uint8_t *buf;
	size_t len, off, cap;
};

static inline size_t tcpframe_pending(const struct tcpframe_out *o)
{
	return o->len - o->off;
}

/* Queues a message already behind its two-byte length (frame, 2 + its
 * length bytes). The part already sent is dropped before the buffer grows,
 * so the buffer holds what is unsent plus one message however the client
 * paces its reads. Returns 0, or -1 (a length that does not match, out of
 * memory) with nothing queued. */
int tcpframe_push(struct tcpframe_out *o, const uint8_t *frame, size_t len);
/* n bytes from buf + off were sent (more than is pending counts as all). */
void tcpframe_sent(struct tcpframe_out *o, size_t n);
void tcpframe_out_free(struct tcpframe_out *o);

enum tcpframe_verdict {
	TCPFRAME_ANSWER, /* send the response written */
	TCPFRAME_SILENT, /* nothing to send for it (now) */
	TCPFRAME_BAD,	 /* not a query: nothing after it on the stream is read */
};

struct tcpframe_ops {
	/* Output that answers no single message (a zone transfer): queues
	 * what it has while the backlog is at most out_max, sending as it
	 * goes. Returns -1 to close the connection, 0 when no such stream is
	 * in progress, 1 while one is (the queries behind it wait, so answers
	 * stay in order). NULL: never any. */
	int (*pump)(void *arg, struct tcpframe_out *o, size_t out_max);
	/* Answers the message of len bytes into resp (room bytes); for
	 * TCPFRAME_ANSWER sets *rlen (1 to room). */
	enum tcpframe_verdict (*answer)(void *arg, const uint8_t *msg, size_t len, uint8_t *resp,
					size_t room, size_t *rlen);
	/* Sends what the peer takes now of buf: the bytes taken (0 when it
	 * would block), or -1 to close. */
	ssize_t (*send)(void *arg, const uint8_t *buf, size_t len);
};

enum tcpframe_stop {
	TCPFRAME_MORE,	   /* no complete message left: read more */
	TCPFRAME_BACKLOG,  /* a message waits, but output is over out_max or a
			    * pumped stream is in progress: stop reading */
	TCPFRAME_STOP_BAD, /* a message that is not a query was consumed */
	TCPFRAME_CLOSE,	   /* out of memory, or a callback said close */
};

/* Sends what is queued until the peer stops taking it. false: close. */
bool tcpframe_flush(struct tcpframe_out *o, const struct tcpframe_ops *ops, void *arg);

/* Answers, in order, the complete messages at the start of in (inlen
 * bytes) until the input runs out, the backlog passes out_max (checked
 * before every message), a bad message, or a failure; then flushes.
 * Each answer is written into frame + 2 (framecap - 2 bytes of room, at
 * most TCPFRAME_MSG_MAX) behind its length. Answers to pipelined messages
 * are queued and written together; the last one goes out from frame
 * itself when nothing is queued before it, and only what the peer does
 * not take is copied. *used is set to the bytes of whole messages
 * consumed (a bad one included): the caller drops them from its buffer. */
enum tcpframe_stop tcpframe_run(struct tcpframe_out *o, uint8_t *frame, size_t framecap,
				const uint8_t *in, size_t inlen, size_t out_max,
				const struct tcpframe_ops *ops, void *arg, size_t *used);

#endif
