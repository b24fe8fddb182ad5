/* A sieve in front of token buckets. The sieve is a byte per hashed key
 * (twice as many as the table has buckets: 256 KiB by default, which
 * stays in the L2 cache), counting the key's responses in the current
 * window of 250 ms up to a threshold of an eighth of the rate (half of
 * what a bucket refills in a window). Below it a response passes at once:
 * a key that stays below the threshold in every window sends less than
 * rate * (t / 2 + 1 / 4) in any t seconds, which its full bucket would
 * pass, so it could not have been limited. Keys that share a counter add
 * up: they take a bucket sooner, charged for the counter's whole count.
 *
 * The response that reaches the threshold takes the key's bucket, charging
 * it for itself and for the responses the counter passed in this window,
 * and the key keeps its bucket for the next window too (the counter's bit
 * 7) if it reached the threshold in this one. So a flood is limited as by
 * its bucket alone, with two differences. The responses the sieve passed
 * earn no refill: a key ramping up past the rate is limited up to a
 * threshold's worth sooner. And the sieve's responses of a window (fewer
 * than the threshold) go uncharged when the window ends below the
 * threshold, or when the bucket is empty as the key reaches it: a flood
 * shaped to the windows gets less than four thresholds a second (half
 * the rate) more than its bucket would pass.
 *
 * Token buckets in thousandths of a response: a bucket refills rate per
 * millisecond (counted in 4 ms ticks) up to one second's worth, a response
 * takes 1000. A bucket that went unused for a second is full, so a table
 * slot can be reused by anyone without remembering who had it.
 *
 * The table is open-addressed in groups of eight 8-byte buckets (one cache
 * line); the key's hash (rrl_pvt.h) picks the group and tags the bucket. A group with
 * no free bucket gives up its least recently used one: at worst an evicted
 * flood restarts with one second's worth of tokens. The hash is keyed, so
 * a flood cannot be aimed at one group.
 */
#include "zones/answer/rrl.h"
#include "zones/answer/rrl_pvt.h"

#include "zones/common/siphash.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define RATE_MAX  1000000
#define TABLE_MIN 64
#define TABLE_MAX (1u << 26)

static const char *const class_names[P53_RRL_CLASS__COUNT] = {
    [P53_RRL_POSITIVE] = "positive", [P53_RRL_NODATA] = "nodata",
    [P53_RRL_NXDOMAIN] = "nxdomain", [P53_RRL_REFERRAL] = "referral",
    [P53_RRL_WILDCARD] = "wildcard", [P53_RRL_ERROR] = "error",
};

const char *p53_rrl_class_name(enum p53_rrl_class c)
{
	return (unsigned)c < P53_RRL_CLASS__COUNT ? class_names[c] : "?";
}

void p53_rrl_cfg_default(struct p53_rrl_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rate = 200; /* NSD's default */
	cfg->slip = 2;
	cfg->v4_prefix = 24;
	cfg->v6_prefix = 56;
	cfg->table_size = 1u << 17;
}

static void mask_bits(uint8_t *a, size_t n, unsigned bits)
{
	for (size_t i = 0; i < n; i++) {
		unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * (unsigned)i : 0;
		a[i] &= (uint8_t)(0xff00u >> keep);
	}
}

int p53_prefix_parse(const char *s, struct p53_prefix *p)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, host, p->addr) == 1)
		p->family = 4;
	else if (inet_pton(AF_INET6, host, p->addr) == 1)
		p->family = 6;
	else
		return -1;
	unsigned max = p->family == 4 ? 32 : 128, len = max;
	if (slash) {
		char *end;
		unsigned long l = strtoul(slash + 1, &end, 10);
		if (end == slash + 1 || *end || l > max)
			return -1;
		len = (unsigned)l;
	}
	p->len = (uint8_t)len;
	uint8_t m[16];
	memcpy(m, p->addr, 16);
	mask_bits(m, 16, len);
	return memcmp(m, p->addr, 16) == 0 ? 0 : -1;
}

bool p53_prefix_match(const struct p53_prefix *p, uint8_t family, const uint8_t *addr)
{
	if (p->family != family)
		return false;
	uint8_t m[16] = {0};
	memcpy(m, addr, family == 4 ? 4 : 16);
	mask_bits(m, 16, p->len);
	return memcmp(m, p->addr, 16) == 0;
}

int p53_rrl_cfg_exempt(struct p53_rrl_cfg *cfg, const char *list)
{
	struct p53_prefix tmp[P53_RRL_EXEMPT_MAX];
	unsigned n = 0;
	if (strcmp(list, "none") != 0) {
		for (const char *s = list; *s;) {
			const char *comma = strchr(s, ',');
			size_t l = comma ? (size_t)(comma - s) : strlen(s);
			char item[80];
			if (l == 0 || l >= sizeof(item) || n >= P53_RRL_EXEMPT_MAX)
				return -1;
			memcpy(item, s, l);
			item[l] = 0;
			if (p53_prefix_parse(item, &tmp[n++]) != 0)
				return -1;
			s += l + (comma ? 1 : 0);
		}
	}
	memcpy(cfg->exempt, tmp, n * sizeof(tmp[0]));
	cfg->nexempt = n;
	return 0;
}

