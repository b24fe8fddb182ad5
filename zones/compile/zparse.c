/* RFC 1035 master-file parser.
 *
 * A byte-at-a-time lexer cuts the input into entries (one logical line, with
 * parentheses joined) made of tokens that keep their escapes; a layout-driven
 * encoder (rrtype.h letters) then turns each entry's rdata into wire form.
 * Tokens live in one arena reused for every entry, so a record costs no
 * allocation and a zone of any size costs only the read buffer.
 */
#include "zones/compile/zparse.h"

#include "zones/common/rrtype.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TTL_MAX	       2147483647u /* RFC 2181 8 */
#define RDATA_MAX      65535
#define READ_CHUNK     (1u << 20)
#define DEPTH_DEFAULT  8
#define ENTRY_TEXT_MAX (4u << 20) /* 4x the largest rdata, escaped */
#define ENTRY_TOK_MAX  (1u << 18)
#define SVC_PARAMS_MAX 64
#define QUOTE_MAX      60 /* how much of a bad token a message repeats */
#define PERIOD_HUGE    1000000000000000000ull

/* Bad tokens are quoted in messages, cut so that a stray quote cannot turn a
 * message into a page of zone file. */
#define TOKARG(t) (int)((t)->len > QUOTE_MAX ? QUOTE_MAX : (t)->len), (t)->p

struct tok {
	const char *p;
	size_t off; /* into the arena while it may still move */
	size_t len;
	unsigned line;
	bool quoted;
	bool glued; /* no blank between this token and the one before */
};

struct lexbuf {
	char *text;
	size_t tlen, tcap;
	struct tok *tok;
	size_t ntok, kcap;
	bool text_heap, tok_heap;
};

struct src {
	int fd; /* -1: text in memory */
	const char *buf;
	size_t pos, end;
	char *own;
	char *name_own;
	const char *name;
	unsigned line;
	int ioerr;
	bool has_id;
	dev_t dev;
	ino_t ino;
	const struct src *parent;
};

/* What the rdata encoder reads from and writes to. */
struct rd {
	const struct tok *t;
	size_t n, i;
	const uint8_t *origin;
	uint8_t *out;
	size_t cap, len;
	const char *file; /* NULL: messages without "file:line: " */
	unsigned line;
	struct p53_err *err;
};

struct parser {
	const struct zparse_opts *opts;
	zparse_cb cb;
	void *ctx;
	struct p53_err *err;
	struct lexbuf lb;
	uint8_t origin[P53_NAME_MAX];
	uint8_t owner[P53_NAME_MAX];
	size_t owner_len;
	bool have_owner;
	uint32_t ttl;
	bool dollar_ttl;
	uint16_t rclass;
	unsigned depth, max_depth;
	uint8_t rdata[RDATA_MAX];
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

/* ---- input ---------------------------------------------------------- */

static int src_fill(struct src *s)
{
	ssize_t n;

	if (s->fd < 0)
		return EOF;
	do
		n = read(s->fd, s->own, READ_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		if (n < 0)
			s->ioerr = errno;
		return EOF;
	}
	s->buf = s->own;
	s->pos = 1;
	s->end = (size_t)n;
	return (unsigned char)s->buf[0];
}

static inline int src_get(struct src *s)
{
	if (s->pos < s->end)
		return (unsigned char)s->buf[s->pos++];
	return src_fill(s);
}

static inline int src_peek(struct src *s)
{
	int c = src_get(s);

	if (c != EOF)
		s->pos--;
	return c;
}

static int src_open(struct src *s, const char *path, struct p53_err *err, const char *from,
		    unsigned line)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		return fail(err, P53_EIO, from, line, "cannot open '%s': %s", path,
			    strerror(errno));
	if (fstat(s->fd, &st) != 0 || S_ISDIR(st.st_mode)) {
		int e = S_ISDIR(st.st_mode) ? EISDIR : errno;

		close(s->fd);
		return fail(err, P53_EIO, from, line, "cannot read '%s': %s", path, strerror(e));
	}
	s->own = malloc(READ_CHUNK);
	s->name_own = strdup(path);
	if (!s->own || !s->name_own) {
		close(s->fd);
		free(s->own);
		free(s->name_own);
		return fail(err, P53_ENOMEM, from, line, "out of memory");
	}
	s->name = s->name_own;
	s->line = 1;
	s->has_id = true;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

static void src_close(struct src *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->own);
	free(s->name_own);
}

static void src_mem(struct src *s, const char *name, const char *text, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->buf = text;
	s->end = len;
	s->name = name;
	s->line = 1;
}

/* ---- lexer ------------------------------------------------------------ */

static int lb_grow_text(struct lexbuf *lb)
{
	size_t ncap = lb->tcap * 2;
	char *p;

	if (lb->tcap >= ENTRY_TEXT_MAX)
		return -1;
	if (lb->text_heap) {
		p = realloc(lb->text, ncap);
	} else {
		p = malloc(ncap);
		if (p)
			memcpy(p, lb->text, lb->tlen);
	}
	if (!p)
		return -1;
	lb->text = p;
	lb->tcap = ncap;
	lb->text_heap = true;
	return 0;
}

static int lb_grow_tok(struct lexbuf *lb)
{
	size_t ncap = lb->kcap * 2;
	struct tok *p;

	if (lb->kcap >= ENTRY_TOK_MAX)
		return -1;
	if (lb->tok_heap) {
		p = realloc(lb->tok, ncap * sizeof(*p));
	} else {
		p = malloc(ncap * sizeof(*p));
		if (p)
			memcpy(p, lb->tok, lb->ntok * sizeof(*p));
	}
	if (!p)
		return -1;
	lb->tok = p;
	lb->kcap = ncap;
	lb->tok_heap = true;
	return 0;
}

static void lb_free(struct lexbuf *lb)
{
	if (lb->text_heap)
		free(lb->text);
	if (lb->tok_heap)
		free(lb->tok);
}

static inline int lb_putc(struct lexbuf *lb, int c)
{
	if (lb->tlen == lb->tcap && lb_grow_text(lb) != 0)
		return -1;
	lb->text[lb->tlen++] = (char)c;
	return 0;
}

static int lb_start(struct lexbuf *lb, unsigned line, bool quoted, bool glued)
{
	if (lb->ntok == lb->kcap && lb_grow_tok(lb) != 0)
		return -1;
	lb->tok[lb->ntok++] =
	    (struct tok){.off = lb->tlen, .line = line, .quoted = quoted, .glued = glued};
	return 0;
}

