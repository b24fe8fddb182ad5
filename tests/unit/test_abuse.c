/* Abuse controls: SipHash against OpenSSL's and the SipHash paper, server
 * cookies against RFC 9018's Appendix A, the rate limiter's buckets, classes,
 * slip, exempt prefixes and log events, and the rewrite of a response built
 * here by hand. */
#include "check.h"

#include "zones/answer/abuse.h"
#include "zones/answer/cookie.h"
#include "zones/answer/rrl.h"
#include "zones/common/portset.h"
#include "zones/common/siphash.h"

#include <arpa/inet.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdlib.h>

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;
	for (; h[0] && h[1]; h += 2)
		sscanf(h, "%2hhx", &out[n++]);
	return n;
}

/* OpenSSL 3's SipHash MAC, an implementation independent of ours. */
static int openssl_siphash(const uint8_t key[16], const uint8_t *m, size_t len, uint8_t out[8])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
	size_t size = 8, outl = 0;
	OSSL_PARAM p[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
			  OSSL_PARAM_construct_end()};
	int ok = c && EVP_MAC_init(c, key, 16, p) && EVP_MAC_update(c, m, len) &&
		 EVP_MAC_final(c, out, &outl, 8) && outl == 8;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(mac);
	return ok ? 0 : -1;
}

