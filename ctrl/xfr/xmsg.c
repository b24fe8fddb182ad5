/* Shared message pieces of the transfer code (see xmsg.h). */
#include "ctrl/xfr/xmsg.h"

#include "zones/common/name.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

void xmsg_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

bool xmsg_serial_gt(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(a - b) < 0x80000000u;
}

uint16_t xmsg_new_id(void)
{
	uint16_t id;
	if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		id = (uint16_t)(ts.tv_nsec ^ ts.tv_sec);
	}
	return id;
}

size_t xmsg_question(const uint8_t *q, size_t qlen, uint8_t *name, size_t *nlen, uint16_t *qtype)
{
	size_t off = 12, n = 0;
	while (off < qlen) {
		uint8_t l = q[off];
		if (l > 63 || off + 1 + l > qlen || n + 1 + l > 255)
			return 0;
		memcpy(name + n, q + off, 1 + (size_t)l);
		n += 1 + (size_t)l;
		off += 1 + (size_t)l;
		if (l == 0)
			break;
	}
	if (n == 0 || name[n - 1] != 0 || off + 4 > qlen)
		return 0;
	name_lower(name, n);
	*nlen = n;
	*qtype = (uint16_t)(q[off] << 8 | q[off + 1]);
	return off + 4;
}

size_t xmsg_answer(const uint8_t *q, size_t qend, uint8_t rcode, bool aa, const struct tsig_req *tr,
		   uint8_t *resp, size_t cap)
{
	if (qend > cap || qend < 12)
		return 0;
	memcpy(resp, q, qend);
	resp[2] = (uint8_t)(0x80 | (q[2] & 0x79) | (aa ? 0x04 : 0)); /* QR, opcode, RD */
	resp[3] = rcode;
	xmsg_put16(resp + 4, qend > 12 ? 1 : 0);
	memset(resp + 6, 0, 6);
	size_t len = qend;
	if (tr && tr->present) {
		if (tr->error) {
			if (tsig_answer_error(tr, resp, &len, cap) != 0)
				len = qend;
		} else if (tr->key) {
			struct tsig_stream ts;
			tsig_stream_server(&ts, tr);
			if (tsig_sign_answer(&ts, resp, &len, cap) != 0)
				len = qend;
		}
	}
	return len;
}
