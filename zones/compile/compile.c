/* The zone compiler.
 *
 * Reads every zone into one flat record array, checks the rules a zone must
 * satisfy, derives the tree facts the engine needs at query time (empty
 * non-terminals, zone cuts, wildcard children), lays the result out as a
 * snapshot, and finally asks the engine itself to pre-render every answer
 * that depends only on the query name and type. Work done here is work no
 * worker does per query.
 */
#include "zones/compile/compile.h"
#include "zones/compile/zwalk.h"
#include "zones/compile/dnssec.h"

#include "zones/common/fileio.h"
#include "zones/answer/answer_pvt.h"
#include "zones/answer/nsec3hash.h"
#include "zones/common/name.h"
#include "zones/compile/r53json.h"
#include "zones/compile/r53snap.h"
#include "zones/common/rrtype.h"
#include "zones/answer/snapshot_pvt.h"
#include "zones/compile/zparse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- growable buffers ------------------------------------------------- */

/* First touches of fresh memory are a large part of a big compile (on a VM
 * each 4 KB page fault may also fault in the host): large working arrays ask
 * for transparent huge pages, one fault per 2 MB, where the kernel allows
 * them on request. */
static void *big_hint(void *p, size_t n)
{
	enum { HUGE = 2u << 20 };
	if (p && n >= 2 * HUGE) {
		uintptr_t a = ((uintptr_t)p + HUGE - 1) & ~(uintptr_t)(HUGE - 1);
		uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE - 1);
		if (e > a)
			madvise((void *)a, e - a, MADV_HUGEPAGE);
	}
	return p;
}

struct buf {
	uint8_t *p;
	size_t len, cap;
	bool lent; /* p is a window of memory owned elsewhere (the image) */
};

static int buf_reserve(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	/* Outgrowing a lent window moves what it holds to memory of our own. */
	uint8_t *p = big_hint(b->lent ? malloc(cap) : realloc(b->p, cap), cap);
	if (p == NULL)
		return P53_ENOMEM;
	if (b->lent && b->len)
		memcpy(p, b->p, b->len);
	b->p = p;
	b->cap = cap;
	b->lent = false;
	return 0;
}

static void buf_free(struct buf *b)
{
	if (!b->lent)
		free(b->p);
	*b = (struct buf){0};
}

/* Appends n bytes (or n zero bytes when data is NULL); returns the offset or
 * -1 on allocation failure. */
static int64_t buf_add(struct buf *b, const void *data, size_t n)
{
	if (n == 0)
		return (int64_t)b->len;
	if (buf_reserve(b, n) != 0)
		return -1;
	if (data)
		memcpy(b->p + b->len, data, n);
	else
		memset(b->p + b->len, 0, n);
	b->len += n;
	return (int64_t)(b->len - n);
}

static int64_t buf_align(struct buf *b, size_t a)
{
	size_t pad = (a - b->len % a) % a;
	return buf_add(b, NULL, pad);
}

#define SNAP_RRSET_MAX 65535 /* struct snap_rrset.count */

#define VEC_PUSH(arr, n, cap, item)                                                                \
	((n) < (cap) || vec_grow((void **)&(arr), &(cap), sizeof(*(arr))) == 0                     \
	     ? ((arr)[(n)++] = (item), 0)                                                          \
	     : P53_ENOMEM)

/* Sets aside room for n items at once, where the final size can be guessed:
 * growing a large array by doubling copies it and faults its pages in again
 * each time. Room never used costs address space only (glibc maps large
 * blocks, and untouched pages are not resident). */
