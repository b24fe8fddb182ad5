/* Unit tests for the master-file parser (zparse.c) and the rdata printer
 * (zprint.c): every type, every syntax rule, every rejection with its
 * "file:line:" prefix, and text -> wire -> text -> wire round trips. */
#include "check.h"

#include "zones/common/name.h"
#include "zones/common/rrtype.h"
#include "zones/compile/zparse.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t origin[] = "\7example\3com";

/* ---- helpers ---------------------------------------------------------- */

struct rec {
	char owner[1100];
	uint16_t type, rclass;
	uint32_t ttl;
	uint8_t rdata[1024];
	size_t rdlen;
	char file[300];
	unsigned line;
};

struct coll {
	struct rec r[32];
	int n;
	long total;
	int fail_at; /* 1-based record number the callback rejects, 0 never */
};

static int collect(void *ctx, const struct zparse_rr *rr, struct p53_err *err)
{
	struct coll *c = ctx;

	c->total++;
	if (c->fail_at && c->total == c->fail_at)
		return p53_err_at(err, P53_EINVAL, rr->file, rr->line, "callback says no");
	if (c->n >= (int)(sizeof(c->r) / sizeof(c->r[0])))
		return 0;
	struct rec *r = &c->r[c->n++];
	name_to_text(rr->owner, r->owner, sizeof(r->owner));
	r->type = rr->type;
	r->rclass = rr->rclass;
	r->ttl = rr->ttl;
	r->rdlen = rr->rdlen < sizeof(r->rdata) ? rr->rdlen : sizeof(r->rdata);
	memcpy(r->rdata, rr->rdata, r->rdlen);
	snprintf(r->file, sizeof(r->file), "%s", rr->file);
	r->line = rr->line;
	return 0;
}

static int parse_text(const char *text, struct coll *c, struct p53_err *err, uint32_t def_ttl)
{
	struct zparse_opts o = {.origin = origin, .default_ttl = def_ttl};

	memset(c, 0, sizeof(*c));
	memset(err, 0, sizeof(*err));
	return zparse_string("t.zone", text, strlen(text), &o, collect, c, err);
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = 0;
}

static const char *rdata_hex(const struct rec *r)
{
	static char buf[2100];

	to_hex(r->rdata, r->rdlen, buf);
	return buf;
}

/* ---- every type: wire, text, round trip -------------------------------- */

struct type_case {
	uint16_t type;
	const char *in;
	const char *wire;
	const char *out;
};

