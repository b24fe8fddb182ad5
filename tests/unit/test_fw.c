/* DNS Firewall tests: Route 53 semantics of the matcher (exact, "*.", "*",
 * priorities across and within groups, first match, qtype filters, case,
 * escapes, patterns), every response on the wire through the engine
 * (NXDOMAIN, NODATA, OVERRIDE, REFUSED, DROP, ALERT, SERVFAIL), redirection
 * inspection on CNAME and DNAME chains with and without pre-rendered
 * answers, and the compiler's handling of bad input and big lists. */
#include "check.h"
#include "zones/answer/answer.h"
#include "zones/compile/compile.h"
#include "zones/answer/fw.h"
#include "zones/compile/fwcompile.h"
#include "zones/common/fwfmt.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static void put(const char *file, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	FILE *f = fopen(p, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

static char warnings[4096];

static void on_warn(void *arg, const char *msg)
{
	(void)arg;
	strncat(warnings, msg, sizeof(warnings) - strlen(warnings) - 2);
	strcat(warnings, "\n");
}

/* Compiles rules.json (already written) and loads it for two workers; on
 * failure returns NULL with the message in err. */
static struct p53_fw *fw_build(const char *rules_json, struct p53_err *err)
{
	put("rules.json", rules_json);
	char p[256];
	snprintf(p, sizeof(p), "%s/rules.json", dir);
	struct p53_fw_compile_opts o = {.serial = 7, .warn = on_warn};
	uint8_t *img;
	size_t len;
	memset(err, 0, sizeof(*err));
	warnings[0] = 0;
	if (p53_fw_compile(p, &o, &img, &len, err) != 0)
		return NULL;
	struct p53_fw *fw = p53_fw_from_mem(img, len, 2, err);
	free(img);
	return fw;
}

static const char *rule_of(const struct p53_fw *fw, const char *name, uint16_t qtype,
			   enum p53_fw_action *act)
{
	uint8_t wire[P53_NAME_MAX];
	int n = name_from_text(name, strlen(name), NULL, wire, NULL);
	if (n < 0)
		abort();
	name_lower(wire, (size_t)n);
	struct p53_fw_verdict v;
	*act = p53_fw_check(fw, 1, wire, (size_t)n, qtype, &v);
	struct p53_fw_rule_info ri;
	return p53_fw_rule(fw, v.rule, &ri) ? ri.name : "-";
}

#define EXPECT(fw, name, qtype, want_rule, want_act)                                               \
	do {                                                                                       \
		enum p53_fw_action a_;                                                             \
		CHECK_STR(rule_of(fw, name, qtype, &a_), want_rule);                               \
		CHECK_EQ(a_, want_act);                                                            \
	} while (0)

/* ---- semantics --------------------------------------------------------- */

static const char rules_main[] =
    "{\n"
    " \"domain_lists\": {\n"
    "  \"malware\": \"malware.txt\",\n"
    "  \"inline\": {\"domains\": [\"inline-listed.test\"]}\n"
    " },\n"
    /* groups out of priority order on purpose: priority, not position, rules */
    " \"rule_groups\": [\n"
    "  {\"name\": \"late\", \"priority\": 300, \"rules\": [\n"
    "   {\"name\": \"catch-all\", \"priority\": 1, \"action\": \"ALERT\", \"domains\": [\"*\"]}\n"
    "  ]},\n"
    "  {\"name\": \"early\", \"priority\": 100, \"rules\": [\n"
    "   {\"name\": \"b-prio2\", \"priority\": 2, \"action\": \"BLOCK\",\n"
    "    \"block_response\": \"NXDOMAIN\", \"domains\": [\"*.bad2.test\", \"both.test\"]},\n"
    "   {\"name\": \"a-prio1\", \"priority\": 1, \"action\": \"ALLOW\",\n"
    "    \"domains\": [\"ok.bad2.test\", \"both.test\"]},\n"
    "   {\"name\": \"v6\", \"priority\": 3, \"action\": \"BLOCK\", \"qtype\": \"AAAA\",\n"
    "    \"domains\": [\"v6only.test\"]},\n"
    "   {\"name\": \"v6-alert\", \"priority\": 4, \"action\": \"ALERT\",\n"
    "    \"domains\": [\"v6only.test\"]},\n"
    "   {\"name\": \"malware\", \"priority\": 10, \"action\": \"BLOCK\",\n"
    "    \"block_response\": \"NXDOMAIN\", \"domain_list\": [\"malware\", \"inline\"]},\n"
    "   {\"name\": \"flood\", \"priority\": 20, \"action\": \"BLOCK\",\n"
    "    \"block_response\": \"NXDOMAIN\",\n"
    "    \"patterns\": [\"^[a-z0-9]{16,}\\\\.victim\\\\.test$\", \"^esc\\\\\\\\\\\\.dot\"]},\n"
    "   {\"name\": \"pattern-first\", \"priority\": 5, \"action\": \"REFUSED\",\n"
    "    \"patterns\": [\"^pat-over-list\\\\.\"]},\n"
    "   {\"name\": \"list-after\", \"priority\": 6, \"action\": \"DROP\",\n"
    "    \"domains\": [\"pat-over-list.test\", \"list-over-pat.test\"]},\n"
    "   {\"name\": \"pattern-after\", \"priority\": 7, \"action\": \"REFUSED\",\n"
    "    \"patterns\": [\"^list-over-pat\"]}\n"
    "  ]},\n"
    "  {\"name\": \"middle\", \"priority\": 200, \"rules\": [\n"
    "   {\"name\": \"middle-block\", \"priority\": 0, \"action\": \"BLOCK\",\n"
    "    \"domains\": [\"both.test\", \"middle.test\", \"*.wild.test\"]}\n"
    "  ]}\n"
    " ]\n"
    "}\n";

