/* Exception-port creation. The kernel side must carry the service port's
 * MAC: the host drops unicast frames to any other address, and frames it
 * originates must leave with the MAC our neighbours learnt from us. */
#include "dp/excp.h"

#include <rte_bus_vdev.h>
#include <rte_ethdev.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

int dp_excp_create(const char *spec, unsigned idx, const uint8_t mac[6], unsigned nq,
		   uint16_t *port, char *err, size_t errlen)
{
	char name[64], args[512];
	char macs[18];

	snprintf(macs, sizeof(macs), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
	if (strcmp(spec, "tap") == 0 || strncmp(spec, "tap:", 4) == 0) {
		const char *prefix = spec[3] == ':' ? spec + 4 : "p53x";
		snprintf(name, sizeof(name), "net_tap_p53x%u", idx);
		snprintf(args, sizeof(args), "iface=%s%u,mac=%s", prefix, idx, macs);
		(void)nq; /* net_tap takes its queue count from configure */
	} else if (strncmp(spec, "vdev:", 5) == 0) {
		if (idx > 0) {
			snprintf(err, errlen, "exception vdev: one service port only");
			return -EINVAL;
		}
		const char *dev = spec + 5, *comma = strchr(dev, ',');
		size_t nl = comma ? (size_t)(comma - dev) : strlen(dev);
		if (nl == 0 || nl >= sizeof(name)) {
			snprintf(err, errlen, "exception vdev: bad name in '%s'", dev);
			return -EINVAL;
		}
		memcpy(name, dev, nl);
		name[nl] = 0;
		snprintf(args, sizeof(args), "%s%smac=%s", comma ? comma + 1 : "", comma ? "," : "",
			 macs);
	} else {
		snprintf(err, errlen, "exception: unknown spec '%s' (tap[:NAME] or vdev:ARGS)",
			 spec);
		return -EINVAL;
	}
	int rc = rte_vdev_init(name, args);
	if (rc != 0) {
		snprintf(err, errlen, "exception: creating %s,%s failed (%d)", name, args, rc);
		return rc < 0 ? rc : -EIO;
	}
	rc = rte_eth_dev_get_port_by_name(name, port);
	if (rc != 0) {
		snprintf(err, errlen, "exception: %s created but has no port", name);
		rte_vdev_uninit(name);
		return rc;
	}
	return 0;
}

void dp_excp_destroy(uint16_t port)
{
	char name[RTE_ETH_NAME_MAX_LEN];
	if (rte_eth_dev_get_name_by_port(port, name) != 0)
		return;
	rte_eth_dev_stop(port);
	/* Removing the vdev closes the port and deletes the kernel interface. */
	rte_vdev_uninit(name);
}
