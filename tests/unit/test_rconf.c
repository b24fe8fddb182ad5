/* The resolver's configuration (ctrl/resolv/rconf.h): a full file, views
 * by source prefix and listener, Route 53's most-specific-rule choice, and
 * each kind of mistake refused with its place; resolver_wants on crafted
 * engine responses; the query log's resolver fields in JSON. */
#include "check.h"

#include "ctrl/net/ksock.h"
#include "ctrl/qlog/qlog.h"
#include "ctrl/resolv/rconf.h"
#include "ctrl/resolv/resolver.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <unistd.h>

static char path[] = "/tmp/p53rconfXXXXXX";

static struct rconf *load(const char *text, struct p53_err *err)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	memset(err, 0, sizeof(*err));
	return rconf_load(path, err);
}

static const char *good = "recursion:\n"
			  "  root-hints: /etc/hints\n"
			  "  serve-stale: true\n"
			  "  cache-max-ttl: 600\n"
			  "rules:\n"
			  "  - {name: corp, domain: corp.example, type: FORWARD,\n"
			  "     targets: [10.0.0.2, '[2001:db8::2]:5300']}\n"
			  "  - {name: sys, domain: Sys.Corp.Example., type: SYSTEM}\n"
			  "  - {name: other, domain: example, type: FORWARD, targets: 10.9.9.9}\n"
			  "views:\n"
			  "  - name: lab\n"
			  "    sources: [192.0.2.0/24, '2001:db8::/32']\n"
			  "    listen: ['127.0.0.1:5353']\n"
			  "    rules: [corp, sys]\n"
			  "  - name: all\n"
			  "    sources: 10.0.0.0/8\n"
			  "    recursion: false\n";

static uint8_t *wire(const char *txt, uint8_t *out, size_t *len)
{
	const char *why;
	int n = name_from_text(txt, strlen(txt), NULL, out, &why);
	*len = n > 0 ? (size_t)n : 0;
	return out;
}

static void test_good(void)
{
	struct p53_err err;
	struct rconf *rc = load(good, &err);
	CHECK(rc != NULL);
	if (rc == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return;
	}
	CHECK_STR(rc->root_hints, "/etc/hints");
	CHECK(rc->trust_anchor == NULL);
	CHECK(rc->serve_stale);
	CHECK(rc->qname_min); /* the default */
	CHECK_EQ(rc->cache_max_ttl, 600);
	CHECK_EQ(rc->nrules, 3);
	CHECK_EQ(rc->rules[0].ntargets, 2);
	CHECK_STR(rc->rules[0].targets[0], "10.0.0.2@53");
	CHECK_STR(rc->rules[0].targets[1], "2001:db8::2@5300");
	CHECK_EQ(rc->rules[1].type, RCONF_SYSTEM);
	CHECK_EQ(rc->nviews, 2);
	CHECK(!rc->views[0].all_rules && rc->views[0].nrules == 2);
	CHECK(rc->views[1].all_rules && rc->views[1].nrules == 3 && !rc->views[1].recursion);

	/* Views: source prefix and listener must both match. */
	struct sockaddr_storage lis, other;
	unsigned l;
	ksock_parse_addr("127.0.0.1:5353", &lis, &l);
	ksock_parse_addr("127.0.0.1:53", &other, &l);
	uint8_t a4[16] = {0}, a6[16] = {0};
	inet_pton(AF_INET, "192.0.2.77", a4);
	CHECK_EQ(rconf_view_of(rc, 4, a4, &lis), 0);
	CHECK_EQ(rconf_view_of(rc, 4, a4, &other), -1);
	inet_pton(AF_INET, "10.200.0.1", a4);
	CHECK_EQ(rconf_view_of(rc, 4, a4, &other), 1);
	inet_pton(AF_INET, "198.51.100.1", a4);
	CHECK_EQ(rconf_view_of(rc, 4, a4, &lis), -1);
	inet_pton(AF_INET6, "2001:db8:ffff::1", a6);
	CHECK_EQ(rconf_view_of(rc, 6, a6, &lis), 0);
	inet_pton(AF_INET6, "2001:db9::1", a6);
	CHECK_EQ(rconf_view_of(rc, 6, a6, &lis), -1);

	/* The most specific rule wins; a rule covers its name and below. */
	uint8_t n[P53_NAME_MAX];
	size_t len;
	wire("www.corp.example.", n, &len);
	CHECK_EQ(rconf_rule_of(rc, 0, n, len), 0);
	wire("corp.example.", n, &len);
	CHECK_EQ(rconf_rule_of(rc, 0, n, len), 0);
	wire("a.b.sys.corp.example.", n, &len);
	CHECK_EQ(rconf_rule_of(rc, 0, n, len), 1);
	wire("xcorp.example.", n, &len);
	CHECK_EQ(rconf_rule_of(rc, 0, n, len), -1); /* view lab has no "example" rule */
	CHECK_EQ(rconf_rule_of(rc, 1, n, len), 2);
	wire("www.leaf.tree.", n, &len);
	CHECK_EQ(rconf_rule_of(rc, 1, n, len), -1);
	rconf_free(rc);
}

static void bad(const char *text, const char *want)
{
	struct p53_err err;
	struct rconf *rc = load(text, &err);
	CHECK(rc == NULL);
	CHECK(strstr(err.msg, want) != NULL);
	if (rc != NULL || strstr(err.msg, want) == NULL)
		fprintf(stderr, "  for: %s\n  got: %s\n  want: %s\n", text, err.msg, want);
	rconf_free(rc);
}

