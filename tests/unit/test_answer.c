/* Engine tests: every RFC case of the lookup, the bad-input replies, and the
 * property that ties the two answer paths together: a snapshot with
 * pre-rendered answers and one without give byte-identical responses. */
#include "check.h"
#include "zones/answer/answer.h"
#include "zones/compile/compile.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"

#include <stdlib.h>
#include <unistd.h>

static const char zone1[] = "$ORIGIN example.\n"
			    "$TTL 3600\n"
			    "@ SOA ns1 hostmaster 1 7200 900 1209600 300\n"
			    "@ NS ns1\n"
			    "@ NS ns2.example2.\n"
			    "ns1 A 192.0.2.1\n"
			    "www A 192.0.2.10\n"
			    "www AAAA 2001:db8::10\n"
			    "alias CNAME www\n"
			    "chain1 CNAME chain2\n"
			    "chain2 CNAME www\n"
			    "loop1 CNAME loop2\n"
			    "loop2 CNAME loop1\n"
			    "ext CNAME www.elsewhere.\n"
			    "dead CNAME nothing\n"
			    "cross CNAME www.example2.\n"
			    "*.wild A 192.0.2.99\n"
			    "*.wild MX 10 ns1\n"
			    "*.blocked A 192.0.2.98\n"
			    "deep.node.blocked A 192.0.2.97\n"
			    "deleg NS ns.deleg\n"
			    "deleg NS ns.sibling\n"
			    "deleg DS 12345 13 2 "
			    "2BB183AF5F22588179A53B0A98631FAD1A292118E8E4E86E4E7E3E5C2E2D7A6C\n"
			    "ns.deleg A 192.0.2.53\n"
			    "sibling NS ns.sibling\n"
			    "ns.sibling A 192.0.2.54\n"
			    "dn DNAME example2.\n"
			    "mx MX 10 www\n"
			    "srv SRV 0 0 80 www\n";

static const char zone2[] = "$ORIGIN example2.\n"
			    "$TTL 600\n"
			    "@ SOA ns hostmaster 7 7200 900 1209600 60\n"
			    "@ NS ns\n"
			    "ns A 192.0.2.2\n"
			    "www A 192.0.2.20\n";

static char path1[64], path2[64];

static void write_file(char *path, const char *text)
{
	strcpy(path, "/tmp/p53_test_XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
}

static struct p53_snapshot *build(bool prerender, const char *extra)
{
	struct p53_zone_input z[2] = {{"example.", path1}, {"example2.", path2}};
	struct p53_compile_opts o = {.serial = 1, .no_prerender = !prerender};
	struct p53_err err = {0};
	uint8_t *img;
	size_t len;
	(void)extra;
	if (p53_compile(z, 2, &o, &img, &len, &err) != 0) {
		fprintf(stderr, "compile: %s\n", err.msg);
		return NULL;
	}
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &err);
	if (s == NULL)
		fprintf(stderr, "load: %s\n", err.msg);
	free(img);
	return s;
}

/* ---- query building and response reading ----------------------------- */

static size_t mkquery(uint8_t *q, const char *name, uint16_t type, uint16_t qclass, int edns)
{
	uint8_t wire[P53_NAME_MAX];
	int n = name_from_text(name, strlen(name), NULL, wire, NULL);
	if (n < 0)
		abort();
	memset(q, 0, 12);
	q[0] = 0x12;
	q[1] = 0x34;
	q[2] = 0x01; /* RD */
	q[5] = 1;
	memcpy(q + 12, wire, (size_t)n);
	size_t p = 12 + (size_t)n;
	q[p++] = (uint8_t)(type >> 8);
	q[p++] = (uint8_t)type;
	q[p++] = (uint8_t)(qclass >> 8);
	q[p++] = (uint8_t)qclass;
	if (edns > 0) {
		q[11] = 1;
		uint8_t opt[11] = {0, 0, 41, (uint8_t)(edns >> 8), (uint8_t)edns, 0, 0, 0x80,
				   0, 0, 0};
		memcpy(q + p, opt, 11);
		p += 11;
	}
	return p;
}

struct rr {
	int sect;
	char owner[300];
	uint16_t type;
	uint32_t ttl;
};

