/* DNSSEC signing at compile time (dnssec.h).
 *
 * Signing follows RFC 4034 and 4035: an RRSIG over each authoritative
 * RRset in canonical form (names lower-cased, records in canonical order,
 * the original TTL), none over delegation NS sets or glue; the NSEC chain
 * links every name that holds authoritative data or a delegation, in
 * canonical order, and wraps to the apex; an NSEC3 chain (RFC 5155, chosen
 * per zone) links the hashes of those names and of the empty non-terminals,
 * less the insecure delegations under opt-out. Key roles: key-signing keys (SEP
 * flag) sign DNSKEY, CDS and CDNSKEY; zone-signing keys sign everything
 * else; a zone with SEP keys only signs everything with them (CSK).
 *
 * Signatures are made in parallel: the walk over the zone queues, in
 * order, each record to emit and each signature's covered data (RFC 4034
 * 3.1.8.1) into a batch; a full batch is signed by several threads (each
 * takes the next job from an atomic counter and writes only that job's
 * slot), then emitted in the walk's order, so the output is the same
 * records in the same order whatever the number of threads.
 */
#include "zones/compile/dnssec.h"

#include "zones/answer/answer_pvt.h"
#include "zones/answer/nsec3hash.h"
#include "zones/answer/snapshot_pvt.h"
#include "zones/common/rrtype.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- canonical RRsets and their signatures ---------------------------- */

struct canon_rr {
	uint8_t *rd; /* canonical copy */
	uint16_t len;
};

static int canon_cmp(const void *a, const void *b)
{
	const struct canon_rr *x = a, *y = b;
	size_t m = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->rd, y->rd, m);
	return c ? c : (x->len < y->len ? -1 : x->len > y->len);
}

struct sbuf {
	uint8_t *p;
	size_t len, cap;
};

static int sb_add(struct sbuf *b, const void *d, size_t n)
{
	if (n == 0) /* an empty buffer has no storage to copy into */
		return 0;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (p == NULL)
			return P53_ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	if (d)
		memcpy(b->p + b->len, d, n);
	else
		memset(b->p + b->len, 0, n);
	b->len += n;
	return 0;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One queued step of the walk: a record to emit as it is (key == NONE),
 * or a signature over data to make with keys[key] and emit as an RRSIG
 * (the data's first prefix bytes are the RRSIG rdata before the
 * signature). */
#define JOB_EMIT UINT16_MAX
struct job {
	uint32_t node, ttl;
	uint16_t type, key;
	uint32_t len, prefix;
	size_t off;   /* in the batch's data; the owner follows the data */
	uint8_t olen; /* the owner's length */
	uint16_t sl;  /* the signature's length once made; 0: failed */
};

/* A batch is signed once it holds this many jobs or bytes of data. */
#define BATCH_JOBS  8192
#define BATCH_BYTES (16u << 20)
#define THREADS_MAX 16

struct batch {
	struct job *jobs;
	size_t n, cap;
	struct sbuf data;
	uint8_t *sigs; /* DNSKEY_SIG_MAX per job */
	const struct dnskey *keys;
	atomic_size_t next;
};

struct signer {
	const struct dnssec_opts *o;
	struct batch b;
	unsigned threads;
	const struct dnskey *keys;
	size_t nkeys;
	bool split; /* some key lacks SEP: KSKs sign the key sets only */
	const uint8_t *apex;
	size_t apex_len;
	uint32_t inception, expiration;
	dnssec_emit_fn emit;
	void *arg;
	struct p53_err *err;
	struct sbuf data; /* what one signature covers */
	struct canon_rr *rr;
	size_t caprr;
};

static bool key_set_type(uint16_t t)
{
	return t == RR_DNSKEY || t == RR_CDS || t == RR_CDNSKEY;
}

static void *sign_jobs(void *arg)
{
	struct batch *b = arg;
	for (;;) {
		size_t i = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed);
		if (i >= b->n)
			return NULL;
		struct job *j = &b->jobs[i];
		if (j->key != JOB_EMIT)
			j->sl = (uint16_t)dnskey_sign(&b->keys[j->key], b->data.p + j->off, j->len,
						      b->sigs + i * DNSKEY_SIG_MAX);
	}
}

/* Signs the batch's jobs on g->threads threads (this one among them),
 * then emits every record in the order queued. */
static int flush(struct signer *g)
{
	struct batch *b = &g->b;
	if (b->n == 0)
		return 0;
	atomic_store_explicit(&b->next, 0, memory_order_relaxed);
	pthread_t t[THREADS_MAX];
	unsigned started = 0;
	for (unsigned i = 1; i < g->threads && b->n > 64; i++)
		if (pthread_create(&t[started], NULL, sign_jobs, b) == 0)
			started++;
	sign_jobs(b);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	int rc = 0;
	uint8_t rrsig[UINT16_MAX];
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		const struct job *j = &b->jobs[i];
		const uint8_t *d = b->data.p + j->off, *owner = d + j->len;
		if (j->key == JOB_EMIT) {
			rc = g->emit(g->arg, j->node, owner, j->olen, j->type, j->ttl, d,
				     (uint16_t)j->len);
			continue;
		}
		if (j->sl == 0)
			return p53_err_set(g->err, P53_EIO, "%s: signing failed",
					   b->keys[j->key].file);
		memcpy(rrsig, d, j->prefix);
		memcpy(rrsig + j->prefix, b->sigs + i * DNSKEY_SIG_MAX, j->sl);
		rc = g->emit(g->arg, j->node, owner, j->olen, RR_RRSIG, j->ttl, rrsig,
			     (uint16_t)(j->prefix + j->sl));
	}
	b->n = 0;
	b->data.len = 0;
	return rc;
}

