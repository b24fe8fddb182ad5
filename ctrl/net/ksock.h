/* Kernel-socket DNS server (`port53 serve`): UDP and TCP (RFC 7766) over
 * ordinary sockets, with the control side port53d has (control.h). A
 * complete server on machines without a DPDK port; it answers with the same
 * engine as the workers.
 */
#ifndef P53_KSOCK_H
#define P53_KSOCK_H

#include "ctrl/api/api.h"
#include "ctrl/fleet/follow.h"
#include "ctrl/fleet/nodehealth.h"
#include "ctrl/net/tcpsrv.h"
#include "ctrl/xfr/xfr.h"
#include "zones/answer/abuse.h"
#include "zones/answer/answer.h"
#include "zones/common/err.h"

#include <stddef.h>

struct ksock_cfg {
	const char *const *listen; /* "127.0.0.1:5353", "[::1]:5353" */
	size_t nlisten;
	const char *snapshot_path; /* reloaded on SIGHUP */
	const char
	    *firewall_path; /* DNS Firewall (.p53fw), loaded with every snapshot; NULL = none */
	/* Online DNSSEC signing (docs/dnssec.md): key directory, NULL = none;
	 * dnssec_sig_time pins the signing time (0 = the clock). */
	const char *dnssec_keys;
	int64_t dnssec_sig_time;
	const char *const *tls_listen; /* DNS over TLS listeners, "addr:port" */
	size_t ntls_listen;
	const char *tls_cert, *tls_key; /* PEM; reread on SIGHUP */
	const char *const *doh_listen;	/* DNS over HTTPS listeners, "addr:port" */
	size_t ndoh_listen;
	const char *doh_cert, *doh_key; /* PEM for DoH; NULL: tls_cert, tls_key */
	struct doh_limits doh;		/* path, streams; zeros: defaults */
	const char
	    *resolver_path; /* views and rules (ctrl/resolv/rconf.h); NULL = authoritative only */
	const char *health_checks; /* Route 53 health checks (JSON, ctrl/health.h); NULL = none */
	double health_quorum;	   /* voting share, 0..1; 0 = the default 0.18 */
	struct p53_answer_cfg answer;
	struct tcpsrv_limits tcp; /* ksock_cfg_default fills the defaults */
	/* Control plane (docs/control.md): all off when NULL / 0. */
	const char *control_socket;	 /* unix socket for the control API, mode 0600 */
	const char *control_listen;	 /* TCP "addr:port" for the API (needs the token) */
	const char *control_token_file;	 /* bearer token for control_listen */
	struct api_limits api_limits;	 /* zeros = defaults */
	const char *const *trusted_keys; /* public keys; a signature is then required */
	size_t ntrusted;
	size_t push_max_bytes;	     /* largest pushed snapshot; default 256 MiB */
	uint64_t snapshot_max_bytes; /* largest snapshot loaded from a path; default 4 GiB */
	const char *reload_dir;	     /* POST /v1/reload {"path"} only inside; NULL = refused */
	const char *watch_dir;	     /* load *.p53 written or moved in; NULL = off */
	/* Query log (ctrl/qlog.h), off when both are NULL; reopened on SIGHUP. */
	const char *query_log;	      /* JSON lines file */
	const char *query_log_dnstap; /* dnstap file */
	unsigned query_log_sample;    /* log 1 query in N; 0 or 1 = all */
	/* Abuse controls (docs/abuse.md): RRL and cookies, on by default. */
	struct p53_abuse_cfg abuse;
	const char *cookie_secret_file; /* shared with a fleet; NULL = random */
	unsigned cookie_rotate_s;	/* random secret's lifetime; 0 = default */
	const char *drop_ports;		/* UDP source ports never answered; NULL = default */
	struct xfr_cfg xfr;		/* zone transfers (ctrl/xfr/xfr.h); zeros = none */
	/* A fleet node (docs/anycast.md): the origin followed, node health. */
	struct follow_cfg origin;
	struct nodehealth_cfg node;
};

void ksock_cfg_default(struct ksock_cfg *cfg);

/* Serves until SIGTERM or SIGINT. SIGHUP (or POST /v1/reload) reloads the
 * snapshot, PUT /v1/snapshot replaces it; a snapshot that fails to load is
 * reported and the old one keeps serving. Returns 0 on
 * a clean shutdown, a negative code with err set when start-up fails. */
int ksock_run(const struct ksock_cfg *cfg, struct p53_err *err);

/* Parses "addr:port", "[v6addr]:port" or "addr" (port 53) into a sockaddr. */
struct sockaddr_storage;
int ksock_parse_addr(const char *s, struct sockaddr_storage *ss, unsigned *len);

/* The engine's view of a peer at ss over transport (P53_UDP, P53_TCP):
 * every listener describes its clients this way. */
struct p53_client;
void ksock_client(const struct sockaddr_storage *ss, uint8_t transport, struct p53_client *c);

/* Opens a non-blocking socket of type (SOCK_DGRAM: bound; SOCK_STREAM: bound
 * and listening) on spec (as ksock_parse_addr). Returns the fd, or a negative
 * code with err set. */
int ksock_open(const char *spec, int type, struct p53_err *err);

#endif
