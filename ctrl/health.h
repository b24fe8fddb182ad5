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

#include "zones/err.h"
#include "zones/snapshot.h"

#include <stdint.h>
#include <stdio.h>

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

/* One line per check: id, type, state, last result, last change. */
void p53_health_dump(struct p53_health *h, FILE *out);

#endif