static void lb_finish(struct lexbuf *lb)
{
	struct tok *t = &lb->tok[lb->ntok - 1];

	t->len = lb->tlen - t->off;
}

static inline bool is_delim(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '(' ||
	       c == ')' || c == '"' || c == EOF;
}

static int too_long(struct src *s, struct p53_err *err)
{
	return fail(err, P53_ERANGE, s->name, s->line, "record text too long");
}

/* Escapes are kept: names and strings decode them by their own rules. */
static int lex_word(struct lexbuf *lb, struct src *s, int c, bool glued, struct p53_err *err)
{
	if (lb_start(lb, s->line, false, glued) != 0)
		return too_long(s, err);
	for (;;) {
		if (lb_putc(lb, c) != 0)
			return too_long(s, err);
		if (c == '\\') {
			c = src_get(s);
			if (c == EOF || c == '\n')
				return fail(err, P53_EINVAL, s->name, s->line,
					    "backslash at end of line");
			if (lb_putc(lb, c) != 0)
				return too_long(s, err);
		}
		c = src_peek(s);
		if (is_delim(c))
			break;
		s->pos++;
	}
	lb_finish(lb);
	return 0;
}

/* A quoted string ends on its line: a forgotten quote then costs one clear
 * message instead of swallowing the rest of the file. */
static int lex_quoted(struct lexbuf *lb, struct src *s, bool glued, struct p53_err *err)
{
	unsigned line = s->line;

	if (lb_start(lb, line, true, glued) != 0)
		return too_long(s, err);
	for (;;) {
		int c = src_get(s);

		if (c == EOF || c == '\n')
			return fail(err, P53_EINVAL, s->name, line, "unterminated quoted string");
		if (c == '"')
			break;
		if (lb_putc(lb, c) != 0)
			return too_long(s, err);
		if (c == '\\') {
			c = src_get(s);
			if (c == EOF || c == '\n')
				return fail(err, P53_EINVAL, s->name, line,
					    "unterminated quoted string");
			if (lb_putc(lb, c) != 0)
				return too_long(s, err);
		}
	}
	lb_finish(lb);
	return 0;
}

/* Reads one entry: tokens up to a newline outside parentheses (or to the end
 * when multiline is false). Returns 1 with tokens, 0 at the end of input.
 * *indented tells whether the entry's first line starts with a blank, which
 * means "same owner as before" (RFC 1035 5.1). */
static int lex_entry(struct lexbuf *lb, struct src *s, bool multiline, bool *indented,
		     struct p53_err *err)
{
	unsigned depth = 0, paren_line = 0;
	bool sep = true, line_start = true;
	int rc;

	lb->tlen = 0;
	lb->ntok = 0;
	*indented = false;
	for (;;) {
		int c = src_get(s);

		if (line_start) {
			line_start = false;
			if (lb->ntok == 0)
				*indented = c == ' ' || c == '\t';
		}
		switch (c) {
		case EOF:
			if (s->ioerr)
				return fail(err, P53_EIO, s->name, s->line, "read error: %s",
					    strerror(s->ioerr));
			if (depth)
				return fail(err, P53_EINVAL, s->name, paren_line,
					    "unbalanced parenthesis: '(' never closed");
			goto done;
		case '\n':
			s->line++;
			sep = true;
			if (depth == 0 && multiline) {
				if (lb->ntok)
					goto done;
				line_start = true;
			}
			continue;
		case ' ':
		case '\t':
		case '\r':
			sep = true;
			continue;
		case ';':
			while ((c = src_peek(s)) != EOF && c != '\n')
				s->pos++;
			sep = true;
			continue;
		case '(':
			if (depth++ == 0)
				paren_line = s->line;
			sep = true;
			continue;
		case ')':
			if (depth == 0)
				return fail(err, P53_EINVAL, s->name, s->line,
					    "unbalanced parenthesis: ')' without '('");
			depth--;
			sep = true;
			continue;
		case '"':
			rc = lex_quoted(lb, s, !sep, err);
			break;
		default:
			rc = lex_word(lb, s, c, !sep, err);
			break;
		}
		if (rc < 0)
			return rc;
		sep = false;
	}
done:
	for (size_t i = 0; i < lb->ntok; i++)
		lb->tok[i].p = lb->text + lb->tok[i].off;
	return lb->ntok ? 1 : 0;
}

/* ---- field decoders ----------------------------------------------------- */

static bool tok_is(const struct tok *t, const char *s)
{
	size_t n = strlen(s);

	return !t->quoted && t->len == n && strncasecmp(t->p, s, n) == 0;
}

static inline bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* RFC 1035 5.1 "\X" and "\DDD". Returns the decoded length, -1 for a bad
 * escape, -2 when the result would exceed cap. */
static int unescape(const char *p, size_t len, uint8_t *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		uint8_t c = (uint8_t)p[i++];

		if (c == '\\') {
			if (i >= len)
				return -1;
			if (is_digit(p[i])) {
				if (i + 3 > len || !is_digit(p[i + 1]) || !is_digit(p[i + 2]))
					return -1;
				unsigned v = (unsigned)(p[i] - '0') * 100 +
					     (unsigned)(p[i + 1] - '0') * 10 +
					     (unsigned)(p[i + 2] - '0');
				if (v > 255)
					return -1;
				c = (uint8_t)v;
				i += 3;
			} else {
				c = (uint8_t)p[i++];
			}
		}
		if (o >= cap)
			return -2;
		out[o++] = c;
	}
	return (int)o;
}

static bool parse_uint(const char *p, size_t len, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(p[i]))
			return false;
		x = x * 10 + (uint64_t)(p[i] - '0');
	}
	if (x > max)
		return false;
	*v = x;
	return true;
}

/* Plain seconds or units (1h30m, 1w2d; s m h d w in either case). Values too
 * large to matter saturate at PERIOD_HUGE so overflow cannot wrap. */
static bool parse_period(const char *p, size_t len, uint64_t *out)
{
	uint64_t total = 0, num = 0;
	bool digits = false, units = false;

	for (size_t i = 0; i < len; i++) {
		uint64_t mul;

		if (is_digit(p[i])) {
			num = num > 1000000000000ull ? num : num * 10 + (uint64_t)(p[i] - '0');
			digits = true;
			continue;
		}
		switch (p[i] | 0x20) {
		case 's':
			mul = 1;
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 3600;
			break;
		case 'd':
			mul = 86400;
			break;
		case 'w':
			mul = 604800;
			break;
		default:
			return false;
		}
		if (!digits)
			return false;
		total += num * mul;
		if (total > PERIOD_HUGE)
			total = PERIOD_HUGE;
		num = 0;
		digits = false;
		units = true;
	}
	if (digits) {
		if (units)
			return false; /* "1h30": 30 what? */
		total = num;
	}
	*out = total;
	return len > 0;
}

