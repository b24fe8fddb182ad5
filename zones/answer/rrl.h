/* Response Rate Limiting, with the semantics of NSD's and Knot DNS's RRL.
 *
 * Responses are counted in token buckets keyed by the client's prefix (/24
 * IPv4 and /56 IPv6 by default), the response class and, per class, the name
 * that answer is about: the query name for positive answers, the zone for
 * NXDOMAIN and NODATA, the zone cut for referrals, the wildcard for answers
 * synthesised from one; errors share one bucket per prefix. A spoofed flood
 * can then reflect at most the configured rate per (prefix, class, name) to
 * its victim, while other prefixes are answered in full.
 *
 * A response over the limit is dropped, except every slip-th, which is sent
 * truncated (TC) so that a real client behind a limited prefix retries over
 * TCP, which cannot be spoofed. slip 0 drops them all, 1 truncates them all.
 *
 * A response is first counted in a sieve: one byte per hashed key, counting
 * the key's responses in a window of 250 ms. A key that stays below an
 * eighth of the rate in every window could never drain its bucket, so only
 * keys that reach that take a token bucket, and nearly every answer of
 * normal traffic touches one byte of a table that stays in cache instead
 * of a line of a large one (zones/answer/rrl.c has the details).
 *
 * One sieve and one table per worker, allocated at start and never resized:
 * no locks, no allocation per query, no clock (the caller passes a
 * millisecond time).
 * The first time a bucket is limited it is queued for the log (one
 * producer, the worker; one consumer, a control thread).
 */
#ifndef P53_RRL_H
#define P53_RRL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum p53_rrl_class {
	P53_RRL_POSITIVE, /* an answer; keyed by the query name */
	P53_RRL_NODATA,	  /* by zone */
	P53_RRL_NXDOMAIN, /* by zone */
	P53_RRL_REFERRAL, /* by zone cut */
	P53_RRL_WILDCARD, /* by wildcard owner */
	P53_RRL_ERROR,	  /* FORMERR, REFUSED, SERVFAIL, NOTIMP, BADVERS: per prefix */
	P53_RRL_CLASS__COUNT
};
const char *p53_rrl_class_name(enum p53_rrl_class c);

#define P53_RRL_EXEMPT_MAX 64

struct p53_prefix {
	uint8_t family; /* 4 or 6 */
	uint8_t len;	/* prefix length in bits */
	uint8_t addr[16];
};
/* Parses "192.0.2.0/24", "2001:db8::/32" or an address (a host prefix).
 * Returns 0, or -1 (bad address, length, or bits set past the length). */
int p53_prefix_parse(const char *s, struct p53_prefix *p);
bool p53_prefix_match(const struct p53_prefix *p, uint8_t family, const uint8_t *addr);

struct p53_rrl_cfg {
	uint32_t rate;	     /* responses per second per bucket; 0 = RRL off */
	uint32_t slip;	     /* every slip-th limited response is truncated */
	uint8_t v4_prefix;   /* bits of an IPv4 source that make a client */
	uint8_t v6_prefix;   /* bits of an IPv6 source */
	uint32_t table_size; /* buckets per worker, rounded up to a power of two */
	struct p53_prefix exempt[P53_RRL_EXEMPT_MAX];
	unsigned nexempt;
};
void p53_rrl_cfg_default(struct p53_rrl_cfg *cfg);
/* Parses a comma-separated list of prefixes into cfg->exempt (replacing
 * it); "none" clears it. Returns 0, or -1 with the list unchanged. */
int p53_rrl_cfg_exempt(struct p53_rrl_cfg *cfg, const char *list);

enum p53_rrl_verdict {
	P53_RRL_PASS,	/* send the response */
	P53_RRL_EXEMPT, /* over the limit, but the source is exempt: send */
	P53_RRL_SLIP,	/* over the limit: send it truncated */
	P53_RRL_DROP,	/* over the limit: send nothing */
};

/* A bucket that started to be limited, for the log. */
struct p53_rrl_event {
	uint8_t family;
	uint8_t cls; /* enum p53_rrl_class */
	uint8_t prefix_len;
	uint8_t addr[16]; /* the prefix, host bits zero */
};
#define P53_RRL_EVENTS 64 /* ring size; more in one drain interval are counted */

struct p53_rrl;

/* seed keys the table's hash, so that no one outside can aim buckets at one
 * slot. Returns NULL when out of memory or the configuration is invalid. */
struct p53_rrl *p53_rrl_new(const struct p53_rrl_cfg *cfg, const uint8_t seed[16]);
void p53_rrl_free(struct p53_rrl *r);

/* Where a response's bucket lies: its counter in the sieve (being loaded),
 * its group in the table and its tag there. */
struct p53_rrl_group;
struct p53_rrl_slot {
	struct p53_rrl_group *g;
	uint32_t tag;	/* never 0 */
	uint32_t sieve; /* index of its counter in the sieve */
};

/* Finds the bucket for one response of class cls about the name identified
 * by key (any 32-bit value the engine gives that name, ignored for errors)
 * to the client at (family, addr), and starts loading its sieve counter: a
 * front end holding a burst of answers locates each as it is answered, so
 * the cache misses overlap with the rest of the burst, and hashes each
 * response once. */
struct p53_rrl_slot p53_rrl_locate(const struct p53_rrl *r, uint8_t family, const uint8_t *addr,
				   enum p53_rrl_class cls, uint32_t key);

/* Accounts that response, at now_ms (any monotonic millisecond clock, it
 * may wrap), in the bucket s that p53_rrl_locate gave for the same
 * arguments; family, addr and cls are read only when it is over the limit. */
enum p53_rrl_verdict p53_rrl_account(struct p53_rrl *r, struct p53_rrl_slot s, uint8_t family,
				     const uint8_t *addr, enum p53_rrl_class cls, uint32_t now_ms);

/* Both in one call. */
enum p53_rrl_verdict p53_rrl_check(struct p53_rrl *r, uint8_t family, const uint8_t *addr,
				   enum p53_rrl_class cls, uint32_t key, uint32_t now_ms);

/* Events queued since the last call (any thread, one at a time): calls fn
 * for each and returns how many were lost to a full ring since. */
typedef void (*p53_rrl_event_fn)(void *arg, const struct p53_rrl_event *ev);
uint64_t p53_rrl_drain(struct p53_rrl *r, p53_rrl_event_fn fn, void *arg);

/* Formats an event as one log line's text, "192.0.2.0/24 nxdomain". */
void p53_rrl_event_str(const struct p53_rrl_event *ev, char *buf, size_t cap);

#endif
