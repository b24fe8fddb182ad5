/* The DNS Cookie secret (zones/answer/cookie.h) as the control side keeps
 * it: one secret for every worker of the process, published through one
 * atomic pointer and freed after an RCU grace period, so workers read it
 * with no lock.
 *
 * Two sources. By default a random secret made at start and replaced every
 * rotate_s seconds, the old one still accepted until the next rotation.
 * Or, for an anycast fleet whose members must accept each other's cookies,
 * a file with the current secret (32 hex digits) and optionally the
 * previous one on a second line, reread whenever it changes: the operator
 * rolls the fleet by writing "new\nold" everywhere, then later "new".
 */
#ifndef P53_COOKIEKEYS_H
#define P53_COOKIEKEYS_H

#include "zones/answer/abuse.h"
#include "zones/common/err.h"

#include <time.h>

struct qsbr;

#define COOKIE_ROTATE_DEFAULT_S (26 * 3600) /* as Knot DNS's secret lifetime */

struct cookie_keys_cfg {
	const char *secret_file; /* NULL: random, rotated */
	unsigned rotate_s;	 /* 0: COOKIE_ROTATE_DEFAULT_S */
};

struct cookie_keys;

/* q: the readers' RCU domain (those that use cookie_keys_live). */
struct cookie_keys *cookie_keys_new(const struct cookie_keys_cfg *cfg, struct qsbr *q,
				    struct p53_err *err);
void cookie_keys_free(struct cookie_keys *k);
const p53_cookie_live *cookie_keys_live(struct cookie_keys *k);

/* From a control thread (never an online reader), every second or so:
 * rotates when due, rereads the file when it changed. Returns 1 when the
 * secret changed, 0 when not, a negative code with err set when the file
 * could not be used (the secret in use stays). */
int cookie_keys_tick(struct cookie_keys *k, time_t now, struct p53_err *err);

#endif
