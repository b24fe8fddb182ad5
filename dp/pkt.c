/* L2-L4 classification and in-place replies on plain byte buffers.
 *
 * The classifier decides early and cheaply: anything we will not answer goes
 * to the kernel (which validates it again on its own) or is dropped, and only
 * frames we answer pay for full validation (checksums, lengths, source
 * sanity). Every offset is checked against the frame end before it is read;
 * IP total/payload length trims Ethernet padding and must fit in the frame.
 */
#include "dp/pkt.h"

#include "zones/common/err.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static const char *const reason_names[DP_R__COUNT] = {
    [DP_R_RUNT] = "drop_runt",
    [DP_R_L2_SRC] = "drop_l2_src",
    [DP_R_L2_DST] = "drop_l2_dst",
    [DP_R_IP_HDR] = "drop_ip_hdr",
    [DP_R_IP_CKSUM] = "drop_ip_cksum",
    [DP_R_UDP_LEN] = "drop_udp_len",
    [DP_R_UDP_CKSUM] = "drop_udp_cksum",
    [DP_R_SRC_ADDR] = "drop_src_addr",
    [DP_R_SRC_PORT] = "drop_src_port",
    [DP_R_EXT_CHAIN] = "drop_ext_chain",
    [DP_R_ND_BAD] = "drop_nd_bad",
    [DP_R_ARP_BAD] = "drop_arp_bad",
    [DP_R_K_NON_IP] = "kernel_non_ip",
    [DP_R_K_OTHER_DST] = "kernel_other_dst",
    [DP_R_K_FRAG] = "kernel_frag",
    [DP_R_K_NOT_DNS] = "kernel_not_dns",
    [DP_R_DNS] = "dns",
    [DP_R_ARP] = "arp",
    [DP_R_ND] = "nd",
};

const char *dp_reason_name(enum dp_reason r)
{
	return (unsigned)r < DP_R__COUNT ? reason_names[r] : "?";
}

void dp_svc_init(struct dp_svc *svc)
{
	memset(svc, 0, sizeof(*svc));
	svc->mtu = DP_DEFAULT_MTU;
	dp_svc_set_drop_ports(svc, P53_PORTSET_DEFAULT_DROP);
}

static bool v6_is_multicast(const uint8_t *a)
{
	return a[0] == 0xff;
}

static bool v6_is_unspec(const uint8_t *a)
{
	static const uint8_t zero[16];
	return memcmp(a, zero, 16) == 0;
}

int dp_svc_add_addr(struct dp_svc *svc, const char *text)
{
	if (strchr(text, ':')) {
		uint8_t a[16];
		if (inet_pton(AF_INET6, text, a) != 1 || v6_is_multicast(a) || v6_is_unspec(a))
			return P53_EINVAL;
		if (svc->n6 >= DP_MAX_ADDRS)
			return P53_ERANGE;
		memcpy(svc->v6[svc->n6++], a, 16);
		return P53_OK;
	}
	uint8_t a[4];
	if (inet_pton(AF_INET, text, a) != 1 || a[0] == 0 || a[0] >= 224)
		return P53_EINVAL;
	if (svc->n4 >= DP_MAX_ADDRS)
		return P53_ERANGE;
	memcpy(svc->v4[svc->n4++], a, 4);
	return P53_OK;
}

int dp_svc_set_drop_ports(struct dp_svc *svc, const char *list)
{
	return p53_portset_parse(&svc->drop_sport, list);
}

/* --- byte helpers: network order, no alignment assumptions --- */

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* One's-complement sum (RFC 1071), 8 bytes per add: a 64-bit word with its
 * carry added back in is the same sum as its four 16-bit words, and the
 * compiler turns the carry into add-with-carry. It is a fifth of what the
 * worker spends on a frame of its own, so 32 bytes go per loop. memcpy
 * keeps the loads alignment-safe. */
static inline uint64_t add_carry(uint64_t acc, uint64_t w)
{
	acc += w;
	return acc + (acc < w);
}

