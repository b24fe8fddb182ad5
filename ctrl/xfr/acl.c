/* Transfer and NOTIFY rules (see acl.h). */
#include "ctrl/xfr/acl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int acl_add(struct acl *a, const char *spec, const struct tsig_keys *keys, struct p53_err *err)
{
	char addr[128], w2[16], w3[256], w4[16], w5[2];
	struct acl_rule r = {0};
	int n = sscanf(spec, "%127s %15s %255s %15s %1s", addr, w2, w3, w4, w5);
	/* PREFIX, then "key NAME" and "tls" in this order, each optional. */
	bool key = n >= 3 && strcmp(w2, "key") == 0;
	const char *last = n == 2 ? w2 : n == 4 && key ? w4 : NULL;
	r.tls = last && strcmp(last, "tls") == 0;
	if (n < 1 || n > 4 || (n == 2 && !r.tls) || (n == 3 && !key) || (n == 4 && !(key && r.tls)))
		return p53_err_set(
		    err, P53_EINVAL,
		    "rule '%s': expected PREFIX[/LEN] [key NAME] [tls] or any [key NAME] [tls]",
		    spec);
	if (key && (r.key = tsig_keys_find(keys, w3)) == NULL)
		return p53_err_set(err, P53_EINVAL, "rule '%s': no TSIG key named '%s'", spec, w3);
	if (strcmp(addr, "any") != 0) {
		char *slash = strchr(addr, '/');
		long plen = -1;
		if (slash) {
			char *e;
			*slash = 0;
			plen = strtol(slash + 1, &e, 10);
			if (*e || slash[1] == 0)
				plen = -2;
		}
		if (inet_pton(AF_INET, addr, r.addr) == 1)
			r.family = 4;
		else if (inet_pton(AF_INET6, addr, r.addr) == 1)
			r.family = 6;
		long max = r.family == 4 ? 32 : 128;
		if (r.family == 0 || plen < -1 || plen > max)
			return p53_err_set(err, P53_EINVAL, "rule '%s': bad address or prefix",
					   spec);
		r.plen = (uint8_t)(plen < 0 ? max : plen);
	}
	struct acl_rule *v = realloc(a->v, (a->n + 1) * sizeof(*v));
	if (v == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	a->v = v;
	a->v[a->n++] = r;
	return 0;
}

void acl_free(struct acl *a)
{
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

bool acl_rule_match_addr(const struct acl_rule *r, uint8_t family, const uint8_t *addr)
{
	if (r->family == 0)
		return true;
	if (r->family != family)
		return false;
	unsigned full = r->plen / 8, rest = r->plen % 8;
	if (memcmp(r->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (r->addr[full] & mask) == (addr[full] & mask);
}

bool acl_allows(const struct acl *a, const struct p53_client *c, const struct tsig_key *key,
		bool tls)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct acl_rule *r = &a->v[i];
		if (!acl_rule_match_addr(r, c->family, c->addr) || (r->tls && !tls))
			continue;
		if (r->key == NULL || r->key == key)
			return true;
	}
	return false;
}
