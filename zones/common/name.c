#include "zones/common/name.h"

#include "zones/common/err.h"

#include <string.h>

static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

int name_from_text(const char *txt, size_t len, const uint8_t *origin, uint8_t out[P53_NAME_MAX],
		   const char **why)
{
	static const char *dummy;
	if (why == NULL)
		why = &dummy;
	if (len == 0) {
		*why = "empty name";
		return P53_EINVAL;
	}
	if (len == 1 && txt[0] == '@') {
		if (origin == NULL) {
			*why = "'@' without an origin";
			return P53_EINVAL;
		}
		size_t olen = name_len(origin);
		memcpy(out, origin, olen);
		return (int)olen;
	}
	if (len == 1 && txt[0] == '.') {
		out[0] = 0;
		return 1;
	}

	size_t pos = 0; /* write position in out */
	size_t lab = 0; /* position of the current label's length byte */
	size_t i = 0;
	bool absolute = false;
	out[0] = 0;
	pos = 1;
	while (i < len) {
		uint8_t c = (uint8_t)txt[i];
		if (c == '.') {
			size_t l = pos - lab - 1;
			if (l == 0) {
				*why = "empty label";
				return P53_EINVAL;
			}
			out[lab] = (uint8_t)l;
			i++;
			if (i == len) {
				absolute = true;
				break;
			}
			lab = pos;
			if (pos >= P53_NAME_MAX) {
				*why = "name longer than 255 bytes";
				return P53_EINVAL;
			}
			out[pos++] = 0;
			continue;
		}
		if (c == '\\') {
			if (i + 1 >= len) {
				*why = "dangling backslash";
				return P53_EINVAL;
			}
			uint8_t d = (uint8_t)txt[i + 1];
			if (d >= '0' && d <= '9') {
				if (i + 4 > len || txt[i + 2] < '0' || txt[i + 2] > '9' ||
				    txt[i + 3] < '0' || txt[i + 3] > '9') {
					*why = "bad \\DDD escape";
					return P53_EINVAL;
				}
				unsigned v = (unsigned)(d - '0') * 100 +
					     (unsigned)(txt[i + 2] - '0') * 10 +
					     (unsigned)(txt[i + 3] - '0');
				if (v > 255) {
					*why = "\\DDD escape above 255";
					return P53_EINVAL;
				}
				c = (uint8_t)v;
				i += 4;
			} else {
				c = d;
				i += 2;
			}
		} else {
			i++;
		}
		if (pos - lab - 1 >= P53_LABEL_MAX) {
			*why = "label longer than 63 bytes";
			return P53_EINVAL;
		}
		if (pos >= P53_NAME_MAX) {
			*why = "name longer than 255 bytes";
			return P53_EINVAL;
		}
		out[pos++] = c;
	}
	if (!absolute) {
		size_t l = pos - lab - 1;
		if (l == 0) {
			*why = "empty label";
			return P53_EINVAL;
		}
		out[lab] = (uint8_t)l;
		if (origin == NULL) {
			*why = "relative name without an origin";
			return P53_EINVAL;
		}
		size_t olen = name_len(origin);
		if (pos + olen > P53_NAME_MAX) {
			*why = "name longer than 255 bytes";
			return P53_EINVAL;
		}
		memcpy(out + pos, origin, olen);
		return (int)(pos + olen);
	}
	if (pos + 1 > P53_NAME_MAX) {
		*why = "name longer than 255 bytes";
		return P53_EINVAL;
	}
	out[pos++] = 0;
	return (int)pos;
}

int name_to_text(const uint8_t *wire, char *out, size_t cap)
{
	size_t o = 0;
	const uint8_t *p = wire;
	if (cap < 2)
		return -1;
	if (*p == 0) {
		out[0] = '.';
		out[1] = 0;
		return 1;
	}
	while (*p) {
		uint8_t l = *p++;
		for (uint8_t k = 0; k < l; k++, p++) {
			uint8_t c = *p;
			char tmp[5];
			size_t n;
			/* Only what master-file scanners take bare stays bare
			 * (libzscanner: letters, digits, "*-_/"). */
			if (c > 0x20 && c < 0x7f && c != '#' && !(c >= 'a' && c <= 'z') &&
			    !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') && c != '*' &&
			    c != '-' && c != '_' && c != '/') {
				tmp[0] = '\\';
				tmp[1] = (char)c;
				n = 2;
			} else if (c <= 0x20 || c >= 0x7f || c == '#') {
				/* "\#" would open RFC 3597 rdata. */
				tmp[0] = '\\';
				tmp[1] = (char)('0' + c / 100);
				tmp[2] = (char)('0' + (c / 10) % 10);
				tmp[3] = (char)('0' + c % 10);
				n = 4;
			} else {
				tmp[0] = (char)c;
				n = 1;
			}
			if (o + n + 2 > cap)
				return -1;
			memcpy(out + o, tmp, n);
			o += n;
		}
		out[o++] = '.';
	}
	out[o] = 0;
	return (int)o;
}

size_t name_len(const uint8_t *wire)
{
	size_t n = 0;
	while (wire[n])
		n += (size_t)wire[n] + 1;
	return n + 1;
}

unsigned name_labels(const uint8_t *wire)
{
	unsigned n = 0;
	while (*wire) {
		wire += *wire + 1;
		n++;
	}
	return n;
}

void name_lower(uint8_t *wire, size_t len)
{
	size_t i = 0;
	while (i < len && wire[i]) {
		uint8_t l = wire[i++];
		for (uint8_t k = 0; k < l && i < len; k++, i++)
			wire[i] = lower(wire[i]);
	}
}

