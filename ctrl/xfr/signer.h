/* The control-plane signer (docs/dnssec.md "The server signs on a timer"):
 * the zone builder of xfrin.c signs every zone that has keys in the
 * signer's directory at each build, and this module says when the next
 * build is due: at the earliest of the re-signing interval (kept well
 * inside the signatures' validity) and the next timing event (Publish,
 * Activate, Inactive, Delete, SyncPublish, SyncDelete) of any key of a
 * signed zone. It also keeps, per signed zone, its keys' roles and states,
 * the last signing and its result, and the next event, for the control API
 * (GET /v1/dnssec) and /metrics.
 *
 * Called by the builder's thread (signer_done, signer_due) and the API's
 * threads (signer_json, signer_metrics); a mutex keeps them apart, and
 * nothing here is on a query's path.
 */
#ifndef P53_SIGNER_H
#define P53_SIGNER_H

#include "zones/common/err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_t;

struct signer_cfg {
	const char *dir;       /* the keys (BIND pairs, PEM, PKCS#11 as compile takes) */
	uint32_t sig_validity; /* seconds; 0: 14 days */
	uint32_t resign_s;     /* 0: 6 hours; at most a quarter of the validity */
	const char *name;      /* log prefix */
};

struct signer;

struct signer *signer_new(const struct signer_cfg *cfg, struct p53_err *err);
void signer_free(struct signer *s);

/* The validity a build signs with (seconds). */
uint32_t signer_validity(const struct signer *s);

/* Records a build of the zones origins[0..n) (presentation form) started
 * at unix time `when`: rc 0 when it was compiled, signed and loaded, else
 * the reason in msg (the served snapshot is then the previous one). Reads
 * the zones' keys again and plans the next build; logs what is due. */
void signer_done(struct signer *s, const char *const *origins, size_t n, int64_t when, int rc,
		 const char *msg);

/* Unix time the next build is due (0 before the first build), and what
 * makes it due ("example.com.: ZSK 12345 activates") in why. */
int64_t signer_due(struct signer *s, char *why, size_t cap);

/* GET /v1/dnssec's body: {"keys_dir", "resign_interval", "sig_validity",
 * "next_build", "next_build_reason", "builds", "failures", "zones": [...]}
 * (docs/control.md). NULL when out of memory. */
struct json_t *signer_json(struct signer *s);

/* The port53_dnssec_* families in the Prometheus text format. */
void signer_metrics(struct signer *s, FILE *f);

#endif
