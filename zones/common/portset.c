#include "zones/common/portset.h"

#include "zones/common/err.h"

#include <stdlib.h>
#include <string.h>

int p53_portset_parse(struct p53_portset *set, const char *list)
{
	struct p53_portset tmp;
	const char *s = list;

	memset(&tmp, 0, sizeof(tmp));
	if (strcmp(list, "none") == 0)
		s = "";
	while (*s) {
		char *end;
		if (*s < '0' || *s > '9')
			return P53_EINVAL;
		unsigned long lo = strtoul(s, &end, 10), hi = lo;
		if (end == s || lo > 65535)
			return P53_EINVAL;
		s = end;
		if (*s == '-') {
			if (s[1] < '0' || s[1] > '9')
				return P53_EINVAL;
			hi = strtoul(++s, &end, 10);
			if (end == s || hi > 65535 || hi < lo)
				return P53_EINVAL;
			s = end;
		}
		for (unsigned long p = lo; p <= hi; p++)
			tmp.map[p >> 6] |= 1ULL << (p & 63);
		if (*s == ',')
			s++;
		else if (*s)
			return P53_EINVAL;
	}
	*set = tmp;
	return P53_OK;
}
