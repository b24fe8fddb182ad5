/* EDNS TCP keepalive (RFC 7828) for stream transports.
 *
 * A client that sends the edns-tcp-keepalive option (code 11, empty) over
 * TCP or TLS learns from the answer how long the server keeps an idle
 * connection open. The engine does not know the transport's timeout, so
 * the stream server adds the option to the answer's OPT record after the
 * engine has written it. Never used over UDP (the RFC forbids it there)
 * nor over QUIC (RFC 9250 5.5.2).
 */
#ifndef P53_KEEPALIVE_H
#define P53_KEEPALIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEEPALIVE_OPT 11

/* When query (qlen bytes) carries the option as clients must send it
 * (empty: RFC 7828 3.2.1; the engine answers one with a TIMEOUT FORMERR)
 * and the response (rlen bytes in a buffer of cap) has an OPT record,
 * appends the option with timeout (units of 100 ms) to that OPT record.
 * Returns the response's new length: rlen when nothing was added (no option
 * asked for, no OPT, no room, or a message that does not parse). Every read
 * is bounds-checked. */
size_t keepalive_add(const uint8_t *query, size_t qlen, uint8_t *resp, size_t rlen, size_t cap,
		     uint16_t timeout);

/* The timeout a stream server announces: its idle limit in 100 ms units,
 * or 0 once conns reaches three quarters of max_conns, which asks clients
 * to close idle connections (RFC 7828 3.2.3) before the server has to. */
uint16_t keepalive_timeout(unsigned idle_ms, unsigned conns, unsigned max_conns);

/* Whether query (qlen bytes) carries the option at all; DoQ must refuse
 * it (RFC 9250 5.5.2). */
bool keepalive_asked(const uint8_t *query, size_t qlen);

#endif
