/* DNS query messages for generators and benchmarks: a header, one question,
 * and optionally an OPT record with the DO bit and an EDNS Client Subnet
 * option (RFC 7871), the shapes resolvers send to authoritative servers.
 */
#ifndef P53_QBUILD_H
#define P53_QBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct p53_qopts {
	bool edns;
	bool dnssec_ok;	    /* DO bit; implies edns */
	bool rd;	    /* recursion desired: resolvers clear it towards authoritatives */
	uint16_t udp_size;  /* advertised EDNS buffer size; 0 means 1232 */
	uint8_t ecs_family; /* 0 = no ECS option, 1 = IPv4, 2 = IPv6; implies edns */
	uint8_t ecs_prefix; /* source prefix length */
	uint8_t ecs_addr[16];
};

/* Writes a query for name (uncompressed wire form, case kept) into buf.
 * Returns the message length, or 0 when cap is too small. */
size_t p53_query_build(uint8_t *buf, size_t cap, uint16_t id, const uint8_t *name, size_t nlen,
		       uint16_t qtype, const struct p53_qopts *o);

#endif
