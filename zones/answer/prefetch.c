/* Burst prefetching (answer.h: p53_prefetch_burst). */
#include "zones/answer/answer_int.h"

/* Prefetch state: the stage done in bits 0-7, the stage's result (the
 * name's hash, then its node index) in bits 8-39, the qtype in bits 40-55. */
#define PF_DONE			    0xff
#define PF_KEY(st)		    ((uint32_t)((st) >> 8))
#define PF_QTYPE(st)		    ((uint16_t)((st) >> 40))
#define PF_STATE(stage, key, qtype) ((uint64_t)(qtype) << 40 | (uint64_t)(key) << 8 | (stage))

/* The question's canonical name hash and where its type lies, without the
 * checks p53_answer makes: a malformed query just gets no prefetch. */
static bool pf_qname(const uint8_t *q, size_t qlen, uint32_t *hash, size_t *qtype_off)
{
	uint8_t name[P53_NAME_MAX];
	size_t pos = 12;
	if (qlen < 12 + 5)
		return false;
	for (;;) {
		uint8_t l = q[pos];
		if (l > P53_LABEL_MAX || pos + 1 + l >= qlen || pos - 12 + 1 + l > P53_NAME_MAX)
			return false;
		pos++;
		if (l == 0)
			break;
		pos += l;
	}
	if (pos + 2 > qlen)
		return false;
	name_lower_copy(name, q + 12, pos - 12);
	*hash = name_hash(name, pos - 12);
	*qtype_off = pos;
	return true;
}

static void prefetch_stage(const struct p53_snapshot *s, const uint8_t *q, size_t qlen,
			   uint64_t *state)
{
	uint32_t hash, node;
	size_t toff;
	switch (*state & 0xff) {
	case 0:
		if (!pf_qname(q, qlen, &hash, &toff)) {
			*state = PF_DONE;
			return;
		}
		__builtin_prefetch(&s->ht[snap_home(s, hash)]);
		*state = PF_STATE(1, hash, rd16(q + toff));
		return;
	case 1:
		hash = PF_KEY(*state);
		for (uint32_t i = snap_home(s, hash), k = 0; s->ht[i].node && k < 4;
		     i = snap_next(s, i), k++)
			if (s->ht[i].hash == hash) {
				node = s->ht[i].node - 1;
				__builtin_prefetch(&s->nodes[node]);
				*state = PF_STATE(2, node, PF_QTYPE(*state));
				return;
			}
		*state = PF_DONE;
		return;
	case 2: {
		const struct snap_node *n = &s->nodes[PF_KEY(*state)];
		__builtin_prefetch(s->names + n->name);
		if (n->nans)
			__builtin_prefetch(&s->ans[n->ans]);
		else if (n->other_blob)
			__builtin_prefetch(s->blobs + n->other_blob - 1);
		*state = (*state & ~(uint64_t)0xff) | 3;
		return;
	}
	case 3: {
		const struct snap_node *n = &s->nodes[PF_KEY(*state)];
		uint16_t qtype = PF_QTYPE(*state);
		*state = PF_DONE;
		const struct snap_ans *a = &s->ans[n->ans];
		for (uint16_t i = 0; i < n->nans; i++)
			if (a[i].qtype == qtype) {
				__builtin_prefetch(s->blobs + a[i].blob);
				return;
			}
		if (n->other_blob)
			__builtin_prefetch(s->blobs + n->other_blob - 1);
		return;
	}
	}
}

void p53_prefetch_burst(const struct p53_snapshot *s, const uint8_t *const *q, const size_t *qlen,
			unsigned n)
{
	/* Below a few MB everything stays in cache: not worth the work. */
	if (s == NULL || s->size < (8u << 20))
		return;
	uint64_t st[P53_BURST_MAX] = {0};
	n = n < P53_BURST_MAX ? n : P53_BURST_MAX;
	for (unsigned stage = 0; stage < 4; stage++)
		for (unsigned i = 0; i < n; i++)
			if ((st[i] & 0xff) != PF_DONE)
				prefetch_stage(s, q[i], qlen[i], &st[i]);
}
