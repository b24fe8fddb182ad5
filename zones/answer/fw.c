/* DNS Firewall: loading and the per-query check.
 *
 * Two matchers, one verdict. Plain domain lists live in a hash table of
 * canonical names (the "suffix table"): a query name is looked up once per
 * suffix (www.example.com., example.com., com., .), which costs a handful of
 * probes however long the lists are. Regular-expression rules live in one
 * Hyperscan database that is scanned once over the presentation form of the
 * name. Rule indices are evaluation order, so the verdict is simply the
 * smallest index that either matcher reports and whose qtype filter passes.
 *
 * Everything that can fail or allocate (verification, deserialising the
 * database, per-worker scratch and counters) happens in p53_fw_load(), never
 * in p53_fw_check().
 */
#include "zones/answer/fw.h"

#include "zones/common/fileio.h"
#include "zones/common/fwfmt.h"
#include "zones/common/name.h"

#include <hs/hs.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CACHE_LINE 64
#define TEXT_MAX   (4 * P53_NAME_MAX + 4) /* every byte as \DDD, plus NUL */

struct p53_fw {
	const uint8_t *base;
	size_t size;
	bool mapped;
	const struct fw_hdr *hdr;
	const struct fw_rule *rules;
	uint32_t nrules;
	const char *strings;
	size_t strings_len;
	const struct fw_hash_ent *ht;
	uint32_t hmask, hcount;
	const uint8_t *names;
	size_t names_len;
	const uint32_t *rlist;
	size_t rlist_len; /* in u32 */
	const uint8_t *pats;
	size_t pats_len;
	const uint64_t *filter;
	uint32_t flog2;
	uint8_t minlab, maxlab; /* label counts of listed names */
	uint32_t root_hash;	/* name_hash() of the root, the one suffix the
				 * engine's name_suffix_hashes() leaves out */
	hs_database_t *db;	/* NULL without patterns */
	uint32_t minpat;	/* lowest rule index with a pattern: scan only below best */
	bool fail_open;
	unsigned nworkers;
	hs_scratch_t **scratch; /* one per worker */
	/* Per worker, on cache lines of their own: nrules hit counters, then
	 * the error counter. Each worker writes only its own row. */
	uint64_t *hits;
	size_t stride; /* u64 per row, a multiple of a cache line */
};

void fw_seal(uint8_t *image)
{
	struct fw_hdr *h = (struct fw_hdr *)image;
	uint8_t d[SHA256_DIGEST_LENGTH];
	for (uint32_t i = 0; i < h->nsect; i++) {
		SHA256(image + h->sect[i].off, h->sect[i].len, d);
		memcpy(h->sect[i].sum, d, 16);
	}
	struct fw_hdr c;
	memcpy(&c, h, sizeof(c));
	memset(c.hash, 0, sizeof(c.hash));
	SHA256((const uint8_t *)&c, sizeof(c), h->hash);
}

/* ---- the hot path ------------------------------------------------------ */

static inline bool rule_applies(const struct p53_fw *fw, uint32_t r, uint16_t qtype)
{
	uint16_t t = fw->rules[r].qtype;
	return t == 0 || t == qtype;
}

/* The first rule of a table value that passes the qtype filter. */
static uint32_t pick(const struct p53_fw *fw, uint32_t v, uint16_t qtype)
{
	if (v == FW_NONE)
		return FW_NONE;
	if (!(v & FW_LIST_BIT))
		return rule_applies(fw, v, qtype) ? v : FW_NONE;
	const uint32_t *l = fw->rlist + (v & ~FW_LIST_BIT);
	for (uint32_t i = 1; i <= l[0]; i++)
		if (rule_applies(fw, l[i], qtype))
			return l[i];
	return FW_NONE;
}