static const char malware_txt[] = "# a public-style list\n"
				  "; with both comment styles\n"
				  "\n"
				  "exact.test\n"
				  "*.sub.test   # trailing comment\n"
				  "MixedCase.Test.\n"
				  "0.0.0.0 hosts-style.test\n"
				  "esc\\.dot.test\n"
				  "\\200bin.test\n";

static void test_semantics(void)
{
	put("malware.txt", malware_txt);
	struct p53_err err;
	struct p53_fw *fw = fw_build(rules_main, &err);
	CHECK(fw != NULL);
	if (fw == NULL) {
		fprintf(stderr, "fw: %s\n", err.msg);
		return;
	}
	/* exact vs "*." vs "*" */
	EXPECT(fw, "exact.test.", RR_A, "malware", P53_FW_BLOCK_NXDOMAIN);
	EXPECT(fw, "www.exact.test.", RR_A, "catch-all", P53_FW_ALERT);
	EXPECT(fw, "a.sub.test.", RR_A, "malware", P53_FW_BLOCK_NXDOMAIN);
	EXPECT(fw, "x.y.z.sub.test.", RR_A, "malware", P53_FW_BLOCK_NXDOMAIN);
	EXPECT(fw, "sub.test.", RR_A, "catch-all", P53_FW_ALERT); /* not the bare name */
	EXPECT(fw, "anything.example.", RR_A, "catch-all", P53_FW_ALERT);
	EXPECT(fw, ".", RR_NS, "catch-all", P53_FW_ALERT); /* "*" covers the root too */
	EXPECT(fw, "inline-listed.test.", RR_A, "malware", P53_FW_BLOCK_NXDOMAIN);
	EXPECT(fw, "hosts-style.test.", RR_A, "malware", P53_FW_BLOCK_NXDOMAIN);
	/* priority within a group, and first match ends evaluation */
	EXPECT(fw, "ok.bad2.test.", RR_A, "a-prio1", P53_FW_ALLOW);
	EXPECT(fw, "no.bad2.test.", RR_A, "b-prio2", P53_FW_BLOCK_NXDOMAIN);
	/* across groups: group 100 before 200 before 300, whatever the rule
	 * priorities inside them (middle-block has rule priority 0) */
	EXPECT(fw, "both.test.", RR_A, "a-prio1", P53_FW_ALLOW);
	EXPECT(fw, "middle.test.", RR_A, "middle-block", P53_FW_BLOCK_NODATA);
	EXPECT(fw, "deep.x.wild.test.", RR_A, "middle-block", P53_FW_BLOCK_NODATA);
	/* qtype filter: a filtered rule that does not apply lets the next one
	 * decide */
	EXPECT(fw, "v6only.test.", RR_AAAA, "v6", P53_FW_BLOCK_NODATA);
	EXPECT(fw, "v6only.test.", RR_A, "v6-alert", P53_FW_ALERT);
	/* case: lists are folded at compile time, queries by the engine */
	EXPECT(fw, "mixedcase.test.", RR_A, "malware", P53_FW_BLOCK_NXDOMAIN);
	/* escaped bytes: one label "esc.dot" is not the three labels esc.dot */
	EXPECT(fw, "esc\\.dot.test.", RR_A, "malware", P53_FW_BLOCK_NXDOMAIN);
	EXPECT(fw, "esc.dot.test.", RR_A, "catch-all", P53_FW_ALERT);
	EXPECT(fw, "\\200bin.test.", RR_A, "malware", P53_FW_BLOCK_NXDOMAIN);
	/* patterns: presentation form, lower case, no trailing dot */
	EXPECT(fw, "abcdefghijklmnop0123.victim.test.", RR_A, "flood", P53_FW_BLOCK_NXDOMAIN);
	EXPECT(fw, "ABCDEFGHIJKLMNOP0123.victim.test.", RR_A, "flood", P53_FW_BLOCK_NXDOMAIN);
	EXPECT(fw, "www.victim.test.", RR_A, "catch-all", P53_FW_ALERT);
	EXPECT(fw, "esc\\.dotty.test.", RR_A, "flood", P53_FW_BLOCK_NXDOMAIN);
	/* patterns and lists share one order */
	EXPECT(fw, "pat-over-list.test.", RR_A, "pattern-first", P53_FW_REFUSED);
	EXPECT(fw, "list-over-pat.test.", RR_A, "list-after", P53_FW_DROP);

	struct p53_fw_info in;
	p53_fw_info(fw, &in);
	CHECK_EQ(in.rules, 11);
	CHECK_EQ(in.patterns, 4);
	CHECK_EQ(in.serial, 7);
	CHECK(!in.fail_open);
	struct p53_fw_rule_info ri;
	CHECK(p53_fw_rule(fw, 0, &ri));
	CHECK_STR(ri.name, "a-prio1");
	CHECK_STR(ri.group, "early");
	CHECK(!p53_fw_rule(fw, 11, &ri));
	/* hits: exact.test, a.sub.test, x.y.z.sub.test, inline, hosts,
	 * mixedcase, two escaped names, all by "malware" on worker 1 */
	uint32_t malware = 0;
	for (uint32_t i = 0; p53_fw_rule(fw, i, &ri); i++)
		if (!strcmp(ri.name, "malware"))
			malware = i;
	CHECK_EQ(p53_fw_hits(fw, malware), 8);
	CHECK_EQ(p53_fw_errors(fw), 0);

	/* a bad worker index cannot decide: fail-closed */
	struct p53_fw_verdict v;
	CHECK_EQ(p53_fw_check(fw, 5, (const uint8_t *)"\4test", 6, RR_A, &v), P53_FW_FAIL);
	CHECK(v.error);
	CHECK_EQ(p53_fw_errors(fw), 1);
	p53_fw_free(fw);
}

