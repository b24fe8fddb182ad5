/* p53-querygen: writes a reproducible mix of DNS queries for the zones given,
 * as a pcap (for replay and port53d's net_pcap port) and/or as a "name TYPE"
 * list (dnsperf -d, kxdpgun -i).
 *
 * Everything random comes from one seeded generator consumed in a fixed
 * order, so the same command line writes the same bytes; benchmarks ship the
 * command (a preset), not the capture. See docs/benchmarks.md for the presets.
 */
#include "frame.h"
#include "pcapio.h"
#include "qbuild.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"
#include "zones/compile/zparse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shares are percentages of all queries. The four "what is asked" shares
 * (nxdomain, random-subdomain, nodata, existing = the rest) partition the
 * mix; the EDNS ones are independent draws per query. */
struct mix {
	const char *name;
	const char *what;
	double nxdomain, water, nodata;
	double edns, dnssec_ok, ecs, casernd, ipv6;
};

/* One preset per block, fields in struct order: the wrapped form clang-format
 * would make hides which number is which share. */
/* clang-format off */
static const struct mix presets[] = {
	{"default",
	 "typical authoritative traffic: 85% existing names by record type, "
	 "10% NXDOMAIN, 5% NODATA; 70% EDNS, 20% DO, 10% mixed case, 20% IPv6",
	 /* nx wt nodata  edns  do ecs case v6 */
	    10, 0, 5,     70,   20, 0,  10,  20},
	{"exact",
	 "only existing names, no EDNS, IPv4: the pre-rendered fast path",
	    0,  0, 0,     0,    0,  0,  0,   0},
	{"nxdomain-heavy",
	 "50% NXDOMAIN (typos, scans), 5% NODATA, rest existing",
	    50, 0, 5,     70,   20, 0,  10,  20},
	{"water-torture",
	 "90% unique random subdomains of one victim name (the first zone's apex "
	 "unless --target), 5% NXDOMAIN, 5% existing",
	    5,  90, 0,    70,   20, 0,  10,  20},
	{"dnssec",
	 "every query EDNS with DO, 5% NXDOMAIN, 5% NODATA",
	    5,  0, 5,     100, 100, 0,  0,   20},
	{"ecs",
	 "50% carry EDNS Client Subnet (as public resolvers send), 10% NXDOMAIN",
	    10, 0, 5,     100,  20, 50, 10,  20},
};
/* clang-format on */

/* splitmix64: tiny, fast, and good enough for picking names. */
static uint64_t rng_state;
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}
static bool chance(double pct)
{
	return (double)(rnd() % 1000000) < pct * 10000.0;
}

/* Records read from the zones: owner names stored once per run of records
 * with the same owner, which is how zone files are written. */
struct rec {
	uint32_t name; /* offset into names */
	uint16_t type;
	uint8_t nlen;
	uint8_t apex; /* owner is its zone's apex */
};
static struct rec *recs;
static size_t nrecs, caprecs;
static uint8_t *names;
static size_t names_len, names_cap;
static uint8_t last_owner[P53_NAME_MAX];
static size_t last_owner_len;

/* ctx is the zone's origin (canonical wire form). */
static int on_rr(void *ctx, const struct zparse_rr *rr, struct p53_err *err)
{
	const uint8_t *origin = ctx;
	(void)err;
	if (rr->rclass != CLASS_IN)
		return 0;
	if (nrecs == caprecs) {
		caprecs = caprecs ? caprecs * 2 : 4096;
		recs = realloc(recs, caprecs * sizeof(*recs));
		if (!recs)
			return -ENOMEM;
	}
	uint8_t lc[P53_NAME_MAX];
	memcpy(lc, rr->owner, rr->owner_len);
	name_lower(lc, rr->owner_len);
	if (rr->owner_len != last_owner_len || memcmp(lc, last_owner, rr->owner_len) != 0) {
		if (names_len + rr->owner_len > names_cap) {
			names_cap = names_cap ? names_cap * 2 : 65536;
			names = realloc(names, names_cap);
			if (!names)
				return -ENOMEM;
		}
		memcpy(names + names_len, lc, rr->owner_len);
		names_len += rr->owner_len;
		memcpy(last_owner, lc, rr->owner_len);
		last_owner_len = rr->owner_len;
	}
	recs[nrecs].name = (uint32_t)(names_len - last_owner_len);
	recs[nrecs].nlen = (uint8_t)last_owner_len;
	recs[nrecs].type = rr->type;
	recs[nrecs].apex =
	    last_owner_len == name_len(origin) && memcmp(last_owner, origin, last_owner_len) == 0;
	nrecs++;
	return 0;
}