static int vec_reserve(void **arr, size_t *cap, size_t size, size_t n)
{
	if (n <= *cap)
		return 0;
	void *p = big_hint(realloc(*arr, n * size), n * size);
	if (p == NULL)
		return P53_ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

static int vec_grow(void **arr, size_t *cap, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 1024;
	void *p = big_hint(realloc(*arr, ncap * size), ncap * size);
	if (p == NULL)
		return P53_ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* ---- compiler state --------------------------------------------------- */

struct crec {
	uint32_t zone;
	uint32_t name;	/* offset in names */
	uint32_t rdata; /* offset in rdata */
	uint32_t ttl;
	uint32_t file;
	uint32_t line;
	uint32_t grp; /* policy-group marker: group index + 1 (no rdata) */
	uint32_t mem; /* record of a policy-group member: member index + 1 */
	uint16_t type;
	uint16_t rdlen;
	uint8_t name_len;
	bool dead; /* duplicate, or data for a more specific zone we serve */
};

/* A routing-policy group and its members, from Route 53 JSON. */
struct cgroup {
	uint32_t zone;
	uint32_t name; /* offset in names */
	uint8_t name_len;
	uint8_t policy;
	uint16_t type;
	uint32_t first, n; /* members [first, first + n) */
	uint32_t cidr_coll;
	bool nested; /* a traffic-flow rule inside another: held by no node */
};

struct cmember {
	struct snap_member m; /* rrset and alias filled in at layout */
	uint32_t target;      /* alias target: offset in names */
	uint8_t target_len;
};

struct cnode {
	uint32_t zone;
	uint32_t name;
	uint8_t name_len;
	uint8_t depth; /* labels below the apex */
	uint16_t flags;
	uint32_t cut, wild;
	uint32_t rec, nrec; /* records sorted by node: [rec, rec + nrec) */
	uint32_t rrset, nrrsets;
	uint32_t ans, nans, other_blob;
};

struct czone {
	const char *path;
	uint8_t apex[P53_NAME_MAX];
	size_t apex_len;
	uint32_t apex_node;
	uint32_t soa_rec;
	uint32_t first_node, nnodes;
};

/* Seconds: wall, CPU of the process, of which in the kernel, and of the
 * calling thread. */
struct clocks {
	double wall, cpu, sys, main;
};

struct cc {
	struct p53_err *err;
	const struct p53_compile_opts *opts;
	struct p53_compile_progress prog;
	uint64_t bytes_before; /* input bytes of the files already read */
	struct buf names, rdata;
	struct crec *recs;
	size_t nrecs, caprecs;
	struct cnode *nodes;
	size_t nnodes, capnodes;
	struct czone *zones;
	size_t nzones;
	char **files;
	size_t nfiles, capfiles;
	struct cgroup *groups;
	size_t ngroups, capgroups;
	struct cmember *members;
	size_t nmembers, capmembers;
	struct buf strings;
	uint32_t *hchecks; /* STRINGS offsets */
	size_t nhchecks, caphchecks;
	struct snap_cidr *cidrs;
	size_t ncidrs, capcidrs;
	struct r53_geo geo;
	struct r53_lat lat;
	struct snap_latent *latents; /* lat.ents with regions in STRINGS */
	json_t *r53tf;		     /* zone name -> its traffic flow (SECT_R53TF), or NULL */
	uint32_t cur_zone;
	size_t keep_recs, keep_names, keep_rdata; /* before the file being read in parts */
	unsigned pos_scale; /* parts of the file being read: progress is the first's times this */
	unsigned split_files;
	const char *last_file;
	uint32_t last_file_idx;
	struct p53_compile_stats times; /* phases so far */
	struct buf spare;		/* memory no longer used, to be used again */
	struct clocks mark;		/* at the end of the last phase */
	bool two;			/* a second thread may take a part of the work */
};

/* Runs fn(a) and fn(b), on two threads when the compile may use them, one
 * after the other otherwise: the work is cut into the same parts either
 * way, so the snapshot does not depend on the thread count. */
static void run_pair(const struct cc *c, void *(*fn)(void *), void *a, void *b)
{
	pthread_t t;
	bool two = c->two && pthread_create(&t, NULL, fn, b) == 0;
	fn(a);
	if (two)
		pthread_join(t, NULL);
	else
		fn(b);
}

static const uint8_t *cc_name(const struct cc *c, uint32_t off)
{
	return c->names.p + off;
}

static const char *rec_file(const struct cc *c, const struct crec *r)
{
	return c->files[r->file];
}

/* Reports "file:line: owner: what" for the record r. */
static int rec_fail(struct cc *c, const struct crec *r, const char *what)
{
	char owner[1024];
	name_to_text(cc_name(c, r->name), owner, sizeof(owner));
	return p53_err_at(c->err, P53_EINVAL, rec_file(c, r), r->line, "%s: %s", owner, what);
}

/* ---- reading zones ---------------------------------------------------- */

/* What any zone input may hold, from zone files and Route 53 JSON alike. */
static int check_class_type(const struct zparse_rr *rr, struct p53_err *err)
{
	char tb[12];
	if (rr->rclass != CLASS_IN)
		return p53_err_at(err, P53_EINVAL, rr->file, rr->line,
				  "class %u not supported in zone data (only IN)", rr->rclass);
	if (rrtype_is_meta(rr->type))
		return p53_err_at(err, P53_EINVAL, rr->file, rr->line,
				  "type %s cannot appear in zone data",
				  rrtype_to_text(rr->type, tb));
	return 0;
}

static int on_record(void *ctx, const struct zparse_rr *rr, struct p53_err *err)
{
	struct cc *c = ctx;
	const struct czone *z = &c->zones[c->cur_zone];
	int rc = check_class_type(rr, err);
	if (rc)
		return rc;
	uint8_t owner[P53_NAME_MAX];
	memcpy(owner, rr->owner, rr->owner_len);
	name_lower(owner, rr->owner_len);
	if (!name_is_below_or_at(owner, rr->owner_len, z->apex, z->apex_len)) {
		char on[1024], zn[1024];
		name_to_text(owner, on, sizeof(on));
		name_to_text(z->apex, zn, sizeof(zn));
		return p53_err_at(err, P53_EINVAL, rr->file, rr->line, "%s is outside zone %s", on,
				  zn);
	}
	if (rr->file != c->last_file || c->nfiles == 0) {
		/* The parser's file name may not outlive the include. */
		if (c->nfiles == 0 || strcmp(c->files[c->last_file_idx], rr->file) != 0) {
			char *dup = strdup(rr->file);
			if (dup == NULL || VEC_PUSH(c->files, c->nfiles, c->capfiles, dup) != 0)
				return p53_err_set(err, P53_ENOMEM, "out of memory");
			c->last_file_idx = (uint32_t)(c->nfiles - 1);
		}
		c->last_file = rr->file;
	}
	/* Records of one owner usually follow each other: they share its
	 * bytes, which also lets the sort tell them equal at once. */
	const struct crec *prev = c->nrecs ? &c->recs[c->nrecs - 1] : NULL;
	int64_t no = prev && prev->name_len == rr->owner_len &&
			     memcmp(cc_name(c, prev->name), owner, rr->owner_len) == 0
			 ? (int64_t)prev->name
			 : buf_add(&c->names, owner, rr->owner_len);
	int64_t ro = buf_add(&c->rdata, rr->rdata, rr->rdlen);
	if (no < 0 || ro < 0 || no > UINT32_MAX || ro > UINT32_MAX)
		return p53_err_set(err, P53_ENOMEM, "out of memory (zone too large)");
	struct crec r = {
	    .zone = c->cur_zone,
	    .name = (uint32_t)no,
	    .rdata = (uint32_t)ro,
	    .ttl = rr->ttl,
	    .file = c->last_file_idx,
	    .line = rr->line,
	    .type = rr->type,
	    .rdlen = rr->rdlen,
	    .name_len = (uint8_t)rr->owner_len,
	};
	if (VEC_PUSH(c->recs, c->nrecs, c->caprecs, r) != 0)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	if ((c->nrecs & 0xffff) == 0 && c->opts->progress) {
		/* While a file is read in parts, this is the first part:
		 * the others move at about its pace. */
		unsigned k = c->pos_scale ? c->pos_scale : 1;
		c->prog.records = c->keep_recs + (c->nrecs - c->keep_recs) * k;
		c->prog.bytes_done = c->bytes_before + rr->pos * k;
		c->opts->progress(&c->prog, c->opts->progress_arg);
	}
	return 0;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct clocks clocks_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (struct clocks){clock_s(CLOCK_MONOTONIC), clock_s(CLOCK_PROCESS_CPUTIME_ID),
			       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
			       clock_s(CLOCK_THREAD_CPUTIME_ID)};
}

/* Ends the phase called name: its seconds since the last mark. */
static void stats_phase(struct p53_compile_stats *st, const char *name, struct clocks *last)
{
	struct clocks t = clocks_now();
	if (st->nphases < P53_COMPILE_PHASES)
		st->phase[st->nphases++] =
		    (struct p53_compile_phase){name, t.wall - last->wall, t.cpu - last->cpu,
					       t.sys - last->sys, t.main - last->main};
	*last = t;
}

/* Only when the caller asked for the figures: the clocks are system calls,
 * and small compiles (the API, the fuzzers) make many. */
static void mark(struct cc *c, const char *name)
{
	if (c->opts->stats)
		stats_phase(&c->times, name, &c->mark);
}

static void phase(struct cc *c, const char *what)
{
	if (c->opts->progress == NULL)
		return;
	c->prog.phase = what;
	c->prog.records = c->nrecs;
	c->opts->progress(&c->prog, c->opts->progress_arg);
}

/* ---- checks and tree facts -------------------------------------------- */

/* Canonical order (RFC 4034 6.1) is the compiler's largest single cost on
 * big zones when every comparison walks two names label by label from the
 * right. Each record gets a 16-byte key instead: the labels below its zone's
 * apex, rightmost first, lower-cased, each followed by a 0 byte (bytes 0 and
 * 1 escaped as 1 1 and 1 2, so the terminator stays smallest). Comparing keys
 * as integers is comparing names in canonical order, as far as the key goes;
 * only names whose keys are equal and do not both fit are compared in full. */
struct skey {
	uint64_t k0, k1; /* the key's bytes 0-7 and 8-15, big-endian */
	uint32_t zone;
	uint32_t rec; /* index in recs */
	uint16_t type;
	uint8_t full; /* the whole name fits: equal keys mean equal names */
	uint8_t pad[5];
};

static void name_key(const uint8_t *name, size_t len, size_t apex_len, struct skey *k)
{
	uint8_t off[P53_LABELS_MAX], b[17];
	unsigned n = 0, o = 0;
	for (size_t p = 0; p + apex_len < len && n < P53_LABELS_MAX; p += name[p] + 1u)
		off[n++] = (uint8_t)p;
	for (unsigned i = n; i-- > 0 && o <= 16;) {
		const uint8_t *l = name + off[i];
		for (unsigned j = 1; j <= l[0] && o <= 16; j++) {
			uint8_t ch = l[j] >= 'A' && l[j] <= 'Z' ? (uint8_t)(l[j] + 32) : l[j];
			if (ch <= 1) {
				b[o++] = 1;
				if (o <= 16)
					b[o++] = (uint8_t)(ch + 1);
			} else {
				b[o++] = ch;
			}
		}
		if (o <= 16)
			b[o++] = 0;
	}
	k->full = o <= 16;
	for (; o < 16; o++)
		b[o] = 0;
	uint64_t x = 0, y = 0;
	for (int i = 0; i < 8; i++) {
		x = x << 8 | b[i];
		y = y << 8 | b[8 + i];
	}
	k->k0 = x;
	k->k1 = y;
}

/* What follows the name in the order: type, then a group's marker (mem 0)
 * before its members, then canonical rdata (RFC 4034 6.2, so records that
 * differ only in the case of a name inside rdata sort together and merge),
 * then where the record was written. */
static int rec_cmp_rest(const struct cc *c, const struct crec *x, const struct crec *y)
{
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if (x->mem != y->mem)
		return x->mem < y->mem ? -1 : 1;
	int r = rrtype_rdata_cmp(x->type, c->rdata.p + x->rdata, x->rdlen, c->rdata.p + y->rdata,
				 y->rdlen);
	if (r)
		return r;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->file < y->file ? -1 : x->file > y->file;
}

static inline int skey_cmp(const struct cc *c, const struct skey *a, const struct skey *b)
{
	if (a->zone != b->zone)
		return a->zone < b->zone ? -1 : 1;
	if (a->k0 != b->k0)
		return a->k0 < b->k0 ? -1 : 1;
	if (a->k1 != b->k1)
		return a->k1 < b->k1 ? -1 : 1;
	const struct crec *x = &c->recs[a->rec], *y = &c->recs[b->rec];
	if (!(a->full && b->full) && x->name != y->name) {
		int r = name_cmp_canonical(cc_name(c, x->name), cc_name(c, y->name));
		if (r)
			return r;
	}
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	int r = rec_cmp_rest(c, x, y);
	return r ? r : (a->rec < b->rec ? -1 : a->rec > b->rec);
}

static void skey_merge(const struct cc *c, const struct skey *a, size_t na, const struct skey *b,
		       size_t nb, struct skey *out)
{
	size_t i = 0, j = 0, k = 0;
	while (i < na && j < nb)
		out[k++] = skey_cmp(c, &b[j], &a[i]) < 0 ? b[j++] : a[i++];
	while (i < na)
		out[k++] = a[i++];
	while (j < nb)
		out[k++] = b[j++];
}

/* Sorts a[0, n) using tmp[0, n); the result is in a. */
static void skey_sort(const struct cc *c, struct skey *a, struct skey *tmp, size_t n)
{
	if (n <= 16) {
		for (size_t i = 1; i < n; i++) {
			struct skey x = a[i];
			size_t j = i;
			for (; j > 0 && skey_cmp(c, &x, &a[j - 1]) < 0; j--)
				a[j] = a[j - 1];
			a[j] = x;
		}
		return;
	}
	size_t h = n / 2;
	skey_sort(c, a, tmp, h);
	skey_sort(c, a + h, tmp + h, n - h);
	if (skey_cmp(c, &a[h], &a[h - 1]) >= 0)
		return; /* already in order: common in zone files written sorted */
	memcpy(tmp, a, h * sizeof(*a));
	skey_merge(c, tmp, h, a + h, n - h, a);
}

/* One half of the sort: its keys made and sorted. */
struct sort_half {
	const struct cc *c;
	struct skey *a, *tmp;
	size_t from, n;
};

static void *sort_half_run(void *arg)
{
	struct sort_half *h = arg;
	const struct cc *c = h->c;
	for (size_t i = 0; i < h->n; i++) {
		const struct crec *r = &c->recs[h->from + i];
		struct skey *k = &h->a[i];
		k->zone = r->zone;
		k->rec = (uint32_t)(h->from + i);
		k->type = r->type;
		name_key(cc_name(c, r->name), r->name_len, c->zones[r->zone].apex_len, k);
	}
	skey_sort(c, h->a, h->tmp, h->n);
	return NULL;
}

/* Merging two sorted halves a and b into out, in two parts: the front part
 * takes the smallest keys from the front, the back part the largest from
 * the back. Keys are all distinct (the record index breaks every tie), so
 * the two meet exactly and the result is the one merge would give. */
struct sort_merge {
	const struct cc *c;
	const struct skey *a, *b;
	size_t na, nb;
	struct skey *out;
	size_t take; /* keys this part writes */
	bool back;
};

static void *sort_merge_run(void *arg)
{
	struct sort_merge *m = arg;
	const struct skey *a = m->a, *b = m->b;
	if (!m->back) {
		size_t i = 0, j = 0;
		for (size_t k = 0; k < m->take; k++)
			m->out[k] = j >= m->nb || (i < m->na && skey_cmp(m->c, &b[j], &a[i]) >= 0)
					? a[i++]
					: b[j++];
	} else {
		size_t i = m->na, j = m->nb, n = m->na + m->nb;
		for (size_t k = 0; k < m->take; k++)
			m->out[n - 1 - k] =
			    i == 0 || (j > 0 && skey_cmp(m->c, &b[j - 1], &a[i - 1]) >= 0) ? b[--j]
											   : a[--i];
	}
	return NULL;
}

/* Records moved into key order, a part of the keys at a time. */
struct sort_gather {
	const struct cc *c;
	const struct skey *k;
	struct crec *out;
	size_t from, to;
};

static void *sort_gather_run(void *arg)
{
	struct sort_gather *g = arg;
	for (size_t i = g->from; i < g->to; i++) {
		if (i + 16 < g->to)
			__builtin_prefetch(&g->c->recs[g->k[i + 16].rec]);
		g->out[i] = g->c->recs[g->k[i].rec];
	}
	return NULL;
}

/* Sorts the records by (zone, canonical name, type, member, rdata, line):
 * each half's keys are made and sorted on its own thread, the halves are
 * merged from both ends at once, and the records moved into that order,
 * half each. Small inputs take one thread. */
static int sort_recs(struct cc *c)
{
	size_t n = c->nrecs;
	struct skey *k = big_hint(malloc((n ? n : 1) * sizeof(*k)), n * sizeof(*k));
	struct skey *tmp = big_hint(malloc((n ? n : 1) * sizeof(*tmp)), n * sizeof(*tmp));
	struct crec *out = NULL;
	if (k == NULL || tmp == NULL)
		goto nomem;
	size_t h = n < 65536 ? n : n / 2;
	struct sort_half lo = {c, k, tmp, 0, h}, hi = {c, k + h, tmp + h, h, n - h};
	if (h == n) {
		sort_half_run(&lo);
	} else {
		run_pair(c, sort_half_run, &lo, &hi);
		struct sort_merge f = {c, k, k + h, h, n - h, tmp, n / 2, false};
		struct sort_merge b = {c, k, k + h, h, n - h, tmp, n - n / 2, true};
		run_pair(c, sort_merge_run, &f, &b);
		struct skey *x = k;
		k = tmp;
		tmp = x;
	}
	/* Fresh pages, not realloc(tmp): moving the scratch keys' mapping to
	 * grow it cost more CPU than the faults it saved (10M records: sort
	 * +1 CPU s in six runs). */
	free(tmp);
	tmp = NULL;
	out = big_hint(malloc((n ? n : 1) * sizeof(*out)), n * sizeof(*out));
	if (out == NULL)
		goto nomem;
	struct sort_gather ga = {c, k, out, 0, n / 2}, gb = {c, k, out, n / 2, n};
	run_pair(c, sort_gather_run, &ga, &gb);
	free(k);
	/* The records as read are in memory: build_nodes lays the nodes
	 * there. */
	free(c->spare.p);
	c->spare = (struct buf){.p = (uint8_t *)c->recs, .cap = c->caprecs * sizeof(*c->recs)};
	c->recs = out;
	c->caprecs = n;
	return 0;
nomem:
	free(k);
	free(tmp);
	return p53_err_set(c->err, P53_ENOMEM, "out of memory");
}

/* Zone that a name belongs to: the served zone with the longest apex at or
 * above it. Parent-side data for a child zone we also serve is dropped. */
static uint32_t owning_zone(const struct cc *c, const uint8_t *name, size_t len)
{
	uint32_t best = SNAP_NONE;
	size_t best_len = 0;
	for (size_t z = 0; z < c->nzones; z++)
		if (c->zones[z].apex_len > best_len &&
		    name_is_below_or_at(name, len, c->zones[z].apex, c->zones[z].apex_len)) {
			best = (uint32_t)z;
			best_len = c->zones[z].apex_len;
		}
	return best;
}

/* The served zone holding the parent name of zone z's apex, or SNAP_NONE. */
static uint32_t zone_above(const struct cc *c, uint32_t z)
{
	const uint8_t *a = c->zones[z].apex;
	if (c->zones[z].apex_len <= 1)
		return SNAP_NONE;
	return owning_zone(c, a + a[0] + 1, c->zones[z].apex_len - a[0] - 1u);
}

/* The node named name in zone z, or SNAP_NONE: a binary search (a zone's
 * nodes are in canonical order). */
static uint32_t node_find_in(const struct cc *c, uint32_t z, const uint8_t *name, size_t len)
{
	if (z == SNAP_NONE || c->zones[z].nnodes == 0)
		return SNAP_NONE;
	size_t lo = c->zones[z].first_node, hi = lo + c->zones[z].nnodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cnode *n = &c->nodes[mid];
		int r = name_cmp_canonical(cc_name(c, n->name), name);
		if (r == 0)
			return n->name_len == len ? (uint32_t)mid : SNAP_NONE;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SNAP_NONE;
}

/* The node named name in the zone that owns it: for a served child's apex,
 * the child's apex node, not the parent's side of the cut. */
static uint32_t node_find(const struct cc *c, const uint8_t *name, size_t len)
{
	return node_find_in(c, owning_zone(c, name, len), name, len);
}

static uint32_t add_node(struct cc *c, uint32_t zone, uint32_t name, uint8_t len, uint8_t depth)
{
	struct cnode n = {.zone = zone,
			  .name = name,
			  .name_len = len,
			  .depth = depth,
			  .cut = SNAP_NONE,
			  .wild = SNAP_NONE};
	if (VEC_PUSH(c->nodes, c->nnodes, c->capnodes, n) != 0)
		return SNAP_NONE;
	return (uint32_t)(c->nnodes - 1);
}

static bool has_type(const struct cc *c, const struct cnode *n, uint16_t type)
{
	for (uint32_t i = 0; i < n->nrec; i++)
		if (c->recs[n->rec + i].type == type)
			return true;
	return false;
}

static bool same_owner(const struct cc *c, const struct crec *a, const struct crec *b)
{
	return a->zone == b->zone && a->name_len == b->name_len &&
	       (a->name == b->name ||
		memcmp(cc_name(c, a->name), cc_name(c, b->name), a->name_len) == 0);
}

/* Nodes in canonical order straight from the sorted records. Every name
 * between an owner and its apex exists (RFC 4592 2.2.2, which is what blocks
 * wildcards), and in canonical order a name comes right before the first of
 * its descendants: so the missing ancestors of an owner are exactly those
 * not on the path to the owner before it, and are added there as empty
 * non-terminals, already in place. */
static int build_nodes(struct cc *c)
{
	uint32_t path[P53_LABELS_MAX + 1]; /* path[d]: the node d labels below the apex */
	size_t i = 0;
	/* A node per owner, plus the apexes and a few empty non-terminals:
	 * in pages the compiler has used already when it has some spare
	 * (fresh ones cost a zeroing fault each). */
	size_t want = (c->nrecs + 1024) * sizeof(*c->nodes);
	if (c->nodes == NULL && c->spare.cap >= want) {
		c->nodes = (struct cnode *)c->spare.p;
		c->capnodes = c->spare.cap / sizeof(*c->nodes);
		c->spare = (struct buf){0};
	}
	free(c->spare.p);
	c->spare = (struct buf){0};
	if (vec_reserve((void **)&c->nodes, &c->capnodes, sizeof(*c->nodes), c->nrecs + 1024))
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	for (uint32_t z = 0; z < c->nzones; z++) {
		struct czone *zn = &c->zones[z];
		uint8_t alen = (uint8_t)zn->apex_len;
		zn->first_node = (uint32_t)c->nnodes;
		unsigned top = 0; /* nodes on the path: path[0, top] */
		bool apex_recs =
		    i < c->nrecs && c->recs[i].zone == z && c->recs[i].name_len == alen;
		uint32_t apex_name;
		if (apex_recs) {
			apex_name = c->recs[i].name;
		} else {
			int64_t off = buf_add(&c->names, zn->apex, alen);
			if (off < 0 || off > UINT32_MAX)
				return p53_err_set(c->err, P53_ENOMEM, "out of memory");
			apex_name = (uint32_t)off;
		}
		path[0] = add_node(c, z, apex_name, alen, 0);
		if (path[0] == SNAP_NONE)
			return p53_err_set(c->err, P53_ENOMEM, "out of memory");
		zn->apex_node = path[0];
		while (i < c->nrecs && c->recs[i].zone == z) {
			size_t j = i + 1;
			while (j < c->nrecs && same_owner(c, &c->recs[i], &c->recs[j]))
				j++;
			const struct crec *r = &c->recs[i];
			const uint8_t *nm = cc_name(c, r->name);
			uint32_t id;
			if (r->name_len == alen) {
				id = path[0];
			} else {
				/* Label offsets below the apex, leftmost first. */
				uint8_t off[P53_LABELS_MAX];
				unsigned n = 0;
				for (unsigned p = 0; p + alen < r->name_len && n < P53_LABELS_MAX;
				     p += nm[p] + 1u)
					off[n++] = (uint8_t)p;
				/* Ancestor d labels below the apex starts at off[n - d]. */
				unsigned d = 1;
				for (; d < n && d <= top; d++) {
					const struct cnode *a = &c->nodes[path[d]];
					if (a->name_len != r->name_len - off[n - d] ||
					    memcmp(cc_name(c, a->name), nm + off[n - d],
						   a->name_len))
						break;
				}
				for (; d < n; d++) {
					uint32_t e = add_node(c, z, r->name + off[n - d],
							      (uint8_t)(r->name_len - off[n - d]),
							      (uint8_t)d);
					if (e == SNAP_NONE)
						return p53_err_set(c->err, P53_ENOMEM,
								   "out of memory");
					path[d] = e;
				}
				id = add_node(c, z, r->name, r->name_len, (uint8_t)n);
				if (id == SNAP_NONE)
					return p53_err_set(c->err, P53_ENOMEM, "out of memory");
				path[n] = id;
				top = n;
			}
			c->nodes[id].rec = (uint32_t)i;
			c->nodes[id].nrec = (uint32_t)(j - i);
			i = j;
		}
		zn->nnodes = (uint32_t)c->nnodes - zn->first_node;
	}
	return 0;
}

static int check_node(struct cc *c, uint32_t id)
{
	struct cnode *n = &c->nodes[id];
	const struct crec *r = &c->recs[n->rec];
	const struct czone *z = &c->zones[n->zone];
	bool apex = id == z->apex_node;
	unsigned ncname = 0, ndname = 0, other = 0;
	for (uint32_t i = 0; i < n->nrec; i++) {
		uint16_t t = c->recs[n->rec + i].type;
		if (c->recs[n->rec + i].mem)
			continue; /* the group's marker stands for its members */
		if (t == RR_CNAME && ncname++ == 0)
			r = &c->recs[n->rec + i]; /* name the CNAME in messages */
		else if (t == RR_DNAME)
			ndname++;
		else if (t != RR_RRSIG && t != RR_NSEC)
			other++;
		if (t == RR_SOA && !apex)
			return rec_fail(c, &c->recs[n->rec + i], "SOA record not at the zone apex");
	}
	if (ncname && other)
		return rec_fail(c, r, "CNAME beside other data (RFC 1034 3.6.2)");
	if (ncname > 1)
		return rec_fail(c, r, "more than one CNAME record");
	if (ndname > 1)
		return rec_fail(c, r, "more than one DNAME record");
	if (ncname && ndname)
		return rec_fail(c, r, "CNAME and DNAME at the same name");
	if (n->nrec == 0)
		n->flags |= NODE_ENT;
	if (ncname)
		n->flags |= NODE_CNAME;
	if (ndname)
		n->flags |= NODE_DNAME;
	if (apex)
		n->flags |= NODE_APEX;
	else if (has_type(c, n, RR_NS))
		n->flags |= NODE_DELEG;
	/* Only the parent's NS and DS at a served child's apex are kept in
	 * the parent zone (compile's record pass): its side of that cut. */
	if ((n->flags & NODE_DELEG) && owning_zone(c, cc_name(c, n->name), n->name_len) != n->zone)
		n->flags |= NODE_PARENT;
	const uint8_t *nm = cc_name(c, n->name);
	if (nm[0] == 1 && nm[1] == '*')
		n->flags |= NODE_WILDCARD;
	/* An NSEC3 owner: one label below the apex, NSEC3 and RRSIG only
	 * (link_tree takes the flag back when a name lies below it). */
	bool nsec3 = false, only = true;
	for (uint32_t i = 0; i < n->nrec; i++) {
		uint16_t t = c->recs[n->rec + i].type;
		nsec3 |= t == RR_NSEC3;
		only &= t == RR_NSEC3 || t == RR_RRSIG;
	}
	if (nsec3 && only && !apex && n->depth == 1 && !(n->flags & NODE_WILDCARD))
		n->flags |= NODE_NSEC3;
	return 0;
}

/* check_node over nodes [from, to), reporting into err. */
struct check_part {
	struct cc c; /* the compiler's state, but for err */
	struct p53_err err;
	uint32_t from, to;
	int rc;
};

static void *check_part_run(void *arg)
{
	struct check_part *p = arg;
	p->rc = 0;
	for (uint32_t i = p->from; i < p->to && p->rc == 0; i++)
		p->rc = check_node(&p->c, i);
	return NULL;
}

/* Each node checked on its own (it writes only its own flags), half of the
 * nodes on each thread; the error reported is the one of the first node that
 * fails, as in one pass. */
static int check_nodes(struct cc *c)
{
	uint32_t n = (uint32_t)c->nnodes, half = n < 65536 ? n : n / 2;
	struct check_part *p = calloc(2, sizeof(*p));
	if (p == NULL)
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	for (int k = 0; k < 2; k++) {
		p[k].c = *c;
		p[k].c.err = &p[k].err;
	}
	p[0].from = 0;
	p[0].to = p[1].from = half;
	p[1].to = n;
	run_pair(c, check_part_run, &p[0], &p[1]);
	int k = p[0].rc ? 0 : 1, rc = p[k].rc;
	if (rc)
		p53_err_set(c->err, rc, "%s", p[k].err.msg);
	free(p);
	return rc;
}

/* The highest cut at or above each node, wildcard children, and the rules
 * that need ancestors: nothing below a DNAME. Nodes are in canonical order,
 * so a node's ancestors are the path of nodes last seen at each depth. */
static int link_tree(struct cc *c)
{
	uint32_t path[P53_LABELS_MAX + 1];
	uint32_t cut[P53_LABELS_MAX + 1]; /* highest cut on the path down to depth d */
	bool dname[P53_LABELS_MAX + 1];	  /* a DNAME on the path down to depth d */
	for (uint32_t i = 0; i < c->nnodes; i++) {
		struct cnode *n = &c->nodes[i];
		unsigned d = n->depth;
		path[d] = i;
		if (d == 0) {
			cut[0] = SNAP_NONE;
			dname[0] = (n->flags & NODE_DNAME) != 0;
			continue;
		}
		if ((n->flags & NODE_WILDCARD))
			c->nodes[path[d - 1]].wild = i;
		c->nodes[path[d - 1]].flags &= (uint16_t)~NODE_NSEC3;
		if (dname[d - 1] && n->nrec)
			return rec_fail(c, &c->recs[n->rec], "data below a DNAME (RFC 6672 2.3)");
		cut[d] = cut[d - 1] != SNAP_NONE   ? cut[d - 1]
			 : (n->flags & NODE_DELEG) ? i
						   : SNAP_NONE;
		dname[d] = dname[d - 1] || (n->flags & NODE_DNAME);
		n->cut = cut[d];
		if (n->cut != SNAP_NONE && n->cut != i)
			n->flags = (uint16_t)((n->flags | NODE_OCCLUDED) & ~NODE_NSEC3);
	}
	return 0;
}

/* An NS target at or below its own cut cannot be resolved without glue. */
static int check_glue(struct cc *c)
{
	for (uint32_t i = 0; i < c->nnodes; i++) {
		const struct cnode *n = &c->nodes[i];
		/* Names below a served child's cut are the child's to hold. */
		if (!(n->flags & NODE_DELEG) || (n->flags & NODE_PARENT))
			continue;
		for (uint32_t k = 0; k < n->nrec; k++) {
			const struct crec *r = &c->recs[n->rec + k];
			if (r->type != RR_NS)
				continue;
			uint8_t t[P53_NAME_MAX];
			size_t tl = name_len(c->rdata.p + r->rdata);
			memcpy(t, c->rdata.p + r->rdata, tl);
			name_lower(t, tl);
			if (!name_is_below_or_at(t, tl, cc_name(c, n->name), n->name_len))
				continue;
			uint32_t g = node_find(c, t, tl);
			if (g == SNAP_NONE || (!has_type(c, &c->nodes[g], RR_A) &&
					       !has_type(c, &c->nodes[g], RR_AAAA))) {
				char tn[1024], why[1100];
				name_to_text(t, tn, sizeof(tn));
				snprintf(why, sizeof(why),
					 "delegation needs glue: no A or AAAA record for %s", tn);
				return rec_fail(c, r, why);
			}
		}
	}
	return 0;
}

static int check_zones(struct cc *c)
{
	for (size_t z = 0; z < c->nzones; z++) {
		struct czone *zn = &c->zones[z];
		const struct cnode *apex = &c->nodes[zn->apex_node];
		char an[1024];
		name_to_text(zn->apex, an, sizeof(an));
		unsigned nsoa = 0;
		zn->soa_rec = SNAP_NONE;
		for (uint32_t i = 0; i < apex->nrec; i++) {
			const struct crec *r = &c->recs[apex->rec + i];
			if (r->type != RR_SOA)
				continue;
			if (++nsoa > 1)
				return p53_err_at(c->err, P53_EINVAL, rec_file(c, r), r->line,
						  "second SOA record for zone %s", an);
			zn->soa_rec = apex->rec + i;
		}
		if (nsoa == 0)
			return p53_err_set(c->err, P53_EINVAL, "%s: zone %s has no SOA record",
					   zn->path, an);
		if (!has_type(c, apex, RR_NS)) {
			const struct crec *r = &c->recs[zn->soa_rec];
			return p53_err_at(c->err, P53_EINVAL, rec_file(c, r), r->line,
					  "zone %s has no NS records at its apex", an);
		}
	}
	return 0;
}

/* Drops duplicates (RFC 2181 5: an RRset holds no duplicate records) and
 * gives each RRset the lowest TTL of its records (RFC 2181 5.2). */
static int normalise_rrsets(struct cc *c)
{
	size_t out = 0;
	for (size_t i = 0; i < c->nrecs; i++) {
		struct crec *r = &c->recs[i];
		if (r->dead)
			continue;
		if (out > 0) {
			struct crec *p = &c->recs[out - 1];
			if (p->zone == r->zone && p->type == r->type && p->mem == r->mem &&
			    p->grp == r->grp && p->name_len == r->name_len &&
			    memcmp(cc_name(c, p->name), cc_name(c, r->name), r->name_len) == 0) {
				if (p->rdlen == r->rdlen &&
				    rrtype_rdata_cmp(r->type, c->rdata.p + p->rdata, p->rdlen,
						     c->rdata.p + r->rdata, r->rdlen) == 0)
					continue;
			}
		}
		c->recs[out++] = *r;
	}
	c->nrecs = out;
	for (size_t i = 0; i < c->nrecs;) {
		size_t j = i;
		uint32_t ttl = c->recs[i].ttl;
		while (j < c->nrecs && c->recs[j].zone == c->recs[i].zone &&
		       c->recs[j].type == c->recs[i].type && c->recs[j].mem == c->recs[i].mem &&
		       c->recs[j].name_len == c->recs[i].name_len &&
		       memcmp(cc_name(c, c->recs[j].name), cc_name(c, c->recs[i].name),
			      c->recs[i].name_len) == 0) {
			if (c->recs[j].ttl < ttl)
				ttl = c->recs[j].ttl;
			j++;
		}
		for (size_t k = i; k < j; k++)
			c->recs[k].ttl = ttl;
		/* The snapshot counts an RRset's records in 16 bits. */
		if (j - i > SNAP_RRSET_MAX)
			return rec_fail(c, &c->recs[i + SNAP_RRSET_MAX],
					"RRset of more than 65535 records (snapshot limit)");
		i = j;
	}
	return 0;
}

/* ---- Route 53 record sets --------------------------------------------- */

/* Adds a string to STRINGS once; returns its offset or SNAP_NONE. */
static uint32_t str_add(struct cc *c, const char *t)
{
	for (size_t off = 0; off < c->strings.len;) {
		const char *x = (const char *)c->strings.p + off;
		size_t l = strlen(x);
		if (strcmp(x, t) == 0)
			return (uint32_t)off;
		off += l + 1;
	}
	int64_t o = buf_add(&c->strings, t, strlen(t) + 1);
	return o < 0 ? SNAP_NONE : (uint32_t)o;
}

static uint32_t health_index(struct cc *c, const char *id)
{
	uint32_t off = str_add(c, id);
	if (off == SNAP_NONE)
		return SNAP_NONE;
	for (size_t i = 0; i < c->nhchecks; i++)
		if (c->hchecks[i] == off)
			return (uint32_t)i;
	if (VEC_PUSH(c->hchecks, c->nhchecks, c->caphchecks, off) != 0)
		return SNAP_NONE;
	return (uint32_t)(c->nhchecks - 1);
}

static int add_crec(struct cc *c, const uint8_t *owner, size_t olen, uint16_t type, uint32_t ttl,
		    const uint8_t *rd, uint16_t rdlen, uint32_t grp, uint32_t mem)
{
	int64_t no = buf_add(&c->names, owner, olen);
	int64_t ro = buf_add(&c->rdata, rd, rdlen);
	if (no < 0 || ro < 0 || no > UINT32_MAX || ro > UINT32_MAX)
		return p53_err_set(c->err, P53_ENOMEM, "out of memory (zone too large)");
	struct crec r = {
	    .zone = c->cur_zone,
	    .name = (uint32_t)no,
	    .rdata = (uint32_t)ro,
	    .ttl = ttl,
	    .file = c->last_file_idx,
	    .grp = grp,
	    .mem = mem,
	    .type = type,
	    .rdlen = rdlen,
	    .name_len = (uint8_t)olen,
	};
	if (VEC_PUSH(c->recs, c->nrecs, c->caprecs, r) != 0)
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	return 0;
}

/* ---- DNSSEC signing (zones/compile/dnssec.c) ---------------------------- */

/* A record the signer made: its node (DNSSEC_NEW_NAME: a name of its own,
 * an NSEC3 owner, kept before the rdata), and its rdata in sig_out's
 * buffer until the signing of the zone is over (adding records moves
 * rdata). */
struct sig_rec {
	uint32_t node, rdata, ttl;
	uint16_t type, rdlen;
	uint8_t olen;
};

struct sig_out {
	struct cc *c;
	uint32_t first_node;
	struct buf rdata;
	struct sig_rec *recs;
	size_t n, cap;
	bool new_names;
};

static int sig_emit(void *arg, uint32_t node, const uint8_t *owner, size_t olen, uint16_t type,
		    uint32_t ttl, const uint8_t *rd, uint16_t rdlen)
{
	struct sig_out *so = arg;
	bool fresh = node == DNSSEC_NEW_NAME;
	int64_t at = fresh ? buf_add(&so->rdata, owner, olen) : 0;
	int64_t off = at < 0 ? -1 : buf_add(&so->rdata, rd, rdlen);
	struct sig_rec r = {fresh ? DNSSEC_NEW_NAME : so->first_node + node,
			    (uint32_t)off,
			    ttl,
			    type,
			    rdlen,
			    fresh ? (uint8_t)olen : 0};
	so->new_names |= fresh;
	if (off < 0 || off > UINT32_MAX || VEC_PUSH(so->recs, so->n, so->cap, r) != 0)
		return p53_err_set(so->c->err, P53_ENOMEM, "out of memory");
	return 0;
}

/* Records sorted again after signing added some: each node's range anew
 * (the nodes themselves do not change). */
static int reindex_records(struct cc *c)
{
	int rc = sort_recs(c);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < c->nnodes; i++)
		c->nodes[i].rec = c->nodes[i].nrec = 0;
	for (size_t i = 0; i < c->nrecs;) {
		size_t j = i + 1;
		while (j < c->nrecs && same_owner(c, &c->recs[i], &c->recs[j]))
			j++;
		uint32_t id = node_find_in(c, c->recs[i].zone, cc_name(c, c->recs[i].name),
					   c->recs[i].name_len);
		if (id == SNAP_NONE) /* cannot happen: signing adds no names */
			return p53_err_set(c->err, P53_EINVAL, "signed record without a node");
		c->nodes[id].rec = (uint32_t)i;
		c->nodes[id].nrec = (uint32_t)(j - i);
		i = j;
	}
	return 0;
}

/* Which of the zones listed (text names, as given to --compact-denial,
 * --nsec3, --nsec3-opt-out) apex is (bit i of *seen set when entry i names
 * it). */
static bool zone_listed(const char *const *list, size_t n, const uint8_t *apex, size_t len,
			uint64_t *seen)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t w[P53_NAME_MAX];
		const char *t = list[i], *why;
		if (name_from_text(t, strlen(t), (const uint8_t *)"", w, &why) < 0)
			continue;
		size_t wl = name_len(w);
		name_lower(w, wl);
		if (wl == len && memcmp(w, apex, len) == 0) {
			if (seen)
				*seen |= 1ull << i;
			return true;
		}
	}
	return false;
}