static const struct type_case type_cases[] = {
    {RR_A, "192.0.2.1", "c0000201", "192.0.2.1"},
    {RR_AAAA, "2001:db8::1", "20010db8000000000000000000000001", "2001:db8::1"},
    {RR_AAAA, "::ffff:192.0.2.1", "00000000000000000000ffffc0000201", "::ffff:192.0.2.1"},
    {RR_NS, "ns1", "036e7331076578616d706c6503636f6d00", "ns1.example.com."},
    {RR_NS, "@", "076578616d706c6503636f6d00", "example.com."},
    {RR_CNAME, "www.Example.NET.", "03777777074578616d706c65034e455400", "www.Example.NET."},
    {RR_SOA, "ns1 hostmaster.example.com. 2024010101 1h 15m 1w 300",
     "036e7331076578616d706c6503636f6d000a686f73746d6173746572076578616d706c6503636f6d00"
     "78a3f17500000e100000038400093a800000012c",
     "ns1.example.com. hostmaster.example.com. 2024010101 3600 900 604800 300"},
    {RR_PTR, "host.example.com.", "04686f7374076578616d706c6503636f6d00", "host.example.com."},
    {RR_HINFO, "\"PC\" Linux", "025043054c696e7578", "\"PC\" \"Linux\""},
    {RR_MX, "10 mail", "000a046d61696c076578616d706c6503636f6d00", "10 mail.example.com."},
    {RR_MX, "0 .", "000000", "0 ."},
    {RR_TXT, "\"hello world\" \"a\\\"b\\\\c\" x\\065 \"\\200\"",
     "0b68656c6c6f20776f726c64056122625c6302784101c8",
     "\"hello world\" \"a\\\"b\\\\c\" \"xA\" \"\\200\""},
    {RR_TXT, "\"\"", "00", "\"\""},
    {RR_TXT, "\"semi;colon (paren)\"", "1273656d693b636f6c6f6e2028706172656e29",
     "\"semi;colon (paren)\""},
    {RR_SPF, "\"v=spf1 -all\"", "0b763d73706631202d616c6c", "\"v=spf1 -all\""},
    {RR_SRV, "0 5 5060 sip.example.com.", "0000000513c403736970076578616d706c6503636f6d00",
     "0 5 5060 sip.example.com."},
    {RR_NAPTR, "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .",
     "0064000a0155074532552b7369701b215e2e2a24217369703a696e666f406578616d706c652e636f6d2100",
     "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" ."},
    {RR_DNAME, "example.net.", "076578616d706c65036e657400", "example.net."},
    {RR_DS, "60485 5 1 2BB183AF5F225881 79A53B0A98631FAD1A292118",
     "ec4505012bb183af5f22588179a53b0a98631fad1a292118",
     "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"},
    {RR_SSHFP, "2 1 123456789abcdef67890123456789abcdef67890",
     "0201123456789abcdef67890123456789abcdef67890",
     "2 1 123456789ABCDEF67890123456789ABCDEF67890"},
    {RR_DNSKEY, "256 3 8 AwEAAcMn ZQ==", "0100030803010001c32765", "256 3 8 AwEAAcMnZQ=="},
    {RR_DNSKEY, "257 3 13 AQID", "0101030d010203", "257 3 13 AQID"},
    {RR_TLSA, "3 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
     "030101d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
     "3 1 1 D2ABDE240D7CD3EE6B4B28C54DF034B97983A1D16E8A410E4561CB106618E971"},
    {RR_SVCB, "1 svc.example.com. alpn=h2,h3 port=8443 ipv4hint=192.0.2.1",
     "000103737663076578616d706c6503636f6d00000100060268320268330003000220fb00040004c0000201",
     "1 svc.example.com. alpn=\"h2,h3\" port=8443 ipv4hint=192.0.2.1"},
    {RR_SVCB, "0 svc", "000003737663076578616d706c6503636f6d00", "0 svc.example.com."},
    {RR_HTTPS,
     "1 . key65000=\"x\\001y\" port=8443 alpn=h3 mandatory=port,alpn ech=AEn+ "
     "no-default-alpn ipv6hint=2001:db8::1,2001:db8::2",
     "000100000000040001000300010003026833000200000003000220fb000500030049fe0006002020010db8"
     "00000000000000000000000120010db8000000000000000000000002fde80003780179",
     "1 . mandatory=alpn,port alpn=\"h3\" no-default-alpn port=8443 ech=AEn+ "
     "ipv6hint=2001:db8::1,2001:db8::2 key65000=\"x\\001y\""},
    /* RFC 9460 appendix D.2: a comma inside an alpn id, escaped twice. */
    {RR_SVCB, "1 foo.example.com. alpn=\"f\\\\\\\\oo\\\\,bar,h2\"",
     "000103666f6f076578616d706c6503636f6d000001000c08665c6f6f2c626172026832",
     "1 foo.example.com. alpn=\"f\\\\\\\\oo\\\\,bar,h2\""},
    {RR_HTTPS, "1 . key3=\"ab\\000\"",
     "0001000003000361620"
     "0",
     "1 . key3=\"ab\\000\""},
    {RR_HTTPS, "1 . key7", "00010000070000", "1 . key7"},
    {RR_CAA, "0 issue \"ca.example.net\"", "0005697373756563612e6578616d706c652e6e6574",
     "0 issue \"ca.example.net\""},
    {RR_CAA, "128 tbs Unknown",
     "800374627355"
     "6e6b6e6f776e",
     "128 tbs \"Unknown\""},
    /* RFC 3597 for an unknown type, and for known types. */
    {65280, "\\# 4 0a000001", "0a000001", "\\# 4 0A000001"},
    {65280, "\\# 0", "", "\\# 0"},
    {RR_A, "\\# 4 0a000001", "0a000001", "10.0.0.1"},
    {RR_MX, "\\# 3 000a 00", "000a00", "10 ."},
    {RR_L32, "10 10.1.2.0", "000a0a010200", "10 10.1.2.0"},
    {RR_LP, "10 l64-subnet1.example.com.", "000a0b6c36342d7375626e657431076578616d706c6503636f6d00",
     "10 l64-subnet1.example.com."},
    {RR_RP, "mbox.Example.com. txt",
     "046d626f78074578616d706c6503636f6d0003747874076578616d706c6503636f6d00",
     "mbox.Example.com. txt.example.com."},
    {RR_KX, "10 kx", "000a026b78076578616d706c6503636f6d00", "10 kx.example.com."},
    {RR_EUI48, "00-00-5e-00-53-2a", "00005e00532a", "00-00-5E-00-53-2A"},
    /* HIP and AMTRELAY, which the scanner does not know (zparse reads
     * them); wire as dnspython makes it from the same text. */
    {RR_HIP, "2 200100107B1A74DF365639CC39F1D578 AwEAAbdx rvs1 rvs2.example.net.",
     "10020006200100107b1a74df365639cc39f1d57803010001b7710472767331076578616d706c6503636f6d"
     "000472767332076578616d706c65036e657400",
     "2 200100107B1A74DF365639CC39F1D578 AwEAAbdx rvs1.example.com. rvs2.example.net."},
    {RR_HIP, "2 0a 3q2+7w==", "010200040adeadbeef", "2 0A 3q2+7w=="},
    {RR_HIP, "\\# 4 01020001", "01020001", "\\# 4 01020001"},
    {RR_AMTRELAY, "10 0 1 203.0.113.15", "0a01cb00710f", "10 0 1 203.0.113.15"},
    {RR_AMTRELAY, "128 1 3 relay", "80830572656c6179076578616d706c6503636f6d00",
     "128 1 3 relay.example.com."},
    {RR_AMTRELAY, "0 0 0 .", "0000", "0 0 0 ."},
    {RR_AMTRELAY, "10 0 2 2001:db8::15", "0a0220010db8000000000000000000000015",
     "10 0 2 2001:db8::15"},
    {RR_AMTRELAY, "\\# 3 0a0400", "0a0400", "\\# 3 0A0400"},
};

static void test_types(void)
{
	uint8_t wire[65535], again[65535];
	char hex[2 * 1024 + 1], text[8192];
	struct p53_err err;

	for (size_t i = 0; i < sizeof(type_cases) / sizeof(type_cases[0]); i++) {
		const struct type_case *tc = &type_cases[i];

		memset(&err, 0, sizeof(err));
		int n = zparse_rdata(tc->type, tc->in, strlen(tc->in), origin, wire, sizeof(wire),
				     &err);
		if (n < 0) {
			fprintf(stderr, "case %zu (%s): %s\n", i, tc->in, err.msg);
			CHECK(n >= 0);
			continue;
		}
		to_hex(wire, (size_t)n, hex);
		CHECK_STR(hex, tc->wire);
		int t = zprint_rdata(tc->type, wire, (size_t)n, text, sizeof(text));
		CHECK(t > 0);
		CHECK_STR(text, tc->out);
		CHECK_EQ(t, strlen(text));
		int m =
		    zparse_rdata(tc->type, text, strlen(text), NULL, again, sizeof(again), &err);
		CHECK_EQ(m, n);
		CHECK(m == n && memcmp(wire, again, (size_t)n) == 0);
	}
}

/* ---- syntax -------------------------------------------------------------- */

static void test_basic_zone(void)
{
	static const char zone[] = "$ORIGIN example.com.\n"
				   "$TTL 1h30m\n"
				   "@ IN SOA ns1 hostmaster ( 2024010101 ; serial\n"
				   "\t1h ; refresh\n"
				   "\t15m 1w 300 )\n"
				   "\tNS ns1\n"
				   "ns1 300 IN A 192.0.2.1\n"
				   "    IN 600 AAAA 2001:db8::1   ; class before TTL\n"
				   "\n"
				   "; a comment line\n"
				   "www CNAME @\n"
				   "sub 1w2d IN TXT \"semi;colon\" \"paren(\" ; real comment\n"
				   "Mixed.Case a 192.0.2.2\n"
				   "a\\;b\\032c A 192.0.2.9\n"
				   "$origin sub.example.com.\n"
				   "rel A 192.0.2.3\n"
				   "abs.example.org. A 192.0.2.4\n"
				   "$ORIGIN deeper.sub.example.com.\n"
				   "x TYPE1 192.0.2.5\n"
				   "y IN TYPE65280 \\# 2 abcd";
	struct coll c;
	struct p53_err err;
	int rc = parse_text(zone, &c, &err, 3600);

	CHECK_EQ(rc, 0);
	if (rc)
		fprintf(stderr, "%s\n", err.msg);
	CHECK_EQ(c.n, 12);
	CHECK_STR(c.r[0].owner, "example.com.");
	CHECK_EQ(c.r[0].type, RR_SOA);
	CHECK_EQ(c.r[0].ttl, 5400);
	CHECK_EQ(c.r[0].line, 3);
	CHECK_STR(c.r[0].file, "t.zone");
	CHECK_STR(c.r[1].owner, "example.com.");
	CHECK_EQ(c.r[1].type, RR_NS);
	CHECK_EQ(c.r[1].line, 6);
	CHECK_STR(c.r[2].owner, "ns1.example.com.");
	CHECK_EQ(c.r[2].ttl, 300);
	CHECK_EQ(c.r[2].rclass, CLASS_IN);
	CHECK_STR(c.r[3].owner, "ns1.example.com.");
	CHECK_EQ(c.r[3].type, RR_AAAA);
	CHECK_EQ(c.r[3].ttl, 600);
	CHECK_STR(c.r[4].owner, "www.example.com.");
	CHECK_STR(rdata_hex(&c.r[4]), "076578616d706c6503636f6d00");
	CHECK_EQ(c.r[4].line, 11);
	CHECK_STR(c.r[5].owner, "sub.example.com.");
	CHECK_EQ(c.r[5].ttl, 777600);
	CHECK_EQ(c.r[5].rclass, CLASS_IN);
	CHECK_STR(rdata_hex(&c.r[5]), "0a73656d693b636f6c6f6e06706172656e28");
	CHECK_STR(c.r[6].owner, "Mixed.Case.example.com.");
	CHECK_EQ(c.r[6].type, RR_A);
	CHECK_EQ(c.r[6].rclass, CLASS_IN);
	CHECK_STR(c.r[7].owner, "a\\;b\\032c.example.com.");
	CHECK_STR(c.r[8].owner, "rel.sub.example.com.");
	CHECK_STR(c.r[9].owner, "abs.example.org.");
	CHECK_STR(c.r[10].owner, "x.deeper.sub.example.com.");
	CHECK_EQ(c.r[10].type, RR_A);
	CHECK_EQ(c.r[11].type, 65280);
	CHECK_EQ(c.r[11].rclass, 1);
	CHECK_STR(rdata_hex(&c.r[11]), "abcd");
	CHECK_EQ(c.r[11].line, 20); /* last line without a newline */
}

static void test_ttl_rules(void)
{
	static const char zone[] = "a A 192.0.2.1\n"
				   "b 60 A 192.0.2.1\n"
				   "c A 192.0.2.1\n"
				   "$TTL 100\n"
				   "d A 192.0.2.1\n"
				   "e 5 A 192.0.2.1\n"
				   "f A 192.0.2.1\n"
				   "g 1H30M A 192.0.2.1\n"
				   "h 2147483647 A 192.0.2.1\n"
				   "i 0 A 192.0.2.1\n"
				   "j 1w2d3h4m5s A 192.0.2.1\n";
	static const uint32_t want[] = {3600, 60, 60, 100, 5, 100, 5400, 2147483647, 0, 788645};
	struct coll c;
	struct p53_err err;

	CHECK_EQ(parse_text(zone, &c, &err, 3600), 0);
	CHECK_EQ(c.n, 10);
	for (int i = 0; i < 10 && i < c.n; i++)
		CHECK_EQ(c.r[i].ttl, want[i]);
}

static void test_parens_and_quotes(void)
{
	static const char zone[] = "a TXT ( \"one\"\n"
				   "        \"two ) three\" ; comment ( with paren\n"
				   "        four )\n"
				   "b TXT \"x\\\"y;z\"\n"
				   "c\tDS 1 2 3 ( 0a0B\n 0c )\r\n"
				   "d 300 IN DNSKEY 256 3 8 (\n AQID\n BAUG )\n";
	struct coll c;
	struct p53_err err;

	CHECK_EQ(parse_text(zone, &c, &err, 3600), 0);
	CHECK_EQ(c.n, 4);
	CHECK_STR(rdata_hex(&c.r[0]), "036f6e650b74776f2029207468726565"
				      "04666f7572");
	CHECK_EQ(c.r[0].line, 1);
	CHECK_STR(rdata_hex(&c.r[1]), "05782279"
				      "3b7a");
	CHECK_STR(rdata_hex(&c.r[2]), "000102030a0b0c");
	CHECK_EQ(c.r[2].line, 5);
	CHECK_STR(rdata_hex(&c.r[3]), "0100030801020304050"
				      "6");
	CHECK_EQ(c.r[3].line, 7);
}

/* ---- rejections ---------------------------------------------------------- */

struct bad_case {
	const char *zone;
	int code;
	const char *where; /* "t.zone:N:" */
	const char *why;
};

static const struct bad_case bad_cases[] = {
    {"a A 1.2.3\n", P53_EINVAL, "t.zone:1: ", "invalid IPv4 address"},
    {"a A 01.2.3.4\n", P53_EINVAL, "t.zone:1: ", "invalid IPv4 address"},
    {"a A 1.2.3.256\n", P53_EINVAL, "t.zone:1: ", "invalid IPv4 address"},
    {"a AAAA 2001:db8::g\n", P53_EINVAL, "t.zone:1: ", "invalid address character"},
    {"\n\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa A 1.2.3.4\n",
     P53_EINVAL, "t.zone:3: ", "maximal domain name label length has exceeded"},
    {"a 4294967296 A 1.2.3.4\n", P53_EINVAL, "t.zone:1: ", "number is bigger than 32 bits"},
    {"a 2147483648 A 1.2.3.4\n", P53_EINVAL, "t.zone:1: ", "TTL 2147483648 out of range"},
    {"a 99999999999999999999999w A 1.2.3.4\n", P53_EINVAL, "t.zone:1: ", "number is too big"},
    {"$TTL 3000000000\na A 1.2.3.4\n", P53_EINVAL, "t.zone:2: ", "TTL 3000000000 out of range"},
    {"a 1h30 A 1.2.3.4\n", P53_EINVAL, "t.zone:1: ", "invalid time unit"},
    {"a TXT \\# 0\n", P53_EINVAL, "t.zone:1: ", "invalid number"},
    {"a TXT \\# 1 00\na MX \\# 1 00\n", P53_EINVAL, "t.zone:2: ", "rdata is not valid MX rdata"},
    {"$TTL 1x\n", P53_EINVAL, "t.zone:1: ", "invalid time unit"},
    {"a FOO 1.2.3.4\n", P53_EINVAL, "t.zone:1: ", "invalid number"},
    {"a IN\n", P53_EINVAL, "t.zone:1: ", "unsupported record type"},
    {"a TXT \"abc\nb A 1.2.3.4\n", P53_EINVAL, "t.zone:1: ", "invalid text character"},
    {"a TXT \"abc", P53_EINVAL, "t.zone:1: ", "invalid text character"},
    {"a A ( 1.2.3.4\nb A 1.2.3.4\n", P53_EINVAL, "t.zone:3: ", "unclosed last multiline block"},
    {"a A 1.2.3.4 )\n", P53_EINVAL, "t.zone:1: ", "too many right parentheses"},
    {"a TXT \"\\300\"\n", P53_EINVAL, "t.zone:1: ", "number is bigger than 8 bits"},
    {"a TXT\n", P53_EINVAL, "t.zone:1: ", "invalid record data"},
    {"; first\n  A 1.2.3.4\n", P53_EINVAL, "t.zone:2: ", "previous owner is invalid"},
    {"$FOO x\n", P53_EINVAL, "t.zone:1: ", "invalid directive"},
    {"$ORIGIN\n", P53_EINVAL, "t.zone:1: ", "invalid FQDN zone origin"},
    {"$ORIGIN a..b\n", P53_EINVAL, "t.zone:1: ", "unexpected data"},
    {"$GENERATEX 1-2 a$ A 1.2.3.$\n", P53_EINVAL, "t.zone:1: ", "invalid directive"},
    {"$INCLUDE\n", P53_EINVAL, "t.zone:1: ", "general scanner error"},
    {"$INCLUDE /nonexistent/port53.zone\n", P53_EIO,
     "t.zone:1: ", "cannot open '/nonexistent/port53.zone'"},
    {"a A 1.2.3.4 5\n", P53_EINVAL, "t.zone:1: ", "unexpected data"},
    {"a MX 10\n", P53_EINVAL, "t.zone:1: ", "invalid number"},
    {"a MX 65536 mx\n", P53_EINVAL, "t.zone:1: ", "number is bigger than 16 bits"},
    {"a MX -1 mx\n", P53_EINVAL, "t.zone:1: ", "invalid number"},
    {"a MX 10 \"mx\"\n", P53_EINVAL, "t.zone:1: ", "invalid record data"},
    {"a SOA ns hm 1 2 3 4\n", P53_EINVAL, "t.zone:1: ", "invalid time unit"},
    {"a SOA ns hm 1 2 3 4 5x\n", P53_EINVAL, "t.zone:1: ", "invalid time unit"},
    {"a SOA ns hm 4294967296 2 3 4 5\n", P53_EINVAL, "t.zone:1: ", "number is bigger than 32 bits"},
    {"a TYPE999 1 2\n", P53_EINVAL, "t.zone:1: ", "unable to process text form for this type"},
    {"a RRSIG A 8 2 300 x\n", P53_EINVAL, "t.zone:1: ", "invalid timestamp character"},
    {"a A \\# 3 0a0000\n", P53_EINVAL, "t.zone:1: ", "rdata is not valid A rdata"},
    {"a MX \\# 4 000ac000\n", P53_EINVAL, "t.zone:1: ", "rdata is not valid MX rdata"},
    {"a A \\# 4 0a0000\n", P53_EINVAL, "t.zone:1: ", "the rdata length statement is incorrect"},
    {"a A \\# 4 0a00000\n", P53_EINVAL, "t.zone:1: ", "invalid hexadecimal character"},
    {"a A \\# 4\n", P53_EINVAL, "t.zone:1: ", "invalid number"},
    {"a A \\# x 00\n", P53_EINVAL, "t.zone:1: ", "invalid number"},
    {"a HTTPS 1 . alpn=h2 alpn=h3\n", P53_EINVAL, "t.zone:1: ", "duplicate parameter name"},
    {"a HTTPS 1 . alpn=h2 key1=h3\n", P53_EINVAL, "t.zone:1: ", "duplicate parameter name"},
    {"a HTTPS 1 . mandatory=port alpn=h2\n", P53_EINVAL,
     "t.zone:1: ", "missing mandatory parameter"},
    {"a HTTPS 1 . mandatory=mandatory\n", P53_EINVAL, "t.zone:1: ", "invalid mandatory value"},
    {"a HTTPS 1 . mandatory=port,port port=1\n", P53_EINVAL,
     "t.zone:1: ", "duplicate mandatory value"},
    {"a HTTPS 1 . foo=bar\n", P53_EINVAL, "t.zone:1: ", "invalid parameter"},
    {"a HTTPS 1 . port=99999\n", P53_EINVAL, "t.zone:1: ", "number is bigger than 16 bits"},
    {"a HTTPS 1 . port\n", P53_EINVAL, "t.zone:1: ", "invalid parameter"},
    {"a HTTPS 1 . alpn=h2,\n", P53_EINVAL, "t.zone:1: ", "empty comma-separated list item"},
    {"a HTTPS 1 . no-default-alpn=x\n", P53_EINVAL, "t.zone:1: ", "invalid parameter"},
    {"a HTTPS 1 . ipv4hint=1.2.3.4,1.2.3\n", P53_EINVAL, "t.zone:1: ", "invalid IPv4 address"},
    {"a HTTPS 1 . ipv6hint=1.2.3.4\n", P53_EINVAL, "t.zone:1: ", "invalid IPv6 address"},
    {"a HTTPS 1 . ech=AEn\n", P53_EINVAL, "t.zone:1: ", "invalid parameter"},
    {"a DNSKEY 256 3 8 AwEAA\n", P53_EINVAL, "t.zone:1: ", "invalid Base64 character"},
    {"a DNSKEY 256 3 8 Aw*A\n", P53_EINVAL, "t.zone:1: ", "invalid Base64 character"},
    {"a DNSKEY 256 3 8\n", P53_EINVAL, "t.zone:1: ", "invalid record data"},
    {"a DS 1 2 3 zz\n", P53_EINVAL, "t.zone:1: ", "invalid hexadecimal character"},
    {"a DS 1 2 3 abc\n", P53_EINVAL, "t.zone:1: ", "invalid hexadecimal character"},
    {"a CAA 0 issue \"x\" y\n", P53_EINVAL, "t.zone:1: ", "unexpected data"},
    {"a 300 300 A 1.2.3.4\n", P53_EINVAL, "t.zone:1: ", "unsupported record type"},
    {"\"q\" A 1.2.3.4\n", P53_EINVAL, "t.zone:1: ", "owner is invalid"},
    {"a A 1.2.3.4\nb A 1.2.3.4\nc A 1.2.3.4\nd A 1.2.3.4\ne A 1.2.3\n", P53_EINVAL,
     "t.zone:5: ", "invalid IPv4 address"},
    {"a TXT foo\\\n", P53_EINVAL, "t.zone:1: ", "invalid number"},
    {"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q."
     "r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i."
     "j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b"
     " A 1.2.3.4\n",
     P53_EINVAL, "t.zone:1: ", "maximal domain name length has exceeded"},
};

static void test_rejections(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct coll c;
		struct p53_err err;
		int rc = parse_text(bc->zone, &c, &err, 3600);

		CHECK_EQ(rc, bc->code);
		CHECK_EQ(err.code, bc->code);
		bool ok = strncmp(err.msg, bc->where, strlen(bc->where)) == 0 &&
			  strstr(err.msg, bc->why) != NULL;
		if (!ok)
			fprintf(stderr, "case %zu: got \"%s\", want \"%s...%s\"\n", i, err.msg,
				bc->where, bc->why);
		CHECK(ok);
	}
}

