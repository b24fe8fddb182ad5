#include "zones/common/rrtype.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define C RRT_CANON
#define K RRT_KNOT_PRINT

/* Sorted by type number (rrtype_get searches it). */
static const struct rrtype_info table[] = {
    {RR_A, "A", "a", 0},
    {RR_NS, "NS", "N", C},
    {RR_CNAME, "CNAME", "N", C},
    {RR_SOA, "SOA", "NN4TTTT", C},
    {RR_MB, "MB", "N", C},
    {RR_MG, "MG", "N", C},
    {RR_MR, "MR", "N", C},
    {RR_NULL, "NULL", "*", K},
    {RR_PTR, "PTR", "N", C},
    {RR_HINFO, "HINFO", "ss", 0},
    {RR_MINFO, "MINFO", "NN", C},
    {RR_MX, "MX", "2N", C},
    {RR_TXT, "TXT", "S", 0},
    {RR_RP, "RP", "nn", C},
    {RR_AFSDB, "AFSDB", "2n", C},
    {RR_RT, "RT", "2n", C},
    {RR_KEY, "KEY", "211b", 0},
    {RR_PX, "PX", "2nn", C},
    {RR_AAAA, "AAAA", "6", 0},
    {RR_LOC, "LOC", "*", K},
    {RR_SRV, "SRV", "222n", C},
    {RR_NAPTR, "NAPTR", "22sssn", C},
    {RR_KX, "KX", "2n", C},
    {RR_CERT, "CERT", "221b", 0},
    {RR_DNAME, "DNAME", "n", C},
    {RR_OPT, "OPT", "", 0},
    {RR_APL, "APL", "*", K},
    {RR_DS, "DS", "211x", 0},
    {RR_SSHFP, "SSHFP", "11x", 0},
    {RR_IPSECKEY, "IPSECKEY", "111*", K},
    {RR_RRSIG, "RRSIG", "2114442n*", C | K},
    {RR_NSEC, "NSEC", "n*", K},
    {RR_DNSKEY, "DNSKEY", "211b", 0},
    {RR_DHCID, "DHCID", "b", 0},
    {RR_NSEC3, "NSEC3", "1121*", K},
    {RR_NSEC3PARAM, "NSEC3PARAM", "1121*", K},
    {RR_TLSA, "TLSA", "111x", 0},
    {RR_SMIMEA, "SMIMEA", "111x", 0},
    {RR_HIP, "HIP", "*", K},
    {RR_CDS, "CDS", "211x", 0},
    {RR_CDNSKEY, "CDNSKEY", "211b", 0},
    {RR_OPENPGPKEY, "OPENPGPKEY", "b", 0},
    {RR_CSYNC, "CSYNC", "42*", K},
    {RR_ZONEMD, "ZONEMD", "411x", 0},
    {RR_SVCB, "SVCB", "2np", 0},
    {RR_HTTPS, "HTTPS", "2np", 0},
    {RR_SPF, "SPF", "S", 0},
    {RR_NID, "NID", "2*", K},
    {RR_L32, "L32", "2a", 0},
    {RR_L64, "L64", "2*", K},
    {RR_LP, "LP", "2n", 0},
    {RR_EUI48, "EUI48", "*", K},
    {RR_EUI64, "EUI64", "*", K},
    {249, "TKEY", "", 0},
    {250, "TSIG", "", 0},
    {RR_IXFR, "IXFR", "", 0},
    {RR_AXFR, "AXFR", "", 0},
    {RR_MAILB, "MAILB", "", 0},
    {RR_MAILA, "MAILA", "", 0},
    {RR_ANY, "ANY", "", 0},
    {RR_URI, "URI", "22*", K},
    {RR_CAA, "CAA", "1cr", 0},
    {RR_AMTRELAY, "AMTRELAY", "*", K},
};

#undef C
#undef K

#define NTYPES (sizeof(table) / sizeof(table[0]))

const struct rrtype_info *rrtype_get(uint16_t type)
{
	size_t lo = 0, hi = NTYPES;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (table[mid].type == type)
			return &table[mid];
		if (table[mid].type < type)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

uint16_t rrtype_from_text(const char *s, size_t len)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (strlen(table[i].name) == len && strncasecmp(s, table[i].name, len) == 0)
			return table[i].type;
	if (len > 4 && len <= 9 && strncasecmp(s, "TYPE", 4) == 0) {
		unsigned v = 0;
		for (size_t i = 4; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				return 0;
			v = v * 10 + (unsigned)(s[i] - '0');
		}
		if (v > 0 && v <= 65535)
			return (uint16_t)v;
	}
	return 0;
}