static const struct fw_hash_ent *probe(const struct p53_fw *fw, uint32_t h, const uint8_t *name,
				       size_t len)
{
	for (uint32_t i = h & fw->hmask;; i = (i + 1) & fw->hmask) {
		const struct fw_hash_ent *e = &fw->ht[i];
		if (e->name == 0)
			return NULL;
		if (e->hash == h) {
			const uint8_t *n = fw->names + e->name - 1;
			if (n[0] == len && memcmp(n + 1, name, len) == 0)
				return e;
		}
	}
}

/* Best rule from the suffix table: the whole name against "exact" entries,
 * every proper suffix against "sub" entries (a "*.suffix" line). off[] and
 * hash[] are name_suffix_hashes() of the name (n suffixes, longest first,
 * the root left out): the engine computes them anyway, so no byte of the
 * name is hashed here. Suffixes whose label count no listed name has are
 * skipped outright; the rest go through the filter, and the buckets of
 * those that pass are prefetched together so their cache misses overlap. */
static uint32_t suffix_best(const struct p53_fw *fw, const uint8_t *qname, size_t qlen,
			    uint16_t qtype, unsigned n, const uint8_t *off, const uint32_t *hash)
{
	/* Suffix i has n - i labels; i == n is the root. */
	if (n < fw->minlab)
		return FW_NONE;
	unsigned lo = n > fw->maxlab ? n - fw->maxlab : 0, hi = n - fw->minlab;
	uint8_t cand[P53_LABELS_MAX + 1];
	unsigned nc = 0;
	for (unsigned i = lo; i <= hi; i++) {
		uint32_t h = i < n ? hash[i] : fw->root_hash;
		uint64_t m = fw_filter_mask(h);
		if ((fw->filter[fw_filter_word(h, fw->flog2)] & m) != m)
			continue; /* not in the filter: certainly not listed */
		__builtin_prefetch(&fw->ht[h & fw->hmask]);
		cand[nc++] = (uint8_t)i;
	}
	uint32_t best = FW_NONE;
	for (unsigned k = 0; k < nc; k++) {
		unsigned i = cand[k];
		size_t o = i < n ? off[i] : qlen - 1;
		const struct fw_hash_ent *e =
		    probe(fw, i < n ? hash[i] : fw->root_hash, qname + o, qlen - o);
		if (e == NULL)
			continue;
		uint32_t r = pick(fw, i == 0 ? e->exact : e->sub, qtype);
		if (r < best)
			best = r;
	}
	return best;
}

/* How name_to_text() writes each byte: 0 as itself, 1 as \X, 2 as \DDD. */
static const uint8_t text_class[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/* The pattern subject: name_to_text() without the final dot (the root is
 * ""), at most 4 * P53_NAME_MAX bytes; -1 for a malformed name. Nearly every
 * query name needs no escape: then the text is the wire name with its
 * length bytes turned into dots, one copy and a store per label. Only a
 * name with a byte to escape is written byte by byte. off[] has the n label
 * offsets (name_suffix_hashes()). */
static int pattern_text(const uint8_t *w, size_t len, unsigned n, const uint8_t *off, char *out)
{
	/* The chain of labels must end exactly at the root byte. */
	if (n > 0 && (size_t)off[n - 1] + w[off[n - 1]] + 2 == len) {
		uint8_t esc = 0;
		for (unsigned i = 0; i < n; i++)
			for (unsigned k = 1; k <= w[off[i]]; k++)
				esc |= text_class[w[off[i] + k]];
		if (esc == 0) {
			memcpy(out, w + 1, len - 2);
			for (unsigned i = 1; i < n; i++)
				out[off[i] - 1] = '.';
			return (int)(len - 2);
		}
	}
	size_t t = 0;
	for (size_t o = 0; o < len && w[o] != 0;) {
		size_t l = w[o++];
		if (l > len - o)
			return -1;
		if (t != 0)
			out[t++] = '.';
		for (size_t end = o + l; o < end; o++) {
			uint8_t c = w[o];
			switch (text_class[c]) {
			case 0:
				out[t++] = (char)c;
				break;
			case 1:
				out[t++] = '\\';
				out[t++] = (char)c;
				break;
			default:
				out[t++] = '\\';
				out[t++] = (char)('0' + c / 100);
				out[t++] = (char)('0' + (c / 10) % 10);
				out[t++] = (char)('0' + c % 10);
			}
		}
	}
	return (int)t;
}

struct scan_ctx {
	const struct p53_fw *fw;
	uint16_t qtype;
	uint32_t best;
};

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
		    unsigned int flags, void *arg)
{
	struct scan_ctx *c = arg;
	(void)from;
	(void)to;
	(void)flags;
	if (id < c->best && id < c->fw->nrules && rule_applies(c->fw, id, c->qtype))
		c->best = id;
	/* Nothing a pattern can report is better than the first pattern rule. */
	return c->best <= c->fw->minpat;
}

