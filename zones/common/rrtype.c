#include "zones/common/rrtype.h"

#include <stdio.h>
#include <strings.h>

static const struct rrtype_info table[] = {
    {RR_A, "A", "a"},
    {RR_NS, "NS", "N"},
    {RR_CNAME, "CNAME", "N"},
    {RR_SOA, "SOA", "NN4TTTT"},
    {RR_PTR, "PTR", "N"},
    {RR_HINFO, "HINFO", "ss"},
    {RR_MX, "MX", "2N"},
    {RR_TXT, "TXT", "S"},
    {RR_AAAA, "AAAA", "6"},
    {RR_SRV, "SRV", "222n"},
    {RR_NAPTR, "NAPTR", "22sssn"},
    {RR_DNAME, "DNAME", "n"},
    {RR_DS, "DS", "211x"},
    {RR_SSHFP, "SSHFP", "11x"},
    {RR_DNSKEY, "DNSKEY", "211b"},
    {RR_TLSA, "TLSA", "111x"},
    {RR_SVCB, "SVCB", "2np"},
    {RR_HTTPS, "HTTPS", "2np"},
    {RR_SPF, "SPF", "S"},
    {RR_CAA, "CAA", "1cr"},
    /* Known by name only: DNSSEC records are generated, never typed in,
     * and are accepted in RFC 3597 form. */
    {RR_RRSIG, "RRSIG", ""},
    {RR_NSEC, "NSEC", ""},
    {RR_NSEC3, "NSEC3", ""},
    {RR_OPT, "OPT", ""},
    {RR_IXFR, "IXFR", ""},
    {RR_AXFR, "AXFR", ""},
    {RR_MAILB, "MAILB", ""},
    {RR_MAILA, "MAILA", ""},
    {RR_ANY, "ANY", ""},
};

const struct rrtype_info *rrtype_get(uint16_t type)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].type == type)
			return &table[i];
	return NULL;
}

uint16_t rrtype_from_text(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		size_t n = 0;
		while (table[i].name[n])
			n++;
		if (n == len && strncasecmp(s, table[i].name, len) == 0)
			return table[i].type;
	}
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
