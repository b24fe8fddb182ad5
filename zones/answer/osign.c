/* Online DNSSEC signing (osign.h). */
#include "zones/answer/osign.h"

#include "zones/answer/snapshot_pvt.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"
#include "zones/common/siphash.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALG_RSASHA256 8
#define ALG_ECDSAP256 13
#define ALG_ED25519   15
/* What one signature covers: RRSIG header, signer, and the RRset in
 * canonical form; a set larger than this is not signed online. */
#define DATA_MAX 65536
#define WORK_MAX (DATA_MAX + P53_OSIGN_RRS_MAX * 4 + 65536)

struct oskey {
	EVP_PKEY *pkey;
	uint8_t alg;
	uint16_t tag;
};

struct oszone {
	uint8_t n;
	uint8_t k[P53_OSIGN_KEYS_MAX]; /* indexes into keys */
};

/* One cached signature; direct-mapped by the hash's low bits. len is the
 * covered data's length, a second check beside the 64-bit hash. The
 * signature follows the header; entries are as long as the largest
 * signature of the load's keys (64 bytes for algorithms 13 and 15, the
 * modulus for RSA), so a cache without RSA keys stays small. */
struct osc_ent {
	uint64_t h;
	uint32_t len;
	uint16_t siglen;
	uint8_t sig[];
};

/* One answering thread's slot: written by that thread only. */
struct osworker {
	EVP_MD_CTX *sha;
	EVP_PKEY_CTX *pk[256]; /* ECDSA and RSA keys: sign_init (and padding) done */
	EVP_MD_CTX *ed[256];   /* Ed25519 keys: DigestSignInit done */
	uint8_t *cache;	       /* entries of o->stride bytes */
	uint8_t *work;
	uint64_t signs, hits;
	unsigned used;
} __attribute__((aligned(64)));

struct p53_osign {
	const struct p53_snapshot *s;
	struct p53_osign_cfg cfg;
	int64_t t0; /* when built: the time until the clock is set */
	uint8_t hkey[P53_SIPHASH_KEY_LEN];
	EVP_MD *sha256;
	struct oszone *zones;
	uint32_t nzones;
	unsigned nzones_keyed;
	struct oskey keys[256];
	unsigned nkeys;
	unsigned nworkers;
	uint32_t cmask;
	size_t stride; /* bytes per cache entry */
	bool ready;
	struct osworker *w;
};

void p53_osign_clock_set(struct p53_osign_clock *c, int64_t now)
{
	atomic_store_explicit(&c->now, now, memory_order_relaxed);
}

