/* TSIG (RFC 8945) keys and message signatures, on libknot's TSIG code.
 *
 * Keys are written as kdig writes them: "[ALGORITHM:]NAME:BASE64-SECRET",
 * the algorithm one of hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256 (the
 * default), hmac-sha384, hmac-sha512. A key table is built at start and
 * read-only afterwards, so every thread may use it without a lock.
 *
 * A signed multi-message answer (AXFR, IXFR) is signed message by message:
 * the first with the request's MAC, each later one with the MAC before it
 * (RFC 8945 5.3.1). A received stream may leave up to 99 messages unsigned
 * between signed ones (NSD signs every 100th): they are kept until the next
 * signed message, whose MAC covers them all; the first and the last message
 * must be signed.
 */
#ifndef P53_XFR_TSIG_H
#define P53_XFR_TSIG_H

#include "zones/common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSIG_MAC_MAX 64
#define TSIG_RESERVE 512 /* room a response keeps for its TSIG record */

struct tsig_key;

struct tsig_keys {
	struct tsig_key **v;
	size_t n;
};

/* Adds one key from its text form; a second key of the same name is an
 * error. */
int tsig_keys_add(struct tsig_keys *ks, const char *spec, struct p53_err *err);
void tsig_keys_free(struct tsig_keys *ks);
/* By name in presentation form ("k1" or "k1."), case-insensitive; NULL if
 * absent. */
const struct tsig_key *tsig_keys_find(const struct tsig_keys *ks, const char *name);
const char *tsig_key_name(const struct tsig_key *k);

/* The outcome of checking a request. */
struct tsig_req {
	bool present;		    /* the request carries a TSIG */
	const struct tsig_key *key; /* set when the signature is valid */
	uint16_t error;		    /* 0, or BADSIG 16, BADKEY 17, BADTIME 18 */
	uint8_t mac[TSIG_MAC_MAX];
	size_t maclen;
	uint64_t time_signed;
	/* What an unsigned error answer echoes (BADSIG, BADKEY). */
	uint8_t name[256], alg[256]; /* wire */
	size_t name_len, alg_len;
	uint16_t fudge, orig_id;
};

/* Checks msg's TSIG against the table. Returns 0 (see out->present,
 * out->error) or a negative code when msg cannot be parsed. */
int tsig_check_request(const struct tsig_keys *ks, const uint8_t *msg, size_t len,
		       struct tsig_req *out);

/* RFC 8945 5.3.1: at most this many unsigned messages in a row. */
#define TSIG_UNSIGNED_MAX 99

/* Signing state of one answer stream. */
struct tsig_stream {
	const struct tsig_key *key;
	uint8_t mac[TSIG_MAC_MAX]; /* the last MAC: the request's, then ours */
	size_t maclen;
	uint64_t time_signed;
	unsigned signed_msgs;
	/* Client side: the unsigned messages since the last signed one, as
	 * received, which the next MAC covers. */
	uint8_t *pend;
	size_t pend_len, pend_cap;
	unsigned unsigned_run;
};
void tsig_stream_server(struct tsig_stream *s, const struct tsig_req *req);
/* Frees what tsig_check_answer kept; the stream may be reused. */
void tsig_stream_clear(struct tsig_stream *s);

/* Appends our TSIG to msg (*len bytes, cap at most): the first message of
 * an answer covers the request MAC, later ones the previous MAC. For an
 * answer to a request whose TSIG failed (req->error), the request's TSIG is
 * returned with the error and no MAC (BADSIG, BADKEY) or signed (BADTIME).
 * 0 or a negative code. */
int tsig_sign_answer(struct tsig_stream *s, uint8_t *msg, size_t *len, size_t cap);
int tsig_answer_error(const struct tsig_req *req, uint8_t *msg, size_t *len, size_t cap);

/* Client side: signs a request (s->key set by the caller) and checks the
 * answer's messages in order. 0, or a negative code with a reason. An
 * unsigned message is accepted after a signed one and kept for the next
 * MAC; tsig_stream_complete() says whether the stream so far ends on a
 * verified message (a transfer must). */
int tsig_sign_request(struct tsig_stream *s, uint8_t *msg, size_t *len, size_t cap);
int tsig_check_answer(struct tsig_stream *s, const uint8_t *msg, size_t len, struct p53_err *err);
int tsig_stream_complete(const struct tsig_stream *s, struct p53_err *err);

#endif
