/* dp/pkt.c: every bad-input frame has one defined outcome, and replies are
 * well-formed. Frames are built here with an independent (byte-wise, 16-bit)
 * checksum so the fast 32-bit sum in pkt.c is checked against it. */
#include "dp/pkt.h"
#include "tests/unit/check.h"
#include "zones/common/err.h"

#include <arpa/inet.h>
#include <stdlib.h>

static const uint8_t our_mac[6] = {0x02, 0, 0, 0, 0x53, 0x01};
static const uint8_t cli_mac[6] = {0x02, 0, 0, 0, 0xc1, 0x01};
static struct dp_svc svc;

static uint8_t dns_q[] = {0x12, 0x34, 0x01, 0x00, 0,   1,   0,	 0,   0,   0,	0,
			  0,	3,    'w',  'w',  'w', 7,   'e', 'x', 'a', 'm', 'p',
			  'l',	'e',  3,    'c',  'o', 'm', 0,	 0,   1,   0,	1};

/* Reference checksum: RFC 1071 the slow, obvious way. */
static uint16_t ref_sum(const uint8_t *const *parts, const size_t *lens, int n)
{
	uint32_t s = 0;
	int odd = 0;
	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < lens[i]; j++) {
			s += odd ? parts[i][j] : (uint32_t)parts[i][j] << 8;
			odd ^= 1;
		}
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static size_t mk_eth(uint8_t *f, bool vlan, uint16_t type)
{
	memcpy(f, our_mac, 6);
	memcpy(f + 6, cli_mac, 6);
	if (vlan) {
		put16(f + 12, 0x8100);
		put16(f + 14, 0x2064); /* PCP 1, VID 100 */
		put16(f + 16, type);
		return 18;
	}
	put16(f + 12, type);
	return 14;
}

static uint16_t l4_csum(int fam, const uint8_t *ip, const uint8_t *l4, size_t len, uint8_t proto)
{
	uint8_t ph[40] = {0};
	size_t phl;
	if (fam == 4) {
		memcpy(ph, ip + 12, 8);
		ph[9] = proto;
		put16(ph + 10, (uint16_t)len);
		phl = 12;
	} else {
		memcpy(ph, ip + 8, 32);
		put16(ph + 34, (uint16_t)len);
		ph[39] = proto;
		phl = 40;
	}
	const uint8_t *parts[2] = {ph, l4};
	size_t lens[2] = {phl, len};
	return ref_sum(parts, lens, 2);
}

static void fix4(uint8_t *ip)
{
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	put16(ip + 10, 0);
	const uint8_t *parts[1] = {ip};
	size_t lens[1] = {ihl};
	put16(ip + 10, ref_sum(parts, lens, 1));
}

static size_t mk4(uint8_t *f, bool vlan, const char *src, const char *dst, uint16_t sport,
		  uint16_t dport, size_t optlen, const uint8_t *pl, size_t plen)
{
	size_t o = mk_eth(f, vlan, 0x0800);
	uint8_t *ip = f + o;
	size_t ihl = 20 + optlen;
	memset(ip, 0, ihl);
	ip[0] = (uint8_t)(0x40 | ihl / 4);
	put16(ip + 2, (uint16_t)(ihl + 8 + plen));
	put16(ip + 4, 0x4242);
	ip[8] = 61;
	ip[9] = 17;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	for (size_t i = 20; i < ihl; i++)
		ip[i] = 1; /* NOP options */
	uint8_t *u = ip + ihl;
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + plen));
	put16(u + 6, 0);
	memcpy(u + 8, pl, plen);
	uint16_t c = l4_csum(4, ip, u, 8 + plen, 17);
	put16(u + 6, c ? c : 0xffff);
	fix4(ip);
	return o + ihl + 8 + plen;
}

/* exts: raw extension headers, already chained, the last one's next header
 * being proto; first_nh is the IPv6 header's next header. */
static size_t mk6(uint8_t *f, bool vlan, const char *src, const char *dst, uint16_t sport,
		  uint16_t dport, uint8_t first_nh, const uint8_t *exts, size_t extlen,
		  const uint8_t *pl, size_t plen)
{
	size_t o = mk_eth(f, vlan, 0x86dd);
	uint8_t *ip = f + o;
	memset(ip, 0, 40);
	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)(extlen + 8 + plen));
	ip[6] = first_nh;
	ip[7] = 64;
	inet_pton(AF_INET6, src, ip + 8);
	inet_pton(AF_INET6, dst, ip + 24);
	if (extlen)
		memcpy(ip + 40, exts, extlen);
	uint8_t *u = ip + 40 + extlen;
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + plen));
	put16(u + 6, 0);
	memcpy(u + 8, pl, plen);
	uint16_t c = l4_csum(6, ip, u, 8 + plen, 17);
	put16(u + 6, c ? c : 0xffff);
	return o + 40 + extlen + 8 + plen;
}

