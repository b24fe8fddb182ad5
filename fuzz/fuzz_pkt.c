/* The data plane's frame classifier and reply builders (dp/pkt.c) on
 * arbitrary frames, as a worker drives them: classify, then rewrite in
 * place into the reply the action calls for, in an mbuf-sized buffer.
 *
 * Input: byte 0 the NIC's checksum verdicts (DP_RX_*) and the transmit
 * offload flag, byte 1 the DNS response length (scaled), the rest the frame. */
#include "fuzz/fuzz.h"

#include "dp/pkt.h"

#include <stdlib.h>
#include <string.h>

#define BUFCAP 2048 /* an mbuf's data room, as port53d configures it */

static struct dp_svc svc;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static const uint8_t mac[6] = {0x02, 0, 0, 0, 0x53, 0x01};
	dp_svc_init(&svc);
	memcpy(svc.mac, mac, 6);
	if (dp_svc_add_addr(&svc, "198.51.100.53") || dp_svc_add_addr(&svc, "192.0.2.53") ||
	    dp_svc_add_addr(&svc, "2001:db8:53::53") || dp_svc_add_addr(&svc, "fe80::53"))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t f[BUFCAP];
	if (size < 2 || size - 2 > BUFCAP)
		return 0;
	unsigned rx = data[0] & 0xf, tx = (data[0] >> 4) & DP_TX_CSUM_OFFLOAD;
	size_t len = size - 2;
	memcpy(f, data + 2, len);
	struct dp_pkt p;
	switch (dp_classify(&svc, f, len, rx, &p)) {
	case DP_ACT_DNS: {
		if ((size_t)p.pl_off + p.pl_len > len)
			abort(); /* the payload the engine would read lies in the frame */
		size_t room = dp_dns_room(&svc, &p, BUFCAP);
		size_t dns = 12 + (size_t)data[1] * 8;
		if (dns > room)
			dns = room;
		if (dns < 12)
			return 0;
		memset(f + p.pl_off, 0xab, dns);
		size_t out = dp_reply_dns(&svc, f, &p, dns, tx);
		if (out > BUFCAP || out < dns)
			abort();
		break;
	}
	case DP_ACT_ARP:
		if (dp_reply_arp(&svc, f, &p, len) > BUFCAP)
			abort();
		break;
	case DP_ACT_ND:
		if (dp_reply_na(&svc, f, &p, BUFCAP) > BUFCAP)
			abort();
		break;
	default:
		if (p.action != DP_ACT_DROP && p.action != DP_ACT_KERNEL)
			abort();
		break;
	}
	return 0;
}