/* ---- responses through the engine ------------------------------------- */

static const char zone_test[] = "$ORIGIN test.\n"
				"$TTL 3600\n"
				"@ SOA ns1 hostmaster 1 7200 900 1209600 300\n"
				"@ NS ns1\n"
				"ns1 A 192.0.2.1\n"
				"www A 192.0.2.10\n"
				"alerted A 192.0.2.11\n"
				"nx A 192.0.2.12\n"
				"nodata A 192.0.2.13\n"
				"override A 192.0.2.14\n"
				"refused A 192.0.2.15\n"
				"drop A 192.0.2.16\n"
				"v6only A 192.0.2.17\n"
				"v6only AAAA 2001:db8::17\n"
				"alias CNAME mid\n"
				"mid CNAME target-bad\n"
				"target-bad A 192.0.2.18\n"
				"trusted CNAME target-bad\n"
				"inspected CNAME target-bad\n"
				"dn DNAME blocked-tree.test.\n"
				"x.blocked-tree A 192.0.2.19\n"
				"deleg NS ns.elsewhere.\n";

static const char rules_engine[] =
    "{\"rule_groups\": [{\"name\": \"g\", \"priority\": 1, \"rules\": [\n"
    " {\"name\": \"trust\", \"priority\": 1, \"action\": \"ALLOW\",\n"
    "  \"redirection\": \"TRUST_REDIRECTION_DOMAIN\", \"domains\": [\"trusted.test\"]},\n"
    " {\"name\": \"inspect\", \"priority\": 2, \"action\": \"ALLOW\",\n"
    "  \"domains\": [\"inspected.test\"]},\n"
    " {\"name\": \"alert\", \"priority\": 3, \"action\": \"ALERT\", \"domains\": "
    "[\"alerted.test\"]},\n"
    " {\"name\": \"nx\", \"priority\": 4, \"action\": \"BLOCK\", \"block_response\": "
    "\"NXDOMAIN\",\n"
    "  \"domains\": [\"nx.test\", \"target-bad.test\", \"*.outside.example\", \"a.deleg.test\"]},\n"
    " {\"name\": \"nodata\", \"priority\": 5, \"action\": \"BLOCK\", \"block_response\": "
    "\"NODATA\",\n"
    "  \"domains\": [\"nodata.test\", \"*.blocked-tree.test\"]},\n"
    " {\"name\": \"override\", \"priority\": 6, \"action\": \"BLOCK\",\n"
    "  \"block_response\": \"OVERRIDE\", \"block_override_domain\": \"Walled.Example.NET\",\n"
    "  \"block_override_ttl\": 60, \"block_override_dns_type\": \"CNAME\",\n"
    "  \"domains\": [\"override.test\"]},\n"
    " {\"name\": \"refused\", \"priority\": 7, \"action\": \"REFUSED\", \"domains\": "
    "[\"refused.test\"]},\n"
    " {\"name\": \"drop\", \"priority\": 8, \"action\": \"DROP\", \"domains\": [\"drop.test\"]},\n"
    " {\"name\": \"v6\", \"priority\": 9, \"action\": \"BLOCK\", \"block_response\": "
    "\"NXDOMAIN\",\n"
    "  \"qtype\": \"AAAA\", \"domains\": [\"v6only.test\"]}\n"
    "]}]}\n";

struct wire_resp {
	size_t len;
	uint8_t rcode;
	bool aa;
	uint16_t an, ns, ar;
	uint16_t type1; /* first answer or authority record */
	uint32_t ttl1;
	char target1[300]; /* its CNAME target */
	uint16_t types[8]; /* answer types in order */
};

