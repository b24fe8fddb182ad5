/* The resolver's YAML file (rconf.h), read with libfyaml into fixed
 * structures: everything is checked here, so the resolver thread only ever
 * sees a configuration that makes sense.
 */
#include "ctrl/resolv/rconf.h"

#include "ctrl/net/ksock.h"
#include "ctrl/yamlfile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rp {
	const char *path;
	struct p53_err *err;
	struct rconf *rc;
};

static int bad(struct rp *p, struct fy_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct rp *p, struct fy_node *at, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int line, col;
	if (yamlfile_place(at, &line, &col))
		return p53_err_set(p->err, P53_EINVAL, "%s:%d:%d: %s", p->path, line, col, msg);
	return p53_err_set(p->err, P53_EINVAL, "%s: %s", p->path, msg);
}

/* Every key of map must be one of allowed (NULL-terminated). */
static int only_keys(struct rp *p, struct fy_node *map, const char *where,
		     const char *const *allowed)
{
	if (!fy_node_is_mapping(map))
		return bad(p, map, "%s must be a mapping", where);
	void *it = NULL;
	struct fy_node_pair *pr;
	while ((pr = fy_node_mapping_iterate(map, &it)) != NULL) {
		const char *k = fy_node_get_scalar0(fy_node_pair_key(pr));
		bool ok = false;
		for (unsigned i = 0; k && allowed[i] && !ok; i++)
			ok = strcmp(k, allowed[i]) == 0;
		if (!ok)
			return bad(p, fy_node_pair_key(pr), "%s: unknown key '%s'", where,
				   k ? k : "?");
	}
	return 0;
}

static const char *scalar(struct fy_node *n)
{
	return n && fy_node_is_scalar(n) ? fy_node_get_scalar0(n) : NULL;
}

static int get_bool(struct rp *p, struct fy_node *map, const char *key, const char *where,
		    bool *out)
{
	struct fy_node *n = fy_node_mapping_lookup_by_string(map, key, FY_NT);
	if (n == NULL)
		return 0;
	const char *s = scalar(n);
	if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")))
		*out = true;
	else if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")))
		*out = false;
	else
		return bad(p, n, "%s.%s must be true or false", where, key);
	return 0;
}

static int get_uint(struct rp *p, struct fy_node *map, const char *key, const char *where,
		    unsigned lo, unsigned hi, unsigned *out)
{
	struct fy_node *n = fy_node_mapping_lookup_by_string(map, key, FY_NT);
	if (n == NULL)
		return 0;
	const char *s = scalar(n);
	char *end;
	errno = 0;
	unsigned long v = s ? strtoul(s, &end, 10) : 0;
	if (s == NULL || *s == '-' || end == s || *end || errno || v < lo || v > hi)
		return bad(p, n, "%s.%s must be an integer from %u to %u", where, key, lo, hi);
	*out = (unsigned)v;
	return 0;
}

static int get_str(struct rp *p, struct fy_node *map, const char *key, const char *where,
		   char **out)
{
	struct fy_node *n = fy_node_mapping_lookup_by_string(map, key, FY_NT);
	if (n == NULL)
		return 0;
	const char *s = scalar(n);
	if (s == NULL || *s == 0)
		return bad(p, n, "%s.%s must be a non-empty string", where, key);
	if ((*out = strdup(s)) == NULL)
		return p53_err_set(p->err, P53_ENOMEM, "out of memory");
	return 0;
}

/* A sequence (or one scalar, read as a list of one): calls fn per item. */
typedef int (*item_fn)(struct rp *p, struct fy_node *item, const char *where, unsigned i,
		       void *arg);
static int each(struct rp *p, struct fy_node *n, const char *where, item_fn fn, void *arg)
{
	if (n == NULL)
		return 0;
	if (!fy_node_is_sequence(n))
		return fn(p, n, where, 0, arg);
	void *it = NULL;
	struct fy_node *e;
	unsigned i = 0;
	int rc;
	while ((e = fy_node_sequence_iterate(n, &it)) != NULL)
		if ((rc = fn(p, e, where, i++, arg)) != 0)
			return rc;
	return 0;
}

