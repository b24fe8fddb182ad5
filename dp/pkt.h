/* L2-L4 for the data plane: classify a received frame and rewrite it in place
 * into a reply (DNS over UDP, ARP reply, IPv6 neighbour advertisement).
 *
 * This module works on a plain byte buffer and knows nothing of DPDK, so the
 * unit tests drive it with hand-made frames. Every read of frame bytes is
 * bounds-checked against the frame length; nothing here allocates, locks or
 * loops without a bound. The worker (worker.c) owns the mbufs and calls in.
 *
 * Frame layout handled:
 *   Ethernet [802.1Q tag] (ARP | IPv4 [options] | IPv6 [ext headers]) [UDP|ICMPv6]
 * Replies keep the VLAN tag and are built without IPv4 options or IPv6
 * extension headers (the DNS payload is moved down when the query had them).
 */
#ifndef DP_PKT_H
#define DP_PKT_H

#include "zones/common/portset.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_MAX_ADDRS	16 /* service addresses per family */
#define DP_MAX_EXT_HDRS 4  /* IPv6 extension headers walked before giving up */
#define DP_ETH_HLEN	14
#define DP_VLAN_HLEN	4
#define DP_IP4_HLEN	20
#define DP_IP6_HLEN	40
#define DP_UDP_HLEN	8
#define DP_DNS_PORT	53
#define DP_DEFAULT_MTU	1500

/* What the node serves: the same for every worker, read-only once running. */
struct dp_svc {
	uint8_t mac[6]; /* source MAC of everything we send; ARP/NA answer with it */
	uint8_t n4, n6;
	uint8_t v4[DP_MAX_ADDRS][4];
	uint8_t v6[DP_MAX_ADDRS][16];
	uint16_t mtu;		       /* L3 MTU of the ports; bounds reply size */
	struct p53_portset drop_sport; /* DNS from these source ports is dropped */
};

void dp_svc_init(struct dp_svc *svc);
/* Adds a service address ("192.0.2.53" or "2001:db8::53"). 0 or P53_E*. */
int dp_svc_add_addr(struct dp_svc *svc, const char *text);
/* Replaces the reflection drop list with a comma-separated list of ports and
 * ranges ("0,7,19,1024-1030"); "" or "none" clears it. 0 or P53_EINVAL. */
int dp_svc_set_drop_ports(struct dp_svc *svc, const char *list);

static inline bool dp_svc_sport_dropped(const struct dp_svc *svc, uint16_t port)
{
	return p53_portset_has(&svc->drop_sport, port);
}

/* What to do with a frame. */
enum dp_action {
	DP_ACT_DROP,   /* free it; reason says why */
	DP_ACT_KERNEL, /* hand to the exception path (or drop when there is none) */
	DP_ACT_DNS,    /* UDP/53 to a service address: answer it */
	DP_ACT_ARP,    /* ARP request for a service address */
	DP_ACT_ND,     /* neighbour solicitation for a service address */
};

/* Why: one counter each. The first block goes with DP_ACT_DROP, the second
 * with DP_ACT_KERNEL, the last with the answering actions. */