static void rand_label(uint8_t *out, unsigned len)
{
	static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	out[0] = (uint8_t)len;
	for (unsigned i = 1; i <= len; i++)
		out[i] = (uint8_t)al[rnd_below(sizeof(al) - 1)];
}

/* Prepends a fresh label of len characters to base; returns the new length,
 * or 0 when the result would be too long. */
static size_t prepend_label(uint8_t *out, const uint8_t *base, size_t blen, unsigned len)
{
	if (blen + len + 1 > P53_NAME_MAX)
		return 0;
	rand_label(out, len);
	memcpy(out + len + 1, base, blen);
	return blen + len + 1;
}

static void randomise_case(uint8_t *n)
{
	for (size_t o = 0; n[o]; o += (size_t)n[o] + 1)
		for (unsigned i = 1; i <= n[o]; i++) {
			uint8_t c = n[o + i];
			if (c >= 'a' && c <= 'z' && (rnd() & 1))
				n[o + i] = (uint8_t)(c - 32);
		}
}

/* Questions a resolver would send for a record of this type. */
static bool askable(uint16_t type)
{
	return type != RR_RRSIG && type != RR_NSEC && type != RR_NSEC3 && !rrtype_is_meta(type);
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: p53-querygen [options] ZONE...\n"
	    "  ZONE is ORIGIN=FILE, or FILE named ORIGIN.zone\n"
	    "  -p, --preset NAME     query mix (default: default); --list-presets shows them\n"
	    "  -n, --count N         number of queries (default 100000)\n"
	    "  -s, --seed N          seed (default 1); same seed, same output\n"
	    "  -o, --pcap FILE       write a pcap of query frames\n"
	    "  -l, --list FILE       write \"name TYPE [E|D]\" lines (kxdpgun -i); E = EDNS,\n"
	    "                        D = EDNS+DO, ECS queries listed as E\n"
	    "  --list-plain          \"name TYPE\" only (dnsperf -d; EDNS set by dnsperf -e/-D)\n"
	    "  --nxdomain PCT --random-sub PCT --nodata PCT   what is asked (override preset)\n"
	    "  --edns PCT --do PCT --ecs PCT --case PCT --ipv6 PCT\n"
	    "  --target NAME         victim of random-subdomain queries (default: first apex)\n"
	    "  --clients N           distinct client addresses (default 65536)\n"
	    "  --src4 ADDR --src6 ADDR   first client address (198.18.0.1, 2001:db8:ffff::1)\n"
	    "  --dst4 ADDR --dst6 ADDR   service address (192.0.2.53, 2001:db8::53)\n"
	    "  --dport PORT          destination port (53)\n"
	    "  --dst-mac MAC --src-mac MAC   Ethernet addresses\n"
	    "  --vlan ID             802.1Q-tag every frame\n"
	    "  --raw                 linktype RAW (IP packets, no Ethernet)\n"
	    "  --list-presets        print the presets and exit\n");
}

enum {
	O_NX = 256,
	O_WT,
	O_NODATA,
	O_EDNS,
	O_DO,
	O_ECS,
	O_CASE,
	O_V6,
	O_TARGET,
	O_CLIENTS,
	O_SRC4,
	O_SRC6,
	O_DST4,
	O_DST6,
	O_DPORT,
	O_DMAC,
	O_SMAC,
	O_VLAN,
	O_RAW,
	O_LISTP,
	O_PLAIN,
};

