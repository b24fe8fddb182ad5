/* port53d: the DPDK data-plane daemon.
 *
 *   port53d [EAL options] -- -s snapshot.p53 -a ADDR [-a ADDR...] [options]
 *
 * Every lcore runs a worker (worker.c); the main lcore too, so `-l 0` is a
 * complete single-core daemon. Signals are blocked in every thread before
 * EAL starts and taken synchronously by one control thread, which prints
 * counters (SIGUSR1), swaps the snapshot (SIGHUP), stops the workers
 * (SIGINT/SIGTERM) and, for pcap replay, notices when the input ran dry.
 */
#include "dp/excp.h"
#include "dp/pkt.h"
#include "dp/port.h"
#include "dp/rdp.h"
#include "dp/stats.h"
#include "dp/worker.h"
#include "dp/xport.h"
#include "ctrl/api/api.h"
#include "ctrl/conf.h"
#include "ctrl/control.h"
#include "ctrl/fleet/fleetopt.h"
#include "ctrl/qlog/qlog.h"
#include "ctrl/resolv/rconf.h"
#include "ctrl/resolv/resolver.h"
#include "ctrl/snap/qsbr_dpdk.h"
#include "ctrl/snap/snapmgr.h"
#include "ctrl/xfr/xfr.h"
#include "zones/answer/answer.h"
#include "zones/answer/fw.h"
#include "zones/answer/snapshot.h"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_telemetry.h>

#ifdef P53_HAVE_XDP
#include "dp/xdp_load.h"
#include <net/if.h>
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "p53_version.h"

#define PCAP_IDLE_MS 300 /* default --exit-when-idle for net_pcap ports */
/* An idle worker sleeps on its queues' descriptors where the ports have
 * them (AF_XDP, tap) after 10 us of empty polls, else after 200 us in naps
 * from 20 us doubling to 1 ms, so that the first frame after a short pause
 * is seen soon and a long-idle core stays almost free (docs/dataplane.md,
 * "Idle workers"). */
#define DEFAULT_IDLE_AFTER_US	  200
#define DEFAULT_IDLE_AFTER_FD_US  10
#define DEFAULT_IDLE_SLEEP_US	  20
#define DEFAULT_IDLE_SLEEP_MAX_US 1000
#define MAX_KEYS		  8 /* --require-signature keys */

struct opts {
	const char *snapshot;
	const char *exception;
	const char *identity;
	const char *version;
	bool have_mac;
	uint8_t mac[6];
	long idle_ms;			   /* -1: default for the port type */
	long idle_after_us, idle_sleep_us; /* an idle worker's naps (dp/worker.c) */
	long idle_sleep_max_us;		   /* -1: DEFAULT_IDLE_SLEEP_MAX_US */
	bool idle_fd;			   /* sleep on the queues' descriptors */
	unsigned edns;
	struct dp_svc svc; /* addresses, drop list, MTU; MAC filled per port */
	const char *control_socket;
	const char *control_listen;
	const char *control_token;
	const char *trusted[MAX_KEYS];
	unsigned ntrusted;
	const char *health_checks;
	const char *firewall;
	const char *resolver;	 /* views, rules, recursion (docs/resolver.md) */
	const char *dnssec_keys; /* online DNSSEC signing keys; NULL = none */
	int64_t dnssec_sig_time; /* 0 = the clock */
	const char *query_log, *query_log_dnstap;
	unsigned query_log_sample;
	double health_quorum; /* 0: the default */
	const char *watch_dir;
	const char *reload_dir;
	uint64_t snapshot_max_bytes; /* 0: the default */
	size_t push_max_bytes;	     /* 0: the default */
	struct api_limits api_limits;
	struct p53_abuse_cfg abuse; /* RRL and cookies (docs/abuse.md) */
	const char *cookie_secret_file;
	unsigned cookie_rotate_s;
	struct dp_xport_cfg xport; /* TCP, TLS, QUIC (dp/xport.h) */
	struct xfr_cfg xfr;	   /* zone transfers (docs/transfers.md) */
	struct follow_cfg origin;  /* following an origin (docs/anycast.md) */
	struct nodehealth_cfg node;
};

struct service_port {
	struct dp_port port;
	struct dp_svc svc;
	bool has_exc;
	uint16_t exc_id;
	uint16_t exc_nq;
	int exc_fd[DP_PORT_FD_QUEUES]; /* the exception port's dp_port.rx_fd */
};