static size_t mkquery(uint8_t *q, const char *name, uint16_t type, uint16_t qclass)
{
	uint8_t wire[P53_NAME_MAX];
	int n = name_from_text(name, strlen(name), NULL, wire, NULL);
	if (n < 0)
		abort();
	memset(q, 0, 12);
	q[0] = 0xab;
	q[5] = 1;
	memcpy(q + 12, wire, (size_t)n);
	size_t p = 12 + (size_t)n;
	q[p++] = (uint8_t)(type >> 8);
	q[p++] = (uint8_t)type;
	q[p++] = (uint8_t)(qclass >> 8);
	q[p++] = (uint8_t)qclass;
	return p;
}

static struct wire_resp ask(const struct p53_snapshot *s, struct p53_ctx *c, const char *name,
			    uint16_t type)
{
	uint8_t q[512], out[P53_MSG_MAX];
	struct wire_resp r;
	memset(&r, 0, sizeof(r));
	size_t ql = mkquery(q, name, type, CLASS_IN);
	struct p53_client cl = {.family = 4, .transport = P53_UDP};
	r.len = p53_answer(s, q, ql, &cl, c, out, sizeof(out));
	if (r.len < 12)
		return r;
	r.rcode = out[3] & 0xf;
	r.aa = out[2] & 0x04;
	r.an = (uint16_t)(out[6] << 8 | out[7]);
	r.ns = (uint16_t)(out[8] << 8 | out[9]);
	r.ar = (uint16_t)(out[10] << 8 | out[11]);
	size_t p = ql, nl;
	uint8_t nm[P53_NAME_MAX];
	for (unsigned i = 0; i < (unsigned)r.an + r.ns && i < 8; i++) {
		int used = name_unpack(out, r.len, p, nm, &nl);
		if (used < 0 || p + (size_t)used + 10 > r.len)
			break;
		p += (size_t)used;
		uint16_t t = (uint16_t)(out[p] << 8 | out[p + 1]);
		uint16_t rdl = (uint16_t)(out[p + 8] << 8 | out[p + 9]);
		if (i < r.an)
			r.types[i] = t;
		if (i == 0) {
			r.type1 = t;
			r.ttl1 = (uint32_t)out[p + 4] << 24 | out[p + 5] << 16 | out[p + 6] << 8 |
				 out[p + 7];
			if (t == RR_CNAME && name_unpack(out, r.len, p + 10, nm, &nl) > 0)
				name_to_text(nm, r.target1, sizeof(r.target1));
		}
		p += 10 + (size_t)rdl;
	}
	return r;
}

static struct p53_snapshot *snapshot(bool prerender)
{
	put("test.zone", zone_test);
	char p[256];
	snprintf(p, sizeof(p), "%s/test.zone", dir);
	struct p53_zone_input z[1] = {{"test.", p}};
	struct p53_compile_opts o = {.serial = 1, .no_prerender = !prerender};
	struct p53_err err = {0};
	uint8_t *img;
	size_t len;
	if (p53_compile(z, 1, &o, &img, &len, &err) != 0) {
		fprintf(stderr, "compile: %s\n", err.msg);
		return NULL;
	}
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &err);
	free(img);
	return s;
}