static void add_to_addr(uint8_t *a, size_t alen, uint32_t n)
{
	/* big-endian add with carry: client k is base + k */
	for (size_t i = alen; i-- > 0 && n;) {
		uint32_t v = a[i] + (n & 0xff);
		a[i] = (uint8_t)v;
		n = (n >> 8) + (v >> 8);
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"preset", required_argument, NULL, 'p'},
	    {"count", required_argument, NULL, 'n'},
	    {"seed", required_argument, NULL, 's'},
	    {"pcap", required_argument, NULL, 'o'},
	    {"list", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {"nxdomain", required_argument, NULL, O_NX},
	    {"random-sub", required_argument, NULL, O_WT},
	    {"nodata", required_argument, NULL, O_NODATA},
	    {"edns", required_argument, NULL, O_EDNS},
	    {"do", required_argument, NULL, O_DO},
	    {"ecs", required_argument, NULL, O_ECS},
	    {"case", required_argument, NULL, O_CASE},
	    {"ipv6", required_argument, NULL, O_V6},
	    {"target", required_argument, NULL, O_TARGET},
	    {"clients", required_argument, NULL, O_CLIENTS},
	    {"src4", required_argument, NULL, O_SRC4},
	    {"src6", required_argument, NULL, O_SRC6},
	    {"dst4", required_argument, NULL, O_DST4},
	    {"dst6", required_argument, NULL, O_DST6},
	    {"dport", required_argument, NULL, O_DPORT},
	    {"dst-mac", required_argument, NULL, O_DMAC},
	    {"src-mac", required_argument, NULL, O_SMAC},
	    {"vlan", required_argument, NULL, O_VLAN},
	    {"raw", no_argument, NULL, O_RAW},
	    {"list-presets", no_argument, NULL, O_LISTP},
	    {"list-plain", no_argument, NULL, O_PLAIN},
	    {NULL, 0, NULL, 0},
	};
	/* Overrides are collected apart from the preset so option order does
	 * not matter. */
	double ov[8];
	bool have_ov[8] = {false};
	const char *preset = "default", *pcap_path = NULL, *list_path = NULL, *target = NULL;
	unsigned long long count = 100000, seed = 1, clients = 65536;
	uint8_t src4[4] = {198, 18, 0, 1}, dst4[4] = {192, 0, 2, 53};
	uint8_t src6[16], dst6[16];
	uint8_t dmac[6] = {0x02, 0x53, 0x00, 0x00, 0x00, 0x01};
	uint8_t smac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
	unsigned dport = 53;
	int vlan = -1;
	bool raw = false, list_plain = false;
	inet_pton(AF_INET6, "2001:db8:ffff::1", src6);
	inet_pton(AF_INET6, "2001:db8::53", dst6);

	int c;
	while ((c = getopt_long(argc, argv, "p:n:s:o:l:h", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			preset = optarg;
			break;
		case 'n':
			count = strtoull(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'o':
			pcap_path = optarg;
			break;
		case 'l':
			list_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case O_NX:
		case O_WT:
		case O_NODATA:
		case O_EDNS:
		case O_DO:
		case O_ECS:
		case O_CASE:
		case O_V6:
			ov[c - O_NX] = strtod(optarg, NULL);
			have_ov[c - O_NX] = true;
			break;
		case O_TARGET:
			target = optarg;
			break;
		case O_CLIENTS:
			clients = strtoull(optarg, NULL, 10);
			break;
		case O_SRC4:
		case O_DST4:
			if (inet_pton(AF_INET, optarg, c == O_SRC4 ? src4 : dst4) != 1) {
				fprintf(stderr, "p53-querygen: bad IPv4 address %s\n", optarg);
				return 2;
			}
			break;
		case O_SRC6:
		case O_DST6:
			if (inet_pton(AF_INET6, optarg, c == O_SRC6 ? src6 : dst6) != 1) {
				fprintf(stderr, "p53-querygen: bad IPv6 address %s\n", optarg);
				return 2;
			}
			break;
		case O_DPORT:
			dport = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case O_DMAC:
		case O_SMAC:
			if (parse_mac(optarg, c == O_DMAC ? dmac : smac) != 0) {
				fprintf(stderr, "p53-querygen: bad MAC %s\n", optarg);
				return 2;
			}
			break;
		case O_VLAN:
			vlan = (int)strtol(optarg, NULL, 10) & 0xfff;
			break;
		case O_RAW:
			raw = true;
			break;
		case O_PLAIN:
			list_plain = true;
			break;
		case O_LISTP:
			for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
				printf("%-15s %s\n", presets[i].name, presets[i].what);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	const struct mix *pm = NULL;
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (strcmp(presets[i].name, preset) == 0)
			pm = &presets[i];
	if (!pm) {
		fprintf(stderr, "p53-querygen: no preset %s (try --list-presets)\n", preset);
		return 2;
	}
	struct mix m = *pm;
	double *fields[8] = {&m.nxdomain,  &m.water, &m.nodata,	 &m.edns,
			     &m.dnssec_ok, &m.ecs,   &m.casernd, &m.ipv6};
	for (int i = 0; i < 8; i++)
		if (have_ov[i])
			*fields[i] = ov[i];
	if (optind >= argc || (!pcap_path && !list_path) || clients == 0) {
		usage(stderr);
		return 2;
	}

	/* Read the zones. */
	uint8_t first_apex[P53_NAME_MAX];
	size_t first_apex_len = 0;
	for (int i = optind; i < argc; i++) {
		char *arg = strdup(argv[i]), *origin, *path;
		char *eq = strchr(arg, '=');
		if (eq) {
			*eq = 0;
			origin = arg;
			path = eq + 1;
		} else {
			path = argv[i];
			origin = basename(arg);
			size_t bl = strlen(origin);
			if (bl <= 5 || strcmp(origin + bl - 5, ".zone") != 0) {
				fprintf(stderr, "p53-querygen: %s: give the zone as ORIGIN=FILE\n",
					argv[i]);
				return 2;
			}
			origin[bl - 5] = 0;
		}
		uint8_t ow[P53_NAME_MAX];
		const char *why;
		char abs[P53_NAME_MAX * 4 + 2];
		snprintf(abs, sizeof(abs), "%s%s", origin,
			 origin[strlen(origin) - 1] == '.' ? "" : ".");
		int ol = name_from_text(abs, strlen(abs), NULL, ow, &why);
		if (ol < 0) {
			fprintf(stderr, "p53-querygen: %s: %s\n", origin, why);
			return 2;
		}
		name_lower(ow, (size_t)ol);
		if (!first_apex_len) {
			memcpy(first_apex, ow, (size_t)ol);
			first_apex_len = (size_t)ol;
		}
		struct zparse_opts zo = {.origin = ow, .default_ttl = 3600};
		struct p53_err err = {0};
		if (zparse_file(path, &zo, on_rr, ow, &err) < 0) {
			fprintf(stderr, "p53-querygen: %s\n", err.msg);
			return 1;
		}
		free(arg);
	}
	size_t nask = 0;
	for (size_t i = 0; i < nrecs; i++)
		if (askable(recs[i].type))
			recs[nask++] = recs[i];
	if (nask == 0) {
		fprintf(stderr, "p53-querygen: the zones have no records to ask for\n");
		return 1;
	}
	uint8_t victim[P53_NAME_MAX];
	size_t victim_len = first_apex_len;
	memcpy(victim, first_apex, first_apex_len);
	if (target) {
		const char *why;
		char abs[1100];
		snprintf(abs, sizeof(abs), "%s%s", target,
			 target[strlen(target) - 1] == '.' ? "" : ".");
		int tl = name_from_text(abs, strlen(abs), NULL, victim, &why);
		if (tl < 0) {
			fprintf(stderr, "p53-querygen: --target %s: %s\n", target, why);
			return 2;
		}
		victim_len = (size_t)tl;
	}

	struct p53_pcap_writer w = {0};
	FILE *lf = NULL;
	if (pcap_path) {
		int rc =
		    p53_pcap_create(&w, pcap_path, raw ? P53_LINKTYPE_RAW : P53_LINKTYPE_ETHERNET);
		if (rc) {
			fprintf(stderr, "p53-querygen: %s: %s\n", pcap_path, strerror(-rc));
			return 1;
		}
	}
	if (list_path && !(lf = fopen(list_path, "w"))) {
		fprintf(stderr, "p53-querygen: %s: %s\n", list_path, strerror(errno));
		return 1;
	}

	rng_state = seed;
	unsigned long long kinds[4] = {0}, nedns = 0, ndo = 0, necs = 0, nv6 = 0;
	const uint64_t ts0 = 1700000000ull * 1000000000ull;
	for (unsigned long long i = 0; i < count; i++) {
		uint8_t qn[P53_NAME_MAX];
		size_t qlen = 0;
		uint16_t qtype = RR_A;
		double r = (double)(rnd() % 1000000) / 10000.0;
		const struct rec *re = &recs[rnd_below(nask)];
		const uint8_t *owner = names + re->name;
		int kind;
		if (r < m.nxdomain) {
			kind = 1;
			/* A name next to an existing one: its first label replaced
			 * (the apex gets a label added), as typos and scans do. */
			size_t skip = re->apex ? 0 : (size_t)owner[0] + 1;
			qlen = prepend_label(qn, owner + skip, re->nlen - skip, 10);
			qtype = re->type == RR_AAAA ? RR_AAAA : RR_A;
		} else if (r < m.nxdomain + m.water) {
			kind = 2;
			qlen = prepend_label(qn, victim, victim_len, 12);
			qtype = RR_A;
		} else if (r < m.nxdomain + m.water + m.nodata) {
			kind = 3;
			memcpy(qn, owner, re->nlen);
			qlen = re->nlen;
			qtype = RR_HINFO; /* a type no benchmark zone holds */
		} else {
			kind = 0;
			memcpy(qn, owner, re->nlen);
			qlen = re->nlen;
			qtype = re->type;
			/* A wildcard owner is asked through a name it synthesises. */
			if (qn[0] == 1 && qn[1] == '*')
				qlen = prepend_label(qn, owner + 2, re->nlen - 2, 8);
		}
		if (qlen == 0) { /* name too long to extend: ask the record itself */
			kind = 0;
			memcpy(qn, owner, re->nlen);
			qlen = re->nlen;
			qtype = re->type;
		}
		kinds[kind]++;
		if (chance(m.casernd))
			randomise_case(qn);

		uint32_t client = (uint32_t)rnd_below(clients);
		/* A client keeps its family: the choice hangs on its number. */
		uint64_t ch = (client + 1) * 0x9e3779b97f4a7c15ull;
		bool v6 = (double)((ch >> 32) % 10000) < m.ipv6 * 100.0;
		uint16_t sport = (uint16_t)(10000 + rnd_below(55536));
		if (sport == 11211) /* memcached: on the data plane's reflection drop list */
			sport++;
		struct p53_qopts qo = {0};
		qo.dnssec_ok = chance(m.dnssec_ok);
		qo.edns = qo.dnssec_ok || chance(m.edns);
		struct p53_udp_spec us = {0};
		us.family = v6 ? 6 : 4;
		us.ether = !raw;
		us.vlan = vlan;
		memcpy(us.dmac, dmac, 6);
		memcpy(us.smac, smac, 6);
		if (v6) {
			memcpy(us.src, src6, 16);
			add_to_addr(us.src, 16, client);
			memcpy(us.dst, dst6, 16);
		} else {
			memcpy(us.src, src4, 4);
			add_to_addr(us.src, 4, client);
			memcpy(us.dst, dst4, 4);
		}
		if (chance(m.ecs)) {
			qo.ecs_family = v6 ? 2 : 1;
			qo.ecs_prefix = v6 ? 56 : 24;
			memcpy(qo.ecs_addr, us.src, 16);
			necs++;
		}
		nedns += qo.edns || qo.ecs_family;
		ndo += qo.dnssec_ok;
		nv6 += v6;
		us.sport = sport;
		us.dport = (uint16_t)dport;
		uint16_t id = (uint16_t)rnd();

		if (pcap_path) {
			uint8_t msg[600], frame[700];
			size_t ml = p53_query_build(msg, sizeof(msg), id, qn, qlen, qtype, &qo);
			size_t fl = p53_udp_build(frame, sizeof(frame), &us, msg, ml);
			int rc = p53_pcap_write(&w, ts0 + i * 1000, frame, fl);
			if (rc) {
				fprintf(stderr, "p53-querygen: %s: %s\n", pcap_path, strerror(-rc));
				return 1;
			}
		}
		if (lf) {
			char txt[P53_NAME_MAX * 4 + 2], tb[16];
			name_to_text(qn, txt, sizeof(txt));
			/* kxdpgun's per-query flags: D = EDNS+DO, E = EDNS; it
			 * has none for ECS, so an ECS query is listed as E. */
			const char *fl = list_plain		      ? ""
					 : qo.dnssec_ok		      ? " D"
					 : (qo.edns || qo.ecs_family) ? " E"
								      : "";
			fprintf(lf, "%s %s%s\n", txt, rrtype_to_text(qtype, tb), fl);
		}
	}
	int rc = 0;
	if (pcap_path && p53_pcap_close(&w) != 0) {
		fprintf(stderr, "p53-querygen: %s: write failed\n", pcap_path);
		rc = 1;
	}
	if (lf && fclose(lf) != 0) {
		fprintf(stderr, "p53-querygen: %s: write failed\n", list_path);
		rc = 1;
	}
	fprintf(stderr,
		"p53-querygen: %llu queries (preset %s, seed %llu) from %zu records: "
		"%llu existing, %llu nxdomain, %llu random-subdomain, %llu nodata; "
		"%llu EDNS, %llu DO, %llu ECS, %llu IPv6\n",
		count, m.name, seed, nask, kinds[0], kinds[1], kinds[2], kinds[3], nedns, ndo, necs,
		nv6);
	free(recs);
	free(names);
	return rc;
}