static bool is_compact(const struct p53_compile_opts *o, const uint8_t *apex, size_t len,
		       uint64_t *seen)
{
	return zone_listed(o->compact_zones, o->ncompact, apex, len, seen);
}

/* --nsec3-salt: hex, or "-" or nothing for none. */
static int nsec3_salt(struct cc *c, uint8_t *salt, uint8_t *len)
{
	const char *t = c->opts->nsec3_salt;
	*len = 0;
	if (t == NULL || strcmp(t, "-") == 0 || *t == 0)
		return 0;
	size_t n = strlen(t);
	if (n % 2 || n / 2 > 255)
		return p53_err_set(c->err, P53_EINVAL,
				   "--nsec3-salt %s: an even number of hex digits, at most 510", t);
	for (size_t i = 0; i < n; i += 2) {
		unsigned v;
		if (!isxdigit((unsigned char)t[i]) || !isxdigit((unsigned char)t[i + 1]) ||
		    sscanf(t + i, "%2x", &v) != 1)
			return p53_err_set(c->err, P53_EINVAL, "--nsec3-salt %s: not hex", t);
		salt[i / 2] = (uint8_t)v;
	}
	*len = (uint8_t)(n / 2);
	return 0;
}

/* After signing added names (NSEC3 owners): the nodes made again from the
 * records, as before signing. */
static int rebuild_nodes(struct cc *c)
{
	c->nnodes = 0;
	int rc = sort_recs(c);
	if (rc == 0)
		rc = build_nodes(c);
	for (uint32_t i = 0; rc == 0 && i < c->nnodes; i++)
		rc = check_node(c, i);
	if (rc == 0)
		rc = check_zones(c);
	if (rc == 0)
		rc = link_tree(c);
	return rc;
}

/* The records of one zone that name another zone we serve: the parent's
 * NS and DS at a served child's apex stay the parent's, its side of the
 * cut (NODE_PARENT, RFC 4035 3.1.4.1), which its NSEC chain links and its
 * keys sign; anything else there or below (glue) is the child's business
 * and dropped, and so is a DS set in the child's own file at its apex. A
 * parent that does not delegate to the child in its file gets the child's
 * apex NS set as its delegation: the child is served, so the cut is there. */
