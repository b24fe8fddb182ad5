/* Counter names and printing; nothing here runs on the hot path. */
#include "dp/stats.h"

#include <inttypes.h>

static const char *const ctr_names[DP_C__COUNT] = {
    [DP_C_RX] = "rx",
    [DP_C_TX] = "tx",
    [DP_C_TX_FULL] = "drop_tx_full",
    [DP_C_ANSWERED] = "answered",
    [DP_C_ENGINE_DROP] = "drop_engine",
    [DP_C_NO_SNAPSHOT] = "drop_no_snapshot",
    [DP_C_MULTISEG] = "drop_multiseg",
    [DP_C_ARP_REPLY] = "arp_reply",
    [DP_C_NA_REPLY] = "na_reply",
    [DP_C_TO_KERNEL] = "to_kernel",
    [DP_C_FROM_KERNEL] = "from_kernel",
    [DP_C_KERNEL_DROP] = "drop_no_exception",
    [DP_C_IDLE_SLEEPS] = "idle_sleeps",
    [DP_C_IDLE_WAKES] = "idle_fd_wakes",
    [DP_C_RES_HANDED] = "resolver_handed",
    [DP_C_RES_RING_FULL] = "drop_resolver_ring_full",
    [DP_C_RES_TX] = "resolver_tx",
    [DP_C_NOTIFY_KERNEL] = "notify_to_kernel",
    [DP_C_RES_CACHE_HIT] = "resolver_cache_hit",
};

static const char *const rcode_names[16] = {
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15",
};

const char *dp_ctr_name(enum dp_ctr c)
{
	return (unsigned)c < DP_C__COUNT ? ctr_names[c] : "?";
}

/* One line: the total, then per-worker values; skipped when all are zero. */
static void line(FILE *out, const char *prefix, const char *name, const uint64_t *vals, unsigned n)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < n; i++)
		sum += vals[i];
	if (!sum)
		return;
	char full[64];
	snprintf(full, sizeof(full), "%s%s", prefix, name);
	fprintf(out, "  %-28s %14" PRIu64, full, sum);
	if (n > 1)
		for (unsigned i = 0; i < n; i++)
			fprintf(out, " %12" PRIu64, vals[i]);
	fputc('\n', out);
}

#define MAX_COLS 128

void dp_stats_print(FILE *out, const struct dp_stats *const *st,
		    const struct p53_ctx *const *engine, unsigned n)
{
	uint64_t v[MAX_COLS];

	if (n > MAX_COLS)
		n = MAX_COLS;
	fprintf(out, "port53d counters (%u worker%s):\n", n, n == 1 ? "" : "s");
	for (int c = 0; c < DP_C__COUNT; c++) {
		for (unsigned i = 0; i < n; i++)
			v[i] = st[i]->c[c];
		line(out, "", ctr_names[c], v, n);
	}
	for (int r = 0; r < DP_R__COUNT; r++) {
		for (unsigned i = 0; i < n; i++)
			v[i] = st[i]->reason[r];
		line(out, "class_", dp_reason_name((enum dp_reason)r), v, n);
	}
	for (int r = 0; r < 16; r++) {
		for (unsigned i = 0; i < n; i++)
			v[i] = st[i]->rcode[r];
		line(out, "rcode_", rcode_names[r], v, n);
	}
	if (!engine)
		return;
	for (int s = 0; s < P53_STAT__COUNT; s++) {
		for (unsigned i = 0; i < n; i++)
			v[i] = engine[i]->stats[s];
		line(out, "engine_", p53_stat_name((enum p53_stat)s), v, n);
	}
	fflush(out);
}