static int period_from_tok(const struct tok *t, const char *what, uint64_t max, uint32_t *v,
			   const char *file, struct p53_err *err)
{
	uint64_t x;

	if (t->quoted || !parse_period(t->p, t->len, &x))
		return fail(err, P53_EINVAL, file, t->line, "bad %s '%.*s'", what, TOKARG(t));
	if (x > max) {
		if (x >= 1000000000000ull)
			return fail(err, P53_EINVAL, file, t->line,
				    "%s '%.*s' out of range (0..%llu)", what, TOKARG(t),
				    (unsigned long long)max);
		return fail(err, P53_EINVAL, file, t->line, "%s %llu out of range (0..%llu)", what,
			    (unsigned long long)x, (unsigned long long)max);
	}
	*v = (uint32_t)x;
	return 0;
}

static bool parse_ipv4(const char *p, size_t len, uint8_t a[4])
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0;
		size_t nd = 0;

		if (part) {
			if (i >= len || p[i] != '.')
				return false;
			i++;
		}
		while (i < len && is_digit(p[i]) && nd < 4) {
			v = v * 10 + (unsigned)(p[i++] - '0');
			nd++;
		}
		/* Leading zeros are refused: some tools read them as octal. */
		if (nd == 0 || nd > 3 || v > 255 || (nd > 1 && p[i - nd] == '0'))
			return false;
		a[part] = (uint8_t)v;
	}
	return i == len;
}

static bool parse_ipv6(const char *p, size_t len, uint8_t a[16])
{
	char buf[64];

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, p, len);
	buf[len] = 0;
	return inet_pton(AF_INET6, buf, a) == 1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Base64 over a run of text pieces (tokens), since zone files may break it
 * anywhere. Returns the decoded length, or -1 (bad data), -2 (exceeds cap). */
struct b64 {
	uint32_t acc;
	unsigned n, pad;
	bool done;
};

static int b64_feed(struct b64 *st, const char *p, size_t len, uint8_t *out, size_t cap,
		    size_t *olen)
{
	for (size_t i = 0; i < len; i++) {
		int v = 0;

		if (st->done)
			return -1;
		if (p[i] == '=') {
			if (st->n < 2)
				return -1;
			st->pad++;
		} else {
			v = b64val((unsigned char)p[i]);
			if (v < 0 || st->pad)
				return -1;
		}
		st->acc = st->acc << 6 | (uint32_t)v;
		if (++st->n < 4)
			continue;
		size_t nb = 3 - st->pad;
		if (*olen + nb > cap)
			return -2;
		for (size_t k = 0; k < nb; k++)
			out[(*olen)++] = (uint8_t)(st->acc >> (16 - 8 * k));
		st->done = st->pad > 0;
		st->acc = 0;
		st->n = 0;
	}
	return 0;
}

/* ---- rdata encoder ---------------------------------------------------- */

__attribute__((format(printf, 4, 5))) static int rd_fail(struct rd *rd, unsigned line, int code,
							 const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail(rd->err, code, rd->file, line, "%s", msg);
}

static int rd_full(struct rd *rd)
{
	return rd_fail(rd, rd->line, P53_ERANGE, "rdata longer than %zu bytes", rd->cap);
}

static int rd_put(struct rd *rd, const void *p, size_t n)
{
	if (n > rd->cap - rd->len)
		return rd_full(rd);
	memcpy(rd->out + rd->len, p, n);
	rd->len += n;
	return 0;
}

static int rd_put_uint(struct rd *rd, uint64_t v, unsigned bytes)
{
	uint8_t b[4];

	for (unsigned k = 0; k < bytes; k++)
		b[k] = (uint8_t)(v >> (8 * (bytes - 1 - k)));
	return rd_put(rd, b, bytes);
}

static const struct tok *rd_next(struct rd *rd, const char *what)
{
	if (rd->i < rd->n)
		return &rd->t[rd->i++];
	rd_fail(rd, rd->n ? rd->t[rd->n - 1].line : rd->line, P53_EINVAL, "missing %s", what);
	return NULL;
}

static int rd_name(struct rd *rd)
{
	const struct tok *t = rd_next(rd, "domain name");
	uint8_t wire[P53_NAME_MAX];
	const char *why = "bad name";
	int n;

	if (!t)
		return P53_EINVAL;
	if (t->quoted)
		return rd_fail(rd, t->line, P53_EINVAL,
			       "quoted string \"%.*s\" where a domain name is expected", TOKARG(t));
	n = name_from_text(t->p, t->len, rd->origin, wire, &why);
	if (n < 0)
		return rd_fail(rd, t->line, P53_EINVAL, "bad domain name '%.*s': %s", TOKARG(t),
			       why);
	return rd_put(rd, wire, (size_t)n);
}

static int rd_int(struct rd *rd, unsigned bytes)
{
	static const char *const what[] = {"", "8-bit integer", "16-bit integer", "",
					   "32-bit integer"};
	const struct tok *t = rd_next(rd, what[bytes]);
	uint64_t max = bytes == 4 ? 0xffffffffull : (1ull << (8 * bytes)) - 1;
	uint64_t v;

	if (!t)
		return P53_EINVAL;
	if (t->quoted || !parse_uint(t->p, t->len, max, &v))
		return rd_fail(rd, t->line, P53_EINVAL, "bad %s '%.*s'", what[bytes], TOKARG(t));
	return rd_put_uint(rd, v, bytes);
}

static int rd_period(struct rd *rd)
{
	const struct tok *t = rd_next(rd, "time value");
	uint32_t v;
	int rc;

	if (!t)
		return P53_EINVAL;
	rc = period_from_tok(t, "time value", 0xffffffffull, &v, rd->file, rd->err);
	return rc < 0 ? rc : rd_put_uint(rd, v, 4);
}

static int rd_addr(struct rd *rd, bool v6)
{
	const struct tok *t = rd_next(rd, v6 ? "IPv6 address" : "IPv4 address");
	uint8_t a[16];
	bool ok;

	if (!t)
		return P53_EINVAL;
	ok = !t->quoted && (v6 ? parse_ipv6(t->p, t->len, a) : parse_ipv4(t->p, t->len, a));
	if (!ok)
		return rd_fail(rd, t->line, P53_EINVAL, "bad %s address '%.*s'",
			       v6 ? "IPv6" : "IPv4", TOKARG(t));
	return rd_put(rd, a, v6 ? 16 : 4);
}