struct daemon {
	struct opts o;
	struct p53_answer_cfg acfg;
	struct dp_shared sh;
	struct service_port sp[DP_MAX_PORTS];
	unsigned nsp;
	struct dp_worker *w; /* nw workers, cache-line aligned */
	unsigned nw;
	struct rte_mempool *pool;
	struct qsbr *qsbr;	/* d->sh.qsbr behind the snapmgr's interface */
	struct control *ctl;	/* the control side shared with port53 serve */
	struct dp_xport *xport; /* TCP, TLS and QUIC threads */
	struct rconf *rconf;	/* NULL: authoritative only */
	struct resolver *res;
	struct dp_rdp *rdp;
	long idle_ms; /* --exit-when-idle in effect; 0 = off */
	uint64_t start_tsc;
	bool replay; /* exits when idle: the rate over the run means something */
};

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: port53d [--config FILE] [EAL options] [-- [options]]\n"
	    "       port53d --version | --help\n"
	    "      --config FILE         settings and EAL options from a port53.yaml(5)\n"
	    "                            file; EAL options and options given here\n"
	    "                            override the file's\n"
	    "  -s, --snapshot PATH       compiled snapshot (port53 compile -o ...)\n"
	    "  -a, --addr ADDR           service address, IPv4 or IPv6; repeat for more\n"
	    "  -m, --mac MAC             answer with this MAC (default: the port's)\n"
	    "  -e, --exception SPEC      kernel exception path: tap[:IFPREFIX], vdev:DEVARGS,\n"
	    "                            or none (default)\n"
	    "      --edns-size N         our EDNS UDP payload size (default 1232)\n"
	    "      --identity STR        CH TXT id.server / hostname.bind answer\n"
	    "      --version-string STR  CH TXT version.bind answer\n"
	    "      --drop-ports LIST     source ports never answered (default %s)\n"
	    "      --mtu N               L3 MTU bounding responses (default %u)\n"
	    "      --idle-after-us N     a worker whose queues stayed empty for N us\n"
	    "                            sleeps until a frame comes (default %u; on\n"
	    "                            descriptors adaptive up to %u, given: fixed)\n"
	    "      --idle-sleep-us N     its first nap, in us; 0 busy-polls always (default %u)\n"
	    "      --idle-sleep-max-us N naps double up to N us (default %u; N = the\n"
	    "                            first nap: fixed naps)\n"
	    "      --idle-wake fd|nap    fd: sleep on the queues' descriptors where every\n"
	    "                            queue has one (AF_XDP, tap), woken by a frame,\n"
	    "                            naps as timeouts (default); nap: naps only\n"
	    "      --exit-when-idle MS   exit when no frame arrived for MS (since start or\n"
	    "                            the last frame)\n"
	    "                            (default %u for net_pcap ports, else off)\n"
	    "      --control-socket PATH control API on a unix socket (mode 0600)\n"
	    "      --control-listen A:P  control API on TCP too, with a bearer token\n"
	    "      --control-token-file F the token for --control-listen\n"
	    "      --require-signature K accept only snapshots signed by public key K\n"
	    "                            (PEM; repeat for several keys)\n"
	    "      --health-checks FILE  Route 53 health checks (JSON, docs/route53.md)\n"
	    "      --firewall FILE       DNS Firewall rules (port53 fw-compile output)\n"
	    "      --resolver FILE       views, Resolver rules, recursion, private zones\n"
	    "                            (docs/resolver.md); a resolver thread on a\n"
	    "                            control core answers the views' clients\n"
	    "      --dnssec-keys DIR     zone-signing keys: sign answers that depend on\n"
	    "                            the query online (docs/dnssec.md)\n"
	    "      --dnssec-sig-time T   sign online as if the time were T (unix s; tests)\n"
	    "      --health-quorum SHARE healthy when more than SHARE of the reporting\n"
	    "                            checkers say so (default 0.18)\n"
	    "      --watch-dir DIR       load every *.p53 written or moved into DIR\n"
	    "      --origin-url URL      follow an origin (needs --require-signature);\n"
	    "      --origin-dir, --origin-interval-ms, --origin-timeout-ms,\n"
	    "      --origin-ca-file, --origin-header-file, --node-max-snapshot-age-s,\n"
	    "      --node-max-origin-silence-s, --node-worker-stall-ms,\n"
	    "      --node-min-signature-validity-s: as port53 serve's\n"
	    "                            (docs/anycast.md)\n"
	    "      --reload-dir DIR      POST /v1/reload {\"path\"} only inside DIR (else "
	    "refused)\n"
	    "      --snapshot-max-bytes N  largest snapshot loaded from a path (default 4 GiB)\n"
	    "      --push-max-bytes N    largest pushed snapshot (default 256 MiB)\n"
	    "      --api-max-conns N     control API connections (default 64)\n"
	    "      --api-per-source N    control API connections per client address on TCP\n"
	    "                            (default 4)\n"
	    "      --api-timeout-s N     idle control API connections closed (default 10)\n"
	    "      --api-header-ms N     TCP: request headers must arrive within N ms\n"
	    "                            (default 5000)\n"
	    "      --query-log FILE      log queries as JSON lines (off by default)\n"
	    "      --query-log-dnstap F  log queries as dnstap (Frame Streams)\n"
	    "      --query-log-sample N  log one query in N (default 1: all)\n"
	    "      --rrl-rate N          responses per second per client prefix, class\n"
	    "                            and name, per worker (default 200; 0 = off)\n"
	    "      --rrl-slip N          every Nth limited answer is sent truncated\n"
	    "                            (default 2; 0 = drop all)\n"
	    "      --rrl-ipv4-prefix N, --rrl-ipv6-prefix N  client prefix (24, 56)\n"
	    "      --rrl-table-size N    buckets per worker (default 131072)\n"
	    "      --rrl-exempt LIST     prefixes never limited (comma-separated)\n"
	    "      --cookies on|off      DNS Cookies, RFC 7873/9018 (default on)\n"
	    "      --cookie-secret-file F  secret shared by a fleet (hex; line 2: previous)\n"
	    "      --cookie-rotate S     random secret's lifetime (default 93600 s)\n"
	    "      --tcp                 DNS over TCP on port 53 (RFC 7766)\n"
	    "      --tcp-max-conns N, --tcp-per-source N, --tcp-idle-ms N, --tcp-msg-ms N,\n"
	    "      --tcp-lifetime-ms N, --tcp-out-max BYTES\n"
	    "                            limits of the TCP and TLS listeners (defaults\n"
	    "                            256, 16, 10000, 5000, 120000, 65536; docs/hardening.md)\n"
	    "      --tls                 DNS over TLS on port 853 (with --tls-cert)\n"
	    "      --quic                DNS over QUIC on UDP 853 (with --tls-cert)\n"
	    "      --quic-retry          validate every QUIC client's address with a Retry\n"
	    "                            (default: only with half the 256 slots taken)\n"
	    "      --quic-idle-ms N      QUIC idle timeout (default 10000)\n"
	    "      --tls-cert FILE       certificate chain (PEM) for TLS and QUIC\n"
	    "      --tls-key FILE        its private key (PEM); both reloaded on HUP\n"
	    "      --doh                 DNS over HTTPS (HTTP/2) on port 443 (RFC 8484)\n"
	    "      --doh-port N          its port instead of 443\n"
	    "      --doh-cert F, --doh-key F  its certificate (default: --tls-cert, --tls-key)\n"
	    "      --doh-path PATH       its path (default /dns-query)\n"
	    "      --doh-max-streams N   HTTP/2 streams per connection (default 100)\n"
	    "      --transport-netns NS  open the TCP/TLS/QUIC listeners in network\n"
	    "                            namespace NS (/run/netns/NS or a path),\n"
	    "                            where the exception path's kernel side is\n"
	    "zone transfers (docs/transfers.md; on the TCP and TLS listeners):\n"
	    "%s"
	    "signals: USR1 prints counters, HUP reloads the snapshot (and firewall),\n"
	    "         INT/TERM stop\n",
	    P53_PORTSET_DEFAULT_DROP, DP_DEFAULT_MTU, DEFAULT_IDLE_AFTER_US,
	    DEFAULT_IDLE_AFTER_FD_US, DEFAULT_IDLE_SLEEP_US, DEFAULT_IDLE_SLEEP_MAX_US,
	    PCAP_IDLE_MS, xfr_cfg_usage);
}

static void conf_to_stderr(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

/* Before EAL sees argv: --version, --help, and --config, whose settings
 * become options ahead of the user's (ctrl/conf.h). 1: exit with *rc. */
static int early_args(int *argc, char ***argv, struct conf **conf, int *rc)
{
	*rc = 0;
	if (*argc > 1 && !strcmp((*argv)[1], "--version")) {
		printf("port53d (port53) %s\n", P53_VERSION);
		return 1;
	}
	if (*argc > 1 && !strcmp((*argv)[1], "--help")) {
		usage(stdout);
		return 1;
	}
	bool bad;
	const char *path = conf_take_path(argc, *argv, false, &bad);
	*rc = 2;
	if (bad) {
		fprintf(stderr, "port53d: --config needs a FILE\n");
		return 1;
	}
	if (path == NULL)
		return 0;
	*rc = 1;
	*conf = conf_load(path, conf_to_stderr, NULL, NULL);
	if (*conf == NULL)
		return 1;
	*argc = conf_argv(*conf, CONF_PORT53D, *argc, *argv, argv);
	return *argc < 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -1;
		mac[i] = (uint8_t)v[i];
	}
	return (mac[0] & 1) ? -1 : 0; /* must be unicast */
}

