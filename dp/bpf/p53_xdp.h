/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Shared between the XDP program (p53_xdp.bpf.c, built for the BPF target) and
 * its user-space side (dp/xdp_load.c). Only fixed-width kernel UAPI types here,
 * so the same layout holds on both sides of the map boundary.
 */
#ifndef P53_XDP_H
#define P53_XDP_H

#include <linux/types.h>

/*
 * Map names as the kernel reports them (BPF_OBJ_NAME_LEN is 16 with the NUL,
 * so every name stays within 15 characters). "xsks_map" is the name DPDK's
 * net_af_xdp PMD looks up when it is given xdp_prog=; do not rename it.
 */
#define P53_XDP_MAP_XSKS  "xsks_map"
#define P53_XDP_MAP_SVC4  "p53_svc4"
#define P53_XDP_MAP_SVC6  "p53_svc6"
#define P53_XDP_MAP_CFG	  "p53_cfg"
#define P53_XDP_MAP_STATS "p53_stats"
#define P53_XDP_PROG_NAME "p53_xdp"

/* AF_XDP sockets are keyed by the netdev RX queue index they are bound to. */
#define P53_XDP_MAX_QUEUES 256
/* Service addresses per family: anycast nodes carry a handful, not thousands. */
#define P53_XDP_MAX_ADDRS 256

/* p53_cfg flags */
/* Redirect UDP to the service port whatever the destination address. */
#define P53_XDP_F_ANY_ADDR 0x1u
/* Pass NOTIFY (QR clear, opcode 4) to the kernel, where a secondary's
 * control side takes it (ctrl/xfr/notifyd.c). */
#define P53_XDP_F_PASS_NOTIFY 0x2u

/* Value of the single p53_cfg entry (key 0). All zero means "port 53, match
 * the address maps", so a program whose config was never written behaves. */
struct p53_xdp_cfg {
	__u16 port_be; /* UDP destination port, network order; 0 means 53 */
	__u16 pad;
	__u32 flags; /* P53_XDP_F_* */
};

/* Key of p53_svc6: the raw 16 address bytes as they appear on the wire. */
struct p53_xdp_in6 {
	__u8 a[16];
};

/* Indexes into the per-CPU p53_stats array. Every frame lands in exactly one. */
enum p53_xdp_stat {
	P53_XDP_REDIRECT = 0,	/* handed to the AF_XDP socket */
	P53_XDP_NO_XSK,		/* matched, but no socket on this queue: passed */
	P53_XDP_PASS_NOT_IP,	/* ARP, LLDP, anything not IPv4/IPv6: passed */
	P53_XDP_PASS_NOT_UDP,	/* TCP, ICMP, ...: passed */
	P53_XDP_PASS_PORT,	/* UDP to another port: passed */
	P53_XDP_PASS_ADDR,	/* UDP/53 to an address that is not ours: passed */
	P53_XDP_PASS_FRAG,	/* IP fragments: the kernel reassembles them */
	P53_XDP_PASS_EXTHDR,	/* IPv6 extension chain too long to walk: passed */
	P53_XDP_PASS_MALFORMED, /* truncated or inconsistent headers: passed */
	P53_XDP_PASS_NOTIFY,	/* NOTIFY for the secondary (P53_XDP_F_PASS_NOTIFY) */
	P53_XDP_STAT_MAX,
};

#endif
