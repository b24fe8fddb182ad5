/* DNS over HTTPS request parsing and max-age (ctrl/net/doh.c) against the
 * examples of RFC 8484 (4.1.1 requests, 4.2.2 response and its
 * cache-control), RFC 4648's base64url alphabet and RFC 2308's negative
 * TTL, with messages written here byte by byte. */
#include "check.h"

#include "ctrl/net/doh.h"

#include <stdint.h>

/* RFC 8484 4.1.1: the query for www.example.com A, ID 0. */
static const uint8_t rfc_query[] = {0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
				    0x00, 0x00, 0x00, 0x03, 0x77, 0x77, 0x77, 0x07, 0x65,
				    0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f,
				    0x6d, 0x00, 0x00, 0x01, 0x00, 0x01};
/* RFC 8484 4.2.2: its AAAA response, answered with cache-control
 * max-age=3709. */
static const uint8_t rfc_response[] = {
    0x00, 0x00, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x03, 0x77, 0x77, 0x77,
    0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x1c, 0x00,
    0x01, 0xc0, 0x0c, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x7d, 0x00, 0x10, 0x20, 0x01, 0x0d,
    0xb8, 0xab, 0xcd, 0x00, 0x12, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x04};

static uint8_t msg[65535];

static int req(const char *method, const char *target, const char *ctype, const uint8_t *body,
	       size_t blen, size_t *mlen)
{
	*mlen = 0;
	return doh_request("/dns-query", method, target, strlen(target), ctype, body, blen, msg,
			   sizeof(msg), mlen);
}

static void test_get(void)
{
	size_t n;
	CHECK_EQ(req("GET", "/dns-query?dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB", NULL,
		     NULL, 0, &n),
		 200);
	CHECK_EQ(n, sizeof(rfc_query));
	CHECK(memcmp(msg, rfc_query, sizeof(rfc_query)) == 0);
	/* The second example of 4.1.1: '-' in the value (standard base64
	 * would have '+'), for a.62characterlabel-...example.com A. */
	CHECK_EQ(
	    req("GET",
		"/dns-query?dns=AAABAAABAAAAAAAAAWE-NjJjaGFyYWN0ZXJsYWJlbC1tYWtlcy1iYXNlNjR1cmwtZ"
		"GlzdGluY3QtZnJvbS1zdGFuZGFyZC1iYXNlNjQHZXhhbXBsZQNjb20AAAEAAQ",
		NULL, NULL, 0, &n),
	    200);
	CHECK_EQ(n, 94);
	CHECK(msg[12] == 1 && msg[13] == 'a' && msg[14] == 62);
	CHECK(memcmp(msg + 15, "62characterlabel-makes-base64url-distinct-from-standard-base64",
		     62) == 0);
	/* Other parameters around it are ignored. */
	CHECK_EQ(req("GET", "/dns-query?ct=x&dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB&y",
		     NULL, NULL, 0, &n),
		 200);
	CHECK_EQ(n, sizeof(rfc_query));
	/* 14 zero bytes: 19 characters, the last two bits zero. */
	CHECK_EQ(req("GET", "/dns-query?dns=AAAAAAAAAAAAAAAAAAA", NULL, NULL, 0, &n), 200);
	CHECK_EQ(n, 14);
}

static void test_get_bad(void)
{
	size_t n;
	/* Standard base64's '+' and '/', padding, an impossible length,
	 * bits left over that are not zero (RFC 4648 3.5). */
	CHECK_EQ(req("GET", "/dns-query?dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxl+2NvbQAAAQAB", NULL,
		     NULL, 0, &n),
		 400);
	CHECK_EQ(req("GET", "/dns-query?dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxl/2NvbQAAAQAB", NULL,
		     NULL, 0, &n),
		 400);
	CHECK_EQ(req("GET", "/dns-query?dns=AAAAAAAAAAAAAAAAAAA=", NULL, NULL, 0, &n), 400);
	CHECK_EQ(req("GET", "/dns-query?dns=AAAAAAAAAAAAAAAAA", NULL, NULL, 0, &n), 400);
	CHECK_EQ(req("GET", "/dns-query?dns=AAAAAAAAAAAAAAAAAAB", NULL, NULL, 0, &n), 400);
	/* Shorter than a DNS header; no dns parameter; an empty one. */
	CHECK_EQ(req("GET", "/dns-query?dns=AAABAAABAAAAAAA", NULL, NULL, 0, &n), 400);
	CHECK_EQ(req("GET", "/dns-query", NULL, NULL, 0, &n), 400);
	CHECK_EQ(req("GET", "/dns-query?dnsx=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB", NULL,
		     NULL, 0, &n),
		 400);
	CHECK_EQ(req("GET", "/dns-query?dns=", NULL, NULL, 0, &n), 400);
	/* Decoding past the room: 413. */
	CHECK_EQ(doh_request("/dns-query", "GET", "/dns-query?dns=AAAAAAAAAAAAAAAAAAA", 34, NULL,
			     NULL, 0, msg, 13, &n),
		 413);
}