static int cls(const uint8_t *f, size_t len, struct dp_pkt *p)
{
	/* Classify an exact-size heap copy so ASan flags any read past len. */
	uint8_t *c = malloc(len ? len : 1);
	memcpy(c, f, len);
	int a = dp_classify(&svc, c, len, 0, p);
	free(c);
	return a;
}

#define EXPECT(f, len, act, why)                                                                   \
	do {                                                                                       \
		struct dp_pkt p_;                                                                  \
		CHECK_EQ(cls(f, len, &p_), act);                                                   \
		CHECK_STR(dp_reason_name(p_.reason), dp_reason_name(why));                         \
	} while (0)

static void check_reply4(const uint8_t *r, size_t rlen, size_t l3, const char *cli, uint16_t cport,
			 size_t dlen)
{
	const uint8_t *ip = r + l3;
	uint8_t a[4];
	CHECK(memcmp(r, cli_mac, 6) == 0);
	CHECK(memcmp(r + 6, our_mac, 6) == 0);
	CHECK_EQ(ip[0], 0x45);
	CHECK_EQ(get16(ip + 2), 28 + dlen);
	CHECK_EQ(rlen, l3 + 28 + dlen);
	CHECK(memcmp(ip + 12, svc.v4[0], 4) == 0);
	inet_pton(AF_INET, cli, a);
	CHECK(memcmp(ip + 16, a, 4) == 0);
	const uint8_t *parts[1] = {ip};
	size_t lens[1] = {20};
	CHECK_EQ(ref_sum(parts, lens, 1), 0);
	CHECK_EQ(get16(ip + 20), 53);
	CHECK_EQ(get16(ip + 22), cport);
	CHECK_EQ(get16(ip + 24), 8 + dlen);
	CHECK_EQ(l4_csum(4, ip, ip + 20, 8 + dlen, 17), 0);
}

static void test_svc(void)
{
	struct dp_svc s;
	dp_svc_init(&s);
	CHECK(dp_svc_sport_dropped(&s, 0));
	CHECK(dp_svc_sport_dropped(&s, 53));
	CHECK(dp_svc_sport_dropped(&s, 11211));
	CHECK(!dp_svc_sport_dropped(&s, 33333));
	CHECK_EQ(dp_svc_set_drop_ports(&s, "1-3,5"), P53_OK);
	CHECK(dp_svc_sport_dropped(&s, 2) && dp_svc_sport_dropped(&s, 5));
	CHECK(!dp_svc_sport_dropped(&s, 4) && !dp_svc_sport_dropped(&s, 53));
	CHECK_EQ(dp_svc_set_drop_ports(&s, "x"), P53_EINVAL);
	CHECK_EQ(dp_svc_set_drop_ports(&s, "5-1"), P53_EINVAL);
	CHECK_EQ(dp_svc_set_drop_ports(&s, "70000"), P53_EINVAL);
	CHECK(dp_svc_sport_dropped(&s, 5)); /* failed parse changes nothing */
	CHECK_EQ(dp_svc_set_drop_ports(&s, "none"), P53_OK);
	CHECK(!dp_svc_sport_dropped(&s, 5));
	CHECK_EQ(dp_svc_add_addr(&s, "224.0.0.1"), P53_EINVAL);
	CHECK_EQ(dp_svc_add_addr(&s, "ff02::1"), P53_EINVAL);
	CHECK_EQ(dp_svc_add_addr(&s, "::"), P53_EINVAL);
	CHECK_EQ(dp_svc_add_addr(&s, "1.2.3"), P53_EINVAL);
	CHECK_EQ(dp_svc_add_addr(&s, "192.0.2.1"), P53_OK);
	for (int i = 1; i < DP_MAX_ADDRS; i++)
		CHECK_EQ(dp_svc_add_addr(&s, "192.0.2.2"), P53_OK);
	CHECK_EQ(dp_svc_add_addr(&s, "192.0.2.3"), P53_ERANGE);
}

