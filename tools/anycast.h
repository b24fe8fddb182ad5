/* `port53ctl anycast`: keeps a node's anycast prefixes announced over BGP
 * while the node is healthy, and withdrawn while it is not
 * (docs/anycast.md).
 *
 * It runs beside the server, not inside it, so a server that crashes,
 * hangs or is stopped is withdrawn too: every interval it asks the
 * server's GET /v1/node, and a node that does not answer healthy within the
 * interval counts as unhealthy. After `fall` unhealthy verdicts in a row it
 * disables a BIRD protocol (a static protocol holding the service prefixes,
 * exported to the BGP sessions), after `rise` healthy ones it enables it,
 * through BIRD's control socket, so BIRD is never restarted or
 * reconfigured. The state is asserted again every reassert_s, so a BIRD
 * restarted meanwhile (which starts the protocol as its configuration
 * says: `disabled`) converges. On SIGTERM or SIGINT it withdraws and
 * exits: with no watcher, nothing may stay announced.
 */
#ifndef P53_ANYCAST_H
#define P53_ANYCAST_H

#include <stdbool.h>
#include <stddef.h>

/* 1 healthy, 0 unhealthy, -1 not reachable; why gets the reason. */
typedef int (*anycast_check_fn)(void *arg, unsigned timeout_ms, char *why, size_t cap);

struct anycast_cfg {
	const char *bird_socket; /* [/run/bird/bird.ctl] */
	const char *protocol;	 /* [p53_anycast] */
	unsigned interval_ms;	 /* between checks, also their timeout [1000] */
	unsigned fall, rise;	 /* verdicts in a row to withdraw / announce [2] [3] */
	unsigned reassert_s;	 /* [30] */
	bool once;		 /* one check, apply it, exit 0 healthy / 1 not */
	anycast_check_fn check;
	void *check_arg;
};

void anycast_cfg_default(struct anycast_cfg *cfg);

/* Runs until SIGTERM/SIGINT (then withdraws); returns the exit status. */
int anycast_run(const struct anycast_cfg *cfg);

#endif
