/* RFC 7828 edns-tcp-keepalive in stream answers (ctrl/net/keepalive.c),
 * on messages built byte by byte from RFC 1035 4.1 and RFC 6891 6.1.2. */
#include "check.h"
#include "ctrl/net/keepalive.h"

#include <stdint.h>
#include <string.h>

/* A query or response for "a." A with an OPT carrying the options given;
 * ancount answers of 192.0.2.1. Returns its length. */
static size_t msg(uint8_t *m, bool resp, unsigned ancount, const uint8_t *opts, size_t optlen)
{
	size_t p = 0;
	const uint8_t hdr[12] = {0x12, 0x34, resp ? 0x84 : 0x00, 0, 0, 1, 0, (uint8_t)ancount, 0, 0,
				 0,    1};
	memcpy(m, hdr, 12);
	p = 12;
	const uint8_t q[] = {1, 'a', 0, 0, 1, 0, 1};
	memcpy(m + p, q, sizeof(q));
	p += sizeof(q);
	for (unsigned i = 0; i < ancount; i++) {
		const uint8_t an[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
		memcpy(m + p, an, sizeof(an));
		p += sizeof(an);
	}
	const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, (uint8_t)optlen};
	memcpy(m + p, opt, sizeof(opt));
	p += sizeof(opt);
	if (optlen)
		memcpy(m + p, opts, optlen);
	return p + optlen;
}

int main(void)
{
	uint8_t q[256], r[512];
	static const uint8_t empty[] = {0, 11, 0, 0};
	static const uint8_t timed[] = {0, 11, 0, 2, 0, 50};
	static const uint8_t other[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};

	/* Asked with an empty option: the answer's OPT gains {11, 2, timeout}. */
	size_t ql = msg(q, false, 0, empty, sizeof(empty));
	size_t rl = msg(r, true, 1, NULL, 0);
	size_t n = keepalive_add(q, ql, r, rl, sizeof(r), 100);
	CHECK_EQ(n, rl + 6);
	static const uint8_t want[] = {0, 11, 0, 2, 0, 100};
	CHECK(n == rl + 6 && memcmp(r + rl, want, 6) == 0);
	CHECK_EQ(r[rl - 1], 6); /* OPT RDLENGTH */
	CHECK(keepalive_asked(q, ql));

	/* Asked behind another option: still found. */
	uint8_t two[sizeof(other) + sizeof(empty)];
	memcpy(two, other, sizeof(other));
	memcpy(two + sizeof(other), empty, sizeof(empty));
	ql = msg(q, false, 0, two, sizeof(two));
	rl = msg(r, true, 1, NULL, 0);
	CHECK_EQ(keepalive_add(q, ql, r, rl, sizeof(r), 7), rl + 6);

	/* A query that sends a TIMEOUT (servers only do: 3.2.1) gets none. */
	ql = msg(q, false, 0, timed, sizeof(timed));
	rl = msg(r, true, 0, NULL, 0);
	CHECK_EQ(keepalive_add(q, ql, r, rl, sizeof(r), 100), rl);
	CHECK(keepalive_asked(q, ql));

	/* Not asked, or no OPT in the answer, or no room: unchanged. */
	ql = msg(q, false, 0, other, sizeof(other));
	rl = msg(r, true, 1, NULL, 0);
	CHECK_EQ(keepalive_add(q, ql, r, rl, sizeof(r), 100), rl);
	CHECK(!keepalive_asked(q, ql));
	ql = msg(q, false, 0, empty, sizeof(empty));
	r[11] = 0; /* ARCOUNT 0: the response has no OPT */
	CHECK_EQ(keepalive_add(q, ql, r, rl - 11, sizeof(r), 100), rl - 11);
	rl = msg(r, true, 1, NULL, 0);
	CHECK_EQ(keepalive_add(q, ql, r, rl, rl + 5, 100), rl);
	/* A truncated query parses to nothing. */
	CHECK(!keepalive_asked(q, ql - 1));
	CHECK_EQ(keepalive_add(q, ql - 1, r, rl, sizeof(r), 100), rl);

	/* The announced timeout: the idle limit, 0 from 3/4 of the limit. */
	CHECK_EQ(keepalive_timeout(10000, 1, 256), 100);
	CHECK_EQ(keepalive_timeout(10000, 191, 256), 100);
	CHECK_EQ(keepalive_timeout(10000, 192, 256), 0);
	CHECK_EQ(keepalive_timeout(10000, 2, 4), 100);
	CHECK_EQ(keepalive_timeout(10000, 3, 4), 0);
	CHECK_EQ(keepalive_timeout(7000000, 1, 256), 65535);
	return check_report("keepalive");
}