static void test_siphash(void)
{
	uint8_t key[16], msg[64], a[8], b[8];
	for (unsigned i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (unsigned i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	/* The SipHash paper, Appendix A: 15 bytes 00..0e under key 00..0f. */
	CHECK(p53_siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
	/* The reference implementation's first vector: the empty message. */
	CHECK(p53_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
	for (size_t n = 0; n <= 64; n++) {
		p53_siphash24_bytes(key, msg, n, a);
		CHECK_EQ(openssl_siphash(key, msg, n, b), 0);
		CHECK(memcmp(a, b, 8) == 0);
	}
}

static void test_cookie_vectors(void)
{
	uint8_t secret[16], prev[16], cc[8], opt[40], out[16], want[24];
	uint8_t ip4[4], ip6[16];
	struct p53_cookie_secret sec = {0};

	CHECK_EQ(p53_cookie_secret_parse("e5e973e5a6b2a43f48e7dc849e37bfcf", secret), 0);
	CHECK_EQ(p53_cookie_secret_parse("e5e973e5a6b2a43f48e7dc849e37bfc", secret), -1);
	CHECK_EQ(p53_cookie_secret_parse("e5e973e5a6b2a43f48e7dc849e37bfcfa", secret), -1);
	CHECK_EQ(p53_cookie_secret_parse("x5e973e5a6b2a43f48e7dc849e37bfcf", secret), -1);
	CHECK_EQ(p53_cookie_secret_parse("e5e973e5a6b2a43f48e7dc849e37bfcf", secret), 0);
	memcpy(sec.cur, secret, 16);

	/* A.1: learning a new server cookie. */
	inet_pton(AF_INET, "198.51.100.100", ip4);
	unhex("2464c4abcf10c957", cc);
	CHECK_EQ(p53_cookie_check(&sec, cc, 8, ip4, 4, 1559731985), P53_COOKIE_CLIENT_ONLY);
	p53_cookie_make(secret, cc, ip4, 4, 1559731985, out);
	unhex("2464c4abcf10c957010000005cf79f111f8130c3eee29480", want);
	CHECK(memcmp(out, want + 8, 16) == 0);

	/* A.2: forty minutes later the cookie is still ours; a fresh one. */
	CHECK_EQ(p53_cookie_check(&sec, want, 24, ip4, 4, 1559734385), P53_COOKIE_VALID);
	p53_cookie_make(secret, cc, ip4, 4, 1559734385, out);
	unhex("2464c4abcf10c957010000005cf7a871d4a564a1442aca77", want);
	CHECK(memcmp(out, want + 8, 16) == 0);
	/* Not from another address, not with one bit changed, not expired. */
	uint8_t other[4];
	inet_pton(AF_INET, "198.51.100.101", other);
	CHECK_EQ(p53_cookie_check(&sec, want, 24, other, 4, 1559734385), P53_COOKIE_BAD);
	memcpy(opt, want, 24);
	opt[23] ^= 1;
	CHECK_EQ(p53_cookie_check(&sec, opt, 24, ip4, 4, 1559734385), P53_COOKIE_BAD);
	CHECK_EQ(p53_cookie_check(&sec, want, 24, ip4, 4, 1559734385 + 3601), P53_COOKIE_BAD);
	CHECK_EQ(p53_cookie_check(&sec, want, 24, ip4, 4, 1559734385 - 301), P53_COOKIE_BAD);
	CHECK_EQ(p53_cookie_check(&sec, want, 24, ip4, 4, 1559734385 - 299), P53_COOKIE_VALID);
	CHECK_EQ(p53_cookie_check(NULL, want, 24, ip4, 4, 1559734385), P53_COOKIE_BAD);
	CHECK_EQ(p53_cookie_check(&sec, want, 0, ip4, 4, 1559734385), P53_COOKIE_ABSENT);

	/* A.3: reserved bits set by another implementation are hashed as
	 * received. The example replies 1h52m after issue, past the hour we
	 * accept, so the hash is checked nearer its issue time. */
	inet_pton(AF_INET, "203.0.113.203", ip4);
	unhex("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", opt);
	CHECK_EQ(p53_cookie_check(&sec, opt, 24, ip4, 4, 1559727985 + 60), P53_COOKIE_VALID);
	CHECK_EQ(p53_cookie_check(&sec, opt, 24, ip4, 4, 1559734700), P53_COOKIE_BAD);
	p53_cookie_make(secret, opt, ip4, 4, 1559734700, out);
	unhex("fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e", want);
	CHECK(memcmp(out, want + 8, 16) == 0);

	/* A.4: IPv6, the secret rolled over; the previous one still counts. */
	inet_pton(AF_INET6, "2001:db8:220:1:59de:d0f4:8769:82b8", ip6);
	CHECK_EQ(p53_cookie_secret_parse("dd3bdf9344b678b185a6f5cb60fca715", prev), 0);
	CHECK_EQ(p53_cookie_secret_parse("445536bcd2513298075a5d379663c962", secret), 0);
	unhex("22681ab97d52c298010000005cf7c57926556bd0934c72f8", opt);
	struct p53_cookie_secret rolled = {0};
	memcpy(rolled.cur, secret, 16);
	CHECK_EQ(p53_cookie_check(&rolled, opt, 24, ip6, 16, 1559741961), P53_COOKIE_BAD);
	memcpy(rolled.prev, prev, 16);
	rolled.has_prev = true;
	CHECK_EQ(p53_cookie_check(&rolled, opt, 24, ip6, 16, 1559741961), P53_COOKIE_VALID);
	p53_cookie_make(rolled.cur, opt, ip6, 16, 1559741961, out);
	unhex("22681ab97d52c298010000005cf7c609a6bb79d16625507a", want);
	CHECK(memcmp(out, want + 8, 16) == 0);

	/* RFC 7873 5.2.2 lengths. */
	for (size_t l = 0; l <= 48; l++)
		CHECK_EQ(p53_cookie_len_ok(l), l == 8 || (l >= 16 && l <= 40));
}

static const uint8_t seed[16] = {1, 2, 3};

static struct p53_rrl *rrl_sized(uint32_t rate, uint32_t slip, const char *exempt,
				 uint32_t table_size)
{
	struct p53_rrl_cfg cfg;
	p53_rrl_cfg_default(&cfg);
	cfg.rate = rate;
	cfg.slip = slip;
	cfg.table_size = table_size;
	if (exempt && p53_rrl_cfg_exempt(&cfg, exempt) != 0)
		return NULL;
	return p53_rrl_new(&cfg, seed);
}

static struct p53_rrl *rrl_with(uint32_t rate, uint32_t slip, const char *exempt)
{
	return rrl_sized(rate, slip, exempt, 1024);
}

static enum p53_rrl_verdict q4(struct p53_rrl *r, const char *ip, enum p53_rrl_class c,
			       uint32_t key, uint32_t t)
{
	uint8_t a[4];
	inet_pton(AF_INET, ip, a);
	return p53_rrl_check(r, 4, a, c, key, t);
}

static enum p53_rrl_verdict q6(struct p53_rrl *r, const char *ip, enum p53_rrl_class c,
			       uint32_t key, uint32_t t)
{
	uint8_t a[16];
	inet_pton(AF_INET6, ip, a);
	return p53_rrl_check(r, 6, a, c, key, t);
}

struct evlog {
	unsigned n;
	char last[80];
};
static void on_event(void *arg, const struct p53_rrl_event *ev)
{
	struct evlog *l = arg;
	l->n++;
	p53_rrl_event_str(ev, l->last, sizeof(l->last));
}

static void test_rrl_bucket(void)
{
	struct p53_rrl *r = rrl_with(10, 2, NULL);
	CHECK(r != NULL);
	/* A full second's worth, then the limit. */
	for (int i = 0; i < 10; i++)
		CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 7, 5000), P53_RRL_PASS);
	/* slip 2: every second limited response is truncated. */
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 7, 5000), P53_RRL_DROP);
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 7, 5000), P53_RRL_SLIP);
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 7, 5000), P53_RRL_DROP);
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 7, 5000), P53_RRL_SLIP);
	/* The same /24 is the same client; another /24 is not. */
	CHECK(q4(r, "192.0.2.200", P53_RRL_POSITIVE, 7, 5000) != P53_RRL_PASS);
	CHECK_EQ(q4(r, "192.0.3.1", P53_RRL_POSITIVE, 7, 5000), P53_RRL_PASS);
	/* Another name, another class: other buckets. */
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 8, 5000), P53_RRL_PASS);
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_NXDOMAIN, 7, 5000), P53_RRL_PASS);
	/* 10 per second is one per 100 ms. */
	CHECK(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 7, 5099) != P53_RRL_PASS);
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 7, 5100), P53_RRL_PASS);
	CHECK(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 7, 5150) != P53_RRL_PASS);
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 7, 5200), P53_RRL_PASS);
	/* Idle for a second: full again. */
	for (int i = 0; i < 10; i++)
		CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 7, 6300), P53_RRL_PASS);
	CHECK(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 7, 6300) != P53_RRL_PASS);
	/* The clock may wrap. */
	for (int i = 0; i < 10; i++)
		CHECK_EQ(q4(r, "198.51.100.1", P53_RRL_POSITIVE, 1, UINT32_MAX - 5), P53_RRL_PASS);
	CHECK(q4(r, "198.51.100.1", P53_RRL_POSITIVE, 1, UINT32_MAX - 5) != P53_RRL_PASS);
	CHECK_EQ(q4(r, "198.51.100.1", P53_RRL_POSITIVE, 1, 200), P53_RRL_PASS);
	p53_rrl_free(r);
}

