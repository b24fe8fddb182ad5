/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * User-space side of port53's XDP program (dp/bpf/p53_xdp.bpf.c).
 *
 * In AF_XDP mode DPDK's net_af_xdp PMD loads and attaches the program itself
 * (devarg xdp_prog=PATH) and fills "xsks_map" with its sockets. What it cannot
 * know is which addresses are ours: that is what this module writes. It finds
 * the program attached to the interface, opens its maps by name and fills the
 * service-address maps. No DPDK dependency, only libbpf, so the CLI
 * (p53-xdp) and the tests use the same code as port53d.
 *
 * Call order in port53d: rte_eth_dev_configure, rx/tx queue setup (the PMD
 * attaches the program during RX queue setup), rte_eth_dev_start, then
 * dp_xdp_open + dp_xdp_add_addr for every service address. Until then the
 * program passes all traffic to the kernel, which is harmless.
 *
 * Functions return 0 or a negative errno and never print: messages are the
 * caller's business (strerror(-rc)).
 */
#ifndef DP_XDP_LOAD_H
#define DP_XDP_LOAD_H

#include <stdint.h>

#include "dp/bpf/p53_xdp.h"

struct dp_xdp {
	int ifindex;
	uint32_t prog_id;
	int fd_prog;
	int fd_svc4;
	int fd_svc6;
	int fd_cfg;
	int fd_stats;
	int fd_xsks;
};

/*
 * Attach the program in OBJ_PATH to IFNAME (for kernel-only use, tests and the
 * CLI; port53d leaves this to the PMD). skb_mode forces generic XDP. Fails with
 * -EEXIST if another program is attached. The attachment outlives the process.
 */
int dp_xdp_attach_file(const char *ifname, const char *obj_path, int skb_mode);

/* Detach whatever XDP program is attached to IFNAME (any mode). */
int dp_xdp_detach(const char *ifname);

/*
 * Open the maps of the p53_xdp program attached to IFNAME. -ENOENT when no
 * program is attached, -EPROTO when the attached program is not ours (or is
 * from an incompatible build: map sizes are checked).
 */
int dp_xdp_open(struct dp_xdp *x, const char *ifname);
void dp_xdp_close(struct dp_xdp *x);

/* AF is AF_INET (ADDR: 4 bytes, network order) or AF_INET6 (16 bytes). */
int dp_xdp_add_addr(struct dp_xdp *x, int af, const void *addr);
int dp_xdp_del_addr(struct dp_xdp *x, int af, const void *addr);
/* Text form, either family: "192.0.2.53" or "2001:db8::53". */
int dp_xdp_add_addr_str(struct dp_xdp *x, const char *text);
/* Remove every service address of both families. */
int dp_xdp_clear_addrs(struct dp_xdp *x);

/* Calls CB for every configured address; AF and ADDR as for dp_xdp_add_addr. */
int dp_xdp_foreach_addr(struct dp_xdp *x, void (*cb)(int af, const void *addr, void *arg),
			void *arg);

/* PORT in host order (0 means 53); FLAGS are P53_XDP_F_*. */
int dp_xdp_set_config(struct dp_xdp *x, uint16_t port, uint32_t flags);
int dp_xdp_get_config(struct dp_xdp *x, uint16_t *port, uint32_t *flags);

/* Sums the per-CPU counters into OUT[P53_XDP_STAT_MAX]. */
int dp_xdp_read_stats(struct dp_xdp *x, uint64_t out[P53_XDP_STAT_MAX]);
/* Short stable name of a counter ("redirect", "pass_not_ip", ...). */
const char *dp_xdp_stat_name(unsigned int idx);

#endif