static int parse_prefix(const char *s, struct rconf_prefix *px)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	memset(px, 0, sizeof(*px));
	if (inet_pton(AF_INET, host, px->addr) == 1)
		px->family = 4;
	else if (inet_pton(AF_INET6, host, px->addr) == 1)
		px->family = 6;
	else
		return -1;
	unsigned max = px->family == 4 ? 32 : 128;
	unsigned long len = max;
	if (slash) {
		char *end;
		len = strtoul(slash + 1, &end, 10);
		if (end == slash + 1 || *end || len > max)
			return -1;
	}
	px->len = (uint8_t)len;
	/* Host bits set under the mask are a typo more often than intent. */
	for (unsigned b = px->len; b < max; b++)
		if (px->addr[b / 8] & (0x80 >> (b % 8)))
			return -2;
	return 0;
}

static int take_source(struct rp *p, struct fy_node *e, const char *where, unsigned i, void *arg)
{
	struct rconf_view *v = arg;
	const char *s = scalar(e);
	if (v->nsrc == RCONF_MAX_PREFIX)
		return bad(p, e, "%s.sources: more than %d prefixes", where, RCONF_MAX_PREFIX);
	int r = s ? parse_prefix(s, &v->src[v->nsrc]) : -1;
	if (r == -2)
		return bad(p, e, "%s.sources[%u]: '%s' has host bits set below its prefix length",
			   where, i, s);
	if (r != 0)
		return bad(p, e, "%s.sources[%u]: not an address or ADDR/LEN prefix", where, i);
	v->nsrc++;
	return 0;
}

static int take_listen(struct rp *p, struct fy_node *e, const char *where, unsigned i, void *arg)
{
	struct rconf_view *v = arg;
	const char *s = scalar(e);
	unsigned len;
	if (v->nlisten == RCONF_MAX_LISTEN)
		return bad(p, e, "%s.listen: more than %d addresses", where, RCONF_MAX_LISTEN);
	if (s == NULL || ksock_parse_addr(s, &v->listen[v->nlisten], &len) != 0)
		return bad(p, e, "%s.listen[%u]: not ADDR, ADDR:PORT or [IPv6]:PORT", where, i);
	v->nlisten++;
	return 0;
}

static int take_view_rule(struct rp *p, struct fy_node *e, const char *where, unsigned i, void *arg)
{
	struct rconf_view *v = arg;
	const char *s = scalar(e);
	for (unsigned r = 0; s && r < p->rc->nrules; r++)
		if (strcmp(p->rc->rules[r].name, s) == 0) {
			for (unsigned j = 0; j < v->nrules; j++)
				if (v->rules[j] == r)
					return bad(p, e, "%s.rules[%u]: '%s' listed twice", where,
						   i, s);
			/* Two rules of one view on the same domain would leave
			 * the choice to file order: refused. */
			for (unsigned j = 0; j < v->nrules; j++) {
				const struct rconf_rule *o = &p->rc->rules[v->rules[j]];
				if (o->domain_len == p->rc->rules[r].domain_len &&
				    !memcmp(o->domain, p->rc->rules[r].domain, o->domain_len))
					return bad(p, e,
						   "%s.rules[%u]: '%s' and '%s' have the same "
						   "domain",
						   where, i, o->name, s);
			}
			v->rules[v->nrules++] = (uint16_t)r;
			return 0;
		}
	return bad(p, e, "%s.rules[%u]: no rule named '%s'", where, i, s ? s : "?");
}

static int take_zone(struct rp *p, struct fy_node *e, const char *where, unsigned i, void *arg)
{
	struct rconf_view *v = arg;
	const char *s = scalar(e);
	if (v->nzones == RCONF_MAX_ZONES)
		return bad(p, e, "%s.zones: more than %d snapshots", where, RCONF_MAX_ZONES);
	if (s == NULL || *s == 0)
		return bad(p, e, "%s.zones[%u]: a snapshot file (.p53) is expected", where, i);
	/* Relative to the resolver file, as the firewall's lists are to theirs. */
	const char *slash = strrchr(p->path, '/');
	int dl = s[0] == '/' || slash == NULL ? 0 : (int)(slash - p->path + 1);
	size_t need = (size_t)dl + strlen(s) + 1;
	if ((v->zones[v->nzones] = malloc(need)) == NULL)
		return p53_err_set(p->err, P53_ENOMEM, "out of memory");
	snprintf(v->zones[v->nzones], need, "%.*s%s", dl, p->path, s);
	v->nzones++;
	return 0;
}

