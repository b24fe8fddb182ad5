/* Engine tests: every RFC case of the lookup, the bad-input replies, and the
 * property that ties the two answer paths together: a snapshot with
 * pre-rendered answers and one without give byte-identical responses. */
#include "check.h"
#include "zones/answer/answer.h"
#include "zones/compile/compile.h"
#include "zones/compile/dnskey.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"

#include <stdlib.h>
#include <time.h>
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
			    /* served children: one with a DS here, one without;
			     * this side's NS and glue for them are not used */
			    "child NS ns.child\n"
			    "child DS 2371 13 2 "
			    "1111111111111111111111111111111111111111111111111111111111111111\n"
			    "ns.child A 192.0.2.60\n"
			    "nods NS ns.nods\n"
			    "ns.nods A 192.0.2.62\n"
			    "mx MX 10 www\n"
			    "srv SRV 0 0 80 www\n";

static const char zone2[] = "$ORIGIN example2.\n"
			    "$TTL 600\n"
			    "@ SOA ns hostmaster 7 7200 900 1209600 60\n"
			    "@ NS ns\n"
			    "ns A 192.0.2.2\n"
			    "www A 192.0.2.20\n";

/* The children of example.: child has a DS set at its own apex, which is
 * not its data while the parent is served (RFC 4035 3.1.4.1). */
static const char zone_child[] =
    "$ORIGIN child.example.\n"
    "$TTL 900\n"
    "@ SOA ns hostmaster 3 7200 900 1209600 120\n"
    "@ NS ns\n"
    "@ DS 9999 13 2 "
    "2222222222222222222222222222222222222222222222222222222222222222\n"
    "ns A 192.0.2.60\n"
    "www A 192.0.2.61\n";
static const char zone_nods[] = "$ORIGIN nods.example.\n"
				"$TTL 900\n"
				"@ SOA ns hostmaster 4 7200 900 1209600 150\n"
				"@ NS ns\n"
				"ns A 192.0.2.62\n";

static char path1[64], path2[64], path3[64], path4[64];

