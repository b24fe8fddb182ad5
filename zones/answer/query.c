/* Step 1 of the answer engine: parse the query (answer_int.h).
 *
 * Header, question, and the additional section as far as EDNS needs it
 * (RFC 6891 OPT, RFC 7871 Client Subnet). Every read is bounds-checked, and
 * nothing is written before parsing ends, so the response may overwrite the
 * query (answering in place).
 */
#include "zones/answer/answer_int.h"

/* RFC 7871 6 and 7.1.1: family 1 or 2, source prefix within the family,
 * exactly ceil(source / 8) address bytes, no bits set past the prefix. */
static bool parse_ecs(const uint8_t *o, uint16_t len, struct query *q)
{
	if (q->ecs || len < 4)
		return false;
	uint16_t fam = rd16(o);
	uint8_t src = o[2];
	size_t alen = ((size_t)src + 7) / 8;
	if ((fam != 1 && fam != 2) || src > (fam == 1 ? 32 : 128) || len - 4u != alen)
		return false;
	memset(q->ecs_addr, 0, sizeof(q->ecs_addr));
	memcpy(q->ecs_addr, o + 4, alen);
	if (src % 8 && (q->ecs_addr[alen - 1] & (uint8_t)(0xff >> (src % 8))))
		return false;
	q->ecs = true;
	q->ecs_family = (uint8_t)fam;
	q->ecs_src = src;
	q->ecs_scope = 0;
	return true;
}

/* Reads the question name: the first name in a message has nothing before it
 * to point at, so any compression pointer is malformed. */
static bool parse_qname(const uint8_t *m, size_t len, struct query *q)
{
	/* The length bytes first (each label's offset kept for the suffix
	 * hashes), then the name copied and lower-cased in one go. */
	size_t pos = 12, out = 0;
	unsigned n = 0;
	for (;;) {
		if (pos >= len)
			return false;
		uint8_t l = m[pos];
		if (l > P53_LABEL_MAX || out + 1 + l > P53_NAME_MAX || pos + 1 + l > len)
			return false;
		if (l == 0)
			break;
		q->loff[n++] = (uint8_t)out;
		out += (size_t)l + 1;
		pos += (size_t)l + 1;
	}
	out++;
	name_lower_copy(q->qname, m + 12, out);
	q->nlabels = (uint8_t)n;
	q->qname_len = out;
	q->qend = pos + 1;
	return true;
}

/* Skips one name in the additional section (may be compressed): only the
 * extent matters, so pointers are not followed. */
static bool skip_name(const uint8_t *m, size_t len, size_t *pos)
{
	size_t p = *pos;
	for (unsigned n = 0; n < P53_LABELS_MAX; n++) {
		if (p >= len)
			return false;
		uint8_t l = m[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 2 > len)
				return false;
			*pos = p + 2;
			return true;
		}
		if (l & 0xc0)
			return false;
		p += (size_t)l + 1;
		if (l == 0) {
			*pos = p;
			return true;
		}
	}
	return false;
}

/* Skips one resource record of the answer or authority section. */
static bool skip_rr(const uint8_t *m, size_t len, size_t *pos)
{
	if (!skip_name(m, len, pos) || *pos + 10 > len)
		return false;
	*pos += 10 + (size_t)rd16(m + *pos + 8);
	return *pos <= len;
}

static enum parse_result parse_additional(const uint8_t *m, size_t len, size_t pos,
					  uint16_t arcount, struct query *q)
{
	for (uint16_t i = 0; i < arcount; i++) {
		size_t owner = pos;
		if (!skip_name(m, len, &pos) || pos + 10 > len)
			return PARSE_FORMERR;
		uint16_t type = rd16(m + pos), rdlen = rd16(m + pos + 8);
		if (pos + 10 + rdlen > len)
			return PARSE_FORMERR;
		if (type == RR_OPT) {
			/* RFC 6891 6.1.1: one OPT, owned by the root. */
			if (q->edns || m[owner] != 0 || pos != owner + 1)
				return PARSE_FORMERR;
			q->edns = true;
			q->edns_size = rd16(m + pos + 2);
			q->edns_version = m[pos + 5];
			q->edns_flags = rd16(m + pos + 6);
			/* Options: unknown ones are ignored, but their framing
			 * must hold. */
			size_t o = pos + 10, end = o + rdlen;
			while (o < end) {
				if (o + 4 > end || o + 4 + rd16(m + o + 2) > end)
					return PARSE_FORMERR;
				uint16_t code = rd16(m + o), olen = rd16(m + o + 2);
				if (code == EDNS_OPT_ECS && !parse_ecs(m + o + 4, olen, q))
					return PARSE_FORMERR;
				if (code == EDNS_OPT_KEEPALIVE && olen != 0)
					q->keepalive_timeout = true;
				/* RFC 7873 5.2.2: a malformed COOKIE is FORMERR;
				 * the first one counts. */
				if (code == P53_COOKIE_OPT) {
					if (!p53_cookie_len_ok(olen))
						return PARSE_FORMERR;
					if (!q->cookie_len) {
						q->cookie = m + o + 4;
						q->cookie_len = (uint8_t)olen;
					}
				}
				o += 4 + (size_t)rd16(m + o + 2);
			}
		}
		pos += 10 + (size_t)rdlen;
	}
	return PARSE_OK;
}

static enum parse_result ans_parse_query(const uint8_t *m, size_t len, struct query *q)
{
	if (len < 12 || (m[2] & HDR_QR))
		return PARSE_DROP;
	q->hdr2 = m[2];
	q->hdr3 = m[3];
	q->qend = 12;
	q->edns = false;
	q->ecs = false;
	q->cookie_len = 0;
	q->keepalive_timeout = false;
	q->ede = false;
	uint16_t qd = rd16(m + 4), an = rd16(m + 6), ns = rd16(m + 8), ar = rd16(m + 10);
	bool have_q = qd == 1 && parse_qname(m, len, q) && q->qend + 4 <= len;
	if (have_q) {
		q->qtype = rd16(m + q->qend);
		q->qclass = rd16(m + q->qend + 2);
		q->qend += 4;
	} else {
		q->qend = 12;
	}
	/* RFC 6891 6.1.1 and 7: a reply to a query with an OPT record carries
	 * one, errors included, so the OPT is looked for even in a query that
	 * is answered NOTIMP or FORMERR: past whatever questions and records
	 * precede it, as long as their framing holds. */
	size_t pos = have_q ? q->qend : 12;
	bool framed = true;
	for (uint32_t i = have_q ? 1 : 0; i < qd && framed; i++) {
		framed = skip_name(m, len, &pos) && pos + 4 <= len;
		pos += 4;
	}
	for (uint32_t i = 0; i < (uint32_t)an + ns && framed; i++)
		framed = skip_rr(m, len, &pos);
	if (!framed || parse_additional(m, len, pos, ar, q) != PARSE_OK) {
		q->edns = false; /* the OPT may be what was malformed */
		q->ecs = false;
		framed = false;
	}
	if (((m[2] >> 3) & 0xf) != 0)
		return PARSE_NOTIMP;
	if (!have_q || an != 0 || ns != 0 || !framed)
		return PARSE_FORMERR;
	return PARSE_OK;
}