static inline uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = sum, w, x, y, z;

	while (len >= 32) {
		memcpy(&w, p, 8);
		memcpy(&x, p + 8, 8);
		memcpy(&y, p + 16, 8);
		memcpy(&z, p + 24, 8);
		acc = add_carry(add_carry(add_carry(add_carry(acc, w), x), y), z);
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		memcpy(&w, p, 8);
		acc = add_carry(acc, w);
		p += 8;
		len -= 8;
	}
	/* The last 0-7 bytes as one zero-padded word: loaded little-endian,
	 * byte k lands where the 8-byte loads above put it. The odd byte is
	 * the high byte of a big-endian 16-bit word, as it must be. */
	if (len) {
		unsigned sh = 0;
		w = 0;
		if (len & 4) {
			uint32_t v;
			memcpy(&v, p, 4);
			w = v;
			p += 4;
			sh = 32;
		}
		if (len & 2) {
			uint16_t v;
			memcpy(&v, p, 2);
			w |= (uint64_t)v << sh;
			p += 2;
			sh += 16;
		}
		if (len & 1)
			w |= (uint64_t)*p << sh;
		acc = add_carry(acc, w);
	}
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffffffff) + (acc >> 32);
	return (uint32_t)acc;
}

uint32_t dp_csum_add(uint32_t sum, const void *data, size_t len)
{
	return csum_add(sum, data, len);
}

/* Folds to 16 bits without complement; result is in the byte order of the
 * data summed (the sum is byte-order independent, RFC 1071). */
static inline uint16_t fold16(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static inline uint16_t csum_fold(uint32_t sum)
{
	return (uint16_t)~fold16(sum);
}

uint16_t dp_csum_fold(uint32_t sum)
{
	return csum_fold(sum);
}

/* Pseudo-header sum; len and proto are summed as network-order words,
 * each field placed in the little-endian word where its bytes would be. */
static inline uint32_t pseudo_sum(int family, const uint8_t *src, const uint8_t *dst,
				  uint32_t l4len, uint8_t proto)
{
	uint64_t acc;
	if (family == 4) {
		uint32_t a, b;
		memcpy(&a, src, 4);
		memcpy(&b, dst, 4);
		/* zero, proto, length (16 bits, big-endian) */
		acc = (uint64_t)a + b + ((uint32_t)proto << 8) + ((l4len >> 8 & 0xff) << 16) +
		      ((uint64_t)(l4len & 0xff) << 24);
	} else {
		uint64_t w[4];
		memcpy(&w[0], src, 8);
		memcpy(&w[1], src + 8, 8);
		memcpy(&w[2], dst, 8);
		memcpy(&w[3], dst + 8, 8);
		acc = add_carry(add_carry(add_carry(w[0], w[1]), w[2]), w[3]);
		/* length (32 bits, big-endian), three zero bytes, proto */
		uint64_t t = (uint64_t)(l4len >> 24) | (uint64_t)(l4len >> 16 & 0xff) << 8 |
			     (uint64_t)(l4len >> 8 & 0xff) << 16 | (uint64_t)(l4len & 0xff) << 24 |
			     (uint64_t)proto << 56;
		acc = add_carry(acc, t);
	}
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffffffff) + (acc >> 32);
	return (uint32_t)acc;
}

static int find_v4(const struct dp_svc *svc, const uint8_t *a)
{
	for (int i = 0; i < svc->n4; i++)
		if (memcmp(svc->v4[i], a, 4) == 0)
			return i;
	return -1;
}

static int find_v6(const struct dp_svc *svc, const uint8_t *a)
{
	for (int i = 0; i < svc->n6; i++)
		if (memcmp(svc->v6[i], a, 16) == 0)
			return i;
	return -1;
}

static inline enum dp_action verdict(struct dp_pkt *p, enum dp_action a, enum dp_reason r)
{
	p->action = (uint8_t)a;
	p->reason = (uint8_t)r;
	return a;
}

/* Sources we never answer: a reply would go to a group, to ourselves, or
 * nowhere, which is what spoofed reflection traffic looks like. */
static bool v4_src_martian(const struct dp_svc *svc, const uint8_t *s)
{
	return s[0] == 0 || s[0] == 127 || s[0] >= 224 || find_v4(svc, s) >= 0;
}

static bool v6_src_martian(const struct dp_svc *svc, const uint8_t *s)
{
	static const uint8_t loop[16] = {[15] = 1};
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};

	return v6_is_multicast(s) || v6_is_unspec(s) || memcmp(s, loop, 16) == 0 ||
	       memcmp(s, mapped, 12) == 0 || find_v6(svc, s) >= 0;
}