static void test_csum(void)
{
	uint8_t buf[101];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	for (size_t n = 0; n <= sizeof(buf); n++) {
		const uint8_t *parts[1] = {buf};
		size_t lens[1] = {n};
		uint16_t want = ref_sum(parts, lens, 1), got = dp_csum_fold(dp_csum_add(0, buf, n));
		CHECK_EQ(ntohs(got), want);
	}
}

static void test_ipv4(void)
{
	uint8_t f[2048], g[2048];
	size_t n;
	struct dp_pkt p;

	n = mk4(f, false, "198.51.100.7", "192.0.2.53", 40000, 53, 0, dns_q, sizeof(dns_q));
	CHECK_EQ(cls(f, n, &p), DP_ACT_DNS);
	CHECK_EQ(p.family, 4);
	CHECK_EQ(p.pl_off, 42);
	CHECK_EQ(p.pl_len, sizeof(dns_q));
	CHECK_EQ(p.sport, 40000);
	/* Reply: pretend the engine wrote 50 bytes at pl_off. */
	memcpy(g, f, n);
	memset(g + p.pl_off, 0xab, 50);
	size_t r = dp_reply_dns(&svc, g, &p, 50, 0);
	check_reply4(g, r, 14, "198.51.100.7", 40000, 50);
	CHECK_EQ(g[14 + 6], 0x40); /* DF */
	CHECK_EQ(g[14 + 8], 64);
	CHECK(dp_dns_room(&svc, &p, 2048) == 1500 - 28);
	CHECK(dp_dns_room(&svc, &p, 500) == 500 - 42);

	/* Ethernet padding after the datagram is ignored. */
	memset(f + n, 0, 8);
	CHECK_EQ(cls(f, n + 8, &p), DP_ACT_DNS);
	CHECK_EQ(p.pl_len, sizeof(dns_q));

	/* Options: answered, reply without them, payload moved down. */
	n = mk4(f, false, "198.51.100.7", "192.0.2.53", 40000, 53, 8, dns_q, sizeof(dns_q));
	CHECK_EQ(cls(f, n, &p), DP_ACT_DNS);
	CHECK_EQ(p.pl_off, 50);
	memset(f + p.pl_off, 0xcd, 40);
	r = dp_reply_dns(&svc, f, &p, 40, 0);
	check_reply4(f, r, 14, "198.51.100.7", 40000, 40);
	CHECK_EQ(f[42], 0xcd);
	CHECK_EQ(f[42 + 39], 0xcd);

	/* VLAN: tag kept. */
	n = mk4(f, true, "198.51.100.7", "192.0.2.53", 40001, 53, 0, dns_q, sizeof(dns_q));
	CHECK_EQ(cls(f, n, &p), DP_ACT_DNS);
	CHECK_EQ(p.vlan, 1);
	CHECK_EQ(p.l3_off, 18);
	r = dp_reply_dns(&svc, f, &p, 33, 0);
	check_reply4(f, r, 18, "198.51.100.7", 40001, 33);
	CHECK_EQ(get16(f + 12), 0x8100);
	CHECK_EQ(get16(f + 14), 0x2064);

	/* Checksum offload: IPv4 csum 0, UDP csum holds the pseudo-header sum. */
	n = mk4(f, false, "198.51.100.7", "192.0.2.53", 40000, 53, 0, dns_q, sizeof(dns_q));
	cls(f, n, &p);
	r = dp_reply_dns(&svc, f, &p, sizeof(dns_q), DP_TX_CSUM_OFFLOAD);
	CHECK_EQ(get16(f + 24), 0);
	CHECK(get16(f + 40) != 0);

	/* Zero UDP checksum is allowed over IPv4. */
	n = mk4(f, false, "198.51.100.7", "192.0.2.53", 40000, 53, 0, dns_q, sizeof(dns_q));
	put16(f + 40, 0);
	EXPECT(f, n, DP_ACT_DNS, DP_R_DNS);

	/* Bad input, one outcome each. */
	EXPECT(f, 0, DP_ACT_DROP, DP_R_RUNT);
	EXPECT(f, 13, DP_ACT_DROP, DP_R_RUNT);
	n = mk4(f, true, "198.51.100.7", "192.0.2.53", 40000, 53, 0, dns_q, sizeof(dns_q));
	EXPECT(f, 16, DP_ACT_DROP, DP_R_RUNT);
	EXPECT(f, 30, DP_ACT_DROP, DP_R_IP_HDR);

	n = mk4(f, false, "198.51.100.7", "192.0.2.53", 40000, 53, 0, dns_q, sizeof(dns_q));
	memcpy(g, f, n);
	g[6] = 0x01; /* multicast source MAC */
	EXPECT(g, n, DP_ACT_DROP, DP_R_L2_SRC);
	memcpy(g, f, n);
	g[5] = 0x99; /* unicast, not ours */
	EXPECT(g, n, DP_ACT_DROP, DP_R_L2_DST);
	memcpy(g, f, n);
	memset(g, 0xff, 6); /* broadcast destination is looked at */
	EXPECT(g, n, DP_ACT_DNS, DP_R_DNS);

	memcpy(g, f, n);
	g[14] = 0x44; /* IHL 4 */
	EXPECT(g, n, DP_ACT_DROP, DP_R_IP_HDR);
	memcpy(g, f, n);
	g[14] = 0x4f; /* IHL 60 beyond the frame */
	EXPECT(g, 14 + 40, DP_ACT_DROP, DP_R_IP_HDR);
	memcpy(g, f, n);
	g[14] = 0x55; /* version 5 */
	EXPECT(g, n, DP_ACT_DROP, DP_R_IP_HDR);
	memcpy(g, f, n);
	put16(g + 16, (uint16_t)(n - 14 + 1)); /* total length beyond frame */
	fix4(g + 14);
	EXPECT(g, n, DP_ACT_DROP, DP_R_IP_HDR);
	memcpy(g, f, n);
	put16(g + 16, 19); /* total length < IHL */
	fix4(g + 14);
	EXPECT(g, n, DP_ACT_DROP, DP_R_IP_HDR);
	EXPECT(f, n - 1, DP_ACT_DROP, DP_R_IP_HDR); /* frame truncated */

	memcpy(g, f, n);
	g[24] ^= 1; /* IPv4 header checksum */
	EXPECT(g, n, DP_ACT_DROP, DP_R_IP_CKSUM);
	memcpy(g, f, n);
	g[n - 1] ^= 1; /* payload: UDP checksum */
	EXPECT(g, n, DP_ACT_DROP, DP_R_UDP_CKSUM);
	{
		struct dp_pkt q;
		memcpy(g, f, n);
		g[n - 1] ^= 1;
		CHECK_EQ(dp_classify(&svc, g, n, DP_RX_IP_GOOD | DP_RX_L4_GOOD, &q), DP_ACT_DNS);
		CHECK_EQ(dp_classify(&svc, f, n, DP_RX_L4_BAD, &q), DP_ACT_DROP);
		CHECK_EQ(dp_classify(&svc, f, n, DP_RX_IP_BAD, &q), DP_ACT_DROP);
	}

	memcpy(g, f, n);
	put16(g + 38, (uint16_t)(8 + sizeof(dns_q) - 1)); /* UDP length < IP payload */
	EXPECT(g, n, DP_ACT_DROP, DP_R_UDP_LEN);
	memcpy(g, f, n);
	put16(g + 38, (uint16_t)(8 + sizeof(dns_q) + 1)); /* UDP length > IP payload */
	EXPECT(g, n, DP_ACT_DROP, DP_R_UDP_LEN);
	memcpy(g, f, n);
	put16(g + 16, 24); /* IP payload shorter than a UDP header */
	fix4(g + 14);
	EXPECT(g, n, DP_ACT_DROP, DP_R_UDP_LEN);

	memcpy(g, f, n);
	put16(g + 20, 0x2000); /* MF */
	fix4(g + 14);
	EXPECT(g, n, DP_ACT_KERNEL, DP_R_K_FRAG);
	memcpy(g, f, n);
	put16(g + 20, 0x0010); /* offset 128 */
	fix4(g + 14);
	EXPECT(g, n, DP_ACT_KERNEL, DP_R_K_FRAG);

	n = mk4(f, false, "198.51.100.7", "192.0.2.99", 40000, 53, 0, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_OTHER_DST);
	n = mk4(f, false, "198.51.100.7", "255.255.255.255", 40000, 53, 0, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_OTHER_DST);
	n = mk4(f, false, "198.51.100.7", "192.0.2.53", 40000, 54, 0, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_NOT_DNS);
	n = mk4(f, false, "198.51.100.7", "192.0.2.53", 40000, 53, 0, dns_q, sizeof(dns_q));
	f[14 + 9] = 6; /* TCP/53 */
	fix4(f + 14);
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_NOT_DNS);

	static const char *martians[] = {"224.0.0.1", "255.255.255.255", "127.0.0.1",
					 "0.0.0.0",   "192.0.2.53",	 "240.1.2.3"};
	for (size_t i = 0; i < sizeof(martians) / sizeof(martians[0]); i++) {
		n = mk4(f, false, martians[i], "192.0.2.53", 40000, 53, 0, dns_q, sizeof(dns_q));
		EXPECT(f, n, DP_ACT_DROP, DP_R_SRC_ADDR);
	}
	static const uint16_t bad_ports[] = {0, 7, 19, 53, 123, 1900, 11211};
	for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
		n = mk4(f, false, "198.51.100.7", "192.0.2.53", bad_ports[i], 53, 0, dns_q,
			sizeof(dns_q));
		EXPECT(f, n, DP_ACT_DROP, DP_R_SRC_PORT);
	}
	/* Second service address (anycast): reply comes from it. */
	n = mk4(f, false, "198.51.100.7", "203.0.113.53", 1024, 53, 0, dns_q, sizeof(dns_q));
	CHECK_EQ(cls(f, n, &p), DP_ACT_DNS);
	CHECK_EQ(p.svc_idx, 1);
	dp_reply_dns(&svc, f, &p, 20, 0);
	CHECK(memcmp(f + 26, svc.v4[1], 4) == 0);

	/* Unknown ethertype and QinQ go to the kernel. */
	mk_eth(f, false, 0x88cc);
	EXPECT(f, 60, DP_ACT_KERNEL, DP_R_K_NON_IP);
	mk_eth(f, true, 0x8100);
	EXPECT(f, 60, DP_ACT_KERNEL, DP_R_K_NON_IP);
}