static void test_long_string(void)
{
	char zone[400];
	struct coll c;
	struct p53_err err;

	memset(zone, 'x', sizeof(zone));
	memcpy(zone, "a TXT \"", 7);
	memcpy(zone + 7 + 255, "\"\n", 3); /* exactly 255: one string */
	CHECK_EQ(parse_text(zone, &c, &err, 60), 0);
	CHECK_EQ(c.r[0].rdlen, 256);
	/* Longer text is split into 255-byte strings, as Knot and NSD do. */
	zone[7 + 255] = 'x';
	memcpy(zone + 7 + 256, "\"\n", 3);
	CHECK_EQ(parse_text(zone, &c, &err, 60), 0);
	CHECK_EQ(c.r[0].rdlen, 258);
	CHECK_EQ(c.r[0].rdata[0], 255);
	CHECK_EQ(c.r[0].rdata[256], 1);
}

static void test_callback_stop(void)
{
	struct zparse_opts o = {.origin = origin, .default_ttl = 60};
	struct coll c = {.fail_at = 2};
	struct p53_err err = {0};
	const char *z = "a A 1.2.3.4\nb A 1.2.3.4\nc A 1.2.3.4\n";

	CHECK_EQ(zparse_string("cb.zone", z, strlen(z), &o, collect, &c, &err), P53_EINVAL);
	CHECK_EQ(c.total, 2);
	CHECK_STR(err.msg, "cb.zone:2: callback says no");

	struct zparse_opts none = {0};
	memset(&err, 0, sizeof(err));
	CHECK_EQ(zparse_string("x", z, strlen(z), &none, collect, &c, &err), P53_EINVAL);
	CHECK(err.msg[0] != 0);
}