static void test_rrl_flood_rate(void)
{
	/* A flood at 5x the rate for 10 s gets the rate through, no more. */
	struct p53_rrl *r = rrl_with(20, 0, NULL);
	unsigned pass = 0, drop = 0;
	for (uint32_t t = 0; t < 10000; t += 10) /* 100 per second */
		for (int k = 0; k < 1; k++) {
			enum p53_rrl_verdict v = q4(r, "203.0.113.9", P53_RRL_POSITIVE, 3, t);
			pass += v == P53_RRL_PASS;
			drop += v == P53_RRL_DROP;
		}
	/* A second's burst, then 20 per second. */
	CHECK(pass >= 200 && pass <= 220);
	CHECK_EQ(pass + drop, 1000);
	p53_rrl_free(r);
}

static void test_rrl_classes(void)
{
	struct p53_rrl *r = rrl_with(2, 1, NULL);
	/* Errors are one bucket per prefix whatever the name. */
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_ERROR, 1, 0), P53_RRL_PASS);
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_ERROR, 2, 0), P53_RRL_PASS);
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_ERROR, 3, 0), P53_RRL_SLIP);
	/* Each class counts on its own. */
	for (unsigned c = 0; c < P53_RRL_CLASS__COUNT; c++)
		if (c != P53_RRL_ERROR)
			CHECK_EQ(q4(r, "192.0.2.1", c, 1, 0), P53_RRL_PASS);
	CHECK_STR(p53_rrl_class_name(P53_RRL_WILDCARD), "wildcard");
	/* slip 1: every limited response is truncated. */
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_REFERRAL, 1, 0), P53_RRL_PASS);
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_REFERRAL, 1, 0), P53_RRL_SLIP);
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_REFERRAL, 1, 0), P53_RRL_SLIP);
	p53_rrl_free(r);

	/* IPv6: a /56 is one client. */
	r = rrl_with(1, 0, NULL);
	CHECK_EQ(q6(r, "2001:db8:0:100::1", P53_RRL_POSITIVE, 1, 0), P53_RRL_PASS);
	CHECK_EQ(q6(r, "2001:db8:0:1ff:ffff::2", P53_RRL_POSITIVE, 1, 0), P53_RRL_DROP);
	CHECK_EQ(q6(r, "2001:db8:0:200::1", P53_RRL_POSITIVE, 1, 0), P53_RRL_PASS);
	p53_rrl_free(r);
}