static void write_file(char *path, const char *text)
{
	strcpy(path, "/tmp/p53_test_XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
}

/* The fixed signing time of signed builds: after the test's keys were
 * made, since a new key is active from its creation (dnskey.h timing). */
static uint64_t sign_time;

/* keys: a DNSSEC key directory (signed at a fixed time), or NULL. */
static struct p53_snapshot *build(bool prerender, const char *keys)
{
	struct p53_zone_input z[4] = {{"example.", path1},
				      {"example2.", path2},
				      {"child.example.", path3},
				      {"nods.example.", path4}};
	struct p53_compile_opts o = {
	    .serial = 1, .no_prerender = !prerender, .dnssec_keys = keys, .sig_now = sign_time};
	struct p53_err err = {0};
	uint8_t *img;
	size_t len;
	if (p53_compile(z, 4, &o, &img, &len, &err) != 0) {
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
	bool aa, tc, cd, opt;
	uint16_t payload; /* the OPT record's UDP size */
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
	r->cd = m[3] & 0x10;
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
			r->payload = (uint16_t)(m[p + 2] << 8 | m[p + 3]);
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

/* count records of type in section sect */
static unsigned count_rr(const struct resp *r, int sect, uint16_t type)
{
	unsigned n = 0;
	for (unsigned i = 0; i < r->nrr; i++)
		n += r->rr[i].sect == sect && r->rr[i].type == type;
	return n;
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

/* RFC 9471 3: a referral carries all the glue of its NS set, or sets TC.
 * bigdeleg has 13 in-domain name servers with A and AAAA glue: 26 records
 * that fit in 1232 bytes but not in 512. Both snapshots answer (ask), so the
 * pre-rendered referral and its relocated form obey the rule too. */
static void test_referral_glue_tc(void)
{
	/* A delegation whose glue fits: complete, no TC. */
	struct resp r = ask("deleg.example.", RR_A, 0);
	CHECK(!r.aa && !r.tc && r.len <= 512);
	CHECK(has_rr(&r, 3, "ns.deleg.example.", RR_A));
	CHECK(has_rr(&r, 3, "ns.sibling.example.", RR_A));

	/* Without EDNS the glue does not fit: TC, within 512 bytes. */
	const char *names[] = {"bigdeleg.example.", "www.bigdeleg.example.",
			       "a.b.c.bigdeleg.example."};
	for (unsigned i = 0; i < 3; i++) {
		r = ask(names[i], RR_A, 0);
		CHECK_EQ(r.rcode, 0);
		CHECK(!r.aa);
		CHECK(r.tc);
		CHECK(r.len > 0 && r.len <= 512);
		CHECK_EQ(r.cnt[2], 13); /* the NS set itself is whole */
		CHECK(count_rr(&r, 3, RR_A) + count_rr(&r, 3, RR_AAAA) < 26);
		/* with room for it, every glue record and no TC */
		r = ask(names[i], RR_A, 1232);
		CHECK(!r.tc && !r.aa);
		CHECK_EQ(r.cnt[2], 13);
		CHECK_EQ(count_rr(&r, 3, RR_A), 13);
		CHECK_EQ(count_rr(&r, 3, RR_AAAA), 13);
		CHECK(has_rr(&r, 3, "ns01.bigdeleg.example.", RR_A) &&
		      has_rr(&r, 3, "ns13.bigdeleg.example.", RR_AAAA));
	}
}

/* RFC 4035 3.1.4.1: with parent and child both served, DS at the child's
 * apex is the parent's: its DS set, or NODATA with the parent's SOA. */
static void test_ds_parent_side(void)
{
	struct resp r = ask("child.example.", RR_DS, 0);
	CHECK_EQ(r.rcode, 0);
	CHECK(r.aa);
	CHECK_EQ(r.cnt[1], 1); /* the parent's one DS, not the child's too */
	CHECK(has_rr(&r, 1, "child.example.", RR_DS));
	CHECK(r.nrr > 0 && r.rr[0].ttl == 3600); /* the parent's TTL; the child's is 900 */
	CHECK_EQ(r.cnt[2], 0);

	r = ask("nods.example.", RR_DS, 0);
	CHECK_EQ(r.rcode, 0);
	CHECK(r.aa);
	CHECK_EQ(r.cnt[1], 0);
	CHECK(has_rr(&r, 2, "example.", RR_SOA));
	CHECK(!has_rr(&r, 2, "nods.example.", RR_SOA));
	CHECK(r.nrr > 0 && r.rr[0].ttl == 300); /* example.'s negative TTL */

	r = ask("Nods.Example.", RR_DS, 1232); /* mixed case, EDNS: the same */
	CHECK(r.aa && r.cnt[1] == 0 && has_rr(&r, 2, "example.", RR_SOA));

	/* Everything else at and below the child apex is the child's. */
	r = ask("child.example.", RR_SOA, 0);
	CHECK(r.aa && has_rr(&r, 1, "child.example.", RR_SOA));
	r = ask("nods.example.", RR_TXT, 0);
	CHECK(r.aa && r.cnt[1] == 0 && has_rr(&r, 2, "nods.example.", RR_SOA));
	r = ask("www.child.example.", RR_A, 0);
	CHECK(r.aa && has_rr(&r, 1, "www.child.example.", RR_A));
	r = ask("www.child.example.", RR_DS, 0);
	CHECK(r.aa && r.cnt[1] == 0 && has_rr(&r, 2, "child.example.", RR_SOA));
	/* A zone whose parent is not served answers DS at its apex itself. */
	r = ask("example2.", RR_DS, 0);
	CHECK(r.aa && r.cnt[1] == 0 && has_rr(&r, 2, "example2.", RR_SOA));
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

static void test_edns(void)
{
	struct resp r = ask("www.example.", RR_A, 1232);
	CHECK(r.opt);
	CHECK_EQ(r.cnt[3], 1);
	CHECK_EQ(r.payload, 1232); /* ours, advertised */
	r = ask("www.example.", RR_A, 0);
	CHECK(!r.opt && r.cnt[3] == 0);
	/* EDNS version 1: BADVERS (extended rcode 1, low bits 0) */
	uint8_t q[512], out[P53_MSG_MAX];
	size_t ql = mkquery(q, "www.example.", RR_A, CLASS_IN, 1232);
	q[ql - 5] = 1;
	size_t n = ask_raw(q, ql, out, P53_UDP);
	CHECK(parse_resp(out, n, &r) && r.opt && r.ext_rcode == 1 && r.rcode == 0);
}

/* The UDP size limit (RFC 6891 6.2.3-6.2.5): the client's EDNS size, at
 * least 512, at most ours (cfg.edns_udp_max); 512 without EDNS. TXT sets of
 * 100-byte records in example2.: small 3 (~370 bytes), nine 9 (~1,060),
 * mid 20 (~2,300). */
static void test_edns_size_cap(void)
{
	static const struct {
		const char *name;
		int edns; /* 0: none */
		uint16_t ours;
		bool tc;
		unsigned limit; /* the reply must not be longer */
		unsigned more;	/* and, without TC, longer than this */
	} cases[] = {
	    {"small.example2.", 0, 1232, false, 512, 300},
	    {"nine.example2.", 0, 1232, true, 512, 0},
	    {"small.example2.", 256, 1232, false, 512, 300}, /* below 512 counts as 512 */
	    {"small.example2.", 1, 1232, false, 512, 300},
	    {"nine.example2.", 1000, 1232, true, 1000, 0}, /* the client's size, under ours */
	    {"nine.example2.", 1232, 1232, false, 1232, 1000},
	    {"mid.example2.", 1232, 1232, true, 1232, 0},
	    {"mid.example2.", 4096, 1232, true, 1232, 0}, /* ours caps the client's */
	    {"mid.example2.", 65535, 1232, true, 1232, 0},
	    {"nine.example2.", 65535, 1232, false, 1232, 1000},
	    {"mid.example2.", 4096, 4096, false, 4096, 2000}, /* a larger cap of ours */
	    {"mid.example2.", 2000, 4096, true, 2000, 0},
	    {"nine.example2.", 600, 4096, true, 600, 0},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg.edns_udp_max = cases[i].ours;
		struct resp r = ask(cases[i].name, RR_TXT, cases[i].edns);
		if (r.tc != cases[i].tc || r.len > cases[i].limit ||
		    (!r.tc && r.len <= cases[i].more))
			fprintf(stderr, "size case %u: %s edns %d ours %u: tc %d len %zu\n", i,
				cases[i].name, cases[i].edns, cases[i].ours, r.tc, r.len);
		CHECK_EQ(r.tc, cases[i].tc);
		CHECK(r.len > 0 && r.len <= cases[i].limit);
		CHECK(r.tc || r.len > cases[i].more);
		CHECK_EQ(r.opt, cases[i].edns > 0);
		if (cases[i].edns > 0)
			CHECK_EQ(r.payload, cases[i].ours);
		if (r.tc) /* cut at the last whole RRset: the one set is left out */
			CHECK_EQ(r.cnt[1], 0);
	}
	cfg.edns_udp_max = 1232;
	/* TCP is limited by the message size only. */
	uint8_t q[512], out[P53_MSG_MAX];
	struct resp r;
	size_t ql = mkquery(q, "mid.example2.", RR_TXT, CLASS_IN, 1232);
	size_t n = ask_raw(q, ql, out, P53_TCP);
	CHECK(parse_resp(out, n, &r) && !r.tc && r.cnt[1] == 20 && r.len > 2000);
}

/* RFC 6891 6.1.1 and 7: error replies to a query with an OPT carry one. */
static void test_opt_on_errors(void)
{
	uint8_t q[600], out[P53_MSG_MAX];
	struct resp r;
	size_t ql = mkquery(q, "www.example.", RR_A, CLASS_IN, 1232);
	q[2] = (uint8_t)(4 << 3); /* opcode NOTIFY */
	size_t n = ask_raw(q, ql, out, P53_UDP);
	CHECK(parse_resp(out, n, &r) && r.rcode == 4 && r.opt && r.payload == 1232);
	/* An opcode other than QUERY with records before the OPT (UPDATE) */
	ql = mkquery(q, "example.", RR_SOA, CLASS_IN, 0);
	q[2] = (uint8_t)(5 << 3);
	static const uint8_t upd[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
	memcpy(q + ql, upd, sizeof(upd));
	ql += sizeof(upd);
	static const uint8_t opt[] = {0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0};
	memcpy(q + ql, opt, sizeof(opt));
	ql += sizeof(opt);
	q[9] = 1;  /* NSCOUNT: the update */
	q[11] = 1; /* ARCOUNT: the OPT */
	n = ask_raw(q, ql, out, P53_UDP);
	CHECK(parse_resp(out, n, &r) && r.rcode == 4 && r.opt);
	/* FORMERR: ANCOUNT 1, then the OPT */
	q[2] = 0;
	q[7] = 1;
	q[9] = 0;
	n = ask_raw(q, ql, out, P53_UDP);
	CHECK(parse_resp(out, n, &r) && r.rcode == 1 && r.opt);
	/* FORMERR: no question, only an OPT */
	uint8_t noq[12 + sizeof(opt)] = {0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	memcpy(noq + 12, opt, sizeof(opt));
	n = ask_raw(noq, sizeof(noq), out, P53_UDP);
	CHECK(parse_resp(out, n, &r) && r.rcode == 1 && r.opt && r.cnt[0] == 0);
	/* FORMERR: qtype 0, and REFUSED: class 4, AXFR */
	static const uint16_t types[] = {0, RR_A, RR_AXFR}, classes[] = {CLASS_IN, 4, CLASS_IN};
	static const uint8_t rcodes[] = {1, 5, 5};
	for (unsigned i = 0; i < 3; i++) {
		ql = mkquery(q, "www.example.", types[i], classes[i], 1232);
		n = ask_raw(q, ql, out, P53_UDP);
		CHECK(parse_resp(out, n, &r) && r.rcode == rcodes[i] && r.opt);
	}
	/* REFUSED outside our zones */
	r = ask("www.example.org.", RR_A, 1232);
	CHECK(r.rcode == 5 && r.opt);
	/* the OPT itself malformed (two OPTs): FORMERR without one */
	ql = mkquery(q, "www.example.", RR_A, CLASS_IN, 1232);
	memcpy(q + ql, q + ql - 11, 11);
	q[11] = 2;
	n = ask_raw(q, ql + 11, out, P53_UDP);
	CHECK(parse_resp(out, n, &r) && r.rcode == 1 && !r.opt);
	/* without an OPT in the query, none in the error */
	ql = mkquery(q, "www.example.", RR_A, CLASS_IN, 0);
	q[2] = (uint8_t)(4 << 3);
	n = ask_raw(q, ql, out, P53_UDP);
	CHECK(parse_resp(out, n, &r) && r.rcode == 4 && !r.opt);
}

/* RFC 7828: a query's edns-tcp-keepalive must be empty (3.2.1); one with a
 * TIMEOUT is FORMERR over TCP, with an OPT, and ignored over UDP (3.2.2). */
static void test_keepalive_option(void)
{
	uint8_t q[600], out[P53_MSG_MAX];
	struct resp r;
	for (int len = 0; len <= 2; len += 2) {
		size_t ql = mkquery(q, "www.example.", RR_A, CLASS_IN, 1232);
		/* the OPT's RDLENGTH, then option 11 with len bytes of TIMEOUT */
		q[ql - 1] = (uint8_t)(4 + len);
		const uint8_t ka[6] = {0, 11, 0, (uint8_t)len, 0, 100};
		memcpy(q + ql, ka, 4 + (size_t)len);
		ql += 4 + (size_t)len;
		size_t n = ask_raw(q, ql, out, P53_TCP);
		CHECK(parse_resp(out, n, &r) && r.opt);
		CHECK_EQ(r.rcode, len ? 1 : 0);
		CHECK(len || has_rr(&r, 1, "www.example.", RR_A));
		n = ask_raw(q, ql, out, P53_UDP);
		CHECK(parse_resp(out, n, &r) && r.opt && r.rcode == 0 &&
		      has_rr(&r, 1, "www.example.", RR_A));
	}
}

/* RFC 4035 3.1.6: CD is copied from the query into the response. */
static void test_cd_copied(void)
{
	uint8_t q[512], out[P53_MSG_MAX];
	struct resp r;
	const char *names[] = {"www.example.", "nope.example.", "deleg.example.", "alias.example."};
	for (unsigned i = 0; i < 4; i++) {
		size_t ql = mkquery(q, names[i], RR_A, CLASS_IN, i & 1 ? 1232 : 0);
		q[3] |= 0x10;
		size_t n = ask_raw(q, ql, out, P53_UDP);
		CHECK(parse_resp(out, n, &r) && r.cd);
		q[3] &= (uint8_t)~0x10;
		n = ask_raw(q, ql, out, P53_UDP);
		CHECK(parse_resp(out, n, &r) && !r.cd);
	}
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

/* DNSSEC (docs/dnssec.md): the same property for DO=1 answers from a signed
 * snapshot, and what they hold beside DO=0 ones. Ed25519 signs
 * deterministically, so both compiles hold the same signatures. */
static void test_signed(void)
{
	char dir[] = "/tmp/p53_keys_XXXXXX", base[512], path[600];
	CHECK(mkdtemp(dir) != NULL);
	struct dnskey k;
	struct p53_err err = {0};
	static const uint8_t owner[] = "\7example";
	CHECK_EQ(dnskey_generate(&k, owner, sizeof(owner), DNSKEY_ALG_ED25519, DNSKEY_KSK, 0, &err),
		 0);
	CHECK_EQ(dnskey_write_bind(&k, dir, base, sizeof(base), &err), 0);
	dnskey_free(&k);
	sign_time = (uint64_t)time(NULL) + 60;
	struct p53_snapshot *pre = snap_pre, *dyn = snap_dyn;
	snap_pre = build(true, dir);
	snap_dyn = build(false, dir);
	CHECK(snap_pre && snap_dyn);
	static const char *const names[] = {
	    "example.",		  "www.example.",	   "Www.Example.",     "alias.example.",
	    "chain1.example.",	  "nope.example.",	   "x.wild.example.",  "a.b.wild.example.",
	    "wild.example.",	  "deleg.example.",	   "a.deleg.example.", "sibling.example.",
	    "a.sibling.example.", "www.dn.example.",	   "mx.example.",      "srv.example.",
	    "child.example.",	  "nods.example.",	   "loop1.example.",   "dead.example.",
	    "x.blocked.example.", "node.blocked.example.", "ns.deleg.example."};
	static const uint16_t types[] = {RR_A,	   RR_AAAA,  RR_NS,  RR_SOA,	RR_MX,
					 RR_TXT,   RR_DS,    RR_ANY, RR_DNSKEY, RR_NSEC,
					 RR_RRSIG, RR_CNAME, RR_CDS};
	for (unsigned i = 0; snap_pre && snap_dyn && i < sizeof(names) / sizeof(names[0]); i++)
		for (unsigned t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
			ask(names[i], types[t], 1232);
			ask(names[i], types[t], 512);
			ask(names[i], types[t], 0);
		}
	if (snap_pre && snap_dyn) {
		struct resp r = ask("www.example.", RR_A, 1232);
		CHECK(has_rr(&r, 1, "www.example.", RR_A) &&
		      has_rr(&r, 1, "www.example.", RR_RRSIG));
		r = ask("www.example.", RR_A, 0);
		CHECK(has_rr(&r, 1, "www.example.", RR_A) &&
		      !has_rr(&r, 1, "www.example.", RR_RRSIG));
		/* The parent's chain runs through its side of the served
		 * children's cuts: nods. < nope. < ns.deleg. */
		r = ask("nope.example.", RR_A, 1232);
		CHECK(r.rcode == 3 && has_rr(&r, 2, "example.", RR_RRSIG) &&
		      has_rr(&r, 2, "nods.example.", RR_NSEC) && has_rr(&r, 2, "example.", RR_NSEC));
		r = ask("nods.example.", RR_DS, 1232);
		CHECK(r.rcode == 0 && r.aa && r.cnt[1] == 0 && has_rr(&r, 2, "example.", RR_SOA) &&
		      has_rr(&r, 2, "nods.example.", RR_NSEC) &&
		      has_rr(&r, 2, "nods.example.", RR_RRSIG) &&
		      !has_rr(&r, 2, "nods.example.", RR_SOA));
		r = ask("child.example.", RR_DS, 1232);
		CHECK(r.rcode == 0 && r.aa && has_rr(&r, 1, "child.example.", RR_DS) &&
		      has_rr(&r, 1, "child.example.", RR_RRSIG) && r.cnt[2] == 0);
		r = ask("x.wild.example.", RR_A, 1232);
		CHECK(has_rr(&r, 1, "x.wild.example.", RR_RRSIG) &&
		      has_rr(&r, 2, "*.wild.example.", RR_NSEC));
		r = ask("a.deleg.example.", RR_A, 1232);
		CHECK(!r.aa && has_rr(&r, 2, "deleg.example.", RR_DS) &&
		      has_rr(&r, 2, "deleg.example.", RR_RRSIG));
		r = ask("a.sibling.example.", RR_A, 1232);
		CHECK(has_rr(&r, 2, "sibling.example.", RR_NSEC) &&
		      !has_rr(&r, 2, "sibling.example.", RR_DS));
		r = ask("example.", RR_DNSKEY, 1232);
		CHECK(has_rr(&r, 1, "example.", RR_DNSKEY) && has_rr(&r, 1, "example.", RR_RRSIG));
		test_fuzz();
	}
	p53_snapshot_free(snap_pre);
	p53_snapshot_free(snap_dyn);
	snap_pre = pre;
	snap_dyn = dyn;
	snprintf(path, sizeof(path), "%s.key", base);
	unlink(path);
	snprintf(path, sizeof(path), "%s.private", base);
	unlink(path);
	rmdir(dir);
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
	write_file(path3, zone_child);
	write_file(path4, zone_nods);
	FILE *f = fopen(path1, "a");
	for (int i = 1; i <= 13; i++)
		fprintf(f,
			"bigdeleg NS ns%02d.bigdeleg\nns%02d.bigdeleg A 192.0.2.%d\n"
			"ns%02d.bigdeleg AAAA 2001:db8::%d\n",
			i, i, 100 + i, i, 100 + i);
	fclose(f);
	f = fopen(path2, "a");
	static const struct {
		const char *owner;
		int n;
	} txt[] = {{"small", 3}, {"nine", 9}, {"mid", 20}};
	for (unsigned k = 0; k < 3; k++)
		for (int i = 0; i < txt[k].n; i++)
			fprintf(f, "%s TXT \"%02d%098d\"\n", txt[k].owner, i, 0);
	fclose(f);
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
		test_referral_glue_tc();
		test_ds_parent_side();
		test_edns();
		test_edns_size_cap();
		test_opt_on_errors();
		test_keepalive_option();
		test_cd_copied();
		test_bad_input();
		test_fuzz();
		test_in_place();
		test_compile_errors();
		test_snapshot_corruption();
		test_big_rrset();
		test_signed();
		CHECK(ctx.stats[P53_STAT_PRERENDERED] > 0);
	}
	p53_snapshot_free(snap_pre);
	p53_snapshot_free(snap_dyn);
	unlink(path1);
	unlink(path2);
	unlink(path3);
	unlink(path4);
	return check_report("answer");
}