static void test_engine(bool prerender)
{
	struct p53_snapshot *s = snapshot(prerender);
	struct p53_err err;
	struct p53_fw *fw = fw_build(rules_engine, &err);
	CHECK(s != NULL && fw != NULL);
	if (s == NULL || fw == NULL) {
		fprintf(stderr, "engine setup: %s\n", err.msg);
		p53_snapshot_free(s);
		p53_fw_free(fw);
		return;
	}
	struct p53_answer_cfg cfg;
	p53_answer_cfg_default(&cfg);
	struct p53_ctx plain, c;
	p53_ctx_init(&plain, &cfg, 1);
	p53_ctx_init(&c, &cfg, 1);
	c.fw = fw;
	c.worker = 1;
	struct wire_resp r;

	/* no match and ALERT: the normal answer */
	r = ask(s, &c, "www.test.", RR_A);
	CHECK(r.rcode == 0 && r.aa && r.an == 1 && r.type1 == RR_A);
	r = ask(s, &c, "alerted.test.", RR_A);
	CHECK(r.rcode == 0 && r.aa && r.an == 1 && r.type1 == RR_A);
	CHECK_EQ(c.stats[P53_STAT_FW_ALERT], 1);
	/* NXDOMAIN with the zone's SOA (negative TTL = min(3600, 300)) */
	r = ask(s, &c, "nx.test.", RR_A);
	CHECK(r.rcode == 3 && r.aa && r.an == 0 && r.ns == 1 && r.type1 == RR_SOA);
	CHECK_EQ(r.ttl1, 300);
	/* NODATA with SOA */
	r = ask(s, &c, "nodata.test.", RR_A);
	CHECK(r.rcode == 0 && r.aa && r.an == 0 && r.ns == 1 && r.type1 == RR_SOA);
	/* OVERRIDE: a CNAME to the override name, its TTL, not chased */
	r = ask(s, &c, "override.test.", RR_A);
	CHECK(r.rcode == 0 && r.aa && r.an == 1 && r.ns == 0 && r.type1 == RR_CNAME);
	CHECK_EQ(r.ttl1, 60);
	CHECK_STR(r.target1, "walled.example.net.");
	r = ask(s, &c, "refused.test.", RR_A);
	CHECK(r.rcode == 5 && r.an == 0 && r.ns == 0);
	r = ask(s, &c, "drop.test.", RR_A);
	CHECK_EQ(r.len, 0);
	CHECK_EQ(c.stats[P53_STAT_FW_DROP], 1);
	/* qtype filter */
	r = ask(s, &c, "v6only.test.", RR_AAAA);
	CHECK(r.rcode == 3 && r.ns == 1);
	r = ask(s, &c, "v6only.test.", RR_A);
	CHECK(r.rcode == 0 && r.an == 1 && r.type1 == RR_A);
	/* outside every served zone: blocked, no SOA, AA clear */
	r = ask(s, &c, "a.outside.example.", RR_A);
	CHECK(r.rcode == 3 && !r.aa && r.ns == 0);
	/* below a delegation: not authoritative there either */
	r = ask(s, &c, "a.deleg.test.", RR_A);
	CHECK(r.rcode == 3 && !r.aa && r.ns == 0);
	/* case-insensitive through the engine */
	r = ask(s, &c, "NX.Test.", RR_A);
	CHECK(r.rcode == 3 && r.aa);

	/* INSPECT_REDIRECTION_DOMAIN (default): a blocked name anywhere in the
	 * chain blocks the query, with the verdict's response */
	r = ask(s, &c, "alias.test.", RR_A);
	CHECK(r.rcode == 3 && r.aa && r.an == 0 && r.ns == 1);
	r = ask(s, &c, "inspected.test.", RR_A);
	CHECK(r.rcode == 3 && r.an == 0);
	/* TRUST_REDIRECTION_DOMAIN: only the query name counts */
	r = ask(s, &c, "trusted.test.", RR_A);
	CHECK(r.rcode == 0 && r.an == 2 && r.types[0] == RR_CNAME && r.types[1] == RR_A);
	/* DNAME: the synthesised name falls under "*.blocked-tree.test" */
	r = ask(s, &c, "x.dn.test.", RR_A);
	CHECK(r.rcode == 0 && r.an == 0 && r.ns == 1 && r.type1 == RR_SOA);
	/* the CNAME itself is what a CNAME query asks for: no chain */
	r = ask(s, &c, "alias.test.", RR_CNAME);
	CHECK(r.rcode == 0 && r.an == 1 && r.type1 == RR_CNAME);

	/* without the firewall, the same snapshot answers normally */
	r = ask(s, &plain, "alias.test.", RR_A);
	CHECK(r.rcode == 0 && r.an == 3);
	r = ask(s, &plain, "nx.test.", RR_A);
	CHECK(r.rcode == 0 && r.an == 1);
	CHECK_EQ(plain.stats[P53_STAT_FW_BLOCK] + plain.stats[P53_STAT_FW_ALERT], 0);

	CHECK(c.stats[P53_STAT_FW_BLOCK] >= 8);
	CHECK_EQ(c.stats[P53_STAT_FW_REFUSED], 1);
	CHECK(c.stats[P53_STAT_FW_ALLOW] >= 2);
	/* fail-closed: an undecidable check is SERVFAIL */
	c.worker = 9;
	r = ask(s, &c, "www.test.", RR_A);
	CHECK_EQ(r.rcode, 2);
	CHECK_EQ(c.stats[P53_STAT_FW_ERROR], 1);
	p53_fw_free(fw);

	/* fail-open: the same error answers normally */
	char open_rules[sizeof(rules_engine) + 32];
	snprintf(open_rules, sizeof(open_rules), "{\"fail_open\": true, %s", rules_engine + 1);
	fw = fw_build(open_rules, &err);
	CHECK(fw != NULL);
	if (fw) {
		c.fw = fw;
		r = ask(s, &c, "www.test.", RR_A);
		CHECK(r.rcode == 0 && r.an == 1);
		CHECK_EQ(c.stats[P53_STAT_FW_ERROR], 2);
		p53_fw_free(fw);
	}
	p53_snapshot_free(s);
}

/* ---- bad input --------------------------------------------------------- */

static const char *fails(const char *rules, const char *list)
{
	static struct p53_err err;
	if (list)
		put("list.txt", list);
	struct p53_fw *fw = fw_build(rules, &err);
	if (fw) {
		p53_fw_free(fw);
		return "(compiled)";
	}
	return err.msg;
}

static bool contains(const char *hay, const char *needle)
{
	bool ok = strstr(hay, needle) != NULL;
	if (!ok)
		fprintf(stderr, "  expected \"%s\" in \"%s\"\n", needle, hay);
	return ok;
}

static const char rules_list[] =
    "{\"domain_lists\": {\"l\": \"list.txt\"}, \"rule_groups\": [{\"name\": \"g\", "
    "\"priority\": 1, \"rules\": [{\"name\": \"r\", \"priority\": 1, \"action\": \"BLOCK\", "
    "\"domain_list\": \"l\"}]}]}";