static void test_rrl_exempt_and_events(void)
{
	CHECK(rrl_with(1, 2, "192.0.2.0/25,bogus") == NULL);
	CHECK(rrl_with(1, 2, "192.0.2.1/24") == NULL); /* host bits set */
	CHECK(rrl_with(1, 2, "192.0.2.0/33") == NULL);
	struct p53_rrl *r = rrl_with(1, 2, "192.0.2.0/25,2001:db8::/32");
	CHECK(r != NULL);
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 1, 0), P53_RRL_PASS);
	CHECK_EQ(q4(r, "192.0.2.1", P53_RRL_POSITIVE, 1, 0), P53_RRL_EXEMPT);
	/* The same /24 bucket, but outside the exempt /25. */
	CHECK_EQ(q4(r, "192.0.2.200", P53_RRL_POSITIVE, 1, 0), P53_RRL_DROP);
	CHECK_EQ(q6(r, "2001:db8::5", P53_RRL_POSITIVE, 1, 0), P53_RRL_PASS);
	CHECK_EQ(q6(r, "2001:db8::5", P53_RRL_POSITIVE, 1, 0), P53_RRL_EXEMPT);
	struct evlog l = {0};
	CHECK_EQ(p53_rrl_drain(r, on_event, &l), 0);
	CHECK_EQ(l.n, 1);
	CHECK_STR(l.last, "192.0.2.0/24 positive");
	/* Floods at twice the rate, 5 s apart: one event each. */
	l.n = 0;
	for (uint32_t t = 0; t < 5000; t += 500)
		q4(r, "198.51.100.7", P53_RRL_NXDOMAIN, 1, t);
	for (uint32_t t = 10000; t < 20000; t += 500)
		q4(r, "198.51.100.7", P53_RRL_NXDOMAIN, 1, t);
	CHECK_EQ(p53_rrl_drain(r, on_event, &l), 0);
	CHECK_EQ(l.n, 2);
	CHECK_STR(l.last, "198.51.100.0/24 nxdomain");
	p53_rrl_free(r);

	r = rrl_with(1, 0, NULL);
	l.n = 0;
	for (uint32_t t = 0; t < 5000; t += 250) /* 4 per second */
		q4(r, "198.51.100.7", P53_RRL_NXDOMAIN, 1, t);
	CHECK_EQ(p53_rrl_drain(r, on_event, &l), 0);
	CHECK_EQ(l.n, 1);
	CHECK_STR(l.last, "198.51.100.0/24 nxdomain");
	/* A full ring counts what it lost. */
	char ip[32];
	for (unsigned i = 0; i < P53_RRL_EVENTS + 10; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.1", i / 256, i % 256);
		q4(r, ip, P53_RRL_POSITIVE, 1, 9000);
		q4(r, ip, P53_RRL_POSITIVE, 1, 9000);
	}
	l.n = 0;
	CHECK_EQ(p53_rrl_drain(r, on_event, &l), 10);
	CHECK_EQ(l.n, P53_RRL_EVENTS);
	p53_rrl_free(r);
}