static void test_post(void)
{
	size_t n;
	CHECK_EQ(
	    req("POST", "/dns-query", "application/dns-message", rfc_query, sizeof(rfc_query), &n),
	    200);
	CHECK_EQ(n, sizeof(rfc_query));
	CHECK(memcmp(msg, rfc_query, sizeof(rfc_query)) == 0);
	/* Media types are case-insensitive and may carry parameters. */
	CHECK_EQ(req("POST", "/dns-query", "Application/DNS-Message; x=1", rfc_query,
		     sizeof(rfc_query), &n),
		 200);
	CHECK_EQ(
	    req("POST", "/dns-query", "application/dns-messagex", rfc_query, sizeof(rfc_query), &n),
	    415);
	CHECK_EQ(
	    req("POST", "/dns-query", "application/dns-json", rfc_query, sizeof(rfc_query), &n),
	    415);
	CHECK_EQ(req("POST", "/dns-query", NULL, rfc_query, sizeof(rfc_query), &n), 415);
	CHECK_EQ(req("POST", "/dns-query", "application/dns-message", rfc_query, 11, &n), 400);
	CHECK_EQ(doh_request("/dns-query", "POST", "/dns-query", 10, "application/dns-message",
			     rfc_query, sizeof(rfc_query), msg, 20, &n),
		 413);
}

static void test_path_method(void)
{
	size_t n;
	CHECK_EQ(req("GET", "/dns-queryx?dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB", NULL,
		     NULL, 0, &n),
		 404);
	CHECK_EQ(req("GET", "/", NULL, NULL, 0, &n), 404);
	CHECK_EQ(req("POST", "/dns", "application/dns-message", rfc_query, sizeof(rfc_query), &n),
		 404);
	CHECK_EQ(req("PUT", "/dns-query", NULL, NULL, 0, &n), 405);
	CHECK_EQ(req("HEAD", "/dns-query?dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB", NULL,
		     NULL, 0, &n),
		 405);
	CHECK_EQ(req("", "/dns-query", NULL, NULL, 0, &n), 405);
	CHECK(doh_path_valid("/dns-query"));
	CHECK(doh_path_valid("/"));
	CHECK(!doh_path_valid("dns-query"));
	CHECK(!doh_path_valid("/dns-query?x"));
	CHECK(!doh_path_valid("/a b"));
	CHECK(!doh_path_valid("/a#b"));
	CHECK(!doh_path_valid(""));
}

/* A negative answer: header, question www.example.com A, SOA in the
 * authority section with TTL ttl and MINIMUM minimum (names compressed
 * to the question's). */
static size_t negative(uint8_t *m, uint32_t ttl, uint32_t minimum)
{
	size_t n = 0;
	memcpy(m, rfc_query, sizeof(rfc_query));
	m[2] = 0x81;
	m[3] = 0x83; /* NXDOMAIN */
	m[9] = 1;    /* NSCOUNT */
	n = sizeof(rfc_query);
	const uint8_t rr[] = {0xc0,
			      0x10,
			      0x00,
			      0x06,
			      0x00,
			      0x01,
			      (uint8_t)(ttl >> 24),
			      (uint8_t)(ttl >> 16),
			      (uint8_t)(ttl >> 8),
			      (uint8_t)ttl,
			      0x00,
			      27,
			      0x02,
			      'n',
			      's',
			      0xc0,
			      0x10,
			      0xc0,
			      0x10,
			      0,
			      0,
			      0,
			      1,
			      0,
			      0,
			      0x1c,
			      0x20,
			      0,
			      0,
			      0x0e,
			      0x10,
			      0,
			      0x12,
			      0x75,
			      0,
			      (uint8_t)(minimum >> 24),
			      (uint8_t)(minimum >> 16),
			      (uint8_t)(minimum >> 8),
			      (uint8_t)minimum};
	memcpy(m + n, rr, sizeof(rr));
	return n + sizeof(rr);
}

static void test_max_age(void)
{
	uint8_t m[512];
	CHECK_EQ(doh_max_age(rfc_response, sizeof(rfc_response)), 3709);
	/* Two answers: the smaller TTL. */
	memcpy(m, rfc_response, sizeof(rfc_response));
	m[7] = 2;
	memcpy(m + sizeof(rfc_response), rfc_response + 33, sizeof(rfc_response) - 33);
	m[sizeof(rfc_response) + 8] = 0x00;
	m[sizeof(rfc_response) + 9] = 0x32; /* TTL 50 */
	CHECK_EQ(doh_max_age(m, sizeof(rfc_response) * 2 - 33), 50);
	/* RFC 2308 5: min(SOA TTL, MINIMUM). */
	CHECK_EQ(doh_max_age(m, negative(m, 3600, 300)), 300);
	CHECK_EQ(doh_max_age(m, negative(m, 60, 300)), 60);
	/* Nothing to go by, or a message cut short: 0. */
	CHECK_EQ(doh_max_age(rfc_query, sizeof(rfc_query)), 0);
	CHECK_EQ(doh_max_age(rfc_response, sizeof(rfc_response) - 1), 0);
	size_t n = negative(m, 3600, 300);
	CHECK_EQ(doh_max_age(m, n - 1), 0);
	CHECK_EQ(doh_max_age(m, 5), 0);
}

int main(void)
{
	test_get();
	test_get_bad();
	test_post();
	test_path_method();
	test_max_age();
	return check_report("doh");
}
