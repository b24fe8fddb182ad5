/* Abuse controls applied to a decided answer: DNS Cookies and Response Rate
 * Limiting, one call per response from every front end (the kernel-socket
 * server and the DPDK workers), right after p53_answer.
 *
 * The call adds our COOKIE option to the answer of a query that had one,
 * lets a client with a valid server cookie through unlimited, and passes
 * the rest of UDP through the rate limiter, which may drop the answer or
 * shrink it to a truncated one (TC, so real clients retry over TCP) or,
 * for a client that sent a cookie, to BADCOOKIE with a fresh server cookie
 * (RFC 7873 5.2.3), so that it can come back exempt.
 *
 * Per-worker state, no locks: only the secret is shared, read through one
 * atomic pointer that the control side swaps and frees after an RCU grace
 * period (ctrl/cookiekeys.h).
 */
#ifndef P53_ABUSE_H
#define P53_ABUSE_H

#include "zones/answer/answer.h"
#include "zones/answer/cookie.h"
#include "zones/answer/rrl.h"
#include "zones/answer/rrl_pvt.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct p53_abuse_cfg {
	struct p53_rrl_cfg rrl; /* rrl.rate 0 = RRL off */
	bool cookies;		/* answer DNS Cookies; default on */
};
void p53_abuse_cfg_default(struct p53_abuse_cfg *cfg);
/* Sets one option by its command-line name, the same for both servers:
 * rrl-rate, rrl-slip, rrl-ipv4-prefix, rrl-ipv6-prefix, rrl-table-size,
 * rrl-exempt (a list of prefixes), cookies (on or off). Returns 0, or -1
 * with a reason in why. */
int p53_abuse_cfg_set(struct p53_abuse_cfg *cfg, const char *name, const char *value, char *why,
		      size_t whylen);
/* The options p53_abuse_cfg_set takes, NULL-terminated, for usage texts. */
extern const char *const p53_abuse_opt_names[];

enum p53_abuse_stat {
	P53_AB_RRL_DROPPED,	  /* over the limit: not answered */
	P53_AB_RRL_SLIPPED,	  /* over the limit: answered truncated */
	P53_AB_RRL_BADCOOKIE,	  /* over the limit: answered BADCOOKIE */
	P53_AB_RRL_EXEMPT,	  /* over the limit from an exempt prefix: answered */
	P53_AB_RRL_COOKIE_EXEMPT, /* not counted: a valid server cookie */
	P53_AB_COOKIE_CLIENT,	  /* queries with a client cookie only */
	P53_AB_COOKIE_VALID,	  /* with a valid server cookie */
	P53_AB_COOKIE_BAD,	  /* with a server cookie that is not (or no longer) ours */
	P53_AB__COUNT
};
const char *p53_abuse_stat_name(enum p53_abuse_stat s);

/* The cookie secret as workers see it; NULL pointer = cookies off. */
typedef _Atomic(const struct p53_cookie_secret *) p53_cookie_live;

struct p53_abuse {
	struct p53_rrl *rrl;	       /* NULL = no rate limiting */
	const p53_cookie_live *secret; /* NULL = no cookies */
	uint64_t stats[P53_AB__COUNT];
};

/* Sets up one worker's state: its own rate-limit table (seeded from seed),
 * the shared secret. Returns 0, or -1 when out of memory or the RRL
 * configuration is invalid. */
int p53_abuse_init(struct p53_abuse *a, const struct p53_abuse_cfg *cfg,
		   const p53_cookie_live *secret, const uint8_t seed[16]);
void p53_abuse_fini(struct p53_abuse *a);

/* Whether the answer is rate limited at all: UDP, a known family, RRL on. */
static inline bool p53_abuse_limits(const struct p53_abuse *a, const struct p53_client *c)
{
	return a->rrl && c->transport == P53_UDP && (c->family | 2) == 6; /* 4 or 6 */
}

/* Hashes the rate-limit bucket of a UDP answer to an IPv4 or IPv6 client
 * (family 4 or 6: what p53_abuse_limits tests besides RRL being on, and
 * what a worker's classifier has already made sure of) once and starts
 * loading its sieve counter (p53_rrl_locate), for p53_abuse_apply: a front
 * end calls it as each answer of a burst is made, so the cache misses
 * overlap with the rest of the burst. slot->tag is 0 when RRL is off, or in is not an
 * answer p53_abuse_apply may rewrite (qend below 12: struct
 * p53_answer_info). */
static inline void p53_abuse_locate(const struct p53_abuse *a, const struct p53_answer_info *in,
				    uint8_t family, const uint8_t *addr, struct p53_rrl_slot *slot)
{
	if (a->rrl && in->qend >= 12)
		*slot = rrl_locate_inline(a->rrl, family, addr, (enum p53_rrl_class)in->rrl_class,
					  in->rrl_key);
	else
		*slot = (struct p53_rrl_slot){NULL, 0};
}

/* Applies cookies and RRL to the response of len bytes in resp (cap bytes of
 * room) that p53_answer wrote for client, with ctx->last its account of it.
 * slot is what p53_abuse_locate gave for it, or NULL to locate it here.
 * now_ms is any monotonic millisecond clock, now_s the time in seconds since
 * the epoch (cookies; fleet members must agree on it). Returns the length to
 * send, 0 to send nothing. */
size_t p53_abuse_apply_full(struct p53_abuse *a, const struct p53_answer_info *in,
			    const struct p53_client *client, const struct p53_rrl_slot *slot,
			    uint8_t *resp, size_t len, size_t cap, uint32_t now_ms, uint32_t now_s);

/* What p53_abuse_apply_full does with a response over the limit: counts
 * it and drops it, sends it whole (exempt) or shrinks it (slip: BADCOOKIE
 * when the client sent a cookie we answer, else truncated). */
size_t p53_abuse_limited(struct p53_abuse *a, const struct p53_answer_info *in,
			 enum p53_rrl_verdict v, bool badcookie, uint8_t *resp, size_t len);

/* A response without a cookie to answer that rrl_take refused from the
 * bucket at slot: p53_rrl_over's verdict, then p53_abuse_limited. */
size_t p53_abuse_refused(struct p53_abuse *a, const struct p53_answer_info *in,
			 const struct p53_client *client, struct p53_rrl_slot slot, uint8_t *resp,
			 size_t len);

/* p53_abuse_apply_full, with the path of nearly every answer inlined into
 * the front end's loop: no cookie to check or add, the bucket located
 * ahead, and under the limit. Same result for every input whose in is the
 * engine's account of the len bytes in resp (a located slot then means a
 * whole header, question and OPT record: struct p53_answer_info). */
static inline size_t p53_abuse_apply(struct p53_abuse *a, const struct p53_answer_info *in,
				     const struct p53_client *client,
				     const struct p53_rrl_slot *slot, uint8_t *resp, size_t len,
				     size_t cap, uint32_t now_ms, uint32_t now_s)
{
	if (__builtin_expect(slot != NULL && (in->cookie_len == 0 || a->secret == NULL), 1)) {
		if (slot->tag == 0)
			return len;
		if (__builtin_expect(rrl_take(a->rrl, *slot, now_ms), 1))
			return len;
		return p53_abuse_refused(a, in, client, *slot, resp, len);
	}
	return p53_abuse_apply_full(a, in, client, slot, resp, len, cap, now_ms, now_s);
}

#endif