struct resp {
	size_t len;
	uint8_t rcode, ext_rcode;
	bool aa, tc, opt;
	uint16_t cnt[4];
	unsigned nrr;
	struct rr rr[64];
};

static bool parse_resp(const uint8_t *m, size_t len, struct resp *r)
{
	memset(r, 0, sizeof(*r));
	r->len = len;
	if (len < 12)
		return false;
	r->rcode = m[3] & 0xf;
	r->aa = m[2] & 0x04;
	r->tc = m[2] & 0x02;
	for (int i = 0; i < 4; i++)
		r->cnt[i] = (uint16_t)(m[4 + 2 * i] << 8 | m[5 + 2 * i]);
	size_t p = 12;
	uint8_t nm[P53_NAME_MAX];
	size_t nl;
	for (unsigned i = 0; i < r->cnt[0]; i++) {
		int used = name_unpack(m, len, p, nm, &nl);
		if (used < 0)
			return false;
		p += (size_t)used + 4;
	}
	unsigned total = r->cnt[1] + r->cnt[2] + r->cnt[3];
	for (unsigned i = 0; i < total; i++) {
		int used = name_unpack(m, len, p, nm, &nl);
		if (used < 0 || p + (size_t)used + 10 > len)
			return false;
		p += (size_t)used;
		uint16_t type = (uint16_t)(m[p] << 8 | m[p + 1]);
		uint16_t rdlen = (uint16_t)(m[p + 8] << 8 | m[p + 9]);
		if (type == RR_OPT) {
			r->opt = true;
			r->ext_rcode = m[p + 4];
		} else if (r->nrr < 64) {
			struct rr *x = &r->rr[r->nrr++];
			x->sect = i < r->cnt[1] ? 1 : i < r->cnt[1] + r->cnt[2] ? 2 : 3;
			name_lower(nm, nl);
			name_to_text(nm, x->owner, sizeof(x->owner));
			x->type = type;
			x->ttl =
			    (uint32_t)m[p + 4] << 24 | m[p + 5] << 16 | m[p + 6] << 8 | m[p + 7];
		}
		p += 10 + (size_t)rdlen;
		if (p > len)
			return false;
	}
	return p == len;
}

static bool has_rr(const struct resp *r, int sect, const char *owner, uint16_t type)
{
	for (unsigned i = 0; i < r->nrr; i++)
		if (r->rr[i].sect == sect && r->rr[i].type == type &&
		    !strcmp(r->rr[i].owner, owner))
			return true;
	return false;
}

static struct p53_snapshot *snap_pre, *snap_dyn;
static struct p53_answer_cfg cfg;
static struct p53_ctx ctx;

/* Answers with both snapshots and requires identical bytes. */
static size_t ask_raw(const uint8_t *q, size_t ql, uint8_t *out, enum p53_transport t)
{
	struct p53_client cl = {.family = 4, .transport = (uint8_t)t};
	uint8_t other[P53_MSG_MAX];
	size_t n = p53_answer(snap_pre, q, ql, &cl, &ctx, out, P53_MSG_MAX);
	size_t m = p53_answer(snap_dyn, q, ql, &cl, &ctx, other, P53_MSG_MAX);
	CHECK_EQ(n, m);
	CHECK(n == m && memcmp(out, other, n) == 0);
	return n;
}

static struct resp ask(const char *name, uint16_t type, int edns)
{
	uint8_t q[512], out[P53_MSG_MAX];
	size_t ql = mkquery(q, name, type, CLASS_IN, edns);
	size_t n = ask_raw(q, ql, out, P53_UDP);
	struct resp r;
	CHECK(n > 0 && parse_resp(out, n, &r));
	if (n == 0)
		memset(&r, 0, sizeof(r));
	return r;
}