static void test_ipv6(void)
{
	uint8_t f[2048], g[2048];
	size_t n, r;
	struct dp_pkt p;
	const char *cli = "2001:db8:1::7", *srv = "2001:db8::53";

	n = mk6(f, false, cli, srv, 40000, 53, 17, NULL, 0, dns_q, sizeof(dns_q));
	CHECK_EQ(cls(f, n, &p), DP_ACT_DNS);
	CHECK_EQ(p.family, 6);
	CHECK_EQ(p.pl_off, 62);
	memset(f + p.pl_off, 0x5a, 77);
	r = dp_reply_dns(&svc, f, &p, 77, 0);
	CHECK_EQ(r, 62 + 77);
	CHECK(memcmp(f, cli_mac, 6) == 0);
	CHECK(memcmp(f + 22, svc.v6[0], 16) == 0);
	CHECK_EQ(get16(f + 18), 85);
	CHECK_EQ(f[20], 17);
	CHECK_EQ(get16(f + 54), 53);
	CHECK_EQ(get16(f + 56), 40000);
	CHECK(get16(f + 60) != 0);
	CHECK_EQ(l4_csum(6, f + 14, f + 54, 85, 17), 0);

	n = mk6(f, false, cli, srv, 40000, 53, 17, NULL, 0, dns_q, sizeof(dns_q));
	memcpy(g, f, n);
	put16(g + 60, 0); /* zero checksum: not allowed over IPv6 */
	EXPECT(g, n, DP_ACT_DROP, DP_R_UDP_CKSUM);
	memcpy(g, f, n);
	g[n - 3] ^= 0x10;
	EXPECT(g, n, DP_ACT_DROP, DP_R_UDP_CKSUM);
	memcpy(g, f, n);
	put16(g + 18, (uint16_t)(n - 54 + 1)); /* payload length beyond frame */
	EXPECT(g, n, DP_ACT_DROP, DP_R_IP_HDR);
	memcpy(g, f, n);
	put16(g + 18, 0); /* jumbogram */
	EXPECT(g, n, DP_ACT_DROP, DP_R_IP_HDR);
	memcpy(g, f, n);
	g[14] = 0x40;
	EXPECT(g, n, DP_ACT_DROP, DP_R_IP_HDR);
	EXPECT(f, 50, DP_ACT_DROP, DP_R_IP_HDR);
	memcpy(g, f, n);
	put16(g + 58, 9); /* UDP length mismatch */
	EXPECT(g, n, DP_ACT_DROP, DP_R_UDP_LEN);

	n = mk6(f, false, "ff02::1", srv, 40000, 53, 17, NULL, 0, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_DROP, DP_R_SRC_ADDR);
	n = mk6(f, false, "::ffff:192.0.2.1", srv, 40000, 53, 17, NULL, 0, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_DROP, DP_R_SRC_ADDR);
	n = mk6(f, false, "::1", srv, 40000, 53, 17, NULL, 0, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_DROP, DP_R_SRC_ADDR);
	n = mk6(f, false, cli, "2001:db8::99", 40000, 53, 17, NULL, 0, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_OTHER_DST);
	n = mk6(f, false, cli, srv, 53, 53, 17, NULL, 0, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_DROP, DP_R_SRC_PORT);
	n = mk6(f, false, cli, srv, 40000, 53, 6, NULL, 0, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_NOT_DNS);

	/* Extension headers: hop-by-hop + destination options, walked. */
	uint8_t ext[64] = {0};
	ext[0] = 60; /* HBH -> dest opts */
	ext[2] = 1;  /* PadN */
	ext[3] = 4;
	ext[8] = 17; /* dest opts -> UDP, 16 bytes */
	ext[9] = 1;
	ext[10] = 1;
	ext[11] = 12;
	n = mk6(f, true, cli, srv, 40000, 53, 0, ext, 24, dns_q, sizeof(dns_q));
	CHECK_EQ(cls(f, n, &p), DP_ACT_DNS);
	CHECK_EQ(p.pl_off, 18 + 40 + 24 + 8);
	r = dp_reply_dns(&svc, f, &p, sizeof(dns_q), 0);
	CHECK_EQ(r, 18 + 48 + sizeof(dns_q));
	CHECK_EQ(f[18 + 6], 17);
	CHECK(memcmp(f + 18 + 48, dns_q, sizeof(dns_q)) == 0);
	CHECK_EQ(l4_csum(6, f + 18, f + 18 + 40, 8 + sizeof(dns_q), 17), 0);

	/* Truncated extension header. */
	n = mk6(f, false, cli, srv, 40000, 53, 0, ext, 24, dns_q, sizeof(dns_q));
	put16(f + 18, 6);
	EXPECT(f, 14 + 46, DP_ACT_DROP, DP_R_EXT_CHAIN);
	/* Hop-by-hop not first. */
	memset(ext, 0, sizeof(ext));
	ext[0] = 0;
	ext[8] = 17;
	n = mk6(f, false, cli, srv, 40000, 53, 60, ext, 16, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_DROP, DP_R_EXT_CHAIN);
	/* Too many: five destination-options headers. */
	memset(ext, 0, sizeof(ext));
	for (int i = 0; i < 5; i++)
		ext[i * 8] = i == 4 ? 17 : 60;
	n = mk6(f, false, cli, srv, 40000, 53, 60, ext, 40, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_DROP, DP_R_EXT_CHAIN);
	/* Four are fine. */
	n = mk6(f, false, cli, srv, 40000, 53, 60, ext + 8, 32, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_DNS, DP_R_DNS);
	/* Fragment header. */
	memset(ext, 0, sizeof(ext));
	ext[0] = 17;
	n = mk6(f, false, cli, srv, 40000, 53, 44, ext, 8, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_FRAG);
	/* Routing header with segments left. */
	ext[0] = 17;
	ext[3] = 1;
	n = mk6(f, false, cli, srv, 40000, 53, 43, ext, 8, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_OTHER_DST);
	ext[3] = 0;
	n = mk6(f, false, cli, srv, 40000, 53, 43, ext, 8, dns_q, sizeof(dns_q));
	EXPECT(f, n, DP_ACT_DNS, DP_R_DNS);
}