/* One <character-string>: a length byte, then up to 255 bytes. */
static int rd_cstring(struct rd *rd, const struct tok *t)
{
	size_t room = rd->cap - rd->len;
	size_t lim;
	int n;

	if (room == 0)
		return rd_full(rd);
	lim = room - 1 < 255 ? room - 1 : 255;
	n = unescape(t->p, t->len, rd->out + rd->len + 1, lim);
	if (n == -1)
		return rd_fail(rd, t->line, P53_EINVAL, "bad escape in string \"%.*s\"", TOKARG(t));
	if (n == -2)
		return lim == 255 ? rd_fail(rd, t->line, P53_EINVAL,
					    "character-string longer than 255 bytes")
				  : rd_full(rd);
	rd->out[rd->len] = (uint8_t)n;
	rd->len += (size_t)n + 1;
	return 0;
}

static int rd_strings(struct rd *rd, bool many)
{
	const struct tok *t = rd_next(rd, "character-string");
	int rc;

	if (!t)
		return P53_EINVAL;
	rc = rd_cstring(rd, t);
	while (rc == 0 && many && rd->i < rd->n)
		rc = rd_cstring(rd, &rd->t[rd->i++]);
	return rc;
}

/* CAA tag (RFC 8659 4.1.1): 1 to 15 letters and digits. */
static int rd_caa_tag(struct rd *rd)
{
	const struct tok *t = rd_next(rd, "CAA tag");
	uint8_t tag[16];
	int n;

	if (!t)
		return P53_EINVAL;
	n = unescape(t->p, t->len, tag, 15);
	for (int k = 0; k < n; k++)
		if (!((tag[k] | 0x20) >= 'a' && (tag[k] | 0x20) <= 'z') && !is_digit(tag[k]))
			n = -1;
	if (n <= 0)
		return rd_fail(rd, t->line, P53_EINVAL,
			       "bad CAA tag '%.*s': 1 to 15 letters and digits", TOKARG(t));
	if (rd_put_uint(rd, (uint64_t)n, 1) != 0)
		return P53_ERANGE;
	return rd_put(rd, tag, (size_t)n);
}

static int rd_rest_string(struct rd *rd)
{
	const struct tok *t = rd_next(rd, "CAA value");
	int n;

	if (!t)
		return P53_EINVAL;
	n = unescape(t->p, t->len, rd->out + rd->len, rd->cap - rd->len);
	if (n == -1)
		return rd_fail(rd, t->line, P53_EINVAL, "bad escape in string \"%.*s\"", TOKARG(t));
	if (n == -2)
		return rd_full(rd);
	rd->len += (size_t)n;
	return 0;
}

/* Hex to the end of the entry; digit pairs may straddle blanks. */
static int rd_hex(struct rd *rd, const char *what)
{
	int hi = -1;

	if (rd->i >= rd->n)
		return rd_fail(rd, rd->n ? rd->t[rd->n - 1].line : rd->line, P53_EINVAL,
			       "missing %s", what);
	for (; rd->i < rd->n; rd->i++) {
		const struct tok *t = &rd->t[rd->i];

		for (size_t k = 0; k < t->len; k++) {
			int v = t->quoted ? -1 : hexval((unsigned char)t->p[k]);

			if (v < 0)
				return rd_fail(rd, t->line, P53_EINVAL, "bad hex digit in '%.*s'",
					       TOKARG(t));
			if (hi < 0) {
				hi = v;
				continue;
			}
			if (rd_put_uint(rd, (uint64_t)(hi << 4 | v), 1) != 0)
				return P53_ERANGE;
			hi = -1;
		}
	}
	if (hi >= 0)
		return rd_fail(rd, rd->t[rd->n - 1].line, P53_EINVAL, "odd number of hex digits");
	return 0;
}

static int rd_base64(struct rd *rd)
{
	struct b64 st = {0};

	if (rd->i >= rd->n)
		return rd_fail(rd, rd->n ? rd->t[rd->n - 1].line : rd->line, P53_EINVAL,
			       "missing base64 data");
	for (; rd->i < rd->n; rd->i++) {
		const struct tok *t = &rd->t[rd->i];
		int rc = t->quoted ? -1 : b64_feed(&st, t->p, t->len, rd->out, rd->cap, &rd->len);

		if (rc == -2)
			return rd_full(rd);
		if (rc < 0)
			return rd_fail(rd, t->line, P53_EINVAL, "bad base64 data '%.*s'",
				       TOKARG(t));
	}
	if (st.n)
		return rd_fail(rd, rd->t[rd->n - 1].line, P53_EINVAL,
			       "base64 data length is not a multiple of 4");
	return 0;
}

/* ---- SVCB / HTTPS SvcParams (RFC 9460 2.1, A.1) ------------------------- */

enum { SVC_MANDATORY, SVC_ALPN, SVC_NDALPN, SVC_PORT, SVC_V4HINT, SVC_ECH, SVC_V6HINT };

static const char *const svc_names[] = {"mandatory", "alpn", "no-default-alpn", "port",
					"ipv4hint",  "ech",  "ipv6hint"};

/* "keyNNNNN" is the generic form: its value is taken as opaque bytes even
 * for a key we know, which is what lets any wire value be written back. */
static bool svc_key(const char *p, size_t len, uint16_t *key, bool *generic)
{
	uint64_t v;

	for (uint16_t k = 0; k < sizeof(svc_names) / sizeof(svc_names[0]); k++) {
		if (strlen(svc_names[k]) == len && strncmp(p, svc_names[k], len) == 0) {
			*key = k;
			*generic = false;
			return true;
		}
	}
	if (len < 4 || strncmp(p, "key", 3) != 0 || (p[3] == '0' && len > 4) ||
	    !parse_uint(p + 3, len - 3, 65534, &v))
		return false; /* 65535 is reserved as "invalid key" */
	*key = (uint16_t)v;
	*generic = true;
	return true;
}

struct svc_out {
	uint8_t *b;
	size_t len, cap;
};

static bool svc_put(struct svc_out *o, const void *p, size_t n)
{
	if (n > o->cap - o->len)
		return false;
	memcpy(o->b + o->len, p, n);
	o->len += n;
	return true;
}

