/* Master files through libzscanner, with port53's rules on top.
 *
 * The scanner runs in its manual mode (zs_parse_record), which hands every
 * $INCLUDE back to us: that is where the include policy, the nesting limit and
 * loop detection live. Messages are built from the scanner's error code and
 * our own words only; the scanner's copy of the offending line is never
 * printed, so a $INCLUDE of a file that is not a zone file (a key, a password
 * file) cannot leak its content through an error.
 *
 * $GENERATE (BIND's directive; libzscanner 3.2 rejects it) is expanded here:
 * a file that has one is fed to the scanner in pieces, the text between
 * directive lines as is, and each directive as the records it stands for,
 * one line per record, all reported at the directive's line. HIP and
 * AMTRELAY entries, which the scanner does not know, are read the same way
 * when it stops at one.
 */
#include "zones/compile/zparse.h"

#include "zones/common/rrtype.h"

#include <ctype.h>
#include <arpa/inet.h>
#include <errno.h>
#include <libzscanner/scanner.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define TTL_MAX	      2147483647u /* RFC 2181 8 */
#define DEPTH_DEFAULT 8
/* Stands for "no $TTL yet" in the scanner's default TTL: a record that comes
 * back with it had no TTL of its own (RFC 1035's last-TTL rule applies). */
#define TTL_UNSET UINT32_MAX

struct incl {
	dev_t dev;
	ino_t ino;
	const struct incl *parent;
};

struct parser {
	const struct zparse_opts *opts;
	zparse_cb cb;
	void *ctx;
	struct p53_err *err;
	uint32_t last_ttl; /* RFC 1035: the TTL of the last record that gave one */
	/* For a part of a file parsed on its own (zparse_file_parts): whether
	 * a record of the part gave a TTL, and whether one took last_ttl
	 * before any did (then the part needs the true last_ttl at its
	 * start). */
	bool ttl_set, ttl_used;
	unsigned depth, max_depth;
	uint64_t generated, max_generate; /* records made by $GENERATE so far, and the cap */
	char confine[PATH_MAX];		  /* resolved include_dir, with a trailing '/' */
};

__attribute__((format(printf, 5, 6))) static int
fail(struct p53_err *err, int code, const char *file, unsigned line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (file)
		return p53_err_at(err, code, file, line, "%s", msg);
	return p53_err_set(err, code, "%s", msg);
}

/* Where the scanner stopped last, to find the line a record starts on. */
struct mark {
	const char *base, *pos;
	uint64_t line;
};

/* The scanner counts the line it is on when it stops, which for a record
 * spread over lines by parentheses is its last line. */
static unsigned scan_line(const zs_scanner_t *s)
{
	return s->line_counter > UINT_MAX ? UINT_MAX : (unsigned)s->line_counter;
}

/* The line of a record's first token: from where the scanner stopped
 * before, past blanks, comments and directive lines. The input is one
 * mapped block except for the scanner's own final newline, when the last
 * line's number is right anyway. */
static unsigned record_line(const zs_scanner_t *s, const struct mark *m)
{
	if (m->base != s->input.start || m->pos < s->input.start || m->pos > s->input.current)
		return scan_line(s);
	uint64_t line = m->line;
	const char *p = m->pos, *end = s->input.current;
	bool bol = p == s->input.start || p[-1] == '\n';
	while (p < end) {
		char c = *p;
		if (c == '\n') {
			line++;
			bol = true;
			p++;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			bol = false;
			p++;
		} else if (c == ';' || (c == '$' && bol)) {
			while (p < end && *p != '\n')
				p++;
		} else {
			break;
		}
	}
	return line > UINT_MAX ? UINT_MAX : (unsigned)line;
}

static int scan_error(struct parser *ps, const zs_scanner_t *s, const char *name)
{
	int code = s->error.code;
	int rc = code == ZS_FILE_OPEN || code == ZS_FILE_INVALID || code == ZS_FILE_ACCESS ? P53_EIO
		 : code == ZS_ENOMEM ? P53_ENOMEM
				     : P53_EINVAL;
	return fail(ps->err, rc, name, scan_line(s), "%s", zs_strerror(code));
}

/* Port53's checks on one record the scanner accepted. */
static int on_data(struct parser *ps, zs_scanner_t *s, const char *name, const struct mark *m)
{
	unsigned line = record_line(s, m);
	uint32_t ttl = s->r_ttl;
	char tb[12];

	if (s->default_ttl == TTL_UNSET) {
		if (ttl == TTL_UNSET) {
			ttl = ps->last_ttl;
			ps->ttl_used = ps->ttl_used || !ps->ttl_set;
		} else {
			ps->last_ttl = ttl;
			ps->ttl_set = true;
		}
	}
	if (ttl > TTL_MAX)
		return fail(ps->err, P53_EINVAL, name, line,
			    "TTL %u out of range (at most %u, RFC 2181 8)", ttl, TTL_MAX);
	const struct rrtype_info *ti = rrtype_get(s->r_type);
	/* The scanner accepts RFC 3597 rdata for any type without looking
	 * inside; the rest of port53 walks rdata by layout. */
	if (ti && ti->layout[0] && !rrtype_rdata_fits(ti->layout, s->r_data, s->r_data_length))
		return fail(ps->err, P53_EINVAL, name, line, "rdata is not valid %s rdata",
			    rrtype_to_text(s->r_type, tb));
	struct zparse_rr rr = {.owner = s->r_owner,
			       .owner_len = s->r_owner_length,
			       .type = s->r_type,
			       .rclass = s->r_class,
			       .ttl = ttl,
			       .rdata = s->r_data,
			       .rdlen = (uint16_t)s->r_data_length,
			       .file = name,
			       .line = line,
			       .pos = (uint64_t)(s->input.current - s->input.start)};
	int rc = ps->cb(ps->ctx, &rr, ps->err);
	if (rc < 0 && ps->err && ps->err->code == 0)
		fail(ps->err, rc, name, line, "%s record rejected", rrtype_to_text(s->r_type, tb));
	return rc < 0 ? rc : 0;
}

static int parse_scanner(struct parser *ps, zs_scanner_t *s, const char *name,
			 const struct incl *chain, const char *text, size_t len);

/* Whether text holds "$GENERATE" anywhere (cheap; where it really is a
 * directive is decided by find_generate). */
static bool has_generate(const char *t, size_t n)
{
	const char *p = t, *end = t + n;
	while ((p = memchr(p, '$', (size_t)(end - p))) != NULL) {
		if ((size_t)(end - p) >= 9 && strncasecmp(p, "$GENERATE", 9) == 0)
			return true;
		p++;
	}
	return false;
}

/* strchr() finds the terminating NUL too; input bytes may be NUL. */
static bool in_set(char c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

/* Feeds the scanner from text (n bytes, ours to free), with CR LF turned
 * into LF in place (line numbers stay). */
static int set_text(zs_scanner_t *s, const char *path, char *text, size_t n, char **out,
		    size_t *len)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n'))
			text[k++] = text[i];
	*out = text;
	*len = k;
	char real[PATH_MAX];
	if (zs_set_input_string(s, text, k) != 0)
		return -1;
	/* Relative $INCLUDEs resolve from the file's directory. */
	if (realpath(path, real) != NULL) {
		char *dir = strdup(dirname(real));
		if (dir) {
			free(s->path);
			s->path = dir;
		}
	}
	return 0;
}

/* Files up to this size are read rather than mapped: mapping and unmapping
 * (twice: here, then by the scanner) cost more than a small zone's parse. */
#define SMALL_FILE (256 * 1024)

/* The scanner refuses CR LF line ends; files written on Windows are read
 * with each CR LF turned into LF. A file with $GENERATE is read into memory
 * too, to be fed in pieces, and so is a small file. Other files are mapped
 * by the scanner itself. *text is set when a copy was made (the caller frees
 * it after parsing), with its length in *len. */