static size_t mk_arp(uint8_t *f, bool vlan, uint16_t op, const char *spa, const char *tpa)
{
	size_t o = mk_eth(f, vlan, 0x0806);
	memset(f, 0xff, 6);
	uint8_t *a = f + o;
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, cli_mac, 6);
	inet_pton(AF_INET, spa, a + 14);
	memset(a + 18, 0, 6);
	inet_pton(AF_INET, tpa, a + 24);
	memset(a + 28, 0, 18); /* padding to 60 */
	return o + 28 + 18 > 60 ? o + 46 : 60;
}

static void test_arp(void)
{
	uint8_t f[128];
	struct dp_pkt p;
	size_t n = mk_arp(f, true, 1, "198.51.100.7", "203.0.113.53");

	CHECK_EQ(cls(f, n, &p), DP_ACT_ARP);
	CHECK_EQ(p.svc_idx, 1);
	CHECK_EQ(dp_reply_arp(&svc, f, &p, n), n);
	const uint8_t *a = f + 18;
	CHECK(memcmp(f, cli_mac, 6) == 0);
	CHECK(memcmp(f + 6, our_mac, 6) == 0);
	CHECK_EQ(get16(f + 12), 0x8100);
	CHECK_EQ(get16(a + 6), 2);
	CHECK(memcmp(a + 8, our_mac, 6) == 0);
	CHECK(memcmp(a + 14, svc.v4[1], 4) == 0);
	CHECK(memcmp(a + 18, cli_mac, 6) == 0);
	uint8_t c[4];
	inet_pton(AF_INET, "198.51.100.7", c);
	CHECK(memcmp(a + 24, c, 4) == 0);

	n = mk_arp(f, false, 1, "198.51.100.7", "198.51.100.1");
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_NON_IP);
	n = mk_arp(f, false, 2, "198.51.100.7", "192.0.2.53");
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_NON_IP);
	n = mk_arp(f, false, 1, "198.51.100.7", "192.0.2.53");
	EXPECT(f, 14 + 27, DP_ACT_DROP, DP_R_ARP_BAD);
	f[14 + 5] = 16;
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_NON_IP);
}