static int parent_sides(struct cc *c)
{
	/* One zone has no parent or child among the zones served (and
	 * on_record kept out what lies outside it). */
	if (c->nzones < 2)
		return 0;
	bool *has_ns = calloc(c->nzones ? c->nzones : 1, sizeof(*has_ns));
	if (has_ns == NULL)
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	for (size_t i = 0; i < c->nrecs; i++) {
		struct crec *r = &c->recs[i];
		uint32_t z = owning_zone(c, cc_name(c, r->name), r->name_len);
		bool at_apex = r->name_len == c->zones[z].apex_len &&
			       memcmp(cc_name(c, r->name), c->zones[z].apex, r->name_len) == 0;
		if (z == r->zone) {
			if (r->type == RR_DS && at_apex && zone_above(c, z) != SNAP_NONE)
				r->dead = true;
			continue;
		}
		if (at_apex && (r->type == RR_NS || r->type == RR_DS) &&
		    zone_above(c, z) == r->zone)
			has_ns[z] |= r->type == RR_NS;
		else
			r->dead = true;
	}
	int rc = 0;
	uint8_t *rd = malloc(65536);
	if (rd == NULL)
		rc = p53_err_set(c->err, P53_ENOMEM, "out of memory");
	size_t n = c->nrecs; /* add_crec appends: what it adds is not read here */
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct crec r = c->recs[i];
		const struct czone *zn = &c->zones[r.zone];
		if (r.dead || r.type != RR_NS || has_ns[r.zone] || r.name_len != zn->apex_len ||
		    memcmp(cc_name(c, r.name), zn->apex, r.name_len) != 0)
			continue;
		uint32_t p = zone_above(c, r.zone);
		if (p == SNAP_NONE)
			continue;
		uint8_t owner[P53_NAME_MAX];
		memcpy(owner, zn->apex, zn->apex_len);
		memcpy(rd, c->rdata.p + r.rdata, r.rdlen);
		uint32_t cur = c->cur_zone, file = c->last_file_idx;
		c->cur_zone = p;
		c->last_file_idx = r.file;
		rc = add_crec(c, owner, zn->apex_len, RR_NS, r.ttl, rd, r.rdlen, 0, 0);
		c->cur_zone = cur;
		c->last_file_idx = file;
	}
	free(rd);
	free(has_ns);
	return rc;
}

/* Signs every zone that has keys in the key directory: TTLs capped at a
 * week, then the signer's records added to the zone. */
static int sign_zones(struct cc *c)
{
	struct dnssec_opts so_opts = {.now = c->opts->sig_now,
				      .validity = c->opts->sig_validity,
				      .threads = c->opts->sign_threads};
	bool any = false, new_names = false;
	uint64_t seen = 0, seen3 = 0, seen_oo = 0;
	int rc = nsec3_salt(c, so_opts.salt, &so_opts.salt_len);
	if (c->opts->nsec3_iterations > P53_NSEC3_ITER_MAX)
		rc = p53_err_set(c->err, P53_EINVAL, "--nsec3-iterations %u: at most %u (RFC 9276)",
				 c->opts->nsec3_iterations, P53_NSEC3_ITER_MAX);
	so_opts.iterations = (uint16_t)c->opts->nsec3_iterations;
	for (uint32_t z = 0; z < c->nzones && rc == 0; z++) {
		struct czone *zn = &c->zones[z];
		struct dnskey *keys = NULL;
		size_t nkeys = 0;
		if ((rc = dnskey_load_dir(c->opts->dnssec_keys, zn->apex, zn->apex_len, &keys,
					  &nkeys, c->err)) != 0)
			break;
		if (nkeys == 0)
			continue; /* served unsigned */
		so_opts.compact = is_compact(c->opts, zn->apex, zn->apex_len, &seen);
		so_opts.opt_out = zone_listed(c->opts->optout_zones, c->opts->noptout, zn->apex,
					      zn->apex_len, &seen_oo);
		so_opts.nsec3 =
		    so_opts.opt_out || zone_listed(c->opts->nsec3_zones, c->opts->nnsec3, zn->apex,
						   zn->apex_len, &seen3);
		if (so_opts.nsec3 && so_opts.compact) {
			char an[1024];
			name_to_text(zn->apex, an, sizeof(an));
			rc = p53_err_set(c->err, P53_EINVAL,
					 "zone %s: --compact-denial and --nsec3 exclude each other",
					 an);
			break;
		}
		for (uint32_t i = 0; i < zn->nnodes; i++) {
			const struct cnode *n = &c->nodes[zn->first_node + i];
			for (uint32_t k = 0; k < n->nrec; k++)
				if (c->recs[n->rec + k].ttl > DNSSEC_TTL_MAX)
					c->recs[n->rec + k].ttl = DNSSEC_TTL_MAX;
		}
		struct dnssec_node *dn = calloc(zn->nnodes, sizeof(*dn));
		struct dnssec_rec *dr = calloc(c->nrecs ? c->nrecs : 1, sizeof(*dr));
		struct sig_out so = {.c = c, .first_node = zn->first_node};
		size_t nr = 0;
		if (dn == NULL || dr == NULL)
			rc = p53_err_set(c->err, P53_ENOMEM, "out of memory");
		for (uint32_t i = 0; i < zn->nnodes && rc == 0; i++) {
			const struct cnode *n = &c->nodes[zn->first_node + i];
			dn[i] = (struct dnssec_node){.name = cc_name(c, n->name),
						     .name_len = n->name_len,
						     .flags = n->flags,
						     .rec = dr + nr};
			for (uint32_t k = 0; k < n->nrec; k++) {
				const struct crec *r = &c->recs[n->rec + k];
				if (r->mem)
					continue; /* the group's marker stands for it */
				dr[nr++] =
				    (struct dnssec_rec){r->type, r->rdlen, r->ttl,
							r->grp ? NULL : c->rdata.p + r->rdata};
				dn[i].nrec++;
			}
		}
		const struct crec *soa = &c->recs[zn->soa_rec];
		const uint8_t *t = c->rdata.p + soa->rdata + soa->rdlen - 4;
		uint32_t minimum = (uint32_t)t[0] << 24 | t[1] << 16 | t[2] << 8 | t[3];
		if (rc == 0)
			rc = dnssec_sign_zone(&so_opts, keys, nkeys, dn, zn->nnodes, soa->ttl,
					      soa->ttl < minimum ? soa->ttl : minimum, sig_emit,
					      &so, c->err);
		c->cur_zone = z;
		for (size_t i = 0; i < so.n && rc == 0; i++) {
			const struct sig_rec *sr = &so.recs[i];
			/* add_crec appends the owner to the names it lives in:
			 * copied first, since that may move them. */
			uint8_t owner[P53_NAME_MAX];
			size_t olen = sr->olen;
			if (sr->node == DNSSEC_NEW_NAME) {
				memcpy(owner, so.rdata.p + sr->rdata - olen, olen);
			} else {
				const struct cnode *n = &c->nodes[sr->node];
				olen = n->name_len;
				memcpy(owner, cc_name(c, n->name), olen);
			}
			rc = add_crec(c, owner, olen, sr->type, sr->ttl, so.rdata.p + sr->rdata,
				      sr->rdlen, 0, 0);
		}
		any = true;
		new_names |= so.new_names;
		free(dn);
		free(dr);
		free(so.rdata.p);
		free(so.recs);
		dnskey_free_all(keys, nkeys);
	}
	for (size_t i = 0; rc == 0 && i < c->opts->ncompact; i++)
		if (!(seen & (1ull << i)))
			rc = p53_err_set(c->err, P53_EINVAL,
					 "--compact-denial %s: no such zone with DNSSEC keys in %s",
					 c->opts->compact_zones[i], c->opts->dnssec_keys);
	for (size_t i = 0; rc == 0 && i < c->opts->nnsec3; i++)
		if (!(seen3 & (1ull << i)))
			rc = p53_err_set(c->err, P53_EINVAL,
					 "--nsec3 %s: no such zone with DNSSEC keys in %s",
					 c->opts->nsec3_zones[i], c->opts->dnssec_keys);
	for (size_t i = 0; rc == 0 && i < c->opts->noptout; i++)
		if (!(seen_oo & (1ull << i)))
			rc = p53_err_set(c->err, P53_EINVAL,
					 "--nsec3-opt-out %s: no such zone with DNSSEC keys in %s",
					 c->opts->optout_zones[i], c->opts->dnssec_keys);
	if (rc == 0 && new_names)
		rc = rebuild_nodes(c);
	else if (rc == 0 && any)
		rc = reindex_records(c);
	return rc;
}

static int r53_key_cmp(const void *x, const void *y)
{
	const struct r53_set *a = *(struct r53_set *const *)x, *b = *(struct r53_set *const *)y;
	int c = name_cmp_canonical(a->name, b->name);
	if (c)
		return c;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	return strcmp(a->setid ? a->setid : "", b->setid ? b->setid : "");
}

static void unit_vector(int32_t lat_e6, int32_t lon_e6, float *x, float *y, float *z)
{
	double la = lat_e6 / 1e6 * M_PI / 180, lo = lon_e6 / 1e6 * M_PI / 180;
	*x = (float)(cos(la) * cos(lo));
	*y = (float)(cos(la) * sin(lo));
	*z = (float)sin(la);
}

static int lower_member(struct cc *c, const struct r53_set *s, struct cmember *cm)
{
	struct snap_member *m = &cm->m;
	memset(cm, 0, sizeof(*cm));
	m->rrset = SNAP_NONE;
	m->alias = SNAP_NONE;
	m->setid = s->setid ? str_add(c, s->setid) : SNAP_NONE;
	m->health = s->health ? health_index(c, s->health) : SNAP_NONE;
	m->region = SNAP_NONE;
	m->cidr_loc = SNAP_NONE;
	m->weight = s->weight < 0 ? 0 : (uint16_t)s->weight;
	m->flags = (uint8_t)((s->failover == 1 ? MEM_PRIMARY : 0) |
			     (s->failover == 2 ? MEM_SECONDARY : 0) |
			     (s->eval_target ? MEM_EVAL_TARGET : 0) |
			     (s->multivalue == 1 ? MEM_MV_TRUE : 0) | (s->alias ? MEM_ALIAS : 0));
	if (s->ext) {
		/* An AWS resource: served from its mapped records (a plain member
		 * RRset); the alias is kept as text for export. */
		char tn[1024], t[1400];
		name_to_text(s->target, tn, sizeof(tn));
		snprintf(t, sizeof(t), "%s\t%s\t%d", s->alias_zone, tn, s->eval_target ? 1 : 0);
		uint32_t off = str_add(c, t);
		if (off == SNAP_NONE)
			return P53_ENOMEM;
		m->ext_alias = off + 1;
		m->flags &= (uint8_t) ~(MEM_ALIAS | MEM_EVAL_TARGET);
	}
	m->geo_level = s->geo_level;
	memcpy(m->continent, s->continent, 2);
	memcpy(m->country, s->country, 2);
	memcpy(m->subdiv, s->subdiv, 3);
	m->bias = (int8_t)s->bias;
	const char *reg = s->region ? s->region : s->gp_region ? s->gp_region : s->gp_lzg;
	if (reg) {
		double la = 0, lo = 0;
		char pr[64];
		snprintf(pr, sizeof(pr), "%s", reg);
		/* A Local Zone group sits at its parent region. */
		for (char *d = pr + strlen(pr); d > pr; d--)
			if ((*d == '-' || *d == 0) && (*d = 0, r53_region_coords(pr, &la, &lo)))
				break;
		m->region = str_add(c, reg);
		m->lat_e6 = (int32_t)(la * 1e6);
		m->lon_e6 = (int32_t)(lo * 1e6);
		if (s->gp_lzg)
			m->flags |= MEM_LOCALZONE;
	}
	if (s->gp_coords) {
		m->lat_e6 = s->lat_e6;
		m->lon_e6 = s->lon_e6;
		m->flags |= MEM_COORDS;
	}
	unit_vector(m->lat_e6, m->lon_e6, &m->x, &m->y, &m->z);
	if (s->cidr_loc)
		m->cidr_loc = str_add(c, s->cidr_loc);
	if (s->alias && !s->ext) {
		int64_t off = buf_add(&c->names, s->target, s->target_len);
		if (off < 0)
			return P53_ENOMEM;
		cm->target = (uint32_t)off;
		cm->target_len = (uint8_t)s->target_len;
	}
	if ((s->setid && m->setid == SNAP_NONE) || (s->health && m->health == SNAP_NONE))
		return P53_ENOMEM;
	return 0;
}

/* One policy group from the sets sharing a name and type (or a nested
 * rule's sets): the members first, contiguous, then the groups of members
 * that hold nested rules. *gi_out gets the group's index. */
static int lower_group(struct cc *c, struct r53_set *const *sets, size_t n, bool nested,
		       uint32_t *gi_out)
{
	const struct r53_set *s0 = sets[0];
	int rc;
	struct cgroup g = {.zone = c->cur_zone,
			   .name_len = (uint8_t)s0->name_len,
			   .policy = (uint8_t)s0->policy,
			   .type = s0->type,
			   .first = (uint32_t)c->nmembers,
			   .n = (uint32_t)n,
			   .cidr_coll = s0->cidr_coll ? str_add(c, s0->cidr_coll) : SNAP_NONE,
			   .nested = nested};
	int64_t off = buf_add(&c->names, s0->name, s0->name_len);
	if (off < 0 || VEC_PUSH(c->groups, c->ngroups, c->capgroups, g) != 0)
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	c->groups[c->ngroups - 1].name = (uint32_t)off;
	uint32_t gi = (uint32_t)c->ngroups;
	if (gi_out)
		*gi_out = gi - 1;
	/* A nested group has no placeholder: only its parent's member
	 * leads to it. */
	if (!nested && (rc = add_crec(c, s0->name, s0->name_len, s0->type, 0, NULL, 0, gi, 0)) != 0)
		return rc;
	for (size_t k = 0; k < n; k++) {
		const struct r53_set *s = sets[k];
		struct cmember cm;
		if (lower_member(c, s, &cm) != 0 ||
		    VEC_PUSH(c->members, c->nmembers, c->capmembers, cm) != 0)
			return p53_err_set(c->err, P53_ENOMEM, "out of memory");
		uint32_t mi = (uint32_t)c->nmembers;
		for (size_t v = 0; v < s->nvals; v++)
			if ((rc =
				 add_crec(c, s->name, s->name_len, s->type, s->has_ttl ? s->ttl : 0,
					  s->vals[v].rd, s->vals[v].len, 0, mi)) != 0)
				return rc;
	}
	for (size_t k = 0; k < n; k++) {
		if (sets[k]->nsub == 0)
			continue;
		uint32_t sub;
		if ((rc = lower_group(c, sets[k]->sub, sets[k]->nsub, true, &sub)) != 0)
			return rc;
		struct snap_member *m = &c->members[g.first + k].m;
		m->alias = sub;
		m->flags |= MEM_GROUP;
	}
	return 0;
}

/* Lowers a zone gathered as record sets into records, groups and members. */
static int lower_r53(struct cc *c, struct r53_zone *z, const char *file)
{
	int rc = r53_zone_validate(z, file, c->err);
	if (rc == 0)
		rc = r53_zone_check_refs(z, c->err);
	if (rc == 0)
		rc = r53_zone_resolve_ext(z, c->err);
	if (rc)
		return rc;
	char *dup = strdup(file);
	if (dup == NULL || VEC_PUSH(c->files, c->nfiles, c->capfiles, dup) != 0) {
		free(dup);
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	}
	c->last_file_idx = (uint32_t)(c->nfiles - 1);
	c->last_file = NULL;
	qsort(z->sets, z->nsets, sizeof(*z->sets), r53_key_cmp);
	for (size_t i = 0; i < z->nsets;) {
		size_t j = i;
		while (j < z->nsets && z->sets[j]->type == z->sets[i]->type &&
		       z->sets[j]->name_len == z->sets[i]->name_len &&
		       memcmp(z->sets[j]->name, z->sets[i]->name, z->sets[i]->name_len) == 0)
			j++;
		const struct r53_set *s0 = z->sets[i];
		if (s0->policy == R53_PLAIN) {
			for (size_t v = 0; v < s0->nvals; v++)
				if ((rc = add_crec(c, s0->name, s0->name_len, s0->type, s0->ttl,
						   s0->vals[v].rd, s0->vals[v].len, 0, 0)) != 0)
					return rc;
			i = j;
			continue;
		}
		if ((rc = lower_group(c, z->sets + i, j - i, false, NULL)) != 0)
			return rc;
		i = j;
	}
	for (size_t i = 0; i < z->ncidr; i++) {
		const struct r53_cidr_block *b = &z->cidr[i];
		struct snap_cidr sc = {.coll = str_add(c, b->coll),
				       .loc = str_add(c, b->loc),
				       .family = b->family,
				       .plen = b->plen};
		memcpy(sc.addr, b->addr, 16);
		if (sc.coll == SNAP_NONE || sc.loc == SNAP_NONE ||
		    VEC_PUSH(c->cidrs, c->ncidrs, c->capcidrs, sc) != 0)
			return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	}
	if (z->tf) {
		/* The policies and policy records as given, so export writes
		 * them rather than the sets they compiled to. */
		char zname[1100];
		name_to_text(z->apex, zname, sizeof(zname));
		if ((c->r53tf == NULL && (c->r53tf = json_object()) == NULL) ||
		    json_object_set(c->r53tf, zname, z->tf) != 0)
			return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	}
	return 0;
}

