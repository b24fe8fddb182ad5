/* Master files through libzscanner, with port53's rules on top.
 *
 * The scanner runs in its manual mode (zs_parse_record), which hands every
 * $INCLUDE back to us: that is where the include policy, the nesting limit and
 * loop detection live. Messages are built from the scanner's error code and
 * our own words only; the scanner's copy of the offending line is never
 * printed, so a $INCLUDE of a file that is not a zone file (a key, a password
 * file) cannot leak its content through an error.
 */
#include "zones/compile/zparse.h"

#include "zones/common/rrtype.h"

#include <errno.h>
#include <libzscanner/scanner.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
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
	unsigned depth, max_depth;
	char confine[PATH_MAX]; /* resolved include_dir, with a trailing '/' */
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
		if (ttl == TTL_UNSET)
			ttl = ps->last_ttl;
		else
			ps->last_ttl = ttl;
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
			 const struct incl *chain);

/* The scanner refuses CR LF line ends; files written on Windows are read
 * with each CR LF turned into LF (line numbers stay). Files without a CR,
 * nearly all, are mapped by the scanner itself. *text is set when a copy
 * was made (the caller frees it after parsing). */
static int set_input(zs_scanner_t *s, const char *path, char **text)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	bool cr = false;

	*text = NULL;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return zs_set_input_file(s, path);
	}
	if (st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			cr = memchr(m, '\r', (size_t)st.st_size) != NULL;
			if (cr && (*text = malloc((size_t)st.st_size)) != NULL) {
				const char *p = m;
				size_t n = 0;
				for (off_t i = 0; i < st.st_size; i++)
					if (!(p[i] == '\r' && i + 1 < st.st_size &&
					      p[i + 1] == '\n'))
						(*text)[n++] = p[i];
				munmap(m, (size_t)st.st_size);
				close(fd);
				char real[PATH_MAX];
				if (zs_set_input_string(s, *text, n) != 0)
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
			munmap(m, (size_t)st.st_size);
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
	if (set_input(child, path, &copy) != 0) {
		rc = fail(ps->err, P53_EIO, name, line, "cannot open '%s': %s", path,
			  zs_strerror(child->error.code));
	} else {
		struct incl me = {.dev = st.st_dev, .ino = st.st_ino, .parent = chain};
		char *child_name = strdup(path);
		ps->depth++;
		rc = child_name ? parse_scanner(ps, child, child_name, &me)
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

static int parse_scanner(struct parser *ps, zs_scanner_t *s, const char *name,
			 const struct incl *chain)
{
	struct mark m = {.base = s->input.start, .pos = s->input.start, .line = 1};

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

static zs_scanner_t *scanner_new(const uint8_t *origin, struct p53_err *err)
{
	char text[1100];
	zs_scanner_t *s = malloc(sizeof(*s));

	if (s == NULL) {
		p53_err_set(err, P53_ENOMEM, "zparse: out of memory");
		return NULL;
	}
	name_to_text(origin, text, sizeof(text));
	if (zs_init(s, text, CLASS_IN, TTL_UNSET) != 0) {
		p53_err_set(err, P53_EINVAL, "zparse: bad origin '%s'", text);
		zs_deinit(s);
		free(s);
		return NULL;
	}
	return s;
}

static void scanner_free(zs_scanner_t *s)
{
	zs_deinit(s);
	free(s);
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
	if (set_input(s, path, &copy) != 0) {
		rc = p53_err_set(err, P53_EIO, "cannot open '%s': %s", path,
				 zs_strerror(s->error.code));
	} else {
		struct incl me = {.dev = st.st_dev, .ino = st.st_ino};
		rc = parse_scanner(&ps, s, path, &me);
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
		rc = parse_scanner(&ps, s, name ? name : "-", NULL);
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
	size_t olen = name_len(origin);
	memcpy(s->zone_origin, origin, olen);
	s->zone_origin_length = (uint32_t)olen;
	s->default_ttl = 0;
	s->line_counter = 1;
	s->error.counter = 0;
	s->error.code = 0;
	s->state = ZS_STATE_NONE;
	/* "@ TYPE" and the text, as one entry; a newline closes it. */
	int hl = snprintf(head, sizeof(head), "@ %s ", rrtype_to_text(type, tb));
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
