/* Route 53 health checks (route53-semantics.md section 3).
 *
 * One checker thread drives every check through libcurl's multi interface:
 * HTTP, HTTPS (certificates not validated), HTTP(S) with a search string in
 * the first 5,120 bytes, TCP, CALCULATED, and an external status file (the
 * stand-in for CloudWatch-metric checks: "OK" or "ALARM", anything else is
 * insufficient data). Results feed a byte array indexed by the snapshot's
 * check numbers (its HealthCheckId table), which the answer engine reads
 * through p53_ctx.health: a flip changes answers within one interval with no
 * recompile.
 */
#ifndef P53_HEALTH_H
#define P53_HEALTH_H

#include "zones/common/err.h"
#include "zones/answer/snapshot.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct p53_health;

/* Reads check definitions (JSON, docs/route53.md) and starts the thread. */
struct p53_health *p53_health_start(const char *path, struct p53_err *err);
void p53_health_stop(struct p53_health *h);

/* A health array for snap, indexed by its check numbers, that the checker
 * keeps current until p53_health_release(): several can be live at once, as
 * during a snapshot swap under RCU. NULL when out of memory. */
const uint8_t *p53_health_acquire(struct p53_health *h, const struct p53_snapshot *snap,
				  uint32_t *n);
void p53_health_release(struct p53_health *h, const uint8_t *arr);

/* The health array for snap, built on first use for a new snapshot; call it
 * from the one thread that answers queries, which then owns the result until
 * its next call. *n is the number of entries. */
const uint8_t *p53_health_view(struct p53_health *h, const struct p53_snapshot *snap, uint32_t *n);

/* One check as the control API shows it; strings live until fn returns. */
struct p53_health_state {
	const char *id, *type, *last;
	bool healthy; /* published: Inverted and Disabled applied */
	bool inverted, disabled;
	time_t changed; /* last change of healthy */
	int interval, threshold;
	unsigned voters, votes_ok; /* checkers with a current result (local
				    * included), and how many say the endpoint is up */
};
typedef void (*p53_health_each_fn)(void *arg, const struct p53_health_state *st);

/* Calls fn for every check, in file order, under the checker's lock: fn
 * must be quick and must not call back into the checker. */
void p53_health_each(struct p53_health *h, p53_health_each_fn fn, void *arg);

/* Voting across checkers: an endpoint is up when more than share (0..1,
 * default 0.18) of the checkers with a current result say so. */
void p53_health_set_quorum(struct p53_health *h, double share);

/* Another checker's results (ids[i] up when ok[i]), replacing its previous
 * report; each result counts for 3 intervals of its check. All or nothing:
 * 0, or -1 with the reason in msg (bad checker name, unknown or CALCULATED
 * check, too many checkers). */
int p53_health_report(struct p53_health *h, const char *checker, size_t n, const char *const *ids,
		      const bool *ok, char *msg, size_t cap);

/* Points the control API's health callbacks (GET /v1/health, POST
 * /v1/health/reports) at h. */
struct api_cfg;
void p53_health_api(struct p53_health *h, struct api_cfg *ac);

#endif
