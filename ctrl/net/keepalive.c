/* EDNS TCP keepalive (see keepalive.h): a small wire walk to the OPT record
 * of a query and of its answer. */
#include "ctrl/net/keepalive.h"

#include <stdbool.h>
#include <string.h>

#define HDR	12
#define RR_OPT	41
#define MAX_LBL 128 /* labels and pointers followed before giving up */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The offset after the name at pos, or 0 when it runs out of the message. */
static size_t skip_name(const uint8_t *m, size_t len, size_t pos)
{
	for (int i = 0; i < MAX_LBL && pos < len; i++) {
		uint8_t l = m[pos];
		if (l == 0)
			return pos + 1;
		if ((l & 0xc0) == 0xc0)
			return pos + 2 <= len ? pos + 2 : 0;
		if (l & 0xc0)
			return 0;
		pos += 1 + (size_t)l;
	}
	return 0;
}

/* Finds the OPT record: *rr at its TYPE field. false when absent or when
 * the message does not parse. */
static bool find_opt(const uint8_t *m, size_t len, size_t *rr)
{
	if (len < HDR)
		return false;
	size_t pos = HDR;
	unsigned qd = rd16(m + 4), an = rd16(m + 6), ns = rd16(m + 8), ar = rd16(m + 10);
	for (unsigned i = 0; i < qd; i++) {
		if ((pos = skip_name(m, len, pos)) == 0 || pos + 4 > len)
			return false;
		pos += 4;
	}
	unsigned total = an + ns + ar;
	for (unsigned i = 0; i < total; i++) {
		if ((pos = skip_name(m, len, pos)) == 0 || pos + 10 > len)
			return false;
		size_t end = pos + 10 + rd16(m + pos + 8);
		if (end > len)
			return false;
		if (i >= an + ns && rd16(m + pos) == RR_OPT) {
			*rr = pos;
			return true;
		}
		pos = end;
	}
	return false;
}

/* The length of option code in the OPT record at rr, or -1 when absent. */
static int option_len(const uint8_t *m, size_t rr, uint16_t code)
{
	size_t pos = rr + 10, end = pos + rd16(m + rr + 8);
	while (pos + 4 <= end) {
		size_t ol = rd16(m + pos + 2);
		if (rd16(m + pos) == code)
			return (int)ol;
		pos += 4 + ol;
	}
	return -1;
}

bool keepalive_asked(const uint8_t *query, size_t qlen)
{
	size_t rr;
	return find_opt(query, qlen, &rr) && option_len(query, rr, KEEPALIVE_OPT) >= 0;
}

uint16_t keepalive_timeout(unsigned idle_ms, unsigned conns, unsigned max_conns)
{
	if ((uint64_t)conns * 4 >= (uint64_t)max_conns * 3)
		return 0;
	return idle_ms >= 6553500 ? 65535 : (uint16_t)(idle_ms / 100);
}

size_t keepalive_add(const uint8_t *query, size_t qlen, uint8_t *resp, size_t rlen, size_t cap,
		     uint16_t timeout)
{
	size_t qrr, rrr;
	if (!find_opt(query, qlen, &qrr) || option_len(query, qrr, KEEPALIVE_OPT) != 0)
		return rlen;
	if (!find_opt(resp, rlen, &rrr) || option_len(resp, rrr, KEEPALIVE_OPT) >= 0 ||
	    rlen + 6 > cap || rlen + 6 > 65535)
		return rlen;
	size_t rdlen = rd16(resp + rrr + 8);
	if (rdlen + 6 > 65535)
		return rlen;
	size_t at = rrr + 10 + rdlen;
	memmove(resp + at + 6, resp + at, rlen - at);
	const uint8_t opt[6] = {0, KEEPALIVE_OPT, 0, 2, (uint8_t)(timeout >> 8), (uint8_t)timeout};
	memcpy(resp + at, opt, 6);
	rdlen += 6;
	resp[rrr + 8] = (uint8_t)(rdlen >> 8);
	resp[rrr + 9] = (uint8_t)rdlen;
	return rlen + 6;
}