/* Common UDP/53 checks once the L3 header is validated and the datagram is to
 * a service address. l4 .. end is the IP payload. */
static enum dp_action classify_udp(const struct dp_svc *svc, const uint8_t *f, size_t l4,
				   size_t end, unsigned rx_flags, uint32_t psum, bool v6,
				   struct dp_pkt *p)
{
	if (l4 + DP_UDP_HLEN > end)
		return verdict(p, DP_ACT_DROP, DP_R_UDP_LEN);
	const uint8_t *u = f + l4;
	if (rd16(u + 2) != DP_DNS_PORT)
		return verdict(p, DP_ACT_KERNEL, DP_R_K_NOT_DNS);
	uint16_t ulen = rd16(u + 4);
	if (ulen != end - l4)
		return verdict(p, DP_ACT_DROP, DP_R_UDP_LEN);
	if (rx_flags & DP_RX_L4_BAD)
		return verdict(p, DP_ACT_DROP, DP_R_UDP_CKSUM);
	uint16_t c = rd16(u + 6);
	if (c == 0) {
		/* Optional over IPv4; mandatory over IPv6 (RFC 8200 8.1). */
		if (v6)
			return verdict(p, DP_ACT_DROP, DP_R_UDP_CKSUM);
	} else if (!(rx_flags & DP_RX_L4_GOOD)) {
		if (csum_fold(csum_add(psum, u, ulen)) != 0)
			return verdict(p, DP_ACT_DROP, DP_R_UDP_CKSUM);
	}
	p->sport = rd16(u);
	if (p->sport == 0 || dp_svc_sport_dropped(svc, p->sport))
		return verdict(p, DP_ACT_DROP, DP_R_SRC_PORT);
	p->l4_off = (uint16_t)l4;
	p->pl_off = (uint16_t)(l4 + DP_UDP_HLEN);
	p->pl_len = (uint16_t)(ulen - DP_UDP_HLEN);
	return verdict(p, DP_ACT_DNS, DP_R_DNS);
}

static enum dp_action classify_arp(const struct dp_svc *svc, const uint8_t *f, size_t off,
				   size_t len, struct dp_pkt *p)
{
	if (off + 28 > len)
		return verdict(p, DP_ACT_DROP, DP_R_ARP_BAD);
	const uint8_t *a = f + off;
	/* Only Ethernet/IPv4 requests for a service address are ours; anything
	 * else (replies, probes for the host's addresses) is the kernel's. */
	if (rd16(a) != 1 || rd16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4)
		return verdict(p, DP_ACT_KERNEL, DP_R_K_NON_IP);
	int idx = find_v4(svc, a + 24);
	if (rd16(a + 6) != 1 || idx < 0)
		return verdict(p, DP_ACT_KERNEL, DP_R_K_NON_IP);
	if (a[8] & 1) /* sender hardware address must be unicast */
		return verdict(p, DP_ACT_DROP, DP_R_ARP_BAD);
	p->svc_idx = (uint8_t)idx;
	return verdict(p, DP_ACT_ARP, DP_R_ARP);
}

static enum dp_action classify_ip4(const struct dp_svc *svc, const uint8_t *f, size_t off,
				   size_t len, unsigned rx_flags, struct dp_pkt *p)
{
	if (off + DP_IP4_HLEN > len)
		return verdict(p, DP_ACT_DROP, DP_R_IP_HDR);
	const uint8_t *ip = f + off;
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	size_t tot = rd16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < DP_IP4_HLEN || tot < ihl || off + tot > len)
		return verdict(p, DP_ACT_DROP, DP_R_IP_HDR);
	p->family = 4;
	int idx = find_v4(svc, ip + 16);
	if (idx < 0)
		return verdict(p, DP_ACT_KERNEL, DP_R_K_OTHER_DST);
	/* Never answer from part of a datagram: MF or a non-zero offset means
	 * the kernel reassembles (and decides) instead. */
	if (rd16(ip + 6) & 0x3fff)
		return verdict(p, DP_ACT_KERNEL, DP_R_K_FRAG);
	if (ip[9] != 17)
		return verdict(p, DP_ACT_KERNEL, DP_R_K_NOT_DNS);
	if ((rx_flags & DP_RX_IP_BAD) ||
	    (!(rx_flags & DP_RX_IP_GOOD) && csum_fold(csum_add(0, ip, ihl)) != 0))
		return verdict(p, DP_ACT_DROP, DP_R_IP_CKSUM);
	if (v4_src_martian(svc, ip + 12))
		return verdict(p, DP_ACT_DROP, DP_R_SRC_ADDR);
	p->svc_idx = (uint8_t)idx;
	uint32_t psum = pseudo_sum(4, ip + 12, ip + 16, (uint32_t)(tot - ihl), 17);
	return classify_udp(svc, f, off + ihl, off + tot, rx_flags, psum, false, p);
}