static uint64_t top_bits(unsigned n)
{
	return n == 0 ? 0 : n >= 64 ? ~0ULL : ~0ULL << (64 - n);
}

#define HUGE_PAGE (2u << 20)

/* A flood's answers touch random lines of the table, which nothing
 * prefetches (only the sieve's counters are): a table of 1 MiB or more
 * (the default) is mapped in whole 2 MiB pages, on 2 MiB boundaries, and
 * asked to be backed by transparent huge pages, so the default table needs
 * one TLB entry instead of 256 (at the price of the rest of its page).
 * Where the kernel gives none, it is an ordinary mapping. The memory comes
 * zeroed: every bucket free. */
static int table_alloc(struct p53_rrl *r, size_t len)
{
	if (len >= HUGE_PAGE / 2) {
		size_t span = (len + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
		size_t map = span + HUGE_PAGE;
		uint8_t *m =
		    mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m != MAP_FAILED) {
			uint8_t *a = (uint8_t *)(((uintptr_t)m + HUGE_PAGE - 1) &
						 ~(uintptr_t)(HUGE_PAGE - 1));
			if (a > m)
				munmap(m, (size_t)(a - m));
			if (a + span < m + map)
				munmap(a + span, (size_t)(m + map - (a + span)));
#ifdef MADV_HUGEPAGE
			madvise(a, span, MADV_HUGEPAGE);
#endif
			r->g = (struct p53_rrl_group *)a;
			r->map_len = span;
			return 0;
		}
	}
	r->g = aligned_alloc(64, len);
	if (r->g == NULL)
		return -1;
	memset(r->g, 0, len);
	return 0;
}

struct p53_rrl *p53_rrl_new(const struct p53_rrl_cfg *cfg, const uint8_t seed[16])
{
	if (cfg->rate == 0 || cfg->rate > RATE_MAX || cfg->v4_prefix > 32 || cfg->v6_prefix > 128 ||
	    cfg->nexempt > P53_RRL_EXEMPT_MAX || cfg->table_size > TABLE_MAX)
		return NULL;
	uint32_t n = TABLE_MIN;
	while (n < cfg->table_size)
		n <<= 1;
	struct p53_rrl *r = aligned_alloc(64, sizeof(*r));
	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	if (table_alloc(r, (size_t)n / RRL_GROUP * sizeof(struct p53_rrl_group)) != 0) {
		free(r);
		return NULL;
	}
	uint32_t ns = 2 * n; /* a power of two, whole cache lines */
	if ((r->nlimited = calloc(n, sizeof(*r->nlimited))) == NULL ||
	    (r->sieve = aligned_alloc(64, ns)) == NULL) {
		p53_rrl_free(r);
		return NULL;
	}
	memset(r->sieve, 0, ns);
	r->sieve_mask = ns - 1;
	/* Half a window's refill, in 7 bits; at rates below 16 every
	 * response takes its bucket at once (threshold 1). A lower threshold
	 * would bound a shaped flood's gain tighter, but then a few busy keys
	 * sharing a counter reach it together and take the table's line. */
	uint32_t t = cfg->rate * RRL_WINDOW_MS / 2000;
	r->threshold = t < 1 ? 1 : t > 127 ? 127 : t;
	r->mask = n / RRL_GROUP - 1;
	r->full = cfg->rate * RRL_TOKEN;
	r->per_tick = cfg->rate * RRL_TICK_MS;
	r->slip = cfg->slip;
	r->v4len = cfg->v4_prefix;
	r->v6len = cfg->v6_prefix;
	r->v4mask = top_bits(cfg->v4_prefix) >> 32;
	r->v6mask_hi = top_bits(cfg->v6_prefix);
	r->v6mask_lo = top_bits(cfg->v6_prefix > 64 ? cfg->v6_prefix - 64u : 0);
	/* Four words of key from the 16-byte seed, through SipHash once. */
	for (unsigned i = 0; i < 4; i++)
		r->key[i] = p53_siphash24(seed, &i, sizeof(i));
	r->nexempt = cfg->nexempt;
	memcpy(r->exempt, cfg->exempt, cfg->nexempt * sizeof(cfg->exempt[0]));
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->lost, 0);
	return r;
}

void p53_rrl_free(struct p53_rrl *r)
{
	if (r == NULL)
		return;
	free(r->sieve);
	if (r->map_len)
		munmap(r->g, r->map_len);
	else
		free(r->g);
	free(r->nlimited);
	free(r);
}