static void test_positive(void)
{
	struct resp r = ask("www.example.", RR_A, 0);
	CHECK_EQ(r.rcode, 0);
	CHECK(r.aa && !r.tc);
	CHECK_EQ(r.cnt[1], 1);
	CHECK_EQ(r.cnt[2], 0); /* minimal responses: no NS in authority */
	CHECK(has_rr(&r, 1, "www.example.", RR_A));

	r = ask("alias.example.", RR_A, 0);
	CHECK_EQ(r.cnt[1], 2);
	CHECK(has_rr(&r, 1, "alias.example.", RR_CNAME) && has_rr(&r, 1, "www.example.", RR_A));
	r = ask("alias.example.", RR_CNAME, 0);
	CHECK_EQ(r.cnt[1], 1);
	r = ask("chain1.example.", RR_AAAA, 0);
	CHECK_EQ(r.cnt[1], 3);
	CHECK(has_rr(&r, 1, "www.example.", RR_AAAA));
	r = ask("cross.example.", RR_A, 0);
	CHECK(has_rr(&r, 1, "www.example2.", RR_A));
	r = ask("ext.example.", RR_A, 0);
	CHECK_EQ(r.rcode, 0);
	CHECK_EQ(r.cnt[1], 1);
	r = ask("loop1.example.", RR_A, 0);
	CHECK_EQ(r.rcode, 0);
	CHECK_EQ(r.cnt[1], 2);
	/* RFC 6604: the rcode follows the last name of the chain */
	r = ask("dead.example.", RR_A, 0);
	CHECK_EQ(r.rcode, 3);
	CHECK(has_rr(&r, 1, "dead.example.", RR_CNAME) && has_rr(&r, 2, "example.", RR_SOA));

	r = ask("mx.example.", RR_MX, 0);
	CHECK(has_rr(&r, 3, "www.example.", RR_A) && has_rr(&r, 3, "www.example.", RR_AAAA));
	r = ask("srv.example.", RR_SRV, 0);
	CHECK(has_rr(&r, 3, "www.example.", RR_A));
	r = ask("example.", RR_NS, 0);
	CHECK(r.aa && has_rr(&r, 3, "ns1.example.", RR_A));
	CHECK(!has_rr(&r, 3, "ns2.example2.", RR_A)); /* no data there */

	r = ask("www.example.", RR_ANY, 0);
	CHECK_EQ(r.cnt[1], 1); /* RFC 8482 */
}

static void test_negative(void)
{
	struct resp r = ask("nope.example.", RR_A, 0);
	CHECK_EQ(r.rcode, 3);
	CHECK(r.aa);
	CHECK(has_rr(&r, 2, "example.", RR_SOA));
	CHECK_EQ(r.rr[0].ttl, 300); /* min(SOA TTL 3600, MINIMUM 300) */
	r = ask("www.example.", RR_TXT, 0);
	CHECK_EQ(r.rcode, 0);
	CHECK_EQ(r.cnt[1], 0);
	CHECK(has_rr(&r, 2, "example.", RR_SOA));
	r = ask("node.blocked.example.", RR_A, 0); /* empty non-terminal */
	CHECK_EQ(r.rcode, 0);
	CHECK_EQ(r.cnt[1], 0);
	r = ask("www.example.org.", RR_A, 0);
	CHECK_EQ(r.rcode, 5);
	CHECK(!r.aa);
}

static void test_wildcard(void)
{
	struct resp r = ask("Foo.Wild.example.", RR_A, 0);
	CHECK_EQ(r.rcode, 0);
	CHECK(has_rr(&r, 1, "foo.wild.example.", RR_A));
	r = ask("a.b.wild.example.", RR_MX, 0);
	CHECK(has_rr(&r, 1, "a.b.wild.example.", RR_MX) && has_rr(&r, 3, "ns1.example.", RR_A));
	r = ask("x.wild.example.", RR_TXT, 0);
	CHECK_EQ(r.rcode, 0);
	CHECK_EQ(r.cnt[1], 0);
	/* RFC 4592 2.2.2: the empty non-terminal node.blocked is the closest
	 * encloser and has no wildcard, so *.blocked does not apply. */
	r = ask("x.node.blocked.example.", RR_A, 0);
	CHECK_EQ(r.rcode, 3);
	r = ask("other.blocked.example.", RR_A, 0);
	CHECK(has_rr(&r, 1, "other.blocked.example.", RR_A));
}