static void test_rrl_table_pressure(void)
{
	/* Far more keys than buckets: nothing breaks, new keys start full.
	 * At rate 2, so that the few keys whose 16-bit tag meets a foreign
	 * one in their group (zones/answer/rrl_pvt.h) find a token there. */
	struct p53_rrl *r = rrl_with(2, 0, NULL);
	unsigned pass = 0;
	for (uint32_t k = 0; k < 100000; k++)
		pass += q4(r, "192.0.2.1", P53_RRL_POSITIVE, k, 100) == P53_RRL_PASS;
	CHECK_EQ(pass, 100000);
	p53_rrl_free(r);
}

/* The sieve in front of the buckets (zones/answer/rrl.c), at the default
 * rate, 200 (a threshold of 25 responses in 250 ms): it passes only what a
 * bucket would have passed, a flood's counter keeps its bucket from one
 * window to the next, and keys that share a counter with a flood are not
 * limited for it. */
static void test_rrl_sieve(void)
{
	/* Steady at exactly the rate for 10 s: never limited, though the key
	 * takes its bucket 120 ms in. */
	struct p53_rrl *r = rrl_with(200, 0, NULL);
	unsigned pass = 0, n = 0;
	for (uint32_t t = 0; t < 10000; t += 5, n++)
		pass += q4(r, "192.0.2.1", P53_RRL_POSITIVE, 1, t) == P53_RRL_PASS;
	CHECK_EQ(pass, n);
	/* Just under the threshold in every window, however long: never
	 * limited (and never in a bucket). */
	pass = n = 0;
	for (uint32_t t = 0; t < 10000; t += 250)
		for (int i = 0; i < 24; i++, n++)
			pass += q4(r, "192.0.2.1", P53_RRL_POSITIVE, 2, t) == P53_RRL_PASS;
	CHECK_EQ(pass, n);
	/* 1.5 times the rate from a standing start: a second's burst and the
	 * rate (2,200), less at most the refill that the sieve's 24 responses
	 * (72 ms) did not earn. */
	pass = 0;
	for (uint32_t t = 0; t < 10000; t += 3)
		pass += q4(r, "192.0.2.1", P53_RRL_POSITIVE, 3, t) == P53_RRL_PASS;
	CHECK(pass >= 2180 && pass <= 2200);
	p53_rrl_free(r);

	/* 128 counters and 64 buckets: 100 clients at 20 per second share
	 * counters with each other and with a flood at 5x the rate. */
	r = rrl_sized(200, 0, NULL, 64);
	CHECK(r != NULL);
	unsigned flood = 0, others = 0, asked = 0;
	char ip[32];
	for (uint32_t t = 0; t < 10000; t++) {
		flood += q4(r, "203.0.113.9", P53_RRL_POSITIVE, 3, t) == P53_RRL_PASS;
		if (t % 50 == 0) /* each client every 50 ms */
			for (unsigned c = 0; c < 100; c++, asked++) {
				snprintf(ip, sizeof(ip), "10.0.%u.1", c);
				others += q4(r, ip, P53_RRL_POSITIVE, 3, t) == P53_RRL_PASS;
			}
	}
	CHECK(flood >= 2180 && flood <= 2200);
	CHECK_EQ(others, asked);
	/* After a quiet spell of more than a second the flood's bucket is full
	 * again: a second's burst, then the limit. */
	pass = 0;
	for (int i = 0; i < 250; i++)
		pass += q4(r, "203.0.113.9", P53_RRL_POSITIVE, 3, 13000) == P53_RRL_PASS;
	CHECK_EQ(pass, 200);
	p53_rrl_free(r);
}

/* A response built by hand: "example.com. A" answered with one A record,
 * then an OPT with no options. */