static int set_input(zs_scanner_t *s, const char *path, char **text, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	*text = NULL;
	*len = 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return zs_set_input_file(s, path);
	}
	if (st.st_size > 0 && st.st_size <= SMALL_FILE) {
		size_t n = (size_t)st.st_size, got = 0;
		char *buf = malloc(n);
		while (buf && got < n) {
			ssize_t r = read(fd, buf + got, n - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (buf && got == n) {
			close(fd);
			return set_text(s, path, buf, n, text, len);
		}
		free(buf); /* changed under us, or no memory: the scanner maps it */
	} else if (st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			size_t n = (size_t)st.st_size;
			bool cr = memchr(m, '\r', n) != NULL;
			bool gen = has_generate(m, n);
			char *buf = cr || gen ? malloc(n) : NULL;
			if (buf) {
				memcpy(buf, m, n);
				munmap(m, n);
				close(fd);
				return set_text(s, path, buf, n, text, len);
			}
			munmap(m, n);
		}
	}
	close(fd);
	return zs_set_input_file(s, path);
}

static bool below_dir(const char *real, const char *dir)
{
	return strncmp(real, dir, strlen(dir)) == 0;
}

static int do_include(struct parser *ps, zs_scanner_t *s, const char *name,
		      const struct incl *chain)
{
	unsigned line = scan_line(s);
	const char *path = s->include_filename;
	struct stat st;
	int rc;

	if (ps->opts->include == ZPARSE_INCLUDE_FORBID)
		return fail(ps->err, P53_EINVAL, name, line, "$INCLUDE is not allowed here");
	if (ps->depth >= ps->max_depth)
		return fail(ps->err, P53_ERANGE, name, line,
			    "$INCLUDE nested deeper than %u levels", ps->max_depth);
	if (ps->opts->include == ZPARSE_INCLUDE_CONFINE) {
		char real[PATH_MAX];
		/* Resolved first, so neither "../" nor a symbolic link leads
		 * out of the directory. */
		if (realpath(path, real) == NULL || !below_dir(real, ps->confine))
			return fail(ps->err, P53_EINVAL, name, line,
				    "$INCLUDE '%s' is outside the include directory", path);
	}
	if (stat(path, &st) != 0)
		return fail(ps->err, P53_EIO, name, line, "cannot open '%s': %s", path,
			    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(ps->err, P53_EIO, name, line, "cannot read '%s': not a regular file",
			    path);
	for (const struct incl *p = chain; p; p = p->parent)
		if (p->dev == st.st_dev && p->ino == st.st_ino)
			return fail(ps->err, P53_EINVAL, name, line,
				    "$INCLUDE loop: '%s' is already being read", path);
	zs_scanner_t *child = malloc(sizeof(*child));
	if (child == NULL)
		return fail(ps->err, P53_ENOMEM, name, line, "out of memory");
	/* The scanner left the origin for the included file in its buffer,
	 * as text. Class and the $TTL state carry over. */
	if (zs_init(child, (const char *)s->buffer, s->default_class, s->default_ttl) != 0) {
		rc = fail(ps->err, P53_EINVAL, name, line, "bad $INCLUDE origin");
		free(child);
		return rc;
	}
	char *copy = NULL;
	size_t copy_len;
	if (set_input(child, path, &copy, &copy_len) != 0) {
		rc = fail(ps->err, P53_EIO, name, line, "cannot open '%s': %s", path,
			  zs_strerror(child->error.code));
	} else {
		struct incl me = {.dev = st.st_dev, .ino = st.st_ino, .parent = chain};
		char *child_name = strdup(path);
		ps->depth++;
		rc = child_name ? parse_scanner(ps, child, child_name, &me, copy, copy_len)
				: fail(ps->err, P53_ENOMEM, name, line, "out of memory");
		ps->depth--;
		free(child_name);
		/* $TTL set inside the included file stays in effect; origin and
		 * owner revert (RFC 1035 5.1), as they live in our scanner. */
		s->default_ttl = child->default_ttl;
	}
	zs_deinit(child);
	free(child);
	free(copy);
	return rc;
}

/* The scanner's machine between entries, to start it again clean on new
 * input after it stopped with an error at an entry we read ourselves. */
struct clean {
	int cs, top;
	int stack[ZS_RAGEL_STACK_SIZE];
};

static void clean_save(struct clean *c, const zs_scanner_t *s)
{
	c->cs = s->cs;
	c->top = s->top;
	memcpy(c->stack, s->stack, sizeof(c->stack));
}

static void clean_restore(zs_scanner_t *s, const struct clean *c)
{
	s->cs = c->cs;
	s->top = c->top;
	memcpy(s->stack, c->stack, sizeof(c->stack));
	s->multiline = false;
	s->error.code = ZS_OK;
	s->error.fatal = false;
}

/* Where scan_input stopped for an entry of a type the scanner does not
 * know (HIP, AMTRELAY): the entry's first byte and line. */
struct stop {
	const char *at;
	unsigned line;
};

static uint16_t special_type(const char *p, size_t n);
static int special_find(const zs_scanner_t *s, const struct mark *m, struct stop *st);

/* Runs the scanner to the end of its current input. Returns 1, with *st
 * set, when it stopped at an entry of a type read here instead. */
static int scan_input(struct parser *ps, zs_scanner_t *s, const char *name,
		      const struct incl *chain, struct stop *st)
{
	struct mark m = {.base = s->input.start, .pos = s->input.start, .line = s->line_counter};

	for (;;) {
		int rc;

		zs_parse_record(s);
		switch (s->state) {
		case ZS_STATE_DATA:
			rc = on_data(ps, s, name, &m);
			break;
		case ZS_STATE_INCLUDE:
			rc = do_include(ps, s, name, chain);
			break;
		case ZS_STATE_ERROR:
			if (s->error.code == ZS_UNSUPPORTED_TYPE && special_find(s, &m, st) == 0)
				return 1;
			return scan_error(ps, s, name);
		case ZS_STATE_EOF:
		case ZS_STATE_STOP:
			return 0;
		default:
			return fail(ps->err, P53_EINVAL, name, scan_line(s),
				    "unexpected scanner state %d", (int)s->state);
		}
		if (rc < 0)
			return rc;
		m = (struct mark){
		    .base = s->input.start, .pos = s->input.current, .line = s->line_counter};
	}
}

/* ---- HIP and AMTRELAY ---------------------------------------------------
 *
 * libzscanner 3.2 knows neither type (RFC 8005, RFC 8777): their mnemonic
 * stops it with "unsupported record type". The entry is then read here:
 * its rdata, in presentation form or RFC 3597's, becomes "TYPEnnn \# len
 * hex", which the scanner reads with the owner, TTL and class as written,
 * and the input goes on from the next entry. Files without these types pay
 * nothing for it.
 */

#define ENTRY_TOKENS 72

struct etok {
	const char *p;
	size_t n;
};

/* Splits the entry starting at t[i] into tokens, up to the newline that
 * ends it outside parentheses. Comments, parentheses and newlines inside
 * parentheses separate tokens; a quoted string is one token, quotes
 * included. Returns the offset past the entry; *ntok is the token count, -1
 * when there are more than max; *nl counts newlines inside the entry. */
static size_t entry_scan(const char *t, size_t n, size_t i, struct etok *tok, int max, int *ntok,
			 unsigned *nl)
{
	unsigned depth = 0;
	int k = 0;

	*nl = 0;
	while (i < n) {
		char c = t[i];
		if (c == '\n') {
			i++;
			if (depth == 0)
				break;
			(*nl)++;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			i++;
		} else if (c == ';') {
			while (i < n && t[i] != '\n')
				i++;
		} else if (c == '(' || c == ')') {
			if (c == '(')
				depth++;
			else if (depth > 0)
				depth--;
			i++;
		} else {
			size_t st = i;
			if (c == '"') {
				for (i++; i < n && t[i] != '"' && t[i] != '\n'; i++)
					if (t[i] == '\\' && i + 1 < n && t[i + 1] != '\n')
						i++;
				if (i < n && t[i] == '"')
					i++;
			} else {
				for (; i < n && !in_set(t[i], " \t\r\n;()\""); i++)
					if (t[i] == '\\' && i + 1 < n && t[i + 1] != '\n')
						i++;
			}
			if (k < max)
				tok[k] = (struct etok){t + st, i - st};
			k++;
		}
	}
	*ntok = k > max ? -1 : k;
	return i;
}

static bool tok_is(const struct etok *t, const char *s)
{
	return t->n == strlen(s) && strncasecmp(t->p, s, t->n) == 0;
}

static uint16_t special_type(const char *p, size_t n)
{
	struct etok t = {p, n};
	return tok_is(&t, "HIP") ? RR_HIP : tok_is(&t, "AMTRELAY") ? RR_AMTRELAY : 0;
}

/* The index of the type token: after the owner (when the entry does not
 * start with a blank) and at most a TTL and a class, in either order. */
static int entry_type_index(const struct etok *tok, int nt, bool owner)
{
	int i = owner ? 1 : 0;
	bool ttl = false, cls = false;

	while (i < nt && tok[i].p[0] != '"') {
		char c0 = tok[i].p[0];
		if (!ttl && c0 >= '0' && c0 <= '9')
			ttl = true;
		else if (!cls && (tok_is(&tok[i], "IN") || tok_is(&tok[i], "CH") ||
				  tok_is(&tok[i], "HS") || tok_is(&tok[i], "CS") ||
				  tok_is(&tok[i], "NONE") || tok_is(&tok[i], "ANY") ||
				  (tok[i].n > 5 && strncasecmp(tok[i].p, "CLASS", 5) == 0)))
			cls = true;
		else
			break;
		i++;
	}
	return i < nt ? i : -1;
}

/* Finds the entry the scanner stopped in: the first one after the mark
 * (blank lines, comments and directive lines, which the scanner has
 * already read, skipped). 0 when it is a HIP or AMTRELAY entry. */
static int special_find(const zs_scanner_t *s, const struct mark *m, struct stop *st)
{
	if (!st || m->base != s->input.start || m->pos < s->input.start || m->pos > s->input.end)
		return -1;
	const char *t = s->input.start, *p = m->pos, *end = s->input.end;
	const char *ls = p;
	unsigned line = m->line > UINT_MAX ? UINT_MAX : (unsigned)m->line;
	bool bol = p == t || p[-1] == '\n';
	while (p < end) {
		if (*p == '\n') {
			line++;
			ls = ++p;
			bol = true;
		} else if (*p == ' ' || *p == '\t' || *p == '\r') {
			bol = false;
			p++;
		} else if (*p == ';' || (*p == '$' && bol)) {
			while (p < end && *p != '\n')
				p++;
		} else {
			break;
		}
	}
	if (p >= end)
		return -1;
	struct etok tok[8];
	int nt;
	unsigned nl;
	entry_scan(t, (size_t)(end - t), (size_t)(ls - t), tok, 8, &nt, &nl);
	if (nt < 0)
		nt = 8;
	int ti = entry_type_index(tok, nt, ls == p);
	if (ti < 0 || !special_type(tok[ti].p, tok[ti].n))
		return -1;
	st->at = ls;
	st->line = line;
	return 0;
}

static bool tok_u8(const struct etok *t, unsigned max, unsigned *v)
{
	unsigned x = 0;
	if (t->n == 0 || t->n > 3)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return false;
		x = x * 10 + (unsigned)(t->p[i] - '0');
	}
	*v = x;
	return x <= max;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* One domain name, relative to origin, through the scanner's own reader. */
static int tok_name(const struct etok *t, const uint8_t *origin, uint8_t *out, size_t cap,
		    char *why, size_t wcap)
{
	struct p53_err e = {0};
	int n = zparse_rdata(RR_NS, t->p, t->n, origin, out, cap, &e);
	if (n < 0)
		snprintf(why, wcap, "%.200s", e.msg);
	return n;
}

/* HIP (RFC 8005 5): pk-algorithm HIT(hex) public-key(base64)
 * [rendezvous-server...]. */
static int rdata_hip(const struct etok *t, int n, const uint8_t *origin, uint8_t *out, size_t cap,
		     char *why, size_t wcap)
{
	unsigned alg;
	if (n < 3) {
		snprintf(why, wcap, "HIP needs an algorithm, a HIT and a public key");
		return -1;
	}
	if (!tok_u8(&t[0], 255, &alg)) {
		snprintf(why, wcap, "HIP algorithm must be 0 to 255");
		return -1;
	}
	size_t hl = t[1].n / 2;
	if (t[1].n % 2 || hl == 0 || hl > 255 || 4 + hl > cap) {
		snprintf(why, wcap, "HIP HIT must be 1 to 255 bytes of hex");
		return -1;
	}
	for (size_t i = 0; i < hl; i++) {
		int a = hexval(t[1].p[2 * i]), b = hexval(t[1].p[2 * i + 1]);
		if (a < 0 || b < 0) {
			snprintf(why, wcap, "HIP HIT must be 1 to 255 bytes of hex");
			return -1;
		}
		out[4 + i] = (uint8_t)(a << 4 | b);
	}
	struct p53_err e = {0};
	int pl = zparse_rdata(RR_OPENPGPKEY, t[2].p, t[2].n, NULL, out + 4 + hl, cap - 4 - hl, &e);
	if (pl <= 0) {
		snprintf(why, wcap, "HIP public key: %.200s", pl == 0 ? "empty" : e.msg);
		return -1;
	}
	out[0] = (uint8_t)hl;
	out[1] = (uint8_t)alg;
	out[2] = (uint8_t)(pl >> 8);
	out[3] = (uint8_t)pl;
	size_t pos = 4 + hl + (size_t)pl;
	for (int i = 3; i < n; i++) {
		int l = tok_name(&t[i], origin, out + pos, cap - pos, why, wcap);
		if (l < 0)
			return -1;
		pos += (size_t)l;
	}
	return (int)pos;
}

/* AMTRELAY (RFC 8777 4.2): precedence D-bit type relay, the relay "." for
 * type 0, an IPv4 address, an IPv6 address or a name for types 1 to 3. */
static int rdata_amtrelay(const struct etok *t, int n, const uint8_t *origin, uint8_t *out,
			  size_t cap, char *why, size_t wcap)
{
	unsigned prec, d, type;
	if (n != 4) {
		snprintf(why, wcap, "AMTRELAY needs precedence, D-bit, type and relay");
		return -1;
	}
	if (!tok_u8(&t[0], 255, &prec) || !tok_u8(&t[1], 1, &d) || !tok_u8(&t[2], 3, &type)) {
		snprintf(why, wcap,
			 "AMTRELAY precedence must be 0 to 255, D-bit 0 or 1, type 0 to 3 "
			 "(others in RFC 3597 form)");
		return -1;
	}
	if (cap < 18)
		return -1;
	out[0] = (uint8_t)prec;
	out[1] = (uint8_t)(d << 7 | type);
	char addr[48];
	if (type == 1 || type == 2) {
		if (t[3].n >= sizeof(addr)) {
			snprintf(why, wcap, "AMTRELAY relay is not an IPv%c address",
				 type == 1 ? '4' : '6');
			return -1;
		}
		memcpy(addr, t[3].p, t[3].n);
		addr[t[3].n] = 0;
		if (inet_pton(type == 1 ? AF_INET : AF_INET6, addr, out + 2) != 1) {
			snprintf(why, wcap, "AMTRELAY relay is not an IPv%c address",
				 type == 1 ? '4' : '6');
			return -1;
		}
		return type == 1 ? 6 : 18;
	}
	if (type == 0) {
		if (!(t[3].n == 1 && t[3].p[0] == '.')) {
			snprintf(why, wcap, "AMTRELAY relay of type 0 must be \".\"");
			return -1;
		}
		return 2;
	}
	int l = tok_name(&t[3], origin, out + 2, cap - 2, why, wcap);
	return l < 0 ? -1 : 2 + l;
}

static int special_rdata(uint16_t type, const struct etok *t, int n, const uint8_t *origin,
			 uint8_t *out, size_t cap, char *why, size_t wcap)
{
	for (int i = 0; i < n; i++)
		if (t[i].p[0] == '"') {
			snprintf(why, wcap, "unexpected quoted string in %s rdata",
				 type == RR_HIP ? "HIP" : "AMTRELAY");
			return -1;
		}
	return type == RR_HIP ? rdata_hip(t, n, origin, out, cap, why, wcap)
			      : rdata_amtrelay(t, n, origin, out, cap, why, wcap);
}

/* The entry t[0..n) of a HIP or AMTRELAY record, as one line the scanner
 * reads: owner, TTL and class as written, then "TYPEnnn \# len hex".
 * Returns a malloc'd line (length in *outlen) or NULL with why set. */
static char *special_line(const char *t, size_t n, const uint8_t *origin, size_t *outlen, char *why,
			  size_t wcap)
{
	struct etok tok[ENTRY_TOKENS];
	int nt;
	unsigned nl;
	uint8_t *wire = NULL;
	char *line = NULL;

	entry_scan(t, n, 0, tok, ENTRY_TOKENS, &nt, &nl);
	if (nt < 0) {
		snprintf(why, wcap, "more than %d fields in one record", ENTRY_TOKENS);
		return NULL;
	}
	bool owner = n > 0 && t[0] != ' ' && t[0] != '\t';
	int ti = entry_type_index(tok, nt, owner);
	uint16_t type = ti >= 0 ? special_type(tok[ti].p, tok[ti].n) : 0;
	if (!type) {
		snprintf(why, wcap, "unsupported record type");
		return NULL;
	}
	size_t cap = 128;
	for (int i = 0; i < nt; i++)
		cap += tok[i].n + 1;
	bool generic = ti + 1 < nt && tok_is(&tok[ti + 1], "\\#");
	int wl = 0;
	if (!generic) {
		wire = malloc(65535);
		if (!wire) {
			snprintf(why, wcap, "out of memory");
			return NULL;
		}
		wl = special_rdata(type, tok + ti + 1, nt - ti - 1, origin, wire, 65535, why, wcap);
		if (wl < 0) {
			free(wire);
			return NULL;
		}
		cap += 2 * (size_t)wl + 16;
	}
	line = malloc(cap);
	if (!line) {
		snprintf(why, wcap, "out of memory");
		free(wire);
		return NULL;
	}
	size_t o = 0;
	if (!owner)
		line[o++] = ' ';
	for (int i = 0; i < ti; i++) {
		memcpy(line + o, tok[i].p, tok[i].n);
		o += tok[i].n;
		line[o++] = ' ';
	}
	o += (size_t)snprintf(line + o, cap - o, "TYPE%u", type);
	if (generic) {
		for (int i = ti + 1; i < nt; i++) {
			line[o++] = ' ';
			memcpy(line + o, tok[i].p, tok[i].n);
			o += tok[i].n;
		}
	} else {
		o += (size_t)snprintf(line + o, cap - o, " \\# %d ", wl);
		for (int i = 0; i < wl; i++)
			o += (size_t)snprintf(line + o, cap - o, "%02x", wire[i]);
	}
	line[o++] = '\n';
	free(wire);
	*outlen = o;
	return line;
}

/* Reads one line made by special_line (or $GENERATE) through the scanner:
 * exactly one record, reported at line. */
static int feed_line(struct parser *ps, zs_scanner_t *s, const char *name, const char *text,
		     size_t n, unsigned line, const char *what, long long it)
{
	if (zs_set_input_string(s, text, n) != 0)
		return fail(ps->err, P53_ENOMEM, name, line, "out of memory");
	s->line_counter = line;
	struct mark m = {.base = s->input.start, .pos = s->input.start, .line = line};
	for (int records = 0;;) {
		zs_parse_record(s);
		if (s->state == ZS_STATE_EOF)
			return 0;
		if (s->state == ZS_STATE_ERROR) {
			if (it >= 0)
				return fail(ps->err, P53_EINVAL, name, line,
					    "%s%s (iteration %lld)", what,
					    zs_strerror(s->error.code), it);
			return fail(ps->err, P53_EINVAL, name, line, "%s%s", what,
				    zs_strerror(s->error.code));
		}
		if (s->state != ZS_STATE_DATA || ++records > 1) {
			if (it >= 0)
				return fail(ps->err, P53_EINVAL, name, line,
					    "%srdata must make exactly one record (iteration %lld)",
					    what, it);
			return fail(ps->err, P53_EINVAL, name, line,
				    "%srdata must make exactly one record", what);
		}
		int rc = on_data(ps, s, name, &m);
		if (rc < 0)
			return rc;
	}
}

/* Reads the HIP or AMTRELAY entry at text[*pos] (line *line) and moves
 * both past it. */
static int special_entry(struct parser *ps, zs_scanner_t *s, const char *name, const char *text,
			 size_t len, size_t *pos, unsigned *line, const struct clean *cl)
{
	struct etok tok[1];
	int nt;
	unsigned nl;
	char why[300];
	size_t ll;
	size_t end = entry_scan(text, len, *pos, tok, 0, &nt, &nl);
	char *l = special_line(text + *pos, end - *pos, s->zone_origin, &ll, why, sizeof(why));
	if (!l)
		return fail(ps->err, P53_EINVAL, name, *line, "%s", why);
	clean_restore(s, cl);
	int rc = feed_line(ps, s, name, l, ll, *line, "", -1);
	free(l);
	*pos = end;
	*line += nl + 1;
	return rc;
}

/* ---- $GENERATE ---------------------------------------------------------
 *
 * BIND's syntax (ARM, "The $GENERATE Directive"):
 *   $GENERATE start-stop[/step] lhs [ttl] [class] type rhs
 * TTL and class in either order. In lhs and rhs, "$" is the iterator,
 * "${offset[,width[,base]]}" the iterator plus offset, zero-padded to width,
 * in base d, o, x, X, or n/N (nibbles, low first, dot-separated, as for
 * ip6.arpa, width counting the dots); "$$" is a literal "$"; any other
 * backslash escape is passed on to the record's own parser. rhs is one
 * token, quoted when it holds blanks ("10 mx$"); inside quotes \" is a quote.
 */

#define GEN_TOKENS    8
#define GEN_WIDTH_MAX 255

struct gen_tok {
	char *s; /* NUL-terminated, escapes kept except \" in a quoted token */
	bool quoted;
};

/* Finds the next $GENERATE directive line at or after from, which must be
 * the start of a line outside parentheses. *line is the line number at
 * from on entry and of the directive on return; *start and *eol delimit the
 * directive line (*eol past its newline). The rules are the scanner's:
 * comments to the end of the line, quoted strings within a line, escapes. */
static bool find_generate(const char *t, size_t n, size_t from, unsigned *line, size_t *start,
			  size_t *eol)
{
	unsigned depth = 0;
	bool bol = true, quote = false;

	for (size_t i = from; i < n; i++) {
		char c = t[i];
		if (bol && depth == 0 && c == '$' && n - i >= 9 &&
		    strncasecmp(t + i, "$GENERATE", 9) == 0 &&
		    (n - i == 9 || in_set(t[i + 9], " \t\n;"))) {
			const char *nl = memchr(t + i, '\n', n - i);
			*start = i;
			*eol = nl ? (size_t)(nl - t) + 1 : n;
			return true;
		}
		bol = false;
		if (c == '\n') {
			(*line)++;
			bol = true;
			quote = false;
		} else if (c == '\\' && i + 1 < n && t[i + 1] != '\n') {
			i++;
		} else if (quote) {
			quote = c != '"';
		} else if (c == '"') {
			quote = true;
		} else if (c == ';') {
			while (i + 1 < n && t[i + 1] != '\n')
				i++;
		} else if (c == '(') {
			depth++;
		} else if (c == ')' && depth > 0) {
			depth--;
		}
	}
	return false;
}

/* Splits the directive's arguments into tokens. Returns the count, or -1
 * for an unterminated quoted string, -2 for too many tokens. */
static int gen_split(char *buf, const char *p, const char *end, struct gen_tok *tok)
{
	int n = 0;
	char *o = buf;

	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p >= end || *p == '\n' || *p == ';')
			return n;
		if (n == GEN_TOKENS)
			return -2;
		tok[n].s = o;
		tok[n].quoted = *p == '"';
		if (tok[n].quoted) {
			for (p++;; p++) {
				if (p >= end || *p == '\n')
					return -1;
				if (*p == '"')
					break;
				if (*p == '\\' && p + 1 < end && p[1] != '\n') {
					if (p[1] != '"')
						*o++ = *p;
					p++;
				}
				*o++ = *p;
			}
			p++;
		} else {
			while (p < end && !in_set(*p, " \t\n;")) {
				if (*p == '\\' && p + 1 < end && p[1] != '\n')
					*o++ = *p++;
				*o++ = *p++;
			}
		}
		*o++ = '\0';
		n++;
	}
}

