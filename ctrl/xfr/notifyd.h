/* NOTIFY over UDP for port53d (RFC 1996).
 *
 * port53d's workers answer queries only; a NOTIFY (opcode 4) reaching a
 * worker is handed to the kernel over the exception path. This thread takes
 * it on kernel UDP sockets bound to the service addresses (port 53, in the
 * exception path's namespace) and gives it to the secondary
 * (xfrin_notify), which checks the sender, its TSIG and the zone, exactly
 * as `port53 serve` does on its own UDP listeners. Any other message
 * arriving there is dropped: queries belong to the workers.
 */
#ifndef P53_XFR_NOTIFYD_H
#define P53_XFR_NOTIFYD_H

#include "ctrl/api/api.h"
#include "ctrl/xfr/xfrin.h"
#include "zones/common/err.h"

#include <pthread.h>
#include <stddef.h>

struct notifyd_cfg {
	const int *fds; /* UDP sockets, taken over (closed by notifyd_stop) */
	size_t nfds;
	struct xfrin *xfrin;
	const char *name; /* log prefix */
	int (*spawn)(pthread_t *t, const char *name, void *(*fn)(void *), void *arg);
};

struct notifyd;

/* NULL with err set; the sockets are closed on failure too. */
struct notifyd *notifyd_start(const struct notifyd_cfg *cfg, struct p53_err *err);
void notifyd_stop(struct notifyd *n);
/* notify_udp{event}: received, answered, not_notify (dropped). */
void notifyd_counters(const struct notifyd *n, api_emit_fn emit, void *sink);

#endif