static int on_record_r53(void *ctx, const struct zparse_rr *rr, struct p53_err *err)
{
	struct r53_zone *z = ctx;
	int rc = check_class_type(rr, err);
	if (rc)
		return rc;
	return r53_zone_add_rr(z, rr, err);
}

/* ---- a large zone file read in parts ----------------------------------- */

/* zparse_file_parts gives each part's records to a compiler state of its
 * own (parts after the first: a bare one with its own arrays); they are
 * appended to the main state in order once all parts joined up. */
struct read_parts {
	struct cc *main;
	struct cc part[ZPARSE_PARTS_MAX];
	struct p53_compile_opts quiet; /* the parts' options: no progress calls */
};

static void part_reset(void *ctx, unsigned k)
{
	struct cc *c = ctx;
	if (k == 0) {
		c->nrecs = c->keep_recs;
		c->names.len = c->keep_names;
		c->rdata.len = c->keep_rdata;
	} else {
		c->nrecs = c->names.len = c->rdata.len = 0;
	}
}

static void part_free(struct cc *p)
{
	free(p->recs);
	free(p->names.p);
	free(p->rdata.p);
	for (size_t i = 0; i < p->nfiles; i++)
		free(p->files[i]);
	free(p->files);
}

/* A share of part_append's copying: the records with their offsets moved,
 * or the owner and rdata bytes. */
struct append_job {
	struct crec *out;
	const struct crec *in;
	size_t n;
	uint32_t nb, rb, file;
	uint8_t *names, *rdata;
	const uint8_t *pnames, *prdata;
	size_t nnames, nrdata;
};

static void *append_run(void *arg)
{
	struct append_job *j = arg;
	for (size_t i = 0; i < j->n; i++) {
		j->out[i] = j->in[i];
		j->out[i].name += j->nb;
		j->out[i].rdata += j->rb;
		j->out[i].file = j->file;
	}
	if (j->nnames)
		memcpy(j->names, j->pnames, j->nnames);
	if (j->nrdata)
		memcpy(j->rdata, j->prdata, j->nrdata);
	return NULL;
}

/* Appends part p's records to c, their owner and rdata bytes behind c's.
 * The copy lands on fresh pages (each zeroed by the kernel first), so it is
 * shared out: the records on one thread, the bytes on the other. */
static int part_append(struct cc *c, const struct cc *p)
{
	uint32_t map[1];
	size_t nb = c->names.len, rb = c->rdata.len;
	if (p->nrecs == 0)
		return 0;
	/* A part is one file without $INCLUDE: one file name. */
	if (p->nfiles != 1)
		return P53_EINVAL;
	if (c->nfiles && strcmp(c->files[c->last_file_idx], p->files[0]) == 0) {
		map[0] = c->last_file_idx;
	} else {
		char *dup = strdup(p->files[0]);
		if (dup == NULL || VEC_PUSH(c->files, c->nfiles, c->capfiles, dup) != 0) {
			free(dup);
			return P53_ENOMEM;
		}
		c->last_file_idx = map[0] = (uint32_t)(c->nfiles - 1);
	}
	if (buf_reserve(&c->names, p->names.len) != 0 ||
	    buf_reserve(&c->rdata, p->rdata.len) != 0 || nb + p->names.len > UINT32_MAX ||
	    rb + p->rdata.len > UINT32_MAX ||
	    vec_reserve((void **)&c->recs, &c->caprecs, sizeof(*c->recs), c->nrecs + p->nrecs))
		return P53_ENOMEM;
	struct append_job a = {.out = c->recs + c->nrecs,
			       .in = p->recs,
			       .n = p->nrecs,
			       .nb = (uint32_t)nb,
			       .rb = (uint32_t)rb,
			       .file = map[0]};
	struct append_job b = {.names = c->names.p + nb,
			       .pnames = p->names.p,
			       .nnames = p->names.len,
			       .rdata = c->rdata.p + rb,
			       .prdata = p->rdata.p,
			       .nrdata = p->rdata.len};
	run_pair(c, append_run, &a, &b);
	c->names.len += p->names.len;
	c->rdata.len += p->rdata.len;
	c->nrecs += p->nrecs;
	return 0;
}

/* Reads one zone file, in parts on two threads when the compile may use
 * them and the file allows it (zparse_file_parts). */
static int read_file_parts(struct cc *c, const char *path, const struct zparse_opts *po)
{
	if (!c->two)
		return zparse_file(path, po, on_record, c, c->err);
	struct read_parts *rp = calloc(1, sizeof(*rp));
	if (rp == NULL)
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	struct stat st;
	size_t size = stat(path, &st) == 0 ? (size_t)st.st_size : 0;
	struct zparse_parts pp = {.n = 2, .reset = part_reset};
	rp->main = c;
	rp->quiet = *c->opts;
	rp->quiet.progress = NULL;
	c->keep_recs = c->nrecs;
	c->keep_names = c->names.len;
	c->keep_rdata = c->rdata.len;
	pp.ctx[0] = c;
	int rc = 0;
	for (unsigned k = 1; k < pp.n; k++) {
		struct cc *p = &rp->part[k];
		*p = (struct cc){.err = c->err,
				 .opts = &rp->quiet,
				 .zones = c->zones,
				 .nzones = c->nzones,
				 .cur_zone = c->cur_zone};
		/* Room as for the whole zone (compile_into), for the part's
		 * share of the file. */
		size_t share = size / pp.n;
		if (share > (1u << 20) &&
		    (vec_reserve((void **)&p->recs, &p->caprecs, sizeof(*p->recs), share / 12) ||
		     buf_reserve(&p->names, share) || buf_reserve(&p->rdata, share)))
			rc = p53_err_set(c->err, P53_ENOMEM, "out of memory");
		pp.ctx[k] = p;
	}
	c->pos_scale = pp.n;
	if (rc == 0)
		rc = zparse_file_parts(path, po, on_record, &pp, c->err);
	c->pos_scale = 1;
	c->keep_recs = 0;
	c->split_files += pp.used > 1;
	for (unsigned k = 1; rc == 0 && k < pp.used; k++)
		if ((rc = part_append(c, &rp->part[k])) != 0)
			rc = p53_err_set(c->err, rc, "%s",
					 rc == P53_ENOMEM ? "out of memory (zone too large)"
							  : "a part of the file read twice");
	for (unsigned k = 1; k < pp.n; k++)
		part_free(&rp->part[k]);
	free(rp);
	return rc;
}

/* Reads one zone given as a comma-separated list of files. Zone files alone
 * take the direct path; with any JSON, everything is gathered as Route 53
 * record sets so that change batches apply to what came before. */
static int read_zone(struct cc *c, const char *paths, const struct zparse_opts *po,
		     const struct p53_compile_opts *o)
{
	char *list = strdup(paths);
	if (list == NULL)
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	bool json = false;
	char *save = NULL;
	for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save))
		json = json || r53_is_json_path(p) || r53_has_directives(p);
	strcpy(list, paths);
	int rc = 0;
	struct czone *zn = &c->zones[c->cur_zone];
	struct r53_zone z;
	if (json) {
		r53_zone_init(&z, zn->apex, zn->apex_len);
		if (o->health_checks)
			rc = r53_hc_load_file(&z.hcs, o->health_checks, c->err);
		if (rc == 0 && o->alias_map)
			rc = r53_zone_add_alias_map(&z, o->alias_map, c->err);
	}
	for (char *p = strtok_r(list, ",", &save); p && rc == 0; p = strtok_r(NULL, ",", &save)) {
		struct stat st;
		if (!json)
			rc = read_file_parts(c, p, po);
		else if (r53_is_json_path(p))
			rc = r53_zone_add_json_file(&z, p, c->err);
		else if (r53_has_directives(p)) {
			/* A zone file with $ROUTE53 lines (export --format zone):
			 * the records first, then the sets those lines hold. */
			size_t len;
			json_t *root = NULL;
			char *text = r53_take_directives(p, &len, &root, c->err);
			rc = text ? zparse_string(p, text, len, po, on_record_r53, &z, c->err)
				  : P53_EINVAL;
			if (rc == 0)
				rc = r53_zone_add_json_root(&z, p, root, c->err);
			json_decref(root);
			free(text);
		} else
			rc = zparse_file(p, po, on_record_r53, &z, c->err);
		if (stat(p, &st) == 0)
			c->bytes_before += (uint64_t)st.st_size;
	}
	if (json && rc == 0)
		rc = lower_r53(c, &z, paths);
	if (json)
		r53_zone_free(&z);
	free(list);
	return rc;
}

/* Group and member tables for the snapshot, once RRset indexes are known. */
static int layout_groups(struct cc *c, size_t node_sets, struct snap_group *groups,
			 struct snap_member *members)
{
	for (size_t i = 0; i < c->ngroups; i++) {
		const struct cgroup *g = &c->groups[i];
		uint32_t node = node_find(c, cc_name(c, g->name), g->name_len);
		if (node == SNAP_NONE)
			return P53_EINVAL;
		groups[i] = (struct snap_group){.member = g->first,
						.nmembers = (uint16_t)g->n,
						.policy = g->policy,
						.flags = g->nested ? GRP_NESTED : 0,
						.node = node,
						.cidr_coll = g->cidr_coll,
						.type = g->type};
	}
	for (size_t i = 0; i < c->nmembers; i++) {
		const struct cmember *cm = &c->members[i];
		members[i] = cm->m;
		if (cm->m.rrset != SNAP_NONE)
			members[i].rrset = (uint32_t)(node_sets + cm->m.rrset);
		if (cm->m.flags & MEM_ALIAS) {
			members[i].alias = node_find(c, cc_name(c, cm->target), cm->target_len);
			if (members[i].alias == SNAP_NONE)
				return P53_EINVAL;
		}
	}
	return 0;
}

/* ---- layout ----------------------------------------------------------- */

/* The snapshot is laid out once, in its final place: a mapping of the file
 * being written when compiling to a file (nothing is copied to be written),
 * a heap block otherwise. Every section's size is known before a byte of it
 * is written except BLOBS, known once the answers are rendered, which comes
 * last. Sections are in the file in the order of the section table. */
struct image {
	uint8_t *p;
	size_t len;  /* bytes laid out */
	size_t cap;  /* bytes allocated, or of the file */
	int fd;	     /* the file behind the mapping, or -1 */
	size_t span; /* bytes of address space mapped over the file */
	size_t hint; /* span to map at first: room the image is likely to need */
	struct snap_hdr hdr;
};

static int image_reserve(struct image *im, size_t size)
{
	if (size <= im->cap)
		return 0;
	void *p;
	if (im->fd < 0) {
		if ((p = realloc(im->p, size)) == NULL)
			return P53_ENOMEM;
		memset((uint8_t *)p + im->cap, 0, size - im->cap);
	} else {
		/* A file grown by ftruncate reads as zeros: the padding
		 * between sections needs no writing. */
		if (ftruncate(im->fd, (off_t)size) != 0)
			return P53_EIO;
		/* The mapping covers more than the file, so that growing the
		 * file seldom moves it: a move costs every page's mapping
		 * again, which on a VM with shadow page tables is a fault
		 * per page at the next touch. */
		p = im->p;
		if (size > im->span) {
			size_t span = size > im->hint ? size + size / 2 : im->hint;
			p = im->p ? mremap(im->p, im->span, span, MREMAP_MAYMOVE)
				  : mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED, im->fd, 0);
			if (p == MAP_FAILED)
				return P53_ENOMEM;
			im->span = span;
		}
	}
	im->p = p;
	im->cap = size;
	return 0;
}

static void image_release(struct image *im)
{
	if (im->fd < 0)
		free(im->p);
	else if (im->p)
		munmap(im->p, im->span);
	im->p = NULL;
	im->cap = im->span = 0;
}

/* Places section id of len bytes at the next aligned offset. */
static uint64_t sect_place(struct image *im, uint32_t id, size_t len)
{
	uint64_t off = (im->len + SNAP_ALIGN - 1) / SNAP_ALIGN * SNAP_ALIGN;
	im->hdr.sect[id - 1] = (struct snap_sect){.id = id, .off = off, .len = len};
	im->len = off + len;
	return off;
}

static void *sect_ptr(struct image *im, uint32_t id)
{
	return im->p + im->hdr.sect[id - 1].off;
}

static void sect_put(struct image *im, uint32_t id, const void *data)
{
	if (im->hdr.sect[id - 1].len)
		memcpy(sect_ptr(im, id), data, im->hdr.sect[id - 1].len);
}

/* The header as it stands, so the engine can read the image. */
static void image_header(struct image *im)
{
	im->hdr.size = im->len;
	memcpy(im->p, &im->hdr, sizeof(im->hdr));
}

/* Does the node's first RRset's answer entry answer ANY too (ANS_ANY)? */
static bool any_shared(const struct snap_rrset *sets, const struct snap_node *sn)
{
	return sn->cut == SNAP_NONE && sn->nrrsets && sets[sn->rrset].type != RR_DS;
}

/* The query types each node gets a pre-rendered answer for: every type it
 * holds, ANY, A and AAAA behind a CNAME, DS at a cut or an apex (which may
 * be answered from the parent zone, not as the apex answers other absent
 * types). Returns the count. */
static unsigned answer_types(const struct snap_rrset *sets, const struct snap_node *sn, uint32_t i,
			     uint16_t types[64])
{
	unsigned nt = 0;
	if (sn->flags & NODE_NSEC3)
		return 0; /* no lookup finds it */
	if (sn->flags & NODE_PARENT)
		return 0; /* reached by no query name: DS is asked of the child's apex */
	if (sn->cut != SNAP_NONE) {
		if (sn->cut == i)
			types[nt++] = RR_DS;
		return nt;
	}
	bool ds = false;
	for (uint16_t k = 0; k < sn->nrrsets; k++) {
		ds = ds || sets[sn->rrset + k].type == RR_DS;
		if (nt < 60)
			types[nt++] = sets[sn->rrset + k].type;
	}
	/* ANY is answered with the first RRset (RFC 8482), the answer to
	 * that RRset's type: its entry says so (ANS_ANY, any_shared), except
	 * for DS, which an apex may answer from the parent. */
	if (sn->nrrsets && !any_shared(sets, sn))
		types[nt++] = RR_ANY;
	if (sn->flags & NODE_CNAME) {
		types[nt++] = RR_A;
		types[nt++] = RR_AAAA;
	}
	if ((sn->flags & NODE_APEX) && !(sn->flags & NODE_CNAME) && !ds)
		types[nt++] = RR_DS;
	return nt;
}

/* What the node walk of lay_records writes, counted: RRsets of nodes, RRsets
 * of policy-group members, owner and rdata bytes. */
struct lay_count {
	size_t sets, msets, names, rdata;
};

/* Counts nodes [0, n), and in *at what the nodes before split hold (where
 * the walk of the second part starts). */
static void count_records(const struct cc *c, uint32_t split, struct lay_count *all,
			  struct lay_count *at)
{
	struct lay_count k = {0};
	for (uint32_t i = 0; i < c->nnodes; i++) {
		if (i == split)
			*at = k;
		const struct cnode *cn = &c->nodes[i];
		k.names += cn->name_len;
		for (uint32_t j = 0; j < cn->nrec; j++) {
			const struct crec *r = &c->recs[cn->rec + j];
			const struct crec *p = j ? r - 1 : NULL;
			if (r->grp)
				k.sets++;
			else if (r->mem && (p == NULL || p->mem != r->mem || p->type != r->type))
				k.msets++;
			else if (!r->mem && (p == NULL || p->type != r->type))
				k.sets++;
			if (!r->grp)
				k.rdata += 2u + r->rdlen;
		}
	}
	if (split >= c->nnodes)
		*at = k;
	*all = k;
}