static int parse_num(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum {
		O_EDNS = 256,
		O_ID,
		O_VER,
		O_DROP,
		O_MTU,
		O_IDLE,
		O_IDLE_AFTER,
		O_IDLE_SLEEP,
		O_IDLE_SLEEP_MAX,
		O_IDLE_WAKE,
		O_CSOCK,
		O_CLISTEN,
		O_CTOKEN,
		O_SIG,
		O_HEALTH,
		O_FW,
		O_RESOLVER,
		O_DNSSEC_KEYS,
		O_DNSSEC_TIME,
		O_QLOG,
		O_QLOG_TAP,
		O_QLOG_SAMPLE,
		O_QUORUM,
		O_WATCH,
		O_QUIC,
		O_QUIC_RETRY,
		O_QUIC_IDLE,
		O_TCP,
		O_TCP_MAX,
		O_TCP_PER_SRC,
		O_TCP_IDLE,
		O_TCP_MSG,
		O_TCP_LIFE,
		O_TCP_OUT,
		O_TLS,
		O_TLS_CERT,
		O_TLS_KEY,
		O_DOH,
		O_DOH_PORT,
		O_DOH_CERT,
		O_DOH_KEY,
		O_DOH_PATH,
		O_DOH_STREAMS,
		O_XNETNS,
		O_RELOAD_DIR,
		O_SNAP_MAX,
		O_PUSH_MAX,
		O_API_CONNS,
		O_API_PER_SRC,
		O_API_TIMEOUT,
		O_API_HEADER,
		O_ABUSE,
		O_CKFILE,
		O_CKROT,
		O_XFR,
		O_FLEET
	};
	static const struct option lo[] = {
	    {"snapshot", required_argument, NULL, 's'},
	    {"addr", required_argument, NULL, 'a'},
	    {"mac", required_argument, NULL, 'm'},
	    {"exception", required_argument, NULL, 'e'},
	    {"edns-size", required_argument, NULL, O_EDNS},
	    {"identity", required_argument, NULL, O_ID},
	    {"version-string", required_argument, NULL, O_VER},
	    {"drop-ports", required_argument, NULL, O_DROP},
	    {"mtu", required_argument, NULL, O_MTU},
	    {"exit-when-idle", required_argument, NULL, O_IDLE},
	    {"idle-after-us", required_argument, NULL, O_IDLE_AFTER},
	    {"idle-sleep-us", required_argument, NULL, O_IDLE_SLEEP},
	    {"idle-sleep-max-us", required_argument, NULL, O_IDLE_SLEEP_MAX},
	    {"idle-wake", required_argument, NULL, O_IDLE_WAKE},
	    {"control-socket", required_argument, NULL, O_CSOCK},
	    {"control-listen", required_argument, NULL, O_CLISTEN},
	    {"control-token-file", required_argument, NULL, O_CTOKEN},
	    {"require-signature", required_argument, NULL, O_SIG},
	    {"health-checks", required_argument, NULL, O_HEALTH},
	    {"firewall", required_argument, NULL, O_FW},
	    {"resolver", required_argument, NULL, O_RESOLVER},
	    {"dnssec-keys", required_argument, NULL, O_DNSSEC_KEYS},
	    {"dnssec-sig-time", required_argument, NULL, O_DNSSEC_TIME},
	    {"query-log", required_argument, NULL, O_QLOG},
	    {"query-log-dnstap", required_argument, NULL, O_QLOG_TAP},
	    {"query-log-sample", required_argument, NULL, O_QLOG_SAMPLE},
	    {"health-quorum", required_argument, NULL, O_QUORUM},
	    {"watch-dir", required_argument, NULL, O_WATCH},
	    {"quic", no_argument, NULL, O_QUIC},
	    {"quic-retry", no_argument, NULL, O_QUIC_RETRY},
	    {"quic-idle-ms", required_argument, NULL, O_QUIC_IDLE},
	    {"tcp", no_argument, NULL, O_TCP},
	    {"tcp-max-conns", required_argument, NULL, O_TCP_MAX},
	    {"tcp-per-source", required_argument, NULL, O_TCP_PER_SRC},
	    {"tcp-idle-ms", required_argument, NULL, O_TCP_IDLE},
	    {"tcp-msg-ms", required_argument, NULL, O_TCP_MSG},
	    {"tcp-lifetime-ms", required_argument, NULL, O_TCP_LIFE},
	    {"tcp-out-max", required_argument, NULL, O_TCP_OUT},
	    {"tls", no_argument, NULL, O_TLS},
	    {"tls-cert", required_argument, NULL, O_TLS_CERT},
	    {"tls-key", required_argument, NULL, O_TLS_KEY},
	    {"doh", no_argument, NULL, O_DOH},
	    {"doh-port", required_argument, NULL, O_DOH_PORT},
	    {"doh-cert", required_argument, NULL, O_DOH_CERT},
	    {"doh-key", required_argument, NULL, O_DOH_KEY},
	    {"doh-path", required_argument, NULL, O_DOH_PATH},
	    {"doh-max-streams", required_argument, NULL, O_DOH_STREAMS},
	    {"transport-netns", required_argument, NULL, O_XNETNS},
	    {"reload-dir", required_argument, NULL, O_RELOAD_DIR},
	    {"snapshot-max-bytes", required_argument, NULL, O_SNAP_MAX},
	    {"push-max-bytes", required_argument, NULL, O_PUSH_MAX},
	    {"api-max-conns", required_argument, NULL, O_API_CONNS},
	    {"api-per-source", required_argument, NULL, O_API_PER_SRC},
	    {"api-timeout-s", required_argument, NULL, O_API_TIMEOUT},
	    {"api-header-ms", required_argument, NULL, O_API_HEADER},
	    {"rrl-rate", required_argument, NULL, O_ABUSE},
	    {"rrl-slip", required_argument, NULL, O_ABUSE},
	    {"rrl-ipv4-prefix", required_argument, NULL, O_ABUSE},
	    {"rrl-ipv6-prefix", required_argument, NULL, O_ABUSE},
	    {"rrl-table-size", required_argument, NULL, O_ABUSE},
	    {"rrl-exempt", required_argument, NULL, O_ABUSE},
	    {"cookies", required_argument, NULL, O_ABUSE},
	    {"cookie-secret-file", required_argument, NULL, O_CKFILE},
	    {"cookie-rotate", required_argument, NULL, O_CKROT},
	    {"tsig-key", required_argument, NULL, O_XFR},
	    {"xfr-allow", required_argument, NULL, O_XFR},
	    {"notify", required_argument, NULL, O_XFR},
	    {"ixfr-depth", required_argument, NULL, O_XFR},
	    {"secondary", required_argument, NULL, O_XFR},
	    {"zone", required_argument, NULL, O_XFR},
	    {"secondary-dir", required_argument, NULL, O_XFR},
	    {"sign-keys", required_argument, NULL, O_XFR},
	    {"sig-validity", required_argument, NULL, O_XFR},
	    {"resign-interval", required_argument, NULL, O_XFR},
	    {"notify-allow", required_argument, NULL, O_XFR},
	    FLEETOPT_LONG(O_FLEET),
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long v;
	int c, li = 0;
	char why[160];

	dp_svc_init(&o->svc);
	p53_abuse_cfg_default(&o->abuse);
	follow_cfg_default(&o->origin);
	o->idle_ms = -1;
	o->idle_after_us = -1;
	o->idle_sleep_us = DEFAULT_IDLE_SLEEP_US;
	o->idle_sleep_max_us = -1;
	o->idle_fd = true;
	o->edns = 1232;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:a:m:e:h", lo, &li)) != -1) {
		switch (c) {
		case O_FLEET: /* the same options as port53 serve's */
			if (fleetopt_set(&o->origin, &o->node, lo[li].name, optarg, why,
					 sizeof(why))) {
				fprintf(stderr, "port53d: %s\n", why);
				return -1;
			}
			break;
		case O_ABUSE: /* the same options as port53 serve's */
			if (p53_abuse_cfg_set(&o->abuse, lo[li].name, optarg, why, sizeof(why))) {
				fprintf(stderr, "port53d: %s\n", why);
				return -1;
			}
			break;
		case O_XFR: /* the same options as port53 serve's */
			if (xfr_cfg_set(&o->xfr, lo[li].name, optarg, why, sizeof(why))) {
				fprintf(stderr, "port53d: %s\n", why);
				return -1;
			}
			break;
		case O_CKFILE:
			o->cookie_secret_file = optarg;
			break;
		case O_CKROT:
			if (parse_num(optarg, 60, 365L * 86400, &v) != 0)
				goto bad;
			o->cookie_rotate_s = (unsigned)v;
			break;
		case 's':
			o->snapshot = optarg;
			break;
		case 'a':
			if (dp_svc_add_addr(&o->svc, optarg) != 0) {
				fprintf(stderr, "port53d: bad or too many service addresses: %s\n",
					optarg);
				return -1;
			}
			break;
		case 'm':
			if (parse_mac(optarg, o->mac) != 0) {
				fprintf(stderr, "port53d: bad MAC: %s\n", optarg);
				return -1;
			}
			o->have_mac = true;
			break;
		case 'e':
			o->exception = strcmp(optarg, "none") == 0 ? NULL : optarg;
			break;
		case O_EDNS:
			if (parse_num(optarg, 512, 65535, &v) != 0)
				goto bad;
			o->edns = (unsigned)v;
			break;
		case O_ID:
			o->identity = optarg;
			break;
		case O_VER:
			o->version = optarg;
			break;
		case O_DROP:
			if (dp_svc_set_drop_ports(&o->svc, optarg) != 0)
				goto bad;
			break;
		case O_MTU:
			if (parse_num(optarg, 576, 9000, &v) != 0)
				goto bad;
			o->svc.mtu = (uint16_t)v;
			break;
		case O_IDLE:
			if (parse_num(optarg, 0, 86400000, &v) != 0)
				goto bad;
			o->idle_ms = v;
			break;
		case O_IDLE_AFTER:
			if (parse_num(optarg, 0, 10000000, &o->idle_after_us) != 0)
				goto bad;
			break;
		case O_IDLE_SLEEP:
			if (parse_num(optarg, 0, 100000, &o->idle_sleep_us) != 0)
				goto bad;
			break;
		case O_IDLE_SLEEP_MAX:
			if (parse_num(optarg, 1, 1000000, &o->idle_sleep_max_us) != 0)
				goto bad;
			break;
		case O_IDLE_WAKE:
			if (strcmp(optarg, "fd") == 0)
				o->idle_fd = true;
			else if (strcmp(optarg, "nap") == 0)
				o->idle_fd = false;
			else
				goto bad;
			break;
		case O_CSOCK:
			o->control_socket = optarg;
			break;
		case O_CLISTEN:
			o->control_listen = optarg;
			break;
		case O_CTOKEN:
			o->control_token = optarg;
			break;
		case O_SIG:
			if (o->ntrusted == MAX_KEYS)
				goto bad;
			o->trusted[o->ntrusted++] = optarg;
			break;
		case O_HEALTH:
			o->health_checks = optarg;
			break;
		case O_FW:
			o->firewall = optarg;
			break;
		case O_RESOLVER:
			o->resolver = optarg;
			break;
		case O_DNSSEC_KEYS:
			o->dnssec_keys = optarg;
			break;
		case O_DNSSEC_TIME: {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > UINT32_MAX)
				goto bad;
			o->dnssec_sig_time = (int64_t)n;
			break;
		}
		case O_QLOG:
			o->query_log = optarg;
			break;
		case O_QLOG_TAP:
			o->query_log_dnstap = optarg;
			break;
		case O_QUIC:
			o->xport.quic = true;
			break;
		case O_QUIC_RETRY:
			o->xport.quic_retry = true;
			break;
		case O_QUIC_IDLE:
			if (parse_num(optarg, 1, 100000000, &v) != 0)
				goto bad;
			o->xport.quic_idle_ms = (unsigned)v;
			break;
		case O_TCP:
			o->xport.tcp = true;
			break;
		case O_TCP_MAX:
		case O_TCP_PER_SRC:
		case O_TCP_IDLE:
		case O_TCP_MSG:
		case O_TCP_LIFE:
		case O_TCP_OUT:
			/* docs/hardening.md: limits of every TCP and TLS listener */
			if (parse_num(optarg, 1, 100000000, &v) != 0)
				goto bad;
			if (c == O_TCP_MAX)
				o->xport.tcp_lim.max_conns = (unsigned)v;
			else if (c == O_TCP_PER_SRC)
				o->xport.tcp_lim.per_source = (unsigned)v;
			else if (c == O_TCP_IDLE)
				o->xport.tcp_lim.idle_ms = (unsigned)v;
			else if (c == O_TCP_MSG)
				o->xport.tcp_lim.msg_ms = (unsigned)v;
			else if (c == O_TCP_LIFE)
				o->xport.tcp_lim.lifetime_ms = (unsigned)v;
			else
				o->xport.tcp_lim.out_max = (size_t)v;
			break;
		case O_TLS:
			o->xport.tls = true;
			break;
		case O_TLS_CERT:
			o->xport.tls_cert = optarg;
			break;
		case O_TLS_KEY:
			o->xport.tls_key = optarg;
			break;
		case O_DOH:
			o->xport.doh = true;
			break;
		case O_DOH_PORT:
			if (parse_num(optarg, 1, 65535, &v) != 0)
				goto bad;
			o->xport.doh_port = (unsigned)v;
			break;
		case O_DOH_CERT:
			o->xport.doh_cert = optarg;
			break;
		case O_DOH_KEY:
			o->xport.doh_key = optarg;
			break;
		case O_DOH_PATH:
			if (!doh_path_valid(optarg))
				goto bad;
			o->xport.doh_lim.path = optarg;
			break;
		case O_DOH_STREAMS:
			if (parse_num(optarg, 1, 10000, &v) != 0)
				goto bad;
			o->xport.doh_lim.max_streams = (unsigned)v;
			break;
		case O_XNETNS:
			o->xport.netns = optarg;
			break;
		case O_WATCH:
			o->watch_dir = optarg;
			break;
		case O_RELOAD_DIR:
			o->reload_dir = optarg;
			break;
		case O_SNAP_MAX:
		case O_PUSH_MAX: {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > (1ULL << 40))
				goto bad;
			if (c == O_SNAP_MAX)
				o->snapshot_max_bytes = n;
			else
				o->push_max_bytes = (size_t)n;
			break;
		}
		case O_API_CONNS:
		case O_API_PER_SRC:
		case O_API_TIMEOUT:
		case O_API_HEADER:
			if (parse_num(optarg, 1, 100000000, &v) != 0)
				goto bad;
			if (c == O_API_CONNS)
				o->api_limits.max_conns = (unsigned)v;
			else if (c == O_API_PER_SRC)
				o->api_limits.per_source = (unsigned)v;
			else if (c == O_API_TIMEOUT)
				o->api_limits.timeout_s = (unsigned)v;
			else
				o->api_limits.header_ms = (unsigned)v;
			break;
		case O_QUORUM: {
			char *end;
			o->health_quorum = strtod(optarg, &end);
			if (*end || !(o->health_quorum > 0 && o->health_quorum < 1))
				goto bad;
			break;
		}
		case O_QLOG_SAMPLE:
			if (parse_num(optarg, 1, 1000000000, &v) != 0)
				goto bad;
			o->query_log_sample = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
		continue;
	bad:
		for (const struct option *x = lo; x->name; x++)
			if (x->val == c)
				fprintf(stderr, "port53d: --%s: bad value '%s'\n", x->name, optarg);
		return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "port53d: unexpected argument: %s\n", argv[optind]);
		return -1;
	}
	bool secondary = xfr_cfg_builds(&o->xfr) && o->xfr.dir; /* writes its own snapshot */
	if ((!o->snapshot && !secondary) || (o->svc.n4 == 0 && o->svc.n6 == 0)) {
		fprintf(stderr, "port53d: need --snapshot (or --secondary and --secondary-dir) "
				"and at least one --addr\n");
		usage(stderr);
		return -1;
	}
	return 0;
}

