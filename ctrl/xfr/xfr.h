/* Zone-transfer settings shared by both servers (docs/transfers.md): the
 * command-line options and configuration keys become this, and the
 * control side builds from it the TSIG key table, transfers out
 * (xfrout.h) and the secondary service (xfrin.h). */
#ifndef P53_XFR_H
#define P53_XFR_H

#include <stddef.h>

struct xfr_cfg {
	const char **keys; /* "[ALG:]NAME:SECRET" (tsig.h) */
	size_t nkeys;
	const char **allow; /* transfers out: acl.h rules */
	size_t nallow;
	const char **notify; /* NOTIFY targets: "ADDR[:PORT] [key NAME]" */
	size_t nnotify;
	unsigned ixfr_depth; /* 0 = 16 */
	/* Secondary service: "ORIGIN PRIMARY[:PORT] [key NAME]" each. */
	const char **secondary;
	size_t nsecondary;
	/* Zones compiled with the transferred ones: "ORIGIN=PATH" (a master
	 * file or Route 53 JSON, as `port53 compile` takes them). */
	const char **zones;
	size_t nzones;
	const char *dir;	   /* where transferred zones are kept */
	const char **notify_allow; /* extra NOTIFY sources beside the primaries */
	size_t nnotify_allow;
	/* The control-plane signer (docs/dnssec.md): zones with keys in
	 * sign_keys are signed at each build, and rebuilt at the next key
	 * event or re-signing time. sig_validity in seconds (0: 14 days),
	 * resign_s the re-signing interval (0: 6 hours). */
	const char *sign_keys;
	unsigned sig_validity;
	unsigned resign_s;
};

/* Takes one command-line option of either program by its long name
 * (tsig-key, xfr-allow, notify, ixfr-depth, secondary, zone,
 * secondary-dir, notify-allow, sign-keys, sig-validity, resign-interval); values are not copied. 0,
 * or -1 with a reason in why. */
int xfr_cfg_set(struct xfr_cfg *c, const char *opt, const char *val, char *why, size_t cap);
void xfr_cfg_free(struct xfr_cfg *c);
/* Usage lines for the options above. */
extern const char xfr_cfg_usage[];

/* The control side compiles its own snapshot: zones transferred in, or
 * local zones it signs. */
static inline int xfr_cfg_builds(const struct xfr_cfg *x)
{
	return x && (x->nsecondary || (x->nzones && x->sign_keys));
}

static inline int xfr_cfg_any(const struct xfr_cfg *x)
{
	return x && (x->nallow || x->nnotify || xfr_cfg_builds(x));
}

#endif