static size_t make_response(uint8_t *r, uint16_t *qend, uint16_t *optlen)
{
	static const uint8_t q[] = "\x07"
				   "example\x03"
				   "com";
	size_t n = 0;
	memcpy(r, "\x12\x34\x84\x00\x00\x01\x00\x01\x00\x00\x00\x01", 12);
	n = 12;
	memcpy(r + n, q, sizeof(q)); /* the name and its root label */
	n += sizeof(q);
	memcpy(r + n, "\x00\x01\x00\x01", 4);
	n += 4;
	*qend = (uint16_t)n;
	memcpy(r + n, "\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\xc0\x00\x02\x22", 16);
	n += 16;
	memcpy(r + n, "\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00", 11);
	n += 11;
	*optlen = 11;
	return n;
}

static void test_apply(void)
{
	struct p53_abuse_cfg cfg;
	p53_abuse_cfg_default(&cfg);
	cfg.rrl.rate = 1;
	cfg.rrl.slip = 1;
	cfg.rrl.table_size = 64;
	struct p53_cookie_secret sec = {0};
	p53_cookie_secret_parse("e5e973e5a6b2a43f48e7dc849e37bfcf", sec.cur);
	p53_cookie_live live;
	atomic_init(&live, &sec);
	struct p53_abuse a;
	CHECK_EQ(p53_abuse_init(&a, &cfg, &live, seed), 0);

	struct p53_client c = {.family = 4, .transport = P53_UDP, .port = 5353};
	inet_pton(AF_INET, "198.51.100.100", c.addr);
	struct p53_answer_info in = {.rrl_class = P53_RRL_POSITIVE, .rrl_key = 1};
	uint8_t r[512], want[24];
	size_t n = make_response(r, &in.qend, &in.opt_len), full = n;

	/* No cookie, first response: untouched. */
	CHECK_EQ(p53_abuse_apply(&a, &in, &c, NULL, r, n, sizeof(r), 0, 1559731985), full);
	/* Over the limit, slip 1: the header, question and OPT, with TC. */
	n = p53_abuse_apply(&a, &in, &c, NULL, r, make_response(r, &in.qend, &in.opt_len),
			    sizeof(r), 0, 1559731985);
	CHECK_EQ(n, in.qend + 11u);
	CHECK(r[2] & 0x02);
	CHECK_EQ(r[7], 0);
	CHECK_EQ(r[11], 1);
	CHECK(memcmp(r + in.qend, "\x00\x00\x29\x04\xd0", 5) == 0);
	CHECK_EQ(a.stats[P53_AB_RRL_SLIPPED], 1);

	/* With a client cookie (RFC 9018 A.1's): limited, so BADCOOKIE with our
	 * server cookie, which is A.1's. */
	in.cookie_len = (uint8_t)unhex("2464c4abcf10c957", in.cookie);
	n = p53_abuse_apply(&a, &in, &c, NULL, r, make_response(r, &in.qend, &in.opt_len),
			    sizeof(r), 0, 1559731985);
	CHECK_EQ(n, in.qend + 11u + 28u);
	CHECK_EQ(r[3] & 15, 23 & 15);
	CHECK_EQ(r[in.qend + 5], 1); /* extended RCODE: 23 >> 4 */
	CHECK(!(r[2] & 0x02));
	CHECK_EQ(r[in.qend + 9] << 8 | r[in.qend + 10], 28);
	CHECK(memcmp(r + in.qend + 11, "\x00\x0a\x00\x18", 4) == 0);
	unhex("2464c4abcf10c957010000005cf79f111f8130c3eee29480", want);
	CHECK(memcmp(r + in.qend + 15, want, 24) == 0);
	CHECK_EQ(a.stats[P53_AB_RRL_BADCOOKIE], 1);
	CHECK_EQ(a.stats[P53_AB_COOKIE_CLIENT], 1);

	/* Coming back with that cookie: exempt, the full answer, a fresh cookie. */
	in.cookie_len =
	    (uint8_t)unhex("2464c4abcf10c957010000005cf79f111f8130c3eee29480", in.cookie);
	for (int i = 0; i < 5; i++) {
		n = p53_abuse_apply(&a, &in, &c, NULL, r, make_response(r, &in.qend, &in.opt_len),
				    sizeof(r), 0, 1559734385);
		CHECK_EQ(n, full + 28);
		CHECK_EQ(r[7], 1);
		unhex("2464c4abcf10c957010000005cf7a871d4a564a1442aca77", want);
		CHECK(memcmp(r + full + 4, want, 24) == 0);
	}
	CHECK_EQ(a.stats[P53_AB_RRL_COOKIE_EXEMPT], 5);
	CHECK_EQ(a.stats[P53_AB_COOKIE_VALID], 5);

	/* TCP is never limited, but gets its cookie. */
	c.transport = P53_TCP;
	in.cookie_len = 8;
	for (int i = 0; i < 3; i++)
		CHECK_EQ(p53_abuse_apply(&a, &in, &c, NULL, r,
					 make_response(r, &in.qend, &in.opt_len), sizeof(r), 0,
					 1559731985),
			 full + 28);
	/* No room for the cookie: the answer goes without it. */
	CHECK_EQ(p53_abuse_apply(&a, &in, &c, NULL, r, make_response(r, &in.qend, &in.opt_len),
				 full + 10, 0, 1559731985),
		 full);
	/* Cookies off: nothing added, no secret read. */
	p53_abuse_fini(&a);
	cfg.cookies = false;
	CHECK_EQ(p53_abuse_init(&a, &cfg, &live, seed), 0);
	CHECK_EQ(p53_abuse_apply(&a, &in, &c, NULL, r, make_response(r, &in.qend, &in.opt_len),
				 sizeof(r), 0, 1559731985),
		 full);
	p53_abuse_fini(&a);
}