static void print_stats(struct daemon *d, FILE *out)
{
	const struct dp_stats *st[RTE_MAX_LCORE];
	const struct p53_ctx *cx[RTE_MAX_LCORE];
	for (unsigned i = 0; i < d->nw; i++) {
		st[i] = &d->w[i].stats;
		cx[i] = &d->w[i].ctx;
	}
	dp_stats_print(out, st, cx, d->nw);
}

static void print_rate(struct daemon *d)
{
	uint64_t first = UINT64_MAX, last = 0, rx = 0, ans = 0;
	for (unsigned i = 0; i < d->nw; i++) {
		const struct dp_stats *s = &d->w[i].stats;
		if (s->first_rx_tsc && s->first_rx_tsc < first)
			first = s->first_rx_tsc;
		if (s->last_rx_tsc > last)
			last = s->last_rx_tsc;
		rx += s->c[DP_C_RX];
		/* Every response sent: the engine's and the resolver's. */
		ans += s->c[DP_C_ANSWERED] + s->c[DP_C_RES_CACHE_HIT] + s->c[DP_C_RES_TX];
	}
	if (!rx || last <= first)
		return;
	double secs = (double)(last - first) / (double)rte_get_tsc_hz();
	printf("port53d: %" PRIu64 " frames, %" PRIu64 " answered in %.3f s: %.0f frames/s, "
	       "%.0f answers/s\n",
	       rx, ans, secs, (double)rx / secs, (double)ans / secs);
}

