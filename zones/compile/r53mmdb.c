/* The geo database from a MaxMind DB (.mmdb): every network of the search
 * tree becomes one entry, exactly as one CSV line would (r53_geo_add), so a
 * database and its CSV rendering compile to the same GEO4/GEO6/GEOLOC.
 *
 * libmaxminddb looks addresses up but cannot list networks, so the tree is
 * walked with MMDB_read_node. In an IPv6 database the IPv4 networks live
 * under ::/96; the other places that point at that subtree (the
 * IPv4-mapped ::ffff:0:0/96, 6to4 2002::/16, ...) are aliases and would
 * repeat every IPv4 network as an IPv6 one, so they are skipped.
 */
#include "zones/compile/r53snap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <maxminddb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounds against a hostile file: a search "tree" whose nodes share
 * children is a DAG with exponentially many paths. Real databases are far
 * below both (GeoLite2-City: a few million networks). */
#define MMDB_NETS_MAX	(1u << 24)
#define MMDB_VISITS_MAX (1ul << 27)

struct walk {
	MMDB_s *db;
	struct r53_geo *g;
	const char *path;
	struct p53_err *err;
	bool has_v4root;
	uint32_t v4root; /* the node at ::/96 in an IPv6 tree */
	unsigned long visits;
	uint8_t a4[4], a6[16]; /* the network being walked; bits past it are 0 */
};