/* RFC 4861 7.1.1 validity of a neighbour solicitation at f[l4 .. end). */
static bool ns_valid(const uint8_t *f, size_t l4, size_t end, const uint8_t *ip)
{
	size_t icmp_len = end - l4;
	if (ip[7] != 255 || icmp_len < 24 || f[l4 + 1] != 0 || v6_is_multicast(f + l4 + 8))
		return false;
	if (csum_fold(csum_add(pseudo_sum(6, ip + 8, ip + 24, (uint32_t)icmp_len, 58), f + l4,
			       icmp_len)) != 0)
		return false;
	bool dad = v6_is_unspec(ip + 8);
	/* Options: each at least 8 bytes; the walk ends within icmp_len / 8
	 * steps because every step advances by 8 or more. */
	for (size_t o = l4 + 24; o < end;) {
		if (o + 2 > end || f[o + 1] == 0 || o + (size_t)f[o + 1] * 8 > end)
			return false;
		if (dad && f[o] == 1) /* no source link-layer option in DAD */
			return false;
		o += (size_t)f[o + 1] * 8;
	}
	if (dad && !(ip[24] == 0xff && ip[25] == 0x02))
		return false;
	return true;
}

static enum dp_action classify_ip6(const struct dp_svc *svc, const uint8_t *f, size_t off,
				   size_t len, unsigned rx_flags, struct dp_pkt *p)
{
	if (off + DP_IP6_HLEN > len)
		return verdict(p, DP_ACT_DROP, DP_R_IP_HDR);
	const uint8_t *ip = f + off;
	size_t plen = rd16(ip + 4);
	/* plen 0 is a jumbogram (hop-by-hop option): not on this path. */
	if ((ip[0] >> 4) != 6 || plen == 0 || off + DP_IP6_HLEN + plen > len)
		return verdict(p, DP_ACT_DROP, DP_R_IP_HDR);
	p->family = 6;
	size_t end = off + DP_IP6_HLEN + plen;
	size_t cur = off + DP_IP6_HLEN;
	uint8_t nh = ip[6];

	for (int n = 0;; n++) {
		if (nh == 44)
			return verdict(p, DP_ACT_KERNEL, DP_R_K_FRAG);
		if (nh != 0 && nh != 43 && nh != 60)
			break;
		if (n >= DP_MAX_EXT_HDRS || (nh == 0 && n != 0) || cur + 8 > end)
			return verdict(p, DP_ACT_DROP, DP_R_EXT_CHAIN);
		size_t hl = ((size_t)f[cur + 1] + 1) * 8;
		if (cur + hl > end)
			return verdict(p, DP_ACT_DROP, DP_R_EXT_CHAIN);
		/* Routing header with segments left: we are not the final
		 * destination yet, so this is not ours to answer. */
		if (nh == 43 && f[cur + 3] != 0)
			return verdict(p, DP_ACT_KERNEL, DP_R_K_OTHER_DST);
		nh = f[cur];
		cur += hl;
	}

	if (nh == 58 && cur < end && f[cur] == 135) {
		if (cur + 24 > end)
			return verdict(p, DP_ACT_DROP, DP_R_ND_BAD);
		int t = find_v6(svc, f + cur + 8);
		if (t < 0)
			return verdict(p, DP_ACT_KERNEL, DP_R_K_OTHER_DST);
		const uint8_t *d = ip + 24;
		static const uint8_t snm[13] = {0xff, 0x02, [11] = 0x01, [12] = 0xff};
		bool to_snm = memcmp(d, snm, 13) == 0 && memcmp(d + 13, svc->v6[t] + 13, 3) == 0;
		if (!to_snm && find_v6(svc, d) < 0)
			return verdict(p, DP_ACT_KERNEL, DP_R_K_OTHER_DST);
		if (!ns_valid(f, cur, end, ip))
			return verdict(p, DP_ACT_DROP, DP_R_ND_BAD);
		p->svc_idx = (uint8_t)t;
		p->l4_off = (uint16_t)cur;
		p->pl_off = (uint16_t)cur;
		p->pl_len = (uint16_t)(end - cur);
		return verdict(p, DP_ACT_ND, DP_R_ND);
	}

	int idx = find_v6(svc, ip + 24);
	if (idx < 0)
		return verdict(p, DP_ACT_KERNEL, DP_R_K_OTHER_DST);
	if (nh != 17)
		return verdict(p, DP_ACT_KERNEL, DP_R_K_NOT_DNS);
	if (v6_src_martian(svc, ip + 8))
		return verdict(p, DP_ACT_DROP, DP_R_SRC_ADDR);
	p->svc_idx = (uint8_t)idx;
	uint32_t psum = pseudo_sum(6, ip + 8, ip + 24, (uint32_t)(end - cur), 17);
	return classify_udp(svc, f, cur, end, rx_flags, psum, true, p);
}

