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

#include "zones/common/fileio.h"
#include "zones/answer/answer_pvt.h"
#include "zones/common/name.h"
#include "zones/compile/r53json.h"
#include "zones/compile/r53snap.h"
#include "zones/common/rrtype.h"
#include "zones/answer/snapshot_pvt.h"
#include "zones/compile/zparse.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- growable buffers ------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (p == NULL)
		return P53_ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
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

static int vec_grow(void **arr, size_t *cap, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 1024;
	void *p = realloc(*arr, ncap * size);
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
	uint32_t node;
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

/* Name -> index map, open addressing; used for nodes and zone apexes. */
struct nmap {
	uint32_t *slot; /* index + 1 */
	uint32_t mask;
	size_t count;
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
	struct nmap nodemap;
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
	uint32_t cur_zone;
	const char *last_file;
	uint32_t last_file_idx;
};

static const uint8_t *cc_name(const struct cc *c, uint32_t off)
{
	return c->names.p + off;
}

static int nmap_init(struct nmap *m, size_t n)
{
	size_t size = 16;
	while (size < 2 * n)
		size *= 2;
	free(m->slot);
	m->slot = calloc(size, sizeof(uint32_t));
	m->mask = (uint32_t)(size - 1);
	m->count = 0;
	return m->slot ? 0 : P53_ENOMEM;
}

/* Finds name among nodes; returns the node index or SNAP_NONE. */
static uint32_t nmap_find(const struct cc *c, const uint8_t *name, size_t len)
{
	uint32_t i = name_hash(name, len) & c->nodemap.mask;
	for (; c->nodemap.slot[i]; i = (i + 1) & c->nodemap.mask) {
		const struct cnode *n = &c->nodes[c->nodemap.slot[i] - 1];
		if (n->name_len == len && memcmp(cc_name(c, n->name), name, len) == 0)
			return c->nodemap.slot[i] - 1;
	}
	return SNAP_NONE;
}

static void nmap_insert(struct cc *c, uint32_t node)
{
	const struct cnode *n = &c->nodes[node];
	uint32_t i = name_hash(cc_name(c, n->name), n->name_len) & c->nodemap.mask;
	while (c->nodemap.slot[i])
		i = (i + 1) & c->nodemap.mask;
	c->nodemap.slot[i] = node + 1;
	c->nodemap.count++;
}

/* Keeps the table at most half full however many names arrive (empty
 * non-terminals are only known while they are added), so probes end. */
static int nmap_put(struct cc *c, uint32_t node)
{
	struct nmap *m = &c->nodemap;
	if ((m->count + 1) * 2 > (size_t)m->mask + 1) {
		size_t size = ((size_t)m->mask + 1) * 2;
		uint32_t *old = m->slot;
		size_t oldsize = (size_t)m->mask + 1;
		if (size > UINT32_MAX || (m->slot = calloc(size, sizeof(uint32_t))) == NULL) {
			m->slot = old;
			return P53_ENOMEM;
		}
		m->mask = (uint32_t)(size - 1);
		m->count = 0;
		for (size_t i = 0; i < oldsize; i++)
			if (old[i])
				nmap_insert(c, old[i] - 1);
		free(old);
	}
	nmap_insert(c, node);
	return 0;
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
	int64_t no = buf_add(&c->names, owner, rr->owner_len);
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
		c->prog.records = c->nrecs;
		c->prog.bytes_done = c->bytes_before + rr->pos;
		c->opts->progress(&c->prog, c->opts->progress_arg);
	}
	return 0;
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

static const struct cc *sort_cc; /* qsort has no context argument in C11 */

static int rec_cmp(const void *a, const void *b)
{
	const struct crec *x = a, *y = b;
	if (x->zone != y->zone)
		return x->zone < y->zone ? -1 : 1;
	int c = name_cmp_canonical(cc_name(sort_cc, x->name), cc_name(sort_cc, y->name));
	if (c)
		return c;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if (x->mem != y->mem) /* a group's marker (mem 0) first, then members */
		return x->mem < y->mem ? -1 : 1;
	/* Canonical form (RFC 4034 6.2), so records that differ only in the
	 * case of a name inside rdata sort together and merge. */
	c = rrtype_rdata_cmp(x->type, sort_cc->rdata.p + x->rdata, x->rdlen,
			     sort_cc->rdata.p + y->rdata, y->rdlen);
	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

struct sort_half {
	struct crec *p;
	size_t n;
};

static void *sort_half_run(void *arg)
{
	struct sort_half *h = arg;
	qsort(h->p, h->n, sizeof(*h->p), rec_cmp);
	return NULL;
}

/* Canonical sorting is the compiler's largest single cost on big zones:
 * the two halves are sorted on two threads and merged. Falls back to one
 * qsort when a thread or the merge buffer cannot be had. */
static void sort_recs(struct cc *c)
{
	sort_cc = c;
	size_t n = c->nrecs, h = n / 2;
	struct crec *tmp = n >= 65536 ? malloc(n * sizeof(*tmp)) : NULL;
	pthread_t t;
	struct sort_half hi = {c->recs + h, n - h};
	if (tmp == NULL || pthread_create(&t, NULL, sort_half_run, &hi) != 0) {
		free(tmp);
		qsort(c->recs, n, sizeof(*c->recs), rec_cmp);
		return;
	}
	qsort(c->recs, h, sizeof(*c->recs), rec_cmp);
	pthread_join(t, NULL);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n)
		tmp[k++] = rec_cmp(&c->recs[j], &c->recs[i]) < 0 ? c->recs[j++] : c->recs[i++];
	while (i < h)
		tmp[k++] = c->recs[i++];
	while (j < n)
		tmp[k++] = c->recs[j++];
	free(c->recs);
	c->recs = tmp;
	c->caprecs = n;
}

static int node_cmp(const void *a, const void *b)
{
	const struct cnode *x = a, *y = b;
	if (x->zone != y->zone)
		return x->zone < y->zone ? -1 : 1;
	return name_cmp_canonical(cc_name(sort_cc, x->name), cc_name(sort_cc, y->name));
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

static uint32_t add_node(struct cc *c, uint32_t zone, uint32_t name, uint8_t len)
{
	struct cnode n = {
	    .zone = zone, .name = name, .name_len = len, .cut = SNAP_NONE, .wild = SNAP_NONE};
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

static int build_nodes(struct cc *c)
{
	/* Records are sorted by (zone, name, type, rdata): group them. */
	for (size_t i = 0; i < c->nrecs;) {
		size_t j = i;
		while (j < c->nrecs && c->recs[j].zone == c->recs[i].zone &&
		       c->recs[j].name_len == c->recs[i].name_len &&
		       memcmp(cc_name(c, c->recs[j].name), cc_name(c, c->recs[i].name),
			      c->recs[i].name_len) == 0)
			j++;
		if (add_node(c, c->recs[i].zone, c->recs[i].name, c->recs[i].name_len) == SNAP_NONE)
			return p53_err_set(c->err, P53_ENOMEM, "out of memory");
		i = j;
	}
	/* Apexes and empty non-terminals: every name between an owner and its
	 * apex exists (RFC 4592 2.2.2), which is what blocks wildcards. */
	if (nmap_init(&c->nodemap, c->nnodes * 2 + c->nzones) != 0)
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < c->nnodes; i++)
		if (nmap_put(c, i) != 0)
			return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	size_t owners = c->nnodes;
	for (size_t z = 0; z < c->nzones; z++) {
		const struct czone *zn = &c->zones[z];
		if (nmap_find(c, zn->apex, zn->apex_len) != SNAP_NONE)
			continue;
		int64_t off = buf_add(&c->names, zn->apex, zn->apex_len);
		uint32_t id = off < 0
				  ? SNAP_NONE
				  : add_node(c, (uint32_t)z, (uint32_t)off, (uint8_t)zn->apex_len);
		if (id == SNAP_NONE || nmap_put(c, id) != 0)
			return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < owners; i++) {
		uint32_t zone = c->nodes[i].zone;
		size_t alen = c->zones[zone].apex_len;
		uint32_t off = c->nodes[i].name;
		uint8_t len = c->nodes[i].name_len;
		while (len > alen) {
			uint8_t l = c->names.p[off];
			off += l + 1u;
			len = (uint8_t)(len - l - 1);
			if (nmap_find(c, cc_name(c, off), len) != SNAP_NONE)
				break;
			uint32_t id = add_node(c, zone, off, len);
			if (id == SNAP_NONE || nmap_put(c, id) != 0)
				return p53_err_set(c->err, P53_ENOMEM, "out of memory");
		}
	}
	/* Canonical order within each zone, then index again. */
	sort_cc = c;
	qsort(c->nodes, c->nnodes, sizeof(*c->nodes), node_cmp);
	if (nmap_init(&c->nodemap, c->nnodes) != 0)
		return p53_err_set(c->err, P53_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < c->nnodes; i++) {
		nmap_insert(c, i);
		c->nodes[i].rec = 0;
		c->nodes[i].nrec = 0;
	}
	for (size_t i = 0; i < c->nrecs; i++) {
		struct crec *r = &c->recs[i];
		r->node = nmap_find(c, cc_name(c, r->name), r->name_len);
		struct cnode *n = &c->nodes[r->node];
		if (n->nrec == 0)
			n->rec = (uint32_t)i;
		n->nrec++;
	}
	for (size_t z = 0; z < c->nzones; z++) {
		struct czone *zn = &c->zones[z];
		zn->apex_node = nmap_find(c, zn->apex, zn->apex_len);
	}
	for (uint32_t i = 0; i < c->nnodes; i++) {
		uint32_t z = c->nodes[i].zone;
		if (c->zones[z].nnodes == 0)
			c->zones[z].first_node = i;
		c->zones[z].nnodes++;
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
	const uint8_t *nm = cc_name(c, n->name);
	if (nm[0] == 1 && nm[1] == '*')
		n->flags |= NODE_WILDCARD;
	return 0;
}

/* The highest cut at or above each node, wildcard children, and the rules
 * that need ancestors: nothing below a DNAME. */
static int link_tree(struct cc *c)
{
	for (uint32_t i = 0; i < c->nnodes; i++) {
		struct cnode *n = &c->nodes[i];
		size_t alen = c->zones[n->zone].apex_len;
		uint32_t off = n->name;
		uint8_t len = n->name_len;
		if (n->flags & NODE_WILDCARD) {
			uint32_t parent = nmap_find(c, cc_name(c, off + 2), (size_t)len - 2);
			if (parent != SNAP_NONE)
				c->nodes[parent].wild = i;
		}
		for (uint32_t id = i; len > alen;) {
			const struct cnode *a = &c->nodes[id];
			if (a->flags & NODE_DELEG)
				n->cut = id;
			if ((a->flags & NODE_DNAME) && id != i && n->nrec)
				return rec_fail(c, &c->recs[n->rec],
						"data below a DNAME (RFC 6672 2.3)");
			uint8_t l = c->names.p[off];
			off += l + 1u;
			len = (uint8_t)(len - l - 1);
			id = nmap_find(c, cc_name(c, off), len);
		}
		if (n->cut != SNAP_NONE && n->cut != i)
			n->flags |= NODE_OCCLUDED;
	}
	return 0;
}

/* An NS target at or below its own cut cannot be resolved without glue. */
static int check_glue(struct cc *c)
{
	for (uint32_t i = 0; i < c->nnodes; i++) {
		const struct cnode *n = &c->nodes[i];
		if (!(n->flags & NODE_DELEG))
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
			uint32_t g = nmap_find(c, t, tl);
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
		struct cgroup g = {.zone = c->cur_zone,
				   .name_len = (uint8_t)s0->name_len,
				   .policy = (uint8_t)s0->policy,
				   .type = s0->type,
				   .first = (uint32_t)c->nmembers,
				   .n = (uint32_t)(j - i),
				   .cidr_coll =
				       s0->cidr_coll ? str_add(c, s0->cidr_coll) : SNAP_NONE};
		int64_t off = buf_add(&c->names, s0->name, s0->name_len);
		if (off < 0 || VEC_PUSH(c->groups, c->ngroups, c->capgroups, g) != 0)
			return p53_err_set(c->err, P53_ENOMEM, "out of memory");
		c->groups[c->ngroups - 1].name = (uint32_t)off;
		uint32_t gi = (uint32_t)c->ngroups;
		if ((rc = add_crec(c, s0->name, s0->name_len, s0->type, 0, NULL, 0, gi, 0)) != 0)
			return rc;
		for (size_t k = i; k < j; k++) {
			const struct r53_set *s = z->sets[k];
			struct cmember cm;
			if (lower_member(c, s, &cm) != 0 ||
			    VEC_PUSH(c->members, c->nmembers, c->capmembers, cm) != 0)
				return p53_err_set(c->err, P53_ENOMEM, "out of memory");
			uint32_t mi = (uint32_t)c->nmembers;
			for (size_t v = 0; v < s->nvals; v++)
				if ((rc = add_crec(c, s->name, s->name_len, s->type,
						   s->has_ttl ? s->ttl : 0, s->vals[v].rd,
						   s->vals[v].len, 0, mi)) != 0)
					return rc;
		}
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
			rc = zparse_file(p, po, on_record, c, c->err);
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
		uint32_t node = nmap_find(c, cc_name(c, g->name), g->name_len);
		if (node == SNAP_NONE)
			return P53_EINVAL;
		groups[i] = (struct snap_group){.member = g->first,
						.nmembers = (uint16_t)g->n,
						.policy = g->policy,
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
			members[i].alias = nmap_find(c, cc_name(c, cm->target), cm->target_len);
			if (members[i].alias == SNAP_NONE)
				return P53_EINVAL;
		}
	}
	return 0;
}

/* ---- layout ----------------------------------------------------------- */

struct image {
	struct buf b;
	struct snap_hdr hdr;
};

static int sect_begin(struct image *im, uint32_t id, uint64_t *off)
{
	if (buf_align(&im->b, SNAP_ALIGN) < 0)
		return P53_ENOMEM;
	*off = im->b.len;
	im->hdr.sect[id - 1].id = id;
	im->hdr.sect[id - 1].off = im->b.len;
	return 0;
}

static void sect_end(struct image *im, uint32_t id)
{
	im->hdr.sect[id - 1].len = im->b.len - im->hdr.sect[id - 1].off;
}

static int put_sect(struct image *im, uint32_t id, const void *data, size_t len)
{
	uint64_t off;
	if (sect_begin(im, id, &off) != 0 || buf_add(&im->b, data, len) < 0)
		return P53_ENOMEM;
	sect_end(im, id);
	return 0;
}

/* Writes the whole image from the compiler state; ans and blobs may be empty
 * (first pass, before pre-rendering). */
static int build_image(struct cc *c, const struct p53_compile_opts *o, struct image *im,
		       const struct snap_ans *ans, size_t nans, const struct buf *blobs)
{
	memset(im, 0, sizeof(*im));
	memcpy(im->hdr.magic, SNAP_MAGIC, sizeof(SNAP_MAGIC));
	im->hdr.version = SNAP_VERSION;
	im->hdr.nsect = SECT__MAX;
	im->hdr.serial = o->serial ? o->serial : (uint64_t)time(NULL);
	im->hdr.created = (uint64_t)time(NULL);
	if (buf_add(&im->b, NULL, sizeof(im->hdr)) < 0)
		return P53_ENOMEM;

	struct buf names = {0}, rdata = {0};
	struct snap_node *nodes = calloc(c->nnodes ? c->nnodes : 1, sizeof(*nodes));
	struct snap_rrset *sets = NULL, *msets = NULL;
	size_t nsets = 0, capsets = 0, nmsets = 0, capmsets = 0;
	struct snap_group *groups = NULL;
	struct snap_member *members = NULL;
	struct snap_zone *zones = calloc(c->nzones, sizeof(*zones));
	int rc = P53_ENOMEM;
	if (nodes == NULL || zones == NULL)
		goto out;
	for (size_t i = 0; i < c->nmembers; i++)
		c->members[i].m.rrset = SNAP_NONE;
	for (uint32_t i = 0; i < c->nnodes; i++) {
		struct cnode *cn = &c->nodes[i];
		int64_t no = buf_add(&names, cc_name(c, cn->name), cn->name_len);
		if (no < 0)
			goto out;
		cn->rrset = (uint32_t)nsets;
		for (uint32_t k = 0; k < cn->nrec;) {
			const struct crec *r = &c->recs[cn->rec + k];
			if (r->grp) {
				/* A policy group: a placeholder here, the members'
				 * RRsets after every node's (snapfmt.h). */
				struct snap_rrset ph = {.type = r->type, .rdata = r->grp - 1};
				if (VEC_PUSH(sets, nsets, capsets, ph) != 0)
					goto out;
				for (k++; k < cn->nrec && c->recs[cn->rec + k].type == ph.type;) {
					const struct crec *m = &c->recs[cn->rec + k];
					if (m->mem == 0) { /* cannot happen: validated */
						k++;
						continue;
					}
					struct snap_rrset ms = {.type = m->type,
								.ttl = m->ttl,
								.rdata = (uint32_t)rdata.len};
					for (; k < cn->nrec && c->recs[cn->rec + k].mem == m->mem &&
					       c->recs[cn->rec + k].type == ph.type;
					     k++) {
						const struct crec *x = &c->recs[cn->rec + k];
						uint8_t l[2] = {(uint8_t)(x->rdlen >> 8),
								(uint8_t)x->rdlen};
						if (buf_add(&rdata, l, 2) < 0 ||
						    buf_add(&rdata, c->rdata.p + x->rdata,
							    x->rdlen) < 0)
							goto out;
						ms.count++;
					}
					ms.len = (uint32_t)(rdata.len - ms.rdata);
					c->members[m->mem - 1].m.rrset = (uint32_t)nmsets;
					if (VEC_PUSH(msets, nmsets, capmsets, ms) != 0)
						goto out;
				}
				continue;
			}
			struct snap_rrset s = {
			    .type = r->type, .ttl = r->ttl, .rdata = (uint32_t)rdata.len};
			for (; k < cn->nrec && c->recs[cn->rec + k].type == s.type; k++) {
				const struct crec *x = &c->recs[cn->rec + k];
				uint8_t l[2] = {(uint8_t)(x->rdlen >> 8), (uint8_t)x->rdlen};
				if (buf_add(&rdata, l, 2) < 0 ||
				    buf_add(&rdata, c->rdata.p + x->rdata, x->rdlen) < 0)
					goto out;
				s.count++;
			}
			s.len = (uint32_t)(rdata.len - s.rdata);
			if (VEC_PUSH(sets, nsets, capsets, s) != 0)
				goto out;
		}
		cn->nrrsets = (uint32_t)nsets - cn->rrset;
		nodes[i] = (struct snap_node){
		    .name = (uint32_t)no,
		    .name_len = cn->name_len,
		    .labels = (uint8_t)name_labels(cc_name(c, cn->name)),
		    .flags = cn->flags,
		    .zone = cn->zone,
		    .cut = cn->cut,
		    .wild = cn->wild,
		    .rrset = cn->rrset,
		    .nrrsets = (uint16_t)cn->nrrsets,
		    .nans = (uint16_t)cn->nans,
		    .ans = cn->ans,
		    .other_blob = cn->other_blob,
		};
	}
	/* Member RRsets follow the node ranges; alias members have none. */
	size_t node_sets = nsets;
	for (size_t i = 0; i < nmsets; i++)
		if (VEC_PUSH(sets, nsets, capsets, msets[i]) != 0)
			goto out;
	groups = calloc(c->ngroups ? c->ngroups : 1, sizeof(*groups));
	members = calloc(c->nmembers ? c->nmembers : 1, sizeof(*members));
	if (groups == NULL || members == NULL)
		goto out;
	if (layout_groups(c, node_sets, groups, members) != 0)
		goto out;
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
	size_t hsize = 16;
	while (hsize < 2 * ((size_t)c->nnodes + 1))
		hsize *= 2;
	struct snap_hash_hdr hh = {.mask = (uint32_t)(hsize - 1)};
	uint64_t hoff;
	if (put_sect(im, SECT_ZONES, zones, c->nzones * sizeof(*zones)) ||
	    put_sect(im, SECT_NODES, nodes, c->nnodes * sizeof(*nodes)) ||
	    put_sect(im, SECT_RRSETS, sets, nsets * sizeof(*sets)) ||
	    sect_begin(im, SECT_HASH, &hoff) || buf_add(&im->b, &hh, sizeof(hh)) < 0 ||
	    buf_add(&im->b, NULL, hsize * sizeof(struct snap_hash_ent)) < 0)
		goto out;
	struct snap_hash_ent *ht = (void *)(im->b.p + hoff + sizeof(hh));
	for (uint32_t i = 0; i < c->nnodes; i++) {
		uint32_t h = name_hash(cc_name(c, c->nodes[i].name), c->nodes[i].name_len);
		uint32_t k = h & hh.mask;
		while (ht[k].node)
			k = (k + 1) & hh.mask;
		ht[k] = (struct snap_hash_ent){h, i + 1};
	}
	sect_end(im, SECT_HASH);
	if (put_sect(im, SECT_NAMES, names.p, names.len) ||
	    put_sect(im, SECT_RDATA, rdata.p, rdata.len) ||
	    put_sect(im, SECT_ANS, ans, nans * sizeof(*ans)) ||
	    put_sect(im, SECT_BLOBS, blobs->p, blobs->len) ||
	    put_sect(im, SECT_GROUPS, groups, c->ngroups * sizeof(*groups)) ||
	    put_sect(im, SECT_MEMBERS, members, c->nmembers * sizeof(*members)) ||
	    put_sect(im, SECT_STRINGS, c->strings.p, c->strings.len) ||
	    put_sect(im, SECT_HCHECKS, c->hchecks, c->nhchecks * sizeof(uint32_t)) ||
	    put_sect(im, SECT_GEO4, c->geo.v4, c->geo.n4 * sizeof(struct snap_geo4)) ||
	    put_sect(im, SECT_GEO6, c->geo.v6, c->geo.n6 * sizeof(struct snap_geo6)) ||
	    put_sect(im, SECT_GEOLOC, c->geo.locs, c->geo.nlocs * sizeof(struct snap_geoloc)) ||
	    put_sect(im, SECT_CIDR, c->cidrs, c->ncidrs * sizeof(struct snap_cidr)) ||
	    put_sect(im, SECT_LAT4, c->lat.v4, c->lat.n4 * sizeof(struct snap_geo4)) ||
	    put_sect(im, SECT_LAT6, c->lat.v6, c->lat.n6 * sizeof(struct snap_geo6)) ||
	    put_sect(im, SECT_LATROW, c->lat.rows, c->lat.nrows * sizeof(struct snap_latrow)) ||
	    put_sect(im, SECT_LATENT, c->latents, c->lat.nents * sizeof(struct snap_latent)) ||
	    buf_align(&im->b, SNAP_ALIGN) < 0)
		goto out;
	im->hdr.size = im->b.len;
	memcpy(im->b.p, &im->hdr, sizeof(im->hdr));
	if (o->no_prerender) /* else sealed once the answers are in */
		snap_seal(im->b.p, im->b.len);
	rc = 0;
out:
	free(names.p);
	free(rdata.p);
	free(nodes);
	free(sets);
	free(msets);
	free(groups);
	free(members);
	free(zones);
	if (rc)
		free(im->b.p);
	return rc ? p53_err_set(c->err, rc, "out of memory") : 0;
}

static bool snap_node_has(const struct p53_snapshot *s, const struct snap_node *n, uint16_t type)
{
	for (uint16_t k = 0; k < n->nrrsets; k++)
		if (s->rrsets[n->rrset + k].type == type)
			return true;
	return false;
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

struct prerender_part {
	struct cc *c;
	const struct p53_snapshot *s;
	uint32_t from, to; /* nodes [from, to) */
	struct snap_ans *ans;
	size_t nans;
	struct buf blobs;
	int rc;
};

/* Asks the engine for every answer of nodes [from, to) that depends only on
 * name and type; answer indexes and blob offsets are local to the part. */
/* Identical blobs are stored once: the answer for absent types (NODATA with
 * the SOA) depends only on the shape of the name, so most nodes of a zone
 * share a handful of them. */
struct blobtab {
	uint32_t *slot; /* blob offset + 1 */
	uint32_t *hash;
	size_t mask, count;
};

static uint32_t blob_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return (uint32_t)(h ^ h >> 32);
}

static int blobtab_grow(struct blobtab *t)
{
	size_t size = t->slot ? (t->mask + 1) * 2 : 4096;
	uint32_t *slot = calloc(size, sizeof(*slot)), *hash = calloc(size, sizeof(*hash));
	if (slot == NULL || hash == NULL) {
		free(slot);
		free(hash);
		return P53_ENOMEM;
	}
	for (size_t i = 0; t->slot && i <= t->mask; i++) {
		if (!t->slot[i])
			continue;
		size_t k = t->hash[i] & (size - 1);
		while (slot[k])
			k = (k + 1) & (size - 1);
		slot[k] = t->slot[i];
		hash[k] = t->hash[i];
	}
	free(t->slot);
	free(t->hash);
	t->slot = slot;
	t->hash = hash;
	t->mask = size - 1;
	return 0;
}

/* Returns the offset of a blob equal to p[0..n) in blobs, adding it first
 * when there is none; -1 when out of memory. */
static int64_t blob_put(struct blobtab *t, struct buf *blobs, const uint8_t *p, size_t n)
{
	if ((t->count + 1) * 2 > (t->slot ? t->mask + 1 : 0) && blobtab_grow(t) != 0)
		return -1;
	uint32_t h = blob_hash(p, n);
	size_t k = h & t->mask;
	for (; t->slot[k]; k = (k + 1) & t->mask) {
		uint32_t off = t->slot[k] - 1;
		/* A blob starts with its own length and counts, so equal
		 * bytes over n mean the same blob. */
		if (t->hash[k] == h && blobs->len - off >= n && memcmp(blobs->p + off, p, n) == 0)
			return off;
	}
	int64_t off;
	if (buf_align(blobs, 4) < 0 || (off = buf_add(blobs, p, n)) < 0 || off >= UINT32_MAX)
		return -1;
	t->slot[k] = (uint32_t)off + 1;
	t->hash[k] = h;
	t->count++;
	return off;
}

static int prerender_range(struct cc *c, const struct p53_snapshot *s, uint32_t from, uint32_t to,
			   struct snap_ans **ans_out, size_t *nans_out, struct buf *blobs)
{
	enum { BLOB_CAP = 65536 + 16 + 8 * 128 };
	uint8_t *tmp = malloc(BLOB_CAP);
	struct snap_ans *ans = NULL;
	size_t nans = 0, capans = 0;
	struct blobtab bt = {0};
	if (tmp == NULL)
		return P53_ENOMEM;
	for (uint32_t i = from; i < to; i++) {
		struct cnode *cn = &c->nodes[i];
		const struct snap_node *sn = &s->nodes[i];
		uint16_t types[64];
		unsigned nt = 0;
		bool cut = sn->cut != SNAP_NONE;
		if (cut) {
			if (sn->cut == i)
				types[nt++] = RR_DS;
		} else {
			for (uint16_t k = 0; k < sn->nrrsets && nt < 60; k++)
				types[nt++] = s->rrsets[sn->rrset + k].type;
			if (sn->nrrsets)
				types[nt++] = RR_ANY;
			if (sn->flags & NODE_CNAME) {
				types[nt++] = RR_A;
				types[nt++] = RR_AAAA;
			}
			/* DS at an apex may be answered from the parent zone:
			 * not the answer the apex gives for other absent types. */
			if ((sn->flags & NODE_APEX) && !(sn->flags & NODE_CNAME) &&
			    !snap_node_has(s, sn, RR_DS))
				types[nt++] = RR_DS;
		}
		cn->ans = (uint32_t)nans;
		cn->nans = 0;
		for (unsigned k = 0; k < nt; k++) {
			size_t n = answer_prerender(s, i, types[k], tmp, BLOB_CAP);
			if (n == 0) {
				/* Decided per query (a routing policy on the way,
				 * or too large): the other-types blob must not
				 * answer for it. */
				struct snap_ans d = {.qtype = types[k], .flags = ANS_DYNAMIC};
				if (VEC_PUSH(ans, nans, capans, d) != 0)
					goto nomem;
				cn->nans++;
				continue;
			}
			int64_t off;
			if ((off = blob_put(&bt, blobs, tmp, n)) < 0 || off > UINT32_MAX)
				goto nomem;
			struct snap_ans a = {.qtype = types[k], .blob = (uint32_t)off};
			if (VEC_PUSH(ans, nans, capans, a) != 0)
				goto nomem;
			cn->nans++;
		}
		/* Other types: a CNAME's answer depends on the target's type,
		 * so only non-CNAME nodes have one answer for all the rest. */
		cn->other_blob = 0;
		/* Empty non-terminals are rendered per query: an ip6.arpa zone
		 * has some twenty of them per record, and a blob each would make
		 * the snapshot grow tenfold for answers nobody asks for. */
		if (!(sn->flags & (NODE_CNAME | NODE_ENT))) {
			size_t n = answer_prerender(s, i, absent_type(s, sn), tmp, BLOB_CAP);
			int64_t off;
			if (n && (off = blob_put(&bt, blobs, tmp, n)) < 0)
				goto nomem;
			if (n)
				cn->other_blob = (uint32_t)off + 1;
		}
	}
	free(tmp);
	free(bt.slot);
	free(bt.hash);
	*ans_out = ans;
	*nans_out = nans;
	return 0;
nomem:
	free(tmp);
	free(bt.slot);
	free(bt.hash);
	free(ans);
	return P53_ENOMEM;
}

static void *prerender_run(void *arg)
{
	struct prerender_part *p = arg;
	p->rc = prerender_range(p->c, p->s, p->from, p->to, &p->ans, &p->nans, &p->blobs);
	return NULL;
}

/* Pre-rendering is independent per node and the engine only reads the
 * snapshot, so the nodes are split between two threads; the second part's
 * answer indexes and blob offsets are then moved behind the first's. */
static int prerender(struct cc *c, const struct p53_snapshot *s, struct snap_ans **ans_out,
		     size_t *nans_out, struct buf *blobs)
{
	uint32_t half = c->nnodes / 2;
	struct prerender_part hi = {.c = c, .s = s, .from = half, .to = (uint32_t)c->nnodes};
	pthread_t t;
	if (c->nnodes < 4096 || pthread_create(&t, NULL, prerender_run, &hi) != 0)
		return prerender_range(c, s, 0, (uint32_t)c->nnodes, ans_out, nans_out, blobs);
	int rc = prerender_range(c, s, 0, half, ans_out, nans_out, blobs);
	pthread_join(t, NULL);
	if (rc == 0)
		rc = hi.rc;
	int64_t base = rc == 0 ? buf_align(blobs, 4) : -1;
	if (rc == 0 &&
	    (base < 0 || buf_add(blobs, hi.blobs.p, hi.blobs.len) < 0 || blobs->len > UINT32_MAX))
		rc = P53_ENOMEM;
	struct snap_ans *all = NULL;
	if (rc == 0 && (all = realloc(*ans_out, (*nans_out + hi.nans + 1) * sizeof(*all))) == NULL)
		rc = P53_ENOMEM;
	if (rc == 0) {
		uint32_t b = (uint32_t)blobs->len - (uint32_t)hi.blobs.len;
		for (size_t k = 0; k < hi.nans; k++) {
			all[*nans_out + k] = hi.ans[k];
			if (!(hi.ans[k].flags & ANS_DYNAMIC))
				all[*nans_out + k].blob += b;
		}
		for (uint32_t i = half; i < c->nnodes; i++) {
			c->nodes[i].ans += (uint32_t)*nans_out;
			if (c->nodes[i].other_blob)
				c->nodes[i].other_blob += b;
		}
		*ans_out = all;
		*nans_out += hi.nans;
	}
	free(hi.ans);
	free(hi.blobs.p);
	return rc;
}

/* Adds the pre-rendered answers to the image the engine rendered them from,
 * instead of laying the whole image out again: the nodes learn their answers
 * in place, and ANS and BLOBS (empty so far) move to the end. */
static int add_answers(struct cc *c, struct image *im, const struct snap_ans *ans, size_t nans,
		       const struct buf *blobs)
{
	struct snap_hdr *h = (struct snap_hdr *)im->b.p;
	uint64_t noff = h->sect[SECT_NODES - 1].off;
	uint64_t aoff, boff;
	/* Zero-length sections sit at the old end; one aligned gap of padding
	 * keeps ANS from starting at the same offset. */
	if (buf_add(&im->b, NULL, SNAP_ALIGN) < 0 || sect_begin(im, SECT_ANS, &aoff) != 0 ||
	    buf_add(&im->b, ans, nans * sizeof(*ans)) < 0)
		return P53_ENOMEM;
	sect_end(im, SECT_ANS);
	if (sect_begin(im, SECT_BLOBS, &boff) != 0 || buf_add(&im->b, blobs->p, blobs->len) < 0)
		return P53_ENOMEM;
	sect_end(im, SECT_BLOBS);
	if (buf_align(&im->b, SNAP_ALIGN) < 0)
		return P53_ENOMEM;
	struct snap_node *nodes = (struct snap_node *)(im->b.p + noff);
	for (uint32_t i = 0; i < c->nnodes; i++) {
		nodes[i].ans = c->nodes[i].ans;
		nodes[i].nans = (uint16_t)c->nodes[i].nans;
		nodes[i].other_blob = c->nodes[i].other_blob;
	}
	im->hdr.size = im->b.len;
	memcpy(im->b.p, &im->hdr, sizeof(im->hdr));
	snap_seal(im->b.p, im->b.len);
	return 0;
}

static void cc_free(struct cc *c)
{
	free(c->names.p);
	free(c->rdata.p);
	free(c->recs);
	free(c->nodes);
	free(c->zones);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	free(c->nodemap.slot);
	free(c->groups);
	free(c->members);
	free(c->strings.p);
	free(c->hchecks);
	free(c->cidrs);
	r53_geo_free(&c->geo);
	r53_lat_free(&c->lat);
	free(c->latents);
	r53_regions_reset();
}

int p53_compile(const struct p53_zone_input *zin, size_t nzones,
		const struct p53_compile_opts *opts, uint8_t **out, size_t *outlen,
		struct p53_err *err)
{
	struct p53_compile_opts defaults = {0};
	const struct p53_compile_opts *o = opts ? opts : &defaults;
	struct cc c = {.err = err, .opts = o, .prog = {.phase = "reading"}};
	int rc;
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
	for (size_t z = 0; z < nzones && o->progress; z++) {
		char *list = strdup(zin[z].path), *save = NULL;
		for (char *p = list ? strtok_r(list, ",", &save) : NULL; p;
		     p = strtok_r(NULL, ",", &save)) {
			struct stat st;
			if (stat(p, &st) == 0)
				c.prog.bytes_total += (uint64_t)st.st_size;
		}
		free(list);
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
	for (size_t i = 0; i < c.nrecs; i++) {
		struct crec *r = &c.recs[i];
		uint32_t z = owning_zone(&c, cc_name(&c, r->name), r->name_len);
		if (z == r->zone) {
			/* A DS set at a zone's own apex is not its data when the
			 * parent zone is served too: the parent's (below) is. */
			if (r->type == RR_DS && r->name_len == c.zones[z].apex_len &&
			    r->name_len > 1 &&
			    owning_zone(&c, cc_name(&c, r->name) + cc_name(&c, r->name)[0] + 1,
					r->name_len - cc_name(&c, r->name)[0] - 1u) != SNAP_NONE)
				r->dead = true;
			continue;
		}
		/* The DS set at a served child's apex is the parent's data
		 * (RFC 4035 3.1.4.1): keep it on the child's apex node, where
		 * the engine answers DS queries from it. */
		if (r->type == RR_DS && r->name_len == c.zones[z].apex_len &&
		    memcmp(cc_name(&c, r->name), c.zones[z].apex, r->name_len) == 0)
			r->zone = z;
		else
			r->dead = true;
	}
	phase(&c, "checking");
	sort_recs(&c);
	if ((rc = normalise_rrsets(&c)) != 0 || (rc = build_nodes(&c)) != 0)
		goto fail;
	for (uint32_t i = 0; i < c.nnodes; i++)
		if ((rc = check_node(&c, i)) != 0)
			goto fail;
	if ((rc = check_zones(&c)) != 0 || (rc = link_tree(&c)) != 0 || (rc = check_glue(&c)) != 0)
		goto fail;

	phase(&c, "laying out");
	struct image im;
	struct buf noblobs = {0};
	if ((rc = build_image(&c, o, &im, NULL, 0, &noblobs)) != 0)
		goto fail;
	/* The image holds its own names, rdata and records now; letting the
	 * compiler's copies go before the answers are rendered keeps the peak
	 * near the snapshot's size. */
	free(c.recs);
	free(c.rdata.p);
	free(c.names.p);
	free(c.nodemap.slot);
	c.recs = NULL;
	c.rdata.p = NULL;
	c.names.p = NULL;
	c.nodemap.slot = NULL;
	if (!o->no_prerender) {
		phase(&c, "pre-rendering");
		struct p53_snapshot view = {.base = im.b.p, .size = im.b.len};
		struct snap_ans *ans = NULL;
		size_t nans = 0;
		struct buf blobs = {0};
		rc = snap_map_views(&view, err);
		if (rc == 0 && (rc = prerender(&c, &view, &ans, &nans, &blobs)) != 0)
			p53_err_set(err, rc, "out of memory");
		if (rc == 0 && (rc = add_answers(&c, &im, ans, nans, &blobs)) != 0)
			p53_err_set(err, rc, "out of memory");
		free(ans);
		free(blobs.p);
		if (rc) {
			free(im.b.p);
			goto fail;
		}
	}
	/* What the loader would refuse is never written: the structural
	 * checks catch what the input checks above allow but the engine
	 * cannot serve (an alias chain that loops, say). */
	phase(&c, "verifying");
	struct p53_err verr = {0};
	if (snap_verify_image(im.b.p, im.b.len, &verr) != 0) {
		free(im.b.p);
		rc = p53_err_set(err, P53_EINVAL, "the compiled zones fail verification: %s",
				 verr.msg);
		goto fail;
	}
	*out = im.b.p;
	*outlen = im.b.len;
	if (o->stats)
		*o->stats = (struct p53_compile_stats){
		    .zones = nzones, .records = c.nrecs, .bytes = im.b.len};
	cc_free(&c);
	return 0;
fail:
	cc_free(&c);
	return rc ? rc : P53_EINVAL;
}

int p53_compile_file(const struct p53_zone_input *zones, size_t nzones,
		     const struct p53_compile_opts *opts, const char *path, struct p53_err *err)
{
	uint8_t *img;
	size_t len;
	int rc = p53_compile(zones, nzones, opts, &img, &len, err);
	if (rc)
		return rc;
	rc = p53_file_write_atomic(path, img, len, NULL, 0, err);
	free(img);
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
		if (c == z || above[c] != z)
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