/* Decimal integer within [0, max]; the whole text must be the number. */
static bool gen_uint(const char *p, const char *end, long long max, long long *out)
{
	long long v = 0;
	if (p == end)
		return false;
	for (; p < end; p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		v = v * 10 + (*p - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

static bool gen_range(const char *r, long long *start, long long *stop, long long *step)
{
	const char *dash = strchr(r, '-'), *slash = strchr(r, '/'), *end = r + strlen(r);
	if (!dash || (slash && slash < dash))
		return false;
	*step = 1;
	if (!gen_uint(r, dash, INT_MAX, start) ||
	    !gen_uint(dash + 1, slash ? slash : end, INT_MAX, stop))
		return false;
	if (slash && (!gen_uint(slash + 1, end, INT_MAX, step) || *step < 1))
		return false;
	return *start <= *stop;
}

struct gen_out {
	char *p, *end;
};

static bool gen_put(struct gen_out *o, const char *s, size_t n)
{
	if ((size_t)(o->end - o->p) < n)
		return false;
	memcpy(o->p, s, n);
	o->p += n;
	return true;
}

/* Nibbles of v, lowest first, separated by dots, continued with zeros and
 * dots until width characters are written. */
static bool gen_nibbles(struct gen_out *o, unsigned long long v, unsigned width, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	do {
		if (!gen_put(o, &digits[v & 15], 1))
			return false;
		v >>= 4;
		width = width ? width - 1 : 0;
		if (width > 0 || v != 0) {
			if (!gen_put(o, ".", 1))
				return false;
			width = width ? width - 1 : 0;
		}
	} while (v != 0 || width > 0);
	return true;
}

/* Writes pattern with the iterator it substituted. Returns NULL on success,
 * else the reason. */
static const char *gen_subst(struct gen_out *o, const char *pat, long long it)
{
	/* An offset stays in effect for the later "$"s of the same field,
	 * as in BIND, so that files written for it expand the same. */
	long long offset = 0;

	for (const char *p = pat; *p;) {
		if (*p == '\\') {
			size_t n = p[1] ? 2 : 1;
			if (!gen_put(o, p, n))
				return "generated text too long";
			p += n;
			continue;
		}
		if (*p != '$') {
			if (!gen_put(o, p++, 1))
				return "generated text too long";
			continue;
		}
		p++;
		if (*p == '$') {
			if (!gen_put(o, p++, 1))
				return "generated text too long";
			continue;
		}
		unsigned width = 0;
		char base = 'd';
		if (*p == '{') {
			char *e;
			errno = 0;
			offset = strtoll(p + 1, &e, 10);
			if (e == p + 1 || errno || offset < INT_MIN || offset > INT_MAX)
				return "bad ${offset,width,base} modifier";
			p = e;
			if (*p == ',') {
				unsigned long w = strtoul(p + 1, &e, 10);
				if (e == p + 1 || !isdigit((unsigned char)p[1]) ||
				    w > GEN_WIDTH_MAX)
					return "bad ${offset,width,base} modifier (width 0 to 255)";
				width = (unsigned)w;
				p = e;
				if (*p == ',') {
					if (!p[1] || !strchr("doxXnN", p[1]))
						return "bad ${offset,width,base} modifier (base d, "
						       "o, "
						       "x, X, n or N)";
					base = p[1];
					p += 2;
				}
			}
			if (*p++ != '}')
				return "bad ${offset,width,base} modifier";
		}
		long long v = it + offset;
		if (v > INT_MAX)
			return "iterator plus offset out of range";
		if (v < 0 && base != 'd')
			return "negative value in a base other than d";
		char num[GEN_WIDTH_MAX + 32];
		int n = 0;
		if (base == 'n' || base == 'N') {
			if (!gen_nibbles(o, (unsigned long long)v, width, base == 'N'))
				return "generated text too long";
			continue;
		}
		const char *fmt = base == 'o'	? "%0*llo"
				  : base == 'x' ? "%0*llx"
				  : base == 'X' ? "%0*llX"
						: "%0*lld";
		n = snprintf(num, sizeof(num), fmt, (int)width, v);
		if (n < 0 || !gen_put(o, num, (size_t)n))
			return "generated text too long";
	}
	return NULL;
}

static bool gen_is_class(const char *t)
{
	static const char *const names[] = {"IN", "CH", "CS", "HS", "NONE", "ANY"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(t, names[i]) == 0)
			return true;
	return strncasecmp(t, "CLASS", 5) == 0 && isdigit((unsigned char)t[5]);
}

/* Expands one $GENERATE line (directive text p..p+n, at line) into records
 * read by the scanner s in place of the line. */
static int generate(struct parser *ps, zs_scanner_t *s, const char *name, const char *p, size_t n,
		    unsigned line)
{
	struct gen_tok tok[GEN_TOKENS];
	const char *why = NULL;
	int rc = 0;

	if (ps->max_generate == 0)
		return fail(ps->err, P53_EINVAL, name, line, "$GENERATE is not allowed here");
	char *buf = malloc(n + 1);
	/* The most one directive's pattern can grow to: a "$" becomes at most
	 * 11 characters, a "${...}" of at least 8 characters at most 255. */
	size_t cap = 40 * n + 64;
	char *line_buf = malloc(cap);
	if (!buf || !line_buf) {
		rc = fail(ps->err, P53_ENOMEM, name, line, "out of memory");
		goto out;
	}
	int nt = gen_split(buf, p + 9, p + n, tok);
	if (nt < 0) {
		rc = fail(ps->err, P53_EINVAL, name, line, "$GENERATE: %s",
			  nt == -1 ? "unterminated quoted string" : "too many fields");
		goto out;
	}
	int i = 2;
	const char *ttl = NULL, *type, *rhs;
	bool have_class = false;
	for (int k = 0; k < 2 && i < nt; k++) {
		if (!have_class && !tok[i].quoted && gen_is_class(tok[i].s)) {
			if (strcasecmp(tok[i].s, "IN") != 0 &&
			    strcasecmp(tok[i].s, "CLASS1") != 0) {
				rc = fail(ps->err, P53_EINVAL, name, line,
					  "$GENERATE: class not supported in zone data (only IN)");
				goto out;
			}
			have_class = true;
			i++;
		} else if (!ttl && !tok[i].quoted && isdigit((unsigned char)tok[i].s[0])) {
			ttl = tok[i++].s;
		}
	}
	if (nt != i + 2) {
		rc = fail(ps->err, P53_EINVAL, name, line, "%s",
			  nt < i + 2 ? "$GENERATE needs a range, an owner, a type and rdata"
				     : "$GENERATE: extra text after the rdata (quote rdata that "
				       "holds blanks)");
		goto out;
	}
	type = tok[i].s;
	rhs = tok[i + 1].s;
	bool special = special_type(type, strlen(type)) != 0;
	long long start, stop, step;
	if (tok[0].quoted || !gen_range(tok[0].s, &start, &stop, &step)) {
		rc = fail(ps->err, P53_EINVAL, name, line,
			  "$GENERATE: range must be start-stop[/step], 0 <= start <= stop < 2^31, "
			  "step >= 1");
		goto out;
	}
	uint64_t count = (uint64_t)((stop - start) / step) + 1;
	if (count > ps->max_generate - ps->generated) {
		rc = fail(ps->err, P53_ERANGE, name, line,
			  "$GENERATE would make %llu records, more than the %llu left of "
			  "the zone's limit (--max-generate)",
			  (unsigned long long)count,
			  (unsigned long long)(ps->max_generate - ps->generated));
		goto out;
	}
	ps->generated += count;

	/* Records after the directive without an owner of their own take
	 * the owner before it, as in BIND: the directive is not an owner. */
	uint8_t saved_owner[sizeof(s->r_owner)];
	uint32_t saved_len = s->r_owner_length;
	memcpy(saved_owner, s->r_owner, sizeof(saved_owner));
	for (long long it = start; it <= stop; it += step) {
		struct gen_out o = {line_buf, line_buf + cap};
		if ((why = gen_subst(&o, tok[1].s, it)) != NULL)
			break;
		if (o.p == line_buf || *line_buf == '$') {
			why = "the owner may not be empty or start with '$'";
			break;
		}
		if (!gen_put(&o, " ", 1) ||
		    (ttl && (!gen_put(&o, ttl, strlen(ttl)) || !gen_put(&o, " ", 1))) ||
		    !gen_put(&o, "IN ", 3) || !gen_put(&o, type, strlen(type)) ||
		    !gen_put(&o, " ", 1)) {
			why = "generated text too long";
			break;
		}
		if ((why = gen_subst(&o, rhs, it)) != NULL)
			break;
		if (!gen_put(&o, "\n", 1)) {
			why = "generated text too long";
			break;
		}
		if (special) {
			char w2[300];
			size_t ll;
			char *sl = special_line(line_buf, (size_t)(o.p - line_buf), s->zone_origin,
						&ll, w2, sizeof(w2));
			if (!sl) {
				rc = fail(ps->err, P53_EINVAL, name, line,
					  "$GENERATE: %s (iteration %lld)", w2, it);
				goto out;
			}
			rc = feed_line(ps, s, name, sl, ll, line, "$GENERATE: ", it);
			free(sl);
		} else {
			rc = feed_line(ps, s, name, line_buf, (size_t)(o.p - line_buf), line,
				       "$GENERATE: ", it);
		}
		if (rc < 0)
			goto out;
	}
	if (why) {
		rc = fail(ps->err, P53_EINVAL, name, line, "$GENERATE: %s", why);
		goto out;
	}
	memcpy(s->r_owner, saved_owner, sizeof(saved_owner));
	s->r_owner_length = saved_len;
out:
	free(buf);
	free(line_buf);
	return rc;
}

/* Parses the scanner's input. text is its copy (or the caller's string),
 * or NULL when the scanner mapped the file itself. The input is fed in
 * pieces when it holds $GENERATE or an entry the scanner does not know. */
static int parse_scanner(struct parser *ps, zs_scanner_t *s, const char *name,
			 const struct incl *chain, const char *text, size_t len)
{
	struct clean cl;
	struct stop st;
	void *owned = NULL;
	size_t owned_len = 0, pos = 0;
	unsigned line = 1;
	bool special = false, gen = text && has_generate(text, len);
	int rc;

	clean_save(&cl, s);
	if (!gen) {
		rc = scan_input(ps, s, name, chain, &st);
		if (rc != 1)
			return rc;
		if (!text) {
			/* The scanner's own mapping: kept (and unmapped here)
			 * past its switch to the pieces. */
			text = s->input.start;
			len = (size_t)(s->input.end - s->input.start);
			if (s->file.descriptor != -1 && s->input.mmaped) {
				owned = (void *)text;
				owned_len = len;
				s->input.start = NULL;
			}
		}
		pos = (size_t)(st.at - text);
		line = st.line;
		special = true;
	}
	for (;;) {
		if (special) {
			rc = special_entry(ps, s, name, text, len, &pos, &line, &cl);
			if (rc < 0)
				goto out;
			special = false;
		}
		size_t g = len, eol = len;
		unsigned gl = line;
		bool found = gen && find_generate(text, len, pos, &gl, &g, &eol);
		if (g > pos) {
			if (zs_set_input_string(s, text + pos, g - pos) != 0) {
				rc = fail(ps->err, P53_ENOMEM, name, line, "out of memory");
				goto out;
			}
			s->line_counter = line;
			rc = scan_input(ps, s, name, chain, &st);
			if (rc < 0)
				goto out;
			if (rc == 1) {
				pos = (size_t)(st.at - text);
				line = st.line;
				special = true;
				continue;
			}
		}
		if (!found) {
			rc = 0;
			goto out;
		}
		rc = generate(ps, s, name, text + g, eol - g, gl);
		if (rc < 0)
			goto out;
		pos = eol;
		line = gl + 1;
	}
out:
	if (owned)
		munmap(owned, owned_len);
	return rc;
}

static int parser_init(struct parser *ps, const struct zparse_opts *opts, zparse_cb cb, void *ctx,
		       struct p53_err *err)
{
	memset(ps, 0, sizeof(*ps));
	if (!opts || !opts->origin || !cb)
		return p53_err_set(err, P53_EINVAL, "zparse: origin and callback are required");
	ps->opts = opts;
	ps->cb = cb;
	ps->ctx = ctx;
	ps->err = err;
	ps->last_ttl = opts->default_ttl;
	ps->max_depth = opts->max_include_depth ? opts->max_include_depth : DEPTH_DEFAULT;
	ps->max_generate = opts->max_generate == ZPARSE_GENERATE_FORBID ? 0
			   : opts->max_generate				? opts->max_generate
									: ZPARSE_GENERATE_DEFAULT;
	if (opts->include == ZPARSE_INCLUDE_CONFINE) {
		if (!opts->include_dir || realpath(opts->include_dir, ps->confine) == NULL)
			return p53_err_set(err, P53_EIO, "include directory '%s': %s",
					   opts->include_dir ? opts->include_dir : "(none)",
					   opts->include_dir ? strerror(errno) : "not given");
		size_t n = strlen(ps->confine);
		if (n + 2 > sizeof(ps->confine))
			return p53_err_set(err, P53_ERANGE, "include directory path too long");
		if (ps->confine[n - 1] != '/')
			memcpy(ps->confine + n, "/", 2);
	}
	return 0;
}

/* A scanner is 200 KB that zs_init clears whole: allocated afresh for every
 * file, its pages were faulted in and unmapped again each time, which cost
 * more than parsing a small zone. One freed scanner is kept for the next
 * file, whichever thread compiles it (zs_init resets all of it). */
static _Atomic(zs_scanner_t *) spare_scanner;

static zs_scanner_t *scanner_alloc(void)
{
	zs_scanner_t *s = atomic_exchange(&spare_scanner, NULL);
	return s ? s : malloc(sizeof(*s));
}

/* Takes a scanner zs_deinit has released (or that zs_init refused). */
static void scanner_release(zs_scanner_t *s)
{
	zs_scanner_t *none = NULL;
	if (!atomic_compare_exchange_strong(&spare_scanner, &none, s))
		free(s);
}

static zs_scanner_t *scanner_new(const uint8_t *origin, struct p53_err *err)
{
	char text[1100];
	zs_scanner_t *s = scanner_alloc();

	if (s == NULL) {
		p53_err_set(err, P53_ENOMEM, "zparse: out of memory");
		return NULL;
	}
	name_to_text(origin, text, sizeof(text));
	if (zs_init(s, text, CLASS_IN, TTL_UNSET) != 0) {
		p53_err_set(err, P53_EINVAL, "zparse: bad origin '%s'", text);
		zs_deinit(s);
		scanner_release(s);
		return NULL;
	}
	return s;
}

static void scanner_free(zs_scanner_t *s)
{
	zs_deinit(s);
	scanner_release(s);
}

int zparse_file(const char *path, const struct zparse_opts *opts, zparse_cb cb, void *ctx,
		struct p53_err *err)
{
	struct parser ps;
	struct stat st;
	int rc = parser_init(&ps, opts, cb, ctx, err);

	if (rc < 0)
		return rc;
	if (stat(path, &st) != 0)
		return p53_err_set(err, P53_EIO, "cannot open '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return p53_err_set(err, P53_EIO, "cannot read '%s': not a regular file", path);
	zs_scanner_t *s = scanner_new(opts->origin, err);
	if (s == NULL)
		return err && err->code ? err->code : P53_ENOMEM;
	char *copy = NULL;
	size_t copy_len;
	if (set_input(s, path, &copy, &copy_len) != 0) {
		rc = p53_err_set(err, P53_EIO, "cannot open '%s': %s", path,
				 zs_strerror(s->error.code));
	} else {
		struct incl me = {.dev = st.st_dev, .ino = st.st_ino};
		rc = parse_scanner(&ps, s, path, &me, copy, copy_len);
	}
	scanner_free(s);
	free(copy);
	return rc;
}

int zparse_string(const char *name, const char *text, size_t len, const struct zparse_opts *opts,
		  zparse_cb cb, void *ctx, struct p53_err *err)
{
	struct parser ps;
	int rc = parser_init(&ps, opts, cb, ctx, err);

	if (rc < 0)
		return rc;
	zs_scanner_t *s = scanner_new(opts->origin, err);
	if (s == NULL)
		return err && err->code ? err->code : P53_ENOMEM;
	char *copy = NULL;
	if (memchr(text, '\r', len) && (copy = malloc(len ? len : 1)) != NULL) {
		size_t n = 0;
		for (size_t i = 0; i < len; i++)
			if (!(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n'))
				copy[n++] = text[i];
		text = copy;
		len = n;
	}
	if (zs_set_input_string(s, text, len) != 0)
		rc = p53_err_set(err, P53_ENOMEM, "zparse: %s", zs_strerror(s->error.code));
	else
		rc = parse_scanner(&ps, s, name ? name : "-", NULL, text, len);
	scanner_free(s);
	free(copy);
	return rc;
}

/* One scanner per thread for single rdata: setting one up clears 200 KB,
 * too much per Route 53 value. */
static _Thread_local zs_scanner_t *rdata_scanner;

int zparse_rdata(uint16_t type, const char *text, size_t len, const uint8_t *origin, uint8_t *out,
		 size_t cap, struct p53_err *err)
{
	static const uint8_t root[1] = {0};
	char tb[12], head[40];
	zs_scanner_t *s = rdata_scanner;
	int rc;

	if (s == NULL) {
		s = scanner_new(root, err);
		if (s == NULL)
			return err && err->code ? err->code : P53_ENOMEM;
		rdata_scanner = s;
	}
	if (!origin)
		origin = root;
	/* Types the scanner does not know: presentation form read here, the
	 * RFC 3597 form by the scanner under the generic type name. */
	bool generic = false;
	if (type == RR_HIP || type == RR_AMTRELAY) {
		struct etok tok[ENTRY_TOKENS];
		int nt;
		unsigned nl;
		char why[300];
		entry_scan(text, len, 0, tok, ENTRY_TOKENS, &nt, &nl);
		generic = nt > 0 && tok_is(&tok[0], "\\#");
		if (!generic) {
			uint8_t *wire = malloc(65535);
			if (!wire)
				return p53_err_set(err, P53_ENOMEM, "out of memory");
			rc = nt < 0 ? -1
				    : special_rdata(type, tok, nt, origin, wire, 65535, why,
						    sizeof(why));
			if (rc < 0)
				rc = p53_err_set(err, P53_EINVAL, "%s",
						 nt < 0 ? "too many fields" : why);
			else if ((size_t)rc > cap)
				rc = p53_err_set(err, P53_ERANGE,
						 "rdata of %d bytes does not fit in %zu", rc, cap);
			else
				memcpy(out, wire, (size_t)rc);
			free(wire);
			return rc;
		}
	}
	size_t olen = name_len(origin);
	memcpy(s->zone_origin, origin, olen);
	s->zone_origin_length = (uint32_t)olen;
	s->default_ttl = 0;
	s->line_counter = 1;
	s->error.counter = 0;
	s->error.code = 0;
	s->state = ZS_STATE_NONE;
	/* "@ TYPE" and the text, as one entry; a newline closes it. */
	int hl = generic ? snprintf(head, sizeof(head), "@ TYPE%u ", type)
			 : snprintf(head, sizeof(head), "@ %s ", rrtype_to_text(type, tb));
	char *buf = malloc((size_t)hl + len + 2);
	if (buf == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	memcpy(buf, head, (size_t)hl);
	memcpy(buf + hl, text, len);
	buf[(size_t)hl + len] = '\n';
	if (zs_set_input_string(s, buf, (size_t)hl + len + 1) != 0) {
		rc = p53_err_set(err, P53_ENOMEM, "zparse: %s", zs_strerror(s->error.code));
		goto out;
	}
	zs_parse_record(s);
	if (s->state == ZS_STATE_ERROR) {
		rc = p53_err_set(err, P53_EINVAL, "%s", zs_strerror(s->error.code));
		goto out;
	}
	if (s->state != ZS_STATE_DATA) {
		rc = p53_err_set(err, P53_EINVAL, "missing %s rdata", rrtype_to_text(type, tb));
		goto out;
	}
	const struct rrtype_info *ti = rrtype_get(type);
	if (ti && ti->layout[0] && !rrtype_rdata_fits(ti->layout, s->r_data, s->r_data_length)) {
		rc = p53_err_set(err, P53_EINVAL, "rdata is not valid %s rdata",
				 rrtype_to_text(type, tb));
		goto out;
	}
	if (s->r_data_length > cap) {
		rc = p53_err_set(err, P53_ERANGE, "rdata of %u bytes does not fit in %zu",
				 (unsigned)s->r_data_length, cap);
		goto out;
	}
	memcpy(out, s->r_data, s->r_data_length);
	rc = (int)s->r_data_length;
	zs_parse_record(s);
	if (s->state != ZS_STATE_EOF)
		rc = p53_err_set(err, P53_EINVAL, "more than one %s rdata",
				 rrtype_to_text(type, tb));
out:
	if (rc < 0) {
		/* Start clean after an error: the scanner may be mid-entry. */
		scanner_free(s);
		rdata_scanner = NULL;
	}
	free(buf);
	return rc;
}

/* ---- one file in parts, on threads ---------------------------------------
 *
 * A large zone file is cut at lines that begin with an owner name, and each
 * part is read by its own scanner on its own thread, started in the state a
 * reading from the top would be in there as far as the text before the cut
 * tells: the directive lines before it ($ORIGIN, $TTL) are fed to the part's
 * scanner first. Whether that guess was right is known once the part before
 * has been read: the machine state, origin, class and default TTL of its
 * scanner at its end, and RFC 1035's last TTL when the part took it before
 * giving one, must be those the part started with, and the part before must
 * have ended cleanly (a cut inside parentheses leaves them unclosed, which
 * the scanner reports). At a line start outside parentheses nothing else of
 * the scanner's carries over to a line that names its owner. If any part
 * failed or guessed wrong, every part's records are dropped and the file is
 * read in one piece: the records, their lines and any message are always
 * those of one reading from the top.
 */

/* Files below this size are read in one piece. */
#define SPLIT_MIN (1u << 20)

/* What of the scanner's state carries over from one line to the next. */
struct carry {
	int cs, top;
	int stack[ZS_RAGEL_STACK_SIZE];
	bool multiline;
	uint32_t origin_len;
	uint8_t origin[ZS_MAX_DNAME_LENGTH + ZS_MAX_LABEL_LENGTH];
	uint16_t rclass;
	uint32_t default_ttl;
};

static void carry_take(struct carry *c, const zs_scanner_t *s)
{
	memset(c, 0, sizeof(*c));
	c->cs = s->cs;
	c->top = s->top;
	if (s->top > 0 && s->top <= ZS_RAGEL_STACK_SIZE)
		memcpy(c->stack, s->stack, (size_t)s->top * sizeof(int));
	c->multiline = s->multiline;
	c->origin_len = s->zone_origin_length;
	if (c->origin_len <= sizeof(c->origin))
		memcpy(c->origin, s->zone_origin, c->origin_len);
	c->rclass = s->default_class;
	c->default_ttl = s->default_ttl;
}

struct part {
	struct parser ps;
	struct p53_err err;
	zs_scanner_t *s;
	const char *name;
	const char *text; /* the part's bytes */
	size_t len;
	unsigned line;	     /* the line it starts on */
	struct carry start;  /* the state it started in (parts after the first) */
	struct carry end;    /* and the state it ended in */
	uint32_t start_last; /* the last TTL it started with */
	int rc;
};

static void *part_run(void *arg)
{
	struct part *p = arg;
	zs_scanner_t *s = p->s;
	if (zs_set_input_string(s, p->text, p->len) != 0) {
		p->rc = fail(&p->err, P53_ENOMEM, p->name, p->line, "out of memory");
		return NULL;
	}
	s->line_counter = p->line;
	p->rc = parse_scanner(&p->ps, s, p->name, NULL, p->text, p->len);
	carry_take(&p->end, s);
	/* HIP and AMTRELAY rdata took this thread's own scanner, which
	 * would go with the thread. */
	if (rdata_scanner) {
		scanner_free(rdata_scanner);
		rdata_scanner = NULL;
	}
	return NULL;
}

/* Whether text holds "$INCLUDE" anywhere. */
static bool has_include(const char *t, size_t n)
{
	const char *p = t, *end = t + n;
	while ((p = memchr(p, '$', (size_t)(end - p))) != NULL) {
		if ((size_t)(end - p) >= 8 && strncasecmp(p, "$INCLUDE", 8) == 0)
			return true;
		p++;
	}
	return false;
}

/* A line that can start a part: it names its owner (a name's first
 * character; not blank, so it does not take the owner before it) and the
 * line before does not end in a backslash. */
static bool cut_ok(const char *t, size_t i)
{
	char c = t[i];
	if (i < 2 || t[i - 1] != '\n' || t[i - 2] == '\\')
		return false;
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '*' || c == '-';
}

/* The first line that can start a part at or after at, or n. */
static size_t find_cut(const char *t, size_t n, size_t at)
{
	while (at < n) {
		const char *nl = memchr(t + at, '\n', n - at);
		if (nl == NULL)
			return n;
		at = (size_t)(nl - t) + 1;
		if (at < n && cut_ok(t, at))
			return at;
	}
	return n;
}

/* Newlines in t[0, n). */
static uint64_t count_lines(const char *t, size_t n)
{
	uint64_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += t[i] == '\n';
	return k;
}

/* Feeds the directive lines of t[0, n) (those starting with '$') to s, as
 * a reading from the top would meet them. Returns 0, or -1 when the
 * scanner refused one (the reading in one piece will say why). */
static int feed_directives(zs_scanner_t *s, const char *t, size_t n)
{
	const char *p = t, *end = t + n;
	while ((p = memchr(p, '$', (size_t)(end - p))) != NULL) {
		if (p > t && p[-1] != '\n') {
			p++;
			continue;
		}
		const char *e = memchr(p, '\n', (size_t)(end - p));
		e = e ? e + 1 : end;
		if (zs_set_input_string(s, p, (size_t)(e - p)) != 0)
			return -1;
		for (;;) {
			zs_parse_record(s);
			if (s->state == ZS_STATE_EOF)
				break;
			if (s->state != ZS_STATE_NONE)
				return -1;
		}
		p = e;
	}
	return 0;
}

/* Reads the parts of text on threads; 1 when they joined up (the records
 * are in the parts' contexts), 0 when the file must be read in one piece,
 * negative when out of memory. */
static int parse_parts(const char *name, const char *text, size_t len,
		       const struct zparse_opts *opts, zparse_cb cb, struct zparse_parts *pp)
{
	unsigned n = pp->n;
	struct part *parts = calloc(n, sizeof(*parts));
	pthread_t *tid = calloc(n, sizeof(*tid));
	bool *started = calloc(n, sizeof(*started));
	int rc = -1;
	if (parts == NULL || tid == NULL || started == NULL)
		goto out;
	size_t at = 0;
	uint64_t lines = 0;
	for (unsigned k = 0; k < n; k++) {
		struct part *p = &parts[k];
		size_t to = k + 1 < n ? find_cut(text, len, len / n * (k + 1)) : len;
		if (to <= at) {
			rc = 0; /* too few places to cut */
			goto out;
		}
		p->text = text + at;
		p->len = to - at;
		p->name = name;
		p->line = (unsigned)(1 + lines);
		if (parser_init(&p->ps, opts, cb, pp->ctx[k], &p->err) < 0) {
			rc = 0;
			goto out;
		}
		p->s = scanner_new(opts->origin, &p->err);
		if (p->s == NULL)
			goto out;
		if (k > 0) {
			if (feed_directives(p->s, text, at) != 0) {
				rc = 0;
				goto out;
			}
			carry_take(&p->start, p->s);
			p->start_last = p->ps.last_ttl;
		}
		lines += count_lines(p->text, p->len);
		at = to;
	}
	for (unsigned k = 1; k < n; k++)
		started[k] = pthread_create(&tid[k], NULL, part_run, &parts[k]) == 0;
	part_run(&parts[0]);
	for (unsigned k = 1; k < n; k++) {
		if (started[k])
			pthread_join(tid[k], NULL);
		else
			part_run(&parts[k]);
	}
	/* Each part against the true state at its start: the state at the
	 * end of the part before, itself checked. */
	rc = 1;
	uint32_t last = parts[0].ps.last_ttl;
	for (unsigned k = 0; k < n && rc == 1; k++) {
		struct part *p = &parts[k];
		if (p->rc != 0 || p->end.multiline) {
			rc = 0;
			break;
		}
		if (k > 0) {
			struct carry *was = &parts[k - 1].end;
			if (memcmp(was, &p->start, sizeof(*was)) != 0 ||
			    (p->start.default_ttl == TTL_UNSET && p->ps.ttl_used &&
			     last != p->start_last))
				rc = 0;
			if (p->ps.ttl_set)
				last = p->ps.last_ttl;
		}
	}
	pp->used = rc == 1 ? n : 1;
out:
	if (parts)
		for (unsigned k = 0; k < n; k++)
			if (parts[k].s)
				scanner_free(parts[k].s);
	free(parts);
	free(tid);
	free(started);
	return rc;
}

int zparse_file_parts(const char *path, const struct zparse_opts *opts, zparse_cb cb,
		      struct zparse_parts *pp, struct p53_err *err)
{
	pp->used = 1;
	unsigned n = pp->n < ZPARSE_PARTS_MAX ? pp->n : ZPARSE_PARTS_MAX;
	int fd = n > 1 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	struct stat st;
	void *m = MAP_FAILED;
	size_t len = 0;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= SPLIT_MIN) {
		len = (size_t)st.st_size;
		/* Populated at once: the scans for cut points touch every
		 * page, a fault each otherwise. */
		m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	}
	if (fd >= 0)
		close(fd);
	if (m != MAP_FAILED) {
		const char *t = m;
		int rc = 0;
		if (memchr(t, '\r', len) == NULL && !has_generate(t, len) && !has_include(t, len)) {
			struct zparse_parts one = *pp;
			one.n = n;
			rc = parse_parts(path, t, len, opts, cb, &one);
			pp->used = one.used;
		}
		munmap(m, len);
		if (rc < 0)
			return p53_err_set(err, P53_ENOMEM, "out of memory");
		if (rc == 1)
			return 0;
		/* Read in one piece: what the parts gave is dropped. */
		for (unsigned k = 0; k < n && pp->reset; k++)
			pp->reset(pp->ctx[k], k);
		pp->used = 1;
	}
	return zparse_file(path, opts, cb, pp->ctx[0], err);
}