static uint8_t *put_rdata(uint8_t *o, const struct cc *c, const struct crec *x)
{
	o[0] = (uint8_t)(x->rdlen >> 8);
	o[1] = (uint8_t)x->rdlen;
	memcpy(o + 2, c->rdata.p + x->rdata, x->rdlen);
	return o + 2 + x->rdlen;
}

/* One part of the node walk: nodes [from, to), writing from the counts
 * in at. */
struct lay_part {
	struct cc *c;
	struct image *im;
	size_t node_sets; /* RRsets of all nodes: member RRsets go after them */
	uint32_t from, to;
	struct lay_count at;
	size_t nans; /* answer entries of the part's nodes */
};

/* Nodes, names, RRsets and rdata, written in place in one walk over the
 * nodes; member RRsets of policy groups go after every node's (snapfmt.h).
 * Each node's answer range is assigned on the way, counted from the part's
 * first node. */
static void *lay_records(void *arg)
{
	struct lay_part *lp = arg;
	struct cc *c = lp->c;
	struct image *im = lp->im;
	size_t node_sets = lp->node_sets;
	struct snap_node *nodes = sect_ptr(im, SECT_NODES);
	struct snap_rrset *sets = sect_ptr(im, SECT_RRSETS);
	uint8_t *names = sect_ptr(im, SECT_NAMES), *rd0 = sect_ptr(im, SECT_RDATA);
	uint8_t *rd = rd0 + lp->at.rdata;
	size_t nsets = lp->at.sets, nmsets = lp->at.msets, nname = lp->at.names, nans = 0;
	for (uint32_t i = lp->from; i < lp->to; i++) {
		struct cnode *cn = &c->nodes[i];
		const uint8_t *nm = cc_name(c, cn->name);
		/* Names and rdata lie in the order of the input, records in
		 * canonical order: on a large zone the owner and the rdata of
		 * each node are cache misses, fetched some nodes ahead. */
		if (i + 8 < lp->to) {
			const struct cnode *a = &c->nodes[i + 8];
			__builtin_prefetch(cc_name(c, a->name));
			if (a->nrec)
				__builtin_prefetch(c->rdata.p + c->recs[a->rec].rdata);
		}
		memcpy(names + nname, nm, cn->name_len);
		cn->rrset = (uint32_t)nsets;
		for (uint32_t k = 0; k < cn->nrec;) {
			const struct crec *r = &c->recs[cn->rec + k];
			if (r->grp) {
				/* A policy group: a placeholder here, the members'
				 * RRsets after every node's. */
				sets[nsets++] =
				    (struct snap_rrset){.type = r->type, .rdata = r->grp - 1};
				for (k++; k < cn->nrec && c->recs[cn->rec + k].type == r->type;) {
					const struct crec *m = &c->recs[cn->rec + k];
					if (m->mem == 0) { /* cannot happen: validated */
						k++;
						continue;
					}
					struct snap_rrset ms = {.type = m->type,
								.ttl = m->ttl,
								.rdata = (uint32_t)(rd - rd0)};
					for (; k < cn->nrec && c->recs[cn->rec + k].mem == m->mem &&
					       c->recs[cn->rec + k].type == r->type;
					     k++) {
						rd = put_rdata(rd, c, &c->recs[cn->rec + k]);
						ms.count++;
					}
					ms.len = (uint32_t)(rd - rd0) - ms.rdata;
					c->members[m->mem - 1].m.rrset = (uint32_t)nmsets;
					sets[node_sets + nmsets++] = ms;
				}
				continue;
			}
			struct snap_rrset s = {
			    .type = r->type, .ttl = r->ttl, .rdata = (uint32_t)(rd - rd0)};
			for (; k < cn->nrec && c->recs[cn->rec + k].type == s.type; k++) {
				rd = put_rdata(rd, c, &c->recs[cn->rec + k]);
				s.count++;
			}
			s.len = (uint32_t)(rd - rd0) - s.rdata;
			sets[nsets++] = s;
		}
		cn->nrrsets = (uint32_t)nsets - cn->rrset;
		struct snap_node *sn = &nodes[i];
		*sn = (struct snap_node){
		    .name = (uint32_t)nname,
		    .name_len = cn->name_len,
		    .labels = (uint8_t)name_labels(nm),
		    .flags = cn->flags,
		    .zone = cn->zone,
		    .cut = cn->cut,
		    .wild = cn->wild,
		    .rrset = cn->rrset,
		    .nrrsets = (uint16_t)cn->nrrsets,
		};
		nname += cn->name_len;
		uint16_t types[64];
		cn->ans = (uint32_t)nans;
		cn->nans = answer_types(sets, sn, i, types);
		nans += cn->nans;
	}
	lp->nans = nans;
	return NULL;
}

/* Each node's name hash, for a part of the nodes. */
struct hash_part {
	const struct snap_node *nodes;
	const uint8_t *names;
	uint64_t *a;
	size_t from, to;
};

static void *hash_part_run(void *arg)
{
	struct hash_part *h = arg;
	for (size_t i = h->from; i < h->to; i++)
		h->a[i] = (uint64_t)name_hash(h->names + h->nodes[i].name, h->nodes[i].name_len)
			      << 32 |
			  i;
	return NULL;
}

/* The name index, filled in slot order: home slots grow with the hash
 * (snapfmt.h), so the (hash, node) pairs are sorted by hash with a radix
 * sort first and the table is written front to back instead of at random
 * (a cache miss per node on large zones). */
static int lay_hash(struct cc *c, struct image *im, uint32_t slots)
{
	struct snap_hash_hdr *hh = sect_ptr(im, SECT_HASH);
	struct snap_hash_ent *ht = (struct snap_hash_ent *)(hh + 1);
	const struct snap_node *nodes = sect_ptr(im, SECT_NODES);
	const uint8_t *names = sect_ptr(im, SECT_NAMES);
	size_t n = c->nnodes;
	hh->slots = slots;
	/* The table is new bytes of the image: zeros already (image_reserve). */
	uint64_t *a = big_hint(malloc((n ? n : 1) * sizeof(*a)), n * sizeof(*a));
	uint64_t *b = big_hint(malloc((n ? n : 1) * sizeof(*b)), n * sizeof(*b));
	if (a == NULL || b == NULL) {
		free(a);
		free(b);
		return P53_ENOMEM;
	}
	/* hash << 32 | node. The parent's side of a served child's cut is
	 * not indexed: its name is the child's apex. */
	struct hash_part pa = {nodes, names, a, 0, n / 2}, pb = {nodes, names, a, n / 2, n};
	run_pair(c, hash_part_run, &pa, &pb);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (!(nodes[(uint32_t)a[i]].flags & NODE_PARENT))
			a[m++] = a[i];
	n = m;
	for (unsigned shift = 0; shift < 32; shift += 11) {
		size_t cnt[2048] = {0};
		for (size_t i = 0; i < n; i++)
			cnt[(a[i] >> (32 + shift)) & 2047]++;
		for (size_t i = 0, sum = 0; i < 2048; i++) {
			size_t t = cnt[i];
			cnt[i] = sum;
			sum += t;
		}
		for (size_t i = 0; i < n; i++)
			b[cnt[(a[i] >> (32 + shift)) & 2047]++] = a[i];
		uint64_t *t = a;
		a = b;
		b = t;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t h = (uint32_t)(a[i] >> 32), k = (uint32_t)(((uint64_t)h * slots) >> 32);
		while (ht[k].node)
			k = k + 1 == slots ? 0 : k + 1;
		ht[k] = (struct snap_hash_ent){h, (uint32_t)a[i] + 1};
	}
	free(a);
	free(b);
	return 0;
}

/* Now, or SOURCE_DATE_EPOCH when set (reproducible-builds.org): two
 * compiles of the same zones are then the same bytes. */
static uint64_t created_time(void)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	char *end;
	errno = 0;
	unsigned long long t = e && *e ? strtoull(e, &end, 10) : 0;
	if (e && *e && errno == 0 && *end == 0)
		return t;
	return (uint64_t)time(NULL);
}

/* Lays out everything but the pre-rendered answers: BLOBS is placed empty
 * at the end, ANS sized for every node's answer types (zero until
 * rendered); nodes point at no answers yet, so the engine renders from the
 * records alone. */
static int lay_image(struct cc *c, const struct p53_compile_opts *o, struct image *im)
{
	memcpy(im->hdr.magic, SNAP_MAGIC, sizeof(SNAP_MAGIC));
	im->hdr.version = SNAP_VERSION;
	im->hdr.nsect = SECT__MAX;
	im->hdr.serial = o->serial ? o->serial : (uint64_t)time(NULL);
	im->hdr.created = created_time();
	im->len = sizeof(im->hdr);
	/* The node walk in two parts, each from its own counts: the bytes
	 * are those of one walk. */
	uint32_t split = c->nnodes < 65536 ? (uint32_t)c->nnodes : (uint32_t)c->nnodes / 2;
	struct lay_count all, at;
	count_records(c, split, &all, &at);
	size_t nsets = all.sets, nmsets = all.msets, names = all.names, rdata = all.rdata;
	if (rdata > UINT32_MAX || names > UINT32_MAX)
		return p53_err_set(c->err, P53_ERANGE, "zones too large for one snapshot");
	/* Two thirds full: probes stay within a cache line or two (the
	 * loader allows up to three quarters). */
	size_t hsize = (size_t)c->nnodes + c->nnodes / 2 + 16;
	if (hsize > UINT32_MAX)
		return p53_err_set(c->err, P53_ERANGE, "zones too large for one snapshot");
	sect_place(im, SECT_ZONES, c->nzones * sizeof(struct snap_zone));
	sect_place(im, SECT_NODES, c->nnodes * sizeof(struct snap_node));
	sect_place(im, SECT_RRSETS, (nsets + nmsets) * sizeof(struct snap_rrset));
	sect_place(im, SECT_HASH,
		   sizeof(struct snap_hash_hdr) + hsize * sizeof(struct snap_hash_ent));
	sect_place(im, SECT_NAMES, names);
	sect_place(im, SECT_RDATA, rdata);
	uint64_t ans_at = sect_place(im, SECT_ANS, 0);
	/* Sized below, once the nodes' answer types are known; what comes
	 * after moves with it. */
	size_t before_ans = im->len;
	int rc = image_reserve(im, before_ans);
	if (rc)
		return p53_err_set(c->err, rc, "cannot lay out the snapshot: %s",
				   rc == P53_EIO ? strerror(errno) : "out of memory");
	for (size_t i = 0; i < c->nmembers; i++)
		c->members[i].m.rrset = SNAP_NONE;
	struct lay_part lo = {c, im, nsets, 0, split, {0}, 0};
	struct lay_part hi = {c, im, nsets, split, (uint32_t)c->nnodes, at, 0};
	run_pair(c, lay_records, &lo, &hi);
	for (uint32_t i = split; i < c->nnodes; i++)
		c->nodes[i].ans += (uint32_t)lo.nans;
	size_t nans = lo.nans + hi.nans;
	struct snap_group *groups = calloc(c->ngroups ? c->ngroups : 1, sizeof(*groups));
	struct snap_member *members = calloc(c->nmembers ? c->nmembers : 1, sizeof(*members));
	struct snap_zone *zones = calloc(c->nzones, sizeof(*zones));
	char *tftext = c->r53tf ? json_dumps(c->r53tf, JSON_COMPACT) : NULL;
	rc = P53_ENOMEM;
	if (groups == NULL || members == NULL || zones == NULL || (c->r53tf && tftext == NULL))
		goto out;
	if ((rc = layout_groups(c, nsets, groups, members)) != 0)
		goto out;
	const struct snap_node *nodes = sect_ptr(im, SECT_NODES);
	const struct snap_rrset *sets = sect_ptr(im, SECT_RRSETS);
	for (size_t z = 0; z < c->nzones; z++) {
		const struct czone *zn = &c->zones[z];
		const struct cnode *apex = &c->nodes[zn->apex_node];
		const struct crec *soa = &c->recs[zn->soa_rec];
		uint32_t soa_set = apex->rrset;
		while (sets[soa_set].type != RR_SOA)
			soa_set++;
		/* SOA rdata ends with serial, refresh, retry, expire, minimum. */
		const uint8_t *t = c->rdata.p + soa->rdata + soa->rdlen - 20;
		uint32_t serial = (uint32_t)t[0] << 24 | t[1] << 16 | t[2] << 8 | t[3];
		uint32_t minimum = (uint32_t)t[16] << 24 | t[17] << 16 | t[18] << 8 | t[19];
		zones[z] = (struct snap_zone){
		    .name = nodes[zn->apex_node].name,
		    .apex = zn->apex_node,
		    .soa = soa_set,
		    .serial = serial,
		    .neg_ttl = soa->ttl < minimum ? soa->ttl : minimum,
		    .nodes = zn->nnodes,
		};
	}
	sect_put(im, SECT_ZONES, zones);
	if ((rc = lay_hash(c, im, (uint32_t)hsize)) != 0)
		goto out;
	/* ANS, then the Route 53 and geo sections, then BLOBS. */
	im->len = ans_at;
	sect_place(im, SECT_ANS, o->no_prerender ? 0 : nans * sizeof(struct snap_ans));
	const struct {
		uint32_t id;
		const void *p;
		size_t len;
	} rest[] = {
	    {SECT_GROUPS, groups, c->ngroups * sizeof(*groups)},
	    {SECT_MEMBERS, members, c->nmembers * sizeof(*members)},
	    {SECT_STRINGS, c->strings.p, c->strings.len},
	    {SECT_HCHECKS, c->hchecks, c->nhchecks * sizeof(uint32_t)},
	    {SECT_GEO4, c->geo.v4, c->geo.n4 * sizeof(struct snap_geo4)},
	    {SECT_GEO6, c->geo.v6, c->geo.n6 * sizeof(struct snap_geo6)},
	    {SECT_GEOLOC, c->geo.locs, c->geo.nlocs * sizeof(struct snap_geoloc)},
	    {SECT_CIDR, c->cidrs, c->ncidrs * sizeof(struct snap_cidr)},
	    {SECT_LAT4, c->lat.v4, c->lat.n4 * sizeof(struct snap_geo4)},
	    {SECT_LAT6, c->lat.v6, c->lat.n6 * sizeof(struct snap_geo6)},
	    {SECT_LATROW, c->lat.rows, c->lat.nrows * sizeof(struct snap_latrow)},
	    {SECT_LATENT, c->latents, c->lat.nents * sizeof(struct snap_latent)},
	    {SECT_R53TF, tftext, tftext ? strlen(tftext) + 1 : 0},
	};
	for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
		sect_place(im, rest[i].id, rest[i].len);
	/* DNSSEC sections stay empty until add_dnssec places them. */
	sect_place(im, SECT_NODESEC, 0);
	sect_place(im, SECT_NSEC3Z, 0);
	sect_place(im, SECT_NSEC3, 0);
	sect_place(im, SECT_NODESEC3, 0);
	sect_place(im, SECT_ANSDO, 0);
	sect_place(im, SECT_DOBLOBS, 0);
	sect_place(im, SECT_BLOBS, 0);
	if ((rc = image_reserve(im, im->len)) != 0)
		goto out;
	for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
		sect_put(im, rest[i].id, rest[i].p);
	image_header(im);
	rc = 0;
out:
	free(groups);
	free(members);
	free(zones);
	free(tftext);
	return rc ? p53_err_set(c->err, rc, "%s",
				rc == P53_EINVAL ? "policy group or alias target without a node"
						 : "out of memory")
		  : 0;
}

/* A type the node does not hold, to render the answer every absent type
 * shares. The private-use range is tried first; zones may use it too. */
static uint16_t absent_type(const struct p53_snapshot *s, const struct snap_node *n)
{
	uint16_t t = 65280;
	for (uint16_t k = 0; k < n->nrrsets; k++)
		if (s->rrsets[n->rrset + k].type == t) {
			t++;
			k = (uint16_t)-1; /* start over with the next candidate */
		}
	return t;
}

