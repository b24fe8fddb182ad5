/* Zone transfers' building blocks: zone images and their differences (what
 * IXFR sends and a secondary applies), the address and key rules, and the
 * AXFR/IXFR answer stream cut into messages. Expected counts are worked out
 * by hand from the two small zones below. */
#include "ctrl/xfr/acl.h"
#include "ctrl/xfr/tsig.h"
#include "ctrl/xfr/xfrout.h"
#include "ctrl/xfr/zimage.h"
#include "tests/unit/check.h"
#include "zones/answer/snapshot.h"
#include "zones/compile/compile.h"

#include <libknot/libknot.h>
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
	CHECK(acl_add(&a, "192.0.2.1 tls key k1", &keys, &err) != 0); /* order */
	CHECK(acl_add(&a, "192.0.2.1 key k1 tls more", &keys, &err) != 0);
	CHECK(acl_add(&a, "192.0.2.1 key", &keys, &err) != 0);
	struct p53_client c = {.family = 4, .addr = {192, 0, 2, 127}};
	CHECK(acl_allows(&a, &c, NULL, false));
	c.addr[3] = 128;
	CHECK(!acl_allows(&a, &c, k1, false));
	struct p53_client c6 = {.family = 6, .addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1}};
	CHECK(!acl_allows(&a, &c6, NULL, false));
	CHECK(acl_allows(&a, &c6, k1, false));
	acl_free(&a);
	/* "tls": over TLS only, with or without a key. */
	struct acl t = {0};
	CHECK_EQ(acl_add(&t, "198.51.100.0/24 key k1 tls", &keys, &err), 0);
	CHECK_EQ(acl_add(&t, "203.0.113.1 tls", &keys, &err), 0);
	struct p53_client d = {.family = 4, .addr = {198, 51, 100, 7}};
	CHECK(!acl_allows(&t, &d, k1, false));
	CHECK(acl_allows(&t, &d, k1, true));
	CHECK(!acl_allows(&t, &d, NULL, true));
	struct p53_client e = {.family = 4, .addr = {203, 0, 113, 1}};
	CHECK(!acl_allows(&t, &e, NULL, false));
	CHECK(acl_allows(&t, &e, NULL, true));
	acl_free(&t);
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
	enum xfrout_rc rc = xfrout_query(x, q, ql, &c, false, r, sizeof(r), &rl, &j);
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

/* A message of the answer stream: header and question, told apart by id
 * byte 0 (same for all) and the qname's first letter. */
static size_t tmsg(uint8_t *m, char letter)
{
	static const uint8_t q[] = {1, 't', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 252, 0, 1};
	memset(m, 0, 12);
	m[0] = 0x12;
	m[1] = 0x34;
	m[2] = 0x84;
	m[5] = 1;
	memcpy(m + 12, q, sizeof(q));
	m[13] = (uint8_t)letter;
	return 12 + sizeof(q);
}

/* Signs a stream as a primary that skips messages would (RFC 8945 5.3.1):
 * each signed message's MAC covers the previous MAC, every unsigned message
 * since then as sent, and itself. signed_at[i] says which are signed. */
static void sign_stream(const knot_tsig_key_t *k, const uint8_t *reqmac, size_t reqmac_len,
			uint8_t msgs[][512], size_t *lens, const bool *signed_at, size_t n)
{
	uint8_t mac[64], run[8 * 512];
	size_t maclen = 0, runlen = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(run + runlen, msgs[i], lens[i]);
		runlen += lens[i];
		if (!signed_at[i])
			continue;
		size_t dl = sizeof(mac);
		int rc = i == 0 ? knot_tsig_sign(msgs[i], &lens[i], 512, reqmac, reqmac_len, mac,
						 &dl, k, 0, 0)
				: knot_tsig_sign_next(msgs[i], &lens[i], 512, mac, maclen, mac, &dl,
						      k, run, runlen);
		CHECK_EQ(rc, KNOT_EOK);
		maclen = dl;
		runlen = 0;
	}
}

/* Checks a stream as a secondary does; the index of the first message
 * refused, n when all pass, n + 1 when the stream ends unsigned. */
