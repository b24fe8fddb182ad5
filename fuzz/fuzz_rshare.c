/* The resolver's shared answers (ctrl/resolv/rshare.c): the key read from
 * a query off the network, a response published for it and read back.
 *
 * Input: byte 0 is where the query ends (as a share of the rest), byte 1
 * the response's age in seconds; then the query, then the response.
 *
 * Checks: a query without a key is never looked up; a published response
 * that is read back has the response's length, the query's ID and the
 * query's question bytes; reading never goes past either message
 * (ASan), and retired entries are reclaimed.
 */
#include "fuzz/fuzz.h"

#include "ctrl/resolv/rshare.h"
#include "ctrl/snap/qsbr.h"

#include <stdlib.h>
#include <string.h>

static struct rshare *share;
static struct qsbr *qs;
static uint8_t out[65536];
static uint64_t gen; /* one per input: only its own entry can be read back */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	share = rshare_new(1024);
	qs = qsbr_simple_new(1);
	if (share == NULL || qs == NULL)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t rest = size - 2;
	size_t qlen = rest * data[0] / 255;
	const uint8_t *q = data + 2, *r = data + 2 + qlen;
	size_t rlen = rest - qlen;
	/* Copies of exactly their size, so reading past either is caught. */
	uint8_t *qc = malloc(qlen ? qlen : 1), *rc = malloc(rlen ? rlen : 1);
	if (qc == NULL || rc == NULL)
		abort();
	memcpy(qc, q, qlen);
	memcpy(rc, r, rlen);
	struct rshare_key k;
	if (rshare_key_of(qc, qlen, &k)) {
		if (k.qlen < 1 || 12 + (size_t)k.qlen + 4 > qlen)
			abort();
		k.view = 1;
		gen++;
		rshare_put(share, &k, rc, rlen, gen, 1000, 86400, -1, false);
		struct rshare_hit hit;
		size_t n = rshare_get(share, &k, qc, gen, 1000 + data[1], out, sizeof(out), &hit);
		if (n &&
		    (n != rlen || memcmp(out, qc, 2) != 0 || memcmp(out + 12, qc + 12, k.qlen)))
			abort();
		rshare_reclaim(share, qs, 1000 + data[1]);
	}
	struct rshare_key k2;
	(void)rshare_key_of(rc, rlen, &k2);
	free(qc);
	free(rc);
	return 0;
}