/* Splits a decoded value at commas; with escapes, "\," and "\\" stand for
 * themselves (the alpn list form of RFC 9460 A.1). Returns the item length
 * or -1 on a dangling backslash. */
static int svc_item(const uint8_t *v, size_t len, size_t *pos, bool escapes, uint8_t *item,
		    size_t cap)
{
	size_t n = 0;

	while (*pos < len && v[*pos] != ',') {
		uint8_t c = v[(*pos)++];

		if (escapes && c == '\\') {
			if (*pos >= len)
				return -1;
			c = v[(*pos)++];
		}
		if (n >= cap)
			return -1;
		item[n++] = c;
	}
	return (int)n;
}

static int svc_sort_keys(uint16_t *k, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint16_t x = k[i];
		size_t j = i;

		for (; j > 0 && k[j - 1] > x; j--)
			k[j] = k[j - 1];
		k[j] = x;
	}
	for (size_t i = 1; i < n; i++)
		if (k[i] == k[i - 1])
			return -1;
	return 0;
}

/* Encodes one known key's value. Returns NULL or the reason it is bad. */
static const char *svc_encode(uint16_t key, const uint8_t *v, size_t len, bool has_value,
			      struct svc_out *o)
{
	uint8_t item[256];
	size_t pos = 0;
	uint64_t num;
	uint16_t keys[SVC_PARAMS_MAX];
	size_t nk = 0;
	struct b64 st = {0};

	if (key == SVC_NDALPN)
		return has_value ? "no-default-alpn takes no value" : NULL;
	if (len == 0)
		return "missing value";
	switch (key) {
	case SVC_PORT:
		if (!parse_uint((const char *)v, len, 65535, &num))
			return "bad port";
		return svc_put(o, (uint8_t[]){(uint8_t)(num >> 8), (uint8_t)num}, 2) ? NULL
										     : "too long";
	case SVC_ECH:
		if (b64_feed(&st, (const char *)v, len, o->b, o->cap, &o->len) || st.n)
			return "bad base64";
		return NULL;
	default:
		break;
	}
	while (pos <= len) {
		int n = svc_item(v, len, &pos, key == SVC_ALPN, item, key == SVC_ALPN ? 255 : 64);
		bool ok = n > 0;
		pos++; /* the comma */
		if (ok && key == SVC_ALPN)
			ok = svc_put(o, (uint8_t[]){(uint8_t)n}, 1) && svc_put(o, item, (size_t)n);
		else if (ok && key == SVC_V4HINT)
			ok = parse_ipv4((const char *)item, (size_t)n, item + 64) &&
			     svc_put(o, item + 64, 4);
		else if (ok && key == SVC_V6HINT)
			ok = parse_ipv6((const char *)item, (size_t)n, item + 64) &&
			     svc_put(o, item + 64, 16);
		else if (ok && key == SVC_MANDATORY) {
			bool g;
			ok = nk < SVC_PARAMS_MAX &&
			     svc_key((const char *)item, (size_t)n, &keys[nk], &g) &&
			     keys[nk] != SVC_MANDATORY;
			nk++;
		}
		if (!ok)
			return "bad list item";
	}
	if (key == SVC_MANDATORY) {
		if (svc_sort_keys(keys, nk) != 0)
			return "duplicate key";
		for (size_t k = 0; k < nk; k++)
			if (!svc_put(o, (uint8_t[]){(uint8_t)(keys[k] >> 8), (uint8_t)keys[k]}, 2))
				return "too long";
	}
	return NULL;
}

struct svc_param {
	uint16_t key;
	size_t off, len;
	unsigned line;
	bool named; /* written by name, not as keyNNNNN */
};

/* Reads "key", "key=value" or "key=" glued to a quoted value. */
static int svc_read(struct rd *rd, struct svc_param *sp, struct svc_out *o, uint8_t *vbuf)
{
	const struct tok *t = &rd->t[rd->i++];
	const char *eq = t->quoted ? NULL : memchr(t->p, '=', t->len);
	size_t klen = eq ? (size_t)(eq - t->p) : t->len;
	const char *vp = eq ? eq + 1 : NULL;
	size_t vlen = eq ? t->len - klen - 1 : 0;
	bool generic;
	const char *why;
	int n;

	if (t->quoted || !svc_key(t->p, klen, &sp->key, &generic))
		return rd_fail(rd, t->line, P53_EINVAL, "unknown SvcParamKey '%.*s'",
			       (int)(klen > QUOTE_MAX ? QUOTE_MAX : klen), t->p);
	if (eq && vlen == 0 && rd->i < rd->n && rd->t[rd->i].quoted && rd->t[rd->i].glued) {
		vp = rd->t[rd->i].p;
		vlen = rd->t[rd->i].len;
		rd->i++;
	}
	n = unescape(vp ? vp : "", vlen, vbuf, RDATA_MAX);
	if (n < 0)
		return rd_fail(rd, t->line, P53_EINVAL, "bad escape in SvcParam '%.*s'", TOKARG(t));
	sp->off = o->len;
	sp->line = t->line;
	sp->named = !generic;
	if (generic) {
		why = svc_put(o, vbuf, (size_t)n) ? NULL : "too long";
	} else {
		why = svc_encode(sp->key, vbuf, (size_t)n, eq != NULL, o);
	}
	if (why)
		return rd_fail(rd, t->line, P53_EINVAL, "bad SvcParam %.*s: %s",
			       (int)(klen > QUOTE_MAX ? QUOTE_MAX : klen), t->p, why);
	sp->len = o->len - sp->off;
	return 0;
}

static int svc_check(struct rd *rd, struct svc_param *sp, size_t np, const uint8_t *vals)
{
	for (size_t i = 1; i < np; i++) {
		struct svc_param x = sp[i];
		size_t j = i;

		for (; j > 0 && sp[j - 1].key > x.key; j--)
			sp[j] = sp[j - 1];
		sp[j] = x;
	}
	for (size_t i = 1; i < np; i++)
		if (sp[i].key == sp[i - 1].key)
			return rd_fail(rd, sp[i].line, P53_EINVAL, "duplicate SvcParamKey key%u",
				       sp[i].key);
	/* RFC 9460 8: every key named in mandatory must be present. The
	 * generic form is taken as written, so any wire value can return. */
	if (np && sp[0].key == SVC_MANDATORY && sp[0].named) {
		for (size_t k = 0; k + 1 < sp[0].len; k += 2) {
			uint16_t want =
			    (uint16_t)(vals[sp[0].off + k] << 8 | vals[sp[0].off + k + 1]);
			bool found = false;

			for (size_t i = 1; i < np; i++)
				found |= sp[i].key == want;
			if (!found)
				return rd_fail(rd, sp[0].line, P53_EINVAL,
					       "mandatory SvcParamKey key%u is missing", want);
		}
	}
	return 0;
}