/* /v1/stats and /metrics: the engine's counters and the data plane's, per
 * worker, read without locks (each counter has one writer). */
static void counters(void *arg, api_emit_fn emit, void *sink)
{
	struct daemon *d = arg;
	dp_xport_counters(d->xport, emit, sink);
	resolver_counters(d->res, emit, sink);
	dp_rdp_counters(d->rdp, emit, sink);
	for (unsigned i = 0; i < d->nw; i++) {
		const struct dp_stats *st = &d->w[i].stats;
		api_emit_engine(emit, sink, i, d->w[i].ctx.stats);
		for (int c = 0; c < DP_C__COUNT; c++)
			emit(sink, "dataplane", "counter", dp_ctr_name((enum dp_ctr)c), i,
			     __atomic_load_n(&st->c[c], __ATOMIC_RELAXED));
		for (int r = 0; r < DP_R__COUNT; r++)
			emit(sink, "classified", "outcome", dp_reason_name((enum dp_reason)r), i,
			     __atomic_load_n(&st->reason[r], __ATOMIC_RELAXED));
		for (int a = 0; a < P53_AB__COUNT; a++)
			emit(sink, "abuse", "outcome", p53_abuse_stat_name((enum p53_abuse_stat)a),
			     i, __atomic_load_n(&d->w[i].abuse.stats[a], __ATOMIC_RELAXED));
		api_emit_latency(
		    emit, sink, i, &st->lat,
		    lathist_ns(__atomic_load_n(&st->busy_tsc, __ATOMIC_RELAXED), d->sh.ns_mul));
	}
}

static bool idle_expired(struct daemon *d, long idle_ms)
{
	uint64_t last = d->start_tsc;
	for (unsigned i = 0; i < d->nw; i++)
		if (d->w[i].stats.last_rx_tsc > last)
			last = d->w[i].stats.last_rx_tsc;
	return rte_rdtsc() - last > (uint64_t)idle_ms * rte_get_tsc_hz() / 1000;
}

/* Control-side callbacks, on the control thread. */
static void on_stop(void *arg)
{
	struct daemon *d = arg;
	atomic_store(&d->sh.quit, true);
}

static void on_usr1(void *arg)
{
	print_stats(arg, stdout);
}

/* Node health's heartbeat: each worker's poll-loop count, which a worker
 * that spins idle still advances. */
static unsigned beats(void *arg, uint64_t *out, unsigned max)
{
	struct daemon *d = arg;
	unsigned n = d->nw < max ? d->nw : max;
	for (unsigned i = 0; i < n; i++)
		out[i] = __atomic_load_n(&d->w[i].stats.loops, __ATOMIC_RELAXED);
	return n;
}

static void on_hup(void *arg)
{
	struct daemon *d = arg;
	dp_xport_reload(d->xport);
	struct p53_err err = {0};
	if (d->res && resolver_reload(d->res, &err) != 0)
		fprintf(stderr, "port53d: private zones not reloaded, the old ones serve: %s\n",
			err.msg);
}

/* pcap replay: stop once the input ran dry. Also keeps the workers' wall
 * clock (cookie timestamps) current. */
static bool on_tick(void *arg)
{
	struct daemon *d = arg;
	atomic_store_explicit(&d->sh.unix_s, (uint32_t)time(NULL), memory_order_relaxed);
	return d->idle_ms > 0 && d->start_tsc && idle_expired(d, d->idle_ms);
}

static struct p53_rrl *rrl_of(void *arg, unsigned worker)
{
	struct daemon *d = arg;
	return worker < d->nw ? d->w[worker].abuse.rrl : NULL;
}

/* Each worker's rate-limit table, before the control side starts (it reads
 * them for the log); the cookie secret comes from the control side. */
static int start_abuse(struct daemon *d)
{
	d->sh.tsc0 = rte_rdtsc();
	d->sh.tsc_per_ms = rte_get_tsc_hz() / 1000 ? rte_get_tsc_hz() / 1000 : 1;
	d->sh.ns_mul = lathist_ns_mul(rte_get_tsc_hz());
	atomic_store(&d->sh.unix_s, (uint32_t)time(NULL));
	for (unsigned i = 0; i < d->nw; i++) {
		uint8_t seed[16];
		if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) ||
		    p53_abuse_init(&d->w[i].abuse, &d->o.abuse, NULL, seed) != 0) {
			fprintf(stderr, "port53d: rate limiting: out of memory\n");
			return -1;
		}
	}
	return 0;
}

/* Control threads run on the EAL's control CPU set, never on a worker's. */
static int spawn_ctrl(pthread_t *t, const char *name, void *(*fn)(void *), void *arg)
{
	return rte_ctrl_thread_create(t, name, NULL, fn, arg);
}