bool name_is_below_or_at(const uint8_t *name, size_t nlen, const uint8_t *parent, size_t plen)
{
	if (plen > nlen)
		return false;
	/* Walk label boundaries of name until the remaining suffix has parent's
	 * length; a byte compare there is exact because both are canonical. */
	size_t off = 0;
	while (nlen - off > plen) {
		off += (size_t)name[off] + 1;
	}
	return nlen - off == plen && memcmp(name + off, parent, plen) == 0;
}

bool name_equal_ci(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		if (*a != *b)
			return false;
		uint8_t l = *a;
		if (l == 0)
			return true;
		a++;
		b++;
		for (uint8_t k = 0; k < l; k++)
			if (lower(a[k]) != lower(b[k]))
				return false;
		a += l;
		b += l;
	}
}

int name_cmp_canonical(const uint8_t *a, const uint8_t *b)
{
	const uint8_t *la[P53_LABELS_MAX], *lb[P53_LABELS_MAX];
	unsigned na = 0, nb = 0;
	for (const uint8_t *p = a; *p && na < P53_LABELS_MAX; p += *p + 1)
		la[na++] = p;
	for (const uint8_t *p = b; *p && nb < P53_LABELS_MAX; p += *p + 1)
		lb[nb++] = p;
	while (na > 0 && nb > 0) {
		const uint8_t *x = la[--na], *y = lb[--nb];
		unsigned lx = x[0], ly = y[0], m = lx < ly ? lx : ly;
		for (unsigned k = 1; k <= m; k++) {
			uint8_t cx = lower(x[k]), cy = lower(y[k]);
			if (cx != cy)
				return cx < cy ? -1 : 1;
		}
		if (lx != ly)
			return lx < ly ? -1 : 1;
	}
	return na == nb ? 0 : (na < nb ? -1 : 1);
}

/* FNV-1a run from the last byte to the first, so that the running state at
 * each label boundary is the hash of that suffix: a closest-encloser search
 * gets every suffix's hash from one pass (name_suffix_hashes). The final
 * avalanche mixes the low bits, which pick the bucket. */
#define FNV_BASIS 2166136261u
#define FNV_PRIME 16777619u

static inline uint32_t hash_final(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	return h;
}

/* Runs the hash over p[n-1] down to p[0]: the odd bytes at the end first,
 * then four a step. The chain of multiplies is the same; the loop's own
 * instructions are a quarter. */
static inline uint32_t fnv_back(uint32_t h, const uint8_t *p, size_t n)
{
	switch (n & 3) {
	case 3:
		h = (h ^ p[--n]) * FNV_PRIME;
		/* fall through */
	case 2:
		h = (h ^ p[--n]) * FNV_PRIME;
		/* fall through */
	case 1:
		h = (h ^ p[--n]) * FNV_PRIME;
		/* fall through */
	default:
		break;
	}
	for (; n > 0; n -= 4) {
		h = (h ^ p[n - 1]) * FNV_PRIME;
		h = (h ^ p[n - 2]) * FNV_PRIME;
		h = (h ^ p[n - 3]) * FNV_PRIME;
		h = (h ^ p[n - 4]) * FNV_PRIME;
	}
	return h;
}

uint32_t name_hash(const uint8_t *wire, size_t len)
{
	return hash_final(fnv_back(FNV_BASIS, wire, len));
}

unsigned name_suffix_hashes(const uint8_t *wire, size_t len, uint8_t off[P53_LABELS_MAX],
			    uint32_t hash[P53_LABELS_MAX])
{
	unsigned n = 0;
	for (size_t o = 0; o < len && wire[o] != 0 && n < P53_LABELS_MAX; o += (size_t)wire[o] + 1)
		off[n++] = (uint8_t)o;
	name_suffix_hashes_at(wire, len, off, n, hash);
	return n;
}

void name_suffix_hashes_at(const uint8_t *wire, size_t len, const uint8_t *off, unsigned n,
			   uint32_t *hash)
{
	uint32_t h = FNV_BASIS;
	size_t i = len;
	for (unsigned k = n; k-- > 0;) {
		h = fnv_back(h, wire + off[k], i - off[k]);
		i = off[k];
		hash[k] = hash_final(h);
	}
}

int name_unpack(const uint8_t *msg, size_t msglen, size_t pos, uint8_t out[P53_NAME_MAX],
		size_t *outlen)
{
	size_t o = 0;
	size_t start = pos;
	int consumed = -1;
	size_t limit = pos; /* pointers must go strictly below this */
	unsigned hops = 0;
	for (;;) {
		if (pos >= msglen)
			return -1;
		uint8_t l = msg[pos];
		if (l == 0) {
			if (o + 1 > P53_NAME_MAX)
				return -1;
			out[o++] = 0;
			if (consumed < 0)
				consumed = (int)(pos + 1);
			break;
		}
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= msglen)
				return -1;
			size_t ptr = ((size_t)(l & 0x3f) << 8) | msg[pos + 1];
			if (consumed < 0)
				consumed = (int)(pos + 2);
			if (ptr >= limit || ++hops > P53_LABELS_MAX)
				return -1;
			limit = ptr;
			pos = ptr;
			continue;
		}
		if (l & 0xc0)
			return -1; /* extended label types are obsolete */
		if (pos + 1 + l > msglen || o + 1 + l + 1 > P53_NAME_MAX)
			return -1;
		memcpy(out + o, msg + pos, (size_t)l + 1);
		o += (size_t)l + 1;
		pos += (size_t)l + 1;
	}
	*outlen = o;
	return consumed - (int)start;
}