static int rd_svcparams(struct rd *rd)
{
	uint8_t vals[RDATA_MAX], vbuf[RDATA_MAX];
	struct svc_out o = {vals, 0, sizeof(vals)};
	struct svc_param sp[SVC_PARAMS_MAX];
	size_t np = 0;
	int rc;

	while (rd->i < rd->n) {
		if (np == SVC_PARAMS_MAX)
			return rd_fail(rd, rd->t[rd->i].line, P53_EINVAL, "more than %d SvcParams",
				       SVC_PARAMS_MAX);
		rc = svc_read(rd, &sp[np++], &o, vbuf);
		if (rc < 0)
			return rc;
	}
	rc = svc_check(rd, sp, np, vals);
	for (size_t i = 0; rc == 0 && i < np; i++) {
		if (sp[i].len > 65535)
			return rd_full(rd);
		rc = rd_put_uint(rd, sp[i].key, 2);
		if (rc == 0)
			rc = rd_put_uint(rd, sp[i].len, 2);
		if (rc == 0)
			rc = rd_put(rd, vals + sp[i].off, sp[i].len);
	}
	return rc;
}

/* ---- RFC 3597 ------------------------------------------------------------ */

static int rd_generic(struct rd *rd)
{
	const struct tok *t;
	uint64_t want;
	int rc;

	rd->i++; /* "\#" */
	t = rd_next(rd, "RFC 3597 rdata length");
	if (!t)
		return P53_EINVAL;
	if (t->quoted || !parse_uint(t->p, t->len, 65535, &want))
		return rd_fail(rd, t->line, P53_EINVAL, "bad RFC 3597 rdata length '%.*s'",
			       TOKARG(t));
	if (want == 0 && rd->i == rd->n)
		return 0;
	rc = rd_hex(rd, "RFC 3597 hex data");
	if (rc < 0)
		return rc;
	if (rd->len != want)
		return rd_fail(rd, t->line, P53_EINVAL,
			       "RFC 3597 length %llu does not match %zu bytes of hex data",
			       (unsigned long long)want, rd->len);
	return 0;
}

/* Whether wire rdata has the shape its layout promises, so that the rest of
 * the system may walk it by layout without re-checking. */
static bool wire_name_ok(const uint8_t *p, size_t len, size_t *pos)
{
	size_t start = *pos;

	while (*pos < len) {
		uint8_t l = p[*pos];

		if (l > P53_LABEL_MAX)
			return false;
		*pos += (size_t)l + 1;
		if (*pos - start > P53_NAME_MAX)
			return false;
		if (l == 0)
			return true;
	}
	return false;
}

static bool svc_wire_ok(const uint8_t *p, size_t len, size_t pos)
{
	long prev = -1;

	while (pos < len) {
		if (len - pos < 4)
			return false;
		long key = p[pos] << 8 | p[pos + 1];
		size_t vl = (size_t)(p[pos + 2] << 8 | p[pos + 3]);

		if (key <= prev || len - pos - 4 < vl)
			return false;
		prev = key;
		pos += 4 + vl;
	}
	return true;
}

static bool rdata_fits(const char *layout, const uint8_t *p, size_t len)
{
	size_t pos = 0;

	for (const char *l = layout; *l; l++) {
		size_t fixed = 0;

		switch (*l) {
		case 'N':
		case 'n':
			if (!wire_name_ok(p, len, &pos))
				return false;
			continue;
		case '1':
			fixed = 1;
			break;
		case '2':
			fixed = 2;
			break;
		case '4':
		case 'T':
		case 'a':
			fixed = 4;
			break;
		case '6':
			fixed = 16;
			break;
		case 's':
		case 'c':
			if (pos >= len || (*l == 'c' && p[pos] == 0))
				return false;
			fixed = (size_t)p[pos] + 1;
			break;
		case 'S':
			if (pos >= len)
				return false;
			while (pos < len)
				pos += (size_t)p[pos] + 1;
			return pos == len && l[1] == 0;
		case 'p':
			return l[1] == 0 && svc_wire_ok(p, len, pos);
		default: /* r x b: the rest */
			return l[1] == 0;
		}
		if (len - pos < fixed)
			return false;
		pos += fixed;
	}
	return pos == len;
}

static int rd_field(struct rd *rd, char f)
{
	switch (f) {
	case 'N':
	case 'n':
		return rd_name(rd);
	case '1':
		return rd_int(rd, 1);
	case '2':
		return rd_int(rd, 2);
	case '4':
		return rd_int(rd, 4);
	case 'T':
		return rd_period(rd);
	case 'a':
		return rd_addr(rd, false);
	case '6':
		return rd_addr(rd, true);
	case 's':
		return rd_strings(rd, false);
	case 'S':
		return rd_strings(rd, true);
	case 'c':
		return rd_caa_tag(rd);
	case 'r':
		return rd_rest_string(rd);
	case 'x':
		return rd_hex(rd, "hex data");
	case 'b':
		return rd_base64(rd);
	case 'p':
		return rd_svcparams(rd);
	}
	return rd_fail(rd, rd->line, P53_EINVAL, "bad layout letter '%c'", f);
}

static int parse_rdata(struct rd *rd, uint16_t type)
{
	const struct rrtype_info *ti = rrtype_get(type);
	const char *layout = ti ? ti->layout : "";
	char tname[12];

	rd->len = 0;
	if (rd->i < rd->n && tok_is(&rd->t[rd->i], "\\#")) {
		int rc = rd_generic(rd);

		if (rc < 0)
			return rc;
		if (*layout && !rdata_fits(layout, rd->out, rd->len))
			return rd_fail(rd, rd->line, P53_EINVAL,
				       "RFC 3597 rdata is not valid %s rdata",
				       rrtype_to_text(type, tname));
		return (int)rd->len;
	}
	if (!*layout)
		return rd_fail(rd, rd->line, P53_EINVAL,
			       "type %s takes only RFC 3597 rdata: \\# length hex",
			       rrtype_to_text(type, tname));
	for (const char *l = layout; *l; l++) {
		int rc = rd_field(rd, *l);

		if (rc < 0)
			return rc;
	}
	if (rd->i < rd->n)
		return rd_fail(rd, rd->t[rd->i].line, P53_EINVAL, "trailing data '%.*s'",
			       TOKARG(&rd->t[rd->i]));
	return (int)rd->len;
}

