#include "bench/shim.h"
#include "dp/pkt.h"
#include "pcap/frame.h"
#include "pcap/qbuild.h"
#include "zones/answer/answer.h"
#include "zones/compile/compile.h"
#include "zones/common/name.h"
/* Private to zones/, used here on purpose: the lookup benchmark times the
 * hash-table probe alone, which has no public entry point. */
#include "zones/answer/snapshot_pvt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One zone with a name for each answer kind the micro-benchmarks time. */
static const char bench_zone[] = "$ORIGIN bench.example.\n"
				 "$TTL 3600\n"
				 "@ SOA ns1 hostmaster 1 7200 900 1209600 300\n"
				 "@ NS ns1\n"
				 "@ NS ns2\n"
				 "@ MX 10 mail\n"
				 "ns1 A 192.0.2.1\n"
				 "ns2 A 192.0.2.2\n"
				 "ns2 AAAA 2001:db8::2\n"
				 "mail A 192.0.2.25\n"
				 "mail AAAA 2001:db8::25\n"
				 "www A 192.0.2.10\n"
				 "www AAAA 2001:db8::10\n"
				 "multi A 192.0.2.31\n"
				 "multi A 192.0.2.32\n"
				 "multi A 192.0.2.33\n"
				 "multi A 192.0.2.34\n"
				 "c1 CNAME c2\n"
				 "c2 CNAME c3\n"
				 "c3 CNAME www\n"
				 "*.wild A 192.0.2.99\n"
				 "sub NS ns1.sub\n"
				 "sub NS ns2.sub\n"
				 "ns1.sub A 192.0.2.101\n"
				 "ns2.sub A 192.0.2.102\n"
				 "ns2.sub AAAA 2001:db8::102\n"
				 "txt TXT \"v=spf1 -all\"\n";

struct bsh_engine {
	struct p53_snapshot *snap;
	struct p53_answer_cfg cfg;
	struct p53_ctx ctx;
	struct p53_client client;
};

static char last_err[1024 + 64];

const char *bsh_error(void)
{
	return last_err;
}

static int write_tmp(char *path, size_t cap, const char *text, size_t len)
{
	snprintf(path, cap, "/tmp/p53_bench_XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n <= 0) {
			close(fd);
			unlink(path);
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	return 0;
}

static struct bsh_engine *engine_wrap(struct p53_snapshot *s)
{
	struct bsh_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		p53_snapshot_free(s);
		return NULL;
	}
	e->snap = s;
	p53_answer_cfg_default(&e->cfg);
	p53_ctx_init(&e->ctx, &e->cfg, 42);
	e->client.family = 4;
	e->client.transport = P53_UDP;
	e->client.port = 40000;
	memcpy(e->client.addr, (const uint8_t[]){198, 18, 0, 1}, 4);
	return e;
}

int bsh_host_name(unsigned i, uint8_t *wire)
{
	char txt[64];
	int n = snprintf(txt, sizeof(txt), "h%u.hosts.example.", i);
	const char *why;
	return name_from_text(txt, (size_t)n, NULL, wire, &why);
}

/* Compiles zones in memory and wraps the snapshot; NULL with last_err set. */
static struct bsh_engine *engine_compile(const struct p53_zone_input *z, size_t nz,
					 const struct p53_compile_opts *o)
{
	struct p53_err err = {0};
	uint8_t *img = NULL;
	size_t len = 0;
	int rc = p53_compile(z, nz, o, &img, &len, &err);
	if (rc != 0) {
		snprintf(last_err, sizeof(last_err), "compile: %s", err.msg);
		return NULL;
	}
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &err);
	free(img);
	if (!s) {
		snprintf(last_err, sizeof(last_err), "load: %s", err.msg);
		return NULL;
	}
	return engine_wrap(s);
}

struct bsh_engine *bsh_engine_builtin(int prerender, unsigned extra_hosts)
{
	char p1[64], p2[64];
	if (write_tmp(p1, sizeof(p1), bench_zone, sizeof(bench_zone) - 1) != 0) {
		snprintf(last_err, sizeof(last_err), "cannot write a temporary zone file");
		return NULL;
	}
	struct p53_zone_input z[2] = {{"bench.example.", p1}, {"hosts.example.", p2}};
	size_t nz = 1;
	if (extra_hosts) {
		size_t cap = 128 + (size_t)extra_hosts * 40, len = 0;
		char *t = malloc(cap);
		if (!t) {
			unlink(p1);
			return NULL;
		}
		len += (size_t)snprintf(t, cap,
					"$ORIGIN hosts.example.\n$TTL 300\n"
					"@ SOA ns hostmaster 1 7200 900 1209600 300\n@ NS ns\n"
					"ns A 192.0.2.1\n");
		for (unsigned i = 0; i < extra_hosts; i++)
			len += (size_t)snprintf(t + len, cap - len, "h%u A 10.%u.%u.%u\n", i,
						(i >> 16) & 255, (i >> 8) & 255, i & 255);
		int rc = write_tmp(p2, sizeof(p2), t, len);
		free(t);
		if (rc != 0) {
			unlink(p1);
			snprintf(last_err, sizeof(last_err), "cannot write a temporary zone file");
			return NULL;
		}
		nz = 2;
	}
	struct p53_compile_opts o = {.serial = 1, .no_prerender = !prerender};
	struct bsh_engine *e = engine_compile(z, nz, &o);
	unlink(p1);
	if (nz == 2)
		unlink(p2);
	return e;
}

