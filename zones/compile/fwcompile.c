/* DNS Firewall compiler: rules (JSON) + domain lists + patterns -> .p53fw.
 *
 * Rules are numbered in evaluation order (group priority, then rule
 * priority), and that number is all either matcher reports, so picking the
 * winner at run time is taking a minimum. Domain lists become the suffix
 * table (fwcompile.h); patterns become one Hyperscan database whose
 * expression ids are rule numbers.
 */
#include "zones/compile/fwcompile.h"
#include "zones/common/fwfmt.h"

#include "zones/common/fileio.h"

#include "zones/answer/fw.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hs/hs.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OVERRIDE_TTL_MAX 604800 /* Route 53's BlockOverrideTtl range */
/* Limits on the files rules name (docs/firewall.md): a 1M-domain list is
 * about 20 MB; a domain in presentation form at most 1,009 bytes. */
#define RULES_FILE_MAX (16u << 20)
#define LIST_FILE_MAX  (512u << 20)
#define LIST_LINE_MAX  4096

enum kind { K_EXACT = 1, K_SUB = 2 };

struct dom {
	uint8_t kind; /* K_EXACT, K_SUB, or both for "*" */
	uint8_t len;
	uint8_t wire[P53_NAME_MAX];
};

/* A parsed list: entries packed as kind, length, wire name (the leading
 * bytes of struct dom), since a million 257-byte structs would be 257 MB. */
struct dlist {
	char *name;
	uint8_t *buf;
	size_t len, cap;
	size_t n;
};

struct rule {
	char *group, *name;
	uint32_t gprio, rprio;
	uint8_t action, flags;
	uint16_t qtype;
	uint32_t override_ttl;
	uint8_t override[P53_NAME_MAX];
	size_t nlists;
	struct dlist **lists; /* borrowed from the compile state */
	struct dlist own;     /* inline "domains" */
	size_t npats;
	char **pats;
};

/* Build-time rule lists for table entries that need more than one rule. */
struct rvec {
	uint32_t n, cap;
	uint32_t *r;
};

struct state {
	const char *path;
	char dir[4096];
	const struct p53_fw_compile_opts *o;
	struct p53_err *err;
	struct dlist **lists;
	size_t nlists;
	struct rule *rules;
	size_t nrules;
	/* suffix table under construction: the final layout */
	struct fw_hash_ent *ht;
	uint32_t hmask, hcount;
	uint8_t *names;
	size_t names_len, names_cap;
	struct rvec *vecs;
	size_t nvecs, vecs_cap;
	uint32_t ndomains;
	/* Route 53 shapes: list Id -> the list's JSON path, so that a list
	 * file that cannot be read is reported where the operator wrote it. */
	json_t *r53_lists;
};

static void warn(struct state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct state *st, const char *fmt, ...)
{
	if (st->o == NULL || st->o->warn == NULL)
		return;
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st->o->warn(st->o->warn_arg, msg);
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * elem);
	if (q == NULL)
		return false;
	*p = q;
	*cap = c;
	return true;
}

/* ---- domain syntax ----------------------------------------------------- */

/* One list entry in Route 53 syntax: "example.com" (the name), "*.example.com"
 * (names strictly below it), "*" (everything). A trailing dot is optional;
 * RFC 1035 escapes (\. \DDD) are accepted for names that need them. */
static const char *parse_domain(const char *tok, size_t len, struct dom *d)
{
	static const uint8_t root[1] = {0};
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)tok[i] < 0x21 || (unsigned char)tok[i] > 0x7e)
			return "not a host name (non-ASCII or control character; use the "
			       "xn-- form)";
	d->kind = K_EXACT;
	if (len == 1 && tok[0] == '*') {
		d->kind = K_EXACT | K_SUB;
		d->len = 1;
		d->wire[0] = 0;
		return NULL;
	}
	if (tok[0] == '*') {
		if (len < 3 || tok[1] != '.')
			return "'*' is allowed only as a whole leading label (\"*.example.com\")";
		d->kind = K_SUB;
		tok += 2;
		len -= 2;
	}
	for (size_t i = 0; i < len; i++) {
		if (tok[i] == '\\')
			i++; /* an escaped character is literal */
		else if (tok[i] == '*')
			return "'*' is allowed only as a whole leading label";
	}
	if (len == 1 && tok[0] == '.')
		return "the root alone is not a domain (use \"*\" for everything)";
	const char *why = NULL;
	int n = name_from_text(tok, len, root, d->wire, &why);
	if (n < 0)
		return why;
	name_lower(d->wire, (size_t)n);
	d->len = (uint8_t)n;
	return NULL;
}

static int list_add(struct state *st, struct dlist *l, const struct dom *d)
{
	if (!grow((void **)&l->buf, &l->cap, l->len + 2 + d->len, 1))
		return p53_err_set(st->err, P53_ENOMEM, "out of memory");
	memcpy(l->buf + l->len, d, 2 + (size_t)d->len);
	l->len += 2 + (size_t)d->len;
	l->n++;
	return 0;
}

static bool is_address(const char *tok, size_t len)
{
	char buf[64];
	uint8_t a[16];
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, tok, len);
	buf[len] = 0;
	return inet_pton(AF_INET, buf, a) == 1 || inet_pton(AF_INET6, buf, a) == 1;
}

/* Rules name files by path, and whoever writes the rules need not be who
 * runs the compiler: a path may name /etc/shadow, a FIFO or /dev/zero. So
 * only regular files are read, opened without blocking and size-capped, and
 * no message ever quotes a byte of them (file, line and field number say
 * where). */
static FILE *open_untrusted(const char *path, const char *what, size_t max, struct p53_err *err)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		p53_err_set(err, P53_EIO, "%s: %s: %s", path, what, strerror(errno));
		return NULL;
	}
	struct stat sb;
	int fl = fcntl(fd, F_GETFL);
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		p53_err_set(err, P53_EINVAL, "%s: %s: not a regular file", path, what);
	} else if ((uint64_t)sb.st_size > max) {
		p53_err_set(err, P53_EINVAL, "%s: %s: larger than the limit of %zu bytes", path,
			    what, max);
	} else if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		p53_err_set(err, P53_EIO, "%s: %s: %s", path, what, strerror(errno));
	} else {
		FILE *f = fdopen(fd, "r");
		if (f)
			return f;
		p53_err_set(err, P53_EIO, "%s: %s: %s", path, what, strerror(errno));
	}
	close(fd);
	return NULL;
}