/* Queues a record at owner to emit (key JOB_EMIT: d is its rdata) or a
 * signature over d by keys[key]; signs and emits the batch when it is
 * full. The owner is copied: an NSEC3 owner lives in the caller's buffer. */
static int queue(struct signer *g, uint32_t node, const uint8_t *owner, size_t olen, uint16_t type,
		 uint32_t ttl, uint16_t key, const uint8_t *d, size_t len, size_t prefix)
{
	struct batch *b = &g->b;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		struct job *v = realloc(b->jobs, cap * sizeof(*v));
		uint8_t *s = v ? realloc(b->sigs, cap * DNSKEY_SIG_MAX) : NULL;
		if (v)
			b->jobs = v;
		if (s)
			b->sigs = s;
		if (v == NULL || s == NULL)
			return p53_err_set(g->err, P53_ENOMEM, "out of memory");
		b->cap = cap;
	}
	size_t off = b->data.len;
	if (len > UINT32_MAX || olen > P53_NAME_MAX || sb_add(&b->data, d, len) != 0 ||
	    sb_add(&b->data, owner, olen) != 0)
		return p53_err_set(g->err, P53_ENOMEM, "out of memory");
	b->jobs[b->n++] = (struct job){
	    node, ttl, type, key, (uint32_t)len, (uint32_t)prefix, off, (uint8_t)olen, 0};
	if (b->n >= BATCH_JOBS || b->data.len >= BATCH_BYTES)
		return flush(g);
	return 0;
}

static int emit_q(struct signer *g, uint32_t node, const uint8_t *owner, size_t olen, uint16_t type,
		  uint32_t ttl, const uint8_t *rd, uint16_t len)
{
	return queue(g, node, owner, olen, type, ttl, JOB_EMIT, rd, len, 0);
}

/* Threads to sign with: opts (0: one per online CPU, at most THREADS_MAX);
 * one when a key lives in a PKCS#11 token, whose sessions are not
 * shared between threads here. */
static unsigned sign_threads(const struct dnssec_opts *o, const struct dnskey *keys, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (strstr(keys[k].file, ".pkcs11"))
			return 1;
	long c = o->threads ? (long)o->threads : sysconf(_SC_NPROCESSORS_ONLN);
	return c < 1 ? 1 : c > THREADS_MAX ? THREADS_MAX : (unsigned)c;
}

/* Signs the RRset (owner, type, ttl) of n records, emitting one RRSIG per
 * key of the right role at node. */
static int sign_set(struct signer *g, uint32_t node, const uint8_t *owner, size_t olen,
		    uint16_t type, uint32_t ttl, const uint8_t *const *rd, const uint16_t *rdlen,
		    size_t n)
{
	if (n > g->caprr) {
		struct canon_rr *v = realloc(g->rr, n * sizeof(*v));
		if (v == NULL)
			return p53_err_set(g->err, P53_ENOMEM, "out of memory");
		g->rr = v;
		g->caprr = n;
	}
	struct sbuf cr = {0};
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += rdlen[i];
	if (sb_add(&cr, NULL, total ? total : 1) != 0)
		return p53_err_set(g->err, P53_ENOMEM, "out of memory");
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(cr.p + off, rd[i], rdlen[i]);
		rrtype_rdata_canon(type, cr.p + off, rdlen[i]);
		g->rr[i] = (struct canon_rr){cr.p + off, rdlen[i]};
		off += rdlen[i];
	}
	qsort(g->rr, n, sizeof(*g->rr), canon_cmp);
	/* RFC 4034 3.1.3: labels without the root and without a leading "*". */
	unsigned labels = name_labels(owner);
	if (olen > 2 && owner[0] == 1 && owner[1] == '*')
		labels--;
	int rc = 0;
	bool ksk_set = key_set_type(type);
	for (size_t k = 0; k < g->nkeys && rc == 0; k++) {
		const struct dnskey *key = &g->keys[k];
		if (g->split && ((key->flags & 1) != 0) != ksk_set)
			continue;
		uint8_t head[18];
		put16(head, type);
		head[2] = key->alg;
		head[3] = (uint8_t)labels;
		put32(head + 4, ttl);
		put32(head + 8, g->expiration);
		put32(head + 12, g->inception);
		put16(head + 16, key->tag);
		g->data.len = 0;
		if (sb_add(&g->data, head, sizeof(head)) ||
		    sb_add(&g->data, g->apex, g->apex_len)) {
			rc = p53_err_set(g->err, P53_ENOMEM, "out of memory");
			break;
		}
		size_t sig_start = g->data.len;
		for (size_t i = 0; i < n; i++) {
			uint8_t f[10];
			put16(f, type);
			put16(f + 2, CLASS_IN);
			put32(f + 4, ttl);
			put16(f + 8, g->rr[i].len);
			if (sb_add(&g->data, owner, olen) || sb_add(&g->data, f, 10) ||
			    sb_add(&g->data, g->rr[i].rd, g->rr[i].len)) {
				rc = p53_err_set(g->err, P53_ENOMEM, "out of memory");
				break;
			}
		}
		if (rc)
			break;
		/* The RRSIG rdata is the signed prefix and the signature. */
		if (sig_start + DNSKEY_SIG_MAX > UINT16_MAX) {
			rc = p53_err_set(g->err, P53_ENOMEM, "RRSIG too large");
			break;
		}
		rc = queue(g, node, owner, olen, type, ttl, (uint16_t)k, g->data.p, g->data.len,
			   sig_start);
	}
	free(cr.p);
	return rc;
}

/* ---- NSEC --------------------------------------------------------------- */

