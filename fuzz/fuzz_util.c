/* Fixtures and helpers shared by the fuzz targets. */
#include "fuzz/fuzz.h"

#include "zones/answer/answer.h"
#include "zones/answer/snapshot_pvt.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"
#include "zones/compile/compile.h"

#include <fcntl.h>
#include <ftw.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *fuzz_src(const char *rel)
{
	static char buf[8][4096];
	static unsigned next;
	char *b = buf[next++ % 8];
	snprintf(b, sizeof(buf[0]), "%s/%s", P53_SRC_ROOT, rel);
	return b;
}

static char tmpdir[256];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tmpdir(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
	if (tmpdir[0] == 0) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(tmpdir, sizeof(tmpdir), "%s/p53fuzz.XXXXXX", base);
		if (mkdtemp(tmpdir) == NULL)
			abort();
		atexit(rm_tmpdir);
	}
	return tmpdir;
}

FILE *fuzz_devnull(void)
{
	static FILE *null;
	if (null == NULL && (null = fopen("/dev/null", "w")) == NULL)
		abort();
	return null;
}

const char *fuzz_put(const char *name, const void *data, size_t len)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", fuzz_tmpdir(), name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return NULL;
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n <= 0) {
			close(fd);
			return NULL;
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
	return path;
}

struct p53_snapshot *fuzz_snapshot(const char *const *zones, const char *geo, const char *latency,
				   int no_prerender, uint8_t **imgp, size_t *lenp)
{
	struct p53_zone_input in[16];
	char spec[16][4096];
	size_t n = 0;
	for (; zones[n] && n < 16; n++) {
		const char *eq = strchr(zones[n], '=');
		snprintf(spec[n], sizeof(spec[n]), "%.*s", (int)(eq - zones[n]), zones[n]);
		in[n].origin = spec[n];
		in[n].path = strdup(fuzz_src(eq + 1));
	}
	struct p53_compile_opts o = {.serial = 1, .no_prerender = no_prerender != 0};
	char g[4096], l[4096];
	if (geo)
		o.geo_csv = strcpy(g, fuzz_src(geo));
	if (latency)
		o.latency_csv = strcpy(l, fuzz_src(latency));
	uint8_t *img;
	size_t len;
	struct p53_err err = {0};
	if (p53_compile(in, n, &o, &img, &len, &err) != 0) {
		fprintf(stderr, "fuzz fixture: %s\n", err.msg);
		abort();
	}
	for (size_t i = 0; i < n; i++)
		free((void *)in[i].path);
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &err);
	if (s == NULL) {
		fprintf(stderr, "fuzz fixture: %s\n", err.msg);
		abort();
	}
	if (imgp) {
		*imgp = img;
		*lenp = len;
	} else {
		free(img);
	}
	return s;
}

struct p53_snapshot *fuzz_compile_input(const char *name, const uint8_t *data, size_t size,
					const struct p53_compile_opts *o)
{
	const char *path = fuzz_put(name, data, size);
	if (path == NULL)
		abort();
	char p[512];
	snprintf(p, sizeof(p), "%s", path);
	struct p53_zone_input in = {"example.com.", p};
	struct p53_compile_opts oo = *o;
	if (oo.threads == 0)
		oo.threads = FUZZ_COMPILE_THREADS;
	return fuzz_compile_load(&in, &oo);
}

struct p53_snapshot *fuzz_compile_load(const struct p53_zone_input *in,
				       const struct p53_compile_opts *o)
{
	uint8_t *img;
	size_t len;
	struct p53_err err = {0};
	if (p53_compile(in, 1, o, &img, &len, &err) != 0) {
		if (err.msg[0] == 0)
			abort(); /* a refusal always says why */
		return NULL;
	}
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &err);
	free(img);
	if (s == NULL) {
		fprintf(stderr, "compiled snapshot refused by the loader: %s\n", err.msg);
		abort();
	}
	return s;
}

uint32_t fuzz_seed(const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < size; i += 1 + size / 64)
		h = (h ^ data[i]) * 16777619u;
	return h ^ (uint32_t)size;
}

static void sum16(const uint8_t *p, size_t n, uint8_t out[16])
{
	uint8_t d[SHA256_DIGEST_LENGTH];
	SHA256(p, n, d);
	memcpy(out, d, 16);
}