static void mac_str(const uint8_t *m, char *s)
{
	sprintf(s, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* AF_XDP mode: the PMD attached our XDP program during queue setup; it
 * steers nothing to us until it knows the service addresses. */
static int fill_xdp_addrs(const struct daemon *d, const struct service_port *sp)
{
#ifdef P53_HAVE_XDP
	struct rte_eth_dev_info di;
	char ifname[IF_NAMESIZE];
	struct dp_xdp x;
	int rc;

	if (rte_eth_dev_info_get(sp->port.id, &di) != 0 || di.if_index == 0 ||
	    !if_indextoname(di.if_index, ifname)) {
		fprintf(stderr, "port53d: port %u: cannot find the AF_XDP interface\n",
			sp->port.id);
		return -1;
	}
	rc = dp_xdp_open(&x, ifname);
	if (rc != 0) {
		fprintf(stderr,
			"port53d: %s: port53's XDP program is not attached (%s); pass "
			"xdp_prog=p53_xdp.bpf.o to net_af_xdp\n",
			ifname, strerror(-rc));
		return -1;
	}
	for (unsigned i = 0; i < d->o.svc.n4 && rc == 0; i++)
		rc = dp_xdp_add_addr(&x, AF_INET, d->o.svc.v4[i]);
	for (unsigned i = 0; i < d->o.svc.n6 && rc == 0; i++)
		rc = dp_xdp_add_addr(&x, AF_INET6, d->o.svc.v6[i]);
	/* A secondary takes NOTIFY on a kernel socket (dp/xport.c). */
	if (rc == 0 && d->o.xfr.nsecondary > 0) {
		uint16_t port;
		uint32_t flags;
		rc = dp_xdp_get_config(&x, &port, &flags);
		if (rc == 0)
			rc = dp_xdp_set_config(&x, port, flags | P53_XDP_F_PASS_NOTIFY);
	}
	dp_xdp_close(&x);
	if (rc != 0) {
		fprintf(stderr, "port53d: %s: filling the XDP address map: %s\n", ifname,
			strerror(-rc));
		return -1;
	}
	printf("port53d: %s: XDP program steers UDP/53 for %u service addresses\n", ifname,
	       d->o.svc.n4 + d->o.svc.n6);
	return 0;
#else
	(void)d;
	fprintf(stderr, "port53d: port %u: built without libbpf, cannot program XDP\n",
		sp->port.id);
	return -1;
#endif
}

static int setup_ports(struct daemon *d)
{
	char err[256], mac[18];
	uint16_t pid;
	uint16_t ids[DP_MAX_PORTS];
	unsigned n = 0;

	/* Service ports are those EAL made; exception ports come after. */
	RTE_ETH_FOREACH_DEV(pid)
	{
		if (n == DP_MAX_PORTS) {
			fprintf(stderr, "port53d: more than %d ports\n", DP_MAX_PORTS);
			return -1;
		}
		ids[n++] = pid;
	}
	if (n == 0) {
		fprintf(stderr, "port53d: no ports (give a PCI device or --vdev)\n");
		return -1;
	}
	unsigned per_q = 2 * 1024 + 2 * DP_BURST;
	unsigned nmbuf = n * (d->o.exception ? 2 : 1) * d->nw * per_q + d->nw * 512 + 4096;
	if (d->o.resolver)
		nmbuf += d->nw * DP_RDP_RING; /* responses waiting in the return rings */
	d->pool = rte_pktmbuf_pool_create("p53_mbufs", nmbuf, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	if (!d->pool) {
		fprintf(stderr, "port53d: mbuf pool of %u: %s\n", nmbuf, rte_strerror(rte_errno));
		return -1;
	}

	for (unsigned i = 0; i < n; i++) {
		struct service_port *sp = &d->sp[i];
		uint8_t pmac[6];
		struct rte_ether_addr ea;

		if (rte_eth_macaddr_get(ids[i], &ea) != 0)
			memset(&ea, 0, sizeof(ea));
		memcpy(pmac, ea.addr_bytes, 6);
		bool promisc = d->o.have_mac && memcmp(pmac, d->o.mac, 6) != 0;
		if (dp_port_setup(ids[i], (uint16_t)d->nw, d->pool, promisc, &sp->port, err,
				  sizeof(err)) != 0) {
			fprintf(stderr, "port53d: %s\n", err);
			return -1;
		}
		d->nsp++;
		sp->svc = d->o.svc;
		memcpy(sp->svc.mac, d->o.have_mac ? d->o.mac : sp->port.mac, 6);
		mac_str(sp->svc.mac, mac);
		printf("port53d: port %u %s (%s): %u queue%s%s%s%s, answering as %s\n", ids[i],
		       sp->port.name, sp->port.driver, sp->port.nq, sp->port.nq == 1 ? "" : "s",
		       sp->port.rss ? ", rss" : "", sp->port.rx_csum ? ", rx-csum" : "",
		       sp->port.tx_flags ? ", tx-csum" : "", mac);
		if (sp->port.nq < d->nw)
			fprintf(stderr,
				"port53d: warning: port %u has %u queues for %u workers; the "
				"others do not poll it\n",
				ids[i], sp->port.nq, d->nw);

		if (strcmp(sp->port.driver, "net_af_xdp") == 0) {
			/* Non-DNS already stays with the kernel in this mode. */
			if (fill_xdp_addrs(d, sp) != 0)
				return -1;
			continue;
		}
		if (!d->o.exception)
			continue;
		if (dp_excp_create(d->o.exception, i, sp->svc.mac, sp->port.nq, &sp->exc_id, err,
				   sizeof(err)) != 0) {
			fprintf(stderr, "port53d: %s\n", err);
			return -1;
		}
		struct dp_port ep;
		if (dp_port_setup(sp->exc_id, sp->port.nq, d->pool, false, &ep, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "port53d: %s\n", err);
			dp_excp_destroy(sp->exc_id);
			return -1;
		}
		sp->has_exc = true;
		sp->exc_nq = ep.nq;
		memcpy(sp->exc_fd, ep.rx_fd, sizeof(sp->exc_fd));
		printf("port53d: exception port %u %s (%s): %u queue%s\n", sp->exc_id, ep.name,
		       ep.driver, ep.nq, ep.nq == 1 ? "" : "s");
	}
	return 0;
}

static void close_ports(struct daemon *d)
{
	for (unsigned i = 0; i < d->nsp; i++) {
		if (d->sp[i].has_exc)
			dp_excp_destroy(d->sp[i].exc_id);
		dp_port_close(d->sp[i].port.id);
	}
}

static int setup_workers(struct daemon *d)
{
	/* Readers: the workers, then the transport threads (dp/xport.h),
	 * then the resolver thread. */
	unsigned nreaders = d->nw + DP_XPORT_READERS + 1;
	size_t qs = rte_rcu_qsbr_get_memsize(nreaders);
	/* Unset, a worker on descriptors waits less before sleeping: a frame
	 * wakes it at once, where a nap would delay it. */
	long after = d->o.idle_after_us >= 0 ? d->o.idle_after_us : DEFAULT_IDLE_AFTER_US;
	long after_fd = d->o.idle_after_us >= 0 ? d->o.idle_after_us : DEFAULT_IDLE_AFTER_FD_US;
	d->sh.idle_after_tsc = (uint64_t)after * rte_get_tsc_hz() / 1000000;
	d->sh.idle_after_fd_tsc = (uint64_t)after_fd * rte_get_tsc_hz() / 1000000;
	d->sh.idle_sleep_ns = d->o.idle_sleep_us * 1000;
	/* The cap never below the first nap: equal gives fixed naps. */
	long max_us =
	    d->o.idle_sleep_max_us >= 0 ? d->o.idle_sleep_max_us : DEFAULT_IDLE_SLEEP_MAX_US;
	d->sh.idle_sleep_max_ns =
	    (max_us > d->o.idle_sleep_us ? max_us : d->o.idle_sleep_us) * 1000;
	d->sh.idle_fd = d->o.idle_fd;
	d->sh.idle_adapt = d->o.idle_after_us < 0;

	d->sh.qsbr = rte_zmalloc("p53_qsbr", qs, RTE_CACHE_LINE_SIZE);
	d->w = rte_zmalloc("p53_workers", sizeof(*d->w) * d->nw, RTE_CACHE_LINE_SIZE);
	if (!d->sh.qsbr || !d->w || rte_rcu_qsbr_init(d->sh.qsbr, nreaders) != 0) {
		fprintf(stderr, "port53d: out of memory for workers\n");
		return -1;
	}
	for (unsigned i = 0; i < d->nw; i++) {
		struct dp_worker *w = &d->w[i];
		w->sh = &d->sh;
		w->idx = i;
		p53_ctx_init(&w->ctx, &d->acfg, rte_rdtsc() ^ (0x9e3779b97f4a7c15ULL * (i + 1)));
		w->ctx.worker = i; /* its own Hyperscan scratch and hit counters */
		for (unsigned p = 0; p < d->nsp; p++) {
			const struct service_port *sp = &d->sp[p];
			if (i >= sp->port.nq)
				continue;
			struct dp_wq *q = &w->q[w->nq++];
			q->svc = &sp->svc;
			q->port = sp->port.id;
			q->queue = (uint16_t)i;
			q->tx_flags = sp->port.tx_flags;
			q->has_exc = sp->has_exc && i < sp->exc_nq;
			q->notify_exc = q->has_exc && d->o.xfr.nsecondary > 0;
			q->exc_port = sp->exc_id;
			q->sp = (uint16_t)p;
			q->rx_fd = i < DP_PORT_FD_QUEUES ? sp->port.rx_fd[i] : -1;
			q->exc_fd = q->has_exc && i < DP_PORT_FD_QUEUES ? sp->exc_fd[i] : -1;
		}
		if (d->sh.idle_sleep_ns && w->nq)
			printf("port53d: worker %u sleeps when idle %s\n", i,
			       dp_worker_idle_fds(w) ? "on its queues' descriptors"
						     : "in naps (a queue has no descriptor)");
	}
	return 0;
}

/* DPDK telemetry (dpdk-telemetry.py, or the socket under the EAL runtime
 * directory): the same counters as /metrics. Telemetry callbacks take no
 * context, hence the one static pointer. */
static struct daemon *tel_daemon;

static int tel_stats(const char *cmd, const char *params, struct rte_tel_data *out)
{
	const struct daemon *d = tel_daemon;
	(void)cmd;
	long only = -1;
	if (params && *params && parse_num(params, 0, (long)d->nw - 1, &only) != 0)
		return -EINVAL;
	uint64_t eng[P53_STAT__COUNT] = {0}, dp[DP_C__COUNT] = {0}, rc[16] = {0};
	for (unsigned i = 0; i < d->nw; i++) {
		if (only >= 0 && (long)i != only)
			continue;
		const struct dp_worker *w = &d->w[i];
		for (int k = 0; k < P53_STAT__COUNT; k++)
			eng[k] += __atomic_load_n(&w->ctx.stats[k], __ATOMIC_RELAXED);
		for (int k = 0; k < DP_C__COUNT; k++)
			dp[k] += __atomic_load_n(&w->stats.c[k], __ATOMIC_RELAXED);
		for (int k = 0; k < 16; k++)
			rc[k] += __atomic_load_n(&w->stats.rcode[k], __ATOMIC_RELAXED);
	}
	rte_tel_data_start_dict(out);
	for (int k = 0; k < DP_C__COUNT; k++)
		rte_tel_data_add_dict_u64(out, dp_ctr_name((enum dp_ctr)k), dp[k]);
	for (int k = 0; k < P53_STAT__COUNT; k++) {
		char name[64];
		snprintf(name, sizeof(name), "engine_%s", p53_stat_name((enum p53_stat)k));
		rte_tel_data_add_dict_u64(out, name, eng[k]);
	}
	static const char *const rcodes[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					       "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
					       "NXRRSET", "NOTAUTH", "NOTZONE"};
	for (int k = 0; k < 16; k++)
		if (rcodes[k]) {
			char name[32];
			snprintf(name, sizeof(name), "rcode_%s", rcodes[k]);
			rte_tel_data_add_dict_u64(out, name, rc[k]);
		}
	return 0;
}

static void tel_snapshot_info(void *arg, const struct snapmgr_live *live,
			      const struct snapmgr_stats *st)
{
	(void)st;
	if (live)
		p53_snapshot_info(live->snap, arg);
}

static int tel_snapshot(const char *cmd, const char *params, struct rte_tel_data *out)
{
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(out);
	rte_tel_data_add_dict_u64(out, "workers", tel_daemon->nw);
	/* The live snapshot may be swapped meanwhile: read it under the
	 * manager's lock, as the control API does. */
	struct p53_snapshot_info in = {0};
	snapmgr_view(tel_daemon->sh.mgr, tel_snapshot_info, &in);
	rte_tel_data_add_dict_u64(out, "serial", in.serial);
	rte_tel_data_add_dict_u64(out, "zones", in.zones);
	rte_tel_data_add_dict_u64(out, "created", in.created);
	return 0;
}

static void register_telemetry(struct daemon *d)
{
	tel_daemon = d;
	rte_telemetry_register_cmd("/port53/stats", tel_stats,
				   "port53 data-plane and engine counters. Parameters: int worker");
	rte_telemetry_register_cmd("/port53/snapshot", tel_snapshot,
				   "port53 live snapshot: serial, zones, creation time");
}

/* The resolver (docs/resolver.md) on a control thread, its hand-off rings
 * (one per worker, one for the TCP/TLS thread) and the workers' return
 * rings (dp/rdp.h). */
static int start_resolver(struct daemon *d, struct p53_err *err)
{
	if (d->nw + 2 > RESOLVER_MAX_PRODUCERS) {
		p53_err_set(err, P53_EINVAL, "--resolver: at most %u workers",
			    RESOLVER_MAX_PRODUCERS - 2);
		return -1;
	}
	if ((d->rconf = rconf_load(d->o.resolver, err)) == NULL)
		return -1;
	unsigned rid = d->nw + DP_XPORT_READERS;
	struct resolver_cfg rcfg = {
	    .rc = d->rconf,
	    .mgr = control_mgr(d->ctl),
	    .qsbr = d->qsbr,
	    .reader = rid,
	    .fw_worker = rid,
	    .qlog = control_qlog_ring(d->ctl, rid),
	    .edns_udp_max = (uint16_t)d->o.edns,
	    .producers = d->nw + 2, /* the workers, the TCP/TLS thread, QUIC's */
	    .name = "port53d",
	    .spawn = spawn_ctrl,
	    .share = true, /* cache hits served by the workers */
	};
	if ((d->res = resolver_start(&rcfg, err)) == NULL)
		return -1;
	struct dp_rdp_cfg xc = {
	    .rc = d->rconf,
	    .res = d->res,
	    .mgr = control_mgr(d->ctl),
	    .pool = d->pool,
	    .nw = d->nw,
	    .tcp = d->nw,
	    .quic = d->nw + 1,
	    .nsp = d->nsp,
	};
	for (unsigned i = 0; i < d->nsp; i++) {
		xc.svc[i] = &d->sp[i].svc;
		xc.port[i] = d->sp[i].port.id;
	}
	char msg[256];
	if ((d->rdp = dp_rdp_new(&xc, msg, sizeof(msg))) == NULL) {
		p53_err_set(err, P53_ENOMEM, "%s", msg);
		return -1;
	}
	for (unsigned i = 0; i < d->nw; i++) {
		d->w[i].rdp = d->rdp;
		d->w[i].ret = d->rdp->ret[i];
	}
	printf("port53d: resolver: %u views, %u rules%s, on a control thread\n", d->rconf->nviews,
	       d->rconf->nrules, d->rdp->private ? ", private zones" : "");
	return 0;
}

/* The shared control side over the workers' QSBR variable: the first
 * snapshot, health checker, query log, API and watcher. Workers are not
 * running yet: the first load publishes with nobody to wait for. */
static int start_control(struct daemon *d)
{
	struct p53_err err = {0};
	d->idle_ms = d->o.idle_ms;
	if (d->idle_ms < 0) {
		d->idle_ms = 0;
		for (unsigned i = 0; i < d->nsp; i++)
			if (strcmp(d->sp[i].port.driver, "net_pcap") == 0)
				d->idle_ms = PCAP_IDLE_MS;
	}
	d->replay = d->idle_ms > 0;
	d->qsbr = qsbr_dpdk_wrap(d->sh.qsbr);
	if (d->qsbr == NULL) {
		fprintf(stderr, "port53d: out of memory\n");
		return -1;
	}
	struct control_cfg cc = {
	    .name = "port53d",
	    .server_name = "port53d",
	    .snapshot_path = d->o.snapshot,
	    .firewall_path = d->o.firewall,
	    .dnssec_keys = d->o.dnssec_keys,
	    .osign = {.fixed_now = d->o.dnssec_sig_time},
	    .health_checks = d->o.health_checks,
	    .health_quorum = d->o.health_quorum,
	    .trusted_keys = d->o.trusted,
	    .ntrusted = d->o.ntrusted,
	    .snapshot_max_bytes = d->o.snapshot_max_bytes,
	    .control_socket = d->o.control_socket,
	    .control_listen = d->o.control_listen,
	    .control_token_file = d->o.control_token,
	    .push_max_bytes = d->o.push_max_bytes,
	    .reload_dir = d->o.reload_dir,
	    .api_limits = d->o.api_limits,
	    .watch_dir = d->o.watch_dir,
	    .query_log = d->o.query_log,
	    .query_log_dnstap = d->o.query_log_dnstap,
	    .query_log_sample = d->o.query_log_sample,
	    /* Firewall scratches and log rings: workers, then transports,
	     * then the resolver. */
	    .nworkers = d->nw + DP_XPORT_READERS + 1,
	    .qsbr = d->qsbr,
	    .counters = counters,
	    .counters_arg = d,
	    .on_stop = on_stop,
	    .on_usr1 = on_usr1,
	    .on_hup = on_hup,
	    .on_tick = on_tick,
	    .arg = d,
	    .spawn = spawn_ctrl,
	    .cookies = d->o.abuse.cookies,
	    .cookie_secret_file = d->o.cookie_secret_file,
	    .cookie_rotate_s = d->o.cookie_rotate_s,
	    .rrl_of = rrl_of,
	    .xfr = &d->o.xfr,
	    .origin = d->o.origin,
	    .node = d->o.node,
	    .beats = beats,
	};
	if (start_abuse(d) != 0)
		return -1;
	if ((d->ctl = control_start(&cc, &err)) == NULL) {
		fprintf(stderr, "port53d: %s\n", err.msg[0] ? err.msg : "control side failed");
		return -1;
	}
	for (unsigned i = 0; i < d->nw; i++) {
		d->w[i].abuse.secret = control_cookies(d->ctl);
		d->w[i].ctx.cookies = d->w[i].abuse.secret != NULL;
	}
	d->sh.mgr = control_mgr(d->ctl);
	for (unsigned i = 0; i < d->nw; i++)
		d->w[i].qlog = control_qlog_ring(d->ctl, i);
	if (d->o.resolver && start_resolver(d, &err) != 0) {
		fprintf(stderr, "port53d: %s\n", err.msg);
		return -1;
	}
	struct dp_xport_cfg xc = d->o.xport;
	xc.route = d->rdp ? &d->rdp->route : NULL;
	xc.quic_route = d->rdp ? &d->rdp->quic_route : NULL;
	xc.svc = &d->o.svc;
	xc.ctl = d->ctl;
	xc.qsbr = d->qsbr;
	xc.nworkers = d->nw;
	xc.answer = &d->acfg;
	xc.spawn = spawn_ctrl;
	if ((d->xport = dp_xport_start(&xc, &err)) == NULL) {
		fprintf(stderr, "port53d: %s\n", err.msg);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct daemon d; /* big (per-port svc bitmaps): keep it off the stack */
	int rc = 1;
	struct conf *conf = NULL;
	if (early_args(&argc, &argv, &conf, &rc))
		return rc;

	/* Blocked here, inherited by every EAL thread: only the control thread
	 * takes signals, with sigtimedwait, so no handler runs on a worker. */
	control_block_signals();
	/* A TLS client that hangs up while OpenSSL writes would otherwise
	 * kill the process: the write fails with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);

	int used = rte_eal_init(argc, argv);
	if (used < 0) {
		fprintf(stderr, "port53d: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argc -= used;
	argv += used;
	if (parse_opts(argc, argv, &d.o) != 0)
		goto out_eal;

	p53_answer_cfg_default(&d.acfg);
	d.acfg.edns_udp_max = (uint16_t)d.o.edns;
	d.acfg.identity = d.o.identity;
	d.acfg.version = d.o.version;

	atomic_init(&d.sh.quit, false);
	d.nw = rte_lcore_count();
	if (setup_ports(&d) != 0 || setup_workers(&d) != 0 || start_control(&d) != 0)
		goto out_ports;
	register_telemetry(&d);

	d.start_tsc = rte_rdtsc();
	printf("port53d: %u worker%s serving %u IPv4 + %u IPv6 addresses\n", d.nw,
	       d.nw == 1 ? "" : "s", d.o.svc.n4, d.o.svc.n6);
	fflush(stdout);

	unsigned lcore, i = 0, main_idx = 0;
	RTE_LCORE_FOREACH(lcore)
	{
		if (lcore == rte_get_main_lcore())
			main_idx = i;
		else
			rte_eal_remote_launch(dp_worker_main, &d.w[i], lcore);
		i++;
	}
	dp_worker_main(&d.w[main_idx]);
	rte_eal_mp_wait_lcore();
	atomic_store(&d.sh.quit, true);

	print_stats(&d, stdout);
	if (d.replay)
		print_rate(&d);
	rc = 0;
out_ports:
	control_quiesce(d.ctl); /* the API reads the transports' counters */
	resolver_halt(d.res);	/* no response is built after this */
	dp_xport_stop(d.xport); /* readers of the snapshot manager too */
	resolver_stop(d.res);	/* after the TCP thread, which submits */
	dp_rdp_free(d.rdp);	/* the mbufs left in the return rings */
	control_stop(d.ctl);	/* after the workers: nothing reads the snapshot */
	rconf_free(d.rconf);
	qsbr_destroy(d.qsbr);
	for (unsigned k = 0; d.w && k < d.nw; k++)
		p53_abuse_fini(&d.w[k].abuse);
	close_ports(&d);
	rte_free(d.w);
	rte_free(d.sh.qsbr);
	rte_mempool_free(d.pool);
out_eal:
	rte_eal_cleanup();
	conf_free(conf);
	return rc;
}