static void test_bad_input(void)
{
	char where[128];
	snprintf(where, sizeof(where), "%s/list.txt:3: ", dir);
	CHECK(contains(fails(rules_list, "ok.test\n# fine\nbad domain.test\n"), where));
	CHECK(contains(fails(rules_list, "a.test\nb.test\nexa*mple.test\n"), where));
	CHECK(contains(fails(rules_list, "a.test\nb.test\n*example.test\n"), "'*'"));
	CHECK(contains(fails(rules_list, "a\nb\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
					 "aaaaaaaaaaaaaaaaaa.test\n"),
		       "label longer than 63"));
	CHECK(contains(fails(rules_list, "a..b\n"), "list.txt:1: field 1: empty label"));
	CHECK(contains(fails(rules_list, "0.0.0.0 a.test b..test\n"),
		       "list.txt:1: field 3: empty label"));
	CHECK(contains(fails(rules_list, "caf\xc3\xa9.test\n"), "non-ASCII"));

	/* an invalid pattern: Hyperscan's message, with the rule named */
	const char *m = fails("{\"rule_groups\": [{\"name\": \"g\", \"priority\": 1, \"rules\": ["
			      "{\"name\": \"ok\", \"priority\": 1, \"action\": \"ALERT\", "
			      "\"patterns\": [\"^fine$\"]},"
			      "{\"name\": \"broken\", \"priority\": 2, \"action\": \"BLOCK\", "
			      "\"patterns\": [\"(abc\"]}]}]}",
			      NULL);
	CHECK(contains(m, "rule 'broken' (group 'g')"));
	CHECK(contains(m, "pattern '(abc'"));
	CHECK(contains(m, "Missing close parenthesis")); /* Hyperscan's words */

	/* an empty list compiles, matches nothing, and says so */
	CHECK_STR(fails(rules_list, "# nothing yet\n\n"), "(compiled)");
	CHECK(contains(warnings, "list 'l' is empty"));

	/* configuration mistakes */
	CHECK(contains(fails("{\"rule_groups\": [{\"name\": \"g\", \"priority\": 1, \"rules\": ["
			     "{\"name\": \"a\", \"priority\": 1, \"action\": \"ALLOW\"},"
			     "{\"name\": \"b\", \"priority\": 1, \"action\": \"ALLOW\"}]}]}",
			     NULL),
		       "both have priority 1"));
	CHECK(contains(fails("{\"rule_groups\": [{\"name\": \"g\", \"priority\": 1, \"rules\": ["
			     "{\"name\": \"a\", \"priority\": 1, \"action\": \"BLOCK\", "
			     "\"domain_list\": \"nope\"}]}]}",
			     NULL),
		       "domain_list 'nope' is not defined"));
	CHECK(contains(fails("{\"rule_groups\": [{\"name\": \"g\", \"priority\": 1, \"rules\": ["
			     "{\"name\": \"a\", \"priority\": 1, \"action\": \"BLOCK\", "
			     "\"block_response\": \"OVERRIDE\", \"domains\": [\"x.test\"]}]}]}",
			     NULL),
		       "OVERRIDE needs"));
	CHECK(contains(fails("{\"rule_groups\": [{\"name\": \"g\", \"priority\": 1, \"rules\": ["
			     "{\"name\": \"a\", \"priority\": 1, \"action\": \"ALLOW\", "
			     "\"domian\": [\"x.test\"]}]}]}",
			     NULL),
		       "unknown key 'domian'"));
	CHECK(contains(fails("{\"rule_groups\": [}", NULL), "rules.json:1: "));

	/* a corrupted file is refused at load */
	put("list.txt", "a.test\n");
	char p[256];
	snprintf(p, sizeof(p), "%s/rules.json", dir);
	put("rules.json", rules_list);
	uint8_t *img;
	size_t len;
	struct p53_err err = {0};
	CHECK_EQ(p53_fw_compile(p, NULL, &img, &len, &err), 0);
	img[((struct fw_hdr *)img)->sect[FWS_RULES - 1].off] ^= 1;
	struct p53_fw *fw = p53_fw_from_mem(img, len, 1, &err);
	CHECK(fw == NULL);
	CHECK(contains(err.msg, "checksum mismatch"));
	free(img);
}

/* Rules name files by path, and the rules' author need not be the one who
 * runs the compiler: no message may show a byte of a file, only regular
 * files are read, and lines and files are size-capped. */