/* ---- entries ------------------------------------------------------------- */

static int parse_src(struct parser *ps, struct src *s);

static int tok_name(struct parser *ps, const struct src *s, const struct tok *t,
		    uint8_t out[P53_NAME_MAX])
{
	const char *why = "bad name";
	int n;

	if (t->quoted)
		return fail(ps->err, P53_EINVAL, s->name, t->line,
			    "quoted string \"%.*s\" where a domain name is expected", TOKARG(t));
	n = name_from_text(t->p, t->len, ps->origin, out, &why);
	if (n < 0)
		return fail(ps->err, P53_EINVAL, s->name, t->line, "bad domain name '%.*s': %s",
			    TOKARG(t), why);
	return n;
}

/* $INCLUDE paths are relative to the including file, so a zone directory
 * can be moved as a whole. */
static int include_path(const struct src *s, const struct tok *t, char *path, size_t cap)
{
	uint8_t rel[PATH_MAX];
	int n = unescape(t->p, t->len, rel, sizeof(rel) - 1);
	const char *slash = s->fd >= 0 ? strrchr(s->name, '/') : NULL;
	size_t dlen;

	if (n <= 0 || memchr(rel, 0, (size_t)n))
		return -1;
	dlen = slash && rel[0] != '/' ? (size_t)(slash - s->name) + 1 : 0;
	if (dlen + (size_t)n + 1 > cap)
		return -1;
	memcpy(path, s->name, dlen);
	memcpy(path + dlen, rel, (size_t)n);
	path[dlen + (size_t)n] = 0;
	return 0;
}

static int do_include(struct parser *ps, const struct src *s, const struct tok *t, size_t n)
{
	char path[PATH_MAX];
	uint8_t saved_origin[P53_NAME_MAX], saved_owner[P53_NAME_MAX];
	size_t saved_owner_len = ps->owner_len;
	bool saved_have = ps->have_owner;
	struct src child;
	int rc;

	if (n < 2 || n > 3)
		return fail(ps->err, P53_EINVAL, s->name, t[0].line,
			    "$INCLUDE takes a file name and an optional origin");
	if (include_path(s, &t[1], path, sizeof(path)) != 0)
		return fail(ps->err, P53_EINVAL, s->name, t[1].line,
			    "bad $INCLUDE file name '%.*s'", TOKARG(&t[1]));
	memcpy(saved_origin, ps->origin, sizeof(saved_origin));
	if (n == 3) {
		uint8_t o[P53_NAME_MAX];
		int len = tok_name(ps, s, &t[2], o);

		if (len < 0)
			return len;
		memcpy(ps->origin, o, (size_t)len);
	}
	if (ps->depth >= ps->max_depth)
		return fail(ps->err, P53_ERANGE, s->name, t[0].line,
			    "$INCLUDE nested deeper than %u levels", ps->max_depth);
	rc = src_open(&child, path, ps->err, s->name, t[0].line);
	if (rc < 0)
		return rc;
	for (const struct src *p = s; p; p = p->parent) {
		if (p->has_id && p->dev == child.dev && p->ino == child.ino) {
			src_close(&child);
			return fail(ps->err, P53_EINVAL, s->name, t[0].line,
				    "$INCLUDE loop: '%s' is already being read", path);
		}
	}
	child.parent = s;
	memcpy(saved_owner, ps->owner, sizeof(saved_owner));
	ps->depth++;
	rc = parse_src(ps, &child);
	ps->depth--;
	src_close(&child);
	/* RFC 1035 5.1: origin and current owner revert after the file. */
	memcpy(ps->origin, saved_origin, sizeof(saved_origin));
	memcpy(ps->owner, saved_owner, sizeof(saved_owner));
	ps->owner_len = saved_owner_len;
	ps->have_owner = saved_have;
	return rc;
}

static int do_directive(struct parser *ps, const struct src *s)
{
	const struct tok *t = ps->lb.tok;
	size_t n = ps->lb.ntok;
	uint8_t o[P53_NAME_MAX];
	int rc;

	if (tok_is(&t[0], "$ORIGIN")) {
		if (n != 2)
			return fail(ps->err, P53_EINVAL, s->name, t[0].line,
				    "$ORIGIN takes one domain name");
		rc = tok_name(ps, s, &t[1], o);
		if (rc > 0)
			memcpy(ps->origin, o, (size_t)rc);
		return rc < 0 ? rc : 0;
	}
	if (tok_is(&t[0], "$TTL")) {
		if (n != 2)
			return fail(ps->err, P53_EINVAL, s->name, t[0].line, "$TTL takes one TTL");
		rc = period_from_tok(&t[1], "TTL", TTL_MAX, &ps->ttl, s->name, ps->err);
		ps->dollar_ttl = true;
		return rc;
	}
	if (tok_is(&t[0], "$INCLUDE"))
		return do_include(ps, s, t, n);
	if (tok_is(&t[0], "$GENERATE"))
		return fail(ps->err, P53_ENOTSUP, s->name, t[0].line, "$GENERATE is not supported");
	return fail(ps->err, P53_EINVAL, s->name, t[0].line, "unknown directive '%.*s'",
		    TOKARG(&t[0]));
}

static bool class_from_tok(const struct tok *t, uint16_t *cls)
{
	uint64_t v;

	if (tok_is(t, "IN"))
		*cls = CLASS_IN;
	else if (tok_is(t, "CH"))
		*cls = CLASS_CH;
	else if (!t->quoted && t->len > 5 && strncasecmp(t->p, "CLASS", 5) == 0 &&
		 parse_uint(t->p + 5, t->len - 5, 65535, &v))
		*cls = (uint16_t)v; /* RFC 3597 5 */
	else
		return false;
	return true;
}

/* After the owner: [TTL] [class] or [class] [TTL], in either order. */
static int ttl_class(struct parser *ps, const struct src *s, size_t *i, uint32_t *ttl,
		     bool *have_ttl, uint16_t *cls)
{
	const struct tok *t = ps->lb.tok;
	bool have_class = false;

	*have_ttl = false;
	while (*i < ps->lb.ntok && !(*have_ttl && have_class)) {
		const struct tok *x = &t[*i];

		if (!*have_ttl && !x->quoted && is_digit(x->p[0])) {
			int rc = period_from_tok(x, "TTL", TTL_MAX, ttl, s->name, ps->err);

			if (rc < 0)
				return rc;
			*have_ttl = true;
		} else if (have_class || !class_from_tok(x, cls)) {
			break;
		} else {
			have_class = true;
		}
		(*i)++;
	}
	return 0;
}

