/* Resolver answers shared with the answering threads (rshare.h). Every
 * read of message bytes is bounds-checked: the writer's bytes come from
 * ldns, the reader's query from the network. */
#include "ctrl/resolv/rshare.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	struct entry *retired; /* writer only: the list awaiting a grace period */
	uint64_t gen;
	uint32_t stored_s, expires_s;
	uint16_t view, qtype, qclass;
	uint8_t flags, qlen;
	int16_t rule;
	bool secure;
	uint8_t nttl;
	uint16_t n;
	uint16_t ttl_off[RSHARE_MAX_TTLS];
	uint8_t qname[P53_NAME_MAX];
	uint8_t wire[];
};

struct rshare {
	unsigned mask;
	_Atomic(struct entry *) *slot;
	/* writer only */
	struct entry *retired;
	unsigned nretired;
	uint32_t reclaimed_s;
};

struct rshare *rshare_new(unsigned slots)
{
	unsigned n = 1024;
	while (n < slots)
		n <<= 1;
	struct rshare *s = calloc(1, sizeof(*s));
	if (s == NULL || (s->slot = calloc(n, sizeof(*s->slot))) == NULL) {
		free(s);
		return NULL;
	}
	s->mask = n - 1;
	return s;
}

void rshare_free(struct rshare *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i <= s->mask; i++)
		free(atomic_load_explicit(&s->slot[i], memory_order_relaxed));
	while (s->retired) {
		struct entry *e = s->retired;
		s->retired = e->retired;
		free(e);
	}
	free(s->slot);
	free(s);
}

/* The offset after the (possibly compressed) name at off; 0 when it runs
 * past n or is malformed. */
