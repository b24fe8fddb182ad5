/* Rdata in presentation form, the inverse of zparse_rdata.
 *
 * Every field is printed so that parsing the text gives back the same wire
 * bytes. When the wire does not have the shape its layout promises (or a
 * value has no faithful named form), the whole rdata falls back to RFC 3597
 * "\# len hex", which always round-trips.
 */
#include "zones/compile/zparse.h"

#include "zones/common/rrtype.h"

#include <arpa/inet.h>
#include <libknot/rrset-dump.h>
#include <libknot/rrset.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct wr {
	char *out;
	size_t cap, len;
	bool full;
};

struct rdin {
	const uint8_t *p;
	size_t len, pos;
};

static void w_mem(struct wr *w, const void *p, size_t n)
{
	/* Keep one byte for the terminating NUL. */
	if (w->full || w->cap == 0 || n > w->cap - 1 - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->out + w->len, p, n);
	w->len += n;
}

static void w_str(struct wr *w, const char *s)
{
	w_mem(w, s, strlen(s));
}

static void w_char(struct wr *w, char c)
{
	w_mem(w, &c, 1);
}

static void w_uint(struct wr *w, unsigned long v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%lu", v);

	w_mem(w, buf, (size_t)n);
}

static void w_hex(struct wr *w, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		char pair[2] = {digits[p[i] >> 4], digits[p[i] & 15]};

		w_mem(w, pair, 2);
	}
}

static void w_base64(struct wr *w, const uint8_t *p, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = n - i;
		char q[4];

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		q[0] = al[v >> 18 & 63];
		q[1] = al[v >> 12 & 63];
		q[2] = left > 1 ? al[v >> 6 & 63] : '=';
		q[3] = left > 2 ? al[v & 63] : '=';
		w_mem(w, q, 4);
	}
}

/* One byte inside a quoted <character-string>: '"' and '\' escaped, bytes
 * that are not printable ASCII as \DDD so the text survives any terminal. */
static void w_qbyte(struct wr *w, uint8_t c)
{
	if (c == '"' || c == '\\') {
		char e[2] = {'\\', (char)c};

		w_mem(w, e, 2);
	} else if (c < 0x20 || c >= 0x7f) {
		char e[5];

		snprintf(e, sizeof(e), "\\%03u", c);
		w_mem(w, e, 4);
	} else {
		w_char(w, (char)c);
	}
}

static void w_quoted(struct wr *w, const uint8_t *p, size_t n)
{
	w_char(w, '"');
	for (size_t i = 0; i < n; i++)
		w_qbyte(w, p[i]);
	w_char(w, '"');
}

static void w_ipv4(struct wr *w, const uint8_t *a)
{
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);

	w_mem(w, buf, (size_t)n);
}

static void w_ipv6(struct wr *w, const uint8_t *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (inet_ntop(AF_INET6, a, buf, sizeof(buf)))
		w_str(w, buf);
	else
		w->full = true;
}

static uint32_t get_uint(const uint8_t *p, unsigned bytes)
{
	uint32_t v = 0;

	for (unsigned k = 0; k < bytes; k++)
		v = v << 8 | p[k];
	return v;
}

/* ---- fields ---------------------------------------------------------- */

static bool f_name(struct wr *w, struct rdin *in)
{
	char buf[P53_NAME_MAX * 4 + 2];
	size_t start = in->pos;

	while (in->pos < in->len) {
		uint8_t l = in->p[in->pos];

		if (l > P53_LABEL_MAX)
			return false;
		in->pos += (size_t)l + 1;
		if (in->pos - start > P53_NAME_MAX)
			return false;
		if (l == 0) {
			if (name_to_text(in->p + start, buf, sizeof(buf)) < 0)
				return false;
			w_str(w, buf);
			return true;
		}
	}
	return false;
}

static bool f_uint(struct wr *w, struct rdin *in, unsigned bytes)
{
	if (in->len - in->pos < bytes)
		return false;
	w_uint(w, get_uint(in->p + in->pos, bytes));
	in->pos += bytes;
	return true;
}