static void test_referral(void)
{
	struct resp r = ask("deleg.example.", RR_A, 0);
	CHECK_EQ(r.rcode, 0);
	CHECK(!r.aa);
	CHECK(has_rr(&r, 2, "deleg.example.", RR_NS));
	CHECK(has_rr(&r, 3, "ns.deleg.example.", RR_A));
	CHECK(has_rr(&r, 3, "ns.sibling.example.", RR_A)); /* sibling glue */
	r = ask("a.b.deleg.example.", RR_A, 0);
	CHECK(!r.aa && has_rr(&r, 2, "deleg.example.", RR_NS));
	r = ask("ns.deleg.example.", RR_A, 0); /* glue is not an answer */
	CHECK(!r.aa && r.cnt[1] == 0);
	r = ask("deleg.example.", RR_DS, 0);
	CHECK(r.aa && has_rr(&r, 1, "deleg.example.", RR_DS));
	r = ask("sibling.example.", RR_DS, 0);
	CHECK(r.aa && r.cnt[1] == 0 && has_rr(&r, 2, "example.", RR_SOA));
}

static void test_dname(void)
{
	struct resp r = ask("www.dn.example.", RR_A, 0);
	CHECK_EQ(r.rcode, 0);
	CHECK(has_rr(&r, 1, "dn.example.", RR_DNAME));
	CHECK(has_rr(&r, 1, "www.dn.example.", RR_CNAME));
	CHECK(has_rr(&r, 1, "www.example2.", RR_A));
	r = ask("nope.dn.example.", RR_A, 0);
	CHECK_EQ(r.rcode, 3);
	r = ask("dn.example.", RR_DNAME, 0);
	CHECK_EQ(r.cnt[1], 1);
}

static void test_edns_and_truncation(void)
{
	struct resp r = ask("www.example.", RR_A, 1232);
	CHECK(r.opt);
	CHECK_EQ(r.cnt[3], 1);
	/* A referral's glue that does not fit is left out without TC. */
	uint8_t q[512], out[P53_MSG_MAX];
	size_t ql = mkquery(q, "www.example.", RR_A, CLASS_IN, 0);
	q[11] = 0;
	size_t n = ask_raw(q, ql, out, P53_UDP);
	CHECK(n > 0 && n <= 512);
	/* EDNS version 1: BADVERS (extended rcode 1, low bits 0) */
	ql = mkquery(q, "www.example.", RR_A, CLASS_IN, 1232);
	q[ql - 5] = 1;
	n = ask_raw(q, ql, out, P53_UDP);
	CHECK(parse_resp(out, n, &r) && r.opt && r.ext_rcode == 1 && r.rcode == 0);
}

static void test_big_rrset(void)
{
	/* 40 TXT records of 100 bytes: over 512 and over 1232 too. */
	FILE *f = fopen(path2, "a");
	for (int i = 0; i < 40; i++)
		fprintf(f, "big TXT \"%02d%098d\"\n", i, 0);
	fclose(f);
	p53_snapshot_free(snap_pre);
	p53_snapshot_free(snap_dyn);
	snap_pre = build(true, NULL);
	snap_dyn = build(false, NULL);
	struct resp r = ask("big.example2.", RR_TXT, 0);
	CHECK(r.tc && r.len <= 512 && r.cnt[1] == 0);
	r = ask("big.example2.", RR_TXT, 1232);
	CHECK(r.tc && r.len <= 1232);
	uint8_t q[512], out[P53_MSG_MAX];
	size_t ql = mkquery(q, "big.example2.", RR_TXT, CLASS_IN, 0);
	size_t n = ask_raw(q, ql, out, P53_TCP);
	CHECK(parse_resp(out, n, &r) && !r.tc && r.cnt[1] == 40);
}

static void expect_rcode(const uint8_t *q, size_t ql, int rcode)
{
	uint8_t out[P53_MSG_MAX];
	size_t n = ask_raw(q, ql, out, P53_UDP);
	struct resp r;
	if (rcode < 0) {
		CHECK_EQ(n, 0);
		return;
	}
	CHECK(n > 0 && parse_resp(out, n, &r));
	CHECK_EQ(r.rcode, rcode);
	CHECK_EQ(out[0], q[0]);
	CHECK(out[2] & 0x80);
}