static int fail(struct walk *w, int fam, unsigned plen, const char *fmt, ...)
{
	char msg[256], net[INET6_ADDRSTRLEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	inet_ntop(fam == 4 ? AF_INET : AF_INET6, fam == 4 ? (void *)w->a4 : (void *)w->a6, net,
		  sizeof(net));
	return p53_err_set(w->err, P53_EINVAL, "%s: network %s/%u: %s", w->path, net, plen, msg);
}

static bool zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* A missing field (or a path through data of another shape) is "not
 * given", like an empty CSV field; anything else wrong is an error. */
static int take_str(struct walk *w, int fam, unsigned plen, int st, const MMDB_entry_data_s *d,
		    const char *what, char *out, size_t max, bool *given)
{
	out[0] = 0;
	if (st == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR ||
	    (st == MMDB_SUCCESS && !d->has_data))
		return 0;
	if (st != MMDB_SUCCESS)
		return fail(w, fam, plen, "%s: %s", what, MMDB_strerror(st));
	if (d->type != MMDB_DATA_TYPE_UTF8_STRING)
		return fail(w, fam, plen, "%s is not a string", what);
	if (d->data_size > max)
		return fail(w, fam, plen, "%s \"%.*s\" is longer than %zu characters", what,
			    (int)(d->data_size > 32 ? 32 : d->data_size), d->utf8_string, max);
	memcpy(out, d->utf8_string, d->data_size);
	out[d->data_size] = 0;
	*given = true;
	return 0;
}

static int take_deg(struct walk *w, int fam, unsigned plen, int st, const MMDB_entry_data_s *d,
		    const char *what, double lim, double *out, bool *given)
{
	*out = 0;
	if (st == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR ||
	    (st == MMDB_SUCCESS && !d->has_data))
		return 0;
	if (st != MMDB_SUCCESS)
		return fail(w, fam, plen, "%s: %s", what, MMDB_strerror(st));
	if (d->type == MMDB_DATA_TYPE_DOUBLE)
		*out = d->double_value;
	else if (d->type == MMDB_DATA_TYPE_FLOAT)
		*out = d->float_value;
	else
		return fail(w, fam, plen, "%s is not a number", what);
	if (!(*out >= -lim && *out <= lim))
		return fail(w, fam, plen, "%s %g is outside -%g..%g", what, *out, lim, lim);
	*given = true;
	return 0;
}

/* One data record: the network the walk has reached, of length plen. */
static int emit(struct walk *w, MMDB_entry_s e, int fam, unsigned plen)
{
	char cont[3], ctry[3], sub[4];
	double la, lo;
	bool given = false;
	MMDB_entry_data_s d;
	int st, rc;
	st = MMDB_get_value(&e, &d, "continent", "code", NULL);
	if ((rc = take_str(w, fam, plen, st, &d, "continent.code", cont, 2, &given)) != 0)
		return rc;
	st = MMDB_get_value(&e, &d, "country", "iso_code", NULL);
	if ((rc = take_str(w, fam, plen, st, &d, "country.iso_code", ctry, 2, &given)) != 0)
		return rc;
	st = MMDB_get_value(&e, &d, "subdivisions", "0", "iso_code", NULL);
	if ((rc = take_str(w, fam, plen, st, &d, "subdivisions[0].iso_code", sub, 3, &given)) != 0)
		return rc;
	st = MMDB_get_value(&e, &d, "location", "latitude", NULL);
	if ((rc = take_deg(w, fam, plen, st, &d, "location.latitude", 90, &la, &given)) != 0)
		return rc;
	st = MMDB_get_value(&e, &d, "location", "longitude", NULL);
	if ((rc = take_deg(w, fam, plen, st, &d, "location.longitude", 180, &lo, &given)) != 0)
		return rc;
	/* Nothing to route on (e.g. only registered_country): leave the
	 * network unmapped, as a CSV without its line would. */
	if (!given)
		return 0;
	if (w->g->nlocs >= MMDB_NETS_MAX)
		return fail(w, fam, plen, "more than %u networks", MMDB_NETS_MAX);
	/* A record at ::/n (n <= 96) on the way to the IPv4 subtree holds for
	 * every IPv4 address as well: libmaxminddb answers IPv4 lookups
	 * with it. */
	bool v4too = fam == 6 && plen <= 96 && zero(w->a6, 16);
	if (v4too && r53_geo_add(w->g, 4, w->a6, 0, cont, ctry, sub, la, lo) < 0)
		return p53_err_set(w->err, P53_ENOMEM, "out of memory");
	if (v4too && plen == 96)
		return 0;
	if (r53_geo_add(w->g, fam, fam == 4 ? w->a4 : w->a6, plen, cont, ctry, sub, la, lo) < 0)
		return p53_err_set(w->err, P53_ENOMEM, "out of memory");
	return 0;
}

static int walk(struct walk *w, uint32_t node, unsigned depth, int fam);

/* The record that follows the network's bits so far (plen of them). */
static int record(struct walk *w, uint64_t rec, uint8_t type, MMDB_entry_s e, int fam,
		  unsigned plen)
{
	switch (type) {
	case MMDB_RECORD_TYPE_EMPTY:
		return 0;
	case MMDB_RECORD_TYPE_DATA:
		return emit(w, e, fam, plen);
	case MMDB_RECORD_TYPE_SEARCH_NODE:
		break;
	default:
		return fail(w, fam, plen, "search tree record %llu points outside the data section",
			    (unsigned long long)rec);
	}
	if (fam == 6 && plen == 96 && zero(w->a6, 16)) {
		memset(w->a4, 0, sizeof(w->a4));
		return walk(w, (uint32_t)rec, 0, 4);
	}
	if (fam == 6 && w->has_v4root && rec == w->v4root)
		return 0;
	if (plen == (fam == 4 ? 32u : 128u))
		return fail(w, fam, plen, "search tree deeper than the address");
	return walk(w, (uint32_t)rec, plen, fam);
}

static int walk(struct walk *w, uint32_t node, unsigned depth, int fam)
{
	uint8_t *a = fam == 4 ? w->a4 : w->a6;
	uint8_t bit = (uint8_t)(0x80 >> (depth % 8));
	MMDB_search_node_s n;
	if (++w->visits > MMDB_VISITS_MAX)
		return fail(w, fam, depth, "search tree has more than %lu paths (corrupt?)",
			    MMDB_VISITS_MAX);
	int st = MMDB_read_node(w->db, node, &n);
	if (st != MMDB_SUCCESS)
		return fail(w, fam, depth, "node %u: %s", node, MMDB_strerror(st));
	int rc = record(w, n.left_record, n.left_record_type, n.left_record_entry, fam, depth + 1);
	if (rc)
		return rc;
	a[depth / 8] |= bit;
	rc = record(w, n.right_record, n.right_record_type, n.right_record_entry, fam, depth + 1);
	a[depth / 8] &= (uint8_t)~bit;
	return rc;
}

/* The IPv4 subtree of an IPv6 tree: 96 left turns from the root. */
static int find_v4root(struct walk *w)
{
	uint32_t node = 0;
	for (int i = 0; i < 96; i++) {
		MMDB_search_node_s n;
		int st = MMDB_read_node(w->db, node, &n);
		if (st != MMDB_SUCCESS)
			return fail(w, 6, (unsigned)i, "node %u: %s", node, MMDB_strerror(st));
		if (n.left_record_type != MMDB_RECORD_TYPE_SEARCH_NODE)
			return 0;
		node = (uint32_t)n.left_record;
	}
	w->has_v4root = true;
	w->v4root = node;
	return 0;
}

int r53_geo_load_mmdb(const char *path, struct r53_geo *g, struct p53_err *err)
{
	MMDB_s db;
	errno = 0;
	int st = MMDB_open(path, MMDB_MODE_MMAP, &db);
	if (st == MMDB_FILE_OPEN_ERROR)
		return p53_err_set(err, P53_EIO, "%s: cannot open: %s", path,
				   strerror(errno ? errno : ENOENT));
	/* An empty or short file fails in mmap or read: still "not a DB". */
	if (st != MMDB_SUCCESS)
		return p53_err_set(err, P53_EINVAL, "%s: not a valid MaxMind DB: %s%s%s", path,
				   MMDB_strerror(st), st == MMDB_IO_ERROR && errno ? ": " : "",
				   st == MMDB_IO_ERROR && errno ? strerror(errno) : "");
	struct walk w = {.db = &db, .g = g, .path = path, .err = err};
	const MMDB_metadata_s *m = &db.metadata;
	int rc = 0;
	if (m->record_size != 24 && m->record_size != 28 && m->record_size != 32)
		rc = p53_err_set(err, P53_EINVAL, "%s: record_size %u is not 24, 28 or 32", path,
				 (unsigned)m->record_size);
	else if (m->ip_version != 4 && m->ip_version != 6)
		rc = p53_err_set(err, P53_EINVAL, "%s: ip_version %u is not 4 or 6", path,
				 (unsigned)m->ip_version);
	else if (m->node_count == 0)
		; /* an empty tree: no networks */
	else if (m->ip_version == 4)
		rc = walk(&w, 0, 0, 4);
	else if ((rc = find_v4root(&w)) == 0)
		rc = walk(&w, 0, 0, 6);
	MMDB_close(&db);
	return rc ? rc : r53_geo_finish(g, path, err);
}

/* The metadata marker sits in the last 128 KiB of every MaxMind DB. */
static bool has_mmdb_marker(const char *path)
{
	static const char marker[] = "\xab\xcd\xefMaxMind.com";
	const size_t span = 128 * 1024;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return false; /* the CSV loader reports it */
	char *buf = malloc(span);
	size_t n = 0;
	if (buf && fseek(f, 0, SEEK_END) == 0) {
		long size = ftell(f);
		long from = size > (long)span ? size - (long)span : 0;
		if (size >= 0 && fseek(f, from, SEEK_SET) == 0)
			n = fread(buf, 1, span, f);
	}
	fclose(f);
	bool found = buf && memmem(buf, n, marker, sizeof(marker) - 1) != NULL;
	free(buf);
	return found;
}

int r53_geo_load(const char *path, struct r53_geo *g, struct p53_err *err)
{
	size_t l = strlen(path);
	if ((l >= 5 && strcasecmp(path + l - 5, ".mmdb") == 0) || has_mmdb_marker(path))
		return r53_geo_load_mmdb(path, g, err);
	return r53_geo_load_csv(path, g, err);
}