static inline void count(const struct p53_fw *fw, unsigned worker, uint32_t slot)
{
	uint64_t *p = &fw->hits[(size_t)worker * fw->stride + slot];
	/* One writer per row: a relaxed load and store is enough for readers
	 * summing rows from another thread, and costs no locked instruction. */
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

enum p53_fw_action p53_fw_check_sfx(const struct p53_fw *fw, unsigned worker, const uint8_t *qname,
				    size_t qlen, uint16_t qtype, unsigned n, const uint8_t *off,
				    const uint32_t *hash, struct p53_fw_verdict *v)
{
	v->action = P53_FW_NONE;
	v->rule = FW_NONE;
	v->trust = false;
	v->error = false;
	v->override_ttl = 0;
	v->override_name = NULL;
	if (worker >= fw->nworkers || qlen == 0 || qlen > P53_NAME_MAX) {
		/* A caller bug, not a query: shared error slot, atomically. */
		__atomic_fetch_add(&fw->hits[fw->nrules], 1, __ATOMIC_RELAXED);
		goto undecided;
	}
	uint32_t best = fw->hcount ? suffix_best(fw, qname, qlen, qtype, n, off, hash) : FW_NONE;
	if (fw->db != NULL && fw->minpat < best) {
		/* Patterns see the presentation form without the final dot:
		 * "www.example.com", escapes as in zone files (\. \DDD). */
		char text[TEXT_MAX];
		int tl = pattern_text(qname, qlen, n, off, text);
		if (tl < 0)
			goto fail;
		struct scan_ctx c = {fw, qtype, best};
		hs_error_t e =
		    hs_scan(fw->db, text, (unsigned)tl, 0, fw->scratch[worker], on_match, &c);
		if (e != HS_SUCCESS && e != HS_SCAN_TERMINATED)
			goto fail;
		best = c.best;
	}
	if (best == FW_NONE)
		return P53_FW_NONE;
	const struct fw_rule *r = &fw->rules[best];
	count(fw, worker, best);
	v->rule = best;
	v->action = (enum p53_fw_action)r->action;
	v->trust = r->flags & FW_RULE_TRUST;
	if (r->action == P53_FW_BLOCK_OVERRIDE) {
		v->override_name = (const uint8_t *)fw->strings + r->override;
		v->override_ttl = r->override_ttl;
	}
	return v->action;
fail:
	count(fw, worker, fw->nrules);
undecided:
	v->error = true;
	v->action = fw->fail_open ? P53_FW_NONE : P53_FW_FAIL;
	return v->action;
}

enum p53_fw_action p53_fw_check(const struct p53_fw *fw, unsigned worker, const uint8_t *qname,
				size_t qlen, uint16_t qtype, struct p53_fw_verdict *v)
{
	uint8_t off[P53_LABELS_MAX];
	uint32_t hash[P53_LABELS_MAX];
	unsigned n = qlen <= P53_NAME_MAX ? name_suffix_hashes(qname, qlen, off, hash) : 0;
	return p53_fw_check_sfx(fw, worker, qname, qlen, qtype, n, off, hash, v);
}

/* ---- loading ----------------------------------------------------------- */

static const struct fw_sect *find_sect(const struct fw_hdr *h, uint32_t id)
{
	for (uint32_t i = 0; i < h->nsect; i++)
		if (h->sect[i].id == id)
			return &h->sect[i];
	return NULL;
}

static int verify_hashes(const uint8_t *base, struct p53_err *err)
{
	const struct fw_hdr *h = (const struct fw_hdr *)base;
	struct fw_hdr c;
	uint8_t d[SHA256_DIGEST_LENGTH];
	memcpy(&c, h, sizeof(c));
	memset(c.hash, 0, sizeof(c.hash));
	SHA256((const uint8_t *)&c, sizeof(c), d);
	if (memcmp(d, h->hash, 32) != 0)
		return p53_err_set(err, P53_ECORRUPT, "firewall header checksum mismatch");
	for (uint32_t i = 0; i < h->nsect; i++) {
		SHA256(base + h->sect[i].off, h->sect[i].len, d);
		if (memcmp(d, h->sect[i].sum, 16) != 0)
			return p53_err_set(err, P53_ECORRUPT,
					   "firewall section %u checksum mismatch", h->sect[i].id);
	}
	return 0;
}

static int map_views(struct p53_fw *fw, struct p53_err *err)
{
	if (fw->size < sizeof(struct fw_hdr))
		return p53_err_set(err, P53_ECORRUPT, "firewall file too short (%zu bytes)",
				   fw->size);
	const struct fw_hdr *h = (const struct fw_hdr *)fw->base;
	if (memcmp(h->magic, FW_MAGIC, sizeof(FW_MAGIC)) != 0)
		return p53_err_set(err, P53_ECORRUPT, "not a port53 firewall file (bad magic)");
	if (h->version != FW_VERSION)
		return p53_err_set(err, P53_ECORRUPT,
				   "firewall format version %u, this build reads version %u",
				   h->version, FW_VERSION);
	if (h->size != fw->size)
		return p53_err_set(
		    err, P53_ECORRUPT,
		    "firewall file truncated or padded: header says %llu bytes, file has %zu",
		    (unsigned long long)h->size, fw->size);
	if (h->nsect != FWS__MAX)
		return p53_err_set(err, P53_ECORRUPT, "firewall file has %u sections, expected %u",
				   h->nsect, FWS__MAX);
	const uint8_t *ptr[FWS__MAX + 1];
	size_t len[FWS__MAX + 1];
	for (uint32_t id = 1; id <= FWS__MAX; id++) {
		const struct fw_sect *s = find_sect(h, id);
		if (s == NULL)
			return p53_err_set(err, P53_ECORRUPT, "firewall section %u missing", id);
		if (s->off % FW_ALIGN || s->off < sizeof(*h) || s->off > fw->size ||
		    s->len > fw->size - s->off)
			return p53_err_set(err, P53_ECORRUPT, "firewall section %u out of bounds",
					   id);
		ptr[id] = fw->base + s->off;
		len[id] = s->len;
	}
	int rc = verify_hashes(fw->base, err);
	if (rc)
		return rc;
	fw->hdr = h;
	fw->rules = (const void *)ptr[FWS_RULES];
	fw->nrules = h->nrules;
	fw->strings = (const char *)ptr[FWS_STRINGS];
	fw->strings_len = len[FWS_STRINGS];
	fw->names = ptr[FWS_NAMES];
	fw->names_len = len[FWS_NAMES];
	fw->rlist = (const void *)ptr[FWS_RLIST];
	fw->rlist_len = len[FWS_RLIST] / 4;
	fw->pats = ptr[FWS_PATTERNS];
	fw->pats_len = len[FWS_PATTERNS];
	fw->minpat = h->minpat;
	const struct fw_filter_hdr *fh = (const void *)ptr[FWS_FILTER];
	if (len[FWS_FILTER] < sizeof(*fh) || fh->log2 < 9 || fh->log2 > 32 ||
	    len[FWS_FILTER] - sizeof(*fh) != ((size_t)1 << fh->log2) / 8)
		return p53_err_set(err, P53_ECORRUPT, "firewall filter malformed");
	fw->filter = (const void *)(fh + 1);
	fw->flog2 = fh->log2;
	fw->minlab = fh->minlab;
	fw->maxlab = fh->maxlab;
	fw->root_hash = name_hash((const uint8_t *)"", 1);
	fw->fail_open = h->flags & FW_HDR_FAIL_OPEN;
	if (h->nrules > FW_RULES_MAX ||
	    (size_t)h->nrules * sizeof(struct fw_rule) != len[FWS_RULES])
		return p53_err_set(err, P53_ECORRUPT, "firewall rule table malformed");
	const struct fw_hash_hdr *hh = (const void *)ptr[FWS_HASH];
	if (len[FWS_HASH] < sizeof(*hh))
		return p53_err_set(err, P53_ECORRUPT, "firewall hash table missing");
	fw->hmask = hh->mask;
	fw->hcount = hh->count;
	fw->ht = (const void *)(ptr[FWS_HASH] + sizeof(*hh));
	if ((hh->mask & (hh->mask + 1)) != 0 ||
	    ((size_t)hh->mask + 1) * sizeof(struct fw_hash_ent) != len[FWS_HASH] - sizeof(*hh) ||
	    hh->count > hh->mask)
		return p53_err_set(err, P53_ECORRUPT, "firewall hash table malformed");
	return 0;
}

static bool string_ok(const struct p53_fw *fw, uint32_t off)
{
	return off < fw->strings_len && memchr(fw->strings + off, 0, fw->strings_len - off);
}

static bool wire_ok(const uint8_t *n, size_t avail, size_t len)
{
	if (len == 0 || len > avail || len > P53_NAME_MAX)
		return false;
	size_t i = 0;
	while (i < len && n[i] != 0 && n[i] <= P53_LABEL_MAX)
		i += (size_t)n[i] + 1;
	return i == len - 1 && n[i] == 0;
}

static bool value_ok(const struct p53_fw *fw, uint32_t v)
{
	if (v == FW_NONE)
		return true;
	if (!(v & FW_LIST_BIT))
		return v < fw->nrules;
	size_t o = v & ~FW_LIST_BIT;
	if (o >= fw->rlist_len || fw->rlist[o] == 0 || fw->rlist[o] > fw->rlist_len - o - 1)
		return false;
	for (uint32_t i = 1; i <= fw->rlist[o]; i++)
		if (fw->rlist[o + i] >= fw->nrules)
			return false;
	return true;
}

/* Everything p53_fw_check() follows without checking must be in range, so
 * that even a file with valid checksums cannot make a worker read outside
 * the mapping. */
static int verify_structure(const struct p53_fw *fw, struct p53_err *err)
{
	for (uint32_t i = 0; i < fw->nrules; i++) {
		const struct fw_rule *r = &fw->rules[i];
		bool ok = string_ok(fw, r->group) && string_ok(fw, r->name) &&
			  r->action >= P53_FW_ALLOW && r->action <= P53_FW_DROP;
		if (ok && r->action == P53_FW_BLOCK_OVERRIDE)
			ok = r->override < fw->strings_len &&
			     wire_ok((const uint8_t *)fw->strings + r->override,
				     fw->strings_len - r->override,
				     name_len((const uint8_t *)fw->strings + r->override));
		if (!ok)
			return p53_err_set(err, P53_ECORRUPT, "firewall rule %u malformed", i);
	}
	uint32_t used = 0;
	for (uint32_t i = 0; i <= fw->hmask; i++) {
		const struct fw_hash_ent *e = &fw->ht[i];
		if (e->name == 0)
			continue;
		used++;
		size_t o = (size_t)e->name - 1;
		/* The label-count bounds let the check skip suffixes: a name
		 * outside them would silently never match. */
		if (o >= fw->names_len ||
		    !wire_ok(fw->names + o + 1, fw->names_len - o - 1, fw->names[o]) ||
		    name_labels(fw->names + o + 1) < fw->minlab ||
		    name_labels(fw->names + o + 1) > fw->maxlab || !value_ok(fw, e->exact) ||
		    !value_ok(fw, e->sub))
			return p53_err_set(err, P53_ECORRUPT, "firewall hash entry %u malformed",
					   i);
	}
	if (used != fw->hcount)
		return p53_err_set(err, P53_ECORRUPT, "firewall hash table count mismatch");
	return 0;
}

/* Rebuilds the database from the pattern texts, when the serialised one was
 * made for another CPU or Hyperscan version. */
static int recompile(struct p53_fw *fw, struct p53_err *err)
{
	uint32_t n = fw->hdr->npatterns;
	const char **ex = calloc(n, sizeof(*ex));
	unsigned *ids = calloc(n, sizeof(*ids)), *flags = calloc(n, sizeof(*flags));
	char *copy = malloc(fw->pats_len + n);
	int rc = 0;
	if (ex == NULL || ids == NULL || flags == NULL || copy == NULL) {
		rc = p53_err_set(err, P53_ENOMEM, "out of memory");
		goto out;
	}
	size_t o = 0, c = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t hdr[2];
		if (fw->pats_len - o < 8) {
			rc = p53_err_set(err, P53_ECORRUPT, "firewall pattern table malformed");
			goto out;
		}
		memcpy(hdr, fw->pats + o, 8);
		if (hdr[1] > fw->pats_len - o - 8 || hdr[0] >= fw->nrules) {
			rc = p53_err_set(err, P53_ECORRUPT, "firewall pattern table malformed");
			goto out;
		}
		memcpy(copy + c, fw->pats + o + 8, hdr[1]);
		copy[c + hdr[1]] = 0;
		ex[i] = copy + c;
		ids[i] = hdr[0];
		flags[i] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
		c += hdr[1] + 1;
		o += 8 + ((hdr[1] + 3) & ~3u);
	}
	hs_compile_error_t *ce = NULL;
	if (hs_compile_multi(ex, flags, ids, n, HS_MODE_BLOCK, NULL, &fw->db, &ce) != HS_SUCCESS) {
		rc = p53_err_set(err, P53_EINVAL, "firewall patterns do not compile here: %s",
				 ce ? ce->message : "?");
		hs_free_compile_error(ce);
	}
out:
	free(ex);
	free(ids);
	free(flags);
	free(copy);
	return rc;
}

