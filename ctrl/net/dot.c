/* DNS over TLS on OpenSSL. TLS 1.3 only: every DoT client in use speaks it,
 * and it saves a round trip per connection. ALPN (RFC 7301) is "dot"
 * (RFC 7858 predates ALPN, so a client that offers none is served; one that
 * offers only other protocols gets the no_application_protocol alert, as RFC
 * 7301 section 3.2 asks).
 */
#include "ctrl/net/dot.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dot_tls {
	char *cert, *key;
	unsigned char alpn[16]; /* wire format: length, protocol */
	unsigned alpnlen;
	SSL_CTX *ctx;		 /* new connections take this one (accepting thread) */
	_Atomic(SSL_CTX *) next; /* reloaded, waiting for dot_tls_adopt */
	_Atomic unsigned long long handshakes, failures, alpn_refused;
};

struct dot_conn {
	struct dot_tls *t;
	SSL *ssl;
	bool done; /* handshake finished */
	bool failed;
};

static int alpn_select(SSL *s, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned inlen, void *arg)
{
	struct dot_tls *t = arg;
	unsigned char *sel = NULL;
	(void)s;
	if (SSL_select_next_proto(&sel, outlen, t->alpn, t->alpnlen, in, inlen) ==
	    OPENSSL_NPN_NEGOTIATED) {
		*out = sel;
		return SSL_TLSEXT_ERR_OK;
	}
	atomic_fetch_add(&t->alpn_refused, 1);
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

static SSL_CTX *build(struct dot_tls *t, char *warn, size_t warnlen, struct p53_err *err)
{
	char why[256];
	if (warn && warnlen)
		warn[0] = 0;
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		p53_err_set(err, P53_ENOMEM, "TLS: cannot create a context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	/* The output buffer of a connection may be reallocated between a write
	 * that wanted to wait and its retry. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, t);
	if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
		ssl_reason(why, sizeof(why));
		p53_err_set(err, P53_EINVAL, "TLS certificate %s: %s", t->cert, why);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
		ssl_reason(why, sizeof(why));
		p53_err_set(err, P53_EINVAL, "TLS key %s: %s", t->key, why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		p53_err_set(err, P53_EINVAL, "TLS key %s does not match certificate %s", t->key,
			    t->cert);
		goto fail;
	}
	X509 *x = SSL_CTX_get0_certificate(ctx);
	if (warn && warnlen && x) {
		if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
			snprintf(warn, warnlen, "TLS certificate %s has expired", t->cert);
		else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
			snprintf(warn, warnlen, "TLS certificate %s is not valid yet", t->cert);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct dot_tls *dot_tls_new(const char *cert, const char *key, char *warn, size_t warnlen,
			    struct p53_err *err)
{
	return dot_tls_new_alpn(cert, key, "dot", warn, warnlen, err);
}

struct dot_tls *dot_tls_new_alpn(const char *cert, const char *key, const char *alpn, char *warn,
				 size_t warnlen, struct p53_err *err)
{
	size_t al = strlen(alpn);
	struct dot_tls *t = calloc(1, sizeof(*t));
	if (al == 0 || al + 1 > sizeof(t->alpn)) {
		free(t);
		p53_err_set(err, P53_EINVAL, "TLS: bad ALPN protocol '%s'", alpn);
		return NULL;
	}
	if (t == NULL || (t->cert = strdup(cert)) == NULL || (t->key = strdup(key)) == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		dot_tls_free(t);
		return NULL;
	}
	t->alpn[0] = (unsigned char)al;
	memcpy(t->alpn + 1, alpn, al);
	t->alpnlen = (unsigned)al + 1;
	atomic_init(&t->next, NULL);
	if ((t->ctx = build(t, warn, warnlen, err)) == NULL) {
		dot_tls_free(t);
		return NULL;
	}
	return t;
}

void dot_tls_free(struct dot_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(atomic_exchange(&t->next, NULL));
	SSL_CTX_free(t->ctx);
	free(t->cert);
	free(t->key);
	free(t);
}

int dot_tls_reload(struct dot_tls *t, char *warn, size_t warnlen, struct p53_err *err)
{
	SSL_CTX *ctx = build(t, warn, warnlen, err);
	if (ctx == NULL)
		return err->code ? err->code : P53_EINVAL;
	/* A reload not adopted yet is replaced: the newest files win. */
	SSL_CTX_free(atomic_exchange(&t->next, ctx));
	return 0;
}

bool dot_tls_adopt(struct dot_tls *t)
{
	SSL_CTX *ctx = atomic_exchange(&t->next, NULL);
	if (ctx == NULL)
		return false;
	/* Sessions hold their own reference: open connections go on. */
	SSL_CTX_free(t->ctx);
	t->ctx = ctx;
	return true;
}

void dot_tls_stats(const struct dot_tls *t, struct dot_stats *st)
{
	st->handshakes = atomic_load(&t->handshakes);
	st->failures = atomic_load(&t->failures);
	st->alpn_refused = atomic_load(&t->alpn_refused);
}

struct dot_conn *dot_conn_new(struct dot_tls *t, int fd)
{
	struct dot_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->t = t;
	c->ssl = SSL_new(t->ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	SSL_set_accept_state(c->ssl);
	return c;
}

void dot_conn_free(struct dot_conn *c)
{
	if (c == NULL)
		return;
	if (!c->done && !c->failed)
		atomic_fetch_add(&c->t->failures, 1); /* closed during the handshake */
	SSL_free(c->ssl);
	free(c);
}

/* Maps an SSL_read/SSL_write result onto the recv()/send() convention. */
static ssize_t result(struct dot_conn *c, int n, unsigned *want)
{
	if (!c->done && SSL_is_init_finished(c->ssl)) {
		c->done = true;
		atomic_fetch_add(&c->t->handshakes, 1);
	}
	if (n > 0)
		return n;
	int e = SSL_get_error(c->ssl, n);
	ERR_clear_error();
	switch (e) {
	case SSL_ERROR_WANT_READ:
		*want = DOT_WANT_READ;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*want = DOT_WANT_WRITE;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == 0) /* EOF without close_notify */
			return 0;
		break;
	default:
		errno = EPROTO;
		break;
	}
	if (!c->done && !c->failed) {
		c->failed = true;
		atomic_fetch_add(&c->t->failures, 1);
	}
	return -1;
}

ssize_t dot_read(struct dot_conn *c, void *buf, size_t len, unsigned *want)
{
	*want = 0;
	errno = 0;
	int n = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	return result(c, n, want);
}

ssize_t dot_write(struct dot_conn *c, const void *buf, size_t len, unsigned *want)
{
	*want = 0;
	errno = 0;
	int n = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	return result(c, n, want);
}

void dot_shutdown(struct dot_conn *c)
{
	if (c->done && !c->failed) {
		SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
}