static void test_bad(void)
{
	bad("views: []\n", "at least one view");
	bad("", "at least one view");
	bad("views:\n  - {name: a, colour: red}\n", "views[0]: unknown key 'colour'");
	bad("views:\n  - {name: a, sources: [192.0.2.1/24]}\n", "host bits");
	bad("views:\n  - {name: a, sources: [300.0.0.0/8]}\n", "views[0].sources[0]");
	bad("views:\n  - {name: a}\n  - {name: a}\n", "defined twice");
	bad("views:\n  - {name: a, listen: ['1.2.3.4:99999']}\n", "views[0].listen[0]");
	bad("views:\n  - {name: a, rules: [nope]}\n", "no rule named 'nope'");
	bad("rules:\n  - {name: r, domain: x.example, type: FORWARD}\nviews:\n  - {name: a}\n",
	    "needs targets");
	bad("rules:\n  - {name: r, domain: x.example, type: SYSTEM, targets: 1.2.3.4}\n"
	    "views:\n  - {name: a}\n",
	    "takes no targets");
	bad("rules:\n  - {name: r, domain: x.example, type: RECURSE}\nviews:\n  - {name: a}\n",
	    "FORWARD or SYSTEM");
	bad("rules:\n  - {name: r, domain: 'a..b', type: SYSTEM}\nviews:\n  - {name: a}\n",
	    "rules[0].domain");
	bad("rules:\n  - {name: r, domain: a.b, type: SYSTEM}\n"
	    "  - {name: s, domain: A.B., type: SYSTEM}\n"
	    "views:\n  - {name: a, rules: [r, s]}\n",
	    "same domain");
	bad("recursion:\n  cache-max-ttl: -1\nviews:\n  - {name: a}\n", "recursion.cache-max-ttl");
	bad("recursion:\n  serve-stale: maybe\nviews:\n  - {name: a}\n", "true or false");
	bad("recursion:\n  cache-min-ttl: 900\n  cache-max-ttl: 60\nviews:\n  - {name: a}\n",
	    "above cache-max-ttl");
	bad("views: [\n", "not YAML");
	/* libfyaml 0.8 never returns from a directive line holding bytes that
	 * are not UTF-8 (the conf fuzz target's finding, which this reader
	 * shared before yamlfile.c). */
	bad("%YAML\xe4\xce\xd1\xcd\nviews:\n  - {name: a}\n", ":1:7: not UTF-8 text");
	/* Nor control characters but LF and CR (YAML 1.2 c-printable), nor
	 * tabs: libfyaml 0.7 crashes on "? e:\t" followed by a NUL, "-" or "?"
	 * (fuzz_conf). */
	bad("views:\t[{name: a}]\n", ":1:7: a tab");
	bad("views:\n  - {name: a}\n# a\tb\n", ":3:4: a tab");
	bad("views:\n  - {name: a}\n\x01", ":3:1: a control character");
	bad("views:\n  - {name: a\x7f}\n", ":2:13: a control character");
	bad("views:\n  - {name: a\xc2\x80}\n", ":2:14: a control character");
	/* The place of a mistake: line and column. */
	bad("views:\n  - name: a\n    sources: [bogus]\n", ":3:15:");
}

static void test_wants(void)
{
	uint8_t r[12] = {0};
	r[2] = 0x81;		      /* QR RD, AA clear */
	r[3] = 0x85;		      /* RA, REFUSED */
	CHECK(resolver_wants(r, 12)); /* outside every zone */
	r[3] = 0x80;		      /* NOERROR, no answer, AA clear: referral */
	CHECK(resolver_wants(r, 12));
	r[7] = 1; /* an answer (class ANY) */
	CHECK(!resolver_wants(r, 12));
	r[7] = 0;
	r[2] |= 4; /* AA: NODATA from our zone */
	CHECK(!resolver_wants(r, 12));
	r[2] = 0x81;
	r[3] = 0x83; /* NXDOMAIN without AA: not ours to resolve */
	CHECK(!resolver_wants(r, 12));
	CHECK(!resolver_wants(r, 11)); /* no header */
}

static void test_qlog_json(void)
{
	struct qlog_rec rec;
	memset(&rec, 0, sizeof(rec));
	rec.fw_rule = QLOG_RULE_NONE;
	char buf[QLOG_JSON_MAX];
	size_t n = qlog_format_json(&rec, buf, sizeof(buf));
	CHECK(n > 0 && strstr(buf, "\"resolver\":") == NULL); /* authoritative: no fields */
	rec.res = QLOG_RES_ON | QLOG_RES_CACHE | QLOG_RES_FORWARDED | QLOG_RES_FW_CHAIN;
	rec.fw_action = 3;
	rec.fw_rule = 4;
	strcpy(rec.view, "lab");
	strcpy(rec.rule, "corp");
	strcpy(rec.upstream, "10.0.0.2@53");
	n = qlog_format_json(&rec, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK(strstr(buf, "\"firewall_rule\":4,\"resolver\":{\"view\":\"lab\",\"rule\":\"corp\","
			  "\"upstream\":\"10.0.0.2@53\",\"firewall_action\":\"BLOCK_NXDOMAIN\","
			  "\"firewall_chain\":true,\"cache_hit\":true,\"forwarded\":true,"
			  "\"dnssec\":\"insecure\"}}\n") != NULL);
}

int main(void)
{
	int fd = mkstemp(path);
	if (fd < 0)
		return 1;
	close(fd);
	test_good();
	test_bad();
	test_wants();
	test_qlog_json();
	unlink(path);
	return check_report("rconf");
}