static bool f_cstring(struct wr *w, struct rdin *in)
{
	size_t l;

	if (in->pos >= in->len)
		return false;
	l = in->p[in->pos];
	if (in->len - in->pos - 1 < l)
		return false;
	w_quoted(w, in->p + in->pos + 1, l);
	in->pos += l + 1;
	return true;
}

static bool f_strings(struct wr *w, struct rdin *in)
{
	if (!f_cstring(w, in))
		return false;
	while (in->pos < in->len) {
		w_char(w, ' ');
		if (!f_cstring(w, in))
			return false;
	}
	return true;
}

static bool is_alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static bool f_caa_tag(struct wr *w, struct rdin *in)
{
	size_t l;

	if (in->pos >= in->len)
		return false;
	l = in->p[in->pos];
	if (l == 0 || l > 15 || in->len - in->pos - 1 < l)
		return false;
	for (size_t k = 0; k < l; k++)
		if (!is_alnum(in->p[in->pos + 1 + k]))
			return false;
	w_mem(w, in->p + in->pos + 1, l);
	in->pos += l + 1;
	return true;
}

/* ---- SVCB / HTTPS ------------------------------------------------------ */

static const char *const svc_names[] = {"mandatory", "alpn", "no-default-alpn", "port",
					"ipv4hint",  "ech",  "ipv6hint"};

static void w_svc_key(struct wr *w, uint16_t key)
{
	if (key < sizeof(svc_names) / sizeof(svc_names[0])) {
		w_str(w, svc_names[key]);
	} else {
		w_str(w, "key");
		w_uint(w, key);
	}
}

static bool svc_has_key(const uint8_t *p, size_t len, size_t pos, uint16_t key)
{
	while (pos + 4 <= len) {
		if (get_uint(p + pos, 2) == key)
			return true;
		pos += 4 + get_uint(p + pos + 2, 2);
	}
	return false;
}

/* Whether a known key's value has a named form that parses back to the same
 * bytes; if not, it is written as keyNNNNN="..." instead. */
static bool svc_named_ok(uint16_t key, const uint8_t *v, size_t n, const uint8_t *all,
			 size_t alllen, size_t params)
{
	switch (key) {
	case 0:
		if (n == 0 || n % 2)
			return false;
		for (size_t k = 0; k < n; k += 2) {
			uint32_t m = get_uint(v + k, 2);

			if (m == 0 || (k && m <= get_uint(v + k - 2, 2)) ||
			    !svc_has_key(all, alllen, params, (uint16_t)m))
				return false;
		}
		return true;
	case 1:
		if (n == 0)
			return false;
		for (size_t k = 0; k < n; k += (size_t)v[k] + 1)
			if (v[k] == 0 || n - k - 1 < v[k])
				return false;
		return true;
	case 2:
		return n == 0;
	case 3:
		return n == 2;
	case 4:
		return n && n % 4 == 0;
	case 5:
		return n > 0;
	case 6:
		return n && n % 16 == 0;
	}
	return false;
}

/* alpn ids are escaped twice (RFC 9460 A.1): "," and "\\" for the list,
 * then the whole value as a quoted string. */
static void w_alpn(struct wr *w, const uint8_t *v, size_t n)
{
	w_char(w, '"');
	for (size_t k = 0; k < n; k += (size_t)v[k] + 1) {
		if (k)
			w_char(w, ',');
		for (size_t j = 0; j < v[k]; j++) {
			uint8_t c = v[k + 1 + j];

			if (c == ',' || c == '\\')
				w_qbyte(w, '\\');
			w_qbyte(w, c);
		}
	}
	w_char(w, '"');
}

static void w_svc_value(struct wr *w, uint16_t key, const uint8_t *v, size_t n)
{
	switch (key) {
	case 0:
		for (size_t k = 0; k < n; k += 2) {
			if (k)
				w_char(w, ',');
			w_svc_key(w, (uint16_t)get_uint(v + k, 2));
		}
		break;
	case 1:
		w_alpn(w, v, n);
		break;
	case 3:
		w_uint(w, get_uint(v, 2));
		break;
	case 4:
	case 6:
		for (size_t k = 0; k < n; k += key == 4 ? 4 : 16) {
			if (k)
				w_char(w, ',');
			if (key == 4)
				w_ipv4(w, v + k);
			else
				w_ipv6(w, v + k);
		}
		break;
	case 5:
		w_base64(w, v, n);
		break;
	}
}