/* One line, with its newline, into buf; 1, 0 at the end of the file, or -1
 * when the line does not fit. Counts the bytes read into *total, so a file
 * that grows while it is read is still bounded. */
static int read_line(FILE *f, char *buf, size_t cap, size_t *len, size_t *total)
{
	size_t n = 0;
	int c = EOF;
	while (n < cap && (c = getc_unlocked(f)) != EOF) {
		buf[n++] = (char)c;
		if (c == '\n')
			break;
	}
	*len = n;
	*total += n;
	if (n == cap && c != '\n')
		return -1;
	return n > 0 ? 1 : 0;
}

/* A list file: one domain a line; "#" and ";" start comments (at the start
 * of a line or after white space); hosts-file lines ("0.0.0.0 ads.example")
 * are accepted, since that is how many public block lists are published. */
static int load_list_file(struct state *st, const char *file, struct dlist *l)
{
	char path[8192];
	if (file[0] == '/' || st->dir[0] == 0)
		snprintf(path, sizeof(path), "%s", file);
	else
		snprintf(path, sizeof(path), "%s/%s", st->dir, file);
	char what[600];
	json_t *at = st->r53_lists ? json_object_get(st->r53_lists, l->name) : NULL;
	if (json_is_string(at))
		snprintf(what, sizeof(what), "list '%.100s' (%.200s: %.100s.File)", l->name,
			 st->path, json_string_value(at));
	else
		snprintf(what, sizeof(what), "list '%.100s'", l->name);
	FILE *f = open_untrusted(path, what, LIST_FILE_MAX, st->err);
	if (f == NULL)
		return st->err->code;
	static char line[LIST_LINE_MAX];
	size_t len, total = 0;
	unsigned lineno = 0;
	int rc = 0, got;
	while (rc == 0 && (got = read_line(f, line, sizeof(line), &len, &total)) != 0) {
		lineno++;
		if (got < 0 || total > LIST_FILE_MAX) {
			rc = p53_err_at(st->err, P53_EINVAL, path, lineno,
					got < 0 ? "line longer than %u bytes"
						: "file grew past the limit of %u bytes",
					got < 0 ? LIST_LINE_MAX : LIST_FILE_MAX);
			break;
		}
		for (size_t i = 0; i < len; i++) {
			bool start = i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t';
			if ((line[i] == '#' || line[i] == ';') && start) {
				len = i;
				break;
			}
		}
		const char *tok[8];
		size_t tl[8], nt = 0;
		for (size_t i = 0; i < len;) {
			while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' ||
					   line[i] == '\n'))
				i++;
			size_t s = i;
			while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
			       line[i] != '\n')
				i++;
			if (i > s) {
				if (nt == 8) {
					rc = p53_err_at(st->err, P53_EINVAL, path, lineno,
							"too many fields");
					break;
				}
				tok[nt] = line + s;
				tl[nt++] = i - s;
			}
		}
		if (rc || nt == 0)
			continue;
		size_t first = 0;
		if (nt > 1) {
			if (!is_address(tok[0], tl[0])) {
				rc = p53_err_at(st->err, P53_EINVAL, path, lineno,
						"%zu fields: one domain per line expected (or a "
						"hosts-file line: address, then names)",
						nt);
				break;
			}
			first = 1;
		}
		for (size_t t = first; t < nt && rc == 0; t++) {
			struct dom d;
			const char *why = parse_domain(tok[t], tl[t], &d);
			if (why)
				rc = p53_err_at(st->err, P53_EINVAL, path, lineno, "field %zu: %s",
						t + 1, why);
			else
				rc = list_add(st, l, &d);
		}
	}
	if (rc == 0 && ferror(f))
		rc = p53_err_set(st->err, P53_EIO, "%s: read error", path);
	fclose(f);
	if (rc == 0 && l->n == 0)
		warn(st, "%s: list '%s' is empty", path, l->name);
	return rc;
}

/* ---- JSON -------------------------------------------------------------- */

static int check_keys(struct state *st, json_t *obj, const char *const *allowed, const char *what)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, key) == 0;
		if (!ok)
			return p53_err_set(st->err, P53_EINVAL, "%s: %s: unknown key '%s'",
					   st->path, what, key);
	}
	return 0;
}