void fuzz_reseal(uint8_t *img, size_t len)
{
	if (len < sizeof(struct snap_hdr))
		return;
	struct snap_hdr *h = (struct snap_hdr *)img;
	uint32_t n = h->nsect < SECT__MAX ? h->nsect : SECT__MAX;
	for (uint32_t i = 0; i < n; i++) {
		struct snap_sect *sc = &h->sect[i];
		if (sc->off <= len && sc->len <= len - sc->off)
			sum16(img + sc->off, sc->len, sc->sum);
	}
	struct snap_hdr c;
	memcpy(&c, h, sizeof(c));
	memset(c.hash, 0, sizeof(c.hash));
	SHA256((const uint8_t *)&c, sizeof(c), h->hash);
}

/* A query for name (canonical wire form) and type, with EDNS when asked. */
static size_t make_query(uint8_t *q, const uint8_t *name, size_t nlen, uint16_t type, int edns)
{
	static const uint8_t hdr[12] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
	memcpy(q, hdr, 12);
	memcpy(q + 12, name, nlen);
	size_t p = 12 + nlen;
	q[p++] = (uint8_t)(type >> 8);
	q[p++] = (uint8_t)type;
	q[p++] = 0;
	q[p++] = 1;
	if (edns) {
		static const uint8_t opt[11] = {0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0};
		memcpy(q + p, opt, sizeof(opt));
		p += sizeof(opt);
		q[11] = 1;
	}
	return p;
}

static void ask(const struct p53_snapshot *s, struct p53_ctx *ctx, const uint8_t *name, size_t nlen,
		uint16_t type, int variant)
{
	static uint8_t q[P53_MSG_MAX], r[P53_MSG_MAX];
	struct p53_client c = {.family = 4,
			       .transport = (variant & 1) ? P53_TCP : P53_UDP,
			       .addr = {10, (uint8_t)(1 + variant % 6), 0, 1}};
	if (variant & 4) {
		static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
		c.family = 6;
		memcpy(c.addr, v6, 16);
	}
	size_t ql = make_query(q, name, nlen, type, variant & 2);
	size_t cap = (variant & 1) ? sizeof(r) : 512 + (size_t)(variant & 2) * 360;
	size_t n = p53_answer(s, q, ql, &c, ctx, r, cap);
	if (n > cap || (n && (r[0] != 0x12 || r[1] != 0x34 || !(r[2] & 0x80))))
		abort(); /* a response must fit and answer this query */
}

void fuzz_walk_snapshot(const struct p53_snapshot *s, const uint8_t *health, uint32_t nhealth,
			uint32_t seed)
{
	static const uint16_t types[] = {RR_A,	RR_AAAA,   RR_NS,   RR_CNAME, RR_SOA,
					 RR_MX, RR_TXT,	   RR_DS,   RR_ANY,   RR_SRV,
					 99,	RR_DNSKEY, RR_NSEC, RR_RRSIG, RR_NSEC3};
	enum { NTYPES = sizeof(types) / sizeof(types[0]), WINDOW = 48, PER_NODE = 3 };
	struct p53_answer_cfg cfg;
	p53_answer_cfg_default(&cfg);
	struct p53_ctx ctx;
	p53_ctx_init(&ctx, &cfg, 7);
	ctx.health = health;
	ctx.nhealth = nhealth;
	/* A window of nodes and a few types each, chosen by seed: each input
	 * costs little, and the inputs together cover every node and type. */
	uint32_t nn = s->nnodes < WINDOW ? s->nnodes : WINDOW;
	uint32_t first = s->nnodes ? seed % s->nnodes : 0;
	for (uint32_t k = 0; k < nn; k++) {
		uint32_t i = (first + k) % s->nnodes;
		const struct snap_node *nd = &s->nodes[i];
		const uint8_t *name = s->names + nd->name;
		uint8_t below[P53_NAME_MAX];
		for (unsigned t = 0; t < PER_NODE; t++)
			ask(s, &ctx, name, nd->name_len, types[(seed + i + t * 4) % NTYPES],
			    (int)(seed + i + t));
		if (nd->name_len + 4 <= P53_NAME_MAX) {
			memcpy(below, "\3zz9", 4);
			memcpy(below + 4, name, nd->name_len);
			ask(s, &ctx, below, nd->name_len + 4u, types[(seed + i) % NTYPES], (int)i);
		}
	}
	static const uint8_t outside[] = "\7example\7invalid";
	ask(s, &ctx, outside, sizeof(outside), RR_A, 0);
}