static int setup(struct p53_fw *fw, unsigned nworkers, struct p53_err *err)
{
	int rc = map_views(fw, err);
	if (rc == 0)
		rc = verify_structure(fw, err);
	if (rc)
		return rc;
	fw->nworkers = nworkers ? nworkers : 1;
	const struct fw_sect *db = find_sect(fw->hdr, FWS_HSDB);
	if (fw->hdr->npatterns > 0) {
		hs_error_t e =
		    hs_deserialize_database((const char *)fw->base + db->off, db->len, &fw->db);
		if (e == HS_DB_PLATFORM_ERROR || e == HS_DB_VERSION_ERROR) {
			fw->db = NULL;
			rc = recompile(fw, err);
			if (rc)
				return rc;
		} else if (e != HS_SUCCESS) {
			return p53_err_set(err, P53_ECORRUPT,
					   "firewall Hyperscan database unreadable (error %d)", e);
		}
		fw->scratch = calloc(fw->nworkers, sizeof(*fw->scratch));
		if (fw->scratch == NULL)
			return p53_err_set(err, P53_ENOMEM, "out of memory");
		for (unsigned i = 0; i < fw->nworkers; i++)
			if (hs_alloc_scratch(fw->db, &fw->scratch[i]) != HS_SUCCESS)
				return p53_err_set(err, P53_ENOMEM,
						   "Hyperscan scratch allocation failed");
	}
	/* Rows of whole cache lines, so workers never share a line. */
	size_t per_line = CACHE_LINE / sizeof(uint64_t);
	fw->stride = ((size_t)fw->nrules + 1 + per_line - 1) / per_line * per_line;
	void *p = NULL;
	if (posix_memalign(&p, CACHE_LINE, fw->stride * fw->nworkers * sizeof(uint64_t)) != 0)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	memset(p, 0, fw->stride * fw->nworkers * sizeof(uint64_t));
	fw->hits = p;
	return 0;
}