static size_t skip_name(const uint8_t *m, size_t n, size_t off)
{
	for (unsigned labels = 0; off < n && labels < 128; labels++) {
		uint8_t l = m[off];
		if (l == 0)
			return off + 1;
		if ((l & 0xc0) == 0xc0)
			return off + 2 <= n ? off + 2 : 0;
		if (l > 63)
			return 0;
		off += (size_t)l + 1;
	}
	return 0;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

bool rshare_key_of(const uint8_t *q, size_t qlen, struct rshare_key *k)
{
	if (qlen < 12 + 5 || be16(q + 4) != 1)
		return false;
	/* The question: uncompressed at offset 12. */
	size_t o = 12, len = 0;
	while (o < qlen && q[o] != 0) {
		size_t l = q[o];
		if (l > 63 || o + 1 + l > qlen || len + 1 + l + 1 > sizeof(k->qname))
			return false;
		memcpy(k->qname + len, q + o, l + 1);
		len += l + 1;
		o += l + 1;
	}
	if (o + 5 > qlen)
		return false;
	k->qname[len++] = 0;
	name_lower(k->qname, len);
	k->qlen = (uint8_t)len;
	k->qtype = be16(q + o + 1);
	k->qclass = be16(q + o + 3);
	o += 5;
	k->flags = (q[3] & 0x10 ? RSHARE_F_CD : 0) | (q[3] & 0x20 ? RSHARE_F_AD : 0);
	k->udp = 512;
	/* EDNS: the OPT record among the other sections' records. */
	unsigned rrs = (unsigned)be16(q + 6) + be16(q + 8) + be16(q + 10);
	if (rrs > 8)
		return false;
	for (unsigned i = 0; i < rrs; i++) {
		size_t e = skip_name(q, qlen, o);
		if (e == 0 || e + 10 > qlen)
			return false;
		uint16_t type = be16(q + e), rdlen = be16(q + e + 8);
		if (e + 10 + rdlen > qlen)
			return false;
		if (type == 41) {
			uint16_t udp = be16(q + e + 2);
			k->flags |= RSHARE_F_EDNS | (q[e + 6] & 0x80 ? RSHARE_F_DO : 0);
			k->udp = udp < 512 ? 512 : udp;
		}
		o = e + 10 + rdlen;
	}
	return true;
}

static uint32_t hash(const struct rshare_key *k)
{
	return name_hash(k->qname, k->qlen) ^ (uint32_t)k->qtype * 0x9e3779b1u ^
	       (uint32_t)(k->view + 1) * 0x85ebca6bu ^ (uint32_t)(k->flags + 1) * 0xc2b2ae35u;
}

void rshare_put(struct rshare *s, const struct rshare_key *k, const uint8_t *resp, size_t n,
		uint64_t gen, uint32_t now_s, uint32_t ttl_max, int rule, bool secure)
{
	uint8_t rcode = n >= 12 ? resp[3] & 15 : 255;
	if (n < 12 + (size_t)k->qlen + 4 || n > 65535 || (resp[2] & 2) ||
	    (rcode != 0 && rcode != 3))
		return;
	struct entry tmp;
	tmp.nttl = 0;
	uint32_t min = UINT32_MAX;
	size_t o = 12 + (size_t)k->qlen + 4;
	unsigned an = be16(resp + 6), ns = be16(resp + 8), ar = be16(resp + 10);
	for (unsigned i = 0; i < an + ns + ar; i++) {
		size_t e = skip_name(resp, n, o);
		if (e == 0 || e + 10 > n)
			return;
		uint16_t type = be16(resp + e), rdlen = be16(resp + e + 8);
		if (e + 10 + rdlen > n)
			return;
		if (type != 41) { /* OPT's TTL field holds flags */
			if (tmp.nttl == RSHARE_MAX_TTLS)
				return;
			tmp.ttl_off[tmp.nttl++] = (uint16_t)(e + 4);
			uint32_t ttl = (uint32_t)be16(resp + e + 4) << 16 | be16(resp + e + 6);
			if (i < an + ns && ttl < min)
				min = ttl;
		}
		o = e + 10 + rdlen;
	}
	if (min > ttl_max)
		min = ttl_max;
	if (min == UINT32_MAX || min == 0)
		return;
	struct entry *e = malloc(sizeof(*e) + n);
	if (e == NULL)
		return;
	memcpy(e->ttl_off, tmp.ttl_off, sizeof(e->ttl_off[0]) * tmp.nttl);
	e->nttl = tmp.nttl;
	e->retired = NULL;
	e->gen = gen;
	e->stored_s = now_s;
	e->expires_s = now_s + min;
	e->view = k->view;
	e->qtype = k->qtype;
	e->qclass = k->qclass;
	e->flags = k->flags;
	e->qlen = k->qlen;
	memcpy(e->qname, k->qname, k->qlen);
	e->rule = (int16_t)rule;
	e->secure = secure;
	e->n = (uint16_t)n;
	memcpy(e->wire, resp, n);
	struct entry *old =
	    atomic_exchange_explicit(&s->slot[hash(k) & s->mask], e, memory_order_acq_rel);
	if (old) {
		old->retired = s->retired;
		s->retired = old;
		s->nretired++;
	}
}

void rshare_reclaim(struct rshare *s, struct qsbr *qsbr, uint32_t now_s)
{
	if (s->retired == NULL || (s->nretired < 64 && now_s == s->reclaimed_s))
		return;
	struct entry *list = s->retired;
	/* Entries retired from here on wait for the next round. */
	s->retired = NULL;
	s->nretired = 0;
	s->reclaimed_s = now_s;
	if (qsbr_synchronize(qsbr, 1000) != 0) {
		/* A reader is stuck: keep them for later rather than free
		 * what it may still copy. */
		struct entry **tail = &list;
		while (*tail)
			tail = &(*tail)->retired;
		*tail = s->retired;
		s->retired = list;
		return;
	}
	while (list) {
		struct entry *e = list;
		list = e->retired;
		free(e);
	}
}

size_t rshare_get(const struct rshare *s, const struct rshare_key *k, const uint8_t *q,
		  uint64_t gen, uint32_t now_s, uint8_t *out, size_t cap, struct rshare_hit *hit)
{
	const struct entry *e =
	    atomic_load_explicit(&s->slot[hash(k) & s->mask], memory_order_acquire);
	if (e == NULL || e->gen != gen || now_s >= e->expires_s || e->view != k->view ||
	    e->qtype != k->qtype || e->qclass != k->qclass || e->flags != k->flags ||
	    e->qlen != k->qlen || e->n > k->udp || e->n > cap ||
	    memcmp(e->qname, k->qname, k->qlen) != 0)
		return 0;
	memcpy(out, e->wire, e->n);
	/* The client's ID and question as it wrote it (0x20 case). */
	memcpy(out, q, 2);
	memcpy(out + 12, q + 12, k->qlen);
	uint32_t age = now_s > e->stored_s ? now_s - e->stored_s : 0;
	for (unsigned i = 0; i < e->nttl; i++) {
		uint8_t *t = out + e->ttl_off[i];
		uint32_t ttl =
		    (uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 | t[3];
		ttl = ttl > age ? ttl - age : 0;
		t[0] = (uint8_t)(ttl >> 24);
		t[1] = (uint8_t)(ttl >> 16);
		t[2] = (uint8_t)(ttl >> 8);
		t[3] = (uint8_t)ttl;
	}
	if (hit) {
		hit->rule = e->rule;
		hit->secure = e->secure;
	}
	return e->n;
}