/* RFC 4034 4.1.2 type bitmap of the sorted, distinct types t[0..n). */
static size_t type_bitmap(const uint16_t *t, size_t n, uint8_t *out)
{
	size_t len = 0;
	for (size_t i = 0; i < n;) {
		uint8_t win = (uint8_t)(t[i] >> 8), bits[32] = {0};
		size_t top = 0;
		for (; i < n && (t[i] >> 8) == win; i++) {
			uint8_t lo = (uint8_t)t[i];
			bits[lo / 8] |= (uint8_t)(0x80 >> (lo % 8));
			top = lo / 8u + 1;
		}
		out[len++] = win;
		out[len++] = (uint8_t)top;
		memcpy(out + len, bits, top);
		len += top;
	}
	return len;
}

static bool in_chain(const struct dnssec_node *n)
{
	return !(n->flags & (NODE_OCCLUDED | NODE_ENT)) && n->nrec > 0;
}

/* Does node (not the apex) hold authoritative data of type? At a delegation
 * only DS is the parent's (RFC 4035 2.2). */
static bool signed_here(const struct dnssec_node *n, bool apex, uint16_t type)
{
	if (n->flags & NODE_OCCLUDED)
		return false;
	if (apex)
		return type != RR_DS; /* the parent's data, when kept here */
	if (n->flags & NODE_DELEG)
		return type == RR_DS;
	return true;
}

static int add_type(uint16_t *t, size_t *n, uint16_t type)
{
	size_t i = 0;
	while (i < *n && t[i] < type)
		i++;
	if (i < *n && t[i] == type)
		return 0;
	memmove(t + i + 1, t + i, (*n - i) * sizeof(*t));
	t[i] = type;
	(*n)++;
	return 0;
}

/* ---- NSEC3 (RFC 5155) ---------------------------------------------------- */

static bool is_insecure_cut(const struct dnssec_node *n)
{
	if (!(n->flags & NODE_DELEG))
		return false;
	for (uint32_t k = 0; k < n->nrec; k++)
		if (n->rec[k].type == RR_DS)
			return false;
	return true;
}

struct n3member {
	uint8_t hash[P53_NSEC3_HASH_LEN];
	uint32_t node;
};

static int n3member_cmp(const void *a, const void *b)
{
	return memcmp(((const struct n3member *)a)->hash, ((const struct n3member *)b)->hash,
		      P53_NSEC3_HASH_LEN);
}

/* The NSEC3 chain and NSEC3PARAM of a zone, signed: every name that
 * exists and is not below a cut, empty non-terminals included (RFC 5155
 * 7.1), but for insecure delegations under opt-out; in hash order, the
 * last pointing back at the first. */
static int nsec3_chain(struct signer *g, const struct dnssec_node *nodes, uint32_t nnodes,
		       uint32_t ttl, bool cds, bool cdnskey)
{
	const struct dnssec_opts *o = g->o;
	char zn[1024];
	name_to_text(g->apex, zn, sizeof(zn));
	if (o->iterations > P53_NSEC3_ITER_MAX)
		return p53_err_set(g->err, P53_EINVAL,
				   "zone %s: NSEC3 iterations %u above %u (RFC 9276)", zn,
				   o->iterations, P53_NSEC3_ITER_MAX);
	if (g->apex_len + 1 + P53_NSEC3_B32_LEN > P53_NAME_MAX)
		return p53_err_set(g->err, P53_EINVAL,
				   "zone %s: name too long for NSEC3 owners below it", zn);
	struct n3member *m = malloc((nnodes ? nnodes : 1) * sizeof(*m));
	if (m == NULL)
		return p53_err_set(g->err, P53_ENOMEM, "out of memory");
	uint32_t nm = 0;
	for (uint32_t i = 0; i < nnodes; i++) {
		const struct dnssec_node *n = &nodes[i];
		if ((n->flags & NODE_OCCLUDED) || (o->opt_out && is_insecure_cut(n)))
			continue;
		p53_nsec3_hash(n->name, n->name_len, o->salt, o->salt_len, o->iterations,
			       m[nm].hash);
		m[nm++].node = i;
	}
	qsort(m, nm, sizeof(*m), n3member_cmp);
	int rc = 0;
	for (uint32_t k = 1; k < nm; k++)
		if (memcmp(m[k].hash, m[k - 1].hash, P53_NSEC3_HASH_LEN) == 0)
			rc = p53_err_set(g->err, P53_EINVAL,
					 "zone %s: two names with one NSEC3 hash: use a salt", zn);
	/* rdata: algorithm, flags, iterations, salt, next hash, type bitmap. */
	uint8_t rd[6 + 255 + P53_NSEC3_HASH_LEN + 8192];
	uint8_t owner[P53_NAME_MAX];
	size_t head = 0;
	rd[head++] = 1;
	rd[head++] = o->opt_out ? 1 : 0;
	put16(rd + head, o->iterations);
	head += 2;
	rd[head++] = o->salt_len;
	memcpy(rd + head, o->salt, o->salt_len);
	head += o->salt_len;
	/* NSEC3PARAM: the same, flags 0 (RFC 5155 4.1.2). */
	uint8_t param[5 + 255];
	memcpy(param, rd, head);
	param[1] = 0;
	const uint8_t *pp = param;
	uint16_t pl = (uint16_t)head;
	if (rc == 0)
		rc = emit_q(g, 0, g->apex, g->apex_len, RR_NSEC3PARAM, ttl, param, pl);
	if (rc == 0)
		rc = sign_set(g, 0, g->apex, g->apex_len, RR_NSEC3PARAM, ttl, &pp, &pl, 1);
	rd[head++] = P53_NSEC3_HASH_LEN;
	for (uint32_t k = 0; k < nm && rc == 0; k++) {
		const struct dnssec_node *n = &nodes[m[k].node];
		bool apex = m[k].node == 0, insecure = is_insecure_cut(n);
		memcpy(rd + head, m[(k + 1) % nm].hash, P53_NSEC3_HASH_LEN);
		uint16_t types[1024];
		size_t nt = 0;
		for (uint32_t r = 0; r < n->nrec && nt < 1000; r++) {
			uint16_t t = n->rec[r].type;
			if ((apex && t == RR_DS) ||
			    ((n->flags & NODE_DELEG) && t != RR_NS && t != RR_DS))
				continue;
			add_type(types, &nt, t);
		}
		if (apex) {
			add_type(types, &nt, RR_DNSKEY);
			add_type(types, &nt, RR_NSEC3PARAM);
			if (cds)
				add_type(types, &nt, RR_CDS);
			if (cdnskey)
				add_type(types, &nt, RR_CDNSKEY);
		}
		/* RRSIG where something is signed: not at an empty
		 * non-terminal, nor at a delegation without DS. */
		if (n->nrec > 0 && !insecure)
			add_type(types, &nt, RR_RRSIG);
		size_t l = head + P53_NSEC3_HASH_LEN +
			   type_bitmap(types, nt, rd + head + P53_NSEC3_HASH_LEN);
		char b32[P53_NSEC3_B32_LEN];
		p53_nsec3_b32(m[k].hash, b32);
		owner[0] = P53_NSEC3_B32_LEN;
		memcpy(owner + 1, b32, P53_NSEC3_B32_LEN);
		memcpy(owner + 1 + P53_NSEC3_B32_LEN, g->apex, g->apex_len);
		size_t ol = 1 + P53_NSEC3_B32_LEN + g->apex_len;
		const uint8_t *rp = rd;
		uint16_t rl = (uint16_t)l;
		rc = emit_q(g, DNSSEC_NEW_NAME, owner, ol, RR_NSEC3, ttl, rd, rl);
		if (rc == 0)
			rc = sign_set(g, DNSSEC_NEW_NAME, owner, ol, RR_NSEC3, ttl, &rp, &rl, 1);
	}
	free(m);
	return rc;
}

