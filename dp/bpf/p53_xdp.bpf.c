// SPDX-License-Identifier: BSD-2-Clause
/*
 * port53's XDP program for AF_XDP mode.
 *
 * A node whose NIC stays with the kernel runs port53d on DPDK's net_af_xdp
 * PMD. This program sits in front of the kernel stack on that NIC and steers
 * exactly one kind of frame to the AF_XDP socket of the receiving queue:
 * UDP to the service port (53) whose destination address is one of the
 * configured service addresses. Everything else (ARP, neighbour discovery,
 * TCP/53, ICMP, BGP, SSH, DNS to other addresses, fragments, anything we do
 * not fully understand) is XDP_PASS, so the host keeps working as if the
 * program were not there.
 *
 * The PMD loads this object itself (xdp_prog=<path>) and inserts its sockets
 * into the map named "xsks_map". The service addresses are written into
 * p53_svc4 / p53_svc6 afterwards by dp/xdp_load.c, which finds the maps
 * through the program attached to the interface. Until they are written the
 * maps are empty and every frame goes to the kernel: failing open towards
 * the host stack is the safe default.
 *
 * The program redirects no more than port53d's parser (dp/pkt.c) answers, since
 * in AF_XDP mode a redirected frame has no way back to the kernel: one 802.1Q
 * tag, IPv4 with options, IPv6 with up to four hop-by-hop / routing /
 * destination-options headers; fragments, AH, QinQ go to the kernel.
 *
 * VLAN: a tag carried in the frame is skipped, so tagged service traffic is
 * matched on the inner addresses. A NIC that strips
 * the tag in hardware (rx-vlan-offload) hands us an untagged frame and the tag
 * is lost for port53d as well; turn that offload off when VLANs are in use.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "p53_xdp.h"

/* Not in every UAPI header set; the values are fixed by IEEE / IANA. */
#define P53_ETH_P_8021Q 0x8100
#define P53_IP_MF	0x2000
#define P53_IP_OFFSET	0x1FFF

/* IPv6 next-header values that announce another extension header. */
#define P53_NH_HOPOPTS	0
#define P53_NH_ROUTING	43
#define P53_NH_FRAGMENT 44
#define P53_NH_AUTH	51
#define P53_NH_DSTOPTS	60

/* A query carries no extension headers in practice; walk a few and give the
 * rest to the kernel rather than spend verifier budget on pathological chains. */
#define P53_MAX_EXTHDR 4

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, P53_XDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

/* Service IPv4 addresses, key in network order; the value is unused (1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, P53_XDP_MAX_ADDRS);
	__type(key, __u32);
	__type(value, __u32);
} p53_svc4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, P53_XDP_MAX_ADDRS);
	__type(key, struct p53_xdp_in6);
	__type(value, __u32);
} p53_svc6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct p53_xdp_cfg);
} p53_cfg SEC(".maps");

/* Per-CPU so that counting never bounces a cache line between queues. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, P53_XDP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} p53_stats SEC(".maps");

struct p53_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* First four bytes of hop-by-hop, routing and destination options headers;
 * segments_left only means something in a routing header. */
struct p53_ext_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
	__u8 routing_type;
	__u8 segments_left;
};

static __always_inline int count(__u32 idx, int action)
{
	__u64 *c = bpf_map_lookup_elem(&p53_stats, &idx);

	if (c)
		*c += 1;
	return action;
}

/* A NOTIFY request, when the secondary wants them: the DNS header's third
 * byte holds QR and the opcode. */
static __always_inline int is_notify(const struct udphdr *udp, void *end, __u32 flags)
{
	const __u8 *dns = (const __u8 *)(udp + 1);

	if (!(flags & P53_XDP_F_PASS_NOTIFY) || (void *)(dns + 3) > end)
		return 0;
	return (dns[2] & 0xf8) == 0x20;
}

static __always_inline int to_socket(struct xdp_md *ctx)
{
	/* The low bits of the flags are what the helper returns when no socket
	 * sits at this queue index, so an unbound queue degrades to the kernel
	 * path instead of dropping DNS on the floor. */
	long act = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);

	if (act == XDP_REDIRECT)
		return count(P53_XDP_REDIRECT, XDP_REDIRECT);
	return count(P53_XDP_NO_XSK, (int)act);
}