static int inline_domains(struct state *st, json_t *arr, struct dlist *l, const char *what)
{
	if (!json_is_array(arr))
		return p53_err_set(st->err, P53_EINVAL, "%s: %s: \"domains\" must be an array",
				   st->path, what);
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v))
			return p53_err_set(st->err, P53_EINVAL,
					   "%s: %s: domain %zu is not a string", st->path, what, i);
		struct dom d;
		const char *s = json_string_value(v);
		size_t sl = json_string_length(v);
		const char *why = sl ? parse_domain(s, sl, &d) : "empty";
		if (why)
			return p53_err_set(st->err, P53_EINVAL, "%s: %s: domain '%s': %s", st->path,
					   what, s, why);
		int rc = list_add(st, l, &d);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_lists(struct state *st, json_t *obj)
{
	if (obj == NULL)
		return 0;
	if (!json_is_object(obj))
		return p53_err_set(st->err, P53_EINVAL, "%s: \"domain_lists\" must be an object",
				   st->path);
	st->lists = calloc(json_object_size(obj) + 1, sizeof(*st->lists));
	if (st->lists == NULL)
		return p53_err_set(st->err, P53_ENOMEM, "out of memory");
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		struct dlist *l = calloc(1, sizeof(*l));
		if (l == NULL || (l->name = strdup(key)) == NULL) {
			free(l);
			return p53_err_set(st->err, P53_ENOMEM, "out of memory");
		}
		st->lists[st->nlists++] = l;
		char what[300];
		snprintf(what, sizeof(what), "list '%s'", key);
		int rc;
		if (json_is_string(v)) {
			rc = load_list_file(st, json_string_value(v), l);
		} else if (json_is_object(v)) {
			static const char *const keys[] = {"file", "domains", NULL};
			json_t *file = json_object_get(v, "file"),
			       *doms = json_object_get(v, "domains");
			rc = check_keys(st, v, keys, what);
			if (rc == 0 && file && !json_is_string(file))
				rc = p53_err_set(st->err, P53_EINVAL,
						 "%s: %s: \"file\" must be a string", st->path,
						 what);
			if (rc == 0 && file)
				rc = load_list_file(st, json_string_value(file), l);
			if (rc == 0 && doms)
				rc = inline_domains(st, doms, l, what);
			if (rc == 0 && file == NULL && doms == NULL)
				rc = p53_err_set(st->err, P53_EINVAL,
						 "%s: %s: give \"file\" or \"domains\"", st->path,
						 what);
		} else {
			rc = p53_err_set(st->err, P53_EINVAL,
					 "%s: %s: a file name or an object expected", st->path,
					 what);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static struct dlist *find_list(struct state *st, const char *name)
{
	for (size_t i = 0; i < st->nlists; i++)
		if (strcmp(st->lists[i]->name, name) == 0)
			return st->lists[i];
	return NULL;
}

static int get_u32(struct state *st, json_t *o, const char *key, bool required, uint32_t max,
		   uint32_t *out, const char *what)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL) {
		if (required)
			return p53_err_set(st->err, P53_EINVAL, "%s: %s: \"%s\" missing", st->path,
					   what, key);
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (unsigned long long)json_integer_value(v) > max)
		return p53_err_set(st->err, P53_EINVAL, "%s: %s: \"%s\" must be an integer 0..%u",
				   st->path, what, key, max);
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static const char *get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int parse_action(struct state *st, json_t *o, struct rule *r, const char *what)
{
	const char *a = get_str(o, "action"), *br = get_str(o, "block_response");
	if (a == NULL)
		return p53_err_set(st->err, P53_EINVAL, "%s: %s: \"action\" missing", st->path,
				   what);
	if (br && strcmp(a, "BLOCK") != 0)
		return p53_err_set(st->err, P53_EINVAL,
				   "%s: %s: \"block_response\" is for action BLOCK", st->path,
				   what);
	if (!strcmp(a, "ALLOW"))
		r->action = P53_FW_ALLOW;
	else if (!strcmp(a, "ALERT"))
		r->action = P53_FW_ALERT;
	else if (!strcmp(a, "REFUSED"))
		r->action = P53_FW_REFUSED;
	else if (!strcmp(a, "DROP"))
		r->action = P53_FW_DROP;
	else if (!strcmp(a, "BLOCK")) {
		/* Route 53's console proposes NODATA; so do we. */
		if (br == NULL || !strcmp(br, "NODATA"))
			r->action = P53_FW_BLOCK_NODATA;
		else if (!strcmp(br, "NXDOMAIN"))
			r->action = P53_FW_BLOCK_NXDOMAIN;
		else if (!strcmp(br, "OVERRIDE"))
			r->action = P53_FW_BLOCK_OVERRIDE;
		else
			return p53_err_set(st->err, P53_EINVAL,
					   "%s: %s: block_response '%s': NODATA, NXDOMAIN or "
					   "OVERRIDE expected",
					   st->path, what, br);
	} else
		return p53_err_set(st->err, P53_EINVAL,
				   "%s: %s: action '%s': ALLOW, ALERT, BLOCK, REFUSED or DROP "
				   "expected",
				   st->path, what, a);
	const char *od = get_str(o, "block_override_domain");
	json_t *ttl = json_object_get(o, "block_override_ttl");
	if (r->action != P53_FW_BLOCK_OVERRIDE) {
		if (od || ttl)
			return p53_err_set(st->err, P53_EINVAL,
					   "%s: %s: block_override_* need block_response OVERRIDE",
					   st->path, what);
		return 0;
	}
	if (od == NULL || ttl == NULL)
		return p53_err_set(st->err, P53_EINVAL,
				   "%s: %s: OVERRIDE needs block_override_domain and "
				   "block_override_ttl",
				   st->path, what);
	static const uint8_t root[1] = {0};
	const char *why = NULL;
	int n = name_from_text(od, strlen(od), root, r->override, &why);
	if (n < 0)
		return p53_err_set(st->err, P53_EINVAL, "%s: %s: block_override_domain '%s': %s",
				   st->path, what, od, why);
	name_lower(r->override, (size_t)n);
	return get_u32(st, o, "block_override_ttl", true, OVERRIDE_TTL_MAX, &r->override_ttl, what);
}

static int parse_rule(struct state *st, json_t *o, struct rule *r, const char *gname,
		      uint32_t gprio)
{
	static const char *const keys[] = {"name",
					   "priority",
					   "action",
					   "block_response",
					   "block_override_domain",
					   "block_override_ttl",
					   "block_override_dns_type",
					   "qtype",
					   "redirection",
					   "domain_list",
					   "domains",
					   "patterns",
					   NULL};
	char what[600];
	if (!json_is_object(o))
		return p53_err_set(st->err, P53_EINVAL, "%s: group '%s': rules must be objects",
				   st->path, gname);
	const char *name = get_str(o, "name");
	if (name == NULL)
		return p53_err_set(st->err, P53_EINVAL, "%s: group '%s': a rule has no \"name\"",
				   st->path, gname);
	snprintf(what, sizeof(what), "rule '%s' (group '%s')", name, gname);
	r->group = strdup(gname);
	r->name = strdup(name);
	r->gprio = gprio;
	if (r->group == NULL || r->name == NULL)
		return p53_err_set(st->err, P53_ENOMEM, "out of memory");
	int rc = check_keys(st, o, keys, what);
	if (rc == 0)
		rc = get_u32(st, o, "priority", true, UINT32_MAX, &r->rprio, what);
	if (rc == 0)
		rc = parse_action(st, o, r, what);
	if (rc)
		return rc;
	const char *dt = get_str(o, "block_override_dns_type");
	if (dt && strcmp(dt, "CNAME") != 0)
		return p53_err_set(st->err, P53_EINVAL,
				   "%s: %s: block_override_dns_type: only CNAME exists", st->path,
				   what);
	json_t *qt = json_object_get(o, "qtype");
	if (qt) {
		const char *s = json_string_value(qt);
		r->qtype = s ? rrtype_from_text(s, strlen(s)) : 0;
		if (r->qtype == 0)
			return p53_err_set(st->err, P53_EINVAL,
					   "%s: %s: qtype: a type name or TYPEnnn expected",
					   st->path, what);
	}
	const char *rd = get_str(o, "redirection");
	if (rd && !strcmp(rd, "TRUST_REDIRECTION_DOMAIN"))
		r->flags |= FW_RULE_TRUST;
	else if (rd && strcmp(rd, "INSPECT_REDIRECTION_DOMAIN") != 0)
		return p53_err_set(st->err, P53_EINVAL,
				   "%s: %s: redirection: INSPECT_REDIRECTION_DOMAIN or "
				   "TRUST_REDIRECTION_DOMAIN expected",
				   st->path, what);
	json_t *dl = json_object_get(o, "domain_list");
	if (dl) {
		json_t *one = json_is_string(dl) ? dl : NULL;
		size_t n = one ? 1 : json_is_array(dl) ? json_array_size(dl) : 0;
		r->lists = calloc(n + 1, sizeof(*r->lists));
		if (r->lists == NULL)
			return p53_err_set(st->err, P53_ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++) {
			json_t *e = one ? one : json_array_get(dl, i);
			struct dlist *l =
			    json_is_string(e) ? find_list(st, json_string_value(e)) : NULL;
			if (l == NULL)
				return p53_err_set(
				    st->err, P53_EINVAL, "%s: %s: domain_list '%s' is not defined",
				    st->path, what, json_is_string(e) ? json_string_value(e) : "?");
			r->lists[r->nlists++] = l;
		}
		if (n == 0)
			return p53_err_set(st->err, P53_EINVAL,
					   "%s: %s: domain_list: a list name or an array of them",
					   st->path, what);
	}
	json_t *doms = json_object_get(o, "domains");
	if (doms && (rc = inline_domains(st, doms, &r->own, what)) != 0)
		return rc;
	json_t *pats = json_object_get(o, "patterns");
	if (pats) {
		if (!json_is_array(pats))
			return p53_err_set(st->err, P53_EINVAL,
					   "%s: %s: \"patterns\" must be an array", st->path, what);
		r->pats = calloc(json_array_size(pats) + 1, sizeof(char *));
		if (r->pats == NULL)
			return p53_err_set(st->err, P53_ENOMEM, "out of memory");
		size_t i;
		json_t *p;
		json_array_foreach(pats, i, p)
		{
			if (!json_is_string(p) || json_string_length(p) == 0 ||
			    strlen(json_string_value(p)) != json_string_length(p))
				return p53_err_set(
				    st->err, P53_EINVAL,
				    "%s: %s: pattern %zu: a non-empty string without "
				    "NUL expected",
				    st->path, what, i);
			if ((r->pats[r->npats++] = strdup(json_string_value(p))) == NULL)
				return p53_err_set(st->err, P53_ENOMEM, "out of memory");
		}
	}
	size_t total = r->own.n + r->npats;
	for (size_t i = 0; i < r->nlists; i++)
		total += r->lists[i]->n;
	if (total == 0)
		warn(st, "%s: %s matches nothing (no domains, no patterns)", st->path, what);
	return 0;
}

static int parse_groups(struct state *st, json_t *arr)
{
	static const char *const gkeys[] = {"name", "priority", "rules", NULL};
	if (!json_is_array(arr))
		return p53_err_set(st->err, P53_EINVAL, "%s: \"rule_groups\" must be an array",
				   st->path);
	size_t total = 0, i;
	json_t *g;
	json_array_foreach(arr, i, g)
	{
		json_t *rs = json_object_get(g, "rules");
		total += json_is_array(rs) ? json_array_size(rs) : 0;
	}
	if (total > FW_RULES_MAX)
		return p53_err_set(st->err, P53_ERANGE, "%s: %zu rules, at most %u", st->path,
				   total, FW_RULES_MAX);
	st->rules = calloc(total + 1, sizeof(*st->rules));
	if (st->rules == NULL)
		return p53_err_set(st->err, P53_ENOMEM, "out of memory");
	json_array_foreach(arr, i, g)
	{
		char what[300];
		if (!json_is_object(g))
			return p53_err_set(st->err, P53_EINVAL, "%s: rule group %zu: not an object",
					   st->path, i);
		const char *gname = get_str(g, "name");
		if (gname == NULL)
			return p53_err_set(st->err, P53_EINVAL,
					   "%s: rule group %zu has no \"name\"", st->path, i);
		snprintf(what, sizeof(what), "group '%s'", gname);
		uint32_t gprio = 0;
		int rc = check_keys(st, g, gkeys, what);
		if (rc == 0)
			rc = get_u32(st, g, "priority", true, UINT32_MAX, &gprio, what);
		if (rc)
			return rc;
		json_t *rs = json_object_get(g, "rules");
		if (!json_is_array(rs))
			return p53_err_set(st->err, P53_EINVAL,
					   "%s: %s: \"rules\" must be an array", st->path, what);
		size_t j;
		json_t *r;
		json_array_foreach(rs, j, r)
		{
			rc = parse_rule(st, r, &st->rules[st->nrules++], gname, gprio);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int rule_cmp(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;
	if (x->gprio != y->gprio)
		return x->gprio < y->gprio ? -1 : 1;
	if (x->rprio != y->rprio)
		return x->rprio < y->rprio ? -1 : 1;
	return 0;
}

/* Route 53 evaluates groups and rules by priority alone, so equal priorities
 * would leave the order undefined: refuse them. */
static int check_priorities(struct state *st)
{
	for (size_t i = 1; i < st->nrules; i++) {
		const struct rule *a = &st->rules[i - 1], *b = &st->rules[i];
		if (a->gprio == b->gprio && strcmp(a->group, b->group) != 0)
			return p53_err_set(st->err, P53_EINVAL,
					   "%s: groups '%s' and '%s' both have priority %u",
					   st->path, a->group, b->group, a->gprio);
		if (a->gprio == b->gprio && a->rprio == b->rprio)
			return p53_err_set(st->err, P53_EINVAL,
					   "%s: rules '%s' and '%s' (group '%s') both have "
					   "priority %u",
					   st->path, a->name, b->name, a->group, a->rprio);
	}
	return 0;
}

/* ---- suffix table ------------------------------------------------------ */

static int table_grow(struct state *st)
{
	uint32_t size = st->hmask ? (st->hmask + 1) * 2 : 1024;
	struct fw_hash_ent *t = calloc(size, sizeof(*t));
	if (t == NULL)
		return p53_err_set(st->err, P53_ENOMEM, "out of memory");
	for (uint32_t i = 0; st->ht && i <= st->hmask; i++) {
		if (st->ht[i].name == 0)
			continue;
		uint32_t j = st->ht[i].hash & (size - 1);
		while (t[j].name)
			j = (j + 1) & (size - 1);
		t[j] = st->ht[i];
	}
	free(st->ht);
	st->ht = t;
	st->hmask = size - 1;
	return 0;
}

static struct fw_hash_ent *table_get(struct state *st, const struct dom *d)
{
	if (((size_t)st->hcount + 1) * 2 > (size_t)st->hmask + 1 && table_grow(st) != 0)
		return NULL;
	uint32_t h = name_hash(d->wire, d->len);
	uint32_t i = h & st->hmask;
	for (;; i = (i + 1) & st->hmask) {
		struct fw_hash_ent *e = &st->ht[i];
		if (e->name == 0)
			break;
		const uint8_t *n = st->names + e->name - 1;
		if (e->hash == h && n[0] == d->len && memcmp(n + 1, d->wire, d->len) == 0)
			return e;
	}
	if (!grow((void **)&st->names, &st->names_cap, st->names_len + 1 + d->len, 1) ||
	    st->names_len + 1 + d->len >= UINT32_MAX) {
		p53_err_set(st->err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	struct fw_hash_ent *e = &st->ht[i];
	e->hash = h;
	e->name = (uint32_t)st->names_len + 1;
	e->exact = e->sub = FW_NONE;
	st->names[st->names_len] = d->len;
	memcpy(st->names + st->names_len + 1, d->wire, d->len);
	st->names_len += 1 + (size_t)d->len;
	st->hcount++;
	return e;
}

/* Adds rule r (rules arrive in ascending order) to a table value. A rule
 * without a qtype filter decides every query it matches, so nothing after it
 * is kept. */
static int value_add(struct state *st, uint32_t *v, uint32_t r)
{
	if (*v == FW_NONE) {
		*v = r;
		return 0;
	}
	uint32_t last = *v;
	struct rvec *vec = NULL;
	if (*v & FW_LIST_BIT) {
		vec = &st->vecs[*v & ~FW_LIST_BIT];
		last = vec->r[vec->n - 1];
	}
	if (last == r || st->rules[last].qtype == 0)
		return 0;
	if (vec == NULL) {
		if (!grow((void **)&st->vecs, &st->vecs_cap, st->nvecs + 1, sizeof(*st->vecs)))
			return p53_err_set(st->err, P53_ENOMEM, "out of memory");
		vec = &st->vecs[st->nvecs];
		memset(vec, 0, sizeof(*vec));
		size_t cap = 0;
		if (!grow((void **)&vec->r, &cap, 2, sizeof(uint32_t)))
			return p53_err_set(st->err, P53_ENOMEM, "out of memory");
		vec->cap = (uint32_t)cap;
		vec->r[vec->n++] = *v;
		*v = FW_LIST_BIT | (uint32_t)st->nvecs++;
	}
	size_t cap = vec->cap;
	if (!grow((void **)&vec->r, &cap, vec->n + 1, sizeof(uint32_t)))
		return p53_err_set(st->err, P53_ENOMEM, "out of memory");
	vec->cap = (uint32_t)cap;
	vec->r[vec->n++] = r;
	return 0;
}

static int add_domains(struct state *st, const struct dlist *l, uint32_t r)
{
	for (size_t pos = 0; pos < l->len;) {
		const struct dom *d = (const void *)(l->buf + pos);
		pos += 2 + (size_t)d->len;
		struct fw_hash_ent *e = table_get(st, d);
		if (e == NULL)
			return st->err->code ? st->err->code : P53_ENOMEM;
		int rc = 0;
		if (d->kind & K_EXACT)
			rc = value_add(st, &e->exact, r);
		if (rc == 0 && (d->kind & K_SUB))
			rc = value_add(st, &e->sub, r);
		if (rc)
			return rc;
		st->ndomains++;
	}
	return 0;
}

/* ---- patterns ---------------------------------------------------------- */

static int compile_patterns(struct state *st, hs_database_t **db, uint32_t *npats, uint32_t *minpat)
{
	size_t n = 0;
	for (size_t i = 0; i < st->nrules; i++)
		n += st->rules[i].npats;
	*npats = (uint32_t)n;
	*minpat = FW_NONE;
	*db = NULL;
	if (n == 0)
		return 0;
	const char **ex = calloc(n, sizeof(*ex));
	unsigned *ids = calloc(n, sizeof(*ids)), *flags = calloc(n, sizeof(*flags));
	if (ex == NULL || ids == NULL || flags == NULL) {
		free(ex);
		free(ids);
		free(flags);
		return p53_err_set(st->err, P53_ENOMEM, "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < st->nrules; i++) {
		for (size_t j = 0; j < st->rules[i].npats; j++) {
			ex[k] = st->rules[i].pats[j];
			ids[k] = (unsigned)i;
			/* Names are matched lower-cased, but an operator may
			 * write "Victim\.example": caseless keeps both right.
			 * One report per rule is all the verdict needs. */
			flags[k++] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
			if (*minpat == FW_NONE)
				*minpat = (uint32_t)i;
		}
	}
	hs_compile_error_t *ce = NULL;
	int rc = 0;
	if (hs_compile_multi(ex, flags, ids, (unsigned)n, HS_MODE_BLOCK, NULL, db, &ce) !=
	    HS_SUCCESS) {
		if (ce && ce->expression >= 0 && (size_t)ce->expression < n) {
			const struct rule *r = &st->rules[ids[ce->expression]];
			rc = p53_err_set(st->err, P53_EINVAL,
					 "%s: rule '%s' (group '%s'): pattern '%s': %s", st->path,
					 r->name, r->group, ex[ce->expression], ce->message);
		} else {
			rc = p53_err_set(st->err, P53_EINVAL, "%s: patterns: %s", st->path,
					 ce ? ce->message : "Hyperscan compile failed");
		}
		hs_free_compile_error(ce);
		*db = NULL;
	}
	free(ex);
	free(ids);
	free(flags);
	return rc;
}

/* ---- image ------------------------------------------------------------- */

static size_t align_up(size_t v)
{
	return (v + FW_ALIGN - 1) & ~(size_t)(FW_ALIGN - 1);
}

static int build_image(struct state *st, const char *hsbytes, size_t hslen, uint32_t npats,
		       uint32_t minpat, uint32_t flags, uint8_t **img, size_t *len)
{
	/* Strings: per rule, group and name, then the override wire name. */
	size_t strings_len = 0;
	for (size_t i = 0; i < st->nrules; i++) {
		const struct rule *r = &st->rules[i];
		strings_len += strlen(r->group) + 1 + strlen(r->name) + 1;
		if (r->action == P53_FW_BLOCK_OVERRIDE)
			strings_len += name_len(r->override);
	}
	size_t rlist_len = 0;
	for (size_t i = 0; i < st->nvecs; i++)
		rlist_len += 1 + st->vecs[i].n;
	size_t pats_len = 0;
	for (size_t i = 0; i < st->nrules; i++)
		for (size_t j = 0; j < st->rules[i].npats; j++)
			pats_len += 8 + ((strlen(st->rules[i].pats[j]) + 3) & ~(size_t)3);
	if (st->ht == NULL && table_grow(st) != 0)
		return st->err->code;
	size_t slen[FWS__MAX + 1] = {
	    [FWS_RULES] = st->nrules * sizeof(struct fw_rule),
	    [FWS_STRINGS] = strings_len,
	    [FWS_HASH] = sizeof(struct fw_hash_hdr) + ((size_t)st->hmask + 1) * sizeof(*st->ht),
	    [FWS_NAMES] = st->names_len,
	    [FWS_RLIST] = rlist_len * 4,
	    [FWS_HSDB] = hslen,
	    [FWS_PATTERNS] = pats_len,
	};
	uint32_t flog2 = 9;
	while (flog2 < 32 && ((size_t)1 << flog2) < (size_t)st->hcount * 8)
		flog2++;
	slen[FWS_FILTER] = sizeof(struct fw_filter_hdr) + ((size_t)1 << flog2) / 8;
	if (strings_len >= UINT32_MAX || rlist_len >= FW_LIST_BIT)
		return p53_err_set(st->err, P53_ERANGE, "%s: firewall too large", st->path);
	size_t off[FWS__MAX + 1], total = align_up(sizeof(struct fw_hdr));
	for (int id = 1; id <= FWS__MAX; id++) {
		off[id] = total;
		total = align_up(total + slen[id]);
	}
	uint8_t *b = calloc(1, total);
	if (b == NULL)
		return p53_err_set(st->err, P53_ENOMEM, "out of memory");
	struct fw_hdr *h = (struct fw_hdr *)b;
	memcpy(h->magic, FW_MAGIC, sizeof(FW_MAGIC));
	h->version = FW_VERSION;
	h->nsect = FWS__MAX;
	h->created = (uint64_t)time(NULL);
	h->serial = st->o && st->o->serial ? st->o->serial : h->created;
	h->size = total;
	h->nrules = (uint32_t)st->nrules;
	h->ndomains = st->ndomains;
	h->npatterns = npats;
	h->minpat = minpat;
	h->flags = flags;
	for (int id = 1; id <= FWS__MAX; id++)
		h->sect[id - 1] = (struct fw_sect){(uint32_t)id, 0, off[id], slen[id], {0}};

	/* RULES and STRINGS */
	struct fw_rule *fr = (void *)(b + off[FWS_RULES]);
	char *s = (char *)b + off[FWS_STRINGS];
	size_t so = 0;
	for (size_t i = 0; i < st->nrules; i++) {
		const struct rule *r = &st->rules[i];
		fr[i].group_prio = r->gprio;
		fr[i].rule_prio = r->rprio;
		fr[i].action = r->action;
		fr[i].flags = r->flags;
		fr[i].qtype = r->qtype;
		fr[i].override = FW_NONE;
		fr[i].override_ttl = r->override_ttl;
		fr[i].group = (uint32_t)so;
		so += (size_t)sprintf(s + so, "%s", r->group) + 1;
		fr[i].name = (uint32_t)so;
		so += (size_t)sprintf(s + so, "%s", r->name) + 1;
		if (r->action == P53_FW_BLOCK_OVERRIDE) {
			fr[i].override = (uint32_t)so;
			memcpy(s + so, r->override, name_len(r->override));
			so += name_len(r->override);
		}
	}
	/* RLIST: build-time vectors become count-prefixed runs, and the table
	 * values that named a vector now name its offset. */
	uint32_t *rl = (void *)(b + off[FWS_RLIST]);
	uint32_t *vec_off = calloc(st->nvecs + 1, sizeof(uint32_t));
	if (vec_off == NULL) {
		free(b);
		return p53_err_set(st->err, P53_ENOMEM, "out of memory");
	}
	size_t ro = 0;
	for (size_t i = 0; i < st->nvecs; i++) {
		vec_off[i] = (uint32_t)ro;
		rl[ro++] = st->vecs[i].n;
		memcpy(rl + ro, st->vecs[i].r, st->vecs[i].n * sizeof(uint32_t));
		ro += st->vecs[i].n;
	}
	struct fw_hash_hdr *hh = (void *)(b + off[FWS_HASH]);
	hh->mask = st->hmask;
	hh->count = st->hcount;
	struct fw_hash_ent *ht = (void *)(hh + 1);
	memcpy(ht, st->ht, ((size_t)st->hmask + 1) * sizeof(*ht));
	for (uint32_t i = 0; i <= st->hmask; i++) {
		if (ht[i].name == 0)
			continue;
		if (ht[i].exact != FW_NONE && (ht[i].exact & FW_LIST_BIT))
			ht[i].exact = FW_LIST_BIT | vec_off[ht[i].exact & ~FW_LIST_BIT];
		if (ht[i].sub != FW_NONE && (ht[i].sub & FW_LIST_BIT))
			ht[i].sub = FW_LIST_BIT | vec_off[ht[i].sub & ~FW_LIST_BIT];
	}
	free(vec_off);
	if (st->names_len)
		memcpy(b + off[FWS_NAMES], st->names, st->names_len);
	if (hslen)
		memcpy(b + off[FWS_HSDB], hsbytes, hslen);
	struct fw_filter_hdr *fh = (void *)(b + off[FWS_FILTER]);
	uint64_t *bits = (void *)(fh + 1);
	fh->log2 = flog2;
	fh->minlab = UINT8_MAX;
	fh->maxlab = 0;
	for (uint32_t i = 0; i <= st->hmask; i++) {
		if (st->ht[i].name == 0)
			continue;
		bits[fw_filter_word(st->ht[i].hash, flog2)] |= fw_filter_mask(st->ht[i].hash);
		unsigned nl = name_labels(st->names + st->ht[i].name);
		if (nl < fh->minlab)
			fh->minlab = (uint8_t)nl;
		if (nl > fh->maxlab)
			fh->maxlab = (uint8_t)nl;
	}
	uint8_t *p = b + off[FWS_PATTERNS];
	for (size_t i = 0; i < st->nrules; i++) {
		for (size_t j = 0; j < st->rules[i].npats; j++) {
			uint32_t hdr[2] = {(uint32_t)i, (uint32_t)strlen(st->rules[i].pats[j])};
			memcpy(p, hdr, 8);
			memcpy(p + 8, st->rules[i].pats[j], hdr[1]);
			p += 8 + ((hdr[1] + 3) & ~3u);
		}
	}
	fw_seal(b);
	*img = b;
	*len = total;
	return 0;
}

static void state_free(struct state *st)
{
	json_decref(st->r53_lists);
	for (size_t i = 0; i < st->nlists; i++) {
		free(st->lists[i]->name);
		free(st->lists[i]->buf);
		free(st->lists[i]);
	}
	free(st->lists);
	for (size_t i = 0; i < st->nrules; i++) {
		struct rule *r = &st->rules[i];
		free(r->group);
		free(r->name);
		free(r->lists);
		free(r->own.buf);
		for (size_t j = 0; j < r->npats; j++)
			free(r->pats[j]);
		free(r->pats);
	}
	free(st->rules);
	free(st->ht);
	free(st->names);
	for (size_t i = 0; i < st->nvecs; i++)
		free(st->vecs[i].r);
	free(st->vecs);
}

/* ---- Route 53 Resolver DNS Firewall shapes ------------------------------ */

/* One rule as `aws route53resolver list-firewall-rules` prints it, in the
 * native shape parse_rule reads. */
static json_t *r53_rule(struct state *st, json_t *r, const char *where, int *rc)
{
	static const char *const keys[] = {"FirewallRuleGroupId",
					   "FirewallDomainListId",
					   "Name",
					   "Priority",
					   "Action",
					   "BlockResponse",
					   "BlockOverrideDomain",
					   "BlockOverrideDnsType",
					   "BlockOverrideTtl",
					   "CreatorRequestId",
					   "CreationTime",
					   "ModificationTime",
					   "FirewallDomainRedirectionAction",
					   "Qtype",
					   NULL};
	static const char *const map[][2] = {
	    {"Name", "name"},
	    {"Priority", "priority"},
	    {"Action", "action"},
	    {"BlockResponse", "block_response"},
	    {"BlockOverrideDomain", "block_override_domain"},
	    {"BlockOverrideDnsType", "block_override_dns_type"},
	    {"BlockOverrideTtl", "block_override_ttl"},
	    {"FirewallDomainRedirectionAction", "redirection"},
	    {"Qtype", "qtype"},
	};
	if (!json_is_object(r)) {
		*rc = p53_err_set(st->err, P53_EINVAL, "%s: %s: a rule must be an object", st->path,
				  where);
		return NULL;
	}
	if ((*rc = check_keys(st, r, keys, where)) != 0)
		return NULL;
	json_t *out = json_object();
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		json_t *v = json_object_get(r, map[i][0]);
		if (v)
			json_object_set(out, map[i][1], v);
	}
	json_t *dl = json_object_get(r, "FirewallDomainListId");
	if (!json_is_string(dl)) {
		*rc = p53_err_set(st->err, P53_EINVAL, "%s: %s: FirewallDomainListId is required",
				  st->path, where);
		json_decref(out);
		return NULL;
	}
	json_object_set(out, "domain_list", dl);
	return out;
}

/* The Route 53 shapes, turned into the native rules document:
 *   {"FirewallFailOpen": "ENABLED" | "DISABLED",
 *    "FirewallDomainLists": [{"Id", "Name", "File" | "Domains"}],
 *    "FirewallRuleGroups": [{"Id", "Name", "Priority", "FirewallRules": [...]}]}
 * or "FirewallRules" alone (what list-firewall-rules prints: one group, named
 * by the rules' FirewallRuleGroupId, priority 100). Rules name lists by Id. */
static json_t *from_route53(struct state *st, json_t *root, int *rc)
{
	static const char *const top[] = {"FirewallFailOpen",	"FirewallDomainLists",
					  "FirewallRuleGroups", "FirewallRules",
					  "NextToken",		NULL};
	static const char *const lkeys[] = {"Id",
					    "Arn",
					    "Name",
					    "CreatorRequestId",
					    "File",
					    "Domains",
					    "DomainCount",
					    "Status",
					    "StatusMessage",
					    "ManagedOwnerName",
					    "CreationTime",
					    "ModificationTime",
					    NULL};
	static const char *const gkeys[] = {"Id",
					    "Arn",
					    "Name",
					    "Priority",
					    "FirewallRules",
					    "RuleCount",
					    "Status",
					    "StatusMessage",
					    "OwnerId",
					    "CreatorRequestId",
					    "ShareStatus",
					    "CreationTime",
					    "ModificationTime",
					    NULL};
	if ((*rc = check_keys(st, root, top, "top level")) != 0)
		return NULL;
	json_t *out = json_object(), *lists = json_object(), *groups = json_array();
	json_object_set_new(out, "domain_lists", lists);
	json_object_set_new(out, "rule_groups", groups);
	const char *fo = get_str(root, "FirewallFailOpen");
	if (json_object_get(root, "FirewallFailOpen") &&
	    (fo == NULL || (strcmp(fo, "ENABLED") && strcmp(fo, "DISABLED") &&
			    strcmp(fo, "USE_LOCAL_RESOURCE_SETTING")))) {
		*rc = p53_err_set(st->err, P53_EINVAL,
				  "%s: FirewallFailOpen must be ENABLED, DISABLED or "
				  "USE_LOCAL_RESOURCE_SETTING",
				  st->path);
		goto fail;
	}
	json_object_set_new(out, "fail_open", json_boolean(fo && strcmp(fo, "ENABLED") == 0));
	size_t i, k;
	json_t *v, *r;
	char where[300];
	json_array_foreach(json_object_get(root, "FirewallDomainLists"), i, v)
	{
		snprintf(where, sizeof(where), "FirewallDomainLists[%zu]", i);
		if ((*rc = check_keys(st, v, lkeys, where)) != 0)
			goto fail;
		const char *id = get_str(v, "Id");
		json_t *file = json_object_get(v, "File"), *doms = json_object_get(v, "Domains");
		if (id == NULL || (!file && !doms)) {
			*rc = p53_err_set(st->err, P53_EINVAL,
					  "%s: %s: a list needs an Id and a File (one domain a "
					  "line) or Domains",
					  st->path, where);
			goto fail;
		}
		json_t *l = json_object();
		if (file) {
			json_object_set(l, "file", file);
			if (st->r53_lists == NULL)
				st->r53_lists = json_object();
			json_object_set_new(st->r53_lists, id, json_string(where));
		}
		if (doms)
			json_object_set(l, "domains", doms);
		json_object_set_new(lists, id, l);
	}
	json_t *gs = json_object_get(root, "FirewallRuleGroups"),
	       *alone = json_object_get(root, "FirewallRules");
	if (alone) {
		json_t *g = json_object();
		json_t *rules = json_array();
		json_array_foreach(alone, k, r)
		{
			snprintf(where, sizeof(where), "FirewallRules[%zu]", k);
			json_t *nr = r53_rule(st, r, where, rc);
			if (nr == NULL) {
				json_decref(rules);
				json_decref(g);
				goto fail;
			}
			json_array_append_new(rules, nr);
		}
		const char *gid = get_str(json_array_get(alone, 0), "FirewallRuleGroupId");
		json_object_set_new(g, "name", json_string(gid ? gid : "FirewallRules"));
		json_object_set_new(g, "priority", json_integer(100));
		json_object_set_new(g, "rules", rules);
		json_array_append_new(groups, g);
	}
	json_array_foreach(gs, i, v)
	{
		snprintf(where, sizeof(where), "FirewallRuleGroups[%zu]", i);
		if ((*rc = check_keys(st, v, gkeys, where)) != 0)
			goto fail;
		const char *name = get_str(v, "Name") ? get_str(v, "Name") : get_str(v, "Id");
		json_t *prio = json_object_get(v, "Priority");
		if (name == NULL || prio == NULL) {
			*rc = p53_err_set(
			    st->err, P53_EINVAL,
			    "%s: %s: a rule group needs a Name (or Id) and the Priority "
			    "of its association",
			    st->path, where);
			goto fail;
		}
		json_t *g = json_object(), *rules = json_array();
		json_object_set_new(g, "name", json_string(name));
		json_object_set(g, "priority", prio);
		json_object_set_new(g, "rules", rules);
		json_array_append_new(groups, g);
		json_array_foreach(json_object_get(v, "FirewallRules"), k, r)
		{
			char rw[340];
			snprintf(rw, sizeof(rw), "%s.FirewallRules[%zu]", where, k);
			json_t *nr = r53_rule(st, r, rw, rc);
			if (nr == NULL)
				goto fail;
			json_array_append_new(rules, nr);
		}
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

int p53_fw_compile(const char *path, const struct p53_fw_compile_opts *o, uint8_t **img,
		   size_t *len, struct p53_err *err)
{
	struct state st = {.path = path, .o = o, .err = err};
	const char *slash = strrchr(path, '/');
	size_t dl = slash ? (size_t)(slash - path) : 0;
	if (dl >= sizeof(st.dir))
		return p53_err_set(err, P53_EINVAL, "%s: path too long", path);
	memcpy(st.dir, path, dl);
	st.dir[dl] = 0;
	if (slash == path)
		strcpy(st.dir, "/");
	FILE *rf = open_untrusted(path, "rules", RULES_FILE_MAX, err);
	if (rf == NULL)
		return err->code;
	json_error_t je;
	json_t *root = json_loadf(rf, JSON_REJECT_DUPLICATES, &je);
	bool grew = root && ftello(rf) > (off_t)RULES_FILE_MAX;
	fclose(rf);
	if (root == NULL) {
		/* Jansson quotes the text near the error: not for a file that
		 * may not be ours to show. */
		char *near = strstr(je.text, " near '");
		if (near)
			*near = 0;
		return p53_err_at(err, P53_EINVAL, path, (unsigned)(je.line > 0 ? je.line : 0),
				  "%s", je.text);
	}
	if (grew) {
		json_decref(root);
		return p53_err_set(err, P53_EINVAL, "%s: rules: larger than the limit of %u bytes",
				   path, RULES_FILE_MAX);
	}
	static const char *const keys[] = {"fail_open", "domain_lists", "rule_groups", NULL};
	int rc = 0;
	if (json_is_object(root) && (json_object_get(root, "FirewallRules") ||
				     json_object_get(root, "FirewallRuleGroups"))) {
		json_t *native = from_route53(&st, root, &rc);
		json_decref(root);
		root = native;
	}
	if (rc == 0)
		rc = json_is_object(root)
			 ? check_keys(&st, root, keys, "top level")
			 : p53_err_set(err, P53_EINVAL, "%s: not a JSON object", path);
	json_t *fo = json_object_get(root, "fail_open");
	if (rc == 0 && fo && !json_is_boolean(fo))
		rc = p53_err_set(err, P53_EINVAL, "%s: \"fail_open\" must be true or false", path);
	if (rc == 0)
		rc = parse_lists(&st, json_object_get(root, "domain_lists"));
	if (rc == 0 && json_object_get(root, "rule_groups") == NULL)
		rc = p53_err_set(err, P53_EINVAL, "%s: \"rule_groups\" missing", path);
	if (rc == 0)
		rc = parse_groups(&st, json_object_get(root, "rule_groups"));
	if (rc == 0) {
		qsort(st.rules, st.nrules, sizeof(*st.rules), rule_cmp);
		rc = check_priorities(&st);
	}
	for (size_t i = 0; rc == 0 && i < st.nrules; i++) {
		for (size_t j = 0; rc == 0 && j < st.rules[i].nlists; j++)
			rc = add_domains(&st, st.rules[i].lists[j], (uint32_t)i);
		if (rc == 0)
			rc = add_domains(&st, &st.rules[i].own, (uint32_t)i);
	}
	hs_database_t *db = NULL;
	uint32_t npats = 0, minpat = FW_NONE;
	if (rc == 0)
		rc = compile_patterns(&st, &db, &npats, &minpat);
	char *hsbytes = NULL;
	size_t hslen = 0;
	if (rc == 0 && db && hs_serialize_database(db, &hsbytes, &hslen) != HS_SUCCESS)
		rc = p53_err_set(err, P53_ENOMEM, "Hyperscan could not serialise the database");
	if (rc == 0)
		rc = build_image(&st, hsbytes, hslen, npats, minpat,
				 json_is_true(fo) ? FW_HDR_FAIL_OPEN : 0, img, len);
	free(hsbytes);
	hs_free_database(db);
	json_decref(root);
	state_free(&st);
	return rc;
}

int p53_fw_compile_file(const char *path, const struct p53_fw_compile_opts *o, const char *out,
			struct p53_err *err)
{
	uint8_t *img;
	size_t len;
	int rc = p53_fw_compile(path, o, &img, &len, err);
	if (rc)
		return rc;
	rc = p53_file_write_atomic(out, img, len, NULL, 0, err);
	free(img);
	return rc;
}
