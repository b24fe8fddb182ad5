/* Zone-transfer options (see xfr.h): one parser for both programs. */
#include "ctrl/xfr/xfr.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char xfr_cfg_usage[] =
    "      --tsig-key [ALG:]NAME:SECRET  a TSIG key (repeatable; hmac-sha256 default)\n"
    "      --xfr-allow 'PREFIX [key NAME] [tls]'  who may transfer zones out (repeatable)\n"
    "      --notify 'ADDR[:PORT] [key NAME]'  sent NOTIFY when a zone changes\n"
    "      --ixfr-depth N         zone differences kept for IXFR (16)\n"
    "      --secondary 'ORIGIN PRIMARY[:PORT] [key NAME]'  transfer ORIGIN in\n"
    "      --zone ORIGIN=PATH     compiled with the transferred zones\n"
    "      --secondary-dir DIR    where transferred zones are kept\n"
    "      --notify-allow 'PREFIX [key NAME]'  NOTIFY senders beside the primaries\n"
    "      --sign-keys DIR        sign the --zone and transferred zones with keys in\n"
    "                             DIR, rebuilt on the keys' timing (docs/dnssec.md)\n"
    "      --sig-validity DAYS    signature validity of the signer (14)\n"
    "      --resign-interval S    the signer's re-signing interval (21600)\n";

static int push(const char ***v, size_t *n, const char *val)
{
	const char **p = realloc(*v, (*n + 1) * sizeof(*p));
	if (p == NULL)
		return -1;
	*v = p;
	p[(*n)++] = val;
	return 0;
}

int xfr_cfg_set(struct xfr_cfg *c, const char *opt, const char *val, char *why, size_t cap)
{
	int rc = -2;
	if (strcmp(opt, "tsig-key") == 0)
		rc = push(&c->keys, &c->nkeys, val);
	else if (strcmp(opt, "xfr-allow") == 0)
		rc = push(&c->allow, &c->nallow, val);
	else if (strcmp(opt, "notify") == 0)
		rc = push(&c->notify, &c->nnotify, val);
	else if (strcmp(opt, "secondary") == 0)
		rc = push(&c->secondary, &c->nsecondary, val);
	else if (strcmp(opt, "zone") == 0)
		rc = strchr(val, '=') ? push(&c->zones, &c->nzones, val) : -3;
	else if (strcmp(opt, "notify-allow") == 0)
		rc = push(&c->notify_allow, &c->nnotify_allow, val);
	else if (strcmp(opt, "secondary-dir") == 0) {
		c->dir = val;
		rc = 0;
	} else if (strcmp(opt, "sign-keys") == 0) {
		c->sign_keys = val;
		rc = 0;
	} else if (strcmp(opt, "sig-validity") == 0 || strcmp(opt, "resign-interval") == 0) {
		bool days = opt[1] == 'i';
		char *e;
		unsigned long d = strtoul(val, &e, 10);
		if (*e || val[0] == 0 || d < 1 || d > (days ? 365 : 7 * 86400))
			rc = -3;
		else {
			if (days)
				c->sig_validity = (unsigned)d * 86400;
			else
				c->resign_s = (unsigned)d;
			rc = 0;
		}
	} else if (strcmp(opt, "ixfr-depth") == 0) {
		char *e;
		unsigned long d = strtoul(val, &e, 10);
		if (*e || val[0] == 0 || d < 1 || d > 10000)
			rc = -3;
		else {
			c->ixfr_depth = (unsigned)d;
			rc = 0;
		}
	}
	if (rc == -1)
		snprintf(why, cap, "out of memory");
	else if (rc == -2)
		snprintf(why, cap, "--%s: not a transfer option", opt);
	else if (rc == -3)
		snprintf(why, cap, "--%s: bad value '%s'", opt, val);
	return rc ? -1 : 0;
}

void xfr_cfg_free(struct xfr_cfg *c)
{
	free(c->keys);
	free(c->allow);
	free(c->notify);
	free(c->secondary);
	free(c->zones);
	free(c->notify_allow);
	memset(c, 0, sizeof(*c));
}