static bool f_svcparams(struct wr *w, struct rdin *in)
{
	size_t start = in->pos;
	long prev = -1;

	while (in->pos < in->len) {
		const uint8_t *p = in->p + in->pos;
		size_t n;
		uint16_t key;

		if (in->len - in->pos < 4)
			return false;
		key = (uint16_t)get_uint(p, 2);
		n = get_uint(p + 2, 2);
		if (key <= prev || key == 65535 || in->len - in->pos - 4 < n)
			return false;
		prev = key;
		w_char(w, ' ');
		if (svc_named_ok(key, p + 4, n, in->p, in->len, start)) {
			w_svc_key(w, key);
			if (key != 2) {
				w_char(w, '=');
				w_svc_value(w, key, p + 4, n);
			}
		} else {
			w_str(w, "key");
			w_uint(w, key);
			if (n) {
				w_char(w, '=');
				w_quoted(w, p + 4, n);
			}
		}
		in->pos += 4 + n;
	}
	return true;
}

/* ---- layout walk ---------------------------------------------------------- */

static bool print_field(struct wr *w, struct rdin *in, char f)
{
	const uint8_t *rest = in->p + in->pos;
	size_t nrest = in->len - in->pos;

	switch (f) {
	case 'N':
	case 'n':
		return f_name(w, in);
	case '1':
		return f_uint(w, in, 1);
	case '2':
		return f_uint(w, in, 2);
	case '4':
	case 'T':
		return f_uint(w, in, 4);
	case 'a':
	case '6':
		if (nrest < (f == 'a' ? 4u : 16u))
			return false;
		if (f == 'a')
			w_ipv4(w, rest);
		else
			w_ipv6(w, rest);
		in->pos += f == 'a' ? 4 : 16;
		return true;
	case 's':
		return f_cstring(w, in);
	case 'S':
		return f_strings(w, in);
	case 'c':
		return f_caa_tag(w, in);
	case 'r':
		w_quoted(w, rest, nrest);
		break;
	case 'x':
	case 'b':
		/* Empty data has no text form but the generic one. */
		if (nrest == 0)
			return false;
		if (f == 'x')
			w_hex(w, rest, nrest);
		else
			w_base64(w, rest, nrest);
		break;
	case 'p':
		return f_svcparams(w, in);
	default:
		return false;
	}
	in->pos = in->len;
	return true;
}

static bool print_layout(struct wr *w, const char *layout, const uint8_t *p, size_t len)
{
	struct rdin in = {p, len, 0};

	for (const char *l = layout; *l; l++) {
		if (l != layout && *l != 'p')
			w_char(w, ' ');
		if (!print_field(w, &in, *l))
			return false;
	}
	return in.pos == len;
}

/* Types whose fields no layout letter expresses (LOC, APL, NSEC bitmaps,
 * RRSIG times, ...) go through libknot's dumper, the printing side of the
 * scanner we read with. Its text is kept only if our own parser turns it
 * back into the same wire, so a dump always compiles again. */
static bool print_knot(struct wr *w, uint16_t type, const uint8_t *p, size_t len)
{
	knot_rrset_t rr;
	bool ok = false;

	knot_rrset_init(&rr, NULL, type, KNOT_CLASS_IN, 0);
	if (knot_rrset_add_rdata(&rr, p, (uint16_t)len, NULL) != 0)
		return false;
	size_t cap = len * 4 + 256;
	char *txt = malloc(cap);
	uint8_t *again = malloc(len + 1);
	if (txt && again) {
		int n = knot_rrset_txt_dump_data(&rr, 0, txt, cap, &KNOT_DUMP_STYLE_DEFAULT);
		struct p53_err err = {0};
		if (n > 0 &&
		    zparse_rdata(type, txt, (size_t)n, NULL, again, len + 1, &err) == (int)len &&
		    memcmp(again, p, len) == 0) {
			w_mem(w, txt, (size_t)n);
			ok = true;
		}
	}
	free(txt);
	free(again);
	knot_rdataset_clear(&rr.rrs, NULL);
	return ok;
}