static size_t check_stream(const struct tsig_key *key, const uint8_t *reqmac, size_t reqmac_len,
			   uint8_t msgs[][512], const size_t *lens, size_t n)
{
	struct tsig_stream s = {.key = key};
	memcpy(s.mac, reqmac, reqmac_len);
	s.maclen = reqmac_len;
	struct p53_err err = {0};
	size_t i = 0;
	for (; i < n; i++)
		if (tsig_check_answer(&s, msgs[i], lens[i], &err) != 0)
			break;
	if (i == n && tsig_stream_complete(&s, &err) != 0)
		i = n + 1;
	tsig_stream_clear(&s);
	return i;
}

static void test_tsig_unsigned(void)
{
	struct tsig_keys keys = {0};
	struct p53_err err = {0};
	static const char spec[] = "hmac-sha256:k1:cG9ydDUzLXRyYW5zZmVyLXRlc3Qta2V5LTMyYnl0ZXM=";
	CHECK_EQ(tsig_keys_add(&keys, spec, &err), 0);
	const struct tsig_key *key = tsig_keys_find(&keys, "k1");
	knot_tsig_key_t k;
	CHECK_EQ(knot_tsig_key_init_str(&k, spec), KNOT_EOK);
	uint8_t reqmac[32];
	memset(reqmac, 0xa5, sizeof(reqmac));
	enum { N = 6 };
	uint8_t m[N][512];
	size_t len[N];
	/* Signed, two unsigned, signed, unsigned, signed. */
	bool sig[N] = {true, false, false, true, false, true};
	for (int i = 0; i < N; i++)
		len[i] = tmsg(m[i], (char)('a' + i));
	sign_stream(&k, reqmac, sizeof(reqmac), m, len, sig, N);
	CHECK_EQ(check_stream(key, reqmac, sizeof(reqmac), m, len, N), (size_t)N);
	/* An unsigned message changed in transit: the next MAC fails. */
	m[2][13] ^= 1;
	CHECK_EQ(check_stream(key, reqmac, sizeof(reqmac), m, len, N), (size_t)3);
	m[2][13] ^= 1;
	/* Dropped: the same. */
	uint8_t d[N - 1][512];
	size_t dlen[N - 1];
	for (int i = 0, j = 0; i < N; i++)
		if (i != 1) {
			memcpy(d[j], m[i], len[i]);
			dlen[j++] = len[i];
		}
	CHECK_EQ(check_stream(key, reqmac, sizeof(reqmac), d, dlen, N - 1), (size_t)2);
	/* Ends on an unsigned message: every message passes, the stream
	 * does not. */
	CHECK_EQ(check_stream(key, reqmac, sizeof(reqmac), m, len, N - 1), (size_t)N);
	/* The first message unsigned. */
	bool sig2[N] = {false, true, true, true, true, true};
	for (int i = 0; i < N; i++)
		len[i] = tmsg(m[i], (char)('a' + i));
	sign_stream(&k, reqmac, sizeof(reqmac), m, len, sig2, N);
	CHECK_EQ(check_stream(key, reqmac, sizeof(reqmac), m, len, N), (size_t)0);
	/* 99 unsigned in a row pass, a 100th does not (fed one by one). */
	struct tsig_stream s = {.key = key};
	memcpy(s.mac, reqmac, sizeof(reqmac));
	s.maclen = sizeof(reqmac);
	bool one[1] = {true};
	len[0] = tmsg(m[0], 'a');
	sign_stream(&k, reqmac, sizeof(reqmac), m, len, one, 1);
	CHECK_EQ(tsig_check_answer(&s, m[0], len[0], &err), 0);
	len[1] = tmsg(m[1], 'b');
	for (int i = 0; i < TSIG_UNSIGNED_MAX; i++)
		CHECK_EQ(tsig_check_answer(&s, m[1], len[1], &err), 0);
	CHECK(tsig_check_answer(&s, m[1], len[1], &err) != 0);
	CHECK(strstr(err.msg, "unsigned") != NULL);
	tsig_stream_clear(&s);
	knot_tsig_key_deinit(&k);
	tsig_keys_free(&keys);
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
	test_tsig_unsigned();
	p53_snapshot_free(s1);
	p53_snapshot_free(s2);
	char path[256];
	snprintf(path, sizeof(path), "%s/z.zone", dir);
	unlink(path);
	rmdir(dir);
	return check_report("xfr");
}