static void test_rdata_api(void)
{
	uint8_t out[64];
	struct p53_err err = {0};

	/* Standalone rdata: messages carry no file:line, and there is no
	 * origin, so relative names are refused. */
	CHECK_EQ(zparse_rdata(RR_A, "1.2.3", 5, NULL, out, sizeof(out), &err), P53_EINVAL);
	CHECK_STR(err.msg, "invalid IPv4 address");
	memset(&err, 0, sizeof(err));
	/* Without an origin, names are relative to the root. */
	CHECK_EQ(zparse_rdata(RR_CNAME, "www", 3, NULL, out, sizeof(out), &err), 5);
	CHECK(memcmp(out, "\3www\0", 5) == 0);
	memset(&err, 0, sizeof(err));
	CHECK_EQ(zparse_rdata(RR_TXT, "\"0123456789\"", 12, NULL, out, 8, &err), P53_ERANGE);
	memset(&err, 0, sizeof(err));
	/* Newlines and parentheses are plain blanks here. */
	const char *t = "( \"a\"\n \"b\" )";
	CHECK_EQ(zparse_rdata(RR_TXT, t, strlen(t), NULL, out, sizeof(out), &err), 4);
	CHECK_EQ(zparse_rdata(RR_TXT, "\"a\" ; c", 7, NULL, out, sizeof(out), &err), 2);
	memset(&err, 0, sizeof(err));
	CHECK_EQ(zparse_rdata(RR_A, "", 0, NULL, out, sizeof(out), &err), P53_EINVAL);
	CHECK(err.msg[0] != 0);

	/* A long TXT makes the token arena leave its stack buffer. */
	static char big[40000];
	static uint8_t wire[65535];
	size_t o = 0;
	for (int i = 0; i < 150; i++)
		o += (size_t)sprintf(big + o, "\"%0200d\" ", i);
	memset(&err, 0, sizeof(err));
	CHECK_EQ(zparse_rdata(RR_TXT, big, o, NULL, wire, sizeof(wire), &err), 150 * 201);
	static char text[80000];
	int n = zprint_rdata(RR_TXT, wire, 150 * 201, text, sizeof(text));
	CHECK_EQ(n, (int)o - 1);
}

