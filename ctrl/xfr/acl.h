/* Address and key rules for transfers and NOTIFY.
 *
 * A rule is "PREFIX[/LEN] [key NAME] [tls]" or "any [key NAME] [tls]": the
 * request is allowed when its source lies in the prefix and, when the rule
 * names a key, it is signed with that key (a valid TSIG), and, with "tls",
 * it came over TLS (zone transfer over TLS, RFC 9103: a zone whose content
 * must not cross the network in clear). Rules are tried in order; none
 * matching means refused. An invalid TSIG is answered NOTAUTH before
 * any rule is looked at (RFC 8945 5.2).
 */
#ifndef P53_XFR_ACL_H
#define P53_XFR_ACL_H

#include "ctrl/xfr/tsig.h"
#include "zones/answer/answer.h"
#include "zones/common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct acl_rule {
	uint8_t family; /* 4, 6, or 0 for any */
	uint8_t plen;
	uint8_t addr[16];
	const struct tsig_key *key; /* NULL: signed or not */
	bool tls;		    /* over TLS only */
};

struct acl {
	struct acl_rule *v;
	size_t n;
};

int acl_add(struct acl *a, const char *spec, const struct tsig_keys *keys, struct p53_err *err);
void acl_free(struct acl *a);
/* key: the valid TSIG key of the request, or NULL; tls: it came over TLS. */
bool acl_allows(const struct acl *a, const struct p53_client *c, const struct tsig_key *key,
		bool tls);
/* True when addr (family 4 or 6) lies in the rule's prefix. */
bool acl_rule_match_addr(const struct acl_rule *r, uint8_t family, const uint8_t *addr);

#endif
