/* Listening sockets for the transports that port53d hands to the kernel
 * (TCP/53, TLS on TCP/853, QUIC on UDP/853), opened where the kernel sees
 * the service addresses.
 *
 * With an exception path or AF_XDP the kernel that receives these packets
 * may be another network namespace than port53d's (the TAP demo moves the
 * exception interface into one, so that the host does not route to the
 * service addresses locally). A socket belongs to the namespace it was
 * created in, whatever thread uses it later, so the calling thread enters
 * the namespace only while it creates the sockets.
 *
 * Sockets are bound with IP_FREEBIND / IPV6_FREEBIND: the service address
 * is usually put on the kernel side of the exception interface after
 * port53d has created that interface, i.e. after these sockets exist.
 */
#ifndef P53_XLISTEN_H
#define P53_XLISTEN_H

#include "zones/common/err.h"

#include <stddef.h>
#include <stdint.h>

struct xlisten_addr {
	uint8_t family; /* 4 or 6 */
	uint8_t addr[16];
};

/* Opens one non-blocking socket of type (SOCK_STREAM: listening, or
 * SOCK_DGRAM) on port for each address, inside netns (a name under
 * /run/netns, a path, or NULL for the caller's namespace). Writes the fds to
 * fds (n of them) and returns 0, or closes what it opened and returns a
 * negative code with err set. */
int xlisten_open(const char *netns, const struct xlisten_addr *addrs, size_t n, uint16_t port,
		 int type, int *fds, struct p53_err *err);

#endif