static void test_printer(void)
{
	char buf[256];
	uint8_t wire[64];

	/* Misfits fall back to RFC 3597. */
	CHECK_EQ(zprint_rdata(RR_A, (const uint8_t *)"\x0a\0\0", 3, buf, sizeof(buf)), 11);
	CHECK_STR(buf, "\\# 3 0A0000");
	CHECK_EQ(zprint_rdata(RR_TXT, NULL, 0, buf, sizeof(buf)), 4);
	CHECK_STR(buf, "\\# 0");
	zprint_rdata(RR_MX, (const uint8_t *)"\0\x0a\xc0\x0c", 4, buf, sizeof(buf));
	CHECK_STR(buf, "\\# 4 000AC00C");
	zprint_rdata(RR_DS, (const uint8_t *)"\0\1\2\3", 4, buf, sizeof(buf));
	CHECK_STR(buf, "\\# 4 00010203");
	zprint_rdata(RR_CAA, (const uint8_t *)"\0\3a-bx", 6, buf, sizeof(buf));
	CHECK_STR(buf, "\\# 6 000361"
		       "2D6278");
	/* SVCB keys out of order on the wire. */
	memcpy(wire, "\0\1\0\0\3\0\2\1\273\0\1\0\3\2h2", 16);
	zprint_rdata(RR_SVCB, wire, 16, buf, sizeof(buf));
	CHECK_STR(buf, "\\# 16 000100000300020"
		       "1BB00010003026832");
	/* Values without a faithful named form use the generic key. */
	memcpy(wire, "\0\1\0\0\0\0\2\0\5\0\3\0\3\1\2\3", 16);
	zprint_rdata(RR_SVCB, wire, 16, buf, sizeof(buf));
	/* A mandatory key that is not there: only RFC 3597 says it as is. */
	CHECK_STR(buf, "\\# 16 00010000000002000500030003010203");
	wire[8] = 3;
	zprint_rdata(RR_SVCB, wire, 16, buf, sizeof(buf));
	CHECK_STR(buf, "1 . mandatory=port key3=\"\\001\\002\\003\"");
	/* Unknown types and types without a layout. */
	zprint_rdata(4242, (const uint8_t *)"\xff", 1, buf, sizeof(buf));
	CHECK_STR(buf, "\\# 1 FF");
	/* Buffer too small. */
	CHECK_EQ(zprint_rdata(RR_A, (const uint8_t *)"\1\2\3\4", 4, buf, 7), -1);
	CHECK_EQ(zprint_rdata(RR_A, (const uint8_t *)"\1\2\3\4", 4, buf, 8), 7);
	CHECK_EQ(zprint_rdata(RR_A, (const uint8_t *)"\1\2\3\4", 4, buf, 0), -1);
	/* Names print escaped, absolute. */
	zprint_rdata(RR_NS, (const uint8_t *)"\3a.b\1@\0", 7, buf, sizeof(buf));
	CHECK_STR(buf, "a\\.b.\\@.");
}

/* ---- round trips on generated wire ----------------------------------------- */

static uint32_t rng_state = 12345;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return n ? rng_state % n : 0;
}

static uint8_t rnd_byte(void)
{
	/* Mostly letters, sometimes anything, to hit every escape. */
	return rnd(4) ? (uint8_t)('a' + rnd(26)) : (uint8_t)rnd(256);
}

static size_t gen_name(uint8_t *p)
{
	size_t o = 0;
	unsigned labels = rnd(4);

	for (unsigned i = 0; i < labels; i++) {
		uint8_t l = (uint8_t)(1 + rnd(rnd(8) ? 10 : 63));
		p[o++] = l;
		for (uint8_t k = 0; k < l; k++)
			p[o++] = rnd_byte();
	}
	p[o++] = 0;
	return o;
}

static size_t gen_bytes(uint8_t *p, size_t max)
{
	size_t n = rnd((uint32_t)max + 1);

	for (size_t i = 0; i < n; i++)
		p[i] = rnd_byte();
	return n;
}

static size_t gen_svcparams(uint8_t *p)
{
	size_t o = 0;
	unsigned key = rnd(3);

	for (unsigned i = 0, n = rnd(5); i < n && key < 65535; i++) {
		size_t vl;
		uint8_t *v = p + o + 4;

		if (key == 1) { /* mostly well-formed alpn lists */
			vl = 0;
			for (unsigned j = 0, m = 1 + rnd(3); j < m; j++) {
				size_t l = 1 + rnd(6);
				v[vl] = (uint8_t)l;
				for (size_t k = 0; k < l; k++)
					v[vl + 1 + k] = rnd(5) ? (uint8_t)('a' + rnd(26))
							       : (uint8_t) ",\\\"x\001"[rnd(5)];
				vl += l + 1;
			}
		} else if (key == 4 || key == 6 || key == 3) {
			unsigned unit = key == 4 ? 4 : key == 6 ? 16 : 2;
			vl = unit * (key == 3 ? 1 : 1 + rnd(3)) + (rnd(8) ? 0 : 1);
			for (size_t k = 0; k < vl; k++)
				v[k] = (uint8_t)rnd(256);
		} else if (key == 0) {
			vl = 2;
			v[0] = 0;
			v[1] = (uint8_t)(1 + rnd(6));
		} else {
			vl = gen_bytes(v, 12);
		}
		p[o] = (uint8_t)(key >> 8);
		p[o + 1] = (uint8_t)key;
		p[o + 2] = (uint8_t)(vl >> 8);
		p[o + 3] = (uint8_t)vl;
		o += 4 + vl;
		key += 1 + (rnd(4) ? rnd(3) : rnd(40000));
	}
	return o;
}