/* The path the front ends take, the bucket located as the answer is made
 * (p53_abuse_locate, then p53_abuse_apply with the slot), against the rate
 * arithmetic: rate 5, slip 2 and an exempt network, a flood of 40 answers in
 * one millisecond from each of three networks: 5 in full, then every second
 * one truncated, the exempt network always in full; a second later the
 * bucket is full again. A located answer with a client cookie goes the whole
 * way (BADCOOKIE when limited); one with a malformed account is untouched
 * and not counted, as without a slot. */
static void test_apply_located(void)
{
	struct p53_abuse_cfg cfg;
	p53_abuse_cfg_default(&cfg);
	cfg.rrl.rate = 5;
	cfg.rrl.slip = 2;
	cfg.rrl.table_size = 64;
	CHECK_EQ(p53_rrl_cfg_exempt(&cfg.rrl, "203.0.113.0/24"), 0);
	struct p53_cookie_secret sec = {0};
	p53_cookie_secret_parse("e5e973e5a6b2a43f48e7dc849e37bfcf", sec.cur);
	p53_cookie_live live;
	atomic_init(&live, &sec);
	struct p53_abuse a;
	CHECK_EQ(p53_abuse_init(&a, &cfg, &live, seed), 0);
	static const char *const nets[] = {"198.51.100.7", "2001:db8:5::1", "203.0.113.9"};
	uint8_t r[512];
	for (unsigned second = 0; second < 2; second++) {
		for (unsigned k = 0; k < 3; k++) {
			struct p53_client c = {.family = k == 1 ? 6 : 4, .transport = P53_UDP};
			inet_pton(k == 1 ? AF_INET6 : AF_INET, nets[k], c.addr);
			struct p53_answer_info in = {.rrl_class = P53_RRL_NXDOMAIN, .rrl_key = 9};
			unsigned whole = 0, tc = 0, none = 0;
			for (unsigned i = 0; i < 40; i++) {
				size_t n = make_response(r, &in.qend, &in.opt_len);
				struct p53_rrl_slot s;
				p53_abuse_locate(&a, &in, c.family, c.addr, &s);
				CHECK(s.tag != 0);
				size_t got = p53_abuse_apply(&a, &in, &c, &s, r, n, sizeof(r),
							     1000 * second + 7, 1559731985);
				whole += got == n;
				tc += got == in.qend + 11u && (r[2] & 0x02);
				none += got == 0;
			}
			if (k == 2) {
				CHECK_EQ(whole, 40);
			} else {
				CHECK_EQ(whole, 5);
				CHECK_EQ(tc, 35 / 2);
				CHECK_EQ(none, 35 - 35 / 2);
			}
		}
	}
	CHECK_EQ(a.stats[P53_AB_RRL_SLIPPED], 4 * (35 / 2));
	CHECK_EQ(a.stats[P53_AB_RRL_DROPPED], 4 * (35 - 35 / 2));
	CHECK_EQ(a.stats[P53_AB_RRL_EXEMPT], 2 * 35);

	/* Still limited, with a client cookie: BADCOOKIE from the located slot. */
	struct p53_client c = {.family = 4, .transport = P53_UDP};
	inet_pton(AF_INET, nets[0], c.addr);
	struct p53_answer_info in = {.rrl_class = P53_RRL_NXDOMAIN, .rrl_key = 9};
	in.cookie_len = (uint8_t)unhex("2464c4abcf10c957", in.cookie);
	unsigned bad = 0;
	for (unsigned i = 0; i < 2; i++) {
		size_t n = make_response(r, &in.qend, &in.opt_len);
		struct p53_rrl_slot s;
		p53_abuse_locate(&a, &in, c.family, c.addr, &s);
		size_t got = p53_abuse_apply(&a, &in, &c, &s, r, n, sizeof(r), 1007, 1559731985);
		bad += got == in.qend + 11u + 28u && (r[3] & 15) == (23 & 15);
	}
	CHECK_EQ(bad, 1);
	CHECK_EQ(a.stats[P53_AB_RRL_BADCOOKIE], 1);

	/* An account whose question ends inside the header: not located, the
	 * answer untouched and not counted. */
	in.cookie_len = 0;
	in.rrl_key = 10;
	uint64_t before = a.stats[P53_AB_RRL_DROPPED] + a.stats[P53_AB_RRL_SLIPPED];
	for (unsigned i = 0; i < 20; i++) {
		size_t n = make_response(r, &in.qend, &in.opt_len);
		in.qend = 11;
		struct p53_rrl_slot s;
		p53_abuse_locate(&a, &in, c.family, c.addr, &s);
		CHECK_EQ(s.tag, 0);
		CHECK_EQ(p53_abuse_apply(&a, &in, &c, &s, r, n, sizeof(r), 1007, 1559731985), n);
	}
	CHECK_EQ(a.stats[P53_AB_RRL_DROPPED] + a.stats[P53_AB_RRL_SLIPPED], before);
	p53_abuse_fini(&a);
}