enum dp_action dp_classify(const struct dp_svc *svc, const uint8_t *f, size_t len,
			   unsigned rx_flags, struct dp_pkt *p)
{
	memset(p, 0, sizeof(*p));
	if (len < DP_ETH_HLEN)
		return verdict(p, DP_ACT_DROP, DP_R_RUNT);
	if (f[6] & 1)
		return verdict(p, DP_ACT_DROP, DP_R_L2_SRC);
	if (!(f[0] & 1) && memcmp(f, svc->mac, 6) != 0)
		return verdict(p, DP_ACT_DROP, DP_R_L2_DST);
	size_t off = DP_ETH_HLEN;
	uint16_t type = rd16(f + 12);
	if (type == 0x8100) {
		if (len < DP_ETH_HLEN + DP_VLAN_HLEN)
			return verdict(p, DP_ACT_DROP, DP_R_RUNT);
		p->vlan = 1;
		type = rd16(f + 16);
		off += DP_VLAN_HLEN;
	}
	p->l3_off = (uint16_t)off;
	switch (type) {
	case 0x0800:
		return classify_ip4(svc, f, off, len, rx_flags, p);
	case 0x86dd:
		return classify_ip6(svc, f, off, len, rx_flags, p);
	case 0x0806:
		return classify_arp(svc, f, off, len, p);
	default:
		/* Nested tags (QinQ), LLDP, LACP, ...: the kernel's business. */
		return verdict(p, DP_ACT_KERNEL, DP_R_K_NON_IP);
	}
}

size_t dp_dns_room(const struct dp_svc *svc, const struct dp_pkt *p, size_t bufcap)
{
	size_t new_pl = p->l3_off + (p->family == 4 ? DP_IP4_HLEN : DP_IP6_HLEN) + DP_UDP_HLEN;
	size_t mtu_end = (size_t)p->l3_off + svc->mtu;
	size_t by_mtu = mtu_end > new_pl ? mtu_end - new_pl : 0;
	size_t by_buf = bufcap > p->pl_off ? bufcap - p->pl_off : 0;
	return by_mtu < by_buf ? by_mtu : by_buf;
}

static void swap_l2(const struct dp_svc *svc, uint8_t *f)
{
	memcpy(f, f + 6, 6);
	memcpy(f + 6, svc->mac, 6);
}

