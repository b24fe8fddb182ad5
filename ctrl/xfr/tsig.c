/* TSIG (see tsig.h). libknot parses the record and computes the MACs; this
 * module keeps the key table and the state of one signed stream. */
#include "ctrl/xfr/tsig.h"

#include <libknot/libknot.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct tsig_key {
	knot_tsig_key_t k;
	char name[256]; /* presentation form, no trailing dot */
};

int tsig_keys_add(struct tsig_keys *ks, const char *spec, struct p53_err *err)
{
	struct tsig_key *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	int rc = knot_tsig_key_init_str(&k->k, spec);
	if (rc != KNOT_EOK) {
		free(k);
		/* The secret is not repeated in the message. */
		return p53_err_set(err, P53_EINVAL,
				   "TSIG key: expected [ALGORITHM:]NAME:BASE64-SECRET (%s)",
				   knot_strerror(rc));
	}
	if (knot_dname_to_str(k->name, k->k.name, sizeof(k->name)) == NULL) {
		knot_tsig_key_deinit(&k->k);
		free(k);
		return p53_err_set(err, P53_EINVAL, "TSIG key: bad name");
	}
	size_t nl = strlen(k->name);
	if (nl > 1 && k->name[nl - 1] == '.')
		k->name[nl - 1] = 0;
	if (tsig_keys_find(ks, k->name)) {
		p53_err_set(err, P53_EINVAL, "TSIG key '%s' given twice", k->name);
		knot_tsig_key_deinit(&k->k);
		free(k);
		return P53_EINVAL;
	}
	struct tsig_key **v = realloc(ks->v, (ks->n + 1) * sizeof(*v));
	if (v == NULL) {
		knot_tsig_key_deinit(&k->k);
		free(k);
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	}
	ks->v = v;
	ks->v[ks->n++] = k;
	return 0;
}

void tsig_keys_free(struct tsig_keys *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		knot_tsig_key_deinit(&ks->v[i]->k);
		free(ks->v[i]);
	}
	free(ks->v);
	ks->v = NULL;
	ks->n = 0;
}

const struct tsig_key *tsig_keys_find(const struct tsig_keys *ks, const char *name)
{
	size_t nl = strlen(name);
	if (nl > 1 && name[nl - 1] == '.')
		nl--;
	for (size_t i = 0; i < ks->n; i++)
		if (strlen(ks->v[i]->name) == nl && strncasecmp(ks->v[i]->name, name, nl) == 0)
			return ks->v[i];
	return NULL;
}

const char *tsig_key_name(const struct tsig_key *k)
{
	return k->name;
}

static const struct tsig_key *find_wire(const struct tsig_keys *ks, const knot_dname_t *name)
{
	for (size_t i = 0; i < ks->n; i++)
		if (knot_dname_is_case_equal(ks->v[i]->k.name, name) ||
		    knot_dname_is_equal(ks->v[i]->k.name, name))
			return ks->v[i];
	return NULL;
}

int tsig_check_request(const struct tsig_keys *ks, const uint8_t *msg, size_t len,
		       struct tsig_req *out)
{
	memset(out, 0, sizeof(*out));
	if (len > UINT16_MAX)
		return P53_EINVAL;
	/* libknot strips the TSIG from the wire it parses (ARCOUNT too),
	 * which is the form its checks take: it works on a copy. */
	knot_pkt_t *p = knot_pkt_new(NULL, (uint16_t)len, NULL);
	if (p == NULL)
		return P53_ENOMEM;
	memcpy(p->wire, msg, len);
	p->size = len;
	int rc = knot_pkt_parse(p, 0);
	if (rc != KNOT_EOK) {
		knot_pkt_free(p);
		return P53_EINVAL;
	}
	const knot_rrset_t *t = p->tsig_rr;
	if (t == NULL) {
		knot_pkt_free(p);
		return 0;
	}
	out->present = true;
	out->name_len = knot_dname_size(t->owner);
	memcpy(out->name, t->owner, out->name_len);
	knot_dname_to_lower(out->name);
	const knot_dname_t *alg = knot_tsig_rdata_alg_name(t);
	out->alg_len = alg ? knot_dname_size(alg) : 1;
	if (alg)
		memcpy(out->alg, alg, out->alg_len);
	out->fudge = knot_tsig_rdata_fudge(t);
	out->orig_id = knot_tsig_rdata_orig_id(t);
	out->time_signed = knot_tsig_rdata_time_signed(t);
	const struct tsig_key *k = find_wire(ks, t->owner);
	if (k == NULL || alg == NULL || dnssec_tsig_algorithm_from_dname(alg) != k->k.algorithm) {
		out->error = KNOT_RCODE_BADKEY;
		knot_pkt_free(p);
		return 0;
	}
	size_t ml = knot_tsig_rdata_mac_length(t);
	rc = knot_tsig_server_check(t, p->wire, p->size, &k->k);
	if (rc == KNOT_TSIG_EBADTIME) {
		out->error = KNOT_RCODE_BADTIME;
		out->key = k; /* the MAC is good: the answer is signed */
	} else if (rc != KNOT_EOK) {
		out->error = rc == KNOT_TSIG_EBADKEY ? KNOT_RCODE_BADKEY : KNOT_RCODE_BADSIG;
	} else {
		out->key = k;
	}
	if (out->key && ml <= sizeof(out->mac)) {
		memcpy(out->mac, knot_tsig_rdata_mac(t), ml);
		out->maclen = ml;
	}
	knot_pkt_free(p);
	return 0;
}