static void test_portset(void)
{
	struct p53_portset s;
	CHECK_EQ(p53_portset_parse(&s, P53_PORTSET_DEFAULT_DROP), 0);
	CHECK(p53_portset_has(&s, 7) && p53_portset_has(&s, 19) && p53_portset_has(&s, 123));
	CHECK(!p53_portset_has(&s, 1024) && !p53_portset_has(&s, 54321));
	CHECK_EQ(p53_portset_parse(&s, "1000-1002,9"), 0);
	CHECK(p53_portset_has(&s, 1001) && p53_portset_has(&s, 9) && !p53_portset_has(&s, 7));
	CHECK(p53_portset_parse(&s, "7,") == 0 && p53_portset_has(&s, 7));
	CHECK(p53_portset_parse(&s, "5-3") != 0);
	CHECK(p53_portset_parse(&s, "65536") != 0);
	CHECK(p53_portset_parse(&s, "7;8") != 0);
	CHECK(p53_portset_parse(&s, "-3") != 0);
	CHECK(p53_portset_has(&s, 7)); /* unchanged by a failed parse */
	CHECK_EQ(p53_portset_parse(&s, "none"), 0);
	CHECK(!p53_portset_has(&s, 7));
}

int main(void)
{
	test_siphash();
	test_cookie_vectors();
	test_rrl_bucket();
	test_rrl_flood_rate();
	test_rrl_classes();
	test_rrl_exempt_and_events();
	test_rrl_table_pressure();
	test_rrl_sieve();
	test_apply();
	test_apply_located();
	test_portset();
	return check_report("abuse");
}