static int do_record(struct parser *ps, const struct src *s, bool indented)
{
	const struct tok *t = ps->lb.tok;
	size_t n = ps->lb.ntok, i = 0;
	unsigned line = t[0].line;
	uint16_t cls = ps->rclass, type;
	uint32_t ttl = ps->ttl;
	bool have_ttl;
	char tname[12];
	int rc;

	if (!indented) {
		rc = tok_name(ps, s, &t[0], ps->owner);
		if (rc < 0)
			return rc;
		ps->owner_len = (size_t)rc;
		ps->have_owner = true;
		i = 1;
	} else if (!ps->have_owner) {
		return fail(ps->err, P53_EINVAL, s->name, line,
			    "no owner name: the first record starts with a blank");
	}
	rc = ttl_class(ps, s, &i, &ttl, &have_ttl, &cls);
	if (rc < 0)
		return rc;
	if (i >= n)
		return fail(ps->err, P53_EINVAL, s->name, t[n - 1].line, "missing type");
	type = t[i].quoted ? 0 : rrtype_from_text(t[i].p, t[i].len);
	if (type == 0)
		return fail(ps->err, P53_EINVAL, s->name, t[i].line, "unknown type %.*s",
			    TOKARG(&t[i]));
	struct rd rd = {.t = t + i + 1,
			.n = n - i - 1,
			.origin = ps->origin,
			.out = ps->rdata,
			.cap = RDATA_MAX,
			.file = s->name,
			.line = line,
			.err = ps->err};
	rc = parse_rdata(&rd, type);
	if (rc < 0)
		return rc;
	/* RFC 1035: an omitted TTL is the last one given; $TTL (RFC 2308)
	 * replaces that rule once it has been seen. */
	if (have_ttl && !ps->dollar_ttl)
		ps->ttl = ttl;
	ps->rclass = cls;
	struct zparse_rr rr = {.owner = ps->owner,
			       .owner_len = ps->owner_len,
			       .type = type,
			       .rclass = cls,
			       .ttl = ttl,
			       .rdata = ps->rdata,
			       .rdlen = (uint16_t)rc,
			       .file = s->name,
			       .line = line};
	rc = ps->cb(ps->ctx, &rr, ps->err);
	if (rc < 0 && ps->err && ps->err->code == 0)
		fail(ps->err, rc, s->name, line, "%s record rejected", rrtype_to_text(type, tname));
	return rc < 0 ? rc : 0;
}

static int parse_src(struct parser *ps, struct src *s)
{
	for (;;) {
		bool indented;
		int rc = lex_entry(&ps->lb, s, true, &indented, ps->err);

		if (rc <= 0)
			return rc;
		const struct tok *t0 = &ps->lb.tok[0];
		if (!indented && !t0->quoted && t0->p[0] == '$')
			rc = do_directive(ps, s);
		else
			rc = do_record(ps, s, indented);
		if (rc < 0)
			return rc;
	}
}

static struct parser *parser_new(const struct zparse_opts *opts, zparse_cb cb, void *ctx,
				 struct p53_err *err)
{
	struct parser *ps;

	if (!opts || !opts->origin || !cb) {
		p53_err_set(err, P53_EINVAL, "zparse: origin and callback are required");
		return NULL;
	}
	ps = calloc(1, sizeof(*ps));
	if (ps) {
		ps->lb.tcap = 1u << 16;
		ps->lb.kcap = 1024;
		ps->lb.text = malloc(ps->lb.tcap);
		ps->lb.tok = malloc(ps->lb.kcap * sizeof(struct tok));
		ps->lb.text_heap = ps->lb.tok_heap = true;
	}
	if (!ps || !ps->lb.text || !ps->lb.tok) {
		if (ps)
			lb_free(&ps->lb);
		free(ps);
		p53_err_set(err, P53_ENOMEM, "zparse: out of memory");
		return NULL;
	}
	ps->opts = opts;
	ps->cb = cb;
	ps->ctx = ctx;
	ps->err = err;
	memcpy(ps->origin, opts->origin, name_len(opts->origin));
	ps->ttl = opts->default_ttl;
	ps->rclass = CLASS_IN;
	ps->max_depth = opts->max_include_depth ? opts->max_include_depth : DEPTH_DEFAULT;
	return ps;
}

static void parser_free(struct parser *ps)
{
	lb_free(&ps->lb);
	free(ps);
}

int zparse_file(const char *path, const struct zparse_opts *opts, zparse_cb cb, void *ctx,
		struct p53_err *err)
{
	struct parser *ps = parser_new(opts, cb, ctx, err);
	struct src s;
	int rc;

	if (!ps)
		return err && err->code ? err->code : P53_EINVAL;
	rc = src_open(&s, path, err, NULL, 0);
	if (rc == 0) {
		rc = parse_src(ps, &s);
		src_close(&s);
	}
	parser_free(ps);
	return rc;
}

int zparse_string(const char *name, const char *text, size_t len, const struct zparse_opts *opts,
		  zparse_cb cb, void *ctx, struct p53_err *err)
{
	struct parser *ps = parser_new(opts, cb, ctx, err);
	struct src s;
	int rc;

	if (!ps)
		return err && err->code ? err->code : P53_EINVAL;
	src_mem(&s, name ? name : "-", text, len);
	rc = parse_src(ps, &s);
	parser_free(ps);
	return rc;
}

int zparse_rdata(uint16_t type, const char *text, size_t len, const uint8_t *origin, uint8_t *out,
		 size_t cap, struct p53_err *err)
{
	char text_buf[2048];
	struct tok tok_buf[64];
	struct lexbuf lb = {.text = text_buf,
			    .tcap = sizeof(text_buf),
			    .tok = tok_buf,
			    .kcap = sizeof(tok_buf) / sizeof(tok_buf[0])};
	struct src s;
	bool indented;
	int rc;

	src_mem(&s, NULL, text, len);
	rc = lex_entry(&lb, &s, false, &indented, err);
	if (rc >= 0) {
		struct rd rd = {.t = lb.tok,
				.n = lb.ntok,
				.origin = origin,
				.out = out,
				.cap = cap < RDATA_MAX ? cap : RDATA_MAX,
				.err = err};
		rc = parse_rdata(&rd, type);
	}
	lb_free(&lb);
	return rc;
}
