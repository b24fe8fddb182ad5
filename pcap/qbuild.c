#include "qbuild.h"

#include <string.h>

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t p53_query_build(uint8_t *buf, size_t cap, uint16_t id, const uint8_t *name, size_t nlen,
		       uint16_t qtype, const struct p53_qopts *o)
{
	bool edns = o && (o->edns || o->dnssec_ok || o->ecs_family);
	size_t ecs_addr_len = 0;
	if (edns && o->ecs_family) {
		unsigned max = o->ecs_family == 1 ? 32 : 128;
		unsigned pfx = o->ecs_prefix > max ? max : o->ecs_prefix;
		ecs_addr_len = (pfx + 7) / 8; /* RFC 7871 6: no more bytes than the prefix needs */
	}
	size_t opt_len = edns ? 11 + (o->ecs_family ? 4 + 4 + ecs_addr_len : 0) : 0;
	size_t len = 12 + nlen + 4 + opt_len;
	if (len > cap)
		return 0;
	memset(buf, 0, 12);
	wr16(buf, id);
	buf[2] = o && o->rd ? 0x01 : 0x00;
	wr16(buf + 4, 1);
	wr16(buf + 10, edns ? 1 : 0);
	memcpy(buf + 12, name, nlen);
	uint8_t *p = buf + 12 + nlen;
	wr16(p, qtype);
	wr16(p + 2, 1); /* IN */
	p += 4;
	if (!edns)
		return len;
	p[0] = 0; /* root owner */
	wr16(p + 1, 41);
	wr16(p + 3, o->udp_size ? o->udp_size : 1232);
	p[5] = 0; /* extended rcode */
	p[6] = 0; /* version */
	wr16(p + 7, o->dnssec_ok ? 0x8000 : 0);
	wr16(p + 9, (uint16_t)(opt_len - 11));
	p += 11;
	if (o->ecs_family) {
		wr16(p, 8); /* option code: edns-client-subnet */
		wr16(p + 2, (uint16_t)(4 + ecs_addr_len));
		wr16(p + 4, o->ecs_family);
		p[6] = (uint8_t)(ecs_addr_len ? o->ecs_prefix : 0);
		p[7] = 0; /* scope prefix: always 0 in queries */
		memcpy(p + 8, o->ecs_addr, ecs_addr_len);
		/* Bits past the prefix must be zero. */
		unsigned pfx = p[6];
		if (pfx % 8)
			p[8 + ecs_addr_len - 1] &= (uint8_t)(0xff << (8 - pfx % 8));
	}
	return len;
}