struct bsh_engine *bsh_engine_compile(const char *origin, const char *path, const char *geo_csv)
{
	struct p53_zone_input z = {origin, path};
	struct p53_compile_opts o = {.serial = 1, .geo_csv = geo_csv};
	return engine_compile(&z, 1, &o);
}

struct bsh_engine *bsh_engine_load(const char *path)
{
	struct p53_err err = {0};
	struct p53_snapshot *s = p53_snapshot_load(path, &err);
	if (!s) {
		snprintf(last_err, sizeof(last_err), "%s: %s", path, err.msg);
		return NULL;
	}
	return engine_wrap(s);
}

struct bsh_engine *bsh_engine_load_copy(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(last_err, sizeof(last_err), "%s: cannot open", path);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = len > 0 ? malloc((size_t)len) : NULL;
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fclose(f);
		free(buf);
		snprintf(last_err, sizeof(last_err), "%s: cannot read", path);
		return NULL;
	}
	fclose(f);
	struct p53_err err = {0};
	struct p53_snapshot *s = p53_snapshot_from_mem(buf, (size_t)len, &err);
	free(buf);
	if (!s) {
		snprintf(last_err, sizeof(last_err), "%s: %s", path, err.msg);
		return NULL;
	}
	return engine_wrap(s);
}

void bsh_engine_free(struct bsh_engine *e)
{
	if (!e)
		return;
	p53_snapshot_free(e->snap);
	free(e);
}

static size_t query_any(uint8_t *buf, size_t cap, const char *name, uint16_t qtype, uint16_t qclass,
			int edns)
{
	uint8_t w[P53_NAME_MAX];
	const char *why;
	int n = name_from_text(name, strlen(name), NULL, w, &why);
	if (n < 0)
		return 0;
	struct p53_qopts o = {0};
	o.edns = edns >= 1;
	o.dnssec_ok = edns == 2;
	if (edns == 3) {
		o.ecs_family = 1;
		o.ecs_prefix = 24;
		memcpy(o.ecs_addr, (const uint8_t[]){198, 18, 7, 0}, 4);
	}
	size_t len = p53_query_build(buf, cap, 0x1234, w, (size_t)n, qtype, &o);
	if (len && qclass != 1) {
		buf[12 + n + 2] = (uint8_t)(qclass >> 8);
		buf[12 + n + 3] = (uint8_t)qclass;
	}
	return len;
}

size_t bsh_query(uint8_t *buf, size_t cap, const char *name, uint16_t qtype, int edns)
{
	return query_any(buf, cap, name, qtype, 1, edns);
}

size_t bsh_query_class(uint8_t *buf, size_t cap, const char *name, uint16_t qtype, uint16_t qclass)
{
	return query_any(buf, cap, name, qtype, qclass, 0);
}

size_t bsh_answer(struct bsh_engine *e, const uint8_t *q, size_t qlen, uint8_t *resp, size_t cap)
{
	return p53_answer(e->snap, q, qlen, &e->client, &e->ctx, resp, cap);
}

uint64_t bsh_prerendered(const struct bsh_engine *e)
{
	return e->ctx.stats[P53_STAT_PRERENDERED];
}

const struct p53_snapshot *bsh_snapshot(const struct bsh_engine *e)
{
	return e->snap;
}

struct p53_ctx *bsh_ctx(struct bsh_engine *e)
{
	return &e->ctx;
}

int bsh_name(const char *text, uint8_t *wire)
{
	const char *why;
	int n = name_from_text(text, strlen(text), NULL, wire, &why);
	if (n > 0)
		name_lower(wire, (size_t)n);
	return n;
}

uint32_t bsh_name_hash(const uint8_t *wire, size_t len)
{
	return name_hash(wire, len);
}

uint32_t bsh_find(const struct bsh_engine *e, const uint8_t *wire, size_t len)
{
	return snap_find(e->snap, wire, len, name_hash(wire, len));
}