const char *rrtype_to_text(uint16_t type, char *buf)
{
	const struct rrtype_info *ti = rrtype_get(type);
	if (ti)
		snprintf(buf, 12, "%s", ti->name);
	else
		snprintf(buf, 12, "TYPE%u", type);
	return buf;
}

int rrtype_is_meta(uint16_t type)
{
	return type == RR_OPT || type == 249 || type == 250 ||
	       (type >= RR_IXFR && type <= RR_ANY) || type == 0;
}

/* Walks one uncompressed name at *pos; false when it does not end in rdata
 * or breaks the RFC 1035 limits. */
static int wire_name_ok(const uint8_t *p, size_t len, size_t *pos)
{
	size_t start = *pos;
	while (*pos < len) {
		uint8_t l = p[*pos];
		if (l > 63)
			return 0;
		*pos += (size_t)l + 1;
		if (*pos - start > 255)
			return 0;
		if (l == 0)
			return 1;
	}
	return 0;
}

static int svc_wire_ok(const uint8_t *p, size_t len, size_t pos)
{
	long prev = -1;
	while (pos < len) {
		if (len - pos < 4)
			return 0;
		long key = p[pos] << 8 | p[pos + 1];
		size_t vl = (size_t)(p[pos + 2] << 8 | p[pos + 3]);
		if (key <= prev || len - pos - 4 < vl)
			return 0;
		prev = key;
		pos += 4 + vl;
	}
	return 1;
}

int rrtype_rdata_fits(const char *layout, const uint8_t *p, size_t len)
{
	size_t pos = 0;
	for (const char *l = layout; *l; l++) {
		size_t fixed = 0;
		switch (*l) {
		case 'N':
		case 'n':
			if (!wire_name_ok(p, len, &pos))
				return 0;
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
				return 0;
			fixed = (size_t)p[pos] + 1;
			break;
		case 'S':
			if (pos >= len)
				return 0;
			while (pos < len)
				pos += (size_t)p[pos] + 1;
			return pos == len && l[1] == 0;
		case 'p':
			return l[1] == 0 && svc_wire_ok(p, len, pos);
		default: /* r x b *: the rest */
			return l[1] == 0;
		}
		if (len - pos < fixed)
			return 0;
		pos += fixed;
	}
	return pos == len;
}

static inline uint8_t lc(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Where the field that layout letter l describes, starting at pos, ends, and
 * whether it is a name (canonical form lower-cases names and nothing else).
 * -1 for a field that runs to the end of the rdata: nothing after it is a
 * name. The caller guarantees pos < len. */
static int canon_field(char l, const uint8_t *p, size_t len, size_t pos, size_t *end)
{
	switch (l) {
	case 'N':
	case 'n':
		*end = pos;
		return wire_name_ok(p, len, end) ? 1 : -1;
	case '1':
		*end = pos + 1;
		return 0;
	case '2':
		*end = pos + 2;
		return 0;
	case '4':
	case 'T':
	case 'a':
		*end = pos + 4;
		return 0;
	case '6':
		*end = pos + 16;
		return 0;
	case 's':
	case 'c':
		*end = pos + 1 + p[pos];
		return 0;
	default:
		return -1;
	}
}

/* Up to the first difference both rdata have the same shape, so the fields
 * found by walking a hold for b too. */
int rrtype_rdata_cmp(uint16_t type, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t m = alen < blen ? alen : blen;
	const struct rrtype_info *ti = rrtype_get(type);
	size_t pos = 0;
	if (ti != NULL && (ti->flags & RRT_CANON)) {
		for (const char *l = ti->layout; *l && pos < m; l++) {
			size_t end;
			int name = canon_field(*l, a, alen, pos, &end);
			if (name < 0)
				break;
			if (end > m)
				end = m;
			for (; pos < end; pos++) {
				uint8_t x = name ? lc(a[pos]) : a[pos],
					y = name ? lc(b[pos]) : b[pos];
				if (x != y)
					return x < y ? -1 : 1;
			}
		}
	}
	int c = memcmp(a + pos, b + pos, m - pos);
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

void rrtype_rdata_canon(uint16_t type, uint8_t *p, size_t len)
{
	const struct rrtype_info *ti = rrtype_get(type);
	if (ti == NULL || !(ti->flags & RRT_CANON))
		return;
	size_t pos = 0;
	for (const char *l = ti->layout; *l && pos < len; l++) {
		size_t end;
		int name = canon_field(*l, p, len, pos, &end);
		if (name < 0)
			return;
		for (; name && pos < end; pos++)
			p[pos] = lc(p[pos]);
		pos = end;
	}
}
