/* Zone transfers' building blocks: zone images and their differences (what
 * IXFR sends and a secondary applies), the address and key rules, and the
 * AXFR/IXFR answer stream cut into messages. Expected counts are worked out
 * by hand from the two small zones below. */
#include "ctrl/xfr/acl.h"
#include "ctrl/xfr/xfrout.h"
#include "ctrl/xfr/zimage.h"
#include "tests/unit/check.h"
#include "zones/answer/snapshot.h"
#include "zones/compile/compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char v1[] = "$ORIGIN t.example.\n$TTL 300\n"
			 "@ IN SOA ns hm 1 2 2 600 60\n@ IN NS ns\nns IN A 192.0.2.1\n"
			 "a IN A 10.0.0.1\nb IN A 10.0.0.2\nc IN TXT \"c\"\n";
/* a gone, b's TTL changed, d added, serial 5 */
static const char v2[] = "$ORIGIN t.example.\n$TTL 300\n"
			 "@ IN SOA ns hm 5 2 2 600 60\n@ IN NS ns\nns IN A 192.0.2.1\n"
			 "b 600 IN A 10.0.0.2\nc IN TXT \"c\"\nd IN AAAA 2001:db8::1\n";

static struct p53_snapshot *compile_text(const char *dir, const char *text, uint64_t serial)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/z.zone", dir);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	struct p53_zone_input in = {"t.example.", path};
	struct p53_compile_opts o = {.serial = serial};
	uint8_t *img;
	size_t len;
	struct p53_err err = {0};
	if (p53_compile(&in, 1, &o, &img, &len, &err) != 0) {
		fprintf(stderr, "compile: %s\n", err.msg);
		return NULL;
	}
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &err);
	free(img);
	return s;
}

static void test_images(struct p53_snapshot *s1, struct p53_snapshot *s2)
{
	struct zimage *a, *b, *del, *add, *back;
	struct p53_err err = {0};
	CHECK_EQ(zimage_from_snapshot(s1, 0, &a, &err), 0);
	CHECK_EQ(zimage_from_snapshot(s2, 0, &b, &err), 0);
	CHECK_EQ(a->n, 6); /* SOA NS ns/A a b c */
	CHECK_EQ(a->serial, 1);
	CHECK_EQ(b->serial, 5);
	CHECK_EQ(zimage_rr_type(a, 0), 6);
	CHECK_EQ(zimage_diff(a, b, &del, &add), 0);
	CHECK_EQ(del->n, 3); /* SOA 1, a, b with TTL 300 */
	CHECK_EQ(add->n, 3); /* SOA 5, b with TTL 600, d */
	CHECK_EQ(del->serial, 1);
	CHECK_EQ(add->serial, 5);
	CHECK_EQ(zimage_apply(a, del, add, &back, &err), 0);
	CHECK(zimage_equal(back, b));
	zimage_unref(back);
	/* The difference does not start at b's serial. */
	CHECK(zimage_apply(b, del, add, &back, &err) != 0);
	/* Deleting what is not there is an error, not a silent success. */
	CHECK(zimage_apply(a, add, del, &back, &err) != 0);
	zimage_unref(del);
	zimage_unref(add);
	zimage_unref(a);
	zimage_unref(b);
}

static void test_acl(void)
{
	struct tsig_keys keys = {0};
	struct p53_err err = {0};
	CHECK_EQ(tsig_keys_add(&keys, "hmac-sha256:k1:c2VjcmV0c2VjcmV0", &err), 0);
	CHECK(tsig_keys_add(&keys, "k1:c2VjcmV0", &err) != 0); /* twice */
	CHECK(tsig_keys_add(&keys, "nonsense", &err) != 0);
	const struct tsig_key *k1 = tsig_keys_find(&keys, "K1.");
	CHECK(k1 != NULL);
	struct acl a = {0};
	CHECK_EQ(acl_add(&a, "192.0.2.0/25", &keys, &err), 0);
	CHECK_EQ(acl_add(&a, "2001:db8::/32 key k1", &keys, &err), 0);
	CHECK(acl_add(&a, "192.0.2.0/33", &keys, &err) != 0);
	CHECK(acl_add(&a, "any key nokey", &keys, &err) != 0);
	CHECK(acl_add(&a, "host.example", &keys, &err) != 0);
	struct p53_client c = {.family = 4, .addr = {192, 0, 2, 127}};
	CHECK(acl_allows(&a, &c, NULL));
	c.addr[3] = 128;
	CHECK(!acl_allows(&a, &c, k1));
	struct p53_client c6 = {.family = 6, .addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1}};
	CHECK(!acl_allows(&a, &c6, NULL));
	CHECK(acl_allows(&a, &c6, k1));
	acl_free(&a);
	tsig_keys_free(&keys);
}