/* A new window: a counter that reached the threshold in the one that ended
 * keeps its key's bucket (RRL_KEPT), every count starts again from 0. After
 * a window with no response at all, no key keeps anything (no count
 * reaches RRL_KEPT). A plain loop: the compiler does it 16 counters per
 * vector operation. */
void p53_rrl_sieve_roll(struct p53_rrl *r, uint32_t now_ms)
{
	bool keep = now_ms - r->win_start < 2 * RRL_WINDOW_MS;
	uint8_t *restrict c = r->sieve;
	uint8_t t = keep ? (uint8_t)r->threshold : RRL_KEPT;
	size_t n = (size_t)r->sieve_mask + 1;
	r->win_start = now_ms;
	for (size_t i = 0; i < n; i++)
		c[i] = (c[i] & ~RRL_KEPT) >= t ? RRL_KEPT : 0;
}

static bool exempt(const struct p53_rrl *r, uint8_t family, const uint8_t *addr)
{
	for (unsigned i = 0; i < r->nexempt; i++)
		if (p53_prefix_match(&r->exempt[i], family, addr))
			return true;
	return false;
}

static void queue_event(struct p53_rrl *r, uint8_t family, const uint8_t *addr,
			enum p53_rrl_class cls)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (h - t >= P53_RRL_EVENTS) {
		atomic_fetch_add_explicit(&r->lost, 1, memory_order_relaxed);
		return;
	}
	struct p53_rrl_event *e = &r->ev[h % P53_RRL_EVENTS];
	e->family = family;
	e->cls = (uint8_t)cls;
	e->prefix_len = family == 4 ? r->v4len : r->v6len;
	memset(e->addr, 0, sizeof(e->addr));
	memcpy(e->addr, addr, family == 4 ? 4 : 16);
	mask_bits(e->addr, 16, e->prefix_len);
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

struct p53_rrl_slot p53_rrl_locate(const struct p53_rrl *r, uint8_t family, const uint8_t *addr,
				   enum p53_rrl_class cls, uint32_t key)
{
	return rrl_locate_inline(r, family, addr, cls, cls == P53_RRL_ERROR ? 0 : key);
}

/* Over the limit, or exempt: rare, so kept out of the path every answer
 * takes (rrl_pvt.h). rrl_take refuses only a bucket that holds our tag,
 * and a tag is in a group at most once, so the bucket is found by it. */
enum p53_rrl_verdict p53_rrl_over(struct p53_rrl *r, struct p53_rrl_slot s, uint8_t family,
				  const uint8_t *addr, enum p53_rrl_class cls)
{
	struct p53_rrl_group *g = s.g;
	unsigned m = rrl_match(g, s.tag), i = m ? (unsigned)__builtin_ctz(m) / 2 : 0;
	if (r->nexempt && exempt(r, family, addr))
		return P53_RRL_EXEMPT;
	/* The episode's count lives apart: only a limited response reads it.
	 * A bucket taken anew starts without the flag, so its count restarts. */
	uint32_t *n = &r->nlimited[(size_t)(g - r->g) * RRL_GROUP + i];
	if (!(g->tokens[i] & RRL_EPISODE)) {
		g->tokens[i] |= RRL_EPISODE;
		*n = 0;
		queue_event(r, family, addr, cls);
	}
	++*n;
	if (r->slip && *n % r->slip == 0)
		return P53_RRL_SLIP;
	return P53_RRL_DROP;
}

enum p53_rrl_verdict p53_rrl_account(struct p53_rrl *r, struct p53_rrl_slot s, uint8_t family,
				     const uint8_t *addr, enum p53_rrl_class cls, uint32_t now_ms)
{
	return p53_rrl_account_inline(r, s, family, addr, cls, now_ms);
}

enum p53_rrl_verdict p53_rrl_check(struct p53_rrl *r, uint8_t family, const uint8_t *addr,
				   enum p53_rrl_class cls, uint32_t key, uint32_t now_ms)
{
	return p53_rrl_account(r, p53_rrl_locate(r, family, addr, cls, key), family, addr, cls,
			       now_ms);
}

uint64_t p53_rrl_drain(struct p53_rrl *r, p53_rrl_event_fn fn, void *arg)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
	for (; t != h; t++) {
		struct p53_rrl_event e = r->ev[t % P53_RRL_EVENTS];
		fn(arg, &e);
	}
	atomic_store_explicit(&r->tail, t, memory_order_release);
	return atomic_exchange_explicit(&r->lost, 0, memory_order_relaxed);
}

void p53_rrl_event_str(const struct p53_rrl_event *ev, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];
	inet_ntop(ev->family == 4 ? AF_INET : AF_INET6, ev->addr, a, sizeof(a));
	snprintf(buf, cap, "%s/%u %s", a, ev->prefix_len,
		 p53_rrl_class_name((enum p53_rrl_class)ev->cls));
}
