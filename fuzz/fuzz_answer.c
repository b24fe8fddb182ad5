/* The answer engine on arbitrary queries: snapshots of plain zones (with and
 * without pre-rendered answers, which must answer alike) and of Route 53
 * routing policies, with and without the DNS Firewall, over UDP and TCP,
 * answered in place as the DPDK workers do or into a separate buffer.
 *
 * Input: byte 0 selects the set-up (below), byte 1 the health of the
 * snapshot's checks, bytes 2-5 the client address, byte 6 the buffer size;
 * the rest is the DNS message. */
#include "fuzz/fuzz.h"

#include "zones/answer/answer.h"
#include "zones/answer/fw.h"
#include "zones/compile/fwcompile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	SEL_SNAP = 3,	  /* 0: zones, 1: zones not pre-rendered, 2-3: Route 53 */
	SEL_FW = 1 << 2,  /* DNS Firewall on */
	SEL_TCP = 1 << 3, /* TCP: 64 KiB responses */
	SEL_INPLACE = 1 << 4,
	SEL_V6 = 1 << 5,     /* client address family */
	SEL_NOADDR = 1 << 6, /* client unknown (family 0) */
	SEL_HEALTH = 1 << 7, /* byte 1 is the health of checks 0-7 (else all healthy) */
};

static struct p53_snapshot *snap[3];
static struct p53_fw *fw;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static const char *const zones[] = {
	    "example.com=tests/zones/example.com.zone",
	    "example.net=tests/zones/example.net.zone",
	    "example.org=tests/zones/example.org.zone",
	    "child.example.org=tests/zones/child.example.org.zone",
	    "example=tests/zones/example.zone",
	    "2.0.192.in-addr.arpa=tests/zones/2.0.192.in-addr.arpa.zone",
	    NULL};
	static const char *const r53[] = {"example.com=tests/e2e/r53/example.json",
					  "example.net=tests/zones/example.net.zone", NULL};
	snap[0] = fuzz_snapshot(zones, NULL, NULL, 0, NULL, NULL);
	snap[1] = fuzz_snapshot(zones, NULL, NULL, 1, NULL, NULL);
	snap[2] =
	    fuzz_snapshot(r53, "tests/e2e/r53/geo.csv", "fuzz/data/latency.csv", 0, NULL, NULL);
	uint8_t *img;
	size_t len;
	struct p53_err err = {0};
	if (p53_fw_compile(fuzz_src("fuzz/data/fw-rules.json"), NULL, &img, &len, &err) != 0 ||
	    (fw = p53_fw_from_mem(img, len, 1, &err)) == NULL) {
		fprintf(stderr, "fuzz fixture: %s\n", err.msg);
		abort();
	}
	free(img);
	return 0;
}

static size_t answer(const struct p53_snapshot *s, const uint8_t *data, size_t size, uint8_t *buf,
		     size_t cap, uint8_t *out)
{
	static uint8_t qbuf[P53_MSG_MAX];
	static struct p53_answer_cfg cfg;
	static struct p53_ctx ctx;
	uint8_t sel = data[0];
	uint8_t health[8];
	for (int i = 0; i < 8; i++)
		health[i] = (sel & SEL_HEALTH) ? (data[1] >> i) & 1 : 1;
	p53_answer_cfg_default(&cfg);
	cfg.identity = "fuzz";
	cfg.version = "port53-fuzz";
	p53_ctx_init(&ctx, &cfg, (uint64_t)data[1] + 1);
	ctx.health = health;
	ctx.nhealth = 8;
	ctx.fw = (sel & SEL_FW) ? fw : NULL;
	struct p53_client c = {.family = (sel & SEL_V6) ? 6 : 4,
			       .transport = (sel & SEL_TCP) ? P53_TCP : P53_UDP,
			       .port = 40000};
	if (sel & SEL_NOADDR)
		c.family = 0;
	memcpy(c.addr, data + 2, 4);
	if (sel & SEL_V6) {
		static const uint8_t pfx[4] = {0x20, 0x01, 0x0d, 0xb8};
		memcpy(c.addr, pfx, 4);
		memcpy(c.addr + 4, data + 2, 4);
	}
	const uint8_t *q = data + 7;
	size_t qlen = size - 7;
	const uint8_t *qp[1] = {q};
	p53_prefetch_burst(s, qp, &qlen, 1);
	size_t n;
	if (sel & SEL_INPLACE) {
		memcpy(buf, q, qlen);
		n = p53_answer(s, buf, qlen, &c, &ctx, buf, cap);
	} else {
		memcpy(qbuf, q, qlen);
		n = p53_answer(s, qbuf, qlen, &c, &ctx, buf, cap);
	}
	if (n > cap || (n > 0 && (n < 12 || memcmp(buf, q, 2) != 0 || !(buf[2] & 0x80))))
		abort(); /* a response fits, and answers this query */
	/* The account the abuse controls cut a response down by: a whole
	 * header and question, then the OPT record ending the response,
	 * every option of it (a firewall block's EDE too) and no more. */
	const struct p53_answer_info *in = &ctx.last;
	if (n > 0 && in->qend) {
		if (in->qend < 12 || (size_t)in->qend + in->opt_len > n)
			abort();
		const uint8_t *opt = buf + n - in->opt_len;
		if (in->opt_len && (opt[0] != 0 || opt[1] != 0 || opt[2] != 41 ||
				    11 + ((size_t)opt[9] << 8 | opt[10]) != in->opt_len))
			abort();
	}
	if (out)
		memcpy(out, buf, n);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[P53_MSG_MAX], first[P53_MSG_MAX];
	static const size_t caps[4] = {512, 1232, 4096, P53_MSG_MAX};
	if (size < 7 || size - 7 > P53_MSG_MAX)
		return 0;
	uint8_t sel = data[0];
	unsigned which = sel & SEL_SNAP;
	size_t cap = (sel & SEL_TCP) ? P53_MSG_MAX : caps[data[6] & 3];
	if (which >= 2) {
		answer(snap[2], data, size, buf, cap, NULL);
		return 0;
	}
	/* The two plain snapshots differ only in pre-rendered answers, which
	 * must not change a byte of any response (docs/architecture.md). */
	size_t n0 = answer(snap[0], data, size, buf, cap, first);
	size_t n1 = answer(snap[1], data, size, buf, cap, NULL);
	if (n0 != n1 || memcmp(first, buf, n0) != 0) {
		fprintf(stderr, "pre-rendered and rendered responses differ:\n");
		for (size_t i = 0; i < n0 || i < n1; i++)
			fprintf(stderr, "%4zu %02x %02x\n", i, i < n0 ? first[i] : 0,
				i < n1 ? buf[i] : 0);
		abort();
	}
	return 0;
}