/* A query for name/type (no compression), as a client writes it. */
static size_t make_query(uint8_t *q, uint16_t type, uint32_t ixfr_serial)
{
	static const uint8_t name[] = "\x01t\x07"
				      "example";
	memset(q, 0, 12);
	q[0] = 0x12;
	q[1] = 0x34;
	q[5] = 1;
	size_t n = 12;
	memcpy(q + n, name, sizeof(name));
	n += sizeof(name);
	q[n++] = (uint8_t)(type >> 8);
	q[n++] = (uint8_t)type;
	q[n++] = 0;
	q[n++] = 1;
	if (type == 251) {
		q[9] = 1;
		q[n++] = 0xc0; /* owner: the question's name */
		q[n++] = 12;
		static const uint8_t soa[] = {0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0};
		memcpy(q + n, soa, sizeof(soa)); /* "." "." then 20 bytes */
		n += sizeof(soa);
		q[n++] = (uint8_t)(ixfr_serial >> 24);
		q[n++] = (uint8_t)(ixfr_serial >> 16);
		q[n++] = (uint8_t)(ixfr_serial >> 8);
		q[n++] = (uint8_t)ixfr_serial;
		memset(q + n, 0, 16);
		n += 16;
	}
	return n;
}

/* Messages of one answer: their count and all records (ANCOUNT summed). */
static unsigned stream(struct xfrout *x, uint16_t type, uint32_t serial, unsigned *records,
		       uint8_t *rcode)
{
	uint8_t q[512], r[65535];
	size_t ql = make_query(q, type, serial), rl;
	struct xfrout_job *j;
	struct p53_client c = {.family = 4, .addr = {127, 0, 0, 1}};
	*records = 0;
	*rcode = 0xff;
	enum xfrout_rc rc = xfrout_query(x, q, ql, &c, r, sizeof(r), &rl, &j);
	if (rc == XFROUT_ANSWER) {
		*rcode = r[3] & 15;
		return 1;
	}
	if (rc != XFROUT_STREAM)
		return 0;
	unsigned msgs = 0;
	while ((rl = xfrout_next(j, r, sizeof(r))) != 0) {
		CHECK(r[0] == 0x12 && r[1] == 0x34 && (r[2] & 0x84) == 0x84);
		*rcode = r[3] & 15;
		*records += (unsigned)(r[6] << 8 | r[7]);
		msgs++;
	}
	xfrout_job_free(j);
	return msgs;
}

static void test_stream(struct p53_snapshot *s1, struct p53_snapshot *s2)
{
	const char *allow[] = {"127.0.0.0/8"};
	struct xfrout_cfg cfg = {.allow = allow, .nallow = 1, .ixfr_depth = 4};
	struct p53_err err = {0};
	struct xfrout *x = xfrout_new(&cfg, &err);
	CHECK(x != NULL);
	unsigned n;
	uint8_t rc;
	CHECK_EQ(stream(x, 252, 0, &n, &rc), 1);
	CHECK_EQ(rc, 9); /* nothing published yet: not our zone */
	xfrout_publish(x, s1);
	CHECK_EQ(stream(x, 252, 0, &n, &rc), 1);
	CHECK_EQ(n, 7); /* 6 records, SOA again */
	xfrout_publish(x, s2);
	CHECK_EQ(stream(x, 251, 1, &n, &rc), 1);
	CHECK_EQ(n, 8); /* SOA 5, [SOA 1, a, b], [SOA 5, b, d], SOA 5 */
	CHECK_EQ(stream(x, 251, 5, &n, &rc), 1);
	CHECK_EQ(n, 1); /* up to date: one SOA */
	CHECK_EQ(stream(x, 251, 3, &n, &rc), 1);
	CHECK_EQ(n, 7); /* unknown serial: the whole zone */
	/* The same zone again: the journal stays. */
	xfrout_publish(x, s2);
	CHECK_EQ(stream(x, 251, 1, &n, &rc), 1);
	CHECK_EQ(n, 8);
	xfrout_free(x);

	const char *none[] = {"10.0.0.0/8"};
	cfg.allow = none;
	x = xfrout_new(&cfg, &err);
	xfrout_publish(x, s1);
	CHECK_EQ(stream(x, 252, 0, &n, &rc), 1);
	CHECK_EQ(rc, 5); /* REFUSED */
	CHECK_EQ(n, 0);
	xfrout_free(x);
}

int main(void)
{
	char dir[] = "/tmp/p53xfrXXXXXX";
	if (mkdtemp(dir) == NULL)
		return 1;
	struct p53_snapshot *s1 = compile_text(dir, v1, 10);
	struct p53_snapshot *s2 = compile_text(dir, v2, 11);
	CHECK(s1 && s2);
	if (s1 && s2) {
		test_images(s1, s2);
		test_stream(s1, s2);
	}
	test_acl();
	p53_snapshot_free(s1);
	p53_snapshot_free(s2);
	char path[256];
	snprintf(path, sizeof(path), "%s/z.zone", dir);
	unlink(path);
	rmdir(dir);
	return check_report("xfr");
}