static int take_view(struct rp *p, struct fy_node *e, const char *where0, unsigned i, void *arg)
{
	(void)where0;
	(void)arg;
	static const char *const keys[] = {"name",  "sources",	 "listen", "rules",
					   "zones", "recursion", NULL};
	char where[48];
	snprintf(where, sizeof(where), "views[%u]", i);
	struct rconf *rc = p->rc;
	if (rc->nviews == RCONF_MAX_VIEWS)
		return bad(p, e, "more than %d views", RCONF_MAX_VIEWS);
	int r;
	if ((r = only_keys(p, e, where, keys)) != 0)
		return r;
	struct rconf_view *v = &rc->views[rc->nviews];
	memset(v, 0, sizeof(*v));
	v->recursion = true;
	struct fy_node *n = fy_node_mapping_lookup_by_string(e, "name", FY_NT);
	const char *name = scalar(n);
	if (name == NULL || *name == 0 || strlen(name) >= sizeof(v->name))
		return bad(p, n ? n : e, "%s.name: a name of 1 to %zu characters is required",
			   where, sizeof(v->name) - 1);
	for (unsigned j = 0; j < rc->nviews; j++)
		if (strcmp(rc->views[j].name, name) == 0)
			return bad(p, n, "%s.name: view '%s' defined twice", where, name);
	strcpy(v->name, name);
	if ((r = each(p, fy_node_mapping_lookup_by_string(e, "sources", FY_NT), where, take_source,
		      v)) != 0 ||
	    (r = each(p, fy_node_mapping_lookup_by_string(e, "listen", FY_NT), where, take_listen,
		      v)) != 0 ||
	    (r = get_bool(p, e, "recursion", where, &v->recursion)) != 0)
		return r;
	struct fy_node *zn = fy_node_mapping_lookup_by_string(e, "zones", FY_NT);
	rc->nviews++; /* owns what is allocated from here on */
	if ((r = each(p, zn, where, take_zone, v)) != 0)
		return r;
	struct fy_node *rl = fy_node_mapping_lookup_by_string(e, "rules", FY_NT);
	v->all_rules = rl == NULL;
	v->rules = calloc(rc->nrules ? rc->nrules : 1, sizeof(*v->rules));
	if (v->rules == NULL)
		return p53_err_set(p->err, P53_ENOMEM, "out of memory");
	if (v->all_rules) {
		for (unsigned j = 0; j < rc->nrules; j++)
			v->rules[v->nrules++] = (uint16_t)j;
		return 0;
	}
	return each(p, rl, where, take_view_rule, v);
}

static int take_target(struct rp *p, struct fy_node *e, const char *where, unsigned i, void *arg)
{
	struct rconf_rule *rl = arg;
	const char *s = scalar(e);
	struct sockaddr_storage ss;
	unsigned len;
	if (rl->ntargets == RCONF_MAX_TARGETS)
		return bad(p, e, "%s.targets: more than %d targets", where, RCONF_MAX_TARGETS);
	if (s == NULL || ksock_parse_addr(s, &ss, &len) != 0)
		return bad(p, e, "%s.targets[%u]: not ADDR, ADDR:PORT or [IPv6]:PORT", where, i);
	char host[INET6_ADDRSTRLEN];
	unsigned port;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
	} else {
		const struct sockaddr_in6 *a = (const void *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
	}
	snprintf(rl->targets[rl->ntargets++], sizeof(rl->targets[0]), "%s@%u", host, port);
	return 0;
}