void tsig_stream_server(struct tsig_stream *s, const struct tsig_req *req)
{
	memset(s, 0, sizeof(*s));
	s->key = req->error == 0 ? req->key : NULL;
	memcpy(s->mac, req->mac, req->maclen);
	s->maclen = req->maclen;
	s->time_signed = req->time_signed;
}

int tsig_sign_answer(struct tsig_stream *s, uint8_t *msg, size_t *len, size_t cap)
{
	uint8_t digest[TSIG_MAC_MAX];
	size_t dl = sizeof(digest);
	int rc;
	if (s->signed_msgs == 0)
		rc = knot_tsig_sign(msg, len, cap, s->mac, s->maclen, digest, &dl, &s->key->k, 0,
				    s->time_signed);
	else
		rc = knot_tsig_sign_next(msg, len, cap, s->mac, s->maclen, digest, &dl, &s->key->k,
					 msg, *len);
	if (rc != KNOT_EOK)
		return P53_ERANGE;
	memcpy(s->mac, digest, dl);
	s->maclen = dl;
	s->signed_msgs++;
	return 0;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int tsig_answer_error(const struct tsig_req *req, uint8_t *msg, size_t *len, size_t cap)
{
	if (req->error == KNOT_RCODE_BADTIME && req->key) {
		uint8_t digest[TSIG_MAC_MAX];
		size_t dl = sizeof(digest);
		int rc = knot_tsig_sign(msg, len, cap, req->mac, req->maclen, digest, &dl,
					&req->key->k, KNOT_RCODE_BADTIME, req->time_signed);
		return rc == KNOT_EOK ? 0 : P53_ERANGE;
	}
	/* RFC 8945 5.3.2: the request's key and algorithm, no MAC. */
	size_t need = req->name_len + 10 + req->alg_len + 16;
	if (*len < 12 || *len + need > cap)
		return P53_ERANGE;
	uint8_t *p = msg + *len;
	memcpy(p, req->name, req->name_len);
	p += req->name_len;
	put16(p, KNOT_RRTYPE_TSIG);
	put16(p + 2, KNOT_CLASS_ANY);
	memset(p + 4, 0, 4);
	put16(p + 8, (uint16_t)(req->alg_len + 16));
	p += 10;
	memcpy(p, req->alg, req->alg_len);
	p += req->alg_len;
	uint64_t ts = req->time_signed;
	for (int i = 0; i < 6; i++)
		p[i] = (uint8_t)(ts >> (8 * (5 - i)));
	put16(p + 6, req->fudge);
	put16(p + 8, 0); /* MAC size */
	put16(p + 10, req->orig_id);
	put16(p + 12, req->error);
	put16(p + 14, 0); /* other length */
	*len += need;
	uint16_t ar = (uint16_t)(msg[10] << 8 | msg[11]);
	put16(msg + 10, (uint16_t)(ar + 1));
	return 0;
}

int tsig_sign_request(struct tsig_stream *s, uint8_t *msg, size_t *len, size_t cap)
{
	uint8_t digest[TSIG_MAC_MAX];
	size_t dl = sizeof(digest);
	int rc = knot_tsig_sign(msg, len, cap, NULL, 0, digest, &dl, &s->key->k, 0, 0);
	if (rc != KNOT_EOK)
		return P53_ERANGE;
	memcpy(s->mac, digest, dl);
	s->maclen = dl;
	s->signed_msgs = 0;
	s->time_signed = 0;
	s->pend_len = 0;
	s->unsigned_run = 0;
	return 0;
}

/* Keeps an unsigned message (or the signed one that closes a run) for the
 * MAC of the next signed message. */
static int pend_add(struct tsig_stream *s, const uint8_t *m, size_t len)
{
	if (s->pend_len + len > s->pend_cap) {
		size_t cap = s->pend_cap ? s->pend_cap : 65536;
		while (cap < s->pend_len + len)
			cap *= 2;
		uint8_t *b = realloc(s->pend, cap);
		if (b == NULL)
			return P53_ENOMEM;
		s->pend = b;
		s->pend_cap = cap;
	}
	memcpy(s->pend + s->pend_len, m, len);
	s->pend_len += len;
	return 0;
}

void tsig_stream_clear(struct tsig_stream *s)
{
	free(s->pend);
	s->pend = NULL;
	s->pend_len = s->pend_cap = 0;
	s->unsigned_run = 0;
}

int tsig_check_answer(struct tsig_stream *s, const uint8_t *msg, size_t len, struct p53_err *err)
{
	if (len > UINT16_MAX)
		return p53_err_set(err, P53_EINVAL, "message too long");
	knot_pkt_t *p = knot_pkt_new(NULL, (uint16_t)len, NULL);
	if (p == NULL)
		return p53_err_set(err, P53_ENOMEM, "out of memory");
	memcpy(p->wire, msg, len);
	p->size = len;
	int rc = knot_pkt_parse(p, 0);
	if (rc != KNOT_EOK) {
		knot_pkt_free(p);
		return p53_err_set(err, P53_EINVAL, "malformed answer: %s", knot_strerror(rc));
	}
	const knot_rrset_t *t = p->tsig_rr;
	unsigned at = s->signed_msgs + s->unsigned_run + 1; /* for messages: 1-based */
	if (t == NULL) {
		knot_pkt_free(p);
		/* RFC 8945 5.3.1: the first message is signed, and at most 99
		 * follow unsigned; the next MAC covers them as they came. */
		if (s->signed_msgs == 0)
			return p53_err_set(err, P53_EINVAL,
					   "answer message 1 is not signed with key %s",
					   s->key->name);
		if (s->unsigned_run >= TSIG_UNSIGNED_MAX)
			return p53_err_set(err, P53_EINVAL,
					   "answer message %u: more than %d unsigned messages in a "
					   "row (key %s)",
					   at, TSIG_UNSIGNED_MAX, s->key->name);
		if (pend_add(s, msg, len) != 0)
			return p53_err_set(err, P53_ENOMEM, "out of memory");
		s->unsigned_run++;
		return 0;
	}
	/* libknot stripped the TSIG from p's wire: what the MAC covers. */
	const uint8_t *cover = p->wire;
	size_t clen = p->size;
	if (s->unsigned_run > 0) {
		if (pend_add(s, p->wire, p->size) != 0) {
			knot_pkt_free(p);
			return p53_err_set(err, P53_ENOMEM, "out of memory");
		}
		cover = s->pend;
		clen = s->pend_len;
	}
	if (s->signed_msgs == 0)
		rc = knot_tsig_client_check(t, cover, clen, s->mac, s->maclen, &s->key->k, 0);
	else
		rc = knot_tsig_client_check_next(t, cover, clen, s->mac, s->maclen, &s->key->k,
						 s->time_signed);
	s->pend_len = 0;
	s->unsigned_run = 0;
	if (rc != KNOT_EOK) {
		knot_pkt_free(p);
		return p53_err_set(err, P53_EINVAL, "TSIG of answer message %u (key %s): %s", at,
				   s->key->name, knot_strerror(rc));
	}
	size_t ml = knot_tsig_rdata_mac_length(t);
	if (ml > sizeof(s->mac))
		ml = sizeof(s->mac);
	memcpy(s->mac, knot_tsig_rdata_mac(t), ml);
	s->maclen = ml;
	s->time_signed = knot_tsig_rdata_time_signed(t);
	s->signed_msgs++;
	knot_pkt_free(p);
	return 0;
}

int tsig_stream_complete(const struct tsig_stream *s, struct p53_err *err)
{
	if (s->key == NULL || (s->signed_msgs > 0 && s->unsigned_run == 0))
		return 0;
	if (s->signed_msgs == 0)
		return p53_err_set(err, P53_EINVAL, "answer not signed with key %s", s->key->name);
	return p53_err_set(err, P53_EINVAL,
			   "the last %u answer messages are not signed with key %s (the last "
			   "message must be)",
			   s->unsigned_run, s->key->name);
}