static void test_bad_input(void)
{
	uint8_t q[600];
	size_t ql = mkquery(q, "www.example.", RR_A, CLASS_IN, 0);
	for (size_t l = 0; l < 12; l++)
		expect_rcode(q, l, -1); /* shorter than a header: drop */
	q[2] |= 0x80;
	expect_rcode(q, ql, -1); /* QR set: drop */
	q[2] &= 0x7f;
	expect_rcode(q, ql - 1, 1); /* question cut short */
	q[5] = 2;
	expect_rcode(q, ql, 1); /* QDCOUNT 2 */
	q[5] = 0;
	expect_rcode(q, ql, 1); /* QDCOUNT 0 */
	q[5] = 1;
	q[2] = (uint8_t)(2 << 3);
	expect_rcode(q, ql, 4); /* opcode STATUS */
	q[2] = 0;
	q[7] = 1;
	expect_rcode(q, ql, 1); /* ANCOUNT 1 */
	q[7] = 0;
	/* a compression pointer in the question, a pointer loop */
	uint8_t p[32] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
	expect_rcode(p, 18, 1);
	/* label of 64 */
	uint8_t l64[100] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64};
	memset(l64 + 13, 'a', 64);
	l64[77] = 0;
	l64[79] = 1;
	l64[81] = 1;
	expect_rcode(l64, 82, 1);
	/* two OPT records, and an OPT with an owner */
	ql = mkquery(q, "www.example.", RR_A, CLASS_IN, 1232);
	memcpy(q + ql, q + ql - 11, 11);
	q[11] = 2;
	expect_rcode(q, ql + 11, 1);
	ql = mkquery(q, "www.example.", RR_A, CLASS_IN, 1232);
	q[ql - 11] = 1; /* owner "\001" is no longer the root */
	expect_rcode(q, ql, 1);
	ql = mkquery(q, "www.example.", RR_A, CLASS_IN, 1232);
	q[ql - 1] = 8; /* rdlen past the end */
	expect_rcode(q, ql, 1);
	/* classes */
	ql = mkquery(q, "www.example.", RR_A, 4, 0);
	expect_rcode(q, ql, 5);
	ql = mkquery(q, "version.bind.", 16, CLASS_CH, 0);
	expect_rcode(q, ql, 5); /* not configured */
	cfg.version = "port53 test";
	uint8_t out[P53_MSG_MAX];
	struct resp r;
	size_t n = ask_raw(q, ql, out, P53_UDP);
	CHECK(parse_resp(out, n, &r) && r.rcode == 0 && r.cnt[1] == 1);
	cfg.version = NULL;
	ql = mkquery(q, "www.example.", RR_AXFR, CLASS_IN, 0);
	expect_rcode(q, ql, 5);
}

/* Random and mutated messages: a reply or a drop, never a crash (ASan and
 * UBSan watch the engine here), and a reply is always a well-formed message
 * within the buffer. */
static void test_fuzz(void)
{
	uint64_t x = 88172645463325252ull;
	uint8_t q[600], out[P53_MSG_MAX];
	unsigned bad = 0;
	for (int i = 0; i < 200000; i++) {
		size_t ql = mkquery(q, i & 1 ? "www.example." : "a.wild.example.", RR_A, CLASS_IN,
				    i & 2 ? 1232 : 0);
		int flips = 1 + (int)(x % 4);
		for (int k = 0; k < flips; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			q[x % ql] = (uint8_t)(x >> 32);
		}
		if (i % 7 == 0)
			ql = x % sizeof(q);
		struct p53_client cl = {0};
		size_t n = p53_answer(snap_pre, q, ql, &cl, &ctx, out, 4096);
		struct resp r;
		if (n && (n > 4096 || !parse_resp(out, n, &r)))
			bad++;
	}
	CHECK_EQ(bad, 0);
}

static void test_in_place(void)
{
	uint8_t q[P53_MSG_MAX], out[P53_MSG_MAX];
	const char *names[] = {"Www.Example.",	   "chain1.example.", "x.wild.example.",
			       "a.deleg.example.", "nope.example.",   "www.dn.example."};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t ql = mkquery(q, names[i], RR_A, CLASS_IN, 1232);
		struct p53_client cl = {0};
		size_t n = p53_answer(snap_pre, q, ql, &cl, &ctx, out, sizeof(out));
		size_t m = p53_answer(snap_pre, q, ql, &cl, &ctx, q, sizeof(q));
		CHECK(n > 0 && n == m && memcmp(q, out, n) == 0);
	}
}