/* Builds rdata that follows layout, with random content. */
static size_t gen_layout(const char *layout, uint8_t *p)
{
	size_t o = 0;

	for (const char *l = layout; *l; l++) {
		switch (*l) {
		case 'N':
		case 'n':
			o += gen_name(p + o);
			break;
		case '1':
		case '2':
		case '4':
		case 'T':
		case 'a':
		case '6': {
			size_t n = *l == 'a' || *l == 'T' ? 4 : *l == '6' ? 16 : (size_t)(*l - '0');
			for (size_t k = 0; k < n; k++)
				p[o++] = (uint8_t)rnd(256);
			break;
		}
		case 's':
		case 'S':
			for (unsigned i = 0, n = *l == 's' ? 1 : 1 + rnd(3); i < n; i++) {
				size_t len = gen_bytes(p + o + 1, rnd(8) ? 20 : 255);
				p[o] = (uint8_t)len;
				o += len + 1;
			}
			break;
		case 'c': {
			size_t len = 1 + rnd(8);
			p[o++] = (uint8_t)len;
			for (size_t k = 0; k < len; k++)
				p[o++] = (uint8_t)("abcXYZ019"[rnd(9)]);
			break;
		}
		case 'r':
		case 'x':
		case 'b':
			o += gen_bytes(p + o, 40);
			break;
		case 'p':
			o += gen_svcparams(p + o);
			break;
		}
	}
	return o;
}

static void test_round_trip_generated(void)
{
	static const uint16_t types[] = {RR_A,	 RR_NS,	   RR_CNAME,  RR_SOA,  RR_PTR,	 RR_HINFO,
					 RR_MX,	 RR_TXT,   RR_AAAA,   RR_SRV,  RR_NAPTR, RR_DNAME,
					 RR_DS,	 RR_SSHFP, RR_DNSKEY, RR_TLSA, RR_SVCB,	 RR_HTTPS,
					 RR_SPF, RR_CAA,   RR_RRSIG,  4242};
	static uint8_t wire[4096], again[65535];
	static char text[32768];
	int bad = 0, fielded = 0;

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		const struct rrtype_info *ti = rrtype_get(types[t]);

		for (int iter = 0; iter < 1000; iter++) {
			size_t n = ti ? gen_layout(ti->layout, wire) : 0;
			struct p53_err err = {0};

			if (!ti || rnd(10) == 0) { /* random bytes, mostly misfits */
				n = gen_bytes(wire, 30);
				for (size_t k = 0; k < n; k++)
					wire[k] = (uint8_t)rnd(256);
			} else if (rnd(10) == 0 && n) {
				n--; /* truncated */
			}
			int tl = zprint_rdata(types[t], wire, n, text, sizeof(text));
			int m = tl < 0 ? -1
				       : zparse_rdata(types[t], text, (size_t)tl, NULL, again,
						      sizeof(again), &err);
			/* Wire that does not fit its type's layout prints as
			 * RFC 3597 and is then refused, never changed. */
			if (m < 0 && ti && ti->layout[0] && strncmp(text, "\\#", 2) == 0 &&
			    !rrtype_rdata_fits(ti->layout, wire, n))
				continue;
			if (m != (int)n || memcmp(wire, again, n) != 0) {
				if (bad++ < 5)
					fprintf(stderr, "round trip type %u: text \"%s\": %s\n",
						types[t], tl < 0 ? "(none)" : text, err.msg);
			}
			fielded += tl > 2 && strncmp(text, "\\#", 2) != 0;
		}
	}
	CHECK_EQ(bad, 0);
	CHECK(fielded > 10000); /* most generated rdata printed by fields */
}

/* ---- $INCLUDE ------------------------------------------------------------ */

static char tmpdir[64];

static void write_file(const char *rel, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		return;
	}
	fputs(text, f);
	fclose(f);
}

