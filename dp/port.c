/* Ethdev configuration. Only what dev_info reports is asked for, so the same
 * code drives a physical NIC, net_af_xdp, net_tap and net_pcap. */
#include "dp/port.h"
#include "dp/pkt.h"

#include <rte_ethdev.h>
#include <rte_mempool.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif

#define RX_DESC 1024
#define TX_DESC 1024

/* Descriptors scanned: enough for a few hundred queues' sockets. */
#define FD_SCAN_MAX 4096

/* Whether fd is a queue a worker can poll(): an AF_XDP socket or a tun
 * queue (/dev/net/tun, char 10:200). */
static bool queue_fd(int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return false;
	if (S_ISCHR(st.st_mode))
		return major(st.st_rdev) == 10 && minor(st.st_rdev) == 200;
	if (!S_ISSOCK(st.st_mode))
		return false;
	int dom = 0;
	socklen_t len = sizeof(dom);
	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) == 0 && dom == AF_XDP;
}

/* The open queue descriptors, as a bitmap of FD_SCAN_MAX bits. */
static void fd_scan(uint64_t *set)
{
	memset(set, 0, FD_SCAN_MAX / 8);
	DIR *dir = opendir("/proc/self/fd");
	if (!dir)
		return;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end || end == e->d_name || fd < 0 || fd >= FD_SCAN_MAX || fd == dirfd(dir))
			continue;
		if (queue_fd((int)fd))
			set[fd / 64] |= 1ULL << (fd % 64);
	}
	closedir(dir);
}

/* The one queue descriptor in after and not in before, or -1 (none, or
 * several: nothing to tell them apart by). */
static int fd_new(const uint64_t *before, const uint64_t *after)
{
	int found = -1;
	for (int i = 0; i < FD_SCAN_MAX / 64; i++) {
		uint64_t d = after[i] & ~before[i];
		while (d) {
			if (found >= 0)
				return -1;
			found = i * 64 + __builtin_ctzll(d);
			d &= d - 1;
		}
	}
	return found;
}

uint16_t dp_port_max_queues(uint16_t id)
{
	struct rte_eth_dev_info di;
	if (rte_eth_dev_info_get(id, &di) != 0)
		return 0;
	return di.max_rx_queues < di.max_tx_queues ? di.max_rx_queues : di.max_tx_queues;
}

int dp_port_setup(uint16_t id, uint16_t nq, struct rte_mempool *mp, bool promisc,
		  struct dp_port *out, char *err, size_t errlen)
{
	struct rte_eth_dev_info di;
	struct rte_eth_conf conf;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&conf, 0, sizeof(conf));
	out->id = id;
	for (unsigned q = 0; q < DP_PORT_FD_QUEUES; q++)
		out->rx_fd[q] = -1;
	rte_eth_dev_get_name_by_port(id, out->name);
	rc = rte_eth_dev_info_get(id, &di);
	if (rc != 0) {
		snprintf(err, errlen, "port %u: dev_info: %s", id, rte_strerror(-rc));
		return rc;
	}
	snprintf(out->driver, sizeof(out->driver), "%s", di.driver_name);
	uint16_t maxq = dp_port_max_queues(id);
	if (nq > maxq)
		nq = maxq;
	if (nq == 0) {
		snprintf(err, errlen, "port %u (%s): no queues", id, out->name);
		return -EINVAL;
	}
	out->nq = nq;

	/* RSS on addresses and UDP ports keeps a client on one worker. */
	uint64_t rss = (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & di.flow_type_rss_offloads;
	if (nq > 1 && rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss;
		out->rss = true;
	}
	uint64_t rx_want = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
	if ((di.rx_offload_capa & rx_want) == rx_want) {
		conf.rxmode.offloads |= rx_want;
		out->rx_csum = true;
	}
	uint64_t tx_want = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
	if ((di.tx_offload_capa & tx_want) == tx_want) {
		conf.txmode.offloads |= tx_want;
		out->tx_flags |= DP_TX_CSUM_OFFLOAD;
	}
	/* One pool, refcount 1 everywhere: the PMD may free to it directly. */
	if (di.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;

	rc = rte_eth_dev_configure(id, nq, nq, &conf);
	if (rc != 0) {
		snprintf(err, errlen, "port %u (%s): configure: %s", id, out->name,
			 rte_strerror(-rc));
		return rc;
	}
	uint16_t nrx = RX_DESC, ntx = TX_DESC;
	rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrx, &ntx);
	int socket = rte_eth_dev_socket_id(id);
	if (socket < 0)
		socket = (int)rte_socket_id();
	struct rte_eth_rxconf rxc = di.default_rxconf;
	struct rte_eth_txconf txc = di.default_txconf;
	rxc.offloads = conf.rxmode.offloads;
	txc.offloads = conf.txmode.offloads;
	/* ethdev hides a queue's descriptor; the PMDs that have one (AF_XDP,
	 * tap) open it when the RX queue is set up, so it is the queue
	 * descriptor that appears across that call. */
	uint64_t before[FD_SCAN_MAX / 64], after[FD_SCAN_MAX / 64];
	for (uint16_t q = 0; q < nq; q++) {
		if (q < DP_PORT_FD_QUEUES)
			fd_scan(before);
		rc = rte_eth_rx_queue_setup(id, q, nrx, (unsigned)socket, &rxc, mp);
		if (rc == 0 && q < DP_PORT_FD_QUEUES) {
			fd_scan(after);
			out->rx_fd[q] = fd_new(before, after);
		}
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(id, q, ntx, (unsigned)socket, &txc);
		if (rc != 0) {
			snprintf(err, errlen, "port %u (%s): queue %u: %s", id, out->name, q,
				 rte_strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_dev_start(id);
	if (rc != 0) {
		snprintf(err, errlen, "port %u (%s): start: %s", id, out->name, rte_strerror(-rc));
		return rc;
	}
	/* Not every PMD has a promiscuous mode (pcap does not need one). */
	if (promisc)
		rte_eth_promiscuous_enable(id);
	struct rte_ether_addr mac;
	if (rte_eth_macaddr_get(id, &mac) == 0)
		memcpy(out->mac, mac.addr_bytes, 6);
	return 0;
}

void dp_port_close(uint16_t id)
{
	rte_eth_dev_stop(id);
	rte_eth_dev_close(id);
}
