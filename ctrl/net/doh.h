/* DNS over HTTPS (RFC 8484) on HTTP/2 (libnghttp2), without sockets.
 *
 * One doh_sess is the HTTP/2 server side of one connection. The owner of
 * the socket (tcpsrv.c, under TLS with ALPN "h2", dot.h) feeds it what it
 * reads (doh_feed) and lets it answer and write (doh_flush); the DNS answer
 * and the bytes on the wire go through the callbacks of doh_ops, so the
 * fuzz target and the unit test drive the same code from a buffer.
 *
 * Requests: GET PATH?dns=BASE64URL and POST PATH with the content type
 * application/dns-message; anything else gets an HTTP error (400 bad
 * base64 or short message, 404 other path, 405 other method, 413 body
 * over max_body, 414 request target over max_header, 415 other content
 * type, 431 header list over max_header). The Message ID is the client's
 * (RFC 8484 4.1 asks clients for 0; any value is answered and echoed).
 * A 200 carries the DNS response with cache-control max-age set to the
 * smallest TTL of its answer section, or for a negative answer to the SOA's
 * (RFC 8484 5.1, RFC 2308 5).
 *
 * Memory: a request body is held until its stream is answered, and the
 * connection's receive window (conn_window) is given back to the client
 * only then, so a connection holds at most conn_window body bytes however
 * many streams it opens. Requests are answered while the answers not yet
 * sent stay under out_max; beyond it the owner stops reading (doh_paused).
 * Streams are bounded by max_streams (SETTINGS_MAX_CONCURRENT_STREAMS);
 * each must be answered and sent within msg_ms of its start, except while
 * it waits for the resolver (doh_deliver), or it is reset.
 */
#ifndef P53_DOH_H
#define P53_DOH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DOH_PATH_DEFAULT "/dns-query"
#define DOH_PATH_MAX	 256

/* The DoH settings of a listener (docs/transports.md); zeros: defaults. */
struct doh_limits {
	const char *path;     /* "/dns-query" */
	unsigned max_streams; /* concurrent streams per connection (100) */
	size_t max_header;    /* header list bytes, request target included (8192) */
	size_t max_body;      /* POST body bytes (65535, the largest DNS message) */
	size_t conn_window;   /* body bytes a connection holds at once (262144) */
	size_t out_max;	      /* answers held unsent before reading stops (65536) */
	unsigned msg_ms;      /* a stream's deadline (5000) */
};

void doh_limits_default(struct doh_limits *l);
/* Checks a path option: starts with '/', no '?', '#' or space, at most
 * DOH_PATH_MAX bytes. */
bool doh_path_valid(const char *path);

/* Counters, one writer (the connection's thread), read with relaxed loads. */
enum doh_ctr {
	DOH_SESSIONS,
	DOH_GET,
	DOH_POST,
	DOH_ANSWERED, /* 200 */
	DOH_ST_400,
	DOH_ST_404,
	DOH_ST_405,
	DOH_ST_413,
	DOH_ST_414,
	DOH_ST_415,
	DOH_ST_431,
	DOH_DROPPED,	     /* the engine dropped the query (firewall DROP): stream reset */
	DOH_RESET_DEADLINE,  /* a stream over msg_ms: reset */
	DOH_RESET_BY_PEER,   /* the client reset a stream before its answer */
	DOH_PROTOCOL_ERRORS, /* the session failed (bad preface, HTTP/2 error) */
	DOH_GOAWAY,	     /* graceful ends we started (lifetime, idle) */
	DOH_C__COUNT
};
const char *doh_ctr_name(enum doh_ctr c);

struct doh_stats {
	uint64_t c[DOH_C__COUNT];
};

enum doh_verdict {
	DOH_ANSWER, /* resp holds the response (*rlen bytes) */
	DOH_LATER,  /* answered later through doh_deliver() */
	DOH_DROP,   /* no response: the stream is reset */
	DOH_BAD,    /* not a DNS query: 400 */
};

struct doh_ops {
	/* Answers the DNS message q of stream sid into resp (room bytes). */
	enum doh_verdict (*answer)(void *arg, int32_t sid, const uint8_t *q, size_t qlen,
				   uint8_t *resp, size_t room, size_t *rlen);
	/* Sends what the peer takes now of buf: the bytes taken (0 when it
	 * would block), or -1 to close. */
	ssize_t (*send)(void *arg, const uint8_t *buf, size_t len);
};

struct doh_sess;

/* scratch (65535 bytes at least) receives answers; it may be shared by
 * the sessions of one thread. NULL when out of memory. */
struct doh_sess *doh_sess_new(const struct doh_limits *lim, const struct doh_ops *ops, void *arg,
			      struct doh_stats *st, uint8_t *scratch, size_t scratch_len);
void doh_sess_free(struct doh_sess *s);

/* Input read from the connection; requests completed by it are answered
 * by the next doh_flush. false: the session failed, close. */
bool doh_feed(struct doh_sess *s, const uint8_t *in, size_t len, uint64_t now_ms);
/* Answers complete requests while the backlog allows, then sends until
 * the peer stops taking bytes. false: close. */
bool doh_flush(struct doh_sess *s, uint64_t now_ms);
/* A late response for stream sid (len 0: dropped, the stream is reset).
 * A stream that is gone by then is ignored. */
void doh_deliver(struct doh_sess *s, int32_t sid, const uint8_t *resp, size_t len, uint64_t now_ms);
/* Resets the streams past their deadline. */
void doh_expire(struct doh_sess *s, uint64_t now_ms);
/* Graceful end: GOAWAY, the open streams are finished, no new one starts. */
void doh_goaway(struct doh_sess *s);

size_t doh_pending(const struct doh_sess *s);	/* output bytes not sent yet */
bool doh_paused(const struct doh_sess *s);	/* stop reading: answers held over out_max */
unsigned doh_streams(const struct doh_sess *s); /* open streams */
/* Neither side has anything more to say: close. */
bool doh_finished(const struct doh_sess *s);

/* Request parsing, exposed for tests and fuzzing: the HTTP status for a
 * request (200 with the DNS message in msg, *mlen bytes) from its method,
 * :path, content type (NULL: none) and body. */
int doh_request(const char *path_cfg, const char *method, const char *target, size_t tlen,
		const char *ctype, const uint8_t *body, size_t blen, uint8_t *msg, size_t cap,
		size_t *mlen);
/* The max-age for a DNS response (RFC 8484 5.1): the smallest TTL of the
 * answer section, else min(SOA TTL, SOA MINIMUM) of the authority
 * section, else 0. */
uint32_t doh_max_age(const uint8_t *resp, size_t len);

#endif