static int parse_file(const char *rel, struct coll *c, struct p53_err *err, unsigned depth)
{
	char path[256];
	struct zparse_opts o = {.origin = origin, .default_ttl = 3600, .max_include_depth = depth};

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	memset(c, 0, sizeof(*c));
	memset(err, 0, sizeof(*err));
	return zparse_file(path, &o, collect, c, err);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void test_include(void)
{
	struct coll c;
	struct p53_err err;
	char want[256];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/zparse-test-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		CHECK(0);
		return;
	}
	snprintf(want, sizeof(want), "%s/sub", tmpdir);
	mkdir(want, 0755);

	write_file("main.zone", "$TTL 60\n"
				"www A 192.0.2.1\n"
				"$INCLUDE sub/inc.zone sub.example.com.\n"
				"   A 192.0.2.2\n"
				"rel A 192.0.2.3\n"
				"$INCLUDE \"sub/plain.zone\"\n");
	write_file("sub/inc.zone", "host A 192.0.2.10\n"
				   "@ 5 A 192.0.2.11\n"
				   "$ORIGIN elsewhere.\n"
				   "$INCLUDE more.zone\n");
	write_file("sub/more.zone", "\n\nm A 192.0.2.12\n");
	write_file("sub/plain.zone", "p A 192.0.2.13\n");
	CHECK_EQ(parse_file("main.zone", &c, &err, 0), 0);
	if (err.code)
		fprintf(stderr, "%s\n", err.msg);
	CHECK_EQ(c.n, 7);
	CHECK_STR(c.r[0].owner, "www.example.com.");
	CHECK_STR(c.r[1].owner, "host.sub.example.com.");
	CHECK(ends_with(c.r[1].file, "/sub/inc.zone"));
	CHECK_EQ(c.r[1].line, 1);
	CHECK_EQ(c.r[1].ttl, 60);
	CHECK_STR(c.r[2].owner, "sub.example.com.");
	CHECK_EQ(c.r[2].ttl, 5);
	CHECK_STR(c.r[3].owner, "m.elsewhere.");
	CHECK(ends_with(c.r[3].file, "/sub/more.zone"));
	CHECK_EQ(c.r[3].line, 3);
	/* Origin and owner revert after the included file (RFC 1035 5.1). */
	CHECK_STR(c.r[4].owner, "www.example.com.");
	CHECK(ends_with(c.r[4].file, "/main.zone"));
	CHECK_EQ(c.r[4].line, 4);
	CHECK_STR(c.r[5].owner, "rel.example.com.");
	CHECK_STR(c.r[6].owner, "p.example.com.");

	/* Depth limit: main -> inc -> more is two levels. */
	CHECK_EQ(parse_file("main.zone", &c, &err, 1), P53_ERANGE);
	CHECK(strstr(err.msg, "/sub/inc.zone:4: $INCLUDE nested deeper than 1 levels") != NULL);

	write_file("loop1.zone", "a A 192.0.2.1\n$INCLUDE loop2.zone\n");
	write_file("loop2.zone", "b A 192.0.2.1\n\n$INCLUDE loop1.zone\n");
	CHECK_EQ(parse_file("loop1.zone", &c, &err, 0), P53_EINVAL);
	CHECK(strstr(err.msg, "/loop2.zone:3: $INCLUDE loop") != NULL);
	CHECK_EQ(c.total, 2);

	write_file("self.zone", "$INCLUDE self.zone\n");
	CHECK_EQ(parse_file("self.zone", &c, &err, 0), P53_EINVAL);
	CHECK(strstr(err.msg, "self.zone:1: $INCLUDE loop") != NULL);

	write_file("missing.zone", "a A 192.0.2.1\n$INCLUDE nope.zone\n");
	CHECK_EQ(parse_file("missing.zone", &c, &err, 0), P53_EIO);
	CHECK(strstr(err.msg, "/missing.zone:2: cannot open") != NULL);

	write_file("bad.zone", "a A 192.0.2.1\n$INCLUDE sub/broken.zone\n");
	write_file("sub/broken.zone", "ok A 192.0.2.1\nbad A 192.0.2\n");
	CHECK_EQ(parse_file("bad.zone", &c, &err, 0), P53_EINVAL);
	CHECK(strstr(err.msg, "/sub/broken.zone:2: invalid IPv4 address") != NULL);

	CHECK_EQ(parse_file("does-not-exist.zone", &c, &err, 0), P53_EIO);
	CHECK(strstr(err.msg, "does-not-exist.zone") != NULL);
	CHECK_EQ(parse_file("sub", &c, &err, 0), P53_EIO);

	const char *names[] = {"main.zone",  "sub/inc.zone",   "sub/more.zone", "sub/plain.zone",
			       "loop1.zone", "loop2.zone",     "self.zone",	"missing.zone",
			       "bad.zone",   "sub/broken.zone"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	snprintf(want, sizeof(want), "%s/sub", tmpdir);
	rmdir(want);
	rmdir(tmpdir);
}

/* $GENERATE (BIND's ARM): expansion, modifiers, owner and TTL rules,
 * file:line on every error, the cap. */
static void test_generate(void)
{
	struct coll c;
	struct p53_err err;

	CHECK_EQ(parse_text("$TTL 300\n"
			    "www A 192.0.2.1\n"
			    "$GENERATE 1-3/2 host$ A 192.0.2.$\n"
			    "   TXT \"after\"\n"
			    "$generate 250-251 ${0,7,n}.r 60 IN PTR n${-250,3}.\n"
			    "$GENERATE 10-10 x${1,4,X} IN 120 MX \"10 mx$$-$\"\n"
			    "last A 192.0.2.5\n",
			    &c, &err, 0),
		 P53_EINVAL); /* "mx$-10": the scanner takes no bare '$' in a name */
	CHECK(strstr(err.msg, "t.zone:6: $GENERATE: ") != NULL);

	CHECK_EQ(parse_text("$TTL 300\n"
			    "www A 192.0.2.1\n"
			    "$GENERATE 1-3/2 host$ A 192.0.2.$\n"
			    "   TXT \"after\"\n"
			    "$generate 250-251 ${0,7,n}.r 60 IN PTR n${-250,3}.\n"
			    "$GENERATE 10-10 x${1,4,X} IN 120 MX \"10 mx-$\"\n"
			    "$GENERATE 8-8 o${0,0,o} TXT \"\\\"a $$ $\\\" b\" ; comment\n"
			    "multi TXT ( a\n"
			    "$GENERATE )\n"
			    "last A 192.0.2.5\n",
			    &c, &err, 0),
		 0);
	if (err.code)
		fprintf(stderr, "%s\n", err.msg);
	CHECK_EQ(c.n, 10);
	CHECK_STR(c.r[1].owner, "host1.example.com.");
	CHECK_STR(rdata_hex(&c.r[1]), "c0000201");
	CHECK_EQ(c.r[1].line, 3);
	CHECK_STR(c.r[2].owner, "host3.example.com.");
	CHECK_STR(rdata_hex(&c.r[2]), "c0000203");
	/* A record without an owner after the directive takes the owner
	 * before it. */
	CHECK_STR(c.r[3].owner, "www.example.com.");
	CHECK_EQ(c.r[3].line, 4);
	/* Nibbles, lowest first, width counting the dots. */
	CHECK_STR(c.r[4].owner, "a.f.0.0.r.example.com.");
	CHECK_EQ(c.r[4].ttl, 60);
	CHECK_STR(rdata_hex(&c.r[4]), "046e30303000"); /* n000. */
	CHECK_STR(c.r[5].owner, "b.f.0.0.r.example.com.");
	CHECK_EQ(c.r[5].line, 5);
	CHECK_STR(c.r[6].owner, "x000B.example.com.");
	CHECK_EQ(c.r[6].ttl, 120);
	CHECK_STR(rdata_hex(&c.r[6]), "000a056d782d3130076578616d706c6503636f6d00");
	CHECK_STR(c.r[7].owner, "o10.example.com.");
	CHECK_EQ(c.r[7].ttl, 300);
	CHECK_STR(rdata_hex(&c.r[7]), "0561202420380162"); /* "a $ 8" "b" */
	/* A $GENERATE inside parentheses is rdata, not a directive. */
	CHECK_STR(c.r[8].owner, "multi.example.com.");
	CHECK_STR(rdata_hex(&c.r[8]), "01610924474"
				      "54e4552415445");
	CHECK_EQ(c.r[8].line, 8);
	CHECK_STR(c.r[9].owner, "last.example.com.");
	CHECK_EQ(c.r[9].line, 10);

	/* Errors, each at the directive's line. */
	static const struct {
		const char *line, *msg;
	} bad[] = {
	    {"$GENERATE 5-1 h$ A 192.0.2.1", "range must be start-stop[/step]"},
	    {"$GENERATE 1-2/0 h$ A 192.0.2.1", "range must be start-stop[/step]"},
	    {"$GENERATE 1-2 h$ A", "needs a range, an owner, a type and rdata"},
	    {"$GENERATE 1-2 h$ A 192.0.2.1 extra", "extra text after the rdata"},
	    {"$GENERATE 1-2 h${1,2,q} A 192.0.2.1", "bad ${offset,width,base} modifier"},
	    {"$GENERATE 1-2 h${1,999} A 192.0.2.1", "bad ${offset,width,base} modifier"},
	    {"$GENERATE 1-2 h${1 A 192.0.2.1", "bad ${offset,width,base} modifier"},
	    {"$GENERATE 1-2 h${-5,0,x} A 192.0.2.1", "negative value"},
	    {"$GENERATE 1-2 h$ CH A 192.0.2.1", "only IN"},
	    {"$GENERATE 250-256 h$ A 192.0.2.$", "invalid IPv4 address (iteration 256)"},
	    {"$GENERATE 1-2 h$ TXT \"open", "unterminated quoted string"},
	    {"$GENERATE 1-2 $$x A 192.0.2.1", "owner may not be empty or start with '$'"},
	    {"$GENERATE 1-2 h$ A \"192.0.2.1 192.0.2.2\"", "(iteration 1)"},
	    {"$GENERATE 0-65536 h$ TXT x", "would make 65537 records"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[300], want[200];
		snprintf(text, sizeof(text), "$TTL 300\nwww A 192.0.2.1\n%s\nx A 192.0.2.1\n",
			 bad[i].line);
		CHECK(parse_text(text, &c, &err, 0) < 0);
		snprintf(want, sizeof(want), "t.zone:3: $GENERATE");
		if (strncmp(err.msg, want, strlen(want)) != 0 || !strstr(err.msg, bad[i].msg)) {
			fprintf(stderr, "%s -> %s\n", bad[i].line, err.msg);
			CHECK(0);
		}
	}

	/* The cap counts every directive of the zone; 0 forbids. */
	struct zparse_opts o = {.origin = origin, .max_generate = 5};
	const char *two = "$TTL 1\n$GENERATE 1-3 a$ A 192.0.2.1\n$GENERATE 1-3 b$ A 192.0.2.1\n";
	memset(&c, 0, sizeof(c));
	memset(&err, 0, sizeof(err));
	CHECK_EQ(zparse_string("t.zone", two, strlen(two), &o, collect, &c, &err), P53_ERANGE);
	CHECK(strstr(err.msg, "t.zone:3: $GENERATE would make 3 records, more than the 2 left") !=
	      NULL);
	CHECK_EQ(c.total, 3);
	o.max_generate = ZPARSE_GENERATE_FORBID;
	memset(&err, 0, sizeof(err));
	CHECK_EQ(zparse_string("t.zone", two, strlen(two), &o, collect, &c, &err), P53_EINVAL);
	CHECK(strstr(err.msg, "t.zone:2: $GENERATE is not allowed here") != NULL);
}

/* HIP and AMTRELAY entries in a zone: the scanner stops at them and zparse
 * reads them, in files it maps and in strings, inside $GENERATE, with
 * owner, TTL and line rules kept. */
static void test_hip_amtrelay(void)
{
	struct coll c;
	struct p53_err err;
	static const char zone[] = "$TTL 300\n"
				   "www A 192.0.2.1\n"
				   "hip 60 IN HIP ( 2 200100107B1A74DF365639CC39F1D578 ; HIT\n"
				   "\tAwEAAbdx\n"
				   "\trvs1 )\n"
				   "\tAMTRELAY 10 0 1 203.0.113.15\n"
				   "$ORIGIN sub.example.com.\n"
				   "am IN amtrelay 128 1 3 relay\n"
				   "\tA 192.0.2.2\n"
				   "$GENERATE 1-2 g$ AMTRELAY \"$ 0 1 192.0.2.$\"\n"
				   "last TYPE55 \\# 4 01020001\n";

	CHECK_EQ(parse_text(zone, &c, &err, 0), 0);
	if (err.code)
		fprintf(stderr, "%s\n", err.msg);
	CHECK_EQ(c.n, 8);
	CHECK_STR(c.r[1].owner, "hip.example.com.");
	CHECK_EQ(c.r[1].type, RR_HIP);
	CHECK_EQ(c.r[1].ttl, 60);
	CHECK_EQ(c.r[1].line, 3);
	CHECK_STR(rdata_hex(&c.r[1]),
		  "10020006200100107b1a74df365639cc39f1d57803010001b7710472767331"
		  "076578616d706c6503636f6d00");
	/* No owner: the HIP entry's. */
	CHECK_STR(c.r[2].owner, "hip.example.com.");
	CHECK_EQ(c.r[2].type, RR_AMTRELAY);
	CHECK_EQ(c.r[2].ttl, 300);
	CHECK_EQ(c.r[2].line, 6);
	CHECK_STR(c.r[3].owner, "am.sub.example.com.");
	CHECK_STR(rdata_hex(&c.r[3]), "80830572656c617903737562076578616d706c6503636f6d00");
	CHECK_EQ(c.r[3].line, 8);
	CHECK_STR(c.r[4].owner, "am.sub.example.com.");
	CHECK_EQ(c.r[4].type, RR_A);
	CHECK_EQ(c.r[4].line, 9);
	CHECK_STR(c.r[5].owner, "g1.sub.example.com.");
	CHECK_STR(rdata_hex(&c.r[5]), "0101c0000201");
	CHECK_EQ(c.r[6].line, 10);
	CHECK_STR(c.r[7].owner, "last.sub.example.com.");
	CHECK_EQ(c.r[7].line, 11);

	/* Through a file the scanner maps itself. */
	char path[] = "/tmp/zparse-hip-XXXXXX";
	int fd = mkstemp(path);
	if (fd >= 0) {
		CHECK_EQ(write(fd, zone, sizeof(zone) - 1), (long)sizeof(zone) - 1);
		close(fd);
		struct zparse_opts o = {.origin = origin};
		memset(&c, 0, sizeof(c));
		memset(&err, 0, sizeof(err));
		CHECK_EQ(zparse_file(path, &o, collect, &c, &err), 0);
		CHECK_EQ(c.n, 8);
		CHECK_EQ(c.r[7].line, 11);
		CHECK_STR(rdata_hex(&c.r[3]), "80830572656c617903737562076578616d706c6503636f6d00");
		unlink(path);
	}

	static const struct {
		const char *text, *msg;
	} bad[] = {
	    {"x HIP 2 0a\n", "t.zone:2: HIP needs an algorithm, a HIT and a public key"},
	    {"x HIP 256 0a AQ==\n", "t.zone:2: HIP algorithm must be 0 to 255"},
	    {"x HIP 2 0g AQ==\n", "t.zone:2: HIP HIT must be 1 to 255 bytes of hex"},
	    {"x HIP 2 0a !!\n", "t.zone:2: HIP public key: "},
	    {"x HIP 2 0a AQ== bad..name\n", "t.zone:2: "},
	    {"x AMTRELAY 1 0 1 192.0.2\n", "t.zone:2: AMTRELAY relay is not an IPv4 address"},
	    {"x AMTRELAY 1 2 1 192.0.2.1\n", "t.zone:2: AMTRELAY precedence must be"},
	    {"x AMTRELAY 1 0 0 x\n", "t.zone:2: AMTRELAY relay of type 0 must be \".\""},
	    {"x AMTRELAY 1 0 4 x\n", "type 0 to 3 (others in RFC 3597 form)"},
	    {"x AMTRELAY 1 0 1\n", "t.zone:2: AMTRELAY needs precedence, D-bit, type and relay"},
	    {"x HIP 2 0a \"AQ==\"\n", "t.zone:2: unexpected quoted string in HIP rdata"},
	    {"x NOSUCH 1\n", "t.zone:2: "},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[200];
		snprintf(text, sizeof(text), "$TTL 1\n%sy A 192.0.2.1\n", bad[i].text);
		CHECK(parse_text(text, &c, &err, 0) < 0);
		if (!strstr(err.msg, bad[i].msg)) {
			fprintf(stderr, "%s -> %s\n", bad[i].text, err.msg);
			CHECK(0);
		}
	}
}

/* A large zone through the file reader, which refills its buffer mid-entry. */
static void test_large_file(void)
{
	char path[] = "/tmp/zparse-big-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	struct coll c;
	struct p53_err err = {0};
	const long n = 50000;

	if (!f) {
		CHECK(0);
		return;
	}
	fprintf(f, "$TTL 300\n");
	for (long i = 0; i < n; i++)
		fprintf(f, "h%ld IN A 10.%ld.%ld.%ld\n  TXT ( \"record %ld\"\n )\n", i,
			(i >> 16) & 255, (i >> 8) & 255, i & 255, i);
	fclose(f);
	struct zparse_opts o = {.origin = origin};
	memset(&c, 0, sizeof(c));
	CHECK_EQ(zparse_file(path, &o, collect, &c, &err), 0);
	CHECK_EQ(c.total, 2 * n);
	unlink(path);
}

int main(void)
{
	test_types();
	test_basic_zone();
	test_ttl_rules();
	test_parens_and_quotes();
	test_rejections();
	test_long_string();
	test_callback_stop();
	test_rdata_api();
	test_printer();
	test_round_trip_generated();
	test_include();
	test_generate();
	test_hip_amtrelay();
	test_large_file();
	return check_report("zparse");
}