static int dnssec_sign_keys(const struct dnssec_opts *o, uint64_t now, const struct dnskey *keys,
			    size_t nkeys, const struct dnskey *active, size_t nactive,
			    const struct dnssec_node *nodes, uint32_t nnodes, uint32_t soa_ttl,
			    uint32_t nsec_ttl, dnssec_emit_fn emit, void *arg, struct p53_err *err);

int dnssec_sign_zone(const struct dnssec_opts *o, const struct dnskey *keys, size_t nkeys,
		     const struct dnssec_node *nodes, uint32_t nnodes, uint32_t soa_ttl,
		     uint32_t nsec_ttl, dnssec_emit_fn emit, void *arg, struct p53_err *err)
{
	char zn[1024];
	name_to_text(nodes[0].name, zn, sizeof(zn));
	if (nkeys == 0)
		return p53_err_set(err, P53_EINVAL, "zone %s: no keys", zn);
	uint64_t now = o->now ? o->now : (uint64_t)time(NULL);
	/* The keys' timing at now (RFC 7583 rollovers): the published ones
	 * make the DNSKEY set, the active ones sign, the synced KSKs have
	 * CDS and CDNSKEY records. */
	struct dnskey *active = malloc(nkeys * sizeof(*active));
	if (active == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	size_t nactive = 0;
	for (size_t k = 0; k < nkeys; k++)
		if (dnskey_active(&keys[k], (int64_t)now))
			active[nactive++] = keys[k]; /* shares the key, never freed here */
	int rc = dnssec_sign_keys(o, now, keys, nkeys, active, nactive, nodes, nnodes, soa_ttl,
				  nsec_ttl, emit, arg, err);
	free(active);
	return rc;
}

static int dnssec_sign_keys(const struct dnssec_opts *o, uint64_t now, const struct dnskey *keys,
			    size_t nkeys, const struct dnskey *active, size_t nactive,
			    const struct dnssec_node *nodes, uint32_t nnodes, uint32_t soa_ttl,
			    uint32_t nsec_ttl, dnssec_emit_fn emit, void *arg, struct p53_err *err)
{
	char zn[1024];
	name_to_text(nodes[0].name, zn, sizeof(zn));
	if (nactive == 0)
		return p53_err_set(err, P53_EINVAL,
				   "zone %s: no key is active at %llu (their Activate, Inactive "
				   "and Delete times)",
				   zn, (unsigned long long)now);
	struct signer g = {
	    .o = o,
	    .keys = active,
	    .nkeys = nactive,
	    .apex = nodes[0].name,
	    .apex_len = nodes[0].name_len,
	    .inception = (uint32_t)(now - DNSSEC_INCEPTION_LAG),
	    .expiration = (uint32_t)(now + (o->validity ? o->validity : DNSSEC_VALIDITY_DEF)),
	    .emit = emit,
	    .arg = arg,
	    .err = err,
	    .threads = sign_threads(o, active, nactive),
	    .b = {.keys = active},
	};
	bool any_ksk = false;
	for (size_t k = 0; k < nactive; k++) {
		g.split |= !(active[k].flags & 1);
		any_ksk |= (active[k].flags & 1) != 0;
	}
	if (g.split && !any_ksk)
		return p53_err_set(err, P53_EINVAL,
				   "zone %s: zone-signing keys but no key-signing key (SEP flag) "
				   "active at %llu",
				   zn, (unsigned long long)now);
	for (uint32_t i = 0; i < nnodes; i++)
		for (uint32_t k = 0; k < nodes[i].nrec; k++) {
			uint16_t t = nodes[i].rec[k].type;
			if (t == RR_RRSIG || t == RR_NSEC || t == RR_NSEC3 || t == RR_NSEC3PARAM)
				return p53_err_set(err, P53_EINVAL,
						   "zone %s is already signed (it holds RRSIG or "
						   "NSEC records): serve it as it is, without keys",
						   zn);
		}

	/* The key sets at the apex: the zone's own DNSKEY records (a standby
	 * key, say) and ours; CDS and CDNSKEY of the SEP keys unless the zone
	 * file publishes its own (RFC 7344). */
	const struct dnssec_node *apex = &nodes[0];
	bool have_cds = false, have_cdnskey = false;
	size_t nk = 0;
	const uint8_t *krd[64 + 64];
	uint16_t klen[64 + 64];
	for (uint32_t k = 0; k < apex->nrec; k++) {
		const struct dnssec_rec *r = &apex->rec[k];
		have_cds |= r->type == RR_CDS;
		have_cdnskey |= r->type == RR_CDNSKEY;
		if (r->type == RR_DNSKEY && nk < 64) {
			krd[nk] = r->rdata;
			klen[nk++] = r->rdlen;
		}
	}
	int rc = 0;
	size_t zone_keys = nk;
	for (size_t k = 0; k < nkeys && nk < 128 && rc == 0; k++) {
		if (!dnskey_published(&keys[k], (int64_t)now))
			continue;
		bool dup = false;
		for (size_t j = 0; j < zone_keys; j++)
			dup |= klen[j] == keys[k].rdlen && !memcmp(krd[j], keys[k].rdata, klen[j]);
		if (dup)
			continue;
		krd[nk] = keys[k].rdata;
		klen[nk++] = keys[k].rdlen;
		rc = emit_q(&g, 0, g.apex, g.apex_len, RR_DNSKEY, soa_ttl, keys[k].rdata,
			    keys[k].rdlen);
	}
	uint8_t cds[64][64];
	const uint8_t *cdsrd[64], *cdnrd[64];
	uint16_t cdslen[64], cdnlen[64];
	size_t ncds = 0, ncdn = 0;
	for (size_t k = 0; k < nkeys && ncds < 64 && rc == 0; k++) {
		if (!dnskey_synced(&keys[k], (int64_t)now))
			continue;
		if (!have_cds) {
			cdslen[ncds] = (uint16_t)dnskey_ds(&keys[k], 2, cds[ncds]);
			cdsrd[ncds] = cds[ncds];
			rc = emit_q(&g, 0, g.apex, g.apex_len, RR_CDS, soa_ttl, cdsrd[ncds],
				    cdslen[ncds]);
			ncds++;
		}
		if (!have_cdnskey && rc == 0) {
			cdnrd[ncdn] = keys[k].rdata;
			cdnlen[ncdn] = keys[k].rdlen;
			rc = emit_q(&g, 0, g.apex, g.apex_len, RR_CDNSKEY, soa_ttl, cdnrd[ncdn],
				    cdnlen[ncdn]);
			ncdn++;
		}
	}
	if (rc == 0)
		rc = sign_set(&g, 0, g.apex, g.apex_len, RR_DNSKEY, soa_ttl, krd, klen, nk);
	if (rc == 0 && ncds)
		rc = sign_set(&g, 0, g.apex, g.apex_len, RR_CDS, soa_ttl, cdsrd, cdslen, ncds);
	if (rc == 0 && ncdn)
		rc = sign_set(&g, 0, g.apex, g.apex_len, RR_CDNSKEY, soa_ttl, cdnrd, cdnlen, ncdn);

	/* Every other RRset, and the NSEC chain. */
	const uint8_t **rd = NULL;
	uint16_t *rl = NULL;
	size_t caprd = 0;
	uint32_t first = 0;
	while (first < nnodes && !in_chain(&nodes[first]))
		first++;
	for (uint32_t i = 0; i < nnodes && rc == 0; i++) {
		const struct dnssec_node *n = &nodes[i];
		bool is_apex = i == 0;
		for (uint32_t k = 0; k < n->nrec && rc == 0;) {
			uint32_t j = k;
			while (j < n->nrec && n->rec[j].type == n->rec[k].type)
				j++;
			uint16_t type = n->rec[k].type;
			bool done_above =
			    is_apex && (key_set_type(type) &&
					(type == RR_DNSKEY || (type == RR_CDS && have_cds) ||
					 (type == RR_CDNSKEY && have_cdnskey)));
			if (n->rec[k].rdata && !done_above && signed_here(n, is_apex, type)) {
				if (j - k > caprd) {
					caprd = j - k;
					const uint8_t **a = realloc(rd, caprd * sizeof(*rd));
					uint16_t *b = a ? realloc(rl, caprd * sizeof(*rl)) : NULL;
					if (a)
						rd = a;
					if (b)
						rl = b;
					if (a == NULL || b == NULL) {
						rc = p53_err_set(err, P53_ENOMEM, "out of memory");
						break;
					}
				}
				for (uint32_t x = k; x < j; x++) {
					rd[x - k] = n->rec[x].rdata;
					rl[x - k] = n->rec[x].rdlen;
				}
				rc = sign_set(&g, i, n->name, n->name_len, type, n->rec[k].ttl, rd,
					      rl, j - k);
			}
			k = j;
		}
		if (rc || !in_chain(n) || o->compact || o->nsec3)
			continue;
		uint32_t next = i + 1;
		while (next < nnodes && !in_chain(&nodes[next]))
			next++;
		if (next >= nnodes)
			next = first;
		uint16_t types[1024];
		size_t nt = 0;
		for (uint32_t k = 0; k < n->nrec && nt < 1000; k++) {
			uint16_t t = n->rec[k].type;
			if ((is_apex && t == RR_DS) ||
			    ((n->flags & NODE_DELEG) && t != RR_NS && t != RR_DS))
				continue;
			add_type(types, &nt, t);
		}
		if (is_apex) {
			add_type(types, &nt, RR_DNSKEY);
			if (ncds || have_cds)
				add_type(types, &nt, RR_CDS);
			if (ncdn || have_cdnskey)
				add_type(types, &nt, RR_CDNSKEY);
		}
		add_type(types, &nt, RR_RRSIG);
		add_type(types, &nt, RR_NSEC);
		uint8_t nsec[P53_NAME_MAX + 8192];
		memcpy(nsec, nodes[next].name, nodes[next].name_len);
		size_t l =
		    nodes[next].name_len + type_bitmap(types, nt, nsec + nodes[next].name_len);
		rc = emit_q(&g, i, n->name, n->name_len, RR_NSEC, nsec_ttl, nsec, (uint16_t)l);
		const uint8_t *np = nsec;
		uint16_t nl = (uint16_t)l;
		if (rc == 0)
			rc = sign_set(&g, i, n->name, n->name_len, RR_NSEC, nsec_ttl, &np, &nl, 1);
	}
	if (rc == 0 && o->nsec3 && !o->compact)
		rc = nsec3_chain(&g, nodes, nnodes, nsec_ttl, ncds || have_cds,
				 ncdn || have_cdnskey);
	if (rc == 0)
		rc = flush(&g);
	free(rd);
	free(rl);
	free(g.data.p);
	free(g.rr);
	free(g.b.jobs);
	free(g.b.sigs);
	free(g.b.data.p);
	return rc;
}

/* ---- the DNSSEC sections of an image ------------------------------------ */

static uint16_t absent_type(const struct p53_snapshot *s, const struct snap_node *n)
{
	uint16_t t = 65280;
	for (uint16_t k = 0; k < n->nrrsets; k++)
		if (s->rrsets[n->rrset + k].type == t) {
			t++;
			k = (uint16_t)-1;
		}
	return t;
}

/* DO=1 blobs, each stored once. */
struct dotab {
	struct sbuf blobs;
	uint32_t *slot; /* offset + 1 */
	size_t mask, count;
};

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static int64_t dotab_put(struct dotab *t, const uint8_t *p, size_t n)
{
	if ((t->count + 1) * 2 > (t->slot ? t->mask + 1 : 0)) {
		size_t size = t->slot ? (t->mask + 1) * 2 : 1024;
		uint32_t *ns = calloc(size, sizeof(*ns));
		if (ns == NULL)
			return -1;
		for (size_t i = 0; t->slot && i <= t->mask; i++) {
			if (!t->slot[i])
				continue;
			const struct snap_blob *b = (const void *)(t->blobs.p + t->slot[i] - 1);
			size_t bl = sizeof(*b) + b->ncut * sizeof(struct snap_cut) + b->len;
			size_t k = fnv(t->blobs.p + t->slot[i] - 1, bl) & (size - 1);
			while (ns[k])
				k = (k + 1) & (size - 1);
			ns[k] = t->slot[i];
		}
		free(t->slot);
		t->slot = ns;
		t->mask = size - 1;
	}
	size_t k = fnv(p, n) & t->mask;
	for (; t->slot[k]; k = (k + 1) & t->mask) {
		uint32_t off = t->slot[k] - 1;
		if (t->blobs.len - off >= n && memcmp(t->blobs.p + off, p, n) == 0)
			return off;
	}
	size_t pad = (4 - t->blobs.len % 4) % 4;
	if (sb_add(&t->blobs, NULL, pad) || sb_add(&t->blobs, p, n) ||
	    t->blobs.len >= UINT32_MAX - 1)
		return -1;
	int64_t off = (int64_t)(t->blobs.len - n);
	t->slot[k] = (uint32_t)off + 1;
	t->count++;
	return off;
}

/* The DO=1 answer reference for a node and type whose DO=0 blob (or 0) is
 * given. */
static int do_ref(const struct p53_snapshot *s, struct dotab *t, uint8_t *tmp, size_t cap,
		  uint32_t node, uint16_t qtype, const uint8_t *blob0, uint32_t *out)
{
	size_t n = answer_prerender_do(s, node, qtype, tmp, cap);
	if (n == 0) {
		*out = SNAP_DO_RENDER;
		return 0;
	}
	if (blob0) {
		const struct snap_blob *b = (const void *)blob0;
		size_t bl = sizeof(*b) + b->ncut * sizeof(struct snap_cut) + b->len;
		if (bl == n && memcmp(blob0, tmp, n) == 0) {
			*out = SNAP_DO_SAME;
			return 0;
		}
	}
	int64_t off = dotab_put(t, tmp, n);
	if (off < 0)
		return P53_ENOMEM;
	*out = (uint32_t)off + 1;
	return 0;
}

/* ---- the NSEC3 sections ----------------------------------------------- */

static const struct snap_rrset *rrset_at(const struct p53_snapshot *s, const struct snap_node *n,
					 uint16_t type)
{
	for (uint16_t k = 0; k < n->nrrsets; k++)
		if (s->rrsets[n->rrset + k].type == type)
			return &s->rrsets[n->rrset + k];
	return NULL;
}

/* The parameters at the start of NSEC3 and NSEC3PARAM rdata (RFC 5155
 * 3.2, 4.2): false when it is too short for its salt. */
static bool n3_params(const uint8_t *rd, size_t len, uint8_t *alg, uint8_t *flags, uint16_t *iter,
		      uint8_t *slen)
{
	if (len < 5 || len < 5u + rd[4])
		return false;
	*alg = rd[0];
	*flags = rd[1];
	*iter = (uint16_t)(rd[2] << 8 | rd[3]);
	*slen = rd[4];
	return true;
}

/* The zone's chain parameters: its NSEC3PARAM (flags 0, hash algorithm
 * 1), else its first NSEC3 record's. False when it has no NSEC3 chain. */
static bool n3_zone_params(const struct p53_snapshot *s, uint32_t z, struct snap_nsec3zone *out)
{
	const struct snap_zone *zn = &s->zones[z];
	for (uint32_t i = zn->apex; i < zn->apex + zn->nodes; i++) {
		const struct snap_node *n = &s->nodes[i];
		const struct snap_rrset *r =
		    rrset_at(s, n, i == zn->apex ? RR_NSEC3PARAM : RR_NSEC3);
		if (i == zn->apex && r == NULL)
			continue;
		if (r == NULL || (n->flags & NODE_OCCLUDED))
			continue;
		const uint8_t *rd = s->rdata + r->rdata, *end = rd + r->len;
		for (; rd + 2 <= end; rd += 2 + rd16(rd)) {
			uint8_t alg, flags, slen;
			uint16_t iter;
			if (!n3_params(rd + 2, rd16(rd), &alg, &flags, &iter, &slen) || alg != 1 ||
			    (i == zn->apex && flags != 0))
				continue;
			out->iterations = iter;
			out->salt_len = slen;
			memcpy(out->salt, rd + 2 + 5, slen);
			return true;
		}
	}
	return false;
}

static int n3ent_cmp(const void *a, const void *b)
{
	const struct snap_nsec3 *x = a, *y = b;
	int c = memcmp(x->hash, y->hash, sizeof(x->hash));
	return c ? c : (x->node > y->node) - (x->node < y->node);
}

/* The NSEC3 owners of zone z with its chain's parameters, appended to v. */
static int n3_zone_entries(const struct p53_snapshot *s, uint32_t z, const struct snap_nsec3zone *p,
			   struct snap_nsec3 **v, size_t *n, size_t *cap)
{
	const struct snap_zone *zn = &s->zones[z];
	const struct snap_node *apex = &s->nodes[zn->apex];
	size_t first = *n;
	for (uint32_t i = zn->apex + 1; i < zn->apex + zn->nodes; i++) {
		const struct snap_node *nd = &s->nodes[i];
		const struct snap_rrset *r = rrset_at(s, nd, RR_NSEC3);
		if (r == NULL || r->count == 0 || (nd->flags & NODE_OCCLUDED) ||
		    nd->labels != apex->labels + 1)
			continue;
		const uint8_t *rd = s->rdata + r->rdata, *end = rd + r->len;
		for (; rd + 2 <= end; rd += 2 + rd16(rd)) {
			uint8_t alg, flags, slen;
			uint16_t iter, l = rd16(rd);
			if (!n3_params(rd + 2, l, &alg, &flags, &iter, &slen) || alg != 1 ||
			    iter != p->iterations || slen != p->salt_len ||
			    memcmp(rd + 2 + 5, p->salt, slen) != 0 || l < 6u + slen ||
			    rd[2 + 5 + slen] != P53_NSEC3_HASH_LEN)
				continue;
			struct snap_nsec3 e = {.node = i};
			const uint8_t *owner = snap_node_name(s, nd);
			if (p53_nsec3_unb32(owner + 1, owner[0], e.hash) != 0)
				break;
			if (*n == *cap) {
				size_t nc = *cap ? *cap * 2 : 256;
				struct snap_nsec3 *nv = realloc(*v, nc * sizeof(*nv));
				if (nv == NULL)
					return P53_ENOMEM;
				*v = nv;
				*cap = nc;
			}
			(*v)[(*n)++] = e;
			break;
		}
	}
	if (*n > first) /* *v is still NULL when no zone had an entry */
		qsort(*v + first, *n - first, sizeof(**v), n3ent_cmp);
	/* One entry per hash: the engine's search needs them distinct. */
	size_t out = first;
	for (size_t k = first; k < *n; k++)
		if (out == first || memcmp((*v)[out - 1].hash, (*v)[k].hash, P53_NSEC3_HASH_LEN))
			(*v)[out++] = (*v)[k];
	*n = out;
	return 0;
}

/* The NSEC3 entry matching name's hash, or SNAP_NONE; cover, when not
 * NULL, gets the one covering it. */
static uint32_t n3_lookup(const struct p53_snapshot *s, const struct snap_nsec3zone *z,
			  const uint8_t *name, size_t len, uint32_t *cover)
{
	uint8_t h[P53_NSEC3_HASH_LEN];
	bool exact;
	p53_nsec3_hash(name, len, z->salt, z->salt_len, z->iterations, h);
	uint32_t e = snap_nsec3_cover(s, z, h, &exact);
	if (cover)
		*cover = s->n3[e].node;
	return exact ? s->n3[e].node : SNAP_NONE;
}

/* A node's proofs (snapfmt.h struct snap_nodesec3). */
static void n3_node(const struct p53_snapshot *s, const struct snap_nsec3zone *z, uint32_t i,
		    struct snap_nodesec3 *d)
{
	const struct snap_node *n = &s->nodes[i];
	const uint8_t *name = snap_node_name(s, n);
	*d = (struct snap_nodesec3){SNAP_NONE, SNAP_NONE, SNAP_NONE, SNAP_NONE};
	if (n->flags & (NODE_OCCLUDED | NODE_NSEC3))
		return;
	d->match = n3_lookup(s, z, name, n->name_len, NULL);
	if (n->name_len + 2 <= P53_NAME_MAX) {
		uint8_t w[P53_NAME_MAX];
		w[0] = 1;
		w[1] = '*';
		memcpy(w + 2, name, n->name_len);
		n3_lookup(s, z, w, n->name_len + 2u, &d->wild);
	}
	if (d->match != SNAP_NONE || (n->flags & NODE_APEX))
		return;
	/* The closest provable encloser: the nearest ancestor with an NSEC3
	 * of its own; the next closer name is the one just below it. */
	size_t below = 0, off = (size_t)name[0] + 1;
	const struct snap_node *apex = &s->nodes[s->zones[n->zone].apex];
	while (off <= (size_t)n->name_len - apex->name_len) {
		uint32_t m = n3_lookup(s, z, name + off, n->name_len - off, NULL);
		if (m != SNAP_NONE) {
			d->ce = m;
			n3_lookup(s, z, name + below, n->name_len - below, &d->nc);
			return;
		}
		below = off;
		off += (size_t)name[off] + 1;
	}
}

int dnssec_nsec3(const struct p53_snapshot *s, struct snap_nsec3zone **zones, size_t *nz,
		 struct snap_nsec3 **ents, size_t *nents, struct snap_nodesec3 **nodes,
		 struct p53_err *err)
{
	*zones = NULL;
	*ents = NULL;
	*nodes = NULL;
	*nz = *nents = 0;
	struct snap_nsec3zone *zv = calloc(s->nzones ? s->nzones : 1, sizeof(*zv));
	struct snap_nodesec3 *nv = malloc((s->nnodes ? s->nnodes : 1) * sizeof(*nv));
	struct snap_nsec3 *ev = NULL;
	size_t ne = 0, cap = 0;
	bool any = false;
	int rc = 0;
	if (zv == NULL || nv == NULL) {
		rc = p53_err_set(err, P53_ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t z = 0; z < s->nzones && rc == 0; z++) {
		const struct snap_zone *zn = &s->zones[z];
		struct snap_nsec3zone *p = &zv[z];
		p->first = (uint32_t)ne;
		for (uint32_t i = zn->apex; i < zn->apex + zn->nodes; i++)
			nv[i] = (struct snap_nodesec3){SNAP_NONE, SNAP_NONE, SNAP_NONE, SNAP_NONE};
		if (!n3_zone_params(s, z, p))
			continue;
		if (p->iterations > P53_NSEC3_ITER_MAX) {
			char zt[1024];
			name_to_text(s->names + zn->name, zt, sizeof(zt));
			rc = p53_err_set(err, P53_EINVAL,
					 "zone %s: NSEC3 with %u iterations, at most %u are served "
					 "(RFC 9276; the server hashes per query)",
					 zt, p->iterations, P53_NSEC3_ITER_MAX);
			break;
		}
		if ((rc = n3_zone_entries(s, z, p, &ev, &ne, &cap)) != 0) {
			rc = p53_err_set(err, rc, "out of memory");
			break;
		}
		p->count = (uint32_t)(ne - p->first);
		if (p->count == 0)
			continue;
		any = true;
		struct p53_snapshot v = *s; /* n3_node's searches read s->n3 */
		v.n3 = ev;
		v.nn3 = (uint32_t)ne;
		for (uint32_t i = zn->apex; i < zn->apex + zn->nodes; i++)
			n3_node(&v, p, i, &nv[i]);
	}
out:
	if (rc == 0 && any) {
		*zones = zv;
		*nz = s->nzones;
		*ents = ev;
		*nents = ne;
		*nodes = nv;
		return 0;
	}
	free(zv);
	free(ev);
	free(nv);
	return rc;
}

bool dnssec_present(const struct p53_snapshot *s)
{
	for (uint32_t i = 0; i < s->nrrsets; i++)
		if (s->rrsets[i].type == RR_NSEC || s->rrsets[i].type == RR_RRSIG)
			return true;
	return false;
}

int dnssec_nodesec(const struct p53_snapshot *s, const bool *compact, struct snap_nodesec **out)
{
	struct snap_nodesec *ns = calloc(s->nnodes ? s->nnodes : 1, sizeof(*ns));
	if (ns == NULL)
		return P53_ENOMEM;
	for (uint32_t z = 0; z < s->nzones; z++) {
		uint32_t last = SNAP_NONE;
		for (uint32_t i = s->zones[z].apex; i < s->zones[z].apex + s->zones[z].nodes; i++) {
			const struct snap_node *n = &s->nodes[i];
			for (uint16_t k = 0; k < n->nrrsets; k++)
				if (s->rrsets[n->rrset + k].type == RR_NSEC &&
				    !(n->flags & NODE_OCCLUDED))
					last = i;
			ns[i] = (struct snap_nodesec){compact[z] ? SNAP_NSEC_COMPACT : last,
						      SNAP_DO_RENDER};
		}
	}
	*out = ns;
	return 0;
}

int dnssec_do_answers(const struct p53_snapshot *s, struct snap_nodesec *ns, uint32_t **ansdo_out,
		      uint8_t **blobs, size_t *blobs_len)
{
	enum { CAP = 65536 + 16 + 8 * 128 };
	struct dotab t = {0};
	uint8_t *tmp = malloc(CAP);
	uint32_t *ansdo = calloc(s->nans ? s->nans : 1, sizeof(*ansdo));
	int rc = P53_ENOMEM;
	if (tmp == NULL || ansdo == NULL)
		goto out;
	for (uint32_t i = 0; i < s->nnodes; i++) {
		const struct snap_node *n = &s->nodes[i];
		for (uint16_t k = 0; k < n->nans; k++) {
			const struct snap_ans *a = &s->ans[n->ans + k];
			if (a->flags & ANS_DYNAMIC)
				continue;
			if (do_ref(s, &t, tmp, CAP, i, a->qtype, s->blobs + a->blob,
				   &ansdo[n->ans + k]) != 0)
				goto out;
		}
		if (n->other_blob && do_ref(s, &t, tmp, CAP, i, absent_type(s, n),
					    s->blobs + n->other_blob - 1, &ns[i].other_do) != 0)
			goto out;
	}
	*ansdo_out = ansdo;
	*blobs = t.blobs.p;
	*blobs_len = t.blobs.len;
	ansdo = NULL;
	t.blobs.p = NULL;
	rc = 0;
out:
	free(tmp);
	free(ansdo);
	free(t.blobs.p);
	free(t.slot);
	return rc;
}