enum dp_reason {
	DP_R_RUNT,	/* shorter than Ethernet (+VLAN) header */
	DP_R_L2_SRC,	/* multicast/broadcast source MAC */
	DP_R_L2_DST,	/* unicast to a MAC that is not ours */
	DP_R_IP_HDR,	/* bad version, IHL, total/payload length beyond frame */
	DP_R_IP_CKSUM,	/* bad IPv4 header checksum */
	DP_R_UDP_LEN,	/* UDP header truncated or length != IP payload */
	DP_R_UDP_CKSUM, /* bad UDP checksum (or zero over IPv6) */
	DP_R_SRC_ADDR,	/* martian source: multicast, broadcast, loopback, unspecified, ours */
	DP_R_SRC_PORT,	/* source port 0 or on the reflection drop list */
	DP_R_EXT_CHAIN, /* IPv6 extension chain too long or truncated */
	DP_R_ND_BAD,	/* NS for us that fails RFC 4861 validity checks */
	DP_R_ARP_BAD,	/* ARP for us with bad lengths */
	DP_R__DROP_END,
	DP_R_K_NON_IP = DP_R__DROP_END, /* ARP not for us, LLDP, QinQ, ... */
	DP_R_K_OTHER_DST,		/* IP to an address we do not serve */
	DP_R_K_FRAG,			/* IPv4 fragment or IPv6 fragment header */
	DP_R_K_NOT_DNS,			/* to a service address but not UDP/53 */
	DP_R__KERNEL_END,
	DP_R_DNS = DP_R__KERNEL_END,
	DP_R_ARP,
	DP_R_ND,
	DP_R__COUNT
};
const char *dp_reason_name(enum dp_reason r);

/* Hardware checksum verdicts the caller may pass in (from the NIC). */
enum {
	DP_RX_IP_GOOD = 1 << 0,
	DP_RX_IP_BAD = 1 << 1,
	DP_RX_L4_GOOD = 1 << 2,
	DP_RX_L4_BAD = 1 << 3,
};

/* The parse result: offsets into the frame, valid for the action returned. */
struct dp_pkt {
	uint8_t action; /* enum dp_action */
	uint8_t reason; /* enum dp_reason */
	uint8_t family; /* 4 or 6 */
	uint8_t vlan;	/* 1 when an 802.1Q tag precedes the L3 header */
	uint16_t l3_off;
	uint16_t l4_off;
	uint16_t pl_off; /* DNS message (UDP payload) or ICMPv6 body offset */
	uint16_t pl_len;
	uint16_t sport;	 /* host order */
	uint8_t svc_idx; /* which service address was hit (ARP/ND target, DNS dst) */
};

/* Classifies frame (len bytes, len >= what the NIC wrote). rx_flags is a mask
 * of DP_RX_*; pass 0 to verify checksums in software. Fills *p and returns
 * p->action. Never writes to the frame. */
enum dp_action dp_classify(const struct dp_svc *svc, const uint8_t *frame, size_t len,
			   unsigned rx_flags, struct dp_pkt *p);

/* Reply options. */
enum {
	DP_TX_CSUM_OFFLOAD = 1 << 0, /* leave IPv4 csum 0 and UDP csum = pseudo-header sum */
};

/* Turns a classified DP_ACT_DNS frame into the reply, the DNS response
 * (dns_len bytes) being already at p->pl_off: swaps MACs (source = svc->mac),
 * addresses and ports, rebuilds IPv4/IPv6 and UDP headers without options or
 * extension headers, moves the payload down when needed, fills lengths and
 * checksums. Returns the new frame length. */
size_t dp_reply_dns(const struct dp_svc *svc, uint8_t *frame, const struct dp_pkt *p,
		    size_t dns_len, unsigned tx_flags);
/* The room the DNS response may take when written at p->pl_off, given
 * bufcap bytes of buffer from the frame start: bounded by buffer and MTU. */
size_t dp_dns_room(const struct dp_svc *svc, const struct dp_pkt *p, size_t bufcap);

/* ARP request -> ARP reply in place. Returns the frame length (unchanged). */
size_t dp_reply_arp(const struct dp_svc *svc, uint8_t *frame, const struct dp_pkt *p, size_t len);
/* Neighbour solicitation -> neighbour advertisement in place; the frame needs
 * bufcap >= p->l3_off + 72. Returns the new frame length, 0 if no room. */
size_t dp_reply_na(const struct dp_svc *svc, uint8_t *frame, const struct dp_pkt *p, size_t bufcap);

/* One's-complement sum helpers, exposed for the tests and the offload path. */
uint32_t dp_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t dp_csum_fold(uint32_t sum);

#endif
