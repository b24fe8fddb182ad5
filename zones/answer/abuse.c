/* The response is rewritten in place: the engine ends every EDNS response
 * with its OPT record and tells us where the question ends, so a truncated
 * or BADCOOKIE reply is the header, the question and the OPT moved up. */
#include "zones/answer/abuse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_TC 0x02
#define HDR_AA 0x04

void p53_abuse_cfg_default(struct p53_abuse_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	p53_rrl_cfg_default(&cfg->rrl);
	cfg->cookies = true;
}

const char *const p53_abuse_opt_names[] = {
    "rrl-rate",	      "rrl-slip",   "rrl-ipv4-prefix", "rrl-ipv6-prefix",
    "rrl-table-size", "rrl-exempt", "cookies",	       NULL,
};

static int num(const char *v, unsigned long max, uint32_t *out)
{
	char *end;
	if (*v < '0' || *v > '9')
		return -1;
	unsigned long n = strtoul(v, &end, 10);
	if (*end || n > max)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

int p53_abuse_cfg_set(struct p53_abuse_cfg *cfg, const char *name, const char *value, char *why,
		      size_t whylen)
{
	struct p53_rrl_cfg *r = &cfg->rrl;
	uint32_t n;
	int bad = 0;
	if (!strcmp(name, "rrl-rate")) {
		bad = num(value, 1000000, &r->rate);
	} else if (!strcmp(name, "rrl-slip")) {
		bad = num(value, 100, &r->slip);
	} else if (!strcmp(name, "rrl-ipv4-prefix")) {
		bad = num(value, 32, &n);
		r->v4_prefix = bad ? r->v4_prefix : (uint8_t)n;
	} else if (!strcmp(name, "rrl-ipv6-prefix")) {
		bad = num(value, 128, &n);
		r->v6_prefix = bad ? r->v6_prefix : (uint8_t)n;
	} else if (!strcmp(name, "rrl-table-size")) {
		bad = num(value, 1u << 26, &r->table_size);
	} else if (!strcmp(name, "rrl-exempt")) {
		bad = p53_rrl_cfg_exempt(r, value);
	} else if (!strcmp(name, "cookies")) {
		bad = strcmp(value, "on") && strcmp(value, "off");
		cfg->cookies = bad ? cfg->cookies : !strcmp(value, "on");
	} else {
		snprintf(why, whylen, "unknown option --%s", name);
		return -1;
	}
	if (bad) {
		static const char *const want[][2] = {
		    {"rrl-rate", "0 (off) to 1000000 per second"},
		    {"rrl-slip", "0 to 100"},
		    {"rrl-ipv4-prefix", "0 to 32"},
		    {"rrl-ipv6-prefix", "0 to 128"},
		    {"rrl-table-size", "1 to 67108864"},
		    {"rrl-exempt", "a comma-separated list of prefixes (at most 64), or none"},
		    {"cookies", "on or off"},
		};
		const char *w = "";
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			if (!strcmp(want[i][0], name))
				w = want[i][1];
		snprintf(why, whylen, "--%s: want %s", name, w);
		return -1;
	}
	return 0;
}

static const char *const stat_names[P53_AB__COUNT] = {
    [P53_AB_RRL_DROPPED] = "rrl_dropped",
    [P53_AB_RRL_SLIPPED] = "rrl_slipped",
    [P53_AB_RRL_BADCOOKIE] = "rrl_badcookie",
    [P53_AB_RRL_EXEMPT] = "rrl_exempt",
    [P53_AB_RRL_COOKIE_EXEMPT] = "rrl_cookie_exempt",
    [P53_AB_COOKIE_CLIENT] = "cookie_client_only",
    [P53_AB_COOKIE_VALID] = "cookie_valid",
    [P53_AB_COOKIE_BAD] = "cookie_bad",
};

const char *p53_abuse_stat_name(enum p53_abuse_stat s)
{
	return (unsigned)s < P53_AB__COUNT ? stat_names[s] : "?";
}

int p53_abuse_init(struct p53_abuse *a, const struct p53_abuse_cfg *cfg,
		   const p53_cookie_live *secret, const uint8_t seed[16])
{
	memset(a, 0, sizeof(*a));
	if (cfg->rrl.rate && (a->rrl = p53_rrl_new(&cfg->rrl, seed)) == NULL)
		return -1;
	a->secret = cfg->cookies ? secret : NULL;
	return 0;
}

void p53_abuse_fini(struct p53_abuse *a)
{
	p53_rrl_free(a->rrl);
	a->rrl = NULL;
}

/* Keeps the header, question and OPT record: the sections go. */
static size_t strip_sections(const struct p53_answer_info *in, uint8_t *r, size_t len)
{
	if (in->opt_len)
		memmove(r + in->qend, r + len - in->opt_len, in->opt_len);
	r[6] = r[7] = r[8] = r[9] = 0;
	r[10] = 0;
	r[11] = in->opt_len ? 1 : 0;
	return (size_t)in->qend + in->opt_len;
}

static size_t make_badcookie(const struct p53_answer_info *in, uint8_t *r, size_t len)
{
	len = strip_sections(in, r, len);
	r[2] &= (uint8_t) ~(HDR_AA | HDR_TC);
	r[3] = (uint8_t)((r[3] & 0xf0) | (P53_RCODE_BADCOOKIE & 0xf));
	r[in->qend + 5] = P53_RCODE_BADCOOKIE >> 4; /* OPT: extended RCODE */
	return len;
}

/* Appends our COOKIE option to the OPT record that ends the response. */
static size_t add_cookie(const struct p53_answer_info *in, const struct p53_cookie_secret *sec,
			 const struct p53_client *c, uint8_t *r, size_t len, size_t cap,
			 uint32_t now_s)
{
	if (len + P53_COOKIE_REPLY_OPT_LEN > cap || len < (size_t)in->qend + in->opt_len)
		return len;
	uint8_t *opt = r + len - in->opt_len, *o = r + len;
	size_t rdlen = (size_t)opt[9] << 8 | opt[10];
	rdlen += P53_COOKIE_REPLY_OPT_LEN;
	opt[9] = (uint8_t)(rdlen >> 8);
	opt[10] = (uint8_t)rdlen;
	o[0] = 0;
	o[1] = P53_COOKIE_OPT;
	o[2] = 0;
	o[3] = P53_COOKIE_CLIENT_LEN + P53_COOKIE_SERVER_LEN;
	memcpy(o + 4, in->cookie, P53_COOKIE_CLIENT_LEN);
	p53_cookie_make(sec->cur, in->cookie, c->addr, c->family == 4 ? 4 : 16, now_s, o + 12);
	return len + P53_COOKIE_REPLY_OPT_LEN;
}

size_t p53_abuse_limited(struct p53_abuse *a, const struct p53_answer_info *in,
			 enum p53_rrl_verdict v, bool badcookie, uint8_t *r, size_t len)
{
	switch (v) {
	case P53_RRL_PASS:
		break;
	case P53_RRL_EXEMPT:
		a->stats[P53_AB_RRL_EXEMPT]++;
		break;
	case P53_RRL_DROP:
		a->stats[P53_AB_RRL_DROPPED]++;
		return 0;
	case P53_RRL_SLIP:
		if (badcookie) {
			a->stats[P53_AB_RRL_BADCOOKIE]++;
			return make_badcookie(in, r, len);
		}
		a->stats[P53_AB_RRL_SLIPPED]++;
		len = strip_sections(in, r, len);
		r[2] |= HDR_TC;
		break;
	}
	return len;
}

size_t p53_abuse_refused(struct p53_abuse *a, const struct p53_answer_info *in,
			 const struct p53_client *c, struct p53_rrl_slot slot, uint8_t *r,
			 size_t len)
{
	/* What the engine's account promises (struct p53_answer_info), made
	 * sure of before the response is cut down to its question. */
	if ((size_t)in->qend + in->opt_len > len)
		return len;
	enum p53_rrl_verdict v =
	    p53_rrl_over(a->rrl, slot, c->family, c->addr, (enum p53_rrl_class)in->rrl_class);
	return p53_abuse_limited(a, in, v, false, r, len);
}

size_t p53_abuse_apply_full(struct p53_abuse *a, const struct p53_answer_info *in,
			    const struct p53_client *c, const struct p53_rrl_slot *slot, uint8_t *r,
			    size_t len, size_t cap, uint32_t now_ms, uint32_t now_s)
{
	if (len < 12 || in->qend < 12 || (size_t)in->qend + in->opt_len > len)
		return len;
	bool known = c->family == 4 || c->family == 6;
	const struct p53_cookie_secret *sec = NULL;
	enum p53_cookie_verdict cv = P53_COOKIE_ABSENT;
	if (a->secret && in->cookie_len && in->opt_len && known &&
	    (sec = atomic_load_explicit(a->secret, memory_order_acquire)) != NULL) {
		cv = p53_cookie_check(sec, in->cookie, in->cookie_len, c->addr,
				      c->family == 4 ? 4 : 16, now_s);
		a->stats[cv == P53_COOKIE_VALID ? P53_AB_COOKIE_VALID
			 : cv == P53_COOKIE_BAD ? P53_AB_COOKIE_BAD
						: P53_AB_COOKIE_CLIENT]++;
	}
	if (p53_abuse_limits(a, c)) {
		if (cv == P53_COOKIE_VALID) {
			/* A valid server cookie proves the address: no spoof. */
			a->stats[P53_AB_RRL_COOKIE_EXEMPT]++;
		} else {
			struct p53_rrl_slot s;
			if (slot && slot->tag)
				s = *slot;
			else
				p53_abuse_locate(a, in, c->family, c->addr, &s);
			enum p53_rrl_verdict v =
			    p53_rrl_account_inline(a->rrl, s, c->family, c->addr,
						   (enum p53_rrl_class)in->rrl_class, now_ms);
			if (v != P53_RRL_PASS) {
				len = p53_abuse_limited(a, in, v, sec != NULL, r, len);
				if (len == 0)
					return 0;
			}
		}
	}
	if (sec)
		len = add_cookie(in, sec, c, r, len, cap, now_s);
	return len;
}
