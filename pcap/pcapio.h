/* Classic pcap files (the libpcap "savefile" format), read and written by
 * port53's own tools: the query-mix generator writes them, the replay
 * benchmark loads one whole into memory before the clock starts.
 *
 * A small reader instead of libpcap because the replay wants every packet in
 * one flat buffer it can walk without a call per packet, and because the
 * format is tiny: a 24-byte file header and a 16-byte record header per
 * packet. Both byte orders and both time resolutions (usec, nsec) are read;
 * pcapng is not (convert with `tcpdump -r in.pcapng -w out.pcap`).
 */
#ifndef P53_PCAPIO_H
#define P53_PCAPIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Link types this project produces and understands. */
enum {
	P53_LINKTYPE_ETHERNET = 1,
	P53_LINKTYPE_RAW = 101, /* bare IPv4 or IPv6, version from the first nibble */
};

struct p53_pcap_writer {
	FILE *f;
	uint32_t linktype;
};

/* Creates path (truncating it) with a nanosecond-resolution header. 0 or -errno. */
int p53_pcap_create(struct p53_pcap_writer *w, const char *path, uint32_t linktype);
/* Appends one packet stamped ts_ns nanoseconds after the epoch. 0 or -errno. */
int p53_pcap_write(struct p53_pcap_writer *w, uint64_t ts_ns, const void *pkt, size_t len);
/* Flushes and closes; 0 or -errno (a failed flush means a short file). */
int p53_pcap_close(struct p53_pcap_writer *w);

struct p53_pcap_pkt {
	uint64_t ts_ns;
	uint32_t off; /* into p53_pcap.data */
	uint32_t len; /* captured length */
};

/* A whole capture in memory: packet bytes back to back in data. */
struct p53_pcap {
	uint32_t linktype;
	uint8_t *data;
	size_t data_len;
	struct p53_pcap_pkt *pkts;
	size_t n;
};

/* Reads path; at most max packets when max > 0. On error returns a negative
 * code and writes a reason into err. */
int p53_pcap_load(const char *path, size_t max, struct p53_pcap *out, char *err, size_t errlen);
void p53_pcap_free(struct p53_pcap *c);

#endif