static void test_untrusted_files(void)
{
	static const char secret[] = "root:$y$j9T$S3CRETS3CRETS3CRETS3CRETS3CRETS3CRETS3CRETS3CRET"
				     "S3CRETS3CRET:19000:0:99999:7:::";
	char rules[512], p[256];
	/* a file that is not a list: refused, its content not quoted */
	put("shadow", secret);
	snprintf(rules, sizeof(rules),
		 "{\"domain_lists\": {\"l\": \"%s/shadow\"}, \"rule_groups\": [{\"name\": "
		 "\"g\", \"priority\": 1, \"rules\": [{\"name\": \"r\", \"priority\": 1, "
		 "\"action\": \"BLOCK\", \"domain_list\": \"l\"}]}]}",
		 dir);
	const char *m = fails(rules, NULL);
	CHECK(contains(m, "shadow:1: "));
	CHECK(strstr(m, "S3CRET") == NULL && strstr(m, "root:") == NULL);
	/* a rules file that is not JSON: the parser's position, not its text */
	snprintf(p, sizeof(p), "%s/shadow", dir);
	struct p53_err err = {0};
	uint8_t *img;
	size_t len;
	CHECK(p53_fw_compile(p, NULL, &img, &len, &err) != 0);
	CHECK(contains(err.msg, "shadow:1: "));
	CHECK(strstr(err.msg, "S3CRET") == NULL && strstr(err.msg, "root") == NULL);
	/* /dev/zero (endless) and a FIFO (would block): not regular files */
	snprintf(rules, sizeof(rules),
		 "{\"domain_lists\": {\"l\": \"/dev/zero\"}, \"rule_groups\": [{\"name\": "
		 "\"g\", \"priority\": 1, \"rules\": [{\"name\": \"r\", \"priority\": 1, "
		 "\"action\": \"BLOCK\", \"domain_list\": \"l\"}]}]}");
	CHECK(contains(fails(rules, NULL), "/dev/zero: list 'l': not a regular file"));
	snprintf(p, sizeof(p), "%s/fifo", dir);
	CHECK_EQ(mkfifo(p, 0600), 0);
	snprintf(rules, sizeof(rules),
		 "{\"domain_lists\": {\"l\": \"fifo\"}, \"rule_groups\": [{\"name\": "
		 "\"g\", \"priority\": 1, \"rules\": [{\"name\": \"r\", \"priority\": 1, "
		 "\"action\": \"BLOCK\", \"domain_list\": \"l\"}]}]}");
	CHECK(contains(fails(rules, NULL), "fifo: list 'l': not a regular file"));
	struct p53_err e2 = {0};
	CHECK(p53_fw_compile(p, NULL, &img, &len, &e2) != 0);
	CHECK(contains(e2.msg, "fifo: rules: not a regular file"));
	unlink(p);
	/* a line longer than any hosts-file line: refused at its number */
	char *big = malloc(10000);
	memset(big, 'a', 9998);
	memcpy(big, "ok.test\n", 8);
	big[9998] = '\n';
	big[9999] = 0;
	CHECK(contains(fails(rules_list, big), "list.txt:2: line longer than 4096 bytes"));
	free(big);
}

/* A million-line list: compiled, loaded and checked (timings printed, not
 * asserted: they depend on the machine and the sanitizers). */