/* NS for target, from src to dst, optional SLLA option. */
static size_t mk_ns(uint8_t *f, const char *src, const char *dst, const char *target, bool slla,
		    uint8_t hlim)
{
	size_t o = mk_eth(f, false, 0x86dd);
	uint8_t *ip = f + o;
	size_t il = slla ? 32 : 24;
	memset(ip, 0, 40 + il);
	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)il);
	ip[6] = 58;
	ip[7] = hlim;
	inet_pton(AF_INET6, src, ip + 8);
	inet_pton(AF_INET6, dst, ip + 24);
	uint8_t *c = ip + 40;
	c[0] = 135;
	inet_pton(AF_INET6, target, c + 8);
	if (slla) {
		c[24] = 1;
		c[25] = 1;
		memcpy(c + 26, cli_mac, 6);
	}
	put16(c + 2, l4_csum(6, ip, c, il, 58));
	/* Ethernet destination: the solicited-node group MAC. */
	f[0] = 0x33;
	f[1] = 0x33;
	memcpy(f + 2, ip + 36, 4);
	return o + 40 + il;
}

static void test_nd(void)
{
	uint8_t f[256];
	struct dp_pkt p;
	const char *cli = "fe80::c1";
	size_t n = mk_ns(f, cli, "ff02::1:ff00:53", "2001:db8::53", true, 255);

	CHECK_EQ(cls(f, n, &p), DP_ACT_ND);
	size_t r = dp_reply_na(&svc, f, &p, sizeof(f));
	CHECK_EQ(r, 14 + 40 + 32);
	uint8_t *ip = f + 14, *c = ip + 40, a[16];
	CHECK(memcmp(f, cli_mac, 6) == 0);
	CHECK_EQ(ip[7], 255);
	CHECK_EQ(ip[6], 58);
	CHECK(memcmp(ip + 8, svc.v6[0], 16) == 0);
	inet_pton(AF_INET6, cli, a);
	CHECK(memcmp(ip + 24, a, 16) == 0);
	CHECK_EQ(c[0], 136);
	CHECK_EQ(c[4], 0x60);
	CHECK(memcmp(c + 8, svc.v6[0], 16) == 0);
	CHECK_EQ(c[24], 2);
	CHECK(memcmp(c + 26, our_mac, 6) == 0);
	CHECK_EQ(l4_csum(6, ip, c, 32, 58), 0);
	CHECK_EQ(dp_reply_na(&svc, f, &p, 14 + 40 + 31), 0);

	/* Unicast NS (neighbour unreachability detection) to the address. */
	n = mk_ns(f, cli, "2001:db8::53", "2001:db8::53", false, 255);
	memcpy(f, our_mac, 6);
	EXPECT(f, n, DP_ACT_ND, DP_R_ND);
	/* DAD probe: answered to all-nodes. */
	n = mk_ns(f, "::", "ff02::1:ff00:53", "2001:db8::53", false, 255);
	CHECK_EQ(cls(f, n, &p), DP_ACT_ND);
	dp_reply_na(&svc, f, &p, sizeof(f));
	CHECK_EQ(f[0], 0x33);
	CHECK_EQ(f[14 + 24], 0xff);
	CHECK_EQ(f[14 + 40 + 4], 0x20);
	/* DAD with a source link-layer option is invalid. */
	n = mk_ns(f, "::", "ff02::1:ff00:53", "2001:db8::53", true, 255);
	EXPECT(f, n, DP_ACT_DROP, DP_R_ND_BAD);

	n = mk_ns(f, cli, "ff02::1:ff00:53", "2001:db8::53", true, 64);
	EXPECT(f, n, DP_ACT_DROP, DP_R_ND_BAD);
	n = mk_ns(f, cli, "ff02::1:ff00:53", "2001:db8::53", true, 255);
	f[n - 1] ^= 1;
	EXPECT(f, n, DP_ACT_DROP, DP_R_ND_BAD);
	n = mk_ns(f, cli, "ff02::1:ff00:53", "2001:db8::53", true, 255);
	f[14 + 40 + 25] = 0; /* zero-length option */
	put16(f + 14 + 40 + 2, 0);
	put16(f + 14 + 40 + 2, l4_csum(6, f + 14, f + 54, 32, 58));
	EXPECT(f, n, DP_ACT_DROP, DP_R_ND_BAD);
	n = mk_ns(f, cli, "ff02::1:ff00:53", "2001:db8::53", true, 255);
	EXPECT(f, 14 + 40 + 20, DP_ACT_DROP, DP_R_IP_HDR);
	put16(f + 18, 20);
	EXPECT(f, 14 + 40 + 20, DP_ACT_DROP, DP_R_ND_BAD);
	/* Not our target, or a group that is not the target's. */
	n = mk_ns(f, cli, "ff02::1:ff00:54", "2001:db8::54", true, 255);
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_OTHER_DST);
	n = mk_ns(f, cli, "ff02::1:ff00:54", "2001:db8::53", true, 255);
	EXPECT(f, n, DP_ACT_KERNEL, DP_R_K_OTHER_DST);
}

