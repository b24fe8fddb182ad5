/* Port setup: configure an ethdev with one RX and one TX queue per worker,
 * trimmed to what the device says it supports (RSS, checksum offloads). */
#ifndef DP_PORT_H
#define DP_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rte_mempool;

/* Queues whose file descriptor port53d records (the rest get -1). */
#define DP_PORT_FD_QUEUES 128

struct dp_port {
	uint16_t id;
	uint16_t nq;	   /* queues configured (<= workers asked for) */
	bool rss;	   /* RSS spreads flows over the queues */
	bool rx_csum;	   /* NIC verifies IPv4/UDP checksums */
	unsigned tx_flags; /* DP_TX_CSUM_OFFLOAD when the NIC fills them */
	uint8_t mac[6];
	char name[64];
	char driver[32];
	/* Per RX queue, a descriptor that polls readable when the queue has
	 * frames (net_af_xdp's XSK, net_tap's tun queue), or -1: what an idle
	 * worker can sleep on instead of napping (dp/worker.c). */
	int rx_fd[DP_PORT_FD_QUEUES];
};

/* Configures and starts port id with up to nq queue pairs; mbufs from mp.
 * promisc: accept frames to other MACs (needed when we answer with a MAC
 * that is not the port's). Returns 0 or a negative errno-style code with a
 * message in err. */
int dp_port_setup(uint16_t id, uint16_t nq, struct rte_mempool *mp, bool promisc,
		  struct dp_port *out, char *err, size_t errlen);
void dp_port_close(uint16_t id);
/* The largest queue count port id can take. */
uint16_t dp_port_max_queues(uint16_t id);

#endif