static void test_compile_errors(void)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {"$ORIGIN e.\n@ NS ns\nns A 192.0.2.1\n", "has no SOA"},
	    {"$ORIGIN e.\n@ SOA a b 1 2 3 4 5\n@ SOA a b 2 2 3 4 5\n@ NS ns\n", "second SOA"},
	    {"$ORIGIN e.\n@ SOA a b 1 2 3 4 5\n@ NS ns\nx CNAME y\nx A 192.0.2.1\n",
	     ":4: x.e.: CNAME beside other data"},
	    {"$ORIGIN e.\n@ SOA a b 1 2 3 4 5\n@ NS ns\nwww.other. A 192.0.2.1\n",
	     ":4: www.other. is outside zone e."},
	    {"$ORIGIN e.\n@ SOA a b 1 2 3 4 5\n@ NS ns\nsub NS ns.sub\n",
	     ":4: sub.e.: delegation needs glue: no A or AAAA record for ns.sub.e."},
	    {"$ORIGIN e.\n@ SOA a b 1 2 3 4 5\n@ NS ns\nd DNAME x.\na.d A 192.0.2.1\n",
	     ":5: a.d.e.: data below a DNAME"},
	    {"$ORIGIN e.\n@ SOA a b 1 2 3 4 5\n@ NS ns\nx SOA a b 1 2 3 4 5\n",
	     "SOA record not at the zone apex"},
	    {"$ORIGIN e.\n@ SOA a b 1 2 3 4 5\n", "has no NS records"},
	    {"$ORIGIN e.\n@ SOA a b 1 2 3 4 5\n@ NS ns\nx CH A 192.0.2.1\n",
	     ":4: unsupported record type"},
	    {"$ORIGIN e.\n@ SOA a b 1 2 3 4 5\n@ NS ns\nx 4294967296 A 192.0.2.1\n", ":4:"},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[64];
		write_file(path, cases[i].text);
		struct p53_zone_input z = {"e.", path};
		struct p53_err err = {0};
		uint8_t *img = NULL;
		size_t len;
		int rc = p53_compile(&z, 1, NULL, &img, &len, &err);
		CHECK(rc != 0);
		if (strstr(err.msg, cases[i].want) == NULL)
			fprintf(stderr, "case %u: message \"%s\" lacks \"%s\"\n", i, err.msg,
				cases[i].want);
		CHECK(strstr(err.msg, cases[i].want) != NULL);
		CHECK(rc == 0 || img == NULL);
		unlink(path);
	}
}

static void test_snapshot_corruption(void)
{
	struct p53_zone_input z[2] = {{"example.", path1}, {"example2.", path2}};
	uint8_t *img;
	size_t len;
	struct p53_err err = {0};
	CHECK_EQ(p53_compile(z, 2, NULL, &img, &len, &err), 0);
	unsigned rejected = 0, tries = 0;
	for (size_t off = 0; off < len; off += len / 97 + 1, tries++) {
		img[off] ^= 0x40;
		struct p53_err e2 = {0};
		struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &e2);
		if (s == NULL && e2.msg[0])
			rejected++;
		p53_snapshot_free(s);
		img[off] ^= 0x40;
	}
	/* Every byte is covered: by a checksum, or by the rule that padding
	 * is zero. */
	CHECK_EQ(rejected, tries);
	struct p53_err e3 = {0};
	CHECK(p53_snapshot_from_mem(img, len - 1, &e3) == NULL);
	CHECK(strstr(e3.msg, "truncated") != NULL);
	free(img);
}

int main(void)
{
	write_file(path1, zone1);
	write_file(path2, zone2);
	p53_answer_cfg_default(&cfg);
	p53_ctx_init(&ctx, &cfg, 1);
	snap_pre = build(true, NULL);
	snap_dyn = build(false, NULL);
	CHECK(snap_pre && snap_dyn);
	if (snap_pre && snap_dyn) {
		test_positive();
		test_negative();
		test_wildcard();
		test_referral();
		test_dname();
		test_edns_and_truncation();
		test_bad_input();
		test_fuzz();
		test_in_place();
		test_compile_errors();
		test_snapshot_corruption();
		test_big_rrset();
		CHECK(ctx.stats[P53_STAT_PRERENDERED] > 0);
	}
	p53_snapshot_free(snap_pre);
	p53_snapshot_free(snap_dyn);
	unlink(path1);
	unlink(path2);
	return check_report("answer");
}