struct bsh_dp {
	struct dp_svc svc;
};

static const uint8_t svc_mac[6] = {0x02, 0x53, 0x00, 0x00, 0x00, 0x01};

struct bsh_dp *bsh_dp_new(void)
{
	struct bsh_dp *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	dp_svc_init(&d->svc);
	memcpy(d->svc.mac, svc_mac, 6);
	if (dp_svc_add_addr(&d->svc, "192.0.2.53") != 0 ||
	    dp_svc_add_addr(&d->svc, "2001:db8::53") != 0) {
		free(d);
		return NULL;
	}
	return d;
}

void bsh_dp_free(struct bsh_dp *d)
{
	free(d);
}

size_t bsh_dp_frame(uint8_t *buf, size_t cap, int family, int vlan, const uint8_t *q, size_t qlen)
{
	struct p53_udp_spec s = {0};
	s.family = (uint8_t)family;
	s.ether = 1;
	s.vlan = vlan;
	memcpy(s.dmac, svc_mac, 6);
	memcpy(s.smac, (const uint8_t[]){0x02, 0, 0, 0, 0, 0x01}, 6);
	if (family == 6) {
		memcpy(s.src, (const uint8_t[]){0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff}, 6);
		s.src[15] = 1;
		memcpy(s.dst, (const uint8_t[]){0x20, 0x01, 0x0d, 0xb8}, 4);
		s.dst[15] = 0x53;
	} else {
		memcpy(s.src, (const uint8_t[]){198, 18, 0, 1}, 4);
		memcpy(s.dst, (const uint8_t[]){192, 0, 2, 53}, 4);
	}
	s.sport = 40000;
	s.dport = 53;
	return p53_udp_build(buf, cap, &s, q, qlen);
}

int bsh_dp_classify(const struct bsh_dp *d, const uint8_t *frame, size_t len)
{
	struct dp_pkt p;
	return dp_classify(&d->svc, frame, len, 0, &p) == DP_ACT_DNS;
}

/* What dp/worker.c does per DNS frame once classified, minus the mbuf
 * bookkeeping. */
static size_t dp_answer_one(const struct bsh_dp *d, struct bsh_engine *e, uint8_t *f,
			    const struct dp_pkt *p, size_t bufcap)
{
	struct p53_client cl = {.family = p->family, .transport = P53_UDP, .port = p->sport};
	if (p->family == 4)
		memcpy(cl.addr, f + p->l3_off + 12, 4);
	else
		memcpy(cl.addr, f + p->l3_off + 8, 16);
	size_t room = dp_dns_room(&d->svc, p, bufcap);
	uint8_t *dns = f + p->pl_off;
	size_t n = p53_answer(e->snap, dns, p->pl_len, &cl, &e->ctx, dns, room);
	if (n == 0)
		return 0;
	return dp_reply_dns(&d->svc, f, p, n, 0);
}

size_t bsh_dp_answer(const struct bsh_dp *d, struct bsh_engine *e, uint8_t *f, size_t len,
		     size_t bufcap)
{
	struct dp_pkt p;
	if (dp_classify(&d->svc, f, len, 0, &p) != DP_ACT_DNS)
		return 0;
	return dp_answer_one(d, e, f, &p, bufcap);
}

size_t bsh_dp_answer_burst(const struct bsh_dp *d, struct bsh_engine *e, uint8_t *const *frame,
			   const size_t *len, unsigned n, size_t bufcap, int prefetch, size_t *out)
{
	struct dp_pkt p[BSH_DP_BURST];
	bool dns[BSH_DP_BURST];
	const uint8_t *dq[BSH_DP_BURST];
	size_t dl[BSH_DP_BURST];
	unsigned nd = 0;
	if (n > BSH_DP_BURST)
		n = BSH_DP_BURST;
	for (unsigned i = 0; i < n; i++) {
		if (i + 1 < n)
			__builtin_prefetch(frame[i + 1]);
		dns[i] = dp_classify(&d->svc, frame[i], len[i], 0, &p[i]) == DP_ACT_DNS;
		if (dns[i]) {
			dq[nd] = frame[i] + p[i].pl_off;
			dl[nd++] = p[i].pl_len;
		}
	}
	if (nd && prefetch)
		p53_prefetch_burst(e->snap, dq, dl, nd);
	size_t total = 0;
	for (unsigned i = 0; i < n; i++) {
		out[i] = dns[i] ? dp_answer_one(d, e, frame[i], &p[i], bufcap) : 0;
		total += out[i];
	}
	return total;
}

uint64_t bsh_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bsh_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}