static void test_million(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/list.txt", dir);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs("# generated\n", f);
	for (unsigned i = 0; i < 1000000; i++)
		fprintf(f, "%sd%u.example-%u.com\n", i % 10 == 0 ? "*." : "", i, i % 997);
	fclose(f);
	char rp[256];
	snprintf(rp, sizeof(rp), "%s/rules.json", dir);
	put("rules.json", rules_list);
	struct timespec t0, t1, t2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint8_t *img;
	size_t len;
	struct p53_err err = {0};
	int rc = p53_fw_compile(rp, NULL, &img, &len, &err);
	CHECK_EQ(rc, 0);
	if (rc) {
		fprintf(stderr, "million: %s\n", err.msg);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct p53_fw *fw = p53_fw_from_mem(img, len, 2, &err);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	free(img);
	CHECK(fw != NULL);
	if (fw == NULL)
		return;
	struct p53_fw_info in;
	p53_fw_info(fw, &in);
	CHECK_EQ(in.domains, 1000000);
	printf("million-line list: compile %.2f s, load %.2f s, %.1f MB\n",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9,
	       (double)len / 1e6);
	EXPECT(fw, "d1.example-1.com.", RR_A, "r", P53_FW_BLOCK_NODATA);
	EXPECT(fw, "d999999.example-8.com.", RR_A, "r", P53_FW_BLOCK_NODATA);
	EXPECT(fw, "x.d10.example-10.com.", RR_A, "r", P53_FW_BLOCK_NODATA); /* "*." line */
	EXPECT(fw, "d10.example-10.com.", RR_A, "-", P53_FW_NONE);	     /* not the bare name */
	EXPECT(fw, "d1000000.example-1.com.", RR_A, "-", P53_FW_NONE);
	EXPECT(fw, "example-1.com.", RR_A, "-", P53_FW_NONE);
	p53_fw_free(fw);
	unlink(path);
}

/* ---- Route 53 Resolver shapes ------------------------------------------ */

/* Rules as `aws route53resolver list-firewall-rules` prints them, lists by
 * Id, groups with their association priority. */
static const char rules_r53[] =
    "{\"FirewallFailOpen\": \"DISABLED\",\n"
    " \"FirewallDomainLists\": [\n"
    "  {\"Id\": \"rslvr-fdl-malware\", \"Name\": \"malware\", \"File\": \"r53list.txt\"},\n"
    "  {\"Id\": \"rslvr-fdl-corp\", \"Name\": \"corp\", \"Domains\": [\"good.r53.test\"]}],\n"
    " \"FirewallRuleGroups\": [\n"
    "  {\"Id\": \"rslvr-frg-2\", \"Name\": \"late\", \"Priority\": 200, \"FirewallRules\": [\n"
    "   {\"FirewallRuleGroupId\": \"rslvr-frg-2\", \"FirewallDomainListId\": "
    "\"rslvr-fdl-malware\",\n"
    "    \"Name\": \"r53-alert\", \"Priority\": 1, \"Action\": \"ALERT\",\n"
    "    \"CreatorRequestId\": \"x\", \"CreationTime\": \"2024-01-01T00:00:00Z\"}]},\n"
    "  {\"Id\": \"rslvr-frg-1\", \"Name\": \"early\", \"Priority\": 100, \"FirewallRules\": [\n"
    "   {\"FirewallRuleGroupId\": \"rslvr-frg-1\", \"FirewallDomainListId\": "
    "\"rslvr-fdl-malware\",\n"
    "    \"Name\": \"r53-block\", \"Priority\": 10, \"Action\": \"BLOCK\",\n"
    "    \"BlockResponse\": \"OVERRIDE\", \"BlockOverrideDomain\": \"walled.r53.test\",\n"
    "    \"BlockOverrideDnsType\": \"CNAME\", \"BlockOverrideTtl\": 60, \"Qtype\": \"A\",\n"
    "    \"FirewallDomainRedirectionAction\": \"INSPECT_REDIRECTION_DOMAIN\"},\n"
    "   {\"FirewallRuleGroupId\": \"rslvr-frg-1\", \"FirewallDomainListId\": \"rslvr-fdl-corp\",\n"
    "    \"Name\": \"r53-allow\", \"Priority\": 5, \"Action\": \"ALLOW\"}]}]}\n";

static void test_route53_shapes(void)
{
	put("r53list.txt", "bad.r53.test\n*.evil.r53.test\ngood.r53.test\n");
	struct p53_err err;
	struct p53_fw *fw = fw_build(rules_r53, &err);
	CHECK(fw != NULL);
	if (fw == NULL) {
		fprintf(stderr, "fw: %s\n", err.msg);
		return;
	}
	EXPECT(fw, "bad.r53.test.", RR_A, "r53-block", P53_FW_BLOCK_OVERRIDE);
	EXPECT(fw, "x.evil.r53.test.", RR_A, "r53-block", P53_FW_BLOCK_OVERRIDE);
	EXPECT(fw, "bad.r53.test.", RR_AAAA, "r53-alert", P53_FW_ALERT); /* Qtype A only */
	EXPECT(fw, "good.r53.test.", RR_A, "r53-allow", P53_FW_ALLOW);	 /* priority 5 < 10 */
	EXPECT(fw, "other.r53.test.", RR_A, "-", P53_FW_NONE);
	p53_fw_free(fw);
	/* list-firewall-rules output alone: one group. */
	fw = fw_build("{\"FirewallDomainLists\": [{\"Id\": \"l1\", \"File\": \"r53list.txt\"}],\n"
		      " \"FirewallRules\": [{\"FirewallRuleGroupId\": \"rslvr-frg-9\",\n"
		      "  \"FirewallDomainListId\": \"l1\", \"Name\": \"only\", \"Priority\": 1,\n"
		      "  \"Action\": \"BLOCK\", \"BlockResponse\": \"NXDOMAIN\"}],\n"
		      " \"NextToken\": null}\n",
		      &err);
	CHECK(fw != NULL);
	if (fw)
		EXPECT(fw, "bad.r53.test.", RR_A, "only", P53_FW_BLOCK_NXDOMAIN);
	else
		fprintf(stderr, "fw: %s\n", err.msg);
	p53_fw_free(fw);
	/* A typo in a key, a list Id that does not exist: refused. */
	fw = fw_build(
	    "{\"FirewallDomainLists\": [{\"Id\": \"l1\", \"File\": \"r53list.txt\"}],\n"
	    " \"FirewallRules\": [{\"FirewallDomainListId\": \"l1\", \"Name\": \"r\",\n"
	    "  \"Priority\": 1, \"Action\": \"BLOCK\", \"BlockRespone\": \"NXDOMAIN\"}]}\n",
	    &err);
	CHECK(fw == NULL && strstr(err.msg, "BlockRespone") != NULL);
	p53_fw_free(fw);
	fw = fw_build("{\"FirewallRules\": [{\"FirewallDomainListId\": \"nope\", \"Name\": \"r\",\n"
		      "  \"Priority\": 1, \"Action\": \"BLOCK\"}]}\n",
		      &err);
	CHECK(fw == NULL && strstr(err.msg, "nope") != NULL);
	if (fw == NULL && !strstr(err.msg, "nope"))
		fprintf(stderr, "fw: %s\n", err.msg);
	p53_fw_free(fw);
}

int main(void)
{
	strcpy(dir, "/tmp/p53_fw_XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	test_semantics();
	test_engine(true);
	test_engine(false);
	test_bad_input();
	test_untrusted_files();
	test_route53_shapes();
	test_million();
	const char *files[] = {"rules.json", "malware.txt", "list.txt", "test.zone", "r53list.txt"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char p[256];
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
	return check_report("test_fw");
}