SEC("xdp")
int p53_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct p53_xdp_cfg *cfg;
	struct udphdr *udp;
	__u32 zero = 0, flags = 0;
	__u16 port_be = bpf_htons(53);
	__u16 proto;
	__u64 off;

	if ((void *)(eth + 1) > end)
		return count(P53_XDP_PASS_MALFORMED, XDP_PASS);
	proto = eth->h_proto;
	off = sizeof(*eth);

	/* One 802.1Q tag, as port53d parses; nested tags (QinQ) go to the
	 * kernel because the data plane would not answer them anyway. */
	if (proto == bpf_htons(P53_ETH_P_8021Q)) {
		struct p53_vlan_hdr *vh = data + off;

		if ((void *)(vh + 1) > end)
			return count(P53_XDP_PASS_MALFORMED, XDP_PASS);
		proto = vh->proto;
		off += sizeof(*vh);
	}

	cfg = bpf_map_lookup_elem(&p53_cfg, &zero);
	if (cfg) {
		if (cfg->port_be)
			port_be = cfg->port_be;
		flags = cfg->flags;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;
		__u32 ihl;

		if ((void *)(ip + 1) > end)
			return count(P53_XDP_PASS_MALFORMED, XDP_PASS);
		ihl = ip->ihl * 4;
		if (ip->version != 4 || ihl < sizeof(*ip))
			return count(P53_XDP_PASS_MALFORMED, XDP_PASS);
		if (ip->protocol != IPPROTO_UDP)
			return count(P53_XDP_PASS_NOT_UDP, XDP_PASS);
		/* Never let a fragment reach the data plane: it cannot answer
		 * from part of a datagram, and the kernel can reassemble. */
		if (ip->frag_off & bpf_htons(P53_IP_MF | P53_IP_OFFSET))
			return count(P53_XDP_PASS_FRAG, XDP_PASS);
		udp = data + off + ihl;
		if ((void *)(udp + 1) > end)
			return count(P53_XDP_PASS_MALFORMED, XDP_PASS);
		if (udp->dest != port_be)
			return count(P53_XDP_PASS_PORT, XDP_PASS);
		if (!(flags & P53_XDP_F_ANY_ADDR)) {
			__u32 daddr = ip->daddr;

			if (!bpf_map_lookup_elem(&p53_svc4, &daddr))
				return count(P53_XDP_PASS_ADDR, XDP_PASS);
		}
		if (is_notify(udp, end, flags))
			return count(P53_XDP_PASS_NOTIFY, XDP_PASS);
		return to_socket(ctx);
	}

	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;
		struct p53_xdp_in6 daddr;
		__u8 nh;

		if ((void *)(ip6 + 1) > end)
			return count(P53_XDP_PASS_MALFORMED, XDP_PASS);
		if (ip6->version != 6)
			return count(P53_XDP_PASS_MALFORMED, XDP_PASS);
		nh = ip6->nexthdr;
		off += sizeof(*ip6);

		/* Walk the headers port53d walks (hop-by-hop first, routing,
		 * destination options); a fragment, AH, a routing header with
		 * segments left (we are not the final destination) or a chain
		 * longer than P53_MAX_EXTHDR is the kernel's to handle. */
#pragma unroll
		for (int i = 0; i < P53_MAX_EXTHDR; i++) {
			struct p53_ext_hdr *eh = data + off;

			if (nh == P53_NH_FRAGMENT)
				return count(P53_XDP_PASS_FRAG, XDP_PASS);
			if (nh != P53_NH_HOPOPTS && nh != P53_NH_ROUTING && nh != P53_NH_DSTOPTS)
				break;
			if (nh == P53_NH_HOPOPTS && i != 0)
				return count(P53_XDP_PASS_MALFORMED, XDP_PASS);
			if ((void *)(eh + 1) > end)
				return count(P53_XDP_PASS_MALFORMED, XDP_PASS);
			if (nh == P53_NH_ROUTING && eh->segments_left != 0)
				return count(P53_XDP_PASS_EXTHDR, XDP_PASS);
			nh = eh->nexthdr;
			off += ((__u64)eh->hdrlen + 1) * 8;
		}
		if (nh == P53_NH_HOPOPTS || nh == P53_NH_ROUTING || nh == P53_NH_DSTOPTS ||
		    nh == P53_NH_AUTH || nh == P53_NH_FRAGMENT)
			return count(P53_XDP_PASS_EXTHDR, XDP_PASS);
		if (nh != IPPROTO_UDP)
			return count(P53_XDP_PASS_NOT_UDP, XDP_PASS);
		udp = data + off;
		if ((void *)(udp + 1) > end)
			return count(P53_XDP_PASS_MALFORMED, XDP_PASS);
		if (udp->dest != port_be)
			return count(P53_XDP_PASS_PORT, XDP_PASS);
		if (!(flags & P53_XDP_F_ANY_ADDR)) {
			__builtin_memcpy(daddr.a, &ip6->daddr, sizeof(daddr.a));
			if (!bpf_map_lookup_elem(&p53_svc6, &daddr))
				return count(P53_XDP_PASS_ADDR, XDP_PASS);
		}
		if (is_notify(udp, end, flags))
			return count(P53_XDP_PASS_NOTIFY, XDP_PASS);
		return to_socket(ctx);
	}

	return count(P53_XDP_PASS_NOT_IP, XDP_PASS);
}

/* bpf_redirect_map and per-CPU maps need no GPL helpers; the licence string
 * still has to be one the kernel accepts, and the project's licence is BSD. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