/* Identical blobs are stored once, as far as a cache of recent blobs finds
 * them: the answer for absent types (NODATA with the SOA) depends only on
 * the shape of the name, so most nodes of a zone share a handful of them,
 * and ANY at a node with one RRset repeats that RRset's answer. The cache is
 * direct-mapped and small, so it stays in the CPU's caches (a table of every
 * blob of a large zone costs a cache miss per answer); a duplicate it does
 * not find is stored twice, which changes no answer. */
struct blobent {
	uint32_t hash;
	uint32_t off; /* blob offset + 1; 0 = empty */
};

#define BLOBCACHE_SLOTS (1u << 16)

struct blobtab {
	struct blobent *e; /* mask + 1 entries */
	uint32_t mask;
};

/* A part puts at most one blob per answer and one per node: eight slots
 * per blob (up to BLOBCACHE_SLOTS) find the duplicates a larger cache
 * would, and a small zone's compile (the API, --watch-dir) then clears a
 * few kilobytes instead of mapping, faulting in and unmapping 512 KiB. */
static uint32_t blobtab_slots(const struct cc *c, uint32_t from, uint32_t to)
{
	if (from >= to)
		return 64;
	const struct cnode *a = &c->nodes[from], *z = &c->nodes[to - 1];
	uint64_t most = (uint64_t)z->ans + z->nans - a->ans + (to - from);
	uint32_t n = 64;
	while (n < BLOBCACHE_SLOTS && n < 8 * most)
		n <<= 1;
	return n;
}

/* Eight bytes at a time: a blob is hashed once per rendered answer. */
static uint32_t blob_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ull;
	return (uint32_t)(h ^ h >> 32);
}

/* Returns the offset of a blob equal to p[0..n) in blobs, adding it first
 * when the cache knows none; -1 when out of memory. */
static int64_t blob_put(struct blobtab *t, struct buf *blobs, const uint8_t *p, size_t n)
{
	if (t->e == NULL && (t->e = calloc((size_t)t->mask + 1, sizeof(*t->e))) == NULL)
		return -1;
	uint32_t h = blob_hash(p, n);
	struct blobent *e = &t->e[h & t->mask];
	/* A blob starts with its own length and counts, so equal bytes over
	 * n mean the same blob. */
	if (e->off && e->hash == h && blobs->len - (e->off - 1) >= n &&
	    memcmp(blobs->p + e->off - 1, p, n) == 0)
		return e->off - 1;
	int64_t off;
	if (buf_align(blobs, 4) < 0 || (off = buf_add(blobs, p, n)) < 0 || off >= UINT32_MAX)
		return -1;
	*e = (struct blobent){h, (uint32_t)off + 1};
	return off;
}

struct prerender_part {
	struct cc *c;
	const struct p53_snapshot *s;
	struct snap_ans *ans; /* the image's ANS section */
	uint32_t from, to;    /* nodes [from, to) */
	struct buf blobs;     /* offsets local to the part */
	int rc;
};

/* A CNAME node's answers for A and AAAA follow it to its target: on a large
 * zone the target's index slot, node, name, RRsets and rdata are each a
 * cache miss, one after the other, and cost more than the rendering. They
 * are fetched in stages over the nodes ahead (the slot 16 nodes ahead, the
 * node 8 ahead, its name and RRsets 4 ahead, its first rdata 2 ahead), so
 * the misses of several nodes overlap. */
#define FETCH_RING 32 /* > the farthest stage */

struct fetch_ring {
	uint32_t hash[FETCH_RING];
	bool on[FETCH_RING];
};

static void fetch_target(const struct p53_snapshot *s, struct fetch_ring *f, uint32_t j)
{
	const struct snap_node *n = &s->nodes[j];
	uint32_t r = j % FETCH_RING;
	f->on[r] = false;
	if (!(n->flags & NODE_CNAME))
		return;
	for (uint16_t k = 0; k < n->nrrsets; k++) {
		const struct snap_rrset *set = &s->rrsets[n->rrset + k];
		if (set->type != RR_CNAME || set->count == 0)
			continue;
		uint8_t t[P53_NAME_MAX];
		const uint8_t *rd = s->rdata + set->rdata + 2;
		size_t len = name_len(rd);
		memcpy(t, rd, len);
		name_lower(t, len);
		f->hash[r] = name_hash(t, len);
		f->on[r] = true;
		__builtin_prefetch(&s->ht[snap_home(s, f->hash[r])]);
		return;
	}
}

static const struct snap_node *fetched_node(const struct p53_snapshot *s,
					    const struct fetch_ring *f, uint32_t j)
{
	uint32_t r = j % FETCH_RING;
	if (!f->on[r])
		return NULL;
	const struct snap_hash_ent *e = &s->ht[snap_home(s, f->hash[r])];
	return e->node && e->hash == f->hash[r] ? &s->nodes[e->node - 1] : NULL;
}

static void fetch_stages(const struct p53_snapshot *s, struct fetch_ring *f, uint32_t i,
			 uint32_t to)
{
	const struct snap_node *n;
	if (i + 16 < to)
		fetch_target(s, f, i + 16);
	if (i + 8 < to && (n = fetched_node(s, f, i + 8)) != NULL)
		__builtin_prefetch(n);
	if (i + 4 < to && (n = fetched_node(s, f, i + 4)) != NULL) {
		__builtin_prefetch(s->names + n->name);
		__builtin_prefetch(&s->rrsets[n->rrset]);
	}
	if (i + 2 < to && (n = fetched_node(s, f, i + 2)) != NULL && n->nrrsets)
		__builtin_prefetch(s->rdata + s->rrsets[n->rrset].rdata);
}

/* Asks the engine for every answer of the part's nodes that depends only on
 * name and type. */
static int prerender_range(struct prerender_part *p)
{
	enum { BLOB_CAP = 65536 + 16 + 8 * 128 };
	struct cc *c = p->c;
	const struct p53_snapshot *s = p->s;
	uint8_t *tmp = malloc(BLOB_CAP);
	struct blobtab bt = {NULL, blobtab_slots(c, p->from, p->to) - 1};
	/* Blobs take some 80 bytes per node on ordinary zones. */
	if (tmp == NULL || buf_reserve(&p->blobs, (size_t)(p->to - p->from) * 160) != 0) {
		free(tmp);
		return P53_ENOMEM;
	}
	struct fetch_ring ring;
	for (uint32_t j = p->from; j < p->from + 16 && j < p->to; j++)
		fetch_target(s, &ring, j);
	for (uint32_t i = p->from; i < p->to; i++) {
		struct cnode *cn = &c->nodes[i];
		const struct snap_node *sn = &s->nodes[i];
		uint16_t types[64];
		fetch_stages(s, &ring, i, p->to);
		unsigned nt = answer_types(s->rrsets, sn, i, types);
		struct snap_ans *ans = p->ans + cn->ans;
		for (unsigned k = 0; k < nt; k++) {
			size_t n = answer_prerender(s, i, types[k], tmp, BLOB_CAP);
			if (n == 0) {
				/* Decided per query (a routing policy on the way,
				 * or too large): the other-types blob must not
				 * answer for it. */
				ans[k] = (struct snap_ans){.qtype = types[k], .flags = ANS_DYNAMIC};
				continue;
			}
			int64_t off = blob_put(&bt, &p->blobs, tmp, n);
			if (off < 0)
				goto nomem;
			ans[k] = (struct snap_ans){.qtype = types[k], .blob = (uint32_t)off};
		}
		/* types[0] is the first RRset's type: the same plan, the same
		 * bytes as ANY's. */
		if (nt && any_shared(s->rrsets, sn))
			ans[0].flags |= ANS_ANY;
		/* Other types: a CNAME's answer depends on the target's type,
		 * so only non-CNAME nodes have one answer for all the rest. */
		cn->other_blob = 0;
		/* Empty non-terminals are rendered per query: an ip6.arpa zone
		 * has some twenty of them per record, and a blob each would make
		 * the snapshot grow tenfold for answers nobody asks for. */
		if (!(sn->flags & (NODE_CNAME | NODE_ENT | NODE_NSEC3 | NODE_PARENT))) {
			size_t n = answer_prerender(s, i, absent_type(s, sn), tmp, BLOB_CAP);
			int64_t off;
			if (n && (off = blob_put(&bt, &p->blobs, tmp, n)) < 0)
				goto nomem;
			if (n)
				cn->other_blob = (uint32_t)off + 1;
		}
	}
	free(tmp);
	free(bt.e);
	return 0;
nomem:
	free(tmp);
	free(bt.e);
	return P53_ENOMEM;
}

static void *prerender_run(void *arg)
{
	struct prerender_part *p = arg;
	p->rc = prerender_range(p);
	return NULL;
}

/* The nodes learn their answers, a part of the nodes per thread; the second
 * part's blobs are copied behind the first's and its offsets moved by as
 * much. */
struct prerender_fin {
	struct cc *c;
	struct snap_ans *ans;
	struct snap_node *nodes;
	uint32_t from, to, shift; /* nodes [from, to); blob offsets + shift */
	uint8_t *dst;		  /* with src[0, len): a share of the copy */
	const uint8_t *src;
	size_t len;
};

static void *prerender_fin_run(void *arg)
{
	struct prerender_fin *f = arg;
	if (f->len)
		memcpy(f->dst, f->src, f->len);
	for (uint32_t i = f->from; i < f->to; i++) {
		struct cnode *cn = &f->c->nodes[i];
		if (f->shift) {
			for (uint32_t k = 0; k < cn->nans; k++)
				if (!(f->ans[cn->ans + k].flags & ANS_DYNAMIC))
					f->ans[cn->ans + k].blob += f->shift;
			if (cn->other_blob)
				cn->other_blob += f->shift;
		}
		f->nodes[i].ans = cn->ans;
		f->nodes[i].nans = (uint16_t)cn->nans;
		f->nodes[i].other_blob = cn->other_blob;
	}
	return NULL;
}

/* Renders every node's answers from the image as laid out, writing ANS in
 * place, and adds BLOBS at the end. Pre-rendering is independent per node
 * and the engine only reads the image, so the nodes are split between two
 * threads; the second part's blobs then go behind the first's. The nodes
 * learn their answers only at the end, so the engine never reads an answer
 * while answers are being rendered.
 *
 * Fresh memory is dear here (each page zeroed, on a VM faulted in by the host
 * too; at 10M records the blobs are a third of the snapshot): when the image
 * is a file mapping, the first part renders straight into its place there,
 * and the second into spare, memory the compiler used before and no longer
 * needs (it is freed here). */
static int prerender(struct cc *c, struct image *im, struct buf spare)
{
	struct p53_snapshot view = {.base = im->p, .size = im->len};
	int rc = snap_map_views(&view, c->err);
	if (rc) {
		buf_free(&spare);
		return rc;
	}
	uint32_t n = (uint32_t)c->nnodes, half = n < 4096 ? n : n / 2;
	struct snap_ans *ans = sect_ptr(im, SECT_ANS);
	struct prerender_part lo = {.c = c, .s = &view, .ans = ans, .from = 0, .to = half};
	struct prerender_part hi = {.c = c, .s = &view, .ans = ans, .from = half, .to = n};
	/* BLOBS comes last; the file is grown over the whole mapping (the
	 * untouched end is cut off when the file is written), so the mapping
	 * does not move while the parts read the image. */
	im->len = im->hdr.sect[SECT_BLOBS - 1].off;
	uint64_t boff = sect_place(im, SECT_BLOBS, 0);
	if (im->fd >= 0 && im->span > boff + (64u << 10) && (rc = image_reserve(im, im->span)) == 0)
		lo.blobs = (struct buf){.p = im->p + boff, .cap = im->span - boff, .lent = true};
	rc = 0;
	hi.blobs = spare;
	run_pair(c, prerender_run, &lo, &hi);
	rc = lo.rc ? lo.rc : hi.rc;
	size_t base = (lo.blobs.len + 3) & ~(size_t)3, total = base + hi.blobs.len;
	if (rc == 0 && total > UINT32_MAX)
		rc = P53_ERANGE;
	if (rc == 0) {
		sect_place(im, SECT_BLOBS, total);
		im->len = (im->len + SNAP_ALIGN - 1) / SNAP_ALIGN * SNAP_ALIGN;
		rc = image_reserve(im, im->len);
	}
	if (rc == 0) {
		if (!lo.blobs.lent && lo.blobs.len)
			memcpy(im->p + boff, lo.blobs.p, lo.blobs.len);
		/* A lent window's padding before the second part may hold
		 * nothing but zeros: the file's tail was never written. */
		ans = sect_ptr(im, SECT_ANS);
		struct snap_node *nodes = sect_ptr(im, SECT_NODES);
		size_t cut = hi.blobs.len / 2;
		struct prerender_fin f0 = {c,	       ans, nodes, 0, half, 0, im->p + boff + base,
					   hi.blobs.p, cut};
		struct prerender_fin f1 = {c,
					   ans,
					   nodes,
					   half,
					   n,
					   (uint32_t)base,
					   im->p + boff + base + cut,
					   hi.blobs.p + cut,
					   hi.blobs.len - cut};
		run_pair(c, prerender_fin_run, &f0, &f1);
	}
	buf_free(&lo.blobs);
	buf_free(&hi.blobs);
	if (rc)
		return p53_err_set(c->err, rc, "%s",
				   rc == P53_ERANGE ? "pre-rendered answers exceed 4 GB"
				   : rc == P53_EIO  ? strerror(errno)
						    : "out of memory");
	return 0;
}

static void cc_free(struct cc *c)
{
	free(c->spare.p);
	free(c->names.p);
	free(c->rdata.p);
	free(c->recs);
	free(c->nodes);
	free(c->zones);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	free(c->groups);
	free(c->members);
	free(c->strings.p);
	free(c->hchecks);
	free(c->cidrs);
	r53_geo_free(&c->geo);
	r53_lat_free(&c->lat);
	free(c->latents);
	json_decref(c->r53tf);
	r53_regions_reset();
}

/* Compiles into im, laid out and sealed, and verified as the loader
 * would. */
/* The DNSSEC sections (dnssec.c) after everything else, once the image is
 * whole: NODESEC first, since rendering the DO=1 answers reads it. Nothing
 * to do for zones without signatures. */
static int add_dnssec(struct cc *c, const struct p53_compile_opts *o, struct image *im)
{
	struct p53_snapshot v = {.base = im->p, .size = im->len};
	int rc = snap_map_views(&v, c->err);
	if (rc || !dnssec_present(&v))
		return rc;
	struct snap_nodesec *ns;
	uint32_t *ansdo = NULL;
	uint8_t *blobs = NULL;
	size_t nblobs = 0, nnodes = v.nnodes, nans = v.nans;
	bool *compact = calloc(v.nzones ? v.nzones : 1, sizeof(*compact));
	if (compact == NULL)
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	for (uint32_t z = 0; z < v.nzones; z++) {
		const uint8_t *apex = v.names + v.zones[z].name;
		compact[z] = is_compact(o, apex, name_len(apex), NULL);
	}
	rc = dnssec_nodesec(&v, compact, &ns);
	free(compact);
	if (rc != 0)
		return p53_err_set(c->err, rc, "out of memory");
	struct snap_nsec3zone *n3z;
	struct snap_nsec3 *n3e;
	struct snap_nodesec3 *n3n;
	size_t nn3z, nn3e;
	if ((rc = dnssec_nsec3(&v, &n3z, &nn3z, &n3e, &nn3e, &n3n, c->err)) != 0) {
		free(ns);
		return rc;
	}
	sect_place(im, SECT_NODESEC, nnodes * sizeof(*ns));
	sect_place(im, SECT_NSEC3Z, nn3z * sizeof(*n3z));
	sect_place(im, SECT_NSEC3, nn3e * sizeof(*n3e));
	sect_place(im, SECT_NODESEC3, nn3z ? nnodes * sizeof(*n3n) : 0);
	if ((rc = image_reserve(im, im->len)) == 0) {
		sect_put(im, SECT_NODESEC, ns);
		sect_put(im, SECT_NSEC3Z, n3z);
		sect_put(im, SECT_NSEC3, n3e);
		sect_put(im, SECT_NODESEC3, n3n);
		image_header(im);
	}
	free(ns);
	free(n3z);
	free(n3e);
	free(n3n);
	if (rc == 0 && !o->no_prerender && nans) {
		v = (struct p53_snapshot){.base = im->p, .size = im->len};
		if ((rc = snap_map_views(&v, c->err)) != 0)
			return rc;
		rc = dnssec_do_answers(&v, sect_ptr(im, SECT_NODESEC), &ansdo, &blobs, &nblobs);
		if (rc == 0) {
			sect_place(im, SECT_ANSDO, nans * sizeof(*ansdo));
			sect_place(im, SECT_DOBLOBS, nblobs);
			rc = image_reserve(im, im->len);
		}
		if (rc == 0) {
			sect_put(im, SECT_ANSDO, ansdo);
			sect_put(im, SECT_DOBLOBS, blobs);
		}
		free(ansdo);
		free(blobs);
	}
	if (rc)
		return p53_err_set(c->err, rc, "cannot add the DNSSEC answers: %s",
				   rc == P53_EIO ? strerror(errno) : "out of memory");
	image_header(im);
	snap_seal(im->p, im->len);
	return 0;
}