struct p53_fw *p53_fw_from_mem(const void *data, size_t len, unsigned nworkers, struct p53_err *err)
{
	struct p53_fw *fw = calloc(1, sizeof(*fw));
	uint8_t *copy = malloc(len ? len : 1);
	if (fw == NULL || copy == NULL) {
		free(fw);
		free(copy);
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(copy, data, len);
	fw->base = copy;
	fw->size = len;
	if (setup(fw, nworkers, err) != 0) {
		p53_fw_free(fw);
		return NULL;
	}
	return fw;
}

struct p53_fw *p53_fw_load(const char *path, unsigned nworkers, struct p53_err *err)
{
	const uint8_t *m;
	size_t size;
	if (p53_file_map(path, &m, &size, err) != 0)
		return NULL;
	struct p53_fw *fw = calloc(1, sizeof(*fw));
	if (fw == NULL) {
		p53_file_unmap(m, size);
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	fw->base = m;
	fw->size = size;
	fw->mapped = true;
	struct p53_err e2 = {0};
	if (setup(fw, nworkers, &e2) != 0) {
		p53_err_set(err, e2.code, "%s: %s", path, e2.msg);
		p53_fw_free(fw);
		return NULL;
	}
	return fw;
}

void p53_fw_free(struct p53_fw *fw)
{
	if (fw == NULL)
		return;
	if (fw->scratch)
		for (unsigned i = 0; i < fw->nworkers; i++)
			hs_free_scratch(fw->scratch[i]);
	free(fw->scratch);
	hs_free_database(fw->db);
	free(fw->hits);
	if (fw->mapped)
		p53_file_unmap(fw->base, fw->size);
	else
		free((void *)fw->base);
	free(fw);
}

/* ---- introspection ----------------------------------------------------- */

void p53_fw_info(const struct p53_fw *fw, struct p53_fw_info *in)
{
	in->serial = fw->hdr->serial;
	in->created = fw->hdr->created;
	in->size = fw->hdr->size;
	memcpy(in->hash, fw->hdr->hash, 32);
	in->rules = fw->nrules;
	in->domains = fw->hdr->ndomains;
	in->patterns = fw->hdr->npatterns;
	in->fail_open = fw->fail_open;
	in->workers = fw->nworkers;
}

bool p53_fw_rule(const struct p53_fw *fw, uint32_t i, struct p53_fw_rule_info *in)
{
	if (i >= fw->nrules)
		return false;
	const struct fw_rule *r = &fw->rules[i];
	in->group = fw->strings + r->group;
	in->name = fw->strings + r->name;
	in->group_priority = r->group_prio;
	in->priority = r->rule_prio;
	in->action = (enum p53_fw_action)r->action;
	in->qtype = r->qtype;
	in->trust = r->flags & FW_RULE_TRUST;
	return true;
}

static uint64_t sum_slot(const struct p53_fw *fw, uint32_t slot)
{
	uint64_t s = 0;
	for (unsigned w = 0; w < fw->nworkers; w++)
		s += __atomic_load_n(&fw->hits[(size_t)w * fw->stride + slot], __ATOMIC_RELAXED);
	return s;
}

uint64_t p53_fw_hits(const struct p53_fw *fw, uint32_t i)
{
	return i < fw->nrules ? sum_slot(fw, i) : 0;
}

uint64_t p53_fw_errors(const struct p53_fw *fw)
{
	return sum_slot(fw, fw->nrules);
}
