/* Exception path: a kernel-facing port (TAP, or virtio-user to vhost-net)
 * per service port. Frames the data plane does not answer are written to it,
 * so the host stack sees TCP/53, ICMP, BGP, SSH as if it owned the NIC; what
 * the kernel sends on it goes out the service port. */
#ifndef DP_EXCP_H
#define DP_EXCP_H

#include <stddef.h>
#include <stdint.h>

/* Creates the exception port for service port index idx from spec:
 *   "tap"            net_tap, interface p53x<idx>
 *   "tap:NAME"       net_tap, interface NAME<idx>
 *   "vdev:DEVARGS"   any vdev, e.g. "virtio_user0,path=/dev/vhost-net,iface=x0"
 *                    (only for a single service port)
 * The kernel interface gets mac, so the host accepts frames sent to it.
 * Returns 0 and the new port id, or a negative code with a message. */
int dp_excp_create(const char *spec, unsigned idx, const uint8_t mac[6], unsigned nq,
		   uint16_t *port, char *err, size_t errlen);
/* Stops the port and removes what dp_excp_create made. */
void dp_excp_destroy(uint16_t port);

#endif
