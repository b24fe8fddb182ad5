/* Zone images (see zimage.h). */
#include "ctrl/xfr/zimage.h"

#include "zones/common/name.h"
#include "zones/common/rrtype.h"
#include "zones/compile/zparse.h"
#include "zones/compile/zwalk.h"

#include <stdlib.h>
#include <string.h>

struct zimage *zimage_new(const uint8_t *apex, size_t apex_len)
{
	if (apex_len == 0 || apex_len > 255)
		return NULL;
	struct zimage *z = calloc(1, sizeof(*z));
	if (z == NULL)
		return NULL;
	z->refs = 1;
	memcpy(z->apex, apex, apex_len);
	name_lower(z->apex, apex_len);
	z->apex_len = apex_len;
	return z;
}

struct zimage *zimage_ref(struct zimage *z)
{
	if (z)
		__atomic_add_fetch(&z->refs, 1, __ATOMIC_RELAXED);
	return z;
}

void zimage_unref(struct zimage *z)
{
	if (z == NULL || __atomic_sub_fetch(&z->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(z->buf);
	free(z->off);
	free(z);
}

static int grow(struct zimage *z, size_t more)
{
	if (z->len + more > z->cap) {
		size_t cap = z->cap ? z->cap : 4096;
		while (cap < z->len + more)
			cap *= 2;
		uint8_t *b = realloc(z->buf, cap);
		if (b == NULL)
			return P53_ENOMEM;
		z->buf = b;
		z->cap = cap;
	}
	if (z->n == z->ncap) {
		size_t nc = z->ncap ? z->ncap * 2 : 256;
		uint32_t *o = realloc(z->off, nc * sizeof(*o));
		if (o == NULL)
			return P53_ENOMEM;
		z->off = o;
		z->ncap = nc;
	}
	if (z->len + more > UINT32_MAX)
		return P53_ENOMEM;
	return 0;
}

int zimage_add(struct zimage *z, const uint8_t *owner, size_t olen, uint16_t type, uint32_t ttl,
	       const uint8_t *rdata, uint16_t rdlen)
{
	if (olen == 0 || olen > 255)
		return P53_EINVAL;
	int rc = grow(z, olen + 10 + rdlen);
	if (rc)
		return rc;
	uint8_t *p = z->buf + z->len;
	memcpy(p, owner, olen);
	name_lower(p, olen);
	p += olen;
	p[0] = (uint8_t)(type >> 8);
	p[1] = (uint8_t)type;
	p[2] = 0;
	p[3] = 1; /* IN */
	p[4] = (uint8_t)(ttl >> 24);
	p[5] = (uint8_t)(ttl >> 16);
	p[6] = (uint8_t)(ttl >> 8);
	p[7] = (uint8_t)ttl;
	p[8] = (uint8_t)(rdlen >> 8);
	p[9] = (uint8_t)rdlen;
	memcpy(p + 10, rdata, rdlen);
	z->off[z->n++] = (uint32_t)z->len;
	z->len += olen + 10 + rdlen;
	return 0;
}

static size_t rr_len(const uint8_t *rr)
{
	size_t ol = name_len(rr);
	return ol + 10 + ((size_t)rr[ol + 8] << 8 | rr[ol + 9]);
}

size_t zimage_rr(const struct zimage *z, size_t i, const uint8_t **rr)
{
	*rr = z->buf + z->off[i];
	return rr_len(*rr);
}

uint16_t zimage_rr_type(const struct zimage *z, size_t i)
{
	const uint8_t *rr = z->buf + z->off[i];
	size_t ol = name_len(rr);
	return (uint16_t)(rr[ol] << 8 | rr[ol + 1]);
}

int zimage_add_rr(struct zimage *z, const struct zimage *from, size_t i)
{
	const uint8_t *rr;
	size_t l = zimage_rr(from, i, &rr);
	int rc = grow(z, l);
	if (rc)
		return rc;
	memcpy(z->buf + z->len, rr, l);
	z->off[z->n++] = (uint32_t)z->len;
	z->len += l;
	return 0;
}

uint32_t zimage_soa_serial(const uint8_t *rr, size_t len)
{
	size_t ol = name_len(rr);
	if ((rr[ol] << 8 | rr[ol + 1]) != RR_SOA)
		return 0;
	const uint8_t *rd = rr + ol + 10, *end = rr + len;
	/* MNAME and RNAME are uncompressed here. */
	size_t a = name_len(rd);
	size_t b = name_len(rd + a);
	const uint8_t *s = rd + a + b;
	if (s + 20 > end)
		return 0;
	return (uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 | s[3];
}

/* Owner, type, class and rdata; the TTL only breaks ties. */
static int cmp_rr(const uint8_t *a, const uint8_t *b, int with_ttl)
{
	size_t al = name_len(a), bl = name_len(b);
	size_t m = al < bl ? al : bl;
	int c = memcmp(a, b, m);
	if (c || al != bl)
		return c ? c : (al < bl ? -1 : 1);
	c = memcmp(a + al, b + bl, 4); /* type, class */
	if (c)
		return c;
	size_t ar = (size_t)a[al + 8] << 8 | a[al + 9], br = (size_t)b[bl + 8] << 8 | b[bl + 9];
	m = ar < br ? ar : br;
	c = memcmp(a + al + 10, b + bl + 10, m);
	if (c || ar != br)
		return c ? c : (ar < br ? -1 : 1);
	return with_ttl ? memcmp(a + al + 4, b + bl + 4, 4) : 0;
}

static int cmp_off(const void *x, const void *y, void *arg)
{
	const uint8_t *buf = arg;
	return cmp_rr(buf + *(const uint32_t *)x, buf + *(const uint32_t *)y, 1);
}

int zimage_seal(struct zimage *z)
{
	if (z->n == 0 || zimage_rr_type(z, 0) != RR_SOA)
		return P53_EINVAL;
	const uint8_t *soa;
	size_t sl = zimage_rr(z, 0, &soa);
	if (name_len(soa) != z->apex_len || memcmp(soa, z->apex, z->apex_len) != 0)
		return P53_EINVAL;
	z->serial = zimage_soa_serial(soa, sl);
	qsort_r(z->off + 1, z->n - 1, sizeof(*z->off), cmp_off, z->buf);
	size_t w = 1;
	for (size_t i = 1; i < z->n; i++) {
		/* A second SOA (an AXFR that repeats it) is not the zone's. */
		if (zimage_rr_type(z, i) == RR_SOA)
			continue;
		if (w > 1 && cmp_rr(z->buf + z->off[w - 1], z->buf + z->off[i], 0) == 0) {
			z->off[w - 1] = z->off[i]; /* the same record twice: one TTL */
			continue;
		}
		z->off[w++] = z->off[i];
	}
	z->n = w;
	return 0;
}

static int walk_add(void *arg, const uint8_t *owner, size_t olen, uint16_t type, uint32_t ttl,
		    const uint8_t *rdata, uint16_t rdlen)
{
	return zimage_add(arg, owner, olen, type, ttl, rdata, rdlen);
}

int zimage_from_snapshot(const struct p53_snapshot *s, uint32_t zi, struct zimage **out,
			 struct p53_err *err)
{
	uint32_t serial;
	const uint8_t *apex = p53_snapshot_zone(s, zi, &serial);
	struct zimage *z = apex ? zimage_new(apex, name_len(apex)) : NULL;
	if (z == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	int rc = p53_zone_walk(s, zi, walk_add, z, &z->skipped);
	if (rc == 0)
		rc = zimage_seal(z);
	if (rc) {
		zimage_unref(z);
		return p53_err_set(err, rc, "zone image: %s",
				   rc == P53_ENOMEM ? "out of memory" : "no SOA");
	}
	*out = z;
	return 0;
}

int zimage_diff(const struct zimage *old, const struct zimage *new, struct zimage **del,
		struct zimage **add)
{
	struct zimage *d = zimage_new(old->apex, old->apex_len);
	struct zimage *a = zimage_new(new->apex, new->apex_len);
	int rc = d && a ? 0 : P53_ENOMEM;
	if (rc == 0)
		rc = zimage_add_rr(d, old, 0);
	if (rc == 0)
		rc = zimage_add_rr(a, new, 0);
	size_t i = 1, j = 1;
	while (rc == 0 && (i < old->n || j < new->n)) {
		int c = i == old->n   ? 1
			: j == new->n ? -1
				      : cmp_rr(old->buf + old->off[i], new->buf + new->off[j], 1);
		if (c < 0)
			rc = zimage_add_rr(d, old, i++);
		else if (c > 0)
			rc = zimage_add_rr(a, new, j++);
		else
			i++, j++;
	}
	if (rc) {
		zimage_unref(d);
		zimage_unref(a);
		return rc ? rc : P53_ENOMEM;
	}
	d->serial = old->serial;
	a->serial = new->serial;
	*del = d;
	*add = a;
	return 0;
}

int zimage_apply(const struct zimage *base, const struct zimage *del, const struct zimage *add,
		 struct zimage **out, struct p53_err *err)
{
	const uint8_t *ds;
	size_t dl = zimage_rr(del, 0, &ds);
	if (del->n == 0 || add->n == 0 || zimage_soa_serial(ds, dl) != base->serial)
		return p53_err_set(err, P53_EINVAL,
				   "IXFR difference does not start at our serial %u", base->serial);
	struct zimage *z = zimage_new(base->apex, base->apex_len);
	if (z == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	int rc = zimage_add_rr(z, add, 0);
	/* Sorted copies of the deletions, matched without their TTL. */
	uint32_t *doff = malloc((del->n + 1) * sizeof(*doff));
	if (doff == NULL)
		rc = P53_ENOMEM;
	size_t nd = 0;
	for (size_t k = 1; rc == 0 && k < del->n; k++)
		if (zimage_rr_type(del, k) != RR_SOA)
			doff[nd++] = del->off[k];
	if (rc == 0)
		qsort_r(doff, nd, sizeof(*doff), cmp_off, del->buf);
	size_t i = 1, j = 0, gone = 0;
	while (rc == 0 && i < base->n) {
		int c = j == nd ? -1 : cmp_rr(base->buf + base->off[i], del->buf + doff[j], 0);
		if (c < 0) {
			rc = zimage_add_rr(z, base, i++);
		} else if (c > 0) {
			j++; /* deleting what is not there */
		} else {
			i++;
			j++;
			gone++;
		}
	}
	if (rc == 0 && gone != nd) {
		rc = p53_err_set(err, P53_EINVAL, "IXFR deletes %zu records the zone does not have",
				 nd - gone);
		goto out;
	}
	for (size_t k = 1; rc == 0 && k < add->n; k++)
		if (zimage_rr_type(add, k) != RR_SOA)
			rc = zimage_add_rr(z, add, k);
	if (rc == 0)
		rc = zimage_seal(z);
	if (rc)
		p53_err_set(err, rc, "applying IXFR: %s",
			    rc == P53_ENOMEM ? "out of memory" : "bad SOA");
out:
	free(doff);
	if (rc) {
		zimage_unref(z);
		return rc;
	}
	*out = z;
	return 0;
}

int zimage_equal(const struct zimage *a, const struct zimage *b)
{
	if (a->n != b->n || a->apex_len != b->apex_len || memcmp(a->apex, b->apex, a->apex_len))
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const uint8_t *x, *y;
		size_t xl = zimage_rr(a, i, &x), yl = zimage_rr(b, i, &y);
		if (xl != yl || memcmp(x, y, xl) != 0)
			return 0;
	}
	return 1;
}

int zimage_write_text(const struct zimage *z, FILE *out)
{
	size_t cap = 256 * 1024;
	char *txt = malloc(cap);
	if (txt == NULL)
		return P53_ENOMEM;
	char on[1024], tb[16];
	name_to_text(z->apex, on, sizeof(on));
	fprintf(out, "$ORIGIN %s\n", on);
	for (size_t i = 0; i < z->n; i++) {
		const uint8_t *rr;
		zimage_rr(z, i, &rr);
		size_t ol = name_len(rr);
		uint16_t type = (uint16_t)(rr[ol] << 8 | rr[ol + 1]);
		uint32_t ttl = (uint32_t)rr[ol + 4] << 24 | (uint32_t)rr[ol + 5] << 16 |
			       (uint32_t)rr[ol + 6] << 8 | rr[ol + 7];
		uint16_t rdlen = (uint16_t)(rr[ol + 8] << 8 | rr[ol + 9]);
		if (zprint_rdata(type, rr + ol + 10, rdlen, txt, cap) < 0) {
			free(txt);
			return P53_ERANGE;
		}
		const char *tn = tb;
		if (txt[0] == '\\' && txt[1] == '#')
			snprintf(tb, sizeof(tb), "TYPE%u", type);
		else
			tn = rrtype_to_text(type, tb);
		name_to_text(rr, on, sizeof(on));
		fprintf(out, "%s\t%u\tIN\t%s\t%s\n", on, ttl, tn, txt);
	}
	free(txt);
	return ferror(out) ? P53_EIO : 0;
}
