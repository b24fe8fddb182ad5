/* Engine entry points for the compiler (private to zones/). */
#ifndef P53_ANSWER_PVT_H
#define P53_ANSWER_PVT_H

#include "zones/answer/snapshot_pvt.h"

#include <stddef.h>

/* Renders the answer to (name of node, qtype, class IN) exactly as
 * p53_answer would, as a struct snap_blob with its cuts and bytes, into out.
 * Returns the blob size, or 0 when this answer cannot be pre-rendered. */
size_t answer_prerender(const struct p53_snapshot *s, uint32_t node, uint16_t qtype, uint8_t *out,
			size_t cap);

/* The same for a query with DO=1 (RRSIGs and denial proofs added); 0 also
 * when the snapshot has no DNSSEC facts (SECT_NODESEC). */
size_t answer_prerender_do(const struct p53_snapshot *s, uint32_t node, uint16_t qtype,
			   uint8_t *out, size_t cap);

#endif