struct p53_osign *p53_osign_new(const struct p53_snapshot *s, const struct p53_osign_cfg *cfg,
				unsigned nworkers, struct p53_err *err)
{
	struct p53_osign *o = calloc(1, sizeof(*o));
	if (o == NULL || nworkers == 0) {
		free(o);
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	o->s = s;
	o->cfg = *cfg;
	if (o->cfg.validity == 0)
		o->cfg.validity = P53_OSIGN_VALIDITY_DEF;
	if (o->cfg.refresh == 0)
		o->cfg.refresh = P53_OSIGN_REFRESH_DEF;
	if (o->cfg.lag == 0)
		o->cfg.lag = P53_OSIGN_LAG_DEF;
	uint32_t c = 64;
	while (c < (o->cfg.cache ? o->cfg.cache : P53_OSIGN_CACHE_DEF) && c < (1u << 24))
		c <<= 1;
	o->cmask = c - 1;
	o->t0 = (int64_t)time(NULL);
	o->nworkers = nworkers;
	o->nzones = s->nzones;
	o->zones = calloc(s->nzones ? s->nzones : 1, sizeof(*o->zones));
	o->w = aligned_alloc(64, sizeof(*o->w) * nworkers);
	o->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (o->zones == NULL || o->w == NULL || o->sha256 == NULL ||
	    RAND_bytes(o->hkey, sizeof(o->hkey)) != 1) {
		free(o->w);
		o->w = NULL;
		p53_osign_free(o);
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	memset(o->w, 0, sizeof(*o->w) * nworkers);
	return o;
}

/* Is rdata in the DNSKEY set at the apex of zone? */
static bool published(const struct p53_snapshot *s, uint32_t zone, const uint8_t *rd, size_t len)
{
	const struct snap_node *apex = &s->nodes[s->zones[zone].apex];
	for (uint16_t i = 0; i < apex->nrrsets; i++) {
		const struct snap_rrset *r = &s->rrsets[apex->rrset + i];
		if (r->type != RR_DNSKEY)
			continue;
		const uint8_t *p = s->rdata + r->rdata, *end = p + r->len;
		for (; p < end; p += 2 + ((p[0] << 8) | p[1]))
			if ((size_t)((p[0] << 8) | p[1]) == len && memcmp(p + 2, rd, len) == 0)
				return true;
	}
	return false;
}

int p53_osign_add_key(struct p53_osign *o, uint32_t zone, uint8_t alg, uint16_t tag, void *pkey,
		      const uint8_t *dnskey, size_t dnskey_len, struct p53_err *err)
{
	if (o->ready || zone >= o->nzones)
		return p53_err_set(err, P53_EINVAL, "online signing: no zone %u", zone);
	if (!published(o->s, zone, dnskey, dnskey_len))
		return p53_err_set(err, P53_EINVAL,
				   "key %u is not in the zone's DNSKEY set in this snapshot", tag);
	if (alg != ALG_ECDSAP256 && alg != ALG_ED25519 && alg != ALG_RSASHA256)
		return p53_err_set(err, P53_EINVAL,
				   "online signing: algorithm %u not supported (8, 13 and 15 are)",
				   alg);
	if (EVP_PKEY_get_size(pkey) <= 0 || EVP_PKEY_get_size(pkey) > P53_OSIGN_SIG_MAX)
		return p53_err_set(err, P53_EINVAL, "online signing: key %u too large", tag);
	struct oszone *z = &o->zones[zone];
	if (z->n >= P53_OSIGN_KEYS_MAX || o->nkeys >= 256)
		return p53_err_set(err, P53_EINVAL, "online signing: too many keys for one zone");
	if (EVP_PKEY_up_ref(pkey) != 1)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	o->keys[o->nkeys] = (struct oskey){pkey, alg, tag};
	if (z->n == 0)
		o->nzones_keyed++;
	z->k[z->n++] = (uint8_t)o->nkeys++;
	return 0;
}

/* Signature bytes of key k: 64 for ECDSA P-256 (r and s) and Ed25519,
 * the modulus length for RSA. */
static size_t key_siglen(const struct oskey *k)
{
	return k->alg == ALG_RSASHA256 ? (size_t)EVP_PKEY_get_size(k->pkey) : 64;
}

int p53_osign_ready(struct p53_osign *o, struct p53_err *err)
{
	size_t maxsig = 64;
	for (unsigned k = 0; k < o->nkeys; k++)
		if (key_siglen(&o->keys[k]) > maxsig)
			maxsig = key_siglen(&o->keys[k]);
	o->stride = (sizeof(struct osc_ent) + maxsig + 7) & ~(size_t)7;
	for (unsigned i = 0; i < o->nworkers; i++) {
		struct osworker *w = &o->w[i];
		w->sha = EVP_MD_CTX_new();
		w->cache = calloc((size_t)o->cmask + 1, o->stride);
		w->work = malloc(WORK_MAX);
		if (w->sha == NULL || w->cache == NULL || w->work == NULL)
			return p53_err_set(err, P53_ENOMEM, "out of memory");
		for (unsigned k = 0; k < o->nkeys; k++) {
			const struct oskey *key = &o->keys[k];
			if (key->alg == ALG_ECDSAP256 || key->alg == ALG_RSASHA256) {
				w->pk[k] = EVP_PKEY_CTX_new(key->pkey, NULL);
				bool ok = w->pk[k] && EVP_PKEY_sign_init(w->pk[k]) == 1;
				/* RFC 5702 3: PKCS #1 v1.5 over the SHA-256 digest,
				 * with its DigestInfo. */
				if (ok && key->alg == ALG_RSASHA256)
					ok =
					    EVP_PKEY_CTX_set_rsa_padding(w->pk[k],
									 RSA_PKCS1_PADDING) == 1 &&
					    EVP_PKEY_CTX_set_signature_md(w->pk[k], o->sha256) == 1;
				if (!ok)
					return p53_err_set(err, P53_EINVAL,
							   "online signing: key %u unusable",
							   key->tag);
			} else {
				w->ed[k] = EVP_MD_CTX_new();
				if (w->ed[k] == NULL ||
				    EVP_DigestSignInit(w->ed[k], NULL, NULL, NULL, key->pkey) != 1)
					return p53_err_set(err, P53_EINVAL,
							   "online signing: key %u unusable",
							   key->tag);
			}
		}
	}
	o->ready = true;
	return 0;
}

void p53_osign_free(struct p53_osign *o)
{
	if (o == NULL)
		return;
	for (unsigned i = 0; o->w && i < o->nworkers; i++) {
		struct osworker *w = &o->w[i];
		EVP_MD_CTX_free(w->sha);
		for (unsigned k = 0; k < o->nkeys; k++) {
			EVP_PKEY_CTX_free(w->pk[k]);
			EVP_MD_CTX_free(w->ed[k]);
		}
		free(w->cache);
		free(w->work);
	}
	for (unsigned k = 0; k < o->nkeys; k++)
		EVP_PKEY_free(o->keys[k].pkey);
	EVP_MD_free(o->sha256);
	free(o->w);
	free(o->zones);
	free(o);
}

unsigned p53_osign_nzones(const struct p53_osign *o)
{
	return o ? o->nzones_keyed : 0;
}

bool p53_osign_has_zone(const struct p53_osign *o, uint32_t zone)
{
	return o && o->ready && zone < o->nzones && o->zones[zone].n;
}

void p53_osign_counts(const struct p53_osign *o, uint64_t *signed_, uint64_t *hits)
{
	uint64_t a = 0, b = 0;
	for (unsigned i = 0; o && i < o->nworkers; i++) {
		a += __atomic_load_n(&o->w[i].signs, __ATOMIC_RELAXED);
		b += __atomic_load_n(&o->w[i].hits, __ATOMIC_RELAXED);
	}
	*signed_ = a;
	*hits = b;
}

unsigned p53_osign_cache_used(const struct p53_osign *o, unsigned worker)
{
	return o && worker < o->nworkers ? o->w[worker].used : 0;
}

void p53_osign_cache_clear(struct p53_osign *o, unsigned worker)
{
	if (o == NULL || worker >= o->nworkers || o->w[worker].cache == NULL)
		return;
	memset(o->w[worker].cache, 0, ((size_t)o->cmask + 1) * o->stride);
	o->w[worker].used = 0;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One DER INTEGER of an ECDSA-Sig-Value, left-padded to 32 bytes. */
static const uint8_t *der_int32(const uint8_t *p, const uint8_t *end, uint8_t out[32])
{
	if (end - p < 2 || p[0] != 0x02 || p[1] > end - p - 2)
		return NULL;
	size_t l = p[1];
	const uint8_t *v = p + 2;
	while (l > 32 && *v == 0) {
		v++;
		l--;
	}
	if (l > 32)
		return NULL;
	memset(out, 0, 32 - l);
	memcpy(out + 32 - l, v, l);
	return v + l;
}

/* RFC 6605 4: r and s as two 32-byte numbers, not DER. */
static bool der_to_rs(const uint8_t *der, size_t len, uint8_t rs[64])
{
	const uint8_t *end = der + len;
	if (len < 2 || der[0] != 0x30 || der[1] != len - 2)
		return false;
	const uint8_t *p = der_int32(der + 2, end, rs);
	return p && der_int32(p, end, rs + 32) == end;
}

static size_t sign_once(const struct p53_osign *o, struct osworker *w, unsigned k,
			const uint8_t *data, size_t len, uint8_t sig[P53_OSIGN_SIG_MAX])
{
	if (o->keys[k].alg == ALG_ED25519) {
		size_t sl = P53_OSIGN_SIG_MAX;
		return EVP_DigestSign(w->ed[k], sig, &sl, data, len) == 1 && sl == 64 ? 64 : 0;
	}
	uint8_t dg[32], der[P53_OSIGN_SIG_MAX];
	unsigned dl = 0;
	size_t sl = sizeof(der);
	if (EVP_DigestInit_ex2(w->sha, o->sha256, NULL) != 1 ||
	    EVP_DigestUpdate(w->sha, data, len) != 1 || EVP_DigestFinal_ex(w->sha, dg, &dl) != 1 ||
	    dl != 32)
		return 0;
	if (o->keys[k].alg == ALG_RSASHA256) {
		/* The signature is as long as the modulus (RFC 5702 3). */
		size_t want = key_siglen(&o->keys[k]);
		sl = P53_OSIGN_SIG_MAX;
		return EVP_PKEY_sign(w->pk[k], sig, &sl, dg, 32) == 1 && sl == want ? sl : 0;
	}
	if (EVP_PKEY_sign(w->pk[k], der, &sl, dg, 32) != 1)
		return 0;
	return der_to_rs(der, sl, sig) ? 64 : 0;
}

struct canon {
	uint32_t off;
	uint16_t len;
};

static int canon_cmp(const uint8_t *base, const struct canon *a, const struct canon *b)
{
	size_t m = a->len < b->len ? a->len : b->len;
	int c = memcmp(base + a->off, base + b->off, m);
	return c ? c : (a->len < b->len ? -1 : a->len > b->len);
}

unsigned p53_osign_rrset(const struct p53_osign *o, unsigned worker, uint32_t zone,
			 const uint8_t *owner, size_t olen, uint16_t type, uint32_t ttl,
			 const struct p53_osign_rr *rr, unsigned n, uint8_t *out, size_t cap,
			 size_t *used)
{
	if (!p53_osign_has_zone(o, zone) || worker >= o->nworkers || n == 0 ||
	    n > P53_OSIGN_RRS_MAX)
		return 0;
	struct osworker *w = &o->w[worker];
	const struct snap_zone *z = &o->s->zones[zone];
	const uint8_t *signer = o->s->names + z->name;
	size_t slen = name_len(signer);
	uint8_t *d = w->work;

	/* The records, canonical, in canonical order (RFC 4034 6.2, 6.3),
	 * copied behind the area the signed data is built in. */
	size_t rdtotal = 0;
	for (unsigned i = 0; i < n; i++)
		rdtotal += rr[i].len;
	size_t head = 18 + slen;
	size_t need = head + n * (olen + 10) + rdtotal;
	if (need > DATA_MAX || DATA_MAX + rdtotal > WORK_MAX)
		return 0;
	struct canon c[P53_OSIGN_RRS_MAX];
	uint8_t *tmp = d + DATA_MAX;
	uint32_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		memcpy(tmp + off, rr[i].rd, rr[i].len);
		rrtype_rdata_canon(type, tmp + off, rr[i].len);
		struct canon x = {off, rr[i].len};
		off += rr[i].len;
		unsigned j = i;
		for (; j > 0 && canon_cmp(tmp, &c[j - 1], &x) > 0; j--)
			c[j] = c[j - 1];
		c[j] = x;
	}
	size_t pos = head;
	for (unsigned i = 0; i < n; i++) {
		/* RFC 4034 6.3: duplicates are dropped. */
		if (i && canon_cmp(tmp, &c[i - 1], &c[i]) == 0)
			continue;
		memcpy(d + pos, owner, olen);
		name_lower(d + pos, olen);
		pos += olen;
		put16(d + pos, type);
		put16(d + pos + 2, CLASS_IN);
		put32(d + pos + 4, ttl);
		put16(d + pos + 8, c[i].len);
		memcpy(d + pos + 10, tmp + c[i].off, c[i].len);
		pos += 10 + c[i].len;
	}

	/* The window: its start offset per RRset by a hash of owner and
	 * type, so refreshes are spread over the period. */
	int64_t now = o->cfg.fixed_now;
	if (now == 0 && o->cfg.clock)
		now = atomic_load_explicit(&o->cfg.clock->now, memory_order_relaxed);
	if (now == 0)
		now = o->t0;
	/* The first record starts with the owner (lower-cased) and type; a
	 * fixed key, so every server picks the same windows. */
	static const uint8_t wkey[P53_SIPHASH_KEY_LEN] = "port53 window"; /* zero-padded */
	uint64_t ho = p53_siphash24(wkey, d + head, olen + 2);
	int64_t r = o->cfg.refresh, shift = (int64_t)(ho % (uint64_t)r);
	int64_t start = (now + shift) / r * r - shift;
	uint32_t inception = (uint32_t)(start - o->cfg.lag);
	uint32_t expiration = (uint32_t)(start + o->cfg.validity);

	unsigned labels = name_labels(owner);
	if (olen > 2 && owner[0] == 1 && owner[1] == '*')
		labels--;
	const struct oszone *zk = &o->zones[zone];
	unsigned made = 0;
	size_t at = *used;
	for (unsigned i = 0; i < zk->n; i++) {
		unsigned k = zk->k[i];
		const struct oskey *key = &o->keys[k];
		put16(d, type);
		d[2] = key->alg;
		d[3] = (uint8_t)labels;
		put32(d + 4, ttl);
		put32(d + 8, expiration);
		put32(d + 12, inception);
		put16(d + 16, key->tag);
		memcpy(d + 18, signer, slen);
		uint64_t h = p53_siphash24(o->hkey, d, pos);
		struct osc_ent *e = (struct osc_ent *)(w->cache + (h & o->cmask) * o->stride);
		if (e->siglen && e->h == h && e->len == pos) {
			__atomic_store_n(&w->hits, w->hits + 1, __ATOMIC_RELAXED);
		} else {
			uint8_t sig[P53_OSIGN_SIG_MAX];
			size_t sl = sign_once(o, w, k, d, pos, sig);
			if (sl == 0)
				continue;
			if (e->siglen == 0)
				w->used++;
			e->h = h;
			e->len = (uint32_t)pos;
			e->siglen = (uint16_t)sl;
			memcpy(e->sig, sig, sl);
			__atomic_store_n(&w->signs, w->signs + 1, __ATOMIC_RELAXED);
		}
		size_t rl = head + e->siglen;
		if (at + 2 + rl > cap)
			break;
		put16(out + at, (uint16_t)rl);
		memcpy(out + at + 2, d, head);
		memcpy(out + at + 2 + head, e->sig, e->siglen);
		at += 2 + rl;
		made++;
	}
	*used = at;
	return made;
}
