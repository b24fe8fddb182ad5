/* UDP frames for captures: build one around a DNS message, and find the DNS
 * message (and who sent it) inside a captured frame.
 *
 * This is tooling, not the data plane: the parser here is lenient and only
 * good enough to pull UDP payloads out of the captures our own generator and
 * tcpdump write (Ethernet, one 802.1Q tag, IPv4 with options, IPv6 with
 * hop-by-hop/routing/destination headers). dp/pkt.h is the strict one.
 */
#ifndef P53_FRAME_H
#define P53_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct p53_udp_spec {
	uint8_t family; /* 4 or 6 */
	bool ether;	/* Ethernet header (else a raw IP packet) */
	int vlan;	/* 802.1Q VLAN id, or -1 for none */
	uint8_t smac[6], dmac[6];
	uint8_t src[16], dst[16]; /* IPv4 in the first 4 bytes */
	uint16_t sport, dport;
};

/* Writes the frame into buf: headers with correct lengths and checksums
 * (IPv4 header and UDP), then payload. Returns the frame length, or 0 when
 * cap is too small. */
size_t p53_udp_build(uint8_t *buf, size_t cap, const struct p53_udp_spec *s, const uint8_t *payload,
		     size_t plen);

struct p53_udp_view {
	uint8_t family;
	uint16_t sport, dport;
	uint8_t src[16], dst[16];
	size_t pl_off, pl_len; /* UDP payload within the frame */
};

/* Finds the UDP payload of frame (linktype from pcapio.h). Returns false when
 * the frame is not UDP over IPv4/IPv6 or is truncated. */
bool p53_udp_parse(const uint8_t *frame, size_t len, uint32_t linktype, struct p53_udp_view *v);

#endif