static int take_rule(struct rp *p, struct fy_node *e, const char *where0, unsigned i, void *arg)
{
	(void)where0;
	(void)arg;
	static const char *const keys[] = {"name", "domain", "type", "targets", NULL};
	char where[48];
	snprintf(where, sizeof(where), "rules[%u]", i);
	struct rconf *rc = p->rc;
	int r;
	if ((r = only_keys(p, e, where, keys)) != 0)
		return r;
	struct rconf_rule *rl = &rc->rules[rc->nrules];
	memset(rl, 0, sizeof(*rl));
	struct fy_node *n = fy_node_mapping_lookup_by_string(e, "name", FY_NT);
	const char *s = scalar(n);
	if (s == NULL || *s == 0 || strlen(s) >= sizeof(rl->name))
		return bad(p, n ? n : e, "%s.name: a name of 1 to %zu characters is required",
			   where, sizeof(rl->name) - 1);
	for (unsigned j = 0; j < rc->nrules; j++)
		if (strcmp(rc->rules[j].name, s) == 0)
			return bad(p, n, "%s.name: rule '%s' defined twice", where, s);
	strcpy(rl->name, s);
	n = fy_node_mapping_lookup_by_string(e, "domain", FY_NT);
	s = scalar(n);
	const char *why = "missing";
	char txt[300];
	int len = -1;
	if (s && *s && strlen(s) < sizeof(txt) - 1) {
		/* Route 53 takes "example.com" and "example.com." alike. */
		snprintf(txt, sizeof(txt), "%s%s", s, s[strlen(s) - 1] == '.' ? "" : ".");
		len = name_from_text(txt, strlen(txt), NULL, rl->domain, &why);
	}
	if (len < 0)
		return bad(p, n ? n : e, "%s.domain: %s", where, why);
	rl->domain_len = (size_t)len;
	name_lower(rl->domain, rl->domain_len);
	rl->labels = name_labels(rl->domain);
	n = fy_node_mapping_lookup_by_string(e, "type", FY_NT);
	s = scalar(n);
	if (s && !strcmp(s, "FORWARD"))
		rl->type = RCONF_FORWARD;
	else if (s && !strcmp(s, "SYSTEM"))
		rl->type = RCONF_SYSTEM;
	else
		return bad(p, n ? n : e, "%s.type: must be FORWARD or SYSTEM", where);
	struct fy_node *t = fy_node_mapping_lookup_by_string(e, "targets", FY_NT);
	if ((r = each(p, t, where, take_target, rl)) != 0)
		return r;
	if (rl->type == RCONF_FORWARD && rl->ntargets == 0)
		return bad(p, e, "%s: a FORWARD rule needs targets", where);
	if (rl->type == RCONF_SYSTEM && rl->ntargets)
		return bad(p, t, "%s: a SYSTEM rule takes no targets", where);
	rc->nrules++;
	return 0;
}

static int take_recursion(struct rp *p, struct fy_node *m)
{
	static const char *const keys[] = {"root-hints",
					   "trust-anchor",
					   "qname-minimisation",
					   "serve-stale",
					   "stale-ttl",
					   "cache-max-ttl",
					   "cache-min-ttl",
					   "cache-max-negative-ttl",
					   "failover-s",
					   "forward-timeout-ms",
					   NULL};
	struct rconf *rc = p->rc;
	const char *w = "recursion";
	int r;
	if ((r = only_keys(p, m, w, keys)) != 0 ||
	    (r = get_str(p, m, "root-hints", w, &rc->root_hints)) != 0 ||
	    (r = get_str(p, m, "trust-anchor", w, &rc->trust_anchor)) != 0 ||
	    (r = get_bool(p, m, "qname-minimisation", w, &rc->qname_min)) != 0 ||
	    (r = get_bool(p, m, "serve-stale", w, &rc->serve_stale)) != 0 ||
	    (r = get_uint(p, m, "stale-ttl", w, 1, 604800, &rc->stale_ttl)) != 0 ||
	    (r = get_uint(p, m, "cache-max-ttl", w, 1, 604800, &rc->cache_max_ttl)) != 0 ||
	    (r = get_uint(p, m, "cache-min-ttl", w, 0, 3600, &rc->cache_min_ttl)) != 0 ||
	    (r = get_uint(p, m, "cache-max-negative-ttl", w, 1, 86400,
			  &rc->cache_max_negative_ttl)) != 0 ||
	    (r = get_uint(p, m, "failover-s", w, 1, 3600, &rc->failover_s)) != 0 ||
	    (r = get_uint(p, m, "forward-timeout-ms", w, 10, 60000, &rc->forward_timeout_ms)) != 0)
		return r;
	if (rc->cache_min_ttl > rc->cache_max_ttl)
		return bad(p, m, "recursion.cache-min-ttl is above cache-max-ttl");
	return 0;
}