/* Every prefix of every good frame, and random corruption: no outcome may
 * read outside the frame (ASan) and every result is a known action. */
static void test_robust(void)
{
	uint8_t frames[6][256], g[256];
	size_t lens[6];
	uint8_t ext[16] = {17};

	lens[0] =
	    mk4(frames[0], false, "198.51.100.7", "192.0.2.53", 4000, 53, 12, dns_q, sizeof(dns_q));
	lens[1] =
	    mk4(frames[1], true, "198.51.100.7", "192.0.2.53", 4000, 53, 0, dns_q, sizeof(dns_q));
	lens[2] = mk6(frames[2], true, "2001:db8:1::7", "2001:db8::53", 4000, 53, 60, ext, 8, dns_q,
		      sizeof(dns_q));
	lens[3] = mk_arp(frames[3], false, 1, "198.51.100.7", "192.0.2.53");
	lens[4] = mk_ns(frames[4], "fe80::1", "ff02::1:ff00:53", "2001:db8::53", true, 255);
	lens[5] = mk6(frames[5], false, "2001:db8:1::7", "2001:db8::53", 4000, 53, 17, NULL, 0,
		      dns_q, sizeof(dns_q));
	int bad = 0;
	for (int i = 0; i < 6; i++)
		for (size_t l = 0; l <= lens[i]; l++) {
			struct dp_pkt p;
			int a = cls(frames[i], l, &p);
			if (a < DP_ACT_DROP || a > DP_ACT_ND || p.reason >= DP_R__COUNT)
				bad++;
		}
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int it = 0; it < 200000; it++) {
		int i = it % 6;
		memcpy(g, frames[i], lens[i]);
		for (int k = 0; k < 3; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			g[x % lens[i]] = (uint8_t)(x >> 32);
		}
		struct dp_pkt p;
		int a = cls(g, lens[i], &p);
		if (a < DP_ACT_DROP || a > DP_ACT_ND || p.reason >= DP_R__COUNT)
			bad++;
		/* Replies stay within bounds too. */
		if (a == DP_ACT_DNS)
			dp_reply_dns(&svc, g, &p, p.pl_len, 0);
		else if (a == DP_ACT_ND)
			dp_reply_na(&svc, g, &p, sizeof(g));
	}
	CHECK_EQ(bad, 0);
}

int main(void)
{
	dp_svc_init(&svc);
	memcpy(svc.mac, our_mac, 6);
	dp_svc_add_addr(&svc, "192.0.2.53");
	dp_svc_add_addr(&svc, "203.0.113.53");
	dp_svc_add_addr(&svc, "2001:db8::53");

	test_svc();
	test_csum();
	test_ipv4();
	test_ipv6();
	test_arp();
	test_nd();
	test_robust();
	for (int r = 0; r < DP_R__COUNT; r++)
		CHECK(strcmp(dp_reason_name((enum dp_reason)r), "?") != 0);
	return check_report("test_pkt");
}
