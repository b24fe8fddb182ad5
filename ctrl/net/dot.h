/* DNS over TLS (RFC 7858): a TLS 1.3 layer (OpenSSL) for stream
 * connections. The server owning the sockets reads and writes through
 * dot_read()/dot_write() instead of recv()/send(); DNS framing (two-byte
 * length, RFC 7766) is the same above both.
 *
 * One dot_tls holds the certificate, key and ALPN policy. A reload builds a
 * new configuration aside from the same files and hands it over; the thread
 * that accepts adopts it with dot_tls_adopt() between connections, so no
 * lock is taken and a connection keeps the configuration it started with. A
 * file that fails to load leaves the old certificate serving.
 *
 * OpenSSL writes to the socket with write(2): the process must ignore
 * SIGPIPE, or a client that hangs up mid-answer kills it.
 */
#ifndef P53_DOT_H
#define P53_DOT_H

#include "zones/common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct dot_tls;
struct dot_conn;

/* Loads cert (PEM chain) and key. warn (may be NULL) gets a note when the
 * certificate is expired or not yet valid: it is served anyway, as
 * opportunistic clients (RFC 8310 section 5) still get privacy from it. */
struct dot_tls *dot_tls_new(const char *cert, const char *key, char *warn, size_t warnlen,
			    struct p53_err *err);
/* The same for another protocol over TLS: alpn is the one protocol
 * selected (DNS over HTTPS: "h2"). */
struct dot_tls *dot_tls_new_alpn(const char *cert, const char *key, const char *alpn, char *warn,
				 size_t warnlen, struct p53_err *err);
void dot_tls_free(struct dot_tls *t);
/* Reloads the files (any thread). 0 once the new configuration is ready for
 * dot_tls_adopt(); a negative code, the old one unchanged, otherwise. */
int dot_tls_reload(struct dot_tls *t, char *warn, size_t warnlen, struct p53_err *err);
/* On the accepting thread: switches to a reloaded configuration, if any.
 * Returns true when it switched. */
bool dot_tls_adopt(struct dot_tls *t);
/* Counters: completed handshakes, failed ones, ALPN refusals. */
struct dot_stats {
	unsigned long long handshakes, failures, alpn_refused;
};
void dot_tls_stats(const struct dot_tls *t, struct dot_stats *st);

/* A TLS session over the non-blocking socket fd (the caller keeps owning
 * fd). NULL when out of memory. */
struct dot_conn *dot_conn_new(struct dot_tls *t, int fd);
void dot_conn_free(struct dot_conn *c);

/* What the session waits for before it can go on. */
enum { DOT_WANT_READ = 1, DOT_WANT_WRITE = 2 };

/* Like recv()/send(): > 0 bytes moved, 0 when the peer closed, -1 with
 * errno EAGAIN (and *want set) when it must wait, -1 with another errno on
 * a failed session (handshake refused, protocol error). The handshake runs
 * inside the first calls. */
ssize_t dot_read(struct dot_conn *c, void *buf, size_t len, unsigned *want);
ssize_t dot_write(struct dot_conn *c, const void *buf, size_t len, unsigned *want);
/* Sends close_notify, best effort, before the caller closes the socket. */
void dot_shutdown(struct dot_conn *c);

#endif