static int compile_into(const struct p53_zone_input *zin, size_t nzones,
			const struct p53_compile_opts *opts, struct image *im, struct p53_err *err)
{
	struct p53_compile_opts defaults = {0};
	const struct p53_compile_opts *o = opts ? opts : &defaults;
	struct cc c = {.err = err, .opts = o, .prog = {.phase = "reading"}};
	if (o->stats)
		c.mark = clocks_now();
	int rc;
	/* The CPU count is read only when it decides: three system calls. */
	c.two = o->threads ? o->threads > 1 : sysconf(_SC_NPROCESSORS_ONLN) > 1;
	if (nzones == 0)
		return p53_err_set(err, P53_EINVAL, "no zones given");
	c.zones = calloc(nzones, sizeof(*c.zones));
	if (c.zones == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	c.nzones = nzones;
	/* Before the zones: validation and member coordinates look regions up. */
	if (o->regions_csv && (rc = r53_regions_load_csv(o->regions_csv, err)) != 0)
		goto fail;
	for (size_t z = 0; z < nzones; z++) {
		const char *why = NULL;
		int n = name_from_text(zin[z].origin, strlen(zin[z].origin), (const uint8_t *)"",
				       c.zones[z].apex, &why);
		if (n < 0) {
			rc = p53_err_set(err, P53_EINVAL, "zone origin '%s': %s", zin[z].origin,
					 why);
			goto fail;
		}
		c.zones[z].apex_len = (size_t)n;
		c.zones[z].path = zin[z].path;
		name_lower(c.zones[z].apex, (size_t)n);
		for (size_t k = 0; k < z; k++)
			if (c.zones[k].apex_len == (size_t)n &&
			    memcmp(c.zones[k].apex, c.zones[z].apex, (size_t)n) == 0) {
				rc = p53_err_set(err, P53_EINVAL, "zone %s given twice",
						 zin[z].origin);
				goto fail;
			}
	}
	for (size_t z = 0; z < nzones; z++) {
		char *list = strdup(zin[z].path), *save = NULL;
		for (char *p = list ? strtok_r(list, ",", &save) : NULL; p;
		     p = strtok_r(NULL, ",", &save)) {
			struct stat st;
			if (stat(p, &st) == 0)
				c.prog.bytes_total += (uint64_t)st.st_size;
		}
		free(list);
	}
	/* A master-file record takes 20-30 bytes of text: room for one per
	 * 12 bytes, and as many owner and rdata bytes as there is text, is
	 * enough for most zones (the arrays still grow past it). */
	uint64_t guess = c.prog.bytes_total;
	/* Snapshots come out 6-7 times the size of their zone text. */
	im->hint = (size_t)guess * 10 + (64u << 20);
	if (guess > (1u << 20) &&
	    (vec_reserve((void **)&c.recs, &c.caprecs, sizeof(*c.recs), guess / 12) != 0 ||
	     buf_reserve(&c.names, guess) != 0 || buf_reserve(&c.rdata, guess) != 0)) {
		rc = p53_err_set(err, P53_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t z = 0; z < nzones; z++) {
		struct zparse_opts po = {.origin = c.zones[z].apex,
					 .default_ttl = o->default_ttl ? o->default_ttl : 3600,
					 .include = o->include,
					 .include_dir = o->include_dir,
					 .max_generate = o->max_generate};
		c.cur_zone = (uint32_t)z;
		size_t before = c.nrecs;
		rc = read_zone(&c, zin[z].path, &po, o);
		if (rc < 0)
			goto fail;
		if (c.nrecs == before) {
			rc = p53_err_set(err, P53_EINVAL, "%s: zone %s has no SOA record",
					 zin[z].path, zin[z].origin);
			goto fail;
		}
	}
	if (o->geo_csv && (rc = r53_geo_load(o->geo_csv, &c.geo, err)) != 0)
		goto fail;
	if (o->latency_csv) {
		if ((rc = r53_lat_load_csv(o->latency_csv, &c.lat, err)) != 0)
			goto fail;
		c.latents = calloc(c.lat.nents ? c.lat.nents : 1, sizeof(*c.latents));
		if (c.latents == NULL) {
			rc = p53_err_set(err, P53_ENOMEM, "out of memory");
			goto fail;
		}
		/* The same deduplicated string as the members' Region, so the
		 * engine matches regions by offset. */
		for (size_t i = 0; i < c.lat.nents; i++) {
			c.latents[i] = (struct snap_latent){
			    .region = str_add(&c, c.lat.ents[i].region), .us = c.lat.ents[i].us};
			if (c.latents[i].region == SNAP_NONE) {
				rc = p53_err_set(err, P53_ENOMEM, "out of memory");
				goto fail;
			}
		}
	}
	if ((rc = parent_sides(&c)) != 0)
		goto fail;
	/* A second thread costs more than it saves on a small zone. */
	if (c.nrecs < 65536)
		c.two = false;
	mark(&c, "read");
	phase(&c, "checking");
	if ((rc = sort_recs(&c)) != 0)
		goto fail;
	mark(&c, "sort");
	if ((rc = normalise_rrsets(&c)) != 0)
		goto fail;
	if ((rc = build_nodes(&c)) != 0)
		goto fail;
	if ((rc = check_nodes(&c)) != 0)
		goto fail;
	if ((rc = check_zones(&c)) != 0 || (rc = link_tree(&c)) != 0 || (rc = check_glue(&c)) != 0)
		goto fail;
	mark(&c, "nodes and checks");
	if (o->ncompact && !o->dnssec_keys) {
		rc = p53_err_set(err, P53_EINVAL, "--compact-denial needs --dnssec-keys");
		goto fail;
	}
	if ((o->nnsec3 || o->noptout) && !o->dnssec_keys) {
		rc = p53_err_set(err, P53_EINVAL, "--nsec3 needs --dnssec-keys");
		goto fail;
	}
	if (o->dnssec_keys) {
		phase(&c, "signing");
		if ((rc = sign_zones(&c)) != 0)
			goto fail;
		mark(&c, "sign");
	}

	phase(&c, "laying out");
	if ((rc = lay_image(&c, o, im)) != 0)
		goto fail;
	mark(&c, "layout");
	/* The image holds its own names, rdata and records now; letting the
	 * compiler's copies go before the answers are rendered keeps the peak
	 * near the snapshot's size. */
	free(c.rdata.p);
	free(c.names.p);
	c.rdata.p = NULL;
	c.names.p = NULL;
	/* The records' pages are in memory already: the pre-rendered
	 * answers reuse them. */
	struct buf spare = {.p = (uint8_t *)c.recs, .cap = c.caprecs * sizeof(*c.recs)};
	c.recs = NULL;
	if (!o->no_prerender) {
		phase(&c, "pre-rendering");
		if ((rc = prerender(&c, im, spare)) != 0)
			goto fail;
		mark(&c, "pre-render");
	} else {
		buf_free(&spare);
	}
	image_header(im);
	snap_seal(im->p, im->len);
	mark(&c, "seal");
	/* DNSSEC facts and DO=1 answers, when the zones hold signatures. */
	phase(&c, "DNSSEC answers");
	if ((rc = add_dnssec(&c, o, im)) != 0)
		goto fail;
	if (o->dnssec_keys)
		mark(&c, "DNSSEC answers");
	/* What the loader would refuse is never written: the structural
	 * checks catch what the input checks above allow but the engine
	 * cannot serve (an alias chain that loops, say). */
	phase(&c, "verifying");
	struct p53_err verr = {0};
	if (snap_verify_image(im->p, im->len, &verr) != 0) {
		rc = p53_err_set(err, P53_EINVAL, "the compiled zones fail verification: %s",
				 verr.msg);
		goto fail;
	}
	mark(&c, "verify");
	if (o->stats) {
		*o->stats = c.times;
		o->stats->zones = nzones;
		o->stats->records = c.nrecs;
		o->stats->bytes = im->len;
		o->stats->split_files = c.split_files;
	}
	cc_free(&c);
	return 0;
fail:
	cc_free(&c);
	return rc ? rc : P53_EINVAL;
}

int p53_compile(const struct p53_zone_input *zin, size_t nzones,
		const struct p53_compile_opts *opts, uint8_t **out, size_t *outlen,
		struct p53_err *err)
{
	struct image im = {.fd = -1};
	int rc = compile_into(zin, nzones, opts, &im, err);
	if (rc) {
		image_release(&im);
		return rc;
	}
	*out = im.p;
	*outlen = im.len;
	return 0;
}

/* The image is laid out in a mapping of a temporary file beside path, which
 * is synced and renamed into place: a reader never sees half a file, and a
 * failed compile leaves the old one. */
int p53_compile_file(const struct p53_zone_input *zones, size_t nzones,
		     const struct p53_compile_opts *opts, const char *path, struct p53_err *err)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return p53_err_set(err, P53_EINVAL, "%s: path too long", path);
	struct image im = {.fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)};
	if (im.fd < 0)
		return p53_err_set(err, P53_EIO, "%s: %s", tmp, strerror(errno));
	struct clocks start = {0};
	if (opts && opts->stats)
		start = clocks_now();
	int rc = compile_into(zones, nzones, opts, &im, err);
	if (rc == 0) {
		size_t len = im.len;
		image_release(&im);
		bool ok = ftruncate(im.fd, (off_t)len) == 0 && fsync(im.fd) == 0;
		ok = close(im.fd) == 0 && ok;
		if (!ok || rename(tmp, path) != 0) {
			rc = p53_err_set(err, P53_EIO, "%s: %s", path, strerror(errno));
			unlink(tmp);
		}
		if (rc == 0 && opts && opts->stats) {
			/* The phases before cover up to here. */
			struct p53_compile_stats *st = opts->stats;
			for (unsigned i = 0; i < st->nphases; i++) {
				start.wall += st->phase[i].wall;
				start.cpu += st->phase[i].cpu;
				start.sys += st->phase[i].sys;
				start.main += st->phase[i].main;
			}
			stats_phase(st, "write", &start);
		}
		return rc;
	}
	image_release(&im);
	close(im.fd);
	unlink(tmp);
	return rc;
}

/* ---- dump ------------------------------------------------------------- */

static void dump_rrset(const struct p53_snapshot *s, const uint8_t *owner,
		       const struct snap_rrset *r, FILE *out, char *txt, size_t cap)
{
	char on[1024], tb[12];
	name_to_text(owner, on, sizeof(on));
	if (r->count == 0) {
		/* Zone files cannot express routing policies: say what is left
		 * out rather than flatten it. */
		fprintf(out,
			"; %s %s: Route 53 routing-policy group of %u records (see export "
			"--format route53)\n",
			on, rrtype_to_text(r->type, tb), s->groups[r->rdata].nmembers);
		return;
	}
	const uint8_t *rd = s->rdata + r->rdata, *end = rd + r->len;
	while (rd < end) {
		uint16_t l = (uint16_t)(rd[0] << 8 | rd[1]);
		if (zprint_rdata(r->type, rd + 2, l, txt, cap) < 0)
			snprintf(txt, cap, "; rdata too long to print");
		/* Generic rdata (RFC 3597 5) goes with the generic type name:
		 * a parser that knows no presentation form for the type, as for
		 * AMTRELAY, may not take it with the mnemonic. */
		const char *tn = tb;
		if (txt[0] == '\\' && txt[1] == '#')
			snprintf(tb, sizeof(tb), "TYPE%u", r->type);
		else
			tn = rrtype_to_text(r->type, tb);
		fprintf(out, "%s\t%u\tIN\t%s\t%s\n", on, r->ttl, tn, txt);
		rd += 2 + l;
	}
}

/* above: p53_zone_above() of every zone. */
static void dump_one(const struct p53_snapshot *s, const uint32_t *above, uint32_t z, FILE *out,
		     char *txt, size_t cap)
{
	const struct snap_zone *zn = &s->zones[z];
	char an[1024];
	name_to_text(s->names + zn->name, an, sizeof(an));
	fprintf(out, "$ORIGIN %s\n", an);
	dump_rrset(s, s->names + zn->name, &s->rrsets[zn->soa], out, txt, cap);
	/* The DS set at a served child's apex is kept on the child's apex
	 * node but is the parent's data (RFC 4035 3.1.4.1): it is written
	 * with the parent. */
	bool parent_served = above[z] != P53_ZONE_NONE;
	for (uint32_t i = zn->apex; i < zn->apex + zn->nodes; i++) {
		const struct snap_node *n = &s->nodes[i];
		for (uint16_t k = 0; k < n->nrrsets; k++) {
			const struct snap_rrset *r = &s->rrsets[n->rrset + k];
			if (r != &s->rrsets[zn->soa] &&
			    !(r->type == RR_DS && i == zn->apex && parent_served))
				dump_rrset(s, snap_node_name(s, n), r, out, txt, cap);
		}
	}
	for (uint32_t c = 0; c < s->nzones; c++) {
		if (c == z || above[c] != z || p53_zone_parent_side(s, c) != SNAP_NONE)
			continue;
		const struct snap_node *a = &s->nodes[s->zones[c].apex];
		for (uint16_t k = 0; k < a->nrrsets; k++)
			if (s->rrsets[a->rrset + k].type == RR_DS)
				dump_rrset(s, snap_node_name(s, a), &s->rrsets[a->rrset + k], out,
					   txt, cap);
	}
}

/* Dumps zone z, or every zone when z is SNAP_NONE. */
static int dump(const struct p53_snapshot *s, uint32_t z, FILE *out)
{
	size_t cap = 256 * 1024;
	char *txt = malloc(cap);
	uint32_t *above = malloc(((size_t)s->nzones + 1) * sizeof(*above));
	if (txt == NULL || above == NULL) {
		free(txt);
		free(above);
		return P53_ENOMEM;
	}
	for (uint32_t i = 0; i < s->nzones; i++)
		above[i] = p53_zone_above(s, i);
	for (uint32_t i = 0; i < s->nzones; i++) {
		if (z != SNAP_NONE && i != z)
			continue;
		dump_one(s, above, i, out, txt, cap);
		if (z == SNAP_NONE && i + 1 < s->nzones)
			fputc('\n', out);
	}
	free(txt);
	free(above);
	return ferror(out) ? P53_EIO : 0;
}

int p53_dump(const struct p53_snapshot *s, FILE *out)
{
	return dump(s, SNAP_NONE, out);
}

int p53_dump_zone(const struct p53_snapshot *s, const char *origin, FILE *out)
{
	uint8_t apex[P53_NAME_MAX];
	int n = name_from_text(origin, strlen(origin), (const uint8_t *)"", apex, NULL);
	if (n < 0)
		return P53_EINVAL;
	name_lower(apex, (size_t)n);
	for (uint32_t z = 0; z < s->nzones; z++) {
		const struct snap_node *a = &s->nodes[s->zones[z].apex];
		if (a->name_len == n && memcmp(snap_node_name(s, a), apex, (size_t)n) == 0)
			return dump(s, z, out);
	}
	return P53_EINVAL;
}
