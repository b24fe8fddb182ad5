/* DNS Cookies (RFC 7873) with interoperable server cookies (RFC 9018).
 *
 * A server cookie is version 1, three reserved bytes, a 32-bit timestamp and
 * SipHash-2-4 over (client cookie, version, reserved, timestamp, client
 * address) under a 16-byte secret. Every server of an anycast fleet that
 * shares the secret accepts the others' cookies.
 *
 * The secret is shared by all workers and swapped by the control side
 * (p53_cookie_secret): current and previous are both accepted, so a
 * rotation never invalidates a cookie a client holds. Pure functions on
 * bytes: no allocation, no clock (the caller passes the time).
 */
#ifndef P53_COOKIE_H
#define P53_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define P53_COOKIE_OPT	      10 /* EDNS option code */
#define P53_COOKIE_CLIENT_LEN 8
#define P53_COOKIE_SERVER_LEN 16 /* what we issue */
#define P53_COOKIE_MAX	      40 /* client 8 + server 8..32 */
/* Bytes the COOKIE option we add takes in a response's OPT record. */
#define P53_COOKIE_REPLY_OPT_LEN (4 + P53_COOKIE_CLIENT_LEN + P53_COOKIE_SERVER_LEN)
#define P53_COOKIE_SECRET_LEN	 16

/* RFC 9018 4.3: a cookie older than an hour, or more than five minutes in
 * the future, is not accepted; one older than half an hour is replaced. */
#define P53_COOKIE_LIFETIME_S 3600
#define P53_COOKIE_FUTURE_S   300
#define P53_COOKIE_RENEW_S    1800

enum p53_cookie_rcode { P53_RCODE_BADCOOKIE = 23 };

struct p53_cookie_secret {
	uint8_t cur[P53_COOKIE_SECRET_LEN];
	uint8_t prev[P53_COOKIE_SECRET_LEN];
	bool has_prev;
};

/* RFC 7873 5.2.2: an option of 8 bytes (client cookie only) or 16 to 40
 * bytes (client and server cookie); any other length is FORMERR. */
static inline bool p53_cookie_len_ok(size_t len)
{
	return len == P53_COOKIE_CLIENT_LEN || (len >= 16 && len <= P53_COOKIE_MAX);
}

enum p53_cookie_verdict {
	P53_COOKIE_ABSENT,	/* no COOKIE option */
	P53_COOKIE_CLIENT_ONLY, /* a client cookie, no server cookie */
	P53_COOKIE_BAD,		/* a server cookie we did not make, or expired */
	P53_COOKIE_VALID,	/* made by us (current or previous secret), fresh */
};

/* Checks the server cookie in opt (the option's len bytes, client cookie
 * first) for the client at addr (4 or 16 bytes) at time now (seconds since
 * the epoch; compared in serial arithmetic, RFC 1982). */
enum p53_cookie_verdict p53_cookie_check(const struct p53_cookie_secret *sec, const uint8_t *opt,
					 size_t len, const uint8_t *addr, size_t alen,
					 uint32_t now);

/* Writes the 16-byte server cookie for client cookie cc, client address addr
 * and time now under secret. */
void p53_cookie_make(const uint8_t secret[P53_COOKIE_SECRET_LEN],
		     const uint8_t cc[P53_COOKIE_CLIENT_LEN], const uint8_t *addr, size_t alen,
		     uint32_t now, uint8_t out[P53_COOKIE_SERVER_LEN]);

/* Parses a secret written as 32 hex digits. Returns 0, or -1. */
int p53_cookie_secret_parse(const char *hex, uint8_t out[P53_COOKIE_SECRET_LEN]);

#endif
