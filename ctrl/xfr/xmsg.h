/* DNS message pieces both directions of zone transfer use: the question,
 * short answers (header, question, rcode, TSIG), serial arithmetic and
 * message ids. xfrout.c answers AXFR/IXFR with them, xfrin.c NOTIFY and
 * its own queries. */
#ifndef P53_XFR_XMSG_H
#define P53_XFR_XMSG_H

#include "ctrl/xfr/tsig.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void xmsg_put16(uint8_t *p, uint16_t v);
/* RFC 1982: a is newer than b. */
bool xmsg_serial_gt(uint32_t a, uint32_t b);
/* A random message id. */
uint16_t xmsg_new_id(void);
/* The first question of q: its name, lowered, into name (256 bytes) and
 * *nlen, its type into *qtype. Returns where it ends, 0 when malformed
 * (compressed, too long, past the end). */
size_t xmsg_question(const uint8_t *q, size_t qlen, uint8_t *name, size_t *nlen, uint16_t *qtype);
/* An answer of q's header and its question (q[12..qend), none when qend is
 * 12) with rcode, AA when aa, opcode and RD kept; with tr: signed when the
 * request's TSIG verified, the TSIG error (RFC 8945 5.3.2) when it did
 * not. Its length, 0 when it does not fit cap. */
size_t xmsg_answer(const uint8_t *q, size_t qend, uint8_t rcode, bool aa, const struct tsig_req *tr,
		   uint8_t *resp, size_t cap);

#endif