static int take_root(struct rp *p, struct fy_node *root)
{
	static const char *const keys[] = {"recursion", "rules", "views", NULL};
	int r;
	if (root == NULL)
		return bad(p, NULL, "empty file: at least one view is needed");
	if ((r = only_keys(p, root, "the file", keys)) != 0)
		return r;
	struct fy_node *n = fy_node_mapping_lookup_by_string(root, "recursion", FY_NT);
	if (n && (r = take_recursion(p, n)) != 0)
		return r;
	n = fy_node_mapping_lookup_by_string(root, "rules", FY_NT);
	if (n && !fy_node_is_sequence(n))
		return bad(p, n, "rules must be a list");
	int nr = n ? fy_node_sequence_item_count(n) : 0;
	if (nr > RCONF_MAX_RULES)
		return bad(p, n, "more than %d rules", RCONF_MAX_RULES);
	p->rc->rules = calloc(nr ? (size_t)nr : 1, sizeof(*p->rc->rules));
	if (p->rc->rules == NULL)
		return p53_err_set(p->err, P53_ENOMEM, "out of memory");
	if (n && (r = each(p, n, "rules", take_rule, NULL)) != 0)
		return r;
	n = fy_node_mapping_lookup_by_string(root, "views", FY_NT);
	if (n == NULL || !fy_node_is_sequence(n) || fy_node_sequence_item_count(n) == 0)
		return bad(p, n ? n : root, "views: a list of at least one view is required");
	return each(p, n, "views", take_view, NULL);
}

struct rconf *rconf_load(const char *path, struct p53_err *err)
{
	struct rp p = {.path = path, .err = err};
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		p53_err_set(err, P53_EIO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	int c = getc(f);
	fclose(f);
	if (c == EOF) {
		p53_err_set(err, P53_EINVAL, "%s: empty file: at least one view is needed", path);
		return NULL;
	}
	char msg[600];
	struct fy_document *doc = yamlfile_load(path, msg, sizeof(msg));
	if (doc == NULL) {
		p53_err_set(err, P53_EINVAL, "%s", msg);
		return NULL;
	}
	p.rc = calloc(1, sizeof(*p.rc));
	if (p.rc == NULL) {
		fy_document_destroy(doc);
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	p.rc->qname_min = true;
	p.rc->cache_max_ttl = 86400;
	p.rc->cache_max_negative_ttl = 3600;
	p.rc->stale_ttl = 86400;
	p.rc->failover_s = 30;
	p.rc->forward_timeout_ms = 800;
	int r = take_root(&p, fy_document_root(doc));
	fy_document_destroy(doc);
	if (r != 0) {
		rconf_free(p.rc);
		return NULL;
	}
	return p.rc;
}

void rconf_free(struct rconf *rc)
{
	if (rc == NULL)
		return;
	for (unsigned i = 0; i < rc->nviews; i++) {
		free(rc->views[i].rules);
		for (unsigned j = 0; j < rc->views[i].nzones; j++)
			free(rc->views[i].zones[j]);
	}
	free(rc->rules);
	free(rc->root_hints);
	free(rc->trust_anchor);
	free(rc);
}

static bool prefix_has(const struct rconf_prefix *px, uint8_t family, const uint8_t *addr)
{
	if (px->family != family)
		return false;
	unsigned full = px->len / 8, rest = px->len % 8;
	if (memcmp(px->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (px->addr[full] & mask) == (addr[full] & mask);
}

bool rconf_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

int rconf_view_of(const struct rconf *rc, uint8_t family, const uint8_t *addr,
		  const struct sockaddr_storage *local)
{
	for (unsigned i = 0; i < rc->nviews; i++) {
		const struct rconf_view *v = &rc->views[i];
		bool src = v->nsrc == 0, lis = v->nlisten == 0;
		for (unsigned j = 0; j < v->nsrc && !src; j++)
			src = prefix_has(&v->src[j], family, addr);
		for (unsigned j = 0; j < v->nlisten && !lis && local; j++)
			lis = rconf_same_addr(&v->listen[j], local);
		if (src && lis)
			return (int)i;
	}
	return -1;
}

int rconf_rule_of(const struct rconf *rc, unsigned v, const uint8_t *name, size_t len)
{
	const struct rconf_view *vw = &rc->views[v];
	int best = -1;
	unsigned best_labels = 0;
	for (unsigned i = 0; i < vw->nrules; i++) {
		const struct rconf_rule *r = &rc->rules[vw->rules[i]];
		if ((best < 0 || r->labels > best_labels) &&
		    name_is_below_or_at(name, len, r->domain, r->domain_len)) {
			best = vw->rules[i];
			best_labels = r->labels;
		}
	}
	return best;
}