/* HIP (RFC 8005 5): pk-algorithm HIT public-key rendezvous-servers. */
static bool print_hip(struct wr *w, const uint8_t *p, size_t len)
{
	if (len < 4)
		return false;
	size_t hl = p[0], pl = get_uint(p + 2, 2);
	if (hl == 0 || pl == 0 || len - 4 < hl + pl)
		return false;
	w_uint(w, p[1]);
	w_char(w, ' ');
	w_hex(w, p + 4, hl);
	w_char(w, ' ');
	w_base64(w, p + 4 + hl, pl);
	struct rdin in = {p, len, 4 + hl + pl};
	while (in.pos < len) {
		w_char(w, ' ');
		if (!f_name(w, &in))
			return false;
	}
	return true;
}

/* AMTRELAY (RFC 8777 4.2): precedence D-bit type relay; relay types 0 to 3
 * have a presentation form, others only the generic one. */
static bool print_amtrelay(struct wr *w, const uint8_t *p, size_t len)
{
	static const size_t fixed[] = {2, 6, 18};
	if (len < 2)
		return false;
	unsigned type = p[1] & 0x7f;
	if (type > 3 || (type < 3 && len != fixed[type]))
		return false;
	w_uint(w, p[0]);
	w_char(w, ' ');
	w_uint(w, p[1] >> 7);
	w_char(w, ' ');
	w_uint(w, type);
	w_char(w, ' ');
	if (type == 0) {
		w_char(w, '.');
	} else if (type == 1) {
		w_ipv4(w, p + 2);
	} else if (type == 2) {
		w_ipv6(w, p + 2);
	} else {
		struct rdin in = {p, len, 2};
		return f_name(w, &in) && in.pos == len;
	}
	return true;
}

int zprint_rdata(uint16_t type, const uint8_t *rdata, size_t rdlen, char *out, size_t cap)
{
	static const uint8_t none[1];
	const struct rrtype_info *ti = rrtype_get(type);
	struct wr w = {out, cap, 0, false};

	if (!rdata)
		rdata = none; /* empty rdata may come as NULL */

	bool done = false;
	if ((type == RR_HIP || type == RR_AMTRELAY) && rdlen <= 65535) {
		/* The scanner knows neither type; zparse reads these forms
		 * itself, and the text is kept only if it reads back the same. */
		done =
		    type == RR_HIP ? print_hip(&w, rdata, rdlen) : print_amtrelay(&w, rdata, rdlen);
		if (done && !w.full) {
			uint8_t *again = malloc(rdlen + 1);
			struct p53_err err = {0};
			w.out[w.len] = 0;
			done = again &&
			       zparse_rdata(type, w.out, w.len, NULL, again, rdlen + 1, &err) ==
				   (int)rdlen &&
			       memcmp(again, rdata, rdlen) == 0;
			free(again);
		}
	} else if (ti && ti->layout[0] && rdlen <= 65535) {
		if (ti->flags & RRT_KNOT_PRINT)
			done = rrtype_rdata_fits(ti->layout, rdata, rdlen) &&
			       print_knot(&w, type, rdata, rdlen);
		else
			done = print_layout(&w, ti->layout, rdata, rdlen);
		/* SvcParams the scanner refuses (a mandatory key that is not
		 * there, say) are printed in the form it takes. */
		if (done && !w.full && strchr(ti->layout, 'p')) {
			uint8_t *again = malloc(rdlen + 1);
			struct p53_err err = {0};
			w.out[w.len] = 0;
			done = again &&
			       zparse_rdata(type, w.out, w.len, NULL, again, rdlen + 1, &err) ==
				   (int)rdlen &&
			       memcmp(again, rdata, rdlen) == 0;
			free(again);
		}
	}
	if (!done) {
		w.len = 0;
		w.full = false;
		w_str(&w, "\\# ");
		w_uint(&w, rdlen);
		if (rdlen) {
			w_char(&w, ' ');
			w_hex(&w, rdata, rdlen);
		}
	}
	if (w.full)
		return -1;
	out[w.len] = 0;
	return (int)w.len;
}