size_t dp_reply_dns(const struct dp_svc *svc, uint8_t *f, const struct dp_pkt *p, size_t dns_len,
		    unsigned tx_flags)
{
	uint8_t *ip = f + p->l3_off;
	uint8_t src[16], dst[16];
	size_t l4;

	swap_l2(svc, f);
	if (p->family == 4) {
		memcpy(src, ip + 16, 4); /* reply source = query destination */
		memcpy(dst, ip + 12, 4);
		l4 = p->l3_off + DP_IP4_HLEN;
	} else {
		memcpy(src, ip + 24, 16);
		memcpy(dst, ip + 8, 16);
		l4 = p->l3_off + DP_IP6_HLEN;
	}
	/* Options/extension headers are not echoed: slide the response down
	 * to sit right after the fixed headers. */
	if (l4 + DP_UDP_HLEN != p->pl_off)
		memmove(f + l4 + DP_UDP_HLEN, f + p->pl_off, dns_len);
	size_t ulen = DP_UDP_HLEN + dns_len;

	if (p->family == 4) {
		/* DF with ID 0: an atomic datagram (RFC 6864); responses are
		 * sized by EDNS to fit without fragmentation. TOS is kept. */
		ip[0] = 0x45;
		wr16(ip + 2, (uint16_t)(DP_IP4_HLEN + ulen));
		wr16(ip + 4, 0);
		wr16(ip + 6, 0x4000);
		ip[8] = 64;
		ip[9] = 17;
		wr16(ip + 10, 0);
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		if (!(tx_flags & DP_TX_CSUM_OFFLOAD)) {
			uint16_t c = csum_fold(csum_add(0, ip, DP_IP4_HLEN));
			memcpy(ip + 10, &c, 2);
		}
	} else {
		/* Version, traffic class and flow label are kept. */
		wr16(ip + 4, (uint16_t)ulen);
		ip[6] = 17;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
	}

	uint8_t *u = f + l4;
	wr16(u, DP_DNS_PORT);
	wr16(u + 2, p->sport);
	wr16(u + 4, (uint16_t)ulen);
	wr16(u + 6, 0);
	uint32_t ps = pseudo_sum(p->family, src, dst, (uint32_t)ulen, 17);
	if (tx_flags & DP_TX_CSUM_OFFLOAD) {
		/* The NIC finishes the sum; it wants the pseudo-header sum,
		 * not complemented, in the checksum field. */
		uint16_t c = fold16(ps);
		memcpy(u + 6, &c, 2);
	} else {
		uint16_t c = csum_fold(csum_add(ps, u, ulen));
		if (c == 0)
			c = 0xffff; /* 0 means "no checksum" */
		memcpy(u + 6, &c, 2);
	}
	return l4 + ulen;
}

size_t dp_reply_arp(const struct dp_svc *svc, uint8_t *f, const struct dp_pkt *p, size_t len)
{
	uint8_t *a = f + p->l3_off;
	uint8_t sha[6], spa[4];

	memcpy(sha, a + 8, 6);
	memcpy(spa, a + 14, 4);
	swap_l2(svc, f);
	wr16(a + 6, 2);
	memcpy(a + 8, svc->mac, 6);
	memcpy(a + 14, svc->v4[p->svc_idx], 4);
	memcpy(a + 18, sha, 6);
	memcpy(a + 24, spa, 4);
	return len;
}

size_t dp_reply_na(const struct dp_svc *svc, uint8_t *f, const struct dp_pkt *p, size_t bufcap)
{
	static const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 0x01};
	static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
	const size_t icmp_len = 32; /* NA (24) + target link-layer option (8) */
	uint8_t *ip = f + p->l3_off;
	uint8_t dst[16];

	if ((size_t)p->l3_off + DP_IP6_HLEN + icmp_len > bufcap)
		return 0;
	/* A DAD probe comes from ::; its answer goes to all nodes, unsolicited
	 * (RFC 4861 7.2.4). */
	bool dad = v6_is_unspec(ip + 8);
	memcpy(dst, dad ? all_nodes : ip + 8, 16);
	swap_l2(svc, f);
	if (dad)
		memcpy(f, all_nodes_mac, 6);

	ip[0] = 0x60;
	ip[1] = ip[2] = ip[3] = 0;
	wr16(ip + 4, (uint16_t)icmp_len);
	ip[6] = 58;
	ip[7] = 255;
	memcpy(ip + 8, svc->v6[p->svc_idx], 16);
	memcpy(ip + 24, dst, 16);

	uint8_t *c = ip + DP_IP6_HLEN;
	memset(c, 0, icmp_len);
	c[0] = 136;
	c[4] = dad ? 0x20 : 0x60; /* Solicited unless DAD; Override */
	memcpy(c + 8, svc->v6[p->svc_idx], 16);
	c[24] = 2; /* target link-layer address */
	c[25] = 1;
	memcpy(c + 26, svc->mac, 6);
	uint16_t sum = csum_fold(
	    csum_add(pseudo_sum(6, ip + 8, ip + 24, (uint32_t)icmp_len, 58), c, icmp_len));
	memcpy(c + 2, &sum, 2);
	return (size_t)p->l3_off + DP_IP6_HLEN + icmp_len;
}
