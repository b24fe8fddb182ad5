/* Kernel-socket DNS server: UDP and TCP (RFC 7766) over ordinary sockets.
 *
 * The TCP path of the finished product (the DPDK data plane hands TCP to the
 * kernel) and a complete server on machines without a DPDK port. It answers
 * with the same engine as the workers.
 */
#ifndef P53_KSOCK_H
#define P53_KSOCK_H

#include "zones/answer.h"
#include "zones/err.h"

#include <stddef.h>

struct ksock_cfg {
	const char *const *listen; /* "127.0.0.1:5353", "[::1]:5353" */
	size_t nlisten;
	const char *snapshot_path; /* reloaded on SIGHUP */
	struct p53_answer_cfg answer;
	unsigned tcp_max_conns; /* default 256 */
	unsigned tcp_idle_ms;	/* default 10000 (RFC 7766 6.2.3 suggests seconds) */
};

void ksock_cfg_default(struct ksock_cfg *cfg);

/* Serves until SIGTERM or SIGINT. SIGHUP reloads the snapshot; a snapshot
 * that fails to load is reported and the old one keeps serving. Returns 0 on
 * a clean shutdown, a negative code with err set when start-up fails. */
int ksock_run(const struct ksock_cfg *cfg, struct p53_err *err);

/* Parses "addr:port", "[v6addr]:port" or "addr" (port 53) into a sockaddr. */
struct sockaddr_storage;
int ksock_parse_addr(const char *s, struct sockaddr_storage *ss, unsigned *len);

#endif
