#include "frame.h"
#include "pcapio.h"

#include <string.h>

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (; len > 1; len -= 2, p += 2)
		sum += rd16(p);
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

size_t p53_udp_build(uint8_t *buf, size_t cap, const struct p53_udp_spec *s, const uint8_t *payload,
		     size_t plen)
{
	size_t l2 = s->ether ? 14 + (s->vlan >= 0 ? 4 : 0) : 0;
	size_t l3 = s->family == 6 ? 40 : 20;
	size_t total = l2 + l3 + 8 + plen;
	if (total > cap || l3 + 8 + plen > 65535)
		return 0;
	uint8_t *p = buf;
	if (s->ether) {
		memcpy(p, s->dmac, 6);
		memcpy(p + 6, s->smac, 6);
		p += 12;
		if (s->vlan >= 0) {
			wr16(p, 0x8100);
			wr16(p + 2, (uint16_t)(s->vlan & 0xfff));
			p += 4;
		}
		wr16(p, s->family == 6 ? 0x86dd : 0x0800);
		p += 2;
	}
	uint8_t *ip = p, *udp = p + l3;
	uint16_t ulen = (uint16_t)(8 + plen);
	uint32_t sum;
	if (s->family == 6) {
		memset(ip, 0, 40);
		ip[0] = 0x60;
		wr16(ip + 4, ulen);
		ip[6] = 17;
		ip[7] = 64;
		memcpy(ip + 8, s->src, 16);
		memcpy(ip + 24, s->dst, 16);
		sum = csum_add(0, ip + 8, 32);
	} else {
		memset(ip, 0, 20);
		ip[0] = 0x45;
		wr16(ip + 2, (uint16_t)(20 + ulen));
		ip[6] = 0x40; /* DF: DNS queries are never fragmented */
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, s->src, 4);
		memcpy(ip + 16, s->dst, 4);
		wr16(ip + 10, csum_fold(csum_add(0, ip, 20)));
		sum = csum_add(0, ip + 12, 8);
	}
	wr16(udp, s->sport);
	wr16(udp + 2, s->dport);
	wr16(udp + 4, ulen);
	wr16(udp + 6, 0);
	memcpy(udp + 8, payload, plen);
	sum += 17 + ulen;
	uint16_t c = csum_fold(csum_add(sum, udp, ulen));
	wr16(udp + 6, c ? c : 0xffff); /* 0 means "no checksum" over IPv4 */
	return total;
}

bool p53_udp_parse(const uint8_t *f, size_t len, uint32_t linktype, struct p53_udp_view *v)
{
	size_t off = 0;
	unsigned ver;
	memset(v, 0, sizeof(*v));
	if (linktype == P53_LINKTYPE_ETHERNET) {
		if (len < 14)
			return false;
		uint16_t et = rd16(f + 12);
		off = 14;
		if (et == 0x8100) {
			if (len < 18)
				return false;
			et = rd16(f + 16);
			off = 18;
		}
		if (et == 0x0800)
			ver = 4;
		else if (et == 0x86dd)
			ver = 6;
		else
			return false;
	} else if (linktype == P53_LINKTYPE_RAW) {
		if (len < 1)
			return false;
		ver = f[0] >> 4;
	} else {
		return false;
	}
	const uint8_t *ip = f + off;
	size_t iplen = len - off, l4;
	uint8_t proto;
	if (ver == 4) {
		if (iplen < 20 || (ip[0] >> 4) != 4)
			return false;
		size_t ihl = (size_t)(ip[0] & 15) * 4;
		if (ihl < 20 || ihl > iplen || (rd16(ip + 6) & 0x3fff) != 0)
			return false; /* fragments carry no complete query */
		proto = ip[9];
		v->family = 4;
		memcpy(v->src, ip + 12, 4);
		memcpy(v->dst, ip + 16, 4);
		l4 = ihl;
	} else if (ver == 6) {
		if (iplen < 40 || (ip[0] >> 4) != 6)
			return false;
		proto = ip[6];
		l4 = 40;
		/* Bounded walk over the extension headers a query may carry. */
		for (int i = 0; i < 4 && (proto == 0 || proto == 43 || proto == 60); i++) {
			if (l4 + 8 > iplen)
				return false;
			proto = ip[l4];
			l4 += ((size_t)ip[l4 + 1] + 1) * 8;
		}
		v->family = 6;
		memcpy(v->src, ip + 8, 16);
		memcpy(v->dst, ip + 24, 16);
	} else {
		return false;
	}
	if (proto != 17 || l4 + 8 > iplen)
		return false;
	const uint8_t *u = ip + l4;
	size_t ulen = rd16(u + 4);
	if (ulen < 8 || l4 + ulen > iplen)
		return false;
	v->sport = rd16(u);
	v->dport = rd16(u + 2);
	v->pl_off = off + l4 + 8;
	v->pl_len = ulen - 8;
	return true;
}
